/*
 * http.c - the health and metrics endpoint: a minimal HTTP/1.x server that
 * the run loop polls.
 *
 * Why our own, for now: we serve three GET endpoints to probes and
 * scrapers on a private port, with no TLS, no keep-alive and no request
 * bodies; that is a request line, a few headers and one answer, a few
 * hundred lines with nothing to configure.  libmicrohttpd (the usual
 * choice in C, packaged by Debian) would serve as well: in its
 * external-select mode (no MHD_USE_INTERNAL_POLLING_THREAD, MHD_run()
 * called from our loop) it starts no threads and calls handlers on the
 * caller's thread, exactly as this server does.  What it adds is a
 * dependency; what it would bring is keep-alive, request bodies, TLS and
 * a hardened parser.  Whether to switch is decided when the endpoint
 * grows beyond health and metrics (a web console is planned).
 *
 * Each connection is a small state machine: READING (collect the request
 * head, at most REQUEST_MAX bytes, until a deadline), WRITING (the whole
 * answer is built at once, then sent as the socket accepts it) and
 * LINGERING (after the answer, shut down our side and read until the
 * client closes or LINGER_MS pass, so that closing never turns into a
 * TCP reset that would destroy the answer in the client's buffers).
 * Every socket is non-blocking, every send uses MSG_NOSIGNAL, and a turn
 * touches each socket at most once, so the loop is never held up.
 *
 * Idle connections must not starve probes (2,000 of them once kept every
 * /healthz out of 16 slots).  So a turn accepts up to ACCEPTS_PER_TURN
 * connections, and when every slot is taken a new one evicts a lingering
 * connection or else the oldest that has not sent a whole request head;
 * a request head in hand or an answer going out is never evicted.  A
 * probe sends its request at once and is answered within a turn or two,
 * whatever the number of idle clients; a client slower than the flood
 * around it loses its slot.  There is no per-address limit: probes and
 * scrapers share their addresses with the rest of their node.  Heads
 * have REQUEST_TIMEOUT_MS to arrive.
 *
 * Only /healthz, /readyz and /metrics are open.  Any other route needs a
 * token (http_token): without one it cannot be registered, with one it
 * answers 401 unless the request says "Authorization: Bearer <token>".
 *
 * The head is parsed by orc_http_parse_request(), over lengths (never
 * past the bytes received), and public so that the fuzzer
 * (tests/fuzz/fuzz_http.c) exercises the very code that answers.
 *
 * Must not: block, log per request (probes come every few seconds), or
 * call a handler for anything but a well-formed GET or HEAD of its path.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS ORC_HTTP_CONNECTIONS_MAX
#define MAX_ROUTES 16
#define ACCEPTS_PER_TURN 64	/* new connections taken per turn */
#define ANSWERS_PER_TURN 4	/* handlers run per turn */
#define REQUEST_MAX 8192	/* request line + headers */
#define REQUEST_TIMEOUT_MS 2000 /* to send the whole request head */
#define WRITE_TIMEOUT_MS 10000	/* to take the whole answer */
#define LINGER_MS 2000		/* to close after the answer */
#define LISTEN_BACKLOG 512
#define TOKEN_MAX 256

/* The paths served without a token; any other route needs one. */
static const char *const open_paths[] = {"/healthz", "/readyz", "/metrics"};

#define TEXT_PLAIN "text/plain; charset=utf-8"

enum conn_state { FREE, READING, WRITING, LINGERING };

struct conn {
	enum conn_state state;
	int fd;
	uint64_t opened; /* accept order, for eviction */
	int64_t deadline;
	bool complete; /* READING: the head is in, waiting for its turn */
	size_t in_len;
	char in[REQUEST_MAX];
	char *out;
	size_t out_len, out_off;
};

struct orc_http {
	int fd;
	int port;
	struct orc_http_route routes[MAX_ROUTES];
	size_t n_routes;
	struct conn conns[MAX_CONNS];
	size_t n_open;
	uint64_t accepted; /* connections accepted so far */
	char token[TOKEN_MAX + 1]; /* "": no route beyond open_paths */
};

/* ---- responses ---- */

void
orc_http_reply_take(struct orc_http_response *resp, int status,
		    const char *content_type, char *body, size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = body;
	resp->body_len = body ? len : 0;
}

