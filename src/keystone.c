/* Keystone v3 password authentication: one POST /v3/auth/tokens, the token comes back
 * in the X-Subject-Token header. The password never reaches a trace or a message. */
#include "peer.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The size of each version's struct: version 2 added the ids at the end. */
static size_t options_size(unsigned int version)
{
    return version == 1 ? offsetof(glarex_keystone_options, project_id)
           : version == GLAREX_KEYSTONE_OPTIONS_VERSION ? sizeof(glarex_keystone_options)
                                                        : 0;
}

int glarex_keystone_options_init(glarex_keystone_options *opts, unsigned int version)
{
    if (!opts || !options_size(version))
        return GLAREX_EINVALID;
    memset(opts, 0, options_size(version));
    opts->version = version;
    return glarex_client_options_init(&opts->client, GLAREX_CLIENT_OPTIONS_VERSION);
}

/* {"id": id} or {"name": name} (default "Default") for a domain (new). */
static json_t *domain_ref(const char *id, const char *name)
{
    return id ? json_pack("{s:s}", "id", id)
              : json_pack("{s:s}", "name", name ? name : "Default");
}

/* The request body, with the real password or "***" for the trace (new text). */
static char *auth_body(const glarex_keystone_options *o, const char *password)
{
    json_t *body, *scope = NULL;
    char *text;

    if (o->project_id)
        scope = json_pack("{s:{s:s}}", "project", "id", o->project_id);
    else if (o->project_name)
        scope = json_pack("{s:{s:s, s:o}}", "project", "name", o->project_name, "domain",
                          domain_ref(o->project_domain_id, o->project_domain_name));
    if ((o->project_id || o->project_name) && !scope)
        return NULL;
    body = json_pack("{s:{s:{s:[s], s:{s:{s:s, s:o, s:s}}}, s:o*}}", "auth", "identity",
                     "methods", "password", "password", "user", "name", o->username,
                     "domain", domain_ref(o->user_domain_id, o->user_domain_name),
                     "password", password, "scope", scope);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

/* {auth_url}/v3/auth/tokens; an auth_url that already ends in /v3 is not doubled. */
static char *tokens_url(const char *base)
{
    size_t n = strlen(base);
    int has_v3 = n >= 3 && strcmp(base + n - 3, "/v3") == 0;
    char *url = malloc(n + sizeof("/v3/auth/tokens"));
    if (url)
        sprintf(url, "%s%s", base, has_v3 ? "/auth/tokens" : "/v3/auth/tokens");
    return url;
}

/* {"project_id", "user_id", "roles", "catalog"} from a v3 token answer's body (new), or
 * NULL. */
static json_t *token_identity(const glarex_buf *body)
{
    json_t *doc = body->ptr ? json_loadb(body->ptr, body->size, 0, NULL) : NULL;
    json_t *token = json_object_get(doc, "token"), *roles = json_object_get(token, "roles");
    json_t *out = json_object(), *r;
    char names[1024] = "";
    size_t i, used = 0;

    if (out) {
        const char *project = json_string_value(
            json_object_get(json_object_get(token, "project"), "id"));
        const char *user = json_string_value(
            json_object_get(json_object_get(token, "user"), "id"));
        if (project)
            json_object_set_new(out, "project_id", json_string(project));
        if (user)
            json_object_set_new(out, "user_id", json_string(user));
        json_array_foreach(roles, i, r) {
            const char *name = json_string_value(json_object_get(r, "name"));
            int n = name ? snprintf(names + used, sizeof(names) - used, "%s%s",
                                    used ? "," : "", name)
                         : 0;
            if (n < 0 || (size_t)n >= sizeof(names) - used)
                break;
            used += (size_t)n;
        }
        if (used)
            json_object_set_new(out, "roles", json_string(names));
        if (json_is_array(json_object_get(token, "catalog"))) /* where the services are */
            json_object_set(out, "catalog", json_object_get(token, "catalog"));
    }
    json_decref(doc);
    return out;
}

int glarex_keystone_token(glarex_buf *out, const glarex_keystone_options *opts,
                          glarex_error *err)
{
    return glarex_keystone_token_ex(out, NULL, opts, err);
}

int glarex_keystone_token_ex(glarex_buf *out, json_t **identity,
                             const glarex_keystone_options *opts, glarex_error *err)
{
    glarex__peer peer = {0};
    glarex__http_request req;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    glarex_keystone_options current;
    char *body = NULL, *shown = NULL, *url = NULL;
    int error = 0;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    GLAREX_ASSERT_ARG(err, opts);
    if (identity)
        *identity = NULL;
    if (!options_size(opts->version))
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "glarex_keystone_options: unknown version %u (expected 1 to %d)", opts->version,
            GLAREX_KEYSTONE_OPTIONS_VERSION);
    if (opts->version < GLAREX_KEYSTONE_OPTIONS_VERSION) { /* an older caller's struct */
        memset(&current, 0, sizeof(current));
        memcpy(&current, opts, options_size(opts->version));
        opts = &current;
    }
    if (!opts->username || !opts->password)
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "Keystone password authentication needs a user name and a "
            "password");
    if ((error = glarex__peer_open(&peer, "Keystone URL", opts->auth_url, &opts->client,
                                   err)) < 0)
        return error;

    body = auth_body(opts, opts->password);
    shown = auth_body(opts, "***");
    url = tokens_url(peer.base);
    if (!body || !shown || !url) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.what = "POST /v3/auth/tokens";
    req.accept = "application/json";
    req.content_type = "application/json";
    req.has_body = 1;
    req.body = body;
    req.body_size = strlen(body);
    req.trace_body = shown;
    req.idempotent = 1; /* asking for a token twice is harmless */
    req.max_body = peer.max_json;
    if ((error = glarex__http_perform(&resp, peer.http, &req, err)) < 0)
        goto done;
    if (!resp.subject_token || !resp.subject_token[0]) {
        error = glarex__error_set(err, GLAREX_EPROTOCOL,
                                  "%s: %ld answer without an X-Subject-Token header",
                                  req.what, resp.status);
        goto done;
    }
    if (identity && !(*identity = token_identity(&resp.body))) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    out->size = strlen(resp.subject_token);
    out->ptr = resp.subject_token;
    resp.subject_token = NULL;

done:
    glarex__http_response_dispose(&resp);
    glarex__peer_close(&peer);
    if (body) /* it held the password */
        memset(body, 0, strlen(body));
    free(body);
    free(shown);
    free(url);
    return error;
}
