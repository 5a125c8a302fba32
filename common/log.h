/*
 * log.h: one logging module for all three daemons.  syslog(3) by
 * default, stderr when running in the foreground (-d).  Children prefix
 * their lines with their role so a log reads "listener: ...".
 */

#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>
#include <time.h>

#include "compat.h"

void	log_init(int foreground, int facility);
/* In the foreground: each line starts with the time, unless on journal */
void	log_timestamps(int on);
/*
 * While buf is set, the text of every error line (log_warn, log_warnx,
 * fatal) is also copied into it, "; " between lines, as much as fits:
 * what a configuration that does not load says, for whoever asked for
 * the reload.  NULL stops.
 */
void	log_capture(char *buf, size_t len);
void	log_procname(const char *);
void	log_setverbose(int);
int	log_getverbose(void);

/*
 * Refusals a remote peer can trigger at will are logged through a rate
 * limit: at most max lines a second per limit, then one line saying how
 * many were suppressed.
 */
struct log_limit {
	time_t		 sec;
	unsigned int	 count;
	unsigned int	 dropped;
	unsigned int	 max;
	int		 pri;
};
#define LOG_LIMIT_INITIALIZER(_max)	{ 0, 0, 0, (_max), LOG_WARNING }
#define LOG_LIMIT_INFO(_max)		{ 0, 0, 0, (_max), LOG_INFO }

/*
 * Text a peer sent, for a log line: escaped as vis(3) does with
 * VIS_CSTYLE | VIS_OCTAL, newlines, tabs and double quotes included (\n,
 * \t, \", \ooo for control and non-ASCII bytes, \\ for a backslash), so
 * that it stays on its line, inside quotes if it is put in some, and
 * cannot pass for a line of ours.  What does not fit len is cut at an
 * escape's boundary and marked "...".  Returns buf; s NULL is "(null)".
 * LOG_VISLEN(n) is the room n bytes need escaped.
 */
const char *log_vis(const char *s, char *buf, size_t len);
#define LOG_VISLEN(_n)	(4 * (_n) + 1)

void	log_limited(struct log_limit *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));

void	log_warn(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	log_debug(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	vlog(int, const char *, va_list)
	    __attribute__((__format__ (printf, 2, 0)));
__dead void fatal(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
__dead void fatalx(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));

#endif /* LOG_H */
