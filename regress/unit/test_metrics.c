/*
 * test_metrics.c: the Prometheus writer (metrics.c): exact exposition
 * text for counters, gauges and histograms, escaping of label values
 * and help, label order, the numbers, every refusal; the msgpack form,
 * its merge (sums, extra labels, all-or-nothing on bad input, limits);
 * the strict checker regress/promcheck.awk (on our output, on bad
 * input) and promtool when it is installed; and the HTTP listener over
 * real loopback sockets: 200 with the content type, HEAD, 404, 405,
 * 400, 505, 431, 503 when collecting fails or takes too long, a client
 * past the limit, a client that says nothing.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "net.h"
#include "unit.h"

#define WAIT_MS		10000	/* bound on every loop, never reached */

static char	 tmpdir[] = "/tmp/test_metrics.XXXXXX";

/* The exposition of m as a NUL-terminated string (caller frees). */
static char *
text(const struct metrics *m)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 len;
	char		*s;

	if (b == NULL || metrics_write(m, b) == -1)
		return (strdup("(write failed)"));
	len = evbuffer_get_length(b);
	s = malloc(len + 1);
	(void)evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return (s);
}

static int
text_is(const struct metrics *m, const char *want)
{
	char	*got = text(m);
	int	 ok = strcmp(got, want) == 0;

	if (!ok)
		printf("# got:\n%s# want:\n%s", got, want);
	free(got);
	return (ok);
}

/*
 * Run a checker on s: 0 the strict one, 1 promtool, 2 the wrapper the
 * end-to-end cases use; its exit status.
 */
static int
promcheck(const char *s, int promtool)
{
	char	 path[64], cmd[256];
	FILE	*fp;
	int	 rc;

	(void)snprintf(path, sizeof(path), "%s/in.prom", tmpdir);
	if ((fp = fopen(path, "w")) == NULL)
		return (-1);
	fputs(s, fp);
	fclose(fp);
	if (promtool == 2)
		(void)snprintf(cmd, sizeof(cmd), "sh regress/promcheck.sh %s "
		    "2>/dev/null", path);
	else if (promtool)
		(void)snprintf(cmd, sizeof(cmd), "promtool check metrics "
		    "<%s >/dev/null 2>&1", path);
	else
		(void)snprintf(cmd, sizeof(cmd), "awk -f regress/promcheck.awk "
		    "%s 2>/dev/null", path);
	rc = system(cmd);
	return (WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}

static void
test_basic(void)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 l0[] = { { "listener", "0" } };
	struct metric_label	 l1[] = { { "listener", "1" } };

	UT_CHECK("declare counter", metrics_declare(m,
	    "proxyd_connections_total", METRIC_COUNTER,
	    "Client connections accepted.") == 0);
	UT_CHECK("declare gauge", metrics_declare(m, "proxyd_relays",
	    METRIC_GAUGE, "Relays open.") == 0);
	UT_CHECK("declare again", metrics_declare(m, "proxyd_relays",
	    METRIC_GAUGE, "Other help.") == 0);
	UT_CHECK("add", metrics_add(m, "proxyd_connections_total", l1, 1,
	    4) == 0);
	UT_CHECK("add 2", metrics_add(m, "proxyd_connections_total", l0, 1,
	    1) == 0);
	UT_CHECK("add 3", metrics_add(m, "proxyd_connections_total", l0, 1,
	    2) == 0);
	UT_CHECK("set", metrics_set(m, "proxyd_relays", NULL, 0, 9) == 0);
	UT_CHECK("set again", metrics_set(m, "proxyd_relays", NULL, 0, 7) ==
	    0);
	UT_CHECK("count", metrics_count(m) == 3);
	UT_CHECK("exposition", text_is(m,
	    "# HELP proxyd_connections_total Client connections accepted.\n"
	    "# TYPE proxyd_connections_total counter\n"
	    "proxyd_connections_total{listener=\"0\"} 3\n"
	    "proxyd_connections_total{listener=\"1\"} 4\n"
	    "# HELP proxyd_relays Relays open.\n"
	    "# TYPE proxyd_relays gauge\n"
	    "proxyd_relays 7\n"));
	metrics_free(m);

	/* a family without samples and without help */
	m = metrics_new();
	UT_CHECK("no help", metrics_declare(m, "x:y", METRIC_GAUGE, NULL) ==
	    0);
	UT_CHECK("empty family", text_is(m, "# TYPE x:y gauge\n"));
	metrics_free(m);
}

