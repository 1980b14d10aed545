/*
 * The resolver and the memoizing cache behind glarex_fetch, against the test server:
 * requests are counted in the server's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "src/common.h"

#define ALICE "alice:projA:member"
#define BOB "bob:projB:member"
#define ADMIN_B "root:projB:admin"

typedef struct fixture {
    test_server srv;
    char cache[256];
    glarex_store *store; /* alice's */
} fixture;

static int setup_with(void **state, const char *const *extra)
{
    fixture *f = calloc(1, sizeof(*f));
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_error err;

    if (!f || test_server_start(&f->srv, extra) < 0)
        return -1;
    if (test_mkdtemp(f->cache, sizeof(f->cache), "cache") < 0)
        return -1;
    so.url = f->srv.url;
    so.client.auth_token = ALICE;
    if (glarex_store_open(&f->store, &so, &err) < 0) {
        fprintf(stderr, "store: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_big(void **state)
{
    const char *extra[] = {"--max-blob-size", "209715200", NULL};
    return setup_with(state, extra);
}

static int teardown(void **state)
{
    fixture *f = *state;
    glarex_store_free(f->store);
    test_server_stop(&f->srv);
    test_rm_rf(f->cache);
    free(f);
    return 0;
}

static glarex_ctx *new_ctx(fixture *f, const char *token, void (*tweak)(glarex_ctx_options *))
{
    glarex_ctx_options o = GLAREX_CTX_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_error err;

    o.store.url = f->srv.url;
    o.store.client.auth_token = token;
    o.cache_dir = f->cache;
    if (tweak)
        tweak(&o);
    if (glarex_ctx_new(&ctx, &o, &err) < 0)
        fail_msg("glarex_ctx_new: %s", err.message);
    return ctx;
}

/* Creates name/version with a workflow and one resource; returns the id (static). */
static const char *make_artifact_as(glarex_store *store, const char *name, const char *version,
                                    const char *key, const char *content, int activate)
{
    static char id[64];
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", version);
    json_t *art = NULL;
    glarex_error err;
    glarex_blob_loc loc = {"workflows", NULL, "workflow", NULL};

    if (glarex_store_create(&art, store, "workflows", fields, &err) < 0)
        fail_msg("create: %s", err.message);
    json_decref(fields);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(art, "id")));
    json_decref(art);
    loc.id = id;
    if (glarex_store_upload_buffer(&art, store, &loc, "version: '2.0'\n", 14, "application/x-yaml",
                                   &err) < 0)
        fail_msg("upload workflow: %s", err.message);
    json_decref(art);
    loc.field = "resources";
    loc.key = key;
    if (glarex_store_upload_buffer(&art, store, &loc, content, strlen(content), "text/plain",
                                   &err) < 0)
        fail_msg("upload resource: %s", err.message);
    json_decref(art);
    if (activate) {
        if (glarex_store_activate(&art, store, "workflows", id, &err) < 0)
            fail_msg("activate: %s", err.message);
        json_decref(art);
    }
    return id;
}

static const char *make_artifact(fixture *f, const char *name, const char *version,
                                 const char *key, const char *content)
{
    return make_artifact_as(f->store, name, version, key, content, 1);
}

static void expect_content(glarex_ctx *ctx, const char *name, const char *version,
                           const char *key, const char *content)
{
    glarex_blob *b = NULL;
    glarex_error err;
    if (glarex_fetch(&b, ctx, name, version, key, &err) < 0)
        fail_msg("fetch %s %s %s: %s", name, version, key, err.message);
    assert_int_equal(glarex_blob_size(b), strlen(content));
    assert_memory_equal(glarex_blob_data(b), content, strlen(content));
    glarex_blob_free(b);
}

static int requests(fixture *f)
{
    return test_server_count(&f->srv, NULL, NULL);
}

static int blob_gets(fixture *f)
{
    int n = 0;
    FILE *log = fopen(f->srv.log_path, "r");
    char line[4096];
    while (log && fgets(line, sizeof(line), log))
        if (strstr(line, "\"GET /artifacts/workflows/") && strstr(line, "/resources/"))
            n++;
    if (log)
        fclose(log);
    return n;
}

static void short_ttls(glarex_ctx_options *o)
{
    o->ttl_exact_ms = 1000;
    o->ttl_latest_ms = 1000;
    o->ttl_negative_ms = 1000;
}

static void test_resolve__exact_hit_within_ttl_makes_no_request(void **state)
{
    fixture *f = *state;
    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);
    glarex_blob *a = NULL, *b = NULL;
    glarex_error err;

    assert_int_equal(glarex_fetch(&a, ctx, "wf", "1.0", "s.sh", &err), 0);
    int before = requests(f);
    assert_true(before >= 6); /* the log counts: create, 3 uploads, activate, list, get */
    assert_int_equal(blob_gets(f), 1);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), 0);
    assert_int_equal(requests(f), before);
    assert_ptr_equal(a, b); /* the same record: nothing copied */
    assert_ptr_equal(glarex_blob_data(a), glarex_blob_data(b));
    assert_string_equal(glarex_blob_version(a), "1.0.0");
    assert_string_equal(glarex_blob_key(a), "s.sh");
    glarex_blob_free(a);
    glarex_blob_free(b);

    glarex_stats st;
    glarex_ctx_stats(&st, ctx);
    assert_int_equal(st.downloads, 1);
    glarex_ctx_free(ctx);

    /* a second process sharing the cache directory makes no request either */
    before = requests(f);
    pid_t pid = fork();
    if (pid == 0) {
        glarex_ctx *c2 = new_ctx(f, ALICE, NULL);
        glarex_blob *x = NULL;
        int rc = glarex_fetch(&x, c2, "wf", "1.0", "s.sh", NULL);
        int ok = rc == 0 && glarex_blob_size(x) == 9 && memcmp(glarex_blob_data(x), "echo one\n", 9) == 0;
        glarex_blob_free(x);
        glarex_ctx_free(c2);
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(requests(f), before);
}

