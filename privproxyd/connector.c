/*
 * connector.c: the connector process of privproxyd (one per prefork).
 *
 * Pooled backchannels.  For every public operator whose pool key the
 * eps process passed on (IMSG_POOL_KEY, from the answer to our
 * announce), the connector keeps its share of the "pool" of that public
 * block open: pool / prefork, the first pool % prefork connectors one
 * more.  A pooled backchannel is dialled to the operator's backchannel
 * address from the configuration, writes the pool preamble (the key and
 * the pool size) and waits for proxyd's answer; accepted, it stays idle
 * until proxyd writes a go header for a client, which names the domain
 * and the client's address.  The connector then connects to the
 * internal server of that domain, writes the PROXY protocol header if
 * the domain asks for it and the client's bytes that came with the
 * header, splices the two sockets, and opens another pooled backchannel
 * in the next round of the loop, after the client's own first steps.
 * A go header for a name we do not serve closes the
 * backchannel.  A pooled backchannel that fails to open, is refused or
 * dies idle is replaced after a back-off, 1 s doubling up to 30 s, until
 * one is accepted again; a refused key, or a backchannel closed before
 * the answer, makes the eps process announce again (IMSG_POOL_STALE),
 * which brings the current key, from a restarted proxyd for example.
 * Pooled backchannels keep TCP keepalive every PP_POOL_KEEPIDLE seconds,
 * which also keeps the state of firewalls and NAT on the way.
 *
 * Notified connections.  For each connection the eps process hands
 * over (IMSG_CONNECT, after an "incoming" call) the connector dials, at
 * the same time, the public operator's backchannel address and the
 * internal server of the domain.  On the backchannel it writes the
 * token preamble (magic, version, token); to the internal server, if the
 * domain asks for it, a PROXY protocol header with the client's and the
 * public proxy's addresses.  Once both are done the two sockets are
 * spliced.
 *
 * Each address of a name is tried in turn; a set-up is bounded by the
 * connect timeout.  A side's first bytes (a preamble, a PROXY header,
 * the client's) are sent right after connect(2): a peer close by has
 * accepted by then, and the round of the loop that would say so is
 * saved; otherwise the send says EAGAIN and the side's event goes on.
 * A connection is never waited for with an event of its own once the
 * relay starts: the relay's events are added before the set-up's on
 * the same descriptors go.
 *
 * Reloads.  A new configuration takes the place of the old one at once,
 * for what starts afterwards; what is under way goes on.  A set-up that
 * may still dial another address holds the configuration it took the
 * addresses from (conf_hold), which is freed only after the last such
 * set-up relays or fails: a notified connection from its IMSG_CONNECT,
 * a pooled one from its go header.  A pooled backchannel being opened
 * dials one address only and holds nothing; it is answered, joins the
 * pool and is shared out as the new configuration says.  A client whose
 * go header is still coming looks up its domain in the new one.
 */

#include <sys/socket.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "privproxyd.h"
#include "splice.h"

#define PROXY_HDRMAX	232		/* longest v1 line is 107 bytes */
#define GO_READ		(BC_POOL_ANSWER_LEN + BC_GO_MAX + 16384)
#define EARLY_MAX	(64 * 1024)	/* client bytes held before relay */

enum pc_state {
	S_DIAL,		/* connecting; then the preamble */
	S_ANSWER,	/* pooled: waiting for proxyd's answer */
	S_IDLE,		/* pooled: waiting for a go header */
	S_GO,		/* pooled: the rest of a go header */
	S_CONNECT,	/* connecting to the internal server */
	S_RELAY,
};

struct side {
	int			 fd;
	struct event		*ev;
	const struct net_addr	*addrs;
	int			 naddrs;
	int			 next;		/* address to try next */
	uint8_t			*out;		/* to write once connected */
	size_t			 outlen;
	size_t			 sent;
	int			 ready;
};

struct ppool;

/* What a set-up needs to say what failed; gone once relayed. */
struct setup {
	char			 domain[DNAME_MAX + 1];
	char			 public[RPC_NAMEMAX];
	char			 client[NET_ADDRSTRLEN];
	char			 server[NET_ADDRSTRLEN];
};

struct pconn {
	TAILQ_ENTRY(pconn)	 entry;
	enum pc_state		 state;
	struct ppool		*pool;		/* pooled backchannels */
	struct side		 bc;		/* to the public proxy */
	struct side		 in;		/* to the internal server */
	struct event		*timer;
	struct splice		*sp;
	struct setup		*su;
	uint8_t			*hdr;		/* a go header so far */
	size_t			 hdrlen;
	struct privproxyd_conf	*conf;		/* held: the addresses' */
	int			 counted;	/* in npconns */
	unsigned int		 keygen;	/* of the key it presented */
	time_t			 started;
	size_t			 early;		/* client bytes before relay */
};
TAILQ_HEAD(pconns, pconn);

