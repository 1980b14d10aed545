/* Glare v1 client: the public glarex_client_* calls on top of the transport (http.c). */
#include "client.h"

#include "digest.h"
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_STALL_TIMEOUT_MS 30000L
#define DEFAULT_MAX_RETRIES 3
#define DEFAULT_RETRY_BASE_MS 200L
#define DEFAULT_RETRY_MAX_MS 5000L
#define DEFAULT_MAX_JSON_SIZE (16u * 1024 * 1024)
/* A server that hands out endless distinct `next` links is cut off here. */
#define MAX_LIST_PAGES 10000

struct glarex_client {
    glarex_client_options opts; /* copy; its strings point at the copies below */
    char *url;                  /* base URL without a trailing '/' */
    char *auth_token;
    char *noauth_project;
    char *noauth_user;
    char *noauth_roles;
    char *ca_file;
    char *client_cert;
    char *client_key;
    char **redirect_hosts; /* NULL-terminated copy, or NULL */
    glarex__http *http;
};

/* {====================================================================
 * Process-wide init
 * ==================================================================== */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status = CURLE_OK; /* written once, inside pthread_once */

static void global_init_once(void)
{
    global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int glarex_global_init(glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    if (pthread_once(&global_once, global_init_once) != 0)
        return glarex__error_set(err, GLAREX_ERROR, "global init: pthread_once failed");
    if (global_status != CURLE_OK)
        return glarex__error_set(err, GLAREX_ERROR, "libcurl global init: %s",
                                 curl_easy_strerror(global_status));
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * Helpers
 * ==================================================================== */

static char *xasprintf(const char *fmt, ...) GLAREX_PRINTF(1, 2);
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

static int protocol_error(glarex_error *err, const char *what, const char *fmt, ...)
    GLAREX_PRINTF(3, 4);
static int protocol_error(glarex_error *err, const char *what, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return glarex__error_set(err, GLAREX_EPROTOCOL, "%s: malformed response: %s", what,
                             detail);
}

/* Nonzero when `s` holds a byte that must never reach an HTTP header or URL. */
static int has_control(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
}

/*
 * Glare under Python 3 reads the request path as latin-1, so a blob-dict key sent as
 * UTF-8 is stored, and listed, as its bytes taken one by one as characters: "résumé"
 * comes back as "rÃ©sumÃ©" (glare-api.md §15). A listed key made only of U+0001..U+00FF
 * whose bytes are valid UTF-8 is that UTF-8 text: returns it (new), or NULL when the key
 * is to stay as listed. Requests percent-encode the UTF-8 again, which the server reads
 * back into the stored key.
 */
static char *listed_key_text(const char *key)
{
    const unsigned char *k = (const unsigned char *)key;
    char *text = malloc(strlen(key) + 1);
    size_t n = 0;
    int mangled = 0;
    json_t *check;

    if (!text)
        return NULL;
    while (*k) {
        if (*k < 0x80) {
            text[n++] = (char)*k++;
        } else if ((*k == 0xc2 || *k == 0xc3) && (k[1] & 0xc0) == 0x80) {
            text[n++] = (char)(((k[0] & 0x03) << 6) | (k[1] & 0x3f));
            k += 2;
            mangled = 1;
        } else { /* a character above U+00FF: the key was not read as latin-1 */
            free(text);
            return NULL;
        }
    }
    text[n] = '\0';
    check = mangled ? json_stringn(text, n) : NULL; /* NULL: not valid UTF-8 */
    if (!check) {
        free(text);
        return NULL;
    }
    json_decref(check);
    return text;
}

/* Gives the blob-dict keys of artifact `a` back as the text they were uploaded as. A key
 * whose text is already listed as well stays as it is. */
static int restore_blob_keys(json_t *a)
{
    const char *field, *key;
    json_t *dict, *blob;

    json_object_foreach(a, field, dict) {
        json_t *restored;
        int changed = 0, non_ascii = 0;

        if (!json_is_object(dict))
            continue;
        json_object_foreach(dict, key, blob) {
            for (const char *k = key; *k && json_is_object(blob); k++)
                non_ascii |= (unsigned char)*k >= 0x80;
        }
        if (!non_ascii) /* the common case: nothing to restore */
            continue;
        if (!(restored = json_object()))
            return GLAREX_ENOMEM;
        json_object_foreach(dict, key, blob) {
            char *text = json_is_object(blob) ? listed_key_text(key) : NULL;
            int clash = text && json_object_get(dict, text) != NULL;
            if (json_object_set(restored, text && !clash ? text : key, blob) < 0) {
                free(text);
                json_decref(restored);
                return GLAREX_ENOMEM;
            }
            changed |= text && !clash;
            free(text);
        }
        if (changed && json_object_set(a, field, restored) < 0) {
            json_decref(restored);
            return GLAREX_ENOMEM;
        }
        json_decref(restored);
    }
    return 0;
}

/* Artifact JSON is untrusted: what the callers read must have the right type. Blob-dict
 * keys are restored to their text (restore_blob_keys). */
static int check_artifact(glarex_error *err, const char *what, json_t *a)
{
    static const char *const strings[] = {"name", "version", "status"};

    if (!json_is_object(a))
        return protocol_error(err, what, "the artifact is not a JSON object");
    if (!json_is_string(json_object_get(a, "id")))
        return protocol_error(err, what, "'id' is not a string");
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        json_t *v = json_object_get(a, strings[i]);
        if (v && !json_is_string(v))
            return protocol_error(err, what, "'%s' is not a string", strings[i]);
    }
    if (restore_blob_keys(a) < 0)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

/* "/artifacts/{type}[/{id}[/{field}[/{key}]]]", every part percent-encoded ('/' too:
 * the server splits a blob path at the first '/' after the field). */
static char *artifact_path(const char *type_name, const char *id, const char *field,
                           const char *key)
{
    const char *parts[4] = {type_name, id, field, key};
    char *enc[4] = {NULL, NULL, NULL, NULL};
    char *path = NULL;
    int n = 0;

    for (; n < 4 && parts[n]; n++)
        if (!(enc[n] = glarex__http_escape(parts[n])))
            goto done;
    switch (n) {
    case 1:
        path = xasprintf("/artifacts/%s", enc[0]);
        break;
    case 2:
        path = xasprintf("/artifacts/%s/%s", enc[0], enc[1]);
        break;
    case 3:
        path = xasprintf("/artifacts/%s/%s/%s", enc[0], enc[1], enc[2]);
        break;
    default:
        path = xasprintf("/artifacts/%s/%s/%s/%s", enc[0], enc[1], enc[2], enc[3]);
    }
done:
    for (int i = 0; i < 4; i++)
        free(enc[i]);
    return path;
}

static void base_request(glarex__http_request *req, const glarex_client *c)
{
    memset(req, 0, sizeof(*req));
    req->with_auth = 1;
    req->accept = "application/json"; /* webob then answers errors in JSON, not HTML */
    req->max_body = c->opts.max_json_size;
}

/*
 * One JSON call: `path` is encoded and may hold a query. A 2xx (or a 300 when
 * `ok_300`) body is parsed into *out when `out` is set.
 */
static int json_call(json_t **out, glarex_client *c, const char *method, const char *path,
                     const char *content_type, const json_t *body, int ok_300,
                     glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    char *url = NULL, *what = NULL, *text = NULL;
    json_error_t jerr;
    int error = 0;

    if (out)
        *out = NULL;
    url = xasprintf("%s%s", c->url, path);
    what = xasprintf("%s %s", method, path);
    if (!url || !what) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    base_request(&req, c);
    req.method = method;
    req.url = url;
    req.what = what;
    req.idempotent = strcmp(method, "GET") == 0;
    req.accept_any = 1; /* statuses are checked below, so 300 can count as success */
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        req.has_body = 1;
        req.body = text;
        req.body_size = strlen(text);
        req.trace_body = text;
        req.content_type = content_type ? content_type : "application/json";
    }
    if ((error = glarex__http_perform(&resp, c->http, &req, err)) < 0)
        goto done;
    if (!(resp.status >= 200 && resp.status < 300) && !(ok_300 && resp.status == 300)) {
        error = glarex__http_status_error(err, what, &resp);
        goto done;
    }
    if (!out || resp.body.size == 0)
        goto done;
    *out = json_loadb(resp.body.ptr, resp.body.size, 0, &jerr);
    if (!*out)
        error = protocol_error(err, what, "invalid JSON: %s (line %d, column %d)",
                               jerr.text, jerr.line, jerr.column);
done:
    glarex__http_response_dispose(&resp);
    free(text);
    free(url);
    free(what);
    return error;
}

/* A JSON call that must return a JSON value. */
static int json_call_value(json_t **out, glarex_client *c, const char *method,
                           const char *path, const char *content_type, const json_t *body,
                           int ok_300, glarex_error *err)
{
    int error = json_call(out, c, method, path, content_type, body, ok_300, err);
    if (error == 0 && !*out)
        error = glarex__error_set(err, GLAREX_EPROTOCOL,
                                  "%s %s: malformed response: empty body", method, path);
    return error;
}

/* A call that answers with an artifact, checked. */
static int artifact_call(json_t **out, glarex_client *c, const char *method,
                         const char *path, const char *content_type, const json_t *body,
                         glarex_error *err)
{
    json_t *a = NULL;
    char *what = xasprintf("%s %s", method, path);
    int error;

    *out = NULL;
    if (!what)
        return GLAREX_ENOMEM_SET(err);
    if ((error = json_call_value(&a, c, method, path, content_type, body, 0, err)) < 0 ||
        (error = check_artifact(err, what, a)) < 0)
        goto done;
    *out = a;
    a = NULL;
done:
    json_decref(a);
    free(what);
    return error;
}

int glarex__client_request(json_t **out, glarex_client *client, const char *method,
                           const char *path, const char *content_type, const json_t *body,
                           glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    if (out)
        *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, method && *method && !has_control(method));
    GLAREX_ASSERT_ARG(err, path && path[0] == '/' && !has_control(path));
    return json_call(out, client, method, path, content_type, body, 0, err);
}

