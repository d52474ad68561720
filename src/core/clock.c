/* The monotonic clock (core/clock.h). */
#include <time.h>

#include "core/clock.h"

static int64_t read_clock(clockid_t id, int64_t per_sec)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * per_sec + ts.tv_nsec / (1000000000 / per_sec);
}

int64_t core_mono_ms(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000);
}

int64_t core_mono_us(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000000);
}

int64_t core_mono_coarse_ms(void)
{
    return read_clock(CLOCK_MONOTONIC_COARSE, 1000);
}
