/*
 * router.c: the router process of epsd.
 *
 * It owns the local Unix socket and its clients (the eps processes of
 * the proxies), the directory of methods they registered, the ACL and
 * the calls under way.  A local client is trusted as the local operator:
 * the socket is mode 0660 and owned by root.  A peer link is known only
 * by the operator name the session process verified.
 *
 * A request for "op.name" goes:
 *
 *	op is ours	to the local client that registered "name", as
 *			[0, id, method, params, caller]; from a peer only
 *			if that peer's allow list names the method
 *	op is "eps"	to epsd itself (eps.register), local clients only
 *	op is a peer	over the peer's link, local clients only
 *
 * Every call that goes through gets a fresh msgid (rpc_calls) and is
 * remembered with where it came from and where it went; the answer goes
 * back to the caller under the caller's own msgid, and only the side the
 * call went to may answer it.  A call that times out, or whose link or
 * local client goes away, is answered at once with an error; a call
 * whose caller went away is forgotten.
 *
 * The directory: a later eps.register of a name takes it over.  Every
 * local client hears {operator, up} through eps.link when a peer link
 * comes up or goes down, and a client that registers hears about the
 * links that are up at that moment.
 */

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "epsd.h"
#include "log.h"

/*
 * Calls under way to one peer: a peer that takes calls and never
 * answers holds this many of its caller's EPSD_CALLS_ORIGIN until they
 * time out, and calls to the other peers still go.
 */
#define EPSD_CALLS_DEST		256

struct client {
	TAILQ_ENTRY(client)	 entry;
	uint32_t		 id;
	struct chan		*chan;
	unsigned int		 ncalls;	/* placed, under way */
	unsigned int		 nmethods;
	int			 dead;		/* for the reaper */
};
TAILQ_HEAD(clients, client);

struct method {
	RB_ENTRY(method)	 entry;
	char			 name[RPC_NAMEMAX];
	struct client		*client;
};
RB_HEAD(methods, method);

/* A peer link that is up. */
struct rlink {
	TAILQ_ENTRY(rlink)	 entry;
	char			 op[RPC_NAMEMAX];
	unsigned int		 ncalls;	/* placed, under way */
	unsigned int		 ncalls_to;	/* placed over it */
};
TAILQ_HEAD(rlinks, rlink);

/* A call that went through; exactly one from and one to are set. */
struct call {
	RB_ENTRY(call)		 entry;
	uint32_t		 msgid;		/* ours */
	uint32_t		 origid;	/* the caller's */
	struct client		*from_client;
	struct rlink		*from_link;
	struct client		*to_client;
	struct rlink		*to_link;
	char			 method[RPC_METHODMAX];
};
RB_HEAD(calls, call);

static struct {
	struct privsep		*ps;
	struct epsd_conf	*conf;
	struct epsd_conf	*nconf;		/* the round under way */
	int			 nsockfd;
	int			 sockfd;
	struct event		*accept_ev;
	struct event		*pause_ev;
	struct clients		 clients;
	unsigned int		 nclients;
	uint32_t		 nextid;
	struct methods		 methods;
	unsigned int		 nmethods;
	struct rlinks		 links;
	struct calls		 calls;
	struct rpc_calls	 rpc;
	struct event		*reaper;
	struct mp_out		 out;
} env;

/* what a peer link or a misbehaving client makes us say */
static struct log_limit	 peer_limit = LOG_LIMIT_INITIALIZER(10);

static int
method_cmp(struct method *a, struct method *b)
{
	return (strcmp(a->name, b->name));
}

static int
call_cmp(struct call *a, struct call *b)
{
	return (a->msgid < b->msgid ? -1 : a->msgid > b->msgid);
}

RB_GENERATE_STATIC(methods, method, entry, method_cmp)
RB_GENERATE_STATIC(calls, call, entry, call_cmp)

static void	client_gone(struct client *, const char *);

static struct rlink *
rlink_find(const char *op)
{
	struct rlink	*l;

	TAILQ_FOREACH(l, &env.links, entry)
		if (strcmp(l->op, op) == 0)
			return (l);
	return (NULL);
}

static struct method *
method_find(const char *name)
{
	struct method	 key;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return (NULL);
	return (RB_FIND(methods, &env.methods, &key));
}

/*
 * Sending.  Both take what env.out holds and reset it.
 */

static void
reaper(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c, *next;
	int		 again;

	do {
		again = 0;
		TAILQ_FOREACH_SAFE(c, &env.clients, entry, next)
			if (c->dead) {
				client_gone(c, "cannot send to it");
				again = 1;
				break;
			}
	} while (again);
}

