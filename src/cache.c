/* The content layer of the cache: memory LRU over an on-disk sha256 store. */
#include "cache.h"

#include "digest.h"
#include "ring.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_LEN 64
#define TOUCH_INTERVAL 60 /* seconds between mtime touches on memory hits */
/* A temporary file untouched this long belongs to a dead fill. */
#define STALE_TMP_AGE 3600
#define IO_CHUNK (256 * 1024)
#define WRITEBACK_CHUNK (8u << 20) /* write-back is started every this many bytes */
#define PATH_ROOM 100 /* what the cache appends to its directory, at most */
#define DEFAULT_TYPE "application/octet-stream"

struct glarex__content {
    atomic_uint_fast32_t refs;
    uint64_t size;
    char *data;          /* small blobs: owned, NUL-terminated; else NULL */
    _Atomic(char *) map; /* streamed blobs: read-only mapping made on first use */
    const char *path;    /* stored after the struct, like `type` */
    const char *type;
    atomic_llong touched; /* when the file's mtime was last set (seconds) */
    atomic_int corrupt;   /* the file no longer matched when mapped: never hand out again */
    dev_t dev;            /* the published file this entry was made from */
    ino_t ino;
    /* Owned by the cache, guarded by its lock while in_map. */
    glarex__content *hnext, *lprev, *lnext;
    uint64_t hash;
    uint64_t charge;
    int in_map;
    char sha256[KEY_LEN + 1];
};

/* One load or fill in progress; other gets of the same key wait on it. */
typedef struct flight {
    struct flight *next;
    char key[KEY_LEN + 1];
    pthread_cond_t cond;
    int done;
    int users; /* the leader plus each waiter; the last one frees the flight */
    int rc;
    glarex__content *result; /* carries one reference per waiter */
    glarex_error error;
} flight;

struct glarex__cache {
    glarex__cache_options opts;
    char *dir;
    pthread_mutex_t lock;      /* the map, the LRU list and the flights */
    pthread_mutex_t disk_lock; /* one disk-budget, purge or verify pass at a time */
    /* Shared by publishers from their mkdir of objects/xx to their rename into it, held
     * alone by purge while it removes the empty ones: a purge in this process never
     * takes a directory from under a fill (other processes' purges are retried). */
    pthread_rwlock_t fanout_lock;
    int locks_ready;
    glarex__content **buckets;
    size_t nbuckets, count;
    glarex__content *mru, *lru;
    flight *flights;

    atomic_uint_fast64_t hits, disk_hits, misses, downloads, bytes_downloaded,
        coalesced_waits, evictions_memory, evictions_disk, corrupt, memory_bytes,
        memory_entries;
    atomic_int_fast64_t disk_bytes;
};

#define COUNT(c, field, n)                                                               \
    atomic_fetch_add_explicit(&(c)->field, (n), memory_order_relaxed)

/* {====================================================================
 * Small helpers
 * ==================================================================== */

static const char *errtext(int e, char *buf, size_t n)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n);
#else
    return strerror_r(e, buf, n) == 0 ? buf : "unknown error";
#endif
}

/* GLAREX_EIO naming the operation, the file and errno. */
static int io_error(glarex_error *err, const char *what, const char *path)
{
    char buf[128];
    int e = errno;
    return glarex__error_set(err, GLAREX_EIO, "%s %s: %s", what, path,
                             errtext(e, buf, sizeof(buf)));
}

static int too_big(glarex_error *err, const char *key, uint64_t limit)
{
    return glarex__error_set(
        err, GLAREX_ETOOBIG,
        "content sha256 %s is larger than the %" PRIu64 "-byte limit", key, limit);
}

static int hexval(char ch)
{
    return ch <= '9' ? ch - '0' : ch - 'a' + 10;
}

/* The key is a digest already: its first 16 digits are a fine hash. */
static uint64_t key_hash(const char *key)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++)
        h = (h << 4) | (uint64_t)hexval(key[i]);
    return h;
}

static int is_lower_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

static void object_dir(char *out, const glarex__cache *c, const char *key)
{
    snprintf(out, PATH_MAX, "%s/objects/%.2s", c->dir, key);
}

