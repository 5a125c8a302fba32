#!/bin/sh
# Server names: a ClientHello without SNI, or with a name nobody
# announced, gets the unrecognized_name alert (112) and a log line with
# the reason; an announced name works in any case and TLS version.
. "$(dirname "$0")/../lib.sh"

start_all
log=$T/proxyd.log

from=$(lines "$log")
s_client -
check_alert112 nosni-alert
assert_log nosni-refused "$log" \
    "refused client $CLIENT: no server name" 5 "$from"

from=$(lines "$log")
s_client nobody.example.com
check_alert112 unknown-alert
assert_log unknown-refused "$log" \
    "refused client $CLIENT: no announcement for nobody\.example\.com" \
    5 "$from"

# allowed by a wildcard, but not announced
from=$(lines "$log")
s_client bar.internal-server.local
check_alert112 unannounced-alert
assert_log unannounced-refused "$log" \
    "no announcement for bar\.internal-server\.local" 5 "$from"

# curl sees the same as a failed handshake
curl_name nobody.example.com >/dev/null 2>"$T/curl.err"
check curl-unknown "curl: $(cat "$T/curl.err")" \
    grep -Eqi 'unrecognized name|alert number 112' "$T/curl.err"

# the announced name, in capitals, with TLS 1.2 and 1.3
s_client TEST.Internal-Server.LOCAL
check uppercase "handshake with TEST.Internal-Server.LOCAL failed" \
    grep -q 'Verify return code: 0 (ok)' "$T/s_client.out"
s_client "$NAME" -tls1_2
check tls12 "TLS 1.2 handshake failed" \
    grep -q "New, TLSv1\.2, Cipher" "$T/s_client.out"
s_client "$NAME" -tls1_3
check tls13 "TLS 1.3 handshake failed" \
    grep -q "New, TLSv1\.3, Cipher" "$T/s_client.out"
check_demo still-serving
