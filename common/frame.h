/*
 * frame.h: the one message codec of the project.
 *
 * A frame is a 12-byte header in network byte order followed by a
 * msgpack payload:
 *
 *	uint32	len	payload bytes, checked against a maximum before
 *			anything is allocated
 *	uint16	type	the daemon's enum imsg_type, or an EPS frame type
 *	uint16	flags	FRAME_F_FD: one descriptor travels with the frame
 *	uint32	ref	which connection, request or peer it is about
 *
 * The same frames run over the socketpairs between processes (struct
 * chan, chan.h) and, inside TLS, over the links between epsd servers.
 */

#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define FRAME_HDRLEN	12
#define FRAME_MAXLEN	(256 * 1024)	/* default bound on a payload */

#define FRAME_F_FD	0x0001
#define FRAME_F_MASK	0x0001		/* flags a receiver accepts */

struct frame_hdr {
	uint32_t	len;
	uint16_t	type;
	uint16_t	flags;
	uint32_t	ref;
};

enum frame_status {
	FRAME_BAD = -1,		/* header is invalid: drop the stream */
	FRAME_SHORT = 0,	/* not all of the frame is there yet */
	FRAME_READY = 1,	/* a whole frame is at the head of the buffer */
};

void		 frame_hdr_encode(uint8_t [FRAME_HDRLEN],
		    const struct frame_hdr *);
void		 frame_hdr_decode(const uint8_t [FRAME_HDRLEN],
		    struct frame_hdr *);

/*
 * Look at the head of in.  On FRAME_READY, *hdr is the header and
 * *payload points at hdr->len contiguous bytes inside the buffer, valid
 * until frame_drain().  FRAME_BAD sets *why.
 */
enum frame_status frame_next(struct evbuffer *in, size_t maxlen,
		    struct frame_hdr *hdr, const uint8_t **payload,
		    const char **why);
void		 frame_drain(struct evbuffer *in, const struct frame_hdr *);

/* Append one frame to out; -1 if len exceeds FRAME_MAXLEN or on ENOMEM. */
int		 frame_add(struct evbuffer *out, uint16_t type, uint32_t ref,
		    uint16_t flags, const void *payload, size_t len);

#endif /* FRAME_H */
