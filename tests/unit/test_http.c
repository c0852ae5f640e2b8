/*
 * test_http.c - the health and metrics HTTP server over loopback sockets,
 * client and server in one thread: the server is polled exactly as the
 * run loop polls it.  Routing and statuses (200, 400, 404, 405, 505, 500),
 * HEAD, HTTP/1.0 and 1.1 (Host), requests split into pieces, oversized
 * and idle clients, bodies larger than a socket buffer, more clients than
 * connection slots, clients that vanish, bounded work per turn, the
 * listening socket's errors, the token other routes need, and probes
 * answered while 2,000 idle connections are open.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_runner.h"
#include "http.h"

#define BIG_SIZE (1024 * 1024 + 17)
#define TOKEN "s3cret"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

static int big_calls;

static void
on_ok(void *ctx, struct orc_http_response *resp)
{
	orc_http_reply(resp, 200, NULL, ctx ? ctx : "ok\n");
}

static void
on_unavailable(void *ctx, struct orc_http_response *resp)
{
	orc_http_reply(resp, 503, NULL, "not ready\npostgresql: down\n");
}

static void
on_bad_status(void *ctx, struct orc_http_response *resp)
{
	orc_http_reply(resp, 42, NULL, "nonsense");
}

static void
on_big(void *ctx, struct orc_http_response *resp)
{
	char *body = malloc(BIG_SIZE);

	for (size_t i = 0; i < BIG_SIZE; i++)
		body[i] = (char)('a' + i % 26);
	big_calls++;
	orc_http_reply_take(resp, 200, "application/octet-stream", body,
			    BIG_SIZE);
}

static void
on_empty(void *ctx, struct orc_http_response *resp)
{
	(void)resp; /* status 200, no body */
}

static const struct orc_http_route routes[] = {
    {"/healthz", on_ok, NULL},	   {"/readyz", on_unavailable, NULL},
    {"/bad", on_bad_status, NULL}, {"/big", on_big, NULL},
    {"/empty", on_empty, NULL},
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct orc_http *
start(void)
{
	struct orc_http *srv = NULL;
	struct orc_error err;

	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, TOKEN, routes,
					 sizeof(routes) / sizeof(routes[0]),
					 &srv, &err),
			 ORC_OK);
	ck_assert_int_gt(orc_http_port(srv), 0);
	return srv;
}

static int
connect_to(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect: %s", strerror(errno));
	return fd;
}

static void
send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
}

/* A response read by a client. */
struct reply {
	char *text; /* whole response, NUL-terminated */
	size_t len;
	bool eof;
};

/*
 * Poll the server and read fd until the server closes its side (or about
 * two seconds pass).
 */
static void
read_reply(struct orc_http *srv, int fd, struct reply *r)
{
	size_t cap = 4096;

	r->text = malloc(cap);
	r->len = 0;
	r->eof = false;
	for (int i = 0; i < 4000 && !r->eof; i++) {
		ssize_t n;

		orc_http_poll(srv, now_ms());
		for (;;) {
			if (cap - r->len < 65536) {
				cap *= 2;
				r->text = realloc(r->text, cap);
			}
			n = recv(fd, r->text + r->len, cap - r->len - 1,
				 MSG_DONTWAIT);
			if (n > 0) {
				r->len += (size_t)n;
				continue;
			}
			if (n == 0)
				r->eof = true;
			break;
		}
		if (!r->eof) {
			struct pollfd p = {fd, POLLIN, 0};

			poll(&p, 1, 1);
		}
	}
	r->text[r->len] = '\0';
}

static int
status_of(const struct reply *r)
{
	int status = 0;

	if (sscanf(r->text, "HTTP/1.1 %d ", &status) != 1)
		return -1;
	return status;
}

static const char *
body_of(const struct reply *r)
{
	const char *b = strstr(r->text, "\r\n\r\n");

	return b ? b + 4 : "";
}

