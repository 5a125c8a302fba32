/*
 * proc.h: OpenBSD-style privilege separation shared by the three daemons.
 *
 * The parent starts as root, reads its configuration, opens what needs
 * opening, then for every child in the daemon's process table forks and
 * re-executes its own binary with "-P role -I instance".  The child
 * reads one IMSG_PROC_INIT frame from descriptor 3 (its channel to the
 * parent), chroots, drops to the configured user, sets its process title
 * and enters its event loop.  Channels between children are socketpairs
 * made by the parent and handed to both ends with IMSG_PROC_CHAN, at
 * start and again whenever one end is restarted.
 *
 * Configuration flows one way, in rounds: IMSG_PROC_CFG with the whole
 * configuration, then whatever else the child needs (descriptors, key
 * material) as the daemon's own messages, then IMSG_PROC_CFG_DONE, on
 * which the child applies all of it, or refuses it and keeps what it
 * had, and answers IMSG_PROC_CFG_ACK.  The frames of a round carry its
 * number in ref.  A reload is the same round to every child; the parent
 * says "configuration reloaded" only when every child applied it.
 *
 * The parent is the same for the three daemons (proc_main()): a daemon
 * gives its process table and its configuration functions in a struct
 * proc_daemon, and its children their entry points in struct proc_type.
 *
 * Operations, the same in the three daemons: the parent serves the
 * control socket (control.h) and answers what it knows itself (show
 * summary, reload, log); for the rest it asks its children with
 * IMSG_CTL_REQUEST and puts their answers together.  A child answers
 * through its type's metrics() and control() functions, proc.c sends
 * the IMSG_CTL_END.  The /metrics listener (metrics listen on) runs in
 * one child, the daemon's metrics_type, never in the parent: the parent
 * opens its socket and passes it down (IMSG_PROC_METRICS), and the
 * child asks the parent for "show metrics" with IMSG_CTL_EXEC for each
 * scrape.
 */

#ifndef PROC_H
#define PROC_H

#include <sys/types.h>
#include <sys/resource.h>

#include <limits.h>
#include <stdint.h>

#include "chan.h"
#include "mp.h"
#include "net.h"
#include "settings.h"

#define PROC_PARENT	0
#define PROC_MAX	8	/* process types, parent included */
#define PROC_INSTMAX	64	/* instances of one type */

#define PROC_CHILD_FD	3	/* the child's channel to the parent */
#define PROC_EMPTYDIR	"/var/empty"
#define PROC_REASONMAX	128	/* why a child refused a round */
#define PROC_CFG_WAIT	10	/* s a child has to answer a reload */
#define PROC_ERRMAX	512	/* a configuration's errors, for reload */
#define PROC_METRICS_MAX 4	/* metrics listen on addresses */

/* Message types owned by proc.c; the daemons' own start at IMSG_DAEMON. */
enum proc_imsg {
	IMSG_PROC_INIT = 1,	/* {uid, gid, root, verbose} first frame */
	IMSG_PROC_CHAN,		/* fd + {id, instance}: channel to a sibling */
	IMSG_PROC_CFG,		/* ref round: the daemon's configuration,
				   one map */
	IMSG_PROC_CFG_DONE,	/* ref round, {}: the round is complete,
				   apply it */
	IMSG_PROC_RECONNECT,	/* child->parent {id, instance}: the channel
				   to that sibling failed, make a new one */
	IMSG_PROC_CFG_ACK,	/* child->parent, ref round: {ok: bool,
				   reason: str}: applied, or refused (and
				   the old configuration kept) and why */
	IMSG_PROC_METRICS,	/* parent->child fd + {addr: str}: a metrics
				   listen on socket, to the metrics_type */
	IMSG_SHARED = 16,	/* 16..31: shared helpers (epsclient.h) */
	IMSG_DAEMON = 32
};

struct privsep;
struct proc_child;
struct metrics;
struct control;

/* Where a frame came from, and where a reply goes back. */
struct proc_chan {
	int			 id;
	int			 instance;
	struct chan		*chan;
	struct privsep		*ps;
	struct event		*retry;	/* ask for the channel again */
};

