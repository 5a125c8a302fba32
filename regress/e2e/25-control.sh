#!/bin/sh
# The control socket, epsctl and the metrics of the three daemons.
#
# Every command of epsctl against the real daemons, for people and with
# -j (read back with jq); the counters from "show metrics" and from the
# /metrics listener, checked by regress/promcheck.sh and against what
# the clients did (the bytes of a connection agree between proxyd and
# privproxyd, ClientHello included); a reload with an error in the file,
# which names its file:line and changes nothing; "log verbose" and
# "log brief"; the errors epsctl gives for a daemon that is not running
# and for a socket its user may not use (run as nobody with setpriv),
# with and without a control group; -V; the time at the start of each
# line on stderr, and none on the journal; a client that resets its
# connection at the end is no relay error.
. "$(dirname "$0")/../lib.sh"
need_root
need setpriv stat

ports
port P_MPROXY
port P_MPRIV
port P_MEPS
CGROUP=$(id -gn nobody)
PROXYD_EXTRA="metrics listen on 127.0.0.1 port $P_MPROXY"
PP_EXTRA="metrics listen on 127.0.0.1 port $P_MPRIV
control group \"$CGROUP\""
EPSPUB_EXTRA="metrics listen on 127.0.0.1 port $P_MEPS"
start_all
plog=$T/proxyd.log
pplog=$T/privproxyd.log

# -V, one version for all
v=$("$BIN/epsctl" -V)
check version-epsctl "epsctl -V says \"$v\"" \
    [ "$(echo "$v" | grep -Ec '^epsctl [0-9]+\.[0-9]+')" -eq 1 ]
for d in proxyd privproxyd epsd; do
	check "version-$d" "$d -V says \"$("$BIN/$d" -V 2>&1)\"" \
	    [ "$("$BIN/$d" -V 2>&1)" = "$d ${v#epsctl }" ]
done

# the sockets: root's alone, or the group's too
check mode-0600 "proxyd.ctl is $(stat -c '%a %U' "$T/proxyd.ctl")" \
    [ "$(stat -c '%a %U' "$T/proxyd.ctl")" = "600 root" ]
check mode-0660 "privproxyd.ctl is $(stat -c '%a %G' "$T/privproxyd.ctl")" \
    [ "$(stat -c '%a %G' "$T/privproxyd.ctl")" = "660 $CGROUP" ]

# -d: each line on stderr starts with the time
check timestamps "no time at the start of: $(head -n 1 "$plog")" \
    grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} startup' \
    "$plog"

# a request, and one with a name nobody announced
check_demo request
s_client nobody.internal-server.local
check_alert112 unknown-name-alert

# show summary
check_ctl summary proxyd show summary
check summary-people "no processes in: $(head -c 300 "$T/ctl.out")" \
    grep -Eq '^  listener +1 +[0-9]+ +running' "$T/ctl.out"
check_ctl summary-json proxyd -j show summary
check_jq summary-fields '.ok and .data.daemon == "proxyd" and
    (.data.processes | length) == 4 and .data.announcements == 1 and
    .data.epsd_connected == 1 and .data.connections_accepted_total >= 2'
check_ctl summary-privproxyd privproxyd -j show summary
check_jq summary-privproxyd-fields '.data.daemon == "privproxyd" and
    (.data.processes | map(.process) | sort) == ["connector", "eps"] and
    .data.announced == 1'
check_ctl summary-epsd epsd-public -j show summary
check_jq summary-epsd-fields '.data.daemon == "epsd" and .data.links_up == 1
    and .data.peers == 1 and .data.local_clients == 1'

# announcements and routes (proxyd), links (epsd), pools
check_ctl announcements proxyd show announcements
check announcements-name "$NAME not in: $(cat "$T/ctl.out")" \
    grep -Eq "^$NAME +private +[0-9]" "$T/ctl.out"
check_ctl announcements-json proxyd -j show announcements
check_jq announcements-ttl ".data | map(select(.name == \"$NAME\" and
    .operator == \"private\" and .ttl > 0)) | length == 1"
