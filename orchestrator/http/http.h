/*
 * http.h - a tiny non-blocking HTTP/1.0 and 1.1 server for the health and
 * metrics endpoints, polled by the run loop.
 *
 * The caller's loop calls orc_http_poll() once per turn; it never waits
 * (poll() with a zero timeout) and does bounded work: a few accepts, one
 * read and one write per open connection, a few requests answered.  A
 * request is one GET (or HEAD) of a registered path; the connection is
 * closed after the answer (Connection: close, no keep-alive, no request
 * bodies).  Bad requests get 400, unknown paths 404, other methods 405
 * (with Allow), other HTTP versions 505; a client that does not finish
 * its request within two seconds is disconnected.  At most
 * ORC_HTTP_CONNECTIONS_MAX are open; when all are taken a new one evicts
 * the oldest that has not sent its request, so idle clients cannot starve
 * probes.  /healthz, /readyz and /metrics are open; any other route
 * answers 401 without "Authorization: Bearer <token>".
 *
 * Handlers run on the caller's thread, inside orc_http_poll(), so they
 * may read the caller's state without locks.
 *
 * Not thread-safe: one thread owns a server.
 */
#ifndef ORC_HTTP_H
#define ORC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ORC_HTTP_CONNECTIONS_MAX 64 /* open at once */

/* What a handler answers.  Fill it with orc_http_reply*(). */
struct orc_http_response {
	int status;		  /* 200 unless set */
	const char *content_type; /* static string; default text/plain */
	char *body;		  /* owned by the response (malloc) */
	size_t body_len;
};

/*
 * Answer status with a copy of text (borrowed) as the body and
 * content_type (a static string; NULL for "text/plain; charset=utf-8").
 */
void orc_http_reply(struct orc_http_response *resp, int status,
		    const char *content_type, const char *text);

/* The same, taking body (malloc'd, len bytes): it is freed by the server. */
void orc_http_reply_take(struct orc_http_response *resp, int status,
			 const char *content_type, char *body, size_t len);

/* Called for a GET or HEAD of the route's path (HEAD drops the body). */
typedef void orc_http_handler_fn(void *ctx, struct orc_http_response *resp);

struct orc_http_route {
	const char *path; /* "/healthz": exact match, query string ignored */
	orc_http_handler_fn *fn;
	void *ctx;
};

struct orc_http;

/*
 * Listen on addr:port (addr borrowed: a numeric IPv4 or IPv6 address, or
 * NULL for every interface, IPv6 and IPv4 when the host has both); port 0
 * takes a free port (see orc_http_port()).  token (borrowed, copied; NULL
 * or "" for none) is the bearer token routes other than /healthz, /readyz
 * and /metrics need; without one, registering such a route is
 * ORC_INVALID.  routes[0..n_routes) are copied (their paths and contexts
 * stay borrowed).  *out is new; free with orc_http_destroy().
 * ORC_TRANSIENT when the address is in use, ORC_INVALID for a bad
 * address, token or route, ORC_FATAL otherwise.
 */
enum orc_status orc_http_create(const char *addr, int port,
				const char *token,
				const struct orc_http_route *routes,
				size_t n_routes, struct orc_http **out,
				struct orc_error *err);

/* Close the listening socket and every connection; accepts NULL. */
void orc_http_destroy(struct orc_http *srv);

/* The port listened on. */
int orc_http_port(const struct orc_http *srv);

/*
 * One bounded turn at now_ms (any monotonic clock in milliseconds, used
 * for the per-connection deadlines): accept, read, answer, write, close.
 * Never blocks.  Returns the number of responses completed (sent whole
 * or abandoned because the client went away).
 */
int orc_http_poll(struct orc_http *srv, int64_t now_ms);

/* Connections open now (accepted and not closed yet). */
size_t orc_http_connections(const struct orc_http *srv);

enum orc_http_method {
	ORC_HTTP_METHOD_GET,
	ORC_HTTP_METHOD_HEAD,
	ORC_HTTP_METHOD_OTHER, /* any other token: answered 405 */
};

/* A request head as the server reads it. */
struct orc_http_request {
	enum orc_http_method method;
	/*
	 * The target's path, up to '?' or '#' (the path of an absolute-form
	 * target): borrowed from the parsed buffer, or a static "/"; not
	 * NUL-terminated.  Always starts with '/'.
	 */
	const char *path;
	size_t path_len;
	bool http11; /* HTTP/1.1, else HTTP/1.0 */
	bool host;   /* a Host field was sent */
	/* the last Authorization field's value, blanks trimmed (borrowed,
	 * not NUL-terminated); NULL when none was sent */
	const char *authorization;
	size_t authorization_len;
};

/*
 * Parse the request head at buf[0..len) (borrowed, need not be
 * NUL-terminated; what follows the head's empty line is ignored), the
 * parser the server itself answers with.  Returns 0 and fills *out for a
 * well-formed head, else the status to answer: 400 (incomplete or
 * malformed, a NUL byte, HTTP/1.1 without Host) or 505 (another HTTP
 * version).  *out is zeroed first.  Empty lines before the request line
 * are skipped.
 */
int orc_http_parse_request(const char *buf, size_t len,
			   struct orc_http_request *out);

#endif
