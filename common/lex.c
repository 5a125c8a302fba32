/*
 * lex.c: the shared configuration lexer (lex.h).
 */

#include <sys/stat.h>

/* libbsd: OpenBSD's strnvis(3), not NetBSD's (only strvisx is used) */
#define LIBBSD_OPENBSD_VIS	1

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <vis.h>

#include "compat.h"
#include "lex.h"
#include "log.h"
#include "net.h"

#define LEX_MAXINCLUDE	16
#define LEX_MAXEXPAND	8

struct lex_file {
	TAILQ_ENTRY(lex_file)	 entry;
	FILE			*stream;
	char			*name;
	int			 lineno;
	unsigned char		*unget;		/* pushed-back bytes */
	size_t			 ungetlen;
	size_t			 ungetsz;
	int			 eof_nl;	/* returned the final '\n' */
	int			 nl_pending;	/* count the '\n' next time */
	int			 nl_first;	/* start with a '\n' token */
};

static char	 lex_startdir[PATH_MAX];

static int	 lex_cmdline_symset(struct lexer *, const char *);

struct lex_sym {
	TAILQ_ENTRY(lex_sym)	 entry;
	char			*name;
	char			*value;
	int			 used;
	int			 persist;	/* from the command line */
};

static int
lex_kwcmp(const void *k, const void *e)
{
	return (strcmp(k, ((const struct lex_keyword *)e)->word));
}

static struct lex_file *
lex_pushfile(struct lexer *lx, const char *path)
{
	struct lex_file	*f;
	struct stat	 st;
	int		 depth = 0, fd;

	TAILQ_FOREACH(f, &lx->files, entry)
		depth++;
	if (depth >= LEX_MAXINCLUDE) {
		lex_error(lx, "includes nested too deeply");
		return (NULL);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->name = strdup(path)) == NULL) {
		free(f);
		log_warn("%s", __func__);
		return (NULL);
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1 ||
	    (!S_ISREG(st.st_mode) && (errno = EINVAL)) ||
	    (f->stream = fdopen(fd, "r")) == NULL) {
		/* a device or a FIFO could be read forever */
		if (lx->file != NULL)
			lex_error(lx, "cannot read %s: %s", path,
			    errno == EINVAL ? "not a regular file" :
			    strerror(errno));
		else
			log_warnx("%s: %s", path, errno == EINVAL ?
			    "not a regular file" : strerror(errno));
		if (fd != -1)
			close(fd);
		free(f->name);
		free(f);
		return (NULL);
	}
	f->lineno = 1;
	TAILQ_INSERT_TAIL(&lx->files, f, entry);
	lx->file = f;
	return (f);
}

static void
lex_freefile(struct lex_file *f)
{
	if (f->stream != NULL)
		fclose(f->stream);
	free(f->unget);
	free(f->name);
	free(f);
}

/* The last file ends: pop it and go on with the one that included it. */
static int
lex_popfile(struct lexer *lx)
{
	struct lex_file	*prev;

	if ((prev = TAILQ_PREV(lx->file, lex_files, entry)) == NULL)
		return (EOF);
	TAILQ_REMOVE(&lx->files, lx->file, entry);
	lex_freefile(lx->file);
	lx->file = prev;
	return (0);
}

static void
lex_freesyms(struct lexer *lx, int all)
{
	struct lex_sym	*s, *t;

	TAILQ_FOREACH_SAFE(s, &lx->syms, entry, t) {
		if (!s->persist && !s->used)
			log_debug("warning: macro '%s' not used", s->name);
		if (s->persist && !all)
			continue;
		TAILQ_REMOVE(&lx->syms, s, entry);
		free(s->name);
		free(s->value);
		free(s);
	}
}