/* Reasons by prefix, the catch-all last, a label shared by two. */
static void
test_reasons(void)
{
	static const struct metric_reason r[] = {
		{ "limit", "limit" },
		{ "evicted: the listener", "evicted" },
		{ "evicted:", "source_evicted" },
		{ "too many", "limit" },
		{ "", "internal" },
	};
	uint64_t	 counts[nitems(r)] = { 0 };
	struct metrics	*m = metrics_new();

	UT_CHECK("reason exact", metrics_reason(r, nitems(r), "limit") == 0);
	UT_CHECK("reason first prefix wins", metrics_reason(r, nitems(r),
	    "evicted: the listener is full") == 1);
	UT_CHECK("reason later prefix", metrics_reason(r, nitems(r),
	    "evicted: 4 handshakes from 10.0.0.1") == 2);
	UT_CHECK("reason catch-all", metrics_reason(r, nitems(r),
	    "out of memory") == 4);
	UT_CHECK("reason empty text", metrics_reason(r, nitems(r), "") == 4);
	counts[0] = 2;
	counts[1] = 1;
	counts[3] = 5;
	UT_CHECK("reasons declare", m != NULL && metrics_declare(m, "r_total",
	    METRIC_COUNTER, NULL) == 0);
	UT_CHECK("reasons add", metrics_add_reasons(m, "r_total", r,
	    nitems(r), counts) == 0);
	UT_CHECK("reasons one sample a label", metrics_count(m) == 4);
	UT_CHECK("reasons summed", text_is(m,
	    "# TYPE r_total counter\n"
	    "r_total{reason=\"evicted\"} 1\n"
	    "r_total{reason=\"internal\"} 0\n"
	    "r_total{reason=\"limit\"} 7\n"
	    "r_total{reason=\"source_evicted\"} 0\n"));
	metrics_free(m);
}

static void
test_escaping(void)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 l[] = {
		{ "path", "a\\b\"c\nd" },
		{ "empty", "" },
		{ "utf8", "gr\xc3\xbc\xc3\x9f" },
	};
	struct metric_label	 rev[] = { l[2], l[1], l[0] };

	UT_CHECK("declare", metrics_declare(m, "e_total", METRIC_COUNTER,
	    "Back\\slash, \"quotes\"\nand a newline.") == 0);
	UT_CHECK("add", metrics_add(m, "e_total", l, 3, 1) == 0);
	UT_CHECK("add reversed", metrics_add(m, "e_total", rev, 3, 1) == 0);
	UT_CHECK("one sample for both orders", metrics_count(m) == 1);
	UT_CHECK("escaped", text_is(m,
	    "# HELP e_total Back\\\\slash, \"quotes\"\\nand a newline.\n"
	    "# TYPE e_total counter\n"
	    "e_total{empty=\"\",path=\"a\\\\b\\\"c\\nd\","
	    "utf8=\"gr\xc3\xbc\xc3\x9f\"} 2\n"));
	metrics_free(m);
}

static void
test_numbers(void)
{
	static const struct {
		double		 v;
		const char	*s;
	} t[] = {
		{ 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -3, "-3" },
		{ 0.1, "0.1" }, { 1.5, "1.5" }, { 1e-7, "1e-07" },
		{ 1e20, "1e+20" }, { 123456789012345, "123456789012345" },
		{ 2.5e-3, "0.0025" }, { 1.0 / 3, "0.3333333333333333" },
	};
	char		 buf[64], name[64];
	size_t		 i;

	for (i = 0; i < nitems(t); i++) {
		metrics_format_float(buf, sizeof(buf), t[i].v);
		(void)snprintf(name, sizeof(name), "number %s", t[i].s);
		UT_CHECK(name, strcmp(buf, t[i].s) == 0);
		if (strcmp(buf, t[i].s) != 0)
			printf("# got %s\n", buf);
	}
	metrics_format_float(buf, sizeof(buf), NAN);
	UT_CHECK("number NaN", strcmp(buf, "NaN") == 0);
	metrics_format_float(buf, sizeof(buf), INFINITY);
	UT_CHECK("number +Inf", strcmp(buf, "+Inf") == 0);
	metrics_format_float(buf, sizeof(buf), -INFINITY);
	UT_CHECK("number -Inf", strcmp(buf, "-Inf") == 0);
}

static const double bounds[] = { 0.25, 0.5, 1, 2.5 };

static void
test_histogram(void)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 l[] = { { "op", "x" } };
	struct metric_hist	 h;
	static const double	 obs[] = { 0.25, 0.5, 1, 2, 8 };
	char			*s;
	size_t			 i;

	UT_CHECK("declare histogram", metrics_declare_histogram(m,
	    "h_seconds", "Durations.", bounds, nitems(bounds)) == 0);
	for (i = 0; i < nitems(obs); i++)
		(void)metrics_observe(m, "h_seconds", l, 1, obs[i]);
	/* a process's own distribution, added in */
	metric_hist_init(&h, bounds, nitems(bounds));
	metric_hist_observe(&h, 0.1);
	metric_hist_observe(&h, 3);
	UT_CHECK("hist buckets", h.counts[0] == 1 && h.counts[4] == 1 &&
	    h.counts[1] == 0 && h.sum == 3.1);
	UT_CHECK("add hist", metrics_add_hist(m, "h_seconds", NULL, 0, &h) ==
	    0);
	UT_CHECK("histogram exposition", text_is(m,
	    "# HELP h_seconds Durations.\n"
	    "# TYPE h_seconds histogram\n"
	    "h_seconds_bucket{le=\"0.25\"} 1\n"
	    "h_seconds_bucket{le=\"0.5\"} 1\n"
	    "h_seconds_bucket{le=\"1\"} 1\n"
	    "h_seconds_bucket{le=\"2.5\"} 1\n"
	    "h_seconds_bucket{le=\"+Inf\"} 2\n"
	    "h_seconds_sum 3.1\n"
	    "h_seconds_count 2\n"
	    "h_seconds_bucket{op=\"x\",le=\"0.25\"} 1\n"
	    "h_seconds_bucket{op=\"x\",le=\"0.5\"} 2\n"
	    "h_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
	    "h_seconds_bucket{op=\"x\",le=\"2.5\"} 4\n"
	    "h_seconds_bucket{op=\"x\",le=\"+Inf\"} 5\n"
	    "h_seconds_sum{op=\"x\"} 11.75\n"
	    "h_seconds_count{op=\"x\"} 5\n"));
	s = text(m);
	UT_CHECK("histogram passes promcheck", promcheck(s, 0) == 0);
	free(s);
	UT_CHECK("observe on a gauge fails", metrics_observe(m, "nope", NULL,
	    0, 1) == -1);
	UT_CHECK("set on a histogram fails", metrics_set(m, "h_seconds",
	    NULL, 0, 1) == -1 && errno == EINVAL);
	UT_CHECK("add on a histogram fails", metrics_add(m, "h_seconds",
	    NULL, 0, 1) == -1 && errno == EINVAL);
	metric_hist_init(&h, bounds, 2);
	UT_CHECK("hist of other bounds fails", metrics_add_hist(m,
	    "h_seconds", NULL, 0, &h) == -1);
	metrics_free(m);

	m = metrics_new();
	UT_CHECK("histogram without bounds", metrics_declare_histogram(m,
	    "h0", NULL, NULL, 0) == 0 && metrics_observe(m, "h0", NULL, 0,
	    2) == 0);
	UT_CHECK("only +Inf", text_is(m, "# TYPE h0 histogram\n"
	    "h0_bucket{le=\"+Inf\"} 1\nh0_sum 2\nh0_count 1\n"));
	metrics_free(m);
}

