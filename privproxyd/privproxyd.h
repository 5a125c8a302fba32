/*
 * privproxyd.h: the private proxy.
 *
 * privproxyd listens on no TCP port.  It announces the domains it
 * serves to every public operator its configuration names, through its
 * epsd, and renews them before they expire.  The answer carries a pool
 * key: with it each connector keeps its share of "pool" idle pooled
 * backchannels open to that operator's proxyd, and a client of one of
 * our names arrives on one of them with a go header naming the domain.
 * Without a pooled backchannel at hand, the public proxy tells us of a
 * waiting connection ("incoming", with a one-time token); we then dial
 * that operator's backchannel endpoint from our own configuration
 * (never an address taken from the message) and write the preamble with
 * the token.  Either way the connector connects to the internal server
 * of the domain, optionally sends a PROXY protocol header with the
 * client's address, and splices the two sockets.  TLS is never
 * terminated.
 *
 *	parent		configuration, the epsd connection; supervision
 *	eps		the epsd client: announcements out (and the pool
 *			keys they bring back), incoming in
 *	connector	(prefork) pooled backchannels, backchannel and
 *			internal connections
 */

#ifndef PRIVPROXYD_H
#define PRIVPROXYD_H

#include <limits.h>

#include "compat.h"
#include "dname.h"
#include "eps.h"
#include "metrics.h"
#include "net.h"
#include "proc.h"
#include "rpc.h"
#include "settings.h"

#define PRIVPROXYD_CONF		"/etc/privproxyd.conf"
#define PRIVPROXYD_USER		"_privproxyd"	/* the children run as */
#define PP_MAXADDR		8	/* addresses per backchannel */

#define PP_TTL			60	/* s an announcement lasts */
#define PP_TO_CONNECT		10	/* s for both connections */
#define PP_TO_IDLE		300	/* s without a byte either way */
#define PP_MAX_CONNS		10000	/* per connector, descriptors allowing */
#define PP_POOL			32	/* pooled backchannels per public */
#define PP_POOL_MAX		4096	/* "pool" at most */
#define PP_MAX_POOLED		512	/* idle pooled backchannels, per
					   connector, all publics together */
#define PP_POOL_KEEPIDLE	60	/* s: TCP keepalive of pooled ones */
#define PP_POOL_BACKOFF		30	/* s between tries at most */
#define PP_REFRESH_WAIT		2	/* s between key refreshes at least */

enum privproxyd_proc {
	PROC_CONNECTOR = 1,
	PROC_EPS,
};

enum proxy_proto {
	PROXY_NONE = 0,
	PROXY_V1,
	PROXY_V2,
};

/* Messages, with their msgpack payload. */
enum imsg_type {
	/* configuration rounds: IMSG_PROC_CFG (config_pack()), _DONE; the
	   eps process's epsd connection: IMSG_EPS_CONNECT, _FD (epsclient.h) */
	IMSG_CONNECT = IMSG_DAEMON,		/* eps->connector {public, domain, token,
				   client, server} */
	IMSG_POOL_KEY,		/* eps->connector {public, key: bin 32} */
	IMSG_POOL_STALE,	/* connector->eps {public}: the key was
				   refused, announce again for a new one */
};

struct pp_public {
	TAILQ_ENTRY(pp_public)	 entry;
	char			 name[RPC_NAMEMAX];
	struct net_addr		 bc[PP_MAXADDR];
	int			 nbc;
	unsigned int		 pool;
};
TAILQ_HEAD(pp_publics, pp_public);

struct pp_domain {
	TAILQ_ENTRY(pp_domain)	 entry;
	char			 name[DNAME_MAX + 1];	/* or "*.suffix" */
	struct net_addr		 fwd[PP_MAXADDR];
	int			 nfwd;
	enum proxy_proto	 proxy;
};
TAILQ_HEAD(pp_domains, pp_domain);

struct privproxyd_conf {
	char			 user[LOGIN_NAME_MAX];
	char			 chroot[PATH_MAX];
	char			 eps_socket[PATH_MAX];
	int			 prefork;
	unsigned int		 ttl;
	unsigned int		 to_connect;
	unsigned int		 to_idle;
	unsigned int		 max_conns;
	struct pp_publics	 publics;
	struct pp_domains	 domains;
	struct proc_ctlconf	 ctl;		/* the parent's: control, metrics */
	unsigned int		 refs;		/* connector: set-ups dialling
						   its addresses */
};

/* privproxyd.c */
extern struct privsep	 privproxyd_ps;

/* connector.c */
void	 connector_init(struct privsep *);
int	 connector_config(struct privsep *, void *, char *, size_t);
void	 connector_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
int	 proxy_header(enum proxy_proto, const char *client,
	    const char *server, uint8_t *buf, size_t len);

/* eps.c */
void	 eps_init(struct privsep *);
int	 eps_config(struct privsep *, void *, char *, size_t);
void	 eps_shutdown(struct privsep *);
void	 eps_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
void	 eps_chan_event(struct privsep *, struct proc_chan *, int);

/* config.c */
/* void *: proc.c makes and frees them for a round (proc_daemon) */
void	*config_new(void);
void	 config_free(void *);
/* the map of a round (settings.h) */
extern const struct setting config_settings[];
struct pp_public *config_public(struct privproxyd_conf *, const char *);
struct pp_domain *config_domain(struct privproxyd_conf *, const char *);

/* parse.y */
struct privproxyd_conf *parse_config(const char *, char **, int);

/*
 * Operations: each child's numbers and its answers to the control
 * socket's commands, at the end of its file (proc.h: metrics, control).
 */
#define CONNECTOR_FAILURES	8	/* reasons, connector.c's table */
struct connector_stats {
	uint64_t	 accepted;
	uint64_t	 failed[CONNECTOR_FAILURES];
	uint64_t	 pool_hits;	/* of accepted: over a pooled one */
	uint64_t	 bytes_in;	/* relays that ended, ClientHello in */
	uint64_t	 bytes_out;
};
extern struct connector_stats connector_stats;
/* a connection failed before its relay: what failed (pconn_fail()) */
void	 connector_failed(const char *what);
void	 connector_metrics(struct privsep *, struct metrics *);
int	 connector_control(struct privsep *, uint32_t, const char *, int,
	    char **, char *, size_t);
void	 eps_metrics(struct privsep *, struct metrics *);

#endif /* PRIVPROXYD_H */
