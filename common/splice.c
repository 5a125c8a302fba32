/*
 * splice.c: the byte relay between two connected sockets, used by
 * proxyd's listeners and privproxyd's connectors once a stream is
 * handed over.
 *
 * Each direction reads its source into a process-wide buffer of
 * SPLICE_BUFSZ bytes and writes what it read to the destination at
 * once: a short request or answer costs one read(2) and one send(2),
 * and never touches a pipe.  Only a read that fills the buffer, a sign
 * of bulk data, moves the direction to splice(2): source to pipe, pipe
 * to destination, the pipe taken from a per-process pool for the round
 * and given back as soon as it is empty again.  So a relay holds its two
 * sockets and nothing else between bursts, and pipes exist only while
 * bytes are in flight (as in haproxy).  A pipe is held across events
 * only while the destination does not take all it holds; when every
 * pipe of the pool (SPLICE_MAXPIPES, see splice_set_pool()) is busy, the
 * direction reads into the buffer instead for that round.  So it does
 * when no pipe can be made, the process being out of descriptors
 * (EMFILE, ENFILE) or memory: a relay never fails for want of a pipe,
 * and the next SPLICE_PIPE_WAIT rounds that would want a new pipe do not
 * ask pipe2(2) again, so that a process at its limit does not pay a
 * failing system call for every read.
 *
 * A read shorter than the buffer means the source is drained: the
 * direction waits for its next event instead of reading again into an
 * EAGAIN, and epoll, level-triggered, says when more came.  A write the
 * destination does not take whole keeps the rest (in a heap buffer of
 * that size, or in the pipe) and waits for the destination; the source
 * is not read meanwhile (back-pressure), and no event is armed without
 * work behind it.  A destination's write event is only made the first
 * time it is needed.
 *
 * A direction whose splice(2) is refused with EINVAL or ENOSYS goes on
 * with read(2)/send(2); bytes already in the pipe are read out of it
 * into a buffer first, so none is lost.  The sockets must be
 * non-blocking.  splice(2) into a socket whose peer is gone raises
 * SIGPIPE: the daemons ignore that signal.
 *
 * An end of file in one direction is passed on as shutdown(SHUT_WR) once
 * every byte before it has been written (half-close); the relay ends
 * when both directions are shut, on the first hard error, or when no
 * byte moved for the idle time.  The second end of file is passed on
 * by the close of splice_free(), which the done callback calls.  Idle
 * time is measured from the last byte moved: one timer per relay, armed
 * for the idle time and, when it fires early, re-armed for what is
 * left, so moving bytes never touches the timer.
 *
 * A reset that arrives on a socket whose reading has already ended,
 * while nothing is being written to it, is only noticed by the idle
 * timeout (or TCP keepalive): no event is watched there.
 *
 * A pipe goes back to the pool only when every byte spliced into it has
 * been spliced out (the counts say so), so no byte of one connection
 * can ever reach another; a relay freed with bytes in a pipe closes that
 * pipe.  The first SPLICE_BIGPIPES (8) pipes of a process are made
 * SPLICE_PIPESZ (256 KiB) large, four times the kernel's default: a bulk
 * transfer then takes a quarter of the splice calls and wakeups; the
 * others keep the default 64 KiB.  Pipe sizes count against
 * fs.pipe-user-pages-soft, 16384 pages for all processes of a user by
 * default: a full pool is 512 + 56 * 16 = 1408 pages.  Past that limit
 * the kernel makes new pipes of two pages only, which would splice a
 * few KiB per wakeup: such a pipe is closed, and the direction reads
 * and writes instead until a pipe is tried again.  The pool is per process: a process that
 * forks must not relay in both halves with pipes pooled before the fork
 * (the daemons fork their children before relaying).
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event.h>

#include "compat.h"
#include "metrics.h"
#include "splice.h"

#define SPLICE_BUFSZ	(16 * 1024)	/* a full read moves to splice(2) */
#define SPLICE_CHUNK	(1024 * 1024)	/* splice(2) len; the pipe bounds it */
#define SPLICE_PIPESZ	(256 * 1024)	/* F_SETPIPE_SZ of the first ones */
#define SPLICE_BIGPIPES	8		/* pipes of a process made that large */
#define SPLICE_MINPIPESZ (64 * 1024)	/* a smaller pipe is not used */
#define SPLICE_ROUNDS	8		/* reads per event, at most */
#define SPLICE_PIPE_WAIT 64		/* rounds without pipe2(2) after it
					   failed */