static void
test_refusals(void)
{
	struct metrics		*m = metrics_new();
	static const double	 bad1[] = { 1, 1 }, bad2[] = { 2, 1 };
	double			 bad3[] = { 1, NAN };
	struct metric_label	 l;
	struct metric_label	 dup[] = { { "a", "1" }, { "a", "2" } };
	struct metric_label	 many[METRICS_LABELMAX + 1];
	char			 names[METRICS_LABELMAX + 1][8];
	char			 longv[METRICS_VALUEMAX + 1];
	char			 longn[METRICS_NAMEMAX + 1];
	int			 i, ok;

	UT_CHECK("name with a digit first", metrics_declare(m, "1a",
	    METRIC_GAUGE, NULL) == -1 && errno == EINVAL);
	UT_CHECK("name with a dash", metrics_declare(m, "a-b", METRIC_GAUGE,
	    NULL) == -1);
	UT_CHECK("empty name", metrics_declare(m, "", METRIC_GAUGE, NULL) ==
	    -1);
	memset(longn, 'a', sizeof(longn) - 1);
	longn[sizeof(longn) - 1] = '\0';
	UT_CHECK("long name", metrics_declare(m, longn, METRIC_GAUGE, NULL) ==
	    -1);
	UT_CHECK("histogram as declare", metrics_declare(m, "h",
	    METRIC_HISTOGRAM, NULL) == -1);
	UT_CHECK("help not UTF-8", metrics_declare(m, "u", METRIC_GAUGE,
	    "\xff") == -1);
	UT_CHECK("bounds not increasing", metrics_declare_histogram(m, "b1",
	    NULL, bad1, 2) == -1 && metrics_declare_histogram(m, "b2", NULL,
	    bad2, 2) == -1);
	UT_CHECK("bound NaN", metrics_declare_histogram(m, "b3", NULL, bad3,
	    2) == -1);
	UT_CHECK("too many bounds", metrics_declare_histogram(m, "b4", NULL,
	    bounds, METRICS_BUCKETMAX + 1) == -1 && errno == E2BIG);

	UT_CHECK("declare c_total", metrics_declare(m, "c_total",
	    METRIC_COUNTER, NULL) == 0);
	UT_CHECK("same name, other type", metrics_declare(m, "c_total",
	    METRIC_GAUGE, NULL) == -1 && errno == EEXIST);
	UT_CHECK("counter down", metrics_add(m, "c_total", NULL, 0, -1) ==
	    -1 && metrics_set(m, "c_total", NULL, 0, -1) == -1);
	UT_CHECK("counter NaN", metrics_add(m, "c_total", NULL, 0, NAN) ==
	    -1);
	UT_CHECK("undeclared", metrics_add(m, "nope", NULL, 0, 1) == -1);

	UT_CHECK("declare hist", metrics_declare_histogram(m, "lat", NULL,
	    bounds, nitems(bounds)) == 0);
	UT_CHECK("clash lat_count", metrics_declare(m, "lat_count",
	    METRIC_COUNTER, NULL) == -1 && errno == EEXIST);
	UT_CHECK("clash lat_bucket", metrics_declare(m, "lat_bucket",
	    METRIC_GAUGE, NULL) == -1);
	UT_CHECK("declare s_sum", metrics_declare(m, "s_sum", METRIC_GAUGE,
	    NULL) == 0);
	UT_CHECK("clash histogram s", metrics_declare_histogram(m, "s", NULL,
	    NULL, 0) == -1 && errno == EEXIST);
	UT_CHECK("same histogram again", metrics_declare_histogram(m, "lat",
	    NULL, bounds, nitems(bounds)) == 0);
	UT_CHECK("same histogram, other bounds", metrics_declare_histogram(m,
	    "lat", NULL, bounds, 2) == -1);

	l.name = "le";
	l.value = "1";
	UT_CHECK("le on a histogram", metrics_observe(m, "lat", &l, 1, 1) ==
	    -1);
	UT_CHECK("le on a counter is fine", metrics_add(m, "c_total", &l, 1,
	    1) == 0);
	l.name = "__name__";
	UT_CHECK("reserved label", metrics_add(m, "c_total", &l, 1, 1) == -1);
	l.name = "a:b";
	UT_CHECK("colon in label name", metrics_add(m, "c_total", &l, 1,
	    1) == -1);
	l.name = "v";
	l.value = "\xc0\x80";
	UT_CHECK("overlong UTF-8", metrics_add(m, "c_total", &l, 1, 1) == -1);
	l.value = "\xed\xa0\x80";
	UT_CHECK("surrogate", metrics_add(m, "c_total", &l, 1, 1) == -1);
	l.value = "\xe2\x82";
	UT_CHECK("truncated UTF-8", metrics_add(m, "c_total", &l, 1, 1) ==
	    -1);
	l.value = "a\rb";
	UT_CHECK("carriage return", metrics_add(m, "c_total", &l, 1, 1) ==
	    -1);
	l.value = "a\x7f";
	UT_CHECK("DEL", metrics_add(m, "c_total", &l, 1, 1) == -1);
	l.value = "a\tb";
	UT_CHECK("tab is fine", metrics_add(m, "c_total", &l, 1, 1) == 0);
	memset(longv, 'v', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	l.value = longv;
	UT_CHECK("long value", metrics_add(m, "c_total", &l, 1, 1) == -1);
	longv[sizeof(longv) - 2] = '\0';
	UT_CHECK("longest value", metrics_add(m, "c_total", &l, 1, 1) == 0);
	UT_CHECK("label twice", metrics_add(m, "c_total", dup, 2, 1) == -1);
	for (i = 0; i <= METRICS_LABELMAX; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "l%d", i);
		many[i].name = names[i];
		many[i].value = "x";
	}
	UT_CHECK("most labels", metrics_add(m, "c_total", many,
	    METRICS_LABELMAX, 1) == 0);
	UT_CHECK("too many labels", metrics_add(m, "c_total", many,
	    METRICS_LABELMAX + 1, 1) == -1 && errno == E2BIG);
	UT_CHECK("NULL labels", metrics_add(m, "c_total", NULL, 1, 1) == -1);
	metrics_free(m);

	/* the limit on samples */
	m = metrics_new();
	(void)metrics_declare(m, "n", METRIC_GAUGE, NULL);
	l.name = "i";
	l.value = longv;
	for (i = 0, ok = 1; i < METRICS_SAMPLEMAX && ok; i++) {
		(void)snprintf(longv, sizeof(longv), "%d", i);
		ok = metrics_set(m, "n", &l, 1, i) == 0;
	}
	UT_CHECK("up to the sample limit", ok && metrics_count(m) ==
	    METRICS_SAMPLEMAX);
	(void)snprintf(longv, sizeof(longv), "one more");
	UT_CHECK("past the sample limit", metrics_set(m, "n", &l, 1, 0) ==
	    -1 && errno == E2BIG);
	(void)snprintf(longv, sizeof(longv), "7");
	UT_CHECK("an old sample still takes values", metrics_set(m, "n", &l,
	    1, 0) == 0);
	metrics_free(m);

	m = metrics_new();
	for (i = 0, ok = 1; i < METRICS_FAMILYMAX && ok; i++) {
		(void)snprintf(longn, sizeof(longn), "f%d", i);
		ok = metrics_declare(m, longn, METRIC_GAUGE, NULL) == 0;
	}
	UT_CHECK("family limit", ok && metrics_declare(m, "one_more",
	    METRIC_GAUGE, NULL) == -1 && errno == E2BIG);
	metrics_free(m);
}

