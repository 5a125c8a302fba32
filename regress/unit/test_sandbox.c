/*
 * test_sandbox.c: a child's system call filter lets through what its
 * role needs and refuses the rest with EPERM.
 *
 * Each case forks a child that enters the filter of one role; the
 * parent checks /proc/PID/status (filter mode, one filter), then lets
 * the child try calls its role may make and calls no role may make, and
 * takes the child's exit status as one more check.  A build with
 * sanitizers has no filter (sandbox.c), and neither has a kernel
 * without seccomp: then the cases are skipped.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "sandbox.h"
#include "unit.h"

#define REFUSED(r)	((r) == -1 && errno == EPERM)

static int	 lfd = -1;		/* listening on 127.0.0.1 */
static struct sockaddr_in lsin;

static int	 kernel_has_seccomp(void);
static int	 status_has(pid_t, const char *);
static void	 confined(const char *, const char *, void (*)(void),
		    const char *);
static void	 never(const char *);
static int	 always(void);
static void	 as_listener(void);
static void	 as_matcher(void);
static void	 as_session(void);
static void	 as_connector(void);

static int
kernel_has_seccomp(void)
{
	return (status_has(getpid(), "Seccomp:"));
}

/* Whether /proc/PID/status has a line that starts with line. */
static int
status_has(pid_t pid, const char *line)
{
	char	 path[64], buf[256];
	FILE	*f;
	int	 found = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strncmp(buf, line, strlen(line)) == 0)
			found = 1;
	fclose(f);
	return (found);
}

/*
 * Fork; the child enters the filter of daemon/role, says so, waits for
 * the go, runs checks and exits with their verdict.
 */
static void
confined(const char *daemon, const char *role, void (*checks)(void),
    const char *name)
{
	int	 up[2], go[2], status;
	pid_t	 pid;
	char	 b = 0, what[128];

	if (pipe(up) == -1 || pipe(go) == -1) {
		perror("pipe");
		exit(2);
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(up[0]);
		close(go[1]);
		b = sandbox_enter(daemon, role) == 0 ? 'y' : 'n';
		(void)write(up[1], &b, 1);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		checks();
		exit(ut_fails ? 1 : 0);
	}
	close(up[1]);
	close(go[0]);
	if (read(up[0], &b, 1) != 1)
		b = '?';
	(void)snprintf(what, sizeof(what), "sandbox: %s: the filter is in "
	    "place (Seccomp: 2, one filter)", name);
	UT_CHECK(what, b == 'y' && status_has(pid, "Seccomp:\t2") &&
	    status_has(pid, "Seccomp_filters:\t1"));
	(void)write(go[1], "g", 1);
	close(up[0]);
	close(go[1]);
	if (waitpid(pid, &status, 0) == -1) {
		perror("waitpid");
		exit(2);
	}
	(void)snprintf(what, sizeof(what), "sandbox: %s: its checks passed, "
	    "it was not killed", name);
	UT_CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* One check of never(), named after the role. */
#define NEVER(_call, _cond) do {					\
	(void)snprintf(what, sizeof(what), "sandbox: %s: %s refused", who, \
	    (_call));							\
	UT_CHECK(what, (_cond));					\
} while (0)

/* What no role may do. */
static void
never(const char *who)
{
	char *const	 argv[] = { "true", NULL };
	void		*p;
	pid_t		 pid;
	char		 what[128];

	NEVER("execve", REFUSED(execve("/bin/true", argv, NULL)));
	NEVER("open", REFUSED(open("/etc/passwd", O_RDONLY)));
	NEVER("openat", REFUSED(openat(AT_FDCWD, "/etc/passwd", O_RDONLY)));
	if ((pid = fork()) == 0)
		_exit(0);
	NEVER("fork", REFUSED(pid));
	NEVER("ptrace", REFUSED(ptrace(PTRACE_TRACEME, 0, NULL, NULL)));
	NEVER("signalling another process", REFUSED(kill(getppid(), 0)));
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	NEVER("executable memory", p == MAP_FAILED && errno == EPERM);
	NEVER("a Unix socket", REFUSED(socket(AF_UNIX, SOCK_STREAM, 0)));
	NEVER("dup", REFUSED(dup(1)) && REFUSED(fcntl(1, F_DUPFD, 10)));
}

/* What every role may do: memory, descriptor flags, time, writes. */
static int
always(void)
{
	struct timespec	 ts;
	char		*big;
	int		 fl;

	if ((big = malloc(4 << 20)) == NULL)
		return (0);
	memset(big, 1, 4 << 20);
	free(big);
	return ((fl = fcntl(1, F_GETFL)) != -1 &&
	    fcntl(1, F_SETFL, fl) != -1 && getpid() > 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) == 0 &&
	    write(1, "", 0) == 0);
}

