/*
 * test_mp.c: the checked msgpack layer (mp.c).
 *
 * mp_check() and mp_parse() must accept every msgpack format (each
 * integer width, str/bin/ext of 8, 16 and 32-bit lengths, fixext,
 * float, containers of every width, nesting up to MP_MAXDEPTH) and
 * refuse every proper prefix of those, trailing bytes, the reserved
 * byte 0xc1, nesting deeper than MP_MAXDEPTH and, above all, lengths
 * that claim more than the input holds, without allocating what they
 * claim: the largest single allocation is measured (through the
 * sanitizer's allocation hook under ASan, through glibc's __libc_*
 * entry points otherwise).  The accessors must check type and bounds
 * and leave their output alone on failure.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "mp.h"
#include "unit.h"

#if defined(__SANITIZE_ADDRESS__)
#define UT_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UT_ASAN	1
#endif
#endif

#define MIB	(1024 * 1024)
#define DOCMAX	4096

struct doc {
	const char		*name;
	const char		*hex;
	msgpack_object_type	 type;
};

/* Every format, as the bytes a peer could send; no minimal encodings. */
static const struct doc	 valid[] = {
	{ "positive fixint 0", "00", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "positive fixint 127", "7f", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "negative fixint -1", "ff", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "negative fixint -32", "e0", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "nil", "c0", MSGPACK_OBJECT_NIL },
	{ "false", "c2", MSGPACK_OBJECT_BOOLEAN },
	{ "true", "c3", MSGPACK_OBJECT_BOOLEAN },
	{ "uint8", "ccff", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "uint16", "cdffff", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "uint32", "ceffffffff", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "uint64", "cfffffffffffffffff", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "int8", "d080", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "int16", "d18000", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "int32", "d280000000", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "int64", "d38000000000000000", MSGPACK_OBJECT_NEGATIVE_INTEGER },
	{ "int8 positive", "d005", MSGPACK_OBJECT_POSITIVE_INTEGER },
	{ "float32", "ca3fc00000", MSGPACK_OBJECT_FLOAT32 },
	{ "float64", "cb3ff8000000000000", MSGPACK_OBJECT_FLOAT64 },
	{ "fixstr empty", "a0", MSGPACK_OBJECT_STR },
	{ "fixstr", "a3616263", MSGPACK_OBJECT_STR },
	{ "fixstr 31", "bf61616161616161616161616161616161616161616161616161"
	    "616161616161", MSGPACK_OBJECT_STR },
	{ "str8 empty", "d900", MSGPACK_OBJECT_STR },
	{ "str8", "d903616263", MSGPACK_OBJECT_STR },
	{ "str16", "da0003616263", MSGPACK_OBJECT_STR },
	{ "str32", "db00000003616263", MSGPACK_OBJECT_STR },
	{ "bin8 empty", "c400", MSGPACK_OBJECT_BIN },
	{ "bin8", "c403010203", MSGPACK_OBJECT_BIN },
	{ "bin16", "c50003010203", MSGPACK_OBJECT_BIN },
	{ "bin32", "c600000003010203", MSGPACK_OBJECT_BIN },
	{ "fixext1", "d40501", MSGPACK_OBJECT_EXT },
	{ "fixext2", "d5050102", MSGPACK_OBJECT_EXT },
	{ "fixext4", "d60501020304", MSGPACK_OBJECT_EXT },
	{ "fixext8", "d7050102030405060708", MSGPACK_OBJECT_EXT },
	{ "fixext16", "d805000102030405060708090a0b0c0d0e0f",
	    MSGPACK_OBJECT_EXT },
	{ "ext8 empty", "c70005", MSGPACK_OBJECT_EXT },
	{ "ext8", "c70305010203", MSGPACK_OBJECT_EXT },
	{ "ext16", "c8000305010203", MSGPACK_OBJECT_EXT },
	{ "ext32", "c90000000305010203", MSGPACK_OBJECT_EXT },
	{ "fixarray empty", "90", MSGPACK_OBJECT_ARRAY },
	{ "fixarray", "93010203", MSGPACK_OBJECT_ARRAY },
	{ "array16 empty", "dc0000", MSGPACK_OBJECT_ARRAY },
	{ "array16", "dc0003010203", MSGPACK_OBJECT_ARRAY },
	{ "array32", "dd00000003010203", MSGPACK_OBJECT_ARRAY },
	{ "fixmap empty", "80", MSGPACK_OBJECT_MAP },
	{ "fixmap", "82a16101a16202", MSGPACK_OBJECT_MAP },
	{ "map16", "de0001a16101", MSGPACK_OBJECT_MAP },
	{ "map32", "df00000001a16101", MSGPACK_OBJECT_MAP },
	{ "map with non-string keys", "8201a16102c0", MSGPACK_OBJECT_MAP },
	{ "nested", "82a1619301 92c3c0 80 a16281a163dc0000",
	    MSGPACK_OBJECT_MAP },
	{ "array of every scalar", "9c00ffc0c2c3ccffd080ca3fc00000"
	    "cb3ff8000000000000a161c40101d40501", MSGPACK_OBJECT_ARRAY },
	{ "string with a NUL", "a3610062", MSGPACK_OBJECT_STR },
};

