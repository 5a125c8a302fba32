#!/bin/sh
# Every child of every daemon runs under its system call filter, the
# parents under none, and the demo works through all of them: one
# request, 50 in parallel, a reload of each daemon, and no call refused
# that a log would show (EPERM is "Operation not permitted").  A build
# with sanitizers has no filter (common/sandbox.c): the case is skipped.
. "$(dirname "$0")/../lib.sh"

need xargs seq
case $BIN in
*/san)
	skip all "a sanitizer build has no system call filter"
	exit 0
	;;
esac
if ! grep -q '^Seccomp:' /proc/self/status; then
	skip all "the kernel has no seccomp"
	exit 0
fi

DAEMONS="epsd-public proxyd epsd-private privproxyd"

start_all
check_filtered filtered $DAEMONS
check_demo request

seq 50 | xargs -P 50 -I '{}' \
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
    --cacert "$C/root.crt" --resolve "$NAME:$P_PUBLIC:127.0.0.1" \
    -H 'X-Request: {}' --data '{}' "https://$NAME:$P_PUBLIC/jsonrpc" \
    >"$T/codes" 2>"$T/xargs.err"
ok=$(grep -c '^200$' "$T/codes")
check parallel-50 "$ok of 50 requests answered 200 ($(sort "$T/codes" |
    uniq -c | tr -s ' \n' ' '))" [ "$ok" -eq 50 ]

# a reload goes through every child's dispatch under the filter
for d in $DAEMONS; do
	hup "$d"
	assert_log "$d-reloading" "$T/$d.log" "reloading configuration" 10 \
	    "$from"
done
sleep 1
check_demo request-after-reload
check_filtered still-filtered $DAEMONS
daemons_alive all-alive $DAEMONS
for d in $DAEMONS; do
	refute_log "$d-nothing-refused" "$T/$d.log" "[Oo]peration not permitted"
done
