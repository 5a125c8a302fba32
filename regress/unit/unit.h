/*
 * unit.h: the smallest harness for unit tests.  Every check prints one
 * line, "PASS name" or "FAIL name: why"; regress/run.sh counts them.
 * A test program exits non-zero when any check failed.
 */

#ifndef UNIT_H
#define UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

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

/* Hex to bytes, spaces ignored; bad hex ends the test program. */
static inline size_t
ut_unhex(const char *s, uint8_t *out, size_t outsz)
{
	size_t		 n = 0;
	unsigned int	 v;

	while (*s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (n >= outsz || sscanf(s, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex %s\n", s);
			exit(1);
		}
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return (n);
}

static inline void
ut_timedout(evutil_socket_t fd, short ev, void *arg)
{
	*(int *)arg = 1;
}

/* Run the loop until done(arg) or ms milliseconds have passed. */
static inline int
ut_run_until(struct event_base *base, int (*done)(void *), void *arg, int ms)
{
	struct event	*tm;
	struct timeval	 tv;
	int		 timedout = 0;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if ((tm = evtimer_new(base, ut_timedout, &timedout)) == NULL ||
	    evtimer_add(tm, &tv) == -1) {
		fprintf(stderr, "evtimer_new failed\n");
		exit(1);
	}
	while (!done(arg) && !timedout)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tm);
	return (done(arg));
}

#endif /* UNIT_H */
