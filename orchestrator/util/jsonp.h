/*
 * jsonp.h - JSON Pointer (RFC 6901) and Merge Patch (RFC 7386) over jansson
 * values.
 *
 * Pure helpers with no state.  Values returned are borrowed from the
 * document passed in: they live as long as that document is not changed.
 */
#ifndef ORC_JSONP_H
#define ORC_JSONP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * True when ptr is a syntactically valid pointer: "" or "/..." where every
 * '~' is followed by '0' or '1'.
 */
bool orc_jsonp_valid(const char *ptr);

/*
 * Resolve ptr in doc.  Returns the value (borrowed) or NULL when ptr is
 * invalid or does not resolve.  Array indexes are decimal without leading
 * zeros; "-" never resolves.
 */
json_t *orc_jsonp_get(const json_t *doc, const char *ptr);

/*
 * Copy the first reference token of ptr (unescaped) into buf of size len
 * and return a pointer to the rest of ptr (at its next '/' or at the end).
 * Returns NULL when ptr is "" or invalid, or when the token does not fit.
 */
const char *orc_jsonp_token(const char *ptr, char *buf, size_t len);

/*
 * Append "/" + the escaped form of token to buf (a NUL-terminated string in
 * a buffer of size len).  Returns false when it would not fit; buf is then
 * unchanged.
 */
bool orc_jsonp_append(char *buf, size_t len, const char *token);

/* Same, for an array index. */
bool orc_jsonp_append_index(char *buf, size_t len, size_t index);

/*
 * RFC 7386 JSON Merge Patch: target (borrowed, may be NULL) with patch
 * (borrowed) applied, as a new reference; neither is changed.  Members
 * the patch sets to null are removed, objects merge member by member,
 * anything else replaces.  NULL when out of memory.
 */
json_t *orc_jsonp_merge_patch(const json_t *target, const json_t *patch);

#endif
