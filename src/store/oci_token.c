/* Registry credentials and bearer tokens (see oci_token.h). */
#include "oci_token.h"
#include "http.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A token is not handed out when it expires within this: the request still has to
 * reach the registry. */
#define TOKEN_MARGIN_MS 5000
/* The protocol's lifetime when the endpoint names none. */
#define TOKEN_DEFAULT_S 60
/* A credential file holds a few logins; anything larger is not one. */
#define CREDENTIALS_FILE_MAX (1024 * 1024)

/* {=========================== WWW-Authenticate ===================================== */

static int is_tchar(int c)
{
    /* strchr finds the terminator too: NUL is no tchar */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads a token or a quoted-string at *pp into a new string. */
static char *read_value(const char **pp)
{
    const char *p = *pp;
    char *out, *o;

    if (*p != '"') {
        const char *start = p;
        while (is_tchar((unsigned char)*p) || *p == '/' || *p == '=')
            p++;
        *pp = p;
        return strndup(start, (size_t)(p - start));
    }
    if (!(o = out = malloc(strlen(p) + 1)))
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        *o++ = *p;
    }
    *o = '\0';
    if (*p != '"') {
        free(out);
        *pp = p;
        return NULL;
    }
    *pp = p + 1;
    return out;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts `list`'s parts (separated by `sep`) in place: "push,pull" becomes "pull,push".
 * A list of more than 64 parts is left as it is: its tokens are only not found again. */
static void sort_parts(char *list, char sep)
{
    char *parts[64], *copy, *p;
    size_t n = 0, at = 0;

    if (!(copy = strdup(list)))
        return;
    for (p = copy; p && n < 64; n++) {
        parts[n] = p;
        if ((p = strchr(p, sep)))
            *p++ = '\0';
    }
    if (!p) {
        qsort(parts, n, sizeof(parts[0]), compare_strings);
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(parts[i]);
            if (i)
                list[at++] = sep;
            memcpy(list + at, parts[i], len);
            at += len;
        }
        list[at] = '\0';
    }
    free(copy);
}

/* A scope in one spelling: registries name the actions of a scope in any order
 * (distribution's come from a Go map: "pull,push" on one answer, "push,pull" on the
 * next), and the tokens kept per scope must be found again. */
static void canonical_scope(char *scope)
{
    char *item = scope;

    for (char *end;; item = end + 1) {
        char *actions;
        end = strchr(item, ' ');
        if (end)
            *end = '\0';
        if ((actions = strrchr(item, ':')))
            sort_parts(actions + 1, ',');
        if (!end)
            break;
        *end = ' ';
    }
    sort_parts(scope, ' ');
}