/* }==================================================================== */

/* {====================================================================
 * Client lifecycle
 * ==================================================================== */

int glarex_client_options_init(glarex_client_options *opts, unsigned int version)
{
    if (!opts || version != GLAREX_CLIENT_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

void glarex_client_free(glarex_client *client)
{
    if (!client)
        return;
    glarex__http_free(client->http);
    free(client->url);
    free(client->auth_token);
    free(client->noauth_project);
    free(client->noauth_user);
    free(client->noauth_roles);
    free(client->ca_file);
    free(client->client_cert);
    free(client->client_key);
    for (size_t i = 0; client->redirect_hosts && client->redirect_hosts[i]; i++)
        free(client->redirect_hosts[i]);
    free(client->redirect_hosts);
    free(client);
}

static int check_header_value(glarex_error *err, const char *name, const char *value)
{
    if (has_control(value))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_client_options: %s holds a control character",
                                 name);
    return 0;
}

int glarex_client_new(glarex_client **out, const glarex_client_options *opts,
                      glarex_error *err)
{
    glarex_client *c = NULL;
    glarex__http_config cfg;
    int error = 0;
    int ok = 1;
    size_t n = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, opts);
    if (opts->version != GLAREX_CLIENT_OPTIONS_VERSION)
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "glarex_client_options: unknown version %u (expected %d)", opts->version,
            GLAREX_CLIENT_OPTIONS_VERSION);
    if (!opts->url || !opts->url[0])
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_client_options: url is required");
    if ((strncasecmp(opts->url, "http://", 7) != 0 &&
         strncasecmp(opts->url, "https://", 8) != 0) ||
        has_control(opts->url) || strchr(opts->url, ' ') || strchr(opts->url, '?') ||
        strchr(opts->url, '#'))
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "invalid Glare URL '%s': expected http(s)://host[:port][/path]", opts->url);
    if ((error = check_header_value(err, "auth_token", opts->auth_token)) < 0 ||
        (error = check_header_value(err, "noauth_project", opts->noauth_project)) < 0 ||
        (error = check_header_value(err, "noauth_user", opts->noauth_user)) < 0 ||
        (error = check_header_value(err, "noauth_roles", opts->noauth_roles)) < 0)
        return error;
    if ((error = glarex_global_init(err)) < 0)
        return error;

    c = calloc(1, sizeof(*c));
    if (!c)
        return GLAREX_ENOMEM_SET(err);
    c->opts = *opts;
    c->url = glarex__strdup_opt(opts->url, &ok);
    c->auth_token = glarex__strdup_opt(opts->auth_token, &ok);
    c->noauth_project = glarex__strdup_opt(opts->noauth_project, &ok);
    c->noauth_user = glarex__strdup_opt(opts->noauth_user, &ok);
    c->noauth_roles = glarex__strdup_opt(opts->noauth_roles, &ok);
    c->ca_file = glarex__strdup_opt(opts->ca_file, &ok);
    c->client_cert = glarex__strdup_opt(opts->client_cert, &ok);
    c->client_key = glarex__strdup_opt(opts->client_key, &ok);
    if (opts->redirect_hosts) {
        while (opts->redirect_hosts[n])
            n++;
        c->redirect_hosts = calloc(n + 1, sizeof(char *));
        if (!c->redirect_hosts)
            ok = 0;
        for (size_t i = 0; ok && i < n; i++)
            c->redirect_hosts[i] = glarex__strdup_opt(opts->redirect_hosts[i], &ok);
    }
    if (!ok) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (size_t len = strlen(c->url); len > 0 && c->url[len - 1] == '/'; len--)
        c->url[len - 1] = '\0';

    /* The stored options point at the copies, and hold the defaults. */
    c->opts.url = c->url;
    c->opts.auth_token = c->auth_token;
    c->opts.noauth_project = c->noauth_project;
    c->opts.noauth_user = c->noauth_user;
    c->opts.noauth_roles = c->noauth_roles;
    c->opts.ca_file = c->ca_file;
    c->opts.client_cert = c->client_cert;
    c->opts.client_key = c->client_key;
    c->opts.redirect_hosts = (const char *const *)c->redirect_hosts;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->opts.total_timeout_ms < 0)
        c->opts.total_timeout_ms = 0;
    if (c->opts.stall_timeout_ms <= 0)
        c->opts.stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
    if (c->opts.max_retries == 0)
        c->opts.max_retries = DEFAULT_MAX_RETRIES;
    else if (c->opts.max_retries < 0)
        c->opts.max_retries = 0;
    if (c->opts.retry_base_ms <= 0)
        c->opts.retry_base_ms = DEFAULT_RETRY_BASE_MS;
    if (c->opts.retry_max_ms <= 0)
        c->opts.retry_max_ms = DEFAULT_RETRY_MAX_MS;
    if (c->opts.retry_base_ms > c->opts.retry_max_ms)
        c->opts.retry_base_ms = c->opts.retry_max_ms;
    if (c->opts.max_json_size == 0)
        c->opts.max_json_size = DEFAULT_MAX_JSON_SIZE;

    memset(&cfg, 0, sizeof(cfg));
    cfg.auth_token = c->auth_token;
    cfg.noauth_project = c->noauth_project;
    cfg.noauth_user = c->noauth_user;
    cfg.noauth_roles = c->noauth_roles;
    cfg.ca_file = c->ca_file;
    cfg.client_cert = c->client_cert;
    cfg.client_key = c->client_key;
    cfg.insecure = c->opts.insecure;
    cfg.connect_timeout_ms = c->opts.connect_timeout_ms;
    cfg.total_timeout_ms = c->opts.total_timeout_ms;
    cfg.stall_timeout_ms = c->opts.stall_timeout_ms;
    cfg.max_retries = c->opts.max_retries;
    cfg.retry_base_ms = c->opts.retry_base_ms;
    cfg.retry_max_ms = c->opts.retry_max_ms;
    cfg.trace = c->opts.trace;
    cfg.trace_payload = c->opts.trace_payload;
    if ((error = glarex__http_new(&c->http, &cfg, err)) < 0)
        goto done;

    *out = c;
    c = NULL;
