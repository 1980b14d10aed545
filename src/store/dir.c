/*
 * The local directory backend of glarex_store: Glare's artifact model kept as files,
 * so everything works on one machine with no server. docs/store.md describes the
 * layout and the guarantees; in short:
 *
 *   ROOT/glarex-store.json          {"format": "glarex-store", "version": 1,
 *                                    "store_id": "<uuid>"}: the id names this store
 *                                    (a directory made again is another store)
 *   ROOT/lock                       flock()ed around every metadata change
 *   ROOT/tmp/                       uploads and records being written; crash debris
 *   ROOT/<type>/index/<sha256>      "<id>\n": who holds (name, version); made by link()
 *   ROOT/<type>/<id>/artifact.json  {"format": 1, "artifact": {...}, "files": {...}}
 *   ROOT/<type>/<id>/blobs/<uuid>   blob content, named by a random id (never by key)
 *
 * Every file appears by rename() of a complete, fsynced temporary file, and the
 * directory is fsynced after, so readers (which take no lock) see the old or the new
 * state, never a partial one. Keys are only ever data inside artifact.json, so no key
 * can name a path: nothing escapes ROOT whatever the key holds.
 */
#include "store.h"

#include "digest.h"
#include "version.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_FORMAT 1
#define RECORD_FORMAT 1
#define MAX_FOLDER_SIZE GLAREX_LOCAL_MAX_DICT_SIZE /* Glare's FolderField default */
#define MAX_DICT_KEYS GLAREX_LOCAL_MAX_DICT_KEYS
#define MAX_KEY_LENGTH GLAREX_LOCAL_MAX_KEY_LENGTH
#define MAX_NAME_LENGTH GLAREX_LOCAL_MAX_NAME_LENGTH
#define MAX_DESCRIPTION_LENGTH GLAREX_LOCAL_MAX_DESCRIPTION_LENGTH
#define MAX_RECORD_SIZE (64u * 1024 * 1024)
#define OWNER "local"
#define CHUNK_SIZE (64 * 1024)
/* Debris in tmp/ older than this is from a crashed process and is removed at open. */
#define TMP_MAX_AGE_SECONDS (24 * 3600)

/* {====================================================================
 * Artifact types
 * ==================================================================== */

typedef struct blob_field {
    const char *name;
    int is_dict;              /* BlobDict ("Folder") rather than Blob */
    int required_on_activate; /* Glare's default for blobs is 1; dicts are never */
} blob_field;

typedef struct art_type {
    const char *name;
    const char *display_name;
    const blob_field *fields;
    size_t nfields;
} art_type;

static const blob_field workflow_fields[] = {
    {GLAREX_DEFAULT_WORKFLOW_FIELD, 0, 1},
    {GLAREX_DEFAULT_RESOURCES_FIELD, 1, 0},
};

static const art_type known_types[] = {
    {GLAREX_DEFAULT_TYPE, "Workflows", workflow_fields,
     sizeof(workflow_fields) / sizeof(workflow_fields[0])},
};

static const art_type *find_type(const char *name)
{
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
        if (strcmp(known_types[i].name, name) == 0)
            return &known_types[i];
    return NULL;
}

static const blob_field *find_field(const art_type *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return &t->fields[i];
    return NULL;
}

/* Base fields of every Glare artifact, as the API shows them. */
static const char *const system_fields[] = {"id",         "owner",        "created_at",
                                            "updated_at", "activated_at", NULL};
static const char *const sortable_fields[] = {
    "id",         "name",         "owner",      "status",  "created_at",
    "updated_at", "activated_at", "visibility", "version", "display_type_name",
    NULL};
static const char *const other_base_fields[] = {"description", "tags", "metadata", NULL};

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * Small helpers: errors, paths, random ids, time
 * ==================================================================== */

typedef struct dir_store {
    char *root;
    uint64_t max_blob_size; /* 0: no cap */
    atomic_int ready;  /* ROOT was checked to be a glarex store (see ensure_store) */
    char store_id[37]; /* from glarex-store.json, once ready */
    char absent_id[37]; /* names a store that did not exist when opened */
} dir_store;

/* An error as Glare would answer it, with its HTTP status (store.c). */
#define fail glarex__store_fail

static int fail_errno(glarex_error *err, int e, const char *action, const char *path)
{
    if (e == ENOMEM)
        return GLAREX_ENOMEM_SET(err);
    return glarex__error_set(err, GLAREX_EIO, "cannot %s '%s': %s", action, path,
                             strerror(e));
}

static char *xasprintf(const char *fmt, ...) GLAREX_PRINTF(1, 2);
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A path under the store root (new), or NULL when out of memory. */
static char *store_path(const dir_store *s, const char *fmt, ...) GLAREX_PRINTF(2, 3);
static char *store_path(const dir_store *s, const char *fmt, ...)
{
    va_list ap;
    char tail[512];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tail))
        return NULL; /* tails are ids and type names: never this long */
    return xasprintf("%s/%s", s->root, tail);
}

static int random_bytes(unsigned char *buf, size_t len, glarex_error *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ENOSYS) {
            /* Kernels before 3.17: the device gives the same bytes. */
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return fail_errno(err, errno, "open", "/dev/urandom");
            while (got < len) {
                n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    int e = n < 0 ? errno : EIO;
                    close(fd);
                    return fail_errno(err, e, "read", "/dev/urandom");
                }
                got += (size_t)n;
            }
            close(fd);
            break;
        }
        if (n < 0)
            return glarex__error_set(err, GLAREX_EIO, "cannot get random bytes: %s",
                                     strerror(errno));
        got += (size_t)n;
    }
    return 0;
}

/* A random (version 4) UUID in its canonical lower-case form. */
static int uuid4(char out[37], glarex_error *err)
{
    unsigned char b[16];
    int error;

    if ((error = random_bytes(b, sizeof(b), err)) < 0)
        return error;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

/* Exactly the lower-case 8-4-4-4-12 form this store creates. */
static int is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

/* Now as Glare prints it ("2026-11-24T16:55:39Z"), plus nanoseconds for ordering. */
static void now_stamp(char out[21], long long *ns)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (ns)
        *ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* }==================================================================== */

/* {====================================================================
 * Durable file operations
 * ==================================================================== */

static int fsync_dir(const char *dir, glarex_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(err, errno, "open directory", dir);
    /* Some file systems cannot fsync a directory; their renames are durable anyway. */
    if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        close(fd);
        return fail_errno(err, e, "fsync", dir);
    }
    close(fd);
    return 0;
}

/* fsyncs the directory holding `path`. */
static int fsync_parent(const char *path, glarex_error *err)
{
    char *dir = strdup(path);
    char *slash;
    int error;

    if (!dir)
        return GLAREX_ENOMEM_SET(err);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    error = fsync_dir(dir, err);
    free(dir);
    return error;
}

static int make_dir(const char *path, glarex_error *err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return fail_errno(err, errno, "create directory", path);
    return 0;
}

/* mkdir -p for the store root (absolute). */
static int make_dirs(const char *path, glarex_error *err)
{
    char *p = strdup(path);
    int error = 0;

    if (!p)
        return GLAREX_ENOMEM_SET(err);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            error = fail_errno(err, errno, "create directory", p);
            break;
        }
        *q = '/';
    }
    if (!error)
        error = make_dir(p, err);
    free(p);
    return error;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new temporary file in ROOT/tmp, opened for writing; its path is returned (new). */
static int open_temp(int *fd_out, char **path_out, const dir_store *s, const char *suffix,
                     glarex_error *err)
{
    char id[37];
    char *path;
    int fd, error;

    *fd_out = -1;
    *path_out = NULL;
    if ((error = uuid4(id, err)) < 0)
        return error;
    if (!(path = store_path(s, "tmp/%s%s", id, suffix)))
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = fail_errno(err, errno, "create", path);
        free(path);
        return error;
    }
    *fd_out = fd;
    *path_out = path;
    return 0;
}

/* fsyncs and closes a temporary file; on failure removes it. */
static int finish_temp(int fd, const char *path, glarex_error *err)
{
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return fail_errno(err, e, "fsync", path);
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(path);
        return fail_errno(err, e, "close", path);
    }
    return 0;
}

/* A complete, fsynced temporary file holding `len` bytes (path new). */
static int write_temp(char **path_out, const dir_store *s, const void *data, size_t len,
                      glarex_error *err)
{
    char *path = NULL;
    int fd, error;

    *path_out = NULL;
    if ((error = open_temp(&fd, &path, s, ".tmp", err)) < 0)
        return error;
    if (write_all(fd, data, len) < 0) {
        error = fail_errno(err, errno, "write", path);
        close(fd);
        unlink(path);
        free(path);
        return error;
    }
    if ((error = finish_temp(fd, path, err)) < 0) {
        free(path);
        return error;
    }
    *path_out = path;
    return 0;
}

/* Replaces `dest` by `len` bytes atomically: temp file, fsync, rename, fsync dir. */
static int write_atomic(const dir_store *s, const char *dest, const void *data,
                        size_t len, glarex_error *err)
{
    char *tmp = NULL;
    int error;

    if ((error = write_temp(&tmp, s, data, len, err)) < 0)
        return error;
    if (rename(tmp, dest) < 0) {
        error = fail_errno(err, errno, "rename into", dest);
        unlink(tmp);
        free(tmp);
        return error;
    }
    free(tmp);
    return fsync_parent(dest, err);
}

static int write_json_atomic(const dir_store *s, const char *dest, const json_t *j,
                             glarex_error *err)
{
    char *text = json_dumps(j, JSON_INDENT(1));
    int error;

    if (!text)
        return GLAREX_ENOMEM_SET(err);
    error = write_atomic(s, dest, text, strlen(text), err);
    free(text);
    return error;
}

/* rm -rf, for trees this store made (tmp debris, deleted artifacts). Best effort. */
static void remove_tree_at(int parent, const char *name, int depth)
{
    int fd;
    DIR *d;
    struct dirent *e;

    if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
        return;
    if (depth > 8)
        return;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        remove_tree_at(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path, 0);
}

/* The store-wide lock, held around every read-modify-write of metadata. A fresh
 * open file description each time, so processes (and forks sharing a handle) exclude
 * each other; the kernel drops it if the holder dies. */
static int lock_store(int *fd_out, const dir_store *s, glarex_error *err)
{
    char *path = store_path(s, "lock");
    int fd, error = 0;

    *fd_out = -1;
    if (!path)
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = fail_errno(err, errno, "open", path);
        goto done;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            error = fail_errno(err, errno, "lock", path);
            close(fd);
            goto done;
        }
    }
    *fd_out = fd;
done:
    free(path);
    return error;
}

static void unlock_store(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* }==================================================================== */

/* {====================================================================
 * Artifact records
 * ==================================================================== */

static int not_found(glarex_error *err, const char *what, const char *id)
{
    return fail(err, GLAREX_ENOTFOUND, 404, "%s: Artifact with id=%s not found.", what,
                id);
}

static int type_not_found(glarex_error *err, const char *what, const char *type_name)
{
    return fail(err, GLAREX_ENOTFOUND, 404,
                "%s: Glare type with name '%s' was not found.", what, type_name);
}

