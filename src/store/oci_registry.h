/* The registry side of the OCI store: the store URL, credentials, and requests to the
 * origin registry and its read-through mirrors (distribution API v2). */
#ifndef GLAREX_OCI_REGISTRY_H
#define GLAREX_OCI_REGISTRY_H

#include "common.h"
#include "http.h"
#include "oci_token.h"

#include <stdint.h>

#define OCI_MAX_MIRRORS 4

/* One registry endpoint: the origin or a mirror. */
typedef struct oci_host {
    char *base;          /* "http://127.0.0.1:5000" */
    char *name;          /* "127.0.0.1:5000": what credentials are filed under */
    char *basic;         /* "Basic <base64>" for this host, or NULL (anonymous) */
    char *user;          /* the user name of `basic`, for the store's identity */
    char *authorization; /* sent once the host asked for credentials, or NULL */
} oci_host;

typedef struct oci_registry {
    glarex__http *http;
    oci_host origin;
    oci_host mirrors[OCI_MAX_MIRRORS];
    size_t nmirrors;
    char *ns;       /* the namespace: repositories are ns/<artifact name> */
    char *identity; /* "registry http://host:port/ns user=<name>|anonymous" */
    int plain_http;  /* oci+http://: plain HTTP allowed to hosts that are not loopback */
    glarex__oci_tokens *tokens; /* bearer tokens of the origin and the mirrors */
} oci_registry;

/* Parses `url` (oci://[user[:password]@]host[:port]/namespace[?mirror=host[:port]...],
 * or oci+http:// to allow plain HTTP to a host that is not loopback) and opens the
 * transport with the HTTP settings of `copts`. Credentials not in the URL come from the
 * docker/podman credential files. */
int glarex__oci_registry_open(oci_registry *reg, const char *url,
                              const glarex_client_options *copts, glarex_error *err);
void glarex__oci_registry_dispose(oci_registry *reg);

/* What one request is for. The path is under /v2/ ("ns/name/manifests/1.0.0"). */
typedef struct oci_call {
    const char *method;
    const char *path;  /* after "/v2/", already escaped */
    const char *what;  /* for messages: "GET manifest heal_vms:1.0.0" */
    const char *accept;
    const char *content_type;
    const void *body;  /* with has_body */
    size_t body_size;
    int has_body;
    FILE *body_file; /* streamed body of body_file_size bytes */
    uint64_t body_file_size;
    int read_only;   /* may be served by a mirror */
    glarex__http_sink sink; /* 2xx body, streamed */
    void *sink_payload;
    uint64_t max_body; /* cap of a collected body */
} oci_call;

/*
 * Performs one call: mirrors first for read-only calls (falling back to the next one,
 * then the origin, while nothing reached the sink), answering a registry's 401 through
 * glarex__oci_authorize and following redirects of reads (credentials only to the same
 * host). Every HTTP status comes back in `resp`; a transport failure is an error.
 */
int glarex__oci_call(glarex__http_response *resp, oci_registry *reg, const oci_call *call,
                     glarex_error *err);

/* The same for a URL on the origin, absolute or relative to it (an upload session's
 * Location). */
int glarex__oci_call_url(glarex__http_response *resp, oci_registry *reg, const char *url,
                         const oci_call *call, glarex_error *err);

/*
 * The one place that answers a registry's 401 challenge (`challenge`: its
 * WWW-Authenticate value) for `host`: Basic takes the host's credentials; Bearer asks
 * the challenge's token endpoint (with the host's credentials, if any) for a token,
 * kept until it expires. Returns 0 when the request should be sent again.
 */
int glarex__oci_authorize(oci_registry *reg, oci_host *host, const char *challenge,
                          const char *what, glarex_error *err);

/* The next page of a paged list (the Link header's rel="next" target, relative to
 * /v2/), new, or NULL when there is none. */
char *glarex__oci_next_page(const glarex__http_response *resp);

/* Credentials for `host` ("name[:port]") and `repository` (the most specific key
 * wins) from the docker/podman files, as "Basic …" and the user name (both new, NULL
 * when there are none). */
int glarex__oci_file_credentials(char **basic, char **user, const char *host,
                                 const char *repository, glarex_error *err);

/* Whether the n bytes at s are a repository path component distribution accepts. */
int glarex__oci_valid_component(const char *s, size_t n);

/* "Basic base64(user:password)" (new), or NULL when out of memory. */
char *glarex__oci_basic(const char *user, const char *password);

#endif
