#!/usr/bin/env python3
#
# hold.py: open COUNT TLS connections to 127.0.0.1:PORT with the server
# name NAME, verified against CAFILE, complete each handshake, then hold
# them all open, idle, so that regress/bench.sh can measure the memory
# of the proxies in between.
#
# usage: hold.py PORT NAME CAFILE COUNT STATUS [DEADLINE [IDLE]]
#
# At most INFLIGHT (64) handshakes run at once, each for at most 15 s;
# no new one starts after DEADLINE seconds (default 90), nor after
# GIVE_UP (128) failures in a row: the path is full.  Once every
# connection is made or given up, and after a second to let the proxies
# drop the ones they refuse, the connections still open are counted and
# STATUS gets one line, "held N failed M in S s [reason:count ...]",
# written to STATUS.tmp and renamed.  Then it idles until SIGTERM, or
# for IDLE seconds (default 600) at most, and exits, which closes them.
#
# One process holds one descriptor per connection; the descriptor limit
# is per process, so bench.sh starts several for large counts.

import errno
import os
import selectors
import signal
import socket
import ssl
import sys
import time

INFLIGHT = 64
HANDSHAKE = 15.0
GIVE_UP = 2 * INFLIGHT


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: hold.py PORT NAME CAFILE COUNT STATUS "
                 "[DEADLINE [IDLE]]")
    port = int(sys.argv[1])
    name = sys.argv[2]
    ctx = ssl.create_default_context(cafile=sys.argv[3])
    count = int(sys.argv[4])
    status = sys.argv[5]
    deadline = time.monotonic() + (float(sys.argv[6])
                                   if len(sys.argv) > 6 else 90.0)
    idle = float(sys.argv[7]) if len(sys.argv) > 7 else 600.0
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    sel = selectors.DefaultSelector()
    pending = {}        # fd -> [socket, started, connected]
    held = []
    fails = {}

    streak = [0]

    def fail(fd, why):
        sock = pending.pop(fd)[0]
        sel.unregister(sock)
        sock.close()
        fails[why] = fails.get(why, 0) + 1
        streak[0] += 1

    def start():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            fails[errno.errorcode.get(err, str(err))] = \
                fails.get(errno.errorcode.get(err, str(err)), 0) + 1
            return
        pending[sock.fileno()] = [sock, time.monotonic(), False]
        sel.register(sock, selectors.EVENT_WRITE)

    def step(fd):
        ent = pending[fd]
        sock = ent[0]
        if not ent[2]:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                fail(fd, errno.errorcode.get(err, str(err)))
                return
            sel.unregister(sock)
            sock = ctx.wrap_socket(sock, server_hostname=name,
                                   do_handshake_on_connect=False)
            ent[0] = sock
            ent[2] = True
            sel.register(sock, selectors.EVENT_WRITE)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            sel.modify(sock, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            sel.modify(sock, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as e:
            fail(fd, type(e).__name__)
            return
        sel.unregister(sock)
        del pending[fd]
        held.append(sock)
        streak[0] = 0

    begin = time.monotonic()
    started = 0
    while started < count or pending:
        now = time.monotonic()
        while (started < count and len(pending) < INFLIGHT and
               now < deadline):
            start()
            started += 1
        if started < count and (now >= deadline or streak[0] >= GIVE_UP):
            why = "deadline" if now >= deadline else "gave-up"
            fails[why] = count - started
            started = count
        for key, _ in sel.select(timeout=0.2):
            if key.fd in pending:
                step(key.fd)
        now = time.monotonic()
        for fd in [fd for fd, e in pending.items()
                   if now - e[1] > HANDSHAKE]:
            fail(fd, "timeout")

    # drop what the other side has closed since: readable with EOF
    time.sleep(1)
    alive = []
    for sock in held:
        sock.setblocking(False)
        try:
            data = sock.recv(1)
            if data == b"":
                fails["closed"] = fails.get("closed", 0) + 1
                sock.close()
                continue
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLError, OSError):
            fails["closed"] = fails.get("closed", 0) + 1
            sock.close()
            continue
        alive.append(sock)

    line = "held %d failed %d in %.1f s" % (len(alive), count - len(alive),
                                            time.monotonic() - begin)
    for why, n in sorted(fails.items()):
        line += " %s:%d" % (why, n)
    with open(status + ".tmp", "w") as f:
        f.write(line + "\n")
    os.rename(status + ".tmp", status)
    time.sleep(idle)


if __name__ == "__main__":
    main()
