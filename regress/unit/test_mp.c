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

/* The accessors test_get() and test_map() try. */
enum getter {
	G_STR,		/* mp_get_str, mp_map_str */
	G_UINT,		/* mp_get_uint, mp_map_uint */
	G_BIN,		/* mp_get_bin, mp_map_bin */
	G_BOOL,		/* mp_get_bool, mp_map_bool */
	G_NIL,		/* mp_is_nil */
	G_ARRAY,	/* the array, mp_map_array: "size last" */
	G_INT,		/* a negative integer */
	G_FLOAT,	/* a float of either width */
	G_EXT,		/* an ext: "type size" */
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
static int	 get(const msgpack_object *, const char *, enum getter,
		    uint64_t, char *, size_t, int *);
static void	 test_valid(void);
static void	 test_liars(void);
static void	 test_bad(void);
static void	 test_depth(void);
static void	 test_wide(void);
static void	 test_get(void);
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
	static const struct {
		const char	*name;
		int		 depth;
		int		 maps;		/* maps and arrays in turn */
		int		 maxdepth;	/* for mp_check(); -1: none */
		int		 check;		/* what mp_check() returns */
		int		 parses;	/* -1: not parsed */
	} cases[] = {
		{ "MP_MAXDEPTH nested arrays are accepted", MP_MAXDEPTH, 0,
		    MP_MAXDEPTH, 0, 1 },
		{ "MP_MAXDEPTH + 1 nested arrays are refused",
		    MP_MAXDEPTH + 1, 0, MP_MAXDEPTH, -1, 0 },
		{ "MP_MAXDEPTH nested maps and arrays are accepted",
		    MP_MAXDEPTH, 1, -1, 0, 1 },
		{ "MP_MAXDEPTH + 1 nested maps and arrays are refused",
		    MP_MAXDEPTH + 1, 1, -1, 0, 0 },
		{ "100000 nested arrays are refused", 100000, 0, MP_MAXDEPTH,
		    -1, 0 },
		{ "50000 nested maps are refused", 50000, 1, -1, 0, 0 },
		{ "maxdepth 1 takes [1]", 1, 0, 1, 0, -1 },
		{ "maxdepth 1 refuses [[1]]", 2, 0, 1, -1, -1 },
		{ "maxdepth 0 takes a scalar", 0, 0, 0, 0, -1 },
		{ "maxdepth 0 refuses [1]", 1, 0, 0, -1, -1 },
		{ "maxdepth above MP_MAXDEPTH is clamped", MP_MAXDEPTH + 1, 0,
		    1000, -1, -1 },
	};
	uint8_t		*b;
	size_t		 len, i, big = 200000;
	char		 name[128];

