/*
 * glarex_ctx: configuration, the in-memory table of resolutions in front of the
 * resolver, requests (who asks, as of when), and the public fetch calls.
 */
#include "ctx.h"

#include "clock.h"
#include "ref.h"
#include "scope.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MEMORY_BUDGET ((uint64_t)256 << 20)
#define DEFAULT_STREAM_THRESHOLD ((uint64_t)8 << 20)
#define DEFAULT_TTL_EXACT_MS 300000
#define DEFAULT_TTL_LATEST_MS 10000
#define DEFAULT_TTL_DRAFTED_MS 2000
#define DEFAULT_TTL_NEGATIVE_MS 5000
#define DEFAULT_AS_OF_SKEW_MS 10000

/* {======================================================================
 * Options
 * ====================================================================== */

int glarex_ctx_options_init(glarex_ctx_options *opts, unsigned int version)
{
    if (!opts || version != GLAREX_CTX_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    glarex_store_options_init(&opts->store, GLAREX_STORE_OPTIONS_VERSION);
    return 0;
}

/* Replaces *s by an owned copy (kept in ctx->strings). */
static int own(glarex_ctx *ctx, const char **s)
{
    char *copy;
    if (!*s)
        return 0;
    if (ctx->nstrings == sizeof(ctx->strings) / sizeof(ctx->strings[0]))
        return -1;
    copy = strdup(*s);
    if (!copy)
        return -1;
    ctx->strings[ctx->nstrings++] = copy;
    *s = copy;
    return 0;
}

static int own_options(glarex_ctx *ctx)
{
    glarex_ctx_options *o = &ctx->opts;
    glarex_client_options *c = &o->store.client;
    const char **all[] = {&o->store.url,     &c->url,        &c->auth_token,
                          &c->noauth_project, &c->noauth_user, &c->noauth_roles,
                          &c->ca_file,       &c->client_cert, &c->client_key,
                          &o->type_name,     &o->workflow_field, &o->resources_field,
                          &o->cache_dir,     &o->project};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (own(ctx, all[i]) < 0)
            return -1;
    /* redirect_hosts, trace callbacks: borrowed, documented to outlive the context */
    return 0;
}

/* $GLAREX_CACHE_DIR, else $XDG_CACHE_HOME/glarex, else $HOME/.cache/glarex (new). */
static char *default_cache_dir(void)
{
    const char *v = getenv("GLAREX_CACHE_DIR");
    char *out = NULL;
    if (v && *v)
        return strdup(v);
    v = getenv("XDG_CACHE_HOME");
    if (v && v[0] == '/')
        return asprintf(&out, "%s/glarex", v) < 0 ? NULL : out;
    v = getenv("HOME");
    if (v && *v)
        return asprintf(&out, "%s/.cache/glarex", v) < 0 ? NULL : out;
    return NULL;
}

/* }====================================================================== */

static int request_init(glarex_request *req, glarex_ctx *ctx, const glarex_request_options *o,
                        glarex_error *err);

int glarex_ctx_new(glarex_ctx **out, const glarex_ctx_options *opts, glarex_error *err)
{
    glarex_ctx *ctx = NULL;
    glarex__cache_options co = GLAREX__CACHE_OPTIONS_INIT;
    glarex_store *probe = NULL;
    int rc;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    *out = NULL;
    if (opts && opts->version != GLAREX_CTX_OPTIONS_VERSION)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_ctx_options version %u is not supported (expected %d)",
                                 opts->version, GLAREX_CTX_OPTIONS_VERSION);
    if ((rc = glarex_global_init(err)) < 0)
        return rc;
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return GLAREX_ENOMEM_SET(err);
    if (opts)
        ctx->opts = *opts;
    else
        glarex_ctx_options_init(&ctx->opts, GLAREX_CTX_OPTIONS_VERSION);
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->cond, NULL);
    ctx->coarse_slack_ms = glarex__coarse_slack_ms();
    ctx->lanes = aligned_alloc(_Alignof(glarex__lane), GLAREX__LANES * sizeof(glarex__lane));
    if (!ctx->lanes) {
        rc = GLAREX_ENOMEM_SET(err);
        goto fail;
    }
    for (int i = 0; i < GLAREX__LANES; i++) {
        pthread_mutex_init(&ctx->lanes[i].lock, NULL);
        atomic_init(&ctx->lanes[i].hits, 0);
    }
    if (own_options(ctx) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
        goto fail;
    }

    glarex_ctx_options *o = &ctx->opts;
    if (!o->type_name)
        o->type_name = GLAREX_DEFAULT_TYPE;
    if (!o->workflow_field)
        o->workflow_field = GLAREX_DEFAULT_WORKFLOW_FIELD;
    if (!o->resources_field)
        o->resources_field = GLAREX_DEFAULT_RESOURCES_FIELD;
    if (!o->memory_budget)
        o->memory_budget = DEFAULT_MEMORY_BUDGET;
    if (!o->stream_threshold)
        o->stream_threshold = DEFAULT_STREAM_THRESHOLD;
    if (!o->ttl_exact_ms)
        o->ttl_exact_ms = DEFAULT_TTL_EXACT_MS;
    if (!o->ttl_latest_ms)
        o->ttl_latest_ms = DEFAULT_TTL_LATEST_MS;
    if (!o->ttl_drafted_ms)
        o->ttl_drafted_ms = DEFAULT_TTL_DRAFTED_MS;
    if (!o->ttl_negative_ms)
        o->ttl_negative_ms = DEFAULT_TTL_NEGATIVE_MS;
    /* a negative TTL asks the store every time */
    if (o->ttl_exact_ms < 0)
        o->ttl_exact_ms = 0;
    if (o->ttl_latest_ms < 0)
        o->ttl_latest_ms = 0;
    if (o->ttl_drafted_ms < 0)
        o->ttl_drafted_ms = 0;
    if (o->ttl_negative_ms < 0)
        o->ttl_negative_ms = 0;
    if (!o->as_of_skew_ms)
        o->as_of_skew_ms = DEFAULT_AS_OF_SKEW_MS;
    if (o->as_of_skew_ms < 0)
        o->as_of_skew_ms = 0;
    glarex__pool_init(&ctx->pool, &o->store);
    ctx->pool_ready = 1;

    ctx->cache_dir = o->cache_dir ? strdup(o->cache_dir) : default_cache_dir();
    if (!ctx->cache_dir) {
        rc = glarex__error_set(err, GLAREX_EINVALID,
                               "no cache directory: set cache_dir, GLAREX_CACHE_DIR, "
                               "XDG_CACHE_HOME or HOME");
        goto fail;
    }
    if (asprintf(&ctx->index_dir, "%s/index", ctx->cache_dir) < 0) {
        ctx->index_dir = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto fail;
    }
    /* the resolution index is trusted like the content: private to the caller */
    if ((rc = glarex__cache_private_dir(ctx->cache_dir, 1, err)) < 0 ||
        (rc = glarex__cache_private_dir(ctx->index_dir, 1, err)) < 0)
        goto fail;
    co.dir = ctx->cache_dir;
    co.memory_budget = o->memory_budget;
    co.disk_budget = o->disk_budget;
    co.max_blob_size = o->max_blob_size;
    co.stream_threshold = o->stream_threshold;
    co.offline = o->offline;
    if ((rc = glarex__cache_new(&ctx->cache, &co, err)) < 0)
        goto fail;

    /* Open one store now so a bad URL or unreadable store directory fails here, not
     * at the first glare() call; it also names the store's identity. */
    if ((rc = glarex_store_open(&probe, &o->store, err)) < 0)
        goto fail;
    if (glarex__store_registry_identity(probe)) { /* registry, namespace and user */
        if (asprintf(&ctx->store_identity, "%s, type %s",
                     glarex__store_registry_identity(probe), o->type_name) < 0) {
            ctx->store_identity = NULL;
            rc = GLAREX_ENOMEM_SET(err);
        }
    } else {
        rc = glarex__store_identity(&ctx->store_identity, glarex_store_url(probe),
                                    glarex__store_local_id(probe), o->type_name, err);
    }
    glarex__pool_give(&ctx->pool, probe, NULL); /* the first idle connection */
    if (rc < 0)
        goto fail;
    ctx->resolver.opts = o;
    ctx->resolver.store_identity = ctx->store_identity;
    ctx->resolver.index_dir = ctx->index_dir;
    ctx->resolver.cache = ctx->cache;
    ctx->resolver.pool = &ctx->pool;
    if ((rc = request_init(&ctx->own, ctx, NULL, err)) < 0)
        goto fail;

    *out = ctx;
    return 0;

