/* sha256 and md5 through OpenSSL's libcrypto, which uses the CPU's SHA extensions. */
#include "digest.h"
#include "ring.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct glarex__digest {
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
    glarex__ring *bg; /* NULL: hashed on the caller's thread at each update */
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

static int hash_block(const char *data, size_t len, void *payload)
{
    hash_now(payload, data, len);
    return 0;
}

glarex__digest *glarex__digest_new_background(int with_md5)
{
    glarex__digest *d = digest_new(with_md5);
    if (d && !(d->bg = glarex__ring_new(GLAREX__RING_BLOCKS, hash_block, d))) {
        glarex__digest_free(d);
        return NULL;
    }
    return d;
}

void glarex__digest_update(glarex__digest *d, const void *data, size_t len)
{
    if (d->bg)
        glarex__ring_write(d->bg, data, len); /* hashing never fails */
    else
        hash_now(d, data, len);
}

void glarex__digest_final(glarex__digest *d, char sha256_hex[65], char *md5_hex)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (d->bg)
        glarex__ring_finish(d->bg);
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
    glarex__ring_free(d->bg); /* first: its thread may be hashing into the contexts */
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

int glarex__hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
