/*
 * settings.c: see settings.h.  A row whose field does not fit its type
 * is a mistake in the table, not in the input: fatalx() says which.
 */

#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "net.h"
#include "settings.h"

static uint64_t
get_uint(const struct setting *s, const void *base, size_t off, size_t size)
{
	const uint8_t	*p = (const uint8_t *)base + off;
	uint8_t		 u8;
	uint16_t	 u16;
	uint32_t	 u32;
	uint64_t	 u64;

	switch (size) {
	case 1:
		memcpy(&u8, p, 1);
		return (u8);
	case 2:
		memcpy(&u16, p, 2);
		return (u16);
	case 4:
		memcpy(&u32, p, 4);
		return (u32);
	case 8:
		memcpy(&u64, p, 8);
		return (u64);
	}
	fatalx("setting %s: a number of %zu bytes", s->key, size);
}

static void
set_uint(const struct setting *s, void *base, size_t off, size_t size,
    uint64_t v)
{
	uint8_t		*p = (uint8_t *)base + off;
	uint8_t		 u8 = (uint8_t)v;
	uint16_t	 u16 = (uint16_t)v;
	uint32_t	 u32 = (uint32_t)v;

	switch (size) {
	case 1:
		memcpy(p, &u8, 1);
		return;
	case 2:
		memcpy(p, &u16, 2);
		return;
	case 4:
		memcpy(p, &u32, 4);
		return;
	case 8:
		memcpy(p, &v, 8);
		return;
	}
	fatalx("setting %s: a number of %zu bytes", s->key, size);
}

/* The largest value a row takes: its max, as far as the field holds. */
static uint64_t
max_uint(const struct setting *s)
{
	if (s->size >= 8)
		return (s->max);
	return (MINIMUM(s->max, (1ULL << (s->size * 8)) - 1));
}

static void
pack_row(msgpack_packer *pk, const struct setting *s, const void *base)
{
	const uint8_t		*field = (const uint8_t *)base + s->off;
	char * const		*strs = (char * const *)(const void *)field;
	const struct net_addr	*addrs = (const void *)field;
	const void		*e;
	char			 a[NET_ADDRSTRLEN];
	uint64_t		 i, n = 0;
	int			 b;

	if (s->type == SET_STRS || s->type == SET_ADDRS)
		n = get_uint(s, base, s->countoff, s->countsize);
	switch (s->type) {
	case SET_UINT:
		msgpack_pack_uint64(pk, get_uint(s, base, s->off, s->size));
		break;
	case SET_STR:
		mp_pack_str(pk, (const char *)field);
		break;
	case SET_BOOL:
		if (s->size != sizeof(b))
			fatalx("setting %s: not an int", s->key);
		memcpy(&b, field, sizeof(b));
		if (b)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case SET_STRS:
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++)
			mp_pack_str(pk, strs[i]);
		break;
	case SET_ADDRS:
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++)
			mp_pack_str(pk, net_addrstr(&addrs[i], a, sizeof(a)));
		break;
	case SET_LIST:
		for (e = s->first(base); e != NULL; e = s->next(e))
			n++;
		msgpack_pack_array(pk, n);
		for (e = s->first(base); e != NULL; e = s->next(e))
			settings_pack(pk, s->sub, e);
		break;
	}
}

void
settings_pack(msgpack_packer *pk, const struct setting *t, const void *base)
{
	const struct setting	*s;
	size_t			 n = 0;

	for (s = t; s->key != NULL; s++)
		n++;
	msgpack_pack_map(pk, n);
	for (s = t; s->key != NULL; s++) {
		mp_pack_str(pk, s->key);
		pack_row(pk, s, base);
	}
}

/* The entries of a list: an array of min..max of them. */
static const msgpack_object *
entries(const struct setting *s, const msgpack_object *v, uint64_t max,
    char *why, size_t whylen)
{
	if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size < s->min ||
	    v->via.array.size > max) {
		(void)snprintf(why, whylen, "%s: not a list of %llu to %llu",
		    s->key, (unsigned long long)s->min,
		    (unsigned long long)max);
		return (NULL);
	}
	return (v->via.array.ptr);
}

static int
unpack_strs(const struct setting *s, const msgpack_object *v, void *base,
    char *why, size_t whylen)
{
	char			**strs = (void *)((uint8_t *)base + s->off);
	const msgpack_object	*e;
	size_t			 len;
	uint32_t		 i;

	if ((e = entries(s, v, s->size / sizeof(*strs), why, whylen)) == NULL)
		return (-1);
	for (i = 0; i < v->via.array.size; i++) {
		if (e[i].type != MSGPACK_OBJECT_STR ||
		    e[i].via.str.size >= s->strmax)
			goto invalid;
		len = e[i].via.str.size + 1;
		if ((strs[i] = malloc(len)) == NULL) {
			(void)snprintf(why, whylen, "%s: out of memory",
			    s->key);
			return (-1);
		}
		/* counted at once: the daemon's free function frees it */
		set_uint(s, base, s->countoff, s->countsize, i + 1);
		if (mp_get_str(&e[i], strs[i], len) == -1 ||
		    (s->valid != NULL && !s->valid(strs[i])))
			goto invalid;
	}
	return (0);
 invalid:
	(void)snprintf(why, whylen, "%s %u: invalid", s->key, i);
	return (-1);
}

