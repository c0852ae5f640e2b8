/*
 * log.c - logfmt or JSON records on stderr.  A record is formatted into one
 * buffer and written with one write(2), so lines from librdkafka's threads
 * and ours do not interleave mid-line.
 *
 * Callers format their fields as logfmt whatever the output; JSON mode
 * parses them back (see json_fields()), so no call site changes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum orc_log_level min_level = ORC_LOG_INFO;
static enum orc_log_format format = ORC_LOG_LOGFMT;

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

const char *
orc_log_quote(const char *s, char *buf, unsigned len)
{
	unsigned n = 0;

	if (len == 0)
		return "";
	if (s == NULL)
		s = "";
	if (s[0] != '\0' && strpbrk(s, " \"=\n\t\\") == NULL) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (n + 1 < len)
		buf[n++] = '"';
	for (const char *p = s; *p && n + 3 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = *p;
		} else if (*p == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *p;
		}
	}
	if (n + 1 < len)
		buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* ---- JSON ---- */

/* A bounded output buffer that always has room left to close the record. */
struct out {
	char *p;
	size_t n, cap; /* cap excludes the reserve for the closing */
	bool full;
};

static void
put(struct out *o, const char *s, size_t len)
{
	if (o->full || o->n + len > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
}

/* s[0..len) as a JSON string; unescape undoes logfmt's \" \\ \n. */
static void
json_string(struct out *o, const char *s, size_t len, bool unescape)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < len && !o->full; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (unescape && c == '\\' && i + 1 < len &&
		    strchr("\"\\n", s[i + 1]) != NULL) {
			c = (unsigned char)(s[i + 1] == 'n' ? '\n' : s[i + 1]);
			i++;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c == '\n') {
			put(o, "\\n", 2);
		} else if (c == '\t') {
			put(o, "\\t", 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

/* "key=" starts at s: a logfmt key, then '='. */
static bool
starts_pair(const char *s)
{
	const char *p = s;

	while (*p && *p != '=' && *p != ' ' && *p != '"')
		p++;
	return p > s && *p == '=';
}

static bool
is_integer(const char *s, size_t len)
{
	size_t i = s[0] == '-' ? 1 : 0;

	if (len <= i || len - i > 18 || (s[i] == '0' && len - i > 1))
		return false;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Turn logfmt fields into JSON members.  A quoted value ends at a quote
 * followed by the end or by " key=": callers quote raw messages, which
 * may hold quotes of their own, and that reads them whole.  A word with
 * no '=' becomes a member with value true.
 */
static void
json_fields(struct out *o, const char *s)
{
	while (*s && !o->full) {
		const char *key, *val, *end;
		size_t klen, start = o->n;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		key = s;
		while (*s && *s != '=' && *s != ' ')
			s++;
		klen = (size_t)(s - key);
		put(o, ",", 1);
		json_string(o, key, klen, false);
		put(o, ":", 1);
		if (*s != '=') {
			put(o, "true", 4);
			if (o->full)
				o->n = start; /* no half member */
			continue;
		}
		val = ++s;
		if (*val == '"') {
			for (end = val + 1; *end; end++) {
				if (*end == '\\' && end[1] != '\0') {
					end++;
					continue;
				}
				if (*end == '"' &&
				    (end[1] == '\0' ||
				     (end[1] == ' ' && starts_pair(end + 2))))
					break;
			}
			json_string(o, val + 1, (size_t)(end - val - 1), true);
			s = *end ? end + 1 : end;
		} else {
			end = val;
			while (*end && *end != ' ')
				end++;
			if (is_integer(val, (size_t)(end - val)))
				put(o, val, (size_t)(end - val));
			else
				json_string(o, val, (size_t)(end - val), false);
			s = end;
		}
		if (o->full)
			o->n = start; /* no half member; marked truncated */
	}
}

/* The record as one JSON line; cut: the fields were cut short already. */
static size_t
json_record(char *line, size_t size, const char *ts, enum orc_log_level level,
	    const char *msg, const char *fields, bool cut)
{
	static const char more[] = ",\"truncated\":true";
	struct out o = {line, 0, size - sizeof(more) - 8, false};
	const char *name;

	put(&o, "{\"ts\":", 6);
	json_string(&o, ts, strlen(ts), false);
	put(&o, ",\"level\":", 9);
	name = orc_log_level_name(level);
	json_string(&o, name, strlen(name), false);
	put(&o, ",\"msg\":", 7);
	json_string(&o, msg ? msg : "", msg ? strlen(msg) : 0, false);
	if (fields != NULL)
		json_fields(&o, fields);
	if (o.full || cut) {
		memcpy(line + o.n, more, sizeof(more) - 1);
		o.n += sizeof(more) - 1;
	}
	line[o.n++] = '}';
	line[o.n++] = '\n';
	return o.n;
}

void
orc_log(enum orc_log_level level, const char *msg, const char *fields_fmt, ...)
{
	char line[4096];
	char quoted[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (format == ORC_LOG_JSON) {
		char stamp[40], fields[3072];
		bool cut = false;

		n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ",
			 ts.tv_nsec / 1000000L);
		fields[0] = '\0';
		if (fields_fmt != NULL) {
			va_start(ap, fields_fmt);
			n = (size_t)vsnprintf(fields, sizeof(fields), fields_fmt,
					      ap);
			cut = n >= sizeof(fields);
			va_end(ap);
		}
		n = json_record(line, sizeof(line), stamp, level, msg,
				fields_fmt ? fields : NULL, cut);
		if (write(STDERR_FILENO, line, n) < 0)
			return; /* nowhere left to report it */
		return;
	}
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n,
			      ".%03ldZ level=%s msg=%s", ts.tv_nsec / 1000000L,
			      orc_log_level_name(level),
			      orc_log_quote(msg, quoted, sizeof(quoted)));
	if (fields_fmt != NULL && n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fields_fmt);
		vsnprintf(line + n, sizeof(line) - n, fields_fmt, ap);
		va_end(ap);
		n = strlen(line);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere left to report it */
}
