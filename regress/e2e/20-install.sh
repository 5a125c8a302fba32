#!/bin/sh
# make install and make uninstall.  Into a DESTDIR with PREFIX=/usr:
# exactly the expected files, with their modes; the units and init
# scripts with the installed paths in place of their placeholders; the
# examples as they are in etc/; the units clean for systemd-analyze
# verify and rated at most 4.0 by systemd-analyze security.  A second
# install keeps a configuration that was changed; uninstall removes all
# the rest and leaves only directories.  With the default PREFIX the
# paths are below /usr/local.  As root, the init scripts installed below
# $T start each daemon, which goes into the background, find its pid,
# report its status, reload it, and stop it.
. "$(dirname "$0")/../lib.sh"
need make find sort cmp sed

# The programs make install takes are the ones this run tests: build/
# or, with SANITIZE=1, build/san (up to date, so make builds nothing).
case $B in
build)		MAKEARGS= ;;
build/san)	MAKEARGS=SANITIZE=1 ;;
*)		MAKEARGS="B=$B" ;;
esac

# mk TARGET LOG [VAR=value...]: make TARGET in the top directory.
mk()
{
	mk_t=$1
	mk_log=$2
	shift 2
	# MAKEARGS is one word or none
	# shellcheck disable=SC2086
	make -C "$TOP" --no-print-directory "$mk_t" $MAKEARGS "$@" \
	    >>"$T/$mk_log" 2>&1
}

# files ROOT: every path below ROOT, as installed (ROOT cut off), sorted.
files()
{
	(cd "$1" && find . | sed -n 's|^\.\(/.*\)|\1|p' | LC_ALL=C sort)
}

# expected: the paths make install writes with PREFIX=/usr.
expected()
{
	cat <<EOT
/etc
/etc/epsd.conf
/etc/init.d
/etc/init.d/epsd
/etc/init.d/privproxyd
/etc/init.d/proxyd
/etc/privproxyd.conf
/etc/proxyd.conf
/usr
/usr/lib
/usr/lib/systemd
/usr/lib/systemd/system
/usr/lib/systemd/system/epsd.service
/usr/lib/systemd/system/epsd@.service
/usr/lib/systemd/system/privproxyd.service
/usr/lib/systemd/system/proxyd.service
/usr/lib/sysusers.d
/usr/lib/sysusers.d/eps-proxy.conf
/usr/lib/tmpfiles.d
/usr/lib/tmpfiles.d/eps-proxy.conf
/usr/sbin
/usr/sbin/epsd
/usr/sbin/privproxyd
/usr/sbin/proxyd
/usr/share
/usr/share/man
EOT
	[ -x "$BIN/epsctl" ] && echo /usr/sbin/epsctl
	for ex_f in "$TOP"/man/*.[1-9]; do
		ex_b=${ex_f##*/}
		echo "/usr/share/man/man${ex_b##*.}"
		echo "/usr/share/man/man${ex_b##*.}/$ex_b"
	done
}

