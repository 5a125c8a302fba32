#!/bin/sh
# Supervision under load.  While a request loop runs, every child of
# every daemon (proxyd's two listeners, matcher and eps; privproxyd's
# two connectors and eps; each epsd's session and router) is killed
# with SIGKILL in turn.  Each time: the parent logs it and restarts it;
# new connections are served again within BACK_MAX (1) s, the time it
# took printed; a download held by other processes, running across the
# kill, finishes intact, checksum for checksum.  A child killed again
# at once is restarted after a longer delay (back-off).
. "$(dirname "$0")/../lib.sh"
need ss sha256sum

BACK_MAX=${BACK_MAX:-1}
WWW=www.internal-server.local
PROXYD_PREFORK=2
PP_PREFORK=2
PP_POOL=4
PP_TTL=6
ports
port P_WWW
start_is
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"$WWW\" {
	forward to 127.0.0.1 port $P_WWW
}"
start_all

mkdir "$T/www"
head -c 5242880 /dev/urandom >"$T/www/big.bin"
(cd "$T/www" && exec openssl s_server -quiet -WWW \
    -accept "127.0.0.1:$P_WWW" -cert "$C/internal-server.crt" \
    -key "$C/internal-server.key") >"$T/s_server.log" 2>&1 </dev/null &
track s_server $!
wait_listen "$P_WWW" || die setup "s_server does not listen"
want=$(sha256sum <"$T/www/big.bin" | cut -d' ' -f1)

# now_ms: the time in milliseconds.
now_ms()
{
	date +%s%3N
}

# loop_requests: the demo request in a loop until $T/loop.stop exists;
# one line per request in $T/loop.ok or $T/loop.fail.
loop_requests()
{
	while [ ! -e "$T/loop.stop" ]; do
		if curl -sS --max-time 5 --cacert "$C/root.crt" \
		    --resolve "$NAME:$P_PUBLIC:127.0.0.1" \
		    "https://$NAME:$P_PUBLIC/jsonrpc" 2>/dev/null |
		    grep -q '"success"'; then
			echo . >>"$T/loop.ok"
		else
			echo . >>"$T/loop.fail"
		fi
	done
}

# start_download N: a rate-limited download of big.bin through both
# proxies into $T/dl.N, in the background; its pid in $DL_PID.
start_download()
{
	curl -sS --max-time 60 --limit-rate 2M --cacert "$C/root.crt" \
	    --resolve "$WWW:$P_PUBLIC:127.0.0.1" -o "$T/dl.$1" \
	    "https://$WWW:$P_PUBLIC/big.bin" 2>"$T/dl.$1.err" &
	DL_PID=$!
	track "download-$1" "$DL_PID"
}

# holders PID: the pids of the daemon children that hold the download
# made by curl PID: the listener with its client connection, the
# connector with its connection to s_server.
holders()
{
	hd_lp=$(ss -Htnp state established "( dport = :$P_PUBLIC )" |
	    grep "pid=$1," | awk '{ print $3 }' | sed 's/.*://')
	[ -n "$hd_lp" ] || return 1
	ss -Htnp state established "( sport = :$P_PUBLIC and dport = :$hd_lp )" |
	    sed -n 's/.*pid=\([0-9]*\),.*/\1/p'
	ss -Htnp state established "( dport = :$P_WWW )" |
	    sed -n 's/.*pid=\([0-9]*\),.*/\1/p'
}

# download_beside VICTIM N: start download N held by processes other
# than VICTIM (a few tries); its pid in $DL_PID, or false.
download_beside()
{
	db_try=0
	while [ "$db_try" -lt 6 ]; do
		db_try=$((db_try + 1))
		start_download "$2.$db_try"
		db_i=0
		db_h=
		while [ "$db_i" -lt 50 ]; do
			db_h=$(holders "$DL_PID" | sort -u | tr '\n' ' ')
			# both ends found: one pid on each side
			[ "$(echo "$db_h" | wc -w)" -ge 2 ] && break
			sleep 0.1
			db_i=$((db_i + 1))
		done
		if [ -n "$db_h" ] && ! echo " $db_h" | grep -q " $1 "; then
			DL_FILE=$T/dl.$2.$db_try
			return 0
		fi
		stop_pid "$DL_PID"
	done
	return 1
}

