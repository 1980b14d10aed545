/* Glare v1 client internals shared with other modules and with tests. */
#ifndef GLAREX_CLIENT_H
#define GLAREX_CLIENT_H

#include "common.h"

/*
 * Sends one request to the client's server, with its credentials, and parses the JSON
 * answer. `path` is already percent-encoded and starts with "/" (it may hold a query).
 * `body` (borrowed, may be NULL) is sent as `content_type` (NULL = application/json).
 * `out` (may be NULL) receives the parsed body (new), or NULL for an empty body. A
 * non-2xx status is an error, as for every other client call. GET is retried like
 * the public calls; nothing else is.
 */
int glarex__client_request(json_t **out, glarex_client *client, const char *method,
                           const char *path, const char *content_type, const json_t *body,
                           glarex_error *err);

/* Bounds the client's later requests by an absolute CLOCK_MONOTONIC time in ms (0: no
 * bound); see glarex__http_set_deadline. */
void glarex__client_set_deadline(glarex_client *client, int64_t deadline_ms);

#endif
