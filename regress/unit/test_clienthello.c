/*
 * test_clienthello.c: unit tests of the ClientHello/SNI parser.
 *
 * One real hello, captured from openssl s_client, checks the parser on
 * what clients send; the builder of hello.h makes hellos with one thing
 * wrong at a time.  Every parse runs on an exact-size heap copy so that the
 * sanitizers catch a read past len, and because ch_parse() keeps no
 * state, feeding every prefix covers every way TCP can segment a hello.
 *
 * The cases are two tables: reals[], the real hello cut into records,
 * patched, with bytes before or after it, or other bytes altogether;
 * built[], hellos the builder makes from a struct hopts.  Each row
 * names its check, says what ch_parse() must answer (for CH_OK: that
 * name, with consumed the hello's records, the whole input and every
 * prefix of it wanting more) and up to two more checks on the same
 * input (struct then).  Lengths and offsets written LEN(k) count from
 * the end of the input: LEN(0) is its length, LEN(-1) one less.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "clienthello.h"
#include "hello.h"
#include "unit.h"

/*
 * `openssl s_client -connect 127.0.0.1:port -servername
 * test.internal-server.local` (OpenSSL 3.0) against a listener that
 * dumped the first bytes: one record, TLS 1.3 capable, with key_share.
 */
static const uint8_t real_hello[] = {
	0x16, 0x03, 0x01, 0x01, 0x47, 0x01, 0x00, 0x01, 0x43, 0x03, 0x03, 0x42,
	0x08, 0x25, 0x38, 0xbf, 0xfc, 0x59, 0x17, 0x40, 0x0d, 0x48, 0x8a, 0x1d,
	0x36, 0xaa, 0x79, 0x04, 0x12, 0xd3, 0xe8, 0x16, 0xbd, 0x9c, 0x8f, 0xdd,
	0xe1, 0xe7, 0x8f, 0x75, 0xee, 0x4d, 0x84, 0x20, 0x97, 0x1a, 0x5b, 0x9a,
	0x6c, 0xf7, 0xff, 0xd6, 0x88, 0x8a, 0x67, 0xc6, 0x88, 0x7e, 0xba, 0x1e,
	0xce, 0x85, 0x5e, 0xbf, 0x9f, 0x44, 0x72, 0x11, 0xc0, 0xd8, 0x83, 0xf6,
	0xd8, 0xc8, 0x49, 0x89, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xbc,
	0x00, 0x00, 0x00, 0x1f, 0x00, 0x1d, 0x00, 0x00, 0x1a, 0x74, 0x65, 0x73,
	0x74, 0x2e, 0x69, 0x6e, 0x74, 0x65, 0x72, 0x6e, 0x61, 0x6c, 0x2d, 0x73,
	0x65, 0x72, 0x76, 0x65, 0x72, 0x2e, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00,
	0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00,
	0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01,
	0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00,
	0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00,
	0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08,
	0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08,
	0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03,
	0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08,
	0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02,
	0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
	0xd1, 0x67, 0x8a, 0xdb, 0x29, 0x07, 0x7b, 0xeb, 0x38, 0x2c, 0x26, 0x60,
	0xf5, 0x4e, 0x1e, 0x83, 0xde, 0x6a, 0x9c, 0x96, 0xe5, 0xd7, 0x5c, 0xf2,
	0x2a, 0xee, 0xe8, 0xd1, 0x08, 0x38, 0x27, 0x70
};

#define REAL_SNI	"test.internal-server.local"
#define RELATIVE	(-100000L)
#define LEN(k)		(RELATIVE + (k))

/* A check more on the input of a row: the status, and ... */
struct then {
	enum {
		T_NONE,
		T_DECIDED,	/* the shortest prefix answered is v */
		T_DECIDED_BEFORE, /* it is shorter than v */
		T_MORE,		/* every proper prefix wants more */
		T_MORE_AT,	/* the first v bytes want more */
		T_VERSION,	/* info.version is v */
		T_CONSUMED,	/* consumed is the hello's records,
				 * version 0x0303, no name (CH_OK: any) */
		T_SNI,		/* info.sni is s */
		T_NREC,		/* the hello takes v records */
	}		 kind;
	const char	*name;
	long		 v;
	const char	*s;
};

