/*
 * The fetch path against the test server: cold fetches of blobs larger than the
 * background hasher's ring (verified, and nothing visible when the body is corrupt or
 * cut off), and warm hits (counted, served to many threads while answers are
 * invalidated, never served past their TTL, valid after the context is gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "src/clock.h"
#include "src/common.h"
#include "src/digest.h"
#include "src/ring.h"

#define ALICE "alice:projA:member"
#define BOB "bob:projB:member"
/* More than the hasher's ring of blocks, and over the stream threshold set below. */
#define BIG_SIZE ((GLAREX__RING_BLOCKS + 2) * GLAREX__RING_BLOCK + 12345)

typedef struct fixture {
    test_server srv;
    char cache[256];
    char id[64];
    unsigned char *big;
    char big_sha[65];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || test_server_start(&f->srv, NULL) < 0 ||
        test_mkdtemp(f->cache, sizeof(f->cache), "cache") < 0)
        return -1;
    f->big = malloc(BIG_SIZE);
    if (!f->big)
        return -1;
    uint64_t x = 7;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        f->big[i] = (unsigned char)(x >> 56);
    }
    glarex__digest_buffer(f->big, BIG_SIZE, f->big_sha, NULL);
    test_resource res[] = {{"big.bin", f->big, BIG_SIZE}, {"s.sh", "echo one\n", 9}};
    if (test_store_artifact(f->id, f->srv.url, ALICE, "wf", "1.0", res, 2, 1) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_server_stop(&f->srv);
    test_rm_rf(f->cache);
    free(f->big);
    free(f);
    return 0;
}

/* Every test starts with an empty cache and no faults. */
static int fresh(void **state)
{
    fixture *f = *state;
    test_rm_rf(f->cache);
    return test_server_request(&f->srv, "DELETE", "/__control/faults", NULL, NULL, NULL,
                               NULL) == 200
               ? 0
               : -1;
}

static void ttl(glarex_ctx_options *o, long ms)
{
    o->ttl_exact_ms = ms;
    o->ttl_latest_ms = ms;
}

static glarex_ctx *new_ctx(fixture *f, long ttl_ms)
{
    glarex_ctx_options o = GLAREX_CTX_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_error err;

    o.store.url = f->srv.url;
    o.store.client.auth_token = ALICE;
    o.cache_dir = f->cache;
    o.stream_threshold = 1024 * 1024;
    if (ttl_ms)
        ttl(&o, ttl_ms);
    if (glarex_ctx_new(&ctx, &o, &err) < 0)
        fail_msg("glarex_ctx_new: %s", err.message);
    return ctx;
}

static void fault(fixture *f, const char *kind)
{
    char rule[200];
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"%s\", \"method\": \"GET\", \"path\": \"*/resources/big.bin\", "
             "\"count\": -1}",
             kind);
    assert_int_equal(test_server_request(&f->srv, "POST", "/__control/faults", NULL,
                                         "application/json", rule, NULL),
                     201);
}

/* Regular files under `sub` of the cache directory (recursively). */
static int files_under(fixture *f, const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->cache, sub);
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (e->d_type == DT_DIR) {
            char inner[600];
            snprintf(inner, sizeof(inner), "%s/%s", sub, e->d_name);
            n += files_under(f, inner);
        } else {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* {======================================================================
 * Cold fetches
 * ====================================================================== */

static void test_fetch_path__large_cold_fetch_is_verified_and_published(void **state)
{
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;

    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err), 0);
    assert_string_equal(glarex_blob_sha256(b), f->big_sha);
    assert_int_equal(glarex_blob_size(b), BIG_SIZE);
    assert_memory_equal(glarex_blob_data(b), f->big, BIG_SIZE);
    assert_int_equal(files_under(f, "objects"), 1);
    assert_int_equal(files_under(f, "tmp"), 0);
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
}

