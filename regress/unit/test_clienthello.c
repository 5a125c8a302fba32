/*
 * test_clienthello.c: unit tests of the ClientHello/SNI parser.
 *
 * One real hello, captured from openssl s_client, checks the parser on
 * what clients send; a small builder makes hellos with one thing wrong
 * at a time.  Every parse runs on an exact-size heap copy so that the
 * sanitizers catch a read past len, and because ch_parse() keeps no
 * state, feeding every prefix covers every way TCP can segment a hello.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "unit.h"

#define BUFMAX		65536
#define REAL_SNI	"test.internal-server.local"

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

/* What the builder puts in a hello; zero values mean a sane default. */
struct hopts {
	uint16_t	 version;	/* client_version */
	uint8_t		 hstype;
	int		 sidlen;
	int		 nciphers;
	int		 ncomp;
	int		 cspad;		/* bytes after the cipher suites */
	int		 noexts;	/* leave the extensions block out */
	int		 nosni;		/* no server_name extension */
	int		 snimode;	/* 1: empty list, 2: empty extension */
	const char	*names[2];	/* host_name entries */
	int		 othername;	/* an entry of name_type 1 first */
	int		 dupext;	/* supported_versions twice */
	int		 dupsni;	/* server_name twice */
	int		 snilast;	/* server_name as the last extension */
	size_t		 padding;	/* length of a padding extension */
	size_t		 extra;		/* zero bytes after the extensions */
	/* Added to the declared lengths. */
	int		 d_hs, d_sid, d_cs, d_comp, d_exts, d_ext1;
	int		 d_sniext, d_list, d_name;
};

struct bld {
	uint8_t		 b[BUFMAX];
	size_t		 n;
};

static void	 put8(struct bld *, unsigned int);
static void	 put16(struct bld *, unsigned int);
static void	 put24(struct bld *, unsigned int);
static void	 putmem(struct bld *, const void *, size_t);
static void	 patch16(struct bld *, size_t, unsigned int);
static void	 defaults(struct hopts *, const char *);
static void	 put_sni(const struct hopts *, struct bld *);
static size_t	 build_hs(const struct hopts *, struct bld *);
static size_t	 records(const uint8_t *, size_t, const size_t *, size_t,
		    uint16_t, struct bld *);
static size_t	 build(const struct hopts *, struct bld *);
static enum ch_status parse(const uint8_t *, size_t, size_t,
		    struct ch_info *);
static size_t	 prefixes_not_more(const uint8_t *, size_t, size_t);
static size_t	 decided_at(const uint8_t *, size_t, size_t);
static enum ch_status name_status(const char *, struct ch_info *);
static int	 ok_with(const uint8_t *, size_t, size_t, const char *,
		    size_t);
static void	 test_real(void);
static void	 test_split(void);
static void	 test_trailing(void);
static void	 test_names(void);
static void	 test_structure(void);
static void	 test_lengths(void);
static void	 test_nottls(void);
static void	 test_toobig(void);
static void	 test_misc(void);

static void
put8(struct bld *b, unsigned int v)
{
	if (b->n >= BUFMAX) {
		fprintf(stderr, "builder overflow\n");
		exit(2);
	}
	b->b[b->n++] = v & 0xff;
}