static void test_resolve__after_ttl_one_metadata_request_no_download(void **state)
{
    fixture *f = *state;
    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx *ctx = new_ctx(f, ALICE, short_ttls);

    expect_content(ctx, "wf", "1.0", "s.sh", "echo one\n");
    int before = requests(f), gets_before = blob_gets(f);
    usleep(1100 * 1000);
    expect_content(ctx, "wf", "1.0", "s.sh", "echo one\n");
    assert_int_equal(requests(f), before + 1);
    assert_int_equal(blob_gets(f), gets_before);
    assert_int_equal(test_server_count(&f->srv, "GET", "/artifacts/workflows?"), 2);

    glarex_stats st;
    glarex_ctx_stats(&st, ctx);
    assert_int_equal(st.revalidations, 1);
    assert_int_equal(st.downloads, 1);
    glarex_ctx_free(ctx);
}

static void test_resolve__latest_picks_up_a_new_version_after_ttl(void **state)
{
    fixture *f = *state;
    glarex_blob *b = NULL;
    glarex_error err;
    make_artifact(f, "wf", "1.0", "s.sh", "v1\n");
    glarex_ctx *ctx = new_ctx(f, ALICE, short_ttls);

    assert_int_equal(glarex_fetch_uri(&b, ctx, "glare://wf/s.sh", &err), 0);
    assert_string_equal(glarex_blob_version(b), "1.0.0");
    glarex_blob_free(b);

    make_artifact(f, "wf", "1.1", "s.sh", "v2\n");
    make_artifact_as(f->store, "wf", "2.0", "s.sh", "drafted\n", 0); /* never activated */
    assert_int_equal(glarex_fetch_uri(&b, ctx, "glare://wf/s.sh", &err), 0);
    assert_string_equal(glarex_blob_version(b), "1.0.0"); /* within the TTL */
    glarex_blob_free(b);

    usleep(1100 * 1000);
    assert_int_equal(glarex_fetch_uri(&b, ctx, "glare://wf/s.sh", &err), 0);
    assert_string_equal(glarex_blob_version(b), "1.1.0");
    assert_memory_equal(glarex_blob_data(b), "v2\n", 3);
    glarex_blob_free(b);

    /* a range names the highest active version inside it */
    assert_int_equal(glarex_fetch(&b, ctx, "wf", ">=1.0,<1.1", "s.sh", &err), 0);
    assert_string_equal(glarex_blob_version(b), "1.0.0");
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
}

