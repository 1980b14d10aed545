/*
 * glarex_store: the same integration tests against both backends (a local directory
 * store in a temporary directory, and the Glare test server), then tests only the
 * directory store can have: concurrent creators, crashes mid-upload, corrupted
 * files, hostile keys, URL handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "src/common.h"
#include "src/digest.h"

#define ROOTBUF 320 /* a store root; paths under it fit PATHBUF */
#define PATHBUF 1024
#define TOKEN "alice:projA:member"

/* {====================================================================
 * Fixture: one store per group, shared by its tests (names never repeat)
 * ==================================================================== */

typedef struct backend {
    int is_dir;
    int unavailable; /* the test server could not start: its tests skip */
    test_server srv;
    char dir[256]; /* dir backend: temporary directory holding store/ */
    char root[ROOTBUF];
    glarex_store *store;
    const char *owner;
    int seq;
} backend;

static int open_dir_store(glarex_store **out, const char *root, uint64_t max_blob_size,
                          glarex_error *err)
{
    glarex_store_options opts = GLAREX_STORE_OPTIONS_INIT;
    char url[PATHBUF + 16];

    snprintf(url, sizeof(url), "file://%s", root);
    opts.url = url;
    opts.max_blob_size = max_blob_size;
    return glarex_store_open(out, &opts, err);
}

static int setup_dir(void **state)
{
    backend *b = calloc(1, sizeof(*b));
    glarex_error err;

    if (!b || test_mkdtemp(b->dir, sizeof(b->dir), "store") < 0)
        return -1;
    b->is_dir = 1;
    b->owner = "local";
    snprintf(b->root, sizeof(b->root), "%s/store", b->dir);
    if (open_dir_store(&b->store, b->root, 0, &err) < 0) {
        fprintf(stderr, "cannot open the directory store: %s\n", err.message);
        return -1;
    }
    *state = b;
    return 0;
}

