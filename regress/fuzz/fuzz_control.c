/*
 * fuzz_control.c: libFuzzer target for what the control socket and the
 * metrics merge read from others (control.c, metrics.c).  The first
 * byte picks the parser, the rest is its input:
 *
 *	0	control_args_parse(): a request, as a client sends it;
 *		what it accepts packs and parses again to the same
 *		request, its command printable, every string
 *		NUL-terminated within its buffer;
 *	1	control_reply_feed(): a daemon's answer, as epsctl reads
 *		it; the data put together converts to JSON without a raw
 *		control character;
 *	2	metrics_merge(): a child's metrics, into a set that already
 *		has families; all or nothing (on failure the exposition is
 *		as before), and the exposition that results has no control
 *		character but tabs and the newline ending each line.
 *
 * Besides memory errors and leaks.  Seeds: regress/fuzz/corpus/control/.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "compat.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "fuzz.h"


static void
fz_args(const uint8_t *p, size_t len)
{
	struct control_args	 a, b;
	struct mp_out		 o;
	const char		*why;
	const char		*s;
	int			 i;

	if (control_args_parse(&a, p, len, &why) == -1)
		return;
	FZ_ASSERT(memchr(a.cmd, '\0', sizeof(a.cmd)) != NULL);
	FZ_ASSERT(a.cmd[0] != '\0');
	for (s = a.cmd; *s != '\0'; s++)
		FZ_ASSERT((unsigned char)*s >= 0x20 &&
		    (unsigned char)*s != 0x7f);
	FZ_ASSERT(a.argc >= 0 && a.argc <= CONTROL_MAXARGS);
	FZ_ASSERT(a.argv[a.argc] == NULL);
	for (i = 0; i < a.argc; i++)
		FZ_ASSERT(a.argv[i] == a.buf[i] &&
		    memchr(a.buf[i], '\0', sizeof(a.buf[i])) != NULL);
	mp_out_init(&o);
	control_args_pack(&o.pk, a.cmd, a.argc, a.argv);
	FZ_ASSERT(control_args_parse(&b, o.sb.data, o.sb.size, &why) == 0);
	FZ_ASSERT(strcmp(a.cmd, b.cmd) == 0 && a.argc == b.argc);
	for (i = 0; i < a.argc; i++)
		FZ_ASSERT(strcmp(a.argv[i], b.argv[i]) == 0);
	mp_out_free(&o);
}

static void
fz_reply(const uint8_t *p, size_t len)
{
	struct control_reply	 r;
	struct evbuffer		*in, *json;
	struct mp_out		 o;
	struct mp_doc		 d;
	const uint8_t		*j;
	const char		*why;
	size_t			 i, n;

	if ((in = evbuffer_new()) == NULL || control_reply_init(&r) == -1)
		abort();
	(void)evbuffer_add(in, p, len);
	if (control_reply_feed(&r, in, 1, &why) == 1) {
		FZ_ASSERT(r.done);
		FZ_ASSERT(memchr(r.error, '\0', sizeof(r.error)) != NULL);
		mp_out_init(&o);
		if (control_reply_data(&r, &o) == 0 &&
		    mp_parse(&d, o.sb.data, o.sb.size) == 0) {
			json = evbuffer_new();
			if (control_json(d.root, json) == 0) {
				n = evbuffer_get_length(json);
				j = evbuffer_pullup(json, -1);
				for (i = 0; i < n; i++)
					FZ_ASSERT(j[i] >= 0x20);
			}
			evbuffer_free(json);
			mp_free(&d);
		}
		mp_out_free(&o);
	}
	control_reply_free(&r);
	evbuffer_free(in);
}

static char *
fz_text(const struct metrics *m, size_t *lenp)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;
	size_t		 len;

	if (b == NULL || metrics_write(m, b) == -1)
		abort();
	len = evbuffer_get_length(b);
	if ((s = malloc(len + 1)) == NULL)
		abort();
	(void)evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	*lenp = len;
	return (s);
}

static void
fz_merge(const uint8_t *p, size_t len)
{
	static const double	 bounds[] = { 0.5, 1 };
	struct metric_label	 l = { "process", "listener" };
	struct metrics		*m;
	struct mp_doc		 d;
	const char		*why;
	char			*before, *after;
	size_t			 blen, alen, i;
	int			 rv;

	if (mp_parse(&d, p, len) == -1) {
		mp_free(&d);
		return;
	}
	if ((m = metrics_new()) == NULL)
		abort();
	(void)metrics_declare(m, "c_total", METRIC_COUNTER, "C.");
	(void)metrics_add(m, "c_total", &l, 1, 1);
	(void)metrics_declare_histogram(m, "h", "H.", bounds, 2);
	(void)metrics_observe(m, "h", NULL, 0, 0.7);
	before = fz_text(m, &blen);
	rv = metrics_merge(m, d.root, (len & 1) ? &l : NULL, (len & 1) ? 1 :
	    0, &why);
	after = fz_text(m, &alen);
	if (rv == -1) {
		FZ_ASSERT(why != NULL);
		FZ_ASSERT(blen == alen && strcmp(before, after) == 0);
	}
	FZ_ASSERT(alen == 0 || after[alen - 1] == '\n');
	for (i = 0; i < alen; i++)
		FZ_ASSERT(((unsigned char)after[i] >= 0x20 &&
		    (unsigned char)after[i] != 0x7f) || after[i] == '\n' ||
		    after[i] == '\t');
	free(before);
	free(after);
	metrics_free(m);
	mp_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 init;

	if (!init) {
		log_init(1, LOG_DAEMON);	/* -close_fd_mask=2 quiets it */
		init = 1;
	}
	if (size < 1)
		return (0);
	switch (data[0] % 3) {
	case 0:
		fz_args(data + 1, size - 1);
		break;
	case 1:
		fz_reply(data + 1, size - 1);
		break;
	case 2:
		fz_merge(data + 1, size - 1);
		break;
	}
	return (0);
}
