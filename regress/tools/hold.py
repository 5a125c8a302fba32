# hold.py hellos PORT NAME SOURCES N GAP SECS OUT [PROXYSRCS]: N connections to
#	127.0.0.1:PORT, one every GAP seconds, from the SOURCES (comma
#	separated) in turn, each sending the first half of a ClientHello
#	for NAME and nothing more; then it waits, up to SECS after the
#	last one was opened, until the peer has closed them all.  OUT
#	gets one line per connection, in the order they were opened:
#	"INDEX DELAY", the seconds from its bytes going out to its close
#	by the peer (-1: never closed).  OUT.opened appears once all are
#	opened.  Prints "opened N closed N errors N".  With PROXYSRCS
#	(comma separated IPv4 addresses), each connection first sends a
#	PROXY protocol v1 header naming the next of them as its client,
#	as a load balancer would.
# hold.py silent PORT SOURCE N RATE SECS: N connections to
#	127.0.0.1:PORT from SOURCE, RATE a second, that never send a
#	byte, all held open until SECS after the first; prints "opened N
#	closed N errors N", closed being those the peer closed.
# hold.py relays PORT NAME CAFILE SOURCE N SECS OUT: N TLS connections
#	to NAME through 127.0.0.1:PORT from SOURCE, one request each on
#	https://NAME/jsonrpc (kept alive), held open for SECS; OUT gets
#	"held N failed N" once all have had their answer.
import os, selectors, socket, ssl, sys, time
from clientbits import hello_bytes, raise_nofile

def closed_by_peer(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

def hellos(port, name, srcs, n, gap, secs, out, ppsrcs):
    raise_nofile()
    part = hello_bytes(name)
    part = part[:len(part) // 2]
    sel = selectors.DefaultSelector()
    conns = []		# [sock, sent at, delay]
    errs = 0
    start = time.monotonic()
    i = 0
    last = None
    while True:
        now = time.monotonic()
        while i < n and now >= start + i * gap:
            s = socket.socket()
            try:
                s.bind((srcs[i % len(srcs)], 0))
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                if ppsrcs:
                    s.sendall(("PROXY TCP4 %s 127.0.0.1 %d 443\r\n" %
                               (ppsrcs[i % len(ppsrcs)], 1024 + i)).encode())
                s.sendall(part)
                s.setblocking(False)
                c = [s, time.monotonic(), -1.0]
                sel.register(s, selectors.EVENT_READ, c)
            except OSError:
                s.close()
                c = [None, time.monotonic(), -1.0]
                errs += 1
            conns.append(c)
            i += 1
            if i == n:
                last = time.monotonic()
                open(out + ".opened", "w").close()
        if last is not None and (not sel.get_map() or
                                 time.monotonic() - last > secs):
            break
        for key, ev in sel.select(0.002 if i < n else 0.05):
            c = key.data
            if closed_by_peer(c[0]):
                c[2] = time.monotonic() - c[1]
                sel.unregister(c[0])
                c[0].close()
    closed = sum(1 for c in conns if c[2] >= 0)
    with open(out + ".tmp", "w") as f:
        for k, c in enumerate(conns):
            f.write("%d %.3f\n" % (k, c[2]))
    os.rename(out + ".tmp", out)
    for c in conns:
        if c[0] is not None and c[2] < 0:
            c[0].close()
    print("opened %d closed %d errors %d" % (n - errs, closed, errs),
          flush=True)

def silent(port, src, n, rate, secs):
    raise_nofile()
    sel = selectors.DefaultSelector()
    held = []
    made = closed = errs = 0
    start = time.monotonic()
    while time.monotonic() - start < secs:
        due = min(n, int((time.monotonic() - start) * rate))
        while made + errs < due:
            s = socket.socket()
            s.setblocking(False)
            try:
                s.bind((src, 0))
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_READ)
                held.append(s)
                made += 1
            except OSError:
                s.close()
                errs += 1
        for key, ev in sel.select(0.005):
            if closed_by_peer(key.fileobj):
                sel.unregister(key.fileobj)
                closed += 1
    for s in held:
        s.close()
    print("opened %d closed %d errors %d" % (made, closed, errs),
          flush=True)

def relays(port, name, cafile, src, n, secs, out):
    raise_nofile()
    ctx = ssl.create_default_context(cafile=cafile)
    req = ("GET /jsonrpc HTTP/1.1\r\nHost: %s\r\n\r\n" % name).encode()
    held = []
    failed = 0
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                         source_address=(src, 0))
            t = ctx.wrap_socket(s, server_hostname=name)
            t.sendall(req)
            data = b""
            while b"success" not in data:
                b = t.recv(65536)
                if not b:
                    break
                data += b
            if b"success" in data:
                held.append(t)
            else:
                t.close()
                failed += 1
        except OSError:
            failed += 1
    with open(out + ".tmp", "w") as f:
        f.write("held %d failed %d\n" % (len(held), failed))
    os.rename(out + ".tmp", out)
    time.sleep(secs)
    for t in held:
        t.close()

m = sys.argv[1]
a = sys.argv[2:]
if m == "hellos":
    hellos(int(a[0]), a[1], a[2].split(","), int(a[3]), float(a[4]),
           float(a[5]), a[6], a[7].split(",") if len(a) > 7 else [])
elif m == "relays":
    relays(int(a[0]), a[1], a[2], a[3], int(a[4]), float(a[5]), a[6])
elif m == "silent":
    silent(int(a[0]), a[1], int(a[2]), float(a[3]), float(a[4]))
else:
    sys.exit("usage: hold.py hellos|silent|relays ...")
