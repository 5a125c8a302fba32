/*
 * eps.c: the eps process of proxyd, its link to the local epsd.
 *
 * It registers the methods proxyd serves (announce, withdraw), passes
 * those calls to the matcher with the caller's operator name as epsd
 * attached it, and places the "incoming" calls the listeners ask for.
 * The parent opens the connection to epsd and passes it down
 * (common/epsclient.c asks again, with back-off, when it is lost).
 *
 * The eps process also keeps a shadow of the names the matcher accepted, with
 * their expiry, and replays it to a matcher that was restarted, so a
 * crash of the matcher does not make every name unknown until the next
 * renewal.  IMSG_REPLAY_DONE ends the replay: the matcher then pushes
 * its table to the listeners.
 *
 * The answer to an announce carries the caller's pool key; it goes back
 * to the caller as the matcher made it, and nowhere else.
 */

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "compat.h"
#include "epsclient.h"
#include "log.h"
#include "proxyd.h"

/* the incoming calls in flight to one operator */
struct opcalls {
	TAILQ_ENTRY(opcalls)	 entry;
	char			 op[RPC_NAMEMAX];
	unsigned int		 n;
};
TAILQ_HEAD(opcallss, opcalls);

struct incoming {
	uint8_t		 token[EPS_TOKEN_LEN];
	int		 listener;	/* whose client it is */
	char		 op[RPC_NAMEMAX];
	char		 domain[DNAME_MAX + 1];
	struct opcalls	*calls;		/* counted in */
};

/* an announce under way in the matcher: whose it is */
struct pending {
	TAILQ_ENTRY(pending)	 entry;
	uint32_t		 msgid;
	time_t			 since;
	char			 caller[RPC_NAMEMAX];
};
TAILQ_HEAD(pendings, pending);

/* a name the matcher accepted */
struct shadow {
	RB_ENTRY(shadow)	 node;
	char			 name[DNAME_MAX + 1];
	char			 caller[RPC_NAMEMAX];
	time_t			 expires;
};
RB_HEAD(shadows, shadow);

static int	shadow_cmp(struct shadow *, struct shadow *);
RB_GENERATE_STATIC(shadows, shadow, node, shadow_cmp)

static struct pendings		 pendings = TAILQ_HEAD_INITIALIZER(pendings);
static unsigned int		 npendings;
static struct shadows		 shadows = RB_INITIALIZER(&shadows);
static struct opcallss		 opcalls = TAILQ_HEAD_INITIALIZER(opcalls);
static unsigned int		 nshadows;
static struct event		*purge_ev;
static struct privsep		*ps;
static struct proxyd_conf	*conf;
static struct epsclient		*eps;
static struct log_limit		 fail_limit = LOG_LIMIT_INITIALIZER(10);

static const char *const methods[] = { EPS_ANNOUNCE, EPS_WITHDRAW, NULL };

/* The count of op's calls; NULL only when memory is short. */
static struct opcalls *
opcalls_get(const char *op)
{
	struct opcalls	*oc;

	TAILQ_FOREACH(oc, &opcalls, entry)
		if (strcmp(oc->op, op) == 0)
			return (oc);
	if ((oc = calloc(1, sizeof(*oc))) == NULL)
		return (NULL);
	(void)strlcpy(oc->op, op, sizeof(oc->op));
	TAILQ_INSERT_TAIL(&opcalls, oc, entry);
	return (oc);
}

/* A call is over; the count of an operator no longer configured goes. */
static void
opcalls_put(struct opcalls *oc)
{
	if (oc->n > 0)
		oc->n--;
	if (oc->n == 0 && (conf == NULL || config_operator(conf,
	    oc->op) == NULL)) {
		TAILQ_REMOVE(&opcalls, oc, entry);
		free(oc);
	}
}

static int
shadow_cmp(struct shadow *a, struct shadow *b)
{
	return (strcmp(a->name, b->name));
}

static void
shadow_free(struct shadow *sh)
{
	RB_REMOVE(shadows, &shadows, sh);
	free(sh);
	nshadows--;
}

