#!/bin/sh
# A reload is reported as it went in the children.  Each child answers
# the round; the parent says "configuration reloaded" only when every
# one applied it, and names the one that did not, with its reason.
#
# The refusal: the public epsd is reloaded with a CA file that is
# readable but holds no certificate.  The parent only reads the files;
# the session process, which builds its TLS context from them, refuses
# the round and keeps the context it had, so a new link is still
# accepted and requests still go through, and when it restarts it gets
# that configuration again.  Then: a good reload, a
# reload while another is under way (the router is stopped with
# SIGSTOP, so that its answer waits: two SIGHUPs in a row are not
# deterministic, since the kernel may merge them), a child that does
# not answer in time, and one that dies during the round.
. "$(dirname "$0")/../lib.sh"

start_all
log=$T/epsd-public.log

# child DAEMON TITLE: the pid of DAEMON's child with that title (the
# same as 11-restart's; defined here while lib.sh is being reworked).
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

# hup DAEMON: SIGHUP, and set $from to the line the log was at.
hup()
{
	from=$(lines "$T/$1.log")
	kill -HUP "$(dpid "$1")"
}

# a good reload, in each daemon
for d in epsd-public proxyd privproxyd epsd-private; do
	hup "$d"
	assert_log "$d-good-reload" "$T/$d.log" "configuration reloaded" 10 \
	    "$from"
done

# the session refuses a CA that libtls cannot load
printf 'this is not a certificate\n' >"$T/bad-ca.pem"
EPSPUB_EXTRA="tls ca \"$T/bad-ca.pem\""
conf_epsd_public
hup epsd-public
assert_log refused "$log" \
    "configuration reload: session 0 refused: tls: .+" 10 "$from"
assert_log incomplete "$log" \
    "configuration reload incomplete: 1 of 2 children did not apply it" \
    10 "$from"
refute_log not-reloaded "$log" "configuration reloaded" "$from"
refute_log router-applied "$log" "router 0 (refused|did not apply)" "$from"
note "$(tail -n "+$((from + 1))" "$log" | grep -E 'refused' | head -n 1)"

# the old TLS context is in force: a new link from the private epsd
# (its session process is restarted) is accepted, and requests work
from=$(lines "$log")
if pid=$(child epsd-private "epsd: session"); then
	kill -KILL "$pid"
	assert_log new-link "$log" "link to private up" 20 "$from"
else
	fail new-link "no session process in the private epsd"
fi
eventually_demo request-after-refusal 20

# and when the session process itself restarts, it gets the
# configuration it had, not the one it refused
from=$(lines "$log")
if pid=$(child epsd-public "epsd: session"); then
	kill -KILL "$pid"
	assert_log restart-old "$log" \
	    "session 0 refused the current configuration: it gets the one" \
	    10 "$from"
	assert_log restart-link "$log" "link to private up" 20 "$from"
	refute_log restart-applied "$log" \
	    "session 0 refused its configuration" "$from"
else
	fail restart-old "no session process in the public epsd"
fi
eventually_demo request-after-session-restart 20

# the good CA again: applied by both children
EPSPUB_EXTRA=
conf_epsd_public
hup epsd-public
assert_log reloaded-again "$log" "configuration reloaded" 10 "$from"
check_demo request-after-good-reload

# a reload while one is under way is refused: the router, stopped,
# cannot answer the first one until it is continued
router=$(child epsd-public "epsd: router") ||
    die router "no router process in the public epsd"
kill -STOP "$router"
hup epsd-public
assert_log first-reloading "$log" "reloading configuration" 10 "$from"
second=$(lines "$log")
kill -HUP "$(dpid epsd-public)"
assert_log second-refused "$log" "reload already in progress" 10 "$second"
refute_log not-yet "$log" "configuration reloaded" "$from"
kill -CONT "$router"
assert_log first-completes "$log" "configuration reloaded" 10 "$from"

# a child that does not answer in time: the round counts as not applied
kill -STOP "$router"
hup epsd-public
assert_log no-answer "$log" \
    "configuration reload: router 0 did not apply it: no answer within" 20 \
    "$from"
assert_log no-answer-incomplete "$log" "configuration reload incomplete" 5 \
    "$from"
kill -CONT "$router"
hup epsd-public
assert_log after-no-answer "$log" "configuration reloaded" 10 "$from"

# a child that dies during the round: not applied; restarted, it gets
# the new configuration
kill -STOP "$router"
hup epsd-public
assert_log died-reloading "$log" "reloading configuration" 10 "$from"
kill -KILL "$router"
assert_log died "$log" "configuration reload: router 0 did not apply it: died" \
    10 "$from"
assert_log died-incomplete "$log" "configuration reload incomplete" 5 "$from"
assert_log died-restarted "$log" "restarting router 0" 10 "$from"
eventually_demo request-after-router-death 20

daemons_alive others-alive proxyd privproxyd