done:
    glarex_client_free(c);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Metadata calls
 * ==================================================================== */

int glarex_client_versions(json_t **out, glarex_client *client, glarex_error *err)
{
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    /* Glare answers version discovery with 300 Multiple Choices. */
    if ((error = json_call_value(out, client, "GET", "/", NULL, NULL, 1, err)) < 0)
        return error;
    if (!json_is_array(json_object_get(*out, "versions"))) {
        json_decref(*out);
        *out = NULL;
        return protocol_error(err, "GET /", "'versions' is not an array");
    }
    return 0;
}

int glarex_client_schema(json_t **out, glarex_client *client, const char *type_name,
                         glarex_error *err)
{
    json_t *root = NULL;
    json_t *schema;
    char *path = NULL, *what = NULL;
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    char *enc = glarex__http_escape(type_name);
    path = enc ? xasprintf("/schemas/%s", enc) : NULL;
    free(enc);
    what = path ? xasprintf("GET %s", path) : NULL;
    if (!what) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = json_call_value(&root, client, "GET", path, NULL, NULL, 0, err)) < 0)
        goto done;
    /* {"schemas": {"<type>": schema}} */
    schema = json_object_get(json_object_get(root, "schemas"), type_name);
    if (!json_is_object(schema)) {
        error = protocol_error(err, what, "'schemas.%s' is not an object", type_name);
        goto done;
    }
    *out = json_incref(schema);
