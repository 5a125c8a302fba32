#!/bin/sh
# proxyd behind a load balancer: its public port takes the PROXY
# protocol from the addresses it trusts, against real software.
#
# proxyd listens on a second public port, P_PP, "proxy protocol from
# { 127.0.0.3 10.0.0.0/8 }".  In front of it haproxy in TCP mode, which
# connects from 127.0.0.3: with send-proxy (v1) on port P_H1, with
# send-proxy-v2 on P_H2 (127.0.0.1, and ::1 where there is one).
# Behind privproxyd an nginx takes the PROXY protocol from privproxyd
# (start_nginx_pp, as in 27-proxyproto-nginx) and logs the address it
# names.  So for a curl from 127.0.0.5 through haproxy, proxyd and
# privproxyd, nginx's access log shows 127.0.0.5 and curl's port, and
# haproxy's address and port as the server: the header's source and
# destination went all the way; the same from ::1.  They go in the go
# header of a pooled backchannel first (the pool hits count them), and
# in the notification once a reload of proxyd has made "max pool 0".
# A long connection through haproxy is listed by "epsctl show
# connections" with the header's client, not haproxy's 127.0.0.3.
#
# Refused: a PROXY header sent straight from an address not trusted
# (curl --haproxy-protocol from 127.0.0.2) is no ClientHello, counted
# not_tls; a trusted address that sends a ClientHello without a
# header, a bad header or nothing (within the handshake timeout) is
# counted bad_proxy_header; none of them reaches nginx.  Taken: a
# header that curl --haproxy-protocol sends from the trusted 127.0.0.3,
# one that regress/tools/ppclient.py sends in three pieces, and a plain
# client from 127.0.0.1, an ordinary one.  With "max source handshakes
# 4", half ClientHellos behind the balancer are charged to the source
# their header names, not to 127.0.0.3: 8 of 8 sources are all held to
# the handshake timeout, of 6 of one source the 2 oldest are evicted
# at once (counted source_evicted).  A reload that
# stops trusting 127.0.0.3 makes its plain ClientHello good.  -n
# checks the statement's networks.  Without nginx or haproxy, the
# case runs etc/deps.sh (as root), and is skipped if that does not
# install them.
. "$(dirname "$0")/../lib.sh"
need ss
need nc
need_python ssl
need_installed nginx
need_installed haproxy

ports
port P_PP
port P_H1
port P_H2
port P_V1
port P_V2
P_PUBLICPP=$P_PP
P_PUBLICH1=$P_H1
P_PUBLICH2=$P_H2
PP_LISTEN="listen on 127.0.0.1 port $P_PP proxy protocol from"
PROXYD_PREFORK=1			# the source limits are per listener

# -n: the networks, checked
certs
PROXYD_EXTRA="$PP_LISTEN { 127.0.0.3, 10.0.0.0/8
	2001:db8::/32 }"
