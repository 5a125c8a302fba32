/*
 * test_splice.c: the splice relay over real loopback TCP connections.
 *
 * Each case connects client <-> A and B <-> server on 127.0.0.1,
 * relays A and B with splice_start() and drives the client and the
 * server from the same event loop with non-blocking I/O.  Descriptors
 * are counted to see that short exchanges open no pipe, that pipes are
 * pooled only when empty, and that the pool's bound holds; a process
 * out of descriptors relays without pipes.  Every byte
 * sent is a function of its offset in the stream, so a byte lost,
 * repeated or moved shows on the receiving end.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event.h>

#include "compat.h"
#include "splice.h"
#include "unit.h"

#define MIB		(1024 * 1024)
#define BULK		(16 * MIB)
#define TICK_MS		20

/* One far end: the client or the server. */
struct end {
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	uint64_t	 tosend;
	uint64_t	 sent;
	uint64_t	 recvd;
	unsigned int	 seed_out;
	unsigned int	 seed_in;
	int		 shut;		/* shutdown(SHUT_WR) once all is sent */
	int		 shutdone;
	int		 eof;
	int		 bad;		/* a byte did not match the pattern */
	int		 error;
};

struct relay {
	struct splice	*sp;
	int		 ncalls;
	enum splice_end	 why;
	int		 error;
	uint64_t	 bytes[2];
	double		 ended;
};

struct ctx {
	struct end	 cli;
	struct end	 srv;
	struct relay	 rl;
};

static struct event_base	*base;
static int			 listener = -1;
static unsigned char		 iobuf[64 * 1024];

static double	 now(void);
static uint8_t	 pat(uint64_t, unsigned int);
static void	 end_read(int, short, void *);
static void	 end_write(int, short, void *);
static void	 end_init(struct end *, int, uint64_t, unsigned int,
		    unsigned int, int);
static void	 end_start(struct end *, int);
static void	 end_close(struct end *);
static void	 done_cb(struct splice *, enum splice_end, int, void *);
static void	 tick(int, short, void *);
static void	 drip(int, short, void *);
static void	 nonblock(int);
static void	 bufsize(int, int);
static void	 tcp_pair(int *, int *);
static int	 setup(struct ctx *, int, const struct timeval *, int, int);
static void	 teardown(struct ctx *);
static int	 count_fds(void);
static double	 cpu_time(void);
static void	 test_args(void);
static void	 test_bulk(int, const char *);
static void	 test_fallback(void);
static void	 test_halfclose(void);
static void	 test_reset(void);
static void	 test_idle(void);
static void	 test_backpressure(void);
static void	 test_pool(void);
static void	 test_nofile(void);

/* Run the loop until cond holds or secs have passed. */
#define RUN_UNTIL(cond, secs) do {					\
	double	 _deadline = now() + (secs);				\
	while (!(cond) && now() < _deadline)				\
		event_base_loop(base, EVLOOP_ONCE);			\
} while (0)

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static uint8_t
pat(uint64_t off, unsigned int seed)
{
	return ((uint8_t)(((off + seed) * 0x9e3779b97f4a7c15ULL) >> 56));
}

static void
end_read(int fd, short ev, void *arg)
{
	struct end	*e = arg;
	ssize_t		 n, i;

	if ((n = read(fd, iobuf, sizeof(iobuf))) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		e->error = errno;
		event_del(e->rev);
		return;
	}
	if (n == 0) {
		e->eof = 1;
		event_del(e->rev);
		return;
	}
	for (i = 0; i < n && !e->bad; i++)
		if (iobuf[i] != pat(e->recvd + i, e->seed_in))
			e->bad = 1;
	e->recvd += n;
}