static void expect_nothing_visible(fixture *f, const char *kind, int code)
{
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;
    glarex_stats st;

    fault(f, kind);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err), code);
    assert_null(b);
    glarex_ctx_stats(&st, ctx);
    assert_int_equal(st.disk_bytes, 0);
    assert_int_equal(files_under(f, "objects"), 0); /* nothing published */
    assert_int_equal(files_under(f, "tmp"), 0);     /* and no temporary file left */
    glarex_ctx_free(ctx);
}

static void test_fetch_path__corrupt_large_download_leaves_nothing(void **state)
{
    fixture *f = *state;
    expect_nothing_visible(f, "corrupt", GLAREX_ECHECKSUM);
}

static void test_fetch_path__interrupted_large_download_leaves_nothing(void **state)
{
    fixture *f = *state;
    expect_nothing_visible(f, "truncate", GLAREX_ENETWORK);
    fresh(state);
    expect_nothing_visible(f, "reset", GLAREX_ENETWORK);
}

/* MD5 only where no stronger digest is known: a cache fill, which expects the sha256,
 * does not compute the md5 and so cannot be failed by a wrong Content-MD5; a caller who
 * asks for the digests still gets the md5 checked. */
static void test_fetch_path__md5_only_where_no_sha256_is_expected(void **state)
{
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;

    assert_int_equal(
        test_server_request(&f->srv, "POST", "/__control/faults", NULL, "application/json",
                            "{\"kind\": \"badsum\", \"which\": \"md5\", \"method\": \"GET\", "
                            "\"path\": \"*/resources/*\", \"count\": -1}",
                            NULL),
        201);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err), 0);
    assert_string_equal(glarex_blob_sha256(b), f->big_sha); /* verified by its sha256 */
    glarex_blob_free(b);

    glarex_client_options co = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_client *client = NULL;
    glarex_download_info info;
    glarex_digests expect;
    glarex_blob_loc loc = {"workflows", f->id, "resources", "s.sh"};
    glarex_buf bytes = GLAREX_BUF_INIT;
    co.url = f->srv.url;
    co.auth_token = ALICE;
    memset(&expect, 0, sizeof(expect));
    expect.size = -1;
    assert_int_equal(glarex_client_new(&client, &co, &err), 0);
    assert_int_equal(glarex_client_download_buffer(&bytes, &info, client, &loc, &expect, &err),
                     GLAREX_ECHECKSUM);
    assert_non_null(strstr(err.message, "md5 mismatch"));
    glarex_buf_dispose(&bytes);
    glarex_client_free(client);
    glarex_ctx_free(ctx);
}

/* The file is written on the writer's own thread: a failed write (here the file size
 * limit, as a full disk would) still fails the fetch, names the file, leaves nothing. */
static void test_fetch_path__failed_write_of_a_large_download_leaves_nothing(void **state)
{
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;
    struct rlimit old, small = {3 * 1024 * 1024, 0};

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN); /* write(2) then fails with EFBIG */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, GLAREX_EIO);
    assert_null(b);
    assert_non_null(strstr(err.message, "cannot write"));
    assert_non_null(strstr(err.message, "/tmp/"));
    assert_int_equal(files_under(f, "objects"), 0);
    assert_int_equal(files_under(f, "tmp"), 0);
    /* the limit gone, the same context fetches it */
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err), 0);
    assert_string_equal(glarex_blob_sha256(b), f->big_sha);
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
}

/* }====================================================================== */

/* {======================================================================
 * Warm hits
 * ====================================================================== */

static void test_fetch_path__hits_are_counted(void **state)
{
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;
    glarex_stats before, after;

    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
    glarex_blob_free(b);
    glarex_ctx_stats(&before, ctx);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
        glarex_blob_free(b);
    }
    glarex_ctx_stats(&after, ctx);
    assert_int_equal(after.hits - before.hits, 10);
    assert_int_equal(after.downloads, before.downloads);
    glarex_ctx_free(ctx);
}

typedef struct hit_job {
    glarex_ctx *ctx;
    glarex_request *req; /* NULL: the context's own identity */
    atomic_int *stop;
    const fixture *f;
    atomic_long calls;
    atomic_int bad;
    char error[GLAREX_ERROR_MESSAGE_LENGTH];
} hit_job;

