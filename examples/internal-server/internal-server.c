/*
 * internal-server: the demo's internal server.
 *
 * The last hop of the demo: the two proxies hand this process a TLS stream
 * they never decrypt, and it terminates TLS with the certificate of
 * test.internal-server.local and answers a tiny JSON-RPC endpoint.  One
 * process, one libevent loop, libtls in non-blocking mode; no call blocks.
 *
 * HTTP/1.1 with keep-alive; pipelined requests are answered in order.
 * GET, HEAD and POST on /jsonrpc answer 200 with {"message": "success"};
 * another method there is a 405, another path a 404, both with a small JSON
 * body.  The request head is limited to 16 KiB and a body, sent with
 * Content-Length only, to 64 KiB: beyond either, 413 and close.  A malformed
 * request gets 400 and a chunked one 501, both closing the connection.  A
 * request body is read and discarded.  "Connection: close" (and HTTP/1.0
 * without keep-alive) closes after the response.
 *
 * Timeouts: the TLS handshake, each request and each write must complete
 * within 30 seconds of the last progress, and an idle keep-alive connection
 * is closed after 30 seconds.  A close sends close_notify, shuts down the
 * write side and drains what the client still sends for up to 2 seconds,
 * so that a final response is not lost to a TCP reset.
 *
 * Errors of the server itself go to stderr; errors caused by a single client
 * are logged only with -d, which also logs every request.  "-p 0" picks a
 * free port: the single "listening on" line on stderr, printed once the
 * server accepts connections, tells which.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <tls.h>

#define SRV_DEFAULT_ADDR	"127.0.0.1"
#define SRV_DEFAULT_PORT	"8888"
#define SRV_HEAD_MAX		(16 * 1024)	/* request head */
#define SRV_BODY_MAX		(64 * 1024)
#define SRV_OUT_SIZE		4096		/* queued responses */
#define SRV_RESP_MAX		512		/* room for a response */
#define SRV_TIMEOUT		30		/* seconds */
#define SRV_LINGER		2		/* seconds to close */
#define SRV_ROUNDS		64		/* I/O steps, then yield */
#define SRV_ACCEPT_BATCH	64
#define SRV_BACKLOG		1024
#define SRV_NOFILE		65536
#define SRV_ADDRSTRLEN		(INET6_ADDRSTRLEN + 16)

#define JSONRPC_PATH		"/jsonrpc"
#define JSONRPC_BODY		"{\"message\": \"success\"}\n"
#define HTTP_CONTINUE		"HTTP/1.1 100 Continue\r\n\r\n"

enum conn_state {
	CONN_HANDSHAKE,
	CONN_ACTIVE,
	CONN_CLOSING,		/* sending close_notify */
	CONN_LINGER		/* write side shut, draining input */
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	int			 fd;
	struct tls		*tls;
	struct event		*rev;
	struct event		*wev;
	struct event		*tmo;
	enum conn_state		 state;
	int			 closing;	/* close once out is sent */
	char			 peer[SRV_ADDRSTRLEN];

	/* the request whose body is being read, if req_status != 0 */
	int			 req_status;
	int			 req_head;
	int			 req_close;
	size_t			 body_left;

	char			 in[SRV_HEAD_MAX];
	size_t			 inoff;
	size_t			 inlen;

	char			 out[SRV_OUT_SIZE];
	size_t			 outoff;
	size_t			 outlen;
};

struct request {
	const char		*method;
	size_t			 methodlen;
	const char		*target;
	size_t			 targetlen;
	int			 minor;		/* HTTP/1.minor */
	int			 has_clen;
	size_t			 clen;
	int			 chunked;
	int			 conn_close;
	int			 conn_keepalive;
	int			 expect_continue;
};

static const struct status {
	int			 code;
	const char		*reason;
	const char		*body;
} statuses[] = {
	{ 200, "OK",			JSONRPC_BODY },
	{ 400, "Bad Request",		"{\"error\": \"bad request\"}\n" },
	{ 404, "Not Found",		"{\"error\": \"not found\"}\n" },
	{ 405, "Method Not Allowed",
	    "{\"error\": \"method not allowed\"}\n" },
	{ 413, "Payload Too Large",
	    "{\"error\": \"request too large\"}\n" },
	{ 501, "Not Implemented",	"{\"error\": \"not implemented\"}\n" }
};

