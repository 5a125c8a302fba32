#!/usr/bin/awk -f
#
# promcheck.awk: a strict checker of the Prometheus text exposition
# format, version 0.0.4, for what the daemons serve on /metrics and
# print for "epsctl show metrics".
#
# usage: awk -f regress/promcheck.awk [file ...]
#
# Silent and exit status 0 when the input is valid; otherwise one line
# "file:line: why" on standard error for each fault (at most 50) and
# exit status 1.  The end-to-end cases prefer "promtool check metrics"
# (Debian's prometheus package ships it) and fall back on this.  It is
# stricter than Prometheus' own parser where our writer has no reason
# to be loose:
#
#	- metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
#	  [a-zA-Z_][a-zA-Z0-9_]*, none beginning with __;
#	- "# HELP name text" (escapes \\ and \n only) and "# TYPE name
#	  type", at most one of each per family, before its samples;
#	  every sample belongs to a family that has a TYPE;
#	- the samples of a family are together; no series twice; no label
#	  twice in one sample;
#	- name{label="value",...} value [timestamp], single spaces, label
#	  values with the escapes \\ \" \n only, no trailing comma;
#	- values are floats: decimal, +Inf, -Inf or NaN; counters are not
#	  negative;
#	- a histogram's series have _bucket samples with le in increasing
#	  order, cumulative counts that never decrease, a le="+Inf"
#	  bucket equal to _count, a _sum and a _count; le appears on
#	  buckets only;
#	- no carriage returns.
#
# Blank lines and other comments are allowed, as the format says.  That
# the input ends with a newline is for the caller to check (awk cannot
# tell).

function fault(msg)
{
	nfaults++
	if (nfaults <= 50)
		printf("%s:%d: %s\n", FILENAME == "" ? "-" : FILENAME, FNR,
		    msg) > "/dev/stderr"
}

function metric_name(s)
{
	return (s ~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
}

function label_name(s)
{
	return (s ~ /^[a-zA-Z_][a-zA-Z0-9_]*$/ && substr(s, 1, 2) != "__")
}

function is_float(s)
{
	if (s == "+Inf" || s == "-Inf" || s == "NaN")
		return (1)
	return (s ~ /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/)
}

# A float as a number, +Inf and -Inf as huge ones (awk has no infinity
# it can be relied on for); NaN is handled by the callers.
function num(s)
{
	if (s == "+Inf")
		return (1e300 * 1e300)
	if (s == "-Inf")
		return (-1e300 * 1e300)
	return (s + 0)
}

# The text after "# HELP name ": only \\ and \n are escapes.
function check_help(s,    i, c)
{
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c != "\\")
			continue
		c = substr(s, i + 1, 1)
		if (c != "\\" && c != "n") {
			fault("invalid escape \\" c " in HELP")
			return
		}
		i++
	}
}

# Leaving a family: it may not come back, and its histograms must be
# complete.
function close_family(f,    k, parts, s)
{
	if (f == "")
		return
	closed[f] = 1
	if (type_of[f] != "histogram")
		return
	for (k in h_series) {
		split(k, parts, SUBSEP)
		if (parts[1] != f)
			continue
		s = parts[2]
		if (!((f, s) in h_inf))
			fault(f ": series {" s "} has no le=\"+Inf\" bucket")
		if (!((f, s) in h_count))
			fault(f ": series {" s "} has no _count")
		if (!((f, s) in h_sum))
			fault(f ": series {" s "} has no _sum")
		if (((f, s) in h_inf) && ((f, s) in h_count) &&
		    num(h_inf[f, s]) != num(h_count[f, s]))
			fault(f ": series {" s "}: le=\"+Inf\" bucket " \
			    h_inf[f, s] " is not _count " h_count[f, s])
	}
}

function enter_family(f)
{
	if (f == current)
		return
	if (f in closed)
		fault(f ": its lines are not together")
	close_family(current)
	current = f
}

