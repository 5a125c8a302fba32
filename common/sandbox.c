/*
 * sandbox.c: a seccomp filter per child role (sandbox.h).
 *
 * Once a child has started (chrooted, privileges dropped, its init
 * done), what it does is serve events: read, write, pass descriptors
 * over its chans, accept, dial, relay, allocate.  The lists below are
 * what each role was seen to call in the end-to-end tests (strace -f)
 * and what libevent, libtls and the C library may call on the paths it
 * takes; anything else fails with EPERM, so an unforeseen
 * call is an error the code already handles, not a crash.  What no
 * role may ever do: execute (execve, execveat), open a file (open,
 * openat, a chroot holds nothing anyway), make a process or a thread
 * (fork, vfork, clone, clone3), trace (ptrace, process_vm_*), signal
 * another process, make executable memory, and, but for the dialers,
 * make a socket; the dialers only make TCP sockets.
 *
 * A call for another architecture than the one the binary was built
 * for (the 32-bit entry points) kills the process: libseccomp's default
 * for a foreign architecture.
 *
 * Sanitizer runtimes need calls at exit that no role has (LeakSanitizer
 * stops the world with a cloned tracer thread and ptrace), so a build
 * with sanitizers runs without the filter.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "sandbox.h"

#ifdef SANITIZER_BUILD
#define SB_SANITIZED	1
#else
#define SB_SANITIZED	0
#endif

#define SB_ACCEPT	0x01	/* accept on listening sockets it holds */
#define SB_DIAL		0x02	/* make TCP sockets and connect them */
#define SB_RELAY	0x04	/* splice through pipes, half-close */
#define SB_SOCKOPT	0x08	/* socket options and names */

static const struct sb_role {
	const char	*daemon;
	const char	*role;
	int		 can;
} sb_roles[] = {
	{ "proxyd",	"listener",	SB_ACCEPT | SB_RELAY | SB_SOCKOPT },
	{ "proxyd",	"matcher",	0 },
	{ "proxyd",	"eps",		SB_ACCEPT },	/* metrics listen on */
	{ "privproxyd",	"connector",	SB_DIAL | SB_RELAY | SB_SOCKOPT },
	{ "privproxyd",	"eps",		SB_ACCEPT },	/* metrics listen on */
	{ "epsd",	"session",	SB_ACCEPT | SB_DIAL | SB_SOCKOPT },
	{ "epsd",	"router",	SB_ACCEPT },
};

/* Every role: events, chans, memory, time, randomness, the exit. */
static const int sb_base[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(close), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(recvfrom),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(getrandom),
	SCMP_SYS(sysinfo),	/* the memory size, for qsort(3) in OpenSSL */
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time),
	SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static int	 sb_allow(scmp_filter_ctx, const int *, size_t);
static int	 sb_fcntl(scmp_filter_ctx, const int *, size_t);
static int	 sb_rules(scmp_filter_ctx, int);

static int
sb_allow(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			return (-1);
	return (0);
}

/* fcntl(2) with these commands only. */
static int
sb_fcntl(scmp_filter_ctx ctx, const int *cmds, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
		    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmds[i], 0)) < 0)
			return (-1);
	return (0);
}

/* The calls that need a look at their arguments, and the role's own. */
static int
sb_rules(scmp_filter_ctx ctx, int can)
{
	static const int accept_calls[] = {
		SCMP_SYS(accept4), SCMP_SYS(accept),
	};
	static const int relay_calls[] = {
		SCMP_SYS(pipe2), SCMP_SYS(splice), SCMP_SYS(shutdown),
	};
	static const int sockopt_calls[] = {
		SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
		SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	};
	static const int fcntl_cmds[] = {
		F_GETFL, F_SETFL, F_GETFD, F_SETFD,
	};
	/* the size of the splice pipes (splice.c) */
	static const int pipe_cmds[] = {
		F_SETPIPE_SZ, F_GETPIPE_SZ,
	};
	int		 r = 0;

	if (sb_allow(ctx, sb_base, nitems(sb_base)) == -1)
		return (-1);
	/* memory, never executable */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* sends on connected sockets only (syslog, alerts) */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
	    SCMP_A4(SCMP_CMP_EQ, 0, 0));
	/* how many bytes wait (libevent, the pipe pool) */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0));
	/* descriptor flags, no duplicates */
	r |= sb_fcntl(ctx, fcntl_cmds, nitems(fcntl_cmds));
	/* abort(3) signals the process itself, nothing else */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	if (r != 0)
		return (-1);

	if ((can & SB_ACCEPT) &&
	    sb_allow(ctx, accept_calls, nitems(accept_calls)) == -1)
		return (-1);
	if ((can & SB_RELAY) &&
	    (sb_allow(ctx, relay_calls, nitems(relay_calls)) == -1 ||
	    sb_fcntl(ctx, pipe_cmds, nitems(pipe_cmds)) == -1))
		return (-1);
	if ((can & SB_SOCKOPT) &&
	    sb_allow(ctx, sockopt_calls, nitems(sockopt_calls)) == -1)
		return (-1);
	if (can & SB_DIAL) {
		r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
		    1, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
		r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
		    1, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
		r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect),
		    0);
	}
	return (r != 0 ? -1 : 0);
}

int
sandbox_enter(const char *daemon, const char *role)
{
	const struct sb_role	*sr = NULL;
	scmp_filter_ctx		 ctx;
	size_t			 i;
	int			 r;

	for (i = 0; i < nitems(sb_roles); i++)
		if (strcmp(sb_roles[i].daemon, daemon) == 0 &&
		    strcmp(sb_roles[i].role, role) == 0)
			sr = &sb_roles[i];
	if (sr == NULL) {
		log_warnx("%s: no system call filter for %s %s", __func__,
		    daemon, role);
		return (-1);
	}
	if (SB_SANITIZED) {
		log_debug("%s: no system call filter in a sanitizer build",
		    __func__);
		return (-1);
	}
	if ((ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL) {
		log_warnx("%s: seccomp_init failed", __func__);
		return (-1);
	}
	if (sb_rules(ctx, sr->can) == -1) {
		log_warnx("%s: cannot build the filter for %s %s", __func__,
		    daemon, role);
		seccomp_release(ctx);
		return (-1);
	}
	if ((r = seccomp_load(ctx)) < 0) {
		/* EINVAL, ENOSYS: a kernel without seccomp filters */
		log_debug("%s: no system call filter: %s", __func__,
		    strerror(-r));
		seccomp_release(ctx);
		return (-1);
	}
	seccomp_release(ctx);
	log_debug("%s: system call filter for %s in place", __func__, role);
	return (0);
}