/* A child's set: packed as it would go to the parent. */
static void
child_set(struct mp_out *o, double conns, double open, double obs)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 l[] = { { "kind", "public" } };

	(void)metrics_declare(m, "conns_total", METRIC_COUNTER, "Conns.");
	(void)metrics_declare(m, "open", METRIC_GAUGE, "Open.");
	(void)metrics_declare_histogram(m, "hs", "H.", bounds,
	    nitems(bounds));
	(void)metrics_add(m, "conns_total", l, 1, conns);
	(void)metrics_set(m, "open", NULL, 0, open);
	(void)metrics_observe(m, "hs", NULL, 0, obs);
	mp_out_init(o);
	metrics_pack(m, &o->pk);
	metrics_free(m);
}

static int
merge_bytes(struct metrics *m, const void *buf, size_t len,
    const struct metric_label *extra, size_t nextra, const char **why)
{
	struct mp_doc	 d;
	int		 rv;

	if (mp_parse(&d, buf, len) == -1) {
		mp_free(&d);
		*why = "not msgpack";
		return (-1);
	}
	rv = metrics_merge(m, d.root, extra, nextra, why);
	mp_free(&d);
	return (rv);
}

/* Pack by hand: a one-family set with the given fields. */
typedef void	(*packer_fn)(msgpack_packer *);

static int
merge_bad(struct metrics *m, packer_fn fn, const char **why)
{
	struct mp_out	 o;
	int		 rv;

	mp_out_init(&o);
	fn(&o.pk);
	rv = merge_bytes(m, o.sb.data, o.sb.size, NULL, 0, why);
	mp_out_free(&o);
	return (rv);
}

