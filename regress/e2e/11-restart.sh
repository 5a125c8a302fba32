#!/bin/sh
# Supervision.  A child killed with SIGKILL is logged and restarted, and
# the service comes back: proxyd's listener and matcher, privproxyd's
# connector, the public epsd's session process.  A private epsd stopped and
# started again links again, and privproxyd re-announces.
. "$(dirname "$0")/../lib.sh"

PROXYD_PREFORK=1
PP_TTL=6
start_all

# child DAEMON TITLE: the pid of DAEMON's child with that title.
child()
{
	for ch_c in $(children "$(dpid "$1")"); do
		if [ "$(ps -o args= -p "$ch_c" | sed 's/ *$//')" = "$2" ]; then
			echo "$ch_c"
			return 0
		fi
	done
	return 1
}

# kill9 DAEMON ROLE: SIGKILL the child, which must be logged and
# restarted with a new pid.
kill9()
{
	k9_log=$T/$1.log
	k9_from=$(lines "$k9_log")
	k9_title="${1%%-*}: $2"
	if ! k9_pid=$(child "$1" "$k9_title"); then
		fail "$1-$2-found" "no child \"$k9_title\""
		return 1
	fi
	kill -KILL "$k9_pid"
	assert_log "$1-$2-killed" "$k9_log" \
	    "$2 0 \(pid $k9_pid\) killed by signal 9" 5 "$k9_from"
	assert_log "$1-$2-restarting" "$k9_log" "restarting $2 0" 10 \
	    "$k9_from"
	k9_i=0
	k9_new=
	while [ "$k9_i" -lt 50 ]; do
		k9_new=$(child "$1" "$k9_title") && break
		sleep 0.1
		k9_i=$((k9_i + 1))
	done
	check "$1-$2-new-pid" "no new $2 after the restart" \
	    [ "${k9_new:-$k9_pid}" != "$k9_pid" ]
}

kill9 proxyd listener
eventually_demo after-listener 10

from=$(lines "$T/proxyd.log")
kill9 proxyd matcher
# the new matcher learns the name from privproxyd's next renewal (ttl/3)
assert_log matcher-relearns "$T/proxyd.log" "private announced $NAME" 10 \
    "$from"
eventually_demo after-matcher 10

kill9 proxyd eps
eventually_demo after-proxyd-eps 15

kill9 privproxyd connector
eventually_demo after-connector 10

kill9 privproxyd eps
eventually_demo after-privproxyd-eps 15

from=$(lines "$T/epsd-public.log")
kill9 epsd-public session
assert_log public-relinks "$T/epsd-public.log" "link to private up" 15 \
    "$from"
eventually_demo after-session 15

kill9 epsd-public router
eventually_demo after-router 15

# the whole private epsd goes away and comes back
from=$(lines "$T/epsd-public.log")
ppfrom=$(lines "$T/privproxyd.log")
stop_daemon epsd-private
assert_log link-down "$T/epsd-public.log" "link to private down" 10 "$from"
assert_log privproxyd-lost-epsd "$T/privproxyd.log" \
    "connection to epsd closed" 5 "$ppfrom"
start_epsd_private
assert_log link-up-again "$T/epsd-public.log" "link to private up" 10 \
    "$from"
assert_log privproxyd-reconnects "$T/privproxyd.log" "connected to epsd" 15 \
    "$ppfrom"
eventually_demo after-epsd-restart 15