static int setup_glare(void **state)
{
    backend *b = calloc(1, sizeof(*b));
    glarex_store_options opts = GLAREX_STORE_OPTIONS_INIT;
    glarex_error err;

    if (!b)
        return -1;
    b->owner = "projA";
    *state = b;
    if (test_server_start(&b->srv, NULL) < 0) {
        b->unavailable = 1;
        return 0;
    }
    opts.url = b->srv.url;
    opts.client.auth_token = TOKEN;
    if (glarex_store_open(&b->store, &opts, &err) < 0) {
        fprintf(stderr, "cannot open the Glare store: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    backend *b = *state;
    if (!b)
        return 0;
    glarex_store_free(b->store);
    if (b->is_dir && !getenv("GLAREX_TEST_KEEP"))
        test_rm_rf(b->dir);
    if (!b->is_dir)
        test_server_stop(&b->srv);
    free(b);
    return 0;
}

static backend *get_backend(void **state)
{
    backend *b = *state;
    if (b->unavailable)
        skip();
    return b;
}

/* }==================================================================== */

/* {====================================================================
 * Helpers
 * ==================================================================== */

#define assert_contains(hay, needle) assert_contains_at(hay, needle, __FILE__, __LINE__)

static void assert_contains_at(const char *hay, const char *needle, const char *file,
                               int line)
{
    if (!hay || !strstr(hay, needle)) {
        print_error("%s:%d: '%s' does not contain '%s'\n", file, line,
                    hay ? hay : "(null)", needle);
        fail();
    }
}

#define assert_ok(rc, err)                                                               \
    do {                                                                                 \
        int rc_ = (rc);                                                                  \
        if (rc_ != 0) {                                                                  \
            print_error("%s:%d: status %d: %s\n", __FILE__, __LINE__, rc_,               \
                        (err).message);                                                  \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* What both backends answer for a request Glare rejects with 400: the Glare client
 * has no closer code than GLAREX_EHTTP, the directory store says GLAREX_EINVALID. */
static void assert_bad_request(int rc, const glarex_error *err, const char *message)
{
    if (rc != GLAREX_EINVALID && rc != GLAREX_EHTTP) {
        print_error("expected a 400-class error, got %d: %s\n", rc, err->message);
        fail();
    }
    assert_int_equal(err->http_status, 400);
    assert_contains(err->message, message);
}

static void unique_name(char *buf, size_t size, backend *b, const char *tag)
{
    snprintf(buf, size, "%s-%d", tag, ++b->seq);
}

static json_t *create_wf(backend *b, const char *name, const char *version)
{
    json_t *fields = json_pack("{s:s}", "name", name);
    json_t *af = NULL;
    glarex_error err;

    if (version)
        json_object_set_new(fields, "version", json_string(version));
    assert_ok(glarex_store_create(&af, b->store, "workflows", fields, &err), err);
    json_decref(fields);
    return af;
}

static const char *sid(const json_t *af)
{
    return json_string_value(json_object_get(af, "id"));
}

static int put(json_t **out, backend *b, const char *id, const char *field,
               const char *key, const char *data, const char *ctype, glarex_error *err)
{
    glarex_blob_loc loc = {"workflows", id, field, key};
    json_t *af = NULL;
    int rc =
        glarex_store_upload_buffer(&af, b->store, &loc, data, strlen(data), ctype, err);
    if (out)
        *out = af;
    else
        json_decref(af);
    return rc;
}

static void put_ok(backend *b, const char *id, const char *field, const char *key,
                   const char *data, const char *ctype)
{
    glarex_error err;
    assert_ok(put(NULL, b, id, field, key, data, ctype, &err), err);
}

typedef struct membuf {
    char *ptr;
    size_t len;
} membuf;

static int collect(const char *data, size_t len, void *payload)
{
    membuf *m = payload;
    char *p = realloc(m->ptr, m->len + len + 1);
    if (!p)
        return 1;
    memcpy(p + m->len, data, len);
    m->ptr = p;
    m->len += len;
    m->ptr[m->len] = '\0';
    return 0;
}

static int get_bytes(membuf *out, glarex_download_info *info, backend *b, const char *id,
                     const char *field, const char *key, const glarex_digests *expect,
                     glarex_error *err)
{
    glarex_blob_loc loc = {"workflows", id, field, key};
    memset(out, 0, sizeof(*out));
    return glarex_store_download(info, b->store, &loc, expect, collect, out, err);
}

static json_t *list(backend *b, const glarex_filter *filters, size_t n, int latest,
                    const char *sort, size_t max_items)
{
    glarex_list_options opts = GLAREX_LIST_OPTIONS_INIT;
    json_t *out = NULL;
    glarex_error err;

    opts.filters = filters;
    opts.nfilters = n;
    opts.latest = latest;
    opts.sort = sort;
    opts.max_items = max_items;
    opts.page_size = 2; /* the Glare backend then follows `next` */
    assert_ok(glarex_store_list(&out, b->store, "workflows", &opts, &err), err);
    assert_true(json_is_array(out));
    return out;
}

/* The versions of a list, in order, joined by spaces. */
static void versions_of(char *buf, size_t size, const json_t *arr)
{
    size_t i;
    json_t *a;
    buf[0] = '\0';
    json_array_foreach(arr, i, a)
    {
        if (i)
            strncat(buf, " ", size - strlen(buf) - 1);
        strncat(buf, json_string_value(json_object_get(a, "version")),
                size - strlen(buf) - 1);
    }
}

static void sha_md5(const char *data, char sha[65], char md5[33])
{
    assert_int_equal(glarex__digest_buffer(data, strlen(data), sha, md5), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Glare's member order for an artifact and for a blob value. */
static const char *const artifact_keys[] = {
    "workflow", "resources",  "id",         "name",         "owner",
    "status",   "created_at", "updated_at", "activated_at", "description",
    "tags",     "metadata",   "visibility", "version",      "display_type_name",
    NULL};
static const char *const blob_keys[] = {"url",    "status", "external",     "md5", "sha1",
                                        "sha256", "size",   "content_type", NULL};

/* Same members as Glare (in any order when `ordered` is 0). */
static void assert_members(const json_t *obj, const char *const *keys, int ordered)
{
    const char *k;
    json_t *v;
    size_t n = 0, i = 0;

    for (; keys[n]; n++)
        assert_non_null(json_object_get(obj, keys[n]));
    assert_int_equal(json_object_size(obj), n);
    if (!ordered)
        return;
    json_object_foreach((json_t *)obj, k, v) assert_string_equal(k, keys[i++]);
}

static int is_stamp(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SSZ */
    return s && strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z';
}

typedef struct progress_log {
    int calls;
    uint64_t last_done, last_total;
} progress_log;

static int on_progress(uint64_t done, uint64_t total, void *payload)
{
    progress_log *p = payload;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * Shared integration tests: both backends
 * ==================================================================== */

static void test_store__lifecycle(void **state)
{
    backend *b = get_backend(state);
    static const char wf[] =
        "version: '2.0'\nheal_vm:\n  tasks:\n    run:\n      action: std.noop\n";
    static const char script[] = "#!/bin/sh\necho healing\n";
    static const char notes[] = "two words";
    const char *key1 = "scripts/heal vm.sh", *key2 = "notes.txt";
    char name[64], path[PATHBUF], tmpdir[256], sha[65], md5[33], url[256];
    json_t *fields, *af = NULL, *active = NULL, *got = NULL, *blob;
    glarex_blob_loc loc = {"workflows", NULL, "resources", key1};
    glarex_download_info info;
    glarex_digests expect;
    progress_log prog = {0, 0, 0};
    glarex_error err;
    membuf m;

    unique_name(name, sizeof(name), b, "life");
    fields = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s}}", "name", name, "version", "1.0",
                       "description", "heal VM workflow", "tags", "mistral", "metadata",
                       "entry", "heal_vm");
    assert_ok(glarex_store_create(&af, b->store, "workflows", fields, &err), err);
    json_decref(fields);

    /* A draft, shaped exactly as Glare shapes it. */
    assert_members(af, artifact_keys, 0);
    assert_string_equal(json_string_value(json_object_get(af, "status")), "drafted");
    assert_string_equal(json_string_value(json_object_get(af, "visibility")), "private");
    assert_string_equal(json_string_value(json_object_get(af, "owner")), b->owner);
    assert_string_equal(json_string_value(json_object_get(af, "version")), "1.0.0");
    assert_string_equal(json_string_value(json_object_get(af, "name")), name);
    assert_string_equal(json_string_value(json_object_get(af, "display_type_name")),
                        "Workflows");
    assert_true(json_is_null(json_object_get(af, "workflow")));
    assert_true(json_is_object(json_object_get(af, "resources")));
    assert_int_equal(json_object_size(json_object_get(af, "resources")), 0);
    assert_true(json_is_null(json_object_get(af, "activated_at")));
    assert_true(is_stamp(json_string_value(json_object_get(af, "created_at"))));
    assert_int_equal(strlen(sid(af)), 36);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(af, "metadata"), "entry")),
        "heal_vm");

    /* Upload: the workflow from memory, a resource from a file (key with '/' and a
     * space), another from memory. */
    put_ok(b, sid(af), "workflow", NULL, wf, "application/x-yaml");
    assert_int_equal(test_mkdtemp(tmpdir, sizeof(tmpdir), "upl"), 0);
    snprintf(path, sizeof(path), "%s/heal.sh", tmpdir);
    write_file(path, script, strlen(script));
    loc.id = sid(af);
    json_decref(got);
    assert_ok(glarex_store_upload_file(&got, b->store, &loc, path, "text/x-shellscript",
                                       on_progress, &prog, &err),
              err);
    test_rm_rf(tmpdir);
    if (b->is_dir) {
        assert_true(prog.calls >= 1);
        assert_int_equal(prog.last_done, strlen(script));
        assert_int_equal(prog.last_total, strlen(script));
    }
    json_decref(got);
    assert_ok(put(&got, b, sid(af), "resources", key2, notes, "text/plain", &err), err);

    assert_int_equal(json_object_size(json_object_get(got, "resources")), 2);
    blob = json_object_get(json_object_get(got, "resources"), key1);
    assert_members(blob, blob_keys, 0);
    snprintf(url, sizeof(url), "/artifacts/workflows/%s/resources/%s", sid(af), key1);
    assert_string_equal(json_string_value(json_object_get(blob, "url")), url);
    assert_string_equal(json_string_value(json_object_get(blob, "status")), "active");
    assert_true(json_is_false(json_object_get(blob, "external")));
    sha_md5(script, sha, md5);
    assert_string_equal(json_string_value(json_object_get(blob, "sha256")), sha);
    assert_string_equal(json_string_value(json_object_get(blob, "md5")), md5);
    assert_int_equal(strlen(json_string_value(json_object_get(blob, "sha1"))), 40);
    assert_int_equal(json_integer_value(json_object_get(blob, "size")), strlen(script));
    assert_string_equal(json_string_value(json_object_get(blob, "content_type")),
                        "text/x-shellscript");
    blob = json_object_get(got, "workflow");
    assert_members(blob, blob_keys, 0);
    snprintf(url, sizeof(url), "/artifacts/workflows/%s/workflow", sid(af));
    assert_string_equal(json_string_value(json_object_get(blob, "url")), url);
    assert_string_equal(json_string_value(json_object_get(blob, "content_type")),
                        "application/x-yaml");

    /* Activate, then get: the same artifact. */
    assert_ok(glarex_store_activate(&active, b->store, "workflows", sid(af), &err), err);
    assert_string_equal(json_string_value(json_object_get(active, "status")), "active");
    assert_true(is_stamp(json_string_value(json_object_get(active, "activated_at"))));
    json_decref(got);
    assert_ok(glarex_store_get(&got, b->store, "workflows", sid(af), &err), err);
    assert_true(json_equal(got, active));

    /* Download and verify, against the digests the artifact records. */
    assert_ok(
        glarex_digests_from_json(
            &expect, json_object_get(json_object_get(got, "resources"), key1), &err),
        err);
    assert_ok(get_bytes(&m, &info, b, sid(af), "resources", key1, &expect, &err), err);
    assert_int_equal(m.len, strlen(script));
    assert_memory_equal(m.ptr, script, m.len);
    assert_string_equal(info.sha256, sha);
    assert_string_equal(info.md5, md5);
    assert_int_equal(info.size, strlen(script));
    assert_string_equal(info.content_type, "text/x-shellscript");
    assert_int_equal(info.external, 0);
    free(m.ptr);
    assert_ok(get_bytes(&m, &info, b, sid(af), "workflow", NULL, NULL, &err), err);
    assert_int_equal(m.len, strlen(wf));
    assert_memory_equal(m.ptr, wf, m.len);
    free(m.ptr);
    assert_ok(get_bytes(&m, NULL, b, sid(af), "resources", key2, NULL, &err), err);
    assert_string_equal(m.ptr, notes);
    free(m.ptr);

    /* Immutable once active: new keys, old keys and the workflow alike. */
    assert_int_equal(
        put(NULL, b, sid(af), "resources", "late.txt", "late", "text/plain", &err),
        GLAREX_EFORBIDDEN);
    assert_int_equal(err.http_status, 403);
    assert_contains(err.message,
                    "Forbidden to change field 'resources' after activation.");
    assert_int_equal(put(NULL, b, sid(af), "resources", key2, "changed", NULL, &err),
                     GLAREX_EFORBIDDEN);
    assert_int_equal(put(NULL, b, sid(af), "workflow", NULL, "x: 1", NULL, &err),
                     GLAREX_EFORBIDDEN);
    assert_contains(err.message,
                    "Forbidden to change field 'workflow' after activation.");
    /* Activating again changes nothing. */
    json_decref(active);
    assert_ok(glarex_store_activate(&active, b->store, "workflows", sid(af), &err), err);
    assert_true(json_equal(got, active));

    /* Delete: gone, with its blobs. */
    assert_ok(glarex_store_delete(b->store, "workflows", sid(af), &err), err);
    json_decref(got);
    got = NULL;
    assert_int_equal(glarex_store_get(&got, b->store, "workflows", sid(af), &err),
                     GLAREX_ENOTFOUND);
    assert_null(got);
    assert_int_equal(err.http_status, 404);
    assert_contains(err.message, "not found");
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "workflow", NULL, NULL, &err),
                     GLAREX_ENOTFOUND);
    free(m.ptr);
    assert_int_equal(glarex_store_delete(b->store, "workflows", sid(af), &err),
                     GLAREX_ENOTFOUND);

    json_decref(active);
    json_decref(af);
}

