/*
 * listener.c: the listener process of proxyd (one per prefork).
 *
 * It owns the public and backchannel sockets of its instance, every
 * client connection accepted on them and the token of each client that
 * waits for its private proxy.  A client goes through these states:
 *
 *	HELLO	reading the ClientHello, under the handshake timeout
 *	ROUTE	the matcher is looking up the SNI name
 *	WAIT	a token was issued; waiting for the backchannel, under the
 *		token timeout
 *	SEND	writing the bytes read so far to the backchannel
 *	RELAY	spliced to the backchannel until both sides are done
 *
 * A backchannel connection sends a preamble (magic, version, token).
 * When the token belongs to a client of this listener, the two are
 * joined here; otherwise the socket goes to the matcher, which knows
 * which listener issued the token and hands it on.  Tokens are found by
 * their first eight bytes and then compared whole in constant time.
 */

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "clienthello.h"
#include "log.h"
#include "proxyd.h"
#include "splice.h"

#define HELLO_BUF0	2048	/* first ClientHello buffer */

enum conn_state {
	C_HELLO,
	C_ROUTE,
	C_WAIT,
	C_SEND,
	C_RELAY,
};

struct conn {
	RB_ENTRY(conn)		 idnode;
	RB_ENTRY(conn)		 toknode;
	uint32_t		 id;
	enum conn_state		 state;
	int			 fd;
	int			 bcfd;
	struct event		*ev;		/* read, then bc write */
	struct event		*timer;
	uint8_t			*buf;		/* bytes read from the client */
	size_t			 len;
	size_t			 cap;
	size_t			 sent;		/* of buf, to the backchannel */
	uint64_t		 tokkey;
	uint8_t			 token[EPS_TOKEN_LEN];
	struct splice		*sp;
	char			 name[DNAME_MAX + 1];
	char			 client[NET_ADDRSTRLEN];
	char			 server[NET_ADDRSTRLEN];
	time_t			 started;
};

struct bconn {
	TAILQ_ENTRY(bconn)	 entry;
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	uint8_t			 pre[BC_PREAMBLE_LEN];
	size_t			 have;
	char			 addr[NET_ADDRSTRLEN];
};

struct lsock {
	TAILQ_ENTRY(lsock)	 entry;
	int			 fd;
	int			 backchannel;
	struct event		*ev;
};

RB_HEAD(conn_ids, conn);
RB_HEAD(conn_toks, conn);
TAILQ_HEAD(bconns, bconn);
TAILQ_HEAD(lsocks, lsock);

static int	conn_idcmp(struct conn *, struct conn *);
static int	conn_tokcmp(struct conn *, struct conn *);
RB_GENERATE_STATIC(conn_ids, conn, idnode, conn_idcmp)
RB_GENERATE_STATIC(conn_toks, conn, toknode, conn_tokcmp)

static struct privsep		*ps;
static struct proxyd_conf	*conf;
static struct conn_ids		 conns = RB_INITIALIZER(&conns);
static struct conn_toks		 tokens = RB_INITIALIZER(&tokens);
static struct bconns		 bconns = TAILQ_HEAD_INITIALIZER(bconns);
static struct lsocks		 lsocks = TAILQ_HEAD_INITIALIZER(lsocks);
static uint32_t			 nextid;
static unsigned int		 nconns;
static unsigned int		 nbconns;
static struct event		*pause_ev;
static int			 paused;	/* out of descriptors */
static struct log_limit		 refused_limit = LOG_LIMIT_INITIALIZER(10);

static void	conn_close(struct conn *, int alert, const char *why);
static void	conn_read(evutil_socket_t, short, void *);
static void	conn_timeout(evutil_socket_t, short, void *);
static void	conn_join(struct conn *, int bcfd);
static void	bconn_free(struct bconn *, int closefd);

