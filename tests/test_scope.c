/*
 * Scopes, requests, as-of resolution, self references and invalidation: one context
 * and one cache directory serving several identities, against the test server and
 * local directory stores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "src/common.h"

#define ALICE "alice:projA:member"
#define BOB "bob:projB:member"
#define CAROL "carol:projC:member"
#define SERVICE "svc:projS:member"

typedef struct fixture {
    test_server srv;
    char cache[256];
    char tmp[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || test_server_start(&f->srv, NULL) < 0 ||
        test_mkdtemp(f->cache, sizeof(f->cache), "cache") < 0 ||
        test_mkdtemp(f->tmp, sizeof(f->tmp), "scope") < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_server_stop(&f->srv);
    test_rm_rf(f->cache);
    test_rm_rf(f->tmp);
    free(f);
    return 0;
}

typedef struct ctx_settings {
    const char *url;
    const char *token;
    const char *cache;
    long skew_ms; /* 0: default */
    long ttl_ms;  /* every positive TTL; 0: defaults */
} ctx_settings;

static glarex_ctx *new_ctx(const ctx_settings *s)
{
    glarex_ctx_options o = GLAREX_CTX_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_error err;

    o.store.url = s->url;
    o.store.client.auth_token = s->token;
    o.cache_dir = s->cache;
    o.as_of_skew_ms = s->skew_ms;
    o.ttl_exact_ms = o.ttl_latest_ms = o.ttl_negative_ms = s->ttl_ms;
    if (glarex_ctx_new(&ctx, &o, &err) < 0)
        fail_msg("glarex_ctx_new: %s", err.message);
    return ctx;
}

static glarex_request *new_request(glarex_ctx *ctx, const char *token, const char *workflow,
                                   int64_t as_of_ms)
{
    glarex_request_options o = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_request *req = NULL;
    glarex_error err;

    o.auth_token = token;
    o.workflow = workflow;
    o.as_of_ms = as_of_ms;
    if (glarex_request_new(&req, ctx, &o, &err) < 0)
        fail_msg("glarex_request_new: %s", err.message);
    return req;
}

static void put(const char *url, const char *token, const char *name, const char *version,
                const char *key, const char *content)
{
    test_resource r = {key, content, strlen(content)};
    assert_int_equal(test_store_artifact(NULL, url, token, name, version, &r, 1, 1), 0);
}

/* The content of glare(name, version, key) for `req` (a new string), or NULL with the
 * status in *rc. */
static char *get_as(glarex_request *req, const char *name, const char *version,
                    const char *key, int *rc)
{
    glarex_blob *blob = NULL;
    glarex_error err;
    char *text = NULL;

    *rc = glarex_request_fetch(&blob, req, name, version, key, &err);
    if (*rc == 0) {
        text = strndup(glarex_blob_data(blob), glarex_blob_size(blob));
        glarex_blob_free(blob);
    } else {
        assert_null(blob);
    }
    return text;
}

static void assert_get(glarex_request *req, const char *name, const char *version,
                       const char *key, const char *expect)
{
    int rc;
    char *text = get_as(req, name, version, key, &rc);
    if (!text)
        fail_msg("glare('%s', '%s', '%s'): status %d", name, version, key, rc);
    assert_string_equal(text, expect);
    free(text);
}

static char *get_ctx(glarex_ctx *ctx, const char *name, const char *version, const char *key)
{
    glarex_blob *blob = NULL;
    glarex_error err;
    char *text;
    if (glarex_fetch(&blob, ctx, name, version, key, &err) < 0)
        fail_msg("glarex_fetch: %s", err.message);
    text = strndup(glarex_blob_data(blob), glarex_blob_size(blob));
    glarex_blob_free(blob);
    return text;
}

/* {======================================================================
 * Scopes
 * ====================================================================== */

/* Two contexts (two processes' worth) sharing one cache directory, each with its own
 * project's token: each reads its own project's private artifact. */