/* Reads ROOT/<type>/<id>/artifact.json (new). GLAREX_ENOTFOUND when there is none. */
static int read_record(json_t **out, const dir_store *s, const char *what,
                       const art_type *t, const char *id, glarex_error *err)
{
    char *path = NULL;
    json_t *rec = NULL, *af, *files;
    json_error_t jerr;
    struct stat st;
    int fd = -1, error = 0;

    *out = NULL;
    if (!is_uuid(id))
        return not_found(err, what, id);
    if (!(path = store_path(s, "%s/%s/artifact.json", t->name, id)))
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = (errno == ENOENT || errno == ENOTDIR)
                    ? not_found(err, what, id)
                    : fail_errno(err, errno, "open", path);
        goto done;
    }
    if (fstat(fd, &st) < 0) {
        error = fail_errno(err, errno, "stat", path);
        goto done;
    }
    if (st.st_size > (off_t)MAX_RECORD_SIZE) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "artifact record '%s' is larger than %u bytes", path,
                                  MAX_RECORD_SIZE);
        goto done;
    }
    rec = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "corrupt artifact record '%s': %s (line %d)", path,
                                  jerr.text, jerr.line);
        goto done;
    }
    af = json_object_get(rec, "artifact");
    files = json_object_get(rec, "files");
    if (json_integer_value(json_object_get(rec, "format")) != RECORD_FORMAT ||
        !json_is_object(af) || !json_is_object(files) ||
        !json_is_string(json_object_get(af, "name")) ||
        !json_is_string(json_object_get(af, "version")) ||
        !json_is_string(json_object_get(af, "status")) ||
        strcmp(str_or_empty(json_string_value(json_object_get(af, "id"))), id) != 0) {
        error =
            glarex__error_set(err, GLAREX_EIO,
                              "corrupt artifact record '%s': not a format %d record of "
                              "artifact %s",
                              path, RECORD_FORMAT, id);
        goto done;
    }
    *out = rec;
    rec = NULL;
done:
    if (fd >= 0)
        close(fd);
    json_decref(rec);
    free(path);
    return error;
}

static json_t *rec_artifact(const json_t *rec)
{
    return json_object_get(rec, "artifact");
}

static const char *af_str(const json_t *af, const char *field)
{
    return json_string_value(json_object_get(af, field));
}

/* A new reference to the artifact JSON of a record. */
static json_t *artifact_out(const json_t *rec)
{
    return json_deep_copy(rec_artifact(rec));
}

/* }==================================================================== */

/* {====================================================================
 * Open and free
 * ==================================================================== */

/* Removes tmp/ debris of processes that died mid-write long ago. */
static void sweep_tmp(const dir_store *s)
{
    char *tmp = store_path(s, "tmp");
    DIR *d;
    struct dirent *e;
    time_t now = time(NULL);

    if (!tmp)
        return;
    d = opendir(tmp);
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - st.st_mtime > TMP_MAX_AGE_SECONDS)
            remove_tree_at(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
    free(tmp);
}

/* Nonzero when the directory holds something a store being initialised (perhaps by
 * another process right now) would not: anything but tmp/ and lock. */
static int dir_has_foreign_entries(const char *path)
{
    static const char *const ours[] = {".", "..", "tmp", "lock", NULL};
    DIR *d = opendir(path);
    struct dirent *e;
    int found = 0;

    while (d && (e = readdir(d)) != NULL)
        if (!in_list(ours, e->d_name)) {
            found = 1;
            break;
        }
    if (d)
        closedir(d);
    return found;
}

static int not_a_store(const dir_store *s, glarex_error *err)
{
    return glarex__error_set(err, GLAREX_EINVALID,
                             "'%s' is not a glarex store: it has no glarex-store.json "
                             "and is not empty",
                             s->root);
}

/* Makes sure ROOT is a glarex store: an empty (or new) directory becomes one; a
 * directory with other contents is refused, so a typo cannot litter $HOME. */
/* Gives a store made before store ids existed its id, under the store lock. */
static int add_store_id(json_t *m, const dir_store *s, const char *marker, glarex_error *err)
{
    json_t *now = NULL;
    char id[37];
    int fd, error;

    if ((error = lock_store(&fd, s, err)) < 0)
        return error;
    now = json_load_file(marker, JSON_REJECT_DUPLICATES, NULL);
    const char *had = json_string_value(json_object_get(now, "store_id"));
    if (had && is_uuid(had))
        error = json_object_set_new(m, "store_id", json_string(had)) < 0 ? GLAREX_ENOMEM : 0;
    else if ((error = uuid4(id, err)) == 0) {
        if (json_object_set_new(m, "store_id", json_string(id)) < 0)
            error = GLAREX_ENOMEM_SET(err);
        else
            error = write_json_atomic(s, marker, m, err);
    }
    json_decref(now);
    unlock_store(fd);
    return error;
}

static int init_root(dir_store *s, glarex_error *err)
{
    char *marker = store_path(s, "glarex-store.json");
    char *tmpdir = store_path(s, "tmp");
    char *tmp = NULL;
    json_t *m = NULL;
    json_error_t jerr;
    int error = 0;

    if (!marker || !tmpdir) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = make_dirs(s->root, err)) < 0)
        goto done;
    if (access(marker, F_OK) < 0) {
        char text[128], id[37];
        if (errno != ENOENT) {
            error = fail_errno(err, errno, "access", marker);
            goto done;
        }
        if (dir_has_foreign_entries(s->root)) {
            error = not_a_store(s, err);
            goto done;
        }
        if ((error = uuid4(id, err)) < 0)
            goto done;
        snprintf(text, sizeof(text),
                 "{\"format\": \"glarex-store\", \"version\": 1, \"store_id\": \"%s\"}\n", id);
        if ((error = make_dir(tmpdir, err)) < 0 ||
            (error = write_temp(&tmp, s, text, strlen(text), err)) < 0)
            goto done;
        /* link() never replaces: two processes initialising at once both succeed. */
        if (link(tmp, marker) < 0 && errno != EEXIST) {
            error = fail_errno(err, errno, "create", marker);
            goto done;
        }
        if ((error = fsync_dir(s->root, err)) < 0)
            goto done;
    }
    m = json_load_file(marker, JSON_REJECT_DUPLICATES, &jerr);
    if (!m || !json_is_object(m)) {
        error = glarex__error_set(err, GLAREX_EIO, "corrupt store marker '%s': %s",
                                  marker, m ? "not an object" : jerr.text);
        goto done;
    }
    if (strcmp(str_or_empty(json_string_value(json_object_get(m, "format"))),
               "glarex-store") != 0 ||
        json_integer_value(json_object_get(m, "version")) != STORE_FORMAT) {
        error = glarex__error_set(
            err, GLAREX_EUNSUPPORTED,
            "store '%s' has format version %lld; this glarex reads "
            "version %d",
            s->root, (long long)json_integer_value(json_object_get(m, "version")),
            STORE_FORMAT);
        goto done;
    }
    if ((error = make_dir(tmpdir, err)) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(m, "store_id"));
    if ((!id || !is_uuid(id)) && (error = add_store_id(m, s, marker, err)) < 0)
        goto done;
    glarex__strlcpy(s->store_id, json_string_value(json_object_get(m, "store_id")),
                    sizeof(s->store_id));
done:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    json_decref(m);
    free(marker);
    free(tmpdir);
    return error;
}

static void dir_free(void *impl)
{
    dir_store *s = impl;
    if (!s)
        return;
    free(s->root);
    free(s);
}

/* }==================================================================== */

/* {====================================================================
 * Create
 * ==================================================================== */

/* Glare wraps every field coercion error as "Type: T. Field: F. Exception: ...". */
static int field_error(glarex_error *err, const char *what, const art_type *t,
                       const char *field, const char *fmt, ...) GLAREX_PRINTF(5, 6);
static int field_error(glarex_error *err, const char *what, const art_type *t,
                       const char *field, const char *fmt, ...)
{
    char text[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return fail(err, GLAREX_EINVALID, 400, "%s: Type: %s. Field: %s. Exception: %s", what,
                t->name, field, text);
}

/* A string field's value as oslo's StringField coerces it (str, int and float are
 * accepted, as Python's str() shows them), new; NULL when it is not a string. */
static char *coerce_string(const json_t *v)
{
    char num[64];

    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return strdup(num);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Python prints 1.0 as "1.0", not "1". */
        snprintf(num, sizeof(num), "%.17g", d);
        if (strtod(num, NULL) == d) {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(num, sizeof(num), "%.*g", prec, d);
                if (strtod(num, NULL) == d)
                    break;
            }
        }
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0");
        return strdup(num);
    }
    return NULL;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "dict";
    case JSON_ARRAY:
        return "list";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "NoneType";
    default:
        return "str";
    }
}

/* Coerces a string field value, checking its length (NUL bytes are refused). */
static int string_field(char **out, const json_t *v, size_t min, size_t max,
                        const char *what, const art_type *t, const char *field,
                        glarex_error *err)
{
    char *s;
    size_t len;

    *out = NULL;
    if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
        return field_error(err, what, t, field,
                           "A string is required in field %s, not a str "
                           "holding NUL",
                           field);
    if (!(s = coerce_string(v))) {
        if (!json_is_string(v) && !json_is_number(v))
            return field_error(err, what, t, field,
                               "A string is required in field %s, not a %s", field,
                               json_type_name(v));
        return GLAREX_ENOMEM_SET(err);
    }
    len = strlen(s);
    if (len > max || len < min) {
        free(s);
        return field_error(err, what, t, field,
                           "String length must be %s than  %zu. Current size: %zu",
                           len > max ? "less" : "more", len > max ? max : min, len);
    }
    *out = s;
    return 0;
}

static int cmp_json_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

/* Normalises a version as Glare does (Version.coerce of str(value)), with the
 * messages Glare gives. `out` has GLAREX__VERSION_NORMAL_SIZE(strlen(text)) bytes. */
static int normalize_version(char *out, size_t size, const char *what, const art_type *t,
                             const char *text, glarex_error *err)
{
    glarex__version_status st = glarex__version_normalize(out, size, text, strlen(text),
                                                          GLAREX__VERSION_COERCE, NULL);

    switch (st) {
    case GLAREX__VERSION_OK:
        return 0;
    case GLAREX__VERSION_NO_NUMBER:
        return field_error(err, what, t, "version",
                           "Version string lacks a numerical component: '%s'", text);
    case GLAREX__VERSION_TOO_LARGE:
        /* Glare answers these two with a 500 (InvalidVersion, an upstream bug). */
        return fail(err, GLAREX_EINVALID, 400,
                    "%s: Version component is too large (%d max): '%s'", what,
                    GLAREX__VERSION_MAX_COMPONENT, text);
    case GLAREX__VERSION_PRERELEASE_TOO_LONG:
        return fail(
            err, GLAREX_EINVALID, 400,
            "%s: Prerelease numeric component is too large (%d characters max): '%s'",
            what, GLAREX__VERSION_MAX_PRERELEASE_DIGITS, text);
    default:
        return field_error(err, what, t, "version", "Invalid version string: '%s' (%s)",
                           text, glarex__version_status_text(st));
    }
}

