/*
 * control.c: the control socket (server, in a daemon's parent) and the
 * client side of its protocol (control.h).
 *
 * A client has one request under way at most: its frames after that
 * wait in its input buffer, which is bounded (reading stops when it is
 * full), and are taken one by one as requests end.  Nothing here frees
 * a client or a request from inside a handler: a failed write only
 * marks the client, and the event loop closes it afterwards, so a
 * handler may send and end as it likes.  Taking the next request is
 * left to the loop as well, so handlers never nest.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "control.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "net.h"

#define CONTROL_JSONDEPTH	32

struct control_client;

struct control_req {
	TAILQ_ENTRY(control_req)	 entry;
	struct control			*ctl;
	struct control_client		*client;	/* NULL: control_exec */
	const struct control_cmd	*cmd;
	uint32_t			 id;
	uint32_t			 ref;		/* the client's */
	struct control_args		 args;
	struct mp_out			 out;
	struct event			*tmo;
	void				*state;
	void				(*freefn)(void *);

	/* parts: the children asked */
	int				 expecting;
	unsigned int			 parts;
	unsigned int			 ended;
	control_fin_fn			 fin;
	char				 errors[CONTROL_ERRMAX];

	int				 busy;		/* inside fin */
	int				 finished;	/* ended while busy */

	/* control_exec */
	control_exec_fn			 done;
	void				*done_arg;
	struct evbuffer			*data;
};
TAILQ_HEAD(control_reqs, control_req);

struct control_client {
	TAILQ_ENTRY(control_client)	 entry;
	struct control			*ctl;
	int				 fd;
	struct event			*rev;
	struct event			*wev;
	struct event			*idle;
	struct event			*next;
	struct evbuffer			*in;
	struct evbuffer			*out;
	struct control_req		*req;		/* under way */
	int				 reading;	/* rev is added */
	int				 closing;	/* once out is empty */
	int				 broken;	/* close at once */
	int				 eof;
};
TAILQ_HEAD(control_clients, control_client);

struct control {
	struct event_base		*base;
	struct control_conf		 conf;
	const struct control_cmd	*cmds;
	size_t				 ncmds;
	void				*arg;
	int				 fd;
	struct event			*ev;
	struct event			*pause;
	struct control_clients		 clients;
	unsigned int			 nclients;
	struct control_reqs		 reqs;
	unsigned int			 nexec;
	uint32_t			 nextid;
	dev_t				 dev;
	ino_t				 ino;
	int				 bound;
	char				 why[256];
};

/* {ok: true, data: ...}: what comes before the data of a reply frame */
static const uint8_t reply_prefix[] = {
	0x82, 0xa2, 'o', 'k', 0xc3, 0xa4, 'd', 'a', 't', 'a'
};

static struct log_limit	 control_limit = LOG_LIMIT_INITIALIZER(5);

static void	control_accept(evutil_socket_t, short, void *);
static void	client_read(evutil_socket_t, short, void *);
static void	client_write(evutil_socket_t, short, void *);
static void	client_idle(evutil_socket_t, short, void *);
static void	client_next(evutil_socket_t, short, void *);
static void	client_close(struct control_client *);
static void	client_process(struct control_client *);
static void	req_timeout(evutil_socket_t, short, void *);
static void	req_finish(struct control_req *, const char *error);

void
control_conf_init(struct control_conf *conf, const char *name)
{
	memset(conf, 0, sizeof(*conf));
	(void)strlcpy(conf->name, name, sizeof(conf->name));
	(void)snprintf(conf->path, sizeof(conf->path), "%s/%s.ctl",
	    CONTROL_DIR, name);
	conf->group = (gid_t)-1;
	conf->maxclients = CONTROL_MAXCLIENTS;
	conf->maxrequest = CONTROL_MAXREQUEST;
	conf->idle = CONTROL_IDLE;
	conf->timeout = CONTROL_TIMEOUT;
}

/*
 * Requests and their arguments: shared by both ends.
 */

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return (0);
	return (1);
}

int
control_args_parse(struct control_args *a, const void *buf, size_t len,
    const char **why)
{
	struct mp_doc		 d;
	const msgpack_object	*o;
	uint32_t		 i;

	memset(a, 0, sizeof(*a));
	if (mp_parse(&d, buf, len) == -1) {
		mp_free(&d);
		*why = "not msgpack";
		return (-1);
	}
	if (d.root->type != MSGPACK_OBJECT_MAP) {
		*why = "not a map";
		goto fail;
	}
	if (mp_map_str(d.root, "cmd", a->cmd, sizeof(a->cmd)) == -1 ||
	    a->cmd[0] == '\0' || !printable(a->cmd)) {
		*why = "cmd is missing, no string or too long";
		goto fail;
	}
	if ((o = mp_map_get(d.root, "args")) != NULL && !mp_is_nil(o)) {
		if (o->type != MSGPACK_OBJECT_ARRAY) {
			*why = "args is no array";
			goto fail;
		}
		if (o->via.array.size > CONTROL_MAXARGS) {
			*why = "too many arguments";
			goto fail;
		}
		for (i = 0; i < o->via.array.size; i++) {
			if (mp_get_str(&o->via.array.ptr[i], a->buf[i],
			    sizeof(a->buf[i])) == -1) {
				*why = "an argument is no string or too long";
				goto fail;
			}
			a->argv[i] = a->buf[i];
		}
		a->argc = (int)o->via.array.size;
	}
	a->argv[a->argc] = NULL;
	mp_free(&d);
	return (0);
 fail:
	mp_free(&d);
	return (-1);
}

