/*
 * test_netsource.c: the source an address counts against.
 *
 * epsd shares its handshake slots out per source, and proxyd's listeners
 * their client connections and waiting backchannels: an IPv4 address
 * (the same when it comes mapped into IPv6) or an IPv6 /64, whatever the
 * port and whatever the host part of the /64.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "net.h"
#include "unit.h"

static int	 key(const char *, unsigned int, char *, size_t);
static int	 is(const char *, const char *);
static int	 same(const char *, const char *);

/* The key of a numeric address and port; -1 when it does not parse. */
static int
key(const char *addr, unsigned int port, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	} else
		return (-1);
	return (net_source_key((struct sockaddr *)&ss, buf, len));
}

static int
is(const char *addr, const char *want)
{
	char	 buf[NET_SOURCELEN];

	return (key(addr, 443, buf, sizeof(buf)) == 0 &&
	    strcmp(buf, want) == 0);
}

static int
same(const char *a, const char *b)
{
	char	 ka[NET_SOURCELEN], kb[NET_SOURCELEN];

	return (key(a, 1, ka, sizeof(ka)) == 0 &&
	    key(b, 65535, kb, sizeof(kb)) == 0 && strcmp(ka, kb) == 0);
}

int
main(void)
{
	struct sockaddr_un	 sun;
	char			 buf[NET_SOURCELEN];

	UT_CHECK("netsource: an IPv4 address is its own source",
	    is("192.0.2.1", "192.0.2.1"));
	UT_CHECK("netsource: the port does not count",
	    same("192.0.2.1", "192.0.2.1"));
	UT_CHECK("netsource: two IPv4 addresses are two sources",
	    !same("192.0.2.1", "192.0.2.2") &&
	    !same("127.0.0.1", "127.0.0.12"));
	UT_CHECK("netsource: IPv4 mapped into IPv6 is the IPv4 source",
	    is("::ffff:192.0.2.1", "192.0.2.1") &&
	    same("::ffff:192.0.2.1", "192.0.2.1"));
	UT_CHECK("netsource: an IPv6 address counts as its /64",
	    is("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"));
	UT_CHECK("netsource: all of a /64 is one source",
	    same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	UT_CHECK("netsource: the next /64 is another source",
	    !same("2001:db8:1:2::1", "2001:db8:1:3::1") &&
	    !same("2001:db8:1:2::1", "2001:db9:1:2::1"));
	UT_CHECK("netsource: loopback and link-local /64s",
	    is("::1", "::/64") && is("fe80::1:2:3:4", "fe80::/64"));
	UT_CHECK("netsource: the longest /64 fits NET_SOURCELEN",
	    is("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff::/64"));
	UT_CHECK("netsource: a short buffer is refused",
	    key("192.0.2.1", 1, buf, NET_SOURCELEN - 1) == -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	UT_CHECK("netsource: a Unix socket has no source",
	    net_source_key((struct sockaddr *)&sun, buf, sizeof(buf)) == -1);
	UT_EXIT();
}
