/*
 * clienthello.c: the strict ClientHello reader of the data path.  It
 * owns the one place where untrusted bytes from a client are looked at
 * before a connection is relayed: it finds the SNI host name without
 * terminating TLS and says, as early as the bytes allow, why a client
 * is refused.
 *
 * The parser is a state machine in two layers, so that the bytes can
 * come in pieces of any size and each is looked at once: the record
 * layer gathers record headers and hands the payload on, the message
 * layer reads the handshake message a field at a time (a number, bytes
 * to step over, the host name) and keeps what it still needs: nothing
 * is copied but the host name, nothing allocated.  Every length is
 * checked against its enclosing length when the field that holds it is
 * whole, before the bytes it covers are needed.  Because a decision
 * only ever depends on bytes already read, fewer bytes yield either
 * CH_MORE or the same answer as more.
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
 *   CH_MORE only comes back while fewer than maxlen bytes were fed.
 * - A server_name entry of an unknown name_type is skipped (read as a
 *   16-bit length and opaque bytes); two host_name entries are
 *   malformed, none at all is CH_ERR_NOSNI.  An empty host_name is a bad
 *   name, not a malformed hello.
 * - A name made only of digits and dots is taken for an IPv4 literal.
 * - CH_ERR_NOSNI and CH_ERR_BADNAME are only answered for a whole,
 *   well-formed hello, so the caller can tell them from garbage.
 */

#include <stddef.h>
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

/*
 * The field of the handshake message being read.  A number field is
 * gathered into acc, a skipped one only counted, the host name copied.
 */
enum ch_state {
	S_HSTYPE,		/* number fields */
	S_HSLEN,
	S_VERSION,
	S_SIDLEN,
	S_CSLEN,
	S_COMPLEN,
	S_EXTSLEN,
	S_EXTTYPE,
	S_EXTLEN,
	S_SNILIST,
	S_SNITYPE,
	S_SNINAMELEN,
	S_RANDOM,		/* skipped fields */
	S_SID,
	S_CS,
	S_COMP,
	S_EXTBODY,
	S_SNIOTHER,
	S_SNINAME,		/* the host name */
	S_DONE,			/* the whole message is read */
};

#define S_ISNUM(s)	((s) <= S_SNINAMELEN)

static enum ch_status	 ch_bounds(struct ch_parser *);
static enum ch_status	 ch_header(struct ch_parser *, const uint8_t *,
			    size_t, size_t *);
static enum ch_status	 ch_field(struct ch_parser *, enum ch_state, size_t,
			    size_t);
static enum ch_status	 ch_nextext(struct ch_parser *);
static enum ch_status	 ch_nextentry(struct ch_parser *);
static enum ch_status	 ch_next(struct ch_parser *);
static enum ch_status	 ch_take(struct ch_parser *, const uint8_t *,
			    size_t, size_t *);
static enum ch_status	 ch_result(struct ch_parser *, struct ch_info *);
static int		 ch_namecheck(const char *, size_t);

/*
 * Once the message length is known, the current record may not go on
 * past the hello, and the hello may not end past maxlen: it ends at the
 * end of this record, or at least one header and the rest later.
 */
static enum ch_status
ch_bounds(struct ch_parser *p)
{
	size_t	 end, rest;

	end = p->pos + p->recleft;
	if (p->hend != 0) {
		rest = p->hend - p->hpos;
		if (rest < p->recleft)
			return (CH_ERR_MALFORMED);
		if (rest > p->recleft)
			end += TLS_RECORD_HDRLEN + (rest - p->recleft);
	}
	if (end > p->maxlen)
		return (CH_ERR_TOOBIG);
	return (CH_OK);
}

/*
 * Gather the next record header from data[*off..len): each byte is
 * judged as soon as it is here, the length once the header is whole.
 */
static enum ch_status
ch_header(struct ch_parser *p, const uint8_t *data, size_t len, size_t *off)
{
	size_t		 reclen;
	uint8_t		 b;
	int		 first = (p->nrec == 0);

	/* The smallest record must fit: CH_MORE stays below maxlen. */
	if (p->pos - p->hdrlen + TLS_RECORD_HDRLEN + 1 > p->maxlen)
		return (CH_ERR_TOOBIG);
	while (p->hdrlen < TLS_RECORD_HDRLEN) {
		if (*off == len)
			return (CH_MORE);
		b = data[(*off)++];
		p->pos++;
		p->work++;
		p->hdr[p->hdrlen++] = b;
		switch (p->hdrlen) {
		case 1:
			if (b != TLS_CT_HANDSHAKE)
				return (first ? CH_ERR_NOTTLS :
				    CH_ERR_MALFORMED);
			break;
		case 2:
			if (b != 3)
				return (first ? CH_ERR_NOTTLS :
				    CH_ERR_MALFORMED);
			break;
		case 3:
			if (!first && (b < 1 || b > 4))
				return (CH_ERR_MALFORMED);
			if (b == 0)
				return (CH_ERR_VERSION);
			if (b > 4)
				return (CH_ERR_NOTTLS);
			break;
		}
	}
	reclen = (size_t)p->hdr[3] << 8 | p->hdr[4];
	if (reclen == 0 || reclen > TLS_RECORD_MAX)
		return (CH_ERR_MALFORMED);
	p->hdrlen = 0;
	p->recleft = reclen;
	p->nrec++;
	return (ch_bounds(p));
}

