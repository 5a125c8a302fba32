/*
 * parse.y: the grammar of proxyd.conf(5).  The lexer is common/lex.c;
 * this file maps its words to keywords and builds a struct proxyd_conf.
 * Host names are resolved here, in the parent, once.  The networks of a
 * "proxy protocol from" are numeric (common/proxyproto.c parses them):
 * trust is not given to whatever a name resolves to.
 */

%{
#include <sys/socket.h>
#include <sys/un.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "compat.h"
#include "lex.h"
#include "log.h"
#include "proxyd.h"
#include "proxyproto.h"

static struct lexer		 lx;
static int			 userset;	/* a "user" statement */
static struct proxyd_conf	*conf;
static struct proxyd_operator	*curop;
/* the networks of the "proxy protocol from" being read */
static char			*ppnets[PROXYD_MAXTRUST];
static size_t			 nppnets;

int	 yyparse(void);
static int	 yylex(void);
static void	 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static int	 add_allow(char *);
static void	 add_ppnet(char *);
static void	 clear_ppnets(void);
static void	 add_ppin(int first);

typedef struct lex_yystype YYSTYPE;
#define YYSTYPE_IS_DECLARED 1
%}

%token	ALLOW ANNOUNCEMENTS BACKCHANNEL CALLS CHROOT CONNECTIONS ENDPOINT EPS
%token	HANDSHAKE HANDSHAKES IDLE INCLUDE LISTEN MAX ON OPERATOR PORT
%token	PREAMBLE POOL PREFORK SOCKET SOURCE TIMEOUT TOKEN TOKENS TTL USER
%token	ERROR
%token	CONTROL GROUP METRICS FROM PROTOCOL PROXY
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.string>	port
%type	<v.number>	ppin
%destructor	{ free($$); }	<v.string>

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar operator '\n'
		| grammar error '\n'		{ lx.errors++; }
		;

include		: INCLUDE STRING		{ lex_include_path(&lx, $2); }
		;

varset		: STRING '=' STRING		{ lex_varset(&lx, $1, $3); }
		| STRING '=' NUMBER		{
			char	*v;

			if (asprintf(&v, "%lld", $3) == -1)
				fatal("asprintf");
			lex_varset(&lx, $1, v);
		}
		;

port		: NUMBER			{
			if (($$ = lex_port(&lx, $1)) == NULL)
				YYERROR;
		}
		| STRING			{ $$ = $1; }
		;

