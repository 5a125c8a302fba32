/*
 * test_frame.c: the frame header codec (frame.c) and the frame channel
 * (chan.c) over real AF_UNIX stream socketpairs in one libevent loop.
 *
 * frame_next() is driven on evbuffers built by hand: every prefix of a
 * frame, fragmented buffers, headers that claim too much or carry
 * unknown flags.  The channel cases send frames of every size both
 * ways and check them byte for byte, pass descriptors with their
 * frames (a marker written through a passed pipe shows which frame a
 * descriptor came with; /proc/self/fd shows who still holds it), and
 * write hostile bytes to a channel with plain write(2) and sendmsg(2):
 * oversized, truncated and unknown-flag headers, FRAME_F_FD without a
 * descriptor, stray descriptors, too many descriptors at once.
 * libevent's allocator is wrapped so that a case can assert that no
 * claimed length was ever allocated.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
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
#include "unit.h"

#define MIB		(1024 * 1024)
#define MAXREC		64	/* frames a recorder remembers */
#define NBULK		120	/* frames each way in the bulk case */
#define NFDS		240	/* frames in the descriptor case */
#define NBURST		1000	/* descriptors in the burst case */
#define NSTRAY		64	/* descriptors without FRAME_F_FD */
#define WAIT_MS		10000	/* bound on every loop, never reached */

/* A receiver that remembers what it was given. */
struct rec {
	struct chan	*c;
	int		 nframes;
	int		 closed;	/* close reports */
	int		 freeat;	/* chan_free() on this frame */
	int		 freed;
	int		 after_free;	/* callbacks after chan_free() */
	int		 mark;		/* write frame numbers to f->fd */
	int		 badmark;
	int		 want;		/* frames rec_settled() waits for */
	uint16_t	 type[MAXREC];
	uint16_t	 flags[MAXREC];
	size_t		 len[MAXREC];
	int		 hadfd[MAXREC];
	ino_t		 ino[MAXREC];
};

/* One end of the bulk case. */
struct bulk {
	struct chan	*c;
	const size_t	*sizes;
	uint8_t		*buf;
	uint32_t	 side;		/* 0 or 1, seeds what it sends */
	size_t		 sent;
	size_t		 got;
	int		 bad;
	int		 closed;
	int		 sendfail;
	struct bulk	*peer;
};

/* The descriptor case: what was sent with frame i. */
enum fdkind { FK_NONE, FK_PIPE, FK_PIPE_TAKEN, FK_FILE };

struct fdcase {
	struct chan	*c;
	enum fdkind	 kind[NFDS];
	int		 rd[NFDS];	/* our read end of a passed pipe */
	int		 taken[NFDS];	/* what the callback kept */
	size_t		 got;
	int		 wrongfd;	/* a descriptor not of its frame */
	int		 fdmissing;
	int		 fdextra;	/* a descriptor where none was */
	int		 nocloexec;
	int		 closed;
};

struct burst {
	struct chan	*c;
	size_t		 got;
	size_t		 fdframes;
	int		 outoforder;
	int		 closed;
};

/* The largest libevent allocation since it was reset. */
static size_t	 mem_max;

static void	*mem_malloc(size_t);
static void	*mem_realloc(void *, size_t);
static void	 mem_free(void *);
static uint8_t	 pat(uint32_t, size_t);
static int	 count_fds(void);
static int	 count_ino(ino_t);
static void	 raw_hdr(uint8_t *, uint32_t, uint16_t, uint16_t, uint32_t);
static ssize_t	 raw_send(int, const void *, size_t, const int *, int);
static int	 xpipe(int [2]);
static int	 pipe_eof(int);
static void	 rec_cb(struct chan *, struct frame *, void *);
static int	 rec_closed(void *);
static int	 rec_settled(void *);
static struct chan *rec_chan(struct event_base *, int, size_t,
		    struct rec *);
static void	 test_codec(void);
static void	 test_next(void);
static void	 test_add(void);
static void	 bulk_send(struct bulk *);
static void	 bulk_cb(struct chan *, struct frame *, void *);
static int	 bulk_done(void *);
static void	 test_bulk(struct event_base *);
static void	 fd_cb(struct chan *, struct frame *, void *);
static int	 fd_done(void *);
static void	 test_fds(struct event_base *);
static void	 burst_cb(struct chan *, struct frame *, void *);
static int	 burst_done(void *);
static void	 test_burst(struct event_base *);
static void	 test_wire(struct event_base *);
static void	 test_badfd(struct event_base *);
static void	 test_stray(struct event_base *);
static void	 test_free_in_cb(struct event_base *);
static void	 test_send_closed(struct event_base *);
static int	 queue_empty(void *);
static void	 drain_cb(evutil_socket_t, short, void *);
static void	 test_outmax(struct event_base *);
static void	 test_flush(struct event_base *);

static void *
mem_malloc(size_t n)
{
	if (n > mem_max)
		mem_max = n;
	return (malloc(n));
}

static void *
mem_realloc(void *p, size_t n)
{
	if (n > mem_max)
		mem_max = n;
	return (realloc(p, n));
}

static void
mem_free(void *p)
{
	free(p);
}

/* Byte i of the payload with this seed: a lost or moved byte shows. */
static uint8_t
pat(uint32_t seed, size_t i)
{
	uint32_t	 x = seed * 0x9e3779b1U + (uint32_t)i;

	x ^= x >> 15;
	x *= 0x85ebca6bU;
	x ^= x >> 13;
	return (x & 0xff);
}

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* How many of our descriptors refer to the pipe with this inode. */
static int
count_ino(ino_t ino)
{
	DIR		*d;
	struct dirent	*de;
	char		 link[64], want[64];
	ssize_t		 n;
	int		 count = 0;

	(void)snprintf(want, sizeof(want), "pipe:[%llu]",
	    (unsigned long long)ino);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((n = readlinkat(dirfd(d), de->d_name, link,
		    sizeof(link) - 1)) == -1)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			count++;
	}
	closedir(d);
	return (count);
}

