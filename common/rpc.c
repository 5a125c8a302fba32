/*
 * rpc.c: parsing and packing msgpack-RPC messages, and the table of
 * calls under way (rpc.h).
 */

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "rpc.h"

struct rpc_call {
	RB_ENTRY(rpc_call)	 entry;
	uint32_t		 msgid;
	rpc_reply_cb		 cb;
	void			*arg;
	struct event		*timer;
	struct rpc_calls	*calls;
};

static int
rpc_call_cmp(struct rpc_call *a, struct rpc_call *b)
{
	return (a->msgid < b->msgid ? -1 : a->msgid > b->msgid);
}

RB_GENERATE_STATIC(rpc_call_tree, rpc_call, entry, rpc_call_cmp)

/* Operator and method names: [a-z0-9_-], 1..63, starting alphanumeric. */
int
rpc_valid_name(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || s[0] == '-' || s[0] == '_')
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= RPC_NAMEMAX - 1)
			return (0);
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_'))
			return (0);
	}
	return (1);
}

int
rpc_split(const char *method, char *op, size_t opsz, char *name,
    size_t namesz)
{
	const char	*dot;
	size_t		 oplen;

	if ((dot = strchr(method, '.')) == NULL)
		return (-1);
	oplen = (size_t)(dot - method);
	if (oplen >= opsz || strlcpy(name, dot + 1, namesz) >= namesz)
		return (-1);
	memcpy(op, method, oplen);
	op[oplen] = '\0';
	if (!rpc_valid_name(op) || !rpc_valid_name(name))
		return (-1);
	return (0);
}

void
rpc_error_str(const msgpack_object *e, char *buf, size_t sz)
{
	if (e == NULL || mp_is_nil(e))
		(void)strlcpy(buf, "", sz);
	else if (e->type == MSGPACK_OBJECT_STR)
		(void)snprintf(buf, sz, "%.*s", (int)MINIMUM(e->via.str.size,
		    200), e->via.str.ptr);
	else
		(void)strlcpy(buf, "remote error", sz);
}

int
rpc_parse(const msgpack_object *o, struct rpc_msg *m, const char **why)
{
	const msgpack_object	*a;
	uint64_t		 v;
	uint32_t		 n;

	memset(m, 0, sizeof(*m));
	*why = "not an array";
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return (-1);
	a = o->via.array.ptr;
	n = o->via.array.size;
	*why = "bad message type";
	if (n < 3 || mp_get_uint(&a[0], 2, &v) == -1)
		return (-1);
	m->type = (int)v;
	switch (m->type) {
	case RPC_REQUEST:
		*why = "bad request";
		if (n != 4 && n != 5)
			return (-1);
		if (mp_get_uint(&a[1], UINT32_MAX, &v) == -1)
			return (-1);
		m->msgid = (uint32_t)v;
		*why = "bad method name";
		if (mp_get_str(&a[2], m->method, sizeof(m->method)) == -1)
			return (-1);
		m->params = &a[3];
		*why = "bad caller";
		if (n == 5 && (mp_get_str(&a[4], m->caller,
		    sizeof(m->caller)) == -1 || !rpc_valid_name(m->caller)))
			return (-1);
		break;
	case RPC_RESPONSE:
		*why = "bad response";
		if (n != 4 || mp_get_uint(&a[1], UINT32_MAX, &v) == -1)
			return (-1);
		m->msgid = (uint32_t)v;
		m->error = &a[2];
		m->result = &a[3];
		break;
	case RPC_NOTIFY:
		*why = "bad notification";
		if (n != 3 || mp_get_str(&a[1], m->method,
		    sizeof(m->method)) == -1)
			return (-1);
		m->params = &a[2];
		break;
	}
	return (0);
}

void
rpc_begin_request(msgpack_packer *pk, uint32_t msgid, const char *method)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, RPC_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	mp_pack_str(pk, method);
}

void
rpc_pack_request(msgpack_packer *pk, uint32_t msgid, const char *method,
    const msgpack_object *params, const char *caller)
{
	msgpack_pack_array(pk, caller != NULL ? 5 : 4);
	msgpack_pack_uint8(pk, RPC_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	mp_pack_str(pk, method);
	msgpack_pack_object(pk, *params);
	if (caller != NULL)
		mp_pack_str(pk, caller);
}

void
rpc_begin_response(msgpack_packer *pk, uint32_t msgid)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, RPC_RESPONSE);
	msgpack_pack_uint32(pk, msgid);
	msgpack_pack_nil(pk);
}

