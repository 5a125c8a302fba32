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
