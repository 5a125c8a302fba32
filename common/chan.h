/*
 * chan.h: a frame channel over a Unix socket, driven by libevent.
 * This is the project's imsg: every pair of processes talks through one.
 *
 * Writes are queued and flushed from the event loop.  A frame may carry
 * one descriptor; chan_send() takes ownership of it and closes it once
 * sent.  On the receiving side the descriptor is paired with the frame
 * whose header says FRAME_F_FD.
 */

#ifndef CHAN_H
#define CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct event_base;
struct chan;

struct frame {
	struct frame_hdr hdr;
	const uint8_t	*data;		/* hdr.len payload bytes */
	size_t		 len;
	int		 fd;		/* -1, or a descriptor that came along */
};

/*
 * Called for each frame received, and once with f == NULL when the
 * channel is closed by the peer or fails (then call chan_free()).  To
 * keep f->fd the callee sets f->fd = -1; otherwise it is closed after
 * the callback returns.  f->data is valid during the callback only.
 * The callback may call chan_free() on its own channel.
 */
typedef void	(*chan_cb)(struct chan *, struct frame *f, void *arg);

#define CHAN_OUTMAX	(64 * 1024 * 1024)	/* queued bytes before ENOBUFS */

struct chan	*chan_new(struct event_base *, int fd, size_t maxlen,
		    chan_cb, void *arg);
void		 chan_free(struct chan *);
void		 chan_set_name(struct chan *, const char *);
const char	*chan_name(const struct chan *);

/* Queue a frame; fd is -1 or a descriptor to pass. -1 with errno set. */
int		 chan_send(struct chan *, uint16_t type, uint32_t ref,
		    int fd, const void *payload, size_t len);

/* Write out what is queued, blocking; for use before exit. */
int		 chan_flush(struct chan *);
size_t		 chan_queued(const struct chan *);

#endif /* CHAN_H */
