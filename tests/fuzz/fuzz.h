/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz share: the entry
 * point's prototype, a check that aborts (so libFuzzer keeps the input as
 * a crash) and a line splitter for the targets whose input is framed as
 * text lines.
 */
#ifndef ORC_FUZZ_H
#define ORC_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property every input must keep: a failure is a crash to report. */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n",          \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

/*
 * Take the next line of *p (*n bytes left): sets *line and *len (without
 * the '\n') and advances past it.  False when no '\n' is left; *p and *n
 * are then unchanged (the rest is not a line).
 */
static inline bool
fuzz_line(const uint8_t **p, size_t *n, const uint8_t **line, size_t *len)
{
	const uint8_t *eol = *n > 0 ? memchr(*p, '\n', *n) : NULL;

	if (eol == NULL)
		return false;
	*line = *p;
	*len = (size_t)(eol - *p);
	*n -= *len + 1;
	*p = eol + 1;
	return true;
}

/* A NUL-terminated copy of p[0..n) (new; free() it), or NULL. */
static inline char *
fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		if (n > 0)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

#endif
