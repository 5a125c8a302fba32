/*
 * test_lex.c: unit tests of the configuration lexer (common/lex.c).
 *
 * Each case is a file (and the files it includes), the -D macros, and
 * the tokens that must come out, written one after the other as
 *	word@line	a keyword of the table below
 *	"text"@line	a string (a word or a quoted string)
 *	42@line		a number
 *	{@line		a one-character token, NL for the newline
 *	ERR@line	an error token
 *	EOF@line	the end
 * with "@file:line" for a line of another file than main.conf, and
 * " errors=N" at the end when the lexer said N errors.  The line is
 * lex_lineno() right after the token came out, so a newline belongs
 * to the line it ends.  What the errors say is not tested: only how
 * many there are, which tokens come out and on which lines.
 *
 * As the grammars do, the test calls lex_include() on the string that
 * follows the keyword "include".  The files are written into a
 * directory of their own, the current directory while the test runs.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "lex.h"
#include "unit.h"

#define RENDERMAX	(3 * LEX_WORDMAX)
#define TOKENMAX	2000	/* a lexer that does not end is a failure */

enum { K_INCLUDE = 256, K_LISTEN, K_ON, K_PORT, K_USER };

/* sorted by word, as lex_next() looks them up with bsearch(3) */
static const struct lex_keyword keywords[] = {
	{ "include", K_INCLUDE },
	{ "listen", K_LISTEN },
	{ "on", K_ON },
	{ "port", K_PORT },
	{ "user", K_USER },
};

struct lcase {
	const char	*name;
	const char	*text;		/* main.conf */
	const char	*files[2][2];	/* more files: name, text */
	char		*macros[2];	/* -D name=value */
	const char	*want;
};

