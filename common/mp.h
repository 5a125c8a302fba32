/*
 * mp.h: checked access to msgpack payloads (msgpack-c underneath).
 *
 * Every payload that crosses a process or network boundary is parsed
 * with mp_parse(), which first checks the structure (nesting depth, and
 * that no container claims more elements than bytes remain, so a few
 * hostile bytes cannot make msgpack-c allocate gigabytes), then unpacks.
 * Fields are then read with the mp_get_* and mp_map_* accessors, which
 * check type and bounds and never trust a length.
 */

#ifndef MP_H
#define MP_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define MP_MAXDEPTH	16

struct mp_doc {
	msgpack_unpacked	 u;
	const msgpack_object	*root;
};

/*
 * 0 on success; -1 if the bytes are no single, well-formed object.  The
 * objects point into buf, which must outlive the document.
 */
int		 mp_parse(struct mp_doc *, const void *buf, size_t len);
void		 mp_free(struct mp_doc *);
int		 mp_check(const void *buf, size_t len, int maxdepth);

/* Accessors: 0 on success, -1 on a wrong type or a value out of range. */
int		 mp_get_str(const msgpack_object *, char *dst, size_t dstsz);
int		 mp_get_uint(const msgpack_object *, uint64_t max, uint64_t *);
int		 mp_get_bin(const msgpack_object *, void *dst, size_t len);
int		 mp_get_bool(const msgpack_object *, int *);
int		 mp_is_nil(const msgpack_object *);

/* Map lookups by string key; NULL or -1 when missing or mistyped. */
const msgpack_object *mp_map_get(const msgpack_object *map, const char *key);
int		 mp_map_str(const msgpack_object *, const char *, char *,
		    size_t);
int		 mp_map_uint(const msgpack_object *, const char *, uint64_t,
		    uint64_t *);
int		 mp_map_bin(const msgpack_object *, const char *, void *,
		    size_t);
int		 mp_map_bool(const msgpack_object *, const char *, int *);
const msgpack_object *mp_map_array(const msgpack_object *, const char *,
		    uint32_t max);

/* Packing: a packer writing into an sbuffer, and key/value shorthands. */
struct mp_out {
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
};

void		 mp_out_init(struct mp_out *);
void		 mp_out_reset(struct mp_out *);
void		 mp_out_free(struct mp_out *);
void		 mp_pack_str(msgpack_packer *, const char *);
void		 mp_pack_kstr(msgpack_packer *, const char *, const char *);
void		 mp_pack_kuint(msgpack_packer *, const char *, uint64_t);
void		 mp_pack_kbin(msgpack_packer *, const char *, const void *,
		    size_t);
void		 mp_pack_kbool(msgpack_packer *, const char *, int);

#endif /* MP_H */