static void test_store__list_filters_latest_sort(void **state)
{
    backend *b = get_backend(state);
    char a[64], c[64], like[64], buf[256];
    static const char *const versions[] = {"1.0", "1.1", "1.10", "2.0.0-beta"};
    json_t *arts[4], *other, *out, *fields, *meta = NULL;
    glarex_error err;

    unique_name(a, sizeof(a), b, "lst");
    unique_name(c, sizeof(c), b, "lst");
    for (int i = 0; i < 4; i++) {
        arts[i] = create_wf(b, a, versions[i]);
        put_ok(b, sid(arts[i]), "workflow", NULL, "wf", NULL);
    }
    other = create_wf(b, c, "1.0");
    put_ok(b, sid(other), "workflow", NULL, "wf", NULL);
    for (int i = 0; i < 2; i++) {
        json_t *x = NULL;
        assert_ok(glarex_store_activate(&x, b->store, "workflows", sid(arts[i]), &err),
                  err);
        json_decref(x);
    }
    {
        json_t *x = NULL;
        assert_ok(glarex_store_activate(&x, b->store, "workflows", sid(other), &err),
                  err);
        json_decref(x);
    }
    fields = json_pack("{s:s, s:s, s:{s:s}}", "name", c, "version", "0.9", "metadata",
                       "entry", "heal_vm");
    assert_ok(glarex_store_create(&meta, b->store, "workflows", fields, &err), err);
    json_decref(fields);

    { /* By name: newest first by default. */
        glarex_filter f[] = {{"name", "eq", a}};
        out = list(b, f, 1, 0, NULL, 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "2.0.0-beta 1.10.0 1.1.0 1.0.0");
        json_decref(out);
    }
    { /* Versions are normalised in filters too. */
        glarex_filter f[] = {{"name", "eq", a}, {"version", "eq", "1.0"}};
        out = list(b, f, 2, 0, NULL, 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.0.0");
        json_decref(out);
    }
    { /* A range, from two filters on one field. */
        glarex_filter f[] = {
            {"name", "eq", a}, {"version", "gte", "1.1"}, {"version", "lt", "1.10"}};
        out = list(b, f, 3, 0, NULL, 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.1.0");
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"name", "eq", a}, {"version", "in", "1.0,1.1"}};
        out = list(b, f, 2, 0, "version:asc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.0.0 1.1.0");
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"name", "eq", a}, {"version", "neq", "1.0.0"}};
        out = list(b, f, 2, 0, "version:asc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.1.0 1.10.0 2.0.0-beta");
        json_decref(out);
    }
    { /* Semver order: 1.10 after 1.9, a prerelease before its release. */
        glarex_filter f[] = {{"name", "eq", a}};
        out = list(b, f, 1, 0, "version:asc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.0.0 1.1.0 1.10.0 2.0.0-beta");
        json_decref(out);
        out = list(b, f, 1, 0, "version:asc", 2); /* max_items */
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.0.0 1.1.0");
        json_decref(out);
    }
    { /* latest: per name, the highest version among the matches. */
        char names[140];
        snprintf(names, sizeof(names), "%s,%s", a, c);
        glarex_filter f[] = {{"name", "in", names}};
        out = list(b, f, 1, 1, "name:asc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "2.0.0-beta 1.0.0");
        json_decref(out);
        glarex_filter g[] = {{"name", "in", names}, {"status", "eq", "active"}};
        out = list(b, g, 2, 1, "name:asc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "1.1.0 1.0.0");
        json_decref(out);
    }
    { /* like, and a two-key sort. */
        snprintf(like, sizeof(like), "%.*s%%", (int)(strchr(a, '-') - a), a);
        glarex_filter f[] = {{"name", "like", like}, {"name", "in", a}};
        out = list(b, f, 2, 0, "name:asc,version:desc", 0);
        versions_of(buf, sizeof(buf), out);
        assert_string_equal(buf, "2.0.0-beta 1.10.0 1.1.0 1.0.0");
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"name", "eq", a}, {"status", "eq", "drafted"}};
        out = list(b, f, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 2);
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"id", "eq", sid(arts[2])},
                             {"owner", "eq", b->owner},
                             {"visibility", "eq", "private"}};
        out = list(b, f, 3, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 1);
        assert_string_equal(sid(json_array_get(out, 0)), sid(arts[2]));
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"metadata.entry", "eq", "heal_vm"}, {"name", "eq", c}};
        out = list(b, f, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 1);
        assert_string_equal(sid(json_array_get(out, 0)), sid(meta));
        json_decref(out);
    }
    { /* Datetimes take lt and gt. */
        glarex_filter f[] = {{"name", "eq", a},
                             {"created_at", "gt", "2000-01-01T00:00:00Z"},
                             {"updated_at", "lt", "2999-01-01T00:00:00Z"}};
        out = list(b, f, 3, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 4);
        json_decref(out);
        glarex_filter g[] = {{"name", "eq", a},
                             {"created_at", "lt", "2000-01-01T00:00:00Z"}};
        out = list(b, g, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 0);
        json_decref(out);
    }
    { /* A name holding ':' needs its explicit operator, which both send. */
        glarex_filter f[] = {{"name", "eq", "ns:none"}};
        out = list(b, f, 1, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 0);
        json_decref(out);
    }

    /* Glare's 400s for filters and sorts it does not take. */
    {
        glarex_list_options opts = GLAREX_LIST_OPTIONS_INIT;
        glarex_filter f1[] = {{"description", "eq", "x"}};
        glarex_filter f2[] = {{"nope", "eq", "x"}};
        glarex_filter f3[] = {{"version", "like", "1%"}};
        glarex_filter f4[] = {{"version", "eq", "abc"}};
        json_t *x = NULL;

        opts.filters = f1;
        opts.nfilters = 1;
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "Unsupported filter type 'eq'");
        opts.filters = f2;
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "Unable filter 'nope'");
        opts.filters = f3;
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "Unsupported filter type 'like'");
        opts.filters = f4;
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "Version string lacks a numerical component");
        opts.nfilters = 0;
        opts.sort = "description";
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "The field description is not sortable.");
        opts.sort = "nope:asc";
        assert_bad_request(glarex_store_list(&x, b->store, "workflows", &opts, &err),
                           &err, "The field nope doesn't exist.");
        assert_null(x);
        assert_int_equal(glarex_store_list(&x, b->store, "nope", NULL, &err),
                         GLAREX_ENOTFOUND);
        assert_contains(err.message, "Glare type with name 'nope' was not found.");
    }

    for (int i = 0; i < 4; i++)
        json_decref(arts[i]);
    json_decref(other);
    json_decref(meta);
}

