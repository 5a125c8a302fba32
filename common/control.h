/*
 * control.h: the control socket of a daemon, and the client side of its
 * protocol (epsctl).
 *
 * The server runs in the daemon's parent: root, not chrooted, talking to
 * its children over proc channels.  It listens on a Unix stream socket
 * (/run/<daemon>.ctl by default), mode 0600, or 0660 and owned by a
 * group the configuration names: who may open the socket may use every
 * command.
 *
 * The protocol is frames (frame.h) with msgpack payloads; a reply frame
 * carries the ref of the request it answers:
 *
 *	CONTROL_REQUEST	client -> daemon	{cmd: str, args: [str, ...]}
 *	CONTROL_REPLY	daemon -> client	{ok: true, data: any}
 *			zero or more of them: the data of the answer,
 *			which the client puts together (control_reply_data)
 *	CONTROL_END	daemon -> client	{ok: bool, error: str}
 *			last: the outcome; error only when ok is false
 *
 * A client sends one request at a time and reads its answer up to
 * CONTROL_END; requests sent ahead wait.  Everything is bounded: the
 * clients at once, the size of a request, the time a client may stay
 * idle and the time a request may take.  A request that cannot be
 * understood gets a CONTROL_END with ok false and an error, and the
 * connection goes on; a frame that cannot be (too long, bad flags) gets
 * the same, and the connection is closed after it.
 *
 * Commands are the daemon's: a table of {name, args, handler}.  A name
 * may have several words ("show connections"); the request's cmd is the
 * whole name, its args what follows.  A handler answers at once or
 * later: it may keep the request (struct control_req) while it asks its
 * children, remember control_req_id(), and find the request again with
 * control_req_find() when an answer comes back; the request is gone
 * (NULL) if the client went away or the request timed out.
 *
 * Between the parent and a child the same request and answers travel
 * as IMSG_CTL_* frames (below) with the request's id in the ref; the
 * parent relays or merges what the children send and ends the request
 * once every child answered (control_expect(), control_part_end()).
 */

#ifndef CONTROL_H
#define CONTROL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "mp.h"

struct event_base;
struct evbuffer;
struct metrics_http_req;

#define CONTROL_DIR		"/run"
#define CONTROL_MAXCLIENTS	16
#define CONTROL_MAXREQUEST	4096	/* bytes of a request's payload */
#define CONTROL_CMDMAX		64	/* bytes of a command name */
#define CONTROL_ARGMAX		256	/* bytes of one argument */
#define CONTROL_MAXARGS		16
#define CONTROL_ERRMAX		1024	/* bytes of an error */
#define CONTROL_IDLE		30	/* seconds a client may do nothing */
#define CONTROL_TIMEOUT		10	/* seconds a request may take */
#define CONTROL_MAXEXEC		16	/* control_exec() requests at once */
/* queued for one client before it counts as gone */
#define CONTROL_OUTMAX		(32 * 1024 * 1024)
/* one data object: a reply frame must stay within FRAME_MAXLEN */
#define CONTROL_CHUNKMAX	(FRAME_MAXLEN - 64)
/* what a client accepts as one answer, all of its frames */
#define CONTROL_REPLYMAX	(64 * 1024 * 1024)

/* Frame types on the control socket. */
enum control_frame {
	CONTROL_REQUEST = 1,
	CONTROL_REPLY,
	CONTROL_END
};

/*
 * Frame types between the parent and its children, ref = the request's
 * id.  16..23 belong to epsclient.h; these are IMSG_SHARED + 8 on.
 */
enum control_imsg {
	IMSG_CTL_REQUEST = 24,	/* parent->child {cmd: str, args: [str]} */
	IMSG_CTL_DATA,		/* child->parent: one object, any type,
				   at most CONTROL_CHUNKMAX bytes */
	IMSG_CTL_END,		/* child->parent {ok: bool, error: str} */
	IMSG_CTL_EXEC		/* child->parent {cmd, args}, ref the
				   child's: run it as control_exec() does
				   and answer IMSG_CTL_DATA and IMSG_CTL_END
				   with that ref (a child serving /metrics) */
};

struct control;
struct control_req;

struct control_conf {
	char		 name[32];	/* the daemon, for messages */
	char		 path[108];	/* sizeof(sun_path) */
	gid_t		 group;		/* (gid_t)-1: mode 0600, else 0660 */
	unsigned int	 maxclients;
	size_t		 maxrequest;
	int		 idle;		/* seconds */
	int		 timeout;	/* seconds */
};

/*
 * A handler: argv[0..argc-1] are the words after the command's name,
 * valid until the request ends.  arg is control_new()'s.
 */
typedef void	(*control_fn)(struct control_req *, int argc, char **argv,
		    void *arg);

struct control_cmd {
	const char	*name;		/* "show connections" */
	int		 minargs;
	int		 maxargs;
	control_fn	 fn;
	const char	*usage;		/* the arguments, for errors */
};

/* Defaults for the daemon name: /run/name.ctl, 0600, the limits above. */
void		 control_conf_init(struct control_conf *, const char *name);

struct control	*control_new(struct event_base *, const struct control_conf *,
		    const struct control_cmd *, size_t ncmds, void *arg);
/*
 * Make the socket and listen: a stale socket is replaced, a live one
 * (another daemon answers) is an error, and so is anything else at the
 * path.  -1 with *why (errno set) on failure.
 */
int		 control_open(struct control *, const char **why);
/* End every request (their state is freed), close, remove the socket. */
void		 control_free(struct control *);

/*
 * The request.  Once it ends (control_end(), or its last part ended
 * with control_part_end(), or it timed out, or the client went away)
 * it is freed: drop the pointer, keep the id.
 */