int glarex__oci_challenge_parse(glarex__oci_challenge *out, const char *header,
                                const char *registry, glarex_error *err)
{
    const char *p = skip_ows(header ? header : "");
    const char *scheme = p;
    size_t scheme_len;

    memset(out, 0, sizeof(*out));
    while (is_tchar((unsigned char)*p))
        p++;
    scheme_len = (size_t)(p - scheme);
    if (scheme_len == 6 && strncasecmp(scheme, "Bearer", 6) == 0)
        out->scheme = GLAREX__OCI_BEARER;
    else if (scheme_len == 5 && strncasecmp(scheme, "Basic", 5) == 0)
        out->scheme = GLAREX__OCI_BASIC;
    else
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "registry %s asks for authentication of the kind '%.*s' "
                                 "(WWW-Authenticate: %.200s): glarex speaks Basic and Bearer",
                                 registry, (int)scheme_len, scheme, header ? header : "");

    for (;;) {
        const char *name;
        size_t name_len;
        char *value, **slot = NULL;

        p = skip_ows(p);
        while (*p == ',')
            p = skip_ows(p + 1);
        if (!*p)
            break;
        name = p;
        while (is_tchar((unsigned char)*p))
            p++;
        name_len = (size_t)(p - name);
        p = skip_ows(p);
        if (name_len == 0 || *p != '=')
            break; /* the next challenge's scheme: the first one is ours */
        p = skip_ows(p + 1);
        if (!(value = read_value(&p))) {
            glarex__oci_challenge_dispose(out);
            return *p ? GLAREX_ENOMEM_SET(err)
                      : glarex__error_set(err, GLAREX_EPROTOCOL,
                                          "registry %s sent a WWW-Authenticate header with "
                                          "an unterminated quoted string: %.200s",
                                          registry, header);
        }
        if (name_len == 5 && strncasecmp(name, "realm", 5) == 0)
            slot = &out->realm;
        else if (name_len == 7 && strncasecmp(name, "service", 7) == 0)
            slot = &out->service;
        else if (name_len == 5 && strncasecmp(name, "scope", 5) == 0)
            slot = &out->scope;
        if (slot && !*slot)
            *slot = value;
        else
            free(value);
    }
    if (out->scope)
        canonical_scope(out->scope);
    if (out->scheme == GLAREX__OCI_BEARER && (!out->realm || !*out->realm)) {
        glarex__oci_challenge_dispose(out);
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "registry %s asks for a bearer token but names no realm "
                                 "to get it from (WWW-Authenticate: %.200s)",
                                 registry, header);
    }
    return 0;
}

void glarex__oci_challenge_dispose(glarex__oci_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

/* }==================================================================================== */

/* {=========================== token endpoint ======================================= */

int glarex__oci_host_is_loopback(const char *host, size_t len)
{
    size_t i;

    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && strncmp(host, "[::1]", 5) == 0))
        return 1;
    if (len < 4 || strncmp(host, "127.", 4) != 0)
        return 0;
    for (i = 4; i < len; i++)
        if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
            return 0;
    return 1;
}

int glarex__oci_token_url(char **out, const glarex__oci_challenge *c, const char *scope,
                          int allow_http, glarex_error *err)
{
    const char *realm = c->realm;
    char *service = NULL, *scope_q = NULL;
    int error = 0, n;

    *out = NULL;
    if (!scope)
        scope = c->scope;
    if (strncasecmp(realm, "http://", 7) == 0) {
        const char *host = realm + 7, *end;

        if (*host == '[')
            end = (end = strchr(host, ']')) ? end + 1 : host + strlen(host);
        else
            end = host + strcspn(host, ":/?#");
        if (!allow_http && !glarex__oci_host_is_loopback(host, (size_t)(end - host)))
            return glarex__error_set(err, GLAREX_EINVALID,
                                     "the registry's token endpoint %.300s is plain http on a "
                                     "host that is not loopback: credentials would cross the "
                                     "network in clear (use https, or allow plain http for "
                                     "this registry explicitly)",
                                     realm);
    } else if (strncasecmp(realm, "https://", 8) != 0) {
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "the registry's token endpoint '%.300s' is not an http(s) URL",
                                 realm);
    }

    if ((c->service && !(service = glarex__http_escape(c->service))) ||
        (scope && !(scope_q = glarex__http_escape(scope)))) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    n = asprintf(out, "%s%s%s%s%s%s", realm, service ? (strchr(realm, '?') ? "&" : "?") : "",
                 service ? "service=" : "", service ? service : "",
                 scope_q ? (service || strchr(realm, '?') ? "&scope=" : "?scope=") : "",
                 scope_q ? scope_q : "");
    if (n < 0) {
        *out = NULL;
        error = GLAREX_ENOMEM_SET(err);
    }
done:
    free(service);
    free(scope_q);
    return error;
}