# modes ROOT: "mode path" for every file below ROOT that is not as it
# should be: programs and init scripts 755, the rest 644.
bad_modes()
{
	files "$1" | while read -r bm_p; do
		[ -f "$1$bm_p" ] || continue
		case $bm_p in
		*/sbin/*|*/init.d/*)	bm_want=755 ;;
		*)			bm_want=644 ;;
		esac
		bm_m=$(stat -c %a "$1$bm_p")
		[ "$bm_m" = "$bm_want" ] || echo "$bm_m $bm_p"
	done
}

# quiet_ok RC FILE: the command exited 0 and said nothing.
quiet_ok()
{
	[ "$1" -eq 0 ] && [ ! -s "$2" ]
}

# stopped PID PIDFILE: PID is gone and so is PIDFILE.
stopped()
{
	! alive "$1" && [ ! -e "$2" ]
}

# has_line FILE LINE: FILE has LINE, exactly.
has_line()
{
	grep -qxF -- "$2" "$1"
}

R=$T/root
UNITDIR=$R/usr/lib/systemd/system

# ------------------------------------------------------------- install

mk install install.log DESTDIR="$R" PREFIX=/usr ||
    die install "make install failed: $(tail -n 5 "$T/install.log")"
pass install

expected | LC_ALL=C sort -u >"$T/want"
files "$R" >"$T/have"
if cmp -s "$T/want" "$T/have"; then
	pass files
else
	fail files "not the expected files (< missing, > extra):
$(diff "$T/want" "$T/have" | grep '^[<>]' | head -n 20)"
fi

check modes "wrong modes: $(bad_modes "$R" | head -n 5 | tr '\n' ' ')" \
    [ -z "$(bad_modes "$R")" ]

left=$(grep -lE '@[A-Z_]+@' "$UNITDIR"/* "$R"/etc/init.d/* 2>/dev/null)
check substituted "placeholders left in: $left" [ -z "$left" ]

for d in proxyd privproxyd epsd; do
	check "execstart-$d" "no ExecStart=/usr/sbin/$d -d -f /etc/$d.conf" \
	    has_line "$UNITDIR/$d.service" \
	    "ExecStart=/usr/sbin/$d -d -f /etc/$d.conf"
	check "initscript-$d" "no DAEMON=/usr/sbin/\$NAME in init.d/$d" \
	    has_line "$R/etc/init.d/$d" "DAEMON=/usr/sbin/\$NAME"
	check "initscript-syntax-$d" "sh -n init.d/$d failed" \
	    sh -n "$R/etc/init.d/$d"
	check "example-$d" "/etc/$d.conf is not etc/$d.conf" \
	    cmp -s "$TOP/etc/$d.conf" "$R/etc/$d.conf"
done
check execstart-epsd@ "no ExecStart=/usr/sbin/epsd -d -f /etc/epsd-%i.conf" \
    has_line "$UNITDIR/epsd@.service" \
    "ExecStart=/usr/sbin/epsd -d -f /etc/epsd-%i.conf"

# ------------------------------------------------------------- systemd

# verify: the units, with their programs where DESTDIR put them and the
# pages found there; the template as an instance.  Clean means nothing
# said, not just exit 0 (unknown keys are only warnings).
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$T/verify"
	for u in "$UNITDIR"/*.service; do
		n=${u##*/}
		[ "$n" = epsd@.service ] && n=epsd@regress.service
		sed "s|^\(Exec[A-Za-z]*=\)/usr/sbin/|\1$R/usr/sbin/|" "$u" \
		    >"$T/verify/$n"
	done
	if command -v man >/dev/null 2>&1; then
		man_opt=--man=yes
	else
		man_opt=--man=no
	fi
	(cd "$T/verify" && MANPATH=$R/usr/share/man systemd-analyze verify \
	    "$man_opt" ./*.service) >"$T/verify.out" 2>&1
	rc=$?
	check verify "systemd-analyze verify: exit $rc: $(head -n 5 \
	    "$T/verify.out")" quiet_ok "$rc" "$T/verify.out"

	for u in "$UNITDIR"/*.service; do
		n=${u##*/}
		if ! systemd-analyze security --offline=yes "$u" \
		    >"$T/security.out" 2>&1; then
			skip "security-$n" "no systemd-analyze security --offline"
			continue
		fi
		x=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
		    "$T/security.out")
		note "$n: exposure $x"
		check "security-$n" "exposure ${x:-?}, wanted at most 4.0" \
		    awk -v x="${x:-99}" 'BEGIN { exit !(x <= 4.0) }'
	done
else
	skip verify "systemd-analyze not installed"
fi

# ------------------------------------------- reinstall, then uninstall

echo "# changed by $CASE" >>"$R/etc/proxyd.conf"
mk install install2.log DESTDIR="$R" PREFIX=/usr ||
    fail reinstall "make install failed: $(tail -n 5 "$T/install2.log")"
check reinstall-keeps "make install replaced a changed /etc/proxyd.conf" \
    grep -qx "# changed by $CASE" "$R/etc/proxyd.conf"
files "$R" >"$T/have2"
check reinstall-files "a second install changed the list of files" \
    cmp -s "$T/want" "$T/have2"

mk uninstall uninstall.log DESTDIR="$R" PREFIX=/usr ||
    fail uninstall "make uninstall failed: $(tail -n 5 "$T/uninstall.log")"
left=$(cd "$R" && find . ! -type d | sed 's|^\.||')
check uninstall "left behind: $(echo "$left" | tr '\n' ' ')" \
    [ "$left" = /etc/proxyd.conf ]
check uninstall-keeps "make uninstall removed a changed /etc/proxyd.conf" \
    grep -qx "# changed by $CASE" "$R/etc/proxyd.conf"

# ------------------------------------------------------ default PREFIX

L=$T/local
mk install install3.log DESTDIR="$L" ||
    fail local-install "make install failed: $(tail -n 5 "$T/install3.log")"
check local-unit "no ExecStart=/usr/local/sbin/proxyd in proxyd.service" \
    has_line "$L/usr/local/lib/systemd/system/proxyd.service" \
    "ExecStart=/usr/local/sbin/proxyd -d -f /etc/proxyd.conf"
check local-initscript "no DAEMON=/usr/local/sbin/\$NAME in init.d/proxyd" \
    has_line "$L/etc/init.d/proxyd" "DAEMON=/usr/local/sbin/\$NAME"
check local-sysusers "no /usr/local/lib/sysusers.d/eps-proxy.conf" \
    [ -f "$L/usr/local/lib/sysusers.d/eps-proxy.conf" ]
mk uninstall uninstall3.log DESTDIR="$L" ||
    fail local-uninstall "make uninstall failed"