static void
put16(struct bld *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void
put24(struct bld *b, unsigned int v)
{
	put8(b, v >> 16);
	put16(b, v);
}

static void
putmem(struct bld *b, const void *p, size_t n)
{
	const uint8_t	*s = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		put8(b, s[i]);
}

static void
patch16(struct bld *b, size_t at, unsigned int v)
{
	b->b[at] = (v >> 8) & 0xff;
	b->b[at + 1] = v & 0xff;
}

static void
defaults(struct hopts *o, const char *name)
{
	memset(o, 0, sizeof(*o));
	o->version = 0x0303;
	o->hstype = 1;
	o->sidlen = 32;
	o->nciphers = 3;
	o->ncomp = 1;
	o->names[0] = name;
}

/* The server_name extension, or two of them. */
static void
put_sni(const struct hopts *o, struct bld *b)
{
	size_t	 lenpos, listpos;
	int	 k, rep;

	for (rep = 0; rep < 1 + o->dupsni; rep++) {
		put16(b, 0x0000);
		lenpos = b->n;
		put16(b, 0);
		if (o->snimode == 1)
			put16(b, 0);
		if (o->snimode == 0) {
			listpos = b->n;
			put16(b, 0);
			if (o->othername) {
				put8(b, 1);
				put16(b, 3);
				putmem(b, "abc", 3);
			}
			for (k = 0; k < 2 && o->names[k] != NULL; k++) {
				put8(b, 0);
				put16(b, strlen(o->names[k]) +
				    (k == 0 ? o->d_name : 0));
				putmem(b, o->names[k], strlen(o->names[k]));
			}
			patch16(b, listpos, b->n - listpos - 2 + o->d_list);
		}
		patch16(b, lenpos, b->n - lenpos - 2 + o->d_sniext);
	}
}

/* A handshake message: header and ClientHello body. */
static size_t
build_hs(const struct hopts *o, struct bld *b)
{
	size_t	 extspos, i;
	int	 k, rep;

	b->n = 0;
	put8(b, o->hstype);
	put24(b, 0);
	put16(b, o->version);
	for (i = 0; i < 32; i++)
		put8(b, i * 7 + 1);
	put8(b, o->sidlen + o->d_sid);
	for (k = 0; k < o->sidlen; k++)
		put8(b, 0xa0 + k);
	put16(b, 2 * o->nciphers + o->cspad + o->d_cs);
	for (k = 0; k < o->nciphers; k++)
		put16(b, 0x1301 + k);
	for (k = 0; k < o->cspad; k++)
		put8(b, 0);
	put8(b, o->ncomp + o->d_comp);
	for (k = 0; k < o->ncomp; k++)
		put8(b, 0);
	if (!o->noexts) {
		extspos = b->n;
		put16(b, 0);
		/* supported_groups: x25519 */
		put16(b, 0x000a);
		put16(b, 4 + o->d_ext1);
		put16(b, 2);
		put16(b, 0x001d);
		if (!o->nosni && !o->snilast)
			put_sni(o, b);
		/* supported_versions: TLS 1.3 */
		for (rep = 0; rep < 1 + o->dupext; rep++) {
			put16(b, 0x002b);
			put16(b, 3);
			put8(b, 2);
			put16(b, 0x0304);
		}
		if (o->padding > 0) {
			put16(b, 0x0015);
			put16(b, o->padding);
			for (i = 0; i < o->padding; i++)
				put8(b, 0);
		}
		/* key_share: x25519 */
		put16(b, 0x0033);
		put16(b, 2 + 4 + 32);
		put16(b, 4 + 32);
		put16(b, 0x001d);
		put16(b, 32);
		for (i = 0; i < 32; i++)
			put8(b, 0x55);
		if (!o->nosni && o->snilast)
			put_sni(o, b);
		patch16(b, extspos, b->n - extspos - 2 + o->d_exts);
	}
	for (i = 0; i < o->extra; i++)
		put8(b, 0);
	i = b->n - 4 + o->d_hs;
	b->b[1] = (i >> 16) & 0xff;
	b->b[2] = (i >> 8) & 0xff;
	b->b[3] = i & 0xff;
	return (b->n);
}

/*
 * Wrap handshake bytes in records of the given sizes, used in turn and
 * over again; no sizes: as few records as possible.
 */
static size_t
records(const uint8_t *hs, size_t n, const size_t *sizes, size_t nsizes,
    uint16_t recver, struct bld *out)
{
	size_t	 done = 0, chunk, i = 0;

	out->n = 0;
	while (done < n) {
		chunk = nsizes > 0 ? sizes[i++ % nsizes] : 16384;
		if (chunk > n - done)
			chunk = n - done;
		put8(out, 22);
		put16(out, recver);
		put16(out, chunk);
		putmem(out, hs + done, chunk);
		done += chunk;
	}
	return (out->n);
}

static size_t
build(const struct hopts *o, struct bld *out)
{
	static struct bld	 hs;

	build_hs(o, &hs);
	return (records(hs.b, hs.n, NULL, 0, 0x0301, out));
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

	defaults(&o, name);
	build(&o, &out);
	return (parse(out.b, out.n, 0, info));
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

static void
test_split(void)
{
	static const struct {
		const char	*name;
		size_t		 sizes[4];
		size_t		 nsizes;
		size_t		 nrec;
	} splits[] = {
		{ "clienthello: split into 2 records", { 200 }, 1, 2 },
		{ "clienthello: split into 3 records", { 100, 150 }, 2, 3 },
		{ "clienthello: handshake header alone in a record",
		    { 4, 400 }, 2, 2 },
		{ "clienthello: handshake length split over records",
		    { 2, 1, 3, 400 }, 4, 4 },
		{ "clienthello: split into records of 1, 7, 64, 3 bytes",
		    { 1, 7, 64, 3 }, 4, 0 },
		{ "clienthello: split into 1-byte records", { 1 }, 1, 327 },
	};
	static struct bld	 out;
	const uint8_t		*hs = real_hello + 5;
	size_t			 hslen = sizeof(real_hello) - 5, i, n;
	char			 name[128];

	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		n = records(hs, hslen, splits[i].sizes, splits[i].nsizes,
		    0x0301, &out);
		if (splits[i].nrec != 0) {
			snprintf(name, sizeof(name), "%s: %zu records",
			    splits[i].name, splits[i].nrec);
			UT_CHECK(name, n == hslen + 5 * splits[i].nrec);
		}
		snprintf(name, sizeof(name), "%s, whole and byte by byte",
		    splits[i].name);
		UT_CHECK(name, ok_with(out.b, n, 0, REAL_SNI, n));
	}

	/* Later records may carry another record version. */
	records(hs, hslen, splits[1].sizes, 2, 0x0301, &out);
	out.b[100 + 5 + 1] = 3;
	out.b[100 + 5 + 2] = 3;
	UT_CHECK("clienthello: later record with version 0x0303",
	    ok_with(out.b, out.n, 0, REAL_SNI, out.n));
}

static void
test_trailing(void)
{
	static const uint8_t	 appdata[] = { 0x17, 0x03, 0x03, 0x00, 0x03,
	    'a', 'b', 'c' };
	static const uint8_t	 ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
	static const size_t	 sizes[] = { 50 };
	static struct bld	 out, hs;
	struct ch_info		 info;
	struct hopts		 o;
	size_t			 n;

	memcpy(out.b, real_hello, sizeof(real_hello));
	out.n = sizeof(real_hello);
	putmem(&out, ccs, sizeof(ccs));
	putmem(&out, appdata, sizeof(appdata));
	UT_CHECK("clienthello: change_cipher_spec and application data after "
	    "the hello, consumed ends at the hello",
	    ok_with(out.b, out.n, 0, REAL_SNI, sizeof(real_hello)));
	UT_CHECK("clienthello: partial record after the hello is fine",
	    ok_with(out.b, sizeof(real_hello) + 3, 0, REAL_SNI,
	    sizeof(real_hello)));

	n = records(real_hello + 5, sizeof(real_hello) - 5, sizes, 1, 0x0301,
	    &out);
	putmem(&out, appdata, sizeof(appdata));
	UT_CHECK("clienthello: application data after a split hello",
	    ok_with(out.b, out.n, 0, REAL_SNI, n));

	/* Another handshake record after the hello is not part of it. */
	out.n = n;
	putmem(&out, real_hello, sizeof(real_hello));
	UT_CHECK("clienthello: a second hello record after the hello",
	    ok_with(out.b, out.n, 0, REAL_SNI, n));

	/* A second handshake message in the hello's own record. */
	defaults(&o, "example.org");
	build_hs(&o, &hs);
	put8(&hs, 11);
	put24(&hs, 0);
	records(hs.b, hs.n, NULL, 0, 0x0301, &out);
	UT_CHECK("clienthello: another handshake message in the hello's "
	    "record is malformed",
	    parse(out.b, out.n, 0, &info) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: ... decided from the handshake header",
	    decided_at(out.b, out.n, 0) == 9);
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
	char		 buf[400], desc[128];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(desc, sizeof(desc), "clienthello: name, %s: %s",
		    cases[i].desc, ch_strerror(cases[i].want));
		UT_CHECK(desc, name_status(cases[i].name, &info) ==
		    cases[i].want);
	}

	memset(&info, 0, sizeof(info));
	UT_CHECK("clienthello: upper-case name parses",
	    name_status("WWW.Example.ORG", &info) == CH_OK);
	UT_CHECK("clienthello: upper-case name lower-cased",
	    strcmp(info.sni, "www.example.org") == 0);

	/* Label lengths: 63 is the most. */
	memset(buf, 'a', 63);
	strlcpy(buf + 63, ".example", sizeof(buf) - 63);
	UT_CHECK("clienthello: name, 63-byte label ok",
	    name_status(buf, &info) == CH_OK && strcmp(info.sni, buf) == 0);
	memset(buf, 'a', 64);
	strlcpy(buf + 64, ".example", sizeof(buf) - 64);
	UT_CHECK("clienthello: name, 64-byte label is bad",
	    name_status(buf, &info) == CH_ERR_BADNAME);

	/* Name lengths: 253 is the most, 254 and longer are bad. */
	for (i = 0; i < 253; i++)
		buf[i] = (i % 50 == 49) ? '.' : 'b';
	buf[253] = '\0';
	UT_CHECK("clienthello: name, 253 bytes ok",
	    name_status(buf, &info) == CH_OK && strlen(info.sni) == 253 &&
	    strcmp(info.sni, buf) == 0);
	buf[253] = 'b';
	buf[254] = '\0';
	UT_CHECK("clienthello: name, 254 bytes is bad",
	    name_status(buf, &info) == CH_ERR_BADNAME);
	for (i = 0; i < 399; i++)
		buf[i] = (i % 50 == 49) ? '.' : 'c';
	buf[399] = '\0';
	UT_CHECK("clienthello: name, 399 bytes is bad",
	    name_status(buf, &info) == CH_ERR_BADNAME);

	memset(&info, 0x55, sizeof(info));
	UT_CHECK("clienthello: bad name sets consumed and version",
	    name_status("a_b", &info) == CH_ERR_BADNAME &&
	    info.consumed > 0 && info.version == 0x0303 &&
	    info.sni[0] == '\0');
}