check_ctl routes proxyd -j show routes
check_jq routes-route ".data == [{\"name\": \"$NAME\", \"operator\": \"private\"}]"
check_ctl links epsd-public -j show links
check_jq links-up '.data | map(select(.peer == "private" and .state == "up"
    and .direction == "inbound")) | length == 1'
check_ctl links-private epsd-private -j show links
check_jq links-private-up '.data[0].peer == "public" and
    .data[0].state == "up" and .data[0].direction == "outbound" and
    .data[0].bytes_in > 0'
check_ctl pools-proxyd proxyd -j show pools
check_jq pools-proxyd-rows '(.data | length) == 2 and (.data | all(.operator ==
    "private" and .key and .idle > 0)) and
    (.data | map(.listener) | sort) == [0, 1]'
check_ctl pools-privproxyd privproxyd -j show pools
check_jq pools-privproxyd-rows '.data | length == 1 and .[0].public ==
    "public" and .[0].idle > 0 and .[0].key'
check_ctl pools-people proxyd show pools
check pools-header "no header: $(head -n 1 "$T/ctl.out")" \
    grep -Eq '^operator +listener +idle +max +routes +key$' "$T/ctl.out"

# connections: a long one is listed, bytes each way, in both proxies
long_connection
check long-first "no answer on the long connection: $(cat "$T/long.err")" \
    ask 1
check_ctl connections proxyd -j show connections
check_jq connections-row '.data | map(select(.state == "relay" and
    .name == "test.internal-server.local" and .bytes_in > 0 and
    .bytes_out > 0 and (.client | test("^127\\.0\\.0\\.1:")))) | length == 1'
cp "$T/ctl.out" "$T/conn-proxyd.json"
check_ctl connections-privproxyd privproxyd -j show connections
check_jq connections-privproxyd-row '.data | map(select(.state == "relay"
    and .public == "public")) | length == 1'
check connections-agree "proxyd and privproxyd count other bytes: \
$(cat "$T/conn-proxyd.json") $(cat "$T/ctl.out")" \
    [ "$(jq '.data[] | select(.state == "relay") | [.bytes_in, .bytes_out]' \
    "$T/conn-proxyd.json" | tr -d ' \n')" = "$(jq '.data[] |
    [.bytes_in, .bytes_out]' "$T/ctl.out" | tr -d ' \n')" ]
check_ctl connections-people proxyd sh conn
check connections-header "no header: $(head -n 1 "$T/ctl.out")" \
    grep -Eq '^client +name +state +age +bytes_in +bytes_out$' "$T/ctl.out"
check_ctl connections-epsd epsd-public -j show connections
check_jq connections-epsd-row '.data | map(select(.name == "private" and
    .state == "up")) | length == 1'
exec 3>&-
stop_daemon s_client

# counters, for people and as JSON
check_ctl counters proxyd show counters
check counters-people "no accepted counter: $(head -c 300 "$T/ctl.out")" \
    grep -Eq '^proxyd_connections_accepted_total +[0-9]+$' "$T/ctl.out"
check_ctl counters-json proxyd -j show counters
check_jq counters-refused '.data | map(select(.name ==
    "proxyd_connections_refused_total" and
    .labels == "reason=\"unknown_name\"" and .value >= 1)) | length == 1'

# the metrics: through epsctl and the HTTP listener, each daemon
for d in proxyd privproxyd epsd-public; do
	ctl "$d" show metrics
	cp "$T/ctl.out" "$T/$d.prom"
	check_prom "metrics-$d" "$T/$d.prom"
done
i=0
while [ "$i" -lt 50 ]; do
	ctl proxyd -j show connections
	ctl_p=$(jq '.data | length' "$T/ctl.out")
	ctl privproxyd -j show connections
	[ "$ctl_p" = 0 ] && [ "$(jq '.data | length' "$T/ctl.out")" = 0 ] &&
	    break
	sleep 0.1
	i=$((i + 1))
