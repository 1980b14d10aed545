/* glarex-bench group 2: warm glare(): total cache hits per second on 1, 2 and N threads
 * and the scaling between them, for a resource held in memory and one above the stream
 * threshold (mapped), plus a tenant's scoped hit against the context's own. A hit hands
 * out the cached, reference-counted blob: no copy, so the rate must not depend on the
 * size. Runs of one round are made back to back and compared pairwise. */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct warm_job {
    glarex_ctx *ctx;
    glarex_request *req; /* NULL: the context's own identity */
    const char *key;
    atomic_int *stop;
    atomic_int *go;
    uint64_t calls;
    double cpu_s;  /* the thread's CPU time while calling */
    long waits;    /* times it slept (voluntary context switches): blocked on a lock */
    long preempts; /* times the kernel ran something else instead (involuntary) */
    unsigned char touched; /* the bytes read, so that reading them is not optimised away */
    int failed;
    char error[GLAREX_ERROR_MESSAGE_LENGTH];
} warm_job;

#define MAX_THREADS 256
#define MAX_COUNTS 3 /* 1, 2 and N threads */

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void thread_switches(long *waits, long *preempts)
{
    struct rusage ru;
    *waits = *preempts = 0;
    if (getrusage(RUSAGE_THREAD, &ru) == 0) {
        *waits = ru.ru_nvcsw;
        *preempts = ru.ru_nivcsw;
    }
}

static void *warm_thread(void *arg)
{
    warm_job *j = arg;
    glarex_error err;
    uint64_t calls = 0;
    unsigned char touched = 0; /* local: a shared sink would be a shared cache line */

    while (!atomic_load(j->go))
        sched_yield();
    double cpu0 = thread_cpu_s();
    long waits0, preempts0;
    thread_switches(&waits0, &preempts0);
    while (!atomic_load_explicit(j->stop, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
            glarex_blob *b = NULL;
            int rc = j->req ? glarex_request_fetch(&b, j->req, "bench_warm", "1.0", j->key, &err)
                            : glarex_fetch(&b, j->ctx, "bench_warm", "1.0", j->key, &err);
            if (rc < 0) {
                j->failed = 1;
                snprintf(j->error, sizeof(j->error), "%s", err.message);
                atomic_store(j->stop, 1);
                break;
            }
            const char *d = glarex_blob_data(b);
            uint64_t n = glarex_blob_size(b);
            if (d && n)
                touched ^= (unsigned char)(d[0] ^ d[n - 1]);
            glarex_blob_free(b);
            calls++;
        }
    }
    j->calls = calls;
    j->cpu_s = thread_cpu_s() - cpu0;
    thread_switches(&j->waits, &j->preempts);
    j->waits -= waits0;
    j->preempts -= preempts0;
    j->touched = touched;
    return NULL;
}

/* `threads` threads calling glare() for `seconds`, as `req` (NULL: the context's own
 * identity): total calls per second of all threads, or -1 with `why` filled. `per_cpu`
 * (may be NULL) receives the calls per second of CPU time the threads used: on a
 * machine loaded by others, the cost of a hit whether or not the threads ran. */
static long run_waits, run_preempts; /* of the last run, all threads */

static double hits_per_sec(glarex_ctx *ctx, glarex_request *req, const char *key, int threads,
                           double seconds, uint64_t *calls, double *per_cpu, char *why,
                           size_t why_size)
{
    static warm_job jobs[MAX_THREADS]; /* one group runs at a time */
    pthread_t tid[MAX_THREADS];
    atomic_int stop = 0, go = 0;
    uint64_t total = 0;
    double t0, elapsed, cpu = 0;
    int started = 0, failed = 0;

    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (warm_job){ctx, req, key, &stop, &go, 0, 0, 0, 0, 0, 0, ""};
        if (pthread_create(&tid[i], NULL, warm_thread, &jobs[i]) != 0)
            break;
        started++;
    }
    if (started < threads) {
        snprintf(why, why_size, "pthread_create failed");
        atomic_store(&stop, 1);
    }
    run_waits = run_preempts = 0;
    t0 = bench_now();
    atomic_store(&go, 1);
    if (!atomic_load(&stop)) {
        struct timespec ts = {(time_t)seconds,
                              (long)((seconds - (double)(time_t)seconds) * 1e9)};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        total += jobs[i].calls;
        cpu += jobs[i].cpu_s;
        run_waits += jobs[i].waits;
        run_preempts += jobs[i].preempts;
        if (jobs[i].failed && !failed) {
            failed = 1;
            snprintf(why, why_size, "%s", jobs[i].error);
        }
    }
    elapsed = bench_now() - t0;
    if (calls)
        *calls += total;
    if (per_cpu)
        *per_cpu = cpu > 0 ? (double)total / cpu : -1;
    if (failed || started == 0 || started < threads)
        return -1;
    return (double)total / elapsed;
}