static int
conn_idcmp(struct conn *a, struct conn *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

static int
conn_tokcmp(struct conn *a, struct conn *b)
{
	return (a->tokkey < b->tokkey ? -1 : a->tokkey > b->tokkey);
}

static uint64_t
token_key(const uint8_t *tok)
{
	uint64_t	 k;

	memcpy(&k, tok, sizeof(k));
	return (k);
}

static struct conn *
token_find(const uint8_t *tok)
{
	struct conn	 key, *c;

	key.tokkey = token_key(tok);
	c = RB_FIND(conn_toks, &tokens, &key);
	if (c == NULL || timingsafe_bcmp(c->token, tok, EPS_TOKEN_LEN) != 0)
		return (NULL);
	return (c);
}

static void
timer_set(struct event *ev, unsigned int sec)
{
	struct timeval	 tv = { sec, 0 };

	evtimer_add(ev, &tv);
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

static void
token_done(struct conn *c, int used)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kbin(&m.pk, "token", c->token, EPS_TOKEN_LEN);
	mp_pack_kbool(&m.pk, "used", used);
	(void)proc_send_mp(ps, PROC_MATCHER, 0, IMSG_TOKEN_DONE, 0, -1, &m);
	mp_out_free(&m);
}

static void
conn_free(struct conn *c)
{
	if (c->state == C_WAIT) {
		RB_REMOVE(conn_toks, &tokens, c);
		token_done(c, 0);
	}
	RB_REMOVE(conn_ids, &conns, c);
	if (c->sp != NULL)
		splice_free(c->sp);		/* closes fd and bcfd */
	else {
		if (c->fd != -1)
			close(c->fd);
		if (c->bcfd != -1)
			close(c->bcfd);
	}
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->buf);
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
	nconns--;
}

/* Refuse a client: log the reason (rate limited), alert, close. */
static void
conn_close(struct conn *c, int alert, const char *why)
{
	if (why != NULL)
		listener_refused(why);
	if (why != NULL)
		log_limited(&refused_limit, "refused client %s: %s",
		    c->client, why);
	if (c->fd != -1 && c->sp == NULL)
		send_alert(c->fd, alert);
	conn_free(c);
}

static void
conn_route(struct conn *c)
{
	struct mp_out	 m;
	int		 r;

	c->state = C_ROUTE;
	event_del(c->ev);
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 3);
	mp_pack_kstr(&m.pk, "name", c->name);
	mp_pack_kstr(&m.pk, "client", c->client);
	mp_pack_kstr(&m.pk, "server", c->server);
	r = proc_send_mp(ps, PROC_MATCHER, 0, IMSG_ROUTE, c->id, -1, &m);
	mp_out_free(&m);
	if (r == -1)
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "matcher unavailable");
}

