/*
 * test_rpc.c: msgpack-RPC parsing and packing and the table of calls
 * under way (rpc.c).
 *
 * rpc_parse() gets requests (with and without the caller epsd
 * attaches), responses and notifications, then every way to get them
 * wrong: arity, element types, msgid out of range, names too long or
 * with a NUL.  The packers are checked by parsing what they produce.
 * The call table runs on a real event_base: completion by response,
 * error responses, timeouts, rpc_calls_fail(), rpc_call_cancel(), the
 * bound on calls and msgid wrap-around; every callback is counted.
 */

#include <sys/time.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "compat.h"
#include "mp.h"
#include "rpc.h"
#include "unit.h"

#define WAIT_MS		5000

/* What a reply callback was given. */
struct reply {
	int			 n;
	int			 haderror;
	char			 error[256];
	int			 hadresult;
	uint64_t		 u;		/* result, if a uint */
	int			 resstr;	/* result was "ok" */
	struct rpc_calls	*calls;		/* re-enter this table */
	int			 reissue;	/* calls to start from cb */
	uint32_t		 newid;
};

static struct mp_doc	 cur;		/* the last document parsed */
static int		 have_cur;

static int	 try_hex(const char *, struct rpc_msg *, const char **);
static int	 try_out(struct mp_out *, struct rpc_msg *, const char **);
static void	 pack_longstr(msgpack_packer *, size_t, char);
static void	 test_parse_ok(void);
static void	 test_parse_bad(void);
static void	 test_parse_long(void);
static void	 test_names(void);
static void	 test_split(void);
static void	 test_error_str(void);
static void	 test_pack(void);
static void	 reply_cb(const char *, const msgpack_object *, void *);
static int	 replied(void *);
static int	 never(void *);
static int	 respond(struct rpc_calls *, uint32_t, const char *, int);
static void	 test_calls(struct event_base *);
static void	 test_calls_time(struct event_base *);
static void	 test_calls_bounds(struct event_base *);

/*
 * rpc_parse() of msgpack given in hex; -2 if it is no msgpack at all.
 * The document points into the bytes parsed, so they must outlive it.
 */
static int
try_hex(const char *hex, struct rpc_msg *m, const char **why)
{
	static uint8_t	 b[1024];
	size_t		 len;

	len = ut_unhex(hex, b, sizeof(b));
	if (have_cur)
		mp_free(&cur);
	have_cur = 0;
	if (mp_parse(&cur, b, len) == -1)
		return (-2);
	have_cur = 1;
	*why = NULL;
	return (rpc_parse(cur.root, m, why));
}

static int
try_out(struct mp_out *o, struct rpc_msg *m, const char **why)
{
	if (have_cur)
		mp_free(&cur);
	have_cur = 0;
	if (mp_parse(&cur, o->sb.data, o->sb.size) == -1)
		return (-2);
	have_cur = 1;
	*why = NULL;
	return (rpc_parse(cur.root, m, why));
}

static void
pack_longstr(msgpack_packer *pk, size_t n, char c)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		exit(1);
	memset(s, c, n);
	s[n] = '\0';
	mp_pack_str(pk, s);
	free(s);
}

