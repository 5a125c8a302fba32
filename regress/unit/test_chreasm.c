/*
 * test_chreasm.c: ClientHello reassembly picks up where it stopped.
 *
 * The same hello, cut into TLS records of several sizes, is fed to
 * ch_feed() whole, a byte at a time and in random pieces: the answer,
 * the byte at which it comes and what info says must be the same, and
 * must be what ch_parse() says of the bytes fed so far.  The parser's
 * work counter shows that the pieces do not cost more than the whole:
 * it is the same however the bytes are cut and at most twice their
 * number, so a 16 KB hello sent a byte at a time is read in linear
 * time.  The random pieces and mutations come from a fixed seed, so a
 * failure can be run again.  The hellos come from the builder of
 * hello.h, with many empty extensions.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "hello.h"
#include "unit.h"

#define SNI		"reasm.internal-server.local"
#define NSIZES		64	/* random record sizes, used in turn */

/* How a hello was fed: the answer, where it came, what info said. */
struct fed {
	enum ch_status	 st;
	size_t		 at;		/* bytes fed when it was answered */
	size_t		 work;
	struct ch_info	 info;
};

static uint64_t		 rng = 0x9e3779b97f4a7c15ULL;

static uint32_t	 rnd(void);
static size_t	 hello_hs(struct bld *, int, size_t);
static size_t	 wrap(const struct bld *, size_t, struct bld *);
static int	 complete(enum ch_status);
static void	 feed(const uint8_t *, size_t, size_t, int, struct fed *);
static int	 same(const struct fed *, const struct fed *);
static int	 agrees(const uint8_t *, size_t, size_t, const struct fed *);
static void	 test_ways(void);
static void	 test_big(void);
static void	 test_trailing(void);
static void	 test_errors(void);
static void	 test_mutants(void);

/* xorshift64*: the same pieces on every run. */
static uint32_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return ((uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 32));
}

/*
 * A ClientHello handshake message with the server_name SNI half-way
 * among nempty empty extensions, padded to about size bytes.
 */
static size_t
hello_hs(struct bld *b, int nempty, size_t size)
{
	struct hopts	 in, o;
	char		 name[1];

	memset(&in, 0, sizeof(in));
	in.names[0] = SNI;
	in.nempty = nempty;
	settle(&in, &o, name);
	build_hs(&o, b);
	if (b->n + 4 < size) {
		o.padding = size - b->n - 4;
		build_hs(&o, b);
	}
	return (b->n);
}

/* Wrap handshake bytes in records of chunk bytes (0: random sizes). */
static size_t
wrap(const struct bld *hs, size_t chunk, struct bld *out)
{
	size_t	 sizes[NSIZES];
	size_t	 i;

	if (chunk != 0)
		return (records(hs->b, hs->n, &chunk, 1, 0x0301, out));
	for (i = 0; i < NSIZES; i++)
		sizes[i] = 1 + rnd() % 700;
	return (records(hs->b, hs->n, sizes, NSIZES, 0x0301, out));
}

static int
complete(enum ch_status st)
{
	return (st == CH_OK || st == CH_ERR_NOSNI || st == CH_ERR_BADNAME);
}

/*
 * Feed buf to a fresh parser in pieces of piece bytes (0: random, 1 to
 * 64; whole: SIZE_MAX), each piece an exact-size heap copy so that the
 * sanitizers see a read past it.  Feeding goes on past the answer, to
 * see that it stays.  With check, every piece's answer is compared
 * with ch_parse() of the bytes fed so far.
 */
