#!/bin/sh
#
# deb.sh: build the Debian package, and check it on this machine.
#
# usage: sh debian/deb.sh build|check
#
# build ("make deb"): installs what the build needs if it is missing
# (with etc/deps.sh: apt-get as root, else it prints the command and
# fails), copies the tree (the files git knows, without build/) to a
# scratch directory, runs "dpkg-buildpackage -us -uc -b" there, so the
# working build/ is never touched, and leaves the packages, the
# .changes and .buildinfo files and build.log in build/deb/.
#
# check ("make deb-check", as root): build, then lintian (no errors
# allowed), then install the package with apt-get, check the users, the
# chroot directory, the conffiles, the programs, the units (systemd-
# analyze verify), the init scripts and the pages, then purge it and
# check that all of that is gone.  It installs and removes a system
# package, so "make regress" does not run it.  It works without systemd
# as PID 1: the package's scripts then skip systemctl.
#
# Output: one line per check, "PASS deb/check" or "FAIL deb/check: why"
# (regress/checks.sh, as the tests say it), then the count; the exit
# status is 1 when anything failed.

set -u

prog=deb.sh
PKG=eps-proxy
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/build/deb
USERS="_proxyd _privproxyd _epsd"
DAEMONS="proxyd privproxyd epsd"
CONFS="/etc/proxyd.conf /etc/privproxyd.conf /etc/epsd.conf"
UNITS="proxyd.service privproxyd.service epsd.service epsd@.service"
CASE=deb
# shellcheck source=regress/checks.sh
. "$TOP/regress/checks.sh"

die()
{
	echo "$prog: $*" >&2
	exit 1
}

installed()
{
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = \
	    "install ok installed" ]
}

# need PKG...: install the Debian packages that are missing (what
# apt-get says is left out, its errors are not).
need()
{
	sh "$TOP/etc/deps.sh" "$@" >/dev/null || die "could not install $*"
}

# The build tools and debian/control's Build-Depends.
build_deps()
{
	need dpkg-dev debhelper gcc libc6-dev make
	cd "$TOP" || exit 1
	bd_missing=$(dpkg-checkbuilddeps 2>&1 |
	    sed -n 's/.*Unmet build dependencies: //p' |
	    sed 's/([^)]*)//g; s/|[^ ]*//g')
	# shellcheck disable=SC2086
	[ -z "$bd_missing" ] || need $bd_missing
}

# copy DIR: the tree as git knows it (tracked and new files, not the
# ignored ones such as build/), or all of it but build/ without git.
copy()
{
	mkdir -p "$1"
	cd "$TOP" || exit 1
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# a file deleted but not yet committed is left out
		git ls-files --cached --others --exclude-standard |
		    while read -r cp_f; do
			[ -e "$cp_f" ] && printf '%s\n' "$cp_f"
		    done | tar -cf - -T - | tar -xf - -C "$1"
	else
		tar -cf - --exclude=./build --exclude=./.git . |
		    tar -xf - -C "$1"
	fi
}

