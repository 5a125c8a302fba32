/*
 * listener.c: the listener process of proxyd (one per prefork).
 *
 * It owns the public and backchannel sockets of its instance, every
 * client connection accepted on them, its share of the pooled
 * backchannels and the token table of its clients that wait for their
 * private proxy (token.c).  A client goes through these states:
 *
 *	PROXY	on a public address that takes the PROXY protocol, from
 *		one of its trusted networks: reading the header, under
 *		the handshake timeout (which goes on running for HELLO)
 *	HELLO	reading the ClientHello, under the handshake timeout
 *	WAIT	no pooled backchannel: a token was issued here and the
 *		eps process calls the private operator; waiting for the
 *		backchannel, under the token timeout
 *	SEND	writing the bytes read so far (after the go header, on a
 *		pooled backchannel) to the backchannel
 *	RELAY	spliced to the backchannel until both sides are done
 *
 * The fast path asks no other process anything.  The matcher pushes its
 * route table (name or pattern -> operator) and the operators' pool keys
 * to every listener (IMSG_ROUTES); the SNI name is looked up here, and
 * a client whose operator has an idle pooled backchannel in this
 * listener is joined to it at once: go header and ClientHello in one
 * write, then the relay.  A name without a route is refused here.  A
 * client whose operator has no idle pooled backchannel here gets a
 * token from this listener's table, within its share of "max tokens"
 * (the limit divided by prefork, as for the operator's), and the
 * incoming call goes straight to the eps process (IMSG_INCOMING), which
 * says so only if it fails (IMSG_INCOMING_FAIL).  The matcher is asked
 * nothing on either path.
 *
 * The PROXY protocol (common/proxyproto.c): a public socket finds the
 * networks it trusts in the configuration by its own address, again at
 * each reload.  A client from one of them must start with a v1 or v2
 * header; its bytes are read with the ClientHello's first read, and the
 * bytes after it are the ClientHello.  The header's source replaces the
 * TCP peer and its destination the address connected to, for everything
 * after: the go header, the notification, the control
 * socket, the logs.  A LOCAL or UNKNOWN header keeps the connection's
 * own addresses.  A trusted client without a valid header is refused
 * ("PROXY header"); a client from anywhere else is an ordinary one,
 * whose PROXY header is no ClientHello.  The parser needs a heap copy
 * only while a header is cut short.
 *
 * A backchannel connection sends a preamble (common/eps.h).  A token
 * preamble whose token belongs to a client of this listener is joined
 * here.  One whose token names another listener (its byte TOKEN_OWNER)
 * is passed to that listener (IMSG_BC_HANDOFF), which alone can tell;
 * any other is refused here, by what became of the token if this
 * table still remembers it.  Tokens are found by their first eight
 * bytes and then compared whole in constant time.  A pool
 * preamble carries an operator's pool key, compared in constant time
 * with each operator's current key and, for PROXYD_POOL_GRACE seconds
 * after a new one came, its previous one.  The backchannel then belongs
 * to that operator and only ever carries a client of a name the route
 * table gives to that operator.
 *
 * Pooled backchannels are spread over the listeners: each keeps up to
 * its share of the pool size the private proxy asked for (the preamble
 * says it) and passes one more to the next listener (IMSG_POOL_PASS),
 * which does the same; the last one round keeps it while the operator
 * has fewer than "max pool" divided by prefork here, else it answers
 * BC_POOL_FULL.  An idle pooled backchannel that becomes readable was
 * closed by its private proxy (or broke the protocol) and is closed.
 *
 * Limits, each per listener.  Clients: "max connections" in all, and of
 * those from one source (net_source_key(): an IPv4 address or an IPv6
 * /64) "max source handshakes" still in their handshake, that is not
 * past a whole ClientHello, and "max source connections" in all.  A new
 * client whose source holds its handshakes takes the place of that
 * source's oldest handshake; one whose source holds its connections, or
 * that finds the listener full, takes the place of the oldest handshake
 * of its source, or of the listener; it is refused only when there is
 * none.  The handshakes are kept in age order, in all and per source,
 * and the sources in a tree, each freed with its last connection: a few
 * pointers and a lookup per accept.  A real client's ClientHello comes
 * with its connection (TCP_DEFER_ACCEPT below), so it is in its
 * handshake for microseconds and never the oldest.  Backchannels have a
 * budget of their own: PROXYD_MAX_PENDING waiting for their preamble,
 * PROXYD_SRC_PENDING of them from one source, the oldest (the source's
 * own, or the listener's) making room for a new one; a private proxy
 * sends its preamble with its connection and never waits there.  These
 * and PROXYD_MAX_POOLED idle pooled backchannels fit in the descriptors
 * proc_max_relays() keeps apart from the clients' (checked below).
 * Evictions and refusals are counted and logged, rate limited.
 *
 * A listening socket whose accept runs out of descriptors or memory
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses alone, for 100 ms doubling
 * up to 1 s while it goes on failing, and from 100 ms again once it has
 * accepted; the others, the backchannel port for clients already
 * waiting, go on.  A relay needs no new descriptor: without a pipe it
 * goes on with read/write (splice.c).
 *
 * System calls on the fast path: the listening sockets carry
 * TCP_DEFER_ACCEPT, TCP_NODELAY and SO_KEEPALIVE, which accepted sockets
 * inherit, so a client is accepted with its ClientHello already there
 * and read at once, without waiting for an event; the address it
 * connected to is the listening socket's, asked once, except on a
 * wildcard address.  The relay's events are added before the set-up's
 * events on the same descriptors go, so libevent changes nothing in
 * epoll there.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "compat.h"
#include "clienthello.h"
#include "log.h"
#include "proxyd.h"
#include "proxyproto.h"
#include "splice.h"
#include "token.h"

#define HELLO_BUF0	2048	/* first heap buffer for a ClientHello */
#define ACCEPT_BATCH	1	/* accepts per event: epoll says if more */
#define DEFER_ACCEPT	1	/* s the kernel waits for a first byte */
#define ADMIT_SOURCE	0x1	/* conn_admit(): the source's limits */
#define ADMIT_TOTAL	0x2	/* ... the listener's */
#define PAUSE_MIN_MS	100	/* a socket out of descriptors pauses, */
#define PAUSE_MAX_MS	1000	/* doubling up to this while it fails */

/* channels, listening sockets, the rest: room in the reserve */
#if PROXYD_MAX_PENDING + PROXYD_MAX_POOLED + 2 * PROC_INSTMAX + \
    4 * PROXYD_MAXLISTEN > PROC_FDS_RESERVE
#error "pending and pooled backchannels do not fit in PROC_FDS_RESERVE"
#endif

enum conn_state {
	C_PROXY,
	C_HELLO,
	C_WAIT,
	C_SEND,
	C_RELAY,
};

union sockaddr_any {
	struct sockaddr		 sa;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
};

struct lsock {
	TAILQ_ENTRY(lsock)	 entry;
	int			 fd;
	int			 backchannel;
	int			 wildcard;	/* each socket has its own */
	union sockaddr_any	 addr;
	struct event		*ev;
	struct event		*pause;		/* out of descriptors */
	unsigned int		 pause_ms;	/* the last pause, 0 if none */
	int			 paused;
	/* networks whose clients send a PROXY header first */
	struct pp_net		 trust[PROXYD_MAXTRUST];
	size_t			 ntrust;
};

/* What one source holds in this listener. */
struct lsource {
	RB_ENTRY(lsource)	 node;
	TAILQ_HEAD(lsource_hs, conn) hs;	/* in their handshake, by age */
	TAILQ_HEAD(, bconn)	 pending;	/* before their preamble */
	unsigned int		 nhs;
	unsigned int		 nconns;
	unsigned int		 npending;
	char			 key[NET_SOURCELEN];
};

struct conn {
	RB_ENTRY(conn)		 idnode;
	uint32_t		 id;
	enum conn_state		 state;
	int			 fd;
	int			 bcfd;
	struct event		*ev;		/* client in, then bc out */
	struct event		*bcev;		/* the bc's set-up event */
	struct event		*timer;
	/*
	 * Bytes read from the client, from buf + BC_GO_MAX on, so that a go
	 * header fits in front; bytes from off to len go to the backchannel.
	 * NULL while the first read is in the process-wide buffer.
	 */
	uint8_t			*buf;
	size_t			 off;
	size_t			 len;
	size_t			 cap;
	struct token		*tok;		/* WAIT: issued for us */
	struct lpool		*tokpool;	/* its operator's count */
	struct splice		*sp;
	const struct lsock	*ls;
	struct lsource		*src;
	TAILQ_ENTRY(conn)	 hsentry;	/* handshakes, all */
	TAILQ_ENTRY(conn)	 srcentry;	/* handshakes, its source's */
	int			 inhs;		/* in its handshake */
	char			*name;		/* until the relay starts */
	struct ch_parser	*hello;		/* a hello still coming */
	struct pp_parser	*pp;		/* a PROXY header coming */
	union sockaddr_any	 peer;		/* the PROXY header's, if one */
	union sockaddr_any	 local;		/* wildcard sockets, or the
						   PROXY header's */
	int			 proxied;	/* a header gave both */
	time_t			 started;
	size_t			 hellolen;	/* the client's, before relay */
};

struct bconn {
	TAILQ_ENTRY(bconn)	 entry;
	TAILQ_ENTRY(bconn)	 srcentry;
	struct lsource		*src;
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	uint8_t			 pre[BC_PREAMBLE_LEN];
	size_t			 have;
	union sockaddr_any	 peer;
};

