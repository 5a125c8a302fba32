/*
 * config.c: privproxyd's configuration in memory and as the msgpack map
 * the parent sends to the children (IMSG_CFG).  Addresses travel in
 * numeric "addr:port" form; the children never resolve names.
 */

#include "compat.h"
#include "log.h"
#include "privproxyd.h"

struct privproxyd_conf *
config_new(void)
{
	struct privproxyd_conf	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	(void)strlcpy(c->user, PROC_USER, sizeof(c->user));
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
	msgpack_pack_map(&m->pk, 7);
	mp_pack_kuint(&m->pk, "prefork", (uint64_t)c->prefork);	/* pool */
	mp_pack_kuint(&m->pk, "ttl", c->ttl);
	mp_pack_kuint(&m->pk, "to_connect", c->to_connect);
	mp_pack_kuint(&m->pk, "to_idle", c->to_idle);
	mp_pack_kuint(&m->pk, "max_conns", c->max_conns);
	mp_pack_str(&m->pk, "publics");
	msgpack_pack_array(&m->pk, np);
	TAILQ_FOREACH(p, &c->publics, entry) {
		msgpack_pack_map(&m->pk, 3);
		mp_pack_kstr(&m->pk, "name", p->name);
		pack_addrs(m, "backchannel", p->bc, p->nbc);
		mp_pack_kuint(&m->pk, "pool", p->pool);	/* pool */
	}
	mp_pack_str(&m->pk, "domains");
	msgpack_pack_array(&m->pk, nd);
	TAILQ_FOREACH(d, &c->domains, entry) {
		msgpack_pack_map(&m->pk, 3);
		mp_pack_kstr(&m->pk, "name", d->name);
		pack_addrs(m, "forward", d->fwd, d->nfwd);
		mp_pack_kuint(&m->pk, "proxy", (uint64_t)d->proxy);
	}
}

static int
unpack_addrs(const msgpack_object *map, const char *key, struct net_addr *a,
    int *n)
{
	const msgpack_object	*arr;
	char			 buf[NET_ADDRSTRLEN];
	uint32_t		 i;

	if ((arr = mp_map_array(map, key, PP_MAXADDR)) == NULL ||
	    arr->via.array.size == 0)
		return (-1);
	for (i = 0; i < arr->via.array.size; i++)
		if (mp_get_str(&arr->via.array.ptr[i], buf, sizeof(buf)) ==
		    -1 || net_parse(buf, &a[i]) == -1)
			return (-1);
	*n = (int)arr->via.array.size;
	return (0);
}

struct privproxyd_conf *
config_unpack(const uint8_t *buf, size_t len)
{
	struct privproxyd_conf	*c;
	struct pp_public	*p;
	struct pp_domain	*dom;
	struct mp_doc		 d;
	const msgpack_object	*arr, *o;
	uint64_t		 v;
	uint32_t		 i;

	if ((c = config_new()) == NULL)
		return (NULL);
	if (mp_parse(&d, buf, len) == -1) {
		free(c);
		log_warnx("config: malformed");
		return (NULL);
	}
	if (mp_map_uint(d.root, "prefork", PROC_INSTMAX, &v) == -1 || v == 0)
		goto fail;
	c->prefork = (int)v;
	if (mp_map_uint(d.root, "ttl", UINT32_MAX, &v) == -1)
		goto fail;
	c->ttl = (unsigned int)v;
	if (mp_map_uint(d.root, "to_connect", UINT32_MAX, &v) == -1)
		goto fail;
	c->to_connect = (unsigned int)v;
	if (mp_map_uint(d.root, "to_idle", UINT32_MAX, &v) == -1)
		goto fail;
	c->to_idle = (unsigned int)v;
	if (mp_map_uint(d.root, "max_conns", UINT32_MAX, &v) == -1)
		goto fail;
	c->max_conns = (unsigned int)v;
	if ((arr = mp_map_array(d.root, "publics", 1024)) == NULL)
		goto fail;
	for (i = 0; i < arr->via.array.size; i++) {
		o = &arr->via.array.ptr[i];
		if ((p = calloc(1, sizeof(*p))) == NULL)
			goto fail;
		TAILQ_INSERT_TAIL(&c->publics, p, entry);
		if (mp_map_str(o, "name", p->name, sizeof(p->name)) == -1 ||
		    !rpc_valid_name(p->name) ||
		    unpack_addrs(o, "backchannel", p->bc, &p->nbc) == -1 ||
		    mp_map_uint(o, "pool", PP_POOL_MAX, &v) == -1)
			goto fail;
		p->pool = (unsigned int)v;
	}
	if ((arr = mp_map_array(d.root, "domains", 65536)) == NULL)
		goto fail;
	for (i = 0; i < arr->via.array.size; i++) {
		o = &arr->via.array.ptr[i];
		if ((dom = calloc(1, sizeof(*dom))) == NULL)
			goto fail;
		TAILQ_INSERT_TAIL(&c->domains, dom, entry);
		if (mp_map_str(o, "name", dom->name, sizeof(dom->name)) ==
		    -1 || !dname_valid(dom->name, 1) ||
		    unpack_addrs(o, "forward", dom->fwd, &dom->nfwd) == -1 ||
		    mp_map_uint(o, "proxy", PROXY_V2, &v) == -1)
			goto fail;
		dom->proxy = (enum proxy_proto)v;
	}
	mp_free(&d);
	return (c);
 fail:
	log_warnx("config: bad message from parent");
	mp_free(&d);
	config_free(c);
	return (NULL);
}
