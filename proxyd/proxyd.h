/*
 * proxyd.h: the public proxy.
 *
 * proxyd listens on the public TLS port and on the backchannel port.
 * It reads the SNI name of each ClientHello without terminating TLS and
 * finds the private operator that announced the name.  When it holds an
 * idle pooled backchannel of that operator it writes the go header and
 * the ClientHello to it and splices the two sockets at once; otherwise
 * it hands the operator a one-time token through the EPS network, waits
 * for the private proxy to dial the backchannel with that token, writes
 * the ClientHello to it and splices.  It never dials out.
 *
 *	parent		configuration, sockets, the epsd connection;
 *			supervises the children
 *	listener	(prefork) public and backchannel connections, a copy
 *			of the route table and the pool keys, its share of
 *			the pooled backchannels, the tokens of its own
 *			connections, the splice relays
 *	matcher		announcements, the route table it pushes to the
 *			listeners, the pool keys, token issue and state
 *	eps		the epsd client: announce/withdraw in, incoming out
 */

#ifndef PROXYD_H
#define PROXYD_H

#include <limits.h>

#include "compat.h"
#include "dname.h"
#include "eps.h"
#include "metrics.h"
#include "net.h"
#include "proc.h"
#include "rpc.h"
#include "settings.h"

#define PROXYD_CONF		"/etc/proxyd.conf"
#define PROXYD_USER		"_proxyd"	/* the children run as */
#define PROXYD_MAXLISTEN	8	/* addresses per listen kind */
#define PROXYD_MAXALLOW		256	/* patterns per operator */
#define PROXYD_MAXTRUST		32	/* networks a listen address takes
					   the PROXY protocol from */

#define PROXYD_TO_HANDSHAKE	10	/* s for the whole ClientHello */
#define PROXYD_TO_TOKEN		10	/* s for the private proxy to come */
#define PROXYD_TO_PREAMBLE	5	/* s for a backchannel's preamble */
#define PROXYD_TO_IDLE		300	/* s without a byte either way */
#define PROXYD_MAX_CONNS	10000	/* per listener, descriptors allowing */
#define PROXYD_MAX_TOKENS	10000	/* tokens waiting, whole daemon */
#define PROXYD_MAX_ANNOUNCE	10000	/* names announced, whole daemon */
#define PROXYD_MAX_TTL		3600	/* s an announcement may last */
#define PROXYD_BACKLOG		1024
#define PROXYD_MAX_POOL		256	/* idle pooled backchannels per operator */
#define PROXYD_OP_CALLS		256	/* incoming calls in flight, per
					   operator */
#define PROXYD_OP_TOKENS	1000	/* tokens waiting, per operator */
#define PROXYD_OP_ANNOUNCE	1000	/* names announced, per operator */
#define PROXYD_MAX_PENDING	256	/* per listener: backchannels waiting
					   for their preamble (the oldest makes
					   room for a new one) */
#define PROXYD_MAX_POOLED	512	/* per listener: idle pooled
					   backchannels, all operators */
#define PROXYD_SRC_PENDING	32	/* per listener: backchannels from one
					   source (net_source_key()) waiting
					   for their preamble (its oldest
					   makes room) */
#define PROXYD_SRC_HANDSHAKES	64	/* per listener: clients from one
					   source not past their ClientHello
					   yet (its oldest makes room) */
#define PROXYD_SRC_CONNS	0	/* per listener: clients from one
					   source, 0 for no limit of its own */
#define PROXYD_POOL_GRACE	60	/* s an old pool key is still taken */
#define PROXYD_SYNC_WAIT	2	/* s a new matcher waits for the eps
					   process's replay before it pushes
					   its routes to the listeners */
#define PROXYD_ROUTES_CHUNK	512	/* keys and routes in one IMSG_ROUTES */

enum proxyd_proc {
	PROC_LISTENER = 1,
	PROC_MATCHER,
	PROC_EPS,
};