/* A client that cannot take more goes away, later, from the reaper. */
static void
client_kill(struct client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	event_active(env.reaper, 0, 1);
}

static int
client_send(struct client *c)
{
	int	 r = -1;

	if (c->dead)
		goto done;
	if (env.out.sb.size > FRAME_MAXLEN) {
		errno = EMSGSIZE;
		goto done;
	}
	if ((r = chan_send(c->chan, EPS_FRAME_RPC, 0, -1, env.out.sb.data,
	    env.out.sb.size)) == -1) {
		log_warn("client %u", c->id);
		client_kill(c);
	}
 done:
	mp_out_reset(&env.out);
	return (r);
}

static int
link_send(struct rlink *l)
{
	struct mp_out	 m;
	int		 r = -1;

	if (env.out.sb.size > EPSD_MSGMAX) {
		errno = EMSGSIZE;
		mp_out_reset(&env.out);
		return (-1);
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kstr(&m.pk, "operator", l->op);
	mp_pack_kbin(&m.pk, "msg", env.out.sb.data, env.out.sb.size);
	r = proc_send_mp(env.ps, PROC_SESSION, 0, IMSG_LINK_MSG, 0, -1, &m);
	mp_out_free(&m);
	mp_out_reset(&env.out);
	return (r);
}

static int
send_to(struct client *c, struct rlink *l)
{
	return (c != NULL ? client_send(c) : link_send(l));
}

static void
reply_error(struct client *c, struct rlink *l, uint32_t msgid,
    const char *error)
{
	rpc_pack_error(&env.out.pk, msgid, error);
	(void)send_to(c, l);
}

static void
notify_link(struct client *c, const char *op, int up)
{
	rpc_begin_notify(&env.out.pk, EPS_LINK);
	msgpack_pack_map(&env.out.pk, 2);
	mp_pack_kstr(&env.out.pk, "operator", op);
	mp_pack_kbool(&env.out.pk, "up", up);
	(void)client_send(c);
}

static void
notify_all(const char *op, int up)
{
	struct client	*c;

	TAILQ_FOREACH(c, &env.clients, entry)
		notify_link(c, op, up);
}

/*
 * Calls under way.
 */

static void
call_free(struct call *call)
{
	RB_REMOVE(calls, &env.calls, call);
	if (call->from_client != NULL)
		call->from_client->ncalls--;
	else
		call->from_link->ncalls--;
	if (call->to_link != NULL)
		call->to_link->ncalls_to--;
	free(call);
}

/* rpc_calls' verdict: the answer, the remote's error or "timeout". */
static void
call_done(const char *error, const msgpack_object *result, void *arg)
{
	struct call	*call = arg;
	char		 vmethod[LOG_VISLEN(RPC_METHODMAX)];

	if (error != NULL) {
		if (strcmp(error, "timeout") == 0)
			log_debug("call %s from %s timed out",
			    log_vis(call->method, vmethod, sizeof(vmethod)),
			    call->from_link != NULL ? call->from_link->op :
			    "local client");
		rpc_pack_error(&env.out.pk, call->origid, error);
	} else {
		rpc_begin_response(&env.out.pk, call->origid);
		if (result != NULL)
			msgpack_pack_object(&env.out.pk, *result);
		else
			msgpack_pack_nil(&env.out.pk);
		if (env.out.sb.size > (call->from_link != NULL ?
		    EPSD_MSGMAX : FRAME_MAXLEN)) {
			mp_out_reset(&env.out);
			rpc_pack_error(&env.out.pk, call->origid,
			    "message too large");
		}
	}
	(void)send_to(call->from_client, call->from_link);
	call_free(call);
}

/* Forget a call; with why set, answer its caller with that error. */
static void
call_cancel(struct call *call, const char *why)
{
	if (why != NULL)
		reply_error(call->from_client, call->from_link, call->origid,
		    why);
	rpc_call_cancel(&env.rpc, call->msgid);
	call_free(call);
}

static struct call *
call_new(struct client *c, struct rlink *l, const struct rpc_msg *m)
{
	struct call	*call;
	struct timeval	 tv;
	unsigned int	*n = c != NULL ? &c->ncalls : &l->ncalls;

	if (*n >= EPSD_CALLS_ORIGIN)
		return (NULL);
	if ((call = calloc(1, sizeof(*call))) == NULL)
		return (NULL);
	tv.tv_sec = env.conf->timeout;
	tv.tv_usec = 0;
	if (rpc_call_new(&env.rpc, &tv, call_done, call, &call->msgid) ==
	    -1) {
		free(call);
		return (NULL);
	}
	call->origid = m->msgid;
	call->from_client = c;
	call->from_link = l;
	(void)strlcpy(call->method, m->method, sizeof(call->method));
	RB_INSERT(calls, &env.calls, call);
	(*n)++;
	router_stats.calls++;
	return (call);
}

/* Fail what waits on a client or link that is gone, forget its calls. */
static void
calls_lost(struct client *c, struct rlink *l, const char *why)
{
	struct call	*call, *next;

	RB_FOREACH_SAFE(call, calls, &env.calls, next) {
		if ((c != NULL && call->to_client == c) ||
		    (l != NULL && call->to_link == l))
			call_cancel(call, why);
		else if ((c != NULL && call->from_client == c) ||
		    (l != NULL && call->from_link == l))
			call_cancel(call, NULL);
	}
}

/*
 * Requests and responses, from local clients (c) or peer links (l).
 */

static void
do_register(struct client *c, const struct rpc_msg *m)
{
	const msgpack_object	*arr;
	struct method		*mt;
	struct rlink		*l;
	char			 name[RPC_NAMEMAX];
	unsigned int		 fresh = 0;
	uint32_t		 i;

	if ((arr = mp_map_array(m->params, "methods", EPSD_REGISTER_MAX)) ==
	    NULL) {
		reply_error(c, NULL, m->msgid, "bad params");
		return;
	}
	for (i = 0; i < arr->via.array.size; i++) {
		if (mp_get_str(&arr->via.array.ptr[i], name,
		    sizeof(name)) == -1 || !rpc_valid_name(name)) {
			reply_error(c, NULL, m->msgid, "bad method name");
			return;
		}
		if (method_find(name) == NULL)
			fresh++;
	}
	if (env.nmethods + fresh > EPSD_METHODS_MAX) {
		reply_error(c, NULL, m->msgid, "too many methods");
		return;
	}
	for (i = 0; i < arr->via.array.size; i++) {
		(void)mp_get_str(&arr->via.array.ptr[i], name, sizeof(name));
		if ((mt = method_find(name)) != NULL) {
			if (mt->client == c)
				continue;
			log_info("method %s.%s taken over by client %u from "
			    "client %u", env.conf->operator, name, c->id,
			    mt->client->id);
			mt->client->nmethods--;
		} else {
			if ((mt = calloc(1, sizeof(*mt))) == NULL) {
				reply_error(c, NULL, m->msgid,
				    "out of memory");
				return;
			}
			(void)strlcpy(mt->name, name, sizeof(mt->name));
			RB_INSERT(methods, &env.methods, mt);
			env.nmethods++;
			log_debug("method %s.%s registered by client %u",
			    env.conf->operator, name, c->id);
		}
		mt->client = c;
		c->nmethods++;
	}
	rpc_begin_response(&env.out.pk, m->msgid);
	msgpack_pack_true(&env.out.pk);
	if (client_send(c) == -1)
		return;
	TAILQ_FOREACH(l, &env.links, entry)
		notify_link(c, l->op, 1);
}

/* To the local client that registered name. */
static void
deliver(struct client *c, struct rlink *l, const struct rpc_msg *m,
    const char *name, const char *caller)
{
	struct method	*mt;
	struct call	*call;

	if ((mt = method_find(name)) == NULL || mt->client->dead) {
		reply_error(c, l, m->msgid, "no such method");
		return;
	}
	if ((call = call_new(c, l, m)) == NULL) {
		reply_error(c, l, m->msgid, "too many calls");
		return;
	}
	call->to_client = mt->client;
	rpc_pack_request(&env.out.pk, call->msgid, m->method, m->params,
	    caller);
	if (env.out.sb.size > FRAME_MAXLEN) {
		mp_out_reset(&env.out);
		call_cancel(call, "message too large");
	} else if (client_send(mt->client) == -1)
		call_cancel(call, "service gone");
}

/* Over the link to another operator. */
static void
forward(struct client *c, const struct rpc_msg *m, const char *op)
{
	struct rlink	*l;
	struct call	*call;
	char		 err[RPC_NAMEMAX + 32];

	if ((l = rlink_find(op)) == NULL) {
		(void)snprintf(err, sizeof(err), "operator %s unreachable",
		    op);
		reply_error(c, NULL, m->msgid, err);
		return;
	}
	if (l->ncalls_to >= EPSD_CALLS_DEST) {
		(void)snprintf(err, sizeof(err), "too many calls to %s", op);
		reply_error(c, NULL, m->msgid, err);
		return;
	}
	if ((call = call_new(c, NULL, m)) == NULL) {
		reply_error(c, NULL, m->msgid, "too many calls");
		return;
	}
	call->to_link = l;
	l->ncalls_to++;
	rpc_pack_request(&env.out.pk, call->msgid, m->method, m->params,
	    NULL);
	if (env.out.sb.size > EPSD_MSGMAX) {
		mp_out_reset(&env.out);
		call_cancel(call, "message too large");
	} else if (link_send(l) == -1) {
		(void)snprintf(err, sizeof(err), "operator %s unreachable",
		    op);
		call_cancel(call, err);
	}
}

static void
request(struct client *c, struct rlink *l, const struct rpc_msg *m)
{
	struct epsd_peer	*p;
	char			 op[RPC_NAMEMAX], name[RPC_NAMEMAX];
	char			 err[RPC_NAMEMAX + 32];
	char			 vmethod[LOG_VISLEN(RPC_METHODMAX)];
	const char		*own = env.conf->operator;

	if (rpc_split(m->method, op, sizeof(op), name, sizeof(name)) == -1) {
		reply_error(c, l, m->msgid, "bad method name");
		return;
	}
	if (l != NULL) {
		if (strcmp(op, own) != 0) {
			log_debug("call %s from %s not routed",
			    log_vis(m->method, vmethod, sizeof(vmethod)),
			    l->op);
			reply_error(NULL, l, m->msgid, "not routed");
			return;
		}
		if ((p = config_peer(env.conf, l->op)) == NULL ||
		    !config_allows(p, name)) {
			log_limited(&peer_limit, "refused call %s from %s: "
			    "method not allowed", log_vis(m->method, vmethod,
			    sizeof(vmethod)), l->op);
			reply_error(NULL, l, m->msgid, "method not allowed");
			return;
		}
		deliver(NULL, l, m, name, l->op);
		return;
	}
	if (strcmp(op, EPS_LOCAL_OP) == 0) {
		if (strcmp(m->method, EPS_REGISTER) == 0)
			do_register(c, m);
		else
			reply_error(c, NULL, m->msgid, "no such method");
	} else if (strcmp(op, own) == 0)
		deliver(c, NULL, m, name, own);
	else if (config_peer(env.conf, op) != NULL)
		forward(c, m, op);
	else {
		(void)snprintf(err, sizeof(err), "unknown operator %s", op);
		reply_error(c, NULL, m->msgid, err);
	}
}

static void
response(struct client *c, struct rlink *l, const struct rpc_msg *m)
{
	struct call	 key, *call;

	key.msgid = m->msgid;
	call = RB_FIND(calls, &env.calls, &key);
	if (call == NULL || (c != NULL && call->to_client != c) ||
	    (l != NULL && call->to_link != l)) {
		log_debug("response to unknown call %u from %s", m->msgid,
		    l != NULL ? l->op : "local client");
		return;
	}
	(void)rpc_call_done(&env.rpc, m);
}

/* One message from a client or a link: 0, or -1 if it is no RPC. */
static int
message(struct client *c, struct rlink *l, const void *buf, size_t len)
{
	struct mp_doc	 d;
	struct rpc_msg	 m;
	const char	*why, *from = l != NULL ? l->op : "local client";
	char		 vmethod[LOG_VISLEN(RPC_METHODMAX)];

	if (mp_parse(&d, buf, len) == -1) {
		log_limited(&peer_limit, "malformed message from %s", from);
		mp_free(&d);
		return (-1);
	}
	if (rpc_parse(d.root, &m, &why) == -1) {
		log_limited(&peer_limit, "bad message from %s: %s", from, why);
		mp_free(&d);
		return (0);
	}
	switch (m.type) {
	case RPC_REQUEST:
		request(c, l, &m);
		break;
	case RPC_RESPONSE:
		response(c, l, &m);
		break;
	case RPC_NOTIFY:
		log_debug("notification %s from %s dropped",
		    log_vis(m.method, vmethod, sizeof(vmethod)), from);
		break;
	}
	mp_free(&d);
	return (0);
}

/*
 * Local clients.
 */

static void
client_gone(struct client *c, const char *why)
{
	struct method	*mt, *next;

	log_debug("client %u gone: %s", c->id, why);
	c->dead = 1;
	calls_lost(c, NULL, "service gone");
	RB_FOREACH_SAFE(mt, methods, &env.methods, next) {
		if (mt->client != c)
			continue;
		log_debug("method %s.%s released", env.conf->operator,
		    mt->name);
		RB_REMOVE(methods, &env.methods, mt);
		env.nmethods--;
		free(mt);
	}
	TAILQ_REMOVE(&env.clients, c, entry);
	env.nclients--;
	chan_free(c->chan);
	free(c);
}

static void
client_recv(struct chan *ch, struct frame *f, void *arg)
{
	struct client	*c = arg;

	if (f == NULL) {
		client_gone(c, "connection closed");
		return;
	}
	if (c->dead)
		return;
	if (f->hdr.type != EPS_FRAME_RPC) {
		log_limited(&peer_limit, "client %u: unexpected frame type "
		    "%u", c->id, f->hdr.type);
		client_gone(c, "unexpected frame");
		return;
	}
	if (env.conf == NULL || message(c, NULL, f->data, f->len) == -1)
		client_gone(c, "malformed message");
}

static void
client_resume(evutil_socket_t fd, short ev, void *arg)
{
	if (env.accept_ev != NULL)
		event_add(env.accept_ev, NULL);
}

static void
client_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	struct client	*c;
	char		 name[32];
	int		 fd, i;

	for (i = 0; i < 16; i++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on the local socket");
				event_del(env.accept_ev);
				evtimer_add(env.pause_ev, &tv);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on the local socket");
			return;
		}
		if (env.nclients >= EPSD_CLIENTS_MAX || env.conf == NULL) {
			log_limited(&peer_limit, "local client refused: %s",
			    env.conf == NULL ? "not configured yet" :
			    "too many clients");
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("%s", __func__);
			close(fd);
			continue;
		}
		c->id = ++env.nextid;
		if ((c->chan = chan_new(env.ps->base, fd, FRAME_MAXLEN,
		    client_recv, c)) == NULL) {
			log_warn("%s", __func__);
			close(fd);
			free(c);
			continue;
		}
		(void)snprintf(name, sizeof(name), "client %u", c->id);
		chan_set_name(c->chan, name);
		TAILQ_INSERT_TAIL(&env.clients, c, entry);
		env.nclients++;
		log_debug("client %u connected", c->id);
	}
}

