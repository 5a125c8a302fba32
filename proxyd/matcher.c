/*
 * matcher.c: the matcher process of proxyd.
 *
 * It owns the announcements (soft state: names private operators serve,
 * renewed before they expire) and the route table made of them: which
 * operator serves a name or a "*.suffix" pattern.
 *
 * The route table and the pool keys live here and are pushed to every
 * listener, which looks names up in-process, joins a client to an idle
 * pooled backchannel of the operator, or issues a token and has the
 * eps process call the operator, without asking the matcher anything:
 * no client's connection passes through here.  A full table goes to
 * a listener whose channel comes up, and to all after a reload; each
 * change follows as it happens (IMSG_ROUTES).  A new matcher waits for
 * the eps process to replay the names the last one accepted
 * (IMSG_REPLAY_DONE), or PROXYD_SYNC_WAIT seconds, before its first full
 * table, so that the listeners keep routing meanwhile from the copy
 * they have.
 *
 * Pool keys: one random key per configured operator, made when the
 * matcher starts and again on every reload, and given to that operator
 * alone, in the answer to its announce.  Its private proxy presents it
 * when it opens a pooled backchannel.
 */

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#include "compat.h"
#include "clienthello.h"
#include "log.h"
#include "proxyd.h"

#define ANNOUNCE_REFUSED_MAX 32	/* refusals listed in one answer */

struct announce {
	RB_ENTRY(announce)	 node;
	char			 name[DNAME_MAX + 1];
	char			 op[RPC_NAMEMAX];
	time_t			 expires;
};

/* the pool key of an operator */
struct pool_key {
	TAILQ_ENTRY(pool_key)	 entry;
	char			 op[RPC_NAMEMAX];
	uint8_t			 key[EPS_POOL_KEYLEN];
};
TAILQ_HEAD(pool_keys, pool_key);

RB_HEAD(announces, announce);

/*
 * What one operator holds: its names.  It outlives a reload that drops
 * the operator until that is 0.
 */
struct opstat {
	TAILQ_ENTRY(opstat)	 entry;
	char			 op[RPC_NAMEMAX];
	unsigned int		 nannounces;
};
TAILQ_HEAD(opstats, opstat);

static int	announce_cmp(struct announce *, struct announce *);
RB_GENERATE_STATIC(announces, announce, node, announce_cmp)

static struct privsep		*ps;
static struct proxyd_conf	*conf;
static struct announces		 announces = RB_INITIALIZER(&announces);
static unsigned int		 nannounces;
static struct event		*sweep_ev;
static struct pool_keys		 pool_keys = TAILQ_HEAD_INITIALIZER(pool_keys);
static struct opstats		 opstats = TAILQ_HEAD_INITIALIZER(opstats);
/* route changes not yet sent to the listeners: [[name, op], ...] */
static struct mp_out		 routes_pend;
static unsigned int		 nroutes_pend;
static int			 synced;	/* listeners have our table */
static struct log_limit		 refused_limit = LOG_LIMIT_INITIALIZER(10);
static struct event		*sync_ev;
/* names come and go as peers say: their lines are limited too */
static struct log_limit		 names_limit = LOG_LIMIT_INFO(20);

static void	routes_note(const char *, const char *);
static void	routes_flush(void);

static int
announce_cmp(struct announce *a, struct announce *b)
{
	return (strcmp(a->name, b->name));
}

/* The counters of an operator; NULL only when memory is short. */
static struct opstat *
opstat_get(const char *op)
{
	struct opstat	*os;

	TAILQ_FOREACH(os, &opstats, entry)
		if (strcmp(os->op, op) == 0)
			return (os);
	if ((os = calloc(1, sizeof(*os))) == NULL)
		return (NULL);
	(void)strlcpy(os->op, op, sizeof(os->op));
	TAILQ_INSERT_TAIL(&opstats, os, entry);
	return (os);
}

/* Counters of operators no longer configured and holding nothing. */
static void
opstat_prune(void)
{
	struct opstat	*os, *next;

	TAILQ_FOREACH_SAFE(os, &opstats, entry, next)
		if (os->nannounces == 0 &&
		    config_operator(conf, os->op) == NULL) {
			TAILQ_REMOVE(&opstats, os, entry);
			free(os);
		}
}