static void
test_parse_ok(void)
{
	struct rpc_msg	 m;
	const char	*why;
	uint64_t	 v;

	/* [0, 7, "op.m", {"a": 1}] */
	UT_CHECK("rpc: request of 4 parses",
	    try_hex("94 00 07 a46f702e6d 81a16101", &m, &why) == 0);
	UT_CHECK("rpc: request of 4 fields",
	    m.type == RPC_REQUEST && m.msgid == 7 &&
	    strcmp(m.method, "op.m") == 0 && m.caller[0] == '\0' &&
	    mp_map_uint(m.params, "a", 1, &v) == 0 && v == 1 &&
	    m.error == NULL && m.result == NULL);

	/* [0, 7, "op.m", {}, "alice"] */
	UT_CHECK("rpc: request of 5 parses",
	    try_hex("95 00 07 a46f702e6d 80 a5616c696365", &m, &why) == 0);
	UT_CHECK("rpc: request of 5 carries the caller",
	    strcmp(m.caller, "alice") == 0 &&
	    m.params->type == MSGPACK_OBJECT_MAP);

	/* Params may be anything; rpc_parse leaves them to the method. */
	UT_CHECK("rpc: request with nil params parses",
	    try_hex("94 00 07 a46f702e6d c0", &m, &why) == 0 &&
	    mp_is_nil(m.params));

	/* [1, 9, nil, "res"] */
	UT_CHECK("rpc: response parses",
	    try_hex("94 01 09 c0 a3726573", &m, &why) == 0 &&
	    m.type == RPC_RESPONSE && m.msgid == 9 && mp_is_nil(m.error) &&
	    m.result != NULL && m.result->type == MSGPACK_OBJECT_STR &&
	    m.params == NULL && m.method[0] == '\0');
	/* [1, 9, "err", nil] */
	UT_CHECK("rpc: error response parses",
	    try_hex("94 01 09 a3657272 c0", &m, &why) == 0 &&
	    m.error->type == MSGPACK_OBJECT_STR && mp_is_nil(m.result));

	/* [2, "op.ev", [1, 2]] */
	UT_CHECK("rpc: notification parses",
	    try_hex("93 02 a56f702e6576 920102", &m, &why) == 0 &&
	    m.type == RPC_NOTIFY && strcmp(m.method, "op.ev") == 0 &&
	    m.params->type == MSGPACK_OBJECT_ARRAY && m.msgid == 0);

	UT_CHECK("rpc: msgid UINT32_MAX is accepted",
	    try_hex("94 00 ceffffffff a16d 80", &m, &why) == 0 &&
	    m.msgid == UINT32_MAX);
	UT_CHECK("rpc: msgid as uint64 within range is accepted",
	    try_hex("94 01 cf00000000ffffffff c0 c0", &m, &why) == 0 &&
	    m.msgid == UINT32_MAX);
	UT_CHECK("rpc: type as uint8 is accepted",
	    try_hex("94 cc00 01 a16d 80", &m, &why) == 0 &&
	    m.type == RPC_REQUEST);
}

static void
test_parse_bad(void)
{
	static const struct {
		const char	*name;
		const char	*hex;
	} bad[] = {
		{ "a map", "81a16101" },
		{ "an int", "01" },
		{ "nil", "c0" },
		{ "a string", "a3616263" },
		{ "an empty array", "90" },
		{ "[0]", "9100" },
		{ "[0, 1]", "920001" },
		{ "a request of 3", "93 00 01 a16d" },
		{ "a request of 6", "96 00 01 a16d 80 a161 01" },
		{ "a response of 3", "93 01 01 c0" },
		{ "a response of 5", "95 01 01 c0 c0 c0" },
		{ "a notification of 2", "92 02 a16d" },
		{ "a notification of 4", "94 02 a16d 80 01" },
		{ "type 3", "94 03 01 a16d 80" },
		{ "type -1", "94 ff 01 a16d 80" },
		{ "type as a string", "94 a130 01 a16d 80" },
		{ "type as a float", "94 ca00000000 01 a16d 80" },
		{ "type nil", "94 c0 01 a16d 80" },
		{ "type true", "94 c3 01 a16d 80" },
		{ "type 2^32", "94 cf0000000100000000 01 a16d 80" },
		{ "msgid -1", "94 00 ff a16d 80" },
		{ "msgid as a string", "94 00 a131 a16d 80" },
		{ "msgid nil", "94 00 c0 a16d 80" },
		{ "msgid 2^32", "94 00 cf0000000100000000 a16d 80" },
		{ "msgid 2^64-1", "94 00 cfffffffffffffffff a16d 80" },
		{ "response msgid 2^32", "94 01 cf0000000100000000 c0 c0" },
		{ "response msgid -1", "94 01 d0ff c0 c0" },
		{ "method as bin", "94 00 01 c4026d6d 80" },
		{ "method as an int", "94 00 01 07 80" },
		{ "method nil", "94 00 01 c0 80" },
		{ "method with a NUL", "94 00 01 a3610062 80" },
		{ "caller as an int", "95 00 01 a16d 80 01" },
		{ "caller nil", "95 00 01 a16d 80 c0" },
		{ "caller empty", "95 00 01 a16d 80 d900" },
		{ "caller upper case", "95 00 01 a16d 80 a5416c696365" },
		{ "caller with a dot", "95 00 01 a16d 80 a3612e62" },
		{ "caller with a NUL", "95 00 01 a16d 80 a3610062" },
		{ "caller starting with -", "95 00 01 a16d 80 a22d61" },
		{ "notification method as an int", "93 02 01 80" },
		{ "notification method with a NUL", "93 02 a3610062 80" },
	};
	struct rpc_msg	 m;
	const char	*why;
	size_t		 i;
	char		 name[128];
	int		 r;

	for (i = 0; i < nitems(bad); i++) {
		r = try_hex(bad[i].hex, &m, &why);
		(void)snprintf(name, sizeof(name), "rpc: refuses %s",
		    bad[i].name);
		UT_CHECK(name, r == -1 && why != NULL && why[0] != '\0');
	}
	why = NULL;
	UT_CHECK("rpc: refuses a NULL object",
	    rpc_parse(NULL, &m, &why) == -1 && why != NULL);
}

