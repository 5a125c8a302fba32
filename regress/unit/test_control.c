/*
 * test_control.c: the control socket (control.c) in-process, on a Unix
 * socket in a temporary directory, with a fake command table: commands
 * answered at once, streamed in many frames, gathered from "children"
 * (timers that answer later, some failing, some never), timed out, or
 * cancelled by a client that goes away; the request framing and reply
 * assembly the client uses; malformed requests of every kind, each
 * answered with an error and never a crash; the bounds (request size,
 * clients, idle time, chunk size); the socket's mode, group, a stale
 * and a live socket at the path; control_exec() and the metrics
 * listener serving "show metrics" through it; msgpack to JSON; and the
 * real epsctl program against the same server: tables, maps, text,
 * JSON, errors, exit status, the message for a daemon that is not
 * running and, when run as root, for a socket it may not open.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "control.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "net.h"
#include "unit.h"

#define WAIT_MS		10000	/* bound on every loop, never reached */
#define NBIG_CHUNKS	60
#define NBIG_ROWS	100

static char		 tmpdir[] = "/tmp/test_control.XXXXXX";
static char		 sockpath[128];
static struct event_base *base;
static struct control	*ctl;
static int		 freed_states;
static uint32_t		 last_id;

/*
 * The fake daemon: its commands.
 */

static void
h_summary(struct control_req *r, int argc, char **argv, void *arg)
{
	msgpack_packer	*pk = &control_out(r)->pk;

	msgpack_pack_map(pk, 5);
	mp_pack_kstr(pk, "daemon", "testd");
	mp_pack_kuint(pk, "pid", 4242);
	mp_pack_kuint(pk, "uptime", 3725);
	mp_pack_kbool(pk, "foreground", 1);
	mp_pack_str(pk, "children");
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "process", "listener");
	mp_pack_kuint(pk, "instance", 0);
	mp_pack_kuint(pk, "restarts", 0);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "process", "matcher");
	mp_pack_kuint(pk, "instance", 0);
	mp_pack_kuint(pk, "restarts", 12);
	(void)control_send(r);
	control_end(r, NULL);
}

/* Rows of connections, as a child would send them: one packed array. */
static void
pack_conns(struct mp_out *o, int child, int n)
{
	char	 a[32];
	int	 i;

	msgpack_pack_array(&o->pk, (size_t)n);
	for (i = 0; i < n; i++) {
		(void)snprintf(a, sizeof(a), "192.0.2.%d:%d", child, 40000 + i);
		msgpack_pack_map(&o->pk, 5);
		mp_pack_kstr(&o->pk, "client", a);
		mp_pack_kstr(&o->pk, "name", child == 2 ? "b.example" :
		    "a.example");
		mp_pack_kuint(&o->pk, "age", (uint64_t)(child * 61));
		mp_pack_kuint(&o->pk, "bytes_in", (uint64_t)(child * 1000 + i));
		mp_pack_kuint(&o->pk, "bytes_out", 7);
	}
}

/* A child's answer, some time later: a timer with the request's id. */
struct child {
	struct event	*ev;
	uint32_t	 id;
	int		 n;		/* which child */
	int		 rows;
	const char	*error;		/* it fails */
	int		 silent;	/* it never answers */
};

static struct child	 children[8];

static void
child_answer(evutil_socket_t fd, short ev, void *arg)
{
	struct child		*c = arg;
	struct control_req	*r;
	struct mp_out		 o;
	char			 who[32];

	if ((r = control_req_find(ctl, c->id)) == NULL)
		return;		/* the request is gone: dropped */
	mp_out_init(&o);
	if (c->rows > 0) {
		pack_conns(&o, c->n, c->rows);
		UT_CHECK("relay", control_relay(r, o.sb.data, o.sb.size) == 0);
		mp_out_reset(&o);
	}
	(void)snprintf(who, sizeof(who), "listener %d", c->n);
	/* the odd ones say how it went without a payload */
	if (c->n % 2 == 1)
		(void)control_part_done(r, who, c->error);
	else {
		control_end_pack(&o.pk, c->error);
		(void)control_part_end(r, who, o.sb.data, o.sb.size);
	}
	mp_out_free(&o);
}

static void
ask_children(struct control_req *r, int n, const int *rows,
    const char **errors, int nsilent, control_fin_fn fin)
{
	struct timeval	 tv = { 0, 1000 };
	int		 i;

	for (i = 0; i < n; i++) {
		children[i].id = control_req_id(r);
		children[i].n = i;
		children[i].rows = rows != NULL ? rows[i] : 0;
		children[i].error = errors != NULL ? errors[i] : NULL;
		if (i < n - nsilent)
			(void)evtimer_add(children[i].ev, &tv);
	}
	control_expect(r, (unsigned int)n, fin);
}

static void
h_connections(struct control_req *r, int argc, char **argv, void *arg)
{
	static const int	 rows[] = { 2, 0, 3 };

	last_id = control_req_id(r);
	ask_children(r, 3, rows, NULL, 0, NULL);
}

/* reload: two children, one refuses; fin sends the outcome as rows */
static void
reload_fin(struct control_req *r, unsigned int missing, void *arg)
{
	msgpack_packer	*pk = &control_out(r)->pk;

	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "process", "listener");
	mp_pack_kuint(pk, "instance", 0);
	mp_pack_kstr(pk, "result", "applied");
	msgpack_pack_map(pk, 3);
	mp_pack_kstr(pk, "process", "matcher");
	mp_pack_kuint(pk, "instance", 0);
	mp_pack_kstr(pk, "result", "refused");
	(void)control_send(r);
	control_end(r, "%s", control_req_errors(r));
}

static void
h_reload(struct control_req *r, int argc, char **argv, void *arg)
{
	static const char	*errors[] = { NULL, "t.conf:12: syntax error" };

	ask_children(r, 2, NULL, errors, 0, reload_fin);
}

/* three children, two never answer */
static void
h_pools(struct control_req *r, int argc, char **argv, void *arg)
{
	control_req_set_timeout(r, 1);
	ask_children(r, 3, NULL, NULL, 2, NULL);
}

static void
state_free(void *p)
{
	freed_states++;
	free(p);
}

/* never answers; its state must be freed however it ends */
static void
h_routes(struct control_req *r, int argc, char **argv, void *arg)
{
	last_id = control_req_id(r);
	control_req_set_state(r, malloc(16), state_free);
	if (argc == 1)
		control_req_set_timeout(r, 1);
}

static void
h_log(struct control_req *r, int argc, char **argv, void *arg)
{
	if (strcmp(argv[0], "verbose") != 0 && strcmp(argv[0], "brief") != 0) {
		control_end(r, "usage: log verbose | brief");
		return;
	}
	control_end(r, NULL);
}

static void
h_fail(struct control_req *r, int argc, char **argv, void *arg)
{
	control_end(r, "it failed: %d", 42);
}

