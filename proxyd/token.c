/*
 * token.c: the table of one-time tokens (token.h).  Tokens are found
 * by their first 8 bytes in a tree and compared whole in constant
 * time; a list keeps them oldest first for the sweep.  The table
 * counts what became of its tokens, and how long a used one took from
 * its issue to the backchannel that presented it (the notification
 * round trip: the incoming call through the EPS network, the private
 * proxy's dial, its preamble).
 */

#include <time.h>

#include "compat.h"
#include "token.h"

static int	token_cmp(struct token *, struct token *);
RB_GENERATE_STATIC(token_tree, token, node, token_cmp)

const double	 token_notify_bounds[TOKEN_NOTIFY_NBOUNDS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
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
	if (t->state == TOKEN_ISSUED)
		token_unissue(tt, t);
	RB_REMOVE(token_tree, &tt->tree, t);
	TAILQ_REMOVE(&tt->age, t, age);
	explicit_bzero(t, sizeof(*t));
	free(t);
	tt->ntokens--;
}

void
token_init(struct token_table *tt, time_t (*clock)(void))
{
	RB_INIT(&tt->tree);
	TAILQ_INIT(&tt->age);
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

	while ((t = TAILQ_FIRST(&tt->age)) != NULL)
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

	/* remembered tokens make room for new ones */
	while (tt->ntokens >= 2 * max &&
	    (old = TAILQ_FIRST(&tt->age)) != NULL &&
	    old->state != TOKEN_ISSUED)
		token_free(tt, old);
	if (tt->nissued >= max || tt->ntokens >= 2 * max)
		return (NULL);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	do {
		arc4random_buf(t->tok, sizeof(t->tok));
		memcpy(&t->key, t->tok, sizeof(t->key));
	} while (RB_INSERT(token_tree, &tt->tree, t) != NULL);
	TAILQ_INSERT_TAIL(&tt->age, t, age);
	t->state = TOKEN_ISSUED;
	t->listener = listener;
	t->connid = connid;
	t->expires = token_now(tt) + lifetime;
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
	t->state = st;
	t->expires = token_now(tt) + TOKEN_KEEP;
}

void
token_sweep(struct token_table *tt)
{
	struct token	*t, *tn;
	time_t		 now = token_now(tt);

	TAILQ_FOREACH_SAFE(t, &tt->age, age, tn) {
		if (t->expires > now)
			continue;
		if (t->state == TOKEN_ISSUED)
			token_end(tt, t, TOKEN_EXPIRED);
		else
			token_free(tt, t);
	}
}

void
token_listener_gone(struct token_table *tt, int listener)
{
	struct token	*t;

	TAILQ_FOREACH(t, &tt->age, age)
		if (t->state == TOKEN_ISSUED && t->listener == listener)
			token_end(tt, t, TOKEN_FAILED);
}

const char *
token_refusal(const struct token *t)
{
	if (t == NULL)
		return ("unknown token");
	switch (t->state) {
	case TOKEN_ISSUED:
		return (NULL);
	case TOKEN_USED:
		return ("token already used");
	case TOKEN_EXPIRED:
		return ("token expired");
	case TOKEN_FAILED:
		break;
	}
	return ("token of a failed connection");
}
