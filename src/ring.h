/*
 * A bounded ring of blocks that a thread of its own hands, in order, to a consumer, so
 * that the producer's work (reading the network) overlaps the consumer's (hashing,
 * writing a file). The producer's bytes are copied into the ring; it waits only when
 * every block is still being consumed. Less than one block in all is consumed on the
 * producer's thread at finish, with no thread started. One producer thread at a time.
 */
#ifndef GLAREX_RING_H
#define GLAREX_RING_H

#include <stddef.h>

#define GLAREX__RING_BLOCK (1u << 20)
#define GLAREX__RING_BLOCKS 4 /* the most a ring may have */

/* Consumes one block: returns 0, or nonzero to stop (every later block is dropped). */
typedef int (*glarex__ring_fn)(const char *data, size_t len, void *payload);

typedef struct glarex__ring glarex__ring;

/* A new ring of `blocks` (1 to GLAREX__RING_BLOCKS) blocks of GLAREX__RING_BLOCK bytes
 * feeding `fn`, or NULL when out of memory. Only the first block is allocated until
 * more than one block comes in. */
glarex__ring *glarex__ring_new(unsigned blocks, glarex__ring_fn fn, void *payload);

/* Copies `len` bytes in. Returns 0, or the consumer's nonzero status once it stopped. */
int glarex__ring_write(glarex__ring *r, const void *data, size_t len);

/* Consumes what is left and waits for the thread: every byte written has then been
 * consumed. Returns 0, or the consumer's nonzero status. The ring can then be used
 * again, from scratch. */
int glarex__ring_finish(glarex__ring *r);

/* Stops the thread, dropping what it has not consumed, and frees the ring. NULL-safe. */
void glarex__ring_free(glarex__ring *r);

#endif
