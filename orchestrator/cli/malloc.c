/*
 * malloc.c - the allocator the orchestrator binary runs on.
 *
 * Built with jemalloc (ORC_MALLOC, the top CMakeLists.txt; README,
 * "Building" says why) the binary links it ahead of libc, so every
 * malloc() in the process, ours, jansson's, libpq's and librdkafka's,
 * is jemalloc's; malloc_conf below is its configuration, read once at the
 * first allocation (MALLOC_CONF in the environment still overrides it).
 * Without it, glibc's malloc.  Nothing here allocates.
 */
#include "malloc.h"

#ifdef ORC_JEMALLOC
#include <stddef.h>

#include <jemalloc/jemalloc.h>

/*
 * One arena instead of four per core: the orchestrator's threads (the
 * loop, the relay, librdkafka's) do not allocate in each other's way,
 * and each more arena keeps pages of its own (RSS).
 */
const char *malloc_conf = "narenas:1";

const char *
orc_malloc_name(void)
{
	return "jemalloc";
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