static struct announce *
announce_find(const char *name)
{
	struct announce	 key;

	if (strlcpy(key.name, name, sizeof(key.name)) >= sizeof(key.name))
		return (NULL);
	return (RB_FIND(announces, &announces, &key));
}

/*
 * Pool keys and the listeners' copy of the route table.
 */

static struct pool_key *
pool_key_find(const char *op)
{
	struct pool_key	*pk;

	TAILQ_FOREACH(pk, &pool_keys, entry)
		if (strcmp(pk->op, op) == 0)
			return (pk);
	return (NULL);
}

/* A new key for every operator: at start and on every reload. */
static void
pool_keys_make(void)
{
	struct proxyd_operator	*op;
	struct pool_key		*pk;

	while ((pk = TAILQ_FIRST(&pool_keys)) != NULL) {
		TAILQ_REMOVE(&pool_keys, pk, entry);
		explicit_bzero(pk, sizeof(*pk));
		free(pk);
	}
	TAILQ_FOREACH(op, &conf->operators, entry) {
		if (op->max_pool == 0)
			continue;	/* no pool for it: no key */
		if ((pk = calloc(1, sizeof(*pk))) == NULL)
			fatal("%s", __func__);
		(void)strlcpy(pk->op, op->name, sizeof(pk->op));
		arc4random_buf(pk->key, sizeof(pk->key));
		TAILQ_INSERT_TAIL(&pool_keys, pk, entry);
	}
}

/* One frame of IMSG_ROUTES to one listener, or to all (-1). */
static void
routes_send(int instance, int begin, int end, struct mp_out *keys,
    uint32_t nkeys, struct mp_out *set, uint32_t nset)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 4);
	mp_pack_kbool(&m.pk, "begin", begin);
	mp_pack_kbool(&m.pk, "end", end);
	mp_pack_str(&m.pk, "keys");
	msgpack_pack_array(&m.pk, nkeys);
	if (keys != NULL)
		msgpack_sbuffer_write(&m.sb, keys->sb.data, keys->sb.size);
	mp_pack_str(&m.pk, "set");
	msgpack_pack_array(&m.pk, nset);
	if (set != NULL)
		msgpack_sbuffer_write(&m.sb, set->sb.data, set->sb.size);
	(void)proc_send_mp(ps, PROC_LISTENER, instance, IMSG_ROUTES, 0, -1,
	    &m);
	mp_out_free(&m);
}

static void
routes_flush(void)
{
	if (nroutes_pend == 0)
		return;
	if (synced)
		routes_send(-1, 0, 0, NULL, 0, &routes_pend, nroutes_pend);
	mp_out_reset(&routes_pend);
	nroutes_pend = 0;
}

/* A name is announced by op now, or by nobody ("") any more. */
static void
routes_note(const char *name, const char *op)
{
	if (!synced)
		return;		/* the first full table will say it */
	msgpack_pack_array(&routes_pend.pk, 2);
	mp_pack_str(&routes_pend.pk, name);
	mp_pack_str(&routes_pend.pk, op);
	if (++nroutes_pend >= PROXYD_ROUTES_CHUNK)
		routes_flush();
}

/* The keys and the whole table, in frames of PROXYD_ROUTES_CHUNK. */
static void
routes_full(int instance)
{
	struct pool_key	*pk;
	struct announce	*a;
	struct mp_out	 keys, set;
	uint32_t	 nkeys = 0, nset = 0;
	int		 begin = 1;

	routes_flush();
	mp_out_init(&keys);
	mp_out_init(&set);
	TAILQ_FOREACH(pk, &pool_keys, entry) {
		msgpack_pack_array(&keys.pk, 2);
		mp_pack_str(&keys.pk, pk->op);
		msgpack_pack_bin(&keys.pk, sizeof(pk->key));
		msgpack_pack_bin_body(&keys.pk, pk->key, sizeof(pk->key));
		if (++nkeys + nset < PROXYD_ROUTES_CHUNK)
			continue;
		routes_send(instance, begin, 0, &keys, nkeys, &set, nset);
		explicit_bzero(keys.sb.data, keys.sb.size);
		mp_out_reset(&keys);
		nkeys = 0;
		begin = 0;
	}
	RB_FOREACH(a, announces, &announces) {
		msgpack_pack_array(&set.pk, 2);
		mp_pack_str(&set.pk, a->name);
		mp_pack_str(&set.pk, a->op);
		if (nkeys + ++nset < PROXYD_ROUTES_CHUNK)
			continue;
		routes_send(instance, begin, 0, &keys, nkeys, &set, nset);
		if (keys.sb.data != NULL)	/* none yet: NULL */
			explicit_bzero(keys.sb.data, keys.sb.size);
		mp_out_reset(&keys);
		mp_out_reset(&set);
		nkeys = nset = 0;
		begin = 0;
	}
	routes_send(instance, begin, 1, &keys, nkeys, &set, nset);
	if (keys.sb.data != NULL)
		explicit_bzero(keys.sb.data, keys.sb.size);
	mp_out_free(&keys);
	mp_out_free(&set);
}

