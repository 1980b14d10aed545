/* Store backends behind glarex_store: Glare over HTTP, a local directory, or an OCI
 * registry. */
#ifndef GLAREX_STORE_H
#define GLAREX_STORE_H

#include "common.h"

#include <stdint.h>

/* Where the bytes of an upload come from: the file at `path` (streamed), or, when
 * `path` is NULL, `size` bytes at `data`. Everything is borrowed for the call. */
typedef struct glarex__upload_src {
    const char *path;
    const void *data;
    size_t size;
    const char *content_type; /* NULL = application/octet-stream */
    glarex_progress_cb progress;
    void *payload;
} glarex__upload_src;

/*
 * One backend. `impl` is the backend's own state. Every call has the contract of the
 * public glarex_store_* call of the same name: arguments are already checked (non-NULL
 * where the public API requires it), `*out` is only written on success, and errors
 * go to `err` (which may be NULL).
 */
typedef struct glarex__store_backend {
    const char *name; /* "glare", "dir" or "oci", for messages */
    int (*list)(json_t **out, void *impl, const char *type_name,
                const glarex_list_options *opts, glarex_error *err);
    int (*get)(json_t **out, void *impl, const char *type_name, const char *id,
               glarex_error *err);
    int (*create)(json_t **out, void *impl, const char *type_name, const json_t *fields,
                  glarex_error *err);
    int (*activate)(json_t **out, void *impl, const char *type_name, const char *id,
                    glarex_error *err);
    int (*remove)(void *impl, const char *type_name, const char *id, glarex_error *err);
    int (*upload)(json_t **out, void *impl, const glarex_blob_loc *loc,
                  const glarex__upload_src *src, glarex_error *err);
    int (*download)(glarex_download_info *out, void *impl, const glarex_blob_loc *loc,
                    const glarex_digests *expect, glarex_write_cb write, void *payload,
                    glarex_error *err);
    void (*free)(void *impl);
    /* Bounds later requests by an absolute CLOCK_MONOTONIC time in ms (0: no bound);
     * NULL for backends that make no network requests. */
    void (*set_deadline)(void *impl, int64_t deadline_ms);
    /* The store's own random id, kept in its metadata; NULL for backends named by
     * their URL. */
    const char *(*local_id)(void *impl);
} glarex__store_backend;

/* The store's own id (a local store's random id, borrowed), or NULL when the store is
 * named by its URL (a Glare server). */
const char *glarex__store_local_id(const glarex_store *store);

/* Bounds the store's later requests (see the backend's set_deadline). */
void glarex__store_set_deadline(glarex_store *store, int64_t deadline_ms);

/* The Glare backend: a glarex_client for `opts` with its url replaced by `url`. */
int glarex__store_glare_open(void **out, const glarex__store_backend **backend,
                             const glarex_client_options *opts, const char *url,
                             glarex_error *err);

/* The directory backend rooted at the absolute path `root` (created when missing).
 * `max_blob_size` 0 means no cap. */
int glarex__store_dir_open(void **out, const glarex__store_backend **backend,
                           const char *root, uint64_t max_blob_size, glarex_error *err);

/* The OCI registry backend for an oci:// or oci+http:// `url` (docs/store.md), with
 * the HTTP settings of `copts`; `*identity` (borrowed from the backend) names the
 * registry, namespace and user for scope keys. `max_blob_size` 0 means 10 MiB. */
int glarex__store_oci_open(void **out, const glarex__store_backend **backend,
                           const char **identity, const glarex_client_options *copts,
                           const char *url, uint64_t max_blob_size, glarex_error *err);

/* The identity of a registry store (borrowed), or NULL for other stores. */
const char *glarex__store_registry_identity(const glarex_store *store);

/* The default local store directory: $XDG_DATA_HOME/glarex/store when XDG_DATA_HOME is
 * an absolute path, otherwise $HOME/.local/share/glarex/store (new text). */
int glarex__store_default_dir(char **out, glarex_error *err);

/* Records an error Glare would have answered with HTTP `http`, so callers see the same
 * http_status from every backend. Returns `code`. */
int glarex__store_fail(glarex_error *err, int code, int http, const char *fmt, ...)
    GLAREX_PRINTF(4, 5);

#endif
