/*
 * metrics.c: sets of Prometheus metrics, their text exposition, their
 * msgpack form and its merge, and the HTTP listener (metrics.h).
 *
 * A family holds its samples in a tree keyed by the labels as they are
 * written out, sorted by label name and escaped: a="x",b="y".  That
 * text is the sample's identity, so adding the same labels in another
 * order finds the same sample, and output needs no further escaping.
 */

#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "net.h"

/* The labels of one sample as written: each value escaped, so twice. */
#define METRICS_KEYMAX	(METRICS_LABELMAX * \
			    (METRICS_NAMEMAX + 4 + 2 * METRICS_VALUEMAX))
#define METRICS_FLOATMAX 32

struct metric_sample {
	RB_ENTRY(metric_sample)	 entry;
	char			*key;
	size_t			 nlabels;
	char			*lname[METRICS_LABELMAX];
	char			*lvalue[METRICS_LABELMAX];
	double			 value;
	uint64_t		*counts;	/* histogram: nbounds + 1 */
	double			 sum;
};
RB_HEAD(metric_samples, metric_sample);

struct metric_family {
	TAILQ_ENTRY(metric_family) entry;
	char			 name[METRICS_NAMEMAX];
	char			*help;
	enum metric_type	 type;
	double			 bounds[METRICS_BUCKETMAX];
	size_t			 nbounds;
	struct metric_samples	 samples;
	size_t			 nsamples;
};
TAILQ_HEAD(metric_families, metric_family);

struct metrics {
	struct metric_families	 families;
	size_t			 nfamilies;
	size_t			 nsamples;
};

/* Labels sorted by name, checked, ready to become a key. */
struct label_set {
	size_t			 n;
	const char		*name[METRICS_LABELMAX];
	const char		*value[METRICS_LABELMAX];
};

static int
sample_cmp(const struct metric_sample *a, const struct metric_sample *b)
{
	return (strcmp(a->key, b->key));
}
RB_GENERATE_STATIC(metric_samples, metric_sample, entry, sample_cmp)

static const char *type_names[] = { "counter", "gauge", "histogram" };

/*
 * Names and text.
 */

static int
valid_name(const char *s, int metric)
{
	size_t	 i, len = strlen(s);
	char	 c;

	if (len == 0 || len >= METRICS_NAMEMAX)
		return (0);
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (metric && c == ':'))
			continue;
		if (i > 0 && c >= '0' && c <= '9')
			continue;
		return (0);
	}
	/* names beginning with __ are Prometheus' own */
	if (!metric && len >= 2 && s[0] == '_' && s[1] == '_')
		return (0);
	return (1);
}

size_t
utf8_seqlen(const uint8_t *p, size_t len)
{
	size_t		 n, k;
	uint32_t	 cp, min;

	if ((p[0] & 0xe0) == 0xc0) {
		n = 1;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 2;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 3;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return (0);
	if (len <= n)
		return (0);
	for (k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n + 1);
}

/*
 * Text for a label value or a help: well-formed UTF-8 (no overlong
 * forms, no surrogates) without control characters but tab and newline,
 * so no reader of the exposition trips over a carriage return.
 */
static int
valid_text(const char *s, size_t len)
{
	const uint8_t	*p = (const uint8_t *)s;
	size_t		 i = 0, n;

	while (i < len) {
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n') ||
		    p[i] == 0x7f)
			return (0);
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seqlen(p + i, len - i)) == 0)
			return (0);
		i += n;
	}
	return (1);
}

/*
 * Append s escaped: backslash and newline always, the double quote in
 * label values (quote != 0).  -1 if it does not fit.
 */
static int
escape(char *dst, size_t dstsz, size_t *off, const char *s, int quote)
{
	const char	*e;
	size_t		 elen;

	for (; *s != '\0'; s++) {
		if (*s == '\\')
			e = "\\\\";
		else if (*s == '\n')
			e = "\\n";
		else if (*s == '"' && quote)
			e = "\\\"";
		else
			e = NULL;
		elen = e != NULL ? 2 : 1;
		if (*off + elen >= dstsz)
			return (-1);
		if (e != NULL)
			memcpy(dst + *off, e, 2);
		else
			dst[*off] = *s;
		*off += elen;
	}
	dst[*off] = '\0';
	return (0);
}

static int
append(char *dst, size_t dstsz, size_t *off, const char *s)
{
	size_t	 len = strlen(s);

	if (*off + len >= dstsz)
		return (-1);
	memcpy(dst + *off, s, len + 1);
	*off += len;
	return (0);
}

/*
 * The shortest text that reads back as the same double, as Prometheus'
 * own clients write them; integers without an exponent.
 */
