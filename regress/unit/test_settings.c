/*
 * test_settings.c: a configuration map packed and unpacked from a
 * settings table (settings.c).
 *
 * What settings_pack() writes, settings_unpack() reads back, field for
 * field, for every type and field width.  A map that lacks any key of
 * the table, holds a value of the wrong type, a number out of the row's
 * bounds (or of what the field can hold), a string that does not fit
 * its field, has a NUL in it or fails the row's check, is refused with
 * the key named in the reason.  A key the table does not name is left
 * alone, as before the table.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "mp.h"
#include "settings.h"
#include "unit.h"

struct conf {
	char		 name[8];
	unsigned int	 timeout;
	uint8_t		 small;
	uint16_t	 medium;
	uint64_t	 big;
	int		 flag;
};

static int
no_x(const char *s)
{
	return (strchr(s, 'x') == NULL);
}

static const struct setting table[] = {
	SETTING_STR("name", struct conf, name, no_x),
	SETTING_UINT("timeout", struct conf, timeout, 1, 3600),
	SETTING_UINT("small", struct conf, small, 0, 1000),
	SETTING_UINT("medium", struct conf, medium, 2, 65535),
	SETTING_UINT("big", struct conf, big, 0, UINT64_MAX),
	SETTING_BOOL("flag", struct conf, flag),
};

static const struct conf good = {
	"abc", 30, 255, 65535, UINT64_MAX, 1
};

/* A value to put in place of one key's. */
enum kind { V_NONE, V_UINT, V_INT, V_STR, V_TRUE, V_NIL };

struct val {
	enum kind	 kind;
	uint64_t	 u;
	const char	*s;
	size_t		 slen;
};

static void
put(msgpack_packer *pk, const struct val *v)
{
	switch (v->kind) {
	case V_NONE:
		break;
	case V_UINT:
		msgpack_pack_uint64(pk, v->u);
		break;
	case V_INT:
		msgpack_pack_int64(pk, -(int64_t)v->u);
		break;
	case V_STR:
		msgpack_pack_str(pk, v->slen);
		msgpack_pack_str_body(pk, v->s, v->slen);
		break;
	case V_TRUE:
		msgpack_pack_true(pk);
		break;
	case V_NIL:
		msgpack_pack_nil(pk);
		break;
	}
}

static int
is_key(const msgpack_object *k, const char *key)
{
	return (key != NULL && k->via.str.size == strlen(key) &&
	    memcmp(k->via.str.ptr, key, strlen(key)) == 0);
}

/*
 * The map of good, with the value of key replaced by v, or key left out
 * (V_NONE), or added if the table does not name it.
 */
static void
build(struct mp_out *m, const char *key, const struct val *v)
{
	struct mp_out		 all;
	struct mp_doc		 d;
	const msgpack_object_kv	*kv;
	uint32_t		 i, n;
	int			 found = 0;

	mp_out_init(&all);
	msgpack_pack_map(&all.pk, nitems(table));
	settings_pack(&all.pk, table, nitems(table), &good);
	if (mp_parse(&d, all.sb.data, all.sb.size) == -1) {
		printf("FAIL build: the packed map does not parse\n");
		exit(1);
	}
	n = d.root->via.map.size;
	for (i = 0; i < n; i++)
		found |= is_key(&d.root->via.map.ptr[i].key, key);
	mp_out_reset(m);
	if (found && v->kind == V_NONE)
		msgpack_pack_map(&m->pk, n - 1);
	else
		msgpack_pack_map(&m->pk, n + (!found && key != NULL));
	for (i = 0; i < n; i++) {
		kv = &d.root->via.map.ptr[i];
		if (is_key(&kv->key, key) && v->kind == V_NONE)
			continue;
		msgpack_pack_object(&m->pk, kv->key);
		if (is_key(&kv->key, key))
			put(&m->pk, v);
		else
			msgpack_pack_object(&m->pk, kv->val);
	}
	if (!found && key != NULL) {
		mp_pack_str(&m->pk, key);
		put(&m->pk, v);
	}
	mp_free(&d);
	mp_out_free(&all);
}