done:
    json_decref(root);
    free(path);
    free(what);
    return error;
}

int glarex_client_get(json_t **out, glarex_client *client, const char *type_name,
                      const char *id, glarex_error *err)
{
    char *path;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    GLAREX_ASSERT_ARG(err, id && *id);
    if (!(path = artifact_path(type_name, id, NULL, NULL)))
        return GLAREX_ENOMEM_SET(err);
    error = artifact_call(out, client, "GET", path, NULL, NULL, err);
    free(path);
    return error;
}

int glarex_client_create(json_t **out, glarex_client *client, const char *type_name,
                         const json_t *fields, glarex_error *err)
{
    char *path;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    GLAREX_ASSERT_ARG(err, json_is_object(fields));
    if (!(path = artifact_path(type_name, NULL, NULL, NULL)))
        return GLAREX_ENOMEM_SET(err);
    error = artifact_call(out, client, "POST", path, "application/json", fields, err);
    free(path);
    return error;
}

int glarex_client_update(json_t **out, glarex_client *client, const char *type_name,
                         const char *id, const json_t *patch, glarex_error *err)
{
    char *path;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    GLAREX_ASSERT_ARG(err, id && *id);
    GLAREX_ASSERT_ARG(err, json_is_array(patch));
    if (!(path = artifact_path(type_name, id, NULL, NULL)))
        return GLAREX_ENOMEM_SET(err);
    error = artifact_call(out, client, "PATCH", path, "application/json-patch+json",
                          patch, err);
    free(path);
    return error;
}

int glarex_client_activate(json_t **out, glarex_client *client, const char *type_name,
                           const char *id, glarex_error *err)
{
    json_t *patch;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/status", "value",
                      "active");
    if (!patch)
        return GLAREX_ENOMEM_SET(err);
    error = glarex_client_update(out, client, type_name, id, patch, err);
    json_decref(patch);
    return error;
}

