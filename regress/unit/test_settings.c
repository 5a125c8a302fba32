/*
 * test_settings.c: a configuration map packed and unpacked from a
 * settings table (settings.c).
 *
 * What settings_pack() writes, settings_load() reads back, field for
 * field, for every type and field width, lists included.  A map that
 * lacks any key of the table, holds a value of the wrong type, a number
 * out of the row's bounds (or of what the field can hold), a string
 * that does not fit its field, has a NUL in it or fails the row's
 * check, a list with fewer entries than its row's min or more than its
 * field or row holds, or one bad entry, is refused with the key named
 * in the reason.  A key the table does not name is left alone, as
 * before the table.  Under ASan, what a refused list allocated is
 * freed through its count field.
 */

#include <sys/socket.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "mp.h"
#include "net.h"
#include "settings.h"
#include "unit.h"

struct item {
	TAILQ_ENTRY(item)	 entry;
	char			 id[4];
	unsigned int		 weight;
};
TAILQ_HEAD(items, item);

struct conf {
	char		 name[8];
	unsigned int	 timeout;
	uint8_t		 small;
	uint16_t	 medium;
	uint64_t	 big;
	int		 flag;
	char		*strs[3];
	size_t		 nstrs;
	struct net_addr	 addrs[2];
	int		 naddrs;
	struct items	 items;
};

static int
no_x(const char *s)
{
	return (strchr(s, 'x') == NULL);
}

SETTINGS_TAILQ(item, struct conf, items, struct item, entry)

static const struct setting item_table[] = {
	SETTING_STR("id", struct item, id, NULL),
	SETTING_UINT("weight", struct item, weight, 1, 10),
	SETTINGS_END
};

static const struct setting table[] = {
	SETTING_STR("name", struct conf, name, no_x),
	SETTING_UINT("timeout", struct conf, timeout, 1, 3600),
	SETTING_UINT("small", struct conf, small, 0, 1000),
	SETTING_UINT("medium", struct conf, medium, 2, 65535),
	SETTING_UINT("big", struct conf, big, 0, UINT64_MAX),
	SETTING_BOOL("flag", struct conf, flag),
	SETTING_STRS("strs", struct conf, strs, nstrs, 1, 4, no_x),
	SETTING_ADDRS("addrs", struct conf, addrs, naddrs, 1),
	SETTING_LIST("items", 2, item_table, item_first, item_next, item_add),
	SETTINGS_END
};

static struct conf	 good;

static void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	TAILQ_INIT(&c->items);
}

static void
conf_clear(struct conf *c)
{
	struct item	*i;
	size_t		 n;

	for (n = 0; n < c->nstrs; n++)
		free(c->strs[n]);
	while ((i = TAILQ_FIRST(&c->items)) != NULL) {
		TAILQ_REMOVE(&c->items, i, entry);
		free(i);
	}
	conf_init(c);
}

static void
good_init(void)
{
	static char	 s0[] = "abc", s1[] = "";
	static struct item i0 = { .id = "i0", .weight = 1 };
	static struct item i1 = { .id = "i1", .weight = 10 };

	conf_init(&good);
	(void)strlcpy(good.name, "abc", sizeof(good.name));
	good.timeout = 30;
	good.small = 255;
	good.medium = 65535;
	good.big = UINT64_MAX;
	good.flag = 1;
	good.strs[0] = s0;
	good.strs[1] = s1;
	good.nstrs = 2;
	if (net_parse("127.0.0.1:80", &good.addrs[0]) == -1 ||
	    net_parse("[::1]:443", &good.addrs[1]) == -1) {
		printf("FAIL setup: net_parse\n");
		exit(1);
	}
	good.naddrs = 2;
	TAILQ_INSERT_TAIL(&good.items, &i0, entry);
	TAILQ_INSERT_TAIL(&good.items, &i1, entry);
}

/* A value to put in place of one key's. */
enum kind { V_NONE, V_UINT, V_INT, V_STR, V_TRUE, V_NIL, V_HEX };

struct val {
	enum kind	 kind;
	uint64_t	 u;
	const char	*s;
	size_t		 slen;
};

