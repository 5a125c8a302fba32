/*
 * epsclient.h: the local side of the EPS network, as a proxy's relay
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
	/* a (new) connection is wanted: ask the parent for a descriptor,
	   then call epsclient_attach() with it, or with -1 if none */
	void	(*need_fd)(struct epsclient *, void *);
};

struct epsclient *epsclient_new(struct event_base *,
		    const char *const *methods, const struct epsclient_cbs *,
		    void *arg);
void		 epsclient_free(struct epsclient *);
/* Ask for the first connection (once the owner is configured). */
void		 epsclient_start(struct epsclient *);
/* fd -1: the parent could not connect; retried with back-off. */
void		 epsclient_attach(struct epsclient *, int fd);
/* The same, from the parent's frame: takes f->fd, logs f's error. */
void		 epsclient_attach_frame(struct epsclient *, struct frame *);
int		 epsclient_connected(const struct epsclient *);

/* params is one packed msgpack object; NULL sends an empty map. */
int		 epsclient_call(struct epsclient *, const char *method,
		    const struct mp_out *params, int timeout, rpc_reply_cb,
		    void *arg);
/* result NULL sends true; error non-NULL sends an error and nil. */
int		 epsclient_reply(struct epsclient *, uint32_t msgid,
		    const char *error, const struct mp_out *result);

/*
 * The parent's half: connect to the epsd socket at path and send the
 * descriptor to the child as a frame of the given type; on failure the
 * frame carries {error} and no descriptor.
 */
void		 epsclient_parent_connect(struct proc_child *, uint16_t type,
		    const char *path);

#endif /* EPSCLIENT_H */