static void
end_write(int fd, short ev, void *arg)
{
	struct end	*e = arg;
	size_t		 len, i;
	ssize_t		 n;

	len = MINIMUM(sizeof(iobuf), e->tosend - e->sent);
	if (len > 0) {
		for (i = 0; i < len; i++)
			iobuf[i] = pat(e->sent + i, e->seed_out);
		if ((n = send(fd, iobuf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			e->error = errno;
			event_del(e->wev);
			return;
		}
		e->sent += n;
	}
	if (e->sent == e->tosend) {
		event_del(e->wev);
		if (e->shut && !e->shutdone) {
			shutdown(fd, SHUT_WR);
			e->shutdone = 1;
		}
	}
}

static void
end_init(struct end *e, int fd, uint64_t tosend, unsigned int seed_out,
    unsigned int seed_in, int shut)
{
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->tosend = tosend;
	e->seed_out = seed_out;
	e->seed_in = seed_in;
	e->shut = shut;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, end_read, e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, end_write, e);
}

static void
end_start(struct end *e, int reading)
{
	if (reading)
		event_add(e->rev, NULL);
	if (e->tosend > 0 || e->shut)
		event_add(e->wev, NULL);
}

static void
end_close(struct end *e)
{
	if (e->rev != NULL)
		event_free(e->rev);
	if (e->wev != NULL)
		event_free(e->wev);
	e->rev = e->wev = NULL;
	if (e->fd != -1)
		close(e->fd);
	e->fd = -1;
}

static void
done_cb(struct splice *sp, enum splice_end why, int error, void *arg)
{
	struct relay	*rl = arg;

	rl->ncalls++;
	rl->why = why;
	rl->error = error;
	rl->bytes[0] = splice_bytes(sp, 0);
	rl->bytes[1] = splice_bytes(sp, 1);
	rl->ended = now();
	/* Freeing from inside the callback must be safe. */
	splice_free(sp);
	rl->sp = NULL;
}

/* Wake the loop now and then so RUN_UNTIL can look at the clock. */
static void
tick(int fd, short ev, void *arg)
{
}

/* Trickle one byte from the client. */
static void
drip(int fd, short ev, void *arg)
{
	struct end	*e = arg;

	e->tosend++;
	event_add(e->wev, NULL);
}

static void
nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		perror("fcntl");
		exit(2);
	}
}