#define DIR_EOF		0x01	/* source reached end of file */
#define DIR_SHUT	0x02	/* destination shut down for writing */
#define DIR_READING	0x04	/* d_rev is added */
#define DIR_WRITING	0x08	/* d_wev is added */
#define DIR_SPLICE	0x10	/* a read filled the buffer: splice(2) */
#define DIR_NOSPLICE	0x20	/* read/write only: asked, or refused */

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
	struct splice_pipe	*d_pipe;	/* holds d_pending bytes */
	uint8_t			*d_buf;		/* or d_buf does, from d_off */
	size_t			 d_off;
	size_t			 d_pending;	/* read, not yet written */
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
static unsigned int		 splice_nidle;	/* pipes in the pool */
static unsigned int		 splice_nopen;	/* pipes in all */
static unsigned int		 splice_maxpipes = SPLICE_MAXPIPES;
static unsigned int		 splice_pipe_wait;	/* rounds before the
							   next pipe2(2) */
static struct splice_stats	 splice_stats_now;
/* what a direction read and is writing: never held across events */
static uint8_t			 splice_rbuf[SPLICE_BUFSZ];

static struct splice_pipe *pipe_get(void);
static void	 pipe_close(struct splice_pipe *);
static void	 pipe_put(struct splice_pipe *);
static int	 dir_unpipe(struct splice_dir *);
static int	 dir_flush(struct splice_dir *);
static int	 dir_keep(struct splice_dir *, const uint8_t *, size_t);
static int	 dir_arm(struct splice_dir *);
static void	 dir_pump(struct splice_dir *);
static void	 dir_dispatch(int, short, void *);
static void	 splice_timeout(int, short, void *);
static void	 splice_end(struct splice *, enum splice_end, int);
static void	 splice_release(struct splice *);
static void	 splice_metric(struct metrics *, const char *, const char *,
		    const char *, const char *, const char *, uint64_t,
		    const char *, uint64_t);

/*
 * An empty pipe from the pool, a new one, or NULL if all are busy or
 * none can be made.
 */
static struct splice_pipe *
pipe_get(void)
{
	struct splice_pipe	*p;
	int			 fd[2], sz;

	if ((p = SLIST_FIRST(&splice_pool)) != NULL) {
		SLIST_REMOVE_HEAD(&splice_pool, p_entry);
		splice_nidle--;
		return (p);
	}
	if (splice_nopen >= splice_maxpipes)
		return (NULL);
	if (splice_pipe_wait > 0) {
		splice_pipe_wait--;
		return (NULL);
	}
	if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		splice_stats_now.pipes_failed++;
		splice_pipe_wait = SPLICE_PIPE_WAIT;
		return (NULL);
	}
	if ((p = malloc(sizeof(*p))) == NULL) {
		(void)close(fd[0]);
		(void)close(fd[1]);
		splice_stats_now.pipes_failed++;
		splice_pipe_wait = SPLICE_PIPE_WAIT;
		return (NULL);
	}
	p->p_fd[0] = fd[0];
	p->p_fd[1] = fd[1];
	splice_nopen++;
	if (splice_nopen <= SPLICE_BIGPIPES)
		(void)fcntl(fd[1], F_SETPIPE_SZ, SPLICE_PIPESZ);
	/* a size that cannot be read is the default one */
	if ((sz = fcntl(fd[1], F_GETPIPE_SZ)) != -1 &&
	    sz < SPLICE_MINPIPESZ) {
		/* the user is past fs.pipe-user-pages-soft */
		pipe_close(p);
		splice_stats_now.pipes_failed++;
		splice_pipe_wait = SPLICE_PIPE_WAIT;
		return (NULL);
	}
	splice_stats_now.pipes_made++;
	return (p);
}

static void
pipe_close(struct splice_pipe *p)
{
	(void)close(p->p_fd[0]);
	(void)close(p->p_fd[1]);
	free(p);
	splice_nopen--;
}

/* Back to the pool: the caller counted every byte out of it. */
static void
pipe_put(struct splice_pipe *p)
{
	if (splice_nopen > splice_maxpipes) {
		pipe_close(p);
		return;
	}
	SLIST_INSERT_HEAD(&splice_pool, p, p_entry);
	splice_nidle++;
}