void
control_args_pack(msgpack_packer *pk, const char *cmd, int argc, char **argv)
{
	int	 i;

	msgpack_pack_map(pk, 2);
	mp_pack_kstr(pk, "cmd", cmd);
	mp_pack_str(pk, "args");
	msgpack_pack_array(pk, argc > 0 ? (size_t)argc : 0);
	for (i = 0; i < argc; i++)
		mp_pack_str(pk, argv[i]);
}

void
control_end_pack(msgpack_packer *pk, const char *error)
{
	msgpack_pack_map(pk, error != NULL ? 2 : 1);
	mp_pack_kbool(pk, "ok", error == NULL);
	if (error != NULL)
		mp_pack_kstr(pk, "error", error);
}

/*
 * The socket.
 */

struct control *
control_new(struct event_base *base, const struct control_conf *conf,
    const struct control_cmd *cmds, size_t ncmds, void *arg)
{
	struct control	*ctl;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return (NULL);
	ctl->base = base;
	ctl->conf = *conf;
	if (ctl->conf.maxclients == 0)
		ctl->conf.maxclients = CONTROL_MAXCLIENTS;
	if (ctl->conf.maxrequest == 0 ||
	    ctl->conf.maxrequest > FRAME_MAXLEN)
		ctl->conf.maxrequest = CONTROL_MAXREQUEST;
	if (ctl->conf.idle <= 0)
		ctl->conf.idle = CONTROL_IDLE;
	if (ctl->conf.timeout <= 0)
		ctl->conf.timeout = CONTROL_TIMEOUT;
	ctl->cmds = cmds;
	ctl->ncmds = ncmds;
	ctl->arg = arg;
	ctl->fd = -1;
	TAILQ_INIT(&ctl->clients);
	TAILQ_INIT(&ctl->reqs);
	if ((ctl->pause = evtimer_new(base, control_accept, ctl)) == NULL) {
		free(ctl);
		return (NULL);
	}
	return (ctl);
}

static int
open_fail(struct control *ctl, const char **why, const char *fmt, ...)
    __attribute__((__format__ (printf, 3, 4)));

static int
open_fail(struct control *ctl, const char **why, const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	(void)vsnprintf(ctl->why, sizeof(ctl->why), fmt, ap);
	va_end(ap);
	*why = ctl->why;
	errno = saved;
	return (-1);
}

int
control_open(struct control *ctl, const char **why)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	const char		*path = ctl->conf.path;
	mode_t			 old;
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlcpy(sun.sun_path, path,
	    sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return (open_fail(ctl, why, "control socket %s: path too "
		    "long", path));
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return (open_fail(ctl, why, "%s exists and is not a "
			    "socket", path));
		}
		if ((fd = net_unix_connect(path)) != -1 || errno == EAGAIN) {
			if (fd != -1)
				close(fd);
			errno = EADDRINUSE;
			return (open_fail(ctl, why, "%s is in use: is another "
			    "%s running?", path, ctl->conf.name));
		}
		if (errno != ECONNREFUSED && errno != ENOENT)
			return (open_fail(ctl, why, "%s: %s", path,
			    strerror(errno)));
		if (unlink(path) == -1 && errno != ENOENT)
			return (open_fail(ctl, why, "unlink %s: %s", path,
			    strerror(errno)));
		log_debug("control: removed stale socket %s", path);
	} else if (errno != ENOENT)
		return (open_fail(ctl, why, "%s: %s", path, strerror(errno)));

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (open_fail(ctl, why, "socket: %s", strerror(errno)));
	/* 0600 from the start: no moment where others could connect */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		(void)umask(old);
		close(fd);
		errno = saved;
		return (open_fail(ctl, why, "bind %s: %s", path,
		    strerror(errno)));
	}
	(void)umask(old);
	if (ctl->conf.group != (gid_t)-1 &&
	    (chown(path, (uid_t)-1, ctl->conf.group) == -1 ||
	    chmod(path, 0660) == -1)) {
		saved = errno;
		(void)unlink(path);
		close(fd);
		errno = saved;
		return (open_fail(ctl, why, "%s: group %u: %s", path,
		    (unsigned int)ctl->conf.group, strerror(errno)));
	}
	if (stat(path, &st) == -1 || listen(fd, (int)ctl->conf.maxclients) ==
	    -1) {
		saved = errno;
		(void)unlink(path);
		close(fd);
		errno = saved;
		return (open_fail(ctl, why, "listen %s: %s", path,
		    strerror(errno)));
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->bound = 1;
	ctl->fd = fd;
	if ((ctl->ev = event_new(ctl->base, fd, EV_READ | EV_PERSIST,
	    control_accept, ctl)) == NULL || event_add(ctl->ev, NULL) == -1) {
		saved = errno;
		if (ctl->ev != NULL)
			event_free(ctl->ev);
		ctl->ev = NULL;
		(void)unlink(path);
		close(fd);
		ctl->fd = -1;
		ctl->bound = 0;
		errno = saved;
		return (open_fail(ctl, why, "%s: event_add", path));
	}
	return (0);
}

void
control_free(struct control *ctl)
{
	struct control_client	*c;
	struct control_req	*r;
	struct stat		 st;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL)
		client_close(c);
	while ((r = TAILQ_FIRST(&ctl->reqs)) != NULL)
		req_finish(r, "the daemon is shutting down");
	if (ctl->ev != NULL)
		event_free(ctl->ev);
	event_free(ctl->pause);
	if (ctl->fd != -1)
		close(ctl->fd);
	/* remove our socket, not one another process put there since */
	if (ctl->bound && lstat(ctl->conf.path, &st) == 0 &&
	    st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		(void)unlink(ctl->conf.path);
	free(ctl);
}

/*
 * Clients.
 */

static void
client_idle_arm(struct control_client *c)
{
	struct timeval	 tv;

	tv.tv_sec = c->ctl->conf.idle;
	tv.tv_usec = 0;
	(void)evtimer_add(c->idle, &tv);
}