/* a long answer in many frames */
static void
h_big(struct control_req *r, int argc, char **argv, void *arg)
{
	struct mp_out	*o = control_out(r);
	int		 i;

	for (i = 0; i < NBIG_CHUNKS; i++) {
		pack_conns(o, 9, NBIG_ROWS);
		if (control_send(r) == -1)
			break;
	}
	control_end(r, NULL);
}

static const char metrics_text[] =
    "# HELP testd_up Whether it runs.\n# TYPE testd_up gauge\ntestd_up 1\n";

static void
h_metrics(struct control_req *r, int argc, char **argv, void *arg)
{
	struct mp_out	*o = control_out(r);
	size_t		 half = sizeof(metrics_text) / 2;

	/* in two pieces: the client joins strings */
	msgpack_pack_str(&o->pk, half);
	msgpack_pack_str_body(&o->pk, metrics_text, half);
	(void)control_send(r);
	msgpack_pack_str(&o->pk, sizeof(metrics_text) - 1 - half);
	msgpack_pack_str_body(&o->pk, metrics_text + half,
	    sizeof(metrics_text) - 1 - half);
	(void)control_send(r);
	control_end(r, NULL);
}

/* text longer than a frame, in lines */
static void
h_text(struct control_req *r, int argc, char **argv, void *arg)
{
	struct evbuffer	*b = evbuffer_new();
	int		 i;

	for (i = 0; i < 40000; i++)
		(void)evbuffer_add_printf(b, "line %d\n", i);
	UT_CHECK("send text", control_send_text(r, b) == 0 &&
	    evbuffer_get_length(b) == 0);
	evbuffer_free(b);
	control_end(r, NULL);
}

/* the bounds on what a handler may send */
static void
h_counters(struct control_req *r, int argc, char **argv, void *arg)
{
	struct mp_out	*o = control_out(r);
	char		*big;

	UT_CHECK("send nothing fails", control_send(r) == -1);
	big = calloc(1, CONTROL_CHUNKMAX + 1);
	msgpack_pack_bin(&o->pk, CONTROL_CHUNKMAX + 1);
	msgpack_pack_bin_body(&o->pk, big, CONTROL_CHUNKMAX + 1);
	UT_CHECK("chunk too large fails", control_send(r) == -1 &&
	    errno == EMSGSIZE);
	free(big);
	UT_CHECK("relay of garbage fails", control_relay(r, "\xc1", 1) ==
	    -1 && control_relay(r, "\x92\x01", 2) == -1);
	msgpack_pack_array(&o->pk, 0);
	UT_CHECK("buffer reset after a refusal", control_send(r) == 0);
	control_end(r, NULL);
}

static const struct control_cmd cmds[] = {
	{ "show summary", 0, 0, h_summary, NULL },
	{ "show connections", 0, 0, h_connections, NULL },
	{ "show pools", 0, 0, h_pools, NULL },
	{ "show routes", 0, 1, h_routes, "[short]" },
	{ "show counters", 0, 0, h_counters, NULL },
	{ "show metrics", 0, 0, h_metrics, NULL },
	{ "show announcements", 0, 0, h_fail, NULL },
	{ "show links", 0, 0, h_big, NULL },
	{ "show text", 0, 0, h_text, NULL },
	{ "reload", 0, 0, h_reload, NULL },
	{ "log", 1, 1, h_log, "verbose | brief" },
};

/*
 * A client in the same loop.
 */

struct client {
	int			 fd;
	struct evbuffer		*in;
	struct event		*ev;
	int			 eof;
	uint32_t		 ref;
	struct control_reply	 reply;
	int			 status;	/* feed's last answer */
	const char		*why;
};

static void
client_read(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c = arg;
	int		 n;

	n = evbuffer_read(c->in, fd, 65536);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		c->eof = 1;
		event_del(c->ev);
	}
}

static int
client_open(struct client *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	if ((c->fd = net_unix_connect(path)) == -1)
		return (-1);
	c->in = evbuffer_new();
	c->ev = event_new(base, c->fd, EV_READ | EV_PERSIST, client_read, c);
	(void)event_add(c->ev, NULL);
	(void)control_reply_init(&c->reply);
	return (0);
}

static void
client_close(struct client *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->fd != -1)
		close(c->fd);
	control_reply_free(&c->reply);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int
client_write(struct client *c, const void *buf, size_t len)
{
	return (write(c->fd, buf, len) == (ssize_t)len ? 0 : -1);
}

static int
client_got(void *arg)
{
	struct client	*c = arg;

	if (c->status == 0)
		c->status = control_reply_feed(&c->reply, c->in, c->ref,
		    &c->why);
	return (c->status != 0 || c->eof);
}

static int
client_eof(void *arg)
{
	return (((struct client *)arg)->eof);
}

/* Wait for the answer to ref: 1 when it came, -1 bad, 0 not at all. */
static int
client_wait(struct client *c, uint32_t ref)
{
	control_reply_free(&c->reply);
	(void)control_reply_init(&c->reply);
	c->ref = ref;
	c->status = 0;
	(void)ut_run_until(base, client_got, c, WAIT_MS);
	if (c->status == 0)
		c->status = control_reply_feed(&c->reply, c->in, c->ref,
		    &c->why);
	return (c->status);
}

static int
client_call(struct client *c, uint32_t ref, const char *cmd, int argc,
    char **argv)
{
	struct evbuffer	*out = evbuffer_new();
	int		 rv;

	if (control_request(out, ref, cmd, argc, argv) == -1 ||
	    evbuffer_write(out, c->fd) == -1) {
		evbuffer_free(out);
		return (-1);
	}
	rv = evbuffer_get_length(out) == 0 ? 0 : -1;
	evbuffer_free(out);
	if (rv == -1)
		return (-1);
	return (client_wait(c, ref));
}

/* Send a frame of any type, flags and payload. */
static int
client_frame(struct client *c, uint16_t type, uint32_t ref, uint16_t flags,
    const void *p, size_t len)
{
	struct frame_hdr	 h;
	uint8_t			 b[FRAME_HDRLEN];

	h.len = (uint32_t)len;
	h.type = type;
	h.flags = flags;
	h.ref = ref;
	frame_hdr_encode(b, &h);
	if (client_write(c, b, sizeof(b)) == -1)
		return (-1);
	return (len > 0 ? client_write(c, p, len) : 0);
}

/* The answer's data as one object, compared as JSON text. */
static int
data_json_is(const struct control_reply *r, const char *want)
{
	struct mp_out	 o;
	struct mp_doc	 d;
	struct evbuffer	*b = evbuffer_new();
	char		*got;
	size_t		 len;
	int		 ok = 0;

	mp_out_init(&o);
	if (control_reply_data(r, &o) == 0 &&
	    mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    control_json(d.root, b) == 0) {
		len = evbuffer_get_length(b);
		got = calloc(1, len + 1);
		(void)evbuffer_remove(b, got, len);
		ok = strcmp(got, want) == 0;
		if (!ok)
			printf("# got  %s\n# want %s\n", got, want);
		free(got);
		mp_free(&d);
	}
	mp_out_free(&o);
	evbuffer_free(b);
	return (ok);
}

