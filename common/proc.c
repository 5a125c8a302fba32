/*
 * proc.c: fork, re-exec, privilege drop and supervision of children
 * (proc.h).  The daemon's process table is data; this file does the
 * rest for all three daemons.
 *
 * The parent re-executes /proc/self/exe so that a child always runs the
 * very binary its parent runs, even while a package upgrade replaces the
 * file; prctl(PR_SET_NAME) then gives the child its name back.
 *
 * A child that dies is logged and restarted after 1 s, doubling up to
 * 60 s while it keeps dying within 10 s of its start.
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

#define PROC_QUICKDEATH	10	/* seconds: a death sooner counts double */
#define PROC_MAXDELAY	60
#define PROC_STOPWAIT	3000	/* ms to wait for a child to stop */

static void	proc_start(struct privsep *);
static void	proc_spawn(struct privsep *, struct proc_child *);
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

/* A relayed connection holds six descriptors: two sockets, two pipes. */
#define PROC_FDS_PER_RELAY	6
#define PROC_FDS_SPARE		256	/* channels, listeners, pipe pool */

unsigned int
proc_max_relays(unsigned int configured, unsigned int dflt, const char *who)
{
	rlim_t			 have = proc_nofile();
	unsigned long long	 fit;

	if (have == RLIM_INFINITY)
		return (configured ? configured : dflt);
	fit = have > PROC_FDS_SPARE + PROC_FDS_PER_RELAY ?
	    (have - PROC_FDS_SPARE) / PROC_FDS_PER_RELAY : 1;
	if (configured == 0)
		return ((unsigned int)MINIMUM(fit, dflt));
	if (configured > fit)
		log_warnx("%u connections per %s need about %llu descriptors, "
		    "the limit is %llu: lower \"max connections\" or raise "
		    "the limit", configured, who, (unsigned long long)
		    configured * PROC_FDS_PER_RELAY + PROC_FDS_SPARE,
		    (unsigned long long)have);
	return (configured);
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

void
proc_options(struct privsep *ps, int argc, char *argv[], char *envp[],
    struct proc_opts *o)
{
	static char	 conffile[PATH_MAX];
	char		 cwd[PATH_MAX];
	const char	*title = NULL, *errstr;
	int		 ch, instance = 0;

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

void
proc_parent_start(struct privsep *ps, const struct proc_opts *o)
{
	log_init(o->debug, LOG_DAEMON);
	if (!o->debug && daemon(0, 0) == -1)
		fatal("daemon");
	if ((ps->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	proc_start(ps);
}

__dead void
proc_checked(int ok)
{
	if (!ok)
		exit(1);
	fprintf(stderr, "configuration OK\n");
	exit(0);
}

/*
 * Parent side.
 */

void
proc_parent_init(struct privsep *ps, const char *user, const char *root)
{
	struct passwd	*pw;
	struct stat	 st;

	ps->id = PROC_PARENT;
	TAILQ_INIT(&ps->children);
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

int
proc_config_begin(struct proc_child *c, struct mp_out *m)
{
	return (proc_child_send(c, IMSG_PROC_CFG, 0, -1, m));
}

int
proc_config_end(struct proc_child *c)
{
	return (proc_child_send(c, IMSG_PROC_CFG_DONE, 0, -1, NULL));
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

static void
proc_start(struct privsep *ps)
{
	static const int	 sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
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
	for (i = 0; i < (size_t)ps->ntypes; i++) {
		t = &ps->types[i];
		if (ps->instances[t->id] < 1)
			ps->instances[t->id] = 1;
		for (n = 0; n < ps->instances[t->id]; n++) {
			if ((c = calloc(1, sizeof(*c))) == NULL)
				fatal("%s", __func__);
			c->type = t;
			c->instance = n;
			c->pid = -1;
			c->chan.id = t->id;
			c->chan.instance = n;
			c->chan.ps = ps;
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
	 */
	if (ps->configure != NULL)
		ps->configure(ps, c);
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
	if (f->hdr.type == IMSG_PROC_RECONNECT) {
		proc_reconnect(ps, c, f);
		return;
	}
	if (ps->parent_dispatch != NULL)
		ps->parent_dispatch(ps, c, f);
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
		if (time(NULL) - c->started < PROC_QUICKDEATH)
			c->failures++;
		else
			c->failures = 0;
		delay = c->failures == 0 ? 1 : c->failures > 6 ?
		    PROC_MAXDELAY : 1 << (c->failures - 1);
		if (delay > PROC_MAXDELAY)
			delay = PROC_MAXDELAY;
		if (c->restart == NULL &&
		    (c->restart = evtimer_new(ps->base, proc_restart, c)) ==
		    NULL)
			fatal("%s: evtimer_new", __func__);
		tv.tv_sec = delay;
		tv.tv_usec = 0;
		evtimer_add(c->restart, &tv);
	}
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
	if (ps->on_shutdown != NULL)
		ps->on_shutdown(ps);
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
		if (ps->on_reload != NULL)
			ps->on_reload(ps);
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
		if (ps->cfg == NULL) {
			log_warnx("%s: configuration round without a "
			    "configuration", __func__);
			break;
		}
		if (self->config != NULL)
			self->config(ps, ps->cfg, ps->cfglen);
		free(ps->cfg);
		ps->cfg = NULL;
		ps->cfglen = 0;
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
