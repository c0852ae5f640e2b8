/*
 * log.c - logfmt or JSON records on stderr.  A record is formatted into one
 * stack buffer from typed fields and written with one write(2), so lines
 * from librdkafka's threads and ours do not interleave mid-line.
 *
 * Each format encodes values itself; nothing is parsed back.  logfmt
 * quotes a value when it is empty or holds a blank, '"', '=', '\\' or a
 * control character, escaping \" \\ \n \r \t and \xHH.  JSON escapes
 * per RFC 8259, and writes a byte that is not part of valid UTF-8 as
 * U+FFFD, so every line is valid JSON whatever the bytes logged.
 */
#include "log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "text.h"

static enum orc_log_level min_level = ORC_LOG_INFO;
static enum orc_log_format format = ORC_LOG_LOGFMT;
static int out_fd = STDERR_FILENO;

const char *
orc_log_level_name(enum orc_log_level level)
{
	switch (level) {
	case ORC_LOG_DEBUG:
		return "debug";
	case ORC_LOG_INFO:
		return "info";
	case ORC_LOG_WARN:
		return "warn";
	case ORC_LOG_ERROR:
		return "error";
	}
	return "unknown";
}

void
orc_log_set_format(enum orc_log_format f)
{
	format = f;
}

bool
orc_log_format_parse(const char *text, enum orc_log_format *out)
{
	if (text != NULL && strcmp(text, "logfmt") == 0)
		*out = ORC_LOG_LOGFMT;
	else if (text != NULL && strcmp(text, "json") == 0)
		*out = ORC_LOG_JSON;
	else
		return false;
	return true;
}

void
orc_log_set_level(enum orc_log_level level)
{
	min_level = level;
}

bool
orc_log_level_parse(const char *text, enum orc_log_level *out)
{
	for (int l = ORC_LOG_DEBUG; l <= ORC_LOG_ERROR; l++) {
		if (strcmp(text, orc_log_level_name((enum orc_log_level)l)) == 0) {
			*out = (enum orc_log_level)l;
			return true;
		}
	}
	return false;
}

void
orc_log_set_fd(int fd)
{
	out_fd = fd;
}

/*
 * The record being built: a bounded buffer that always keeps room for the
 * truncation mark and the closing.  A field that does not fit is cut (a
 * string) or left out (anything else), and every later one is left out.
 */
#define CLOSING_RESERVE 32

struct line {
	char buf[ORC_LOG_LINE_MAX];
	size_t n;
	bool full;
};

static size_t
room(const struct line *l)
{
	size_t cap = sizeof(l->buf) - CLOSING_RESERVE;

	return l->n < cap ? cap - l->n : 0;
}

static bool
put(struct line *l, const char *s, size_t len)
{
	if (l->full || len > room(l)) {
		l->full = true;
		return false;
	}
	memcpy(l->buf + l->n, s, len);
	l->n += len;
	return true;
}

static bool
puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	size_t n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;

	if (s[0] < 0xc2 || s[0] > 0xf4 || n > len)
		return 0;
	return orc_text_utf8_valid(s, n) ? n : 0;
}

/* The closing quote of a string value, from the reserve if need be. */
static void
close_quote(struct line *l)
{
	l->buf[l->n++] = '"';
	if (room(l) == 0)
		l->full = true;
}

static bool
logfmt_needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' ||
		    *s == '\\' || *s == 0x7f)
			return true;
	return false;
}

/* The escapes both formats share: \" \\ \n \r \t.  False for other bytes. */
static bool
put_escape(struct line *l, unsigned char c)
{
	static const char from[] = "\"\\\n\r\t", to[] = "\"\\nrt";
	const char *hit = c != '\0' ? strchr(from, c) : NULL;
	char esc[2] = {'\\', '\0'};

	if (hit == NULL)
		return false;
	esc[1] = to[hit - from];
	put(l, esc, 2);
	return true;
}

