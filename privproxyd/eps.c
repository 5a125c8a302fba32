/*
 * eps.c: the eps process of privproxyd, its link to the local epsd.
 *
 * It announces the configured domains to every public operator and
 * renews them every third of their ttl, at once when a link to a public
 * operator comes (back) up, and after a failure with a back-off.  It
 * serves the "incoming" method: the caller must be one of the public
 * operators of the configuration and the domain one we serve; the
 * connection is then handed to a connector, round robin.
 *
 * The answer to an announce carries the public operator's pool key,
 * which goes to every connector (IMSG_POOL_KEY), and to a connector
 * that starts.  A connector whose key was refused (IMSG_POOL_STALE)
 * makes us announce to that operator again, at most every
 * PP_REFRESH_WAIT seconds: a public proxy that restarted has a new key.
 */

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "compat.h"
#include "epsclient.h"
#include "log.h"
#include "privproxyd.h"

struct pubstate {
	TAILQ_ENTRY(pubstate)	 entry;
	char			 name[RPC_NAMEMAX];
	struct event		*timer;
	int			 backoff;
	int			 inflight;
	int			 announced;	/* last announce worked */
	unsigned int		 refused;	/* names refused last time */
	unsigned int		 ttl;		/* as the public side took it */
	time_t			 last;		/* last announce sent */
	int			 haskey;
	uint8_t			 key[EPS_POOL_KEYLEN];	/* its pool key */
};
TAILQ_HEAD(pubstates, pubstate);

static struct privsep		*ps;
static struct privproxyd_conf	*conf;
static struct epsclient		*eps;
static struct pubstates		 pubs = TAILQ_HEAD_INITIALIZER(pubs);
static int			 rr;
static int			 withdrawing;
static struct event		*stop_ev;
static struct log_limit		 refused_limit = LOG_LIMIT_INITIALIZER(10);

static const char *const methods[] = { EPS_INCOMING, NULL };

static void	announce(struct pubstate *);
static void	key_take(struct pubstate *, const msgpack_object *);

/*
 * Renew every third of the ttl, or of the shorter one the public side
 * granted, but not more often than every two seconds whatever it says.
 */
static unsigned int
renew_interval(const struct pubstate *p)
{
	unsigned int	 ttl = conf->ttl;

	if (p->ttl > 0 && p->ttl < ttl)
		ttl = p->ttl;
	return (MAXIMUM(ttl / 3, 2));
}

static void
schedule(struct pubstate *p, unsigned int sec)
{
	struct timeval	 tv = { sec, 0 };

	evtimer_add(p->timer, &tv);
}

static void
announce_timer(evutil_socket_t fd, short ev, void *arg)
{
	announce(arg);
}

static void
announce_reply(const char *error, const msgpack_object *result, void *arg)
{
	struct pubstate		*p = arg;
	const msgpack_object	*acc, *ref, *r;
	char			 name[DNAME_MAX + 1], why[128];
	char			 vname[LOG_VISLEN(DNAME_MAX)];
	char			 verr[LOG_VISLEN(200)];
	uint64_t		 ttl, nref;
	uint32_t		 i;

	p->inflight = 0;
	if (config_public(conf, p->name) == NULL) {
		/* dropped from the configuration while under way */
		TAILQ_REMOVE(&pubs, p, entry);
		event_free(p->timer);
		free(p);
		return;
	}
	if (error != NULL) {
		log_vis(error, verr, sizeof(verr));
		if (p->announced || p->backoff == 1)
			log_warnx("announce to %s failed: %s", p->name, verr);
		else
			log_debug("announce to %s failed: %s", p->name, verr);
		p->announced = 0;
		schedule(p, MINIMUM((unsigned int)p->backoff,
		    renew_interval(p)));
		p->backoff = MINIMUM(p->backoff * 2, 30);
		return;
	}
	p->backoff = 1;
	acc = mp_map_array(result, "accepted", EPS_DOMAINS_MAX);
	ref = mp_map_array(result, "refused", EPS_DOMAINS_MAX);
	if (acc == NULL || ref == NULL) {
		log_warnx("announce to %s: malformed answer", p->name);
		schedule(p, renew_interval(p));
		return;
	}
	if (mp_map_uint(result, "nrefused", UINT32_MAX, &nref) == -1)
		nref = ref->via.array.size;
	if (!p->announced || nref != p->refused) {
		log_info("announced %u domain%s to %s, %llu refused",
		    acc->via.array.size, acc->via.array.size == 1 ? "" : "s",
		    p->name, (unsigned long long)nref);
		for (i = 0; i < ref->via.array.size; i++) {
			r = &ref->via.array.ptr[i];
			if (r->type != MSGPACK_OBJECT_ARRAY ||
			    r->via.array.size != 2 ||
			    mp_get_str(&r->via.array.ptr[0], name,
			    sizeof(name)) == -1 ||
			    mp_get_str(&r->via.array.ptr[1], why,
			    sizeof(why)) == -1)
				continue;
			log_warnx("%s refused %s: %s", p->name,
			    log_vis(name, vname, sizeof(vname)),
			    log_vis(why, verr, sizeof(verr)));
		}
	} else
		log_debug("renewed %u domains with %s", acc->via.array.size,
		    p->name);
	if (mp_map_uint(result, "ttl", UINT32_MAX, &ttl) == 0)
		p->ttl = (unsigned int)ttl;
	key_take(p, result);
	p->announced = 1;
	p->refused = (unsigned int)nref;
	schedule(p, renew_interval(p));
}

