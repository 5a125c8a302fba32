/*
 * splice.c: the byte relay between two connected sockets, used by the
 * relay processes of proxyd and privproxyd once a stream is handed over.
 *
 * Each direction is a small state machine: read the source into a pipe
 * (or, in read/write mode, a buffer), write the pipe to the destination,
 * repeat.  The source is read only while the pipe is empty and the
 * destination is waited for only while it holds bytes, so a full
 * destination stops the reading (back-pressure) and no event is ever
 * armed without work behind it.  splice(2) with SPLICE_F_NONBLOCK
 * cannot tell "pipe full" from "source empty", which is one more reason
 * never to read into a pipe that still holds bytes.
 *
 * A direction whose first splice(2) is refused with EINVAL or ENOSYS
 * falls back to read(2)/send(2) through a buffer of SPLICE_BUFSZ bytes;
 * bytes already in the pipe are read out of it first, so none is lost.
 * The sockets must be non-blocking.  splice(2) into a socket whose peer
 * is gone raises SIGPIPE: the daemons ignore that signal.
 *
 * Idle time is measured from the last byte moved: one timer per relay,
 * armed for the idle time and, when it fires early, re-armed for what
 * is left, so moving bytes never touches the timer.
 *
 * A reset that arrives on a socket whose reading has already ended,
 * while nothing is being written to it, is only noticed by the idle
 * timeout (or TCP keepalive): no event is watched there.
 *
 * Pipes of finished relays are pooled for the next ones; a pipe is only
 * pooled when it is known to be empty (FIONREAD agrees), so no byte of
 * one connection can ever reach another.  Pipes keep the kernel's default
 * size (64 KiB): larger ones save system time on bulk transfers but
 * count against fs.pipe-user-pages-soft, past which every new pipe of
 * an unprivileged user gets only two pages.  The pool is per process:
 * a process that forks must not relay in both halves with pipes pooled
 * before the fork (the daemons fork their children before relaying).
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event.h>

#include "compat.h"
#include "splice.h"

#define SPLICE_BUFSZ	(16 * 1024)	/* read/write mode buffer */
#define SPLICE_CHUNK	(1024 * 1024)	/* splice(2) len; the pipe bounds it */
#define SPLICE_ROUNDS	8		/* fill/flush rounds per callback */
#define SPLICE_POOL	64		/* default pool size, in pipes */

#define DIR_EOF		0x01	/* source reached end of file */
#define DIR_SHUT	0x02	/* destination shut down for writing */
#define DIR_READING	0x04	/* d_rev is added */
#define DIR_WRITING	0x08	/* d_wev is added */
#define DIR_INOK	0x10	/* splice(2) from the source worked once */
#define DIR_OUTOK	0x20	/* splice(2) to the destination worked once */

struct splice_pipe {
	SLIST_ENTRY(splice_pipe)	 p_entry;
	int				 p_fd[2];
};

struct splice_dir {
	struct splice		*d_sp;
	int			 d_src;
	int			 d_dst;
	int			 d_flags;
	struct event		*d_rev;		/* source readable */
	struct event		*d_wev;		/* destination writable */
	struct splice_pipe	*d_pipe;	/* NULL once unused */
	char			*d_buf;		/* read/write mode only */
	size_t			 d_off;		/* next byte of d_buf to send */
	size_t			 d_pending;	/* read, not yet written */
	size_t			 d_drain;	/* left in d_pipe, fallback */
	uint64_t		 d_bytes;	/* written to the destination */
};

struct splice {
	struct event_base	*sp_base;
	int			 sp_fd[2];
	int			 sp_ended;
	struct splice_dir	 sp_dir[2];
	struct event		*sp_timer;
	struct timeval		 sp_idle;
	struct timeval		 sp_last;	/* last byte moved */
	splice_done_cb		 sp_cb;
	void			*sp_arg;
};

SLIST_HEAD(splice_pool, splice_pipe);

static struct splice_pool	 splice_pool =
    SLIST_HEAD_INITIALIZER(splice_pool);
static unsigned int		 splice_npool;
static unsigned int		 splice_maxpool = SPLICE_POOL;