/* Names that expired are gone from the matcher too. */
static void
shadow_purge(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 10, 0 };
	struct shadow	*sh, *t;
	struct pending	*p, *pt;
	time_t		 now = time(NULL);

	RB_FOREACH_SAFE(sh, shadows, &shadows, t)
		if (sh->expires <= now)
			shadow_free(sh);
	/* an answer that never came */
	TAILQ_FOREACH_SAFE(p, &pendings, entry, pt)
		if (now - p->since > 2 * EPS_CALL_TIMEOUT) {
			TAILQ_REMOVE(&pendings, p, entry);
			free(p);
			npendings--;
		}
	evtimer_add(purge_ev, &tv);
}

static struct shadow *
shadow_find(const char *name)
{
	struct shadow	 key;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return (NULL);
	return (RB_FIND(shadows, &shadows, &key));
}

static void
shadow_accepted(const char *caller, const msgpack_object *res)
{
	const msgpack_object	*acc;
	struct shadow		*sh;
	char			 name[DNAME_MAX + 1];
	uint64_t		 ttl;
	uint32_t		 i;

	if ((acc = mp_map_array(res, "accepted", EPS_DOMAINS_MAX)) == NULL ||
	    mp_map_uint(res, "ttl", UINT32_MAX, &ttl) == -1)
		return;
	for (i = 0; i < acc->via.array.size; i++) {
		if (mp_get_str(&acc->via.array.ptr[i], name,
		    sizeof(name)) == -1)
			continue;
		if ((sh = shadow_find(name)) == NULL) {
			/* as many as the matcher may hold, no more */
			if (nshadows >= conf->max_announce ||
			    (sh = calloc(1, sizeof(*sh))) == NULL)
				return;
			(void)strlcpy(sh->name, name, sizeof(sh->name));
			RB_INSERT(shadows, &shadows, sh);
			nshadows++;
		}
		(void)strlcpy(sh->caller, caller, sizeof(sh->caller));
		sh->expires = time(NULL) + (time_t)ttl;
	}
}

static void
shadow_withdraw(const char *caller, const msgpack_object *doms)
{
	struct shadow	*sh;
	char		 name[DNAME_MAX + 1];
	uint32_t	 i;

	for (i = 0; i < doms->via.array.size; i++)
		if (mp_get_str(&doms->via.array.ptr[i], name,
		    sizeof(name)) == 0 && dname_lower(name, name,
		    sizeof(name), 1) == 0 && (sh = shadow_find(name)) !=
		    NULL && strcmp(sh->caller, caller) == 0) {
			shadow_free(sh);
		}
}

/* A (re)started matcher learns again what the last one had accepted. */
static void
shadow_replay(void)
{
	struct shadow	*sh, *t;
	struct mp_out	 m;
	time_t		 now = time(NULL);

	mp_out_init(&m);
	RB_FOREACH_SAFE(sh, shadows, &shadows, t) {
		if (sh->expires <= now) {
			shadow_free(sh);
			continue;
		}
		mp_out_reset(&m);
		msgpack_pack_map(&m.pk, 4);
		mp_pack_kstr(&m.pk, "caller", sh->caller);
		mp_pack_str(&m.pk, "domains");
		msgpack_pack_array(&m.pk, 1);
		mp_pack_str(&m.pk, sh->name);
		mp_pack_kuint(&m.pk, "ttl", (uint64_t)(sh->expires - now));
		mp_pack_kbool(&m.pk, "replay", 1);
		(void)proc_send_mp(ps, PROC_MATCHER, 0, IMSG_ANNOUNCE, 0, -1,
		    &m);
	}
	mp_out_free(&m);
	(void)proc_send_mp(ps, PROC_MATCHER, 0, IMSG_REPLAY_DONE, 0, -1,
	    NULL);
}

static struct pending *
pending_take(uint32_t msgid)
{
	struct pending	*p;

	TAILQ_FOREACH(p, &pendings, entry)
		if (p->msgid == msgid) {
			TAILQ_REMOVE(&pendings, p, entry);
			npendings--;
			return (p);
		}
	return (NULL);
}

static void
pending_clear(void)
{
	struct pending	*p;

	while ((p = TAILQ_FIRST(&pendings)) != NULL) {
		TAILQ_REMOVE(&pendings, p, entry);
		free(p);
	}
	npendings = 0;
}

