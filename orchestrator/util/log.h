/*
 * log.h - one line per record on stderr, logfmt (default) or JSON.
 *
 *   ts=2026-11-27T07:00:00.123Z level=error msg="apply failed" saga=... err="..."
 *   {"ts":"2026-11-27T07:00:00.123Z","level":"error","msg":"apply failed","saga":"...","err":"..."}
 *
 * Callers always write logfmt fields; in JSON mode each key=value becomes
 * a member (a value of digits alone becomes a number).
 * The message is a short constant text in PostgreSQL style; variable parts
 * go in key=value fields (saga=, step=, event=, topic=, err=).  Callers log
 * an error once, where they handle it.  The engine never logs.
 */
#ifndef ORC_LOG_H
#define ORC_LOG_H

#include <stdbool.h>

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

/*
 * Write one record.  msg is quoted for logfmt; fields_fmt (may be NULL) is
 * a printf format producing space-separated key=value pairs, whose values
 * the caller quotes with orc_log_quote() when they may contain spaces.
 */
void orc_log(enum orc_log_level level, const char *msg, const char *fields_fmt,
	     ...) __attribute__((format(printf, 3, 4)));

/*
 * Quote s for a logfmt value into buf (size len): returned as is when it
 * has no space, quote or '=', else in double quotes with escapes.  Returns
 * buf.
 */
const char *orc_log_quote(const char *s, char *buf, unsigned len);

#endif
