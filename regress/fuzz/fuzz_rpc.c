/*
 * fuzz_rpc.c: libFuzzer target for the msgpack layer (mp.c) and
 * msgpack-RPC (rpc.c): mp_check(), mp_parse(), rpc_parse(), the
 * accessors, the packers and the table of calls.
 *
 * Besides memory errors and leaks (a failed mp_parse() is not
 * followed by mp_free(), as the daemons do it) it checks:
 * - mp_check() agrees with a reference checker written here from the
 *   msgpack spec, at MP_MAXDEPTH and at small depths, and mp_parse()
 *   succeeds exactly when mp_check() does;
 * - what rpc_parse() accepts is well-formed: type, method and caller
 *   NUL-terminated inside their buffers with no NUL inside the
 *   string they came from, a caller is a valid name;
 * - packing the parsed message with the rpc_* packers and parsing it
 *   again gives the same message, bit for bit;
 * - a response completes a pending call with that msgid exactly once,
 *   with rpc_error_str()'s text or with the result itself;
 * - the accessors respect their bounds (exact-size heap buffers) and
 *   mp_map_get() finds the first pair with the key.
 *
 * Seeds: regress/fuzz/corpus/rpc/.
 */

#include <sys/time.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "compat.h"
#include "mp.h"
#include "rpc.h"
#include "fuzz.h"

struct reply {
	int			 n;
	char			 error[256];
	int			 haderror;
	const msgpack_object	*result;
};

static long	 ref_obj(const uint8_t *, size_t, size_t, int, int);
static int	 ref_check(const uint8_t *, size_t, int);
static void	 fz_checks(const uint8_t *, size_t);
static void	 fz_pack(msgpack_object, struct mp_out *);
static void	 fz_same(const msgpack_object *, const uint8_t *, size_t);
static void	 fz_str(const msgpack_object *, size_t);
static void	 fz_access(const msgpack_object *);
static void	 fz_msg(const struct rpc_msg *, const msgpack_object *);
static void	 fz_repack(const struct rpc_msg *, const msgpack_object *);
static void	 fz_reply(const char *, const msgpack_object *, void *);
static void	 fz_call(const struct rpc_msg *);

static struct event_base	*base;

/*
 * The offset just past the object at off, or -1.  depth containers
 * hold it; as in mp_check() only a container with elements counts
 * towards maxdepth.
 */
static long
ref_obj(const uint8_t *p, size_t len, size_t off, int depth, int maxdepth)
{
	uint64_t	 n = 0, count, i;
	size_t		 w = 0, j;
	uint8_t		 b;
	int		 kind = 0;	/* 0 bytes, 1 array, 2 map */
	long		 r;

	if (off >= len)
		return (-1);
	b = p[off++];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return ((long)off);
	if (b >= 0x80 && b <= 0x8f) {
		n = b & 0x0f;
		kind = 2;
	} else if (b >= 0x90 && b <= 0x9f) {
		n = b & 0x0f;
		kind = 1;
	} else if (b >= 0xa0 && b <= 0xbf)
		n = b & 0x1f;
	else if (b >= 0xc4 && b <= 0xc6)	/* bin 8/16/32 */
		w = (size_t)1 << (b - 0xc4);
	else if (b >= 0xc7 && b <= 0xc9)	/* ext 8/16/32 */
		w = (size_t)1 << (b - 0xc7);
	else if (b == 0xca)
		n = 4;
	else if (b == 0xcb)
		n = 8;
	else if (b >= 0xcc && b <= 0xcf)
		n = (uint64_t)1 << (b - 0xcc);
	else if (b >= 0xd0 && b <= 0xd3)
		n = (uint64_t)1 << (b - 0xd0);
	else if (b >= 0xd4 && b <= 0xd8)	/* fixext: type + data */
		n = ((uint64_t)1 << (b - 0xd4)) + 1;
	else if (b >= 0xd9 && b <= 0xdb)	/* str 8/16/32 */
		w = (size_t)1 << (b - 0xd9);
	else if (b == 0xdc || b == 0xdd) {
		w = b == 0xdc ? 2 : 4;
		kind = 1;
	} else if (b == 0xde || b == 0xdf) {
		w = b == 0xde ? 2 : 4;
		kind = 2;
	} else
		return (-1);			/* 0xc1 */
	if (w > 0) {
		if (len - off < w)
			return (-1);
		for (j = 0; j < w; j++)
			n = n << 8 | p[off + j];
		off += w;
		if (b >= 0xc7 && b <= 0xc9)
			n++;			/* the ext type byte */
	}
	if (kind == 0) {
		if (n > len - off)
			return (-1);
		return ((long)(off + n));
	}
	if (n == 0)
		return ((long)off);
	if (depth + 1 > maxdepth)
		return (-1);
	count = kind == 2 ? 2 * n : n;
	for (i = 0; i < count; i++) {
		if ((r = ref_obj(p, len, off, depth + 1, maxdepth)) == -1)
			return (-1);
		off = (size_t)r;
	}
	return ((long)off);
}

