/*
 * strbuf.h - a growable, NUL-terminated byte string.
 *
 * The one string buffer of the project (PostgreSQL's StringInfo, curl's
 * dynbuf).  Appending never fails loudly: running out of memory latches
 * sb->oom and makes every later append a no-op, so a caller builds a whole
 * text and checks once, at the end.  The bytes may contain NULs; data is
 * always terminated (when data is not NULL).
 *
 * Ownership: the caller owns the struct (init/finish); the buffer belongs
 * to it until orc_strbuf_take() hands it over.
 */
#ifndef ORC_STRBUF_H
#define ORC_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t; /* jansson's; this header does not need jansson.h */

struct orc_strbuf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	bool oom; /* an allocation failed; the contents are incomplete */
};

/* Zero the struct: an empty buffer that has allocated nothing. */
void orc_strbuf_init(struct orc_strbuf *sb);

/* Free the buffer and zero the struct.  NULL is ignored. */
void orc_strbuf_finish(struct orc_strbuf *sb);

/* Empty the buffer, keeping its memory; clears oom. */
void orc_strbuf_reset(struct orc_strbuf *sb);

/* Make room for `more` bytes after len (and the terminator). */
bool orc_strbuf_reserve(struct orc_strbuf *sb, size_t more);

/* Append n bytes of s (borrowed). */
void orc_strbuf_append(struct orc_strbuf *sb, const void *s, size_t n);

/* Append the string s (borrowed). */
void orc_strbuf_puts(struct orc_strbuf *sb, const char *s);

/* Append one byte. */
void orc_strbuf_putc(struct orc_strbuf *sb, char c);

/* Append v in decimal (what "%" PRId64 prints, without printf). */
void orc_strbuf_put_int(struct orc_strbuf *sb, int64_t v);

/* Append printf-formatted text. */
void orc_strbuf_printf(struct orc_strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Append s (borrowed, NUL-terminated UTF-8) as a JSON string: quoted, with
 * '"', '\\' and control characters escaped, other bytes as they are.
 */
void orc_strbuf_put_json_string(struct orc_strbuf *sb, const char *s);

/*
 * Append the JSON text of value (borrowed; jansson's json_t) with
 * json_dump_callback() flags; a value jansson will not dump sets oom.
 */
void orc_strbuf_put_json(struct orc_strbuf *sb, const struct json_t *value,
			 size_t flags);

/*
 * The contents, returned new (the caller frees them), and the buffer is
 * empty again.  NULL when oom was set (the partial text is freed) or when
 * nothing was appended and an empty string cannot be allocated.
 */
char *orc_strbuf_take(struct orc_strbuf *sb);

#endif
