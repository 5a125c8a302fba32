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
 * The operator name is the certificate's one subject CN; it must be a
 * valid operator name, so nothing odd can hide in it.
 */
int
tlsutil_peer_cn(struct tls *ctx, char *buf, size_t len)
{
	const char	*subj, *p, *end;
	size_t		 l;

	if ((subj = tls_peer_cert_subject(ctx)) == NULL)
		return (-1);
	if ((p = strstr(subj, "/CN=")) == NULL ||
	    strstr(p + 4, "/CN=") != NULL)
		return (-1);
	p += 4;
	if ((end = strchr(p, '/')) == NULL)
		end = p + strlen(p);
	l = (size_t)(end - p);
	if (l == 0 || l >= len)
		return (-1);
	memcpy(buf, p, l);
	buf[l] = '\0';
	return (rpc_valid_name(buf) ? 0 : -1);
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