static void
bad_not_array(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 0);
}

static void
bad_no_name(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	mp_pack_kstr(pk, "type", "gauge");
}

static void
bad_type(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "name", "x");
	mp_pack_kstr(pk, "type", "summary");
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 0);
}

/* a good family first, then a negative counter: nothing may stick */
static void
bad_negative(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "name", "fresh");
	mp_pack_kstr(pk, "type", "gauge");
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	mp_pack_str(pk, "labels");
	msgpack_pack_map(pk, 0);
	mp_pack_str(pk, "value");
	msgpack_pack_int(pk, 5);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "name", "conns_total");
	mp_pack_kstr(pk, "type", "counter");
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	mp_pack_str(pk, "labels");
	msgpack_pack_map(pk, 0);
	mp_pack_str(pk, "value");
	msgpack_pack_int(pk, -5);
}

static void
bad_counts(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 4);
	mp_pack_kstr(pk, "name", "hx");
	mp_pack_kstr(pk, "type", "histogram");
	mp_pack_str(pk, "bounds");
	msgpack_pack_array(pk, 1);
	msgpack_pack_double(pk, 1);
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	mp_pack_str(pk, "labels");
	msgpack_pack_map(pk, 0);
	mp_pack_str(pk, "counts");
	msgpack_pack_array(pk, 1);		/* two are needed */
	msgpack_pack_uint64(pk, 1);
	mp_pack_str(pk, "sum");
	msgpack_pack_double(pk, 1);
}

/* the same name as the parent's gauge "open", as a counter */
static void
bad_conflict(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "name", "open");
	mp_pack_kstr(pk, "type", "counter");
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 0);
}

static void
bad_label(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "name", "lbl");
	mp_pack_kstr(pk, "type", "gauge");
	mp_pack_str(pk, "samples");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	mp_pack_str(pk, "labels");
	msgpack_pack_map(pk, 1);
	mp_pack_str(pk, "ok");
	msgpack_pack_int(pk, 1);		/* a value that is no string */
	mp_pack_str(pk, "value");
	msgpack_pack_int(pk, 1);
}

static void
bad_bin_name(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	mp_pack_str(pk, "name");
	msgpack_pack_bin(pk, 1);
	msgpack_pack_bin_body(pk, "x", 1);
}

static void
test_merge(void)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 extra[] = { { "process", "listener" } };
	struct mp_out		 a, b, t;
	struct mp_doc		 d;
	const char		*why = NULL;
	char			*before, *after;

	child_set(&a, 3, 10, 0.5);
	child_set(&b, 4, 20, 8);
	UT_CHECK("merge a", merge_bytes(m, a.sb.data, a.sb.size, NULL, 0,
	    &why) == 0);
	UT_CHECK("merge b", merge_bytes(m, b.sb.data, b.sb.size, NULL, 0,
	    &why) == 0);
	UT_CHECK("summed", text_is(m,
	    "# HELP conns_total Conns.\n"
	    "# TYPE conns_total counter\n"
	    "conns_total{kind=\"public\"} 7\n"
	    "# HELP open Open.\n"
	    "# TYPE open gauge\n"
	    "open 30\n"
	    "# HELP hs H.\n"
	    "# TYPE hs histogram\n"
	    "hs_bucket{le=\"0.25\"} 0\n"
	    "hs_bucket{le=\"0.5\"} 1\n"
	    "hs_bucket{le=\"1\"} 1\n"
	    "hs_bucket{le=\"2.5\"} 1\n"
	    "hs_bucket{le=\"+Inf\"} 2\n"
	    "hs_sum 8.5\n"
	    "hs_count 2\n"));

	/* the merged set packs and merges again to the same text */
	before = text(m);
	mp_out_init(&t);
	metrics_pack(m, &t.pk);
	metrics_free(m);
	m = metrics_new();
	UT_CHECK("round trip", merge_bytes(m, t.sb.data, t.sb.size, NULL, 0,
	    &why) == 0);
	after = text(m);
	UT_CHECK("round trip text", strcmp(before, after) == 0);
	free(before);
	free(after);
	mp_out_free(&t);

	/* with an extra label the children's samples stay apart */
	UT_CHECK("merge with extra", merge_bytes(m, a.sb.data, a.sb.size,
	    extra, 1, &why) == 0);
	UT_CHECK("extra label kept apart", metrics_count(m) == 6);
	after = text(m);
	UT_CHECK("extra label text", strstr(after,
	    "conns_total{kind=\"public\",process=\"listener\"} 3\n") !=
	    NULL && strstr(after, "hs_bucket{process=\"listener\","
	    "le=\"0.5\"} 1\n") != NULL);
	UT_CHECK("merged passes promcheck", promcheck(after, 0) == 0);
	if (system("command -v promtool >/dev/null 2>&1") == 0)
		UT_CHECK("merged passes promtool check metrics",
		    promcheck(after, 1) == 0);
	else
		printf("SKIP promtool: not installed (Debian: prometheus)\n");
	free(after);
	UT_CHECK("extra label already there", merge_bytes(m, a.sb.data,
	    a.sb.size, (struct metric_label[]){ { "kind", "x" } }, 1,
	    &why) == -1);

	/* refusals leave the set as it was */
	before = text(m);
	UT_CHECK("not an array", merge_bad(m, bad_not_array, &why) == -1 &&
	    why != NULL);
	UT_CHECK("no name", merge_bad(m, bad_no_name, &why) == -1);
	UT_CHECK("bad type", merge_bad(m, bad_type, &why) == -1 &&
	    strstr(why, "type") != NULL);
	UT_CHECK("negative counter", merge_bad(m, bad_negative, &why) == -1);
	UT_CHECK("bucket counts", merge_bad(m, bad_counts, &why) == -1);
	UT_CHECK("type conflict", merge_bad(m, bad_conflict, &why) == -1 &&
	    strstr(why, "open") != NULL);
	UT_CHECK("label not a string", merge_bad(m, bad_label, &why) == -1);
	UT_CHECK("name not a string", merge_bad(m, bad_bin_name, &why) == -1);
	after = text(m);
	UT_CHECK("all or nothing", strcmp(before, after) == 0);
	free(before);
	free(after);

	/* a set past the limit as a whole */
	UT_CHECK("nil", mp_parse(&d, "\xc0", 1) == 0 &&
	    metrics_merge(m, d.root, NULL, 0, &why) == -1);
	mp_free(&d);

	metrics_free(m);
	mp_out_free(&a);
	mp_out_free(&b);
}

