#!/bin/sh
# A large download arrives intact, checksum for checksum, through the
# pooled path and through the notified path: 48 MiB from openssl
# s_server -WWW behind both proxies, long enough for the relay to move
# from read/write to splice(2) and back-pressure to hold pipes, with a
# 1 MiB file first and last on the same connection (keep-alive).
. "$(dirname "$0")/../lib.sh"
need ss sha256sum

VERBOSE=1			# the debug lines say which path a client took
WWW=www.internal-server.local
ports
port P_WWW
start_is
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"$WWW\" {
	forward to 127.0.0.1 port $P_WWW
}"
start_all
log=$T/proxyd.log

mkdir "$T/www"
head -c 50331648 /dev/urandom >"$T/www/big.bin"
head -c 1048576 /dev/urandom >"$T/www/small.bin"
(cd "$T/www" && exec openssl s_server -quiet -WWW \
    -accept "127.0.0.1:$P_WWW" -cert "$C/internal-server.crt" \
    -key "$C/internal-server.key") >"$T/s_server.log" 2>&1 </dev/null &
track s_server $!
wait_listen "$P_WWW" || die setup "s_server does not listen"
want=$(cd "$T/www" && sha256sum big.bin small.bin)

# download PATH: small, big and small again on one connection
download()
{
	rm -f "$T/dl.big.bin" "$T/dl.small.bin" "$T/dl.small2.bin"
	curl -sS --max-time 120 --cacert "$C/root.crt" \
	    --resolve "$WWW:$P_PUBLIC:127.0.0.1" \
	    -o "$T/dl.small.bin" "https://$WWW:$P_PUBLIC/small.bin" \
	    -o "$T/dl.big.bin" "https://$WWW:$P_PUBLIC/big.bin" \
	    -o "$T/dl.small2.bin" "https://$WWW:$P_PUBLIC/small.bin" \
	    2>"$T/dl.err"
	got=$(cd "$T" && sha256sum dl.big.bin dl.small.bin |
	    sed 's/dl\.//')
	check "$1-checksum" "checksums differ: $(cat "$T/dl.err")" \
	    [ "$got" = "$want" ]
	check "$1-keepalive" "the second small file differs" \
	    cmp -s "$T/dl.small.bin" "$T/dl.small2.bin"
}

from=$(lines "$log")
download pooled
assert_log pooled-path "$log" "$WWW on a pooled backchannel of private" 0 \
    "$from"

# the same through the notified path: privproxyd without a pool
stop_daemon privproxyd
PP_POOL=0
start_privproxyd
assert_log reannounced "$log" "private announced $WWW" 15 "$from"
from=$(lines "$log")
download notified
assert_log notified-path "$log" \
    "$WWW: no pooled backchannel of private here, notifying" 0 "$from"
refute_log notified-no-refusal "$log" "refused" "$from"

daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
