#!/bin/sh
# What a configuration error says.  A syntax error names the token it did
# not expect (a misspelt keyword, a string, a number, the end of a line
# or of the file), in all three grammars.  epsd's TLS files are read and
# checked as the daemon will use them (missing, unreadable, not a
# certificate, not a key, a key that is not the certificate's, no CA),
# each error at the line of its "tls" statement, with -n, at start and on
# a reload.  A "user" that does not exist is an error at its line; the
# default user, when there is no "user" statement, is checked without a
# line.  With SANITIZE=1 the harness also finds any sanitizer report
# (such as the use-after-free a bad certificate used to cause).
. "$(dirname "$0")/../lib.sh"

ports
P_IS=8888
certs

# n_err CHECK DAEMON FILE REGEX [ARGS]: DAEMON -n rejects FILE, exits 1
# and says REGEX (extended) in its first line.  The output goes to n.log
# too, where the harness looks for sanitizer reports.  (A daemon that
# waits, say for a FIFO's writer, is stopped after 20 s.)
n_err()
{
	ne_check=$1
	ne_d=$2
	ne_f=$3
	ne_re=$4
	shift 4
	timeout -k 5 20 "$BIN/$ne_d" -n "$@" -f "$ne_f" >"$T/n.out" 2>&1
	ne_rc=$?
	cat "$T/n.out" >>"$T/n.log"
	if [ "$ne_rc" -eq 1 ] && ! grep -q "configuration OK" "$T/n.out" &&
	    head -n 1 "$T/n.out" | grep -Eq -- "$ne_re"; then
		pass "$ne_check"
	else
		fail "$ne_check" "$ne_d -n -f ${ne_f##*/}: exit $ne_rc, wanted \
1 and /$ne_re/ first: $(head -n 3 "$T/n.out" | tr '\n' ' ')"
	fi
}

# n_ok CHECK DAEMON FILE [ARGS]: DAEMON -n accepts FILE.
n_ok()
{
	no_check=$1
	no_d=$2
	no_f=$3
	shift 3
	timeout -k 5 20 "$BIN/$no_d" -n "$@" -f "$no_f" >"$T/n.out" 2>&1
	no_rc=$?
	cat "$T/n.out" >>"$T/n.log"
	if [ "$no_rc" -eq 0 ] && grep -qx "configuration OK" "$T/n.out"; then
		pass "$no_check"
	else
		fail "$no_check" "$no_d -n -f ${no_f##*/}: exit $no_rc: \
$(head -n 3 "$T/n.out" | tr '\n' ' ')"
	fi
}

# start_err CHECK DAEMON FILE REGEX: started in the foreground, DAEMON
# refuses FILE, exits 1 and says REGEX in its first line.
start_err()
{
	se_check=$1
	se_d=$2
	se_f=$3
	se_re=$4
	timeout -k 5 20 "$BIN/$se_d" -d -f "$se_f" >"$T/start.out" 2>&1 \
	    </dev/null
	se_rc=$?
	cat "$T/start.out" >>"$T/start.log"
	if [ "$se_rc" -eq 1 ] && head -n 1 "$T/start.out" |
	    grep -Eq -- "$se_re"; then
		pass "$se_check"
	else
		fail "$se_check" "$se_d -d -f ${se_f##*/}: exit $se_rc, wanted \
1 and /$se_re/ first: $(head -n 3 "$T/start.out" | tr '\n' ' ')"
	fi
}

# lineof FILE TEXT: the number of the first line of FILE with TEXT.
lineof()
{
	grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# ere TEXT: TEXT as an extended regular expression matching itself.
ere()
{
	printf '%s\n' "$1" | sed 's/[.[\\*^$+?(){}|]/\\&/g'
}

# edit NAME FROM SED: $T/NAME.conf is $T/FROM.conf edited by SED.
edit()
{
	sed "$3" "$T/$2.conf" >"$T/$1.conf"
}

conf_proxyd
conf_privproxyd
conf_epsd_public
cp "$T/proxyd.conf" "$T/p.conf"
cp "$T/privproxyd.conf" "$T/pp.conf"
cp "$T/epsd-public.conf" "$T/e.conf"
n_ok good-proxyd proxyd "$T/p.conf"
n_ok good-privproxyd privproxyd "$T/pp.conf"
n_ok good-epsd epsd "$T/e.conf"

# ------------------------------------------------------- syntax errors

# a misspelt keyword in a block, in each grammar
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	alow "x"
}'
conf_proxyd
f=$T/proxyd.conf
n_err proxyd-misspelt-in-block proxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" alow): syntax error: unexpected \"alow\"$"
PROXYD_OPS=$DEFAULT_PROXYD_OPS

EPSPUB_PEERS='peer "private" {
	alow "announce"
}'
conf_epsd_public
f=$T/epsd-public.conf
n_err epsd-misspelt-in-block epsd "$f" \
    "^$(ere "$f"):$(lineof "$f" alow): syntax error: unexpected \"alow\"$"
EPSPUB_PEERS=$DEFAULT_EPSPUB_PEERS

