/*
 * mp.c: structure check, checked accessors and packing shorthands for
 * msgpack payloads (mp.h).
 */

#include <errno.h>

#include "compat.h"
#include "mp.h"

/* Bytes a value's header takes beyond its first byte, by format. */
static int
mp_hdr(const uint8_t *p, size_t left, size_t *hdr, uint64_t *n,
    int *kind)
{
	uint8_t		 b = p[0];
	size_t		 w = 0;
	uint64_t	 v = 0;
	size_t		 i;

	/* kind: 0 scalar with n payload bytes, 1 array, 2 map */
	*kind = 0;
	*n = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
		*hdr = 1;
		return (0);
	}
	if ((b & 0xf0) == 0x80) {
		*hdr = 1;
		*n = b & 0x0f;
		*kind = 2;
		return (0);
	}
	if ((b & 0xf0) == 0x90) {
		*hdr = 1;
		*n = b & 0x0f;
		*kind = 1;
		return (0);
	}
	if ((b & 0xe0) == 0xa0) {
		*hdr = 1;
		*n = b & 0x1f;
		return (0);
	}
	switch (b) {
	case 0xc4: case 0xd9: w = 1; break;	/* bin8, str8 */
	case 0xc5: case 0xda: w = 2; break;
	case 0xc6: case 0xdb: w = 4; break;
	case 0xc7: w = 1; break;		/* ext8 */
	case 0xc8: w = 2; break;
	case 0xc9: w = 4; break;
	case 0xca: *hdr = 1; *n = 4; return (0);
	case 0xcb: *hdr = 1; *n = 8; return (0);
	case 0xcc: case 0xd0: *hdr = 1; *n = 1; return (0);
	case 0xcd: case 0xd1: *hdr = 1; *n = 2; return (0);
	case 0xce: case 0xd2: *hdr = 1; *n = 4; return (0);
	case 0xcf: case 0xd3: *hdr = 1; *n = 8; return (0);
	case 0xd4: *hdr = 1; *n = 2; return (0);	/* fixext */
	case 0xd5: *hdr = 1; *n = 3; return (0);
	case 0xd6: *hdr = 1; *n = 5; return (0);
	case 0xd7: *hdr = 1; *n = 9; return (0);
	case 0xd8: *hdr = 1; *n = 17; return (0);
	case 0xdc: w = 2; *kind = 1; break;
	case 0xdd: w = 4; *kind = 1; break;
	case 0xde: w = 2; *kind = 2; break;
	case 0xdf: w = 4; *kind = 2; break;
	default:
		return (-1);			/* 0xc1 is never used */
	}
	if (left < 1 + w)
		return (-1);
	for (i = 0; i < w; i++)
		v = (v << 8) | p[1 + i];
	*hdr = 1 + w;
	if (b >= 0xc7 && b <= 0xc9)
		v += 1;				/* ext type byte */
	*n = v;
	return (0);
}

int
mp_check(const void *buf, size_t len, int maxdepth)
{
	const uint8_t	*p = buf;
	size_t		 off = 0, hdr, left;
	uint64_t	 n;
	uint64_t	 todo[MP_MAXDEPTH + 1];
	int		 depth = 0, kind;

	if (maxdepth > MP_MAXDEPTH)
		maxdepth = MP_MAXDEPTH;
	todo[0] = 1;
	while (depth >= 0) {
		if (todo[depth] == 0) {
			depth--;
			continue;
		}
		todo[depth]--;
		if (off >= len)
			return (-1);
		left = len - off;
		if (mp_hdr(p + off, left, &hdr, &n, &kind) == -1)
			return (-1);
		off += hdr;
		left -= hdr;
		if (kind == 0) {
			if (n > left)
				return (-1);
			off += (size_t)n;
			continue;
		}
		if (kind == 2) {
			if (n > left / 2)
				return (-1);
			n *= 2;
		} else if (n > left)
			return (-1);
		if (n == 0)
			continue;
		if (depth + 1 > maxdepth)
			return (-1);
		todo[++depth] = n;
	}
	return (off == len ? 0 : -1);
}

