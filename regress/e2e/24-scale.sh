#!/bin/sh
# Scale: 10,000 concurrent TLS connections held through both proxies
# (2,000 in a sanitizer build; SCALE_CONNS says otherwise),
# with their default configuration (prefork one per CPU, the default
# pool and limits), under the descriptor limit of this machine (20,000
# per process on the test machines).  Four client processes open 2,500
# connections each, each with one request; once all are open, every
# connection asks again, which counts it as held.  No timing is
# asserted.  Each proxy process holds two descriptors per connection and
# no pipes while nothing moves, and each daemon logs its connection
# limit once.
. "$(dirname "$0")/../lib.sh"
need python3 ss

CONNS=${SCALE_CONNS:-10000}
case $BIN in
*/san)	CONNS=${SCALE_CONNS:-2000} ;;	# sanitizers: slower, larger
esac
CLIENTS=${SCALE_CLIENTS:-4}
PROXYD_PREFORK=		# the defaults
PP_PREFORK=
ports
start_all

# holder.py PORT NAME CAFILE N: open N TLS connections to 127.0.0.1:PORT
# with SNI NAME, one request each, at most 50 being opened at a time;
# print "opened N failed M"; on SIGUSR1 ask again on every one and
# print "held N".  The internal server closes a connection idle for 30
# s, so one idle for 10 s asks again meanwhile.
cat >"$T/holder.py" <<'EOT'
import asyncio, signal, ssl, sys, time

REQ = b"GET /jsonrpc HTTP/1.1\r\nHost: %s\r\n\r\n"

async def ask(c, host):
    r, w = c[0], c[1]
    w.write(REQ % host)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    body = await r.readexactly(n)
    c[2] = time.monotonic()
    return head.startswith(b"HTTP/1.1 200") and b"success" in body

async def main():
    port, name, ca, n = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                         int(sys.argv[4]))
    ctx = ssl.create_default_context(cafile=ca)
    sem = asyncio.Semaphore(50)
    host = name.encode()
    held, failed, busy = [], [0], set()

    async def one():
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname=name), 60)
                c = [r, w, 0]
                if await asyncio.wait_for(ask(c, host), 60):
                    held.append(c)
                    return
            except Exception:
                pass
            failed[0] += 1

    async def refresh(c):
        try:
            await asyncio.wait_for(ask(c, host), 30)
        except Exception:
            if c in held:
                held.remove(c)
        busy.discard(id(c))

    async def keepalive():
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            for c in held:
                if now - c[2] >= 10 and id(c) not in busy:
                    busy.add(id(c))
                    asyncio.create_task(refresh(c))

    go = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go.set)
    ka = asyncio.create_task(keepalive())
    await asyncio.gather(*[one() for _ in range(n)])
    print("opened %d failed %d" % (len(held), failed[0]), flush=True)
    await go.wait()
    ka.cancel()
    while busy:
        await asyncio.sleep(0.1)
    ok = 0

    async def check(c):
        nonlocal ok
        try:
            if await asyncio.wait_for(ask(c, host), 60):
                ok += 1
        except Exception:
            pass
    await asyncio.gather(*[check(c) for c in held])
    print("held %d" % ok, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
EOT

# the limit, logged once by each daemon
for d in proxyd privproxyd; do
	n=$(count_log "$T/$d.log" "at most [0-9]+ connections per")
	check "$d-limit-logged" "$n lines with the limit" [ "$n" -eq 1 ]
done
note "$(grep -h "at most [0-9]* connections per" "$T/proxyd.log" \
    "$T/privproxyd.log" | tr '\n' ';')"

per=$((CONNS / CLIENTS))
i=0
while [ "$i" -lt "$CLIENTS" ]; do
	python3 "$T/holder.py" "$P_PUBLIC" "$NAME" "$C/root.crt" "$per" \
	    >"$T/out.$i" 2>&1 &
	track "hold$i" $!
	i=$((i + 1))
done

# wait until every client has opened its share
i=0
while [ "$(cat "$T"/out.* | grep -c '^opened')" -lt "$CLIENTS" ]; do
	i=$((i + 1))
	if [ "$i" -ge 2000 ] || [ -n "$(cat "$T"/out.* |
	    grep -v '^opened')" ]; then
		break
	fi
	sleep 0.1
done
opened=$(cat "$T"/out.* | awk '/^opened/ { n += $2 } END { print n + 0 }')
check opened "$opened of $CONNS connections opened ($(cat "$T"/out.* |
    tr '\n' ' ' | head -c 300))" [ "$opened" -eq "$CONNS" ]

# descriptors: about two per connection, whatever the pool holds
lfds=$(role_fds proxyd listener)
cfds=$(role_fds privproxyd connector)
note "listeners hold $lfds descriptors, connectors $cfds, for $opened" \
    "connections"
check listener-fds "listeners hold $lfds descriptors for $opened" \
    [ "$lfds" -le $((2 * opened + 1000)) ]
check connector-fds "connectors hold $cfds descriptors for $opened" \
    [ "$cfds" -le $((2 * opened + 1000)) ]

# every connection asks once more: held through both proxies
for p in $(tracked '^hold'); do
	kill -USR1 "$p"
done
i=0
while [ "$(cat "$T"/out.* | grep -c '^held')" -lt "$CLIENTS" ] &&
    [ "$i" -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
held=$(cat "$T"/out.* | awk '/^held/ { n += $2 } END { print n + 0 }')
check held "$held of $CONNS connections held" [ "$held" -eq "$CONNS" ]
note "$held connections held"

refute_log proxyd-no-limit "$T/proxyd.log" "limit of [0-9]+"
refute_log privproxyd-no-limit "$T/privproxyd.log" "limit of [0-9]+"
refute_log privproxyd-no-failure "$T/privproxyd.log" "failed"
for p in $(tracked '^hold'); do
	stop_pid "$p"
done
check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