/*
 * Peer links, as the session process reports them.
 */

static void
link_lost(struct rlink *l, const char *why)
{
	char	 err[RPC_NAMEMAX + 32];

	log_debug("link to %s lost: %s", l->op, why);
	(void)snprintf(err, sizeof(err), "link to %s lost", l->op);
	calls_lost(NULL, l, err);
	TAILQ_REMOVE(&env.links, l, entry);
	notify_all(l->op, 0);
	free(l);
}

static int
link_op(struct frame *f, struct mp_doc *d, char *op, size_t opsz)
{
	if (mp_parse(d, f->data, f->len) == -1 ||
	    mp_map_str(d->root, "operator", op, opsz) == -1 ||
	    !rpc_valid_name(op)) {
		log_warnx("%s: malformed message %u from the session process",
		    __func__, f->hdr.type);
		mp_free(d);
		return (-1);
	}
	return (0);
}

static void
link_up(struct frame *f)
{
	struct mp_doc	 d;
	struct rlink	*l;
	char		 op[RPC_NAMEMAX];

	if (link_op(f, &d, op, sizeof(op)) == -1)
		return;
	mp_free(&d);
	if (rlink_find(op) != NULL)
		return;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warn("%s", __func__);
		return;
	}
	(void)strlcpy(l->op, op, sizeof(l->op));
	TAILQ_INSERT_TAIL(&env.links, l, entry);
	log_debug("link to %s up", op);
	notify_all(op, 1);
}

