/*
 * peer.c: the session process of epsd.
 *
 * It holds the TLS key and every link to another epsd.  Links come in
 * on the listening sockets the parent passed down, or go out to the
 * peers configured with "connect to", which are kept up: a lost or
 * failed link is redialled after a back-off of 250 ms, doubling up to
 * 30 s, each delay drawn at random between half the back-off and all
 * of it, so that the peers of an epsd that restarts do not all dial it
 * at once; the back-off starts again at 250 ms once a link is up.
 *
 * A link goes through these states:
 *
 *	CONNECT		outbound: the TCP connection is being made
 *	HANDSHAKE	TLS handshake; both sides present a certificate
 *			that must verify against the configured CA
 *	HELLO		verified; each side sends a PING at once and the
 *			link is up when the first frame from the other
 *			side arrives, so a peer that refuses us after its
 *			handshake is not mistaken for a link
 *	UP		frames flow; a PING goes out on a link that has
 *			sent nothing for a heartbeat, and a link that has
 *			received nothing for EPSD_HEARTBEAT_MISS
 *			heartbeats is closed
 *
 * The operator of a link is the subject CN of the peer's certificate.
 * An inbound link must come from a configured peer; an outbound one
 * must reach the operator it was dialled for (libtls checks the name
 * too).  Everything before UP must be done within EPSD_HANDSHAKE s.
 *
 * Inbound links not yet up hold one of EPSD_HANDSHAKES_MAX handshake
 * slots, shared out per source (net_source_key(): an IPv4 address or an
 * IPv6 /64), so that churn from one place cannot keep a real peer from
 * finishing its handshake, which takes milliseconds.  Nobody is refused
 * for want of room while someone holds more than a fair share:
 * - a source that holds EPSD_HANDSHAKES_ADDR slots gives up its oldest
 *   for its next connection;
 * - when all slots are taken, the source holding the most gives up its
 *   oldest, provided it holds more than its fair share, the slots
 *   divided by the sources (with the newcomer), at least one; a source
 *   within its share keeps its slots, however fast the others connect;
 * - when every source is within its share, the oldest slot goes if it
 *   was taken HS_GRACE s ago or more (it had its chance to finish), and
 *   otherwise the newcomer is refused.
 *
 * One link per operator.  When a second link to the same operator comes
 * up, the new one wins if both go the same way (a restarted peer is not
 * locked out by a stale link), and when they cross, the one dialled by
 * the operator whose name sorts last wins, which both ends compute
 * alike, so two servers that dial each other settle on one link.
 *
 * RPC frames from a link go to the router as IMSG_LINK_MSG tagged with
 * the link's operator; this process never looks inside them.
 */

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <tls.h>

#include "compat.h"
#include "epsd.h"
#include "log.h"
#include "tlsutil.h"

#define LINK_READSZ	16384
#define LINK_READS	64	/* tls_read() calls in one go */
#define HS_GRACE	2	/* s: a slot anyone may take, within shares */

enum link_state {
	LINK_CONNECT,
	LINK_HANDSHAKE,
	LINK_HELLO,
	LINK_UP,
};

struct link {
	TAILQ_ENTRY(link)	 entry;
	enum link_state		 state;
	int			 inbound;
	int			 fd;
	struct tls		*tls;
	struct event		*rev;
	struct event		*wev;
	struct evbuffer		*in;
	struct evbuffer		*out;
	int			 shaken;	/* handshake done */
	/* what tls_handshake, tls_read and tls_write wait for */
	int			 hswant;
	int			 rwant;
	int			 wwant;
	time_t			 started;
	time_t			 lastrecv;
	time_t			 lastsend;
	time_t			 lastping;
	char			 addr[NET_ADDRSTRLEN];
	char			 op[RPC_NAMEMAX];	/* or "" */
	uint64_t		 rbytes;	/* TLS payload, read */
	uint64_t		 wbytes;	/* ... written */
	/* inbound, not up: the handshake slot */
	struct hsource		*src;
	TAILQ_ENTRY(link)	 srcentry;
	uint64_t		 seq;		/* order of the slots */
};
TAILQ_HEAD(links, link);

/* The handshake slots one source holds. */
struct hsource {
	RB_ENTRY(hsource)	 entry;
	TAILQ_HEAD(, link)	 links;		/* oldest first */
	int			 n;
	char			 key[NET_SOURCELEN];
};
RB_HEAD(hsources, hsource);

/* A configured peer. */
struct peer {
	TAILQ_ENTRY(peer)	 entry;
	char			 name[RPC_NAMEMAX];
	struct net_addr		 connect[EPSD_MAXCONNECT];
	int			 nconnect;
	int			 next;		/* address to dial */
	struct link		*link;		/* the link up */
	struct link		*dial;		/* our dial */
	struct event		*redial;
	unsigned int		 backoff;
	int			 seen;		/* in a new config */
};
TAILQ_HEAD(peers, peer);

struct listener {
	int			 fd;
	struct event		*ev;
	struct event		*pause;
	char			 addr[NET_ADDRSTRLEN];
};

static struct {
	struct privsep		*ps;
	struct epsd_conf	*conf;
	struct peers		 peers;
	struct links		 links;
	int			 handshakes;	/* inbound, not up */
	struct hsources		 sources;	/* of those, by source */
	int			 nsources;
	uint64_t		 hseq;
	struct tls		*server;
	struct tls_config	*scfg;
	struct tls_config	*ccfg;
	struct listener		 listeners[EPSD_MAXLISTEN];
	int			 nlisteners;
	struct event		*tick;

	/* the configuration round under way */
	struct epsd_conf	*nconf;
	struct tlsutil_mem	 ntls;
	int			 nlfds[EPSD_MAXLISTEN];
	char			 nladdr[EPSD_MAXLISTEN][NET_ADDRSTRLEN];
	int			 nnlfds;
} env;

