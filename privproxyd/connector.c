/*
 * connector.c: the connector process of privproxyd (one per prefork).
 *
 * For each connection the eps process hands over it dials, at the same time,
 * the public operator's backchannel endpoint from the configuration and
 * the internal server of the domain.  On the backchannel it writes the
 * preamble (magic, version, token); to the internal server, if the
 * domain asks for it, a PROXY protocol header with the client's and the
 * public proxy's addresses.  Once both are done the two sockets are
 * spliced.  Each address of a name is tried in turn; the whole set-up
 * is bounded by the connect timeout.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "privproxyd.h"
#include "splice.h"

#define PROXY_HDRMAX	232		/* longest v1 line is 107 bytes */

struct side {
	int			 fd;
	struct event		*ev;
	const struct net_addr	*addrs;
	int			 naddrs;
	int			 next;		/* address to try next */
	uint8_t			 out[PROXY_HDRMAX];
	size_t			 outlen;
	size_t			 sent;
	int			 ready;
};

struct pconn {
	TAILQ_ENTRY(pconn)	 entry;
	struct side		 bc;		/* to the public proxy */
	struct side		 in;		/* to the internal server */
	struct event		*timer;
	struct splice		*sp;
	char			 domain[DNAME_MAX + 1];
	char			 public[RPC_NAMEMAX];
	char			 client[NET_ADDRSTRLEN];
	time_t			 started;
};
TAILQ_HEAD(pconns, pconn);

static struct privsep		*ps;
static struct privproxyd_conf	*conf;
static struct pconns		 pconns = TAILQ_HEAD_INITIALIZER(pconns);
static unsigned int		 npconns;
static struct log_limit		 fail_limit = LOG_LIMIT_INITIALIZER(10);

static void	side_write(evutil_socket_t, short, void *);

static void
pconn_free(struct pconn *c)
{
	TAILQ_REMOVE(&pconns, c, entry);
	if (c->sp != NULL)
		splice_free(c->sp);
	else {
		if (c->bc.fd != -1)
			close(c->bc.fd);
		if (c->in.fd != -1)
			close(c->in.fd);
	}
	if (c->bc.ev != NULL)
		event_free(c->bc.ev);
	if (c->in.ev != NULL)
		event_free(c->in.ev);
	if (c->timer != NULL)
		event_free(c->timer);
	explicit_bzero(c->bc.out, sizeof(c->bc.out));
	free(c);
	npconns--;
}

static void
pconn_fail(struct pconn *c, const char *what, const char *why)
{
	connector_failed(what);
	log_limited(&fail_limit, "connection to %s for %s via %s failed: "
	    "%s: %s", c->domain, c->client, c->public, what, why);
	pconn_free(c);
}

static void
pconn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct pconn	*c = arg;

	pconn_fail(c, !c->bc.ready ? "backchannel" : "internal server",
	    "timed out");
}

static void
pconn_done(struct splice *sp, enum splice_end end, int error, void *arg)
{
	struct pconn	*c = arg;

	log_debug("%s for %s: %s, %llu bytes in, %llu out", c->domain,
	    c->client, end == SPLICE_DONE ? "done" : end == SPLICE_IDLE ?
	    "idle timeout" : strerror(error),
	    (unsigned long long)splice_bytes(sp, 0),
	    (unsigned long long)splice_bytes(sp, 1));
	connector_stats.bytes_in += splice_bytes(sp, 0);
	connector_stats.bytes_out += splice_bytes(sp, 1);
	pconn_free(c);
}

static void
pconn_ready(struct pconn *c)
{
	struct timeval	 idle = { conf->to_idle, 0 };

	if (!c->bc.ready || !c->in.ready)
		return;
	evtimer_del(c->timer);
	event_free(c->bc.ev);
	event_free(c->in.ev);
	c->bc.ev = c->in.ev = NULL;
	c->sp = splice_start(ps->base, c->bc.fd, c->in.fd,
	    conf->to_idle ? &idle : NULL, 0, pconn_done, c);
	if (c->sp == NULL)
		pconn_fail(c, "splice", strerror(errno));
}