/* Every data object of the answer a string ending with a newline? */
static int
pieces_end_lines(const struct control_reply *r)
{
	msgpack_unpacked	 u;
	const char		*p;
	size_t			 len, off = 0;
	int			 ok = 1;

	len = evbuffer_get_length(r->data);
	p = (const char *)evbuffer_pullup(r->data, -1);
	msgpack_unpacked_init(&u);
	while (ok && off < len)
		ok = msgpack_unpack_next(&u, p, len, &off) ==
		    MSGPACK_UNPACK_SUCCESS &&
		    u.data.type == MSGPACK_OBJECT_STR &&
		    u.data.via.str.size > 0 &&
		    u.data.via.str.ptr[u.data.via.str.size - 1] == '\n';
	msgpack_unpacked_destroy(&u);
	return (ok);
}

static int
error_is(const struct client *c, const char *want)
{
	int	 ok = c->status == 1 && !c->reply.ok &&
		    strcmp(c->reply.error, want) == 0;

	if (!ok)
		printf("# status %d ok %d error \"%s\" (want \"%s\")\n",
		    c->status, c->reply.ok, c->reply.error, want);
	return (ok);
}

static int
error_has(const struct client *c, const char *want)
{
	int	 ok = c->status == 1 && !c->reply.ok &&
		    strstr(c->reply.error, want) != NULL;

	if (!ok)
		printf("# status %d ok %d error \"%s\" (want \"%s\")\n",
		    c->status, c->reply.ok, c->reply.error, want);
	return (ok);
}

/*
 * The cases.
 */

static void
test_commands(void)
{
	struct client	 c;
	char		*args[] = { "verbose", "x" };
	char		*bad[] = { "loud" };
	struct mp_out	 o;
	struct mp_doc	 d;
	int		 rows = 0;

	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	UT_CHECK("show summary", client_call(&c, 1, "show summary", 0,
	    NULL) == 1 && c.reply.ok && c.reply.nchunks == 1);
	UT_CHECK("show summary data", data_json_is(&c.reply,
	    "{\"daemon\":\"testd\",\"pid\":4242,\"uptime\":3725,"
	    "\"foreground\":true,\"children\":[{\"process\":\"listener\","
	    "\"instance\":0,\"restarts\":0},{\"process\":\"matcher\","
	    "\"instance\":0,\"restarts\":12}]}"));
	UT_CHECK("the same connection again", client_call(&c, 2,
	    "show summary", 0, NULL) == 1 && c.reply.ok);

	UT_CHECK("gathered from children", client_call(&c, 3,
	    "show connections", 0, NULL) == 1 && c.reply.ok &&
	    c.reply.nchunks == 2);
	UT_CHECK("gathered rows joined", data_json_is(&c.reply,
	    "[{\"client\":\"192.0.2.0:40000\",\"name\":\"a.example\","
	    "\"age\":0,\"bytes_in\":0,\"bytes_out\":7},"
	    "{\"client\":\"192.0.2.0:40001\",\"name\":\"a.example\","
	    "\"age\":0,\"bytes_in\":1,\"bytes_out\":7},"
	    "{\"client\":\"192.0.2.2:40000\",\"name\":\"b.example\","
	    "\"age\":122,\"bytes_in\":2000,\"bytes_out\":7},"
	    "{\"client\":\"192.0.2.2:40001\",\"name\":\"b.example\","
	    "\"age\":122,\"bytes_in\":2001,\"bytes_out\":7},"
	    "{\"client\":\"192.0.2.2:40002\",\"name\":\"b.example\","
	    "\"age\":122,\"bytes_in\":2002,\"bytes_out\":7}]"));
	UT_CHECK("the request is gone once it ended",
	    control_req_find(ctl, last_id) == NULL);

	UT_CHECK("reload: a child refuses", client_call(&c, 4, "reload", 0,
	    NULL) == 1 && error_is(&c, "listener 1: t.conf:12: syntax error"));
	UT_CHECK("reload: the outcome came before the end", data_json_is(
	    &c.reply, "[{\"process\":\"listener\",\"instance\":0,"
	    "\"result\":\"applied\"},{\"process\":\"matcher\","
	    "\"instance\":0,\"result\":\"refused\"}]"));

	UT_CHECK("a handler's error", client_call(&c, 5, "show announcements",
	    0, NULL) == 1 && error_is(&c, "it failed: 42"));
	UT_CHECK("log verbose", client_call(&c, 6, "log", 1, args) == 1 &&
	    c.reply.ok && c.reply.nchunks == 0 && data_json_is(&c.reply,
	    "null"));
	UT_CHECK("log loud", client_call(&c, 7, "log", 1, bad) == 1 &&
	    error_is(&c, "usage: log verbose | brief"));
	UT_CHECK("log with two arguments", client_call(&c, 8, "log", 2,
	    args) == 1 && error_is(&c, "usage: log verbose | brief"));
	UT_CHECK("log without", client_call(&c, 9, "log", 0, NULL) == 1 &&
	    error_is(&c, "usage: log verbose | brief"));
	UT_CHECK("unknown command", client_call(&c, 10, "show nothing", 0,
	    NULL) == 1 && error_is(&c, "unknown command \"show nothing\""));

	UT_CHECK("strings joined", client_call(&c, 11, "show metrics", 0,
	    NULL) == 1 && c.reply.ok && c.reply.nchunks == 2);
	mp_out_init(&o);
	UT_CHECK("strings joined: the text", control_reply_data(&c.reply,
	    &o) == 0 && mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    d.root->type == MSGPACK_OBJECT_STR &&
	    d.root->via.str.size == sizeof(metrics_text) - 1 &&
	    memcmp(d.root->via.str.ptr, metrics_text,
	    sizeof(metrics_text) - 1) == 0);
	mp_free(&d);
	mp_out_free(&o);

	UT_CHECK("many frames", client_call(&c, 12, "show links", 0, NULL) ==
	    1 && c.reply.ok && c.reply.nchunks == NBIG_CHUNKS);
	mp_out_init(&o);
	if (control_reply_data(&c.reply, &o) == 0 &&
	    mp_parse(&d, o.sb.data, o.sb.size) == 0) {
		if (d.root->type == MSGPACK_OBJECT_ARRAY)
			rows = (int)d.root->via.array.size;
		mp_free(&d);
	}
	UT_CHECK("many frames: every row", rows == NBIG_CHUNKS * NBIG_ROWS);
	mp_out_free(&o);

	UT_CHECK("long text", client_call(&c, 14, "show text", 0, NULL) ==
	    1 && c.reply.ok && c.reply.nchunks > 1);
	mp_out_init(&o);
	UT_CHECK("long text: whole lines, in order",
	    control_reply_data(&c.reply, &o) == 0 &&
	    mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    d.root->type == MSGPACK_OBJECT_STR &&
	    memcmp(d.root->via.str.ptr, "line 0\nline 1\n", 14) == 0 &&
	    memcmp(d.root->via.str.ptr + d.root->via.str.size - 11,
	    "line 39999\n", 11) == 0);
	mp_free(&d);
	mp_out_free(&o);
	UT_CHECK("long text: each piece ends a line", pieces_end_lines(
	    &c.reply));

	UT_CHECK("what a handler may send", client_call(&c, 13,
	    "show counters", 0, NULL) == 1 && c.reply.ok &&
	    c.reply.nchunks == 1);
	client_close(&c);
}

