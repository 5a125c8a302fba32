/*
 * epsctl: the control program of proxyd, privproxyd and epsd.
 *
 * It sends one request over a daemon's control socket (common/control.h)
 * and prints the answer: for people as aligned columns, or as JSON with
 * -j.  The daemon decides what a command answers; this program only
 * knows which daemon has which command, how to put the pieces of an
 * answer together, and how to show a table, a map or a text.
 *
 * Shown for people: an array of maps is a table, its columns the keys
 * in the order they first appear; a map is "key: value" lines; a string
 * is printed as it is.  Values under the keys age, uptime, ttl, idle,
 * expires (and any key ending in _age) are seconds, shown as 12s,
 * 5m07s, 3h04m or 2d03h; nothing is a dash, booleans are yes and no.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "compat.h"
#include "control.h"
#include "metrics.h"
#include "mp.h"
#include "net.h"
#include "version.h"

#define EPSCTL_TIMEOUT	30	/* seconds for the whole exchange */
#define MAXCOLS		32

#define D_PROXYD	0x01
#define D_PRIVPROXYD	0x02
#define D_EPSD		0x04
#define D_ALL		(D_PROXYD | D_PRIVPROXYD | D_EPSD)

static const char *daemons[] = { "proxyd", "privproxyd", "epsd" };

static const char *log_levels[] = { "verbose", "brief", NULL };

struct ctl_cmd {
	const char	*name;		/* the words, as the daemon knows it */
	int		 daemons;
	int		 minargs;
	int		 maxargs;
	const char	**choices;	/* of the one argument, or NULL */
	const char	*usage;
	int		 verb;		/* says "name: ok" when nothing else */
	const char	*help;
};

static const struct ctl_cmd cmds[] = {
	{ "show summary", D_ALL, 0, 0, NULL, NULL, 0,
	    "the processes, their state and the configuration" },
	{ "show links", D_EPSD, 0, 0, NULL, NULL, 0,
	    "the TLS links to peers" },
	{ "show announcements", D_PROXYD, 0, 0, NULL, NULL, 0,
	    "the names announced, by whom, until when" },
	{ "show routes", D_PROXYD, 0, 0, NULL, NULL, 0,
	    "the route table: name to operator" },
	{ "show pools", D_PROXYD | D_PRIVPROXYD, 0, 0, NULL, NULL, 0,
	    "the pooled backchannels" },
	{ "show connections", D_ALL, 0, 0, NULL, NULL, 0,
	    "the connections: client, name, age, bytes each way" },
	{ "show counters", D_ALL, 0, 0, NULL, NULL, 0,
	    "the counters, for people" },
	{ "show metrics", D_ALL, 0, 0, NULL, NULL, 0,
	    "the counters in the Prometheus text format" },
	{ "reload", D_ALL, 0, 0, NULL, NULL, 1,
	    "read the configuration again; which processes applied it" },
	{ "log", D_ALL, 1, 1, log_levels, "verbose | brief", 1,
	    "log debug messages, or stop" },
};

static const char	*durations[] = {
	"age", "uptime", "ttl", "idle", "expires"
};

static int		 jflag;

static __dead void
usage(void)
{
	size_t	 i;

	fprintf(stderr, "usage: epsctl [-jV] [-s socket] [proxyd | privproxyd "
	    "| epsd] command [argument ...]\n");
	fprintf(stderr, "commands:\n");
	for (i = 0; i < nitems(cmds); i++)
		fprintf(stderr, "  %-20s %s\n", cmds[i].usage == NULL ?
		    cmds[i].name : "log verbose | brief", cmds[i].help);
	exit(1);
}

static __dead void
die(const char *fmt, ...)
    __attribute__((__format__ (printf, 1, 2)));

static __dead void
die(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fprintf(stderr, "epsctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static int
daemon_index(const char *s)
{
	size_t	 i;

	for (i = 0; i < nitems(daemons); i++)
		if (strcmp(s, daemons[i]) == 0)
			return ((int)i);
	return (-1);
}

static void
daemon_list(int mask, char *buf, size_t sz)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < nitems(daemons); i++) {
		if (!(mask & (1 << i)))
			continue;
		if (buf[0] != '\0')
			(void)strlcat(buf, ", ", sz);
		(void)strlcat(buf, daemons[i], sz);
	}
}