int
lex_open(struct lexer *lx, const char *path, const struct lex_keyword *kw,
    size_t nkw, char **macros, int nmacros)
{
	int	 i;

	memset(lx, 0, sizeof(*lx));
	TAILQ_INIT(&lx->syms);
	TAILQ_INIT(&lx->files);
	if (lex_startdir[0] == '\0' &&
	    getcwd(lex_startdir, sizeof(lex_startdir)) == NULL)
		lex_startdir[0] = '\0';
	lx->keywords = kw;
	lx->nkeywords = nkw;
	for (i = 0; i < nmacros; i++)
		if (lex_cmdline_symset(lx, macros[i]) == -1) {
			log_warnx("bad macro definition %s", macros[i]);
			lex_freesyms(lx, 1);
			return (-1);
		}
	if (lex_pushfile(lx, path) == NULL) {
		lex_freesyms(lx, 1);
		return (-1);
	}
	return (0);
}

void
lex_close(struct lexer *lx)
{
	struct lex_file	*f;

	while ((f = TAILQ_FIRST(&lx->files)) != NULL) {
		TAILQ_REMOVE(&lx->files, f, entry);
		lex_freefile(f);
	}
	lx->file = NULL;
	lex_freesyms(lx, 1);
}

int
lex_include(struct lexer *lx, const char *path)
{
	struct lex_file	*f;

	if ((f = lex_pushfile(lx, path)) == NULL)
		return (-1);
	f->nl_first = 1;
	return (0);
}

const char *
lex_filename(const struct lexer *lx)
{
	return (lx->file != NULL ? lx->file->name : "?");
}

int
lex_lineno(const struct lexer *lx)
{
	return (lx->file != NULL ? lx->file->lineno : 0);
}

void
lex_where(const struct lexer *lx, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s:%d", lex_filename(lx), lex_lineno(lx));
}

void
lex_error(struct lexer *lx, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lx->errors++;
	log_warnx("%s:%d: %s", lex_filename(lx), lex_lineno(lx), msg);
}

static int
lex_ungetc(struct lexer *lx, int c)
{
	struct lex_file	*f = lx->file;
	unsigned char	*p;
	size_t		 nsz;

	if (c == EOF)
		return (c);
	if (f->ungetlen == f->ungetsz) {
		nsz = f->ungetsz ? f->ungetsz * 2 : 64;
		if (nsz > LEX_WORDMAX * 2 ||
		    (p = realloc(f->unget, nsz)) == NULL) {
			lex_error(lx, "macro expansion too long");
			return (EOF);
		}
		f->unget = p;
		f->ungetsz = nsz;
	}
	f->unget[f->ungetlen++] = (unsigned char)c;
	return (c);
}

/* Next byte; pushed-back bytes first, no line continuation there. */
static int
lex_getc(struct lexer *lx, int quoted)
{
	struct lex_file	*f = lx->file;
	int		 c, next;

	if (f->ungetlen > 0)
		return (f->unget[--f->ungetlen]);
	if (lx->expanding > 0)
		lx->expanding = 0;
	c = getc(f->stream);
	if (quoted)
		return (c);
	while (c == '\\') {
		next = getc(f->stream);
		if (next != '\n') {
			if (next != EOF)
				ungetc(next, f->stream);
			return (c);
		}
		f->lineno++;
		c = getc(f->stream);
	}
	if (c == '\t' || c == ' ') {
		/* fold runs of blanks */
		do {
			c = getc(f->stream);
		} while (c == '\t' || c == ' ');
		ungetc(c, f->stream);
		c = ' ';
	}
	return (c);
}

static void
lex_findeol(struct lexer *lx)
{
	int	 c;

	/* pushed-back bytes (a macro's rest, the newline after it) first */
	for (;;) {
		c = lex_getc(lx, 0);
		if (c == '\n') {
			lx->file->lineno++;
			break;
		}
		if (c == EOF)
			break;
	}
}

static int
lex_wordchar(int c)
{
	return (isalnum(c) || (c != EOF && strchr("-_.:*/@+%[]", c) != NULL &&
	    c != '\0'));
}

