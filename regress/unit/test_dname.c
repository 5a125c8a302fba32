/*
 * test_dname.c: unit tests of domain names and patterns (common/dname.c).
 *
 * Tables of inputs and what each function must answer: which names and
 * patterns are valid, what lower-casing gives, which names a pattern
 * matches, which patterns an allowed pattern covers, and the chain of
 * ever less specific patterns a lookup walks.  Names of the longest
 * kinds (labels of 63 and 64 bytes, names of 253 and 254) are made by
 * long_name().
 */

#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "dname.h"
#include "unit.h"

#define LONGMAX		300

static const char	*long_name(const char *, size_t, size_t, char *);
static void		 test_valid(void);
static void		 test_lower(void);
static void		 test_pairs(void);
static void		 test_parent(void);

/*
 * prefix, then labels of lab bytes ('a' to 'z' in turn) separated by
 * dots, up to len bytes in all (the last label may be shorter), into
 * buf (LONGMAX + 1 bytes).
 */
static const char *
long_name(const char *prefix, size_t lab, size_t len, char *buf)
{
	size_t	 n, k = 0;

	n = strlcpy(buf, prefix, LONGMAX + 1);
	while (n < len && n < LONGMAX) {
		if (k == lab) {
			buf[n++] = '.';
			k = 0;
			continue;
		}
		buf[n++] = (char)('a' + k % 26);
		k++;
	}
	buf[n] = '\0';
	return (buf);
}

static void
test_valid(void)
{
	static const struct {
		const char	*name;
		int		 wildcard;
		int		 want;
	} cases[] = {
		{ "example.org", 0, 1 },
		{ "a", 0, 1 },
		{ "localhost", 0, 1 },
		{ "a.b.c.d.e.f", 0, 1 },
		{ "123.example.org", 0, 1 },
		{ "a-b--c.example-1.org", 0, 1 },
		{ "xn--bcher-kva.example", 0, 1 },
		{ "1-2.3.4", 0, 1 },
		{ "EXAMPLE.org", 0, 1 },
		{ "", 0, 0 },
		{ ".", 0, 0 },
		{ "example.org.", 0, 0 },
		{ ".example.org", 0, 0 },
		{ "www..example.org", 0, 0 },
		{ "-www.example.org", 0, 0 },
		{ "www-.example.org", 0, 0 },
		{ "www.example-", 0, 0 },
		{ "foo_bar.example.org", 0, 0 },
		{ "www example.org", 0, 0 },
		{ "b\xc3\xbc" "cher.example", 0, 0 },
		{ "192.168.1.1", 0, 0 },
		{ "1234", 0, 0 },
		{ "::1", 0, 0 },
		{ "*.example.org", 0, 0 },
		{ "*.example.org", 1, 1 },
		{ "*.a", 1, 1 },
		{ "*.EXAMPLE.org", 1, 1 },
		{ "example.org", 1, 1 },
		{ "*", 1, 0 },
		{ "*.", 1, 0 },
		{ "*example.org", 1, 0 },
		{ "**.example.org", 1, 0 },
		{ "*.*.example.org", 1, 0 },
		{ "a.*.example.org", 1, 0 },
		{ "www.*", 1, 0 },
		{ "*.example.org.", 1, 0 },
		{ "*..example.org", 1, 0 },
		{ "*.-x.org", 1, 0 },
		{ "*.10.1", 1, 0 },
		{ "*-a.example.org", 1, 0 },
	};
	static const struct {
		const char	*desc;
		const char	*prefix;
		size_t		 lab, len;
		int		 wildcard, want;
	} longs[] = {
		{ "63-byte label", "", 63, 63, 0, 1 },
		{ "64-byte label", "", 64, 64, 0, 0 },
		{ "63-byte label and more", "", 63, 100, 0, 1 },
		{ "64-byte label and more", "", 64, 100, 0, 0 },
		{ "253 bytes", "", 50, 253, 0, 1 },
		{ "254 bytes", "", 50, 254, 0, 0 },
		{ "300 bytes", "", 50, 300, 0, 0 },
		{ "wildcard over a 63-byte label", "*.", 63, 65, 1, 1 },
		{ "wildcard over a 64-byte label", "*.", 64, 66, 1, 0 },
		/* the 253 bytes count after the "*." */
		{ "wildcard over 253 bytes", "*.", 50, 255, 1, 1 },
		{ "wildcard over 254 bytes", "*.", 50, 256, 1, 0 },
	};
	char	 desc[LONGMAX + 64], buf[LONGMAX + 1];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		snprintf(desc, sizeof(desc), "dname: valid(\"%s\"%s) is %s",
		    cases[i].name, cases[i].wildcard ? ", wildcard" : "",
		    cases[i].want ? "yes" : "no");
		UT_CHECK(desc, dname_valid(cases[i].name, cases[i].wildcard) ==
		    cases[i].want);
	}
	for (i = 0; i < nitems(longs); i++) {
		long_name(longs[i].prefix, longs[i].lab, longs[i].len, buf);
		snprintf(desc, sizeof(desc), "dname: valid, %s (%zu) is %s",
		    longs[i].desc, strlen(buf), longs[i].want ? "yes" : "no");
		UT_CHECK(desc, strlen(buf) == longs[i].len &&
		    dname_valid(buf, longs[i].wildcard) == longs[i].want);
	}
}