static void
conn_read(evutil_socket_t fd, short ev, void *arg)
{
	struct conn		*c = arg;
	struct ch_info		 info;
	enum ch_status		 st;
	uint8_t			*nb;
	size_t			 ncap;
	ssize_t			 n;
	char			 why[128];

	if (c->len == c->cap) {
		ncap = MINIMUM(c->cap * 2, CH_MAXLEN);
		if (ncap <= c->cap) {
			conn_close(c, TLS_ALERT_HANDSHAKE_FAILURE,
			    "ClientHello too long");
			return;
		}
		if ((nb = realloc(c->buf, ncap)) == NULL) {
			conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
			return;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	n = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("client %s: read: %s", c->client, strerror(errno));
		conn_free(c);
		return;
	}
	if (n == 0) {
		log_debug("client %s: closed before its ClientHello",
		    c->client);
		conn_free(c);
		return;
	}
	c->len += (size_t)n;
	st = ch_parse(c->buf, c->len, CH_MAXLEN, &info);
	switch (st) {
	case CH_MORE:
		return;
	case CH_OK:
		(void)strlcpy(c->name, info.sni, sizeof(c->name));
		conn_route(c);
		return;
	case CH_ERR_NOTTLS:
		conn_close(c, 0, "not a TLS ClientHello");
		return;
	case CH_ERR_NOSNI:
	case CH_ERR_BADNAME:
		conn_close(c, TLS_ALERT_UNRECOGNIZED_NAME, ch_strerror(st));
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
}

static void
conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	char		 why[DNAME_MAX + 64];

	switch (c->state) {
	case C_HELLO:
		conn_close(c, 0, "no ClientHello in time");
		break;
	case C_ROUTE:
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "no route in time");
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

static void
conn_splice_done(struct splice *sp, enum splice_end end, int error,
    void *arg)
{
	struct conn	*c = arg;

	if (end == SPLICE_ERROR)
		log_debug("client %s (%s): relay error: %s", c->client,
		    c->name, strerror(error));
	else
		log_debug("client %s (%s): %s, %llu bytes in, %llu out",
		    c->client, c->name, end == SPLICE_IDLE ? "idle timeout" :
		    "done", (unsigned long long)(c->len + splice_bytes(sp, 0)),
		    (unsigned long long)splice_bytes(sp, 1));
	listener_stats.bytes_in += c->len + splice_bytes(sp, 0);
	listener_stats.bytes_out += splice_bytes(sp, 1);
	conn_free(c);
}

static void
conn_start_relay(struct conn *c)
{
	struct timeval	 idle = { conf->to_idle, 0 };

	evtimer_del(c->timer);
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	free(c->buf);
	c->buf = NULL;
	c->sp = splice_start(ps->base, c->fd, c->bcfd,
	    conf->to_idle ? &idle : NULL, 0, conn_splice_done, c);
	if (c->sp == NULL) {
		log_limited(&refused_limit, "client %s: cannot relay: %s",
		    c->client, strerror(errno));
		conn_free(c);
		return;
	}
	c->state = C_RELAY;
}

/* Write what the client sent so far to the backchannel, then relay. */
static void
conn_send(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	ssize_t		 n;

	while (c->sent < c->len) {
		n = send(c->bcfd, c->buf + c->sent, c->len - c->sent,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR) {
				event_add(c->ev, NULL);
				return;
			}
			log_debug("client %s: backchannel write: %s",
			    c->client, strerror(errno));
			conn_close(c, TLS_ALERT_INTERNAL_ERROR, NULL);
			return;
		}
		c->sent += (size_t)n;
	}
	conn_start_relay(c);
}

static void
conn_join(struct conn *c, int bcfd)
{
	RB_REMOVE(conn_toks, &tokens, c);
	token_done(c, 1);
	c->state = C_SEND;
	c->bcfd = bcfd;
	net_tune(bcfd);
	event_free(c->ev);
	if ((c->ev = event_new(ps->base, bcfd, EV_WRITE, conn_send, c)) ==
	    NULL) {
		conn_close(c, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return;
	}
	timer_set(c->timer, conf->to_preamble);
	conn_send(bcfd, EV_WRITE, c);
}

static void
conn_new(int fd, const struct sockaddr_storage *ss)
{
	struct sockaddr_storage	 local;
	socklen_t		 sl = sizeof(local);
	struct conn		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->bcfd = -1;
	do {
		c->id = ++nextid;
	} while (c->id == 0 || RB_FIND(conn_ids, &conns, c) != NULL);
	RB_INSERT(conn_ids, &conns, c);
	nconns++;
	listener_stats.accepted++;
	c->started = proc_now();
	net_ntop((const struct sockaddr *)ss, c->client, sizeof(c->client));
	if (getsockname(fd, (struct sockaddr *)&local, &sl) == 0)
		net_ntop((struct sockaddr *)&local, c->server,
		    sizeof(c->server));
	net_tune(fd);
	c->cap = HELLO_BUF0;
	c->ev = event_new(ps->base, fd, EV_READ | EV_PERSIST, conn_read, c);
	c->timer = evtimer_new(ps->base, conn_timeout, c);
	if ((c->buf = malloc(c->cap)) == NULL || c->ev == NULL ||
	    c->timer == NULL || event_add(c->ev, NULL) == -1) {
		conn_free(c);
		return;
	}
	timer_set(c->timer, conf->to_handshake);
}

static void
bconn_free(struct bconn *b, int closefd)
{
	TAILQ_REMOVE(&bconns, b, entry);
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

static void
bconn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct bconn	*b = arg;

	log_limited(&refused_limit, "refused backchannel from %s: no "
	    "preamble in time", b->addr);
	bconn_free(b, 1);
}

static void
bconn_handoff(struct bconn *b, const uint8_t *tok)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kbin(&m.pk, "token", tok, EPS_TOKEN_LEN);
	mp_pack_kstr(&m.pk, "addr", b->addr);
	if (proc_send_mp(ps, PROC_MATCHER, 0, IMSG_BC_HANDOFF, 0, b->fd,
	    &m) == -1)
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "matcher unavailable", b->addr);
	mp_out_free(&m);
	b->fd = -1;		/* passed on, or closed by proc_send */
	bconn_free(b, 0);
}

