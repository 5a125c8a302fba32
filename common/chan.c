/*
 * chan.c: frames and descriptors over a Unix stream socket (chan.h).
 *
 * Output goes to an evbuffer; descriptors wait in a queue with the
 * stream offset of the frame they belong to.  The first frame queued
 * makes the write event active, so the queue is sent once the event
 * loop's current round of callbacks is over, without waiting for
 * epoll(7) to say that the socket is writable, which it nearly always
 * is; only a socket that takes less than what is queued arms the
 * write event.  A flush sends data with
 * sendmsg(2) and attaches a descriptor to the call whose first byte is
 * the first byte of its frame, and never sends past the start of the
 * next frame with a descriptor.  Linux delivers the descriptor with
 * that byte and ends the recvmsg(2) that took it there, so the frame
 * starts inside the bytes of the read that brought its descriptor.  The
 * receiver holds the peer to that: one descriptor per read, paired with
 * a frame that says FRAME_F_FD and starts inside that read; a
 * descriptor still unpaired once frames start past its read is a
 * protocol error that ends the channel, so a peer cannot make us hold
 * descriptors we never use.
 */

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "chan.h"
#include "log.h"

#define CHAN_READSZ	65536
#define CHAN_IOV	16
#define CHAN_FDS_IN	8	/* descriptors one recvmsg may bring */

struct chan_fd {
	TAILQ_ENTRY(chan_fd)	 entry;
	uint64_t		 pos;	/* out: stream offset of the frame */
	uint64_t		 end;	/* in: the read brought [pos, end) */
	int			 fd;
};
TAILQ_HEAD(chan_fdq, chan_fd);

struct chan {
	int			 fd;
	size_t			 maxlen;
	chan_cb			 cb;
	void			*arg;
	struct event		*rev;
	struct event		*wev;
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct chan_fdq		 infds;
	struct chan_fdq		 outfds;
	uint64_t		 outpos;	/* bytes ever queued */
	uint64_t		 sent;		/* bytes ever sent */
	uint64_t		 inpos;		/* bytes ever received */
	uint64_t		 parsed;	/* where the next frame starts */
	int			 busy;		/* inside the callback */
	int			 dead;		/* freed while busy */
	int			 closed;	/* close reported */
	char			 name[32];
};

static void	chan_read(evutil_socket_t, short, void *);
static void	chan_write(evutil_socket_t, short, void *);
static void	chan_fail(struct chan *, const char *);
static void	chan_destroy(struct chan *);
static int	chan_sendsome(struct chan *);

struct chan *
chan_new(struct event_base *base, int fd, size_t maxlen, chan_cb cb,
    void *arg)
{
	struct chan	*c;
	int		 fl;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->fd = fd;
	c->maxlen = maxlen ? maxlen : FRAME_MAXLEN;
	c->cb = cb;
	c->arg = arg;
	TAILQ_INIT(&c->infds);
	TAILQ_INIT(&c->outfds);
	(void)strlcpy(c->name, "chan", sizeof(c->name));
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		goto fail;
	if ((c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL)
		goto fail;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_write, c);
	if (c->rev == NULL || c->wev == NULL)
		goto fail;
	if (event_add(c->rev, NULL) == -1)
		goto fail;
	return (c);
 fail:
	c->fd = -1;
	chan_destroy(c);
	return (NULL);
}

void
chan_set_name(struct chan *c, const char *name)
{
	(void)strlcpy(c->name, name, sizeof(c->name));
}

const char *
chan_name(const struct chan *c)
{
	return (c->name);
}

size_t
chan_queued(const struct chan *c)
{
	return (evbuffer_get_length(c->out));
}

static void
fdq_clear(struct chan_fdq *q)
{
	struct chan_fd	*cf;

	while ((cf = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, cf, entry);
		if (cf->fd != -1)
			close(cf->fd);
		free(cf);
	}
}