/* Lengths that claim far more than is there. */
static const struct doc	 liars[] = {
	{ "array32 of 2^31 in 6 bytes", "dd8000000001", 0 },
	{ "map32 of 2^31 in 6 bytes", "df8000000001", 0 },
	{ "array32 of 2^32-1", "ddffffffff01", 0 },
	{ "map32 of 2^32-1", "dfffffffff0101", 0 },
	{ "array16 of 65535 in 4 bytes", "dcffff01", 0 },
	{ "map16 of 65535 in 5 bytes", "deffff0101", 0 },
	{ "fixarray of 15 in 15 bytes", "9f0101010101010101010101010101",
	    0 },
	{ "fixmap of 2 in 4 bytes", "82010101", 0 },
	{ "map of 1 pair, key only", "81a161", 0 },
	{ "str32 of 2^31", "db8000000061", 0 },
	{ "str16 of 65535", "daffff6161", 0 },
	{ "bin32 of 2^31", "c68000000001", 0 },
	{ "ext32 of 2^32-1", "c9ffffffff0501", 0 },
	{ "ext8 of 255", "c7ff05", 0 },
	{ "ext8 without type", "c700", 0 },
	{ "fixext16 short", "d80501", 0 },
	{ "array32 of 2^31 nested", "91dd8000000001", 0 },
	{ "map32 of 2^31 as a map value", "81a161df8000000001", 0 },
};

/* Malformed otherwise. */
static const struct doc	 bad[] = {
	{ "reserved 0xc1", "c1", 0 },
	{ "reserved 0xc1 in an array", "91c1", 0 },
	{ "reserved 0xc1 as a map key", "81c101", 0 },
	{ "reserved 0xc1 as a map value", "81a161c1", 0 },
	{ "trailing byte", "0100", 0 },
	{ "two objects", "a161a162", 0 },
	{ "trailing byte after a map", "80c0", 0 },
	{ "trailing byte after an array", "910101", 0 },
	{ "uint64 missing a byte", "cfffffffffffffff", 0 },
	{ "float64 missing a byte", "cb3ff80000000000", 0 },
};

static size_t	 alloc_max;	/* largest allocation since reset */

#ifdef UT_ASAN
int	__sanitizer_install_malloc_and_free_hooks(
	    void (*)(const volatile void *, size_t),
	    void (*)(const volatile void *));

static void
alloc_hook(const volatile void *p, size_t n)
{
	if (n > alloc_max)
		alloc_max = n;
}

static void
free_hook(const volatile void *p)
{
}

static void
alloc_track(void)
{
	__sanitizer_install_malloc_and_free_hooks(alloc_hook, free_hook);
}
#else
void	*__libc_malloc(size_t);
void	*__libc_calloc(size_t, size_t);
void	*__libc_realloc(void *, size_t);

void *
malloc(size_t n)
{
	if (n > alloc_max)
		alloc_max = n;
	return (__libc_malloc(n));
}

void *
calloc(size_t n, size_t m)
{
	if (m != 0 && n <= SIZE_MAX / m && n * m > alloc_max)
		alloc_max = n * m;
	else if (m != 0 && n > SIZE_MAX / m)
		alloc_max = SIZE_MAX;
	return (__libc_calloc(n, m));
}

void *
realloc(void *p, size_t n)
{
	if (n > alloc_max)
		alloc_max = n;
	return (__libc_realloc(p, n));
}