static void
test_pipelined(void)
{
	struct client	 c;
	struct evbuffer	*out = evbuffer_new();

	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	/* three requests in one write, the first answered later */
	(void)control_request(out, 21, "show connections", 0, NULL);
	(void)control_request(out, 22, "show summary", 0, NULL);
	(void)control_request(out, 23, "show nothing", 0, NULL);
	UT_CHECK("pipelined: sent", evbuffer_write(out, c.fd) > 0 &&
	    evbuffer_get_length(out) == 0);
	UT_CHECK("pipelined: first", client_wait(&c, 21) == 1 && c.reply.ok &&
	    c.reply.nchunks == 2);
	UT_CHECK("pipelined: second", client_wait(&c, 22) == 1 &&
	    c.reply.ok);
	UT_CHECK("pipelined: third", client_wait(&c, 23) == 1 &&
	    !c.reply.ok);
	/* answers still come after the client is done sending */
	(void)control_request(out, 24, "show connections", 0, NULL);
	(void)evbuffer_write(out, c.fd);
	(void)shutdown(c.fd, SHUT_WR);
	UT_CHECK("half closed: answered", client_wait(&c, 24) == 1 &&
	    c.reply.ok);
	(void)ut_run_until(base, client_eof, &c, WAIT_MS);
	UT_CHECK("half closed: then closed", c.eof);
	client_close(&c);
	evbuffer_free(out);
}

