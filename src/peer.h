/* A connection to one of Glare's peers (Keystone, Mistral): the Glare client's transport
 * and conventions (TLS, timeouts, retries, trace), pointed at another service. */
#ifndef GLAREX_PEER_H
#define GLAREX_PEER_H

#include "common.h"
#include "http.h"

typedef struct glarex__peer {
    glarex__http *http;
    char *base;        /* base URL, no trailing '/' */
    char *owned[8];    /* copies the transport configuration points at */
    uint64_t max_json; /* cap on JSON answers */
} glarex__peer;

/* Opens a transport to `url` (an http(s) URL; `what` names it in messages, e.g.
 * "Mistral URL") with the settings of `opts` (its url member is ignored, defaults as
 * for glarex_client_new). On failure nothing needs closing. */
int glarex__peer_open(glarex__peer *peer, const char *what, const char *url,
                      const glarex_client_options *opts, glarex_error *err);

void glarex__peer_close(glarex__peer *peer);

/* Parses a JSON answer body (new in *out; NULL for an empty body). `what` names the
 * request in messages. */
int glarex__peer_json(json_t **out, const glarex_buf *body, const char *what,
                      glarex_error *err);

#endif
