/*
 * clock.h - the two clocks the processes read.
 *
 * Wall time (CLOCK_REALTIME) is what is stored and shown: the engine gets
 * it as now_ms from its caller, never reads it itself.  Monotonic time is
 * for deadlines and intervals inside one process (backoff, poll timeouts,
 * rates), which must not jump when the wall clock is set.
 */
#ifndef ORC_CLOCK_H
#define ORC_CLOCK_H

#include <signal.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t orc_clock_wall_ms(void);

/* Monotonic milliseconds (and microseconds) since an arbitrary point. */
int64_t orc_clock_mono_ms(void);
int64_t orc_clock_mono_us(void);

/*
 * Sleep ms milliseconds, or less when a signal interrupts the sleep and
 * *stop (when not NULL) is then non-zero.
 */
void orc_clock_sleep_ms(int64_t ms, const volatile sig_atomic_t *stop);

#endif