void
metrics_format_float(char *buf, size_t sz, double v)
{
	int	 p;

	if (isnan(v)) {
		(void)strlcpy(buf, "NaN", sz);
		return;
	}
	if (isinf(v)) {
		(void)strlcpy(buf, v > 0 ? "+Inf" : "-Inf", sz);
		return;
	}
	if (v == 0) {
		(void)strlcpy(buf, "0", sz);
		return;
	}
	if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
		(void)snprintf(buf, sz, "%lld", (long long)v);
		return;
	}
	for (p = 1; p <= 17; p++) {
		(void)snprintf(buf, sz, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
}

/*
 * Check and sort labels (insertion sort: there are at most eight).
 */
static int
labels_prepare(struct label_set *ls, const struct metric_label *l,
    size_t n, int histogram)
{
	size_t		 i, j, vlen;
	const char	*tn, *tv;
	int		 c;

	if (n > METRICS_LABELMAX) {
		errno = E2BIG;
		return (-1);
	}
	if (n > 0 && l == NULL) {
		errno = EINVAL;
		return (-1);
	}
	ls->n = 0;
	for (i = 0; i < n; i++) {
		if (l[i].name == NULL || l[i].value == NULL ||
		    !valid_name(l[i].name, 0) ||
		    (histogram && strcmp(l[i].name, "le") == 0)) {
			errno = EINVAL;
			return (-1);
		}
		vlen = strlen(l[i].value);
		if (vlen >= METRICS_VALUEMAX ||
		    !valid_text(l[i].value, vlen)) {
			errno = EINVAL;
			return (-1);
		}
		ls->name[i] = l[i].name;
		ls->value[i] = l[i].value;
		ls->n++;
		for (j = i; j > 0; j--) {
			c = strcmp(ls->name[j - 1], ls->name[j]);
			if (c == 0) {
				errno = EINVAL;	/* the same name twice */
				return (-1);
			}
			if (c < 0)
				break;
			tn = ls->name[j];
			tv = ls->value[j];
			ls->name[j] = ls->name[j - 1];
			ls->value[j] = ls->value[j - 1];
			ls->name[j - 1] = tn;
			ls->value[j - 1] = tv;
		}
	}
	return (0);
}

static int
labels_key(const struct label_set *ls, char *key, size_t keysz)
{
	size_t	 i, off = 0;

	key[0] = '\0';
	for (i = 0; i < ls->n; i++) {
		if ((i > 0 && append(key, keysz, &off, ",") == -1) ||
		    append(key, keysz, &off, ls->name[i]) == -1 ||
		    append(key, keysz, &off, "=\"") == -1 ||
		    escape(key, keysz, &off, ls->value[i], 1) == -1 ||
		    append(key, keysz, &off, "\"") == -1) {
			errno = E2BIG;
			return (-1);
		}
	}
	return (0);
}

/*
 * Families and samples.
 */

static struct metric_family *
family_find(const struct metrics *m, const char *name)
{
	struct metric_family	*f;

	TAILQ_FOREACH(f, &m->families, entry)
		if (strcmp(f->name, name) == 0)
			return (f);
	return (NULL);
}

/* Does a family of this name and type write a line named s? */
static int
family_writes(const char *name, enum metric_type type, const char *s)
{
	size_t		 len = strlen(name);
	const char	*suffix;

	if (strncmp(s, name, len) != 0)
		return (0);
	suffix = s + len;
	if (*suffix == '\0')
		return (1);
	return (type == METRIC_HISTOGRAM && (strcmp(suffix, "_bucket") == 0 ||
	    strcmp(suffix, "_sum") == 0 || strcmp(suffix, "_count") == 0));
}

static int
family_clashes(const struct metrics *m, const char *name,
    enum metric_type type)
{
	static const char	*sfx[] = { "", "_bucket", "_sum", "_count" };
	struct metric_family	*f;
	char			 s[METRICS_NAMEMAX + 8];
	size_t			 i, ns;

	ns = type == METRIC_HISTOGRAM ? nitems(sfx) : 1;
	TAILQ_FOREACH(f, &m->families, entry) {
		for (i = 0; i < ns; i++) {
			(void)snprintf(s, sizeof(s), "%s%s", name, sfx[i]);
			if (family_writes(f->name, f->type, s))
				return (1);
		}
		/* the other way round: theirs ending like ours */
		if (f->type == METRIC_HISTOGRAM)
			for (i = 0; i < nitems(sfx); i++) {
				(void)snprintf(s, sizeof(s), "%s%s", f->name,
				    sfx[i]);
				if (family_writes(name, type, s))
					return (1);
			}
	}
	return (0);
}

static int
family_declare(struct metrics *m, const char *name, enum metric_type type,
    const char *help, const double *bounds, size_t nbounds)
{
	struct metric_family	*f;
	size_t			 i;

	if (name == NULL || !valid_name(name, 1) ||
	    (help != NULL && (strlen(help) >= METRICS_HELPMAX ||
	    !valid_text(help, strlen(help)))) ||
	    (nbounds > 0 && bounds == NULL)) {
		errno = EINVAL;
		return (-1);
	}
	if (nbounds > METRICS_BUCKETMAX) {
		errno = E2BIG;
		return (-1);
	}
	for (i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) ||
		    (i > 0 && bounds[i] <= bounds[i - 1])) {
			errno = EINVAL;
			return (-1);
		}
	if ((f = family_find(m, name)) != NULL) {
		if (f->type != type || f->nbounds != nbounds ||
		    (nbounds > 0 && memcmp(f->bounds, bounds,
		    nbounds * sizeof(*bounds)) != 0)) {
			errno = EEXIST;
			return (-1);
		}
		return (0);
	}
	if (family_clashes(m, name, type)) {
		errno = EEXIST;
		return (-1);
	}
	if (m->nfamilies >= METRICS_FAMILYMAX) {
		errno = E2BIG;
		return (-1);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (-1);
	if ((f->help = strdup(help != NULL ? help : "")) == NULL) {
		free(f);
		return (-1);
	}
	(void)strlcpy(f->name, name, sizeof(f->name));
	f->type = type;
	f->nbounds = nbounds;
	if (nbounds > 0)
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
	RB_INIT(&f->samples);
	TAILQ_INSERT_TAIL(&m->families, f, entry);
	m->nfamilies++;
	return (0);
}

static void
sample_free(struct metric_sample *s)
{
	size_t	 i;

	for (i = 0; i < s->nlabels; i++) {
		free(s->lname[i]);
		free(s->lvalue[i]);
	}
	free(s->counts);
	free(s->key);
	free(s);
}

static struct metric_sample *
sample_get(struct metrics *m, struct metric_family *f,
    const struct metric_label *l, size_t n)
{
	struct metric_sample	 find, *s;
	struct label_set	 ls;
	char			 key[METRICS_KEYMAX];
	size_t			 i;

	if (labels_prepare(&ls, l, n, f->type == METRIC_HISTOGRAM) == -1 ||
	    labels_key(&ls, key, sizeof(key)) == -1)
		return (NULL);
	find.key = key;
	if ((s = RB_FIND(metric_samples, &f->samples, &find)) != NULL)
		return (s);
	if (m->nsamples >= METRICS_SAMPLEMAX) {
		errno = E2BIG;
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	if ((s->key = strdup(key)) == NULL)
		goto fail;
	for (i = 0; i < ls.n; i++) {
		if ((s->lname[i] = strdup(ls.name[i])) == NULL)
			goto fail;
		s->nlabels++;
		if ((s->lvalue[i] = strdup(ls.value[i])) == NULL)
			goto fail;
	}
	if (f->type == METRIC_HISTOGRAM &&
	    (s->counts = calloc(f->nbounds + 1, sizeof(*s->counts))) == NULL)
		goto fail;
	RB_INSERT(metric_samples, &f->samples, s);
	f->nsamples++;
	m->nsamples++;
	return (s);
 fail:
	sample_free(s);
	return (NULL);
}

static struct metric_family *
family_typed(struct metrics *m, const char *name, int histogram)
{
	struct metric_family	*f;

	if (name == NULL || (f = family_find(m, name)) == NULL ||
	    (f->type == METRIC_HISTOGRAM) != histogram) {
		errno = EINVAL;
		return (NULL);
	}
	return (f);
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return (a > UINT64_MAX - b ? UINT64_MAX : a + b);
}

/*
 * Public: building.
 */

void
metric_hist_init(struct metric_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = MINIMUM(n, METRICS_BUCKETMAX);
}

void
metric_hist_observe(struct metric_hist *h, double v)
{
	size_t	 lo = 0, hi = h->nbounds, mid;

	/* the first bound >= v */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (h->bounds[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (isnan(v))
		lo = h->nbounds;
	h->counts[lo] = sat_add(h->counts[lo], 1);
	h->sum += v;
}

struct metrics *
metrics_new(void)
{
	struct metrics	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return (NULL);
	TAILQ_INIT(&m->families);
	return (m);
}

void
metrics_free(struct metrics *m)
{
	struct metric_family	*f;
	struct metric_sample	*s, *next;

	if (m == NULL)
		return;
	while ((f = TAILQ_FIRST(&m->families)) != NULL) {
		TAILQ_REMOVE(&m->families, f, entry);
		RB_FOREACH_SAFE(s, metric_samples, &f->samples, next) {
			RB_REMOVE(metric_samples, &f->samples, s);
			sample_free(s);
		}
		free(f->help);
		free(f);
	}
	free(m);
}

int
metrics_declare(struct metrics *m, const char *name, enum metric_type type,
    const char *help)
{
	if (type != METRIC_COUNTER && type != METRIC_GAUGE) {
		errno = EINVAL;
		return (-1);
	}
	return (family_declare(m, name, type, help, NULL, 0));
}

int
metrics_declare_histogram(struct metrics *m, const char *name,
    const char *help, const double *bounds, size_t nbounds)
{
	return (family_declare(m, name, METRIC_HISTOGRAM, help, bounds,
	    nbounds));
}

/* Add v to a sample, or set it to v; a counter takes no v below 0. */
static int
sample_put(struct metrics *m, const char *name,
    const struct metric_label *l, size_t n, double v, int add)
{
	struct metric_family	*f;
	struct metric_sample	*s;

	if ((f = family_typed(m, name, 0)) == NULL)
		return (-1);
	if (f->type == METRIC_COUNTER && !(v >= 0)) {
		errno = EINVAL;
		return (-1);
	}
	if ((s = sample_get(m, f, l, n)) == NULL)
		return (-1);
	if (add)
		s->value += v;
	else
		s->value = v;
	return (0);
}

int
metrics_add(struct metrics *m, const char *name,
    const struct metric_label *l, size_t n, double v)
{
	return (sample_put(m, name, l, n, v, 1));
}

int
metrics_set(struct metrics *m, const char *name,
    const struct metric_label *l, size_t n, double v)
{
	return (sample_put(m, name, l, n, v, 0));
}

size_t
metrics_reason(const struct metric_reason *r, size_t n, const char *why)
{
	size_t	 i;

	for (i = 0; i + 1 < n; i++)
		if (strncmp(why, r[i].prefix, strlen(r[i].prefix)) == 0)
			break;
	return (i);
}

int
metrics_add_reasons(struct metrics *m, const char *name,
    const struct metric_reason *r, size_t n, const uint64_t *counts)
{
	struct metric_label	 l;
	size_t			 i;

	l.name = "reason";
	for (i = 0; i < n; i++) {
		l.value = r[i].label;
		if (metrics_add(m, name, &l, 1, (double)counts[i]) == -1)
			return (-1);
	}
	return (0);
}

int
metrics_observe(struct metrics *m, const char *name,
    const struct metric_label *l, size_t n, double v)
{
	struct metric_family	*f;
	struct metric_hist	 h;

	if ((f = family_typed(m, name, 1)) == NULL)
		return (-1);
	metric_hist_init(&h, f->bounds, f->nbounds);
	metric_hist_observe(&h, v);
	return (metrics_add_hist(m, name, l, n, &h));
}

int
metrics_add_hist(struct metrics *m, const char *name,
    const struct metric_label *l, size_t n, const struct metric_hist *h)
{
	struct metric_family	*f;
	struct metric_sample	*s;
	size_t			 i;

	if ((f = family_typed(m, name, 1)) == NULL)
		return (-1);
	if (h->nbounds != f->nbounds || (h->nbounds > 0 &&
	    memcmp(h->bounds, f->bounds, f->nbounds * sizeof(double)) != 0)) {
		errno = EINVAL;
		return (-1);
	}
	if ((s = sample_get(m, f, l, n)) == NULL)
		return (-1);
	for (i = 0; i <= f->nbounds; i++)
		s->counts[i] = sat_add(s->counts[i], h->counts[i]);
	s->sum += h->sum;
	return (0);
}

size_t
metrics_count(const struct metrics *m)
{
	return (m->nsamples);
}

/*
 * The exposition format.
 */

static int
write_line(struct evbuffer *b, const char *name, const char *suffix,
    const char *key, const char *le, double v)
{
	char	 num[METRICS_FLOATMAX];
	int	 r;

	metrics_format_float(num, sizeof(num), v);
	if (le != NULL)
		r = evbuffer_add_printf(b, "%s%s{%s%sle=\"%s\"} %s\n", name,
		    suffix, key, key[0] != '\0' ? "," : "", le, num);
	else if (key[0] != '\0')
		r = evbuffer_add_printf(b, "%s%s{%s} %s\n", name, suffix, key,
		    num);
	else
		r = evbuffer_add_printf(b, "%s%s %s\n", name, suffix, num);
	return (r == -1 ? -1 : 0);
}

static int
write_histogram(struct evbuffer *b, const struct metric_family *f,
    const struct metric_sample *s)
{
	char		 le[METRICS_FLOATMAX];
	uint64_t	 cum = 0;
	size_t		 i;

	for (i = 0; i <= f->nbounds; i++) {
		cum = sat_add(cum, s->counts[i]);
		if (i < f->nbounds)
			metrics_format_float(le, sizeof(le), f->bounds[i]);
		else
			(void)strlcpy(le, "+Inf", sizeof(le));
		if (write_line(b, f->name, "_bucket", s->key, le,
		    (double)cum) == -1)
			return (-1);
	}
	if (write_line(b, f->name, "_sum", s->key, NULL, s->sum) == -1 ||
	    write_line(b, f->name, "_count", s->key, NULL, (double)cum) == -1)
		return (-1);
	return (0);
}

int
metrics_write(const struct metrics *m, struct evbuffer *b)
{
	struct metric_family	*f;
	struct metric_sample	*s;
	char			 help[2 * METRICS_HELPMAX];
	size_t			 off;

	TAILQ_FOREACH(f, &m->families, entry) {
		if (f->help[0] != '\0') {
			off = 0;
			if (escape(help, sizeof(help), &off, f->help, 0) ==
			    -1 || evbuffer_add_printf(b, "# HELP %s %s\n",
			    f->name, help) == -1)
				return (-1);
		}
		if (evbuffer_add_printf(b, "# TYPE %s %s\n", f->name,
		    type_names[f->type]) == -1)
			return (-1);
		RB_FOREACH(s, metric_samples, &f->samples) {
			if (f->type == METRIC_HISTOGRAM) {
				if (write_histogram(b, f, s) == -1)
					return (-1);
			} else if (write_line(b, f->name, "", s->key, NULL,
			    s->value) == -1)
				return (-1);
		}
	}
	return (0);
}

/*
 * The msgpack form.
 */

void
metrics_pack(const struct metrics *m, msgpack_packer *pk)
{
	struct metric_family	*f;
	struct metric_sample	*s;
	size_t			 i;

	msgpack_pack_array(pk, m->nfamilies);
	TAILQ_FOREACH(f, &m->families, entry) {
		msgpack_pack_map(pk, f->type == METRIC_HISTOGRAM ? 5 : 4);
		mp_pack_kstr(pk, "name", f->name);
		mp_pack_kstr(pk, "type", type_names[f->type]);
		mp_pack_kstr(pk, "help", f->help);
		if (f->type == METRIC_HISTOGRAM) {
			mp_pack_str(pk, "bounds");
			msgpack_pack_array(pk, f->nbounds);
			for (i = 0; i < f->nbounds; i++)
				msgpack_pack_double(pk, f->bounds[i]);
		}
		mp_pack_str(pk, "samples");
		msgpack_pack_array(pk, f->nsamples);
		RB_FOREACH(s, metric_samples, &f->samples) {
			msgpack_pack_map(pk,
			    f->type == METRIC_HISTOGRAM ? 3 : 2);
			mp_pack_str(pk, "labels");
			msgpack_pack_map(pk, s->nlabels);
			for (i = 0; i < s->nlabels; i++)
				mp_pack_kstr(pk, s->lname[i], s->lvalue[i]);
			if (f->type != METRIC_HISTOGRAM) {
				mp_pack_str(pk, "value");
				msgpack_pack_double(pk, s->value);
				continue;
			}
			mp_pack_str(pk, "counts");
			msgpack_pack_array(pk, f->nbounds + 1);
			for (i = 0; i <= f->nbounds; i++)
				msgpack_pack_uint64(pk, s->counts[i]);
			mp_pack_str(pk, "sum");
			msgpack_pack_double(pk, s->sum);
		}
	}
}

static int
mp_number(const msgpack_object *o, double *v)
{
	if (o == NULL)
		return (-1);
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return (0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return (0);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return (0);
	default:
		return (-1);
	}
}

static char	 merge_why[METRICS_NAMEMAX + 128];

static const char *
merge_fail(const char *family, const char *what)
{
	if (family != NULL)
		(void)snprintf(merge_why, sizeof(merge_why), "%s: %s", family,
		    what);
	else
		(void)strlcpy(merge_why, what, sizeof(merge_why));
	return (merge_why);
}

/* One sample of the msgpack form into the family f of tmp. */
static const char *
merge_sample(struct metrics *tmp, const struct metric_family *f,
    const msgpack_object *so, const struct metric_label *extra,
    size_t nextra)
{
	char			 lname[METRICS_LABELMAX][METRICS_NAMEMAX];
	char			 lval[METRICS_LABELMAX][METRICS_VALUEMAX];
	struct metric_label	 l[METRICS_LABELMAX];
	struct metric_hist	 h;
	const msgpack_object	*lo, *co;
	size_t			 i, n;
	uint64_t		 u;
	double			 v;

	lo = mp_map_get(so, "labels");
	if (lo == NULL || lo->type != MSGPACK_OBJECT_MAP)
		return ("a sample without labels");
	if (lo->via.map.size > METRICS_LABELMAX - nextra)
		return ("too many labels");
	n = 0;
	for (i = 0; i < lo->via.map.size; i++, n++) {
		if (mp_get_str(&lo->via.map.ptr[i].key, lname[n],
		    sizeof(lname[n])) == -1 ||
		    mp_get_str(&lo->via.map.ptr[i].val, lval[n],
		    sizeof(lval[n])) == -1)
			return ("a label that is no string or too long");
		l[n].name = lname[n];
		l[n].value = lval[n];
	}
	for (i = 0; i < nextra; i++, n++)
		l[n] = extra[i];
	if (f->type != METRIC_HISTOGRAM) {
		if (mp_number(mp_map_get(so, "value"), &v) == -1)
			return ("a sample without a value");
		if (metrics_add(tmp, f->name, l, n, v) == -1)
			return (errno == E2BIG ? "too many samples" :
			    "a bad label or value");
		return (NULL);
	}
	co = mp_map_array(so, "counts", METRICS_BUCKETMAX + 1);
	if (co == NULL || co->via.array.size != f->nbounds + 1)
		return ("bucket counts do not match the bounds");
	metric_hist_init(&h, f->bounds, f->nbounds);
	for (i = 0; i <= f->nbounds; i++) {
		if (mp_get_uint(&co->via.array.ptr[i], UINT64_MAX, &u) == -1)
			return ("a bucket count that is no unsigned integer");
		h.counts[i] = u;
	}
	if (mp_number(mp_map_get(so, "sum"), &h.sum) == -1)
		return ("a histogram without a sum");
	if (metrics_add_hist(tmp, f->name, l, n, &h) == -1)
		return (errno == E2BIG ? "too many samples" :
		    "a bad label or value");
	return (NULL);
}

/* The msgpack form into tmp, a new set: everything checked. */
static const char *
merge_parse(struct metrics *tmp, const msgpack_object *o,
    const struct metric_label *extra, size_t nextra)
{
	char			 name[METRICS_NAMEMAX], tname[16];
	char			 help[METRICS_HELPMAX];
	double			 bounds[METRICS_BUCKETMAX];
	const msgpack_object	*fo, *bo, *sa, *ho;
	const struct metric_family *f;
	const char		*why;
	size_t			 i, j, nb;
	int			 type;

	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return (merge_fail(NULL, "not an array of families"));
	if (o->via.array.size > METRICS_FAMILYMAX)
		return (merge_fail(NULL, "too many families"));
	for (i = 0; i < o->via.array.size; i++) {
		fo = &o->via.array.ptr[i];
		if (mp_map_str(fo, "name", name, sizeof(name)) == -1)
			return (merge_fail(NULL, "a family without a name"));
		if (mp_map_str(fo, "type", tname, sizeof(tname)) == -1)
			return (merge_fail(name, "no type"));
		for (type = 0; type < (int)nitems(type_names); type++)
			if (strcmp(tname, type_names[type]) == 0)
				break;
		if (type == (int)nitems(type_names))
			return (merge_fail(name, "unknown type"));
		help[0] = '\0';
		if ((ho = mp_map_get(fo, "help")) != NULL &&
		    mp_get_str(ho, help, sizeof(help)) == -1)
			return (merge_fail(name, "help is no string or too "
			    "long"));
		nb = 0;
		if (type == METRIC_HISTOGRAM) {
			bo = mp_map_array(fo, "bounds", METRICS_BUCKETMAX);
			if (bo == NULL)
				return (merge_fail(name, "no bounds"));
			for (nb = 0; nb < bo->via.array.size; nb++)
				if (mp_number(&bo->via.array.ptr[nb],
				    &bounds[nb]) == -1)
					return (merge_fail(name,
					    "a bound that is no number"));
		}
		if (family_declare(tmp, name, (enum metric_type)type, help,
		    bounds, nb) == -1)
			return (merge_fail(name, errno == EEXIST ?
			    "declared twice, or clashes with another family" :
			    "a bad name, help or bounds"));
		f = family_find(tmp, name);
		if ((sa = mp_map_array(fo, "samples", METRICS_SAMPLEMAX)) ==
		    NULL)
			return (merge_fail(name, "no samples array"));
		for (j = 0; j < sa->via.array.size; j++)
			if ((why = merge_sample(tmp, f, &sa->via.array.ptr[j],
			    extra, nextra)) != NULL)
				return (merge_fail(name, why));
	}
	return (NULL);
}

static void
sample_labels(const struct metric_sample *s, struct metric_label *l)
{
	size_t	 i;

	for (i = 0; i < s->nlabels; i++) {
		l[i].name = s->lname[i];
		l[i].value = s->lvalue[i];
	}
}

/* Can all of tmp go into m? */
static const char *
merge_check(const struct metrics *m, const struct metrics *tmp)
{
	struct metric_family	*tf, *f;
	struct metric_sample	*ts;
	size_t			 nfam = 0, nsam = 0;

	TAILQ_FOREACH(tf, &tmp->families, entry) {
		if ((f = family_find(m, tf->name)) == NULL) {
			if (family_clashes(m, tf->name, tf->type))
				return (merge_fail(tf->name, "clashes with "
				    "another family"));
			nfam++;
			nsam += tf->nsamples;
			continue;
		}
		if (f->type != tf->type || f->nbounds != tf->nbounds ||
		    (f->nbounds > 0 && memcmp(f->bounds, tf->bounds,
		    f->nbounds * sizeof(double)) != 0))
			return (merge_fail(tf->name, "type or bounds differ"));
		RB_FOREACH(ts, metric_samples, &tf->samples)
			if (RB_FIND(metric_samples, &f->samples, ts) == NULL)
				nsam++;
	}
	if (m->nfamilies + nfam > METRICS_FAMILYMAX)
		return (merge_fail(NULL, "too many families"));
	if (m->nsamples + nsam > METRICS_SAMPLEMAX)
		return (merge_fail(NULL, "too many samples"));
	return (NULL);
}

int
metrics_merge(struct metrics *m, const msgpack_object *o,
    const struct metric_label *extra, size_t nextra, const char **why)
{
	struct metrics		*tmp;
	struct metric_family	*tf, *f;
	struct metric_sample	*ts, *s;
	struct metric_label	 l[METRICS_LABELMAX];
	size_t			 i;

	if (nextra > METRICS_LABELMAX) {
		*why = merge_fail(NULL, "too many extra labels");
		return (-1);
	}
	if ((tmp = metrics_new()) == NULL) {
		*why = merge_fail(NULL, "out of memory");
		return (-1);
	}
	if ((*why = merge_parse(tmp, o, extra, nextra)) != NULL ||
	    (*why = merge_check(m, tmp)) != NULL) {
		metrics_free(tmp);
		return (-1);
	}
	TAILQ_FOREACH(tf, &tmp->families, entry) {
		if (family_declare(m, tf->name, tf->type, tf->help,
		    tf->bounds, tf->nbounds) == -1 ||
		    (f = family_find(m, tf->name)) == NULL)
			goto fail;
		RB_FOREACH(ts, metric_samples, &tf->samples) {
			sample_labels(ts, l);
			if ((s = sample_get(m, f, l, ts->nlabels)) == NULL)
				goto fail;
			s->value += ts->value;
			s->sum += ts->sum;
			if (f->type == METRIC_HISTOGRAM)
				for (i = 0; i <= f->nbounds; i++)
					s->counts[i] = sat_add(s->counts[i],
					    ts->counts[i]);
		}
	}
	metrics_free(tmp);
	return (0);
 fail:
	/* only memory runs out here: merge_check() saw to the rest */
	metrics_free(tmp);
	*why = merge_fail(NULL, "out of memory");
	return (-1);
}

size_t
metrics_pack_table(const struct metrics *m, msgpack_packer *pk,
    size_t first, size_t max)
{
	static const char	*sfx[] = { "_count", "_sum" };
	struct metric_family	*f;
	struct metric_sample	*s;
	char			 name[METRICS_NAMEMAX + 8];
	size_t			 rows = 0, row = 0, n, i;
	uint64_t		 count;

	TAILQ_FOREACH(f, &m->families, entry)
		rows += f->type == METRIC_HISTOGRAM ? 2 * f->nsamples :
		    f->nsamples;
	if ((n = first < rows ? MINIMUM(rows - first, max) : 0) == 0)
		return (0);
	msgpack_pack_array(pk, n);
	TAILQ_FOREACH(f, &m->families, entry) {
		RB_FOREACH(s, metric_samples, &f->samples) {
			for (count = 0, i = 0; f->type == METRIC_HISTOGRAM &&
			    i <= f->nbounds; i++)
				count = sat_add(count, s->counts[i]);
			for (i = 0; i < (f->type == METRIC_HISTOGRAM ? 2 : 1);
			    i++, row++) {
				if (row < first || row >= first + n)
					continue;
				if (f->type == METRIC_HISTOGRAM)
					(void)snprintf(name, sizeof(name),
					    "%s%s", f->name, sfx[i]);
				else
					(void)strlcpy(name, f->name,
					    sizeof(name));
				msgpack_pack_map(pk, 3);
				mp_pack_kstr(pk, "name", name);
				mp_pack_kstr(pk, "labels", s->key);
				mp_pack_str(pk, "value");
				msgpack_pack_double(pk, f->type ==
				    METRIC_HISTOGRAM ? (i == 0 ?
				    (double)count : s->sum) : s->value);
			}
		}
	}
	return (n);
}

/*
 * The HTTP listener.  One timer per connection bounds the whole
 * exchange; a request is read up to its empty line, answered, the
 * socket shut down for writing and drained until the client closes, so
 * that unread bytes never turn the close into a reset that would cut
 * the answer short.
 */

#define HTTP_READSZ	4096
#define HTTP_DRAINMAX	(64 * 1024)

struct metrics_http {
	struct event_base	*base;
	int			 fd;
	struct event		*ev;
	struct event		*pause;
	metrics_collect_fn	 collect;
	void			*arg;
	struct timeval		 timeout;
	TAILQ_HEAD(, metrics_http_req) reqs;
	unsigned int		 nreqs;
};

struct metrics_http_req {
	TAILQ_ENTRY(metrics_http_req) entry;
	struct metrics_http	*srv;		/* NULL once it is freed */
	int			 fd;		/* -1 once closed */
	struct event		*rev;
	struct event		*wev;
	struct event		*tmo;
	struct evbuffer		*in;
	struct evbuffer		*out;
	size_t			 drained;
	int			 owed;		/* metrics_http_done() */
	int			 answered;
	int			 head;
	int			 draining;
};

static const char http_busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Length: 0\r\nConnection: close\r\n\r\n";

static void	http_accept(evutil_socket_t, short, void *);
static void	http_read(evutil_socket_t, short, void *);
static void	http_write(evutil_socket_t, short, void *);
static void	http_timeout(evutil_socket_t, short, void *);

static void
http_free(struct metrics_http_req *r)
{
	if (r->srv != NULL) {
		TAILQ_REMOVE(&r->srv->reqs, r, entry);
		r->srv->nreqs--;
	}
	free(r);
}

/* The connection ends; the request lives on while a collection is owed. */
static void
http_close(struct metrics_http_req *r)
{
	if (r->fd != -1) {
		event_free(r->rev);
		event_free(r->wev);
		event_free(r->tmo);
		evbuffer_free(r->in);
		evbuffer_free(r->out);
		close(r->fd);
		r->fd = -1;
	}
	if (!r->owed)
		http_free(r);
}

static void
http_respond(struct metrics_http_req *r, int code, const char *reason,
    const char *extra, struct evbuffer *body, const char *text)
{
	size_t	 len;

	len = body != NULL ? evbuffer_get_length(body) :
	    text != NULL ? strlen(text) : 0;
	r->answered = 1;
	if (evbuffer_add_printf(r->out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", code, reason,
	    code == 200 ? METRICS_CONTENT_TYPE : "text/plain", len,
	    extra != NULL ? extra : "") == -1 ||
	    (!r->head && body != NULL && evbuffer_add_buffer(r->out, body) ==
	    -1) ||
	    (!r->head && text != NULL && evbuffer_add(r->out, text, len) ==
	    -1)) {
		http_close(r);
		return;
	}
	if (body != NULL)
		(void)evbuffer_drain(body, evbuffer_get_length(body));
	event_del(r->rev);
	(void)event_add(r->wev, NULL);
	(void)evtimer_add(r->tmo, &r->srv->timeout);
}

static void
http_error(struct metrics_http_req *r, int code, const char *reason)
{
	char	 text[64];

	(void)snprintf(text, sizeof(text), "%s\n", reason);
	http_respond(r, code, reason, code == 405 ? "Allow: GET, HEAD\r\n" :
	    NULL, NULL, text);
}

/*
 * The request line: method, target and version, one space apart.  The
 * header fields that follow are not needed and not looked at.
 */
static void
http_request(struct metrics_http_req *r, const char *hdr, size_t len)
{
	const char	*p, *eol, *sp1, *sp2, *q;
	size_t		 mlen, tlen, vlen;

	if (memchr(hdr, '\0', len) != NULL) {
		http_error(r, 400, "Bad Request");
		return;
	}
	/* empty lines before the request line are allowed */
	p = hdr;
	while (*p == '\r' || *p == '\n')
		p++;
	if ((eol = strchr(p, '\n')) == NULL) {
		http_error(r, 400, "Bad Request");
		return;
	}
	if (eol > p && eol[-1] == '\r')
		eol--;
	if ((sp1 = memchr(p, ' ', (size_t)(eol - p))) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1))) == NULL ||
	    memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)) != NULL) {
		http_error(r, 400, "Bad Request");
		return;
	}
	mlen = (size_t)(sp1 - p);
	tlen = (size_t)(sp2 - sp1 - 1);
	vlen = (size_t)(eol - sp2 - 1);
	for (q = p; q < sp1; q++)
		if (*q < 'A' || *q > 'Z')
			break;
	if (mlen == 0 || q != sp1 || tlen == 0 || sp1[1] != '/') {
		http_error(r, 400, "Bad Request");
		return;
	}
	for (q = sp1 + 1; q < sp2; q++)
		if (*q <= ' ' || *q >= 0x7f)
			break;
	if (q != sp2) {
		http_error(r, 400, "Bad Request");
		return;
	}
	if (vlen != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1')) {
		if (vlen == 8 && strncmp(sp2 + 1, "HTTP/", 5) == 0 &&
		    sp2[6] >= '0' && sp2[6] <= '9' && sp2[7] == '.' &&
		    sp2[8] >= '0' && sp2[8] <= '9')
			http_error(r, 505, "HTTP Version Not Supported");
		else
			http_error(r, 400, "Bad Request");
		return;
	}
	if (mlen == 4 && strncmp(p, "HEAD", 4) == 0)
		r->head = 1;
	else if (mlen != 3 || strncmp(p, "GET", 3) != 0) {
		http_error(r, 405, "Method Not Allowed");
		return;
	}
	/* the path, without a query */
	for (q = sp1 + 1; q < sp2 && *q != '?'; q++)
		;
	if ((size_t)(q - sp1 - 1) != strlen("/metrics") ||
	    strncmp(sp1 + 1, "/metrics", strlen("/metrics")) != 0) {
		http_error(r, 404, "Not Found");
		return;
	}
	event_del(r->rev);
	r->owed = 1;
	r->srv->collect(r, r->srv->arg);
}

