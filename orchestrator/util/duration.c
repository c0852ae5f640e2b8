/*
 * duration.c - parse and print durations (duration.h).
 */
#include "duration.h"

#include <inttypes.h>
#include <stdio.h>

static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{"d", ORC_MS_PER_DAY}, {"h", 3600 * 1000}, {"m", 60 * 1000},
	{"s", 1000},           {"ms", 1},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

/* The unit spelt at p, or -1; *skip is its length. */
static int
unit_at(const char *p, size_t *skip)
{
	/* "ms" before "m": the longest spelling wins */
	if (p[0] == 'm' && p[1] == 's') {
		*skip = 2;
		return (int)N_UNITS - 1;
	}
	for (size_t u = 0; u < N_UNITS - 1; u++)
		if (p[0] == units[u].name[0] && units[u].name[1] == '\0') {
			*skip = 1;
			return (int)u;
		}
	return -1;
}

bool
orc_duration_parse(const char *text, int64_t *out_ms)
{
	const char *p = text;
	int64_t total = 0;

	if (text == NULL || *text == '\0')
		return false;
	while (*p != '\0') {
		int64_t n = 0, unit;
		size_t skip;
		int u;

		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > ORC_DURATION_MAX_MS) /* too big in any unit */
				return false;
		}
		if ((u = unit_at(p, &skip)) < 0)
			return false;
		p += skip;
		unit = units[u].ms;
		if (n > ORC_DURATION_MAX_MS / unit)
			return false;
		total += n * unit;
		if (total > ORC_DURATION_MAX_MS)
			return false;
	}
	if (total == 0)
		return false;
	if (out_ms != NULL)
		*out_ms = total;
	return true;
}

const char *
orc_duration_format(int64_t ms, char *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return buf;
	if (ms <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	buf[0] = '\0';
	for (size_t u = 0; u < N_UNITS && ms > 0 && n < len; u++) {
		if (ms < units[u].ms)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%" PRId64 "%s",
				      ms / units[u].ms, units[u].name);
		ms %= units[u].ms;
	}
	return buf;
}

const char *
orc_duration_format_rough(int64_t ms, char *buf, size_t len)
{
	size_t u = 0;

	if (ms < 0)
		ms = 0;
	if (ms < 10000) {
		snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", ms / 1000,
			 ms % 1000 / 100);
		return buf;
	}
	while (ms < units[u].ms)
		u++;
	snprintf(buf, len, "%" PRId64 "%s", ms / units[u].ms, units[u].name);
	return buf;
}