/* whoever reaches a listening port decides how often this happens */
static struct log_limit	 refuse_limit = LOG_LIMIT_INITIALIZER(10);

static void	link_rcb(evutil_socket_t, short, void *);
static void	link_wcb(evutil_socket_t, short, void *);
static void	link_io(struct link *);
static void	link_close(struct link *, int, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static int	link_send(struct link *, uint16_t, const void *, size_t);
static void	peer_dial(struct peer *);
static void	peer_schedule(struct peer *);
static void	to_router(uint16_t, const char *, const void *, size_t);

static int
hsource_cmp(struct hsource *a, struct hsource *b)
{
	return (strcmp(a->key, b->key));
}

RB_GENERATE_STATIC(hsources, hsource, entry, hsource_cmp)

static time_t
now(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (ts.tv_sec);
}

static const char *
tlserr(struct tls *ctx)
{
	const char	*e = tls_error(ctx);

	return (e != NULL ? e : "unknown error");
}

static struct peer *
peer_find(const char *name)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &env.peers, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

/*
 * Links.
 */

static struct link *
link_new(int fd, int inbound, const char *addr)
{
	struct link	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	l->fd = fd;
	l->inbound = inbound;
	l->started = l->lastrecv = l->lastsend = now();
	(void)strlcpy(l->addr, addr, sizeof(l->addr));
	if ((l->in = evbuffer_new()) == NULL ||
	    (l->out = evbuffer_new()) == NULL ||
	    (l->rev = event_new(env.ps->base, fd, EV_READ, link_rcb, l)) ==
	    NULL ||
	    (l->wev = event_new(env.ps->base, fd, EV_WRITE, link_wcb, l)) ==
	    NULL) {
		if (l->in != NULL)
			evbuffer_free(l->in);
		if (l->out != NULL)
			evbuffer_free(l->out);
		if (l->rev != NULL)
			event_free(l->rev);
		free(l);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&env.links, l, entry);
	if (inbound)
		env.handshakes++;
	if (inbound)
		session_stats.accepted++;
	return (l);
}

/* An inbound link is up or gone: its handshake slot is free. */
static void
hs_release(struct link *l)
{
	struct hsource	*s = l->src;

	env.handshakes--;
	if (s == NULL)
		return;
	TAILQ_REMOVE(&s->links, l, srcentry);
	l->src = NULL;
	if (--s->n == 0) {
		RB_REMOVE(hsources, &env.sources, s);
		env.nsources--;
		free(s);
	}
}

static void
link_free(struct link *l)
{
	TAILQ_REMOVE(&env.links, l, entry);
	session_stats.bytes_in += l->rbytes;
	session_stats.bytes_out += l->wbytes;
	if (l->inbound && l->state != LINK_UP)
		hs_release(l);
	event_free(l->rev);
	event_free(l->wev);
	if (l->tls != NULL) {
		/* one try at close_notify, the socket does not wait */
		if (l->shaken)
			(void)tls_close(l->tls);
		tls_free(l->tls);
	}
	if (l->fd != -1)
		close(l->fd);
	evbuffer_free(l->in);
	evbuffer_free(l->out);
	free(l);
}

/*
 * Close a link and say why: how depends on what the link was.  With
 * refusal set, the reason is ours or the peer's refusal of the link and
 * it is logged as one.
 */
static void
link_close(struct link *l, int refusal, const char *fmt, ...)
{
	struct peer	*p = NULL;
	char		 msg[512], why[LOG_VISLEN(512)];
	va_list		 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* TLS errors and certificate names are the peer's text */
	(void)log_vis(msg, why, sizeof(why));
	if (refusal && l->inbound)
		session_refused(msg);

	if (l->op[0] != '\0')
		p = peer_find(l->op);
	if (p != NULL && p->link == l) {
		log_info("link to %s down: %s", p->name, why);
		p->link = NULL;
		to_router(IMSG_LINK_DOWN, p->name, NULL, 0);
		link_free(l);
		peer_schedule(p);
		return;
	}
	if (!l->inbound) {
		/* verified, then closed before the greeting: refused */
		if (refusal || l->state == LINK_HELLO)
			log_warnx("refused link to %s (%s): %s", l->addr,
			    l->op, why);
		else
			log_warnx("cannot link to %s at %s: %s", l->op,
			    l->addr, why);
		if (p != NULL && p->dial == l) {
			p->dial = NULL;
			p->next++;
			link_free(l);
			peer_schedule(p);
			return;
		}
	} else if (refusal)
		log_limited(&refuse_limit, "refused link from %s: %s",
		    l->addr, why);
	else
		log_debug("link from %s%s%s closed before it was up: %s",
		    l->addr, l->op[0] != '\0' ? " by " : "", l->op, why);
	link_free(l);
}

/* Wait for what the TLS layer wants next. */
static void
link_arm(struct link *l)
{
	int	 r = 0, w = 0;

	switch (l->state) {
	case LINK_CONNECT:
		w = 1;
		break;
	case LINK_HANDSHAKE:
		if (l->hswant == TLS_WANT_POLLOUT)
			w = 1;
		else
			r = 1;
		break;
	case LINK_HELLO:
	case LINK_UP:
		if (l->rwant == TLS_WANT_POLLOUT)
			w = 1;
		else
			r = 1;
		if (evbuffer_get_length(l->out) > 0) {
			if (l->wwant == TLS_WANT_POLLIN)
				r = 1;
			else
				w = 1;
		}
		break;
	}
	if (r)
		event_add(l->rev, NULL);
	else
		event_del(l->rev);
	if (w)
		event_add(l->wev, NULL);
	else
		event_del(l->wev);
}

/* Queue one frame; -1 when too much waits already (the caller closes). */
static int
link_send(struct link *l, uint16_t type, const void *buf, size_t len)
{
	if (evbuffer_get_length(l->out) + FRAME_HDRLEN + len >
	    EPSD_LINK_OUTMAX)
		return (-1);
	if (frame_add(l->out, type, 0, 0, buf, len) == -1)
		return (-1);
	l->lastsend = now();
	if (l->wwant != TLS_WANT_POLLIN)
		event_add(l->wev, NULL);
	return (0);
}

static void
link_rcb(evutil_socket_t fd, short ev, void *arg)
{
	link_io(arg);
}

/* The outbound TCP connection is made (or failed): start TLS. */
static int
link_connected(struct link *l)
{
	struct peer	*p;
	socklen_t	 len = sizeof(int);
	int		 error = 0;

	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error != 0) {
		link_close(l, 0, "%s", strerror(error));
		return (-1);
	}
	if ((p = peer_find(l->op)) == NULL || env.ccfg == NULL) {
		link_close(l, 0, "not configured any more");
		return (-1);
	}
	if ((l->tls = tls_client()) == NULL) {
		link_close(l, 0, "tls_client failed");
		return (-1);
	}
	if (tls_configure(l->tls, env.ccfg) == -1 ||
	    tls_connect_socket(l->tls, l->fd, p->name) == -1) {
		link_close(l, 0, "TLS: %s", tlserr(l->tls));
		return (-1);
	}
	l->state = LINK_HANDSHAKE;
	return (0);
}