/* An operator: its pool key and its idle pooled backchannels here. */
struct lpool {
	RB_ENTRY(lpool)		 node;
	char			 name[RPC_NAMEMAX];
	uint8_t			 key[EPS_POOL_KEYLEN];
	uint8_t			 oldkey[EPS_POOL_KEYLEN];
	int			 haskey;
	time_t			 old_until;	/* oldkey is good until */
	uint32_t		 keygen;	/* table that gave the key */
	unsigned int		 want;		/* pool size asked for */
	unsigned int		 nidle;
	unsigned int		 nroutes;
	unsigned int		 ntokens;	/* the token table counts
						 * its issued ones here */
	TAILQ_HEAD(, pbc)	 idle;
};

/* An idle pooled backchannel. */
struct pbc {
	TAILQ_ENTRY(pbc)	 entry;
	struct lpool		*pool;
	int			 fd;
	struct event		*ev;
};

/* A name or pattern and the operator that announced it. */
struct lroute {
	RB_ENTRY(lroute)	 node;
	const char		*name;		/* follows the struct */
	struct lpool		*pool;
	uint32_t		 gen;
};

RB_HEAD(conn_ids, conn);
RB_HEAD(lpools, lpool);
RB_HEAD(lroutes, lroute);
RB_HEAD(lsources, lsource);
TAILQ_HEAD(bconns, bconn);
TAILQ_HEAD(lsocks, lsock);
TAILQ_HEAD(hsconns, conn);

static int	conn_idcmp(struct conn *, struct conn *);
static int	lpool_cmp(struct lpool *, struct lpool *);
static int	lroute_cmp(struct lroute *, struct lroute *);
static int	lsource_cmp(struct lsource *, struct lsource *);
RB_GENERATE_STATIC(conn_ids, conn, idnode, conn_idcmp)
RB_GENERATE_STATIC(lpools, lpool, node, lpool_cmp)
RB_GENERATE_STATIC(lroutes, lroute, node, lroute_cmp)
RB_GENERATE_STATIC(lsources, lsource, node, lsource_cmp)

static struct privsep		*ps;
static struct proxyd_conf	*conf;
static struct conn_ids		 conns = RB_INITIALIZER(&conns);
static struct token_table	 ltokens;	/* waiting clients' tokens */
static struct event		*sweep_ev;
static struct lpools		 lpools = RB_INITIALIZER(&lpools);
static struct lroutes		 lroutes = RB_INITIALIZER(&lroutes);
static struct bconns		 bconns = TAILQ_HEAD_INITIALIZER(bconns);
static struct lsocks		 lsocks = TAILQ_HEAD_INITIALIZER(lsocks);
static struct lsources		 lsources = RB_INITIALIZER(&lsources);
static struct hsconns		 handshakes = TAILQ_HEAD_INITIALIZER(handshakes);
static uint32_t			 nextid;
static unsigned int		 nconns;
static unsigned int		 nhandshakes;	/* of those */
static unsigned int		 nsources;
static unsigned int		 nbconns;	/* waiting for a preamble */
static unsigned int		 npooled;	/* idle pooled backchannels */
static unsigned int		 nlroutes;
static uint32_t			 routes_gen;	/* of the last full table */
static int			 routed;	/* has a table, or waited */
static struct event		*routed_ev;
static struct log_limit		 refused_limit = LOG_LIMIT_INITIALIZER(10);
/* the first bytes of a client, with room for a go header in front */
static uint8_t			 rbuf[BC_GO_MAX + CH_MAXLEN];

static void	conn_close(struct conn *, int alert, const char *why);
static int	conn_admit(const char *, const union sockaddr_any *, int);
static void	conn_read(evutil_socket_t, short, void *);
static void	conn_timeout(evutil_socket_t, short, void *);
static void	conn_join(struct conn *, int bcfd, struct event *bcev);
static void	bconn_free(struct bconn *, int closefd);
static void	bconn_drop(struct bconn *, const struct lsource *);
static void	pool_keep(struct lpool *, int fd, unsigned int want,
		    unsigned int hops, struct event *ev);
static void	lpool_trim(struct lpool *);
static void	token_tick(evutil_socket_t, short, void *);

static int
conn_idcmp(struct conn *a, struct conn *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

static int
lpool_cmp(struct lpool *a, struct lpool *b)
{
	return (strcmp(a->name, b->name));
}

static int
lroute_cmp(struct lroute *a, struct lroute *b)
{
	return (strcmp(a->name, b->name));
}

static int
lsource_cmp(struct lsource *a, struct lsource *b)
{
	return (strcmp(a->key, b->key));
}

/* The client waiting here for the backchannel that presents tok. */
static struct conn *
token_find(const uint8_t *tok)
{
	struct token	*t;
	struct conn	 key, *c;

	if ((t = token_lookup(&ltokens, tok)) == NULL ||
	    t->state != TOKEN_ISSUED)
		return (NULL);
	key.id = t->connid;
	c = RB_FIND(conn_ids, &conns, &key);
	return (c != NULL && c->tok == t ? c : NULL);
}

static const char *
peerstr(const union sockaddr_any *a, char *buf)
{
	return (net_ntop(&a->sa, buf, NET_ADDRSTRLEN));
}

static const char *
conn_server(const struct conn *c, char *buf)
{
	return (peerstr(c->ls->wildcard || c->proxied ? &c->local :
	    &c->ls->addr, buf));
}

/* Arm the connection's timer, made when first needed. */
static int
conn_timer(struct conn *c, unsigned int sec)
{
	struct timeval	 tv = { sec, 0 };

	if (c->timer == NULL &&
	    (c->timer = evtimer_new(ps->base, conn_timeout, c)) == NULL)
		return (-1);
	return (evtimer_add(c->timer, &tv));
}

static void
send_alert(int fd, int alert)
{
	uint8_t	 rec[TLS_ALERT_LEN];

	if (alert <= 0)
		return;
	ch_alert(rec, (uint8_t)alert);
	(void)send(fd, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Sources: what each address (IPv4) or /64 (IPv6) holds here.
 */

static struct lsource *
source_find(const char *key)
{
	struct lsource	 k;

	(void)strlcpy(k.key, key, sizeof(k.key));
	return (RB_FIND(lsources, &lsources, &k));
}

static struct lsource *
source_get(const char *key)
{
	struct lsource	*src;

	if ((src = source_find(key)) != NULL)
		return (src);
	if ((src = calloc(1, sizeof(*src))) == NULL)
		return (NULL);
	(void)strlcpy(src->key, key, sizeof(src->key));
	TAILQ_INIT(&src->hs);
	TAILQ_INIT(&src->pending);
	RB_INSERT(lsources, &lsources, src);
	nsources++;
	return (src);
}

/* Free a source that holds nothing any more. */
static void
source_put(struct lsource *src)
{
	if (src == NULL || src->nconns > 0 || src->npending > 0)
		return;
	RB_REMOVE(lsources, &lsources, src);
	nsources--;
	free(src);
}

/* A client's handshake is over: it holds no handshake slot any more. */
static void
conn_hs_end(struct conn *c)
{
	if (!c->inhs)
		return;
	c->inhs = 0;
	TAILQ_REMOVE(&handshakes, c, hsentry);
	nhandshakes--;
	TAILQ_REMOVE(&c->src->hs, c, srcentry);
	c->src->nhs--;
}

/* The client's token is done with: used, or its client went away. */
static void
conn_token_end(struct conn *c, enum token_state st)
{
	struct lpool	*p = c->tokpool;

	if (c->tok == NULL)
		return;
	/* the sweep may have ended it already, in a late round */
	if (c->tok->state == TOKEN_ISSUED)
		token_end(&ltokens, c->tok, st);
	c->tok = NULL;
	c->tokpool = NULL;
	lpool_trim(p);
}

static void
conn_free(struct conn *c)
{
	conn_token_end(c, TOKEN_EXPIRED);
	RB_REMOVE(conn_ids, &conns, c);
	conn_hs_end(c);
	if (c->src != NULL) {
		c->src->nconns--;
		source_put(c->src);
	}
	if (c->sp != NULL)
		splice_free(c->sp);		/* closes fd and bcfd */
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->bcev != NULL)
		event_free(c->bcev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->sp == NULL) {
		if (c->fd != -1)
			close(c->fd);
		if (c->bcfd != -1)
			close(c->bcfd);
	}
	free(c->buf);
	free(c->name);
	free(c->hello);
	free(c->pp);
	free(c);
	nconns--;
}

/* Refuse a client: log the reason (rate limited), alert, close. */
static void
conn_close(struct conn *c, int alert, const char *why)
{
	char	 a[NET_ADDRSTRLEN];

	if (why != NULL)
		listener_refused(why);
	if (why != NULL)
		log_limited(&refused_limit, "refused client %s: %s",
		    peerstr(&c->peer, a), why);
	if (c->fd != -1 && c->sp == NULL)
		send_alert(c->fd, alert);
	conn_free(c);
}

static void
conn_splice_done(struct splice *sp, enum splice_end end, int error,
    void *arg)
{
	struct conn	*c = arg;
	char		 a[NET_ADDRSTRLEN];

	if (log_getverbose() > 0) {
		if (end == SPLICE_ERROR)
			log_debug("client %s: relay error: %s",
			    peerstr(&c->peer, a), strerror(error));
		else
			log_debug("client %s: %s, %llu bytes in, %llu out",
			    peerstr(&c->peer, a), end == SPLICE_IDLE ?
			    "idle timeout" : "done",
			    (unsigned long long)(c->hellolen +
			    splice_bytes(sp, 0)),
			    (unsigned long long)splice_bytes(sp, 1));
	}
	listener_stats.bytes_in += c->hellolen + splice_bytes(sp, 0);
	listener_stats.bytes_out += splice_bytes(sp, 1);
	conn_free(c);
}

/*
 * Both sockets are ready: relay.  The relay's events go in before the
 * set-up's on the same descriptors go out, so epoll is left as it is.
 */
static void
conn_start_relay(struct conn *c)
{
	struct timeval	 idle = { conf->to_idle, 0 };
	char		 a[NET_ADDRSTRLEN];

	c->sp = splice_start(ps->base, c->fd, c->bcfd,
	    conf->to_idle ? &idle : NULL, 0, conn_splice_done, c);
	if (c->sp == NULL) {
		log_limited(&refused_limit, "client %s: cannot relay: %s",
		    peerstr(&c->peer, a), strerror(errno));
		conn_free(c);
		return;
	}
	c->state = C_RELAY;
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->bcev != NULL) {
		event_free(c->bcev);
		c->bcev = NULL;
	}
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	free(c->buf);
	c->buf = NULL;
}

/* Keep what is still to be sent in the connection's own buffer. */
static int
conn_keep(struct conn *c, const uint8_t *p, size_t n)
{
	uint8_t	*nb;

	if (c->buf != NULL && p >= c->buf && p < c->buf + c->cap) {
		c->off = (size_t)(p - c->buf);
		return (0);
	}
	if ((nb = malloc(BC_GO_MAX + n)) == NULL)
		return (-1);
	memcpy(nb + BC_GO_MAX, p, n);
	free(c->buf);
	c->buf = nb;
	c->cap = BC_GO_MAX + n;
	c->off = BC_GO_MAX;
	c->len = BC_GO_MAX + n;
	return (0);
}

/* Write what is left to the backchannel, then relay. */
static void
conn_send(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	ssize_t		 n;
	char		 a[NET_ADDRSTRLEN];

	while (c->off < c->len) {
		n = send(c->bcfd, c->buf + c->off, c->len - c->off,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				if (c->ev == NULL && (c->ev = event_new(
				    ps->base, c->bcfd, EV_WRITE | EV_PERSIST,
				    conn_send, c)) == NULL)
					break;
				if (event_add(c->ev, NULL) == -1)
					break;
				return;
			}
			log_debug("client %s: backchannel write: %s",
			    peerstr(&c->peer, a), strerror(errno));
			conn_close(c, TLS_ALERT_INTERNAL_ERROR, NULL);
			return;
		}
		c->off += (size_t)n;
	}
	if (c->off < c->len) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return;
	}
	conn_start_relay(c);
}

