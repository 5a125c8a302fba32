/*
 * epsd.c: main() and the parent process of the EPS server.
 *
 * The parent parses the configuration, reads the TLS certificate, key
 * and CA, resolves addresses, opens the local Unix socket and the TCP
 * sockets peers link to, then starts the session and router children and
 * sends each its share of the configuration: the session gets the TLS
 * files and the TCP sockets, the router the Unix socket.  It keeps all
 * of it, so that a child that dies is configured again when it comes
 * back, and it runs no network-facing code.
 *
 * SIGHUP re-reads the file and sends a new round: peers, their allow
 * lists, heartbeat, timeout and the TLS files may change.  The listen
 * addresses, the socket, the user and the chroot directory are set up
 * once; changing them needs a restart, and a reload says so.  The
 * parent reads the TLS files but leaves judging them to the session
 * process, which refuses a round whose certificate, key or CA libtls
 * does not take, and keeps the TLS context it had.  common/proc.c is the
 * parent; this file gives it the process table and what differs (the
 * session process answers show links and serves /metrics).
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>

#include <event2/event.h>
#include <tls.h>

#include "compat.h"
#include "epsd.h"
#include "log.h"
#include "tlsutil.h"

struct privsep		 epsd_ps;

static const struct proc_type procs[] = {
	{ .title = "session", .id = PROC_SESSION, .talks_to = 1U << PROC_ROUTER,
	  .init = session_init, .config = session_config,
	  .dispatch = session_dispatch, .chan_event = session_chan_event,
	  .metrics = session_metrics, .control = session_control },
	{ .title = "router", .id = PROC_ROUTER, .talks_to = 1U << PROC_SESSION,
	  .init = router_init, .config = router_config,
	  .dispatch = router_dispatch, .chan_event = router_chan_event,
	  .metrics = router_metrics },
};

/* The commands the children answer, and who answers them. */
static const struct proc_ctlcmd ctlcmds[] = {
	{ "show links", 1U << PROC_SESSION, 0, 0, NULL },
	{ "show connections", 1U << PROC_SESSION, 0, 0, NULL },
};

/* What show summary adds up from the metrics. */
static const char *const summary[] = {
	"epsd_peers", "links_up=epsd_link_up", "epsd_local_clients",
	"epsd_methods", "epsd_calls_active", NULL
};

static int		 lfds[EPSD_MAXLISTEN];
static int		 nlfds;
static int		 sockfd = -1;
static char		 sockpath[PATH_MAX];	/* the socket we made */

/*
 * Read the TLS files into c->tls for the session process.  The grammar
 * has already loaded them with libtls and said at which line what is
 * wrong; the session process loads them again, and refuses a round it
 * cannot apply.
 */
static int
load_tls(struct epsd_conf *c)
{
	struct tlsutil_mem	*m = &c->tls;

	memset(m, 0, sizeof(*m));
	if ((m->cert = tls_load_file(c->tls_cert, &m->certlen, NULL)) ==
	    NULL) {
		log_warnx("tls certificate %s: cannot load", c->tls_cert);
		goto fail;
	}
	if ((m->key = tls_load_file(c->tls_key, &m->keylen, NULL)) == NULL) {
		log_warnx("tls key %s: cannot load", c->tls_key);
		goto fail;
	}
	if ((m->ca = tls_load_file(c->tls_ca, &m->calen, NULL)) == NULL) {
		log_warnx("tls ca %s: cannot load", c->tls_ca);
		goto fail;
	}
	if (m->certlen + m->keylen + m->calen > EPSD_TLSMAX) {
		log_warnx("tls files too large: %zu bytes together, at most "
		    "%d", m->certlen + m->keylen + m->calen, EPSD_TLSMAX);
		goto fail;
	}
	return (0);
 fail:
	tlsutil_mem_free(m);
	return (-1);
}

