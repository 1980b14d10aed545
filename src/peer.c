/* Transport set-up shared by the Keystone and Mistral calls: the Glare client's
 * defaults and checks, applied to another service's URL. */
#include "peer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The Glare client's defaults (src/client.c), so every peer behaves the same. */
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_STALL_TIMEOUT_MS 30000L
#define DEFAULT_MAX_RETRIES 3
#define DEFAULT_RETRY_BASE_MS 200L
#define DEFAULT_RETRY_MAX_MS 5000L
#define DEFAULT_MAX_JSON_SIZE (16u * 1024 * 1024)

static int has_control(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Keeps a copy of `s` in the peer; NULL stays NULL. */
static const char *own(glarex__peer *peer, size_t *n, const char *s, int *ok)
{
    char *copy = glarex__strdup_opt(s, ok);
    if (copy)
        peer->owned[(*n)++] = copy;
    return copy;
}

int glarex__peer_open(glarex__peer *peer, const char *what, const char *url,
                      const glarex_client_options *opts, glarex_error *err)
{
    glarex_client_options defaults = GLAREX_CLIENT_OPTIONS_INIT;
    glarex__http_config cfg;
    size_t n = 0, len;
    int ok = 1, error;

    memset(peer, 0, sizeof(*peer));
    if (!opts)
        opts = &defaults;
    if (opts->version != GLAREX_CLIENT_OPTIONS_VERSION)
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "glarex_client_options: unknown version %u (expected %d)", opts->version,
            GLAREX_CLIENT_OPTIONS_VERSION);
    if (!url || !url[0])
        return glarex__error_set(err, GLAREX_EINVALID, "no %s given", what);
    if ((strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) ||
        has_control(url) || strpbrk(url, " ?#"))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "invalid %s '%s': expected http(s)://host[:port][/path]",
                                 what, url);
    if (has_control(opts->auth_token))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_client_options: auth_token holds a control "
                                 "character");
    if ((error = glarex_global_init(err)) < 0)
        return error;

    memset(&cfg, 0, sizeof(cfg));
    peer->base = glarex__strdup_opt(url, &ok);
    cfg.auth_token = own(peer, &n, opts->auth_token, &ok);
    cfg.ca_file = own(peer, &n, opts->ca_file, &ok);
    cfg.client_cert = own(peer, &n, opts->client_cert, &ok);
    cfg.client_key = own(peer, &n, opts->client_key, &ok);
    if (!ok) {
        glarex__peer_close(peer);
        return GLAREX_ENOMEM_SET(err);
    }
    for (len = strlen(peer->base); len > 0 && peer->base[len - 1] == '/'; len--)
        peer->base[len - 1] = '\0';

    cfg.insecure = opts->insecure;
    cfg.connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                          : DEFAULT_CONNECT_TIMEOUT_MS;
    cfg.total_timeout_ms = opts->total_timeout_ms > 0 ? opts->total_timeout_ms : 0;
    cfg.stall_timeout_ms =
        opts->stall_timeout_ms > 0 ? opts->stall_timeout_ms : DEFAULT_STALL_TIMEOUT_MS;
    cfg.max_retries = opts->max_retries == 0  ? DEFAULT_MAX_RETRIES
                      : opts->max_retries < 0 ? 0
                                              : opts->max_retries;
    cfg.retry_base_ms =
        opts->retry_base_ms > 0 ? opts->retry_base_ms : DEFAULT_RETRY_BASE_MS;
    cfg.retry_max_ms = opts->retry_max_ms > 0 ? opts->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    if (cfg.retry_base_ms > cfg.retry_max_ms)
        cfg.retry_base_ms = cfg.retry_max_ms;
    cfg.trace = opts->trace;
    cfg.trace_payload = opts->trace_payload;
    peer->max_json = opts->max_json_size ? opts->max_json_size : DEFAULT_MAX_JSON_SIZE;
    if ((error = glarex__http_new(&peer->http, &cfg, err)) < 0) {
        glarex__peer_close(peer);
        return error;
    }
    return 0;
}

void glarex__peer_close(glarex__peer *peer)
{
    if (!peer)
        return;
    glarex__http_free(peer->http);
    free(peer->base);
    for (size_t i = 0; i < sizeof(peer->owned) / sizeof(peer->owned[0]); i++)
        free(peer->owned[i]);
    memset(peer, 0, sizeof(*peer));
}

int glarex__peer_json(json_t **out, const glarex_buf *body, const char *what,
                      glarex_error *err)
{
    json_error_t jerr;

    *out = NULL;
    if (!body->ptr || body->size == 0)
        return 0;
    *out = json_loadb(body->ptr, body->size, JSON_DECODE_ANY, &jerr);
    if (!*out)
        return glarex__error_set(err, GLAREX_EPROTOCOL, "%s: the answer is not JSON: %s",
                                 what, jerr.text);
    return 0;
}