int glarex__oci_token_parse(char **token, int64_t *expires_at_ms, const char *body,
                            size_t len, int64_t now_ms, const char *realm,
                            glarex_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr), *value, *expires;
    json_int_t lifetime = TOKEN_DEFAULT_S;
    int error = 0;

    *token = NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "the registry's token endpoint %.300s answered with something "
                                 "other than a JSON object",
                                 realm);
    }
    value = json_object_get(root, "token");
    if (!json_is_string(value) || !json_string_length(value))
        value = json_object_get(root, "access_token");
    expires = json_object_get(root, "expires_in");
    if (!json_is_string(value) || !json_string_length(value)) {
        error = glarex__error_set(err, GLAREX_EPROTOCOL,
                                  "the registry's token endpoint %.300s answered without a "
                                  "token",
                                  realm);
    } else if (expires && (!json_is_integer(expires) || json_integer_value(expires) <= 0)) {
        error = glarex__error_set(err, GLAREX_EPROTOCOL,
                                  "the registry's token endpoint %.300s gave an expires_in that "
                                  "is not a positive number of seconds",
                                  realm);
    } else if (!(*token = strdup(json_string_value(value)))) {
        error = GLAREX_ENOMEM_SET(err);
    } else {
        if (expires)
            lifetime = json_integer_value(expires);
        if (lifetime > INT64_MAX / 1000 - now_ms)
            lifetime = (INT64_MAX - now_ms) / 1000;
        *expires_at_ms = now_ms + (int64_t)lifetime * 1000;
    }
    json_decref(root);
    return error;
}

/* }==================================================================================== */

/* {=========================== token cache ========================================== */

typedef struct token_entry {
    struct token_entry *next;
    char *registry;
    char *scope;
    char *header; /* "Bearer TOKEN" */
    int64_t expires_at_ms;
} token_entry;

struct glarex__oci_tokens {
    pthread_mutex_t lock;
    token_entry *entries;
};

static void entry_free(token_entry *e)
{
    free(e->registry);
    free(e->scope);
    free(e->header);
    free(e);
}

int glarex__oci_tokens_new(glarex__oci_tokens **out, glarex_error *err)
{
    glarex__oci_tokens *tokens = calloc(1, sizeof(*tokens));

    *out = NULL;
    if (!tokens)
        return GLAREX_ENOMEM_SET(err);
    pthread_mutex_init(&tokens->lock, NULL);
    *out = tokens;
    return 0;
}

void glarex__oci_tokens_free(glarex__oci_tokens *tokens)
{
    token_entry *e, *next;

    if (!tokens)
        return;
    for (e = tokens->entries; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&tokens->lock);
    free(tokens);
}

/* The link pointing at the entry for registry and scope, or at the list's end. */
static token_entry **find_entry(glarex__oci_tokens *tokens, const char *registry,
                                const char *scope)
{
    token_entry **link;

    for (link = &tokens->entries; *link; link = &(*link)->next)
        if (strcasecmp((*link)->registry, registry) == 0 &&
            strcmp((*link)->scope, scope ? scope : "") == 0)
            break;
    return link;
}

