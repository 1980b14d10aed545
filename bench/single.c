/* glarex-bench group 4: single-flight. 64 threads of one context ask for one cold blob
 * at once: the server must see one GET of the blob, and the wall time should be close
 * to that of a single fetch. */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SF_THREADS 64

typedef struct sf_job {
    glarex_ctx *ctx;
    atomic_int *go;
    int rc;
    char sha256[65];
    char error[GLAREX_ERROR_MESSAGE_LENGTH];
} sf_job;

static void *sf_thread(void *arg)
{
    sf_job *j = arg;
    glarex_blob *b = NULL;
    glarex_error err;

    while (!atomic_load(j->go))
        sched_yield();
    j->rc = glarex_fetch(&b, j->ctx, "bench_sf", "1.0", "sf.bin", &err);
    if (j->rc < 0)
        snprintf(j->error, sizeof(j->error), "%s", err.message);
    else
        snprintf(j->sha256, sizeof(j->sha256), "%s", glarex_blob_sha256(b));
    glarex_blob_free(b);
    return NULL;
}

/* One round: a fresh context with an empty cache, `threads` threads fetching the blob.
 * Returns the wall time, or -1. */
static double sf_round(const bench_cfg *cfg, const bench_server *srv, int threads,
                       int *blob_gets, int *meta_gets, glarex_stats *st, char *why,
                       size_t why_size)
{
    static sf_job jobs[SF_THREADS];
    pthread_t tid[SF_THREADS];
    atomic_int go = 0;
    char cache[300];
    glarex_ctx *ctx = NULL;
    glarex_error err;
    int started = 0, failed = 0;
    double t0, wall = -1;

    glarex_error_clear(&err);
    if (bench_mkdtemp(cache, sizeof(cache), cfg->workdir, "sfcache") < 0) {
        snprintf(why, why_size, "mkdtemp failed");
        return -1;
    }
    if (bench_ctx_new(&ctx, srv->url, cache, &err) < 0) {
        snprintf(why, why_size, "%s", err.message);
        test_rm_rf(cache);
        return -1;
    }
    if (bench_server_reset_stats(srv) < 0) {
        snprintf(why, why_size, "cannot reset the server's counters");
        goto done;
    }
    for (int i = 0; i < threads; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].ctx = ctx;
        jobs[i].go = &go;
        if (pthread_create(&tid[i], NULL, sf_thread, &jobs[i]) != 0)
            break;
        started++;
    }
    t0 = bench_now();
    atomic_store(&go, 1);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    wall = bench_now() - t0;
    if (started < threads) {
        snprintf(why, why_size, "pthread_create failed after %d threads", started);
        wall = -1;
        goto done;
    }
    for (int i = 0; i < threads; i++) {
        if (jobs[i].rc < 0 && !failed) {
            failed = 1;
            snprintf(why, why_size, "thread %d: %.600s", i, jobs[i].error);
        } else if (!failed && strcmp(jobs[i].sha256, jobs[0].sha256) != 0) {
            failed = 1;
            snprintf(why, why_size, "threads got different content");
        }
    }
    if (failed) {
        wall = -1;
        goto done;
    }
    *blob_gets = bench_server_stat(srv, "GET blob");
    *meta_gets = bench_server_stat(srv, "GET artifacts") + bench_server_stat(srv, "GET artifact");
    glarex_ctx_stats(st, ctx);
done:
    glarex_ctx_free(ctx);
    test_rm_rf(cache);
    return wall;
}

json_t *bench_single(const bench_cfg *cfg, const bench_server *srv)
{
    uint64_t size = cfg->quick ? 256 * KIB : 32 * MIB;
    int rounds = cfg->quick ? 1 : 5;
    json_t *res = json_object();
    char path[400], why[700] = "";
    glarex_error err;
    double t1[BENCH_MAX_ROUNDS], t64[BENCH_MAX_ROUNDS];
    int max_gets = -1, gets1 = -1, meta64 = -1;
    glarex_stats st64;

    memset(&st64, 0, sizeof(st64));
    bench_out("\n4. Single-flight: %d threads of one context ask for one cold %llu KiB blob "
              "(%d rounds, paired: median and spread)\n",
              SF_THREADS, (unsigned long long)(size / KIB), rounds);
    json_object_set_new(res, "threads", json_integer(SF_THREADS));
    json_object_set_new(res, "size", json_integer((json_int_t)size));
    json_object_set_new(res, "rounds", json_integer(rounds));
    glarex_error_clear(&err);
    if (!srv || !srv->url[0]) {
        snprintf(why, sizeof(why), "no test server");
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/sf.bin", cfg->workdir);
    bench_res r = {"sf.bin", path};
    if (bench_write_file(path, size, 0, 7) < 0 ||
        bench_make_artifact(NULL, srv->url, "bench_sf", "1.0", &r, 1, &err) < 0) {
        snprintf(why, sizeof(why), "setup: %s", err.message[0] ? err.message : path);
        goto fail;
    }
    remove(path);

    for (int round = 0; round < rounds; round++) {
        int g = -1, m = -1;
        glarex_stats st;
        double w1 = sf_round(cfg, srv, 1, &g, &m, &st, why, sizeof(why));
        if (w1 < 0)
            goto fail;
        gets1 = g;
        t1[round] = w1;
        double w64 = sf_round(cfg, srv, SF_THREADS, &g, &m, &st, why, sizeof(why));
        if (w64 < 0)
            goto fail;
        if (g > max_gets) {
            max_gets = g;
            meta64 = m;
            st64 = st;
        }
        t64[round] = w64;
    }
    bench_ratio ratio = bench_ratio_of(t64, t1, (size_t)rounds);
    double med1 = bench_median(t1, (size_t)rounds), med64 = bench_median(t64, (size_t)rounds);
    char spread[64];
    bench_ratio_text(spread, sizeof(spread), ratio);
    json_object_set_new(res, "blob_gets", json_integer(max_gets));
    json_object_set_new(res, "blob_gets_single_fetch", json_integer(gets1));
    json_object_set_new(res, "metadata_gets", json_integer(meta64));
    json_object_set_new(res, "downloads", json_integer((json_int_t)st64.downloads));
    json_object_set_new(res, "coalesced_waits", json_integer((json_int_t)st64.coalesced_waits));
    json_object_set_new(res, "wall_ms", json_real(med64 * 1e3));
    json_object_set_new(res, "single_fetch_ms", json_real(med1 * 1e3));
    bench_ratio_put(res, "ratio", ratio);
    bench_out("   GETs of the blob at the server: %d (must be 1; worst round); metadata GETs: "
              "%d; coalesced waits: %llu\n",
              max_gets, meta64, (unsigned long long)st64.coalesced_waits);
    bench_out("   wall time (medians): %d threads %.1f ms, one fetch %.1f ms; %d threads / one "
              "fetch, paired: %s\n",
              SF_THREADS, med64 * 1e3, med1 * 1e3, SF_THREADS, spread);
    return res;

fail:
    bench_out("   ERROR: %s\n", why);
    json_object_set_new(res, "error", json_string(why));
    return res;
}