static void
client_schedule(struct control_client *c)
{
	event_active(c->next, EV_TIMEOUT, 0);
}

/* Queue a frame for the client; the payload may come in two pieces. */
static int
client_queue(struct control_client *c, uint16_t type, uint32_t ref,
    const void *p1, size_t l1, const void *p2, size_t l2)
{
	struct frame_hdr	 h;
	uint8_t			 b[FRAME_HDRLEN];

	if (c->broken || c->fd == -1) {
		errno = EPIPE;
		return (-1);
	}
	if (l1 + l2 > FRAME_MAXLEN) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (evbuffer_get_length(c->out) + FRAME_HDRLEN + l1 + l2 >
	    CONTROL_OUTMAX) {
		log_limited(&control_limit, "control: a client reads too "
		    "slowly, closing it");
		c->broken = 1;
		client_schedule(c);
		errno = ENOBUFS;
		return (-1);
	}
	h.len = (uint32_t)(l1 + l2);
	h.type = type;
	h.flags = 0;
	h.ref = ref;
	frame_hdr_encode(b, &h);
	if (evbuffer_add(c->out, b, sizeof(b)) == -1 ||
	    (l1 > 0 && evbuffer_add(c->out, p1, l1) == -1) ||
	    (l2 > 0 && evbuffer_add(c->out, p2, l2) == -1)) {
		c->broken = 1;
		client_schedule(c);
		errno = ENOMEM;
		return (-1);
	}
	(void)event_add(c->wev, NULL);
	return (0);
}

static int
client_end(struct control_client *c, uint32_t ref, const char *error)
{
	struct mp_out	 m;
	int		 rv;

	mp_out_init(&m);
	control_end_pack(&m.pk, error);
	rv = client_queue(c, CONTROL_END, ref, m.sb.data, m.sb.size, NULL, 0);
	mp_out_free(&m);
	return (rv);
}

static void
client_close(struct control_client *c)
{
	struct control	*ctl = c->ctl;

	if (c->req != NULL) {
		/* the client is gone: the request ends unanswered */
		c->req->client = NULL;
		req_finish(c->req, NULL);
		c->req = NULL;
	}
	/* also for a client that could not be set up: some may be NULL */
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->idle != NULL)
		event_free(c->idle);
	if (c->next != NULL)
		event_free(c->next);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	close(c->fd);
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	free(c);
}

static void
control_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct control		*ctl = arg;
	struct control_client	*c;
	struct timeval		 tv = { 1, 0 };
	struct ucred		 cred;
	socklen_t		 len = sizeof(cred);
	struct mp_out		 m;
	uint8_t			 b[FRAME_HDRLEN];
	struct frame_hdr	 h;
	struct iovec		 iov[2];
	struct msghdr		 msg;
	int			 cfd;

	if (ev & EV_TIMEOUT) {
		/* the pause after running out of descriptors is over */
		(void)event_add(ctl->ev, NULL);
		return;
	}
	if ((cfd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("control: accept");
			event_del(ctl->ev);
			(void)evtimer_add(ctl->pause, &tv);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		log_debug("control: client pid %ld uid %u",
		    (long)cred.pid, (unsigned int)cred.uid);
	if (ctl->nclients >= ctl->conf.maxclients ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		/* say why, if the socket takes it at once, and close */
		mp_out_init(&m);
		control_end_pack(&m.pk, "too many control clients");
		h.len = (uint32_t)m.sb.size;
		h.type = CONTROL_END;
		h.flags = 0;
		h.ref = 0;
		frame_hdr_encode(b, &h);
		iov[0].iov_base = b;
		iov[0].iov_len = sizeof(b);
		iov[1].iov_base = m.sb.data;
		iov[1].iov_len = m.sb.size;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		(void)sendmsg(cfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		mp_out_free(&m);
		close(cfd);
		log_limited(&control_limit, "control: too many clients (%u)",
		    ctl->nclients);
		return;
	}
	c->ctl = ctl;
	c->fd = cfd;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(ctl->base, cfd, EV_READ | EV_PERSIST, client_read,
	    c);
	c->wev = event_new(ctl->base, cfd, EV_WRITE, client_write, c);
	c->idle = evtimer_new(ctl->base, client_idle, c);
	c->next = event_new(ctl->base, -1, 0, client_next, c);
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	if (c->in == NULL || c->out == NULL || c->rev == NULL ||
	    c->wev == NULL || c->idle == NULL || c->next == NULL ||
	    event_add(c->rev, NULL) == -1) {
		log_warn("control: client");
		client_close(c);
		return;
	}
	c->reading = 1;
	client_idle_arm(c);
}

static void
client_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client	*c = arg;

	if (c->req != NULL)
		return;		/* the request's own timeout runs */
	log_debug("control: closing an idle client");
	client_close(c);
}

/* Nothing left to do for the client, or it must go. */
static int
client_done(const struct control_client *c)
{
	return (c->broken || ((c->closing || c->eof) && c->req == NULL &&
	    evbuffer_get_length(c->out) == 0));
}

static void
client_next(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client	*c = arg;

	client_process(c);
	if (client_done(c))
		client_close(c);
}

static size_t
client_inmax(const struct control_client *c)
{
	return (2 * (c->ctl->conf.maxrequest + FRAME_HDRLEN));
}

static void
client_read(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client	*c = arg;
	struct pollfd		 pfd;
	size_t			 have, max = client_inmax(c);
	int			 n;

	have = evbuffer_get_length(c->in);
	if (have >= max || c->closing) {
		event_del(c->rev);
		c->reading = 0;
		return;
	}
	n = evbuffer_read(c->in, fd, (int)(max - have));
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("control: read: %s", strerror(errno));
		client_close(c);
		return;
	}
	if (n == 0) {
		/*
		 * The client has sent all it will.  If it only shut down
		 * its side, what it sent is still answered, then the
		 * connection closes; if it is gone altogether (POLLHUP),
		 * so is its request.
		 */
		c->eof = 1;
		event_del(c->rev);
		c->reading = 0;
		pfd.fd = fd;
		pfd.events = 0;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP))
			c->broken = 1;
	}
	if (c->req == NULL)
		client_idle_arm(c);
	client_process(c);
	if (client_done(c))
		client_close(c);
}