int glarex_client_delete(glarex_client *client, const char *type_name, const char *id,
                         glarex_error *err)
{
    char *path;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    GLAREX_ASSERT_ARG(err, id && *id);
    if (!(path = artifact_path(type_name, id, NULL, NULL)))
        return GLAREX_ENOMEM_SET(err);
    error = json_call(NULL, client, "DELETE", path, NULL, NULL, 0, err);
    free(path);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Listing
 * ==================================================================== */

static int valid_op(const char *op)
{
    if (!*op)
        return 0;
    for (; *op; op++)
        if (!((*op >= 'a' && *op <= 'z') || *op == '_' || *op == '-'))
            return 0;
    return 1;
}

/* Appends "&name=value" (both encoded; `value_prefix` is sent as is) to *query. */
static int query_add(char **query, const char *name, const char *value_prefix,
                     const char *value)
{
    char *n = glarex__http_escape(name);
    char *v = glarex__http_escape(value);
    char *q = NULL;

    if (n && v)
        q = xasprintf("%s&%s=%s%s", *query ? *query : "", n, value_prefix, v);
    free(n);
    free(v);
    if (!q)
        return -1;
    free(*query);
    *query = q;
    return 0;
}

/* The query of the first page, "?..." or "". */
static int list_query(char **out, const glarex_list_options *o, glarex_error *err)
{
    char *q = NULL;
    char prefix[64];
    int error = 0;

    *out = NULL;
    for (size_t i = 0; i < o->nfilters; i++) {
        const glarex_filter *f = &o->filters[i];
        const char *op = f->op ? f->op : "eq";
        if (!f->field || !f->field[0] || !f->value) {
            error = glarex__error_set(err, GLAREX_EINVALID,
                                      "list filter %zu: field and value are required", i);
            goto done;
        }
        if (!valid_op(op) || strlen(op) > 32) {
            error = glarex__error_set(err, GLAREX_EINVALID,
                                      "list filter on '%s': invalid operator '%s'",
                                      f->field, op);
            goto done;
        }
        /* Always an explicit operator: a value holding ':' is otherwise misread. Tags
         * are the exception: Glare filters them without one, and refuses one. */
        int is_tags = strcmp(f->field, "tags") == 0 || strcmp(f->field, "tags-any") == 0;
        if (is_tags && f->op) {
            error = glarex__error_set(err, GLAREX_EINVALID,
                                      "list filter on '%s': tags take no operator", f->field);
            goto done;
        }
        snprintf(prefix, sizeof(prefix), "%s:", op);
        if (is_tags)
            prefix[0] = '\0';
        if (query_add(&q, f->field, prefix, f->value) < 0)
            goto oom;
    }
    if (o->latest && query_add(&q, "version", "", "latest") < 0)
        goto oom;
    if (o->sort && query_add(&q, "sort", "", o->sort) < 0)
        goto oom;
    if (o->page_size) {
        char limit[32];
        snprintf(limit, sizeof(limit), "%u", o->page_size);
        if (query_add(&q, "limit", "", limit) < 0)
            goto oom;
    }
    if (q)
        q[0] = '?'; /* the leading '&' */
    *out = q ? q : strdup("");
    if (!*out)
        goto oom;
    return 0;
oom:
    error = GLAREX_ENOMEM_SET(err);
done:
    free(q);
    return error;
}

/* A `next` link must stay on this server, under /artifacts/. */
static int valid_next(const char *next)
{
    return strncmp(next, "/artifacts/", 11) == 0 && !has_control(next) &&
           !strchr(next, ' ') && !strchr(next, '#') && !strchr(next, '\\');
}

int glarex_client_list(json_t **out, glarex_client *client, const char *type_name,
                       const glarex_list_options *opts, glarex_error *err)
{
    glarex_list_options o = GLAREX_LIST_OPTIONS_INIT;
    json_t *result = NULL, *seen = NULL, *page = NULL;
    char *query = NULL, *enc = NULL, *path = NULL, *what = NULL;
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, type_name && *type_name);
    if (opts) {
        if (opts->version != GLAREX_LIST_OPTIONS_VERSION)
            return glarex__error_set(
                err, GLAREX_EINVALID,
                "glarex_list_options: unknown version %u (expected %d)", opts->version,
                GLAREX_LIST_OPTIONS_VERSION);
        o = *opts;
    }
    GLAREX_ASSERT_ARG(err, o.nfilters == 0 || o.filters);

    if ((error = list_query(&query, &o, err)) < 0)
        goto done;
    enc = glarex__http_escape(type_name);
    path = enc ? xasprintf("/artifacts/%s%s", enc, query) : NULL;
    result = json_array();
    seen = json_object();
    if (!path || !result || !seen)
        goto oom;

    for (int pages = 0;; pages++) {
        json_t *artifacts, *next, *a;
        size_t i;

        free(what);
        if (!(what = xasprintf("GET %s", path)))
            goto oom;
        if (pages >= MAX_LIST_PAGES) {
            error = protocol_error(err, what, "more than %d pages", MAX_LIST_PAGES);
            goto done;
        }
        json_decref(page);
        page = NULL;
        if ((error = json_call_value(&page, client, "GET", path, NULL, NULL, 0, err)) < 0)
            goto done;
        if (!json_is_object(page)) {
            error = protocol_error(err, what, "the list is not a JSON object");
            goto done;
        }
        artifacts = json_object_get(page, "artifacts");
        if (!json_is_array(artifacts)) {
            error = protocol_error(err, what, "'artifacts' is not an array");
            goto done;
        }
        next = json_object_get(page, "next");
        if (next && !json_is_null(next) && !json_is_string(next)) {
            error = protocol_error(err, what, "'next' is not a string");
            goto done;
        }
        json_array_foreach(artifacts, i, a)
        {
            if ((error = check_artifact(err, what, a)) < 0)
                goto done;
            if (o.max_items && json_array_size(result) >= o.max_items)
                break;
            if (json_array_append(result, a) < 0)
                goto oom;
        }
        if (o.max_items && json_array_size(result) >= o.max_items)
            break;
        /* `next` comes only with a full page; an empty one means we are done anyway. */
        if (!json_is_string(next) || json_array_size(artifacts) == 0)
            break;
        if (!valid_next(json_string_value(next))) {
            error = protocol_error(err, what, "'next' is not a path under /artifacts/");
            goto done;
        }
        if (json_object_get(seen, json_string_value(next))) {
            error = protocol_error(err, what, "'next' repeats an earlier page");
            goto done;
        }
        if (json_object_set_new(seen, json_string_value(next), json_true()) < 0)
            goto oom;
        free(path);
        if (!(path = strdup(json_string_value(next))))
            goto oom;
    }
    *out = result;
    result = NULL;
    goto done;
oom:
    error = GLAREX_ENOMEM_SET(err);
done:
    json_decref(page);
    json_decref(seen);
    json_decref(result);
    free(query);
    free(enc);
    free(path);
    free(what);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Uploads
 * ==================================================================== */

static int check_loc(glarex_error *err, const glarex_blob_loc *loc)
{
    GLAREX_ASSERT_ARG(err, loc);
    GLAREX_ASSERT_ARG(err, loc->type_name && *loc->type_name);
    GLAREX_ASSERT_ARG(err, loc->id && *loc->id);
    GLAREX_ASSERT_ARG(err, loc->field && *loc->field);
    GLAREX_ASSERT_ARG(err, !loc->key || *loc->key);
    return 0;
}

/* PUT of a body described by `req` (body fields set) to the blob at `loc`. */
static int upload(json_t **out, glarex_client *c, const glarex_blob_loc *loc,
                  glarex__http_request *req, const char *content_type, glarex_error *err)
{
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    char *path = NULL, *url = NULL, *what = NULL;
    json_t *a = NULL;
    json_error_t jerr;
    int error = 0;

    path = artifact_path(loc->type_name, loc->id, loc->field, loc->key);
    url = path ? xasprintf("%s%s", c->url, path) : NULL;
    what = path ? xasprintf("PUT %s", path) : NULL;
    if (!url || !what) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    req->method = "PUT";
    req->url = url;
    req->what = what;
    req->with_auth = 1;
    req->accept = "application/json";
    req->content_type = content_type ? content_type : "application/octet-stream";
    req->idempotent = 1; /* the body can be sent again from the start */
    req->max_body = c->opts.max_json_size;
    if ((error = glarex__http_perform(&resp, c->http, req, err)) < 0)
        goto done;
    a = json_loadb(resp.body.ptr ? resp.body.ptr : "", resp.body.size, 0, &jerr);
    if (!a) {
        error = protocol_error(err, what, "invalid JSON: %s (line %d, column %d)",
                               jerr.text, jerr.line, jerr.column);
        goto done;
    }
    if ((error = check_artifact(err, what, a)) < 0)
        goto done;
    *out = a;
    a = NULL;
done:
    json_decref(a);
    glarex__http_response_dispose(&resp);
    free(path);
    free(url);
    free(what);
    return error;
}

int glarex_client_upload_file(json_t **out, glarex_client *client,
                              const glarex_blob_loc *loc, const char *path,
                              const char *content_type, glarex_progress_cb progress,
                              void *payload, glarex_error *err)
{
    glarex__http_request req;
    FILE *f = NULL;
    struct stat st;
    char *trace = NULL;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, path && *path);
    if ((error = check_loc(err, loc)) < 0)
        return error;
    GLAREX_ASSERT_ARG(err, !content_type || !has_control(content_type));

    f = fopen(path, "rbe");
    if (!f)
        return glarex__error_set(err, errno == ENOENT ? GLAREX_ENOTFOUND : GLAREX_EIO,
                                 "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &st) < 0) {
        error = glarex__error_set(err, GLAREX_EIO, "cannot stat '%s': %s", path,
                                  strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        /* Content-Length must be known up front: no pipes or devices. */
        error =
            glarex__error_set(err, GLAREX_EINVALID, "'%s' is not a regular file", path);
        goto done;
    }
    if (!(trace = xasprintf("@%s", path))) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    memset(&req, 0, sizeof(req));
    req.body_file = f;
    req.body_file_size = (uint64_t)st.st_size;
    req.trace_body = trace;
    req.progress = progress;
    req.progress_payload = payload;
    error = upload(out, client, loc, &req, content_type, err);
done:
    free(trace);
    fclose(f);
    return error;
}

int glarex_client_upload_buffer(json_t **out, glarex_client *client,
                                const glarex_blob_loc *loc, const void *data, size_t size,
                                const char *content_type, glarex_error *err)
{
    glarex__http_request req;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, data || size == 0);
    if ((error = check_loc(err, loc)) < 0)
        return error;
    GLAREX_ASSERT_ARG(err, !content_type || !has_control(content_type));
    memset(&req, 0, sizeof(req));
    req.has_body = 1;
    req.body = data ? data : "";
    req.body_size = size;
    req.trace_body = "@-";
    return upload(out, client, loc, &req, content_type, err);
}