/*
 * The first write to a backchannel: p holds n bytes to send, with room
 * for a go header in front when hdr.  -1 if the backchannel is dead (the
 * caller may try another), else 0: sent, or the rest is kept and sent
 * later, or the client was closed.
 */
static int
conn_first_write(struct conn *c, uint8_t *p, size_t n, int bcfd,
    struct event *bcev)
{
	ssize_t	 w;

	w = send(bcfd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == -1 && errno != EAGAIN && errno != EINTR)
		return (-1);
	if (w == -1)
		w = 0;
	c->bcfd = bcfd;
	c->bcev = bcev;
	if ((size_t)w == n) {
		conn_start_relay(c);
		return (0);
	}
	c->state = C_SEND;
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (conn_keep(c, p + w, n - (size_t)w) == -1 ||
	    conn_timer(c, conf->to_preamble) == -1) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return (0);
	}
	conn_send(bcfd, EV_WRITE, c);
	return (0);
}

static void
pbc_free(struct pbc *b, int closefd)
{
	TAILQ_REMOVE(&b->pool->idle, b, entry);
	b->pool->nidle--;
	npooled--;
	if (b->ev != NULL)
		event_free(b->ev);
	if (closefd)
		close(b->fd);
	free(b);
}

/* The go header in front of the client's bytes at p. */
static size_t
go_header(struct conn *c, uint8_t *p)
{
	char	 cl[NET_ADDRSTRLEN], sv[NET_ADDRSTRLEN];
	size_t	 nl, cll, svl, hl;
	uint8_t	*h;

	peerstr(&c->peer, cl);
	conn_server(c, sv);
	nl = strlen(c->name);
	cll = strlen(cl);
	svl = strlen(sv);
	hl = BC_GO_HDRLEN + nl + cll + svl;
	h = p - hl;
	memcpy(h, BC_GO_MAGIC, 4);
	h[4] = BC_VERSION;
	h[5] = (uint8_t)nl;
	h[6] = (uint8_t)cll;
	h[7] = (uint8_t)svl;
	memcpy(h + BC_GO_HDRLEN, c->name, nl);
	memcpy(h + BC_GO_HDRLEN + nl, cl, cll);
	memcpy(h + BC_GO_HDRLEN + nl + cll, sv, svl);
	return (hl);
}

static struct lroute *
route_get(const char *name)
{
	struct lroute	 key;

	key.name = name;
	return (RB_FIND(lroutes, &lroutes, &key));
}

/* The exact name, then "*.suffix" from the most specific on. */
static struct lroute *
route_find(const char *name)
{
	struct lroute	*r;
	char		 pat[DNAME_MAX + 3], cur[DNAME_MAX + 3];

	if ((r = route_get(name)) != NULL)
		return (r);
	(void)strlcpy(cur, name, sizeof(cur));
	while (dname_parent(cur, pat, sizeof(pat)) == 0) {
		if ((r = route_get(pat)) != NULL)
			return (r);
		(void)strlcpy(cur, pat, sizeof(cur));
	}
	return (NULL);
}

/* This listener's share of a limit of all of them. */
static unsigned int
listener_share(unsigned int max)
{
	return ((max + (unsigned int)conf->prefork - 1) /
	    (unsigned int)conf->prefork);
}

/*
 * No pooled backchannel: a token, and the incoming call to the private
 * operator p through the eps process.
 */
static void
conn_route(struct conn *c, struct lpool *p)
{
	struct proxyd_operator	*op;
	struct token		*t;
	struct mp_out		 m;
	char			 cl[NET_ADDRSTRLEN], sv[NET_ADDRSTRLEN];
	char			 why[RPC_NAMEMAX + 96];
	int			 r;

	if ((op = config_operator(conf, p->name)) == NULL) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR,
		    "operator unavailable");
		return;
	}
	/* the client times out first; the table's lifetime is a net */
	if ((t = token_issue_op(&ltokens, listener_share(conf->max_tokens),
	    &p->ntokens, listener_share(op->max_tokens), conf->to_token + 5,
	    ps->instance, c->id, c->name)) == NULL) {
		(void)snprintf(why, sizeof(why), "too many connections "
		    "waiting for a backchannel of %s%s", p->name,
		    p->ntokens >= listener_share(op->max_tokens) ? "" :
		    " (all operators)");
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, why);
		return;
	}
	c->tok = t;
	c->tokpool = p;
	c->state = C_WAIT;
	if (c->ev != NULL)
		event_del(c->ev);
	if (conn_timer(c, conf->to_token) == -1) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return;
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 5);
	mp_pack_kstr(&m.pk, "operator", p->name);
	mp_pack_kstr(&m.pk, "domain", c->name);
	mp_pack_kbin(&m.pk, "token", t->tok, EPS_TOKEN_LEN);
	mp_pack_kstr(&m.pk, "client", peerstr(&c->peer, cl));
	mp_pack_kstr(&m.pk, "server", conn_server(c, sv));
	r = proc_send_mp(ps, PROC_EPS, 0, IMSG_INCOMING, 0, -1, &m);
	mp_out_free(&m);
	if (r == -1) {
		conn_token_end(c, TOKEN_FAILED);
		conn_close(c, TLS_ALERT_INTERNAL_ERROR,
		    "eps process unavailable");
	}
}

/*
 * A whole ClientHello for name: p holds the n bytes read so far, with
 * room for a go header in front.  A pooled backchannel of the name's
 * operator if there is one, else the notification path.
 */
static void
conn_routed(struct conn *c, uint8_t *p, size_t n)
{
	struct lroute	*r;
	struct pbc	*b;
	struct event	*bcev;
	char		 why[DNAME_MAX + 32];
	size_t		 hl;
	int		 fd;

	c->hellolen = n;
	if ((r = route_find(c->name)) == NULL) {
		(void)snprintf(why, sizeof(why), "no announcement for %s",
		    c->name);
		conn_close(c, TLS_ALERT_UNRECOGNIZED_NAME, why);
		return;
	}
	while ((b = TAILQ_FIRST(&r->pool->idle)) != NULL) {
		hl = go_header(c, p);
		fd = b->fd;
		bcev = b->ev;
		b->ev = NULL;
		pbc_free(b, 0);
		if (log_getverbose() > 0)
			log_debug("client %s: %s on a pooled backchannel of %s",
			    peerstr(&c->peer, why), c->name, r->pool->name);
		if (conn_first_write(c, p - hl, hl + n, fd, bcev) == 0) {
			listener_stats.pool_hits++;
			return;
		}
		/* it died idle, unnoticed so far: the next one */
		log_debug("pooled backchannel of %s: %s", r->pool->name,
		    strerror(errno));
		event_free(bcev);
		close(fd);
	}
	if (conn_keep(c, p, n) == -1) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (r->pool->want > 0)
		listener_stats.pool_misses++;
	if (log_getverbose() > 0)
		log_debug("client %s: %s: no pooled backchannel of %s here, "
		    "notifying", peerstr(&c->peer, why), c->name,
		    r->pool->name);
	conn_route(c, r->pool);
}

/*
 * A PROXY header named the client: charge it to its own source from now
 * on, under that source's limits, instead of to the balancer's.  0, or
 * -1 when it was refused (and closed).
 */
