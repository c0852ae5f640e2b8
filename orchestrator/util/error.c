/*
 * error.c - the fixed-size error record.  Formatting truncates rather than
 * allocates, so an error can always be reported.  Every part is made
 * UTF-8 after it is formatted (orc_text_utf8_repair()): a message may quote
 * the input it is about (jansson's "near '...'") or be cut inside a
 * character, and it is logged and stored as text (dead letters,
 * quarantine reasons), where PostgreSQL refuses anything else.
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

const char *
orc_status_name(enum orc_status status)
{
	switch (status) {
	case ORC_OK:
		return "ok";
	case ORC_INVALID:
		return "invalid";
	case ORC_CONFLICT:
		return "conflict";
	case ORC_NOT_FOUND:
		return "not_found";
	case ORC_TRANSIENT:
		return "transient";
	case ORC_FATAL:
		return "fatal";
	}
	return "unknown";
}

enum orc_status
orc_error_set(struct orc_error *err, enum orc_status status, const char *fmt,
	      ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	orc_text_utf8_repair(err->message);
	err->detail[0] = '\0';
	err->hint[0] = '\0';
	return status;
}

void
orc_error_detail(struct orc_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	orc_text_utf8_repair(err->detail);
}

void
orc_error_hint(struct orc_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
	orc_text_utf8_repair(err->hint);
}

void
orc_error_prefix(struct orc_error *err, const char *fmt, ...)
{
	char old[ORC_ERROR_MSG_MAX];
	size_t n, keep;
	va_list ap;

	if (err == NULL)
		return;
	memcpy(old, err->message, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* "<prefix>: <old>", truncated to fit */
	n = strlen(err->message);
	if (n + 2 >= sizeof(err->message)) {
		orc_text_utf8_repair(err->message);
		return;
	}
	memcpy(err->message + n, ": ", 2);
	n += 2;
	keep = strlen(old);
	if (keep > sizeof(err->message) - 1 - n)
		keep = sizeof(err->message) - 1 - n;
	memcpy(err->message + n, old, keep);
	err->message[n + keep] = '\0';
	orc_text_utf8_repair(err->message);
}

void
orc_error_clear(struct orc_error *err)
{
	if (err == NULL)
		return;
	err->status = ORC_OK;
	err->message[0] = '\0';
	err->detail[0] = '\0';
	err->hint[0] = '\0';
}
