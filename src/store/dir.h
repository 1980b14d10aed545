/*
 * What the parts of the directory store share (dir.c describes the store's layout).
 * The parts depend on each other one way only:
 *
 *   dir.c (open, the backend)  ->  dir_artifact.c, dir_blob.c, dir_list.c
 *                              ->  dir_fields.c  ->  dir_record.c  ->  dir_fs.c
 *
 * Only the store's files include this header; the rest of glarex knows the store by
 * glarex__store_dir_open alone (store.h).
 */
#ifndef GLAREX_STORE_DIR_H
#define GLAREX_STORE_DIR_H

#include "store.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define RECORD_FORMAT 1
#define MAX_NAME_LENGTH GLAREX_LOCAL_MAX_NAME_LENGTH

typedef struct dir_store {
    char *root;
    uint64_t max_blob_size; /* 0: no cap */
    atomic_int ready;       /* ROOT was checked to be a glarex store (see ensure_store) */
    char store_id[37];      /* from glarex-store.json, once ready */
    char absent_id[37];     /* names a store that did not exist when opened */
} dir_store;

static inline const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static inline int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* {====================================================================
 * File system primitives (dir_fs.c)
 * ==================================================================== */

/* Records a failed system call on `path` ("cannot ACTION 'PATH': ..."); returns the code.
 */
int glarex__dir_fail_errno(glarex_error *err, int e, const char *action,
                           const char *path);

/* A formatted string (new), or NULL when out of memory. */
char *glarex__dir_xasprintf(const char *fmt, ...) GLAREX_PRINTF(1, 2);

/* A path under the store root (new), or NULL when out of memory. */
char *glarex__dir_store_path(const dir_store *s, const char *fmt, ...)
    GLAREX_PRINTF(2, 3);

/* A random (version 4) UUID in its canonical lower-case form. */
int glarex__dir_uuid4(char out[37], glarex_error *err);

/* Exactly the lower-case 8-4-4-4-12 form this store creates. */
int glarex__dir_is_uuid(const char *s);

/* Now as Glare prints it ("2026-11-24T16:55:39Z"), plus nanoseconds for ordering
 * (`ns` may be NULL). */
void glarex__dir_now_stamp(char out[21], long long *ns);

int glarex__dir_fsync_dir(const char *dir, glarex_error *err);
int glarex__dir_make_dir(const char *path, glarex_error *err);

/* mkdir -p for the store root (absolute). */
int glarex__dir_make_dirs(const char *path, glarex_error *err);

/* write() until all is written; -1 with errno set on failure. */
int glarex__dir_write_all(int fd, const void *data, size_t len);

/* A new temporary file in ROOT/tmp, opened for writing; its path is returned (new). */
int glarex__dir_open_temp(int *fd_out, char **path_out, const dir_store *s,
                          const char *suffix, glarex_error *err);

/* fsyncs and closes a temporary file; on failure removes it. */
int glarex__dir_finish_temp(int fd, const char *path, glarex_error *err);

/* A complete, fsynced temporary file holding `len` bytes (path new). */
int glarex__dir_write_temp(char **path_out, const dir_store *s, const void *data,
                           size_t len, glarex_error *err);

/* Replaces `dest` by the JSON atomically: temp file, fsync, rename, fsync dir. */
int glarex__dir_write_json_atomic(const dir_store *s, const char *dest, const json_t *j,
                                  glarex_error *err);

/* rm -rf, for trees this store made (tmp debris, deleted artifacts). Best effort. */
void glarex__dir_remove_tree(const char *path);

/* The store-wide lock, held around every read-modify-write of metadata (`*fd_out`
 * is what glarex__dir_unlock_store takes). */
int glarex__dir_lock_store(int *fd_out, const dir_store *s, glarex_error *err);
void glarex__dir_unlock_store(int fd);

/* Removes tmp/ debris of processes that died mid-write long ago. */
void glarex__dir_sweep_tmp(const dir_store *s);

/* }==================================================================== */

/* {====================================================================
 * Artifact types and records (dir_record.c)
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

/* The known type named `name`, or NULL. */
const art_type *glarex__dir_find_type(const char *name);

/* The blob field `name` of the type, or NULL. */
const blob_field *glarex__dir_find_field(const art_type *t, const char *name);

/* Glare's 404 for a type it does not know; returns GLAREX_ENOTFOUND. */
int glarex__dir_type_not_found(glarex_error *err, const char *what,
                               const char *type_name);

/* Reads ROOT/<type>/<id>/artifact.json (new). GLAREX_ENOTFOUND when there is none. */
int glarex__dir_read_record(json_t **out, const dir_store *s, const char *what,
                            const art_type *t, const char *id, glarex_error *err);

/* The artifact JSON of a record (borrowed). */
static inline json_t *rec_artifact(const json_t *rec)
{
    return json_object_get(rec, "artifact");
}

static inline const char *af_str(const json_t *af, const char *field)
{
    return json_string_value(json_object_get(af, field));
}

/* A new reference to a copy of the artifact JSON of a record. */
static inline json_t *artifact_out(const json_t *rec)
{
    return json_deep_copy(rec_artifact(rec));
}

/* }==================================================================== */

/* {====================================================================
 * Fields as Glare checks them (dir_fields.c)
 * ==================================================================== */

/* Glare wraps every field coercion error as "Type: T. Field: F. Exception: ...". */
int glarex__dir_field_error(glarex_error *err, const char *what, const art_type *t,
                            const char *field, const char *fmt, ...) GLAREX_PRINTF(5, 6);

/* Coerces a string field value (new), checking its length (NUL bytes are refused). */
int glarex__dir_string_field(char **out, const json_t *v, size_t min, size_t max,
                             const char *what, const art_type *t, const char *field,
                             glarex_error *err);

/* Normalises a version as Glare does (Version.coerce of str(value)), with the
 * messages Glare gives. `out` has GLAREX__VERSION_NORMAL_SIZE(strlen(text)) bytes. */
int glarex__dir_normalize_version(char *out, size_t size, const char *what,
                                  const art_type *t, const char *text, glarex_error *err);

/* The normalised version of a create request (new text). */
int glarex__dir_request_version(char **out, const json_t *v, const char *what,
                                const art_type *t, glarex_error *err);

/* The artifact JSON of a new draft (new), in Glare's field order, with the request's
 * other fields checked and set. */
int glarex__dir_new_artifact(json_t **out, const art_type *t, const char *what,
                             const json_t *fields, const char *id, const char *name,
                             const char *version, const char *stamp, glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * The backend's calls (dir_artifact.c, dir_blob.c, dir_list.c), on a store that
 * exists (dir.c checks that first), with the contracts of glarex__store_backend
 * ==================================================================== */

int glarex__dir_create(json_t **out, void *impl, const char *type_name,
                       const json_t *fields, glarex_error *err);
int glarex__dir_get(json_t **out, void *impl, const char *type_name, const char *id,
                    glarex_error *err);
int glarex__dir_activate(json_t **out, void *impl, const char *type_name, const char *id,
                         glarex_error *err);
int glarex__dir_remove(void *impl, const char *type_name, const char *id,
                       glarex_error *err);
int glarex__dir_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                       const glarex__upload_src *src, glarex_error *err);
int glarex__dir_download(glarex_download_info *out, void *impl,
                         const glarex_blob_loc *loc, const glarex_digests *expect,
                         glarex_write_cb sink, void *payload, glarex_error *err);
int glarex__dir_list(json_t **out, void *impl, const char *type_name,
                     const glarex_list_options *opts, glarex_error *err);

/* }==================================================================== */

#endif