/* }==================================================================== */

/* {====================================================================
 * Downloads
 * ==================================================================== */

/* Where verified-later bytes go: returns 0, or a negative status after recording it. */
typedef int (*emit_fn)(void *payload, const char *data, size_t len, glarex_error *err);

typedef struct download_state {
    glarex__digest *digest;
    uint64_t received;
    uint64_t cap;     /* max_download_size, 0 = none */
    const char *what; /* the request now running, for messages */
    emit_fn emit;
    void *emit_payload;
    glarex_error *err;
} download_state;

static int download_sink(const char *data, size_t len, void *payload)
{
    download_state *s = payload;

    if (s->cap && (s->received + len > s->cap || s->received + len < s->received))
        return glarex__error_set(s->err, GLAREX_ETOOBIG,
                                 "%s: blob larger than max_download_size (%llu bytes)",
                                 s->what, (unsigned long long)s->cap);
    glarex__digest_update(s->digest, data, len);
    s->received += len;
    return s->emit(s->emit_payload, data, len, s->err);
}

/* Reads a checksum header: "" and "None" (a 301 for a blob without that digest) mean
 * absent; anything else must be hex of the right length. */
static int header_digest(char *out, size_t hexlen, const char *value, const char *header,
                         const char *what, glarex_error *err)
{
    out[0] = '\0';
    if (!value[0] || strcmp(value, "None") == 0)
        return 0;
    if (strlen(value) != hexlen || !glarex__is_hex(value, hexlen))
        return protocol_error(err, what, "%s is not %zu hex digits", header, hexlen);
    memcpy(out, value, hexlen + 1);
    lower(out);
    return 0;
}

static int mismatch(glarex_error *err, const char *what, const char *algo,
                    const char *source, const char *expected, const char *got)
{
    return glarex__error_set(err, GLAREX_ECHECKSUM,
                             "%s: %s mismatch: expected %s (%s), got %s", what, algo,
                             expected, source, got);
}

/* Is a redirect to `location` allowed? Fills *what_out ("GET scheme://host/path", the
 * query left out since it may carry a signature). */