static void
test_lower(void)
{
	static const struct {
		const char	*in;
		int		 wildcard;
		size_t		 dstsz;
		int		 want;
		const char	*out;	/* on success */
	} cases[] = {
		{ "WWW.Example.ORG", 0, 64, 0, "www.example.org" },
		{ "already.lower", 0, 64, 0, "already.lower" },
		{ "*.Example.ORG", 1, 64, 0, "*.example.org" },
		{ "*.Example.ORG", 0, 64, -1, NULL },
		{ "Bad_Name.org", 0, 64, -1, NULL },
		{ "Example.Org.", 0, 64, -1, NULL },
		{ "exact.fit", 0, 10, 0, "exact.fit" },
		{ "one.too.long", 0, 12, -1, NULL },
	};
	char	 desc[128], buf[64];
	size_t	 i;
	int	 r;

	for (i = 0; i < nitems(cases); i++) {
		memset(buf, 'x', sizeof(buf));
		r = dname_lower(buf, cases[i].in, cases[i].dstsz,
		    cases[i].wildcard);
		snprintf(desc, sizeof(desc), "dname: lower(\"%s\", %zu%s) is "
		    "%s", cases[i].in, cases[i].dstsz,
		    cases[i].wildcard ? ", wildcard" : "",
		    cases[i].out != NULL ? cases[i].out : "an error");
		UT_CHECK(desc, r == cases[i].want && (cases[i].out == NULL ||
		    strcmp(buf, cases[i].out) == 0));
	}
}

/* dname_match(pattern, name) and dname_covers(allowed, pattern) */
static void
test_pairs(void)
{
	static const struct {
		int		 covers;	/* dname_covers, not _match */
		const char	*a;
		const char	*b;
		int		 want;
	} cases[] = {
		{ 0, "*.example.org", "a.example.org", 1 },
		{ 0, "*.example.org", "a.b.example.org", 1 },
		{ 0, "*.example.org", "www-1.example.org", 1 },
		{ 0, "*.example.org", "example.org", 0 },
		{ 0, "*.example.org", "aexample.org", 0 },
		{ 0, "*.example.org", "a.example.org.evil", 0 },
		{ 0, "*.example.org", "a.example.com", 0 },
		{ 0, "*.example.org", "a.xexample.org", 0 },
		{ 0, "*.example.org", "org", 0 },
		{ 0, "*.example.org", "", 0 },
		/* names are lower case before they are matched */
		{ 0, "*.example.org", "A.EXAMPLE.ORG", 0 },
		{ 0, "*.org", "example.org", 1 },
		{ 0, "*.org", "org", 0 },
		{ 0, "example.org", "example.org", 1 },
		{ 0, "example.org", "a.example.org", 0 },
		{ 0, "example.org", "example.or", 0 },
		{ 0, "example.org", "example.org.", 0 },
		{ 0, "example.org", "EXAMPLE.ORG", 0 },
		{ 0, "a.example.org", "*.example.org", 0 },

		{ 1, "example.org", "example.org", 1 },
		{ 1, "example.org", "a.example.org", 0 },
		{ 1, "example.org", "*.example.org", 0 },
		{ 1, "*.example.org", "a.example.org", 1 },
		{ 1, "*.example.org", "a.b.example.org", 1 },
		{ 1, "*.example.org", "example.org", 0 },
		{ 1, "*.example.org", "*.example.org", 1 },
		{ 1, "*.example.org", "*.b.example.org", 1 },
		{ 1, "*.example.org", "*.org", 0 },
		{ 1, "*.example.org", "*.xexample.org", 0 },
		{ 1, "*.b.example.org", "*.example.org", 0 },
		{ 1, "*.b.example.org", "a.example.org", 0 },
	};
	char	 desc[128];
	size_t	 i;
	int	 r;

	for (i = 0; i < nitems(cases); i++) {
		if (cases[i].covers) {
			r = dname_covers(cases[i].a, cases[i].b);
			snprintf(desc, sizeof(desc), "dname: allowing \"%s\" "
			    "%s \"%s\"", cases[i].a, cases[i].want ?
			    "covers" : "does not cover", cases[i].b);
		} else {
			r = dname_match(cases[i].a, cases[i].b);
			snprintf(desc, sizeof(desc), "dname: \"%s\" %s \"%s\"",
			    cases[i].a, cases[i].want ? "matches" :
			    "does not match", cases[i].b);
		}
		UT_CHECK(desc, r == cases[i].want);
	}
}

static void
test_parent(void)
{
	static const struct {
		const char	*name;
		const char	*chain;	/* the patterns, space separated */
	} cases[] = {
		{ "a.b.example.org", "*.b.example.org *.example.org *.org" },
		{ "example.org", "*.org" },
		{ "*.example.org", "*.org" },
		{ "*.org", "" },
		{ "localhost", "" },
	};
	char	 desc[128], cur[LONGMAX + 3], pat[LONGMAX + 3];
	char	 got[LONGMAX + 3];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		got[0] = '\0';
		(void)strlcpy(cur, cases[i].name, sizeof(cur));
		while (dname_parent(cur, pat, sizeof(pat)) == 0) {
			if (got[0] != '\0')
				(void)strlcat(got, " ", sizeof(got));
			(void)strlcat(got, pat, sizeof(got));
			(void)strlcpy(cur, pat, sizeof(cur));
		}
		snprintf(desc, sizeof(desc), "dname: lookup of \"%s\" walks "
		    "\"%s\"", cases[i].name, cases[i].chain);
		UT_CHECK(desc, strcmp(got, cases[i].chain) == 0);
	}

	UT_CHECK("dname: parent into a buffer just big enough",
	    dname_parent("a.b.c", pat, sizeof("*.b.c")) == 0 &&
	    strcmp(pat, "*.b.c") == 0);
	UT_CHECK("dname: parent into a buffer one byte short",
	    dname_parent("a.b.c", pat, sizeof("*.b.c") - 1) == -1);
}

int
main(void)
{
	test_valid();
	test_lower();
	test_pairs();
	test_parent();
	UT_EXIT();
}
