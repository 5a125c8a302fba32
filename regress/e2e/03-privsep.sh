#!/bin/sh
# Privilege separation.  As root: every child of every daemon runs as
# the configured user (nobody) with no supplementary groups and no
# capabilities, is chrooted to the empty directory /var/empty, and has
# its title; each parent stays root.  Started as another user, a daemon
# warns once that it was not started as root and runs its children as
# that user, without chroot.
. "$(dirname "$0")/../lib.sh"
need_root
need ps setpriv

NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)

# status_ids PID: "uid uid uid uid/gid gid gid gid/groups" of PID.
status_ids()
{
	awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 }
	    /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
	    /^Groups:/ { $1 = ""; s = $0; sub(/^ */, "", s) }
	    END { print u "/" g "/" s }' "/proc/$1/status"
}

# titles PID: the sorted titles of PID's children, one line.
titles()
{
	for ti_c in $(children "$1"); do
		ps -o args= -p "$ti_c"
	done | sed 's/ *$//' | sort | tr '\n' ',' | sed 's/,$//'
}

# check_daemon NAME EXPECTED-TITLES
check_daemon()
{
	cd_pid=$(dpid "$1")
	check "$1-parent-root" "parent does not run as root: $(status_ids \
	    "$cd_pid")" [ "$(status_ids "$cd_pid" | cut -d/ -f1)" = "0 0 0 0" ]
	cd_titles=$(titles "$cd_pid")
	check "$1-titles" "children are \"$cd_titles\", not \"$2\"" \
	    [ "$cd_titles" = "$2" ]
	cd_bad=
	for cd_c in $(children "$cd_pid"); do
		cd_ids=$(status_ids "$cd_c")
		cd_want="$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID"
		cd_want="$cd_want/$NOBODY_GID $NOBODY_GID $NOBODY_GID"
		cd_want="$cd_want $NOBODY_GID"
		case $cd_ids in
		"$cd_want/"|"$cd_want/$NOBODY_GID")
			;;
		*)
			cd_bad="$cd_bad pid $cd_c ids $cd_ids;"
			;;
		esac
		cd_root=$(readlink "/proc/$cd_c/root")
		[ "$cd_root" = "$CHROOT_DIR" ] ||
		    cd_bad="$cd_bad pid $cd_c root $cd_root;"
		cd_cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$cd_c/status")
		[ "$cd_cap" = 0000000000000000 ] ||
		    cd_bad="$cd_bad pid $cd_c CapEff $cd_cap;"
	done
	check "$1-children-dropped" "$cd_bad" [ -z "$cd_bad" ]
}

start_all

check_daemon proxyd \
    "proxyd: eps,proxyd: listener,proxyd: listener,proxyd: matcher"
check_daemon privproxyd "privproxyd: connector,privproxyd: eps"
check_daemon epsd-public "epsd: router,epsd: session"
check_daemon epsd-private "epsd: router,epsd: session"
check_demo request

# Each daemon once more, started as nobody: a warning, no chroot.
if ! setpriv --reuid=nobody --regid="$NOBODY_GID" --clear-groups \
    test -x "$BIN/proxyd"; then
	skip unprivileged "nobody cannot run $BIN/proxyd"
	exit 0
fi
mkdir "$T/nobody"
cp "$C/epsd-public.crt" "$C/epsd-public.key" "$C/root.crt" "$T/nobody/"
chown -R nobody "$T/nobody"
port P2_PUBLIC
port P2_BC
port P2_EPS
cat >"$T/nobody/proxyd.conf" <<EOT
user "nobody"
prefork 1
listen on 127.0.0.1 port $P2_PUBLIC
backchannel on 127.0.0.1 port $P2_BC
eps socket "$T/nobody/none.sock"
operator "private" {
	allow "$NAME"
}
EOT
cat >"$T/nobody/privproxyd.conf" <<EOT
user "nobody"
eps socket "$T/nobody/none.sock"
public "public" {
	backchannel 127.0.0.1 port $P2_BC
}
domain "$NAME" {
	forward to 127.0.0.1 port $P_IS
}
EOT
cat >"$T/nobody/epsd.conf" <<EOT
operator "public"
user "nobody"
socket "$T/nobody/epsd.sock"
tls certificate "$T/nobody/epsd-public.crt"
tls key "$T/nobody/epsd-public.key"
tls ca "$T/nobody/root.crt"
listen on 127.0.0.1 port $P2_EPS
peer "private" {
	allow "announce"
}
EOT
for d in proxyd privproxyd epsd; do
	start_daemon "$d-nobody" setpriv --reuid=nobody \
	    --regid="$NOBODY_GID" --clear-groups "$BIN/$d" -d \
	    -f "$T/nobody/$d.conf"
	log=$T/$d-nobody.log
	if ! wait_log "$log" "startup" 10; then
		fail "$d-nobody-starts" "no startup line"
		continue
	fi
	sleep 0.5
	check "$d-nobody-warns-once" "$(count_log "$log" \
	    "not started as root") warnings" \
	    [ "$(count_log "$log" "not started as root")" -eq 1 ]
	pid=$(dpid "$d-nobody")
	bad=
	for c in $(children "$pid"); do
		[ "$(status_ids "$c" | cut -d/ -f1)" = \
		    "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ] ||
		    bad="$bad pid $c ids $(status_ids "$c");"
		[ "$(readlink "/proc/$c/root")" = / ] ||
		    bad="$bad pid $c root $(readlink "/proc/$c/root");"
	done
	[ -n "$(children "$pid")" ] || bad="no children"
	check "$d-nobody-children" "$bad" [ -z "$bad" ]
	stop_daemon "$d-nobody"
done