/* Names at and beyond their buffers. */
static void
test_parse_long(void)
{
	static const struct {
		const char	*name;
		int		 type;		/* 0 request, 2 notification */
		size_t		 method;	/* its length, of 'm' */
		size_t		 caller;	/* its length; 0: none */
		int		 want;
	} cases[] = {
		{ "method of RPC_METHODMAX - 1 is accepted", 0,
		    RPC_METHODMAX - 1, 0, 0 },
		{ "method of RPC_METHODMAX is refused", 0, RPC_METHODMAX, 0,
		    -1 },
		{ "method of 70000 bytes is refused", 0, 70000, 0, -1 },
		{ "notification method of RPC_METHODMAX is refused", 2,
		    RPC_METHODMAX, 0, -1 },
		{ "caller of RPC_NAMEMAX - 1 is accepted", 0, 3,
		    RPC_NAMEMAX - 1, 0 },
		{ "caller of RPC_NAMEMAX is refused", 0, 3, RPC_NAMEMAX, -1 },
	};
	struct mp_out	 o;
	struct rpc_msg	 m;
	const char	*why;
	char		 name[128];
	size_t		 i;
	int		 r;

	mp_out_init(&o);
	for (i = 0; i < nitems(cases); i++) {
		mp_out_reset(&o);
		msgpack_pack_array(&o.pk, (cases[i].type == 2 ? 3 : 4) +
		    (cases[i].caller > 0));
		msgpack_pack_uint8(&o.pk, cases[i].type);
		if (cases[i].type != 2)
			msgpack_pack_uint8(&o.pk, 1);
		if (cases[i].caller > 0)
			mp_pack_str(&o.pk, "a.b");
		else
			pack_longstr(&o.pk, cases[i].method, 'm');
		msgpack_pack_nil(&o.pk);
		if (cases[i].caller > 0)
			pack_longstr(&o.pk, cases[i].caller, 'c');
		r = try_out(&o, &m, &why);
		(void)snprintf(name, sizeof(name), "rpc: %s", cases[i].name);
		UT_CHECK(name, r == cases[i].want && (r != 0 ||
		    strlen(m.method) == (cases[i].caller > 0 ? 3 :
		    cases[i].method)) && (r != 0 ||
		    strlen(m.caller) == cases[i].caller));
	}
	mp_out_free(&o);
}

static void
test_names(void)
{
	static const struct {
		const char	*name;
		const char	*s;	/* NULL: 'a' times len */
		size_t		 len;
		int		 valid;
	} cases[] = {
		{ "name \"a\"", "a", 0, 1 },
		{ "name \"0\"", "0", 0, 1 },
		{ "name \"a-b_c9\"", "a-b_c9", 0, 1 },
		{ "name ending in -", "a-", 0, 1 },
		{ "empty name", "", 0, 0 },
		{ "name starting with -", "-a", 0, 0 },
		{ "name starting with _", "_a", 0, 0 },
		{ "upper case name", "Alice", 0, 0 },
		{ "name with a dot", "a.b", 0, 0 },
		{ "name with a space", "a b", 0, 0 },
		{ "name with a slash", "a/b", 0, 0 },
		{ "name with UTF-8", "caf\xc3\xa9", 0, 0 },
		{ "name with a high byte", "a\xff", 0, 0 },
		{ "name of RPC_NAMEMAX - 1", NULL, RPC_NAMEMAX - 1, 1 },
		{ "name of RPC_NAMEMAX", NULL, RPC_NAMEMAX, 0 },
	};
	char	 s[RPC_NAMEMAX + 2], name[128];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		if (cases[i].s != NULL)
			(void)strlcpy(s, cases[i].s, sizeof(s));
		else {
			memset(s, 'a', cases[i].len);
			s[cases[i].len] = '\0';
		}
		(void)snprintf(name, sizeof(name), "rpc: %s", cases[i].name);
		UT_CHECK(name, rpc_valid_name(s) == cases[i].valid);
	}
}

