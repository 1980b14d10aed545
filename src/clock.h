/* The two clocks glarex reads: wall time for TTLs and "as of" (shared between
 * processes and hosts), monotonic time for deadlines. */
#ifndef GLAREX_CLOCK_H
#define GLAREX_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall clock in milliseconds since the epoch. */
static inline int64_t glarex__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t glarex__monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