static void
chan_destroy(struct chan *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	fdq_clear(&c->infds);
	fdq_clear(&c->outfds);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

void
chan_free(struct chan *c)
{
	if (c == NULL)
		return;
	if (c->busy) {
		c->dead = 1;
		event_del(c->rev);
		event_del(c->wev);
		return;
	}
	chan_destroy(c);
}

int
chan_send(struct chan *c, uint16_t type, uint32_t ref, int fd,
    const void *payload, size_t len)
{
	struct chan_fd	*cf = NULL;
	size_t		 before;

	if (c->dead || c->closed) {
		errno = EPIPE;
		goto fail;
	}
	before = evbuffer_get_length(c->out);
	if (before + len > CHAN_OUTMAX) {
		errno = ENOBUFS;
		goto fail;
	}
	if (fd != -1) {
		if ((cf = calloc(1, sizeof(*cf))) == NULL)
			goto fail;
		cf->fd = fd;
		cf->pos = c->outpos;
	}
	if (frame_add(c->out, type, ref, fd != -1 ? FRAME_F_FD : 0,
	    payload, len) == -1) {
		free(cf);
		goto fail;
	}
	c->outpos += FRAME_HDRLEN + len;
	if (cf != NULL)
		TAILQ_INSERT_TAIL(&c->outfds, cf, entry);
	/*
	 * Written once the callbacks of this round have run, in one
	 * sendmsg(2) with whatever else they queued; the write event is
	 * only armed (an epoll_ctl(2) each way) when the socket is full.
	 */
	if (!event_pending(c->wev, EV_WRITE, NULL))
		event_active(c->wev, EV_WRITE, 0);
	return (0);
 fail:
	if (fd != -1)
		close(fd);
	return (-1);
}

/*
 * One sendmsg(2).  Returns bytes sent, 0 if the socket is full, -1 on
 * error.
 */
static int
chan_sendsome(struct chan *c)
{
	struct evbuffer_iovec	 v[CHAN_IOV];
	struct iovec		 iov[CHAN_IOV];
	struct msghdr		 msg;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr		*cmsg;
	struct chan_fd		*cf, *next;
	ev_ssize_t		 limit = -1;
	ssize_t			 n;
	int			 i, nv, sendfd = -1;

	cf = TAILQ_FIRST(&c->outfds);
	if (cf != NULL && cf->pos == c->sent) {
		sendfd = cf->fd;
		next = TAILQ_NEXT(cf, entry);
		if (next != NULL)
			limit = (ev_ssize_t)(next->pos - c->sent);
	} else if (cf != NULL)
		limit = (ev_ssize_t)(cf->pos - c->sent);

	nv = evbuffer_peek(c->out, limit, NULL, v, CHAN_IOV);
	if (nv > CHAN_IOV)
		nv = CHAN_IOV;
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		if (limit >= 0) {
			if ((ev_ssize_t)iov[i].iov_len > limit)
				iov[i].iov_len = (size_t)limit;
			limit -= (ev_ssize_t)iov[i].iov_len;
		}
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = nv;
	if (sendfd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = &cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &sendfd, sizeof(int));
	}
	n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ENOBUFS)
			return (0);
		return (-1);
	}
	if (sendfd != -1) {
		TAILQ_REMOVE(&c->outfds, cf, entry);
		close(cf->fd);
		free(cf);
	}
	evbuffer_drain(c->out, (size_t)n);
	c->sent += (uint64_t)n;
	return ((int)n);
}

static void
chan_write(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;
	int		 n;

	while (evbuffer_get_length(c->out) > 0) {
		if ((n = chan_sendsome(c)) == -1) {
			chan_fail(c, "write");
			return;
		}
		if (n == 0)
			break;
	}
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->wev, NULL);
}

int
chan_flush(struct chan *c)
{
	struct pollfd	 pfd;
	int		 n;

	while (evbuffer_get_length(c->out) > 0) {
		if ((n = chan_sendsome(c)) == -1)
			return (-1);
		if (n == 0) {
			pfd.fd = c->fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 1000) == -1 && errno != EINTR)
				return (-1);
		}
	}
	return (0);
}

/* Report the end of the channel once; the owner frees it. */
static void
chan_fail(struct chan *c, const char *what)
{
	if (c->closed)
		return;
	c->closed = 1;
	event_del(c->rev);
	event_del(c->wev);
	if (what != NULL)
		log_debug("%s: %s: %s", c->name, what, strerror(errno));
	c->busy++;
	c->cb(c, NULL, c->arg);
	c->busy--;
	if (c->dead && c->busy == 0)
		chan_destroy(c);
}

