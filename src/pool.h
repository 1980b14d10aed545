/*
 * The store pool: open store connections kept between calls, each opened with one
 * set of credentials and handed only to callers with the same ones. A store is used by
 * one thread at a time; the pool may be shared by all threads.
 */
#ifndef GLAREX_POOL_H
#define GLAREX_POOL_H

#include "common.h"

#include <pthread.h>

#define GLAREX__POOL_SIZE 8

typedef struct glarex__pool_entry {
    glarex_store *store;
    char *token; /* the X-Auth-Token it sends, or NULL: the options' own credentials */
} glarex__pool_entry;

typedef struct glarex__pool {
    const glarex_store_options *opts; /* borrowed; outlives the pool */
    pthread_mutex_t lock;
    glarex__pool_entry idle[GLAREX__POOL_SIZE]; /* most recently given back last */
    size_t nidle;
} glarex__pool;

void glarex__pool_init(glarex__pool *pool, const glarex_store_options *opts);
void glarex__pool_dispose(glarex__pool *pool);

/* A store for this thread that sends `token` (NULL: the options' own credentials),
 * from the pool or newly opened. Give it back with glarex__pool_give. */
int glarex__pool_take(glarex_store **out, glarex__pool *pool, const char *token,
                      glarex_error *err);

/* Returns `store` (taken with `token`) to the pool, or closes it when the pool is full. */
void glarex__pool_give(glarex__pool *pool, glarex_store *store, const char *token);

#endif