static int
conn_resource(struct conn *c)
{
	struct lsource	*src;
	struct conn	*o;
	char		 key[NET_SOURCELEN];

	if (net_source_key(&c->peer.sa, key, sizeof(key)) == -1 ||
	    strcmp(key, c->src->key) == 0)
		return (0);
	if (conn_admit(key, &c->peer, ADMIT_SOURCE) == -1) {
		conn_close(c, 0, NULL);
		return (-1);
	}
	if ((src = source_get(key)) == NULL) {
		conn_close(c, 0, "out of memory");
		return (-1);
	}
	if (c->inhs) {
		/* by accept order (id) among the source's, from the newest */
		TAILQ_REMOVE(&c->src->hs, c, srcentry);
		c->src->nhs--;
		TAILQ_FOREACH_REVERSE(o, &src->hs, lsource_hs, srcentry)
			if (o->id < c->id)
				break;
		if (o == NULL)
			TAILQ_INSERT_HEAD(&src->hs, c, srcentry);
		else
			TAILQ_INSERT_AFTER(&src->hs, o, c, srcentry);
		src->nhs++;
	}
	c->src->nconns--;
	source_put(c->src);
	c->src = src;
	src->nconns++;
	return (0);
}

/*
 * The PROXY header, from the n bytes at p: the number of them it took,
 * or -1 if the client was refused.  The header's addresses are the
 * client's from now on.
 */
static ssize_t
conn_proxy(struct conn *c, const uint8_t *p, size_t n)
{
	static struct pp_parser	 first;		/* a header in one read */
	struct pp_parser	*pp;
	struct pp_info		 info;
	size_t			 used;
	char			 why[96];

	if ((pp = c->pp) == NULL) {
		pp = &first;
		pp_init(pp);
	}
	switch (pp_feed(pp, p, n, &used, &info)) {
	case PP_MORE:
		if (c->pp == NULL) {
			if ((c->pp = malloc(sizeof(*c->pp))) == NULL) {
				conn_close(c, 0, "out of memory");
				return (-1);
			}
			memcpy(c->pp, pp, sizeof(*c->pp));
		}
		return ((ssize_t)used);
	case PP_ERR:
		(void)snprintf(why, sizeof(why), "PROXY header: %s", pp->why);
		conn_close(c, 0, why);
		return (-1);
	case PP_OK:
		break;
	}
	free(c->pp);
	c->pp = NULL;
	if (!info.local) {
		memcpy(&c->peer, &info.src, sizeof(c->peer));
		memcpy(&c->local, &info.dst, sizeof(c->local));
		c->proxied = 1;
		if (conn_resource(c) == -1)
			return (-1);
	}
	c->state = C_HELLO;
	return ((ssize_t)used);
}

/*
 * Read the ClientHello: into rbuf first, into the heap if it is long;
 * a PROXY header in front of it first where one is expected.
 */
static void
conn_hello(struct conn *c)
{
	static struct ch_parser	 first;		/* a hello in one read */
	struct ch_parser	*hp;
	struct ch_info		 info;
	enum ch_status		 st;
	uint8_t			*p, *nb;
	size_t			 have, ncap;
	ssize_t			 n, u;
	char			 why[192], a[NET_ADDRSTRLEN], vname[128];

	if (c->buf == NULL) {
		p = rbuf + BC_GO_MAX;
		n = read(c->fd, p, CH_MAXLEN);
		have = 0;
		hp = &first;
		ch_init(hp, CH_MAXLEN);
	} else {
		hp = c->hello;
		if (c->len == c->cap) {
			ncap = MINIMUM(BC_GO_MAX + (c->cap - BC_GO_MAX) * 2,
			    BC_GO_MAX + CH_MAXLEN);
			if (ncap <= c->cap) {
				conn_close(c, TLS_ALERT_HANDSHAKE_FAILURE,
				    "ClientHello too long");
				return;
			}
			if ((nb = realloc(c->buf, ncap)) == NULL) {
				conn_close(c, TLS_ALERT_INTERNAL_ERROR,
				    "out of memory");
				return;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		p = c->buf + BC_GO_MAX;
		have = c->len - BC_GO_MAX;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			goto wait;
		log_debug("client %s: read: %s", peerstr(&c->peer, a),
		    strerror(errno));
		conn_free(c);
		return;
	}
	if (n == 0) {
		log_debug("client %s: closed before its ClientHello",
		    peerstr(&c->peer, a));
		conn_free(c);
		return;
	}
	/* still nothing in the heap: the hello starts after the header */
	if (c->state == C_PROXY) {
		if ((u = conn_proxy(c, p, (size_t)n)) == -1)
			return;
		p += u;
		n -= u;
		if (c->state == C_PROXY || n == 0)
			goto wait;
	}
	/* only the new bytes: the parser picks up where it stopped */
	st = ch_feed(hp, p + have, (size_t)n, &info);
	have += (size_t)n;
	if (c->buf != NULL)
		c->len += (size_t)n;
	switch (st) {
	case CH_MORE:
		if (c->buf == NULL) {
			ncap = BC_GO_MAX + MINIMUM(MAXIMUM(HELLO_BUF0,
			    2 * have), CH_MAXLEN);
			if ((c->buf = malloc(ncap)) == NULL ||
			    (c->hello = malloc(sizeof(*c->hello))) == NULL) {
				conn_close(c, TLS_ALERT_INTERNAL_ERROR,
				    "out of memory");
				return;
			}
			memcpy(c->hello, hp, sizeof(*c->hello));
			memcpy(c->buf + BC_GO_MAX, p, have);
			c->cap = ncap;
			c->len = BC_GO_MAX + have;
		}
		goto wait;
	case CH_OK:
		conn_hs_end(c);
		free(c->hello);
		c->hello = NULL;
		if ((c->name = strdup(info.sni)) == NULL) {
			conn_close(c, TLS_ALERT_INTERNAL_ERROR,
			    "out of memory");
			return;
		}
		conn_routed(c, p, have);
		return;
	case CH_ERR_NOTTLS:
		conn_close(c, 0, "not a TLS ClientHello");
		return;
	case CH_ERR_NOSNI:
		conn_close(c, TLS_ALERT_UNRECOGNIZED_NAME, ch_strerror(st));
		return;
	case CH_ERR_BADNAME:
		/* the name as sent, escaped: a client chose its bytes */
		(void)snprintf(why, sizeof(why), "%s \"%s\"", ch_strerror(st),
		    log_vis(info.badname, vname, sizeof(vname)));
		conn_close(c, TLS_ALERT_UNRECOGNIZED_NAME, why);
		return;
	case CH_ERR_VERSION:
		conn_close(c, TLS_ALERT_PROTOCOL_VERSION, ch_strerror(st));
		return;
	case CH_ERR_TOOBIG:
		conn_close(c, TLS_ALERT_HANDSHAKE_FAILURE, ch_strerror(st));
		return;
	default:
		(void)snprintf(why, sizeof(why), "bad ClientHello: %s",
		    ch_strerror(st));
		conn_close(c, TLS_ALERT_DECODE_ERROR, why);
		return;
	}

 wait:
	if (c->ev == NULL) {
		if ((c->ev = event_new(ps->base, c->fd, EV_READ | EV_PERSIST,
		    conn_read, c)) == NULL || event_add(c->ev, NULL) == -1 ||
		    (c->timer == NULL && conn_timer(c, conf->to_handshake) ==
		    -1)) {
			conn_close(c, TLS_ALERT_INTERNAL_ERROR,
			    "out of memory");
			return;
		}
	}
}

static void
conn_read(evutil_socket_t fd, short ev, void *arg)
{
	conn_hello(arg);
}

static void
conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	char		 why[DNAME_MAX + 64];

	switch (c->state) {
	case C_PROXY:
		conn_close(c, 0, "PROXY header not sent in time");
		break;
	case C_HELLO:
		conn_close(c, 0, "no ClientHello in time");
		break;
	case C_WAIT:
		(void)snprintf(why, sizeof(why),
		    "no backchannel for %s within %us", c->name,
		    conf->to_token);
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, why);
		break;
	case C_SEND:
		conn_close(c, 0, "backchannel does not take the ClientHello");
		break;
	default:
		break;
	}
}

/* A token backchannel for a client waiting in this listener. */
static void
conn_join(struct conn *c, int bcfd, struct event *bcev)
{
	conn_token_end(c, TOKEN_USED);
	c->state = C_SEND;
	if (conn_first_write(c, c->buf + c->off, c->len - c->off, bcfd,
	    bcev) == -1) {
		c->bcfd = bcfd;
		c->bcev = bcev;
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, NULL);
	}
}

/*
 * Make room for a client from source key, by the rules at the top of
 * this file: 0, or -1 when it is to be refused.  ADMIT_SOURCE applies
 * the source's limits, ADMIT_TOTAL the listener's.
 */
static int
conn_admit(const char *key, const union sockaddr_any *ss, int what)
{
	struct lsource	*src;
	struct conn	*c;
	char		 why[NET_SOURCELEN + 96], a[NET_ADDRSTRLEN];

	while ((what & ADMIT_SOURCE) && conf->max_src_hs > 0 &&
	    (src = source_find(key)) != NULL && src->nhs >= conf->max_src_hs) {
		(void)snprintf(why, sizeof(why), "evicted: %u handshakes "
		    "from %s, this one the oldest", src->nhs, key);
		conn_close(TAILQ_FIRST(&src->hs), 0, why);
	}
	while ((what & ADMIT_SOURCE) && conf->max_src_conns > 0 &&
	    (src = source_find(key)) != NULL &&
	    src->nconns >= conf->max_src_conns) {
		if ((c = TAILQ_FIRST(&src->hs)) == NULL) {
			listener_refused("source limit");
			log_limited(&refused_limit, "refused client %s: "
			    "source limit: %u connections from %s, none in "
			    "its handshake", peerstr(ss, a), src->nconns, key);
			return (-1);
		}
		(void)snprintf(why, sizeof(why), "evicted: %u connections "
		    "from %s, this one the oldest handshake", src->nconns,
		    key);
		conn_close(c, 0, why);
	}
	while ((what & ADMIT_TOTAL) && nconns >= conf->max_conns) {
		if ((c = TAILQ_FIRST(&handshakes)) == NULL) {
			listener_refused("limit");
			log_limited(&refused_limit, "refused client %s: "
			    "limit of %u connections reached, none in its "
			    "handshake", peerstr(ss, a), conf->max_conns);
			return (-1);
		}
		conn_close(c, 0, "evicted: the listener is full, this one "
		    "the oldest handshake");
	}
	return (0);
}

