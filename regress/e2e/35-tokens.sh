#!/bin/sh
# Tokens.  Random token preambles sent to the backchannel port (up to
# TOKENS, 100000, within TOKEN_SECONDS, 60 s, on short connections; the
# count is printed) are accepted 0 times, that is each connection is
# closed by proxyd without a byte, while the demo request goes on being
# served.  Each kind of refusal is refused, logged, and counted by its
# reason in proxyd_backchannels_refused_total (epsctl show metrics),
# which reads 0 for every reason at the start: the random tokens as
# unknown_token, as many as were sent; a replayed preamble (the last
# one privproxyd sent, captured by a relay on its way) as token_used
# ("token already used"); a truncated one as truncated ("closed before
# its preamble"); a bad magic as bad_preamble; a preamble that stops
# half way and waits as no_preamble (timeout preamble, 5 s); and an
# expired one as token_expired, not unknown_token: the relay holds the
# real preamble of a request HOLD seconds, past the token timeout
# (TOKEN_TIMEOUT, 4 s here), so the client is refused "no backchannel"
# and the private proxy's preamble arrives after its token expired.
. "$(dirname "$0")/../lib.sh"
need python3

TOKENS=${TOKENS:-100000}
TOKEN_SECONDS=${TOKEN_SECONDS:-60}
TOKEN_TIMEOUT=4
HOLD=7				# s the relay holds a late preamble
PP_POOL=0			# the notified path: one token per client
PROXYD_EXTRA="timeout token $TOKEN_TIMEOUT"
ports
port P_RELAY
PP_BC_PORT=$P_RELAY
R=proxyd_backchannels_refused_total
REASONS="bad_preamble truncated no_preamble evicted pool_key unknown_token
token_used token_expired token_failed unavailable"


python3 "$REGRESS/tools/tokens.py" relay "$P_RELAY" "$P_BC" "$T/captured" \
    "$T/hold" >"$T/relay.log" 2>&1 &
track relay $!
wait_listen "$P_RELAY" || die setup "relay does not listen"
start_all
log=$T/proxyd.log

