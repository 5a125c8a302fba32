/*
 * config.c: epsd's configuration in memory, and as the msgpack map the
 * parent sends to both children with IMSG_PROC_CFG:
 *
 *	{operator: str, heartbeat: uint, timeout: uint,
 *	 peers: [{name: str, connect: ["addr:port", ...],
 *	          allow: [method, ...]}, ...]}
 *
 * The map is the rows of the tables below (settings.h), with the bounds
 * of parse.y.
 *
 * Addresses travel as numeric strings (net_addrstr), resolved by the
 * parent when it read the file.  The TLS files and the sockets travel
 * apart: IMSG_CFG_TLS to the session process only, descriptors with
 * IMSG_CFG_LISTEN and IMSG_CFG_SOCKET.  Children never read files.
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "epsd.h"
#include "log.h"
#include "settings.h"

static const struct setting peer_settings[] = {
	SETTING_STR("name", struct epsd_peer, name, rpc_valid_name),
	SETTING_ADDRS("connect", struct epsd_peer, connect, nconnect, 0),
	SETTING_STRS("allow", struct epsd_peer, allow, nallow, 0, RPC_NAMEMAX,
	    rpc_valid_name),
	SETTINGS_END
};

SETTINGS_TAILQ(peer, struct epsd_conf, peers, struct epsd_peer, entry)

const struct setting config_settings[] = {
	SETTING_STR("operator", struct epsd_conf, operator, rpc_valid_name),
	SETTING_UINT("heartbeat", struct epsd_conf, heartbeat,
	    1, EPSD_TIMEMAX),
	SETTING_UINT("timeout", struct epsd_conf, timeout, 1, EPSD_TIMEMAX),
	SETTING_LIST("peers", EPSD_MAXPEERS, peer_settings, peer_first,
	    peer_next, peer_add),
	SETTINGS_END
};

void *
config_new(void)
{
	struct epsd_conf	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	(void)strlcpy(c->user, EPSD_USER, sizeof(c->user));
	(void)strlcpy(c->chroot, PROC_EMPTYDIR, sizeof(c->chroot));
	(void)strlcpy(c->socket, EPS_SOCKET, sizeof(c->socket));
	c->heartbeat = EPSD_HEARTBEAT;
	c->timeout = EPS_CALL_TIMEOUT;
	proc_ctlconf_init(&c->ctl);
	TAILQ_INIT(&c->peers);
	return (c);
}

void
config_peer_free(struct epsd_peer *p)
{
	size_t	 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nallow; i++)
		free(p->allow[i]);
	free(p);
}

void
config_free(void *arg)
{
	struct epsd_conf	*c = arg;
	struct epsd_peer	*p;

	if (c == NULL)
		return;
	while ((p = TAILQ_FIRST(&c->peers)) != NULL) {
		TAILQ_REMOVE(&c->peers, p, entry);
		config_peer_free(p);
	}
	tlsutil_mem_free(&c->tls);
	free(c);
}

struct epsd_peer *
config_peer(const struct epsd_conf *c, const char *name)
{
	struct epsd_peer	*p;

	TAILQ_FOREACH(p, &c->peers, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

int
config_allows(const struct epsd_peer *p, const char *method)
{
	size_t	 i;

	for (i = 0; i < p->nallow; i++)
		if (strcmp(p->allow[i], method) == 0)
			return (1);
	return (0);
}

int
config_same_listen(const struct epsd_conf *a, const struct epsd_conf *b)
{
	int	 i;

	if (a->nlisten != b->nlisten)
		return (0);
	for (i = 0; i < a->nlisten; i++)
		if (a->listen[i].len != b->listen[i].len ||
		    memcmp(&a->listen[i].ss, &b->listen[i].ss,
		    a->listen[i].len) != 0)
			return (0);
	return (1);
}
