/*
 * tlsutil.c: see tlsutil.h.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>

#include <tls.h>

#include "compat.h"
#include "rpc.h"
#include "tlsutil.h"

/* libtls's message, copied: it lives in cfg or ctx, freed after this */
static void
tlsutil_why(char *why, size_t whylen, const char *what, const char *err)
{
	(void)snprintf(why, whylen, "%s%s%s", what, *what != '\0' ? ": " : "",
	    err != NULL ? err : "unknown error");
}

struct tls_config *
tlsutil_config(const struct tlsutil_mem *m, int server, char *why,
    size_t whylen)
{
	struct tls_config	*cfg;

	if ((cfg = tls_config_new()) == NULL) {
		(void)strlcpy(why, "tls_config_new failed", whylen);
		return (NULL);
	}
	if (tls_config_set_protocols(cfg, TLS_PROTOCOL_TLSv1_2 |
	    TLS_PROTOCOL_TLSv1_3) == -1 ||
	    tls_config_set_ca_mem(cfg, m->ca, m->calen) == -1 ||
	    tls_config_set_keypair_mem(cfg, m->cert, m->certlen, m->key,
	    m->keylen) == -1) {
		tlsutil_why(why, whylen, "", tls_config_error(cfg));
		tls_config_free(cfg);
		return (NULL);
	}
	if (server)
		tls_config_verify_client(cfg);
	return (cfg);
}

const char *
tlsutil_file_word(int which)
{
	switch (which) {
	case TLSUTIL_CERT:
		return ("certificate");
	case TLSUTIL_KEY:
		return ("key");
	default:
		return ("ca");
	}
}

/* One file into memory, if it is a regular file of at most left bytes. */
static int
tlsutil_read(const char *path, size_t left, size_t max, uint8_t **buf,
    size_t *len, char *why, size_t whylen)
{
	struct stat	 st;
	int		 fd, saved;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		(void)strlcpy(why, strerror(saved), whylen);
		return (-1);
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		(void)strlcpy(why, "not a regular file", whylen);
		return (-1);
	}
	if ((uintmax_t)st.st_size > left)
		goto toolarge;
	errno = 0;
	if ((*buf = tls_load_file(path, len, NULL)) == NULL) {
		(void)strlcpy(why, errno != 0 ? strerror(errno) :
		    "cannot read it", whylen);
		return (-1);
	}
	if (*len > left) {
		tls_unload_file(*buf, *len);
		*buf = NULL;
		goto toolarge;
	}
	return (0);
 toolarge:
	(void)snprintf(why, whylen, "too large: the three tls files may "
	    "have %zu bytes together", max);
	return (-1);
}

int
tlsutil_load(struct tlsutil_mem *m, const char *const paths[TLSUTIL_NFILES],
    size_t max, int *which, char *why, size_t whylen)
{
	struct tls_config	*cfg = NULL;
	struct tls		*ctx = NULL;
	uint8_t			**bufs[TLSUTIL_NFILES] = { &m->cert, &m->key,
				    &m->ca };
	size_t			*lens[TLSUTIL_NFILES] = { &m->certlen,
				    &m->keylen, &m->calen };
	uint8_t			*p;
	size_t			 total = 0, l;
	int			 i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < TLSUTIL_NFILES; i++) {
		*which = i;
		if (tlsutil_read(paths[i], max - total, max, bufs[i], lens[i],
		    why, whylen) == -1)
			goto fail;
		total += *lens[i];
	}

	*which = TLSUTIL_CERT;
	if ((cfg = tls_config_new()) == NULL) {
		(void)strlcpy(why, "tls_config_new failed", whylen);
		goto fail;
	}
	if (tls_config_set_cert_mem(cfg, m->cert, m->certlen) == -1) {
		tlsutil_why(why, whylen, "", tls_config_error(cfg));
		goto fail;
	}

	/*
	 * libtls reads a key through a password only when it is given
	 * one; an encrypted key does not open with the empty password.
	 */
	*which = TLSUTIL_KEY;
	if ((p = tls_load_file(paths[TLSUTIL_KEY], &l, "")) == NULL) {
		(void)strlcpy(why, "not a private key, or an encrypted one",
		    whylen);
		goto fail;
	}
	tls_unload_file(p, l);
	if (tls_config_set_key_mem(cfg, m->key, m->keylen) == -1) {
		tlsutil_why(why, whylen, "", tls_config_error(cfg));
		goto fail;
	}
	if ((ctx = tls_server()) == NULL || tls_configure(ctx, cfg) == -1) {
		(void)snprintf(why, whylen, "does not match tls certificate "
		    "\"%s\": %s", paths[TLSUTIL_CERT], ctx != NULL ?
		    tls_error(ctx) : "tls_server failed");
		goto fail;
	}
	tls_free(ctx);
	tls_config_free(cfg);

	/* a server that asks for client certificates loads the CA */
	*which = TLSUTIL_CA;
	if ((cfg = tlsutil_config(m, 1, why, whylen)) == NULL)
		goto fail;
	if ((ctx = tls_server()) == NULL || tls_configure(ctx, cfg) == -1) {
		tlsutil_why(why, whylen, "no CA certificate libtls can use",
		    ctx != NULL ? tls_error(ctx) : "tls_server failed");
		goto fail;
	}
	tls_free(ctx);
	tls_config_free(cfg);
	return (0);
 fail:
	/* why is a copy: libtls's messages go with ctx and cfg */
	if (ctx != NULL)
		tls_free(ctx);
	if (cfg != NULL)
		tls_config_free(cfg);
	tlsutil_mem_free(m);
	return (-1);
}

/*
 * The subject's one CN, for messages: libtls renders the subject as
 * "/C=../O=../CN=..", with a '/' inside a value escaped as "\/".  The
 * name must be a valid operator name, so nothing odd gets into a log.
 * Who a peer is, is decided with tls_peer_cert_contains_name().
 */
int
tlsutil_peer_cn(struct tls *ctx, char *buf, size_t len)
{
	const char	*subj, *p, *start;
	size_t		 l;
	int		 found = 0;

	if ((subj = tls_peer_cert_subject(ctx)) == NULL)
		return (-1);
	for (p = subj; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p != '/' || strncmp(p + 1, "CN=", 3) != 0)
			continue;
		if (found++)
			return (-1);		/* more than one */
		start = p + 4;
		for (l = 0; start[l] != '\0' && start[l] != '/' &&
		    start[l] != '\\'; l++)
			;
		if (l == 0 || l >= len || start[l] == '\\')
			return (-1);
		memcpy(buf, start, l);
		buf[l] = '\0';
	}
	return (found == 1 && rpc_valid_name(buf) ? 0 : -1);
}

void
tlsutil_mem_free(struct tlsutil_mem *m)
{
	if (m->key != NULL)
		tls_unload_file(m->key, m->keylen);
	free(m->cert);
	free(m->ca);
	memset(m, 0, sizeof(*m));
}
