/* Internals of glarex_ctx: configuration, the in-memory table of resolutions in front
 * of the resolver (src/resolve.c), requests, and the calls the evaluator makes. */
#ifndef GLAREX_CTX_H
#define GLAREX_CTX_H

#include "pool.h"
#include "resolve.h"

#include <pthread.h>

#define GLAREX__RESOLUTION_BUCKETS 1024
/* Reader lanes of the resolution table: threads take them round robin, so up to this
 * many threads hit without sharing a lock, a count or a cache line. */
#define GLAREX__LANES 16

/* Who asks, for which execution and workflow, as of when (see glarex.h). */
struct glarex_request {
    glarex_ctx *ctx;
    char scope[65];      /* glarex__scope_key of the store and the credentials */
    uint64_t scope_hash; /* seeds the table hash of every key of this request */
    char *token;         /* sent instead of the context's credentials, or NULL */
    char *project;       /* the project the credentials act for, or NULL */
    char *execution_id;
    char *wf_name, *wf_version; /* the workflow of self references, or NULL */
    int64_t as_of_ms;
    glarex_progress_cb progress; /* of downloads for this request's fetches, or NULL */
    void *progress_payload;
};

/* One remembered resolution, keyed by scope, time and the text the caller gave (so a
 * hit needs no parsing): kind 'A' (name, version, resource) or 'U' (uri). */
typedef struct glarex__resolution {
    struct glarex__resolution *next; /* bucket chain */
    char scope[65];
    int64_t as_of_ms;
    char kind;
    char *k1, *k2, *k3;
    uint64_t hash;
    int busy;           /* a thread is resolving it; others wait on ctx->cond */
    int waiters;        /* threads waiting for that answer: the record must stay */
    int64_t expires_ms; /* wall clock; 0 = never resolved */
    glarex_blob *blob;  /* current answer, or NULL */
    glarex_blob *replica[GLAREX__LANES]; /* of blob, each handed out by one lane */
    int neg_code;       /* a remembered failure (not found), when blob is NULL */
    char *neg_message;
} glarex__resolution;

/* One reader lane of the resolution table. */
typedef struct glarex__lane {
    _Alignas(2 * GLAREX__CACHE_LINE) pthread_mutex_t lock; /* two: adjacent-line prefetch */
    atomic_ullong hits; /* answers served from the table through this lane */
} glarex__lane;

struct glarex_ctx {
    glarex_ctx_options opts; /* strings point into owned copies below */
    char *strings[24];       /* owned copies of option strings */
    size_t nstrings;
    char *cache_dir;
    char *index_dir;
    char *store_identity;
    glarex__cache *cache;
    glarex__pool pool;
    glarex__resolver resolver;
    glarex_request own; /* the context's own identity */
    int pool_ready;      /* the pool is initialised (ctx_free after a failed new) */

    /* The resolution table. A hit takes its thread's lane lock alone; a change to
     * the table or to an answer (records added or dropped, an answer replaced or
     * expired) takes `lock` and then every lane. `busy` and `waiters` are `lock`'s
     * alone; a lane's replicas are its own lock's (or every lane's). */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a resolution finished */
    glarex__resolution *buckets[GLAREX__RESOLUTION_BUCKETS];
    glarex__lane *lanes; /* GLAREX__LANES, each on cache lines of its own */
    int64_t coarse_slack_ms; /* glarex__coarse_slack_ms */
};

/* glarex_request_fetch / glarex_request_fetch_uri with a time budget in ms for
 * requests (<= 0: none). */
int glarex__request_fetch(glarex_blob **out, glarex_request *req, const char *name,
                          const char *version, const char *resource, long budget_ms,
                          glarex_error *err);
int glarex__request_fetch_uri(glarex_blob **out, glarex_request *req, const char *text,
                              long budget_ms, glarex_error *err);

/* The context's own request. */
glarex_request *glarex__ctx_own_request(glarex_ctx *ctx);

#endif
