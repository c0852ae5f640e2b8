/*
 * text.c - the text codecs of text.h.  Pure: no allocation except the
 * decoded and encoded buffers handed back.
 */
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
orc_text_name_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n >= ORC_NAME_MAX ||
	    s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/*
 * The length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0 when
 * s[0] does not start one.
 */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned long cp, min;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool
orc_text_utf8_valid(const void *bytes, size_t n)
{
	const unsigned char *s = bytes;
	size_t i = 0, len;

	while (i < n) {
		len = utf8_sequence(s + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

uint64_t
orc_text_fnv1a(const char *s, uint64_t h)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= ORC_TEXT_FNV1A_PRIME;
	}
	return h;
}

void
orc_text_utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s), i = 0, len;

	while (i < n) {
		len = utf8_sequence(p + i, n - i);
		if (len == 0) {
			p[i] = '?';
			len = 1;
		}
		i += len;
	}
}

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum orc_status
orc_text_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
	size_t pad = 0, len = 0;
	unsigned long acc = 0;
	int bits = 0;
	unsigned char *buf;

	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1)
		return ORC_INVALID;
	buf = malloc(n / 4 * 3 + 3);
	if (buf == NULL)
		return ORC_FATAL;
	for (size_t i = 0; i < n; i++) {
		int v = base64_value((unsigned char)s[i]);

		if (v < 0) {
			free(buf);
			return ORC_INVALID;
		}
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[len++] = (unsigned char)(acc >> bits);
		}
	}
	*out = buf;
	*out_len = len;
	return ORC_OK;
}

char *
orc_text_base64_encode(const unsigned char *p, size_t n, size_t *out_len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[len++] = alphabet[v >> 18 & 0x3f];
		out[len++] = alphabet[v >> 12 & 0x3f];
		out[len++] = i + 1 < n ? alphabet[v >> 6 & 0x3f] : '=';
		out[len++] = i + 2 < n ? alphabet[v & 0x3f] : '=';
	}
	out[len] = '\0';
	*out_len = len;
	return out;
}

static bool
hex_run(const char *s, size_t n, bool lower_only, bool *all_zero)
{
	bool zero = true;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c != '0')
			zero = false;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (!lower_only && c >= 'A' && c <= 'F')))
			return false;
	}
	if (all_zero != NULL)
		*all_zero = zero;
	return true;
}

bool
orc_text_uuid_valid(const char *s)
{
	static const size_t runs[] = {8, 4, 4, 4, 12};

	if (s == NULL || strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 5; i++) {
		if (!hex_run(s, runs[i], false, NULL))
			return false;
		s += runs[i];
		if (i < 4 && *s++ != '-')
			return false;
	}
	return true;
}

bool
orc_text_traceparent_valid(const char *s)
{
	size_t n;
	bool zero;

	if (s == NULL || (n = strlen(s)) < 55)
		return false;
	if (!hex_run(s, 2, true, NULL) || strncmp(s, "ff", 2) == 0 ||
	    s[2] != '-' || s[35] != '-' || s[52] != '-')
		return false;
	if (!hex_run(s + 3, 32, true, &zero) || zero)
		return false;
	if (!hex_run(s + 36, 16, true, &zero) || zero)
		return false;
	if (!hex_run(s + 53, 2, true, NULL))
		return false;
	/* version 00 ends at the flags; later versions may append fields,
	 * printable ASCII like the rest, as an HTTP header must be */
	if (strncmp(s, "00", 2) == 0)
		return n == 55;
	if (n == 55)
		return true;
	if (s[55] != '-')
		return false;
	for (size_t i = 56; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

void
orc_text_rfc3339(int64_t ms, char buf[32])
{
	int64_t secs = ms / 1000, msec = ms % 1000, days, sod;
	int64_t z, era, doe, yoe, year, doy, mp, day, month;

	if (msec < 0) {
		msec += 1000;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/* civil_from_days (H. Hinnant): proleptic Gregorian, any int64 day */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	year = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	if (month <= 2)
		year++;
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)year,
		 (int)month, (int)day, (int)(sod / 3600), (int)(sod / 60 % 60),
		 (int)(sod % 60), (int)msec);
}
