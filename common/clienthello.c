/*
 * clienthello.c: the strict ClientHello reader of the data path.  It
 * owns the one place where untrusted bytes from a client are looked at
 * before a connection is relayed: it finds the SNI host name without
 * terminating TLS and says, as early as the bytes allow, why a client
 * is refused.
 *
 * The parser keeps no state between calls: the caller hands it all the
 * bytes received so far and calls again with more on CH_MORE.  A reader
 * walks the handshake message across record boundaries in place, so
 * nothing is copied or allocated, and every length is checked against
 * its enclosing length before the bytes it covers are needed.  Because
 * a decision only ever depends on bytes already read, a shorter buffer
 * yields either CH_MORE or the same answer as the longer one.
 *
 * Choices beyond the RFCs' grammar:
 * - Only the first record decides whether this is TLS at all.  A later
 *   record that does not continue the handshake (another content type,
 *   a version outside 0x0301..0x0304, no payload) makes the hello
 *   malformed, as does a record that goes on past the end of the
 *   ClientHello (a second handshake message in the same record): the
 *   hello must end on a record boundary, so consumed ends on one too.
 *   Records after the hello are the caller's and are not looked at.
 * - maxlen bounds the record bytes, headers included.  The reader keeps
 *   a lower bound of where the hello can end at the earliest and gives
 *   up with CH_ERR_TOOBIG as soon as that bound passes maxlen, so
 *   CH_MORE only comes back while len < maxlen.
 * - A server_name entry of an unknown name_type is skipped (read as a
 *   16-bit length and opaque bytes); two host_name entries are
 *   malformed, none at all is CH_ERR_NOSNI.  An empty host_name is a bad
 *   name, not a malformed hello.
 * - A name made only of digits and dots is taken for an IPv4 literal.
 * - CH_ERR_NOSNI and CH_ERR_BADNAME are only answered for a whole,
 *   well-formed hello, so the caller can tell them from garbage.
 */

#include <string.h>

#include "clienthello.h"

#define TLS_CT_HANDSHAKE	22
#define TLS_CT_ALERT		21
#define TLS_HS_CLIENT_HELLO	1
#define TLS_RECORD_HDRLEN	5
#define TLS_RECORD_MAX		(16384 + 256)
#define TLS_HS_HDRLEN		4
#define TLS_RANDOM_LEN		32
#define TLS_SESSIONID_MAX	32
#define TLS_EXT_SERVER_NAME	0
#define TLS_SNI_HOST_NAME	0
#define DNS_LABELMAX		63

/* A cursor over the handshake bytes carried by consecutive records. */
struct chreader {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 maxlen;
	size_t		 off;		/* next unread byte of buf */
	size_t		 recleft;	/* payload left in the current record */
	size_t		 hpos;		/* handshake bytes read so far */
	size_t		 hend;		/* message length, 0 until known */
	int		 nrec;		/* records started */
};

/* What the server_name extension held. */
struct chname {
	char		 name[CH_NAMEMAX + 1];
	size_t		 len;		/* may exceed CH_NAMEMAX */
	int		 found;
};

static enum ch_status	 ch_bounds(struct chreader *);
static enum ch_status	 ch_record(struct chreader *);
static enum ch_status	 ch_byte(struct chreader *, uint8_t *);
static enum ch_status	 ch_num(struct chreader *, size_t, size_t,
			    uint32_t *);
static enum ch_status	 ch_skip(struct chreader *, size_t, size_t);
static enum ch_status	 ch_copy(struct chreader *, size_t, size_t, char *,
			    size_t);
static enum ch_status	 ch_sni(struct chreader *, size_t, struct chname *);
static enum ch_status	 ch_exts(struct chreader *, struct chname *);
static enum ch_status	 ch_body(struct chreader *, uint16_t *,
			    struct chname *);
static int		 ch_namecheck(const char *, size_t);