# Parse the labels of a sample from position i of line (just after
# "{"); fills lname[], lval[], nl; returns the position after "}", or 0.
function parse_labels(line, i,    c, name, val, n)
{
	nl = 0
	c = substr(line, i, 1)
	if (c == "}")
		return (i + 1)
	for (;;) {
		name = ""
		while ((c = substr(line, i, 1)) ~ /[a-zA-Z0-9_]/ && c != "") {
			name = name c
			i++
		}
		if (!label_name(name)) {
			fault("bad label name \"" name "\"")
			return (0)
		}
		if (substr(line, i, 2) != "=\"") {
			fault("label " name ": expected =\"")
			return (0)
		}
		i += 2
		val = ""
		for (;;) {
			c = substr(line, i, 1)
			if (c == "") {
				fault("label " name ": unterminated value")
				return (0)
			}
			if (c == "\"")
				break
			if (c == "\\") {
				c = substr(line, i + 1, 1)
				if (c != "\\" && c != "\"" && c != "n") {
					fault("label " name \
					    ": invalid escape \\" c)
					return (0)
				}
				val = val "\\" c
				i += 2
				continue
			}
			val = val c
			i++
		}
		i++
		for (n = 1; n <= nl; n++)
			if (lname[n] == name) {
				fault("label " name " twice")
				return (0)
			}
		nl++
		lname[nl] = name
		lval[nl] = val
		c = substr(line, i, 1)
		if (c == "}")
			return (i + 1)
		if (c != ",") {
			fault("expected , or } after label " name)
			return (0)
		}
		i++
		if (substr(line, i, 1) == "}") {
			fault("a comma before }")
			return (0)
		}
	}
}

# The labels but le, sorted by name: a series' identity.
function series_key(skip,    n, m, t, key, order, k2)
{
	m = 0
	for (n = 1; n <= nl; n++)
		if (lname[n] != skip)
			order[++m] = n
	for (n = 2; n <= m; n++) {
		t = order[n]
		for (k2 = n - 1; k2 >= 1 && lname[order[k2]] > lname[t]; k2--)
			order[k2 + 1] = order[k2]
		order[k2 + 1] = t
	}
	key = ""
	for (n = 1; n <= m; n++)
		key = key (n > 1 ? "," : "") lname[order[n]] "=\"" \
		    lval[order[n]] "\""
	return (key)
}

function label_value(name,    n)
{
	for (n = 1; n <= nl; n++)
		if (lname[n] == name)
			return (lval[n])
	return ("")
}

function has_label(name,    n)
{
	for (n = 1; n <= nl; n++)
		if (lname[n] == name)
			return (1)
	return (0)
}