#define DECIDED(name, v)	{ T_DECIDED, (name), (v), NULL }
#define DECIDED_BEFORE(name, v)	{ T_DECIDED_BEFORE, (name), (v), NULL }
#define MORE(name)		{ T_MORE, (name), 0, NULL }
#define MORE_AT(name, v)	{ T_MORE_AT, (name), (v), NULL }
#define VERSION(name, v)	{ T_VERSION, (name), (v), NULL }
#define CONSUMED(name)		{ T_CONSUMED, (name), 0, NULL }
#define SNI(name, s)		{ T_SNI, (name), 0, (s) }
#define NREC(name, v)		{ T_NREC, (name), (v), NULL }

/* The real hello, changed. */
struct rcase {
	const char	*name;
	const char	*hex;		/* these bytes instead of the hello */
	const char	*text;		/* or this text */
	size_t		 sizes[4];	/* records of these sizes in turn */
	struct {
		size_t	 at;		/* 0: no patch */
		uint8_t	 v;
	}		 patch[3];
	const char	*before;	/* hex bytes before the hello */
	const char	*after;		/* hex bytes after it */
	int		 twice;		/* then the real hello again */
	long		 len;		/* bytes parsed; 0: all */
	long		 maxlen;
	enum ch_status	 want;
	struct then	 then[2];
};

/* A built hello. */
struct bcase {
	const char	*name;		/* NULL: only the checks in then */
	struct hopts	 o;
	long		 maxlen;
	enum ch_status	 want;
	const char	*sni;		/* for CH_OK, if not names[0] */
	struct then	 then[2];
};

static void	 puthex(struct bld *, const char *);
static size_t	 rel(long, size_t);
static size_t	 build(const struct hopts *, struct bld *);
static enum ch_status parse(const uint8_t *, size_t, size_t,
		    struct ch_info *);
static size_t	 prefixes_not_more(const uint8_t *, size_t, size_t);
static size_t	 decided_at(const uint8_t *, size_t, size_t);
static enum ch_status name_status(const char *, struct ch_info *);
static int	 ok_with(const uint8_t *, size_t, size_t, const char *,
		    size_t);
static void	 check_input(const char *, const uint8_t *, size_t, size_t,
		    size_t, enum ch_status, const char *,
		    const struct then *);
static void	 test_real(void);
static void	 test_reals(void);
static void	 test_built(void);
static void	 test_names(void);
static void	 test_lengths(void);
static void	 test_misc(void);

static void
puthex(struct bld *b, const char *hex)
{
	b->n += ut_unhex(hex, b->b + b->n, BUFMAX - b->n);
}

/* A length or offset of a table: absolute, or LEN(k), n + k. */
static size_t
rel(long v, size_t n)
{
	if (v <= RELATIVE / 2)
		return (n + (v - RELATIVE));
	return ((size_t)v);
}

/* The hello o describes, in records, with what follows them. */
static size_t
build(const struct hopts *in, struct bld *out)
{
	static struct bld	 hs;
	struct hopts		 o;
	char			 name[BUFMAX / 4];
	size_t			 i;

	settle(in, &o, name);
	build_hs(&o, &hs);
	records(hs.b, hs.n, &o.recsize, o.recsize > 0, 0x0301, out);
	patch16(out, 3, (out->b[3] << 8 | out->b[4]) + o.d_rec);
	for (i = 0; i < o.trail; i++)
		put8(out, 0);
	return (out->n);
}

/* ch_parse() on an exact-size copy, so that ASan sees any overread. */
static enum ch_status
parse(const uint8_t *buf, size_t len, size_t maxlen, struct ch_info *info)
{
	struct ch_info	 dummy;
	enum ch_status	 st;
	uint8_t		*copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL) {
		perror("malloc");
		exit(2);
	}
	if (len > 0)
		memcpy(copy, buf, len);
	st = ch_parse(copy, len, maxlen, info != NULL ? info : &dummy);
	free(copy);
	return (st);
}