static void test_scope__contexts_share_a_cache_not_answers(void **state)
{
    fixture *f = *state;
    put(f->srv.url, ALICE, "repro", "1.0", "run.sh", "alice's private script");
    put(f->srv.url, BOB, "repro", "1.0", "run.sh", "bob's script");

    ctx_settings sa = {f->srv.url, ALICE, f->cache, 0, 0};
    ctx_settings sb = {f->srv.url, BOB, f->cache, 0, 0};
    glarex_ctx *a = new_ctx(&sa);
    char *text = get_ctx(a, "repro", "1.0", "run.sh");
    assert_string_equal(text, "alice's private script");
    free(text);
    glarex_ctx_free(a);

    glarex_ctx *b = new_ctx(&sb);
    text = get_ctx(b, "repro", "1.0", "run.sh");
    assert_string_equal(text, "bob's script");
    free(text);
    glarex_ctx_free(b);
}

typedef struct worker {
    glarex_request *reqs[2];
    const char *expect[2];
    int failures;
} worker;

static void *alternate(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 200; i++) {
        int who = i % 2, rc;
        char *text = get_as(w->reqs[who], "shared", "1.0", "run.sh", &rc);
        if (!text || strcmp(text, w->expect[who]) != 0)
            w->failures++;
        free(text);
    }
    return NULL;
}

/* One context, 8 threads alternating two identities: every call gets its own project's
 * bytes; a project without access gets the store's answer, never bytes. */