/* The normalised version of a create request (new text). */
static int request_version(char **out, const json_t *v, const char *what,
                           const art_type *t, glarex_error *err)
{
    char *text = NULL, *norm = NULL;
    size_t size;
    int error;

    *out = NULL;
    if (!v || json_is_null(v))
        text = strdup("0.0.0");
    else if (json_is_boolean(v))
        text = strdup(json_is_true(v) ? "True" : "False"); /* Python's str() */
    else if (json_is_string(v) || json_is_number(v))
        text = coerce_string(v);
    else
        return field_error(err, what, t, "version",
                           "A string is required in field version, "
                           "not a %s",
                           json_type_name(v));
    if (!text)
        return GLAREX_ENOMEM_SET(err);
    size = GLAREX__VERSION_NORMAL_SIZE(strlen(text));
    if (!(norm = malloc(size))) {
        free(text);
        return GLAREX_ENOMEM_SET(err);
    }
    if ((error = normalize_version(norm, size, what, t, text, err)) < 0) {
        free(norm);
        free(text);
        return error;
    }
    free(text);
    *out = norm;
    return 0;
}

/* Checks one field of a create request and puts its value into `af`. */
static int create_field(json_t *af, const art_type *t, const char *what, const char *key,
                        json_t *value, glarex_error *err)
{
    char *s = NULL;
    int error;

    if (strcmp(key, "name") == 0 || strcmp(key, "version") == 0)
        return 0; /* handled by the caller */
    if (find_field(t, key))
        return fail(
            err, GLAREX_EINVALID, 400,
            "%s: Cannot add blob with this request. Use special Blob API for that.",
            what);
    if (in_list(system_fields, key))
        return fail(err, GLAREX_EFORBIDDEN, 403,
                    "%s: Forbidden to specify system field %s. It is not available for "
                    "modifying by users.",
                    what, key);
    if (strcmp(key, "description") == 0) {
        if (json_is_null(value))
            s = strdup("");
        else if ((error = string_field(&s, value, 0, MAX_DESCRIPTION_LENGTH, what, t, key,
                                       err)) < 0)
            return error;
        if (!s || json_object_set_new(af, key, json_string(s)) < 0) {
            free(s);
            return GLAREX_ENOMEM_SET(err);
        }
        free(s);
        return 0;
    }
    if (strcmp(key, "tags") == 0) {
        json_t *tags, *tag;
        json_t **v = NULL;
        size_t i, n = 0;

        if (json_is_null(value))
            return json_object_set_new(af, key, json_array()) < 0 ? GLAREX_ENOMEM_SET(err)
                                                                  : 0;
        if (!json_is_array(value))
            return field_error(err, what, t, key,
                               "A list is required in field tags, not a %s",
                               json_type_name(value));
        if (!(tags = json_array()))
            return GLAREX_ENOMEM_SET(err);
        json_array_foreach(value, i, tag)
        {
            json_t *seen;
            size_t j;
            int dup = 0;
            if ((error = string_field(&s, tag, 0, MAX_NAME_LENGTH, what, t, key, err)) <
                0) {
                json_decref(tags);
                return error;
            }
            json_array_foreach(tags, j, seen)
            {
                dup |= strcmp(json_string_value(seen), s) == 0;
            }
            if (!*s || strpbrk(s, ",/")) {
                /* What Glare's ForbiddenChars and MinStrLen really answer. */
                error = field_error(
                    err, what, t, key, "%s",
                    *s ? "must be real number, not str"
                       : "String length must be more than  1. Current size: 0");
                free(s);
                json_decref(tags);
                return error;
            }
            if (!dup && json_array_append_new(tags, json_string(s)) < 0) {
                free(s);
                json_decref(tags);
                return GLAREX_ENOMEM_SET(err);
            }
            free(s);
            s = NULL;
        }
        if (json_array_size(tags) > 255) {
            error =
                field_error(err, what, t, key,
                            "Number of items must be less than  255. Current size: %zu",
                            json_array_size(tags));
            json_decref(tags);
            return error;
        }
        /* A set in Glare: the order is not kept; sorted, as the test server shows it. */
        n = json_array_size(tags);
        if (n > 1) {
            if (!(v = malloc(n * sizeof(*v)))) {
                json_decref(tags);
                return GLAREX_ENOMEM_SET(err);
            }
            for (i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(tags, i));
            qsort(v, n, sizeof(*v), cmp_json_strings);
            json_array_clear(tags);
            for (i = 0; i < n; i++)
                json_array_append_new(tags, v[i]);
            free(v);
        }
        return json_object_set_new(af, key, tags) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    }
    if (strcmp(key, "metadata") == 0) {
        json_t *meta, *v;
        const char *k;

        if (json_is_null(value))
            return json_object_set_new(af, key, json_object()) < 0
                       ? GLAREX_ENOMEM_SET(err)
                       : 0;
        if (!json_is_object(value))
            return field_error(err, what, t, key,
                               "A dict is required in field metadata, not a %s",
                               json_type_name(value));
        if (json_object_size(value) > 255)
            return field_error(
                err, what, t, key,
                "Number of items must be less than  255. Current size: %zu",
                json_object_size(value));
        if (!(meta = json_object()))
            return GLAREX_ENOMEM_SET(err);
        json_object_foreach(value, k, v)
        {
            if (strlen(k) > 255 || !*k) {
                json_decref(meta);
                return field_error(err, what, t, key, "Dict key length %s must be %s.", k,
                                   *k ? "less than 255" : "bigger than 1");
            }
            if ((error = string_field(&s, v, 1, 255, what, t, key, err)) < 0) {
                json_decref(meta);
                return error;
            }
            if (json_object_set_new(meta, k, json_string(s)) < 0) {
                free(s);
                json_decref(meta);
                return GLAREX_ENOMEM_SET(err);
            }
            free(s);
            s = NULL;
        }
        return json_object_set_new(af, key, meta) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    }
    return fail(err, GLAREX_EINVALID, 400, "%s: Cannot add new field '%s' to artifact.",
                what, key);
}

/* The artifact JSON of a new draft, in Glare's field order. */
static int new_artifact(json_t **out, const art_type *t, const char *what,
                        const json_t *fields, const char *id, const char *name,
                        const char *version, const char *stamp, glarex_error *err)
{
    json_t *af = json_object();
    const char *key;
    json_t *value;
    int error = 0, ok = 1;

    *out = NULL;
    if (!af)
        return GLAREX_ENOMEM_SET(err);
    for (size_t i = 0; i < t->nfields; i++)
        ok &=
            json_object_set_new(af, t->fields[i].name,
                                t->fields[i].is_dict ? json_object() : json_null()) == 0;
    ok &= json_object_set_new(af, "id", json_string(id)) == 0;
    ok &= json_object_set_new(af, "name", json_string(name)) == 0;
    ok &= json_object_set_new(af, "owner", json_string(OWNER)) == 0;
    ok &= json_object_set_new(af, "status", json_string("drafted")) == 0;
    ok &= json_object_set_new(af, "created_at", json_string(stamp)) == 0;
    ok &= json_object_set_new(af, "updated_at", json_string(stamp)) == 0;
    ok &= json_object_set_new(af, "activated_at", json_null()) == 0;
    ok &= json_object_set_new(af, "description", json_string("")) == 0;
    ok &= json_object_set_new(af, "tags", json_array()) == 0;
    ok &= json_object_set_new(af, "metadata", json_object()) == 0;
    ok &= json_object_set_new(af, "visibility", json_string("private")) == 0;
    ok &= json_object_set_new(af, "version", json_string(version)) == 0;
    ok &= json_object_set_new(af, "display_type_name", json_string(t->display_name)) == 0;
    if (!ok) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    json_object_foreach((json_t *)fields, key, value)
    {
        if ((error = create_field(af, t, what, key, value, err)) < 0)
            goto done;
    }
    *out = af;
    af = NULL;
done:
    json_decref(af);
    return error;
}

/* ROOT/<type>/index/<sha256 of name NUL version> */
static char *index_path(const dir_store *s, const art_type *t, const char *name,
                        const char *version)
{
    size_t nl = strlen(name), vl = strlen(version);
    char *key = malloc(nl + vl + 1);
    char sha[65], md5[33];
    int rc;

    if (!key)
        return NULL;
    memcpy(key, name, nl);
    key[nl] = '\0';
    memcpy(key + nl + 1, version, vl);
    rc = glarex__digest_buffer(key, nl + 1 + vl, sha, md5);
    free(key);
    return rc < 0 ? NULL : store_path(s, "%s/index/%s", t->name, sha);
}

/* The id an index entry names, or "" when there is no entry. */
static int read_index(char id[37], const char *path, glarex_error *err)
{
    char buf[64];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    id[0] = '\0';
    if (fd < 0)
        return errno == ENOENT ? 0 : fail_errno(err, errno, "open", path);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return fail_errno(err, errno, "read", path);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (is_uuid(buf))
        memcpy(id, buf, 37);
    else
        memcpy(id, "00000000-0000-0000-0000-000000000000", 37); /* unreadable: stale */
    return 0;
}

