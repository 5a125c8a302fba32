/*
 * hello.h: the ClientHello builder of the unit tests (test_clienthello,
 * test_chreasm).  build_hs() makes a handshake message from a struct
 * hopts, settled first (settle() fills in the defaults), with one thing
 * wrong at a time if asked; records() wraps it in TLS records.  The
 * functions are static inline: each test takes what it uses.
 */

#ifndef HELLO_H
#define HELLO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFMAX		65536	/* a built hello and its records, at most */
#define NONE		(-1)	/* in struct hopts: zero, not the default */

/*
 * What the builder puts in a hello.  A zero field means the default
 * given in its comment; NONE asks for zero where the default is not.
 */
struct hopts {
	uint16_t	 version;	/* client_version (0x0303) */
	uint8_t		 hstype;	/* handshake type (1, ClientHello) */
	int		 sidlen;	/* session id bytes (32) */
	int		 nciphers;	/* cipher suites (3) */
	int		 ncomp;		/* compression methods (1) */
	int		 cspad;		/* bytes after the cipher suites */
	int		 noexts;	/* leave the extensions block out */
	int		 nosni;		/* no server_name extension */
	int		 snimode;	/* 1: empty list, 2: empty extension */
	const char	*names[2];	/* host_name entries ("example.org") */
	int		 nohost;	/* no host_name entry at all */
	int		 genlab;	/* names[0] made of labels of genlab */
	int		 genlen;	/*   bytes, genlen bytes in all */
	int		 othername;	/* an entry of name_type 1 first */
	int		 dupext;	/* supported_versions twice */
	int		 dupsni;	/* server_name twice */
	int		 snilast;	/* server_name as the last extension */
	int		 nempty;	/* empty extensions of types 0x0100 up,
					   server_name half-way among them */
	size_t		 padding;	/* length of a padding extension */
	size_t		 extra;		/* zero bytes after the extensions */
	int		 nextmsg;	/* another handshake message after it */
	size_t		 recsize;	/* records of this size (16384) */
	size_t		 trail;		/* zero bytes after the records */
	/* Added to the declared lengths. */
	int		 d_hs, d_sid, d_cs, d_comp, d_exts, d_ext1;
	int		 d_sniext, d_list, d_name, d_rec;
};

struct bld {
	uint8_t		 b[BUFMAX];
	size_t		 n;
	size_t		 empty_at;	/* build_hs: the first empty one */
};

static inline void
put8(struct bld *b, unsigned int v)
{
	if (b->n >= BUFMAX) {
		fprintf(stderr, "builder overflow\n");
		exit(2);
	}
	b->b[b->n++] = v & 0xff;
}