conf_proxyd
check_conf_ok conf-ok proxyd "$T/proxyd.conf"
for bad in "10.0.0.1/8:address bits set past the prefix length" \
    "localhost:not an IPv4 or IPv6 address" \
    "10.0.0.0/33:prefix length too long"; do
	PROXYD_EXTRA="$PP_LISTEN ${bad%%:*}"
	conf_proxyd
	check_conf_re "conf-${bad%%:*}" proxyd "$T/proxyd.conf" \
	    "^$(ere "$T/proxyd.conf"):$(lineof "$T/proxyd.conf" \
	    "$PP_LISTEN"): proxy protocol from $(ere "${bad%%:*}"): \
$(ere "${bad#*:}")"
done
PROXYD_EXTRA="$PP_LISTEN {$(seq -f ' 10.0.0.%g' 1 33) }"
conf_proxyd
check_conf_re conf-33-networks proxyd "$T/proxyd.conf" \
    "proxy protocol from 10\.0\.0\.33: more than 32 networks"

start_nginx_pp "v1 $P_V1" "v2 $P_V2"
start_is
PROXYD_EXTRA="timeout handshake 3
max source handshakes 4
$PP_LISTEN { 127.0.0.3 10.0.0.0/8 }"
PP_DOMAINS="$(domain_block "$NAME" "$P_IS")
$(domain_block v1.internal-server.local "$P_V1" "proxy protocol v1")
$(domain_block v2.internal-server.local "$P_V2" "proxy protocol v2")"
start_all
if has_ipv6; then
	start_haproxy "127.0.0.1 $P_H1 $P_PP send-proxy source 127.0.0.3" \
	    "127.0.0.1 $P_H2 $P_PP send-proxy-v2 source 127.0.0.3" \
	    "::1 $P_H2 $P_PP send-proxy-v2 source 127.0.0.3"
else
	start_haproxy "127.0.0.1 $P_H1 $P_PP send-proxy source 127.0.0.3" \
	    "127.0.0.1 $P_H2 $P_PP send-proxy-v2 source 127.0.0.3"
fi
ctl proxyd show metrics
cp "$T/ctl.out" "$T/before.prom"
HITS=proxyd_pool_hits_total

# through haproxy: nginx sees the client and haproxy's address; the
# pooled backchannels carry them, then (max pool 0) the notifications
n=0
for hv in "H1 v1 127.0.0.1 127.0.0.5 $P_H1" "H2 v2 127.0.0.1 127.0.0.5 $P_H2" \
    "H2 v2 ::1 ::1 $P_H2" notify "H1 v1 127.0.0.1 127.0.0.5 $P_H1 notified" \
    "H2 v2 ::1 ::1 $P_H2 notified"; do
	if [ "$hv" = notify ]; then
		ctl proxyd show metrics
		h=$(metric "$T/ctl.out" "$HITS")
		d=$((h - $(metric "$T/before.prom" "$HITS")))
		check pooled-all "$d pool hits for $n requests" \
		    [ "$d" -eq "$n" ]
		PROXYD_OPS="$DEFAULT_PROXYD_OPS"
		PROXYD_OPS="${PROXYD_OPS%\}}	max pool 0
}"
		conf_proxyd
		hup proxyd
		up proxyd "configuration reloaded" 10 "$from"
		continue
	fi
	set -- $hv
	case $3 in
	*:*)	k=haproxy-$2-ipv6${6:+-$6} ;;
	*)	k=haproxy-$2-ipv4${6:+-$6} ;;
	esac
	if [ "$3" = ::1 ] && ! has_ipv6; then
		skip "$k" "no ::1 on this machine"
		continue
	fi
	[ -n "${6:-}" ] || n=$((n + 1))
	if ! via "$1" curl_from "$k" "$2.internal-server.local" "$3" "$4"; then
		fail "$k-request" "curl from $4: $(head -c 300 "$T/$k.err")"
		continue
	fi
	pass "$k-request"
	read -r lip lport <"$T/$k.port"
	check "$k-local-address" "curl's local address is $lip, not $4" \
	    [ "$lip" = "$4" ]
	got=$(cat "$T/$k.body")
	check "$k-body" "body \"$got\", not \"$2 $4 $lport\"" \
	    [ "$got" = "$2 $4 $lport" ]
	assert_log "$k-access-log" "$T/access-$2.log" \
	    "^$(ere "$4") $lport $(ere "$3") $5 \"GET / HTTP/1\\.1\" 200\$" 5
done
ctl proxyd show metrics
check notified-all "pool hits after max pool 0: $(metric "$T/ctl.out" \
"$HITS"), not $h" [ "$(metric "$T/ctl.out" "$HITS")" = "$h" ]

# the control socket shows the header's client, not haproxy
via H1 long_connection
check long-first "no answer on the long connection: $(cat "$T/long.err")" \
    ask 1
check_ctl connections proxyd -j show connections
check_jq connections-client '.data | map(select(.state == "relay" and
    .name == "test.internal-server.local" and
    (.client | test("^127\\.0\\.0\\.1:[0-9]+$")))) | length == 1'
check_jq connections-not-haproxy \
    '.data | map(select(.client | test("^127\\.0\\.0\\.3:"))) | length == 0'
exec 3>&-
stop_daemon s_client

# refused: a header from an address not trusted, trusted ones without
refute forged-request "a PROXY header from 127.0.0.2 was taken" \
    via PP curl_from forged v1.internal-server.local 127.0.0.1 127.0.0.2 \
    --haproxy-protocol
refute plain-request "127.0.0.3 was served without a PROXY header" \
    via PP curl_from plain v1.internal-server.local 127.0.0.1 127.0.0.3
printf 'PROXY TCP4 192.0.2.1 127.0.0.1 65536 443\r\n' >"$T/badhdr.in"
check_closed badhdr "$P_PP" -s 127.0.0.3 <"$T/badhdr.in"
assert_log badhdr-logged "$T/proxyd.log" \
    "refused client 127\\.0\\.0\\.3:[0-9]+: PROXY header: v1: bad source port" 5
t0=$(now_ms)
talk silent "$P_PP" 15 -s 127.0.0.3 </dev/null
silent_rc=$?
t1=$(now_ms)
note "a silent trusted client was closed after $((t1 - t0)) ms" \
    "(handshake timeout 3 s)"
check silent-closed "a silent trusted client was not closed within 15 s" \
    [ "$silent_rc" -eq 0 ]
assert_log silent-logged "$T/proxyd.log" \
    "refused client 127\\.0\\.0\\.3:[0-9]+: PROXY header not sent in time" 5
