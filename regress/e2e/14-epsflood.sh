#!/bin/sh
# Idle connections to the public epsd's peer port cannot keep a real
# peer out: when a host has its share of handshake slots, or all are
# taken, the oldest half-open connection is dropped.  Opens 80
# connections that never speak (more than the 64 slots), then starts
# the private epsd: its link must still come up at once.
. "$(dirname "$0")/../lib.sh"

need nc
ports
certs
start_epsd_public
pub=$T/epsd-public.log

i=0
while [ "$i" -lt 80 ]; do
	# nc keeps the connection open and silent until it is stopped
	start_daemon "idle$i" nc 127.0.0.1 "$P_EPS"
	i=$((i + 1))
done
sleep 1
# The idle ones would time out after 10 s: a link within 5 s shows the
# real peer got a slot while the flood was on.
from=$(lines "$pub")
conf_epsd_private
spawn epsd-private epsd "$T/epsd-private.conf"
assert_log link-despite-flood "$pub" "link to private up" 5 "$from"
assert_log flood-dropped "$pub" \
    "refused link from 127\.0\.0\.1:[0-9]+: dropped: too many handshakes" 0
daemons_alive all-alive epsd-public epsd-private