/*
 * Messages, with their msgpack payload.  ref carries the listener's
 * connection id where one is named.
 */
enum imsg_type {
	/* a configuration round is IMSG_PROC_CFG (config_pack()), these: */
	IMSG_CFG_LISTEN = IMSG_DAEMON, /* fd + {kind: "public"|"backchannel"} */
	/* ... and IMSG_PROC_CFG_DONE; the eps process's epsd connection comes
	   with IMSG_EPS_CONNECT and IMSG_EPS_FD (epsclient.h) */
	IMSG_BC_HANDOFF,	/* listener->listener fd + {token, addr}: a
				   backchannel for the token's owner */
	IMSG_INCOMING,		/* listener->eps {operator, domain, token,
				   client, server} */
	IMSG_INCOMING_FAIL,	/* eps->listener {token, reason} */
	IMSG_ANNOUNCE,		/* eps->matcher, ref msgid:
				   {caller, domains: [str], ttl,
				   replay: bool (optional, no answer)} */
	IMSG_WITHDRAW,		/* eps->matcher, ref msgid:
				   {caller, domains: [str]} */
	IMSG_ANNOUNCE_RES,	/* matcher->eps, ref msgid:
				   {accepted: [str], refused: [[str, str]],
				   pool: bin 32} or {withdrawn: uint} */
	IMSG_ROUTES,		/* matcher->listener {begin: bool, end: bool,
				   keys: [[op, key: bin 32]],
				   set: [[name, op or "" to remove]]};
				   a full table runs from begin to end */
	IMSG_POOL_PASS,		/* listener->listener fd + {op, want, hops} */
	IMSG_REPLAY_DONE,	/* eps->matcher {}: the shadow is replayed */
};

struct proxyd_operator {
	TAILQ_ENTRY(proxyd_operator)	 entry;
	char				 name[RPC_NAMEMAX];
	char				*allow[PROXYD_MAXALLOW];
	size_t				 nallow;
	unsigned int			 max_pool;
	/* 0 in the parser: the top level's op_max_* */
	unsigned int			 max_calls;
	unsigned int			 max_tokens;
	unsigned int			 max_announce;
};
TAILQ_HEAD(proxyd_operators, proxyd_operator);

/*
 * A public address behind a load balancer: a connection from one of
 * the networks in from starts with a PROXY protocol header, whose
 * addresses are the client's (listener.c).
 */
struct proxyd_ppin {
	TAILQ_ENTRY(proxyd_ppin)	 entry;
	char				 addr[NET_ADDRSTRLEN];	/* "ip:port" */
	char				*from[PROXYD_MAXTRUST];	/* networks */
	size_t				 nfrom;
};
TAILQ_HEAD(proxyd_ppins, proxyd_ppin);

struct proxyd_conf {
	char			 user[LOGIN_NAME_MAX];
	char			 chroot[PATH_MAX];
	char			 eps_socket[PATH_MAX];
	char			 endpoint[256];
	int			 prefork;
	struct net_addr		 listen[PROXYD_MAXLISTEN];
	int			 nlisten;
	struct net_addr		 backchannel[PROXYD_MAXLISTEN];
	int			 nbackchannel;
	unsigned int		 to_handshake;
	unsigned int		 to_token;
	unsigned int		 to_preamble;
	unsigned int		 to_idle;
	unsigned int		 max_conns;
	unsigned int		 max_src_hs;	/* 0: none */
	unsigned int		 max_src_conns;	/* 0: none */
	unsigned int		 max_tokens;
	unsigned int		 max_announce;
	unsigned int		 max_ttl;
	/* an operator's limits unless its block says otherwise */
	unsigned int		 op_max_calls;
	unsigned int		 op_max_tokens;
	unsigned int		 op_max_announce;
	struct proxyd_operators	 operators;
	struct proxyd_ppins	 ppin;		/* of listen addresses */
	struct proc_ctlconf	 ctl;		/* the parent's: control, metrics */
};

/* proxyd.c */
extern struct privsep	 proxyd_ps;

