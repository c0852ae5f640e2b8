/*
 * malloc.h - which allocator the binary runs on (malloc.c).
 *
 * The strings returned are static: the caller neither frees nor keeps
 * anything.
 */
#ifndef ORC_MALLOC_H
#define ORC_MALLOC_H

/*
 * "jemalloc" (ORC_MALLOC=jemalloc at build time, and malloc() reaches
 * it: "jemalloc (linked, not in use)" if not) or "glibc".
 */
const char *orc_malloc_name(void);

/* Its version: jemalloc's ("5.3.0-0-g...") or glibc's ("2.36"). */
const char *orc_malloc_version(void);

#endif
