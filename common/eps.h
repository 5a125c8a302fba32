/*
 * eps.h: the EPS protocol as the daemons share it.
 *
 * Links.  Local services (proxyd's and privproxyd's eps processes)
 * reach their epsd over a Unix socket; epsd servers reach each other
 * over mutually authenticated TLS.  Both carry frames (frame.h) whose
 * payload is one msgpack-RPC message (rpc.h):
 *
 *	EPS_FRAME_RPC	a request, response or notification
 *	EPS_FRAME_PING	heartbeat on a peer link, answered by
 *	EPS_FRAME_PONG
 *
 * Methods of the local epsd (operator "eps"):
 *
 *	eps.register	{methods: [name, ...]}	-> true
 *		the caller serves these methods of the local operator;
 *		a later registration of the same name takes it over
 *	eps.link	notification from epsd: {operator: str, up: bool}
 *		a peer link came up or went down
 *
 * Methods of the proxies (names without the operator part):
 *
 *	announce	{domains: [str], ttl: uint}	to the public operator
 *		-> {ttl: uint, accepted: [str], refused: [[str, reason]],
 *		    nrefused: uint}
 *		ttl is what the public side granted, at most what was asked;
 *		refused lists the first 32 refusals, nrefused counts them all
 *	withdraw	{domains: [str]}		to the public operator
 *		-> {withdrawn: uint}
 *	incoming	{domain: str, token: bin 32, endpoint: str,
 *			 client: "addr:port", server: "addr:port"}
 *		to the private operator: come and fetch the connection
 *		-> true
 */

#ifndef EPS_H
#define EPS_H

#define EPS_SOCKET		"/run/epsd.sock"
#define EPS_LOCAL_OP		"eps"

#define EPS_FRAME_RPC		1
#define EPS_FRAME_PING		2
#define EPS_FRAME_PONG		3

#define EPS_REGISTER		"eps.register"
#define EPS_LINK		"eps.link"
#define EPS_ANNOUNCE		"announce"
#define EPS_WITHDRAW		"withdraw"
#define EPS_INCOMING		"incoming"

#define EPS_TOKEN_LEN		32
#define EPS_DOMAINS_MAX		1024	/* names in one announce */
#define EPS_CALL_TIMEOUT	10	/* seconds */
#define EPS_CALLS_MAX		4096	/* calls under way per process */

/*
 * The backchannel preamble privproxyd writes after connecting to
 * proxyd: magic, version, then the token.
 */
#define BC_MAGIC		"EPSB"
#define BC_MAGIC_LEN		4
#define BC_VERSION		1
#define BC_PREAMBLE_LEN		(BC_MAGIC_LEN + 4 + EPS_TOKEN_LEN)
/* bytes 4..7: version, then three reserved zero bytes */

#endif /* EPS_H */