static int dir_create(json_t **out, void *impl, const char *type_name,
                      const json_t *fields, glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = find_type(type_name);
    json_t *af = NULL, *rec = NULL, *holder = NULL;
    const json_t *jname;
    char what[320], id[37], holder_id[37], stamp[21];
    char *name = NULL, *version = NULL;
    char *idx = NULL, *idx_tmp = NULL, *stage = NULL, *stage_blobs = NULL,
         *stage_json = NULL, *type_dir = NULL, *index_dir = NULL, *final_dir = NULL;
    long long ns;
    int lockfd = -1, error = 0, index_made = 0;

    snprintf(what, sizeof(what), "create %s", type_name);
    if (!json_is_object(fields))
        return fail(err, GLAREX_EINVALID, 400, "%s: Dictionary expected as body value",
                    what);
    /* Glare's order of checks: name, forbidden fields, type, then values. */
    jname = json_object_get(fields, "name");
    if (!jname || json_is_null(jname) || json_is_false(jname) ||
        (json_is_string(jname) && json_string_length(jname) == 0))
        return fail(err, GLAREX_EINVALID, 400, "%s: Name must be specified at creation.",
                    what);
    {
        static const char *const not_at_create[] = {"visibility", "status",
                                                    "display_type_name", NULL};
        for (size_t i = 0; not_at_create[i]; i++)
            if (json_object_get(fields, not_at_create[i]))
                return fail(err, GLAREX_EINVALID, 400,
                            "%s: %s is not allowed in a request at creation.", what,
                            not_at_create[i]);
    }
    if (!t)
        return type_not_found(err, what, type_name);
    if ((error = string_field(&name, jname, 1, MAX_NAME_LENGTH, what, t, "name", err)) <
        0)
        return error;
    snprintf(what, sizeof(what), "create %s '%s'", type_name, name);
    if ((error = request_version(&version, json_object_get(fields, "version"), what, t,
                                 err)) < 0)
        goto done;

    if ((error = uuid4(id, err)) < 0)
        goto done;
    now_stamp(stamp, &ns);
    if ((error = new_artifact(&af, t, what, fields, id, name, version, stamp, err)) < 0)
        goto done;
    rec = json_pack("{s:i, s:O, s:{}, s:I}", "format", RECORD_FORMAT, "artifact", af,
                    "files", "created_ns", (json_int_t)ns);
    for (size_t i = 0; rec && i < t->nfields; i++)
        if (t->fields[i].is_dict &&
            json_object_set_new(json_object_get(rec, "files"), t->fields[i].name,
                                json_object()) < 0) {
            json_decref(rec);
            rec = NULL;
        }
    idx = index_path(s, t, name, version);
    stage = store_path(s, "tmp/%s.new", id);
    stage_blobs = store_path(s, "tmp/%s.new/blobs", id);
    stage_json = store_path(s, "tmp/%s.new/artifact.json", id);
    type_dir = store_path(s, "%s", t->name);
    index_dir = store_path(s, "%s/index", t->name);
    final_dir = store_path(s, "%s/%s", t->name, id);
    if (!rec || !idx || !stage || !stage_blobs || !stage_json || !type_dir ||
        !index_dir || !final_dir) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }

    /* Stage the artifact's directory completely before taking the lock. */
    if ((error = make_dir(stage, err)) < 0 || (error = make_dir(stage_blobs, err)) < 0 ||
        (error = write_json_atomic(s, stage_json, rec, err)) < 0 ||
        (error = fsync_dir(stage, err)) < 0)
        goto done;

    if ((error = lock_store(&lockfd, s, err)) < 0)
        goto done;
    if ((error = make_dir(type_dir, err)) < 0 || (error = make_dir(index_dir, err)) < 0)
        goto done;
    /* Uniqueness of (type, name, version): the index entry names its holder. An entry
     * whose artifact is gone (a crash between the two renames below) is stale. */
    if ((error = read_index(holder_id, idx, err)) < 0)
        goto done;
    if (holder_id[0]) {
        glarex_error holder_err;
        int e = read_record(&holder, s, what, t, holder_id, &holder_err);
        if (e < 0 && e != GLAREX_ENOTFOUND) {
            if (err)
                *err = holder_err;
            error = e;
            goto done;
        }
        if (e == 0 && strcmp(af_str(rec_artifact(holder), "name"), name) == 0 &&
            strcmp(af_str(rec_artifact(holder), "version"), version) == 0) {
            error =
                fail(err, GLAREX_ECONFLICT, 409,
                     "%s: Artifact with this name and version is already exists for this "
                     "scope.",
                     what);
            goto done;
        }
    }
    {
        char line[38];
        snprintf(line, sizeof(line), "%s\n", id);
        if ((error = write_temp(&idx_tmp, s, line, strlen(line), err)) < 0)
            goto done;
    }
    /* link() is atomic and never replaces, so even without a working lock only one
     * creator can win; a stale entry is replaced under the lock. */
    if (holder_id[0] ? rename(idx_tmp, idx) < 0 : link(idx_tmp, idx) < 0) {
        if (errno == EEXIST)
            error = fail(err, GLAREX_ECONFLICT, 409,
                         "%s: Artifact with this name and version is already exists for "
                         "this scope.",
                         what);
        else
            error = fail_errno(err, errno, "create", idx);
        goto done;
    }
    index_made = 1;
    if ((error = fsync_dir(index_dir, err)) < 0)
        goto done;
    if (rename(stage, final_dir) < 0) {
        error = fail_errno(err, errno, "rename into", final_dir);
        goto done;
    }
    index_made = 0; /* the artifact now exists: keep its index entry */
    if ((error = fsync_dir(type_dir, err)) < 0)
        goto done;

    *out = af;
    af = NULL;
done:
    if (index_made) {
        unlink(idx);
        fsync_dir(index_dir, NULL);
    }
    unlock_store(lockfd);
    if (idx_tmp) {
        unlink(idx_tmp);
        free(idx_tmp);
    }
    if (error < 0 && stage)
        remove_tree(stage);
    json_decref(af);
    json_decref(rec);
    json_decref(holder);
    free(name);
    free(version);
    free(idx);
    free(stage);
    free(stage_blobs);
    free(stage_json);
    free(type_dir);
    free(index_dir);
    free(final_dir);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Get, activate, delete
 * ==================================================================== */

static int dir_get(json_t **out, void *impl, const char *type_name, const char *id,
                   glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = find_type(type_name);
    json_t *rec = NULL;
    char what[128];
    int error;

    snprintf(what, sizeof(what), "get %s/%.40s", type_name, id);
    if (!t)
        return type_not_found(err, what, type_name);
    if ((error = read_record(&rec, s, what, t, id, err)) < 0)
        return error;
    *out = artifact_out(rec);
    json_decref(rec);
    return *out ? 0 : GLAREX_ENOMEM_SET(err);
}