static void
conn_new(int fd, const union sockaddr_any *ss, const struct lsock *l)
{
	struct conn	*c;
	socklen_t	 sl = sizeof(c->local);
	char		 key[NET_SOURCELEN], a[NET_ADDRSTRLEN];
	int		 trusted;

	if (net_source_key(&ss->sa, key, sizeof(key)) == -1) {
		listener_refused("not an IP address");
		log_limited(&refused_limit, "refused client %s: not an IP "
		    "address", peerstr(ss, a));
		close(fd);
		return;
	}
	/*
	 * A trusted balancer's clients are charged to their own source
	 * once its PROXY header names it (conn_resource).  Until then, or
	 * for good with a LOCAL header, they are held by a source of
	 * their own, "@" and the balancer's key, under no per-source
	 * limit, and out of reach of the balancer's address's limits.
	 */
	trusted = l->ntrust > 0 && pp_net_match(l->trust, l->ntrust, &ss->sa);
	if (conn_admit(key, ss, trusted ? ADMIT_TOTAL :
	    ADMIT_SOURCE | ADMIT_TOTAL) == -1) {
		close(fd);
		return;
	}
	if (trusted) {
		memmove(key + 1, key, sizeof(key) - 1);
		key[0] = '@';
		key[sizeof(key) - 1] = '\0';
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->src = source_get(key)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->bcfd = -1;
	c->ls = l;
	c->peer = *ss;
	c->state = trusted ? C_PROXY : C_HELLO;
	do {
		c->id = ++nextid;
	} while (c->id == 0 || RB_FIND(conn_ids, &conns, c) != NULL);
	RB_INSERT(conn_ids, &conns, c);
	nconns++;
	c->src->nconns++;
	c->inhs = 1;
	TAILQ_INSERT_TAIL(&handshakes, c, hsentry);
	nhandshakes++;
	TAILQ_INSERT_TAIL(&c->src->hs, c, srcentry);
	c->src->nhs++;
	listener_stats.accepted++;
	c->started = proc_now();
	if (l->wildcard && getsockname(fd, &c->local.sa, &sl) == -1)
		memset(&c->local, 0, sizeof(c->local));
	conn_hello(c);
}

/*
 * Pools.
 */

static struct lpool *
lpool_get(const char *name, int create)
{
	struct lpool	 key, *p;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return (NULL);
	if ((p = RB_FIND(lpools, &lpools, &key)) != NULL || !create)
		return (p);
	if (!rpc_valid_name(name) || (p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	(void)strlcpy(p->name, name, sizeof(p->name));
	TAILQ_INIT(&p->idle);
	RB_INSERT(lpools, &lpools, p);
	return (p);
}

/* The most idle pooled backchannels of an operator in this listener. */
static unsigned int
lpool_max(const struct lpool *p)
{
	struct proxyd_operator	*op;
	unsigned int		 max;

	if (conf == NULL || (op = config_operator(conf, p->name)) == NULL)
		return (0);
	max = op->max_pool;
	return (listener_share(max));
}

static void
lpool_trim(struct lpool *p)
{
	unsigned int	 max;

	if (p == NULL)
		return;
	max = lpool_max(p);
	while (p->nidle > max)
		pbc_free(TAILQ_FIRST(&p->idle), 1);
	if (p->nidle == 0 && p->nroutes == 0 && p->ntokens == 0 &&
	    !p->haskey) {
		RB_REMOVE(lpools, &lpools, p);
		explicit_bzero(p, sizeof(*p));
		free(p);
	}
}

static void
lpool_setkey(struct lpool *p, const uint8_t *key, uint32_t gen)
{
	p->keygen = gen;
	if (p->haskey && timingsafe_bcmp(p->key, key, sizeof(p->key)) == 0)
		return;
	if (p->haskey) {
		memcpy(p->oldkey, p->key, sizeof(p->oldkey));
		p->old_until = time(NULL) + PROXYD_POOL_GRACE;
	}
	memcpy(p->key, key, sizeof(p->key));
	p->haskey = 1;
}

/* The operator whose current or recent key this is, in constant time. */
static struct lpool *
lpool_bykey(const uint8_t *key)
{
	struct lpool	*p, *found = NULL;
	time_t		 now = time(NULL);
	int		 cur, old;

	RB_FOREACH(p, lpools, &lpools) {
		cur = p->haskey &&
		    timingsafe_bcmp(p->key, key, EPS_POOL_KEYLEN) == 0;
		old = p->old_until > now &&
		    timingsafe_bcmp(p->oldkey, key, EPS_POOL_KEYLEN) == 0;
		if (cur | old)
			found = p;
	}
	return (found);
}

static void
pool_answer(int fd, int status)
{
	uint8_t	 a[BC_POOL_ANSWER_LEN] = { 'E', 'P', 'S', 0 };

	a[3] = (uint8_t)status;
	(void)send(fd, a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* An idle pooled backchannel is readable: closed, or out of protocol. */
static void
pbc_read(evutil_socket_t fd, short ev, void *arg)
{
	struct pbc	*b = arg;
	uint8_t		 x[64];
	ssize_t		 n;

	n = recv(fd, x, sizeof(x), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		log_limited(&refused_limit, "pooled backchannel of %s sent "
		    "bytes while idle: closed", b->pool->name);
	else
		log_debug("pooled backchannel of %s closed", b->pool->name);
	pbc_free(b, 1);
}

/* Pass a pooled backchannel on to the next listener; 0 if done. */
static int
pool_pass(struct lpool *p, int fd, unsigned int want, unsigned int hops)
{
	struct mp_out	 m;
	int		 next, r;

	next = (ps->instance + 1) % conf->prefork;
	if (next == ps->instance ||
	    ps->chans[PROC_LISTENER][next].chan == NULL)
		return (-1);
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 3);
	mp_pack_kstr(&m.pk, "op", p->name);
	mp_pack_kuint(&m.pk, "want", want);
	mp_pack_kuint(&m.pk, "hops", hops + 1);
	r = proc_send_mp(ps, PROC_LISTENER, next, IMSG_POOL_PASS, 0, fd, &m);
	mp_out_free(&m);
	if (r == -1)
		log_debug("pooled backchannel of %s lost on its way to "
		    "listener %d", p->name, next);
	return (0);		/* passed on, or closed by proc_send */
}

/*
 * An authenticated pooled backchannel of p: keep it here, pass it on,
 * or answer that the pool is full.  ev is an event already watching fd
 * for reading, or NULL; it is freed.
 */
static void
pool_keep(struct lpool *p, int fd, unsigned int want, unsigned int hops,
    struct event *ev)
{
	struct pbc	*b;
	unsigned int	 share, max = lpool_max(p);

	if (want == 0)
		want = 1;
	p->want = want;
	share = (want + (unsigned int)conf->prefork - 1) /
	    (unsigned int)conf->prefork;
	if (p->nidle >= max || npooled >= PROXYD_MAX_POOLED) {
		log_debug("pooled backchannel of %s: pool full here",
		    p->name);
		goto full;
	}
	if (p->nidle >= share && hops + 1 < (unsigned int)conf->prefork &&
	    pool_pass(p, fd, want, hops) == 0)
		goto done;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto full;
	b->pool = p;
	b->fd = fd;
	if ((b->ev = event_new(ps->base, fd, EV_READ | EV_PERSIST, pbc_read,
	    b)) == NULL || event_add(b->ev, NULL) == -1) {
		if (b->ev != NULL)
			event_free(b->ev);
		free(b);
		goto full;
	}
	TAILQ_INSERT_TAIL(&p->idle, b, entry);
	p->nidle++;
	npooled++;
	pool_answer(fd, BC_POOL_OK);
	goto done;
 full:
	pool_answer(fd, BC_POOL_FULL);
	close(fd);
 done:
	if (ev != NULL)
		event_free(ev);
}

/* A pooled backchannel a sibling listener had more than its share of. */
static void
pool_passed(struct frame *f)
{
	struct mp_doc	 d;
	struct lpool	*p;
	char		 op[RPC_NAMEMAX];
	uint64_t	 want, hops;

	if (f->fd == -1 || mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: bad message", __func__);
		return;
	}
	if (mp_map_str(d.root, "op", op, sizeof(op)) == -1 ||
	    mp_map_uint(d.root, "want", UINT16_MAX, &want) == -1 ||
	    mp_map_uint(d.root, "hops", PROC_INSTMAX, &hops) == -1) {
		log_warnx("%s: bad message", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((p = lpool_get(op, 0)) == NULL) {
		pool_answer(f->fd, BC_POOL_FULL);
		return;		/* the frame's fd is closed after us */
	}
	pool_keep(p, f->fd, (unsigned int)want, (unsigned int)hops, NULL);
	f->fd = -1;
}

/*
 * Backchannels: the preamble.
 */

static void
bconn_free(struct bconn *b, int closefd)
{
	TAILQ_REMOVE(&bconns, b, entry);
	if (b->src != NULL) {
		TAILQ_REMOVE(&b->src->pending, b, srcentry);
		b->src->npending--;
		source_put(b->src);
	}
	if (closefd && b->fd != -1)
		close(b->fd);
	if (b->ev != NULL)
		event_free(b->ev);
	if (b->timer != NULL)
		event_free(b->timer);
	explicit_bzero(b->pre, sizeof(b->pre));
	free(b);
	nbconns--;
}

/* Make room for a new backchannel: the oldest waiting, of src if src. */
static void
bconn_drop(struct bconn *b, const struct lsource *src)
{
	char	 a[NET_ADDRSTRLEN];

	if (src != NULL) {
		listener_stats.bc_refused[BC_REF_SOURCE_EVICTED]++;
		log_limited(&refused_limit, "refused backchannel from %s: %u "
		    "from %s waiting for their preamble, this one the longest",
		    peerstr(&b->peer, a), src->npending, src->key);
	} else {
		listener_stats.bc_refused[BC_REF_EVICTED]++;
		log_limited(&refused_limit, "refused backchannel from %s: %u "
		    "waiting for their preamble, this one the longest",
		    peerstr(&b->peer, a), PROXYD_MAX_PENDING);
	}
	bconn_free(b, 1);
}

static void
bconn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct bconn	*b = arg;
	char		 a[NET_ADDRSTRLEN];

	listener_stats.bc_refused[BC_REF_NO_PREAMBLE]++;
	log_limited(&refused_limit, "refused backchannel from %s: no "
	    "preamble in time", peerstr(&b->peer, a));
	bconn_free(b, 1);
}

/*
 * A backchannel presents a token this listener does not hold for a
 * waiting client: refuse it, with what became of the token here.
 */
static void
token_refuse(const uint8_t *tok, const char *addr)
{
	const struct token	*t = token_lookup(&ltokens, tok);
	const char		*text = token_refusal(t);
	enum bc_refusal		 why;

	if (token_why(t, &why) == 0) {
		/* issued, and no client here holds it: none ever will */
		why = BC_REF_TOKEN_EXPIRED;
		text = "token expired";
	}
	listener_stats.bc_refused[why]++;
	log_limited(&refused_limit, "refused backchannel from %s: %s", addr,
	    text);
}

/*
 * A token of another listener (its byte TOKEN_OWNER says which): the
 * backchannel goes there.  A token that names no listener, or this one,
 * is refused here.
 */
static void
bconn_token(struct bconn *b, const uint8_t *tok)
{
	struct mp_out	 m;
	char		 a[NET_ADDRSTRLEN];
	unsigned int	 owner = tok[TOKEN_OWNER];

	(void)peerstr(&b->peer, a);
	if (owner == (unsigned int)ps->instance ||
	    owner >= (unsigned int)conf->prefork) {
		token_refuse(tok, a);
		bconn_free(b, 1);
		return;
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kbin(&m.pk, "token", tok, EPS_TOKEN_LEN);
	mp_pack_kstr(&m.pk, "addr", a);
	if (proc_send_mp(ps, PROC_LISTENER, (int)owner, IMSG_BC_HANDOFF, 0,
	    b->fd, &m) == -1) {
		listener_stats.bc_refused[BC_REF_UNAVAILABLE]++;
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "listener %u unavailable", a, owner);
	} else
		listener_stats.bc_passed++;
	mp_out_free(&m);
	b->fd = -1;		/* passed on, or closed by proc_send */
	bconn_free(b, 0);
}

/* The whole preamble is there. */
static void
bconn_preamble(struct bconn *b)
{
	struct conn	*c;
	struct lpool	*p;
	struct event	*ev;
	const uint8_t	*tok;
	char		 a[NET_ADDRSTRLEN];
	unsigned int	 want;
	int		 fd;

	if (memcmp(b->pre, BC_MAGIC, BC_MAGIC_LEN) != 0 ||
	    b->pre[BC_MAGIC_LEN] != BC_VERSION ||
	    (b->pre[BC_MAGIC_LEN + 1] == BC_KIND_TOKEN &&
	    (b->pre[BC_MAGIC_LEN + 2] != 0 ||
	    b->pre[BC_MAGIC_LEN + 3] != 0)) ||
	    b->pre[BC_MAGIC_LEN + 1] > BC_KIND_POOL) {
		listener_stats.bc_refused[BC_REF_BAD_PREAMBLE]++;
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "bad preamble", peerstr(&b->peer, a));
		bconn_free(b, 1);
		return;
	}
	tok = b->pre + BC_MAGIC_LEN + 4;
	fd = b->fd;
	ev = b->ev;
	if (b->pre[BC_MAGIC_LEN + 1] == BC_KIND_POOL) {
		want = (unsigned int)b->pre[BC_MAGIC_LEN + 2] << 8 |
		    b->pre[BC_MAGIC_LEN + 3];
		if ((p = lpool_bykey(tok)) == NULL) {
			listener_stats.bc_refused[BC_REF_POOL_KEY]++;
			log_limited(&refused_limit, "refused backchannel from "
			    "%s: unknown or outdated pool key",
			    peerstr(&b->peer, a));
			pool_answer(fd, BC_POOL_REFUSED);
			bconn_free(b, 1);
			return;
		}
		b->fd = -1;
		b->ev = NULL;
		bconn_free(b, 0);
		pool_keep(p, fd, want, 0, ev);
		return;
	}
	if ((c = token_find(tok)) != NULL && c->state == C_WAIT) {
		b->fd = -1;
		b->ev = NULL;
		bconn_free(b, 0);
		conn_join(c, fd, ev);
		return;
	}
	bconn_token(b, tok);
}

/* Read what there is of the preamble; 1 if more must come. */
static int
bconn_more(struct bconn *b)
{
	char		 a[NET_ADDRSTRLEN];
	ssize_t		 n;

	n = read(b->fd, b->pre + b->have, sizeof(b->pre) - b->have);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (1);
		listener_stats.bc_refused[BC_REF_TRUNCATED]++;
		bconn_free(b, 1);
		return (0);
	}
	if (n == 0) {
		listener_stats.bc_refused[BC_REF_TRUNCATED]++;
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "closed before its preamble", peerstr(&b->peer, a));
		bconn_free(b, 1);
		return (0);
	}
	b->have += (size_t)n;
	if (b->have < sizeof(b->pre))
		return (1);
	bconn_preamble(b);
	return (0);
}

static void
bconn_read(evutil_socket_t fd, short ev, void *arg)
{
	(void)bconn_more(arg);
}

/*
 * A new backchannel.  A private proxy sends its preamble at once, so it
 * is there when we accept: only slow or silent ones wait, and the
 * oldest of them, from the same source or in all, makes room.
 */
static void
bconn_new(int fd, const union sockaddr_any *ss)
{
	struct lsource	*src;
	struct bconn	*b;
	struct timeval	 tv;
	char		 key[NET_SOURCELEN], a[NET_ADDRSTRLEN];

	if (net_source_key(&ss->sa, key, sizeof(key)) == -1) {
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "not an IP address", peerstr(ss, a));
		close(fd);
		return;
	}
	while ((src = source_find(key)) != NULL &&
	    src->npending >= PROXYD_SRC_PENDING)
		bconn_drop(TAILQ_FIRST(&src->pending), src);
	while (nbconns >= PROXYD_MAX_PENDING)
		bconn_drop(TAILQ_FIRST(&bconns), NULL);
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->src = source_get(key)) == NULL) {
		free(b);
		close(fd);
		return;
	}
	b->fd = fd;
	b->peer = *ss;
	TAILQ_INSERT_TAIL(&bconns, b, entry);
	nbconns++;
	TAILQ_INSERT_TAIL(&b->src->pending, b, srcentry);
	b->src->npending++;
	listener_stats.bc_accepted++;
	/* TCP_DEFER_ACCEPT: the preamble is most likely there already */
	if (!bconn_more(b))
		return;
	tv.tv_sec = conf->to_preamble;
	tv.tv_usec = 0;
	b->ev = event_new(ps->base, fd, EV_READ | EV_PERSIST, bconn_read, b);
	b->timer = evtimer_new(ps->base, bconn_timeout, b);
	if (b->ev == NULL || b->timer == NULL ||
	    event_add(b->ev, NULL) == -1 || evtimer_add(b->timer, &tv) == -1)
		bconn_free(b, 1);
}

