#!/bin/sh
# Tokens.  Random token preambles sent to the backchannel port (up to
# TOKENS, 100000, within TOKEN_SECONDS, 60 s, on short connections; the
# count is printed) are accepted 0 times, that is each connection is
# closed by proxyd without a byte, while the demo request goes on being
# served.  A replayed preamble (one privproxyd sent, captured by a relay
# on its way) is refused as "token already used"; a truncated one as
# "closed before its preamble"; a bad magic as "bad preamble".
# (Expired tokens: a token unused for its lifetime is refused "token
# expired"; not sent here, the lifetime being the client timeout.)
. "$(dirname "$0")/../lib.sh"
need python3

TOKENS=${TOKENS:-100000}
TOKEN_SECONDS=${TOKEN_SECONDS:-60}
PP_POOL=0			# the notified path: one token per client
ports
port P_RELAY
PP_BC_PORT=$P_RELAY

cat >"$T/tok.py" <<'EOF'
import os, socket, sys, threading, time

def relay(lport, tport, out):
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
	while True:
		c, _ = s.accept()
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
	relay(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
elif cmd == "random":
	random_tokens(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
elif cmd == "send":
	pre = bytes.fromhex(sys.argv[3])
	print(send(int(sys.argv[2]), pre))
elif cmd == "partial":
	c = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
	c.sendall(bytes.fromhex(sys.argv[3]))
	c.close()
EOF

python3 "$T/tok.py" relay "$P_RELAY" "$P_BC" "$T/captured" \
    >"$T/relay.log" 2>&1 &
track relay $!
wait_listen "$P_RELAY" || die setup "relay does not listen"
start_all
log=$T/proxyd.log

# a legitimate request, its preamble captured on the way
check_demo first-request
check captured "no preamble captured" [ -s "$T/captured" ]
pre=$(head -n 1 "$T/captured")

# random tokens, with the demo request in a loop beside them
: >"$T/loop.ok"
: >"$T/loop.fail"
(
	while [ ! -e "$T/loop.stop" ]; do
		if demo_ok; then echo . >>"$T/loop.ok"
		else echo . >>"$T/loop.fail"; fi
	done
) &
track loop $!
from=$(lines "$log")
set -- $(python3 "$T/tok.py" random "$P_BC" "$TOKENS" "$TOKEN_SECONDS")
touch "$T/loop.stop"
wait "$(dpid loop)"
sent=${1:-0}
accepted=${2:-?}
note "random tokens: $sent sent in at most $TOKEN_SECONDS s, $accepted \
accepted, ${3:-?} connection errors; demo meanwhile: $(wc -l <"$T/loop.ok") \
served, $(wc -l <"$T/loop.fail") failed"
check random-sent "only $sent random preambles sent" [ "$sent" -ge 1000 ]
check random-accepted-0 "$accepted random tokens accepted" \
    [ "$accepted" = 0 ]
check legit-during-random "the demo failed $(wc -l <"$T/loop.fail") times \
while random tokens came" [ "$(wc -l <"$T/loop.fail")" -eq 0 ]
check legit-served "the demo was not served meanwhile" \
    [ "$(wc -l <"$T/loop.ok")" -gt 0 ]
logged=$(count_log "$log" "refused backchannel from $CLIENT: unknown token")
suppressed=$(tail -n "+$((from + 1))" "$log" |
    sed -n 's/.* \([0-9]*\) similar messages suppressed.*/\1/p' |
    awk '{ n += $1 } END { print n + 0 }')
note "proxyd logged $logged 'unknown token' refusals and $suppressed \
suppressed similar messages"
check unknown-token-logged "no 'unknown token' refusal logged" \
    [ "$logged" -gt 0 ]
sleep 1.2			# a new second for the rate limit

# replayed: the captured preamble of a used token
from=$(lines "$log")
r=$(python3 "$T/tok.py" send "$P_BC" "$pre")
check replay-closed "a replayed preamble got an answer" [ "$r" = 0 ]
assert_log replay-refused "$log" \
    "refused backchannel from $CLIENT: token already used" 5 "$from"

# truncated: 20 bytes, then the end
from=$(lines "$log")
python3 "$T/tok.py" partial "$P_BC" "$(echo "$pre" | cut -c1-40)"
assert_log truncated-refused "$log" \
    "refused backchannel from $CLIENT: closed before its preamble" 5 "$from"

# bad magic
from=$(lines "$log")
r=$(python3 "$T/tok.py" send "$P_BC" "45505358$(echo "$pre" | cut -c9-)")
check badmagic-closed "a bad preamble got an answer" [ "$r" = 0 ]
assert_log badmagic-refused "$log" \
    "refused backchannel from $CLIENT: bad preamble" 5 "$from"

check_demo still-served
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
