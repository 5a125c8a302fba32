/*
 * proxyd.c: main() and the parent process of the public proxy.
 *
 * The parent parses the configuration, opens the public and backchannel
 * sockets (one SO_REUSEPORT socket per listener and address, so the
 * kernel spreads connections over the listeners), starts the children,
 * sends them their configuration, connects the eps process to the local
 * epsd whenever it asks, and supervises.  It runs no network-facing
 * code.  common/proc.c is the parent; this file gives it the process
 * table and what differs: the sockets, what a reload may change, and
 * which child answers which control command (the eps process serves
 * /metrics).
 */

#include <sys/stat.h>

#include <event2/event.h>

#include "compat.h"
#include "epsclient.h"
#include "log.h"
#include "proxyd.h"

struct privsep		 proxyd_ps;

static const struct proc_type procs[] = {
	{ .title = "listener", .id = PROC_LISTENER,
	  .talks_to = (1U << PROC_MATCHER) | (1U << PROC_LISTENER) |
	  (1U << PROC_EPS),
	  .init = listener_init,
	  .config = listener_config, .dispatch = listener_dispatch,
	  .metrics = listener_metrics,
	  .control = listener_control },
	{ .title = "matcher", .id = PROC_MATCHER,
	  .talks_to = (1U << PROC_LISTENER) | (1U << PROC_EPS),
	  .init = matcher_init, .config = matcher_config,
	  .dispatch = matcher_dispatch, .chan_event = matcher_chan_event,
	  .metrics = matcher_metrics, .control = matcher_control },
	{ .title = "eps", .id = PROC_EPS,
	  .talks_to = (1U << PROC_MATCHER) | (1U << PROC_LISTENER),
	  .init = eps_init, .config = eps_config,
	  .dispatch = eps_dispatch, .chan_event = eps_chan_event,
	  .metrics = eps_metrics },
};

/* The commands the children answer, and who answers them. */
static const struct proc_ctlcmd ctlcmds[] = {
	{ "show connections", 1U << PROC_LISTENER, 0, 0, NULL },
	{ "show announcements", 1U << PROC_MATCHER, 0, 0, NULL },
	{ "show routes", 1U << PROC_MATCHER, 0, 0, NULL },
	{ "show pools", 1U << PROC_LISTENER, 0, 0, NULL },
};

/* What show summary adds up from the metrics. */
static const char *const summary[] = {
	"proxyd_connections_active", "proxyd_connections_accepted_total",
	"proxyd_connections_refused_total", "proxyd_announcements",
	"proxyd_tokens_pending", "proxyd_epsd_connected", NULL
};

/* per listener instance: public sockets, then backchannel sockets */
static int		 lfds[PROC_INSTMAX][2 * PROXYD_MAXLISTEN];

/*
 * Each listener has its own SO_REUSEPORT socket per address.  The same
 * option would let a second proxyd share the port unnoticed, so first
 * make sure nobody listens there: a plain bind fails if anyone does.
 */
static void
probe(const struct net_addr *addrs, int n, const char *what)
{
	char	 a[NET_ADDRSTRLEN];
	int	 i, fd;

	for (i = 0; i < n; i++) {
		if ((fd = net_listen(&addrs[i], 1, 0)) == -1)
			fatal("%s on %s", what, net_addrstr(&addrs[i], a,
			    sizeof(a)));
		close(fd);
	}
}

static void
open_sockets(const struct proxyd_conf *conf)
{
	char	 a[NET_ADDRSTRLEN];
	int	 i, j, n;

	probe(conf->listen, conf->nlisten, "listen");
	probe(conf->backchannel, conf->nbackchannel, "backchannel");
	for (i = 0; i < conf->prefork; i++) {
		n = 0;
		for (j = 0; j < conf->nlisten; j++, n++)
			if ((lfds[i][n] = net_listen(&conf->listen[j],
			    PROXYD_BACKLOG, 1)) == -1)
				fatal("listen on %s", net_addrstr(
				    &conf->listen[j], a, sizeof(a)));
		for (j = 0; j < conf->nbackchannel; j++, n++)
			if ((lfds[i][n] = net_listen(&conf->backchannel[j],
			    PROXYD_BACKLOG, 1)) == -1)
				fatal("backchannel on %s", net_addrstr(
				    &conf->backchannel[j], a, sizeof(a)));
	}
}

