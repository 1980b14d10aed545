/* glarex_store: one front for the Glare, local directory and OCI registry backends.
 * The URL's scheme picks the backend; every call is checked here, then forwarded. */
#include "store.h"

#include "digest.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct glarex_store {
    const glarex__store_backend *backend;
    void *impl;
    char *url; /* as glarex_store_url shows it */
    const char *registry_identity; /* a registry store's, borrowed from the backend */
};

int glarex_store_options_init(glarex_store_options *opts, unsigned int version)
{
    GLAREX_ASSERT_ARG(NULL, opts);
    if (version != GLAREX_STORE_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return glarex_client_options_init(&opts->client, GLAREX_CLIENT_OPTIONS_VERSION);
}

/* {====================================================================
 * URLs
 * ==================================================================== */

/* The directory named by a file:// URL (new text), percent-decoded. Only local URLs
 * with an absolute path are accepted: file:///dir or file://localhost/dir. */
static int file_url_path(char **out, const char *url, glarex_error *err)
{
    const char *p = url + strlen("file://");
    char *path = NULL;
    size_t n = 0;

    if (strncasecmp(p, "localhost/", strlen("localhost/")) == 0)
        p += strlen("localhost");
    if (*p != '/')
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "store URL '%s' is not a local absolute path: write "
                                 "file:///absolute/dir",
                                 url);
    if (strpbrk(p, "?#"))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "store URL '%s' holds '?' or '#': percent-encode them "
                                 "(%%3F, %%23)",
                                 url);
    path = malloc(strlen(p) + 1);
    if (!path)
        return GLAREX_ENOMEM_SET(err);
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '%') {
            int hi = glarex__hex_value((unsigned char)p[i + 1]);
            int lo = hi < 0 ? -1 : glarex__hex_value((unsigned char)p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(path);
                glarex__error_set(err, GLAREX_EINVALID,
                                  "store URL '%s' has a bad percent-escape at offset %zu",
                                  url, (size_t)(p - url) + i);
                glarex__error_at(err, url, (size_t)(p - url) + i, 1,
                                 (int)((size_t)(p - url) + i + 1));
                return GLAREX_EINVALID;
            }
            path[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            path[n++] = p[i];
        }
    }
    path[n] = '\0';
    /* "/dir/" and "/dir" are the same store; keep "/" itself. */
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    *out = path;
    return 0;
}

/* "file://" + the path, percent-encoding all but unreserved characters and '/'. */
static char *file_url_of(const char *path)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t len = strlen(path);
    char *url = malloc(strlen("file://") + 3 * len + 1);
    char *q;

    if (!url)
        return NULL;
    q = url + sprintf(url, "file://");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (isalnum(c) || strchr("-._~/", c)) {
            *q++ = (char)c;
        } else {
            *q++ = '%';
            *q++ = digits[c >> 4];
            *q++ = digits[c & 15];
        }
    }
    *q = '\0';
    return url;
}

/* Length of the URL's scheme (letters, digits, '+', '-', '.' after a letter, then
 * ':'), or 0 when there is none. */
static size_t scheme_length(const char *url)
{
    size_t i = 0;
    if (!isalpha((unsigned char)url[0]))
        return 0;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' ||
           url[i] == '.')
        i++;
    return url[i] == ':' ? i : 0;
}

int glarex__store_fail(glarex_error *err, int code, int http, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    glarex__error_vset(err, code, fmt, ap);
    va_end(ap);
    if (err)
        err->http_status = http;
    return code;
}

