#!/bin/sh
# PROXY protocol against real software: behind privproxyd, an nginx
# with "listen ... ssl proxy_protocol" terminates TLS for two domains,
# one with "proxy protocol v1", one with "v2", each on its own port.
# proxyd listens on 127.0.0.1 and on ::1.  For a client from each
# address and each version, nginx's access log shows the client's
# address and port (curl's local port) in $proxy_protocol_addr and
# $proxy_protocol_port, and proxyd's address and public port in
# $proxy_protocol_server_addr and _port; the body nginx answers with
# arrives, quoting the same address and port.  nginx takes either
# version on a proxy_protocol listener: that a domain sends the version
# it names is 13-datapath's check, that nginx reads both is this one.
# Without nginx, the case runs etc/deps.sh (as root), which installs
# nginx-light, and is skipped if that does not work.
. "$(dirname "$0")/../lib.sh"
need ss
need_installed nginx
if ! has_ipv6; then
	skip all "no ::1 on this machine"
	exit 0
fi

ports
port P_V1
port P_V2
# one server per version; each answers with what its PROXY header said
start_nginx_pp "v1 $P_V1" "v2 $P_V2"

start_is
PROXYD_EXTRA="listen on ::1 port $P_PUBLIC"
PP_DOMAINS="$(domain_block "$NAME" "$P_IS")
$(domain_block v1.internal-server.local "$P_V1" "proxy protocol v1")
$(domain_block v2.internal-server.local "$P_V2" "proxy protocol v2")"
start_all
[ -n "$(ss -Htln "src [::1]:$P_PUBLIC")" ] ||
    die setup "proxyd does not listen on [::1]:$P_PUBLIC"

for v in v1 v2; do
	for a in 127.0.0.1 ::1; do
		case $a in
		*:*)	k=$v-ipv6 ;;
		*)	k=$v-ipv4 ;;
		esac
		if ! curl_from "$k" "$v.internal-server.local" "$a"; then
			fail "$k-request" "curl from $a: $(head -c 300 \
			    "$T/$k.err")"
			continue
		fi
		pass "$k-request"
		read -r lip lport <"$T/$k.port"
		check "$k-local-address" "curl's local address is $lip, \
not $a" [ "$lip" = "$a" ]
		want="$v $a $lport"
		got=$(cat "$T/$k.body")
		check "$k-body" "body \"$got\", not \"$want\"" \
		    [ "$got" = "$want" ]
		line="^$(ere "$a") $lport $(ere "$a") $P_PUBLIC"
		line="$line \"GET / HTTP/1\\.1\" 200\$"
		assert_log "$k-access-log" "$T/access-$v.log" "$line" 5
	done
done
refute_log no-broken-header "$T/nginx.log" "broken header"

check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
check nginx-alive "nginx is gone" alive "$(dpid nginx)"
