#!/bin/sh
#
# demo.sh: the demo, as "make demo" runs it once the programs are built.
#
# usage: [B=build] sh etc/demo/demo.sh
#
# Makes the demo certificates (etc/demo/certs/, kept when still good),
# then starts the five processes of the demo on 127.0.0.1, each with its
# configuration from etc/demo/ and in the foreground:
#	$B/internal-server	the JSON-RPC TLS server, 8888
#	$B/epsd			the public site's EPS server, port 5555
#	$B/epsd			the private site's EPS server, dials 5555
#	$B/proxyd		the public proxy, ports 4433 and 4434
#	$B/privproxyd		the private proxy (dials 4434)
# Sockets, control sockets (NAME.ctl, for epsctl -s) and logs (NAME.log)
# are in /tmp/eps-demo/.
# Once proxyd says the private proxy announced test.internal-server.local
# it sends the demo request and shows the answer, then waits until
# Ctrl-C and stops all five, by pid.  If a process dies, or the name is
# not announced within 20 seconds, it shows that process's log, stops
# the others and fails.
#
# The daemons run in sessions of their own (a SIGHUP would make them
# reload), so this script is what stops them, whatever ends it: Ctrl-C
# (SIGINT), SIGTERM, SIGQUIT, the terminal closing (SIGHUP) or, as in
# "make demo 2>&1 | tee demo.log" where tee leaves on the same Ctrl-C,
# the reader of its output going away (SIGPIPE on the next write).
#
# As root the daemons' children run as "nobody", chrooted to /var/empty;
# as another user they run as that user, with a warning.

set -u

cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
DEMO=etc/demo
CERTS=$DEMO/certs
RUN=/tmp/eps-demo
NAME=test.internal-server.local
REQUEST="curl -sS --cacert $CERTS/root.crt --resolve $NAME:4433:127.0.0.1 \
https://$NAME:4433/jsonrpc | jq ."

prog=demo.sh
procs=			# "name:pid" of what we started, in order
sleeper=		# the pid of the main loop's sleep
stopping=0

say()
{
	echo "$prog: $*"
}

# alive PID: the process exists and is not a zombie.
alive()
{
	[ -r "/proc/$1/stat" ] || return 1
	al_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$al_st" ] && [ "$al_st" != Z ]
}

# tail_log NAME: the end of a process's log.
tail_log()
{
	echo "--- $RUN/$1.log (last 20 lines):"
	tail -n 20 "$RUN/$1.log" 2>/dev/null | sed 's/^/    /'
}

# stop_all: SIGTERM to each process we started, the last first; SIGKILL
# to what is still there 5 seconds later.
stop_all()
{
	[ "$stopping" = 1 ] && return
	stopping=1
	rev=
	for p in $procs; do
		rev="$p $rev"
	done
	for p in $rev; do
		alive "${p#*:}" && kill -TERM "${p#*:}" 2>/dev/null
		i=0
		while alive "${p#*:}" && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if alive "${p#*:}"; then
			say "${p%%:*} (pid ${p#*:}) did not stop: SIGKILL"
			kill -KILL "${p#*:}" 2>/dev/null
		fi
		wait "${p#*:}" 2>/dev/null
	done
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	[ -n "$procs" ] && say "stopped the demo's processes"
	procs=
}

# on_signal SIG: stop everything first.  From here on a signal (another
# Ctrl-C, a write to a pipe nobody reads, to a terminal that is gone)
# neither interrupts the stop nor ends the script before it is done.
on_signal()
{
	trap '' INT TERM HUP QUIT PIPE
	[ "$1" = INT ] && echo
	stop_all
	trap - EXIT
	[ "$1" = PIPE ] && exit 1
	exit 0
}

