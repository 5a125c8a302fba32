#!/bin/sh
#
# bench.sh: what "make bench" runs.  One nginx TLS backend on loopback
# (ECDSA P-256 certificate for test.internal-server.local from the demo
# CA: a small JSON answer at /jsonrpc, a sparse 256 MiB file at /big),
# and, side by side in one run, the ways of reaching it by its name:
#
#	direct		client -> nginx
#	haproxy SNI	haproxy, mode tcp, one hop chosen by req_ssl_sni
#	nginx ssl_preread
#			a second nginx, stream module with ssl_preread
#	ssh -R		an sshd on loopback, and "ssh -N -R" from a client
#			that dials nginx: the public port is sshd's forward
#	proxyd pool N	proxyd + privproxyd with their two epsd, privproxyd
#			keeping a pool of N idle backchannels ("pool N" in
#			its public operator block; POOL, 16 by default)
#	proxyd pool 0	the same with "pool 0": every client waits for the
#			incoming call over the EPS network
#
# For each path:
#	conn/s		wrk -t2 -c25 with "Connection: close": every request
#			is a new TCP connection and a full TLS handshake
#	CPU pub/priv	CPU time (user + system) of the proxy per connection
#			of that wrk run, in microseconds: public side
#			(proxyd + public epsd, haproxy, the stream nginx,
#			sshd) and private side (privproxyd + private epsd,
#			the ssh client), each the sum over the daemon's
#			processes and all their descendants
#	p50, p99	FRESH (300) fresh connections one after the other
#			from one curl: TCP connect, full TLS handshake (no
#			session reuse), request, first byte of the answer;
#			each follows one made directly, and those are what
#			the added time (p50) and the ratio (p99) compare to
#	download	the best of three downloads of /big, MiB/s
#	KiB/conn	resident memory (RSS, all processes of each side)
#			per connection, with HOLD/10 and with HOLD (10,000)
#			established, idle TLS connections held open through
#			the path by regress/bench/hold.py: (RSS held - RSS
#			before) / connections held
# The direct row's CPU and memory columns are the backend nginx's own
# (it terminates the TLS), the reference for the × of those columns.
# Every figure is also given as a ratio to direct, p50 as the time added.
# Each path's conn/s, CPU, p50, p99 and download are compared with the
# same measure made directly right before (wrk, CPU) or interleaved with
# the path's own (fresh connections, downloads), not with the direct row:
# the machines are shared, and the load changes over a run.
#
# The descriptor limit (20,000 on the test machines) is per process:
# nginx runs two workers, proxyd two listeners and privproxyd two
# connectors (PP_PREFORK), with "max connections 10000"; haproxy 2.6
# runs one process, and holds what its limit lets it.  When a path holds
# fewer connections than asked, the figure says "@held".
#
# Installs what it needs from Debian when missing, quietly otherwise:
# nginx-light, libnginx-mod-stream, haproxy, openssh-server, wrk.  Needs
# root: for apt-get, sshd, and because wrk takes the name for SNI from
# its URL, so it runs in a private mount namespace whose /etc/hosts
# names the backend.  Everything listens on 127.0.0.1, every process is
# tracked by pid and stopped (regress/lib.sh), and a path that fails
# prints "-" with the reason below the table while the others go on.
# Numbers are for reading, never asserted: the machines are shared.
#
# usage: [B=build] [SECONDS_PER_RUN=10] [FRESH=300] [HOLD=10000]
#	[POOL=16] [PATHS="direct haproxy preread sshr pool pool0"]
#	sh regress/bench.sh
# Short run: SECONDS_PER_RUN=2 FRESH=30 HOLD=500 (some 2 minutes).

# PUB and PRIV are lists of pids, split into words on purpose.
# shellcheck disable=SC2086
# The variables for lib.sh's conf_* functions look unused here.
# shellcheck disable=SC2034

set -u
REGRESS=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=regress/lib.sh
. "$REGRESS/lib.sh"

SECS=${SECONDS_PER_RUN:-10}
FRESH=${FRESH:-300}
HOLD=${HOLD:-10000}
HOLD_SMALL=${HOLD_SMALL:-$((HOLD / 10))}
HOLD_TIME=${HOLD_TIME:-60}		# seconds to open the connections
POOL=${POOL:-16}
PP_PREFORK=${PP_PREFORK:-2}
MAXCONN=${MAXCONN:-10000}
BIG_MIB=256
HOLD_PY=$REGRESS/bench/hold.py
PKGS="nginx-light libnginx-mod-stream haproxy openssh-server"
PKGS="$PKGS openssh-client wrk python3 util-linux"
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
HZ=$(getconf CLK_TCK)
PATHS=${PATHS:-direct haproxy preread sshr pool pool0}

need_root

# --------------------------------------------------------------- set up

# deps: install the missing packages; say nothing when none is.
deps()
{
	dp_missing=
	for dp_p in $PKGS; do
		dp_s=$(dpkg-query -W -f='${Status}' "$dp_p" 2>/dev/null) ||
		    dp_s=
		[ "$dp_s" = "install ok installed" ] ||
		    dp_missing="$dp_missing $dp_p"
	done
	[ -n "$dp_missing" ] || return 0
	echo "bench.sh: installing$dp_missing"
	# The package list is split into words on purpose.
	# shellcheck disable=SC2086
	{ apt-get update -q &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $dp_missing; } >"$T/apt.log" 2>&1 ||
	    echo "bench.sh: apt-get failed: $(tail -n 3 "$T/apt.log")"
}