void
rpc_pack_error(msgpack_packer *pk, uint32_t msgid, const char *error)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, RPC_RESPONSE);
	msgpack_pack_uint32(pk, msgid);
	mp_pack_str(pk, error);
	msgpack_pack_nil(pk);
}

void
rpc_pack_response(msgpack_packer *pk, uint32_t msgid,
    const msgpack_object *error, const msgpack_object *result)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, RPC_RESPONSE);
	msgpack_pack_uint32(pk, msgid);
	msgpack_pack_object(pk, *error);
	msgpack_pack_object(pk, *result);
}

void
rpc_begin_notify(msgpack_packer *pk, const char *method)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, RPC_NOTIFY);
	mp_pack_str(pk, method);
}

void
rpc_calls_init(struct rpc_calls *calls, struct event_base *base,
    size_t max)
{
	RB_INIT(&calls->tree);
	calls->base = base;
	calls->nextid = arc4random();
	calls->count = 0;
	calls->max = max;
}

static void
rpc_call_end(struct rpc_call *c, struct rpc_call_tree *tree,
    const char *error, const msgpack_object *result)
{
	struct rpc_calls	*calls = c->calls;
	rpc_reply_cb		 cb = c->cb;
	void			*arg = c->arg;

	RB_REMOVE(rpc_call_tree, tree, c);
	calls->count--;
	event_free(c->timer);
	free(c);
	if (cb != NULL)
		cb(error, result, arg);
}

static void
rpc_call_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct rpc_call	*c = arg;

	rpc_call_end(c, &c->calls->tree, "timeout", NULL);
}

int
rpc_call_new(struct rpc_calls *calls, const struct timeval *tv,
    rpc_reply_cb cb, void *arg, uint32_t *msgid)
{
	struct rpc_call		*c, key;

	if (calls->count >= calls->max) {
		errno = EAGAIN;
		return (-1);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (-1);
	do {
		key.msgid = calls->nextid++;
	} while (RB_FIND(rpc_call_tree, &calls->tree, &key) != NULL);
	c->msgid = key.msgid;
	c->cb = cb;
	c->arg = arg;
	c->calls = calls;
	if ((c->timer = evtimer_new(calls->base, rpc_call_timeout, c)) ==
	    NULL || evtimer_add(c->timer, tv) == -1) {
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
		return (-1);
	}
	RB_INSERT(rpc_call_tree, &calls->tree, c);
	calls->count++;
	*msgid = c->msgid;
	return (0);
}

int
rpc_call_done(struct rpc_calls *calls, const struct rpc_msg *m)
{
	struct rpc_call		*c, key;
	char			 err[256];

	if (m->type != RPC_RESPONSE)
		return (-1);
	key.msgid = m->msgid;
	if ((c = RB_FIND(rpc_call_tree, &calls->tree, &key)) == NULL)
		return (-1);
	if (m->error != NULL && !mp_is_nil(m->error)) {
		rpc_error_str(m->error, err, sizeof(err));
		rpc_call_end(c, &calls->tree, err, NULL);
	} else
		rpc_call_end(c, &calls->tree, NULL, m->result);
	return (0);
}

void
rpc_call_cancel(struct rpc_calls *calls, uint32_t msgid)
{
	struct rpc_call		*c, key;

	key.msgid = msgid;
	if ((c = RB_FIND(rpc_call_tree, &calls->tree, &key)) != NULL) {
		c->cb = NULL;
		rpc_call_end(c, &calls->tree, NULL, NULL);
	}
}

/*
 * Fail the calls under way now; calls their callbacks start meanwhile
 * are not among them.
 */
void
rpc_calls_fail(struct rpc_calls *calls, const char *why)
{
	struct rpc_call_tree	 old = calls->tree;
	struct rpc_call		*c;

	RB_INIT(&calls->tree);
	while ((c = RB_MIN(rpc_call_tree, &old)) != NULL)
		rpc_call_end(c, &old, why, NULL);
}