static int dir_activate(json_t **out, void *impl, const char *type_name, const char *id,
                        glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = find_type(type_name);
    json_t *rec = NULL, *af;
    char what[128], stamp[21];
    char *path = NULL;
    const char *status;
    int lockfd = -1, error = 0;

    snprintf(what, sizeof(what), "activate %s/%.40s", type_name, id);
    if (!t)
        return type_not_found(err, what, type_name);
    if ((error = lock_store(&lockfd, s, err)) < 0)
        return error;
    if ((error = read_record(&rec, s, what, t, id, err)) < 0)
        goto done;
    af = rec_artifact(rec);
    status = af_str(af, "status");
    if (strcmp(status, "drafted") == 0) {
        for (size_t i = 0; i < t->nfields; i++) {
            if (t->fields[i].required_on_activate &&
                json_is_null(json_object_get(af, t->fields[i].name))) {
                error = fail(err, GLAREX_EFORBIDDEN, 403,
                             "%s: '%s' field value must be set before activation.", what,
                             t->fields[i].name);
                goto done;
            }
        }
        now_stamp(stamp, NULL);
        if (json_object_set_new(af, "status", json_string("active")) < 0 ||
            json_object_set_new(af, "updated_at", json_string(stamp)) < 0 ||
            json_object_set_new(af, "activated_at", json_string(stamp)) < 0 ||
            !(path = store_path(s, "%s/%s/artifact.json", t->name, id))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        if ((error = write_json_atomic(s, path, rec, err)) < 0)
            goto done;
    } else if (strcmp(status, "active") != 0) {
        /* Glare: a patch that changes nothing is a 200; others are not ours to make. */
        error = fail(
            err, GLAREX_EFORBIDDEN, 403,
            "%s: Forbidden to change fields if artifact is not active or drafted.", what);
        goto done;
    }
    if (!(*out = artifact_out(rec)))
        error = GLAREX_ENOMEM_SET(err);
done:
    unlock_store(lockfd);
    json_decref(rec);
    free(path);
    return error;
}

static int dir_remove(void *impl, const char *type_name, const char *id,
                      glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = find_type(type_name);
    json_t *rec = NULL;
    char what[128], trash_id[37], holder[37];
    char *dir = NULL, *trash = NULL, *type_dir = NULL, *idx = NULL, *index_dir = NULL;
    int lockfd = -1, error = 0;

    snprintf(what, sizeof(what), "delete %s/%.40s", type_name, id);
    if (!t)
        return type_not_found(err, what, type_name);
    if ((error = uuid4(trash_id, err)) < 0)
        return error;
    if ((error = lock_store(&lockfd, s, err)) < 0)
        return error;
    if ((error = read_record(&rec, s, what, t, id, err)) < 0)
        goto done;
    dir = store_path(s, "%s/%s", t->name, id);
    trash = store_path(s, "tmp/%s.deleted-%s", id, trash_id);
    type_dir = store_path(s, "%s", t->name);
    index_dir = store_path(s, "%s/index", t->name);
    idx = index_path(s, t, af_str(rec_artifact(rec), "name"),
                     af_str(rec_artifact(rec), "version"));
    if (!dir || !trash || !type_dir || !index_dir || !idx) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    /* One rename makes the artifact and its blobs disappear together. */
    if (rename(dir, trash) < 0) {
        error = fail_errno(err, errno, "rename", dir);
        goto done;
    }
    if ((error = fsync_dir(type_dir, err)) < 0)
        goto done;
    /* The artifact is gone: freeing its name and version is best effort, since an
     * entry naming a missing artifact counts as free anyway. */
    if (read_index(holder, idx, NULL) == 0 && strcmp(holder, id) == 0 && unlink(idx) == 0)
        fsync_dir(index_dir, NULL);
done:
    unlock_store(lockfd);
    if (trash && access(trash, F_OK) == 0)
        remove_tree(trash);
    json_decref(rec);
    free(dir);
    free(trash);
    free(type_dir);
    free(index_dir);
    free(idx);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Blobs
 * ==================================================================== */

/* What a blob_loc names, checked against the type as Glare checks it. */
typedef struct blob_ref {
    const art_type *type;
    const blob_field *field;
    const char *field_name; /* as the caller gave it */
    const char *key;        /* NULL for a plain Blob */
    char name[300];         /* "workflow" or "resources[key]", as Glare names blobs */
    char what[400];         /* "upload workflows/<id>/resources/<key>" */
} blob_ref;

static int resolve_loc(blob_ref *r, const char *verb, const glarex_blob_loc *loc,
                       glarex_error *err)
{
    const char *key = loc->key && *loc->key ? loc->key : NULL;

    memset(r, 0, sizeof(*r));
    /* Long keys are cut here: Glare's own message often repeats the key in full. */
    snprintf(r->what, sizeof(r->what), "%s %.40s/%.40s/%.40s%s%.80s%s", verb,
             loc->type_name, loc->id, loc->field, key ? "/" : "", key ? key : "",
             key && strlen(key) > 80 ? "..." : "");
    if (key)
        snprintf(r->name, sizeof(r->name), "%s[%s]", loc->field, key);
    else
        snprintf(r->name, sizeof(r->name), "%s", loc->field);
    r->type = find_type(loc->type_name);
    if (!r->type)
        return type_not_found(err, r->what, loc->type_name);
    r->field = find_field(r->type, loc->field);
    r->field_name = loc->field;
    r->key = key;
    return 0;
}

/* Checks the field and key once the artifact is known to exist (Glare's order). */
static int check_blob_field(const blob_ref *r, glarex_error *err)
{
    if (r->key) {
        if (!r->field || !r->field->is_dict)
            return fail(err, GLAREX_EINVALID, 400, "%s: %s is not a blob dict", r->what,
                        r->field_name);
    } else if (!r->field || r->field->is_dict) {
        return fail(err, GLAREX_EINVALID, 400, "%s: %s is not a blob", r->what,
                    r->field_name);
    }
    return 0;
}

/* The blob JSON (borrowed) at the location, or NULL when unset. */
static json_t *blob_json(const json_t *rec, const blob_ref *r)
{
    json_t *v = json_object_get(rec_artifact(rec), r->field->name);
    if (r->key)
        v = json_object_get(v, r->key);
    return json_is_object(v) ? v : NULL;
}

/* The blob file id recorded for the location, or NULL. */
static const char *blob_file(const json_t *rec, const blob_ref *r)
{
    json_t *v = json_object_get(json_object_get(rec, "files"), r->field->name);
    if (r->key)
        v = json_object_get(v, r->key);
    return json_string_value(v);
}

static int check_mutable(const json_t *rec, const blob_ref *r, glarex_error *err)
{
    const char *status = af_str(rec_artifact(rec), "status");
    if (strcmp(status, "active") == 0)
        return fail(err, GLAREX_EFORBIDDEN, 403,
                    "%s: Forbidden to change field '%s' after activation.", r->what,
                    r->field->name);
    if (strcmp(status, "drafted") != 0)
        return fail(
            err, GLAREX_EFORBIDDEN, 403,
            "%s: Forbidden to change fields if artifact is not active or drafted.",
            r->what);
    return 0;
}

/* The most the blob may hold: max_blob_size, and for a dict key also what is left of
 * the dict's total (Glare counts the key's current size as used too). Without a cap,
 * what the disk holds. */
static int allowed_space(uint64_t *out, const dir_store *s, const json_t *rec,
                         const blob_ref *r, glarex_error *err)
{
    uint64_t allowed = s->max_blob_size ? s->max_blob_size : UINT64_MAX;

    if (r->key) {
        json_t *dict = json_object_get(rec_artifact(rec), r->field->name);
        uint64_t used = 0;
        const char *k;
        json_t *b;
        json_object_foreach(dict, k, b)
        {
            used += (uint64_t)json_integer_value(json_object_get(b, "size"));
        }
        /* the dict's total is capped with its blobs only */
        if (s->max_blob_size && used >= MAX_FOLDER_SIZE)
            allowed = 0;
        else if (s->max_blob_size && MAX_FOLDER_SIZE - used < allowed)
            allowed = MAX_FOLDER_SIZE - used;
        if (strlen(r->key) > MAX_KEY_LENGTH)
            return field_error(err, r->what, r->type, r->field->name,
                               "Dict key length %s must be less than %d.", r->key,
                               MAX_KEY_LENGTH);
        if (!json_object_get(dict, r->key) && json_object_size(dict) >= MAX_DICT_KEYS)
            return field_error(err, r->what, r->type, r->field->name,
                               "Number of items must be less than  %d. Current size: %zu",
                               MAX_DICT_KEYS, json_object_size(dict) + 1);
    }
    *out = allowed;
    return 0;
}

static int too_big(glarex_error *err, const blob_ref *r, uint64_t size, uint64_t allowed)
{
    return fail(
        err, GLAREX_ETOOBIG, 413,
        "%s: Can't upload %llu bytes of data to blob %s. Its max allowed size is %llu",
        r->what, (unsigned long long)size, r->name, (unsigned long long)allowed);
}

/* sha256 + md5 (digest.h) plus the sha1 Glare also records. */
typedef struct hasher {
    glarex__digest *d;
    EVP_MD_CTX *sha1;
} hasher;

static int hasher_init(hasher *h, glarex_error *err)
{
    h->d = glarex__digest_new();
    h->sha1 = EVP_MD_CTX_new();
    if (!h->d || !h->sha1 || EVP_DigestInit_ex(h->sha1, EVP_sha1(), NULL) != 1)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

static void hasher_update(hasher *h, const void *data, size_t len)
{
    glarex__digest_update(h->d, data, len);
    EVP_DigestUpdate(h->sha1, data, len);
}

static void hasher_final(hasher *h, char sha256[65], char md5[33], char sha1[41])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    glarex__digest_final(h->d, sha256, md5);
    EVP_DigestFinal_ex(h->sha1, bin, &len);
    for (unsigned int i = 0; i < len && i < 20; i++) {
        sha1[2 * i] = digits[bin[i] >> 4];
        sha1[2 * i + 1] = digits[bin[i] & 15];
    }
    sha1[40] = '\0';
}

static void hasher_dispose(hasher *h)
{
    glarex__digest_free(h->d);
    EVP_MD_CTX_free(h->sha1);
}

/* The result of streaming an upload into a temporary file. */
typedef struct staged_blob {
    char *path; /* new; the fsynced temporary file */
    uint64_t size;
    char sha256[65], md5[33], sha1[41];
} staged_blob;

/* Streams the source into ROOT/tmp, never holding it whole, stopping once it exceeds
 * `allowed`. */
static int stage_blob(staged_blob *out, const dir_store *s, const blob_ref *r,
                      const glarex__upload_src *src, uint64_t allowed, glarex_error *err)
{
    hasher h = {NULL, NULL};
    char *buf = NULL, *tmp = NULL;
    int in = -1, fd = -1, error = 0;
    uint64_t total = 0, done = 0;
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (src->path) {
        in = open(src->path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return glarex__error_set(err, errno == ENOENT ? GLAREX_ENOTFOUND : GLAREX_EIO,
                                     "cannot open '%s': %s", src->path, strerror(errno));
        if (fstat(in, &st) < 0) {
            error = glarex__error_set(err, GLAREX_EIO, "cannot stat '%s': %s", src->path,
                                      strerror(errno));
            goto done;
        }
        if (!S_ISREG(st.st_mode)) {
            /* As the Glare backend: the size must be known up front. */
            error = glarex__error_set(err, GLAREX_EINVALID, "'%s' is not a regular file",
                                      src->path);
            goto done;
        }
        total = (uint64_t)st.st_size;
    } else {
        total = src->size;
    }
    if (total > allowed) {
        error = too_big(err, r, total, allowed);
        goto done;
    }
    if ((error = hasher_init(&h, err)) < 0)
        goto done;
    if (!(buf = malloc(CHUNK_SIZE))) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = open_temp(&fd, &tmp, s, ".blob", err)) < 0)
        goto done;
    for (;;) {
        const char *chunk;
        size_t n;
        if (src->path) {
            ssize_t got = read(in, buf, CHUNK_SIZE);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                error = glarex__error_set(err, GLAREX_EIO, "%s: reading '%s': %s",
                                          r->what, src->path, strerror(errno));
                goto done;
            }
            chunk = buf;
            n = (size_t)got;
        } else {
            n = src->size - (size_t)done < CHUNK_SIZE ? src->size - (size_t)done
                                                      : CHUNK_SIZE;
            chunk = (const char *)src->data + done;
        }
        if (n == 0)
            break;
        if (done + n > allowed) { /* the file grew since fstat */
            error = too_big(err, r, done + n, allowed);
            goto done;
        }
        hasher_update(&h, chunk, n);
        if (write_all(fd, chunk, n) < 0) {
            error = fail_errno(err, errno, "write", tmp);
            goto done;
        }
        done += n;
        if (src->progress && src->progress(done, total, src->payload) != 0) {
            error = glarex__error_set(err, GLAREX_ERROR,
                                      "%s: aborted by the progress callback", r->what);
            goto done;
        }
    }
    error = finish_temp(fd, tmp, err);
    fd = -1;
    if (error < 0)
        goto done;
    hasher_final(&h, out->sha256, out->md5, out->sha1);
    out->size = done;
    out->path = tmp;
    tmp = NULL;
done:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (in >= 0)
        close(in);
    free(buf);
    hasher_dispose(&h);
    return error;
}

/* Removes files in a blobs/ directory that the record does not name: debris of a
 * process that died between renaming a blob in and committing the record. Only
 * called under the lock, when no other rename into blobs/ can be under way. */
static void sweep_blobs(const char *blobs_dir, const json_t *files)
{
    DIR *d = opendir(blobs_dir);
    struct dirent *e;

    while (d && (e = readdir(d)) != NULL) {
        const char *k;
        json_t *v, *w;
        int used = 0;
        if (e->d_name[0] == '.')
            continue;
        json_object_foreach((json_t *)files, k, v)
        {
            if (json_is_string(v)) {
                used |= strcmp(json_string_value(v), e->d_name) == 0;
            } else {
                const char *k2;
                json_object_foreach(v, k2, w)
                {
                    used |= strcmp(str_or_empty(json_string_value(w)), e->d_name) == 0;
                }
            }
        }
        if (!used)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
}

static int dir_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                      const glarex__upload_src *src, glarex_error *err)
{
    dir_store *s = impl;
    blob_ref r;
    json_t *rec = NULL, *blob = NULL, *old, *af, *files;
    staged_blob staged = {NULL, 0, "", "", ""};
    char file_id[37], stamp[21], old_file[37] = "";
    char *blob_path = NULL, *old_path = NULL, *blobs_dir = NULL, *rec_path = NULL,
         *url = NULL;
    const char *content_type;
    uint64_t allowed;
    int lockfd = -1, error = 0, renamed = 0;

    if ((error = resolve_loc(&r, "upload", loc, err)) < 0)
        return error;
    /* A first look, to refuse early what would fail anyway. */
    if ((error = read_record(&rec, s, r.what, r.type, loc->id, err)) < 0 ||
        (error = check_blob_field(&r, err)) < 0 ||
        (error = check_mutable(rec, &r, err)) < 0 ||
        (error = allowed_space(&allowed, s, rec, &r, err)) < 0)
        goto done;
    json_decref(rec);
    rec = NULL;
    if ((error = stage_blob(&staged, s, &r, src, allowed, err)) < 0)
        goto done;

    /* Commit under the lock, checking again: the artifact may have changed. */
    if ((error = uuid4(file_id, err)) < 0)
        goto done;
    if ((error = lock_store(&lockfd, s, err)) < 0)
        goto done;
    if ((error = read_record(&rec, s, r.what, r.type, loc->id, err)) < 0 ||
        (error = check_mutable(rec, &r, err)) < 0 ||
        (error = allowed_space(&allowed, s, rec, &r, err)) < 0)
        goto done;
    if (staged.size > allowed) {
        error = too_big(err, &r, staged.size, allowed);
        goto done;
    }
    blobs_dir = store_path(s, "%s/%s/blobs", r.type->name, loc->id);
    blob_path = store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id, file_id);
    rec_path = store_path(s, "%s/%s/artifact.json", r.type->name, loc->id);
    url = r.key ? xasprintf("/artifacts/%s/%s/%s/%s", r.type->name, loc->id,
                            r.field->name, r.key)
                : xasprintf("/artifacts/%s/%s/%s", r.type->name, loc->id, r.field->name);
    if (!blobs_dir || !blob_path || !rec_path || !url) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (rename(staged.path, blob_path) < 0) {
        error = fail_errno(err, errno, "rename into", blob_path);
        goto done;
    }
    renamed = 1;
    free(staged.path);
    staged.path = NULL;
    if ((error = fsync_dir(blobs_dir, err)) < 0)
        goto done;

    af = rec_artifact(rec);
    files = json_object_get(rec, "files");
    old = blob_json(rec, &r);
    if (blob_file(rec, &r))
        glarex__strlcpy(old_file, blob_file(rec, &r), sizeof(old_file));
    /* Glare keeps the first upload's content type when a draft's blob is replaced. */
    content_type =
        old && json_is_string(json_object_get(old, "content_type"))
            ? json_string_value(json_object_get(old, "content_type"))
            : (src->content_type ? src->content_type : "application/octet-stream");
    blob = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:s}", "url", url, "status",
                     "active", "external", 0, "md5", staged.md5, "sha1", staged.sha1,
                     "sha256", staged.sha256, "size", (json_int_t)staged.size,
                     "content_type", content_type);
    if (!blob) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    now_stamp(stamp, NULL);
    if (r.key) {
        json_t *dict = json_object_get(af, r.field->name);
        json_t *fdict = json_object_get(files, r.field->name);
        if (!json_is_object(fdict)) {
            fdict = json_object();
            if (!fdict || json_object_set_new(files, r.field->name, fdict) < 0) {
                error = GLAREX_ENOMEM_SET(err);
                goto done;
            }
        }
        if (json_object_set(dict, r.key, blob) < 0 ||
            json_object_set_new(fdict, r.key, json_string(file_id)) < 0) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if (json_object_set(af, r.field->name, blob) < 0 ||
               json_object_set_new(files, r.field->name, json_string(file_id)) < 0) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (json_object_set_new(af, "updated_at", json_string(stamp)) < 0) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = write_json_atomic(s, rec_path, rec, err)) < 0)
        goto done;
    renamed = 0; /* committed: the new file is the blob now */

    /* The replaced content (and any debris) goes only after the commit. */
    if (old_file[0] && is_uuid(old_file) &&
        (old_path = store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id, old_file)))
        unlink(old_path);
    sweep_blobs(blobs_dir, files);
    if (!(*out = artifact_out(rec)))
        error = GLAREX_ENOMEM_SET(err);
