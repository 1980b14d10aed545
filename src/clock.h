/* The clocks glarex reads: wall time for TTLs and "as of" (shared between processes
 * and hosts), its coarse variant for the TTL check of a hit, monotonic time for
 * deadlines. */
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

/* The wall clock as of the kernel's last tick, in milliseconds: read from memory the
 * kernel updates (no system call, no hardware clock read), at most one tick (see
 * glarex__coarse_slack_ms) behind glarex__now_ms. Falls back to that when the system
 * has no coarse clock. */
static inline int64_t glarex__now_coarse_ms(void)
{
#ifdef CLOCK_REALTIME_COARSE
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0)
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
    return glarex__now_ms();
}

/* How far glarex__now_coarse_ms may lag the wall clock, with a margin: twice its
 * resolution (one tick), rounded up to whole milliseconds, at least 1 ms. A time
 * that is still this far in the future on the coarse clock is in the future. */
static inline int64_t glarex__coarse_slack_ms(void)
{
    int64_t ms = 1;
#ifdef CLOCK_REALTIME_COARSE
    struct timespec res;
    if (clock_getres(CLOCK_REALTIME_COARSE, &res) == 0)
        ms = ((int64_t)res.tv_sec * 1000000000 + res.tv_nsec + 999999) / 1000000 * 2;
#endif
    return ms > 1 ? ms : 1;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t glarex__monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
