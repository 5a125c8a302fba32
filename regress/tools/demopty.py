# demopty.py MODE SIGNAL TOP BIN PREFIX: run TOP/etc/demo/demo.sh with
# B=BIN in a pseudo-terminal, its output through tee (MODE pipe, or
# teegone: tee is ended first) or not (nopipe).  Once the demo request
# has succeeded, send SIGNAL (INT, TERM) to the terminal's foreground
# process group, or hang the terminal up (HUP: its master side closes),
# then wait for every process started under it to leave.  Writes
# PREFIX.out (what the terminal showed), PREFIX.pids (pid, start time and
# command of each, collected before the signal) and PREFIX.left (those
# still there after GONE_WAIT seconds, then stopped by pid).  Exits 0:
# all gone; 1: some were left; 2: the demo did not come up; 3: the
# demo's ports or the lock of this case are taken.
import errno, fcntl, os, pty, select, signal, socket, sys, time

mode, signame, top, bindir, prefix = sys.argv[1:6]
READY = (b'"message": "success"', b"Ctrl-C stops all")
UP_WAIT = 60
GONE_WAIT = 20

def stat(pid):
    """(state, ppid, start time) of a process, None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), rest[19]

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            b = f.read()
    except OSError:
        return "?"
    return b.replace(b"\0", b" ").decode(errors="replace").strip()

def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st is not None:
                kids.setdefault(st[1], []).append(int(d))
    found, todo = [], [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            st = stat(c)
            if st is not None:
                found.append((c, st[2]))
                todo.append(c)
    return found

def alive(pid, start):
    st = stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start

def stop(procs):
    """SIGTERM, 5 s, SIGKILL: by pid, each still the process recorded."""
    for p, start in procs:
        if alive(p, start):
            os.kill(p, signal.SIGTERM)
    end = time.monotonic() + 5
    while time.monotonic() < end and any(alive(p, s) for p, s in procs):
        time.sleep(0.1)
    for p, start in procs:
        if alive(p, start):
            os.kill(p, signal.SIGKILL)

os.makedirs("/tmp/eps-demo", exist_ok=True)
lock = open("/tmp/eps-demo/.regress.lock", "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print("another run of this case holds /tmp/eps-demo/.regress.lock")
    sys.exit(3)
for port in (4433, 4434, 5555, 8888):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        print("port %d is in use" % port)
        sys.exit(3)
    finally:
        s.close()

cmd = "B=%s sh etc/demo/demo.sh" % bindir
if mode != "nopipe":
    cmd += " 2>&1 | tee %s.tee" % prefix
os.chdir(top)
pid, fd = pty.fork()
if pid == 0:
    # Signals as a terminal's shell has them.  Python ignores SIGPIPE;
    # a non-interactive sh starts this in the background with SIGINT and
    # SIGQUIT ignored; exec keeps what is ignored.
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGQUIT,
                signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execv("/bin/sh", ["sh", "-c", cmd])

out = open(prefix + ".out", "wb")
seen = b""
recorded = []

def drain(timeout):
    """Copy what the terminal shows; False once it is closed."""
    global seen, fd
    if fd is None:
        return False
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        b = os.read(fd, 4096)
    except OSError as e:
        if e.errno != errno.EIO:
            raise
        b = b""
    if not b:
        os.close(fd)
        fd = None
        return False
    out.write(b)
    out.flush()
    seen = (seen + b)[-65536:]
    return True

def on_term(sig, frame):
    stop(recorded + descendants(pid))
    sys.exit(1)

signal.signal(signal.SIGTERM, on_term)
status = 0
try:
    end = time.monotonic() + UP_WAIT
    while not all(r in seen for r in READY):
        if time.monotonic() > end or not drain(0.2):
            print("the demo did not come up within %d s" % UP_WAIT)
            status = 2
            break
    if status == 0:
        time.sleep(0.5)		# the script is in its last loop
        recorded = descendants(pid)
        with open(prefix + ".pids", "w") as f:
            for p, start in recorded:
                f.write("%d %s %s\n" % (p, start, cmdline(p)))
        if mode == "teegone":
            # tee took the signal first: the script's pipe has no reader
            tee = [(p, s) for p, s in recorded
                   if cmdline(p).startswith("tee ")]
            for p, s in tee:
                os.kill(p, signal.SIGINT)
            end = time.monotonic() + 5
            while time.monotonic() < end and any(alive(p, s)
                                                 for p, s in tee):
                time.sleep(0.05)
        if signame == "HUP":
            os.close(fd)
            fd = None
        else:
            os.killpg(os.tcgetpgrp(fd), getattr(signal, "SIG" + signame))
        end = time.monotonic() + GONE_WAIT
        while time.monotonic() < end:
            drain(0.2)
            if not any(alive(p, s) for p, s in recorded):
                break
        left = [(p, s) for p, s in recorded if alive(p, s)]
        with open(prefix + ".left", "w") as f:
            for p, start in left:
                f.write("%d %s\n" % (p, cmdline(p)))
        if left:
            status = 1
finally:
    stop(recorded + descendants(pid))
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    while drain(0.1):
        pass
sys.exit(status)