static void
bconn_read(evutil_socket_t fd, short ev, void *arg)
{
	struct bconn	*b = arg;
	struct conn	*c;
	const uint8_t	*tok;
	ssize_t		 n;

	n = read(b->fd, b->pre + b->have, sizeof(b->pre) - b->have);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bconn_free(b, 1);
		return;
	}
	if (n == 0) {
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "closed before its preamble", b->addr);
		bconn_free(b, 1);
		return;
	}
	b->have += (size_t)n;
	if (b->have < sizeof(b->pre))
		return;
	if (memcmp(b->pre, BC_MAGIC, BC_MAGIC_LEN) != 0 ||
	    b->pre[BC_MAGIC_LEN] != BC_VERSION ||
	    b->pre[BC_MAGIC_LEN + 1] != 0 || b->pre[BC_MAGIC_LEN + 2] != 0 ||
	    b->pre[BC_MAGIC_LEN + 3] != 0) {
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "bad preamble", b->addr);
		bconn_free(b, 1);
		return;
	}
	tok = b->pre + BC_MAGIC_LEN + 4;
	if ((c = token_find(tok)) != NULL && c->state == C_WAIT) {
		conn_join(c, b->fd);
		b->fd = -1;
		bconn_free(b, 0);
		return;
	}
	bconn_handoff(b, tok);
}

static void
bconn_new(int fd, const struct sockaddr_storage *ss)
{
	struct bconn	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		close(fd);
		return;
	}
	b->fd = fd;
	TAILQ_INSERT_TAIL(&bconns, b, entry);
	nbconns++;
	listener_stats.bc_accepted++;
	net_ntop((const struct sockaddr *)ss, b->addr, sizeof(b->addr));
	b->ev = event_new(ps->base, fd, EV_READ | EV_PERSIST, bconn_read, b);
	b->timer = evtimer_new(ps->base, bconn_timeout, b);
	if (b->ev == NULL || b->timer == NULL || event_add(b->ev, NULL) == -1) {
		bconn_free(b, 1);
		return;
	}
	timer_set(b->timer, conf->to_preamble);
}

static void
accept_pause(int on)
{
	struct lsock	*l;

	paused = on;
	TAILQ_FOREACH(l, &lsocks, entry) {
		if (on)
			event_del(l->ev);
		else
			event_add(l->ev, NULL);
	}
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	accept_pause(0);
}

static void
lsock_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct lsock		*l = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 sl;
	int			 fd, i;

	for (i = 0; i < 64; i++) {
		sl = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_limited(&refused_limit, "accept: %s; "
				    "pausing for a second", strerror(errno));
				accept_pause(1);
				evtimer_add(pause_ev, &tv);
			}
			return;
		}
		if (l->backchannel) {
			if (nbconns >= conf->max_conns) {
				log_limited(&refused_limit, "refused "
				    "backchannel: limit of %u reached",
				    conf->max_conns);
				close(fd);
				continue;
			}
			bconn_new(fd, &ss);
		} else {
			if (nconns >= conf->max_conns) {
				listener_refused("limit");
				log_limited(&refused_limit, "refused client: "
				    "limit of %u connections reached",
				    conf->max_conns);
				close(fd);
				continue;
			}
			conn_new(fd, &ss);
		}
	}
}

static void
lsock_add(struct frame *f)
{
	struct lsock	*l;
	struct mp_doc	 d;
	char		 kind[16];

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
	if ((l->ev = event_new(ps->base, l->fd, EV_READ | EV_PERSIST,
	    lsock_accept, l)) == NULL)
		fatal("%s: event_new", __func__);
	TAILQ_INSERT_TAIL(&lsocks, l, entry);
}