/*
 * Once the message length is known, the current record may not go on
 * past the hello, and the hello may not end past maxlen: it ends at the
 * end of this record, or at least one header and the rest later.
 */
static enum ch_status
ch_bounds(struct chreader *r)
{
	size_t	 end, rest;

	end = r->off + r->recleft;
	if (r->hend != 0) {
		rest = r->hend - r->hpos;
		if (rest < r->recleft)
			return (CH_ERR_MALFORMED);
		if (rest > r->recleft)
			end += TLS_RECORD_HDRLEN + (rest - r->recleft);
	}
	if (end > r->maxlen)
		return (CH_ERR_TOOBIG);
	return (CH_OK);
}

/* Start the next record: every header byte is judged once it is here. */
static enum ch_status
ch_record(struct chreader *r)
{
	const uint8_t	*p;
	size_t		 avail = r->len - r->off, reclen;
	int		 first = (r->nrec == 0);

	/* The smallest record must fit: CH_MORE stays below maxlen. */
	if (r->off + TLS_RECORD_HDRLEN + 1 > r->maxlen)
		return (CH_ERR_TOOBIG);
	if (avail < 1)
		return (CH_MORE);
	p = r->buf + r->off;
	if (p[0] != TLS_CT_HANDSHAKE)
		return (first ? CH_ERR_NOTTLS : CH_ERR_MALFORMED);
	if (avail < 2)
		return (CH_MORE);
	if (p[1] != 3)
		return (first ? CH_ERR_NOTTLS : CH_ERR_MALFORMED);
	if (avail < 3)
		return (CH_MORE);
	if (!first && (p[2] < 1 || p[2] > 4))
		return (CH_ERR_MALFORMED);
	if (p[2] == 0)
		return (CH_ERR_VERSION);
	if (p[2] > 4)
		return (CH_ERR_NOTTLS);
	if (avail < TLS_RECORD_HDRLEN)
		return (CH_MORE);
	reclen = (size_t)p[3] << 8 | p[4];
	if (reclen == 0 || reclen > TLS_RECORD_MAX)
		return (CH_ERR_MALFORMED);

	r->off += TLS_RECORD_HDRLEN;
	r->recleft = reclen;
	r->nrec++;
	return (ch_bounds(r));
}

static enum ch_status
ch_byte(struct chreader *r, uint8_t *b)
{
	enum ch_status	 st;

	while (r->recleft == 0)
		if ((st = ch_record(r)) != CH_OK)
			return (st);
	if (r->off >= r->len)
		return (CH_MORE);
	*b = r->buf[r->off++];
	r->recleft--;
	r->hpos++;
	return (CH_OK);
}

/* Read a big-endian number of n bytes that must end by limit. */
static enum ch_status
ch_num(struct chreader *r, size_t n, size_t limit, uint32_t *v)
{
	enum ch_status	 st;
	uint8_t		 b;

	if (n > limit - r->hpos)
		return (CH_ERR_MALFORMED);
	*v = 0;
	while (n-- > 0) {
		if ((st = ch_byte(r, &b)) != CH_OK)
			return (st);
		*v = *v << 8 | b;
	}
	return (CH_OK);
}

/* Step over n bytes that must end by limit, a record's worth at a time. */
static enum ch_status
ch_skip(struct chreader *r, size_t n, size_t limit)
{
	enum ch_status	 st;
	size_t		 chunk;

	if (n > limit - r->hpos)
		return (CH_ERR_MALFORMED);
	while (n > 0) {
		while (r->recleft == 0)
			if ((st = ch_record(r)) != CH_OK)
				return (st);
		chunk = n;
		if (chunk > r->recleft)
			chunk = r->recleft;
		if (chunk > r->len - r->off)
			chunk = r->len - r->off;
		if (chunk == 0)
			return (CH_MORE);
		r->off += chunk;
		r->recleft -= chunk;
		r->hpos += chunk;
		n -= chunk;
	}
	return (CH_OK);
}