static void
link_wcb(evutil_socket_t fd, short ev, void *arg)
{
	struct link	*l = arg;

	if (l->state == LINK_CONNECT && link_connected(l) == -1)
		return;
	link_io(l);
}

/*
 * The handshake is done: check who is at the other end.  The operator
 * is the one configured peer whose name the certificate carries, as
 * libtls matches names (subjectAltName, else the CN); the CN as text is
 * only for saying who an unknown peer claims to be.
 */
static int
link_verified(struct link *l)
{
	struct peer	*p, *match = NULL;
	char		 cn[RPC_NAMEMAX];
	int		 n = 0;

	if (tlsutil_peer_cn(l->tls, cn, sizeof(cn)) == -1)
		(void)strlcpy(cn, "?", sizeof(cn));
	if (l->inbound) {
		TAILQ_FOREACH(p, &env.peers, entry)
			if (tls_peer_cert_contains_name(l->tls, p->name) ==
			    1) {
				match = p;
				n++;
			}
		if (n == 0) {
			if (strcmp(cn, "?") == 0)
				link_close(l, 1, "certificate has no valid "
				    "operator name");
			else
				link_close(l, 1, "operator %s not configured",
				    cn);
			return (-1);
		}
		if (n > 1) {
			link_close(l, 1, "certificate names more than one "
			    "operator");
			return (-1);
		}
		(void)strlcpy(l->op, match->name, sizeof(l->op));
	} else if (tls_peer_cert_contains_name(l->tls, l->op) != 1) {
		link_close(l, 1, "certificate is for operator %s", cn);
		return (-1);
	}
	(void)strlcpy(cn, l->op, sizeof(cn));
	log_debug("%s link %s %s: %s verified as %s", tls_conn_version(l->tls),
	    l->inbound ? "from" : "to", l->addr, tls_conn_cipher(l->tls), cn);
	l->state = LINK_HELLO;
	l->rwant = l->wwant = 0;
	if (link_send(l, EPS_FRAME_PING, NULL, 0) == -1) {
		link_close(l, 0, "cannot send");
		return (-1);
	}
	return (0);
}

/* Of two crossing links, the one the operator sorting last dialled wins. */
static int
link_wins(const struct link *l)
{
	int	 ours = strcmp(env.conf->operator, l->op) > 0;

	return (l->inbound ? !ours : ours);
}

/* The first frame came: the link is up, unless another one wins. */
static int
link_up(struct link *l)
{
	struct peer	*p;
	struct link	*old;

	if ((p = peer_find(l->op)) == NULL) {
		link_close(l, 1, "operator %s not configured", l->op);
		return (-1);
	}
	if ((old = p->link) != NULL) {
		/* crossing links: both ends keep the same one */
		if (old->inbound != l->inbound && !link_wins(l)) {
			log_debug("link %s %s: %s has a link that wins",
			    l->inbound ? "from" : "to", l->addr, l->op);
			if (p->dial == l)
				p->dial = NULL;
			link_free(l);
			return (-1);
		}
		link_close(old, 0, "replaced by a new link");
	}
	if (l->inbound)
		hs_release(l);
	if (p->dial == l)
		p->dial = NULL;
	l->state = LINK_UP;
	p->link = l;
	p->backoff = EPSD_BACKOFF_MIN;
	if (p->redial != NULL)
		evtimer_del(p->redial);
	log_info("link to %s up (%s %s)", p->name, l->inbound ?
	    "inbound from" : "outbound to", l->addr);
	to_router(IMSG_LINK_UP, p->name, NULL, 0);
	return (0);
}

/* Frames in the input buffer; -1 when the link was closed. */
static int
link_frames(struct link *l)
{
	struct frame_hdr	 hdr;
	const uint8_t		*payload;
	const char		*why = NULL;
	enum frame_status	 st;

	for (;;) {
		st = frame_next(l->in, EPSD_MSGMAX, &hdr, &payload, &why);
		if (st == FRAME_SHORT)
			return (0);
		if (st == FRAME_BAD) {
			link_close(l, 0, "%s", why);
			return (-1);
		}
		if (hdr.flags != 0) {
			link_close(l, 0, "frame with flags 0x%x", hdr.flags);
			return (-1);
		}
		if (hdr.type != EPS_FRAME_RPC && hdr.type != EPS_FRAME_PING &&
		    hdr.type != EPS_FRAME_PONG) {
			log_warnx("link %s %s (%s): unexpected frame type %u",
			    l->inbound ? "from" : "to", l->addr, l->op,
			    hdr.type);
			link_close(l, 0, "unexpected frame type %u",
			    hdr.type);
			return (-1);
		}
		if (l->state == LINK_HELLO && link_up(l) == -1)
			return (-1);
		switch (hdr.type) {
		case EPS_FRAME_PING:
			if (link_send(l, EPS_FRAME_PONG, NULL, 0) == -1) {
				link_close(l, 0, "output queue full");
				return (-1);
			}
			break;
		case EPS_FRAME_PONG:
			break;
		case EPS_FRAME_RPC:
			to_router(IMSG_LINK_MSG, l->op, payload, hdr.len);
			break;
		}
		frame_drain(l->in, &hdr);
	}
}