fail:
    glarex_ctx_free(ctx);
    return rc;
}

static void totals_record(glarex_ctx *ctx);
static void request_dispose(glarex_request *req);
static void resolution_free(glarex__resolution *r);

void glarex_ctx_free(glarex_ctx *ctx)
{
    if (!ctx)
        return;
    totals_record(ctx);
    for (size_t i = 0; i < GLAREX__RESOLUTION_BUCKETS; i++) {
        glarex__resolution *r = ctx->buckets[i];
        while (r) {
            glarex__resolution *next = r->next;
            resolution_free(r);
            r = next;
        }
    }
    request_dispose(&ctx->own);
    if (ctx->pool_ready)
        glarex__pool_dispose(&ctx->pool);
    glarex__cache_free(ctx->cache);
    for (size_t i = 0; i < ctx->nstrings; i++)
        free(ctx->strings[i]);
    free(ctx->cache_dir);
    free(ctx->index_dir);
    free(ctx->store_identity);
    pthread_mutex_destroy(&ctx->lock);
    pthread_cond_destroy(&ctx->cond);
    if (ctx->lanes)
        for (int i = 0; i < GLAREX__LANES; i++)
            pthread_mutex_destroy(&ctx->lanes[i].lock);
    free(ctx->lanes);
    free(ctx);
}

/* {======================================================================
 * Requests
 * ====================================================================== */

