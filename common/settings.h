/*
 * settings.h: a daemon's settings described once, as a table, from
 * which the configuration map of a round (IMSG_PROC_CFG) is packed by
 * the parent and unpacked by the children.
 *
 * A row names the key of a setting in the msgpack map, its type, its
 * bounds and the field of the configuration struct that holds it:
 *
 *	static const struct setting proxyd_settings[] = {
 *		SETTING_UINT("to_idle", struct proxyd_conf, to_idle,
 *		    0, 86400 * 7),
 *		...
 *	};
 *
 * settings_pack() writes one key/value pair per row; the caller writes
 * the map header (the rows plus the lists it packs by hand) and the
 * lists.  settings_unpack() requires every key of the table, checks the
 * type of its value and its bounds (a string must fit its field, hold
 * no NUL and pass the row's check), and only then stores it.  A new
 * setting is a struct field, a row, a grammar rule and a man page entry.
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
};

struct setting {
	const char		*key;
	enum setting_type	 type;
	uint64_t		 min;		/* SET_UINT: the bounds */
	uint64_t		 max;
	size_t			 off;		/* offsetof the field */
	size_t			 size;		/* sizeof the field */
	int			(*valid)(const char *);	/* SET_STR, or NULL */
};

#define SETTING_FIELD(type, field) \
	offsetof(type, field), sizeof(((type *)NULL)->field)
#define SETTING_UINT(key, type, field, min, max) \
	{ (key), SET_UINT, (min), (max), SETTING_FIELD(type, field), NULL }
#define SETTING_STR(key, type, field, valid) \
	{ (key), SET_STR, 0, 0, SETTING_FIELD(type, field), (valid) }
#define SETTING_BOOL(key, type, field) \
	{ (key), SET_BOOL, 0, 1, SETTING_FIELD(type, field), NULL }

/* One key/value pair per row, read from the struct at base. */
void	 settings_pack(msgpack_packer *, const struct setting *, size_t,
	    const void *base);
/*
 * Fill the struct at base from map: 0, or -1 with the first key that
 * is missing or out of bounds in why (fields may be half filled then).
 */
int	 settings_unpack(const msgpack_object *map, const struct setting *,
	    size_t, void *base, char *why, size_t whylen);
/*
 * A round's whole map: mp_parse() it into d (mp_free() it either way),
 * then settings_unpack() its top level.
 */
int	 settings_parse(struct mp_doc *d, const void *buf, size_t len,
	    const struct setting *, size_t, void *base, char *why,
	    size_t whylen);
/* The list under key, of at most max entries; NULL with why if not. */
const msgpack_object *settings_list(const msgpack_object *map,
	    const char *key, uint32_t max, char *why, size_t whylen);

#endif /* SETTINGS_H */