static void
feed(const uint8_t *buf, size_t len, size_t piece, int check, struct fed *f)
{
	struct ch_parser	 p;
	struct ch_info		 info, pinfo;
	enum ch_status		 st, pst;
	uint8_t			*copy;
	size_t			 off = 0, n;

	memset(f, 0, sizeof(*f));
	f->st = CH_MORE;
	ch_init(&p, 0);
	do {
		n = piece != 0 ? piece : 1 + rnd() % 64;
		if (n > len - off)
			n = len - off;
		if ((copy = malloc(n > 0 ? n : 1)) == NULL) {
			perror("malloc");
			exit(2);
		}
		memcpy(copy, buf + off, n);
		memset(&info, 0xa5, sizeof(info));
		st = ch_feed(&p, copy, n, &info);
		free(copy);
		off += n;
		if (check) {
			memset(&pinfo, 0xa5, sizeof(pinfo));
			pst = ch_parse(buf, off, 0, &pinfo);
			if (pst != st || (complete(st) &&
			    memcmp(&pinfo, &info, sizeof(info)) != 0))
				f->at = SIZE_MAX;	/* marks a mismatch */
		}
		if (f->st == CH_MORE) {
			f->st = st;
			if (f->at != SIZE_MAX)
				f->at = off;
			f->info = info;
		} else if (st != f->st || (complete(st) &&
		    memcmp(&info, &f->info, sizeof(info)) != 0))
			f->at = SIZE_MAX;	/* the answer changed */
	} while (off < len);
	f->work = p.work;
}

/* Same answer, same info; where it came may differ by one piece. */
static int
same(const struct fed *a, const struct fed *b)
{
	if (a->at == SIZE_MAX || b->at == SIZE_MAX || a->st != b->st ||
	    a->work != b->work)
		return (0);
	if (!complete(a->st))
		return (1);
	return (a->info.consumed == b->info.consumed &&
	    a->info.version == b->info.version &&
	    strcmp(a->info.sni, b->info.sni) == 0);
}

/* f, fed a byte at a time, answered at the first byte that decides. */
static int
agrees(const uint8_t *buf, size_t len, size_t maxlen, const struct fed *f)
{
	struct ch_info	 info;

	if (f->at == SIZE_MAX)
		return (0);
	if (f->st == CH_MORE)
		return (ch_parse(buf, len, maxlen, &info) == CH_MORE);
	return (f->at > 0 && ch_parse(buf, f->at - 1, maxlen, &info) ==
	    CH_MORE && ch_parse(buf, f->at, maxlen, &info) == f->st);
}

static void
test_ways(void)
{
	static struct bld	 hs, rec;
	static const size_t	 chunks[] = { 16384, 1000, 7, 1, 0 };
	struct fed		 whole, bytes, pieces;
	size_t			 i, k;
	int			 ok_bytes = 1, ok_pieces = 1, ok_each = 1;
	int			 ok_ans = 1, ok_work = 1;
	char			 name[128];

	hello_hs(&hs, 12, 512);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		wrap(&hs, chunks[i], &rec);
		feed(rec.b, rec.n, SIZE_MAX, 0, &whole);
		if (chunks[i] == 0)
			(void)strlcpy(name, "chreasm: a hello in records of "
			    "random sizes parses whole", sizeof(name));
		else
			(void)snprintf(name, sizeof(name), "chreasm: a hello "
			    "in records of %zu bytes parses whole", chunks[i]);
		UT_CHECK(name, whole.st == CH_OK &&
		    strcmp(whole.info.sni, SNI) == 0 &&
		    whole.info.consumed == rec.n);
		feed(rec.b, rec.n, 1, 1, &bytes);
		if (!same(&whole, &bytes) || bytes.at != rec.n)
			ok_bytes = 0;
		for (k = 0; k < 20; k++) {
			feed(rec.b, rec.n, 0, 1, &pieces);
			if (!same(&whole, &pieces) || pieces.at != rec.n)
				ok_pieces = 0;
		}
		feed(rec.b, rec.n, 3, 1, &pieces);
		if (pieces.at == SIZE_MAX)
			ok_each = 0;
		if (!agrees(rec.b, rec.n, 0, &bytes))
			ok_ans = 0;
		if (whole.work > 2 * rec.n)
			ok_work = 0;
	}
	UT_CHECK("chreasm: fed a byte at a time, the same answer at the last "
	    "byte, the same work", ok_bytes);
	UT_CHECK("chreasm: fed in random pieces, the same answer and work",
	    ok_pieces);
	UT_CHECK("chreasm: after every piece, what ch_parse() says of the "
	    "bytes so far", ok_each);
	UT_CHECK("chreasm: no answer before the last byte", ok_ans);
	UT_CHECK("chreasm: work at most twice the bytes", ok_work);
}