static struct {
	struct event_base	*base;
	struct tls		*tls;
	int			 fd;
	int			 debug;
	struct event		*lev;		/* listening socket */
	struct event		*pause;		/* resumes accept */
	struct event		*sigint;
	struct event		*sigterm;
	TAILQ_HEAD(, conn)	 conns;
} srv;

static void	usage(void) __attribute__((__noreturn__));
static void	addr_fmt(const struct sockaddr *, socklen_t, char *, size_t);
static void	srv_nofile(void);
static void	srv_tls(const char *, const char *);
static int	srv_listen(const char *, const char *);
static void	srv_accept(int, short, void *);
static void	srv_resume(int, short, void *);
static void	srv_signal(int, short, void *);
static void	conn_new(int, const struct sockaddr *, socklen_t);
static void	conn_free(struct conn *);
static void	conn_timeout(struct conn *, int);
static void	conn_wait(struct conn *, int);
static void	conn_io(int, short, void *);
static void	conn_expire(int, short, void *);
static void	conn_run(struct conn *);
static void	conn_close_begin(struct conn *);
static void	http_input(struct conn *);
static int	http_request(struct conn *, size_t);
static void	http_respond(struct conn *, int, int, int);
static const char *http_date(void);
static size_t	http_head_end(const char *, size_t);
static size_t	http_line(const char *, const char *, const char **);
static int	http_parse(const char *, size_t, struct request *);
static int	http_parse_clen(const char *, const char *, struct request *);
static void	http_parse_connection(const char *, const char *,
		    struct request *);
static int	http_field_is(const char *, size_t, const char *);
static int	http_tchar(int);

