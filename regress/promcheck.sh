#!/bin/sh
#
# promcheck.sh: check Prometheus text exposition, for the end-to-end
# cases.
#
# usage: sh regress/promcheck.sh [file]
#
# Reads the file (standard input without one) and checks it three ways:
# that it ends with a newline; with "promtool check metrics" when
# promtool is installed (Debian 12: the prometheus package), where its
# lint findings (exit status 3: no HELP, a counter not named _total...)
# count as faults too; and always with the strict checker
# regress/promcheck.awk.  Silent and exit status 0 when all is well,
# otherwise the faults on standard error and exit status 1.

set -u

dir=$(dirname "$0")
tmp=$(mktemp "${TMPDIR:-/tmp}/promcheck.XXXXXX") || exit 1
trap 'rm -f "$tmp" "$tmp.out"' EXIT
cat "${1:--}" >"$tmp" || exit 1
rc=0
if [ -s "$tmp" ] && [ "$(tail -c 1 "$tmp" | od -An -c | tr -d ' ')" != '\n' ]
then
	echo "${1:--}: does not end with a newline" >&2
	rc=1
fi
if command -v promtool >/dev/null 2>&1; then
	if ! promtool check metrics <"$tmp" >"$tmp.out" 2>&1; then
		sed "s|^|${1:--}: promtool: |" "$tmp.out" >&2
		rc=1
	fi
fi
awk -f "$dir/promcheck.awk" "$tmp" 2>"$tmp.out" || {
	sed "s|^$tmp|${1:--}|" "$tmp.out" >&2
	rc=1
}
exit $rc
