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

# sample FILE: "pid rss_kB fds" of every process of the four daemons.
sample()
{
	for sm_d in proxyd privproxyd epsd-public epsd-private; do
		sm_p=$(dpid "$sm_d")
		for sm_c in "$sm_p" $(children "$sm_p"); do
			if [ "$sm_c" = "$sm_p" ]; then
				sm_t=parent
			else
				sm_t=$(title "$sm_c" | sed 's/^[a-z]*: //')
			fi
			echo "$sm_d:$sm_t $sm_c $(awk \
			    '/^VmRSS:/ { print $2 }' "/proc/$sm_c/status") \
			    $(ls "/proc/$sm_c/fd" 2>/dev/null | wc -l)"
		done
	done >"$1"
}

# requests COUNT: COUNT demo requests, P in parallel, a new connection
# each; the number that succeeded in $T/ok.COUNT.
requests()
{
	rq_url="https://$NAME:$P_PUBLIC/jsonrpc"
	seq 1 $(($1 / BATCH)) | xargs -P "$P" -I{} sh -c '
		i=0; set --
		while [ $i -lt '"$BATCH"' ]; do
			set -- "$@" -H "Connection: close" "$0"
			i=$((i + 1))
		done
		curl -sS --max-time 60 --cacert "'"$C/root.crt"'" \
		    --resolve "'"$NAME:$P_PUBLIC"':127.0.0.1" "$@" 2>/dev/null |
		    grep -o "\"success\"" | wc -l' "$rq_url" |
	    awk '{ n += $1 } END { print n + 0 }' >"$T/ok.$1"
}

start_all
warm=$((N / 10))
t0=$(date +%s)
requests "$warm"
sample "$T/first"
requests $((N - warm))
sample "$T/last"
secs=$(($(date +%s) - t0))
ok=$(($(cat "$T/ok.$warm") + $(cat "$T/ok.$((N - warm))")))
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
