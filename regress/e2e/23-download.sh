#!/bin/sh
# A large download arrives intact, checksum for checksum, through the
# pooled path and through the notified path: 48 MiB from openssl
# s_server -WWW behind both proxies, long enough for the relay to move
# from read/write to splice(2) and back-pressure to hold pipes, with a
# 1 MiB file first and last on the same connection (keep-alive).
# Both relays, proxyd's listener and privproxyd's connector, must have
# moved the bulk of it through pipes with splice(2), not by copying it
# (under the seccomp filter too), and made every pipe they asked for.
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

# relay_before: what the two relays have spliced so far.
relay_before()
{
	rb_pub=$(ctl_metric proxyd "$SPLICED_PUB")
	rb_priv=$(ctl_metric privproxyd "$SPLICED_PRIV")
}

# check_spliced TAG: since relay_before, each relay spliced at least
# 40 of the 48 MiB, and no pipe failed.
check_spliced()
{
	for cs_d in proxyd privproxyd; do
		if [ "$cs_d" = proxyd ]; then
			cs_was=$rb_pub
			cs_now=$(ctl_metric proxyd "$SPLICED_PUB")
		else
			cs_was=$rb_priv
			cs_now=$(ctl_metric privproxyd "$SPLICED_PRIV")
		fi
		cs_failed=$(metric "$T/$cs_d.prom" \
		    "${cs_d}_relay_pipes_total{result=\"failed\"}")
		check "$1-$cs_d-spliced" \
		    "$cs_d spliced ${cs_was:-?} before, ${cs_now:-?} after" \
		    grown "$cs_was" "$cs_now" 41943040
		check "$1-$cs_d-pipes" "$cs_d could not make ${cs_failed:-?} pipes" \
		    [ "${cs_failed:-x}" = 0 ]
	done
}
# grown WAS NOW BY: NOW is at least WAS + BY, both numbers.
grown()
{
	[ -n "$1" ] && [ -n "$2" ] && [ $(($2 - $1)) -ge "$3" ]
}
SPLICED_PUB='proxyd_relay_bytes_total{how="splice"}'
SPLICED_PRIV='privproxyd_relay_bytes_total{how="splice"}'

from=$(lines "$log")
relay_before
check_download pooled "$WWW" "$T/www"
check_spliced pooled
assert_log pooled-path "$log" "$WWW on a pooled backchannel of private" 0 \
    "$from"

# the same through the notified path: privproxyd without a pool
stop_daemon privproxyd
PP_POOL=0
start_privproxyd
assert_log reannounced "$log" "private announced $WWW" 15 "$from"
from=$(lines "$log")
relay_before
check_download notified "$WWW" "$T/www"
check_spliced notified
assert_log notified-path "$log" \
    "$WWW: no pooled backchannel of private here, notifying" 0 "$from"
refute_log notified-no-refusal "$log" "refused" "$from"

daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
