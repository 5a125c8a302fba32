# tokens.py relay LPORT TPORT FILE [HOLDFILE]: listen on 127.0.0.1:LPORT
#	and forward each connection to 127.0.0.1:TPORT, appending the first
#	40 bytes each sends (a backchannel preamble) to FILE, in hex, a line
#	each.  While HOLDFILE exists, a new connection's preamble is held
#	instead: read, kept as many seconds as HOLDFILE says, and only then
#	is TPORT dialled and sent it (and the rest relayed); it is
#	appended to FILE.late once sent.
# tokens.py random PORT N SECONDS: up to N random-token preambles to
#	127.0.0.1:PORT within SECONDS, a short connection each, 4 threads;
#	prints "sent accepted errors" (accepted: proxyd answered or kept
#	the connection open 10 s).
# tokens.py send PORT HEX: one preamble; prints 1 if accepted, else 0.
# tokens.py partial PORT HEX [SECS]: send the bytes HEX, then close; with
#	SECS, first wait up to SECS for proxyd to close the connection, and
#	print 1 if it did, else 0.
import os, socket, sys, threading, time

def relay(lport, tport, out, holdfile=None):
	# forward connections to tport, keeping the first 40 bytes of each
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", lport))
	s.listen(64)
	def pipe(a, b, keep):
		got = b""
		try:
			while True:
				d = a.recv(65536)
				if not d:
					break
				if keep and len(got) < 40:
					got += d[:40 - len(got)]
					if len(got) == 40:
						with open(out, "ab") as f:
							f.write(got.hex().encode() + b"\n")
				b.sendall(d)
		except OSError:
			pass
		for x in (a, b):
			try:
				x.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass
	def late(c, hold):
		# the preamble, then a wait, then tport
		got = b""
		c.settimeout(10)
		try:
			while len(got) < 40:
				d = c.recv(40 - len(got))
				if not d:
					break
				got += d
		except OSError:
			pass
		c.settimeout(None)
		time.sleep(hold)
		try:
			u = socket.create_connection(("127.0.0.1", tport))
			u.sendall(got)
		except OSError:
			c.close()
			return
		with open(out + ".late", "ab") as f:
			f.write(got.hex().encode() + b"\n")
		threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
		threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
	while True:
		c, _ = s.accept()
		hold = None
		if holdfile is not None:
			try:
				with open(holdfile) as f:
					hold = float(f.read().strip() or "0")
			except (OSError, ValueError):
				hold = None
		if hold is not None:
			threading.Thread(target=late, args=(c, hold),
			    daemon=True).start()
			continue
		u = socket.create_connection(("127.0.0.1", tport))
		threading.Thread(target=pipe, args=(c, u, True), daemon=True).start()
		threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()

def send(port, pre):
	# one preamble; 1 if proxyd sent anything back or kept it open
	c = socket.create_connection(("127.0.0.1", port))
	c.settimeout(10)
	c.sendall(pre)
	try:
		d = c.recv(1)
	except socket.timeout:
		d = b"?"
	c.close()
	return 1 if d else 0

def random_tokens(port, n, secs, nthreads=4):
	res = {"sent": 0, "accepted": 0, "errors": 0}
	end = time.time() + secs
	lock = threading.Lock()
	def work(k):
		for _ in range(k):
			if time.time() > end:
				return
			pre = b"EPSB\x01\x00\x00\x00" + os.urandom(32)
			try:
				a = send(port, pre)
			except OSError:
				with lock:
					res["errors"] += 1
				continue
			with lock:
				res["sent"] += 1
				res["accepted"] += a
	ts = [threading.Thread(target=work, args=(n // nthreads,))
	    for _ in range(nthreads)]
	for t in ts: t.start()
	for t in ts: t.join()
	print(res["sent"], res["accepted"], res["errors"])

cmd = sys.argv[1]
if cmd == "relay":
	relay(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
	    sys.argv[5] if len(sys.argv) > 5 else None)
elif cmd == "random":
	random_tokens(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "send":
	pre = bytes.fromhex(sys.argv[3])
	print(send(int(sys.argv[2]), pre))
elif cmd == "partial":
	c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
	c.sendall(bytes.fromhex(sys.argv[3]))
	if len(sys.argv) > 4:
		c.settimeout(float(sys.argv[4]))
		try:
			d = c.recv(1)
			print(1 if not d else 0)
		except socket.timeout:
			print(0)
		except OSError:
			print(1)	# reset: closed as well
	c.close()