static void
raw_hdr(uint8_t *b, uint32_t len, uint16_t type, uint16_t flags,
    uint32_t ref)
{
	struct frame_hdr	 h;

	h.len = len;
	h.type = type;
	h.flags = flags;
	h.ref = ref;
	frame_hdr_encode(b, &h);
}

/* One sendmsg(2) of buf, passing nfds descriptors with it. */
static ssize_t
raw_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(16 * sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	return (sendmsg(fd, &msg, MSG_NOSIGNAL));
}

/* A non-blocking pipe: a missing marker reads as EAGAIN, not a hang. */
static int
xpipe(int p[2])
{
	if (pipe2(p, O_NONBLOCK) == -1) {
		perror("pipe2");
		exit(1);
	}
	return (0);
}

/* Drain a pipe; 1 if it ends in EOF, that is no writer is left. */
static int
pipe_eof(int fd)
{
	char	 buf[256];
	ssize_t	 n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	return (n == 0);
}

static void
rec_cb(struct chan *c, struct frame *f, void *arg)
{
	struct rec	*r = arg;
	struct stat	 sb;
	uint32_t	 n;
	int		 i;

	if (r->freed) {
		r->after_free++;
		return;
	}
	if (f == NULL) {
		r->closed++;
		return;
	}
	i = r->nframes++;
	if (f->fd != -1 && r->mark) {
		n = (uint32_t)i;
		if (write(f->fd, &n, sizeof(n)) != sizeof(n))
			r->badmark++;
	}
	if (i < MAXREC) {
		r->type[i] = f->hdr.type;
		r->flags[i] = f->hdr.flags;
		r->len[i] = f->len;
		r->hadfd[i] = f->fd != -1;
		r->ino[i] = 0;
		if (f->fd != -1 && fstat(f->fd, &sb) == 0)
			r->ino[i] = sb.st_ino;
	}
	if (r->freeat != 0 && r->nframes == r->freeat) {
		chan_free(c);
		r->freed = 1;
		r->c = NULL;
	}
}

static int
rec_closed(void *arg)
{
	struct rec	*r = arg;

	return (r->closed > 0);
}

static int
rec_settled(void *arg)
{
	struct rec	*r = arg;

	return (r->closed > 0 || r->freed || r->nframes >= r->want);
}

static struct chan *
rec_chan(struct event_base *base, int fd, size_t maxlen, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	if ((r->c = chan_new(base, fd, maxlen, rec_cb, r)) == NULL) {
		perror("chan_new");
		exit(1);
	}
	return (r->c);
}

/* Header encoding: the byte layout and round trips. */
static void
test_codec(void)
{
	static const uint8_t	 want[FRAME_HDRLEN] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
		0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c
	};
	struct frame_hdr	 h, g;
	uint8_t			 b[FRAME_HDRLEN];
	uint32_t		 x = 12345;
	int			 i, ok = 1;

	h.len = 0x01020304;
	h.type = 0x0506;
	h.flags = 0x0708;
	h.ref = 0x090a0b0c;
	frame_hdr_encode(b, &h);
	UT_CHECK("frame: header is in network byte order",
	    memcmp(b, want, sizeof(b)) == 0);
	memset(&g, 0, sizeof(g));
	frame_hdr_decode(want, &g);
	UT_CHECK("frame: header decodes field by field",
	    g.len == h.len && g.type == h.type && g.flags == h.flags &&
	    g.ref == h.ref);

	h.len = UINT32_MAX;
	h.type = UINT16_MAX;
	h.flags = UINT16_MAX;
	h.ref = UINT32_MAX;
	frame_hdr_encode(b, &h);
	frame_hdr_decode(b, &g);
	UT_CHECK("frame: all-ones header round trip",
	    g.len == UINT32_MAX && g.type == UINT16_MAX &&
	    g.flags == UINT16_MAX && g.ref == UINT32_MAX);
	memset(&h, 0, sizeof(h));
	frame_hdr_encode(b, &h);
	frame_hdr_decode(b, &g);
	UT_CHECK("frame: zero header round trip",
	    g.len == 0 && g.type == 0 && g.flags == 0 && g.ref == 0);

	for (i = 0; i < 10000; i++) {
		x = x * 1103515245 + 12345;
		h.len = x;
		x = x * 1103515245 + 12345;
		h.type = (uint16_t)(x >> 16);
		h.flags = (uint16_t)x;
		x = x * 1103515245 + 12345;
		h.ref = x ^ 0xdeadbeef;
		frame_hdr_encode(b, &h);
		frame_hdr_decode(b, &g);
		if (g.len != h.len || g.type != h.type ||
		    g.flags != h.flags || g.ref != h.ref ||
		    b[0] != (h.len >> 24) || b[11] != (h.ref & 0xff))
			ok = 0;
	}
	UT_CHECK("frame: 10000 random headers round trip", ok);
}