# a legitimate request, its preamble captured on the way; nothing
# refused yet, and every reason says so
check_demo first-request
check captured "no preamble captured" [ -s "$T/captured" ]
ctl proxyd show metrics
cp "$T/ctl.out" "$T/start.prom"
bad=
for r in $REASONS; do
	[ "$(metric "$T/start.prom" "$R{reason=\"$r\"}")" = 0 ] ||
	    bad="$bad $r=$(metric "$T/start.prom" "$R{reason=\"$r\"}")"
done
check refused-0-at-start "not 0 at the start:${bad:-} ($(grep -c "^$R" \
    "$T/start.prom") samples)" [ -z "$bad" ]

# random tokens, with the demo request in a loop beside them
start_loop
from=$(lines "$log")
set -- $(python3 "$REGRESS/tools/tokens.py" random "$P_BC" "$TOKENS" \
    "$TOKEN_SECONDS")
stop_loop
sent=${1:-0}
accepted=${2:-?}
errors=${3:-0}
note "random tokens: $sent sent in at most $TOKEN_SECONDS s, $accepted \
accepted, $errors connection errors; demo meanwhile: $LOOP_OK \
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
# a connection that failed after its preamble went may be counted too
wait_metric proxyd "$R{reason=\"unknown_token\"}" "$sent" 10
unknown=$METRIC
note "unknown_token refusals counted: $unknown"
ok=0
[ -n "$unknown" ] && [ "$unknown" -ge "$sent" ] &&
    [ "$unknown" -le $((sent + errors)) ] && ok=1
check unknown-token-counted "$unknown unknown_token refusals counted for \
$sent sent and $errors errors" [ "$ok" = 1 ]
used=$(ctl_metric proxyd "$R{reason=\"token_used\"}")
check legit-not-refused "the demo's backchannels were refused as used: \
$used" [ "$used" = 0 ]
log_second

# replayed: the captured preamble of the last used token
pre=$(tail -n 1 "$T/captured")
from=$(lines "$log")
r=$(python3 "$REGRESS/tools/tokens.py" send "$P_BC" "$pre")
check replay-closed "a replayed preamble got an answer" [ "$r" = 0 ]
assert_log replay-refused "$log" \
    "refused backchannel from $CLIENT: token already used" 5 "$from"
wait_metric proxyd "$R{reason=\"token_used\"}" 1 5
check replay-counted "token_used: ${METRIC:-none}, not 1" \
    [ "$METRIC" = 1 ]

# truncated: 20 bytes, then the end
from=$(lines "$log")
python3 "$REGRESS/tools/tokens.py" partial "$P_BC" "$(echo "$pre" | cut -c1-40)"
assert_log truncated-refused "$log" \
    "refused backchannel from $CLIENT: closed before its preamble" 5 "$from"
wait_metric proxyd "$R{reason=\"truncated\"}" 1 5
check truncated-counted "truncated: ${METRIC:-none}, not 1" \
    [ "$METRIC" = 1 ]

# bad magic
from=$(lines "$log")
r=$(python3 "$REGRESS/tools/tokens.py" send "$P_BC" \
    "45505358$(echo "$pre" | cut -c9-)")
check badmagic-closed "a bad preamble got an answer" [ "$r" = 0 ]
assert_log badmagic-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"
wait_metric proxyd "$R{reason=\"bad_preamble\"}" 1 5
check badmagic-counted "bad_preamble: ${METRIC:-none}, not 1" \
    [ "$METRIC" = 1 ]

# expired, and at the same time half a preamble that waits
unknown=$(ctl_metric proxyd "$R{reason=\"unknown_token\"}")
expired=$(ctl_metric proxyd proxyd_tokens_expired_total)
from=$(lines "$log")
python3 "$REGRESS/tools/tokens.py" partial "$P_BC" \
    "$(echo "$pre" | cut -c1-40)" 15 >"$T/stalled" &
track stalled $!
echo "$HOLD" >"$T/hold"
t0=$(date +%s)
refute expired-client "the request was served with the preamble held" \
    demo_ok
t1=$(date +%s)
rm -f "$T/hold"
note "the client was refused after $((t1 - t0)) s: $(head -c 200 \
"$T/name.err")"
assert_log expired-client-refused "$log" "refused client $CLIENT: \
no backchannel for $NAME within ${TOKEN_TIMEOUT}s" 5 "$from"
check late-sent "the relay sent no late preamble" \
    wait_size "$T/captured.late" 81
assert_log expired-refused "$log" \
    "refused backchannel from $CLIENT: token expired" 10 "$from"
wait_metric proxyd "$R{reason=\"token_expired\"}" 1 10
check expired-counted "token_expired: ${METRIC:-none}, not 1" \
    [ "$METRIC" = 1 ]
check expired-not-unknown "unknown_token went from $unknown to $(ctl_metric \
    proxyd "$R{reason=\"unknown_token\"}")" \
    [ "$(ctl_metric proxyd "$R{reason=\"unknown_token\"}")" = "$unknown" ]
check expired-token-counted "proxyd_tokens_expired_total went from \
$expired to $(ctl_metric proxyd proxyd_tokens_expired_total)" \
    [ "$(ctl_metric proxyd proxyd_tokens_expired_total)" = \
    $((expired + 1)) ]
wait "$(dpid stalled)"
check stalled-closed "half a preamble was not closed in 15 s" \
    [ "$(cat "$T/stalled")" = 1 ]
assert_log stalled-refused "$log" \
    "refused backchannel from $CLIENT: no preamble in time" 5 "$from"
wait_metric proxyd "$R{reason=\"no_preamble\"}" 1 5
check stalled-counted "no_preamble: ${METRIC:-none}, not 1" \
    [ "$METRIC" = 1 ]

check_demo still-served
ctl proxyd show metrics
note "refused backchannels: $(grep "^$R" "$T/ctl.out" | sed "s/^$R//" |
    tr '\n' ' ')"
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
