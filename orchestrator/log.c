/*
 * log.c - logfmt records on stderr.  A record is formatted into one buffer
 * and written with one write(2), so lines from librdkafka's threads and ours
 * do not interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum orc_log_level min_level = ORC_LOG_INFO;

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
