/*
 * fuzz_proxyproto.c: libFuzzer target for the PROXY protocol reader
 * (common/proxyproto.c), the bytes a trusted balancer sends in front of
 * a client's stream, and for the trusted networks' parser.
 *
 * Besides memory errors it checks what the listener relies on:
 * - an answer is PP_OK, PP_MORE or PP_ERR with a reason; PP_MORE only
 *   while fewer than PP_MAXLEN bytes came, so waiting is bounded;
 * - on PP_OK the header is inside the input and inside its version's
 *   bound, a v1 header ends in CRLF, addresses come in pairs of one
 *   family, and a v2 header's address block is the bytes it was read
 *   from;
 * - a prefix gets PP_MORE or the answer of the whole input, and once a
 *   prefix is answered every longer one gets the same answer;
 * - fed in pieces, the bytes get the same answer, with every byte of
 *   the header and none after it taken;
 * - a network that parses holds its own address and nothing of the
 *   other family.
 * Prefixes are parsed from exact-size copies so that ASan sees
 * overreads.
 *
 * Seeds: regress/fuzz/corpus/proxyproto/.
 */

#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"
#include "fuzz.h"

static enum pp_status	 fz_parse(const uint8_t *, size_t, struct pp_info *,
			    const char **);
static int		 fz_same(enum pp_status, const struct pp_info *,
			    enum pp_status, const struct pp_info *);
static void		 fz_info(const uint8_t *, size_t, enum pp_status,
			    const struct pp_info *, const char *);
static void		 fz_prefixes(const uint8_t *, size_t, enum pp_status,
			    const struct pp_info *);
static void		 fz_pieces(const uint8_t *, size_t, enum pp_status,
			    const struct pp_info *, size_t);
static void		 fz_net(const uint8_t *, size_t);

static enum pp_status
fz_parse(const uint8_t *buf, size_t len, struct pp_info *info,
    const char **why)
{
	enum pp_status	 st;
	uint8_t		*copy;

	copy = fz_copy(buf, len);
	memset(info, 0xa5, sizeof(*info));
	*why = NULL;
	st = pp_parse(copy, len, info, why);
	free(copy);
	return (st);
}

static int
fz_same(enum pp_status a, const struct pp_info *ia, enum pp_status b,
    const struct pp_info *ib)
{
	if (a != b)
		return (0);
	if (a != PP_OK)
		return (1);
	if (ia->len != ib->len || ia->version != ib->version ||
	    ia->local != ib->local)
		return (0);
	if (ia->local)
		return (1);
	return (memcmp(&ia->src, &ib->src, sizeof(ia->src)) == 0 &&
	    memcmp(&ia->dst, &ib->dst, sizeof(ia->dst)) == 0);
}

/* What must hold of one answer on its own. */
static void
fz_info(const uint8_t *data, size_t size, enum pp_status st,
    const struct pp_info *info, const char *why)
{
	const struct sockaddr_in	*s4, *d4;
	const struct sockaddr_in6	*s6, *d6;

	FZ_ASSERT(st == PP_OK || st == PP_MORE || st == PP_ERR);
	if (st == PP_ERR)
		FZ_ASSERT(why != NULL && why[0] != '\0');
	if (st == PP_MORE)
		FZ_ASSERT(size < PP_MAXLEN);
	if (st != PP_OK)
		return;
	FZ_ASSERT(info->len > 0 && info->len <= size &&
	    info->len <= PP_MAXLEN);
	if (info->version == 1) {
		FZ_ASSERT(info->len <= PP_V1_MAXLEN && info->len >= 8);
		FZ_ASSERT(memcmp(data, "PROXY ", 6) == 0);
		FZ_ASSERT(data[info->len - 2] == '\r' &&
		    data[info->len - 1] == '\n');
		FZ_ASSERT(memchr(data, '\n', info->len - 1) == NULL);
	} else {
		FZ_ASSERT(info->version == 2);
		FZ_ASSERT(info->len >= PP_V2_HDRLEN &&
		    info->len == PP_V2_HDRLEN +
		    ((size_t)data[14] << 8 | data[15]));
	}
	if (info->local)
		return;
	FZ_ASSERT(info->src.ss_family == info->dst.ss_family);
	if (info->src.ss_family == AF_INET) {
		s4 = (const struct sockaddr_in *)&info->src;
		d4 = (const struct sockaddr_in *)&info->dst;
		if (info->version == 2)
			FZ_ASSERT(data[13] == 0x11 &&
			    memcmp(&s4->sin_addr, data + 16, 4) == 0 &&
			    memcmp(&d4->sin_addr, data + 20, 4) == 0 &&
			    memcmp(&s4->sin_port, data + 24, 2) == 0 &&
			    memcmp(&d4->sin_port, data + 26, 2) == 0);
		else
			FZ_ASSERT(memcmp(data + 6, "TCP4 ", 5) == 0);
	} else {
		FZ_ASSERT(info->src.ss_family == AF_INET6);
		s6 = (const struct sockaddr_in6 *)&info->src;
		d6 = (const struct sockaddr_in6 *)&info->dst;
		if (info->version == 2)
			FZ_ASSERT(data[13] == 0x21 &&
			    memcmp(&s6->sin6_addr, data + 16, 16) == 0 &&
			    memcmp(&d6->sin6_addr, data + 32, 16) == 0 &&
			    memcmp(&s6->sin6_port, data + 48, 2) == 0 &&
			    memcmp(&d6->sin6_port, data + 50, 2) == 0);
		else
			FZ_ASSERT(memcmp(data + 6, "TCP6 ", 5) == 0);
	}
}

