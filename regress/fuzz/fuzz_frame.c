/*
 * fuzz_frame.c: libFuzzer target for the frame codec (frame.c) and
 * the frame channel (chan.c).
 *
 * The first input byte is a control byte: bits 0-1 choose the
 * channel's maxlen, bits 2-4 how the rest is cut into writes, bit 5
 * whether descriptors travel with some of the writes, bits 6-7 which.
 * The rest is what a hostile peer writes to a real AF_UNIX socketpair
 * read by a chan in a libevent loop.  The same stream, cut the same
 * way, goes to frame_next() on an evbuffer: the model.  Checked:
 * - frame_next() answers as the header says: READY only with a known
 *   flag set, len <= maxlen and the whole payload there, BAD only for
 *   a bad header, SHORT otherwise; the payload is the input's bytes;
 * - the chan delivers the model's frames in order, byte for byte:
 *   all of them up to the first FRAME_F_FD frame when no descriptor is
 *   sent, a prefix of them when descriptors are sent;
 * - a frame without FRAME_F_FD never comes with a descriptor;
 * - the close is reported exactly once, and nothing after it;
 * - no allocation grows with a claimed length, and after each input
 *   every descriptor is closed again (/proc/self/fd).
 *
 * Seeds: regress/fuzz/corpus/frame/.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "frame.h"
#include "chan.h"
#include "log.h"
#include "fuzz.h"

#define STREAMMAX	65536
#define MAXFRAMES	(STREAMMAX / FRAME_HDRLEN + 2)
#define GUARD_SEC	10

struct rec {
	struct frame_hdr	 h;
	size_t			 len;
	uint64_t		 hash;
	int			 hadfd;
};

struct run {
	struct chan	*c;
	struct rec	*frames;
	size_t		 n;
	int		 closed;
	int		 after_close;
};

static void	*fz_malloc(size_t);
static void	*fz_realloc(void *, size_t);
static void	 fz_free(void *);
static void	 fz_init(void);
static uint64_t	 fz_hash(const uint8_t *, size_t);
static int	 fz_nfds(void);
static uint32_t	 fz_be32(const uint8_t *);
static size_t	 fz_model(const uint8_t *, size_t, size_t, size_t,
		    struct rec *);
static void	 fz_cb(struct chan *, struct frame *, void *);
static void	 fz_guard(evutil_socket_t, short, void *);
static ssize_t	 fz_send(int, const uint8_t *, size_t, int);
static size_t	 fz_chan(const uint8_t *, size_t, size_t, size_t, int,
		    unsigned int, struct run *);

static struct event_base	*base;
static int			 devnull = -1;
static size_t			 mem_max;
static struct rec		 model[MAXFRAMES];
static struct rec		 got[MAXFRAMES];

static const size_t	 maxlens[4] = { 0, 16, 100, 4096 };
static const size_t	 chunks[8] = { 1, 2, 3, 7, 12, 13, 100, STREAMMAX };

static void *
fz_malloc(size_t n)
{
	if (n > mem_max)
		mem_max = n;
	return (malloc(n));
}

static void *
fz_realloc(void *p, size_t n)
{
	if (n > mem_max)
		mem_max = n;
	return (realloc(p, n));
}

static void
fz_free(void *p)
{
	free(p);
}

static void
fz_init(void)
{
	if (base != NULL)
		return;
	event_set_mem_functions(fz_malloc, fz_realloc, fz_free);
	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_DAEMON);
	if ((base = event_base_new()) == NULL)
		abort();
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		abort();
}

static uint64_t
fz_hash(const uint8_t *p, size_t n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static int
fz_nfds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

static uint32_t
fz_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

/*
 * frame_next() over the stream added chunk by chunk; the frames found
 * go to out.  Each answer is checked against the header read by hand.
 */
static size_t
fz_model(const uint8_t *s, size_t len, size_t maxlen, size_t chunk,
    struct rec *out)
{
	struct evbuffer		*in;
	struct frame_hdr	 h;
	const uint8_t		*payload;
	const char		*why;
	enum frame_status	 st;
	size_t			 added = 0, base_off = 0, n = 0, have, k;
	uint32_t		 hlen;
	uint16_t		 hflags;

	if ((in = evbuffer_new()) == NULL)
		abort();
	while (added < len) {
		k = MINIMUM(chunk, len - added);
		/* A reference chain per chunk: pullup must join them. */
		if (evbuffer_add_reference(in, s + added, k, NULL, NULL) == -1)
			abort();
		added += k;
		for (;;) {
			have = evbuffer_get_length(in);
			FZ_ASSERT(have == added - base_off);
			why = NULL;
			payload = NULL;
			st = frame_next(in, maxlen, &h, &payload, &why);
			FZ_ASSERT(evbuffer_get_length(in) == have);
			if (have < FRAME_HDRLEN) {
				FZ_ASSERT(st == FRAME_SHORT);
				break;
			}
			hlen = fz_be32(s + base_off);
			hflags = (uint16_t)(s[base_off + 6] << 8 |
			    s[base_off + 7]);
			if (hlen > maxlen || (hflags & ~FRAME_F_MASK)) {
				FZ_ASSERT(st == FRAME_BAD && why != NULL);
				evbuffer_free(in);
				return (n);
			}
			FZ_ASSERT(h.len == hlen && h.flags == hflags &&
			    h.type == (s[base_off + 4] << 8 |
			    s[base_off + 5]) &&
			    h.ref == fz_be32(s + base_off + 8));
			if (have - FRAME_HDRLEN < hlen) {
				FZ_ASSERT(st == FRAME_SHORT);
				break;
			}
			FZ_ASSERT(st == FRAME_READY && payload != NULL);
			FZ_ASSERT(memcmp(payload, s + base_off + FRAME_HDRLEN,
			    hlen) == 0);
			FZ_ASSERT(n < MAXFRAMES);
			out[n].h = h;
			out[n].len = hlen;
			out[n].hash = fz_hash(payload, hlen);
			out[n].hadfd = 0;
			n++;
			frame_drain(in, &h);
			base_off += FRAME_HDRLEN + hlen;
		}
	}
	evbuffer_free(in);
	return (n);
}