/* How many of the proper prefixes of buf do not ask for more. */
static size_t
prefixes_not_more(const uint8_t *buf, size_t len, size_t maxlen)
{
	size_t	 k, bad = 0;

	for (k = 0; k < len; k++)
		if (parse(buf, k, maxlen, NULL) != CH_MORE)
			bad++;
	return (bad);
}

/* The shortest prefix that gets an answer other than CH_MORE. */
static size_t
decided_at(const uint8_t *buf, size_t len, size_t maxlen)
{
	size_t	 k;

	for (k = 0; k <= len; k++)
		if (parse(buf, k, maxlen, NULL) != CH_MORE)
			return (k);
	return (SIZE_MAX);
}

/* CH_OK with this name and consumed, whole and fed byte by byte. */
static int
ok_with(const uint8_t *buf, size_t len, size_t maxlen, const char *sni,
    size_t consumed)
{
	struct ch_info	 info;

	memset(&info, 0xee, sizeof(info));
	if (parse(buf, len, maxlen, &info) != CH_OK)
		return (0);
	if (strcmp(info.sni, sni) != 0 || info.consumed != consumed)
		return (0);
	return (prefixes_not_more(buf, consumed, maxlen) == 0);
}

static enum ch_status
name_status(const char *name, struct ch_info *info)
{
	static struct bld	 out;
	struct hopts		 o;

	memset(&o, 0, sizeof(o));
	o.names[0] = name;
	build(&o, &out);
	return (parse(out.b, out.n, 0, info));
}

/*
 * The checks of one row on its input buf (len bytes, of which the
 * hello's records are the first hello): the row's own check, named
 * name unless that is NULL, and those in then[].
 */
static void
check_input(const char *name, const uint8_t *buf, size_t len, size_t hello,
    size_t maxlen, enum ch_status want, const char *sni,
    const struct then *then)
{
	struct ch_info	 info;
	enum ch_status	 st;
	char		 desc[200];
	size_t		 k;
	int		 ok = 0;

	memset(&info, 0x55, sizeof(info));
	st = parse(buf, len, maxlen, &info);
	if (name != NULL) {
		snprintf(desc, sizeof(desc), "clienthello: %s", name);
		if (want == CH_OK)
			UT_CHECK(desc, ok_with(buf, len, maxlen, sni, hello));
		else
			UT_CHECK(desc, st == want);
	}
	for (k = 0; k < 2 && then[k].kind != T_NONE; k++) {
		ok = 0;
		switch (then[k].kind) {
		case T_NONE:
			break;
		case T_DECIDED:
			ok = decided_at(buf, len, maxlen) ==
			    rel(then[k].v, len);
			break;
		case T_DECIDED_BEFORE:
			ok = decided_at(buf, len, maxlen) <
			    rel(then[k].v, len);
			break;
		case T_MORE:
			ok = prefixes_not_more(buf, len, maxlen) == 0;
			break;
		case T_MORE_AT:
			ok = parse(buf, rel(then[k].v, len), maxlen, NULL) ==
			    CH_MORE;
			break;
		case T_VERSION:
			ok = info.version == then[k].v;
			break;
		case T_CONSUMED:
			ok = info.consumed == hello &&
			    info.version == 0x0303 &&
			    (want == CH_OK || info.sni[0] == '\0');
			break;
		case T_SNI:
			ok = strcmp(info.sni, then[k].s) == 0;
			break;
		case T_NREC:
			/* each record has a 5-byte header */
			ok = hello == sizeof(real_hello) +
			    5 * ((size_t)then[k].v - 1);
			break;
		}
		snprintf(desc, sizeof(desc), "clienthello: %s", then[k].name);
		UT_CHECK(desc, st == want && ok);
	}
}