/* Prefixes: PP_MORE, then from some length on the same answer. */
static void
fz_prefixes(const uint8_t *data, size_t size, enum pp_status st,
    const struct pp_info *info)
{
	struct pp_info	 pinfo;
	enum pp_status	 pst;
	const char	*why;
	size_t		 k, end;
	int		 answered = 0;

	end = size < PP_MAXLEN + 1 ? size : PP_MAXLEN + 1;
	for (k = 0; k < end; k++) {
		pst = fz_parse(data, k, &pinfo, &why);
		fz_info(data, k, pst, &pinfo, why);
		if (pst == PP_MORE) {
			FZ_ASSERT(!answered);
			continue;
		}
		answered = 1;
		FZ_ASSERT(fz_same(pst, &pinfo, st, info));
		if (st == PP_OK)
			FZ_ASSERT(k >= info->len);
	}
}

/* pp_feed() in pieces of 1 to step bytes, sizes taken from the data. */
static void
fz_pieces(const uint8_t *data, size_t size, enum pp_status st,
    const struct pp_info *info, size_t step)
{
	static struct pp_parser	 p;
	struct pp_info		 finfo;
	enum pp_status		 fst = PP_MORE;
	uint8_t			*copy;
	size_t			 off = 0, n, used, took = 0;

	memset(&finfo, 0, sizeof(finfo));
	pp_init(&p);
	while (off < size) {
		n = 1 + data[(off * 31) % size] % step;
		if (n > size - off)
			n = size - off;
		if ((copy = malloc(n)) == NULL)
			abort();
		memcpy(copy, data + off, n);
		memset(&finfo, 0xa5, sizeof(finfo));
		fst = pp_feed(&p, copy, n, &used, &finfo);
		free(copy);
		FZ_ASSERT(used <= n);
		if (fst == PP_MORE)
			FZ_ASSERT(used == n);
		took += used;
		off += n;
	}
	FZ_ASSERT(fz_same(fst, &finfo, st, info));
	if (st == PP_OK)
		FZ_ASSERT(took == info->len);
	if (st == PP_MORE)
		FZ_ASSERT(took == size);
}

/* The input, up to a NUL, as a network. */
static void
fz_net(const uint8_t *data, size_t size)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct pp_net		 net;
	const char		*why = NULL;
	char			 s[PP_NETSTRLEN];
	size_t			 n, i;

	n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	if (pp_net_parse(s, &net, &why) == -1) {
		FZ_ASSERT(why != NULL && why[0] != '\0');
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (net.family == AF_INET) {
		FZ_ASSERT(net.plen <= 32);
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, net.addr, 4);
	} else {
		FZ_ASSERT(net.family == AF_INET6 && net.plen <= 128);
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, net.addr, 16);
	}
	for (i = net.plen; i < (net.family == AF_INET ? 32U : 128U); i++)
		FZ_ASSERT((net.addr[i / 8] & (0x80 >> (i % 8))) == 0);
	FZ_ASSERT(pp_net_match(&net, 1, (struct sockaddr *)&ss));
	/* an address of the other family, not mapped: never in it */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = net.family == AF_INET ? AF_INET6 : AF_INET;
	if (ss.ss_family == AF_INET6)
		sin6->sin6_addr.s6_addr[0] = 0x20;
	FZ_ASSERT(!pp_net_match(&net, 1, (struct sockaddr *)&ss));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_info	 info;
	enum pp_status	 st;
	const char	*why;

	st = fz_parse(data, size, &info, &why);
	fz_info(data, size, st, &info, why);
	fz_prefixes(data, size, st, &info);
	fz_pieces(data, size, st, &info, 1);
	fz_pieces(data, size, st, &info, 1 + size % 61);
	fz_net(data, size);
	return (0);
}