static void
usage(void)
{
	fprintf(stderr, "usage: internal-server [-d] [-l address] [-p port] "
	    "-c cert.pem -k key.pem\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*addr = SRV_DEFAULT_ADDR;
	const char		*port = SRV_DEFAULT_PORT;
	const char		*certfile = NULL, *keyfile = NULL;
	const char		*errstr;
	char			 bound[SRV_ADDRSTRLEN];
	struct conn		*c;
	int			 ch;

	while ((ch = getopt(argc, argv, "c:dk:l:p:")) != -1) {
		switch (ch) {
		case 'c':
			certfile = optarg;
			break;
		case 'd':
			srv.debug = 1;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'l':
			addr = optarg;
			break;
		case 'p':
			(void)strtonum(optarg, 0, 65535, &errstr);
			if (errstr != NULL)
				errx(1, "port %s is %s", optarg, errstr);
			port = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	if (argc != 0 || certfile == NULL || keyfile == NULL)
		usage();

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		err(1, "signal");
	srv_nofile();
	TAILQ_INIT(&srv.conns);
	srv_tls(certfile, keyfile);

	if ((srv.base = event_base_new()) == NULL)
		errx(1, "event_base_new failed");
	srv.fd = srv_listen(addr, port);
	srv.lev = event_new(srv.base, srv.fd, EV_READ | EV_PERSIST,
	    srv_accept, NULL);
	srv.pause = evtimer_new(srv.base, srv_resume, NULL);
	srv.sigint = evsignal_new(srv.base, SIGINT, srv_signal, NULL);
	srv.sigterm = evsignal_new(srv.base, SIGTERM, srv_signal, NULL);
	if (srv.lev == NULL || srv.pause == NULL || srv.sigint == NULL ||
	    srv.sigterm == NULL)
		errx(1, "event_new failed");
	if (event_add(srv.lev, NULL) == -1 ||
	    event_add(srv.sigint, NULL) == -1 ||
	    event_add(srv.sigterm, NULL) == -1)
		errx(1, "event_add failed");

	sslen = sizeof(ss);
	if (getsockname(srv.fd, (struct sockaddr *)&ss, &sslen) == -1)
		err(1, "getsockname");
	addr_fmt((struct sockaddr *)&ss, sslen, bound, sizeof(bound));
	fprintf(stderr, "internal-server: listening on %s\n", bound);
	fflush(stderr);

	if (event_base_dispatch(srv.base) == -1)
		errx(1, "event_base_dispatch failed");

	while ((c = TAILQ_FIRST(&srv.conns)) != NULL)
		conn_free(c);
	event_free(srv.lev);
	event_free(srv.pause);
	event_free(srv.sigint);
	event_free(srv.sigterm);
	close(srv.fd);
	tls_free(srv.tls);
	event_base_free(srv.base);
	return (0);
}

static void
addr_fmt(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	char	host[NI_MAXHOST], serv[NI_MAXSERV];
	int	n;

	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strlcpy(buf, "?", len);
		return;
	}
	if (sa->sa_family == AF_INET6)
		n = snprintf(buf, len, "[%s]:%s", host, serv);
	else
		n = snprintf(buf, len, "%s:%s", host, serv);
	if (n < 0 || (size_t)n >= len)
		strlcpy(buf, "?", len);
}

/* Hundreds of connections need more descriptors than some defaults. */
static void
srv_nofile(void)
{
	struct rlimit	rl;
	rlim_t		want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		warn("getrlimit");
		return;
	}
	want = rl.rlim_max < SRV_NOFILE ? rl.rlim_max : SRV_NOFILE;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		warn("setrlimit");
}

static void
srv_tls(const char *certfile, const char *keyfile)
{
	struct tls_config	*cfg;
	uint8_t			*cert, *key;
	size_t			 certlen, keylen;

	if (tls_init() == -1)
		errx(1, "tls_init failed");
	if ((cfg = tls_config_new()) == NULL)
		errx(1, "tls_config_new failed");
	if ((cert = tls_load_file(certfile, &certlen, NULL)) == NULL)
		err(1, "%s", certfile);
	if ((key = tls_load_file(keyfile, &keylen, NULL)) == NULL)
		err(1, "%s", keyfile);
	if (tls_config_set_keypair_mem(cfg, cert, certlen, key, keylen) == -1)
		errx(1, "%s, %s: %s", certfile, keyfile,
		    tls_config_error(cfg));
	tls_unload_file(key, keylen);
	tls_unload_file(cert, certlen);
	if (tls_config_set_alpn(cfg, "http/1.1") == -1)
		errx(1, "alpn: %s", tls_config_error(cfg));

	if ((srv.tls = tls_server()) == NULL)
		errx(1, "tls_server failed");
	if (tls_configure(srv.tls, cfg) == -1)
		errx(1, "tls_configure: %s", tls_error(srv.tls));
	/* The context holds the key now; the configuration's copy goes. */
	tls_config_clear_keys(cfg);
	tls_config_free(cfg);
}

static int
srv_listen(const char *addr, const char *port)
{
	struct addrinfo	 hints, *res, *ai;
	const char	*cause = NULL;
	int		 fd = -1, error, saved = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((error = getaddrinfo(addr, port, &hints, &res)) != 0)
		errx(1, "%s port %s: %s", addr, port, gai_strerror(error));

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			cause = "socket";
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == -1)
			warn("SO_REUSEADDR");
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			cause = "bind";
			saved = errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (listen(fd, SRV_BACKLOG) == -1) {
			cause = "listen";
			saved = errno;
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errno = saved;
		err(1, "%s %s port %s", cause, addr, port);
	}
	return (fd);
}

static void
srv_accept(int lfd, short event, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv = { 1, 0 };
	int			 i, fd;

	for (i = 0; i < SRV_ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
				return;
			case EMFILE:
			case ENFILE:
				/* Let connections finish, try again later. */
				warn("accept, pausing for a second");
				event_del(srv.lev);
				evtimer_add(srv.pause, &tv);
				return;
			default:
				warn("accept");
				return;
			}
		}
		conn_new(fd, (struct sockaddr *)&ss, sslen);
	}
}