/* frame_next() on hand-built buffers. */
static void
test_next(void)
{
	struct evbuffer		*full, *in;
	struct frame_hdr	 h;
	const uint8_t		*payload, *p;
	const char		*why;
	uint8_t			 b[FRAME_HDRLEN], data[100], *copy;
	enum frame_status	 st;
	size_t			 k, total, i;
	int			 ok, nochange;
	static const uint16_t	 badflags[] = {
		0x0002, 0x0004, 0x0100, 0x8000, 0xfffe, 0xffff, 0x0003
	};
	static const struct {
		const char		*name;
		uint32_t		 len;		/* in the header */
		size_t			 payload;	/* bytes after it */
		size_t			 maxlen;
		enum frame_status	 want;
	} lens[] = {
		{ "len > maxlen is FRAME_BAD before the payload", 101, 0, 100,
		    FRAME_BAD },
		{ "len == maxlen waits for the payload", 100, 0, 100,
		    FRAME_SHORT },
		{ "len == maxlen, one byte missing, is FRAME_SHORT", 100, 99,
		    100, FRAME_SHORT },
		{ "len == maxlen is accepted", 100, 100, 100, FRAME_READY },
		{ "len 0xffffffff is FRAME_BAD", UINT32_MAX, 0, FRAME_MAXLEN,
		    FRAME_BAD },
		{ "FRAME_MAXLEN + 1 is FRAME_BAD", FRAME_MAXLEN + 1, 0,
		    FRAME_MAXLEN, FRAME_BAD },
		{ "maxlen 0 refuses a 1-byte payload", 1, 0, 0, FRAME_BAD },
	};
	char			 name[128];

	for (i = 0; i < sizeof(data); i++)
		data[i] = pat(7, i);
	if ((full = evbuffer_new()) == NULL)
		exit(1);
	if (frame_add(full, 7, 9, 0, data, sizeof(data)) == -1)
		exit(1);
	total = evbuffer_get_length(full);
	UT_CHECK("frame: frame_add writes header and payload",
	    total == FRAME_HDRLEN + sizeof(data));
	copy = malloc(total);
	evbuffer_copyout(full, copy, total);

	ok = 1;
	nochange = 1;
	for (k = 0; k < total; k++) {
		in = evbuffer_new();
		evbuffer_add(in, copy, k);
		why = NULL;
		st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
		if (st != FRAME_SHORT)
			ok = 0;
		if (evbuffer_get_length(in) != k)
			nochange = 0;
		evbuffer_free(in);
	}
	UT_CHECK("frame: every proper prefix is FRAME_SHORT", ok);
	UT_CHECK("frame: FRAME_SHORT consumes nothing", nochange);

	in = evbuffer_new();
	evbuffer_add(in, copy, total);
	memset(&h, 0, sizeof(h));
	payload = NULL;
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	UT_CHECK("frame: exact frame is FRAME_READY", st == FRAME_READY);
	UT_CHECK("frame: exact frame header", h.len == sizeof(data) &&
	    h.type == 7 && h.ref == 9 && h.flags == 0);
	UT_CHECK("frame: exact frame payload", payload != NULL &&
	    memcmp(payload, data, sizeof(data)) == 0);
	frame_drain(in, &h);
	UT_CHECK("frame: frame_drain removes exactly one frame",
	    evbuffer_get_length(in) == 0);
	evbuffer_free(in);

	/* One byte per chain: the payload must still come out whole. */
	in = evbuffer_new();
	for (k = 0; k < total; k++)
		evbuffer_add_reference(in, copy + k, 1, NULL, NULL);
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	UT_CHECK("frame: fragmented buffer gives a contiguous payload",
	    st == FRAME_READY && memcmp(payload, data, sizeof(data)) == 0);
	frame_drain(in, &h);
	evbuffer_free(in);

	/* Two frames back to back, and a zero-length one. */
	in = evbuffer_new();
	evbuffer_add(in, copy, total);
	frame_add(in, 8, 10, FRAME_F_FD, NULL, 0);
	evbuffer_add(in, copy, 5);
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	ok = st == FRAME_READY && h.type == 7;
	frame_drain(in, &h);
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	ok = ok && st == FRAME_READY && h.type == 8 && h.len == 0 &&
	    h.flags == FRAME_F_FD && h.ref == 10;
	frame_drain(in, &h);
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	ok = ok && st == FRAME_SHORT && evbuffer_get_length(in) == 5;
	UT_CHECK("frame: back-to-back frames, then a partial header", ok);
	evbuffer_free(in);

	/* The length: checked from the header alone. */
	for (i = 0; i < nitems(lens); i++) {
		in = evbuffer_new();
		raw_hdr(b, lens[i].len, 1, 0, 0);
		evbuffer_add(in, b, sizeof(b));
		evbuffer_add(in, data, lens[i].payload);
		why = NULL;
		st = frame_next(in, lens[i].maxlen, &h, &payload, &why);
		(void)snprintf(name, sizeof(name), "frame: %s", lens[i].name);
		UT_CHECK(name, st == lens[i].want &&
		    (st != FRAME_BAD || why != NULL));
		evbuffer_free(in);
	}

	/* Flags: anything outside FRAME_F_MASK, header alone. */
	ok = 1;
	for (i = 0; i < nitems(badflags); i++) {
		in = evbuffer_new();
		raw_hdr(b, 4, 1, badflags[i], 0);
		evbuffer_add(in, b, sizeof(b));
		why = NULL;
		st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
		if (st != FRAME_BAD || why == NULL)
			ok = 0;
		evbuffer_free(in);
	}
	UT_CHECK("frame: unknown flags are FRAME_BAD before the payload",
	    ok);

	in = evbuffer_new();
	raw_hdr(b, 4, 1, FRAME_F_FD, 0);
	evbuffer_add(in, b, sizeof(b));
	evbuffer_add(in, data, 4);
	st = frame_next(in, FRAME_MAXLEN, &h, &payload, &why);
	UT_CHECK("frame: FRAME_F_FD is accepted",
	    st == FRAME_READY && h.flags == FRAME_F_FD);
	p = evbuffer_pullup(in, -1);
	UT_CHECK("frame: payload points just past the header",
	    p != NULL && payload == p + FRAME_HDRLEN);
	evbuffer_free(in);

	free(copy);
	evbuffer_free(full);
}

/* frame_add(): the length bound. */
static void
test_add(void)
{
	struct evbuffer	*out;
	uint8_t		*big;
	int		 r;

	big = calloc(1, FRAME_MAXLEN + 1);
	out = evbuffer_new();
	errno = 0;
	r = frame_add(out, 1, 2, 0, big, FRAME_MAXLEN + 1);
	UT_CHECK("frame: frame_add refuses FRAME_MAXLEN + 1",
	    r == -1 && errno == EMSGSIZE);
	UT_CHECK("frame: a refused frame_add leaves the buffer alone",
	    evbuffer_get_length(out) == 0);
	r = frame_add(out, 1, 2, 0, big, FRAME_MAXLEN);
	UT_CHECK("frame: frame_add takes FRAME_MAXLEN",
	    r == 0 && evbuffer_get_length(out) ==
	    FRAME_HDRLEN + FRAME_MAXLEN);
	evbuffer_drain(out, evbuffer_get_length(out));
	r = frame_add(out, 1, 2, 0, NULL, 0);
	UT_CHECK("frame: frame_add of an empty payload is a bare header",
	    r == 0 && evbuffer_get_length(out) == FRAME_HDRLEN);
	evbuffer_free(out);
	free(big);
}