/* Read n bytes that must end by limit; keep the first size of them. */
static enum ch_status
ch_copy(struct chreader *r, size_t n, size_t limit, char *dst, size_t size)
{
	enum ch_status	 st;
	size_t		 i;
	uint8_t		 b;

	if (n > limit - r->hpos)
		return (CH_ERR_MALFORMED);
	for (i = 0; i < n && i < size; i++) {
		if ((st = ch_byte(r, &b)) != CH_OK)
			return (st);
		dst[i] = (char)b;
	}
	return (ch_skip(r, n - i, limit));
}

/* The server_name extension (RFC 6066, section 3), ending at end. */
static enum ch_status
ch_sni(struct chreader *r, size_t end, struct chname *cn)
{
	enum ch_status	 st;
	uint32_t	 listlen, type, namelen;

	if ((st = ch_num(r, 2, end, &listlen)) != CH_OK)
		return (st);
	if (listlen == 0 || listlen != end - r->hpos)
		return (CH_ERR_MALFORMED);
	while (r->hpos < end) {
		if ((st = ch_num(r, 1, end, &type)) != CH_OK ||
		    (st = ch_num(r, 2, end, &namelen)) != CH_OK)
			return (st);
		if (type != TLS_SNI_HOST_NAME) {
			if ((st = ch_skip(r, namelen, end)) != CH_OK)
				return (st);
			continue;
		}
		if (cn->found)
			return (CH_ERR_MALFORMED);
		cn->found = 1;
		cn->len = namelen;
		if ((st = ch_copy(r, namelen, end, cn->name,
		    CH_NAMEMAX)) != CH_OK)
			return (st);
	}
	return (CH_OK);
}

/* The extensions block, which must fill the rest of the message. */
static enum ch_status
ch_exts(struct chreader *r, struct chname *cn)
{
	uint8_t		 seen[65536 / 8];	/* a bit per type, no malloc */
	enum ch_status	 st;
	uint32_t	 extslen, type, extlen;

	if ((st = ch_num(r, 2, r->hend, &extslen)) != CH_OK)
		return (st);
	if (extslen != r->hend - r->hpos)
		return (CH_ERR_MALFORMED);
	memset(seen, 0, sizeof(seen));
	while (r->hpos < r->hend) {
		if ((st = ch_num(r, 2, r->hend, &type)) != CH_OK ||
		    (st = ch_num(r, 2, r->hend, &extlen)) != CH_OK)
			return (st);
		if (extlen > r->hend - r->hpos)
			return (CH_ERR_MALFORMED);
		if (seen[type / 8] & (1U << (type % 8)))
			return (CH_ERR_MALFORMED);
		seen[type / 8] |= 1U << (type % 8);
		if (type == TLS_EXT_SERVER_NAME)
			st = ch_sni(r, r->hpos + extlen, cn);
		else
			st = ch_skip(r, extlen, r->hend);
		if (st != CH_OK)
			return (st);
	}
	return (CH_OK);
}

/* The ClientHello body (RFC 8446, section 4.1.2). */
static enum ch_status
ch_body(struct chreader *r, uint16_t *version, struct chname *cn)
{
	enum ch_status	 st;
	uint32_t	 v;

	if ((st = ch_num(r, 2, r->hend, &v)) != CH_OK)
		return (st);
	if (v < 0x0301)
		return (CH_ERR_VERSION);
	*version = (uint16_t)v;
	if ((st = ch_skip(r, TLS_RANDOM_LEN, r->hend)) != CH_OK)
		return (st);

	if ((st = ch_num(r, 1, r->hend, &v)) != CH_OK)
		return (st);
	if (v > TLS_SESSIONID_MAX)
		return (CH_ERR_MALFORMED);
	if ((st = ch_skip(r, v, r->hend)) != CH_OK)
		return (st);

	if ((st = ch_num(r, 2, r->hend, &v)) != CH_OK)
		return (st);
	if (v < 2 || v % 2 != 0)
		return (CH_ERR_MALFORMED);
	if ((st = ch_skip(r, v, r->hend)) != CH_OK)
		return (st);

	if ((st = ch_num(r, 1, r->hend, &v)) != CH_OK)
		return (st);
	if (v < 1)
		return (CH_ERR_MALFORMED);
	if ((st = ch_skip(r, v, r->hend)) != CH_OK)
		return (st);

	/* Extensions may only be left out by ending the message here. */
	if (r->hpos == r->hend)
		return (CH_OK);
	return (ch_exts(r, cn));
}