struct proc_type {
	const char	*title;		/* "listener" */
	int		 id;
	uint32_t	 talks_to;	/* 1 << id of the types it talks to */
	void		(*init)(struct privsep *);
	void		(*dispatch)(struct privsep *, struct proc_chan *,
			    struct frame *);
	/* a sibling's channel closed (restart under way) or came back */
	void		(*chan_event)(struct privsep *, struct proc_chan *,
			    int up);
	/* SIGTERM: finish up, then event_base_loopexit(); may be NULL */
	void		(*shutdown)(struct privsep *);
	/*
	 * A configuration round is complete: conf is its IMSG_PROC_CFG map,
	 * unpacked and checked against the daemon's settings table, after
	 * whatever else the parent sent in the round (descriptors, keys)
	 * went through dispatch.  0: applied, and conf is the child's to
	 * keep; -1: refused, why says why, proc.c frees conf and the child
	 * goes on with the configuration it had.  conf is NULL when the map
	 * itself was refused (why says why): the child drops what else the
	 * round brought and returns -1.
	 */
	int		(*config)(struct privsep *, void *conf, char *why,
			    size_t whylen);
	/*
	 * show metrics (and counters, summary): the child's numbers, into
	 * m, declared with their help; may be NULL.  Built when asked,
	 * from the plain counters the child keeps.
	 */
	void		(*metrics)(struct privsep *, struct metrics *m);
	/*
	 * One of the daemon's commands (proc_ctlcmd) the parent asks this
	 * type about: answer with proc_ctl_data() or proc_rows_*() under
	 * ref and return 0, or -1 with why; proc.c sends the end of the
	 * answer.  May be NULL: the answer is empty.
	 */
	int		(*control)(struct privsep *, uint32_t ref,
			    const char *cmd, int argc, char **argv, char *why,
			    size_t whylen);
};

/*
 * A command of the daemon's control socket that its children answer:
 * the parent asks each running child of the types in the mask and joins
 * the lists they send into one (an empty list when none sends a row).
 */
struct proc_ctlcmd {
	const char	*name;		/* "show connections" */
	uint32_t	 types;		/* 1 << id of the types asked */
	int		 minargs;
	int		 maxargs;
	const char	*usage;
};

/*
 * The operations settings every daemon's configuration has: control
 * socket, control group, metrics listen on.  Only the parent uses them;
 * a change needs a restart.
 */
struct proc_ctlconf {
	char		 socket[108];	/* sizeof(sun_path); "": default */
	char		 group[64];	/* "": none, mode 0600 */
	gid_t		 gid;
	struct net_addr	 metrics[PROC_METRICS_MAX];
	int		 nmetrics;
};

/*
 * What the daemon's parent does differently; proc_main() does the rest.
 * conf is the daemon's configuration struct, which proc.c holds, packs
 * (in the parent) and unpacks (in a child) through the settings table.
 */
struct proc_daemon {
	const char		*name;		/* "proxyd" */
	const char		*conffile;	/* without -f */
	const struct proc_type	*types;	/* in the order they stop */
	int			 ntypes;

	/* the IMSG_PROC_CFG map of conf, the same for every child */
	const struct setting	*settings;
	/* parse and check a file; NULL when it has errors (reported) */
	void	*(*conf_load)(const char *file, char **macros, int nmacros);
	void	*(*conf_new)(void);	/* the defaults, for a round */
	void	 (*conf_free)(void *conf);
	/*
	 * Once, as root, before the children start: set ps->instances[],
	 * call proc_parent_init() with the user and the chroot directory,
	 * open what the children are given.
	 */
	void	 (*conf_setup)(struct privsep *, void *conf);
	/*
	 * A reload: keep in nconf what only a restart may change, saying
	 * so, and finish it as conf_setup would.
	 */
	void	 (*conf_keep)(struct privsep *, const void *conf, void *nconf);
	/*
	 * The rest of a round of conf to one child (descriptors, keys);
	 * start: the child has just been (re)started.  May be NULL.
	 */
	void	 (*conf_send)(struct privsep *, struct proc_child *,
		    const void *conf, int start);
	/* a daemon message from a child: 1 if handled; may be NULL */
	int	 (*dispatch)(struct privsep *, struct proc_child *,
		    struct frame *);
	/* the start-up line; NULL: the children are listed */
	void	 (*started)(struct privsep *);
	void	 (*shutdown)(struct privsep *);	/* may be NULL */