static int
lex_isnumber(const char *s)
{
	const char	*p = s;

	if (*p == '-')
		p++;
	if (*p == '\0')
		return (0);
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return (0);
	return (1);
}

int
lex_next(struct lexer *lx, struct lex_token *t)
{
	char		 buf[LEX_WORDMAX];
	const char	*val;
	const struct lex_keyword *kw;
	size_t		 len, i;
	int		 c, quote, next, counted;
	const char	*errstr;

	memset(t, 0, sizeof(*t));
 top:
	if (lx->file == NULL)
		return (t->kind = LEX_EOF);
	/* a line is counted once the grammar is done with its '\n' */
	counted = 0;
	if (lx->file->nl_pending) {
		lx->file->nl_pending = 0;
		lx->file->lineno++;
		counted = 1;
	}
	/*
	 * An included file starts with a '\n' token: it ends the include
	 * statement, whose own '\n' comes after the included file.
	 */
	if (lx->file->nl_first) {
		lx->file->nl_first = 0;
		t->ch = '\n';
		return (t->kind = LEX_CHAR);
	}
	while ((c = lex_getc(lx, 0)) == ' ')
		counted = 0;
	if (c == '#') {
		counted = 0;
		while ((c = lex_getc(lx, 0)) != '\n' && c != EOF)
			;
	}
	if (c == '$' && lx->expanding == 0) {
		len = 0;
		while ((c = lex_getc(lx, 0)) != EOF &&
		    (isalnum(c) || c == '_')) {
			if (len + 1 >= sizeof(buf)) {
				lex_error(lx, "macro name too long");
				return (t->kind = LEX_ERROR);
			}
			buf[len++] = (char)c;
		}
		buf[len] = '\0';
		lex_ungetc(lx, c);
		if ((val = lex_symget(lx, buf)) == NULL) {
			lex_error(lx, "macro '%s' not defined", buf);
			return (t->kind = LEX_ERROR);
		}
		for (i = strlen(val); i > 0; i--)
			if (lex_ungetc(lx, (unsigned char)val[i - 1]) == EOF)
				return (t->kind = LEX_ERROR);
		lx->expanding = LEX_MAXEXPAND;
		goto top;
	}
	switch (c) {
	case '\'':
	case '"':
		quote = c;
		len = 0;
		for (;;) {
			if ((c = lex_getc(lx, 1)) == EOF) {
				lex_error(lx, "unterminated quoted string");
				return (t->kind = LEX_ERROR);
			}
			if (c == '\n') {
				lex_error(lx, "newline in quoted string");
				lx->file->nl_pending = 1;
				return (t->kind = LEX_ERROR);
			}
			if (c == quote)
				break;
			if (c == '\\') {
				next = lex_getc(lx, 1);
				if (next == EOF) {
					lex_error(lx, "unterminated quoted "
					    "string");
					return (t->kind = LEX_ERROR);
				}
				if (next != quote && next != '\\')
					lex_ungetc(lx, next);
				else
					c = next;
			}
			if (c == '\0') {
				lex_error(lx, "NUL in quoted string");
				return (t->kind = LEX_ERROR);
			}
			if (len + 1 >= sizeof(buf)) {
				lex_error(lx, "string too long");
				return (t->kind = LEX_ERROR);
			}
			buf[len++] = (char)c;
		}
		buf[len] = '\0';
		if ((t->str = strdup(buf)) == NULL)
			fatal("%s", __func__);
		t->quoted = 1;
		return (t->kind = LEX_STRING);
	case EOF:
		if (!lx->file->eof_nl) {
			/* the file ends on its last line, not after it */
			if (counted)
				lx->file->lineno--;
			/* end every file with a newline for the grammar */
			lx->file->eof_nl = 1;
			t->ch = '\n';
			return (t->kind = LEX_CHAR);
		}
		if (lex_popfile(lx) == EOF)
			return (t->kind = LEX_EOF);
		goto top;
	case '\n':
		lx->file->nl_pending = 1;
		t->ch = '\n';
		return (t->kind = LEX_CHAR);
	}
	if (lex_wordchar(c)) {
		len = 0;
		do {
			if (len + 1 >= sizeof(buf)) {
				lex_error(lx, "word too long");
				return (t->kind = LEX_ERROR);
			}
			buf[len++] = (char)c;
		} while ((c = lex_getc(lx, 0)) != EOF && lex_wordchar(c));
		buf[len] = '\0';
		lex_ungetc(lx, c);
		if ((kw = bsearch(buf, lx->keywords, lx->nkeywords,
		    sizeof(*kw), lex_kwcmp)) != NULL) {
			t->token = kw->token;
			t->word = kw->word;
			return (t->kind = LEX_KEYWORD);
		}
		if (lex_isnumber(buf)) {
			t->num = strtonum(buf, LLONG_MIN, LLONG_MAX, &errstr);
			if (errstr != NULL) {
				lex_error(lx, "number %s is %s", buf, errstr);
				return (t->kind = LEX_ERROR);
			}
			return (t->kind = LEX_NUMBER);
		}
		if ((t->str = strdup(buf)) == NULL)
			fatal("%s", __func__);
		return (t->kind = LEX_STRING);
	}
	if (c != '\0' && strchr("{}=,!<>()", c) != NULL) {
		t->ch = c;
		return (t->kind = LEX_CHAR);
	}
	lex_error(lx, "unexpected character '%c'", isprint(c) ? c : '?');
	lex_findeol(lx);
	goto top;
}

