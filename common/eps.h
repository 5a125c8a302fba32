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
 *		    nrefused: uint, pool: bin 32}
 *		ttl is what the public side granted, at most what was asked;
 *		refused lists the first 32 refusals, nrefused counts them all;
 *		pool is the caller's pool key (see below), when the public
 *		side keeps a pool for it
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

/*
 * The pool (DESIGN.md section 5, fast path).  A pooled backchannel is
 * opened ahead of any client and proves itself once, with the pool key
 * the public side gave its operator in the answer to "announce" (a
 * random secret per operator, new whenever proxyd's matcher starts or
 * reloads).  Its preamble has the length of the token preamble:
 *
 *	0..3	"EPSB"
 *	4	version 1
 *	5	kind: 0 token (the bytes 6 and 7 are zero), 1 pool
 *	6..7	pool size the private proxy keeps for this public
 *		operator, big-endian
 *	8..39	the pool key
 *
 * and proxyd answers with four bytes, "EPS" and a status; any status
 * but BC_POOL_OK is followed by a close.  An accepted pooled
 * backchannel stays idle until a client of a name its operator
 * announced comes; proxyd then writes the go header
 *
 *	0..3	"EPSG"
 *	4	version 1
 *	5	n, length of the name (1..253)
 *	6	c, length of the client's address ("addr:port")
 *	7	s, length of the address the client connected to
 *	8..	the name, the client's address, the server address
 *
 * followed by the client's bytes from its ClientHello on.
 */
#define BC_KIND_TOKEN		0
#define BC_KIND_POOL		1
#define EPS_POOL_KEYLEN		32
#define BC_POOL_ANSWER_LEN	4
#define BC_POOL_OK		0	/* idle in the pool from now on */
#define BC_POOL_FULL		1	/* the operator's pool is full here */
#define BC_POOL_REFUSED		2	/* unknown or outdated key */
#define BC_GO_MAGIC		"EPSG"
#define BC_GO_HDRLEN		8
#define BC_GO_MAX		(BC_GO_HDRLEN + 253 + 2 * 63)

#endif /* EPS_H */