done:
    if (renamed)
        unlink(blob_path);
    unlock_store(lockfd);
    if (staged.path) {
        unlink(staged.path);
        free(staged.path);
    }
    json_decref(rec);
    json_decref(blob);
    free(blob_path);
    free(old_path);
    free(blobs_dir);
    free(rec_path);
    free(url);
    return error;
}

static int mismatch(glarex_error *err, const char *what, const char *algo,
                    const char *source, const char *expected, const char *got)
{
    return glarex__error_set(err, GLAREX_ECHECKSUM,
                             "%s: %s mismatch: expected %s (%s), got %s", what, algo,
                             expected, source, got);
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int dir_download(glarex_download_info *out, void *impl, const glarex_blob_loc *loc,
                        const glarex_digests *expect, glarex_write_cb sink, void *payload,
                        glarex_error *err)
{
    dir_store *s = impl;
    blob_ref r;
    json_t *rec = NULL, *blob = NULL;
    glarex__digest *d = NULL;
    char *path = NULL, *buf = NULL;
    char got_sha[65], got_md5[33], e[65];
    const char *want_sha, *want_md5, *ctype;
    json_int_t want_size;
    uint64_t received = 0;
    int fd = -1, error = 0;

    if (expect) {
        size_t ls = strlen(expect->sha256), lm = strlen(expect->md5);
        if ((ls && (ls != 64 || !glarex__is_hex(expect->sha256, 64))) ||
            (lm && (lm != 32 || !glarex__is_hex(expect->md5, 32))))
            return glarex__error_set(
                err, GLAREX_EINVALID,
                "expected digests: sha256 must be 64 and md5 32 hex digits");
    }
    if ((error = resolve_loc(&r, "download", loc, err)) < 0)
        return error;
    /* A concurrent re-upload of a draft may replace the file between reading the
     * record and opening it: read the record again then. */
    for (int attempt = 0; fd < 0; attempt++) {
        const char *file;
        json_decref(rec);
        rec = NULL;
        if ((error = read_record(&rec, s, r.what, r.type, loc->id, err)) < 0 ||
            (error = check_blob_field(&r, err)) < 0)
            goto done;
        blob = blob_json(rec, &r);
        file = blob_file(rec, &r);
        if (!blob) {
            error = fail(err, GLAREX_ENOTFOUND, 404, "%s: No data found for blob %s",
                         r.what, r.name);
            goto done;
        }
        if (!file || !is_uuid(file)) {
            error = glarex__error_set(err, GLAREX_EIO,
                                      "%s: corrupt artifact record: no file for blob %s",
                                      r.what, r.name);
            goto done;
        }
        free(path);
        if (!(path = store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id, file))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && (errno != ENOENT || attempt >= 2)) {
            error = fail_errno(err, errno, "open", path);
            goto done;
        }
    }
    want_sha = json_string_value(json_object_get(blob, "sha256"));
    want_md5 = json_string_value(json_object_get(blob, "md5"));
    want_size = json_integer_value(json_object_get(blob, "size"));
    ctype = json_string_value(json_object_get(blob, "content_type"));
    if (!want_sha || !want_md5 || want_size < 0) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "%s: corrupt artifact record: blob %s has no digests",
                                  r.what, r.name);
        goto done;
    }
    d = glarex__digest_new();
    buf = malloc(CHUNK_SIZE);
    if (!d || !buf) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = fail_errno(err, errno, "read", path);
            goto done;
        }
        if (n == 0)
            break;
        received += (uint64_t)n;
        if (received > (uint64_t)want_size) {
            /* Never pass on more than the blob holds. */
            error =
                glarex__error_set(err, GLAREX_ECHECKSUM,
                                  "%s: size mismatch: expected %lld bytes (recorded), "
                                  "got more",
                                  r.what, (long long)want_size);
            goto done;
        }
        glarex__digest_update(d, buf, (size_t)n);
        if (sink(buf, (size_t)n, payload) != 0) {
            error = glarex__error_set(err, GLAREX_ERROR,
                                      "download aborted by the write callback");
            goto done;
        }
    }
    glarex__digest_final(d, got_sha, got_md5);
    if (received != (uint64_t)want_size) {
        error = glarex__error_set(
            err, GLAREX_ECHECKSUM,
            "%s: size mismatch: expected %lld bytes (recorded), got %llu", r.what,
            (long long)want_size, (unsigned long long)received);
        goto done;
    }
    if (strcasecmp(want_sha, got_sha) != 0) {
        error = mismatch(err, r.what, "sha256", "recorded", want_sha, got_sha);
        goto done;
    }
    if (strcasecmp(want_md5, got_md5) != 0) {
        error = mismatch(err, r.what, "md5", "recorded", want_md5, got_md5);
        goto done;
    }
    if (expect) {
        if (expect->sha256[0]) {
            memcpy(e, expect->sha256, 65);
            lower(e);
            if (strcmp(e, got_sha) != 0) {
                error = mismatch(err, r.what, "sha256", "expected digests", e, got_sha);
                goto done;
            }
        }
        if (expect->md5[0]) {
            memcpy(e, expect->md5, 33);
            lower(e);
            if (strcmp(e, got_md5) != 0) {
                error = mismatch(err, r.what, "md5", "expected digests", e, got_md5);
                goto done;
            }
        }
        if (expect->size >= 0 && (uint64_t)expect->size != received) {
            error = glarex__error_set(
                err, GLAREX_ECHECKSUM, "%s: size mismatch: expected %lld bytes, got %llu",
                r.what, (long long)expect->size, (unsigned long long)received);
            goto done;
        }
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        memcpy(out->sha256, got_sha, sizeof(out->sha256));
        memcpy(out->md5, got_md5, sizeof(out->md5));
        out->size = received;
        glarex__strlcpy(out->content_type, ctype ? ctype : "", sizeof(out->content_type));
        out->external = 0;
    }
done:
    if (fd >= 0)
        close(fd);
    glarex__digest_free(d);
    json_decref(rec);
    free(path);
    free(buf);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Listing: Glare's filters, latest, sort, evaluated over the records
 * ==================================================================== */

typedef enum list_op {
    OP_EQ,
    OP_NEQ,
    OP_IN,
    OP_LIKE,
    OP_GT,
    OP_GTE,
    OP_LT,
    OP_LTE
} list_op;

static const char *const op_names[] = {"eq", "neq", "in", "like",
                                       "gt", "gte", "lt", "lte"};

#define OP_BIT(op) (1u << (op))
#define STRING_OPS (OP_BIT(OP_EQ) | OP_BIT(OP_NEQ) | OP_BIT(OP_IN))
#define LIKE_OPS (STRING_OPS | OP_BIT(OP_LIKE))
#define NUMERIC_OPS                                                                      \
    (STRING_OPS | OP_BIT(OP_GT) | OP_BIT(OP_GTE) | OP_BIT(OP_LT) | OP_BIT(OP_LTE))
#define DATE_OPS (OP_BIT(OP_LT) | OP_BIT(OP_GT))

typedef enum filter_kind {
    KIND_STRING,
    KIND_STATUS, /* a string restricted to Glare's statuses */
    KIND_VERSION,
    KIND_DATE,
    KIND_TAGS,       /* every tag present */
    KIND_TAGS_ANY,   /* at least one tag present */
    KIND_DICT_VALUE, /* metadata.<key> */
    KIND_DICT_KEYS,  /* metadata=key: key present */
    KIND_NONE        /* a field Glare does not filter on */
} filter_kind;

typedef struct field_spec {
    const char *name;
    filter_kind kind;
    unsigned ops;
    const char *ops_text; /* as Glare prints the list in its message */
} field_spec;

/* The operators of each base field, and how Glare's message lists them (a Python
 * list or tuple, as the field declares them). */
static const field_spec filter_fields[] = {
    {"id", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"name", KIND_STRING, LIKE_OPS, "('like', 'eq', 'neq', 'in')"},
    {"owner", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"status", KIND_STATUS, STRING_OPS, "['eq', 'neq', 'in']"},
    {"visibility", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"display_type_name", KIND_STRING, LIKE_OPS, "('like', 'eq', 'neq', 'in')"},
    {"version", KIND_VERSION, NUMERIC_OPS,
     "('eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte')"},
    {"created_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"updated_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"activated_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"description", KIND_NONE, 0, "[]"},
};

static const char *const statuses[] = {"drafted", "active", "deactivated", "deleted",
                                       NULL};

typedef struct list_filter {
    filter_kind kind;
    const char *field; /* artifact JSON member (borrowed) */
    char *key;         /* dict key for KIND_DICT_VALUE (new) */
    list_op op;
    char **values; /* new */
    size_t nvalues;
    long long *times; /* KIND_DATE: values as seconds since the epoch (new) */
} list_filter;

static void filters_dispose(list_filter *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        for (size_t j = 0; j < f[i].nvalues; j++)
            free(f[i].values[j]);
        free(f[i].values);
        free(f[i].key);
        free(f[i].times);
    }
    free(f);
}

static int push_value(list_filter *f, const char *s, size_t len)
{
    char **v = realloc(f->values, (f->nvalues + 1) * sizeof(*v));
    char *copy;
    if (!v)
        return -1;
    f->values = v;
    if (!(copy = malloc(len + 1)))
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    f->values[f->nvalues++] = copy;
    return 0;
}

/* Glare's split_filter_value_for_quotes: comma-separated, '"' quotes a value that
 * holds commas, '\' escapes inside quotes (and is kept, as Glare keeps it). */
static int split_in_values(list_filter *f, const char *what, const char *value,
                           glarex_error *err)
{
    size_t len = strlen(value);
    int open = 1;

    for (size_t i = 0; i < len; i++) { /* validate_quotes */
        if (value[i] != '"' || (i && value[i - 1] == '\\'))
            continue;
        if (open && i && value[i - 1] != ',')
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Invalid filter value %s. There is no comma before opening "
                        "quotation mark.",
                        what, value);
        if (!open && i + 1 != len && value[i + 1] != ',')
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Invalid filter value %s. There is no comma after closing "
                        "quotation mark.",
                        what, value);
        open = !open;
    }
    if (!open)
        return fail(err, GLAREX_EINVALID, 400,
                    "%s: Invalid filter value %s. The quote is not closed.", what, value);
    for (size_t i = 0; i < len;) {
        size_t start, end;
        if (value[i] == '"') {
            start = ++i;
            while (i < len && value[i] != '"')
                i += value[i] == '\\' && i + 1 < len ? 2 : 1;
            end = i;
            i++; /* the closing quote */
        } else {
            start = i;
            while (i < len && value[i] != ',')
                i++;
            end = i;
        }
        if (push_value(f, value + start, end - start) < 0)
            return GLAREX_ENOMEM_SET(err);
        if (i < len && value[i] == ',')
            i++;
    }
    if (f->nvalues == 0 && push_value(f, "", 0) < 0)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

