/*
 * pgarray.c - the array literals of pgarray.h, on a struct orc_strbuf.
 *
 * The buffer holds the opening brace and the elements; the closing brace
 * is written past its end by orc_pgarray_done() (in the room strbuf keeps
 * for the terminator and one byte more), so done may be called again, and
 * an element appended afterwards simply overwrites it.
 */
#include "pgarray.h"

#include <inttypes.h>
#include <string.h>

void
orc_pgarray_init(struct orc_pgarray *a)
{
	orc_strbuf_init(&a->sb);
	a->n = 0;
}

void
orc_pgarray_finish(struct orc_pgarray *a)
{
	if (a == NULL)
		return;
	orc_strbuf_finish(&a->sb);
	a->n = 0;
}

void
orc_pgarray_reset(struct orc_pgarray *a)
{
	orc_strbuf_reset(&a->sb);
	a->n = 0;
}

/* Open the literal before the first element, separate the others. */
static void
next_element(struct orc_pgarray *a)
{
	if (a->sb.len == 0)
		orc_strbuf_putc(&a->sb, '{');
	else if (a->n > 0)
		orc_strbuf_putc(&a->sb, ',');
	a->n++;
}

void
orc_pgarray_text(struct orc_pgarray *a, const char *s)
{
	next_element(a);
	if (s == NULL) {
		orc_strbuf_puts(&a->sb, "NULL");
		return;
	}
	orc_strbuf_putc(&a->sb, '"');
	while (*s != '\0') {
		size_t plain = strcspn(s, "\"\\");

		orc_strbuf_append(&a->sb, s, plain);
		s += plain;
		if (*s != '\0') {
			orc_strbuf_putc(&a->sb, '\\');
			orc_strbuf_putc(&a->sb, *s++);
		}
	}
	orc_strbuf_putc(&a->sb, '"');
}

void
orc_pgarray_texts(struct orc_pgarray *a, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		orc_pgarray_text(a, v[i]);
}

void
orc_pgarray_int(struct orc_pgarray *a, int64_t v)
{
	next_element(a);
	orc_strbuf_printf(&a->sb, "%" PRId64, v);
}

bool
orc_pgarray_oom(const struct orc_pgarray *a)
{
	return a->sb.oom;
}

const char *
orc_pgarray_done(struct orc_pgarray *a)
{
	if (a->sb.len == 0)
		orc_strbuf_putc(&a->sb, '{');
	if (!orc_strbuf_reserve(&a->sb, 1))
		return NULL;
	a->sb.data[a->sb.len] = '}';
	a->sb.data[a->sb.len + 1] = '\0';
	return a->sb.data;
}
