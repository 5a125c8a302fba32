#!/bin/sh
# A reload is reported as it went in the children.  Each child answers
# the round; the parent says "configuration reloaded" only when every
# one applied it, and names the one that did not, with its reason.
#
# The refusal: proxyd is reloaded with "max announcements" below the
# names its matcher holds.  The matcher refuses the round and keeps the
# configuration it had, the listeners apply it, and when the matcher
# restarts it gets the configuration it applied.  Then: a good reload, a
# reload while another is under way (the router is stopped with
# SIGSTOP, so that its answer waits: two SIGHUPs in a row are not
# deterministic, since the kernel may merge them), a child that does
# not answer in time, and one that dies during the round.
. "$(dirname "$0")/../lib.sh"

ports
start_is
PP_TTL=6
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	allow "two.internal-server.local"
}'
PP_DOMAINS="$(domain_block "$NAME" "$P_IS")
$(domain_block two.internal-server.local "$P_IS")"
start_all
up proxyd "private announced two.internal-server.local" 15
log=$T/epsd-public.log

# a good reload, in each daemon
for d in epsd-public proxyd privproxyd epsd-private; do
	hup "$d"
	assert_log "$d-good-reload" "$T/$d.log" "configuration reloaded" 10 \
	    "$from"
done

# proxyd's matcher refuses a round that lowers "max announcements"
# below the names it holds (applying it would drop routes in use); the
# same round allows a new name, which the matcher, keeping its old
# configuration, goes on refusing, while the listeners apply the round
plog=$T/proxyd.log
PROXYD_EXTRA="max announcements 1"
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	allow "two.internal-server.local"
	allow "new.internal-server.local"
}'
conf_proxyd
hup proxyd
assert_log refused "$plog" \
    "configuration reload: matcher 0 refused: max announcements 1 is below the 2 names announced now" \
    10 "$from"
assert_log incomplete "$plog" \
    "configuration reload incomplete: 1 of 4 children did not apply it" \
    10 "$from"
refute_log not-reloaded "$plog" "configuration reloaded" "$from"
refute_log listeners-applied "$plog" "listener [01] (refused|did not apply)" \
    "$from"
note "$(tail -n "+$((from + 1))" "$plog" | grep -E 'refused' | head -n 1)"

# the old configuration is in force in the matcher: both names are
# still served after their renewal, and the newly allowed name is not
# taken when privproxyd announces it
check_name two-still-served two.internal-server.local
PP_DOMAINS="$PP_DOMAINS
$(domain_block new.internal-server.local "$P_IS")"
conf_privproxyd
hup privproxyd
assert_log new-name-refused "$plog" \
    "refused announcement of new.internal-server.local by private" 15 \
    "$from"
check_name demo-still-served "$NAME"

# and when the matcher restarts, it gets the configuration it had, not
# the one it refused
from=$(lines "$plog")
if pid=$(child_pid proxyd "proxyd: matcher"); then
	kill -KILL "$pid"
	assert_log restart-old "$plog" \
	    "matcher 0 refused the current configuration: it gets the one" \
	    10 "$from"
else
	fail restart-old "no matcher process in proxyd"
fi
eventually_demo request-after-matcher-restart 20

# the old limit again: applied by every child
PROXYD_EXTRA=
conf_proxyd
hup proxyd
assert_log reloaded-again "$plog" "configuration reloaded" 10 "$from"
check_demo request-after-good-reload

# a reload while one is under way is refused: the router, stopped,
# cannot answer the first one until it is continued
router=$(child_pid epsd-public "epsd: router") ||
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

daemons_alive others-alive privproxyd epsd-private
