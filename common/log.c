/*
 * log.c: logging to syslog(3) or, in the foreground, to stderr.
 *
 * A chrooted child cannot reach /dev/log by path, so log_init() opens
 * the syslog connection at once (LOG_NDELAY) before any chroot, with
 * the program's name and LOG_PID, so a line reads "proxyd[812]:
 * listener: ...".  Verbosity: 0 logs up to LOG_INFO, 1 and more add
 * LOG_DEBUG.
 *
 * In the foreground (-d) a line on stderr starts with the local time,
 * to the millisecond, unless stderr is the journal (systemd sets
 * JOURNAL_STREAM to the device and inode of the stream it gave us),
 * which stamps lines itself.  The time zone is read by tzset() in
 * log_init(), before a chroot hides /etc/localtime.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* libbsd has two strnvis(); we want neither, but say which to be quiet. */
#define LIBBSD_OPENBSD_VIS
#include <vis.h>

#include "log.h"

#define LOG_VISFLAGS	(VIS_CSTYLE | VIS_OCTAL | VIS_TAB | VIS_NL | \
			    VIS_DQ | VIS_NOLOCALE)

static int	 log_fg = 1;
static int	 log_verbose;
static int	 log_stamps;
static char	 log_name[32];
static char	*log_cap;		/* log_capture()'s buffer */
static size_t	 log_capsz;

void
log_init(int foreground, int facility)
{
	log_fg = foreground;
	if (!log_fg)
		openlog(getprogname(), LOG_PID | LOG_NDELAY, facility);
	tzset();
}

/* Is stderr the stream systemd gave us for the journal? */
static int
log_journal(void)
{
	const char		*e = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;
	char			*end;

	if (e == NULL || fstat(STDERR_FILENO, &st) == -1)
		return (0);
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno != 0 || end == e || *end != ':')
		return (0);
	e = end + 1;
	ino = strtoull(e, &end, 10);
	if (errno != 0 || end == e || *end != '\0')
		return (0);
	return (dev == (unsigned long long)st.st_dev &&
	    ino == (unsigned long long)st.st_ino);
}

void
log_timestamps(int on)
{
	log_stamps = on && !log_journal();
}

void
log_capture(char *buf, size_t len)
{
	log_cap = len > 0 ? buf : NULL;
	log_capsz = len;
	if (log_cap != NULL)
		log_cap[0] = '\0';
}

/* The first error lines, "; " between them, as many as fit. */
static void
log_captured(const char *msg)
{
	size_t	 have = strlen(log_cap);

	if (have + 3 >= log_capsz)
		return;
	if (have > 0)
		(void)strlcat(log_cap, "; ", log_capsz);
	(void)strlcat(log_cap, msg, log_capsz);
}

static void
log_stderr(const char *msg)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 t[32];

	if (log_stamps && clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
	    localtime_r(&ts.tv_sec, &tm) != NULL &&
	    strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm) > 0)
		(void)fprintf(stderr, "%s.%03ld %s%s\n", t,
		    ts.tv_nsec / 1000000, log_name, msg);
	else
		(void)fprintf(stderr, "%s%s\n", log_name, msg);
}

void
log_procname(const char *name)
{
	if (name == NULL)
		log_name[0] = '\0';
	else
		(void)snprintf(log_name, sizeof(log_name), "%s: ", name);
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024];
	int	 saved_errno = errno;

	if (pri == LOG_DEBUG && log_verbose < 1)
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_cap != NULL && pri <= LOG_ERR)
		log_captured(msg);
	if (log_fg)
		log_stderr(msg);
	else
		syslog(pri, "%s%s", log_name, msg);
	errno = saved_errno;
}

/*
 * A byte at a time with vis(3), because a cut must not leave half an
 * escape behind (libbsd's strnvis() does).
 */
const char *
log_vis(const char *s, char *buf, size_t len)
{
	char	 enc[5];		/* "\ooo" and NUL, the longest */
	size_t	 n = 0, cut = 0, k;
	int	 full = 1;

	if (len == 0)
		return (buf);
	if (s == NULL)
		s = "(null)";
	for (; *s != '\0'; s++) {
		k = (size_t)(vis(enc, (unsigned char)s[0], LOG_VISFLAGS,
		    (unsigned char)s[1]) - enc);
		if (n + k + 3 < len)
			cut = n + k;	/* "..." would still fit after it */
		if (n + k >= len) {
			full = 0;
			break;
		}
		memcpy(buf + n, enc, k);
		n += k;
	}
	if (!full) {
		n = cut;
		for (k = 0; k < 3 && n + 1 < len; k++)
			buf[n++] = '.';
	}
	buf[n] = '\0';
	return (buf);
}

static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char	 msg[900];
	int	 saved_errno = errno;

	if (fmt == NULL) {
		log_warnx("%s", strerror(saved_errno));
		return;
	}
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	errno = saved_errno;
	if (pri == LOG_CRIT)
		log_warnx("fatal: %s: %s", msg, strerror(saved_errno));
	else
		log_warnx("%s: %s", msg, strerror(saved_errno));
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

__dead void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

__dead void
fatalx(const char *fmt, ...)
{
	char	 msg[900];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("fatal: %s", msg);
	exit(1);
}

static void
vlog_pri(int pri, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

void
log_limited(struct log_limit *l, const char *fmt, ...)
{
	va_list	 ap;
	time_t	 now = time(NULL);

	if (now != l->sec) {
		if (l->dropped > 0)
			vlog_pri(l->pri, "%u similar messages suppressed",
			    l->dropped);
		l->sec = now;
		l->count = 0;
		l->dropped = 0;
	}
	if (l->count >= l->max) {
		l->dropped++;
		return;
	}
	l->count++;
	va_start(ap, fmt);
	vlog(l->pri, fmt, ap);
	va_end(ap);
}