static int
link_read(struct link *l)
{
	uint8_t		 buf[LINK_READSZ];
	ssize_t		 n;
	int		 i;

	l->rwant = 0;
	for (i = 0; i < LINK_READS; i++) {
		n = tls_read(l->tls, buf, sizeof(buf));
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			l->rwant = (int)n;
			return (0);
		}
		if (n == -1) {
			link_close(l, 0, "%s", tlserr(l->tls));
			return (-1);
		}
		if (n == 0) {
			link_close(l, 0, "connection closed");
			return (-1);
		}
		l->lastrecv = now();
		l->rbytes += (uint64_t)n;
		if (evbuffer_add(l->in, buf, (size_t)n) == -1) {
			link_close(l, 0, "out of memory");
			return (-1);
		}
		if (link_frames(l) == -1)
			return (-1);
	}
	/* more may wait inside TLS: come back after the others */
	event_active(l->rev, EV_READ, 1);
	l->rwant = TLS_WANT_POLLIN;
	return (0);
}

static int
link_write(struct link *l)
{
	ssize_t		 n;
	size_t		 len;
	uint8_t		*p;

	l->wwant = 0;
	while ((len = evbuffer_get_length(l->out)) > 0) {
		len = MINIMUM(len, LINK_READSZ);
		if ((p = evbuffer_pullup(l->out, (ev_ssize_t)len)) == NULL) {
			link_close(l, 0, "out of memory");
			return (-1);
		}
		n = tls_write(l->tls, p, len);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			l->wwant = (int)n;
			return (0);
		}
		if (n == -1) {
			link_close(l, 0, "%s", tlserr(l->tls));
			return (-1);
		}
		evbuffer_drain(l->out, (size_t)n);
		l->wbytes += (uint64_t)n;
	}
	return (0);
}

static void
link_io(struct link *l)
{
	int	 r;

	if (l->state == LINK_HANDSHAKE) {
		r = tls_handshake(l->tls);
		if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
			l->hswant = r;
			link_arm(l);
			return;
		}
		if (r == -1) {
			link_close(l, 1, "TLS handshake failed: %s",
			    tlserr(l->tls));
			return;
		}
		l->shaken = 1;
		if (link_verified(l) == -1)
			return;
	}
	if (l->state == LINK_CONNECT) {
		link_arm(l);
		return;
	}
	if (link_write(l) == -1 || link_read(l) == -1)
		return;
	link_arm(l);
}

/*
 * Inbound links.
 */

static void
listener_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct listener	*li = arg;

	event_add(li->ev, NULL);
}

static struct hsource *
hs_find(const char *key)
{
	struct hsource	 k;

	(void)strlcpy(k.key, key, sizeof(k.key));
	return (RB_FIND(hsources, &env.sources, &k));
}

/* Give l, an inbound link just made, its slot; -1 on ENOMEM. */
static int
hs_take(struct link *l, const char *key)
{
	struct hsource	*s;

	if ((s = hs_find(key)) == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return (-1);
		(void)strlcpy(s->key, key, sizeof(s->key));
		TAILQ_INIT(&s->links);
		RB_INSERT(hsources, &env.sources, s);
		env.nsources++;
	}
	TAILQ_INSERT_TAIL(&s->links, l, srcentry);
	s->n++;
	l->src = s;
	l->seq = env.hseq++;
	return (0);
}

/*
 * Make room for a handshake from source key, by the rules at the top of
 * this file: 0, or -1 when the newcomer is to be refused.
 */
static int
hs_admit(const char *key)
{
	struct hsource	*mine, *s, *most = NULL, *oldest = NULL;
	struct link	*l;
	int		 share;

	mine = hs_find(key);
	if (mine != NULL && mine->n >= EPSD_HANDSHAKES_ADDR) {
		link_close(TAILQ_FIRST(&mine->links), 1, "dropped: too many "
		    "handshakes under way from %s", key);
		return (0);
	}
	if (env.handshakes < EPSD_HANDSHAKES_MAX)
		return (0);
	share = EPSD_HANDSHAKES_MAX / (env.nsources + (mine == NULL));
	if (share < 1)
		share = 1;
	RB_FOREACH(s, hsources, &env.sources) {
		if (most == NULL || s->n > most->n || (s->n == most->n &&
		    TAILQ_FIRST(&s->links)->seq <
		    TAILQ_FIRST(&most->links)->seq))
			most = s;
		if (oldest == NULL || TAILQ_FIRST(&s->links)->seq <
		    TAILQ_FIRST(&oldest->links)->seq)
			oldest = s;
	}
	if (most == NULL)
		return (-1);		/* slots held by links not counted */
	if (most->n > share) {
		link_close(TAILQ_FIRST(&most->links), 1, "dropped: too many "
		    "handshakes under way from %s", most->key);
		return (0);
	}
	l = TAILQ_FIRST(&oldest->links);
	if (now() - l->started >= HS_GRACE) {
		link_close(l, 1, "dropped: too many handshakes under way, "
		    "this one for %d s", (int)(now() - l->started));
		return (0);
	}
	return (-1);
}

