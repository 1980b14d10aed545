/* Registry credentials and bearer tokens: the challenge a registry answers a 401 with,
 * the token endpoint's answer, a cache of tokens per registry and scope, and the
 * docker/podman credential files. It performs no HTTP itself: the registry transport
 * asks the token endpoint and hands the answer here. */
#ifndef GLAREX_OCI_TOKEN_H
#define GLAREX_OCI_TOKEN_H

#include "common.h"

#include <stdint.h>

typedef enum glarex__oci_scheme {
    GLAREX__OCI_BASIC = 1, /* WWW-Authenticate: Basic realm="..." */
    GLAREX__OCI_BEARER     /* WWW-Authenticate: Bearer realm="...",service=...,scope=... */
} glarex__oci_scheme;

typedef struct glarex__oci_challenge {
    glarex__oci_scheme scheme;
    char *realm;   /* Bearer: the token endpoint's URL; Basic: the realm's name */
    char *service; /* NULL when absent */
    char *scope;   /* NULL when absent */
} glarex__oci_challenge;

/* Reads one WWW-Authenticate value (RFC 7235: auth-param list with quoted strings). A
 * Bearer challenge must carry a realm; its scope is given in one spelling (actions and
 * scopes sorted), as registries name them in any order. `registry` names the server in
 * messages.
 * Release `out` with glarex__oci_challenge_dispose on every path. */
int glarex__oci_challenge_parse(glarex__oci_challenge *out, const char *header,
                                const char *registry, glarex_error *err);
void glarex__oci_challenge_dispose(glarex__oci_challenge *c);

/* Whether the `len` bytes at `host` are localhost, [::1] or an address of 127.0.0.0/8
 * (digits and dots only: a name such as 127.0.0.1.example.test is not one). */
int glarex__oci_host_is_loopback(const char *host, size_t len);

/* The token request's URL: realm?service=...&scope=... for `scope` (the challenge's
 * own when NULL). Refuses a realm that is not http(s), and a plain http realm on a
 * host other than a loopback address unless `allow_http` (credentials would cross a
 * network in clear). */
int glarex__oci_token_url(char **out, const glarex__oci_challenge *c, const char *scope,
                          int allow_http, glarex_error *err);

/* Reads the token endpoint's JSON answer: "token" (or OAuth2's "access_token"), and
 * "expires_in" seconds (60 when absent, as the protocol says) counted from
 * "issued_at" when given, else from now_ms. `realm` names the endpoint in messages. */
int glarex__oci_token_parse(char **token, int64_t *expires_at_ms, const char *body,
                            size_t len, int64_t now_ms, const char *realm,
                            glarex_error *err);

/* Tokens kept per (registry, scope) until a little before they expire. A token is
 * handed back only for the registry it was issued for: the transport asks with the
 * host of the request it is about to send, so a redirect to another host (blob storage)
 * never carries it. Thread-safe. */
typedef struct glarex__oci_tokens glarex__oci_tokens;

int glarex__oci_tokens_new(glarex__oci_tokens **out, glarex_error *err);
void glarex__oci_tokens_free(glarex__oci_tokens *tokens);
/* Keeps a copy of `token`; replaces the one for the same registry and scope. */
int glarex__oci_tokens_put(glarex__oci_tokens *tokens, const char *registry,
                           const char *scope, const char *token, int64_t expires_at_ms,
                           glarex_error *err);
/* A new "Bearer TOKEN" Authorization value for registry and scope, or NULL when none
 * is kept, it expires within the margin, or out of memory. */
char *glarex__oci_tokens_header(glarex__oci_tokens *tokens, const char *registry,
                                const char *scope, int64_t now_ms);
/* Forgets the token for registry and scope (the registry refused it). */
void glarex__oci_tokens_drop(glarex__oci_tokens *tokens, const char *registry,
                             const char *scope);

/* Credentials found in a docker/podman credential file. */
typedef struct glarex__oci_credentials {
    char *username;
    char *password;
    char *source; /* the file and key they came from, for messages */
} glarex__oci_credentials;

/*
 * Looks `registry` (host[:port]) and `repository` (may be NULL) up in the credential
 * files, in the order podman and docker read them: $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME/containers/auth.json
 * (~/.config/...), $DOCKER_CONFIG/config.json (~/.docker/config.json). In a file, the
 * "auths" key naming the most specific of host/repository, host/namespace..., host
 * wins ("https://" and a docker "/v1/" suffix are ignored). Returns 0 with
 * out->username NULL when no file names the registry; an error for a file that
 * cannot be read or parsed, or an entry kept by a credential helper.
 */
int glarex__oci_credentials_find(glarex__oci_credentials *out, const char *registry,
                                 const char *repository, glarex_error *err);
void glarex__oci_credentials_dispose(glarex__oci_credentials *c);

#endif
