#!/bin/sh
#
# gencerts.sh: certificates for the demo and the tests.
#
# usage: gencerts.sh DIR
#        gencerts.sh issue DIR NAME CN [SAN ...]
#        gencerts.sh selfca DIR NAME CN
#
# "gencerts.sh DIR" makes the demo's set in DIR and keeps what is already
# there and still good (present, not expiring within a day, key matching,
# chaining to root.crt):
#	root.crt, root.key: the demo CA, CN "EPS demo CA";
#	internal-server.crt, .key: CN test.internal-server.local, DNS names
#	    test.internal-server.local and *.internal-server.local, for
#	    serverAuth;
#	epsd-public.crt, .key: CN and DNS name public, for serverAuth and
#	    clientAuth;
#	epsd-private.crt, .key: CN and DNS name private, likewise.
# When the CA is missing or bad, all of them are made again.
#
# "issue" writes DIR/NAME.crt and DIR/NAME.key for CN, signed by DIR's CA,
# for serverAuth and clientAuth.  A SAN is DNS:name, IP:address or a bare
# name taken as DNS:name; without any, the CN is the one DNS name.
#
# "selfca" makes a separate CA that nothing trusts, DIR/NAME-ca.crt and
# DIR/NAME-ca.key, and DIR/NAME.crt and DIR/NAME.key signed by it, for
# serverAuth and clientAuth with the CN as DNS name: a certificate that is
# not from our CA.
#
# Keys are EC P-256 and mode 600; certificates are valid for ten years.  The
# script says one line on success, and openssl's own messages on failure.

set -eu

prog=gencerts.sh
days=3650

usage() {
	echo "usage: $prog DIR" >&2
	echo "       $prog issue DIR NAME CN [SAN ...]" >&2
	echo "       $prog selfca DIR NAME CN" >&2
	exit 1
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# run CMD ...: run quietly, show the output only if it fails.
run() {
	if ! "$@" >"$tmp/log" 2>&1; then
		cat "$tmp/log" >&2
		die "failed: $*"
	fi
}

# checkname NAME: a file name in DIR that is not the demo CA's.
checkname() {
	case $1 in
	''|root|root-ca|*[!A-Za-z0-9._-]*|.*)
		die "bad name: $1" ;;
	esac
}

# writeconf FILE EKU SAN ...: an openssl configuration with the sections
# "ca" and "leaf".
writeconf() {
	wc_file=$1
	wc_eku=$2
	shift 2
	wc_san=
	for wc_s in "$@"; do
		case $wc_s in
		*:*)	;;
		*)	wc_s=DNS:$wc_s ;;
		esac
		wc_san=${wc_san:+$wc_san, }$wc_s
	done
	cat >"$wc_file" <<EOF
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $wc_eku
subjectAltName = $wc_san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

serial() {
	echo "0x$(openssl rand -hex 16)"
}

# newkey FILE: an EC P-256 private key.
newkey() {
	run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1"
	chmod 600 "$1"
}

# install_pair DIR NAME: move the key and certificate made in $tmp to DIR.
install_pair() {
	chmod 644 "$tmp/$2.crt"
	mv -f "$tmp/$2.key" "$1/$2.key"
	mv -f "$tmp/$2.crt" "$1/$2.crt"
	chmod 600 "$1/$2.key"
}

# mkca DIR NAME CN: a self-signed CA.
mkca() {
	writeconf "$tmp/$2.cnf" serverAuth "DNS:$3"
	newkey "$tmp/$2.key"
	run openssl req -new -x509 -config "$tmp/$2.cnf" -extensions ca \
	    -key "$tmp/$2.key" -subj "/CN=$3" -sha256 -days "$days" \
	    -set_serial "$(serial)" -out "$tmp/$2.crt"
	install_pair "$1" "$2"
}

