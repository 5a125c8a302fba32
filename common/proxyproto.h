/*
 * proxyproto.h: read a PROXY protocol header (version 1, text, or
 * version 2, binary, told apart by the first byte) in front of a
 * stream, as a load balancer sends it, and the networks such a header
 * is taken from.
 *
 * The parser is incremental and bounded: it gathers at most PP_MAXLEN
 * bytes of header, never looks past the header's last byte, and answers
 * as soon as the bytes so far decide.  It never allocates.
 */

#ifndef PROXYPROTO_H
#define PROXYPROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PP_V1_MAXLEN	107	/* a whole v1 line, CRLF included */
#define PP_V2_HDRLEN	16	/* signature, version and command,
				   family, length */
#define PP_MAXLEN	536	/* a whole v2 header, TLVs included */
#define PP_NETSTRLEN	64	/* "address/prefix" with NUL, and room */

enum pp_status {
	PP_OK = 0,	/* a whole, valid header: info is filled */
	PP_MORE,	/* a good start: more bytes are needed */
	PP_ERR,		/* no valid header: the parser's why says why */
};

struct pp_info {
	size_t			 len;		/* bytes of the header */
	int			 version;	/* 1 or 2 */
	/*
	 * No addresses: a v2 LOCAL command (the balancer's own health
	 * check), v2 AF_UNSPEC or v1 UNKNOWN.  The connection's own
	 * addresses stand.
	 */
	int			 local;
	struct sockaddr_storage	 src;	/* the client: AF_INET or AF_INET6,
					   address and port */
	struct sockaddr_storage	 dst;	/* the address it connected to */
};

/*
 * The state of one header being read: the bytes gathered so far.  The
 * caller owns the storage (about 900 bytes) and needs it only while
 * pp_feed() answers PP_MORE.
 */
struct pp_parser {
	size_t		 have;		/* bytes gathered in buf */
	size_t		 need;		/* v2: the header's length, once
					   known; else 0 */
	int		 status;	/* PP_MORE until decided */
	const char	*why;		/* PP_ERR: a short reason */
	struct pp_info	 info;		/* PP_OK */
	uint8_t		 buf[PP_MAXLEN];
};

/*
 * Start reading a header, then hand pp_feed() the bytes in the order
 * they came, each only once, until it answers something else than
 * PP_MORE.  *used says how many of this call's len bytes it took: all
 * of them on PP_MORE, the header's last ones on PP_OK (the bytes after
 * them are the stream's), none once it has answered.  Once answered it
 * answers the same, whatever more comes.  The answer for all the bytes
 * fed so far is that of pp_parse() on them.
 */
void		 pp_init(struct pp_parser *);
enum pp_status	 pp_feed(struct pp_parser *, const uint8_t *data, size_t len,
		    size_t *used, struct pp_info *info);
/* The first len bytes of a stream in one go; *why on PP_ERR. */
enum pp_status	 pp_parse(const uint8_t *buf, size_t len,
		    struct pp_info *info, const char **why);

/* An IPv4 or IPv6 network a PROXY header is taken from. */
struct pp_net {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned int	 plen;		/* prefix length */
	uint8_t		 addr[16];	/* no bits set past plen */
};

/*
 * "192.0.2.1", "10.0.0.0/8", "2001:db8::/32": 0, or -1 with a short
 * reason in *why.  An address alone is its own /32 or /128; bits set
 * past the prefix are refused, they are most likely a typing error.
 */
int		 pp_net_parse(const char *, struct pp_net *, const char **why);
/*
 * Whether sa (AF_INET or AF_INET6, an IPv4 address mapped into IPv6
 * also matching the IPv4 networks) is in one of the n networks.
 */
int		 pp_net_match(const struct pp_net *, size_t n,
		    const struct sockaddr *sa);

#endif /* PROXYPROTO_H */
