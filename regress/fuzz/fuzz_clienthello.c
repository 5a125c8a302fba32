/*
 * fuzz_clienthello.c: libFuzzer target for the ClientHello/SNI parser.
 *
 * Besides memory errors it checks what the data path relies on:
 * - an accepted name is a clean lower-case DNS name and consumed stays
 *   inside the buffer and inside maxlen;
 * - CH_MORE only while the buffer is shorter than maxlen, so waiting
 *   for a hello is bounded;
 * - a prefix gets CH_MORE or the answer of the whole input, and once a
 *   prefix is answered every longer one gets the same answer;
 * - a smaller maxlen changes the answer to CH_ERR_TOOBIG or not at all,
 *   exactly at the hello's size;
 * - the same hello cut into other records gives the same answer;
 * - fed to ch_feed() in pieces, the bytes get after each piece the
 *   answer ch_parse() gives the bytes so far, for as much work.
 * Prefixes are parsed from exact-size copies so that ASan sees overreads.
 *
 * Seeds: regress/fuzz/corpus/clienthello/.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clienthello.h"
#include "fuzz.h"

#define PREFIX_ALL	512	/* every prefix up to this input size */
#define PREFIX_SAMPLES	128	/* else about this many */

static enum ch_status	 fz_parse(const uint8_t *, size_t, size_t,
			    struct ch_info *);
static int		 fz_complete(enum ch_status);
static int		 fz_same(enum ch_status, const struct ch_info *,
			    enum ch_status, const struct ch_info *);
static void		 fz_info(enum ch_status, const struct ch_info *,
			    size_t, size_t);
static void		 fz_prefixes(const uint8_t *, size_t, enum ch_status,
			    const struct ch_info *);
static void		 fz_maxlen(const uint8_t *, size_t, enum ch_status,
			    const struct ch_info *);
static void		 fz_resplit(const uint8_t *, enum ch_status,
			    const struct ch_info *, size_t);
static void		 fz_pieces(const uint8_t *, size_t, enum ch_status,
			    const struct ch_info *, size_t);

/* ch_parse() on an exact-size heap copy. */
static enum ch_status
fz_parse(const uint8_t *buf, size_t len, size_t maxlen,
    struct ch_info *info)
{
	enum ch_status	 st;
	uint8_t		*copy;

	copy = fz_copy(buf, len);
	memset(info, 0xa5, sizeof(*info));
	st = ch_parse(copy, len, maxlen, info);
	free(copy);
	return (st);
}

/* The statuses that come only with a whole, well-formed hello. */
static int
fz_complete(enum ch_status st)
{
	return (st == CH_OK || st == CH_ERR_NOSNI || st == CH_ERR_BADNAME);
}

static int
fz_same(enum ch_status a, const struct ch_info *ia, enum ch_status b,
    const struct ch_info *ib)
{
	if (a != b)
		return (0);
	if (!fz_complete(a))
		return (1);
	return (ia->consumed == ib->consumed && ia->version == ib->version &&
	    strcmp(ia->sni, ib->sni) == 0);
}

/* What must hold of one answer on its own. */
static void
fz_info(enum ch_status st, const struct ch_info *info, size_t len,
    size_t maxlen)
{
	size_t	 i, n, label = 0;
	int	 alpha = 0;
	char	 c;

	FZ_ASSERT(st <= CH_ERR_BADNAME);
	FZ_ASSERT(ch_strerror(st) != NULL && ch_strerror(st)[0] != '\0');
	if (st == CH_MORE)
		FZ_ASSERT(len < maxlen);
	if (!fz_complete(st))
		return;
	/* Record and handshake headers and the shortest body. */
	FZ_ASSERT(info->consumed >= 5 + 4 + 2 + 32 + 1 + 2 + 2 + 1 + 1);
	FZ_ASSERT(info->consumed <= len && info->consumed <= maxlen);
	FZ_ASSERT(info->version >= 0x0301);
	if (st != CH_OK) {
		FZ_ASSERT(info->sni[0] == '\0');
		return;
	}
	n = strnlen(info->sni, sizeof(info->sni));
	FZ_ASSERT(n >= 1 && n <= CH_NAMEMAX);
	for (i = 0; i < n; i++) {
		c = info->sni[i];
		if (c == '.') {
			FZ_ASSERT(label > 0 && info->sni[i - 1] != '-');
			label = 0;
			continue;
		}
		FZ_ASSERT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '-' && label > 0));
		if (c < '0' || c > '9')
			alpha = 1;
		FZ_ASSERT(++label <= 63);
	}
	FZ_ASSERT(label > 0 && info->sni[n - 1] != '-' && alpha);
}

/* Prefixes: CH_MORE, then from some length on the same answer. */
static void
fz_prefixes(const uint8_t *data, size_t size, enum ch_status st,
    const struct ch_info *info)
{
	struct ch_info	 pinfo;
	enum ch_status	 pst;
	size_t		 k, step;
	int		 answered = 0;

	step = size <= PREFIX_ALL ? 1 : size / PREFIX_SAMPLES;
	for (k = 0; k < size; k++) {
		if (k % step != 0 && !(fz_complete(st) &&
		    k + 2 >= info->consumed && k <= info->consumed + 1))
			continue;
		pst = fz_parse(data, k, 0, &pinfo);
		fz_info(pst, &pinfo, k, CH_MAXLEN);
		if (pst == CH_MORE) {
			FZ_ASSERT(!answered);
			continue;
		}
		answered = 1;
		FZ_ASSERT(fz_same(pst, &pinfo, st, info));
		if (fz_complete(st))
			FZ_ASSERT(k >= info->consumed);
	}
	if (fz_complete(st)) {
		pst = fz_parse(data, info->consumed, 0, &pinfo);
		FZ_ASSERT(fz_same(pst, &pinfo, st, info));
	}
}