done
for p in "$P_MPROXY proxyd" "$P_MPRIV privproxyd" "$P_MEPS epsd"; do
	set -- $p
	if scrape "$1"; then
		pass "scrape-$2"
	else
		fail "scrape-$2" "GET /metrics on port $1: $(cat "$T/scrape.err")"
	fi
	check "scrape-$2-type" "$(grep -i content-type "$T/scrape.hdr")" \
	    grep -Eqi '^content-type: text/plain; version=0\.0\.4' \
	    "$T/scrape.hdr"
	check_prom "scrape-$2-format" "$T/scrape.out"
	cp "$T/scrape.out" "$T/scrape-$2.prom"
done
m=$T/scrape-proxyd.prom
pm=$T/scrape-privproxyd.prom
em=$T/scrape-epsd.prom
check metrics-accepted "accepted: $(metric "$m" proxyd_connections_accepted_total)" \
    [ "$(metric "$m" proxyd_connections_accepted_total)" -ge 3 ]
check metrics-refused-reason "refused unknown_name: $(metric "$m" \
    'proxyd_connections_refused_total{reason="unknown_name"}')" \
    [ "$(metric "$m" 'proxyd_connections_refused_total{reason="unknown_name"}')" \
    -ge 1 ]
check metrics-announcements "$(grep '^proxyd_announcements' "$m")" \
    [ "$(metric "$m" 'proxyd_announcements{operator="private"}')" = 1 ]
check metrics-pool-size "pool size $(metric "$m" proxyd_pool_size)" \
    [ "$(metric "$m" proxyd_pool_size)" -gt 0 ]
check metrics-pool-hits "pool hits $(metric "$m" proxyd_pool_hits_total)" \
    [ "$(metric "$m" proxyd_pool_hits_total)" -ge 2 ]
check metrics-pool-hits-privproxyd "pool hits $(metric "$pm" \
    privproxyd_pool_hits_total)" \
    [ "$(metric "$pm" privproxyd_pool_hits_total)" = \
    "$(metric "$m" proxyd_pool_hits_total)" ]
check metrics-link-up "$(grep '^epsd_link_up' "$em")" \
    [ "$(metric "$em" 'epsd_link_up{peer="private"}')" = 1 ]
for dir in in out; do
	a=$(metric "$m" "proxyd_bytes_total{direction=\"$dir\"}")
	b=$(metric "$pm" "privproxyd_bytes_total{direction=\"$dir\"}")
	check "bytes-$dir-counted" "proxyd counted ${a:-none}" \
	    [ "${a:-0}" -gt 0 ]
	check "bytes-$dir-agree" "proxyd $a, privproxyd $b" [ "$a" = "$b" ]
done
check metrics-not-found "GET /other is not a 404" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$P_MPROXY/other")" = 404 ]

# nothing per connection at the default level, one line per refusal
from=$(lines "$plog")
ppfrom=$(lines "$pplog")
check_demo quiet-request
s_client other.unknown.example
refute_log quiet-proxyd "$plog" "listener: client $CLIENT" "$from"
refute_log quiet-privproxyd "$pplog" "$CLIENT" "$ppfrom"
check one-line-per-refusal "$(count_log "$plog" "refused client") refusals" \
    [ "$(tail -n "+$((from + 1))" "$plog" | grep -c 'refused client')" -eq 1 ]
assert_log refusal-reason "$plog" \
    "refused client $CLIENT: no announcement for other\.unknown\.example" \
    0 "$from"

# log verbose: debug lines appear, in the children too; brief: gone
check_ctl log-verbose proxyd log verbose
check log-verbose-says "epsctl said: $(cat "$T/ctl.out")" \
    grep -qx 'log: ok' "$T/ctl.out"
from=$(lines "$plog")
check_demo verbose-request
assert_log verbose-debug "$plog" "listener: client $CLIENT: done" 5 "$from"
check_ctl log-verbose-privproxyd privproxyd log verbose
check_ctl log-brief proxyd log brief
from=$(lines "$plog")
check_demo brief-request
sleep 0.5
refute_log brief-no-debug "$plog" "listener: client $CLIENT" "$from"
check_ctl log-json epsd-public -j log verbose
check_jq log-json-ok '.ok == true and .data == null'
check_ctl log-brief-epsd epsd-public log brief
ctl proxyd log loud
check log-usage "epsctl log loud: exit $CTL_RC: $(cat "$T/ctl.err")" \
    grep -q 'usage: log verbose | brief' "$T/ctl.err"