static int check_redirect(glarex_client *c, const char *what, const char *location,
                          char **what_out, glarex_error *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL, *port = NULL;
    int error = 0;

    *what_out = NULL;
    if (!u)
        return GLAREX_ENOMEM_SET(err);
    if (has_control(location) ||
        curl_url_set(u, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        error = protocol_error(err, what, "redirect to an invalid URL");
        goto done;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (!(strcasecmp(scheme, "https") == 0 ||
          (strcasecmp(scheme, "http") == 0 && c->opts.allow_http_redirects))) {
        error = glarex__error_set(
            err, GLAREX_EFORBIDDEN, "%s: redirect to %s://%s refused: only %s allowed",
            what, scheme, host,
            c->opts.allow_http_redirects ? "http and https are" : "https is");
        goto done;
    }
    if (c->redirect_hosts) {
        size_t i = 0;
        while (c->redirect_hosts[i] && strcasecmp(c->redirect_hosts[i], host) != 0)
            i++;
        if (!c->redirect_hosts[i]) {
            error = glarex__error_set(
                err, GLAREX_EFORBIDDEN,
                "%s: redirect to host '%s' refused: not in redirect_hosts", what, host);
            goto done;
        }
    }
    *what_out = port ? xasprintf("GET %s://%s:%s%s", scheme, host, port, path)
                     : xasprintf("GET %s://%s%s", scheme, host, path);
    if (!*what_out)
        error = GLAREX_ENOMEM_SET(err);
done:
    if (error && err)
        err->http_status = 301;
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(port);
    curl_url_cleanup(u);
    return error;
}

static int download(glarex_download_info *out, glarex_client *c,
                    const glarex_blob_loc *loc, const glarex_digests *expect,
                    emit_fn emit, void *emit_payload, glarex_error *err)
{
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    glarex__http_response ext = GLAREX__HTTP_RESPONSE_INIT;
    const glarex__http_response *body_resp = &resp;
    download_state st;
    char *path = NULL, *url = NULL, *what = NULL, *ext_what = NULL;
    char want_sha[65], want_md5[33], got_sha[65], got_md5[33];
    const char *header_source = "X-Openstack-Glare-Content-SHA256";
    const char *md5_source = "Content-MD5";
    int external = 0, md5_needed;
    int error = 0;

    if (expect) {
        /* the caller's arrays may lack their NUL: never read past them */
        size_t ls = strnlen(expect->sha256, sizeof(expect->sha256));
        size_t lm = strnlen(expect->md5, sizeof(expect->md5));
        if ((ls && (ls != 64 || !glarex__is_hex(expect->sha256, 64))) ||
            (lm && (lm != 32 || !glarex__is_hex(expect->md5, 32))))
            return glarex__error_set(
                err, GLAREX_EINVALID,
                "expected digests: sha256 must be 64 and md5 32 hex digits");
    }
    memset(&st, 0, sizeof(st));
    /* md5 only where no stronger digest is known: with an expected sha256 and nobody
     * to read the md5 (out), the sha256 alone verifies the bytes */
    md5_needed = out || !expect || !expect->sha256[0];
    st.digest = glarex__digest_new_background(md5_needed);
    path = artifact_path(loc->type_name, loc->id, loc->field, loc->key);
    url = path ? xasprintf("%s%s", c->url, path) : NULL;
    what = path ? xasprintf("GET %s", path) : NULL;
    if (!st.digest || !url || !what) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    st.cap = c->opts.max_download_size;
    st.what = what;
    st.emit = emit;
    st.emit_payload = emit_payload;
    st.err = err;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.what = what;
    req.with_auth = 1;
    req.accept = "*/*";
    req.idempotent = 1;
    req.accept_3xx = 1;
    req.sink = download_sink;
    req.sink_payload = &st;
    if ((error = glarex__http_perform(&resp, c->http, &req, err)) < 0)
        goto done;

    if (resp.status >= 300) {
        /* External blob: fetched by hand, without credentials, where policy allows. */
        if (!resp.location ||
            !(resp.status == 301 || resp.status == 302 || resp.status == 303 ||
              resp.status == 307 || resp.status == 308)) {
            error = glarex__http_status_error(err, what, &resp);
            goto done;
        }
        if ((error = check_redirect(c, what, resp.location, &ext_what, err)) < 0)
            goto done;
        st.what = ext_what;
        req.url = resp.location;
        req.what = ext_what;
        req.with_auth = 0;
        req.accept_3xx = 0; /* one hop only */
        if ((error = glarex__http_perform(&ext, c->http, &req, err)) < 0)
            goto done;
        external = 1;
        header_source = "X-Openstack-Glare-Content-SHA256 of the 301";
        md5_source = "Content-MD5 of the 301";
    }
    /* The checksum headers always come from Glare: the 200, or the 301 for an
     * external blob (the external server's own headers prove nothing). */
    if (resp.header_overflow) {
        error = protocol_error(err, what, "a checksum header is too long");
        goto done;
    }
    if ((error = header_digest(want_sha, 64, resp.content_sha256,
                               "X-Openstack-Glare-Content-SHA256", what, err)) < 0 ||
        (error =
             header_digest(want_md5, 32, resp.content_md5, "Content-MD5", what, err)) < 0)
        goto done;
    if (external)
        body_resp = &ext;
    glarex__digest_final(st.digest, got_sha, got_md5);
    if (body_resp->content_length >= 0 &&
        (uint64_t)body_resp->content_length != st.received) {
        error = glarex__error_set(
            err, GLAREX_ENETWORK, "%s: truncated body: got %llu of %lld bytes", st.what,
            (unsigned long long)st.received, (long long)body_resp->content_length);
        goto done;
    }
    if (want_sha[0] && strcmp(want_sha, got_sha) != 0) {
        error = mismatch(err, what, "sha256", header_source, want_sha, got_sha);
        goto done;
    }
    if (md5_needed && want_md5[0] && strcmp(want_md5, got_md5) != 0) {
        error = mismatch(err, what, "md5", md5_source, want_md5, got_md5);
        goto done;
    }
    if (expect) {
        char e[65];
        if (expect->sha256[0]) {
            memcpy(e, expect->sha256, 65);
            lower(e);
            if (strcmp(e, got_sha) != 0) {
                error = mismatch(err, what, "sha256", "expected digests", e, got_sha);
                goto done;
            }
        }
        if (md5_needed && expect->md5[0]) {
            memcpy(e, expect->md5, 33);
            lower(e);
            if (strcmp(e, got_md5) != 0) {
                error = mismatch(err, what, "md5", "expected digests", e, got_md5);
                goto done;
            }
        }
        if (expect->size >= 0 && (uint64_t)expect->size != st.received) {
            error = glarex__error_set(
                err, GLAREX_ECHECKSUM, "%s: size mismatch: expected %lld bytes, got %llu",
                what, (long long)expect->size, (unsigned long long)st.received);
            goto done;
        }
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        memcpy(out->sha256, got_sha, sizeof(out->sha256));
        memcpy(out->md5, got_md5, sizeof(out->md5));
        out->size = st.received;
        glarex__strlcpy(out->content_type, body_resp->content_type,
                        sizeof(out->content_type));
        out->external = external;
    }
done:
    glarex__http_response_dispose(&resp);
    glarex__http_response_dispose(&ext);
    glarex__digest_free(st.digest);
    free(path);
    free(url);
    free(what);
    free(ext_what);
    return error;
}

typedef struct user_sink {
    glarex_write_cb write;
    void *payload;
} user_sink;

static int emit_user(void *payload, const char *data, size_t len, glarex_error *err)
{
    user_sink *u = payload;
    if (u->write(data, len, u->payload) != 0)
        return glarex__error_set(err, GLAREX_ERROR,
                                 "download aborted by the write callback");
    return 0;
}

int glarex_client_download(glarex_download_info *out, glarex_client *client,
                           const glarex_blob_loc *loc, const glarex_digests *expect,
                           glarex_write_cb write, void *payload, glarex_error *err)
{
    user_sink u = {write, payload};
    int error;

    GLAREX_ERROR_RESET(err);
    if (out)
        memset(out, 0, sizeof(*out));
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, write);
    if ((error = check_loc(err, loc)) < 0)
        return error;
    return download(out, client, loc, expect, emit_user, &u, err);
}

typedef struct file_sink {
    int fd;
    const char *path; /* the temporary file, for messages */
} file_sink;

static int emit_file(void *payload, const char *data, size_t len, glarex_error *err)
{
    file_sink *f = payload;
    while (len) {
        ssize_t n = write(f->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return glarex__error_set(err, GLAREX_EIO, "cannot write '%s': %s", f->path,
                                     strerror(errno));
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync of the directory holding `path`, so the rename survives a crash; best effort. */
static void sync_parent(const char *path)
{
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    int fd;

    if (!dir)
        return;
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int glarex_client_download_file(glarex_download_info *out, glarex_client *client,
                                const glarex_blob_loc *loc, const glarex_digests *expect,
                                const char *path, glarex_error *err)
{
    file_sink f = {-1, NULL};
    char *tmp = NULL;
    int error;

    GLAREX_ERROR_RESET(err);
    if (out)
        memset(out, 0, sizeof(*out));
    GLAREX_ASSERT_ARG(err, client);
    GLAREX_ASSERT_ARG(err, path && *path);
    if ((error = check_loc(err, loc)) < 0)
        return error;
    /* Beside the target, so the final rename stays on one file system. */
    if (!(tmp = xasprintf("%s.tmp-XXXXXX", path)))
        return GLAREX_ENOMEM_SET(err);
    f.fd = mkostemp(tmp, O_CLOEXEC);
    if (f.fd < 0) {
        error = glarex__error_set(err, GLAREX_EIO, "cannot create '%s': %s", tmp,
                                  strerror(errno));
        free(tmp);
        return error;
    }
    f.path = tmp;
    if ((error = download(out, client, loc, expect, emit_file, &f, err)) < 0)
        goto done;
    if (fsync(f.fd) < 0) {
        error = glarex__error_set(err, GLAREX_EIO, "cannot sync '%s': %s", tmp,
                                  strerror(errno));
        goto done;
    }
    if (close(f.fd) < 0) {
        f.fd = -1;
        error = glarex__error_set(err, GLAREX_EIO, "cannot close '%s': %s", tmp,
                                  strerror(errno));
        goto done;
    }
    f.fd = -1;
    if (rename(tmp, path) < 0) {
        error = glarex__error_set(err, GLAREX_EIO, "cannot rename '%s' to '%s': %s", tmp,
                                  path, strerror(errno));
        goto done;
    }
    sync_parent(path);
done:
    if (f.fd >= 0)
        close(f.fd);
    if (error < 0) {
        unlink(tmp);
        if (out)
            memset(out, 0, sizeof(*out));
    }
    free(tmp);
    return error;
}

typedef struct mem_sink {
    glarex_buf buf;
    size_t cap;
} mem_sink;

static int emit_mem(void *payload, const char *data, size_t len, glarex_error *err)
{
    mem_sink *m = payload;
    if (m->buf.size + len + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->buf.size + len + 1)
            cap *= 2;
        char *p = realloc(m->buf.ptr, cap);
        if (!p)
            return GLAREX_ENOMEM_SET(err);
        m->buf.ptr = p;
        m->cap = cap;
    }
    memcpy(m->buf.ptr + m->buf.size, data, len);
    m->buf.size += len;
    m->buf.ptr[m->buf.size] = '\0';
    return 0;
}

int glarex_client_download_buffer(glarex_buf *out, glarex_download_info *info,
                                  glarex_client *client, const glarex_blob_loc *loc,
                                  const glarex_digests *expect, glarex_error *err)
{
    mem_sink m = {GLAREX_BUF_INIT, 0};
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    out->ptr = NULL;
    out->size = 0;
    if (info)
        memset(info, 0, sizeof(*info));
    GLAREX_ASSERT_ARG(err, client);
    if ((error = check_loc(err, loc)) < 0)
        return error;
    if ((error = download(info, client, loc, expect, emit_mem, &m, err)) < 0) {
        glarex_buf_dispose(&m.buf);
        return error;
    }
    if (!m.buf.ptr && !(m.buf.ptr = calloc(1, 1))) /* empty content: still a valid "" */
        return GLAREX_ENOMEM_SET(err);
    *out = m.buf;
    return 0;
}

int glarex_digests_from_json(glarex_digests *out, const json_t *blob, glarex_error *err)
{
    const json_t *sha, *md5, *size;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    memset(out, 0, sizeof(*out));
    out->size = -1;
    GLAREX_ASSERT_ARG(err, blob);
    if (json_is_null(blob))
        return glarex__error_set(err, GLAREX_ENOTFOUND,
                                 "blob value is null: no data uploaded");
    if (!json_is_object(blob))
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "blob value is not a JSON object");
    sha = json_object_get(blob, "sha256");
    md5 = json_object_get(blob, "md5");
    size = json_object_get(blob, "size");
    if (sha && !json_is_null(sha) &&
        (!json_is_string(sha) || json_string_length(sha) != 64 ||
         !glarex__is_hex(json_string_value(sha), 64)))
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "blob value: 'sha256' is not 64 hex digits");
    if (md5 && !json_is_null(md5) &&
        (!json_is_string(md5) || json_string_length(md5) != 32 ||
         !glarex__is_hex(json_string_value(md5), 32)))
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "blob value: 'md5' is not 32 hex digits");
    if (size && !json_is_null(size) &&
        (!json_is_integer(size) || json_integer_value(size) < 0))
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "blob value: 'size' is not a non-negative integer");
    if (json_is_string(sha)) {
        memcpy(out->sha256, json_string_value(sha), 65);
        lower(out->sha256);
    }
    if (json_is_string(md5)) {
        memcpy(out->md5, json_string_value(md5), 33);
        lower(out->md5);
    }
    if (json_is_integer(size))
        out->size = json_integer_value(size);
    return 0;
}

/* }==================================================================== */

void glarex__client_set_deadline(glarex_client *client, int64_t deadline_ms)
{
    glarex__http_set_deadline(client->http, deadline_ms);
}