static void
as_listener(void)
{
	struct sockaddr_in	 a;
	socklen_t		 al = sizeof(a);
	int			 p[2], fd, n = -1;
	char			 b = 0;

	never("listener");
	UT_CHECK("sandbox: listener: memory, descriptor flags, writes",
	    always());
	UT_CHECK("sandbox: listener: no socket of its own",
	    REFUSED(socket(AF_INET, SOCK_STREAM, 0)));
	UT_CHECK("sandbox: listener: a pipe for splice(2)",
	    pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0 && write(p[1], "x", 1) ==
	    1 && ioctl(p[0], FIONREAD, &n) == 0 && n == 1 &&
	    read(p[0], &b, 1) == 1 && b == 'x' && close(p[0]) == 0 &&
	    close(p[1]) == 0);
	fd = accept4(lfd, (struct sockaddr *)&a, &al, SOCK_CLOEXEC);
	UT_CHECK("sandbox: listener: accepts a client", fd != -1);
	UT_CHECK("sandbox: listener: socket options and names",
	    fd != -1 && setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 },
	    sizeof(int)) == 0 && getsockname(fd, (struct sockaddr *)&a,
	    &al) == 0);
	UT_CHECK("sandbox: listener: send on a connected socket",
	    fd != -1 && send(fd, "hi", 2, MSG_NOSIGNAL) == 2);
	UT_CHECK("sandbox: listener: sendto an address refused",
	    fd != -1 && REFUSED(sendto(fd, "hi", 2, MSG_NOSIGNAL,
	    (struct sockaddr *)&lsin, sizeof(lsin))));
	UT_CHECK("sandbox: listener: half-close", fd != -1 &&
	    shutdown(fd, SHUT_WR) == 0);
	UT_CHECK("sandbox: listener: connect refused", fd != -1 &&
	    REFUSED(connect(fd, (struct sockaddr *)&lsin, sizeof(lsin))));
	if (fd != -1)
		close(fd);
}

static void
as_matcher(void)
{
	int	 p[2];

	UT_CHECK("sandbox: matcher: memory, descriptor flags, writes",
	    always());
	UT_CHECK("sandbox: matcher: no pipes",
	    REFUSED(pipe2(p, O_CLOEXEC)));
	UT_CHECK("sandbox: matcher: no accept",
	    REFUSED(accept4(lfd, NULL, NULL, 0)));
	UT_CHECK("sandbox: matcher: no socket",
	    REFUSED(socket(AF_INET, SOCK_STREAM, 0)));
	UT_CHECK("sandbox: matcher: execve refused",
	    REFUSED(execve("/bin/true", (char *[]){ "true", NULL }, NULL)));
}

static void
as_session(void)
{
	int	 fd, afd;

	UT_CHECK("sandbox: session: a TCP socket",
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1);
	UT_CHECK("sandbox: session: connects it",
	    fd != -1 && connect(fd, (struct sockaddr *)&lsin,
	    sizeof(lsin)) == 0);
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	UT_CHECK("sandbox: session: accepts", afd != -1);
	UT_CHECK("sandbox: session: no Unix socket",
	    REFUSED(socket(AF_UNIX, SOCK_STREAM, 0)));
	UT_CHECK("sandbox: session: no pipes",
	    REFUSED(pipe2((int [2]){ -1, -1 }, 0)));
	UT_CHECK("sandbox: session: open refused",
	    REFUSED(open("/etc/passwd", O_RDONLY)));
	if (fd != -1)
		close(fd);
	if (afd != -1)
		close(afd);
}

static void
as_connector(void)
{
	int	 fd;

	UT_CHECK("sandbox: connector: an IPv6 TCP socket",
	    (fd = socket(AF_INET6, SOCK_STREAM, 0)) != -1);
	if (fd != -1)
		close(fd);
	UT_CHECK("sandbox: connector: no accept",
	    REFUSED(accept4(lfd, NULL, NULL, 0)));
	UT_CHECK("sandbox: connector: no raw socket",
	    REFUSED(socket(AF_PACKET, SOCK_RAW, 0)));
	never("connector");
}

int
main(void)
{
	socklen_t	 sl = sizeof(lsin);
	int		 cfd, r;
	pid_t		 pid;

#ifdef SANITIZER_BUILD
	printf("SKIP sandbox: a sanitizer build has no filter\n");
	UT_EXIT();
#endif
	if (!kernel_has_seccomp()) {
		printf("SKIP sandbox: the kernel has no seccomp\n");
		UT_EXIT();
	}
	memset(&lsin, 0, sizeof(lsin));
	lsin.sin_family = AF_INET;
	lsin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin)) == -1 ||
	    listen(lfd, 8) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&lsin, &sl) == -1 ||
	    fcntl(lfd, F_SETFL, O_NONBLOCK) == -1) {
		perror("listen");
		return (2);
	}

	/* a client waits in the backlog for the listener */
	if ((cfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(cfd, (struct sockaddr *)&lsin, sizeof(lsin)) == -1) {
		perror("connect");
		return (2);
	}
	confined("proxyd", "listener", as_listener, "proxyd listener");
	close(cfd);
	confined("proxyd", "matcher", as_matcher, "proxyd matcher");
	confined("epsd", "session", as_session, "epsd session");
	confined("privproxyd", "connector", as_connector,
	    "privproxyd connector");

	/* an unknown role gets no filter, and says so */
	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(sandbox_enter("proxyd", "nosuch") == -1 &&
		    open("/dev/null", O_RDONLY) != -1 ? 0 : 1);
	UT_CHECK("sandbox: an unknown role gets no filter",
	    pid != -1 && waitpid(pid, &r, 0) == pid && WIFEXITED(r) &&
	    WEXITSTATUS(r) == 0);
	UT_EXIT();
}
