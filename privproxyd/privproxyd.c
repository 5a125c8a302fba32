/*
 * privproxyd.c: main() and the parent process of the private proxy.
 *
 * The parent parses the configuration, starts the eps process and the
 * connectors, sends them the configuration, opens the connection to the
 * local epsd for the eps process whenever it asks, and supervises.  It opens
 * no TCP socket: the connectors dial out themselves, to addresses the
 * parent resolved.
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
	  .chan_event = eps_chan_event },
	{ .title = "connector", .id = PROC_CONNECTOR,
	  .talks_to = 1U << PROC_EPS, .init = connector_init,
	  .config = connector_config, .dispatch = connector_dispatch },
};

static struct privproxyd_conf	*conf;
static struct proc_opts		 opts = { .conffile = PRIVPROXYD_CONF };

static void
send_config(struct proc_child *c)
{
	struct mp_out	 m;

	mp_out_init(&m);
	config_pack(conf, &m);
	if (proc_config_begin(c, &m) == -1 || proc_config_end(c) == -1)
		log_warn("%s: %s", __func__, c->type->title);
	mp_out_free(&m);
}

static void
configure(struct privsep *ps, struct proc_child *c)
{
	send_config(c);
}

static void
reload(struct privsep *ps)
{
	struct privproxyd_conf	*nconf;
	struct proc_child	*c;

	log_info("reloading configuration from %s", opts.conffile);
	if ((nconf = parse_config(opts.conffile, opts.macros,
	    opts.nmacros)) == NULL) {
		log_warnx("configuration not reloaded: errors in %s",
		    opts.conffile);
		return;
	}
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
	config_free(conf);
	conf = nconf;
	TAILQ_FOREACH(c, &ps->children, entry)
		if (c->chan.chan != NULL)
			send_config(c);
}

static void
parent_dispatch(struct privsep *ps, struct proc_child *c, struct frame *f)
{
	if (c->type->id == PROC_EPS &&
	    epsclient_parent_dispatch(c, f, conf->eps_socket))
		return;
	log_warnx("%s: unexpected message %u from %s", __func__, f->hdr.type,
	    c->type->title);
}

int
main(int argc, char *argv[], char *envp[])
{
	struct privsep	*ps = &privproxyd_ps;

	ps->name = "privproxyd";
	ps->types = procs;
	ps->ntypes = nitems(procs);
	proc_options(ps, argc, argv, envp, &opts);

	conf = parse_config(opts.conffile, opts.macros, opts.nmacros);
	if (opts.noaction)
		proc_checked(conf != NULL);
	if (conf == NULL)
		exit(1);
	ps->instances[PROC_CONNECTOR] = conf->prefork;
	proc_parent_init(ps, conf->user, conf->chroot);
	conf->max_conns = proc_max_relays(conf->max_conns, PP_MAX_CONNS,
	    "connector");
	ps->configure = configure;
	ps->parent_dispatch = parent_dispatch;
	ps->on_reload = reload;
	proc_parent_start(ps, &opts);
	log_info("startup: %d connector%s", conf->prefork,
	    conf->prefork == 1 ? "" : "s");
	event_base_dispatch(ps->base);
	return (0);
}