static void
link_down(struct frame *f)
{
	struct mp_doc	 d;
	struct rlink	*l;
	char		 op[RPC_NAMEMAX];

	if (link_op(f, &d, op, sizeof(op)) == -1)
		return;
	mp_free(&d);
	if ((l = rlink_find(op)) != NULL)
		link_lost(l, "down");
}

static void
link_msg(struct frame *f)
{
	struct mp_doc		 d;
	const msgpack_object	*msg;
	struct rlink		*l;
	char			 op[RPC_NAMEMAX];

	if (link_op(f, &d, op, sizeof(op)) == -1)
		return;
	if ((msg = mp_map_get(d.root, "msg")) == NULL ||
	    msg->type != MSGPACK_OBJECT_BIN) {
		log_warnx("%s: malformed message from the session process",
		    __func__);
	} else if ((l = rlink_find(op)) == NULL || env.conf == NULL)
		log_debug("message from %s dropped: link not up", op);
	else
		(void)message(NULL, l, msg->via.bin.ptr, msg->via.bin.size);
	mp_free(&d);
}

/*
 * Configuration.
 */

static void
cfg_done(void)
{
	if (env.nconf == NULL) {
		log_warnx("%s: no configuration in this round", __func__);
		return;
	}
	config_free(env.conf);
	env.conf = env.nconf;
	env.nconf = NULL;
	if (env.nsockfd == -1)
		return;
	if (env.accept_ev != NULL) {
		event_free(env.accept_ev);
		evtimer_del(env.pause_ev);
		close(env.sockfd);
	}
	env.sockfd = env.nsockfd;
	env.nsockfd = -1;
	if (net_nonblock(env.sockfd) == -1 ||
	    (env.accept_ev = event_new(env.ps->base, env.sockfd,
	    EV_READ | EV_PERSIST, client_accept, NULL)) == NULL ||
	    event_add(env.accept_ev, NULL) == -1)
		fatal("%s: local socket", __func__);
	log_debug("configuration applied: operator %s", env.conf->operator);
}