void
orc_http_reply(struct orc_http_response *resp, int status,
	       const char *content_type, const char *text)
{
	size_t n = text ? strlen(text) : 0;
	char *copy = malloc(n + 1);

	if (copy == NULL) {
		orc_http_reply_take(resp, 500, NULL, NULL, 0);
		return;
	}
	if (n > 0)
		memcpy(copy, text, n);
	copy[n] = '\0';
	orc_http_reply_take(resp, status, content_type, copy, n);
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return status < 300   ? "OK"
	       : status < 500 ? "Client Error"
			      : "Server Error";
}

/* ---- sockets ---- */

static bool
set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return false;
	return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

static enum orc_status
listen_on(struct orc_http *srv, const char *addr, int port,
	  struct orc_error *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;
	int family, one = 1, zero = 0;

	memset(&ss, 0, sizeof(ss));
	if (addr != NULL && *addr == '\0')
		addr = NULL;
	if (addr == NULL || inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		family = AF_INET6;
		if (addr == NULL)
			in6->sin6_addr = in6addr_any;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*in6);
	} else if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		family = AF_INET;
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sslen = sizeof(*in4);
	} else {
		return orc_error_set(err, ORC_INVALID,
				     "invalid http listen address \"%s\"",
				     addr);
	}
	srv->fd = socket(family, SOCK_STREAM, 0);
	if (srv->fd < 0 && addr == NULL &&
	    (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
		/* a host without IPv6: every IPv4 interface */
		memset(&ss, 0, sizeof(ss));
		family = AF_INET;
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
		in4->sin_port = htons((uint16_t)port);
		sslen = sizeof(*in4);
		srv->fd = socket(family, SOCK_STREAM, 0);
	}
	if (srv->fd < 0)
		return orc_error_set(err, ORC_FATAL, "http socket: %s",
				     strerror(errno));
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 && addr == NULL)
		setsockopt(srv->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			   sizeof(zero));
	if (bind(srv->fd, (struct sockaddr *)&ss, sslen) != 0)
		return orc_error_set(
		    err, errno == EADDRINUSE ? ORC_TRANSIENT : ORC_FATAL,
		    "cannot listen on http port %d: %s", port, strerror(errno));
	if (listen(srv->fd, LISTEN_BACKLOG) != 0 || !set_nonblocking(srv->fd))
		return orc_error_set(err, ORC_FATAL,
				     "cannot listen on http port %d: %s", port,
				     strerror(errno));
	sslen = sizeof(ss);
	if (getsockname(srv->fd, (struct sockaddr *)&ss, &sslen) != 0)
		return orc_error_set(err, ORC_FATAL, "http getsockname: %s",
				     strerror(errno));
	srv->port =
	    ntohs(ss.ss_family == AF_INET6 ? in6->sin6_port : in4->sin_port);
	return ORC_OK;
}

static bool
path_is_open(const char *path)
{
	for (size_t i = 0; i < sizeof(open_paths) / sizeof(open_paths[0]); i++)
		if (strcmp(open_paths[i], path) == 0)
			return true;
	return false;
}

/* A bearer token: visible ASCII, no blank, at most TOKEN_MAX bytes. */
static bool
token_valid(const char *token)
{
	size_t n = strlen(token);

	if (n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 ||
		    (unsigned char)token[i] >= 0x7f)
			return false;
	return true;
}

/* Routes beyond health and metrics exist only behind a token. */
static enum orc_status
check_routes(const char *token, const struct orc_http_route *routes,
	     size_t n_routes, struct orc_error *err)
{
	if (!token_valid(token))
		return orc_error_set(err, ORC_INVALID,
				     "http token must be at most %d visible "
				     "ASCII characters",
				     TOKEN_MAX);
	for (size_t i = 0; i < n_routes; i++)
		if (*token == '\0' && !path_is_open(routes[i].path))
			return orc_error_set(err, ORC_INVALID,
					     "http path \"%s\" needs a token "
					     "(http_token)",
					     routes[i].path);
	return ORC_OK;
}

enum orc_status
orc_http_create(const char *addr, int port, const char *token,
		const struct orc_http_route *routes, size_t n_routes,
		struct orc_http **out, struct orc_error *err)
{
	struct orc_http *srv;
	enum orc_status st;

