/*
 * backoff.c - the formula of backoff.h.  Computed in double and clamped
 * before converting, so large attempt counts saturate at max_ms instead of
 * overflowing.
 */
#include "backoff.h"

#include <math.h>

int64_t
orc_backoff_delay_ms(int64_t base_ms, double multiplier, int64_t max_ms, int n)
{
	double delay;

	if (n < 1 || base_ms <= 0)
		return 0;
	delay = (double)base_ms;
	if (multiplier > 1)
		delay *= pow(multiplier, (double)(n - 1));
	if (!(delay < (double)max_ms)) /* also catches inf */
		return max_ms;
	return (int64_t)llround(delay);
}

void
orc_backoff_init(struct orc_backoff *b, int64_t base_ms, double multiplier,
		 int64_t max_ms)
{
	b->base_ms = base_ms;
	b->multiplier = multiplier;
	b->max_ms = max_ms;
	b->failures = 0;
}

int64_t
orc_backoff_next(struct orc_backoff *b)
{
	if (b->failures < 1000000)
		b->failures++;
	return orc_backoff_delay_ms(b->base_ms, b->multiplier, b->max_ms,
				    b->failures);
}

void
orc_backoff_reset(struct orc_backoff *b)
{
	b->failures = 0;
}