static void
client_write(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client	*c = arg;

	if (evbuffer_write(c->out, fd) == -1 && errno != EAGAIN &&
	    errno != EINTR) {
		log_debug("control: write: %s", strerror(errno));
		client_close(c);
		return;
	}
	if (evbuffer_get_length(c->out) > 0) {
		(void)event_add(c->wev, NULL);
		if (c->req == NULL)
			client_idle_arm(c);
		return;
	}
	if (client_done(c))
		client_close(c);
}

static const struct control_cmd *
cmd_find(const struct control *ctl, const char *name)
{
	size_t	 i;

	for (i = 0; i < ctl->ncmds; i++)
		if (strcmp(ctl->cmds[i].name, name) == 0)
			return (&ctl->cmds[i]);
	return (NULL);
}

static uint32_t
req_newid(struct control *ctl)
{
	do {
		if (++ctl->nextid == 0)
			ctl->nextid = 1;
	} while (control_req_find(ctl, ctl->nextid) != NULL);
	return (ctl->nextid);
}

static struct control_req *
req_new(struct control *ctl, const struct control_cmd *cmd,
    const struct control_args *args)
{
	struct control_req	*r;
	struct timeval		 tv;
	int			 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	if ((r->tmo = evtimer_new(ctl->base, req_timeout, r)) == NULL) {
		free(r);
		return (NULL);
	}
	r->ctl = ctl;
	r->cmd = cmd;
	r->id = req_newid(ctl);
	r->args = *args;
	/* the copy's argv must point into the copy */
	for (i = 0; i < r->args.argc; i++)
		r->args.argv[i] = r->args.buf[i];
	r->args.argv[r->args.argc] = NULL;
	mp_out_init(&r->out);
	tv.tv_sec = ctl->conf.timeout;
	tv.tv_usec = 0;
	(void)evtimer_add(r->tmo, &tv);
	TAILQ_INSERT_TAIL(&ctl->reqs, r, entry);
	return (r);
}

/* Check a request against the table: NULL, or the error for the client. */
static const char *
req_check(struct control *ctl, const struct control_args *a,
    const struct control_cmd **cmdp, char *buf, size_t bufsz)
{
	const struct control_cmd	*cmd;

	if ((cmd = cmd_find(ctl, a->cmd)) == NULL) {
		(void)snprintf(buf, bufsz, "unknown command \"%s\"", a->cmd);
		return (buf);
	}
	if (a->argc < cmd->minargs || a->argc > cmd->maxargs) {
		(void)snprintf(buf, bufsz, "usage: %s%s%s", cmd->name,
		    cmd->usage != NULL ? " " : "",
		    cmd->usage != NULL ? cmd->usage : "");
		return (buf);
	}
	*cmdp = cmd;
	return (NULL);
}

/* One request frame, already drained from the input. */
static void
client_request(struct control_client *c, const struct frame_hdr *h,
    const uint8_t *payload)
{
	struct control			*ctl = c->ctl;
	const struct control_cmd	*cmd = NULL;
	struct control_args		 a;
	struct control_req		*r;
	char				 err[CONTROL_CMDMAX + 64];
	const char			*why;

	if (h->type != CONTROL_REQUEST) {
		(void)snprintf(err, sizeof(err), "unexpected frame type %u",
		    h->type);
		log_limited(&control_limit, "control: %s", err);
		(void)client_end(c, h->ref, err);
		return;
	}
	if (control_args_parse(&a, payload, h->len, &why) == -1) {
		(void)snprintf(err, sizeof(err), "malformed request: %s", why);
		log_limited(&control_limit, "control: %s", err);
		(void)client_end(c, h->ref, err);
		return;
	}
	if ((why = req_check(ctl, &a, &cmd, err, sizeof(err))) != NULL) {
		(void)client_end(c, h->ref, why);
		return;
	}
	if ((r = req_new(ctl, cmd, &a)) == NULL) {
		(void)client_end(c, h->ref, "out of memory");
		return;
	}
	r->client = c;
	r->ref = h->ref;
	c->req = r;
	evtimer_del(c->idle);
	log_debug("control: %s", cmd->name);
	cmd->fn(r, r->args.argc, r->args.argv, ctl->arg);
	/* r may be gone now */
}

