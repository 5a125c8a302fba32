#!/bin/sh
# Churn cannot keep a real peer off the public epsd.  While connections
# that never speak TLS pour into the peer port at about 500 a second,
# each flood bounded to 10 s, the private epsd is restarted and its link
# must come up, its handshake never dropped:
# - from one source, 127.0.0.2 (on Linux all of 127/8 is loopback), which
#   only ever gets its own share of the handshake slots;
# - from 40 sources, 127.0.1.1 to 127.0.1.40, which fill the table, and
#   still only take slots from each other, the sources holding the most.
# - from the same 40 sources, while a peer on a slow network (a driver
#   with the private certificate that waits a second before its
#   ClientHello) links: a slot taken in turn by every newcomer would be
#   gone long before.
# The demo request works afterwards.
. "$(dirname "$0")/../lib.sh"

need python3

cat >"$T/slowpeer.py" <<'EOT'
import socket, ssl, struct, sys, time
# slowpeer.py PORT CA CERT KEY: link as the private epsd, a second late
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(sys.argv[2])
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
time.sleep(1)
s = ctx.wrap_socket(raw, server_hostname="public")
s.sendall(struct.pack(">IHHI", 0, 2, 0, 0))
print("handshake done, frame type", struct.unpack(">IHHI", s.recv(12))[1],
    flush=True)
time.sleep(1)
EOT

start_all
pub=$T/epsd-public.log
check_link_flood one 127.0.0.2
sources=$(addresses 127.0.1 1 40)
check_link_flood forty "$sources"
assert_log forty-took-from-the-most "$pub" \
    "dropped: too many handshakes under way from 127\.0\.1\.[0-9]+$" 0
# a slow peer in the middle of a flood from forty sources
from=$(lines "$pub")
start_flood slow "$sources" 8
stop_daemon epsd-private
timeout 20 python3 "$T/slowpeer.py" "$P_EPS" "$C/root.crt" \
    "$C/epsd-private.crt" "$C/epsd-private.key" >"$T/slowpeer.out" 2>&1
check slow-peer-linked "slow peer: $(tail -n 2 "$T/slowpeer.out")" \
    grep -q "handshake done" "$T/slowpeer.out"
assert_log slow-link-up "$pub" "link to private up" 1 "$from"
check slow-during-flood "the flood had stopped" alive "$(dpid flood-slow)"
wait "$(dpid flood-slow)"
spawn epsd-private epsd "$T/epsd-private.conf"

eventually_demo request 20
daemons_alive all-alive epsd-public proxyd privproxyd
