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

# wait_size FILE N: until FILE has N bytes or more (10 s at most).
wait_size()
{
	ws_n=0
	while [ "$(wc -c <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
		ws_n=$((ws_n + 1))
		[ "$ws_n" -lt 100 ] || return 1
		sleep 0.1
	done
}

# capture N: a client connects; the preamble privproxyd sends for it is
# caught in $T/pre.N; the client runs on as pid $client.
capture()
{
	nc -d -l 127.0.0.1 "$P_TRAP" >"$T/trap.$1" 2>"$T/trap.$1.err" &
	trap_pid=$!
	track trap "$trap_pid"
	wait_listen "$P_TRAP" || die "capture-$1" "the trap does not listen"
	curl_demo >"$T/client.$1" 2>"$T/client.$1.err" &
	client=$!
	track client "$client"
	wait_size "$T/trap.$1" 40 ||
	    die "capture-$1" "no preamble reached the trap"
	head -c 40 "$T/trap.$1" >"$T/pre.$1"
	stop_pid "$trap_pid"
	pass "capture-$1"
}

# replay FILE NAME: send FILE to the backchannel port, keep reading for
# 3 s; what comes back is in $T/NAME.back.
replay()
{
	timeout 3 nc 127.0.0.1 "$P_BC" <"$1" >"$T/$2.back" 2>/dev/null
}

hex()
{
	od -An -tx1 -v "$1" | tr -d ' \n'
}

capture 1
check preamble-magic "preamble $(hex "$T/pre.1" | cut -c1-16)..." \
    [ "$(hex "$T/pre.1" | cut -c1-16)" = 4550534201000000 ]

# first use: proxyd writes the client's ClientHello to us
from=$(lines "$log")
replay "$T/pre.1" first
check first-gets-hello "got $(hex "$T/first.back" | cut -c1-20)..., \
not a TLS handshake record" [ "$(hex "$T/first.back" | cut -c1-4)" = 1603 ]
check first-hello-sni "no SNI $NAME in what came back" \
    grep -aq "$NAME" "$T/first.back"
refute_log first-accepted "$log" "refused backchannel" "$from"
stop_pid "$client"

# second use of the same token
from=$(lines "$log")
replay "$T/pre.1" second
check second-nothing "got $(wc -c <"$T/second.back") bytes" \
    [ ! -s "$T/second.back" ]
assert_log second-refused "$log" \
    "refused backchannel from $CLIENT: token already used" 5 \
    "$from"

# a token whose client gave up waiting ("timeout token 4")
capture 2
from=$(lines "$log")
assert_log client-timed-out "$log" \
    "refused client $CLIENT: no backchannel for $NAME within 4s" \
    10 "$from"
wait "$client"
check client-failed "the client did not fail: $(cat "$T/client.2")" \
    [ ! -s "$T/client.2" ]
replay "$T/pre.2" expired
check expired-nothing "got $(wc -c <"$T/expired.back") bytes" \
    [ ! -s "$T/expired.back" ]
assert_log expired-refused "$log" \
    "refused backchannel from $CLIENT: token expired" 5 "$from"

# made-up preambles
from=$(lines "$log")
{ printf 'EPSB\001\000\000\000'; head -c 32 /dev/urandom; } >"$T/random.pre"
replay "$T/random.pre" random
check random-nothing "got bytes back" [ ! -s "$T/random.back" ]
assert_log random-refused "$log" \
    "refused backchannel from $CLIENT: unknown token" 5 "$from"

from=$(lines "$log")
{ printf 'XXXX\001\000\000\000'; head -c 32 "$T/pre.1"; } >"$T/magic.pre"
replay "$T/magic.pre" magic
assert_log magic-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

from=$(lines "$log")
{ printf 'EPSB\002\000\000\000'; head -c 32 /dev/urandom; } >"$T/version.pre"
replay "$T/version.pre" version
assert_log version-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

from=$(lines "$log")
printf 'EPSB\001\000' | timeout 5 nc -N 127.0.0.1 "$P_BC" >/dev/null 2>&1
assert_log short-refused "$log" \
    "refused backchannel from $CLIENT: closed before its preamble" \
    5 "$from"

from=$(lines "$log")
if timeout 8 nc -d 127.0.0.1 "$P_BC" >/dev/null 2>&1; then
	pass silent-closed
else
	fail silent-closed "a silent backchannel was not closed"
fi
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
