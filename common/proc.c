/*
 * proc.c: fork, re-exec, privilege drop and supervision of children
 * (proc.h).  The daemon's process table is data; this file does the
 * rest for all three daemons.
 *
 * The parent re-executes /proc/self/exe so that a child always runs the
 * very binary its parent runs, even while a package upgrade replaces the
 * file; prctl(PR_SET_NAME) then gives the child its name back.
 *
 * A child that dies is logged and restarted after 100 ms, which is
 * quick enough that a crash costs little, and that delay doubles, up
 * to 60 s, each time it dies again within 10 s of its start, so that a
 * child that cannot start does not spin.
 *
 * Rounds: every IMSG_PROC_CFG/_DONE pair carries a round number in ref,
 * and the child answers it with IMSG_PROC_CFG_ACK.  A reload (SIGHUP or
 * proc_reload()) parses the file in the parent, which then holds the new
 * configuration, and sends the round to every child; it ends when each
 * has applied it, refused it, died or let PROC_CFG_WAIT seconds pass.
 * Only when all applied it does the parent log "configuration
 * reloaded"; each one that did not is named with its reason, and the
 * outcome stays in ps->reload.  A second reload while one is under way
 * is refused.  A child started later gets the new configuration, unless
 * it refused that one: then it gets the one it last applied, which the
 * parent keeps (struct proc_conf) as long as a child runs on it.
 *
 * Operations: the parent serves the control socket.  It answers show
 * summary, reload and log itself, and asks its children for the rest
 * (IMSG_CTL_REQUEST, ref the request's id): their IMSG_CTL_DATA are
 * joined (lists) or merged (metrics), and their IMSG_CTL_END counted.
 * A child answers only what it was asked, once; a child that dies
 * meanwhile counts as an answer that failed.  The /metrics listener
 * runs in the daemon's metrics_type child, which asks the parent with
 * IMSG_CTL_EXEC, and for nothing but show metrics.  The control socket
 * is made before the parent leaves the terminal, so that a path in use
 * or not allowed stops the start-up with its reason on stderr; started
 * as another user than root with the default path, which only root may
 * use, the daemon goes on without one, with a warning.
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "sandbox.h"
#include "splice.h"
#include "version.h"

#define PROC_QUICKDEATH	10	/* seconds: a death sooner counts double */
#define PROC_FIRSTDELAY	100	/* ms before the first restart */
#define PROC_MAXDELAY	60000	/* ms at most */
#define PROC_STOPWAIT	3000	/* ms to wait for a child to stop */

static void	proc_start(struct privsep *);
static void	proc_spawn(struct privsep *, struct proc_child *);
static struct proc_conf *proc_conf_hold(void *, unsigned int);
static int	proc_config_send(struct privsep *, struct proc_child *,
		    struct proc_conf *, int start);
static void	proc_reload_lost(struct privsep *, struct proc_child *,
		    const char *);
static void	proc_reload_check(struct privsep *);
static void	proc_reload_timeout(evutil_socket_t, short, void *);
static void	proc_config_ack(struct privsep *, struct proc_child *,
		    struct frame *);
static void	proc_parent_recv(struct chan *, struct frame *, void *);
static void	proc_child_recv(struct chan *, struct frame *, void *);
static void	proc_chan_recv(struct chan *, struct frame *, void *);
static void	proc_chan_retry(evutil_socket_t, short, void *);
static void	proc_sig_parent(evutil_socket_t, short, void *);
static void	proc_reconnect(struct privsep *, struct proc_child *,
		    struct frame *);
static void	proc_connect(struct proc_child *, struct proc_child *);
static void	proc_restart(evutil_socket_t, short, void *);
static void	proc_ops_open(struct privsep *);
static void	proc_ops_send(struct privsep *, struct proc_child *);
static void	proc_ops_keep(struct privsep *, void *);
static int	proc_ops_dispatch(struct privsep *, struct proc_child *,
		    struct frame *);
static void	proc_ops_lost(struct privsep *, struct proc_child *);
static void	proc_ops_child(struct privsep *, const struct proc_type *,
		    struct frame *);

const struct proc_type *
proc_type_byname(struct privsep *ps, const char *title)
{
	int	 i;

	for (i = 0; i < ps->ntypes; i++)
		if (strcmp(ps->types[i].title, title) == 0)
			return (&ps->types[i]);
	return (NULL);
}

static const struct proc_type *
proc_type_byid(struct privsep *ps, int id)
{
	int	 i;

	for (i = 0; i < ps->ntypes; i++)
		if (ps->types[i].id == id)
			return (&ps->types[i]);
	return (NULL);
}

const char *
proc_title(struct privsep *ps, int id)
{
	const struct proc_type	*t;

	if (id == PROC_PARENT)
		return ("parent");
	if ((t = proc_type_byid(ps, id)) == NULL)
		return ("unknown");
	return (t->title);
}

rlim_t
proc_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (0);
	return (rl.rlim_cur);
}

/*
 * A relayed connection holds its two sockets, nothing else: pipes come
 * from the splice pool (SPLICE_MAXPIPES, two descriptors each) only
 * while bytes are in flight.  The reserve (proc.h) is for channels,
 * listening sockets and connections not relayed yet: in a proxyd
 * listener, up to PROXYD_MAX_PENDING (256) backchannels waiting for a
 * preamble and PROXYD_MAX_POOLED (512) idle pooled ones, which
 * listener.c checks fit with room to spare; in a privproxyd connector,
 * up to PP_MAX_POOLED (512) pooled backchannels.  A client counts two
 * descriptors from its accept on, so the clients of "max connections"
 * never take the backchannels' descriptors, nor they the clients'.
 */
#define PROC_FDS_PER_RELAY	2
#define PROC_FDS_PIPES		(2 * SPLICE_MAXPIPES)
#define PROC_FDS_SPARE		(PROC_FDS_PIPES + PROC_FDS_RESERVE)

/* the limit as computed at start, logged once the parent logs for good */
static char	 proc_limit_line[256];

unsigned int
proc_max_relays(unsigned int configured, unsigned int dflt, const char *who)
{
	rlim_t			 have = proc_nofile();
	unsigned long long	 fit;
	unsigned int		 n;

	if (have == RLIM_INFINITY)
		return (configured ? configured : dflt);
	fit = have > PROC_FDS_SPARE + PROC_FDS_PER_RELAY ?
	    (have - PROC_FDS_SPARE) / PROC_FDS_PER_RELAY : 1;
	n = configured ? configured : (unsigned int)MINIMUM(fit, dflt);
	if (configured > fit)
		log_warnx("%u connections per %s need about %llu descriptors, "
		    "the limit is %llu: lower \"max connections\" or raise "
		    "the limit", configured, who, (unsigned long long)
		    configured * PROC_FDS_PER_RELAY + PROC_FDS_SPARE,
		    (unsigned long long)have);
	if (proc_limit_line[0] == '\0')
		(void)snprintf(proc_limit_line, sizeof(proc_limit_line),
		    "at most %u connections per %s: descriptor limit %llu, "
		    "%d per connection, %d for pipes, %d in reserve", n, who,
		    (unsigned long long)have, PROC_FDS_PER_RELAY,
		    PROC_FDS_PIPES, PROC_FDS_RESERVE);
	return (n);
}

/*
 * Every relayed connection costs descriptors, and a process that runs
 * out of them loses the ones other processes pass to it: take all the
 * system allows.  The children inherit the limit.
 */
static void
proc_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("%s", __func__);
}

static int
proc_talks(const struct proc_type *a, const struct proc_type *b)
{
	return ((a->talks_to & (1U << b->id)) || (b->talks_to & (1U << a->id)));
}

static __dead void
proc_usage(void)
{
	fprintf(stderr, "usage: %s [-dnVv] [-D macro=value] [-f file]\n",
	    getprogname());
	exit(1);
}

static void
proc_options(struct privsep *ps, int argc, char *argv[], char *envp[])
{
	static char		 conffile[PATH_MAX];
	struct proc_opts	*o = &ps->opts;
	char			 cwd[PATH_MAX];
	const char		*title = NULL, *errstr;
	int			 ch, instance = 0;

	setproctitle_init(argc, argv, envp);
	log_init(1, LOG_DAEMON);
	while ((ch = getopt(argc, argv, "dD:f:I:nP:Vv")) != -1) {
		switch (ch) {
		case 'd':
			o->debug = 1;
			break;
		case 'D':
			if (o->nmacros >= (int)nitems(o->macros))
				fatalx("too many -D macros");
			o->macros[o->nmacros++] = optarg;
			break;
		case 'f':
			o->conffile = optarg;
			break;
		case 'I':
			instance = (int)strtonum(optarg, 0, PROC_INSTMAX - 1,
			    &errstr);
			if (errstr != NULL)
				fatalx("instance %s is %s", optarg, errstr);
			break;
		case 'n':
			o->noaction = 1;
			break;
		case 'P':
			title = optarg;
			break;
		case 'V':
			printf("%s %s\n", ps->name, EPS_VERSION);
			exit(0);
		case 'v':
			o->verbose++;
			break;
		default:
			proc_usage();
		}
	}
	if (optind != argc)
		proc_usage();
	/* a reload after daemon(3) went to "/" must find the file again */
	if (title == NULL && o->conffile[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    snprintf(conffile, sizeof(conffile), "%s/%s", cwd,
		    o->conffile) >= (int)sizeof(conffile))
			fatalx("cannot make %s absolute", o->conffile);
		o->conffile = conffile;
	}
	ps->foreground = o->debug;
	ps->verbose = o->verbose;
	log_setverbose(o->verbose);
	if (title != NULL) {
		log_init(o->debug, LOG_DAEMON);
		log_timestamps(o->debug);
		proc_child_main(ps, title, instance);
	}
	/* the parent logs to stderr until its configuration is good */
}

/* The start-up line: the children, as the log names them. */
static void
proc_started(struct privsep *ps)
{
	const struct proc_type	*t;
	char			 buf[256], one[64];
	int			 i, n;

	buf[0] = '\0';
	for (i = 0; i < ps->ntypes; i++) {
		t = &ps->types[i];
		n = ps->instances[t->id];
		if (n > 1)
			(void)snprintf(one, sizeof(one), "%s%s 0-%d",
			    i > 0 ? ", " : "", t->title, n - 1);
		else
			(void)snprintf(one, sizeof(one), "%s%s 0",
			    i > 0 ? ", " : "", t->title);
		(void)strlcat(buf, one, sizeof(buf));
	}
	log_info("startup: %s", buf);
}