main		: USER STRING			{
			(void)lex_user(&lx, $2, conf->user,
			    sizeof(conf->user));
			userset = 1;
		}
		| CHROOT STRING			{
			if ($2[0] != '/')
				yyerror("chroot must be an absolute path");
			(void)lex_copy(&lx, $2, conf->chroot,
			    sizeof(conf->chroot), "chroot path");
		}
		| PREFORK NUMBER		{
			unsigned int	 n;

			if (lex_uint(&lx, $2, 1, PROC_INSTMAX, "prefork",
			    &n) == 0)
				conf->prefork = (int)n;
		}
		| LISTEN ON STRING PORT port ppin {
			int	 first = conf->nlisten;

			if (lex_addrs(&lx, $3, $5, 1, conf->listen,
			    &conf->nlisten, PROXYD_MAXLISTEN) == 0 && $6)
				add_ppin(first);
			clear_ppnets();
			free($3);
			free($5);
		}
		| BACKCHANNEL ON STRING PORT port {
			(void)lex_addrs(&lx, $3, $5, 1, conf->backchannel,
			    &conf->nbackchannel, PROXYD_MAXLISTEN);
			free($3);
			free($5);
		}
		| BACKCHANNEL ENDPOINT STRING	{
			(void)lex_copy(&lx, $3, conf->endpoint,
			    sizeof(conf->endpoint), "endpoint");
		}
		| EPS SOCKET STRING		{
			(void)lex_path(&lx, $3, conf->eps_socket,
			    sizeof(conf->eps_socket));
		}
		| TIMEOUT HANDSHAKE NUMBER	{
			(void)lex_uint(&lx, $3, 1, 3600, "timeout",
			    &conf->to_handshake);
		}
		| TIMEOUT TOKEN NUMBER		{
			(void)lex_uint(&lx, $3, 1, 3600, "timeout",
			    &conf->to_token);
		}
		| TIMEOUT PREAMBLE NUMBER	{
			(void)lex_uint(&lx, $3, 1, 3600, "timeout",
			    &conf->to_preamble);
		}
		| TIMEOUT IDLE NUMBER		{
			(void)lex_uint(&lx, $3, 0, 86400 * 7, "timeout",
			    &conf->to_idle);
		}
		| MAX CONNECTIONS NUMBER	{
			(void)lex_uint(&lx, $3, 1, 1000000, "max connections",
			    &conf->max_conns);
		}
		| MAX SOURCE HANDSHAKES NUMBER	{
			(void)lex_uint(&lx, $4, 0, 1000000,
			    "max source handshakes", &conf->max_src_hs);
		}
		| MAX SOURCE CONNECTIONS NUMBER	{
			(void)lex_uint(&lx, $4, 0, 1000000,
			    "max source connections", &conf->max_src_conns);
		}
		| MAX TOKENS NUMBER		{
			(void)lex_uint(&lx, $3, 1, 1000000, "max tokens",
			    &conf->max_tokens);
		}
		| MAX ANNOUNCEMENTS NUMBER	{
			(void)lex_uint(&lx, $3, 1, 1000000,
			    "max announcements", &conf->max_announce);
		}
		| MAX TTL NUMBER		{
			(void)lex_uint(&lx, $3, 1, 86400 * 7, "max ttl",
			    &conf->max_ttl);
		}
		| MAX OPERATOR CALLS NUMBER	{
			(void)lex_uint(&lx, $4, 1, EPS_CALLS_MAX,
			    "max operator calls", &conf->op_max_calls);
		}
		| MAX OPERATOR TOKENS NUMBER	{
			(void)lex_uint(&lx, $4, 1, 1000000,
			    "max operator tokens", &conf->op_max_tokens);
		}
		| MAX OPERATOR ANNOUNCEMENTS NUMBER {
			(void)lex_uint(&lx, $4, 1, 1000000,
			    "max operator announcements",
			    &conf->op_max_announce);
		}
		| CONTROL SOCKET STRING		{
			struct sockaddr_un	 sun;

			if (lex_path(&lx, $3, conf->ctl.socket,
			    sizeof(conf->ctl.socket)) == 0 &&
			    strlen(conf->ctl.socket) >= sizeof(sun.sun_path))
				yyerror("control socket path %s is too long",
				    conf->ctl.socket);
		}
		| CONTROL GROUP STRING		{
			if (proc_ctlconf_group(&conf->ctl, $3) == -1)
				yyerror("control group %s: no such group", $3);
			free($3);
		}
		| METRICS LISTEN ON STRING PORT port {
			(void)lex_addrs(&lx, $4, $6, 1, conf->ctl.metrics,
			    &conf->ctl.nmetrics, PROC_METRICS_MAX);
			free($4);
			free($6);
		}
		;

ppin		: /* empty */			{ $$ = 0; }
		| PROXY PROTOCOL FROM		{ clear_ppnets(); }
		    ppnets			{ $$ = 1; }
		;

ppnets		: STRING			{ add_ppnet($1); }
		| '{' optnl ppnetlist_b '}'
		;

ppnetlist_b	: STRING optnl			{ add_ppnet($1); }
		| ppnetlist_b ',' optnl STRING optnl {
			add_ppnet($4);
		}
		| ppnetlist_b STRING optnl	{ add_ppnet($2); }
		;