have()
{
	command -v "$1" >/dev/null 2>&1
}

# nb_head NAME: the main part of an nginx.conf, in $T/NAME.
nb_head()
{
	mkdir -p "$T/$1"
	cat <<EOT
# $1.conf written by regress/bench.sh
daemon off;
master_process on;
user nobody nogroup;
worker_processes 2;
worker_rlimit_nofile 20000;
pid $T/$1/nginx.pid;
error_log $T/$1.log warn;
events {
	worker_connections 19000;
}
EOT
}

conf_nginx()
{
	nb_head nginx
	cat <<EOT
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	sendfile on;
	server {
		listen 127.0.0.1:$P_NGINX ssl reuseport;
		server_name $NAME;
		ssl_certificate $C/internal-server.crt;
		ssl_certificate_key $C/internal-server.key;
		ssl_session_cache off;
		ssl_session_tickets off;
		client_header_timeout 600s;
		keepalive_timeout 600s;
		root $T/www;
		location = /jsonrpc {
			default_type application/json;
			return 200 '{"jsonrpc": "2.0", "result": {"message": "success"}, "id": 1}\n';
		}
		location = /big {
			default_type application/octet-stream;
		}
	}
}
EOT
}

# start_nginx: the backend, port $P_NGINX.
start_nginx()
{
	port P_NGINX
	mkdir -p "$T/www"
	dd if=/dev/zero of="$T/www/big" bs=1M count=0 seek="$BIG_MIB" \
	    2>/dev/null
	chmod 644 "$T/www/big"
	conf_nginx >"$T/nginx.conf"
	start_daemon nginx nginx -e "$T/nginx.log" -p "$T/nginx/" \
	    -c "$T/nginx.conf"
	wait_listen "$P_NGINX" ||
	    die setup "nginx not listening: $(tail -n 3 "$T/nginx.log")"
}

# ------------------------------------------------------------ processes

# tree PID...: the processes and all their descendants.
tree()
{
	ps -e -o pid= -o ppid= | awk -v roots="$*" '
	BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) t[r[i]] = 1 }
	{ pp[$1] = $2 }
	END {
		do {
			more = 0
			for (p in pp)
				if (!(p in t) && (pp[p] in t)) {
					t[p] = 1
					more = 1
				}
		} while (more)
		for (p in t)
			if (p in pp)
				print p
	}'
}

# ticks PID...: CPU clock ticks of the processes and their descendants,
# counting those descendants that have exited and been reaped.
ticks()
{
	statsum '$12 + $13 + $14 + $15' "$@"
}

# systicks PID...: the system part of ticks PID...
systicks()
{
	statsum '$13 + $15' "$@"
}

# statsum EXPR PID...: EXPR of the fields of /proc/PID/stat after the
# command's name, summed over the processes of tree PID...
statsum()
{
	ss_e=$1
	shift
	for tk_p in $(tree "$@"); do
		cat "/proc/$tk_p/stat" 2>/dev/null
	done | sed 's/.*) //' | awk "{ s += $ss_e } END { print s + 0 }"
}

# procticks PID...: "PID TICKS TITLE" for each process of tree PID...,
# TICKS its own CPU clock ticks (user + system), TITLE its command line.
procticks()
{
	for pt_p in $(tree "$@"); do
		pt_t=$(sed 's/.*) //' "/proc/$pt_p/stat" 2>/dev/null |
		    awk '{ print $12 + $13 }')
		[ -n "$pt_t" ] || continue
		echo "$pt_p $pt_t $(tr '\0' ' ' <"/proc/$pt_p/cmdline" \
		    2>/dev/null)"
	done
}

