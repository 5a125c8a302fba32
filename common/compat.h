/*
 * compat.h: the portability layer.  libbsd (through its overlay include
 * path) supplies the BSD functions and <sys/queue.h>, <sys/tree.h>; what
 * is left to bridge lives here, not in #ifdefs spread through the code.
 *
 * Instead of pledge(2), children enter a seccomp filter of their role
 * (sandbox.h); instead of unveil(2), chroot(2) and a dropped uid.
 */

#ifndef COMPAT_H
#define COMPAT_H

#include <sys/types.h>

/* libbsd's <sys/tree.h> marks generated functions with BSD's __unused. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif

#ifndef nitems
#define nitems(_a)	(sizeof((_a)) / sizeof((_a)[0]))
#endif

#ifndef MINIMUM
#define MINIMUM(a, b)	(((a) < (b)) ? (a) : (b))
#endif
#ifndef MAXIMUM
#define MAXIMUM(a, b)	(((a) > (b)) ? (a) : (b))
#endif

#define UNUSED(_x)	((void)(_x))

/* AddressSanitizer builds (gcc says so one way, clang the other) */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD	1
#endif
#endif

#ifdef NEED_TIMINGSAFE_BCMP
int	timingsafe_bcmp(const void *, const void *, size_t);
#endif

#endif /* COMPAT_H */