static void
test_malformed(void)
{
	struct client	 c;
	struct mp_out	 o;
	char		 longarg[CONTROL_ARGMAX + 1];
	char		*args[CONTROL_MAXARGS + 1];
	uint8_t		 junk[600];
	int		 i;

	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	mp_out_init(&o);

	(void)client_frame(&c, CONTROL_REQUEST, 31, 0, "\xc1\xc1", 2);
	UT_CHECK("not msgpack", client_wait(&c, 31) == 1 &&
	    error_is(&c, "malformed request: not msgpack"));
	(void)client_frame(&c, CONTROL_REQUEST, 32, 0, "\x92\x01\x02", 3);
	UT_CHECK("not a map", client_wait(&c, 32) == 1 &&
	    error_is(&c, "malformed request: not a map"));
	(void)client_frame(&c, CONTROL_REQUEST, 33, 0, "\x80", 1);
	UT_CHECK("no cmd", client_wait(&c, 33) == 1 &&
	    error_has(&c, "cmd is missing"));
	msgpack_pack_map(&o.pk, 1);
	mp_pack_str(&o.pk, "cmd");
	msgpack_pack_int(&o.pk, 7);
	(void)client_frame(&c, CONTROL_REQUEST, 34, 0, o.sb.data, o.sb.size);
	UT_CHECK("cmd not a string", client_wait(&c, 34) == 1 &&
	    error_has(&c, "cmd is missing"));
	mp_out_reset(&o);
	msgpack_pack_map(&o.pk, 2);
	mp_pack_kstr(&o.pk, "cmd", "log");
	mp_pack_kstr(&o.pk, "args", "verbose");
	(void)client_frame(&c, CONTROL_REQUEST, 35, 0, o.sb.data, o.sb.size);
	UT_CHECK("args not an array", client_wait(&c, 35) == 1 &&
	    error_is(&c, "malformed request: args is no array"));
	mp_out_reset(&o);
	msgpack_pack_map(&o.pk, 2);
	mp_pack_kstr(&o.pk, "cmd", "log");
	mp_pack_str(&o.pk, "args");
	msgpack_pack_array(&o.pk, 1);
	msgpack_pack_true(&o.pk);
	(void)client_frame(&c, CONTROL_REQUEST, 36, 0, o.sb.data, o.sb.size);
	UT_CHECK("an argument not a string", client_wait(&c, 36) == 1 &&
	    error_has(&c, "an argument is no string"));
	mp_out_reset(&o);
	memset(longarg, 'a', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	args[0] = longarg;
	control_args_pack(&o.pk, "log", 1, args);
	(void)client_frame(&c, CONTROL_REQUEST, 37, 0, o.sb.data, o.sb.size);
	UT_CHECK("an argument too long", client_wait(&c, 37) == 1 &&
	    error_has(&c, "too long"));
	mp_out_reset(&o);
	for (i = 0; i <= CONTROL_MAXARGS; i++)
		args[i] = "x";
	control_args_pack(&o.pk, "log", CONTROL_MAXARGS + 1, args);
	(void)client_frame(&c, CONTROL_REQUEST, 38, 0, o.sb.data, o.sb.size);
	UT_CHECK("too many arguments", client_wait(&c, 38) == 1 &&
	    error_is(&c, "malformed request: too many arguments"));
	mp_out_reset(&o);
	control_args_pack(&o.pk, "show\nsummary", 0, NULL);
	(void)client_frame(&c, CONTROL_REQUEST, 39, 0, o.sb.data, o.sb.size);
	UT_CHECK("a control character in cmd", client_wait(&c, 39) == 1 &&
	    error_has(&c, "malformed request"));
	(void)client_frame(&c, CONTROL_REQUEST, 40, 0, NULL, 0);
	UT_CHECK("an empty payload", client_wait(&c, 40) == 1 &&
	    error_is(&c, "malformed request: not msgpack"));
	(void)client_frame(&c, 7, 41, 0, "\x80", 1);
	UT_CHECK("a frame of another type", client_wait(&c, 41) == 1 &&
	    error_is(&c, "unexpected frame type 7"));
	mp_out_reset(&o);
	control_args_pack(&o.pk, "show summary", 0, NULL);
	(void)client_frame(&c, CONTROL_REQUEST, 42, 0, o.sb.data, o.sb.size);
	UT_CHECK("and the connection goes on", client_wait(&c, 42) == 1 &&
	    c.reply.ok);

	/* too long: an error, then the end of the connection */
	memset(junk, 0x80, sizeof(junk));
	(void)client_frame(&c, CONTROL_REQUEST, 43, 0, junk, sizeof(junk));
	UT_CHECK("too long", client_wait(&c, 43) == 1 &&
	    error_is(&c, "request too long (600 bytes, at most 512)"));
	(void)ut_run_until(base, client_eof, &c, WAIT_MS);
	UT_CHECK("too long: closed", c.eof);
	client_close(&c);

	/* a header claiming gigabytes, only the header sent */
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	(void)client_frame(&c, CONTROL_REQUEST, 44, 0, NULL, 0);
	(void)client_write(&c, "\xff\xff\xff\xff\x00\x01\x00\x00"
	    "\x00\x00\x00\x2d", 12);
	(void)client_wait(&c, 44);
	UT_CHECK("huge: answered", client_wait(&c, 45) == 1 &&
	    error_has(&c, "request too long"));
	(void)ut_run_until(base, client_eof, &c, WAIT_MS);
	UT_CHECK("huge: closed", c.eof);
	client_close(&c);

	/* flags the frame layer does not know */
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	(void)client_frame(&c, CONTROL_REQUEST, 46, 0x0100, "\x80", 1);
	UT_CHECK("bad flags: answered", client_wait(&c, 46) == 1 &&
	    error_is(&c, "unknown frame flags"));
	(void)ut_run_until(base, client_eof, &c, WAIT_MS);
	UT_CHECK("bad flags: closed", c.eof);
	client_close(&c);

	/* half a frame, then gone */
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	(void)client_write(&c, "\x00\x00\x00\x10\x00\x01", 6);
	(void)shutdown(c.fd, SHUT_WR);
	(void)ut_run_until(base, client_eof, &c, WAIT_MS);
	UT_CHECK("half a header, then EOF: closed", c.eof &&
	    evbuffer_get_length(c.in) == 0);
	client_close(&c);

	mp_out_free(&o);
	/* the server still serves */
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	UT_CHECK("still serving", client_call(&c, 47, "show summary", 0,
	    NULL) == 1 && c.reply.ok);
	client_close(&c);
}

static void
test_lifetime(void)
{
	struct client	 c;
	char		*one[] = { "short" };
	int		 before, i;

	/* the client goes while its request waits: state freed, id gone */
	before = freed_states;
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	{
		struct evbuffer	*out = evbuffer_new();

		(void)control_request(out, 51, "show routes", 0, NULL);
		(void)evbuffer_write(out, c.fd);
		evbuffer_free(out);
	}
	last_id = 0;
	for (i = 0; i < 100 && last_id == 0; i++)
		(void)event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	UT_CHECK("pending", last_id != 0 &&
	    control_req_find(ctl, last_id) != NULL);
	client_close(&c);
	for (i = 0; i < 100 && control_req_find(ctl, last_id) != NULL; i++)
		(void)event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	UT_CHECK("client gone: request gone", control_req_find(ctl,
	    last_id) == NULL);
	UT_CHECK("client gone: state freed", freed_states == before + 1);

	/* the timeout ends it, and frees its state */
	UT_CHECK("connect", client_open(&c, sockpath) == 0);
	UT_CHECK("timed out", client_call(&c, 52, "show routes", 1, one) ==
	    1 && error_is(&c, "show routes: timed out"));
	UT_CHECK("timed out: state freed", freed_states == before + 2);

	/* parts that never come */
	UT_CHECK("parts missing", client_call(&c, 53, "show pools", 0,
	    NULL) == 1 && error_is(&c, "2 of 3 did not answer"));
	client_close(&c);
}

static void
test_clients(void)
{
	struct client	 c[CONTROL_MAXCLIENTS + 1], extra;
	int		 i, n = 3, ok = 1;

	/* this server takes three clients */
	for (i = 0; i < n; i++)
		ok &= client_open(&c[i], sockpath) == 0;
	UT_CHECK("three clients", ok);
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	UT_CHECK("a fourth: connect", client_open(&extra, sockpath) == 0);
	UT_CHECK("a fourth: refused", client_wait(&extra, 0) == 1 &&
	    error_is(&extra, "too many control clients"));
	(void)ut_run_until(base, client_eof, &extra, WAIT_MS);
	UT_CHECK("a fourth: closed", extra.eof);
	client_close(&extra);
	/* an idle client is closed after a second */
	(void)ut_run_until(base, client_eof, &c[0], WAIT_MS);
	UT_CHECK("idle closed", c[0].eof);
	for (i = 0; i < n; i++)
		client_close(&c[i]);
	for (i = 0; i < 100; i++)
		(void)event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	UT_CHECK("connect after", client_open(&extra, sockpath) == 0);
	UT_CHECK("served after", client_call(&extra, 61, "show summary", 0,
	    NULL) == 1 && extra.reply.ok);
	client_close(&extra);
}

static void
test_client_side(void)
{
	struct control_reply	 r;
	struct evbuffer		*in = evbuffer_new(), *out = evbuffer_new();
	struct mp_out		 o;
	const char		*why = NULL;
	char			 big[CONTROL_MAXREQUEST];
	char			*args[1] = { big };
	struct control_args	 a;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	UT_CHECK("request too long for the client", control_request(out, 1,
	    "log", 1, args) == -1 && evbuffer_get_length(out) == 0);
	UT_CHECK("request", control_request(out, 9, "log", 0, NULL) == 0);
	{
		struct frame_hdr	 h;
		const uint8_t		*p;

		UT_CHECK("request frame", frame_next(out, FRAME_MAXLEN, &h,
		    &p, &why) == FRAME_READY && h.type == CONTROL_REQUEST &&
		    h.ref == 9 && control_args_parse(&a, p, h.len, &why) ==
		    0 && strcmp(a.cmd, "log") == 0 && a.argc == 0);
		frame_drain(out, &h);
	}

	mp_out_init(&o);
	(void)control_reply_init(&r);
	/* an answer to another request */
	control_end_pack(&o.pk, NULL);
	(void)frame_add(in, CONTROL_END, 8, 0, o.sb.data, o.sb.size);
	UT_CHECK("wrong ref", control_reply_feed(&r, in, 7, &why) == -1);
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)frame_add(in, 9, 7, 0, o.sb.data, o.sb.size);
	UT_CHECK("unknown type", control_reply_feed(&r, in, 7, &why) == -1);
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)frame_add(in, CONTROL_END, 7, 0, "\x80", 1);
	UT_CHECK("end without ok", control_reply_feed(&r, in, 7, &why) == -1);
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)frame_add(in, CONTROL_REPLY, 7, 0, "\xc1", 1);
	UT_CHECK("reply not msgpack", control_reply_feed(&r, in, 7, &why) ==
	    -1);
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)evbuffer_add(in, "\x01\x00\x00\x00\x00\x02\x00\x00"
	    "\x00\x00\x00\x07", 12);
	UT_CHECK("frame too long", control_reply_feed(&r, in, 7, &why) == -1);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* partial frames: nothing until all is there */
	control_reply_free(&r);
	(void)control_reply_init(&r);
	mp_out_reset(&o);
	control_end_pack(&o.pk, "a\nb");
	(void)frame_add(out, CONTROL_END, 7, 0, o.sb.data, o.sb.size);
	(void)evbuffer_remove_buffer(out, in, 5);
	UT_CHECK("partial", control_reply_feed(&r, in, 7, &why) == 0);
	(void)evbuffer_add_buffer(in, out);
	UT_CHECK("complete", control_reply_feed(&r, in, 7, &why) == 1 &&
	    r.done && !r.ok && strcmp(r.error, "a?b") == 0);
	mp_out_free(&o);
	control_reply_free(&r);

	/* control_reply_data: the kinds of chunks */
	(void)control_reply_init(&r);
	UT_CHECK("no data is nil", data_json_is(&r, "null"));
	(void)evbuffer_add(r.data, "\x91\x01\x92\x02\x03", 5);
	UT_CHECK("arrays joined", data_json_is(&r, "[1,2,3]"));
	(void)evbuffer_add(r.data, "\x81\xa1k\x01", 4);
	UT_CHECK("mixed: an array of them", data_json_is(&r,
	    "[[1],[2,3],{\"k\":1}]"));
	evbuffer_drain(r.data, evbuffer_get_length(r.data));
	(void)evbuffer_add(r.data, "\xa2hi\xa1!", 5);
	UT_CHECK("strings joined", data_json_is(&r, "\"hi!\""));
	control_reply_free(&r);
	evbuffer_free(in);
	evbuffer_free(out);
}