static uint64_t hash_part(uint64_t h, const char *s)
{
    /* FNV-1a; a NUL separates the parts, a missing part hashes as one byte 1 */
    if (!s)
        s = "\1";
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static void request_dispose(glarex_request *req)
{
    free(req->token);
    free(req->project);
    free(req->execution_id);
    free(req->wf_name);
    free(req->wf_version);
    memset(req, 0, sizeof(*req));
}

/* Splits "name[@version]" into the request's workflow. */
static int set_workflow(glarex_request *req, const char *workflow, glarex_error *err)
{
    const char *at = strrchr(workflow, '@');
    if (!*workflow || at == workflow || (at && !at[1]))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "workflow '%s' is not NAME or NAME@VERSION", workflow);
    req->wf_name = at ? strndup(workflow, (size_t)(at - workflow)) : strdup(workflow);
    if (at)
        req->wf_version = strdup(at + 1);
    if (!req->wf_name || (at && !req->wf_version))
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

/* Fills `req` for `ctx`; NULL options: the context's own identity. */
static int request_init(glarex_request *req, glarex_ctx *ctx, const glarex_request_options *o,
                        glarex_error *err)
{
    const glarex_client_options *c = &ctx->opts.store.client;
    glarex__creds creds = {c->auth_token, c->noauth_project, c->noauth_user, c->noauth_roles,
                           NULL, NULL, NULL};
    char *owned = NULL;
    const char *project;
    int ok = 1, rc;

    memset(req, 0, sizeof(*req));
    req->ctx = ctx;
    if (o && o->auth_token) {
        creds = (glarex__creds){o->auth_token, NULL, NULL, NULL,
                                o->project_id, o->user_id, o->roles};
        req->token = glarex__strdup_opt(o->auth_token, &ok);
    }
    if ((rc = glarex__scope_key(req->scope, ctx->store_identity, &creds, err)) < 0)
        return rc;
    req->scope_hash = hash_part(14695981039346656037ULL, req->scope);
    project = !o && ctx->opts.project ? ctx->opts.project : glarex__creds_project(&creds, &owned);
    req->project = owned ? owned : glarex__strdup_opt(project, &ok);
    if (o) {
        req->execution_id = glarex__strdup_opt(o->execution_id, &ok);
        req->as_of_ms = o->as_of_ms > 0 ? o->as_of_ms : 0;
        req->progress = o->progress;
        req->progress_payload = o->progress_payload;
    }
    if (!ok)
        return GLAREX_ENOMEM_SET(err);
    if (o && o->workflow)
        return set_workflow(req, o->workflow, err);
    return 0;
}

/* The size of each version's struct: version 2 added progress at the end. */
static size_t request_options_size(unsigned int version)
{
    return version == 1 ? offsetof(glarex_request_options, progress)
           : version == GLAREX_REQUEST_OPTIONS_VERSION ? sizeof(glarex_request_options)
                                                       : 0;
}

int glarex_request_options_init(glarex_request_options *opts, unsigned int version)
{
    if (!opts || !request_options_size(version))
        return GLAREX_EINVALID;
    memset(opts, 0, request_options_size(version));
    opts->version = version;
    return 0;
}

int glarex_request_new(glarex_request **out, glarex_ctx *ctx, const glarex_request_options *opts,
                       glarex_error *err)
{
    glarex_request_options none = GLAREX_REQUEST_OPTIONS_INIT, current;
    glarex_request *req;
    int rc;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    *out = NULL;
    if (!opts)
        opts = &none;
    if (!request_options_size(opts->version))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_request_options version %u is not supported "
                                 "(expected 1 to %d)",
                                 opts->version, GLAREX_REQUEST_OPTIONS_VERSION);
    if (opts->version < GLAREX_REQUEST_OPTIONS_VERSION) { /* an older caller's struct */
        memset(&current, 0, sizeof(current));
        memcpy(&current, opts, request_options_size(opts->version));
        opts = &current;
    }
    if (opts->auth_token && (!*opts->auth_token || strpbrk(opts->auth_token, "\r\n")))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "the request's auth_token is empty or holds a line break");
    if (!(req = malloc(sizeof(*req))))
        return GLAREX_ENOMEM_SET(err);
    if ((rc = request_init(req, ctx, opts, err)) < 0) {
        request_dispose(req);
        free(req);
        return rc;
    }
    *out = req;
    return 0;
}

void glarex_request_free(glarex_request *req)
{
    if (!req)
        return;
    request_dispose(req);
    free(req);
}

const char *glarex_request_scope(const glarex_request *req)
{
    return req ? req->scope : NULL;
}

glarex_request *glarex__ctx_own_request(glarex_ctx *ctx)
{
    return &ctx->own;
}

/* }====================================================================== */

/* {======================================================================
 * The resolution table: answers by scope, time and the caller's own text, within
 * their TTL
 * ====================================================================== */

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Drops the answer's replicas (called when the answer goes, under every lane). */
static void drop_replicas(glarex__resolution *r)
{
    for (int i = 0; i < GLAREX__LANES; i++) {
        glarex_blob_free(r->replica[i]);
        r->replica[i] = NULL;
    }
}

