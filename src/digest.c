/* sha256 and md5 through OpenSSL's libcrypto, which uses the CPU's SHA extensions. */
#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A ring of blocks the caller fills and a thread of its own hashes, in order. */
typedef struct hasher {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a block was queued, or stop was set */
    pthread_cond_t space; /* a block was hashed */
    pthread_t thread;
    int started;                         /* the thread runs (joined at final or free) */
    int inline_only;                     /* no thread could be started: hash here */
    int stop;                            /* no more blocks: hash the queue and exit */
    int discard;                         /* ... or drop it (freed before final) */
    char *block[GLAREX__DIGEST_BLOCKS];  /* allocated: the first `nblocks` */
    size_t len[GLAREX__DIGEST_BLOCKS];   /* bytes in each */
    unsigned nblocks;                    /* ring size, >= 1 */
    unsigned fill;                       /* the block the caller fills (caller's own) */
    unsigned head;                       /* the next block to hash (the thread's own) */
    unsigned queued;                     /* blocks handed over, not yet hashed (lock) */
} hasher;

struct glarex__digest {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
    hasher *bg; /* NULL: hashed on the caller's thread at each update */
};

static void to_hex(const unsigned char *bin, unsigned int len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static int digest_reset(glarex__digest *d)
{
    return EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) == 1 &&
           (!d->md5 || EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) == 1);
}

static void hash_now(glarex__digest *d, const void *data, size_t len)
{
    EVP_DigestUpdate(d->sha256, data, len);
    if (d->md5)
        EVP_DigestUpdate(d->md5, data, len);
}

static glarex__digest *digest_new(int with_md5)
{
    glarex__digest *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->sha256 = EVP_MD_CTX_new();
    d->md5 = with_md5 ? EVP_MD_CTX_new() : NULL;
    if (!d->sha256 || (with_md5 && !d->md5) || !digest_reset(d)) {
        glarex__digest_free(d);
        return NULL;
    }
    return d;
}

glarex__digest *glarex__digest_new(void)
{
    return digest_new(1);
}

glarex__digest *glarex__digest_new_sha256(void)
{
    return digest_new(0);
}

/* {======================================================================
 * Hashing in the background
 * ====================================================================== */

static void *hasher_main(void *arg)
{
    glarex__digest *d = arg;
    hasher *h = d->bg;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->queued && !h->stop)
            pthread_cond_wait(&h->work, &h->lock);
        if (!h->queued || h->discard)
            break;
        unsigned i = h->head;
        pthread_mutex_unlock(&h->lock);
        hash_now(d, h->block[i], h->len[i]);
        pthread_mutex_lock(&h->lock);
        h->len[i] = 0;
        h->head = (h->head + 1) % h->nblocks;
        h->queued--;
        pthread_cond_signal(&h->space);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Hands the full block being filled to the thread (started on the first one), and
 * waits until the next block is free. */
static void hasher_submit(glarex__digest *d)
{
    hasher *h = d->bg;
    unsigned i = h->fill;

    if (!h->started && !h->inline_only) {
        /* more blocks now that they will be used; a ring of one still works */
        while (h->nblocks < GLAREX__DIGEST_BLOCKS &&
               (h->block[h->nblocks] = malloc(GLAREX__DIGEST_BLOCK)) != NULL)
            h->nblocks++;
        h->started = pthread_create(&h->thread, NULL, hasher_main, d) == 0;
        h->inline_only = !h->started;
    }
    if (h->inline_only) {
        hash_now(d, h->block[i], h->len[i]);
        h->len[i] = 0;
        return;
    }
    h->fill = (h->fill + 1) % h->nblocks;
    pthread_mutex_lock(&h->lock);
    h->queued++;
    pthread_cond_signal(&h->work);
    while (h->queued == h->nblocks)
        pthread_cond_wait(&h->space, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

/* Stops the thread after it hashed the queue (or dropped it, with `discard`). */
static void hasher_join(hasher *h, int discard)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    h->discard = discard;
    pthread_cond_signal(&h->work);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    h->started = 0;
    h->stop = h->discard = 0;
    h->fill = h->head = h->queued = 0;
}

static void hasher_update(glarex__digest *d, const char *data, size_t len)
{
    hasher *h = d->bg;
    while (len) {
        unsigned i = h->fill;
        size_t room = GLAREX__DIGEST_BLOCK - h->len[i];
        size_t n = len < room ? len : room;
        memcpy(h->block[i] + h->len[i], data, n);
        h->len[i] += n;
        data += n;
        len -= n;
        if (h->len[i] == GLAREX__DIGEST_BLOCK)
            hasher_submit(d);
    }
}

/* Hashes what is left and waits for the thread: the digests are then complete. */
static void hasher_finish(glarex__digest *d)
{
    hasher *h = d->bg;
    unsigned i = h->fill;
    size_t rest = h->len[i];

    hasher_join(h, 0);
    if (rest)
        hash_now(d, h->block[i], rest);
    for (unsigned k = 0; k < h->nblocks; k++)
        h->len[k] = 0;
}

glarex__digest *glarex__digest_new_background(int with_md5)
{
    glarex__digest *d = digest_new(with_md5);
    if (!d)
        return NULL;
    d->bg = calloc(1, sizeof(*d->bg));
    if (!d->bg || !(d->bg->block[0] = malloc(GLAREX__DIGEST_BLOCK))) {
        glarex__digest_free(d);
        return NULL;
    }
    d->bg->nblocks = 1;
    pthread_mutex_init(&d->bg->lock, NULL);
    pthread_cond_init(&d->bg->work, NULL);
    pthread_cond_init(&d->bg->space, NULL);
    return d;
}

/* }====================================================================== */

void glarex__digest_update(glarex__digest *d, const void *data, size_t len)
{
    if (d->bg)
        hasher_update(d, data, len);
    else
        hash_now(d, data, len);
}

void glarex__digest_final(glarex__digest *d, char sha256_hex[65], char *md5_hex)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (d->bg)
        hasher_finish(d);
    EVP_DigestFinal_ex(d->sha256, bin, &len);
    to_hex(bin, len, sha256_hex);
    if (d->md5) {
        EVP_DigestFinal_ex(d->md5, bin, &len);
        to_hex(bin, len, md5_hex);
    } else if (md5_hex) {
        md5_hex[0] = '\0';
    }
    digest_reset(d);
}

void glarex__digest_free(glarex__digest *d)
{
    if (!d)
        return;
    if (d->bg) {
        if (d->bg->block[0]) { /* initialised */
            hasher_join(d->bg, 1);
            pthread_mutex_destroy(&d->bg->lock);
            pthread_cond_destroy(&d->bg->work);
            pthread_cond_destroy(&d->bg->space);
        }
        for (unsigned k = 0; k < GLAREX__DIGEST_BLOCKS; k++)
            free(d->bg->block[k]);
        free(d->bg);
    }
    EVP_MD_CTX_free(d->sha256);
    EVP_MD_CTX_free(d->md5);
    free(d);
}

int glarex__digest_buffer(const void *data, size_t len, char sha256_hex[65],
                          char *md5_hex)
{
    glarex__digest *d = digest_new(md5_hex != NULL);
    if (!d)
        return -1;
    glarex__digest_update(d, data, len);
    glarex__digest_final(d, sha256_hex, md5_hex);
    glarex__digest_free(d);
    return 0;
}

int glarex__is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    return strspn(s, "0123456789abcdefABCDEF") == n;
}
