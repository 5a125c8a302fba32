#!/bin/sh
# Bytes that are not a TLS ClientHello on the public port: plain HTTP,
# random bytes, a handshake that is no ClientHello, a ClientHello too big
# to wait for, silence.  Each connection is closed (with the alert the
# design names where TLS was spoken), refused in the log with its
# reason, and the proxy goes on serving.
. "$(dirname "$0")/../lib.sh"
need nc timeout

PROXYD_EXTRA="timeout handshake 2"
start_all
log=$T/proxyd.log

from=$(lines "$log")
printf 'GET /jsonrpc HTTP/1.1\r\nHost: %s\r\n\r\n' "$NAME" >"$T/http"
check_closed http "$P_PUBLIC" <"$T/http"
check http-no-answer "got $(wc -c <"$T/http.back") bytes back" \
    [ ! -s "$T/http.back" ]
assert_log http-refused "$log" \
    "refused client $CLIENT: not a TLS ClientHello" 5 "$from"

from=$(lines "$log")
{ printf '\001'; head -c 1000 /dev/urandom; } >"$T/random"
check_closed random "$P_PUBLIC" <"$T/random"
assert_log random-refused "$log" \
    "refused client $CLIENT: not a TLS ClientHello" 5 "$from"

# a handshake record holding a ServerHello: decode_error (50)
from=$(lines "$log")
printf '\026\003\001\000\010\002\000\000\004\003\003\000\000' \
    >"$T/serverhello"
check_closed serverhello "$P_PUBLIC" <"$T/serverhello"
check serverhello-alert "answer $(hex "$T/serverhello.back"), not a \
decode_error alert" is_alert "$T/serverhello.back" 32
assert_log serverhello-refused "$log" \
    "refused client $CLIENT: bad ClientHello" 5 "$from"

# a ClientHello announcing 16 MB: handshake_failure (40) at once
from=$(lines "$log")
{ printf '\026\003\001\100\000\001\377\377\377'; head -c 1000 /dev/zero; } \
    >"$T/toobig"
check_closed toobig "$P_PUBLIC" <"$T/toobig"
check toobig-alert "answer $(hex "$T/toobig.back"), not a \
handshake_failure alert" is_alert "$T/toobig.back" 28
assert_log toobig-refused "$log" \
    "refused client $CLIENT: ClientHello too (big|long)" 5 \
    "$from"

# nothing at all: closed after "timeout handshake 2"
from=$(lines "$log")
check_closed silent "$P_PUBLIC" -d </dev/null
assert_log silent-refused "$log" \
    "refused client $CLIENT: no ClientHello in time" 5 "$from"

check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