/* Send request on a new connection; the whole reply. */
static int
request(struct orc_http *srv, const char *req, struct reply *r)
{
	int fd = connect_to(orc_http_port(srv));

	send_all(fd, req, strlen(req));
	read_reply(srv, fd, r);
	close(fd);
	ck_assert_msg(r->eof, "server did not close the connection");
	return status_of(r);
}

/* Only the status of a request. */
static int
status(struct orc_http *srv, const char *req)
{
	struct reply r;
	int st = request(srv, req, &r);

	free(r.text);
	return st;
}

START_TEST(test_get)
{
	struct orc_http *srv = start();
	struct reply r;

	ck_assert_int_eq(request(srv,
				 "GET /healthz HTTP/1.1\r\nHost: x\r\n"
				 "User-Agent: test\r\n\r\n",
				 &r),
			 200);
	ck_assert_str_eq(body_of(&r), "ok\n");
	ck_assert_ptr_nonnull(strstr(r.text, "HTTP/1.1 200 OK\r\n"));
	ck_assert_ptr_nonnull(strstr(r.text, "\r\nContent-Length: 3\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.text, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(r.text, "\r\nConnection: close\r\n"));
	free(r.text);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_head_has_no_body)
{
	struct orc_http *srv = start();
	struct reply r;

	ck_assert_int_eq(
	    request(srv, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.text, "\r\nContent-Length: 3\r\n"));
	ck_assert_str_eq(body_of(&r), "");
	free(r.text);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_handler_statuses)
{
	struct orc_http *srv = start();
	struct reply r;

	ck_assert_int_eq(request(srv, "GET /readyz HTTP/1.0\r\n\r\n", &r), 503);
	ck_assert_ptr_nonnull(
	    strstr(r.text, "HTTP/1.1 503 Service Unavailable\r\n"));
	ck_assert_str_eq(body_of(&r), "not ready\npostgresql: down\n");
	free(r.text);
	ck_assert_int_eq(status(srv, "GET /bad HTTP/1.0\r\n" AUTH "\r\n"), 500);
	ck_assert_int_eq(
	    request(srv, "GET /empty HTTP/1.0\r\n" AUTH "\r\n", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.text, "\r\nContent-Length: 0\r\n"));
	free(r.text);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_routing)
{
	struct orc_http *srv = start();
	struct reply r;

	ck_assert_int_eq(status(srv, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"),
			 404);
	ck_assert_int_eq(
	    status(srv, "GET /healthz/ HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
	ck_assert_int_eq(status(srv, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
			 404);
	ck_assert_int_eq(status(srv, "GET /healthz?verbose=1 HTTP/1.1\r\n"
				     "Host: x\r\n\r\n"),
			 200);
	ck_assert_int_eq(status(srv,
				"GET http://localhost:8080/healthz HTTP/1.1\r\n"
				"Host: localhost\r\n\r\n"),
			 200);
	ck_assert_int_eq(request(srv,
				 "POST /healthz HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: 5\r\n\r\nhello",
				 &r),
			 405);
	ck_assert_ptr_nonnull(strstr(r.text, "\r\nAllow: GET, HEAD\r\n"));
	free(r.text);
	ck_assert_int_eq(
	    status(srv, "DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
	ck_assert_int_eq(status(srv, "POST /nope HTTP/1.1\r\nHost: x\r\n\r\n"),
			 404);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_versions_and_host)
{
	struct orc_http *srv = start();

	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.1\r\n\r\n"), 400);
	ck_assert_int_eq(
	    status(srv, "GET /healthz HTTP/1.1\r\nhOsT: a\r\n\r\n"), 200);
	ck_assert_int_eq(
	    status(srv, "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/0.9\r\n\r\n"), 505);
	/* bare LF line ends are tolerated, and a stray CRLF before the line */
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.1\nHost: x\n\n"),
			 200);
	ck_assert_int_eq(status(srv, "\r\nGET /healthz HTTP/1.0\r\n\r\n"), 200);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_bad_requests)
{
	static const char *const bad[] = {
	    "hello\r\n\r\n",
	    "GET /healthz\r\n\r\n", /* HTTP/0.9 style */
	    "GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz  HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
	    "G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\n: empty name\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nBad Name: 1\r\nHost: x\r\n\r\n",
	    "GET /healthz FTP/1.1\r\nHost: x\r\n\r\n",
	    " GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct orc_http *srv = start();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct reply r;

		ck_assert_msg(request(srv, bad[i], &r) == 400, "%s -> %s",
			      bad[i], r.text);
		ck_assert_str_eq(body_of(&r), "bad request\n");
		free(r.text);
	}
	orc_http_destroy(srv);
}
END_TEST

/* A request trickling in one byte per turn. */
START_TEST(test_request_in_pieces)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct orc_http *srv = start();
	int fd = connect_to(orc_http_port(srv));
	struct reply r;

	for (size_t i = 0; i < sizeof(req) - 2; i++) {
		char buf[8];

		send_all(fd, req + i, 1);
		poll(NULL, 0, 1);
		ck_assert_int_eq(orc_http_poll(srv, now_ms()), 0);
		ck_assert_int_lt(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	}
	ck_assert_uint_eq(orc_http_connections(srv), 1);
	send_all(fd, req + sizeof(req) - 2, 1); /* the last byte */
	read_reply(srv, fd, &r);
	ck_assert_int_eq(status_of(&r), 200);
	free(r.text);
	close(fd);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_oversized_request)
{
	struct orc_http *srv = start();
	size_t n = 20000;
	char *req = malloc(n + 64);
	int fd;
	struct reply r;

	strcpy(req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + strlen(req), 'a', n);
	req[n + strlen("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")] = '\0';
	fd = connect_to(orc_http_port(srv));
	send_all(fd, req, strlen(req)); /* fits in the socket buffers */
	read_reply(srv, fd, &r);
	ck_assert_int_eq(status_of(&r), 400);
	ck_assert(r.eof);
	free(r.text);
	free(req);
	close(fd);
	orc_http_destroy(srv);
}
END_TEST

/* A client that connects and says nothing is dropped at the deadline. */
START_TEST(test_idle_client_dropped)
{
	struct orc_http *srv = start();
	int fd = connect_to(orc_http_port(srv));
	int64_t t = now_ms();
	char buf[16];

	for (int i = 0; i < 50 && orc_http_connections(srv) == 0; i++) {
		orc_http_poll(srv, t);
		poll(NULL, 0, 2);
	}
	ck_assert_uint_eq(orc_http_connections(srv), 1);
	orc_http_poll(srv, t + 1000);
	ck_assert_uint_eq(orc_http_connections(srv), 1);
	orc_http_poll(srv, t + 60000);
	ck_assert_uint_eq(orc_http_connections(srv), 0);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0),
			 0); /* closed, no answer */
	close(fd);
	orc_http_destroy(srv);
}
END_TEST

/* A body larger than the socket buffers goes out over several turns. */
START_TEST(test_big_body)
{
	struct orc_http *srv = start();
	struct reply r;
	const char *body;

	ck_assert_int_eq(request(srv, "GET /big HTTP/1.0\r\n" AUTH "\r\n", &r),
			 200);
	body = body_of(&r);
	ck_assert_uint_eq(r.len - (size_t)(body - r.text), BIG_SIZE);
	for (size_t i = 0; i < BIG_SIZE; i++)
		if (body[i] != (char)('a' + i % 26))
			ck_abort_msg("byte %zu differs", i);
	ck_assert_int_eq(big_calls, 1);
	free(r.text);
	orc_http_destroy(srv);
}
END_TEST

/* More clients at once than connection slots: all are answered. */
START_TEST(test_many_clients)
{
	enum { N = ORC_HTTP_CONNECTIONS_MAX + 36 };
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	struct orc_http *srv = start();
	int fds[N];
	bool done[N] = {false};
	char bufs[N][256];
	size_t lens[N] = {0};
	int finished = 0;

	for (int i = 0; i < N; i++) {
		fds[i] = connect_to(orc_http_port(srv));
		send_all(fds[i], req, sizeof(req) - 1);
	}
	for (int turn = 0; turn < 5000 && finished < N; turn++) {
		int answered = orc_http_poll(srv, now_ms());

		ck_assert_int_le(answered, 4); /* bounded work per turn */
		ck_assert_uint_le(orc_http_connections(srv),
				  ORC_HTTP_CONNECTIONS_MAX);
		for (int i = 0; i < N; i++) {
			ssize_t n;

			if (done[i])
				continue;
			n = recv(fds[i], bufs[i] + lens[i],
				 sizeof(bufs[i]) - 1 - lens[i], MSG_DONTWAIT);
			if (n > 0) {
				lens[i] += (size_t)n;
			} else if (n == 0) {
				done[i] = true;
				finished++;
				close(fds[i]);
			}
		}
		poll(NULL, 0, 1);
	}
	ck_assert_int_eq(finished, N);
	for (int i = 0; i < N; i++) {
		bufs[i][lens[i]] = '\0';
		ck_assert_msg(strncmp(bufs[i], "HTTP/1.1 200 OK\r\n", 17) == 0,
			      "client %d: %s", i, bufs[i]);
	}
	orc_http_destroy(srv);
}
END_TEST

/* A client that leaves without reading: no SIGPIPE, the slot is freed. */
START_TEST(test_client_vanishes)
{
	struct orc_http *srv = start();
	int fd = connect_to(orc_http_port(srv));
	struct linger lg = {1, 0};

	send_all(fd, "GET /big HTTP/1.0\r\n" AUTH "\r\n",
		 strlen("GET /big HTTP/1.0\r\n" AUTH "\r\n"));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	for (int i = 0; i < 20 && orc_http_connections(srv) == 0; i++) {
		orc_http_poll(srv, now_ms());
		poll(NULL, 0, 1);
	}
	close(fd); /* a reset: the server's sends fail */
	for (int i = 0; i < 200 && orc_http_connections(srv) > 0; i++) {
		orc_http_poll(srv, now_ms());
		poll(NULL, 0, 1);
	}
	ck_assert_uint_eq(orc_http_connections(srv), 0);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
	orc_http_destroy(srv);
}
END_TEST

/* After the answer the server waits for the client to close first. */
START_TEST(test_lingering_close)
{
	struct orc_http *srv = start();
	int fd = connect_to(orc_http_port(srv));
	char buf[512];
	ssize_t n = 0, got;
	int64_t t = now_ms();

	send_all(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25);
	for (int i = 0; i < 100 && n <= 0; i++) {
		orc_http_poll(srv, t);
		poll(NULL, 0, 1);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	}
	ck_assert_int_gt(n, 0);
	got =
	    recv(fd, buf, sizeof(buf), 0); /* our side: EOF after the answer */
	ck_assert_int_eq(got, 0);
	orc_http_poll(srv, t);
	ck_assert_uint_eq(orc_http_connections(srv), 1); /* lingering */
	close(fd);
	for (int i = 0; i < 100 && orc_http_connections(srv) > 0; i++) {
		orc_http_poll(srv, t);
		poll(NULL, 0, 1);
	}
	ck_assert_uint_eq(orc_http_connections(srv), 0);
	orc_http_destroy(srv);
}
END_TEST

/* A client that never closes is let go after the linger time. */
START_TEST(test_linger_bounded)
{
	struct orc_http *srv = start();
	int fd = connect_to(orc_http_port(srv));
	struct reply r;
	int64_t t;

	send_all(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25);
	read_reply(srv, fd, &r);
	ck_assert_int_eq(status_of(&r), 200);
	free(r.text);
	ck_assert_uint_eq(orc_http_connections(srv), 1);
	t = now_ms();
	orc_http_poll(srv, t + 60000);
	ck_assert_uint_eq(orc_http_connections(srv), 0);
	close(fd);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_listen_errors)
{
	struct orc_http *srv = start(), *other = NULL;
	struct orc_error err;

	ck_assert_int_eq(orc_http_create("127.0.0.1", orc_http_port(srv),
					 NULL, routes, 1, &other, &err),
			 ORC_TRANSIENT);
	ck_assert_ptr_null(other);
	ck_assert_ptr_nonnull(
	    strstr(err.message, "cannot listen on http port"));
	ck_assert_int_eq(
	    orc_http_create("not an address", 0, NULL, routes, 1, &other,
			    &err),
	    ORC_INVALID);
	ck_assert_int_eq(
	    orc_http_create(NULL, 70000, NULL, routes, 1, &other, &err),
	    ORC_INVALID);
	orc_http_destroy(srv);
	orc_http_destroy(NULL);
	ck_assert_int_eq(orc_http_poll(NULL, 0), 0);
}
END_TEST

/* Every interface (IPv6 and IPv4 where both exist), reached over IPv4. */
START_TEST(test_any_address)
{
	struct orc_http *srv = NULL;
	struct orc_error err;

	ck_assert_int_eq(orc_http_create(NULL, 0, NULL, routes, 1, &srv, &err),
			 ORC_OK);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
	orc_http_destroy(srv);
	/* an empty http_address is every interface too */
	ck_assert_int_eq(orc_http_create("", 0, NULL, routes, 1, &srv, &err),
			 ORC_OK);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
	orc_http_destroy(srv);
}
END_TEST

START_TEST(test_reply_helpers)
{
	struct orc_http_response resp = {200, NULL, NULL, 0};
	char *body = strdup("taken");

	orc_http_reply(&resp, 201, "text/x", "copied");
	ck_assert_int_eq(resp.status, 201);
	ck_assert_str_eq(resp.body, "copied");
	ck_assert_uint_eq(resp.body_len, 6);
	orc_http_reply_take(&resp, 202, NULL, body, 5); /* frees the copy */
	ck_assert_ptr_eq(resp.body, body);
	ck_assert_ptr_null(resp.content_type);
	orc_http_reply(&resp, 204, NULL, NULL);
	ck_assert_uint_eq(resp.body_len, 0);
	free(resp.body);
}
END_TEST

static int
parse_text(const char *text, struct orc_http_request *rq)
{
	return orc_http_parse_request(text, strlen(text), rq);
}

/* The parser the server answers with, called directly (tests/fuzz too). */
START_TEST(test_parse_request)
{
	static const char get[] = "GET /healthz?verbose#x HTTP/1.1\r\n"
				  "Host: a\r\n\r\nbody, ignored\0";
	static const char nul[] = "GET /healthz HTTP/1.0\r\nX: a\0b\r\n\r\n";
	struct orc_http_request rq;

	ck_assert_int_eq(orc_http_parse_request(get, sizeof(get) - 1, &rq), 0);
	ck_assert_int_eq(rq.method, ORC_HTTP_METHOD_GET);
	ck_assert_uint_eq(rq.path_len, 8);
	ck_assert_int_eq(memcmp(rq.path, "/healthz", 8), 0);
	ck_assert(rq.http11 && rq.host);
	/* the head must be whole: not one byte of its empty line missing */
	ck_assert_int_eq(orc_http_parse_request(get, 44, &rq), 0);
	ck_assert_int_eq(orc_http_parse_request(get, 43, &rq), 400);
	ck_assert_int_eq(orc_http_parse_request(get, 0, &rq), 400);

	ck_assert_int_eq(parse_text("HEAD http://h HTTP/1.0\n\n", &rq), 0);
	ck_assert_int_eq(rq.method, ORC_HTTP_METHOD_HEAD);
	ck_assert_uint_eq(rq.path_len, 1);
	ck_assert_int_eq(rq.path[0], '/');
	ck_assert(!rq.http11 && !rq.host);
	ck_assert_int_eq(parse_text("\r\n\nPUT /x HTTP/1.0\r\n\r\n", &rq), 0);
	ck_assert_int_eq(rq.method, ORC_HTTP_METHOD_OTHER);

	/* a NUL byte anywhere in the head is a bad request */
	ck_assert_int_eq(orc_http_parse_request(nul, sizeof(nul) - 1, &rq),
			 400);
	ck_assert_int_eq(parse_text("GET / HTTP/3.1\r\n\r\n", &rq), 505);

	/* Authorization: the last one's value, blanks trimmed */
	ck_assert_int_eq(parse_text("GET / HTTP/1.0\r\n\r\n", &rq), 0);
	ck_assert_ptr_null(rq.authorization);
	ck_assert_int_eq(parse_text("GET / HTTP/1.0\r\nAuthorization: a\r\n"
				    "AUTHORIZATION: \t Bearer x \t\r\n\r\n",
				    &rq),
			 0);
	ck_assert_uint_eq(rq.authorization_len, 8);
	ck_assert_int_eq(memcmp(rq.authorization, "Bearer x", 8), 0);
	ck_assert_int_eq(parse_text("GET / HTTP/1.0\nAuthorization:\n\n", &rq),
			 0);
	ck_assert_uint_eq(rq.authorization_len, 0);
}
END_TEST

/*
 * Only /healthz, /readyz and /metrics are open: any other route needs the
 * bearer token, and without a token it cannot be registered at all.
 */
START_TEST(test_token)
{
	static const struct orc_http_route open_only[] = {
	    {"/healthz", on_ok, NULL},
	    {"/readyz", on_ok, NULL},
	    {"/metrics", on_ok, NULL},
	};
	static const struct orc_http_route admin[] = {
	    {"/healthz", on_ok, NULL},
	    {"/admin", on_ok, NULL},
	};
	struct orc_http *srv = NULL, *other = NULL;
	struct orc_error err;
	struct reply r;

	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, NULL, admin, 2,
					 &other, &err),
			 ORC_INVALID);
	ck_assert_str_eq(err.message,
			 "http path \"/admin\" needs a token (http_token)");
	ck_assert_ptr_null(other);
	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, "", admin, 2, &other,
					 &err),
			 ORC_INVALID);
	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, "has blank", admin,
					 2, &other, &err),
			 ORC_INVALID);
	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, NULL, open_only, 3,
					 &other, &err),
			 ORC_OK);
	ck_assert_int_eq(status(other, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	orc_http_destroy(other);

	ck_assert_int_eq(orc_http_create("127.0.0.1", 0, TOKEN, admin, 2, &srv,
					 &err),
			 ORC_OK);
	ck_assert_int_eq(status(srv, "GET /healthz HTTP/1.0\r\n\r\n"), 200);
	ck_assert_int_eq(request(srv, "GET /admin HTTP/1.0\r\n\r\n", &r), 401);
	ck_assert_ptr_nonnull(strstr(r.text, "WWW-Authenticate: Bearer\r\n"));
	ck_assert_str_eq(body_of(&r), "unauthorized\n");
	free(r.text);
	ck_assert_int_eq(status(srv, "GET /admin HTTP/1.0\r\n"
				     "Authorization: Bearer s3cre\r\n\r\n"),
			 401);
	ck_assert_int_eq(status(srv, "GET /admin HTTP/1.0\r\n"
				     "Authorization: Bearer s3cret!\r\n\r\n"),
			 401);
	ck_assert_int_eq(status(srv, "GET /admin HTTP/1.0\r\n"
				     "Authorization: Basic s3cret\r\n\r\n"),
			 401);
	ck_assert_int_eq(status(srv, "GET /admin HTTP/1.0\r\n" AUTH "\r\n"),
			 200);
	ck_assert_int_eq(status(srv, "GET /admin HTTP/1.1\r\nHost: x\r\n"
				     "authorization:  bearer s3cret \r\n\r\n"),
			 200);
	ck_assert_int_eq(status(srv, "POST /admin HTTP/1.0\r\n\r\n"), 401);
	ck_assert_int_eq(status(srv, "GET /other HTTP/1.0\r\n" AUTH "\r\n"),
			 404);
	orc_http_destroy(srv);
}
END_TEST

/* A client socket connecting without waiting; -1 when out of ports. */
static int
connect_nonblocking(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * GET /healthz on a new connection while polling srv as the run loop
 * does; the status, or 0 when no answer came within limit_ms.  *took_ms
 * says how long it took.
 */
static int
probe(struct orc_http *srv, int64_t limit_ms, int64_t *took_ms)
{
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	int64_t start = now_ms();
	int fd = connect_nonblocking(orc_http_port(srv));
	char buf[512];
	size_t len = 0, sent = 0;
	int st = 0;

	ck_assert_int_ge(fd, 0);
	while (now_ms() - start < limit_ms) {
		ssize_t n;

		orc_http_poll(srv, now_ms());
		if (sent < sizeof(req) - 1) {
			n = send(fd, req + sent, sizeof(req) - 1 - sent,
				 MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n > 0)
			len += (size_t)n;
		if (n == 0 || len == sizeof(buf) - 1)
			break;
		poll(NULL, 0, 1);
	}
	buf[len] = '\0';
	*took_ms = now_ms() - start;
	if (sscanf(buf, "HTTP/1.1 %d ", &st) != 1)
		st = 0;
	close(fd);
	return st;
}

/*
 * Found in issue 10: 2,000 idle connections (connected, sending nothing)
 * kept every /healthz out of the 16 slots, first come first served.  Now
 * a probe is answered within a second, again and again, while they stay
 * open; the server holds at most ORC_HTTP_CONNECTIONS_MAX of them.
 */
START_TEST(test_idle_flood)
{
	enum { IDLE = 2000, PROBES = 10 };
	static int idle[IDLE];
	struct rlimit rl;
	struct orc_http *srv;
	int64_t worst = 0;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < IDLE + 256) {
		rl.rlim_cur = rl.rlim_max < IDLE + 256 ? rl.rlim_max
						       : IDLE + 256;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_uint_ge(rl.rlim_cur, IDLE + 256);
	srv = start();
	for (int i = 0; i < IDLE; i++) {
		idle[i] = connect_nonblocking(orc_http_port(srv));
		ck_assert_int_ge(idle[i], 0);
		if (i % 50 == 49) /* the loop turns meanwhile */
			orc_http_poll(srv, now_ms());
	}
	for (int i = 0; i < PROBES; i++) {
		int64_t took;
		int st = probe(srv, 1000, &took);

		ck_assert_msg(st == 200,
			      "probe %d: status %d after %lld ms, %zu open", i,
			      st, (long long)took, orc_http_connections(srv));
		ck_assert_uint_le(orc_http_connections(srv),
				  ORC_HTTP_CONNECTIONS_MAX);
		if (took > worst)
			worst = took;
	}
	fprintf(stderr, "idle flood: %d idle, %d probes, worst %lld ms\n",
		IDLE, PROBES, (long long)worst);
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	orc_http_destroy(srv);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_head_has_no_body);
	tcase_add_test(tc, test_handler_statuses);
	tcase_add_test(tc, test_routing);
	tcase_add_test(tc, test_versions_and_host);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_request_in_pieces);
	tcase_add_test(tc, test_oversized_request);
	tcase_add_test(tc, test_idle_client_dropped);
	tcase_add_test(tc, test_big_body);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_client_vanishes);
	tcase_add_test(tc, test_lingering_close);
	tcase_add_test(tc, test_linger_bounded);
	tcase_add_test(tc, test_listen_errors);
	tcase_add_test(tc, test_any_address);
	tcase_add_test(tc, test_reply_helpers);
	tcase_add_test(tc, test_parse_request);
	tcase_add_test(tc, test_token);
	tcase_add_test(tc, test_idle_flood);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(http_suite());
}