/* The end of a configuration round. */
int
router_config(struct privsep *ps, void *nconf, char *why, size_t whylen)
{
	if (nconf == NULL)
		return (-1);
	config_free(env.nconf);
	env.nconf = nconf;
	cfg_done();
	return (0);
}

void
router_dispatch(struct privsep *ps, struct proc_chan *from, struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_CFG_SOCKET:
		if (from->id != PROC_PARENT || f->fd == -1)
			break;
		if (env.nsockfd != -1)
			close(env.nsockfd);
		env.nsockfd = f->fd;
		f->fd = -1;
		return;
	case IMSG_LINK_UP:
		if (from->id != PROC_SESSION)
			break;
		link_up(f);
		return;
	case IMSG_LINK_DOWN:
		if (from->id != PROC_SESSION)
			break;
		link_down(f);
		return;
	case IMSG_LINK_MSG:
		if (from->id != PROC_SESSION)
			break;
		link_msg(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(ps, from->id));
}

/* The session process died: every link went with it. */
void
router_chan_event(struct privsep *ps, struct proc_chan *p, int up)
{
	struct rlink	*l;

	if (up || p->id != PROC_SESSION)
		return;
	while ((l = TAILQ_FIRST(&env.links)) != NULL)
		link_lost(l, "session process gone");
}