static int
unpack_addrs(const struct setting *s, const msgpack_object *v, void *base,
    char *why, size_t whylen)
{
	struct net_addr		*addrs = (void *)((uint8_t *)base + s->off);
	const msgpack_object	*e;
	char			 a[NET_ADDRSTRLEN];
	uint32_t		 i;

	if ((e = entries(s, v, s->size / sizeof(*addrs), why, whylen)) ==
	    NULL)
		return (-1);
	for (i = 0; i < v->via.array.size; i++)
		if (mp_get_str(&e[i], a, sizeof(a)) == -1 ||
		    net_parse(a, &addrs[i]) == -1) {
			(void)snprintf(why, whylen, "%s %u: invalid", s->key,
			    i);
			return (-1);
		}
	set_uint(s, base, s->countoff, s->countsize, v->via.array.size);
	return (0);
}

static int
unpack_list(const struct setting *s, const msgpack_object *v, void *base,
    char *why, size_t whylen)
{
	const msgpack_object	*e;
	void			*entry;
	char			 ewhy[256];
	uint32_t		 i;

	if ((e = entries(s, v, s->max, why, whylen)) == NULL)
		return (-1);
	for (i = 0; i < v->via.array.size; i++) {
		if ((entry = s->add(base)) == NULL) {
			(void)snprintf(why, whylen, "%s: out of memory",
			    s->key);
			return (-1);
		}
		if (settings_unpack(&e[i], s->sub, entry, ewhy,
		    sizeof(ewhy)) == -1) {
			(void)snprintf(why, whylen, "%s %u: %s", s->key, i,
			    ewhy);
			return (-1);
		}
	}
	return (0);
}

static int
unpack_row(const struct setting *s, const msgpack_object *v, void *base,
    char *why, size_t whylen)
{
	uint8_t		*field = (uint8_t *)base + s->off;
	uint64_t	 u;
	int		 b;

	switch (s->type) {
	case SET_UINT:
		if (mp_get_uint(v, UINT64_MAX, &u) == -1 || u < s->min ||
		    u > max_uint(s)) {
			(void)snprintf(why, whylen, "%s: not a number of %llu "
			    "to %llu", s->key, (unsigned long long)s->min,
			    (unsigned long long)max_uint(s));
			return (-1);
		}
		set_uint(s, base, s->off, s->size, u);
		return (0);
	case SET_STR:
		if (mp_get_str(v, (char *)field, s->size) == -1 ||
		    (s->valid != NULL && !s->valid((char *)field))) {
			(void)snprintf(why, whylen, "%s: not a valid string "
			    "of at most %zu bytes", s->key, s->size - 1);
			return (-1);
		}
		return (0);
	case SET_BOOL:
		if (s->size != sizeof(b))
			fatalx("setting %s: not an int", s->key);
		if (mp_get_bool(v, &b) == -1) {
			(void)snprintf(why, whylen, "%s: not a boolean",
			    s->key);
			return (-1);
		}
		memcpy(field, &b, sizeof(b));
		return (0);
	case SET_STRS:
		return (unpack_strs(s, v, base, why, whylen));
	case SET_ADDRS:
		return (unpack_addrs(s, v, base, why, whylen));
	case SET_LIST:
		return (unpack_list(s, v, base, why, whylen));
	}
	return (-1);
}

int
settings_unpack(const msgpack_object *map, const struct setting *t,
    void *base, char *why, size_t whylen)
{
	const struct setting	*s;
	const msgpack_object	*v;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
		(void)snprintf(why, whylen, "not a map");
		return (-1);
	}
	for (s = t; s->key != NULL; s++) {
		if ((v = mp_map_get(map, s->key)) == NULL) {
			(void)snprintf(why, whylen, "%s: missing", s->key);
			return (-1);
		}
		if (unpack_row(s, v, base, why, whylen) == -1)
			return (-1);
	}
	return (0);
}

int
settings_load(const void *buf, size_t len, const struct setting *t,
    void *base, char *why, size_t whylen)
{
	struct mp_doc	 d;
	int		 r = -1;

	if (mp_parse(&d, buf, len) == -1)
		(void)snprintf(why, whylen, "malformed configuration");
	else
		r = settings_unpack(d.root, t, base, why, whylen);
	mp_free(&d);
	return (r);
}