static void test_scope__threads_alternate_identities(void **state)
{
    fixture *f = *state;
    put(f->srv.url, ALICE, "shared", "1.0", "run.sh", "A bytes");
    put(f->srv.url, BOB, "shared", "1.0", "run.sh", "B bytes");

    ctx_settings s = {f->srv.url, SERVICE, f->cache, 0, 0};
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request *ra = new_request(ctx, ALICE, NULL, 0);
    glarex_request *rb = new_request(ctx, BOB, NULL, 0);
    glarex_request *rc_ = new_request(ctx, CAROL, NULL, 0);
    worker w[8];
    pthread_t t[8];

    assert_string_not_equal(glarex_request_scope(ra), glarex_request_scope(rb));
    for (int i = 0; i < 8; i++) {
        /* half the threads start with bob, so both orders race */
        w[i] = (worker){{i % 2 ? ra : rb, i % 2 ? rb : ra},
                        {i % 2 ? "A bytes" : "B bytes", i % 2 ? "B bytes" : "A bytes"}, 0};
        assert_int_equal(pthread_create(&t[i], NULL, alternate, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }

    int rc;
    char *text = get_as(rc_, "shared", "1.0", "run.sh", &rc);
    assert_null(text);
    assert_int_equal(rc, GLAREX_ENOTFOUND);
    /* nor does the context's own identity see either project's artifact */
    glarex_blob *blob = NULL;
    assert_int_equal(glarex_fetch(&blob, ctx, "shared", "1.0", "run.sh", NULL),
                     GLAREX_ENOTFOUND);
    glarex_request_free(ra);
    glarex_request_free(rb);
    glarex_request_free(rc_);
    glarex_ctx_free(ctx);
}

/* A pinned digest is no key to another scope's bytes. */
static void test_scope__pinned_digest_of_another_scope(void **state)
{
    fixture *f = *state;
    put(f->srv.url, ALICE, "pinned", "1.0", "run.sh", "alice only");

    ctx_settings s = {f->srv.url, SERVICE, f->cache, 0, 0};
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request *ra = new_request(ctx, ALICE, NULL, 0);
    glarex_request *rb = new_request(ctx, BOB, NULL, 0);
    glarex_blob *blob = NULL;
    glarex_error err;
    char pin[80];

    assert_int_equal(glarex_request_fetch(&blob, ra, "pinned", "1.0", "run.sh", &err), 0);
    snprintf(pin, sizeof(pin), "sha256=%s", glarex_blob_sha256(blob));
    glarex_blob_free(blob);
    blob = NULL;
    assert_int_equal(glarex_request_fetch(&blob, ra, "pinned", pin, "run.sh", &err), 0);
    glarex_blob_free(blob);
    blob = NULL;

    assert_int_equal(glarex_request_fetch(&blob, rb, "pinned", pin, "run.sh", &err),
                     GLAREX_ENOTFOUND);
    assert_null(blob);
    /* a second process, with bob's token and the same cache directory */
    ctx_settings sb = {f->srv.url, BOB, f->cache, 0, 0};
    glarex_ctx *b = new_ctx(&sb);
    assert_int_equal(glarex_fetch(&blob, b, "pinned", pin, "run.sh", &err), GLAREX_ENOTFOUND);
    assert_null(blob);
    glarex_ctx_free(b);
    glarex_request_free(ra);
    glarex_request_free(rb);
    glarex_ctx_free(ctx);
}

static void make_local_store(const char *dir, const char *name, const char *content)
{
    char url[320];
    snprintf(url, sizeof(url), "file://%s", dir);
    put(url, NULL, name, "1.0", "run.sh", content);
}

/* One reference, one cache: the default-store-like local store and a Glare server each
 * give their own bytes, and a local store made again is another store. */
static void test_scope__stores_are_scopes(void **state)
{
    fixture *f = *state;
    char dir[300], url[320];
    snprintf(dir, sizeof(dir), "%s/store", f->tmp);
    snprintf(url, sizeof(url), "file://%s", dir);
    make_local_store(dir, "same", "local bytes");
    put(f->srv.url, ALICE, "same", "1.0", "run.sh", "server bytes");

    ctx_settings sl = {url, NULL, f->cache, 0, 0};
    ctx_settings sg = {f->srv.url, ALICE, f->cache, 0, 0};
    glarex_ctx *local = new_ctx(&sl);
    char *text = get_ctx(local, "same", "1.0", "run.sh");
    assert_string_equal(text, "local bytes");
    free(text);
    glarex_ctx_free(local);
    glarex_ctx *glare = new_ctx(&sg);
    text = get_ctx(glare, "same", "1.0", "run.sh");
    assert_string_equal(text, "server bytes");
    free(text);
    glarex_ctx_free(glare);

    test_rm_rf(dir);
    make_local_store(dir, "same", "new store's bytes");
    local = new_ctx(&sl);
    text = get_ctx(local, "same", "1.0", "run.sh");
    assert_string_equal(text, "new store's bytes");
    free(text);
    glarex_ctx_free(local);
}

/* Index files name no token, and two tokens of one reported identity share a scope. */
static void test_scope__keys_hide_tokens(void **state)
{
    fixture *f = *state;
    static const char token[] = "gAAAAopaque-keystone-token-0123456789";
    ctx_settings s = {f->srv.url, NULL, f->cache, 0, 0};
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request_options o = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_request *r1 = NULL, *r2 = NULL, *r3 = new_request(ctx, token, NULL, 0);
    glarex_blob *blob = NULL;
    char cmd[600];

    o.auth_token = "token-one";
    o.project_id = "projA";
    o.user_id = "alice";
    o.roles = "member,reader";
    assert_int_equal(glarex_request_new(&r1, ctx, &o, NULL), 0);
    o.auth_token = "token-two";
    o.roles = "reader, member";
    assert_int_equal(glarex_request_new(&r2, ctx, &o, NULL), 0);
    assert_string_equal(glarex_request_scope(r1), glarex_request_scope(r2));
    assert_string_not_equal(glarex_request_scope(r1), glarex_request_scope(r3));

    /* the server rejects the opaque token; whatever is remembered must not hold it */
    glarex_request_fetch(&blob, r3, "nothing", "1.0", "x", NULL);
    glarex_blob_free(blob);
    snprintf(cmd, sizeof(cmd), "grep -rq '%s' '%s'", token, f->cache);
    assert_int_not_equal(system(cmd), 0);
    glarex_request_free(r1);
    glarex_request_free(r2);
    glarex_request_free(r3);
    glarex_ctx_free(ctx);
}

/* }====================================================================== */

/* {======================================================================
 * As of a time
 * ====================================================================== */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until the wall clock is in the second after the one holding `t_ms`, so an
 * activation then is later than `t_ms` at Glare's second precision. */
static void next_second(int64_t t_ms)
{
    int64_t wait = (t_ms / 1000 + 1) * 1000 + 50 - now_ms();
    if (wait > 0)
        usleep((useconds_t)wait * 1000);
}

static void test_scope__latest_as_of(void **state)
{
    fixture *f = *state;
    char other_cache[300];
    put(f->srv.url, ALICE, "asof", "1.0", "run.sh", "one");
    int64_t t1 = now_ms();
    next_second(t1);
    put(f->srv.url, ALICE, "asof", "1.1", "run.sh", "two");

    /* no skew allowance: Glare and this test share a clock */
    ctx_settings s = {f->srv.url, ALICE, f->cache, -1, 100};
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request *then = new_request(ctx, NULL, NULL, t1);
    glarex_request *now = new_request(ctx, NULL, NULL, 0);
    assert_get(then, "asof", "latest", "run.sh", "one"); /* cold */
    assert_get(then, "asof", "latest", "run.sh", "one"); /* warm */
    assert_get(then, "asof", ">=1.0,<2", "run.sh", "one");
    assert_get(now, "asof", "latest", "run.sh", "two");
    usleep(250 * 1000); /* past every TTL */
    assert_get(then, "asof", "latest", "run.sh", "one");
    glarex_request_free(then);
    glarex_request_free(now);
    glarex_ctx_free(ctx);

    /* another host: its own process and cache directory */
    snprintf(other_cache, sizeof(other_cache), "%s/other-host", f->tmp);
    ctx_settings s2 = {f->srv.url, ALICE, other_cache, -1, 100};
    ctx = new_ctx(&s2);
    then = new_request(ctx, NULL, NULL, t1);
    assert_get(then, "asof", "latest", "run.sh", "one");
    glarex_request_free(then);
    glarex_ctx_free(ctx);
}

/* An execution that starts right after a publication, on a clock a few seconds
 * behind Glare's, still sees what was published: the skew allowance. */
static void test_scope__as_of_allows_skew(void **state)
{
    fixture *f = *state;
    put(f->srv.url, ALICE, "skew", "1.0", "run.sh", "old");
    /* the execution's clock reads `behind` when Glare's is already past it */
    int64_t behind = now_ms();
    next_second(behind);
    put(f->srv.url, ALICE, "skew", "1.1", "run.sh", "just published");

    ctx_settings s = {f->srv.url, ALICE, f->cache, 0, 0}; /* default allowance */
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request *req = new_request(ctx, NULL, NULL, behind);
    assert_get(req, "skew", "latest", "run.sh", "just published");
    glarex_request_free(req);
    glarex_ctx_free(ctx);

    ctx_settings none = {f->srv.url, ALICE, f->cache, -1, 0};
    ctx = new_ctx(&none);
    req = new_request(ctx, NULL, NULL, behind);
    assert_get(req, "skew", "latest", "run.sh", "old");
    glarex_request_free(req);
    glarex_ctx_free(ctx);
}

/* }====================================================================== */

/* {======================================================================
 * Self references
 * ====================================================================== */

static char *get_text(glarex_request *req, const char *text, int *rc, glarex_error *err)
{
    glarex_blob *blob = NULL;
    char *out = NULL;
    *rc = glarex_request_fetch_uri(&blob, req, text, err);
    if (*rc == 0)
        out = strndup(glarex_blob_data(blob), glarex_blob_size(blob));
    glarex_blob_free(blob);
    return out;
}

static void assert_self(glarex_request *req, const char *text, const char *expect)
{
    glarex_error err;
    int rc;
    char *got = get_text(req, text, &rc, &err);
    if (!got)
        fail_msg("glare('%s'): %s", text, err.message);
    assert_string_equal(got, expect);
    free(got);
}

static void test_scope__self_references(void **state)
{
    fixture *f = *state;
    test_resource r1[] = {{"heal.sh", "v1 heal", 7}, {"dir/a b.sh", "v1 nested", 9}};
    test_resource r2[] = {{"heal.sh", "v2 heal", 7}, {"dir/a b.sh", "v2 nested", 9}};
    assert_int_equal(test_store_artifact(NULL, f->srv.url, ALICE, "selfy", "1.0", r1, 2, 1), 0);
    int64_t t1 = now_ms();
    next_second(t1);
    assert_int_equal(test_store_artifact(NULL, f->srv.url, ALICE, "selfy", "1.1", r2, 2, 1), 0);

    ctx_settings s = {f->srv.url, ALICE, f->cache, -1, 0};
    glarex_ctx *ctx = new_ctx(&s);
    glarex_request *then = new_request(ctx, NULL, "selfy", t1);
    glarex_request *now = new_request(ctx, NULL, "selfy", 0);
    glarex_request *pinned = new_request(ctx, NULL, "selfy@1.0", 0);
    glarex_request *nobody = new_request(ctx, NULL, NULL, 0);

    assert_self(then, "heal.sh", "v1 heal");
    assert_self(then, "glare://heal.sh", "v1 heal");
    assert_self(then, "glare:///dir/a%20b.sh", "v1 nested");
    assert_self(then, "dir/a b.sh", "v1 nested");
    assert_self(now, "heal.sh", "v2 heal");
    assert_self(now, "glare://heal.sh", "v2 heal");
    assert_self(pinned, "heal.sh", "v1 heal");
    /* an ordinary URI still names its own artifact */
    assert_self(then, "glare://selfy@1.1/heal.sh", "v2 heal");

    glarex_error err;
    int rc;
    assert_null(get_text(nobody, "heal.sh", &rc, &err));
    assert_int_equal(rc, GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "no workflow is known"));
    assert_null(get_text(then, "https://example.invalid/x", &rc, &err));
    assert_int_equal(rc, GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "neither a glare:// URI nor"));
    assert_null(get_text(then, "", &rc, &err));
    assert_int_equal(rc, GLAREX_EINVALID);
    glarex_request_options bad = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_request *req = NULL;
    bad.workflow = "@1.0";
    assert_int_equal(glarex_request_new(&req, ctx, &bad, &err), GLAREX_EINVALID);
    assert_null(req);

    /* an evaluator resolving as a request */
    glarex_eval *ev = NULL;
    json_t *out = NULL;
    assert_int_equal(glarex_eval_new(&ev, ctx, NULL, &err), 0);
    assert_int_equal(glarex_eval_use_request(ev, then, &err), 0);
    assert_int_equal(glarex_eval_string(&out, ev, "<% glare('heal.sh') %>", NULL, &err), 0);
    assert_string_equal(json_string_value(out), "v1 heal");
    json_decref(out);
    assert_int_equal(glarex_eval_use_request(ev, now, &err), 0);
    assert_int_equal(glarex_eval_string(&out, ev, "{{ glare('heal.sh') }}", NULL, &err), 0);
    assert_string_equal(json_string_value(out), "v2 heal");
    json_decref(out);
    assert_int_equal(glarex_eval_use_request(ev, NULL, &err), 0);
    assert_int_equal(glarex_eval_string(&out, ev, "<% glare('heal.sh') %>", NULL, &err),
                     GLAREX_EINVALID);
    glarex_eval_free(ev);

    glarex_request_free(then);
    glarex_request_free(now);
    glarex_request_free(pinned);
    glarex_request_free(nobody);
    glarex_ctx_free(ctx);
}