int
lex_symset(struct lexer *lx, const char *name, const char *value,
    int persist)
{
	struct lex_sym	*s;

	TAILQ_FOREACH(s, &lx->syms, entry)
		if (strcmp(s->name, name) == 0)
			break;
	if (s != NULL) {
		if (s->persist && !persist)
			return (0);
		TAILQ_REMOVE(&lx->syms, s, entry);
		free(s->name);
		free(s->value);
		free(s);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->name = strdup(name)) == NULL ||
	    (s->value = strdup(value)) == NULL) {
		if (s != NULL)
			free(s->name);
		free(s);
		return (-1);
	}
	s->persist = persist;
	TAILQ_INSERT_TAIL(&lx->syms, s, entry);
	return (0);
}

static int
lex_cmdline_symset(struct lexer *lx, const char *s)
{
	char	*name, *eq;
	int	 r;

	if ((eq = strchr(s, '=')) == NULL || eq == s)
		return (-1);
	if ((name = strndup(s, (size_t)(eq - s))) == NULL)
		return (-1);
	r = lex_symset(lx, name, eq + 1, 1);
	free(name);
	return (r);
}

const char *
lex_symget(struct lexer *lx, const char *name)
{
	struct lex_sym	*s;

	TAILQ_FOREACH(s, &lx->syms, entry)
		if (strcmp(s->name, name) == 0) {
			s->used = 1;
			return (s->value);
		}
	return (NULL);
}

/*
 * Make a relative path absolute against the directory the daemon was
 * started in, also on a reload after daemon(3) went to "/".
 */
int
lex_abspath(struct lexer *lx, const char *in, char *out, size_t outsz)
{
	if (in[0] == '/') {
		if (strlcpy(out, in, outsz) >= outsz)
			goto toolong;
		return (0);
	}
	if (lex_startdir[0] == '\0') {
		lex_error(lx, "cannot make %s absolute", in);
		return (-1);
	}
	if ((size_t)snprintf(out, outsz, "%s/%s", lex_startdir, in) >= outsz)
		goto toolong;
	return (0);
 toolong:
	lex_error(lx, "path too long: %s", in);
	return (-1);
}

