/* Internals of glarex_ctx shared by ctx.c (configuration, pools, public calls) and
 * resolve.c (reference -> artifact -> blob, with TTLs and the on-disk index). */
#ifndef GLAREX_CTX_H
#define GLAREX_CTX_H

#include "cache.h"
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define GLAREX__RESOLUTION_BUCKETS 1024

/* A resolved reference: what glarex_blob is. Immutable once published; reference
 * counted, so a hit hands out the same record without copying or allocating. */
struct glarex_blob {
    atomic_uint refs;
    char *id, *name, *version, *owner, *status;
    char *field; /* the blob field, or the dict field holding `key` */
    char *key;   /* NULL for a plain blob field */
    char sha256[65];
    char md5[33];
    uint64_t size;
    char *content_type;
    glarex__content *content;
};

/* One remembered resolution, keyed by the text the caller gave (so a hit needs no
 * parsing): kind 'A' (name, version, resource) or 'U' (uri). */
typedef struct glarex__resolution {
    struct glarex__resolution *next; /* bucket chain */
    char kind;
    char *k1, *k2, *k3;
    uint64_t hash;
    int busy;           /* a thread is resolving it; others wait on ctx->cond */
    int64_t expires_ms; /* wall clock; 0 = never resolved */
    glarex_blob *blob;  /* current answer, or NULL */
    int neg_code;       /* a remembered failure (not found), when blob is NULL */
    char *neg_message;
} glarex__resolution;

struct glarex_ctx {
    glarex_ctx_options opts; /* strings point into owned copies below */
    char *strings[24];       /* owned copies of option strings */
    size_t nstrings;
    char *cache_dir;
    char *index_dir;
    char *project;
    glarex__cache *cache;

    pthread_mutex_t lock; /* the resolution table and the store pool */
    pthread_cond_t cond;  /* a resolution finished */
    glarex__resolution *buckets[GLAREX__RESOLUTION_BUCKETS];

    glarex_store *idle[8]; /* stores not in use by any thread */
    size_t nidle;

    atomic_ullong resolutions;
    atomic_ullong revalidations;
};

/* A store for this thread's use, from the pool or new; give it back when done. */
int glarex__ctx_store_take(glarex_store **out, glarex_ctx *ctx, glarex_error *err);
void glarex__ctx_store_give(glarex_ctx *ctx, glarex_store *store);

/* Wall clock in milliseconds since the epoch (TTLs are shared between processes). */
int64_t glarex__now_ms(void);

/* glarex_fetch / glarex_fetch_uri with a time budget in ms for requests (<= 0: none). */
int glarex__ctx_fetch(glarex_blob **out, glarex_ctx *ctx, const char *name,
                      const char *version, const char *resource, long budget_ms,
                      glarex_error *err);
int glarex__ctx_fetch_uri(glarex_blob **out, glarex_ctx *ctx, const char *uri,
                          long budget_ms, glarex_error *err);

/* Resolves `ref` (borrowed) to a new blob, asking the store (or, offline or within a
 * TTL, the on-disk index). `label` names the reference in messages. Sets *ttl_ms to
 * how long the answer may be trusted (-1: forever). Requests to the store are bounded
 * by `deadline_ms` (CLOCK_MONOTONIC ms; 0: no bound). When `trace` is not NULL, each
 * step is recorded in it (see glarex_resolve_explain). */
int glarex__resolve(glarex_blob **out, int64_t *ttl_ms, glarex_ctx *ctx,
                    const glarex_ref *ref, const char *label, int64_t deadline_ms,
                    json_t *trace, glarex_error *err);

/* CLOCK_MONOTONIC in milliseconds (deadlines). */
int64_t glarex__monotonic_ms(void);

/* Writes `doc` to `path` atomically (temp + rename): readers see the old file or the
 * new one. Best effort: a failure leaves the old file. */
void glarex__json_write_atomic(const char *path, const json_t *doc);

/* The TTL of a negative answer. */
int64_t glarex__ttl_negative(const glarex_ctx *ctx);

#endif