/* }====================================================================== */

/* {======================================================================
 * Invalidation
 * ====================================================================== */

/* Deletes artifact `id` and creates `name` 1.0 again with `res`, as glarex
 * workflow-delete and workflow-create do. */
static void recreate(fixture *f, const char *id, const char *name, const test_resource *res)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    so.url = f->srv.url;
    so.client.auth_token = ALICE;
    assert_int_equal(glarex_store_open(&store, &so, NULL), 0);
    assert_int_equal(glarex_store_delete(store, "workflows", id, NULL), 0);
    glarex_store_free(store);
    assert_int_equal(test_store_artifact(NULL, f->srv.url, ALICE, name, "1.0", res, 1, 1), 0);
}

static void test_scope__invalidate_after_recreate(void **state)
{
    fixture *f = *state;
    char id[64];
    test_resource old = {"run.sh", "old bytes", 9}, fresh = {"run.sh", "new bytes", 9};
    assert_int_equal(test_store_artifact(id, f->srv.url, ALICE, "inv", "1.0", &old, 1, 1), 0);

    ctx_settings s = {f->srv.url, ALICE, f->cache, 0, 0};
    glarex_ctx *ctx = new_ctx(&s);
    char *text = get_ctx(ctx, "inv", "1.0", "run.sh");
    assert_string_equal(text, "old bytes");
    free(text);

    recreate(f, id, "inv", &fresh);

    text = get_ctx(ctx, "inv", "1.0", "run.sh"); /* within the TTL: remembered */
    assert_string_equal(text, "old bytes");
    free(text);
    assert_int_equal(glarex_ctx_invalidate(ctx, "inv", NULL, NULL), 0);
    text = get_ctx(ctx, "inv", "1.0", "run.sh");
    assert_string_equal(text, "new bytes");
    free(text);
    assert_int_equal(glarex_ctx_invalidate(ctx, NULL, NULL, NULL), GLAREX_EINVALID);
    glarex_ctx_free(ctx);
}

