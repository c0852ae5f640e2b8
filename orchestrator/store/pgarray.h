/*
 * pgarray.h - PostgreSQL array literals ("{"a","b",NULL}", "{1,2}") built
 * as text, for one array parameter ($1::text[], $2::bigint[] ...) that the
 * server expands with unnest() or ANY().
 *
 * Pure text building on util/strbuf.h: no libpq, no I/O, so a unit test
 * links it alone.  Text elements are always double-quoted, with '"' and
 * '\' escaped by a backslash, which is all the array input syntax needs
 * (commas, braces, spaces and the word NULL are plain data inside quotes);
 * a NULL pointer is the unquoted SQL NULL.  Elements are C strings: a text
 * element ends at its first NUL byte (PostgreSQL's text cannot hold one).
 *
 * Appending never fails loudly: running out of memory latches the oom flag
 * of the buffer, every later append is a no-op, and orc_pgarray_done()
 * answers NULL, so a caller fills a whole array and checks once.
 *
 * Ownership: the caller owns the struct (init/finish, or zeroed memory,
 * which is the same as init); strings passed in are borrowed and copied.
 */
#ifndef ORC_PGARRAY_H
#define ORC_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "strbuf.h"

struct orc_pgarray {
	struct orc_strbuf sb; /* "{" and the elements so far; empty at first */
	size_t n;             /* elements so far */
};

/* An empty array that has allocated nothing (all zero). */
void orc_pgarray_init(struct orc_pgarray *a);

/* Free the buffer and zero the struct.  NULL is ignored. */
void orc_pgarray_finish(struct orc_pgarray *a);

/* Empty the array, keeping its memory; clears the oom latch. */
void orc_pgarray_reset(struct orc_pgarray *a);

/* Append s (borrowed) as a quoted text element; NULL appends SQL NULL. */
void orc_pgarray_text(struct orc_pgarray *a, const char *s);

/*
 * Append the JSON text of j (borrowed; jansson's dump flags) as a quoted
 * text element, written straight into the literal (no string of its own
 * to allocate and copy); NULL appends SQL NULL.  A dump that fails latches
 * the oom flag: jansson fails only when out of memory, or for a value
 * that is not an array or object without JSON_ENCODE_ANY.
 */
void orc_pgarray_json(struct orc_pgarray *a, const json_t *j, size_t flags);

/* Append v[0..n) (borrowed) as text elements, as orc_pgarray_text(). */
void orc_pgarray_texts(struct orc_pgarray *a, const char *const *v, size_t n);

/* Append v as a number element (for int[] or bigint[]). */
void orc_pgarray_int(struct orc_pgarray *a, int64_t v);

/* Whether an allocation failed since init or the last reset. */
bool orc_pgarray_oom(const struct orc_pgarray *a);

/*
 * The literal, NUL-terminated ("{}" when empty), borrowed from a: valid
 * until a is next changed.  NULL when out of memory.  Calling it again
 * answers the same literal; appending after it extends the array (the
 * closing brace is not part of the contents).
 */
const char *orc_pgarray_done(struct orc_pgarray *a);

#endif