/*
 * Listening sockets.
 */

/* Watch a listening socket, unless it has no reason to. */
static void
lsock_arm(struct lsock *l)
{
	if (routed && conf != NULL && !l->paused &&
	    !event_pending(l->ev, EV_READ, NULL))
		event_add(l->ev, NULL);
}

/*
 * A new listener takes no connection before it has the matcher's route
 * table, or has waited PROXYD_SYNC_WAIT seconds for it: the kernel holds
 * the connections meanwhile.
 */
static void
accept_routed(evutil_socket_t fd, short ev, void *arg)
{
	struct lsock	*l;

	if (routed)
		return;
	routed = 1;
	evtimer_del(routed_ev);
	TAILQ_FOREACH(l, &lsocks, entry)
		lsock_arm(l);
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct lsock	*l = arg;

	l->paused = 0;
	lsock_arm(l);
}

/* Out of descriptors or memory: this socket, and only it, waits. */
static void
accept_pause(struct lsock *l, int error)
{
	struct timeval	 tv;
	char		 a[NET_ADDRSTRLEN];

	l->pause_ms = l->pause_ms == 0 ? PAUSE_MIN_MS :
	    MINIMUM(2 * l->pause_ms, PAUSE_MAX_MS);
	listener_stats.accept_paused++;
	log_limited(&refused_limit, "accept on %s%s: %s; pausing it for "
	    "%u ms", l->backchannel ? "backchannel " : "",
	    peerstr(&l->addr, a), strerror(error), l->pause_ms);
	l->paused = 1;
	event_del(l->ev);
	tv.tv_sec = l->pause_ms / 1000;
	tv.tv_usec = (l->pause_ms % 1000) * 1000;
	if (evtimer_add(l->pause, &tv) == -1)
		accept_resume(-1, 0, l);
}