# procnote SIDE BEFORE AFTER CONNS: the note of what each process of a
# side spent per connection, from procticks before and after, dearest
# first; processes of the same title are summed ("proxyd: listener"
# twice, say), a parent is named by its program.
procnote()
{
	pn_l=$(awk -v n="$4" -v hz="$HZ" '
	FILENAME == ARGV[1] { t0[$1] = $2; next }
	{
		pid = $1
		d = $2 - ((pid in t0) ? t0[pid] : 0)
		$1 = $2 = ""
		sub(/^ +/, "")
		sub(/ +$/, "")
		sub(/ -.*/, "")
		sub(/^.*\//, "")
		if (!($0 in sum))
			order[++k] = $0
		sum[$0] += d
	}
	END {
		# the dearest first; those under 0.5 us left out
		for (i = 1; i <= k; i++)
			for (j = i + 1; j <= k; j++)
				if (sum[order[j]] > sum[order[i]]) {
					t = order[i]
					order[i] = order[j]
					order[j] = t
				}
		for (i = 1; i <= k; i++) {
			us = sum[order[i]] * 1000000 / hz / n
			if (us >= 0.5)
				printf "%s%s %.0f", (i > 1 ? ", " : ""),
				    order[i], us
		}
	}' "$2" "$3")
	[ -z "$pn_l" ] || bnote "$bn_path" "CPU µs per connection, $1: $pn_l"
}

# rss PID...: KiB resident in the processes and their descendants.
rss()
{
	rs_l=$(tree "$@" | tr '\n' ',')
	if [ -z "$rs_l" ]; then
		echo 0
		return
	fi
	ps -o rss= -p "${rs_l%,}" | awk '{ s += $1 } END { print s + 0 }'
}

# established PORT: TCP connections established to or from PORT.
established()
{
	ss -Htn state established "( sport = :$1 or dport = :$1 )" |
	    grep -c .
}

# drained: until nothing is connected to the path or the backend (20 s
# at most).
drained()
{
	dr_i=0
	while [ "$(established "$PUB_PORT")" -gt 0 ] ||
	    [ "$(established "$P_NGINX")" -gt 0 ]; do
		dr_i=$((dr_i + 1))
		[ "$dr_i" -lt 200 ] || return 1
		sleep 0.1
	done
}

# ready NAME REGEX TIMEOUT FROM: like lib.sh's "up", but a failure only
# sets WHY, so that one path failing leaves the others.
ready()
{
	wait_log "$T/$1.log" "$2" "$3" "$4" && return 0
	if alive "$(dpid "$1")"; then
		WHY="$1 not ready within $3 s (no /$2/)"
	else
		WHY="$1 died while starting: $(tail -n 2 "$T/$1.log" |
		    tr '\n' ' ')"
	fi
	return 1
}

# listening PORT WHAT: wait_listen twice (10 s), or WHY says what did
# not listen.
listening()
{
	if wait_listen "$1" || wait_listen "$1"; then
		return 0
	fi
	WHY="$2 not listening on port $1"
	return 1
}

# ------------------------------------------------------------ the paths
#
# up_PATH starts the path and sets PUB_PORT, the port the clients use,
# PUB and PRIV, the pids whose process trees make the public and the
# private side, and STOP, the names to stop afterwards; or sets WHY and
# fails.

up_direct()
{
	PUB_PORT=$P_NGINX
	PUB=$(dpid nginx)
}

up_haproxy()
{
	have haproxy || { WHY="haproxy not installed"; return 1; }
	port P_HAPROXY
	cat >"$T/haproxy.cfg" <<EOT
# haproxy.cfg written by regress/bench.sh: SNI passthrough, one hop
defaults
	mode tcp
	timeout connect 5s
	timeout client 10m
	timeout server 10m
frontend tls
	bind 127.0.0.1:$P_HAPROXY
	tcp-request inspect-delay 5s
	tcp-request content accept if { req_ssl_hello_type 1 }
	use_backend nginx if { req_ssl_sni -i $NAME }
backend nginx
	server nginx 127.0.0.1:$P_NGINX
EOT
	start_daemon haproxy haproxy -db -f "$T/haproxy.cfg"
	STOP=haproxy
	listening "$P_HAPROXY" haproxy || return 1
	PUB_PORT=$P_HAPROXY
	PUB=$(dpid haproxy)
}

up_preread()
{
	[ -f "$STREAM_MODULE" ] ||
	    { WHY="no $STREAM_MODULE (libnginx-mod-stream)"; return 1; }
	port P_PREREAD
	{
		echo "load_module $STREAM_MODULE;"
		nb_head nginx-stream
		cat <<EOT
stream {
	map \$ssl_preread_server_name \$backend {
		$NAME	127.0.0.1:$P_NGINX;
		default		127.0.0.1:9;
	}
	server {
		listen 127.0.0.1:$P_PREREAD reuseport;
		ssl_preread on;
		proxy_pass \$backend;
		proxy_timeout 600s;
	}
}
EOT
	} >"$T/nginx-stream.conf"
	start_daemon nginx-stream nginx -e "$T/nginx-stream.log" \
	    -p "$T/nginx-stream/" -c "$T/nginx-stream.conf"
	STOP=nginx-stream
	listening "$P_PREREAD" "nginx (stream)" || return 1
	PUB_PORT=$P_PREREAD
	PUB=$(dpid nginx-stream)
}

# sshr_keys: a host key, a client key allowed in, the client's
# known_hosts.
sshr_keys()
{
	rm -f "$T/ssh_host_key" "$T/ssh_host_key.pub" "$T/id_bench" \
	    "$T/id_bench.pub"
	ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$T/ssh_host_key" &&
	    ssh-keygen -q -t ed25519 -N '' -C bench -f "$T/id_bench" &&
	    cp "$T/id_bench.pub" "$T/authorized_keys" &&
	    echo "[127.0.0.1]:$P_SSH $(cat "$T/ssh_host_key.pub")" \
	    >"$T/known_hosts"
}

up_sshr()
{
	for us_t in /usr/sbin/sshd ssh ssh-keygen; do
		have "$us_t" || { WHY="$us_t not installed"; return 1; }
	done
	port P_SSH
	port P_FWD
	sshr_keys >"$T/ssh-keygen.log" 2>&1 ||
	    { WHY="ssh-keygen: $(head -n 1 "$T/ssh-keygen.log")"; return 1; }
	# sshd's privilege separation directory, made by its service
	[ -d /run/sshd ] || { mkdir -m 755 /run/sshd && MADE_RUN_SSHD=1; }
	cat >"$T/sshd_config" <<EOT
# sshd_config written by regress/bench.sh
ListenAddress 127.0.0.1:$P_SSH
HostKey $T/ssh_host_key
PidFile none
AuthorizedKeysFile $T/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding remote
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel ERROR
EOT
	start_daemon sshd /usr/sbin/sshd -D -e -f "$T/sshd_config"
	STOP=sshd
	listening "$P_SSH" sshd || return 1
	start_daemon ssh ssh -F none -N -i "$T/id_bench" \
	    -o IdentitiesOnly=yes -o BatchMode=yes \
	    -o UserKnownHostsFile="$T/known_hosts" \
	    -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes \
	    -o LogLevel=ERROR -p "$P_SSH" \
	    -R "127.0.0.1:$P_FWD:127.0.0.1:$P_NGINX" root@127.0.0.1
	STOP="ssh sshd"
	listening "$P_FWD" "ssh -R" || return 1
	PUB_PORT=$P_FWD
	PUB=$(dpid sshd)
	PRIV=$(dpid ssh)
}

# pp_conf [POOL]: privproxyd.conf, with "pool POOL" in the block of the
# public operator when POOL is given.
pp_conf()
{
	conf_privproxyd
	[ -n "${1:-}" ] || return 0
	awk -v pool="	pool $1" '{ print } /^public "public" \{/ { print pool }' \
	    "$T/privproxyd.conf" >"$T/privproxyd.conf.new" &&
	    mv "$T/privproxyd.conf.new" "$T/privproxyd.conf"
}

pp_check()
{
	"$BIN/privproxyd" -n -f "$T/privproxyd.conf" >"$T/privproxyd-n.out" 2>&1
}

# pp_start NAME REGEX TIMEOUT PROGRAM: start daemon NAME with its
# configuration $T/NAME.conf, wait for REGEX in its log.
pp_start()
{
	ps_from=$(lines "$T/$1.log")
	# shellcheck disable=SC2046
	start_daemon "$1" "$4" $(dflags) -f "$T/$1.conf"
	STOP="$1 $STOP"
	ready "$1" "$2" "$3" "$ps_from"
}

# up_pp POOL: the four daemons, as lib.sh's start_all starts them, with
# privproxyd's pool at POOL; WHOLE says so when this build has no pool.
up_pp()
{
	ports
	P_IS=$P_NGINX		# conf_privproxyd's default domain
	PROXYD_EXTRA="max connections $MAXCONN"
	PP_EXTRA="prefork $PP_PREFORK
max connections $MAXCONN"
	PP_DOMAINS="domain \"$NAME\" {
	forward to 127.0.0.1 port $P_NGINX
}"
	pp_conf "$1"
	if ! pp_check; then
		up_why="privproxyd -n: $(head -n 1 "$T/privproxyd-n.out")"
		pp_conf
		pp_check || { WHY=$up_why; return 1; }
		if [ "$1" != 0 ]; then
			WHOLE="n/a (pool not supported by this build)"
			WHY="$up_why"
			return 1
		fi
		bnote "$bn_path" "pool not supported by this build:" \
		    "ran the default configuration ($up_why)"
	fi
	up_from=$(lines "$T/proxyd.log")
	conf_epsd_public
	pp_start epsd-public startup 10 "$BIN/epsd" || return 1
	conf_proxyd
	pp_start proxyd "connected to epsd" 15 "$BIN/proxyd" || return 1
	conf_epsd_private
	pp_start epsd-private "link to public up" 15 "$BIN/epsd" || return 1
	pp_start privproxyd "announced [0-9]+ domains? to public" 15 \
	    "$BIN/privproxyd" || return 1
	ready proxyd "private announced $NAME" 15 "$up_from" || return 1
	for up_d in epsd-public proxyd epsd-private privproxyd; do
		remember_children "$up_d"
		echo "$up_d $(lines "$T/$up_d.log")" >>"$T/logmarks"
	done
	PUB_PORT=$P_PUBLIC
	PUB="$(dpid proxyd) $(dpid epsd-public)"
	PRIV="$(dpid privproxyd) $(dpid epsd-private)"
	sleep 1		# let the pool fill
}