int glarex__store_default_dir(char **out, glarex_error *err)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    const char *base, *tail;
    char *dir;

    /* The XDG spec says relative values are to be ignored. */
    if (xdg && xdg[0] == '/') {
        base = xdg;
        tail = "/glarex/store";
    } else if (home && home[0] == '/') {
        base = home;
        tail = "/.local/share/glarex/store";
    } else {
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "no default store directory: neither XDG_DATA_HOME nor "
                                 "HOME is an absolute path; give a file:/// URL");
    }
    dir = malloc(strlen(base) + strlen(tail) + 1);
    if (!dir)
        return GLAREX_ENOMEM_SET(err);
    strcpy(dir, base);
    /* "$HOME/" + "/.local" would give "//": drop the base's trailing slashes. */
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    strcat(dir, tail);
    *out = dir;
    return 0;
}

/* }==================================================================== */

int glarex_store_open(glarex_store **out, const glarex_store_options *opts,
                      glarex_error *err)
{
    glarex_store_options defaults = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    char *dir = NULL;
    const char *url;
    size_t slen;
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->version != GLAREX_STORE_OPTIONS_VERSION)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_store_options: unknown version %u (expected %d)",
                                 opts->version, GLAREX_STORE_OPTIONS_VERSION);
    url = opts->url;

    store = calloc(1, sizeof(*store));
    if (!store)
        return GLAREX_ENOMEM_SET(err);

    if (!url) {
        if ((error = glarex__store_default_dir(&dir, err)) < 0)
            goto done;
    } else if ((slen = scheme_length(url)) == 0 || strncmp(url + slen, "://", 3) != 0) {
        error = glarex__error_set(err, GLAREX_EINVALID,
                                  "store URL '%s' %s: use http://, https://, oci:// or "
                                  "file:///absolute/dir",
                                  url,
                                  slen ? "lacks '//' after its scheme" : "has no scheme");
        goto done;
    } else if ((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
               (slen == 5 && strncasecmp(url, "https", 5) == 0)) {
        if ((error = glarex__store_glare_open(&store->impl, &store->backend,
                                              &opts->client, url, err)) < 0)
            goto done;
        if (!(store->url = strdup(url))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if ((slen == 3 && strncasecmp(url, "oci", 3) == 0) ||
               (slen == 8 && strncasecmp(url, "oci+http", 8) == 0)) {
        if ((error = glarex__store_oci_open(&store->impl, &store->backend,
                                            &store->registry_identity, &opts->client, url,
                                            opts->max_blob_size, err)) < 0)
            goto done;
        if (!(store->url = strdup(url))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if (slen == 4 && strncasecmp(url, "file", 4) == 0) {
        if ((error = file_url_path(&dir, url, err)) < 0)
            goto done;
    } else {
        error = glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                  "store URL '%s' has the unsupported scheme '%.*s': use "
                                  "http://, https://, oci:// or file:///absolute/dir",
                                  url, (int)slen, url);
        goto done;
    }

    if (dir) {
        if ((error = glarex__store_dir_open(&store->impl, &store->backend, dir,
                                            opts->max_blob_size, err)) < 0)
            goto done;
        if (!(store->url = file_url_of(dir))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    }

    *out = store;
    store = NULL;
done:
    free(dir);
    glarex_store_free(store);
    return error;
}

void glarex_store_free(glarex_store *store)
{
    if (!store)
        return;
    if (store->backend && store->impl)
        store->backend->free(store->impl);
    free(store->url);
    free(store);
}

const char *glarex_store_url(const glarex_store *store)
{
    return store ? store->url : NULL;
}

/* {====================================================================
 * Calls: check, then forward
 * ==================================================================== */

#define STORE_CHECK_OUT(err, out)                                                        \
    do {                                                                                 \
        GLAREX_ERROR_RESET(err);                                                         \
        GLAREX_ASSERT_ARG(err, out);                                                     \
        *(out) = NULL;                                                                   \
    } while (0)

static int check_loc(const glarex_blob_loc *loc, glarex_error *err)
{
    GLAREX_ASSERT_ARG(err, loc);
    GLAREX_ASSERT_ARG(err, loc->type_name && *loc->type_name);
    GLAREX_ASSERT_ARG(err, loc->id && *loc->id);
    GLAREX_ASSERT_ARG(err, loc->field && *loc->field);
    GLAREX_ASSERT_ARG(err, !loc->key || *loc->key);
    return 0;
}

int glarex_store_list(json_t **out, glarex_store *store, const char *type_name,
                      const glarex_list_options *opts, glarex_error *err)
{
    glarex_list_options defaults = GLAREX_LIST_OPTIONS_INIT;

    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, type_name);
    if (!opts)
        opts = &defaults;
    if (opts->version != GLAREX_LIST_OPTIONS_VERSION)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_list_options: unknown version %u (expected %d)",
                                 opts->version, GLAREX_LIST_OPTIONS_VERSION);
    GLAREX_ASSERT_ARG(err, opts->nfilters == 0 || opts->filters);
    return store->backend->list(out, store->impl, type_name, opts, err);
}

int glarex_store_get(json_t **out, glarex_store *store, const char *type_name,
                     const char *id, glarex_error *err)
{
    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, type_name);
    GLAREX_ASSERT_ARG(err, id);
    return store->backend->get(out, store->impl, type_name, id, err);
}

int glarex_store_create(json_t **out, glarex_store *store, const char *type_name,
                        const json_t *fields, glarex_error *err)
{
    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, type_name);
    GLAREX_ASSERT_ARG(err, fields);
    return store->backend->create(out, store->impl, type_name, fields, err);
}