# mkleaf DIR NAME CN EKU CA SAN ...: a certificate signed by CA.crt/.key.
mkleaf() {
	ml_dir=$1
	ml_name=$2
	ml_cn=$3
	ml_eku=$4
	ml_ca=$5
	shift 5
	[ $# -gt 0 ] || set -- "DNS:$ml_cn"
	writeconf "$tmp/$ml_name.cnf" "$ml_eku" "$@"
	newkey "$tmp/$ml_name.key"
	run openssl req -new -config "$tmp/$ml_name.cnf" \
	    -key "$tmp/$ml_name.key" -subj "/CN=$ml_cn" -out "$tmp/$ml_name.csr"
	run openssl x509 -req -in "$tmp/$ml_name.csr" \
	    -CA "$ml_ca.crt" -CAkey "$ml_ca.key" -set_serial "$(serial)" \
	    -sha256 -days "$days" -extfile "$tmp/$ml_name.cnf" \
	    -extensions leaf -out "$tmp/$ml_name.crt"
	install_pair "$ml_dir" "$ml_name"
}

# pair_ok PATH: PATH.crt and PATH.key exist, match and do not expire soon.
pair_ok() {
	[ -s "$1.crt" ] && [ -s "$1.key" ] &&
	    openssl x509 -noout -checkend 86400 -in "$1.crt" \
	    >/dev/null 2>&1 &&
	    [ "$(openssl x509 -noout -pubkey -in "$1.crt" 2>/dev/null)" = \
	    "$(openssl pkey -pubout -in "$1.key" 2>/dev/null)" ]
}

# verify CA CRT PURPOSE: CRT chains to CA and is fit for PURPOSE.
verify() {
	openssl verify -CAfile "$1" -purpose "$3" "$2" >/dev/null 2>&1
}

# leaf NAME CN EKU PURPOSE SAN ...: make DIR/NAME unless it is good.
leaf() {
	lf_name=$1
	lf_cn=$2
	lf_eku=$3
	lf_purpose=$4
	shift 4
	if [ "$fresh" = 1 ] || ! pair_ok "$dir/$lf_name" ||
	    ! verify "$dir/root.crt" "$dir/$lf_name.crt" "$lf_purpose"; then
		mkleaf "$dir" "$lf_name" "$lf_cn" "$lf_eku" "$dir/root" "$@"
		made=$((made + 1))
	fi
}

command -v openssl >/dev/null 2>&1 || die "openssl not found"

cmd=${1-}
case $cmd in
issue)
	[ $# -ge 4 ] || usage
	dir=$2
	name=$3
	cn=$4
	shift 4
	checkname "$name"
	if [ ! -s "$dir/root.crt" ] || [ ! -s "$dir/root.key" ]; then
		die "$dir: no CA, run $prog $dir first"
	fi
	;;
selfca)
	[ $# -eq 4 ] || usage
	dir=$2
	name=$3
	cn=$4
	checkname "$name"
	;;
''|-*)
	usage
	;;
*)
	[ $# -eq 1 ] || usage
	dir=$1
	;;
esac

mkdir -p "$dir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gencerts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

case $cmd in
issue)
	mkleaf "$dir" "$name" "$cn" "serverAuth, clientAuth" "$dir/root" "$@"
	verify "$dir/root.crt" "$dir/$name.crt" sslclient ||
	    die "$dir/$name.crt does not verify"
	echo "$prog: issued $dir/$name.crt for CN=$cn"
	;;
selfca)
	mkca "$dir" "$name-ca" "EPS untrusted CA $name"
	mkleaf "$dir" "$name" "$cn" "serverAuth, clientAuth" "$dir/$name-ca"
	verify "$dir/$name-ca.crt" "$dir/$name.crt" sslclient ||
	    die "$dir/$name.crt does not verify"
	echo "$prog: issued $dir/$name.crt for CN=$cn from the untrusted" \
	    "CA $dir/$name-ca.crt"
	;;
*)
	made=0
	fresh=0
	if ! pair_ok "$dir/root" ||
	    ! verify "$dir/root.crt" "$dir/root.crt" any; then
		mkca "$dir" root "EPS demo CA"
		made=1
		fresh=1
	fi
	leaf internal-server test.internal-server.local serverAuth sslserver \
	    DNS:test.internal-server.local "DNS:*.internal-server.local"
	leaf epsd-public public "serverAuth, clientAuth" sslclient DNS:public
	leaf epsd-private private "serverAuth, clientAuth" sslclient \
	    DNS:private
	for f in internal-server epsd-public epsd-private; do
		verify "$dir/root.crt" "$dir/$f.crt" sslserver ||
		    die "$dir/$f.crt does not verify as a server"
	done
	for f in epsd-public epsd-private; do
		verify "$dir/root.crt" "$dir/$f.crt" sslclient ||
		    die "$dir/$f.crt does not verify as a client"
	done
	echo "$prog: $dir: demo CA and 3 certificates ready ($made made)"
	;;
esac
