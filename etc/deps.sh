#!/bin/sh
#
# deps.sh: install the Debian 12 packages the project needs.
#
# usage: sh etc/deps.sh [package ...]
#
# Without arguments, the packages listed below; with them, those
# packages instead (debian/deb.sh asks for the package build's tools).
# Says nothing and succeeds when every package is installed.  Otherwise,
# as root, it runs apt-get update and installs the missing ones without
# their recommendations; as another user it prints the apt-get command to
# run as root and fails.

set -eu

prog=deps.sh

pkgs=
# build: compiler and C library headers, make, the grammar generator, and
# the libraries (libevent, libtls from libretls, msgpack-c, libbsd,
# libseccomp)
pkgs="$pkgs gcc libc6-dev make pkg-config byacc"
pkgs="$pkgs libevent-dev libtls-dev libmsgpack-dev libbsd-dev libseccomp-dev"
# demo: certificates, the client, pretty JSON, the system's CA bundle
pkgs="$pkgs openssl curl jq ca-certificates"
# tests: clang with its sanitizer and libFuzzer runtimes, the load
# generators, mandoc -Tlint for the manual pages, ps(1), ss(8), nc(1)
# for raw, non-TLS bytes, python3 with msgpack for the test drivers
# that play a hostile peer, nginx as an internal server that takes the
# PROXY protocol and haproxy as a load balancer that sends it
pkgs="$pkgs clang libclang-rt-14-dev wrk parallel mandoc procps iproute2"
pkgs="$pkgs netcat-openbsd python3 python3-msgpack nginx-light haproxy"
[ "$#" -eq 0 ] || pkgs=" $*"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$prog: dpkg-query not found: install by hand:$pkgs" >&2
	exit 1
fi

missing=
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=
	[ "$status" = "install ok installed" ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

install="DEBIAN_FRONTEND=noninteractive apt-get install -y"
install="$install --no-install-recommends$missing"

if [ "$(id -u)" -ne 0 ]; then
	echo "$prog: missing packages:$missing" >&2
	echo "$prog: run as root:" >&2
	echo "apt-get update && $install" >&2
	exit 1
fi

echo "$prog: installing$missing" >&2
apt-get update
# The package list is split into words on purpose.
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    $missing
