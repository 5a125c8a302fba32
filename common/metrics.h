/*
 * metrics.h: counters, gauges and histograms in the Prometheus text
 * exposition format (version 0.0.4), and a small HTTP listener that
 * serves them.
 *
 * A struct metrics is a set of families (name, type, help), each with
 * samples keyed by their labels.  It is built when someone asks, never
 * on a hot path: a process keeps its plain counters (and struct
 * metric_hist for distributions, which allocates nothing), and fills a
 * struct metrics from them when the parent asks for its numbers.
 *
 * Between processes a set travels as msgpack (metrics_pack()), and the
 * parent adds what each child sent into one set (metrics_merge()):
 * counters and gauges are summed, histogram buckets and sums added, so
 * the parent reports one number for all listeners unless a child puts
 * an instance label on its samples.  The merge checks everything: a
 * child is trusted no more than a network peer.
 *
 *	[ { "name": str, "type": "counter"|"gauge"|"histogram",
 *	    "help": str,
 *	    "bounds": [float, ...],		histogram only, increasing,
 *						+Inf implied
 *	    "samples": [ { "labels": { name: value, ... },
 *			   "value": float|int }	counter, gauge
 *			 | { "labels": { ... },
 *			   "counts": [uint, ...],	per bucket, not
 *						cumulative, one more
 *						than bounds (the +Inf one)
 *			   "sum": float|int }, ... ] }, ... ]
 *
 * Label values and help are UTF-8 without control characters other
 * than tab and newline.  Labels are sorted by name, so the order a
 * caller gives them in does not matter.  Output lists families in the
 * order they were declared (or first merged), samples in the order of
 * their labels.
 */

#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct evbuffer;
struct event_base;

#define METRICS_NAMEMAX		128	/* bytes of a metric or label name */
#define METRICS_HELPMAX		512	/* bytes of a help text */
#define METRICS_VALUEMAX	256	/* bytes of a label value */
#define METRICS_LABELMAX	8	/* labels on one sample */
#define METRICS_BUCKETMAX	32	/* bounds of one histogram */
#define METRICS_FAMILYMAX	256	/* families in one set */
#define METRICS_SAMPLEMAX	16384	/* samples in one set, in all */

/* The Content-Type of the exposition format. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM
};

struct metric_label {
	const char	*name;
	const char	*value;
};

struct metrics;

/*
 * A distribution kept by a process, allocation free: bounds is the
 * caller's (static) array of increasing upper bounds.  counts[i] counts
 * the values v with bounds[i-1] < v <= bounds[i]; counts[nbounds]
 * those above the last bound.
 */
struct metric_hist {
	const double	*bounds;
	size_t		 nbounds;
	uint64_t	 counts[METRICS_BUCKETMAX + 1];
	double		 sum;
};

void		 metric_hist_init(struct metric_hist *, const double *bounds,
		    size_t nbounds);
void		 metric_hist_observe(struct metric_hist *, double);

/*
 * Building a set.  Every function returns 0, or -1 with errno: EINVAL
 * for a bad name, label or value, or a sample of the wrong type;
 * EEXIST when a name clashes with another family's; E2BIG past the
 * limits above; ENOMEM.
 */
struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *);
/* Declaring a family again with the same type (and bounds) is a no-op. */
int		 metrics_declare(struct metrics *, const char *name,
		    enum metric_type, const char *help);
int		 metrics_declare_histogram(struct metrics *, const char *name,
		    const char *help, const double *bounds, size_t nbounds);
/* Counter or gauge: add v (counters: v >= 0), or set it (gauges). */
int		 metrics_add(struct metrics *, const char *name,
		    const struct metric_label *, size_t nlabels, double v);
int		 metrics_set(struct metrics *, const char *name,
		    const struct metric_label *, size_t nlabels, double v);
/* Histogram: one value, or a whole struct metric_hist added in. */
int		 metrics_observe(struct metrics *, const char *name,
		    const struct metric_label *, size_t nlabels, double v);