static void
client_process(struct control_client *c)
{
	struct frame_hdr	 h;
	const uint8_t		*payload;
	uint8_t			*copy;
	uint8_t			 b[FRAME_HDRLEN];
	const char		*why = NULL;
	char			 err[128];
	enum frame_status	 st;

	while (c->req == NULL && !c->closing && !c->broken) {
		if (evbuffer_get_length(c->in) >= FRAME_HDRLEN) {
			(void)evbuffer_copyout(c->in, b, sizeof(b));
			frame_hdr_decode(b, &h);
			if (h.len > c->ctl->conf.maxrequest) {
				(void)snprintf(err, sizeof(err), "request too "
				    "long (%u bytes, at most %zu)", h.len,
				    c->ctl->conf.maxrequest);
				log_limited(&control_limit, "control: %s",
				    err);
				(void)client_end(c, h.ref, err);
				c->closing = 1;
				break;
			}
		}
		st = frame_next(c->in, c->ctl->conf.maxrequest, &h, &payload,
		    &why);
		if (st == FRAME_SHORT)
			break;
		if (st == FRAME_BAD) {
			log_limited(&control_limit, "control: %s", why);
			(void)client_end(c, h.ref, why);
			c->closing = 1;
			break;
		}
		/* the request keeps its own copy of what it needs */
		if ((copy = malloc(h.len > 0 ? h.len : 1)) == NULL) {
			c->broken = 1;
			break;
		}
		memcpy(copy, payload, h.len);
		frame_drain(c->in, &h);
		client_request(c, &h, copy);
		free(copy);
	}
	if (c->closing || c->broken) {
		(void)evbuffer_drain(c->in, evbuffer_get_length(c->in));
		event_del(c->rev);
		c->reading = 0;
		return;
	}
	if (!c->reading && !c->eof &&
	    evbuffer_get_length(c->in) < client_inmax(c)) {
		(void)event_add(c->rev, NULL);
		c->reading = 1;
	}
}

/*
 * Requests.
 */

uint32_t
control_req_id(const struct control_req *r)
{
	return (r->id);
}

struct control_req *
control_req_find(struct control *ctl, uint32_t id)
{
	struct control_req	*r;

	if (id == 0)
		return (NULL);
	TAILQ_FOREACH(r, &ctl->reqs, entry)
		if (r->id == id && !r->finished)
			return (r);
	return (NULL);
}

const char *
control_req_name(const struct control_req *r)
{
	return (r->cmd->name);
}

void
control_req_pack(const struct control_req *r, msgpack_packer *pk)
{
	control_args_pack(pk, r->cmd->name, r->args.argc,
	    (char **)r->args.argv);
}

void
control_req_set_state(struct control_req *r, void *state,
    void (*freefn)(void *))
{
	if (r->freefn != NULL && r->state != NULL && r->state != state)
		r->freefn(r->state);
	r->state = state;
	r->freefn = freefn;
}

void *
control_req_state(const struct control_req *r)
{
	return (r->state);
}

void
control_req_set_timeout(struct control_req *r, int secs)
{
	struct timeval	 tv;

	tv.tv_sec = secs > 0 ? secs : r->ctl->conf.timeout;
	tv.tv_usec = 0;
	(void)evtimer_add(r->tmo, &tv);
}

const char *
control_req_errors(const struct control_req *r)
{
	return (r->errors);
}

struct mp_out *
control_out(struct control_req *r)
{
	return (&r->out);
}

static int
req_data(struct control_req *r, const void *obj, size_t len)
{
	if (r->finished) {
		errno = EPIPE;
		return (-1);
	}
	if (len == 0 || len > CONTROL_CHUNKMAX) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (r->client != NULL)
		return (client_queue(r->client, CONTROL_REPLY, r->ref,
		    reply_prefix, sizeof(reply_prefix), obj, len));
	if (r->data == NULL) {
		errno = EPIPE;
		return (-1);
	}
	if (evbuffer_get_length(r->data) + len > CONTROL_REPLYMAX) {
		errno = ENOBUFS;
		return (-1);
	}
	return (evbuffer_add(r->data, obj, len));
}

int
control_send(struct control_req *r)
{
	int	 rv;

	rv = req_data(r, r->out.sb.data, r->out.sb.size);
	mp_out_reset(&r->out);
	return (rv);
}

int
control_send_text(struct control_req *r, struct evbuffer *text)
{
	struct mp_out	*o = &r->out;
	const char	*p, *nl;
	size_t		 n;
	int		 rv = 0;

	mp_out_reset(o);
	while (rv == 0 && (n = evbuffer_get_length(text)) > 0) {
		/* room for the string's own header; cut after a line */
		n = MINIMUM(n, CONTROL_CHUNKMAX - 8);
		if ((p = (const char *)evbuffer_pullup(text,
		    (ev_ssize_t)n)) == NULL) {
			errno = ENOMEM;
			rv = -1;
			break;
		}
		if (n < evbuffer_get_length(text) &&
		    (nl = memrchr(p, '\n', n)) != NULL)
			n = (size_t)(nl - p) + 1;
		msgpack_pack_str(&o->pk, n);
		msgpack_pack_str_body(&o->pk, p, n);
		(void)evbuffer_drain(text, n);
		rv = control_send(r);
	}
	(void)evbuffer_drain(text, evbuffer_get_length(text));
	mp_out_reset(o);
	return (rv);
}

int
control_relay(struct control_req *r, const void *obj, size_t len)
{
	if (len == 0 || len > CONTROL_CHUNKMAX ||
	    mp_check(obj, len, MP_MAXDEPTH) == -1) {
		log_limited(&control_limit, "control: %s: a malformed answer "
		    "from a child", r->cmd->name);
		errno = EINVAL;
		return (-1);
	}
	return (req_data(r, obj, len));
}

static void
req_free(struct control_req *r)
{
	if (r->freefn != NULL && r->state != NULL)
		r->freefn(r->state);
	event_free(r->tmo);
	mp_out_free(&r->out);
	if (r->data != NULL)
		evbuffer_free(r->data);
	free(r);
}

/*
 * The request ends with error (NULL: success): the client gets the
 * CONTROL_END, control_exec()'s caller its result.  Inside fin the
 * request only ends; it is freed once fin has returned.
 */