static void
put(msgpack_packer *pk, const struct val *v)
{
	uint8_t	 buf[256];
	size_t	 n;

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
	case V_HEX:
		n = ut_unhex(v->s, buf, sizeof(buf));
		(void)pk->callback(pk->data, (const char *)buf, n);
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
	settings_pack(&all.pk, table, &good);
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
	conf_clear(c);
	why[0] = '\0';
	return (settings_load(buf, len, table, c, why, whylen));
}

struct test {
	const char	*name;
	const char	*key;
	struct val	 v;
};

#define U(n)	{ V_UINT, (n), NULL, 0 }
#define H(h)	{ V_HEX, 0, (h), 0 }
/* "127.0.0.1:1" and {id: "a", weight: 1} */
#define ADDR	"ab 3132372e302e302e313a31"
#define ITEM	"82 a26964 a161 a6776569676874 01"
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
	{ "strs missing", "strs", { V_NONE, 0, NULL, 0 } },
	{ "strs empty, below its min", "strs", H("90") },
	{ "strs of 4, more than the field", "strs",
	    H("94 a161 a162 a163 a164") },
	{ "strs: one fails its check", "strs", H("92 a161 a178") },
	{ "strs: one too long", "strs", H("91 a461626364") },
	{ "strs: one not a string", "strs", H("91 01") },
	{ "strs not a list", "strs", H("a161") },
	{ "addrs empty, below its min", "addrs", H("90") },
	{ "addrs of 3, more than the field", "addrs", H("93" ADDR ADDR ADDR) },
	{ "addrs: one not an address", "addrs", H("91 a3616263") },
	{ "addrs: one not a string", "addrs", H("91 01") },
	{ "addrs not a list", "addrs", U(1) },
	{ "items missing", "items", { V_NONE, 0, NULL, 0 } },
	{ "items of 3, more than its max", "items", H("93" ITEM ITEM ITEM) },
	{ "items: one without weight", "items", H("91 81 a26964 a161") },
	{ "items: one weight 11", "items",
	    H("91 82 a26964 a161 a6776569676874 0b") },
	{ "items: one not a map", "items", H("91 01") },
	{ "items not a list", "items", H("80") },
};

static const struct test accepts[] = {
	{ "timeout 1", "timeout", U(1) },
	{ "timeout 3600", "timeout", U(3600) },
	{ "medium 2", "medium", U(2) },
	{ "small 0", "small", U(0) },
	{ "name of 7 bytes", "name", S("1234567") },
	{ "name empty", "name", S("") },
	{ "a key the table does not name", "other", U(1) },
	{ "strs of 3", "strs", H("93 a161 a162 a3616263") },
	{ "addrs of 1", "addrs", H("91" ADDR) },
	{ "items empty", "items", H("90") },
	{ "items of 2", "items", H("92" ITEM ITEM) },
};

int
main(void)
{
	struct mp_out	 m;
	struct conf	 c;
	char		 why[128], name[160];
	size_t		 i;

	good_init();
	conf_init(&c);
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
	UT_CHECK("round trip: strings", c.nstrs == 2 &&
	    strcmp(c.strs[0], "abc") == 0 && strcmp(c.strs[1], "") == 0);
	UT_CHECK("round trip: addresses", c.naddrs == 2 &&
	    c.addrs[0].len == good.addrs[0].len && memcmp(&c.addrs[0].ss,
	    &good.addrs[0].ss, c.addrs[0].len) == 0 &&
	    c.addrs[1].len == good.addrs[1].len && memcmp(&c.addrs[1].ss,
	    &good.addrs[1].ss, c.addrs[1].len) == 0);
	UT_CHECK("round trip: list", TAILQ_FIRST(&c.items) != NULL &&
	    strcmp(TAILQ_FIRST(&c.items)->id, "i0") == 0 &&
	    TAILQ_FIRST(&c.items)->weight == 1 &&
	    TAILQ_LAST(&c.items, items) != TAILQ_FIRST(&c.items) &&
	    strcmp(TAILQ_LAST(&c.items, items)->id, "i1") == 0 &&
	    TAILQ_LAST(&c.items, items)->weight == 10 &&
	    TAILQ_NEXT(TAILQ_FIRST(&c.items), entry) ==
	    TAILQ_LAST(&c.items, items));

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
	conf_clear(&c);
	mp_out_free(&m);
	UT_EXIT();
}