up_pool()
{
	up_pp "$POOL"
}

up_pool0()
{
	up_pp 0
}

# pp_trouble: a child of the four daemons that died during the run, and
# how often each ran out of descriptors.
pp_trouble()
{
	while read -r pt_d pt_from; do
		tail -n "+$((pt_from + 1))" "$T/$pt_d.log" >"$T/tail.log"
		grep -E 'killed by signal|exited with status' "$T/tail.log" |
		    head -n 1 | sed "s/^/$pt_d: /"
		pt_n=$(grep -c 'Too many open files' "$T/tail.log")
		[ "$pt_n" -eq 0 ] || echo "$pt_d: \"Too many open files\"" \
		    "logged $pt_n times"
	done <"$T/logmarks"
	: >"$T/logmarks"
}

# ------------------------------------------------------------- measures

# result KEY VALUE: one figure of the path being measured.
result()
{
	printf '%s\t%s\t%s\n' "$bn_path" "$1" "$2" >>"$T/results"
}

# bnote PATH WHY...: a line for below the table.
bnote()
{
	bo_p=$1
	shift
	echo "$(label "$bo_p"): $*" >>"$T/notes"
}

label()
{
	case $1 in
	direct)	echo "direct" ;;
	haproxy) echo "haproxy SNI" ;;
	preread) echo "nginx ssl_preread" ;;
	sshr)	echo "ssh -R" ;;
	pool)	echo "proxyd pool $POOL" ;;
	pool0)	echo "proxyd pool 0" ;;
	esac
}

url()
{
	echo "https://$NAME:$PUB_PORT$1"
}

