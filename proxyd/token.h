/*
 * token.h: the one-time tokens of proxyd's listeners.
 *
 * A token is issued for one client waiting for its backchannel, by the
 * listener that holds the client, each listener keeping its own table.
 * Its byte TOKEN_OWNER is that listener's instance, the other 31 are
 * random: a backchannel that reaches another listener is passed to the
 * owner, which alone knows the token.  It is used once (the backchannel presented it), or it
 * expires (the listener gave up, or nobody came within its time), or
 * it fails (the call to the private proxy failed, or the listener went
 * away).  A token that is no longer issued is remembered for
 * TOKEN_KEEP seconds, so that a late or second use of it is refused
 * with the right reason; after that it is forgotten, and unknown.  The
 * table holds at most twice as many tokens as may be issued at once:
 * when it is full, the token that ended first is forgotten first, so
 * that a new one can be issued.
 *
 * Issued tokens are kept in the order they expire in, ended ones in
 * the order they are forgotten in, so that the sweep looks at no more
 * than those whose time has come; a lookup is O(log n).
 *
 * The table reads the time through its clock (time(3) unless another
 * is given), so that a test can move it.
 */

#ifndef TOKEN_H
#define TOKEN_H

#include <time.h>

#include "compat.h"
#include "dname.h"
#include "eps.h"
#include "metrics.h"
#include "proxyd.h"

#define TOKEN_KEEP	60	/* s a finished token is remembered */
#define TOKEN_OWNER	0	/* the byte that names the listener */

enum token_state {
	TOKEN_ISSUED,
	TOKEN_USED,
	TOKEN_EXPIRED,
	TOKEN_FAILED,
};

struct token {
	RB_ENTRY(token)		 node;
	TAILQ_ENTRY(token)	 entry;		/* issued or ended list */
	uint64_t		 key;
	uint8_t			 tok[EPS_TOKEN_LEN];
	enum token_state	 state;
	int			 listener;
	uint32_t		 connid;
	unsigned int		*opcount;	/* issued: the operator's
						 * count of issued tokens */
	time_t			 expires;	/* issued: expires then;
						 * else forgotten then */
	struct timespec		 issued;	/* monotonic */
	char			 name[DNAME_MAX + 1];
};

RB_HEAD(token_tree, token);
TAILQ_HEAD(token_list, token);

struct token_table {
	struct token_tree	 tree;
	struct token_list	 issued;	/* first to expire first */
	struct token_list	 ended;		/* first to be forgotten
						 * first */
	unsigned int		 ntokens;	/* issued and remembered */
	unsigned int		 nissued;
	time_t			(*clock)(void);
	/* what became of them, for the metrics */
	uint64_t		 issued_total;
	uint64_t		 used;
	uint64_t		 expired;
	uint64_t		 failed;
	/* seconds from the issue to the backchannel presenting it */
	struct metric_hist	 notify;
};

/* The bounds of the notification histogram, in seconds. */
#define TOKEN_NOTIFY_NBOUNDS	12
extern const double	 token_notify_bounds[TOKEN_NOTIFY_NBOUNDS];

/* An empty table; clock NULL: time(3). */
void		 token_init(struct token_table *, time_t (*clock)(void));
/* Forget every token. */
void		 token_clear(struct token_table *);
/*
 * A new token for a client of listener, valid for lifetime seconds.
 * At most max are issued at once and twice as many known: the
 * remembered ones that ended first make room.  NULL when max are
 * issued.
 */
struct token	*token_issue(struct token_table *, unsigned int max,
		    unsigned int lifetime, int listener, uint32_t connid,
		    const char *name);
/*
 * As token_issue(), and also at most opmax issued at once against
 * *opcount, the count of one operator's issued tokens, which the table
 * keeps while the token is issued (the counter must outlive it).
 */
struct token	*token_issue_op(struct token_table *, unsigned int max,
		    unsigned int *opcount, unsigned int opmax,
		    unsigned int lifetime, int listener, uint32_t connid,
		    const char *name);
/* The token with these bytes, in any state, or NULL if unknown. */
struct token	*token_lookup(struct token_table *,
		    const uint8_t tok[EPS_TOKEN_LEN]);
/* An issued token is done: TOKEN_USED, TOKEN_EXPIRED or TOKEN_FAILED. */
void		 token_end(struct token_table *, struct token *,
		    enum token_state);
/* Issued tokens past their time expire; finished ones are forgotten. */
void		 token_sweep(struct token_table *);
/*
 * Why a backchannel presenting token t (NULL: unknown) is refused, in
 * *why: BC_REF_UNKNOWN_TOKEN, BC_REF_TOKEN_USED, BC_REF_TOKEN_EXPIRED
 * or BC_REF_TOKEN_FAILED; 0 if t is issued and may be used, else -1.
 */
int		 token_why(const struct token *, enum bc_refusal *why);
/* The same as the log says it; NULL if t may be used. */
const char	*token_refusal(const struct token *);

/*
 * The table's numbers as proxyd_tokens_* and proxyd_notification_seconds
 * (the parent adds up those of all listeners).
 */
void		 token_metrics(struct metrics *, const struct token_table *);

#endif /* TOKEN_H */