/* Dial the next address of a side; -1 when none is left. */
static int
side_dial(struct pconn *c, struct side *s)
{
	int	 saved = 0;

	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (s->fd != -1) {
		close(s->fd);
		s->fd = -1;
	}
	while (s->next < s->naddrs) {
		if ((s->fd = net_connect(&s->addrs[s->next++])) != -1)
			break;
		saved = errno;
	}
	if (s->fd == -1) {
		errno = saved ? saved : ECONNREFUSED;
		return (-1);
	}
	s->sent = 0;
	if ((s->ev = event_new(ps->base, s->fd, EV_WRITE, side_write, c)) ==
	    NULL || event_add(s->ev, NULL) == -1)
		return (-1);
	return (0);
}

static void
side_write(evutil_socket_t fd, short ev, void *arg)
{
	struct pconn	*c = arg;
	struct side	*s = fd == c->bc.fd ? &c->bc : &c->in;
	const char	*what = s == &c->bc ? "backchannel" : "internal server";
	socklen_t	 sl = sizeof(int);
	ssize_t		 n;
	int		 err = 0;

	if (s->sent == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
	    &sl) == -1 || err != 0)) {
		if (side_dial(c, s) == -1)
			pconn_fail(c, what, strerror(err ? err : errno));
		return;
	}
	while (s->sent < s->outlen) {
		n = send(fd, s->out + s->sent, s->outlen - s->sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				event_add(s->ev, NULL);
				return;
			}
			pconn_fail(c, what, strerror(errno));
			return;
		}
		s->sent += (size_t)n;
	}
	if (s->outlen == 0)
		s->sent = 1;	/* connected; nothing to send */
	s->ready = 1;
	pconn_ready(c);
}

/*
 * The PROXY protocol header for a client, as the public proxy saw it:
 * version 1 is a text line, version 2 a binary block.  Returns its
 * length, or -1.
 */
int
proxy_header(enum proxy_proto v, const char *client, const char *server,
    uint8_t *buf, size_t len)
{
	static const uint8_t	 sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
				    0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	struct net_addr		 src, dst;
	struct sockaddr_in	*s4, *d4;
	struct sockaddr_in6	*s6, *d6;
	char			 sh[INET6_ADDRSTRLEN], dh[INET6_ADDRSTRLEN];
	int			 known, n;
	uint16_t		 alen;

	known = net_parse(client, &src) == 0 && net_parse(server, &dst) == 0 &&
	    src.ss.ss_family == dst.ss.ss_family;
	s4 = (struct sockaddr_in *)&src.ss;
	d4 = (struct sockaddr_in *)&dst.ss;
	s6 = (struct sockaddr_in6 *)&src.ss;
	d6 = (struct sockaddr_in6 *)&dst.ss;
	if (v == PROXY_V1) {
		if (!known)
			n = snprintf((char *)buf, len, "PROXY UNKNOWN\r\n");
		else if (src.ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &s4->sin_addr, sh, sizeof(sh));
			inet_ntop(AF_INET, &d4->sin_addr, dh, sizeof(dh));
			n = snprintf((char *)buf, len, "PROXY TCP4 %s %s %u "
			    "%u\r\n", sh, dh, ntohs(s4->sin_port),
			    ntohs(d4->sin_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, sh, sizeof(sh));
			inet_ntop(AF_INET6, &d6->sin6_addr, dh, sizeof(dh));
			n = snprintf((char *)buf, len, "PROXY TCP6 %s %s %u "
			    "%u\r\n", sh, dh, ntohs(s6->sin6_port),
			    ntohs(d6->sin6_port));
		}
		return (n < 0 || (size_t)n >= len ? -1 : n);
	}
	if (v != PROXY_V2 || len < 16 + 36)
		return (-1);
	memcpy(buf, sig, sizeof(sig));
	if (!known) {
		buf[12] = 0x20;		/* version 2, LOCAL */
		buf[13] = 0x00;		/* unspecified */
		buf[14] = buf[15] = 0;
		return (16);
	}
	buf[12] = 0x21;			/* version 2, PROXY */
	if (src.ss.ss_family == AF_INET) {
		buf[13] = 0x11;		/* TCP over IPv4 */
		alen = 12;
		memcpy(buf + 16, &s4->sin_addr, 4);
		memcpy(buf + 20, &d4->sin_addr, 4);
		memcpy(buf + 24, &s4->sin_port, 2);
		memcpy(buf + 26, &d4->sin_port, 2);
	} else {
		buf[13] = 0x21;		/* TCP over IPv6 */
		alen = 36;
		memcpy(buf + 16, &s6->sin6_addr, 16);
		memcpy(buf + 32, &d6->sin6_addr, 16);
		memcpy(buf + 48, &s6->sin6_port, 2);
		memcpy(buf + 50, &d6->sin6_port, 2);
	}
	buf[14] = (uint8_t)(alen >> 8);
	buf[15] = (uint8_t)alen;
	return (16 + alen);
}