static void
test_structure(void)
{
	static struct bld	 out;
	struct ch_info		 info;
	struct hopts		 o;
	size_t			 n;

	defaults(&o, "plain.example.org");
	n = build(&o, &out);
	memset(&info, 0, sizeof(info));
	UT_CHECK("clienthello: plain built hello",
	    ok_with(out.b, n, 0, "plain.example.org", n));
	parse(out.b, n, 0, &info);
	UT_CHECK("clienthello: plain built hello version",
	    info.version == 0x0303);

	o.version = 0x0301;
	n = build(&o, &out);
	UT_CHECK("clienthello: client_version TLS 1.0 accepted",
	    ok_with(out.b, n, 0, "plain.example.org", n));

	defaults(&o, "x.example");
	o.sidlen = 0;
	o.nciphers = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: no session id, one cipher suite",
	    ok_with(out.b, n, 0, "x.example", n));

	defaults(&o, NULL);
	o.nosni = 1;
	n = build(&o, &out);
	memset(&info, 0x55, sizeof(info));
	UT_CHECK("clienthello: no server_name extension",
	    parse(out.b, n, 0, &info) == CH_ERR_NOSNI);
	UT_CHECK("clienthello: no SNI sets consumed and version",
	    info.consumed == n && info.version == 0x0303);
	UT_CHECK("clienthello: no SNI only once the hello is complete",
	    prefixes_not_more(out.b, n, 0) == 0);

	defaults(&o, NULL);
	o.noexts = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: no extensions block at all",
	    parse(out.b, n, 0, &info) == CH_ERR_NOSNI && info.consumed == n);

	defaults(&o, NULL);
	o.noexts = 1;
	o.extra = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: one stray byte where extensions would be",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, NULL);
	o.othername = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: server_name with no host_name entry",
	    parse(out.b, n, 0, &info) == CH_ERR_NOSNI);

	defaults(&o, "other.example.org");
	o.othername = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: other name_type entry skipped",
	    ok_with(out.b, n, 0, "other.example.org", n));

	defaults(&o, "one.example.org");
	o.names[1] = "two.example.org";
	n = build(&o, &out);
	UT_CHECK("clienthello: two host_name entries",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "one.example.org");
	o.names[1] = "one.example.org";
	n = build(&o, &out);
	UT_CHECK("clienthello: the same host_name twice",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.snimode = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: server_name with an empty list",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.snimode = 2;
	n = build(&o, &out);
	UT_CHECK("clienthello: empty server_name extension",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.dupext = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: duplicate extension",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.dupsni = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: duplicate server_name extension",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.hstype = 2;
	n = build(&o, &out);
	UT_CHECK("clienthello: handshake type 2 (ServerHello)",
	    parse(out.b, n, 0, &info) == CH_ERR_NOTHELLO);
	UT_CHECK("clienthello: handshake type decided from 6 bytes",
	    decided_at(out.b, n, 0) == 6);

	defaults(&o, "example.org");
	o.version = 0x0300;
	n = build(&o, &out);
	UT_CHECK("clienthello: client_version SSLv3",
	    parse(out.b, n, 0, &info) == CH_ERR_VERSION);
	UT_CHECK("clienthello: client_version decided from 11 bytes",
	    decided_at(out.b, n, 0) == 11);

	defaults(&o, "example.org");
	o.version = 0x0002;
	n = build(&o, &out);
	UT_CHECK("clienthello: client_version SSLv2",
	    parse(out.b, n, 0, &info) == CH_ERR_VERSION);

	defaults(&o, "example.org");
	o.sidlen = 33;
	n = build(&o, &out);
	UT_CHECK("clienthello: 33-byte session id",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: session id length decided at once",
	    decided_at(out.b, n, 0) == 5 + 4 + 2 + 32 + 1);

	defaults(&o, "example.org");
	o.nciphers = 0;
	n = build(&o, &out);
	UT_CHECK("clienthello: no cipher suites",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);

	defaults(&o, "example.org");
	o.cspad = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: odd cipher suites length",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: odd cipher suites length decided at once",
	    decided_at(out.b, n, 0) == 5 + 4 + 2 + 32 + 1 + 32 + 2);

	defaults(&o, "example.org");
	o.ncomp = 0;
	n = build(&o, &out);
	UT_CHECK("clienthello: no compression methods",
	    parse(out.b, n, 0, &info) == CH_ERR_MALFORMED);
}

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
	static struct bld	 out, hs;
	struct hopts		 o;
	char			 desc[128];
	size_t			 i, n;
	int			 d;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		for (d = -1; d <= 1; d += 2) {
			defaults(&o, "example.org");
			*(int *)((char *)&o + fields[i].offset) = d;
			n = build(&o, &out);
			snprintf(desc, sizeof(desc),
			    "clienthello: %s length %+d is malformed",
			    fields[i].field, d);
			UT_CHECK(desc,
			    parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);
		}
	}

	/*
	 * The last extension may not reach past the block, even when what
	 * it holds agrees with its length.
	 */
	defaults(&o, "example.org");
	o.snilast = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: server_name as the last extension",
	    ok_with(out.b, n, 0, "example.org", n));
	o.d_sniext = 1;
	o.d_list = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: last extension one byte past the block",
	    parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: ... decided from its length",
	    decided_at(out.b, n, 0) == n - strlen("example.org") - 5);

	/* The handshake length: too short leaves bytes in the record. */
	defaults(&o, "example.org");
	o.d_hs = -1;
	n = build(&o, &out);
	UT_CHECK("clienthello: handshake length -1 is malformed",
	    parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: handshake length -1 decided from its header",
	    decided_at(out.b, n, 0) == 9);

	/*
	 * Too long: the extensions block falls one byte short of the
	 * message, which shows before that byte is awaited.
	 */
	defaults(&o, "example.org");
	o.d_hs = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: handshake length +1 is malformed",
	    parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: handshake length +1 decided without the "
	    "missing byte", decided_at(out.b, n, 0) < n);
	defaults(&o, "example.org");
	o.extra = 1;
	n = build(&o, &out);
	UT_CHECK("clienthello: handshake length +1 with a byte to spare is "
	    "malformed", parse(out.b, n, 0, NULL) == CH_ERR_MALFORMED);

	/* The record length. */
	defaults(&o, "example.org");
	build_hs(&o, &hs);
	records(hs.b, hs.n, NULL, 0, 0x0301, &out);
	patch16(&out, 3, hs.n + 1);
	put8(&out, 0);
	UT_CHECK("clienthello: record length +1 is malformed",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: record length +1 decided from the handshake "
	    "header", decided_at(out.b, out.n, 0) == 9);
	records(hs.b, hs.n, NULL, 0, 0x0301, &out);
	patch16(&out, 3, hs.n - 1);
	UT_CHECK("clienthello: record length -1 is malformed",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
	UT_CHECK("clienthello: record length -1 without the last byte "
	    "wants more", parse(out.b, out.n - 1, 0, NULL) == CH_MORE);
}