static void
listener_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct listener		*li = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	struct link		*l;
	socklen_t		 len;
	char			 addr[NET_ADDRSTRLEN], key[NET_SOURCELEN];
	int			 fd, i;

	for (i = 0; i < 16; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on %s", li->addr);
				event_del(li->ev);
				evtimer_add(li->pause, &tv);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on %s", li->addr);
			return;
		}
		(void)net_ntop((struct sockaddr *)&ss, addr, sizeof(addr));
		if (env.server == NULL) {
			log_limited(&refuse_limit, "refused link from %s: "
			    "no TLS configuration", addr);
			close(fd);
			continue;
		}
		if (net_source_key((struct sockaddr *)&ss, key,
		    sizeof(key)) == -1) {
			log_limited(&refuse_limit, "refused link from %s: "
			    "not an IP address", addr);
			close(fd);
			continue;
		}
		if (hs_admit(key) == -1) {
			log_limited(&refuse_limit, "refused link from %s: "
			    "every handshake slot taken, by sources within "
			    "their share", addr);
			close(fd);
			continue;
		}
		net_tune(fd);
		if ((l = link_new(fd, 1, addr)) == NULL) {
			log_warn("%s", __func__);
			close(fd);
			continue;
		}
		if (hs_take(l, key) == -1) {
			log_warn("%s", __func__);
			link_free(l);
			continue;
		}
		if (tls_accept_socket(env.server, &l->tls, fd) == -1) {
			link_close(l, 1, "TLS: %s", tlserr(env.server));
			continue;
		}
		l->state = LINK_HANDSHAKE;
		l->hswant = TLS_WANT_POLLIN;
		link_arm(l);
		log_debug("connection from %s on %s", addr, li->addr);
	}
}

static void
listeners_close(void)
{
	int	 i;

	for (i = 0; i < env.nlisteners; i++) {
		event_free(env.listeners[i].ev);
		event_free(env.listeners[i].pause);
		close(env.listeners[i].fd);
	}
	env.nlisteners = 0;
}

/* The sockets of the new round replace the old ones (the same ones). */
static void
listeners_apply(void)
{
	struct listener	*li;
	int		 i;

	listeners_close();
	for (i = 0; i < env.nnlfds; i++) {
		li = &env.listeners[env.nlisteners];
		li->fd = env.nlfds[i];
		(void)strlcpy(li->addr, env.nladdr[i], sizeof(li->addr));
		if (net_nonblock(li->fd) == -1 ||
		    (li->ev = event_new(env.ps->base, li->fd,
		    EV_READ | EV_PERSIST, listener_accept, li)) == NULL ||
		    (li->pause = evtimer_new(env.ps->base, listener_resume,
		    li)) == NULL)
			fatal("%s", __func__);
		event_add(li->ev, NULL);
		env.nlisteners++;
		log_debug("listening on %s", li->addr);
	}
	env.nnlfds = 0;
}

/*
 * Outbound links.
 */

static void
peer_redial(evutil_socket_t fd, short ev, void *arg)
{
	peer_dial(arg);
}

static void
peer_schedule(struct peer *p)
{
	struct timeval	 tv;
	unsigned int	 ms;

	if (p->nconnect == 0 || p->link != NULL || p->dial != NULL ||
	    evtimer_pending(p->redial, NULL))
		return;
	/* jitter: between half the back-off and the whole of it */
	ms = p->backoff / 2 + arc4random_uniform(p->backoff / 2 + 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(p->redial, &tv);
	log_debug("redialling %s in %u ms", p->name, ms);
	p->backoff = MINIMUM(p->backoff * 2, EPSD_BACKOFF_MAX);
}

static void
peer_dial(struct peer *p)
{
	struct net_addr	*a;
	struct link	*l;
	char		 addr[NET_ADDRSTRLEN];
	int		 fd;

	if (p->nconnect == 0 || p->link != NULL || p->dial != NULL ||
	    env.ccfg == NULL)
		return;
	a = &p->connect[p->next % p->nconnect];
	(void)net_addrstr(a, addr, sizeof(addr));
	if ((fd = net_connect(a)) == -1) {
		log_warn("cannot link to %s at %s", p->name, addr);
		p->next++;
		peer_schedule(p);
		return;
	}
	if ((l = link_new(fd, 0, addr)) == NULL) {
		log_warn("%s", __func__);
		close(fd);
		peer_schedule(p);
		return;
	}
	(void)strlcpy(l->op, p->name, sizeof(l->op));
	l->state = LINK_CONNECT;
	p->dial = l;
	link_arm(l);
	log_debug("dialling %s at %s", p->name, addr);
}

static void
peer_free(struct peer *p)
{
	if (p->link != NULL)
		link_close(p->link, 0, "operator no longer configured");
	if (p->dial != NULL)
		link_close(p->dial, 0, "operator no longer configured");
	TAILQ_REMOVE(&env.peers, p, entry);
	evtimer_del(p->redial);
	event_free(p->redial);
	free(p);
}

/*
 * Heartbeats and timeouts, once a second for all links.
 */

static void
peer_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct link	*l, *next;
	time_t		 t = now();
	unsigned int	 hb = env.conf != NULL ? env.conf->heartbeat :
			    EPSD_HEARTBEAT;

	TAILQ_FOREACH_SAFE(l, &env.links, entry, next) {
		if (l->state != LINK_UP) {
			if (t - l->started < EPSD_HANDSHAKE)
				continue;
			if (l->state == LINK_HANDSHAKE)
				link_close(l, 1, "TLS handshake timed out");
			else if (l->state == LINK_HELLO)
				link_close(l, 0, "no greeting in %d s",
				    EPSD_HANDSHAKE);
			else
				link_close(l, 0, "connect timed out");
			continue;
		}
		if (t - l->lastrecv >= (time_t)(EPSD_HEARTBEAT_MISS * hb)) {
			link_close(l, 0, "heartbeat timeout");
			continue;
		}
		/*
		 * Ping when we have sent nothing, or heard nothing, for a
		 * heartbeat: the answer keeps the link alive here whatever
		 * heartbeat the other end uses.
		 */
		if ((t - l->lastsend >= (time_t)hb ||
		    t - l->lastrecv >= (time_t)hb) &&
		    t - l->lastping >= (time_t)hb) {
			l->lastping = t;
			if (link_send(l, EPS_FRAME_PING, NULL, 0) == -1)
				link_close(l, 0, "output queue full");
		}
	}
}

