/*
 * proxyproto.c: the PROXY protocol reader of proxyd's public port (see
 * proxyproto.h), after haproxy's specification of versions 1 and 2.
 *
 * The bytes are gathered into the parser's buffer up to the end of the
 * header and no further: a v1 line up to its '\n', a v2 header up to
 * the length its fixed part gives.  Whatever the first bytes already
 * rule out is answered at once (a ClientHello fails on its first byte,
 * a v2 header with a bad version or an unsupported family on the byte
 * that says so), the rest when the header is whole, so fewer bytes
 * always give PP_MORE or the same answer as more.
 *
 * Choices beyond the specification's grammar:
 * - v1: exactly one space between fields, nothing before "PROXY"; an
 *   address is what inet_pton() takes for the family TCP4 or TCP6
 *   names, made only of hex digits, '.' and ':'; a port is 1 to 5
 *   digits, no leading zero, at most 65535; the line ends in "\r\n"
 *   and holds no other '\r'.  "UNKNOWN" is followed by the CRLF or a
 *   space and anything up to it, which is ignored, as the
 *   specification says.
 * - v2: version 2 only, command LOCAL or PROXY; PROXY over TCP on IPv4
 *   or IPv6, or with AF_UNSPEC (taken as LOCAL, which the
 *   specification allows); UNIX sockets and datagrams are refused.
 *   The address block must be there whole, and the TLVs after it must
 *   fill the rest exactly; their contents are not looked at.  A LOCAL
 *   header's body is skipped unread.  The whole header is at most
 *   PP_MAXLEN bytes.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "proxyproto.h"

#define V1_PREFIX	"PROXY "
#define V1_PREFIXLEN	6
#define V2_SIGLEN	12
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x00
#define V2_FAM_TCP4	0x11
#define V2_FAM_TCP6	0x21
#define V2_ADDRS4	12	/* two IPv4 addresses, two ports */
#define V2_ADDRS6	36

static const uint8_t	 v2_sig[V2_SIGLEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static enum pp_status	 pp_fail(struct pp_parser *, const char *);
static int		 v1_port(const uint8_t *, size_t, uint16_t *);
static int		 v1_addr(const uint8_t *, size_t, int, void *);
static enum pp_status	 v1_parse(struct pp_parser *);
static enum pp_status	 v2_check(struct pp_parser *);
static enum pp_status	 v2_parse(struct pp_parser *);

void
pp_init(struct pp_parser *p)
{
	p->have = 0;
	p->need = 0;
	p->status = PP_MORE;
	p->why = NULL;
	memset(&p->info, 0, sizeof(p->info));
}

static enum pp_status
pp_fail(struct pp_parser *p, const char *why)
{
	p->status = PP_ERR;
	p->why = why;
	return (PP_ERR);
}

/* A port: 1 to 5 digits, no leading zero, at most 65535. */
static int
v1_port(const uint8_t *s, size_t len, uint16_t *port)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	*port = (uint16_t)v;
	return (0);
}

/* An address of family af, only hex digits, '.' and ':'. */
static int
v1_addr(const uint8_t *s, size_t len, int af, void *out)
{
	char	 a[INET6_ADDRSTRLEN];
	size_t	 i;

	if (len == 0 || len >= sizeof(a))
		return (-1);
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F') || s[i] == '.' ||
		    s[i] == ':'))
			return (-1);
		a[i] = (char)s[i];
	}
	a[len] = '\0';
	return (inet_pton(af, a, out) == 1 ? 0 : -1);
}