/* Tell one connector (or all, -1) the pool key of a public operator. */
static void
key_send(struct pubstate *p, int instance)
{
	struct mp_out	 m;

	if (!p->haskey)
		return;
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kstr(&m.pk, "public", p->name);
	mp_pack_kbin(&m.pk, "key", p->key, sizeof(p->key));
	(void)proc_send_mp(ps, PROC_CONNECTOR, instance, IMSG_POOL_KEY, 0, -1,
	    &m);
	explicit_bzero(m.sb.data, m.sb.size);
	mp_out_free(&m);
}

static void
key_take(struct pubstate *p, const msgpack_object *result)
{
	uint8_t	 key[EPS_POOL_KEYLEN];

	if (mp_map_bin(result, "pool", key, sizeof(key)) == -1)
		return;		/* the public side keeps no pool for us */
	if (!p->haskey || timingsafe_bcmp(p->key, key, sizeof(key)) != 0) {
		memcpy(p->key, key, sizeof(p->key));
		p->haskey = 1;
		key_send(p, -1);
	}
	explicit_bzero(key, sizeof(key));
}

static void
pack_domains(struct mp_out *m, const struct privproxyd_conf *c)
{
	const struct pp_domain	*d;
	size_t			 n = 0;

	TAILQ_FOREACH(d, &c->domains, entry)
		n++;
	mp_pack_str(&m->pk, "domains");
	msgpack_pack_array(&m->pk, n);
	TAILQ_FOREACH(d, &c->domains, entry)
		mp_pack_str(&m->pk, d->name);
}

static void
announce(struct pubstate *p)
{
	struct mp_out	 m;
	char		 method[RPC_METHODMAX];

	if (p->inflight || !epsclient_connected(eps))
		return;
	evtimer_del(p->timer);
	p->last = time(NULL);
	(void)snprintf(method, sizeof(method), "%s.%s", p->name,
	    EPS_ANNOUNCE);
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	pack_domains(&m, conf);
	mp_pack_kuint(&m.pk, "ttl", conf->ttl);
	if (epsclient_call(eps, method, &m, EPS_CALL_TIMEOUT, announce_reply,
	    p) == 0)
		p->inflight = 1;
	else
		schedule(p, 1);
	mp_out_free(&m);
}