static void
bufsize(int fd, int size)
{
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* A connected pair: *c dialled the listener, *s was accepted. */
static void
tcp_pair(int *c, int *s)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if (listener == -1) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1 ||
		    bind(listener, (struct sockaddr *)&sin,
		    sizeof(sin)) == -1 ||
		    listen(listener, 16) == -1) {
			perror("listener");
			exit(2);
		}
	}
	if (getsockname(listener, (struct sockaddr *)&sin, &len) == -1 ||
	    (*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(*c, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (*s = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		perror("tcp_pair");
		exit(2);
	}
	nonblock(*c);
	nonblock(*s);
}

/*
 * client <-> A, B <-> server, relay A and B.  With buf, every socket
 * gets small buffers so back-pressure comes quickly.
 */
static int
setup(struct ctx *c, int flags, const struct timeval *idle, int buf,
    int append)
{
	int	 cfd, a, b, sfd;

	memset(c, 0, sizeof(*c));
	c->cli.fd = c->srv.fd = -1;
	tcp_pair(&cfd, &a);
	tcp_pair(&b, &sfd);
	if (buf > 0) {
		bufsize(cfd, buf);
		bufsize(a, buf);
		bufsize(b, buf);
		bufsize(sfd, buf);
	}
	if (append)
		(void)fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_APPEND);
	end_init(&c->cli, cfd, 0, 1, 2, 0);
	end_init(&c->srv, sfd, 0, 2, 1, 0);
	if ((c->rl.sp = splice_start(base, a, b, idle, flags, done_cb,
	    &c->rl)) == NULL) {
		perror("splice_start");
		close(a);
		close(b);
		end_close(&c->cli);
		end_close(&c->srv);
		return (-1);
	}
	return (0);
}

static void
teardown(struct ctx *c)
{
	end_close(&c->cli);
	end_close(&c->srv);
	splice_free(c->rl.sp);
	c->rl.sp = NULL;
}

static int
count_fds(void)
{
	DIR		*dir;
	struct dirent	*de;
	int		 n = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return (n);
}

static double
cpu_time(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static void
test_args(void)
{
	struct splice	*sp;
	int		 cfd, a;

	tcp_pair(&cfd, &a);
	errno = 0;
	sp = splice_start(base, a, a, NULL, 0, done_cb, NULL);
	UT_CHECK("splice: bad arguments are refused",
	    sp == NULL && errno == EINVAL);
	close(cfd);
	close(a);
}

static void
test_bulk(int flags, const char *mode)
{
	struct ctx	 c;
	char		 name[128];
	double		 t0;

	t0 = now();
	if (setup(&c, flags, NULL, 0, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	c.cli.tosend = c.srv.tosend = BULK;
	c.cli.shut = c.srv.shut = 1;
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 8);

	snprintf(name, sizeof(name),
	    "splice: 16 MiB each way arrive intact (%s)", mode);
	UT_CHECK(name, c.cli.recvd == BULK && c.srv.recvd == BULK &&
	    !c.cli.bad && !c.srv.bad && c.cli.eof && c.srv.eof);
	snprintf(name, sizeof(name),
	    "splice: end of file both ways gives SPLICE_DONE (%s)", mode);
	UT_CHECK(name, c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE);
	snprintf(name, sizeof(name),
	    "splice: byte counters match what was written (%s)", mode);
	UT_CHECK(name, c.rl.bytes[0] == BULK && c.rl.bytes[1] == BULK);
	if (c.rl.ncalls == 1)
		printf("# splice: 16 MiB each way (%s) in %.3f s, "
		    "%.0f MiB/s per direction\n", mode, c.rl.ended - t0,
		    BULK / MIB / (c.rl.ended - t0));

	RUN_UNTIL(0, 0.05);
	snprintf(name, sizeof(name),
	    "splice: done callback called exactly once (%s)", mode);
	UT_CHECK(name, c.rl.ncalls == 1);
	teardown(&c);
}

/* O_APPEND makes splice(2) into B fail with EINVAL after bytes moved. */
static void
test_fallback(void)
{
	struct ctx	 c;

	if (setup(&c, 0, NULL, 0, 1) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	c.cli.tosend = c.srv.tosend = 2 * MIB;
	c.cli.shut = c.srv.shut = 1;
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 5);
	UT_CHECK("splice: refused splice falls back without losing bytes",
	    c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE &&
	    c.cli.recvd == 2 * MIB && c.srv.recvd == 2 * MIB &&
	    !c.cli.bad && !c.srv.bad);
	teardown(&c);
}

static void
test_halfclose(void)
{
	struct ctx	 c;

	if (setup(&c, 0, NULL, 0, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	c.cli.tosend = 5;
	c.cli.shut = 1;
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	RUN_UNTIL(c.srv.eof, 2);
	UT_CHECK("splice: half-close reaches the far end",
	    c.srv.eof && c.srv.recvd == 5 && !c.srv.bad);
	UT_CHECK("splice: half-close does not end the relay",
	    c.rl.ncalls == 0);

	c.srv.tosend = MIB;
	event_add(c.srv.wev, NULL);
	RUN_UNTIL(c.cli.recvd == MIB, 3);
	UT_CHECK("splice: half-close keeps other direction",
	    c.cli.recvd == MIB && !c.cli.bad && !c.cli.eof &&
	    c.rl.ncalls == 0);

	end_close(&c.srv);
	RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof, 2);
	UT_CHECK("splice: closing the other way too gives SPLICE_DONE",
	    c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE && c.cli.eof &&
	    c.rl.bytes[0] == 5 && c.rl.bytes[1] == MIB);
	teardown(&c);
}

static void
test_reset(void)
{
	struct ctx	 c;
	struct linger	 l = { 1, 0 };

	if (setup(&c, 0, NULL, 0, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	c.cli.tosend = 1000;
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	RUN_UNTIL(c.srv.recvd == 1000, 2);
	setsockopt(c.cli.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	end_close(&c.cli);
	RUN_UNTIL(c.rl.ncalls > 0, 2);
	UT_CHECK("splice: peer reset gives SPLICE_ERROR",
	    c.rl.ncalls == 1 && c.rl.why == SPLICE_ERROR &&
	    (c.rl.error == ECONNRESET || c.rl.error == EPIPE));
	teardown(&c);
}

static void
test_idle(void)
{
	struct ctx	 c;
	struct timeval	 idle = { 0, 300000 }, every = { 0, 100000 };
	struct event	*ev;
	double		 t0;

	if (setup(&c, 0, &idle, 0, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	ev = event_new(base, -1, EV_PERSIST, drip, &c.cli);
	event_add(ev, &every);
	RUN_UNTIL(c.rl.ncalls > 0, 1.0);
	UT_CHECK("splice: idle timeout does not fire while data flows",
	    c.rl.ncalls == 0 && c.srv.recvd >= 5 && !c.srv.bad);

	event_free(ev);
	t0 = now();
	RUN_UNTIL(c.rl.ncalls > 0, 2);
	UT_CHECK("splice: idle relay gives SPLICE_IDLE",
	    c.rl.ncalls == 1 && c.rl.why == SPLICE_IDLE &&
	    c.rl.ended - t0 > 0.15 && c.rl.ended - t0 < 1.0);
	teardown(&c);
}

static void
test_backpressure(void)
{
	struct ctx	 c;
	double		 cpu;

	if (setup(&c, 0, NULL, 64 * 1024, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	c.srv.tosend = 8 * MIB;
	c.srv.shut = 1;
	c.cli.shut = 1;
	end_start(&c.cli, 0);
	end_start(&c.srv, 1);
	RUN_UNTIL(0, 0.3);
	UT_CHECK("splice: slow reader stalls the writer",
	    c.srv.sent < 8 * MIB && c.rl.ncalls == 0);

	cpu = cpu_time();
	RUN_UNTIL(0, 1.0);
	cpu = cpu_time() - cpu;
	printf("# splice: %.3f s of CPU during a 1 s pause\n", cpu);
	UT_CHECK("splice: no busy loop while the reader pauses", cpu < 0.2);

	event_add(c.cli.rev, NULL);
	RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof, 5);
	UT_CHECK("splice: slow reader gets every byte",
	    c.cli.recvd == 8 * MIB && !c.cli.bad && c.cli.eof &&
	    c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE);
	teardown(&c);
}

static void
test_pool(void)
{
	struct ctx	 c, c2;
	int		 i, ok = 0, n0, n1, n2, n3, most = 0;

	splice_set_pool(0);
	n0 = count_fds();
	splice_set_pool(8);

	for (i = 0; i < 50; i++) {
		if (setup(&c, 0, NULL, 0, 0) == -1)
			break;
		c.cli.tosend = c.srv.tosend = 1000 + i;
		c.cli.shut = c.srv.shut = 1;
		end_start(&c.cli, 1);
		end_start(&c.srv, 1);
		RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 2);
		if (c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE &&
		    c.cli.recvd == 1000 + (unsigned)i && !c.cli.bad &&
		    c.srv.recvd == 1000 + (unsigned)i && !c.srv.bad)
			ok++;
		teardown(&c);
	}
	UT_CHECK("splice: 50 relays in a row all give SPLICE_DONE", ok == 50);
	n1 = count_fds();
	UT_CHECK("splice: short exchanges open no pipe", n1 == n0);

	/* bulk goes through pipes, which are pooled once empty */
	if (setup(&c, 0, NULL, 0, 0) == 0) {
		c.cli.tosend = c.srv.tosend = 4 * MIB;
		c.cli.shut = c.srv.shut = 1;
		end_start(&c.cli, 1);
		end_start(&c.srv, 1);
		RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 5);
		UT_CHECK("splice: bulk both ways arrives intact",
		    c.rl.why == SPLICE_DONE && c.cli.recvd == 4 * MIB &&
		    c.srv.recvd == 4 * MIB && !c.cli.bad && !c.srv.bad);
		teardown(&c);
	}
	n2 = count_fds();
	UT_CHECK("splice: bulk moves through pipes, pooled after",
	    n2 > n0 && n2 <= n0 + 4);

	/* Stop a relay whose pipe is full: that pipe must not be pooled. */
	if (setup(&c, 0, NULL, 64 * 1024, 0) == 0) {
		c.srv.tosend = 8 * MIB;
		end_start(&c.cli, 0);
		end_start(&c.srv, 1);
		RUN_UNTIL(0, 0.2);
		splice_free(c.rl.sp);
		c.rl.sp = NULL;
		teardown(&c);
		RUN_UNTIL(0, 0.05);
		UT_CHECK("splice: free before the end calls nothing",
		    c.rl.ncalls == 0);
	}
	n3 = count_fds();
	UT_CHECK("splice: a pipe with bytes left is not pooled",
	    n3 == n2 - 2);

	if (setup(&c, 0, NULL, 0, 0) == 0) {
		c.cli.tosend = c.srv.tosend = 100000;
		c.cli.shut = c.srv.shut = 1;
		end_start(&c.cli, 1);
		end_start(&c.srv, 1);
		RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 2);
		UT_CHECK("splice: a pooled pipe carries no stale bytes",
		    c.cli.recvd == 100000 && c.srv.recvd == 100000 &&
		    !c.cli.bad && !c.srv.bad);
		teardown(&c);
	}

	/*
	 * One pipe for two relays whose readers pause: the second reads
	 * into its buffer meanwhile, and both deliver every byte.
	 */
	splice_set_pool(0);
	splice_set_pool(1);
	if (setup(&c, 0, NULL, 64 * 1024, 0) == 0 &&
	    setup(&c2, 0, NULL, 64 * 1024, 0) == 0) {
		c.srv.tosend = c2.srv.tosend = 4 * MIB;
		c.srv.shut = c2.srv.shut = c.cli.shut = c2.cli.shut = 1;
		end_start(&c.cli, 0);
		end_start(&c.srv, 1);
		end_start(&c2.cli, 0);
		end_start(&c2.srv, 1);
		RUN_UNTIL(0, 0.2);
		most = count_fds();
		event_add(c.cli.rev, NULL);
		event_add(c2.cli.rev, NULL);
		RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c2.rl.ncalls > 0 &&
		    c2.cli.eof, 5);
		UT_CHECK("splice: pipes busy, relays go on in read/write",
		    c.cli.recvd == 4 * MIB && c2.cli.recvd == 4 * MIB &&
		    !c.cli.bad && !c2.cli.bad && c.rl.why == SPLICE_DONE &&
		    c2.rl.why == SPLICE_DONE);
		UT_CHECK("splice: at most the pool's pipes are open",
		    most <= n0 + 8 + 2);
		teardown(&c);
		teardown(&c2);
	} else
		UT_CHECK("splice: relays start", 0);

	splice_set_pool(0);
	UT_CHECK("splice: no descriptor leaks", count_fds() == n0);
	splice_set_pool(SPLICE_MAXPIPES);
}

/*
 * No descriptor free (RLIMIT_NOFILE at the lowest free one) and no pipe
 * pooled: pipe2(2) fails, and a bulk relay goes on with read/write,
 * every byte there.
 */
static void
test_nofile(void)
{
	struct rlimit	 rl, low;
	struct ctx	 c;
	int		 fd, full, done;

	splice_set_pool(0);
	splice_set_pool(SPLICE_MAXPIPES);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    setup(&c, 0, NULL, 0, 0) == -1) {
		UT_CHECK("splice: relay starts", 0);
		return;
	}
	if ((fd = open("/dev/null", O_RDONLY)) == -1) {
		perror("/dev/null");
		exit(2);
	}
	close(fd);
	low = rl;
	low.rlim_cur = (rlim_t)fd;
	if (setrlimit(RLIMIT_NOFILE, &low) == -1) {
		perror("setrlimit");
		exit(2);
	}
	errno = 0;
	full = open("/dev/null", O_RDONLY) == -1 && errno == EMFILE;
	c.cli.tosend = c.srv.tosend = 4 * MIB;
	c.cli.shut = c.srv.shut = 1;
	end_start(&c.cli, 1);
	end_start(&c.srv, 1);
	RUN_UNTIL(c.rl.ncalls > 0 && c.cli.eof && c.srv.eof, 10);
	done = c.rl.ncalls == 1 && c.rl.why == SPLICE_DONE &&
	    c.cli.recvd == 4 * MIB && c.srv.recvd == 4 * MIB &&
	    !c.cli.bad && !c.srv.bad;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		perror("setrlimit");
		exit(2);
	}
	UT_CHECK("splice: no descriptor free for a pipe", full);
	UT_CHECK("splice: out of descriptors, bulk goes on in read/write",
	    done);
	teardown(&c);
}

int
main(void)
{
	struct timeval	 every = { 0, TICK_MS * 1000 };
	struct event	*ticker;
	double		 t0 = now();

	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL) {
		perror("event_base_new");
		return (2);
	}
	ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(ticker, &every);

	test_args();
	test_bulk(0, "splice");
	test_bulk(SPLICE_F_NOSPLICE, "read/write");
	test_fallback();
	test_halfclose();
	test_reset();
	test_idle();
	test_backpressure();
	test_pool();
	test_nofile();

	printf("# splice: %.1f s in all\n", now() - t0);
	event_free(ticker);
	if (listener != -1)
		close(listener);
	event_base_free(base);
	UT_EXIT();
}