static void
test_real(void)
{
	struct ch_info	 info;
	enum ch_status	 st;

	memset(&info, 0, sizeof(info));
	st = parse(real_hello, sizeof(real_hello), 0, &info);
	UT_CHECK("clienthello: real openssl hello parses", st == CH_OK);
	UT_CHECK("clienthello: real hello sni",
	    strcmp(info.sni, REAL_SNI) == 0);
	UT_CHECK("clienthello: real hello consumed is the whole record",
	    info.consumed == sizeof(real_hello));
	UT_CHECK("clienthello: real hello client_version 0x0303",
	    info.version == 0x0303);
	UT_CHECK("clienthello: every prefix of the real hello wants more "
	    "(any segmentation)",
	    prefixes_not_more(real_hello, sizeof(real_hello), 0) == 0);
	UT_CHECK("clienthello: maxlen 0 means CH_MAXLEN",
	    parse(real_hello, sizeof(real_hello), CH_MAXLEN, NULL) == CH_OK);
}

static const struct rcase reals[] = {
	/* the hello in several records, each of them whole */
	{ "split into 2 records, whole and byte by byte",
	    .sizes = { 200 }, .want = CH_OK,
	    .then = { NREC("split into 2 records: 2 records", 2) } },
	{ "split into 3 records, whole and byte by byte",
	    .sizes = { 100, 150 }, .want = CH_OK,
	    .then = { NREC("split into 3 records: 3 records", 3) } },
	{ "handshake header alone in a record, whole and byte by byte",
	    .sizes = { 4, 400 }, .want = CH_OK,
	    .then = { NREC("handshake header alone in a record: 2 "
	    "records", 2) } },
	{ "handshake length split over records, whole and byte by byte",
	    .sizes = { 2, 1, 3, 400 }, .want = CH_OK,
	    .then = { NREC("handshake length split over records: 4 "
	    "records", 4) } },
	{ "split into records of 1, 7, 64, 3 bytes, whole and byte by byte",
	    .sizes = { 1, 7, 64, 3 }, .want = CH_OK },
	{ "split into 1-byte records, whole and byte by byte",
	    .sizes = { 1 }, .want = CH_OK,
	    .then = { NREC("split into 1-byte records: 327 records",
	    327) } },
	/* later records may carry another record version */
	{ "later record with version 0x0303", .sizes = { 100, 150 },
	    .patch = { { 106, 3 }, { 107, 3 } }, .want = CH_OK },

	/* what may follow the hello */
	{ "change_cipher_spec and application data after the hello, "
	    "consumed ends at the hello",
	    .after = "1403030001 01 1703030003 616263", .want = CH_OK },
	{ "partial record after the hello is fine",
	    .after = "1403030001 01 1703030003 616263",
	    .len = sizeof(real_hello) + 3, .want = CH_OK },
	{ "application data after a split hello", .sizes = { 50 },
	    .after = "1703030003 616263", .want = CH_OK },
	{ "a second hello record after the hello", .sizes = { 50 },
	    .twice = 1, .want = CH_OK },

	/* no TLS */
	{ "HTTP request is not TLS",
	    .text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    .want = CH_ERR_NOTTLS,
	    .then = { DECIDED("HTTP request refused from its first "
	    "byte", 1) } },
	{ "SSLv2 hello is not TLS",
	    .hex = "802e0103010015000000100700c0", .want = CH_ERR_NOTTLS,
	    .then = { DECIDED("SSLv2 hello refused from its first "
	    "byte", 1) } },
	{ "application data record is not a handshake",
	    .hex = "1703030005 0102030405", .want = CH_ERR_NOTTLS },
	{ "empty input wants more", .hex = "", .want = CH_MORE },

	/* the record header */
	{ "SSLv3 record version", .patch = { { 2, 0 } },
	    .want = CH_ERR_VERSION,
	    .then = { DECIDED("SSLv3 record version decided from 3 "
	    "bytes", 3) } },
	{ "record version 0x0305 is not TLS", .patch = { { 2, 5 } },
	    .want = CH_ERR_NOTTLS },
	{ "record version 0x0201 is not TLS",
	    .patch = { { 1, 2 }, { 2, 1 } }, .want = CH_ERR_NOTTLS },
	{ "record version 0x0304 accepted", .patch = { { 2, 4 } },
	    .want = CH_OK },
	{ "zero-length first record", .patch = { { 3, 0 }, { 4, 0 } },
	    .len = 5, .want = CH_ERR_MALFORMED },
	{ "record longer than 16384+256",
	    .patch = { { 3, (16384 + 256 + 1) >> 8 },
	    { 4, (16384 + 256 + 1) & 0xff } },
	    .len = 5, .want = CH_ERR_MALFORMED },

	/* later records must go on with the handshake */
	{ "alert record inside a split hello", .sizes = { 100 },
	    .patch = { { 105, 0x15 } }, .want = CH_ERR_MALFORMED },
	{ "SSLv3 version on a later record", .sizes = { 100 },
	    .patch = { { 107, 0 } }, .want = CH_ERR_MALFORMED },
	{ "zero-length later record", .sizes = { 100 },
	    .patch = { { 108, 0 }, { 109, 0 } }, .want = CH_ERR_MALFORMED },
	{ "zero-length record before the hello", .before = "1603010000",
	    .want = CH_ERR_MALFORMED },

	/* maxlen */
	{ "maxlen 100 is too small for the real hello", .maxlen = 100,
	    .want = CH_ERR_TOOBIG,
	    .then = { DECIDED("too big decided from the record header",
	    5) } },
	{ "maxlen equal to the hello is enough", .maxlen = LEN(0),
	    .want = CH_OK },
	{ "maxlen one byte short is too small", .maxlen = LEN(-1),
	    .want = CH_ERR_TOOBIG },
	{ "maxlen counts every record header", .sizes = { 1 },
	    .maxlen = LEN(0), .want = CH_OK },
	{ "1-byte records one byte over maxlen", .sizes = { 1 },
	    .maxlen = LEN(-1), .want = CH_ERR_TOOBIG,
	    .then = { DECIDED_BEFORE("1-byte records over maxlen "
	    "decided before the last record", LEN(0)) } },
	{ NULL, .sizes = { 1 }, .maxlen = 500, .want = CH_ERR_TOOBIG,
	    .then = { DECIDED_BEFORE("1-byte records, small maxlen "
	    "decided early", 500) } },
	/* the rest of the hello needs another record header too */
	{ NULL, .sizes = { 4, 16384 }, .maxlen = LEN(-1),
	    .want = CH_ERR_TOOBIG,
	    .then = { DECIDED("header-only first record, maxlen one "
	    "short decided from the handshake length", 9) } },
	{ "header-only first record, exact maxlen", .sizes = { 4, 16384 },
	    .maxlen = LEN(0), .want = CH_OK },
	/* a record running past maxlen, the hello length not yet known */
	{ "first record past maxlen", .sizes = { 1 },
	    .patch = { { 3, 300 >> 8 }, { 4, 300 & 0xff } }, .len = 5,
	    .maxlen = 200, .want = CH_ERR_TOOBIG },
};