void
router_init(struct privsep *ps)
{
	env.ps = ps;
	env.sockfd = env.nsockfd = -1;
	TAILQ_INIT(&env.clients);
	TAILQ_INIT(&env.links);
	RB_INIT(&env.methods);
	RB_INIT(&env.calls);
	rpc_calls_init(&env.rpc, ps->base, EPS_CALLS_MAX);
	mp_out_init(&env.out);
	if ((env.reaper = event_new(ps->base, -1, 0, reaper, NULL)) == NULL ||
	    (env.pause_ev = evtimer_new(ps->base, client_resume, NULL)) ==
	    NULL)
		fatalx("%s: events", __func__);
}

/*
 * Operations.
 */

struct router_stats	 router_stats;

void
router_metrics(struct privsep *ps, struct metrics *m)
{
	struct call	*call;
	unsigned int	 n = 0;

	RB_FOREACH(call, calls, &env.calls)
		n++;
	(void)metrics_declare(m, "epsd_local_clients", METRIC_GAUGE,
	    "Local services connected to the socket.");
	(void)metrics_add(m, "epsd_local_clients", NULL, 0, env.nclients);
	(void)metrics_declare(m, "epsd_methods", METRIC_GAUGE,
	    "Methods the local services registered.");
	(void)metrics_add(m, "epsd_methods", NULL, 0, env.nmethods);
	(void)metrics_declare(m, "epsd_calls_total", METRIC_COUNTER,
	    "Calls passed on, to a local service or over a link.");
	(void)metrics_add(m, "epsd_calls_total", NULL, 0,
	    (double)router_stats.calls);
	(void)metrics_declare(m, "epsd_calls_active", METRIC_GAUGE,
	    "Calls under way, waiting for their answer.");
	(void)metrics_add(m, "epsd_calls_active", NULL, 0, n);
}
