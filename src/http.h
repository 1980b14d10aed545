/* HTTP transport for the Glare client: one reusable libcurl handle, retries, caps. */
#ifndef GLAREX_HTTP_H
#define GLAREX_HTTP_H

#include "common.h"

#include <stdint.h>
#include <stdio.h>

typedef struct glarex__http glarex__http;

/* Transport settings, with defaults already applied by the caller. Strings are
 * borrowed: they must outlive the handle (the client owns its copies). */
typedef struct glarex__http_config {
    const char *auth_token;
    const char *noauth_project;
    const char *noauth_user;
    const char *noauth_roles;
    const char *ca_file;
    const char *client_cert;
    const char *client_key;
    int insecure;
    long connect_timeout_ms;
    long total_timeout_ms; /* 0 = none */
    long stall_timeout_ms;
    int max_retries;
    long retry_base_ms;
    long retry_max_ms;
    glarex_trace_cb trace;
    void *trace_payload;
} glarex__http_config;

/* Receives the body of a 2xx response in order. Returns 0, or a negative glarex_status
 * after recording the error itself (the transport then keeps that error). */
typedef int (*glarex__http_sink)(const char *data, size_t len, void *payload);

typedef struct glarex__http_request {
    const char *method; /* "GET", "PUT", ... */
    const char *url;    /* absolute URL */
    const char *what;   /* "GET /artifacts/x" for messages */
    int with_auth;      /* send the client's credentials (never to external hosts) */
    const char *accept; /* Accept header, or NULL for none */
    const char *content_type;
    const char *authorization; /* Authorization header value (hidden in traces), or NULL */

    /* Request body: a buffer (has_body), or an open file of body_file_size bytes. */
    int has_body;
    const void *body;
    size_t body_size;
    FILE *body_file;
    uint64_t body_file_size;
    const char *trace_body; /* how the trace shows the body, e.g. "@path" */

    int idempotent; /* may be retried (GET, PUT from a rewindable body) */
    int accept_3xx; /* a 3xx status is returned to the caller, not an error */
    int accept_any; /* every status is returned to the caller, not an error */
    int whole_error_body; /* an error body is kept up to max_body, not 64 KiB */

    /* 2xx body: streamed to sink when set (capped by the sink), otherwise collected
     * into the response, capped at max_body bytes (0 = no cap). */
    glarex__http_sink sink;
    void *sink_payload;
    uint64_t max_body;

    glarex_progress_cb progress; /* upload progress for bodies, else download */
    void *progress_payload;
} glarex__http_request;

typedef struct glarex__http_response {
    long status;
    glarex_buf body; /* collected body (a 2xx without sink, or an error body) */
    char content_type[128];
    char content_md5[72]; /* as sent: hex on Glare, "None" when missing on a 301 */
    char content_sha256[72];
    char *location;         /* new, or NULL */
    int64_t content_length; /* -1 when absent */
    int header_overflow;    /* a captured header was too long to keep */
    char *subject_token;    /* new: X-Subject-Token (Keystone v3), or NULL */
    char *www_authenticate; /* new: the first WWW-Authenticate challenge, or NULL */
    char *link;             /* new: Link (paging of OCI registries), or NULL */
    char docker_digest[80]; /* Docker-Content-Digest, "" when absent */
} glarex__http_response;

#define GLAREX__HTTP_RESPONSE_INIT                                                       \
    {                                                                                    \
        0, GLAREX_BUF_INIT, "", "", "", NULL, -1, 0, NULL, NULL, NULL, ""                \
    }

int glarex__http_new(glarex__http **out, const glarex__http_config *cfg,
                     glarex_error *err);
void glarex__http_free(glarex__http *http);

/*
 * Performs one request, retrying it when it is idempotent and the failure is transient
 * (connection errors, 429, 502, 503, 504). Returns 0 with `resp` filled when the status
 * is 2xx (or 3xx with accept_3xx, or any with accept_any). Otherwise an HTTP error
 * status becomes an error naming req->what, the status and the server's message, with
 * err->http_status set; transport failures become ENETWORK, ETIMEOUT or ETOOBIG.
 * `resp` must start as GLAREX__HTTP_RESPONSE_INIT; release it with
 * glarex__http_response_dispose on every path.
 */
int glarex__http_perform(glarex__http_response *resp, glarex__http *http,
                         const glarex__http_request *req, glarex_error *err);

void glarex__http_response_dispose(glarex__http_response *resp);

/* Bounds every later request (each attempt, and the waits between retries) by an
 * absolute CLOCK_MONOTONIC time in ms; a request started after it fails at once, and
 * one stopped by it fails, with GLAREX_EDEADLINE. 0 removes the bound. */
void glarex__http_set_deadline(glarex__http *http, int64_t deadline_ms);

/* The glarex_status of a non-2xx HTTP status (400 EINVALID, 401 EAUTH, 403 EFORBIDDEN,
 * 404 ENOTFOUND, 409 ECONFLICT, 413 ETOOBIG, else EHTTP), shared by every peer. */
int glarex__http_status_code(long status);

/* Records the error for a non-2xx response (used for statuses the caller accepted but
 * cannot handle). Returns the glarex_status. */
int glarex__http_status_error(glarex_error *err, const char *what,
                              const glarex__http_response *resp);

/* Turns an error body (Glare JSON, webob JSON, HTML or text) into at most `size`-1 bytes
 * of one-line text. Exposed for tests. */
void glarex__http_error_text(char *out, size_t size, long status, const char *body,
                             size_t len);

/* Percent-encodes everything but unreserved characters (RFC 3986), '/' included.
 * Returns new text or NULL when out of memory. */
char *glarex__http_escape(const char *s);

#endif
