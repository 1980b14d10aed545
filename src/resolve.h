/*
 * The resolver: reference -> artifact -> blob -> cached content, for one scope, as
 * of a time. Answers are remembered for a TTL in an on-disk index shared by the
 * processes of a host, one file per (scope, time, reference), grouped by artifact so
 * that a change to an artifact forgets all of them at once.
 */
#ifndef GLAREX_RESOLVE_H
#define GLAREX_RESOLVE_H

#include "cache.h"
#include "common.h"
#include "pool.h"

#include <stdatomic.h>

/* Bytes of a cache line: what keeps counters of different threads apart. */
#define GLAREX__CACHE_LINE 64

/* A resolved reference: what glarex_blob is. Immutable once published; reference
 * counted, so a hit hands out the same record without copying or allocating. */
struct glarex_blob {
    atomic_uint refs;
    glarex_blob *origin; /* a replica's record, whose fields it shares; else NULL */
    char *id, *name, *version, *owner, *status;
    char *field; /* the blob field, or the dict field holding `key` */
    char *key;   /* NULL for a plain blob field */
    char sha256[65];
    char md5[33];
    uint64_t size;
    char *content_type;
    glarex__content *content;
};

/* A new replica of `origin`: the same fields (borrowed from origin, which it holds a
 * reference to) under a reference count of its own, on a cache line of its own, so
 * that threads handing out one answer do not share a count. NULL when out of memory. */
glarex_blob *glarex__blob_replica(glarex_blob *origin);

/* What resolutions need, owned by the context. */
typedef struct glarex__resolver {
    const glarex_ctx_options *opts; /* ttl_*, offline, type_name, prefer_own_project */
    const char *store_identity;     /* glarex__store_identity of the store */
    const char *index_dir;          /* <cache dir>/index */
    glarex__cache *cache;
    glarex__pool *pool;
    atomic_ullong resolutions;
    atomic_ullong revalidations;
} glarex__resolver;

/* Who asks and as of when. Strings are borrowed. */
typedef struct glarex__asker {
    const char *scope;   /* 64 hex digits: glarex__scope_key */
    const char *token;   /* the token its store calls send; NULL: the context's own */
    const char *project; /* for prefer_own_project; may be NULL */
    int64_t as_of_ms;    /* 0: now; else latest and ranges as of this time */
    glarex_progress_cb progress; /* told of the downloads it causes; may be NULL */
    void *progress_payload;
} glarex__asker;

/* Resolves `ref` (borrowed) to a new blob for `who`, asking the store (or, offline or
 * within a TTL, the on-disk index). `label` names the reference in messages. Sets
 * *ttl_ms to how long the answer may be trusted (-1: forever). Requests to the store
 * are bounded by `deadline_ms` (CLOCK_MONOTONIC ms; 0: no bound). When `trace` is not
 * NULL, each step is recorded in it (see glarex_resolve_explain). */
int glarex__resolve(glarex_blob **out, int64_t *ttl_ms, glarex__resolver *rv,
                    const glarex__asker *who, const glarex_ref *ref, const char *label,
                    int64_t deadline_ms, json_t *trace, glarex_error *err);

/* Forgets the index files of the artifacts named `name` or with id `id`. */
void glarex__resolve_forget(glarex__resolver *rv, const char *name, const char *id);

/* Forgets every index file. */
void glarex__resolve_forget_all(glarex__resolver *rv);

/* Writes `doc` to `path` atomically (temp + rename): readers see the old file or the
 * new one. Best effort: a failure leaves the old file. */
void glarex__json_write_atomic(const char *path, const json_t *doc);

#endif