int
mp_parse(struct mp_doc *d, const void *buf, size_t len)
{
	size_t	 off = 0;

	msgpack_unpacked_init(&d->u);
	d->root = NULL;
	if (mp_check(buf, len, MP_MAXDEPTH) == -1)
		return (-1);
	if (msgpack_unpack_next(&d->u, buf, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len)
		return (-1);
	d->root = &d->u.data;
	return (0);
}

void
mp_free(struct mp_doc *d)
{
	msgpack_unpacked_destroy(&d->u);
	d->root = NULL;
}

int
mp_get_str(const msgpack_object *o, char *dst, size_t dstsz)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR ||
	    o->via.str.size >= dstsz)
		return (-1);
	/* msgpack-c leaves ptr NULL for an empty string */
	if (o->via.str.size > 0) {
		if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
			return (-1);
		memcpy(dst, o->via.str.ptr, o->via.str.size);
	}
	dst[o->via.str.size] = '\0';
	return (0);
}

int
mp_get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 > max)
		return (-1);
	*v = o->via.u64;
	return (0);
}

int
mp_get_bin(const msgpack_object *o, void *dst, size_t len)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BIN ||
	    o->via.bin.size != len)
		return (-1);
	if (len > 0)
		memcpy(dst, o->via.bin.ptr, len);
	return (0);
}

int
mp_get_bool(const msgpack_object *o, int *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return (-1);
	*v = o->via.boolean ? 1 : 0;
	return (0);
}

int
mp_is_nil(const msgpack_object *o)
{
	return (o != NULL && o->type == MSGPACK_OBJECT_NIL);
}

const msgpack_object *
mp_map_get(const msgpack_object *map, const char *key)
{
	const msgpack_object_kv	*kv;
	size_t			 klen = strlen(key);
	uint32_t		 i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return (NULL);
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == klen && (klen == 0 ||
		    memcmp(kv->key.via.str.ptr, key, klen) == 0))
			return (&kv->val);
	}
	return (NULL);
}

int
mp_map_str(const msgpack_object *map, const char *key, char *dst,
    size_t dstsz)
{
	return (mp_get_str(mp_map_get(map, key), dst, dstsz));
}

int
mp_map_uint(const msgpack_object *map, const char *key, uint64_t max,
    uint64_t *v)
{
	return (mp_get_uint(mp_map_get(map, key), max, v));
}

int
mp_map_bin(const msgpack_object *map, const char *key, void *dst,
    size_t len)
{
	return (mp_get_bin(mp_map_get(map, key), dst, len));
}

int
mp_map_bool(const msgpack_object *map, const char *key, int *v)
{
	return (mp_get_bool(mp_map_get(map, key), v));
}

const msgpack_object *
mp_map_array(const msgpack_object *map, const char *key, uint32_t max)
{
	const msgpack_object	*o = mp_map_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size > max)
		return (NULL);
	return (o);
}

void
mp_out_init(struct mp_out *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

void
mp_out_reset(struct mp_out *m)
{
	msgpack_sbuffer_clear(&m->sb);
}

void
mp_out_free(struct mp_out *m)
{
	msgpack_sbuffer_destroy(&m->sb);
	memset(m, 0, sizeof(*m));
}

void
mp_pack_str(msgpack_packer *pk, const char *s)
{
	size_t	 l = strlen(s);

	msgpack_pack_str(pk, l);
	msgpack_pack_str_body(pk, s, l);
}

void
mp_pack_kstr(msgpack_packer *pk, const char *k, const char *v)
{
	mp_pack_str(pk, k);
	mp_pack_str(pk, v);
}

void
mp_pack_kuint(msgpack_packer *pk, const char *k, uint64_t v)
{
	mp_pack_str(pk, k);
	msgpack_pack_uint64(pk, v);
}

void
mp_pack_kbin(msgpack_packer *pk, const char *k, const void *v, size_t l)
{
	mp_pack_str(pk, k);
	msgpack_pack_bin(pk, l);
	msgpack_pack_bin_body(pk, v, l);
}

void
mp_pack_kbool(msgpack_packer *pk, const char *k, int v)
{
	mp_pack_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}