static void
http_read(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_http_req	*r = arg;
	struct evbuffer_ptr	 end;
	size_t			 have, room;
	const char		*hdr;
	int			 n;

	if (r->draining) {
		if ((n = evbuffer_read(r->in, fd, HTTP_READSZ)) <= 0 ||
		    (r->drained += (size_t)n) > HTTP_DRAINMAX) {
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			http_close(r);
			return;
		}
		(void)evbuffer_drain(r->in, evbuffer_get_length(r->in));
		return;
	}
	have = evbuffer_get_length(r->in);
	room = METRICS_HTTP_MAXHEADER + 1 - have;
	if ((n = evbuffer_read(r->in, fd, (int)MINIMUM(room, HTTP_READSZ))) ==
	    -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		http_close(r);
		return;
	}
	end = evbuffer_search(r->in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1)
		end = evbuffer_search(r->in, "\n\n", 2, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(r->in) > METRICS_HTTP_MAXHEADER)
			http_error(r, 431, "Request Header Fields Too Large");
		else if (n == 0)
			http_close(r);
		return;
	}
	if (evbuffer_add(r->in, "", 1) == -1 ||
	    (hdr = (const char *)evbuffer_pullup(r->in, -1)) == NULL) {
		http_close(r);
		return;
	}
	http_request(r, hdr, (size_t)end.pos);
}

