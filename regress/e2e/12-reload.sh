#!/bin/sh
# SIGHUP makes proxyd re-read its configuration without dropping
# established connections.  A keep-alive TLS connection through the
# proxy is opened first; the reload removes the name from the allow
# list, which drops the announcement and turns new clients away, while
# the old connection still carries requests.  Reloading the old
# configuration lets the name back in at the next renewal.  privproxyd
# and both epsd reload under the same connection too.
. "$(dirname "$0")/../lib.sh"

PP_TTL=6
start_all
log=$T/proxyd.log

long_connection
check long-first "no answer on the long connection: $(cat "$T/long.err")" \
    ask 1

# reload without the name
cp "$T/proxyd.conf" "$T/proxyd.conf.orig"
PROXYD_OPS='operator "private" {
	allow "other.internal-server.local"
}'
conf_proxyd
from=$(lines "$log")
kill -HUP "$(dpid proxyd)"
assert_log reloading "$log" "reloading configuration" 5 "$from"
assert_log dropped "$log" \
    "announcement of $NAME by private dropped: no longer allowed" 5 "$from"
assert_log renewal-refused "$log" \
    "refused announcement of $NAME by private: name not allowed" 5 "$from"
s_client "$NAME"
check_alert112 new-client-alert112
check long-survives "the long connection broke: $(cat "$T/long.err")" ask 2

# a broken configuration is not loaded, and nothing changes
printf 'this is not a configuration\n' >"$T/proxyd.conf"
from=$(lines "$log")
kill -HUP "$(dpid proxyd)"
assert_log broken-not-loaded "$log" "configuration not reloaded" 5 "$from"
check long-survives-broken "the long connection broke" ask 3

# the old configuration again: the next renewal is accepted
cp "$T/proxyd.conf.orig" "$T/proxyd.conf"
from=$(lines "$log")
kill -HUP "$(dpid proxyd)"
assert_log allowed-again "$log" "private announced $NAME" 10 "$from"
check_demo request-again
check long-survives-again "the long connection broke" ask 4

# the other daemons reload under the same connection
for d in privproxyd epsd-public epsd-private; do
	from=$(lines "$T/$d.log")
	kill -HUP "$(dpid "$d")"
	assert_log "$d-reloading" "$T/$d.log" "reloading configuration" 5 \
	    "$from"
done
sleep 1
check long-survives-others "the long connection broke" ask 5
check_demo request-after-others

exec 3>&-
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
