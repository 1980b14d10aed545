/*
 * glarex: workflow resources in OpenStack Glare, reachable from Mistral expressions.
 *
 * This header is the whole public C API.
 *
 * Conventions (see docs/c-api.md):
 *  - A call that can fail returns 0 (GLAREX_OK) or a negative glarex_status, and fills
 *    the caller-owned glarex_error given as its last argument (which may be NULL).
 *    The first error wins; nothing else is ever written to it.
 *  - Output parameters come first and are named `out`.
 *  - Ownership words: a result is *new* (the caller releases it with the matching
 *    free function), *borrowed* (valid as long as the object it came from), or an
 *    argument is *taken* (the callee owns it on every path, failure included).
 *  - Every free function accepts NULL.
 *  - The library keeps no process-global mutable state, prints nothing and never exits.
 *  - JSON values are jansson `json_t`; ownership follows jansson's reference counts.
 */
#ifndef GLAREX_H
#define GLAREX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(GLAREX_BUILDING)
#define GLAREX_EXTERN(type) __attribute__((visibility("default"))) type
#else
#define GLAREX_EXTERN(type) type
#endif

/** Library version, as text and as one number for comparisons (0xMMmmpp). */
#define GLAREX_VERSION "0.1.0"
#define GLAREX_VERSION_HEX 0x000100

/** The library version at run time (static text). */
GLAREX_EXTERN(const char *) glarex_version(void);

/* {====================================================================
 * Errors
 * ==================================================================== */

/**
 * Status codes. Stable: new codes are added at the end and none is ever renumbered.
 * Only failures a caller may branch on have their own code; the rest are GLAREX_ERROR.
 */
typedef enum glarex_status {
    GLAREX_OK = 0,
    GLAREX_ERROR = -1,        /**< any other failure */
    GLAREX_ENOTFOUND = -2,    /**< artifact, blob, key or type does not exist */
    GLAREX_EINVALID = -3,     /**< bad argument or malformed input (reference, options, file) */
    GLAREX_EUNSUPPORTED = -4, /**< valid input outside what glarex supports */
    GLAREX_ECHECKSUM = -5,    /**< downloaded content does not match its digest */
    GLAREX_EHTTP = -6,        /**< the server answered with an error status not mapped below */
    GLAREX_ETIMEOUT = -7,     /**< connect, total or stall timeout */
    GLAREX_ENOMEM = -8,       /**< out of memory */
    GLAREX_ECONFLICT = -9,    /**< 409: duplicate name and version, blob still saving */
    GLAREX_EFORBIDDEN = -10,  /**< 403: policy, immutability after activation */
    GLAREX_EAUTH = -11,       /**< 401: no or bad credentials */
    GLAREX_ETOOBIG = -12,     /**< 413, or a configured size cap was reached */
    GLAREX_ENETWORK = -13,    /**< connection refused or reset, TLS failure, DNS */
    GLAREX_EAMBIGUOUS = -14,  /**< a reference matches more than one artifact */
    GLAREX_EOFFLINE = -15,    /**< offline mode and the content is not cached */
    GLAREX_EPROTOCOL = -16,   /**< the server's response is malformed */
    GLAREX_EIO = -17,         /**< local file system error */
    GLAREX_ESYNTAX = -18,     /**< an expression does not compile */
    GLAREX_EEVAL = -19,       /**< an expression fails while evaluating */
    GLAREX_EMEMLIMIT = -20,   /**< an evaluation exceeded its memory cap */
    GLAREX_EINSNLIMIT = -21,  /**< an evaluation exceeded its instruction budget */
    GLAREX_EDEADLINE = -22,   /**< an evaluation exceeded its wall-clock deadline */
    GLAREX_EBINARY = -23      /**< text was asked for but the content is not UTF-8 */
} glarex_status;

#define GLAREX_ERROR_SOURCE_LENGTH 80
#define GLAREX_ERROR_MESSAGE_LENGTH 512

/**
 * Details of one failure, owned by the caller (usually on its stack), so errors need
 * no allocation and no thread-local storage.
 */
typedef struct glarex_error {
    int code;        /**< a glarex_status */
    int http_status; /**< the HTTP status behind the error, or 0 */
    int line;        /**< 1-based line in the input named by `source`, or 0 */
    int column;      /**< 1-based column in that input, or 0 */
    size_t offset;   /**< 0-based byte offset in that input */
    char source[GLAREX_ERROR_SOURCE_LENGTH];   /**< what was being read, or "" */
    char message[GLAREX_ERROR_MESSAGE_LENGTH]; /**< one line, names the input and place */
} glarex_error;

/** Static text describing a status code ("not found", ...). Never NULL. */
GLAREX_EXTERN(const char *) glarex_strerror(int code);