static void test_resolve__deleted_and_recreated_is_noticed_after_ttl(void **state)
{
    fixture *f = *state;
    glarex_error err;
    char id[64];
    snprintf(id, sizeof(id), "%s", make_artifact(f, "wf", "1.0", "s.sh", "safe\n"));
    glarex_ctx *ctx = new_ctx(f, ALICE, short_ttls);

    expect_content(ctx, "wf", "1.0", "s.sh", "safe\n");
    assert_int_equal(glarex_store_delete(f->store, "workflows", id, &err), 0);
    expect_content(ctx, "wf", "1.0", "s.sh", "safe\n"); /* still within the TTL */
    usleep(1100 * 1000);

    glarex_blob *b = NULL;
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), GLAREX_ENOTFOUND);
    assert_null(b);
    assert_non_null(strstr(err.message, "glare('wf', '1.0', 's.sh')"));
    /* the not-found answer is remembered for the negative TTL */
    int before = requests(f);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), GLAREX_ENOTFOUND);
    assert_int_equal(requests(f), before);

    make_artifact(f, "wf", "1.0", "s.sh", "fixed\n");
    usleep(1100 * 1000);
    expect_content(ctx, "wf", "1.0", "s.sh", "fixed\n");
    glarex_ctx_free(ctx);
}

typedef struct thread_arg {
    glarex_ctx *ctx;
    glarex_blob *blob;
    int rc;
} thread_arg;

static void *fetch_thread(void *p)
{
    thread_arg *a = p;
    a->rc = glarex_fetch(&a->blob, a->ctx, "wf", "1.0", "big.bin", NULL);
    return NULL;
}

static void test_resolve__many_threads_one_download(void **state)
{
    fixture *f = *state;
    enum { N = 64 };
    pthread_t t[N];
    thread_arg a[N];
    char *content = malloc(200000);

    for (int i = 0; i < 199999; i++)
        content[i] = (char)('a' + i % 26);
    content[199999] = '\0';
    make_artifact(f, "wf", "1.0", "big.bin", content);
    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);

    for (int i = 0; i < N; i++) {
        a[i].ctx = ctx;
        a[i].blob = NULL;
        pthread_create(&t[i], NULL, fetch_thread, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].rc, 0);
        assert_ptr_equal(glarex_blob_data(a[i].blob), glarex_blob_data(a[0].blob));
        glarex_blob_free(a[i].blob);
    }
    assert_int_equal(blob_gets(f), 1);
    assert_int_equal(test_server_count(&f->srv, "GET", "/artifacts/workflows?"), 1);
    glarex_ctx_free(ctx);
    free(content);
}

static void test_resolve__killed_download_never_leaves_a_partial_file(void **state)
{
    fixture *f = *state;
    char *content = malloc(40001);
    for (int i = 0; i < 40000; i++)
        content[i] = (char)('0' + i % 10);
    content[40000] = '\0';
    make_artifact(f, "wf", "1.0", "slow.bin", content);

    /* the first download drips slowly: the child is killed in the middle of it */
    assert_int_equal(test_server_request(&f->srv, "POST", "/__control/faults", NULL,
                                         "application/json",
                                         "{\"kind\": \"drip\", \"method\": \"GET\", \"path\": "
                                         "\"*/resources/*\", \"chunk\": 1000, \"interval\": 0.05}",
                                         NULL),
                     201);
    pid_t pid = fork();
    if (pid == 0) {
        glarex_ctx *c2 = new_ctx(f, ALICE, NULL);
        glarex_blob *x = NULL;
        glarex_fetch(&x, c2, "wf", "1.0", "slow.bin", NULL);
        _exit(3);
    }
    usleep(600 * 1000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    /* nothing half-written was published: this process downloads and verifies it */
    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);
    expect_content(ctx, "wf", "1.0", "slow.bin", content);
    glarex_stats st;
    glarex_ctx_stats(&st, ctx);
    assert_int_equal(st.downloads, 1);
    glarex_ctx_free(ctx);
    free(content);
}

static void test_resolve__checksum_mismatch_caches_nothing(void **state)
{
    fixture *f = *state;
    glarex_blob *b = NULL;
    glarex_error err;
    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");
    assert_int_equal(test_server_request(&f->srv, "POST", "/__control/faults", NULL,
                                         "application/json",
                                         "{\"kind\": \"corrupt\", \"method\": \"GET\", "
                                         "\"path\": \"*/resources/*\"}",
                                         NULL),
                     201);
    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), GLAREX_ECHECKSUM);
    assert_null(b);
    /* the message shows the expected and the actual digest */
    assert_non_null(strstr(err.message, "sha256"));
    glarex_stats st;
    glarex_ctx_stats(&st, ctx);
    assert_int_equal(st.disk_bytes, 0);
    /* the fault is gone: the next call downloads the right bytes */
    expect_content(ctx, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx_free(ctx);
}

typedef struct totals_job {
    fixture *f;
    int rc;
} totals_job;

