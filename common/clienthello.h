/*
 * clienthello.h: read the SNI name out of a TLS ClientHello without
 * terminating TLS.  The parser works on the raw bytes the client sent
 * (TLS records), is strict, never allocates and never reads past len.
 */

#ifndef CLIENTHELLO_H
#define CLIENTHELLO_H

#include <stddef.h>
#include <stdint.h>

#define CH_MAXLEN		16384	/* default bound on ClientHello bytes */
#define CH_NAMEMAX		253	/* longest DNS name */

#define TLS_ALERT_HANDSHAKE_FAILURE	40
#define TLS_ALERT_DECODE_ERROR		50
#define TLS_ALERT_PROTOCOL_VERSION	70
#define TLS_ALERT_INTERNAL_ERROR	80
#define TLS_ALERT_UNRECOGNIZED_NAME	112

#define TLS_ALERT_LEN		7

enum ch_status {
	CH_OK = 0,	/* a whole ClientHello with a valid SNI name */
	CH_MORE,	/* so far so good, more bytes are needed */
	CH_ERR_NOTTLS,	/* first bytes are no TLS handshake record */
	CH_ERR_VERSION,	/* record or hello version older than TLS 1.0 */
	CH_ERR_NOTHELLO, /* first handshake message is no ClientHello */
	CH_ERR_MALFORMED, /* lengths or fields do not add up */
	CH_ERR_TOOBIG,	/* the ClientHello is longer than maxlen */
	CH_ERR_NOSNI,	/* a valid ClientHello without a host_name */
	CH_ERR_BADNAME,	/* the host_name is no valid DNS name */
};

struct ch_info {
	char		sni[CH_NAMEMAX + 1];	/* lower case, NUL terminated */
	size_t		consumed;	/* bytes of records holding the hello */
	uint16_t	version;	/* client_version of the hello */
};

/*
 * Parse the first len bytes a client sent.  A ClientHello may span
 * several TLS records and arrive in many pieces: call again with the
 * longer buffer while CH_MORE comes back.  maxlen bounds the record bytes
 * the hello may take (0 means CH_MAXLEN); past it, CH_ERR_TOOBIG.
 * info is filled on CH_OK (sni, consumed, version) and, on CH_ERR_NOSNI
 * and CH_ERR_BADNAME, consumed and version.
 */
enum ch_status	 ch_parse(const uint8_t *buf, size_t len, size_t maxlen,
		    struct ch_info *info);
const char	*ch_strerror(enum ch_status);

/* Write a fatal TLS alert record with the given description; returns 7. */
size_t		 ch_alert(uint8_t out[TLS_ALERT_LEN], uint8_t description);

#endif /* CLIENTHELLO_H */