void
splice_stats(struct splice_stats *st)
{
	*st = splice_stats_now;
}

/* One counter of two samples, told apart by label: value a, value b. */
static void
splice_metric(struct metrics *m, const char *prefix, const char *suffix,
    const char *help, const char *label, const char *a, uint64_t va,
    const char *b, uint64_t vb)
{
	struct metric_label	 l;
	char			 name[64];

	(void)snprintf(name, sizeof(name), "%s_%s", prefix, suffix);
	(void)metrics_declare(m, name, METRIC_COUNTER, help);
	l.name = label;
	l.value = a;
	(void)metrics_add(m, name, &l, 1, (double)va);
	l.value = b;
	(void)metrics_add(m, name, &l, 1, (double)vb);
}

void
splice_metrics(struct metrics *m, const char *prefix)
{
	const struct splice_stats	*st = &splice_stats_now;

	splice_metric(m, prefix, "relay_bytes_total", "Bytes relayed, by "
	    "how they moved: through a pipe (splice), or read into the "
	    "process and written out (copy).", "how", "splice", st->spliced,
	    "copy", st->copied);
	splice_metric(m, prefix, "relay_pipes_total", "Pipes the relay made "
	    "for splice(2), and those it could not make or not make large "
	    "enough (the bytes were copied instead).", "result", "made",
	    st->pipes_made, "failed", st->pipes_failed);
}

void
splice_set_pool(unsigned int max)
{
	struct splice_pipe	*p;

	splice_maxpipes = max;
	while (splice_nopen > splice_maxpipes &&
	    (p = SLIST_FIRST(&splice_pool)) != NULL) {
		SLIST_REMOVE_HEAD(&splice_pool, p_entry);
		splice_nidle--;
		pipe_close(p);
	}
}

/*
 * splice(2) refused the destination: take what the pipe holds into a
 * buffer and go on with read/write.
 */
static int
dir_unpipe(struct splice_dir *d)
{
	size_t	 got = 0;
	ssize_t	 n;

	if ((d->d_buf = malloc(d->d_pending)) == NULL)
		return (-1);
	while (got < d->d_pending) {
		n = read(d->d_pipe->p_fd[0], d->d_buf + got,
		    d->d_pending - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* we hold the write end: these bytes are there */
			errno = n == 0 ? EIO : errno;
			return (-1);
		}
		got += (size_t)n;
	}
	pipe_put(d->d_pipe);
	d->d_pipe = NULL;
	d->d_off = 0;
	d->d_flags |= DIR_NOSPLICE;
	d->d_flags &= ~DIR_SPLICE;
	return (0);
}

/* Write what is held: 1 when all is out, 0 when some is left, -1. */
static int
dir_flush(struct splice_dir *d)
{
	ssize_t	 n;

	while (d->d_pending > 0) {
		if (d->d_pipe != NULL)
			n = splice(d->d_pipe->p_fd[0], NULL, d->d_dst, NULL,
			    d->d_pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		else
			n = send(d->d_dst, d->d_buf + d->d_off, d->d_pending,
			    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN)
				return (0);
			if (errno == EINTR)
				continue;
			if ((errno == EINVAL || errno == ENOSYS) &&
			    d->d_pipe != NULL) {
				if (dir_unpipe(d) == -1)
					return (-1);
				continue;
			}
			return (-1);
		}
		d->d_pending -= (size_t)n;
		d->d_off += (size_t)n;
		d->d_bytes += (uint64_t)n;
		if (d->d_pipe != NULL)
			splice_stats_now.spliced += (uint64_t)n;
		else
			splice_stats_now.copied += (uint64_t)n;
		if (d->d_pending > 0)
			return (0);	/* the destination is full */
	}
	if (d->d_pipe != NULL) {
		pipe_put(d->d_pipe);
		d->d_pipe = NULL;
	}
	free(d->d_buf);
	d->d_buf = NULL;
	d->d_off = 0;
	return (1);
}

/* The destination took only part of what was read: keep the rest. */
static int
dir_keep(struct splice_dir *d, const uint8_t *p, size_t n)
{
	if ((d->d_buf = malloc(n)) == NULL)
		return (-1);
	memcpy(d->d_buf, p, n);
	d->d_off = 0;
	d->d_pending = n;
	return (0);
}

/*
 * Wait for the source only while nothing is held, for the destination
 * only while something is.
 */
