/*
 * lex.h: the lexer the three parse.y grammars share.
 *
 * Words, quoted strings, numbers, one-character tokens and newlines
 * (the grammars are line based); "# comments"; backslash-newline joins
 * lines; "$name" expands a macro defined with "name = value" in the
 * file or with -D on the command line; "include" pushes a file.  The
 * grammar maps words to its keywords through a sorted table.
 */

#ifndef LEX_H
#define LEX_H

#include <stdarg.h>
#include <stdio.h>

#include "compat.h"

#define LEX_WORDMAX	8192

enum lex_kind {
	LEX_EOF = 0,
	LEX_CHAR,	/* tok.ch: one of {}=,!<>() or '\n' */
	LEX_KEYWORD,	/* tok.token: the grammar's token for the word */
	LEX_STRING,	/* tok.str: a word or "quoted string" (malloc'd) */
	LEX_NUMBER,	/* tok.num */
	LEX_ERROR,
};

struct lex_keyword {
	const char	*word;
	int		 token;
};

struct lex_token {
	enum lex_kind	 kind;
	int		 ch;
	int		 token;
	const char	*word;		/* LEX_KEYWORD: the keyword */
	char		*str;
	int		 quoted;	/* LEX_STRING: was a "quoted string" */
	long long	 num;
};

#define LEX_SHOWMAX	40	/* of a word, in a syntax error */

struct lex_file;
struct lex_sym;
TAILQ_HEAD(lex_files, lex_file);
TAILQ_HEAD(lex_syms, lex_sym);

struct lexer {
	struct lex_files		 files;
	struct lex_file			*file;
	struct lex_syms			 syms;
	const struct lex_keyword	*keywords;	/* sorted by word */
	size_t				 nkeywords;
	int				 errors;
	int				 expanding;	/* macro depth */
	int				 lexfailed;	/* error said */
	/* the token the grammar saw last, for "syntax error: unexpected" */
	struct lex_token		 last;		/* no str */
	char				 lastword[LEX_SHOWMAX + 1];
	size_t				 lastlen;	/* of the whole string */
	int				 depth;		/* of { } blocks */
	int				 ntok;		/* tokens on the line */
	int				 firstbare;	/* ... the first a word */
	char				 firstword[LEX_SHOWMAX + 1];
	size_t				 firstlen;
};

/* Start on a file, with the -D macros (name=value) given; -1 if bad. */
int		 lex_open(struct lexer *, const char *path,
		    const struct lex_keyword *, size_t, char **macros,
		    int nmacros);
void		 lex_close(struct lexer *);
int		 lex_include(struct lexer *, const char *path);
int		 lex_next(struct lexer *, struct lex_token *);
void		 lex_error(struct lexer *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
const char	*lex_filename(const struct lexer *);
int		 lex_lineno(const struct lexer *);
/* "file:line" of the statement being parsed, for a message later */
void		 lex_where(const struct lexer *, char *, size_t);

int		 lex_abspath(struct lexer *, const char *, char *, size_t);

/*
 * What the grammars share.  Each parse.y declares
 *	typedef struct lex_yystype YYSTYPE;
 * and calls these from its rules.
 */
struct lex_yystype {
	union {
		long long	 number;
		char		*string;
	} v;
	int lineno;
};

struct net_addr;

/* yylex(): the grammar's token numbers for strings, numbers, errors */
int		 lex_yylex(struct lexer *, struct lex_yystype *, int string,
		    int number, int error);
/*
 * yyerror(): said once, not again after the lexer's own error; byacc's
 * "syntax error" gets what token was unexpected.
 */
void		 lex_verror(struct lexer *, const char *, va_list)
		    __attribute__((__format__ (printf, 2, 0)));
/* "name = value": define a macro (frees both) */
void		 lex_varset(struct lexer *, char *name, char *value);
/* "include path" (frees path) */
void		 lex_include_path(struct lexer *, char *path);
/* a port given as a number: its string, or NULL after an error */
char		*lex_port(struct lexer *, long long);
int		 lex_uint(struct lexer *, long long v, long long min,
		    long long max, const char *what, unsigned int *out);
/* resolve host and port, appending to addrs[*n], at most max in all */
int		 lex_addrs(struct lexer *, const char *host, const char *port,
		    int passive, struct net_addr *addrs, int *n, int max);
/* copy a path, made absolute (frees in) */
int		 lex_path(struct lexer *, char *in, char *out, size_t outsz);
int		 lex_copy(struct lexer *, char *in, char *out, size_t outsz,
		    const char *what);
/* "user name": a user that exists and is not root (frees name) */
int		 lex_user(struct lexer *, char *name, char *out, size_t outsz);
/*
 * No "user" statement: the default user must exist when the daemon runs
 * as root, which needs it; otherwise only a warning.  -1 after an error.
 */
int		 lex_default_user(const char *user, const char *file);

int		 lex_symset(struct lexer *, const char *name, const char *value,
		    int persist);
const char	*lex_symget(struct lexer *, const char *name);

#endif /* LEX_H */