static void
test_split(void)
{
	static const struct {
		const char	*name;
		const char	*in;	/* NULL: made of the lengths */
		size_t		 oplen, mlen;	/* of 'o' and 'm' */
		size_t		 opsz, msz;	/* 0: RPC_NAMEMAX */
		int		 want;
		const char	*op, *m;	/* on success, if not made */
	} cases[] = {
		{ "split \"op.m\"", "op.m", 0, 0, 0, 0, 0, "op", "m" },
		{ "split \"eps.register\"", "eps.register", 0, 0, 0, 0, 0,
		    "eps", "register" },
		{ "split refuses no dot", "opm", 0, 0, 0, 0, -1, NULL, NULL },
		{ "split refuses \"\"", "", 0, 0, 0, 0, -1, NULL, NULL },
		{ "split refuses \".\"", ".", 0, 0, 0, 0, -1, NULL, NULL },
		{ "split refuses an empty operator", ".m", 0, 0, 0, 0, -1,
		    NULL, NULL },
		{ "split refuses an empty method", "op.", 0, 0, 0, 0, -1,
		    NULL, NULL },
		{ "split refuses two dots", "op.m.x", 0, 0, 0, 0, -1, NULL,
		    NULL },
		{ "split refuses \"..\"", "..", 0, 0, 0, 0, -1, NULL, NULL },
		{ "split refuses an upper-case operator", "OP.m", 0, 0, 0, 0,
		    -1, NULL, NULL },
		{ "split refuses an upper-case method", "op.M", 0, 0, 0, 0,
		    -1, NULL, NULL },
		{ "split refuses a method starting with _", "op._m", 0, 0, 0,
		    0, -1, NULL, NULL },
		{ "split refuses a small operator buffer", "op.m", 0, 0, 2, 0,
		    -1, NULL, NULL },
		{ "split fits an operator buffer exactly", "op.m", 0, 0, 3, 0,
		    0, "op", "m" },
		{ "split refuses a small method buffer", "op.mm", 0, 0, 0, 2,
		    -1, NULL, NULL },
		{ "split fits a method buffer exactly", "op.mm", 0, 0, 0, 3, 0,
		    "op", "mm" },
		{ "split takes an operator of RPC_NAMEMAX - 1", NULL,
		    RPC_NAMEMAX - 1, 1, 0, 0, 0, NULL, NULL },
		{ "split refuses an operator of RPC_NAMEMAX", NULL,
		    RPC_NAMEMAX, 1, 0, 0, -1, NULL, NULL },
		{ "split takes a method of RPC_NAMEMAX - 1", NULL, 1,
		    RPC_NAMEMAX - 1, 0, 0, 0, NULL, NULL },
		{ "split refuses a method of RPC_NAMEMAX", NULL, 1,
		    RPC_NAMEMAX, 0, 0, -1, NULL, NULL },
	};
	char	 in[2 * RPC_NAMEMAX + 2], wop[RPC_NAMEMAX + 1];
	char	 wm[RPC_NAMEMAX + 1], op[RPC_NAMEMAX], m[RPC_NAMEMAX];
	char	 name[128];
	size_t	 i;
	int	 r;

	for (i = 0; i < nitems(cases); i++) {
		if (cases[i].in != NULL) {
			(void)strlcpy(in, cases[i].in, sizeof(in));
			(void)strlcpy(wop, cases[i].op != NULL ?
			    cases[i].op : "", sizeof(wop));
			(void)strlcpy(wm, cases[i].m != NULL ? cases[i].m : "",
			    sizeof(wm));
		} else {
			memset(wop, 'o', cases[i].oplen);
			wop[cases[i].oplen] = '\0';
			memset(wm, 'm', cases[i].mlen);
			wm[cases[i].mlen] = '\0';
			(void)snprintf(in, sizeof(in), "%s.%s", wop, wm);
		}
		r = rpc_split(in, op, cases[i].opsz ? cases[i].opsz :
		    sizeof(op), m, cases[i].msz ? cases[i].msz : sizeof(m));
		(void)snprintf(name, sizeof(name), "rpc: %s", cases[i].name);
		UT_CHECK(name, r == cases[i].want && (r != 0 ||
		    (strcmp(op, wop) == 0 && strcmp(m, wm) == 0)));
	}
}