static void resolution_free(glarex__resolution *r)
{
    drop_replicas(r);
    free(r->k1);
    free(r->k2);
    free(r->k3);
    free(r->neg_message);
    glarex_blob_free(r->blob);
    free(r);
}

static int same_key(const glarex__resolution *r, const glarex_request *req, char kind,
                    const char *k1, const char *k2, const char *k3, uint64_t hash)
{
    return r->hash == hash && r->kind == kind && r->as_of_ms == req->as_of_ms &&
           memcmp(r->scope, req->scope, 64) == 0 && same(r->k1, k1) && same(r->k2, k2) &&
           same(r->k3, k3);
}

/* The record for the key, or NULL; called with a lane lock (or every lane) held. */
static glarex__resolution *find(glarex_ctx *ctx, const glarex_request *req, char kind,
                                const char *k1, const char *k2, const char *k3,
                                uint64_t hash)
{
    glarex__resolution *r = ctx->buckets[hash % GLAREX__RESOLUTION_BUCKETS];
    while (r && !same_key(r, req, kind, k1, k2, k3, hash))
        r = r->next;
    return r;
}

static void lanes_lock(glarex_ctx *ctx)
{
    for (int i = 0; i < GLAREX__LANES; i++)
        pthread_mutex_lock(&ctx->lanes[i].lock);
}

static void lanes_unlock(glarex_ctx *ctx)
{
    for (int i = GLAREX__LANES - 1; i >= 0; i--)
        pthread_mutex_unlock(&ctx->lanes[i].lock);
}

/* The lane of the calling thread: threads take lanes round robin, for good. */
static unsigned my_lane(void)
{
    static atomic_uint next;
    static _Thread_local unsigned lane; /* 1 + the lane; 0 = not taken yet */
    if (!lane)
        lane = 1 + atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % GLAREX__LANES;
    return lane - 1;
}

/* A new reference to the answer, from the lane's own replica when one can be made;
 * called with that lane's lock (or every lane) held. */
static glarex_blob *lane_answer(glarex__resolution *r, unsigned lane)
{
    if (!r->replica[lane])
        r->replica[lane] = glarex__blob_replica(r->blob);
    return glarex_blob_ref(r->replica[lane] ? r->replica[lane] : r->blob);
}

/* Whether the record's answer may be served at `now` (wall clock ms). */
static int answer_fresh(const glarex_ctx *ctx, const glarex__resolution *r, int64_t now)
{
    return r->expires_ms > now || (ctx->opts.offline && r->expires_ms);
}

/* Finds or adds the record for the key; called with the lock and every lane held.
 * Expired records nobody is resolving are dropped from the chain on the way (a
 * long-lived process sees endless new executions, so the table must not keep their
 * answers forever). */