int
lex_yylex(struct lexer *lx, struct lex_yystype *lval, int string, int number,
    int error)
{
	struct lex_token	 t;

	lx->lexfailed = 0;
	(void)lex_next(lx, &t);
	if (lx->last.kind == LEX_CHAR && lx->last.ch == '\n')
		lx->ntok = 0;
	lx->ntok++;
	lx->last = t;
	lx->last.str = NULL;
	if (t.kind == LEX_STRING) {
		lx->lastlen = strlen(t.str);
		(void)strlcpy(lx->lastword, t.str, sizeof(lx->lastword));
	}
	if (lx->ntok == 1) {
		/* outside blocks, only "name = value" starts with a word */
		lx->firstbare = lx->depth == 0 && t.kind == LEX_STRING &&
		    !t.quoted;
		if (lx->firstbare) {
			(void)strlcpy(lx->firstword, lx->lastword,
			    sizeof(lx->firstword));
			lx->firstlen = lx->lastlen;
		}
	}
	if (t.kind == LEX_CHAR && t.ch == '{')
		lx->depth++;
	else if (t.kind == LEX_CHAR && t.ch == '}' && lx->depth > 0)
		lx->depth--;
	switch (t.kind) {
	case LEX_EOF:
		return (0);
	case LEX_CHAR:
		return (t.ch);
	case LEX_KEYWORD:
		return (t.token);
	case LEX_STRING:
		lval->v.string = t.str;
		return (string);
	case LEX_NUMBER:
		lval->v.number = t.num;
		return (number);
	case LEX_ERROR:
		break;
	}
	lx->lexfailed = 1;	/* lex_error() has said why */
	return (error);
}

/* A word, made safe to print and cut short. */
static void
lex_showword(char *buf, size_t len, const char *what, const char *word,
    size_t wordlen)
{
	char	 vis[4 * LEX_SHOWMAX + 1];
	size_t	 n;

	n = strlen(word);
	(void)strvisx(vis, word, n, VIS_SAFE | VIS_OCTAL | VIS_CSTYLE |
	    VIS_DQ);
	(void)snprintf(buf, len, "%s\"%s%s\"", what, vis,
	    wordlen > n ? "..." : "");
}

/*
 * What the last token was, for a syntax error: 'unexpected "alow"'.
 * Outside a block, a line that starts with a word can only define a
 * macro: when its second token is not the '=', the word is the mistake
 * (a misspelt keyword), not what follows it.
 */
static void
lex_unexpected(const struct lexer *lx, char *buf, size_t len)
{
	const struct lex_token	*t = &lx->last;

	if (lx->ntok == 2 && lx->firstbare) {
		lex_showword(buf, len, "", lx->firstword, lx->firstlen);
		return;
	}
	switch (t->kind) {
	case LEX_EOF:
		(void)strlcpy(buf, "end of file", len);
		break;
	case LEX_CHAR:
		if (t->ch == '\n')
			(void)strlcpy(buf, "end of line", len);
		else
			(void)snprintf(buf, len, "\"%c\"", t->ch);
		break;
	case LEX_KEYWORD:
		(void)snprintf(buf, len, "\"%s\"", t->word);
		break;
	case LEX_STRING:
		lex_showword(buf, len, t->quoted ? "string " : "",
		    lx->lastword, lx->lastlen);
		break;
	case LEX_NUMBER:
		(void)snprintf(buf, len, "number %lld", t->num);
		break;
	default:
		buf[0] = '\0';
		break;
	}
}

void
lex_verror(struct lexer *lx, const char *fmt, va_list ap)
{
	char	 msg[512], what[4 * LEX_SHOWMAX + 32];

	if (lx->lexfailed) {
		lx->lexfailed = 0;
		return;
	}
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strcmp(fmt, "syntax error") == 0) {
		lex_unexpected(lx, what, sizeof(what));
		if (what[0] != '\0') {
			lex_error(lx, "%s: unexpected %s", msg, what);
			return;
		}
	}
	lex_error(lx, "%s", msg);
}

