/*
 * dname.h: domain names as announced and matched.  A name is a DNS host
 * name in lower case; a pattern is a name or "*.suffix", which stands
 * for every name that ends in ".suffix", with one or more labels in
 * front of it.  The most specific match wins.
 */

#ifndef DNAME_H
#define DNAME_H

#include <stddef.h>

#define DNAME_MAX	253

int	 dname_valid(const char *, int wildcard);
int	 dname_lower(char *dst, const char *src, size_t dstsz, int wildcard);
int	 dname_match(const char *pattern, const char *name);
int	 dname_covers(const char *allowed, const char *pattern);
/* The next less specific pattern for a lookup: a.b.c -> *.b.c -> *.c */
int	 dname_parent(const char *cur, char *buf, size_t bufsz);

#endif /* DNAME_H */
