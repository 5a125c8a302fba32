/*
 * net.c: addresses and sockets.  Only the parent resolves names (when it
 * loads the configuration); children see numeric addresses only.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>

#include "compat.h"
#include "net.h"

int	 net_numeric_only;

int
net_resolve(const char *host, const char *port, int passive,
    struct net_addr *out, size_t max, const char **why)
{
	struct addrinfo	 hints, *res, *ai;
	size_t		 n = 0;
	int		 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if (net_numeric_only)
		hints.ai_flags |= AI_NUMERICHOST;
	if (host != NULL && strcmp(host, "*") == 0)
		host = NULL;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		*why = gai_strerror(error);
		return (-1);
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out[n].ss))
			continue;
		memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
		out[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		*why = "no usable address";
		return (-1);
	}
	return ((int)n);
}

/* Parse a numeric "a.b.c.d:port" or "[v6]:port". */
int
net_parse(const char *s, struct net_addr *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a->ss;
	char			 host[INET6_ADDRSTRLEN + 2];
	const char		*colon, *p;
	unsigned long		 port;
	char			*end;
	size_t			 hl;

	memset(a, 0, sizeof(*a));
	if ((colon = strrchr(s, ':')) == NULL)
		return (-1);
	p = colon + 1;
	errno = 0;
	port = strtoul(p, &end, 10);
	if (*p == '\0' || *end != '\0' || errno != 0 || port > 65535)
		return (-1);
	if (s[0] == '[') {
		if (colon == s || colon[-1] != ']')
			return (-1);
		hl = (size_t)(colon - s) - 2;
		if (hl >= sizeof(host))
			return (-1);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return (-1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
		return (0);
	}
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return (-1);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return (-1);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	a->len = sizeof(*sin);
	return (0);
}

const char *
net_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 =
					    (const struct sockaddr_in6 *)sa;
	char				 h[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET:
		if (inet_ntop(AF_INET, &sin->sin_addr, h, sizeof(h)) == NULL)
			break;
		(void)snprintf(buf, len, "%s:%u", h, ntohs(sin->sin_port));
		return (buf);
	case AF_INET6:
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, h, sizeof(h)) ==
		    NULL)
			break;
		(void)snprintf(buf, len, "[%s]:%u", h, ntohs(sin6->sin6_port));
		return (buf);
	case AF_UNIX:
		(void)strlcpy(buf, "unix", len);
		return (buf);
	}
	(void)strlcpy(buf, "?", len);
	return (buf);
}

int
net_source_key(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 =
					    (const struct sockaddr_in6 *)sa;
	struct in_addr			 a4;
	struct in6_addr			 a6;

	if (len < NET_SOURCELEN)
		return (-1);
	switch (sa->sa_family) {
	case AF_INET:
		a4 = sin->sin_addr;
		break;
	case AF_INET6:
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&a4, &sin6->sin6_addr.s6_addr[12], sizeof(a4));
			break;
		}
		a6 = sin6->sin6_addr;
		memset(&a6.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a6, buf, (socklen_t)len) == NULL)
			return (-1);
		(void)strlcat(buf, "/64", len);
		return (0);
	default:
		return (-1);
	}
	if (inet_ntop(AF_INET, &a4, buf, (socklen_t)len) == NULL)
		return (-1);
	return (0);
}

const char *
net_addrstr(const struct net_addr *a, char *buf, size_t len)
{
	return (net_ntop((const struct sockaddr *)&a->ss, buf, len));
}

int
net_nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	return (0);
}

/* Keepalive and no Nagle delay: TLS records should leave at once. */
void
net_tune(int fd)
{
	int	 on = 1;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int
net_listen(const struct net_addr *a, int backlog, int reuseport)
{
	int	 fd, on = 1, saved;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
	    sizeof(on)) == -1)
		goto fail;
	if (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, backlog) == -1)
		goto fail;
	return (fd);
 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
}

/* Start a non-blocking connect; the caller waits for EV_WRITE. */
int
net_connect(const struct net_addr *a)
{
	int	 fd, saved;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	net_tune(fd);
	return (fd);
}

int
net_unix_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	/* non-blocking: a server whose backlog is full must not stall us */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}