static glarex__resolution *lookup(glarex_ctx *ctx, const glarex_request *req, char kind,
                                  const char *k1, const char *k2, const char *k3,
                                  uint64_t hash)
{
    size_t bucket = hash % GLAREX__RESOLUTION_BUCKETS;
    glarex__resolution *r, **link;
    int64_t now = 0;
    int ok = 1;

    for (link = &ctx->buckets[bucket]; (r = *link) != NULL;) {
        if (same_key(r, req, kind, k1, k2, k3, hash))
            return r;
        if (!r->busy && !r->waiters &&
            !answer_fresh(ctx, r, now ? now : (now = glarex__now_ms()))) {
            *link = r->next;
            resolution_free(r);
            continue;
        }
        link = &r->next;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    memcpy(r->scope, req->scope, sizeof(r->scope));
    r->as_of_ms = req->as_of_ms;
    r->kind = kind;
    r->hash = hash;
    r->k1 = glarex__strdup_opt(k1, &ok);
    r->k2 = glarex__strdup_opt(k2, &ok);
    r->k3 = glarex__strdup_opt(k3, &ok);
    if (!ok) {
        resolution_free(r);
        return NULL;
    }
    r->next = ctx->buckets[bucket];
    ctx->buckets[bucket] = r;
    return r;
}

/* Serves a remembered answer from the table under the lane's lock alone, without
 * reading the hardware clock: an answer still valid one coarse-clock tick from now
 * is valid now, and the last tick of a TTL goes to the exact check of the slow path.
 * Returns 1 when served (*rc set), else 0. */
static int hit(glarex_blob **out, int *rc, glarex_ctx *ctx, const glarex_request *req,
               char kind, const char *k1, const char *k2, const char *k3, uint64_t hash,
               glarex_error *err)
{
    unsigned lane = my_lane();
    glarex__lane *l = &ctx->lanes[lane];
    glarex__resolution *r;
    int served = 0;

    pthread_mutex_lock(&l->lock);
    r = find(ctx, req, kind, k1, k2, k3, hash);
    if (r && r->expires_ms &&
        (ctx->opts.offline ||
         r->expires_ms - ctx->coarse_slack_ms > glarex__now_coarse_ms())) {
        if (r->blob) {
            *out = lane_answer(r, lane); /* no allocation but a lane's first replica */
            *rc = 0;
            atomic_fetch_add_explicit(&l->hits, 1, memory_order_relaxed);
        } else {
            *rc = glarex__error_set(err, r->neg_code, "%s", r->neg_message);
        }
        served = 1;
    }
    pthread_mutex_unlock(&l->lock);
    return served;
}

/* Parses the caller's text into a reference and a label for messages. */
static int parse_key(glarex_ref **ref, char **label, glarex_ctx *ctx, char kind,
                     const char *k1, const char *k2, const char *k3, const char *shown,
                     glarex_error *err)
{
    glarex_ref_options ro = GLAREX_REF_OPTIONS_INIT;
    int rc;

    ro.dict_field = ctx->opts.resources_field;
    ro.blob_field = ctx->opts.workflow_field;
    if (kind == 'U') {
        rc = glarex_ref_parse_ext(ref, k1, &ro, err);
        if (rc == 0 && asprintf(label, "glare('%s')", shown ? shown : k1) < 0)
            *label = NULL;
    } else {
        rc = glarex_ref_from_args_ext(ref, k1, k2, k3, &ro, err);
        if (rc == 0 && asprintf(label, "glare('%s', '%s', '%s')", k1, k2 ? k2 : "latest",
                                k3 ? k3 : "") < 0)
            *label = NULL;
    }
    if (rc == 0 && !*label) {
        glarex_ref_free(*ref);
        *ref = NULL;
        rc = GLAREX_ENOMEM_SET(err);
    }
    return rc;
}

static void asker_of(glarex__asker *who, const glarex_request *req)
{
    who->scope = req->scope;
    who->token = req->token;
    who->project = req->project;
    who->as_of_ms = req->as_of_ms;
    who->progress = req->progress;
    who->progress_payload = req->progress_payload;
}

/* Resolves the key (kind, k1, k2, k3) for `req`, through the table. `shown` (may be
 * NULL) is the caller's own text when k1 is a self reference rewritten as a URI. */
static int fetch(glarex_blob **out, glarex_request *req, char kind, const char *k1,
                 const char *k2, const char *k3, const char *shown, long budget_ms,
                 glarex_error *err)
{
    glarex_ctx *ctx = req->ctx;
    uint64_t hash = hash_part(
        hash_part(hash_part(req->scope_hash ^ (uint64_t)kind ^ (uint64_t)req->as_of_ms, k1),
                  k2),
        k3);
    glarex__resolution *r;
    glarex__asker who;
    glarex_ref *ref = NULL;
    glarex_blob *blob = NULL;
    char *label = NULL;
    int64_t ttl = 0;
    int rc;

    *out = NULL;
    if (hit(out, &rc, ctx, req, kind, k1, k2, k3, hash, err))
        return rc;

    pthread_mutex_lock(&ctx->lock);
    lanes_lock(ctx);
    r = lookup(ctx, req, kind, k1, k2, k3, hash);
    lanes_unlock(ctx);
    if (!r) {
        pthread_mutex_unlock(&ctx->lock);
        return GLAREX_ENOMEM_SET(err);
    }
    /* one thread resolves a reference at a time; the others wait for its answer (and
     * keep the record from being dropped meanwhile) */
    if (r->busy) {
        r->waiters++;
        while (r->busy)
            pthread_cond_wait(&ctx->cond, &ctx->lock);
        r->waiters--;
    }
    if (answer_fresh(ctx, r, glarex__now_ms())) {
        if (r->blob) {
            glarex__lane *l = &ctx->lanes[my_lane()];
            pthread_mutex_lock(&l->lock);
            *out = lane_answer(r, my_lane());
            atomic_fetch_add_explicit(&l->hits, 1, memory_order_relaxed);
            pthread_mutex_unlock(&l->lock);
            pthread_mutex_unlock(&ctx->lock);
            return 0;
        }
        rc = glarex__error_set(err, r->neg_code, "%s", r->neg_message);
        pthread_mutex_unlock(&ctx->lock);
        return rc;
    }
    r->busy = 1;
    pthread_mutex_unlock(&ctx->lock);

    asker_of(&who, req);
    rc = parse_key(&ref, &label, ctx, kind, k1, k2, k3, shown, err);
    if (rc == 0)
        rc = glarex__resolve(&blob, &ttl, &ctx->resolver, &who, ref, label,
                             budget_ms > 0 ? glarex__monotonic_ms() + budget_ms : 0, NULL, err);

    pthread_mutex_lock(&ctx->lock);
    lanes_lock(ctx);
    r->busy = 0;
    if (rc == 0 || rc == GLAREX_ENOTFOUND) {
        int64_t now = glarex__now_ms();
        drop_replicas(r);
        glarex_blob_free(r->blob);
        free(r->neg_message);
        r->neg_message = NULL;
        r->blob = blob ? glarex_blob_ref(blob) : NULL;
        r->neg_code = rc;
        if (rc < 0 && err)
            r->neg_message = strdup(err->message);
        if (rc < 0 && !r->neg_message) {
            r->expires_ms = 0; /* cannot remember the message: do not remember at all */
        } else {
            r->expires_ms = ttl < 0 ? INT64_MAX : now + ttl;
        }
        if (blob) { /* the answer this thread's later hits hand out */
            glarex_blob *mine = lane_answer(r, my_lane());
            glarex_blob_free(blob);
            blob = mine;
        }
    }
    lanes_unlock(ctx);
    pthread_cond_broadcast(&ctx->cond);
    pthread_mutex_unlock(&ctx->lock);

    glarex_ref_free(ref);
    free(label);
    *out = blob;
    return rc;
}

/* Resolves glare(text): a URI, or a resource of the request's workflow. */
static int fetch_text(glarex_blob **out, glarex_request *req, const char *text, long budget_ms,
                      glarex_error *err)
{
    glarex_buf uri = GLAREX_BUF_INIT;
    int rc = glarex__ref_self_uri(&uri, text, req->wf_name, req->wf_version, err);
    if (rc < 0)
        return rc;
    rc = fetch(out, req, 'U', rc ? uri.ptr : text, NULL, NULL, rc ? text : NULL, budget_ms,
               err);
    glarex_buf_dispose(&uri);
    return rc;
}

int glarex__request_fetch(glarex_blob **out, glarex_request *req, const char *name,
                          const char *version, const char *resource, long budget_ms,
                          glarex_error *err)
{
    return fetch(out, req, 'A', name, version, resource, NULL, budget_ms, err);
}

int glarex__request_fetch_uri(glarex_blob **out, glarex_request *req, const char *text,
                              long budget_ms, glarex_error *err)
{
    return fetch_text(out, req, text, budget_ms, err);
}

int glarex_fetch(glarex_blob **out, glarex_ctx *ctx, const char *name, const char *version,
                 const char *resource, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    GLAREX_ASSERT_ARG(err, name != NULL);
    return fetch(out, &ctx->own, 'A', name, version, resource, NULL, 0, err);
}

int glarex_fetch_uri(glarex_blob **out, glarex_ctx *ctx, const char *uri, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    GLAREX_ASSERT_ARG(err, uri != NULL);
    return fetch_text(out, &ctx->own, uri, 0, err);
}

int glarex_request_fetch(glarex_blob **out, glarex_request *req, const char *name,
                         const char *version, const char *resource, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, req != NULL);
    GLAREX_ASSERT_ARG(err, name != NULL);
    return fetch(out, req, 'A', name, version, resource, NULL, 0, err);
}

