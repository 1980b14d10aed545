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
 *
 * This file opens a store (a directory becomes one at the first create) and is the
 * backend's table; the artifacts, blobs and listing have files of their own (dir.h).
 */
#include "dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STORE_FORMAT 1

/* {====================================================================
 * Making a directory a store
 * ==================================================================== */

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

/* Gives a store made before store ids existed its id, under the store lock. */
static int add_store_id(json_t *m, const dir_store *s, const char *marker,
                        glarex_error *err)
{
    json_t *now = NULL;
    char id[37];
    int fd, error;

    if ((error = glarex__dir_lock_store(&fd, s, err)) < 0)
        return error;
    now = json_load_file(marker, JSON_REJECT_DUPLICATES, NULL);
    const char *had = json_string_value(json_object_get(now, "store_id"));
    if (had && glarex__dir_is_uuid(had))
        error =
            json_object_set_new(m, "store_id", json_string(had)) < 0 ? GLAREX_ENOMEM : 0;
    else if ((error = glarex__dir_uuid4(id, err)) == 0) {
        if (json_object_set_new(m, "store_id", json_string(id)) < 0)
            error = GLAREX_ENOMEM_SET(err);
        else
            error = glarex__dir_write_json_atomic(s, marker, m, err);
    }
    json_decref(now);
    glarex__dir_unlock_store(fd);
    return error;
}

/* Makes sure ROOT is a glarex store: an empty (or new) directory becomes one; a
 * directory with other contents is refused, so a typo cannot litter $HOME. */
static int init_root(dir_store *s, glarex_error *err)
{
    char *marker = glarex__dir_store_path(s, "glarex-store.json");
    char *tmpdir = glarex__dir_store_path(s, "tmp");
    char *tmp = NULL;
    json_t *m = NULL;
    json_error_t jerr;
    int error = 0;

    if (!marker || !tmpdir) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = glarex__dir_make_dirs(s->root, err)) < 0)
        goto done;
    if (access(marker, F_OK) < 0) {
        char text[128], id[37];
        if (errno != ENOENT) {
            error = glarex__dir_fail_errno(err, errno, "access", marker);
            goto done;
        }
        if (dir_has_foreign_entries(s->root)) {
            error = not_a_store(s, err);
            goto done;
        }
        if ((error = glarex__dir_uuid4(id, err)) < 0)
            goto done;
        snprintf(text, sizeof(text),
                 "{\"format\": \"glarex-store\", \"version\": 1, \"store_id\": \"%s\"}\n",
                 id);
        if ((error = glarex__dir_make_dir(tmpdir, err)) < 0 ||
            (error = glarex__dir_write_temp(&tmp, s, text, strlen(text), err)) < 0)
            goto done;
        /* link() never replaces: two processes initialising at once both succeed. */
        if (link(tmp, marker) < 0 && errno != EEXIST) {
            error = glarex__dir_fail_errno(err, errno, "create", marker);
            goto done;
        }
        if ((error = glarex__dir_fsync_dir(s->root, err)) < 0)
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
    if ((error = glarex__dir_make_dir(tmpdir, err)) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(m, "store_id"));
    if ((!id || !glarex__dir_is_uuid(id)) &&
        (error = add_store_id(m, s, marker, err)) < 0)
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
        if (!(marker = glarex__dir_store_path(s, "glarex-store.json")))
            return GLAREX_ENOMEM_SET(err);
        exists = access(marker, F_OK) == 0;
        free(marker);
        if (!exists && dir_has_foreign_entries(s->root))
            return not_a_store(s, err);
        if (!exists)
            return glarex__store_fail(
                err, GLAREX_ENOTFOUND, 404,
                "no glarex store in '%s': check the store URL (a store is made "
                "when its first artifact is created)",
                s->root);
    }
    if ((error = init_root(s, err)) < 0)
        return error;
    if (!atomic_exchange(&s->ready, 1))
        glarex__dir_sweep_tmp(s);
    return 0;
}

static int open_list(json_t **out, void *impl, const char *type_name,
                     const glarex_list_options *opts, glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : glarex__dir_list(out, impl, type_name, opts, err);
}

static int open_get(json_t **out, void *impl, const char *type_name, const char *id,
                    glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : glarex__dir_get(out, impl, type_name, id, err);
}

static int open_create(json_t **out, void *impl, const char *type_name,
                       const json_t *fields, glarex_error *err)
{
    int error = ensure_store(impl, 1, err);
    return error < 0 ? error : glarex__dir_create(out, impl, type_name, fields, err);
}

static int open_activate(json_t **out, void *impl, const char *type_name, const char *id,
                         glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : glarex__dir_activate(out, impl, type_name, id, err);
}

static int open_remove(void *impl, const char *type_name, const char *id,
                       glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : glarex__dir_remove(impl, type_name, id, err);
}

static int open_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                       const glarex__upload_src *src, glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error : glarex__dir_upload(out, impl, loc, src, err);
}

static int open_download(glarex_download_info *out, void *impl,
                         const glarex_blob_loc *loc, const glarex_digests *expect,
                         glarex_write_cb sink, void *payload, glarex_error *err)
{
    int error = ensure_store(impl, 0, err);
    return error < 0 ? error
                     : glarex__dir_download(out, impl, loc, expect, sink, payload, err);
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
    "dir",       open_list,     open_get, open_create, open_activate, open_remove,
    open_upload, open_download, dir_free, NULL,        dir_local_id,
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
    if ((error = glarex__dir_uuid4(s->absent_id, err)) < 0) {
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
