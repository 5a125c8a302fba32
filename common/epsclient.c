/*
 * epsclient.c: see epsclient.h.
 */

#include <errno.h>

#include <event2/event.h>

#include "compat.h"
#include "chan.h"
#include "eps.h"
#include "epsclient.h"
#include "log.h"
#include "net.h"

#define EPSCLIENT_BACKOFF_MIN	200	/* ms before the first retry */
#define EPSCLIENT_BACKOFF_MAX	30000	/* ms */

struct epsclient {
	struct privsep		*ps;
	struct event_base	*base;
	const char *const	*methods;
	struct epsclient_cbs	 cbs;
	void			*arg;
	struct chan		*chan;
	struct rpc_calls	 calls;
	struct mp_out		 out;
	struct event		*retry;
	int			 backoff;
	int			 waiting;	/* for a descriptor */
	int			 registered;
	int			 warned;	/* about this outage */
};

static void	epsclient_recv(struct chan *, struct frame *, void *);
static void	epsclient_retry(evutil_socket_t, short, void *);
static void	epsclient_later(struct epsclient *);
static void	epsclient_attach(struct epsclient *, int);

struct epsclient *
epsclient_new(struct privsep *ps, const char *const *methods,
    const struct epsclient_cbs *cbs, void *arg)
{
	struct epsclient	*ec;
	struct event_base	*base = ps->base;

	if ((ec = calloc(1, sizeof(*ec))) == NULL)
		return (NULL);
	ec->ps = ps;
	ec->base = base;
	ec->methods = methods;
	ec->cbs = *cbs;
	ec->arg = arg;
	rpc_calls_init(&ec->calls, base, EPS_CALLS_MAX);
	mp_out_init(&ec->out);
	ec->backoff = EPSCLIENT_BACKOFF_MIN;
	if ((ec->retry = evtimer_new(base, epsclient_retry, ec)) == NULL) {
		mp_out_free(&ec->out);
		free(ec);
		return (NULL);
	}
	return (ec);
}

static void
epsclient_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct epsclient	*ec = arg;

	if (ec->waiting || ec->chan != NULL)
		return;
	if (proc_send(ec->ps, PROC_PARENT, 0, IMSG_EPS_CONNECT, 0, -1, NULL,
	    0) == -1) {
		log_warn("%s", __func__);
		epsclient_later(ec);
		return;
	}
	ec->waiting = 1;
}

void
epsclient_start(struct epsclient *ec)
{
	if (ec->chan == NULL && !ec->waiting &&
	    !evtimer_pending(ec->retry, NULL))
		epsclient_retry(-1, 0, ec);
}

static void
epsclient_later(struct epsclient *ec)
{
	struct timeval	 tv;
	unsigned int	 ms;

	/* between half the back-off and all of it, so clients spread out */
	ms = (unsigned int)ec->backoff / 2 +
	    arc4random_uniform((unsigned int)ec->backoff / 2 + 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ec->retry, &tv);
	ec->backoff = MINIMUM(ec->backoff * 2, EPSCLIENT_BACKOFF_MAX);
}

int
epsclient_connected(const struct epsclient *ec)
{
	return (ec->chan != NULL && ec->registered);
}

/* Send what is packed in ec->out, and empty it in any case. */
static int
epsclient_send(struct epsclient *ec)
{
	int	 r = -1;

	if (ec->chan == NULL)
		errno = ENOTCONN;
	else
		r = chan_send(ec->chan, EPS_FRAME_RPC, 0, -1, ec->out.sb.data,
		    ec->out.sb.size);
	mp_out_reset(&ec->out);
	return (r);
}

static void
epsclient_lost(struct epsclient *ec)
{
	if (ec->chan != NULL) {
		chan_free(ec->chan);
		ec->chan = NULL;
	}
	ec->registered = 0;
	rpc_calls_fail(&ec->calls, "connection to epsd lost");
	epsclient_later(ec);
}

static void
epsclient_registered(const char *error, const msgpack_object *result,
    void *arg)
{
	struct epsclient	*ec = arg;
	char			 verr[LOG_VISLEN(200)];

	if (error != NULL) {
		log_warnx("epsd refused registration: %s",
		    log_vis(error, verr, sizeof(verr)));
		if (strcmp(error, "connection to epsd lost") != 0)
			epsclient_lost(ec);
		return;
	}
	ec->registered = 1;
	ec->backoff = EPSCLIENT_BACKOFF_MIN;
	ec->warned = 0;
	log_info("connected to epsd");
	if (ec->cbs.up != NULL)
		ec->cbs.up(ec, ec->arg);
}

static void
epsclient_attach(struct epsclient *ec, int fd)
{
	struct mp_out	 p;
	size_t		 n;

	ec->waiting = 0;
	if (fd == -1) {
		epsclient_later(ec);
		return;
	}
	if (ec->chan != NULL)
		chan_free(ec->chan);
	ec->registered = 0;
	if ((ec->chan = chan_new(ec->base, fd, 0, epsclient_recv, ec)) ==
	    NULL) {
		log_warn("%s", __func__);
		close(fd);
		epsclient_later(ec);
		return;
	}
	chan_set_name(ec->chan, "epsd");
	mp_out_init(&p);
	for (n = 0; ec->methods[n] != NULL; n++)
		;
	msgpack_pack_map(&p.pk, 1);
	mp_pack_str(&p.pk, "methods");
	msgpack_pack_array(&p.pk, n);
	for (n = 0; ec->methods[n] != NULL; n++)
		mp_pack_str(&p.pk, ec->methods[n]);
	if (epsclient_call(ec, EPS_REGISTER, &p, EPS_CALL_TIMEOUT,
	    epsclient_registered, ec) == -1) {
		log_warn("%s: register", __func__);
		epsclient_lost(ec);
	}
	mp_out_free(&p);
}