static void
http_write(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_http_req	*r = arg;

	if (evbuffer_write(r->out, fd) == -1 && errno != EAGAIN &&
	    errno != EINTR) {
		http_close(r);
		return;
	}
	if (evbuffer_get_length(r->out) > 0) {
		(void)event_add(r->wev, NULL);
		return;
	}
	/* all out: half close, then read until the client closes */
	(void)shutdown(fd, SHUT_WR);
	r->draining = 1;
	(void)evbuffer_drain(r->in, evbuffer_get_length(r->in));
	(void)event_add(r->rev, NULL);
}

static void
http_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_http_req	*r = arg;

	if (r->owed && !r->answered) {
		log_warnx("metrics: collecting took too long");
		http_error(r, 503, "Service Unavailable");
		return;
	}
	http_close(r);
}

static void
http_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_http	*srv = arg;

	(void)event_add(srv->ev, NULL);
}

static void
http_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics_http	*srv = arg;
	struct metrics_http_req	*r;
	struct timeval		 tv = { 1, 0 };
	int			 cfd;

	if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("metrics: accept");
			event_del(srv->ev);
			(void)evtimer_add(srv->pause, &tv);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("metrics: accept");
		return;
	}
	if (srv->nreqs >= METRICS_HTTP_MAXCLIENTS ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		(void)send(cfd, http_busy, sizeof(http_busy) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		close(cfd);
		return;
	}
	r->srv = srv;
	r->fd = cfd;
	r->in = evbuffer_new();
	r->out = evbuffer_new();
	r->rev = event_new(srv->base, cfd, EV_READ | EV_PERSIST, http_read, r);
	r->wev = event_new(srv->base, cfd, EV_WRITE, http_write, r);
	r->tmo = evtimer_new(srv->base, http_timeout, r);
	TAILQ_INSERT_TAIL(&srv->reqs, r, entry);
	srv->nreqs++;
	if (r->in == NULL || r->out == NULL || r->rev == NULL ||
	    r->wev == NULL || r->tmo == NULL) {
		if (r->rev != NULL)
			event_free(r->rev);
		if (r->wev != NULL)
			event_free(r->wev);
		if (r->tmo != NULL)
			event_free(r->tmo);
		if (r->in != NULL)
			evbuffer_free(r->in);
		if (r->out != NULL)
			evbuffer_free(r->out);
		close(cfd);
		http_free(r);
		return;
	}
	(void)event_add(r->rev, NULL);
	(void)evtimer_add(r->tmo, &srv->timeout);
}