# per_conn TICKS0 TICKS1 CONNS: microseconds of CPU per connection.
per_conn()
{
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$HZ" \
	    'BEGIN { printf "%.0f\n", (b - a) * 1000000 / hz / n }'
}

# wrk_run PORT OUT: wrk -c25 with a new connection per request; sets
# WRK_N (requests) and WRK_RPS, or fails with the reason in a note.
wrk_run()
{
	echo "127.0.0.1 $NAME" >"$T/hosts"
	# shellcheck disable=SC2016
	unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
	    sh "$T/hosts" timeout $((SECS + 30)) wrk -t2 -c25 -d"${SECS}s" \
	    -H "Connection: close" "https://$NAME:$1/jsonrpc" >"$2" 2>&1
	WRK_N=$(awk '/ requests in / { print $1 }' "$2")
	WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$2")
	if [ -z "$WRK_N" ] || [ "$WRK_N" -eq 0 ]; then
		bnote "$bn_path" "wrk: $(tail -n 2 "$2" | tr '\n' ' ')"
		return 1
	fi
	wr_err=$(grep -E 'Socket errors|Non-2xx' "$2" | tr -s ' \n' ' ')
	[ -z "$wr_err" ] || bnote "$bn_path" "wrk:$wr_err(of $WRK_N)"
}

# m_conns: new connections per second and CPU per connection of both
# sides; through a proxy, after the same run made directly, the
# reference of the ratios.
m_conns()
{
	if [ "$PUB_PORT" != "$P_NGINX" ]; then
		mc_ref=$(ticks "$(dpid nginx)")
		if wrk_run "$P_NGINX" "$T/wrk.$bn_path.direct"; then
			result connref "$WRK_RPS"
			result cpupubref "$(per_conn "$mc_ref" \
			    "$(ticks "$(dpid nginx)")" "$WRK_N")"
		fi
	fi
	procticks $PUB >"$T/pt.pub0"
	procticks $PRIV >"$T/pt.priv0"
	mc_pub=$(ticks $PUB)
	mc_priv=$(ticks $PRIV)
	wrk_run "$PUB_PORT" "$T/wrk.$bn_path" || return 0
	mc_pub1=$(ticks $PUB)
	mc_priv1=$(ticks $PRIV)
	procticks $PUB >"$T/pt.pub1"
	procticks $PRIV >"$T/pt.priv1"
	case $bn_path in
	pool*)
		procnote public "$T/pt.pub0" "$T/pt.pub1" "$WRK_N"
		procnote private "$T/pt.priv0" "$T/pt.priv1" "$WRK_N"
		;;
	esac
	result conn "$WRK_RPS"
	[ -z "$PUB" ] || result cpupub "$(per_conn "$mc_pub" "$mc_pub1" "$WRK_N")"
	[ -z "$PRIV" ] ||
	    result cpupriv "$(per_conn "$mc_priv" "$mc_priv1" "$WRK_N")"
}

# m_fresh: FRESH fresh connections in a row, time to the first byte;
# through a proxy, each one follows one made directly to nginx, from the
# same curl, so that the time added compares like with like on a busy
# machine.
m_fresh()
{
	mf_direct="https://$NAME:$P_NGINX/jsonrpc"
	awk -v n="$FRESH" -v u="$(url /jsonrpc)" -v d="$mf_direct" 'BEGIN {
		for (i = 0; i < n; i++) {
			if (d != u)
				printf "url = \"%s\"\noutput = \"/dev/null\"\n", d
			printf "url = \"%s\"\noutput = \"/dev/null\"\n", u
		}
	}' >"$T/fresh.cfg"
	mf_w='%{remote_port} %{http_code} %{num_connects} %{time_starttransfer}'
	curl -s --no-sessionid -H "Connection: close" --max-time 10 \
	    --cacert "$C/root.crt" --resolve "$NAME:$PUB_PORT:127.0.0.1" \
	    --resolve "$NAME:$P_NGINX:127.0.0.1" -w "$mf_w\\n" \
	    -K "$T/fresh.cfg" >"$T/fresh.$bn_path" 2>/dev/null
	fresh_times "$PUB_PORT" >"$T/fresh.times"
	mf_n=$(grep -c . "$T/fresh.times")
	if [ "$mf_n" -eq 0 ]; then
		bnote "$bn_path" "fresh connections: none answered"
		return
	fi
	[ "$mf_n" -eq "$FRESH" ] ||
	    bnote "$bn_path" "fresh connections: $mf_n of $FRESH answered"
	result p50 "$(awk -v q=0.50 -f "$T/pct.awk" "$T/fresh.times")"
	result p99 "$(awk -v q=0.99 -f "$T/pct.awk" "$T/fresh.times")"
	[ "$PUB_PORT" != "$P_NGINX" ] || return 0
	fresh_times "$P_NGINX" >"$T/fresh.times"
	[ -s "$T/fresh.times" ] || return 0
	result p50ref "$(awk -v q=0.50 -f "$T/pct.awk" "$T/fresh.times")"
	result p99ref "$(awk -v q=0.99 -f "$T/pct.awk" "$T/fresh.times")"
}

# fresh_times PORT: the sorted times of the good fresh connections to
# PORT.
fresh_times()
{
	awk -v port="$1" '$1 == port && $2 == 200 && $3 == 1 { print $4 }' \
	    "$T/fresh.$bn_path" | sort -n
}