static void test_store__duplicate_conflict(void **state)
{
    backend *b = get_backend(state);
    char name[64];
    json_t *first, *fields, *af = NULL, *again;
    glarex_error err;

    unique_name(name, sizeof(name), b, "dup");
    first = create_wf(b, name, "1.0");
    fields = json_pack("{s:s, s:s}", "name", name, "version", "1.0.0");
    assert_int_equal(glarex_store_create(&af, b->store, "workflows", fields, &err),
                     GLAREX_ECONFLICT);
    assert_null(af);
    assert_int_equal(err.http_status, 409);
    assert_contains(
        err.message,
        "Artifact with this name and version is already exists for this scope.");
    json_decref(create_wf(b, name, "1.1")); /* another version is fine */

    /* Once deleted, the name and version are free again. */
    assert_ok(glarex_store_delete(b->store, "workflows", sid(first), &err), err);
    again = create_wf(b, name, "1");
    assert_string_equal(json_string_value(json_object_get(again, "version")), "1.0.0");
    assert_string_not_equal(sid(again), sid(first));
    json_decref(fields);
    json_decref(first);
    json_decref(again);
}

static void test_store__create_rejects_bad_input(void **state)
{
    backend *b = get_backend(state);
    json_t *af = NULL, *fields;
    glarex_error err;

    fields = json_pack("{s:s, s:s}", "name", "bad", "visibility", "public");
    assert_bad_request(glarex_store_create(&af, b->store, "workflows", fields, &err),
                       &err, "visibility is not allowed in a request at creation.");
    json_decref(fields);

    fields = json_pack("{s:s, s:s}", "name", "bad", "version", "abc");
    assert_bad_request(glarex_store_create(&af, b->store, "workflows", fields, &err),
                       &err, "Version string lacks a numerical component");
    json_decref(fields);

    fields = json_pack("{s:s}", "version", "1.0");
    assert_bad_request(glarex_store_create(&af, b->store, "workflows", fields, &err),
                       &err, "Name must be specified at creation.");
    json_decref(fields);

    fields = json_pack("{s:s, s:i}", "name", "bad", "foo", 1);
    assert_bad_request(glarex_store_create(&af, b->store, "workflows", fields, &err),
                       &err, "Cannot add new field 'foo' to artifact.");
    json_decref(fields);

    fields = json_pack("{s:s, s:{}}", "name", "bad", "workflow");
    assert_bad_request(
        glarex_store_create(&af, b->store, "workflows", fields, &err), &err,
        "Cannot add blob with this request. Use special Blob API for that.");
    json_decref(fields);

    fields = json_pack("{s:s, s:s}", "name", "bad", "owner", "someone");
    assert_int_equal(glarex_store_create(&af, b->store, "workflows", fields, &err),
                     GLAREX_EFORBIDDEN);
    assert_int_equal(err.http_status, 403);
    assert_contains(err.message, "system field owner");
    json_decref(fields);

    fields = json_pack("{s:s}", "name", "bad");
    assert_int_equal(glarex_store_create(&af, b->store, "nope", fields, &err),
                     GLAREX_ENOTFOUND);
    assert_contains(err.message, "Glare type with name 'nope' was not found.");
    json_decref(fields);
    assert_null(af);
}

static void test_store__blob_errors(void **state)
{
    backend *b = get_backend(state);
    char name[64], sha[65], md5[33];
    json_t *af, *got = NULL, *x = NULL;
    glarex_digests expect;
    glarex_error err;
    membuf m;

    unique_name(name, sizeof(name), b, "blob");
    af = create_wf(b, name, "1.0");

    assert_bad_request(put(NULL, b, sid(af), "name", NULL, "x", NULL, &err), &err,
                       "name is not a blob");
    assert_bad_request(put(NULL, b, sid(af), "workflow", "k", "x", NULL, &err), &err,
                       "workflow is not a blob dict");
    assert_bad_request(put(NULL, b, sid(af), "resources", NULL, "x", NULL, &err), &err,
                       "resources is not a blob");
    assert_int_equal(put(NULL, b, "00000000-0000-4000-8000-000000000000", "workflow",
                         NULL, "x", NULL, &err),
                     GLAREX_ENOTFOUND);

    {
        glarex_blob_loc loc = {"workflows", sid(af), "workflow", NULL};
        assert_int_equal(glarex_store_upload_file(&x, b->store, &loc,
                                                  "/nonexistent/wf.yaml", NULL, NULL,
                                                  NULL, &err),
                         GLAREX_ENOTFOUND);
        assert_contains(err.message, "/nonexistent/wf.yaml");
        assert_int_equal(
            glarex_store_upload_file(&x, b->store, &loc, "/", NULL, NULL, NULL, &err),
            GLAREX_EINVALID);
        assert_null(x);
    }

    /* Nothing uploaded yet. */
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "nope.sh", NULL, &err),
                     GLAREX_ENOTFOUND);
    assert_contains(err.message, "No data found for blob resources[nope.sh]");
    free(m.ptr);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "workflow", NULL, NULL, &err),
                     GLAREX_ENOTFOUND);
    assert_contains(err.message, "No data found for blob workflow");
    free(m.ptr);
    assert_int_equal(glarex_store_activate(&x, b->store, "workflows", sid(af), &err),
                     GLAREX_EFORBIDDEN);
    assert_contains(err.message, "'workflow' field value must be set before activation.");
    assert_null(x);

    /* A draft's blob can be replaced; the first content type stays (as Glare). */
    put_ok(b, sid(af), "resources", "r.txt", "first", "text/plain");
    assert_ok(
        put(&got, b, sid(af), "resources", "r.txt", "second!", "application/json", &err),
        err);
    sha_md5("second!", sha, md5);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(got, "resources"), "r.txt"), "sha256")),
        sha);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(got, "resources"), "r.txt"), "content_type")),
        "text/plain");
    assert_ok(get_bytes(&m, NULL, b, sid(af), "resources", "r.txt", NULL, &err), err);
    assert_string_equal(m.ptr, "second!");
    free(m.ptr);

    /* Downloads are checked against what the caller expects. */
    memset(&expect, 0, sizeof(expect));
    expect.size = -1;
    sha_md5("first", expect.sha256, md5);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "r.txt", &expect, &err),
                     GLAREX_ECHECKSUM);
    assert_contains(err.message, expect.sha256);
    assert_contains(err.message, sha);
    free(m.ptr);
    memset(&expect, 0, sizeof(expect));
    expect.size = 3;
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "r.txt", &expect, &err),
                     GLAREX_ECHECKSUM);
    assert_contains(err.message, "size mismatch");
    free(m.ptr);
    strcpy(expect.sha256, "not hex");
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "r.txt", &expect, &err),
                     GLAREX_EINVALID);
    free(m.ptr);

    json_decref(got);
    json_decref(af);
}

