/*
 * test_token.c: unit tests of proxyd's token table (proxyd/token.c).
 *
 * The table reads a clock the test moves by hand.  A table of lives
 * says what happens to one token and when (it is ended as used,
 * expired or failed at some second, or never), and what a backchannel
 * presenting it later is told; the test sweeps every second, as the
 * listener does.  Then the limits, the lookup, the listener's end and
 * the reasons of a refusal as codes and metric labels.
 */

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "token.h"
#include "unit.h"

#define LIFETIME	10	/* s an issued token is valid in these tests */
#define NOTHING		TOKEN_ISSUED	/* a life in which nothing ends it */

static time_t	 now;

static time_t	 test_clock(void);
static void	 test_lives(void);
static void	 test_lookup(void);
static void	 test_limits(void);
static void	 test_owner(void);
static void	 test_reasons(void);

static time_t
test_clock(void)
{
	return (now);
}

static void
test_lives(void)
{
	static const struct {
		const char		*name;
		enum token_state	 end;	/* what ends it, NOTHING */
		time_t			 end_at;
		time_t			 at;	/* when it is presented */
		const char		*want;	/* refusal; NULL: usable */
	} lives[] = {
		{ "new token is usable", NOTHING, 0, 0, NULL },
		{ "usable a second before its time", NOTHING, 0,
		    LIFETIME - 1, NULL },
		{ "expires at its time", NOTHING, 0, LIFETIME,
		    "token expired" },
		{ "expired, remembered", NOTHING, 0,
		    LIFETIME + TOKEN_KEEP - 1, "token expired" },
		{ "expired, forgotten after TOKEN_KEEP", NOTHING, 0,
		    LIFETIME + TOKEN_KEEP, "unknown token" },
		{ "used", TOKEN_USED, 3, 3, "token already used" },
		{ "used, still refused as used after its time", TOKEN_USED,
		    3, LIFETIME + 5, "token already used" },
		{ "used, remembered from its use", TOKEN_USED, 3,
		    3 + TOKEN_KEEP - 1, "token already used" },
		{ "used, forgotten after TOKEN_KEEP", TOKEN_USED, 3,
		    3 + TOKEN_KEEP, "unknown token" },
		{ "given up by the listener", TOKEN_EXPIRED, 2, 2,
		    "token expired" },
		{ "given up, forgotten after TOKEN_KEEP", TOKEN_EXPIRED, 2,
		    2 + TOKEN_KEEP, "unknown token" },
		{ "failed", TOKEN_FAILED, 1, 1,
		    "token of a failed connection" },
		{ "failed, forgotten after TOKEN_KEEP", TOKEN_FAILED, 1,
		    1 + TOKEN_KEEP, "unknown token" },
		{ "used after it expired stays expired", TOKEN_USED,
		    LIFETIME + 1, LIFETIME + 1, "token expired" },
		{ "failed after it expired stays expired", TOKEN_FAILED,
		    LIFETIME + 1, LIFETIME + 1, "token expired" },
	};
	struct token_table	 tt;
	struct token		*t;
	uint8_t			 tok[EPS_TOKEN_LEN];
	const char		*why;
	char			 name[160];
	size_t			 i;
	time_t			 s;
	int			 ok;

	for (i = 0; i < nitems(lives); i++) {
		now = 1000;
		token_init(&tt, test_clock);
		t = token_issue(&tt, 4, LIFETIME, 1, 7, "a.example.org");
		if (t == NULL) {
			snprintf(name, sizeof(name), "token: %s: issued",
			    lives[i].name);
			UT_CHECK(name, t != NULL);
			continue;
		}
		memcpy(tok, t->tok, sizeof(tok));
		/* the matcher sweeps once a second */
		for (s = 0; s <= lives[i].at; s++) {
			now = 1000 + s;
			if ((t = token_lookup(&tt, tok)) != NULL &&
			    lives[i].end != NOTHING && s == lives[i].end_at)
				token_end(&tt, t, lives[i].end);
			token_sweep(&tt);
		}
		t = token_lookup(&tt, tok);
		why = token_refusal(t);
		snprintf(name, sizeof(name), "token: %s: %s", lives[i].name,
		    lives[i].want != NULL ? lives[i].want : "usable");
		if (lives[i].want == NULL)
			ok = why == NULL && t != NULL &&
			    t->state == TOKEN_ISSUED && tt.nissued == 1;
		else
			ok = why != NULL && strcmp(why, lives[i].want) == 0 &&
			    tt.nissued == 0;
		UT_CHECK(name, ok);
		token_clear(&tt);
	}
}

