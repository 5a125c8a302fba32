/*
 * parse.y: the grammar of epsd.conf(5).  common/lex.c is the lexer;
 * this file maps its words to keywords, builds a struct epsd_conf and
 * checks it.  Host names are resolved here, in the parent, so the
 * children only ever see addresses.  Relative paths (include, the TLS
 * files, the socket) are made absolute against the directory epsd was
 * started in, so that a reload after daemon(3) finds the same files.
 */

%{
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "compat.h"
#include "epsd.h"
#include "lex.h"
#include "log.h"
#include "tlsutil.h"

static struct lexer		 lx;
static struct epsd_conf		*conf;
static struct epsd_peer		*curpeer;
static int			 curbad;	/* curpeer is dropped */
static int			 userset;	/* a "user" statement */
/* file:line of the tls statements, for what is wrong with their files */
static char			 tlswhere[TLSUTIL_NFILES][PATH_MAX + 16];

int		 yylex(void);
void		 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
int		 yyparse(void);
static int	 checkconf(const char *);

typedef struct lex_yystype YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

%}

%token	ALLOW CA CERTIFICATE CHROOT CONNECT HEARTBEAT INCLUDE KEY LISTEN
%token	ON OPERATOR PEER PORT SOCKET TIMEOUT TLS TO USER
%token	CONTROL GROUP METRICS
%token	ERROR
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.string>	port string
%destructor	{ free($$); }	<v.string>

%%

/*
 * A semantic error is reported with yyerror() and parsing goes on, so
 * that one mistake in a block does not turn the rest of it into syntax
 * errors; lx.errors counts them all.
 */

grammar		: /* empty */
		| grammar '\n'
		| grammar include
		| grammar varset '\n'
		| grammar main '\n'
		| grammar peer '\n'
		| grammar error '\n'		{ yyerrok; }
		;

include		: INCLUDE STRING		{ lex_include_path(&lx, $2); }
		;

string		: STRING
		| NUMBER			{
			if (asprintf(&$$, "%lld", $1) == -1)
				fatal("%s", __func__);
		}
		;

varset		: STRING '=' string		{ lex_varset(&lx, $1, $3); }
		;