/* This connector's share of the pool towards one public operator. */
struct ppool {
	TAILQ_ENTRY(ppool)	 entry;
	char			 name[RPC_NAMEMAX];
	uint8_t			 key[EPS_POOL_KEYLEN];
	int			 haskey;
	unsigned int		 keygen;	/* keys had so far */
	unsigned int		 total;		/* "pool" of the public */
	unsigned int		 target;	/* our share of it */
	unsigned int		 nidle;
	unsigned int		 nopen;		/* being dialled, answered */
	unsigned int		 fails;		/* in a row */
	int			 ready;		/* was full once since a loss */
	struct event		*retry;
	struct event		*refill;	/* next round: pool_later() */
	struct pconns		 idle;
};
TAILQ_HEAD(ppools, ppool);

static struct privsep		*ps;
static struct privproxyd_conf	*conf;
static struct pconns		 pconns = TAILQ_HEAD_INITIALIZER(pconns);
static struct ppools		 ppools = TAILQ_HEAD_INITIALIZER(ppools);
static unsigned int		 npconns;	/* set-ups and relays */
static unsigned int		 npooled;	/* idle or opening */
static struct log_limit		 fail_limit = LOG_LIMIT_INITIALIZER(10);
static uint8_t			 rbuf[GO_READ];

static void	side_event(evutil_socket_t, short, void *);
static void	pool_fill(struct ppool *);
static void	pool_lost(struct pconn *, const char *, const char *, int);
static void	go_parse(struct pconn *, const uint8_t *, size_t);
static void	side_done(struct pconn *, struct side *);
static int	side_now(struct pconn *, struct side *);

/* A set-up dials addresses of the current configuration: keep it. */
static void
conf_hold(struct pconn *c)
{
	c->conf = conf;
	conf->refs++;
}

/* Done with those addresses: an old configuration goes after its last. */
static void
conf_drop(struct pconn *c)
{
	struct privproxyd_conf	*k = c->conf;

	if (k == NULL)
		return;
	c->conf = NULL;
	c->bc.addrs = c->in.addrs = NULL;
	c->bc.naddrs = c->in.naddrs = 0;
	if (--k->refs == 0 && k != conf)
		config_free(k);
}

static void
pconn_free(struct pconn *c)
{
	if (c->pool != NULL && (c->state == S_DIAL || c->state == S_ANSWER)) {
		c->pool->nopen--;
		npooled--;
	}
	if (c->pool != NULL && (c->state == S_IDLE || c->state == S_GO)) {
		TAILQ_REMOVE(&c->pool->idle, c, entry);
		c->pool->nidle--;
		npooled--;
	} else
		TAILQ_REMOVE(&pconns, c, entry);
	if (c->counted)
		npconns--;
	if (c->sp != NULL)
		splice_free(c->sp);
	if (c->bc.ev != NULL)
		event_free(c->bc.ev);
	if (c->in.ev != NULL)
		event_free(c->in.ev);
	if (c->sp == NULL) {
		if (c->bc.fd != -1)
			close(c->bc.fd);
		if (c->in.fd != -1)
			close(c->in.fd);
	}
	if (c->timer != NULL)
		event_free(c->timer);
	conf_drop(c);
	if (c->bc.out != NULL) {
		explicit_bzero(c->bc.out, c->bc.outlen);
		free(c->bc.out);
	}
	free(c->in.out);
	free(c->hdr);
	free(c->su);
	free(c);
}

static void
pconn_fail(struct pconn *c, const char *what, const char *why)
{
	if (c->su != NULL)
		connector_failed(what);
	if (c->su != NULL)
		log_limited(&fail_limit, "connection to %s for %s via %s "
		    "failed: %s: %s", c->su->domain, c->su->client,
		    c->su->public, what, why);
	else if (c->pool != NULL)
		log_limited(&fail_limit, "pooled backchannel to %s failed: "
		    "%s: %s", c->pool->name, what, why);
	pconn_free(c);
}

static void
pconn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct pconn	*c = arg;
	struct ppool	*p = c->pool;

	if (p != NULL && (c->state == S_DIAL || c->state == S_ANSWER)) {
		pool_lost(c, "backchannel", "timed out", 0);
		return;
	}
	pconn_fail(c, !c->bc.ready ? "backchannel" : "internal server",
	    "timed out");
}

static int
pconn_timer(struct pconn *c)
{
	struct timeval	 tv = { conf->to_connect, 0 };

	if (c->timer == NULL &&
	    (c->timer = evtimer_new(ps->base, pconn_timeout, c)) == NULL)
		return (-1);
	return (evtimer_add(c->timer, &tv));
}

static void
pconn_done(struct splice *sp, enum splice_end end, int error, void *arg)
{
	struct pconn	*c = arg;

	log_debug("relay done: %s, %llu bytes in, %llu out",
	    end == SPLICE_DONE ? "both sides closed" : end == SPLICE_IDLE ?
	    "idle timeout" : strerror(error),
	    (unsigned long long)(c->early + splice_bytes(sp, 0)),
	    (unsigned long long)splice_bytes(sp, 1));
	connector_stats.bytes_in += c->early + splice_bytes(sp, 0);
	connector_stats.bytes_out += splice_bytes(sp, 1);
	pconn_free(c);
}