static void
test_reals(void)
{
	static struct bld	 in;
	struct bld		 recs;
	const struct rcase	*r;
	size_t			 i, k, nsizes, hello;

	for (i = 0; i < nitems(reals); i++) {
		r = &reals[i];
		in.n = 0;
		if (r->before != NULL)
			puthex(&in, r->before);
		if (r->hex != NULL)
			puthex(&in, r->hex);
		else if (r->text != NULL)
			putmem(&in, r->text, strlen(r->text));
		else {
			for (nsizes = 0; nsizes < 4 && r->sizes[nsizes] > 0;
			    nsizes++)
				;
			records(real_hello + 5, sizeof(real_hello) - 5,
			    r->sizes, nsizes, 0x0301, &recs);
			putmem(&in, recs.b, recs.n);
		}
		hello = in.n;
		for (k = 0; k < 3 && r->patch[k].at > 0; k++)
			in.b[r->patch[k].at] = r->patch[k].v;
		if (r->after != NULL)
			puthex(&in, r->after);
		if (r->twice)
			putmem(&in, real_hello, sizeof(real_hello));
		if (r->len != 0)
			in.n = rel(r->len, in.n);
		check_input(r->name, in.b, in.n, hello,
		    r->maxlen != 0 ? rel(r->maxlen, hello) : 0, r->want,
		    REAL_SNI, r->then);
	}
}

