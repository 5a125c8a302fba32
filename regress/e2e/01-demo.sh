#!/bin/sh
# The seed's demo request through both proxies, and proof that TLS is end
# to end: the certificate the client verified is the internal server's.
. "$(dirname "$0")/../lib.sh"

start_all

# curl verifies the chain and the name against the demo CA
check_demo request
check body 'body is not exactly {"message": "success"}' \
    [ "$(jq -cS . "$T/name.out" 2>/dev/null)" = '{"message":"success"}' ]

# the certificate presented through the proxy is the internal server's
s_client "$NAME" -showcerts -verify_return_error
check verified "s_client did not verify the chain" \
    grep -q 'Verify return code: 0 (ok)' "$T/s_client.out"
check subject "subject is not CN=$NAME" \
    grep -Eq "subject=/?CN ?= ?$NAME" "$T/s_client.out"
openssl x509 -noout -fingerprint -sha256 <"$T/s_client.out" \
    >"$T/seen.fp" 2>/dev/null
openssl x509 -noout -fingerprint -sha256 -in "$C/internal-server.crt" \
    >"$T/is.fp"
check fingerprint "the certificate seen is not internal-server.crt" \
    cmp -s "$T/seen.fp" "$T/is.fp"

# nothing refused or lost on the way
refute_log no-refusals "$T/proxyd.log" "refused"
refute_log privproxyd-clean "$T/privproxyd.log" " refused [^0-9]|failed"