/* Both sides are done with their set-up: relay. */
static void
pconn_ready(struct pconn *c)
{
	struct timeval	 idle = { conf->to_idle, 0 };

	if (!c->bc.ready || !c->in.ready)
		return;
	c->sp = splice_start(ps->base, c->bc.fd, c->in.fd,
	    conf->to_idle ? &idle : NULL, 0, pconn_done, c);
	if (c->sp == NULL) {
		pconn_fail(c, "splice", strerror(errno));
		return;
	}
	c->state = S_RELAY;
	conf_drop(c);
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	/* after splice_start: epoll keeps the descriptors as they are */
	if (c->bc.ev != NULL) {
		event_free(c->bc.ev);
		c->bc.ev = NULL;
	}
	if (c->in.ev != NULL) {
		event_free(c->in.ev);
		c->in.ev = NULL;
	}
	free(c->in.out);
	c->in.out = NULL;
	free(c->bc.out);
	c->bc.out = NULL;
}

/*
 * Dial the next address of a side; -1 when none is left.  The event
 * watches for reading too where the relay will: when the connection
 * completes the relay's read event then changes nothing.  It is added
 * at once with arm, and otherwise by side_now() if it must be.
 */
static int
side_dial(struct pconn *c, struct side *s, short what, int arm)
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
	if ((s->ev = event_new(ps->base, s->fd, what | EV_PERSIST,
	    side_event, c)) == NULL || (arm && event_add(s->ev, NULL) == -1))
		return (-1);
	return (0);
}

/* A side failed: the connection goes, a pooled backchannel is replaced. */
static void
side_lost(struct pconn *c, struct side *s, const char *why)
{
	const char	*what = s == &c->bc ? "backchannel" : "internal server";

	if (c->pool != NULL && s == &c->bc)
		pool_lost(c, what, why, 0);
	else
		pconn_fail(c, what, why);
}

/*
 * A side is writable (connected) or, with nothing to write yet,
 * readable.  No SO_ERROR: a failed connect shows in the first send.
 * -1 when the connection failed and is freed: do not touch c then.
 */
static int
side_write(struct pconn *c, struct side *s)
{
	socklen_t	 sl = sizeof(int);
	ssize_t		 n;
	int		 err = 0;

	if (s->outlen == 0) {
		/* nothing to send: only SO_ERROR says it connected */
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 ||
		    err != 0)
			goto redial;
	}
	while (s->sent < s->outlen) {
		n = send(s->fd, s->out + s->sent, s->outlen - s->sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return (0);
			err = errno;
			if (s->sent == 0)
				goto redial;
			side_lost(c, s, strerror(err));
			return (-1);
		}
		s->sent += (size_t)n;
	}
	s->ready = 1;
	return (0);

 redial:
	/* a pooled backchannel is not redialled: it is replaced */
	if ((c->pool != NULL && s == &c->bc) || side_dial(c, s,
	    c->state == S_CONNECT ? EV_READ | EV_WRITE : EV_WRITE, 1) == -1) {
		side_lost(c, s, strerror(err ? err : errno));
		return (-1);
	}
	return (0);
}

/*
 * Pools.
 */

static struct ppool *
ppool_find(const char *name)
{
	struct ppool	*p;

	TAILQ_FOREACH(p, &ppools, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

static void
pool_retry(evutil_socket_t fd, short ev, void *arg)
{
	pool_fill(arg);
}

/*
 * Refill in the next round of the loop, once the events of this one are
 * served: a client that took a pooled backchannel has its internal
 * server dialled, and its first bytes sent there, before the
 * replacement's connect(2) and preamble take their turn.
 */
static void
pool_later(struct ppool *p)
{
	const struct timeval	 now = { 0, 0 };

	if (!evtimer_pending(p->refill, NULL))
		evtimer_add(p->refill, &now);
}

/*
 * Something went wrong with a pooled backchannel: try again later.  A
 * round of tries that fails counts once, and is logged once.
 */
static void
pool_failed(struct ppool *p, int stale, const char *what, const char *why)
{
	struct mp_out	 m;
	struct timeval	 tv = { 1, 0 };

	p->ready = 0;
	if (!evtimer_pending(p->retry, NULL)) {
		p->fails++;
		tv.tv_sec = p->fails > 5 ? PP_POOL_BACKOFF :
		    MINIMUM(1 << (p->fails - 1), PP_POOL_BACKOFF);
		evtimer_add(p->retry, &tv);
		log_limited(&fail_limit, "pooled backchannel to %s failed: "
		    "%s: %s; trying again in %llds", p->name, what, why,
		    (long long)tv.tv_sec);
	} else
		log_debug("pooled backchannel to %s failed: %s: %s", p->name,
		    what, why);
	if (!stale)
		return;
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 1);
	mp_pack_kstr(&m.pk, "public", p->name);
	(void)proc_send_mp(ps, PROC_EPS, 0, IMSG_POOL_STALE, 0, -1, &m);
	mp_out_free(&m);
}

/* A pooled backchannel that failed goes; another comes later. */
static void
pool_lost(struct pconn *c, const char *what, const char *why, int stale)
{
	struct ppool	*p = c->pool;
	int		 old = c->keygen != p->keygen;

	pconn_free(c);
	if (old) {
		/* it had the key before the current one: no failure */
		pool_fill(p);
		return;
	}
	pool_failed(p, stale, what, why);
}

/* Tune a pooled backchannel: keepalive often enough for NAT. */
static void
pool_tune(int fd)
{
	int	 idle = PP_POOL_KEEPIDLE;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
}

static void
pool_open(struct ppool *p)
{
	struct pp_public	*pub;
	struct pconn		*c;
	uint8_t			*pre;

	if ((pub = config_public(conf, p->name)) == NULL)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (pre = malloc(BC_PREAMBLE_LEN)) == NULL) {
		free(c);
		log_warn("%s", __func__);
		return;
	}
	c->bc.fd = c->in.fd = -1;
	c->pool = p;
	c->state = S_DIAL;
	TAILQ_INSERT_TAIL(&pconns, c, entry);
	p->nopen++;
	npooled++;
	memcpy(pre, BC_MAGIC, BC_MAGIC_LEN);
	pre[BC_MAGIC_LEN] = BC_VERSION;
	pre[BC_MAGIC_LEN + 1] = BC_KIND_POOL;
	pre[BC_MAGIC_LEN + 2] = (uint8_t)(p->total >> 8);
	pre[BC_MAGIC_LEN + 3] = (uint8_t)p->total;
	memcpy(pre + BC_MAGIC_LEN + 4, p->key, EPS_POOL_KEYLEN);
	c->keygen = p->keygen;
	c->bc.out = pre;
	c->bc.outlen = BC_PREAMBLE_LEN;
	c->bc.addrs = pub->bc;
	c->bc.naddrs = pub->nbc;
	if (pconn_timer(c) == -1) {
		pconn_fail(c, "timer", strerror(errno));
		return;
	}
	if (side_dial(c, &c->bc, EV_WRITE, 0) == -1) {
		pool_lost(c, "backchannel", strerror(errno), 0);
		return;
	}
	/* never redialled (it is replaced), so a reload may free them */
	c->bc.addrs = NULL;
	c->bc.naddrs = 0;
	pool_tune(c->bc.fd);
	(void)side_now(c, &c->bc);
}