static void test_store__null_arguments(void **state)
{
    backend *b = get_backend(state);
    json_t *x = NULL;
    glarex_blob_loc loc = {"workflows", "id", "resources", ""};
    glarex_error err;

    assert_int_equal(glarex_store_get(NULL, b->store, "workflows", "x", &err),
                     GLAREX_EINVALID);
    assert_int_equal(glarex_store_get(&x, NULL, "workflows", "x", &err), GLAREX_EINVALID);
    assert_contains(err.message, "invalid argument");
    assert_int_equal(glarex_store_get(&x, b->store, NULL, "x", NULL), GLAREX_EINVALID);
    assert_int_equal(glarex_store_create(&x, b->store, "workflows", NULL, &err),
                     GLAREX_EINVALID);
    assert_int_equal(glarex_store_delete(b->store, "workflows", NULL, &err),
                     GLAREX_EINVALID);
    assert_int_equal(glarex_store_upload_buffer(&x, b->store, NULL, "x", 1, NULL, &err),
                     GLAREX_EINVALID);
    assert_int_equal(glarex_store_upload_buffer(&x, b->store, &loc, "x", 1, NULL, &err),
                     GLAREX_EINVALID); /* an empty key */
    assert_int_equal(glarex_store_download(NULL, b->store, &loc, NULL, NULL, NULL, &err),
                     GLAREX_EINVALID);
    assert_null(x);
    glarex_store_free(NULL);
    assert_null(glarex_store_url(NULL));
    assert_non_null(glarex_store_url(b->store));
}

/* }==================================================================== */

/* {====================================================================
 * Directory store only
 * ==================================================================== */

/* Creates name/version in a fresh handle: 0 created, 1 conflict, 2 anything else. */
static int child_create(const char *root, const char *name)
{
    glarex_store *s = NULL;
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", "1.0");
    json_t *af = NULL;
    glarex_error err;
    int rc;

    if (open_dir_store(&s, root, 0, &err) < 0)
        return 2;
    rc = glarex_store_create(&af, s, "workflows", fields, &err);
    return rc == 0 ? 0 : rc == GLAREX_ECONFLICT ? 1 : 2;
}

static void test_store__dir_concurrent_create(void **state)
{
    backend *b = get_backend(state);
    enum { CHILDREN = 6, ROUNDS = 4 };

    for (int round = 0; round < ROUNDS; round++) {
        char name[64];
        int gate[2], wins = 0, conflicts = 0;
        pid_t pids[CHILDREN];
        json_t *out;

        unique_name(name, sizeof(name), b, "race");
        assert_int_equal(pipe(gate), 0);
        for (int i = 0; i < CHILDREN; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                char c;
                close(gate[1]);
                /* Everyone starts together once the parent closes the gate. */
                while (read(gate[0], &c, 1) > 0)
                    ;
                _exit(child_create(b->root, name));
            }
        }
        close(gate[0]);
        usleep(20000);
        close(gate[1]);
        for (int i = 0; i < CHILDREN; i++) {
            int status = 0;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            wins += WEXITSTATUS(status) == 0;
            conflicts += WEXITSTATUS(status) == 1;
        }
        assert_int_equal(wins, 1);
        assert_int_equal(conflicts, CHILDREN - 1);
        {
            glarex_filter f[] = {{"name", "eq", name}};
            out = list(b, f, 1, 0, NULL, 0);
            assert_int_equal(json_array_size(out), 1);
            json_decref(out);
        }
    }
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The single file in the artifact's blobs/ directory. */
static void only_blob_file(char *out, size_t size, backend *b, const char *id)
{
    char dir[ROOTBUF + 64];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/workflows/%s/blobs", b->root, id);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(out, size, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 1);
}

static int signal_then_hang(uint64_t done, uint64_t total, void *payload)
{
    int fd = *(int *)payload;
    (void)done, (void)total;
    if (write(fd, "x", 1) != 1)
        _exit(3);
    for (;;)
        pause();
    return 0;
}

static void test_store__dir_crash_mid_upload(void **state)
{
    backend *b = get_backend(state);
    char name[64], path[PATHBUF], blobs[ROOTBUF + 64], orphan[PATHBUF];
    size_t big = 1024 * 1024;
    char *data = malloc(big);
    json_t *af, *got = NULL;
    int pipefd[2], status = 0;
    glarex_error err;
    membuf m;
    pid_t pid;
    char c;

    assert_non_null(data);
    memset(data, 'z', big);
    unique_name(name, sizeof(name), b, "crash");
    af = create_wf(b, name, "1.0");
    snprintf(path, sizeof(path), "%s/big.bin", b->dir);
    write_file(path, data, big);
    free(data);

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        glarex_store *s = NULL;
        glarex_blob_loc loc = {"workflows", sid(af), "resources", "big.bin"};
        json_t *x = NULL;
        close(pipefd[0]);
        if (open_dir_store(&s, b->root, 0, &err) < 0)
            _exit(2);
        glarex_store_upload_file(&x, s, &loc, path, NULL, signal_then_hang, &pipefd[1],
                                 &err);
        _exit(4); /* not reached: killed while uploading */
    }
    close(pipefd[1]);
    assert_int_equal(read(pipefd[0], &c, 1), 1); /* mid-upload now */
    close(pipefd[0]);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* No trace of the upload is visible. */
    assert_ok(glarex_store_get(&got, b->store, "workflows", sid(af), &err), err);
    assert_int_equal(json_object_size(json_object_get(got, "resources")), 0);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "big.bin", NULL, &err),
                     GLAREX_ENOTFOUND);
    free(m.ptr);
    snprintf(blobs, sizeof(blobs), "%s/workflows/%s/blobs", b->root, sid(af));
    assert_int_equal(count_entries(blobs), 0);

    /* A crash between moving a blob in and recording it leaves an orphan file: the
     * next commit to that artifact removes it. */
    snprintf(orphan, sizeof(orphan), "%s/11111111-1111-4111-8111-111111111111", blobs);
    write_file(orphan, "orphan", 6);
    put_ok(b, sid(af), "resources", "big.bin", "small now", NULL);
    assert_int_equal(count_entries(blobs), 1);
    assert_int_equal(access(orphan, F_OK), -1);
    assert_ok(get_bytes(&m, NULL, b, sid(af), "resources", "big.bin", NULL, &err), err);
    assert_string_equal(m.ptr, "small now");
    free(m.ptr);

    unlink(path);
    json_decref(got);
    json_decref(af);
}

static void test_store__dir_corrupt_blob(void **state)
{
    backend *b = get_backend(state);
    char name[64], file[PATHBUF], sha[65], md5[33], bad_sha[65];
    json_t *af;
    glarex_error err;
    membuf m;

    unique_name(name, sizeof(name), b, "corrupt");
    af = create_wf(b, name, "1.0");
    put_ok(b, sid(af), "resources", "c.txt", "hello world", NULL);
    only_blob_file(file, sizeof(file), b, sid(af));
    sha_md5("hello world", sha, md5);

    /* Same size, other bytes: the recorded sha256 catches it. */
    write_file(file, "hellO world", 11);
    sha_md5("hellO world", bad_sha, md5);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "c.txt", NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_contains(err.message, "sha256 mismatch");
    assert_contains(err.message, sha);
    assert_contains(err.message, bad_sha);
    free(m.ptr);

    write_file(file, "hel", 3);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "c.txt", NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_contains(err.message, "size mismatch");
    free(m.ptr);

    write_file(file, "hello world, and more", 21);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "c.txt", NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_true(m.len <= 11); /* never more than the blob holds */
    free(m.ptr);

    unlink(file);
    assert_int_equal(get_bytes(&m, NULL, b, sid(af), "resources", "c.txt", NULL, &err),
                     GLAREX_EIO);
    free(m.ptr);
    json_decref(af);
}