static int is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds since the epoch of an ISO 8601 time: "YYYY-MM-DDTHH:MM:SS", optional
 * fraction, then "Z", "+HH:MM" or "-HH:MM" (or nothing: UTC). -1 when malformed. */
static int parse_time(long long *out, const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    long long days = 0;
    const char *p;

    if (!s ||
        sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) !=
            6 ||
        n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) ||
        h > 23 || mi > 59 || sec > 60)
        return -1;
    p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        if (*p == '-') {
            oh = -oh;
            om = -om;
        }
        p += 1 + m;
    }
    if (*p)
        return -1;
    for (long yy = 1970; yy < y; yy++)
        days += 365 + is_leap(yy);
    for (long yy = y; yy < 1970; yy++)
        days -= 365 + is_leap(yy);
    for (int m = 1; m < mo; m++)
        days += mdays[m - 1] + (m == 2 && is_leap(y));
    days += d - 1;
    *out = ((days * 24 + h) * 60 + mi) * 60 + sec - (oh * 60 + om) * 60;
    return 0;
}

/* Checks a client-side filter the way the Glare backend checks it before sending. */
static int valid_op_text(const char *op)
{
    if (!*op || strlen(op) > 32)
        return 0;
    for (; *op; op++)
        if (!((*op >= 'a' && *op <= 'z') || *op == '_' || *op == '-'))
            return 0;
    return 1;
}

static int compile_filter(list_filter *lf, const art_type *t, const char *what,
                          size_t index, const glarex_filter *f, glarex_error *err)
{
    const char *op_text = f->op ? f->op : "eq";
    const char *field = f->field, *dot;
    const field_spec *spec = NULL;
    int op = -1, error;

    if (!f->field || !f->field[0] || !f->value)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "list filter %zu: field and value are required", index);
    if (!valid_op_text(op_text))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "list filter on '%s': invalid operator '%s'", f->field,
                                 op_text);
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(op_names[i], op_text) == 0)
            op = (int)i;

    if (strcmp(field, "tags") == 0 || strcmp(field, "tags-any") == 0) {
        /* Glare takes tags without an operator: "tags=a,b". */
        if (f->op || strchr(f->value, ':'))
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Tags are filtered without operator", what);
        lf->kind = field[4] ? KIND_TAGS_ANY : KIND_TAGS;
        lf->field = "tags";
        lf->op = OP_EQ;
        for (const char *p = f->value;;) {
            size_t n = strcspn(p, ",");
            if (push_value(lf, p, n) < 0)
                return GLAREX_ENOMEM_SET(err);
            if (!p[n])
                break;
            p += n + 1;
        }
        return 0;
    }
    if ((dot = strrchr(field, '.')) != NULL) {
        const blob_field *bf;
        size_t blen = (size_t)(dot - field);
        char base[64];
        if (blen >= sizeof(base))
            blen = sizeof(base) - 1;
        memcpy(base, field, blen);
        base[blen] = '\0';
        bf = find_field(t, base);
        if (strcmp(base, "metadata") != 0 && !(bf && bf->is_dict))
            return fail(err, GLAREX_EINVALID, 400, "%s: Field %s is not Dict", what,
                        base);
        if (bf || (op != OP_EQ && op != OP_NEQ && op != OP_IN))
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Unsupported filter type '%s'.The following filters are "
                        "supported %s",
                        what, op_text, bf ? "[]" : "['eq', 'neq', 'in']");
        lf->kind = KIND_DICT_VALUE;
        lf->field = "metadata";
        if (!(lf->key = strdup(dot + 1)))
            return GLAREX_ENOMEM_SET(err);
    } else if (strcmp(field, "metadata") == 0 ||
               (find_field(t, field) && find_field(t, field)->is_dict)) {
        /* A dict (blob dicts too) filtered by its keys: "metadata=in:a,b". */
        if (op != OP_EQ && op != OP_IN)
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Unsupported filter type '%s'. The following filters are "
                        "supported: eq, in",
                        what, op_text);
        lf->kind = KIND_DICT_KEYS;
        lf->field =
            strcmp(field, "metadata") == 0 ? "metadata" : find_field(t, field)->name;
    } else {
        for (size_t i = 0; i < sizeof(filter_fields) / sizeof(filter_fields[0]); i++)
            if (strcmp(filter_fields[i].name, field) == 0)
                spec = &filter_fields[i];
        if (!spec && !find_field(t, field))
            return fail(err, GLAREX_EINVALID, 400, "%s: Unable filter '%s'", what, field);
        if (!spec || op < 0 || !(spec->ops & OP_BIT(op)))
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Unsupported filter type '%s'.The following filters are "
                        "supported %s",
                        what, op_text, spec ? spec->ops_text : "[]");
        lf->kind = spec->kind;
        lf->field = spec->name;
    }
    lf->op = (list_op)op;
    if (op == OP_IN)
        error = split_in_values(lf, what, f->value, err);
    else
        error =
            push_value(lf, f->value, strlen(f->value)) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    if (error < 0)
        return error;

    /* Coerce the values as Glare's field types do. */
    for (size_t i = 0; i < lf->nvalues; i++) {
        char *v = lf->values[i];
        if (lf->kind == KIND_STATUS && !in_list(statuses, v))
            return field_error(err, what, t, lf->field,
                               "Value must be one of the following: drafted, active, "
                               "deactivated, deleted");
        if (lf->kind == KIND_VERSION) {
            size_t size = GLAREX__VERSION_NORMAL_SIZE(strlen(v));
            char *norm = malloc(size);
            if (!norm)
                return GLAREX_ENOMEM_SET(err);
            if ((error = normalize_version(norm, size, what, t, v, err)) < 0) {
                free(norm);
                return error;
            }
            free(v);
            lf->values[i] = norm;
        }
    }
    if (lf->kind == KIND_DATE) {
        if (!(lf->times = calloc(lf->nvalues, sizeof(*lf->times))))
            return GLAREX_ENOMEM_SET(err);
        for (size_t i = 0; i < lf->nvalues; i++)
            if (parse_time(&lf->times[i], lf->values[i]) < 0)
                return field_error(err, what, t, lf->field,
                                   "Unable to parse date string '%s'", lf->values[i]);
    }
    return 0;
}

/* SQL LIKE: '%' any run, '_' any one character; ASCII letters match either case (as
 * the sqlite and MySQL back ends of Glare do). */