/* Open pooled backchannels up to our share, unless backing off. */
static void
pool_fill(struct ppool *p)
{
	if (!p->haskey || evtimer_pending(p->retry, NULL))
		return;
	while (p->nidle + p->nopen < p->target && npooled < PP_MAX_POOLED)
		pool_open(p);
}

/* The preamble is out: wait for the answer, reading. */
static void
pool_sent(struct pconn *c)
{
	c->state = S_ANSWER;
	free(c->bc.out);
	c->bc.out = NULL;
	c->bc.outlen = 0;
	event_free(c->bc.ev);
	if ((c->bc.ev = event_new(ps->base, c->bc.fd, EV_READ | EV_PERSIST,
	    side_event, c)) == NULL || event_add(c->bc.ev, NULL) == -1) {
		pconn_fail(c, "backchannel", "out of memory");
		return;
	}
}

/* proxyd's answer, and maybe a go header right behind it. */
static void
pool_answer(struct pconn *c, const uint8_t *b, size_t n)
{
	struct ppool	*p = c->pool;
	int		 status;

	if (n < BC_POOL_ANSWER_LEN) {
		/* four bytes in one segment: anything else is a bad peer */
		pool_lost(c, "backchannel", "short answer", 0);
		return;
	}
	if (memcmp(b, "EPS", 3) != 0 || b[3] != BC_POOL_OK) {
		status = memcmp(b, "EPS", 3) == 0 ? b[3] : -1;
		pool_lost(c, "backchannel", status == BC_POOL_FULL ?
		    "pool full at the public proxy" : status ==
		    BC_POOL_REFUSED ? "pool key refused" : "bad answer",
		    status == BC_POOL_REFUSED);
		return;
	}
	p->nopen--;
	evtimer_del(c->timer);
	TAILQ_REMOVE(&pconns, c, entry);
	TAILQ_INSERT_TAIL(&p->idle, c, entry);
	p->nidle++;
	c->state = S_IDLE;
	p->fails = 0;
	if (p->nidle > p->target) {
		/* the share shrank meanwhile */
		pconn_free(c);
		return;
	}
	if (!p->ready && p->nidle >= p->target) {
		p->ready = 1;
		log_info("pool of %u backchannel%s to %s ready", p->nidle,
		    p->nidle == 1 ? "" : "s", p->name);
	}
	if (n > BC_POOL_ANSWER_LEN)
		go_parse(c, b + BC_POOL_ANSWER_LEN, n - BC_POOL_ANSWER_LEN);
}

/* The internal server is connected and has what came before: relay. */
static void
go_connected(struct pconn *c)
{
	c->in.ready = 1;
	pconn_ready(c);
}

/* A pooled backchannel gets a client: it leaves the pool. */
static int
go_start(struct pconn *c)
{
	struct ppool	*p = c->pool;

	TAILQ_REMOVE(&p->idle, c, entry);
	p->nidle--;
	npooled--;
	TAILQ_INSERT_TAIL(&pconns, c, entry);
	c->pool = NULL;
	c->state = S_GO;
	/* another takes its place, after this client's first steps */
	pool_later(p);
	if ((c->su = calloc(1, sizeof(*c->su))) == NULL) {
		pconn_fail(c, "backchannel", "out of memory");
		return (-1);
	}
	(void)strlcpy(c->su->public, p->name, sizeof(c->su->public));
	(void)strlcpy(c->su->domain, "(go header)", sizeof(c->su->domain));
	(void)strlcpy(c->su->client, "?", sizeof(c->su->client));
	if (pconn_timer(c) == -1) {
		pconn_fail(c, "timer", strerror(errno));
		return (-1);
	}
	return (0);
}