PP_DOMAINS="domain \"$NAME\" {
	forwrd to 127.0.0.1 port $P_IS
}"
conf_privproxyd
f=$T/privproxyd.conf
n_err privproxyd-misspelt-in-block privproxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" forwrd): syntax error: unexpected \"forwrd\"$"
unset PP_DOMAINS

# a misspelt keyword outside a block, where a word may start "name = value"
edit p-top p 's/^prefork /prefrok /'
f=$T/p-top.conf
n_err proxyd-misspelt proxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" prefrok): syntax error: unexpected \"prefrok\"$"
edit pp-top pp 's/^announce ttl/anounce ttl/'
f=$T/pp-top.conf
n_err privproxyd-misspelt privproxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" anounce): syntax error: unexpected \"anounce\"$"
edit e-top e 's/^operator "public"/operater "public"/'
f=$T/e-top.conf
n_err epsd-misspelt epsd "$f" \
    "^$(ere "$f"):$(lineof "$f" operater): syntax error: unexpected \"operater\"$"

# a keyword, a string, a number, a brace where they do not belong
edit e-kw e 's/^heartbeat 2/heartbeat allow/'
f=$T/e-kw.conf
n_err epsd-unexpected-keyword epsd "$f" \
    "^$(ere "$f"):$(lineof "$f" 'heartbeat allow'): syntax error: unexpected \"allow\"$"
edit p-str p 's/^user "nobody"/user "nobody" "extra"/'
f=$T/p-str.conf
n_err proxyd-unexpected-string proxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" '"extra"'): syntax error: unexpected string \"extra\"$"
edit pp-num pp 's/^announce ttl 60/announce ttl 60 61/'
f=$T/pp-num.conf
n_err privproxyd-unexpected-number privproxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" '60 61'): syntax error: unexpected number 61$"
edit p-brace p 's/^prefork 2/prefork {/'
f=$T/p-brace.conf
n_err proxyd-unexpected-brace proxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" 'prefork {'): syntax error: unexpected \"\\{\"$"

# a statement cut short: the end of its line
edit e-eol e 's/^listen on 127.0.0.1 port .*/listen on 127.0.0.1 port/'
f=$T/e-eol.conf
n_err epsd-unexpected-eol epsd "$f" \
    "^$(ere "$f"):$(lineof "$f" 'listen on'): syntax error: unexpected end of line$"

# the last block left open: the end of the file, on its last line
for d in p pp e; do
	awk '{ l[NR] = $0 } $0 == "}" { last = NR }
	    END { for (i = 1; i <= NR; i++) if (i != last) print l[i] }' \
	    "$T/$d.conf" >"$T/$d-eof.conf"
	f=$T/$d-eof.conf
	case $d in
	p)	dn=proxyd ;;
	pp)	dn=privproxyd ;;
	e)	dn=epsd ;;
	esac
	n_err "$dn-unexpected-eof" "$dn" "$f" \
	    "^$(ere "$f"):$(wc -l <"$f" | tr -d ' '): syntax error: unexpected end of file$"
done

# what is shown of a word is cut short and made printable
long=$(printf 'x%.0s' $(seq 1 100))
edit p-long p "s/^prefork 2/prefork 2 \"$(printf 'a\033b')$long\"/"
f=$T/p-long.conf
n_err proxyd-unexpected-shown proxyd "$f" \
    "^$(ere "$f"):$(lineof "$f" 'prefork 2 '): syntax error: unexpected string \"a\\\\033bx{37}\.\.\.\"$"

# ------------------------------------------------------------ TLS files

e_line()
{
	lineof "$T/e.conf" "tls $1 "
}
cert_line=$(e_line certificate)
key_line=$(e_line key)
ca_line=$(e_line ca)

# tls_err CHECK WHAT FILE REASON: with "tls WHAT FILE" in the public
# epsd.conf, -n and a start say "e-CHECK.conf:LINE: tls WHAT "FILE":
# REASON" (REASON an extended regular expression) at the statement's line.
tls_err()
{
	te_line=$(e_line "$2")
	awk -v w="$2" -v p="$3" '$1 == "tls" && $2 == w {
		print "tls " w " \"" p "\""; next } { print }' "$T/e.conf" \
	    >"$T/e-$1.conf"
	te_re="^$(ere "$T/e-$1.conf"):$te_line: tls $2 \"$(ere "$3")\": $4"
	n_err "epsd-$1" epsd "$T/e-$1.conf" "$te_re"
	start_err "epsd-$1-start" epsd "$T/e-$1.conf" "$te_re"
}

tls_err missing-cert certificate "$T/nonexistent.crt" \
    "No such file or directory$"
tls_err key-as-cert certificate "$C/epsd-public.key" "."
tls_err dir-as-cert certificate "$C" "not a regular file$"
tls_err missing-key key "$T/nonexistent.key" "No such file or directory$"
tls_err cert-as-key key "$C/epsd-public.crt" \
    "not a private key, or an encrypted one$"
tls_err mismatched-key key "$C/epsd-private.key" \
    "does not match tls certificate \"$(ere "$C/epsd-public.crt")\""