static inline void
put16(struct bld *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static inline void
put24(struct bld *b, unsigned int v)
{
	put8(b, v >> 16);
	put16(b, v);
}

static inline void
putmem(struct bld *b, const void *p, size_t n)
{
	const uint8_t	*s = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		put8(b, s[i]);
}

static inline void
patch16(struct bld *b, size_t at, unsigned int v)
{
	b->b[at] = (v >> 8) & 0xff;
	b->b[at + 1] = v & 0xff;
}

static inline void
settle(const struct hopts *in, struct hopts *o, char *name)
{
	int	 i;

	*o = *in;
	if (o->version == 0)
		o->version = 0x0303;
	if (o->hstype == 0)
		o->hstype = 1;
	if (o->sidlen == 0)
		o->sidlen = 32;
	if (o->nciphers == 0)
		o->nciphers = 3;
	if (o->ncomp == 0)
		o->ncomp = 1;
	if (o->sidlen == NONE)
		o->sidlen = 0;
	if (o->nciphers == NONE)
		o->nciphers = 0;
	if (o->ncomp == NONE)
		o->ncomp = 0;
	if (o->genlen > 0) {
		for (i = 0; i < o->genlen; i++)
			name[i] = (i % (o->genlab + 1) == o->genlab) ? '.' :
			    'a' + i % 26;
		name[o->genlen] = '\0';
		o->names[0] = name;
	}
	if (o->names[0] == NULL)
		o->names[0] = "example.org";
	if (o->nohost)
		o->names[0] = o->names[1] = NULL;
}

static inline void
put_sni(const struct hopts *o, struct bld *b)
{
	size_t	 lenpos, listpos;
	int	 k, rep;

	for (rep = 0; rep < 1 + o->dupsni; rep++) {
		put16(b, 0x0000);
		lenpos = b->n;
		put16(b, 0);
		if (o->snimode == 1)
			put16(b, 0);
		if (o->snimode == 0) {
			listpos = b->n;
			put16(b, 0);
			if (o->othername) {
				put8(b, 1);
				put16(b, 3);
				putmem(b, "abc", 3);
			}
			for (k = 0; k < 2 && o->names[k] != NULL; k++) {
				put8(b, 0);
				put16(b, strlen(o->names[k]) +
				    (k == 0 ? o->d_name : 0));
				putmem(b, o->names[k], strlen(o->names[k]));
			}
			patch16(b, listpos, b->n - listpos - 2 + o->d_list);
		}
		patch16(b, lenpos, b->n - lenpos - 2 + o->d_sniext);
	}
}

static inline size_t
build_hs(const struct hopts *o, struct bld *b)
{
	size_t	 extspos, i;
	int	 k, rep;

	b->n = 0;
	put8(b, o->hstype);
	put24(b, 0);
	put16(b, o->version);
	for (i = 0; i < 32; i++)
		put8(b, i * 7 + 1);
	put8(b, o->sidlen + o->d_sid);
	for (k = 0; k < o->sidlen; k++)
		put8(b, 0xa0 + k);
	put16(b, 2 * o->nciphers + o->cspad + o->d_cs);
	for (k = 0; k < o->nciphers; k++)
		put16(b, 0x1301 + k);
	for (k = 0; k < o->cspad; k++)
		put8(b, 0);
	put8(b, o->ncomp + o->d_comp);
	for (k = 0; k < o->ncomp; k++)
		put8(b, 0);
	if (!o->noexts) {
		extspos = b->n;
		put16(b, 0);
		/* supported_groups: x25519 */
		put16(b, 0x000a);
		put16(b, 4 + o->d_ext1);
		put16(b, 2);
		put16(b, 0x001d);
		b->empty_at = b->n;
		for (k = 0; k < o->nempty; k++) {
			if (k == o->nempty / 2 && !o->nosni && !o->snilast)
				put_sni(o, b);
			put16(b, 0x0100 + k);
			put16(b, 0);
		}
		if (o->nempty == 0 && !o->nosni && !o->snilast)
			put_sni(o, b);
		/* supported_versions: TLS 1.3 */
		for (rep = 0; rep < 1 + o->dupext; rep++) {
			put16(b, 0x002b);
			put16(b, 3);
			put8(b, 2);
			put16(b, 0x0304);
		}
		if (o->padding > 0) {
			put16(b, 0x0015);
			put16(b, o->padding);
			for (i = 0; i < o->padding; i++)
				put8(b, 0);
		}
		/* key_share: x25519 */
		put16(b, 0x0033);
		put16(b, 2 + 4 + 32);
		put16(b, 4 + 32);
		put16(b, 0x001d);
		put16(b, 32);
		for (i = 0; i < 32; i++)
			put8(b, 0x55);
		if (!o->nosni && o->snilast)
			put_sni(o, b);
		patch16(b, extspos, b->n - extspos - 2 + o->d_exts);
	}
	for (i = 0; i < o->extra; i++)
		put8(b, 0);
	i = b->n - 4 + o->d_hs;
	b->b[1] = (i >> 16) & 0xff;
	b->b[2] = (i >> 8) & 0xff;
	b->b[3] = i & 0xff;
	if (o->nextmsg) {
		/* a Certificate message header */
		put8(b, 11);
		put24(b, 0);
	}
	return (b->n);
}

/*
 * Wrap handshake bytes in records of the given sizes, used in turn and
 * over again; no sizes: as few records as possible.
 */
static inline size_t
records(const uint8_t *hs, size_t n, const size_t *sizes, size_t nsizes,
    uint16_t recver, struct bld *out)
{
	size_t	 done = 0, chunk, i = 0;

	out->n = 0;
	while (done < n) {
		chunk = nsizes > 0 ? sizes[i++ % nsizes] : 16384;
		if (chunk > n - done)
			chunk = n - done;
		put8(out, 22);
		put16(out, recver);
		put16(out, chunk);
		putmem(out, hs + done, chunk);
		done += chunk;
	}
	return (out->n);
}

#endif /* HELLO_H */
