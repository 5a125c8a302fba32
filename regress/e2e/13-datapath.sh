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

# a client from a known local port to vN.internal-server.local: the
# trap on P_VN gets the PROXY header with the client's address and
# port, then the ClientHello
port cport
capture v1-reached "$P_V1" 200 curl_name v1.internal-server.local \
    --local-port "$cport"
stop_tree "$CLIENT_PID"
printf 'PROXY TCP4 127.0.0.1 127.0.0.1 %s %s\r\n' "$cport" "$P_PUBLIC" \
    >"$T/v1.want"
check_header v1 "$T/v1-reached.in" "$(hex "$T/v1.want")"

port cport
capture v2-reached "$P_V2" 200 curl_name v2.internal-server.local \
    --local-port "$cport"
stop_tree "$CLIENT_PID"
check_header v2 "$T/v2-reached.in" \
    "0d0a0d0a000d0a515549540a2111000c7f0000017f000001$(printf '%04x%04x' \
    "$cport" "$P_PUBLIC")"

check_demo still-serving
daemons_alive all-alive proxyd privproxyd epsd-public epsd-private