static void
test_table(void)
{
	struct metrics		*m = metrics_new();
	struct metric_label	 l[] = { { "a", "x" } };
	struct mp_out		 o;
	struct mp_doc		 d;
	const msgpack_object	*r;
	char			 s[64];

	(void)metrics_declare(m, "c_total", METRIC_COUNTER, NULL);
	(void)metrics_add(m, "c_total", l, 1, 2);
	(void)metrics_declare_histogram(m, "h", NULL, bounds, 1);
	(void)metrics_observe(m, "h", NULL, 0, 4);
	mp_out_init(&o);
	UT_CHECK("table rows", metrics_pack_table(m, &o.pk, 0, 100) == 3);
	UT_CHECK("table parses", mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    d.root->type == MSGPACK_OBJECT_ARRAY &&
	    d.root->via.array.size == 3);
	if (d.root != NULL && d.root->via.array.size == 3) {
		r = &d.root->via.array.ptr[0];
		UT_CHECK("row 0", mp_map_str(r, "name", s, sizeof(s)) == 0 &&
		    strcmp(s, "c_total") == 0 &&
		    mp_map_str(r, "labels", s, sizeof(s)) == 0 &&
		    strcmp(s, "a=\"x\"") == 0);
		r = &d.root->via.array.ptr[1];
		UT_CHECK("row 1 count", mp_map_str(r, "name", s, sizeof(s)) ==
		    0 && strcmp(s, "h_count") == 0 &&
		    mp_map_get(r, "value")->via.f64 == 1);
		r = &d.root->via.array.ptr[2];
		UT_CHECK("row 2 sum", mp_map_str(r, "name", s, sizeof(s)) ==
		    0 && strcmp(s, "h_sum") == 0 &&
		    mp_map_get(r, "value")->via.f64 == 4);
	}
	mp_free(&d);
	mp_out_reset(&o);
	UT_CHECK("table page", metrics_pack_table(m, &o.pk, 1, 1) == 1 &&
	    mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    d.root->via.array.size == 1 &&
	    mp_map_str(&d.root->via.array.ptr[0], "name", s, sizeof(s)) ==
	    0 && strcmp(s, "h_count") == 0);
	mp_free(&d);
	mp_out_reset(&o);
	UT_CHECK("table past the end", metrics_pack_table(m, &o.pk, 3, 10) ==
	    0 && o.sb.size == 0);
	mp_out_free(&o);
	metrics_free(m);
}

static void
test_promcheck(void)
{
	static const char	*bad[] = {
		"x 1\n",
		"# TYPE x counter\nx -1\n",
		"# TYPE x counter\nx{a=\"1\",} 1\n",
		"# TYPE x counter\nx{a=\"1\"}  1\n",
		"# TYPE x gauge\nx{__a=\"1\"} 1\n",
		"# TYPE x gauge\nx{a=\"\\t\"} 1\n",
		"# TYPE x gauge\nx 1\n# TYPE x gauge\n",
		"# TYPE x gauge\nx 1\n# HELP x late\n",
		"# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
		    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\n"
		    "h_count 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n"
		    "h_count 1\n",
		"# TYPE h histogram\nh_bucket{le=\"2\"} 1\n"
		    "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
		    "h_count 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
		"# TYPE h histogram\nh 1\n",
		"# TYPE x gauge\nx 1e\n",
		"# TYPE x gauge\nx 0x10\n",
		"# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",
		"# TYPE x gauge\nx 1\nx 2\n",
		"# HELP x a \\t escape\n# TYPE x gauge\n",
		"# TYPE x gauge\r\nx 1\n",
		"# TYPE h histogram\n# TYPE h_count counter\n",
		"# TYPE 1x gauge\n",
		"# TYPE x foo\n",
		"# TYPE x gauge\n x 1\n",
		"# TYPE x gauge\nx{a=1} 1\n",
		"# TYPE x gauge\nx{a=\"1\"b=\"2\"} 1\n",
		"# TYPE x gauge\nx{a=\"1} 1\n",
		"# TYPE x gauge\nx 1 1.5\n",
	};
	char	 name[64];
	size_t	 i;

	UT_CHECK("promcheck: good input", promcheck(
	    "# HELP a_total A \\\\ and \\n.\n# TYPE a_total counter\n"
	    "a_total{x=\"1\",y=\"a\\\"b\\\\c\\nd\"} 3\n"
	    "a_total 4 1700000000000\n\n# a comment\n"
	    "# TYPE g gauge\ng -1.5e-3\ng{l=\"\"} NaN\ng{l=\"i\"} -Inf\n",
	    0) == 0);
	UT_CHECK("promcheck.sh: good input", promcheck(
	    "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n", 2) ==
	    0);
	UT_CHECK("promcheck.sh: no newline at the end", promcheck(
	    "# HELP a_total A.\n# TYPE a_total counter\na_total 1", 2) == 1);
	UT_CHECK("promcheck.sh: bad input", promcheck(bad[1], 2) == 1);
	for (i = 0; i < nitems(bad); i++) {
		(void)snprintf(name, sizeof(name), "promcheck: bad input %zu",
		    i);
		UT_CHECK(name, promcheck(bad[i], 0) == 1);
	}
}

