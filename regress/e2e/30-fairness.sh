#!/bin/sh
# Fairness between operators.  Operator private2's private epsd stops
# answering (its router is stopped) while its clients keep arriving,
# 200 a second from 127.0.0.2, on the notification path.  The incoming
# calls to private2 are bounded per operator in proxyd (max calls) and
# per destination in the public epsd's router, the tokens per operator
# (max tokens): operator private's clients, from 127.0.0.1, keep at
# least 90% of the rate they had just before, with no failure, on the
# notification path and then on the pool.  An operator with a wildcard
# cannot take the whole announcement table: its names stop at "max
# announcements" of its block, and the others' names are still taken.
. "$(dirname "$0")/../lib.sh"
need python3

SECS=5			# each measure of the rate
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	allow "*.internal-server.local"
}
operator "private2" {
	allow "p2.internal-server.local"
	allow "*.flood.example"
	max announcements 50
}'
EPSPUB_PEERS='peer "private" {
	allow { "announce", "withdraw" }
}
peer "private2" {
	allow { "announce", "withdraw" }
}'
PROXYD_EXTRA='max operator calls 64
max operator tokens 200
max announcements 100'
ports
certs
issue epsd-private2 private2
start_all
log=$T/proxyd.log

# private2: p2 and 60 names under its wildcard, 10 more than its block
# allows
p2doms="domain \"p2.internal-server.local\" {
	forward to 127.0.0.1 port $P_IS
}"
i=0
while [ "$i" -lt 60 ]; do
	p2doms="$p2doms
domain \"n$i.flood.example\" {
	forward to 127.0.0.1 port $P_IS
}"
	i=$((i + 1))
done
start_epsd_private 2
PP_DOMAINS=$p2doms PP_POOL=0 start_privproxyd 2
assert_log p2-announced "$log" "private2 announced p2\.internal-server\.local" 5
assert_log p2-op-limit "$log" "refused announcement of n[0-9]+\.flood\.example by private2: too many announcements for this operator" 5
assert_log p2-op-bounded "$T/privproxyd2.log" \
    "announced 50 domains to public, 11 refused" 5
# the first operator's names are still taken: a new one of its own
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"a2.internal-server.local\" {
	forward to 127.0.0.1 port $P_IS
}"
from=$(lines "$log")
stop_daemon privproxyd
start_privproxyd
# (the names line is rate limited: the request says it)
check_name a-new-name-served a2.internal-server.local
check_name p2-served p2.internal-server.local

# hang: private2's clients arrive, 200 a second, and its router stops
router2=$(child_pids epsd-private2 "*router*" | tail -n 1)
[ -n "$router2" ] || die setup "no router of epsd-private2"

# on the notification path
measure_rate before "$SECS"
from=$(lines "$log")
hang notify "$router2" p2.internal-server.local 127.0.0.2 $((SECS + 12))
measure_rate notify "$SECS"
unhang notify "$router2"
check_ratio notify before notify
assert_log p2-calls-bounded "$log" \
    "private proxy for p2\.internal-server\.local not reached: too many" \
    0 "$from"
daemons_alive notify-alive proxyd epsd-public epsd-private privproxyd

# private's clients on the pool
stop_daemon privproxyd
PP_POOL=8 start_privproxyd
sleep 1
check_demo pool-served
measure_rate pool-before "$SECS"
hang pool "$router2" p2.internal-server.local 127.0.0.2 $((SECS + 12))
measure_rate pool "$SECS"
unhang pool "$router2"
check_ratio pool pool-before pool
check_name p2-served-after p2.internal-server.local
daemons_alive all-alive proxyd epsd-public epsd-private privproxyd \
    epsd-private2 privproxyd2
