/* Mistral v2 REST API: create a workflow from its YAML text, and delete it again (the
 * CLI's rollback). Mistral's errors are {"faultstring": "..."}. */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

struct glarex_mistral {
    glarex__peer peer;
    char *v2; /* base URL ending in /v2 */
};

int glarex_mistral_options_init(glarex_mistral_options *opts, unsigned int version)
{
    if (!opts || version != GLAREX_MISTRAL_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return glarex_client_options_init(&opts->client, GLAREX_CLIENT_OPTIONS_VERSION);
}

int glarex_mistral_new(glarex_mistral **out, const glarex_mistral_options *opts,
                       glarex_error *err)
{
    glarex_mistral *m;
    size_t n;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, opts);
    if (opts->version != GLAREX_MISTRAL_OPTIONS_VERSION)
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "glarex_mistral_options: unknown version %u (expected %d)", opts->version,
            GLAREX_MISTRAL_OPTIONS_VERSION);
    m = calloc(1, sizeof(*m));
    if (!m)
        return GLAREX_ENOMEM_SET(err);
    if ((error = glarex__peer_open(&m->peer, "Mistral URL", opts->url, &opts->client,
                                   err)) < 0) {
        free(m);
        return error;
    }
    /* "http://host:8989" and "http://host:8989/v2" name the same API. */
    n = strlen(m->peer.base);
    m->v2 = malloc(n + sizeof("/v2"));
    if (!m->v2) {
        glarex_mistral_free(m);
        return GLAREX_ENOMEM_SET(err);
    }
    sprintf(m->v2, "%s%s", m->peer.base,
            n >= 3 && !strcmp(m->peer.base + n - 3, "/v2") ? "" : "/v2");
    *out = m;
    return 0;
}

void glarex_mistral_free(glarex_mistral *m)
{
    if (!m)
        return;
    glarex__peer_close(&m->peer);
    free(m->v2);
    free(m);
}

/* Records the error of a non-2xx answer: Mistral's faultstring when there is one, else
 * whatever the shared transport makes of the body. */
static int mistral_error(glarex_error *err, const char *what,
                         const glarex__http_response *resp)
{
    json_t *body =
        resp->body.ptr ? json_loadb(resp->body.ptr, resp->body.size, 0, NULL) : NULL;
    const char *fault = json_string_value(json_object_get(body, "faultstring"));
    int code;

    if (!fault || !fault[0]) {
        json_decref(body);
        return glarex__http_status_error(err, what, resp);
    }
    char text[320];
    size_t o = 0;
    /* one line: Mistral's validation errors span several */
    for (const char *p = fault; *p && o + 1 < sizeof(text); p++)
        if ((unsigned char)*p >= 0x20 || *p == '\t')
            text[o++] = *p;
        else if (o && text[o - 1] != ' ')
            text[o++] = ' ';
    text[o] = '\0';
    code = glarex__error_set(err, glarex__http_status_code(resp->status), "%s: %ld %s", what,
                             resp->status, text);
    if (err)
        err->http_status = (int)resp->status;
    json_decref(body);
    return code;
}

int glarex_mistral_workflow_create(json_t **out, glarex_mistral *m,
                                   const char *definition, size_t len, glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    json_t *answer = NULL, *wfs;
    char *url = NULL;
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, m);
    GLAREX_ASSERT_ARG(err, definition);
    if (asprintf(&url, "%s/workflows", m->v2) < 0) {
        url = NULL;
        return GLAREX_ENOMEM_SET(err);
    }
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.what = "POST /v2/workflows";
    req.with_auth = 1;
    req.accept = "*/*"; /* Mistral answers 406 to "application/json" here */
    req.content_type = "text/plain";
    req.has_body = 1;
    req.body = definition;
    req.body_size = len;
    req.trace_body = "@-";
    req.accept_any = 1;
    req.max_body = m->peer.max_json;
    if ((error = glarex__http_perform(&resp, m->peer.http, &req, err)) < 0)
        goto done;
    if (resp.status < 200 || resp.status >= 300) {
        error = mistral_error(err, req.what, &resp);
        goto done;
    }
    if ((error = glarex__peer_json(&answer, &resp.body, req.what, err)) < 0)
        goto done;
    wfs = json_object_get(answer, "workflows");
    if (!json_is_array(wfs)) {
        error = glarex__error_set(err, GLAREX_EPROTOCOL,
                                  "%s: the answer has no \"workflows\" array", req.what);
        goto done;
    }
    *out = json_incref(wfs);

done:
    json_decref(answer);
    glarex__http_response_dispose(&resp);
    free(url);
    return error;
}

int glarex_mistral_workflow_delete(glarex_mistral *m, const char *identifier,
                                   glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    char *url = NULL, *id = NULL;
    char what[300];
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, m);
    GLAREX_ASSERT_ARG(err, identifier && identifier[0]);
    id = glarex__http_escape(identifier);
    if (!id || asprintf(&url, "%s/workflows/%s", m->v2, id) < 0) {
        free(id);
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(what, sizeof(what), "DELETE /v2/workflows/%s", id);
    memset(&req, 0, sizeof(req));
    req.method = "DELETE";
    req.url = url;
    req.what = what;
    req.with_auth = 1;
    req.accept = "application/json";
    req.idempotent = 1;
    req.accept_any = 1;
    req.max_body = m->peer.max_json;
    if ((error = glarex__http_perform(&resp, m->peer.http, &req, err)) < 0)
        goto done;
    if (resp.status < 200 || resp.status >= 300)
        error = mistral_error(err, req.what, &resp);

done:
    glarex__http_response_dispose(&resp);
    free(url);
    free(id);
    return error;
}
