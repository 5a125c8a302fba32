#!/bin/sh
# The demo stops all its processes however it is ended.  etc/demo/demo.sh
# runs in a pseudo-terminal, as "make demo" does, its output piped
# through tee or not; once the demo request has succeeded, the
# terminal's foreground process group gets SIGINT (Ctrl-C) or SIGTERM,
# or the terminal hangs up (closed: SIGHUP).  Every process started
# under the terminal (collected before the signal) must be gone
# afterwards.  One run has tee leave first, as it does on a Ctrl-C before
# the script's trap has run: the script's next write then finds no reader
# (SIGPIPE), which used to kill it and leave the 15 daemon processes
# running.  The demo uses fixed ports (4433, 4434, 5555, 8888) and
# /tmp/eps-demo: the case is skipped when those ports are taken.
. "$(dirname "$0")/../lib.sh"

need python3

# the terminal: regress/lib.sh has no pseudo-terminal, Python's pty does
cat >"$T/demopty.py" <<'EOF'
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
EOF

# stop_recorded: whatever a run recorded and is still there, by pid,
# should its driver have died before it could stop them itself.
stop_recorded()
{
	for sr_f in "$T"/*.pids; do
		[ -f "$sr_f" ] || continue
		while read -r sr_pid sr_start sr_cmd; do
			alive "$sr_pid" || continue
			[ "$(sed 's/.*) //' "/proc/$sr_pid/stat" 2>/dev/null |
			    cut -d' ' -f20)" = "$sr_start" ] || continue
			note "still there after the case: $sr_pid $sr_cmd"
			kill -KILL "$sr_pid" 2>/dev/null
		done <"$sr_f"
	done
}
trap 'sr_status=$?; stop_recorded; (exit "$sr_status"); cleanup' EXIT

# run CHECK MODE SIGNAL: one run of the demo, ended by SIGNAL.
run()
{
	rn_p=$T/$1
	start_daemon "$1" python3 "$T/demopty.py" "$2" "$3" "$TOP" "$BIN" \
	    "$rn_p"
	wait "$(dpid "$1")"
	rn_rc=$?
	case $rn_rc in
	0)	pass "$1-up"
		pass "$1-stopped"
		;;
	1)	pass "$1-up"
		for rn_f in /tmp/eps-demo/*.log; do
			[ -f "$rn_f" ] && cp "$rn_f" "$T/$1-demo-${rn_f##*/}"
		done
		fail "$1-stopped" "$(wc -l <"$rn_p.left") of $(wc -l \
		    <"$rn_p.pids") processes still there: $(cut -d' ' -f2- \
		    "$rn_p.left" | sort | uniq -c | tr -s ' \n' '  ')"
		;;
	3)	skip all "$(cat "$T/$1.log")"
		exit 0
		;;
	*)	tail -n 20 "$rn_p.out" 2>/dev/null >"$T/$1-terminal.log"
		for rn_f in /tmp/eps-demo/*.log; do
			[ -f "$rn_f" ] && cp "$rn_f" "$T/$1-demo-${rn_f##*/}"
		done
		die "$1-up" "the demo did not come up (driver exit $rn_rc)"
		;;
	esac
}

run tee-int pipe INT
run tee-gone-int teegone INT
run tty-int nopipe INT
assert_log tty-int-said "$T/tty-int.out" "stopped the demo's processes"
run tee-hup pipe HUP
run tee-term pipe TERM
