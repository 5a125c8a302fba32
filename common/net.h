/*
 * net.h: socket helpers shared by the daemons.
 */

#ifndef NET_H
#define NET_H

#include <sys/socket.h>

#include <stddef.h>

#define NET_ADDRSTRLEN	64	/* "[ipv6]:port" with NUL */
#define NET_SOURCELEN	52	/* "ipv6/64" with NUL */

struct net_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

int		 net_resolve(const char *host, const char *port, int passive,
		    struct net_addr *, size_t max, const char **why);
/* set by fuzz targets: never ask DNS, numeric host addresses only */
extern int	 net_numeric_only;
int		 net_parse(const char *hostport, struct net_addr *);
const char	*net_ntop(const struct sockaddr *, char *, size_t);
const char	*net_addrstr(const struct net_addr *, char *, size_t);
/*
 * The source a peer address counts against where a table is shared out
 * per source: an IPv4 address, also one mapped into IPv6, or the /64
 * network of an IPv6 address, which one site gets whole.  As text:
 * "192.0.2.1", "2001:db8:1:2::/64".  0, or -1 for another family or a
 * buffer shorter than NET_SOURCELEN.
 */
int		 net_source_key(const struct sockaddr *, char *, size_t);
int		 net_listen(const struct net_addr *, int backlog,
		    int reuseport);
int		 net_connect(const struct net_addr *);
int		 net_nonblock(int);
void		 net_tune(int fd);
int		 net_unix_connect(const char *path);

#endif /* NET_H */
