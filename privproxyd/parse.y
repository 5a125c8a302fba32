/*
 * parse.y: the grammar of privproxyd.conf(5).  The lexer and the rules
 * the grammars share are in common/lex.c; this file builds a struct
 * privproxyd_conf.  Host names are resolved here, in the parent, once.
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
#include "privproxyd.h"

static struct lexer		 lx;
static int			 userset;	/* a "user" statement */
static struct privproxyd_conf	*conf;
static struct pp_public		*curpub;
static struct pp_domain		*curdom;

int	 yyparse(void);
static int	 yylex(void);
static void	 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

typedef struct lex_yystype YYSTYPE;
#define YYSTYPE_IS_DECLARED 1
%}

%token	ANNOUNCE BACKCHANNEL CHROOT CONNECT CONNECTIONS DOMAIN EPS FORWARD
%token	IDLE INCLUDE MAX POOL PORT PREFORK PROTOCOL PROXY PUBLIC SOCKET TIMEOUT
%token	TO TTL USER ERROR
%token	CONTROL GROUP LISTEN METRICS ON
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.string>	port
%destructor	{ free($$); }	<v.string>

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar public '\n'
		| grammar domain '\n'
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
		| EPS SOCKET STRING		{
			(void)lex_path(&lx, $3, conf->eps_socket,
			    sizeof(conf->eps_socket));
		}
		| ANNOUNCE TTL NUMBER		{
			(void)lex_uint(&lx, $3, 3, 86400, "announce ttl",
			    &conf->ttl);
		}
		| TIMEOUT CONNECT NUMBER	{
			(void)lex_uint(&lx, $3, 1, 3600, "timeout",
			    &conf->to_connect);
		}
		| TIMEOUT IDLE NUMBER		{
			(void)lex_uint(&lx, $3, 0, 86400 * 7, "timeout",
			    &conf->to_idle);
		}
		| MAX CONNECTIONS NUMBER	{
			(void)lex_uint(&lx, $3, 1, 1000000, "max connections",
			    &conf->max_conns);
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

public		: PUBLIC STRING			{
			if (!rpc_valid_name($2) ||
			    strcmp($2, EPS_LOCAL_OP) == 0)
				yyerror("invalid operator name \"%s\"", $2);
			else if (config_public(conf, $2) != NULL)
				yyerror("public \"%s\" defined twice", $2);
			if ((curpub = calloc(1, sizeof(*curpub))) == NULL)
				fatal("calloc");
			(void)lex_copy(&lx, $2, curpub->name,
			    sizeof(curpub->name), "operator name");
			curpub->pool = PP_POOL;
			$2 = NULL;	/* still on the stack: %destructor */
			TAILQ_INSERT_TAIL(&conf->publics, curpub, entry);
		} optnl '{' optnl pubbody '}'	{
			if (curpub->nbc == 0)
				yyerror("public \"%s\" has no backchannel",
				    curpub->name);
			curpub = NULL;
		}
		;

pubbody		: /* empty */
		| pubbody publine optnl
		;

publine		: BACKCHANNEL STRING PORT port	{
			(void)lex_addrs(&lx, $2, $4, 0, curpub->bc,
			    &curpub->nbc, PP_MAXADDR);
			free($2);
			free($4);
		}
		| POOL NUMBER			{
			(void)lex_uint(&lx, $2, 0, PP_POOL_MAX, "pool",
			    &curpub->pool);
		}
		;

domain		: DOMAIN STRING			{
			char	 name[DNAME_MAX + 1];

			if ((curdom = calloc(1, sizeof(*curdom))) == NULL)
				fatal("calloc");
			if (dname_lower(name, $2, sizeof(name), 1) == -1)
				yyerror("invalid domain \"%s\"", $2);
			else {
				if (config_domain(conf, name) != NULL &&
				    strcmp(config_domain(conf, name)->name,
				    name) == 0)
					yyerror("domain \"%s\" defined twice",
					    name);
				(void)strlcpy(curdom->name, name,
				    sizeof(curdom->name));
			}
			free($2);
			$2 = NULL;	/* still on the stack: %destructor */
			TAILQ_INSERT_TAIL(&conf->domains, curdom, entry);
		} optnl '{' optnl dombody '}'	{
			if (curdom->nfwd == 0)
				yyerror("domain \"%s\" has no \"forward to\"",
				    curdom->name);
			curdom = NULL;
		}
		;

dombody		: /* empty */
		| dombody domline optnl
		;

domline		: FORWARD TO STRING PORT port	{
			(void)lex_addrs(&lx, $3, $5, 0, curdom->fwd,
			    &curdom->nfwd, PP_MAXADDR);
			free($3);
			free($5);
		}
		| PROXY PROTOCOL STRING		{
			if (strcmp($3, "v1") == 0)
				curdom->proxy = PROXY_V1;
			else if (strcmp($3, "v2") == 0)
				curdom->proxy = PROXY_V2;
			else
				yyerror("proxy protocol must be v1 or v2");
			free($3);
		}
		;

optnl		: '\n' optnl
		| /* empty */
		;

%%

static const struct lex_keyword keywords[] = {
	{ "announce",		ANNOUNCE },
	{ "backchannel",	BACKCHANNEL },
	{ "chroot",		CHROOT },
	{ "connect",		CONNECT },
	{ "connections",	CONNECTIONS },
	{ "control",		CONTROL },
	{ "domain",		DOMAIN },
	{ "eps",		EPS },
	{ "forward",		FORWARD },
	{ "group",		GROUP },
	{ "idle",		IDLE },
	{ "include",		INCLUDE },
	{ "listen",		LISTEN },
	{ "max",		MAX },
	{ "metrics",		METRICS },
	{ "on",			ON },
	{ "pool",		POOL },
	{ "port",		PORT },
	{ "prefork",		PREFORK },
	{ "protocol",		PROTOCOL },
	{ "proxy",		PROXY },
	{ "public",		PUBLIC },
	{ "socket",		SOCKET },
	{ "timeout",		TIMEOUT },
	{ "to",			TO },
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

struct privproxyd_conf *
parse_config(const char *file, char **macros, int nmacros)
{
	struct pp_domain	*dom;
	long			 ncpu;
	int			 errors, ndom = 0;

	if ((conf = config_new()) == NULL)
		fatal("%s", __func__);
	if (lex_open(&lx, file, keywords, nitems(keywords), macros,
	    nmacros) == -1) {
		config_free(conf);
		return (NULL);
	}
	userset = 0;
	yyparse();
	errors = lx.errors;
	lex_close(&lx);
	if (errors == 0) {
		if (TAILQ_EMPTY(&conf->publics)) {
			log_warnx("%s: no public operator", file);
			errors++;
		}
		if (TAILQ_EMPTY(&conf->domains)) {
			log_warnx("%s: no domain", file);
			errors++;
		}
		TAILQ_FOREACH(dom, &conf->domains, entry)
			ndom++;
		if (ndom > EPS_DOMAINS_MAX) {
			log_warnx("%s: %d domains, at most %d can be "
			    "announced", file, ndom, EPS_DOMAINS_MAX);
			errors++;
		}
		if (!userset && lex_default_user(conf->user, file) == -1)
			errors++;
	}
	if (conf->prefork == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		conf->prefork = ncpu < 1 ? 1 : (int)MINIMUM(ncpu, 16);
	}
	if (errors) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}