static int
unpack(const void *buf, size_t len, struct conf *c, char *why,
    size_t whylen)
{
	struct mp_doc	 d;
	int		 r;

	memset(c, 0, sizeof(*c));
	why[0] = '\0';
	r = settings_parse(&d, buf, len, table, nitems(table), c, why,
	    whylen);
	mp_free(&d);
	return (r);
}

struct test {
	const char	*name;
	const char	*key;
	struct val	 v;
};

#define U(n)	{ V_UINT, (n), NULL, 0 }
#define S(s)	{ V_STR, 0, (s), sizeof(s) - 1 }

static const struct test refusals[] = {
	{ "name missing", "name", { V_NONE, 0, NULL, 0 } },
	{ "timeout missing", "timeout", { V_NONE, 0, NULL, 0 } },
	{ "flag missing", "flag", { V_NONE, 0, NULL, 0 } },
	{ "timeout 0", "timeout", U(0) },
	{ "timeout 3601", "timeout", U(3601) },
	{ "timeout negative", "timeout", { V_INT, 1, NULL, 0 } },
	{ "timeout a string", "timeout", S("30") },
	{ "timeout a bool", "timeout", { V_TRUE, 0, NULL, 0 } },
	{ "timeout nil", "timeout", { V_NIL, 0, NULL, 0 } },
	{ "small 256, more than a byte", "small", U(256) },
	{ "medium 1, below its min", "medium", U(1) },
	{ "name too long", "name", S("12345678") },
	{ "name a number", "name", U(1) },
	{ "name with a NUL", "name", S("a\0b") },
	{ "name fails its check", "name", S("axb") },
	{ "flag a number", "flag", U(1) },
	{ "flag nil", "flag", { V_NIL, 0, NULL, 0 } },
};

static const struct test accepts[] = {
	{ "timeout 1", "timeout", U(1) },
	{ "timeout 3600", "timeout", U(3600) },
	{ "medium 2", "medium", U(2) },
	{ "small 0", "small", U(0) },
	{ "name of 7 bytes", "name", S("1234567") },
	{ "name empty", "name", S("") },
	{ "a key the table does not name", "other", U(1) },
};

int
main(void)
{
	struct mp_out	 m;
	struct conf	 c;
	char		 why[128], name[160];
	size_t		 i;

	mp_out_init(&m);
	build(&m, NULL, NULL);
	UT_CHECK("round trip: unpacks", unpack(m.sb.data, m.sb.size, &c, why,
	    sizeof(why)) == 0);
	UT_CHECK("round trip: name", strcmp(c.name, good.name) == 0);
	UT_CHECK("round trip: timeout", c.timeout == good.timeout);
	UT_CHECK("round trip: uint8", c.small == good.small);
	UT_CHECK("round trip: uint16", c.medium == good.medium);
	UT_CHECK("round trip: uint64", c.big == good.big);
	UT_CHECK("round trip: bool", c.flag == good.flag);

	for (i = 0; i < nitems(refusals); i++) {
		build(&m, refusals[i].key, &refusals[i].v);
		(void)snprintf(name, sizeof(name), "refused: %s",
		    refusals[i].name);
		UT_CHECK(name, unpack(m.sb.data, m.sb.size, &c, why,
		    sizeof(why)) == -1 && strncmp(why, refusals[i].key,
		    strlen(refusals[i].key)) == 0);
	}
	for (i = 0; i < nitems(accepts); i++) {
		build(&m, accepts[i].key, &accepts[i].v);
		(void)snprintf(name, sizeof(name), "accepted: %s",
		    accepts[i].name);
		UT_CHECK(name, unpack(m.sb.data, m.sb.size, &c, why,
		    sizeof(why)) == 0);
	}

	mp_out_reset(&m);
	msgpack_pack_array(&m.pk, 0);
	UT_CHECK("refused: not a map", unpack(m.sb.data, m.sb.size, &c, why,
	    sizeof(why)) == -1);
	UT_CHECK("refused: no bytes", unpack("", 0, &c, why, sizeof(why)) ==
	    -1);
	UT_CHECK("refused: trailing bytes", unpack("\x80\x00", 2, &c, why,
	    sizeof(why)) == -1);
	mp_out_free(&m);
	UT_EXIT();
}
