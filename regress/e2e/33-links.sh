#!/bin/sh
# Self-healing links.  The public epsd, the private epsd and privproxyd
# are each stopped and started again: the link between the epsd comes
# back and proxyd takes the routes again within RENEW_MAX s (the issue
# asks for 2; the check allows 5 on a shared machine) of the
# restarted daemon's start (each time printed), and the demo is served.
# A private epsd that stops answering (SIGSTOP) is found dead by the
# public epsd's heartbeat (2 s, 3 missed) within a few seconds; after
# SIGCONT it links again.  The private epsd redials a public epsd that
# is away with a growing, jittered back-off.  The private site listens
# on no TCP socket at all.
. "$(dirname "$0")/../lib.sh"
need ss

RENEW_MAX=${RENEW_MAX:-5}
VERBOSE=1			# the redial delays are debug lines
PP_TTL=60			# no renewal by the clock within the case
start_all

# the private site dials out only
l=$(tcp_listeners epsd-private privproxyd)
check private-no-tcp-listen "the private site listens: $l" [ -z "$l" ]
l=$(tcp_listeners epsd-public proxyd | wc -l)
check public-listens "the public site's listeners not found by ss" \
    [ "$l" -ge 3 ]

# restart the public epsd
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
stop_daemon epsd-public
t0=$(now_ms)
start_epsd_public
note "public epsd up $(($(now_ms) - t0)) ms after its start"
check_renewed restart-epsd-public "$t0" "$lfrom" "$pfrom"

# restart the private epsd
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
stop_daemon epsd-private
t0=$(now_ms)
start_epsd_private
check_renewed restart-epsd-private "$t0" "$lfrom" "$pfrom"

# restart privproxyd
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
stop_daemon privproxyd
t0=$(now_ms)
start_privproxyd
rt=$(wait_ms "$T/proxyd.log" "private (announced|renewed) $NAME" "$pfrom" "$t0" 15) ||
    rt=none
note "restart-privproxyd: route after $rt ms"
check restart-privproxyd-route-renewed "route after $rt ms" \
    within "$rt" $((RENEW_MAX * 1000))
eventually_demo restart-privproxyd-served 10
l=$(tcp_listeners epsd-private privproxyd)
check private-still-no-tcp-listen "the private site listens: $l" [ -z "$l" ]

# heartbeat: a private epsd that freezes is found dead
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
priv=$(dpid epsd-private)
kill -STOP "$priv" $(children "$priv")
t0=$(now_ms)
hb=$(wait_ms "$T/epsd-public.log" "link to private down" "$lfrom" "$t0" \
    20) || hb=none
note "heartbeat: dead link found after $hb ms (heartbeat 2 s, 3 missed)"
check heartbeat-detects "no link down within 20 s" [ "$hb" != none ]
assert_log heartbeat-reason "$T/epsd-public.log" "heartbeat timeout" 0 \
    "$lfrom"
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
kill -CONT "$priv" $(children "$priv")
t0=$(now_ms)
check_renewed after-freeze "$t0" "$lfrom" "$pfrom"

# redials: the public epsd away for a while; the private epsd's delays
# grow and vary
efrom=$(lines "$T/epsd-private.log")
stop_daemon epsd-public
wait_log "$T/epsd-private.log" "redialling public in" 10 "$efrom"
sleep 6
delays=$(tail -n "+$((efrom + 1))" "$T/epsd-private.log" |
    sed -n 's/.*redialling public in \([0-9]*\) ms.*/\1/p' | tr '\n' ' ')
note "redial delays (ms): $delays"
check redial-backoff-grows "delays $delays" sh -c '
	set -- $1
	[ $# -ge 4 ] || exit 1
	first=$1
	eval last=\${$#}
	[ "$first" -le 250 ] && [ "$last" -gt 1000 ]' sh "$delays"
# jitter: the delays are not the exact powers of two of the back-off
check redial-jitter "delays $delays" sh -c '
	for d in $1; do
		case $d in
		250|500|1000|2000|4000|8000|16000|30000) ;;
		*) exit 0 ;;
		esac
	done
	exit 1' sh "$delays"
lfrom=$(lines "$T/epsd-public.log")
pfrom=$(lines "$T/proxyd.log")
t0=$(now_ms)
start_epsd_public
rn=$(wait_ms "$T/epsd-public.log" "link to private up" "$lfrom" "$t0" 40) ||
    rn=none
note "after 6 s away: link up $rn ms after the public epsd's start"
check relink-after-away "no link within 40 s" [ "$rn" != none ]
eventually_demo after-away-served 20
