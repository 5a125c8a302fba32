/*
 * rpc.h: msgpack-RPC as the EPS network speaks it.
 *
 *	request		[0, msgid, method, params]
 *	response	[1, msgid, error, result]	error nil or a string
 *	notification	[2, method, params]
 *
 * A method is named "operator.method".  When epsd delivers a request to
 * a local service it appends a fifth element, the caller's operator
 * name taken from the verified certificate of the link it came in on:
 *
 *	delivered	[0, msgid, method, params, caller]
 *
 * The operator "eps" is reserved: it names the local epsd itself
 * (eps.register and the eps.link notification, see eps.h).
 */

#ifndef RPC_H
#define RPC_H

#include <sys/time.h>

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "mp.h"

#define RPC_REQUEST	0
#define RPC_RESPONSE	1
#define RPC_NOTIFY	2

#define RPC_NAMEMAX	64	/* operator name, with NUL */
#define RPC_METHODMAX	128	/* "operator.method", with NUL */

struct rpc_msg {
	int			 type;
	uint32_t		 msgid;
	char			 method[RPC_METHODMAX];
	char			 caller[RPC_NAMEMAX];	/* "" if none */
	const msgpack_object	*params;
	const msgpack_object	*error;		/* nil when it worked */
	const msgpack_object	*result;
};

int		 rpc_parse(const msgpack_object *, struct rpc_msg *,
		    const char **why);
int		 rpc_valid_name(const char *);
int		 rpc_split(const char *method, char *op, size_t opsz,
		    char *name, size_t namesz);
void		 rpc_error_str(const msgpack_object *, char *, size_t);

/* Packing: the begin_* forms leave the params or result to the caller. */
void		 rpc_begin_request(msgpack_packer *, uint32_t msgid,
		    const char *method);
void		 rpc_pack_request(msgpack_packer *, uint32_t msgid,
		    const char *method, const msgpack_object *params,
		    const char *caller);
void		 rpc_begin_response(msgpack_packer *, uint32_t msgid);
void		 rpc_pack_error(msgpack_packer *, uint32_t msgid,
		    const char *error);
void		 rpc_pack_response(msgpack_packer *, uint32_t msgid,
		    const msgpack_object *error, const msgpack_object *result);
void		 rpc_begin_notify(msgpack_packer *, const char *method);

/*
 * The calls a process has under way, with their timeouts.  The reply
 * callback runs once: with error NULL and the result, or with the
 * remote's error string, "timeout" or the reason given to
 * rpc_calls_fail().
 */
typedef void	(*rpc_reply_cb)(const char *error,
		    const msgpack_object *result, void *arg);

struct rpc_call;
RB_HEAD(rpc_call_tree, rpc_call);

struct rpc_calls {
	struct rpc_call_tree	 tree;
	struct event_base	*base;
	uint32_t		 nextid;
	size_t			 count;
	size_t			 max;
};

void		 rpc_calls_init(struct rpc_calls *, struct event_base *,
		    size_t max);
int		 rpc_call_new(struct rpc_calls *, const struct timeval *,
		    rpc_reply_cb, void *arg, uint32_t *msgid);
int		 rpc_call_done(struct rpc_calls *, const struct rpc_msg *);
void		 rpc_call_cancel(struct rpc_calls *, uint32_t msgid);
void		 rpc_calls_fail(struct rpc_calls *, const char *why);

#endif /* RPC_H */