/* The length of a whole go header, 0 if more is needed, -1 if bad. */
static ssize_t
go_hdrlen(const uint8_t *b, size_t n)
{
	if (n < BC_GO_HDRLEN)
		return (0);
	if (memcmp(b, BC_GO_MAGIC, 4) != 0 || b[4] != BC_VERSION ||
	    b[5] == 0 || b[5] > DNAME_MAX || b[6] == 0 ||
	    b[6] >= NET_ADDRSTRLEN || b[7] == 0 || b[7] >= NET_ADDRSTRLEN)
		return (-1);
	if (n < (size_t)BC_GO_HDRLEN + b[5] + b[6] + b[7])
		return (0);
	return (BC_GO_HDRLEN + b[5] + b[6] + b[7]);
}

/*
 * Bytes of a go header and of the client behind it.  Once the header is
 * all there: connect to the internal server of its domain and keep the
 * PROXY header, if the domain wants one, and the client's bytes for it.
 */
static void
go_parse(struct pconn *c, const uint8_t *b, size_t n)
{
	struct pp_domain	*dom;
	struct setup		*su;
	uint8_t			 ph[PROXY_HDRMAX], *nb;
	char			 name[DNAME_MAX + 1];
	size_t			 nl, cl, left, plen = 0;
	ssize_t			 hl;
	int			 r;

	if (c->state == S_IDLE && go_start(c) == -1)
		return;
	su = c->su;
	if (c->hdr != NULL) {
		if (c->hdrlen + n > BC_GO_MAX + GO_READ) {
			pconn_fail(c, "backchannel", "go header too long");
			return;
		}
		if ((nb = realloc(c->hdr, c->hdrlen + n)) == NULL) {
			pconn_fail(c, "backchannel", "out of memory");
			return;
		}
		memcpy(nb + c->hdrlen, b, n);
		c->hdr = nb;
		c->hdrlen += n;
		b = c->hdr;
		n = c->hdrlen;
	}
	if ((hl = go_hdrlen(b, n)) == -1) {
		pconn_fail(c, "backchannel", "bad go header");
		return;
	}
	if (hl == 0) {
		/* in pieces: gather them */
		if (c->hdr == NULL) {
			if ((c->hdr = malloc(n)) == NULL) {
				pconn_fail(c, "backchannel", "out of memory");
				return;
			}
			memcpy(c->hdr, b, n);
			c->hdrlen = n;
		}
		return;
	}
	nl = b[5];
	cl = b[6];
	memcpy(name, b + BC_GO_HDRLEN, nl);
	name[nl] = '\0';
	memcpy(su->client, b + BC_GO_HDRLEN + nl, cl);
	su->client[cl] = '\0';
	memcpy(su->server, b + BC_GO_HDRLEN + nl + cl, b[7]);
	su->server[b[7]] = '\0';
	if (dname_lower(su->domain, name, sizeof(su->domain), 0) == -1) {
		(void)strlcpy(su->domain, "(invalid)", sizeof(su->domain));
		pconn_fail(c, "go header", "not a valid name");
		return;
	}
	if ((dom = config_domain(conf, su->domain)) == NULL) {
		pconn_fail(c, "go header", "domain not served");
		return;
	}
	if (dom->proxy != PROXY_NONE) {
		if ((r = proxy_header(dom->proxy, su->client, su->server, ph,
		    sizeof(ph))) == -1) {
			pconn_fail(c, "PROXY header", "cannot build");
			return;
		}
		plen = (size_t)r;
	}
	left = n - (size_t)hl;
	if ((c->in.out = malloc(plen + left + 1)) == NULL) {
		pconn_fail(c, "internal server", "out of memory");
		return;
	}
	memcpy(c->in.out, ph, plen);
	memcpy(c->in.out + plen, b + hl, left);
	c->in.outlen = plen + left;
	c->early = left;
	free(c->hdr);
	c->hdr = NULL;
	c->hdrlen = 0;
	if (npconns >= conf->max_conns) {
		connector_failed("limit");
		log_limited(&fail_limit, "refused connection: limit of %u "
		    "reached", conf->max_conns);
		pconn_free(c);
		return;
	}
	npconns++;
	c->counted = 1;
	connector_stats.accepted++;
	connector_stats.pool_hits++;
	c->started = proc_now();
	c->bc.ready = 1;
	c->state = S_CONNECT;
	c->in.addrs = dom->fwd;
	c->in.naddrs = dom->nfwd;
	conf_hold(c);
	log_debug("pooled backchannel from %s: %s for %s", su->public,
	    su->domain, su->client);
	if (pconn_timer(c) == -1) {
		pconn_fail(c, "timer", strerror(errno));
		return;
	}
	if (side_dial(c, &c->in, EV_READ | EV_WRITE, 0) == -1) {
		pconn_fail(c, "internal server", strerror(errno));
		return;
	}
	(void)side_now(c, &c->in);
}

