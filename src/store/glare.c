/* The Glare backend of glarex_store: a thin forwarder to a glarex_client. */
#include "store.h"
#include "client.h"

#include <stdlib.h>

static int glare_list(json_t **out, void *impl, const char *type_name,
                      const glarex_list_options *opts, glarex_error *err)
{
    return glarex_client_list(out, impl, type_name, opts, err);
}

static int glare_get(json_t **out, void *impl, const char *type_name, const char *id,
                     glarex_error *err)
{
    return glarex_client_get(out, impl, type_name, id, err);
}

static int glare_create(json_t **out, void *impl, const char *type_name,
                        const json_t *fields, glarex_error *err)
{
    return glarex_client_create(out, impl, type_name, fields, err);
}

static int glare_activate(json_t **out, void *impl, const char *type_name, const char *id,
                          glarex_error *err)
{
    return glarex_client_activate(out, impl, type_name, id, err);
}

static int glare_remove(void *impl, const char *type_name, const char *id,
                        glarex_error *err)
{
    return glarex_client_delete(impl, type_name, id, err);
}

static int glare_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                        const glarex__upload_src *src, glarex_error *err)
{
    if (src->path)
        return glarex_client_upload_file(out, impl, loc, src->path, src->content_type,
                                         src->progress, src->payload, err);
    return glarex_client_upload_buffer(out, impl, loc, src->data, src->size,
                                       src->content_type, err);
}

static int glare_download(glarex_download_info *out, void *impl,
                          const glarex_blob_loc *loc, const glarex_digests *expect,
                          glarex_write_cb write, void *payload, glarex_error *err)
{
    return glarex_client_download(out, impl, loc, expect, write, payload, err);
}

static void glare_free(void *impl)
{
    glarex_client_free(impl);
}

static void glare_set_deadline(void *impl, int64_t deadline_ms)
{
    glarex__client_set_deadline(impl, deadline_ms);
}

static const glarex__store_backend glare_backend = {
    "glare",      glare_list,   glare_get,      glare_create, glare_activate,
    glare_remove, glare_upload, glare_download, glare_free,   glare_set_deadline,
    NULL, /* named by its URL */
};

int glarex__store_glare_open(void **out, const glarex__store_backend **backend,
                             const glarex_client_options *opts, const char *url,
                             glarex_error *err)
{
    glarex_client_options copts = *opts;
    glarex_client *client = NULL;
    int error;

    /* The store's URL wins over the client options' own (documented as ignored). */
    copts.url = url;
    if ((error = glarex_client_new(&client, &copts, err)) < 0)
        return error;
    *out = client;
    *backend = &glare_backend;
    return 0;
}
