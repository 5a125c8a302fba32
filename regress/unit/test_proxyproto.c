/*
 * test_proxyproto.c: unit tests of the PROXY protocol reader and of the
 * trusted networks (common/proxyproto.c).
 *
 * headers[] is the table of inputs: v1 lines as text, v2 headers as
 * hex, each with what pp_parse() must answer: for PP_OK the version,
 * the addresses as net_ntop() writes them (or local), and that the
 * header is the whole input; for PP_ERR the start of the reason and,
 * where it is not 0, after how many bytes at the latest the answer must
 * come.  Every input is also fed with stream bytes after it (they must
 * not be taken), one byte at a time, and as every prefix; each parse
 * runs on an exact-size heap copy so that the sanitizers see a read
 * past the end.  nets[] is the table of networks and addresses.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "net.h"
#include "proxyproto.h"
#include "unit.h"

#define TXT(s)	(s), sizeof(s) - 1, NULL
#define HEX(h)	NULL, 0, (h)
#define SIG	"0d0a0d0a000d0a515549540a"

struct hcase {
	const char	*name;
	const char	*txt;		/* v1: the bytes, txtlen of them */
	size_t		 txtlen;
	const char	*hex;		/* v2: the bytes in hex */
	enum pp_status	 st;
	int		 version;	/* PP_OK */
	const char	*src;		/* PP_OK: NULL for local */
	const char	*dst;
	const char	*why;		/* PP_ERR: how the reason starts */
	size_t		 at;		/* PP_ERR: answered within, or 0 */
};