static void
srv_resume(int fd, short event, void *arg)
{
	if (event_add(srv.lev, NULL) == -1)
		errx(1, "event_add failed");
}

static void
srv_signal(int sig, short event, void *arg)
{
	event_base_loopbreak(srv.base);
}

static void
conn_new(int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct conn	*c;
	int		 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		warn("%s", __func__);
		close(fd);
		return;
	}
	c->fd = fd;
	c->state = CONN_HANDSHAKE;
	TAILQ_INSERT_TAIL(&srv.conns, c, entry);
	if (srv.debug)
		addr_fmt(sa, salen, c->peer, sizeof(c->peer));
	else
		strlcpy(c->peer, "client", sizeof(c->peer));

	/* Responses are small and answer a request: send them now. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		warn("TCP_NODELAY");
	if (tls_accept_socket(srv.tls, &c->tls, fd) == -1) {
		warnx("tls_accept_socket: %s", tls_error(srv.tls));
		conn_free(c);
		return;
	}
	c->rev = event_new(srv.base, fd, EV_READ, conn_io, c);
	c->wev = event_new(srv.base, fd, EV_WRITE, conn_io, c);
	c->tmo = evtimer_new(srv.base, conn_expire, c);
	if (c->rev == NULL || c->wev == NULL || c->tmo == NULL) {
		warnx("%s: event_new failed", __func__);
		conn_free(c);
		return;
	}
	conn_timeout(c, SRV_TIMEOUT);
	conn_run(c);
}

static void
conn_free(struct conn *c)
{
	TAILQ_REMOVE(&srv.conns, c, entry);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->tmo != NULL)
		event_free(c->tmo);
	if (c->tls != NULL)
		tls_free(c->tls);
	close(c->fd);
	free(c);
}

static void
conn_timeout(struct conn *c, int secs)
{
	struct timeval	tv;

	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(c->tmo, &tv);
}

/* Wait for what libtls asked for; the same call is repeated then. */
static void
conn_wait(struct conn *c, int want)
{
	if (want == TLS_WANT_POLLOUT) {
		event_del(c->rev);
		event_add(c->wev, NULL);
	} else {
		event_del(c->wev);
		event_add(c->rev, NULL);
	}
}

static void
conn_io(int fd, short event, void *arg)
{
	conn_run(arg);
}

static void
conn_expire(int fd, short event, void *arg)
{
	struct conn	*c = arg;

	if (c->state == CONN_ACTIVE && c->outoff == c->outlen) {
		/* Idle, or a request that did not come: close politely. */
		if (srv.debug)
			warnx("%s: timeout, closing", c->peer);
		event_del(c->rev);
		event_del(c->wev);
		conn_close_begin(c);
		conn_run(c);
		return;
	}
	if (srv.debug)
		warnx("%s: timeout", c->peer);
	conn_free(c);
}

static void
conn_close_begin(struct conn *c)
{
	c->state = CONN_CLOSING;
	conn_timeout(c, SRV_LINGER);
}

/*
 * Drive a connection as far as it goes without blocking.  Each step is
 * decided from the connection's state alone, so a step that returned
 * TLS_WANT_POLLIN or TLS_WANT_POLLOUT is repeated with the same arguments
 * when the socket is ready.
 */