/* A whole v1 line, from "PROXY " to its '\n', is in the buffer. */
static enum pp_status
v1_parse(struct pp_parser *p)
{
	struct pp_info		*in = &p->info;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&in->src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&in->dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&in->src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&in->dst;
	const uint8_t		*f[4], *s, *end;
	size_t			 flen[4];
	uint16_t		 sport, dport;
	int			 af, nf;

	end = p->buf + p->have - 2;		/* the CR */
	if (p->have < V1_PREFIXLEN + 2 || *end != '\r' ||
	    memchr(p->buf, '\r', (size_t)(end - p->buf)) != NULL)
		return (pp_fail(p, "v1: the line does not end in CRLF"));
	s = p->buf + V1_PREFIXLEN;
	in->len = p->have;
	in->version = 1;
	if ((size_t)(end - s) >= 7 && memcmp(s, "UNKNOWN", 7) == 0 &&
	    (s + 7 == end || s[7] == ' ')) {
		in->local = 1;
		return (p->status = PP_OK);
	}
	if ((size_t)(end - s) < 5 || (memcmp(s, "TCP4 ", 5) != 0 &&
	    memcmp(s, "TCP6 ", 5) != 0))
		return (pp_fail(p, "v1: unknown protocol"));
	af = s[3] == '4' ? AF_INET : AF_INET6;
	s += 5;
	/* four fields, one space between two */
	for (nf = 0; nf < 4; nf++) {
		f[nf] = s;
		while (s < end && *s != ' ')
			s++;
		flen[nf] = (size_t)(s - f[nf]);
		if (flen[nf] == 0 || (nf < 3 && s == end) ||
		    (nf == 3 && s != end))
			return (pp_fail(p, "v1: not four fields apart by "
			    "one space"));
		s++;
	}
	memset(&in->src, 0, sizeof(in->src));
	memset(&in->dst, 0, sizeof(in->dst));
	if (v1_addr(f[0], flen[0], af, af == AF_INET ?
	    (void *)&s4->sin_addr : (void *)&s6->sin6_addr) == -1)
		return (pp_fail(p, "v1: bad source address"));
	if (v1_addr(f[1], flen[1], af, af == AF_INET ?
	    (void *)&d4->sin_addr : (void *)&d6->sin6_addr) == -1)
		return (pp_fail(p, "v1: bad destination address"));
	if (v1_port(f[2], flen[2], &sport) == -1)
		return (pp_fail(p, "v1: bad source port"));
	if (v1_port(f[3], flen[3], &dport) == -1)
		return (pp_fail(p, "v1: bad destination port"));
	if (af == AF_INET) {
		s4->sin_family = d4->sin_family = AF_INET;
		s4->sin_port = htons(sport);
		d4->sin_port = htons(dport);
	} else {
		s6->sin6_family = d6->sin6_family = AF_INET6;
		s6->sin6_port = htons(sport);
		d6->sin6_port = htons(dport);
	}
	return (p->status = PP_OK);
}

/* What the fixed part of a v2 header gathered so far rules out. */
static enum pp_status
v2_check(struct pp_parser *p)
{
	size_t	 n = p->have < V2_SIGLEN ? p->have : V2_SIGLEN;
	uint8_t	 cmd, fam;
	size_t	 len;

	if (memcmp(p->buf, v2_sig, n) != 0)
		return (pp_fail(p, "not a PROXY protocol header"));
	if (p->have > 12) {
		if ((p->buf[12] >> 4) != 2)
			return (pp_fail(p, "v2: version is not 2"));
		cmd = p->buf[12] & 0x0f;
		if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
			return (pp_fail(p, "v2: unknown command"));
	}
	if (p->have > 13) {
		fam = p->buf[13];
		if ((p->buf[12] & 0x0f) == V2_CMD_PROXY &&
		    fam != V2_FAM_TCP4 && fam != V2_FAM_TCP6 &&
		    fam != V2_FAM_UNSPEC)
			return (pp_fail(p, "v2: not TCP over IPv4 or IPv6"));
	}
	if (p->have == PP_V2_HDRLEN && p->need == 0) {
		len = (size_t)p->buf[14] << 8 | p->buf[15];
		if (len > PP_MAXLEN - PP_V2_HDRLEN)
			return (pp_fail(p, "v2: header too long"));
		if ((p->buf[12] & 0x0f) == V2_CMD_PROXY &&
		    ((p->buf[13] == V2_FAM_TCP4 && len < V2_ADDRS4) ||
		    (p->buf[13] == V2_FAM_TCP6 && len < V2_ADDRS6)))
			return (pp_fail(p, "v2: address block too short"));
		p->need = PP_V2_HDRLEN + len;
	}
	return (PP_MORE);
}

/* A whole v2 header, its length checked, is in the buffer. */
static enum pp_status
v2_parse(struct pp_parser *p)
{
	struct pp_info		*in = &p->info;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&in->src;
	struct sockaddr_in	*d4 = (struct sockaddr_in *)&in->dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&in->src;
	struct sockaddr_in6	*d6 = (struct sockaddr_in6 *)&in->dst;
	const uint8_t		*b = p->buf + PP_V2_HDRLEN;
	size_t			 off, tlen;

	in->len = p->need;
	in->version = 2;
	if ((p->buf[12] & 0x0f) == V2_CMD_LOCAL ||
	    p->buf[13] == V2_FAM_UNSPEC) {
		in->local = 1;
		return (p->status = PP_OK);
	}
	memset(&in->src, 0, sizeof(in->src));
	memset(&in->dst, 0, sizeof(in->dst));
	if (p->buf[13] == V2_FAM_TCP4) {
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, b, 4);
		memcpy(&d4->sin_addr, b + 4, 4);
		memcpy(&s4->sin_port, b + 8, 2);
		memcpy(&d4->sin_port, b + 10, 2);
		off = V2_ADDRS4;
	} else {
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, b, 16);
		memcpy(&d6->sin6_addr, b + 16, 16);
		memcpy(&s6->sin6_port, b + 32, 2);
		memcpy(&d6->sin6_port, b + 34, 2);
		off = V2_ADDRS6;
	}
	/* TLVs: type, 16-bit length, value; they fill the rest exactly */
	off += PP_V2_HDRLEN;
	while (off < p->need) {
		if (p->need - off < 3)
			return (pp_fail(p, "v2: bad TLV"));
		tlen = (size_t)p->buf[off + 1] << 8 | p->buf[off + 2];
		if (tlen > p->need - off - 3)
			return (pp_fail(p, "v2: bad TLV"));
		off += 3 + tlen;
	}
	return (p->status = PP_OK);
}

