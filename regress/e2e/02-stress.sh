#!/bin/sh
# The seed's stress test, bounded: 2,000 requests, 25 at a time, each on
# its own connection through both proxies; every one must succeed, and
# every daemon must still be up afterwards.
. "$(dirname "$0")/../lib.sh"
need xargs

REQUESTS=${STRESS_REQUESTS:-2000}
PARALLEL=${STRESS_PARALLEL:-25}

start_all

# one curl per request; the header only makes each command line unique
seq "$REQUESTS" | xargs -P "$PARALLEL" -I '{}' \
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 \
    --cacert "$C/root.crt" --resolve "$NAME:$P_PUBLIC:127.0.0.1" \
    -H 'X-Request: {}' --data '{}' "https://$NAME:$P_PUBLIC/jsonrpc" \
    >"$T/codes" 2>"$T/xargs.err"
ok=$(grep -c '^200$' "$T/codes")
check all-succeeded "$ok of $REQUESTS requests answered 200 ($(sort \
    "$T/codes" | uniq -c | tr -s ' \n' ' '))" [ "$ok" -eq "$REQUESTS" ]

daemons_alive all-alive is epsd-public epsd-private proxyd privproxyd
check_demo still-serving
refute_log no-refusals "$T/proxyd.log" "refused|no backchannel"
