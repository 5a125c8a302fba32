/*
 * token.c: the table of one-time tokens (token.h).  Tokens are found
 * by their first 8 bytes in a tree and compared whole in constant
 * time; two lists keep them for the sweep, the issued ones in the
 * order they expire in, the ended ones in the order they are forgotten
 * in (the order they ended in: each is kept TOKEN_KEEP seconds).  The
 * table counts what became of its tokens, and how long a used one took
 * from its issue to the backchannel that presented it (the
 * notification round trip: the incoming call through the EPS network,
 * the private proxy's dial, its preamble).
 *
 * Also here: the reasons a backchannel is refused for (proxyd.h), by
 * their metric labels, which the listener and the matcher both export.
 */

#include <time.h>

#include "compat.h"
#include "token.h"

static int	token_cmp(struct token *, struct token *);
RB_GENERATE_STATIC(token_tree, token, node, token_cmp)

const double	 token_notify_bounds[TOKEN_NOTIFY_NBOUNDS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

/* by enum bc_refusal */
static const char	*bc_refusal_labels[BC_REFUSALS] = {
	"bad_preamble",
	"truncated",
	"no_preamble",
	"evicted",
	"source_evicted",
	"pool_key",
	"unknown_token",
	"token_used",
	"token_expired",
	"token_failed",
	"unavailable",
};

static int
token_cmp(struct token *a, struct token *b)
{
	return (a->key < b->key ? -1 : a->key > b->key);
}

static time_t
token_now(struct token_table *tt)
{
	return (tt->clock != NULL ? tt->clock() : time(NULL));
}

static void
token_unissue(struct token_table *tt, struct token *t)
{
	tt->nissued--;
	if (t->opcount != NULL && *t->opcount > 0)
		(*t->opcount)--;
	t->opcount = NULL;
}

static void
token_free(struct token_table *tt, struct token *t)
{
	if (t->state == TOKEN_ISSUED) {
		token_unissue(tt, t);
		TAILQ_REMOVE(&tt->issued, t, entry);
	} else
		TAILQ_REMOVE(&tt->ended, t, entry);
	RB_REMOVE(token_tree, &tt->tree, t);
	explicit_bzero(t, sizeof(*t));
	free(t);
	tt->ntokens--;
}

void
token_init(struct token_table *tt, time_t (*clock)(void))
{
	RB_INIT(&tt->tree);
	TAILQ_INIT(&tt->issued);
	TAILQ_INIT(&tt->ended);
	tt->ntokens = tt->nissued = 0;
	tt->clock = clock;
	tt->issued_total = tt->used = tt->expired = tt->failed = 0;
	metric_hist_init(&tt->notify, token_notify_bounds,
	    TOKEN_NOTIFY_NBOUNDS);
}

void
token_clear(struct token_table *tt)
{
	struct token	*t;

	while ((t = TAILQ_FIRST(&tt->issued)) != NULL)
		token_free(tt, t);
	while ((t = TAILQ_FIRST(&tt->ended)) != NULL)
		token_free(tt, t);
}

struct token *
token_issue(struct token_table *tt, unsigned int max, unsigned int lifetime,
    int listener, uint32_t connid, const char *name)
{
	return (token_issue_op(tt, max, NULL, 0, lifetime, listener, connid,
	    name));
}

struct token *
token_issue_op(struct token_table *tt, unsigned int max,
    unsigned int *opcount, unsigned int opmax, unsigned int lifetime,
    int listener, uint32_t connid, const char *name)
{
	struct token	*t, *old;

	if (opcount != NULL && *opcount >= opmax)
		return (NULL);
	if (tt->nissued >= max)
		return (NULL);
	/* remembered tokens make room for new ones */
	while (tt->ntokens >= 2 * max &&
	    (old = TAILQ_FIRST(&tt->ended)) != NULL)
		token_free(tt, old);
	if (tt->ntokens >= 2 * max)
		return (NULL);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	do {
		arc4random_buf(t->tok, sizeof(t->tok));
		t->tok[TOKEN_OWNER] = (uint8_t)listener;
		memcpy(&t->key, t->tok, sizeof(t->key));
	} while (RB_INSERT(token_tree, &tt->tree, t) != NULL);
	t->state = TOKEN_ISSUED;
	t->listener = listener;
	t->connid = connid;
	t->expires = token_now(tt) + lifetime;
	/* after the last that expires no later: at the tail unless the
	 * lifetime just became shorter */
	old = TAILQ_LAST(&tt->issued, token_list);
	while (old != NULL && old->expires > t->expires)
		old = TAILQ_PREV(old, token_list, entry);
	if (old != NULL)
		TAILQ_INSERT_AFTER(&tt->issued, old, t, entry);
	else
		TAILQ_INSERT_HEAD(&tt->issued, t, entry);
	(void)clock_gettime(CLOCK_MONOTONIC, &t->issued);
	(void)strlcpy(t->name, name, sizeof(t->name));
	t->opcount = opcount;
	if (opcount != NULL)
		(*opcount)++;
	tt->ntokens++;
	tt->nissued++;
	tt->issued_total++;
	return (t);
}

struct token *
token_lookup(struct token_table *tt, const uint8_t tok[EPS_TOKEN_LEN])
{
	struct token	 key, *t;

	memcpy(&key.key, tok, sizeof(key.key));
	t = RB_FIND(token_tree, &tt->tree, &key);
	if (t == NULL || timingsafe_bcmp(t->tok, tok, EPS_TOKEN_LEN) != 0)
		return (NULL);
	return (t);
}

void
token_end(struct token_table *tt, struct token *t, enum token_state st)
{
	struct timespec	 now;

	if (t->state != TOKEN_ISSUED || st == TOKEN_ISSUED)
		return;
	switch (st) {
	case TOKEN_USED:
		tt->used++;
		if (clock_gettime(CLOCK_MONOTONIC, &now) == 0)
			metric_hist_observe(&tt->notify,
			    (double)(now.tv_sec - t->issued.tv_sec) +
			    (now.tv_nsec - t->issued.tv_nsec) / 1e9);
		break;
	case TOKEN_EXPIRED:
		tt->expired++;
		break;
	default:
		tt->failed++;
		break;
	}
	token_unissue(tt, t);
	TAILQ_REMOVE(&tt->issued, t, entry);
	TAILQ_INSERT_TAIL(&tt->ended, t, entry);
	t->state = st;
	t->expires = token_now(tt) + TOKEN_KEEP;
}

void
token_sweep(struct token_table *tt)
{
	struct token	*t;
	time_t		 now = token_now(tt);

	while ((t = TAILQ_FIRST(&tt->ended)) != NULL && t->expires <= now)
		token_free(tt, t);
	/* those that expire now are remembered from now on */
	while ((t = TAILQ_FIRST(&tt->issued)) != NULL && t->expires <= now)
		token_end(tt, t, TOKEN_EXPIRED);
}

int
token_why(const struct token *t, enum bc_refusal *why)
{
	if (t == NULL) {
		*why = BC_REF_UNKNOWN_TOKEN;
		return (-1);
	}
	switch (t->state) {
	case TOKEN_ISSUED:
		return (0);
	case TOKEN_USED:
		*why = BC_REF_TOKEN_USED;
		break;
	case TOKEN_EXPIRED:
		*why = BC_REF_TOKEN_EXPIRED;
		break;
	case TOKEN_FAILED:
	default:
		*why = BC_REF_TOKEN_FAILED;
		break;
	}
	return (-1);
}

const char *
token_refusal(const struct token *t)
{
	enum bc_refusal	 why;

	if (token_why(t, &why) == 0)
		return (NULL);
	switch (why) {
	case BC_REF_UNKNOWN_TOKEN:
		return ("unknown token");
	case BC_REF_TOKEN_USED:
		return ("token already used");
	case BC_REF_TOKEN_EXPIRED:
		return ("token expired");
	default:
		break;
	}
	return ("token of a failed connection");
}

/*
 * The reasons a backchannel is refused for.
 */

const char *
bc_refusal_label(enum bc_refusal why)
{
	if ((unsigned int)why >= BC_REFUSALS)
		return ("?");
	return (bc_refusal_labels[why]);
}

void
bc_refused_metrics(struct metrics *m, const uint64_t *counts)
{
	struct metric_label	 l;
	int			 i;

	(void)metrics_declare(m, "proxyd_backchannels_refused_total",
	    METRIC_COUNTER, "Backchannel connections refused, by reason.");
	l.name = "reason";
	for (i = 0; i < BC_REFUSALS; i++) {
		l.value = bc_refusal_labels[i];
		(void)metrics_add(m, "proxyd_backchannels_refused_total", &l,
		    1, (double)counts[i]);
	}
}

void
token_metrics(struct metrics *m, const struct token_table *tt)
{
	const struct {
		const char	*name;
		enum metric_type type;
		const char	*help;
		double		 value;
	} ms[] = {
		{ "proxyd_tokens_issued_total", METRIC_COUNTER,
		    "Tokens issued to clients waiting for a backchannel.",
		    (double)tt->issued_total },
		{ "proxyd_tokens_used_total", METRIC_COUNTER,
		    "Tokens a backchannel presented in time.",
		    (double)tt->used },
		{ "proxyd_tokens_expired_total", METRIC_COUNTER,
		    "Tokens no backchannel presented in time, or whose "
		    "client left first.", (double)tt->expired },
		{ "proxyd_tokens_failed_total", METRIC_COUNTER,
		    "Tokens whose private proxy could not be told.",
		    (double)tt->failed },
		{ "proxyd_tokens_pending", METRIC_GAUGE,
		    "Tokens issued and not yet used.", tt->nissued },
		{ "proxyd_tokens_remembered", METRIC_GAUGE,
		    "Tokens no longer issued and still known, so that a "
		    "late or second use is refused with its reason.",
		    tt->ntokens - tt->nissued },
	};
	size_t	 i;

	for (i = 0; i < nitems(ms); i++) {
		(void)metrics_declare(m, ms[i].name, ms[i].type, ms[i].help);
		(void)metrics_add(m, ms[i].name, NULL, 0, ms[i].value);
	}
	(void)metrics_declare_histogram(m, "proxyd_notification_seconds",
	    "Seconds from issuing a token to the backchannel presenting it.",
	    token_notify_bounds, TOKEN_NOTIFY_NBOUNDS);
	(void)metrics_add_hist(m, "proxyd_notification_seconds", NULL, 0,
	    &tt->notify);
}
