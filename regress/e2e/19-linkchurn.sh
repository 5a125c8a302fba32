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

cat >"$T/flood.py" <<'EOT'
import collections, socket, sys, time
# flood.py PORT SOURCES RATE SECONDS: RATE new TCP connections a second
# to 127.0.0.1:PORT, from the SOURCES in turn (comma separated), that
# never send a byte; the last 256 are held open, older ones closed.
port, srcs = int(sys.argv[1]), sys.argv[2].split(",")
rate, secs = int(sys.argv[3]), float(sys.argv[4])
held = collections.deque()
made = failed = 0
start = time.monotonic()
while time.monotonic() - start < secs:
    due = int((time.monotonic() - start) * rate)
    while made + failed < due:
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((srcs[(made + failed) % len(srcs)], 0))
            s.connect_ex(("127.0.0.1", port))
            held.append(s)
            made += 1
        except OSError:
            s.close()
            failed += 1
        while len(held) > 256:
            held.popleft().close()
    time.sleep(0.002)
print("made", made, "failed", failed, flush=True)
EOT

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


# churn NAME SOURCES: flood from SOURCES, restart the private epsd in
# the middle of it, and see its link come up while the flood goes on.
churn()
{
	ch_from=$(lines "$pub")
	start_daemon "flood-$1" python3 "$T/flood.py" "$P_EPS" "$2" 500 10
	sleep 2
	check "$1-flooding" "no handshake was dropped for the flood" \
	    wait_log "$pub" "dropped: too many handshakes" 3 "$ch_from"
	stop_daemon epsd-private
	ch_restart=$(lines "$pub")
	start_daemon epsd-private "$BIN/epsd" $(dflags) \
	    -f "$T/epsd-private.conf"
	assert_log "$1-link-up" "$pub" "link to private up" 6 "$ch_restart"
	check "$1-during-flood" "the flood had stopped" \
	    alive "$(dpid "flood-$1")"
	wait "$(dpid "flood-$1")"
	check "$1-flood-ran" "flood: $(cat "$T/flood-$1.log")" \
	    grep -Eq '^made [0-9]{4}' "$T/flood-$1.log"
	refute_log "$1-peer-kept" "$pub" \
	    "refused link from 127\.0\.0\.1:[0-9]+" "$ch_from"
}

churn one 127.0.0.2
sources=$(i=1; while [ "$i" -le 40 ]; do printf '127.0.1.%s,' "$i";
    i=$((i + 1)); done)
churn forty "${sources%,}"
assert_log forty-took-from-the-most "$pub" \
    "dropped: too many handshakes under way from 127\.0\.1\.[0-9]+$" 0
# a slow peer in the middle of a flood from forty sources
from=$(lines "$pub")
start_daemon flood-slow python3 "$T/flood.py" "$P_EPS" "${sources%,}" 500 8
sleep 2
stop_daemon epsd-private
timeout 20 python3 "$T/slowpeer.py" "$P_EPS" "$C/root.crt" \
    "$C/epsd-private.crt" "$C/epsd-private.key" >"$T/slowpeer.out" 2>&1
check slow-peer-linked "slow peer: $(tail -n 2 "$T/slowpeer.out")" \
    grep -q "handshake done" "$T/slowpeer.out"
assert_log slow-link-up "$pub" "link to private up" 1 "$from"
check slow-during-flood "the flood had stopped" alive "$(dpid flood-slow)"
wait "$(dpid flood-slow)"
start_daemon epsd-private "$BIN/epsd" $(dflags) -f "$T/epsd-private.conf"

eventually_demo request 20
daemons_alive all-alive epsd-public proxyd privproxyd