static void
eps_request(struct epsclient *ec, const struct rpc_msg *m, void *arg)
{
	char			 op[RPC_NAMEMAX], name[RPC_NAMEMAX];
	const msgpack_object	*doms;
	struct pending		*pend;
	uint64_t		 ttl = 0;
	struct mp_out		 o;
	uint32_t		 i;
	int			 withdraw;

	if (rpc_split(m->method, op, sizeof(op), name, sizeof(name)) == -1 ||
	    m->caller[0] == '\0') {
		(void)epsclient_reply(ec, m->msgid, "bad request", NULL);
		return;
	}
	if (strcmp(name, EPS_ANNOUNCE) == 0)
		withdraw = 0;
	else if (strcmp(name, EPS_WITHDRAW) == 0)
		withdraw = 1;
	else {
		(void)epsclient_reply(ec, m->msgid, "no such method", NULL);
		return;
	}
	if ((doms = mp_map_array(m->params, "domains", EPS_DOMAINS_MAX)) ==
	    NULL || (!withdraw && mp_map_uint(m->params, "ttl", UINT32_MAX,
	    &ttl) == -1)) {
		(void)epsclient_reply(ec, m->msgid, "bad parameters", NULL);
		return;
	}
	for (i = 0; i < doms->via.array.size; i++)
		if (doms->via.array.ptr[i].type != MSGPACK_OBJECT_STR) {
			(void)epsclient_reply(ec, m->msgid, "bad parameters",
			    NULL);
			return;
		}
	if (withdraw)
		shadow_withdraw(m->caller, doms);
	else {
		if (npendings >= EPS_CALLS_MAX || (pend = calloc(1,
		    sizeof(*pend))) == NULL) {
			(void)epsclient_reply(ec, m->msgid, "busy", NULL);
			return;
		}
		pend->msgid = m->msgid;
		pend->since = time(NULL);
		(void)strlcpy(pend->caller, m->caller, sizeof(pend->caller));
		TAILQ_INSERT_TAIL(&pendings, pend, entry);
		npendings++;
	}
	mp_out_init(&o);
	msgpack_pack_map(&o.pk, withdraw ? 2 : 3);
	mp_pack_kstr(&o.pk, "caller", m->caller);
	mp_pack_str(&o.pk, "domains");
	msgpack_pack_object(&o.pk, *doms);
	if (!withdraw)
		mp_pack_kuint(&o.pk, "ttl", ttl);
	if (proc_send_mp(ps, PROC_MATCHER, 0, withdraw ? IMSG_WITHDRAW :
	    IMSG_ANNOUNCE, m->msgid, -1, &o) == -1) {
		free(pending_take(m->msgid));
		(void)epsclient_reply(ec, m->msgid, "matcher unavailable",
		    NULL);
	}
	mp_out_free(&o);
}

static void
announce_res(struct frame *f)
{
	struct pending	*pend;
	struct mp_out	 o;
	struct mp_doc	 d;

	if (mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: malformed result from matcher", __func__);
		(void)epsclient_reply(eps, f->hdr.ref, "internal error",
		    NULL);
		return;
	}
	if ((pend = pending_take(f->hdr.ref)) != NULL) {
		shadow_accepted(pend->caller, d.root);
		free(pend);
	}
	mp_out_init(&o);
	msgpack_pack_object(&o.pk, *d.root);
	(void)epsclient_reply(eps, f->hdr.ref, NULL, &o);
	mp_out_free(&o);
	mp_free(&d);
}

static void
incoming_fail(int listener, const uint8_t *token, const char *reason)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kbin(&m.pk, "token", token, EPS_TOKEN_LEN);
	mp_pack_kstr(&m.pk, "reason", reason);
	(void)proc_send_mp(ps, PROC_LISTENER, listener, IMSG_INCOMING_FAIL, 0,
	    -1, &m);
	mp_out_free(&m);
}

static void
incoming_reply(const char *error, const msgpack_object *result, void *arg)
{
	struct incoming	*in = arg;
	char		 verr[LOG_VISLEN(200)];
	char		 vreason[200];		/* what the listener takes */

	if (error != NULL) {
		/* the private side's text, logged again by the listener */
		log_limited(&fail_limit, "incoming %s to %s failed: %s",
		    in->domain, in->op, log_vis(error, verr, sizeof(verr)));
		incoming_fail(in->listener, in->token, log_vis(error, vreason,
		    sizeof(vreason)));
	}
	if (in->calls != NULL)
		opcalls_put(in->calls);
	explicit_bzero(in, sizeof(*in));
	free(in);
}

