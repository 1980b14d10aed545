/*
 * The content layer of the cache: verified blobs addressed by sha256, held in an
 * in-memory LRU (bounded in bytes) over an on-disk content-addressed store shared by
 * every process on the host. See docs/cache.md.
 *
 * Layout of the cache directory:
 *   objects/ab/cdef...   one published, verified, read-only file per sha256
 *   tmp/                 fills in progress (<sha256>.XXXXXX); never read as content
 *
 * Threads: a glarex__cache is shared by all threads of a process. Every function
 * below may be called concurrently on one cache, except glarex__cache_free, which
 * must not race with any other call on the same cache. One mutex guards the map, the
 * LRU list and the in-flight table; it is never held across I/O on content, a fill
 * or a callback. A fill of a large object writes its temporary file on a thread of its
 * own (a glarex__ring), joined before the fill is checked. A glarex__content is immutable once published and may be read and
 * ref/unref'd from any thread; it does not point back to its cache, so it may
 * outlive it.
 *
 * Trust: every directory of the cache (the cache directory itself, objects/,
 * objects/xx/ and tmp/) must be owned by the caller (geteuid) and writable by nobody
 * else, and is never reached through a symbolic link in its last component; every
 * object is opened with O_NOFOLLOW and must be a regular file owned by the caller and
 * writable by nobody else. The resolution layer holds index/ and its files to the
 * same rule through glarex__cache_private_dir and glarex__cache_private_open. Anything else is
 * refused (GLAREX_EIO, with the fix in the message), never read. Inside such a chain
 * only the caller (or root) can change a file, so a published object is trusted as
 * verified; its bytes are still hashed again whenever they enter memory (a small
 * object when loaded, a streamed one when first mapped). See docs/cache.md.
 *
 * Processes: any number of processes may share one directory. A file is published
 * by rename only after it was fsynced and verified, so an object file is always
 * complete and correct. Two processes filling the same blob each write their own
 * temporary file; the second rename replaces the first with identical bytes. No file
 * locks are used. A process only knows which objects *it* is using: another
 * process's gc may remove a file this one holds. In-memory bytes and existing
 * mappings stay valid (the inode lives on), but the path may then not exist.
 */
#ifndef GLAREX_CACHE_H
#define GLAREX_CACHE_H

#include "common.h"

#include <stdint.h>

typedef struct glarex__cache glarex__cache;
typedef struct glarex__content glarex__content;

/* {====================================================================
 * Options and counters
 * ==================================================================== */

typedef struct glarex__cache_options {
    /** The cache directory. Required. Created (with parents) mode 0700 if missing;
     * an existing one must be the caller's own and writable by nobody else. */
    const char *dir;
    /** Bytes of the in-memory LRU: the bytes of small blobs plus a per-entry
     * overhead. Entries somebody holds a reference to are never evicted, so the
     * map exceeds this only by content in use. 0 keeps nothing unreferenced. */
    uint64_t memory_budget;
    /** Bytes of published objects on disk; least recently used files go first.
     * 0 = unlimited. */
    uint64_t disk_budget;
    /** Largest blob accepted, from a fill or from disk; 0 = no cap. Larger is
     * GLAREX_ETOOBIG, before any download when the size is known up front. */
    uint64_t max_blob_size;
    /** Blobs larger than this are never held whole in memory: they are streamed to
     * disk and mapped (read-only, lazily) when their bytes are asked for. */
    uint64_t stream_threshold;
    /** Serve only what is cached: a miss is GLAREX_EOFFLINE, `fill` is not called. */
    int offline;
} glarex__cache_options;

#define GLAREX__CACHE_DEFAULT_MEMORY_BUDGET (64u * 1024 * 1024)
#define GLAREX__CACHE_DEFAULT_STREAM_THRESHOLD (8u * 1024 * 1024)

/** Defaults: 64 MiB in memory, unlimited disk, no per-blob cap, stream above 8 MiB. */
#define GLAREX__CACHE_OPTIONS_INIT                                                       \
    {                                                                                    \
        .dir = NULL, .memory_budget = GLAREX__CACHE_DEFAULT_MEMORY_BUDGET,               \
        .disk_budget = 0, .max_blob_size = 0,                                            \
        .stream_threshold = GLAREX__CACHE_DEFAULT_STREAM_THRESHOLD, .offline = 0         \
    }

