#!/bin/sh
# Supervision.  A child killed with SIGKILL is logged and restarted, and
# the service comes back: proxyd's listener and matcher, privproxyd's
# connector, the public epsd's session process.  A private epsd stopped and
# started again links again, and privproxyd re-announces.
. "$(dirname "$0")/../lib.sh"

PROXYD_PREFORK=1
PP_TTL=6
start_all

check_kill9 proxyd listener
eventually_demo after-listener 10

from=$(lines "$T/proxyd.log")
check_kill9 proxyd matcher
# the new matcher learns the name from privproxyd's next renewal (ttl/3)
assert_log matcher-relearns "$T/proxyd.log" "private announced $NAME" 10 \
    "$from"
eventually_demo after-matcher 10

check_kill9 proxyd eps
eventually_demo after-proxyd-eps 15

check_kill9 privproxyd connector
eventually_demo after-connector 10

check_kill9 privproxyd eps
eventually_demo after-privproxyd-eps 15

from=$(lines "$T/epsd-public.log")
check_kill9 epsd-public session
assert_log public-relinks "$T/epsd-public.log" "link to private up" 15 \
    "$from"
eventually_demo after-session 15

check_kill9 epsd-public router
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