tls_err key-as-ca ca "$C/root.key" "no CA certificate"
mkfifo "$T/fifo"
tls_err fifo-as-ca ca "$T/fifo" "not a regular file$"

# an unreadable file: the key (mode 0600, root's) read by another user
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$BIN/epsd" -n -f "$T/e.conf" >"$T/n.out" 2>&1
	rc=$?
	cat "$T/n.out" >>"$T/n.log"
	re="^$(ere "$T/e.conf"):$key_line: tls key \"$(ere \
	    "$C/epsd-public.key")\": Permission denied$"
	if [ "$rc" -eq 1 ] && grep -Eq -- "$re" "$T/n.out"; then
		pass epsd-unreadable-key
	else
		fail epsd-unreadable-key "exit $rc, no /$re/: $(head -n 3 \
		    "$T/n.out" | tr '\n' ' ')"
	fi
else
	skip epsd-unreadable-key "needs root and setpriv"
fi

# the tls statements in an included file: its name and line
grep '^tls ' "$T/e.conf" | sed "s|epsd-public.key|epsd-private.key|" \
    >"$T/e-tls.inc"
{ grep -v '^tls ' "$T/e.conf"; echo "include \"$T/e-tls.inc\""; } \
    >"$T/e-inc.conf"
n_err epsd-tls-included epsd "$T/e-inc.conf" \
    "^$(ere "$T/e-tls.inc"):$(lineof "$T/e-tls.inc" 'tls key'): tls key "

# a reload with a key that does not match is refused, and says where
start_epsd_public
from=$(lines "$T/epsd-public.log")
cp "$T/epsd-public.conf" "$T/epsd-public.conf.good"
sed "s|epsd-public.key|epsd-private.key|" "$T/epsd-public.conf.good" \
    >"$T/epsd-public.conf"
kill -HUP "$(dpid epsd-public)"
assert_log reload-mismatched-key "$T/epsd-public.log" \
    "(^|[0-9] )$(ere "$T/epsd-public.conf"):$(lineof \
    "$T/epsd-public.conf" 'tls key'): tls key .*does not match" 10 "$from"
assert_log reload-refused "$T/epsd-public.log" "not reloaded" 10 "$from"
check reload-still-running "epsd-public is gone after a refused reload" \
    alive "$(dpid epsd-public)"
stop_daemon epsd-public

# ----------------------------------------------------------------- user

for d in p pp e; do
	case $d in
	p)	dn=proxyd ;;
	pp)	dn=privproxyd ;;
	e)	dn=epsd ;;
	esac
	edit "$d-nouser" "$d" 's/^user "nobody"/user "nosuchuser"/'
	f=$T/$d-nouser.conf
	n_err "$dn-no-such-user" "$dn" "$f" \
	    "^$(ere "$f"):$(lineof "$f" nosuchuser): user \"nosuchuser\": no such user$"
	edit "$d-root" "$d" 's/^user "nobody"/user "root"/'
	f=$T/$d-root.conf
	n_err "$dn-user-root" "$dn" "$f" \
	    "^$(ere "$f"):$(lineof "$f" '"root"'): user \"root\": is root"

	# no "user": the default, which must exist when started as root
	edit "$d-default" "$d" '/^user /d'
	f=$T/$d-default.conf
	"$BIN/$dn" -n -f "$f" >"$T/n.out" 2>&1
	rc=$?
	cat "$T/n.out" >>"$T/n.log"
	duser=$(sed -n 's/^[a-z]*: user "\([^"]*\)" does not exist.*/\1/p' \
	    "$T/n.out" | head -n 1)
	if [ "$(id -u)" -ne 0 ]; then
		skip "$dn-default-user" "needs root"
	elif [ "$rc" -eq 0 ] && grep -qx "configuration OK" "$T/n.out"; then
		skip "$dn-default-user" "the default user exists here"
	elif [ "$rc" -eq 1 ] && [ -n "$duser" ] && ! getent passwd "$duser" \
	    >/dev/null && head -n 1 "$T/n.out" | grep -Eq "^$dn: user \
\"$duser\" does not exist \(create it, or set \"user\" in $(ere "$f")\)$"
	then
		pass "$dn-default-user"
		# not root, the children run as the caller: only a warning
		# (epsd is left out: nobody cannot read its key)
		if [ "$dn" != epsd ] && command -v setpriv >/dev/null 2>&1
		then
			setpriv --reuid=nobody --regid=nogroup --clear-groups \
			    "$BIN/$dn" -n -f "$f" >"$T/n.out" 2>&1
			rc=$?
			cat "$T/n.out" >>"$T/n.log"
			if [ "$rc" -eq 0 ] && grep -Eq "^$dn: warning: user \
\"$duser\" does not exist" "$T/n.out"; then
				pass "$dn-default-user-unprivileged"
			else
				fail "$dn-default-user-unprivileged" "exit $rc: \
$(head -n 3 "$T/n.out" | tr '\n' ' ')"
			fi
		fi
	else
		fail "$dn-default-user" "exit $rc: $(head -n 3 "$T/n.out" |
		    tr '\n' ' ')"
	fi
done