static void
conn_run(struct conn *c)
{
	ssize_t	n;
	int	rounds, ret;

	for (rounds = 0; rounds < SRV_ROUNDS; rounds++) {
		switch (c->state) {
		case CONN_HANDSHAKE:
			ret = tls_handshake(c->tls);
			if (ret == TLS_WANT_POLLIN || ret == TLS_WANT_POLLOUT) {
				conn_wait(c, ret);
				return;
			}
			if (ret == -1) {
				if (srv.debug)
					warnx("%s: handshake: %s", c->peer,
					    tls_error(c->tls));
				conn_free(c);
				return;
			}
			c->state = CONN_ACTIVE;
			conn_timeout(c, SRV_TIMEOUT);
			break;
		case CONN_ACTIVE:
			/* Parse only with nothing queued: a write retry
			 * must see the same buffer. */
			if (c->outoff == c->outlen) {
				c->outoff = c->outlen = 0;
				if (!c->closing)
					http_input(c);
			}
			if (c->outoff < c->outlen) {
				n = tls_write(c->tls, c->out + c->outoff,
				    c->outlen - c->outoff);
				if (n == TLS_WANT_POLLIN ||
				    n == TLS_WANT_POLLOUT) {
					conn_wait(c, n);
					return;
				}
				if (n == -1) {
					if (srv.debug)
						warnx("%s: write: %s", c->peer,
						    tls_error(c->tls));
					conn_free(c);
					return;
				}
				c->outoff += n;
				conn_timeout(c, SRV_TIMEOUT);
				break;
			}
			if (c->closing) {
				conn_close_begin(c);
				break;
			}
			if (c->inoff > 0) {
				memmove(c->in, c->in + c->inoff,
				    c->inlen - c->inoff);
				c->inlen -= c->inoff;
				c->inoff = 0;
			}
			if (c->inlen == sizeof(c->in)) {
				/* http_input() answers a full buffer. */
				warnx("%s: input buffer full", __func__);
				conn_free(c);
				return;
			}
			n = tls_read(c->tls, c->in + c->inlen,
			    sizeof(c->in) - c->inlen);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				conn_wait(c, n);
				return;
			}
			if (n == -1) {
				if (srv.debug)
					warnx("%s: read: %s", c->peer,
					    tls_error(c->tls));
				conn_free(c);
				return;
			}
			if (n == 0) {
				conn_free(c);
				return;
			}
			c->inlen += n;
			break;
		case CONN_CLOSING:
			ret = tls_close(c->tls);
			if (ret == TLS_WANT_POLLIN || ret == TLS_WANT_POLLOUT) {
				conn_wait(c, ret);
				return;
			}
			if (shutdown(c->fd, SHUT_WR) == -1) {
				conn_free(c);
				return;
			}
			c->state = CONN_LINGER;
			break;
		case CONN_LINGER:
			n = read(c->fd, c->in, sizeof(c->in));
			if (n > 0 || (n == -1 && errno == EINTR))
				break;
			if (n == -1 && errno == EAGAIN) {
				conn_wait(c, TLS_WANT_POLLIN);
				return;
			}
			conn_free(c);
			return;
		}
	}
	/* Let the other connections run; carry on from the loop. */
	event_del(c->wev);
	event_active(c->rev, EV_READ, 0);
}

/*
 * Answer the complete requests in the input buffer, as many as the output
 * buffer has room for, and discard request bodies as they arrive.
 */
static void
http_input(struct conn *c)
{
	size_t	avail, take, head;

	while (!c->closing && sizeof(c->out) - c->outlen >= SRV_RESP_MAX) {
		avail = c->inlen - c->inoff;
		if (c->req_status != 0) {
			take = avail < c->body_left ? avail : c->body_left;
			c->inoff += take;
			c->body_left -= take;
			if (c->body_left > 0)
				return;
			http_respond(c, c->req_status, c->req_head,
			    c->req_close);
			c->req_status = 0;
			continue;
		}

		/* Empty lines before a request are ignored (RFC 9112 2.2). */
		while (c->inoff < c->inlen &&
		    (c->in[c->inoff] == '\r' || c->in[c->inoff] == '\n'))
			c->inoff++;
		avail = c->inlen - c->inoff;
		if ((head = http_head_end(c->in + c->inoff, avail)) == 0) {
			if (avail == sizeof(c->in)) {
				if (srv.debug)
					warnx("%s: request head too large",
					    c->peer);
				http_respond(c, 413, 0, 1);
			}
			return;
		}
		if (http_request(c, head) == -1)
			return;
	}
}

/*
 * Handle the request head of the given length at the start of the input:
 * decide the answer, and send it at once or once the body is read.
 * Returns -1 if the connection is to close without reading on.
 */