static int
json_is(const msgpack_object *o, const char *want)
{
	struct evbuffer	*b = evbuffer_new();
	char		*got;
	size_t		 len;
	int		 ok;

	if (control_json(o, b) == -1) {
		evbuffer_free(b);
		return (0);
	}
	len = evbuffer_get_length(b);
	got = calloc(1, len + 1);
	(void)evbuffer_remove(b, got, len);
	ok = strcmp(got, want) == 0;
	if (!ok)
		printf("# got  %s\n# want %s\n", got, want);
	free(got);
	evbuffer_free(b);
	return (ok);
}

static void
test_json(void)
{
	struct mp_out	 o;
	struct mp_doc	 d;
	static const char s[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f"
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xff|\xc3|\xe2\x82|"
	    "\xc0\x80|\xed\xa0\x80|\xf4\x90\x80\x80";

	mp_out_init(&o);
	msgpack_pack_array(&o.pk, 12);
	msgpack_pack_str(&o.pk, sizeof(s) - 1);
	msgpack_pack_str_body(&o.pk, s, sizeof(s) - 1);
	msgpack_pack_nil(&o.pk);
	msgpack_pack_true(&o.pk);
	msgpack_pack_false(&o.pk);
	msgpack_pack_int64(&o.pk, -42);
	msgpack_pack_uint64(&o.pk, UINT64_MAX);
	msgpack_pack_double(&o.pk, 0.1);
	msgpack_pack_double(&o.pk, NAN);
	msgpack_pack_double(&o.pk, -INFINITY);
	msgpack_pack_bin(&o.pk, 3);
	msgpack_pack_bin_body(&o.pk, "\x00\xab\xff", 3);
	msgpack_pack_map(&o.pk, 3);
	msgpack_pack_int(&o.pk, 1);
	mp_pack_str(&o.pk, "int key");
	mp_pack_str(&o.pk, "k\"");
	msgpack_pack_array(&o.pk, 0);
	msgpack_pack_nil(&o.pk);
	msgpack_pack_map(&o.pk, 0);
	mp_pack_str(&o.pk, "");
	UT_CHECK("json parses", mp_parse(&d, o.sb.data, o.sb.size) == 0);
	UT_CHECK("json", json_is(d.root,
	    "[\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f"
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd|"
	    "\\ufffd\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
	    "\\ufffd\\ufffd\\ufffd\\ufffd\","
	    "null,true,false,-42,18446744073709551615,0.1,null,null,"
	    "\"00abff\",{\"1\":\"int key\",\"k\\\"\":[],\"null\":{}},\"\"]"));
	mp_free(&d);
	mp_out_free(&o);
}

static void
exec_done(const struct control_result *r, void *arg)
{
	struct control_result	*copy = arg;

	copy->ok = r->ok + 10;
	copy->error = r->error != NULL ? strdup(r->error) : NULL;
	copy->data = evbuffer_new();
	(void)evbuffer_add_buffer(copy->data, r->data);
}

static int
exec_finished(void *arg)
{
	return (((struct control_result *)arg)->ok != 0);
}

static void
test_exec(void)
{
	struct control_result	 res;
	char			*args[] = { "verbose" };

	memset(&res, 0, sizeof(res));
	UT_CHECK("exec sync", control_exec(ctl, "log", 1, args, exec_done,
	    &res) == 0 && res.ok == 11 && evbuffer_get_length(res.data) == 0);
	evbuffer_free(res.data);
	memset(&res, 0, sizeof(res));
	UT_CHECK("exec async", control_exec(ctl, "show connections", 0, NULL,
	    exec_done, &res) == 0 && res.ok == 0);
	(void)ut_run_until(base, exec_finished, &res, WAIT_MS);
	UT_CHECK("exec async done", res.ok == 11 && res.data != NULL &&
	    evbuffer_get_length(res.data) > 0);
	if (res.data != NULL)
		evbuffer_free(res.data);
	memset(&res, 0, sizeof(res));
	UT_CHECK("exec fails", control_exec(ctl, "show announcements", 0,
	    NULL, exec_done, &res) == 0 && res.ok == 10 &&
	    strcmp(res.error, "it failed: 42") == 0);
	free((char *)res.error);
	evbuffer_free(res.data);
	UT_CHECK("exec unknown", control_exec(ctl, "nope", 0, NULL, exec_done,
	    &res) == -1);
	UT_CHECK("exec bad args", control_exec(ctl, "log", 0, NULL, exec_done,
	    &res) == -1);
}

/* GET /metrics through control_metrics_collect(): the command's text */
struct hget {
	int		 fd;
	struct evbuffer	*in;
	int		 done;
};

static void
hget_read(evutil_socket_t fd, short ev, void *arg)
{
	struct hget	*h = arg;
	int		 n;

	if ((n = evbuffer_read(h->in, fd, 65536)) == 0 ||
	    (n == -1 && errno != EAGAIN))
		h->done = 1;
}

static int
hget_done(void *arg)
{
	return (((struct hget *)arg)->done);
}

static void
test_metrics_http(void)
{
	struct metrics_http	*srv;
	struct net_addr		 a;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	struct hget		 h;
	struct event		*ev;
	char			*s;
	size_t			 n;
	int			 lfd;

	if (net_parse("127.0.0.1:0", &a) == -1 ||
	    (lfd = net_listen(&a, 16, 0)) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
		UT_CHECK("listen", 0);
		return;
	}
	srv = metrics_http_new(base, lfd, control_metrics_collect, ctl);
	memset(&h, 0, sizeof(h));
	h.fd = socket(AF_INET, SOCK_STREAM, 0);
	UT_CHECK("http connect", connect(h.fd, (struct sockaddr *)&sin,
	    sizeof(sin)) == 0);
	(void)write(h.fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	(void)net_nonblock(h.fd);
	h.in = evbuffer_new();
	ev = event_new(base, h.fd, EV_READ | EV_PERSIST, hget_read, &h);
	(void)event_add(ev, NULL);
	(void)ut_run_until(base, hget_done, &h, WAIT_MS);
	n = evbuffer_get_length(h.in);
	s = calloc(1, n + 1);
	(void)evbuffer_remove(h.in, s, n);
	UT_CHECK("show metrics over HTTP", strncmp(s, "HTTP/1.1 200 OK\r\n",
	    17) == 0 && strstr(s, "\r\n\r\n") != NULL &&
	    strcmp(strstr(s, "\r\n\r\n") + 4, metrics_text) == 0);
	free(s);
	event_free(ev);
	evbuffer_free(h.in);
	close(h.fd);
	metrics_http_free(srv);
}

/*
 * The socket itself.
 */

static void
test_socket(void)
{
	struct control_conf	 conf;
	struct control		*c2;
	struct stat		 st;
	struct sockaddr_un	 sun;
	const char		*why = NULL;
	char			 path[128];
	int			 fd;

	UT_CHECK("mode 0600", stat(sockpath, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);

	/* a live socket is not taken over */
	control_conf_init(&conf, "testd");
	(void)strlcpy(conf.path, sockpath, sizeof(conf.path));
	c2 = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("in use", control_open(c2, &why) == -1 && why != NULL &&
	    strstr(why, "is in use: is another testd running?") != NULL);
	control_free(c2);
	UT_CHECK("in use: left alone", stat(sockpath, &st) == 0);

	/* a stale one is */
	(void)snprintf(path, sizeof(path), "%s/stale.ctl", tmpdir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	UT_CHECK("stale made", bind(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == 0);
	close(fd);
	(void)strlcpy(conf.path, path, sizeof(conf.path));
	conf.group = getgid();
	c2 = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("stale replaced", control_open(c2, &why) == 0);
	UT_CHECK("group: mode 0660", stat(path, &st) == 0 &&
	    (st.st_mode & 0777) == 0660 && st.st_gid == getgid());
	control_free(c2);
	UT_CHECK("removed at the end", lstat(path, &st) == -1 &&
	    errno == ENOENT);

	/* anything else at the path is an error */
	(void)snprintf(path, sizeof(path), "%s/file.ctl", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	(void)strlcpy(conf.path, path, sizeof(conf.path));
	conf.group = (gid_t)-1;
	c2 = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("not a socket", control_open(c2, &why) == -1 &&
	    strstr(why, "exists and is not a socket") != NULL);
	control_free(c2);
	UT_CHECK("the file is left alone", lstat(path, &st) == 0 &&
	    S_ISREG(st.st_mode));
	(void)unlink(path);

	(void)snprintf(path, sizeof(path), "%s/no/such/dir.ctl", tmpdir);
	(void)strlcpy(conf.path, path, sizeof(conf.path));
	c2 = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("no directory", control_open(c2, &why) == -1 &&
	    strstr(why, "bind") != NULL);
	control_free(c2);

	conf.path[0] = '\0';
	c2 = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("no path", control_open(c2, &why) == -1);
	control_free(c2);

	control_conf_init(&conf, "proxyd");
	UT_CHECK("default path", strcmp(conf.path, "/run/proxyd.ctl") == 0 &&
	    conf.group == (gid_t)-1);
}

/*
 * epsctl itself.
 */

struct run {
	pid_t	 pid;
	int	 status;
	int	 done;
};

static int
run_done(void *arg)
{
	struct run	*r = arg;

	if (!r->done && waitpid(r->pid, &r->status, WNOHANG) == r->pid)
		r->done = 1;
	return (r->done);
}

static void
tick(evutil_socket_t fd, short ev, void *arg)
{
}

static char *
slurp(const char *path)
{
	FILE	*fp;
	char	*s;
	long	 n;

	if ((fp = fopen(path, "r")) == NULL)
		return (strdup(""));
	(void)fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	s = calloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, fp) != (size_t)n)
		s[0] = '\0';
	fclose(fp);
	return (s);
}

/*
 * Run epsctl with args (as uid if not -1), the loop serving meanwhile;
 * its exit status, with what it printed in *out and *err.
 */
static int
epsctl(uid_t uid, char **out, char **err, ...)
{
	const char	*b = getenv("B") != NULL ? getenv("B") : "build";
	char		 prog[256], po[128], pe[128];
	char		*argv[16];
	struct run	 r;
	va_list		 ap;
	int		 n = 1, fd;
	struct timeval	 tv = { 0, 10000 };
	struct event	*tm;

	(void)snprintf(prog, sizeof(prog), "%s/epsctl", b);
	(void)snprintf(po, sizeof(po), "%s/out", tmpdir);
	(void)snprintf(pe, sizeof(pe), "%s/err", tmpdir);
	argv[0] = prog;
	va_start(ap, err);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	memset(&r, 0, sizeof(r));
	fflush(stdout);
	if ((r.pid = fork()) == 0) {
		if ((fd = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1)
			(void)dup2(fd, 1);
		if ((fd = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1)
			(void)dup2(fd, 2);
		if (uid != (uid_t)-1 && (setgroups(0, NULL) == -1 ||
		    setgid(uid) == -1 || setuid(uid) == -1))
			_exit(99);
		execv(prog, argv);
		_exit(98);
	}
	/* waitpid is polled: a timer keeps the loop turning */
	tm = event_new(base, -1, EV_PERSIST, tick, NULL);
	(void)event_add(tm, &tv);
	(void)ut_run_until(base, run_done, &r, WAIT_MS);
	event_free(tm);
	if (!r.done) {
		(void)kill(r.pid, SIGKILL);
		(void)waitpid(r.pid, &r.status, 0);
	}
	*out = slurp(po);
	*err = slurp(pe);
	return (WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1);
}

static int
str_is(const char *got, const char *want)
{
	int	 ok = strcmp(got, want) == 0;

	if (!ok)
		printf("# got:\n%s# want:\n%s", got, want);
	return (ok);
}

static void
test_epsctl(void)
{
	char		*o, *e, path[256];
	struct stat	 st;
	int		 rc;

	(void)snprintf(path, sizeof(path), "%s/epsctl",
	    getenv("B") != NULL ? getenv("B") : "build");
	if (stat(path, &st) == -1) {
		UT_CHECK("epsctl is built", 0);
		return;
	}

	rc = epsctl(-1, &o, &e, "-s", sockpath, "show", "summary", NULL);
	UT_CHECK("epsctl show summary", rc == 0 && str_is(o,
	    "daemon:     testd\n"
	    "pid:        4242\n"
	    "uptime:     1h02m\n"
	    "foreground: yes\n"
	    "children:\n"
	    "  process   instance  restarts\n"
	    "  listener         0         0\n"
	    "  matcher          0        12\n") && e[0] == '\0');
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "sh", "conn", NULL);
	UT_CHECK("epsctl sh conn: a table", rc == 0 && str_is(o,
	    "client           name         age  bytes_in  bytes_out\n"
	    "192.0.2.0:40000  a.example     0s         0          7\n"
	    "192.0.2.0:40001  a.example     0s         1          7\n"
	    "192.0.2.2:40000  b.example  2m02s      2000          7\n"
	    "192.0.2.2:40001  b.example  2m02s      2001          7\n"
	    "192.0.2.2:40002  b.example  2m02s      2002          7\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-j", "-s", sockpath, "show", "connections",
	    NULL);
	UT_CHECK("epsctl -j show connections", rc == 0 && strncmp(o,
	    "{\"ok\":true,\"data\":[{\"client\":\"192.0.2.0:40000\","
	    "\"name\":\"a.example\",\"age\":0,\"bytes_in\":0,"
	    "\"bytes_out\":7},", 96) == 0 && o[strlen(o) - 1] == '\n');
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "show", "metrics", NULL);
	UT_CHECK("epsctl show metrics: the text", rc == 0 &&
	    str_is(o, metrics_text));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "reload", NULL);
	UT_CHECK("epsctl reload refused", rc == 1 && str_is(o,
	    "process   instance  result\n"
	    "listener         0  applied\n"
	    "matcher          0  refused\n") &&
	    str_is(e, "epsctl: reload: listener 1: t.conf:12: syntax "
	    "error\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-j", "-s", sockpath, "reload", NULL);
	UT_CHECK("epsctl -j reload", rc == 1 && strncmp(o, "{\"ok\":false,"
	    "\"error\":\"listener 1: t.conf:12: syntax error\",\"data\":[",
	    66) == 0);
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "log", "verbose", NULL);
	UT_CHECK("epsctl log verbose", rc == 0 && str_is(o, "log: ok\n"));
	free(o);
	free(e);
	rc = epsctl(-1, &o, &e, "-s", sockpath, "log", "loud", NULL);
	UT_CHECK("epsctl log loud", rc == 1 && str_is(e,
	    "epsctl: usage: log verbose | brief\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "show", "announcements",
	    NULL);
	UT_CHECK("epsctl: the daemon's error", rc == 1 && o[0] == '\0' &&
	    str_is(e, "epsctl: show announcements: it failed: 42\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "proxyd", "show", "links",
	    NULL);
	UT_CHECK("epsctl: not the daemon's command", rc == 1 && str_is(e,
	    "epsctl: show links is not a proxyd command (epsd has it)\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", "/nonexistent/proxyd.ctl", "proxyd",
	    "show", "summary", NULL);
	UT_CHECK("epsctl: not running", rc == 1 && str_is(e,
	    "epsctl: proxyd is not running (no socket "
	    "/nonexistent/proxyd.ctl)\n"));
	free(o);
	free(e);

	rc = epsctl(-1, &o, &e, "-s", sockpath, "show", NULL);
	UT_CHECK("epsctl: incomplete", rc == 1 && strncmp(e,
	    "epsctl: incomplete command: show\nusage: epsctl", 46) == 0);
	free(o);
	free(e);

	if (geteuid() != 0) {
		printf("SKIP epsctl: permission denied: needs root to run as "
		    "another user\n");
		return;
	}
	/* as nobody: a socket of another group, then one it may not see */
	(void)chmod(tmpdir, 0711);
	(void)chown(sockpath, 0, 1);
	(void)chmod(sockpath, 0660);
	rc = epsctl(65534, &o, &e, "-s", sockpath, "epsd", "show", "summary",
	    NULL);
	{
		struct group	*gr = getgrgid(1);
		char		 want[256];

		(void)snprintf(want, sizeof(want), "epsctl: %s: permission "
		    "denied: run as root or as a member of group %s\n",
		    sockpath, gr != NULL ? gr->gr_name : "1");
		UT_CHECK("epsctl: permission denied, the group", rc == 1 &&
		    str_is(e, want));
	}
	free(o);
	free(e);
	(void)chmod(sockpath, 0600);
	rc = epsctl(65534, &o, &e, "-s", sockpath, "epsd", "show", "summary",
	    NULL);
	{
		char	 want[256];

		(void)snprintf(want, sizeof(want), "epsctl: %s: permission "
		    "denied: run as root\n", sockpath);
		UT_CHECK("epsctl: permission denied, root only", rc == 1 &&
		    str_is(e, want));
	}
	free(o);
	free(e);
	(void)chmod(tmpdir, 0700);
}

int
main(void)
{
	struct control_conf	 conf;
	const char		*why = NULL;
	char			 p[160];
	size_t			 i;

	log_init(1, LOG_DAEMON);
	(void)signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	(void)snprintf(sockpath, sizeof(sockpath), "%s/testd.ctl", tmpdir);
	base = event_base_new();
	for (i = 0; i < nitems(children); i++)
		children[i].ev = evtimer_new(base, child_answer, &children[i]);

	control_conf_init(&conf, "testd");
	(void)strlcpy(conf.path, sockpath, sizeof(conf.path));
	conf.maxrequest = 512;
	ctl = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("control_open", ctl != NULL && control_open(ctl, &why) == 0);
	if (why != NULL)
		printf("# %s\n", why);

	test_commands();
	test_pipelined();
	test_malformed();
	test_lifetime();
	test_client_side();
	test_json();
	test_exec();
	test_metrics_http();
	test_socket();
	test_epsctl();
	control_free(ctl);

	/* a server with room for three clients, idle after a second */
	conf.maxclients = 3;
	conf.idle = 1;
	ctl = control_new(base, &conf, cmds, nitems(cmds), NULL);
	UT_CHECK("control_open small", control_open(ctl, &why) == 0);
	test_clients();
	control_free(ctl);
	UT_CHECK("socket removed", access(sockpath, F_OK) == -1);

	for (i = 0; i < nitems(children); i++)
		event_free(children[i].ev);
	event_base_free(base);
	(void)snprintf(p, sizeof(p), "%s/out", tmpdir);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s/err", tmpdir);
	(void)unlink(p);
	(void)rmdir(tmpdir);
	UT_EXIT();
}