static void
test_error_str(void)
{
	struct rpc_msg	 m;
	struct mp_out	 o;
	const char	*why;
	char		 buf[256], small[4];

	rpc_error_str(NULL, buf, sizeof(buf));
	UT_CHECK("rpc: error string of NULL is empty", buf[0] == '\0');
	try_hex("94 01 01 c0 c0", &m, &why);
	rpc_error_str(m.error, buf, sizeof(buf));
	UT_CHECK("rpc: error string of nil is empty", buf[0] == '\0');
	try_hex("94 01 01 a4626f6f6d c0", &m, &why);
	rpc_error_str(m.error, buf, sizeof(buf));
	UT_CHECK("rpc: error string of a string",
	    strcmp(buf, "boom") == 0);
	rpc_error_str(m.error, small, sizeof(small));
	UT_CHECK("rpc: error string truncates to its buffer",
	    strcmp(small, "boo") == 0);
	try_hex("94 01 01 05 c0", &m, &why);
	rpc_error_str(m.error, buf, sizeof(buf));
	UT_CHECK("rpc: error string of an int", strcmp(buf, "remote error") ==
	    0);
	try_hex("94 01 01 a3610062 c0", &m, &why);
	rpc_error_str(m.error, buf, sizeof(buf));
	UT_CHECK("rpc: error string stops at a NUL", strcmp(buf, "a") == 0);

	mp_out_init(&o);
	msgpack_pack_array(&o.pk, 4);
	msgpack_pack_uint8(&o.pk, 1);
	msgpack_pack_uint8(&o.pk, 1);
	pack_longstr(&o.pk, 300, 'e');
	msgpack_pack_nil(&o.pk);
	try_out(&o, &m, &why);
	rpc_error_str(m.error, buf, sizeof(buf));
	UT_CHECK("rpc: a long error string is cut at 200",
	    strlen(buf) == 200 && buf[199] == 'e');
	mp_out_free(&o);
}

static void
test_pack(void)
{
	struct mp_out		 o, p;
	struct mp_doc		 pd;
	struct rpc_msg		 m;
	const char		*why;
	char			 s[64];
	uint64_t		 v;
	msgpack_object		 nil, str;

	mp_out_init(&o);
	rpc_begin_request(&o.pk, 42, "op.m");
	msgpack_pack_map(&o.pk, 1);
	mp_pack_kuint(&o.pk, "x", 1);
	UT_CHECK("rpc: rpc_begin_request round trip",
	    try_out(&o, &m, &why) == 0 && m.type == RPC_REQUEST &&
	    m.msgid == 42 && strcmp(m.method, "op.m") == 0 &&
	    m.caller[0] == '\0' && mp_map_uint(m.params, "x", 1, &v) == 0);
	mp_out_reset(&o);
	rpc_begin_request(&o.pk, UINT32_MAX, "a.b");
	msgpack_pack_nil(&o.pk);
	UT_CHECK("rpc: rpc_begin_request with msgid UINT32_MAX",
	    try_out(&o, &m, &why) == 0 && m.msgid == UINT32_MAX);

	/* Params from another document, copied through. */
	mp_out_init(&p);
	msgpack_pack_map(&p.pk, 2);
	mp_pack_kstr(&p.pk, "domain", "example.org");
	mp_pack_str(&p.pk, "list");
	msgpack_pack_array(&p.pk, 2);
	msgpack_pack_int64(&p.pk, -5);
	msgpack_pack_double(&p.pk, 2.5);
	if (mp_parse(&pd, p.sb.data, p.sb.size) == -1)
		exit(1);
	mp_out_reset(&o);
	rpc_pack_request(&o.pk, 7, "op.m", pd.root, NULL);
	UT_CHECK("rpc: rpc_pack_request without caller has 4 elements",
	    try_out(&o, &m, &why) == 0 && cur.root->via.array.size == 4 &&
	    m.msgid == 7 && m.caller[0] == '\0' &&
	    msgpack_object_equal(*m.params, *pd.root));
	mp_out_reset(&o);
	rpc_pack_request(&o.pk, 8, "op.m", pd.root, "bob");
	UT_CHECK("rpc: rpc_pack_request with caller has 5 elements",
	    try_out(&o, &m, &why) == 0 && cur.root->via.array.size == 5 &&
	    m.msgid == 8 && strcmp(m.caller, "bob") == 0 &&
	    msgpack_object_equal(*m.params, *pd.root));

	mp_out_reset(&o);
	rpc_begin_response(&o.pk, 9);
	mp_pack_str(&o.pk, "ok");
	UT_CHECK("rpc: rpc_begin_response round trip",
	    try_out(&o, &m, &why) == 0 && m.type == RPC_RESPONSE &&
	    m.msgid == 9 && mp_is_nil(m.error) &&
	    mp_get_str(m.result, s, sizeof(s)) == 0 &&
	    strcmp(s, "ok") == 0);

	mp_out_reset(&o);
	rpc_pack_error(&o.pk, 10, "no such method");
	UT_CHECK("rpc: rpc_pack_error round trip",
	    try_out(&o, &m, &why) == 0 && m.type == RPC_RESPONSE &&
	    m.msgid == 10 && mp_get_str(m.error, s, sizeof(s)) == 0 &&
	    strcmp(s, "no such method") == 0 && mp_is_nil(m.result));

	memset(&nil, 0, sizeof(nil));
	nil.type = MSGPACK_OBJECT_NIL;
	mp_out_reset(&o);
	rpc_pack_response(&o.pk, 11, &nil, pd.root);
	UT_CHECK("rpc: rpc_pack_response with a result round trip",
	    try_out(&o, &m, &why) == 0 && m.msgid == 11 &&
	    mp_is_nil(m.error) && msgpack_object_equal(*m.result, *pd.root));
	memset(&str, 0, sizeof(str));
	str.type = MSGPACK_OBJECT_STR;
	str.via.str.ptr = "denied";
	str.via.str.size = 6;
	mp_out_reset(&o);
	rpc_pack_response(&o.pk, 12, &str, &nil);
	UT_CHECK("rpc: rpc_pack_response with an error round trip",
	    try_out(&o, &m, &why) == 0 && m.msgid == 12 &&
	    mp_get_str(m.error, s, sizeof(s)) == 0 &&
	    strcmp(s, "denied") == 0 && mp_is_nil(m.result));

	mp_out_reset(&o);
	rpc_begin_notify(&o.pk, "eps.link");
	msgpack_pack_object(&o.pk, *pd.root);
	UT_CHECK("rpc: rpc_begin_notify round trip",
	    try_out(&o, &m, &why) == 0 && m.type == RPC_NOTIFY &&
	    strcmp(m.method, "eps.link") == 0 &&
	    msgpack_object_equal(*m.params, *pd.root));

	mp_free(&pd);
	mp_out_free(&p);
	mp_out_free(&o);
}