/* Does the word w (a prefix will do) match the next word of *name? */
static int
word_match(const char **name, const char *w)
{
	const char	*p = *name, *end;
	size_t		 len, wl = strlen(w);

	if ((end = strchr(p, ' ')) == NULL)
		end = p + strlen(p);
	len = (size_t)(end - p);
	if (wl == 0 || wl > len || strncmp(p, w, wl) != 0)
		return (0);
	*name = *end == ' ' ? end + 1 : end;
	return (wl == len ? 2 : 1);
}

/*
 * The command the words name: every word of a command's name matched
 * by the next word typed, a unique prefix being enough ("sh conn").
 */
static const struct ctl_cmd *
cmd_lookup(int argc, char **argv, int *used, int *partial)
{
	const struct ctl_cmd	*found = NULL, *exact = NULL;
	const char		*p;
	int			 i, m, n = 0, nexact = 0, all, r;

	*partial = 0;
	for (i = 0; i < (int)nitems(cmds); i++) {
		p = cmds[i].name;
		all = 1;
		for (m = 0; *p != '\0'; m++) {
			if (m >= argc || (r = word_match(&p, argv[m])) == 0)
				break;
			if (r == 1)
				all = 0;
		}
		if (*p != '\0') {
			if (m >= argc)
				(*partial)++;
			continue;
		}
		if (all) {
			exact = &cmds[i];
			nexact++;
		}
		found = &cmds[i];
		n++;
		*used = m;
	}
	if (nexact == 1) {
		for (p = exact->name, m = 0; *p != '\0'; m++)
			(void)word_match(&p, argv[m]);
		*used = m;
		return (exact);
	}
	if (n > 1) {
		fprintf(stderr, "epsctl: ambiguous command:");
		for (i = 0; i < argc; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
		usage();
	}
	return (found);
}

/*
 * Connecting, with the reasons people need when it does not work.
 */

static int
connect_socket(const char *path, const char *who)
{
	struct stat	 st;
	struct group	*gr;
	char		 grp[64];
	int		 fd;

	if ((fd = net_unix_connect(path)) != -1)
		return (fd);
	switch (errno) {
	case ENOENT:
		die("%s is not running (no socket %s)", who, path);
	case ECONNREFUSED:
		die("%s is not running (stale socket %s)", who, path);
	case EAGAIN:
		die("%s is busy (%s): try again", who, path);
	case EACCES:
	case EPERM:
		if (stat(path, &st) == 0 && st.st_gid != 0 &&
		    (st.st_mode & 0060) == 0060) {
			if ((gr = getgrgid(st.st_gid)) != NULL)
				(void)strlcpy(grp, gr->gr_name, sizeof(grp));
			else
				(void)snprintf(grp, sizeof(grp), "%u",
				    (unsigned int)st.st_gid);
			die("%s: permission denied: run as root or as a "
			    "member of group %s", path, grp);
		}
		die("%s: permission denied: run as root", path);
	default:
		die("%s: %s", path, strerror(errno));
	}
}

static int
wait_fd(int fd, short events, time_t deadline)
{
	struct pollfd	 pfd;
	time_t		 now;
	int		 n;

	for (;;) {
		now = time(NULL);
		if (now >= deadline)
			return (0);
		pfd.fd = fd;
		pfd.events = events;
		n = poll(&pfd, 1, (int)(deadline - now) * 1000);
		if (n == -1 && errno == EINTR)
			continue;
		return (n);
	}
}

static void
exchange(int fd, const char *who, const struct ctl_cmd *cmd, int argc,
    char **argv, struct control_reply *reply)
{
	struct evbuffer	*out, *in;
	const char	*why;
	time_t		 deadline = time(NULL) + EPSCTL_TIMEOUT;
	int		 n;

	if ((out = evbuffer_new()) == NULL || (in = evbuffer_new()) == NULL)
		die("out of memory");
	if (control_request(out, 1, cmd->name, argc, argv) == -1)
		die("%s: the request is too long", cmd->name);
	while (evbuffer_get_length(out) > 0) {
		if (wait_fd(fd, POLLOUT, deadline) <= 0)
			die("%s does not take the request", who);
		if (evbuffer_write(out, fd) == -1 && errno != EAGAIN &&
		    errno != EINTR)
			die("%s: %s", who, strerror(errno));
	}
	for (;;) {
		if ((n = control_reply_feed(reply, in, 1, &why)) == 1)
			break;
		if (n == -1)
			die("%s: %s", who, why);
		if ((n = wait_fd(fd, POLLIN, deadline)) == 0)
			die("%s did not answer within %d seconds", who,
			    EPSCTL_TIMEOUT);
		if (n == -1)
			die("poll: %s", strerror(errno));
		n = evbuffer_read(in, fd, 65536);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == -1)
			die("%s: %s", who, strerror(errno));
		if (n == 0)
			die("%s closed the connection before it answered",
			    who);
	}
	evbuffer_free(out);
	evbuffer_free(in);
}