build()
{
	build_deps
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/eps-deb.XXXXXX") || exit 1
	# dpkg-buildpackage writes the packages beside the source directory
	copy "$scratch/$PKG" || die "copying the tree failed"
	mkdir -p "$OUT"
	rm -f "$OUT"/*.deb "$OUT"/*.ddeb "$OUT"/*.changes "$OUT"/*.buildinfo
	echo "$prog: dpkg-buildpackage -us -uc -b in $scratch/$PKG" >&2
	if ! (cd "$scratch/$PKG" && dpkg-buildpackage -us -uc -b) \
	    >"$OUT/build.log" 2>&1; then
		tail -n 40 "$OUT/build.log" >&2
		rm -rf "$scratch"
		die "dpkg-buildpackage failed; the log is $OUT/build.log"
	fi
	for f in "$scratch"/*.deb "$scratch"/*.ddeb "$scratch"/*.changes \
	    "$scratch"/*.buildinfo; do
		[ -f "$f" ] && cp "$f" "$OUT/"
	done
	rm -rf "$scratch"
	ls "$OUT"/*.deb >/dev/null 2>&1 || die "no package in $OUT"
	for f in "$OUT"/*.deb; do
		echo "$prog: built ${f#"$TOP"/}"
	done
}

deb_file()
{
	for f in "$OUT/${PKG}"_*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# gone PATH...: none of the paths exists.
gone()
{
	for g_p in "$@"; do
		[ ! -e "$g_p" ] || return 1
	done
}

# user_ok NAME: a system user with its own group, home /var/empty and
# no shell.
user_ok()
{
	getent group "$1" >/dev/null || return 1
	uo_ent=$(getent passwd "$1") || return 1
	# name:x:uid:gid:gecos:home:shell
	uo_uid=$(echo "$uo_ent" | cut -d: -f3)
	uo_home=$(echo "$uo_ent" | cut -d: -f6)
	uo_shell=$(echo "$uo_ent" | cut -d: -f7)
	[ "$uo_uid" -gt 0 ] && [ "$uo_uid" -lt 1000 ] &&
	    [ "$uo_home" = /var/empty ] && [ "$uo_shell" = /usr/sbin/nologin ]
}

# conf_ok CMD...: CMD checks an example configuration and finds it
# good, or wanting only the certificates and key it names (epsd.conf's
# are the site's own, which the package cannot ship).
conf_ok()
{
	co_out=$("$@" 2>&1) && return 0
	echo "$co_out" | grep -Eqv ': tls [a-z]+ [^ ]+: No such file or directory$' &&
	    { echo "$co_out" | sed 's/^/    | /'; return 1; }
	[ -n "$co_out" ]
}

# not_enabled: the package enabled no daemon: no unit is wanted by a
# target, and the init scripts have stop links only (update-rc.d
# defaults-disabled).
not_enabled()
{
	for ne_d in $DAEMONS; do
		ls /etc/systemd/system/*.wants/"$ne_d".service \
		    /etc/rc[2345].d/S[0-9][0-9]"$ne_d" >/dev/null 2>&1 &&
		    return 1
		ls /etc/rc[2345].d/K[0-9][0-9]"$ne_d" >/dev/null 2>&1 ||
		    return 1
	done
	return 0
}

no_user()
{
	! getent passwd "$1" >/dev/null && ! getent group "$1" >/dev/null
}

conffiles_ok()
{
	cf_list=$(dpkg-query -W -f='${Conffiles}\n' "$PKG" |
	    awk 'NF { print $1 }' | sort)
	# shellcheck disable=SC2086
	cf_want=$(printf '%s\n' $CONFS /etc/init.d/proxyd \
	    /etc/init.d/privproxyd /etc/init.d/epsd | sort)
	[ "$cf_list" = "$cf_want" ] && return 0
	echo "    conffiles: $(echo "$cf_list" | tr '\n' ' ')"
	return 1
}

pages_ok()
{
	for pg_f in "$TOP"/man/*.[1-9]; do
		pg_b=${pg_f##*/}
		[ -f "/usr/share/man/man${pg_b##*.}/$pg_b.gz" ] || return 1
	done
}

# verify_ok: systemd-analyze verify has nothing to say about the units
# (an instance of the template).
verify_ok()
{
	vf_units=
	for u in $UNITS; do
		case $u in
		*@.service)	vf_units="$vf_units ${u%@.service}@check.service" ;;
		*)		vf_units="$vf_units $u" ;;
		esac
	done
	# shellcheck disable=SC2086
	vf_out=$(cd / && systemd-analyze verify $vf_units 2>&1)
	vf_rc=$?
	[ "$vf_rc" -eq 0 ] && [ -z "$vf_out" ] && return 0
	echo "$vf_out" | sed 's/^/    | /'
	return 1
}