static void
connect_new(struct frame *f)
{
	struct mp_doc		 d;
	struct pconn		*c;
	struct pp_public	*pub;
	struct pp_domain	*dom;
	struct timeval		 tv = { conf->to_connect, 0 };
	char			 server[NET_ADDRSTRLEN];
	uint8_t			*pre;
	int			 n;

	if (npconns >= conf->max_conns) {
		connector_failed("limit");
		log_limited(&fail_limit, "refused connection: limit of %u "
		    "reached", conf->max_conns);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s", __func__);
		return;
	}
	c->bc.fd = c->in.fd = -1;
	TAILQ_INSERT_TAIL(&pconns, c, entry);
	npconns++;
	connector_stats.accepted++;
	c->started = proc_now();
	pre = c->bc.out;
	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "public", c->public, sizeof(c->public)) == -1 ||
	    mp_map_str(d.root, "domain", c->domain, sizeof(c->domain)) == -1 ||
	    mp_map_bin(d.root, "token", pre + BC_MAGIC_LEN + 4,
	    EPS_TOKEN_LEN) == -1 ||
	    mp_map_str(d.root, "client", c->client, sizeof(c->client)) == -1 ||
	    mp_map_str(d.root, "server", server, sizeof(server)) == -1) {
		log_warnx("%s: bad message from eps", __func__);
		mp_free(&d);
		pconn_free(c);
		return;
	}
	mp_free(&d);
	if ((pub = config_public(conf, c->public)) == NULL ||
	    (dom = config_domain(conf, c->domain)) == NULL) {
		pconn_fail(c, "configuration", "unknown public or domain");
		return;
	}
	memcpy(pre, BC_MAGIC, BC_MAGIC_LEN);
	pre[BC_MAGIC_LEN] = BC_VERSION;
	c->bc.outlen = BC_PREAMBLE_LEN;
	c->bc.addrs = pub->bc;
	c->bc.naddrs = pub->nbc;
	c->in.addrs = dom->fwd;
	c->in.naddrs = dom->nfwd;
	if (dom->proxy != PROXY_NONE) {
		if ((n = proxy_header(dom->proxy, c->client, server,
		    c->in.out, sizeof(c->in.out))) == -1) {
			pconn_fail(c, "PROXY header", "cannot build");
			return;
		}
		c->in.outlen = (size_t)n;
	}
	if ((c->timer = evtimer_new(ps->base, pconn_timeout, c)) == NULL ||
	    evtimer_add(c->timer, &tv) == -1) {
		pconn_fail(c, "timer", strerror(errno));
		return;
	}
	if (side_dial(c, &c->bc) == -1) {
		pconn_fail(c, "backchannel", strerror(errno));
		return;
	}
	if (side_dial(c, &c->in) == -1)
		pconn_fail(c, "internal server", strerror(errno));
}

int
connector_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct pconn	*c, *t;

	if (nconf == NULL)
		return (-1);
	/* connections being set up point into the old configuration */
	TAILQ_FOREACH_SAFE(c, &pconns, entry, t)
		if (c->sp == NULL)
			pconn_fail(c, "set-up", "configuration reloaded");
	config_free(conf);
	conf = nconf;
	return (0);
}

