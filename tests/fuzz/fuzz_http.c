/*
 * fuzz_http.c - libFuzzer target for the health endpoint's request parser,
 * orc_http_parse_request(): the function the server answers with, given
 * the bytes a client sent (at most the server's 8 KiB).
 *
 * Properties kept: the answer is 0, 400 or 505; a well-formed request has
 * a path that starts with '/', lies inside the input (or is the static
 * "/" of an absolute-form target without one) and stops before '?' and
 * '#'; an HTTP/1.1 request has a Host field; bytes after the head change
 * nothing; and the parser does not look past the bytes it is given (ASan
 * sees to that: libFuzzer hands over a buffer of exactly the input's
 * size).
 */
#include "fuzz.h"

#include "http.h"

#define REQUEST_MAX 8192

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tail[] = "X: y\r\n\0\r\n";
	static char longer[REQUEST_MAX + sizeof(tail)];
	struct orc_http_request rq, again;
	const char *buf = (const char *)data;
	int status;

	if (size > REQUEST_MAX)
		return 0;
	status = orc_http_parse_request(buf, size, &rq);
	FUZZ_CHECK(status == 0 || status == 400 || status == 505);
	if (status != 0)
		return 0;
	FUZZ_CHECK(rq.path != NULL && rq.path[0] == '/');
	FUZZ_CHECK((rq.path >= buf && rq.path + rq.path_len <= buf + size) ||
		   (rq.path_len == 1 && strcmp(rq.path, "/") == 0));
	FUZZ_CHECK(memchr(rq.path, '?', rq.path_len) == NULL &&
		   memchr(rq.path, '#', rq.path_len) == NULL);
	FUZZ_CHECK(!rq.http11 || rq.host);
	FUZZ_CHECK(rq.method == ORC_HTTP_METHOD_GET ||
		   rq.method == ORC_HTTP_METHOD_HEAD ||
		   rq.method == ORC_HTTP_METHOD_OTHER);
	/* what follows the head is never read: more bytes, same answer */
	memcpy(longer, buf, size);
	memcpy(longer + size, tail, sizeof(tail) - 1);
	FUZZ_CHECK(orc_http_parse_request(longer, size + sizeof(tail) - 1,
					  &again) == 0);
	FUZZ_CHECK(again.method == rq.method && again.http11 == rq.http11 &&
		   again.host == rq.host && again.path_len == rq.path_len &&
		   memcmp(again.path, rq.path, rq.path_len) == 0);
	return 0;
}
