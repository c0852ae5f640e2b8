/*
 * error.h - status codes and the error record every fallible function fills.
 *
 * A function that can fail returns an enum orc_status and, when the caller
 * passes a non-NULL struct orc_error, describes the failure there.  The
 * status class tells the caller what to do next: dead-letter the input,
 * treat it as already applied, back off and retry, or exit.  Library errors
 * (SQLSTATE, librdkafka flags) are mapped to a class once, at the edge that
 * called the library.  Errors are logged where they are handled, not where
 * they are raised.
 *
 * struct orc_error is caller-owned and fixed-size: filling it never
 * allocates, so it is safe on every path, including out-of-memory.
 */
#ifndef ORC_ERROR_H
#define ORC_ERROR_H

#include <stdarg.h>

enum orc_status {
	ORC_OK = 0,
	ORC_INVALID,   /* bad input: reject it, dead-letter it, do not retry */
	ORC_CONFLICT,  /* duplicate or already applied: nothing to do */
	ORC_NOT_FOUND, /* the thing named does not exist */
	ORC_TRANSIENT, /* roll back, back off, try again */
	ORC_FATAL,     /* give up: exit and let the supervisor restart us */
};

#define ORC_ERROR_MSG_MAX 512
#define ORC_ERROR_DETAIL_MAX 512
#define ORC_ERROR_HINT_MAX 256

/*
 * PostgreSQL's three parts of a report: the message says what went wrong,
 * the detail gives the facts behind it, the hint what the user could do
 * about it.  The CLI (orc_cmd_fail) and the logger (ORC_LOG_ERR) print
 * all three, each in one place.
 */
struct orc_error {
	enum orc_status status;
	char message[ORC_ERROR_MSG_MAX]; /* short, lowercase, no period */
	char detail[ORC_ERROR_DETAIL_MAX]; /* optional context, may be "" */
	char hint[ORC_ERROR_HINT_MAX]; /* optional advice, may be "" */
};

/* The status's name for logs: "ok", "invalid", ... Never NULL. */
const char *orc_status_name(enum orc_status status);

/*
 * Fill *err (when not NULL; detail and hint are emptied) and return status, so that a failing path reads
 * "return orc_error_set(err, ORC_INVALID, "bad %s", what);".
 */
enum orc_status orc_error_set(struct orc_error *err, enum orc_status status,
			      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set err->detail (when err is not NULL); the status and message stay. */
void orc_error_detail(struct orc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set err->hint (when err is not NULL): a full sentence of advice. */
void orc_error_hint(struct orc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix err->message with "<context>: " (when err is not NULL). */
void orc_error_prefix(struct orc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to ORC_OK with empty texts. */
void orc_error_clear(struct orc_error *err);

#endif