static int
chan_recv(struct chan *c)
{
	struct evbuffer_iovec	 v;
	struct iovec		 iov;
	struct msghdr		 msg;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(CHAN_FDS_IN * sizeof(int))];
	} cmsgbuf;
	struct cmsghdr		*cmsg;
	struct chan_fd		*cf;
	ssize_t			 n;
	size_t			 i, nfds;
	int			 fd, bad = 0, nfd = 0;

	if (evbuffer_reserve_space(c->in, CHAN_READSZ, &v, 1) != 1)
		return (-1);
	iov.iov_base = v.iov_base;
	iov.iov_len = v.iov_len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	if (n == -1) {
		v.iov_len = 0;
		evbuffer_commit_space(c->in, &v, 1);
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (1);
		return (-1);
	}
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (bad || i > 0 || n <= 0 ||
			    (cf = calloc(1, sizeof(*cf))) == NULL) {
				close(fd);
				bad = 1;
				continue;
			}
			cf->fd = fd;
			cf->pos = c->inpos;
			cf->end = c->inpos + (uint64_t)n;
			TAILQ_INSERT_TAIL(&c->infds, cf, entry);
			nfd++;
		}
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(c->in, &v, 1);
	if ((msg.msg_flags & MSG_CTRUNC) && nfd == 0 && !bad && n > 0) {
		/*
		 * Out of descriptors: the kernel dropped the one that came.
		 * Its frame gets -1, the channel goes on.
		 */
		log_warnx("%s: a descriptor was lost: no descriptor free",
		    c->name);
		if ((cf = calloc(1, sizeof(*cf))) != NULL) {
			cf->fd = -1;
			cf->pos = c->inpos;
			cf->end = c->inpos + (uint64_t)n;
			TAILQ_INSERT_TAIL(&c->infds, cf, entry);
			nfd = 1;
		}
		msg.msg_flags &= ~MSG_CTRUNC;
	}
	c->inpos += (uint64_t)n;
	if ((msg.msg_flags & MSG_CTRUNC) || bad || nfd > 1) {
		log_warnx("%s: descriptors not sent one per frame", c->name);
		errno = EPROTO;
		return (-1);
	}
	return (n == 0 ? 0 : 1);
}

static void
chan_read(evutil_socket_t fd, short ev, void *arg)
{
	struct chan		*c = arg;
	struct frame		 f;
	struct chan_fd		*cf;
	const char		*why = NULL;
	enum frame_status	 st;
	int			 r;

	if ((r = chan_recv(c)) == -1) {
		chan_fail(c, "read");
		return;
	}
	c->busy++;
	while (!c->dead && !c->closed) {
		st = frame_next(c->in, c->maxlen, &f.hdr, &f.data, &why);
		if (st == FRAME_SHORT)
			break;
		if (st == FRAME_BAD) {
			log_warnx("%s: %s", c->name, why);
			errno = EPROTO;
			c->busy--;
			chan_fail(c, NULL);
			return;
		}
		f.len = f.hdr.len;
		f.fd = -1;
		cf = TAILQ_FIRST(&c->infds);
		if (f.hdr.flags & FRAME_F_FD) {
			if (cf == NULL || c->parsed < cf->pos ||
			    c->parsed >= cf->end) {
				log_warnx("%s: frame without its descriptor",
				    c->name);
				c->busy--;
				errno = EPROTO;
				chan_fail(c, NULL);
				return;
			}
			TAILQ_REMOVE(&c->infds, cf, entry);
			f.fd = cf->fd;
			free(cf);
		} else if (cf != NULL && c->parsed >= cf->end) {
			log_warnx("%s: descriptor without its frame", c->name);
			c->busy--;
			errno = EPROTO;
			chan_fail(c, NULL);
			return;
		}
		c->parsed += FRAME_HDRLEN + (uint64_t)f.len;
		c->cb(c, &f, c->arg);
		if (f.fd != -1)
			close(f.fd);
		if (!c->dead)
			frame_drain(c->in, &f.hdr);
	}
	c->busy--;
	if (c->dead) {
		if (c->busy == 0)
			chan_destroy(c);
		return;
	}
	if (r == 0) {
		errno = 0;
		if (evbuffer_get_length(c->in) > 0)
			log_warnx("%s: truncated frame at end of stream",
			    c->name);
		chan_fail(c, NULL);
	}
}
