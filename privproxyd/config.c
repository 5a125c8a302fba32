/*
 * config.c: privproxyd's configuration in memory and as the msgpack map
 * the parent sends to the children (IMSG_PROC_CFG).  Addresses travel in
 * numeric "addr:port" form; the children never resolve names.
 *
 * The settings the children get are the rows of the tables below
 * (settings.h), with the bounds of parse.y; the lists follow them:
 *
 *	{ttl, to_connect, to_idle, max_conns,
 *	 publics: [{name, backchannel: ["addr:port", ...]}, ...],
 *	 domains: [{name, proxy, forward: ["addr:port", ...]}, ...]}
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "privproxyd.h"
#include "settings.h"

static int	valid_domain(const char *);

static const struct setting settings[] = {
	SETTING_UINT("ttl", struct privproxyd_conf, ttl, 3, 86400),
	SETTING_UINT("to_connect", struct privproxyd_conf, to_connect,
	    1, 3600),
	SETTING_UINT("to_idle", struct privproxyd_conf, to_idle, 0, 86400 * 7),
	/* the parent resolves 0 ("as the descriptors allow") first */
	SETTING_UINT("max_conns", struct privproxyd_conf, max_conns,
	    1, 1000000),
};

static const struct setting public_settings[] = {
	SETTING_STR("name", struct pp_public, name, rpc_valid_name),
};

static const struct setting domain_settings[] = {
	SETTING_STR("name", struct pp_domain, name, valid_domain),
	SETTING_UINT("proxy", struct pp_domain, proxy, PROXY_NONE, PROXY_V2),
};

struct privproxyd_conf *
config_new(void)
{
	struct privproxyd_conf	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	(void)strlcpy(c->user, PRIVPROXYD_USER, sizeof(c->user));
	(void)strlcpy(c->chroot, PROC_EMPTYDIR, sizeof(c->chroot));
	(void)strlcpy(c->eps_socket, EPS_SOCKET, sizeof(c->eps_socket));
	c->prefork = 0;
	c->ttl = PP_TTL;
	c->to_connect = PP_TO_CONNECT;
	c->to_idle = PP_TO_IDLE;
	c->max_conns = 0;		/* as the descriptor limit allows */
	TAILQ_INIT(&c->publics);
	TAILQ_INIT(&c->domains);
	return (c);
}

void
config_free(struct privproxyd_conf *c)
{
	struct pp_public	*p;
	struct pp_domain	*d;

	if (c == NULL)
		return;
	while ((p = TAILQ_FIRST(&c->publics)) != NULL) {
		TAILQ_REMOVE(&c->publics, p, entry);
		free(p);
	}
	while ((d = TAILQ_FIRST(&c->domains)) != NULL) {
		TAILQ_REMOVE(&c->domains, d, entry);
		free(d);
	}
	free(c);
}

