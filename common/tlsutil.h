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

/* The files of a tlsutil_mem, in the order tlsutil_load() takes them. */
enum tlsutil_file {
	TLSUTIL_CERT,
	TLSUTIL_KEY,
	TLSUTIL_CA,
	TLSUTIL_NFILES
};

/*
 * Read the certificate, key and CA (regular files, at most max bytes
 * together) and check that libtls takes them: the certificate loads,
 * the key is an unencrypted private key that matches it, and a server
 * that verifies clients against the CA can be configured.  On error,
 * -1 with m empty, *which the file at fault and why saying what is wrong
 * with it.
 */
int		 tlsutil_load(struct tlsutil_mem *m,
		    const char *const paths[TLSUTIL_NFILES], size_t max,
		    int *which, char *why, size_t whylen);
/* "certificate", "key" or "ca": the word of the file's tls statement */
const char	*tlsutil_file_word(int);
/* TLS 1.2 and 1.3, peers verified against ca; a server asks clients. */
struct tls_config *tlsutil_config(const struct tlsutil_mem *, int server,
		    char *why, size_t whylen);
int		 tlsutil_peer_cn(struct tls *, char *, size_t);
void		 tlsutil_mem_free(struct tlsutil_mem *);

#endif /* TLSUTIL_H */