enum pp_status
pp_feed(struct pp_parser *p, const uint8_t *data, size_t len, size_t *used,
    struct pp_info *info)
{
	const uint8_t	*nl;
	size_t		 take = 0, n;

	*used = 0;
	while (p->status == PP_MORE && take < len) {
		if (p->have == 0 && data[take] != 'P' && data[take] != '\r')
			return (pp_fail(p, "not a PROXY protocol header"));
		if (p->have > 0 ? p->buf[0] == 'P' : data[take] == 'P') {
			/* v1: up to the '\n', within PP_V1_MAXLEN */
			n = len - take;
			if (n > PP_V1_MAXLEN - p->have)
				n = PP_V1_MAXLEN - p->have;
			if ((nl = memchr(data + take, '\n', n)) != NULL)
				n = (size_t)(nl - (data + take)) + 1;
			memcpy(p->buf + p->have, data + take, n);
			p->have += n;
			take += n;
			if (memcmp(p->buf, V1_PREFIX, p->have < V1_PREFIXLEN ?
			    p->have : V1_PREFIXLEN) != 0)
				return (pp_fail(p,
				    "not a PROXY protocol header"));
			if (nl != NULL)
				(void)v1_parse(p);
			else if (p->have == PP_V1_MAXLEN)
				return (pp_fail(p, "v1: no CRLF within 107 "
				    "bytes"));
			continue;
		}
		/* v2: the fixed part, then the rest its length says */
		n = (p->need > 0 ? p->need : PP_V2_HDRLEN) - p->have;
		if (n > len - take)
			n = len - take;
		memcpy(p->buf + p->have, data + take, n);
		p->have += n;
		take += n;
		if (p->need == 0 && v2_check(p) != PP_MORE)
			return (PP_ERR);
		if (p->need > 0 && p->have == p->need)
			(void)v2_parse(p);
	}
	*used = take;
	if (p->status == PP_OK)
		*info = p->info;
	return (p->status);
}

enum pp_status
pp_parse(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	struct pp_parser	 p;
	enum pp_status		 st;
	size_t			 used;

	pp_init(&p);
	st = pp_feed(&p, buf, len, &used, info);
	if (st == PP_ERR && why != NULL)
		*why = p.why;
	return (st);
}

/*
 * Trusted networks.
 */

int
pp_net_parse(const char *s, struct pp_net *net, const char **why)
{
	const char	*slash, *q;
	char		 a[INET6_ADDRSTRLEN];
	size_t		 alen, i;
	unsigned int	 plen = 0, max;

	memset(net, 0, sizeof(*net));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(a)) {
		*why = "not an IPv4 or IPv6 address";
		return (-1);
	}
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return (-1);
	}
	if (slash == NULL)
		plen = max;
	else {
		q = slash + 1;
		if (*q == '\0' || strlen(q) > 3 ||
		    (q[0] == '0' && q[1] != '\0')) {
			*why = "bad prefix length";
			return (-1);
		}
		for (; *q != '\0'; q++) {
			if (*q < '0' || *q > '9') {
				*why = "bad prefix length";
				return (-1);
			}
			plen = plen * 10 + (unsigned int)(*q - '0');
		}
		if (plen > max) {
			*why = "prefix length too long for the address";
			return (-1);
		}
	}
	net->plen = plen;
	for (i = plen; i < max; i++)
		if (net->addr[i / 8] & (0x80 >> (i % 8))) {
			*why = "address bits set past the prefix length";
			return (-1);
		}
	return (0);
}

/* The first plen bits of a and b are the same. */
static int
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int	 full = plen / 8;
	uint8_t		 mask;

	if (memcmp(a, b, full) != 0)
		return (0);
	if (plen % 8 == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - plen % 8));
	return ((a[full] & mask) == (b[full] & mask));
}

int
pp_net_match(const struct pp_net *nets, size_t n, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 =
					    (const struct sockaddr_in6 *)sa;
	const uint8_t			*v4 = NULL, *v6 = NULL;
	size_t				 i;

	if (sa->sa_family == AF_INET)
		v4 = (const uint8_t *)&sin->sin_addr;
	else if (sa->sa_family == AF_INET6) {
		v6 = sin6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			v4 = v6 + 12;
	} else
		return (0);
	for (i = 0; i < n; i++) {
		if (nets[i].family == AF_INET && v4 != NULL &&
		    prefix_eq(nets[i].addr, v4, nets[i].plen))
			return (1);
		if (nets[i].family == AF_INET6 && v6 != NULL &&
		    prefix_eq(nets[i].addr, v6, nets[i].plen))
			return (1);
	}
	return (0);
}
