/*
 * malloc.c - the allocator the orchestrator binary runs on.
 *
 * Built with jemalloc (ORC_MALLOC, the top CMakeLists.txt; README,
 * "Building" says why) the binary links it ahead of libc, so every
 * malloc() in the process, ours, jansson's, libpq's and librdkafka's,
 * is jemalloc's; malloc_conf below is its configuration, read once at the
 * first allocation (MALLOC_CONF in the environment still overrides it).
 * Without it, glibc's malloc.
 */
#include "malloc.h"

#ifdef ORC_JEMALLOC
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <jemalloc/jemalloc.h>

/*
 * One arena instead of four per core: each thread's cache takes most of
 * its allocations, so one arena cost no CPU that the benchmark could
 * see, and each more arena keeps pages of its own (RSS).
 */
const char *malloc_conf = "narenas:1";

/*
 * Does malloc() reach jemalloc?  Linked is not enough: a library loaded
 * ahead of it (LD_PRELOAD) would take the calls.  jemalloc counts what
 * this thread allocated; one allocation must move the count.
 */
static bool
in_use(void)
{
	uint64_t before = 0, after = 0;
	size_t n = sizeof(before);
	void *volatile p;

	if (mallctl("thread.allocated", &before, &n, NULL, 0) != 0)
		return false;
	p = malloc(64);
	n = sizeof(after);
	if (mallctl("thread.allocated", &after, &n, NULL, 0) != 0)
		after = before;
	free(p);
	return after > before;
}

const char *
orc_malloc_name(void)
{
	return in_use() ? "jemalloc" : "jemalloc (linked, not in use)";
}

const char *
orc_malloc_version(void)
{
	const char *version = NULL;
	size_t n = sizeof(version);

	if (mallctl("version", &version, &n, NULL, 0) != 0 || version == NULL)
		return "unknown";
	return version;
}
#else
#include <gnu/libc-version.h>

const char *
orc_malloc_name(void)
{
	return "glibc";
}

const char *
orc_malloc_version(void)
{
	return gnu_get_libc_version();
}
#endif
