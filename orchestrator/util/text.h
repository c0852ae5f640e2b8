/*
 * text.h - small text codecs and checks every layer shares: names, UTF-8,
 * base64, UUIDs, W3C traceparent, RFC 3339 times.
 *
 * Pure functions of their arguments: no state, no clock, no locale.
 */
#ifndef ORC_TEXT_H
#define ORC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Size of a name buffer: step and saga names are [a-z][a-z0-9_]{0,62}. */
#define ORC_NAME_MAX 64

/* True when s is a step, saga or definition name (see ORC_NAME_MAX). */
bool orc_text_name_valid(const char *s);

/*
 * True when bytes[0..n) is UTF-8 by RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF.  NUL bytes are valid characters.
 */
bool orc_text_utf8_valid(const void *bytes, size_t n);

/*
 * FNV-1a (64 bits) of the C string s, its bytes only, continuing from h:
 * start from ORC_TEXT_FNV1A_BASIS.  For hash tables and derived ids, not
 * for anything an adversary may choose to collide with.
 */
#define ORC_TEXT_FNV1A_BASIS 0xcbf29ce484222325ULL
#define ORC_TEXT_FNV1A_PRIME 0x100000001b3ULL
uint64_t orc_text_fnv1a(const char *s, uint64_t h);

/*
 * Make the C string s (caller's, changed in place) UTF-8 as
 * orc_text_utf8_valid() has it: every byte that does not belong to a valid
 * sequence becomes '?'.  For text made from input that may hold anything
 * (a parser's message quoting the bytes it choked on, a message cut short
 * inside a character), before it is logged or stored as text.
 */
void orc_text_utf8_repair(char *s);

/*
 * Decode s[0..n) (RFC 4648 standard alphabet, padding optional, no
 * whitespace) into *out (new, never NULL on ORC_OK).  ORC_INVALID when it
 * is not base64, ORC_FATAL when out of memory.
 */
enum orc_status orc_text_base64_decode(const char *s, size_t n,
				       unsigned char **out, size_t *out_len);

/*
 * p[0..n) in base64 with padding, NUL-terminated, returned new; *out_len
 * is its length.  NULL when out of memory.
 */
char *orc_text_base64_encode(const unsigned char *p, size_t n,
			     size_t *out_len);

/* True when s is a UUID: 8-4-4-4-12 hexadecimal digits, either case. */
bool orc_text_uuid_valid(const char *s);

/*
 * True when s is a W3C Trace Context traceparent we can pass on: version
 * (not ff), 32-digit trace id, 16-digit parent id and flags, in lowercase
 * hexadecimal, ids not all zero; version 00 has nothing after the flags,
 * a later one may add "-" and more fields, in printable ASCII.
 */
bool orc_text_traceparent_valid(const char *s);

/*
 * Write ms (since the epoch, UTC) as RFC 3339 with milliseconds, e.g.
 * "2026-11-27T07:00:00.123Z", into buf (NUL-terminated).  Every int64_t
 * fits; years outside 0000-9999 are not RFC 3339 but still printed.
 */
void orc_text_rfc3339(int64_t ms, char buf[32]);

#endif