static void
req_finish(struct control_req *r, const char *error)
{
	struct control		*ctl = r->ctl;
	struct control_client	*c = r->client;
	struct control_result	 res;

	if (r->finished)
		return;
	r->finished = 1;
	evtimer_del(r->tmo);
	TAILQ_REMOVE(&ctl->reqs, r, entry);
	if (c != NULL) {
		(void)client_end(c, r->ref, error);
		c->req = NULL;
		r->client = NULL;
		client_idle_arm(c);
		client_schedule(c);
	} else if (r->done != NULL) {
		ctl->nexec--;
		res.ok = error == NULL;
		res.error = error;
		res.data = r->data;
		r->done(&res, r->done_arg);
	}
	if (r->busy == 0)
		req_free(r);
}

void
control_end(struct control_req *r, const char *fmt, ...)
{
	char	 err[CONTROL_ERRMAX];
	va_list	 ap;

	if (fmt == NULL) {
		req_finish(r, NULL);
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	req_finish(r, err);
}

static void
req_errors_add(struct control_req *r, const char *who, const char *what)
{
	char	 e[CONTROL_ERRMAX];

	(void)snprintf(e, sizeof(e), "%s%s%s", who != NULL ? who : "",
	    who != NULL ? ": " : "", what);
	if (r->errors[0] != '\0')
		(void)strlcat(r->errors, "; ", sizeof(r->errors));
	(void)strlcat(r->errors, e, sizeof(r->errors));
}

/* Every part has ended, or the time is up. */
static void
req_complete(struct control_req *r, unsigned int missing)
{
	char	 e[64];

	r->expecting = 0;
	if (r->fin != NULL) {
		r->busy++;
		r->fin(r, missing, r->ctl->arg);
		r->busy--;
		if (r->finished) {
			req_free(r);
			return;
		}
	}
	if (missing > 0) {
		(void)snprintf(e, sizeof(e), "%u of %u did not answer",
		    missing, r->parts);
		req_errors_add(r, NULL, e);
	}
	req_finish(r, r->errors[0] != '\0' ? r->errors : NULL);
}

void
control_expect(struct control_req *r, unsigned int nparts,
    control_fin_fn fin)
{
	r->expecting = 1;
	r->parts = nparts;
	r->ended = 0;
	r->fin = fin;
	if (nparts == 0)
		req_complete(r, 0);
}

int
control_part_done(struct control_req *r, const char *who, const char *error)
{
	if (r == NULL || !r->expecting)
		return (0);
	if (error != NULL)
		req_errors_add(r, who, error);
	if (++r->ended < r->parts)
		return (0);
	req_complete(r, 0);
	return (1);
}

int
control_part_end(struct control_req *r, const char *who,
    const void *payload, size_t len)
{
	struct mp_doc	 d;
	char		 err[CONTROL_ERRMAX];
	const char	*error = NULL;
	int		 ok;

	if (r == NULL || !r->expecting)
		return (0);
	if (mp_parse(&d, payload, len) == -1 ||
	    mp_map_bool(d.root, "ok", &ok) == -1) {
		error = "a malformed answer";
		log_limited(&control_limit, "control: %s: a malformed answer "
		    "from %s", r->cmd->name, who != NULL ? who : "a child");
	} else if (!ok) {
		if (mp_map_str(d.root, "error", err, sizeof(err)) == -1 ||
		    !printable(err))
			(void)strlcpy(err, "failed", sizeof(err));
		error = err;
	}
	mp_free(&d);
	return (control_part_done(r, who, error));
}

static void
req_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct control_req	*r = arg;

	log_warnx("control: %s: timed out", r->cmd->name);
	if (r->expecting) {
		req_complete(r, r->parts - r->ended);
		return;
	}
	control_end(r, "%s: timed out", r->cmd->name);
}

int
control_exec(struct control *ctl, const char *cmdname, int argc,
    char **argv, control_exec_fn done, void *arg)
{
	const struct control_cmd	*cmd = NULL;
	struct control_args		 a;
	struct control_req		*r;
	char				 err[CONTROL_CMDMAX + 64];
	int				 i;

	memset(&a, 0, sizeof(a));
	if (ctl->nexec >= CONTROL_MAXEXEC || argc < 0 ||
	    argc > CONTROL_MAXARGS ||
	    strlcpy(a.cmd, cmdname, sizeof(a.cmd)) >= sizeof(a.cmd)) {
		errno = EBUSY;
		return (-1);
	}
	for (i = 0; i < argc; i++) {
		if (strlcpy(a.buf[i], argv[i], sizeof(a.buf[i])) >=
		    sizeof(a.buf[i])) {
			errno = EINVAL;
			return (-1);
		}
		a.argv[i] = a.buf[i];
	}
	a.argc = argc;
	if (req_check(ctl, &a, &cmd, err, sizeof(err)) != NULL) {
		errno = ENOENT;
		return (-1);
	}
	if ((r = req_new(ctl, cmd, &a)) == NULL)
		return (-1);
	if ((r->data = evbuffer_new()) == NULL) {
		TAILQ_REMOVE(&ctl->reqs, r, entry);
		req_free(r);
		return (-1);
	}
	r->done = done;
	r->done_arg = arg;
	ctl->nexec++;
	cmd->fn(r, r->args.argc, r->args.argv, ctl->arg);
	return (0);
}

static void
metrics_collected(const struct control_result *res, void *arg)
{
	struct metrics_http_req	*h = arg;
	struct evbuffer		*body;
	msgpack_unpacked	 u;
	const char		*p;
	size_t			 len, off = 0;
	int			 bad = 0;

	if (!res->ok || (body = evbuffer_new()) == NULL) {
		if (!res->ok)
			log_warnx("control: metrics: %s", res->error);
		metrics_http_done(h, NULL);
		return;
	}
	len = evbuffer_get_length(res->data);
	p = (const char *)evbuffer_pullup(res->data, -1);
	msgpack_unpacked_init(&u);
	while (off < len && !bad) {
		if (msgpack_unpack_next(&u, p, len, &off) !=
		    MSGPACK_UNPACK_SUCCESS ||
		    u.data.type != MSGPACK_OBJECT_STR ||
		    evbuffer_add(body, u.data.via.str.ptr,
		    u.data.via.str.size) == -1)
			bad = 1;
	}
	msgpack_unpacked_destroy(&u);
	metrics_http_done(h, bad ? NULL : body);
	evbuffer_free(body);
}