/** Resets an error to "no error" (code 0, empty strings). */
GLAREX_EXTERN(void) glarex_error_clear(glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Buffers
 * ==================================================================== */

/** Bytes owned by the library; release them with glarex_buf_dispose, never free(). */
typedef struct glarex_buf {
    char *ptr;   /**< NUL-terminated for convenience; the NUL is not counted */
    size_t size; /**< number of bytes */
} glarex_buf;

#define GLAREX_BUF_INIT {NULL, 0}

/** Frees the bytes and resets the buffer to GLAREX_BUF_INIT. */
GLAREX_EXTERN(void) glarex_buf_dispose(glarex_buf *buf);

/* }==================================================================== */

/**
 * Initialises process-wide dependencies (libcurl). Optional: every constructor calls it
 * once behind pthread_once. Call it yourself before starting threads if your program
 * also uses libcurl directly.
 */
GLAREX_EXTERN(int) glarex_global_init(glarex_error *err);

/* {====================================================================
 * Glare v1 client
 *
 * A glarex_client talks to one Glare server. It keeps its connections open between
 * calls. Threads: a client is used by one thread at a time (like a CURL handle);
 * use one client per thread, or a glarex_ctx, which pools clients.
 * ==================================================================== */

typedef struct glarex_client glarex_client;

/** Called once per HTTP request when set: an equivalent curl command line, with any
 * token replaced by "***". For --debug style tracing. */
typedef void (*glarex_trace_cb)(const char *line, void *payload);

/** Upload or download progress; return nonzero to abort the transfer. */
typedef int (*glarex_progress_cb)(uint64_t done, uint64_t total, void *payload);

typedef struct glarex_client_options {
    unsigned int version;

    /** Base URL of the Glare API, e.g. "http://127.0.0.1:9494". Required. */
    const char *url;

    /** Sent as X-Auth-Token (Keystone token, or "user:project:roles" trusted-auth). */
    const char *auth_token;
    /** Noauth deployments: when set (and no token), sends X-Identity-Status: Confirmed,
     * X-Project-Id and, if given, X-User-Id and X-Roles. */
    const char *noauth_project;
    const char *noauth_user;
    const char *noauth_roles;

    /** TLS: verification is on unless `insecure` is nonzero. */
    const char *ca_file;
    const char *client_cert;
    const char *client_key;
    int insecure;

    /** Timeouts in milliseconds; 0 means the default (connect 10 s, total 0 = none,
     * stall: abort when fewer than 1 byte/s arrives for 30 s). */
    long connect_timeout_ms;
    long total_timeout_ms;
    long stall_timeout_ms;

    /** Retries of idempotent requests (GET, and PUT uploads from a file or buffer) on
     * connection errors, 429, 502, 503 and 504. Backoff doubles from retry_base_ms up
     * to retry_max_ms, with full jitter; a Retry-After header is honoured up to
     * retry_max_ms. Defaults: 3 retries, 200 ms, 5000 ms. Negative max_retries = 0. */
    int max_retries;
    long retry_base_ms;
    long retry_max_ms;

    /** Size caps: JSON response bodies (default 16 MiB) and downloaded blobs (default
     * 0 = no cap). Exceeding one is GLAREX_ETOOBIG. */
    uint64_t max_json_size;
    uint64_t max_download_size;

    /** External blobs answer 301. glarex follows the redirect by hand, without the
     * token, only to https (or http when allow_http_redirects is set), and when
     * redirect_hosts (a NULL-terminated list of host names) is set, only to those. */
    const char *const *redirect_hosts;
    int allow_http_redirects;

    glarex_trace_cb trace;
    void *trace_payload;
} glarex_client_options;

#define GLAREX_CLIENT_OPTIONS_VERSION 1
#define GLAREX_CLIENT_OPTIONS_INIT {.version = GLAREX_CLIENT_OPTIONS_VERSION}

/** Fills `opts` with defaults for the given version. */
GLAREX_EXTERN(int) glarex_client_options_init(glarex_client_options *opts, unsigned int version);

/** Creates a client (new). The options and their strings are copied. */
GLAREX_EXTERN(int) glarex_client_new(glarex_client **out, const glarex_client_options *opts,
                                     glarex_error *err);

GLAREX_EXTERN(void) glarex_client_free(glarex_client *client);

/** GET / : the version list (new), e.g. {"versions": [...]}. */
GLAREX_EXTERN(int) glarex_client_versions(json_t **out, glarex_client *client,
                                          glarex_error *err);

/** GET /schemas/{type_name}: the type's JSON schema (new). */
GLAREX_EXTERN(int) glarex_client_schema(json_t **out, glarex_client *client,
                                        const char *type_name, glarex_error *err);

/** One list filter: sent as `field=op:value` (op defaults to "eq"). */
typedef struct glarex_filter {
    const char *field;
    const char *op;
    const char *value;
} glarex_filter;

typedef struct glarex_list_options {
    unsigned int version;
    const glarex_filter *filters; /**< nfilters filters, all applied (AND) */
    size_t nfilters;
    int latest;                   /**< adds version=latest */
    const char *sort;             /**< e.g. "version:desc", or NULL */
    unsigned int page_size;       /**< limit per request; 0 = server default (25) */
    size_t max_items;             /**< stop after this many; 0 = follow `next` to the end */
} glarex_list_options;

#define GLAREX_LIST_OPTIONS_VERSION 1
#define GLAREX_LIST_OPTIONS_INIT {.version = GLAREX_LIST_OPTIONS_VERSION}

/** GET /artifacts/{type}: every matching artifact, following `next` pages, as a JSON
 * array (new). User values are always sent with an explicit operator. */
GLAREX_EXTERN(int) glarex_client_list(json_t **out, glarex_client *client,
                                      const char *type_name, const glarex_list_options *opts,
                                      glarex_error *err);

/** GET /artifacts/{type}/{id} (new). */
GLAREX_EXTERN(int) glarex_client_get(json_t **out, glarex_client *client,
                                     const char *type_name, const char *id,
                                     glarex_error *err);

/** POST /artifacts/{type} with `fields` (borrowed; a JSON object holding at least
 * "name"). The created artifact, status drafted (new). */
GLAREX_EXTERN(int) glarex_client_create(json_t **out, glarex_client *client,
                                        const char *type_name, const json_t *fields,
                                        glarex_error *err);

/** PATCH /artifacts/{type}/{id} with a JSON-patch array (borrowed). */
GLAREX_EXTERN(int) glarex_client_update(json_t **out, glarex_client *client,
                                        const char *type_name, const char *id,
                                        const json_t *patch, glarex_error *err);

/** Sets /status to "active" (new: the updated artifact). */
GLAREX_EXTERN(int) glarex_client_activate(json_t **out, glarex_client *client,
                                          const char *type_name, const char *id,
                                          glarex_error *err);

/** DELETE /artifacts/{type}/{id}. */
GLAREX_EXTERN(int) glarex_client_delete(glarex_client *client, const char *type_name,
                                        const char *id, glarex_error *err);

/** Where a blob lives: `field` is a Blob field ("workflow"), or a BlobDict field
 * ("resources") together with `key`. Keys may hold any characters; they are
 * percent-encoded on the wire. */
typedef struct glarex_blob_loc {
    const char *type_name;
    const char *id;
    const char *field;
    const char *key; /**< NULL for a plain Blob field */
} glarex_blob_loc;

/** PUT the contents of the file at `path`, streamed, with Content-Length. The updated
 * artifact (new). `content_type` NULL means application/octet-stream. */
GLAREX_EXTERN(int) glarex_client_upload_file(json_t **out, glarex_client *client,
                                             const glarex_blob_loc *loc, const char *path,
                                             const char *content_type,
                                             glarex_progress_cb progress, void *payload,
                                             glarex_error *err);

/** PUT `size` bytes from `data` (borrowed for the call), with Content-Length. */
GLAREX_EXTERN(int) glarex_client_upload_buffer(json_t **out, glarex_client *client,
                                               const glarex_blob_loc *loc, const void *data,
                                               size_t size, const char *content_type,
                                               glarex_error *err);

/** What a download is checked against. Empty strings are not checked. Digests are
 * lower-case hex. Fill it from the artifact JSON (glarex_digests_from_json). */
typedef struct glarex_digests {
    char sha256[65];
    char md5[33];
    int64_t size; /**< -1 when unknown */
} glarex_digests;

/** What a finished download was: its verified digests, size and content type. */
typedef struct glarex_download_info {
    char sha256[65];
    char md5[33];
    uint64_t size;
    char content_type[128];
    int external; /**< nonzero when the blob was fetched from an external location */
} glarex_download_info;

/** Receives downloaded bytes in order; return nonzero to abort (GLAREX_ERROR). */
typedef int (*glarex_write_cb)(const char *data, size_t len, void *payload);

/**
 * GET a blob, streaming it to `write`. The content is verified against `expect` (may
 * be NULL) and against the server's Content-MD5 and X-Openstack-Glare-Content-SHA256
 * headers; a mismatch is GLAREX_ECHECKSUM, naming both digests. The md5 is computed
 * only where it is asked for (`out`) or no sha256 is expected: otherwise the expected
 * sha256 alone verifies the bytes. Hashing runs on a thread of its own for large
 * bodies; `write` is always called on the caller's thread. Bytes reach `write`
 * before they can be verified: on any error the caller must discard what it got.
 * An external blob (301) is fetched from its location without the token.
 * `out` (may be NULL) receives what was downloaded.
 */
GLAREX_EXTERN(int) glarex_client_download(glarex_download_info *out, glarex_client *client,
                                          const glarex_blob_loc *loc,
                                          const glarex_digests *expect, glarex_write_cb write,
                                          void *payload, glarex_error *err);

/** Like glarex_client_download, into a file: written to a temporary file beside
 * `path`, fsynced, verified and only then renamed to `path`. On failure `path` is
 * untouched and no temporary file is left. */
GLAREX_EXTERN(int) glarex_client_download_file(glarex_download_info *out,
                                               glarex_client *client,
                                               const glarex_blob_loc *loc,
                                               const glarex_digests *expect, const char *path,
                                               glarex_error *err);

/** Like glarex_client_download, into memory (new bytes, only on success). */
GLAREX_EXTERN(int) glarex_client_download_buffer(glarex_buf *out, glarex_download_info *info,
                                                 glarex_client *client,
                                                 const glarex_blob_loc *loc,
                                                 const glarex_digests *expect,
                                                 glarex_error *err);

/** Reads the digests and size of a blob value of the artifact JSON (`blob` is the
 * object under artifact["workflow"] or artifact["resources"][key]). */
GLAREX_EXTERN(int) glarex_digests_from_json(glarex_digests *out, const json_t *blob,
                                            glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Stores: Glare over HTTP, or a local directory (src/store/store.c, src/store/glare.c,
 * src/store/dir.c)
 *
 * A glarex_store speaks the Glare artifact model whatever its backend: artifacts are
 * JSON objects shaped exactly as Glare returns them (id, name, version, owner, status,
 * visibility, blob fields and blob dicts with url, sha256, md5, size, content_type).
 * Threads: like a client, a store is used by one thread at a time.
 * ==================================================================== */

typedef struct glarex_store glarex_store;

typedef struct glarex_store_options {
    unsigned int version;

    /** "http://…" or "https://…" for a Glare server; "file:///abs/dir" for a local
     * directory store; "oci://[user:password@]host[:port]/namespace" for an OCI
     * registry (docs/store.md); NULL for the embedded default store, the directory
     * $XDG_DATA_HOME/glarex/store (~/.local/share/glarex/store). */
    const char *url;

    /** HTTP settings for a Glare server (its `url` member is ignored). */
    glarex_client_options client;

    /** Artifact types a local directory store accepts, with their blob fields:
     * "workflows" (Blob "workflow", required to activate; BlobDict "resources")
     * is always known. Local stores cap blobs at max_blob_size, and then a BlobDict's
     * total at GLAREX_LOCAL_MAX_DICT_SIZE as Glare does; 0 = no cap (what the disk
     * holds). A Glare server applies its own caps. */
    uint64_t max_blob_size;
} glarex_store_options;

/** What a local store refuses, as Glare's defaults do (a client checks these before it
 * uploads anything): names and tags, descriptions, BlobDict keys and their number, and
 * a BlobDict's total when max_blob_size is set. */
#define GLAREX_LOCAL_MAX_NAME_LENGTH 255
#define GLAREX_LOCAL_MAX_DESCRIPTION_LENGTH 4096
#define GLAREX_LOCAL_MAX_KEY_LENGTH 255
#define GLAREX_LOCAL_MAX_DICT_KEYS 255
#define GLAREX_LOCAL_MAX_DICT_SIZE 2673868800ULL

#define GLAREX_STORE_OPTIONS_VERSION 1
#define GLAREX_STORE_OPTIONS_INIT                                                        \
    {.version = GLAREX_STORE_OPTIONS_VERSION, .client = GLAREX_CLIENT_OPTIONS_INIT}

GLAREX_EXTERN(int) glarex_store_options_init(glarex_store_options *opts, unsigned int version);

/** Opens a store (new). Options and their strings are copied. Opening a directory
 * store creates nothing: its first glarex_store_create makes the store, and other calls
 * on a directory that is not a store yet fail with GLAREX_ENOTFOUND. */
GLAREX_EXTERN(int) glarex_store_open(glarex_store **out, const glarex_store_options *opts,
                                     glarex_error *err);

GLAREX_EXTERN(void) glarex_store_free(glarex_store *store);

/** The store's location as text: the Glare URL or "file:///dir" (borrowed). */
GLAREX_EXTERN(const char *) glarex_store_url(const glarex_store *store);

/** Same contracts as the glarex_client_* calls of the same name. */
GLAREX_EXTERN(int) glarex_store_list(json_t **out, glarex_store *store, const char *type_name,
                                     const glarex_list_options *opts, glarex_error *err);
GLAREX_EXTERN(int) glarex_store_get(json_t **out, glarex_store *store, const char *type_name,
                                    const char *id, glarex_error *err);
GLAREX_EXTERN(int) glarex_store_create(json_t **out, glarex_store *store,
                                       const char *type_name, const json_t *fields,
                                       glarex_error *err);
GLAREX_EXTERN(int) glarex_store_activate(json_t **out, glarex_store *store,
                                         const char *type_name, const char *id,
                                         glarex_error *err);
GLAREX_EXTERN(int) glarex_store_delete(glarex_store *store, const char *type_name,
                                       const char *id, glarex_error *err);
GLAREX_EXTERN(int) glarex_store_upload_file(json_t **out, glarex_store *store,
                                            const glarex_blob_loc *loc, const char *path,
                                            const char *content_type,
                                            glarex_progress_cb progress, void *payload,
                                            glarex_error *err);
GLAREX_EXTERN(int) glarex_store_upload_buffer(json_t **out, glarex_store *store,
                                              const glarex_blob_loc *loc, const void *data,
                                              size_t size, const char *content_type,
                                              glarex_error *err);
GLAREX_EXTERN(int) glarex_store_download(glarex_download_info *out, glarex_store *store,
                                         const glarex_blob_loc *loc,
                                         const glarex_digests *expect, glarex_write_cb write,
                                         void *payload, glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * References (src/ref.c, src/version.c)
 *
 * A reference names one blob of one artifact. Three spellings parse into the same
 * glarex_ref (full grammar, errors and filter mapping: docs/references.md):
 *
 *   glare('my_wf', '1.0', 'heal_vm_script.sh')      glarex_ref_from_args
 *   glare://my_wf/heal_vm_script.sh                 latest active version
 *   glare://{my_wf, 1.0}/heal_vm_script.sh          pinned version (spaces optional)
 *   glare://my_wf@1.0/heal_vm_script.sh             pinned version
 *   glare://my_wf@>=1.0,<2/heal_vm_script.sh        highest active version in a range
 *   glare://my_wf@sha256=<64 hex>/heal_vm_script.sh content pin
 *   glare://id/<uuid>/heal_vm_script.sh             by artifact id
 *   glare://my_wf@1.0?field=workflow                the workflow blob itself
 *
 * Names, selectors, keys and query values are percent-decoded once. A key may hold
 * '/' and spaces. Every parse error is GLAREX_EINVALID with `source` set to the input,
 * `offset` to the 0-based byte offset and `column` to the 1-based column (in
 * characters) of the offending part, and a message such as
 * "invalid reference 'glare://wf@1.x/a.sh': version '1.x' is not semver (column 13)".
 *
 * A glarex_ref is immutable once parsed: any number of threads may read one.
 * ==================================================================== */

typedef struct glarex_ref glarex_ref;

/** Longest accepted input: a URI, or each argument of glarex_ref_from_args. */
#define GLAREX_REF_MAX_LENGTH 4096

/** How a reference selects the artifact. */
typedef enum glarex_ref_kind {
    GLAREX_REF_EXACT = 1, /**< one version: glarex_ref_version() */
    GLAREX_REF_LATEST,    /**< the highest active version (explicit "latest" or none) */
    GLAREX_REF_RANGE,     /**< the highest active version within glarex_ref_range_*() */
    GLAREX_REF_SHA256,    /**< the active version whose blob has glarex_ref_sha256() */
    GLAREX_REF_ID         /**< one artifact by id: glarex_ref_id() */
} glarex_ref_kind;

/** The operator of one range bound. */
typedef enum glarex_ref_op {
    GLAREX_REF_OP_NONE = 0, /**< no such bound */
    GLAREX_REF_OP_GT,       /**< > (Glare filter gt) */
    GLAREX_REF_OP_GTE,      /**< >= (gte) */
    GLAREX_REF_OP_LT,       /**< < (lt) */
    GLAREX_REF_OP_LTE       /**< <= (lte) */
} glarex_ref_op;

/** Parse options: the field names, which are configuration, not constants. */
typedef struct glarex_ref_options {
    unsigned int version;
    /** BlobDict field a resource key is looked up in; NULL = "resources". */
    const char *dict_field;
    /** Blob field named when glarex_ref_from_args gets no resource; NULL = "workflow". */
    const char *blob_field;
} glarex_ref_options;

#define GLAREX_REF_OPTIONS_VERSION 1
#define GLAREX_REF_OPTIONS_INIT {.version = GLAREX_REF_OPTIONS_VERSION}

/** Fills `opts` with the defaults (both fields NULL) for the given version;
 * GLAREX_EINVALID for an unknown version. */
GLAREX_EXTERN(int) glarex_ref_options_init(glarex_ref_options *opts,
                                           unsigned int version);

/**
 * Parses a glare:// URI (the one-argument `glare(uri)`) with default options.
 * `out` receives a new reference (free it with glarex_ref_free), or NULL on failure.
 * Returns 0, GLAREX_EINVALID (malformed; position in `err`) or GLAREX_ENOMEM.
 */
GLAREX_EXTERN(int) glarex_ref_parse(glarex_ref **out, const char *uri, glarex_error *err);

/** glarex_ref_parse with options (`opts` may be NULL: defaults; it is not kept). */
GLAREX_EXTERN(int) glarex_ref_parse_ext(glarex_ref **out, const char *uri,
                                        const glarex_ref_options *opts,
                                        glarex_error *err);

/**
 * The `glare(name, version, resource)` form, with default options. Arguments are taken
 * literally (no percent-decoding). `version` is an exact semver ("1.0" means 1.0.0),
 * "latest", a range (">=1.0,<2") or "sha256=<64 hex>"; NULL means "latest". `resource`
 * is a key of the dict field; NULL names the blob field instead. Errors are reported
 * against the text `glare('name', 'version', 'resource')`. Returns as glarex_ref_parse.
 */
GLAREX_EXTERN(int) glarex_ref_from_args(glarex_ref **out, const char *name,
                                        const char *version, const char *resource,
                                        glarex_error *err);

/** glarex_ref_from_args with options (`opts` may be NULL: defaults). */
GLAREX_EXTERN(int) glarex_ref_from_args_ext(glarex_ref **out, const char *name,
                                            const char *version, const char *resource,
                                            const glarex_ref_options *opts,
                                            glarex_error *err);

/** Releases a reference. Accepts NULL. */
GLAREX_EXTERN(void) glarex_ref_free(glarex_ref *ref);

/*
 * Getters. Strings are borrowed: valid as long as the reference. NULL means "does not
 * apply to this kind of reference".
 */

/** How the artifact is selected (0 for NULL). */
GLAREX_EXTERN(glarex_ref_kind) glarex_ref_kind_of(const glarex_ref *ref);
/** Artifact name (decoded); NULL for GLAREX_REF_ID. */
GLAREX_EXTERN(const char *) glarex_ref_name(const glarex_ref *ref);
/** Artifact id, lower-case UUID; only for GLAREX_REF_ID. */
GLAREX_EXTERN(const char *) glarex_ref_id(const glarex_ref *ref);
/** Normalised version ("1.0" gives "1.0.0"); only for GLAREX_REF_EXACT. */
GLAREX_EXTERN(const char *) glarex_ref_version(const glarex_ref *ref);
/** Lower bound of a GLAREX_REF_RANGE (normalised version) and its operator in `op`
 * (may be NULL; GLAREX_REF_OP_NONE and NULL result when there is no lower bound). */
GLAREX_EXTERN(const char *) glarex_ref_range_lower(const glarex_ref *ref,
                                                   glarex_ref_op *op);
/** Upper bound of a GLAREX_REF_RANGE, as glarex_ref_range_lower. */
GLAREX_EXTERN(const char *) glarex_ref_range_upper(const glarex_ref *ref,
                                                   glarex_ref_op *op);
/** Pinned content digest, 64 lower-case hex digits; only for GLAREX_REF_SHA256. */
GLAREX_EXTERN(const char *) glarex_ref_sha256(const glarex_ref *ref);
/** The field read: a BlobDict when glarex_ref_key() is not NULL, else a Blob field.
 * Never NULL for a parsed reference. */
GLAREX_EXTERN(const char *) glarex_ref_field(const glarex_ref *ref);
/** The key in the dict field (decoded; may hold '/' and spaces); NULL for a Blob. */
GLAREX_EXTERN(const char *) glarex_ref_key(const glarex_ref *ref);

/**
 * Writes the canonical text of `ref` into `out` (new bytes; release them with
 * glarex_buf_dispose). Two spellings of one reference give the same text, so it can key
 * caches: glarex_ref_format of `glare('wf', '1.0', 'a b')`, `glare://{wf,1}/a%20b` and
 * `glare://wf@1.0.0/a b` is "glare://wf@1.0.0/a%20b". Parsing the text again gives an
 * equal reference. The `?field=` query is left out when the key's field is the dict
 * field the reference was parsed with. Returns 0, GLAREX_EINVALID (NULL argument) or
 * GLAREX_ENOMEM; `out` is untouched on failure.
 */
GLAREX_EXTERN(int) glarex_ref_format(glarex_buf *out, const glarex_ref *ref);


/* }==================================================================== */

/* {====================================================================
 * Context, resolver and cache (src/ctx.c, src/resolve.c, src/cache.c)
 *
 * A glarex_ctx holds configuration, a pool of store connections, the resolution
 * index and the content cache. Threads: a context is shared by all threads of a
 * process; every call below is thread-safe. Blob handles may move between threads.
 * ==================================================================== */

typedef struct glarex_ctx glarex_ctx;

typedef struct glarex_ctx_options {
    unsigned int version;

    /** Where artifacts live (see glarex_store_options: url, client settings). */
    glarex_store_options store;

    /** Artifact type and field names (defaults "workflows", "workflow", "resources"). */
    const char *type_name;
    const char *workflow_field;
    const char *resources_field;

    /** Cache directory; NULL = $GLAREX_CACHE_DIR, else $XDG_CACHE_HOME/glarex, else
     * ~/.cache/glarex. Shared by every process on the host. */
    const char *cache_dir;
    uint64_t memory_budget;    /**< in-memory content, bytes (default 256 MiB) */
    uint64_t disk_budget;      /**< on-disk content, bytes (0 = unlimited) */
    uint64_t max_blob_size;    /**< per blob (0 = unlimited) */
    uint64_t stream_threshold; /**< larger blobs stream to disk only (default 8 MiB) */

    /** How long a resolution (reference -> artifact id, status, sha256) is trusted
     * without asking the store, in ms. 0 = default: exact versions 300000, latest and
     * ranges 10000, drafted artifacts 2000, not-found answers 5000. */
    long ttl_exact_ms;
    long ttl_latest_ms;
    long ttl_drafted_ms;
    long ttl_negative_ms;

    /** Serve only cached content; a miss is GLAREX_EOFFLINE. */
    int offline;

    /** When a reference matches an artifact of one's own project and a public one of
     * another project, pick the own one instead of failing with GLAREX_EAMBIGUOUS.
     * `project` names one's own project (default: the project of a trusted-auth token
     * "user:project:roles", or of noauth_project). */
    int prefer_own_project;
    const char *project;

    /** As-of resolution (glarex_request_options.as_of_ms): `latest` and ranges pick
     * among artifacts activated before as_of + as_of_skew_ms, so a run that starts right
     * after its workflow was published still sees it although the two clocks differ.
     * 0 = default 10000; negative = no allowance. */
    long as_of_skew_ms;
} glarex_ctx_options;

#define GLAREX_CTX_OPTIONS_VERSION 1
#define GLAREX_CTX_OPTIONS_INIT                                                          \
    {.version = GLAREX_CTX_OPTIONS_VERSION, .store = GLAREX_STORE_OPTIONS_INIT}

GLAREX_EXTERN(int) glarex_ctx_options_init(glarex_ctx_options *opts, unsigned int version);

/** Creates a context (new). Options and strings are copied. */
GLAREX_EXTERN(int) glarex_ctx_new(glarex_ctx **out, const glarex_ctx_options *opts,
                                  glarex_error *err);

GLAREX_EXTERN(void) glarex_ctx_free(glarex_ctx *ctx);

/** A fetched resource: immutable and reference counted, so a cache hit hands out the
 * same bytes without copying. */
typedef struct glarex_blob glarex_blob;

/** glare(name, version, resource): `version` is an exact version, "latest", a range
 * such as ">=1.0,<2", or "sha256=<hex>". The blob (new). */
GLAREX_EXTERN(int) glarex_fetch(glarex_blob **out, glarex_ctx *ctx, const char *name,
                                const char *version, const char *resource,
                                glarex_error *err);

/** glare(uri): "glare://name/res", "glare://name@1.0/res", "glare://{name, 1.0}/res",
 * "glare://id/<uuid>/res" (see docs/references.md). The blob (new). */
GLAREX_EXTERN(int) glarex_fetch_uri(glarex_blob **out, glarex_ctx *ctx, const char *uri,
                                    glarex_error *err);

/** Takes another reference to `blob` and returns it. */
GLAREX_EXTERN(glarex_blob *) glarex_blob_ref(glarex_blob *blob);

/** Drops a reference. */
GLAREX_EXTERN(void) glarex_blob_free(glarex_blob *blob);

/** The content (borrowed, valid while the blob is). Large blobs are mapped from the
 * cache file on first call; NULL only if that mapping fails. */
GLAREX_EXTERN(const char *) glarex_blob_data(glarex_blob *blob);
GLAREX_EXTERN(uint64_t) glarex_blob_size(const glarex_blob *blob);

/** Borrowed strings, valid while the blob is. */
GLAREX_EXTERN(const char *) glarex_blob_sha256(const glarex_blob *blob);
GLAREX_EXTERN(const char *) glarex_blob_content_type(const glarex_blob *blob);
GLAREX_EXTERN(const char *) glarex_blob_artifact_id(const glarex_blob *blob);
GLAREX_EXTERN(const char *) glarex_blob_name(const glarex_blob *blob);
GLAREX_EXTERN(const char *) glarex_blob_version(const glarex_blob *blob);
GLAREX_EXTERN(const char *) glarex_blob_key(const glarex_blob *blob);

/** The verified cached file holding the content (borrowed, valid while the blob is). */
GLAREX_EXTERN(int) glarex_blob_path(const char **out, glarex_blob *blob, glarex_error *err);

/** {id, name, version, key, sha256, size, content_type} (new). */
GLAREX_EXTERN(json_t *) glarex_blob_info(const glarex_blob *blob);

/** Cache and resolver counters. */
typedef struct glarex_stats {
    uint64_t hits;            /**< content served from memory */
    uint64_t disk_hits;       /**< content served from the disk cache */
    uint64_t misses;          /**< content that had to be downloaded */
    uint64_t downloads;       /**< downloads run (coalesced requests count once) */
    uint64_t bytes_downloaded;
    uint64_t coalesced_waits; /**< requests that waited for another thread's download */
    uint64_t evictions;
    uint64_t memory_bytes;
    uint64_t disk_bytes;
    uint64_t resolutions;     /**< references resolved */
    uint64_t revalidations;   /**< metadata requests made after a TTL ran out */
} glarex_stats;

GLAREX_EXTERN(void) glarex_ctx_stats(glarex_stats *out, glarex_ctx *ctx);

/**
 * The counters of every context that has used this context's cache directory, in
 * any process, plus this context's own so far: each context adds its counters to
 * `<cache dir>/stats.json` when it is freed. memory_bytes and disk_bytes are this
 * context's, as glarex_ctx_stats gives them. Errors: GLAREX_EINVALID (NULL argument).
 */
GLAREX_EXTERN(int) glarex_cache_totals(glarex_stats *out, glarex_ctx *ctx, glarex_error *err);

/**
 * Resolves a reference as glarex_fetch_uri / glarex_fetch do (give `uri`, or `name`,
 * `version` and `resource`), and reports each step as a JSON object (new in *out, also
 * on failure once the reference parsed): {"input", "reference" (canonical text),
 * "kind", "remembered": "memory"|"index"|"none", "query": {...} (when the store was
 * asked), "candidates": [...], "chosen": {...}, "sha256", "cache":
 * "memory"|"disk"|"download", "error"}. The resolution is performed for real (and
 * its answer cached) except that the in-memory table is bypassed, so every step shows.
 */
GLAREX_EXTERN(int) glarex_resolve_explain(json_t **out, glarex_ctx *ctx, const char *uri,
                                          const char *name, const char *version,
                                          const char *resource, glarex_error *err);

/** One cached object, for glarex_cache_list and glarex_cache_verify. */
typedef struct glarex_cache_entry {
    char sha256[65];
    uint64_t size;
    int64_t mtime;    /**< last use, seconds since the epoch */
    const char *path; /**< borrowed for the duration of the callback */
} glarex_cache_entry;

/** Called per cached object; return nonzero to stop (the call returns that value). */
typedef int (*glarex_cache_entry_cb)(const glarex_cache_entry *entry, void *payload);

/** Lists the cached objects in sha256 order. */
GLAREX_EXTERN(int) glarex_cache_list(glarex_ctx *ctx, glarex_cache_entry_cb cb, void *payload,
                                     glarex_error *err);

/** Re-hashes every cached object and removes corrupt ones; `out` (may be NULL) gets how
 * many were corrupt, `cb` (may be NULL) is called for each corrupt one. */
GLAREX_EXTERN(int) glarex_cache_verify(uint64_t *out, glarex_ctx *ctx,
                                       glarex_cache_entry_cb cb, void *payload,
                                       glarex_error *err);

/** What glarex_cache_gc and glarex_cache_purge removed. */
typedef struct glarex_cache_gc_result {
    uint64_t objects_removed;
    uint64_t bytes_removed;
    uint64_t objects_kept_in_use;
    uint64_t temp_removed;
} glarex_cache_gc_result;

/** Enforces the cache budgets now and removes stale temporary files (`out` may be
 * NULL). */
GLAREX_EXTERN(int) glarex_cache_gc(glarex_cache_gc_result *out, glarex_ctx *ctx,
                                   glarex_error *err);

/** Removes every cached object not in use and every remembered resolution, in memory
 * and on disk (`out` may be NULL). */
GLAREX_EXTERN(int) glarex_cache_purge(glarex_cache_gc_result *out, glarex_ctx *ctx,
                                      glarex_error *err);

/** The cache directory in use (borrowed, lives as long as the context). */
GLAREX_EXTERN(const char *) glarex_ctx_cache_dir(const glarex_ctx *ctx);

/**
 * Parses YAML text (one document) into JSON (new), resolving scalars as PyYAML's
 * safe_load does, so a workflow reads here as it does in Mistral. `source` names the
 * input in messages; errors carry line and column. What JSON cannot carry (timestamps,
 * non-string keys, .inf, integers beyond 64 bits) is GLAREX_EUNSUPPORTED; malformed
 * YAML is GLAREX_EINVALID. Aliases that, expanded, add more than 1,000,000 nodes or
 * 64 MiB of scalar text to the document are GLAREX_ETOOBIG (an alias bomb), at the
 * alias that crosses the cap.
 */
GLAREX_EXTERN(int) glarex_yaml_parse(json_t **out, const char *text, size_t len,
                                     const char *source, glarex_error *err);

/**
 * Forgets every remembered resolution of the artifacts named `name`, or of the
 * artifact with id `id` (give one, the other NULL), for every identity: in this
 * context's memory and in the cache directory's index, so every process using that
 * directory asks the store again. Call it after changing the store (glarex's own
 * commands do). Content stays cached: it is addressed by sha256.
 */
GLAREX_EXTERN(int) glarex_ctx_invalidate(glarex_ctx *ctx, const char *name, const char *id,
                                         glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Requests: who asks, for which execution, as of when
 *
 * One context serves many identities at once (a workflow engine evaluates the
 * workflows of every project). A glarex_request carries one caller's credentials, the
 * execution it serves, the workflow whose own resources glare('key') names, and the
 * time it resolves "as of". Every resolution belongs to a scope: the store's identity
 * (its normalised URL and artifact type, or a local store's own random id) plus the
 * credentials' identity. A resolution is only ever served to its own scope, in memory
 * and on disk; content is shared by sha256, but reached only through a resolution made
 * in the asking scope (see docs/cache.md).
 *
 * Threads: a request is immutable once made; any number of threads may use one.
 * It borrows its context, which must outlive it. The context's own calls
 * (glarex_fetch, ...) use the context's own identity, as a request made with no
 * options would.
 * ==================================================================== */

typedef struct glarex_request glarex_request;

typedef struct glarex_request_options {
    unsigned int version;

    /** Sent as X-Auth-Token for this request's store calls. NULL: the context's own
     * credentials (token or noauth headers). */
    const char *auth_token;
    /** Who the token belongs to, as the identity service reported it (Keystone's
     * token data, Mistral's security context). When project_id is set, resolutions are
     * scoped by project, user and roles, so a renewed token keeps its cache; otherwise
     * by the trusted-auth "user:project:roles" text of the token, or by a digest of the
     * token (never the token itself). `roles` is comma-separated. */
    const char *project_id;
    const char *user_id;
    const char *roles;

    /** The execution served (e.g. Mistral's execution id): named in messages. */
    const char *execution_id;
    /** The workflow whose resources glare('key') and glare://key name: "name" or
     * "name@version". Without a version, the highest active one as of `as_of_ms`. */
    const char *workflow;
    /** Resolve `latest` and ranges as of this time, milliseconds since the epoch
     * (a Mistral execution's start): every call with the same time gets the same
     * version, on any host, whatever is published later. 0 = now. */
    int64_t as_of_ms;

    /** Version 2. Called as content is downloaded from the store for this request's fetches
     * (bytes so far, the blob's size); nonzero aborts the download (GLAREX_ERROR). Not
     * called for content already cached, nor while another thread downloads it. */
    glarex_progress_cb progress;
    void *progress_payload;
} glarex_request_options;

/* Version 1 (without progress) is still accepted. */
#define GLAREX_REQUEST_OPTIONS_VERSION 2
#define GLAREX_REQUEST_OPTIONS_INIT {.version = GLAREX_REQUEST_OPTIONS_VERSION}

GLAREX_EXTERN(int) glarex_request_options_init(glarex_request_options *opts,
                                               unsigned int version);

/** Creates a request (new) on `ctx` (borrowed). Options and strings are copied.
 * Errors: GLAREX_EINVALID (bad workflow text, a token unfit for a header). */
GLAREX_EXTERN(int) glarex_request_new(glarex_request **out, glarex_ctx *ctx,
                                      const glarex_request_options *opts, glarex_error *err);

GLAREX_EXTERN(void) glarex_request_free(glarex_request *req);

/** The scope's key: 64 hex digits naming the store and the credentials' identity,
 * never the token (borrowed, lives as long as the request). */
GLAREX_EXTERN(const char *) glarex_request_scope(const glarex_request *req);

/** glarex_fetch as the request's caller. `name` may also be a resource of the
 * request's workflow when `version` and `resource` are NULL (see glarex_request_fetch_uri). */
GLAREX_EXTERN(int) glarex_request_fetch(glarex_blob **out, glarex_request *req,
                                        const char *name, const char *version,
                                        const char *resource, glarex_error *err);

/** The one-argument glare(text): a glare:// URI, or a resource of the request's own
 * workflow ("heal_vm_script.sh", "glare://heal_vm_script.sh", "glare:///dir/f.sh").
 * A self reference with no workflow in the request is GLAREX_EINVALID. */
GLAREX_EXTERN(int) glarex_request_fetch_uri(glarex_blob **out, glarex_request *req,
                                            const char *text, glarex_error *err);

/** glarex_resolve_explain as the request's caller. */
GLAREX_EXTERN(int) glarex_request_explain(json_t **out, glarex_request *req, const char *uri,
                                          const char *name, const char *version,
                                          const char *resource, glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Peers: Keystone and Mistral (src/keystone.c, src/mistral.c)
 *
 * The two OpenStack services next to Glare that the glarex command talks to: Keystone
 * v3 issues the token that Glare and Mistral accept, and Mistral's REST API stores the
 * workflow definition. Both calls use the Glare client's transport and conventions:
 * TLS verification on unless `insecure`, connect/total/stall timeouts, retries of
 * idempotent requests, the trace callback (secrets shown as "***").
 * ==================================================================== */

typedef struct glarex_keystone_options {
    unsigned int version;

    /** Keystone's public endpoint (OS_AUTH_URL), e.g. "https://keystone:5000" or
     * "https://keystone:5000/v3". Required. */
    const char *auth_url;
    /** Password authentication (OS_USERNAME, OS_PASSWORD). Required. */
    const char *username;
    const char *password;
    /** Project scope (OS_PROJECT_NAME, or project_id below); neither asks for an
     * unscoped token. */
    const char *project_name;
    /** Domains of the user and of the project; NULL means "Default". */
    const char *user_domain_name;
    const char *project_domain_name;

    /** TLS, timeouts, retries and trace, as for a Glare client. Its url, auth_token
     * and noauth_* members are ignored. */
    glarex_client_options client;

    /** Version 2. Ids instead of names (OS_PROJECT_ID, OS_USER_DOMAIN_ID,
     * OS_PROJECT_DOMAIN_ID), as openrc files and clouds.yaml often give them; an id wins
     * over the name. */
    const char *project_id;
    const char *user_domain_id;
    const char *project_domain_id;
} glarex_keystone_options;

/* Version 1 (without the ids) is still accepted. */
#define GLAREX_KEYSTONE_OPTIONS_VERSION 2
#define GLAREX_KEYSTONE_OPTIONS_INIT                                                     \
    {.version = GLAREX_KEYSTONE_OPTIONS_VERSION, .client = GLAREX_CLIENT_OPTIONS_INIT}

/** Fills `opts` with defaults for the given version; GLAREX_EINVALID for an unknown one. */
GLAREX_EXTERN(int) glarex_keystone_options_init(glarex_keystone_options *opts,
                                                unsigned int version);

/**
 * POST {auth_url}/v3/auth/tokens with the password method. The token (the
 * X-Subject-Token header of the answer) is written to `out` (new bytes; release them
 * with glarex_buf_dispose). Bad credentials are GLAREX_EAUTH; an answer without the
 * header is GLAREX_EPROTOCOL. The password appears in no trace and no message.
 * Thread-safe: each call uses its own connection.
 */
GLAREX_EXTERN(int) glarex_keystone_token(glarex_buf *out, const glarex_keystone_options *opts,
                                         glarex_error *err);

/**
 * glarex_keystone_token, also giving who the token belongs to as Keystone reported it
 * in the same answer: `identity` (may be NULL) receives {"project_id", "user_id",
 * "roles" (comma-separated names), "catalog" (the service catalog, Keystone's array of
 * {type, endpoints: [{interface, region, region_id, url}]})} (new; members Keystone
 * left out are missing). A glarex_request made with these keeps its cache across
 * renewed tokens.
 */
GLAREX_EXTERN(int) glarex_keystone_token_ex(glarex_buf *out, json_t **identity,
                                            const glarex_keystone_options *opts,
                                            glarex_error *err);

/** A connection to Mistral's v2 API. Used by one thread at a time. */
typedef struct glarex_mistral glarex_mistral;

typedef struct glarex_mistral_options {
    unsigned int version;

    /** Mistral's API base, e.g. "http://127.0.0.1:8989" (a trailing "/v2" is
     * accepted). Required. */
    const char *url;

    /** auth_token (sent as X-Auth-Token), TLS, timeouts, retries and trace, as for a
     * Glare client; its url and noauth_* members are ignored. */
    glarex_client_options client;
} glarex_mistral_options;

#define GLAREX_MISTRAL_OPTIONS_VERSION 1
#define GLAREX_MISTRAL_OPTIONS_INIT                                                      \
    {.version = GLAREX_MISTRAL_OPTIONS_VERSION, .client = GLAREX_CLIENT_OPTIONS_INIT}

GLAREX_EXTERN(int) glarex_mistral_options_init(glarex_mistral_options *opts,
                                               unsigned int version);

/** Creates a Mistral connection (new). The options and their strings are copied. */
GLAREX_EXTERN(int) glarex_mistral_new(glarex_mistral **out, const glarex_mistral_options *opts,
                                      glarex_error *err);

GLAREX_EXTERN(void) glarex_mistral_free(glarex_mistral *mistral);

/**
 * POST /v2/workflows with `definition` (`len` bytes of workflow YAML, borrowed) as
 * text/plain. `out` receives Mistral's array of the created workflows (new), each an
 * object with at least "id" and "name". Mistral's own message (its "faultstring") is
 * reported: an invalid definition is GLAREX_EHTTP with http_status 400, a workflow of
 * that name that already exists is GLAREX_ECONFLICT.
 */
GLAREX_EXTERN(int) glarex_mistral_workflow_create(json_t **out, glarex_mistral *mistral,
                                                  const char *definition, size_t len,
                                                  glarex_error *err);

/**
 * PUT /v2/workflows: replaces the definitions of the workflows `definition` names, which
 * must all exist (Mistral answers 404 otherwise). `out` as for
 * glarex_mistral_workflow_create.
 */
GLAREX_EXTERN(int) glarex_mistral_workflow_update(json_t **out, glarex_mistral *mistral,
                                                  const char *definition, size_t len,
                                                  glarex_error *err);

/** GET /v2/workflows/{identifier} (a workflow's id or name): Mistral's object (new),
 * with "id", "name" and "definition"; an unknown one is GLAREX_ENOTFOUND. */
GLAREX_EXTERN(int) glarex_mistral_workflow_get(json_t **out, glarex_mistral *mistral,
                                               const char *identifier, glarex_error *err);

/** DELETE /v2/workflows/{identifier}: a workflow's id or name. */
GLAREX_EXTERN(int) glarex_mistral_workflow_delete(glarex_mistral *mistral,
                                                  const char *identifier, glarex_error *err);

/** Mistral's message ("faultstring") of the last call on `mistral` when it failed with
 * one, whole (the glarex_error holds it on one line, cut to fit); else NULL. Borrowed,
 * valid until the next call. */
GLAREX_EXTERN(const char *) glarex_mistral_fault(const glarex_mistral *mistral);

/* }==================================================================== */

/* {====================================================================
 * Expression evaluator (src/eval.c, lua/)
 *
 * Evaluates Mistral expressions (YAQL <% %>, Jinja {{ }}) the way Mistral 15 does, by
 * compiling them to sandboxed Lua. Threads: an evaluator belongs to one thread at a
 * time (it owns a Lua state); many evaluators may share one glarex_ctx.
 * ==================================================================== */

typedef struct glarex_eval glarex_eval;

typedef struct glarex_eval_options {
    unsigned int version;
    size_t memory_limit;        /**< bytes the Lua state may use (default 64 MiB) */
    uint64_t instruction_limit; /**< Lua instructions per evaluation (default 50M) */
    long timeout_ms;            /**< wall clock per evaluation, fetches included (5000) */
    size_t template_cache;      /**< compiled templates kept, by text (default 512) */
} glarex_eval_options;

#define GLAREX_EVAL_OPTIONS_VERSION 1
#define GLAREX_EVAL_OPTIONS_INIT {.version = GLAREX_EVAL_OPTIONS_VERSION}

GLAREX_EXTERN(int) glarex_eval_options_init(glarex_eval_options *opts, unsigned int version);

/** Creates an evaluator (new). `ctx` (borrowed; must outlive the evaluator) serves
 * glare(), glare_path(), glare_b64() and glare_info(); with NULL they fail. */
GLAREX_EXTERN(int) glarex_eval_new(glarex_eval **out, glarex_ctx *ctx,
                                   const glarex_eval_options *opts, glarex_error *err);

GLAREX_EXTERN(void) glarex_eval_free(glarex_eval *ev);

/** Converts `context` (borrowed) once and keeps it, so later calls given a NULL
 * context evaluate against it without converting it again. NULL unbinds. */
GLAREX_EXTERN(int) glarex_eval_bind(glarex_eval *ev, const json_t *context,
                                    glarex_error *err);

/** Mistral's evaluate(expression, context): the typed value when `text` is exactly one
 * expression, otherwise the rendered string (new). `context` NULL = the bound one. */
GLAREX_EXTERN(int) glarex_eval_string(json_t **out, glarex_eval *ev, const char *text,
                                      const json_t *context, glarex_error *err);

/** Mistral's evaluate_recursively(data, context): strings inside `data` (borrowed) are
 * evaluated, keys never; nothing is evaluated when the context is empty (new). The parts
 * of `data` that nothing changes are shared with the result, not copied (with nothing to
 * evaluate the result is `data` itself, incref'd): json_deep_copy() it to change it. */
GLAREX_EXTERN(int) glarex_eval_recursive(json_t **out, glarex_eval *ev, const json_t *data,
                                         const json_t *context, glarex_error *err);

/** Checks that `text` compiles, as Mistral's definition-time validation does. */
GLAREX_EXTERN(int) glarex_eval_validate(glarex_eval *ev, const char *text, glarex_error *err);

/** A function an embedding executor adds (e.g. task(), execution()). `args` is the
 * array of positional arguments, `kwargs` an object of keyword arguments or NULL (both
 * borrowed); the result is new. Report failures through `err`. */
typedef int (*glarex_eval_fn)(json_t **out, const json_t *args, const json_t *kwargs,
                              void *payload, glarex_error *err);

/** Makes glare() and its siblings resolve as `req` (borrowed; it must outlive its use
 * here) in later evaluations: its credentials, workflow and as-of time. NULL returns
 * to the context's own identity. */
GLAREX_EXTERN(int) glarex_eval_use_request(glarex_eval *ev, glarex_request *req,
                                           glarex_error *err);

/** Registers `fn` under `name` for YAQL (a function) and Jinja (a global and a filter).
 * Replaces an earlier registration of the same name; built-ins cannot be replaced. */
GLAREX_EXTERN(int) glarex_eval_register(glarex_eval *ev, const char *name, glarex_eval_fn fn,
                                        void *payload, glarex_error *err);

/* }==================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* GLAREX_H */