check_all()
{
	[ "$(id -u)" -eq 0 ] || die "check installs a package: run it as root"
	build
	need lintian
	deb=$(deb_file) || die "no $PKG package in $OUT"

	if installed "$PKG" || dpkg-query -W "$PKG" >/dev/null 2>&1; then
		echo "$prog: $PKG is installed: purging it first" >&2
		apt-get purge -y "$PKG" >/dev/null 2>&1
	fi
	for u in $USERS; do
		getent passwd "$u" >/dev/null &&
		    echo "$prog: note: user $u exists before the install" >&2
	done
	# other programs (the tests) may use it: put it back at the end
	had_empty=
	[ -d /var/empty ] && had_empty=1

	# lintian: errors fail; all tags are shown, explained in the log
	lintian --info --display-info --pedantic "$OUT"/*.changes \
	    >"$OUT/lintian.log" 2>&1
	grep -v '^N:' "$OUT/lintian.log" | sed 's/^/    | /'
	nerr=$(grep -c '^E: ' "$OUT/lintian.log")
	nwarn=$(grep -c '^W: ' "$OUT/lintian.log")
	check lintian "$nerr errors (see $OUT/lintian.log)" [ "$nerr" -eq 0 ]
	echo "    # lintian: $nerr errors, $nwarn warnings," \
	    "$(grep -c '^[IPX]: ' "$OUT/lintian.log") other tags"

	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends "$deb" >"$OUT/install.log" 2>&1; then
		sed 's/^/    | /' "$OUT/install.log"
		fail install "apt-get install $deb failed"
		summary
	fi
	pass install
	check installed "dpkg says $PKG is not installed" installed "$PKG"

	for u in $USERS; do
		check "user-$u" "no system user and group $u (home\
 /var/empty, shell /usr/sbin/nologin)" user_ok "$u"
	done
	check chroot-dir "/var/empty is not a root-owned 0755 directory" \
	    [ "$(stat -c '%U %a' /var/empty 2>/dev/null)" = "root 755" ]
	check conffiles "the conffiles are not the configurations and init\
 scripts" conffiles_ok
	for d in $DAEMONS; do
		check "program-$d" "/usr/sbin/$d -n -f /etc/$d.conf failed" \
		    conf_ok "/usr/sbin/$d" -n -f "/etc/$d.conf"
		check "initscript-$d" "/etc/init.d/$d check failed" \
		    conf_ok "/etc/init.d/$d" check
	done
	for u in $UNITS; do
		check "unit-$u" "no /lib/systemd/system/$u" \
		    [ -f "/lib/systemd/system/$u" ]
	done
	if command -v systemd-analyze >/dev/null 2>&1; then
		check units-verify "systemd-analyze verify complains" verify_ok
		for u in $UNITS; do
			echo "    # $(systemd-analyze security --offline=yes \
			    "/lib/systemd/system/$u" 2>&1 | tail -n 1)"
		done
	fi
	check not-enabled "a unit or init script is enabled" not_enabled
	check pages "a page of man/ is not in /usr/share/man" pages_ok
	check sysusers "no /usr/lib/sysusers.d/$PKG.conf" \
	    [ -f "/usr/lib/sysusers.d/$PKG.conf" ]
	check tmpfiles "no /usr/lib/tmpfiles.d/$PKG.conf" \
	    [ -f "/usr/lib/tmpfiles.d/$PKG.conf" ]
	files=$(dpkg -L "$PKG" | while read -r f; do
		[ -f "$f" ] && echo "$f"; done)

	if ! DEBIAN_FRONTEND=noninteractive apt-get purge -y "$PKG" \
	    >"$OUT/purge.log" 2>&1; then
		sed 's/^/    | /' "$OUT/purge.log"
		fail purge "apt-get purge $PKG failed"
		summary
	fi
	pass purge
	check purged "dpkg still knows $PKG" \
	    sh -c "! dpkg-query -W '$PKG' >/dev/null 2>&1"
	for u in $USERS; do
		check "purged-user-$u" "user or group $u is still there" \
		    no_user "$u"
	done
	# shellcheck disable=SC2086
	check purged-files "files of the package are still there" gone $files
	# shellcheck disable=SC2086
	check purged-conffiles "configurations still there" gone $CONFS \
	    /etc/init.d/proxyd /etc/init.d/privproxyd /etc/init.d/epsd
	check purged-rc-links "rc.d links still there" \
	    sh -c "! ls /etc/rc?.d/*proxyd /etc/rc?.d/*epsd >/dev/null 2>&1"
	check purged-chroot-dir "/var/empty is still there" gone /var/empty
	if [ -n "$had_empty" ] && [ ! -d /var/empty ]; then
		mkdir -m 0755 /var/empty &&
		    echo "    # made /var/empty again, as it was before"
	fi
	summary
}

summary()
{
	echo "$((CHECKS - FAILS)) passed, $FAILS failed"
	[ "$FAILS" -eq 0 ] || exit 1
	exit 0
}

case ${1:-} in
build)	build ;;
check)	check_all ;;
*)	echo "usage: sh debian/deb.sh build|check" >&2; exit 2 ;;
esac