	/* operations */
	struct proc_ctlconf *(*ctlconf)(void *conf);
	const struct proc_ctlcmd *ctlcmds;	/* answered by children */
	size_t			 nctlcmds;
	int			 metrics_type;	/* serves /metrics */
	/*
	 * The metrics whose sum over their labels show summary shows, as
	 * "key=metric", or the metric's name (the key is the name without
	 * the daemon's prefix).
	 */
	const char *const	*summary;
	/* the parent's own numbers, for show metrics; may be NULL */
	void	 (*metrics)(struct privsep *, struct metrics *);
};

/* How one child took the last reload. */
enum proc_cfg_state {
	PROC_CFG_NONE,		/* no round sent (the file had errors) */
	PROC_CFG_PENDING,	/* sent, no answer yet */
	PROC_CFG_APPLIED,
	PROC_CFG_REFUSED,	/* the child refused it: reason */
	PROC_CFG_LOST,		/* not running, died or did not answer */
};

struct proc_reload_child {
	const char		*title;
	int			 instance;
	enum proc_cfg_state	 state;
	uint32_t		 round;
	char			 reason[PROC_REASONMAX];
};

/* The last reload, kept for whoever asks (proc_reload_status()). */
struct proc_reload {
	int			 running;	/* a reload is under way */
	unsigned int		 count;		/* reloads so far */
	time_t			 started;
	time_t			 finished;
	int			 ok;		/* every child applied it */
	char			 error[PROC_ERRMAX];	/* the parent's: the
						   file's errors, or how
						   many did not apply it */
	unsigned int		 napplied;	/* outcomes so far */
	unsigned int		 nincomplete;
	unsigned int		 nfailed;	/* the file had errors */
	struct proc_reload_child *children;
	size_t			 nchildren;
};

typedef void	(*proc_reload_cb)(struct privsep *, const struct proc_reload *,
		    void *);

/*
 * A configuration the parent holds: the current one, and any older one
 * a child that refused the current one still runs on, so that it gets
 * that one again when it restarts.
 */
struct proc_conf {
	void			*conf;		/* the daemon's */
	unsigned int		 gen;		/* reloads before it */
	int			 refs;
};

struct proc_child {
	TAILQ_ENTRY(proc_child)	 entry;
	const struct proc_type	*type;
	int			 instance;
	pid_t			 pid;
	struct proc_chan	 chan;		/* parent side channel */
	struct event		*restart;
	time_t			 started;
	int			 failures;	/* quick deaths in a row */
	uint32_t		 round;		/* the last round sent */
	struct proc_conf	*sent;		/* ... and what it carried */
	struct proc_conf	*applied;	/* the last it applied */
	unsigned int		 refused;	/* gen + 1 of the last it
						   refused, 0: none */
	struct proc_reload_child *status;	/* in the last reload */
	unsigned int		 restarts;
};
TAILQ_HEAD(proc_children, proc_child);

/* The command line every daemon takes: [-dnVv] [-D macro=value] [-f file] */
struct proc_opts {
	const char	*conffile;
	char		*macros[32];
	int		 nmacros;
	int		 debug;
	int		 noaction;
	int		 verbose;
};

struct privsep {
	const char		*name;		/* "proxyd" */
	const struct proc_daemon *daemon;
	const struct proc_type	*types;
	int			 ntypes;
	int			 instances[PROC_MAX];
	struct event_base	*base;
	int			 id;		/* own type, PROC_PARENT */
	int			 instance;
	int			 verbose;
	int			 foreground;
	int			 shutdown;

	/* privilege drop, decided by the parent */
	char			 user[LOGIN_NAME_MAX];
	uid_t			 uid;
	gid_t			 gid;
	char			 root[PATH_MAX];
	int			 unprivileged;	/* not started as root */

	/* child side */
	struct proc_chan	 parent;
	uint8_t			*cfg;		/* the round under way */
	size_t			 cfglen;
	struct proc_chan	 chans[PROC_MAX][PROC_INSTMAX];

