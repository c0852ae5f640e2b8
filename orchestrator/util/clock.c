/*
 * clock.c - clock_gettime() and nanosleep(), once.
 */
#include "clock.h"

#include <errno.h>
#include <time.h>

static int64_t
read_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
orc_clock_wall_ms(void)
{
	return read_us(CLOCK_REALTIME) / 1000;
}

int64_t
orc_clock_mono_ms(void)
{
	return read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t
orc_clock_mono_us(void)
{
	return read_us(CLOCK_MONOTONIC);
}

void
orc_clock_sleep_ms(int64_t ms, const volatile sig_atomic_t *stop)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR &&
	       (stop == NULL || !*stop))
		;
}
