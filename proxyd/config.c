/*
 * config.c: proxyd's configuration in memory and as the msgpack map the
 * parent sends to every child (IMSG_PROC_CFG).  The children never read
 * the configuration file.  Listening sockets travel separately, as
 * descriptors, with IMSG_CFG_LISTEN.
 *
 * What the children get is the rows of the tables below (settings.h):
 * each setting's key in the map, its bounds, which are those of
 * parse.y, and its field:
 *
 *	{endpoint, prefork, to_handshake, ..., max_conns, max_src_hs,
 *	 max_src_conns, ..., max_ttl,
 *	 operators: [{name: str, max_pool, max_calls, max_tokens,
 *	 max_announce, allow: [pattern, ...]}, ...],
 *	 proxy_protocol: [{listen: "ip:port", from: [network, ...]}, ...]}
 *
 * A listener finds a public socket's entry in proxy_protocol by the
 * socket's address, so a reload may change the trusted networks.
 *
 * The top level's op_max_* are the parser's: each operator's own limits
 * are filled in from them before the map is made.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "proxyd.h"
#include "proxyproto.h"
#include "settings.h"

static int	 valid_pattern(const char *);
static int	 valid_addr(const char *);
static int	 valid_network(const char *);

static const struct setting op_settings[] = {
	SETTING_STR("name", struct proxyd_operator, name, rpc_valid_name),
	SETTING_UINT("max_pool", struct proxyd_operator, max_pool, 0, 65535),
	SETTING_UINT("max_calls", struct proxyd_operator, max_calls,
	    1, EPS_CALLS_MAX),
	SETTING_UINT("max_tokens", struct proxyd_operator, max_tokens,
	    1, 1000000),
	SETTING_UINT("max_announce", struct proxyd_operator, max_announce,
	    1, 1000000),
	SETTING_STRS("allow", struct proxyd_operator, allow, nallow, 0,
	    DNAME_MAX + 1, valid_pattern),
	SETTINGS_END
};

SETTINGS_TAILQ(op, struct proxyd_conf, operators, struct proxyd_operator, entry)

static const struct setting ppin_settings[] = {
	SETTING_STR("listen", struct proxyd_ppin, addr, valid_addr),
	SETTING_STRS("from", struct proxyd_ppin, from, nfrom, 1,
	    PP_NETSTRLEN, valid_network),
	SETTINGS_END
};

SETTINGS_TAILQ(ppin, struct proxyd_conf, ppin, struct proxyd_ppin, entry)

const struct setting config_settings[] = {
	SETTING_STR("endpoint", struct proxyd_conf, endpoint, NULL),
	/* the listeners share out pooled backchannels by it */
	SETTING_UINT("prefork", struct proxyd_conf, prefork, 1, PROC_INSTMAX),
	SETTING_UINT("to_handshake", struct proxyd_conf, to_handshake,
	    1, 3600),
	SETTING_UINT("to_token", struct proxyd_conf, to_token, 1, 3600),
	SETTING_UINT("to_preamble", struct proxyd_conf, to_preamble, 1, 3600),
	SETTING_UINT("to_idle", struct proxyd_conf, to_idle, 0, 86400 * 7),
	/* the parent resolves 0 ("as the descriptors allow") first */
	SETTING_UINT("max_conns", struct proxyd_conf, max_conns, 1, 1000000),
	/* per listener and source; 0: no limit of its own */
	SETTING_UINT("max_src_hs", struct proxyd_conf, max_src_hs,
	    0, 1000000),
	SETTING_UINT("max_src_conns", struct proxyd_conf, max_src_conns,
	    0, 1000000),
	SETTING_UINT("max_tokens", struct proxyd_conf, max_tokens, 1, 1000000),
	SETTING_UINT("max_announce", struct proxyd_conf, max_announce,
	    1, 1000000),
	SETTING_UINT("max_ttl", struct proxyd_conf, max_ttl, 1, 86400 * 7),
	SETTING_LIST("operators", 4096, op_settings, op_first, op_next,
	    op_add),
	SETTING_LIST("proxy_protocol", PROXYD_MAXLISTEN, ppin_settings,
	    ppin_first, ppin_next, ppin_add),
	SETTINGS_END
};

void *
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
	c->max_src_hs = PROXYD_SRC_HANDSHAKES;
	c->max_src_conns = PROXYD_SRC_CONNS;
	c->max_tokens = PROXYD_MAX_TOKENS;
	c->max_announce = PROXYD_MAX_ANNOUNCE;
	c->max_ttl = PROXYD_MAX_TTL;
	c->op_max_calls = PROXYD_OP_CALLS;
	c->op_max_tokens = PROXYD_OP_TOKENS;
	c->op_max_announce = PROXYD_OP_ANNOUNCE;
	proc_ctlconf_init(&c->ctl);
	TAILQ_INIT(&c->operators);
	TAILQ_INIT(&c->ppin);
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
config_free(void *arg)
{
	struct proxyd_conf	*c = arg;
	struct proxyd_operator	*op;
	struct proxyd_ppin	*pp;
	size_t			 i;

	if (c == NULL)
		return;
	while ((op = TAILQ_FIRST(&c->operators)) != NULL) {
		TAILQ_REMOVE(&c->operators, op, entry);
		operator_free(op);
	}
	while ((pp = TAILQ_FIRST(&c->ppin)) != NULL) {
		TAILQ_REMOVE(&c->ppin, pp, entry);
		for (i = 0; i < pp->nfrom; i++)
			free(pp->from[i]);
		free(pp);
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

static int
valid_pattern(const char *s)
{
	return (dname_valid(s, 1));
}

static int
valid_addr(const char *s)
{
	struct net_addr	 a;

	return (net_parse(s, &a) == 0);
}

static int
valid_network(const char *s)
{
	struct pp_net	 net;
	const char	*why;

	return (pp_net_parse(s, &net, &why) == 0);
}