void
control_metrics_collect(struct metrics_http_req *h, void *arg)
{
	struct control	*ctl = arg;

	if (control_exec(ctl, "show metrics", 0, NULL, metrics_collected,
	    h) == -1)
		metrics_http_done(h, NULL);
}

/*
 * The client side.
 */

int
control_request(struct evbuffer *out, uint32_t ref, const char *cmd,
    int argc, char **argv)
{
	struct mp_out	 m;
	int		 rv = -1;

	if (strlen(cmd) >= CONTROL_CMDMAX || argc > CONTROL_MAXARGS) {
		errno = EMSGSIZE;
		return (-1);
	}
	mp_out_init(&m);
	control_args_pack(&m.pk, cmd, argc, argv);
	if (m.sb.size > CONTROL_MAXREQUEST)
		errno = EMSGSIZE;
	else
		rv = frame_add(out, CONTROL_REQUEST, ref, 0, m.sb.data,
		    m.sb.size);
	mp_out_free(&m);
	return (rv);
}

int
control_reply_init(struct control_reply *r)
{
	memset(r, 0, sizeof(*r));
	if ((r->data = evbuffer_new()) == NULL)
		return (-1);
	return (0);
}

void
control_reply_free(struct control_reply *r)
{
	if (r->data != NULL)
		evbuffer_free(r->data);
	memset(r, 0, sizeof(*r));
}

static int
evbuffer_writer(void *data, const char *buf, size_t len)
{
	return (evbuffer_add(data, buf, len));
}

int
control_reply_feed(struct control_reply *r, struct evbuffer *in,
    uint32_t ref, const char **why)
{
	struct frame_hdr	 h;
	const uint8_t		*payload;
	struct mp_doc		 d;
	const msgpack_object	*o;
	msgpack_packer		 pk;
	enum frame_status	 st;
	size_t			 i, n;
	int			 ok;

	while (!r->done) {
		st = frame_next(in, FRAME_MAXLEN, &h, &payload, why);
		if (st == FRAME_SHORT)
			return (0);
		if (st == FRAME_BAD)
			return (-1);
		if (h.type != CONTROL_REPLY && h.type != CONTROL_END) {
			*why = "a frame of unknown type";
			return (-1);
		}
		/* a refusal at accept time carries ref 0 */
		if (h.ref != ref && !(h.ref == 0 && h.type == CONTROL_END)) {
			*why = "the answer to another request";
			return (-1);
		}
		if ((r->total += h.len) > CONTROL_REPLYMAX) {
			*why = "the answer is too long";
			return (-1);
		}
		if (mp_parse(&d, payload, h.len) == -1 ||
		    d.root->type != MSGPACK_OBJECT_MAP) {
			mp_free(&d);
			*why = "a malformed answer";
			return (-1);
		}
		if ((o = mp_map_get(d.root, "data")) != NULL &&
		    !mp_is_nil(o)) {
			msgpack_packer_init(&pk, r->data, evbuffer_writer);
			if (msgpack_pack_object(&pk, *o) != 0) {
				mp_free(&d);
				*why = "out of memory";
				return (-1);
			}
			r->nchunks++;
		}
		if (h.type == CONTROL_END) {
			if (mp_map_bool(d.root, "ok", &ok) == -1) {
				mp_free(&d);
				*why = "an end without ok";
				return (-1);
			}
			r->ok = ok;
			r->done = 1;
			o = mp_map_get(d.root, "error");
			if (o != NULL && o->type == MSGPACK_OBJECT_STR) {
				n = MINIMUM(o->via.str.size,
				    sizeof(r->error) - 1);
				for (i = 0; i < n; i++) {
					r->error[i] = o->via.str.ptr[i];
					if ((unsigned char)r->error[i] < 0x20)
						r->error[i] = '?';
				}
				r->error[n] = '\0';
			}
			if (!r->ok && r->error[0] == '\0')
				(void)strlcpy(r->error, "failed",
				    sizeof(r->error));
		}
		mp_free(&d);
		frame_drain(in, &h);
	}
	return (1);
}