main		: OPERATOR STRING		{
			if (!rpc_valid_name($2) ||
			    strcmp($2, EPS_LOCAL_OP) == 0)
				yyerror("invalid operator name %s", $2);
			else
				(void)strlcpy(conf->operator, $2,
				    sizeof(conf->operator));
			free($2);
		}
		| USER STRING			{
			(void)lex_user(&lx, $2, conf->user,
			    sizeof(conf->user));
			userset = 1;
		}
		| CHROOT STRING			{
			(void)lex_path(&lx, $2, conf->chroot,
			    sizeof(conf->chroot));
		}
		| SOCKET STRING			{
			struct sockaddr_un	 sun;

			if (lex_path(&lx, $2, conf->socket,
			    sizeof(conf->socket)) == 0 && strlen(conf->socket) >=
			    sizeof(sun.sun_path))
				yyerror("socket path %s is too long",
				    conf->socket);
		}
		| TLS CERTIFICATE STRING	{
			lex_where(&lx, tlswhere[TLSUTIL_CERT],
			    sizeof(tlswhere[TLSUTIL_CERT]));
			(void)lex_path(&lx, $3, conf->tls_cert,
			    sizeof(conf->tls_cert));
		}
		| TLS KEY STRING		{
			lex_where(&lx, tlswhere[TLSUTIL_KEY],
			    sizeof(tlswhere[TLSUTIL_KEY]));
			(void)lex_path(&lx, $3, conf->tls_key,
			    sizeof(conf->tls_key));
		}
		| TLS CA STRING			{
			lex_where(&lx, tlswhere[TLSUTIL_CA],
			    sizeof(tlswhere[TLSUTIL_CA]));
			(void)lex_path(&lx, $3, conf->tls_ca,
			    sizeof(conf->tls_ca));
		}
		| LISTEN ON STRING PORT port	{
			if ($5 != NULL)
				(void)lex_addrs(&lx, $3, $5, 1, conf->listen,
				    &conf->nlisten, EPSD_MAXLISTEN);
			free($3);
			free($5);
		}
		| HEARTBEAT NUMBER		{
			if ($2 < 1 || $2 > EPSD_TIMEMAX)
				yyerror("heartbeat %lld out of range (1..%d)",
				    $2, EPSD_TIMEMAX);
			else
				conf->heartbeat = (unsigned int)$2;
		}
		| TIMEOUT NUMBER		{
			if ($2 < 1 || $2 > EPSD_TIMEMAX)
				yyerror("timeout %lld out of range (1..%d)",
				    $2, EPSD_TIMEMAX);
			else
				conf->timeout = (unsigned int)$2;
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

/* NULL after an error */
port		: NUMBER			{
			$$ = NULL;
			if ($1 < 1 || $1 > 65535)
				yyerror("port %lld out of range (1..65535)",
				    $1);
			else if (asprintf(&$$, "%lld", $1) == -1)
				fatal("%s", __func__);
		}
		| STRING
		;

peer		: PEER STRING			{
			config_peer_free(curpeer);	/* left open */
			if ((curpeer = calloc(1, sizeof(*curpeer))) == NULL)
				fatal("%s", __func__);
			(void)strlcpy(curpeer->name, $2,
			    sizeof(curpeer->name));
			curbad = 1;
			if (!rpc_valid_name($2) ||
			    strcmp($2, EPS_LOCAL_OP) == 0)
				yyerror("invalid peer name %s", $2);
			else if (config_peer(conf, $2) != NULL)
				yyerror("peer %s defined twice", $2);
			else if (conf->npeers >= EPSD_MAXPEERS)
				yyerror("too many peers (at most %d)",
				    EPSD_MAXPEERS);
			else
				curbad = 0;
			free($2);
			$2 = NULL;	/* still on the stack: %destructor */
		} optnl '{' optnl peeropts lastopt '}' {
			if (curbad)
				config_peer_free(curpeer);
			else {
				TAILQ_INSERT_TAIL(&conf->peers, curpeer,
				    entry);
				conf->npeers++;
			}
			curpeer = NULL;
		}
		;

peeropts	: /* empty */
		| peeropts peeropt nl
		;

lastopt		: /* empty */
		| peeropt
		;

peeropt		: CONNECT TO STRING PORT port	{
			if (curpeer->nconnect > 0)
				yyerror("peer %s: connect given twice",
				    curpeer->name);
			else if ($5 != NULL)
				(void)lex_addrs(&lx, $3, $5, 0,
				    curpeer->connect, &curpeer->nconnect,
				    EPSD_MAXCONNECT);
			free($3);
			free($5);
		}
		| ALLOW allowitem
		| ALLOW '{' optnl allowlist '}'
		;

allowlist	: allowitem optnl
		| allowlist comma allowitem optnl
		;

comma		: ',' optnl
		| /* empty */
		;

allowitem	: STRING			{
			size_t	 i;

			for (i = 0; i < curpeer->nallow; i++)
				if (strcmp(curpeer->allow[i], $1) == 0)
					break;
			if (!rpc_valid_name($1)) {
				yyerror("invalid method name %s", $1);
				free($1);
			} else if (i < curpeer->nallow)
				free($1);	/* listed twice */
			else if (curpeer->nallow >= EPSD_MAXALLOW) {
				yyerror("peer %s: too many methods (at most "
				    "%d)", curpeer->name, EPSD_MAXALLOW);
				free($1);
			} else
				curpeer->allow[curpeer->nallow++] = $1;
		}
		;

nl		: '\n' optnl
		;

optnl		: /* empty */
		| optnl '\n'
		;

%%

static const struct lex_keyword keywords[] = {
	{ "allow",		ALLOW },
	{ "ca",			CA },
	{ "certificate",	CERTIFICATE },
	{ "chroot",		CHROOT },
	{ "connect",		CONNECT },
	{ "control",		CONTROL },
	{ "group",		GROUP },
	{ "heartbeat",		HEARTBEAT },
	{ "include",		INCLUDE },
	{ "key",		KEY },
	{ "listen",		LISTEN },
	{ "metrics",		METRICS },
	{ "on",			ON },
	{ "operator",		OPERATOR },
	{ "peer",		PEER },
	{ "port",		PORT },
	{ "socket",		SOCKET },
	{ "timeout",		TIMEOUT },
	{ "tls",		TLS },
	{ "to",			TO },
	{ "user",		USER },
};

int
yylex(void)
{
	return (lex_yylex(&lx, &yylval, STRING, NUMBER, ERROR));
}

void
yyerror(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	lex_verror(&lx, fmt, ap);
	va_end(ap);
}

/*
 * The TLS files, read and checked as the parent will read them and the
 * session use them: what is wrong is said at the line of its statement.
 */
static int
checktls(const char *file)
{
	struct tlsutil_mem	 m;
	const char		*paths[TLSUTIL_NFILES];
	char			 why[512];
	int			 i, which, errors = 0;

	paths[TLSUTIL_CERT] = conf->tls_cert;
	paths[TLSUTIL_KEY] = conf->tls_key;
	paths[TLSUTIL_CA] = conf->tls_ca;
	for (i = 0; i < TLSUTIL_NFILES; i++)
		if (paths[i][0] == '\0') {
			log_warnx("%s: no tls %s given", file,
			    tlsutil_file_word(i));
			errors++;
		}
	if (errors)
		return (-1);
	if (tlsutil_load(&m, paths, EPSD_TLSMAX, &which, why,
	    sizeof(why)) == -1) {
		log_warnx("%s: tls %s \"%s\": %s", tlswhere[which],
		    tlsutil_file_word(which), paths[which], why);
		return (-1);
	}
	tlsutil_mem_free(&m);
	return (0);
}

static int
checkconf(const char *file)
{
	struct epsd_peer	*p;
	int			 errors = 0;

	if (conf->operator[0] == '\0') {
		log_warnx("%s: no operator given", file);
		errors++;
	}
	if (checktls(file) == -1)
		errors++;
	if (!userset && lex_default_user(conf->user, file) == -1)
		errors++;
	TAILQ_FOREACH(p, &conf->peers, entry) {
		if (strcmp(p->name, conf->operator) == 0) {
			log_warnx("%s: peer %s is this server's own operator",
			    file, p->name);
			errors++;
		}
		if (p->nconnect == 0 && conf->nlisten == 0)
			log_warnx("%s: warning: peer %s has no \"connect "
			    "to\" and there is no \"listen on\": it can "
			    "never link", file, p->name);
	}
	return (errors ? -1 : 0);
}

struct epsd_conf *
parse_config(const char *file, char **macros, int nmacros)
{
	int	 errors;

	if ((conf = config_new()) == NULL)
		fatal("%s", __func__);
	if (lex_open(&lx, file, keywords, nitems(keywords), macros,
	    nmacros) == -1) {
		config_free(conf);
		return (NULL);
	}
	curpeer = NULL;
	userset = 0;
	memset(tlswhere, 0, sizeof(tlswhere));
	(void)yyparse();
	config_peer_free(curpeer);	/* a block left open by an error */
	curpeer = NULL;
	errors = lx.errors;
	lex_close(&lx);
	if (errors == 0 && checkconf(file) == -1)
		errors++;
	if (errors) {
		config_free(conf);
		conf = NULL;
		return (NULL);
	}
	return (conf);
}