/* Go on with a field of n bytes that must end by limit. */
static enum ch_status
ch_field(struct ch_parser *p, enum ch_state state, size_t n, size_t limit)
{
	if (n > limit - p->hpos)
		return (CH_ERR_MALFORMED);
	p->work++;
	p->state = state;
	p->need = n;
	p->acc = 0;
	return (CH_OK);
}

/* The next extension, or the end of the message. */
static enum ch_status
ch_nextext(struct ch_parser *p)
{
	if (p->hpos < p->hend)
		return (ch_field(p, S_EXTTYPE, 2, p->hend));
	p->state = S_DONE;
	return (CH_OK);
}

/* The next server_name entry, or the next extension. */
static enum ch_status
ch_nextentry(struct ch_parser *p)
{
	if (p->hpos < p->sniend)
		return (ch_field(p, S_SNITYPE, 1, p->sniend));
	return (ch_nextext(p));
}

/*
 * A field is whole: judge it and say what comes next.  The grammar is
 * the ClientHello body of RFC 8446, section 4.1.2, and the server_name
 * extension of RFC 6066, section 3.
 */
static enum ch_status
ch_next(struct ch_parser *p)
{
	enum ch_status	 st;
	uint32_t	 v = p->acc;

	switch (p->state) {
	case S_HSTYPE:
		if (v != TLS_HS_CLIENT_HELLO)
			return (CH_ERR_NOTHELLO);
		return (ch_field(p, S_HSLEN, 3, SIZE_MAX));
	case S_HSLEN:
		p->hend = TLS_HS_HDRLEN + (size_t)v;
		if ((st = ch_bounds(p)) != CH_OK)
			return (st);
		return (ch_field(p, S_VERSION, 2, p->hend));
	case S_VERSION:
		if (v < 0x0301)
			return (CH_ERR_VERSION);
		p->version = (uint16_t)v;
		return (ch_field(p, S_RANDOM, TLS_RANDOM_LEN, p->hend));
	case S_RANDOM:
		return (ch_field(p, S_SIDLEN, 1, p->hend));
	case S_SIDLEN:
		if (v > TLS_SESSIONID_MAX)
			return (CH_ERR_MALFORMED);
		return (ch_field(p, S_SID, v, p->hend));
	case S_SID:
		return (ch_field(p, S_CSLEN, 2, p->hend));
	case S_CSLEN:
		if (v < 2 || v % 2 != 0)
			return (CH_ERR_MALFORMED);
		return (ch_field(p, S_CS, v, p->hend));
	case S_CS:
		return (ch_field(p, S_COMPLEN, 1, p->hend));
	case S_COMPLEN:
		if (v < 1)
			return (CH_ERR_MALFORMED);
		return (ch_field(p, S_COMP, v, p->hend));
	case S_COMP:
		/* Extensions may only be left out by ending here. */
		if (p->hpos == p->hend) {
			p->state = S_DONE;
			return (CH_OK);
		}
		return (ch_field(p, S_EXTSLEN, 2, p->hend));
	case S_EXTSLEN:
		/* The extensions block must fill the rest of the message. */
		if (v != p->hend - p->hpos)
			return (CH_ERR_MALFORMED);
		memset(p->seen, 0, sizeof(p->seen));
		return (ch_nextext(p));
	case S_EXTTYPE:
		p->exttype = v;
		return (ch_field(p, S_EXTLEN, 2, p->hend));
	case S_EXTLEN:
		if (v > p->hend - p->hpos)
			return (CH_ERR_MALFORMED);
		if (p->seen[p->exttype / 8] & (1U << (p->exttype % 8)))
			return (CH_ERR_MALFORMED);
		p->seen[p->exttype / 8] |= 1U << (p->exttype % 8);
		if (p->exttype != TLS_EXT_SERVER_NAME)
			return (ch_field(p, S_EXTBODY, v, p->hend));
		p->sniend = p->hpos + v;
		return (ch_field(p, S_SNILIST, 2, p->sniend));
	case S_EXTBODY:
		return (ch_nextext(p));
	case S_SNILIST:
		if (v == 0 || v != p->sniend - p->hpos)
			return (CH_ERR_MALFORMED);
		return (ch_nextentry(p));
	case S_SNITYPE:
		p->entrytype = v;
		return (ch_field(p, S_SNINAMELEN, 2, p->sniend));
	case S_SNINAMELEN:
		/* An unknown name_type is a 16-bit length and opaque bytes. */
		if (p->entrytype != TLS_SNI_HOST_NAME)
			return (ch_field(p, S_SNIOTHER, v, p->sniend));
		if (p->found)
			return (CH_ERR_MALFORMED);
		p->found = 1;
		p->namelen = v;
		return (ch_field(p, S_SNINAME, v, p->sniend));
	case S_SNIOTHER:
	case S_SNINAME:
		return (ch_nextentry(p));
	case S_DONE:
		break;
	}
	return (CH_ERR_MALFORMED);
}