# a client that resets its connection after its answer: a normal end
if command -v python3 >/dev/null 2>&1; then
	from=$(lines "$pplog")
	pfrom=$(lines "$plog")
	check_ctl reset-verbose privproxyd log verbose
	check_ctl reset-verbose-proxyd proxyd log verbose
	python3 - "$P_PUBLIC" "$NAME" "$C/root.crt" >"$T/reset.out" 2>&1 <<'EOT'
import socket, ssl, struct, sys
port, name, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
    timeout=10), server_hostname=name)
s.sendall(b"GET /jsonrpc HTTP/1.1\r\nHost: " + name.encode() +
    b"\r\n\r\n")
got = b""
while b"success" not in got:
    b = s.recv(4096)
    if not b:
        break
    got += b
print("answered" if b"success" in got else "no answer")
# no close_notify, no FIN: a reset
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOT
	check reset-answered "$(cat "$T/reset.out")" grep -qx answered \
	    "$T/reset.out"
	assert_log reset-done-proxyd "$plog" "listener: client $CLIENT: done" 5 \
	    "$pfrom"
	refute_log reset-no-error-proxyd "$plog" "relay error" "$pfrom"
	assert_log reset-done-privproxyd "$pplog" \
	    "connector: relay done: both sides closed" 5 "$from"
	refute_log reset-no-error-privproxyd "$pplog" "reset by peer" "$from"
	ctl privproxyd log brief
	ctl proxyd log brief
else
	skip reset "python3 not installed"
fi

# the notification path: privproxyd without a pool; tokens, and the
# round trip from a token to the backchannel that presents it
stop_daemon privproxyd
PP_POOL=0
start_privproxyd
up proxyd "private announced $NAME" 15
check_demo notified-request
# with two listeners, about half the backchannels reach the one that
# does not hold the client's token, which passes them on: 20 more
# requests leave a chance of 2^-20 that none was passed
nf_bad=0
for nf_i in $(seq 20); do
	demo_ok || nf_bad=$((nf_bad + 1))
done
check notified-twenty "$nf_bad of 20 failed" [ "$nf_bad" -eq 0 ]
check_ctl counters-tokens proxyd show metrics
cp "$T/ctl.out" "$T/tokens.prom"
m=$T/tokens.prom
check metrics-tokens-issued "issued $(metric "$m" \
    proxyd_tokens_issued_total)" \
    [ "$(metric "$m" proxyd_tokens_issued_total)" -ge 1 ]
check metrics-tokens-used "used $(metric "$m" proxyd_tokens_used_total)" \
    [ "$(metric "$m" proxyd_tokens_used_total)" -ge 21 ]
check metrics-backchannels-passed "passed $(metric "$m" \
    proxyd_backchannels_passed_total)" \
    [ "$(metric "$m" proxyd_backchannels_passed_total)" -ge 1 ]
check metrics-tokens-all-used "issued $(metric "$m" \
    proxyd_tokens_issued_total), used $(metric "$m" \
    proxyd_tokens_used_total)" [ "$(metric "$m" \
    proxyd_tokens_issued_total)" = "$(metric "$m" proxyd_tokens_used_total)" ]
check metrics-tokens-expired "no expired tokens counter" \
    [ -n "$(metric "$m" proxyd_tokens_expired_total)" ]
check metrics-histogram "+Inf bucket $(metric "$m" \
    'proxyd_notification_seconds_bucket{le="+Inf"}'), used $(metric "$m" \
    proxyd_tokens_used_total)" \
    [ "$(metric "$m" 'proxyd_notification_seconds_bucket{le="+Inf"}')" \
    = "$(metric "$m" proxyd_tokens_used_total)" ]
check metrics-histogram-count "no _count" \
    [ "$(metric "$m" proxyd_notification_seconds_count)" = \
    "$(metric "$m" proxyd_tokens_used_total)" ]
check_ctl pools-none privproxyd -j show pools
check_jq pools-none-empty '.ok and (.data | all(.idle == 0))'