int glarex_request_fetch_uri(glarex_blob **out, glarex_request *req, const char *text,
                             glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, req != NULL);
    GLAREX_ASSERT_ARG(err, text != NULL);
    return fetch_text(out, req, text, 0, err);
}

/* }====================================================================== */

/* {======================================================================
 * Blob getters and counters
 * ====================================================================== */

const char *glarex_blob_data(glarex_blob *blob)
{
    const char *data = NULL;
    if (!blob || glarex__content_data(&data, blob->content, NULL) < 0)
        return NULL;
    return data;
}

uint64_t glarex_blob_size(const glarex_blob *blob)
{
    return blob ? glarex__content_size(blob->content) : 0;
}

const char *glarex_blob_sha256(const glarex_blob *blob)
{
    return blob ? blob->sha256 : NULL;
}

const char *glarex_blob_content_type(const glarex_blob *blob)
{
    return blob ? blob->content_type : NULL;
}

const char *glarex_blob_artifact_id(const glarex_blob *blob)
{
    return blob ? blob->id : NULL;
}

const char *glarex_blob_name(const glarex_blob *blob)
{
    return blob ? blob->name : NULL;
}

const char *glarex_blob_version(const glarex_blob *blob)
{
    return blob ? blob->version : NULL;
}

const char *glarex_blob_key(const glarex_blob *blob)
{
    return blob ? (blob->key ? blob->key : blob->field) : NULL;
}

int glarex_blob_path(const char **out, glarex_blob *blob, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, blob != NULL);
    *out = glarex__content_path(blob->content);
    return 0;
}

json_t *glarex_blob_info(const glarex_blob *blob)
{
    if (!blob)
        return NULL;
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:I, s:s}", "id", blob->id, "name",
                     blob->name, "version", blob->version, "key", glarex_blob_key(blob),
                     "sha256", blob->sha256, "size",
                     (json_int_t)glarex__content_size(blob->content), "content_type",
                     blob->content_type);
}

void glarex_ctx_stats(glarex_stats *out, glarex_ctx *ctx)
{
    glarex__cache_counters c;
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!ctx)
        return;
    glarex__cache_stats(&c, ctx->cache);
    out->hits = c.hits;
    for (int i = 0; ctx->lanes && i < GLAREX__LANES; i++) /* answers from the table */
        out->hits += atomic_load_explicit(&ctx->lanes[i].hits, memory_order_relaxed);
    out->disk_hits = c.disk_hits;
    out->misses = c.misses;
    out->downloads = c.downloads;
    out->bytes_downloaded = c.bytes_downloaded;
    out->coalesced_waits = c.coalesced_waits;
    out->evictions = c.evictions_memory + c.evictions_disk;
    out->memory_bytes = c.memory_bytes;
    out->disk_bytes = c.disk_bytes;
    out->resolutions = atomic_load(&ctx->resolver.resolutions);
    out->revalidations = atomic_load(&ctx->resolver.revalidations);
}

