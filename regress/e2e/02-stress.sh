#!/bin/sh
# The seed's stress test, bounded: 2,000 requests, 25 at a time, each on
# its own connection through both proxies.  Every one must succeed;
# afterwards every daemon and child is still up, no child holds more
# descriptors than its pools explain, and nothing was logged per
# connection.
. "$(dirname "$0")/../lib.sh"
need xargs seq

REQUESTS=${STRESS_REQUESTS:-2000}
PARALLEL=${STRESS_PARALLEL:-25}
DAEMONS="proxyd privproxyd epsd-public epsd-private"
# splice(2) pools up to 64 idle pipes (128 descriptors) per process; a
# leak of one descriptor per connection would be 1,000 or more
FD_SLACK=200

start_all
check_demo warm-up

fds $DAEMONS >"$T/fds.before"
log_lines=
for d in $DAEMONS; do
	log_lines="$log_lines $(lines "$T/$d.log")"
done

# one curl per request; the header only makes each command line unique
seq "$REQUESTS" | xargs -P "$PARALLEL" -I '{}' \
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
    --cacert "$C/root.crt" --resolve "$NAME:$P_PUBLIC:127.0.0.1" \
    -H 'X-Request: {}' --data '{}' "https://$NAME:$P_PUBLIC/jsonrpc" \
    >"$T/codes" 2>"$T/xargs.err"
ok=$(grep -c '^200$' "$T/codes")
check all-succeeded "$ok of $REQUESTS requests answered 200 ($(sort \
    "$T/codes" | uniq -c | tr -s ' \n' ' '))" [ "$ok" -eq "$REQUESTS" ]

daemons_alive all-alive is $DAEMONS
check_demo still-serving
refute_log no-refusals "$T/proxyd.log" "refused|no backchannel"

# leaks: give the last relays a moment to close, then compare
grown=
i=0
while [ "$i" -lt 20 ]; do
	fds $DAEMONS >"$T/fds.after"
	grown=$(awk -v slack="$FD_SLACK" 'NR == FNR { b[$1] = $2; next }
	    ($1 in b) && $2 - b[$1] > slack {
		printf " pid %s: %d -> %d", $1, b[$1], $2 }' \
	    "$T/fds.before" "$T/fds.after")
	[ -z "$grown" ] && break
	sleep 0.5
	i=$((i + 1))
done
check no-fd-leak "descriptors grew by more than $FD_SLACK:$grown" \
    [ -z "$grown" ]
note "descriptors before: $(tr '\n' ' ' <"$T/fds.before")"
note "descriptors after:  $(tr '\n' ' ' <"$T/fds.after")"

# nothing per connection at info level: a handful of lines at most
set -- $log_lines
for d in $DAEMONS; do
	n=$(($(lines "$T/$d.log") - $1))
	shift
	check "$d-quiet" "$n lines logged during $REQUESTS requests" \
	    [ "$n" -lt 20 ]
done