/* The same through the evaluator: `<% glare('bench_warm', '1.0', KEY) %>`, one thread.
 * The result is a JSON string, which does copy the content. */
static double eval_calls_per_sec(glarex_ctx *ctx, const char *key, double seconds,
                                 char *why, size_t why_size)
{
    glarex_eval *ev = NULL;
    glarex_error err;
    char expr[128];
    uint64_t calls = 0;
    double t0, el;

    snprintf(expr, sizeof(expr), "<%% glare('bench_warm', '1.0', '%s') %%>", key);
    if (glarex_eval_new(&ev, ctx, NULL, &err) < 0)
        goto fail;
    json_t *ctxv = json_pack("{s:i}", "x", 1);
    t0 = bench_now();
    do {
        for (int i = 0; i < 4; i++) {
            json_t *out = NULL;
            if (glarex_eval_string(&out, ev, expr, ctxv, &err) < 0) {
                json_decref(ctxv);
                goto fail;
            }
            json_decref(out);
            calls++;
        }
        el = bench_now() - t0;
    } while (el < seconds);
    json_decref(ctxv);
    glarex_eval_free(ev);
    return (double)calls / el;
fail:
    snprintf(why, why_size, "%s", err.message);
    glarex_eval_free(ev);
    return -1;
}

json_t *bench_warm(const bench_cfg *cfg, const bench_server *srv)
{
    static const struct {
        const char *key;
        uint64_t size;
        const char *label;
    } sizes[] = {{"r4k.txt", 4 * KIB, "4 KiB (in memory)"},
                 {"r16m.txt", 16 * MIB, "16 MiB (streamed, mapped)"}};
    enum { NSIZES = 2 };
    json_t *res = json_object(), *arr = json_array();
    char cache[300] = "", why[600] = "", p[NSIZES][400], err_run[600] = "";
    glarex_ctx *ctx = NULL;
    glarex_request *req = NULL;
    glarex_request_options ro = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_error err;
    glarex_stats before, after;
    bench_res r[NSIZES];
    int counts[MAX_COUNTS] = {1, 2, bench_ncpu()}, ncounts = counts[2] > 2 ? 3 : 2;
    double seconds = cfg->quick ? 0.05 : 0.3;
    int rounds = cfg->quick ? 1 : 7;
    long waits2 = 0, preempts2 = 0; /* over every 2-thread run */
    double rate[NSIZES][MAX_COUNTS][BENCH_MAX_ROUNDS], cpu[NSIZES][MAX_COUNTS][BENCH_MAX_ROUNDS],
        own[BENCH_MAX_ROUNDS],
        scoped[BENCH_MAX_ROUNDS];
    uint64_t calls = 0;

    if (counts[2] > MAX_THREADS)
        counts[2] = MAX_THREADS;
    bench_out("\n2. Warm glare(): cache hits per second, all threads together (glarex_fetch "
              "for %.2f s per run; data touched; %d rounds, the runs of a round back to "
              "back)\n",
              seconds, rounds);
    json_object_set_new(res, "seconds", json_real(seconds));
    json_object_set_new(res, "rounds", json_integer(rounds));
    json_object_set_new(res, "threads_n", json_integer(counts[ncounts - 1]));
    json_object_set_new(res, "results", arr);
    glarex_error_clear(&err);
    if (!srv || !srv->url[0]) {
        snprintf(why, sizeof(why), "no test server");
        goto fail;
    }
    for (int i = 0; i < NSIZES; i++) {
        snprintf(p[i], sizeof(p[i]), "%s/%s", cfg->workdir, sizes[i].key);
        if (bench_write_file(p[i], sizes[i].size, 1, 100 + (uint64_t)i) < 0) {
            snprintf(why, sizeof(why), "cannot write %s", p[i]);
            goto fail;
        }
        r[i] = (bench_res){sizes[i].key, p[i]};
    }
    ro.auth_token = BENCH_TOKEN;
    ro.execution_id = "bench";
    if (bench_make_artifact(NULL, srv->url, "bench_warm", "1.0", r, NSIZES, &err) < 0 ||
        bench_mkdtemp(cache, sizeof(cache), cfg->workdir, "warmcache") < 0 ||
        bench_ctx_new(&ctx, srv->url, cache, &err) < 0 ||
        glarex_request_new(&req, ctx, &ro, &err) < 0) {
        snprintf(why, sizeof(why), "setup: %s", err.message[0] ? err.message : "mkdtemp");
        goto fail;
    }
    for (int i = 0; i < NSIZES; i++) { /* warm the cache, for both identities */
        glarex_blob *b = NULL;
        if (glarex_fetch(&b, ctx, "bench_warm", "1.0", sizes[i].key, &err) < 0 ||
            !glarex_blob_data(b)) {
            snprintf(why, sizeof(why), "first fetch: %s", err.message);
            glarex_blob_free(b);
            goto fail;
        }
        glarex_blob_free(b);
    }
    {
        glarex_blob *b = NULL;
        if (glarex_request_fetch(&b, req, "bench_warm", "1.0", sizes[0].key, &err) < 0) {
            snprintf(why, sizeof(why), "first scoped fetch: %s", err.message);
            goto fail;
        }
        glarex_blob_free(b);
    }
    glarex_ctx_stats(&before, ctx);

    /* Noise hits runs, not configurations: every round runs each one once, in a row. */
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < NSIZES; i++)
            for (int c = 0; c < ncounts; c++)
            {
                rate[i][c][round] = hits_per_sec(ctx, NULL, sizes[i].key, counts[c], seconds,
                                                 &calls, &cpu[i][c][round], err_run,
                                                 sizeof(err_run));
                if (counts[c] == 2) {
                    waits2 += run_waits;
                    preempts2 += run_preempts;
                }
            }
        own[round] = hits_per_sec(ctx, NULL, sizes[0].key, 1, seconds, &calls, NULL, err_run,
                                  sizeof(err_run));
        scoped[round] = hits_per_sec(ctx, req, sizes[0].key, 1, seconds, &calls, NULL,
                                     err_run, sizeof(err_run));
    }
    glarex_ctx_stats(&after, ctx);

    bench_out("   %-27s %14s %14s %14s %20s %20s %16s\n", "resource", "1 thread /s",
              "2 threads /s", ncounts > 2 ? "N threads /s" : "", "2 threads / 1",
              "per CPU s, 2 / 1", "via evaluator /s");
    for (int i = 0; i < NSIZES; i++) {
        json_t *e = json_pack("{s:s, s:I, s:b}", "resource", sizes[i].key, "size",
                              (json_int_t)sizes[i].size, "streamed",
                              sizes[i].size > 8 * MIB);
        double med[MAX_COUNTS] = {0};
        char cell[MAX_COUNTS][32], sc[64], sp[64], ev[32];
        for (int c = 0; c < ncounts; c++) {
            double v[BENCH_MAX_ROUNDS];
            int ok = 1;
            for (int k = 0; k < rounds; k++)
                ok &= (v[k] = rate[i][c][k]) > 0;
            med[c] = ok ? bench_median(v, (size_t)rounds) : -1;
            snprintf(cell[c], sizeof(cell[c]), med[c] > 0 ? "%.0f" : "ERROR", med[c]);
            char key[32];
            snprintf(key, sizeof(key), "hits_per_s_%d_thread%s", counts[c],
                     counts[c] > 1 ? "s" : "");
            json_object_set_new(e, c == 2 ? "hits_per_s_n_threads" : key,
                                med[c] > 0 ? json_real(med[c]) : json_null());
        }
        bench_ratio s2 = bench_ratio_of(rate[i][1], rate[i][0], (size_t)rounds);
        bench_ratio_put(e, "scaling_2_threads", s2);
        if (ncounts > 2)
            bench_ratio_put(e, "scaling_n_threads",
                      bench_ratio_of(rate[i][2], rate[i][0], (size_t)rounds));
        bench_ratio_text(sc, sizeof(sc), s2);
        /* 1.00: a hit costs the same CPU time on two threads as on one (no contention) */
        bench_ratio cpu2 = bench_ratio_of(cpu[i][1], cpu[i][0], (size_t)rounds);
        bench_ratio_put(e, "cpu_efficiency_2_threads", cpu2);
        bench_ratio_text(sp, sizeof(sp), cpu2);
        double evr = eval_calls_per_sec(ctx, sizes[i].key, seconds, why, sizeof(why));
        json_object_set_new(e, "eval_calls_per_sec", evr > 0 ? json_real(evr) : json_null());
        snprintf(ev, sizeof(ev), evr > 0 ? "%.0f" : "ERROR", evr);
        bench_out("   %-27s %14s %14s %14s %20s %20s %16s\n", sizes[i].label, cell[0],
                  cell[1], ncounts > 2 ? cell[2] : "", sc, sp, ev);
        if (i == 0) { /* the headline figures: the resource held in memory */
            json_object_set_new(res, "hits_per_s_1_thread",
                                med[0] > 0 ? json_real(med[0]) : json_null());
            json_object_set_new(res, "hits_per_s_2_threads",
                                med[1] > 0 ? json_real(med[1]) : json_null());
            bench_ratio_put(res, "scaling_2_threads", s2);
            bench_ratio_put(res, "cpu_efficiency_2_threads", cpu2);
        }
        json_array_append_new(arr, e);
    }
    if (err_run[0]) {
        bench_out("      error: %s\n", err_run);
        json_object_set_new(res, "error", json_string(err_run));
    }
    if (why[0])
        bench_out("      evaluator error: %s\n", why);

    bench_ratio size_ratio = bench_ratio_of(rate[0][0], rate[1][0], (size_t)rounds);
    bench_ratio_put(res, "ratio_4k_over_16m_1_thread", size_ratio);
    bench_ratio cost = bench_ratio_of(own, scoped, (size_t)rounds);
    bench_ratio_put(res, "scoped_cost_ratio", cost);
    if (cost.n == rounds) { /* the two rates themselves, for comparing builds */
        json_object_set_new(res, "own_hits_per_s_1_thread",
                            json_real(bench_median(own, (size_t)rounds)));
        json_object_set_new(res, "scoped_hits_per_s_1_thread",
                            json_real(bench_median(scoped, (size_t)rounds)));
    }
    json_object_set_new(res, "downloads_while_timing",
                        json_integer((json_int_t)(after.downloads - before.downloads)));
    json_object_set_new(res, "revalidations_while_timing",
                        json_integer((json_int_t)(after.revalidations - before.revalidations)));
    json_object_set_new(res, "calls_while_timing", json_integer((json_int_t)calls));
    json_object_set_new(res, "waits_2_threads", json_integer(waits2));
    json_object_set_new(res, "preemptions_2_threads", json_integer(preempts2));
    json_object_set_new(res, "hits_counted_while_timing",
                        json_integer((json_int_t)(after.hits - before.hits)));
    if (cost.n)
        bench_out("   a tenant's scoped hit (glarex_request_fetch) costs %.2fx the context's "
                  "own (median of %d pairs, %.2f-%.2f; 1 thread, 4 KiB)\n",
                  cost.median, cost.n, cost.lo, cost.hi);
    if (size_ratio.n)
        bench_out("   rate 4 KiB / rate 16 MiB on 1 thread: %.2f (1.00 = independent of size)\n",
                  size_ratio.median);
    bench_out("   2-thread runs: the threads slept %ld times (blocked: 0 when no lock is "
              "contended) and were preempted %ld times (by the machine's other work)\n",
              waits2, preempts2);
    bench_out("   while timing: %llu calls, %llu counted as hits, %llu downloads, %llu "
              "revalidations\n",
              (unsigned long long)calls, (unsigned long long)(after.hits - before.hits),
              (unsigned long long)(after.downloads - before.downloads),
              (unsigned long long)(after.revalidations - before.revalidations));
    glarex_request_free(req);
    glarex_ctx_free(ctx);
    test_rm_rf(cache);
    return res;

fail:
    bench_out("   ERROR: %s\n", why);
    json_object_set_new(res, "error", json_string(why));
    glarex_request_free(req);
    glarex_ctx_free(ctx);
    if (cache[0])
        test_rm_rf(cache);
    return res;
}