/* A smaller maxlen gives CH_ERR_TOOBIG or the same answer. */
static void
fz_maxlen(const uint8_t *data, size_t size, enum ch_status st,
    const struct ch_info *info)
{
	struct ch_info	 minfo;
	enum ch_status	 mst;
	size_t		 m, i, tries[3];

	tries[0] = 1 + (size * 7 + (size > 0 ? data[size - 1] : 0)) % 700;
	tries[1] = fz_complete(st) ? info->consumed : 100;
	tries[2] = fz_complete(st) ? info->consumed - 1 : 6;
	for (i = 0; i < 3; i++) {
		m = tries[i];
		mst = fz_parse(data, size, m, &minfo);
		fz_info(mst, &minfo, size, m);
		FZ_ASSERT(mst == CH_ERR_TOOBIG || fz_same(mst, &minfo, st,
		    info));
		if (fz_complete(st))
			FZ_ASSERT(info->consumed <= m ?
			    fz_same(mst, &minfo, st, info) :
			    mst == CH_ERR_TOOBIG);
	}

	/* A larger maxlen may only undo a CH_ERR_TOOBIG. */
	mst = fz_parse(data, size, 4 * CH_MAXLEN, &minfo);
	fz_info(mst, &minfo, size, 4 * CH_MAXLEN);
	FZ_ASSERT(st == CH_ERR_TOOBIG || fz_same(mst, &minfo, st, info));
}

/* Cut the handshake bytes of a whole hello into records of chunk bytes. */
static void
fz_resplit(const uint8_t *data, enum ch_status st, const struct ch_info *info,
    size_t chunk)
{
	struct ch_info	 rinfo;
	enum ch_status	 rst;
	uint8_t		*hs, *out;
	size_t		 off, hslen = 0, n, outlen = 0, reclen;

	if ((hs = malloc(info->consumed)) == NULL)
		abort();
	for (off = 0; off < info->consumed; off += 5 + reclen) {
		reclen = (size_t)data[off + 3] << 8 | data[off + 4];
		memcpy(hs + hslen, data + off + 5, reclen);
		hslen += reclen;
	}
	FZ_ASSERT(off == info->consumed);
	if ((out = malloc(hslen + 5 * (hslen / chunk + 1))) == NULL)
		abort();
	for (off = 0; off < hslen; off += n) {
		n = hslen - off < chunk ? hslen - off : chunk;
		out[outlen++] = 22;
		out[outlen++] = 3;
		out[outlen++] = 3;
		out[outlen++] = n >> 8;
		out[outlen++] = n & 0xff;
		memcpy(out + outlen, hs + off, n);
		outlen += n;
	}
	rst = fz_parse(out, outlen, outlen, &rinfo);
	FZ_ASSERT(rst == st && rinfo.consumed == outlen &&
	    rinfo.version == info->version &&
	    strcmp(rinfo.sni, info->sni) == 0);
	free(out);
	free(hs);
}

/* ch_feed() in pieces of 1 to step bytes, sizes taken from the data. */
static void
fz_pieces(const uint8_t *data, size_t size, enum ch_status st,
    const struct ch_info *info, size_t step)
{
	static struct ch_parser	 p;
	struct ch_parser	 whole;
	struct ch_info		 finfo, pinfo;
	enum ch_status		 fst, pst;
	uint8_t			*copy;
	size_t			 off = 0, n;

	ch_init(&p, 0);
	do {
		n = 1 + (size > 0 ? data[(off * 31) % size] : 0) % step;
		if (n > size - off)
			n = size - off;
		if ((copy = malloc(n > 0 ? n : 1)) == NULL)
			abort();
		if (n > 0)
			memcpy(copy, data + off, n);
		memset(&finfo, 0xa5, sizeof(finfo));
		fst = ch_feed(&p, copy, n, &finfo);
		free(copy);
		off += n;
		if (off < size && (off % 8 == 0 || fst != CH_MORE)) {
			pst = fz_parse(data, off, 0, &pinfo);
			FZ_ASSERT(fz_same(fst, &finfo, pst, &pinfo));
		}
	} while (off < size);
	FZ_ASSERT(fz_same(fst, &finfo, st, info));
	ch_init(&whole, 0);
	(void)ch_feed(&whole, data, size, &finfo);
	FZ_ASSERT(p.work == whole.work && whole.work <= 2 * size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_info	 info, info2;
	enum ch_status	 st, st2;

	st = fz_parse(data, size, 0, &info);
	fz_info(st, &info, size, CH_MAXLEN);
	st2 = fz_parse(data, size, CH_MAXLEN, &info2);
	FZ_ASSERT(fz_same(st, &info, st2, &info2));

	fz_prefixes(data, size, st, &info);
	fz_maxlen(data, size, st, &info);
	fz_pieces(data, size, st, &info, 1);
	fz_pieces(data, size, st, &info, 1 + size % 61);
	if (fz_complete(st)) {
		fz_resplit(data, st, &info, 1);
		fz_resplit(data, st, &info, 1 + data[0] % 97);
		fz_resplit(data, st, &info, 16384);
	}
	return (0);
}