static void
bulk_send(struct bulk *b)
{
	size_t		 j = b->sent, n, i;
	uint32_t	 seed;

	n = b->sizes[j];
	seed = (uint32_t)(j * 2 + b->side);
	for (i = 0; i < n; i++)
		b->buf[i] = pat(seed, i);
	if (chan_send(b->c, (uint16_t)(100 + (j & 0xff)),
	    (uint32_t)(0xa0000000U + j + b->side * 0x1000), -1, b->buf,
	    n) == -1)
		b->sendfail++;
	b->sent++;
}

static void
bulk_cb(struct chan *c, struct frame *f, void *arg)
{
	struct bulk	*b = arg;
	size_t		 j, i, n;
	uint32_t	 seed;

	if (f == NULL) {
		b->closed++;
		return;
	}
	j = b->got++;
	if (j >= NBULK) {
		b->bad++;
		return;
	}
	n = b->peer->sizes[j];
	seed = (uint32_t)(j * 2 + b->peer->side);
	if (f->len != n || f->hdr.len != n || f->hdr.flags != 0 ||
	    f->fd != -1 || f->hdr.type != 100 + (j & 0xff) ||
	    f->hdr.ref != 0xa0000000U + j + b->peer->side * 0x1000) {
		b->bad++;
		return;
	}
	for (i = 0; i < n; i++)
		if (f->data[i] != pat(seed, i)) {
			b->bad++;
			return;
		}
	/* Keep the other way going from inside the callback. */
	if (b->sent < NBULK)
		bulk_send(b);
}

static int
bulk_done(void *arg)
{
	struct bulk	*b = arg;

	return ((b[0].got >= NBULK && b[1].got >= NBULK) ||
	    b[0].closed || b[1].closed);
}

/* Frames of every size both ways at once, checked byte for byte. */
static void
test_bulk(struct event_base *base)
{
	struct bulk	 b[2];
	size_t		 sizes[2][NBULK];
	static const size_t fixed[] = {
		0, 1, 2, 3, 11, 12, 13, 255, 256, 257, 4095, 4096, 4097,
		65535, 65536, 65537, 131072, FRAME_MAXLEN - 1, FRAME_MAXLEN,
		FRAME_MAXLEN, 0, 0, 1
	};
	uint32_t	 x = 4242;
	size_t		 i, j;
	int		 sv[2], before, r;
	uint8_t		*big;

	before = count_fds();
	for (j = 0; j < 2; j++)
		for (i = 0; i < NBULK; i++) {
			if (i < nitems(fixed))
				sizes[j][i] = fixed[(i + j * 5) %
				    nitems(fixed)];
			else {
				x = x * 1103515245 + 12345;
				sizes[j][i] = (x >> 8) % (FRAME_MAXLEN + 1);
				if (x & 1)
					sizes[j][i] %= 2000;
			}
		}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	memset(b, 0, sizeof(b));
	for (j = 0; j < 2; j++) {
		b[j].sizes = sizes[j];
		b[j].side = (uint32_t)j;
		b[j].peer = &b[1 - j];
		if ((b[j].buf = malloc(FRAME_MAXLEN)) == NULL)
			exit(1);
		if ((b[j].c = chan_new(base, sv[j], 0, bulk_cb, &b[j])) ==
		    NULL)
			exit(1);
	}
	chan_set_name(b[0].c, "bulk-a");
	UT_CHECK("chan: chan_set_name/chan_name",
	    strcmp(chan_name(b[0].c), "bulk-a") == 0);

	/* Half up front, the rest one per frame received. */
	for (i = 0; i < NBULK / 2; i++) {
		bulk_send(&b[0]);
		bulk_send(&b[1]);
	}
	ut_run_until(base, bulk_done, b, WAIT_MS);
	UT_CHECK("chan: all frames arrive both ways",
	    b[0].got == NBULK && b[1].got == NBULK);
	UT_CHECK("chan: frames of 0..FRAME_MAXLEN bytes arrive byte-exact",
	    b[0].bad == 0 && b[1].bad == 0);
	UT_CHECK("chan: no send failed and no close was reported",
	    b[0].sendfail == 0 && b[1].sendfail == 0 && b[0].closed == 0 &&
	    b[1].closed == 0);
	UT_CHECK("chan: output queues drain",
	    chan_queued(b[0].c) == 0 && chan_queued(b[1].c) == 0);

	big = calloc(1, FRAME_MAXLEN + 1);
	errno = 0;
	r = chan_send(b[0].c, 1, 1, -1, big, FRAME_MAXLEN + 1);
	UT_CHECK("chan: chan_send refuses FRAME_MAXLEN + 1",
	    r == -1 && errno == EMSGSIZE && chan_queued(b[0].c) == 0);
	free(big);

	for (j = 0; j < 2; j++) {
		chan_free(b[j].c);
		free(b[j].buf);
	}
	UT_CHECK("chan: chan_free closes the socket", count_fds() == before);
}

static void
fd_cb(struct chan *c, struct frame *f, void *arg)
{
	struct fdcase	*fc = arg;
	struct stat	 sb;
	uint32_t	 idx, n;
	size_t		 i;
	int		 fl;

	if (f == NULL) {
		fc->closed++;
		return;
	}
	i = fc->got++;
	if (i >= NFDS || f->len < 4) {
		fc->wrongfd++;
		return;
	}
	memcpy(&idx, f->data, 4);
	if (idx != i) {
		fc->wrongfd++;
		return;
	}
	if (fc->kind[i] == FK_NONE) {
		if (f->fd != -1 || (f->hdr.flags & FRAME_F_FD))
			fc->fdextra++;
		return;
	}
	if (f->fd == -1 || !(f->hdr.flags & FRAME_F_FD)) {
		fc->fdmissing++;
		return;
	}
	if ((fl = fcntl(f->fd, F_GETFD)) == -1 || !(fl & FD_CLOEXEC))
		fc->nocloexec++;
	switch (fc->kind[i]) {
	case FK_PIPE:
		/* The chan closes it after we return. */
		if (fstat(f->fd, &sb) == -1 || !S_ISFIFO(sb.st_mode) ||
		    write(f->fd, &idx, 4) != 4)
			fc->wrongfd++;
		break;
	case FK_PIPE_TAKEN:
		if (write(f->fd, &idx, 4) != 4)
			fc->wrongfd++;
		fc->taken[i] = f->fd;
		f->fd = -1;
		break;
	case FK_FILE:
		if (pread(f->fd, &n, 4, 0) != 4 || n != idx)
			fc->wrongfd++;
		fc->taken[i] = f->fd;
		f->fd = -1;
		break;
	default:
		break;
	}
}