uint32_t	 control_req_id(const struct control_req *);
struct control_req *control_req_find(struct control *, uint32_t id);
const char	*control_req_name(const struct control_req *);
/* The request as a child reads it, for IMSG_CTL_REQUEST: {cmd, args}. */
void		 control_req_pack(const struct control_req *,
		    msgpack_packer *);
/* The daemon's state for a request, freed with freefn when it ends. */
void		 control_req_set_state(struct control_req *, void *state,
		    void (*freefn)(void *));
void		*control_req_state(const struct control_req *);
/* Seconds from now within which it must end (default conf.timeout). */
void		 control_req_set_timeout(struct control_req *, int secs);

/*
 * Data: pack one object (a map, an array, a string...) into
 * control_out(), then control_send() it as one CONTROL_REPLY frame; the
 * buffer is then empty for the next.  Long lists go out as several
 * arrays, each within CONTROL_CHUNKMAX: the client joins them.  -1
 * (EMSGSIZE, ENOBUFS when the client reads too slowly, EPIPE when it is
 * gone) means: stop sending, end the request.
 */
struct mp_out	*control_out(struct control_req *);
int		 control_send(struct control_req *);
/* Text (show metrics) as strings of at most CONTROL_CHUNKMAX; drains it. */
int		 control_send_text(struct control_req *, struct evbuffer *);
/* Pass on a child's IMSG_CTL_DATA payload, checked, as it is. */
int		 control_relay(struct control_req *, const void *, size_t);
/* The end: fmt NULL for success, else the error, printf-style. */
void		 control_end(struct control_req *, const char *fmt, ...)
		    __attribute__((__format__ (printf, 2, 3)));

/*
 * Asking children.  control_expect(req, n, fin) says n parts (children)
 * are to answer; each IMSG_CTL_END that comes back goes to
 * control_part_end(req, who, payload, len), where who names the child
 * for errors ("listener 2").  When the last part has ended, or the
 * timeout passes first, fin(req, missing, arg) is called (missing: how
 * many never answered) to send what it gathered and end the request.
 * Without fin, or if fin does not end it, the request ends: ok if every
 * part was, else with the parts' errors ("listener 2: reason; 1 of 3
 * did not answer").  control_part_end() returns 1 when it ended the
 * request (the pointer is gone), 0 while parts are missing.
 */
typedef void	(*control_fin_fn)(struct control_req *, unsigned int missing,
		    void *arg);
void		 control_expect(struct control_req *, unsigned int nparts,
		    control_fin_fn);
int		 control_part_end(struct control_req *, const char *who,
		    const void *payload, size_t len);
/* The same with the outcome at hand: error NULL for success. */
int		 control_part_done(struct control_req *, const char *who,
		    const char *error);
/* The parts' errors so far, "" if none. */
const char	*control_req_errors(const struct control_req *);

/*
 * A request from inside the daemon, as if a client had sent it: done is
 * called once with the outcome, possibly before control_exec()
 * returns; r->data holds the data objects, one after the other.  -1 if
 * there is no such command or CONTROL_MAXEXEC are under way.
 */
struct control_result {
	int		 ok;
	const char	*error;
	struct evbuffer	*data;
};
typedef void	(*control_exec_fn)(const struct control_result *, void *arg);
int		 control_exec(struct control *, const char *cmd, int argc,
		    char **argv, control_exec_fn done, void *arg);
/*
 * The metrics listener's collect function (metrics.h), arg the struct
 * control: runs "show metrics" and serves the string(s) it answers.
 */
void		 control_metrics_collect(struct metrics_http_req *, void *arg);

/*
 * Both ends: a request's {cmd, args} read back, checked.  argv points
 * into the struct.  0, or -1 with *why.
 */
struct control_args {
	char		 cmd[CONTROL_CMDMAX];
	int		 argc;
	char		*argv[CONTROL_MAXARGS + 1];
	char		 buf[CONTROL_MAXARGS][CONTROL_ARGMAX];
};
int		 control_args_parse(struct control_args *, const void *,
		    size_t, const char **why);
void		 control_args_pack(msgpack_packer *, const char *cmd, int argc,
		    char **argv);
/* A child's IMSG_CTL_END payload: error NULL for success. */
void		 control_end_pack(msgpack_packer *, const char *error);

/*
 * The client.  control_request() appends a request frame to out.
 * control_reply_feed() takes the frames at the head of in: 1 once the
 * CONTROL_END is in, 0 while more is to come, -1 with *why when the
 * daemon's answer is not one; everything is bounded by CONTROL_REPLYMAX.
 */
struct control_reply {
	int		 done;
	int		 ok;
	char		 error[CONTROL_ERRMAX];
	struct evbuffer	*data;		/* the data objects, in a row */
	size_t		 nchunks;
	size_t		 total;
};
int		 control_request(struct evbuffer *out, uint32_t ref,
		    const char *cmd, int argc, char **argv);
int		 control_reply_init(struct control_reply *);
void		 control_reply_free(struct control_reply *);
int		 control_reply_feed(struct control_reply *, struct evbuffer *in,
		    uint32_t ref, const char **why);
/*
 * The data as one object into out: nothing is nil; several arrays are
 * one array, several strings one string; anything else, an array of
 * the objects.  -1 on ENOMEM.
 */
int		 control_reply_data(const struct control_reply *,
		    struct mp_out *);
/*
 * An object as JSON: strings escaped (control characters as \u00XX,
 * bytes that are no UTF-8 as U+FFFD), binary as a hex string, NaN and
 * the infinities as null, keys that are no strings as their JSON text.
 */
int		 control_json(const msgpack_object *, struct evbuffer *);

#endif /* CONTROL_H */
