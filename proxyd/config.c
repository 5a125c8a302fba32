/*
 * config.c: proxyd's configuration in memory and as the msgpack map the
 * parent sends to every child (IMSG_CFG).  The children never read the
 * configuration file.  Listening sockets travel separately, as
 * descriptors, with IMSG_CFG_LISTEN.
 */

#include <errno.h>

#include "compat.h"
#include "log.h"
#include "proxyd.h"

struct proxyd_conf *
config_new(void)
{
	struct proxyd_conf	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	(void)strlcpy(c->user, PROC_USER, sizeof(c->user));
	(void)strlcpy(c->chroot, PROC_EMPTYDIR, sizeof(c->chroot));
	(void)strlcpy(c->eps_socket, EPS_SOCKET, sizeof(c->eps_socket));
	c->prefork = 0;
	c->to_handshake = PROXYD_TO_HANDSHAKE;
	c->to_token = PROXYD_TO_TOKEN;
	c->to_preamble = PROXYD_TO_PREAMBLE;
	c->to_idle = PROXYD_TO_IDLE;
	c->max_conns = 0;		/* as the descriptor limit allows */
	c->max_tokens = PROXYD_MAX_TOKENS;
	c->max_announce = PROXYD_MAX_ANNOUNCE;
	c->max_ttl = PROXYD_MAX_TTL;
	TAILQ_INIT(&c->operators);
	return (c);
}

static void
operator_free(struct proxyd_operator *op)
{
	size_t	 i;

	for (i = 0; i < op->nallow; i++)
		free(op->allow[i]);
	free(op);
}

void
config_free(struct proxyd_conf *c)
{
	struct proxyd_operator	*op;

	if (c == NULL)
		return;
	while ((op = TAILQ_FIRST(&c->operators)) != NULL) {
		TAILQ_REMOVE(&c->operators, op, entry);
		operator_free(op);
	}
	free(c);
}

struct proxyd_operator *
config_operator(struct proxyd_conf *c, const char *name)
{
	struct proxyd_operator	*op;

	TAILQ_FOREACH(op, &c->operators, entry)
		if (strcmp(op->name, name) == 0)
			return (op);
	return (NULL);
}

void
config_pack(const struct proxyd_conf *c, struct mp_out *m)
{
	const struct proxyd_operator	*op;
	size_t				 n = 0, i;

	TAILQ_FOREACH(op, &c->operators, entry)
		n++;
	msgpack_pack_map(&m->pk, 11);
	mp_pack_kstr(&m->pk, "endpoint", c->endpoint);
	mp_pack_kuint(&m->pk, "prefork", (uint64_t)c->prefork);	/* pool */
	mp_pack_kuint(&m->pk, "to_handshake", c->to_handshake);
	mp_pack_kuint(&m->pk, "to_token", c->to_token);
	mp_pack_kuint(&m->pk, "to_preamble", c->to_preamble);
	mp_pack_kuint(&m->pk, "to_idle", c->to_idle);
	mp_pack_kuint(&m->pk, "max_conns", c->max_conns);
	mp_pack_kuint(&m->pk, "max_tokens", c->max_tokens);
	mp_pack_kuint(&m->pk, "max_announce", c->max_announce);
	mp_pack_kuint(&m->pk, "max_ttl", c->max_ttl);
	mp_pack_str(&m->pk, "operators");
	msgpack_pack_array(&m->pk, n);
	TAILQ_FOREACH(op, &c->operators, entry) {
		msgpack_pack_map(&m->pk, 3);
		mp_pack_kstr(&m->pk, "name", op->name);
		/* pool */
		mp_pack_kuint(&m->pk, "max_pool", op->max_pool);
		mp_pack_str(&m->pk, "allow");
		msgpack_pack_array(&m->pk, op->nallow);
		for (i = 0; i < op->nallow; i++)
			mp_pack_str(&m->pk, op->allow[i]);
	}
}

static int
get_uint(const msgpack_object *map, const char *key, unsigned int *v)
{
	uint64_t	 u;

	if (mp_map_uint(map, key, UINT32_MAX, &u) == -1) {
		log_warnx("config: bad %s", key);
		return (-1);
	}
	*v = (unsigned int)u;
	return (0);
}

struct proxyd_conf *
config_unpack(const uint8_t *buf, size_t len)
{
	struct proxyd_conf		*c;
	struct proxyd_operator		*op;
	struct mp_doc			 d;
	const msgpack_object		*ops, *o, *allow;
	char				 pat[DNAME_MAX + 1];
	uint64_t			 v;
	uint32_t			 i, j;

	if ((c = config_new()) == NULL)
		return (NULL);
	if (mp_parse(&d, buf, len) == -1) {
		log_warnx("config: malformed");
		free(c);
		return (NULL);
	}
	if (mp_map_str(d.root, "endpoint", c->endpoint,
	    sizeof(c->endpoint)) == -1 ||
	    get_uint(d.root, "to_handshake", &c->to_handshake) == -1 ||
	    get_uint(d.root, "to_token", &c->to_token) == -1 ||
	    get_uint(d.root, "to_preamble", &c->to_preamble) == -1 ||
	    get_uint(d.root, "to_idle", &c->to_idle) == -1 ||
	    get_uint(d.root, "max_conns", &c->max_conns) == -1 ||
	    get_uint(d.root, "max_tokens", &c->max_tokens) == -1 ||
	    get_uint(d.root, "max_announce", &c->max_announce) == -1 ||
	    get_uint(d.root, "max_ttl", &c->max_ttl) == -1 ||
	    mp_map_uint(d.root, "prefork", PROC_INSTMAX, &v) == -1 || v == 0 ||
	    (ops = mp_map_array(d.root, "operators", 4096)) == NULL)
		goto fail;
	for (i = 0; i < ops->via.array.size; i++) {
		o = &ops->via.array.ptr[i];
		if ((op = calloc(1, sizeof(*op))) == NULL)
			goto fail;
		TAILQ_INSERT_TAIL(&c->operators, op, entry);
		if (mp_map_str(o, "name", op->name, sizeof(op->name)) == -1 ||
		    (allow = mp_map_array(o, "allow", PROXYD_MAXALLOW)) ==
		    NULL || get_uint(o, "max_pool", &op->max_pool) == -1)
			goto fail;
		for (j = 0; j < allow->via.array.size; j++) {
			if (mp_get_str(&allow->via.array.ptr[j], pat,
			    sizeof(pat)) == -1 || !dname_valid(pat, 1) ||
			    (op->allow[j] = strdup(pat)) == NULL)
				goto fail;
			op->nallow++;
		}
	}
	c->prefork = (int)v;
	mp_free(&d);
	return (c);
 fail:
	log_warnx("config: bad message from parent");
	mp_free(&d);
	config_free(c);
	return (NULL);
}
