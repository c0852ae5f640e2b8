/*
 * strbuf.c - the growable string of strbuf.h.  Capacity doubles from 64
 * bytes; one byte more than len is always reserved for the terminator.
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void
orc_strbuf_init(struct orc_strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void
orc_strbuf_finish(struct orc_strbuf *sb)
{
	if (sb == NULL)
		return;
	free(sb->data);
	memset(sb, 0, sizeof(*sb));
}

void
orc_strbuf_reset(struct orc_strbuf *sb)
{
	sb->len = 0;
	sb->oom = false;
	if (sb->data != NULL)
		sb->data[0] = '\0';
}

bool
orc_strbuf_reserve(struct orc_strbuf *sb, size_t more)
{
	size_t cap;
	char *p;

	if (sb->oom)
		return false;
	if (more > SIZE_MAX / 2 - sb->len) {
		sb->oom = true;
		return false;
	}
	if (sb->len + more + 1 <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + more + 1)
		cap *= 2;
	p = realloc(sb->data, cap);
	if (p == NULL) {
		sb->oom = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	sb->data[sb->len] = '\0';
	return true;
}

void
orc_strbuf_append(struct orc_strbuf *sb, const void *s, size_t n)
{
	if (!orc_strbuf_reserve(sb, n))
		return;
	if (n > 0)
		memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void
orc_strbuf_puts(struct orc_strbuf *sb, const char *s)
{
	orc_strbuf_append(sb, s, strlen(s));
}

void
orc_strbuf_putc(struct orc_strbuf *sb, char c)
{
	orc_strbuf_append(sb, &c, 1);
}

void
orc_strbuf_put_int(struct orc_strbuf *sb, int64_t v)
{
	char buf[21]; /* "-9223372036854775808" and no terminator */
	char *p = buf + sizeof(buf);
	/* negate as unsigned: INT64_MIN has no positive int64_t */
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	orc_strbuf_append(sb, p, (size_t)(buf + sizeof(buf) - p));
}

void
orc_strbuf_printf(struct orc_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (!orc_strbuf_reserve(sb, 64))
		return;
	room = sb->cap - sb->len;
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->data[sb->len] = '\0';
		sb->oom = true;
		return;
	}
	if ((size_t)n >= room) {
		if (!orc_strbuf_reserve(sb, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

char *
orc_strbuf_take(struct orc_strbuf *sb)
{
	char *out;

	if (sb->oom) {
		orc_strbuf_finish(sb);
		return NULL;
	}
	if (sb->data == NULL)
		return strdup("");
	out = sb->data;
	memset(sb, 0, sizeof(*sb));
	return out;
}

void
orc_strbuf_put_json_string(struct orc_strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	orc_strbuf_putc(sb, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		orc_strbuf_append(sb, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			orc_strbuf_append(sb, esc, 2);
		} else {
			orc_strbuf_append(sb, esc, sizeof(esc));
		}
	}
	orc_strbuf_append(sb, run, (size_t)(s - run));
	orc_strbuf_putc(sb, '"');
}

/* json_dump_callback()'s sink: the dump's bytes into the strbuf data. */
static int
dump_into(const char *buffer, size_t size, void *data)
{
	struct orc_strbuf *sb = data;

	orc_strbuf_append(sb, buffer, size);
	return sb->oom ? -1 : 0;
}

void
orc_strbuf_put_json(struct orc_strbuf *sb, const struct json_t *value,
		    size_t flags)
{
	if (json_dump_callback(value, dump_into, sb, flags) != 0)
		sb->oom = true;
}
