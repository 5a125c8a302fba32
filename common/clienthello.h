/*
 * clienthello.h: read the SNI name out of a TLS ClientHello without
 * terminating TLS.  The parser works on the raw bytes the client sent
 * (TLS records), is strict, never allocates and never reads past len.
 * It is incremental: a struct ch_parser keeps where it stopped, so each
 * byte is looked at once however the hello is cut into pieces.
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
	char		badname[CH_NAMEMAX + 1]; /* CH_ERR_BADNAME: as sent */
	size_t		consumed;	/* bytes of records holding the hello */
	uint16_t	version;	/* client_version of the hello */
};

/*
 * The state of one ClientHello being read; the caller owns the storage
 * (about 8.5 KB, most of it the bitmap of extension types seen) and
 * needs it only while ch_feed() answers CH_MORE.  The fields are the
 * parser's; tests read work, which does not depend on how the
 * bytes were cut into pieces and is at most twice their number.
 */
struct ch_parser {
	size_t		 maxlen;
	size_t		 pos;		/* stream bytes taken */
	size_t		 recleft;	/* payload left in the current record */
	size_t		 hpos;		/* handshake bytes taken */
	size_t		 hend;		/* message length, 0 until known */
	size_t		 need;		/* bytes left of the current field */
	size_t		 sniend;	/* end of the server_name extension */
	size_t		 namelen;	/* declared; may exceed CH_NAMEMAX */
	size_t		 namegot;	/* of it, kept in name */
	size_t		 work;		/* a step per byte and per field */
	uint32_t	 acc;		/* the number being read */
	uint32_t	 exttype;
	uint32_t	 entrytype;
	int		 state;
	int		 status;	/* CH_MORE until decided */
	int		 nrec;		/* records started */
	int		 found;		/* a host_name was seen */
	uint16_t	 version;
	uint8_t		 hdr[5];	/* record header gathered so far */
	uint8_t		 hdrlen;
	char		 name[CH_NAMEMAX + 1];
	uint8_t		 seen[65536 / 8];	/* a bit per extension type */
};

/*
 * Start reading a hello; maxlen bounds the record bytes the hello may
 * take (0 means CH_MAXLEN).  Then hand ch_feed() the bytes in the order
 * they came, each only once, until it answers something else than
 * CH_MORE; it never looks past the hello's last record, and once it has
 * answered it answers the same, whatever more comes.  The answers and
 * info are those ch_parse() gives for all the bytes fed so far.
 */
void		 ch_init(struct ch_parser *, size_t maxlen);
enum ch_status	 ch_feed(struct ch_parser *, const uint8_t *data, size_t len,
		    struct ch_info *info);

/*
 * Parse the first len bytes a client sent, in one go: ch_init() and one
 * ch_feed().  A ClientHello may span several TLS records; CH_MORE means
 * the bytes so far are a good start.  Past maxlen, CH_ERR_TOOBIG.  info
 * is filled on CH_OK (sni, consumed, version) and, on CH_ERR_NOSNI and
 * CH_ERR_BADNAME, consumed and version, with sni empty; otherwise it is
 * left alone.  badname is empty but on CH_ERR_BADNAME, when it holds the
 * name the client sent, its first CH_NAMEMAX bytes up to a NUL: any
 * bytes, for log_vis() to show.
 */
enum ch_status	 ch_parse(const uint8_t *buf, size_t len, size_t maxlen,
		    struct ch_info *info);
const char	*ch_strerror(enum ch_status);

/* Write a fatal TLS alert record with the given description; returns 7. */
size_t		 ch_alert(uint8_t out[TLS_ALERT_LEN], uint8_t description);

#endif /* CLIENTHELLO_H */
