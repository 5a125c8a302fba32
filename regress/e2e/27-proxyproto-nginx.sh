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

if ! command -v nginx >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	timeout 300 sh "$TOP/etc/deps.sh" >"$T/deps.out" 2>&1
fi
if ! command -v nginx >/dev/null 2>&1; then
	if [ -s "$T/deps.out" ]; then
		skip all "nginx not installed, and etc/deps.sh failed: \
$(tail -n 1 "$T/deps.out")"
	else
		skip all "nginx not installed (etc/deps.sh installs it)"
	fi
	exit 0
fi
if ! grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 \
    2>/dev/null; then
	skip all "no ::1 on this machine"
	exit 0
fi

ports
port P_V1
port P_V2
certs
mkdir -p "$T/nginx"
if [ "$(id -u)" -eq 0 ]; then
	NGINX_USER="user nobody nogroup;"
else
	NGINX_USER=
fi
# one server per version; each answers with what its PROXY header said
{
	cat <<EOT
# nginx.conf written by regress/e2e/$CASE.sh
daemon off;
master_process on;
$NGINX_USER
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx.log info;
events {
	worker_connections 64;
}
http {
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	log_format pp '\$proxy_protocol_addr \$proxy_protocol_port '
	    '\$proxy_protocol_server_addr \$proxy_protocol_server_port '
	    '"\$request" \$status';
	ssl_certificate $C/internal-server.crt;
	ssl_certificate_key $C/internal-server.key;
	default_type text/plain;
EOT
	for vp in "v1 $P_V1" "v2 $P_V2"; do
		v=${vp% *}
		p=${vp#* }
		cat <<EOT
	server {
		listen 127.0.0.1:$p ssl proxy_protocol;
		server_name $v.internal-server.local;
		access_log $T/access-$v.log pp;
		location / {
			return 200
			    "$v \$proxy_protocol_addr \$proxy_protocol_port\n";
		}
	}
EOT
	done
	echo "}"
} >"$T/nginx.conf"
if ! nginx -t -e "$T/nginx.log" -p "$T/nginx/" -c "$T/nginx.conf" \
    >"$T/nginx-t.out" 2>&1; then
	die setup "nginx -t: $(tail -n 3 "$T/nginx-t.out")"
fi
start_daemon nginx nginx -e "$T/nginx.log" -p "$T/nginx/" \
    -c "$T/nginx.conf"
for p in "$P_V1" "$P_V2"; do
	wait_listen "$p" ||
	    die setup "nginx not listening on $p: $(tail -n 3 "$T/nginx.log")"
done

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