/* Fails when a regular file named `base` exists anywhere under `dir`. */
static void assert_no_file_named(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char sub[PATHBUF];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_string_not_equal(e->d_name, base);
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            assert_no_file_named(sub, base);
    }
    closedir(d);
}

static void test_store__dir_traversal_keys(void **state)
{
    backend *b = get_backend(state);
    static const char *const keys[] = {"../../escape.txt",
                                       "../escape.txt",
                                       "/escape.txt",
                                       "a/./b/../../../escape.txt",
                                       "..",
                                       ".",
                                       "x/",
                                       "con\\escape.txt",
                                       NULL};
    char name[64];
    json_t *af, *got = NULL;
    glarex_blob_loc loc = {"workflows", "../../etc", "workflow", NULL};
    glarex_error err;
    membuf m;

    unique_name(name, sizeof(name), b, "trav");
    af = create_wf(b, name, "1.0");
    /* Keys are data, never paths: each is stored and read back as itself. */
    for (int i = 0; keys[i]; i++)
        put_ok(b, sid(af), "resources", keys[i], keys[i], NULL);
    for (int i = 0; keys[i]; i++) {
        assert_ok(get_bytes(&m, NULL, b, sid(af), "resources", keys[i], NULL, &err), err);
        assert_string_equal(m.ptr, keys[i]);
        free(m.ptr);
    }
    assert_no_file_named(b->dir, "escape.txt");
    assert_int_equal(count_entries(b->dir), 1); /* only store/ */

    /* Ids and type names do name paths: only well-formed ones are looked up. */
    assert_int_equal(glarex_store_get(&got, b->store, "workflows", "../../etc", &err),
                     GLAREX_ENOTFOUND);
    assert_int_equal(glarex_store_get(&got, b->store, "../workflows", sid(af), &err),
                     GLAREX_ENOTFOUND);
    assert_int_equal(glarex_store_upload_buffer(&got, b->store, &loc, "x", 1, NULL, &err),
                     GLAREX_ENOTFOUND);
    loc.id = sid(af);
    loc.type_name = "workflows/../workflows";
    assert_int_equal(glarex_store_upload_buffer(&got, b->store, &loc, "x", 1, NULL, &err),
                     GLAREX_ENOTFOUND);
    assert_null(got);
    json_decref(af);
}

static void test_store__dir_too_big(void **state)
{
    backend *b = get_backend(state);
    char root[PATHBUF], path[PATHBUF], data[202];
    glarex_store *s = NULL;
    glarex_blob_loc loc = {"workflows", NULL, "resources", "big.bin"};
    json_t *af = NULL, *res = NULL, *fields = json_pack("{s:s}", "name", "big");
    glarex_error err;

    snprintf(root, sizeof(root), "%s/small", b->dir);
    assert_ok(open_dir_store(&s, root, 100, &err), err);
    assert_ok(glarex_store_create(&af, s, "workflows", fields, &err), err);
    loc.id = sid(af);
    memset(data, 'b', sizeof(data));
    assert_ok(glarex_store_upload_buffer(&res, s, &loc, data, 100, NULL, &err), err);
    json_decref(res);
    res = NULL;
    json_decref(fields);
    assert_int_equal(glarex_store_upload_buffer(&res, s, &loc, data, 101, NULL, &err),
                     GLAREX_ETOOBIG);
    assert_int_equal(err.http_status, 413);
    assert_string_equal(
        strchr(err.message, ':') + 2,
        "Can't upload 101 bytes of data to blob resources[big.bin]. Its max "
        "allowed size is 100");
    loc.field = "workflow";
    loc.key = NULL;
    assert_int_equal(glarex_store_upload_buffer(&res, s, &loc, data, 101, NULL, &err),
                     GLAREX_ETOOBIG);
    assert_contains(err.message, "to blob workflow.");
    snprintf(path, sizeof(path), "%s/big.bin", b->dir);
    write_file(path, data, sizeof(data));
    assert_int_equal(
        glarex_store_upload_file(&res, s, &loc, path, NULL, NULL, NULL, &err),
        GLAREX_ETOOBIG);
    assert_contains(err.message, "Can't upload 202 bytes");
    assert_null(res);
    unlink(path);
    json_decref(af);
    glarex_store_free(s);
    test_rm_rf(root);
}

static void test_store__dir_max_keys(void **state)
{
    backend *b = get_backend(state);
    char name[64], key[32];
    json_t *af;
    glarex_error err;

    unique_name(name, sizeof(name), b, "keys");
    af = create_wf(b, name, "1.0");
    for (int i = 0; i < 255; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        put_ok(b, sid(af), "resources", key, "v", NULL);
    }
    put_ok(b, sid(af), "resources", "k000", "again", NULL); /* replacing is fine */
    assert_bad_request(
        put(NULL, b, sid(af), "resources", "one-too-many", "v", NULL, &err), &err,
        "Number of items must be less than  255");
    {
        char longkey[300];
        memset(longkey, 'k', 256);
        longkey[256] = '\0';
        assert_bad_request(put(NULL, b, sid(af), "resources", longkey, "v", NULL, &err),
                           &err, "must be less than 255");
    }
    json_decref(af);
}

static void test_store__dir_layout(void **state)
{
    backend *b = get_backend(state);
    char name[64], path[PATHBUF];
    json_t *af, *rec, *got = NULL, *blob;
    json_error_t jerr;
    glarex_error err;
    struct stat st;

    unique_name(name, sizeof(name), b, "layout");
    af = create_wf(b, name, "1.0");
    put_ok(b, sid(af), "resources", "a.sh", "echo", "text/x-shellscript");
    assert_ok(glarex_store_get(&got, b->store, "workflows", sid(af), &err), err);

    snprintf(path, sizeof(path), "%s/glarex-store.json", b->root);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof(path), "%s/tmp", b->root);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(path, sizeof(path), "%s/workflows/%s/artifact.json", b->root, sid(af));
    rec = json_load_file(path, 0, &jerr);
    assert_non_null(rec);
    assert_true(json_equal(json_object_get(rec, "artifact"), got));
    json_decref(rec);

    /* Glare's member order, in the artifact and in each blob. */
    assert_members(got, artifact_keys, 1);
    blob = json_object_get(json_object_get(got, "resources"), "a.sh");
    assert_members(blob, blob_keys, 1);
    json_decref(got);
    json_decref(af);
}

static void test_store__dir_two_handles(void **state)
{
    backend *b = get_backend(state);
    glarex_store *other = NULL;
    char name[64];
    json_t *af, *got = NULL;
    glarex_blob_loc loc = {"workflows", NULL, "workflow", NULL};
    glarex_error err;
    membuf m = {NULL, 0};

    assert_ok(open_dir_store(&other, b->root, 0, &err), err);
    unique_name(name, sizeof(name), b, "two");
    af = create_wf(b, name, "1.0");
    loc.id = sid(af);
    assert_ok(glarex_store_upload_buffer(&got, other, &loc, "wf", 2, NULL, &err), err);
    json_decref(got);
    assert_ok(get_bytes(&m, NULL, b, sid(af), "workflow", NULL, NULL, &err), err);
    assert_string_equal(m.ptr, "wf");
    free(m.ptr);
    assert_ok(glarex_store_delete(other, "workflows", sid(af), &err), err);
    assert_int_equal(glarex_store_get(&got, b->store, "workflows", sid(af), &err),
                     GLAREX_ENOTFOUND);
    glarex_store_free(other);
    json_decref(af);
}

