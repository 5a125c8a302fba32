#!/bin/sh
# Text from a peer is escaped before it is logged.  A configured private
# operator that wants to forge lines in the public side's log gets them
# shown escaped, on the line they came in:
# - as the private site's service (a driver on the private epsd's local
#   socket, in place of privproxyd) it announces the demo name and
#   answers proxyd's "incoming" with an error that holds a newline, a
#   carriage return and a line of its own: proxyd logs the failure, and
#   the listener the client's refusal, with the text escaped;
# - as the private epsd itself (a driver with the private certificate
#   on a TLS link to the public epsd) it sends a notification whose
#   method name holds a newline: the public router logs it escaped.
. "$(dirname "$0")/../lib.sh"

need_python msgpack

FORGED='FORGED: listener: refused client 6.6.6.6:1: all is well'

# The drivers: frames (frame.h) of msgpack-RPC (rpc.h), one per message.
cat >"$T/fakepeer.py" <<'EOT'
import socket, ssl, struct, sys, time
import msgpack

def send(s, msg, ftype=1):
    data = b"" if msg is None else msgpack.packb(msg, use_bin_type=True)
    s.sendall(struct.pack(">IHHI", len(data), ftype, 0, 0) + data)

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b

def recv(s):
    n, ftype, flags, ref = struct.unpack(">IHHI", recv_exact(s, 12))
    data = recv_exact(s, n)
    return ftype, (msgpack.unpackb(data, raw=False) if ftype == 1 else None)

def wait_response(s, msgid):
    while True:
        ftype, m = recv(s)
        if ftype == 1 and m[0] == 1 and m[1] == msgid:
            return m

def service(sock, name, error):
    # the private site's service: announce, then fail every incoming
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.settimeout(30)
    send(s, [0, 1, "eps.register", {"methods": ["incoming"]}])
    print("register:", wait_response(s, 1)[2:], flush=True)
    send(s, [0, 2, "public.announce", {"domains": [name], "ttl": 60}])
    print("announce:", wait_response(s, 2)[2:], flush=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        ftype, m = recv(s)
        if ftype == 1 and m[0] == 0 and m[2].endswith(".incoming"):
            send(s, [1, m[1], error, None])
            print("answered incoming", m[1], flush=True)

def link(host, port, ca, cert, key, method):
    # the private epsd: a link that says hello, then a bad notification
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection((host, int(port)), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="public")
    send(s, None, 2)
    while recv(s)[0] != 2:
        pass
    print("link up", flush=True)
    send(s, [2, method, {}])
    send(s, [0, 7, "public.x", {}])
    print("sent; answer:", wait_response(s, 7)[2:], flush=True)
    time.sleep(1)

def main():
    if sys.argv[1] == "service":
        service(*sys.argv[2:5])
    else:
        link(*sys.argv[2:8])

main()
EOT

# the method name escaped by the public router is logged at debug level
VERBOSE=1
ports
start_is
start_epsd_public
start_proxyd
pub=$T/epsd-public.log

# the private epsd itself, forged: a notification with a newline
from=$(lines "$pub")
timeout 20 "$PY" "$T/fakepeer.py" link 127.0.0.1 "$P_EPS" "$C/root.crt" \
    "$C/epsd-private.crt" "$C/epsd-private.key" \
    "private.ping
$FORGED" >"$T/link.out" 2>&1 ||
    fail link-driver "driver failed: $(tail -n 3 "$T/link.out")"
assert_log method-escaped "$pub" \
    "notification private\.ping\\\\n$FORGED from private dropped" 5 "$from"
refute_log method-one-line "$pub" "^FORGED" "$from"

# the private site's service, forged: an error with a line of its own
start_epsd_private
start_daemon fakeservice "$PY" "$T/fakepeer.py" service \
    "$T/epsd-private.sock" "$NAME" "$(printf 'no\n%s\r' "$FORGED")"
assert_log announced "$T/proxyd.log" "private announced $NAME" 10
from=$(lines "$T/proxyd.log")
s_client "$NAME"
check client-alert80 "no internal_error alert" \
    grep -Eq 'alert number 80|internal error' "$T/s_client.out"
assert_log fakeservice-answered "$T/fakeservice.log" "answered incoming" 5
escaped="no\\\\n$FORGED\\\\r"
assert_log error-escaped "$T/proxyd.log" \
    "incoming $NAME to private failed: $escaped\$" 5 "$from"
assert_log refusal-escaped "$T/proxyd.log" \
    "refused client $CLIENT: private proxy for $NAME not reached: $escaped\$" \
    5 "$from"
refute_log error-one-line "$T/proxyd.log" "^FORGED" "$from"
refute_log no-raw-cr "$T/proxyd.log" "$(printf '\r')" "$from"

# a bad SNI name is shown escaped too
from=$(lines "$T/proxyd.log")
s_client 'bad"name'
assert_log badname-escaped "$T/proxyd.log" \
    "refused client $CLIENT: bad server name \"bad\\\\\"name\"" 5 "$from"
daemons_alive all-alive epsd-public proxyd epsd-private