/** A snapshot of a cache's counters (each read atomically; no lock is taken). */
typedef struct glarex__cache_counters {
    uint64_t hits;             /**< served from the memory LRU */
    uint64_t disk_hits;        /**< served from a published file */
    uint64_t misses;           /**< in neither: filled, or an offline/no-fill error */
    uint64_t downloads;        /**< fills run */
    uint64_t bytes_downloaded; /**< bytes fills wrote (including failed fills) */
    uint64_t coalesced_waits;  /**< gets that waited on another thread's load or fill */
    uint64_t evictions_memory; /**< entries dropped from the memory LRU for its budget */
    uint64_t evictions_disk;   /**< objects removed for the disk budget or by purge */
    uint64_t corrupt;          /**< objects found corrupt (on load or verify), removed */
    uint64_t memory_bytes;     /**< current charge of the memory LRU */
    uint64_t memory_entries;   /**< current entries in the memory LRU */
    uint64_t disk_bytes;       /**< published bytes on disk, as last seen by this cache */
} glarex__cache_counters;

/* }==================================================================== */

/* {====================================================================
 * The cache
 * ==================================================================== */

/**
 * Opens the cache in opts->dir (new; free with glarex__cache_free). Creates dir,
 * dir/objects and dir/tmp when missing, checks each with glarex__cache_private_dir,
 * and sums the published bytes. The options are copied.
 * Errors: GLAREX_EINVALID (no dir), GLAREX_EIO (including a directory not trusted).
 */
int glarex__cache_new(glarex__cache **out, const glarex__cache_options *opts,
                      glarex_error *err);

/**
 * Checks that `path` is a directory the cache may trust: not a symbolic link, owned
 * by the caller (geteuid) and not writable by group or others. With `create`, first
 * makes it (and missing parents) mode 0700. Returns 0 when trusted; GLAREX_ENOTFOUND
 * when it is missing and `create` is 0; GLAREX_EIO when it cannot be made or opened,
 * or is not trusted: the message names the directory and the fix ("chmod 700 DIR",
 * or another cache directory). Any thread; no cache handle is needed.
 */
int glarex__cache_private_dir(const char *path, int create, glarex_error *err);

/**
 * Opens the file `path`, which lives in a directory checked by
 * glarex__cache_private_dir, with open(2) `flags` plus O_NOFOLLOW, O_NONBLOCK and
 * O_CLOEXEC; with O_CREAT a new file is made mode 0600. `*out` receives the
 * descriptor (the caller closes it), or -1 on failure. The file must be a regular
 * file owned by the caller and not writable by group or others; a symbolic link, a
 * FIFO or someone else's file is refused (GLAREX_EIO, naming the file and the fix).
 * Errors: GLAREX_ENOTFOUND (missing, without O_CREAT), GLAREX_EIO.
 */
int glarex__cache_private_open(int *out, const char *path, int flags, glarex_error *err);

/** Drops the cache's references. Entries callers still hold stay valid. NULL-safe. */
void glarex__cache_free(glarex__cache *c);

/**
 * Streams content into the cache. Call `write(data, len, write_payload)` any number
 * of times with the bytes in order; stop when it returns nonzero. Return 0 on
 * success, or a negative glarex_status after filling `err` (never NULL here).
 */
typedef int (*glarex__cache_fill_fn)(glarex_write_cb write, void *write_payload,
                                     void *fill_payload, glarex_error *err);

/**
 * The content whose sha256 is `sha256` (64 hex digits, any case): a new reference,
 * release it with glarex__content_unref.
 *
 * Order: the memory LRU (a hit takes the map lock, bumps a refcount and allocates
 * nothing), then the published file, then `fill`. A fill streams into tmp/, is
 * fsynced, checked against `sha256` and `size` (-1 = unknown) and only then renamed
 * into objects/. Concurrent gets of one missing sha256 share one load or fill and
 * its result or error.
 *
 * `content_type` (may be NULL: application/octet-stream) is recorded on the entry
 * the first time it is created in this process.
 *
 * Errors: GLAREX_EINVALID (bad sha256), GLAREX_ECHECKSUM (digest or size
 * mismatch: nothing is published), GLAREX_ETOOBIG (over max_blob_size),
 * GLAREX_EOFFLINE (offline and not cached), GLAREX_ENOTFOUND (not cached and
 * `fill` is NULL), GLAREX_EIO, GLAREX_ENOMEM, or whatever `fill` returned, with
 * its `err` unchanged. When the cache aborted the fill through `write` (size cap,
 * disk error), the cache's reason is reported, not the fill's.
 */
int glarex__cache_get(glarex__content **out, glarex__cache *c, const char *sha256,
                      int64_t size, const char *content_type, glarex__cache_fill_fn fill,
                      void *fill_payload, glarex_error *err);