static void *
load(const char *file, char **macros, int nmacros)
{
	return (parse_config(file, macros, nmacros));
}

static void
setup(struct privsep *ps, void *arg)
{
	struct proxyd_conf	*conf = arg;

	ps->instances[PROC_LISTENER] = conf->prefork;
	proc_parent_init(ps, conf->user, conf->chroot);
	conf->max_conns = proc_max_relays(conf->max_conns, PROXYD_MAX_CONNS,
	    "listener");
	open_sockets(conf);
}

static int
same_addrs(const struct net_addr *a, int na, const struct net_addr *b,
    int nb)
{
	int	 i;

	if (na != nb)
		return (0);
	for (i = 0; i < na; i++)
		if (a[i].len != b[i].len ||
		    memcmp(&a[i].ss, &b[i].ss, a[i].len) != 0)
			return (0);
	return (1);
}

static void
keep(struct privsep *ps, const void *oarg, void *narg)
{
	const struct proxyd_conf	*conf = oarg;
	struct proxyd_conf		*nconf = narg;

	if (!same_addrs(conf->listen, conf->nlisten, nconf->listen,
	    nconf->nlisten) || !same_addrs(conf->backchannel,
	    conf->nbackchannel, nconf->backchannel, nconf->nbackchannel) ||
	    conf->prefork != nconf->prefork ||
	    strcmp(conf->user, nconf->user) != 0 ||
	    strcmp(conf->chroot, nconf->chroot) != 0) {
		log_warnx("listen, backchannel, prefork, user and chroot "
		    "changes need a restart; keeping the old ones");
		memcpy(nconf->listen, conf->listen, sizeof(conf->listen));
		nconf->nlisten = conf->nlisten;
		memcpy(nconf->backchannel, conf->backchannel,
		    sizeof(conf->backchannel));
		nconf->nbackchannel = conf->nbackchannel;
		nconf->prefork = conf->prefork;
		(void)strlcpy(nconf->user, conf->user, sizeof(nconf->user));
		(void)strlcpy(nconf->chroot, conf->chroot,
		    sizeof(nconf->chroot));
	}
	nconf->max_conns = proc_max_relays(nconf->max_conns, PROXYD_MAX_CONNS,
	    "listener");
}

/* A listener's sockets, once, when it starts. */
static void
send_listeners(struct privsep *ps, struct proc_child *c, const void *arg,
    int start)
{
	const struct proxyd_conf	*conf = arg;
	struct mp_out			 m;
	int				 j, n, fd;

	if (!start || c->type->id != PROC_LISTENER)
		return;
	mp_out_init(&m);
	n = conf->nlisten + conf->nbackchannel;
	for (j = 0; j < n; j++) {
		if ((fd = dup(lfds[c->instance][j])) == -1) {
			log_warn("%s: dup", __func__);
			continue;
		}
		mp_out_reset(&m);
		msgpack_pack_map(&m.pk, 1);
		mp_pack_kstr(&m.pk, "kind", j < conf->nlisten ? "public" :
		    "backchannel");
		(void)proc_child_send(c, IMSG_CFG_LISTEN, 0, fd, &m);
	}
	mp_out_free(&m);
}

static int
dispatch(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	const struct proxyd_conf	*conf = ps->conf;

	return (c->type->id == PROC_EPS &&
	    epsclient_parent_dispatch(c, f, conf->eps_socket));
}

static struct proc_ctlconf *
ctlconf(void *arg)
{
	return (&((struct proxyd_conf *)arg)->ctl);
}

static const struct proc_daemon proxyd = {
	.name = "proxyd", .conffile = PROXYD_CONF,
	.types = procs, .ntypes = nitems(procs),
	.settings = config_settings, .conf_load = load,
	.conf_new = config_new, .conf_free = config_free,
	.conf_setup = setup, .conf_keep = keep, .conf_send = send_listeners,
	.dispatch = dispatch,
	.ctlconf = ctlconf, .ctlcmds = ctlcmds, .nctlcmds = nitems(ctlcmds),
	.metrics_type = PROC_EPS, .summary = summary,
};

int
main(int argc, char *argv[], char *envp[])
{
	return (proc_main(&proxyd_ps, &proxyd, argc, argv, envp));
}
