/*
 * tlsutil.h: libtls set-up from certificates held in memory (children
 * are chrooted and open no files), and the operator name of a peer.
 */

#ifndef TLSUTIL_H
#define TLSUTIL_H

#include <stddef.h>
#include <stdint.h>

struct tls;
struct tls_config;

struct tlsutil_mem {
	uint8_t		*ca;
	size_t		 calen;
	uint8_t		*cert;
	size_t		 certlen;
	uint8_t		*key;
	size_t		 keylen;
};

/* TLS 1.2 and 1.3, peers verified against ca; a server asks clients. */
struct tls_config *tlsutil_config(const struct tlsutil_mem *, int server,
		    const char **why);
int		 tlsutil_peer_cn(struct tls *, char *, size_t);
void		 tlsutil_mem_free(struct tlsutil_mem *);

#endif /* TLSUTIL_H */