left=$(cd "$L" && find . ! -type d | sed 's|^\.||')
check local-uninstall "left behind: $(echo "$left" | tr '\n' ' ')" \
    [ -z "$left" ]

# --------------------------------------------------------- init scripts

# initscripts: installed with PREFIX=$T/p SYSCONFDIR=$T/p/etc, so the
# daemons are $T/p/sbin/NAME with the configurations of lib.sh; the pid
# files are the system's, /run/NAME.pid.
initscripts()
{
	P=$T/p
	mk install install4.log PREFIX="$P" SYSCONFDIR="$P/etc" ||
	    die initscripts "make install failed: $(tail -n 5 \
	    "$T/install4.log")"
	ports
	P_IS=8888
	certs
	conf_epsd_public
	conf_proxyd
	conf_privproxyd
	# the examples give way to lib.sh's files (uninstall keeps them)
	cp "$T/epsd-public.conf" "$P/etc/epsd.conf"
	cp "$T/proxyd.conf" "$P/etc/proxyd.conf"
	cp "$T/privproxyd.conf" "$P/etc/privproxyd.conf"

	for d in epsd proxyd privproxyd; do
		s=$P/etc/init.d/$d
		pf=/run/$d.pid
		"$s" start >"$T/rc-$d.log" 2>&1
		rc=$?
		pid=$(cat "$pf" 2>/dev/null)
		[ -n "$pid" ] && track "rc-$d" "$pid"
		check "rc-$d-start" "$s start: exit $rc: $(cat "$T/rc-$d.log")" \
		    [ "$rc" -eq 0 ]
		if [ -z "$pid" ] || ! alive "$pid"; then
			fail "rc-$d-pid" "no live pid in $pf"
			continue
		fi
		exe=$(readlink "/proc/$pid/exe")
		sid=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f4)
		check "rc-$d-pid" "pid $pid in $pf runs $exe, session $sid" \
		    [ "$exe $sid" = "$P/sbin/$d $pid" ]
		check "rc-$d-daemon" "pid $pid is not in the background" \
		    [ "$(ps -o ppid= -p "$pid" | tr -d ' ')" != $$ ]
		sleep 1
		check "rc-$d-children" "pid $pid has no children" \
		    [ -n "$(children "$pid")" ]
		"$s" status >/dev/null 2>&1
		rc=$?
		check "rc-$d-status" "$s status: exit $rc, wanted 0" [ "$rc" -eq 0 ]
		"$s" start >/dev/null 2>&1
		rc=$?
		now=$(cat "$pf" 2>/dev/null)
		check "rc-$d-again" "a second start: exit $rc, pid $now (was \
$pid)" [ "$rc $now" = "0 $pid" ]
		"$s" reload >/dev/null 2>&1
		rc=$?
		check "rc-$d-reload" "$s reload: exit $rc, wanted 0" [ "$rc" -eq 0 ]
		sleep 1
		check "rc-$d-reloaded" "the daemon died on reload" alive "$pid"
	done
	# stop in the reverse order
	for d in privproxyd proxyd epsd; do
		s=$P/etc/init.d/$d
		pid=$(cat "/run/$d.pid" 2>/dev/null)
		"$s" stop >/dev/null 2>&1
		rc=$?
		check "rc-$d-stop" "$s stop: exit $rc, wanted 0" [ "$rc" -eq 0 ]
		check "rc-$d-stopped" "pid ${pid:-?} alive or /run/$d.pid left" \
		    stopped "${pid:-0}" "/run/$d.pid"
		"$s" status >/dev/null 2>&1
		rc=$?
		check "rc-$d-status-stopped" "$s status: exit $rc, wanted 3" \
		    [ "$rc" -eq 3 ]
	done
	# a broken configuration: start fails and starts nothing
	echo "bogus directive" >>"$P/etc/epsd.conf"
	"$P/etc/init.d/epsd" start >"$T/rc-bad.log" 2>&1
	rc=$?
	check rc-bad-config "start with a broken file: exit $rc, wanted 1" \
	    [ "$rc" -eq 1 ]
	check rc-bad-config-pid "start with a broken file made /run/epsd.pid" \
	    [ ! -e /run/epsd.pid ]
	check rc-bad-config-said "start did not say where the error is" \
	    grep -q "$P/etc/epsd.conf:[0-9]*:" "$T/rc-bad.log"
	mk uninstall uninstall4.log PREFIX="$P" SYSCONFDIR="$P/etc"
}

if [ "$(id -u)" -ne 0 ]; then
	skip initscripts "needs root"
elif [ ! -r /lib/lsb/init-functions ] ||
    ! command -v start-stop-daemon >/dev/null 2>&1; then
	skip initscripts "no /lib/lsb/init-functions or start-stop-daemon"
elif [ -e /run/epsd.pid ] || [ -e /run/proxyd.pid ] ||
    [ -e /run/privproxyd.pid ]; then
	skip initscripts "a daemon of this system runs from its init script"
else
	initscripts
fi
