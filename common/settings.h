/*
 * settings.h: a daemon's settings described once, as a table, from
 * which the configuration map of a round (IMSG_PROC_CFG) is packed by
 * the parent and unpacked by the children.
 *
 * A row names the key of a setting in the msgpack map, its type, its
 * bounds and the field of the configuration struct that holds it:
 *
 *	static const struct setting settings[] = {
 *		SETTING_UINT("to_idle", struct proxyd_conf, to_idle,
 *		    0, 86400 * 7),
 *		SETTING_LIST("operators", 4096, op_settings, op_first,
 *		    op_next, op_add),
 *		...
 *		SETTINGS_END
 *	};
 *
 * settings_pack() writes the map, one key per row.  settings_unpack()
 * requires every key of the table, checks the type of its value and its
 * bounds, and only then stores it: a number within min..max (and what
 * its field holds), a string that fits its field, holds no NUL and
 * passes the row's check, a list of no more entries than its field or
 * row allows.  A key the table does not name is ignored.  A new setting
 * is a struct field, a row, a grammar rule and a man page entry.
 *
 * A list of maps (operators, peers) is a SETTING_LIST: a table for its
 * entries, and three functions that walk the list and add an entry to
 * it, which is all settings.c needs to know of the daemon's TAILQ.
 */

#ifndef SETTINGS_H
#define SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "mp.h"

enum setting_type {
	SET_UINT,	/* unsigned integer field of 1, 2, 4 or 8 bytes */
	SET_STR,	/* char array, NUL-terminated */
	SET_BOOL,	/* int, 0 or 1 */
	SET_STRS,	/* char *[], strdup()ed, with a count field */
	SET_ADDRS,	/* struct net_addr[] as "addr:port", with a count */
	SET_LIST,	/* a list of maps, walked by the row's functions */
};

struct setting {
	const char		*key;
	enum setting_type	 type;
	uint64_t		 min;	/* UINT: value; else entries */
	uint64_t		 max;	/* UINT: value; LIST: entries */
	size_t			 off;	/* offsetof the field */
	size_t			 size;	/* sizeof the field */
	size_t			 countoff;	/* STRS, ADDRS: the count */
	size_t			 countsize;
	size_t			 strmax;	/* STRS: sizeof a string */
	int			(*valid)(const char *);	/* STR, STRS */
	/* LIST: the table of an entry, and the list's own functions */
	const struct setting	*sub;
	const void		*(*first)(const void *base);
	const void		*(*next)(const void *entry);
	void			*(*add)(void *base);	/* a new, zeroed
							   last entry */
};

#define SETTING_FIELD(st, field) \
	.off = offsetof(st, field), .size = sizeof(((st *)NULL)->field)
#define SETTING_COUNT(st, field) \
	.countoff = offsetof(st, field), \
	.countsize = sizeof(((st *)NULL)->field)

#define SETTING_UINT(k, st, field, lo, hi) \
	{ .key = (k), .type = SET_UINT, .min = (lo), .max = (hi), \
	  SETTING_FIELD(st, field) }
#define SETTING_STR(k, st, field, check) \
	{ .key = (k), .type = SET_STR, SETTING_FIELD(st, field), \
	  .valid = (check) }
#define SETTING_BOOL(k, st, field) \
	{ .key = (k), .type = SET_BOOL, .max = 1, SETTING_FIELD(st, field) }
/* at least lo strings, each shorter than len bytes and passing check */
#define SETTING_STRS(k, st, field, nfield, lo, len, check) \
	{ .key = (k), .type = SET_STRS, .min = (lo), \
	  SETTING_FIELD(st, field), SETTING_COUNT(st, nfield), \
	  .strmax = (len), .valid = (check) }
#define SETTING_ADDRS(k, st, field, nfield, lo) \
	{ .key = (k), .type = SET_ADDRS, .min = (lo), \
	  SETTING_FIELD(st, field), SETTING_COUNT(st, nfield) }
/* at most hi entries, each a map of the table tab */
#define SETTING_LIST(k, hi, tab, firstf, nextf, addf) \
	{ .key = (k), .type = SET_LIST, .max = (hi), .sub = (tab), \
	  .first = (firstf), .next = (nextf), .add = (addf) }
/* the last row of a table */
#define SETTINGS_END	{ .key = NULL }

/*
 * SETTINGS_TAILQ(pfx, type, head, etype, field) defines the functions of
 * a SETTING_LIST over the TAILQ head of a struct type, whose entries are
 * struct etype linked by field: pfx_first(), pfx_next() and pfx_add(),
 * which callocs an entry and appends it.
 */
#define SETTINGS_TAILQ(pfx, type, head, etype, field)			\
static const void *							\
pfx##_first(const void *base)						\
{									\
	return (TAILQ_FIRST(&((const type *)base)->head));		\
}									\
static const void *							\
pfx##_next(const void *e)						\
{									\
	return (TAILQ_NEXT((const etype *)e, field));			\
}									\
static void *								\
pfx##_add(void *base)							\
{									\
	etype	*e;							\
									\
	if ((e = calloc(1, sizeof(*e))) != NULL)			\
		TAILQ_INSERT_TAIL(&((type *)base)->head, e, field);	\
	return (e);							\
}

/* The map of the struct at base: one key per row. */
void	 settings_pack(msgpack_packer *, const struct setting *,
	    const void *base);
/*
 * Fill the struct at base from map: 0, or -1 with the first key that
 * is missing or out of bounds in why (the struct may be half filled;
 * what STRS rows allocated is counted in their count fields).
 */
int	 settings_unpack(const msgpack_object *map, const struct setting *,
	    void *base, char *why, size_t whylen);
/* settings_unpack() of the one map in buf. */
int	 settings_load(const void *buf, size_t len, const struct setting *,
	    void *base, char *why, size_t whylen);

#endif /* SETTINGS_H */