# m_download: the best of three downloads of /big; through a proxy,
# each after one made directly.
m_download()
{
	md_size=$((BIG_MIB * 1048576))
	md_w='%{remote_port} %{http_code} %{size_download} %{speed_download}'
	md_ports=$P_NGINX
	[ "$PUB_PORT" = "$P_NGINX" ] || md_ports="$P_NGINX $PUB_PORT"
	md_t0=$(ticks $PUB $PRIV)
	md_s0=$(systicks $PUB $PRIV)
	for md_i in 1 2 3; do
		for md_port in $md_ports; do
			curl -s -o /dev/null --max-time 120 -w "$md_w\\n" \
			    --cacert "$C/root.crt" \
			    --resolve "$NAME:$md_port:127.0.0.1" \
			    "https://$NAME:$md_port/big" 2>/dev/null
		done
	done >"$T/dl.$bn_path"
	# what the proxy spent on the three (the direct ones cost it none)
	[ "$PUB_PORT" = "$P_NGINX" ] ||
	    bnote "$bn_path" "download: $(awk -v t="$(($(ticks $PUB $PRIV) - \
	    md_t0))" -v s="$(($(systicks $PUB $PRIV) - md_s0))" -v hz="$HZ" \
	    -v mib="$((3 * BIG_MIB))" 'BEGIN { printf "proxy CPU %.0f ms \
per GiB, %.0f%% of it in the kernel", t * 1000 / hz * 1024 / mib, \
	    t ? 100 * s / t : 0 }')"
	md_best=$(dl_best "$PUB_PORT")
	if [ -n "$md_best" ]; then
		result dl "$md_best"
	else
		bnote "$bn_path" "download: $(grep "^$PUB_PORT " \
		    "$T/dl.$bn_path" | head -n 1)"
	fi
	md_best=$(dl_best "$P_NGINX")
	[ "$PUB_PORT" = "$P_NGINX" ] || [ -z "$md_best" ] ||
	    result dlref "$md_best"
}

# dl_best PORT: the best download to PORT, MiB/s.
dl_best()
{
	awk -v port="$1" -v size="$md_size" '$1 == port && $2 == 200 &&
	    $3 == size && $4 > best { best = $4 }
	    END { if (best) printf "%.0f\n", best / 1048576 }' \
	    "$T/dl.$bn_path"
}

# hold_start TAG N: client processes for N more connections, at most
# 5,000 (descriptors) each and at least two (cores); waits for their
# status files, $T/hold.TAG.I.st; pids in HOLD_PIDS.
hold_start()
{
	hs_procs=$((($2 + 4999) / 5000))
	[ "$hs_procs" -ge 2 ] || hs_procs=2
	hs_i=0
	while [ "$hs_i" -lt "$hs_procs" ]; do
		hs_n=$(($2 / hs_procs))
		[ "$hs_i" -ne 0 ] || hs_n=$((hs_n + $2 % hs_procs))
		rm -f "$T/hold.$1.$hs_i.st"
		start_daemon hold python3 "$HOLD_PY" "$PUB_PORT" "$NAME" \
		    "$C/root.crt" "$hs_n" "$T/hold.$1.$hs_i.st" "$HOLD_TIME"
		HOLD_PIDS="$HOLD_PIDS $(dpid hold)"
		hs_i=$((hs_i + 1))
	done
	hs_w=0
	while [ "$hs_w" -lt $(((HOLD_TIME + 30) * 10)) ]; do
		hs_done=0
		for hs_f in "$T/hold.$1".*.st; do
			[ ! -f "$hs_f" ] || hs_done=$((hs_done + 1))
		done
		[ "$hs_done" -lt "$hs_procs" ] || break
		sleep 0.1
		hs_w=$((hs_w + 1))
	done
}

# hold_count TAG...: "held seconds why:count ..." over the clients of
# TAG, from their "held N failed M in S s why:count ..."
hold_count()
{
	for hc_t in "$@"; do
		cat "$T/hold.$hc_t".*.st 2>/dev/null
	done | awk '
	{
		held += $2
		if ($6 > secs)
			secs = $6
		for (i = 8; i <= NF; i++) {
			split($i, kv, ":")
			why[kv[1]] += kv[2]
		}
	}
	END {
		printf "%d %.0f", held, secs
		for (w in why)
			printf " %s:%d", w, why[w]
		printf "\n"
	}'
}

# fds PID...: open descriptors of the processes and their descendants.
fds()
{
	for fd_p in $(tree "$@"); do
		ls "/proc/$fd_p/fd" 2>/dev/null
	done | grep -c .
}

# per BEFORE AFTER N: the growth per connection, KiB or descriptors.
per()
{
	awk -v a="$1" -v b="$2" -v n="$3" \
	    'BEGIN { printf "%.1f\n", (b - a) / n }'
}