static void
test_nottls(void)
{
	static const uint8_t	 http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t	 sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01,
	    0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 0x07, 0x00, 0xc0 };
	static const uint8_t	 appdata[] = { 0x17, 0x03, 0x03, 0x00, 0x05,
	    1, 2, 3, 4, 5 };
	static struct bld	 out;
	uint8_t			 buf[sizeof(real_hello)];
	static const size_t	 sizes[] = { 100 };

	UT_CHECK("clienthello: HTTP request is not TLS",
	    parse(http, sizeof(http) - 1, 0, NULL) == CH_ERR_NOTTLS);
	UT_CHECK("clienthello: HTTP request refused from its first byte",
	    decided_at(http, sizeof(http) - 1, 0) == 1);
	UT_CHECK("clienthello: SSLv2 hello is not TLS",
	    parse(sslv2, sizeof(sslv2), 0, NULL) == CH_ERR_NOTTLS);
	UT_CHECK("clienthello: SSLv2 hello refused from its first byte",
	    decided_at(sslv2, sizeof(sslv2), 0) == 1);
	UT_CHECK("clienthello: application data record is not a handshake",
	    parse(appdata, sizeof(appdata), 0, NULL) == CH_ERR_NOTTLS);
	UT_CHECK("clienthello: empty input wants more",
	    parse(http, 0, 0, NULL) == CH_MORE);

	memcpy(buf, real_hello, sizeof(buf));
	buf[2] = 0;
	UT_CHECK("clienthello: SSLv3 record version",
	    parse(buf, sizeof(buf), 0, NULL) == CH_ERR_VERSION);
	UT_CHECK("clienthello: SSLv3 record version decided from 3 bytes",
	    decided_at(buf, sizeof(buf), 0) == 3);
	buf[2] = 5;
	UT_CHECK("clienthello: record version 0x0305 is not TLS",
	    parse(buf, sizeof(buf), 0, NULL) == CH_ERR_NOTTLS);
	buf[1] = 2;
	buf[2] = 1;
	UT_CHECK("clienthello: record version 0x0201 is not TLS",
	    parse(buf, sizeof(buf), 0, NULL) == CH_ERR_NOTTLS);
	memcpy(buf, real_hello, sizeof(buf));
	buf[2] = 4;
	UT_CHECK("clienthello: record version 0x0304 accepted",
	    ok_with(buf, sizeof(buf), 0, REAL_SNI, sizeof(buf)));

	memcpy(buf, real_hello, 5);
	buf[3] = buf[4] = 0;
	UT_CHECK("clienthello: zero-length first record",
	    parse(buf, 5, 0, NULL) == CH_ERR_MALFORMED);
	buf[3] = (16384 + 256 + 1) >> 8;
	buf[4] = (16384 + 256 + 1) & 0xff;
	UT_CHECK("clienthello: record longer than 16384+256",
	    parse(buf, 5, 0, NULL) == CH_ERR_MALFORMED);

	/* Later records must go on with the handshake. */
	records(real_hello + 5, sizeof(real_hello) - 5, sizes, 1, 0x0301,
	    &out);
	out.b[105] = 0x15;
	UT_CHECK("clienthello: alert record inside a split hello",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
	out.b[105] = 0x16;
	out.b[107] = 0;
	UT_CHECK("clienthello: SSLv3 version on a later record",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
	out.b[107] = 1;
	out.b[108] = out.b[109] = 0;
	UT_CHECK("clienthello: zero-length later record",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
	memcpy(out.b, real_hello, 3);
	out.b[3] = out.b[4] = 0;
	out.n = 5;
	putmem(&out, real_hello, sizeof(real_hello));
	UT_CHECK("clienthello: zero-length record before the hello",
	    parse(out.b, out.n, 0, NULL) == CH_ERR_MALFORMED);
}

static void
test_toobig(void)
{
	static const size_t	 one[] = { 1 };
	static const size_t	 kilo = 1000;
	static const size_t	 hdr[] = { 4, 16384 };
	static struct bld	 out, hs;
	struct ch_info		 info;
	struct hopts		 o;
	size_t			 n;

	n = sizeof(real_hello);
	UT_CHECK("clienthello: maxlen 100 is too small for the real hello",
	    parse(real_hello, n, 100, NULL) == CH_ERR_TOOBIG);
	UT_CHECK("clienthello: too big decided from the record header",
	    decided_at(real_hello, n, 100) == 5);
	UT_CHECK("clienthello: maxlen equal to the hello is enough",
	    ok_with(real_hello, n, n, REAL_SNI, n));
	UT_CHECK("clienthello: maxlen one byte short is too small",
	    parse(real_hello, n, n - 1, NULL) == CH_ERR_TOOBIG);

	n = records(real_hello + 5, sizeof(real_hello) - 5, one, 1, 0x0301,
	    &out);
	UT_CHECK("clienthello: maxlen counts every record header",
	    ok_with(out.b, n, n, REAL_SNI, n));
	UT_CHECK("clienthello: 1-byte records one byte over maxlen",
	    parse(out.b, n, n - 1, NULL) == CH_ERR_TOOBIG);
	UT_CHECK("clienthello: 1-byte records over maxlen decided before "
	    "the last record", decided_at(out.b, n, n - 1) < n);
	UT_CHECK("clienthello: 1-byte records, small maxlen decided early",
	    decided_at(out.b, n, 500) < 500);

	/* The rest of the hello needs another record header too. */
	n = records(real_hello + 5, sizeof(real_hello) - 5, hdr, 2, 0x0301,
	    &out);
	UT_CHECK("clienthello: header-only first record, maxlen one short "
	    "decided from the handshake length",
	    parse(out.b, n, n - 1, NULL) == CH_ERR_TOOBIG &&
	    decided_at(out.b, n, n - 1) == 9);
	UT_CHECK("clienthello: header-only first record, exact maxlen",
	    ok_with(out.b, n, n, REAL_SNI, n));

	/* A hello past 16384 bytes, in two records. */
	defaults(&o, "big.example.org");
	o.padding = 17000;
	build_hs(&o, &hs);
	n = records(hs.b, hs.n, NULL, 0, 0x0301, &out);
	UT_CHECK("clienthello: 17k hello too big by default",
	    parse(out.b, n, 0, NULL) == CH_ERR_TOOBIG);
	UT_CHECK("clienthello: 17k hello refused from its record header",
	    decided_at(out.b, n, 0) == 5);
	n = records(hs.b, hs.n, &kilo, 1, 0x0301, &out);
	UT_CHECK("clienthello: 17k hello in 1k records too big by default",
	    parse(out.b, n, 0, NULL) == CH_ERR_TOOBIG);
	UT_CHECK("clienthello: 17k hello in 1k records refused from the "
	    "handshake length", decided_at(out.b, n, 0) == 9);
	n = records(hs.b, hs.n, NULL, 0, 0x0301, &out);
	memset(&info, 0, sizeof(info));
	UT_CHECK("clienthello: 17k hello fine with maxlen 40000",
	    parse(out.b, n, 40000, &info) == CH_OK &&
	    info.consumed == n && strcmp(info.sni, "big.example.org") == 0);

	/* A record running past maxlen, the hello length not yet known. */
	n = records(real_hello + 5, sizeof(real_hello) - 5, one, 1, 0x0301,
	    &out);
	patch16(&out, 3, 300);
	UT_CHECK("clienthello: first record past maxlen",
	    parse(out.b, 5, 200, NULL) == CH_ERR_TOOBIG);
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

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
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
	test_split();
	test_trailing();
	test_names();
	test_structure();
	test_lengths();
	test_nottls();
	test_toobig();
	test_misc();
	UT_EXIT();
}
