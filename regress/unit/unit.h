/*
 * unit.h: the smallest harness for unit tests.  Every check prints one
 * line, "PASS name" or "FAIL name: why"; regress/run.sh counts them.
 * A test program exits non-zero when any check failed.
 */

#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

static int	ut_fails;
static int	ut_passes;

#define UT_CHECK(name, cond) do {					\
	if (cond) {							\
		ut_passes++;						\
		printf("PASS %s\n", (name));				\
	} else {							\
		ut_fails++;						\
		printf("FAIL %s: %s (%s:%d)\n", (name), #cond,		\
		    __FILE__, __LINE__);				\
	}								\
	fflush(stdout);							\
} while (0)

#define UT_EXIT()	return (ut_fails ? 1 : 0)

#endif /* UNIT_H */