static void test_store__dir_stale_index(void **state)
{
    backend *b = get_backend(state);
    char name[64], key[128], sha[65], md5[33], path[PATHBUF];
    json_t *af;
    size_t n;

    /* A creator that died between writing the index entry and the artifact leaves an
     * entry naming nothing: it must not block the name for ever. */
    unique_name(name, sizeof(name), b, "stale");
    n = (size_t)snprintf(key, sizeof(key), "%s", name) + 1;
    n += (size_t)snprintf(key + n, sizeof(key) - n, "1.0.0");
    assert_int_equal(glarex__digest_buffer(key, n, sha, md5), 0);
    json_decref(create_wf(b, "ensure-index-dir", NULL));
    snprintf(path, sizeof(path), "%s/workflows/index/%s", b->root, sha);
    write_file(path, "22222222-2222-4222-8222-222222222222\n", 37);
    af = create_wf(b, name, "1.0");
    assert_string_equal(json_string_value(json_object_get(af, "version")), "1.0.0");
    json_decref(af);
}

static void test_store__dir_tags_filter(void **state)
{
    backend *b = get_backend(state);
    char name[64];
    json_t *fields, *af = NULL, *out;
    glarex_list_options opts = GLAREX_LIST_OPTIONS_INIT;
    glarex_error err;

    unique_name(name, sizeof(name), b, "tags");
    fields = json_pack("{s:s, s:[s,s,s]}", "name", name, "tags", "zeta", "alpha", "zeta");
    assert_ok(glarex_store_create(&af, b->store, "workflows", fields, &err), err);
    /* A set: duplicates collapse (shown sorted). */
    assert_int_equal(json_array_size(json_object_get(af, "tags")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(af, "tags"), 0)),
                        "alpha");
    {
        glarex_filter f[] = {{"tags", NULL, "alpha,zeta"}, {"name", "eq", name}};
        out = list(b, f, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 1);
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"tags", NULL, "alpha,other"}, {"name", "eq", name}};
        out = list(b, f, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 0);
        json_decref(out);
        glarex_filter g[] = {{"tags-any", NULL, "alpha,other"}, {"name", "eq", name}};
        out = list(b, g, 2, 0, NULL, 0);
        assert_int_equal(json_array_size(out), 1);
        json_decref(out);
    }
    {
        glarex_filter f[] = {{"tags", "eq", "alpha"}};
        out = NULL;
        opts.filters = f;
        opts.nfilters = 1;
        assert_bad_request(glarex_store_list(&out, b->store, "workflows", &opts, &err),
                           &err, "Tags are filtered without operator");
    }
    json_decref(fields);
    fields = json_pack("{s:s, s:[s]}", "name", name, "tags", "a,b");
    assert_bad_request(glarex_store_create(&out, b->store, "workflows", fields, &err),
                       &err, "Field: tags");
    json_decref(fields);
    json_decref(af);
}

/* Readers take no lock: while another process keeps replacing a draft's blob, every
 * download still gets one whole, verified version. */
static void test_store__dir_readers_see_whole_states(void **state)
{
    backend *b = get_backend(state);
    enum { SIZE = 200 * 1024, READS = 60 };
    char name[64], *va = malloc(SIZE + 1), *vb = malloc(SIZE + 1);
    json_t *af;
    glarex_error err;
    int status = 0;
    pid_t pid;

    assert_non_null(va);
    assert_non_null(vb);
    memset(va, 'a', SIZE);
    memset(vb, 'b', SIZE);
    va[SIZE] = vb[SIZE] = '\0';
    unique_name(name, sizeof(name), b, "readers");
    af = create_wf(b, name, "1.0");
    put_ok(b, sid(af), "resources", "flip", va, NULL);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        glarex_store *s = NULL;
        glarex_blob_loc loc = {"workflows", sid(af), "resources", "flip"};
        if (open_dir_store(&s, b->root, 0, &err) < 0)
            _exit(2);
        for (int i = 0;; i++) {
            json_t *x = NULL;
            const char *v = i % 2 ? va : vb;
            if (glarex_store_upload_buffer(&x, s, &loc, v, SIZE, NULL, &err) < 0)
                _exit(3);
            json_decref(x);
        }
    }
    for (int i = 0; i < READS; i++) {
        membuf m;
        assert_ok(get_bytes(&m, NULL, b, sid(af), "resources", "flip", NULL, &err), err);
        assert_int_equal(m.len, SIZE);
        assert_true(memcmp(m.ptr, va, SIZE) == 0 || memcmp(m.ptr, vb, SIZE) == 0);
        free(m.ptr);
    }
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status)); /* the writer never failed */
    free(va);
    free(vb);
    json_decref(af);
}

static void test_store__urls(void **state)
{
    backend *b = get_backend(state);
    glarex_store_options opts;
    glarex_store *s = NULL;
    glarex_error err;
    char url[PATHBUF + 32], root[PATHBUF];

    assert_int_equal(glarex_store_options_init(&opts, GLAREX_STORE_OPTIONS_VERSION), 0);
    assert_int_equal(opts.client.version, GLAREX_CLIENT_OPTIONS_VERSION);
    assert_int_equal(glarex_store_options_init(&opts, 99), GLAREX_EINVALID);
    glarex_store_options_init(&opts, GLAREX_STORE_OPTIONS_VERSION);

    opts.url = "ftp://example.com/store";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EUNSUPPORTED);
    assert_contains(err.message, "unsupported scheme 'ftp'");
    opts.url = "gopher://x";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EUNSUPPORTED);
    opts.url = "no-scheme/at/all";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    assert_contains(err.message, "has no scheme");
    opts.url = "";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    opts.url = "file:relative";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    opts.url = "file://host/dir";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    assert_contains(err.message, "not a local absolute path");
    opts.url = "file:///tmp/bad%zzescape";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    opts.url = "file:///tmp/nul%00byte";
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    opts.version = 7;
    assert_int_equal(glarex_store_open(&s, &opts, &err), GLAREX_EINVALID);
    assert_null(s);

    /* Percent-escapes are decoded, and the URL shows them again. */
    glarex_store_options_init(&opts, GLAREX_STORE_OPTIONS_VERSION);
    snprintf(url, sizeof(url), "file://localhost%s/with%%20space/", b->dir);
    opts.url = url;
    assert_ok(glarex_store_open(&s, &opts, &err), err);
    snprintf(url, sizeof(url), "file://%s/with%%20space", b->dir);
    assert_string_equal(glarex_store_url(s), url);
    /* Opening creates nothing: a store is made by its first create. */
    snprintf(root, sizeof(root), "%s/with space/glarex-store.json", b->dir);
    assert_int_equal(access(root, F_OK), -1);
    glarex_store_free(s);
    s = NULL;
    snprintf(root, sizeof(root), "%s/with space", b->dir);
    test_rm_rf(root);

    /* http and https go to the Glare backend; the URL is kept as given. */
    opts.url = "HTTP://127.0.0.1:9/";
    assert_ok(glarex_store_open(&s, &opts, &err), err);
    assert_string_equal(glarex_store_url(s), "HTTP://127.0.0.1:9/");
    glarex_store_free(s);
}

