# load.py rate PORT NAME CAFILE SECONDS CLIENTS STATUS: CLIENTS
#	threads request https://NAME/jsonrpc through 127.0.0.1:PORT,
#	one connection each, for SECONDS; STATUS gets "ok N fail N secs S
#	[why]:N...".
# load.py flood PORT NAME SOURCE RATE SECONDS STATUS: RATE full
#	ClientHellos for NAME a second to 127.0.0.1:PORT from SOURCE, for
#	SECONDS, each connection given up after 3 s; STATUS gets "sent N
#	closed N errors N".
# A STATUS file is replaced whole (written aside, then renamed).
import os, selectors, socket, ssl, sys, threading, time
from clientbits import hello_bytes, raise_nofile

def status(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(path + ".tmp", path)

def rate(port, name, cafile, secs, conc, out):
    ctx = ssl.create_default_context(cafile=cafile)
    req = ("GET /jsonrpc HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
           % name).encode()
    res = {"ok": 0, "fail": 0}
    why = {}
    lock = threading.Lock()
    end = time.monotonic() + secs

    def one():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=name) as t:
                t.sendall(req)
                data = b""
                while True:
                    b = t.recv(65536)
                    if not b:
                        break
                    data += b
        return b"success" in data

    def loop():
        while time.monotonic() < end:
            try:
                ok = one()
                w = None if ok else "no success"
            except Exception as e:
                ok, w = False, type(e).__name__ + ": " + str(e)[:60]
            with lock:
                res["ok" if ok else "fail"] += 1
                if w:
                    why[w] = why.get(w, 0) + 1
    start = time.monotonic()
    th = [threading.Thread(target=loop) for _ in range(conc)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    el = time.monotonic() - start
    status(out, "ok %d fail %d secs %.2f %s" % (res["ok"], res["fail"], el,
           " ".join("[%s]:%d" % kv for kv in why.items())))

def flood(port, name, src, per_s, secs, out):
    # full ClientHellos from src, per_s a second; each given up after 3 s
    raise_nofile()
    hello = hello_bytes(name)
    sel = selectors.DefaultSelector()
    conns = {}
    n = closed = errs = 0
    start = time.monotonic()
    while time.monotonic() - start < secs:
        now = time.monotonic()
        want = int((now - start) * per_s)
        while n < want:
            n += 1
            try:
                s = socket.socket()
                s.setblocking(False)
                s.bind((src, 0))
                s.connect_ex(("127.0.0.1", port))
                conns[s.fileno()] = (s, now, 0)
                sel.register(s, selectors.EVENT_WRITE)
            except OSError:
                errs += 1
        for key, ev in sel.select(0.005):
            s, t0, st = conns[key.fd]
            if st == 0:
                try:
                    s.send(hello)
                    conns[key.fd] = (s, t0, 1)
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    sel.unregister(s); del conns[key.fd]; s.close(); errs += 1
            else:
                try:
                    b = s.recv(4096)
                except OSError:
                    b = b""
                if not b:
                    sel.unregister(s); del conns[key.fd]; s.close()
                    closed += 1
        for fd, (s, t0, st) in list(conns.items()):
            if now - t0 > 3:
                sel.unregister(s); del conns[fd]; s.close()
    status(out, "sent %d closed %d errors %d" % (n, closed, errs))

m = sys.argv[1]
a = sys.argv[2:]
if m == "rate":
    rate(int(a[0]), a[1], a[2], float(a[3]), int(a[4]), a[5])
elif m == "flood":
    flood(int(a[0]), a[1], a[2], float(a[3]), float(a[4]), a[5])
