/*
 * compat.c: what libbsd does not supply on every system we build on.
 * The Makefile probes the system and defines NEED_* for what is missing
 * (Debian 12's libbsd 0.11.7 has no timingsafe_bcmp(3), for one).
 */

#include "compat.h"

#ifdef NEED_TIMINGSAFE_BCMP
/* Compare in time that depends on len only, never on the contents. */
int
timingsafe_bcmp(const void *b1, const void *b2, size_t len)
{
	const volatile unsigned char	*p1 = b1, *p2 = b2;
	unsigned char			 acc = 0;
	size_t				 i;

	for (i = 0; i < len; i++)
		acc |= p1[i] ^ p2[i];
	return (acc != 0);
}
#endif
