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
cat >"$T/load.py" <<'EOP'
import os, resource, selectors, socket, ssl, sys, threading, time

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def hello_bytes(name):
    ctx = ssl.create_default_context()
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outb.read()

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

def hold(port, src, count, name, nbytes, secs, out):
    # count connections from src that send nbytes of a ClientHello (0:
    # nothing) and stall; the status says how many the server closed
    raise_nofile()
    part = hello_bytes(name)[:nbytes] if nbytes > 0 else b""
    socks = []
    errs = 0
    sel = selectors.DefaultSelector()
    for i in range(count):
        try:
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            if part:
                s.sendall(part)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        except OSError:
            errs += 1
    t0 = time.monotonic()
    closed = 0
    status(out, "open %d closed 0 errors %d at 0" % (len(socks), errs))
    while time.monotonic() - t0 < secs:
        for key, ev in sel.select(0.2):
            s = key.fileobj
            try:
                b = s.recv(4096)
            except OSError:
                b = b""
            if not b:
                sel.unregister(s)
                s.close()
                closed += 1
        status(out, "open %d closed %d errors %d at %d" % (len(socks),
               closed, errs, int(time.monotonic() - t0)))
    time.sleep(600)

m = sys.argv[1]
a = sys.argv[2:]
if m == "rate":
    rate(int(a[0]), a[1], a[2], float(a[3]), int(a[4]), a[5])
elif m == "flood":
    flood(int(a[0]), a[1], a[2], float(a[3]), float(a[4]), a[5])
elif m == "hold":
    hold(int(a[0]), a[1], int(a[2]), a[3], int(a[4]), float(a[5]), a[6])
EOP
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

# measure TAG: private's rate for SECS s, 4 clients; "ok fail" in
# $T/rate.TAG
measure()
{
	rm -f "$T/rate.$1"
	python3 "$T/load.py" rate "$P_PUBLIC" "$NAME" "$C/root.crt" "$SECS" 4 \
	    "$T/rate.$1" 2>>"$T/load.err"
	[ -s "$T/rate.$1" ] || echo "ok 0 fail 1 no status" >"$T/rate.$1"
}

# ratio TAG-BEFORE TAG-DURING: checks that the second kept 90% of the
# first's rate with no failure
ratio()
{
	r_b=$(awk '{ print $2 }' "$T/rate.$2")
	r_d=$(awk '{ print $2 }' "$T/rate.$3")
	r_f=$(awk '{ print $4 }' "$T/rate.$3")
	note "$1: before $(cat "$T/rate.$2"); during $(cat "$T/rate.$3")"
	check "$1-no-failure" "$(cat "$T/rate.$3")" [ "$r_f" -eq 0 ]
	check "$1-rate" "$r_d requests during, $r_b before: below 90%" \
	    [ $((r_d * 10)) -ge $((r_b * 9)) ]
}

# hang: private2's clients arrive, 200 a second for WHILE s, and its
# router stops
router2=
for c in $(children "$(dpid epsd-private2)"); do
	case $(title "$c") in
	*router*)	router2=$c ;;
	esac
done
[ -n "$router2" ] || die setup "no router of epsd-private2"

hang_round()
{
	rm -f "$T/flood.$1"
	start_daemon "flood-$1" python3 "$T/load.py" flood "$P_PUBLIC" \
	    p2.internal-server.local 127.0.0.2 200 $((SECS + 12)) "$T/flood.$1"
	sleep 1
	kill -STOP "$router2"
	# the calls to private2 fill what they may
	sleep 5
}

unhang()
{
	kill -CONT "$router2"
	stop_pid "$(dpid "flood-$1")"
}

# on the notification path
measure before
from=$(lines "$log")
hang_round notify
measure notify
unhang notify
ratio notify before notify
assert_log p2-calls-bounded "$log" \
    "private proxy for p2\.internal-server\.local not reached: too many" \
    0 "$from"
daemons_alive notify-alive proxyd epsd-public epsd-private privproxyd

# private's clients on the pool
stop_daemon privproxyd
PP_POOL=8 start_privproxyd
sleep 1
check_demo pool-served
measure pool-before
hang_round pool
measure pool
unhang pool
ratio pool pool-before pool
check_name p2-served-after p2.internal-server.local
daemons_alive all-alive proxyd epsd-public epsd-private privproxyd \
    epsd-private2 privproxyd2