/* Client bytes that came after the go header, before the relay. */
static void
go_early(struct pconn *c)
{
	uint8_t	*nb;
	ssize_t	 n;

	if (c->in.outlen >= EARLY_MAX) {
		/* enough: wait for the internal server */
		event_del(c->bc.ev);
		return;
	}
	if ((nb = realloc(c->in.out, EARLY_MAX)) == NULL) {
		pconn_fail(c, "internal server", "out of memory");
		return;
	}
	c->in.out = nb;
	n = read(c->bc.fd, nb + c->in.outlen, EARLY_MAX - c->in.outlen);
	/* a client that says something before its server answered */
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pconn_fail(c, "backchannel", n == 0 ? "closed" :
		    strerror(errno));
		return;
	}
	c->in.outlen += (size_t)n;
	c->early += (size_t)n;
}

/* The backchannel of a pooled connection is readable. */
static void
pool_read(struct pconn *c)
{
	ssize_t		 n;
	int		 st = c->state;

	if (st == S_CONNECT) {
		go_early(c);
		return;
	}
	n = read(c->bc.fd, rbuf, sizeof(rbuf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (st == S_ANSWER)
			pool_lost(c, "backchannel", n == 0 ? "closed before "
			    "its answer" : strerror(errno), 1);
		else if (st == S_IDLE)
			pool_lost(c, "idle backchannel", n == 0 ? "closed" :
			    strerror(errno), 0);
		else
			pconn_fail(c, "backchannel", n == 0 ? "closed" :
			    strerror(errno));
		return;
	}
	if (st == S_ANSWER)
		pool_answer(c, rbuf, (size_t)n);
	else
		go_parse(c, rbuf, (size_t)n);
}

static void
side_event(evutil_socket_t fd, short what, void *arg)
{
	struct pconn	*c = arg;
	struct side	*s = fd == c->bc.fd ? &c->bc : &c->in;

	if (s == &c->bc && c->state != S_DIAL) {
		pool_read(c);
		return;
	}
	if (s->ready)
		return;
	/* -1: c is gone (failed, or a pooled one replaced) */
	if (side_write(c, s) == -1 || !s->ready)
		return;
	side_done(c, s);
}

/* A side is connected, and its first bytes are out. */
static void
side_done(struct pconn *c, struct side *s)
{
	if (c->state == S_DIAL && c->pool != NULL) {
		pool_sent(c);
		return;
	}
	if (c->state == S_CONNECT) {
		go_connected(c);
		return;
	}
	/* a notified connection: this side waits for the other */
	event_del(s->ev);
	pconn_ready(c);
}

/*
 * Right after side_dial(): send a side's first bytes at once.  A peer
 * close by (the loopback, a LAN) has accepted the connection by the
 * time connect(2) returns, and the loop's round that would tell is
 * saved, with the epoll_ctl(2) calls of an event that is never added;
 * one that has not makes send(2) say EAGAIN, and the event does the
 * rest.  With nothing to send only the event can tell.  -1 when c is
 * gone; 0 after side_done() too, which may start the relay or fail it,
 * so c is touched afterwards only while the other side is not ready.
 */
static int
side_now(struct pconn *c, struct side *s)
{
	if (s->outlen > 0) {
		if (side_write(c, s) == -1)
			return (-1);
		if (s->ready) {
			side_done(c, s);
			return (0);
		}
	}
	/* after a redial, side_dial() added it: that does no harm */
	if (event_add(s->ev, NULL) == -1) {
		side_lost(c, s, strerror(errno));
		return (-1);
	}
	return (0);
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

/* A notified connection: dial the backchannel and the internal server. */
static void
connect_new(struct frame *f)
{
	struct mp_doc		 d;
	struct pconn		*c;
	struct pp_public	*pub;
	struct pp_domain	*dom;
	struct setup		*su;
	uint8_t			*pre, ph[PROXY_HDRMAX];
	int			 n;

	if (npconns >= conf->max_conns) {
		connector_failed("limit");
		log_limited(&fail_limit, "refused connection: limit of %u "
		    "reached", conf->max_conns);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->su = su = calloc(1, sizeof(*su))) == NULL ||
	    (c->bc.out = pre = calloc(1, BC_PREAMBLE_LEN)) == NULL) {
		if (c != NULL)
			free(c->su);
		free(c);
		log_warn("%s", __func__);
		return;
	}
	c->bc.fd = c->in.fd = -1;
	c->state = S_DIAL;
	TAILQ_INSERT_TAIL(&pconns, c, entry);
	npconns++;
	c->counted = 1;
	connector_stats.accepted++;
	c->started = proc_now();
	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "public", su->public, sizeof(su->public)) ==
	    -1 || mp_map_str(d.root, "domain", su->domain,
	    sizeof(su->domain)) == -1 ||
	    mp_map_bin(d.root, "token", pre + BC_MAGIC_LEN + 4,
	    EPS_TOKEN_LEN) == -1 ||
	    mp_map_str(d.root, "client", su->client, sizeof(su->client)) ==
	    -1 || mp_map_str(d.root, "server", su->server,
	    sizeof(su->server)) == -1) {
		log_warnx("%s: bad message from eps", __func__);
		mp_free(&d);
		pconn_free(c);
		return;
	}
	mp_free(&d);
	if ((pub = config_public(conf, su->public)) == NULL ||
	    (dom = config_domain(conf, su->domain)) == NULL) {
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
	conf_hold(c);
	if (dom->proxy != PROXY_NONE) {
		if ((n = proxy_header(dom->proxy, su->client, su->server,
		    ph, sizeof(ph))) == -1) {
			pconn_fail(c, "PROXY header", "cannot build");
			return;
		}
		if ((c->in.out = malloc((size_t)n)) == NULL) {
			pconn_fail(c, "PROXY header", "out of memory");
			return;
		}
		memcpy(c->in.out, ph, (size_t)n);
		c->in.outlen = (size_t)n;
	}
	if (pconn_timer(c) == -1) {
		pconn_fail(c, "timer", strerror(errno));
		return;
	}
	if (side_dial(c, &c->bc, EV_WRITE, 0) == -1) {
		pconn_fail(c, "backchannel", strerror(errno));
		return;
	}
	if (side_dial(c, &c->in, EV_WRITE, 0) == -1) {
		pconn_fail(c, "internal server", strerror(errno));
		return;
	}
	/* the internal server is not ready yet: c outlives the first */
	if (side_now(c, &c->bc) == 0)
		(void)side_now(c, &c->in);
}