/*
 * A host name as RFC 6066 wants it: a DNS name in LDH labels, no
 * trailing dot, no IPv4 literal.
 */
static int
ch_namecheck(const char *s, size_t n)
{
	size_t	 i, label = 0;
	int	 numeric = 1;
	char	 c;

	if (n < 1 || n > CH_NAMEMAX)
		return (0);
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return (0);
			numeric = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			numeric = 0;
		else if (c < '0' || c > '9')
			return (0);
		if (++label > DNS_LABELMAX)
			return (0);
	}
	if (label == 0 || s[n - 1] == '-')
		return (0);
	return (!numeric);
}

enum ch_status
ch_parse(const uint8_t *buf, size_t len, size_t maxlen, struct ch_info *info)
{
	struct chreader	 r;
	struct chname	 cn;
	enum ch_status	 st;
	uint32_t	 v;
	uint16_t	 version = 0;
	size_t		 i;

	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.len = len;
	r.maxlen = maxlen == 0 ? CH_MAXLEN : maxlen;
	memset(&cn, 0, sizeof(cn));

	if ((st = ch_num(&r, 1, SIZE_MAX, &v)) != CH_OK)
		return (st);
	if (v != TLS_HS_CLIENT_HELLO)
		return (CH_ERR_NOTHELLO);
	if ((st = ch_num(&r, 3, SIZE_MAX, &v)) != CH_OK)
		return (st);
	r.hend = TLS_HS_HDRLEN + (size_t)v;
	if ((st = ch_bounds(&r)) != CH_OK)
		return (st);
	if ((st = ch_body(&r, &version, &cn)) != CH_OK)
		return (st);

	/* ch_bounds() saw to it that the last record ends with the hello. */
	info->consumed = r.off;
	info->version = version;
	info->sni[0] = '\0';
	if (!cn.found)
		return (CH_ERR_NOSNI);
	if (!ch_namecheck(cn.name, cn.len))
		return (CH_ERR_BADNAME);
	for (i = 0; i < cn.len; i++) {
		if (cn.name[i] >= 'A' && cn.name[i] <= 'Z')
			info->sni[i] = cn.name[i] - 'A' + 'a';
		else
			info->sni[i] = cn.name[i];
	}
	info->sni[i] = '\0';
	return (CH_OK);
}

const char *
ch_strerror(enum ch_status st)
{
	switch (st) {
	case CH_OK:
		return ("ok");
	case CH_MORE:
		return ("incomplete ClientHello");
	case CH_ERR_NOTTLS:
		return ("not a TLS handshake");
	case CH_ERR_VERSION:
		return ("TLS version too old");
	case CH_ERR_NOTHELLO:
		return ("not a ClientHello");
	case CH_ERR_MALFORMED:
		return ("malformed ClientHello");
	case CH_ERR_TOOBIG:
		return ("ClientHello too big");
	case CH_ERR_NOSNI:
		return ("no server name");
	case CH_ERR_BADNAME:
		return ("bad server name");
	}
	return ("unknown ClientHello status");
}

size_t
ch_alert(uint8_t out[TLS_ALERT_LEN], uint8_t description)
{
	out[0] = TLS_CT_ALERT;
	out[1] = 3;
	out[2] = 3;
	out[3] = 0;
	out[4] = 2;
	out[5] = 2;		/* fatal */
	out[6] = description;
	return (TLS_ALERT_LEN);
}
