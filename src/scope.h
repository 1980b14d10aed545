/*
 * Scopes: whose resolution is whose. A scope is a store's identity plus the identity
 * of the credentials that ask it, named by a sha256 so that neither the token nor the
 * project appears in file names. Resolutions are kept per scope (src/resolve.c, the
 * table in src/ctx.c); content is shared by sha256 underneath.
 */
#ifndef GLAREX_SCOPE_H
#define GLAREX_SCOPE_H

#include "common.h"

/* Who asks: the credentials of one request. Strings are borrowed. */
typedef struct glarex__creds {
    const char *auth_token;
    const char *noauth_project, *noauth_user, *noauth_roles;
    /* as the identity service reported them for auth_token (Keystone, Mistral) */
    const char *project_id, *user_id, *roles;
} glarex__creds;

/* The identity of `store_url` (the URL as glarex_store_url gives it) for artifacts of
 * `type_name`: a Glare URL normalised (scheme and host in lower case, default port and
 * trailing slashes dropped), or a local store's own id `store_id` (new text). */
int glarex__store_identity(char **out, const char *store_url, const char *store_id,
                           const char *type_name, glarex_error *err);

/* The scope key of `creds` asking the store `store_identity`: 64 hex digits. The
 * credentials' identity is, in order of preference: project, user and roles as
 * reported; the "user:project:roles" of a trusted-auth token; a digest of the token;
 * the noauth headers; or "anonymous". Roles are compared as a set. */
int glarex__scope_key(char out[65], const char *store_identity, const glarex__creds *creds,
                      glarex_error *err);

/* The project `creds` act for, or NULL (borrowed from creds, or new in *owned). */
const char *glarex__creds_project(const glarex__creds *creds, char **owned);

#endif