static void
route_reply(struct frame *f)
{
	struct conn	 key, *c;
	struct mp_doc	 d;
	char		 reason[256];
	uint64_t	 alert;
	uint8_t		 tok[EPS_TOKEN_LEN];

	key.id = f->hdr.ref;
	c = RB_FIND(conn_ids, &conns, &key);
	if (mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: malformed message from matcher", __func__);
		if (c != NULL && c->state == C_ROUTE)
			conn_close(c, TLS_ALERT_INTERNAL_ERROR, NULL);
		return;
	}
	if (f->hdr.type == IMSG_ROUTE_OK) {
		if (mp_map_bin(d.root, "token", tok, sizeof(tok)) == -1) {
			log_warnx("%s: bad token from matcher", __func__);
			goto done;
		}
		if (c == NULL || c->state != C_ROUTE) {
			/* the client left meanwhile: give the token back */
			struct conn	 tmp;

			memcpy(tmp.token, tok, sizeof(tok));
			token_done(&tmp, 0);
			goto done;
		}
		memcpy(c->token, tok, sizeof(tok));
		c->tokkey = token_key(tok);
		if (RB_INSERT(conn_toks, &tokens, c) != NULL) {
			conn_close(c, TLS_ALERT_INTERNAL_ERROR,
			    "token collision");
			goto done;
		}
		c->state = C_WAIT;
		timer_set(c->timer, conf->to_token);
	} else if (c != NULL) {
		if (mp_map_str(d.root, "reason", reason, sizeof(reason)) ==
		    -1 || mp_map_uint(d.root, "alert", 255, &alert) == -1) {
			(void)strlcpy(reason, "routing failed", sizeof(reason));
			alert = TLS_ALERT_INTERNAL_ERROR;
		}
		if (c->state == C_ROUTE || c->state == C_WAIT)
			conn_close(c, (int)alert, reason);
	}
 done:
	explicit_bzero(tok, sizeof(tok));
	mp_free(&d);
}