/* The eps process has replayed its shadow, or it took too long. */
static void
routes_sync(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };

	if (synced)
		return;
	if (conf == NULL) {
		evtimer_add(sync_ev, &tv);
		return;
	}
	synced = 1;
	evtimer_del(sync_ev);
	routes_full(-1);
}

static int
operator_allows(const char *opname, const char *pattern)
{
	struct proxyd_operator	*op;
	size_t			 i;

	if ((op = config_operator(conf, opname)) == NULL)
		return (0);
	for (i = 0; i < op->nallow; i++)
		if (dname_covers(op->allow[i], pattern))
			return (1);
	return (0);
}

static void
announce_free(struct announce *a)
{
	struct opstat	*os;

	if ((os = opstat_get(a->op)) != NULL && os->nannounces > 0)
		os->nannounces--;
	routes_note(a->name, "");
	RB_REMOVE(announces, &announces, a);
	free(a);
	nannounces--;
}

/* One name of an announcement; NULL when accepted, else why not. */
static const char *
announce_one(const char *caller, const char *name, unsigned int ttl,
    time_t now)
{
	struct announce		*a;
	struct proxyd_operator	*op;
	struct opstat		*os;

	if ((op = config_operator(conf, caller)) == NULL)
		return ("operator not configured");
	if (!operator_allows(caller, name))
		return ("name not allowed for this operator");
	if ((a = announce_find(name)) != NULL) {
		if (strcmp(a->op, caller) == 0) {
			log_debug("%s renewed %s (ttl %u)", caller, name, ttl);
			a->expires = now + ttl;
			return (NULL);
		}
		if (a->expires > now)
			return ("conflict: name held by another operator");
		/* expired, the sweep has not come by yet: as it would */
		log_limited(&names_limit, "announcement of %s by %s expired",
		    a->name, a->op);
		announce_free(a);
	}
	if (nannounces >= conf->max_announce)
		return ("too many announcements");
	if ((os = opstat_get(caller)) == NULL)
		return ("out of memory");
	if (os->nannounces >= op->max_announce)
		return ("too many announcements for this operator");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ("out of memory");
	(void)strlcpy(a->name, name, sizeof(a->name));
	(void)strlcpy(a->op, caller, sizeof(a->op));
	a->expires = now + ttl;
	RB_INSERT(announces, &announces, a);
	nannounces++;
	os->nannounces++;
	routes_note(a->name, a->op);
	log_limited(&names_limit, "%s announced %s (ttl %u)", caller, name,
	    ttl);
	return (NULL);
}