/*
 * Messages to and from the router.
 */

static void
to_router(uint16_t type, const char *op, const void *msg, size_t len)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, type == IMSG_LINK_MSG ? 2 : 1);
	mp_pack_kstr(&m.pk, "operator", op);
	if (type == IMSG_LINK_MSG)
		mp_pack_kbin(&m.pk, "msg", msg, len);
	if (proc_send_mp(env.ps, PROC_ROUTER, 0, type, 0, -1, &m) == -1 &&
	    errno != ENOTCONN)
		log_limited(&refuse_limit, "%s: message for %s dropped: %s",
		    __func__, op, strerror(errno));
	mp_out_free(&m);
}

static void
router_msg(struct frame *f)
{
	struct mp_doc		 d;
	const msgpack_object	*msg;
	struct peer		*p;
	char			 op[RPC_NAMEMAX];

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "operator", op, sizeof(op)) == -1 ||
	    (msg = mp_map_get(d.root, "msg")) == NULL ||
	    msg->type != MSGPACK_OBJECT_BIN) {
		log_warnx("%s: malformed message from the router", __func__);
		mp_free(&d);
		return;
	}
	if (msg->via.bin.size > EPSD_MSGMAX) {
		log_warnx("%s: message of %u bytes for %s too large", __func__,
		    msg->via.bin.size, op);
	} else if ((p = peer_find(op)) == NULL || p->link == NULL)
		to_router(IMSG_LINK_DOWN, op, NULL, 0);
	else if (link_send(p->link, EPS_FRAME_RPC, msg->via.bin.ptr,
	    msg->via.bin.size) == -1)
		link_close(p->link, 0, "output queue full");
	mp_free(&d);
}

/*
 * Configuration.
 */

static void
cfg_tls(struct frame *f)
{
	struct mp_doc		 d;
	const msgpack_object	*o;
	struct tlsutil_mem	*m = &env.ntls;
	const char		*keys[] = { "cert", "key", "ca" };
	uint8_t			**bufs[] = { &m->cert, &m->key, &m->ca };
	size_t			*lens[] = { &m->certlen, &m->keylen,
				    &m->calen };
	size_t			 i;

	tlsutil_mem_free(m);
	if (mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: malformed", __func__);
		return;
	}
	for (i = 0; i < nitems(keys); i++) {
		o = mp_map_get(d.root, keys[i]);
		if (o == NULL || o->type != MSGPACK_OBJECT_BIN ||
		    o->via.bin.size == 0 ||
		    (*bufs[i] = malloc(o->via.bin.size)) == NULL) {
			log_warnx("%s: bad %s", __func__, keys[i]);
			tlsutil_mem_free(m);
			break;
		}
		memcpy(*bufs[i], o->via.bin.ptr, o->via.bin.size);
		*lens[i] = o->via.bin.size;
	}
	mp_free(&d);
}

static void
tls_apply(void)
{
	struct tls_config	*scfg, *ccfg;
	struct tls		*server;
	char			 why[512];

	if (env.ntls.cert == NULL)
		return;
	scfg = tlsutil_config(&env.ntls, 1, why, sizeof(why));
	ccfg = scfg != NULL ? tlsutil_config(&env.ntls, 0, why, sizeof(why)) :
	    NULL;
	/* the key stays in the configurations, not in this copy */
	if (env.ntls.key != NULL)
		explicit_bzero(env.ntls.key, env.ntls.keylen);
	tlsutil_mem_free(&env.ntls);
	if (ccfg == NULL) {
		log_warnx("TLS configuration not changed: %s", why);
		if (scfg != NULL)
			tls_config_free(scfg);
		return;
	}
	if ((server = tls_server()) == NULL ||
	    tls_configure(server, scfg) == -1) {
		log_warnx("TLS configuration not changed: %s",
		    server != NULL ? tlserr(server) : "tls_server failed");
		if (server != NULL)
			tls_free(server);
		tls_config_free(scfg);
		tls_config_free(ccfg);
		return;
	}
	/* contexts made from the old ones keep a reference of their own */
	if (env.server != NULL)
		tls_free(env.server);
	if (env.scfg != NULL)
		tls_config_free(env.scfg);
	if (env.ccfg != NULL)
		tls_config_free(env.ccfg);
	env.server = server;
	env.scfg = scfg;
	env.ccfg = ccfg;
	log_debug("TLS configuration loaded");
}

static void
peers_apply(void)
{
	struct epsd_peer	*cp;
	struct peer		*p, *next;
	struct link		*l, *lnext;
	int			 changed;

	TAILQ_FOREACH(p, &env.peers, entry)
		p->seen = 0;
	TAILQ_FOREACH(cp, &env.conf->peers, entry) {
		if ((p = peer_find(cp->name)) == NULL) {
			if ((p = calloc(1, sizeof(*p))) == NULL ||
			    (p->redial = evtimer_new(env.ps->base, peer_redial,
			    p)) == NULL)
				fatal("%s", __func__);
			(void)strlcpy(p->name, cp->name, sizeof(p->name));
			p->backoff = EPSD_BACKOFF_MIN;
			TAILQ_INSERT_TAIL(&env.peers, p, entry);
		}
		p->seen = 1;
		changed = p->nconnect != cp->nconnect ||
		    memcmp(p->connect, cp->connect,
		    sizeof(p->connect[0]) * (size_t)cp->nconnect) != 0;
		if (!changed)
			continue;
		if (p->dial != NULL)
			link_close(p->dial, 0, "connect address changed");
		memcpy(p->connect, cp->connect, sizeof(p->connect));
		p->nconnect = cp->nconnect;
		p->next = 0;
		p->backoff = EPSD_BACKOFF_MIN;
		evtimer_del(p->redial);
	}
	TAILQ_FOREACH_SAFE(p, &env.peers, entry, next)
		if (!p->seen)
			peer_free(p);
	/* inbound links not up yet from operators no longer configured */
	TAILQ_FOREACH_SAFE(l, &env.links, entry, lnext)
		if (l->op[0] != '\0' && peer_find(l->op) == NULL)
			link_close(l, 0, "operator no longer configured");
	TAILQ_FOREACH(p, &env.peers, entry)
		if (!evtimer_pending(p->redial, NULL))
			peer_dial(p);
}