static void
reply_cb(const char *error, const msgpack_object *result, void *arg)
{
	struct reply	*r = arg;
	struct timeval	 tv = { 10, 0 };

	r->n++;
	r->haderror = error != NULL;
	r->error[0] = '\0';
	if (error != NULL)
		strlcpy(r->error, error, sizeof(r->error));
	r->hadresult = result != NULL;
	r->resstr = 0;
	if (result != NULL && result->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		r->u = result->via.u64;
	if (result != NULL && result->type == MSGPACK_OBJECT_STR &&
	    result->via.str.size == 2 &&
	    memcmp(result->via.str.ptr, "ok", 2) == 0)
		r->resstr = 1;
	if (r->reissue > 0 && r->calls != NULL) {
		r->reissue--;
		if (rpc_call_new(r->calls, &tv, reply_cb, r, &r->newid) == -1)
			r->newid = 0;
	}
}

static int
replied(void *arg)
{
	struct reply	*r = arg;

	return (r->n > 0);
}

static int
never(void *arg)
{
	return (0);
}

/*
 * Feed the table the response [1, msgid, error, result]: error NULL
 * for nil, result -1 for nil, else a uint.
 */
static int
respond(struct rpc_calls *calls, uint32_t msgid, const char *error,
    int result)
{
	struct mp_out	 o;
	struct mp_doc	 d;
	struct rpc_msg	 m;
	const char	*why;
	int		 r;

	mp_out_init(&o);
	msgpack_pack_array(&o.pk, 4);
	msgpack_pack_uint8(&o.pk, RPC_RESPONSE);
	msgpack_pack_uint32(&o.pk, msgid);
	if (error == NULL)
		msgpack_pack_nil(&o.pk);
	else
		mp_pack_str(&o.pk, error);
	if (result < 0)
		msgpack_pack_nil(&o.pk);
	else
		msgpack_pack_uint32(&o.pk, (uint32_t)result);
	if (mp_parse(&d, o.sb.data, o.sb.size) == -1 ||
	    rpc_parse(d.root, &m, &why) == -1)
		exit(1);
	r = rpc_call_done(calls, &m);
	mp_free(&d);
	mp_out_free(&o);
	return (r);
}

static void
test_calls(struct event_base *base)
{
	struct rpc_calls	 calls;
	struct reply		 r, e;
	struct timeval		 tv = { 10, 0 };
	struct mp_out		 o;
	struct mp_doc		 d;
	struct rpc_msg		 m;
	const char		*why;
	uint32_t		 id, id2;

	rpc_calls_init(&calls, base, 8);
	memset(&r, 0, sizeof(r));
	UT_CHECK("rpc: rpc_call_new", rpc_call_new(&calls, &tv, reply_cb,
	    &r, &id) == 0 && calls.count == 1);
	UT_CHECK("rpc: a pending call has not called back", r.n == 0);
	UT_CHECK("rpc: a response completes its call",
	    respond(&calls, id, NULL, 42) == 0);
	UT_CHECK("rpc: the callback ran once with the result",
	    r.n == 1 && !r.haderror && r.hadresult && r.u == 42);
	UT_CHECK("rpc: a completed call leaves the table", calls.count == 0);
	UT_CHECK("rpc: a second response to the same call is refused",
	    respond(&calls, id, NULL, 43) == -1 && r.n == 1 && r.u == 42);

	memset(&r, 0, sizeof(r));
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	UT_CHECK("rpc: an error response completes its call",
	    respond(&calls, id, "denied", -1) == 0);
	UT_CHECK("rpc: the callback gets the error string",
	    r.n == 1 && r.haderror && strcmp(r.error, "denied") == 0 &&
	    !r.hadresult);

	memset(&r, 0, sizeof(r));
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	respond(&calls, id, "", -1);
	UT_CHECK("rpc: an empty error string still fails the call",
	    r.n == 1 && r.haderror && !r.hadresult);

	/* [1, id, 5, nil]: an error that is no string. */
	memset(&r, 0, sizeof(r));
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	mp_out_init(&o);
	msgpack_pack_array(&o.pk, 4);
	msgpack_pack_uint8(&o.pk, RPC_RESPONSE);
	msgpack_pack_uint32(&o.pk, id);
	msgpack_pack_uint8(&o.pk, 5);
	msgpack_pack_nil(&o.pk);
	mp_parse(&d, o.sb.data, o.sb.size);
	rpc_parse(d.root, &m, &why);
	UT_CHECK("rpc: a non-string error is \"remote error\"",
	    rpc_call_done(&calls, &m) == 0 && r.n == 1 &&
	    strcmp(r.error, "remote error") == 0);
	mp_free(&d);
	mp_out_free(&o);

	memset(&r, 0, sizeof(r));
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	UT_CHECK("rpc: a response to an unknown msgid is refused",
	    respond(&calls, id + 1, NULL, 1) == -1 && r.n == 0 &&
	    calls.count == 1);
	respond(&calls, id, NULL, 1);

	/* Another call started from inside a callback. */
	memset(&r, 0, sizeof(r));
	r.calls = &calls;
	r.reissue = 1;
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	respond(&calls, id, NULL, 7);
	UT_CHECK("rpc: a callback may start a new call",
	    r.n == 1 && calls.count == 1 && r.newid != 0 && r.newid != id);
	id2 = r.newid;
	r.calls = NULL;
	UT_CHECK("rpc: the call started in the callback completes",
	    respond(&calls, id2, NULL, 8) == 0 && r.n == 2 && r.u == 8 &&
	    calls.count == 0);

	/* Cancel: never a callback, not even at the timeout. */
	memset(&r, 0, sizeof(r));
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	rpc_call_cancel(&calls, id);
	UT_CHECK("rpc: rpc_call_cancel removes the call",
	    calls.count == 0 && r.n == 0);
	ut_run_until(base, never, NULL, 150);
	UT_CHECK("rpc: a cancelled call never calls back", r.n == 0);
	UT_CHECK("rpc: a response to a cancelled call is refused",
	    respond(&calls, id, NULL, 1) == -1 && r.n == 0);
	memset(&e, 0, sizeof(e));
	tv.tv_sec = 10;
	rpc_call_new(&calls, &tv, reply_cb, &e, &id2);
	rpc_call_cancel(&calls, id2 + 1);
	UT_CHECK("rpc: cancelling an unknown msgid changes nothing",
	    calls.count == 1 && e.n == 0);
	rpc_call_cancel(&calls, id2);
	UT_CHECK("rpc: cancel empties the table", calls.count == 0 &&
	    e.n == 0);
}

static void
test_calls_time(struct event_base *base)
{
	struct rpc_calls	 calls;
	struct reply		 r, f[3];
	struct timeval		 tv = { 0, 50000 };
	uint32_t		 id;
	int			 i, ok;

	rpc_calls_init(&calls, base, 8);
	memset(&r, 0, sizeof(r));
	rpc_call_new(&calls, &tv, reply_cb, &r, &id);
	ut_run_until(base, replied, &r, WAIT_MS);
	UT_CHECK("rpc: a call times out with \"timeout\"",
	    r.n == 1 && strcmp(r.error, "timeout") == 0 && !r.hadresult);
	UT_CHECK("rpc: a timed-out call leaves the table", calls.count == 0);
	UT_CHECK("rpc: a response after the timeout is refused",
	    respond(&calls, id, NULL, 1) == -1 && r.n == 1);
	ut_run_until(base, never, NULL, 100);
	UT_CHECK("rpc: a timeout calls back once", r.n == 1);

	memset(f, 0, sizeof(f));
	for (i = 0; i < 3; i++)
		rpc_call_new(&calls, &tv, reply_cb, &f[i], &id);
	rpc_calls_fail(&calls, "link lost");
	for (ok = 1, i = 0; i < 3; i++)
		if (f[i].n != 1 || strcmp(f[i].error, "link lost") != 0 ||
		    f[i].hadresult)
			ok = 0;
	UT_CHECK("rpc: rpc_calls_fail fails every call with the reason", ok);
	UT_CHECK("rpc: rpc_calls_fail empties the table", calls.count == 0);
	ut_run_until(base, never, NULL, 150);
	for (ok = 1, i = 0; i < 3; i++)
		if (f[i].n != 1)
			ok = 0;
	UT_CHECK("rpc: failed calls do not time out later", ok);
	rpc_calls_fail(&calls, "again");
	UT_CHECK("rpc: rpc_calls_fail on an empty table", calls.count == 0);
}

static void
test_calls_bounds(struct event_base *base)
{
	struct rpc_calls	 calls;
	struct reply		 r[4];
	struct timeval		 tv = { 10, 0 };
	uint32_t		 id[4], ids[1000];
	size_t			 i, j;
	int			 ok;

	rpc_calls_init(&calls, base, 2);
	memset(r, 0, sizeof(r));
	UT_CHECK("rpc: calls up to max are taken",
	    rpc_call_new(&calls, &tv, reply_cb, &r[0], &id[0]) == 0 &&
	    rpc_call_new(&calls, &tv, reply_cb, &r[1], &id[1]) == 0);
	errno = 0;
	UT_CHECK("rpc: a call beyond max is refused",
	    rpc_call_new(&calls, &tv, reply_cb, &r[2], &id[2]) == -1 &&
	    errno == EAGAIN && calls.count == 2);
	respond(&calls, id[0], NULL, 1);
	UT_CHECK("rpc: a call is taken again once one completed",
	    rpc_call_new(&calls, &tv, reply_cb, &r[3], &id[3]) == 0);
	rpc_calls_fail(&calls, "done");
	UT_CHECK("rpc: the refused call never called back",
	    r[0].n == 1 && r[1].n == 1 && r[2].n == 0 && r[3].n == 1);

	rpc_calls_init(&calls, base, 0);
	UT_CHECK("rpc: max 0 refuses every call",
	    rpc_call_new(&calls, &tv, reply_cb, &r[2], &id[2]) == -1 &&
	    calls.count == 0);

	/* msgids wrap and skip those in use. */
	rpc_calls_init(&calls, base, 8);
	memset(r, 0, sizeof(r));
	calls.nextid = UINT32_MAX - 1;
	for (i = 0; i < 3; i++)
		rpc_call_new(&calls, &tv, reply_cb, &r[i], &id[i]);
	UT_CHECK("rpc: msgids wrap around UINT32_MAX",
	    id[0] == UINT32_MAX - 1 && id[1] == UINT32_MAX && id[2] == 0);
	calls.nextid = UINT32_MAX;
	rpc_call_new(&calls, &tv, reply_cb, &r[3], &id[3]);
	UT_CHECK("rpc: a msgid in use is skipped",
	    id[3] == 1 && calls.count == 4);
	UT_CHECK("rpc: each call is found by its own msgid",
	    respond(&calls, id[1], NULL, 11) == 0 && r[1].u == 11 &&
	    r[0].n == 0 && r[2].n == 0 && r[3].n == 0 &&
	    respond(&calls, id[2], NULL, 12) == 0 && r[2].u == 12 &&
	    respond(&calls, id[3], NULL, 13) == 0 && r[3].u == 13 &&
	    respond(&calls, id[0], NULL, 10) == 0 && r[0].u == 10);

	rpc_calls_init(&calls, base, nitems(ids));
	for (ok = 1, i = 0; i < nitems(ids); i++)
		if (rpc_call_new(&calls, &tv, NULL, NULL, &ids[i]) == -1)
			ok = 0;
	for (i = 0; i < nitems(ids) && ok; i++)
		for (j = i + 1; j < nitems(ids); j++)
			if (ids[i] == ids[j]) {
				ok = 0;
				break;
			}
	UT_CHECK("rpc: 1000 calls get distinct msgids",
	    ok && calls.count == nitems(ids));
	rpc_calls_fail(&calls, "end");
	UT_CHECK("rpc: calls without a callback end quietly",
	    calls.count == 0);
}

int
main(void)
{
	struct event_base	*base;

	if ((base = event_base_new()) == NULL)
		return (1);
	test_parse_ok();
	test_parse_bad();
	test_parse_long();
	test_names();
	test_split();
	test_error_str();
	test_pack();
	test_calls(base);
	test_calls_time(base);
	test_calls_bounds(base);
	if (have_cur)
		mp_free(&cur);
	event_base_free(base);
	UT_EXIT();
}