static const struct bcase built[] = {
	{ NULL, { .names = { "plain.example.org" } }, .want = CH_OK,
	    .then = { VERSION("plain built hello version", 0x0303) } },
	{ "plain built hello", { .names = { "plain.example.org" } },
	    .want = CH_OK },
	{ "client_version TLS 1.0 accepted",
	    { .version = 0x0301, .names = { "plain.example.org" } },
	    .want = CH_OK },
	{ "no session id, one cipher suite",
	    { .sidlen = NONE, .nciphers = 1, .names = { "x.example" } },
	    .want = CH_OK },
	{ "no server_name extension", { .nosni = 1 }, .want = CH_ERR_NOSNI,
	    .then = { CONSUMED("no SNI sets consumed and version"),
	    MORE("no SNI only once the hello is complete") } },
	{ NULL, { .noexts = 1 }, .want = CH_ERR_NOSNI,
	    .then = { CONSUMED("no extensions block at all") } },
	{ "one stray byte where extensions would be",
	    { .noexts = 1, .extra = 1 }, .want = CH_ERR_MALFORMED },
	{ "server_name with no host_name entry",
	    { .othername = 1, .nohost = 1 }, .want = CH_ERR_NOSNI },
	{ "other name_type entry skipped",
	    { .othername = 1, .names = { "other.example.org" } },
	    .want = CH_OK },
	{ "two host_name entries",
	    { .names = { "one.example.org", "two.example.org" } },
	    .want = CH_ERR_MALFORMED },
	{ "the same host_name twice",
	    { .names = { "one.example.org", "one.example.org" } },
	    .want = CH_ERR_MALFORMED },
	{ "server_name with an empty list", { .snimode = 1 },
	    .want = CH_ERR_MALFORMED },
	{ "empty server_name extension", { .snimode = 2 },
	    .want = CH_ERR_MALFORMED },
	{ "duplicate extension", { .dupext = 1 }, .want = CH_ERR_MALFORMED },
	{ "duplicate server_name extension", { .dupsni = 1 },
	    .want = CH_ERR_MALFORMED },
	{ "handshake type 2 (ServerHello)", { .hstype = 2 },
	    .want = CH_ERR_NOTHELLO,
	    .then = { DECIDED("handshake type decided from 6 bytes",
	    6) } },
	{ "client_version SSLv3", { .version = 0x0300 },
	    .want = CH_ERR_VERSION,
	    .then = { DECIDED("client_version decided from 11 bytes",
	    11) } },
	{ "client_version SSLv2", { .version = 0x0002 },
	    .want = CH_ERR_VERSION },
	{ "33-byte session id", { .sidlen = 33 }, .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("session id length decided at once",
	    5 + 4 + 2 + 32 + 1) } },
	{ "no cipher suites", { .nciphers = NONE },
	    .want = CH_ERR_MALFORMED },
	{ "odd cipher suites length", { .cspad = 1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("odd cipher suites length decided at "
	    "once", 5 + 4 + 2 + 32 + 1 + 32 + 2) } },
	{ "no compression methods", { .ncomp = NONE },
	    .want = CH_ERR_MALFORMED },
	{ "another handshake message in the hello's record is malformed",
	    { .nextmsg = 1 }, .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("... decided from the handshake header",
	    9) } },

	/* names */
	{ "upper-case name parses", { .names = { "WWW.Example.ORG" } },
	    .want = CH_OK, .sni = "www.example.org",
	    .then = { SNI("upper-case name lower-cased", "www.example.org") } },
	{ "name, 63-byte label ok", { .genlab = 63, .genlen = 71 },
	    .want = CH_OK },
	{ "name, 64-byte label is bad", { .genlab = 64, .genlen = 72 },
	    .want = CH_ERR_BADNAME },
	{ "name, 253 bytes ok", { .genlab = 49, .genlen = 253 },
	    .want = CH_OK },
	{ "name, 254 bytes is bad", { .genlab = 49, .genlen = 254 },
	    .want = CH_ERR_BADNAME },
	{ "name, 399 bytes is bad", { .genlab = 49, .genlen = 399 },
	    .want = CH_ERR_BADNAME },
	{ NULL, { .names = { "a_b" } }, .want = CH_ERR_BADNAME,
	    .then = { CONSUMED("bad name sets consumed and version") } },

	/*
	 * The last extension may not reach past the block, even when what
	 * it holds agrees with its length.
	 */
	{ "server_name as the last extension", { .snilast = 1 },
	    .want = CH_OK },
	{ "last extension one byte past the block",
	    { .snilast = 1, .d_sniext = 1, .d_list = 1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("... decided from its length",
	    LEN(-5 - (long)(sizeof("example.org") - 1))) } },
	/* the handshake length: too short leaves bytes in the record */
	{ "handshake length -1 is malformed", { .d_hs = -1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("handshake length -1 decided from its "
	    "header", 9) } },
	/*
	 * Too long: the extensions block falls one byte short of the
	 * message, which shows before that byte is awaited.
	 */
	{ "handshake length +1 is malformed", { .d_hs = 1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { DECIDED_BEFORE("handshake length +1 decided "
	    "without the missing byte", LEN(0)) } },
	{ "handshake length +1 with a byte to spare is malformed",
	    { .extra = 1 }, .want = CH_ERR_MALFORMED },
	/* the record length */
	{ "record length +1 is malformed", { .d_rec = 1, .trail = 1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { DECIDED("record length +1 decided from the "
	    "handshake header", 9) } },
	{ "record length -1 is malformed", { .d_rec = -1 },
	    .want = CH_ERR_MALFORMED,
	    .then = { MORE_AT("record length -1 without the last byte "
	    "wants more", LEN(-1)) } },

	/* a hello past 16384 bytes, in two records */
	{ "17k hello too big by default", { .padding = 17000,
	    .names = { "big.example.org" } }, .want = CH_ERR_TOOBIG,
	    .then = { DECIDED("17k hello refused from its record "
	    "header", 5) } },
	{ "17k hello in 1k records too big by default", { .padding = 17000,
	    .names = { "big.example.org" }, .recsize = 1000 },
	    .want = CH_ERR_TOOBIG,
	    .then = { DECIDED("17k hello in 1k records refused from "
	    "the handshake length", 9) } },
	{ NULL, { .padding = 17000, .names = { "big.example.org" } },
	    .maxlen = 40000, .want = CH_OK,
	    .then = { CONSUMED("17k hello fine with maxlen 40000"),
	    SNI("17k hello names big.example.org", "big.example.org") } },
};

static void
test_built(void)
{
	static struct bld	 out;
	const struct bcase	*c;
	struct hopts		 o;
	char			 name[BUFMAX / 4];
	size_t			 i, n;

	for (i = 0; i < nitems(built); i++) {
		c = &built[i];
		n = build(&c->o, &out);
		settle(&c->o, &o, name);
		check_input(c->name, out.b, n, n,
		    c->maxlen != 0 ? rel(c->maxlen, n) : 0, c->want,
		    c->sni != NULL ? c->sni : o.names[0], c->then);
	}
}

static void
test_names(void)
{
	static const struct {
		const char	*desc;
		const char	*name;
		enum ch_status	 want;
	} cases[] = {
		{ "empty name", "", CH_ERR_BADNAME },
		{ "underscore", "foo_bar.example.org", CH_ERR_BADNAME },
		{ "trailing dot", "example.org.", CH_ERR_BADNAME },
		{ "leading dot", ".example.org", CH_ERR_BADNAME },
		{ "empty label", "www..example.org", CH_ERR_BADNAME },
		{ "single dot", ".", CH_ERR_BADNAME },
		{ "leading hyphen", "-www.example.org", CH_ERR_BADNAME },
		{ "trailing hyphen in a label", "www-.example.org",
		    CH_ERR_BADNAME },
		{ "trailing hyphen at the end", "www.example-",
		    CH_ERR_BADNAME },
		{ "space", "www example.org", CH_ERR_BADNAME },
		{ "non-ASCII byte", "b\xc3\xbc" "cher.example",
		    CH_ERR_BADNAME },
		{ "IPv4 literal", "192.168.1.1", CH_ERR_BADNAME },
		{ "short IPv4 literal", "10.1", CH_ERR_BADNAME },
		{ "all-digit single label", "1234", CH_ERR_BADNAME },
		{ "IPv6 literal", "::1", CH_ERR_BADNAME },
		{ "single label", "localhost", CH_OK },
		{ "digits in labels", "123.example.org", CH_OK },
		{ "hyphens inside", "a-b--c.example-1.org", CH_OK },
		{ "punycode", "xn--bcher-kva.example", CH_OK },
		{ "digits and a hyphen", "1-2.3.4", CH_OK },
		{ "one letter", "a", CH_OK },
	};
	struct ch_info	 info;
	char		 desc[128];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		snprintf(desc, sizeof(desc), "clienthello: name, %s: %s",
		    cases[i].desc, ch_strerror(cases[i].want));
		UT_CHECK(desc, name_status(cases[i].name, &info) ==
		    cases[i].want);
	}
}

