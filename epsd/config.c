/*
 * config.c: epsd's configuration in memory, and as the msgpack map the
 * parent sends to both children with IMSG_PROC_CFG:
 *
 *	{operator: str, heartbeat: uint, timeout: uint,
 *	 peers: [{name: str, connect: ["addr:port", ...],
 *	          allow: [method, ...]}, ...]}
 *
 * The scalar settings are the rows of the tables below (settings.h),
 * with the bounds of parse.y; the lists are packed by hand.
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

static const struct setting settings[] = {
	SETTING_STR("operator", struct epsd_conf, operator, rpc_valid_name),
	SETTING_UINT("heartbeat", struct epsd_conf, heartbeat,
	    1, EPSD_TIMEMAX),
	SETTING_UINT("timeout", struct epsd_conf, timeout, 1, EPSD_TIMEMAX),
};

static const struct setting peer_settings[] = {
	SETTING_STR("name", struct epsd_peer, name, rpc_valid_name),
};

struct epsd_conf *
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
config_free(struct epsd_conf *c)
{
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

void
config_pack(const struct epsd_conf *c, struct mp_out *m)
{
	const struct epsd_peer	*p;
	char			 a[NET_ADDRSTRLEN];
	size_t			 i;
	int			 j;

	msgpack_pack_map(&m->pk, nitems(settings) + 1);
	settings_pack(&m->pk, settings, nitems(settings), c);
	mp_pack_str(&m->pk, "peers");
	msgpack_pack_array(&m->pk, (size_t)c->npeers);
	TAILQ_FOREACH(p, &c->peers, entry) {
		msgpack_pack_map(&m->pk, nitems(peer_settings) + 2);
		settings_pack(&m->pk, peer_settings, nitems(peer_settings), p);
		mp_pack_str(&m->pk, "connect");
		msgpack_pack_array(&m->pk, (size_t)p->nconnect);
		for (j = 0; j < p->nconnect; j++)
			mp_pack_str(&m->pk, net_addrstr(&p->connect[j], a,
			    sizeof(a)));
		mp_pack_str(&m->pk, "allow");
		msgpack_pack_array(&m->pk, p->nallow);
		for (i = 0; i < p->nallow; i++)
			mp_pack_str(&m->pk, p->allow[i]);
	}
}

static int
unpack_peer(struct epsd_conf *c, const msgpack_object *o, char *why,
    size_t whylen)
{
	struct epsd_peer	*p;
	const msgpack_object	*conn, *allow;
	char			 buf[NET_ADDRSTRLEN];
	char			 name[RPC_NAMEMAX];
	uint32_t		 i;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (-1);
	}
	TAILQ_INSERT_TAIL(&c->peers, p, entry);
	c->npeers++;
	if (settings_unpack(o, peer_settings, nitems(peer_settings), p, why,
	    whylen) == -1)
		return (-1);
	if ((conn = settings_list(o, "connect", EPSD_MAXCONNECT, why,
	    whylen)) == NULL || (allow = settings_list(o, "allow",
	    EPSD_MAXALLOW, why, whylen)) == NULL)
		return (-1);
	for (i = 0; i < conn->via.array.size; i++) {
		if (mp_get_str(&conn->via.array.ptr[i], buf,
		    sizeof(buf)) == -1 ||
		    net_parse(buf, &p->connect[p->nconnect]) == -1) {
			(void)snprintf(why, whylen, "connect %u: invalid", i);
			return (-1);
		}
		p->nconnect++;
	}
	for (i = 0; i < allow->via.array.size; i++) {
		if (mp_get_str(&allow->via.array.ptr[i], name,
		    sizeof(name)) == -1 || !rpc_valid_name(name)) {
			(void)snprintf(why, whylen, "allow %u: invalid", i);
			return (-1);
		}
		if ((p->allow[p->nallow] = strdup(name)) == NULL) {
			(void)snprintf(why, whylen, "%s", strerror(errno));
			return (-1);
		}
		p->nallow++;
	}
	return (0);
}

struct epsd_conf *
config_unpack(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	struct epsd_conf	*c;
	struct mp_doc		 d;
	const msgpack_object	*peers;
	char			 e[PROC_REASONMAX];
	uint32_t		 i;

	if ((c = config_new()) == NULL) {
		(void)snprintf(why, whylen, "%s", strerror(errno));
		return (NULL);
	}
	if (settings_parse(&d, buf, len, settings, nitems(settings), c, why,
	    whylen) == -1 || (peers = settings_list(d.root, "peers",
	    EPSD_MAXPEERS, why, whylen)) == NULL)
		goto fail;
	for (i = 0; i < peers->via.array.size; i++)
		if (unpack_peer(c, &peers->via.array.ptr[i], e,
		    sizeof(e)) == -1) {
			(void)snprintf(why, whylen, "peer %u: %s", i, e);
			goto fail;
		}
	mp_free(&d);
	return (c);
 fail:
	mp_free(&d);
	config_free(c);
	return (NULL);
}