# kill_child NAME PID TITLE INSTANCE: SIGKILL one child of daemon NAME
# during a download held by others; the checks described above.
kill_child()
{
	kc_log=$T/$1.log
	kc_id="$1-$3-$4"
	kc_from=$(lines "$kc_log")
	kc_dl=1
	if ! download_beside "$2" "$kc_id"; then
		note "$kc_id: every download went through pid $2"
		kc_dl=0
	fi
	kc_t0=$(now_ms)
	kill -KILL "$2"
	# demo_ok's curl may be refused while the child is away: poll
	until demo_ok; do
		[ $(($(now_ms) - kc_t0)) -lt $((BACK_MAX * 1000 + 5000)) ] ||
		    break
		sleep 0.05
	done
	kc_ms=$(($(now_ms) - kc_t0))
	note "$kc_id: served again $kc_ms ms after kill -9"
	echo "$kc_id $kc_ms" >>"$T/times"
	check "$kc_id-served" "not served again within $BACK_MAX s ($kc_ms \
ms)" [ "$kc_ms" -le $((BACK_MAX * 1000)) ]
	assert_log "$kc_id-killed" "$kc_log" \
	    "$3 $4 \(pid $2\) killed by signal 9" 5 "$kc_from"
	assert_log "$kc_id-restarted" "$kc_log" "restarting $3 $4" 10 \
	    "$kc_from"
	if [ "$kc_dl" = 1 ]; then
		wait "$DL_PID"
		kc_rc=$?
		kc_got=$(sha256sum <"$DL_FILE" | cut -d' ' -f1)
		check "$kc_id-download-intact" "curl exit $kc_rc, \
$(wc -c <"$DL_FILE") bytes: $(cat "$DL_FILE.err")" [ "$kc_got" = "$want" ]
	fi
}

# kill_all NAME: kill_child each child of daemon NAME, one after the
# other, as found at the start.
kill_all()
{
	ka_d=${1%%-*}
	for ka_c in $(children "$(dpid "$1")"); do
		ka_t=$(title "$ka_c")
		ka_t=${ka_t#"$ka_d: "}
		ka_inst=$(awk -v p="$ka_c" '$2 == p { print $1 }' \
		    "$T/inst.$1.$ka_t")
		kill_child "$1" "$ka_c" "$ka_t" "${ka_inst:-0}"
	done
}

# instances NAME: for each title of daemon NAME's children, the
# instance number of each pid, by pid order (the parent starts them
# in order).
instances()
{
	in_d=${1%%-*}
	for in_c in $(children "$(dpid "$1")"); do
		in_t=$(title "$in_c")
		in_t=${in_t#"$in_d: "}
		echo "$in_c" >>"$T/inst.$1.$in_t.pids"
	done
	for in_f in "$T/inst.$1."*.pids; do
		sort -n "$in_f" | awk '{ print NR - 1, $1 }' >"${in_f%.pids}"
	done
}

: >"$T/loop.ok"
: >"$T/loop.fail"
loop_requests &
track loop $!

for d in proxyd privproxyd epsd-public epsd-private; do
	instances "$d"
done
for d in proxyd privproxyd epsd-public epsd-private; do
	kill_all "$d"
done

# back-off: the matcher killed twice in a row is restarted later the
# second time
first=$(child_pid proxyd "proxyd: matcher")
from=$(lines "$T/proxyd.log")
t0=$(now_ms)
kill -KILL "$first"
i=0
while ! second=$(child_pid proxyd "proxyd: matcher") ||
    [ "$second" = "$first" ]; do
	i=$((i + 1))
	[ "$i" -lt 200 ] || break
	sleep 0.01
done
d1=$(($(now_ms) - t0))
t0=$(now_ms)
kill -KILL "$second"
i=0
while ! third=$(child_pid proxyd "proxyd: matcher") ||
    [ "$third" = "$second" ]; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || break
	sleep 0.01
done
d2=$(($(now_ms) - t0))
note "matcher restarted $d1 ms after the first kill, $d2 ms after the second"
check backoff-doubles "second restart after $d2 ms, first after $d1 ms" \
    [ "$d2" -ge 190 ]
eventually_demo after-backoff 10

touch "$T/loop.stop"
wait "$(dpid loop)"
nok=$(wc -l <"$T/loop.ok")
nfail=$(wc -l <"$T/loop.fail")
note "request loop: $nok served, $nfail failed (during the kills)"
check loop-served "the request loop was never served" [ "$nok" -gt 0 ]
note "served again after kill -9 (ms): $(sort -k2 -n "$T/times" |
    awk '{ printf "%s%s", s, $2; s = " " }')"
bad=
for d in proxyd privproxyd epsd-public epsd-private; do
	n=$(children "$(dpid "$d")" | grep -c .)
	[ "$n" -eq "$(cat "$T/nchildren.$d")" ] || bad="$bad $d($n children)"
done
check all-children-back "$bad" [ -z "$bad" ]
