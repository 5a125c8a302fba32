/*
 * config.c: privproxyd's configuration in memory and as the msgpack map
 * the parent sends to the children (IMSG_PROC_CFG).  Addresses travel in
 * numeric "addr:port" form; the children never resolve names.
 *
 * What the children get is the rows of the tables below (settings.h),
 * with the bounds of parse.y:
 *
 *	{prefork, ttl, to_connect, to_idle, max_conns,
 *	 publics: [{name, backchannel: ["addr:port", ...], pool}, ...],
 *	 domains: [{name, proxy, forward: ["addr:port", ...]}, ...]}
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "privproxyd.h"
#include "settings.h"

static int	 valid_domain(const char *);

static const struct setting public_settings[] = {
	SETTING_STR("name", struct pp_public, name, rpc_valid_name),
	SETTING_ADDRS("backchannel", struct pp_public, bc, nbc, 1),
	SETTING_UINT("pool", struct pp_public, pool, 0, PP_POOL_MAX),
	SETTINGS_END
};

static const struct setting domain_settings[] = {
	SETTING_STR("name", struct pp_domain, name, valid_domain),
	SETTING_ADDRS("forward", struct pp_domain, fwd, nfwd, 1),
	SETTING_UINT("proxy", struct pp_domain, proxy, PROXY_NONE, PROXY_V2),
	SETTINGS_END
};

SETTINGS_TAILQ(pub, struct privproxyd_conf, publics, struct pp_public, entry)
SETTINGS_TAILQ(dom, struct privproxyd_conf, domains, struct pp_domain, entry)

const struct setting config_settings[] = {
	/* the connectors share each pool out by it; the parent resolves 0 */
	SETTING_UINT("prefork", struct privproxyd_conf, prefork, 1,
	    PROC_INSTMAX),
	SETTING_UINT("ttl", struct privproxyd_conf, ttl, 3, 86400),
	SETTING_UINT("to_connect", struct privproxyd_conf, to_connect,
	    1, 3600),
	SETTING_UINT("to_idle", struct privproxyd_conf, to_idle, 0, 86400 * 7),
	/* the parent resolves 0 ("as the descriptors allow") first */
	SETTING_UINT("max_conns", struct privproxyd_conf, max_conns,
	    1, 1000000),
	SETTING_LIST("publics", 1024, public_settings, pub_first, pub_next,
	    pub_add),
	SETTING_LIST("domains", 65536, domain_settings, dom_first, dom_next,
	    dom_add),
	SETTINGS_END
};

void *
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
	proc_ctlconf_init(&c->ctl);
	TAILQ_INIT(&c->publics);
	TAILQ_INIT(&c->domains);
	return (c);
}

void
config_free(void *arg)
{
	struct privproxyd_conf	*c = arg;
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

static int
valid_domain(const char *name)
{
	return (dname_valid(name, 1));
}