int		 metrics_add_hist(struct metrics *, const char *name,
		    const struct metric_label *, size_t nlabels,
		    const struct metric_hist *);
size_t		 metrics_count(const struct metrics *);	/* samples */

/*
 * Reasons, as a refusal or failure is counted by: each is told by the
 * start of the text it was logged with, the table's last entry (prefix
 * "") takes the rest, and entries may share a label.  metrics_reason()
 * is the index of why's entry; metrics_add_reasons() adds counts[i],
 * for each entry i of the table, to family name's sample of its label
 * ("reason").
 */
struct metric_reason {
	const char	*prefix;
	const char	*label;
};
size_t		 metrics_reason(const struct metric_reason *, size_t,
		    const char *why);
int		 metrics_add_reasons(struct metrics *, const char *name,
		    const struct metric_reason *, size_t,
		    const uint64_t *counts);

/*
 * A value as the exposition writes it: the shortest text that reads
 * back as the same double, integers without exponent, NaN, +Inf, -Inf.
 */
void		 metrics_format_float(char *, size_t, double);

/* The text exposition format; -1 on ENOMEM. */
int		 metrics_write(const struct metrics *, struct evbuffer *);

/* The msgpack form above, and its merge into a set. */
void		 metrics_pack(const struct metrics *, msgpack_packer *);
/*
 * Add the set o (the msgpack form) into m, each of its samples with the
 * extra labels added (NULL, 0: none).  All or nothing: on -1, *why says
 * what was wrong and m is as it was.
 */
int		 metrics_merge(struct metrics *, const msgpack_object *o,
		    const struct metric_label *extra, size_t nextra,
		    const char **why);
/*
 * For people (show counters): an array of maps {name: str, labels: str
 * (a="x",b="y" or ""), value: float}; a histogram gives its _count and
 * _sum rows.  Rows first to first + max - 1, as an array; the number
 * of rows is returned, and at 0 (past the end) nothing is packed.  So a
 * long table goes out in pieces:
 *
 *	for (i = 0; (n = metrics_pack_table(m, pk, i, 500)) > 0; i += n)
 *		control_send(req);
 */
size_t		 metrics_pack_table(const struct metrics *, msgpack_packer *,
		    size_t first, size_t max);

/*
 * The HTTP listener: GET (or HEAD) /metrics over HTTP/1.0 or 1.1 on a
 * listening TCP socket the caller opened.  Requests are read with a
 * bounded header and a timeout, answered with Connection: close;
 * anything but /metrics is a 404, another method a 405, a malformed
 * request a 400.
 *
 * For each GET /metrics, collect(req, arg) is called; it must call
 * metrics_http_done(req, text) exactly once, at once or later (text is
 * the exposition, NULL if it could not be had: 503).  req stays valid
 * until then, even if the client went away or the server was freed;
 * a collection that takes longer than the timeout gets the client a
 * 503 and is still owed its metrics_http_done().
 */
#define METRICS_HTTP_MAXCLIENTS	16
#define METRICS_HTTP_MAXHEADER	8192
#define METRICS_HTTP_TIMEOUT	10	/* seconds, read to last byte */

struct metrics_http;
struct metrics_http_req;
typedef void	(*metrics_collect_fn)(struct metrics_http_req *, void *arg);

struct metrics_http *metrics_http_new(struct event_base *, int listenfd,
		    metrics_collect_fn, void *arg);
/* Closes the listening socket and every connection. */
void		 metrics_http_free(struct metrics_http *);
void		 metrics_http_set_timeout(struct metrics_http *, int secs);
void		 metrics_http_done(struct metrics_http_req *,
		    struct evbuffer *text);

/*
 * The length of the well-formed multi-byte UTF-8 sequence at p (no
 * overlong form, no surrogate, at most U+10FFFF), len bytes at most
 * there; 0 if there is none.
 */
size_t		 utf8_seqlen(const uint8_t *, size_t);

#endif /* METRICS_H */