/* listener.c */
void	 listener_init(struct privsep *);
int	 listener_config(struct privsep *, void *, char *, size_t);
void	 listener_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);

/* matcher.c */
void	 matcher_init(struct privsep *);
int	 matcher_config(struct privsep *, void *, char *, size_t);
void	 matcher_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
void	 matcher_chan_event(struct privsep *, struct proc_chan *, int);

/* eps.c */
void	 eps_init(struct privsep *);
int	 eps_config(struct privsep *, void *, char *, size_t);
void	 eps_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
void	 eps_chan_event(struct privsep *, struct proc_chan *, int);

/* config.c */
/* void *: proc.c makes and frees them for a round (proc_daemon) */
void	*config_new(void);
void	 config_free(void *);
/* the map of a round (settings.h) */
extern const struct setting config_settings[];
struct proxyd_operator *config_operator(struct proxyd_conf *,
	    const char *);

/* parse.y */
struct proxyd_conf *parse_config(const char *, char **macros, int nmacros);

/*
 * Operations: each child's numbers and its answers to the control
 * socket's commands, at the end of its file (proc.h: metrics, control).
 */
/*
 * Why a backchannel is refused, as proxyd_backchannels_refused_total
 * labels it.  The listener counts what it refuses itself (preambles,
 * pool keys, a backchannel whose client left while the matcher handed
 * it over), the matcher what it refuses by its token table, and the
 * parent adds the two up.
 */
enum bc_refusal {
	BC_REF_BAD_PREAMBLE,	/* bad magic, version or kind */
	BC_REF_TRUNCATED,	/* closed before its whole preamble */
	BC_REF_NO_PREAMBLE,	/* no whole preamble in time */
	BC_REF_EVICTED,		/* the longest waiting for its preamble,
				   closed to make room */
	BC_REF_SOURCE_EVICTED,	/* the same, among its source's */
	BC_REF_POOL_KEY,	/* unknown or outdated pool key */
	BC_REF_UNKNOWN_TOKEN,	/* never issued, or forgotten */
	BC_REF_TOKEN_USED,
	BC_REF_TOKEN_EXPIRED,	/* its client gave up or left */
	BC_REF_TOKEN_FAILED,	/* its client's call failed */
	BC_REF_UNAVAILABLE,	/* the process it goes to is not there */
	BC_REFUSALS
};
/* token.c (the table of tokens is token.h): the family, one sample for
 * each reason with counts[reason] */
const char *bc_refusal_label(enum bc_refusal);
void	 bc_refused_metrics(struct metrics *, const uint64_t *counts);

#define LISTENER_REFUSALS	24	/* reasons, listener.c's table */
struct listener_stats {
	uint64_t	 accepted;	/* clients */
	uint64_t	 bc_accepted;	/* backchannels */
	uint64_t	 bc_refused[BC_REFUSALS];
	uint64_t	 refused[LISTENER_REFUSALS];
	uint64_t	 accept_paused;	/* a listening socket out of
					   descriptors or memory */
	uint64_t	 bytes_in;	/* relays that ended, ClientHello in */
	uint64_t	 bytes_out;
	uint64_t	 pool_hits;	/* clients on a pooled backchannel */
	uint64_t	 pool_misses;	/* ... of a pool, none idle here */
	uint64_t	 bc_passed;	/* token backchannels passed to the
					   listener that issued the token */
};
extern struct listener_stats listener_stats;
/* one client refused, counted by the class of the reason it is given */
void	 listener_refused(const char *why);
void	 listener_metrics(struct privsep *, struct metrics *);
int	 listener_control(struct privsep *, uint32_t, const char *, int,
	    char **, char *, size_t);
void	 matcher_metrics(struct privsep *, struct metrics *);
int	 matcher_control(struct privsep *, uint32_t, const char *, int,
	    char **, char *, size_t);
void	 eps_metrics(struct privsep *, struct metrics *);

#endif /* PROXYD_H */