/* A pool key from the eps process: the pool can (re)fill. */
static void
pool_key(struct frame *f)
{
	struct mp_doc	 d;
	struct ppool	*p;
	char		 name[RPC_NAMEMAX];
	uint8_t		 key[EPS_POOL_KEYLEN];

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "public", name, sizeof(name)) == -1 ||
	    mp_map_bin(d.root, "key", key, sizeof(key)) == -1) {
		log_warnx("%s: bad message from eps", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((p = ppool_find(name)) == NULL) {
		explicit_bzero(key, sizeof(key));
		return;
	}
	if (!p->haskey || timingsafe_bcmp(p->key, key, sizeof(key)) != 0) {
		memcpy(p->key, key, sizeof(p->key));
		p->haskey = 1;
		p->keygen++;
		/* a new key: what failed may work now */
		p->fails = 0;
		evtimer_del(p->retry);
	}
	explicit_bzero(key, sizeof(key));
	pool_fill(p);
}

/* Pools in line with the configuration: shares, publics gone or new. */
static void
pools_sync(void)
{
	struct pp_public	*pub;
	struct ppool		*p, *t;
	struct pconn		*c;
	unsigned int		 n, inst = (unsigned int)ps->instance;

	TAILQ_FOREACH_SAFE(p, &ppools, entry, t) {
		pub = config_public(conf, p->name);
		p->total = pub != NULL ? pub->pool : 0;
		n = (unsigned int)conf->prefork;
		p->target = p->total / n + (inst < p->total % n ? 1 : 0);
		while (p->nidle > p->target) {
			c = TAILQ_FIRST(&p->idle);
			pconn_free(c);
		}
		if (pub != NULL || p->nopen > 0)
			continue;
		TAILQ_REMOVE(&ppools, p, entry);
		event_free(p->retry);
		event_free(p->refill);
		explicit_bzero(p, sizeof(*p));
		free(p);
	}
	TAILQ_FOREACH(pub, &conf->publics, entry) {
		if (ppool_find(pub->name) != NULL)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (p->retry = evtimer_new(ps->base, pool_retry, p)) == NULL ||
		    (p->refill = evtimer_new(ps->base, pool_retry, p)) == NULL)
			fatal("%s", __func__);
		(void)strlcpy(p->name, pub->name, sizeof(p->name));
		TAILQ_INIT(&p->idle);
		TAILQ_INSERT_TAIL(&ppools, p, entry);
		n = (unsigned int)conf->prefork;
		p->total = pub->pool;
		p->target = p->total / n + (inst < p->total % n ? 1 : 0);
	}
	TAILQ_FOREACH(p, &ppools, entry)
		pool_fill(p);
}

int
connector_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct privproxyd_conf	*old = conf;
	struct ppool		*pp;

	if (nconf == NULL)
		return (-1);
	/* set-ups under way that hold the old one free it when done */
	conf = nconf;
	if (old != NULL && old->refs == 0)
		config_free(old);
	pools_sync();
	TAILQ_FOREACH(pp, &ppools, entry)
		if (pp->nopen == 0 && pp->target == 0)
			pp->ready = 0;
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
	case IMSG_POOL_KEY:
		if (from->id != PROC_EPS || conf == NULL)
			break;
		pool_key(f);
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
 * Operations: the numbers, the connections and the pools of this
 * connector.
 */

struct connector_stats	 connector_stats;

/* What failed, as the metrics label it. */
static const struct metric_reason failures[] = {	/* pconn_fail()'s what */
	{ "limit", "limit" },
	{ "backchannel", "backchannel" },
	{ "go header", "backchannel" },
	{ "internal server", "internal_server" },
	{ "configuration", "configuration" },
	{ "", "internal" },		/* the rest: ours */
};
/* a table longer than connector_stats.failed fails to compile */
typedef char failures_fit[nitems(failures) <= CONNECTOR_FAILURES ? 1 : -1];

void
connector_failed(const char *what)
{
	connector_stats.failed[metrics_reason(failures, nitems(failures),
	    what)]++;
}