static void
fz_cb(struct chan *c, struct frame *f, void *arg)
{
	struct run	*r = arg;

	if (r->closed) {
		r->after_close++;
		return;
	}
	if (f == NULL) {
		r->closed++;
		chan_free(c);
		r->c = NULL;
		return;
	}
	FZ_ASSERT(r->n < MAXFRAMES);
	FZ_ASSERT(f->len == f->hdr.len);
	FZ_ASSERT((f->hdr.flags & ~FRAME_F_MASK) == 0);
	FZ_ASSERT(f->fd == -1 || (f->hdr.flags & FRAME_F_FD));
	FZ_ASSERT(!(f->hdr.flags & FRAME_F_FD) || f->fd != -1);
	r->frames[r->n].h = f->hdr;
	r->frames[r->n].len = f->len;
	r->frames[r->n].hash = fz_hash(f->data, f->len);
	r->frames[r->n].hadfd = f->fd != -1;
	r->n++;
}

static void
fz_guard(evutil_socket_t fd, short ev, void *arg)
{
	fprintf(stderr, "channel never reported its close\n");
	abort();
}

static ssize_t
fz_send(int fd, const uint8_t *p, size_t len, int passfd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (passfd != -1) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
	}
	return (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* The stream through a real channel; returns the frames delivered. */
static size_t
fz_chan(const uint8_t *s, size_t len, size_t maxlen, size_t chunk,
    int withfds, unsigned int which, struct run *r)
{
	struct event	*guard;
	struct timeval	 tv = { GUARD_SEC, 0 };
	size_t		 off = 0, k, nchunk = 0;
	ssize_t		 w;
	int		 sv[2], passfd;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	memset(r, 0, sizeof(*r));
	r->frames = got;
	if ((r->c = chan_new(base, sv[1], maxlen, fz_cb, r)) == NULL)
		abort();
	if ((guard = evtimer_new(base, fz_guard, NULL)) == NULL ||
	    evtimer_add(guard, &tv) == -1)
		abort();
	while (off < len && !r->closed) {
		k = MINIMUM(chunk, len - off);
		passfd = withfds && nchunk % 4 == which ? devnull : -1;
		w = fz_send(sv[0], s + off, k, passfd);
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The socket is full: let the channel read. */
			event_base_loop(base, EVLOOP_ONCE);
			continue;
		}
		if (w == -1)
			break;		/* the channel has gone */
		off += (size_t)w;
		nchunk++;
		if (nchunk % 64 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	close(sv[0]);
	while (!r->closed)
		event_base_loop(base, EVLOOP_ONCE);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_free(guard);
	FZ_ASSERT(r->closed == 1 && r->after_close == 0 && r->c == NULL);
	return (r->n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 r;
	const uint8_t	*s;
	size_t		 len, maxlen, eff, chunk, nmodel, nchan, want, i;
	int		 withfds, before;
	unsigned int	 which;

	if (size < 1)
		return (0);
	fz_init();
	s = data + 1;
	len = MINIMUM(size - 1, STREAMMAX);
	maxlen = maxlens[data[0] & 3];
	eff = maxlen ? maxlen : FRAME_MAXLEN;
	chunk = chunks[(data[0] >> 2) & 7];
	withfds = (data[0] >> 5) & 1;
	which = data[0] >> 6;

	nmodel = fz_model(s, len, eff, chunk, model);

	before = fz_nfds();
	mem_max = 0;
	nchan = fz_chan(s, len, maxlen, chunk, withfds, which, &r);
	FZ_ASSERT(fz_nfds() == before);
	/* Reads are CHAN_READSZ at most; frames are at most maxlen. */
	FZ_ASSERT(mem_max <= 4 * (eff + FRAME_HDRLEN + 65536));

	if (!withfds) {
		for (want = 0; want < nmodel; want++)
			if (model[want].h.flags & FRAME_F_FD)
				break;
		FZ_ASSERT(nchan == want);
	} else
		FZ_ASSERT(nchan <= nmodel);
	for (i = 0; i < nchan; i++) {
		FZ_ASSERT(got[i].h.len == model[i].h.len);
		FZ_ASSERT(got[i].h.type == model[i].h.type);
		FZ_ASSERT(got[i].h.flags == model[i].h.flags);
		FZ_ASSERT(got[i].h.ref == model[i].h.ref);
		FZ_ASSERT(got[i].len == model[i].len);
		FZ_ASSERT(got[i].hash == model[i].hash);
	}
	return (0);
}