/* s as a logfmt value; cut short (still closed) when the line is full. */
static void
logfmt_string(struct line *l, const char *s)
{
	bool quoted = logfmt_needs_quotes(s);

	if (quoted)
		put(l, "\"", 1);
	for (; *s && !l->full; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (put_escape(l, c))
			continue;
		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			put(l, esc, 4);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
	if (quoted)
		close_quote(l);
}

/* s as a JSON string; cut short (still closed) when the line is full. */
static void
json_string(struct line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	put(l, "\"", 1);
	for (size_t i = 0; i < len && !l->full;) {
		unsigned char c = p[i];
		char esc[8];
		size_t seq;

		if (put_escape(l, c)) {
			i++;
			continue;
		}
		if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc, 6);
		} else if (c < 0x80) {
			put(l, (const char *)&c, 1);
		} else if ((seq = utf8_seq(p + i, len - i)) > 0) {
			put(l, (const char *)p + i, seq); /* whole or not at all */
			i += seq;
			continue;
		} else {
			put(l, "\\ufffd", 6);
		}
		i++;
	}
	close_quote(l);
}

static void
string_value(struct line *l, const char *s)
{
	if (format == ORC_LOG_JSON)
		json_string(l, s);
	else
		logfmt_string(l, s);
}

/* A number or boolean: written whole or not at all. */
static void
scalar_value(struct line *l, const struct orc_log_field *f)
{
	char num[40];

	switch (f->kind) {
	case ORC_LOG_KIND_INT:
		snprintf(num, sizeof(num), "%" PRId64, f->v.i);
		break;
	case ORC_LOG_KIND_UINT:
		snprintf(num, sizeof(num), "%" PRIu64, f->v.u);
		break;
	case ORC_LOG_KIND_FLOAT:
		if (!isfinite(f->v.f)) /* JSON has no NaN or inf */
			snprintf(num, sizeof(num), format == ORC_LOG_JSON
							   ? "null"
							   : "%g",
				 f->v.f);
		else
			snprintf(num, sizeof(num), "%.6g", f->v.f);
		break;
	default:
		snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false");
		break;
	}
	puts_(l, num);
}

/* One field: " key=value" or ",\"key\":value"; false when it did not fit. */
static bool
field(struct line *l, const struct orc_log_field *f)
{
	size_t start = l->n;
	const char *s = f->v.s;

	if (f->kind == ORC_LOG_KIND_STR_OPT && (s == NULL || *s == '\0'))
		return true;
	if (format == ORC_LOG_JSON) {
		put(l, ",", 1);
		json_string(l, f->key);
		put(l, ":", 1);
	} else {
		put(l, " ", 1);
		puts_(l, f->key);
		put(l, "=", 1);
	}
	if (l->full) {
		l->n = start; /* no half key */
		return false;
	}
	if (f->kind == ORC_LOG_KIND_STR || f->kind == ORC_LOG_KIND_STR_OPT) {
		string_value(l, s != NULL ? s : "");
		return !l->full;
	}
	scalar_value(l, f);
	if (l->full) {
		l->n = start;
		return false;
	}
	return true;
}

void
orc_log_write(enum orc_log_level level, const char *msg,
	      const struct orc_log_field *fields)
{
	struct line l;
	char ts[32];
	bool whole = true;

	if (level < min_level)
		return;
	l.n = 0;
	l.full = false;
	orc_text_rfc3339(orc_clock_wall_ms(), ts);
	if (format == ORC_LOG_JSON) {
		puts_(&l, "{\"ts\":\"");
		puts_(&l, ts);
		puts_(&l, "\",\"level\":\"");
		puts_(&l, orc_log_level_name(level));
		puts_(&l, "\",\"msg\":");
	} else {
		puts_(&l, "ts=");
		puts_(&l, ts);
		puts_(&l, " level=");
		puts_(&l, orc_log_level_name(level));
		puts_(&l, " msg=");
	}
	string_value(&l, msg != NULL ? msg : "");
	for (; fields != NULL && fields->kind != ORC_LOG_KIND_END; fields++) {
		if (!field(&l, fields)) {
			whole = false;
			break;
		}
	}
	if (!whole) { /* the reserve has room for the mark */
		const char *mark = format == ORC_LOG_JSON ? ",\"truncated\":true"
							  : " truncated=true";

		memcpy(l.buf + l.n, mark, strlen(mark));
		l.n += strlen(mark);
	}
	if (format == ORC_LOG_JSON)
		l.buf[l.n++] = '}';
	l.buf[l.n++] = '\n';
	if (write(out_fd, l.buf, l.n) < 0)
		return; /* nowhere left to report it */
}