static int
dir_arm(struct splice_dir *d)
{
	struct splice	*sp = d->d_sp;
	int		 rd, wr;

	wr = d->d_pending > 0;
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
		if (d->d_wev == NULL && (d->d_wev = event_new(sp->sp_base,
		    d->d_dst, EV_WRITE | EV_PERSIST, dir_dispatch, d)) == NULL)
			return (-1);
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
 * Move bytes until the source is drained or the destination full, then
 * wait.  May end the relay, after which the relay must not be touched.
 */
static void
dir_pump(struct splice_dir *d)
{
	struct splice		*sp = d->d_sp;
	struct splice_pipe	*p;
	ssize_t			 n, w;
	int			 i, r, moved = 0;

	if (d->d_pending > 0) {
		if ((r = dir_flush(d)) == -1)
			goto fail;
		moved = 1;
		if (r == 0)
			goto wait;
	}
	for (i = 0; i < SPLICE_ROUNDS && !(d->d_flags & DIR_EOF); i++) {
		if ((d->d_flags & (DIR_SPLICE | DIR_NOSPLICE)) == DIR_SPLICE &&
		    (p = pipe_get()) != NULL) {
			n = splice(d->d_src, NULL, p->p_fd[1], NULL,
			    SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n <= 0) {
				pipe_put(p);	/* nothing went in */
				if (n == 0) {
					d->d_flags |= DIR_EOF;
					break;
				}
				if (errno == EAGAIN)
					break;
				if (errno == EINTR)
					continue;
				if (errno == EINVAL || errno == ENOSYS) {
					d->d_flags |= DIR_NOSPLICE;
					d->d_flags &= ~DIR_SPLICE;
					continue;
				}
				goto fail;
			}
			moved = 1;
			d->d_pipe = p;
			d->d_pending = (size_t)n;
			if ((r = dir_flush(d)) == -1)
				goto fail;
			if (r == 0 || n < SPLICE_BUFSZ)
				break;	/* destination full, or source dry */
			continue;
		}
		n = read(d->d_src, splice_rbuf, sizeof(splice_rbuf));
		if (n == -1) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0) {
			d->d_flags |= DIR_EOF;
			break;
		}
		moved = 1;
		w = send(d->d_dst, splice_rbuf, (size_t)n, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno != EAGAIN && errno != EINTR)
				goto fail;
			w = 0;
		}
		d->d_bytes += (uint64_t)w;
		splice_stats_now.copied += (uint64_t)w;
		if (w < n) {
			if (dir_keep(d, splice_rbuf + w, (size_t)(n - w)) ==
			    -1)
				goto fail;
			break;
		}
		if ((size_t)n < sizeof(splice_rbuf))
			break;		/* drained: wait for the next event */
		if (!(d->d_flags & DIR_NOSPLICE))
			d->d_flags |= DIR_SPLICE;
	}

 wait:
	if (moved && sp->sp_timer != NULL)
		event_base_gettimeofday_cached(sp->sp_base, &sp->sp_last);

	if ((d->d_flags & (DIR_EOF | DIR_SHUT)) == DIR_EOF &&
	    d->d_pending == 0) {
		/*
		 * The last direction to end leaves its shutdown to the
		 * close in splice_free(): every byte of that socket was
		 * read, so the close sends a FIN all the same.
		 */
		if (!(sp->sp_dir[!(d - sp->sp_dir)].d_flags & DIR_SHUT) &&
		    shutdown(d->d_dst, SHUT_WR) == -1 && errno != ENOTCONN)
			goto fail;
		d->d_flags |= DIR_SHUT;
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
		if (d->d_flags & DIR_READING)
			(void)event_del(d->d_rev);
		if (d->d_flags & DIR_WRITING)
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
	int			 i;

	for (i = 0; i < 2; i++) {
		d = &sp->sp_dir[i];
		if (d->d_rev != NULL)
			event_free(d->d_rev);
		if (d->d_wev != NULL)
			event_free(d->d_wev);
		if (d->d_pipe != NULL) {
			/* bytes may be left in it: never pool it */
			if (d->d_pending == 0)
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
		if (flags & SPLICE_F_NOSPLICE)
			d->d_flags |= DIR_NOSPLICE;
		if ((d->d_rev = event_new(base, d->d_src, EV_READ | EV_PERSIST,
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
