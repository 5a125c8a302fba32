/*
 * settings.c: see settings.h.  A row whose field does not fit its type
 * is a mistake in the table, not in the input: fatalx() says which.
 */

#include <stdio.h>

#include "compat.h"
#include "log.h"
#include "mp.h"
#include "settings.h"

static uint64_t
field_uint(const struct setting *s, const void *base)
{
	const uint8_t	*p = (const uint8_t *)base + s->off;
	uint8_t		 u8;
	uint16_t	 u16;
	uint32_t	 u32;
	uint64_t	 u64;

	switch (s->size) {
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
	fatalx("setting %s: a field of %zu bytes", s->key, s->size);
}

static void
field_set_uint(const struct setting *s, void *base, uint64_t v)
{
	uint8_t		*p = (uint8_t *)base + s->off;
	uint8_t		 u8 = (uint8_t)v;
	uint16_t	 u16 = (uint16_t)v;
	uint32_t	 u32 = (uint32_t)v;

	switch (s->size) {
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
	fatalx("setting %s: a field of %zu bytes", s->key, s->size);
}

/* The bounds a field can hold, whatever the row says. */
static uint64_t
field_max(const struct setting *s)
{
	if (s->size >= 8)
		return (UINT64_MAX);
	return (MINIMUM(s->max, (1ULL << (s->size * 8)) - 1));
}

void
settings_pack(msgpack_packer *pk, const struct setting *t, size_t n,
    const void *base)
{
	const struct setting	*s;
	int			 b;
	size_t			 i;

	for (i = 0; i < n; i++) {
		s = &t[i];
		switch (s->type) {
		case SET_UINT:
			mp_pack_kuint(pk, s->key, field_uint(s, base));
			break;
		case SET_STR:
			mp_pack_kstr(pk, s->key, (const char *)base + s->off);
			break;
		case SET_BOOL:
			if (s->size != sizeof(int))
				fatalx("setting %s: not an int", s->key);
			memcpy(&b, (const uint8_t *)base + s->off, sizeof(b));
			mp_pack_kbool(pk, s->key, b);
			break;
		}
	}
}

int
settings_unpack(const msgpack_object *map, const struct setting *t,
    size_t n, void *base, char *why, size_t whylen)
{
	const struct setting	*s;
	char			*str;
	uint64_t		 v;
	int			 b;
	size_t			 i;

	for (i = 0; i < n; i++) {
		s = &t[i];
		switch (s->type) {
		case SET_UINT:
			if (mp_map_uint(map, s->key, UINT64_MAX, &v) == -1) {
				(void)snprintf(why, whylen, "%s: missing or "
				    "not an unsigned integer", s->key);
				return (-1);
			}
			if (v < s->min || v > field_max(s)) {
				(void)snprintf(why, whylen, "%s: %llu out of "
				    "range %llu..%llu", s->key,
				    (unsigned long long)v,
				    (unsigned long long)s->min,
				    (unsigned long long)field_max(s));
				return (-1);
			}
			field_set_uint(s, base, v);
			break;
		case SET_STR:
			str = (char *)base + s->off;
			if (mp_map_str(map, s->key, str, s->size) == -1) {
				(void)snprintf(why, whylen, "%s: missing, not "
				    "a string or longer than %zu bytes",
				    s->key, s->size - 1);
				return (-1);
			}
			if (s->valid != NULL && !s->valid(str)) {
				(void)snprintf(why, whylen, "%s: invalid",
				    s->key);
				return (-1);
			}
			break;
		case SET_BOOL:
			if (s->size != sizeof(int))
				fatalx("setting %s: not an int", s->key);
			if (mp_map_bool(map, s->key, &b) == -1) {
				(void)snprintf(why, whylen, "%s: missing or "
				    "not a boolean", s->key);
				return (-1);
			}
			memcpy((uint8_t *)base + s->off, &b, sizeof(b));
			break;
		}
	}
	return (0);
}

int
settings_parse(struct mp_doc *d, const void *buf, size_t len,
    const struct setting *t, size_t n, void *base, char *why, size_t whylen)
{
	if (mp_parse(d, buf, len) == -1) {
		(void)snprintf(why, whylen, "malformed configuration");
		return (-1);
	}
	return (settings_unpack(d->root, t, n, base, why, whylen));
}

const msgpack_object *
settings_list(const msgpack_object *map, const char *key, uint32_t max,
    char *why, size_t whylen)
{
	const msgpack_object	*o;

	if ((o = mp_map_array(map, key, max)) == NULL)
		(void)snprintf(why, whylen, "%s: missing, not a list or more "
		    "than %u", key, max);
	return (o);
}