int glarex__oci_tokens_put(glarex__oci_tokens *tokens, const char *registry,
                           const char *scope, const char *token, int64_t expires_at_ms,
                           glarex_error *err)
{
    token_entry *e = calloc(1, sizeof(*e)), **link;
    size_t header_size = strlen(token) + sizeof("Bearer ");

    if (!e || !(e->registry = strdup(registry)) || !(e->scope = strdup(scope ? scope : "")) ||
        !(e->header = malloc(header_size))) {
        if (e)
            entry_free(e);
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(e->header, header_size, "Bearer %s", token);
    e->expires_at_ms = expires_at_ms;

    pthread_mutex_lock(&tokens->lock);
    link = find_entry(tokens, registry, scope);
    if (*link) {
        e->next = (*link)->next;
        entry_free(*link);
    }
    *link = e;
    pthread_mutex_unlock(&tokens->lock);
    return 0;
}

char *glarex__oci_tokens_header(glarex__oci_tokens *tokens, const char *registry,
                                const char *scope, int64_t now_ms)
{
    token_entry *e;
    char *header = NULL;

    pthread_mutex_lock(&tokens->lock);
    e = *find_entry(tokens, registry, scope);
    if (e && e->expires_at_ms - TOKEN_MARGIN_MS > now_ms)
        header = strdup(e->header);
    pthread_mutex_unlock(&tokens->lock);
    return header;
}

void glarex__oci_tokens_drop(glarex__oci_tokens *tokens, const char *registry,
                             const char *scope)
{
    token_entry **link, *e;

    pthread_mutex_lock(&tokens->lock);
    link = find_entry(tokens, registry, scope);
    if ((e = *link)) {
        *link = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&tokens->lock);
}

/* }==================================================================================== */

/* {=========================== credential files ===================================== */

/* The registry part of an "auths" key: scheme and docker's "/v1/" suffix removed. */
static size_t auth_key_length(const char **key)
{
    const char *k = *key;
    size_t len;

    if (strncasecmp(k, "https://", 8) == 0)
        k += 8;
    else if (strncasecmp(k, "http://", 7) == 0)
        k += 7;
    len = strlen(k);
    while (len && k[len - 1] == '/')
        len--;
    if (len >= 3 && (strncmp(k + len - 3, "/v1", 3) == 0 || strncmp(k + len - 3, "/v2", 3) == 0))
        len -= 3;
    *key = k;
    return len;
}

/* How specific `key` is for registry/repository: its length, or 0 when it does not
 * name them (a key names the registry, or it and a leading part of the repository). */
static size_t key_match(const char *key, const char *registry, const char *repository)
{
    size_t len = auth_key_length(&key), host_len = strlen(registry);

    if (len < host_len || strncasecmp(key, registry, host_len) != 0)
        return 0;
    if (len == host_len)
        return len;
    if (key[host_len] != '/' || !repository)
        return 0;
    key += host_len + 1;
    len -= host_len + 1;
    if (strncmp(key, repository, len) == 0 && (repository[len] == '\0' || repository[len] == '/'))
        return host_len + 1 + len;
    return 0;
}

/* Decodes a docker "auth" value, base64 of "user:password". */
static int decode_auth(glarex__oci_credentials *out, const char *b64, const char *source,
                       glarex_error *err)
{
    size_t len = strlen(b64);
    unsigned char *plain = malloc(len / 4 * 3 + 4);
    int n;
    char *colon;

    if (!plain)
        return GLAREX_ENOMEM_SET(err);
    n = len % 4 == 0 ? EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)len) : -1;
    if (n >= 0) {
        n -= (len >= 1 && b64[len - 1] == '=') + (len >= 2 && b64[len - 2] == '=');
        plain[n] = '\0';
    }
    if (n < 0 || strlen((char *)plain) != (size_t)n || !(colon = strchr((char *)plain, ':'))) {
        free(plain);
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "%s: \"auth\" is not base64 of USER:PASSWORD", source);
    }
    *colon = '\0';
    out->username = strdup((char *)plain);
    out->password = strdup(colon + 1);
    OPENSSL_cleanse(plain, (size_t)n);
    free(plain);
    return out->username && out->password ? 0 : GLAREX_ENOMEM_SET(err);
}

/* Looks the registry up in one file. Returns 1 when it named the registry, 0 when the
 * file is missing or does not name it, or an error. */
