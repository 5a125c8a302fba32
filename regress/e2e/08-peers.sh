#!/bin/sh
# epsd links are mutually authenticated.  A private epsd whose
# certificate is not from the CA the public epsd trusts, one that names
# an operator the public side does not know, and one that does not trust
# the public side's certificate never get a link; the public epsd says
# why.  The right certificate then links at once.
. "$(dirname "$0")/../lib.sh"

ports
certs
start_epsd_public
pub=$T/epsd-public.log

# a certificate for CN=private from a CA nobody trusts
selfca rogue private
from=$(lines "$pub")
EPSPRIV_CERT=rogue
refused_link rogue "$from"
assert_log rogue-refused "$pub" \
    "refused link from $CLIENT: .*(certificate|verif|unknown ca|handshake)" \
    0 "$from"

# a good certificate for an operator the public side does not know
issue stranger stranger
from=$(lines "$pub")
EPSPRIV_CERT=stranger
EPSPRIV_OP=stranger
refused_link stranger "$from"
assert_log stranger-refused "$pub" \
    "refused link from $CLIENT: operator stranger not configured" \
    0 "$from"
assert_log stranger-told "$T/epsd-stranger.log" \
    "refused link to 127\.0\.0\.1:$P_EPS" 0

# signed by the CA, but with no CN and no subjectAltName, only a
# subject field whose text reads like one: "/O=a\/CN=private"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$C/spoof.key" -subj '/O=a\/CN=private' -out "$T/spoof.csr" \
    2>/dev/null &&
    openssl x509 -req -in "$T/spoof.csr" -CA "$C/root.crt" \
    -CAkey "$C/root.key" -CAcreateserial -days 1 \
    -out "$C/spoof.crt" 2>/dev/null ||
    die spoof-cert "cannot make the certificate"
chmod 600 "$C/spoof.key"
from=$(lines "$pub")
EPSPRIV_CERT=spoof
refused_link spoof "$from"
assert_log spoof-refused "$pub" \
    "refused link from $CLIENT: certificate has no valid operator name" \
    0 "$from"

# the right certificate, but the private side trusts another CA: it
# refuses the public epsd's certificate
from=$(lines "$pub")
EPSPRIV_CERT=epsd-private
EPSPRIV_OP=private
conf_epsd_private
sed "s#^tls ca .*#tls ca \"$C/rogue-ca.crt\"#" "$T/epsd-private.conf" \
    >"$T/epsd-distrust.conf"
refused_link distrust "$from" "$T/epsd-distrust.conf"
assert_log distrust-refuses "$T/epsd-distrust.log" \
    "(refused|cannot) link to .*127\.0\.0\.1:$P_EPS" 0

# and the right one links
from=$(lines "$pub")
start_epsd_private
assert_log good-link "$pub" \
    "link to private up \(inbound from $CLIENT" 5 "$from"
daemons_alive all-alive epsd-public epsd-private