	*out = NULL;
	if (token == NULL)
		token = "";
	if (port < 0 || port > 65535 || n_routes > MAX_ROUTES)
		return orc_error_set(err, ORC_INVALID,
				     "invalid http port %d or too many routes",
				     port);
	st = check_routes(token, routes, n_routes, err);
	if (st != ORC_OK)
		return st;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	srv->fd = -1;
	for (size_t i = 0; i < MAX_CONNS; i++)
		srv->conns[i].fd = -1;
	for (size_t i = 0; i < n_routes; i++)
		srv->routes[i] = routes[i];
	srv->n_routes = n_routes;
	strcpy(srv->token, token);
	st = listen_on(srv, addr, port, err);
	if (st != ORC_OK) {
		orc_http_destroy(srv);
		return st;
	}
	*out = srv;
	return ORC_OK;
}

static void
conn_close(struct orc_http *srv, struct conn *c)
{
	if (c->state == FREE)
		return;
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = FREE;
	srv->n_open--;
}

void
orc_http_destroy(struct orc_http *srv)
{
	if (srv == NULL)
		return;
	for (size_t i = 0; i < MAX_CONNS; i++)
		conn_close(srv, &srv->conns[i]);
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv);
}

int
orc_http_port(const struct orc_http *srv)
{
	return srv->port;
}

size_t
orc_http_connections(const struct orc_http *srv)
{
	return srv->n_open;
}

/* ---- requests ---- */

static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Past the stray empty lines a client may send before the request line. */
static size_t
head_start(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

/*
 * Where the head's empty line starts (at its '\n' or '\r'), or len when
 * the head is not complete yet; *end is set past that line.
 */
static size_t
head_blank(const char *s, size_t len, size_t *end)
{
	for (size_t i = head_start(s, len); i + 1 < len; i++) {
		if (s[i] != '\n')
			continue;
		if (s[i + 1] == '\n') {
			*end = i + 2;
			return i + 1;
		}
		if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
			*end = i + 3;
			return i + 1;
		}
	}
	*end = len;
	return len;
}

static bool
head_complete(const char *s, size_t len)
{
	size_t end;

	return head_blank(s, len, &end) < len;
}

static bool
span_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* "HTTP/1.1" or "HTTP/1.0": 0; another HTTP/d.d: 505; else 400. */
static int
parse_version(const char *v, size_t n, bool *http11)
{
	*http11 = span_is(v, n, "HTTP/1.1");
	if (*http11 || span_is(v, n, "HTTP/1.0"))
		return 0;
	if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' &&
	    v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9')
		return 505;
	return 400;
}

/* The path of an origin-form or absolute-form target, before ? or #. */
static int
parse_target(const char *t, size_t n, struct orc_http_request *out)
{
	const char *path = t, *end = t + n;

	if ((n >= 7 && strncasecmp(t, "http://", 7) == 0) ||
	    (n >= 8 && strncasecmp(t, "https://", 8) == 0)) {
		const char *host = (const char *)memchr(t, '/', n) + 2;

		path = memchr(host, '/', (size_t)(end - host));
		if (path == NULL) {
			path = "/";
			end = path + 1;
		}
	}
	if (path[0] != '/')
		return 400;
	out->path = path;
	out->path_len = 0;
	while (path + out->path_len < end && path[out->path_len] != '?' &&
	       path[out->path_len] != '#')
		out->path_len++;
	return 0;
}

/* Header fields "name: value" on the lines of s[0..n), no folding. */
static int
parse_fields(const char *s, size_t n, struct orc_http_request *out)
{
	const char *p = s, *end = s + n;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon = memchr(p, ':', (size_t)(eol - p));

		if (colon == NULL || colon == p)
			return 400;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar(*q))
				return 400;
		if (colon - p == 4 && strncasecmp(p, "host", 4) == 0)
			out->host = true;
		if (colon - p == 13 &&
		    strncasecmp(p, "authorization", 13) == 0) {
			const char *v = colon + 1, *e = eol;

			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' ||
					 e[-1] == '\t'))
				e--;
			out->authorization = v;
			out->authorization_len = (size_t)(e - v);
		}
		p = eol + 1;
	}
	return 0;
}

int
orc_http_parse_request(const char *buf, size_t len,
		       struct orc_http_request *out)
{
	const char *line, *eol, *sp1, *sp2, *version;
	size_t start, blank, end;
	int status;

	memset(out, 0, sizeof(*out));
	blank = head_blank(buf, len, &end);
	if (blank == len || memchr(buf, '\0', end) != NULL)
		return 400; /* incomplete or too large, or a NUL byte */
	start = head_start(buf, len);
	line = buf + start;
	eol = memchr(line, '\n', blank - start);