/* A backchannel the matcher traced to one of our tokens. */
static void
handoff_in(struct frame *f)
{
	struct conn	*c;
	struct mp_doc	 d;
	uint8_t		 tok[EPS_TOKEN_LEN];
	char		 addr[NET_ADDRSTRLEN];

	if (f->fd == -1 || mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: bad handoff from matcher", __func__);
		return;
	}
	if (mp_map_bin(d.root, "token", tok, sizeof(tok)) == -1 ||
	    mp_map_str(d.root, "addr", addr, sizeof(addr)) == -1) {
		log_warnx("%s: bad handoff from matcher", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((c = token_find(tok)) == NULL || c->state != C_WAIT) {
		log_limited(&refused_limit, "refused backchannel from %s: "
		    "token expired", addr);
		explicit_bzero(tok, sizeof(tok));
		return;
	}
	explicit_bzero(tok, sizeof(tok));
	conn_join(c, f->fd);
	f->fd = -1;
}

int
listener_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct lsock	*l;

	if (nconf == NULL)
		return (-1);
	config_free(conf);
	conf = nconf;
	TAILQ_FOREACH(l, &lsocks, entry)
		if (!paused && !event_pending(l->ev, EV_READ, NULL))
			event_add(l->ev, NULL);
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
	case IMSG_ROUTE_OK:
	case IMSG_ROUTE_FAIL:
		if (from->id != PROC_MATCHER || conf == NULL)
			break;
		route_reply(f);
		return;
	case IMSG_BC_HANDOFF:
		if (from->id != PROC_MATCHER || conf == NULL)
			break;
		handoff_in(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
listener_chan_event(struct privsep *p, struct proc_chan *peer, int up)
{
	struct conn	*c, *t;

	if (up || peer->id != PROC_MATCHER)
		return;
	/* clients waiting for a route will not get one */
	RB_FOREACH_SAFE(c, conn_ids, &conns, t)
		if (c->state == C_ROUTE)
			conn_close(c, TLS_ALERT_INTERNAL_ERROR,
			    "matcher restarting");
}

void
listener_init(struct privsep *p)
{
	ps = p;
	if ((pause_ev = evtimer_new(ps->base, accept_resume, NULL)) == NULL)
		fatal("%s", __func__);
}

/*
 * Operations: the numbers and the connections of this listener.
 */

struct listener_stats	 listener_stats;

/* The reasons a client is refused for, as the metrics label them. */
static const struct {
	const char	*prefix;	/* of the reason logged */
	const char	*label;
} refusals[] = {
	{ "limit", "limit" },
	{ "too many connections waiting", "limit" },
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
	{ "", "internal" },		/* the rest: ours */
};

void
listener_refused(const char *why)
{
	size_t	 i;

	for (i = 0; i < nitems(refusals) - 1; i++)
		if (strncmp(why, refusals[i].prefix,
		    strlen(refusals[i].prefix)) == 0)
			break;
	if (i < LISTENER_REFUSALS)
		listener_stats.refused[i]++;
}

static const char *
conn_state_name(enum conn_state st)
{
	switch (st) {
	case C_HELLO:
		return ("hello");
	case C_ROUTE:
		return ("route");
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
	uint64_t		 refused[nitems(refusals)];
	size_t			 i, k;

	RB_FOREACH(c, conn_ids, &conns)
		if (c->sp != NULL) {
			in += c->len + splice_bytes(c->sp, 0);
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
	(void)metrics_declare(m, "proxyd_connections_refused_total",
	    METRIC_COUNTER, "Client connections refused, by reason.");
	/* each label once, with the sum of its prefixes */
	memset(refused, 0, sizeof(refused));
	for (i = 0; i < nitems(refusals); i++) {
		for (k = 0; strcmp(refusals[k].label, refusals[i].label) != 0;
		    k++)
			;
		if (i < LISTENER_REFUSALS)
			refused[k] += listener_stats.refused[i];
	}
	l.name = "reason";
	for (i = 0; i < nitems(refusals); i++) {
		for (k = 0; strcmp(refusals[k].label, refusals[i].label) != 0;
		    k++)
			;
		if (k != i)
			continue;
		l.value = refusals[i].label;
		(void)metrics_add(m, "proxyd_connections_refused_total", &l, 1,
		    (double)refused[i]);
	}
	(void)metrics_declare(m, "proxyd_bytes_total", METRIC_COUNTER,
	    "Bytes relayed: in from the clients (their ClientHello "
	    "included), out to them.");
	l.name = "direction";
	l.value = "in";
	(void)metrics_add(m, "proxyd_bytes_total", &l, 1, (double)in);
	l.value = "out";
	(void)metrics_add(m, "proxyd_bytes_total", &l, 1, (double)out);
	(void)metrics_declare(m, "proxyd_backchannels_accepted_total",
	    METRIC_COUNTER, "Backchannel connections accepted.");
	(void)metrics_add(m, "proxyd_backchannels_accepted_total", NULL, 0,
	    (double)listener_stats.bc_accepted);
	(void)metrics_declare(m, "proxyd_backchannels_waiting", METRIC_GAUGE,
	    "Backchannels that have not sent their preamble yet.");
	(void)metrics_add(m, "proxyd_backchannels_waiting", NULL, 0, nbconns);
	/* the pool: none yet */
	(void)metrics_declare(m, "proxyd_pool_size", METRIC_GAUGE,
	    "Pooled backchannels idle, ready for a client.");
	(void)metrics_add(m, "proxyd_pool_size", NULL, 0, 0);
	(void)metrics_declare(m, "proxyd_pool_hits_total", METRIC_COUNTER,
	    "Clients joined to a pooled backchannel.");
	(void)metrics_add(m, "proxyd_pool_hits_total", NULL, 0, 0);
	(void)metrics_declare(m, "proxyd_pool_misses_total", METRIC_COUNTER,
	    "Clients for whom no pooled backchannel was idle.");
	(void)metrics_add(m, "proxyd_pool_misses_total", NULL, 0, 0);
}

int
listener_control(struct privsep *p, uint32_t ref, const char *cmd, int argc,
    char **argv, char *why, size_t whylen)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct conn		*c;
	time_t			 now = proc_now();

	if (strcmp(cmd, "show pools") == 0)
		return (0);		/* no pool yet: no rows */
	if (strcmp(cmd, "show connections") != 0) {
		(void)snprintf(why, whylen, "%s: not a listener command",
		    cmd);
		return (-1);
	}
	proc_rows_init(&rows, p, ref);
	RB_FOREACH(c, conn_ids, &conns) {
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, 6);
		mp_pack_kstr(pk, "client", c->client);
		mp_pack_str(pk, "name");
		if (c->name[0] != '\0')
			mp_pack_str(pk, c->name);
		else
			msgpack_pack_nil(pk);
		mp_pack_kstr(pk, "state", conn_state_name(c->state));
		mp_pack_kuint(pk, "age", (uint64_t)(now - c->started));
		mp_pack_kuint(pk, "bytes_in", c->len + (c->sp != NULL ?
		    splice_bytes(c->sp, 0) : 0));
		mp_pack_kuint(pk, "bytes_out", c->sp != NULL ?
		    splice_bytes(c->sp, 1) : 0);
	}
	if (proc_rows_end(&rows) == -1) {
		(void)strlcpy(why, "the parent did not take the list", whylen);
		return (-1);
	}
	return (0);
}
