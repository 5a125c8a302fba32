#!/bin/sh
# Configuration checks with -n, for all three daemons: a good file says
# "configuration OK" and exits 0; an error says file:line: and exits 1;
# macros (in the file and with -D) and include work.
. "$(dirname "$0")/../lib.sh"

ports
P_IS=8888
certs

# conf_ok CHECK DAEMON FILE [ARGS]: -n accepts FILE.  All output goes to
# n.log too, where the harness looks for sanitizer reports.
conf_ok()
{
	co_check=$1
	co_d=$2
	co_f=$3
	shift 3
	"$BIN/$co_d" -n "$@" -f "$co_f" >"$T/n.out" 2>&1
	co_rc=$?
	cat "$T/n.out" >>"$T/n.log"
	if [ "$co_rc" -eq 0 ] && grep -qx "configuration OK" "$T/n.out"; then
		pass "$co_check"
	else
		fail "$co_check" "$co_d -n $* -f ${co_f##*/}: exit $co_rc: \
$(head -n 3 "$T/n.out" | tr '\n' ' ')"
	fi
}

# conf_err CHECK DAEMON FILE WHERE [ARGS]: -n rejects FILE, naming WHERE
# (file:line) first, and exits 1.
conf_err()
{
	ce_check=$1
	ce_d=$2
	ce_f=$3
	ce_where=$4
	shift 4
	"$BIN/$ce_d" -n "$@" -f "$ce_f" >"$T/n.out" 2>&1
	ce_rc=$?
	cat "$T/n.out" >>"$T/n.log"
	if [ "$ce_rc" -eq 1 ] && ! grep -q "configuration OK" "$T/n.out" &&
	    head -n 1 "$T/n.out" | grep -q "^$ce_where: "; then
		pass "$ce_check"
	else
		fail "$ce_check" "$ce_d -n $* -f ${ce_f##*/}: exit $ce_rc, \
wanted 1 and \"$ce_where: ...\" first: $(head -n 3 "$T/n.out" | tr '\n' ' ')"
	fi
}

# with_error FILE LINE TEXT: FILE with TEXT inserted as line LINE.
with_error()
{
	awk -v n="$2" -v t="$3" 'NR == n { print t } { print }' "$1"
}

conf_proxyd
conf_privproxyd
conf_epsd_public
conf_epsd_private
cp "$T/epsd-public.conf" "$T/epsd.conf"

for d in proxyd privproxyd epsd; do
	f=$T/$d.conf
	conf_ok "$d-good" "$d" "$f"

	with_error "$f" 4 "bogus directive here" >"$T/$d-err4.conf"
	conf_err "$d-error-line" "$d" "$T/$d-err4.conf" "$T/$d-err4.conf:4"

	with_error "$f" 3 'user "nobody" "extra"' >"$T/$d-err3.conf"
	conf_err "$d-error-line-3" "$d" "$T/$d-err3.conf" "$T/$d-err3.conf:3"

	# a macro defined in the file, used in a string
	{ echo 'who = "nobody"'; sed 's/^user "nobody"/user $who/' "$f"; } \
	    >"$T/$d-macro.conf"
	conf_ok "$d-macro" "$d" "$T/$d-macro.conf"

	# an undefined macro is an error on its line
	sed 's/^user "nobody"/user $nosuchmacro/' "$f" >"$T/$d-undef.conf"
	line=$(grep -n 'nosuchmacro' "$T/$d-undef.conf" | cut -d: -f1)
	conf_err "$d-macro-undefined" "$d" "$T/$d-undef.conf" \
	    "$T/$d-undef.conf:$line"

	# the same macro given with -D
	conf_ok "$d-macro-D" "$d" "$T/$d-undef.conf" -D nosuchmacro=nobody

	# -D wins over the file's definition of the same macro
	{ echo 'who = "no such user name that is far too long for a user'\
' name field in any configuration file at all, really far too long"'
	  sed 's/^user "nobody"/user $who/' "$f"; } >"$T/$d-override.conf"
	conf_ok "$d-macro-D-overrides" "$d" "$T/$d-override.conf" -D who=nobody

	# include: the user line moved to another file
	grep '^user ' "$f" >"$T/$d-inc-user.conf"
	{ echo "include \"$T/$d-inc-user.conf\""; grep -v '^user ' "$f"; } \
	    >"$T/$d-include.conf"
	conf_ok "$d-include" "$d" "$T/$d-include.conf"

	# an error in an included file names that file and its line
	printf '# included\nbogus directive\n' >"$T/$d-inc-bad.conf"
	{ cat "$f"; echo "include \"$T/$d-inc-bad.conf\""; } \
	    >"$T/$d-include-bad.conf"
	conf_err "$d-include-error" "$d" "$T/$d-include-bad.conf" \
	    "$T/$d-inc-bad.conf:2"

	# a missing file
	"$BIN/$d" -n -f "$T/nonexistent.conf" >"$T/n.out" 2>&1
	rc=$?
	check "$d-missing-file" "exit $rc for a missing file, wanted 1" \
	    [ "$rc" -eq 1 ]
done

# semantic errors, on their line
sed "s/^listen on 127.0.0.1 port $P_PUBLIC/listen on 127.0.0.1 port 70000/" \
    "$T/proxyd.conf" >"$T/proxyd-port.conf"
conf_err proxyd-bad-port proxyd "$T/proxyd-port.conf" \
    "$T/proxyd-port.conf:$(grep -n 70000 "$T/proxyd-port.conf" | cut -d: -f1)"
PROXYD_OPS='operator "private" {
	allow "bad..name"
}'
conf_proxyd
conf_err proxyd-bad-allow proxyd "$T/proxyd.conf" \
    "$T/proxyd.conf:$(grep -n bad..name "$T/proxyd.conf" | cut -d: -f1)"
sed 's/^announce ttl 60/announce ttl 1/' "$T/privproxyd.conf" \
    >"$T/privproxyd-ttl.conf"
conf_err privproxyd-bad-ttl privproxyd "$T/privproxyd-ttl.conf" \
    "$T/privproxyd-ttl.conf:$(grep -n 'ttl 1$' "$T/privproxyd-ttl.conf" |
    cut -d: -f1)"
sed 's/allow { "announce", "withdraw" }/allow "not a method"/' \
    "$T/epsd.conf" >"$T/epsd-method.conf"
conf_err epsd-bad-method epsd "$T/epsd-method.conf" \
    "$T/epsd-method.conf:$(grep -n 'not a method' "$T/epsd-method.conf" |
    cut -d: -f1)"
