/*
 * fuzz.h: what the libFuzzer targets share.
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the code under test: a crash the fuzzer keeps. */
#define FZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * An exact-size heap copy of the input, so that AddressSanitizer sees a
 * read one byte past it; free() it.
 */
static inline uint8_t *
fz_copy(const uint8_t *buf, size_t len)
{
	uint8_t	*copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(copy, buf, len);
	return (copy);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#endif /* FUZZ_H */
