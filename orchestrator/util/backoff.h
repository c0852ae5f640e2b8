/*
 * backoff.h - exponential backoff, the one formula for every retry.
 *
 * The n-th delay (n >= 1) is base_ms * multiplier^(n-1), capped at max_ms.
 * A step's retry policy (the engine), a failed turn of the run loop and a
 * failed relay turn all use it.  Pure: no clock, no random jitter (the
 * engine's replays must be byte-identical).
 */
#ifndef ORC_BACKOFF_H
#define ORC_BACKOFF_H

#include <stdint.h>

/* The n-th delay; 0 when n < 1 or base_ms <= 0.  multiplier <= 1: flat. */
int64_t orc_backoff_delay_ms(int64_t base_ms, double multiplier,
			     int64_t max_ms, int n);

/* A run of failures: the caller owns it; zero it or use init. */
struct orc_backoff {
	int64_t base_ms;
	int64_t max_ms;
	double multiplier;
	int failures; /* since the last reset */
};

void orc_backoff_init(struct orc_backoff *b, int64_t base_ms, double multiplier,
		      int64_t max_ms);

/* One more failure: count it and return the delay before the next try. */
int64_t orc_backoff_next(struct orc_backoff *b);

/* A success: the next failure waits base_ms again. */
void orc_backoff_reset(struct orc_backoff *b);

#endif