/**
 * As glarex__cache_get, for a `fill` that verifies the bytes against `sha256` itself
 * and fails unless they match (a store download given the expected digests): the
 * cache does not hash them a second time. The size is still checked.
 */
int glarex__cache_get_verified(glarex__content **out, glarex__cache *c, const char *sha256,
                               int64_t size, const char *content_type,
                               glarex__cache_fill_fn fill, void *fill_payload,
                               glarex_error *err);

/** The counters, read without a lock. */
void glarex__cache_stats(glarex__cache_counters *out, glarex__cache *c);

/* }==================================================================== */

/* {====================================================================
 * Content entries
 * ==================================================================== */

/** Takes one more reference (returns `ct`). NULL-safe. Any thread. */
glarex__content *glarex__content_ref(glarex__content *ct);

/** Releases one reference; the last one frees the entry (and unmaps it). NULL-safe. */
void glarex__content_unref(glarex__content *ct);

/** The lower-case hex sha256 (borrowed, lives as long as the entry). */
const char *glarex__content_sha256(const glarex__content *ct);

/** Size in bytes. */
uint64_t glarex__content_size(const glarex__content *ct);

/** The content type given when the entry was created (borrowed; never NULL). */
const char *glarex__content_type(const glarex__content *ct);

/** The published file, objects/ab/cdef... (borrowed; see the note on processes). */
const char *glarex__content_path(const glarex__content *ct);

/**
 * The bytes when the blob is small enough to be held in memory (size <=
 * stream_threshold), NUL-terminated (the NUL is not counted); NULL for a streamed
 * blob. Borrowed: lives as long as the entry. Never allocates.
 */
const char *glarex__content_bytes(const glarex__content *ct);

/**
 * The bytes, whatever the size (borrowed, lives as long as the entry). A streamed
 * blob's file is hashed again and then mapped read-only on the first call (the
 * mapping is shared by all later calls and threads); it is not NUL-terminated.
 * Errors: GLAREX_ECHECKSUM when the file's bytes no longer match the sha256 (the
 * file is removed and a later get loads or fills the content again); GLAREX_EIO when
 * the file is gone, replaced or no longer trusted.
 */
int glarex__content_data(const char **out, glarex__content *ct, glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Maintenance (glarex cache ls|verify|gc|purge)
 * ==================================================================== */

/** One published object, as found on disk. */
typedef struct glarex__cache_object {
    char sha256[65];
    uint64_t size;
    int64_t mtime;    /**< seconds since the epoch: the last use */
    const char *path; /**< borrowed for the duration of the callback */
} glarex__cache_object;

/** Called per object; return nonzero to stop (the call then returns that value). */
typedef int (*glarex__cache_object_fn)(const glarex__cache_object *obj, void *payload);

/** Called per corrupt object found by verify, with the digest its bytes have. */
typedef void (*glarex__cache_corrupt_fn)(const glarex__cache_object *obj,
                                         const char *actual_sha256, void *payload);

/** What gc and purge removed. */
typedef struct glarex__cache_gc_result {
    uint64_t objects_removed;
    uint64_t bytes_removed;
    uint64_t objects_kept_in_use; /**< would have gone but this process uses them */
    uint64_t temp_removed;        /**< stale temporary files */
} glarex__cache_gc_result;

/** Calls `cb` for every published object, in sha256 order. */
int glarex__cache_list(glarex__cache *c, glarex__cache_object_fn cb, void *payload,
                       glarex_error *err);

/**
 * Re-hashes every published object. Each corrupt one is reported to `cb` (may be
 * NULL), removed from disk and dropped from the memory LRU (holders keep their
 * reference). `out` (may be NULL) receives the number of corrupt objects.
 */
int glarex__cache_verify(uint64_t *out, glarex__cache *c, glarex__cache_corrupt_fn cb,
                         void *payload, glarex_error *err);

/**
 * Enforces the budgets now (memory, and disk when disk_budget is set) and removes
 * temporary files untouched for an hour (fills that died). `out` may be NULL.
 */
int glarex__cache_gc(glarex__cache_gc_result *out, glarex__cache *c, glarex_error *err);

/**
 * Removes every object this process is not using, from disk and from memory, plus
 * stale temporary files (as gc). `out` may be NULL.
 */
int glarex__cache_purge(glarex__cache_gc_result *out, glarex__cache *c,
                        glarex_error *err);

/* }==================================================================== */

#endif