/*
 * Output for people.
 */

/* Text from the daemon, made safe for a terminal. */
static void
put_text(FILE *fp, const char *s, size_t len, int keepnl)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c < 0x20 && !(keepnl && (c == '\n' || c == '\t'))) ||
		    c == 0x7f)
			c = '?';
		(void)putc(c, fp);
	}
}

static int
is_duration(const char *key)
{
	size_t	 i, len;

	if (key == NULL)
		return (0);
	for (i = 0; i < nitems(durations); i++)
		if (strcmp(key, durations[i]) == 0)
			return (1);
	len = strlen(key);
	return (len > 4 && strcmp(key + len - 4, "_age") == 0);
}

static void
fmt_duration(char *buf, size_t sz, uint64_t s)
{
	if (s < 60)
		(void)snprintf(buf, sz, "%llus", (unsigned long long)s);
	else if (s < 3600)
		(void)snprintf(buf, sz, "%llum%02llus",
		    (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else if (s < 86400)
		(void)snprintf(buf, sz, "%lluh%02llum",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else
		(void)snprintf(buf, sz, "%llud%02lluh",
		    (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
}

static int
is_scalar(const msgpack_object *o)
{
	return (o->type != MSGPACK_OBJECT_ARRAY &&
	    o->type != MSGPACK_OBJECT_MAP);
}

static int
is_table(const msgpack_object *o)
{
	uint32_t	 i;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
		return (0);
	for (i = 0; i < o->via.array.size; i++)
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_MAP)
			return (0);
	return (1);
}

/* A value as one cell: into b, NUL terminated; *num says align right. */
static void
cell(struct evbuffer *b, const char *key, const msgpack_object *o, int *num)
{
	char		 t[64];
	uint32_t	 i;
	size_t		 n, k;

	*num = 0;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		(void)evbuffer_add(b, "-", 1);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		(void)evbuffer_add_printf(b, "%s", o->via.boolean ? "yes" :
		    "no");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*num = 1;
		if (is_duration(key))
			fmt_duration(t, sizeof(t), o->via.u64);
		else
			(void)snprintf(t, sizeof(t), "%llu",
			    (unsigned long long)o->via.u64);
		(void)evbuffer_add(b, t, strlen(t));
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*num = 1;
		(void)evbuffer_add_printf(b, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*num = 1;
		if (is_duration(key) && o->via.f64 >= 0 && o->via.f64 < 1e15)
			fmt_duration(t, sizeof(t), (uint64_t)o->via.f64);
		else
			metrics_format_float(t, sizeof(t), o->via.f64);
		(void)evbuffer_add(b, t, strlen(t));
		break;
	case MSGPACK_OBJECT_STR:
		/* no control characters in a cell */
		for (i = 0; i < o->via.str.size; i += (uint32_t)n) {
			n = MINIMUM(sizeof(t), o->via.str.size - i);
			memcpy(t, o->via.str.ptr + i, n);
			for (k = 0; k < n; k++)
				if ((unsigned char)t[k] < 0x20 ||
				    (unsigned char)t[k] == 0x7f)
					t[k] = '?';
			(void)evbuffer_add(b, t, n);
		}
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++) {
			if (!is_scalar(&o->via.array.ptr[i])) {
				(void)evbuffer_drain(b, evbuffer_get_length(b));
				(void)control_json(o, b);
				break;
			}
			if (i > 0)
				(void)evbuffer_add(b, ",", 1);
			cell(b, key, &o->via.array.ptr[i], num);
			*num = 0;
		}
		if (o->via.array.size == 0)
			(void)evbuffer_add(b, "-", 1);
		break;
	default:
		(void)control_json(o, b);
		break;
	}
}

static char *
cell_str(const char *key, const msgpack_object *o, int *num)
{
	struct evbuffer	*b;
	char		*s;
	size_t		 len;

	if ((b = evbuffer_new()) == NULL)
		die("out of memory");
	cell(b, key, o, num);
	len = evbuffer_get_length(b);
	if ((s = malloc(len + 1)) == NULL)
		die("out of memory");
	(void)evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return (s);
}

static char *
key_str(const msgpack_object *k)
{
	int	 num;

	return (cell_str(NULL, k, &num));
}

static void	print_obj(const msgpack_object *, int indent);

static void
print_table(const msgpack_object *o, int indent)
{
	char		*keys[MAXCOLS];
	size_t		 width[MAXCOLS];
	int		 right[MAXCOLS];
	char		**cells;
	int		*nums;
	size_t		 ncols = 0, nrows = o->via.array.size, r, c, len;
	const msgpack_object *row;
	uint32_t	 i;
	char		*k;

	/* the columns: every key, in the order it first appears */
	for (r = 0; r < nrows; r++) {
		row = &o->via.array.ptr[r];
		for (i = 0; i < row->via.map.size; i++) {
			k = key_str(&row->via.map.ptr[i].key);
			for (c = 0; c < ncols; c++)
				if (strcmp(keys[c], k) == 0)
					break;
			if (c < ncols || ncols == MAXCOLS) {
				free(k);
				continue;
			}
			keys[ncols] = k;
			width[ncols] = strlen(k);
			right[ncols] = 1;
			ncols++;
		}
	}
	if ((cells = calloc(nrows * ncols, sizeof(*cells))) == NULL ||
	    (nums = calloc(nrows * ncols, sizeof(*nums))) == NULL)
		die("out of memory");
	for (r = 0; r < nrows; r++) {
		row = &o->via.array.ptr[r];
		for (i = 0; i < row->via.map.size; i++) {
			k = key_str(&row->via.map.ptr[i].key);
			for (c = 0; c < ncols; c++)
				if (strcmp(keys[c], k) == 0)
					break;
			free(k);
			if (c == ncols || cells[r * ncols + c] != NULL)
				continue;
			cells[r * ncols + c] = cell_str(keys[c],
			    &row->via.map.ptr[i].val, &nums[r * ncols + c]);
		}
		for (c = 0; c < ncols; c++) {
			if (cells[r * ncols + c] == NULL) {
				if ((cells[r * ncols + c] = strdup("-")) ==
				    NULL)
					die("out of memory");
				nums[r * ncols + c] = -1;
			}
			if ((len = strlen(cells[r * ncols + c])) > width[c])
				width[c] = len;
			if (nums[r * ncols + c] == 0)
				right[c] = 0;
		}
	}
	/* numbers to the right, text to the left, no trailing blanks */
	printf("%*s", indent, "");
	for (c = 0; c < ncols; c++) {
		if (c + 1 == ncols && !right[c])
			printf("%s", keys[c]);
		else
			printf(right[c] ? "%*s" : "%-*s", (int)width[c],
			    keys[c]);
		printf(c + 1 < ncols ? "  " : "\n");
	}
	for (r = 0; r < nrows; r++) {
		printf("%*s", indent, "");
		for (c = 0; c < ncols; c++) {
			if (c + 1 == ncols && !right[c])
				printf("%s", cells[r * ncols + c]);
			else
				printf(right[c] ? "%*s" : "%-*s",
				    (int)width[c], cells[r * ncols + c]);
			printf(c + 1 < ncols ? "  " : "\n");
		}
	}
	for (r = 0; r < nrows * ncols; r++)
		free(cells[r]);
	for (c = 0; c < ncols; c++)
		free(keys[c]);
	free(cells);
	free(nums);
}

static void
print_map(const msgpack_object *o, int indent)
{
	const msgpack_object	*v;
	size_t			 w = 0, len;
	uint32_t		 i;
	char			*k, *s;
	int			 num;

	for (i = 0; i < o->via.map.size; i++) {
		k = key_str(&o->via.map.ptr[i].key);
		if (is_scalar(&o->via.map.ptr[i].val) && (len = strlen(k)) > w)
			w = len;
		free(k);
	}
	for (i = 0; i < o->via.map.size; i++) {
		k = key_str(&o->via.map.ptr[i].key);
		v = &o->via.map.ptr[i].val;
		if (is_scalar(v) || (v->type == MSGPACK_OBJECT_ARRAY &&
		    !is_table(v) && v->via.array.size < 16)) {
			s = cell_str(k, v, &num);
			printf("%*s%s:%*s %s\n", indent, "", k,
			    (int)(w - MINIMUM(w, strlen(k))), "", s);
			free(s);
		} else {
			printf("%*s%s:\n", indent, "", k);
			print_obj(v, indent + 2);
		}
		free(k);
	}
}

static void
print_obj(const msgpack_object *o, int indent)
{
	uint32_t	 i;
	char		*s;
	int		 num;

	if (is_table(o)) {
		print_table(o, indent);
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		break;
	case MSGPACK_OBJECT_STR:
		put_text(stdout, o->via.str.ptr, o->via.str.size, 1);
		if (o->via.str.size > 0 &&
		    o->via.str.ptr[o->via.str.size - 1] != '\n')
			putchar('\n');
		break;
	case MSGPACK_OBJECT_MAP:
		print_map(o, indent);
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++) {
			if (is_scalar(&o->via.array.ptr[i])) {
				s = cell_str(NULL, &o->via.array.ptr[i], &num);
				printf("%*s%s\n", indent, "", s);
				free(s);
			} else
				print_obj(&o->via.array.ptr[i], indent);
		}
		break;
	default:
		s = cell_str(NULL, o, &num);
		printf("%*s%s\n", indent, "", s);
		free(s);
		break;
	}
}

static void
print_json(const struct control_reply *reply, const msgpack_object *data)
{
	struct evbuffer	*b;
	msgpack_object	 s;

	if ((b = evbuffer_new()) == NULL)
		die("out of memory");
	(void)evbuffer_add_printf(b, "{\"ok\":%s", reply->ok ? "true" :
	    "false");
	if (!reply->ok) {
		(void)evbuffer_add(b, ",\"error\":", 9);
		s.type = MSGPACK_OBJECT_STR;
		s.via.str.ptr = reply->error;
		s.via.str.size = (uint32_t)strlen(reply->error);
		(void)control_json(&s, b);
	}
	(void)evbuffer_add(b, ",\"data\":", 8);
	if (control_json(data, b) == -1 || evbuffer_add(b, "}\n", 2) == -1)
		die("the answer does not go into JSON");
	if (fwrite(evbuffer_pullup(b, -1), 1, evbuffer_get_length(b),
	    stdout) != evbuffer_get_length(b))
		die("stdout: %s", strerror(errno));
	evbuffer_free(b);
}

int
main(int argc, char *argv[])
{
	const struct ctl_cmd	*cmd;
	struct control_reply	 reply;
	struct mp_out		 m;
	struct mp_doc		 d;
	struct stat		 st;
	const char		*sock = NULL, *who;
	char			 path[128], list[64], defpath[128];
	int			 ch, di = -1, used = 0, fd, i, found, mask;
	int			 partial;
	size_t			 k;

	while ((ch = getopt(argc, argv, "js:V")) != -1) {
		switch (ch) {
		case 'j':
			jflag = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 'V':
			printf("epsctl %s\n", EPS_VERSION);
			return (0);
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && (di = daemon_index(argv[0])) != -1) {
		argc--;
		argv++;
	}
	if (argc == 0)
		usage();
	if ((cmd = cmd_lookup(argc, argv, &used, &partial)) == NULL) {
		fprintf(stderr, "epsctl: %s command:", partial ?
		    "incomplete" : "unknown");
		for (i = 0; i < argc; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
		usage();
	}
	argc -= used;
	argv += used;
	if (argc < cmd->minargs || argc > cmd->maxargs)
		die("usage: %s%s%s", cmd->name, cmd->usage != NULL ? " " : "",
		    cmd->usage != NULL ? cmd->usage : "");
	if (cmd->choices != NULL && argc == 1) {
		for (k = 0; cmd->choices[k] != NULL; k++)
			if (strcmp(argv[0], cmd->choices[k]) == 0)
				break;
		if (cmd->choices[k] == NULL)
			die("usage: %s %s", cmd->name, cmd->usage);
	}

	/* which daemon: named, the only one with the command, or running */
	if (di == -1 && sock == NULL) {
		for (i = 0; i < (int)nitems(daemons); i++)
			if (cmd->daemons == 1 << i)
				di = i;
		for (i = 0, found = 0, mask = 0; di == -1 &&
		    i < (int)nitems(daemons); i++) {
			if (!(cmd->daemons & (1 << i)))
				continue;
			(void)snprintf(defpath, sizeof(defpath), "%s/%s.ctl",
			    CONTROL_DIR, daemons[i]);
			if (lstat(defpath, &st) == 0) {
				mask |= 1 << i;
				found++;
			}
		}
		if (di == -1 && found == 0) {
			daemon_list(cmd->daemons, list, sizeof(list));
			die("no daemon is running here (no socket in %s for "
			    "%s)", CONTROL_DIR, list);
		}
		if (di == -1 && found > 1) {
			daemon_list(mask, list, sizeof(list));
			die("several daemons run here (%s): name one", list);
		}
		for (i = 0; di == -1 && i < (int)nitems(daemons); i++)
			if (mask & (1 << i))
				di = i;
	}
	if (di != -1 && !(cmd->daemons & (1 << di))) {
		daemon_list(cmd->daemons, list, sizeof(list));
		die("%s is not a %s command (%s has it)", cmd->name,
		    daemons[di], list);
	}
	if (sock == NULL && di >= 0 && di < (int)nitems(daemons)) {
		(void)snprintf(path, sizeof(path), "%s/%s.ctl", CONTROL_DIR,
		    daemons[di]);
		sock = path;
	}
	if (sock == NULL)
		usage();
	who = di != -1 ? daemons[di] : "the daemon";

	(void)signal(SIGPIPE, SIG_IGN);
	fd = connect_socket(sock, who);
	if (control_reply_init(&reply) == -1)
		die("out of memory");
	exchange(fd, who, cmd, argc, argv, &reply);
	close(fd);

	mp_out_init(&m);
	if (control_reply_data(&reply, &m) == -1 ||
	    mp_parse(&d, m.sb.data, m.sb.size) == -1)
		die("%s: a malformed answer", who);
	if (jflag)
		print_json(&reply, d.root);
	else {
		print_obj(d.root, 0);
		if (reply.ok && cmd->verb && d.root->type ==
		    MSGPACK_OBJECT_NIL)
			printf("%s: ok\n", cmd->name);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		die("stdout: %s", strerror(errno));
	if (!reply.ok && !jflag)
		die("%s: %s", cmd->name, reply.error);
	i = reply.ok ? 0 : 1;
	mp_free(&d);
	mp_out_free(&m);
	control_reply_free(&reply);
	return (i);
}
