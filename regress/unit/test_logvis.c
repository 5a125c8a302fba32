/*
 * test_logvis.c: text from a peer is escaped before it is logged.
 *
 * log_vis() must keep a forged log line on the line it came in, show
 * every odd byte as an escape, give back the text with strunvis(3)
 * when it fits, and when it does not, cut it at an escape's boundary,
 * marked "...", inside the buffer whatever its size.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBBSD_OPENBSD_VIS
#include <vis.h>

#include "log.h"
#include "unit.h"

static int	 is(const char *, const char *);
static int	 boundary(const char *, size_t);
static int	 cut_ok(const char *, const char *, const char *, size_t);
static void	 test_escapes(void);
static void	 test_forged(void);
static void	 test_roundtrip(void);
static void	 test_cuts(void);

static int
is(const char *in, const char *want)
{
	char	 buf[256];

	return (strcmp(log_vis(in, buf, sizeof(buf)), want) == 0);
}

/* Whether off is where one escape of in ends and the next begins. */
static int
boundary(const char *in, size_t off)
{
	char	 enc[5];
	size_t	 at = 0;

	for (; at < off && *in != '\0'; in++)
		at += (size_t)(vis(enc, (unsigned char)in[0], VIS_CSTYLE |
		    VIS_OCTAL | VIS_TAB | VIS_NL | VIS_DQ | VIS_NOLOCALE,
		    (unsigned char)in[1]) - enc);
	return (at == off);
}

/*
 * out, from a buffer of len bytes, is the full escape of in or a cut of
 * it: a prefix that ends between two escapes, then as many dots as fit.
 */
static int
cut_ok(const char *in, const char *full, const char *out, size_t len)
{
	size_t	 n = strlen(out), body;

	if (n >= len)
		return (0);
	if (strcmp(out, full) == 0)
		return (strlen(full) < len);
	if (len >= 4 && (n < 3 || strcmp(out + n - 3, "...") != 0))
		return (0);
	body = len >= 4 ? n - 3 : 0;
	return (strncmp(out, full, body) == 0 && boundary(in, body) &&
	    strspn(out + body, ".") == n - body);
}

static void
test_escapes(void)
{
	char	 buf[16];

	UT_CHECK("logvis: plain text stays as it is",
	    is("announce to public failed: timeout",
	    "announce to public failed: timeout"));
	UT_CHECK("logvis: a newline is \\n", is("a\nb", "a\\nb"));
	UT_CHECK("logvis: a carriage return is \\r", is("a\rb", "a\\rb"));
	UT_CHECK("logvis: a tab is \\t", is("a\tb", "a\\tb"));
	UT_CHECK("logvis: a backslash is doubled", is("a\\nb", "a\\\\nb"));
	UT_CHECK("logvis: control bytes in octal", is("\x01\x1b[31m",
	    "\\001\\033[31m"));
	UT_CHECK("logvis: DEL in octal", is("\x7f", "\\177"));
	UT_CHECK("logvis: non-ASCII bytes in octal", is("caf\xc3\xa9",
	    "caf\\303\\251"));
	UT_CHECK("logvis: spaces and single quotes stay, double quotes "
	    "escaped", is("say \"hi\" 'x'", "say \\\"hi\\\" 'x'"));
	UT_CHECK("logvis: empty text", is("", ""));
	UT_CHECK("logvis: NULL is (null)", is(NULL, "(null)"));
	UT_CHECK("logvis: returns its buffer",
	    log_vis("x", buf, sizeof(buf)) == buf);
	UT_CHECK("logvis: a buffer of 0 bytes is left alone",
	    log_vis("x", buf, 0) == buf);
}

static void
test_forged(void)
{
	const char	*forged = "no such domain\nproxyd: listener: "
	    "refused client 10.0.0.1:1: all is well\r\n";
	char		 buf[LOG_VISLEN(200)];

	log_vis(forged, buf, sizeof(buf));
	UT_CHECK("logvis: a forged line stays on the first line",
	    strchr(buf, '\n') == NULL && strchr(buf, '\r') == NULL);
	UT_CHECK("logvis: the forged line shows as escapes",
	    strcmp(buf, "no such domain\\nproxyd: listener: refused client "
	    "10.0.0.1:1: all is well\\r\\n") == 0);
}

/* Every byte value, in random strings: strunvis() gives them back. */
static void
test_roundtrip(void)
{
	char	 in[201], out[LOG_VISLEN(200)], back[201];
	size_t	 i, n;
	int	 k, ok = 1, printable = 1;

	srandom(1);
	for (k = 0; k < 2000; k++) {
		n = (size_t)random() % 201;
		for (i = 0; i < n; i++)
			in[i] = (char)(1 + random() % 255);
		if (k < 255) {
			/* first, each byte value alone, then with a digit */
			n = 2;
			in[0] = (char)(k + 1);
			in[1] = '7';
		}
		in[n] = '\0';
		log_vis(in, out, sizeof(out));
		if (strunvis(back, out) != (int)n || strcmp(back, in) != 0)
			ok = 0;
		for (i = 0; out[i] != '\0'; i++)
			if (out[i] < 0x20 || out[i] > 0x7e)
				printable = 0;
	}
	UT_CHECK("logvis: 200 bytes of anything fit LOG_VISLEN(200) and "
	    "come back with strunvis()", ok);
	UT_CHECK("logvis: what comes out is printable ASCII", printable);
}

/* Every buffer size, for text that is mostly escapes. */
static void
test_cuts(void)
{
	const char	*in = "line one\nline two\x01\x02\\end\xff";
	char		 full[256], out[256];
	size_t		 len;
	int		 ok = 1, guard = 1;

	log_vis(in, full, sizeof(full));
	for (len = 1; len <= strlen(full) + 2; len++) {
		memset(out, 'Z', sizeof(out));
		log_vis(in, out, len);
		if (!cut_ok(in, full, out, len))
			ok = 0;
		if (out[len] != 'Z')
			guard = 0;
	}
	UT_CHECK("logvis: cut at every buffer size, at an escape's "
	    "boundary, marked ...", ok);
	UT_CHECK("logvis: nothing written past the buffer", guard);
	UT_CHECK("logvis: the exact fit is not cut",
	    strcmp(log_vis(in, out, strlen(full) + 1), full) == 0);
	log_vis(in, out, strlen(full));
	UT_CHECK("logvis: one byte short, cut", strlen(out) < strlen(full) &&
	    strcmp(out + strlen(out) - 3, "...") == 0);
}

int
main(void)
{
	test_escapes();
	test_forged();
	test_roundtrip();
	test_cuts();
	UT_EXIT();
}
