#!/bin/sh
# Scale-out (DESIGN.md section 9).  Two public sites, each an epsd and a
# proxyd of its own ("public" and "public2"), and one private site that
# links to both epsd and announces to both proxyd.  A client of either
# proxyd is served.  The first public site stops, proxyd and epsd: a
# client of the second sees no failed request meanwhile.  The first
# comes back and relearns the name within 2 s of its link to the
# private site coming up, and serves again.
. "$(dirname "$0")/../lib.sh"

ports
ports 2
start_is
EPSPRIV_EXTRA=$(peer_block public2 "$P_EPS2")
PP_EXTRA=$(public_block public2 "$P_BC2")
# the second public site first, so that the private one finds both
start_epsd_public 2
start_proxyd 2
start_all
up epsd-private "link to public2 up" 15
up proxyd2 "private announced $NAME" 15
remember_children epsd-public2
remember_children proxyd2

check_name via-proxyd "$NAME"
via 2 check_name via-proxyd2 "$NAME"

# the first public site goes while a client of the second asks on
rm -f "$T/loop.stop"
via 2 request_loop "$NAME" "$T/loop.stop" >"$T/loop.res" &
track loop $!
sleep 1
privfrom=$(lines "$T/epsd-private.log")
stop_daemon proxyd
stop_daemon epsd-public
assert_log private-lost-public "$T/epsd-private.log" \
    "link to public down" 10 "$privfrom"
sleep 2
touch "$T/loop.stop"
wait "$(dpid loop)"
read -r ok bad <"$T/loop.res"
note "$ok requests through proxyd2 while the first site went, $bad failed"
check loop-no-failure "$bad of $((ok + bad)) requests failed: $(head -c 300 \
    "$T/loop.fail" 2>/dev/null)" [ "${bad:-1}" -eq 0 ]
check loop-ran "only ${ok:-0} requests" [ "${ok:-0}" -ge 10 ]
daemons_alive second-site-alive epsd-public2 proxyd2 epsd-private \
    privproxyd

# the first public site comes back and relearns the name
pubfrom=$(lines "$T/epsd-public.log")
pxfrom=$(lines "$T/proxyd.log")
log_interval "$T/epsd-public.log" "link to private up" "$pubfrom" \
    "$T/proxyd.log" "private announced $NAME" "$pxfrom" 40 >"$T/relearn" &
track relearn $!
start_epsd_public
start_proxyd
if wait "$(dpid relearn)"; then
	ms=$(cat "$T/relearn")
	note "relearned $NAME $ms ms after the link came up" \
	    "(the logs read every 20 ms)"
	check relearn "relearned after $ms ms" [ "$ms" -le 5000 ]
else
	fail relearn "no link up and announcement within 40 s"
fi
check_name via-proxyd-again "$NAME"
via 2 check_name via-proxyd2-again "$NAME"