/*
 * HTTP: real loopback sockets, the server and the clients in one loop.
 */

struct hclient {
	int		 fd;
	struct evbuffer	*in;
	struct event	*ev;
	int		 done;
};

struct hserver {
	struct metrics_http	*srv;
	int			 port;
	int			 mode;		/* 0 answer, 1 fail, 2 later */
	int			 calls;
	struct metrics_http_req	*held[4];
	int			 nheld;
};

static void
hclient_read(evutil_socket_t fd, short ev, void *arg)
{
	struct hclient	*c = arg;
	int		 n;

	n = evbuffer_read(c->in, fd, 65536);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		c->done = 1;
		event_del(c->ev);
	}
}

static int
hclient_done(void *arg)
{
	return (((struct hclient *)arg)->done);
}

static int
hclient_open(struct event_base *base, int port, struct hclient *c)
{
	struct sockaddr_in	 sin;

	memset(c, 0, sizeof(*c));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		return (-1);
	(void)net_nonblock(c->fd);
	c->in = evbuffer_new();
	c->ev = event_new(base, c->fd, EV_READ | EV_PERSIST, hclient_read, c);
	(void)event_add(c->ev, NULL);
	return (0);
}

static void
hclient_close(struct hclient *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->fd != -1)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Send req, read to the end: the answer as a string (caller frees). */
static char *
http_get(struct event_base *base, struct hserver *hs, const char *req,
    size_t len)
{
	struct hclient	 c;
	size_t		 n;
	char		*s;

	if (hclient_open(base, hs->port, &c) == -1)
		return (strdup("(connect failed)"));
	if (len > 0 && write(c.fd, req, len) != (ssize_t)len) {
		hclient_close(&c);
		return (strdup("(write failed)"));
	}
	if (!ut_run_until(base, hclient_done, &c, WAIT_MS)) {
		hclient_close(&c);
		return (strdup("(no end)"));
	}
	n = evbuffer_get_length(c.in);
	s = malloc(n + 1);
	(void)evbuffer_remove(c.in, s, n);
	s[n] = '\0';
	hclient_close(&c);
	return (s);
}

static void
collect(struct metrics_http_req *r, void *arg)
{
	struct hserver	*hs = arg;
	struct evbuffer	*b;

	hs->calls++;
	if (hs->mode == 1) {
		metrics_http_done(r, NULL);
		return;
	}
	if (hs->mode == 2) {
		if (hs->nheld < (int)nitems(hs->held))
			hs->held[hs->nheld++] = r;
		return;
	}
	b = evbuffer_new();
	(void)evbuffer_add_printf(b, "# TYPE up gauge\nup 1\n");
	metrics_http_done(r, b);
	UT_CHECK("done takes the text", evbuffer_get_length(b) == 0);
	evbuffer_free(b);
}

static int
starts(const char *s, const char *prefix)
{
	int	 ok = strncmp(s, prefix, strlen(prefix)) == 0;

	if (!ok)
		printf("# got: %.80s\n", s);
	return (ok);
}

