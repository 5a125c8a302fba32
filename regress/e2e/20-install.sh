#!/bin/sh
# make install and make uninstall.  Into a DESTDIR with PREFIX=/usr:
# exactly the expected files, with their modes; the units and init
# scripts with the installed paths in place of their placeholders; the
# examples as they are in etc/; the units clean for systemd-analyze
# verify and rated at most 4.0 by systemd-analyze security; as root,
# each daemon runs with no capabilities but those of its unit and uses
# all its pages document that takes one (a control group, ports below
# 1024: check_unit_caps).  A second install keeps a configuration that
# was changed; uninstall removes all the rest and leaves only
# directories.  With the default PREFIX the
# paths are below /usr/local.  As root, the init scripts installed below
# $T start each daemon, which goes into the background, find its pid,
# report its status, reload it, and stop it.
. "$(dirname "$0")/../lib.sh"
need make find sort cmp sed

R=$T/root
UNITDIR=$R/usr/lib/systemd/system

# ------------------------------------------------------------- install

make_top install install.log DESTDIR="$R" PREFIX=/usr ||
    die install "make install failed: $(tail -n 5 "$T/install.log")"
pass install

installed_expected | LC_ALL=C sort -u >"$T/want"
tree_files "$R" >"$T/have"
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

# --------------------------------------------------- unit capabilities

check_unit_caps "$UNITDIR"

# ------------------------------------------- reinstall, then uninstall

echo "# changed by $CASE" >>"$R/etc/proxyd.conf"
make_top install install2.log DESTDIR="$R" PREFIX=/usr ||
    fail reinstall "make install failed: $(tail -n 5 "$T/install2.log")"
check reinstall-keeps "make install replaced a changed /etc/proxyd.conf" \
    grep -qx "# changed by $CASE" "$R/etc/proxyd.conf"
tree_files "$R" >"$T/have2"
check reinstall-files "a second install changed the list of files" \
    cmp -s "$T/want" "$T/have2"

make_top uninstall uninstall.log DESTDIR="$R" PREFIX=/usr ||
    fail uninstall "make uninstall failed: $(tail -n 5 "$T/uninstall.log")"
left=$(cd "$R" && find . ! -type d | sed 's|^\.||')
check uninstall "left behind: $(echo "$left" | tr '\n' ' ')" \
    [ "$left" = /etc/proxyd.conf ]
check uninstall-keeps "make uninstall removed a changed /etc/proxyd.conf" \
    grep -qx "# changed by $CASE" "$R/etc/proxyd.conf"

# ------------------------------------------------------ default PREFIX

L=$T/local
make_top install install3.log DESTDIR="$L" ||
    fail local-install "make install failed: $(tail -n 5 "$T/install3.log")"
check local-unit "no ExecStart=/usr/local/sbin/proxyd in proxyd.service" \
    has_line "$L/usr/local/lib/systemd/system/proxyd.service" \
    "ExecStart=/usr/local/sbin/proxyd -d -f /etc/proxyd.conf"
check local-initscript "no DAEMON=/usr/local/sbin/\$NAME in init.d/proxyd" \
    has_line "$L/etc/init.d/proxyd" "DAEMON=/usr/local/sbin/\$NAME"
check local-sysusers "no /usr/local/lib/sysusers.d/eps-proxy.conf" \
    [ -f "$L/usr/local/lib/sysusers.d/eps-proxy.conf" ]
make_top uninstall uninstall3.log DESTDIR="$L" ||
    fail local-uninstall "make uninstall failed"
left=$(cd "$L" && find . ! -type d | sed 's|^\.||')
check local-uninstall "left behind: $(echo "$left" | tr '\n' ' ')" \
    [ -z "$left" ]

# --------------------------------------------------------- init scripts

check_initscripts