static int
ref_check(const uint8_t *p, size_t len, int maxdepth)
{
	if (maxdepth > MP_MAXDEPTH)
		maxdepth = MP_MAXDEPTH;
	return (ref_obj(p, len, 0, 0, maxdepth) == (long)len ? 0 : -1);
}

/* mp_check() against the reference, on an exact-size copy. */
static void
fz_checks(const uint8_t *data, size_t size)
{
	uint8_t	*copy;
	int	 d;

	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	FZ_ASSERT(mp_check(copy, size, MP_MAXDEPTH) ==
	    ref_check(copy, size, MP_MAXDEPTH));
	d = size > 0 ? copy[size - 1] % 4 : 0;
	FZ_ASSERT(mp_check(copy, size, d) == ref_check(copy, size, d));
	FZ_ASSERT(mp_check(copy, size, 100) == ref_check(copy, size, 100));
	free(copy);
}

static void
fz_pack(msgpack_object o, struct mp_out *out)
{
	mp_out_init(out);
	msgpack_pack_object(&out->pk, o);
}

/* The object packs to exactly these bytes. */
static void
fz_same(const msgpack_object *o, const uint8_t *b, size_t len)
{
	struct mp_out	 out;

	fz_pack(*o, &out);
	FZ_ASSERT(out.sb.size == len && memcmp(out.sb.data, b, len) == 0);
	mp_out_free(&out);
}

/* mp_get_str() into exact-size heap buffers around the string. */
static void
fz_str(const msgpack_object *o, size_t dstsz)
{
	char	*dst;
	int	 r;

	if ((dst = malloc(dstsz > 0 ? dstsz : 1)) == NULL)
		abort();
	r = mp_get_str(o, dst, dstsz);
	if (r == 0) {
		FZ_ASSERT(o->type == MSGPACK_OBJECT_STR);
		FZ_ASSERT(o->via.str.size < dstsz);
		FZ_ASSERT(strlen(dst) == o->via.str.size);
	} else if (o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size < dstsz)
		FZ_ASSERT(memchr(o->via.str.ptr, '\0', o->via.str.size) !=
		    NULL);
	free(dst);
}

