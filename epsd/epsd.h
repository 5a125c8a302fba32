/*
 * epsd.h: the EPS server.
 *
 * epsd runs beside each proxy.  Local services (the eps processes of
 * proxyd and privproxyd) reach it over a Unix socket; epsd servers reach
 * each other over mutually authenticated TLS.  An epsd knows each peer
 * by its operator name, which is the subject CN of the peer's verified
 * certificate, and lets it call only the methods its configuration
 * allows for that operator.  Both carry frames (frame.h) holding one
 * msgpack-RPC message each (rpc.h, eps.h).
 *
 *	parent		configuration, the TLS files, the listening TCP
 *			sockets and the local Unix socket; supervises
 *	session		the TLS key and every peer link, inbound and
 *			outbound: handshakes, heartbeats, redialling
 *	router		the local socket and its clients, the directory
 *			of registered methods, the ACL, the calls under way
 *
 * The session process never parses an RPC message: it moves whole messages
 * between the links and the router, tagged with the operator name of the
 * link they came in on.  The router never touches the network.
 */

#ifndef EPSD_H
#define EPSD_H

#include <limits.h>

#include "compat.h"
#include "eps.h"
#include "frame.h"
#include "metrics.h"
#include "net.h"
#include "proc.h"
#include "rpc.h"
#include "settings.h"
#include "tlsutil.h"

#define EPSD_CONF		"/etc/epsd.conf"
#define EPSD_USER		"_epsd"	/* the children run as */
#define EPSD_HEARTBEAT		10	/* s: ping an idle link */
#define EPSD_HEARTBEAT_MISS	3	/* silent heartbeats: dead */
#define EPSD_HANDSHAKE		10	/* s to connect, shake hands */
#define EPSD_BACKOFF_MIN	250	/* ms: first redial, jittered */
#define EPSD_BACKOFF_MAX	30000	/* ms */
#define EPSD_TIMEMAX		3600	/* heartbeat, timeout: max */

#define EPSD_MAXLISTEN		16	/* listening addresses */
#define EPSD_MAXCONNECT		8	/* addresses of one peer */
#define EPSD_MAXPEERS		256
#define EPSD_MAXALLOW		256	/* methods one peer may call */
#define EPSD_BACKLOG		128

/*
 * One RPC message on a peer link, so that IMSG_LINK_MSG fits a frame;
 * the TLS certificate, key and CA together, for IMSG_CFG_TLS.
 */
#define EPSD_MSGMAX		(FRAME_MAXLEN - 1024)
#define EPSD_TLSMAX		(FRAME_MAXLEN - 1024)
#define EPSD_LINK_OUTMAX	(8 * 1024 * 1024)	/* queued/link */
#define EPSD_HANDSHAKES_MAX	64	/* inbound links not yet up, shared
					   out per source (session.c) */
#define EPSD_HANDSHAKES_ADDR	8	/* of those, what one source (IPv4
					   address, IPv6 /64) may hold */
#define EPSD_CLIENTS_MAX	64	/* local clients */
#define EPSD_METHODS_MAX	1024	/* registered, all clients */
#define EPSD_REGISTER_MAX	64	/* names in one eps.register */
#define EPSD_CALLS_ORIGIN	1024	/* calls under way per origin */

enum epsd_proc {
	PROC_SESSION = 1,
	PROC_ROUTER,
};

/*
 * Messages between the processes, with their msgpack payload.  ref
 * is always 0.
 */
enum imsg_type {
	/* a round: IMSG_PROC_CFG (config_pack()), these, IMSG_PROC_CFG_DONE */
	IMSG_CFG_TLS = IMSG_DAEMON,		/* parent->session {cert: bin, key: bin,
				   ca: bin} */
	IMSG_CFG_LISTEN,	/* parent->session fd + {addr: str}: one
				   listening TCP socket */
	IMSG_CFG_SOCKET,	/* parent->router fd + {path: str}: the
				   listening local socket */
	IMSG_LINK_UP,		/* session->router {operator: str} */
	IMSG_LINK_DOWN,		/* session->router {operator: str}: the link
				   went down, or was not up when the router
				   sent IMSG_LINK_MSG */
	IMSG_LINK_MSG,		/* session<->router {operator: str, msg: bin}
				   one msgpack-RPC message to or from the
				   link of that operator; from a link, the
				   operator of its certificate */
};

struct epsd_peer {
	TAILQ_ENTRY(epsd_peer)	 entry;
	char			 name[RPC_NAMEMAX];
	struct net_addr		 connect[EPSD_MAXCONNECT];
	int			 nconnect;	/* 0: never dial */
	char			*allow[EPSD_MAXALLOW];
	size_t			 nallow;
};
TAILQ_HEAD(epsd_peers, epsd_peer);

struct epsd_conf {
	char			 operator[RPC_NAMEMAX];
	char			 user[LOGIN_NAME_MAX];
	char			 chroot[PATH_MAX];
	char			 socket[PATH_MAX];
	char			 tls_cert[PATH_MAX];
	char			 tls_key[PATH_MAX];
	char			 tls_ca[PATH_MAX];
	struct net_addr		 listen[EPSD_MAXLISTEN];
	int			 nlisten;
	unsigned int		 heartbeat;
	unsigned int		 timeout;
	struct epsd_peers	 peers;
	int			 npeers;	/* the parent's count (parse.y) */
	struct tlsutil_mem	 tls;		/* the parent's: the files */
	struct proc_ctlconf	 ctl;		/* the parent's: control, metrics */
};

/* epsd.c */
extern struct privsep	 epsd_ps;

/* session.c */
void	 session_init(struct privsep *);
int	 session_config(struct privsep *, void *, char *, size_t);
void	 session_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
void	 session_chan_event(struct privsep *, struct proc_chan *, int);

/* router.c */
void	 router_init(struct privsep *);
int	 router_config(struct privsep *, void *, char *, size_t);
void	 router_dispatch(struct privsep *, struct proc_chan *,
	    struct frame *);
void	 router_chan_event(struct privsep *, struct proc_chan *, int);

/* config.c */
/* void *: proc.c makes and frees them for a round (proc_daemon) */
void	*config_new(void);
void	 config_free(void *);
void	 config_peer_free(struct epsd_peer *);
/* the map of a round (settings.h) */
extern const struct setting config_settings[];
struct epsd_peer *config_peer(const struct epsd_conf *, const char *);
int	 config_allows(const struct epsd_peer *, const char *method);
int	 config_same_listen(const struct epsd_conf *,
	    const struct epsd_conf *);

/* parse.y */

struct epsd_conf *parse_config(const char *, char **macros, int nmacros);

/*
 * Operations: each child's numbers and its answers to the control
 * socket's commands, at the end of its file (proc.h: metrics, control).
 */
#define SESSION_REFUSALS	8	/* reasons, session.c's table */
struct session_stats {
	uint64_t	 accepted;	/* inbound connections */
	uint64_t	 refused[SESSION_REFUSALS];
	uint64_t	 bytes_in;	/* links that closed */
	uint64_t	 bytes_out;
};
extern struct session_stats session_stats;
/* an inbound link refused: counted by the class of its reason */
void	 session_refused(const char *why);
void	 session_metrics(struct privsep *, struct metrics *);
int	 session_control(struct privsep *, uint32_t, const char *, int,
	    char **, char *, size_t);
struct router_stats {
	uint64_t	 calls;
};
extern struct router_stats router_stats;
void	 router_metrics(struct privsep *, struct metrics *);

#endif /* EPSD_H */