static void object_path(char *out, const glarex__cache *c, const char *key)
{
    snprintf(out, PATH_MAX, "%s/objects/%.2s/%s", c->dir, key, key + 2);
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to `len` bytes; returns how many (short only at end of file), or -1. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* sha256 of everything `fd` holds from its current offset, read through `scratch`. */
static int hash_fd(char actual[65], uint64_t *nread, int fd, char *scratch,
                   const char *path, glarex_error *err)
{
    glarex__digest *d = glarex__digest_new_sha256();
    uint64_t total = 0;
    int rc = 0;

    if (!d)
        return GLAREX_ENOMEM_SET(err);
    for (;;) {
        ssize_t n = read_full(fd, scratch, IO_CHUNK);
        if (n < 0) {
            rc = io_error(err, "cannot read", path);
            goto done;
        }
        if (n == 0)
            break;
        glarex__digest_update(d, scratch, (size_t)n);
        total += (uint64_t)n;
    }
    glarex__digest_final(d, actual, NULL);
    if (nread)
        *nread = total;
done:
    glarex__digest_free(d);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Trust: the cache reads only what the caller alone could have written
 * ==================================================================== */

#define FIX_DIR "choose another cache directory (--cache-dir, GLAREX_CACHE_DIR)"

/* 0 when `st` belongs to the caller and nobody else may write it; else refuses. */
static int check_private(const struct stat *st, const char *path, int is_dir,
                         glarex_error *err)
{
    const char *what = is_dir ? "cache directory" : "cache file";
    unsigned me = (unsigned)geteuid();

    if ((unsigned)st->st_uid != me) {
        if (is_dir)
            return glarex__error_set(err, GLAREX_EIO,
                                     "%s %s is owned by uid %u, not by you (uid %u), so "
                                     "its content cannot be trusted: remove it or " FIX_DIR,
                                     what, path, (unsigned)st->st_uid, me);
        return glarex__error_set(err, GLAREX_EIO,
                                 "%s %s is owned by uid %u, not by you (uid %u), so it "
                                 "cannot be trusted: remove it (rm %s) and fetch again",
                                 what, path, (unsigned)st->st_uid, me, path);
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        if (is_dir)
            return glarex__error_set(err, GLAREX_EIO,
                                     "%s %s is writable by others (mode %04o), so anyone "
                                     "could plant content in it: run 'chmod 700 %s' or " FIX_DIR,
                                     what, path, (unsigned)(st->st_mode & 07777), path);
        return glarex__error_set(err, GLAREX_EIO,
                                 "%s %s is writable by others (mode %04o), so it cannot be "
                                 "trusted: remove it (rm %s) and fetch again",
                                 what, path, (unsigned)(st->st_mode & 07777), path);
    }
    return 0;
}

/* The refusal for a path that is a symbolic link (open with O_NOFOLLOW said ELOOP). */
static int symlink_refused(const char *path, int is_dir, glarex_error *err)
{
    if (is_dir)
        return glarex__error_set(err, GLAREX_EIO,
                                 "cache directory %s is a symbolic link, which the cache "
                                 "does not follow: give the directory it points to, or " FIX_DIR,
                                 path);
    return glarex__error_set(err, GLAREX_EIO,
                             "cache file %s is a symbolic link, which the cache does not "
                             "follow: remove it (rm %s) and fetch again",
                             path, path);
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/*
 * Checks (and with `create`, first makes, parents included, mode 0700) the directory
 * `path`. Returns 0 when it is trusted, 1 when it is absent and `create` is 0 (err
 * untouched), or a negative status.
 */
static int private_dir(const char *path, int create, glarex_error *err)
{
    char buf[PATH_MAX];
    struct stat st;
    int fd, rc;

    if (create) {
        if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
            return glarex__error_set(err, GLAREX_EINVALID, "path '%.60s...' is too long",
                                     path);
        if (mkdir_p(buf) < 0)
            return io_error(err, "cannot create cache directory", path);
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || (errno == ENOTDIR && lstat(path, &st) == 0 &&
                               S_ISLNK(st.st_mode)))
            return symlink_refused(path, 1, err);
        if (!create && errno == ENOENT)
            return 1;
        return io_error(err, "cannot open cache directory", path);
    }
    rc = fstat(fd, &st) < 0 ? io_error(err, "cannot stat", path)
                            : check_private(&st, path, 1, err);
    close(fd);
    return rc;
}

/*
 * Opens a file of the cache with `flags` (O_CREAT makes it 0600), never through a
 * symbolic link and never blocking on a FIFO. Returns 0 with *fd and *st set when it
 * is a regular file the caller alone may write, 1 when it is absent (err untouched),
 * or a negative status.
 */
static int private_open(int *fd, struct stat *st, const char *path, int flags,
                        glarex_error *err)
{
    int rc;

    *fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (*fd < 0) {
        if (errno == ELOOP)
            return symlink_refused(path, 0, err);
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return io_error(err, "cannot open", path);
    }
    if (fstat(*fd, st) < 0)
        rc = io_error(err, "cannot stat", path);
    else if (!S_ISREG(st->st_mode))
        rc = glarex__error_set(err, GLAREX_EIO,
                               "cache file %s is not a regular file: remove it (rm %s)",
                               path, path);
    else
        rc = check_private(st, path, 0, err);
    if (rc < 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

int glarex__cache_private_dir(const char *path, int create, glarex_error *err)
{
    int rc;
    GLAREX_ASSERT_ARG(err, path);
    rc = private_dir(path, create, err);
    if (rc == 1)
        return glarex__error_set(err, GLAREX_ENOTFOUND,
                                 "cache directory %s does not exist", path);
    return rc;
}

int glarex__cache_private_open(int *out, const char *path, int flags, glarex_error *err)
{
    struct stat st;
    int rc;
    GLAREX_ASSERT_ARG(err, out);
    *out = -1;
    GLAREX_ASSERT_ARG(err, path);
    rc = private_open(out, &st, path, flags, err);
    if (rc == 1)
        return glarex__error_set(err, GLAREX_ENOTFOUND, "cache file %s does not exist",
                                 path);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Content entries
 * ==================================================================== */

/* A new entry holding one reference, made from the file `st` describes. Takes `data`
 * only on success. */
static glarex__content *content_new(const char *key, uint64_t size, const char *type,
                                    const char *path, const struct stat *st, char *data)
{
    size_t pl = strlen(path), tl;
    glarex__content *e;
    char *p;

    if (!type || !*type)
        type = DEFAULT_TYPE;
    tl = strlen(type);
    e = calloc(1, sizeof(*e) + pl + 1 + tl + 1);
    if (!e)
        return NULL;
    p = (char *)(e + 1);
    memcpy(p, path, pl + 1);
    memcpy(p + pl + 1, type, tl + 1);
    e->path = p;
    e->type = p + pl + 1;
    atomic_init(&e->refs, 1);
    atomic_init(&e->map, NULL);
    atomic_init(&e->corrupt, 0);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    atomic_init(&e->touched, (long long)time(NULL));
    memcpy(e->sha256, key, KEY_LEN + 1);
    e->size = size;
    e->data = data;
    e->hash = key_hash(key);
    e->charge = sizeof(*e) + pl + tl + 2 + (data ? size + 1 : 0);
    return e;
}

glarex__content *glarex__content_ref(glarex__content *ct)
{
    if (ct)
        atomic_fetch_add_explicit(&ct->refs, 1, memory_order_relaxed);
    return ct;
}

void glarex__content_unref(glarex__content *ct)
{
    char *m;
    if (!ct || atomic_fetch_sub_explicit(&ct->refs, 1, memory_order_acq_rel) != 1)
        return;
    m = atomic_load_explicit(&ct->map, memory_order_acquire);
    if (m)
        munmap(m, ct->size);
    free(ct->data);
    free(ct);
}

const char *glarex__content_sha256(const glarex__content *ct)
{
    return ct->sha256;
}

uint64_t glarex__content_size(const glarex__content *ct)
{
    return ct->size;
}

const char *glarex__content_type(const glarex__content *ct)
{
    return ct->type;
}

const char *glarex__content_path(const glarex__content *ct)
{
    return ct->path;
}

const char *glarex__content_bytes(const glarex__content *ct)
{
    return ct->data;
}

/* A mapped file that no longer matches its name: removed (unless replaced meanwhile),
 * and the entry is never handed out again. */
static int content_corrupt(glarex__content *ct, const char *actual, glarex_error *err)
{
    struct stat now;
    atomic_store(&ct->corrupt, 1);
    if (lstat(ct->path, &now) == 0 && now.st_dev == ct->dev && now.st_ino == ct->ino)
        unlink(ct->path);
    return glarex__error_set(err, GLAREX_ECHECKSUM,
                             "cached file %s was changed on disk: its bytes have sha256 "
                             "%s, not %s; it was removed, fetch it again",
                             ct->path, actual, ct->sha256);
}

/*
 * Maps a streamed blob's file once its bytes were hashed again: the file may have
 * changed since it was published or loaded, and bytes are handed out only with the
 * digest they have. The hash reads through a small buffer, so the mapping is paged in
 * only by its reader.
 */
static int map_verified(char **out, glarex__content *ct, glarex_error *err)
{
    char actual[65], *scratch = NULL;
    struct stat st;
    uint64_t n = 0;
    void *p;
    int fd, rc;

    rc = private_open(&fd, &st, ct->path, O_RDONLY, err);
    if (rc == 1)
        return glarex__error_set(err, GLAREX_EIO,
                                 "cached file %s was removed: fetch it again", ct->path);
    if (rc < 0)
        return rc;
    if (st.st_dev != ct->dev || st.st_ino != ct->ino || (uint64_t)st.st_size != ct->size) {
        rc = glarex__error_set(err, GLAREX_EIO,
                               "cached file %s was replaced since it was checked: fetch it "
                               "again",
                               ct->path);
        goto done;
    }
    if (!(scratch = malloc(IO_CHUNK))) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((rc = hash_fd(actual, &n, fd, scratch, ct->path, err)) < 0)
        goto done;
    if (n != ct->size || strcmp(actual, ct->sha256) != 0) {
        rc = content_corrupt(ct, actual, err);
        goto done;
    }
    p = mmap(NULL, ct->size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = io_error(err, "cannot map cached file", ct->path);
        goto done;
    }
    *out = p;
done:
    free(scratch);
    close(fd);
    return rc;
}

int glarex__content_data(const char **out, glarex__content *ct, glarex_error *err)
{
    char *m, *expected = NULL;
    int rc;

    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, ct);
    if (ct->data) {
        *out = ct->data;
        return 0;
    }
    m = atomic_load_explicit(&ct->map, memory_order_acquire);
    if (m) {
        *out = m;
        return 0;
    }
    if (atomic_load(&ct->corrupt))
        return glarex__error_set(err, GLAREX_ECHECKSUM,
                                 "cached file %s was changed on disk: fetch it again",
                                 ct->path);
    if ((rc = map_verified(&m, ct, err)) < 0)
        return rc;
    /* Two threads may map at once: the first mapping published wins. */
    if (!atomic_compare_exchange_strong_explicit(
            &ct->map, &expected, m, memory_order_acq_rel, memory_order_acquire)) {
        munmap(m, ct->size);
        m = expected;
    }
    *out = m;
    return 0;
}

/* Moves the file's mtime (the disk LRU clock) forward, at most once a minute. */
static void touch_file(glarex__content *e)
{
    long long now = (long long)time(NULL);
    long long last = atomic_load_explicit(&e->touched, memory_order_relaxed);
    if (now - last < TOUCH_INTERVAL)
        return;
    if (atomic_compare_exchange_strong_explicit(
            &e->touched, &last, now, memory_order_relaxed, memory_order_relaxed))
        utimensat(AT_FDCWD, e->path, NULL, AT_SYMLINK_NOFOLLOW);
}

/* }==================================================================== */

/* {====================================================================
 * The map and the LRU list (all under c->lock)
 * ==================================================================== */

static glarex__content *map_find(const glarex__cache *c, const char *key, uint64_t h)
{
    for (glarex__content *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && memcmp(e->sha256, key, KEY_LEN) == 0)
            return e;
    return NULL;
}

static void lru_unlink(glarex__cache *c, glarex__content *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->mru = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->lru = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push(glarex__cache *c, glarex__content *e)
{
    e->lprev = NULL;
    e->lnext = c->mru;
    if (c->mru)
        c->mru->lprev = e;
    c->mru = e;
    if (!c->lru)
        c->lru = e;
}

static void map_grow(glarex__cache *c)
{
    size_t n = c->nbuckets * 2;
    glarex__content **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++) {
        glarex__content *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

/* Inserts `e` as most recently used; the map takes a reference of its own. */
static void map_insert(glarex__cache *c, glarex__content *e)
{
    size_t i;
    if (c->count + 1 > c->nbuckets / 4 * 3)
        map_grow(c);
    i = e->hash & (c->nbuckets - 1);
    e->hnext = c->buckets[i];
    c->buckets[i] = e;
    lru_push(c, e);
    e->in_map = 1;
    c->count++;
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    COUNT(c, memory_bytes, e->charge);
    COUNT(c, memory_entries, 1);
}

/* Unlinks `e`; the caller then owns (and must drop) the map's reference. */
static void map_remove(glarex__cache *c, glarex__content *e)
{
    glarex__content **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(c, e);
    e->in_map = 0;
    c->count--;
    atomic_fetch_sub_explicit(&c->memory_bytes, e->charge, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->memory_entries, 1, memory_order_relaxed);
}

/*
 * Drops least recently used entries nobody else holds until the charge fits
 * `budget`. Under the lock only the map can hand out new references, so a count of
 * one (the map's) cannot grow behind our back. Victims are chained on `hnext` and
 * released after unlocking.
 */
static void evict_memory(glarex__cache *c, glarex__content **victims, uint64_t budget)
{
    glarex__content *e = c->lru, *prev;
    while (e && atomic_load_explicit(&c->memory_bytes, memory_order_relaxed) > budget) {
        prev = e->lprev;
        if (atomic_load_explicit(&e->refs, memory_order_acquire) == 1) {
            map_remove(c, e);
            e->hnext = *victims;
            *victims = e;
            COUNT(c, evictions_memory, 1);
        }
        e = prev;
    }
}

static void release_chain(glarex__content *e)
{
    while (e) {
        glarex__content *next = e->hnext;
        glarex__content_unref(e);
        e = next;
    }
}

static flight *flight_find(const glarex__cache *c, const char *key)
{
    for (flight *f = c->flights; f; f = f->next)
        if (memcmp(f->key, key, KEY_LEN) == 0)
            return f;
    return NULL;
}

static void flight_unlink(glarex__cache *c, flight *f)
{
    flight **pp = &c->flights;
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
}

static void flight_release(flight *f)
{
    if (--f->users > 0)
        return;
    pthread_cond_destroy(&f->cond);
    free(f);
}

/*
 * Removes the published file of `key` unless this process uses it (an entry
 * somebody holds, or a load or fill in progress). With `force` (a corrupt file) it
 * goes anyway and the entry leaves the map; holders keep their reference. The
 * unlink happens under the lock so that no get can pick the file up in between.
 * Returns 1 when removed, 0 when kept, or a negative status.
 */
static int remove_object(glarex__cache *c, const char *key, int force, glarex_error *err)
{
    char path[PATH_MAX];
    glarex__content *e, *victim = NULL;
    int rc = 1;

    object_path(path, c, key);
    pthread_mutex_lock(&c->lock);
    if (!force && flight_find(c, key)) {
        rc = 0;
        goto unlock;
    }
    e = map_find(c, key, key_hash(key));
    if (e) {
        if (!force && atomic_load_explicit(&e->refs, memory_order_acquire) > 1) {
            rc = 0;
            goto unlock;
        }
        map_remove(c, e);
        victim = e;
    }
    if (unlink(path) < 0 && errno != ENOENT)
        rc = io_error(err, "cannot remove", path);
unlock:
    pthread_mutex_unlock(&c->lock);
    glarex__content_unref(victim);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Scanning the store
 * ==================================================================== */

typedef struct scan_obj {
    char sha256[KEY_LEN + 1];
    uint64_t size;
    struct timespec mtime;
} scan_obj;

typedef struct scan {
    scan_obj *v;
    size_t n, cap;
} scan;

static int scan_push(scan *s, const char *sub, const char *name, const struct stat *st)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        scan_obj *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    memcpy(s->v[s->n].sha256, sub, 2);
    memcpy(s->v[s->n].sha256 + 2, name, KEY_LEN - 2 + 1);
    s->v[s->n].size = (uint64_t)st->st_size;
    s->v[s->n].mtime = st->st_mtim;
    s->n++;
    return 0;
}

/* Every published object (objects/xx/<62 hex>, regular files); the rest is ignored. */
static int scan_objects(scan *s, const glarex__cache *c, glarex_error *err)
{
    char path[PATH_MAX];
    DIR *top = NULL, *sub = NULL;
    struct dirent *de, *se;
    int rc = 0;

    memset(s, 0, sizeof(*s));
    snprintf(path, sizeof(path), "%s/objects", c->dir);
    top = opendir(path);
    if (!top) {
        if (errno == ENOENT)
            return 0;
        return io_error(err, "cannot read directory", path);
    }
    while ((de = readdir(top)) != NULL) {
        int fd;
        if (!is_lower_hex(de->d_name, 2))
            continue;
        fd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue; /* removed meanwhile, or not a directory */
        sub = fdopendir(fd);
        if (!sub) {
            close(fd);
            continue;
        }
        while ((se = readdir(sub)) != NULL) {
            struct stat st;
            if (!is_lower_hex(se->d_name, KEY_LEN - 2))
                continue;
            if (fstatat(dirfd(sub), se->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISREG(st.st_mode))
                continue;
            if (scan_push(s, de->d_name, se->d_name, &st) < 0) {
                rc = GLAREX_ENOMEM_SET(err);
                goto done;
            }
        }
        closedir(sub);
        sub = NULL;
    }
done:
    if (sub)
        closedir(sub);
    closedir(top);
    if (rc < 0) {
        free(s->v);
        memset(s, 0, sizeof(*s));
    }
    return rc;
}

static int by_sha(const void *a, const void *b)
{
    return strcmp(((const scan_obj *)a)->sha256, ((const scan_obj *)b)->sha256);
}

static int by_mtime(const void *a, const void *b)
{
    const scan_obj *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->sha256, y->sha256);
}

/* qsort with an empty scan would pass it NULL. */
static void scan_sort(scan *s, int (*cmp)(const void *, const void *))
{
    if (s->n > 1)
        qsort(s->v, s->n, sizeof(*s->v), cmp);
}

/* Removes temporary files no fill has written to for STALE_TMP_AGE seconds. */
static int remove_stale_temps(uint64_t *removed, const glarex__cache *c,
                              glarex_error *err)
{
    char path[PATH_MAX];
    time_t now = time(NULL);
    struct dirent *de;
    DIR *d;
    char ebuf[128];
    int rc = 0;

    snprintf(path, sizeof(path), "%s/tmp", c->dir);
    d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return io_error(err, "cannot read directory", path);
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtim.tv_sec < STALE_TMP_AGE)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            (*removed)++;
        else if (errno != ENOENT && rc == 0)
            rc = glarex__error_set(err, GLAREX_EIO, "cannot remove %s/%s: %s", path,
                                   de->d_name, errtext(errno, ebuf, sizeof(ebuf)));
    }
    closedir(d);
    return rc;
}

/*
 * Removes least recently used objects (by mtime) until the store fits the disk
 * budget, skipping what this process uses. With `wait` == 0 (after a publish) it
 * gives way when another thread is already at it.
 */
static int enforce_disk(glarex__cache_gc_result *res, glarex__cache *c, int wait,
                        glarex_error *err)
{
    uint64_t budget = c->opts.disk_budget, total = 0;
    scan s;
    int rc;

    if (!budget)
        return 0;
    if (!wait) {
        if ((uint64_t)atomic_load(&c->disk_bytes) <= budget)
            return 0;
        if (pthread_mutex_trylock(&c->disk_lock) != 0)
            return 0;
    } else {
        pthread_mutex_lock(&c->disk_lock);
    }
    rc = scan_objects(&s, c, err);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < s.n; i++)
        total += s.v[i].size;
    scan_sort(&s, by_mtime);
    for (size_t i = 0; i < s.n && total > budget; i++) {
        int r = remove_object(c, s.v[i].sha256, 0, rc < 0 ? NULL : err);
        if (r == 1) {
            total -= s.v[i].size;
            COUNT(c, evictions_disk, 1);
            if (res) {
                res->objects_removed++;
                res->bytes_removed += s.v[i].size;
            }
        } else if (r == 0) {
            if (res)
                res->objects_kept_in_use++;
        } else if (rc == 0) {
            rc = r; /* first error wins; keep going, the budget still matters */
        }
    }
    atomic_store(&c->disk_bytes, (int_fast64_t)total);
    free(s.v);
done:
    pthread_mutex_unlock(&c->disk_lock);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Loading and filling
 * ==================================================================== */

/* A file whose bytes do not match its name: remove it, unless it was replaced. */
static void discard_corrupt(glarex__cache *c, const char *path, const struct stat *seen)
{
    struct stat now;
    if (lstat(path, &now) == 0 && now.st_dev == seen->st_dev &&
        now.st_ino == seen->st_ino && unlink(path) == 0)
        atomic_fetch_sub(&c->disk_bytes, (int_fast64_t)seen->st_size);
    COUNT(c, corrupt, 1);
}

static int size_mismatch(glarex_error *err, const char *key, uint64_t have, int64_t want)
{
    return glarex__error_set(err, GLAREX_ECHECKSUM,
                             "content sha256 %s has %" PRIu64 " bytes, expected %" PRId64,
                             key, have, want);
}

/*
 * The published object of `key`, if any: 1 with *out set, 0 when absent (or corrupt,
 * and then removed), or a negative status. Small objects are read into memory and
 * re-hashed (they are read anyway); large ones stay on disk.
 */
static int load_object(glarex__content **out, glarex__cache *c, const char *key,
                       int64_t size, const char *type, glarex_error *err)
{
    char path[PATH_MAX], actual[65];
    uint64_t fsize, max = c->opts.max_blob_size;
    char *buf = NULL, *scratch = NULL;
    struct stat st;
    int fd, rc = 0;

    object_dir(path, c, key);
    if ((rc = private_dir(path, 0, err)) != 0)
        return rc < 0 ? rc : 0;
    object_path(path, c, key);
    if ((rc = private_open(&fd, &st, path, O_RDONLY, err)) != 0)
        return rc < 0 ? rc : 0;
    fsize = (uint64_t)st.st_size;
    if (max && fsize > max) {
        rc = too_big(err, key, max);
        goto done;
    }
    if (fsize <= c->opts.stream_threshold) {
        ssize_t n;
        buf = malloc(fsize + 1);
        if (!buf) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        n = read_full(fd, buf, fsize);
        if (n < 0) {
            rc = io_error(err, "cannot read", path);
            goto done;
        }
        buf[n] = '\0';
        fsize = (uint64_t)n;
        if (glarex__digest_buffer(buf, (size_t)n, actual, NULL) < 0) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if (size >= 0 && (uint64_t)size != fsize) {
        /* Corrupt file or wrong expectation: only the bytes can tell. */
        scratch = malloc(IO_CHUNK);
        if (!scratch) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        if ((rc = hash_fd(actual, NULL, fd, scratch, path, err)) < 0)
            goto done;
    } else {
        memcpy(actual, key, sizeof(actual));
    }
    if (strcmp(actual, key) != 0) {
        discard_corrupt(c, path, &st);
        goto done; /* a miss: fill it again */
    }
    if (size >= 0 && (uint64_t)size != fsize) {
        rc = size_mismatch(err, key, fsize, size);
        goto done;
    }
    *out = content_new(key, fsize, type, path, &st, buf);
    if (!*out) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    buf = NULL;
    futimens(fd, NULL); /* a use: the disk LRU clock, shared with other processes */
    COUNT(c, disk_hits, 1);
    rc = 1;
done:
    free(buf);
    free(scratch);
    close(fd);
    return rc;
}

/* What the write callback handed to a fill works on. */
typedef struct writer {
    glarex__cache *c;
    const char *key;
    const char *tmp_path;
    int fd;
    glarex__digest *digest; /* NULL when the fill verifies the bytes itself */
    int64_t expected;
    uint64_t total;
    glarex__ring *ring; /* a large object's bytes go to the file on a thread of its own */
    uint64_t written;   /* bytes in the file (the ring's thread's, once there is one) */
    uint64_t flushing;  /* bytes whose write-back to disk has been started (same) */
    int write_errno;    /* a failed write's errno (same) */
    char *buf; /* the bytes, while they still fit under stream_threshold */
    size_t cap;
    int streamed;
    int rc; /* nonzero once the cache aborted the fill */
    glarex_error err;
} writer;

static int writer_keep(writer *w, const char *data, size_t len)
{
    uint64_t t = w->c->opts.stream_threshold;
    uint64_t limit = t < UINT64_MAX ? t + 1 : t; /* room for the NUL */
    uint64_t need = w->total + len + 1;
    if (need > w->cap) {
        uint64_t cap = w->cap ? (uint64_t)w->cap * 2 : 4096;
        char *b;
        if (cap < need)
            cap = need;
        if (cap > limit)
            cap = limit;
        if (cap > SIZE_MAX)
            return -1;
        b = realloc(w->buf, (size_t)cap);
        if (!b)
            return -1;
        w->buf = b;
        w->cap = (size_t)cap;
    }
    memcpy(w->buf + w->total, data, len);
    return 0;
}

/* Appends to the temporary file. A large object is written back while it downloads,
 * so that the fsync before it is published does not wait for all of it at once. Runs on
 * the fill's thread, or on the ring's once there is one. */
static int file_write(const char *data, size_t len, void *payload)
{
    writer *w = payload;
    if (write_all(w->fd, data, len) < 0) {
        w->write_errno = errno;
        return 1;
    }
    w->written += len;
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->written - w->flushing >= WRITEBACK_CHUNK) {
        /* advisory: a failure here shows up in the fsync that follows */
        (void)sync_file_range(w->fd, (off_t)w->flushing, (off_t)(w->written - w->flushing),
                              SYNC_FILE_RANGE_WRITE);
        w->flushing = w->written;
    }
#endif
    return 0;
}

static int write_failed(writer *w, glarex_error *err)
{
    errno = w->write_errno;
    return io_error(err, "cannot write", w->tmp_path);
}

static int cache_write(const char *data, size_t len, void *payload)
{
    writer *w = payload;
    glarex__cache *c = w->c;
    uint64_t max = c->opts.max_blob_size, total;

    if (w->rc)
        return 1;
    if (len == 0)
        return 0;
    total = w->total + len;
    if (total < w->total || (max && total > max)) {
        w->rc = too_big(&w->err, w->key, max ? max : UINT64_MAX);
        return 1;
    }
    if (w->expected >= 0 && total > (uint64_t)w->expected) {
        w->rc = glarex__error_set(&w->err, GLAREX_ECHECKSUM,
                                  "content sha256 %s is longer than the expected %" PRId64
                                  " bytes",
                                  w->key, w->expected);
        return 1;
    }
    if (!w->streamed) {
        if (total > c->opts.stream_threshold) {
            w->streamed = 1; /* large: from now on the file is the only copy */
            free(w->buf);
            w->buf = NULL;
            w->cap = 0;
            /* and writing it overlaps the download (without a ring, it is written here);
             * two blocks: while one is written, the other fills */
            w->ring = glarex__ring_new(2, file_write, w);
        } else if (writer_keep(w, data, len) < 0) {
            w->rc = GLAREX_ENOMEM_SET(&w->err);
            return 1;
        }
    }
    if (w->digest)
        glarex__digest_update(w->digest, data, len);
    if (w->ring ? glarex__ring_write(w->ring, data, len) : file_write(data, len, w)) {
        w->rc = write_failed(w, &w->err);
        return 1;
    }
    w->total = total;
    COUNT(c, bytes_downloaded, len);
    return 0;
}

/* publish() with the fan-out directories held. */
static int publish_into(int *existed, glarex__cache *c, const char *tmp, const char *key,
                        glarex_error *err)
{
    char dir[PATH_MAX], path[PATH_MAX], top[PATH_MAX];
    struct stat st;
    int rc;

    object_dir(dir, c, key);
    object_path(path, c, key);
    snprintf(top, sizeof(top), "%s/objects", c->dir);
    /* Another process's purge may remove an empty objects/xx between our mkdir and
     * rename: try again a few times. */
    for (int attempt = 0; attempt < 8; attempt++) {
        if (mkdir(dir, 0700) == 0) {
            if (fsync_dir(top) < 0)
                return io_error(err, "cannot sync directory", top);
        } else if (errno != EEXIST) {
            return io_error(err, "cannot create directory", dir);
        }
        if ((rc = private_dir(dir, 0, err)) < 0)
            return rc; /* an objects/xx made by someone else: never publish into it */
        *existed = lstat(path, &st) == 0;
        if (rename(tmp, path) == 0) {
            if (fsync_dir(dir) < 0)
                return io_error(err, "cannot sync directory", dir);
            return 0;
        }
        if (errno != ENOENT || access(tmp, F_OK) != 0)
            return io_error(err, "cannot publish", path);
    }
    return io_error(err, "cannot publish", path);
}

/* Renames the verified temporary file into objects/; fsyncs the directories. */
static int publish(int *existed, glarex__cache *c, const char *tmp, const char *key,
                   glarex_error *err)
{
    int rc;

    pthread_rwlock_rdlock(&c->fanout_lock);
    rc = publish_into(existed, c, tmp, key, err);
    pthread_rwlock_unlock(&c->fanout_lock);
    return rc;
}

static int fill_object(glarex__content **out, int *published, glarex__cache *c,
                       const char *key, int64_t size, const char *type,
                       glarex__cache_fill_fn fill, void *payload, int fill_verifies,
                       glarex_error *err)
{
    char tmp[PATH_MAX], path[PATH_MAX], actual[65];
    glarex_error ferr;
    struct stat st;
    writer w;
    int rc = 0, frc, existed = 0, renamed = 0;

    tmp[0] = '\0';
    memset(&w, 0, sizeof(w));
    w.c = c;
    w.key = key;
    w.tmp_path = tmp;
    w.expected = size;
    w.fd = -1;
    if (!fill_verifies && !(w.digest = glarex__digest_new_sha256()))
        return GLAREX_ENOMEM_SET(err);
    if (size >= 0 && (uint64_t)size <= c->opts.stream_threshold) {
        w.cap = (size_t)size + 1;
        w.buf = malloc(w.cap);
        if (!w.buf) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    }

    snprintf(tmp, sizeof(tmp), "%s/tmp/%s.XXXXXX", c->dir, key);
    w.fd = mkostemp(tmp, O_CLOEXEC);
    if (w.fd < 0 && errno == ENOENT) {
        char tdir[PATH_MAX];
        snprintf(tdir, sizeof(tdir), "%s/tmp", c->dir);
        if ((rc = private_dir(tdir, 1, err)) < 0) {
            tmp[0] = '\0';
            goto done;
        }
        snprintf(tmp, sizeof(tmp), "%s/tmp/%s.XXXXXX", c->dir, key);
        w.fd = mkostemp(tmp, O_CLOEXEC);
    }
    if (w.fd < 0) {
        rc = io_error(err, "cannot create temporary file", tmp);
        tmp[0] = '\0';
        goto done;
    }

    COUNT(c, downloads, 1);
    glarex_error_clear(&ferr);
    frc = fill(cache_write, &w, payload, &ferr);
    if (!w.rc && frc == 0 && w.ring && glarex__ring_finish(w.ring))
        w.rc = write_failed(&w, &w.err); /* every byte is in the file before it is checked */
    if (w.rc) { /* the cache aborted the fill: its reason beats the fill's "aborted" */
        rc = w.rc;
        if (err)
            *err = w.err;
        goto done;
    }
    if (frc != 0) {
        rc = frc < 0 ? frc : GLAREX_ERROR;
        if (ferr.code == 0)
            glarex__error_set(&ferr, rc, "filling content sha256 %s failed", key);
        if (err)
            *err = ferr;
        goto done;
    }
    if (size >= 0 && w.total != (uint64_t)size) {
        rc = size_mismatch(err, key, w.total, size);
        goto done;
    }
    if (w.digest)
        glarex__digest_final(w.digest, actual, NULL);
    if (w.digest && strcmp(actual, key) != 0) {
        rc = glarex__error_set(err, GLAREX_ECHECKSUM,
                               "sha256 mismatch: expected %s, got %s (%" PRIu64 " bytes)",
                               key, actual, w.total);
        goto done;
    }
    /* Read-only, so that a user of glarex__content_path cannot corrupt the store. */
    if (fsync(w.fd) < 0) {
        rc = io_error(err, "cannot sync", tmp);
        goto done;
    }
    if (fchmod(w.fd, 0400) < 0) {
        rc = io_error(err, "cannot make read-only", tmp);
        goto done;
    }
    if (fstat(w.fd, &st) < 0) {
        rc = io_error(err, "cannot stat", tmp);
        goto done;
    }
    if (close(w.fd) < 0) {
        w.fd = -1;
        rc = io_error(err, "cannot close", tmp);
        goto done;
    }
    w.fd = -1;
    if ((rc = publish(&existed, c, tmp, key, err)) < 0)
        goto done;
    renamed = 1;
    if (!existed)
        atomic_fetch_add(&c->disk_bytes, (int_fast64_t)w.total);
    *published = 1;

    if (!w.streamed) {
        if (!w.buf && !(w.buf = malloc(1))) { /* empty content: nothing was kept */
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        w.buf[w.total] = '\0';
    }
    object_path(path, c, key);
    *out = content_new(key, w.total, type, path, &st, w.streamed ? NULL : w.buf);
    if (!*out) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (!w.streamed)
        w.buf = NULL;
done:
    glarex__ring_free(w.ring); /* first: its thread may still be writing to the file */
    if (w.fd >= 0)
        close(w.fd);
    if (tmp[0] && !renamed && rc < 0)
        unlink(tmp);
    free(w.buf);
    glarex__digest_free(w.digest);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * The cache
 * ==================================================================== */

int glarex__cache_new(glarex__cache **out, const glarex__cache_options *opts,
                      glarex_error *err)
{
    char path[PATH_MAX];
    glarex__cache *c = NULL;
    size_t len;
    scan s;
    int rc = 0;

    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, opts);
    if (!opts->dir || !*opts->dir)
        return glarex__error_set(err, GLAREX_EINVALID, "the cache directory is not set");
    len = strlen(opts->dir);
    while (len > 1 && opts->dir[len - 1] == '/')
        len--;
    if (len + PATH_ROOM >= PATH_MAX)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "cache directory '%.60s...' is too long", opts->dir);

    c = calloc(1, sizeof(*c));
    if (!c)
        return GLAREX_ENOMEM_SET(err);
    c->opts = *opts;
    c->dir = strndup(opts->dir, len);
    c->nbuckets = 64;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->dir || !c->buckets) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    c->opts.dir = c->dir;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        rc = glarex__error_set(err, GLAREX_ERROR, "cannot create the cache lock");
        goto done;
    }
    if (pthread_mutex_init(&c->disk_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        rc = glarex__error_set(err, GLAREX_ERROR, "cannot create the cache lock");
        goto done;
    }
    if (pthread_rwlock_init(&c->fanout_lock, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_mutex_destroy(&c->disk_lock);
        rc = glarex__error_set(err, GLAREX_ERROR, "cannot create the cache lock");
        goto done;
    }
    c->locks_ready = 1;

    /* The whole chain is checked: a directory someone else could write is refused. */
    if ((rc = private_dir(c->dir, 1, err)) < 0)
        goto done;
    snprintf(path, sizeof(path), "%s/objects", c->dir);
    if ((rc = private_dir(path, 1, err)) < 0)
        goto done;
    snprintf(path, sizeof(path), "%s/tmp", c->dir);
    if ((rc = private_dir(path, 1, err)) < 0)
        goto done;

    if ((rc = scan_objects(&s, c, err)) < 0)
        goto done;
    for (size_t i = 0; i < s.n; i++)
        atomic_fetch_add(&c->disk_bytes, (int_fast64_t)s.v[i].size);
    free(s.v);

    *out = c;
    c = NULL;
done:
    glarex__cache_free(c);
    return rc;
}

void glarex__cache_free(glarex__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->buckets && i < c->nbuckets; i++) {
        glarex__content *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->in_map = 0;
            glarex__content_unref(e);
        }
    }
    if (c->locks_ready) {
        pthread_mutex_destroy(&c->lock);
        pthread_mutex_destroy(&c->disk_lock);
        pthread_rwlock_destroy(&c->fanout_lock);
    }
    free(c->buckets);
    free(c->dir);
    free(c);
}

/* Hands the caller its reference after checking an expected size. */
static int deliver(glarex__content **out, glarex__content *e, int64_t size,
                   glarex_error *err)
{
    if (size >= 0 && (uint64_t)size != e->size) {
        int rc = size_mismatch(err, e->sha256, e->size, size);
        glarex__content_unref(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* The leader's work for a key found in neither the map nor in flight. */
static int lead(glarex__content **out, int *published, glarex__cache *c, const char *key,
                int64_t size, const char *type, glarex__cache_fill_fn fill, void *payload,
                int fill_verifies, glarex_error *err)
{
    uint64_t max = c->opts.max_blob_size;
    int rc;

    if (size >= 0 && max && (uint64_t)size > max)
        return too_big(err, key, max);
    rc = load_object(out, c, key, size, type, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    COUNT(c, misses, 1);
    if (c->opts.offline)
        return glarex__error_set(err, GLAREX_EOFFLINE,
                                 "content sha256 %s is not cached and glarex is offline",
                                 key);
    if (!fill)
        return glarex__error_set(err, GLAREX_ENOTFOUND, "content sha256 %s is not cached",
                                 key);
    return fill_object(out, published, c, key, size, type, fill, payload, fill_verifies,
                       err);
}

static int cache_get(glarex__content **out, glarex__cache *c, const char *sha256,
                     int64_t size, const char *content_type, glarex__cache_fill_fn fill,
                     void *fill_payload, int fill_verifies, glarex_error *err)
{
    char key[KEY_LEN + 1];
    glarex__content *e = NULL, *victims = NULL;
    glarex_error lerr;
    flight *f;
    uint64_t h;
    int rc, published = 0;

    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, c);
    if (!sha256 || !glarex__is_hex(sha256, KEY_LEN))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "invalid sha256 '%.80s': expected 64 hex digits",
                                 sha256 ? sha256 : "(null)");
    for (int i = 0; i < KEY_LEN; i++)
        key[i] = (char)tolower((unsigned char)sha256[i]);
    key[KEY_LEN] = '\0';
    h = key_hash(key);

    pthread_mutex_lock(&c->lock);
    while ((e = map_find(c, key, h)) != NULL && atomic_load(&e->corrupt)) {
        map_remove(c, e); /* its file changed on disk: load or fill it again */
        pthread_mutex_unlock(&c->lock);
        glarex__content_unref(e);
        pthread_mutex_lock(&c->lock);
    }
    if (e) { /* the hot path: no allocation, no I/O under the lock */
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        lru_unlink(c, e);
        lru_push(c, e);
        pthread_mutex_unlock(&c->lock);
        COUNT(c, hits, 1);
        touch_file(e);
        return deliver(out, e, size, err);
    }
    f = flight_find(c, key);
    if (f) {
        f->users++;
        COUNT(c, coalesced_waits, 1);
        while (!f->done)
            pthread_cond_wait(&f->cond, &c->lock);
        rc = f->rc;
        e = f->result; /* the leader took a reference for each waiter */
        if (rc < 0 && err)
            *err = f->error;
        flight_release(f);
        pthread_mutex_unlock(&c->lock);
        return rc < 0 ? rc : deliver(out, e, size, err);
    }
    f = calloc(1, sizeof(*f));
    if (!f || pthread_cond_init(&f->cond, NULL) != 0) {
        pthread_mutex_unlock(&c->lock);
        free(f);
        return GLAREX_ENOMEM_SET(err);
    }
    memcpy(f->key, key, sizeof(key));
    f->users = 1;
    f->next = c->flights;
    c->flights = f;
    pthread_mutex_unlock(&c->lock);

    glarex_error_clear(&lerr);
    rc = lead(&e, &published, c, key, size, content_type, fill, fill_payload, fill_verifies,
              &lerr);

    pthread_mutex_lock(&c->lock);
    flight_unlink(c, f);
    f->done = 1;
    f->rc = rc;
    if (rc < 0) {
        f->error = lerr;
    } else {
        map_insert(c, e);
        atomic_fetch_add_explicit(&e->refs, (uint_fast32_t)(f->users - 1),
                                  memory_order_relaxed);
        f->result = e;
        evict_memory(c, &victims, c->opts.memory_budget);
    }
    pthread_cond_broadcast(&f->cond);
    flight_release(f);
    pthread_mutex_unlock(&c->lock);
    release_chain(victims);

    if (rc < 0) {
        if (err)
            *err = lerr;
        return rc;
    }
    if (published)
        enforce_disk(NULL, c, 0, NULL); /* best effort: gc reports its errors */
    return deliver(out, e, size, err);
}

int glarex__cache_get(glarex__content **out, glarex__cache *c, const char *sha256,
                      int64_t size, const char *content_type, glarex__cache_fill_fn fill,
                      void *fill_payload, glarex_error *err)
{
    return cache_get(out, c, sha256, size, content_type, fill, fill_payload, 0, err);
}

int glarex__cache_get_verified(glarex__content **out, glarex__cache *c, const char *sha256,
                               int64_t size, const char *content_type,
                               glarex__cache_fill_fn fill, void *fill_payload,
                               glarex_error *err)
{
    return cache_get(out, c, sha256, size, content_type, fill, fill_payload, 1, err);
}

void glarex__cache_stats(glarex__cache_counters *out, glarex__cache *c)
{
    int_fast64_t disk;
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
#define LOAD(field) out->field = atomic_load_explicit(&c->field, memory_order_relaxed)
    LOAD(hits);
    LOAD(disk_hits);
    LOAD(misses);
    LOAD(downloads);
    LOAD(bytes_downloaded);
    LOAD(coalesced_waits);
    LOAD(evictions_memory);
    LOAD(evictions_disk);
    LOAD(corrupt);
    LOAD(memory_bytes);
    LOAD(memory_entries);
#undef LOAD
    disk = atomic_load_explicit(&c->disk_bytes, memory_order_relaxed);
    out->disk_bytes = disk > 0 ? (uint64_t)disk : 0;
}

/* }==================================================================== */

/* {====================================================================
 * Maintenance
 * ==================================================================== */

int glarex__cache_list(glarex__cache *c, glarex__cache_object_fn cb, void *payload,
                       glarex_error *err)
{
    char path[PATH_MAX];
    scan s;
    int rc;

    GLAREX_ASSERT_ARG(err, c);
    GLAREX_ASSERT_ARG(err, cb);
    if ((rc = scan_objects(&s, c, err)) < 0)
        return rc;
    scan_sort(&s, by_sha);
    for (size_t i = 0; i < s.n && rc == 0; i++) {
        glarex__cache_object obj;
        memcpy(obj.sha256, s.v[i].sha256, sizeof(obj.sha256));
        obj.size = s.v[i].size;
        obj.mtime = (int64_t)s.v[i].mtime.tv_sec;
        object_path(path, c, obj.sha256);
        obj.path = path;
        rc = cb(&obj, payload);
    }
    free(s.v);
    return rc;
}

int glarex__cache_verify(uint64_t *out, glarex__cache *c, glarex__cache_corrupt_fn cb,
                         void *payload, glarex_error *err)
{
    char path[PATH_MAX], actual[65];
    char *scratch = NULL;
    uint64_t bad = 0;
    scan s;
    int rc;

    if (out)
        *out = 0;
    GLAREX_ASSERT_ARG(err, c);
    pthread_mutex_lock(&c->disk_lock);
    if ((rc = scan_objects(&s, c, err)) < 0)
        goto unlock;
    scan_sort(&s, by_sha);
    scratch = malloc(IO_CHUNK);
    if (!scratch) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (size_t i = 0; i < s.n; i++) {
        glarex__cache_object obj;
        struct stat st;
        uint64_t n = 0;
        int fd, r;

        object_path(path, c, s.v[i].sha256);
        if ((rc = private_open(&fd, &st, path, O_RDONLY, err)) < 0)
            goto done;
        if (rc == 1) {
            rc = 0;
            continue; /* removed meanwhile */
        }
        r = hash_fd(actual, &n, fd, scratch, path, err);
        close(fd);
        if (r < 0) {
            rc = r;
            goto done;
        }
        if (strcmp(actual, s.v[i].sha256) == 0)
            continue;
        memcpy(obj.sha256, s.v[i].sha256, sizeof(obj.sha256));
        obj.size = n;
        obj.mtime = (int64_t)s.v[i].mtime.tv_sec;
        obj.path = path;
        if (cb)
            cb(&obj, actual, payload);
        if ((rc = remove_object(c, obj.sha256, 1, err)) < 0)
            goto done;
        rc = 0;
        atomic_fetch_sub(&c->disk_bytes, (int_fast64_t)s.v[i].size);
        COUNT(c, corrupt, 1);
        bad++;
    }
done:
    free(scratch);
    free(s.v);
unlock:
    pthread_mutex_unlock(&c->disk_lock);
    if (out)
        *out = bad;
    return rc;
}

int glarex__cache_gc(glarex__cache_gc_result *out, glarex__cache *c, glarex_error *err)
{
    glarex__cache_gc_result res;
    glarex__content *victims = NULL;
    int rc, r;

    memset(&res, 0, sizeof(res));
    if (out)
        *out = res;
    GLAREX_ASSERT_ARG(err, c);
    pthread_mutex_lock(&c->lock);
    evict_memory(c, &victims, c->opts.memory_budget);
    pthread_mutex_unlock(&c->lock);
    release_chain(victims);

    rc = enforce_disk(&res, c, 1, err);
    r = remove_stale_temps(&res.temp_removed, c, rc < 0 ? NULL : err);
    if (rc == 0)
        rc = r;
    if (out)
        *out = res;
    return rc;
}

int glarex__cache_purge(glarex__cache_gc_result *out, glarex__cache *c, glarex_error *err)
{
    char path[PATH_MAX];
    glarex__cache_gc_result res;
    glarex__content *victims = NULL;
    uint64_t kept = 0;
    scan s;
    int rc, r;

    memset(&res, 0, sizeof(res));
    if (out)
        *out = res;
    GLAREX_ASSERT_ARG(err, c);
    pthread_mutex_lock(&c->lock);
    evict_memory(c, &victims, 0);
    pthread_mutex_unlock(&c->lock);
    release_chain(victims);

    pthread_mutex_lock(&c->disk_lock);
    rc = scan_objects(&s, c, err);
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        r = remove_object(c, s.v[i].sha256, 0, err);
        if (r == 1) {
            res.objects_removed++;
            res.bytes_removed += s.v[i].size;
            COUNT(c, evictions_disk, 1);
        } else if (r == 0) {
            res.objects_kept_in_use++;
            kept += s.v[i].size;
        } else {
            rc = r;
        }
    }
    if (rc == 0) {
        /* Empty fan-out directories go too; publish() copes with another process
         * taking one. */
        pthread_rwlock_wrlock(&c->fanout_lock);
        for (int i = 0; i < 256; i++) {
            snprintf(path, sizeof(path), "%s/objects/%02x", c->dir, i);
            rmdir(path);
        }
        pthread_rwlock_unlock(&c->fanout_lock);
        atomic_store(&c->disk_bytes, (int_fast64_t)kept);
    }
    free(s.v);
    pthread_mutex_unlock(&c->disk_lock);

    r = remove_stale_temps(&res.temp_removed, c, rc < 0 ? NULL : err);
    if (rc == 0)
        rc = r;
    if (out)
        *out = res;
    return rc;
}

/* }==================================================================== */
