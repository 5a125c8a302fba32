#!/bin/sh
# The pool of backchannels (DESIGN.md section 5, fast path).  privproxyd
# keeps "pool 8" authenticated backchannels open to proxyd, spread over
# its two connectors and proxyd's two listeners.  A client goes out on
# one of them without an incoming call, and another takes its place.
# When the pool is empty the notification path takes over.  A second
# private operator's pooled backchannels never carry a name the first
# one announced, even a name the second one serves too.  A reloaded
# proxyd goes on with the pool, and a restarted one gets it back.
. "$(dirname "$0")/../lib.sh"
need ss nc

VERBOSE=1			# the debug lines say which path a client took
POOL=8
PP_POOL=$POOL
PP_PREFORK=2
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	allow "*.internal-server.local"
}
operator "private2" {
	allow "test.internal-server.local", "p2.internal-server.local"
}'
EPSPUB_PEERS='peer "private" {
	allow { "announce", "withdraw" }
}
peer "private2" {
	allow { "announce", "withdraw" }
}'
ports
port P_TRAP
certs
issue epsd-private2 private2
start_all
log=$T/proxyd.log
pplog=$T/privproxyd.log

check pool-ready "not both connectors have their share" \
    wait_count "$pplog" "connector: pool of 4 backchannels to public ready" \
    2 10
check pool-size "proxyd holds $(npooled) pooled backchannels, not $POOL" \
    wait_pooled "$POOL"
pooled >"$T/spread"
check pool-spread "not 4 and 4 over the two listeners: $(tr '\n' ' ' \
    <"$T/spread")" [ "$(awk '$2 == 4' "$T/spread" | wc -l)" -eq 2 ]

# 20 clients, each on a pooled backchannel, the pool full again after
from=$(lines "$log")
ok=$(requests 20 "$NAME")
check pooled-requests "$ok of 20 requests answered" [ "$ok" -eq 20 ]
n=$(count_log "$log" "$NAME on a pooled backchannel of private" "$from")
check all-pooled "$n of 20 went on a pooled backchannel" [ "$n" -eq 20 ]
refute_log none-notified "$log" "notifying" "$from"
check pool-refilled "proxyd holds $(npooled) pooled backchannels, not $POOL" \
    wait_pooled "$POOL"

# the pool empty: with the connectors stopped, 10 clients take the 8
# pooled backchannels (at most: each listener has 4 of them, and the
# kernel spreads the clients at random) and the others are notified; all
# 10 are served once the connectors go on
conns=$(child_pids privproxyd "*connector*")
# shellcheck disable=SC2086
kill -STOP $conns
from=$(lines "$log")
i=0
while [ "$i" -lt 10 ]; do
	curl_demo >"$T/held.$i" 2>&1 &
	track held "$!"
	i=$((i + 1))
done
wait_count "$log" "pooled backchannel of|notifying" 10 10 "$from"
n=$(count_log "$log" "notifying" "$from")
m=$(count_log "$log" "on a pooled backchannel" "$from")
check empty-pool-notified "$n clients notified, $m pooled" \
    [ "$n" -ge 2 -a $((n + m)) -eq 10 ]
# shellcheck disable=SC2086
kill -CONT $conns
for p in $(tracked '^held$'); do
	wait "$p"
done
ok=$(cat "$T"/held.* | grep -c success)
check empty-pool-served "$ok of 10 clients served" [ "$ok" -eq 10 ]
check pool-back "proxyd holds $(npooled) pooled backchannels, not $POOL" \
    wait_pooled "$POOL"

# a second operator: it also serves test.internal-server.local, which
# the first holds, and sends it to a trap
start_trap trap "$P_TRAP" -k
start_epsd_private 2
PP_DOMAINS="$(domain_block "$NAME" "$P_TRAP")
$(domain_block p2.internal-server.local "$P_IS")"
start_privproxyd 2
assert_log conflict "$log" \
    "refused announcement of $NAME by private2: conflict" 5
assert_log p2-announced "$log" "private2 announced p2\.internal-server\.local" 5
check pools-both "proxyd holds $(npooled) pooled backchannels, not \
$((2 * POOL))" wait_pooled $((2 * POOL))
from=$(lines "$log")
ok=$(requests 10 "$NAME")
check first-op-requests "$ok of 10 requests for $NAME answered" [ "$ok" -eq 10 ]
ok=$(requests 10 p2.internal-server.local)
check second-op-requests "$ok of 10 requests for p2 answered" [ "$ok" -eq 10 ]
n=$(count_log "$log" "$NAME on a pooled backchannel of private$" "$from")
check first-op-pooled "$n of 10 for $NAME on private's pool" [ "$n" -eq 10 ]
n=$(count_log "$log" \
    "p2\.internal-server\.local on a pooled backchannel of private2$" "$from")
check second-op-pooled "$n of 10 for p2 on private2's pool" [ "$n" -eq 10 ]
refute_log no-cross "$log" "$NAME on a pooled backchannel of private2" \
    "$from"
refute_log no-cross-private2 "$T/privproxyd2.log" \
    "pooled backchannel from public: $NAME"
refute_log no-cross-private "$pplog" \
    "pooled backchannel from public: p2\."
check trap-empty "the trap got $(wc -c <"$T/trap.in") bytes" \
    [ ! -s "$T/trap.in" ]
stop_daemon privproxyd2
stop_daemon epsd-private2
check pool-only-first "proxyd holds $(npooled) pooled backchannels, not \
$POOL" wait_pooled "$POOL"

# a reload makes new keys; the pool goes on, refills included
hup proxyd
assert_log reloaded "$log" "reloading configuration" 5 "$from"
sleep 0.5
ok=$(requests 10 "$NAME")
check after-reload "$ok of 10 requests answered" [ "$ok" -eq 10 ]
n=$(count_log "$log" "$NAME on a pooled backchannel" "$from")
check after-reload-pooled "$n of 10 pooled" [ "$n" -eq 10 ]
refute_log after-reload-no-refusal "$log" "refused" "$from"
check after-reload-refilled "proxyd holds $(npooled), not $POOL" \
    wait_pooled "$POOL"

# proxyd restarts: the names and the pool come back without waiting for
# a renewal (the ttl is 60 s)
ppfrom=$(lines "$pplog")
stop_daemon proxyd
start_proxyd
from=$(lines "$log")
assert_log restart-announced "$log" "private announced $NAME" 15
check restart-pool-ready "the pool did not come back" \
    wait_count "$pplog" "pool of 4 backchannels to public ready" 2 20 \
    "$ppfrom"
check restart-pool-size "proxyd holds $(npooled), not $POOL" \
    wait_pooled "$POOL"
from=$(lines "$log")
ok=$(requests 5 "$NAME")
check restart-requests "$ok of 5 requests answered" [ "$ok" -eq 5 ]
n=$(count_log "$log" "$NAME on a pooled backchannel" "$from")
check restart-pooled "$n of 5 pooled" [ "$n" -eq 5 ]
remember_children proxyd
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