static void
lsock_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct lsock		*l = arg;
	union sockaddr_any	 ss;
	socklen_t		 sl;
	int			 fd, i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		sl = sizeof(ss);
		fd = accept4(l->fd, &ss.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(l, errno);
			return;
		}
		l->pause_ms = 0;
		if (l->backchannel)
			bconn_new(fd, &ss);
		else
			conn_new(fd, &ss, l);
	}
}

/* The networks a public socket takes PROXY headers from, if any. */
static void
lsock_trust(struct lsock *l)
{
	struct proxyd_ppin	*pp;
	const char		*why;
	char			 a[NET_ADDRSTRLEN];
	size_t			 i;

	l->ntrust = 0;
	if (conf == NULL || l->backchannel)
		return;
	(void)peerstr(&l->addr, a);
	TAILQ_FOREACH(pp, &conf->ppin, entry)
		if (strcmp(pp->addr, a) == 0)
			break;
	if (pp == NULL)
		return;
	for (i = 0; i < pp->nfrom && l->ntrust < PROXYD_MAXTRUST; i++)
		if (pp_net_parse(pp->from[i], &l->trust[l->ntrust], &why) ==
		    0)
			l->ntrust++;
		else
			log_warnx("%s: %s: %s", __func__, pp->from[i], why);
}

static void
lsock_add(struct frame *f)
{
	struct lsock	*l;
	struct mp_doc	 d;
	socklen_t	 sl;
	char		 kind[16];
	int		 on = 1, defer = DEFER_ACCEPT;

	if (f->fd == -1 || mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: bad listen message", __func__);
		return;
	}
	if (mp_map_str(d.root, "kind", kind, sizeof(kind)) == -1 ||
	    (strcmp(kind, "public") != 0 && strcmp(kind, "backchannel") != 0)) {
		log_warnx("%s: bad listen kind", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("%s", __func__);
	l->fd = f->fd;
	f->fd = -1;
	l->backchannel = strcmp(kind, "backchannel") == 0;
	(void)net_nonblock(l->fd);
	/* accepted sockets inherit these: no system call per connection */
	(void)setsockopt(l->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void)setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer,
	    sizeof(defer));
	sl = sizeof(l->addr);
	if (getsockname(l->fd, &l->addr.sa, &sl) == -1 ||
	    (l->addr.sa.sa_family == AF_INET &&
	    l->addr.sin.sin_addr.s_addr == htonl(INADDR_ANY)) ||
	    (l->addr.sa.sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&l->addr.sin6.sin6_addr)))
		l->wildcard = 1;
	if ((l->ev = event_new(ps->base, l->fd, EV_READ | EV_PERSIST,
	    lsock_accept, l)) == NULL ||
	    (l->pause = evtimer_new(ps->base, accept_resume, l)) == NULL)
		fatal("%s: event_new", __func__);
	lsock_trust(l);
	TAILQ_INSERT_TAIL(&lsocks, l, entry);
}

/*
 * Messages.
 */

/* The incoming call for a waiting client failed: the client goes. */
static void
incoming_failed(struct frame *f)
{
	struct conn	*c;
	struct mp_doc	 d;
	uint8_t		 tok[EPS_TOKEN_LEN];
	char		 reason[200], why[DNAME_MAX + 256];

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_bin(d.root, "token", tok, sizeof(tok)) == -1 ||
	    mp_map_str(d.root, "reason", reason, sizeof(reason)) == -1) {
		log_warnx("%s: bad message from the eps process", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((c = token_find(tok)) != NULL && c->state == C_WAIT) {
		(void)snprintf(why, sizeof(why), "private proxy for %s not "
		    "reached: %s", c->name, reason);
		conn_token_end(c, TOKEN_FAILED);
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, why);
	}
	explicit_bzero(tok, sizeof(tok));
}

/* A backchannel another listener took for one of our tokens. */
static void
handoff_in(struct frame *f)
{
	struct conn	*c;
	struct mp_doc	 d;
	uint8_t		 tok[EPS_TOKEN_LEN];
	char		 addr[NET_ADDRSTRLEN];

	if (f->fd == -1 || mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: bad handoff", __func__);
		return;
	}
	if (mp_map_bin(d.root, "token", tok, sizeof(tok)) == -1 ||
	    mp_map_str(d.root, "addr", addr, sizeof(addr)) == -1) {
		log_warnx("%s: bad handoff", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((c = token_find(tok)) == NULL || c->state != C_WAIT) {
		token_refuse(tok, addr);
		explicit_bzero(tok, sizeof(tok));
		return;
	}
	explicit_bzero(tok, sizeof(tok));
	conn_join(c, f->fd, NULL);
	f->fd = -1;
}

static void
route_del(struct lroute *r)
{
	RB_REMOVE(lroutes, &lroutes, r);
	r->pool->nroutes--;
	nlroutes--;
	free(r);
}

/* name is announced by op now, or by nobody for "". */
static int
route_set(const char *name, const char *op)
{
	struct lroute	*r;
	struct lpool	*p;
	size_t		 len;
	char		 lname[DNAME_MAX + 1];

	if (dname_lower(lname, name, sizeof(lname), 1) == -1 ||
	    strcmp(lname, name) != 0)
		return (-1);
	r = route_get(name);
	if (op[0] == '\0') {
		if (r != NULL)
			route_del(r);
		return (0);
	}
	if ((p = lpool_get(op, 1)) == NULL)
		return (-1);
	if (r != NULL) {
		r->pool->nroutes--;
		r->pool = p;
		p->nroutes++;
		r->gen = routes_gen;
		return (0);
	}
	if (nlroutes >= 2 * conf->max_announce)
		return (-1);
	len = strlen(name);
	if ((r = calloc(1, sizeof(*r) + len + 1)) == NULL)
		return (-1);
	memcpy((char *)(r + 1), name, len + 1);
	r->name = (const char *)(r + 1);
	r->pool = p;
	r->gen = routes_gen;
	p->nroutes++;
	RB_INSERT(lroutes, &lroutes, r);
	nlroutes++;
	return (0);
}

/* The end of a full table: what it did not name is gone. */
static void
routes_end(void)
{
	struct lroute	*r, *rn;
	struct lpool	*p, *pn;

	RB_FOREACH_SAFE(r, lroutes, &lroutes, rn)
		if (r->gen != routes_gen)
			route_del(r);
	RB_FOREACH_SAFE(p, lpools, &lpools, pn) {
		if (p->keygen != routes_gen && p->haskey) {
			p->haskey = 0;
			p->old_until = 0;
			explicit_bzero(p->key, sizeof(p->key));
			explicit_bzero(p->oldkey, sizeof(p->oldkey));
		}
		lpool_trim(p);
	}
}

static void
routes_in(struct frame *f)
{
	struct mp_doc		 d;
	const msgpack_object	*keys, *set, *o;
	struct lpool		*p;
	char			 name[DNAME_MAX + 1], op[RPC_NAMEMAX];
	uint8_t			 key[EPS_POOL_KEYLEN];
	uint32_t		 i;
	int			 begin, end, bad = 0;

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_bool(d.root, "begin", &begin) == -1 ||
	    mp_map_bool(d.root, "end", &end) == -1 ||
	    (keys = mp_map_array(d.root, "keys", PROXYD_ROUTES_CHUNK)) ==
	    NULL || (set = mp_map_array(d.root, "set",
	    PROXYD_ROUTES_CHUNK)) == NULL) {
		log_warnx("%s: bad message from matcher", __func__);
		mp_free(&d);
		return;
	}
	if (begin)
		routes_gen++;
	for (i = 0; i < keys->via.array.size; i++) {
		o = &keys->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_ARRAY ||
		    o->via.array.size != 2 ||
		    mp_get_str(&o->via.array.ptr[0], op, sizeof(op)) == -1 ||
		    mp_get_bin(&o->via.array.ptr[1], key, sizeof(key)) ==
		    -1 || (p = lpool_get(op, 1)) == NULL) {
			bad++;
			continue;
		}
		lpool_setkey(p, key, routes_gen);
	}
	explicit_bzero(key, sizeof(key));
	for (i = 0; i < set->via.array.size; i++) {
		o = &set->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_ARRAY ||
		    o->via.array.size != 2 ||
		    mp_get_str(&o->via.array.ptr[0], name, sizeof(name)) ==
		    -1 || mp_get_str(&o->via.array.ptr[1], op, sizeof(op)) ==
		    -1 || route_set(name, op) == -1)
			bad++;
	}
	mp_free(&d);
	if (bad)
		log_warnx("%s: %d bad entries from matcher", __func__, bad);
	if (end) {
		routes_end();
		accept_routed(-1, 0, NULL);
	}
}

int
listener_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct lsock		*l;
	struct lpool		*lp, *t;
	struct timeval		 tv;

	if (nconf == NULL)
		return (-1);
	config_free(conf);
	conf = nconf;
	/* "max pool" may have shrunk, an operator may be gone */
	RB_FOREACH_SAFE(lp, lpools, &lpools, t)
		lpool_trim(lp);
	TAILQ_FOREACH(l, &lsocks, entry) {
		lsock_trust(l);
		lsock_arm(l);
	}
	if (!routed && !evtimer_pending(routed_ev, NULL)) {
		tv.tv_sec = PROXYD_SYNC_WAIT;
		tv.tv_usec = 0;
		evtimer_add(routed_ev, &tv);
	}
	return (0);
}