	if ((b = malloc(big)) == NULL)
		exit(1);
	for (i = 0; i < nitems(cases); i++) {
		len = nest(b, big, cases[i].depth, cases[i].maps, 0x01);
		(void)snprintf(name, sizeof(name), "mp: %s", cases[i].name);
		UT_CHECK(name, (cases[i].maxdepth == -1 ||
		    mp_check(b, len, cases[i].maxdepth) == cases[i].check) &&
		    (cases[i].parses == -1 ||
		    parse_ok(b, len) == cases[i].parses));
	}
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

/*
 * One accessor on o (for key != NULL: the mp_map_ one on the map o):
 * what it returns, and what it gave, written into val.  dst is filled
 * with 'Z' first; *clean says whether a failure left it so.
 */
static int
get(const msgpack_object *o, const char *key, enum getter what,
    uint64_t arg, char *val, size_t valsz, int *clean)
{
	const msgpack_object	*a, *last;
	uint8_t			 dst[64];
	uint64_t		 u = 77;
	size_t			 i;
	int			 r = -1, bv = 77;

	memset(dst, 'Z', sizeof(dst));
	val[0] = '\0';
	switch (what) {
	case G_STR:
		r = key != NULL ? mp_map_str(o, key, (char *)dst, arg) :
		    mp_get_str(o, (char *)dst, arg);
		if (r == 0)
			(void)snprintf(val, valsz, "%s", (char *)dst);
		/* the NUL is the last byte written */
		if (r == 0 && arg < sizeof(dst) &&
		    dst[strlen((char *)dst) + 1] != 'Z')
			r = -2;
		break;
	case G_UINT:
		r = key != NULL ? mp_map_uint(o, key, arg, &u) :
		    mp_get_uint(o, arg, &u);
		if (r == 0)
			(void)snprintf(val, valsz, "%llu",
			    (unsigned long long)u);
		else if (u != 77)
			dst[0] = 0;
		break;
	case G_BIN:
		r = key != NULL ? mp_map_bin(o, key, dst, arg) :
		    mp_get_bin(o, dst, arg);
		for (i = 0; r == 0 && i < arg && 2 * i + 2 < valsz; i++)
			(void)snprintf(val + 2 * i, 3, "%02x", dst[i]);
		if (r == 0 && dst[arg] != 'Z')
			r = -2;
		break;
	case G_BOOL:
		r = key != NULL ? mp_map_bool(o, key, &bv) :
		    mp_get_bool(o, &bv);
		if (r == 0)
			(void)snprintf(val, valsz, "%d", bv);
		else if (bv != 77)
			dst[0] = 0;
		break;
	case G_NIL:
		r = mp_is_nil(o);
		break;
	case G_ARRAY:
		a = key != NULL ? mp_map_array(o, key, arg) : o;
		if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY ||
		    a->via.array.size == 0)
			break;
		r = 0;
		last = &a->via.array.ptr[a->via.array.size - 1];
		if (last->type == MSGPACK_OBJECT_STR)
			(void)snprintf(val, valsz, "%u %.*s",
			    a->via.array.size, (int)last->via.str.size,
			    last->via.str.ptr);
		else
			(void)snprintf(val, valsz, "%u %llu",
			    a->via.array.size,
			    (unsigned long long)last->via.u64);
		break;
	case G_INT:
		if (o == NULL || o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
			break;
		r = 0;
		(void)snprintf(val, valsz, "%lld", (long long)o->via.i64);
		break;
	case G_FLOAT:
		if (o == NULL || (o->type != MSGPACK_OBJECT_FLOAT32 &&
		    o->type != MSGPACK_OBJECT_FLOAT64))
			break;
		r = 0;
		(void)snprintf(val, valsz, "%g", o->via.f64);
		break;
	case G_EXT:
		if (o == NULL || o->type != MSGPACK_OBJECT_EXT)
			break;
		r = 0;
		(void)snprintf(val, valsz, "%d %u", o->via.ext.type,
		    o->via.ext.size);
		break;
	}
	for (*clean = 1, i = 0; i < sizeof(dst); i++)
		if (dst[i] != 'Z')
			*clean = 0;
	return (r);
}

/* What the accepted formats decode to, and the accessors on them. */
static void
test_get(void)
{
	static const struct {
		const char	*name;
		const char	*hex;	/* the document; NULL: no object */
		enum getter	 what;
		uint64_t	 arg;	/* dstsz, max or length */
		int		 want;	/* what the accessor returns */
		const char	*val;	/* what it gave, on success */
		const char	*clean;	/* the check that a failure wrote
					 * nothing, if not part of name's */
	} cases[] = {
		{ "uint64 max decodes", "cfffffffffffffffff", G_UINT,
		    UINT64_MAX, 0, "18446744073709551615", NULL },
		{ "int64 min decodes", "d38000000000000000", G_INT, 0, 0,
		    "-9223372036854775808", NULL },
		{ "float64 decodes", "cb3ff8000000000000", G_FLOAT, 0, 0,
		    "1.5", NULL },
		{ "float32 decodes", "ca3fc00000", G_FLOAT, 0, 0, "1.5", NULL },
		{ "str32 decodes", "db00000003616263", G_STR, 8, 0, "abc",
		    NULL },
		{ "bin32 decodes", "c600000003010203", G_BIN, 3, 0,
		    "010203", NULL },
		{ "ext32 decodes", "c90000000305010203", G_EXT, 0, 0, "5 3",
		    NULL },
		{ "array32 decodes", "dd00000003010203", G_ARRAY, 0, 0,
		    "3 3", NULL },

		{ "mp_get_str fits with its NUL", "a3616263", G_STR, 4, 0,
		    "abc", NULL },
		{ "mp_get_str refuses a string without room for NUL",
		    "a3616263", G_STR, 3, -1, NULL,
		    "a refused mp_get_str writes nothing" },
		{ "mp_get_str refuses dstsz 0", "a3616263", G_STR, 0, -1, NULL,
		    NULL },
		{ "mp_get_str of an empty string", "a0", G_STR, 1, 0, "",
		    NULL },
		{ "mp_get_str refuses an embedded NUL", "a3610062", G_STR, 16,
		    -1, NULL, NULL },
		{ "mp_get_str refuses a trailing NUL", "a3616200", G_STR, 16,
		    -1, NULL, NULL },
		{ "mp_get_str refuses bin", "c403616263", G_STR, 16, -1, NULL,
		    NULL },
		{ "mp_get_str refuses an int", "01", G_STR, 16, -1, NULL,
		    NULL },
		{ "mp_get_str refuses NULL", NULL, G_STR, 16, -1, NULL, NULL },

		{ "mp_get_uint at max", "05", G_UINT, 5, 0, "5", NULL },
		{ "mp_get_uint above max is refused", "05", G_UINT, 4, -1, NULL,
		    NULL },
		{ "mp_get_uint with max 0 refuses 5", "05", G_UINT, 0, -1, NULL,
		    NULL },
		{ "mp_get_uint refuses UINT32_MAX + 1 for max UINT32_MAX",
		    "cf0000000100000000", G_UINT, UINT32_MAX, -1, NULL, NULL },
		{ "mp_get_uint refuses -1", "ff", G_UINT, UINT64_MAX, -1, NULL,
		    NULL },
		{ "mp_get_uint refuses INT64_MIN", "d38000000000000000",
		    G_UINT, UINT64_MAX, -1, NULL, NULL },
		{ "mp_get_uint takes a non-negative int16", "d10005", G_UINT,
		    10, 0, "5", NULL },
		{ "mp_get_uint refuses a float", "cb3ff0000000000000", G_UINT,
		    UINT64_MAX, -1, NULL, NULL },
		{ "mp_get_uint refuses a string", "a131", G_UINT, UINT64_MAX,
		    -1, NULL, NULL },
		{ "mp_get_uint refuses true", "c3", G_UINT, UINT64_MAX, -1,
		    NULL, NULL },
		{ "mp_get_uint refuses NULL", NULL, G_UINT, UINT64_MAX, -1,
		    NULL, NULL },

		{ "mp_get_bin exact length", "c40401020304", G_BIN, 4, 0,
		    "01020304", NULL },
		{ "mp_get_bin refuses a shorter length", "c40401020304", G_BIN,
		    3, -1, NULL, NULL },
		{ "mp_get_bin refuses a longer length", "c40401020304", G_BIN,
		    5, -1, NULL, NULL },
		{ "mp_get_bin of an empty bin", "c400", G_BIN, 0, 0, "", NULL },
		{ "mp_get_bin refuses a string", "a461626364", G_BIN, 4, -1,
		    NULL, NULL },
		{ "mp_get_bin refuses NULL", NULL, G_BIN, 4, -1, NULL, NULL },

		{ "mp_get_bool true", "c3", G_BOOL, 0, 0, "1", NULL },
		{ "mp_get_bool false", "c2", G_BOOL, 0, 0, "0", NULL },
		{ "false is not nil", "c2", G_NIL, 0, 0, NULL, NULL },
		{ "mp_get_bool refuses 1", "01", G_BOOL, 0, -1, NULL, NULL },
		{ "mp_get_bool refuses nil", "c0", G_BOOL, 0, -1, NULL, NULL },
		{ "mp_is_nil of nil", "c0", G_NIL, 0, 1, NULL, NULL },
		{ "mp_is_nil of NULL is false", NULL, G_NIL, 0, 0, NULL, NULL },
		{ "mp_get_bool refuses NULL", NULL, G_BOOL, 0, -1, NULL, NULL },
	};
	struct mp_doc	 d;
	uint8_t		 b[DOCMAX];
	size_t		 i, len;
	char		 name[128], val[64];
	int		 r, clean, ok;

	for (i = 0; i < nitems(cases); i++) {
		d.root = NULL;
		if (cases[i].hex != NULL) {
			len = ut_unhex(cases[i].hex, b, sizeof(b));
			if (mp_parse(&d, b, len) == -1) {
				(void)snprintf(name, sizeof(name), "mp: %s",
				    cases[i].name);
				UT_CHECK(name, !"parses");
				continue;
			}
		}
		r = get(d.root, NULL, cases[i].what, cases[i].arg, val,
		    sizeof(val), &clean);
		ok = r == cases[i].want && (cases[i].val == NULL ||
		    strcmp(val, cases[i].val) == 0);
		if (r != 0 && cases[i].what != G_NIL &&
		    cases[i].clean == NULL)
			ok = ok && clean;
		(void)snprintf(name, sizeof(name), "mp: %s", cases[i].name);
		UT_CHECK(name, ok);
		if (cases[i].clean != NULL) {
			(void)snprintf(name, sizeof(name), "mp: %s",
			    cases[i].clean);
			UT_CHECK(name, clean);
		}
		if (cases[i].hex != NULL)
			mp_free(&d);
	}
}

static void
test_map(void)
{
	static const struct {
		const char	*name;
		enum getter	 what;
		const char	*key;
		uint64_t	 arg;
		int		 want;
		const char	*val;
	} cases[] = {
		{ "mp_map_str finds its key", G_STR, "domain", 32, 0,
		    "example.org" },
		{ "mp_map_str does not match a key prefix", G_STR, "domai", 32,
		    -1, NULL },
		{ "mp_map_str does not match a longer key", G_STR, "domainx",
		    32, -1, NULL },
		{ "mp_map_str matches the exact short key", G_STR, "dom", 32, 0,
		    "short" },
		{ "mp_map_str respects dstsz", G_STR, "domain", 11, -1, NULL },
		{ "mp_map_str of a uint is refused", G_STR, "ttl", 32, -1,
		    NULL },
		{ "mp_map_str of a missing key is refused", G_STR, "nope", 32,
		    -1, NULL },
		{ "mp_map_str of an empty key is refused", G_STR, "", 32, -1,
		    NULL },
		{ "mp_map_str of an empty string value", G_STR, "neg", 32, 0,
		    "" },
		{ "mp_map_uint", G_UINT, "ttl", 300, 0, "300" },
		{ "mp_map_uint above max", G_UINT, "ttl", 299, -1, NULL },
		{ "mp_map_uint of a string", G_UINT, "domain", UINT64_MAX,
		    -1, NULL },
		{ "mp_map_uint of a missing key", G_UINT, "TTL", UINT64_MAX,
		    -1, NULL },
		{ "mp_map_bin", G_BIN, "token", 4, 0, "01020304" },
		{ "mp_map_bin of the wrong length", G_BIN, "token", 3, -1,
		    NULL },
		{ "mp_map_bin of a string", G_BIN, "domain", 4, -1, NULL },
		{ "mp_map_bool", G_BOOL, "up", 0, 0, "1" },
		{ "mp_map_bool of a uint", G_BOOL, "ttl", 0, -1, NULL },
		{ "mp_map_bool of a missing key", G_BOOL, "down", 0, -1, NULL },
		{ "mp_map_array at max", G_ARRAY, "domains", 3, 0, "3 c" },
		{ "mp_map_array above max", G_ARRAY, "domains", 2, -1, NULL },
		{ "mp_map_array of a string", G_ARRAY, "domain", 10, -1, NULL },
		{ "mp_map_array of a missing key", G_ARRAY, "nope", 10, -1,
		    NULL },
	};
	struct mp_out		 o;
	struct mp_doc		 d;
	const msgpack_object	*a;
	uint8_t			 bin[4] = { 1, 2, 3, 4 }, out[4];
	uint64_t		 v;
	size_t			 i;
	char			 s[32], name[128];
	int			 bv, r, clean;

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
	for (i = 0; i < nitems(cases); i++) {
		r = get(d.root, cases[i].key, cases[i].what, cases[i].arg, s,
		    sizeof(s), &clean);
		(void)snprintf(name, sizeof(name), "mp: %s", cases[i].name);
		UT_CHECK(name, r == cases[i].want && (r != 0 ? clean :
		    strcmp(s, cases[i].val) == 0));
	}
	a = mp_map_array(d.root, "domains", 3);
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
	test_get();
	test_liars();
	test_bad();
	test_depth();
	test_wide();
	test_map();
	test_pack();
	UT_EXIT();
}