static void
test_lookup(void)
{
	struct token_table	 tt;
	struct token		*t, *u, *all[64];
	uint8_t			 tok[EPS_TOKEN_LEN];
	size_t			 i, j;
	int			 ok;

	now = 5000;
	token_init(&tt, test_clock);
	t = token_issue(&tt, 64, LIFETIME, 3, 42, "b.example.org");
	UT_CHECK("token: issued with what the listener gave",
	    t != NULL && t->listener == 3 && t->connid == 42 &&
	    t->tok[TOKEN_OWNER] == 3 &&
	    strcmp(t->name, "b.example.org") == 0 &&
	    t->state == TOKEN_ISSUED && tt.nissued == 1 && tt.ntokens == 1);
	if (t == NULL)
		return;
	UT_CHECK("token: found by its bytes", token_lookup(&tt, t->tok) == t);
	memcpy(tok, t->tok, sizeof(tok));
	tok[EPS_TOKEN_LEN - 1] ^= 1;
	UT_CHECK("token: the same first 8 bytes and another last byte is "
	    "unknown", token_lookup(&tt, tok) == NULL);
	memcpy(tok, t->tok, sizeof(tok));
	tok[0] ^= 0x80;
	UT_CHECK("token: another first byte is unknown",
	    token_lookup(&tt, tok) == NULL);
	UT_CHECK("token: an unknown token's refusal",
	    strcmp(token_refusal(NULL), "unknown token") == 0);

	/* tokens are random and each is found */
	all[0] = t;
	for (i = 1; i < nitems(all); i++)
		all[i] = token_issue(&tt, 64, LIFETIME, 0, (uint32_t)i,
		    "c.example.org");
	ok = 1;
	for (i = 0; i < nitems(all); i++) {
		if (all[i] == NULL || token_lookup(&tt, all[i]->tok) != all[i])
			ok = 0;
		for (j = 0; ok && j < i; j++)
			if (memcmp(all[i]->tok, all[j]->tok,
			    EPS_TOKEN_LEN) == 0)
				ok = 0;
	}
	UT_CHECK("token: 64 tokens, all different, each found", ok);

	/* ending twice: the first end counts */
	u = all[1];
	token_end(&tt, u, TOKEN_USED);
	token_end(&tt, u, TOKEN_FAILED);
	UT_CHECK("token: a second end changes nothing",
	    u->state == TOKEN_USED && tt.nissued == 63);
	token_clear(&tt);
	UT_CHECK("token: clear forgets all",
	    tt.ntokens == 0 && tt.nissued == 0 &&
	    TAILQ_EMPTY(&tt.issued) && TAILQ_EMPTY(&tt.ended));
}

