#!/bin/sh
# epsd lets a peer call only the methods its configuration allows.  The
# public epsd first does not allow "announce": the announcement is
# refused, nothing is routed and clients get alert 112.  Reloaded with
# "announce" allowed, the name comes up.  Then the private epsd, reloaded
# without "incoming", refuses the public side's call, and the client is
# dropped with the reason in proxyd's log.
. "$(dirname "$0")/../lib.sh"

PP_TTL=6
PP_POOL=0	# incoming calls, which the pool does without, are the point
EPSPUB_PEERS='peer "private" {
	allow "withdraw"
}'
ports
start_is
start_epsd_public
start_proxyd
start_epsd_private
pub=$T/epsd-public.log

conf_privproxyd
spawn privproxyd privproxyd "$T/privproxyd.conf"
assert_log announce-refused "$pub" \
    "refused call public\.announce from private: method not allowed" 10
assert_log privproxyd-told "$T/privproxyd.log" \
    "announce to public failed: .*not allowed" 5
refute_log not-announced "$T/proxyd.log" "announced"
s_client "$NAME"
check_alert112 client-alert112

# reload the public epsd with announce allowed
EPSPUB_PEERS=
conf_epsd_public
from=$(lines "$pub")
kill -HUP "$(dpid epsd-public)"
assert_log public-reloaded "$pub" "configuration reloaded" 5 "$from"
assert_log announced "$T/proxyd.log" "private announced $NAME" 10
check_demo request

# reload the private epsd without "incoming"
sed '/allow "incoming"/d' "$T/epsd-private.conf" >"$T/epsd-private.new"
mv "$T/epsd-private.new" "$T/epsd-private.conf"
priv=$T/epsd-private.log
from=$(lines "$priv")
kill -HUP "$(dpid epsd-private)"
assert_log private-reloaded "$priv" "configuration reloaded" 5 "$from"
pfrom=$(lines "$T/proxyd.log")
refute incoming-refused-client "the request went through" demo_ok
assert_log incoming-refused "$priv" \
    "refused call private\.incoming from public: method not allowed" 5 \
    "$from"
assert_log client-dropped "$T/proxyd.log" \
    "refused client $CLIENT: private proxy for $NAME not reached: method not \
allowed" \
    5 "$pfrom"
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