void
connector_metrics(struct privsep *p, struct metrics *m)
{
	struct metric_label	 l;
	struct pconn		*c;
	struct ppool		*pp;
	uint64_t		 in = connector_stats.bytes_in;
	uint64_t		 out = connector_stats.bytes_out;
	unsigned int		 idle = 0;

	TAILQ_FOREACH(c, &pconns, entry)
		if (c->sp != NULL) {
			in += c->early + splice_bytes(c->sp, 0);
			out += splice_bytes(c->sp, 1);
		}
	TAILQ_FOREACH(pp, &ppools, entry)
		idle += pp->nidle;
	(void)metrics_declare(m, "privproxyd_connections_accepted_total",
	    METRIC_COUNTER, "Clients a connector took on: notified by a "
	    "public proxy, or sent over a pooled backchannel.");
	(void)metrics_add(m, "privproxyd_connections_accepted_total", NULL, 0,
	    (double)connector_stats.accepted);
	(void)metrics_declare(m, "privproxyd_connections_active",
	    METRIC_GAUGE, "Client connections being set up or relayed.");
	(void)metrics_add(m, "privproxyd_connections_active", NULL, 0,
	    npconns);
	(void)metrics_declare(m, "privproxyd_connections_refused_total",
	    METRIC_COUNTER, "Client connections refused or failed before "
	    "their relay, by reason.");
	(void)metrics_add_reasons(m, "privproxyd_connections_refused_total",
	    failures, nitems(failures), connector_stats.failed);
	(void)metrics_declare(m, "privproxyd_bytes_total", METRIC_COUNTER,
	    "Bytes relayed: in from the clients (their ClientHello "
	    "included), out to them.");
	l.name = "direction";
	l.value = "in";
	(void)metrics_add(m, "privproxyd_bytes_total", &l, 1, (double)in);
	l.value = "out";
	(void)metrics_add(m, "privproxyd_bytes_total", &l, 1, (double)out);
	(void)metrics_declare(m, "privproxyd_pool_size", METRIC_GAUGE,
	    "Pooled backchannels open and idle, to the public proxies.");
	(void)metrics_add(m, "privproxyd_pool_size", NULL, 0, idle);
	(void)metrics_declare(m, "privproxyd_pool_hits_total", METRIC_COUNTER,
	    "Clients that came over a pooled backchannel.");
	(void)metrics_add(m, "privproxyd_pool_hits_total", NULL, 0,
	    (double)connector_stats.pool_hits);
	(void)metrics_declare(m, "privproxyd_pool_misses_total",
	    METRIC_COUNTER, "Clients that came through a notification.");
	(void)metrics_add(m, "privproxyd_pool_misses_total", NULL, 0,
	    (double)(connector_stats.accepted - connector_stats.pool_hits));
	splice_metrics(m, "privproxyd");
}

static int
connector_connections(struct privsep *p, uint32_t ref)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct pconn		*c;
	time_t			 now = proc_now();

	proc_rows_init(&rows, p, ref);
	TAILQ_FOREACH(c, &pconns, entry) {
		if (!c->counted || c->su == NULL)
			continue;	/* a pooled one, no client yet */
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 7);
		mp_pack_kstr(pk, "client", c->su->client);
		mp_pack_kstr(pk, "name", c->su->domain);
		mp_pack_kstr(pk, "public", c->su->public);
		mp_pack_kstr(pk, "state", c->sp != NULL ? "relay" :
		    "connect");
		mp_pack_kuint(pk, "age", (uint64_t)(now - c->started));
		mp_pack_kuint(pk, "bytes_in", c->early + (c->sp != NULL ?
		    splice_bytes(c->sp, 0) : 0));
		mp_pack_kuint(pk, "bytes_out", c->sp != NULL ?
		    splice_bytes(c->sp, 1) : 0);
	}
	return (proc_rows_end(&rows));
}

static int
connector_pools(struct privsep *p, uint32_t ref)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct ppool		*pp;

	proc_rows_init(&rows, p, ref);
	TAILQ_FOREACH(pp, &ppools, entry) {
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 7);
		mp_pack_kstr(pk, "public", pp->name);
		mp_pack_kuint(pk, "connector", (uint64_t)p->instance);
		mp_pack_kuint(pk, "idle", pp->nidle);
		mp_pack_kuint(pk, "opening", pp->nopen);
		mp_pack_kuint(pk, "target", pp->target);
		mp_pack_kuint(pk, "pool", pp->total);
		mp_pack_kbool(pk, "key", pp->haskey);
	}
	return (proc_rows_end(&rows));
}

int
connector_control(struct privsep *p, uint32_t ref, const char *cmd, int argc,
    char **argv, char *why, size_t whylen)
{
	int	 rv;

	if (strcmp(cmd, "show connections") == 0)
		rv = connector_connections(p, ref);
	else if (strcmp(cmd, "show pools") == 0)
		rv = connector_pools(p, ref);
	else {
		(void)snprintf(why, whylen, "%s: not a connector command",
		    cmd);
		return (-1);
	}
	if (rv == -1)
		(void)strlcpy(why, "the parent did not take the list", whylen);
	return (rv);
}
