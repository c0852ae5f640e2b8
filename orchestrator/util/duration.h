/*
 * duration.h - durations as people write them: "250ms", "10s", "1h30m".
 *
 * The one syntax of the definition language, the settings and the command
 * line, and the one way durations are printed back (graph labels, tables).
 */
#ifndef ORC_DURATION_H
#define ORC_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORC_MS_PER_DAY INT64_C(86400000)
/* The longest duration the language accepts. */
#define ORC_DURATION_MAX_MS (365 * ORC_MS_PER_DAY)

/*
 * Parse a duration: one or more <digits><unit> with units d h m s ms, into
 * milliseconds.  Returns false on syntax errors, zero, or values over
 * ORC_DURATION_MAX_MS.
 */
bool orc_duration_parse(const char *text, int64_t *out_ms);

/*
 * Write ms into buf (size len, always terminated) exactly, in the syntax
 * above, largest unit first: 90500 is "1m30s500ms", and parsing the text
 * gives ms back.  Zero and negative durations are "0s".  Returns buf.
 */
const char *orc_duration_format(int64_t ms, char *buf, size_t len);

/*
 * The same, roughly, for ages in tables: one unit, truncated, never
 * rounded up, with tenths of a second below ten seconds ("3.2s", "42s",
 * "5m", "3h", "2d").  Negative ages (clock skew between hosts) are "0.0s".
 */
const char *orc_duration_format_rough(int64_t ms, char *buf, size_t len);

#endif