static void
cfg_done(void)
{
	struct link	*l;
	time_t		 t = now();

	if (env.nconf == NULL) {
		log_warnx("%s: no configuration in this round", __func__);
		return;
	}
	/* a new heartbeat: give every link a full period of it */
	if (env.conf != NULL && env.conf->heartbeat != env.nconf->heartbeat)
		TAILQ_FOREACH(l, &env.links, entry)
			l->lastrecv = l->lastping = t;
	config_free(env.conf);
	env.conf = env.nconf;
	env.nconf = NULL;
	tls_apply();
	if (env.nnlfds > 0)
		listeners_apply();
	peers_apply();
	log_debug("configuration applied: operator %s", env.conf->operator);
}

static void
cfg_listen(struct frame *f)
{
	struct mp_doc	 d;

	if (f->fd == -1 || env.nnlfds >= EPSD_MAXLISTEN) {
		log_warnx("%s: bad listening socket", __func__);
		return;
	}
	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "addr", env.nladdr[env.nnlfds],
	    sizeof(env.nladdr[0])) == -1)
		(void)strlcpy(env.nladdr[env.nnlfds], "?",
		    sizeof(env.nladdr[0]));
	mp_free(&d);
	env.nlfds[env.nnlfds++] = f->fd;
	f->fd = -1;
}

/*
 * The end of a configuration round.  The TLS files are tried first, so
 * that a round libtls refuses changes nothing: the links, the peers and
 * the TLS context stay as they were.
 */
int
session_config(struct privsep *ps, void *nconf, char *why, size_t whylen)
{
	struct tls_config	*scfg = NULL;
	struct tls		*server = NULL;
	char			 e[256];
	int			 i, ret = -1;

	if (nconf == NULL)
		goto done;
	if (env.ntls.cert == NULL) {
		(void)snprintf(why, whylen, "tls: no certificate in the round");
		goto done;
	}
	if ((scfg = tlsutil_config(&env.ntls, 1, e, sizeof(e))) == NULL) {
		(void)snprintf(why, whylen, "tls: %s", e);
		goto done;
	}
	if ((server = tls_server()) == NULL ||
	    tls_configure(server, scfg) == -1) {
		(void)snprintf(why, whylen, "tls: %s", server != NULL ?
		    tlserr(server) : "tls_server failed");
		goto done;
	}
	config_free(env.nconf);
	env.nconf = nconf;
	cfg_done();
	ret = 0;
 done:
	if (server != NULL)
		tls_free(server);
	if (scfg != NULL)
		tls_config_free(scfg);
	if (ret == -1) {
		if (env.ntls.key != NULL)
			explicit_bzero(env.ntls.key, env.ntls.keylen);
		tlsutil_mem_free(&env.ntls);
	}
	/* listening sockets of a round that failed are not kept */
	for (i = 0; i < env.nnlfds; i++)
		close(env.nlfds[i]);
	env.nnlfds = 0;
	return (ret);
}

void
session_dispatch(struct privsep *ps, struct proc_chan *from, struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_CFG_TLS:
		if (from->id != PROC_PARENT)
			break;
		cfg_tls(f);
		return;
	case IMSG_CFG_LISTEN:
		if (from->id != PROC_PARENT)
			break;
		cfg_listen(f);
		return;
	case IMSG_LINK_MSG:
		if (from->id != PROC_ROUTER)
			break;
		router_msg(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(ps, from->id));
}

/* The router (re)started: tell it which links are up. */
void
session_chan_event(struct privsep *ps, struct proc_chan *p, int up)
{
	struct peer	*pe;

	if (!up || p->id != PROC_ROUTER)
		return;
	TAILQ_FOREACH(pe, &env.peers, entry)
		if (pe->link != NULL)
			to_router(IMSG_LINK_UP, pe->name, NULL, 0);
}

/* On the way out, a close_notify on every link, so peers see an end. */
static void
peer_shutdown(void)
{
	struct link	*l;

	TAILQ_FOREACH(l, &env.links, entry)
		if (l->shaken)
			(void)tls_close(l->tls);
}

void
session_init(struct privsep *ps)
{
	struct timeval	 tv = { 1, 0 };

	env.ps = ps;
	if (atexit(peer_shutdown) != 0)
		fatal("atexit");
	TAILQ_INIT(&env.peers);
	TAILQ_INIT(&env.links);
	RB_INIT(&env.sources);
	if ((env.tick = event_new(ps->base, -1, EV_PERSIST, peer_tick,
	    NULL)) == NULL || event_add(env.tick, &tv) == -1)
		fatalx("%s: timer", __func__);
}

/*
 * Operations: links, their numbers.
 */

struct session_stats	 session_stats;

/* Why an inbound link is refused, as the metrics label it. */
static const struct metric_reason refusals[] = {	/* link_close()'s */
	{ "dropped: too many handshakes", "handshake_slots" },
	{ "TLS handshake timed out", "handshake_timeout" },
	{ "TLS handshake failed", "tls_handshake" },
	{ "TLS:", "tls" },
	{ "certificate", "certificate" },
	{ "operator", "unknown_operator" },
	{ "", "other" },
};
/* a table longer than session_stats.refused fails to compile */
typedef char refusals_fit[nitems(refusals) <= SESSION_REFUSALS ? 1 : -1];