operator	: OPERATOR STRING		{
			if (!rpc_valid_name($2) ||
			    strcmp($2, EPS_LOCAL_OP) == 0)
				yyerror("invalid operator name \"%s\"", $2);
			else if (config_operator(conf, $2) != NULL)
				yyerror("operator \"%s\" defined twice", $2);
			if ((curop = calloc(1, sizeof(*curop))) == NULL)
				fatal("calloc");
			curop->max_pool = PROXYD_MAX_POOL;
			(void)strlcpy(curop->name, $2, sizeof(curop->name));
			TAILQ_INSERT_TAIL(&conf->operators, curop, entry);
			free($2);
			$2 = NULL;	/* still on the stack: %destructor */
		} optnl '{' optnl opbody '}'	{
			if (curop->nallow == 0)
				yyerror("operator \"%s\" allows no names",
				    curop->name);
			curop = NULL;
		}
		;

opbody		: /* empty */
		| oplines
		;

oplines		: opline optnl
		| oplines opline optnl
		;

opline		: ALLOW allowlist
		| ALLOW '{' optnl allowlist_b '}'
		| MAX POOL NUMBER		{
			(void)lex_uint(&lx, $3, 0, 65535, "max pool",
			    &curop->max_pool);
		}
		| MAX CALLS NUMBER		{
			(void)lex_uint(&lx, $3, 1, EPS_CALLS_MAX, "max calls",
			    &curop->max_calls);
		}
		| MAX TOKENS NUMBER		{
			(void)lex_uint(&lx, $3, 1, 1000000, "max tokens",
			    &curop->max_tokens);
		}
		| MAX ANNOUNCEMENTS NUMBER	{
			(void)lex_uint(&lx, $3, 1, 1000000,
			    "max announcements", &curop->max_announce);
		}
		;

allowlist	: STRING			{ (void)add_allow($1); }
		| allowlist ',' STRING		{ (void)add_allow($3); }
		;

allowlist_b	: STRING optnl			{ (void)add_allow($1); }
		| allowlist_b ',' optnl STRING optnl {
			(void)add_allow($4);
		}
		| allowlist_b STRING optnl	{ (void)add_allow($2); }
		;

optnl		: '\n' optnl
		| /* empty */
		;

%%

static const struct lex_keyword keywords[] = {
	{ "allow",		ALLOW },
	{ "announcements",	ANNOUNCEMENTS },
	{ "backchannel",	BACKCHANNEL },
	{ "calls",		CALLS },
	{ "chroot",		CHROOT },
	{ "connections",	CONNECTIONS },
	{ "control",		CONTROL },
	{ "endpoint",		ENDPOINT },
	{ "eps",		EPS },
	{ "from",		FROM },
	{ "group",		GROUP },
	{ "handshake",		HANDSHAKE },
	{ "handshakes",		HANDSHAKES },
	{ "idle",		IDLE },
	{ "include",		INCLUDE },
	{ "listen",		LISTEN },
	{ "max",		MAX },
	{ "metrics",		METRICS },
	{ "on",			ON },
	{ "operator",		OPERATOR },
	{ "pool",		POOL },
	{ "port",		PORT },
	{ "preamble",		PREAMBLE },
	{ "prefork",		PREFORK },
	{ "protocol",		PROTOCOL },
	{ "proxy",		PROXY },
	{ "socket",		SOCKET },
	{ "source",		SOURCE },
	{ "timeout",		TIMEOUT },
	{ "token",		TOKEN },
	{ "tokens",		TOKENS },
	{ "ttl",		TTL },
	{ "user",		USER },
};

static void
yyerror(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	lex_verror(&lx, fmt, ap);
	va_end(ap);
}

static int
yylex(void)
{
	return (lex_yylex(&lx, &yylval, STRING, NUMBER, ERROR));
}

