/*
 * log.h - one line per record on stderr, logfmt (default) or JSON.
 *
 *   ts=2026-11-27T07:00:00.123Z level=error msg="apply failed" saga=... err="..."
 *   {"ts":"2026-11-27T07:00:00.123Z","level":"error","msg":"apply failed","saga":"...","err":"..."}
 *
 * The message is a short constant text in PostgreSQL style; variable parts
 * are typed key/value fields (saga, step, event, topic, err), which the
 * logger quotes for logfmt or encodes for JSON.  No call site quotes or
 * formats a value by hand:
 *
 *   orc_log(ORC_LOG_WARN, "relay turn failed", ORC_LOG_STR("topic", t),
 *           ORC_LOG_INT("partition", p), ORC_LOG_ERR(&err));
 *
 * A record longer than ORC_LOG_LINE_MAX is cut at a field (or inside the
 * last string value, on a UTF-8 boundary) and ends with truncated=true.
 * Callers log an error once, where they handle it.  The engine never logs.
 *
 * Thread-safe: librdkafka's threads log too.  A record is built on the
 * stack and written with one write(2), so lines never interleave.
 */
#ifndef ORC_LOG_H
#define ORC_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define ORC_LOG_LINE_MAX 4096

enum orc_log_level {
	ORC_LOG_DEBUG,
	ORC_LOG_INFO,
	ORC_LOG_WARN,
	ORC_LOG_ERROR,
};

const char *orc_log_level_name(enum orc_log_level level);

enum orc_log_format {
	ORC_LOG_LOGFMT,
	ORC_LOG_JSON,
};

/* How records are written.  Default: ORC_LOG_LOGFMT. */
void orc_log_set_format(enum orc_log_format format);

/* Parse "logfmt", "json". */
bool orc_log_format_parse(const char *text, enum orc_log_format *out);

/* Records below min_level are dropped.  Default: ORC_LOG_INFO. */
void orc_log_set_level(enum orc_log_level min_level);

/* Parse "debug", "info", "warn", "error". */
bool orc_log_level_parse(const char *text, enum orc_log_level *out);

/* Where records go (a file descriptor); default 2.  For tests. */
void orc_log_set_fd(int fd);

enum orc_log_kind {
	ORC_LOG_KIND_END, /* terminates a field list */
	ORC_LOG_KIND_STR, /* NULL is written as an empty string */
	ORC_LOG_KIND_STR_OPT, /* left out when NULL or empty */
	ORC_LOG_KIND_INT,
	ORC_LOG_KIND_UINT,
	ORC_LOG_KIND_FLOAT,
	ORC_LOG_KIND_BOOL,
};

/* One field.  key and string values are borrowed for the call. */
struct orc_log_field {
	const char *key; /* [a-z_][a-z0-9_]*, not quoted */
	enum orc_log_kind kind;
	union {
		const char *s;
		int64_t i;
		uint64_t u;
		double f;
		bool b;
	} v;
};

#define ORC_LOG_FIELD_(k, kd, m, val)                                          \
	((struct orc_log_field){.key = (k), .kind = (kd), .v = {.m = (val)}})
#define ORC_LOG_STR(k, val) ORC_LOG_FIELD_(k, ORC_LOG_KIND_STR, s, (val))
#define ORC_LOG_STR_OPT(k, val) ORC_LOG_FIELD_(k, ORC_LOG_KIND_STR_OPT, s, (val))
#define ORC_LOG_INT(k, val) ORC_LOG_FIELD_(k, ORC_LOG_KIND_INT, i, (int64_t)(val))
#define ORC_LOG_UINT(k, val)                                                   \
	ORC_LOG_FIELD_(k, ORC_LOG_KIND_UINT, u, (uint64_t)(val))
#define ORC_LOG_FLOAT(k, val) ORC_LOG_FIELD_(k, ORC_LOG_KIND_FLOAT, f, (double)(val))
#define ORC_LOG_BOOL(k, val) ORC_LOG_FIELD_(k, ORC_LOG_KIND_BOOL, b, (bool)(val))
/* A struct orc_error (borrowed): err=, and detail= and hint= when set. */
#define ORC_LOG_ERR(e)                                                         \
	ORC_LOG_STR("err", (e)->message), ORC_LOG_STR_OPT("detail", (e)->detail), \
		ORC_LOG_STR_OPT("hint", (e)->hint)

/*
 * Write one record: the message, then fields up to the first one whose
 * kind is ORC_LOG_KIND_END.  Use the orc_log() macro, which terminates
 * the list.
 */
void orc_log_write(enum orc_log_level level, const char *msg,
		   const struct orc_log_field *fields);

#define orc_log(level, msg, ...)                                               \
	orc_log_write((level), (msg),                                          \
		      (const struct orc_log_field[]){                          \
			      __VA_ARGS__ __VA_OPT__(, ){.kind = ORC_LOG_KIND_END}})

#endif
