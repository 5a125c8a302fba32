/*
 * tlsutil.c: see tlsutil.h.
 */

#include <tls.h>

#include "compat.h"
#include "rpc.h"
#include "tlsutil.h"

struct tls_config *
tlsutil_config(const struct tlsutil_mem *m, int server, const char **why)
{
	struct tls_config	*cfg;

	if ((cfg = tls_config_new()) == NULL) {
		*why = "tls_config_new failed";
		return (NULL);
	}
	if (tls_config_set_protocols(cfg, TLS_PROTOCOL_TLSv1_2 |
	    TLS_PROTOCOL_TLSv1_3) == -1 ||
	    tls_config_set_ca_mem(cfg, m->ca, m->calen) == -1 ||
	    tls_config_set_keypair_mem(cfg, m->cert, m->certlen, m->key,
	    m->keylen) == -1) {
		*why = tls_config_error(cfg);
		if (*why == NULL)
			*why = "bad certificate, key or CA";
		tls_config_free(cfg);
		return (NULL);
	}
	if (server)
		tls_config_verify_client(cfg);
	return (cfg);
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