static void
alloc_track(void)
{
}
#endif

static size_t	 nest(uint8_t *, size_t, int, int, int);
static int	 parse_ok(const uint8_t *, size_t);
static void	 test_valid(void);
static void	 test_values(void);
static void	 test_liars(void);
static void	 test_bad(void);
static void	 test_depth(void);
static void	 test_wide(void);
static void	 test_get_str(void);
static void	 test_get_uint(void);
static void	 test_get_other(void);
static void	 test_map(void);
static void	 test_pack(void);

/*
 * depth containers, each holding the next (an array [x] or a map
 * {"": x}), around leaf (a msgpack byte).
 */
static size_t
nest(uint8_t *b, size_t sz, int depth, int maps, int leaf)
{
	size_t	 n = 0;
	int	 i;

	for (i = 0; i < depth; i++) {
		if (n + 2 >= sz)
			exit(1);
		if (maps && i % 2 == 0) {
			b[n++] = 0x81;
			b[n++] = 0xa0;
		} else
			b[n++] = 0x91;
	}
	b[n++] = (uint8_t)leaf;
	return (n);
}

/* mp_parse() succeeds; frees what it made. */
static int
parse_ok(const uint8_t *b, size_t len)
{
	struct mp_doc	 d;

	if (mp_parse(&d, b, len) == -1)
		return (0);
	mp_free(&d);
	return (1);
}

static void
test_valid(void)
{
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX], *copy;
	size_t		 i, k, len;
	char		 name[128];
	int		 okall, prefixes, trailing, twice, cleared;

	okall = prefixes = trailing = twice = cleared = 1;
	for (i = 0; i < nitems(valid); i++) {
		len = ut_unhex(valid[i].hex, b, sizeof(b));
		(void)snprintf(name, sizeof(name), "mp: accepts %s",
		    valid[i].name);
		if (mp_check(b, len, MP_MAXDEPTH) != 0 ||
		    mp_parse(&d, b, len) != 0) {
			UT_CHECK(name, 0);
			okall = 0;
			continue;
		}
		UT_CHECK(name, d.root != NULL &&
		    d.root->type == valid[i].type);
		mp_free(&d);
		if (d.root != NULL)
			cleared = 0;

		/* Exact-size copies, so that ASan sees any overread. */
		for (k = 0; k < len; k++) {
			copy = malloc(k > 0 ? k : 1);
			memcpy(copy, b, k);
			if (mp_check(copy, k, MP_MAXDEPTH) != -1 ||
			    parse_ok(copy, k))
				prefixes = 0;
			free(copy);
		}
		b[len] = 0xc0;
		if (mp_check(b, len + 1, MP_MAXDEPTH) != -1 ||
		    parse_ok(b, len + 1))
			trailing = 0;
		memcpy(b + len, b, len);
		if (mp_check(b, 2 * len, MP_MAXDEPTH) != -1 ||
		    parse_ok(b, 2 * len))
			twice = 0;
	}
	UT_CHECK("mp: every format is accepted", okall);
	UT_CHECK("mp: mp_free clears root", cleared);
	UT_CHECK("mp: every proper prefix of every format is refused",
	    prefixes);
	UT_CHECK("mp: a trailing byte after any format is refused",
	    trailing);
	UT_CHECK("mp: two objects back to back are refused", twice);
	UT_CHECK("mp: empty input is refused",
	    mp_check(b, 0, MP_MAXDEPTH) == -1 && !parse_ok(b, 0));
}