static int find_in_file(glarex__oci_credentials *out, const char *path, const char *registry,
                        const char *repository, glarex_error *err)
{
    json_error_t jerr;
    json_t *root, *auths, *helpers, *entry, *best = NULL, *value;
    const char *key, *best_key = NULL;
    size_t best_len = 0, len;
    int found = 0;
    char source[1200];

    FILE *f = fopen(path, "re");

    if (!f)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : glarex__error_set(err, GLAREX_EIO,
                                       "registry credentials file %s cannot be read: %s", path,
                                       strerror(errno));
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > CREDENTIALS_FILE_MAX) {
        fclose(f);
        return glarex__error_set(err, GLAREX_ETOOBIG,
                                 "registry credentials file %s is larger than %d bytes", path,
                                 CREDENTIALS_FILE_MAX);
    }
    rewind(f);
    root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!root)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "registry credentials file %s, line %d: %s; fix or remove "
                                 "the file",
                                 path, jerr.line, jerr.text);
    auths = json_object_get(root, "auths");
    json_object_foreach(auths, key, entry)
    {
        if ((len = key_match(key, registry, repository)) > best_len) {
            best = entry;
            best_key = key;
            best_len = len;
        }
    }
    helpers = json_object_get(root, "credHelpers");
    if ((value = json_object_get(helpers, registry)) ||
        (best && !json_object_get(best, "auth") && json_object_get(root, "credsStore"))) {
        glarex__error_set(err, GLAREX_EUNSUPPORTED,
                          "%s keeps the credentials of registry %s in the credential helper "
                          "'docker-credential-%s', which glarex does not run: give them as "
                          "glarex's registry username and password settings instead",
                          path, registry,
                          json_is_string(value) ? json_string_value(value)
                                                : json_string_value(json_object_get(root, "credsStore")));
        json_decref(root);
        return GLAREX_EUNSUPPORTED;
    }
    if (best) {
        snprintf(source, sizeof(source), "%s (\"auths\": \"%s\")", path, best_key);
        if ((value = json_object_get(best, "auth")) && json_is_string(value) &&
            json_string_length(value)) {
            found = decode_auth(out, json_string_value(value), source, err);
        } else if (json_is_string(json_object_get(best, "username")) &&
                   json_is_string(json_object_get(best, "password"))) {
            out->username = strdup(json_string_value(json_object_get(best, "username")));
            out->password = strdup(json_string_value(json_object_get(best, "password")));
            found = out->username && out->password ? 0 : GLAREX_ENOMEM_SET(err);
        } else {
            found = glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                      "%s names registry %s with neither \"auth\" nor "
                                      "username and password (an identity token is not "
                                      "supported): log in again with a password",
                                      source, registry);
        }
        if (found == 0 && !(out->source = strdup(source)))
            found = GLAREX_ENOMEM_SET(err);
        if (found == 0)
            found = 1;
    }
    json_decref(root);
    return found;
}

int glarex__oci_credentials_find(glarex__oci_credentials *out, const char *registry,
                                 const char *repository, glarex_error *err)
{
    const char *home = getenv("HOME"), *env;
    char paths[4][1024];
    int n = 0, i, found = 0;

    memset(out, 0, sizeof(*out));
    paths[0][0] = paths[1][0] = paths[2][0] = paths[3][0] = '\0';
    if ((env = getenv("REGISTRY_AUTH_FILE")) && *env)
        snprintf(paths[n++], sizeof(paths[0]), "%s", env);
    if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
        snprintf(paths[n++], sizeof(paths[0]), "%s/containers/auth.json", env);
    if ((env = getenv("XDG_CONFIG_HOME")) && *env)
        snprintf(paths[n++], sizeof(paths[0]), "%s/containers/auth.json", env);
    else if (home && *home)
        snprintf(paths[n++], sizeof(paths[0]), "%s/.config/containers/auth.json", home);
    if ((env = getenv("DOCKER_CONFIG")) && *env)
        snprintf(paths[n++], sizeof(paths[0]), "%s/config.json", env);
    else if (home && *home)
        snprintf(paths[n++], sizeof(paths[0]), "%s/.docker/config.json", home);

    for (i = 0; i < n && found == 0; i++)
        found = find_in_file(out, paths[i], registry, repository, err);
    if (found < 0) {
        glarex__oci_credentials_dispose(out);
        return found;
    }
    return 0;
}

void glarex__oci_credentials_dispose(glarex__oci_credentials *c)
{
    if (c->password)
        OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->username);
    free(c->password);
    free(c->source);
    memset(c, 0, sizeof(*c));
}

/* }==================================================================================== */
