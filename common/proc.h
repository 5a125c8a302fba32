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
 * which the child applies all of it.  A reload is the same round again.
 */

#ifndef PROC_H
#define PROC_H

#include <sys/types.h>
#include <sys/resource.h>

#include <limits.h>
#include <stdint.h>

#include "chan.h"
#include "mp.h"

#define PROC_PARENT	0
#define PROC_MAX	8	/* process types, parent included */
#define PROC_INSTMAX	64	/* instances of one type */

#define PROC_CHILD_FD	3	/* the child's channel to the parent */
#define PROC_EMPTYDIR	"/var/empty"
#define PROC_USER	"_eps"

/* Message types owned by proc.c; the daemons' own start at IMSG_DAEMON. */
enum proc_imsg {
	IMSG_PROC_INIT = 1,	/* {uid, gid, root, verbose} first frame */
	IMSG_PROC_CHAN,		/* fd + {id, instance}: channel to a sibling */
	IMSG_PROC_CFG,		/* the daemon's configuration, one map */
	IMSG_PROC_CFG_DONE,	/* {}: the round is complete, apply it */
	IMSG_PROC_RECONNECT,	/* child->parent {id, instance}: the channel
				   to that sibling failed, make a new one */
	IMSG_SHARED = 16,	/* 16..31: shared helpers (epsclient.h) */
	IMSG_DAEMON = 32
};

struct privsep;

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
	 * A configuration round is complete: the IMSG_PROC_CFG payload,
	 * after whatever else the parent sent in the round (descriptors,
	 * keys) went through dispatch.
	 */
	void		(*config)(struct privsep *, const uint8_t *, size_t);
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
};
TAILQ_HEAD(proc_children, proc_child);

struct privsep {
	const char		*name;		/* "proxyd" */
	const struct proc_type	*types;
	int			 ntypes;
	int			 instances[PROC_MAX];
	struct event_base	*base;
	int			 id;		/* own type, PROC_PARENT */
	int			 instance;
	int			 verbose;
	int			 foreground;

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
	struct proc_children	 children;
	int			 shutdown;
	void			(*parent_dispatch)(struct privsep *,
				    struct proc_child *, struct frame *);
	/* send configuration to a child that has just been (re)started */
	void			(*configure)(struct privsep *,
				    struct proc_child *);
	void			(*on_reload)(struct privsep *);
	void			(*on_shutdown)(struct privsep *);
	struct event		*sigev[5];

	void			*arg;		/* the daemon's own state */
};

/* The command line every daemon takes: [-dnv] [-D macro=value] [-f file] */
struct proc_opts {
	const char	*conffile;
	char		*macros[32];
	int		 nmacros;
	int		 debug;
	int		 noaction;
	int		 verbose;
};

/*
 * Parse the command line, set up logging and, for the hidden -P role
 * -I instance of a child, run the child (never returns then).
 */
void		 proc_options(struct privsep *, int, char *[], char *[],
		    struct proc_opts *);
/* -n: say whether the configuration parsed and exit. */
__dead void	 proc_checked(int ok);
/*
 * The configuration is good: log to syslog unless -d, become a daemon
 * unless -d, and start the children.  The caller then logs its start-up
 * line and runs event_base_dispatch(ps->base).
 */
void		 proc_parent_start(struct privsep *, const struct proc_opts *);

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
 * How many connections one process may relay: configured (0: not set)
 * or the default, as far as the descriptor limit allows at two
 * descriptors a connection, the splice pipes and a reserve of 1024 set
 * aside; a configured number the limit cannot hold is kept, with a
 * warning.  The first answer is logged once the parent has started.
 */
unsigned int	 proc_max_relays(unsigned int configured, unsigned int dflt,
		    const char *who);

/* Parent */
void		 proc_parent_init(struct privsep *, const char *user,
		    const char *root);
/* Open a configuration round with a child; IMSG_PROC_CFG_DONE ends it. */
int		 proc_config_begin(struct proc_child *, struct mp_out *);
int		 proc_config_end(struct proc_child *);
struct proc_child *proc_child_find(struct privsep *, int id, int instance);
int		 proc_child_send(struct proc_child *, uint16_t type,
		    uint32_t ref, int fd, struct mp_out *);

/* Child: never returns */
__dead void	 proc_child_main(struct privsep *, const char *title,
		    int instance);

#endif /* PROC_H */