/* What the accepted formats decode to. */
static void
test_values(void)
{
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX];
	uint64_t	 v;
	size_t		 len;
	char		 s[8];
	uint8_t		 bin[3];

	len = ut_unhex("cfffffffffffffffff", b, sizeof(b));
	UT_CHECK("mp: uint64 max decodes", mp_parse(&d, b, len) == 0 &&
	    mp_get_uint(d.root, UINT64_MAX, &v) == 0 && v == UINT64_MAX);
	mp_free(&d);
	len = ut_unhex("d38000000000000000", b, sizeof(b));
	UT_CHECK("mp: int64 min decodes", mp_parse(&d, b, len) == 0 &&
	    d.root->via.i64 == INT64_MIN);
	mp_free(&d);
	len = ut_unhex("cb3ff8000000000000", b, sizeof(b));
	UT_CHECK("mp: float64 decodes", mp_parse(&d, b, len) == 0 &&
	    d.root->via.f64 == 1.5);
	mp_free(&d);
	len = ut_unhex("ca3fc00000", b, sizeof(b));
	UT_CHECK("mp: float32 decodes", mp_parse(&d, b, len) == 0 &&
	    d.root->via.f64 == 1.5);
	mp_free(&d);
	len = ut_unhex("db00000003616263", b, sizeof(b));
	UT_CHECK("mp: str32 decodes", mp_parse(&d, b, len) == 0 &&
	    mp_get_str(d.root, s, sizeof(s)) == 0 && strcmp(s, "abc") == 0);
	mp_free(&d);
	len = ut_unhex("c600000003010203", b, sizeof(b));
	UT_CHECK("mp: bin32 decodes", mp_parse(&d, b, len) == 0 &&
	    mp_get_bin(d.root, bin, 3) == 0 && bin[0] == 1 && bin[2] == 3);
	mp_free(&d);
	len = ut_unhex("c90000000305010203", b, sizeof(b));
	UT_CHECK("mp: ext32 decodes", mp_parse(&d, b, len) == 0 &&
	    d.root->via.ext.type == 5 && d.root->via.ext.size == 3);
	mp_free(&d);
	len = ut_unhex("dd00000003010203", b, sizeof(b));
	UT_CHECK("mp: array32 decodes", mp_parse(&d, b, len) == 0 &&
	    d.root->via.array.size == 3 &&
	    d.root->via.array.ptr[2].via.u64 == 3);
	mp_free(&d);
}

static void
test_liars(void)
{
	uint8_t		 b[DOCMAX], *copy;
	size_t		 i, len;
	char		 name[128];
	int		 ck, pr;

	/* The probe must see msgpack-c's allocations at all. */
	len = ut_unhex("dd00000003010203", b, sizeof(b));
	alloc_max = 0;
	UT_CHECK("mp: the allocation probe sees a parse allocate",
	    parse_ok(b, len) && alloc_max > 0);

	for (i = 0; i < nitems(liars); i++) {
		len = ut_unhex(liars[i].hex, b, sizeof(b));
		copy = malloc(len);
		memcpy(copy, b, len);
		alloc_max = 0;
		ck = mp_check(copy, len, MP_MAXDEPTH);
		pr = parse_ok(copy, len);
		(void)snprintf(name, sizeof(name), "mp: refuses %s",
		    liars[i].name);
		UT_CHECK(name, ck == -1 && !pr);
		(void)snprintf(name, sizeof(name),
		    "mp: %s allocates less than 1 MiB", liars[i].name);
		UT_CHECK(name, alloc_max < MIB);
		free(copy);
	}
}

static void
test_bad(void)
{
	uint8_t		 b[DOCMAX];
	size_t		 i, len;
	char		 name[128];

	for (i = 0; i < nitems(bad); i++) {
		len = ut_unhex(bad[i].hex, b, sizeof(b));
		(void)snprintf(name, sizeof(name), "mp: refuses %s",
		    bad[i].name);
		UT_CHECK(name, mp_check(b, len, MP_MAXDEPTH) == -1 &&
		    !parse_ok(b, len));
	}
}

