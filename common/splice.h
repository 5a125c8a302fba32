/*
 * splice.h: join two connected sockets and move the bytes between them
 * in both directions until both sides are done.
 *
 * Short exchanges go through read(2) and send(2) and never touch a
 * pipe; a direction whose read fills the buffer moves to splice(2),
 * through a pipe of a per-process pool held only while bytes are in
 * it, so bulk payload is not copied into user space.  Where splice(2)
 * refuses the descriptors, read/write is the fallback.  A relay holds
 * its two sockets and nothing else between bursts.  An end of file in
 * one direction is passed on as
 * shutdown(SHUT_WR) on the other socket once every byte before it has
 * been written (half-close); the relay ends when both directions have
 * seen end of file, on the first hard error, or when no byte moved in
 * either direction for the idle time.
 */

#ifndef SPLICE_H
#define SPLICE_H

#include <sys/time.h>

#include <stdint.h>

struct event_base;
struct metrics;
struct splice;

enum splice_end {
	SPLICE_DONE = 0,	/* both directions reached end of file */
	SPLICE_ERROR,		/* read, write or splice failed (errno saved);
				   a reset (ECONNRESET, EPIPE) after data went
				   both ways is SPLICE_DONE */
	SPLICE_IDLE,		/* idle timeout */
};

#define SPLICE_F_NOSPLICE	0x01	/* use read/write even where splice works */

/*
 * Called once, when the relay ends; call splice_free() from it (on
 * SPLICE_DONE the close in splice_free() passes on the second end of
 * file, so do not wait long).
 */
typedef void	(*splice_done_cb)(struct splice *, enum splice_end, int error,
		    void *arg);

/*
 * Take ownership of the non-blocking sockets a and b and relay between
 * them.  idle may be NULL (or zero) for no idle timeout.  Returns NULL
 * with errno set if the relay cannot start (then a and b are still the
 * caller's).
 */
struct splice	*splice_start(struct event_base *, int a, int b,
		    const struct timeval *idle, int flags, splice_done_cb,
		    void *arg);

/* Stop relaying, close both sockets and release the pipes. */
void		 splice_free(struct splice *);

/* Bytes moved so far from a to b (dir 0) and from b to a (dir 1). */
uint64_t	 splice_bytes(const struct splice *, int dir);

/*
 * The pipes a process opens, in flight or idle in its pool, are at most
 * this many (two descriptors each); a relay that finds all of them busy
 * reads into its buffer meanwhile.  0 means read/write only.
 */
#define SPLICE_MAXPIPES	64
void		 splice_set_pool(unsigned int max);

/* What the relays of this process moved, and how, since it started. */
struct splice_stats {
	uint64_t	spliced;	/* bytes written out of a pipe */
	uint64_t	copied;		/* bytes read in and written out */
	uint64_t	pipes_made;
	uint64_t	pipes_failed;	/* pipe2(2) failed, or the pipe was
					   too small to use */
};
void		 splice_stats(struct splice_stats *);

/* The same as PREFIX_relay_bytes_total{how} and PREFIX_relay_pipes_total. */
void		 splice_metrics(struct metrics *, const char *prefix);

#endif /* SPLICE_H */
