#!/bin/sh
# Reload end to end, under traffic.  While a long download (openssl
# s_server -WWW, read slowly by curl), a keep-alive connection and a
# loop of requests run, epsctl reloads each daemon with a change that
# must apply at once: proxyd allows a new name, privproxyd forwards a
# name to another server, the public epsd takes a new peer, whose epsd
# then links in.  Then a file with an error, which each refuses with its
# file:line while the old configuration stays in force, and a round a
# child refuses, which epsctl reports child by child.  Then privproxyd
# is reloaded again and again while four clients request without a
# pause, on the pool and then, with "pool 0", through notifications: a
# connection being set up when its configuration is replaced still
# completes.  Nothing that was established drops and no request fails:
# the download arrives whole, the keep-alive connection answers, and
# every request of the loop and of the four clients succeeds.
. "$(dirname "$0")/../lib.sh"
need sha256sum
need_python ssl

WWW=www.internal-server.local
NEW=new.internal-server.local
ports
port P_WWW1
port P_WWW2
start_is
PP_TTL=6
PROXYD_OPS="operator \"private\" {
	allow \"$NAME\"
	allow \"$WWW\"
}"
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"$WWW\" {
	forward to 127.0.0.1 port $P_WWW1
}
domain \"$NEW\" {
	forward to 127.0.0.1 port $P_IS
}"
start_all
plog=$T/proxyd.log
pplog=$T/privproxyd.log
up proxyd "refused announcement of $NEW by private: name not allowed" 15

# two web servers: the first has the big file, each says which it is
mkdir "$T/www1" "$T/www2"
head -c 67108864 /dev/urandom >"$T/www1/big.bin"
echo one >"$T/www1/id.txt"
echo two >"$T/www2/id.txt"
for n in 1 2; do
	eval "p=\$P_WWW$n"
	(cd "$T/www$n" && exec openssl s_server -quiet -WWW \
	    -accept "127.0.0.1:$p" -cert "$C/internal-server.crt" \
	    -key "$C/internal-server.key") >"$T/s_server$n.log" 2>&1 \
	    </dev/null &
	track "s_server$n" $!
	wait_listen "$p" || die setup "s_server $n does not listen"
done
check www-first "GET /id.txt did not reach the first server" \
    [ "$(curl -sS --max-time 15 --cacert "$C/root.crt" \
    --resolve "$WWW:$P_PUBLIC:127.0.0.1" "https://$WWW:$P_PUBLIC/id.txt")" \
    = one ]

# the traffic: a download of 64 MiB at 2 MiB/s, a keep-alive
# connection, a request every 50 ms
curl -sS --max-time 120 --limit-rate 2M --cacert "$C/root.crt" \
    --resolve "$WWW:$P_PUBLIC:127.0.0.1" -o "$T/dl.bin" \
    "https://$WWW:$P_PUBLIC/big.bin" 2>"$T/dl.err" &
DL=$!
track download "$DL"
long_connection
check long-first "no answer on the long connection: $(cat "$T/long.err")" \
    ask 1
(
	while [ ! -e "$T/loop.stop" ]; do
		if curl_demo >/dev/null 2>&1; then
			echo ok
		else
			echo fail
		fi
		sleep 0.05
	done >"$T/loop.out"
) &
track loop $!
wait_size "$T/dl.bin" 1048576 || die download "the download does not start"

# a newly allowed name: proxyd takes it at the next renewal
PROXYD_OPS="operator \"private\" {
	allow \"$NAME\"
	allow \"$WWW\"
	allow \"$NEW\"
}"
conf_proxyd
cp "$T/proxyd.conf" "$T/proxyd.conf.good"
from=$(lines "$plog")
check_ctl proxyd-reload proxyd -j reload
check_jq proxyd-applied '.ok and (.data | length) == 4 and
    (.data | all(.result == "applied" and .error == null))'
assert_log new-name-announced "$plog" "private announced $NEW" 10 "$from"
check_name new-name "$NEW"