int glarex_store_activate(json_t **out, glarex_store *store, const char *type_name,
                          const char *id, glarex_error *err)
{
    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, type_name);
    GLAREX_ASSERT_ARG(err, id);
    return store->backend->activate(out, store->impl, type_name, id, err);
}

int glarex_store_delete(glarex_store *store, const char *type_name, const char *id,
                        glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, type_name);
    GLAREX_ASSERT_ARG(err, id);
    return store->backend->remove(store->impl, type_name, id, err);
}

int glarex_store_upload_file(json_t **out, glarex_store *store,
                             const glarex_blob_loc *loc, const char *path,
                             const char *content_type, glarex_progress_cb progress,
                             void *payload, glarex_error *err)
{
    glarex__upload_src src = {path, NULL, 0, content_type, progress, payload};
    int error;

    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, path);
    if ((error = check_loc(loc, err)) < 0)
        return error;
    return store->backend->upload(out, store->impl, loc, &src, err);
}

int glarex_store_upload_buffer(json_t **out, glarex_store *store,
                               const glarex_blob_loc *loc, const void *data, size_t size,
                               const char *content_type, glarex_error *err)
{
    glarex__upload_src src = {NULL, data, size, content_type, NULL, NULL};
    int error;

    STORE_CHECK_OUT(err, out);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, data || size == 0);
    if ((error = check_loc(loc, err)) < 0)
        return error;
    if (!data)
        src.data = "";
    return store->backend->upload(out, store->impl, loc, &src, err);
}

int glarex_store_download(glarex_download_info *out, glarex_store *store,
                          const glarex_blob_loc *loc, const glarex_digests *expect,
                          glarex_write_cb write, void *payload, glarex_error *err)
{
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, store);
    GLAREX_ASSERT_ARG(err, write);
    if ((error = check_loc(loc, err)) < 0)
        return error;
    if (out)
        memset(out, 0, sizeof(*out));
    return store->backend->download(out, store->impl, loc, expect, write, payload, err);
}

/* }==================================================================== */

const char *glarex__store_local_id(const glarex_store *store)
{
    return store && store->backend->local_id ? store->backend->local_id(store->impl) : NULL;
}

void glarex__store_set_deadline(glarex_store *store, int64_t deadline_ms)
{
    if (store && store->backend->set_deadline)
        store->backend->set_deadline(store->impl, deadline_ms);
}

const char *glarex__store_registry_identity(const glarex_store *store)
{
    return store ? store->registry_identity : NULL;
}