void
listener_dispatch(struct privsep *p, struct proc_chan *from, struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_CFG_LISTEN:
		if (from->id == PROC_PARENT)
			lsock_add(f);
		return;
	case IMSG_INCOMING_FAIL:
		if (from->id != PROC_EPS || conf == NULL)
			break;
		incoming_failed(f);
		return;
	case IMSG_BC_HANDOFF:
		if (from->id != PROC_LISTENER || conf == NULL)
			break;
		handoff_in(f);
		return;
	case IMSG_ROUTES:
		if (from->id != PROC_MATCHER || conf == NULL)
			break;
		routes_in(f);
		return;
	case IMSG_POOL_PASS:
		if (from->id != PROC_LISTENER || conf == NULL)
			break;
		pool_passed(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
listener_init(struct privsep *p)
{
	struct timeval	 tv = { 1, 0 };

	ps = p;
	token_init(&ltokens, NULL);
	if ((routed_ev = evtimer_new(ps->base, accept_routed, NULL)) ==
	    NULL || (sweep_ev = evtimer_new(ps->base, token_tick, NULL)) ==
	    NULL)
		fatal("%s", __func__);
	evtimer_add(sweep_ev, &tv);
}

/*
 * Operations: the numbers, the connections and the pools of this
 * listener.
 */

/* Once a second: tokens past their time expire, old ones are forgotten. */
static void
token_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };

	token_sweep(&ltokens);
	evtimer_add(sweep_ev, &tv);
}

struct listener_stats	 listener_stats;

/* The reasons a client is refused for, as the metrics label them. */
static const struct metric_reason refusals[] = {
	{ "limit", "limit" },
	{ "too many connections waiting", "limit" },
	{ "evicted: the listener is full", "evicted" },
	{ "evicted:", "source_evicted" },
	{ "source limit", "source_limit" },
	{ "no ClientHello in time", "handshake_timeout" },
	{ "not a TLS", "not_tls" },
	{ "no server name", "bad_name" },
	{ "bad server name", "bad_name" },
	{ "no announcement for", "unknown_name" },
	{ "no backchannel for", "no_backchannel" },
	{ "private proxy for", "private_unreachable" },
	{ "backchannel does not take", "backchannel" },
	{ "ClientHello too", "bad_clienthello" },
	{ "bad ClientHello", "bad_clienthello" },
	{ "TLS version too old", "bad_clienthello" },
	{ "PROXY header", "bad_proxy_header" },
	{ "", "internal" },		/* the rest: ours */
};
/* a table longer than listener_stats.refused fails to compile */
typedef char refusals_fit[nitems(refusals) <= LISTENER_REFUSALS ? 1 : -1];

void
listener_refused(const char *why)
{
	listener_stats.refused[metrics_reason(refusals, nitems(refusals),
	    why)]++;
}

static const char *
conn_state_name(enum conn_state st)
{
	switch (st) {
	case C_PROXY:
		return ("proxy");
	case C_HELLO:
		return ("hello");
	case C_WAIT:
		return ("wait");
	case C_SEND:
		return ("send");
	case C_RELAY:
		return ("relay");
	}
	return ("?");
}

void
listener_metrics(struct privsep *p, struct metrics *m)
{
	struct metric_label	 l;
	struct conn		*c;
	uint64_t		 in = listener_stats.bytes_in;
	uint64_t		 out = listener_stats.bytes_out;

	RB_FOREACH(c, conn_ids, &conns)
		if (c->sp != NULL) {
			in += c->hellolen + splice_bytes(c->sp, 0);
			out += splice_bytes(c->sp, 1);
		}
	(void)metrics_declare(m, "proxyd_connections_accepted_total",
	    METRIC_COUNTER, "Client connections accepted.");
	(void)metrics_add(m, "proxyd_connections_accepted_total", NULL, 0,
	    (double)listener_stats.accepted);
	(void)metrics_declare(m, "proxyd_connections_active", METRIC_GAUGE,
	    "Client connections open: reading the ClientHello, waiting for "
	    "a backchannel, or relayed.");
	(void)metrics_add(m, "proxyd_connections_active", NULL, 0, nconns);
	(void)metrics_declare(m, "proxyd_connections_handshaking",
	    METRIC_GAUGE, "Client connections not past their ClientHello "
	    "yet.");
	(void)metrics_add(m, "proxyd_connections_handshaking", NULL, 0,
	    nhandshakes);
	(void)metrics_declare(m, "proxyd_sources", METRIC_GAUGE,
	    "Sources (IPv4 addresses, IPv6 /64s) with a client or a "
	    "backchannel waiting for its preamble.");
	(void)metrics_add(m, "proxyd_sources", NULL, 0, nsources);
	(void)metrics_declare(m, "proxyd_connections_refused_total",
	    METRIC_COUNTER, "Client connections refused, by reason.");
	(void)metrics_add_reasons(m, "proxyd_connections_refused_total",
	    refusals, nitems(refusals), listener_stats.refused);
	(void)metrics_declare(m, "proxyd_bytes_total", METRIC_COUNTER,
	    "Bytes relayed: in from the clients (their ClientHello "
	    "included), out to them.");
	l.name = "direction";
	l.value = "in";
	(void)metrics_add(m, "proxyd_bytes_total", &l, 1, (double)in);
	l.value = "out";
	(void)metrics_add(m, "proxyd_bytes_total", &l, 1, (double)out);
	(void)metrics_declare(m, "proxyd_backchannels_accepted_total",
	    METRIC_COUNTER, "Backchannel connections accepted, pooled ones "
	    "included.");
	(void)metrics_add(m, "proxyd_backchannels_accepted_total", NULL, 0,
	    (double)listener_stats.bc_accepted);
	(void)metrics_declare(m, "proxyd_backchannels_passed_total",
	    METRIC_COUNTER, "Token backchannels that reached another "
	    "listener than the one holding their client, passed to that "
	    "one.");
	(void)metrics_add(m, "proxyd_backchannels_passed_total", NULL, 0,
	    (double)listener_stats.bc_passed);
	(void)metrics_declare(m, "proxyd_backchannels_waiting", METRIC_GAUGE,
	    "Backchannels that have not sent their preamble yet.");
	(void)metrics_add(m, "proxyd_backchannels_waiting", NULL, 0, nbconns);
	bc_refused_metrics(m, listener_stats.bc_refused);
	(void)metrics_declare(m, "proxyd_accept_paused_total", METRIC_COUNTER,
	    "Pauses of a listening socket out of descriptors or memory.");
	(void)metrics_add(m, "proxyd_accept_paused_total", NULL, 0,
	    (double)listener_stats.accept_paused);
	(void)metrics_declare(m, "proxyd_pool_size", METRIC_GAUGE,
	    "Pooled backchannels idle, ready for a client.");
	(void)metrics_add(m, "proxyd_pool_size", NULL, 0, npooled);
	(void)metrics_declare(m, "proxyd_pool_hits_total", METRIC_COUNTER,
	    "Clients joined to a pooled backchannel.");
	(void)metrics_add(m, "proxyd_pool_hits_total", NULL, 0,
	    (double)listener_stats.pool_hits);
	(void)metrics_declare(m, "proxyd_pool_misses_total", METRIC_COUNTER,
	    "Clients of an operator with a pool for whom no pooled "
	    "backchannel was idle here: they took the notification path.");
	(void)metrics_add(m, "proxyd_pool_misses_total", NULL, 0,
	    (double)listener_stats.pool_misses);
	splice_metrics(m, "proxyd");
	token_metrics(m, &ltokens);
}

static int
listener_connections(struct privsep *p, uint32_t ref)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct conn		*c;
	time_t			 now = proc_now();
	char			 a[NET_ADDRSTRLEN];

	proc_rows_init(&rows, p, ref);
	RB_FOREACH(c, conn_ids, &conns) {
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 6);
		mp_pack_kstr(pk, "client", peerstr(&c->peer, a));
		mp_pack_str(pk, "name");
		if (c->name != NULL)
			mp_pack_str(pk, c->name);
		else
			msgpack_pack_nil(pk);
		mp_pack_kstr(pk, "state", conn_state_name(c->state));
		mp_pack_kuint(pk, "age", (uint64_t)(now - c->started));
		mp_pack_kuint(pk, "bytes_in", c->hellolen + (c->sp != NULL ?
		    splice_bytes(c->sp, 0) : 0));
		mp_pack_kuint(pk, "bytes_out", c->sp != NULL ?
		    splice_bytes(c->sp, 1) : 0);
	}
	return (proc_rows_end(&rows));
}

static int
listener_pools(struct privsep *p, uint32_t ref)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct lpool		*lp;

	proc_rows_init(&rows, p, ref);
	RB_FOREACH(lp, lpools, &lpools) {
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 6);
		mp_pack_kstr(pk, "operator", lp->name);
		mp_pack_kuint(pk, "listener", (uint64_t)p->instance);
		mp_pack_kuint(pk, "idle", lp->nidle);
		mp_pack_kuint(pk, "max", lpool_max(lp));
		mp_pack_kuint(pk, "routes", lp->nroutes);
		mp_pack_kbool(pk, "key", lp->haskey);
	}
	return (proc_rows_end(&rows));
}

int
listener_control(struct privsep *p, uint32_t ref, const char *cmd, int argc,
    char **argv, char *why, size_t whylen)
{
	int	 rv;

	if (strcmp(cmd, "show connections") == 0)
		rv = listener_connections(p, ref);
	else if (strcmp(cmd, "show pools") == 0)
		rv = listener_pools(p, ref);
	else {
		(void)snprintf(why, whylen, "%s: not a listener command",
		    cmd);
		return (-1);
	}
	if (rv == -1)
		(void)strlcpy(why, "the parent did not take the list", whylen);
	return (rv);
}