void
lex_varset(struct lexer *lx, char *name, char *value)
{
	const char	*s;

	for (s = name; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_') {
			lex_error(lx, "macro name cannot contain '%c'", *s);
			break;
		}
	if (*s == '\0' && lex_symset(lx, name, value, 0) == -1)
		fatal("cannot store macro");
	free(name);
	free(value);
}

void
lex_include_path(struct lexer *lx, char *path)
{
	char	 abs[PATH_MAX];

	if (lex_abspath(lx, path, abs, sizeof(abs)) == 0)
		(void)lex_include(lx, abs);
	free(path);
}

char *
lex_port(struct lexer *lx, long long n)
{
	char	*s;

	if (n <= 0 || n > 65535) {
		lex_error(lx, "invalid port %lld", n);
		return (NULL);
	}
	if (asprintf(&s, "%lld", n) == -1)
		fatal("asprintf");
	return (s);
}

int
lex_uint(struct lexer *lx, long long v, long long min, long long max,
    const char *what, unsigned int *out)
{
	if (v < min || v > max) {
		lex_error(lx, "%s must be %lld to %lld", what, min, max);
		return (-1);
	}
	*out = (unsigned int)v;
	return (0);
}

int
lex_addrs(struct lexer *lx, const char *host, const char *port, int passive,
    struct net_addr *addrs, int *n, int max)
{
	const char	*why;
	int		 r;

	if (*n >= max) {
		lex_error(lx, "too many addresses");
		return (-1);
	}
	if ((r = net_resolve(host, port, passive, &addrs[*n], (size_t)(max -
	    *n), &why)) == -1) {
		lex_error(lx, "%s port %s: %s", host, port, why);
		return (-1);
	}
	*n += r;
	return (0);
}

int
lex_path(struct lexer *lx, char *in, char *out, size_t outsz)
{
	int	 r;

	r = lex_abspath(lx, in, out, outsz);
	free(in);
	return (r);
}

int
lex_user(struct lexer *lx, char *name, char *out, size_t outsz)
{
	struct passwd	*pw;
	int		 r = -1;

	if (name[0] == '\0')
		lex_error(lx, "user name is empty");
	else if ((pw = getpwnam(name)) == NULL)
		lex_error(lx, "user \"%s\": no such user", name);
	else if (pw->pw_uid == 0)
		lex_error(lx, "user \"%s\": is root; the children must not "
		    "run as root", name);
	else
		r = 0;
	if (r == 0 && strlcpy(out, name, outsz) >= outsz) {
		lex_error(lx, "user name too long");
		r = -1;
	}
	free(name);
	return (r);
}

int
lex_default_user(const char *user, const char *file)
{
	struct passwd	*pw;

	if ((pw = getpwnam(user)) != NULL && pw->pw_uid != 0)
		return (0);
	if (geteuid() != 0) {
		/* the children run as whoever started the daemon */
		log_warnx("%s: warning: user \"%s\" %s; started as root, %s "
		    "would refuse to start (set \"user\" in %s)",
		    getprogname(), user, pw == NULL ? "does not exist" :
		    "is root", getprogname(), file);
		return (0);
	}
	if (pw == NULL)
		log_warnx("%s: user \"%s\" does not exist (create it, or set "
		    "\"user\" in %s)", getprogname(), user, file);
	else
		log_warnx("%s: user \"%s\" is root: the children must not "
		    "run as root (set \"user\" in %s)", getprogname(), user,
		    file);
	return (-1);
}

int
lex_copy(struct lexer *lx, char *in, char *out, size_t outsz,
    const char *what)
{
	int	 r = 0;

	if (strlcpy(out, in, outsz) >= outsz) {
		lex_error(lx, "%s too long", what);
		r = -1;
	}
	free(in);
	return (r);
}