void
session_refused(const char *why)
{
	session_stats.refused[metrics_reason(refusals, nitems(refusals),
	    why)]++;
}

static const char *
link_state_name(const struct link *l)
{
	switch (l->state) {
	case LINK_CONNECT:
		return ("connect");
	case LINK_HANDSHAKE:
		return ("handshake");
	case LINK_HELLO:
		return ("hello");
	case LINK_UP:
		return ("up");
	}
	return ("?");
}

void
session_metrics(struct privsep *ps, struct metrics *m)
{
	static const char *const states[] = {
		"connect", "handshake", "hello", "up"
	};
	struct metric_label	 l;
	struct peer		*p;
	struct link		*k;
	uint64_t		 in = session_stats.bytes_in;
	uint64_t		 out = session_stats.bytes_out;
	size_t			 i;

	(void)metrics_declare(m, "epsd_link_up", METRIC_GAUGE,
	    "1 while the link to a configured peer is up, else 0.");
	l.name = "peer";
	TAILQ_FOREACH(p, &env.peers, entry) {
		l.value = p->name;
		(void)metrics_add(m, "epsd_link_up", &l, 1, p->link != NULL);
	}
	(void)metrics_declare(m, "epsd_links", METRIC_GAUGE,
	    "Links open, by state: being dialled, in their TLS handshake, "
	    "verified and waiting for the first frame, up.");
	l.name = "state";
	for (i = 0; i < nitems(states); i++) {
		l.value = states[i];
		(void)metrics_add(m, "epsd_links", &l, 1, 0);
	}
	TAILQ_FOREACH(k, &env.links, entry) {
		l.value = link_state_name(k);
		(void)metrics_add(m, "epsd_links", &l, 1, 1);
		in += k->rbytes;
		out += k->wbytes;
	}
	(void)metrics_declare(m, "epsd_links_accepted_total", METRIC_COUNTER,
	    "Inbound connections accepted on the peer port.");
	(void)metrics_add(m, "epsd_links_accepted_total", NULL, 0,
	    (double)session_stats.accepted);
	(void)metrics_declare(m, "epsd_links_refused_total", METRIC_COUNTER,
	    "Inbound links refused before they were up, by reason.");
	(void)metrics_add_reasons(m, "epsd_links_refused_total", refusals,
	    nitems(refusals), session_stats.refused);
	(void)metrics_declare(m, "epsd_link_bytes_total", METRIC_COUNTER,
	    "Bytes carried by the links inside TLS: in from the peers, out "
	    "to them.");
	l.name = "direction";
	l.value = "in";
	(void)metrics_add(m, "epsd_link_bytes_total", &l, 1, (double)in);
	l.value = "out";
	(void)metrics_add(m, "epsd_link_bytes_total", &l, 1, (double)out);
}

static void
pack_link(msgpack_packer *pk, const struct peer *p, const struct link *k,
    time_t t, int links)
{
	msgpack_pack_map(pk, links ? 7 : 6);
	if (links) {
		mp_pack_kstr(pk, "peer", p != NULL ? p->name : "");
		mp_pack_kstr(pk, "state", k != NULL ? link_state_name(k) :
		    p->redial != NULL && evtimer_pending(p->redial, NULL) ?
		    "redial" : "down");
		mp_pack_str(pk, "direction");
		if (k != NULL)
			mp_pack_str(pk, k->inbound ? "inbound" : "outbound");
		else
			msgpack_pack_nil(pk);
	} else {
		mp_pack_kstr(pk, "client", k->addr);
		mp_pack_str(pk, "name");
		if (k->op[0] != '\0')
			mp_pack_str(pk, k->op);
		else
			msgpack_pack_nil(pk);
		mp_pack_kstr(pk, "state", link_state_name(k));
	}
	if (links) {
		mp_pack_str(pk, "address");
		if (k != NULL)
			mp_pack_str(pk, k->addr);
		else
			msgpack_pack_nil(pk);
	}
	mp_pack_str(pk, "age");
	if (k != NULL)
		msgpack_pack_uint64(pk, (uint64_t)(t - k->started));
	else
		msgpack_pack_nil(pk);
	mp_pack_str(pk, "bytes_in");
	if (k != NULL)
		msgpack_pack_uint64(pk, k->rbytes);
	else
		msgpack_pack_nil(pk);
	mp_pack_str(pk, "bytes_out");
	if (k != NULL)
		msgpack_pack_uint64(pk, k->wbytes);
	else
		msgpack_pack_nil(pk);
}

int
session_control(struct privsep *ps, uint32_t ref, const char *cmd,
    int argc, char **argv, char *why, size_t whylen)
{
	struct proc_rows	 rows;
	struct peer		*p;
	struct link		*k;
	time_t			 t = now();

	proc_rows_init(&rows, ps, ref);
	if (strcmp(cmd, "show links") == 0) {
		/* every configured peer, with its link or none */
		TAILQ_FOREACH(p, &env.peers, entry)
			pack_link(proc_rows_add(&rows), p, p->link != NULL ?
			    p->link : p->dial, t, 1);
	} else if (strcmp(cmd, "show connections") == 0) {
		TAILQ_FOREACH(k, &env.links, entry)
			pack_link(proc_rows_add(&rows), NULL, k, t, 0);
	} else {
		(void)proc_rows_end(&rows);
		(void)snprintf(why, whylen, "%s: not a session command", cmd);
		return (-1);
	}
	if (proc_rows_end(&rows) == -1) {
		(void)strlcpy(why, "the parent did not take the list", whylen);
		return (-1);
	}
	return (0);
}
