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

conf_proxyd
conf_privproxyd
conf_epsd_public
cp "$T/proxyd.conf" "$T/p.conf"
cp "$T/privproxyd.conf" "$T/pp.conf"
cp "$T/epsd-public.conf" "$T/e.conf"
check_conf_ok good-proxyd proxyd "$T/p.conf"
check_conf_ok good-privproxyd privproxyd "$T/pp.conf"
check_conf_ok good-epsd epsd "$T/e.conf"

# ------------------------------------------------------- syntax errors

# a misspelt keyword in a block, in each grammar
PROXYD_OPS='operator "private" {
	allow "test.internal-server.local"
	alow "x"
}'
conf_proxyd
check_syntax_err proxyd-misspelt-in-block proxyd \
    "$T/proxyd.conf" alow '"alow"'
PROXYD_OPS=$DEFAULT_PROXYD_OPS

EPSPUB_PEERS='peer "private" {
	alow "announce"
}'
conf_epsd_public
check_syntax_err epsd-misspelt-in-block epsd \
    "$T/epsd-public.conf" alow '"alow"'
EPSPUB_PEERS=$DEFAULT_EPSPUB_PEERS

PP_DOMAINS="domain \"$NAME\" {
	forwrd to 127.0.0.1 port $P_IS
}"
conf_privproxyd
check_syntax_err privproxyd-misspelt-in-block privproxyd \
    "$T/privproxyd.conf" forwrd '"forwrd"'
unset PP_DOMAINS

# a misspelt keyword outside a block, where a word may start "name = value"
edit_conf p-top p 's/^prefork /prefrok /'
check_syntax_err proxyd-misspelt proxyd \
    "$T/p-top.conf" prefrok '"prefrok"'
edit_conf pp-top pp 's/^announce ttl/anounce ttl/'
check_syntax_err privproxyd-misspelt privproxyd \
    "$T/pp-top.conf" anounce '"anounce"'
edit_conf e-top e 's/^operator "public"/operater "public"/'
check_syntax_err epsd-misspelt epsd \
    "$T/e-top.conf" operater '"operater"'

# a keyword, a string, a number, a brace where they do not belong
edit_conf e-kw e 's/^heartbeat 2/heartbeat allow/'
check_syntax_err epsd-unexpected-keyword epsd \
    "$T/e-kw.conf" 'heartbeat allow' '"allow"'
edit_conf p-str p 's/^user "nobody"/user "nobody" "extra"/'
check_syntax_err proxyd-unexpected-string proxyd \
    "$T/p-str.conf" '"extra"' 'string "extra"'
edit_conf pp-num pp 's/^announce ttl 60/announce ttl 60 61/'
check_syntax_err privproxyd-unexpected-number privproxyd \
    "$T/pp-num.conf" '60 61' 'number 61'
edit_conf p-brace p 's/^prefork 2/prefork {/'
check_syntax_err proxyd-unexpected-brace proxyd \
    "$T/p-brace.conf" 'prefork {' '"\{"'

# a statement cut short: the end of its line
edit_conf e-eol e 's/^listen on 127.0.0.1 port .*/listen on 127.0.0.1 port/'
check_syntax_err epsd-unexpected-eol epsd \
    "$T/e-eol.conf" 'listen on' 'end of line'

# the last block left open: the end of the file, on its last line
for ddn in p:proxyd pp:privproxyd e:epsd; do
	d=${ddn%:*}
	dn=${ddn#*:}
	awk '{ l[NR] = $0 } $0 == "}" { last = NR }
	    END { for (i = 1; i <= NR; i++) if (i != last) print l[i] }' \
	    "$T/$d.conf" >"$T/$d-eof.conf"
	f=$T/$d-eof.conf
	check_conf_re "$dn-unexpected-eof" "$dn" "$f" \
	    "^$(ere "$f"):$(wc -l <"$f" | tr -d ' '): syntax error: unexpected end of file$"
done

# what is shown of a word is cut short and made printable
long=$(printf 'x%.0s' $(seq 1 100))
edit_conf p-long p "s/^prefork 2/prefork 2 \"$(printf 'a\033b')$long\"/"
check_syntax_err proxyd-unexpected-shown proxyd \
    "$T/p-long.conf" 'prefork 2 ' 'string "a\\033bx{37}\.\.\."'

# ------------------------------------------------------------ TLS files

E=$T/e.conf
key_line=$(lineof "$E" "tls key ")

check_tls_err missing-cert "$E" certificate "$T/nonexistent.crt" \
    "No such file or directory$"
check_tls_err key-as-cert "$E" certificate "$C/epsd-public.key" "."
check_tls_err dir-as-cert "$E" certificate "$C" "not a regular file$"
check_tls_err missing-key "$E" key "$T/nonexistent.key" \
    "No such file or directory$"
check_tls_err cert-as-key "$E" key "$C/epsd-public.crt" \
    "not a private key, or an encrypted one$"
check_tls_err mismatched-key "$E" key "$C/epsd-private.key" \
    "does not match tls certificate \"$(ere "$C/epsd-public.crt")\""
check_tls_err key-as-ca "$E" ca "$C/root.key" "no CA certificate"
mkfifo "$T/fifo"
check_tls_err fifo-as-ca "$E" ca "$T/fifo" "not a regular file$"

# an unreadable file: the key (mode 0600, root's) read by another user
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	as_nobody "$BIN/epsd" -n -f "$T/e.conf" >"$T/n.out" 2>&1
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
check_conf_re epsd-tls-included epsd "$T/e-inc.conf" \
    "^$(ere "$T/e-tls.inc"):$(lineof "$T/e-tls.inc" 'tls key'): tls key "

# a reload with a key that does not match is refused, and says where
start_epsd_public
cp "$T/epsd-public.conf" "$T/epsd-public.conf.good"
sed "s|epsd-public.key|epsd-private.key|" "$T/epsd-public.conf.good" \
    >"$T/epsd-public.conf"
hup epsd-public
assert_log reload-mismatched-key "$T/epsd-public.log" \
    "(^|[0-9] )$(ere "$T/epsd-public.conf"):$(lineof \
    "$T/epsd-public.conf" 'tls key'): tls key .*does not match" 10 "$from"
assert_log reload-refused "$T/epsd-public.log" "not reloaded" 10 "$from"
check reload-still-running "epsd-public is gone after a refused reload" \
    alive "$(dpid epsd-public)"
stop_daemon epsd-public

# ----------------------------------------------------------------- user

for ddn in p:proxyd pp:privproxyd e:epsd; do
	d=${ddn%:*}
	dn=${ddn#*:}
	edit_conf "$d-nouser" "$d" 's/^user "nobody"/user "nosuchuser"/'
	f=$T/$d-nouser.conf
	check_conf_re "$dn-no-such-user" "$dn" "$f" \
	    "^$(ere "$f"):$(lineof "$f" nosuchuser): user \"nosuchuser\": no such user$"
	edit_conf "$d-root" "$d" 's/^user "nobody"/user "root"/'
	f=$T/$d-root.conf
	check_conf_re "$dn-user-root" "$dn" "$f" \
	    "^$(ere "$f"):$(lineof "$f" '"root"'): user \"root\": is root"

	# no "user": the default, which must exist when started as root
	edit_conf "$d-default" "$d" '/^user /d'
	f=$T/$d-default.conf
	conf_n "$dn" "$f"
	rc=$CN_RC
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
			as_nobody "$BIN/$dn" -n -f "$f" >"$T/n.out" 2>&1
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
