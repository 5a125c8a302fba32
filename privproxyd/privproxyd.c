/*
 * privproxyd.c: main() and the parent process of the private proxy.
 *
 * The parent parses the configuration, starts the eps process and the
 * connectors, sends them the configuration, opens the connection to the
 * local epsd for the eps process whenever it asks, and supervises.  It opens
 * no TCP socket: the connectors dial out themselves, to addresses the
 * parent resolved.  common/proc.c is the parent; this file gives it the
 * process table, what a reload may change and which child answers which
 * control command (the eps process serves /metrics).
 */

#include <stdio.h>

#include <event2/event.h>

#include "compat.h"
#include "epsclient.h"
#include "log.h"
#include "privproxyd.h"

struct privsep		 privproxyd_ps;

/* The eps process stops first: it withdraws the names, then connectors go. */
static const struct proc_type procs[] = {
	{ .title = "eps", .id = PROC_EPS, .talks_to = 1U << PROC_CONNECTOR,
	  .init = eps_init, .config = eps_config,
	  .dispatch = eps_dispatch, .shutdown = eps_shutdown,
	  .chan_event = eps_chan_event, .metrics = eps_metrics },
	{ .title = "connector", .id = PROC_CONNECTOR,
	  .talks_to = 1U << PROC_EPS, .init = connector_init,
	  .config = connector_config, .dispatch = connector_dispatch,
	  .metrics = connector_metrics, .control = connector_control },
};

/* The commands the children answer, and who answers them. */
static const struct proc_ctlcmd ctlcmds[] = {
	{ "show connections", 1U << PROC_CONNECTOR, 0, 0, NULL },
	{ "show pools", 1U << PROC_CONNECTOR, 0, 0, NULL },
};

/* What show summary adds up from the metrics. */
static const char *const summary[] = {
	"privproxyd_connections_active",
	"privproxyd_connections_accepted_total",
	"privproxyd_connections_refused_total", "privproxyd_domains",
	"privproxyd_announced", "privproxyd_epsd_connected", NULL
};

static void *
load(const char *file, char **macros, int nmacros)
{
	return (parse_config(file, macros, nmacros));
}

static void
setup(struct privsep *ps, void *arg)
{
	struct privproxyd_conf	*conf = arg;

	ps->instances[PROC_CONNECTOR] = conf->prefork;
	proc_parent_init(ps, conf->user, conf->chroot);
	conf->max_conns = proc_max_relays(conf->max_conns, PP_MAX_CONNS,
	    "connector");
}

static void
keep(struct privsep *ps, const void *oarg, void *narg)
{
	const struct privproxyd_conf	*conf = oarg;
	struct privproxyd_conf		*nconf = narg;

	if (conf->prefork != nconf->prefork ||
	    strcmp(conf->user, nconf->user) != 0 ||
	    strcmp(conf->chroot, nconf->chroot) != 0) {
		log_warnx("prefork, user and chroot changes need a restart; "
		    "keeping the old ones");
		nconf->prefork = conf->prefork;
		(void)strlcpy(nconf->user, conf->user, sizeof(nconf->user));
		(void)strlcpy(nconf->chroot, conf->chroot,
		    sizeof(nconf->chroot));
	}
	nconf->max_conns = proc_max_relays(nconf->max_conns, PP_MAX_CONNS,
	    "connector");
}

static int
dispatch(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	const struct privproxyd_conf	*conf = ps->conf;

	return (c->type->id == PROC_EPS &&
	    epsclient_parent_dispatch(c, f, conf->eps_socket));
}

static struct proc_ctlconf *
ctlconf(void *arg)
{
	return (&((struct privproxyd_conf *)arg)->ctl);
}

static const struct proc_daemon privproxyd = {
	.name = "privproxyd", .conffile = PRIVPROXYD_CONF,
	.types = procs, .ntypes = nitems(procs),
	.settings = config_settings, .conf_load = load,
	.conf_new = config_new, .conf_free = config_free,
	.conf_setup = setup, .conf_keep = keep,
	.dispatch = dispatch,
	.ctlconf = ctlconf, .ctlcmds = ctlcmds, .nctlcmds = nitems(ctlcmds),
	.metrics_type = PROC_EPS, .summary = summary,
};

int
main(int argc, char *argv[], char *envp[])
{
	return (proc_main(&privproxyd_ps, &privproxyd, argc, argv, envp));
}