/* Each declared length one too short and one too long. */
static void
test_lengths(void)
{
	static const struct {
		const char	*field;
		size_t		 offset;	/* in struct hopts */
	} fields[] = {
		{ "session id", offsetof(struct hopts, d_sid) },
		{ "cipher suites", offsetof(struct hopts, d_cs) },
		{ "compression methods", offsetof(struct hopts, d_comp) },
		{ "extensions block", offsetof(struct hopts, d_exts) },
		{ "first extension", offsetof(struct hopts, d_ext1) },
		{ "server name list", offsetof(struct hopts, d_list) },
		{ "host name", offsetof(struct hopts, d_name) },
	};
	static struct bld	 out;
	struct hopts		 o;
	char			 desc[128];
	size_t			 i, n;
	int			 d;

	for (i = 0; i < nitems(fields); i++) {
		for (d = -1; d <= 1; d += 2) {
			memset(&o, 0, sizeof(o));
			*(int *)((char *)&o + fields[i].offset) = d;
			n = build(&o, &out);
			snprintf(desc, sizeof(desc),
			    "clienthello: %s length %+d is malformed",
			    fields[i].field, d);
			UT_CHECK(desc,
			    parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);
		}
	}
}

static void
test_misc(void)
{
	static const enum ch_status all[] = { CH_OK, CH_MORE, CH_ERR_NOTTLS,
	    CH_ERR_VERSION, CH_ERR_NOTHELLO, CH_ERR_MALFORMED, CH_ERR_TOOBIG,
	    CH_ERR_NOSNI, CH_ERR_BADNAME };
	static const uint8_t	 want[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02,
	    TLS_ALERT_UNRECOGNIZED_NAME };
	uint8_t			 alert[TLS_ALERT_LEN];
	size_t			 i, j;
	int			 good = 1;

	for (i = 0; i < nitems(all); i++) {
		if (ch_strerror(all[i]) == NULL || *ch_strerror(all[i]) == '\0')
			good = 0;
		for (j = 0; j < i; j++)
			if (strcmp(ch_strerror(all[i]),
			    ch_strerror(all[j])) == 0)
				good = 0;
	}
	UT_CHECK("clienthello: every status has its own phrase", good);
	UT_CHECK("clienthello: strerror of NOTTLS",
	    strcmp(ch_strerror(CH_ERR_NOTTLS), "not a TLS handshake") == 0);
	UT_CHECK("clienthello: strerror of NOSNI",
	    strcmp(ch_strerror(CH_ERR_NOSNI), "no server name") == 0);

	memset(alert, 0, sizeof(alert));
	UT_CHECK("clienthello: alert is 7 bytes",
	    ch_alert(alert, TLS_ALERT_UNRECOGNIZED_NAME) == TLS_ALERT_LEN);
	UT_CHECK("clienthello: alert record bytes",
	    memcmp(alert, want, sizeof(want)) == 0);
}

int
main(void)
{
	test_real();
	test_reals();
	test_built();
	test_names();
	test_lengths();
	test_misc();
	UT_EXIT();
}
