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

#include <event2/event.h>

#include "compat.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "splice.h"

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
 * while bytes are in flight.  The reserve is for channels, listening
 * sockets and connections not relayed yet: backchannels waiting for a
 * preamble or idle in a pool.
 */
#define PROC_FDS_PER_RELAY	2
#define PROC_FDS_PIPES		(2 * SPLICE_MAXPIPES)
#define PROC_FDS_RESERVE	1024
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
	fprintf(stderr, "usage: %s [-dnv] [-D macro=value] [-f file]\n",
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
	while ((ch = getopt(argc, argv, "dD:f:I:nP:v")) != -1) {
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

	log_init(ps->opts.debug, LOG_DAEMON);
	if (!ps->opts.debug && daemon(0, 0) == -1)
		fatal("daemon");
	if (proc_limit_line[0] != '\0')
		log_info("%s", proc_limit_line);
	if ((ps->base = event_base_new()) == NULL)
		fatalx("event_base_new");
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
	if ((nconf = d->conf_load(ps->opts.conffile, ps->opts.macros,
	    ps->opts.nmacros)) == NULL) {
		(void)snprintf(r->error, sizeof(r->error), "errors in %s",
		    ps->opts.conffile);
		log_warnx("configuration not reloaded: %s", r->error);
		r->finished = r->started;
		errno = EINVAL;
		return (-1);
	}
	d->conf_keep(ps, ps->conf, nconf);
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
	if (r->ok)
		log_info("configuration reloaded");
	else {
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