# reload: every child applied it; then a file with an error
check_ctl reload proxyd reload
check reload-people "not a table of applied: $(cat "$T/ctl.out")" \
    [ "$(grep -Ec '^(listener|matcher|eps) +[0-9]+ +applied' \
    "$T/ctl.out")" -eq 4 ]
check_ctl reload-json privproxyd -j reload
check_jq reload-json-applied '.ok and (.data | length) == 2 and
    (.data | all(.result == "applied"))'
check_ctl reload-epsd epsd-public -j reload
check_jq reload-epsd-applied '.data | all(.result == "applied")'
cp "$T/proxyd.conf" "$T/proxyd.conf.good"
insert_line "$T/proxyd.conf.good" 5 "timeout handshake banana" \
    >"$T/proxyd.conf"
at=$(where "$T/proxyd.conf" banana)
from=$(lines "$plog")
ctl proxyd reload
check reload-error-exit "epsctl reload of a bad file exited $CTL_RC" \
    [ "$CTL_RC" -eq 1 ]
check reload-error-where "no $at in: $(cat "$T/ctl.err")" \
    grep -q "^epsctl: reload: $at: " "$T/ctl.err"
ctl proxyd -j reload
check_jq reload-error-json ".ok == false and (.error | startswith(\"$at: \"))"
assert_log reload-error-logged "$plog" "configuration not reloaded" 5 "$from"
check_demo served-after-bad-reload
check_ctl summary-after-bad proxyd -j show summary
check_jq summary-last-reload '.data.last_reload | startswith("not applied: ")'
cp "$T/proxyd.conf.good" "$T/proxyd.conf"

# what epsctl says when it cannot talk to a daemon
ctl none show summary
check not-running "exit $CTL_RC: $(cat "$T/ctl.err")" \
    grep -q "is not running (no socket $T/none.ctl)" "$T/ctl.err"
if setpriv --reuid=nobody --regid="$CGROUP" --clear-groups \
    test -x "$BIN/epsctl"; then
	setpriv --reuid=nobody --regid="$CGROUP" --clear-groups \
	    "$BIN/epsctl" -s "$T/proxyd.ctl" show summary >"$T/ctl.out" \
	    2>"$T/ctl.err"
	check denied "nobody: exit $?: $(cat "$T/ctl.err")" \
	    grep -q "^epsctl: $T/proxyd.ctl: permission denied: run as root$" \
	    "$T/ctl.err"
	setpriv --reuid=nobody --regid="$CGROUP" --clear-groups \
	    "$BIN/epsctl" -s "$T/privproxyd.ctl" -j show summary \
	    >"$T/ctl.out" 2>"$T/ctl.err"
	check_jq group-member '.ok and .data.daemon == "privproxyd"'
	if other=$(getent group daemon | cut -d: -f3) && [ -n "$other" ]; then
		setpriv --reuid=nobody --regid="$other" --clear-groups \
		    "$BIN/epsctl" -s "$T/privproxyd.ctl" show summary \
		    >"$T/ctl.out" 2>"$T/ctl.err"
		check denied-group "$(cat "$T/ctl.err")" grep -q \
		    "permission denied: run as root or as a member of group $CGROUP$" \
		    "$T/ctl.err"
	else
		skip denied-group "no group daemon"
	fi
else
	skip denied "nobody cannot run $BIN/epsctl"
fi

# on the journal (JOURNAL_STREAM names stderr), no time on the lines
port P2_EPS
sed -e "s|$T/epsd-public|$T/epsd-journal|g" \
    -e "s|port $P_EPS|port $P2_EPS|" -e "/^metrics listen/d" \
    "$T/epsd-public.conf" >"$T/epsd-journal.conf"
: >"$T/epsd-journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/epsd-journal.log")
export JOURNAL_STREAM
spawn epsd-journal epsd "$T/epsd-journal.conf"
unset JOURNAL_STREAM
up epsd-journal startup 10
check journal-no-timestamps "$(head -n 1 "$T/epsd-journal.log")" \
    grep -q '^startup' "$T/epsd-journal.log"
stop_daemon epsd-journal
check journal-socket-removed "$T/epsd-journal.ctl is still there" \
    [ ! -e "$T/epsd-journal.ctl" ]

daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