# a changed forward address: new connections go to the second server
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"$WWW\" {
	forward to 127.0.0.1 port $P_WWW2
}
domain \"$NEW\" {
	forward to 127.0.0.1 port $P_IS
}"
conf_privproxyd
cp "$T/privproxyd.conf" "$T/privproxyd.conf.good"
check_ctl privproxyd-reload privproxyd reload
check privproxyd-applied "not applied by both: $(cat "$T/ctl.out")" \
    [ "$(grep -Ec '^(eps|connector) +0 +applied' "$T/ctl.out")" -eq 2 ]
check forward-changed "GET /id.txt did not reach the second server" \
    [ "$(curl -sS --max-time 15 --cacert "$C/root.crt" \
    --resolve "$WWW:$P_PUBLIC:127.0.0.1" "https://$WWW:$P_PUBLIC/id.txt")" \
    = two ]

# a new peer: the public epsd takes it, and its epsd links in
issue epsd-private2 private2
EPSPUB_PEERS='peer "private" {
	allow { "announce", "withdraw" }
}
peer "private2" {
	allow { "announce", "withdraw" }
}'
conf_epsd_public
check_ctl epsd-reload epsd-public -j reload
check_jq epsd-applied '.ok and (.data | all(.result == "applied"))'
start_epsd_private 2
check_ctl links epsd-public -j show links
check_jq links-both-up '(.data | map(select(.state == "up")) |
    map(.peer) | sort) == ["private", "private2"]'

# a file with an error: refused with its file:line, the old one stays
insert_line "$T/proxyd.conf.good" 6 "max tokens lots" >"$T/proxyd.conf"
at=$(where "$T/proxyd.conf" "lots")
ctl proxyd reload
check proxyd-bad-refused "exit $CTL_RC: $(cat "$T/ctl.err")" \
    grep -q "^epsctl: reload: $at: " "$T/ctl.err"