static void
announce(struct proc_chan *from, struct frame *f, int withdraw)
{
	struct mp_doc		 d;
	struct mp_out		 m, refused;
	const msgpack_object	*doms;
	struct announce		*a;
	struct pool_key		*pk;
	char			 caller[RPC_NAMEMAX], name[DNAME_MAX + 1];
	const char		*why;
	uint64_t		 ttl = 0;
	uint32_t		 i, nacc = 0, nref = 0;
	time_t			 now = time(NULL);
	int			 replay = 0;

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_str(d.root, "caller", caller, sizeof(caller)) == -1 ||
	    (doms = mp_map_array(d.root, "domains", EPS_DOMAINS_MAX)) ==
	    NULL || (!withdraw && mp_map_uint(d.root, "ttl", UINT32_MAX,
	    &ttl) == -1)) {
		log_warnx("%s: bad message from eps", __func__);
		mp_free(&d);
		return;
	}
	(void)mp_map_bool(d.root, "replay", &replay);
	if (ttl > conf->max_ttl)
		ttl = conf->max_ttl;
	if (!withdraw && ttl == 0)
		ttl = 1;
	mp_out_init(&m);
	mp_out_init(&refused);
	/* accepted names first, counted; refused ones packed aside */
	for (i = 0; i < doms->via.array.size; i++) {
		if (mp_get_str(&doms->via.array.ptr[i], name,
		    sizeof(name)) == -1 || dname_lower(name, name,
		    sizeof(name), 1) == -1) {
			why = "not a valid name or pattern";
			(void)strlcpy(name, "(invalid)", sizeof(name));
		} else if (withdraw) {
			why = NULL;
			if ((a = announce_find(name)) != NULL &&
			    strcmp(a->op, caller) == 0) {
				log_limited(&names_limit, "%s withdrew %s",
				    caller, name);
				announce_free(a);
				nacc++;
			}
			continue;
		} else
			why = announce_one(caller, name, (unsigned int)ttl,
			    now);
		if (why == NULL) {
			mp_pack_str(&m.pk, name);
			nacc++;
			continue;
		}
		log_limited(&refused_limit, "refused announcement of %s by "
		    "%s: %s", name, caller, why);
		/* the answer must fit a frame whatever was asked */
		if (nref++ >= ANNOUNCE_REFUSED_MAX)
			continue;
		msgpack_pack_array(&refused.pk, 2);
		mp_pack_str(&refused.pk, name);
		mp_pack_str(&refused.pk, why);
	}
	mp_free(&d);
	/* now assemble {accepted: [...], refused: [...]} around them */
	{
		struct mp_out	 res;

		mp_out_init(&res);
		if (withdraw) {
			msgpack_pack_map(&res.pk, 1);
			mp_pack_kuint(&res.pk, "withdrawn", nacc);
		} else {
			pk = pool_key_find(caller);
			msgpack_pack_map(&res.pk, pk != NULL ? 5 : 4);
			if (pk != NULL)
				mp_pack_kbin(&res.pk, "pool", pk->key,
				    sizeof(pk->key));
			mp_pack_kuint(&res.pk, "ttl", ttl);
			mp_pack_str(&res.pk, "accepted");
			msgpack_pack_array(&res.pk, nacc);
			msgpack_sbuffer_write(&res.sb, m.sb.data, m.sb.size);
			mp_pack_str(&res.pk, "refused");
			msgpack_pack_array(&res.pk, MINIMUM(nref,
			    ANNOUNCE_REFUSED_MAX));
			msgpack_sbuffer_write(&res.sb, refused.sb.data,
			    refused.sb.size);
			mp_pack_kuint(&res.pk, "nrefused", nref);
		}
		if (!replay)
			(void)proc_chan_send(from, IMSG_ANNOUNCE_RES,
			    f->hdr.ref, -1, &res);
		mp_out_free(&res);
	}
	mp_out_free(&m);
	mp_out_free(&refused);
	routes_flush();
}

static void
sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	struct announce	*a, *an;
	time_t		 now = time(NULL);

	RB_FOREACH_SAFE(a, announces, &announces, an)
		if (a->expires <= now) {
			log_limited(&names_limit, "announcement of %s by %s "
			    "expired", a->name, a->op);
			announce_free(a);
		}
	routes_flush();
	evtimer_add(sweep_ev, &tv);
}

/* After a reload, drop what the new configuration no longer allows. */
static void
recheck(void)
{
	struct announce	*a, *an;

	RB_FOREACH_SAFE(a, announces, &announces, an)
		if (!operator_allows(a->op, a->name)) {
			log_info("announcement of %s by %s dropped: no "
			    "longer allowed", a->name, a->op);
			announce_free(a);
		}
}