/* The local socket: mode 0660, a stale one replaced, a live one kept. */
static void
open_socket(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			*dir, *copy;
	mode_t			 old;
	int			 fd;

	if ((copy = strdup(path)) == NULL)
		fatal("%s", __func__);
	dir = dirname(copy);
	if (stat(dir, &st) == -1) {
		if (errno != ENOENT || mkdir(dir, 0755) == -1)
			fatal("socket directory %s", dir);
		log_info("created socket directory %s", dir);
	}
	free(copy);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("%s exists and is not a socket", path);
		if ((fd = net_unix_connect(path)) != -1) {
			close(fd);
			fatalx("%s is in use: is another epsd running?", path);
		}
		if (unlink(path) == -1)
			fatal("unlink %s", path);
		log_debug("removed stale socket %s", path);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("socket path %s is too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	old = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	(void)umask(old);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (listen(fd, EPSD_BACKLOG) == -1)
		fatal("listen %s", path);
	sockfd = fd;
	(void)strlcpy(sockpath, path, sizeof(sockpath));
}

static void
open_listeners(const struct epsd_conf *c)
{
	char	 a[NET_ADDRSTRLEN];
	int	 i;

	for (i = 0; i < c->nlisten; i++) {
		if ((lfds[i] = net_listen(&c->listen[i], EPSD_BACKLOG, 0)) ==
		    -1)
			fatal("listen on %s", net_addrstr(&c->listen[i], a,
			    sizeof(a)));
		nlfds++;
	}
}

static void
send_fd(struct proc_child *c, uint16_t type, int fd, const char *key,
    const char *val)
{
	struct mp_out	 m;
	int		 dfd;

	if ((dfd = dup(fd)) == -1) {
		log_warn("%s: dup", __func__);
		return;
	}
	mp_out_init(&m);
	msgpack_pack_map(&m.pk, 1);
	mp_pack_kstr(&m.pk, key, val);
	if (proc_child_send(c, type, 0, dfd, &m) == -1)
		log_warn("%s: %s", __func__, c->type->title);
	mp_out_free(&m);
}

static void *
load(const char *file, char **macros, int nmacros)
{
	struct epsd_conf	*c;

	if ((c = parse_config(file, macros, nmacros)) != NULL &&
	    load_tls(c) == -1) {
		config_free(c);
		c = NULL;
	}
	return (c);
}

static void
setup(struct privsep *ps, void *arg)
{
	struct epsd_conf	*conf = arg;

	proc_parent_init(ps, conf->user, conf->chroot);
	open_listeners(conf);
	open_socket(conf->socket);
}

static void
keep(struct privsep *ps, const void *oarg, void *narg)
{
	const struct epsd_conf	*conf = oarg;
	struct epsd_conf	*nconf = narg;

	if (!config_same_listen(conf, nconf) ||
	    strcmp(conf->socket, nconf->socket) != 0 ||
	    strcmp(conf->user, nconf->user) != 0 ||
	    strcmp(conf->chroot, nconf->chroot) != 0) {
		log_warnx("listen, socket, user and chroot changes need a "
		    "restart; keeping the old ones");
		memcpy(nconf->listen, conf->listen, sizeof(nconf->listen));
		nconf->nlisten = conf->nlisten;
		(void)strlcpy(nconf->socket, conf->socket,
		    sizeof(nconf->socket));
		(void)strlcpy(nconf->user, conf->user, sizeof(nconf->user));
		(void)strlcpy(nconf->chroot, conf->chroot,
		    sizeof(nconf->chroot));
	}
	if (strcmp(conf->operator, nconf->operator) != 0)
		log_warnx("operator changed from %s to %s", conf->operator,
		    nconf->operator);
}

/*
 * The rest of a round (see proc.h): the session gets the TLS files and
 * the listening sockets, the router the local socket, every time.
 */
static void
send_round(struct privsep *ps, struct proc_child *c, const void *arg,
    int start)
{
	const struct epsd_conf	*conf = arg;
	const struct tlsutil_mem *t = &conf->tls;
	struct mp_out		 m;
	char			 a[NET_ADDRSTRLEN];
	int			 i;

	if (c->type->id == PROC_SESSION) {
		mp_out_init(&m);
		msgpack_pack_map(&m.pk, 3);
		mp_pack_kbin(&m.pk, "cert", t->cert, t->certlen);
		mp_pack_kbin(&m.pk, "key", t->key, t->keylen);
		mp_pack_kbin(&m.pk, "ca", t->ca, t->calen);
		if (proc_child_send(c, IMSG_CFG_TLS, 0, -1, &m) == -1)
			log_warn("%s: %s", __func__, c->type->title);
		explicit_bzero(m.sb.data, m.sb.size);
		mp_out_free(&m);
		for (i = 0; i < nlfds; i++)
			send_fd(c, IMSG_CFG_LISTEN, lfds[i], "addr",
			    net_addrstr(&conf->listen[i], a, sizeof(a)));
	} else if (c->type->id == PROC_ROUTER)
		send_fd(c, IMSG_CFG_SOCKET, sockfd, "path", sockpath);
}

static void
started(struct privsep *ps)
{
	const struct epsd_conf	*conf = ps->conf;

	log_info("startup: operator %s, %d peer%s, %d listening address%s",
	    conf->operator, conf->npeers, conf->npeers == 1 ? "" : "s",
	    conf->nlisten, conf->nlisten == 1 ? "" : "es");
}

static void
shutdown_parent(struct privsep *ps)
{
	if (sockpath[0] != '\0')
		(void)unlink(sockpath);
}

static struct proc_ctlconf *
ctlconf(void *arg)
{
	return (&((struct epsd_conf *)arg)->ctl);
}

/* The parent's numbers: which operator this is, how many peers. */
static void
parent_metrics(struct privsep *ps, struct metrics *m)
{
	const struct epsd_conf	*conf = ps->conf;
	struct metric_label	 l;

	l.name = "operator";
	l.value = conf->operator;
	if (metrics_declare(m, "epsd_operator", METRIC_GAUGE, "The operator "
	    "this server is, as a label; always 1.") == 0)
		(void)metrics_set(m, "epsd_operator", &l, 1, 1);
	if (metrics_declare(m, "epsd_peers", METRIC_GAUGE, "Peers "
	    "configured.") == 0)
		(void)metrics_set(m, "epsd_peers", NULL, 0, conf->npeers);
}

static const struct proc_daemon epsd = {
	.name = "epsd", .conffile = EPSD_CONF,
	.types = procs, .ntypes = nitems(procs),
	.settings = config_settings, .conf_load = load,
	.conf_new = config_new, .conf_free = config_free,
	.conf_setup = setup, .conf_keep = keep, .conf_send = send_round,
	.started = started, .shutdown = shutdown_parent,
	.ctlconf = ctlconf, .ctlcmds = ctlcmds, .nctlcmds = nitems(ctlcmds),
	.metrics_type = PROC_SESSION, .summary = summary,
	.metrics = parent_metrics,
};

int
main(int argc, char *argv[], char *envp[])
{
	return (proc_main(&epsd_ps, &epsd, argc, argv, envp));
}