static void *fetch_and_free(void *arg)
{
    totals_job *j = arg;
    glarex_ctx *ctx = new_ctx(j->f, ALICE, NULL);
    glarex_blob *b = NULL;
    glarex_error err;
    j->rc = glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err);
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
    return NULL;
}

/* Every context adds its counters to the cache directory's totals when it is freed;
 * contexts freed at the same time lose none. */
static void test_resolve__totals_sum_every_context(void **state)
{
    fixture *f = *state;
    enum { N = 8 };
    pthread_t t[N];
    totals_job jobs[N];
    glarex_stats st;
    glarex_error err;

    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx *first = new_ctx(f, ALICE, NULL);
    expect_content(first, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx_free(first);

    glarex_ctx *second = new_ctx(f, ALICE, NULL);
    assert_int_equal(glarex_cache_totals(&st, second, &err), 0);
    assert_int_equal(st.downloads, 1);
    assert_int_equal(st.bytes_downloaded, 9);
    assert_int_equal(st.resolutions, 1);
    expect_content(second, "wf", "1.0", "s.sh", "echo one\n");
    assert_int_equal(glarex_cache_totals(&st, second, &err), 0);
    assert_int_equal(st.resolutions, 2); /* the file's and this context's own */
    assert_int_equal(st.downloads, 1);
    glarex_ctx_free(second);

    for (int i = 0; i < N; i++) {
        jobs[i].f = f;
        assert_int_equal(pthread_create(&t[i], NULL, fetch_and_free, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].rc, 0);
    }
    glarex_ctx *last = new_ctx(f, ALICE, NULL);
    assert_int_equal(glarex_cache_totals(&st, last, &err), 0);
    assert_int_equal(st.resolutions, 2 + N);
    assert_int_equal(st.downloads, 1);
    assert_int_equal(glarex_cache_totals(NULL, last, &err), GLAREX_EINVALID);
    glarex_ctx_free(last);
}

static long peak_rss_kb(void)
{
    FILE *s = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (s && fgets(line, sizeof(line), s))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (s)
        fclose(s);
    return kb;
}

static void test_resolve__large_blob_streams_to_disk(void **state)
{
    fixture *f = *state;
    const size_t size = (size_t)100 << 20;
    char path[300], id[64];
    glarex_error err;
    json_t *art = NULL;
    snprintf(path, sizeof(path), "%s/big.bin", f->cache);
    FILE *out = fopen(path, "w");
    char chunk[65536];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)(i * 7);
    for (size_t n = 0; n < size; n += sizeof(chunk))
        fwrite(chunk, 1, sizeof(chunk), out);
    fclose(out);

    snprintf(id, sizeof(id), "%s", make_artifact_as(f->store, "wf", "1.0", "s.sh", "x", 0));
    glarex_blob_loc loc = {"workflows", id, "resources", "big.bin"};
    assert_int_equal(glarex_store_upload_file(&art, f->store, &loc, path, NULL, NULL, NULL, &err), 0);
    json_decref(art);
    assert_int_equal(glarex_store_activate(&art, f->store, "workflows", id, &err), 0);
    json_decref(art);
    unlink(path);

    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);
    long before = peak_rss_kb();
    glarex_blob *b = NULL;
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "big.bin", &err), 0);
    long growth = peak_rss_kb() - before;
    assert_int_equal(glarex_blob_size(b), size);
    const char *p;
    assert_int_equal(glarex_blob_path(&p, b, &err), 0);
    assert_true(access(p, R_OK) == 0);
    printf("peak RSS growth for a 100 MiB fetch: %ld kB\n", growth);
    assert_true(growth < 32 * 1024); /* a sanitizer build adds its own overhead */
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
}

static void offline(glarex_ctx_options *o)
{
    o->offline = 1;
}