check_name proxyd-bad-old-in-force "$NEW"
insert_line "$T/privproxyd.conf.good" 4 "announce ttl" >"$T/privproxyd.conf"
at=$(where "$T/privproxyd.conf" "^announce ttl$")
ctl privproxyd -j reload
check_jq privproxyd-bad-refused ".ok == false and
    (.error | startswith(\"$at: \"))"
check privproxyd-bad-old-in-force "the forward address changed back" \
    [ "$(curl -sS --max-time 15 --cacert "$C/root.crt" \
    --resolve "$WWW:$P_PUBLIC:127.0.0.1" "https://$WWW:$P_PUBLIC/id.txt")" \
    = two ]
cp "$T/privproxyd.conf.good" "$T/privproxyd.conf"
insert_line "$T/epsd-public.conf" 3 'peer "broken" {' \
    >"$T/epsd-public.bad"
cp "$T/epsd-public.conf" "$T/epsd-public.conf.good"
cp "$T/epsd-public.bad" "$T/epsd-public.conf"
ctl epsd-public reload
check epsd-bad-refused "exit $CTL_RC: $(cat "$T/ctl.err")" \
    grep -Eq "^epsctl: reload: $T/epsd-public\.conf:[0-9]+: " "$T/ctl.err"
cp "$T/epsd-public.conf.good" "$T/epsd-public.conf"
check_ctl links-after-bad epsd-public -j show links
check_jq links-after-bad-up '.data | all(.state == "up")'

# a round one child refuses: the matcher holds more names than the new
# limit; epsctl names it and its reason, the listeners applied it
{ cat "$T/proxyd.conf.good"; echo "max announcements 1"; } \
    >"$T/proxyd.conf"
ctl proxyd -j reload
check_jq child-refused '.ok == false and
    .error == "1 of 4 children did not apply it" and
    (.data | map(select(.process == "matcher" and .result == "refused" and
    (.error | test("max announcements 1 is below")))) | length == 1) and
    (.data | map(select(.process == "listener" and .result == "applied")) |
    length == 2)'
ctl proxyd reload
check child-refused-people "no matcher row: $(cat "$T/ctl.out")" \
    grep -Eq '^matcher +0 +refused +max announcements 1 is below' \
    "$T/ctl.out"
check child-refused-error "$(cat "$T/ctl.err")" \
    grep -qx 'epsctl: reload: 1 of 4 children did not apply it' "$T/ctl.err"
check_name child-refused-still-served "$NEW"
cp "$T/proxyd.conf.good" "$T/proxyd.conf"
check_ctl proxyd-good-again proxyd -j reload
check_jq proxyd-good-again-applied '.data | all(.result == "applied")'

# the loop's requests, all through the reloads above
: >"$T/loop.stop"
i=0
while alive "$(dpid loop)" && [ "$i" -lt 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
ok=$(grep -c '^ok$' "$T/loop.out")
bad=$(grep -c '^fail$' "$T/loop.out")
note "request loop: $ok answered, $bad failed"
check loop-ran "only $ok requests answered" [ "$ok" -ge 10 ]
check loop-no-failure "$bad requests failed: $(grep 'failed:' "$pplog" |
    tail -n 1)" [ "$bad" -eq 0 ]

# reloads while connections are set up, 20 a path in 3 s: on the pool (8 in
# it), then through notifications (pool 0).  The switch from one to
# the other is made with no client about, since a smaller pool closes
# idle backchannels that proxyd may be handing a client at that moment
# (privproxyd(8), CAVEATS).
for path in pooled notified; do
	case $path in
	pooled)		PP_POOL=8 conf_privproxyd ;;
	notified)	PP_POOL=0 conf_privproxyd ;;
	esac
	check_ctl "$path-switch" privproxyd reload
	# the pool filled, or emptied: privproxyd's idle ones (10 s)
	case $path in
	pooled)		want=8 ;;
	notified)	want=0 ;;
	esac
	i=0
	while ctl privproxyd -j show pools &&
	    [ "$(jq '[.data[].idle] | add' "$T/ctl.out")" != "$want" ] &&
	    [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	check_jq "$path-pool" "[.data[].idle] | add == $want"
	ctl privproxyd show metrics
	hits=$(metric "$T/ctl.out" privproxyd_pool_hits_total)
	misses=$(metric "$T/ctl.out" privproxyd_pool_misses_total)
	start_rate "$path" 4
	sleep 0.3
	reloads privproxyd 20 0.1
	wait "$(dpid "rate-$path")"
	ctl privproxyd show metrics
	hits=$(($(metric "$T/ctl.out" privproxyd_pool_hits_total) - hits))
	misses=$(($(metric "$T/ctl.out" privproxyd_pool_misses_total) - misses))
	note "$path: $(cat "$T/rate.$path"); $RELOADS_OK reloads; $hits" \
	    "clients on the pool, $misses notified"
	check "$path-reloads" "$RELOADS_OK of 20 reloads applied" \
	    [ "$RELOADS_OK" -eq 20 ]
	ok=$(awk '{ print $2 }' "$T/rate.$path")
	bad=$(awk '{ print $4 }' "$T/rate.$path")
	check "$path-ran" "only ${ok:-no} requests answered" \
	    [ "${ok:-0}" -ge 20 ]
	check "$path-no-failure" "$(cat "$T/rate.$path"); $(grep 'failed:' \
	    "$pplog" | tail -n 1)" [ "${bad:-1}" -eq 0 ]
	case $path in
	pooled)		check "$path-path" "$misses of $((hits + misses)) \
clients notified" [ "$hits" -gt 0 ] ;;
	notified)	check "$path-path" "$hits clients on the pool" \
		    [ "$hits" -eq 0 ] ;;
	esac
done

# nothing established dropped
note "download: $(($(wc -c <"$T/dl.bin") / 1048576)) of 64 MiB after the reloads"
check download-spans-reloads "the download was over before the reloads" \
    alive "$DL"
check long-survives "the long connection broke: $(cat "$T/long.err")" ask 2
i=0
while alive "$DL" && [ "$i" -lt 900 ]; do
	sleep 0.1
	i=$((i + 1))
done
wait "$DL"
dl_rc=$?
check download-status "curl exited $dl_rc: $(cat "$T/dl.err")" \
    [ "$dl_rc" -eq 0 ]
check download-whole "the download differs" cmp -s "$T/www1/big.bin" \
    "$T/dl.bin"
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