/* Another process on the same cache directory sees the invalidation too. */
static void test_scope__invalidate_reaches_other_processes(void **state)
{
    fixture *f = *state;
    char id[64];
    test_resource old = {"run.sh", "first", 5}, fresh = {"run.sh", "second", 6};
    assert_int_equal(test_store_artifact(id, f->srv.url, ALICE, "inv2", "1.0", &old, 1, 1), 0);
    ctx_settings s = {f->srv.url, ALICE, f->cache, 0, 0};
    glarex_ctx *reader = new_ctx(&s);
    char *text = get_ctx(reader, "inv2", "1.0", "run.sh");
    assert_string_equal(text, "first");
    free(text);
    glarex_ctx_free(reader);

    recreate(f, id, "inv2", &fresh);
    glarex_ctx *writer = new_ctx(&s);
    assert_int_equal(glarex_ctx_invalidate(writer, "inv2", NULL, NULL), 0);
    glarex_ctx_free(writer);

    reader = new_ctx(&s);
    text = get_ctx(reader, "inv2", "1.0", "run.sh");
    assert_string_equal(text, "second");
    free(text);
    glarex_ctx_free(reader);
}

/* What a caller built against version 1 of glarex_request_options (before progress)
 * passes. */
typedef struct request_options_v1 {
    unsigned int version;
    const char *auth_token, *project_id, *user_id, *roles, *execution_id, *workflow;
    int64_t as_of_ms;
} request_options_v1;