int
matcher_config(struct privsep *p, void *nconf, char *why, size_t whylen)
{
	struct proxyd_conf	*nc = nconf;

	if (nconf == NULL)
		return (-1);
	/*
	 * Applying a lower limit than the names held would drop routes
	 * that clients use, or leave the table over the bound that keeps
	 * one operator from filling it: keep the configuration we have.
	 */
	if (conf != NULL && nc->max_announce < nannounces) {
		(void)snprintf(why, whylen, "max announcements %u is below "
		    "the %u names announced now: withdraw names first, or "
		    "restart proxyd", nc->max_announce, nannounces);
		return (-1);
	}
	config_free(conf);
	conf = nconf;
	recheck();
	opstat_prune();
	/* new keys for all; the old ones stay good for a grace period */
	pool_keys_make();
	if (synced)
		routes_full(-1);
	return (0);
}

void
matcher_dispatch(struct privsep *p, struct proc_chan *from, struct frame *f)
{
	if (conf == NULL) {
		log_warnx("%s: message %u before configuration", __func__,
		    f->hdr.type);
		return;
	}
	switch (f->hdr.type) {
	case IMSG_ANNOUNCE:
	case IMSG_WITHDRAW:
		if (from->id == PROC_EPS)
			announce(from, f, f->hdr.type == IMSG_WITHDRAW);
		return;
	case IMSG_REPLAY_DONE:
		if (from->id == PROC_EPS)
			routes_sync(-1, 0, NULL);
		return;
	}
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    proc_title(p, from->id));
}

void
matcher_chan_event(struct privsep *p, struct proc_chan *peer, int up)
{
	if (peer->id != PROC_LISTENER)
		return;
	/* a (re)started listener gets the table, once we have it */
	if (up && synced && conf != NULL)
		routes_full(peer->instance);
}

void
matcher_init(struct privsep *p)
{
	struct timeval	 tv = { 1, 0 };
	struct timeval	 wait = { PROXYD_SYNC_WAIT, 0 };

	ps = p;
	mp_out_init(&routes_pend);
	if ((sweep_ev = evtimer_new(ps->base, sweep, NULL)) == NULL ||
	    (sync_ev = evtimer_new(ps->base, routes_sync, NULL)) == NULL)
		fatal("%s", __func__);
	evtimer_add(sweep_ev, &tv);
	evtimer_add(sync_ev, &wait);
}

/*
 * Operations: announcements and routes.
 */

void
matcher_metrics(struct privsep *p, struct metrics *m)
{
	struct proxyd_operator	*op;
	struct announce		*a;
	struct metric_label	 l;

	(void)metrics_declare(m, "proxyd_announcements", METRIC_GAUGE,
	    "Names announced, by the operator that announced them.");
	l.name = "operator";
	if (conf != NULL)
		TAILQ_FOREACH(op, &conf->operators, entry) {
			l.value = op->name;
			(void)metrics_add(m, "proxyd_announcements", &l, 1, 0);
		}
	RB_FOREACH(a, announces, &announces) {
		l.value = a->op;
		(void)metrics_add(m, "proxyd_announcements", &l, 1, 1);
	}
}

int
matcher_control(struct privsep *p, uint32_t ref, const char *cmd, int argc,
    char **argv, char *why, size_t whylen)
{
	struct proc_rows	 rows;
	msgpack_packer		*pk;
	struct announce		*a;
	time_t			 now = time(NULL);
	int			 routes;

	if (strcmp(cmd, "show routes") == 0)
		routes = 1;
	else if (strcmp(cmd, "show announcements") == 0)
		routes = 0;
	else {
		(void)snprintf(why, whylen, "%s: not a matcher command", cmd);
		return (-1);
	}
	proc_rows_init(&rows, p, ref);
	RB_FOREACH(a, announces, &announces) {
		if (a->expires <= now)
			continue;	/* the sweep has not come by yet */
		pk = proc_rows_add(&rows);
		msgpack_pack_map(pk, routes ? 2 : 3);
		mp_pack_kstr(pk, "name", a->name);
		mp_pack_kstr(pk, "operator", a->op);
		if (!routes)
			mp_pack_kuint(pk, "ttl", (uint64_t)(a->expires - now));
	}
	if (proc_rows_end(&rows) == -1) {
		(void)strlcpy(why, "the parent did not take the list", whylen);
		return (-1);
	}
	return (0);
}