for v in v1 v2; do
	refute_log "$v-no-forged" "$T/access-$v.log" '^127\.0\.0\.[23] '
done
ctl proxyd show metrics
cp "$T/ctl.out" "$T/after.prom"
for r in "bad_proxy_header 3" "not_tls 1"; do
	set -- $r
	s="proxyd_connections_refused_total{reason=\"$1\"}"
	m0=$(metric "$T/before.prom" "$s")
	m1=$(metric "$T/after.prom" "$s")
	d=none
	[ -z "$m0" ] || [ -z "$m1" ] || d=$((m1 - m0))
	check "metric-$1" "$s went from ${m0:-none} to ${m1:-none}, not up \
by $2" [ "$d" = "$2" ]
done

# taken: curl's own header from 127.0.0.3, a plain client from 127.0.0.1
for c in "own-header 127.0.0.3 --haproxy-protocol" "untrusted 127.0.0.1"; do
	set -- $c
	k=$1
	a=$2
	shift 2
	if ! via PP curl_from "$k" v1.internal-server.local 127.0.0.1 "$a" "$@"
	then
		fail "$k-request" "curl from $a: $(head -c 300 "$T/$k.err")"
		continue
	fi
	pass "$k-request"
	read -r lip lport <"$T/$k.port"
	assert_log "$k-access-log" "$T/access-v1.log" "^$(ere "$a") $lport \
127\\.0\\.0\\.1 $P_PP \"GET / HTTP/1\\.1\" 200\$" 5
done

# a header in three pieces, each its own write, then the ClientHello
$PY "$REGRESS/tools/ppclient.py" 127.0.0.3 "$P_PP" v1.internal-server.local \
    "$C/root.crt" 'PROXY TCP4 127.0' '.0.9 127.0.0.1 4444 443\r' '\n' \
    >"$T/split.body" 2>"$T/split.err"
check split-header "$(cat "$T/split.err" "$T/split.body" | head -c 300)" \
    [ "$(cat "$T/split.body")" = "v1 127.0.0.9 4444" ]

# per source (max source handshakes 4): the balancer is charged
# nothing, each client the source its header names.  8 half hellos
# through 127.0.0.3 naming 8 clients are all held to the handshake
# timeout; 6 naming one client lose their 2 oldest at once.
SRCEV='proxyd_connections_refused_total{reason="source_evicted"}'
ev0=$(ctl_metric proxyd "$SRCEV")
start_stalls many 127.0.0.3 8 0.05 8 "$(seq -s, -f 10.1.0.%g 1 8)" "$P_PP"
wait_stalls many
start_stalls one 127.0.0.3 6 0.05 8 10.2.0.1 "$P_PP"
wait_stalls one
ev=$(ctl_metric proxyd "$SRCEV")
note "through the balancer: 8 clients closed $(stall_span many) s after \
their bytes; one client's 6: $(stall_ids one 0 2) closed at once, the \
rest $(stall_span one | cut -d' ' -f2) s"
check pp-source-balancer-free "of 8 clients of 8 sources behind the \
balancer, $(stalls many 0 2) were closed before the handshake timeout" \
    [ "$(stalls many 0 2)" -eq 0 ] && [ "$(stalls many 2 8)" -eq 8 ]
check pp-source-header-charged "of 6 of one source behind the balancer, \
$(stalls one 0 2) were closed at once, not 2 (ids $(stall_ids one 0 2))" \
    [ "$(stalls one 0 2)" -eq 2 ] && [ "$(stall_ids one 0 2)" = 0,1 ]
check pp-source-counted "source_evicted went from $ev0 to $ev, not up by 2" \
    [ "$((ev - ev0))" -eq 2 ]

# a reload that no longer trusts 127.0.0.3: its ClientHello is good now
PROXYD_EXTRA="timeout handshake 3
max source handshakes 4
$PP_LISTEN 10.0.0.0/8"
conf_proxyd
hup proxyd
up proxyd "configuration reloaded" 10 "$from"
if via PP curl_from reloaded v1.internal-server.local 127.0.0.1 127.0.0.3
then
	pass reloaded-request
	read -r lip lport <"$T/reloaded.port"
	assert_log reloaded-access-log "$T/access-v1.log" \
	    "^127\\.0\\.0\\.3 $lport 127\\.0\\.0\\.1 $P_PP " 5
else
	fail reloaded-request "curl from 127.0.0.3 after the reload: \
$(head -c 300 "$T/reloaded.err")"
fi

refute_log no-broken-header "$T/nginx.log" "broken header"
check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
check nginx-alive "nginx is gone" alive "$(dpid nginx)"
check haproxy-alive "haproxy is gone" alive "$(dpid haproxy)"
