/* The registry side of the OCI store: parsing the store URL, finding credentials,
 * and sending requests to the origin and its mirrors. */
#include "oci_registry.h"

#include "clock.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The HTTP defaults of a Glare client (docs/client.md), so both stores behave alike. */
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_STALL_TIMEOUT_MS 30000L
#define DEFAULT_MAX_RETRIES 3
#define DEFAULT_RETRY_BASE_MS 200L
#define DEFAULT_RETRY_MAX_MS 5000L
#define MAX_REDIRECTS 5
/* Challenges answered for one request: Basic once, Bearer once per scope. */
#define MAX_AUTH_TRIES 3

/* {====================================================================
 * The store URL
 * ==================================================================== */

/* A repository path component as distribution accepts it: [a-z0-9]+ joined by '.',
 * '_', '__' or '-'s. */
int glarex__oci_valid_component(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isupper(c) || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return 0;
        if ((c == '.' || c == '_') && !isalnum((unsigned char)s[i + 1]) &&
            !(c == '_' && s[i + 1] == '_' && isalnum((unsigned char)s[i + 2])))
            return 0;
    }
    return 1;
}

static int valid_namespace(const char *ns)
{
    while (*ns) {
        size_t n = strcspn(ns, "/");
        if (!glarex__oci_valid_component(ns, n))
            return 0;
        ns += n;
        if (*ns == '/' && !*++ns)
            return 0;
    }
    return 1;
}

/* host[:port] of a mirror: letters, digits, '.', '-', ':' and brackets only. */
static int valid_host_port(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                           ".-:[]") == strlen(s);
}

