/* Transfer progress on a terminal: "label [####    ] 42% 1.2 GiB / 2.0 GiB 85.3 MiB/s
 * ETA 0:10", redrawn a few times a second, for uploads and downloads alike. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_MIN_SIZE (1u << 20) /* smaller transfers finish before a line helps */
#define REDRAW_MS 200
#define BAR_WIDTH 24

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "1:02:03" or "2:03"; "--:--" when not known yet. */
static const char *duration(char buf[32], double seconds)
{
    long s = (long)(seconds + 0.5);
    if (!(seconds >= 0) || seconds > 360000)
        snprintf(buf, 32, "--:--");
    else if (s >= 3600)
        snprintf(buf, 32, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, 32, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

int cli_progress_cb(uint64_t done, uint64_t total, void *payload)
{
    cli_progress *p = payload;
    char bar[BAR_WIDTH + 1], a[32], b[32], r[32], eta[32];
    int64_t t;
    double secs, rate;
    int fill;

    if (cli_interrupted())
        return 1; /* aborts the transfer; the caller cleans up */
    if (p->c->quiet || total < PROGRESS_MIN_SIZE || !isatty(STDERR_FILENO))
        return 0;
    t = now_ms();
    if (!p->start_ms)
        p->start_ms = t;
    if (p->shown && t - p->drawn_ms < REDRAW_MS && done < total)
        return 0;
    if (done > total)
        done = total;
    secs = (double)(t - p->start_ms) / 1000.0;
    rate = secs > 0 ? (double)done / secs : 0;
    fill = (int)(done * BAR_WIDTH / total);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, ' ', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%-20.20s [%s] %3d%% %s / %s  %s/s  ETA %s\033[K", p->label, bar,
            (int)(done * 100 / total), cli_size(a, done), cli_size(b, total),
            cli_size(r, (uint64_t)rate),
            duration(eta, rate > 0 ? (double)(total - done) / rate : -1));
    fflush(stderr);
    p->shown = 1;
    p->drawn_ms = t;
    return 0;
}

void cli_progress_end(cli_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
    p->shown = 0;
}