function sample(line,    i, c, name, rest, n, f, kind, value, ts, key,
    s, le, base)
{
	i = 1
	name = ""
	while ((c = substr(line, i, 1)) ~ /[a-zA-Z0-9_:]/ && c != "") {
		name = name c
		i++
	}
	if (!metric_name(name)) {
		fault("bad metric name \"" name "\"")
		return
	}
	nl = 0
	if (c == "{") {
		if ((i = parse_labels(line, i + 1)) == 0)
			return
	}
	rest = substr(line, i)
	if (substr(rest, 1, 1) != " ") {
		fault(name ": expected one space before the value")
		return
	}
	rest = substr(rest, 2)
	n = split(rest, tok, " ")
	if (n < 1 || n > 2 || rest ~ /^ / || rest ~ /  / || rest ~ / $/ ||
	    rest ~ /\t/) {
		fault(name ": expected a value and at most a timestamp")
		return
	}
	value = tok[1]
	if (!is_float(value)) {
		fault(name ": value \"" value "\" is no float")
		return
	}
	if (n == 2 && tok[2] !~ /^-?[0-9]+$/) {
		fault(name ": timestamp \"" tok[2] "\" is no integer")
		return
	}

	# the family: the name itself, or a histogram's base name
	f = ""
	kind = ""
	if ((name in type_of) && type_of[name] != "histogram" &&
	    type_of[name] != "summary")
		f = name
	else if (name ~ /_bucket$/ || name ~ /_sum$/ || name ~ /_count$/) {
		base = name
		sub(/_(bucket|sum|count)$/, "", base)
		if ((base in type_of) && (type_of[base] == "histogram" ||
		    (type_of[base] == "summary" && name !~ /_bucket$/))) {
			f = base
			kind = substr(name, length(base) + 2)
		}
	}
	if (f == "" && (name in type_of) && type_of[name] == "summary")
		f = name
	if (f == "") {
		if (name in type_of)
			fault(name ": a histogram sample needs _bucket, _sum " \
			    "or _count")
		else
			fault(name ": no TYPE line for this family")
		return
	}
	enter_family(f)
	seen[f] = 1

	key = series_key("")
	if ((name, key) in series)
		fault(name "{" key "}: the same series twice")
	series[name, key] = 1

	if (type_of[f] == "counter" && value != "NaN" && num(value) < 0)
		fault(name ": a counter below zero")
	if (type_of[f] != "histogram")
		return

	s = series_key("le")
	h_series[f, s] = 1
	if (kind != "bucket") {
		if (has_label("le"))
			fault(name ": le on a sample that is no bucket")
		if (kind == "count")
			h_count[f, s] = value
		else
			h_sum[f, s] = value
		if (kind == "count" && (value == "NaN" || num(value) < 0))
			fault(name ": a count below zero")
		return
	}
	if (!has_label("le")) {
		fault(name ": a bucket without le")
		return
	}
	le = label_value("le")
	if (!is_float(le) || le == "NaN") {
		fault(name ": le=\"" le "\" is no float")
		return
	}
	if ((f, s) in h_inf)
		fault(name ": a bucket after le=\"+Inf\"")
	if (value == "NaN" || num(value) < 0)
		fault(name ": a bucket count below zero")
	if ((f, s) in h_le) {
		if (num(le) <= num(h_le[f, s]))
			fault(name ": le=\"" le "\" does not increase")
		if (num(value) < num(h_val[f, s]))
			fault(name ": bucket counts are not cumulative")
	}
	h_le[f, s] = le
	h_val[f, s] = value
	if (le == "+Inf")
		h_inf[f, s] = value
}

function meta(line,    n, f, what, name, rest, t, base)
{
	n = split(line, f, " ")
	what = f[2]
	name = f[3]
	if (n < 3 || substr(line, 1, length("# " what " " name)) != \
	    "# " what " " name) {
		fault(what ": expected one space between fields")
		return
	}
	if (!metric_name(name)) {
		fault(what ": bad metric name \"" name "\"")
		return
	}
	rest = substr(line, length("# " what " " name) + 1)
	if (what == "HELP") {
		enter_family(name)
		if (name in help_of)
			fault(name ": a second HELP")
		if (name in seen)
			fault(name ": HELP after its samples")
		help_of[name] = 1
		if (rest != "") {
			if (substr(rest, 1, 1) != " ") {
				fault("HELP: expected a space before the text")
				return
			}
			check_help(substr(rest, 2))
		}
		return
	}
	t = substr(rest, 2)
	if (substr(rest, 1, 1) != " " || (t != "counter" && t != "gauge" &&
	    t != "histogram" && t != "summary" && t != "untyped")) {
		fault(name ": bad TYPE \"" t "\"")
		return
	}
	enter_family(name)
	if (name in type_of)
		fault(name ": a second TYPE")
	if (name in seen)
		fault(name ": TYPE after its samples")
	# names that would mean two families at once
	if (t == "histogram" && ((name "_bucket") in type_of ||
	    (name "_sum") in type_of || (name "_count") in type_of))
		fault(name ": a histogram whose lines clash with " \
		    "another family")
	base = name
	if (sub(/_(bucket|sum|count)$/, "", base) && (base in type_of) &&
	    type_of[base] == "histogram")
		fault(name ": clashes with histogram " base)
	type_of[name] = t
}

{
	if ($0 ~ /\r/) {
		fault("a carriage return")
		next
	}
	if ($0 == "")
		next
	if ($0 ~ /^# (HELP|TYPE)( |$)/) {
		meta($0)
		next
	}
	if (substr($0, 1, 1) == "#")
		next
	if ($0 ~ /^[ \t]/) {
		fault("a line that begins with a blank")
		next
	}
	sample($0)
}

END {
	close_family(current)
	if (nfaults > 50)
		printf("... and %d more\n", nfaults - 50) > "/dev/stderr"
	exit (nfaults > 0 ? 1 : 0)
}