void
connector_dispatch(struct privsep *p, struct proc_chan *from,
    struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_CONNECT:
		if (from->id != PROC_EPS || conf == NULL)
			break;
		connect_new(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
connector_init(struct privsep *p)
{
	ps = p;
}

/*
 * Operations: the numbers and the connections of this connector.
 */

struct connector_stats	 connector_stats;

/* What failed, as the metrics label it. */
static const struct {
	const char	*what;		/* pconn_fail()'s */
	const char	*label;
} failures[] = {
	{ "limit", "limit" },
	{ "backchannel", "backchannel" },
	{ "internal server", "internal_server" },
	{ "configuration", "configuration" },
	{ "set-up", "reload" },
	{ "", "internal" },		/* the rest: ours */
};

void
connector_failed(const char *what)
{
	size_t	 i;

	for (i = 0; i < nitems(failures) - 1; i++)
		if (strcmp(what, failures[i].what) == 0)
			break;
	if (i < CONNECTOR_FAILURES)
		connector_stats.failed[i]++;
}

void
connector_metrics(struct privsep *p, struct metrics *m)
{
	struct metric_label	 l;
	struct pconn		*c;
	uint64_t		 in = connector_stats.bytes_in;
	uint64_t		 out = connector_stats.bytes_out;
	size_t			 i;

	TAILQ_FOREACH(c, &pconns, entry)
		if (c->sp != NULL) {
			in += splice_bytes(c->sp, 0);
			out += splice_bytes(c->sp, 1);
		}
	(void)metrics_declare(m, "privproxyd_connections_accepted_total",
	    METRIC_COUNTER, "Connections a public proxy asked for and a "
	    "connector took on.");
	(void)metrics_add(m, "privproxyd_connections_accepted_total", NULL, 0,
	    (double)connector_stats.accepted);
	(void)metrics_declare(m, "privproxyd_connections_active",
	    METRIC_GAUGE, "Connections being set up or relayed.");
	(void)metrics_add(m, "privproxyd_connections_active", NULL, 0,
	    npconns);
	(void)metrics_declare(m, "privproxyd_connections_refused_total",
	    METRIC_COUNTER, "Connections refused or failed before their "
	    "relay, by reason.");
	l.name = "reason";
	for (i = 0; i < nitems(failures) && i < CONNECTOR_FAILURES; i++) {
		l.value = failures[i].label;
		(void)metrics_add(m, "privproxyd_connections_refused_total",
		    &l, 1, (double)connector_stats.failed[i]);
	}
	(void)metrics_declare(m, "privproxyd_bytes_total", METRIC_COUNTER,
	    "Bytes relayed: in from the clients (their ClientHello "
	    "included), out to them.");
	l.name = "direction";
	l.value = "in";
	(void)metrics_add(m, "privproxyd_bytes_total", &l, 1, (double)in);
	l.value = "out";
	(void)metrics_add(m, "privproxyd_bytes_total", &l, 1, (double)out);
	/* the pool: none yet */
	(void)metrics_declare(m, "privproxyd_pool_size", METRIC_GAUGE,
	    "Pooled backchannels open, idle, to the public proxies.");
	(void)metrics_add(m, "privproxyd_pool_size", NULL, 0, 0);
	(void)metrics_declare(m, "privproxyd_pool_hits_total", METRIC_COUNTER,
	    "Clients that came over a pooled backchannel.");
	(void)metrics_add(m, "privproxyd_pool_hits_total", NULL, 0, 0);
	(void)metrics_declare(m, "privproxyd_pool_misses_total",
	    METRIC_COUNTER, "Clients that came through a notification.");
	(void)metrics_add(m, "privproxyd_pool_misses_total", NULL, 0, 0);
}

int
connector_control(struct privsep *p, uint32_t ref, const char *cmd, int argc,
    char **argv, char *why, size_t whylen)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct pconn		*c;
	time_t			 now = proc_now();

	if (strcmp(cmd, "show pools") == 0)
		return (0);		/* no pool yet: no rows */
	if (strcmp(cmd, "show connections") != 0) {
		(void)snprintf(why, whylen, "%s: not a connector command",
		    cmd);
		return (-1);
	}
	proc_rows_init(&rows, p, ref);
	TAILQ_FOREACH(c, &pconns, entry) {
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 7);
		mp_pack_kstr(pk, "client", c->client);
		mp_pack_kstr(pk, "name", c->domain);
		mp_pack_kstr(pk, "public", c->public);
		mp_pack_kstr(pk, "state", c->sp != NULL ? "relay" :
		    "connect");
		mp_pack_kuint(pk, "age", (uint64_t)(now - c->started));
		mp_pack_kuint(pk, "bytes_in", c->sp != NULL ?
		    splice_bytes(c->sp, 0) : 0);
		mp_pack_kuint(pk, "bytes_out", c->sp != NULL ?
		    splice_bytes(c->sp, 1) : 0);
	}
	if (proc_rows_end(&rows) == -1) {
		(void)strlcpy(why, "the parent did not take the list", whylen);
		return (-1);
	}
	return (0);
}