static void
test_limits(void)
{
	struct token_table	 tt;
	struct token		*a, *b, *c, *d;
	uint8_t			 tok_a[EPS_TOKEN_LEN];

	now = 100;
	token_init(&tt, test_clock);
	a = token_issue(&tt, 2, LIFETIME, 0, 1, "a.example.org");
	b = token_issue(&tt, 2, LIFETIME, 0, 2, "a.example.org");
	UT_CHECK("token: max 2, two issued", a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		return;
	UT_CHECK("token: max 2, a third is refused",
	    token_issue(&tt, 2, LIFETIME, 0, 3, "a.example.org") == NULL);
	UT_CHECK("token: a higher max lets it in",
	    (c = token_issue(&tt, 3, LIFETIME, 0, 3, "a.example.org")) !=
	    NULL && tt.nissued == 3);

	/* finished tokens are remembered, up to twice max in all */
	memcpy(tok_a, a->tok, sizeof(tok_a));
	token_end(&tt, a, TOKEN_USED);
	token_end(&tt, b, TOKEN_USED);
	d = token_issue(&tt, 2, LIFETIME, 0, 4, "a.example.org");
	UT_CHECK("token: max 2, two issued and two remembered",
	    d != NULL && tt.nissued == 2 && tt.ntokens == 4 &&
	    token_lookup(&tt, tok_a) == a);
	token_end(&tt, c, TOKEN_FAILED);
	UT_CHECK("token: the oldest remembered token makes room",
	    token_issue(&tt, 2, LIFETIME, 0, 5, "a.example.org") != NULL &&
	    tt.ntokens == 4 && tt.nissued == 2 &&
	    token_lookup(&tt, tok_a) == NULL);
	UT_CHECK("token: ... and is unknown now",
	    strcmp(token_refusal(token_lookup(&tt, tok_a)),
	    "unknown token") == 0);
	token_clear(&tt);

	/*
	 * An issued token is never dropped to make room, and an old one
	 * still issued does not keep the remembered ones behind it.
	 */
	token_init(&tt, test_clock);
	a = token_issue(&tt, 2, LIFETIME, 0, 1, "a.example.org");
	b = token_issue(&tt, 2, LIFETIME, 0, 2, "a.example.org");
	if (a == NULL || b == NULL) {
		UT_CHECK("token: setup for the oldest issued", 0);
		token_clear(&tt);
		return;
	}
	token_end(&tt, b, TOKEN_USED);
	c = token_issue(&tt, 2, LIFETIME, 0, 3, "a.example.org");
	if (c != NULL)
		token_end(&tt, c, TOKEN_USED);
	d = token_issue(&tt, 2, LIFETIME, 0, 4, "a.example.org");
	if (d != NULL)
		token_end(&tt, d, TOKEN_USED);
	UT_CHECK("token: the oldest still issued, remembered ones behind "
	    "it make room", c != NULL && d != NULL && tt.ntokens == 4 &&
	    tt.nissued == 1 &&
	    token_issue(&tt, 2, LIFETIME, 0, 5, "a.example.org") != NULL &&
	    a->state == TOKEN_ISSUED && tt.ntokens == 4 && tt.nissued == 2);
	UT_CHECK("token: max 2 issued, a third is refused though tokens "
	    "are remembered",
	    token_issue(&tt, 2, LIFETIME, 0, 6, "a.example.org") == NULL &&
	    tt.nissued == 2);
	now += LIFETIME;
	token_sweep(&tt);
	UT_CHECK("token: once they expire, room again",
	    a->state == TOKEN_EXPIRED && tt.nissued == 0 &&
	    token_issue(&tt, 2, LIFETIME, 0, 7, "a.example.org") != NULL);
	token_clear(&tt);

	/* a shorter lifetime (a reload) expires first all the same */
	token_init(&tt, test_clock);
	a = token_issue(&tt, 8, LIFETIME, 0, 1, "a.example.org");
	b = token_issue(&tt, 8, 2, 0, 2, "a.example.org");
	if (a == NULL || b == NULL) {
		UT_CHECK("token: setup for two lifetimes", 0);
		token_clear(&tt);
		return;
	}
	now += 2;
	token_sweep(&tt);
	UT_CHECK("token: a shorter lifetime issued later expires first",
	    b->state == TOKEN_EXPIRED && a->state == TOKEN_ISSUED &&
	    tt.nissued == 1);
	token_clear(&tt);
}

static void
test_owner(void)
{
	struct token_table	 tt;
	struct token		*a, *b, *c;

	now = 200;
	token_init(&tt, test_clock);
	a = token_issue(&tt, 8, LIFETIME, 0, 1, "a.example.org");
	b = token_issue(&tt, 8, LIFETIME, 1, 2, "a.example.org");
	c = token_issue(&tt, 8, LIFETIME, 63, 3, "a.example.org");
	UT_CHECK("token: each names the listener that issued it",
	    a != NULL && b != NULL && c != NULL &&
	    a->tok[TOKEN_OWNER] == 0 && b->tok[TOKEN_OWNER] == 1 &&
	    c->tok[TOKEN_OWNER] == 63);
	UT_CHECK("token: ... and is random past that byte",
	    a != NULL && b != NULL &&
	    memcmp(a->tok + 1, b->tok + 1, EPS_TOKEN_LEN - 1) != 0);
	token_clear(&tt);

	/* without a clock of its own, the table reads time(3) */
	token_init(&tt, NULL);
	a = token_issue(&tt, 8, LIFETIME, 0, 1, "a.example.org");
	UT_CHECK("token: the default clock is time(3)",
	    a != NULL && a->expires >= time(NULL) + LIFETIME - 1 &&
	    a->expires <= time(NULL) + LIFETIME);
	token_clear(&tt);
}

static void
test_reasons(void)
{
	static const struct {
		const char		*name;
		enum token_state	 end;	/* NOTHING: still issued */
		time_t			 at;	/* when it is presented */
		int			 known;	/* 0: presented unknown */
		int			 ok;	/* token_why() */
		enum bc_refusal		 why;
		const char		*label;
	} cases[] = {
		{ "unknown", NOTHING, 0, 0, -1, BC_REF_UNKNOWN_TOKEN,
		    "unknown_token" },
		{ "issued", NOTHING, 0, 1, 0, 0, NULL },
		{ "used", TOKEN_USED, 0, 1, -1, BC_REF_TOKEN_USED,
		    "token_used" },
		{ "given up", TOKEN_EXPIRED, 0, 1, -1, BC_REF_TOKEN_EXPIRED,
		    "token_expired" },
		{ "expired at its time", NOTHING, LIFETIME, 1, -1,
		    BC_REF_TOKEN_EXPIRED, "token_expired" },
		{ "expired, still told from unknown", NOTHING,
		    LIFETIME + TOKEN_KEEP - 1, 1, -1, BC_REF_TOKEN_EXPIRED,
		    "token_expired" },
		{ "expired, then forgotten", NOTHING, LIFETIME + TOKEN_KEEP,
		    1, -1, BC_REF_UNKNOWN_TOKEN, "unknown_token" },
		{ "failed", TOKEN_FAILED, 0, 1, -1, BC_REF_TOKEN_FAILED,
		    "token_failed" },
	};
	static const char	*labels[BC_REFUSALS] = {
		"bad_preamble", "truncated", "no_preamble", "evicted",
		"source_evicted", "pool_key", "unknown_token", "token_used", "token_expired",
		"token_failed", "unavailable",
	};
	struct token_table	 tt;
	struct token		*t;
	struct metrics		*m;
	struct evbuffer		*b;
	enum bc_refusal		 why;
	uint64_t		 counts[BC_REFUSALS];
	uint8_t			 tok[EPS_TOKEN_LEN];
	char			 name[160], line[160], *text;
	size_t			 i;
	time_t			 s;
	int			 ok, r;

	for (i = 0; i < nitems(cases); i++) {
		now = 3000;
		token_init(&tt, test_clock);
		if ((t = token_issue(&tt, 4, LIFETIME, 0, 1,
		    "a.example.org")) == NULL) {
			UT_CHECK("token: reasons: issued", 0);
			continue;
		}
		memcpy(tok, t->tok, sizeof(tok));
		if (!cases[i].known)
			tok[EPS_TOKEN_LEN - 1] ^= 1;
		if (cases[i].end != NOTHING)
			token_end(&tt, t, cases[i].end);
		for (s = 1; s <= cases[i].at; s++) {
			now = 3000 + s;
			token_sweep(&tt);
		}
		why = BC_REFUSALS;
		r = token_why(token_lookup(&tt, tok), &why);
		snprintf(name, sizeof(name), "token: reason of %s: %s",
		    cases[i].name, cases[i].label != NULL ? cases[i].label :
		    "none");
		ok = r == cases[i].ok;
		if (ok && r == -1)
			ok = why == cases[i].why &&
			    strcmp(bc_refusal_label(why), cases[i].label) == 0;
		UT_CHECK(name, ok);
		token_clear(&tt);
	}

	/* every reason has its label, and the family says each */
	ok = 1;
	for (i = 0; i < BC_REFUSALS; i++)
		if (strcmp(bc_refusal_label((enum bc_refusal)i),
		    labels[i]) != 0)
			ok = 0;
	UT_CHECK("token: each reason's label", ok &&
	    strcmp(bc_refusal_label(BC_REFUSALS), "?") == 0);
	for (i = 0; i < BC_REFUSALS; i++)
		counts[i] = 10 * i + 1;
	m = metrics_new();
	b = evbuffer_new();
	ok = m != NULL && b != NULL;
	if (ok) {
		bc_refused_metrics(m, counts);
		ok = metrics_write(m, b) == 0 &&
		    evbuffer_add(b, "", 1) == 0 &&
		    (text = (char *)evbuffer_pullup(b, -1)) != NULL &&
		    strstr(text, "# TYPE proxyd_backchannels_refused_total "
		    "counter\n") != NULL;
		for (i = 0; ok && i < BC_REFUSALS; i++) {
			snprintf(line, sizeof(line), "\n"
			    "proxyd_backchannels_refused_total{reason=\"%s\"} "
			    "%zu\n", labels[i], 10 * i + 1);
			if (strstr(text, line) == NULL)
				ok = 0;
		}
	}
	UT_CHECK("token: the refusals family has one sample a reason", ok &&
	    metrics_count(m) == BC_REFUSALS);
	if (b != NULL)
		evbuffer_free(b);
	metrics_free(m);
}

int
main(void)
{
	test_lives();
	test_lookup();
	test_limits();
	test_owner();
	test_reasons();
	UT_EXIT();
}