	/* METHOD SP TARGET SP VERSION, single spaces */
	sp1 = memchr(line, ' ', (size_t)(eol - line));
	if (sp1 == NULL || sp1 == line)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return 400;
	for (const char *p = line; p < sp1; p++)
		if (!is_tchar(*p))
			return 400;
	version = sp2 + 1;
	status = parse_version(version,
			       (size_t)(eol - version) -
				   (eol > version && eol[-1] == '\r'),
			       &out->http11);
	if (status == 0)
		status = parse_fields(eol + 1, (size_t)(buf + blank - eol - 1),
				      out);
	if (status == 0 && out->http11 && !out->host) /* RFC 9112, 3.2 */
		status = 400;
	if (status == 0)
		status = parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), out);
	if (status != 0)
		return status;
	if (span_is(line, (size_t)(sp1 - line), "GET"))
		out->method = ORC_HTTP_METHOD_GET;
	else if (span_is(line, (size_t)(sp1 - line), "HEAD"))
		out->method = ORC_HTTP_METHOD_HEAD;
	else
		out->method = ORC_HTTP_METHOD_OTHER;
	return 0;
}

/* The route for a parsed request, or NULL. */
static const struct orc_http_route *
route_find(const struct orc_http *srv, const struct orc_http_request *rq)
{
	for (size_t i = 0; i < srv->n_routes; i++)
		if (span_is(rq->path, rq->path_len, srv->routes[i].path))
			return &srv->routes[i];
	return NULL;
}

/*
 * True when rq may reach route: an open path, or "Authorization: Bearer
 * <token>" with our token, compared in time that does not depend on
 * where it differs.
 */
static bool
authorized(const struct orc_http *srv, const struct orc_http_route *route,
	   const struct orc_http_request *rq)
{
	const char *v = rq->authorization;
	size_t n = rq->authorization_len, want = strlen(srv->token);
	unsigned char diff = 0;

	if (path_is_open(route->path))
		return true;
	if (want == 0 || v == NULL || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	n -= 7;
	while (n > 0 && *v == ' ') {
		v++;
		n--;
	}
	if (n != want)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(v[i] ^ srv->token[i]);
	return diff == 0;
}

/* Build the whole answer into c->out. */
static void
answer(struct orc_http *srv, struct conn *c)
{
	struct orc_http_response resp = {200, NULL, NULL, 0};
	const struct orc_http_route *route = NULL;
	struct orc_http_request rq;
	char head[512];
	int n, status;

	status = orc_http_parse_request(c->in, c->in_len, &rq);
	if (status == 0) {
		route = route_find(srv, &rq);
		if (route == NULL)
			status = 404;
		else if (!authorized(srv, route, &rq))
			status = 401;
		else if (rq.method == ORC_HTTP_METHOD_OTHER)
			status = 405;
	}
	if (status != 0) {
		const char *text = status == 401   ? "unauthorized\n"
				   : status == 404 ? "not found\n"
				   : status == 405 ? "method not allowed\n"
				   : status == 505
				       ? "http version not supported\n"
				       : "bad request\n";

		orc_http_reply(&resp, status, NULL, text);
	} else {
		route->fn(route->ctx, &resp);
		if (resp.status < 100 || resp.status > 599)
			orc_http_reply(&resp, 500, NULL, "internal error\n");
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n"
		     "Connection: close\r\n"
		     "%s"
		     "\r\n",
		     resp.status, reason_phrase(resp.status),
		     resp.content_type ? resp.content_type : TEXT_PLAIN,
		     resp.body_len,
		     resp.status == 405 ? "Allow: GET, HEAD\r\n"
		     : status == 401	? "WWW-Authenticate: Bearer\r\n"
					: "");
	if (status == 0 && rq.method == ORC_HTTP_METHOD_HEAD)
		resp.body_len = 0;
	c->out = malloc((size_t)n + resp.body_len);
	if (c->out != NULL) {
		memcpy(c->out, head, (size_t)n);
		if (resp.body_len > 0)
			memcpy(c->out + n, resp.body, resp.body_len);
		c->out_len = (size_t)n + resp.body_len;
	}
	free(resp.body);
	c->out_off = 0;
	c->complete = false;
}

/* ---- the turn ---- */

static void
start_lingering(struct conn *c, int64_t now_ms)
{
	shutdown(c->fd, SHUT_WR);
	free(c->out);
	c->out = NULL;
	c->state = LINGERING;
	c->deadline = now_ms + LINGER_MS;
}

/* One send; true when the answer is finished (sent or abandoned). */
static bool
do_write(struct orc_http *srv, struct conn *c, int64_t now_ms)
{
	ssize_t n;

	if (c->out == NULL) { /* out of memory building it */
		conn_close(srv, c);
		return true;
	}
	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		 MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		conn_close(srv, c);
		return true;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return false;
	start_lingering(c, now_ms);
	return true;
}

/* One recv while reading the request; may leave c complete. */
static void
do_read(struct orc_http *srv, struct conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, REQUEST_MAX - c->in_len, 0);

	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(srv, c);
		return;
	}
	if (n == 0) { /* the client gave up before finishing */
		conn_close(srv, c);
		return;
	}
	c->in_len += (size_t)n;
	if (head_complete(c->in, c->in_len) || c->in_len >= REQUEST_MAX)
		c->complete = true; /* too large: answered 400 */
}