static void
test_depth(void)
{
	uint8_t		*b;
	size_t		 len, big = 200000;

	if ((b = malloc(big)) == NULL)
		exit(1);
	len = nest(b, big, MP_MAXDEPTH, 0, 0x01);
	UT_CHECK("mp: MP_MAXDEPTH nested arrays are accepted",
	    mp_check(b, len, MP_MAXDEPTH) == 0 && parse_ok(b, len));
	len = nest(b, big, MP_MAXDEPTH + 1, 0, 0x01);
	UT_CHECK("mp: MP_MAXDEPTH + 1 nested arrays are refused",
	    mp_check(b, len, MP_MAXDEPTH) == -1 && !parse_ok(b, len));
	len = nest(b, big, MP_MAXDEPTH, 1, 0x01);
	UT_CHECK("mp: MP_MAXDEPTH nested maps and arrays are accepted",
	    parse_ok(b, len));
	len = nest(b, big, MP_MAXDEPTH + 1, 1, 0x01);
	UT_CHECK("mp: MP_MAXDEPTH + 1 nested maps and arrays are refused",
	    !parse_ok(b, len));
	len = nest(b, big, 100000, 0, 0x01);
	UT_CHECK("mp: 100000 nested arrays are refused",
	    mp_check(b, len, MP_MAXDEPTH) == -1 && !parse_ok(b, len));
	len = nest(b, big, 50000, 1, 0x01);
	UT_CHECK("mp: 50000 nested maps are refused", !parse_ok(b, len));

	len = nest(b, big, 1, 0, 0x01);
	UT_CHECK("mp: maxdepth 1 takes [1]", mp_check(b, len, 1) == 0);
	len = nest(b, big, 2, 0, 0x01);
	UT_CHECK("mp: maxdepth 1 refuses [[1]]", mp_check(b, len, 1) == -1);
	len = nest(b, big, 0, 0, 0x01);
	UT_CHECK("mp: maxdepth 0 takes a scalar", mp_check(b, len, 0) == 0);
	len = nest(b, big, 1, 0, 0x01);
	UT_CHECK("mp: maxdepth 0 refuses [1]", mp_check(b, len, 0) == -1);
	len = nest(b, big, MP_MAXDEPTH + 1, 0, 0x01);
	UT_CHECK("mp: maxdepth above MP_MAXDEPTH is clamped",
	    mp_check(b, len, 1000) == -1);
	free(b);
}

/* Containers as wide as their count allows. */
static void
test_wide(void)
{
	uint8_t		*b;
	size_t		 n = 65535, len, i;
	struct mp_doc	 d;

	if ((b = malloc(3 + 2 * n + 1)) == NULL)
		exit(1);
	b[0] = 0xdc;
	b[1] = 0xff;
	b[2] = 0xff;
	for (i = 0; i < n; i++)
		b[3 + i] = 0xc0;
	len = 3 + n;
	UT_CHECK("mp: array16 of 65535 nils is accepted",
	    mp_parse(&d, b, len) == 0 && d.root->via.array.size == n);
	mp_free(&d);
	UT_CHECK("mp: array16 of 65535 with one missing is refused",
	    !parse_ok(b, len - 1));
	b[0] = 0xde;
	for (i = 0; i < 2 * n; i++)
		b[3 + i] = (uint8_t)(i & 0x7f);
	len = 3 + 2 * n;
	UT_CHECK("mp: map16 of 65535 pairs is accepted",
	    mp_parse(&d, b, len) == 0 && d.root->via.map.size == n);
	mp_free(&d);
	UT_CHECK("mp: map16 of 65535 with a value missing is refused",
	    !parse_ok(b, len - 1));
	free(b);
}

static void
test_get_str(void)
{
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX];
	size_t		 len, i;
	char		 dst[16];
	int		 clean;

	len = ut_unhex("a3616263", b, sizeof(b));
	mp_parse(&d, b, len);
	memset(dst, 'Z', sizeof(dst));
	UT_CHECK("mp: mp_get_str fits with its NUL",
	    mp_get_str(d.root, dst, 4) == 0 && strcmp(dst, "abc") == 0 &&
	    dst[4] == 'Z');
	memset(dst, 'Z', sizeof(dst));
	UT_CHECK("mp: mp_get_str refuses a string without room for NUL",
	    mp_get_str(d.root, dst, 3) == -1);
	for (clean = 1, i = 0; i < sizeof(dst); i++)
		if (dst[i] != 'Z')
			clean = 0;
	UT_CHECK("mp: a refused mp_get_str writes nothing", clean);
	UT_CHECK("mp: mp_get_str refuses dstsz 0",
	    mp_get_str(d.root, dst, 0) == -1);
	mp_free(&d);

	len = ut_unhex("a0", b, sizeof(b));
	mp_parse(&d, b, len);
	dst[0] = 'Z';
	UT_CHECK("mp: mp_get_str of an empty string",
	    mp_get_str(d.root, dst, 1) == 0 && dst[0] == '\0');
	mp_free(&d);

	len = ut_unhex("a3610062", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_str refuses an embedded NUL",
	    mp_get_str(d.root, dst, sizeof(dst)) == -1);
	mp_free(&d);
	len = ut_unhex("a3616200", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_str refuses a trailing NUL",
	    mp_get_str(d.root, dst, sizeof(dst)) == -1);
	mp_free(&d);

	len = ut_unhex("c403616263", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_str refuses bin",
	    mp_get_str(d.root, dst, sizeof(dst)) == -1);
	mp_free(&d);
	len = ut_unhex("01", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_str refuses an int",
	    mp_get_str(d.root, dst, sizeof(dst)) == -1);
	mp_free(&d);
	UT_CHECK("mp: mp_get_str refuses NULL",
	    mp_get_str(NULL, dst, sizeof(dst)) == -1);
}