	/* parent side */
	struct proc_opts	 opts;
	void			*conf;		/* the daemon's, current */
	struct proc_conf	*cur;		/* ... held */
	struct proc_children	 children;
	uint32_t		 round;		/* the last round's number */
	struct proc_reload	 reload;
	struct event		*reload_ev;	/* PROC_CFG_WAIT, or done */
	proc_reload_cb		 reload_cb;
	void			*reload_arg;
	struct event		*sigev[5];
	time_t			 started;
	struct control		*control;
	int			 metrics_fd[PROC_METRICS_MAX];
	int			 nmetrics_fd;
};

/*
 * A daemon's main(): the command line, the configuration (-n checks it
 * and exits), then the parent, or with the hidden -P role -I instance a
 * child.  Returns only when the parent's event loop ends.
 */
int		 proc_main(struct privsep *, const struct proc_daemon *,
		    int argc, char *argv[], char *envp[]);

/* Both sides */
const struct proc_type *proc_type_byname(struct privsep *, const char *);
const char	*proc_title(struct privsep *, int id);
int		 proc_send(struct privsep *, int id, int instance,
		    uint16_t type, uint32_t ref, int fd, const void *,
		    size_t);
int		 proc_send_mp(struct privsep *, int id, int instance,
		    uint16_t type, uint32_t ref, int fd, struct mp_out *);
int		 proc_chan_send(struct proc_chan *, uint16_t type,
		    uint32_t ref, int fd, struct mp_out *);
/* The descriptors a process may have open (raised to the hard limit). */
rlim_t		 proc_nofile(void);
/*
 * Descriptors proc_max_relays() keeps apart from the relays: channels,
 * listening sockets and connections not relayed yet, whose own bounds
 * (a daemon's backchannels waiting for a preamble or idle in a pool)
 * must fit in it, so that clients and backchannels cannot take each
 * other's descriptors.
 */
#define PROC_FDS_RESERVE	1024
/*
 * How many connections one process may relay: configured (0: not set)
 * or the default, as far as the descriptor limit allows at two
 * descriptors a connection, the splice pipes and PROC_FDS_RESERVE set
 * aside; a configured number the limit cannot hold is kept, with a
 * warning.  The first answer is logged once the parent has started.
 */
unsigned int	 proc_max_relays(unsigned int configured, unsigned int dflt,
		    const char *who);

/* Parent */
void		 proc_parent_init(struct privsep *, const char *user,
		    const char *root);
struct proc_child *proc_child_find(struct privsep *, int id, int instance);
int		 proc_child_send(struct proc_child *, uint16_t type,
		    uint32_t ref, int fd, struct mp_out *);
/*
 * Reload: read the file again and send every child the new round.  -1
 * if the file has errors (the status says so) or, with errno EBUSY, if
 * a reload is still under way.  Otherwise 0, and done (if not NULL) is
 * called once from the event loop when every child answered, died or
 * ran out of time.  SIGHUP does the same without a callback.
 */
int		 proc_reload(struct privsep *, proc_reload_cb done, void *arg);
/* The last reload, or the one under way (running). */
const struct proc_reload *proc_reload_status(struct privsep *);

/* Child: never returns */
__dead void	 proc_child_main(struct privsep *, const char *title,
		    int instance);

/*
 * Operations.  proc_ctlconf_init() gives the defaults (a config_new()
 * calls it).  A child answers a control request (proc_type.control)
 * with one object, or with rows: proc_rows_add() gives the packer for
 * one more row (pack one map), and the rows go to the parent as arrays
 * within CONTROL_CHUNKMAX; proc_rows_end() sends the rest.  -1: the
 * parent could not be told (the rest is dropped).
 */
void		 proc_ctlconf_init(struct proc_ctlconf *);
/* "control group name": 0, or -1 if there is no such group */
int		 proc_ctlconf_group(struct proc_ctlconf *, const char *);
int		 proc_ctl_data(struct privsep *, uint32_t ref,
		    const struct mp_out *);
struct proc_rows {
	struct privsep	*ps;
	uint32_t	 ref;
	struct mp_out	 out;
	uint32_t	 n;
	int		 error;
};
void		 proc_rows_init(struct proc_rows *, struct privsep *,
		    uint32_t ref);
msgpack_packer	*proc_rows_add(struct proc_rows *);
int		 proc_rows_end(struct proc_rows *);
/* Seconds since t on the monotonic clock; proc_now() is that clock. */
time_t		 proc_now(void);

#endif /* PROC_H */