/* Read and discard until the client closes. */
static void
do_drain(struct orc_http *srv, struct conn *c)
{
	char sink[512];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		       errno != EINTR))
		conn_close(srv, c);
}

/*
 * A slot for a new connection: a free one, else the one that matters
 * least: a lingering one (its answer is out), else the oldest that has
 * not sent a whole request head (idle or slow: a probe sends its request
 * at once).  NULL when every slot holds a request in hand or an answer
 * going out.
 */
static struct conn *
slot_for_new(struct orc_http *srv)
{
	struct conn *idle = NULL;

	for (size_t j = 0; j < MAX_CONNS; j++) {
		struct conn *c = &srv->conns[j];

		if (c->state == FREE || c->state == LINGERING)
			return c;
		if (c->state == READING && !c->complete &&
		    (idle == NULL || c->opened < idle->opened))
			idle = c;
	}
	return idle;
}

static void
accept_some(struct orc_http *srv, int64_t now_ms)
{
	for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
		struct conn *c = slot_for_new(srv);
		int fd;

		if (c == NULL)
			return; /* the backlog waits for the next turn */
		fd = accept(srv->fd, NULL, NULL);

		if (fd < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			return; /* EAGAIN, or out of descriptors: next turn */
		}
		if (!set_nonblocking(fd)) {
			close(fd);
			continue;
		}
		conn_close(srv, c); /* evicted, when it was in use */
		c->state = READING;
		c->fd = fd;
		c->opened = ++srv->accepted;
		c->deadline = now_ms + REQUEST_TIMEOUT_MS;
		c->complete = false;
		c->in_len = 0;
		c->out = NULL;
		c->out_len = c->out_off = 0;
		srv->n_open++;
		do_read(srv, c); /* the request is often there already */
	}
}

int
orc_http_poll(struct orc_http *srv, int64_t now_ms)
{
	struct pollfd fds[MAX_CONNS + 1];
	struct conn *owner[MAX_CONNS + 1];
	nfds_t n = 0;
	int done = 0, answered = 0;

	if (srv == NULL)
		return 0;
	fds[n] = (struct pollfd){srv->fd, POLLIN, 0};
	owner[n++] = NULL;
	for (size_t i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &srv->conns[i];

		if (c->state == FREE)
			continue;
		fds[n] = (struct pollfd){
		    c->fd, c->state == WRITING ? POLLOUT : POLLIN, 0};
		owner[n++] = c;
	}
	if (poll(fds, n, 0) < 0)
		return 0;
	for (nfds_t i = 1; i < n; i++) {
		struct conn *c = owner[i];

		if (fds[i].revents == 0)
			continue;
		if (c->state == READING && !c->complete)
			do_read(srv, c);
		else if (c->state == WRITING)
			done += do_write(srv, c, now_ms);
		else if (c->state == LINGERING)
			do_drain(srv, c);
	}
	if (fds[0].revents & POLLIN)
		accept_some(srv, now_ms);
	for (size_t i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &srv->conns[i];

		if (c->state == READING && c->complete &&
		    answered < ANSWERS_PER_TURN) {
			answered++;
			answer(srv, c);
			c->state = WRITING;
			c->deadline = now_ms + WRITE_TIMEOUT_MS;
			done += do_write(srv, c, now_ms);
		} else if (c->state != FREE && now_ms >= c->deadline) {
			done += c->state == WRITING;
			conn_close(srv, c);
		}
	}
	return done;
}