static void test_store__dir_default_location(void **state)
{
    backend *b = get_backend(state);
    char *old_xdg = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char dir[PATHBUF], want[PATHBUF + 64];
    glarex_store *s = NULL;
    glarex_error err;

    snprintf(dir, sizeof(dir), "%s/xdg", b->dir);
    setenv("XDG_DATA_HOME", dir, 1);
    assert_ok(glarex_store_open(&s, NULL, &err), err);
    snprintf(want, sizeof(want), "file://%s/glarex/store", dir);
    assert_string_equal(glarex_store_url(s), want);
    glarex_store_free(s);

    /* A relative XDG_DATA_HOME is ignored, as the spec says. */
    setenv("XDG_DATA_HOME", "relative/dir", 1);
    snprintf(dir, sizeof(dir), "%s/home/", b->dir);
    setenv("HOME", dir, 1);
    assert_ok(glarex_store_open(&s, NULL, &err), err);
    snprintf(want, sizeof(want), "file://%s/home/.local/share/glarex/store", b->dir);
    assert_string_equal(glarex_store_url(s), want);
    glarex_store_free(s);

    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    s = NULL;
    assert_int_equal(glarex_store_open(&s, NULL, &err), GLAREX_EINVALID);
    assert_contains(err.message, "no default store directory");

    if (old_xdg)
        setenv("XDG_DATA_HOME", old_xdg, 1);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
    snprintf(dir, sizeof(dir), "%s/xdg", b->dir);
    test_rm_rf(dir);
    snprintf(dir, sizeof(dir), "%s/home", b->dir);
    test_rm_rf(dir);
}

/* A mistyped file:// URL, or a command that only reads, leaves nothing on disk. */
static void test_store__dir_open_creates_nothing(void **state)
{
    backend *b = get_backend(state);
    char dir[PATHBUF], marker[PATHBUF + 32];
    glarex_store *s = NULL;
    glarex_error err;
    json_t *out = NULL, *fields = json_pack("{s:s, s:s}", "name", "wf", "version", "1.0");
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/not/yet", b->dir);
    assert_ok(open_dir_store(&s, dir, 0, &err), err);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(glarex_store_list(&out, s, "workflows", NULL, &err), GLAREX_ENOTFOUND);
    assert_contains(err.message, "no glarex store in");
    assert_contains(err.message, dir);
    assert_int_equal(glarex_store_get(&out, s, "workflows",
                                      "00000000-0000-4000-8000-000000000000", &err),
                     GLAREX_ENOTFOUND);
    assert_int_equal(stat(dir, &st), -1);
    /* the first create makes the store */
    assert_ok(glarex_store_create(&out, s, "workflows", fields, &err), err);
    json_decref(out);
    snprintf(marker, sizeof(marker), "%s/glarex-store.json", dir);
    assert_int_equal(access(marker, F_OK), 0);
    assert_ok(glarex_store_list(&out, s, "workflows", NULL, &err), err);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    json_decref(fields);
    glarex_store_free(s);
    snprintf(dir, sizeof(dir), "%s/not", b->dir);
    test_rm_rf(dir);
}

static void test_store__dir_refuses_foreign_directory(void **state)
{
    backend *b = get_backend(state);
    char dir[PATHBUF], path[PATHBUF + 32];
    glarex_store *s = NULL;
    glarex_error err;

    snprintf(dir, sizeof(dir), "%s/foreign", b->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/precious.txt", dir);
    write_file(path, "keep", 4);
    assert_int_equal(open_dir_store(&s, dir, 0, &err), GLAREX_EINVALID);
    assert_contains(err.message, "is not a glarex store");
    unlink(path);

    /* A store of a later format is not touched. */
    snprintf(path, sizeof(path), "%s/glarex-store.json", dir);
    write_file(path, "{\"format\": \"glarex-store\", \"version\": 2}", 40);
    assert_int_equal(open_dir_store(&s, dir, 0, &err), GLAREX_EUNSUPPORTED);
    assert_null(s);
    test_rm_rf(dir);
}

/* Counts what under `path` (itself included) group or others may read, write or enter;
 * `n` counts everything seen. */
static int count_shared(const char *path, int *n)
{
    struct dirent *de;
    struct stat st;
    int shared;
    DIR *d;

    assert_int_equal(lstat(path, &st), 0);
    (*n)++;
    shared = (st.st_mode & 077) != 0;
    if (shared)
        print_message("%s has mode %04o\n", path, (unsigned)(st.st_mode & 07777));
    if (!S_ISDIR(st.st_mode))
        return shared;
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char child[PATHBUF];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
        shared += count_shared(child, n);
    }
    closedir(d);
    return shared;
}

/* Private artifacts stay private at the usual umask 022: every directory the store
 * makes (its missing parents too) is 0700 and every file 0600 or less. */
static void test_store__dir_files_are_private(void **state)
{
    backend *b = get_backend(state), mine = *b;
    char top[PATHBUF];
    mode_t old = umask(022);
    glarex_error err;
    json_t *af;
    int n = 0;

    snprintf(top, sizeof(top), "%s/private", b->dir);
    snprintf(mine.root, sizeof(mine.root), "%s/private/a/store", b->dir);
    mine.store = NULL;
    assert_ok(open_dir_store(&mine.store, mine.root, 0, &err), err);
    af = create_wf(&mine, "private", "1.0");
    put_ok(&mine, sid(af), "workflow", NULL, "version: '2.0'\n", "application/x-yaml");
    put_ok(&mine, sid(af), "resources", "key.pem", "secret", "application/x-pem-file");
    umask(old);
    assert_int_equal(count_shared(top, &n), 0);
    assert_true(n >= 10); /* the store, its lock, records, index, blobs were all seen */
    json_decref(af);
    glarex_store_free(mine.store);
    test_rm_rf(top);
}

/* }==================================================================== */

#define SHARED_TESTS                                                                     \
    cmocka_unit_test(test_store__lifecycle),                                             \
        cmocka_unit_test(test_store__list_filters_latest_sort),                          \
        cmocka_unit_test(test_store__duplicate_conflict),                                \
        cmocka_unit_test(test_store__create_rejects_bad_input),                          \
        cmocka_unit_test(test_store__blob_errors),                                       \
        cmocka_unit_test(test_store__null_arguments)

int main(void)
{
    const struct CMUnitTest dir_tests[] = {
        SHARED_TESTS,
        cmocka_unit_test(test_store__dir_concurrent_create),
        cmocka_unit_test(test_store__dir_crash_mid_upload),
        cmocka_unit_test(test_store__dir_corrupt_blob),
        cmocka_unit_test(test_store__dir_traversal_keys),
        cmocka_unit_test(test_store__dir_too_big),
        cmocka_unit_test(test_store__dir_max_keys),
        cmocka_unit_test(test_store__dir_layout),
        cmocka_unit_test(test_store__dir_two_handles),
        cmocka_unit_test(test_store__dir_stale_index),
        cmocka_unit_test(test_store__dir_tags_filter),
        cmocka_unit_test(test_store__dir_readers_see_whole_states),
        cmocka_unit_test(test_store__urls),
        cmocka_unit_test(test_store__dir_default_location),
        cmocka_unit_test(test_store__dir_refuses_foreign_directory),
        cmocka_unit_test(test_store__dir_files_are_private),
        cmocka_unit_test(test_store__dir_open_creates_nothing),
    };
    const struct CMUnitTest glare_tests[] = {SHARED_TESTS};
    int failed = 0;

    failed += cmocka_run_group_tests_name("store-dir", dir_tests, setup_dir, teardown);
    failed +=
        cmocka_run_group_tests_name("store-glare", glare_tests, setup_glare, teardown);
    return failed ? 1 : 0;
}
