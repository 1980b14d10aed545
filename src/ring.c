/* A ring of blocks consumed in order by a thread of its own (see ring.h). */
#include "ring.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct glarex__ring {
    glarex__ring_fn fn;
    void *payload;
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a block was queued, or stop was set */
    pthread_cond_t space; /* a block was consumed */
    pthread_t thread;
    int started;     /* the thread runs (joined at finish or free) */
    int inline_only; /* no thread could be started: consume here */
    int stop;        /* no more blocks: consume the queue and exit */
    int discard;     /* ... or drop it (freed before finish) */
    int status;      /* the consumer's first nonzero status (lock) */
    char *block[GLAREX__RING_BLOCKS]; /* allocated: the first `nblocks` */
    size_t len[GLAREX__RING_BLOCKS];  /* bytes in each */
    unsigned nblocks;                 /* ring size, >= 1 */
    unsigned want;                    /* the ring size asked for */
    unsigned fill;                    /* the block the producer fills (producer's own) */
    unsigned head;                    /* the next block to consume (the thread's own) */
    unsigned queued;                  /* blocks handed over, not yet consumed (lock) */
};

static void *ring_main(void *arg)
{
    glarex__ring *r = arg;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->queued && !r->stop)
            pthread_cond_wait(&r->work, &r->lock);
        if (!r->queued || r->discard)
            break;
        unsigned i = r->head;
        int failed = r->status != 0;
        pthread_mutex_unlock(&r->lock);
        int st = failed ? 0 : r->fn(r->block[i], r->len[i], r->payload);
        pthread_mutex_lock(&r->lock);
        if (st && !r->status)
            r->status = st;
        r->len[i] = 0;
        r->head = (r->head + 1) % r->nblocks;
        r->queued--;
        pthread_cond_signal(&r->space);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Hands the full block being filled to the thread (started on the first one), and
 * waits until the next block is free. */
static int ring_submit(glarex__ring *r)
{
    unsigned i = r->fill;
    int st;

    if (!r->started && !r->inline_only) {
        /* more blocks now that they will be used; a ring of one still works */
        while (r->nblocks < r->want &&
               (r->block[r->nblocks] = malloc(GLAREX__RING_BLOCK)) != NULL)
            r->nblocks++;
        r->started = pthread_create(&r->thread, NULL, ring_main, r) == 0;
        r->inline_only = !r->started;
    }
    if (r->inline_only) {
        st = r->status ? r->status : r->fn(r->block[i], r->len[i], r->payload);
        r->status = st;
        r->len[i] = 0;
        return st;
    }
    r->fill = (r->fill + 1) % r->nblocks;
    pthread_mutex_lock(&r->lock);
    r->queued++;
    pthread_cond_signal(&r->work);
    while (r->queued == r->nblocks)
        pthread_cond_wait(&r->space, &r->lock);
    st = r->status;
    pthread_mutex_unlock(&r->lock);
    return st;
}

/* Stops the thread after it consumed the queue (or dropped it, with `discard`). */
static void ring_join(glarex__ring *r, int discard)
{
    if (!r->started)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    r->discard = discard;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    r->started = 0;
    r->stop = r->discard = 0;
    r->fill = r->head = r->queued = 0;
}

glarex__ring *glarex__ring_new(unsigned blocks, glarex__ring_fn fn, void *payload)
{
    glarex__ring *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!(r->block[0] = malloc(GLAREX__RING_BLOCK))) {
        free(r);
        return NULL;
    }
    r->fn = fn;
    r->payload = payload;
    r->nblocks = 1;
    r->want = blocks < 1 ? 1 : blocks > GLAREX__RING_BLOCKS ? GLAREX__RING_BLOCKS : blocks;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->work, NULL);
    pthread_cond_init(&r->space, NULL);
    return r;
}

int glarex__ring_write(glarex__ring *r, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        unsigned i = r->fill;
        size_t room = GLAREX__RING_BLOCK - r->len[i];
        size_t n = len < room ? len : room;
        memcpy(r->block[i] + r->len[i], p, n);
        r->len[i] += n;
        p += n;
        len -= n;
        if (r->len[i] == GLAREX__RING_BLOCK) {
            int st = ring_submit(r);
            if (st)
                return st;
        }
    }
    return 0;
}

int glarex__ring_finish(glarex__ring *r)
{
    unsigned i = r->fill;
    size_t rest = r->len[i];
    int st;

    ring_join(r, 0);
    st = r->status;
    if (rest && !st)
        st = r->fn(r->block[i], rest, r->payload);
    for (unsigned k = 0; k < r->nblocks; k++)
        r->len[k] = 0;
    r->status = 0;
    r->inline_only = 0;
    return st;
}

void glarex__ring_free(glarex__ring *r)
{
    if (!r)
        return;
    ring_join(r, 1);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->work);
    pthread_cond_destroy(&r->space);
    for (unsigned k = 0; k < GLAREX__RING_BLOCKS; k++)
        free(r->block[k]);
    free(r);
}
