#!/bin/sh
# Announcements.  proxyd accepts only the names its configuration allows
# for the operator (exact names and *.suffix wildcards), refuses a name
# another operator holds (conflict), and expires names that are not
# renewed: then the other operator may take the name, and once nobody
# holds it clients get alert 112.
. "$(dirname "$0")/../lib.sh"

PP_TTL=3
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
certs
issue epsd-private2 private2
start_is
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"foo.internal-server.local\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"other.example.com\" {
	forward to 127.0.0.1 port $P_IS
}"
start_all
log=$T/proxyd.log

# allowed, exactly and by the wildcard; not allowed
assert_log wildcard-accepted "$log" \
    "private announced foo\.internal-server\.local \(ttl 3\)" 5
assert_log other-refused "$log" \
    "refused announcement of other\.example\.com by private: name not allowed" 5
assert_log privproxyd-told "$T/privproxyd.log" \
    "announced 2 domains to public, 1 refused" 5
assert_log privproxyd-reason "$T/privproxyd.log" \
    "public refused other\.example\.com: name not allowed" 5
check_demo exact-request
check_name wildcard-request foo.internal-server.local
s_client other.example.com
check_alert112 other-alert112

# a second private operator wants the same name
from=$(lines "$log")
start_epsd_private 2
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"p2.internal-server.local\" {
	forward to 127.0.0.1 port $P_IS
}"
start_privproxyd 2
assert_log conflict "$log" \
    "refused announcement of $NAME by private2: conflict" 5 "$from"
assert_log conflict-told "$T/privproxyd2.log" \
    "public refused $NAME: conflict" 5
assert_log p2-accepted "$log" "private2 announced p2\.internal-server\.local" \
    5 "$from"
check_name p2-request p2.internal-server.local
check_demo still-first

# private2 vanishes: its own name expires within the ttl (3 s) and the
# sweep (1 s); clients for it get alert 112
from=$(lines "$log")
vanish privproxyd2
assert_log p2-expired "$log" \
    "announcement of p2\.internal-server\.local by private2 expired" 6 "$from"
s_client p2.internal-server.local
check_alert112 p2-gone-alert112
check_demo first-unaffected

# private2 is back and wants the name again; then the first private
# proxy vanishes: its names expire and private2 takes the name over
from=$(lines "$log")
start_privproxyd 2
assert_log conflict-again "$log" \
    "refused announcement of $NAME by private2: conflict" 5 "$from"
from=$(lines "$log")
vanish privproxyd
assert_log foo-expired "$log" \
    "announcement of foo\.internal-server\.local by private expired" 6 "$from"
assert_log taken-over "$log" "private2 announced $NAME" 6 "$from"
eventually_demo served-by-private2 6

# and when private2 goes too, nobody holds the name
from=$(lines "$log")
vanish privproxyd2
assert_log expired "$log" "announcement of $NAME by private2 expired" 6 \
    "$from"
s_client "$NAME"
check_alert112 gone-alert112
s_client foo.internal-server.local
check_alert112 foo-gone-alert112
daemons_alive all-alive proxyd epsd-public epsd-private epsd-private2