static const struct hcase headers[] = {
	/* v1, good */
	{ "v1 TCP4",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), PP_OK, 1,
	  "192.0.2.1:56324", "198.51.100.2:443", NULL, 0 },
	{ "v1 TCP6",
	  TXT("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"), PP_OK, 1,
	  "[2001:db8::1]:1", "[2001:db8::2]:65535", NULL, 0 },
	{ "v1 TCP6, IPv4 mapped, ports 0",
	  TXT("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 0\r\n"), PP_OK, 1,
	  "[::ffff:192.0.2.1]:0", "[::1]:0", NULL, 0 },
	{ "v1 TCP6, upper-case hex",
	  TXT("PROXY TCP6 2001:DB8::A ::1 80 81\r\n"), PP_OK, 1,
	  "[2001:db8::a]:80", "[::1]:81", NULL, 0 },
	{ "v1 UNKNOWN",
	  TXT("PROXY UNKNOWN\r\n"), PP_OK, 1, NULL, NULL, NULL, 0 },
	{ "v1 UNKNOWN with addresses, 107 bytes",
	  TXT("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	  PP_OK, 1, NULL, NULL, NULL, 0 },
	/* v1, bad */
	{ "v1 108 bytes",
	  TXT("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffff 65535 65535\r\n"),
	  PP_ERR, 0, NULL, NULL, "v1: no CRLF within 107", 107 },
	{ "v1 LF without CR",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n"), PP_ERR, 0,
	  NULL, NULL, "v1: the line does not end in CRLF", 0 },
	{ "v1 CR inside",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: the line does not end in CRLF", 0 },
	{ "v1 empty protocol",
	  TXT("PROXY \r\n"), PP_ERR, 0, NULL, NULL, "v1: unknown protocol",
	  0 },
	{ "v1 two spaces before the protocol",
	  TXT("PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: unknown protocol", 0 },
	{ "v1 UDP4",
	  TXT("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: unknown protocol", 0 },
	{ "v1 UNKNOWNX",
	  TXT("PROXY UNKNOWNX\r\n"), PP_ERR, 0, NULL, NULL,
	  "v1: unknown protocol", 0 },
	{ "v1 two spaces between addresses",
	  TXT("PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: not four fields", 0 },
	{ "v1 space before the CRLF",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: not four fields", 0 },
	{ "v1 three fields",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: not four fields", 0 },
	{ "v1 five fields",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: not four fields", 0 },
	{ "v1 TCP4 with an IPv6 address",
	  TXT("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source address", 0 },
	{ "v1 TCP6 with an IPv4 address",
	  TXT("PROXY TCP6 192.0.2.1 ::1 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source address", 0 },
	{ "v1 address out of range",
	  TXT("PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source address", 0 },
	{ "v1 address with a leading zero",
	  TXT("PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source address", 0 },
	{ "v1 NUL in an address",
	  TXT("PROXY TCP4 192.0.2.1\0 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source address", 0 },
	{ "v1 bad destination address",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.x 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad destination address", 0 },
	{ "v1 port 65536",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source port", 0 },
	{ "v1 port with a leading zero",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 0443 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source port", 0 },
	{ "v1 port with a sign",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 +1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad source port", 0 },
	{ "v1 port of six digits",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1 000001\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad destination port", 0 },
	{ "v1 negative destination port",
	  TXT("PROXY TCP4 192.0.2.1 198.51.100.2 1 -2\r\n"), PP_ERR, 0,
	  NULL, NULL, "v1: bad destination port", 0 },
	{ "v1 in lower case",
	  TXT("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "not a PROXY protocol header", 1 },
	{ "v1 after a space",
	  TXT(" PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "not a PROXY protocol header", 1 },
	{ "v1 PROXY without its space",
	  TXT("PROXYTCP4 192.0.2.1 198.51.100.2 1 2\r\n"), PP_ERR, 0,
	  NULL, NULL, "not a PROXY protocol header", 6 },
	{ "an HTTP request",
	  TXT("GET / HTTP/1.1\r\n"), PP_ERR, 0, NULL, NULL,
	  "not a PROXY protocol header", 1 },
	{ "a TLS ClientHello",
	  HEX("16030100a5010000a10303"), PP_ERR, 0, NULL, NULL,
	  "not a PROXY protocol header", 1 },
	/* v2, good */
	{ "v2 TCP4",
	  HEX(SIG "2111000c c0000201 c6336402 dc04 01bb"), PP_OK, 2,
	  "192.0.2.1:56324", "198.51.100.2:443", NULL, 0 },
	{ "v2 TCP6",
	  HEX(SIG "21210024 20010db8000000000000000000000001"
	  "20010db8000000000000000000000002 0001 ffff"), PP_OK, 2,
	  "[2001:db8::1]:1", "[2001:db8::2]:65535", NULL, 0 },
	{ "v2 TCP4 with TLVs",
	  HEX(SIG "21110017 c0000201 c6336402 dc04 01bb"
	  "04 0003 000000 01 0002 6832"), PP_OK, 2,
	  "192.0.2.1:56324", "198.51.100.2:443", NULL, 0 },
	{ "v2 TCP4 with an empty TLV",
	  HEX(SIG "2111000f c0000201 c6336402 dc04 01bb 04 0000"), PP_OK, 2,
	  "192.0.2.1:56324", "198.51.100.2:443", NULL, 0 },
	{ "v2 LOCAL",
	  HEX(SIG "20000000"), PP_OK, 2, NULL, NULL, NULL, 0 },
	{ "v2 LOCAL with addresses, skipped",
	  HEX(SIG "2011000c ffffffff ffffffff ffff ffff"), PP_OK, 2, NULL,
	  NULL, NULL, 0 },
	{ "v2 LOCAL with a UNIX family, skipped",
	  HEX(SIG "20310003 010203"), PP_OK, 2, NULL, NULL, NULL, 0 },
	{ "v2 PROXY AF_UNSPEC",
	  HEX(SIG "21000000"), PP_OK, 2, NULL, NULL, NULL, 0 },
	/* v2, bad */
	{ "v2 signature off in its last byte",
	  HEX("0d0a0d0a000d0a515549540b 2111000c c0000201 c6336402 dc04 01bb"),
	  PP_ERR, 0, NULL, NULL, "not a PROXY protocol header", 12 },
	{ "v2 signature off in its second byte",
	  HEX("0d0b0d0a000d0a515549540a 2111000c c0000201 c6336402 dc04 01bb"),
	  PP_ERR, 0, NULL, NULL, "not a PROXY protocol header", 2 },
	{ "v2 version 1",
	  HEX(SIG "1111000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: version is not 2", 13 },
	{ "v2 version 3",
	  HEX(SIG "3111000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: version is not 2", 13 },
	{ "v2 command 2",
	  HEX(SIG "2211000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: unknown command", 13 },
	{ "v2 PROXY over UDP",
	  HEX(SIG "2112000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: not TCP over IPv4 or IPv6", 14 },
	{ "v2 PROXY over a UNIX socket",
	  HEX(SIG "2131000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: not TCP over IPv4 or IPv6", 14 },
	{ "v2 PROXY, family 4",
	  HEX(SIG "2141000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: not TCP over IPv4 or IPv6", 14 },
	{ "v2 TCP4 address block of 11 bytes",
	  HEX(SIG "2111000b c0000201 c6336402 dc04 01"), PP_ERR, 0, NULL,
	  NULL, "v2: address block too short", 16 },
	{ "v2 TCP6 address block of 12 bytes",
	  HEX(SIG "2121000c c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: address block too short", 16 },
	{ "v2 length 521",
	  HEX(SIG "21110209 c0000201 c6336402 dc04 01bb"), PP_ERR, 0, NULL,
	  NULL, "v2: header too long", 16 },
	{ "v2 length 65535",
	  HEX(SIG "2000ffff"), PP_ERR, 0, NULL, NULL, "v2: header too long",
	  16 },
	{ "v2 two bytes after the addresses",
	  HEX(SIG "2111000e c0000201 c6336402 dc04 01bb 0400"), PP_ERR, 0,
	  NULL, NULL, "v2: bad TLV", 0 },
	{ "v2 TLV longer than the header",
	  HEX(SIG "21110011 c0000201 c6336402 dc04 01bb 04 0003 0000"),
	  PP_ERR, 0, NULL, NULL, "v2: bad TLV", 0 },
	{ "v2 second TLV cut short",
	  HEX(SIG "21110013 c0000201 c6336402 dc04 01bb 04 0000 01 0002 68"),
	  PP_ERR, 0, NULL, NULL, "v2: bad TLV", 0 },
};

/* Bytes of the stream after a header: a TLS record's start. */
static const uint8_t	 trailer[] = { 0x16, 0x03, 0x01, 0x00, 0x05 };

static size_t	 input(const struct hcase *, uint8_t *, size_t);
static enum pp_status parse_copy(const uint8_t *, size_t, struct pp_info *,
		    const char **);
static int	 same_addr(const struct sockaddr_storage *, const char *);
static int	 good_answer(const struct hcase *, size_t, enum pp_status,
		    const struct pp_info *, const char *);
static void	 check_header(const struct hcase *);
static void	 check_longest(void);
static void	 check_nets(void);

static size_t
input(const struct hcase *h, uint8_t *buf, size_t bufsz)
{
	if (h->txt != NULL) {
		if (h->txtlen > bufsz)
			exit(1);
		memcpy(buf, h->txt, h->txtlen);
		return (h->txtlen);
	}
	return (ut_unhex(h->hex, buf, bufsz));
}

/* pp_parse() on an exact-size heap copy. */
static enum pp_status
parse_copy(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	enum pp_status	 st;
	uint8_t		*copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		exit(1);
	memcpy(copy, buf, len);
	*why = "";
	st = pp_parse(copy, len, info, why);
	free(copy);
	return (st);
}

static int
same_addr(const struct sockaddr_storage *ss, const char *want)
{
	char	 a[NET_ADDRSTRLEN];

	return (strcmp(net_ntop((const struct sockaddr *)ss, a, sizeof(a)),
	    want) == 0);
}

/* The answer the row wants, for a header of len bytes. */
static int
good_answer(const struct hcase *h, size_t len, enum pp_status st,
    const struct pp_info *info, const char *why)
{
	if (st != h->st)
		return (0);
	if (st == PP_ERR)
		return (h->why == NULL ||
		    strncmp(why, h->why, strlen(h->why)) == 0);
	if (info->len != len || info->version != h->version)
		return (0);
	if (h->src == NULL)
		return (info->local);
	return (!info->local && same_addr(&info->src, h->src) &&
	    same_addr(&info->dst, h->dst));
}

static void
check_header(const struct hcase *h)
{
	struct pp_parser	 p;
	struct pp_info		 info;
	enum pp_status		 st = PP_MORE, pst;
	uint8_t			 buf[PP_MAXLEN + 64], one;
	const char		*why;
	char			 name[192];
	size_t			 len, k, used, took = 0, answered = 0;
	int			 ok;

	len = input(h, buf, sizeof(buf) - sizeof(trailer));

	/* whole, then with the stream's bytes after it */
	st = parse_copy(buf, len, &info, &why);
	(void)snprintf(name, sizeof(name), "proxyproto: %s", h->name);
	UT_CHECK(name, good_answer(h, len, st, &info, why));
	memcpy(buf + len, trailer, sizeof(trailer));
	st = parse_copy(buf, len + sizeof(trailer), &info, &why);
	(void)snprintf(name, sizeof(name), "proxyproto: %s, then the "
	    "stream", h->name);
	UT_CHECK(name, good_answer(h, len, st, &info, why));

	/* a byte at a time: PP_MORE, then the answer, nothing after it */
	pp_init(&p);
	ok = 1;
	for (k = 0; k < len + sizeof(trailer); k++) {
		one = buf[k];
		st = pp_feed(&p, &one, 1, &used, &info);
		took += used;
		if (st == PP_MORE) {
			if (used != 1)
				ok = 0;
			continue;
		}
		if (answered == 0)
			answered = k + 1;
		else if (used != 0)
			ok = 0;
	}
	(void)snprintf(name, sizeof(name), "proxyproto: %s, a byte at a "
	    "time", h->name);
	UT_CHECK(name, ok && good_answer(h, len, st, &info,
	    p.why != NULL ? p.why : "") &&
	    (st != PP_OK || (took == len && answered == len)) &&
	    (h->at == 0 || (answered > 0 && answered <= h->at)));

	/* every prefix: PP_MORE until the answer, then the answer */
	ok = 1;
	for (k = 0; k < len; k++) {
		pst = parse_copy(buf, k, &info, &why);
		if (pst == PP_MORE)
			ok &= answered == 0 || k < answered;
		else
			ok &= k >= answered && good_answer(h, len, pst, &info,
			    why);
	}
	(void)snprintf(name, sizeof(name), "proxyproto: %s, every prefix",
	    h->name);
	UT_CHECK(name, ok);
}

/* The longest v2 header there may be, and one byte longer. */
static void
check_longest(void)
{
	struct pp_parser	 p;
	struct pp_info		 info;
	uint8_t			 buf[PP_MAXLEN + 1 + sizeof(trailer)];
	const char		*why;
	size_t			 n, used, off;
	enum pp_status		 st;

	memset(buf, 0, sizeof(buf));
	n = ut_unhex(SIG "2111 0208 c0000201 c6336402 dc04 01bb 04 01f9",
	    buf, sizeof(buf));
	UT_CHECK("proxyproto: v2 header built", n == PP_V2_HDRLEN + 12 + 3);
	memcpy(buf + PP_MAXLEN, trailer, sizeof(trailer));
	st = parse_copy(buf, PP_MAXLEN + sizeof(trailer), &info, &why);
	UT_CHECK("proxyproto: v2 header of PP_MAXLEN bytes",
	    st == PP_OK && info.len == PP_MAXLEN &&
	    same_addr(&info.src, "192.0.2.1:56324"));
	/* in pieces of 7 bytes */
	pp_init(&p);
	for (off = 0; off < PP_MAXLEN + sizeof(trailer); off += used) {
		n = MINIMUM(7, PP_MAXLEN + sizeof(trailer) - off);
		if ((st = pp_feed(&p, buf + off, n, &used, &info)) != PP_MORE)
			break;
	}
	UT_CHECK("proxyproto: v2 header of PP_MAXLEN bytes in pieces",
	    st == PP_OK && off + used == PP_MAXLEN && used == PP_MAXLEN % 7);
	buf[15] = 0x09;
	buf[PP_V2_HDRLEN + 12 + 2] = 0xfa;
	st = parse_copy(buf, PP_V2_HDRLEN, &info, &why);
	UT_CHECK("proxyproto: v2 header of PP_MAXLEN + 1 bytes",
	    st == PP_ERR && strcmp(why, "v2: header too long") == 0);
	/* once answered, the same answer */
	pp_init(&p);
	st = pp_feed(&p, buf, 3, &used, &info);
	st = pp_feed(&p, buf + 3, 20, &used, &info);
	UT_CHECK("proxyproto: an error stays", st == PP_ERR &&
	    pp_feed(&p, buf, 20, &used, &info) == PP_ERR && used == 0);
}

struct ncase {
	const char	*net;
	int		 ok;
	const char	*in;		/* addresses in it, space apart */
	const char	*out;		/* and not in it */
};

static const struct ncase nets[] = {
	{ "127.0.0.1", 1, "127.0.0.1 ::ffff:127.0.0.1",
	  "127.0.0.2 126.0.0.1 ::1 ::127.0.0.1" },
	{ "10.0.0.0/8", 1, "10.0.0.0 10.1.2.3 10.255.255.255 ::ffff:10.9.9.9",
	  "11.0.0.1 9.255.255.255 ::a00:1" },
	{ "192.0.2.128/25", 1, "192.0.2.128 192.0.2.200 192.0.2.255",
	  "192.0.2.127 192.0.3.128" },
	{ "0.0.0.0/0", 1, "1.2.3.4 255.255.255.255 ::ffff:1.2.3.4",
	  "::1 2001:db8::1" },
	{ "::1", 1, "::1", "::2 127.0.0.1 ::" },
	{ "2001:db8::/32", 1, "2001:db8:: 2001:db8:ffff::1",
	  "2001:db9::1 2001:db7:ffff::1 192.0.2.1" },
	{ "2001:db8:0:2::/63", 1, "2001:db8:0:2::5 2001:db8:0:3::7",
	  "2001:db8:0:4::1 2001:db8:0:1::1" },
	{ "2001:db8:0:1::/63", 0, NULL, NULL },
	{ "::/0", 1, "::1 2001:db8::1 ::ffff:1.2.3.4", "1.2.3.4" },
	{ "::ffff:0:0/96", 1, "::ffff:192.0.2.1", "192.0.2.1" },
	{ "10.0.0.1/8", 0, NULL, NULL },
	{ "10.0.0.0/33", 0, NULL, NULL },
	{ "::1/129", 0, NULL, NULL },
	{ "10.0.0.0/", 0, NULL, NULL },
	{ "10.0.0.0/08", 0, NULL, NULL },
	{ "10.0.0.0/8x", 0, NULL, NULL },
	{ "10.0.0.0/-1", 0, NULL, NULL },
	{ "10.0.0.0/8/8", 0, NULL, NULL },
	{ "10.0.0.0/0008", 0, NULL, NULL },
	{ "/8", 0, NULL, NULL },
	{ "", 0, NULL, NULL },
	{ "10.0.0", 0, NULL, NULL },
	{ "localhost", 0, NULL, NULL },
	{ "10.0.0.0 ", 0, NULL, NULL },
};

/* Whether each address of the list is (want 1) or is not in net. */
static int
matches(const struct pp_net *net, const char *list, int want)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	char			 a[INET6_ADDRSTRLEN];
	const char		*s = list, *e;
	size_t			 n;

	while (*s != '\0') {
		e = strchr(s, ' ');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		if (n >= sizeof(a))
			return (0);
		memcpy(a, s, n);
		a[n] = '\0';
		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, a, &sin->sin_addr) == 1)
			sin->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1)
			sin6->sin6_family = AF_INET6;
		else
			return (0);
		if (pp_net_match(net, 1, (struct sockaddr *)&ss) != want) {
			printf("    # %s: %s\n", a, want ? "not in" : "in");
			return (0);
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	return (1);
}

static void
check_nets(void)
{
	struct pp_net		 net, two[2];
	struct sockaddr_in	 sin;
	const char		*why;
	char			 name[128];
	size_t			 i;
	int			 r;

	for (i = 0; i < nitems(nets); i++) {
		why = NULL;
		r = pp_net_parse(nets[i].net, &net, &why);
		(void)snprintf(name, sizeof(name), "proxyproto: network "
		    "\"%s\"", nets[i].net);
		if (!nets[i].ok) {
			UT_CHECK(name, r == -1 && why != NULL && *why != '\0');
			continue;
		}
		UT_CHECK(name, r == 0 && matches(&net, nets[i].in, 1) &&
		    matches(&net, nets[i].out, 0));
	}
	/* a list: any of its networks */
	(void)pp_net_parse("10.0.0.0/8", &two[0], &why);
	(void)pp_net_parse("192.0.2.7", &two[1], &why);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	(void)inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	r = pp_net_match(two, 2, (struct sockaddr *)&sin);
	(void)inet_pton(AF_INET, "192.0.2.8", &sin.sin_addr);
	UT_CHECK("proxyproto: a list of networks", r == 1 &&
	    pp_net_match(two, 2, (struct sockaddr *)&sin) == 0 &&
	    pp_net_match(two, 0, (struct sockaddr *)&sin) == 0);
	sin.sin_family = AF_UNIX;
	UT_CHECK("proxyproto: no network holds another family",
	    pp_net_match(two, 2, (struct sockaddr *)&sin) == 0);
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < nitems(headers); i++)
		check_header(&headers[i]);
	check_longest();
	check_nets();
	UT_EXIT();
}