/* The accessors on whatever params are. */
static void
fz_access(const msgpack_object *p)
{
	const msgpack_object	*a, *v;
	const msgpack_object_kv	*kv;
	uint64_t		 u;
	uint8_t			*bin;
	char			 key[64];
	uint32_t		 i, k;
	size_t			 sz;
	int			 b;

	if (mp_map_uint(p, "ttl", 86400, &u) == 0)
		FZ_ASSERT(u <= 86400);
	if (mp_map_uint(p, "id", UINT64_MAX, &u) == 0)
		FZ_ASSERT(mp_map_get(p, "id")->via.u64 == u);
	if (mp_map_bool(p, "up", &b) == 0)
		FZ_ASSERT(b == 0 || b == 1);
	if ((bin = malloc(16)) == NULL)
		abort();
	if (mp_map_bin(p, "token", bin, 16) == 0)
		FZ_ASSERT(memcmp(bin, mp_map_get(p, "token")->via.bin.ptr,
		    16) == 0);
	free(bin);
	fz_str(mp_map_get(p, "domain"), 256);
	fz_str(mp_map_get(p, "endpoint"), 1);
	fz_str(mp_map_get(p, "client"), 0);
	if ((a = mp_map_array(p, "domains", 64)) != NULL) {
		FZ_ASSERT(a->type == MSGPACK_OBJECT_ARRAY &&
		    a->via.array.size <= 64);
		for (i = 0; i < a->via.array.size; i++)
			fz_str(&a->via.array.ptr[i], 16);
	}
	if (p == NULL || p->type != MSGPACK_OBJECT_MAP)
		return;
	/* Every string key is found, and it is its first pair. */
	for (i = 0; i < p->via.map.size && i < 256; i++) {
		kv = &p->via.map.ptr[i];
		if (mp_get_str(&kv->key, key, sizeof(key)) == -1)
			continue;
		v = mp_map_get(p, key);
		for (k = 0; k < i; k++)
			if (p->via.map.ptr[k].key.type == MSGPACK_OBJECT_STR &&
			    p->via.map.ptr[k].key.via.str.size == strlen(key) &&
			    (key[0] == '\0' || memcmp(
			    p->via.map.ptr[k].key.via.str.ptr, key,
			    strlen(key)) == 0))
				break;
		FZ_ASSERT(v == &p->via.map.ptr[k].val);
		sz = kv->val.type == MSGPACK_OBJECT_STR ?
		    kv->val.via.str.size + 1 : 8;
		fz_str(&kv->val, sz);
	}
}

static void
fz_msg(const struct rpc_msg *m, const msgpack_object *root)
{
	const msgpack_object	*a = root->via.array.ptr;
	char			 op[RPC_NAMEMAX], name[RPC_NAMEMAX];
	size_t			 ml;

	FZ_ASSERT(root->type == MSGPACK_OBJECT_ARRAY);
	FZ_ASSERT(m->type >= RPC_REQUEST && m->type <= RPC_NOTIFY);
	FZ_ASSERT(memchr(m->method, '\0', sizeof(m->method)) != NULL);
	FZ_ASSERT(memchr(m->caller, '\0', sizeof(m->caller)) != NULL);
	ml = strlen(m->method);
	switch (m->type) {
	case RPC_REQUEST:
		FZ_ASSERT(root->via.array.size == 4 ||
		    root->via.array.size == 5);
		FZ_ASSERT(a[1].via.u64 == m->msgid);
		FZ_ASSERT(a[2].via.str.size == ml);
		FZ_ASSERT(m->params == &a[3] && m->error == NULL &&
		    m->result == NULL);
		if (root->via.array.size == 5)
			FZ_ASSERT(rpc_valid_name(m->caller));
		else
			FZ_ASSERT(m->caller[0] == '\0');
		break;
	case RPC_RESPONSE:
		FZ_ASSERT(root->via.array.size == 4);
		FZ_ASSERT(a[1].via.u64 == m->msgid);
		FZ_ASSERT(m->error == &a[2] && m->result == &a[3]);
		FZ_ASSERT(ml == 0 && m->caller[0] == '\0' &&
		    m->params == NULL);
		break;
	case RPC_NOTIFY:
		FZ_ASSERT(root->via.array.size == 3);
		FZ_ASSERT(a[1].via.str.size == ml);
		FZ_ASSERT(m->params == &a[2] && m->msgid == 0);
		break;
	}
	if (m->type != RPC_RESPONSE &&
	    rpc_split(m->method, op, sizeof(op), name, sizeof(name)) == 0) {
		FZ_ASSERT(rpc_valid_name(op) && rpc_valid_name(name));
		FZ_ASSERT(strlen(op) + 1 + strlen(name) == ml);
		FZ_ASSERT(strncmp(m->method, op, strlen(op)) == 0 &&
		    m->method[strlen(op)] == '.');
	}
}

