#!/bin/sh
#
# bench.sh: what "make bench" runs.  Starts the five demo processes on
# loopback the way the tests do (regress/lib.sh) and measures, side by
# side in one run, a client talking to the internal server directly and
# through proxyd and privproxyd:
#
#	keep-alive	wrk, 25 connections, requests over open connections
#	new conns	wrk with "Connection: close": every request is a new
#			TCP and TLS connection, so through the proxies every
#			one is a ClientHello, a route, a token, an incoming
#			call over the EPS network and a backchannel
#	curl serial	one fresh curl process per request, one at a time:
#			the set-up latency a single client sees
#
# then the memory of each daemon (all its processes) before and after.
# wrk takes the host name for SNI from its URL, so the wrk rows run in a
# private mount namespace whose /etc/hosts names the demo host; that
# needs root (or they are left out).  Numbers are for reading, never
# asserted: these machines are shared and noisy.
#
# usage: [B=build] [SECONDS=10] sh regress/bench.sh

set -u
REGRESS=$(cd "$(dirname "$0")" && pwd)
. "$REGRESS/lib.sh"

SECS=${SECONDS_PER_RUN:-10}
SERIAL=${SERIAL:-200}

need wrk curl awk sort

start_all
pass setup

# rss DAEMON: kilobytes resident in the daemon and all its children.
rss()
{
	rs_p=$(dpid "$1")
	ps -o rss= -p "$rs_p" --ppid "$rs_p" 2>/dev/null |
	    awk '{ s += $1 } END { print s + 0 }'
}

mem()
{
	for me_d in proxyd privproxyd epsd-public epsd-private; do
		printf ' %s=%sk' "$me_d" "$(rss "$me_d")"
	done
}

# wrk_run PORT [ARGS]: "req/s p50 p99" of a wrk run against the host.
wrk_run()
{
	wr_port=$1
	shift
	echo "127.0.0.1 $NAME" >"$T/hosts"
	unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
	    sh "$T/hosts" wrk -t2 -c25 -d"${SECS}s" --latency "$@" \
	    "https://$NAME:$wr_port/jsonrpc" >"$T/wrk.out" 2>&1 || {
		echo "- - -"
		return
	}
	awk '
	/Requests\/sec:/	{ rps = $2 }
	/^ +50%/		{ p50 = $2 }
	/^ +99%/		{ p99 = $2 }
	/Non-2xx|Socket errors/	{ err = 1 }
	END { printf "%s %s %s%s\n", rps, p50, p99, err ? " (errors)" : "" }
	' "$T/wrk.out"
}

# serial PORT: "median p99" seconds of SERIAL fresh curls, one at a time.
serial()
{
	se_port=$1
	se_i=0
	: >"$T/times"
	while [ "$se_i" -lt "$SERIAL" ]; do
		curl -s -o /dev/null -w '%{time_total}\n' --cacert "$C/root.crt" \
		    --resolve "$NAME:$se_port:127.0.0.1" \
		    "https://$NAME:$se_port/jsonrpc" >>"$T/times" 2>/dev/null
		se_i=$((se_i + 1))
	done
	sort -n "$T/times" | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) { print "- -"; exit }
		printf "%.1fms %.1fms\n", v[int((NR + 1) / 2)] * 1000,
		    v[int(NR * 0.99 + 0.5)] * 1000
	}'
}

row()
{
	printf '%-12s %-9s %12s %10s %10s\n' "$@"
}

before=$(mem)
echo
row test path req/s p50 p99
row ------------ --------- ------------ ---------- ----------
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1; then
	for bn_kind in keep-alive new-conns; do
		if [ "$bn_kind" = new-conns ]; then
			set -- -H "Connection: close"
		else
			set --
		fi
		# shellcheck disable=SC2086
		row "$bn_kind" direct $(wrk_run "$P_IS" "$@")
		# shellcheck disable=SC2086
		row "$bn_kind" proxied $(wrk_run "$P_PUBLIC" "$@")
	done
else
	note "wrk rows left out: they need root for a private /etc/hosts"
fi
# shellcheck disable=SC2086
row curl-serial direct - $(serial "$P_IS")
# shellcheck disable=SC2086
row curl-serial proxied - $(serial "$P_PUBLIC")
echo
echo "memory (RSS of all processes) before:$before"
echo "memory (RSS of all processes) after: $(mem)"
echo
daemons_alive daemons-alive proxyd privproxyd epsd-public epsd-private