static void
test_get_uint(void)
{
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX];
	uint64_t	 v;
	size_t		 len;

	len = ut_unhex("05", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint at max",
	    mp_get_uint(d.root, 5, &v) == 0 && v == 5);
	v = 77;
	UT_CHECK("mp: mp_get_uint above max is refused",
	    mp_get_uint(d.root, 4, &v) == -1 && v == 77);
	UT_CHECK("mp: mp_get_uint with max 0 refuses 5",
	    mp_get_uint(d.root, 0, &v) == -1);
	mp_free(&d);

	len = ut_unhex("cf0000000100000000", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint refuses UINT32_MAX + 1 for max UINT32_MAX",
	    mp_get_uint(d.root, UINT32_MAX, &v) == -1);
	mp_free(&d);

	len = ut_unhex("ff", b, sizeof(b));
	mp_parse(&d, b, len);
	v = 77;
	UT_CHECK("mp: mp_get_uint refuses -1",
	    mp_get_uint(d.root, UINT64_MAX, &v) == -1 && v == 77);
	mp_free(&d);
	len = ut_unhex("d38000000000000000", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint refuses INT64_MIN",
	    mp_get_uint(d.root, UINT64_MAX, &v) == -1);
	mp_free(&d);
	len = ut_unhex("d10005", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint takes a non-negative int16",
	    mp_get_uint(d.root, 10, &v) == 0 && v == 5);
	mp_free(&d);
	len = ut_unhex("cb3ff0000000000000", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint refuses a float",
	    mp_get_uint(d.root, UINT64_MAX, &v) == -1);
	mp_free(&d);
	len = ut_unhex("a131", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint refuses a string",
	    mp_get_uint(d.root, UINT64_MAX, &v) == -1);
	mp_free(&d);
	len = ut_unhex("c3", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_uint refuses true",
	    mp_get_uint(d.root, UINT64_MAX, &v) == -1);
	mp_free(&d);
	UT_CHECK("mp: mp_get_uint refuses NULL",
	    mp_get_uint(NULL, UINT64_MAX, &v) == -1);
}

static void
test_get_other(void)
{
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX], out[8];
	size_t		 len;
	int		 v;

	len = ut_unhex("c40401020304", b, sizeof(b));
	mp_parse(&d, b, len);
	memset(out, 0xee, sizeof(out));
	UT_CHECK("mp: mp_get_bin exact length",
	    mp_get_bin(d.root, out, 4) == 0 && out[0] == 1 && out[3] == 4 &&
	    out[4] == 0xee);
	memset(out, 0xee, sizeof(out));
	UT_CHECK("mp: mp_get_bin refuses a shorter length",
	    mp_get_bin(d.root, out, 3) == -1 && out[0] == 0xee);
	UT_CHECK("mp: mp_get_bin refuses a longer length",
	    mp_get_bin(d.root, out, 5) == -1 && out[0] == 0xee);
	mp_free(&d);
	len = ut_unhex("c400", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bin of an empty bin",
	    mp_get_bin(d.root, out, 0) == 0);
	mp_free(&d);
	len = ut_unhex("a461626364", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bin refuses a string",
	    mp_get_bin(d.root, out, 4) == -1);
	mp_free(&d);
	UT_CHECK("mp: mp_get_bin refuses NULL",
	    mp_get_bin(NULL, out, 4) == -1);

	len = ut_unhex("c3", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bool true",
	    mp_get_bool(d.root, &v) == 0 && v == 1);
	mp_free(&d);
	len = ut_unhex("c2", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bool false",
	    mp_get_bool(d.root, &v) == 0 && v == 0);
	UT_CHECK("mp: false is not nil", !mp_is_nil(d.root));
	mp_free(&d);
	len = ut_unhex("01", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bool refuses 1", mp_get_bool(d.root, &v) == -1);
	mp_free(&d);
	len = ut_unhex("c0", b, sizeof(b));
	mp_parse(&d, b, len);
	UT_CHECK("mp: mp_get_bool refuses nil",
	    mp_get_bool(d.root, &v) == -1);
	UT_CHECK("mp: mp_is_nil of nil", mp_is_nil(d.root));
	mp_free(&d);
	UT_CHECK("mp: mp_is_nil of NULL is false", !mp_is_nil(NULL));
	UT_CHECK("mp: mp_get_bool refuses NULL", mp_get_bool(NULL, &v) == -1);
}

