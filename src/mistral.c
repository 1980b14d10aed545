/* Mistral v2 REST API: create or update workflows from their YAML text, read one back,
 * and delete one (the CLI's rollback). Mistral's errors are {"faultstring": "..."}; the
 * last one is kept whole, beyond what fits a glarex_error. */
#include "peer.h"

#include <stdlib.h>
#include <string.h>

struct glarex_mistral {
    glarex__peer peer;
    char *v2;    /* base URL ending in /v2 */
    char *fault; /* the last failed call's faultstring, whole (owned), or NULL */
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
    free(m->fault);
    free(m);
}

/* Where the last escape or character of p..q starts: what a cut may have split. */
static const char *last_char(const char *p, const char *q)
{
    const char *b = q - 1;
    for (const char *t = q - 1; t >= p && t > q - 12; t--)
        if (*t == '\\')
            return t;
    while (b > p && ((unsigned char)*b & 0xC0) == 0x80)
        b--;
    return b;
}

/* The text of a JSON string that starts at `p` (after its opening quote) and may be
 * cut short at `end`, decoded (new), or NULL. */
static json_t *string_prefix(const char *p, const char *end)
{
    const char *q = p;
    json_t *s = NULL;
    char *quoted;

    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q > end)
        q = end;
    if (!(quoted = malloc((size_t)(q - p) + 3)))
        return NULL;
    for (int tries = 0; !s && q > p && tries < 8; tries++) {
        quoted[0] = '"';
        memcpy(quoted + 1, p, (size_t)(q - p));
        quoted[q - p + 1] = '"';
        s = json_loadb(quoted, (size_t)(q - p) + 2, JSON_DECODE_ANY, NULL);
        if (!s)
            q = last_char(p, q); /* the cut split it: drop it */
    }
    free(quoted);
    return s;
}

/* Mistral's faultstring (new), or NULL. Schema errors run to 128 KB, beyond what the
 * transport keeps of an error body (64 KiB): a cut body gives the string's start. */
static json_t *faultstring(const glarex_buf *body)
{
    static const char key[] = "\"faultstring\"";
    json_t *root, *fault = NULL;
    const char *p, *end;

    if (!body->ptr)
        return NULL;
    root = json_loadb(body->ptr, body->size, 0, NULL);
    if (root) {
        fault = json_object_get(root, "faultstring");
        fault = json_is_string(fault) ? json_incref(fault) : NULL;
        json_decref(root);
        return fault;
    }
    end = body->ptr + body->size;
    p = memmem(body->ptr, body->size, key, sizeof(key) - 1);
    if (!p)
        return NULL;
    for (p += sizeof(key) - 1; p < end && strchr(" \t\r\n", *p); p++)
        ;
    if (p >= end || *p++ != ':')
        return NULL;
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    return p < end && *p == '"' ? string_prefix(p + 1, end) : NULL;
}

/* Records the error of a non-2xx answer: Mistral's faultstring when there is one, else
 * whatever the shared transport makes of the body. */
static int mistral_error(glarex_mistral *m, glarex_error *err, const char *what,
                         const glarex__http_response *resp)
{
    json_t *fault_json = faultstring(&resp->body);
    const char *fault = json_string_value(fault_json);
    int code;

    if (!fault || !fault[0]) {
        json_decref(fault_json);
        return glarex__http_status_error(err, what, resp);
    }
    m->fault = strdup(fault); /* NULL when out of memory: the message still has most */
    char text[GLAREX_ERROR_MESSAGE_LENGTH];
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
    json_decref(fault_json);
    return code;
}

const char *glarex_mistral_fault(const glarex_mistral *m)
{
    return m ? m->fault : NULL;
}

/* Starts a call: forgets the previous call's fault. */
static void begin_call(glarex_mistral *m)
{
    free(m->fault);
    m->fault = NULL;
}

/* POST or PUT /v2/workflows with a definition; *out the "workflows" array. */
static int send_definition(json_t **out, glarex_mistral *m, const char *method,
                           const char *definition, size_t len, glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    json_t *answer = NULL, *wfs;
    char *url = NULL;
    char what[32];
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, m);
    GLAREX_ASSERT_ARG(err, definition);
    begin_call(m);
    if (asprintf(&url, "%s/workflows", m->v2) < 0) {
        url = NULL;
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(what, sizeof(what), "%s /v2/workflows", method);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.what = what;
    req.with_auth = 1;
    req.accept = "*/*"; /* Mistral answers 406 to "application/json" here */
    req.content_type = "text/plain";
    req.has_body = 1;
    req.body = definition;
    req.body_size = len;
    req.trace_body = "@-";
    req.idempotent = strcmp(method, "PUT") == 0; /* the same update twice is one */
    req.accept_any = 1;
    req.whole_error_body = 1; /* its faultstring, whole */
    req.max_body = m->peer.max_json;
    if ((error = glarex__http_perform(&resp, m->peer.http, &req, err)) < 0)
        goto done;
    if (resp.status < 200 || resp.status >= 300) {
        error = mistral_error(m, err, req.what, &resp);
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

int glarex_mistral_workflow_create(json_t **out, glarex_mistral *m,
                                   const char *definition, size_t len, glarex_error *err)
{
    return send_definition(out, m, "POST", definition, len, err);
}

int glarex_mistral_workflow_update(json_t **out, glarex_mistral *m,
                                   const char *definition, size_t len, glarex_error *err)
{
    return send_definition(out, m, "PUT", definition, len, err);
}

/* GET or DELETE /v2/workflows/{identifier}; *out (GET only) the answer. */
static int workflow_call(json_t **out, glarex_mistral *m, const char *method,
                         const char *identifier, glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    char *url = NULL, *id = NULL;
    char what[300];
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, m);
    GLAREX_ASSERT_ARG(err, identifier && identifier[0]);
    begin_call(m);
    id = glarex__http_escape(identifier);
    if (!id || asprintf(&url, "%s/workflows/%s", m->v2, id) < 0) {
        free(id);
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(what, sizeof(what), "%s /v2/workflows/%s", method, id);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.what = what;
    req.with_auth = 1;
    req.accept = "application/json";
    req.idempotent = 1;
    req.accept_any = 1;
    req.whole_error_body = 1; /* its faultstring, whole */
    req.max_body = m->peer.max_json;
    if ((error = glarex__http_perform(&resp, m->peer.http, &req, err)) < 0)
        goto done;
    if (resp.status < 200 || resp.status >= 300)
        error = mistral_error(m, err, req.what, &resp);
    else if (out)
        error = glarex__peer_json(out, &resp.body, req.what, err);

done:
    glarex__http_response_dispose(&resp);
    free(url);
    free(id);
    return error;
}

int glarex_mistral_workflow_get(json_t **out, glarex_mistral *m, const char *identifier,
                                glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    return workflow_call(out, m, "GET", identifier, err);
}

int glarex_mistral_workflow_delete(glarex_mistral *m, const char *identifier,
                                   glarex_error *err)
{
    return workflow_call(NULL, m, "DELETE", identifier, err);
}