static void *hit_loop(void *arg)
{
    hit_job *j = arg;
    glarex_error err;
    while (!atomic_load(j->stop) && !j->bad) {
        glarex_blob *b = NULL;
        int big = atomic_load(&j->calls) % 3 == 0;
        const char *key = big ? "big.bin" : "s.sh";
        int rc = j->req ? glarex_request_fetch(&b, j->req, "wf", "1.0", key, &err)
                        : glarex_fetch(&b, j->ctx, "wf", "1.0", key, &err);
        if (rc < 0) {
            j->bad = 1;
            snprintf(j->error, sizeof(j->error), "%s", err.message);
            break;
        }
        const char *d = glarex_blob_data(b);
        if (big ? !d || glarex_blob_size(b) != BIG_SIZE || d[BIG_SIZE - 1] != (char)j->f->big[BIG_SIZE - 1] ||
                      strcmp(glarex_blob_sha256(b), j->f->big_sha) != 0
                : !d || glarex_blob_size(b) != 9 || memcmp(d, "echo one\n", 9) != 0) {
            j->bad = 1;
            snprintf(j->error, sizeof(j->error), "wrong content for %s", key);
        }
        glarex_blob_free(b);
        atomic_fetch_add(&j->calls, 1);
    }
    return NULL;
}

static void test_fetch_path__hits_on_many_threads_while_answers_are_invalidated(void **state)
{
    enum { THREADS = 12 };
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_request_options ro = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_request *bob = NULL;
    glarex_error err;
    hit_job jobs[THREADS];
    pthread_t tid[THREADS];
    atomic_int stop = 0;

    ro.auth_token = ALICE;
    ro.project_id = "projA";
    assert_int_equal(glarex_request_new(&bob, ctx, &ro, &err), 0);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (hit_job){ctx, i % 2 ? bob : NULL, &stop, f, 0, 0, ""};
        assert_int_equal(pthread_create(&tid[i], NULL, hit_loop, &jobs[i]), 0);
    }
    /* every invalidation makes the next caller of each answer ask the store again;
     * then every thread makes some calls more, however slow the machine */
    for (int i = 0, busy = 1; i < 40 || busy; i++) {
        if (i < 40)
            assert_int_equal(glarex_ctx_invalidate(ctx, "wf", NULL, &err), 0);
        usleep(5000);
        busy = 0;
        for (int k = 0; k < THREADS; k++)
            busy |= atomic_load(&jobs[k].calls) < 20 && !atomic_load(&jobs[k].bad);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        if (jobs[i].bad)
            fail_msg("thread %d: %s", i, jobs[i].error);
    }
    glarex_stats st;
    glarex_ctx_stats(&st, ctx);
    assert_true(st.revalidations + st.resolutions >= 2);
    assert_int_equal(st.downloads, 2); /* content once per sha256, however often asked */
    glarex_request_free(bob);
    glarex_ctx_free(ctx);
}

static void test_fetch_path__invalidation_reaches_the_next_hit(void **state)
{
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    glarex_blob *b = NULL;
    glarex_error err;

    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
    glarex_blob_free(b);
    int n = test_server_count(&f->srv, "GET", NULL);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
    glarex_blob_free(b);
    assert_int_equal(test_server_count(&f->srv, "GET", NULL), n); /* a hit */
    assert_int_equal(glarex_ctx_invalidate(ctx, "wf", NULL, &err), 0);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
    glarex_blob_free(b);
    assert_true(test_server_count(&f->srv, "GET", NULL) > n); /* asked the store */
    glarex_ctx_free(ctx);
}

/* The hit path reads the coarse clock, which lags the wall clock by up to a tick: an
 * answer must still never be served past its TTL, nor expire early. */
