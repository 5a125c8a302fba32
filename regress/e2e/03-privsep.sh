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

NOBODY_GID=$(id -g nobody)

start_all

check_privsep proxyd \
    "proxyd: eps,proxyd: listener,proxyd: listener,proxyd: matcher"
check_privsep privproxyd "privproxyd: connector,privproxyd: eps"
check_privsep epsd-public "epsd: router,epsd: session"
check_privsep epsd-private "epsd: router,epsd: session"
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
	# its children run as nobody, not chrooted
	bad=$(children_as "$(dpid "$d-nobody")" /)
	check "$d-nobody-children" "$bad" [ -z "$bad" ]
	stop_daemon "$d-nobody"
done
