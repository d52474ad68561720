/* The monotonic clock, in one place: timeouts, deadlines and pacing
 * measure with it, never with the wall clock, which may jump. */
#ifndef MOAT_CORE_CLOCK_H
#define MOAT_CORE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds and in microseconds. */
int64_t core_mono_ms(void);
int64_t core_mono_us(void);

/* CLOCK_MONOTONIC_COARSE in milliseconds: a tick or so behind, for hot
 * paths that only age caches (no system call under the vDSO's fast path). */
int64_t core_mono_coarse_ms(void);

#endif