/* Pack the message again with the rpc_* packers: the same bytes. */
static void
fz_repack(const struct rpc_msg *m, const msgpack_object *root)
{
	struct mp_out	 a, b;
	struct mp_doc	 d;
	struct rpc_msg	 m2;
	const char	*why;

	fz_pack(*root, &a);
	mp_out_init(&b);
	switch (m->type) {
	case RPC_REQUEST:
		rpc_pack_request(&b.pk, m->msgid, m->method, m->params,
		    m->caller[0] != '\0' ? m->caller : NULL);
		break;
	case RPC_RESPONSE:
		rpc_pack_response(&b.pk, m->msgid, m->error, m->result);
		break;
	case RPC_NOTIFY:
		rpc_begin_notify(&b.pk, m->method);
		msgpack_pack_object(&b.pk, *m->params);
		break;
	}
	FZ_ASSERT(mp_parse(&d, b.sb.data, b.sb.size) == 0);
	FZ_ASSERT(rpc_parse(d.root, &m2, &why) == 0);
	FZ_ASSERT(m2.type == m->type && m2.msgid == m->msgid);
	FZ_ASSERT(strcmp(m2.method, m->method) == 0);
	FZ_ASSERT(strcmp(m2.caller, m->caller) == 0);
	/* The original, packed again, is what the packers made. */
	fz_same(d.root, (const uint8_t *)a.sb.data, a.sb.size);
	mp_free(&d);
	mp_out_free(&a);
	mp_out_free(&b);
}

static void
fz_reply(const char *error, const msgpack_object *result, void *arg)
{
	struct reply	*r = arg;

	r->n++;
	r->haderror = error != NULL;
	if (error != NULL)
		strlcpy(r->error, error, sizeof(r->error));
	r->result = result;
}

/* A response completes the call that has its msgid, once. */
static void
fz_call(const struct rpc_msg *m)
{
	struct rpc_calls	 calls;
	struct timeval		 tv = { 60, 0 };
	struct reply		 r;
	char			 want[256];
	uint32_t		 id;

	if (base == NULL && (base = event_base_new()) == NULL)
		abort();
	rpc_calls_init(&calls, base, 4);
	calls.nextid = m->msgid;
	memset(&r, 0, sizeof(r));
	FZ_ASSERT(rpc_call_new(&calls, &tv, fz_reply, &r, &id) == 0);
	FZ_ASSERT(id == m->msgid);
	FZ_ASSERT(rpc_call_done(&calls, m) == 0);
	FZ_ASSERT(r.n == 1 && calls.count == 0);
	if (mp_is_nil(m->error))
		FZ_ASSERT(!r.haderror && r.result == m->result);
	else {
		rpc_error_str(m->error, want, sizeof(want));
		FZ_ASSERT(r.haderror && strcmp(r.error, want) == 0 &&
		    r.result == NULL);
		FZ_ASSERT(strlen(want) <= 200);
	}
	FZ_ASSERT(rpc_call_done(&calls, m) == -1 && r.n == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_doc	 d;
	struct rpc_msg	 m;
	const char	*why;
	int		 ck;

	fz_checks(data, size);
	ck = mp_check(data, size, MP_MAXDEPTH);
	/* On failure the daemons do not call mp_free(): nor do we. */
	if (mp_parse(&d, data, size) == -1) {
		FZ_ASSERT(ck == -1);
		return (0);
	}
	FZ_ASSERT(ck == 0);
	fz_access(d.root);
	why = NULL;
	if (rpc_parse(d.root, &m, &why) == -1) {
		FZ_ASSERT(why != NULL);
		mp_free(&d);
		return (0);
	}
	fz_msg(&m, d.root);
	fz_access(m.params);
	fz_repack(&m, d.root);
	if (m.type == RPC_RESPONSE)
		fz_call(&m);
	mp_free(&d);
	return (0);
}
