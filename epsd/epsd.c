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
 * once; changing them needs a restart, and a reload says so.
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
	  .dispatch = session_dispatch, .chan_event = session_chan_event },
	{ .title = "router", .id = PROC_ROUTER, .talks_to = 1U << PROC_SESSION,
	  .init = router_init, .config = router_config,
	  .dispatch = router_dispatch, .chan_event = router_chan_event },
};

static struct epsd_conf	*conf;
static struct tlsutil_mem tlsmem;
static struct proc_opts	 opts = { .conffile = EPSD_CONF };
static int		 lfds[EPSD_MAXLISTEN];
static int		 nlfds;
static int		 sockfd = -1;
static char		 sockpath[PATH_MAX];	/* the socket we made */

/* Read the TLS files and check that libtls takes them. */
static int
load_tls(const struct epsd_conf *c, struct tlsutil_mem *m)
{
	const char	*paths[TLSUTIL_NFILES];
	char		 why[512];
	int		 which;

	paths[TLSUTIL_CERT] = c->tls_cert;
	paths[TLSUTIL_KEY] = c->tls_key;
	paths[TLSUTIL_CA] = c->tls_ca;
	if (tlsutil_load(m, paths, EPSD_TLSMAX, &which, why,
	    sizeof(why)) == -1) {
		log_warnx("tls %s \"%s\": %s", tlsutil_file_word(which),
		    paths[which], why);
		return (-1);
	}
	return (0);
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

/* One configuration round to one child (see proc.h). */
static void
configure(struct privsep *ps, struct proc_child *c)
{
	struct mp_out	 m;
	char		 a[NET_ADDRSTRLEN];
	int		 i;

	mp_out_init(&m);
	config_pack(conf, &m);
	if (proc_config_begin(c, &m) == -1)
		log_warn("%s: %s", __func__, c->type->title);
	mp_out_reset(&m);
	if (c->type->id == PROC_SESSION) {
		msgpack_pack_map(&m.pk, 3);
		mp_pack_kbin(&m.pk, "cert", tlsmem.cert, tlsmem.certlen);
		mp_pack_kbin(&m.pk, "key", tlsmem.key, tlsmem.keylen);
		mp_pack_kbin(&m.pk, "ca", tlsmem.ca, tlsmem.calen);
		if (proc_child_send(c, IMSG_CFG_TLS, 0, -1, &m) == -1)
			log_warn("%s: %s", __func__, c->type->title);
		explicit_bzero(m.sb.data, m.sb.size);
		mp_out_reset(&m);
		for (i = 0; i < nlfds; i++)
			send_fd(c, IMSG_CFG_LISTEN, lfds[i], "addr",
			    net_addrstr(&conf->listen[i], a, sizeof(a)));
	} else if (c->type->id == PROC_ROUTER)
		send_fd(c, IMSG_CFG_SOCKET, sockfd, "path", sockpath);
	if (proc_config_end(c) == -1)
		log_warn("%s: %s", __func__, c->type->title);
	mp_out_free(&m);
}

static void
reload(struct privsep *ps)
{
	struct epsd_conf	*nconf;
	struct tlsutil_mem	 nmem;
	struct proc_child	*c;

	log_info("reloading configuration from %s", opts.conffile);
	if ((nconf = parse_config(opts.conffile, opts.macros,
	    opts.nmacros)) == NULL) {
		log_warnx("configuration not reloaded: errors in %s",
		    opts.conffile);
		return;
	}
	if (load_tls(nconf, &nmem) == -1) {
		log_warnx("configuration not reloaded: bad TLS files");
		config_free(nconf);
		return;
	}
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
	config_free(conf);
	conf = nconf;
	tlsutil_mem_free(&tlsmem);
	tlsmem = nmem;
	TAILQ_FOREACH(c, &ps->children, entry)
		if (c->chan.chan != NULL)
			configure(ps, c);
	log_info("configuration reloaded");
}

static void
parent_dispatch(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    c->type->title);
}

static void
shutdown_parent(struct privsep *ps)
{
	if (sockpath[0] != '\0')
		(void)unlink(sockpath);
}

int
main(int argc, char *argv[], char *envp[])
{
	struct privsep	*ps = &epsd_ps;

	ps->name = "epsd";
	ps->types = procs;
	ps->ntypes = nitems(procs);
	proc_options(ps, argc, argv, envp, &opts);

	/* errors go to stderr until the configuration is known good */
	conf = parse_config(opts.conffile, opts.macros, opts.nmacros);
	if (conf != NULL && load_tls(conf, &tlsmem) == -1) {
		config_free(conf);
		conf = NULL;
	}
	if (opts.noaction)
		proc_checked(conf != NULL);
	if (conf == NULL)
		exit(1);

	proc_parent_init(ps, conf->user, conf->chroot);
	open_listeners(conf);
	open_socket(conf->socket);
	ps->configure = configure;
	ps->parent_dispatch = parent_dispatch;
	ps->on_reload = reload;
	ps->on_shutdown = shutdown_parent;
	proc_parent_start(ps, &opts);
	log_info("startup: operator %s, %d peer%s, %d listening address%s",
	    conf->operator, conf->npeers, conf->npeers == 1 ? "" : "s",
	    conf->nlisten, conf->nlisten == 1 ? "" : "es");
	event_base_dispatch(ps->base);
	return (0);
}