struct metrics_http *
metrics_http_new(struct event_base *base, int fd, metrics_collect_fn collect,
    void *arg)
{
	struct metrics_http	*srv;

	if (net_nonblock(fd) == -1 || (srv = calloc(1, sizeof(*srv))) == NULL)
		return (NULL);
	srv->base = base;
	srv->fd = fd;
	srv->collect = collect;
	srv->arg = arg;
	srv->timeout.tv_sec = METRICS_HTTP_TIMEOUT;
	TAILQ_INIT(&srv->reqs);
	srv->ev = event_new(base, fd, EV_READ | EV_PERSIST, http_accept, srv);
	srv->pause = evtimer_new(base, http_resume, srv);
	if (srv->ev == NULL || srv->pause == NULL ||
	    event_add(srv->ev, NULL) == -1) {
		if (srv->ev != NULL)
			event_free(srv->ev);
		if (srv->pause != NULL)
			event_free(srv->pause);
		free(srv);
		return (NULL);
	}
	return (srv);
}

void
metrics_http_set_timeout(struct metrics_http *srv, int secs)
{
	srv->timeout.tv_sec = secs > 0 ? secs : METRICS_HTTP_TIMEOUT;
	srv->timeout.tv_usec = 0;
}

void
metrics_http_free(struct metrics_http *srv)
{
	struct metrics_http_req	*r;

	if (srv == NULL)
		return;
	event_free(srv->ev);
	event_free(srv->pause);
	close(srv->fd);
	while ((r = TAILQ_FIRST(&srv->reqs)) != NULL) {
		TAILQ_REMOVE(&srv->reqs, r, entry);
		r->srv = NULL;
		http_close(r);
	}
	free(srv);
}

void
metrics_http_done(struct metrics_http_req *r, struct evbuffer *text)
{
	if (r == NULL || !r->owed)
		return;
	r->owed = 0;
	if (r->fd == -1) {
		http_free(r);
		return;
	}
	if (r->answered) {
		if (text != NULL)
			(void)evbuffer_drain(text, evbuffer_get_length(text));
		return;
	}
	if (text == NULL)
		http_error(r, 503, "Service Unavailable");
	else
		http_respond(r, 200, "OK", NULL, text, NULL);
}
