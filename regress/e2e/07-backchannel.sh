#!/bin/sh
# The backchannel port takes only a good preamble with a live token.
# privproxyd is pointed at a trap (nc) instead of proxyd's backchannel,
# so the test holds a real preamble: replayed once it gets the client's
# ClientHello, replayed again it is refused as used, and replayed after
# the token timeout it is refused as expired.  Unknown tokens, a bad
# magic or version, a short preamble and silence are refused too.
. "$(dirname "$0")/../lib.sh"
need nc timeout ss

PROXYD_EXTRA="timeout token 4
timeout preamble 2"
ports
port P_TRAP
PP_BC_PORT=$P_TRAP
PP_POOL=0	# the trap takes token backchannels only
start_all
log=$T/proxyd.log

# a client connects; the trap gets the preamble privproxyd sends for it
capture capture-1 "$P_TRAP" 40 curl_demo
client=$CLIENT_PID
head -c 40 "$T/capture-1.in" >"$T/pre.1"
check preamble-magic "preamble $(hex "$T/pre.1" | cut -c1-16)..." \
    [ "$(hex "$T/pre.1" | cut -c1-16)" = 4550534201000000 ]

# first use: proxyd writes the client's ClientHello to us
from=$(lines "$log")
talk first "$P_BC" 3 <"$T/pre.1"
check first-gets-hello "got $(hex "$T/first.back" | cut -c1-20)..., \
not a TLS handshake record" [ "$(hex "$T/first.back" | cut -c1-4)" = 1603 ]
check first-hello-sni "no SNI $NAME in what came back" \
    grep -aq "$NAME" "$T/first.back"
refute_log first-accepted "$log" "refused backchannel" "$from"
stop_tree "$client"

# second use of the same token
from=$(lines "$log")
talk second "$P_BC" 3 <"$T/pre.1"
check second-nothing "got $(wc -c <"$T/second.back") bytes" \
    [ ! -s "$T/second.back" ]
assert_log second-refused "$log" \
    "refused backchannel from $CLIENT: token already used" 5 \
    "$from"

# a token whose client gave up waiting ("timeout token 4")
capture capture-2 "$P_TRAP" 40 curl_demo
client=$CLIENT_PID
head -c 40 "$T/capture-2.in" >"$T/pre.2"
from=$(lines "$log")
assert_log client-timed-out "$log" \
    "refused client $CLIENT: no backchannel for $NAME within 4s" \
    10 "$from"
wait "$client"
check client-failed "the client did not fail: $(cat "$T/capture-2.out")" \
    [ ! -s "$T/capture-2.out" ]
talk expired "$P_BC" 3 <"$T/pre.2"
check expired-nothing "got $(wc -c <"$T/expired.back") bytes" \
    [ ! -s "$T/expired.back" ]
assert_log expired-refused "$log" \
    "refused backchannel from $CLIENT: token expired" 5 "$from"

# made-up preambles
from=$(lines "$log")
{ printf 'EPSB\001\000\000\000'; head -c 32 /dev/urandom; } >"$T/random.pre"
talk random "$P_BC" 3 <"$T/random.pre"
check random-nothing "got bytes back" [ ! -s "$T/random.back" ]
assert_log random-refused "$log" \
    "refused backchannel from $CLIENT: unknown token" 5 "$from"

from=$(lines "$log")
{ printf 'XXXX\001\000\000\000'; head -c 32 "$T/pre.1"; } >"$T/magic.pre"
talk magic "$P_BC" 3 <"$T/magic.pre"
assert_log magic-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

from=$(lines "$log")
{ printf 'EPSB\002\000\000\000'; head -c 32 /dev/urandom; } >"$T/version.pre"
talk version "$P_BC" 3 <"$T/version.pre"
assert_log version-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

from=$(lines "$log")
printf 'EPSB\001\000' >"$T/short.pre"
talk short "$P_BC" 5 -N <"$T/short.pre"
assert_log short-refused "$log" \
    "refused backchannel from $CLIENT: closed before its preamble" \
    5 "$from"

from=$(lines "$log")
check_closed silent "$P_BC" -d </dev/null
assert_log silent-refused "$log" \
    "refused backchannel from $CLIENT: no preamble in time" 5 \
    "$from"

# privproxyd dialling the real backchannel again: all is well
stop_daemon privproxyd
PP_BC_PORT=$P_BC
from=$(lines "$log")
start_privproxyd
check_demo still-serving
daemons_alive all-alive proxyd epsd-public epsd-private
