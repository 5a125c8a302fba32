#!/bin/sh
# Configuration checks with -n, for all three daemons: a good file says
# "configuration OK" and exits 0; an error says file:line: and exits 1;
# macros (in the file and with -D) and include work.
. "$(dirname "$0")/../lib.sh"

ports
P_IS=8888
certs

conf_proxyd
conf_privproxyd
conf_epsd_public
conf_epsd_private
cp "$T/epsd-public.conf" "$T/epsd.conf"

for d in proxyd privproxyd epsd; do
	f=$T/$d.conf
	check_conf_ok "$d-good" "$d" "$f"

	insert_line "$f" 4 "bogus directive here" >"$T/$d-err4.conf"
	check_conf_err "$d-error-line" "$d" "$T/$d-err4.conf" \
	    "$T/$d-err4.conf:4"

	insert_line "$f" 3 'user "nobody" "extra"' >"$T/$d-err3.conf"
	check_conf_err "$d-error-line-3" "$d" "$T/$d-err3.conf" \
	    "$T/$d-err3.conf:3"

	# a macro defined in the file, used in a string
	{ echo 'who = "nobody"'; sed 's/^user "nobody"/user $who/' "$f"; } \
	    >"$T/$d-macro.conf"
	check_conf_ok "$d-macro" "$d" "$T/$d-macro.conf"

	# an undefined macro is an error on its line
	sed 's/^user "nobody"/user $nosuchmacro/' "$f" >"$T/$d-undef.conf"
	check_conf_err "$d-macro-undefined" "$d" "$T/$d-undef.conf" \
	    "$(where "$T/$d-undef.conf" nosuchmacro)"

	# the same macro given with -D
	check_conf_ok "$d-macro-D" "$d" "$T/$d-undef.conf" -D nosuchmacro=nobody

	# -D wins over the file's definition of the same macro
	{ echo 'who = "no such user name that is far too long for a user'\
' name field in any configuration file at all, really far too long"'
	  sed 's/^user "nobody"/user $who/' "$f"; } >"$T/$d-override.conf"
	check_conf_ok "$d-macro-D-overrides" "$d" "$T/$d-override.conf" \
	    -D who=nobody

	# include: the user line moved to another file
	grep '^user ' "$f" >"$T/$d-inc-user.conf"
	{ echo "include \"$T/$d-inc-user.conf\""; grep -v '^user ' "$f"; } \
	    >"$T/$d-include.conf"
	check_conf_ok "$d-include" "$d" "$T/$d-include.conf"

	# an error in an included file names that file and its line
	printf '# included\nbogus directive\n' >"$T/$d-inc-bad.conf"
	{ cat "$f"; echo "include \"$T/$d-inc-bad.conf\""; } \
	    >"$T/$d-include-bad.conf"
	check_conf_err "$d-include-error" "$d" "$T/$d-include-bad.conf" \
	    "$T/$d-inc-bad.conf:2"

	# a missing file
	conf_n "$d" "$T/nonexistent.conf"
	check "$d-missing-file" "exit $CN_RC for a missing file, wanted 1" \
	    [ "$CN_RC" -eq 1 ]
done

# semantic errors, on their line
sed "s/^listen on 127.0.0.1 port $P_PUBLIC/listen on 127.0.0.1 port 70000/" \
    "$T/proxyd.conf" >"$T/proxyd-port.conf"
check_conf_err proxyd-bad-port proxyd "$T/proxyd-port.conf" \
    "$(where "$T/proxyd-port.conf" 70000)"
PROXYD_OPS='operator "private" {
	allow "bad..name"
}'
conf_proxyd
check_conf_err proxyd-bad-allow proxyd "$T/proxyd.conf" \
    "$(where "$T/proxyd.conf" 'bad\.\.name')"
sed 's/^announce ttl 60/announce ttl 1/' "$T/privproxyd.conf" \
    >"$T/privproxyd-ttl.conf"
check_conf_err privproxyd-bad-ttl privproxyd "$T/privproxyd-ttl.conf" \
    "$(where "$T/privproxyd-ttl.conf" 'ttl 1$')"
sed 's/allow { "announce", "withdraw" }/allow "not a method"/' \
    "$T/epsd.conf" >"$T/epsd-method.conf"
check_conf_err epsd-bad-method epsd "$T/epsd-method.conf" \
    "$(where "$T/epsd-method.conf" 'not a method')"
