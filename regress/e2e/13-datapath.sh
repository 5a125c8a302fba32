#!/bin/sh
# The data path.  Large transfers both ways arrive intact (an 8 MiB
# download from openssl s_server -WWW, 60 KB uploads to the internal
# server), and a domain with "proxy protocol v1" or "v2" gets the
# client's real address and port in a PROXY header, followed by the
# client's ClientHello.
. "$(dirname "$0")/../lib.sh"
need ss nc cmp

ports
port P_WWW
port P_V1
port P_V2
start_is
PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_IS
}
domain \"www.internal-server.local\" {
	forward to 127.0.0.1 port $P_WWW
}
domain \"v1.internal-server.local\" {
	forward to 127.0.0.1 port $P_V1
	proxy protocol v1
}
domain \"v2.internal-server.local\" {
	forward to 127.0.0.1 port $P_V2
	proxy protocol v2
}"
start_all

hex()
{
	od -An -tx1 -v "$1" | tr -d ' \n'
}

# 8 MiB from openssl s_server, through both proxies
mkdir "$T/www"
head -c 8388608 /dev/urandom >"$T/www/big.bin"
(cd "$T/www" && exec openssl s_server -quiet -WWW \
    -accept "127.0.0.1:$P_WWW" -cert "$C/internal-server.crt" \
    -key "$C/internal-server.key") >"$T/s_server.log" 2>&1 </dev/null &
track s_server $!
wait_listen "$P_WWW" || die setup "s_server does not listen"
curl -sS --max-time 60 --cacert "$C/root.crt" \
    --resolve "www.internal-server.local:$P_PUBLIC:127.0.0.1" \
    -o "$T/big.out" "https://www.internal-server.local:$P_PUBLIC/big.bin" \
    2>"$T/big.err"
check download-8MiB "download differs: $(wc -c <"$T/big.out" 2>/dev/null) \
bytes, $(cat "$T/big.err")" cmp -s "$T/www/big.bin" "$T/big.out"

# uploads: 60 KB is answered; over the server's 64 KiB limit, 413
head -c 60000 /dev/zero | tr '\0' x >"$T/body60k"
head -c 70000 /dev/zero | tr '\0' x >"$T/body70k"
code=$(curl_demo -o /dev/null -w '%{http_code}' --data-binary @"$T/body60k")
check upload-60k "answer $code, not 200" [ "$code" = 200 ]
code=$(curl_demo -o /dev/null -w '%{http_code}' --data-binary @"$T/body70k")
check upload-70k-413 "answer $code, not 413" [ "$code" = 413 ]

# proxied VERSION PORT: a client from a known local port to
# VERSION.internal-server.local; what nc on PORT receives is in
# $T/VERSION.in, the client's port in $cport.
proxied()
{
	nc -d -l 127.0.0.1 "$2" >"$T/$1.in" 2>/dev/null &
	track "trap-$1" $!
	wait_listen "$2" || die setup "trap for $1 does not listen"
	port cport
	curl -s --max-time 10 --local-port "$cport" --cacert "$C/root.crt" \
	    --resolve "$1.internal-server.local:$P_PUBLIC:127.0.0.1" \
	    "https://$1.internal-server.local:$P_PUBLIC/" >/dev/null 2>&1 &
	track "client-$1" $!
	pr_n=0
	while ! grep -aq "$1\.internal-server\.local" "$T/$1.in" &&
	    [ "$pr_n" -lt 100 ]; do
		sleep 0.1
		pr_n=$((pr_n + 1))
	done
	stop_daemon "client-$1"
	stop_daemon "trap-$1"
}

proxied v1 "$P_V1"
want=$(printf 'PROXY TCP4 127.0.0.1 127.0.0.1 %s %s\r\n' "$cport" "$P_PUBLIC" |
    od -An -tx1 -v | tr -d ' \n')
check v1-header "got $(head -c 60 "$T/v1.in" | tr -c '[:print:]' .)" \
    [ "$(hex "$T/v1.in" | cut -c1-${#want})" = "$want" ]
check v1-then-hello "no ClientHello after the header" \
    [ "$(hex "$T/v1.in" | cut -c$((${#want} + 1))-$((${#want} + 4)))" = 1603 ]

proxied v2 "$P_V2"
want=0d0a0d0a000d0a515549540a2111000c7f0000017f000001
want=$want$(printf '%04x%04x' "$cport" "$P_PUBLIC")
check v2-header "got $(hex "$T/v2.in" | cut -c1-${#want})" \
    [ "$(hex "$T/v2.in" | cut -c1-${#want})" = "$want" ]
check v2-then-hello "no ClientHello after the header" \
    [ "$(hex "$T/v2.in" | cut -c$((${#want} + 1))-$((${#want} + 4)))" = 1603 ]

check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