static int
http_request(struct conn *c, size_t head)
{
	struct request	 req;
	const char	*q;
	size_t		 pathlen;
	int		 status, headonly = 0, close;

	status = http_parse(c->in + c->inoff, head, &req);
	if (status == 0) {
		q = memchr(req.target, '?', req.targetlen);
		pathlen = q != NULL ? (size_t)(q - req.target) : req.targetlen;
		headonly = req.methodlen == 4 &&
		    memcmp(req.method, "HEAD", 4) == 0;
		if (pathlen != strlen(JSONRPC_PATH) ||
		    memcmp(req.target, JSONRPC_PATH, pathlen) != 0)
			status = 404;
		else if (headonly ||
		    (req.methodlen == 3 && memcmp(req.method, "GET", 3) == 0) ||
		    (req.methodlen == 4 && memcmp(req.method, "POST", 4) == 0))
			status = 200;
		else
			status = 405;
	}
	if (srv.debug)
		warnx("%s: %.*s %.*s: %d", c->peer,
		    req.method != NULL ? (int)req.methodlen : 1,
		    req.method != NULL ? req.method : "-",
		    req.target != NULL ? (int)req.targetlen : 1,
		    req.target != NULL ? req.target : "-", status);

	if (status == 400 || status == 413 || status == 501) {
		/* The rest of the stream cannot be trusted to frame. */
		http_respond(c, status, 0, 1);
		return (-1);
	}
	c->inoff += head;

	close = req.conn_close || (req.minor == 0 && !req.conn_keepalive);
	if (req.clen == 0) {
		http_respond(c, status, headonly, close);
		return (0);
	}
	if (req.expect_continue && req.minor > 0 &&
	    c->inlen - c->inoff < req.clen) {
		memcpy(c->out + c->outlen, HTTP_CONTINUE,
		    strlen(HTTP_CONTINUE));
		c->outlen += strlen(HTTP_CONTINUE);
	}
	c->req_status = status;
	c->req_head = headonly;
	c->req_close = close;
	c->body_left = req.clen;
	return (0);
}

static void
http_respond(struct conn *c, int code, int headonly, int close)
{
	const struct status	*st = NULL;
	size_t			 i, room, bodylen;
	int			 n;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].code == code)
			st = &statuses[i];
	if (st == NULL)
		errx(1, "%s: no status %d", __func__, code);
	bodylen = strlen(st->body);
	room = sizeof(c->out) - c->outlen;
	n = snprintf(c->out + c->outlen, room,
	    "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\n"
	    "Server: internal-server\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Connection: %s\r\n"
	    "\r\n"
	    "%s",
	    st->code, st->reason, http_date(), bodylen,
	    code == 405 ? "Allow: GET, HEAD, POST\r\n" : "",
	    close ? "close" : "keep-alive",
	    headonly ? "" : st->body);
	if (n < 0 || (size_t)n >= room)
		errx(1, "%s: response does not fit", __func__);
	c->outlen += n;
	if (close)
		c->closing = 1;
	conn_timeout(c, SRV_TIMEOUT);
}

static const char *
http_date(void)
{
	static char	 buf[64];
	static time_t	 last = -1;
	struct tm	 tm;
	time_t		 now;

	now = time(NULL);
	if (now != last) {
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT",
		    &tm) == 0)
			strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 GMT",
			    sizeof(buf));
		last = now;
	}
	return (buf);
}

/*
 * Return the length of the request head at buf, up to and including the
 * empty line that ends it, or 0 if it is not complete yet.
 */
static size_t
http_head_end(const char *buf, size_t len)
{
	size_t	i, bol = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (bol > 0 && (i == bol || (i == bol + 1 && buf[bol] == '\r')))
			return (i + 1);
		bol = i + 1;
	}
	return (0);
}

/*
 * Return the length of the line at p without its CRLF or LF, and point
 * *next past the terminator.
 */
static size_t
http_line(const char *p, const char *end, const char **next)
{
	const char	*nl;
	size_t		 len;

	if ((nl = memchr(p, '\n', end - p)) == NULL) {
		*next = end;
		return (end - p);
	}
	*next = nl + 1;
	len = nl - p;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return (len);
}