/* 16 KB, 4000 extensions, a byte at a time: linear work. */
static void
test_big(void)
{
	static struct bld	 hs, rec;
	struct fed		 whole, bytes, pieces;
	static const size_t	 chunks[] = { 16384, 1, 0 };
	size_t			 i;
	int			 nexts;
	int			 ok = 1, ok_work = 1;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		/* As many empty extensions as records of that size allow. */
		nexts = chunks[i] == 1 ? 600 : chunks[i] == 0 ? 3900 : 4000;
		hello_hs(&hs, nexts, 0);
		wrap(&hs, chunks[i], &rec);
		if (rec.n > CH_MAXLEN) {
			fprintf(stderr, "hello of %zu bytes\n", rec.n);
			exit(2);
		}
		feed(rec.b, rec.n, SIZE_MAX, 0, &whole);
		feed(rec.b, rec.n, 1, 0, &bytes);
		feed(rec.b, rec.n, 0, 0, &pieces);
		if (whole.st != CH_OK || !same(&whole, &bytes) ||
		    !same(&whole, &pieces) || bytes.at != rec.n)
			ok = 0;
		if (bytes.work > 2 * rec.n)
			ok_work = 0;
	}
	UT_CHECK("chreasm: a 16 KB hello (4000 extensions, or 1-byte records) "
	    "fed whole, by bytes and in pieces", ok);
	UT_CHECK("chreasm: a 16 KB hello by bytes: work at most twice its "
	    "size", ok_work);
}

/* Bytes after the hello are not looked at, in the same piece or later. */
static void
test_trailing(void)
{
	static struct bld	 hs, rec, tail;
	struct ch_parser	 p;
	struct ch_info		 info;
	struct fed		 whole, more;
	enum ch_status		 st;
	size_t			 work;

	hello_hs(&hs, 8, 300);
	wrap(&hs, 100, &rec);
	feed(rec.b, rec.n, SIZE_MAX, 0, &whole);
	memcpy(&tail, &rec, sizeof(rec));
	put8(&tail, 23);
	put16(&tail, 0x0303);
	put16(&tail, 1);
	put8(&tail, 0xff);
	feed(tail.b, tail.n, SIZE_MAX, 0, &more);
	UT_CHECK("chreasm: a record after the hello, in the same piece, is "
	    "not looked at", same(&whole, &more) &&
	    more.info.consumed == rec.n);
	feed(tail.b, tail.n, 1, 0, &more);
	UT_CHECK("chreasm: a record after the hello, fed later, is not "
	    "looked at", same(&whole, &more) && more.at == rec.n);

	ch_init(&p, 0);
	(void)ch_feed(&p, rec.b, rec.n, &info);
	work = p.work;
	st = ch_feed(&p, (const uint8_t *)"\x16\x03", 2, &info);
	UT_CHECK("chreasm: asked again, the same answer and info",
	    st == CH_OK && strcmp(info.sni, SNI) == 0 &&
	    info.consumed == rec.n && p.work == work);
	st = ch_feed(&p, NULL, 0, &info);
	UT_CHECK("chreasm: an empty piece after the answer", st == CH_OK);
}

