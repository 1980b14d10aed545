/*
 * Scope keys: the store's identity and the asking credentials' identity, hashed.
 */
#include "scope.h"

#include "digest.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "scheme://host[:port]/path" with scheme and host lower-cased, the scheme's default
 * port and trailing slashes left out, user info and query dropped (new), or NULL. */
static char *normalise_url(const char *url)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *out = NULL;

    if (!h || curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto done;
    if (curl_url_get(h, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    for (char *p = scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (port && ((strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
                 (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0))) {
        curl_free(port);
        port = NULL;
    }
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        path[--plen] = '\0';
    if (asprintf(&out, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                 path) < 0)
        out = NULL;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(h);
    return out;
}

int glarex__store_identity(char **out, const char *store_url, const char *store_id,
                           const char *type_name, glarex_error *err)
{
    char *base = NULL;
    int rc = 0;

    *out = NULL;
    if (store_id) {
        if (asprintf(out, "local store %s, type %s", store_id, type_name) < 0)
            *out = NULL;
    } else if ((base = normalise_url(store_url)) != NULL) {
        if (asprintf(out, "glare %s, type %s", base, type_name) < 0)
            *out = NULL;
    } else {
        return glarex__error_set(err, GLAREX_EINVALID, "cannot parse the store URL '%s'",
                                 store_url);
    }
    if (!*out)
        rc = GLAREX_ENOMEM_SET(err);
    free(base);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `roles` (comma-separated) sorted, without spaces or empty items (new), so that the
 * same set of roles names the same identity. */
static char *sorted_roles(const char *roles)
{
    char *copy = strdup(roles ? roles : ""), *items[64], *save = NULL, *out;
    size_t n = 0, len = 0;

    if (!copy)
        return NULL;
    for (char *t = strtok_r(copy, ", ", &save); t && n < 64; t = strtok_r(NULL, ", ", &save)) {
        items[n++] = t;
        len += strlen(t) + 1;
    }
    qsort(items, n, sizeof(items[0]), cmp_str);
    out = malloc(len + 1);
    if (out) {
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(out, ",");
            strcat(out, items[i]);
        }
    }
    free(copy);
    return out;
}

/* A trusted-auth token: exactly "user:project:roles" with a non-empty project. */
static int is_trusted_token(const char *token, const char **c1, const char **c2)
{
    const char *a, *b;
    if (!token || !(a = strchr(token, ':')) || !(b = strchr(a + 1, ':')) || strchr(b + 1, ':') ||
        b == a + 1)
        return 0;
    *c1 = a;
    *c2 = b;
    return 1;
}

const char *glarex__creds_project(const glarex__creds *creds, char **owned)
{
    const char *a, *b;
    *owned = NULL;
    if (creds->project_id && *creds->project_id)
        return creds->project_id;
    if (is_trusted_token(creds->auth_token, &a, &b))
        return *owned = strndup(a + 1, (size_t)(b - a - 1));
    if (!(creds->auth_token && *creds->auth_token) && creds->noauth_project)
        return creds->noauth_project;
    return NULL;
}

int glarex__scope_key(char out[65], const char *store_identity, const glarex__creds *c,
                      glarex_error *err)
{
    char *who = NULL, *roles = NULL, *text = NULL;
    char token_sha[65], md5[33];
    const char *a, *b;
    int rc = 0;

    const char *token = c->auth_token && *c->auth_token ? c->auth_token : NULL;
    if (c->project_id && *c->project_id) {
        roles = sorted_roles(c->roles);
        if (roles && asprintf(&who, "keystone project=%s user=%s roles=%s", c->project_id,
                              c->user_id ? c->user_id : "", roles) < 0)
            who = NULL;
    } else if (token && is_trusted_token(token, &a, &b)) {
        roles = sorted_roles(b + 1);
        if (roles && asprintf(&who, "trusted user=%.*s project=%.*s roles=%s",
                              (int)(a - token), token, (int)(b - a - 1), a + 1, roles) < 0)
            who = NULL;
    } else if (token) {
        /* an opaque token: its digest, so the token itself is kept nowhere */
        if (glarex__digest_buffer(token, strlen(token), token_sha, md5) == 0 &&
            asprintf(&who, "token sha256=%s", token_sha) < 0)
            who = NULL;
    } else if (c->noauth_project && *c->noauth_project) {
        roles = sorted_roles(c->noauth_roles);
        if (roles && asprintf(&who, "noauth project=%s user=%s roles=%s", c->noauth_project,
                              c->noauth_user ? c->noauth_user : "", roles) < 0)
            who = NULL;
    } else {
        who = strdup("anonymous");
    }
    if (!who || asprintf(&text, "%s\n%s", store_identity, who) < 0) {
        text = NULL;
        rc = GLAREX_ENOMEM_SET(err);
    } else if (glarex__digest_buffer(text, strlen(text), out, md5) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
    }
    free(who);
    free(roles);
    free(text);
    return rc;
}