static int
add_allow(char *s)
{
	char	 pat[DNAME_MAX + 1];

	if (dname_lower(pat, s, sizeof(pat), 1) == -1) {
		yyerror("invalid name or pattern \"%s\"", s);
		free(s);
		return (-1);
	}
	free(s);
	if (curop->nallow >= PROXYD_MAXALLOW) {
		yyerror("too many names for operator %s", curop->name);
		return (-1);
	}
	if ((curop->allow[curop->nallow] = strdup(pat)) == NULL)
		fatal("strdup");
	curop->nallow++;
	return (0);
}

/* One network of a "proxy protocol from", checked. */
static void
add_ppnet(char *s)
{
	struct pp_net	 net;
	const char	*why;

	if (pp_net_parse(s, &net, &why) == -1) {
		yyerror("proxy protocol from %s: %s", s, why);
		free(s);
		return;
	}
	if (nppnets >= PROXYD_MAXTRUST) {
		yyerror("proxy protocol from %s: more than %d networks", s,
		    PROXYD_MAXTRUST);
		free(s);
		return;
	}
	ppnets[nppnets++] = s;
}

static void
clear_ppnets(void)
{
	while (nppnets > 0)
		free(ppnets[--nppnets]);
}

/* The listen addresses from first on take the PROXY protocol. */
static void
add_ppin(int first)
{
	struct proxyd_ppin	*pp;
	char			 a[NET_ADDRSTRLEN];
	size_t			 i;
	int			 j;

	if (nppnets == 0)	/* each was refused */
		return;
	for (j = first; j < conf->nlisten; j++) {
		(void)net_addrstr(&conf->listen[j], a, sizeof(a));
		TAILQ_FOREACH(pp, &conf->ppin, entry)
			if (strcmp(pp->addr, a) == 0)
				break;
		if (pp != NULL) {
			yyerror("listen on %s: proxy protocol given twice", a);
			continue;
		}
		if ((pp = calloc(1, sizeof(*pp))) == NULL)
			fatal("calloc");
		(void)strlcpy(pp->addr, a, sizeof(pp->addr));
		for (i = 0; i < nppnets; i++)
			if ((pp->from[i] = strdup(ppnets[i])) == NULL)
				fatal("strdup");
		pp->nfrom = nppnets;
		TAILQ_INSERT_TAIL(&conf->ppin, pp, entry);
	}
}

struct proxyd_conf *
parse_config(const char *file, char **macros, int nmacros)
{
	struct proxyd_operator	*op;
	long			 ncpu;
	int			 errors;

	if ((conf = config_new()) == NULL)
		fatal("%s", __func__);
	if (lex_open(&lx, file, keywords, nitems(keywords), macros,
	    nmacros) == -1) {
		config_free(conf);
		return (NULL);
	}
	userset = 0;
	yyparse();
	clear_ppnets();
	errors = lx.errors;

	if (errors == 0) {
		if (conf->nlisten == 0)
			log_warnx("%s: no \"listen on\"", file), errors++;
		if (conf->nbackchannel == 0)
			log_warnx("%s: no \"backchannel on\"", file), errors++;
		if (TAILQ_EMPTY(&conf->operators))
			log_warnx("%s: no operator may announce names "
			    "(warning)", file);
		if (!userset && lex_default_user(conf->user, file) == -1)
			errors++;
	}
	if (conf->prefork == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		conf->prefork = ncpu < 1 ? 1 : (int)MINIMUM(ncpu, 16);
	}
	/* an operator's limits: its own, or the top level's */
	TAILQ_FOREACH(op, &conf->operators, entry) {
		if (op->max_calls == 0)
			op->max_calls = conf->op_max_calls;
		if (op->max_tokens == 0)
			op->max_tokens = conf->op_max_tokens;
		if (op->max_announce == 0)
			op->max_announce = conf->op_max_announce;
	}
	if (conf->endpoint[0] == '\0' && conf->nbackchannel > 0)
		(void)net_addrstr(&conf->backchannel[0], conf->endpoint,
		    sizeof(conf->endpoint));
	lex_close(&lx);
	if (errors) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}