/*
 * Parse a complete request head.  Returns 0, or the status of the error
 * response: 400 malformed, 413 body too large, 501 chunked.
 */
static int
http_parse(const char *buf, size_t len, struct request *req)
{
	const char	*end = buf + len, *line, *lend, *next, *p, *sp;
	const char	*v, *vend;
	size_t		 llen, i;

	memset(req, 0, sizeof(*req));

	/* request-line = method SP request-target SP HTTP-version */
	line = buf;
	llen = http_line(line, end, &next);
	lend = line + llen;
	for (i = 0; i < llen && http_tchar(line[i]); i++)
		;
	if (i == 0 || i == llen || line[i] != ' ')
		return (400);
	req->method = line;
	req->methodlen = i;
	p = line + i + 1;
	if ((sp = memchr(p, ' ', lend - p)) == NULL || sp == p)
		return (400);
	for (v = p; v < sp; v++)
		if ((unsigned char)*v <= ' ' || (unsigned char)*v >= 0x7f)
			return (400);
	req->target = p;
	req->targetlen = sp - p;
	p = sp + 1;
	if (lend - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    p[7] < '0' || p[7] > '9')
		return (400);
	req->minor = p[7] - '0';

	/* field-line = field-name ":" OWS field-value OWS */
	for (line = next; line < end; line = next) {
		if ((llen = http_line(line, end, &next)) == 0)
			break;
		lend = line + llen;
		for (i = 0; i < llen && http_tchar(line[i]); i++)
			;
		if (i == 0 || i == llen || line[i] != ':')
			return (400);
		v = line + i + 1;
		while (v < lend && (*v == ' ' || *v == '\t'))
			v++;
		vend = lend;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		for (p = v; p < vend; p++)
			if (((unsigned char)*p < ' ' && *p != '\t') ||
			    (unsigned char)*p == 0x7f)
				return (400);

		if (http_field_is(line, i, "Content-Length")) {
			if (http_parse_clen(v, vend, req) == -1)
				return (400);
		} else if (http_field_is(line, i, "Transfer-Encoding"))
			req->chunked = 1;
		else if (http_field_is(line, i, "Connection"))
			http_parse_connection(v, vend, req);
		else if (http_field_is(line, i, "Expect")) {
			if (vend - v == 12 &&
			    strncasecmp(v, "100-continue", 12) == 0)
				req->expect_continue = 1;
		}
	}
	if (req->chunked)
		return (501);
	if (req->clen > SRV_BODY_MAX)
		return (413);
	return (0);
}

static int
http_parse_clen(const char *v, const char *vend, struct request *req)
{
	size_t	n = 0;

	if (v == vend)
		return (-1);
	for (; v < vend; v++) {
		if (*v < '0' || *v > '9')
			return (-1);
		/* Stop counting above the limit: no overflow. */
		if (n <= SRV_BODY_MAX)
			n = n * 10 + (*v - '0');
	}
	if (req->has_clen && req->clen != n)
		return (-1);
	req->has_clen = 1;
	req->clen = n;
	return (0);
}

static void
http_parse_connection(const char *v, const char *vend, struct request *req)
{
	const char	*tok, *tend;

	while (v < vend) {
		while (v < vend && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		tok = v;
		while (v < vend && *v != ',')
			v++;
		tend = v;
		while (tend > tok && (tend[-1] == ' ' || tend[-1] == '\t'))
			tend--;
		if (http_field_is(tok, tend - tok, "close"))
			req->conn_close = 1;
		else if (http_field_is(tok, tend - tok, "keep-alive"))
			req->conn_keepalive = 1;
	}
}

static int
http_field_is(const char *s, size_t len, const char *name)
{
	return (len == strlen(name) && strncasecmp(s, name, len) == 0);
}

static int
http_tchar(int ch)
{
	ch = (unsigned char)ch;
	if (isalnum(ch))
		return (1);
	return (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}