/* A caller built against version 1 of the options passes a smaller struct: it is read
 * as far as that version goes, never past its end (ASan sees it: the struct is on the
 * heap, exactly its size). */
static void test_scope__older_options_versions_are_read_to_their_end(void **state)
{
    fixture *f = *state;
    ctx_settings s = {.url = f->srv.url, .token = ALICE, .cache = f->cache};
    glarex_ctx *ctx = new_ctx(&s);
    request_options_v1 *old = malloc(sizeof(*old));
    size_t kv1 = offsetof(glarex_keystone_options, project_id);
    unsigned char *kold = malloc(kv1);
    unsigned int version;
    glarex_request *req = NULL;
    glarex_error err;

    assert_non_null(old);
    assert_non_null(kold);
    assert_int_equal(sizeof(*old), offsetof(glarex_request_options, progress));
    assert_int_equal(glarex_request_options_init((glarex_request_options *)old, 1), 0);
    assert_int_equal(old->version, 1);
    old->auth_token = BOB;
    assert_int_equal(glarex_request_new(&req, ctx, (glarex_request_options *)old, &err), 0);
    glarex_request_free(req);
    old->version = 3;
    assert_int_equal(glarex_request_new(&req, ctx, (glarex_request_options *)old, &err),
                     GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "expected 1 to 2"));
    assert_int_equal(glarex_keystone_options_init((glarex_keystone_options *)kold, 1), 0);
    memcpy(&version, kold, sizeof(version));
    assert_int_equal(version, 1);
    assert_int_equal(glarex_keystone_options_init((glarex_keystone_options *)kold, 3),
                     GLAREX_EINVALID);
    free(old);
    free(kold);
    glarex_ctx_free(ctx);
}

/* }====================================================================== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scope__contexts_share_a_cache_not_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scope__threads_alternate_identities, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scope__pinned_digest_of_another_scope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scope__stores_are_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__keys_hide_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__latest_as_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__as_of_allows_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__self_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__invalidate_after_recreate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope__invalidate_reaches_other_processes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scope__older_options_versions_are_read_to_their_end,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