int
epsclient_call(struct epsclient *ec, const char *method,
    const struct mp_out *params, int timeout, rpc_reply_cb cb, void *arg)
{
	struct timeval	 tv = { timeout, 0 };
	uint32_t	 msgid;

	if (ec->chan == NULL) {
		errno = ENOTCONN;
		return (-1);
	}
	if (rpc_call_new(&ec->calls, &tv, cb, arg, &msgid) == -1)
		return (-1);
	rpc_begin_request(&ec->out.pk, msgid, method);
	if (params != NULL)
		msgpack_sbuffer_write(&ec->out.sb, params->sb.data,
		    params->sb.size);
	else
		msgpack_pack_map(&ec->out.pk, 0);
	if (epsclient_send(ec) == -1) {
		rpc_call_cancel(&ec->calls, msgid);
		return (-1);
	}
	return (0);
}

int
epsclient_reply(struct epsclient *ec, uint32_t msgid, const char *error,
    const struct mp_out *result)
{
	if (error != NULL)
		rpc_pack_error(&ec->out.pk, msgid, error);
	else {
		rpc_begin_response(&ec->out.pk, msgid);
		if (result != NULL)
			msgpack_sbuffer_write(&ec->out.sb, result->sb.data,
			    result->sb.size);
		else
			msgpack_pack_true(&ec->out.pk);
	}
	return (epsclient_send(ec));
}

static void
epsclient_notify(struct epsclient *ec, const struct rpc_msg *m)
{
	char	 op[RPC_NAMEMAX], vmethod[LOG_VISLEN(RPC_METHODMAX)];
	int	 up;

	if (strcmp(m->method, EPS_LINK) != 0) {
		log_debug("%s: ignoring notification %s", __func__,
		    log_vis(m->method, vmethod, sizeof(vmethod)));
		return;
	}
	if (mp_map_str(m->params, "operator", op, sizeof(op)) == -1 ||
	    mp_map_bool(m->params, "up", &up) == -1) {
		log_warnx("%s: malformed %s", __func__, EPS_LINK);
		return;
	}
	if (ec->cbs.link != NULL)
		ec->cbs.link(ec, op, up, ec->arg);
}

static void
epsclient_recv(struct chan *ch, struct frame *f, void *arg)
{
	struct epsclient	*ec = arg;
	struct mp_doc		 d;
	struct rpc_msg		 m;
	const char		*why;

	if (f == NULL) {
		log_warnx("connection to epsd closed");
		epsclient_lost(ec);
		return;
	}
	if (f->hdr.type != EPS_FRAME_RPC) {
		log_warnx("%s: unexpected frame type %u from epsd", __func__,
		    f->hdr.type);
		return;
	}
	if (mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: malformed message from epsd", __func__);
		return;
	}
	if (rpc_parse(d.root, &m, &why) == -1) {
		log_warnx("%s: bad message from epsd: %s", __func__, why);
		mp_free(&d);
		return;
	}
	switch (m.type) {
	case RPC_RESPONSE:
		if (rpc_call_done(&ec->calls, &m) == -1)
			log_debug("%s: response to unknown call %u", __func__,
			    m.msgid);
		break;
	case RPC_REQUEST:
		if (ec->cbs.request != NULL)
			ec->cbs.request(ec, &m, ec->arg);
		else
			(void)epsclient_reply(ec, m.msgid, "no such method",
			    NULL);
		break;
	case RPC_NOTIFY:
		epsclient_notify(ec, &m);
		break;
	}
	mp_free(&d);
}

int
epsclient_parent_dispatch(struct proc_child *c, struct frame *f,
    const char *path)
{
	struct mp_out	 m;
	int		 fd;

	if (f->hdr.type != IMSG_EPS_CONNECT)
		return (0);
	mp_out_init(&m);
	if ((fd = net_unix_connect(path)) == -1) {
		log_debug("connect to epsd at %s: %s", path, strerror(errno));
		msgpack_pack_map(&m.pk, 1);
		mp_pack_kstr(&m.pk, "error", strerror(errno));
	} else
		msgpack_pack_map(&m.pk, 0);
	if (proc_child_send(c, IMSG_EPS_FD, 0, fd, &m) == -1)
		log_warn("%s", __func__);
	mp_out_free(&m);
	return (1);
}

int
epsclient_dispatch(struct epsclient *ec, struct proc_chan *from,
    struct frame *f)
{
	struct mp_doc	 d;
	char		 err[128] = "unknown error";

	if (f->hdr.type != IMSG_EPS_FD || from->id != PROC_PARENT)
		return (0);
	if (f->fd == -1) {
		if (mp_parse(&d, f->data, f->len) == 0) {
			(void)mp_map_str(d.root, "error", err, sizeof(err));
			mp_free(&d);
		}
		if (!ec->warned)
			log_warnx("cannot connect to epsd: %s; retrying", err);
		else
			log_debug("cannot connect to epsd: %s", err);
		ec->warned = 1;
	}
	epsclient_attach(ec, f->fd);
	f->fd = -1;
	return (1);
}