static void test_fetch_path__ttl_holds_with_the_coarse_clock(void **state)
{
    enum { TTL_MS = 60, ROUNDS = 6 };
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, TTL_MS);
    glarex_blob *b = NULL;
    glarex_error err;
    glarex_stats st;

    for (int round = 0; round < ROUNDS; round++) {
        /* resolved (again) now: the answer expires TTL_MS after this */
        assert_int_equal(glarex_ctx_invalidate(ctx, "wf", NULL, &err), 0);
        int64_t t0 = glarex__now_ms();
        assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
        glarex_blob_free(b);
        int64_t t1 = glarex__now_ms();
        glarex_ctx_stats(&st, ctx);
        uint64_t asked = st.resolutions; /* each trip to the resolver */

        /* well inside the TTL: hits, never a request */
        while (glarex__now_ms() < t0 + TTL_MS / 2) {
            assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
            glarex_blob_free(b);
        }
        glarex_ctx_stats(&st, ctx);
        assert_int_equal(st.resolutions, asked);

        /* a millisecond past it (on the exact clock), at a phase of the tick that
         * moves with each round: the store is asked */
        struct timespec pause = {0, (long)round * 700000};
        nanosleep(&pause, NULL);
        while (glarex__now_ms() <= t1 + TTL_MS)
            usleep(200);
        assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
        glarex_blob_free(b);
        glarex_ctx_stats(&st, ctx);
        assert_int_equal(st.resolutions, asked + 1);
    }
    glarex_ctx_free(ctx);
}

typedef struct outlive_job {
    glarex_ctx *ctx;
    glarex_blob *blob;
} outlive_job;

static void *fetch_one(void *arg)
{
    outlive_job *j = arg;
    glarex_error err;
    if (glarex_fetch(&j->blob, j->ctx, "wf", "1.0", "s.sh", &err) < 0)
        j->blob = NULL;
    return NULL;
}

static void test_fetch_path__hits_of_other_threads_outlive_the_context(void **state)
{
    enum { THREADS = 4 };
    fixture *f = *state;
    glarex_ctx *ctx = new_ctx(f, 0);
    outlive_job jobs[THREADS];
    pthread_t tid[THREADS];
    glarex_blob *mine = NULL;
    glarex_error err;

    assert_int_equal(glarex_fetch(&mine, ctx, "wf", "1.0", "s.sh", &err), 0);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (outlive_job){ctx, NULL};
        assert_int_equal(pthread_create(&tid[i], NULL, fetch_one, &jobs[i]), 0);
        pthread_join(tid[i], NULL); /* one after the other: each thread its own lane */
        assert_non_null(jobs[i].blob);
    }
    glarex_ctx_free(ctx);
    for (int i = 0; i < THREADS; i++) {
        assert_string_equal(glarex_blob_sha256(jobs[i].blob), glarex_blob_sha256(mine));
        assert_memory_equal(glarex_blob_data(jobs[i].blob), "echo one\n", 9);
        assert_string_equal(glarex_blob_version(jobs[i].blob), "1.0.0");
        glarex_blob_free(jobs[i].blob);
    }
    assert_memory_equal(glarex_blob_data(mine), "echo one\n", 9);
    glarex_blob_free(mine);
}

/* }====================================================================== */

int main(void)
{
#define T(fn) cmocka_unit_test_setup(fn, fresh)
    const struct CMUnitTest tests[] = {
        T(test_fetch_path__large_cold_fetch_is_verified_and_published),
        T(test_fetch_path__corrupt_large_download_leaves_nothing),
        T(test_fetch_path__interrupted_large_download_leaves_nothing),
        T(test_fetch_path__failed_write_of_a_large_download_leaves_nothing),
        T(test_fetch_path__md5_only_where_no_sha256_is_expected),
        T(test_fetch_path__hits_are_counted),
        T(test_fetch_path__hits_on_many_threads_while_answers_are_invalidated),
        T(test_fetch_path__invalidation_reaches_the_next_hit),
        T(test_fetch_path__ttl_holds_with_the_coarse_clock),
        T(test_fetch_path__hits_of_other_threads_outlive_the_context),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