# m_hold: memory per connection with HOLD_SMALL, then HOLD connections
# held open (the first ones stay).
m_hold()
{
	sleep 1		# the connections of the last measure close
	mh_pub=$(rss $PUB)
	mh_priv=$(rss $PRIV)
	mh_fpub=$(fds $PUB)
	mh_fpriv=$(fds $PRIV)
	HOLD_PIDS=
	mh_s2=0
	mh_why2=
	hold_start a "$HOLD_SMALL"
	read -r mh_n1 mh_s1 mh_why1 <<EOT
$(hold_count a)
EOT
	mh_pub1=$(rss $PUB)
	mh_priv1=$(rss $PRIV)
	mh_n2=$mh_n1
	if [ "$HOLD" -gt "$HOLD_SMALL" ]; then
		hold_start b $((HOLD - HOLD_SMALL))
		read -r mh_n2 mh_s2 mh_why2 <<EOT
$(hold_count a b)
EOT
	fi
	mh_pub2=$(rss $PUB)
	mh_priv2=$(rss $PRIV)
	mh_fpub2=$(fds $PUB)
	mh_fpriv2=$(fds $PRIV)
	for mh_p in $HOLD_PIDS; do
		stop_pid "$mh_p"
	done
	echo "held $mh_n1 in $mh_s1 s, $mh_n2 in $mh_s2 s more" \
	    >"$T/held.$bn_path"
	drained || bnote "$bn_path" "connections still open 20 s after" \
	    "the clients closed them"
	[ "$mh_n1" -ge "$HOLD_SMALL" ] ||
	    bnote "$bn_path" "held $mh_n1 of $HOLD_SMALL (${mh_why1:-no status})"
	if [ "$mh_n2" -lt "$HOLD" ] && [ "$mh_n2" -gt 0 ]; then
		mh_fd="$(per "$mh_fpub" "$mh_fpub2" "$mh_n2") public side"
		[ -z "$PRIV" ] || mh_fd="$mh_fd, $(per "$mh_fpriv" \
		    "$mh_fpriv2" "$mh_n2") private side"
		bnote "$bn_path" "held $mh_n2 of $HOLD (${mh_why2:-}):" \
		    "descriptors per connection held: $mh_fd"
	elif [ "$mh_n2" -lt "$HOLD" ]; then
		bnote "$bn_path" "held none of $HOLD (${mh_why2:-no status})"
	fi
	if [ "$mh_n1" -gt 0 ]; then
		result held1 "$mh_n1"
		[ -z "$PUB" ] || result pub1 "$(per "$mh_pub" "$mh_pub1" "$mh_n1")"
		[ -z "$PRIV" ] ||
		    result priv1 "$(per "$mh_priv" "$mh_priv1" "$mh_n1")"
	fi
	if [ "$mh_n2" -gt 0 ]; then
		result held2 "$mh_n2"
		[ -z "$PUB" ] || result pub2 "$(per "$mh_pub" "$mh_pub2" "$mh_n2")"
		[ -z "$PRIV" ] ||
		    result priv2 "$(per "$mh_priv" "$mh_priv2" "$mh_n2")"
	fi
}

# answers: the path gives the JSON answer.
answers()
{
	curl -sS --max-time 10 --cacert "$C/root.crt" \
	    --resolve "$NAME:$PUB_PORT:127.0.0.1" "$(url /jsonrpc)" \
	    >"$T/answer" 2>&1 && grep -q success "$T/answer"
}

# bench PATH: start the path, check it answers, measure it, stop it.
bench()
{
	bn_path=$1
	echo "$bn_path	$(label "$bn_path")" >>"$T/order"
	bn_t0=$(date +%s)
	: >"$T/held.$bn_path"
	PUB=
	PRIV=
	STOP=
	WHY=
	WHOLE=
	if ! "up_$bn_path"; then
		[ -z "$WHOLE" ] || result whole "$WHOLE"
		bnote "$bn_path" "$WHY"
	elif ! answers; then
		bnote "$bn_path" "no answer through the path:" \
		    "$(head -c 200 "$T/answer")"
	else
		m_conns
		m_fresh
		m_hold
		m_download
	fi
	[ ! -s "$T/logmarks" ] || pp_trouble | while read -r bn_l; do
		bnote "$bn_path" "$bn_l"
	done
	for bn_d in $STOP; do
		stop_daemon "$bn_d"
	done
	note "$(label "$bn_path"): $(($(date +%s) - bn_t0)) s$(sed 's/^/, /' \
	    "$T/held.$bn_path" | tr -d '\n')"
}

# ---------------------------------------------------------------- table

