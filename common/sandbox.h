/*
 * sandbox.h: the system calls a child may make once it has started, the
 * counterpart of pledge(2), as a seccomp filter (libseccomp).
 */

#ifndef SANDBOX_H
#define SANDBOX_H

/*
 * Confine this process to what the child role of daemon needs from now
 * on ("proxyd", "listener"), for good.  A call outside its list fails
 * with EPERM; a call made for another architecture kills the process.
 * Returns 0 when the filter is in place, -1 when it is not: an unknown
 * role (logged as a warning), a kernel without seccomp (logged at
 * debug level), or a build with sanitizers, whose runtime needs calls
 * no role has (logged at debug level).  Either way the child goes on.
 */
int	sandbox_enter(const char *daemon, const char *role);

#endif /* SANDBOX_H */