static struct pubstate *
pub_find(const char *name)
{
	struct pubstate	*p;

	TAILQ_FOREACH(p, &pubs, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

/* Bring the announcement schedule in line with the configuration. */
static void
pubs_sync(void)
{
	struct pubstate		*p, *t;
	struct pp_public	*cp;

	TAILQ_FOREACH_SAFE(p, &pubs, entry, t) {
		if (config_public(conf, p->name) != NULL || p->inflight)
			continue;
		TAILQ_REMOVE(&pubs, p, entry);
		event_free(p->timer);
		free(p);
	}
	TAILQ_FOREACH(cp, &conf->publics, entry) {
		if ((p = pub_find(cp->name)) == NULL) {
			if ((p = calloc(1, sizeof(*p))) == NULL)
				fatal("%s", __func__);
			(void)strlcpy(p->name, cp->name, sizeof(p->name));
			p->backoff = 1;
			if ((p->timer = evtimer_new(ps->base, announce_timer,
			    p)) == NULL)
				fatal("%s", __func__);
			TAILQ_INSERT_TAIL(&pubs, p, entry);
		}
		announce(p);
	}
}

/* After a reload: tell each public operator which names are gone. */
static void
withdraw_removed(const struct privproxyd_conf *oldc)
{
	const struct pp_domain	*d;
	struct pubstate		*p;
	struct mp_out		 m;
	char			 method[RPC_METHODMAX];
	size_t			 n = 0;

	TAILQ_FOREACH(d, &oldc->domains, entry)
		if (config_domain(conf, d->name) == NULL ||
		    strcmp(config_domain(conf, d->name)->name, d->name) != 0)
			n++;
	if (n == 0 || !epsclient_connected(eps))
		return;
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 1);
	mp_pack_str(&m.pk, "domains");
	msgpack_pack_array(&m.pk, n);
	TAILQ_FOREACH(d, &oldc->domains, entry)
		if (config_domain(conf, d->name) == NULL ||
		    strcmp(config_domain(conf, d->name)->name, d->name) != 0)
			mp_pack_str(&m.pk, d->name);
	TAILQ_FOREACH(p, &pubs, entry) {
		(void)snprintf(method, sizeof(method), "%s.%s", p->name,
		    EPS_WITHDRAW);
		(void)epsclient_call(eps, method, &m, EPS_CALL_TIMEOUT, NULL,
		    NULL);
	}
	mp_out_free(&m);
}

static void
eps_up(struct epsclient *ec, void *arg)
{
	struct pubstate	*p;

	TAILQ_FOREACH(p, &pubs, entry)
		announce(p);
}

static void
eps_link(struct epsclient *ec, const char *op, int up, void *arg)
{
	struct pubstate	*p;

	if ((p = pub_find(op)) == NULL)
		return;
	if (up) {
		p->backoff = 1;
		announce(p);
	} else
		p->announced = 0;
}

static void
eps_request(struct epsclient *ec, const struct rpc_msg *m, void *arg)
{
	char			 op[RPC_NAMEMAX], name[RPC_NAMEMAX];
	char			 domain[DNAME_MAX + 1];
	char			 client[NET_ADDRSTRLEN], server[NET_ADDRSTRLEN];
	uint8_t			 token[EPS_TOKEN_LEN];
	struct pp_domain	*dom;
	struct mp_out		 o;
	int			 i, n, r;

	if (rpc_split(m->method, op, sizeof(op), name, sizeof(name)) == -1 ||
	    strcmp(name, EPS_INCOMING) != 0) {
		(void)epsclient_reply(ec, m->msgid, "no such method", NULL);
		return;
	}
	if (config_public(conf, m->caller) == NULL) {
		log_limited(&refused_limit, "refused incoming from %s: not a "
		    "public operator of this proxy", m->caller);
		(void)epsclient_reply(ec, m->msgid, "caller is not a public "
		    "operator of this proxy", NULL);
		return;
	}
	if (mp_map_str(m->params, "domain", domain, sizeof(domain)) == -1 ||
	    dname_lower(domain, domain, sizeof(domain), 0) == -1 ||
	    mp_map_bin(m->params, "token", token, sizeof(token)) == -1 ||
	    mp_map_str(m->params, "client", client, sizeof(client)) == -1 ||
	    mp_map_str(m->params, "server", server, sizeof(server)) == -1) {
		log_limited(&refused_limit, "refused incoming from %s: bad "
		    "parameters", m->caller);
		(void)epsclient_reply(ec, m->msgid, "bad parameters", NULL);
		return;
	}
	if ((dom = config_domain(conf, domain)) == NULL) {
		log_limited(&refused_limit, "refused incoming from %s: "
		    "domain %s not served", m->caller, domain);
		(void)epsclient_reply(ec, m->msgid, "domain not served", NULL);
		return;
	}
	mp_out_init(&o);
	msgpack_pack_map(&o.pk, 5);
	mp_pack_kstr(&o.pk, "public", m->caller);
	mp_pack_kstr(&o.pk, "domain", domain);
	mp_pack_kbin(&o.pk, "token", token, sizeof(token));
	mp_pack_kstr(&o.pk, "client", client);
	mp_pack_kstr(&o.pk, "server", server);
	explicit_bzero(token, sizeof(token));
	r = -1;
	for (n = 0; n < PROC_INSTMAX && r == -1; n++) {
		i = (rr + n) % PROC_INSTMAX;
		if (ps->chans[PROC_CONNECTOR][i].chan == NULL)
			continue;
		r = proc_send_mp(ps, PROC_CONNECTOR, i, IMSG_CONNECT, 0, -1, &o);
		rr = i + 1;
	}
	explicit_bzero(o.sb.data, o.sb.size);
	mp_out_free(&o);
	(void)epsclient_reply(ec, m->msgid, r == -1 ? "no connector" : NULL,
	    NULL);
}

int
eps_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct privproxyd_conf	*old;

	if (nconf == NULL)
		return (-1);
	old = conf;
	conf = nconf;
	if (old != NULL)
		withdraw_removed(old);
	config_free(old);
	pubs_sync();
	epsclient_start(eps);
	return (0);
}