# table: one row per path, every figure with its ratio to direct.
table()
{
	awk -F '\t' -v n1="$HOLD_SMALL" -v n2="$HOLD" '
	FILENAME == ARGV[1] { id[++rows] = $1; name[$1] = $2; next }
	{ v[$1, $2] = $3 }
	function has(p, k) { return (p, k) in v }
	# cell P KEY REF FMT MODE: the figure, and "(r×)" against REF of
	# the direct row, or "(+d)" for MODE "+"
	function cell(p, k, ref, fmt, mode,    s, x, r) {
		if (!has(p, k))
			return (k ~ /priv/ && p !~ /^(sshr|pool)/) ? "n/a" : "-"
		x = v[p, k]
		s = sprintf(fmt, x)
		if (k ~ /^(pub|priv)/ && v[p, "held" substr(k, length(k))] < \
		    (substr(k, length(k)) == 1 ? n1 : n2))
			s = s " @" v[p, "held" substr(k, length(k))]
		if (p == "direct" || !(has("direct", ref) || has(p, ref "ref")))
			return s
		# the direct figure measured beside this path, else the row
		r = has(p, ref "ref") ? v[p, ref "ref"] : v["direct", ref]
		if (mode == "+")
			return s sprintf(" (%+.2f)", x - r)
		if (r <= 0)
			return s
		r = x / r
		return s sprintf(r < 10 ? " (%.2f×)" : " (%.0f×)", r)
	}
	function width(s,    t) {
		t = s
		return length(s) - gsub(/[\200-\277]/, "", t)
	}
	function pad(s, w) {
		return s sprintf("%" (w - width(s)) "s", "")
	}
	END {
		h[1] = "path"; h[2] = "conn/s"; h[3] = "CPU pub µs/c"
		h[4] = "CPU priv µs/c"; h[5] = "p50 ms"; h[6] = "p99 ms"
		h[7] = "download MiB/s"
		h[8] = "pub KiB/c @" n1; h[9] = "priv KiB/c @" n1
		h[10] = "pub KiB/c @" n2; h[11] = "priv KiB/c @" n2
		cols = 11
		for (i = 1; i <= rows; i++) {
			p = id[i]
			c[i, 1] = name[p]
			c[i, 2] = cell(p, "conn", "conn", "%.0f", "x")
			c[i, 3] = cell(p, "cpupub", "cpupub", "%.0f", "x")
			c[i, 4] = cell(p, "cpupriv", "cpupub", "%.0f", "x")
			c[i, 5] = cell(p, "p50", "p50", "%.2f", "+")
			c[i, 6] = cell(p, "p99", "p99", "%.2f", "x")
			c[i, 7] = cell(p, "dl", "dl", "%.0f", "x")
			c[i, 8] = cell(p, "pub1", "pub1", "%.1f", "x")
			c[i, 9] = cell(p, "priv1", "pub1", "%.1f", "x")
			c[i, 10] = cell(p, "pub2", "pub2", "%.1f", "x")
			c[i, 11] = cell(p, "priv2", "pub2", "%.1f", "x")
		}
		for (j = 1; j <= cols; j++) {
			w[j] = width(h[j])
			for (i = 1; i <= rows; i++)
				if (!has(id[i], "whole") && width(c[i, j]) > w[j])
					w[j] = width(c[i, j])
		}
		line = "|"
		rule = "|"
		for (j = 1; j <= cols; j++) {
			line = line " " pad(h[j], w[j]) " |"
			rule = rule sprintf("%" (w[j] + 2) "s|", "")
		}
		gsub(/ /, "-", rule)
		print line
		print rule
		for (i = 1; i <= rows; i++) {
			line = "| " pad(c[i, 1], w[1]) " |"
			if (has(id[i], "whole")) {
				print line " " v[id[i], "whole"]
				continue
			}
			for (j = 2; j <= cols; j++)
				line = line " " pad(c[i, j], w[j]) " |"
			print line
		}
	}' "$T/order" "$T/results"
}

legend()
{
	cat <<EOT

conn/s: wrk -t2 -c25 -d${SECS}s, "Connection: close", new TLS connections
per second.  CPU: user + system time of the proxy per connection of that
run, public side (proxyd + epsd, haproxy, nginx stream, sshd) and private
side (privproxyd + epsd, ssh client); the direct row is the backend nginx.
p50, p99: time to the first byte of $FRESH fresh connections in a row.
download: best of 3 x $BIG_MIB MiB.
KiB/c: resident memory per established idle TLS connection, with $HOLD_SMALL
and with $HOLD held; the direct row is the backend nginx; "@N": only N held.
(r×), (+added): to direct; for conn/s, CPU, p50, p99 and download, to the
same measure made directly just before, or interleaved, with the path's
own, as the machine may be busy.  n/a: no such side; -: failed, see the
notes.
EOT
}

versions()
{
	printf '%s; %s; %s; %s\n' \
	    "$(nginx -v 2>&1 | sed 's/.*version: //')" \
	    "$(haproxy -v 2>/dev/null | head -n 1 | cut -d' ' -f1-3)" \
	    "$(ssh -V 2>&1 | cut -d, -f1)" \
	    "$(python3 -V 2>&1)"
}

# ------------------------------------------------------------------ run

MADE_RUN_SSHD=0
bench_cleanup()
{
	[ "$MADE_RUN_SSHD" = 0 ] || rmdir /run/sshd 2>/dev/null
	cleanup
}
trap bench_cleanup EXIT

deps
need nginx wrk curl python3 unshare ss seq
cat >"$T/pct.awk" <<'EOT'
# the q-quantile of sorted numbers, seconds in, milliseconds out
{ x[NR] = $1 }
END {
	i = int(NR * q + 0.999999)
	if (i < 1)
		i = 1
	printf "%.2f\n", x[i] * 1000
}
EOT
: >"$T/results"
: >"$T/notes"
: >"$T/order"
: >"$T/logmarks"
certs
start_nginx
pass setup
bn_start=$(date +%s)
bn_load=$(cut -d' ' -f1-3 /proc/loadavg)
for bn_p in $PATHS; do
	bench "$bn_p"
done

echo
echo "bench: $(nproc) CPUs, load average $bn_load before and" \
    "$(cut -d' ' -f1-3 /proc/loadavg) after; SECONDS_PER_RUN=$SECS" \
    "FRESH=$FRESH HOLD=$HOLD POOL=$POOL"
echo "bench: $(versions)"
echo
table
legend
if [ -s "$T/notes" ]; then
	echo
	echo "notes:"
	sed 's/^/  /' "$T/notes"
fi
echo
echo "bench: $(($(date +%s) - bn_start)) s"
