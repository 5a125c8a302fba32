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

# the terminal: regress/tools/demopty.py, run by check_demo_stops
check_demo_stops tee-int pipe INT
check_demo_stops tee-gone-int teegone INT
check_demo_stops tty-int nopipe INT
assert_log tty-int-said "$T/tty-int.out" "stopped the demo's processes"
check_demo_stops tee-hup pipe HUP
check_demo_stops tee-term pipe TERM
