/* Streaming sha256 + md5 of content, as Glare records them (lower-case hex). */
#ifndef GLAREX_DIGEST_H
#define GLAREX_DIGEST_H

#include <stddef.h>

typedef struct glarex__digest glarex__digest;

/* A new digest context computing sha256 and md5 together, or NULL when out of memory. */
glarex__digest *glarex__digest_new(void);
/* The same computing sha256 alone (final then writes "" as the md5), for content that is
 * addressed by sha256 and needs no md5. */
glarex__digest *glarex__digest_new_sha256(void);
/* The same (sha256 and md5 with `with_md5`, else sha256 alone) hashing on a thread of
 * its own once more than one block came in (a glarex__ring: at most 4 blocks of 1 MiB),
 * so that the caller's network and disk I/O overlap the hashing. Less than one block
 * is hashed on the caller's thread at final, with no thread started. */
glarex__digest *glarex__digest_new_background(int with_md5);
void glarex__digest_update(glarex__digest *d, const void *data, size_t len);
/* Writes the hex digests (65 and 33 bytes with the NUL) and resets the context. */
void glarex__digest_final(glarex__digest *d, char sha256_hex[65], char *md5_hex);
void glarex__digest_free(glarex__digest *d);

/* Convenience: both digests of one buffer (sha256 alone when md5_hex is NULL).
 * Returns 0, or -1 when out of memory. */
int glarex__digest_buffer(const void *data, size_t len, char sha256_hex[65],
                          char *md5_hex);

/* Nonzero when `s` is exactly `n` lower- or upper-case hex digits. */
int glarex__is_hex(const char *s, size_t n);

/* The value of the hex digit `c` (either case), or -1 when `c` is not one. */
int glarex__hex_value(int c);

#endif
