/*
 * frame.c: encoding and decoding of frame headers (see frame.h).
 * Nothing here knows about descriptors or sockets.
 */

#include <arpa/inet.h>

#include <errno.h>

#include <event2/buffer.h>

#include "compat.h"
#include "frame.h"

void
frame_hdr_encode(uint8_t b[FRAME_HDRLEN], const struct frame_hdr *h)
{
	uint32_t	 l = htonl(h->len), p = htonl(h->ref);
	uint16_t	 t = htons(h->type), f = htons(h->flags);

	memcpy(b, &l, 4);
	memcpy(b + 4, &t, 2);
	memcpy(b + 6, &f, 2);
	memcpy(b + 8, &p, 4);
}

void
frame_hdr_decode(const uint8_t b[FRAME_HDRLEN], struct frame_hdr *h)
{
	uint32_t	 l, p;
	uint16_t	 t, f;

	memcpy(&l, b, 4);
	memcpy(&t, b + 4, 2);
	memcpy(&f, b + 6, 2);
	memcpy(&p, b + 8, 4);
	h->len = ntohl(l);
	h->type = ntohs(t);
	h->flags = ntohs(f);
	h->ref = ntohl(p);
}

enum frame_status
frame_next(struct evbuffer *in, size_t maxlen, struct frame_hdr *hdr,
    const uint8_t **payload, const char **why)
{
	uint8_t		 b[FRAME_HDRLEN];
	const uint8_t	*p;
	size_t		 have;

	have = evbuffer_get_length(in);
	if (have < FRAME_HDRLEN)
		return (FRAME_SHORT);
	if (evbuffer_copyout(in, b, sizeof(b)) != (ev_ssize_t)sizeof(b))
		return (FRAME_SHORT);
	frame_hdr_decode(b, hdr);
	if (hdr->len > maxlen) {
		*why = "frame too long";
		return (FRAME_BAD);
	}
	if (hdr->flags & ~FRAME_F_MASK) {
		*why = "unknown frame flags";
		return (FRAME_BAD);
	}
	if (have - FRAME_HDRLEN < hdr->len)
		return (FRAME_SHORT);
	p = evbuffer_pullup(in, FRAME_HDRLEN + hdr->len);
	if (p == NULL) {
		*why = "out of memory";
		return (FRAME_BAD);
	}
	*payload = p + FRAME_HDRLEN;
	return (FRAME_READY);
}

void
frame_drain(struct evbuffer *in, const struct frame_hdr *hdr)
{
	evbuffer_drain(in, FRAME_HDRLEN + (size_t)hdr->len);
}

int
frame_add(struct evbuffer *out, uint16_t type, uint32_t ref,
    uint16_t flags, const void *payload, size_t len)
{
	struct frame_hdr	 h;
	uint8_t			 b[FRAME_HDRLEN];

	if (len > FRAME_MAXLEN) {
		errno = EMSGSIZE;
		return (-1);
	}
	h.len = (uint32_t)len;
	h.type = type;
	h.flags = flags;
	h.ref = ref;
	frame_hdr_encode(b, &h);
	if (evbuffer_expand(out, sizeof(b) + len) == -1 ||
	    evbuffer_add(out, b, sizeof(b)) == -1)
		return (-1);
	if (len > 0 && evbuffer_add(out, payload, len) == -1)
		return (-1);
	return (0);
}
