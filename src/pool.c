/*
 * The store pool. Entries are matched by the exact token they send, so a connection
 * opened for one tenant never carries another's request.
 */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

void glarex__pool_init(glarex__pool *pool, const glarex_store_options *opts)
{
    memset(pool, 0, sizeof(*pool));
    pool->opts = opts;
    pthread_mutex_init(&pool->lock, NULL);
}

void glarex__pool_dispose(glarex__pool *pool)
{
    for (size_t i = 0; i < pool->nidle; i++) {
        glarex_store_free(pool->idle[i].store);
        free(pool->idle[i].token);
    }
    pool->nidle = 0;
    pthread_mutex_destroy(&pool->lock);
}

static int same_token(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int glarex__pool_take(glarex_store **out, glarex__pool *pool, const char *token,
                      glarex_error *err)
{
    glarex_store_options so;

    *out = NULL;
    pthread_mutex_lock(&pool->lock);
    for (size_t i = pool->nidle; i-- > 0;) {
        if (!same_token(pool->idle[i].token, token))
            continue;
        *out = pool->idle[i].store;
        free(pool->idle[i].token);
        memmove(&pool->idle[i], &pool->idle[i + 1],
                (pool->nidle - i - 1) * sizeof(pool->idle[0]));
        pool->nidle--;
        break;
    }
    pthread_mutex_unlock(&pool->lock);
    if (*out)
        return 0;
    so = *pool->opts;
    if (token) {
        so.client.auth_token = token;
        so.client.noauth_project = so.client.noauth_user = so.client.noauth_roles = NULL;
    }
    return glarex_store_open(out, &so, err);
}

void glarex__pool_give(glarex__pool *pool, glarex_store *store, const char *token)
{
    glarex__pool_entry evicted = {NULL, NULL};
    char *copy = NULL;

    if (!store)
        return;
    if (token && !(copy = strdup(token))) {
        glarex_store_free(store);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    if (pool->nidle == GLAREX__POOL_SIZE) {
        /* the least recently used connection makes room */
        evicted = pool->idle[0];
        memmove(&pool->idle[0], &pool->idle[1], (pool->nidle - 1) * sizeof(pool->idle[0]));
        pool->nidle--;
    }
    pool->idle[pool->nidle++] = (glarex__pool_entry){store, copy};
    pthread_mutex_unlock(&pool->lock);
    glarex_store_free(evicted.store);
    free(evicted.token);
}
