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
PP_DOMAINS="$(domain_block "$NAME" "$P_IS")
$(domain_block "$WWW" "$P_WWW")"
start_all
log=$T/proxyd.log

mkdir "$T/www"
head -c 50331648 /dev/urandom >"$T/www/big.bin"
head -c 1048576 /dev/urandom >"$T/www/small.bin"
start_s_server "$P_WWW" "$T/www"

from=$(lines "$log")
check_download pooled "$WWW" "$T/www"
assert_log pooled-path "$log" "$WWW on a pooled backchannel of private" 0 \
    "$from"

# the same through the notified path: privproxyd without a pool
stop_daemon privproxyd
PP_POOL=0
start_privproxyd
assert_log reannounced "$log" "private announced $WWW" 15 "$from"
from=$(lines "$log")
check_download notified "$WWW" "$T/www"
assert_log notified-path "$log" \
    "$WWW: no pooled backchannel of private here, notifying" 0 "$from"
refute_log notified-no-refusal "$log" "refused" "$from"

daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
