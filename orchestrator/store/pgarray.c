/*
 * pgarray.c - the array literals of pgarray.h, on a struct orc_strbuf.
 *
 * The buffer holds the opening brace and the elements; the closing brace
 * is written past its end by orc_pgarray_done() (in the room strbuf keeps
 * for the terminator and one byte more), so done may be called again, and
 * an element appended afterwards simply overwrites it.
 */
#include "pgarray.h"

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

/*
 * Append s[0..n) inside an element's quotes, with a backslash before each
 * '"' and '\\' (which then starts the next run of plain bytes).
 */
static void
put_escaped(struct orc_pgarray *a, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		orc_strbuf_append(&a->sb, s + run, i - run);
		orc_strbuf_putc(&a->sb, '\\');
		run = i;
	}
	orc_strbuf_append(&a->sb, s + run, n - run);
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
	put_escaped(a, s, strlen(s));
	orc_strbuf_putc(&a->sb, '"');
}

/* json_dump_callback()'s sink: the dump's bytes, escaped, into a. */
static int
dump_into(const char *buffer, size_t size, void *data)
{
	struct orc_pgarray *a = data;

	put_escaped(a, buffer, size);
	return a->sb.oom ? -1 : 0;
}

void
orc_pgarray_json(struct orc_pgarray *a, const json_t *j, size_t flags)
{
	next_element(a);
	if (j == NULL) {
		orc_strbuf_puts(&a->sb, "NULL");
		return;
	}
	orc_strbuf_putc(&a->sb, '"');
	if (json_dump_callback(j, dump_into, a, flags) != 0)
		a->sb.oom = true;
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
	orc_strbuf_put_int(&a->sb, v);
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
