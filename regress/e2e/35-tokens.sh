#!/bin/sh
# Tokens.  Random token preambles sent to the backchannel port (up to
# TOKENS, 100000, within TOKEN_SECONDS, 60 s, on short connections; the
# count is printed) are accepted 0 times, that is each connection is
# closed by proxyd without a byte, while the demo request goes on being
# served.  A replayed preamble (one privproxyd sent, captured by a relay
# on its way) is refused as "token already used"; a truncated one as
# "closed before its preamble"; a bad magic as "bad preamble".
# (Expired tokens: a token unused for its lifetime is refused "token
# expired"; not sent here, the lifetime being the client timeout.)
. "$(dirname "$0")/../lib.sh"
need python3

TOKENS=${TOKENS:-100000}
TOKEN_SECONDS=${TOKEN_SECONDS:-60}
PP_POOL=0			# the notified path: one token per client
ports
port P_RELAY
PP_BC_PORT=$P_RELAY


python3 "$REGRESS/tools/tokens.py" relay "$P_RELAY" "$P_BC" "$T/captured" \
    >"$T/relay.log" 2>&1 &
track relay $!
wait_listen "$P_RELAY" || die setup "relay does not listen"
start_all
log=$T/proxyd.log

# a legitimate request, its preamble captured on the way
check_demo first-request
check captured "no preamble captured" [ -s "$T/captured" ]
pre=$(head -n 1 "$T/captured")

# random tokens, with the demo request in a loop beside them
start_loop
from=$(lines "$log")
set -- $(python3 "$REGRESS/tools/tokens.py" random "$P_BC" "$TOKENS" \
    "$TOKEN_SECONDS")
stop_loop
sent=${1:-0}
accepted=${2:-?}
note "random tokens: $sent sent in at most $TOKEN_SECONDS s, $accepted \
accepted, ${3:-?} connection errors; demo meanwhile: $LOOP_OK \
served, $LOOP_FAIL failed"
check random-sent "only $sent random preambles sent" [ "$sent" -ge 1000 ]
check random-accepted-0 "$accepted random tokens accepted" \
    [ "$accepted" = 0 ]
check legit-during-random "the demo failed $LOOP_FAIL times \
while random tokens came" [ "$LOOP_FAIL" -eq 0 ]
check legit-served "the demo was not served meanwhile" \
    [ "$LOOP_OK" -gt 0 ]
logged=$(count_log "$log" "refused backchannel from $CLIENT: unknown token")
suppressed=$(tail -n "+$((from + 1))" "$log" |
    sed -n 's/.* \([0-9]*\) similar messages suppressed.*/\1/p' |
    awk '{ n += $1 } END { print n + 0 }')
note "proxyd logged $logged 'unknown token' refusals and $suppressed \
suppressed similar messages"
check unknown-token-logged "no 'unknown token' refusal logged" \
    [ "$logged" -gt 0 ]
sleep 1.2			# a new second for the rate limit

# replayed: the captured preamble of a used token
from=$(lines "$log")
r=$(python3 "$REGRESS/tools/tokens.py" send "$P_BC" "$pre")
check replay-closed "a replayed preamble got an answer" [ "$r" = 0 ]
assert_log replay-refused "$log" \
    "refused backchannel from $CLIENT: token already used" 5 "$from"

# truncated: 20 bytes, then the end
from=$(lines "$log")
python3 "$REGRESS/tools/tokens.py" partial "$P_BC" "$(echo "$pre" | cut -c1-40)"
assert_log truncated-refused "$log" \
    "refused backchannel from $CLIENT: closed before its preamble" 5 "$from"

# bad magic
from=$(lines "$log")
r=$(python3 "$REGRESS/tools/tokens.py" send "$P_BC" \
    "45505358$(echo "$pre" | cut -c9-)")
check badmagic-closed "a bad preamble got an answer" [ "$r" = 0 ]
assert_log badmagic-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

check_demo still-served
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
