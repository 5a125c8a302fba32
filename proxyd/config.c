/*
 * config.c: proxyd's configuration in memory and as the msgpack map the
 * parent sends to every child (IMSG_PROC_CFG).  The children never read
 * the configuration file.  Listening sockets travel separately, as
 * descriptors, with IMSG_CFG_LISTEN.
 *
 * The settings the children get are the rows of settings[] (settings.h):
 * their key in the map, their bounds, which are those of parse.y, and
 * their field.  The operators follow as a list:
 *
 *	{endpoint, to_handshake, ..., max_ttl,
 *	 operators: [{name: str, allow: [pattern, ...]}, ...]}
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "proxyd.h"
#include "settings.h"

static const struct setting settings[] = {
	SETTING_STR("endpoint", struct proxyd_conf, endpoint, NULL),
	SETTING_UINT("to_handshake", struct proxyd_conf, to_handshake,
	    1, 3600),
	SETTING_UINT("to_token", struct proxyd_conf, to_token, 1, 3600),
	SETTING_UINT("to_preamble", struct proxyd_conf, to_preamble, 1, 3600),
	SETTING_UINT("to_idle", struct proxyd_conf, to_idle, 0, 86400 * 7),
	/* the parent resolves 0 ("as the descriptors allow") first */
	SETTING_UINT("max_conns", struct proxyd_conf, max_conns, 1, 1000000),
	SETTING_UINT("max_tokens", struct proxyd_conf, max_tokens, 1, 1000000),
	SETTING_UINT("max_announce", struct proxyd_conf, max_announce,
	    1, 1000000),
	SETTING_UINT("max_ttl", struct proxyd_conf, max_ttl, 1, 86400 * 7),
};

static const struct setting op_settings[] = {
	SETTING_STR("name", struct proxyd_operator, name, rpc_valid_name),
};

struct proxyd_conf *
config_new(void)
{
	struct proxyd_conf	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	(void)strlcpy(c->user, PROXYD_USER, sizeof(c->user));
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
	msgpack_pack_map(&m->pk, nitems(settings) + 1);
	settings_pack(&m->pk, settings, nitems(settings), c);
	mp_pack_str(&m->pk, "operators");
	msgpack_pack_array(&m->pk, n);
	TAILQ_FOREACH(op, &c->operators, entry) {
		msgpack_pack_map(&m->pk, nitems(op_settings) + 1);
		settings_pack(&m->pk, op_settings, nitems(op_settings), op);
		mp_pack_str(&m->pk, "allow");
		msgpack_pack_array(&m->pk, op->nallow);
		for (i = 0; i < op->nallow; i++)
			mp_pack_str(&m->pk, op->allow[i]);
	}
}

static int
unpack_operator(struct proxyd_conf *c, const msgpack_object *o, char *why,
    size_t whylen)
{
	struct proxyd_operator	*op;
	const msgpack_object	*allow;
	char			 pat[DNAME_MAX + 1];
	uint32_t		 j;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (-1);
	}
	TAILQ_INSERT_TAIL(&c->operators, op, entry);
	if (settings_unpack(o, op_settings, nitems(op_settings), op, why,
	    whylen) == -1)
		return (-1);
	if ((allow = settings_list(o, "allow", PROXYD_MAXALLOW, why,
	    whylen)) == NULL)
		return (-1);
	for (j = 0; j < allow->via.array.size; j++) {
		if (mp_get_str(&allow->via.array.ptr[j], pat,
		    sizeof(pat)) == -1 || !dname_valid(pat, 1)) {
			(void)snprintf(why, whylen, "allow %u: invalid", j);
			return (-1);
		}
		if ((op->allow[j] = strdup(pat)) == NULL) {
			(void)snprintf(why, whylen, "%s", strerror(errno));
			return (-1);
		}
		op->nallow++;
	}
	return (0);
}

struct proxyd_conf *
config_unpack(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	struct proxyd_conf	*c;
	struct mp_doc		 d;
	const msgpack_object	*ops;
	char			 e[PROC_REASONMAX];
	uint32_t		 i;

	if ((c = config_new()) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (NULL);
	}
	if (settings_parse(&d, buf, len, settings, nitems(settings), c, why,
	    whylen) == -1 || (ops = settings_list(d.root, "operators", 4096,
	    why, whylen)) == NULL)
		goto fail;
	for (i = 0; i < ops->via.array.size; i++)
		if (unpack_operator(c, &ops->via.array.ptr[i], e,
		    sizeof(e)) == -1) {
			(void)snprintf(why, whylen, "operator %u: %s", i, e);
			goto fail;
		}
	mp_free(&d);
	return (c);
 fail:
	mp_free(&d);
	config_free(c);
	return (NULL);
}