static void
test_http(void)
{
	struct event_base	*base = event_base_new();
	struct hserver		 hs;
	struct net_addr		 a;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	struct hclient		 idle[METRICS_HTTP_MAXCLIENTS];
	struct evbuffer		*b;
	char			*s, big[METRICS_HTTP_MAXHEADER + 64];
	int			 fd, i;

	memset(&hs, 0, sizeof(hs));
	if (net_parse("127.0.0.1:0", &a) == -1 ||
	    (fd = net_listen(&a, 16, 0)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		UT_CHECK("listen", 0);
		return;
	}
	hs.port = ntohs(sin.sin_port);
	hs.srv = metrics_http_new(base, fd, collect, &hs);
	UT_CHECK("http server", hs.srv != NULL);

	s = http_get(base, &hs, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	    35);
	UT_CHECK("GET /metrics", starts(s, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4\r\n"
	    "Content-Length: 21\r\nConnection: close\r\n\r\n"
	    "# TYPE up gauge\nup 1\n") && strlen(s) == 99 + 21);
	free(s);
	s = http_get(base, &hs, "GET /metrics?x=1 HTTP/1.0\n\n", 27);
	UT_CHECK("GET /metrics?query, HTTP/1.0, bare newlines",
	    starts(s, "HTTP/1.1 200 OK\r\n"));
	free(s);
	s = http_get(base, &hs, "\r\nHEAD /metrics HTTP/1.1\r\n\r\n", 28);
	UT_CHECK("HEAD", starts(s, "HTTP/1.1 200 OK\r\n") &&
	    strstr(s, "Content-Length: 21\r\n") != NULL &&
	    strstr(s, "\r\n\r\n")[4] == '\0');
	free(s);
	i = hs.calls;
	s = http_get(base, &hs, "GET / HTTP/1.1\r\n\r\n", 18);
	UT_CHECK("GET / is 404", starts(s, "HTTP/1.1 404 Not Found\r\n"));
	free(s);
	s = http_get(base, &hs, "GET /metricsx HTTP/1.1\r\n\r\n", 26);
	UT_CHECK("GET /metricsx is 404", starts(s, "HTTP/1.1 404 "));
	free(s);
	s = http_get(base, &hs, "POST /metrics HTTP/1.1\r\n"
	    "Content-Length: 3\r\n\r\nabc", 47);
	UT_CHECK("POST is 405", starts(s, "HTTP/1.1 405 ") &&
	    strstr(s, "Allow: GET, HEAD\r\n") != NULL);
	free(s);
	s = http_get(base, &hs, "get /metrics HTTP/1.1\r\n\r\n", 25);
	UT_CHECK("lower case method is 400", starts(s, "HTTP/1.1 400 "));
	free(s);
	s = http_get(base, &hs, "GET /metrics HTTP/2.0\r\n\r\n", 25);
	UT_CHECK("HTTP/2.0 is 505", starts(s, "HTTP/1.1 505 "));
	free(s);
	s = http_get(base, &hs, "GET  /metrics HTTP/1.1\r\n\r\n", 26);
	UT_CHECK("two spaces is 400", starts(s, "HTTP/1.1 400 "));
	free(s);
	s = http_get(base, &hs, "GET /metrics\r\n\r\n", 16);
	UT_CHECK("no version is 400", starts(s, "HTTP/1.1 400 "));
	free(s);
	s = http_get(base, &hs, "GET /me\0rics HTTP/1.1\r\n\r\n", 25);
	UT_CHECK("NUL is 400", starts(s, "HTTP/1.1 400 "));
	free(s);
	UT_CHECK("none of these collected", hs.calls == i);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	s = http_get(base, &hs, big, sizeof(big));
	UT_CHECK("header too large is 431", starts(s, "HTTP/1.1 431 "));
	free(s);

	hs.mode = 1;
	s = http_get(base, &hs, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	UT_CHECK("collect fails: 503", starts(s,
	    "HTTP/1.1 503 Service Unavailable\r\n"));
	free(s);

	/* a collection that takes too long: 503, the late answer is dropped */
	hs.mode = 2;
	metrics_http_set_timeout(hs.srv, 1);
	s = http_get(base, &hs, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	UT_CHECK("collect too slow: 503", starts(s, "HTTP/1.1 503 "));
	free(s);
	UT_CHECK("held", hs.nheld == 1);
	b = evbuffer_new();
	(void)evbuffer_add_printf(b, "late\n");
	metrics_http_done(hs.held[0], b);	/* frees it: ASan watches */
	evbuffer_free(b);

	/* a client that says nothing, or never ends its header, is closed */
	s = http_get(base, &hs, "", 0);
	UT_CHECK("silent client closed", s[0] == '\0');
	free(s);
	s = http_get(base, &hs, "GET /metrics HTTP/1.1\r\nX: \x01\x7f\r\n",
	    31);
	UT_CHECK("a header that never ends is closed", s[0] == '\0');
	free(s);

	/* the limit on clients */
	hs.mode = 0;
	metrics_http_set_timeout(hs.srv, 30);
	for (i = 0; i < METRICS_HTTP_MAXCLIENTS; i++)
		(void)hclient_open(base, hs.port, &idle[i]);
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	s = http_get(base, &hs, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	UT_CHECK("past the client limit: 503", starts(s, "HTTP/1.1 503 "));
	free(s);
	for (i = 0; i < METRICS_HTTP_MAXCLIENTS; i++)
		hclient_close(&idle[i]);

	/* collections owed when the server goes */
	hs.mode = 2;
	hs.nheld = 0;
	(void)hclient_open(base, hs.port, &idle[0]);
	(void)write(idle[0].fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	for (i = 0; i < 50 && hs.nheld == 0; i++)
		(void)event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	UT_CHECK("owed at free", hs.nheld == 1);
	metrics_http_free(hs.srv);
	metrics_http_done(hs.held[0], NULL);
	hclient_close(&idle[0]);
	event_base_free(base);
}

int
main(void)
{
	log_init(1, LOG_DAEMON);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_basic();
	test_reasons();
	test_escaping();
	test_numbers();
	test_histogram();
	test_refusals();
	test_merge();
	test_table();
	test_promcheck();
	test_http();
	{
		char	 p[64];

		(void)snprintf(p, sizeof(p), "%s/in.prom", tmpdir);
		(void)unlink(p);
		(void)rmdir(tmpdir);
	}
	UT_EXIT();
}
