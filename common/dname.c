/*
 * dname.c: validating and matching domain names and patterns (dname.h).
 */

#include <ctype.h>
#include <stdio.h>

#include "compat.h"
#include "dname.h"

/* Letters, digits and inner hyphens; labels of 1..63; no final dot. */
int
dname_valid(const char *s, int wildcard)
{
	size_t	 len, label = 0, i;
	int	 digits = 1;

	if (wildcard && s[0] == '*') {
		if (s[1] != '.')
			return (0);
		s += 2;
	}
	len = strlen(s);
	if (len == 0 || len > DNAME_MAX)
		return (0);
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (label == 0 && s[i] == '-')
			return (0);
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return (0);
		if (!isdigit((unsigned char)s[i]))
			digits = 0;
		label++;
	}
	/* all-numeric names are addresses, not host names */
	return (!digits);
}

int
dname_lower(char *dst, const char *src, size_t dstsz, int wildcard)
{
	size_t	 i;

	if (strlcpy(dst, src, dstsz) >= dstsz)
		return (-1);
	for (i = 0; dst[i] != '\0'; i++)
		dst[i] = (char)tolower((unsigned char)dst[i]);
	return (dname_valid(dst, wildcard) ? 0 : -1);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t	 ls = strlen(s), lx = strlen(suffix);

	return (ls >= lx && strcmp(s + ls - lx, suffix) == 0);
}

int
dname_match(const char *pattern, const char *name)
{
	if (pattern[0] != '*')
		return (strcmp(pattern, name) == 0);
	/* "*.x" matches "a.x" and "a.b.x", not "x" */
	return (strlen(name) > strlen(pattern) - 1 &&
	    has_suffix(name, pattern + 1));
}

int
dname_covers(const char *allowed, const char *pattern)
{
	if (allowed[0] != '*')
		return (strcmp(allowed, pattern) == 0);
	if (pattern[0] == '*')
		return (has_suffix(pattern + 1, allowed + 1));
	return (dname_match(allowed, pattern));
}

int
dname_parent(const char *cur, char *buf, size_t bufsz)
{
	const char	*dot;

	if (cur[0] == '*')
		cur += 2;
	if ((dot = strchr(cur, '.')) == NULL)
		return (-1);
	if ((size_t)snprintf(buf, bufsz, "*%s", dot) >= bufsz)
		return (-1);
	return (0);
}