static struct splice_pipe *pipe_get(void);
static void	 pipe_close(struct splice_pipe *);
static void	 pipe_put(struct splice_pipe *);
static int	 dir_fallback(struct splice_dir *);
static ssize_t	 dir_in(struct splice_dir *);
static ssize_t	 dir_out(struct splice_dir *);
static int	 dir_arm(struct splice_dir *);
static void	 dir_pump(struct splice_dir *);
static void	 dir_dispatch(int, short, void *);
static void	 splice_timeout(int, short, void *);
static void	 splice_end(struct splice *, enum splice_end, int);
static void	 splice_release(struct splice *);

static struct splice_pipe *
pipe_get(void)
{
	struct splice_pipe	*p;

	if ((p = SLIST_FIRST(&splice_pool)) != NULL) {
		SLIST_REMOVE_HEAD(&splice_pool, p_entry);
		splice_npool--;
		return (p);
	}
	if ((p = malloc(sizeof(*p))) == NULL)
		return (NULL);
	if (pipe2(p->p_fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(p);
		return (NULL);
	}
	return (p);
}

static void
pipe_close(struct splice_pipe *p)
{
	(void)close(p->p_fd[0]);
	(void)close(p->p_fd[1]);
	free(p);
}

/* Pool a pipe the caller believes empty, after asking the kernel. */
static void
pipe_put(struct splice_pipe *p)
{
	int	 n;

	if (splice_npool >= splice_maxpool ||
	    ioctl(p->p_fd[0], FIONREAD, &n) == -1 || n != 0) {
		pipe_close(p);
		return;
	}
	SLIST_INSERT_HEAD(&splice_pool, p, p_entry);
	splice_npool++;
}

void
splice_set_pool(unsigned int max)
{
	struct splice_pipe	*p;

	splice_maxpool = max;
	while (splice_npool > splice_maxpool) {
		p = SLIST_FIRST(&splice_pool);
		SLIST_REMOVE_HEAD(&splice_pool, p_entry);
		splice_npool--;
		pipe_close(p);
	}
}

/*
 * Switch a direction to read/write mode.  What the pipe still holds is
 * read out of it before anything more is read from the source.
 */
static int
dir_fallback(struct splice_dir *d)
{
	if ((d->d_buf = malloc(SPLICE_BUFSZ)) == NULL)
		return (-1);
	d->d_drain = d->d_pending;
	d->d_pending = 0;
	d->d_off = 0;
	if (d->d_drain == 0 && d->d_pipe != NULL) {
		pipe_put(d->d_pipe);
		d->d_pipe = NULL;
	}
	return (0);
}

/* Fill the empty pipe or buffer: bytes read, 0 at end of file, or -1. */
static ssize_t
dir_in(struct splice_dir *d)
{
	ssize_t	 n;

	if (d->d_buf == NULL)
		return (splice(d->d_src, NULL, d->d_pipe->p_fd[1], NULL,
		    SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));

	d->d_off = 0;
	if (d->d_drain == 0)
		return (read(d->d_src, d->d_buf, SPLICE_BUFSZ));

	n = read(d->d_pipe->p_fd[0], d->d_buf, MINIMUM(d->d_drain,
	    SPLICE_BUFSZ));
	if (n == 0) {
		/* We hold the write end: a pipe with bytes cannot be empty. */
		errno = EIO;
		return (-1);
	}
	if (n > 0 && (d->d_drain -= n) == 0) {
		pipe_put(d->d_pipe);
		d->d_pipe = NULL;
	}
	return (n);
}

/* Write what the pipe or buffer holds: bytes written or -1. */
static ssize_t
dir_out(struct splice_dir *d)
{
	if (d->d_buf == NULL)
		return (splice(d->d_pipe->p_fd[0], NULL, d->d_dst, NULL,
		    d->d_pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
	return (send(d->d_dst, d->d_buf + d->d_off, d->d_pending,
	    MSG_NOSIGNAL));
}

/*
 * Wait for the source only while nothing is held, for the destination
 * only while something is.
 */
static int
dir_arm(struct splice_dir *d)
{
	int	 rd, wr;

	wr = d->d_pending > 0 || d->d_drain > 0;
	rd = !wr && !(d->d_flags & DIR_EOF);

	if (rd && !(d->d_flags & DIR_READING)) {
		if (event_add(d->d_rev, NULL) == -1)
			return (-1);
		d->d_flags |= DIR_READING;
	} else if (!rd && (d->d_flags & DIR_READING)) {
		(void)event_del(d->d_rev);
		d->d_flags &= ~DIR_READING;
	}
	if (wr && !(d->d_flags & DIR_WRITING)) {
		if (event_add(d->d_wev, NULL) == -1)
			return (-1);
		d->d_flags |= DIR_WRITING;
	} else if (!wr && (d->d_flags & DIR_WRITING)) {
		(void)event_del(d->d_wev);
		d->d_flags &= ~DIR_WRITING;
	}
	return (0);
}

/*
 * Move bytes until the source is empty or the destination full, then
 * wait.  May end the relay, after which the relay must not be touched.
 */
static void
dir_pump(struct splice_dir *d)
{
	struct splice	*sp = d->d_sp;
	ssize_t		 n;
	int		 i, moved = 0;

	for (i = 0; i < SPLICE_ROUNDS; i++) {
		if (d->d_pending > 0) {
			if ((n = dir_out(d)) == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				if ((errno == EINVAL || errno == ENOSYS) &&
				    d->d_buf == NULL &&
				    !(d->d_flags & DIR_OUTOK)) {
					if (dir_fallback(d) == -1)
						goto fail;
					continue;
				}
				goto fail;
			}
			if (d->d_buf == NULL)
				d->d_flags |= DIR_OUTOK;
			d->d_pending -= n;
			d->d_off += n;
			d->d_bytes += n;
			moved = 1;
			if (d->d_pending > 0)
				break;		/* destination is full */
			continue;
		}
		if ((d->d_flags & DIR_EOF) && d->d_drain == 0)
			break;
		if ((n = dir_in(d)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			if ((errno == EINVAL || errno == ENOSYS) &&
			    d->d_buf == NULL && !(d->d_flags & DIR_INOK)) {
				if (dir_fallback(d) == -1)
					goto fail;
				continue;
			}
			goto fail;
		}
		if (d->d_buf == NULL)
			d->d_flags |= DIR_INOK;
		if (n == 0) {
			d->d_flags |= DIR_EOF;
			break;
		}
		d->d_pending = n;
		moved = 1;
	}

	if (moved && sp->sp_timer != NULL)
		event_base_gettimeofday_cached(sp->sp_base, &sp->sp_last);

	if ((d->d_flags & (DIR_EOF | DIR_SHUT)) == DIR_EOF &&
	    d->d_pending == 0 && d->d_drain == 0) {
		if (shutdown(d->d_dst, SHUT_WR) == -1 && errno != ENOTCONN)
			goto fail;
		d->d_flags |= DIR_SHUT;
		if (d->d_pipe != NULL) {
			/* This direction is over: its pipe can serve others. */
			pipe_put(d->d_pipe);
			d->d_pipe = NULL;
		}
		if (sp->sp_dir[0].d_flags & sp->sp_dir[1].d_flags & DIR_SHUT) {
			splice_end(sp, SPLICE_DONE, 0);
			return;
		}
	}
	if (dir_arm(d) == -1)
		goto fail;
	return;

 fail:
	splice_end(sp, SPLICE_ERROR, errno != 0 ? errno : EIO);
}

static void
dir_dispatch(int fd, short ev, void *arg)
{
	dir_pump(arg);
}

static void
splice_timeout(int fd, short ev, void *arg)
{
	struct splice	*sp = arg;
	struct timeval	 now, idle, left;

	event_base_gettimeofday_cached(sp->sp_base, &now);
	timersub(&now, &sp->sp_last, &idle);
	if (idle.tv_sec < 0) {
		/* The clock went back: count from now. */
		sp->sp_last = now;
		timerclear(&idle);
	}
	if (!timercmp(&idle, &sp->sp_idle, <)) {
		splice_end(sp, SPLICE_IDLE, 0);
		return;
	}
	timersub(&sp->sp_idle, &idle, &left);
	if (evtimer_add(sp->sp_timer, &left) == -1)
		splice_end(sp, SPLICE_ERROR, errno);
}

/* Stop every event and report; the callback may free the relay. */
static void
splice_end(struct splice *sp, enum splice_end why, int error)
{
	struct splice_dir	*d;
	int			 i;

	/*
	 * Many clients end a stream with a reset rather than a FIN (a TLS
	 * close_notify, then a close with bytes unread): once both
	 * directions carried data, a reset is the end, not an error.
	 */
	if (why == SPLICE_ERROR && (error == ECONNRESET || error == EPIPE) &&
	    sp->sp_dir[0].d_bytes > 0 && sp->sp_dir[1].d_bytes > 0) {
		why = SPLICE_DONE;
		error = 0;
	}
	if (sp->sp_ended)
		return;
	sp->sp_ended = 1;
	for (i = 0; i < 2; i++) {
		d = &sp->sp_dir[i];
		(void)event_del(d->d_rev);
		(void)event_del(d->d_wev);
		d->d_flags &= ~(DIR_READING | DIR_WRITING);
	}
	if (sp->sp_timer != NULL)
		(void)event_del(sp->sp_timer);
	sp->sp_cb(sp, why, error, sp->sp_arg);
}

/* Free all but the sockets. */
static void
splice_release(struct splice *sp)
{
	struct splice_dir	*d;
	size_t			 inpipe;
	int			 i;

	for (i = 0; i < 2; i++) {
		d = &sp->sp_dir[i];
		if (d->d_rev != NULL)
			event_free(d->d_rev);
		if (d->d_wev != NULL)
			event_free(d->d_wev);
		if (d->d_pipe != NULL) {
			inpipe = d->d_buf == NULL ? d->d_pending : d->d_drain;
			if (inpipe == 0)
				pipe_put(d->d_pipe);
			else
				pipe_close(d->d_pipe);
		}
		free(d->d_buf);
	}
	if (sp->sp_timer != NULL)
		event_free(sp->sp_timer);
	free(sp);
}

struct splice *
splice_start(struct event_base *base, int a, int b,
    const struct timeval *idle, int flags, splice_done_cb cb, void *arg)
{
	struct splice		*sp;
	struct splice_dir	*d;
	int			 i, saved;

	if (base == NULL || cb == NULL || a < 0 || b < 0 || a == b ||
	    (idle != NULL && (idle->tv_sec < 0 || idle->tv_usec < 0 ||
	    idle->tv_usec >= 1000000))) {
		errno = EINVAL;
		return (NULL);
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return (NULL);
	sp->sp_base = base;
	sp->sp_fd[0] = a;
	sp->sp_fd[1] = b;
	sp->sp_cb = cb;
	sp->sp_arg = arg;

	for (i = 0; i < 2; i++) {
		d = &sp->sp_dir[i];
		d->d_sp = sp;
		d->d_src = sp->sp_fd[i];
		d->d_dst = sp->sp_fd[!i];
		if (flags & SPLICE_F_NOSPLICE) {
			if ((d->d_buf = malloc(SPLICE_BUFSZ)) == NULL)
				goto fail;
		} else if ((d->d_pipe = pipe_get()) == NULL)
			goto fail;
		if ((d->d_rev = event_new(base, d->d_src, EV_READ | EV_PERSIST,
		    dir_dispatch, d)) == NULL ||
		    (d->d_wev = event_new(base, d->d_dst, EV_WRITE | EV_PERSIST,
		    dir_dispatch, d)) == NULL)
			goto fail;
	}

	if (idle != NULL && timerisset(idle)) {
		sp->sp_idle = *idle;
		event_base_gettimeofday_cached(base, &sp->sp_last);
		if ((sp->sp_timer = evtimer_new(base, splice_timeout,
		    sp)) == NULL || evtimer_add(sp->sp_timer, idle) == -1)
			goto fail;
	}
	for (i = 0; i < 2; i++)
		if (dir_arm(&sp->sp_dir[i]) == -1)
			goto fail;
	return (sp);

 fail:
	saved = errno != 0 ? errno : ENOMEM;
	splice_release(sp);
	errno = saved;
	return (NULL);
}

void
splice_free(struct splice *sp)
{
	int	 a, b;

	if (sp == NULL)
		return;
	a = sp->sp_fd[0];
	b = sp->sp_fd[1];
	splice_release(sp);	/* events go before their descriptors */
	(void)close(a);
	(void)close(b);
}

uint64_t
splice_bytes(const struct splice *sp, int dir)
{
	return (sp->sp_dir[dir != 0].d_bytes);
}