static int host_init(oci_host *h, const char *host, const char *port, int plain_http)
{
    /* plain HTTP only to a loopback address (a name that starts like one is a name) */
    const char *scheme =
        plain_http || glarex__oci_host_is_loopback(host, strlen(host)) ? "http" : "https";
    if (asprintf(&h->name, "%s%s%s", host, port ? ":" : "", port ? port : "") < 0) {
        h->name = NULL;
        return -1;
    }
    for (char *p = h->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (asprintf(&h->base, "%s://%s", scheme, h->name) < 0) {
        h->base = NULL;
        return -1;
    }
    return 0;
}

static void host_dispose(oci_host *h)
{
    free(h->base);
    free(h->name);
    free(h->basic);
    free(h->user);
    free(h->authorization);
    memset(h, 0, sizeof(*h));
}

static int bad_url(glarex_error *err, const char *url, const char *why)
{
    const char *auth = strstr(url, "://") + 3, *at = NULL, *colon;
    size_t n = strcspn(auth, "/?#");

    for (size_t i = 0; i < n; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last one: a password may hold '@' */
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    /* the URL as given, but never its password */
    return glarex__error_set(err, GLAREX_EINVALID,
                             "store URL '%.*s%s%s' %s: write oci://host[:port]/namespace "
                             "(oci+http:// for plain HTTP to a host that is not loopback)",
                             (int)(colon ? colon - url : (int)strlen(url)), url,
                             colon ? ":***" : "", colon ? at : "", why);
}

/* Mirrors named by the query: mirror=host[:port], '&'-separated. */
static int parse_query(oci_registry *reg, const char *query, int plain_http,
                       const char *shown, glarex_error *err)
{
    char *copy = strdup(query), *save = NULL;
    int rc = 0;

    if (!copy)
        return GLAREX_ENOMEM_SET(err);
    for (char *item = strtok_r(copy, "&", &save); item && rc == 0;
         item = strtok_r(NULL, "&", &save)) {
        char *value = strchr(item, '=');
        char *colon;
        oci_host *m;
        if (!value || (size_t)(value - item) != strlen("mirror") ||
            strncmp(item, "mirror", strlen("mirror")) != 0) {
            rc = bad_url(err, shown, "has a query other than mirror=host[:port]");
            break;
        }
        value++;
        if (!valid_host_port(value)) {
            rc = bad_url(err, shown, "names a mirror that is not host[:port]");
            break;
        }
        if (reg->nmirrors == OCI_MAX_MIRRORS) {
            rc = bad_url(err, shown, "names more than 4 mirrors");
            break;
        }
        m = &reg->mirrors[reg->nmirrors++];
        colon = strrchr(value, ':');
        if (colon && !strchr(colon, ']'))
            *colon++ = '\0';
        else
            colon = NULL;
        if (host_init(m, value, colon, plain_http) < 0 ||
            glarex__oci_file_credentials(&m->basic, &m->user, m->name, reg->ns, err) < 0)
            rc = err && err->code ? err->code : GLAREX_ENOMEM_SET(err);
    }
    free(copy);
    return rc;
}

static void http_config(glarex__http_config *cfg, const glarex_client_options *o)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ca_file = o->ca_file;
    cfg->client_cert = o->client_cert;
    cfg->client_key = o->client_key;
    cfg->insecure = o->insecure;
    cfg->connect_timeout_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->total_timeout_ms = o->total_timeout_ms > 0 ? o->total_timeout_ms : 0;
    cfg->stall_timeout_ms =
        o->stall_timeout_ms > 0 ? o->stall_timeout_ms : DEFAULT_STALL_TIMEOUT_MS;
    cfg->max_retries = o->max_retries == 0 ? DEFAULT_MAX_RETRIES
                       : o->max_retries < 0 ? 0
                                            : o->max_retries;
    cfg->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : DEFAULT_RETRY_BASE_MS;
    cfg->retry_max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    if (cfg->retry_base_ms > cfg->retry_max_ms)
        cfg->retry_base_ms = cfg->retry_max_ms;
    cfg->trace = o->trace;
    cfg->trace_payload = o->trace_payload;
}

int glarex__oci_registry_open(oci_registry *reg, const char *url,
                              const glarex_client_options *copts, glarex_error *err)
{
    const char *rest = strstr(url, "://") + 3;
    int plain_http = strncasecmp(url, "oci+http://", strlen("oci+http://")) == 0;
    char *as_http = NULL, *host = NULL, *port = NULL, *user = NULL, *password = NULL,
         *path = NULL, *query = NULL;
    glarex__http_config cfg;
    CURLU *h = NULL;
    int rc = 0;

    memset(reg, 0, sizeof(*reg));
    if ((rc = glarex_global_init(err)) < 0)
        return rc;
    /* curl parses the authority */
    if (asprintf(&as_http, "http://%s", rest) < 0 || !(h = curl_url())) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (curl_url_set(h, CURLUPART_URL, as_http, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        rc = bad_url(err, url, "cannot be parsed");
        goto done;
    }
    if (curl_url_get(h, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    if (curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE) != CURLUE_OK)
        user = NULL;
    if (curl_url_get(h, CURLUPART_PASSWORD, &password, CURLU_URLDECODE) != CURLUE_OK)
        password = NULL;
    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    if (strchr(rest, '#')) {
        rc = bad_url(err, url, "holds a '#'");
        goto done;
    }
    /* the namespace: the path without its slashes at either end */
    {
        char *p = path;
        size_t n;
        while (*p == '/')
            p++;
        n = strlen(p);
        while (n && p[n - 1] == '/')
            p[--n] = '\0';
        if (!*p || !valid_namespace(p)) {
            rc = bad_url(err, url,
                         *p ? "has a namespace that is not lower-case letters, digits and "
                              "'.', '_', '-' between '/'"
                            : "names no namespace");
            goto done;
        }
        if (!(reg->ns = strdup(p))) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    }
    if (host_init(&reg->origin, host, port, plain_http) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (user && *user) {
        reg->origin.user = strdup(user);
        reg->origin.basic = glarex__oci_basic(user, password ? password : "");
        if (!reg->origin.user || !reg->origin.basic) {
            rc = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if ((rc = glarex__oci_file_credentials(&reg->origin.basic, &reg->origin.user,
                                                  reg->origin.name, reg->ns, err)) < 0) {
        goto done;
    }
    if (query && (rc = parse_query(reg, query, plain_http, url, err)) < 0)
        goto done;
    if (asprintf(&reg->identity, "registry %s/%s user=%s", reg->origin.base, reg->ns,
                 reg->origin.user ? reg->origin.user : "anonymous") < 0) {
        reg->identity = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    http_config(&cfg, copts);
    reg->plain_http = plain_http;
    if ((rc = glarex__http_new(&reg->http, &cfg, err)) == 0)
        rc = glarex__oci_tokens_new(&reg->tokens, err);
done:
    free(as_http);
    curl_free(host);
    curl_free(port);
    if (password) /* leave no copy of the password behind */
        memset(password, 0, strlen(password));
    curl_free(user);
    curl_free(password);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(h);
    if (rc < 0)
        glarex__oci_registry_dispose(reg);
    return rc;
}

void glarex__oci_registry_dispose(oci_registry *reg)
{
    glarex__http_free(reg->http);
    glarex__oci_tokens_free(reg->tokens);
    host_dispose(&reg->origin);
    for (size_t i = 0; i < reg->nmirrors; i++)
        host_dispose(&reg->mirrors[i]);
    free(reg->ns);
    free(reg->identity);
    memset(reg, 0, sizeof(*reg));
}

/* }==================================================================== */

/* {====================================================================
 * Requests
 * ==================================================================== */

/* The most a token endpoint's answer may be. */
#define TOKEN_ANSWER_MAX (64 * 1024)

static int authorize_basic(oci_host *host, const char *what, glarex_error *err)
{
    if (!host->basic)
        return glarex__error_set(
            err, GLAREX_EAUTH,
            "%s: registry %s asks for credentials: put them in the store URL "
            "(oci://USER:PASSWORD@%s/...) or log in with docker login or podman login",
            what, host->name, host->name);
    if (host->authorization)
        return glarex__error_set(err, GLAREX_EAUTH,
                                 "%s: registry %s refused the credentials of user '%s'", what,
                                 host->name, host->user ? host->user : "");
    if (!(host->authorization = strdup(host->basic)))
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

/* Asks the challenge's token endpoint for a token for its scope (a kept one first). */
static int authorize_bearer(oci_registry *reg, oci_host *host,
                            const glarex__oci_challenge *c, const char *what,
                            glarex_error *err)
{
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    glarex__http_request req;
    char *kept, *url = NULL, *token = NULL, whatbuf[512];
    const char *who = host->user ? host->user : NULL;
    int64_t expires_at = 0;
    int rc;

    kept = glarex__oci_tokens_header(reg->tokens, host->name, c->scope, glarex__now_ms());
    if (kept && host->authorization && strcmp(kept, host->authorization) == 0) {
        /* the registry refused the token it asked for */
        free(kept);
        glarex__oci_tokens_drop(reg->tokens, host->name, c->scope);
        return glarex__error_set(err, GLAREX_EAUTH,
                                 "%s: registry %s refused the token its endpoint %s gave %s%s "
                                 "for '%s': %s",
                                 what, host->name, c->realm, who ? "user " : "anonymous requests",
                                 who ? who : "", c->scope ? c->scope : "",
                                 who ? "that user may not do this there"
                                     : "log in with docker login or podman login, or put "
                                       "credentials in the store URL");
    }
    if (kept) {
        free(host->authorization);
        host->authorization = kept;
        return 0;
    }

    if ((rc = glarex__oci_token_url(&url, c, NULL, reg->plain_http, err)) < 0)
        return rc;
    snprintf(whatbuf, sizeof(whatbuf), "%s: token for registry %s from %.300s", what,
             host->name, c->realm);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.what = whatbuf;
    req.accept = "application/json";
    req.authorization = host->basic; /* the realm the registry names gets the login */
    req.idempotent = 1;
    req.accept_any = 1;
    req.max_body = TOKEN_ANSWER_MAX;
    if ((rc = glarex__http_perform(&resp, reg->http, &req, err)) < 0)
        goto done;
    if (resp.status == 401 || resp.status == 403) {
        rc = glarex__error_set(err, GLAREX_EAUTH,
                               "%s: the token endpoint %s of registry %s refused %s%s%s: %s",
                               what, c->realm, host->name, who ? "the credentials of user '" : "",
                               who ? who : "anonymous requests", who ? "'" : "",
                               who ? "check the password (store URL, docker login or podman "
                                     "login)"
                                   : "log in with docker login or podman login, or put "
                                     "credentials in the store URL");
        goto done;
    }
    if (resp.status < 200 || resp.status >= 300) {
        rc = glarex__http_status_error(err, whatbuf, &resp);
        goto done;
    }
    if ((rc = glarex__oci_token_parse(&token, &expires_at, resp.body.ptr, resp.body.size,
                                      glarex__now_ms(), c->realm, err)) < 0 ||
        (rc = glarex__oci_tokens_put(reg->tokens, host->name, c->scope, token, expires_at,
                                     err)) < 0)
        goto done;
    free(host->authorization);
    if (!(host->authorization =
              glarex__oci_tokens_header(reg->tokens, host->name, c->scope, glarex__now_ms())))
        rc = glarex__error_set(err, GLAREX_EPROTOCOL,
                               "%s: the token endpoint %s gave a token that expires at once",
                               what, c->realm);
done:
    if (token)
        OPENSSL_cleanse(token, strlen(token));
    free(token);
    free(url);
    glarex__http_response_dispose(&resp);
    return rc;
}

int glarex__oci_authorize(oci_registry *reg, oci_host *host, const char *challenge,
                          const char *what, glarex_error *err)
{
    glarex__oci_challenge c;
    int rc;

    if (!challenge)
        return glarex__error_set(err, GLAREX_EAUTH,
                                 "%s: registry %s answered 401 without a challenge", what,
                                 host->name);
    if ((rc = glarex__oci_challenge_parse(&c, challenge, host->name, err)) < 0)
        return rc;
    rc = c.scheme == GLAREX__OCI_BEARER ? authorize_bearer(reg, host, &c, what, err)
                                        : authorize_basic(host, what, err);
    glarex__oci_challenge_dispose(&c);
    return rc;
}

/* Whether `url` is on the host `base` ("scheme://host[:port]") names. */
static int on_host(const char *url, const char *base)
{
    size_t n = strlen(base);
    return strncasecmp(url, base, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

/* `location` resolved against `url` (new), or NULL when it is no http(s) URL. */
static char *resolve_location(const char *url, const char *location)
{
    CURLU *h = curl_url();
    char *out = NULL, *copy = NULL;

    if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_set(h, CURLUPART_URL, location, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK &&
        (strncasecmp(out, "http://", 7) == 0 || strncasecmp(out, "https://", 8) == 0))
        copy = strdup(out);
    curl_free(out);
    curl_url_cleanup(h);
    return copy;
}

/* Counts what reached the caller's sink, so a mirror that failed midway is not
 * replaced by the next one (the caller already has part of the body). */
typedef struct counted_sink {
    glarex__http_sink sink;
    void *payload;
    uint64_t bytes;
} counted_sink;

static int count_sink(const char *data, size_t len, void *payload)
{
    counted_sink *c = payload;
    c->bytes += len;
    return c->sink(data, len, c->payload);
}

static int send_to(glarex__http_response *resp, oci_registry *reg, oci_host *host,
                   const char *url, const oci_call *call, counted_sink *sink,
                   glarex_error *err)
{
    char *cur = strdup(url);
    int rc = 0, auth_tries = 0;

    if (!cur)
        return GLAREX_ENOMEM_SET(err);
    for (int hops = 0;; hops++) {
        glarex__http_request req;
        int own_host = on_host(cur, host->base);
        memset(&req, 0, sizeof(req));
        req.method = call->method;
        req.url = cur;
        req.what = call->what;
        req.accept = call->accept;
        req.content_type = call->content_type;
        req.authorization = own_host ? host->authorization : NULL; /* never elsewhere */
        req.has_body = call->has_body;
        req.body = call->body;
        req.body_size = call->body_size;
        req.body_file = call->body_file;
        req.body_file_size = call->body_file_size;
        req.idempotent = strcmp(call->method, "POST") != 0;
        req.accept_any = 1;
        req.sink = call->sink ? count_sink : NULL;
        req.sink_payload = sink;
        req.max_body = call->max_body;
        if (call->body_file)
            rewind(call->body_file);
        glarex__http_response_dispose(resp);
        *resp = (glarex__http_response)GLAREX__HTTP_RESPONSE_INIT;
        if ((rc = glarex__http_perform(resp, reg->http, &req, err)) < 0)
            break;
        if (resp->status == 401 && own_host && auth_tries++ < MAX_AUTH_TRIES) {
            /* a second 401 for the same credentials is reported by authorize; the cap
             * ends a registry that keeps asking for other scopes */
            if ((rc = glarex__oci_authorize(reg, host, resp->www_authenticate, call->what,
                                            err)) < 0)
                break;
            continue;
        }
        if (resp->status >= 300 && resp->status < 400 && resp->location &&
            (strcmp(call->method, "GET") == 0 || strcmp(call->method, "HEAD") == 0)) {
            char *next = resolve_location(cur, resp->location);
            if (!next || hops == MAX_REDIRECTS) {
                free(next);
                rc = glarex__error_set(err, GLAREX_EPROTOCOL,
                                       "%s: registry %s redirected %s", call->what,
                                       host->name,
                                       next ? "too many times" : "to a URL that is not http(s)");
                break;
            }
            free(cur);
            cur = next;
            continue;
        }
        break;
    }
    free(cur);
    return rc;
}

static int call_host(glarex__http_response *resp, oci_registry *reg, oci_host *host,
                     const oci_call *call, counted_sink *sink, glarex_error *err)
{
    char *full;
    int rc;

    if (asprintf(&full, "%s/v2/%s", host->base, call->path) < 0)
        return GLAREX_ENOMEM_SET(err);
    rc = send_to(resp, reg, host, full, call, sink, err);
    free(full);
    return rc;
}

int glarex__oci_call(glarex__http_response *resp, oci_registry *reg, const oci_call *call,
                     glarex_error *err)
{
    counted_sink sink = {call->sink, call->sink_payload, 0};

    for (size_t i = 0; call->read_only && i < reg->nmirrors; i++) {
        glarex_error merr;
        int rc = call_host(resp, reg, &reg->mirrors[i], call, &sink, &merr);
        if (rc == 0 && resp->status >= 200 && resp->status < 300)
            return 0;
        if (sink.bytes) /* part of the body came from this mirror: no fallback */
            return rc < 0 ? glarex__error_set(err, rc, "%s", merr.message)
                          : glarex__http_status_error(err, call->what, resp);
    }
    return call_host(resp, reg, &reg->origin, call, &sink, err);
}

int glarex__oci_call_url(glarex__http_response *resp, oci_registry *reg, const char *url,
                         const oci_call *call, glarex_error *err)
{
    counted_sink sink = {call->sink, call->sink_payload, 0};
    char *full = resolve_location(reg->origin.base, url);
    int rc;

    if (!full)
        return GLAREX_ENOMEM_SET(err);
    if (!on_host(full, reg->origin.base))
        rc = glarex__error_set(err, GLAREX_EPROTOCOL,
                               "%s: registry %s sent an upload location on another host "
                               "(%s)",
                               call->what, reg->origin.name, full);
    else
        rc = send_to(resp, reg, &reg->origin, full, call, &sink, err);
    free(full);
    return rc;
}

char *glarex__oci_next_page(const glarex__http_response *resp)
{
    const char *open, *close, *v2;

    if (!resp->link || !strstr(resp->link, "rel=\"next\"") ||
        !(open = strchr(resp->link, '<')) || !(close = strchr(open, '>')))
        return NULL;
    v2 = strstr(open, "/v2/");
    if (!v2 || v2 > close)
        return NULL;
    return strndup(v2 + 4, (size_t)(close - v2 - 4));
}

/* }==================================================================== */