struct pp_public *
config_public(struct privproxyd_conf *c, const char *name)
{
	struct pp_public	*p;

	TAILQ_FOREACH(p, &c->publics, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

/* The domain entry serving name: exact first, then most specific. */
struct pp_domain *
config_domain(struct privproxyd_conf *c, const char *name)
{
	struct pp_domain	*d, *best = NULL;

	TAILQ_FOREACH(d, &c->domains, entry) {
		if (!dname_match(d->name, name))
			continue;
		if (d->name[0] != '*')
			return (d);
		if (best == NULL || strlen(d->name) > strlen(best->name))
			best = d;
	}
	return (best);
}

static void
pack_addrs(struct mp_out *m, const char *key, const struct net_addr *a,
    int n)
{
	char	 buf[NET_ADDRSTRLEN];
	int	 i;

	mp_pack_str(&m->pk, key);
	msgpack_pack_array(&m->pk, (size_t)n);
	for (i = 0; i < n; i++)
		mp_pack_str(&m->pk, net_addrstr(&a[i], buf, sizeof(buf)));
}

void
config_pack(const struct privproxyd_conf *c, struct mp_out *m)
{
	const struct pp_public	*p;
	const struct pp_domain	*d;
	size_t			 np = 0, nd = 0;

	TAILQ_FOREACH(p, &c->publics, entry)
		np++;
	TAILQ_FOREACH(d, &c->domains, entry)
		nd++;
	msgpack_pack_map(&m->pk, nitems(settings) + 2);
	settings_pack(&m->pk, settings, nitems(settings), c);
	mp_pack_str(&m->pk, "publics");
	msgpack_pack_array(&m->pk, np);
	TAILQ_FOREACH(p, &c->publics, entry) {
		msgpack_pack_map(&m->pk, nitems(public_settings) + 1);
		settings_pack(&m->pk, public_settings,
		    nitems(public_settings), p);
		pack_addrs(m, "backchannel", p->bc, p->nbc);
	}
	mp_pack_str(&m->pk, "domains");
	msgpack_pack_array(&m->pk, nd);
	TAILQ_FOREACH(d, &c->domains, entry) {
		msgpack_pack_map(&m->pk, nitems(domain_settings) + 1);
		settings_pack(&m->pk, domain_settings,
		    nitems(domain_settings), d);
		pack_addrs(m, "forward", d->fwd, d->nfwd);
	}
}

static int
valid_domain(const char *name)
{
	return (dname_valid(name, 1));
}

static int
unpack_addrs(const msgpack_object *map, const char *key, struct net_addr *a,
    int *n, char *why, size_t whylen)
{
	const msgpack_object	*arr;
	char			 buf[NET_ADDRSTRLEN];
	uint32_t		 i;

	if ((arr = settings_list(map, key, PP_MAXADDR, why, whylen)) == NULL)
		return (-1);
	if (arr->via.array.size == 0) {
		(void)snprintf(why, whylen, "%s: empty", key);
		return (-1);
	}
	for (i = 0; i < arr->via.array.size; i++)
		if (mp_get_str(&arr->via.array.ptr[i], buf, sizeof(buf)) ==
		    -1 || net_parse(buf, &a[i]) == -1) {
			(void)snprintf(why, whylen, "%s %u: invalid", key, i);
			return (-1);
		}
	*n = (int)arr->via.array.size;
	return (0);
}

static int
unpack_public(struct privproxyd_conf *c, const msgpack_object *o, char *why,
    size_t whylen)
{
	struct pp_public	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (-1);
	}
	TAILQ_INSERT_TAIL(&c->publics, p, entry);
	if (settings_unpack(o, public_settings, nitems(public_settings), p,
	    why, whylen) == -1)
		return (-1);
	return (unpack_addrs(o, "backchannel", p->bc, &p->nbc, why, whylen));
}

static int
unpack_domain(struct privproxyd_conf *c, const msgpack_object *o, char *why,
    size_t whylen)
{
	struct pp_domain	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (-1);
	}
	TAILQ_INSERT_TAIL(&c->domains, d, entry);
	if (settings_unpack(o, domain_settings, nitems(domain_settings), d,
	    why, whylen) == -1)
		return (-1);
	return (unpack_addrs(o, "forward", d->fwd, &d->nfwd, why, whylen));
}

struct privproxyd_conf *
config_unpack(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	struct privproxyd_conf	*c;
	struct mp_doc		 d;
	const msgpack_object	*pubs, *doms;
	char			 e[PROC_REASONMAX];
	uint32_t		 i;

	if ((c = config_new()) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (NULL);
	}
	if (settings_parse(&d, buf, len, settings, nitems(settings), c, why,
	    whylen) == -1 || (pubs = settings_list(d.root, "publics", 1024,
	    why, whylen)) == NULL || (doms = settings_list(d.root, "domains",
	    65536, why, whylen)) == NULL)
		goto fail;
	for (i = 0; i < pubs->via.array.size; i++)
		if (unpack_public(c, &pubs->via.array.ptr[i], e,
		    sizeof(e)) == -1) {
			(void)snprintf(why, whylen, "public %u: %s", i, e);
			goto fail;
		}
	for (i = 0; i < doms->via.array.size; i++)
		if (unpack_domain(c, &doms->via.array.ptr[i], e,
		    sizeof(e)) == -1) {
			(void)snprintf(why, whylen, "domain %u: %s", i, e);
			goto fail;
		}
	mp_free(&d);
	return (c);
 fail:
	mp_free(&d);
	config_free(c);
	return (NULL);
}