# fail MESSAGE [NAME]: say what went wrong, show NAME's log, stop, exit 1.
fail()
{
	say "$1"
	[ $# -gt 1 ] && tail_log "$2"
	stop_all
	exit 1
}

# start NAME CMD...: start CMD in the background, logging to NAME.log,
# in a session of its own so that Ctrl-C reaches only this script,
# which then stops the daemons in order.
start()
{
	st_name=$1
	shift
	say "starting $st_name: $*"
	if command -v setsid >/dev/null 2>&1; then
		setsid "$@" >"$RUN/$st_name.log" 2>&1 </dev/null &
	else
		"$@" >"$RUN/$st_name.log" 2>&1 </dev/null &
	fi
	procs="$procs $st_name:$!"
}

# check_alive: every process we started still runs.
check_alive()
{
	for p in $procs; do
		alive "${p#*:}" ||
		    fail "${p%%:*} (pid ${p#*:}) exited" "${p%%:*}"
	done
}

trap 'stop_all; exit 1' EXIT
for sig in INT TERM HUP QUIT PIPE; do
	# shellcheck disable=SC2064
	trap "on_signal $sig" "$sig"
done

for f in proxyd privproxyd epsd internal-server; do
	[ -x "$B/$f" ] || fail "$B/$f is not built: run make"
done
for f in curl openssl; do
	command -v "$f" >/dev/null 2>&1 || fail "$f not found: run make deps"
done
if command -v ss >/dev/null 2>&1; then
	for port in 4433 4434 5555 8888; do
		if [ -n "$(ss -Htln "sport = :$port")" ]; then
			fail "port $port on this machine is in use (another \
demo still running?): $(ss -Htlnp "sport = :$port" | head -n 1)"
		fi
	done
fi

sh "$DEMO/gencerts.sh" "$CERTS" || fail "cannot make the certificates"
mkdir -p "$RUN" 2>/dev/null
if [ ! -w "$RUN" ]; then
	fail "$RUN is not writable by $(id -un): remove it (another user \
made it)"
fi
rm -f "$RUN"/*.sock "$RUN"/*.log
say "sockets and logs in $RUN/"

start internal-server "$B/internal-server" \
    -c "$CERTS/internal-server.crt" -k "$CERTS/internal-server.key"
start epsd-public "$B/epsd" -d -f "$DEMO/epsd-public.conf"
start epsd-private "$B/epsd" -d -f "$DEMO/epsd-private.conf"
start proxyd "$B/proxyd" -d -f "$DEMO/proxyd.conf"
start privproxyd "$B/privproxyd" -d -f "$DEMO/privproxyd.conf"

say "waiting for the private proxy to announce $NAME"
i=0
until grep -q "private announced $NAME" "$RUN/proxyd.log" 2>/dev/null; do
	check_alive
	i=$((i + 1))
	if [ "$i" -gt 200 ]; then
		tail_log epsd-public
		tail_log epsd-private
		tail_log privproxyd
		fail "$NAME not announced within 20 seconds" proxyd
	fi
	sleep 0.1
done
say "proxyd: $(grep "private announced $NAME" "$RUN/proxyd.log" |
    head -n 1)"

echo
echo "\$ $REQUEST"
if command -v jq >/dev/null 2>&1; then
	out=$(curl -sS --cacert "$CERTS/root.crt" \
	    --resolve "$NAME:4433:127.0.0.1" "https://$NAME:4433/jsonrpc" |
	    jq .) || fail "the demo request failed" proxyd
else
	out=$(curl -sS --cacert "$CERTS/root.crt" \
	    --resolve "$NAME:4433:127.0.0.1" "https://$NAME:4433/jsonrpc") ||
	    fail "the demo request failed" proxyd
fi
echo "$out"
echo
echo "The demo is running; in another terminal try:"
echo
echo "    $REQUEST"
echo
echo "Logs: $RUN/*.log.  Ctrl-C stops all five."

while :; do
	sleep 1 &
	sleeper=$!
	wait "$sleeper" 2>/dev/null
	sleeper=
	check_alive
done
