# ppclient.py FROM PORT NAME CAFILE HEADER...: a TLS client that sends a
#	PROXY protocol header of its own first, the way a load balancer
#	does, but cut into pieces: from the local address FROM to
#	127.0.0.1:PORT, each HEADER argument (text, with \r and \n for CR
#	and LF) one write, 0.3 s apart, then the TLS handshake for NAME,
#	checked against CAFILE, and "GET /"; prints the response's body.
#	Exit status 1, with the error on stderr, if anything fails.
import socket, ssl, sys, time

def main():
	src, port, name, cafile = sys.argv[1], int(sys.argv[2]), \
	    sys.argv[3], sys.argv[4]
	s = socket.socket()
	s.settimeout(15)
	s.bind((src, 0))
	s.connect(("127.0.0.1", port))
	for piece in sys.argv[5:]:
		s.sendall(piece.replace("\\r", "\r").replace("\\n",
		    "\n").encode())
		time.sleep(0.3)
	ctx = ssl.create_default_context(cafile=cafile)
	t = ctx.wrap_socket(s, server_hostname=name)
	t.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
	    % name).encode())
	got = b""
	while True:
		d = t.recv(65536)
		if not d:
			break
		got += d
	head, _, body = got.partition(b"\r\n\r\n")
	if not head.startswith(b"HTTP/1.1 200"):
		sys.exit("no 200: %r" % head[:100])
	sys.stdout.write(body.decode())

try:
	main()
except (OSError, ssl.SSLError) as e:
	sys.exit("ppclient: %s" % e)