int
control_reply_data(const struct control_reply *r, struct mp_out *out)
{
	msgpack_unpacked	 u;
	const char		*p;
	size_t			 len, off, n = 0, total = 0, i;
	int			 arrays = 1, strings = 1;

	len = evbuffer_get_length(r->data);
	if (len == 0) {
		msgpack_pack_nil(&out->pk);
		return (0);
	}
	if ((p = (const char *)evbuffer_pullup(r->data, -1)) == NULL)
		return (-1);
	msgpack_unpacked_init(&u);
	/* first the kinds and sizes, then the packing */
	for (off = 0; off < len; n++) {
		if (msgpack_unpack_next(&u, p, len, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			goto fail;
		if (u.data.type != MSGPACK_OBJECT_ARRAY)
			arrays = 0;
		else
			total += u.data.via.array.size;
		if (u.data.type != MSGPACK_OBJECT_STR)
			strings = 0;
		else
			total += u.data.via.str.size;
	}
	if (n == 1) {
		off = 0;
		if (msgpack_unpack_next(&u, p, len, &off) !=
		    MSGPACK_UNPACK_SUCCESS ||
		    msgpack_pack_object(&out->pk, u.data) != 0)
			goto fail;
		msgpack_unpacked_destroy(&u);
		return (0);
	}
	if (arrays)
		msgpack_pack_array(&out->pk, total);
	else if (strings)
		msgpack_pack_str(&out->pk, total);
	else
		msgpack_pack_array(&out->pk, n);
	for (off = 0; off < len; ) {
		if (msgpack_unpack_next(&u, p, len, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			goto fail;
		if (arrays) {
			for (i = 0; i < u.data.via.array.size; i++)
				if (msgpack_pack_object(&out->pk,
				    u.data.via.array.ptr[i]) != 0)
					goto fail;
		} else if (strings) {
			if (msgpack_pack_str_body(&out->pk,
			    u.data.via.str.ptr, u.data.via.str.size) != 0)
				goto fail;
		} else if (msgpack_pack_object(&out->pk, u.data) != 0)
			goto fail;
	}
	msgpack_unpacked_destroy(&u);
	return (0);
 fail:
	msgpack_unpacked_destroy(&u);
	return (-1);
}

/*
 * JSON.
 */

static int
json_string(struct evbuffer *b, const char *s, size_t len)
{
	const uint8_t	*p = (const uint8_t *)s;
	size_t		 i = 0, n;
	const char	*e;
	char		 u[8];

	if (evbuffer_add(b, "\"", 1) == -1)
		return (-1);
	while (i < len) {
		e = NULL;
		switch (p[i]) {
		case '"':  e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		}
		if (e != NULL) {
			if (evbuffer_add(b, e, 2) == -1)
				return (-1);
			i++;
			continue;
		}
		if (p[i] < 0x20) {
			(void)snprintf(u, sizeof(u), "\\u%04x", p[i]);
			if (evbuffer_add(b, u, 6) == -1)
				return (-1);
			i++;
			continue;
		}
		if (p[i] < 0x80) {
			if (evbuffer_add(b, &p[i], 1) == -1)
				return (-1);
			i++;
			continue;
		}
		/* a UTF-8 sequence goes as it is, anything else as U+FFFD */
		if ((n = utf8_seqlen(p + i, len - i)) == 0) {
			if (evbuffer_add(b, "\\ufffd", 6) == -1)
				return (-1);
			i++;
			continue;
		}
		if (evbuffer_add(b, &p[i], n) == -1)
			return (-1);
		i += n;
	}
	return (evbuffer_add(b, "\"", 1));
}

static int
json_value(const msgpack_object *o, struct evbuffer *b, int depth)
{
	static const char	 hex[] = "0123456789abcdef";
	struct evbuffer		*kb;
	const char		*kp;
	char			 num[40];
	uint32_t		 i;
	int			 rv;

	if (depth > CONTROL_JSONDEPTH)
		return (-1);
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return (evbuffer_add(b, "null", 4));
	case MSGPACK_OBJECT_BOOLEAN:
		return (o->via.boolean ? evbuffer_add(b, "true", 4) :
		    evbuffer_add(b, "false", 5));
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (evbuffer_add_printf(b, "%llu",
		    (unsigned long long)o->via.u64) == -1 ? -1 : 0);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (evbuffer_add_printf(b, "%lld",
		    (long long)o->via.i64) == -1 ? -1 : 0);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return (evbuffer_add(b, "null", 4));
		metrics_format_float(num, sizeof(num), o->via.f64);
		return (evbuffer_add(b, num, strlen(num)));
	case MSGPACK_OBJECT_STR:
		return (json_string(b, o->via.str.ptr, o->via.str.size));
	case MSGPACK_OBJECT_BIN:
		if (evbuffer_add(b, "\"", 1) == -1)
			return (-1);
		for (i = 0; i < o->via.bin.size; i++) {
			num[0] = hex[(uint8_t)o->via.bin.ptr[i] >> 4];
			num[1] = hex[(uint8_t)o->via.bin.ptr[i] & 0x0f];
			if (evbuffer_add(b, num, 2) == -1)
				return (-1);
		}
		return (evbuffer_add(b, "\"", 1));
	case MSGPACK_OBJECT_ARRAY:
		if (evbuffer_add(b, "[", 1) == -1)
			return (-1);
		for (i = 0; i < o->via.array.size; i++)
			if ((i > 0 && evbuffer_add(b, ",", 1) == -1) ||
			    json_value(&o->via.array.ptr[i], b, depth + 1) ==
			    -1)
				return (-1);
		return (evbuffer_add(b, "]", 1));
	case MSGPACK_OBJECT_MAP:
		if (evbuffer_add(b, "{", 1) == -1)
			return (-1);
		for (i = 0; i < o->via.map.size; i++) {
			if (i > 0 && evbuffer_add(b, ",", 1) == -1)
				return (-1);
			if (o->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR)
				rv = json_value(&o->via.map.ptr[i].key, b,
				    depth + 1);
			else {
				/* JSON keys are strings: the key's text */
				if ((kb = evbuffer_new()) == NULL)
					return (-1);
				rv = json_value(&o->via.map.ptr[i].key, kb,
				    depth + 1);
				if (rv == 0 && (kp = (const char *)
				    evbuffer_pullup(kb, -1)) != NULL)
					rv = json_string(b, kp,
					    evbuffer_get_length(kb));
				else if (rv == 0 &&
				    evbuffer_get_length(kb) == 0)
					rv = json_string(b, "", 0);
				evbuffer_free(kb);
			}
			if (rv == -1 || evbuffer_add(b, ":", 1) == -1 ||
			    json_value(&o->via.map.ptr[i].val, b, depth + 1) ==
			    -1)
				return (-1);
		}
		return (evbuffer_add(b, "}", 1));
	default:
		return (evbuffer_add(b, "null", 4));
	}
}

int
control_json(const msgpack_object *o, struct evbuffer *b)
{
	return (json_value(o, b, 0));
}