static void
test_map(void)
{
	struct mp_out		 o;
	struct mp_doc		 d;
	const msgpack_object	*a;
	uint8_t			 bin[4] = { 1, 2, 3, 4 }, out[4];
	uint64_t		 v;
	char			 s[32];
	int			 bv;

	mp_out_init(&o);
	msgpack_pack_map(&o.pk, 9);
	mp_pack_kstr(&o.pk, "domain", "example.org");
	mp_pack_kuint(&o.pk, "ttl", 300);
	mp_pack_kbin(&o.pk, "token", bin, sizeof(bin));
	mp_pack_kbool(&o.pk, "up", 1);
	mp_pack_str(&o.pk, "domains");
	msgpack_pack_array(&o.pk, 3);
	mp_pack_str(&o.pk, "a");
	mp_pack_str(&o.pk, "b");
	mp_pack_str(&o.pk, "c");
	mp_pack_kstr(&o.pk, "dom", "short");
	msgpack_pack_uint8(&o.pk, 7);		/* a non-string key */
	mp_pack_str(&o.pk, "seven");
	msgpack_pack_bin(&o.pk, 3);		/* a bin key "ttl" */
	msgpack_pack_bin_body(&o.pk, "ttl", 3);
	msgpack_pack_uint8(&o.pk, 1);
	mp_pack_kstr(&o.pk, "neg", "");
	if (mp_parse(&d, o.sb.data, o.sb.size) == -1) {
		UT_CHECK("mp: packed map parses", 0);
		mp_out_free(&o);
		return;
	}
	UT_CHECK("mp: mp_map_str finds its key",
	    mp_map_str(d.root, "domain", s, sizeof(s)) == 0 &&
	    strcmp(s, "example.org") == 0);
	UT_CHECK("mp: mp_map_str does not match a key prefix",
	    mp_map_str(d.root, "domai", s, sizeof(s)) == -1);
	UT_CHECK("mp: mp_map_str does not match a longer key",
	    mp_map_str(d.root, "domainx", s, sizeof(s)) == -1);
	UT_CHECK("mp: mp_map_str matches the exact short key",
	    mp_map_str(d.root, "dom", s, sizeof(s)) == 0 &&
	    strcmp(s, "short") == 0);
	UT_CHECK("mp: mp_map_str respects dstsz",
	    mp_map_str(d.root, "domain", s, 11) == -1);
	UT_CHECK("mp: mp_map_str of a uint is refused",
	    mp_map_str(d.root, "ttl", s, sizeof(s)) == -1);
	UT_CHECK("mp: mp_map_str of a missing key is refused",
	    mp_map_str(d.root, "nope", s, sizeof(s)) == -1);
	UT_CHECK("mp: mp_map_str of an empty key is refused",
	    mp_map_str(d.root, "", s, sizeof(s)) == -1);
	UT_CHECK("mp: mp_map_str of an empty string value",
	    mp_map_str(d.root, "neg", s, sizeof(s)) == 0 && s[0] == '\0');

	UT_CHECK("mp: mp_map_uint",
	    mp_map_uint(d.root, "ttl", 300, &v) == 0 && v == 300);
	UT_CHECK("mp: mp_map_uint above max",
	    mp_map_uint(d.root, "ttl", 299, &v) == -1);
	UT_CHECK("mp: mp_map_uint of a string",
	    mp_map_uint(d.root, "domain", UINT64_MAX, &v) == -1);
	UT_CHECK("mp: mp_map_uint of a missing key",
	    mp_map_uint(d.root, "TTL", UINT64_MAX, &v) == -1);

	UT_CHECK("mp: mp_map_bin",
	    mp_map_bin(d.root, "token", out, 4) == 0 &&
	    memcmp(out, bin, 4) == 0);
	UT_CHECK("mp: mp_map_bin of the wrong length",
	    mp_map_bin(d.root, "token", out, 3) == -1);
	UT_CHECK("mp: mp_map_bin of a string",
	    mp_map_bin(d.root, "domain", out, 4) == -1);

	UT_CHECK("mp: mp_map_bool",
	    mp_map_bool(d.root, "up", &bv) == 0 && bv == 1);
	UT_CHECK("mp: mp_map_bool of a uint",
	    mp_map_bool(d.root, "ttl", &bv) == -1);
	UT_CHECK("mp: mp_map_bool of a missing key",
	    mp_map_bool(d.root, "down", &bv) == -1);

	a = mp_map_array(d.root, "domains", 3);
	UT_CHECK("mp: mp_map_array at max",
	    a != NULL && a->via.array.size == 3 &&
	    mp_get_str(&a->via.array.ptr[2], s, sizeof(s)) == 0 &&
	    strcmp(s, "c") == 0);
	UT_CHECK("mp: mp_map_array above max",
	    mp_map_array(d.root, "domains", 2) == NULL);
	UT_CHECK("mp: mp_map_array of a string",
	    mp_map_array(d.root, "domain", 10) == NULL);
	UT_CHECK("mp: mp_map_array of a missing key",
	    mp_map_array(d.root, "nope", 10) == NULL);

	UT_CHECK("mp: a non-string key is never matched",
	    mp_map_get(d.root, "seven") == NULL);
	UT_CHECK("mp: mp_map_get on something not a map",
	    mp_map_get(mp_map_get(d.root, "domain"), "domain") == NULL);
	UT_CHECK("mp: mp_map_get on NULL", mp_map_get(NULL, "x") == NULL);
	UT_CHECK("mp: accessors of a lookup in a non-map refuse",
	    mp_map_str(a, "a", s, sizeof(s)) == -1 &&
	    mp_map_uint(a, "a", 1, &v) == -1 &&
	    mp_map_bin(a, "a", out, 1) == -1 &&
	    mp_map_bool(a, "a", &bv) == -1 &&
	    mp_map_array(a, "a", 1) == NULL);
	mp_free(&d);

	mp_out_reset(&o);
	UT_CHECK("mp: mp_out_reset empties the buffer", o.sb.size == 0);
	mp_pack_str(&o.pk, "again");
	UT_CHECK("mp: the packer works after mp_out_reset",
	    mp_parse(&d, o.sb.data, o.sb.size) == 0 &&
	    mp_get_str(d.root, s, sizeof(s)) == 0 &&
	    strcmp(s, "again") == 0);
	mp_free(&d);
	mp_out_free(&o);
	UT_CHECK("mp: mp_out_free clears the buffer",
	    o.sb.data == NULL && o.sb.size == 0);
}