/* {======================================================================
 * Totals: the counters of every context that used a cache directory, summed in
 * <cache_dir>/stats.json when each is freed
 * ====================================================================== */

static const struct {
    const char *name;
    size_t offset;
} TOTALS[] = {
    {"hits", offsetof(glarex_stats, hits)},
    {"disk_hits", offsetof(glarex_stats, disk_hits)},
    {"misses", offsetof(glarex_stats, misses)},
    {"downloads", offsetof(glarex_stats, downloads)},
    {"bytes_downloaded", offsetof(glarex_stats, bytes_downloaded)},
    {"coalesced_waits", offsetof(glarex_stats, coalesced_waits)},
    {"evictions", offsetof(glarex_stats, evictions)},
    {"resolutions", offsetof(glarex_stats, resolutions)},
    {"revalidations", offsetof(glarex_stats, revalidations)},
};
#define NTOTALS (sizeof(TOTALS) / sizeof(TOTALS[0]))

static uint64_t *total_field(glarex_stats *s, size_t i)
{
    return (uint64_t *)(void *)((char *)s + TOTALS[i].offset);
}

/* Adds the totals recorded in `path` to *sum; a missing or damaged file adds nothing. */
static void totals_add_file(glarex_stats *sum, const char *path)
{
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    for (size_t i = 0; i < NTOTALS; i++) {
        json_t *v = json_object_get(doc, TOTALS[i].name);
        if (json_is_integer(v) && json_integer_value(v) > 0)
            *total_field(sum, i) += (uint64_t)json_integer_value(v);
    }
    json_decref(doc);
}

/* Counters are not worth failing for: any error here loses this context's share. */
static void totals_record(glarex_ctx *ctx)
{
    glarex_stats mine, sum;
    char lock[PATH_MAX], path[PATH_MAX];
    uint64_t any = 0;
    json_t *doc;
    int fd;

    if (!ctx->cache_dir)
        return;
    glarex_ctx_stats(&mine, ctx);
    for (size_t i = 0; i < NTOTALS; i++)
        any |= *total_field(&mine, i);
    if (!any)
        return;
    if (snprintf(lock, sizeof(lock), "%s/stats.lock", ctx->cache_dir) >= (int)sizeof(lock) ||
        snprintf(path, sizeof(path), "%s/stats.json", ctx->cache_dir) >= (int)sizeof(path))
        return;
    /* the lock serialises read-add-write across processes, so none loses a count */
    if (glarex__cache_private_open(&fd, lock, O_RDWR | O_CREAT, NULL) < 0)
        return;
    if (flock(fd, LOCK_EX) == 0) {
        memset(&sum, 0, sizeof(sum));
        totals_add_file(&sum, path);
        doc = json_object();
        for (size_t i = 0; doc && i < NTOTALS; i++)
            json_object_set_new(doc, TOTALS[i].name,
                                json_integer((json_int_t)(*total_field(&sum, i) +
                                                          *total_field(&mine, i))));
        if (doc)
            glarex__json_write_atomic(path, doc);
        json_decref(doc);
    }
    close(fd);
}

int glarex_cache_totals(glarex_stats *out, glarex_ctx *ctx, glarex_error *err)
{
    char path[PATH_MAX];
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL && ctx != NULL);
    glarex_ctx_stats(out, ctx);
    if (ctx->cache_dir &&
        snprintf(path, sizeof(path), "%s/stats.json", ctx->cache_dir) < (int)sizeof(path))
        totals_add_file(out, path);
    return 0;
}

/* }====================================================================== */

/* {======================================================================
 * Explain, cache maintenance
 * ====================================================================== */

static int explain(json_t **out, glarex_request *req, const char *uri, const char *name,
                   const char *version, const char *resource, glarex_error *err)
{
    glarex_ctx *ctx = req->ctx;
    glarex_ref *ref = NULL;
    glarex_blob *blob = NULL;
    glarex__cache_counters before, after;
    glarex_buf self = GLAREX_BUF_INIT;
    glarex__asker who;
    json_t *trace = NULL;
    char *label = NULL;
    int64_t ttl;
    int rc;

    *out = NULL;
    if (uri && (rc = glarex__ref_self_uri(&self, uri, req->wf_name, req->wf_version, err)) < 0)
        return rc;
    rc = uri ? parse_key(&ref, &label, ctx, 'U', self.ptr ? self.ptr : uri, NULL, NULL,
                         self.ptr ? uri : NULL, err)
             : parse_key(&ref, &label, ctx, 'A', name, version, resource, NULL, err);
    glarex_buf_dispose(&self);
    if (rc < 0)
        return rc;
    asker_of(&who, req);
    trace = json_pack("{s:s}", "input", label);
    if (!trace) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    static const char *const kinds[] = {"", "exact", "latest", "range", "sha256", "id"};
    json_object_set_new(trace, "kind", json_string(kinds[glarex_ref_kind_of(ref)]));
    glarex__cache_stats(&before, ctx->cache);
    rc = glarex__resolve(&blob, &ttl, &ctx->resolver, &who, ref, label, 0, trace, err);
    glarex__cache_stats(&after, ctx->cache);
    if (rc == 0) {
        json_object_set_new(trace, "sha256", json_string(blob->sha256));
        json_object_set_new(trace, "size", json_integer((json_int_t)blob->size));
        json_object_set_new(trace, "cache",
                            json_string(after.downloads > before.downloads   ? "download"
                                        : after.disk_hits > before.disk_hits ? "disk"
                                                                             : "memory"));
        json_object_set_new(trace, "ttl_ms", json_integer(ttl));
    } else {
        json_object_set_new(trace, "error", json_string(err ? err->message : glarex_strerror(rc)));
    }
    *out = trace;
    trace = NULL;

done:
    json_decref(trace);
    glarex_blob_free(blob);
    glarex_ref_free(ref);
    free(label);
    return rc;
}