static void	 put(char *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 write_file(const char *, const char *);
static int	 lex_render(const char *, char **, int, char *, size_t *);
static void	 test_cases(void);
static void	 test_macros(void);
static void	 test_limits(void);

static void
put(char *out, const char *fmt, ...)
{
	size_t	 n = strlen(out);
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(out + n, RENDERMAX - n, fmt, ap);
	va_end(ap);
}

static void
write_file(const char *name, const char *text)
{
	FILE	*f;

	if ((f = fopen(name, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF) {
		perror(name);
		exit(2);
	}
}

/*
 * Lex file path with the macros given; the tokens rendered into out
 * (RENDERMAX bytes), their count in *ntok.  -1 if lex_open() failed.
 */
static int
lex_render(const char *path, char **macros, int nmacros, char *out,
    size_t *ntok)
{
	struct lexer		 lx;
	struct lex_token	 t;
	const char		*file;
	char			 where[64];
	size_t			 i;
	int			 inc = 0, line;

	out[0] = '\0';
	*ntok = 0;
	if (lex_open(&lx, path, keywords, nitems(keywords), macros,
	    nmacros) == -1)
		return (-1);
	for (;;) {
		if (*ntok >= TOKENMAX) {
			put(out, " ...");
			break;
		}
		lex_next(&lx, &t);
		(*ntok)++;
		file = lex_filename(&lx);
		line = lex_lineno(&lx);
		if (strcmp(file, path) == 0)
			snprintf(where, sizeof(where), "@%d", line);
		else
			snprintf(where, sizeof(where), "@%s:%d", file, line);
		if (out[0] != '\0')
			put(out, " ");
		switch (t.kind) {
		case LEX_EOF:
			put(out, "EOF%s", where);
			break;
		case LEX_CHAR:
			put(out, "%s%s", t.ch == '\n' ? "NL" :
			    (char []){ (char)t.ch, '\0' }, where);
			break;
		case LEX_KEYWORD:
			for (i = 0; i < nitems(keywords); i++)
				if (keywords[i].token == t.token)
					put(out, "%s%s", keywords[i].word,
					    where);
			break;
		case LEX_STRING:
			put(out, "\"%s\"%s", t.str, where);
			if (inc && lex_include(&lx, t.str) == -1)
				put(out, " (include failed)");
			free(t.str);
			break;
		case LEX_NUMBER:
			put(out, "%lld%s", t.num, where);
			break;
		case LEX_ERROR:
			put(out, "ERR%s", where);
			break;
		}
		inc = t.kind == LEX_KEYWORD && t.token == K_INCLUDE;
		if (t.kind == LEX_EOF)
			break;
	}
	if (lx.errors > 0)
		put(out, " errors=%d", lx.errors);
	lex_close(&lx);
	return (0);
}

static const struct lcase cases[] = {
	{ "keywords, words and numbers",
	    "listen on 127.0.0.1 port 443\n",
	    { { NULL } }, { NULL },
	    "listen@1 on@1 \"127.0.0.1\"@1 port@1 443@1 NL@1 NL@1 EOF@1" },
	{ "no newline at the end: one is supplied",
	    "user nobody",
	    { { NULL } }, { NULL },
	    "user@1 \"nobody\"@1 NL@1 EOF@1" },
	{ "empty file",
	    "",
	    { { NULL } }, { NULL },
	    "NL@1 EOF@1" },
	{ "lines are counted",
	    "a\n\nb\n\n\nc\n",
	    { { NULL } }, { NULL },
	    "\"a\"@1 NL@1 NL@2 \"b\"@3 NL@3 NL@4 NL@5 \"c\"@6 NL@6 NL@6 EOF@6" },
	{ "one-character tokens",
	    "{}=,!<>()\n",
	    { { NULL } }, { NULL },
	    "{@1 }@1 =@1 ,@1 !@1 <@1 >@1 (@1 )@1 NL@1 NL@1 EOF@1" },
	{ "characters that end a word",
	    "a{b}c=d,e\n",
	    { { NULL } }, { NULL },
	    "\"a\"@1 {@1 \"b\"@1 }@1 \"c\"@1 =@1 \"d\"@1 ,@1 \"e\"@1 NL@1 NL@1 "
	    "EOF@1" },
	{ "characters inside a word",
	    "*.example.org a-b_c:d/e@f+g%h [::1]\n",
	    { { NULL } }, { NULL },
	    "\"*.example.org\"@1 \"a-b_c:d/e@f+g%h\"@1 \"[::1]\"@1 NL@1 NL@1 "
	    "EOF@1" },
	{ "a keyword in quotes is a string",
	    "\"listen\" listen listener\n",
	    { { NULL } }, { NULL },
	    "\"listen\"@1 listen@1 \"listener\"@1 NL@1 NL@1 EOF@1" },
	{ "blanks and tabs",
	    " \t user \t\t nobody \t \n",
	    { { NULL } }, { NULL },
	    "user@1 \"nobody\"@1 NL@1 NL@1 EOF@1" },
	{ "numbers",
	    "0 42 -7 9223372036854775807 -9223372036854775808 007\n",
	    { { NULL } }, { NULL },
	    "0@1 42@1 -7@1 9223372036854775807@1 -9223372036854775808@1 "
	    "7@1 NL@1 NL@1 EOF@1" },
	{ "words that look like numbers",
	    "12ab 1.5 - -x 0x10 \"42\"\n",
	    { { NULL } }, { NULL },
	    "\"12ab\"@1 \"1.5\"@1 \"-\"@1 \"-x\"@1 \"0x10\"@1 \"42\"@1 NL@1 NL@1 "
	    "EOF@1" },
	{ "a number too big is an error",
	    "port 9223372036854775808\nuser x\n",
	    { { NULL } }, { NULL },
	    "port@1 ERR@1 NL@1 user@2 \"x\"@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "quoted strings",
	    "\"a b\" 'c d' \"\" '' \"#not a comment\" \"{=}\"\n",
	    { { NULL } }, { NULL },
	    "\"a b\"@1 \"c d\"@1 \"\"@1 \"\"@1 \"#not a comment\"@1 \"{=}\"@1 NL@1 "
	    "NL@1 EOF@1" },
	{ "blanks in quotes are kept",
	    "\"a \t  b\"\n",
	    { { NULL } }, { NULL },
	    "\"a \t  b\"@1 NL@1 NL@1 EOF@1" },
	{ "escapes in quoted strings",
	    "\"a\\\"b\" \"c\\\\d\" 'e\\'f' \"g\\nh\" \"i\\'j\" 'k\"l'\n",
	    { { NULL } }, { NULL },
	    "\"a\"b\"@1 \"c\\d\"@1 \"e'f\"@1 \"g\\nh\"@1 \"i\\'j\"@1 \"k\"l\"@1 NL@1 "
	    "NL@1 EOF@1" },
	{ "a quoted string next to a word",
	    "a\"b\"c\n",
	    { { NULL } }, { NULL },
	    "\"a\"@1 \"b\"@1 \"c\"@1 NL@1 NL@1 EOF@1" },
	{ "newline in a quoted string is an error on its line",
	    "user \"no\nbody\"\nport 1\n",
	    { { NULL } }, { NULL },
	    "user@1 ERR@1 \"body\"@2 ERR@2 port@3 1@3 NL@3 NL@3 EOF@3 "
	    "errors=2" },
	{ "unterminated quoted string",
	    "user \"nobody",
	    { { NULL } }, { NULL },
	    "user@1 ERR@1 NL@1 EOF@1 errors=1" },
	{ "backslash at the end of a quoted string at the end",
	    "user \"nobody\\",
	    { { NULL } }, { NULL },
	    "user@1 ERR@1 NL@1 EOF@1 errors=1" },
	{ "comments",
	    "# a comment\nuser x # another { = }\n#\n# \"quoted\n",
	    { { NULL } }, { NULL },
	    "NL@1 user@2 \"x\"@2 NL@2 NL@3 NL@4 NL@4 EOF@4" },
	{ "a comment at the end without a newline",
	    "user x # the end",
	    { { NULL } }, { NULL },
	    "user@1 \"x\"@1 NL@1 EOF@1" },
	{ "backslash-newline joins lines",
	    "listen on \\\n  127.0.0.1 \\\nport 80\nuser x\n",
	    { { NULL } }, { NULL },
	    "listen@1 on@1 \"127.0.0.1\"@2 port@3 80@3 NL@3 user@4 \"x\"@4 "
	    "NL@4 NL@4 EOF@4" },
	{ "backslash-newline inside a word ends nothing",
	    "lis\\\nten\n",
	    { { NULL } }, { NULL },
	    "listen@2 NL@2 NL@2 EOF@2" },
	{ "backslash-newline in a comment continues it",
	    "# comment \\\nstill comment\nuser x\n",
	    { { NULL } }, { NULL },
	    "NL@2 user@3 \"x\"@3 NL@3 NL@3 EOF@3" },
	{ "an unexpected character skips the rest of its line",
	    "user ; x y\nport 1\n",
	    { { NULL } }, { NULL },
	    "user@1 port@2 1@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "a control character is unexpected too",
	    "user \001\nport 1\n",
	    { { NULL } }, { NULL },
	    "user@1 port@2 1@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "a macro from -D",
	    "user $who\n",
	    { { NULL } }, { "who=nobody" },
	    "user@1 \"nobody\"@1 NL@1 NL@1 EOF@1" },
	{ "a macro is lexed again: words, numbers, keywords",
	    "listen $where\n",
	    { { NULL } }, { "where=on 10.0.0.1 port 8080" },
	    "listen@1 on@1 \"10.0.0.1\"@1 port@1 8080@1 NL@1 NL@1 EOF@1" },
	{ "a macro with quotes in it",
	    "user $q x\n",
	    { { NULL } }, { "q=\"a b\"" },
	    "user@1 \"a b\"@1 \"x\"@1 NL@1 NL@1 EOF@1" },
	{ "a macro's name ends where a word goes on",
	    "$a.b $a-c $a_b\n",
	    { { NULL } }, { "a=x", "a_b=y" },
	    "\"x.b\"@1 \"x-c\"@1 \"y\"@1 NL@1 NL@1 EOF@1" },
	{ "no macro in quotes",
	    "user \"$who\" '$who'\n",
	    { { NULL } }, { "who=nobody" },
	    "user@1 \"$who\"@1 \"$who\"@1 NL@1 NL@1 EOF@1" },
	{ "an empty macro",
	    "user $e x\n",
	    { { NULL } }, { "e=" },
	    "user@1 \"x\"@1 NL@1 NL@1 EOF@1" },
	{ "an undefined macro is an error on its line",
	    "user x\nuser $nosuch\nport 1\n",
	    { { NULL } }, { NULL },
	    "user@1 \"x\"@1 NL@1 user@2 ERR@2 NL@2 port@3 1@3 NL@3 NL@3 "
	    "EOF@3 errors=1" },
	{ "a macro naming itself does not loop",
	    "user $me\nport 1\n",
	    { { NULL } }, { "me=$me" },
	    "user@1 port@2 1@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "an unexpected character in a macro skips the rest of its line",
	    "user $x c\nport 1\n",
	    { { NULL } }, { "x=a ; b" },
	    "user@1 \"a\"@1 port@2 1@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "include",
	    "user x\ninclude \"inc.conf\"\nport 1\n",
	    { { "inc.conf", "listen\non\n" }, { NULL } }, { NULL },
	    "user@1 \"x\"@1 NL@1 include@2 \"inc.conf\"@2 NL@inc.conf:1 "
	    "listen@inc.conf:1 NL@inc.conf:1 on@inc.conf:2 "
	    "NL@inc.conf:2 NL@inc.conf:2 NL@2 port@3 1@3 NL@3 NL@3 "
	    "EOF@3" },
	{ "include in an included file",
	    "include \"a.conf\"\nuser x\n",
	    { { "a.conf", "include \"b.conf\"\non\n" },
	      { "b.conf", "port 2\n" } }, { NULL },
	    "include@1 \"a.conf\"@1 NL@a.conf:1 include@a.conf:1 "
	    "\"b.conf\"@a.conf:1 NL@b.conf:1 port@b.conf:1 2@b.conf:1 "
	    "NL@b.conf:1 NL@b.conf:1 NL@a.conf:1 on@a.conf:2 "
	    "NL@a.conf:2 NL@a.conf:2 NL@1 user@2 \"x\"@2 NL@2 NL@2 EOF@2" },
	{ "an included file without a newline at its end",
	    "include \"a.conf\"\nuser x\n",
	    { { "a.conf", "port 2" }, { NULL } }, { NULL },
	    "include@1 \"a.conf\"@1 NL@a.conf:1 port@a.conf:1 2@a.conf:1 "
	    "NL@a.conf:1 NL@1 user@2 \"x\"@2 NL@2 NL@2 EOF@2" },
	{ "an error in an included file is on its line there",
	    "include \"a.conf\"\nuser x\n",
	    { { "a.conf", "on\nuser $nosuch\n" }, { NULL } }, { NULL },
	    "include@1 \"a.conf\"@1 NL@a.conf:1 on@a.conf:1 NL@a.conf:1 "
	    "user@a.conf:2 ERR@a.conf:2 NL@a.conf:2 NL@a.conf:2 NL@1 "
	    "user@2 \"x\"@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "macros reach into included files",
	    "include \"a.conf\"\n",
	    { { "a.conf", "user $who\n" }, { NULL } }, { "who=nobody" },
	    "include@1 \"a.conf\"@1 NL@a.conf:1 user@a.conf:1 "
	    "\"nobody\"@a.conf:1 NL@a.conf:1 NL@a.conf:1 NL@1 NL@1 EOF@1" },
	{ "a missing include is an error, and lexing goes on",
	    "include \"nosuch.conf\"\nuser x\n",
	    { { NULL } }, { NULL },
	    "include@1 \"nosuch.conf\"@1 (include failed) NL@1 user@2 "
	    "\"x\"@2 NL@2 NL@2 EOF@2 errors=1" },
	{ "a directory cannot be included",
	    "include \".\"\nuser x\n",
	    { { NULL } }, { NULL },
	    "include@1 \".\"@1 (include failed) NL@1 user@2 \"x\"@2 NL@2 "
	    "NL@2 EOF@2 errors=1" },
};

static void
test_cases(void)
{
	char		 got[RENDERMAX], name[160];
	size_t		 i, k, ntok;
	int		 nmacros;

	for (i = 0; i < nitems(cases); i++) {
		write_file("main.conf", cases[i].text);
		for (k = 0; k < 2 && cases[i].files[k][0] != NULL; k++)
			write_file(cases[i].files[k][0], cases[i].files[k][1]);
		for (nmacros = 0; nmacros < 2 &&
		    cases[i].macros[nmacros] != NULL; nmacros++)
			;
		snprintf(name, sizeof(name), "lex: %s", cases[i].name);
		if (lex_render("main.conf", (char **)cases[i].macros, nmacros,
		    got, &ntok) == -1) {
			UT_CHECK(name, !"lex_open failed");
			continue;
		}
		UT_CHECK(name, strcmp(got, cases[i].want) == 0);
		if (strcmp(got, cases[i].want) != 0)
			printf("    want: %s\n    got:  %s\n", cases[i].want,
			    got);
	}
}

static void
test_macros(void)
{
	struct lexer		 lx;
	struct lex_token	 t;
	char			*bad[] = { "=x" }, *noeq[] = { "who" };
	char			*dflt[] = { "who=cmdline" };

	write_file("main.conf", "user $who\n");

	/* -D wins over a definition in the file */
	if (lex_open(&lx, "main.conf", keywords, nitems(keywords), dflt,
	    1) == -1) {
		UT_CHECK("lex: -D wins over the file", !"lex_open failed");
	} else {
		UT_CHECK("lex: a file's definition is taken without a word",
		    lex_symset(&lx, "who", "file", 0) == 0);
		lex_next(&lx, &t);
		lex_next(&lx, &t);
		UT_CHECK("lex: -D wins over the file",
		    t.kind == LEX_STRING && strcmp(t.str, "cmdline") == 0);
		if (t.kind == LEX_STRING)
			free(t.str);
		lex_close(&lx);
	}

	/* a later definition in the file replaces an earlier one */
	if (lex_open(&lx, "main.conf", keywords, nitems(keywords), NULL,
	    0) == -1) {
		UT_CHECK("lex: the last definition counts", !"lex_open failed");
	} else {
		lex_symset(&lx, "who", "first", 0);
		lex_symset(&lx, "who", "second", 0);
		UT_CHECK("lex: symget finds the last definition",
		    strcmp(lex_symget(&lx, "who"), "second") == 0);
		UT_CHECK("lex: symget of an undefined macro",
		    lex_symget(&lx, "nosuch") == NULL);
		lex_next(&lx, &t);
		lex_next(&lx, &t);
		UT_CHECK("lex: the last definition counts",
		    t.kind == LEX_STRING && strcmp(t.str, "second") == 0);
		if (t.kind == LEX_STRING)
			free(t.str);
		lex_close(&lx);
	}

	UT_CHECK("lex: -D without a name is refused",
	    lex_open(&lx, "main.conf", keywords, nitems(keywords), bad, 1) ==
	    -1);
	UT_CHECK("lex: -D without = is refused",
	    lex_open(&lx, "main.conf", keywords, nitems(keywords), noeq, 1) ==
	    -1);
}

static void
test_limits(void)
{
	char		 got[RENDERMAX], *big;
	size_t		 ntok, n;
	struct lexer	 lx;

	/* a file that includes itself: nested 16 deep, then an error */
	write_file("self.conf", "include \"self.conf\"\n");
	UT_CHECK("lex: a file including itself ends",
	    lex_render("self.conf", NULL, 0, got, &ntok) == 0 &&
	    ntok < TOKENMAX && strstr(got, "EOF@") != NULL &&
	    strstr(got, " errors=1") != NULL);
	/* include and its string in each, a newline starting each included
	 * one, each one's line and final newlines, the end */
	UT_CHECK("lex: ... after 16 files",
	    ntok == 16 * 2 + 15 + 16 * 2 + 1);

	UT_CHECK("lex: a missing file is refused by lex_open",
	    lex_open(&lx, "nosuch.conf", keywords, nitems(keywords), NULL,
	    0) == -1);
	if (mkfifo("fifo.conf", 0600) == -1 && errno != EEXIST) {
		perror("mkfifo");
		exit(2);
	}
	UT_CHECK("lex: a FIFO is refused at once",
	    lex_open(&lx, "fifo.conf", keywords, nitems(keywords), NULL,
	    0) == -1);

	/* words and strings up to LEX_WORDMAX - 1 bytes */
	n = LEX_WORDMAX + 10;
	if ((big = malloc(n + 4)) == NULL) {
		perror("malloc");
		exit(2);
	}
	memset(big, 'w', LEX_WORDMAX - 1);
	strlcpy(big + LEX_WORDMAX - 1, "\n", 2);
	write_file("main.conf", big);
	UT_CHECK("lex: a word of LEX_WORDMAX - 1 bytes",
	    lex_render("main.conf", NULL, 0, got, &ntok) == 0 &&
	    ntok == 4 && strstr(got, "errors=") == NULL &&
	    strlen(got) > LEX_WORDMAX - 1 + 2);
	memset(big, 'w', LEX_WORDMAX);
	strlcpy(big + LEX_WORDMAX, "\n", 2);
	write_file("main.conf", big);
	UT_CHECK("lex: a word of LEX_WORDMAX bytes is an error",
	    lex_render("main.conf", NULL, 0, got, &ntok) == 0 &&
	    strncmp(got, "ERR@1", 5) == 0 &&
	    strstr(got, " errors=1") == got + strlen(got) - 9);
	big[0] = '"';
	memset(big + 1, 's', LEX_WORDMAX);
	strlcpy(big + LEX_WORDMAX + 1, "\"\n", 3);
	write_file("main.conf", big);
	UT_CHECK("lex: a quoted string of LEX_WORDMAX bytes is an error",
	    lex_render("main.conf", NULL, 0, got, &ntok) == 0 &&
	    strncmp(got, "ERR@1", 5) == 0);
	big[LEX_WORDMAX] = '"';
	strlcpy(big + LEX_WORDMAX + 1, "\n", 2);
	write_file("main.conf", big);
	UT_CHECK("lex: a quoted string of LEX_WORDMAX - 1 bytes",
	    lex_render("main.conf", NULL, 0, got, &ntok) == 0 &&
	    ntok == 4 && strstr(got, "errors=") == NULL &&
	    strlen(got) > LEX_WORDMAX - 1 + 2);
	free(big);
}

int
main(void)
{
	char	 dir[] = "/tmp/test_lex.XXXXXX";

	if (mkdtemp(dir) == NULL || chdir(dir) == -1) {
		perror(dir);
		return (2);
	}
	test_cases();
	test_macros();
	test_limits();
	(void)unlink("main.conf");
	(void)unlink("inc.conf");
	(void)unlink("a.conf");
	(void)unlink("b.conf");
	(void)unlink("self.conf");
	(void)unlink("fifo.conf");
	if (chdir("/") == -1 || rmdir(dir) == -1)
		perror(dir);
	UT_EXIT();
}