/*
 * Take handshake bytes, at most the rest of the record, field by field;
 * *used says how many.  CH_MORE: all were taken and the message goes on.
 */
static enum ch_status
ch_take(struct ch_parser *p, const uint8_t *data, size_t len, size_t *used)
{
	enum ch_status	 st;
	size_t		 k = 0, n;

	while (p->state != S_DONE) {
		/* Fields of no bytes are whole at once. */
		if (p->need == 0) {
			if ((st = ch_next(p)) != CH_OK)
				break;
			continue;
		}
		if (k == len) {
			st = CH_MORE;
			break;
		}
		if (S_ISNUM(p->state)) {
			p->acc = p->acc << 8 | data[k];
			n = 1;
		} else if (p->state == S_SNINAME &&
		    p->namegot < CH_NAMEMAX) {
			p->name[p->namegot++] = (char)data[k];
			n = 1;
		} else {
			n = p->need;
			if (n > len - k)
				n = len - k;
		}
		k += n;
		p->need -= n;
		p->pos += n;
		p->recleft -= n;
		p->hpos += n;
		p->work += n;
	}
	if (p->state == S_DONE)
		st = CH_OK;
	*used = k;
	return (st);
}

/* The answer once the message is whole. */
static enum ch_status
ch_result(struct ch_parser *p, struct ch_info *info)
{
	size_t	 i;

	/* ch_bounds() saw to it that the last record ends with the hello. */
	info->consumed = p->pos;
	info->version = p->version;
	info->sni[0] = '\0';
	info->badname[0] = '\0';
	if (!p->found)
		return (CH_ERR_NOSNI);
	if (!ch_namecheck(p->name, p->namelen)) {
		memcpy(info->badname, p->name, p->namegot);
		info->badname[p->namegot] = '\0';
		return (CH_ERR_BADNAME);
	}
	for (i = 0; i < p->namelen; i++) {
		if (p->name[i] >= 'A' && p->name[i] <= 'Z')
			info->sni[i] = p->name[i] - 'A' + 'a';
		else
			info->sni[i] = p->name[i];
	}
	info->sni[i] = '\0';
	return (CH_OK);
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

void
ch_init(struct ch_parser *p, size_t maxlen)
{
	/* The bitmap is cleared where the extensions start. */
	memset(p, 0, offsetof(struct ch_parser, seen));
	p->maxlen = maxlen == 0 ? CH_MAXLEN : maxlen;
	p->status = CH_MORE;
	p->state = S_HSTYPE;
	p->need = 1;
}

enum ch_status
ch_feed(struct ch_parser *p, const uint8_t *data, size_t len,
    struct ch_info *info)
{
	enum ch_status	 st;
	size_t		 off = 0, n, used;

	while (p->status == CH_MORE) {
		if (p->recleft == 0) {
			/* A record ended and the message goes on. */
			if ((st = ch_header(p, data, len, &off)) == CH_OK)
				continue;
		} else if (off == len) {
			/* No field is ever left whole and unjudged. */
			st = CH_MORE;
		} else {
			n = p->recleft;
			if (n > len - off)
				n = len - off;
			st = ch_take(p, data + off, n, &used);
			off += used;
			if (st == CH_MORE && p->recleft == 0)
				continue;
		}
		if (st != CH_MORE)
			p->status = st;
		break;
	}
	if (p->state == S_DONE)
		return (ch_result(p, info));
	return (p->status);
}

enum ch_status
ch_parse(const uint8_t *buf, size_t len, size_t maxlen, struct ch_info *info)
{
	struct ch_parser	 p;

	ch_init(&p, maxlen);
	return (ch_feed(&p, buf, len, info));
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