/* A connector's pooled backchannel was refused: fetch a new key. */
static void
key_stale(struct frame *f)
{
	struct pubstate	*p;
	struct mp_doc	 d;
	char		 name[RPC_NAMEMAX];
	time_t		 now = time(NULL);

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "public", name, sizeof(name)) == -1) {
		log_warnx("%s: bad message from connector", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((p = pub_find(name)) == NULL || p->inflight)
		return;
	if (now - p->last >= PP_REFRESH_WAIT)
		announce(p);
	else
		schedule(p, PP_REFRESH_WAIT);
}

void
eps_dispatch(struct privsep *p, struct proc_chan *from, struct frame *f)
{
	if (epsclient_dispatch(eps, from, f))
		return;
	if (f->hdr.type == IMSG_POOL_STALE && from->id == PROC_CONNECTOR &&
	    conf != NULL) {
		key_stale(f);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
eps_chan_event(struct privsep *p, struct proc_chan *peer, int up)
{
	struct pubstate	*pub;

	/* a (re)started connector learns the keys we have */
	if (!up || peer->id != PROC_CONNECTOR)
		return;
	TAILQ_FOREACH(pub, &pubs, entry)
		key_send(pub, peer->instance);
}

static void
stop_now(evutil_socket_t fd, short ev, void *arg)
{
	event_base_loopexit(ps->base, NULL);
}

static void
withdrawn(const char *error, const msgpack_object *result, void *arg)
{
	if (--withdrawing == 0)
		stop_now(-1, 0, NULL);
}

/*
 * SIGTERM: withdraw our names from every public operator, so clients
 * are refused at once rather than sent to a proxy that is gone; give up
 * after a second.
 */
void
eps_shutdown(struct privsep *p)
{
	struct timeval	 tv = { 1, 0 };
	struct pubstate	*pub;
	struct mp_out	 m;
	char		 method[RPC_METHODMAX];

	if (conf == NULL || !epsclient_connected(eps)) {
		stop_now(-1, 0, NULL);
		return;
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 1);
	pack_domains(&m, conf);
	TAILQ_FOREACH(pub, &pubs, entry) {
		evtimer_del(pub->timer);
		if (!pub->announced)
			continue;
		(void)snprintf(method, sizeof(method), "%s.%s", pub->name,
		    EPS_WITHDRAW);
		if (epsclient_call(eps, method, &m, 1, withdrawn, NULL) == 0)
			withdrawing++;
	}
	mp_out_free(&m);
	if (withdrawing == 0) {
		stop_now(-1, 0, NULL);
		return;
	}
	if ((stop_ev = evtimer_new(ps->base, stop_now, NULL)) != NULL)
		evtimer_add(stop_ev, &tv);
}

void
eps_init(struct privsep *p)
{
	static const struct epsclient_cbs cbs = {
		.request = eps_request,
		.link = eps_link,
		.up = eps_up,
	};

	ps = p;
	if ((eps = epsclient_new(ps, methods, &cbs, NULL)) == NULL)
		fatal("%s", __func__);
}

/*
 * Operations.
 */

void
eps_metrics(struct privsep *p, struct metrics *m)
{
	struct pubstate		*pub;
	struct metric_label	 l;
	const struct pp_domain	*d;
	unsigned int		 n = 0;

	(void)metrics_declare(m, "privproxyd_epsd_connected", METRIC_GAUGE,
	    "1 while the eps process is connected to the local epsd.");
	(void)metrics_add(m, "privproxyd_epsd_connected", NULL, 0,
	    eps != NULL && epsclient_connected(eps));
	if (conf != NULL)
		TAILQ_FOREACH(d, &conf->domains, entry)
			n++;
	(void)metrics_declare(m, "privproxyd_domains", METRIC_GAUGE,
	    "Domains served, as the configuration names them.");
	(void)metrics_add(m, "privproxyd_domains", NULL, 0, n);
	(void)metrics_declare(m, "privproxyd_announced", METRIC_GAUGE,
	    "1 while the last announcement to a public operator worked.");
	(void)metrics_declare(m, "privproxyd_names_refused", METRIC_GAUGE,
	    "Names a public operator refused in the last announcement.");
	l.name = "public";
	TAILQ_FOREACH(pub, &pubs, entry) {
		l.value = pub->name;
		(void)metrics_add(m, "privproxyd_announced", &l, 1,
		    pub->announced);
		(void)metrics_add(m, "privproxyd_names_refused", &l, 1,
		    pub->refused);
	}
}