static void
incoming(struct proc_chan *from, struct frame *f)
{
	struct mp_doc		 d;
	struct mp_out		 m;
	struct incoming		*in;
	struct proxyd_operator	*op;
	char			 method[RPC_METHODMAX];
	char			 client[NET_ADDRSTRLEN];
	char			 server[NET_ADDRSTRLEN];

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		log_warn("%s", __func__);
		return;
	}
	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "operator", in->op, sizeof(in->op)) == -1 ||
	    mp_map_str(d.root, "domain", in->domain, sizeof(in->domain)) ==
	    -1 || mp_map_bin(d.root, "token", in->token, EPS_TOKEN_LEN) ==
	    -1 || mp_map_str(d.root, "client", client, sizeof(client)) == -1 ||
	    mp_map_str(d.root, "server", server, sizeof(server)) == -1) {
		log_warnx("%s: bad message from listener %d", __func__,
		    from->instance);
		mp_free(&d);
		free(in);
		return;
	}
	in->listener = from->instance;
	mp_free(&d);
	/*
	 * A private site that takes calls and never answers holds its
	 * slots until they time out: its own, not everyone's.
	 */
	if ((op = config_operator(conf, in->op)) == NULL) {
		incoming_reply("operator not configured", NULL, in);
		return;
	}
	if ((in->calls = opcalls_get(in->op)) == NULL) {
		incoming_reply("out of memory", NULL, in);
		return;
	}
	if (in->calls->n >= op->max_calls) {
		in->calls = NULL;	/* not counted */
		incoming_reply("too many calls in flight to the operator",
		    NULL, in);
		return;
	}
	in->calls->n++;
	(void)snprintf(method, sizeof(method), "%s.%s", in->op,
	    EPS_INCOMING);
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 5);
	mp_pack_kstr(&m.pk, "domain", in->domain);
	mp_pack_kbin(&m.pk, "token", in->token, EPS_TOKEN_LEN);
	mp_pack_kstr(&m.pk, "endpoint", conf->endpoint);
	mp_pack_kstr(&m.pk, "client", client);
	mp_pack_kstr(&m.pk, "server", server);
	if (epsclient_call(eps, method, &m, conf->to_token, incoming_reply,
	    in) == -1)
		incoming_reply(errno == ENOTCONN ? "epsd not connected" :
		    strerror(errno), NULL, in);
	mp_out_free(&m);
}

int
eps_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	if (nconf == NULL)
		return (-1);
	config_free(conf);
	conf = nconf;
	epsclient_start(eps);
	return (0);
}

void
eps_dispatch(struct privsep *p, struct proc_chan *from, struct frame *f)
{
	if (epsclient_dispatch(eps, from, f) || conf == NULL)
		return;
	switch (f->hdr.type) {
	case IMSG_INCOMING:
		if (from->id == PROC_LISTENER)
			incoming(from, f);
		return;
	case IMSG_ANNOUNCE_RES:
		if (from->id == PROC_MATCHER)
			announce_res(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
eps_chan_event(struct privsep *p, struct proc_chan *peer, int up)
{
	if (peer->id != PROC_MATCHER)
		return;
	/* answers from a matcher that died will not come */
	pending_clear();
	if (up)
		shadow_replay();
}

void
eps_init(struct privsep *p)
{
	static const struct epsclient_cbs cbs = {
		.request = eps_request,
	};
	struct timeval	 tv = { 10, 0 };

	ps = p;
	if ((eps = epsclient_new(ps, methods, &cbs, NULL)) == NULL ||
	    (purge_ev = evtimer_new(ps->base, shadow_purge, NULL)) == NULL)
		fatal("%s", __func__);
	evtimer_add(purge_ev, &tv);
}

/*
 * Operations.
 */

void
eps_metrics(struct privsep *p, struct metrics *m)
{
	(void)metrics_declare(m, "proxyd_epsd_connected", METRIC_GAUGE,
	    "1 while the eps process is connected to the local epsd.");
	(void)metrics_add(m, "proxyd_epsd_connected", NULL, 0,
	    eps != NULL && epsclient_connected(eps));
}