int glarex_resolve_explain(json_t **out, glarex_ctx *ctx, const char *uri, const char *name,
                           const char *version, const char *resource, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    GLAREX_ASSERT_ARG(err, uri || name);
    return explain(out, &ctx->own, uri, name, version, resource, err);
}

int glarex_request_explain(json_t **out, glarex_request *req, const char *uri,
                           const char *name, const char *version, const char *resource,
                           glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, req != NULL);
    GLAREX_ASSERT_ARG(err, uri || name);
    return explain(out, req, uri, name, version, resource, err);
}

typedef struct entry_forward {
    glarex_cache_entry_cb cb;
    void *payload;
} entry_forward;

static int forward_object(const glarex__cache_object *obj, void *payload)
{
    entry_forward *f = payload;
    glarex_cache_entry e;
    memcpy(e.sha256, obj->sha256, sizeof(e.sha256));
    e.size = obj->size;
    e.mtime = obj->mtime;
    e.path = obj->path;
    return f->cb(&e, f->payload);
}

static void forward_corrupt(const glarex__cache_object *obj, const char *actual, void *payload)
{
    (void)actual;
    forward_object(obj, payload);
}

int glarex_cache_list(glarex_ctx *ctx, glarex_cache_entry_cb cb, void *payload,
                      glarex_error *err)
{
    entry_forward f = {cb, payload};
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    GLAREX_ASSERT_ARG(err, cb != NULL);
    return glarex__cache_list(ctx->cache, forward_object, &f, err);
}

int glarex_cache_verify(uint64_t *out, glarex_ctx *ctx, glarex_cache_entry_cb cb, void *payload,
                        glarex_error *err)
{
    entry_forward f = {cb, payload};
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    return glarex__cache_verify(out, ctx->cache, cb ? forward_corrupt : NULL, &f, err);
}

static void copy_gc(glarex_cache_gc_result *out, const glarex__cache_gc_result *r)
{
    if (!out)
        return;
    out->objects_removed = r->objects_removed;
    out->bytes_removed = r->bytes_removed;
    out->objects_kept_in_use = r->objects_kept_in_use;
    out->temp_removed = r->temp_removed;
}

int glarex_cache_gc(glarex_cache_gc_result *out, glarex_ctx *ctx, glarex_error *err)
{
    glarex__cache_gc_result r;
    int rc;
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    memset(&r, 0, sizeof(r));
    rc = glarex__cache_gc(&r, ctx->cache, err);
    copy_gc(out, &r);
    return rc;
}

/* Marks every remembered resolution in memory as expired (rare: after a change). */
static void expire_table(glarex_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    lanes_lock(ctx); /* no hit is being served: after this, none serves these answers */
    for (size_t i = 0; i < GLAREX__RESOLUTION_BUCKETS; i++)
        for (glarex__resolution *r = ctx->buckets[i]; r; r = r->next)
            if (!r->busy)
                r->expires_ms = 0;
    lanes_unlock(ctx);
    pthread_mutex_unlock(&ctx->lock);
}

int glarex_ctx_invalidate(glarex_ctx *ctx, const char *name, const char *id, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    GLAREX_ASSERT_ARG(err, (name != NULL) != (id != NULL));
    /* every scope's answers: a table entry does not say which artifact a miss was for */
    expire_table(ctx);
    glarex__resolve_forget(&ctx->resolver, name, id);
    return 0;
}

int glarex_cache_purge(glarex_cache_gc_result *out, glarex_ctx *ctx, glarex_error *err)
{
    glarex__cache_gc_result r;
    int rc;
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ctx != NULL);
    memset(&r, 0, sizeof(r));
    expire_table(ctx);
    glarex__resolve_forget_all(&ctx->resolver);
    rc = glarex__cache_purge(&r, ctx->cache, err);
    copy_gc(out, &r);
    return rc;
}

const char *glarex_ctx_cache_dir(const glarex_ctx *ctx)
{
    return ctx ? ctx->cache_dir : NULL;
}

/* }====================================================================== */