int
proc_main(struct privsep *ps, const struct proc_daemon *d, int argc,
    char *argv[], char *envp[])
{
	ps->daemon = d;
	ps->name = d->name;
	ps->types = d->types;
	ps->ntypes = d->ntypes;
	ps->opts.conffile = d->conffile;
	proc_options(ps, argc, argv, envp);

	ps->conf = d->conf_load(ps->opts.conffile, ps->opts.macros,
	    ps->opts.nmacros);
	if (ps->opts.noaction) {
		if (ps->conf == NULL)
			exit(1);
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (ps->conf == NULL)
		exit(1);
	ps->cur = proc_conf_hold(ps->conf, 0);
	ps->id = PROC_PARENT;
	TAILQ_INIT(&ps->children);
	d->conf_setup(ps, ps->conf);

	/* what could stop the start-up is said on stderr, then the log */
	if ((ps->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	proc_ops_open(ps);
	log_init(ps->opts.debug, LOG_DAEMON);
	log_timestamps(ps->opts.debug);
	if (!ps->opts.debug && daemon(0, 0) == -1)
		fatal("daemon");
	if (event_reinit(ps->base) == -1)
		fatalx("event_reinit");
	if (proc_limit_line[0] != '\0')
		log_info("%s", proc_limit_line);
	ps->started = time(NULL);
	proc_start(ps);
	if (d->started != NULL)
		d->started(ps);
	else
		proc_started(ps);
	event_base_dispatch(ps->base);
	return (0);
}

/*
 * Parent side.
 */

void
proc_parent_init(struct privsep *ps, const char *user, const char *root)
{
	struct passwd	*pw;
	struct stat	 st;

	proc_raise_nofile();
	(void)strlcpy(ps->user, user, sizeof(ps->user));
	(void)strlcpy(ps->root, root, sizeof(ps->root));
	if (geteuid() != 0) {
		ps->unprivileged = 1;
		ps->uid = getuid();
		ps->gid = getgid();
		log_warnx("not started as root: children run as uid %u "
		    "without chroot", (unsigned int)ps->uid);
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		fatalx("unknown user %s", user);
	ps->uid = pw->pw_uid;
	ps->gid = pw->pw_gid;
	if (ps->uid == 0)
		fatalx("user %s is root: children must not run as root", user);
	if (stat(root, &st) == -1) {
		if (errno != ENOENT || mkdir(root, 0755) == -1 ||
		    stat(root, &st) == -1)
			fatal("chroot directory %s", root);
		log_info("created empty chroot directory %s", root);
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		fatalx("chroot directory %s must be a directory owned by root "
		    "and writable by nobody else", root);
}

struct proc_child *
proc_child_find(struct privsep *ps, int id, int instance)
{
	struct proc_child	*c;

	TAILQ_FOREACH(c, &ps->children, entry)
		if (c->type->id == id && c->instance == instance)
			return (c);
	return (NULL);
}

int
proc_child_send(struct proc_child *c, uint16_t type, uint32_t ref,
    int fd, struct mp_out *m)
{
	return (proc_chan_send(&c->chan, type, ref, fd, m));
}

/*
 * Rounds and reloads.
 */

static struct proc_conf *
proc_conf_hold(void *conf, unsigned int gen)
{
	struct proc_conf	*pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		fatal("%s", __func__);
	pc->conf = conf;
	pc->gen = gen;
	pc->refs = 1;
	return (pc);
}

static void
proc_conf_release(struct privsep *ps, struct proc_conf *pc)
{
	if (pc == NULL || --pc->refs > 0)
		return;
	ps->daemon->conf_free(pc->conf);
	free(pc);
}

/* One round to one child: the configuration, the daemon's rest, done. */
static int
proc_config_send(struct privsep *ps, struct proc_child *c,
    struct proc_conf *pc, int start)
{
	const struct proc_daemon	*d = ps->daemon;
	struct mp_out			 m;
	int				 ret = 0;

	if (++ps->round == 0)
		ps->round = 1;
	c->round = ps->round;
	pc->refs++;
	proc_conf_release(ps, c->sent);
	c->sent = pc;
	mp_out_init(&m);
	settings_pack(&m.pk, d->settings, pc->conf);
	if (proc_child_send(c, IMSG_PROC_CFG, c->round, -1, &m) == -1)
		ret = -1;
	mp_out_free(&m);
	if (d->conf_send != NULL)
		d->conf_send(ps, c, pc->conf, start);
	if (proc_child_send(c, IMSG_PROC_CFG_DONE, c->round, -1, NULL) == -1)
		ret = -1;
	if (ret == -1)
		log_warn("configuration to %s %d", c->type->title,
		    c->instance);
	return (ret);
}

int
proc_reload(struct privsep *ps, proc_reload_cb done, void *arg)
{
	const struct proc_daemon	*d = ps->daemon;
	struct proc_reload		*r = &ps->reload;
	struct proc_child		*c;
	struct timeval			 tv = { PROC_CFG_WAIT, 0 };
	char				 errs[PROC_ERRMAX];
	void				*nconf;
	size_t				 i;

	if (r->running) {
		log_warnx("reload already in progress");
		errno = EBUSY;
		return (-1);
	}
	log_info("reloading configuration from %s", ps->opts.conffile);
	r->count++;
	r->started = time(NULL);
	r->finished = 0;
	r->ok = 0;
	r->error[0] = '\0';
	for (i = 0; i < r->nchildren; i++) {
		r->children[i].state = PROC_CFG_NONE;
		r->children[i].round = 0;
		r->children[i].reason[0] = '\0';
	}
	/* the errors are logged as they are found, and kept for epsctl */
	log_capture(errs, sizeof(errs));
	nconf = d->conf_load(ps->opts.conffile, ps->opts.macros,
	    ps->opts.nmacros);
	log_capture(NULL, 0);
	if (nconf == NULL) {
		if (errs[0] != '\0')
			(void)strlcpy(r->error, errs, sizeof(r->error));
		else
			(void)snprintf(r->error, sizeof(r->error),
			    "errors in %s", ps->opts.conffile);
		log_warnx("configuration not reloaded: errors in %s",
		    ps->opts.conffile);
		r->finished = r->started;
		r->nfailed++;
		errno = EINVAL;
		return (-1);
	}
	d->conf_keep(ps, ps->conf, nconf);
	proc_ops_keep(ps, nconf);
	proc_conf_release(ps, ps->cur);
	ps->cur = proc_conf_hold(nconf, r->count);
	ps->conf = nconf;

	r->running = 1;
	ps->reload_cb = done;
	ps->reload_arg = arg;
	TAILQ_FOREACH(c, &ps->children, entry) {
		if (c->pid <= 0 || c->chan.chan == NULL) {
			proc_reload_lost(ps, c, "not running; it gets the "
			    "new configuration when it restarts");
			continue;
		}
		c->status->state = PROC_CFG_PENDING;
		if (proc_config_send(ps, c, ps->cur, 0) == -1)
			proc_reload_lost(ps, c, "the round could not be sent");
		c->status->round = c->round;
	}
	/* the end always comes from the event loop, never from here */
	for (i = 0; i < r->nchildren; i++)
		if (r->children[i].state == PROC_CFG_PENDING)
			break;
	if (i == r->nchildren)
		tv.tv_sec = 0;
	evtimer_add(ps->reload_ev, &tv);
	return (0);
}

const struct proc_reload *
proc_reload_status(struct privsep *ps)
{
	return (&ps->reload);
}

static void
proc_reload_lost(struct privsep *ps, struct proc_child *c, const char *why)
{
	struct proc_reload_child	*s = c->status;

	s->state = PROC_CFG_LOST;
	(void)strlcpy(s->reason, why, sizeof(s->reason));
	log_warnx("configuration reload: %s %d did not apply it: %s",
	    c->type->title, c->instance, why);
}

static void
proc_reload_finish(struct privsep *ps)
{
	struct proc_reload	*r = &ps->reload;
	proc_reload_cb		 cb = ps->reload_cb;
	size_t			 i, applied = 0;

	evtimer_del(ps->reload_ev);
	for (i = 0; i < r->nchildren; i++)
		if (r->children[i].state == PROC_CFG_APPLIED)
			applied++;
	r->running = 0;
	r->finished = time(NULL);
	r->ok = applied == r->nchildren;
	if (r->ok) {
		r->napplied++;
		log_info("configuration reloaded");
	} else {
		r->nincomplete++;
		(void)snprintf(r->error, sizeof(r->error), "%zu of %zu "
		    "children did not apply it", r->nchildren - applied,
		    r->nchildren);
		log_warnx("configuration reload incomplete: %s", r->error);
	}
	ps->reload_cb = NULL;
	if (cb != NULL)
		cb(ps, r, ps->reload_arg);
}

/* The reload is over once no child has its answer to give. */
static void
proc_reload_check(struct privsep *ps)
{
	struct proc_reload	*r = &ps->reload;
	size_t			 i;

	if (!r->running)
		return;
	for (i = 0; i < r->nchildren; i++)
		if (r->children[i].state == PROC_CFG_PENDING)
			return;
	proc_reload_finish(ps);
}

static void
proc_reload_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct privsep		*ps = arg;
	struct proc_child	*c;
	char			 why[64];

	if (!ps->reload.running)
		return;
	(void)snprintf(why, sizeof(why), "no answer within %d s",
	    PROC_CFG_WAIT);
	TAILQ_FOREACH(c, &ps->children, entry)
		if (c->status->state == PROC_CFG_PENDING)
			proc_reload_lost(ps, c, why);
	proc_reload_finish(ps);
}

/* What a child says is shown in the log: printable characters only. */
static void
proc_printable(char *s)
{
	for (; *s != '\0'; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

static void
proc_config_ack(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	struct proc_reload_child	*s = c->status;
	struct mp_doc			 d;
	char				 reason[PROC_REASONMAX];
	int				 ok;

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_bool(d.root, "ok", &ok) == -1 ||
	    mp_map_str(d.root, "reason", reason, sizeof(reason)) == -1) {
		log_warnx("%s: malformed answer from %s %d", __func__,
		    c->type->title, c->instance);
		ok = 0;
		(void)strlcpy(reason, "malformed answer", sizeof(reason));
	}
	mp_free(&d);
	proc_printable(reason);
	if (f->hdr.ref == c->round && c->sent != NULL) {
		if (ok) {
			if (c->sent == ps->cur)
				c->refused = 0;
			proc_conf_release(ps, c->applied);
			c->applied = c->sent;
		} else {
			c->refused = c->sent->gen + 1;
			proc_conf_release(ps, c->sent);
		}
		c->sent = NULL;
	}
	if (ps->reload.running && s->state == PROC_CFG_PENDING &&
	    f->hdr.ref == s->round) {
		s->state = ok ? PROC_CFG_APPLIED : PROC_CFG_REFUSED;
		(void)strlcpy(s->reason, ok ? "" : reason, sizeof(s->reason));
		if (!ok)
			log_warnx("configuration reload: %s %d refused: %s",
			    c->type->title, c->instance, reason);
		proc_reload_check(ps);
	} else if (f->hdr.ref != c->round)
		log_debug("%s %d answered round %u, not %u", c->type->title,
		    c->instance, f->hdr.ref, c->round);
	else if (!ok)
		log_warnx("%s %d refused its configuration: %s",
		    c->type->title, c->instance, reason);
	else
		log_debug("%s %d applied round %u", c->type->title,
		    c->instance, f->hdr.ref);
}

static void
proc_start(struct privsep *ps)
{
	static const int	 sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
	struct proc_reload	*r = &ps->reload;
	struct proc_child	*c;
	const struct proc_type	*t;
	size_t			 i;
	int			 n;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nitems(sigs); i++) {
		ps->sigev[i] = evsignal_new(ps->base, sigs[i], proc_sig_parent,
		    ps);
		if (ps->sigev[i] == NULL || evsignal_add(ps->sigev[i],
		    NULL) == -1)
			fatalx("%s: signal setup", __func__);
	}
	if ((ps->reload_ev = evtimer_new(ps->base, proc_reload_timeout,
	    ps)) == NULL)
		fatalx("%s: timer", __func__);
	for (i = 0; i < (size_t)ps->ntypes; i++) {
		t = &ps->types[i];
		if (ps->instances[t->id] < 1)
			ps->instances[t->id] = 1;
		r->nchildren += (size_t)ps->instances[t->id];
	}
	if ((r->children = calloc(r->nchildren, sizeof(*r->children))) ==
	    NULL)
		fatal("%s", __func__);
	r->nchildren = 0;
	for (i = 0; i < (size_t)ps->ntypes; i++) {
		t = &ps->types[i];
		for (n = 0; n < ps->instances[t->id]; n++) {
			if ((c = calloc(1, sizeof(*c))) == NULL)
				fatal("%s", __func__);
			c->type = t;
			c->instance = n;
			c->pid = -1;
			c->chan.id = t->id;
			c->chan.instance = n;
			c->chan.ps = ps;
			c->status = &r->children[r->nchildren++];
			c->status->title = t->title;
			c->status->instance = n;
			TAILQ_INSERT_TAIL(&ps->children, c, entry);
			proc_spawn(ps, c);
		}
	}
}

static void
proc_send_init(struct privsep *ps, struct proc_child *c)
{
	struct mp_out	 m;

	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 5);
	mp_pack_kuint(&m.pk, "uid", ps->uid);
	mp_pack_kuint(&m.pk, "gid", ps->gid);
	mp_pack_kstr(&m.pk, "root", ps->root);
	mp_pack_kuint(&m.pk, "verbose", (uint64_t)log_getverbose());
	mp_pack_kbool(&m.pk, "unprivileged", ps->unprivileged);
	if (proc_child_send(c, IMSG_PROC_INIT, 0, -1, &m) == -1)
		log_warn("%s: %s", __func__, c->type->title);
	mp_out_free(&m);
}

/* Hand each end of a new socketpair to two children that talk. */
static void
proc_connect(struct proc_child *a, struct proc_child *b)
{
	struct mp_out	 m;
	int		 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("%s: socketpair", __func__);
		return;
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kuint(&m.pk, "id", (uint64_t)b->type->id);
	mp_pack_kuint(&m.pk, "instance", (uint64_t)b->instance);
	if (proc_child_send(a, IMSG_PROC_CHAN, 0, sp[0], &m) == -1)
		log_warn("%s: to %s", __func__, a->type->title);
	mp_out_reset(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kuint(&m.pk, "id", (uint64_t)a->type->id);
	mp_pack_kuint(&m.pk, "instance", (uint64_t)a->instance);
	if (proc_child_send(b, IMSG_PROC_CHAN, 0, sp[1], &m) == -1)
		log_warn("%s: to %s", __func__, b->type->title);
	mp_out_free(&m);
}

static void
proc_spawn(struct privsep *ps, struct proc_child *c)
{
	struct proc_conf	*pc;
	struct proc_child	*o;
	char			 inst[16], *argv[16];
	int			 sp[2], argc = 0, v;
	pid_t			 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("%s: socketpair", __func__);
	(void)snprintf(inst, sizeof(inst), "%d", c->instance);
	argv[argc++] = (char *)ps->name;
	argv[argc++] = "-P";
	argv[argc++] = (char *)c->type->title;
	argv[argc++] = "-I";
	argv[argc++] = inst;
	if (ps->foreground)
		argv[argc++] = "-d";
	for (v = 0; v < ps->verbose && v < 3; v++)
		argv[argc++] = "-v";
	argv[argc] = NULL;

	switch (pid = fork()) {
	case -1:
		fatal("%s: fork", __func__);
	case 0:
		if (dup2(sp[1], PROC_CHILD_FD) == -1)
			_exit(127);
		closefrom(PROC_CHILD_FD + 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	default:
		break;
	}
	close(sp[1]);
	c->pid = pid;
	c->started = time(NULL);
	c->chan.chan = chan_new(ps->base, sp[0], 0, proc_parent_recv, c);
	if (c->chan.chan == NULL)
		fatal("%s: chan", __func__);
	chan_set_name(c->chan.chan, c->type->title);
	proc_send_init(ps, c);
	/*
	 * The configuration first: the child applies it before it learns
	 * of any sibling, so no sibling's message finds it unconfigured.
	 * One that refused the current configuration gets the one it ran.
	 */
	pc = ps->cur;
	if (c->refused == pc->gen + 1 && c->applied != NULL) {
		pc = c->applied;
		log_warnx("%s %d refused the current configuration: it gets "
		    "the one it had", c->type->title, c->instance);
	}
	(void)proc_config_send(ps, c, pc, 1);
	proc_ops_send(ps, c);
	TAILQ_FOREACH(o, &ps->children, entry) {
		if (o == c || o->pid == -1 || o->chan.chan == NULL ||
		    !proc_talks(c->type, o->type))
			continue;
		proc_connect(c, o);
	}
	log_debug("started %s %d, pid %d", c->type->title, c->instance,
	    (int)pid);
}

static void
proc_parent_recv(struct chan *ch, struct frame *f, void *arg)
{
	struct proc_child	*c = arg;
	struct privsep		*ps = c->chan.ps;

	if (f == NULL) {
		chan_free(ch);
		c->chan.chan = NULL;
		return;
	}
	switch (f->hdr.type) {
	case IMSG_PROC_RECONNECT:
		proc_reconnect(ps, c, f);
		return;
	case IMSG_PROC_CFG_ACK:
		proc_config_ack(ps, c, f);
		return;
	}
	if (proc_ops_dispatch(ps, c, f))
		return;
	if (ps->daemon->dispatch != NULL && ps->daemon->dispatch(ps, c, f))
		return;
	log_warnx("unexpected message %u from %s %d", f->hdr.type,
	    c->type->title, c->instance);
}

/*
 * A child lost its channel to a sibling that did not die: give them a
 * new one.  A sibling that died gets new channels when it is restarted.
 */
static void
proc_reconnect(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	struct proc_child	*o;
	struct mp_doc		 d;
	uint64_t		 id, inst;

	if (mp_parse(&d, f->data, f->len) == -1 ||
	    mp_map_uint(d.root, "id", PROC_MAX - 1, &id) == -1 ||
	    mp_map_uint(d.root, "instance", PROC_INSTMAX - 1, &inst) == -1) {
		log_warnx("%s: bad request from %s", __func__,
		    c->type->title);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	if ((o = proc_child_find(ps, (int)id, (int)inst)) == NULL ||
	    o == c || !proc_talks(c->type, o->type) || o->pid <= 0 ||
	    o->chan.chan == NULL || c->pid <= 0)
		return;
	log_warnx("reconnecting %s %d and %s %d", c->type->title,
	    c->instance, o->type->title, o->instance);
	proc_connect(c, o);
}

static void
proc_restart(evutil_socket_t fd, short ev, void *arg)
{
	struct proc_child	*c = arg;
	struct privsep		*ps = c->chan.ps;

	if (ps->shutdown)
		return;
	log_info("restarting %s %d", c->type->title, c->instance);
	c->restarts++;
	proc_spawn(ps, c);
}

static void
proc_reap(struct privsep *ps)
{
	struct proc_child	*c;
	struct timeval		 tv;
	pid_t			 pid;
	int			 status, delay;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(c, &ps->children, entry)
			if (c->pid == pid)
				break;
		if (c == NULL)
			continue;
		c->pid = -1;
		if (c->chan.chan != NULL) {
			chan_free(c->chan.chan);
			c->chan.chan = NULL;
		}
		if (ps->shutdown)
			continue;
		if (WIFSIGNALED(status))
			log_warnx("%s %d (pid %d) killed by signal %d",
			    c->type->title, c->instance, (int)pid,
			    WTERMSIG(status));
		else
			log_warnx("%s %d (pid %d) exited with status %d",
			    c->type->title, c->instance, (int)pid,
			    WEXITSTATUS(status));
		proc_conf_release(ps, c->sent);
		c->sent = NULL;
		if (ps->reload.running &&
		    c->status->state == PROC_CFG_PENDING)
			proc_reload_lost(ps, c, "died");
		proc_ops_lost(ps, c);
		/* 100 ms, then doubled for each quick death in a row */
		if (time(NULL) - c->started >= PROC_QUICKDEATH)
			c->failures = 0;
		delay = PROC_FIRSTDELAY << MINIMUM(c->failures, 10);
		if (delay > PROC_MAXDELAY)
			delay = PROC_MAXDELAY;
		c->failures++;
		if (c->restart == NULL &&
		    (c->restart = evtimer_new(ps->base, proc_restart, c)) ==
		    NULL)
			fatal("%s: evtimer_new", __func__);
		tv.tv_sec = delay / 1000;
		tv.tv_usec = (delay % 1000) * 1000;
		evtimer_add(c->restart, &tv);
	}
	proc_reload_check(ps);
}

/* Stop the children type by type, in table order, then exit. */
static __dead void
proc_stop(struct privsep *ps)
{
	struct proc_child	*c;
	struct timespec		 ts = { 0, 20 * 1000 * 1000 };
	pid_t			 r;
	int			 i, waited, left, status;

	ps->shutdown = 1;
	if (ps->daemon->shutdown != NULL)
		ps->daemon->shutdown(ps);
	/* nobody is answered any more: the socket goes first */
	control_free(ps->control);
	ps->control = NULL;
	for (i = 0; i < ps->ntypes; i++) {
		TAILQ_FOREACH(c, &ps->children, entry)
			if (c->type == &ps->types[i] && c->pid > 0)
				kill(c->pid, SIGTERM);
		for (waited = 0; ; waited += 20) {
			left = 0;
			TAILQ_FOREACH(c, &ps->children, entry) {
				if (c->type != &ps->types[i] || c->pid <= 0)
					continue;
				r = waitpid(c->pid, &status, WNOHANG);
				if (r == c->pid || (r == -1 && errno == ECHILD))
					c->pid = -1;
				else if (waited >= PROC_STOPWAIT) {
					kill(c->pid, SIGKILL);
					(void)waitpid(c->pid, &status, 0);
					c->pid = -1;
				} else
					left++;
			}
			if (left == 0)
				break;
			nanosleep(&ts, NULL);
		}
	}
	log_info("terminating");
	exit(0);
}

static void
proc_sig_parent(evutil_socket_t sig, short ev, void *arg)
{
	struct privsep	*ps = arg;

	switch (sig) {
	case SIGCHLD:
		proc_reap(ps);
		break;
	case SIGTERM:
	case SIGINT:
		proc_stop(ps);
		/* NOTREACHED */
	case SIGHUP:
		(void)proc_reload(ps, NULL, NULL);
		break;
	}
}

/*
 * Both sides.
 */

int
proc_chan_send(struct proc_chan *p, uint16_t type, uint32_t ref, int fd,
    struct mp_out *m)
{
	if (p->chan == NULL) {
		if (fd != -1)
			close(fd);
		errno = ENOTCONN;
		return (-1);
	}
	return (chan_send(p->chan, type, ref, fd,
	    m != NULL ? m->sb.data : NULL, m != NULL ? m->sb.size : 0));
}

static struct proc_chan *
proc_chan(struct privsep *ps, int id, int instance)
{
	struct proc_child	*c;

	if (ps->id == PROC_PARENT) {
		if ((c = proc_child_find(ps, id, instance)) == NULL)
			return (NULL);
		return (&c->chan);
	}
	if (id == PROC_PARENT)
		return (&ps->parent);
	if (id <= 0 || id >= PROC_MAX || instance < 0 ||
	    instance >= PROC_INSTMAX)
		return (NULL);
	return (&ps->chans[id][instance]);
}

int
proc_send(struct privsep *ps, int id, int instance, uint16_t type,
    uint32_t ref, int fd, const void *buf, size_t len)
{
	struct proc_chan	*p;
	int			 i, n, ret = 0;

	if (instance == -1) {
		if (fd != -1) {
			close(fd);
			errno = EINVAL;
			return (-1);
		}
		n = id == PROC_PARENT ? 1 : (ps->id == PROC_PARENT ?
		    ps->instances[id] : PROC_INSTMAX);
		for (i = 0; i < n; i++) {
			p = proc_chan(ps, id, i);
			if (p == NULL || p->chan == NULL)
				continue;
			if (chan_send(p->chan, type, ref, -1, buf, len) ==
			    -1)
				ret = -1;
		}
		return (ret);
	}
	if ((p = proc_chan(ps, id, instance)) == NULL || p->chan == NULL) {
		if (fd != -1)
			close(fd);
		errno = ENOTCONN;
		return (-1);
	}
	return (chan_send(p->chan, type, ref, fd, buf, len));
}

int
proc_send_mp(struct privsep *ps, int id, int instance, uint16_t type,
    uint32_t ref, int fd, struct mp_out *m)
{
	return (proc_send(ps, id, instance, type, ref, fd,
	    m != NULL ? m->sb.data : NULL, m != NULL ? m->sb.size : 0));
}

/*
 * Child side.
 */

static int
readall(int fd, void *buf, size_t len)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Read IMSG_PROC_INIT, blocking, before anything else happens. */
static void
proc_child_readinit(struct privsep *ps)
{
	uint8_t			 hb[FRAME_HDRLEN], buf[4096];
	struct frame_hdr	 h;
	struct mp_doc		 d;
	uint64_t		 v;
	int			 b;

	if (readall(PROC_CHILD_FD, hb, sizeof(hb)) == -1)
		fatalx("%s: no init message from parent", __func__);
	frame_hdr_decode(hb, &h);
	if (h.type != IMSG_PROC_INIT || h.len > sizeof(buf) || h.flags != 0)
		fatalx("%s: bad init message", __func__);
	if (readall(PROC_CHILD_FD, buf, h.len) == -1)
		fatalx("%s: short init message", __func__);
	if (mp_parse(&d, buf, h.len) == -1)
		fatalx("%s: malformed init message", __func__);
	if (mp_map_uint(d.root, "uid", UINT32_MAX, &v) == -1)
		fatalx("%s: init: uid", __func__);
	ps->uid = (uid_t)v;
	if (mp_map_uint(d.root, "gid", UINT32_MAX, &v) == -1)
		fatalx("%s: init: gid", __func__);
	ps->gid = (gid_t)v;
	if (mp_map_str(d.root, "root", ps->root, sizeof(ps->root)) == -1)
		fatalx("%s: init: root", __func__);
	if (mp_map_uint(d.root, "verbose", 10, &v) == -1)
		fatalx("%s: init: verbose", __func__);
	log_setverbose((int)v);
	if (mp_map_bool(d.root, "unprivileged", &b) == -1)
		fatalx("%s: init: unprivileged", __func__);
	ps->unprivileged = b;
	mp_free(&d);
}

static void
proc_privdrop(struct privsep *ps)
{
	if (ps->unprivileged || geteuid() != 0)
		return;
	if (chroot(ps->root) == -1)
		fatal("chroot %s", ps->root);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (setgroups(1, &ps->gid) == -1 ||
	    setresgid(ps->gid, ps->gid, ps->gid) == -1 ||
	    setresuid(ps->uid, ps->uid, ps->uid) == -1)
		fatal("cannot drop privileges");
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		fatalx("privileges could be regained");
#ifdef SANITIZER_BUILD
	/*
	 * LeakSanitizer checks a process at exit through its /proc entry,
	 * which a uid change makes unreadable; test builds only.
	 */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
}

static void
proc_sig_child(evutil_socket_t sig, short ev, void *arg)
{
	struct privsep		*ps = arg;
	const struct proc_type	*t = proc_type_byid(ps, ps->id);

	if (t->shutdown != NULL && !ps->shutdown) {
		/* it calls event_base_loopexit() when it is done */
		ps->shutdown = 1;
		t->shutdown(ps);
		return;
	}
	event_base_loopbreak(ps->base);
}

static void
proc_chan_add(struct privsep *ps, struct frame *f)
{
	const struct proc_type	*self, *t;
	struct proc_chan	*p;
	struct mp_doc		 d;
	uint64_t		 id, inst;

	if (f->fd == -1 || mp_parse(&d, f->data, f->len) == -1) {
		log_warnx("%s: malformed channel message", __func__);
		return;
	}
	if (mp_map_uint(d.root, "id", PROC_MAX - 1, &id) == -1 ||
	    mp_map_uint(d.root, "instance", PROC_INSTMAX - 1, &inst) == -1 ||
	    (t = proc_type_byid(ps, (int)id)) == NULL ||
	    (self = proc_type_byid(ps, ps->id)) == NULL ||
	    !proc_talks(self, t)) {
		log_warnx("%s: bad channel message", __func__);
		mp_free(&d);
		return;
	}
	mp_free(&d);
	p = &ps->chans[id][inst];
	if (p->chan != NULL)
		chan_free(p->chan);
	p->id = (int)id;
	p->instance = (int)inst;
	p->ps = ps;
	if ((p->chan = chan_new(ps->base, f->fd, 0, proc_chan_recv, p)) ==
	    NULL) {
		log_warn("%s: chan", __func__);
		return;
	}
	f->fd = -1;
	chan_set_name(p->chan, t->title);
	if (self->chan_event != NULL)
		self->chan_event(ps, p, 1);
}

/* The end of a round: apply it, or keep what we had, and say which. */
static void
proc_child_config(struct privsep *ps, const struct proc_type *self,
    uint32_t round)
{
	const struct proc_daemon	*d = ps->daemon;
	struct mp_out			 m;
	void				*conf;
	char				 why[PROC_REASONMAX] = "";
	int				 ok;

	conf = NULL;
	if (ps->cfg == NULL)
		(void)strlcpy(why, "a round without a configuration",
		    sizeof(why));
	else if ((conf = d->conf_new()) == NULL)
		(void)strlcpy(why, "out of memory", sizeof(why));
	else if (settings_load(ps->cfg, ps->cfglen, d->settings, conf, why,
	    sizeof(why)) == -1) {
		d->conf_free(conf);
		conf = NULL;
	}
	/* with conf NULL too: the child lets go of what the round brought */
	ok = self->config(ps, conf, why, sizeof(why)) == 0 && conf != NULL;
	if (!ok)
		d->conf_free(conf);
	free(ps->cfg);
	ps->cfg = NULL;
	ps->cfglen = 0;
	if (!ok && why[0] == '\0')
		(void)strlcpy(why, "refused", sizeof(why));
	if (!ok)
		log_debug("configuration round %u refused: %s", round, why);
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kbool(&m.pk, "ok", ok);
	mp_pack_kstr(&m.pk, "reason", ok ? "" : why);
	if (proc_chan_send(&ps->parent, IMSG_PROC_CFG_ACK, round, -1, &m) ==
	    -1)
		log_warn("%s: answer", __func__);
	mp_out_free(&m);
}

static void
proc_child_recv(struct chan *ch, struct frame *f, void *arg)
{
	struct privsep		*ps = arg;
	const struct proc_type	*self = proc_type_byid(ps, ps->id);

	if (f == NULL) {
		log_debug("parent is gone, exiting");
		exit(0);
	}
	switch (f->hdr.type) {
	case IMSG_PROC_CHAN:
		proc_chan_add(ps, f);
		break;
	case IMSG_PROC_CFG:
		free(ps->cfg);
		ps->cfglen = 0;
		if ((ps->cfg = malloc(f->len > 0 ? f->len : 1)) == NULL) {
			log_warn("%s: configuration", __func__);
			break;
		}
		memcpy(ps->cfg, f->data, f->len);
		ps->cfglen = f->len;
		break;
	case IMSG_PROC_CFG_DONE:
		proc_child_config(ps, self, f->hdr.ref);
		break;
	case IMSG_PROC_METRICS:
	case IMSG_CTL_REQUEST:
	case IMSG_CTL_DATA:
	case IMSG_CTL_END:
		proc_ops_child(ps, self, f);
		break;
	default:
		self->dispatch(ps, &ps->parent, f);
		break;
	}
}

static void
proc_chan_recv(struct chan *ch, struct frame *f, void *arg)
{
	struct proc_chan	*p = arg;
	struct privsep		*ps = p->ps;
	const struct proc_type	*self = proc_type_byid(ps, ps->id);
	struct timeval		 tv = { 1, 0 };

	if (f == NULL) {
		log_debug("channel to %s %d closed", proc_title(ps, p->id),
		    p->instance);
		chan_free(ch);
		p->chan = NULL;
		if (self->chan_event != NULL)
			self->chan_event(ps, p, 0);
		/*
		 * A restarted sibling brings a new channel; if none came in a
		 * second, the lower of the two asks the parent for one.
		 */
		if (ps->id < p->id || (ps->id == p->id &&
		    ps->instance < p->instance)) {
			if (p->retry == NULL)
				p->retry = evtimer_new(ps->base, proc_chan_retry,
				    p);
			if (p->retry != NULL)
				evtimer_add(p->retry, &tv);
		}
		return;
	}
	self->dispatch(ps, p, f);
}

static void
proc_chan_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct proc_chan	*p = arg;
	struct mp_out		 m;

	if (p->chan != NULL)
		return;
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mp_pack_kuint(&m.pk, "id", (uint64_t)p->id);
	mp_pack_kuint(&m.pk, "instance", (uint64_t)p->instance);
	(void)proc_chan_send(&p->ps->parent, IMSG_PROC_RECONNECT, 0, -1, &m);
	mp_out_free(&m);
}

__dead void
proc_child_main(struct privsep *ps, const char *title, int instance)
{
	const struct proc_type	*t;
	struct event		*ev;

	if ((t = proc_type_byname(ps, title)) == NULL)
		fatalx("unknown process type %s", title);
	if (instance < 0 || instance >= PROC_INSTMAX)
		fatalx("bad instance %d", instance);
	ps->id = t->id;
	ps->instance = instance;
	log_procname(t->title);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	proc_child_readinit(ps);
	proc_privdrop(ps);
	setproctitle("%s", t->title);
	(void)prctl(PR_SET_NAME, ps->name, 0, 0, 0);

	if ((ps->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	ps->parent.id = PROC_PARENT;
	ps->parent.ps = ps;
	ps->parent.chan = chan_new(ps->base, PROC_CHILD_FD, 0,
	    proc_child_recv, ps);
	if (ps->parent.chan == NULL)
		fatal("%s: chan", __func__);
	chan_set_name(ps->parent.chan, "parent");
	if ((ev = evsignal_new(ps->base, SIGTERM, proc_sig_child, ps)) ==
	    NULL || evsignal_add(ev, NULL) == -1)
		fatalx("%s: signal", __func__);

	t->init(ps);
	(void)sandbox_enter(ps->name, t->title);
	event_base_dispatch(ps->base);
	log_debug("exiting");
	exit(0);
}

/*
 * Operations, both sides.
 */

time_t
proc_now(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return (time(NULL));
	return (ts.tv_sec);
}

void
proc_ctlconf_init(struct proc_ctlconf *cf)
{
	memset(cf, 0, sizeof(*cf));
	cf->gid = (gid_t)-1;
}

int
proc_ctlconf_group(struct proc_ctlconf *cf, const char *name)
{
	struct group	*gr;

	if ((gr = getgrnam(name)) == NULL ||
	    strlcpy(cf->group, name, sizeof(cf->group)) >= sizeof(cf->group))
		return (-1);
	cf->gid = gr->gr_gid;
	return (0);
}

static int
proc_ctlconf_same(const struct proc_ctlconf *a, const struct proc_ctlconf *b)
{
	int	 i;

	if (strcmp(a->socket, b->socket) != 0 ||
	    strcmp(a->group, b->group) != 0 || a->gid != b->gid ||
	    a->nmetrics != b->nmetrics)
		return (0);
	for (i = 0; i < a->nmetrics; i++)
		if (a->metrics[i].len != b->metrics[i].len ||
		    memcmp(&a->metrics[i].ss, &b->metrics[i].ss,
		    a->metrics[i].len) != 0)
			return (0);
	return (1);
}

/*
 * The parent: the control socket and its commands.
 */

enum ctl_kind {
	CTL_RELAY,		/* the children's lists, joined */
	CTL_METRICS,		/* their metrics, merged: text */
	CTL_COUNTERS,		/* ... as a table */
	CTL_SUMMARY,		/* ... and the parent's own summary */
	CTL_LOG,		/* only their outcome */
};

/* What the parent keeps for a request that asks its children. */
struct ctl_state {
	TAILQ_ENTRY(ctl_state)	 entry;
	struct privsep		*ps;
	uint32_t		 id;
	enum ctl_kind		 kind;
	struct metrics		*m;
	unsigned int		 ndata;		/* objects relayed */
	/* 1: asked, 2: answered (or died) */
	uint8_t			 asked[PROC_MAX][PROC_INSTMAX];
};
TAILQ_HEAD(ctl_states, ctl_state);

/* An IMSG_CTL_EXEC of the metrics child under way. */
struct ctl_exec {
	struct privsep		*ps;
	int			 id;
	int			 instance;
	pid_t			 pid;
	uint32_t		 ref;
};

#define CTL_NCMDS	32
#define CTL_TABLE_ROWS	64	/* show counters rows in one reply */

static struct ctl_states	 ctl_states =
    TAILQ_HEAD_INITIALIZER(ctl_states);
static struct control_cmd	 ctl_cmds[CTL_NCMDS];
static struct log_limit		 ctl_limit = LOG_LIMIT_INITIALIZER(5);

static void	ctl_summary(struct control_req *, int, char **, void *);
static void	ctl_metrics(struct control_req *, int, char **, void *);
static void	ctl_reload(struct control_req *, int, char **, void *);
static void	ctl_log(struct control_req *, int, char **, void *);
static void	ctl_forward(struct control_req *, int, char **, void *);

static const struct control_cmd ctl_generic[] = {
	{ "show summary", 0, 0, ctl_summary, NULL },
	{ "show counters", 0, 0, ctl_metrics, NULL },
	{ "show metrics", 0, 0, ctl_metrics, NULL },
	{ "reload", 0, 0, ctl_reload, NULL },
	{ "log", 1, 1, ctl_log, "verbose | brief" },
};

static uint32_t
ctl_alltypes(const struct privsep *ps)
{
	uint32_t	 mask = 0;
	int		 i;

	for (i = 0; i < ps->ntypes; i++)
		mask |= 1U << ps->types[i].id;
	return (mask);
}

static void
ctl_state_free(void *arg)
{
	struct ctl_state	*st = arg;

	TAILQ_REMOVE(&ctl_states, st, entry);
	metrics_free(st->m);
	free(st);
}

static struct ctl_state *
ctl_state_new(struct privsep *ps, struct control_req *req,
    enum ctl_kind kind)
{
	struct ctl_state	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return (NULL);
	st->ps = ps;
	st->id = control_req_id(req);
	st->kind = kind;
	if (kind == CTL_METRICS || kind == CTL_COUNTERS ||
	    kind == CTL_SUMMARY) {
		if ((st->m = metrics_new()) == NULL) {
			free(st);
			return (NULL);
		}
	}
	TAILQ_INSERT_TAIL(&ctl_states, st, entry);
	control_req_set_state(req, st, ctl_state_free);
	return (st);
}

/* Ask every running child of the types in mask; how many were asked. */
static unsigned int
ctl_ask(struct privsep *ps, struct ctl_state *st, uint32_t types,
    struct mp_out *m)
{
	struct proc_child	*c;
	unsigned int		 n = 0;

	TAILQ_FOREACH(c, &ps->children, entry) {
		if (!(types & (1U << c->type->id)) || c->pid <= 0 ||
		    c->chan.chan == NULL)
			continue;
		if (proc_child_send(c, IMSG_CTL_REQUEST, st->id, -1, m) == -1)
			continue;
		st->asked[c->type->id][c->instance] = 1;
		n++;
	}
	return (n);
}

static void
ctl_who(const struct proc_child *c, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s %d", c->type->title, c->instance);
}

/* The parent's own numbers. */
static void
proc_parent_metrics(struct privsep *ps, struct metrics *m)
{
	const struct proc_reload	*r = &ps->reload;
	struct metric_label		 l;
	struct proc_child		*c;
	char				 n[METRICS_NAMEMAX];
	int				 i;

	(void)snprintf(n, sizeof(n), "%s_info", ps->name);
	l.name = "version";
	l.value = EPS_VERSION;
	if (metrics_declare(m, n, METRIC_GAUGE, "The version running, as a "
	    "label; always 1.") == 0)
		(void)metrics_set(m, n, &l, 1, 1);
	(void)snprintf(n, sizeof(n), "%s_start_time_seconds", ps->name);
	if (metrics_declare(m, n, METRIC_GAUGE, "When the daemon started, "
	    "in seconds since the epoch.") == 0)
		(void)metrics_set(m, n, NULL, 0, (double)ps->started);
	(void)snprintf(n, sizeof(n), "%s_child_restarts_total", ps->name);
	if (metrics_declare(m, n, METRIC_COUNTER, "Child processes restarted "
	    "after they died, by process.") == 0) {
		l.name = "process";
		for (i = 0; i < ps->ntypes; i++) {
			l.value = ps->types[i].title;
			(void)metrics_add(m, n, &l, 1, 0);
		}
		TAILQ_FOREACH(c, &ps->children, entry) {
			l.value = c->type->title;
			(void)metrics_add(m, n, &l, 1, c->restarts);
		}
	}
	(void)snprintf(n, sizeof(n), "%s_reloads_total", ps->name);
	if (metrics_declare(m, n, METRIC_COUNTER, "Configuration reloads, "
	    "by outcome: applied by every child, incomplete, or refused "
	    "because the file has errors.") == 0) {
		l.name = "result";
		l.value = "applied";
		(void)metrics_add(m, n, &l, 1, r->napplied);
		l.value = "incomplete";
		(void)metrics_add(m, n, &l, 1, r->nincomplete);
		l.value = "failed";
		(void)metrics_add(m, n, &l, 1, r->nfailed);
	}
	if (ps->daemon->metrics != NULL)
		ps->daemon->metrics(ps, m);
}

/* The sum of a family's samples in m (histograms: their count). */
static int
ctl_metric_sum(const struct metrics *m, const char *name, double *sum)
{
	struct mp_out		 o;
	struct mp_doc		 d;
	const msgpack_object	*row, *v;
	char			 rn[METRICS_NAMEMAX + 8], want[METRICS_NAMEMAX + 8];
	size_t			 first, n;
	uint32_t		 i;
	int			 found = 0;

	*sum = 0;
	(void)snprintf(want, sizeof(want), "%s_count", name);
	mp_out_init(&o);
	for (first = 0; ; first += n) {
		mp_out_reset(&o);
		if ((n = metrics_pack_table(m, &o.pk, first, 256)) == 0)
			break;
		if (mp_parse(&d, o.sb.data, o.sb.size) == -1) {
			mp_free(&d);
			break;
		}
		for (i = 0; i < d.root->via.array.size; i++) {
			row = &d.root->via.array.ptr[i];
			if (mp_map_str(row, "name", rn, sizeof(rn)) == -1 ||
			    (strcmp(rn, name) != 0 && strcmp(rn, want) != 0) ||
			    (v = mp_map_get(row, "value")) == NULL)
				continue;
			found = 1;
			if (v->type == MSGPACK_OBJECT_FLOAT32 ||
			    v->type == MSGPACK_OBJECT_FLOAT64)
				*sum += v->via.f64;
			else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				*sum += (double)v->via.u64;
			else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				*sum += (double)v->via.i64;
		}
		mp_free(&d);
	}
	mp_out_free(&o);
	return (found ? 0 : -1);
}

static const char *
ctl_reload_result(enum proc_cfg_state st)
{
	switch (st) {
	case PROC_CFG_APPLIED:
		return ("applied");
	case PROC_CFG_REFUSED:
		return ("refused");
	case PROC_CFG_LOST:
		return ("lost");
	case PROC_CFG_PENDING:
		return ("pending");
	case PROC_CFG_NONE:
		break;
	}
	return ("none");
}

static void
ctl_summary_fin(struct control_req *req, unsigned int missing, void *arg)
{
	struct privsep		*ps = arg;
	struct ctl_state	*st = control_req_state(req);
	const struct proc_reload *r = &ps->reload;
	const char *const	*sum = ps->daemon->summary;
	struct mp_out		*o = control_out(req);
	struct proc_child	*c;
	struct proc_ctlconf	*cf;
	char			 a[NET_ADDRSTRLEN], last[PROC_ERRMAX + 32];
	char			 k[METRICS_NAMEMAX];
	const char		*metric;
	double			 v;
	time_t			 now = time(NULL);
	size_t			 nsum = 0, nchildren = 0, plen;
	int			 i;

	cf = ps->daemon->ctlconf != NULL ? ps->daemon->ctlconf(ps->conf) :
	    NULL;
	for (nsum = 0; sum != NULL && sum[nsum] != NULL; nsum++)
		;
	TAILQ_FOREACH(c, &ps->children, entry)
		nchildren++;
	if (r->count == 0)
		(void)strlcpy(last, "none", sizeof(last));
	else if (r->running)
		(void)strlcpy(last, "under way", sizeof(last));
	else if (r->ok)
		(void)strlcpy(last, "applied", sizeof(last));
	else
		(void)snprintf(last, sizeof(last), "not applied: %s",
		    r->error);

	msgpack_pack_map(&o->pk, 9 + nsum + 1);
	mp_pack_kstr(&o->pk, "daemon", ps->name);
	mp_pack_kstr(&o->pk, "version", EPS_VERSION);
	mp_pack_kuint(&o->pk, "pid", (uint64_t)getpid());
	mp_pack_kuint(&o->pk, "uptime", (uint64_t)(now - ps->started));
	mp_pack_kstr(&o->pk, "configuration", ps->opts.conffile);
	mp_pack_kuint(&o->pk, "reloads", r->count);
	mp_pack_kstr(&o->pk, "last_reload", last);
	mp_pack_kuint(&o->pk, "log_level", (uint64_t)log_getverbose());
	mp_pack_str(&o->pk, "metrics_listen");
	if (cf == NULL || cf->nmetrics == 0)
		msgpack_pack_nil(&o->pk);
	else {
		msgpack_pack_array(&o->pk, (size_t)cf->nmetrics);
		for (i = 0; i < cf->nmetrics; i++)
			mp_pack_str(&o->pk, net_addrstr(&cf->metrics[i], a,
			    sizeof(a)));
	}
	/* the daemon's numbers: "key=metric", or the metric's name */
	plen = strlen(ps->name);
	for (i = 0; i < (int)nsum; i++) {
		if ((metric = strchr(sum[i], '=')) != NULL) {
			(void)snprintf(k, sizeof(k), "%.*s",
			    (int)(metric - sum[i]), sum[i]);
			metric++;
		} else {
			metric = sum[i];
			if (strncmp(metric, ps->name, plen) == 0 &&
			    metric[plen] == '_')
				(void)strlcpy(k, metric + plen + 1, sizeof(k));
			else
				(void)strlcpy(k, metric, sizeof(k));
		}
		mp_pack_str(&o->pk, k);
		if (ctl_metric_sum(st->m, metric, &v) == -1)
			msgpack_pack_nil(&o->pk);
		else if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v)
			msgpack_pack_uint64(&o->pk, (uint64_t)v);
		else
			msgpack_pack_double(&o->pk, v);
	}
	mp_pack_str(&o->pk, "processes");
	msgpack_pack_array(&o->pk, nchildren);
	TAILQ_FOREACH(c, &ps->children, entry) {
		msgpack_pack_map(&o->pk, 6);
		mp_pack_kstr(&o->pk, "process", c->type->title);
		mp_pack_kuint(&o->pk, "instance", (uint64_t)c->instance);
		mp_pack_str(&o->pk, "pid");
		if (c->pid > 0)
			msgpack_pack_uint64(&o->pk, (uint64_t)c->pid);
		else
			msgpack_pack_nil(&o->pk);
		mp_pack_kstr(&o->pk, "state", c->pid <= 0 ? "restarting" :
		    st->asked[c->type->id][c->instance] == 1 ?
		    "not answering" : "running");
		mp_pack_kuint(&o->pk, "uptime", c->pid > 0 ?
		    (uint64_t)(now - c->started) : 0);
		mp_pack_kuint(&o->pk, "restarts", c->restarts);
	}
	if (control_send(req) == -1)
		control_end(req, "the summary does not fit a reply");
	else
		control_end(req, NULL);
}

static void
ctl_metrics_fin(struct control_req *req, unsigned int missing, void *arg)
{
	struct ctl_state	*st = control_req_state(req);
	struct mp_out		*o = control_out(req);
	struct evbuffer		*b;
	size_t			 first, n;

	if (st->kind == CTL_SUMMARY) {
		ctl_summary_fin(req, missing, arg);
		return;
	}
	if (st->kind == CTL_COUNTERS) {
		/* the parts' errors end the request, after the rows */
		for (first = 0; (n = metrics_pack_table(st->m, &o->pk, first,
		    CTL_TABLE_ROWS)) > 0; first += n)
			if (control_send(req) == -1)
				break;
		return;
	}
	/* a scrape is served with what came: a child restarting is absent */
	if ((b = evbuffer_new()) == NULL || metrics_write(st->m, b) == -1 ||
	    control_send_text(req, b) == -1)
		control_end(req, "show metrics: %s", strerror(errno));
	else
		control_end(req, NULL);
	if (b != NULL)
		evbuffer_free(b);
}

static void
ctl_gather(struct control_req *req, struct privsep *ps, enum ctl_kind kind)
{
	struct ctl_state	*st;
	struct mp_out		 m;
	unsigned int		 n;

	if ((st = ctl_state_new(ps, req, kind)) == NULL) {
		control_end(req, "out of memory");
		return;
	}
	proc_parent_metrics(ps, st->m);
	mp_out_init(&m);
	control_args_pack(&m.pk, "show metrics", 0, NULL);
	n = ctl_ask(ps, st, ctl_alltypes(ps), &m);
	mp_out_free(&m);
	control_expect(req, n, ctl_metrics_fin);
}

static void
ctl_summary(struct control_req *req, int argc, char **argv, void *arg)
{
	ctl_gather(req, arg, CTL_SUMMARY);
}

static void
ctl_metrics(struct control_req *req, int argc, char **argv, void *arg)
{
	ctl_gather(req, arg, strcmp(control_req_name(req), "show metrics") ==
	    0 ? CTL_METRICS : CTL_COUNTERS);
}

static void
ctl_reload_done(struct privsep *ps, const struct proc_reload *r, void *arg)
{
	struct control_req	*req;
	struct mp_out		*o;
	size_t			 i, n;

	if (ps->control == NULL || (req = control_req_find(ps->control,
	    (uint32_t)(uintptr_t)arg)) == NULL)
		return;
	o = control_out(req);
	for (i = 0; i < r->nchildren; i += n) {
		n = MINIMUM(r->nchildren - i, 256);
		msgpack_pack_array(&o->pk, n);
		for (; n > 0; n--, i++) {
			msgpack_pack_map(&o->pk, 4);
			mp_pack_kstr(&o->pk, "process", r->children[i].title);
			mp_pack_kuint(&o->pk, "instance",
			    (uint64_t)r->children[i].instance);
			mp_pack_kstr(&o->pk, "result",
			    ctl_reload_result(r->children[i].state));
			mp_pack_str(&o->pk, "error");
			if (r->children[i].reason[0] != '\0')
				mp_pack_str(&o->pk, r->children[i].reason);
			else
				msgpack_pack_nil(&o->pk);
		}
		n = 0;
		if (control_send(req) == -1)
			break;
	}
	if (r->ok)
		control_end(req, NULL);
	else
		control_end(req, "%s", r->error);
}

static void
ctl_reload(struct control_req *req, int argc, char **argv, void *arg)
{
	struct privsep	*ps = arg;

	if (proc_reload(ps, ctl_reload_done,
	    (void *)(uintptr_t)control_req_id(req)) == -1) {
		if (errno == EBUSY)
			control_end(req, "a reload is already under way");
		else
			control_end(req, "%s", ps->reload.error);
		return;
	}
	/* the round has PROC_CFG_WAIT seconds, the answer a little more */
	control_req_set_timeout(req, PROC_CFG_WAIT + 5);
}

static void
ctl_log(struct control_req *req, int argc, char **argv, void *arg)
{
	struct privsep		*ps = arg;
	struct ctl_state	*st;
	struct mp_out		 m;
	unsigned int		 n;
	int			 v;

	if (strcmp(argv[0], "verbose") == 0)
		v = MAXIMUM(log_getverbose(), 1);
	else if (strcmp(argv[0], "brief") == 0)
		v = 0;
	else {
		control_end(req, "usage: log verbose | brief");
		return;
	}
	log_setverbose(v);
	ps->verbose = v;		/* and for children restarted later */
	log_info("log level: %s", v > 0 ? "verbose" : "brief");
	if ((st = ctl_state_new(ps, req, CTL_LOG)) == NULL) {
		control_end(req, "out of memory");
		return;
	}
	mp_out_init(&m);
	control_req_pack(req, &m.pk);
	n = ctl_ask(ps, st, ctl_alltypes(ps), &m);
	mp_out_free(&m);
	control_expect(req, n, NULL);
}

/* No child sent a row: the answer is an empty list, not nothing. */
static void
ctl_relay_fin(struct control_req *req, unsigned int missing, void *arg)
{
	struct ctl_state	*st = control_req_state(req);

	if (st->ndata == 0) {
		msgpack_pack_array(&control_out(req)->pk, 0);
		(void)control_send(req);
	}
}

static void
ctl_forward(struct control_req *req, int argc, char **argv, void *arg)
{
	struct privsep			*ps = arg;
	const struct proc_daemon	*d = ps->daemon;
	const char			*name = control_req_name(req);
	struct ctl_state		*st;
	struct mp_out			 m;
	unsigned int			 n;
	size_t				 i;

	for (i = 0; i < d->nctlcmds; i++)
		if (strcmp(d->ctlcmds[i].name, name) == 0)
			break;
	if (i == d->nctlcmds) {
		control_end(req, "%s: not here", name);
		return;
	}
	if ((st = ctl_state_new(ps, req, CTL_RELAY)) == NULL) {
		control_end(req, "out of memory");
		return;
	}
	mp_out_init(&m);
	control_req_pack(req, &m.pk);
	n = ctl_ask(ps, st, d->ctlcmds[i].types, &m);
	mp_out_free(&m);
	control_expect(req, n, ctl_relay_fin);
}

/* The request a child's answer belongs to, if it was asked and is due. */
static struct ctl_state *
ctl_answering(struct privsep *ps, struct proc_child *c, struct frame *f,
    struct control_req **reqp)
{
	struct control_req	*req;
	struct ctl_state	*st;

	if (ps->control == NULL ||
	    (req = control_req_find(ps->control, f->hdr.ref)) == NULL ||
	    (st = control_req_state(req)) == NULL ||
	    st->asked[c->type->id][c->instance] != 1)
		return (NULL);
	*reqp = req;
	return (st);
}

static void
ctl_data(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	struct control_req	*req;
	struct ctl_state	*st;
	struct mp_doc		 d;
	const char		*why;

	if ((st = ctl_answering(ps, c, f, &req)) == NULL)
		return;		/* the request is over, or was not its */
	switch (st->kind) {
	case CTL_RELAY:
		if (control_relay(req, f->data, f->len) == 0)
			st->ndata++;
		break;
	case CTL_METRICS:
	case CTL_COUNTERS:
	case CTL_SUMMARY:
		if (mp_parse(&d, f->data, f->len) == -1)
			why = "not msgpack";
		else if (metrics_merge(st->m, d.root, NULL, 0, &why) == 0)
			why = NULL;
		mp_free(&d);
		if (why != NULL)
			log_limited(&ctl_limit, "control: metrics of %s %d: "
			    "%s", c->type->title, c->instance, why);
		break;
	case CTL_LOG:
		break;
	}
}

static void
ctl_end(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	struct control_req	*req;
	struct ctl_state	*st;
	char			 who[64];

	if ((st = ctl_answering(ps, c, f, &req)) == NULL)
		return;
	st->asked[c->type->id][c->instance] = 2;
	ctl_who(c, who, sizeof(who));
	(void)control_part_end(req, who, f->data, f->len);
}

static void
ctl_exec_done(const struct control_result *res, void *arg)
{
	struct ctl_exec		*x = arg;
	struct proc_child	*c;
	msgpack_unpacked	 u;
	struct mp_out		 m;
	const char		*p;
	size_t			 len, off = 0, start;

	c = proc_child_find(x->ps, x->id, x->instance);
	if (c == NULL || c->pid != x->pid || c->chan.chan == NULL) {
		free(x);
		return;		/* it asked, died and is another one now */
	}
	if (res->ok && (len = evbuffer_get_length(res->data)) > 0) {
		p = (const char *)evbuffer_pullup(res->data, -1);
		msgpack_unpacked_init(&u);
		while (p != NULL && off < len) {
			start = off;
			if (msgpack_unpack_next(&u, p, len, &off) !=
			    MSGPACK_UNPACK_SUCCESS)
				break;
			(void)chan_send(c->chan.chan, IMSG_CTL_DATA, x->ref,
			    -1, p + start, off - start);
		}
		msgpack_unpacked_destroy(&u);
	}
	mp_out_init(&m);
	control_end_pack(&m.pk, res->ok ? NULL : res->error);
	(void)proc_child_send(c, IMSG_CTL_END, x->ref, -1, &m);
	mp_out_free(&m);
	free(x);
}

/* The metrics child scrapes: show metrics, nothing else. */
static void
ctl_exec(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	struct control_args	 a;
	struct ctl_exec		*x;
	struct mp_out		 m;
	const char		*why = NULL;

	if (c->type->id != ps->daemon->metrics_type)
		why = "not allowed";
	else if (control_args_parse(&a, f->data, f->len, &why) == -1)
		;
	else if (strcmp(a.cmd, "show metrics") != 0 || a.argc != 0)
		why = "only show metrics";
	else if (ps->control == NULL)
		why = "shutting down";
	else if ((x = calloc(1, sizeof(*x))) == NULL)
		why = "out of memory";
	else {
		x->ps = ps;
		x->id = c->type->id;
		x->instance = c->instance;
		x->pid = c->pid;
		x->ref = f->hdr.ref;
		if (control_exec(ps->control, a.cmd, 0, NULL, ctl_exec_done,
		    x) == 0)
			return;
		free(x);
		why = "busy";
	}
	log_limited(&ctl_limit, "control: request from %s %d refused: %s",
	    c->type->title, c->instance, why);
	mp_out_init(&m);
	control_end_pack(&m.pk, why);
	(void)proc_child_send(c, IMSG_CTL_END, f->hdr.ref, -1, &m);
	mp_out_free(&m);
}

static int
proc_ops_dispatch(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_CTL_DATA:
		ctl_data(ps, c, f);
		return (1);
	case IMSG_CTL_END:
		ctl_end(ps, c, f);
		return (1);
	case IMSG_CTL_EXEC:
		ctl_exec(ps, c, f);
		return (1);
	}
	return (0);
}

/* A child died: the requests that wait for it have its answer. */
static void
proc_ops_lost(struct privsep *ps, struct proc_child *c)
{
	struct ctl_state	*st;
	struct control_req	*req;
	uint32_t		 ids[CONTROL_MAXCLIENTS + CONTROL_MAXEXEC];
	size_t			 n = 0, i;
	char			 who[64];

	TAILQ_FOREACH(st, &ctl_states, entry)
		if (st->asked[c->type->id][c->instance] == 1 &&
		    n < nitems(ids)) {
			st->asked[c->type->id][c->instance] = 2;
			ids[n++] = st->id;
		}
	ctl_who(c, who, sizeof(who));
	/* an answer may end a request and free its state: by id */
	for (i = 0; i < n; i++)
		if (ps->control != NULL &&
		    (req = control_req_find(ps->control, ids[i])) != NULL)
			(void)control_part_done(req, who, "died");
}

static void
proc_ops_open(struct privsep *ps)
{
	const struct proc_daemon	*d = ps->daemon;
	struct proc_ctlconf		*cf = NULL;
	struct control_conf		 cc;
	char				 a[NET_ADDRSTRLEN];
	const char			*why;
	size_t				 n = 0, i;
	int				 fd;

	if (nitems(ctl_generic) + d->nctlcmds > CTL_NCMDS)
		fatalx("%s: too many control commands", __func__);
	for (i = 0; i < nitems(ctl_generic); i++)
		ctl_cmds[n++] = ctl_generic[i];
	for (i = 0; i < d->nctlcmds; i++, n++) {
		ctl_cmds[n].name = d->ctlcmds[i].name;
		ctl_cmds[n].minargs = d->ctlcmds[i].minargs;
		ctl_cmds[n].maxargs = d->ctlcmds[i].maxargs;
		ctl_cmds[n].usage = d->ctlcmds[i].usage;
		ctl_cmds[n].fn = ctl_forward;
	}
	if (d->ctlconf != NULL)
		cf = d->ctlconf(ps->conf);
	control_conf_init(&cc, ps->name);
	if (cf != NULL && cf->socket[0] != '\0')
		(void)strlcpy(cc.path, cf->socket, sizeof(cc.path));
	if (cf != NULL && cf->group[0] != '\0')
		cc.group = cf->gid;
	if ((ps->control = control_new(ps->base, &cc, ctl_cmds, n, ps)) ==
	    NULL)
		fatal("%s: control", __func__);
	if (control_open(ps->control, &why) == -1) {
		/* the default path is root's; a test or demo user goes on */
		if (!ps->unprivileged || (cf != NULL && cf->socket[0] != '\0'))
			fatalx("control socket: %s", why);
		log_warnx("control socket: %s; running without one", why);
	}
	for (i = 0; cf != NULL && i < (size_t)cf->nmetrics; i++) {
		if ((fd = net_listen(&cf->metrics[i], 16, 0)) == -1)
			fatal("metrics listen on %s", net_addrstr(
			    &cf->metrics[i], a, sizeof(a)));
		ps->metrics_fd[ps->nmetrics_fd++] = fd;
	}
	if (ps->nmetrics_fd > 0 && d->metrics_type <= 0)
		fatalx("%s serves no metrics", ps->name);
}

/* The metrics child gets the listening sockets whenever it starts. */
static void
proc_ops_send(struct privsep *ps, struct proc_child *c)
{
	struct proc_ctlconf	*cf;
	struct mp_out		 m;
	char			 a[NET_ADDRSTRLEN];
	int			 i, fd;

	if (c->type->id != ps->daemon->metrics_type || c->instance != 0 ||
	    ps->daemon->ctlconf == NULL)
		return;
	cf = ps->daemon->ctlconf(ps->conf);
	mp_out_init(&m);
	for (i = 0; i < ps->nmetrics_fd; i++) {
		if ((fd = dup(ps->metrics_fd[i])) == -1) {
			log_warn("%s: dup", __func__);
			continue;
		}
		mp_out_reset(&m);
		msgpack_pack_map(&m.pk, 1);
		mp_pack_kstr(&m.pk, "addr", i < cf->nmetrics ?
		    net_addrstr(&cf->metrics[i], a, sizeof(a)) : "?");
		if (proc_child_send(c, IMSG_PROC_METRICS, 0, fd, &m) == -1)
			log_warn("%s: %s", __func__, c->type->title);
	}
	mp_out_free(&m);
}

/* What only a restart changes: the socket, its group, metrics listen. */
static void
proc_ops_keep(struct privsep *ps, void *nconf)
{
	const struct proc_daemon	*d = ps->daemon;
	struct proc_ctlconf		*o, *n;

	if (d->ctlconf == NULL)
		return;
	o = d->ctlconf(ps->conf);
	n = d->ctlconf(nconf);
	if (proc_ctlconf_same(o, n))
		return;
	log_warnx("control socket, control group and metrics listen on "
	    "changes need a restart; keeping the old ones");
	*n = *o;
}

/*
 * A child: answers to the parent, and the /metrics listener.
 */

struct proc_scrape {
	TAILQ_ENTRY(proc_scrape) entry;
	uint32_t		 id;
	struct metrics_http_req	*h;
	struct evbuffer		*text;
	int			 bad;
};
TAILQ_HEAD(proc_scrapes, proc_scrape);

#define PROC_SCRAPES_MAX	64
#define PROC_SCRAPE_MAXLEN	(16 * 1024 * 1024)

static struct proc_scrapes	 scrapes = TAILQ_HEAD_INITIALIZER(scrapes);
static unsigned int		 nscrapes;
static uint32_t			 scrape_id;

int
proc_ctl_data(struct privsep *ps, uint32_t ref, const struct mp_out *m)
{
	if (m->sb.size == 0 || m->sb.size > CONTROL_CHUNKMAX) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (ps->parent.chan == NULL) {
		errno = ENOTCONN;
		return (-1);
	}
	return (chan_send(ps->parent.chan, IMSG_CTL_DATA, ref, -1, m->sb.data,
	    m->sb.size));
}

void
proc_rows_init(struct proc_rows *r, struct privsep *ps, uint32_t ref)
{
	memset(r, 0, sizeof(*r));
	r->ps = ps;
	r->ref = ref;
	mp_out_init(&r->out);
}

static void
proc_rows_flush(struct proc_rows *r)
{
	struct mp_out	 m;

	if (r->n == 0)
		return;
	mp_out_init(&m);
	msgpack_pack_array(&m.pk, r->n);
	msgpack_sbuffer_write(&m.sb, r->out.sb.data, r->out.sb.size);
	if (proc_ctl_data(r->ps, r->ref, &m) == -1)
		r->error = 1;
	mp_out_free(&m);
	mp_out_reset(&r->out);
	r->n = 0;
}

msgpack_packer *
proc_rows_add(struct proc_rows *r)
{
	/* a row is small: half a reply leaves room for the next */
	if (r->out.sb.size > CONTROL_CHUNKMAX / 2)
		proc_rows_flush(r);
	r->n++;
	return (&r->out.pk);
}

int
proc_rows_end(struct proc_rows *r)
{
	proc_rows_flush(r);
	mp_out_free(&r->out);
	return (r->error ? -1 : 0);
}

static int
proc_child_metrics(struct privsep *ps, const struct proc_type *self,
    uint32_t ref, char *why, size_t whylen)
{
	struct metrics	*m;
	struct mp_out	 o;
	int		 rv = 0;

	if ((m = metrics_new()) == NULL) {
		(void)strlcpy(why, "out of memory", whylen);
		return (-1);
	}
	if (self->metrics != NULL)
		self->metrics(ps, m);
	mp_out_init(&o);
	metrics_pack(m, &o.pk);
	if (proc_ctl_data(ps, ref, &o) == -1) {
		(void)snprintf(why, whylen, "metrics: %s", strerror(errno));
		rv = -1;
	}
	mp_out_free(&o);
	metrics_free(m);
	return (rv);
}

/* A request from the parent: answer it, always with an end. */
static void
proc_child_ctl(struct privsep *ps, const struct proc_type *self,
    struct frame *f)
{
	struct control_args	 a;
	struct mp_out		 m;
	char			 why[CONTROL_ERRMAX] = "";
	const char		*e;
	int			 rv = 0;

	if (control_args_parse(&a, f->data, f->len, &e) == -1) {
		log_warnx("%s: bad request from the parent: %s", __func__, e);
		(void)strlcpy(why, e, sizeof(why));
		rv = -1;
	} else if (strcmp(a.cmd, "log") == 0 && a.argc == 1 &&
	    strcmp(a.argv[0], "verbose") == 0)
		log_setverbose(MAXIMUM(log_getverbose(), 1));
	else if (strcmp(a.cmd, "log") == 0 && a.argc == 1 &&
	    strcmp(a.argv[0], "brief") == 0)
		log_setverbose(0);
	else if (strcmp(a.cmd, "log") == 0) {
		(void)strlcpy(why, "usage: log verbose | brief", sizeof(why));
		rv = -1;
	} else if (strcmp(a.cmd, "show metrics") == 0)
		rv = proc_child_metrics(ps, self, f->hdr.ref, why,
		    sizeof(why));
	else if (self->control != NULL)
		rv = self->control(ps, f->hdr.ref, a.cmd, a.argc, a.argv, why,
		    sizeof(why));
	if (rv == -1 && why[0] == '\0')
		(void)strlcpy(why, "failed", sizeof(why));
	mp_out_init(&m);
	control_end_pack(&m.pk, rv == -1 ? why : NULL);
	if (proc_chan_send(&ps->parent, IMSG_CTL_END, f->hdr.ref, -1, &m) ==
	    -1)
		log_warn("%s: answer", __func__);
	mp_out_free(&m);
}

static struct proc_scrape *
scrape_find(uint32_t id)
{
	struct proc_scrape	*s;

	TAILQ_FOREACH(s, &scrapes, entry)
		if (s->id == id)
			return (s);
	return (NULL);
}

static void
scrape_free(struct proc_scrape *s)
{
	TAILQ_REMOVE(&scrapes, s, entry);
	nscrapes--;
	evbuffer_free(s->text);
	free(s);
}

/* GET /metrics: ask the parent, answer when it has. */
static void
proc_scrape(struct metrics_http_req *h, void *arg)
{
	struct privsep		*ps = arg;
	struct proc_scrape	*s;
	struct mp_out		 m;

	if (nscrapes >= PROC_SCRAPES_MAX || (s = calloc(1,
	    sizeof(*s))) == NULL) {
		metrics_http_done(h, NULL);
		return;
	}
	if ((s->text = evbuffer_new()) == NULL) {
		free(s);
		metrics_http_done(h, NULL);
		return;
	}
	do {
		s->id = ++scrape_id;
	} while (s->id == 0 || scrape_find(s->id) != NULL);
	s->h = h;
	TAILQ_INSERT_TAIL(&scrapes, s, entry);
	nscrapes++;
	mp_out_init(&m);
	control_args_pack(&m.pk, "show metrics", 0, NULL);
	if (proc_chan_send(&ps->parent, IMSG_CTL_EXEC, s->id, -1, &m) == -1) {
		metrics_http_done(h, NULL);
		scrape_free(s);
	}
	mp_out_free(&m);
}

static void
proc_scrape_answer(struct frame *f)
{
	struct proc_scrape	*s;
	struct mp_doc		 d;
	int			 ok = 0;

	if ((s = scrape_find(f->hdr.ref)) == NULL)
		return;
	if (mp_parse(&d, f->data, f->len) == -1) {
		s->bad = 1;
		mp_free(&d);
		if (f->hdr.type == IMSG_CTL_DATA)
			return;
	} else if (f->hdr.type == IMSG_CTL_DATA) {
		if (d.root->type != MSGPACK_OBJECT_STR ||
		    evbuffer_get_length(s->text) + d.root->via.str.size >
		    PROC_SCRAPE_MAXLEN || evbuffer_add(s->text,
		    d.root->via.str.ptr, d.root->via.str.size) == -1)
			s->bad = 1;
		mp_free(&d);
		return;
	} else {
		if (mp_map_bool(d.root, "ok", &ok) == -1)
			ok = 0;
		mp_free(&d);
	}
	metrics_http_done(s->h, ok && !s->bad ? s->text : NULL);
	scrape_free(s);
}

static void
proc_metrics_listen(struct privsep *ps, struct frame *f)
{
	struct metrics_http	*mh;
	struct mp_doc		 d;
	char			 addr[NET_ADDRSTRLEN] = "?";

	if (f->fd == -1) {
		log_warnx("%s: no socket", __func__);
		return;
	}
	if (mp_parse(&d, f->data, f->len) == 0)
		(void)mp_map_str(d.root, "addr", addr, sizeof(addr));
	mp_free(&d);
	if ((mh = metrics_http_new(ps->base, f->fd, proc_scrape, ps)) ==
	    NULL) {
		log_warn("metrics listen on %s", addr);
		return;
	}
	f->fd = -1;		/* the listener's now, for the child's life */
	log_debug("metrics on %s", addr);
}

static void
proc_ops_child(struct privsep *ps, const struct proc_type *self,
    struct frame *f)
{
	switch (f->hdr.type) {
	case IMSG_PROC_METRICS:
		proc_metrics_listen(ps, f);
		break;
	case IMSG_CTL_REQUEST:
		proc_child_ctl(ps, self, f);
		break;
	case IMSG_CTL_DATA:
	case IMSG_CTL_END:
		proc_scrape_answer(f);
		break;
	}
}