/* A refusal comes at the same byte however the bytes are cut. */
static void
test_errors(void)
{
	static struct bld	 hs, rec;
	struct fed		 whole, bytes, pieces;
	struct ch_parser	 p;
	struct ch_info		 info;
	size_t			 at;
	int			 ok;

	/* A duplicate extension type a quarter into a 16 KB hello. */
	hello_hs(&hs, 4000, 0);
	at = hs.empty_at + 4 * 1000;
	hs.b[at] = hs.b[at - 4];
	hs.b[at + 1] = hs.b[at - 3];
	wrap(&hs, 900, &rec);
	feed(rec.b, rec.n, SIZE_MAX, 0, &whole);
	feed(rec.b, rec.n, 1, 0, &bytes);
	feed(rec.b, rec.n, 0, 0, &pieces);
	ok = whole.st == CH_ERR_MALFORMED && same(&whole, &bytes) &&
	    same(&whole, &pieces) && agrees(rec.b, rec.n, 0, &bytes) &&
	    bytes.at > rec.n / 4 && bytes.at < rec.n / 4 + 100;
	UT_CHECK("chreasm: a duplicate extension a quarter in is refused "
	    "there, "
	    "by bytes and in pieces", ok);

	/* Too big for maxlen: refused as soon as the length says so. */
	hello_hs(&hs, 10, 900);
	wrap(&hs, 50, &rec);
	ch_init(&p, 600);
	at = 0;
	while (at < rec.n && ch_feed(&p, rec.b + at, 1, &info) == CH_MORE)
		at++;
	UT_CHECK("chreasm: past maxlen, CH_ERR_TOOBIG at the same byte as "
	    "ch_parse()", at < 20 && ch_feed(&p, NULL, 0, &info) ==
	    CH_ERR_TOOBIG && ch_parse(rec.b, at + 1, 600, &info) ==
	    CH_ERR_TOOBIG && ch_parse(rec.b, at, 600, &info) == CH_MORE);

	/* Not TLS at all: the first byte decides. */
	ch_init(&p, 0);
	UT_CHECK("chreasm: not TLS, at the first byte",
	    ch_feed(&p, (const uint8_t *)"G", 1, &info) == CH_ERR_NOTTLS &&
	    ch_feed(&p, (const uint8_t *)"ET /", 4, &info) ==
	    CH_ERR_NOTTLS);
}

/* Random damage: the pieces always agree with the whole. */
static void
test_mutants(void)
{
	static struct bld	 hs, rec, mut;
	struct fed		 whole, bytes, pieces;
	size_t			 i, k, nflip;
	int			 ok = 1, ok_at = 1, nok = 0;

	hello_hs(&hs, 20, 700);
	wrap(&hs, 0, &rec);
	for (i = 0; i < 400; i++) {
		memcpy(&mut, &rec, sizeof(rec));
		nflip = 1 + rnd() % 3;
		for (k = 0; k < nflip; k++)
			mut.b[rnd() % mut.n] ^= 1 << (rnd() % 8);
		if (i % 4 == 0)
			mut.n -= rnd() % 40;
		feed(mut.b, mut.n, SIZE_MAX, 0, &whole);
		feed(mut.b, mut.n, 1, 0, &bytes);
		feed(mut.b, mut.n, 0, 1, &pieces);
		if (!same(&whole, &bytes) || !same(&whole, &pieces))
			ok = 0;
		if (!agrees(mut.b, mut.n, 0, &bytes))
			ok_at = 0;
		if (whole.st == CH_OK)
			nok++;
	}
	UT_CHECK("chreasm: 400 damaged hellos, the same answer whole, by "
	    "bytes and in pieces", ok);
	UT_CHECK("chreasm: 400 damaged hellos answered at the byte that "
	    "decides", ok_at);
	UT_CHECK("chreasm: some damaged hellos still parse (the damage is "
	    "not always fatal)", nok > 0 && nok < 400);
}

int
main(void)
{
	test_ways();
	test_big();
	test_trailing();
	test_errors();
	test_mutants();
	UT_EXIT();
}