static int like_match(const char *s, const char *p)
{
    const char *star_p = NULL, *star_s = NULL;

    while (*s) {
        if (*p == '%') {
            star_p = ++p;
            star_s = s;
        } else if (*p && (*p == '_' ||
                          tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
            p++;
            s++;
        } else if (star_p) {
            p = star_p;
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (*p == '%')
        p++;
    return *p == '\0';
}

static int string_match(const list_filter *f, const char *v)
{
    if (!v)
        return 0; /* SQL: NULL matches no comparison */
    switch (f->op) {
    case OP_EQ:
        return strcmp(v, f->values[0]) == 0;
    case OP_NEQ:
        return strcmp(v, f->values[0]) != 0;
    case OP_LIKE:
        return like_match(v, f->values[0]);
    case OP_IN:
        for (size_t i = 0; i < f->nvalues; i++)
            if (strcmp(v, f->values[i]) == 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int version_match(const list_filter *f, const char *v)
{
    int c = glarex__version_compare(v, f->values[0]);
    switch (f->op) {
    case OP_EQ:
        return c == 0;
    case OP_NEQ:
        return c != 0;
    case OP_GT:
        return c > 0;
    case OP_GTE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    case OP_LTE:
        return c <= 0;
    case OP_IN:
        for (size_t i = 0; i < f->nvalues; i++)
            if (glarex__version_compare(v, f->values[i]) == 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int tag_present(const json_t *tags, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (strcmp(str_or_empty(json_string_value(t)), tag) == 0)
            return 1;
    }
    return 0;
}

static int filter_match(const list_filter *f, const json_t *af)
{
    const json_t *v = json_object_get(af, f->field);
    long long t;
    size_t i;

    switch (f->kind) {
    case KIND_STRING:
    case KIND_STATUS:
        return string_match(f, json_string_value(v));
    case KIND_VERSION:
        return json_is_string(v) && version_match(f, json_string_value(v));
    case KIND_DATE:
        if (parse_time(&t, json_string_value(v)) < 0)
            return 0;
        return f->op == OP_LT ? t < f->times[0] : t > f->times[0];
    case KIND_TAGS:
        for (i = 0; i < f->nvalues; i++)
            if (!tag_present(v, f->values[i]))
                return 0;
        return 1;
    case KIND_TAGS_ANY:
        for (i = 0; i < f->nvalues; i++)
            if (tag_present(v, f->values[i]))
                return 1;
        return 0;
    case KIND_DICT_VALUE:
        return string_match(f, json_string_value(json_object_get(v, f->key)));
    case KIND_DICT_KEYS:
        for (i = 0; i < f->nvalues; i++)
            if (json_object_get(v, f->values[i]))
                return 1;
        return 0;
    default:
        return 0;
    }
}

typedef enum sort_kind { SORT_STRING, SORT_VERSION, SORT_CREATED } sort_kind;

typedef struct sort_key {
    const char *field;
    sort_kind kind;
    int desc;
} sort_key;

#define MAX_SORT_KEYS 16

static int parse_sort(sort_key *keys, size_t *nkeys, const art_type *t, const char *what,
                      const char *sort, glarex_error *err)
{
    const char *p = sort;

    *nkeys = 0;
    while (sort && *p) {
        size_t n = strcspn(p, ",");
        char item[128], *colon;
        const char *dir = "desc";
        size_t fi;

        if (n >= sizeof(item) || *nkeys >= MAX_SORT_KEYS - 2)
            return fail(err, GLAREX_EINVALID, 400, "%s: sort '%s' is too long", what,
                        sort);
        memcpy(item, p, n);
        item[n] = '\0';
        p += n + (p[n] == ',');
        if ((colon = strchr(item, ':')) != NULL) {
            *colon = '\0';
            dir = colon + 1;
        }
        if (strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0)
            return fail(err, GLAREX_EINVALID, 400,
                        "%s: Sort direction must be one of [\"asc\", \"desc\"]. Got %s "
                        "direction",
                        what, dir);
        for (fi = 0; sortable_fields[fi] && strcmp(sortable_fields[fi], item) != 0; fi++)
            ;
        if (!sortable_fields[fi]) {
            if (in_list(other_base_fields, item) || find_field(t, item))
                return fail(err, GLAREX_EINVALID, 400,
                            "%s: The field %s is not sortable.", what, item);
            return fail(err, GLAREX_EINVALID, 400, "%s: The field %s doesn't exist.",
                        what, item);
        }
        keys[*nkeys].field = sortable_fields[fi];
        keys[*nkeys].kind = strcmp(item, "version") == 0      ? SORT_VERSION
                            : strcmp(item, "created_at") == 0 ? SORT_CREATED
                                                              : SORT_STRING;
        keys[*nkeys].desc = dir[0] == 'd';
        (*nkeys)++;
    }
    /* Glare's tie-breakers, unless already given. */
    {
        static const sort_key defaults[] = {{"created_at", SORT_CREATED, 1},
                                            {"id", SORT_STRING, 0}};
        for (size_t d = 0; d < 2; d++) {
            int present = 0;
            for (size_t i = 0; i < *nkeys; i++)
                present |= strcmp(keys[i].field, defaults[d].field) == 0;
            if (!present)
                keys[(*nkeys)++] = defaults[d];
        }
    }
    return 0;
}

typedef struct list_item {
    json_t *rec;          /* owns the artifact */
    json_t *af;           /* borrowed from rec */
    long long created_ns; /* finer than created_at's seconds */
    int keep;
} list_item;

typedef struct sort_ctx {
    const sort_key *keys;
    size_t nkeys;
} sort_ctx;

static int compare_items(const list_item *a, const list_item *b, const sort_ctx *c)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        const sort_key *k = &c->keys[i];
        int r;
        if (k->kind == SORT_CREATED) {
            r = (a->created_ns > b->created_ns) - (a->created_ns < b->created_ns);
            if (r == 0)
                r = strcmp(af_str(a->af, "created_at") ? af_str(a->af, "created_at") : "",
                           af_str(b->af, "created_at") ? af_str(b->af, "created_at")
                                                       : "");
        } else {
            const char *x = af_str(a->af, k->field), *y = af_str(b->af, k->field);
            if (!x || !y) /* SQL sorts NULL first in ascending order */
                r = (x != NULL) - (y != NULL);
            else if (k->kind == SORT_VERSION)
                r = glarex__version_compare(x, y);
            else
                r = strcmp(x, y);
        }
        if (r)
            return k->desc ? -r : r;
    }
    return 0;
}

/* A stable merge sort of item pointers (qsort is neither stable nor given a context). */
static void sort_items(list_item **v, list_item **tmp, size_t n, const sort_ctx *c)
{
    size_t mid, i, j, k;

    if (n < 2)
        return;
    mid = n / 2;
    sort_items(v, tmp, mid, c);
    sort_items(v + mid, tmp, n - mid, c);
    for (i = 0, j = mid, k = 0; i < mid && j < n;)
        tmp[k++] = compare_items(v[j], v[i], c) < 0 ? v[j++] : v[i++];
    while (i < mid)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof(*v));
}

/* Loads every artifact of the type (records that vanish meanwhile are skipped). */
static int load_items(list_item **out, size_t *count, const dir_store *s,
                      const art_type *t, const char *what, glarex_error *err)
{
    char *dir = store_path(s, "%s", t->name);
    list_item *items = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    struct dirent *e;
    int error = 0;

    *out = NULL;
    *count = 0;
    if (!dir)
        return GLAREX_ENOMEM_SET(err);
    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            error = fail_errno(err, errno, "open directory", dir);
        goto done;
    }
    while ((e = readdir(d)) != NULL) {
        glarex_error rec_err;
        json_t *rec = NULL;
        int rc;
        if (!is_uuid(e->d_name))
            continue;
        rc = read_record(&rec, s, what, t, e->d_name, &rec_err);
        if (rc == GLAREX_ENOTFOUND) /* deleted while we listed */
            continue;
        if (rc < 0) {
            if (err)
                *err = rec_err;
            error = rc;
            goto done;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            list_item *p = realloc(items, ncap * sizeof(*p));
            if (!p) {
                json_decref(rec);
                error = GLAREX_ENOMEM_SET(err);
                goto done;
            }
            items = p;
            cap = ncap;
        }
        items[n].rec = rec;
        items[n].af = rec_artifact(rec);
        items[n].created_ns = json_integer_value(json_object_get(rec, "created_ns"));
        items[n].keep = 1;
        n++;
    }
done:
    if (d)
        closedir(d);
    free(dir);
    if (error < 0) {
        for (size_t i = 0; i < n; i++)
            json_decref(items[i].rec);
        free(items);
        return error;
    }
    *out = items;
    *count = n;
    return 0;
}

static int dir_list(json_t **out, void *impl, const char *type_name,
                    const glarex_list_options *opts, glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = find_type(type_name);
    list_filter *filters = NULL;
    list_item *items = NULL;
    list_item **order = NULL, **tmp = NULL;
    sort_key keys[MAX_SORT_KEYS];
    size_t nkeys = 0, nitems = 0, nmatch = 0;
    sort_ctx ctx;
    json_t *result = NULL;
    char what[160];
    int error = 0;

    snprintf(what, sizeof(what), "list %s", type_name);
    if (!t)
        return type_not_found(err, what, type_name);
    if (opts->nfilters && !(filters = calloc(opts->nfilters, sizeof(*filters))))
        return GLAREX_ENOMEM_SET(err);
    for (size_t i = 0; i < opts->nfilters; i++)
        if ((error = compile_filter(&filters[i], t, what, i, &opts->filters[i], err)) < 0)
            goto done;
    if ((error = parse_sort(keys, &nkeys, t, what, opts->sort, err)) < 0)
        goto done;
    if ((error = load_items(&items, &nitems, s, t, what, err)) < 0)
        goto done;

    order = calloc(nitems ? nitems : 1, sizeof(*order));
    tmp = calloc(nitems ? nitems : 1, sizeof(*tmp));
    result = json_array();
    if (!order || !tmp || !result) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (size_t i = 0; i < nitems; i++) {
        int match = strcmp(af_str(items[i].af, "status"), "deleted") != 0;
        for (size_t f = 0; match && f < opts->nfilters; f++)
            match = filter_match(&filters[f], items[i].af);
        if (match)
            order[nmatch++] = &items[i];
    }
    if (opts->latest) {
        /* Per name, only the highest version among the matches (ties all stay). */
        static const sort_key by_name[] = {{"name", SORT_STRING, 0},
                                           {"version", SORT_VERSION, 1}};
        sort_ctx nctx = {by_name, 2};
        list_item *top = NULL;
        size_t kept = 0;
        sort_items(order, tmp, nmatch, &nctx);
        for (size_t i = 0; i < nmatch; i++) {
            /* The first of each name is its highest version. */
            if (!top ||
                strcmp(af_str(order[i]->af, "name"), af_str(top->af, "name")) != 0)
                top = order[i];
            if (glarex__version_compare(af_str(order[i]->af, "version"),
                                        af_str(top->af, "version")) == 0)
                order[kept++] = order[i];
        }
        nmatch = kept;
    }
    ctx.keys = keys;
    ctx.nkeys = nkeys;
    sort_items(order, tmp, nmatch, &ctx);
    for (size_t i = 0; i < nmatch; i++) {
        if (opts->max_items && i >= opts->max_items)
            break;
        if (json_array_append(result, order[i]->af) < 0) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    }
    *out = result;
    result = NULL;
done:
    json_decref(result);
    for (size_t i = 0; i < nitems; i++)
        json_decref(items[i].rec);
    free(items);
    free(order);
    free(tmp);
    filters_dispose(filters, opts->nfilters);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Opening without creating
 * ==================================================================== */

/* Opening a store changes nothing on disk, so that a mistyped file:// URL or a command
 * that only reads leaves no empty store behind: the first create makes the directory a
 * store, every other call needs one that exists. */
static int ensure_store(dir_store *s, int create, glarex_error *err)
{
    char *marker;
    int error, exists;

    if (atomic_load(&s->ready))
        return 0;
    if (!create) {
        if (!(marker = store_path(s, "glarex-store.json")))
            return GLAREX_ENOMEM_SET(err);
        exists = access(marker, F_OK) == 0;
        free(marker);
        if (!exists && dir_has_foreign_entries(s->root))
            return not_a_store(s, err);
        if (!exists)
            return fail(err, GLAREX_ENOTFOUND, 404,
                        "no glarex store in '%s': check the store URL (a store is made "
                        "when its first artifact is created)",
                        s->root);
    }
    if ((error = init_root(s, err)) < 0)
        return error;
    if (!atomic_exchange(&s->ready, 1))
        sweep_tmp(s);
    return 0;
}

static int open_list(json_t **out, void *impl, const char *type_name,
                     const glarex_list_options *opts, glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_list(out, impl, type_name, opts, err);
}

static int open_get(json_t **out, void *impl, const char *type_name, const char *id,
                    glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_get(out, impl, type_name, id, err);
}

static int open_create(json_t **out, void *impl, const char *type_name,
                       const json_t *fields, glarex_error *err)
{
    int error = ensure_store(impl, 1, err);
    return error < 0 ? error : dir_create(out, impl, type_name, fields, err);
}

static int open_activate(json_t **out, void *impl, const char *type_name, const char *id,
                         glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_activate(out, impl, type_name, id, err);
}

static int open_remove(void *impl, const char *type_name, const char *id,
                       glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_remove(impl, type_name, id, err);
}

static int open_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                       const glarex__upload_src *src, glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_upload(out, impl, loc, src, err);
}

static int open_download(glarex_download_info *out, void *impl, const glarex_blob_loc *loc,
                         const glarex_digests *expect, glarex_write_cb sink, void *payload,
                         glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : dir_download(out, impl, loc, expect, sink, payload, err);
}

/* The store's id for scoping answers (src/scope.c). A store that does not exist yet
 * gets a random id of this handle's own: nothing it answers is shared with another
 * handle, so a store made and made again later cannot be mistaken for this one. */
static const char *dir_local_id(void *impl)
{
    dir_store *s = impl;
    return ensure_store(s, 0, NULL) == 0 ? s->store_id : s->absent_id;
}

static const glarex__store_backend dir_backend = {
    "dir",       open_list,   open_get,      open_create, open_activate,
    open_remove, open_upload, open_download, dir_free,    NULL,
    dir_local_id,
};

/* }==================================================================== */

int glarex__store_dir_open(void **out, const glarex__store_backend **backend,
                           const char *root, uint64_t max_blob_size, glarex_error *err)
{
    dir_store *s = NULL;
    int error;

    if (root[0] != '/')
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "store directory '%s' is not an absolute path", root);
    if (!(s = calloc(1, sizeof(*s))) || !(s->root = strdup(root))) {
        dir_free(s);
        return GLAREX_ENOMEM_SET(err);
    }
    s->max_blob_size = max_blob_size;
    if ((error = uuid4(s->absent_id, err)) < 0) {
        dir_free(s);
        return error;
    }
    /* An existing store is checked now; a missing one is made by the first create. */
    if ((error = ensure_store(s, 0, err)) < 0 && error != GLAREX_ENOTFOUND) {
        dir_free(s);
        return error;
    }
    GLAREX_ERROR_RESET(err);
    *out = s;
    *backend = &dir_backend;
    return 0;
}