/* Packing shorthands: bytes as the spec has them. */
static void
test_pack(void)
{
	struct mp_out	 o;
	uint8_t		 want[64];
	size_t		 len;

	mp_out_init(&o);
	msgpack_pack_map(&o.pk, 2);
	mp_pack_kuint(&o.pk, "a", 1);
	mp_pack_kbool(&o.pk, "b", 0);
	len = ut_unhex("82a16101a162c2", want, sizeof(want));
	UT_CHECK("mp: mp_pack_kuint/kbool bytes",
	    o.sb.size == len && memcmp(o.sb.data, want, len) == 0);
	mp_out_reset(&o);
	mp_pack_kbin(&o.pk, "k", "\0\1", 2);
	mp_pack_kstr(&o.pk, "s", "");
	len = ut_unhex("a16bc4020001a173a0", want, sizeof(want));
	UT_CHECK("mp: mp_pack_kbin/kstr bytes",
	    o.sb.size == len && memcmp(o.sb.data, want, len) == 0);
	mp_out_free(&o);
}

int
main(void)
{
	alloc_track();
	test_valid();
	test_values();
	test_liars();
	test_bad();
	test_depth();
	test_wide();
	test_get_str();
	test_get_uint();
	test_get_other();
	test_map();
	test_pack();
	UT_EXIT();
}
