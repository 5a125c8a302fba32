#!/bin/sh
# soak.sh: "make soak", not in the default suite (regress/run.sh does
# not run it): SOAK_REQUESTS (200000) demo requests, SOAK_PARALLEL (25)
# at a time, each on a connection of its own, through the five demo
# processes.  Checks: 0 failures; each daemon process's RSS and
# descriptor count after the run are within 5% of what they were after
# the warm-up (the first tenth of the requests).  Short mode for
# trying it: SOAK_REQUESTS=5000 make soak.
REGRESS=$(cd "$(dirname "$0")" && pwd)
. "$REGRESS/lib.sh"
need xargs

N=${SOAK_REQUESTS:-200000}
P=${SOAK_PARALLEL:-25}
BATCH=100			# requests per curl run

start_all
warm=$((N / 10))
t0=$(date +%s)
ok1=$(parallel_requests "$warm" "$P" "$BATCH")
proc_sample "$T/first" proxyd privproxyd epsd-public epsd-private
ok2=$(parallel_requests $((N - warm)) "$P" "$BATCH")
proc_sample "$T/last" proxyd privproxyd epsd-public epsd-private
secs=$(($(date +%s) - t0))
ok=$((ok1 + ok2))
want=$(((warm / BATCH + (N - warm) / BATCH) * BATCH))
note "$ok of $want requests served in $secs s, $P in parallel"
check soak-0-failures "$((want - ok)) failed" [ "$ok" -eq "$want" ]
# per process: RSS and descriptors after warm-up and at the end
bad=
while read -r name pid rss fd; do
	set -- $(awk -v p="$pid" '$2 == p { print $3, $4 }' "$T/last")
	[ $# -eq 2 ] || { bad="$bad $name($pid gone)"; continue; }
	note "$name pid $pid: RSS $rss -> $1 kB, fds $fd -> $2"
	[ $(($1 * 100)) -le $((rss * 105)) ] ||
	    bad="$bad $name(RSS $rss -> $1 kB)"
	[ $(($2 * 100)) -le $((fd * 105)) ] ||
	    bad="$bad $name(fds $fd -> $2)"
done <"$T/first"
check soak-flat "grew by more than 5%:$bad" [ -z "$bad" ]
daemons_alive soak-alive proxyd privproxyd epsd-public epsd-private