static int
fd_done(void *arg)
{
	struct fdcase	*fc = arg;

	return (fc->got >= NFDS || fc->closed);
}

/*
 * Descriptors with their frames: pipes (the receiver writes the frame
 * number into the pipe, we read it from our end) and files (the
 * receiver reads the frame number from it), interleaved with frames
 * without descriptors, of sizes that make the sender split them.
 */
static void
test_fds(struct event_base *base)
{
	struct fdcase	*fc;
	struct rec	 txr;
	struct chan	*tx;
	struct stat	 sb;
	char		 path[] = "/tmp/test_frame.XXXXXX";
	uint8_t		*buf;
	uint32_t	 idx, got;
	size_t		 i, len;
	int		 sv[2], p[2], fd, before, fd_to_send;
	int		 pipesok = 1, eofok = 1, sendclosed = 1;
	int		 takeneof = 1;
	int		 npipe = 0, ntaken = 0, nfile = 0;

	before = count_fds();
	if ((fc = calloc(1, sizeof(*fc))) == NULL ||
	    (buf = calloc(1, FRAME_MAXLEN)) == NULL)
		exit(1);
	for (i = 0; i < NFDS; i++) {
		fc->rd[i] = -1;
		fc->taken[i] = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	tx = rec_chan(base, sv[0], 0, &txr);
	if ((fc->c = chan_new(base, sv[1], 0, fd_cb, fc)) == NULL)
		exit(1);
	for (i = 0; i < NFDS; i++) {
		fd_to_send = -1;
		switch (i % 5) {
		case 0:
		case 3:
			fc->kind[i] = FK_NONE;
			break;
		case 1:
			fc->kind[i] = FK_PIPE;
			break;
		case 2:
			fc->kind[i] = i % 10 == 2 ? FK_PIPE_TAKEN : FK_FILE;
			break;
		case 4:
			fc->kind[i] = FK_PIPE;
			break;
		}
		idx = (uint32_t)i;
		if (fc->kind[i] == FK_PIPE || fc->kind[i] == FK_PIPE_TAKEN) {
			xpipe(p);
			fc->rd[i] = p[0];
			fd_to_send = p[1];
			if (fc->kind[i] == FK_PIPE)
				npipe++;
			else
				ntaken++;
		} else if (fc->kind[i] == FK_FILE) {
			if ((fd = mkstemp(path)) == -1)
				exit(1);
			unlink(path);
			memcpy(path + strlen(path) - 6, "XXXXXX", 6);
			if (write(fd, &idx, 4) != 4)
				exit(1);
			fd_to_send = fd;
			nfile++;
		}
		/* Small, mid-size and maximal frames, with and without. */
		switch (i % 7) {
		case 0:
			len = 4;
			break;
		case 1:
			len = FRAME_MAXLEN;
			break;
		case 2:
			len = 70000 + i;
			break;
		default:
			len = 4 + (i * 37) % 3000;
			break;
		}
		memset(buf, (int)i, len);
		memcpy(buf, &idx, 4);
		if (chan_send(tx, (uint16_t)i, (uint32_t)i, fd_to_send, buf,
		    len) == -1)
			exit(1);
		/* Let part of it go out now and then. */
		if (i % 17 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	ut_run_until(base, fd_done, fc, WAIT_MS);
	UT_CHECK("chan: all frames of the descriptor case arrive",
	    fc->got == NFDS && fc->closed == 0 && txr.closed == 0);
	UT_CHECK("chan: every descriptor arrives with its own frame",
	    fc->wrongfd == 0 && fc->fdmissing == 0);
	UT_CHECK("chan: frames without FRAME_F_FD have f->fd == -1",
	    fc->fdextra == 0);
	UT_CHECK("chan: received descriptors are close-on-exec",
	    fc->nocloexec == 0);
	UT_CHECK("chan: the case used pipes, kept pipes and files",
	    npipe > 0 && ntaken > 0 && nfile > 0);

	for (i = 0; i < NFDS; i++) {
		if (fc->kind[i] == FK_PIPE_TAKEN) {
			/* Our read end and the receiver's copy, no more. */
			if (fstat(fc->rd[i], &sb) == -1 ||
			    count_ino(sb.st_ino) != 2)
				sendclosed = 0;
			close(fc->taken[i]);
			fc->taken[i] = -1;
		}
		if (fc->kind[i] != FK_PIPE && fc->kind[i] != FK_PIPE_TAKEN)
			continue;
		if (read(fc->rd[i], &got, 4) != 4 || got != i)
			pipesok = 0;
		else if (read(fc->rd[i], &got, 4) != 0) {
			if (fc->kind[i] == FK_PIPE)
				eofok = 0;
			else
				takeneof = 0;
		}
		close(fc->rd[i]);
	}
	UT_CHECK("chan: the marker comes back through each passed pipe",
	    pipesok);
	UT_CHECK("chan: sender closes a descriptor once it is sent",
	    sendclosed);
	UT_CHECK("chan: receiver closes descriptors left in f->fd", eofok);
	UT_CHECK("chan: a taken descriptor stays open until the taker closes",
	    takeneof);
	for (i = 0; i < NFDS; i++)
		if (fc->taken[i] != -1)
			close(fc->taken[i]);
	chan_free(tx);
	chan_free(fc->c);
	UT_CHECK("chan: no descriptor leaks after passing descriptors",
	    count_fds() == before);
	free(buf);
	free(fc);
}

static void
burst_cb(struct chan *c, struct frame *f, void *arg)
{
	struct burst	*bu = arg;
	uint32_t	 idx, m;

	if (f == NULL) {
		bu->closed++;
		return;
	}
	bu->got++;
	if (f->len != 4) {
		bu->outoforder++;
		return;
	}
	memcpy(&idx, f->data, 4);
	if (f->fd == -1)
		return;
	/* The marker in the pipe must be the frame's number, in order. */
	if (idx != bu->fdframes || read(f->fd, &m, 4) != 4 || m != idx)
		bu->outoforder++;
	bu->fdframes++;
}

static int
burst_done(void *arg)
{
	struct burst	*bu = arg;

	return (bu->got >= NBURST + (NBURST + 2) / 3 || bu->closed ||
	    bu->outoforder > 0);
}

/* A thousand descriptors queued before the loop runs at all. */
static void
test_burst(struct event_base *base)
{
	struct burst	 bu;
	struct rec	 txr;
	struct chan	*tx;
	uint32_t	 i;
	int		 sv[2], p[2], before, ok = 1;

	before = count_fds();
	memset(&bu, 0, sizeof(bu));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	tx = rec_chan(base, sv[0], 0, &txr);
	if ((bu.c = chan_new(base, sv[1], 0, burst_cb, &bu)) == NULL)
		exit(1);
	for (i = 0; i < NBURST; i++) {
		xpipe(p);
		if (write(p[1], &i, 4) != 4)
			exit(1);
		close(p[1]);
		if (chan_send(tx, 1, i, p[0], &i, 4) == -1)
			ok = 0;
		if (i % 3 == 0 && chan_send(tx, 2, i, -1, &i, 4) == -1)
			ok = 0;
	}
	UT_CHECK("chan: 1000 descriptors queue", ok);
	ut_run_until(base, burst_done, &bu, WAIT_MS);
	UT_CHECK("chan: 1000 descriptors arrive",
	    bu.fdframes == NBURST && bu.closed == 0 && txr.closed == 0);
	UT_CHECK("chan: 1000 descriptors keep their order and frames",
	    bu.outoforder == 0 && bu.got == NBURST + (NBURST + 2) / 3);
	UT_CHECK("chan: the sender's queue is empty after the burst",
	    chan_queued(tx) == 0);
	chan_free(tx);
	chan_free(bu.c);
	UT_CHECK("chan: no descriptor leaks after the burst",
	    count_fds() == before);
}

/*
 * Bytes a peer writes to a channel, then perhaps closing its end: what
 * the receiver is given before the channel closes.  A header is
 * "len type flags ref": 4, 2, 2 and 4 bytes.
 */
static void
test_wire(struct event_base *base)
{
	static const struct {
		const char	*name;
		size_t		 maxlen;
		const char	*hex;		/* what the peer writes */
		size_t		 pad;		/* then this many 'x' */
		int		 eof;		/* then it closes its end */
		int		 nframes;	/* frames before the close */
		uint16_t	 type;		/* of the first frame */
		size_t		 len;
		const char	*nomem;		/* check: no big allocation */
		const char	*once;		/* check: closed only once */
	} cases[] = {
		{ "a header claiming 2 GB closes the channel", 0,
		    "7ffffff0 0001 0000 00000000", 0, 0, 0, 0, 0,
		    "the claimed 2 GB are never allocated", NULL },
		{ "maxlen + 1 closes a channel after the good frame", 1000,
		    "00000004 0003 0000 00000001 61626364"
		    "000003e9 0001 0000 00000000", 0, 0, 1, 3, 4, NULL, NULL },
		{ "unknown flags close the channel", 0,
		    "00000004 0001 0100 00000000 61626364", 0, 0, 0, 0, 0,
		    NULL, NULL },
		{ "FRAME_F_FD without a descriptor closes the channel", 0,
		    "00000003 0001 0001 00000000 616263", 0, 0, 0, 0, 0, NULL,
		    NULL },
		{ "a truncated payload at EOF reports close", 0,
		    "00000064 0001 0000 00000000", 50, 1, 0, 0, 0, NULL,
		    NULL },
		{ "a truncated header at EOF reports close after the whole "
		    "frame", 0, "00000000 0005 0000 00000000 0000000000", 0, 1,
		    1, 5, 0, NULL, NULL },
		{ "a clean EOF reports close once", 0, "", 0, 1, 0, 0, 0, NULL,
		    "close is reported only once" },
	};
	struct rec	 r;
	uint8_t		 b[256];
	size_t		 i, n;
	char		 name[128];
	int		 sv[2], before;

	before = count_fds();
	for (i = 0; i < nitems(cases); i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			exit(1);
		rec_chan(base, sv[1], cases[i].maxlen, &r);
		n = ut_unhex(cases[i].hex, b, sizeof(b));
		memset(b + n, 'x', cases[i].pad);
		n += cases[i].pad;
		mem_max = 0;
		if (n > 0 && write(sv[0], b, n) != (ssize_t)n)
			exit(1);
		/* else our end stays open: only the bytes can close it */
		if (cases[i].eof)
			close(sv[0]);
		ut_run_until(base, rec_closed, &r, WAIT_MS);
		(void)snprintf(name, sizeof(name), "chan: %s", cases[i].name);
		UT_CHECK(name, r.closed == 1 &&
		    r.nframes == cases[i].nframes && (r.nframes == 0 ||
		    (r.type[0] == cases[i].type && r.len[0] == cases[i].len)));
		if (cases[i].nomem != NULL) {
			(void)snprintf(name, sizeof(name), "chan: %s",
			    cases[i].nomem);
			UT_CHECK(name, mem_max < MIB);
		}
		if (cases[i].once != NULL) {
			/* further loop runs must not report it again */
			event_base_loop(base, EVLOOP_NONBLOCK);
			(void)snprintf(name, sizeof(name), "chan: %s",
			    cases[i].once);
			UT_CHECK(name, r.closed == 1);
		}
		chan_free(r.c);
		if (!cases[i].eof)
			close(sv[0]);
	}
	UT_CHECK("chan: no descriptor leaks after bad headers",
	    count_fds() == before);
}

/* Descriptors that do not match. */
static void
test_badfd(struct event_base *base)
{
	struct rec	 r;
	uint8_t		 b[FRAME_HDRLEN + 4];
	int		 sv[2], p[2], fds[10], before, i;
	char		 c;

	before = count_fds();
	/* Ten descriptors in one message: more than one recvmsg takes. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[1], 0, &r);
	xpipe(p);
	for (i = 0; i < 10; i++)
		fds[i] = p[1];
	raw_hdr(b, 1, 1, FRAME_F_FD, 0);
	b[FRAME_HDRLEN] = 'z';
	if (raw_send(sv[0], b, FRAME_HDRLEN + 1, fds, 10) !=
	    FRAME_HDRLEN + 1)
		exit(1);
	close(p[1]);
	ut_run_until(base, rec_closed, &r, WAIT_MS);
	UT_CHECK("chan: ten descriptors in one message close the channel",
	    r.closed == 1);
	chan_free(r.c);
	close(sv[0]);
	UT_CHECK("chan: the surplus descriptors are all closed",
	    read(p[0], &c, 1) == 0);
	close(p[0]);
	UT_CHECK("chan: no descriptor leaks after bad descriptor messages",
	    count_fds() == before);
}

/*
 * A descriptor sent with a frame whose header does not say
 * FRAME_F_FD.  The receiver must not hand it to a later frame: the
 * design pairs a descriptor with "its frame".
 */
static void
test_stray(struct event_base *base)
{
	struct rec	 r;
	struct stat	 sb;
	uint8_t		 b[FRAME_HDRLEN + 1];
	int		 sv[2], pa[2], pb[2], before, held, i;

	before = count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[1], 0, &r);
	xpipe(pa);
	xpipe(pb);
	fstat(pb[0], &sb);
	raw_hdr(b, 1, 1, 0, 0);
	b[FRAME_HDRLEN] = 'a';
	if (raw_send(sv[0], b, sizeof(b), &pa[1], 1) != sizeof(b))
		exit(1);
	raw_hdr(b, 1, 2, FRAME_F_FD, 0);
	b[FRAME_HDRLEN] = 'b';
	if (raw_send(sv[0], b, sizeof(b), &pb[1], 1) != sizeof(b))
		exit(1);
	close(pa[1]);
	close(pb[1]);
	r.mark = 1;
	r.want = 2;
	ut_run_until(base, rec_settled, &r, WAIT_MS);
	UT_CHECK("chan: a frame without FRAME_F_FD gets no descriptor",
	    r.nframes < 1 || !r.hadfd[0]);
	UT_CHECK("chan: a stray descriptor is never paired with a later "
	    "frame", r.nframes < 2 || (r.hadfd[1] && r.ino[1] == sb.st_ino));
	if (r.c != NULL)
		chan_free(r.c);
	close(sv[0]);
	UT_CHECK("chan: the stray descriptors are closed with the channel",
	    pipe_eof(pa[0]) && pipe_eof(pb[0]));
	close(pa[0]);
	close(pb[0]);
	UT_CHECK("chan: no descriptor leaks after a stray descriptor",
	    count_fds() == before);

	/* Many of them: the receiver must not hoard them. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[1], 0, &r);
	r.want = NSTRAY;
	xpipe(pa);
	raw_hdr(b, 1, 1, 0, 0);
	b[FRAME_HDRLEN] = 's';
	for (i = 0; i < NSTRAY; i++)
		if (raw_send(sv[0], b, sizeof(b), &pa[1], 1) != sizeof(b))
			exit(1);
	close(pa[1]);
	ut_run_until(base, rec_settled, &r, WAIT_MS);
	held = count_fds() - before - 3;	/* sv[0], sv[1], pa[0] */
	UT_CHECK("chan: stray descriptors do not pile up in the receiver",
	    held <= 8);
	if (r.c != NULL)
		chan_free(r.c);
	close(sv[0]);
	UT_CHECK("chan: stray descriptors are closed with the channel",
	    pipe_eof(pa[0]));
	close(pa[0]);
}

/* chan_free() from inside the frame callback and the close callback. */
static void
test_free_in_cb(struct event_base *base)
{
	struct rec	 r, s;
	struct chan	*tx;
	uint8_t		 buf[64];
	uint32_t	 m;
	int		 sv[2], rd[20], p[2], i, before, eof = 1;

	before = count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	tx = rec_chan(base, sv[0], 0, &s);
	rec_chan(base, sv[1], 0, &r);
	r.freeat = 2;
	r.mark = 1;
	memset(buf, 'q', sizeof(buf));
	for (i = 0; i < 20; i++) {
		rd[i] = -1;
		if (i % 2 == 0) {
			xpipe(p);
			rd[i] = p[0];
		}
		if (chan_send(tx, (uint16_t)i, 0, i % 2 == 0 ? p[1] : -1,
		    buf, sizeof(buf)) == -1)
			exit(1);
	}
	/* All twenty reach the receiver's buffer before it frees. */
	if (chan_flush(tx) == -1)
		exit(1);
	ut_run_until(base, rec_closed, &s, 300);
	UT_CHECK("chan: chan_free() in the callback stops the callbacks",
	    r.freed && r.nframes == 2 && r.after_free == 0 &&
	    r.closed == 0);
	for (i = 0; i < 20; i += 2) {
		if (i < 2 && (read(rd[i], &m, 4) != 4 || m != (uint32_t)i))
			eof = 0;
		if (read(rd[i], &m, 4) != 0)
			eof = 0;
		close(rd[i]);
	}
	UT_CHECK("chan: descriptors queued at chan_free() are closed",
	    eof && r.badmark == 0);

	/* The sender sees the close and frees itself from the callback. */
	if (s.closed == 0) {
		chan_send(tx, 1, 0, -1, buf, 1);
		ut_run_until(base, rec_closed, &s, 1000);
	}
	UT_CHECK("chan: the sender is told its peer went away",
	    s.closed == 1);
	chan_free(tx);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[1], 0, &r);
	r.freeat = 1;
	if (write(sv[0], "\0\0\0\0\0\1\0\0\0\0\0\0", FRAME_HDRLEN) !=
	    FRAME_HDRLEN)
		exit(1);
	close(sv[0]);
	ut_run_until(base, rec_closed, &r, 300);
	UT_CHECK("chan: chan_free() on the last frame before EOF is safe",
	    r.freed && r.nframes == 1 && r.closed == 0 &&
	    r.after_free == 0);
	UT_CHECK("chan: no descriptor leaks after chan_free() in callbacks",
	    count_fds() == before);
}

/* chan_send() once the peer is gone. */
static void
test_send_closed(struct event_base *base)
{
	struct rec	 r;
	int		 sv[2], p[2], ret;
	char		 c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[0], 0, &r);
	close(sv[1]);
	ut_run_until(base, rec_closed, &r, WAIT_MS);
	UT_CHECK("chan: the peer's close is reported", r.closed == 1);
	xpipe(p);
	errno = 0;
	ret = chan_send(r.c, 1, 0, p[1], "x", 1);
	UT_CHECK("chan: chan_send after the peer closed fails with EPIPE",
	    ret == -1 && errno == EPIPE);
	UT_CHECK("chan: a refused chan_send closes the descriptor",
	    read(p[0], &c, 1) == 0);
	close(p[0]);
	chan_free(r.c);

	/* Closed while the frame is queued: the write fails later. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[0], 0, &r);
	ret = chan_send(r.c, 1, 0, -1, "x", 1);
	close(sv[1]);
	ut_run_until(base, rec_closed, &r, WAIT_MS);
	UT_CHECK("chan: a queued frame to a closed peer reports close",
	    ret == 0 && r.closed == 1);
	UT_CHECK("chan: chan_send after that fails",
	    chan_send(r.c, 1, 0, -1, "x", 1) == -1);
	chan_free(r.c);
}

static int
queue_empty(void *arg)
{
	return (chan_queued(arg) == 0);
}

static void
drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	char	 buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* CHAN_OUTMAX: a peer that does not read. */
static void
test_outmax(struct event_base *base)
{
	struct rec	 r;
	struct event	*ev;
	uint8_t		*big;
	size_t		 accepted = 0, i, bound;
	int		 sv[2], p[2], ret = 0, err = 0;
	char		 c;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[0], 0, &r);
	big = calloc(1, FRAME_MAXLEN);
	bound = CHAN_OUTMAX / FRAME_MAXLEN + 64;
	for (i = 0; i < bound; i++) {
		if ((ret = chan_send(r.c, 1, 0, -1, big, FRAME_MAXLEN)) ==
		    -1) {
			err = errno;
			break;
		}
		accepted += FRAME_MAXLEN;
		if (i % 16 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	UT_CHECK("chan: a peer that does not read gets ENOBUFS",
	    ret == -1 && err == ENOBUFS);
	UT_CHECK("chan: ENOBUFS not before CHAN_OUTMAX is queued",
	    accepted + FRAME_MAXLEN > CHAN_OUTMAX);
	UT_CHECK("chan: the queue stays near CHAN_OUTMAX",
	    chan_queued(r.c) <= CHAN_OUTMAX + bound * FRAME_HDRLEN);
	xpipe(p);
	ret = chan_send(r.c, 1, 0, p[1], big, FRAME_MAXLEN);
	UT_CHECK("chan: ENOBUFS closes the descriptor given",
	    ret == -1 && read(p[0], &c, 1) == 0);
	close(p[0]);

	/* Once the peer reads, sending works again. */
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	ev = event_new(base, sv[1], EV_READ | EV_PERSIST, drain_cb, NULL);
	event_add(ev, NULL);
	ut_run_until(base, queue_empty, r.c, WAIT_MS);
	UT_CHECK("chan: the full queue drains when the peer reads",
	    chan_queued(r.c) == 0 && r.closed == 0);
	UT_CHECK("chan: sending works again after draining",
	    chan_send(r.c, 1, 0, -1, big, FRAME_MAXLEN) == 0);
	event_free(ev);
	chan_free(r.c);
	close(sv[1]);
	free(big);
}

/* chan_flush(): blocking write-out, read back by hand. */
static void
test_flush(struct event_base *base)
{
	struct rec		 r;
	struct evbuffer		*in;
	struct frame_hdr	 h;
	const uint8_t		*payload;
	const char		*why;
	char			 buf[4096];
	ssize_t			 n;
	int			 sv[2], i, ok = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	rec_chan(base, sv[0], 0, &r);
	for (i = 0; i < 3; i++)
		if (chan_send(r.c, (uint16_t)(10 + i), (uint32_t)i, -1,
		    "hello", (size_t)i) == -1)
			ok = 0;
	UT_CHECK("chan: frames are queued, not written, by chan_send",
	    ok && chan_queued(r.c) == 3 * FRAME_HDRLEN + 0 + 1 + 2);
	UT_CHECK("chan: chan_flush writes everything",
	    chan_flush(r.c) == 0 && chan_queued(r.c) == 0);
	in = evbuffer_new();
	while ((n = read(sv[1], buf, sizeof(buf))) > 0) {
		evbuffer_add(in, buf, (size_t)n);
		if (evbuffer_get_length(in) >= 3 * FRAME_HDRLEN + 3)
			break;
	}
	for (i = 0; i < 3; i++) {
		if (frame_next(in, FRAME_MAXLEN, &h, &payload, &why) !=
		    FRAME_READY || h.type != 10 + i ||
		    h.ref != (uint32_t)i || h.len != (uint32_t)i ||
		    memcmp(payload, "hello", i) != 0) {
			ok = 0;
			break;
		}
		frame_drain(in, &h);
	}
	UT_CHECK("chan: flushed frames are on the wire in order", ok &&
	    evbuffer_get_length(in) == 0);
	evbuffer_free(in);
	chan_free(r.c);
	close(sv[1]);
}

int
main(void)
{
	struct event_base	*base;

	/* Before any other libevent call. */
	event_set_mem_functions(mem_malloc, mem_realloc, mem_free);
	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_DAEMON);
	if ((base = event_base_new()) == NULL)
		return (1);

	test_codec();
	test_next();
	test_add();
	test_bulk(base);
	test_fds(base);
	test_burst(base);
	test_wire(base);
	test_badfd(base);
	test_stray(base);
	test_free_in_cb(base);
	test_send_closed(base);
	test_outmax(base);
	test_flush(base);

	event_base_free(base);
	UT_EXIT();
}
