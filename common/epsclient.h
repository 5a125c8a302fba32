/*
 * epsclient.h: the local side of the EPS network, as a proxy's eps process
 * process uses it.  It speaks msgpack-RPC to the local epsd over a Unix
 * socket that the parent opened and passed down, registers the methods
 * the proxy serves, places calls with timeouts and hands incoming
 * requests to the proxy.  When the socket is lost every pending call
 * fails at once and, after a back-off of 1 s doubling to 30 s, the owner
 * is asked to get a fresh connection from its parent.
 */

#ifndef EPSCLIENT_H
#define EPSCLIENT_H

#include "mp.h"
#include "proc.h"
#include "rpc.h"

struct event_base;
struct epsclient;

struct epsclient_cbs {
	/* a request for a registered method; answer with epsclient_reply */
	void	(*request)(struct epsclient *, const struct rpc_msg *,
		    void *);
	/* a peer link of the local epsd came up or went down */
	void	(*link)(struct epsclient *, const char *op, int up, void *);
	/* connected and registered */
	void	(*up)(struct epsclient *, void *);
};

/*
 * The connection to epsd comes from the parent, which opens the Unix
 * socket: the child asks with IMSG_EPS_CONNECT {} and gets IMSG_EPS_FD,
 * with the descriptor or with {error: str}.
 */
enum epsclient_imsg {
	IMSG_EPS_CONNECT = IMSG_SHARED,
	IMSG_EPS_FD,
};

struct epsclient *epsclient_new(struct privsep *,
		    const char *const *methods, const struct epsclient_cbs *,
		    void *arg);
/* Ask for the first connection (once the owner is configured). */
void		 epsclient_start(struct epsclient *);
/* The child's dispatch passes frames here first; 1 if it took it. */
int		 epsclient_dispatch(struct epsclient *, struct proc_chan *,
		    struct frame *);
int		 epsclient_connected(const struct epsclient *);

/* params is one packed msgpack object; NULL sends an empty map. */
int		 epsclient_call(struct epsclient *, const char *method,
		    const struct mp_out *params, int timeout, rpc_reply_cb,
		    void *arg);
/* result NULL sends true; error non-NULL sends an error and nil. */
int		 epsclient_reply(struct epsclient *, uint32_t msgid,
		    const char *error, const struct mp_out *result);

/*
 * The parent's half: on IMSG_EPS_CONNECT, connect to the epsd socket
 * at path and send the descriptor back.  1 if it took the frame.
 */
int		 epsclient_parent_dispatch(struct proc_child *, struct frame *,
		    const char *path);

#endif /* EPSCLIENT_H */