static void test_resolve__offline_serves_cache_and_names_a_miss(void **state)
{
    fixture *f = *state;
    glarex_blob *b = NULL;
    glarex_error err;
    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");

    glarex_ctx *off = new_ctx(f, ALICE, offline);
    assert_int_equal(glarex_fetch(&b, off, "wf", "1.0", "s.sh", &err), GLAREX_EOFFLINE);
    assert_non_null(strstr(err.message, "offline"));
    glarex_ctx_free(off);

    glarex_ctx *on = new_ctx(f, ALICE, short_ttls);
    expect_content(on, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx_free(on);
    usleep(1100 * 1000); /* even past the TTL, offline serves what is cached */

    int before = requests(f);
    off = new_ctx(f, ALICE, offline);
    expect_content(off, "wf", "1.0", "s.sh", "echo one\n");
    assert_int_equal(requests(f), before);
    glarex_ctx_free(off);
}

static void prefer_own(glarex_ctx_options *o)
{
    o->prefer_own_project = 1;
}

static void test_resolve__ambiguity_lists_candidates(void **state)
{
    fixture *f = *state;
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *bob = NULL;
    glarex_blob *b = NULL;
    glarex_error err;
    json_t *art = NULL;
    char mine[64], theirs[64];

    snprintf(mine, sizeof(mine), "%s", make_artifact(f, "wf", "1.0", "s.sh", "mine\n"));
    so.url = f->srv.url;
    so.client.auth_token = BOB;
    assert_int_equal(glarex_store_open(&bob, &so, &err), 0);
    snprintf(theirs, sizeof(theirs), "%s", make_artifact_as(bob, "wf", "1.0", "s.sh", "theirs\n", 1));
    glarex_store_free(bob);
    /* publishing needs an admin */
    so.client.auth_token = ADMIN_B;
    assert_int_equal(glarex_store_open(&bob, &so, &err), 0);
    json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/visibility",
                              "value", "public");
    glarex_client_options co = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_client *admin = NULL;
    co.url = f->srv.url;
    co.auth_token = ADMIN_B;
    assert_int_equal(glarex_client_new(&admin, &co, &err), 0);
    assert_int_equal(glarex_client_update(&art, admin, "workflows", theirs, patch, &err), 0);
    json_decref(art);
    json_decref(patch);
    glarex_client_free(admin);
    glarex_store_free(bob);

    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "s.sh", &err), GLAREX_EAMBIGUOUS);
    assert_non_null(strstr(err.message, mine));
    assert_non_null(strstr(err.message, theirs));
    glarex_ctx_free(ctx);

    ctx = new_ctx(f, ALICE, prefer_own);
    expect_content(ctx, "wf", "1.0", "s.sh", "mine\n");
    glarex_ctx_free(ctx);
}

static void test_resolve__missing_key_and_bad_reference(void **state)
{
    fixture *f = *state;
    glarex_blob *b = NULL;
    glarex_error err;
    make_artifact(f, "wf", "1.0", "s.sh", "echo one\n");
    glarex_ctx *ctx = new_ctx(f, ALICE, NULL);

    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.0", "nope.sh", &err), GLAREX_ENOTFOUND);
    assert_non_null(strstr(err.message, "no resource 'nope.sh'"));
    assert_int_equal(glarex_fetch(&b, ctx, "wf", "1.x", "s.sh", &err), GLAREX_EINVALID);
    assert_true(err.column > 0);
    assert_int_equal(glarex_fetch_uri(&b, ctx, "http://wf/s.sh", &err), GLAREX_EINVALID);
    assert_null(b);

    /* the workflow blob itself, and the same resource by id and by content pin */
    assert_int_equal(glarex_fetch_uri(&b, ctx, "glare://wf@1.0?field=workflow", &err), 0);
    assert_memory_equal(glarex_blob_data(b), "version: '2.0'\n", 14);
    char uri[200];
    snprintf(uri, sizeof(uri), "glare://id/%s/s.sh", glarex_blob_artifact_id(b));
    glarex_blob_free(b);
    assert_int_equal(glarex_fetch_uri(&b, ctx, uri, &err), 0);
    snprintf(uri, sizeof(uri), "glare://wf@sha256=%s/s.sh", glarex_blob_sha256(b));
    glarex_blob_free(b);
    assert_int_equal(glarex_fetch_uri(&b, ctx, uri, &err), 0);
    json_t *info = glarex_blob_info(b);
    assert_string_equal(json_string_value(json_object_get(info, "key")), "s.sh");
    assert_int_equal(json_integer_value(json_object_get(info, "size")), 9);
    json_decref(info);
    glarex_blob_free(b);
    glarex_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve__exact_hit_within_ttl_makes_no_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__after_ttl_one_metadata_request_no_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__latest_picks_up_a_new_version_after_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__deleted_and_recreated_is_noticed_after_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__many_threads_one_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__killed_download_never_leaves_a_partial_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__checksum_mismatch_caches_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__totals_sum_every_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__large_blob_streams_to_disk, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__offline_serves_cache_and_names_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__ambiguity_lists_candidates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve__missing_key_and_bad_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
