/*
 * The OCI registry backend of glarex_store, in the ORAS layout: an artifact is the
 * repository <namespace>/<name>, tagged with its version, holding one OCI image manifest
 * whose config blob carries the metadata and whose layers are the workflow and each
 * resource, titled by key (docs/store.md, "OCI registries").
 */
#include "store.h"

#include "digest.h"
#include "oci_registry.h"
#include "version.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define TYPE_NAME "workflows"
#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define CONFIG_TYPE "application/vnd.glarex.workflow.config.v1+json"
#define WORKFLOW_LAYER_TYPE "application/vnd.glarex.workflow.v1+yaml"
#define RESOURCE_LAYER_TYPE "application/vnd.glarex.resource.v1"
#define A_TITLE "org.opencontainers.image.title"
#define A_CREATED "org.opencontainers.image.created"
#define A_FIELD "org.glarex.field"
#define A_CONTENT_TYPE "org.glarex.content-type"
#define A_MD5 "org.glarex.md5"
#define WORKFLOW_TITLE "workflow.yaml"

#define MAX_MANIFEST_SIZE (4u * 1024 * 1024)
#define MAX_CONFIG_SIZE (1u * 1024 * 1024)
#define MAX_PAGES 100 /* of PAGE_SIZE names each: catalogs and tag lists */
#define PAGE_SIZE 1000
#define MAX_KEYS 255
#define MAX_KEY_LENGTH 255
#define KNOWN_SLOTS 64
#define CHUNK_SIZE 65536
#define DEFAULT_MAX_BLOB_SIZE (10u * 1024 * 1024)

/* A draft lives in the handle that created it until activate pushes its manifest:
 * the registry shows nothing of it before (blobs without a manifest are invisible). */
typedef struct oci_draft {
    struct oci_draft *next;
    json_t *af; /* the artifact as get returns it, status "drafted" */
} oci_draft;

/* Where an id was last seen, so that download and delete need no catalog scan. */
typedef struct oci_known {
    char id[37];
    char *name;
    char *version;
    char digest[72]; /* the manifest's "sha256:…" */
    json_t *af;      /* the artifact as last read, or NULL */
} oci_known;

typedef struct oci_store {
    oci_registry reg;
    uint64_t max_blob_size;
    oci_draft *drafts;
    oci_known known[KNOWN_SLOTS];
    size_t next_known;
} oci_store;

/* {====================================================================
 * Names, tags, ids
 * ==================================================================== */

/* An error as Glare would answer it, with its HTTP status (store.c). */
#define fail glarex__store_fail

static int check_type(const char *type_name, glarex_error *err)
{
    if (strcmp(type_name, TYPE_NAME) != 0)
        return fail(err, GLAREX_ENOTFOUND, 404, "Glare type with name '%s' was not found.",
                    type_name);
    return 0;
}

/* The tag of a normalised version: '+' (build metadata) is not allowed in tags and
 * becomes '_', as Helm does; no version holds '_'. */
static void tag_of(char *tag, const char *version)
{
    for (; *version; version++)
        *tag++ = *version == '+' ? '_' : *version;
    *tag = '\0';
}

static void version_of_tag(char *version, const char *tag)
{
    for (; *tag; tag++)
        *version++ = *tag == '_' ? '+' : *tag;
    *version = '\0';
}

/* The artifact's id: a UUID (version 8) made from (name, version), so that every host
 * names the same artifact alike and an id leads back to its repository and tag. */
static int artifact_id(char out[37], const char *name, const char *version, glarex_error *err)
{
    char text[600], sha[65];
    int n = snprintf(text, sizeof(text), "%s%c%s", name, '\0', version);

    if (n < 0 || (size_t)n >= sizeof(text))
        return fail(err, GLAREX_EINVALID, 400, "name '%.40s…' and version are too long", name);
    if (glarex__digest_buffer(text, (size_t)n, sha, NULL) < 0)
        return GLAREX_ENOMEM_SET(err);
    sha[12] = '8'; /* version 8: custom */
    sha[16] = "89ab"[(sha[16] <= '9' ? sha[16] - '0' : sha[16] - 'a' + 10) & 3]; /* variant */
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", sha, sha + 8, sha + 12, sha + 16,
             sha + 20);
    return 0;
}

static char *repo_path(const oci_store *s, const char *name, const char *tail)
{
    char *out;
    if (asprintf(&out, "%s/%s%s", s->reg.ns, name, tail ? tail : "") < 0)
        return NULL;
    return out;
}

static void now_stamp(char out[21])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[Z]" (UTC), or -1. */
static long long parse_time(const char *s)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) ||
        (*end && strcmp(end, "Z") != 0))
        return -1;
    return (long long)timegm(&tm);
}

static const oci_known *known_slot(const oci_store *s, const char *id)
{
    for (size_t i = 0; i < KNOWN_SLOTS; i++)
        if (strcmp(s->known[i].id, id) == 0)
            return &s->known[i];
    return NULL;
}

static void known_clear(oci_known *k)
{
    free(k->name);
    free(k->version);
    json_decref(k->af);
    memset(k, 0, sizeof(*k));
}

static void remember(oci_store *s, const char *id, const char *name, const char *version,
                     const char *digest, json_t *af)
{
    oci_known *k = (oci_known *)known_slot(s, id);
    if (!k) {
        k = &s->known[s->next_known];
        s->next_known = (s->next_known + 1) % KNOWN_SLOTS;
    }
    known_clear(k);
    k->name = strdup(name);
    k->version = strdup(version);
    if (!k->name || !k->version) { /* a lost hint costs a catalog scan, nothing more */
        known_clear(k);
        return;
    }
    k->af = json_incref(af);
    glarex__strlcpy(k->id, id, sizeof(k->id));
    glarex__strlcpy(k->digest, digest, sizeof(k->digest));
}

static void forget(oci_store *s, const char *id)
{
    for (size_t i = 0; i < KNOWN_SLOTS; i++)
        if (strcmp(s->known[i].id, id) == 0)
            known_clear(&s->known[i]);
}

/* }==================================================================== */

/* {====================================================================
 * Registry reads
 * ==================================================================== */

/* A GET whose body is collected (up to `cap` bytes) and must be 2xx; a 404 is
 * GLAREX_ENOTFOUND. `mirrored`: a mirror may answer. */
static int get_body(glarex__http_response *resp, oci_store *s, const char *path,
                    const char *accept, uint64_t cap, int mirrored, const char *what,
                    glarex_error *err)
{
    oci_call call = {0};
    int rc;

    call.method = "GET";
    call.path = path;
    call.what = what;
    call.accept = accept;
    call.read_only = mirrored;
    call.max_body = cap;
    if ((rc = glarex__oci_call(resp, &s->reg, &call, err)) < 0)
        return rc;
    if (resp->status < 200 || resp->status >= 300)
        return glarex__http_status_error(err, what, resp);
    return 0;
}

/* The body, checked against "sha256:<hex>" `digest` (when not NULL), as JSON (new). */
static int verified_json(json_t **out, const glarex__http_response *resp, const char *digest,
                         const char *what, glarex_error *err)
{
    char sha[65];
    json_error_t jerr;

    if (digest) {
        if (glarex__digest_buffer(resp->body.ptr ? resp->body.ptr : "", resp->body.size, sha,
                                  NULL) < 0)
            return GLAREX_ENOMEM_SET(err);
        if (strncmp(digest, "sha256:", 7) != 0 || strcasecmp(digest + 7, sha) != 0)
            return glarex__error_set(err, GLAREX_ECHECKSUM,
                                     "%s: sha256 mismatch: expected %s, got sha256:%s", what,
                                     digest, sha);
    }
    *out = json_loadb(resp->body.ptr ? resp->body.ptr : "", resp->body.size, 0, &jerr);
    if (!*out)
        return glarex__error_set(err, GLAREX_EPROTOCOL, "%s: not JSON: %s", what, jerr.text);
    return 0;
}

/* Every name of a paged list ("tags" or "repositories") from `path` into `names`.
 * `mirrored`: a mirror may answer (a pull-through mirror's catalog lists only what it
 * holds, its tag lists are the origin's). */
static int paged_names(json_t *names, oci_store *s, const char *path, const char *member,
                       int mirrored, const char *what, glarex_error *err)
{
    char *page = strdup(path);
    int rc = 0;

    if (!page)
        return GLAREX_ENOMEM_SET(err);
    for (int n = 0; page && rc == 0; n++) {
        glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
        json_t *doc = NULL, *item;
        size_t i;
        if (n == MAX_PAGES) {
            rc = glarex__error_set(err, GLAREX_ETOOBIG, "%s: more than %d pages of %d names",
                                   what, MAX_PAGES, PAGE_SIZE);
            break;
        }
        if ((rc = get_body(&resp, s, page, "application/json", MAX_MANIFEST_SIZE, mirrored,
                           what, err)) == 0 &&
            (rc = verified_json(&doc, &resp, NULL, what, err)) == 0) {
            json_array_foreach(json_object_get(doc, member), i, item)
                if (json_is_string(item))
                    json_array_append(names, item);
        }
        free(page);
        page = rc == 0 ? glarex__oci_next_page(&resp) : NULL;
        json_decref(doc);
        glarex__http_response_dispose(&resp);
    }
    free(page);
    return rc;
}

/* The versions tagged in the repository of `name` (new array; empty when the
 * repository does not exist). */
static int list_versions(json_t **out, oci_store *s, const char *name, glarex_error *err)
{
    char *path, what[300];
    json_t *tags = json_array();
    size_t i;
    json_t *t;
    int rc;

    *out = NULL;
    if (!tags || asprintf(&path, "%s/%s/tags/list?n=%d", s->reg.ns, name, PAGE_SIZE) < 0) {
        json_decref(tags);
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(what, sizeof(what), "list the tags of %s/%s", s->reg.ns, name);
    rc = paged_names(tags, s, path, "tags", 1, what, err);
    free(path);
    if (rc == GLAREX_ENOTFOUND)
        rc = 0, json_array_clear(tags);
    if (rc < 0) {
        json_decref(tags);
        return rc;
    }
    /* back to versions; tags that are not normalised versions are not glarex's */
    for (i = 0; i < json_array_size(tags);) {
        const char *tag = json_string_value(json_array_get(tags, i));
        char version[256], norm[256 + 8];
        if (strlen(tag) < sizeof(version)) {
            version_of_tag(version, tag);
            if (glarex__version_normalize(norm, sizeof(norm), version, strlen(version),
                                          GLAREX__VERSION_STRICT, NULL) == GLAREX__VERSION_OK &&
                strcmp(norm, version) == 0) {
                json_array_set_new(tags, i++, json_string(version));
                continue;
            }
        }
        json_array_remove(tags, i);
    }
    json_array_foreach(tags, i, t)
        if (!json_is_string(t)) {
            json_decref(tags);
            return GLAREX_ENOMEM_SET(err);
        }
    *out = tags;
    return 0;
}

/* The artifact names in the namespace, from the catalog (new array). */
static int list_names(json_t **out, oci_store *s, glarex_error *err)
{
    json_t *repos = json_array(), *names = json_array(), *r;
    size_t nsl = strlen(s->reg.ns), i;
    char path[64];
    int rc;

    *out = NULL;
    if (!repos || !names) {
        json_decref(repos);
        json_decref(names);
        return GLAREX_ENOMEM_SET(err);
    }
    snprintf(path, sizeof(path), "_catalog?n=%d", PAGE_SIZE);
    rc = paged_names(repos, s, path, "repositories", 0, "list the registry's repositories",
                     err);
    json_array_foreach(repos, i, r) {
        const char *repo = json_string_value(r);
        if (rc == 0 && strncmp(repo, s->reg.ns, nsl) == 0 && repo[nsl] == '/' &&
            !strchr(repo + nsl + 1, '/'))
            json_array_append_new(names, json_string(repo + nsl + 1));
    }
    json_decref(repos);
    if (rc < 0) {
        json_decref(names);
        return rc;
    }
    *out = names;
    return 0;
}

/* The manifest of `name` at `ref` (a tag, or a "sha256:…" digest, which is verified)
 * as JSON (new), with its digest. `mirrored`: a mirror may answer (reads; never the
 * checks before a write). */
static int get_manifest(json_t **out, char digest[72], oci_store *s, const char *name,
                        const char *ref, int mirrored, glarex_error *err)
{
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    char *path = NULL, what[400], sha[65];
    const char *want = strncmp(ref, "sha256:", 7) == 0 ? ref : NULL;
    int rc;

    *out = NULL;
    snprintf(what, sizeof(what), "GET the manifest of %s/%s:%s", s->reg.ns, name, ref);
    if (asprintf(&path, "%s/%s/manifests/%s", s->reg.ns, name, ref) < 0)
        return GLAREX_ENOMEM_SET(err);
    if ((rc = get_body(&resp, s, path, MANIFEST_TYPE, MAX_MANIFEST_SIZE, mirrored, what,
                       err)) == 0 &&
        (rc = verified_json(out, &resp, want ? want : (resp.docker_digest[0] ? resp.docker_digest : NULL),
                            what, err)) == 0) {
        if (glarex__digest_buffer(resp.body.ptr ? resp.body.ptr : "", resp.body.size, sha,
                                  NULL) < 0)
            rc = GLAREX_ENOMEM_SET(err);
        else
            snprintf(digest, 72, "sha256:%s", sha);
    }
    free(path);
    glarex__http_response_dispose(&resp);
    return rc;
}

static const char *annotation(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "annotations"), key));
}

/* The blob of one layer, as Glare shows blobs (new). */
static json_t *layer_blob(const oci_store *s, const char *name, const json_t *layer)
{
    const char *digest = json_string_value(json_object_get(layer, "digest"));
    const char *ctype = annotation(layer, A_CONTENT_TYPE);
    const char *md5 = annotation(layer, A_MD5);
    char *url = NULL;
    json_t *blob;

    if (!digest || strncmp(digest, "sha256:", 7) != 0 ||
        asprintf(&url, "/v2/%s/%s/blobs/%s", s->reg.ns, name, digest) < 0)
        return NULL;
    blob = json_pack("{s:s, s:s, s:b, s:s?, s:n, s:s, s:I, s:s}", "url", url, "status",
                     "active", "external", 0, "md5", md5, "sha1", "sha256", digest + 7,
                     "size", json_integer_value(json_object_get(layer, "size")),
                     "content_type", ctype ? ctype : "application/octet-stream");
    free(url);
    return blob;
}

/* The artifact (as Glare shows it) of manifest `m` with config `cfg`, found at `name`. */
static int artifact_of(json_t **out, oci_store *s, const char *name, const char *tag,
                       const json_t *m, const json_t *cfg, glarex_error *err)
{
    const char *cname = json_string_value(json_object_get(cfg, "name"));
    const char *version = json_string_value(json_object_get(cfg, "version"));
    const char *created = annotation(m, A_CREATED);
    char id[37], vtag[300];
    json_t *af, *res, *layer;
    size_t i;
    int rc;

    if (!cname || !version || strcmp(cname, name) != 0 || strlen(version) >= sizeof(vtag) ||
        (tag_of(vtag, version), strcmp(vtag, tag) != 0))
        return glarex__error_set(err, GLAREX_EPROTOCOL,
                                 "%s/%s:%s: the manifest's config names %s %s, not this "
                                 "repository and tag",
                                 s->reg.ns, name, tag, cname ? cname : "(no name)",
                                 version ? version : "(no version)");
    if ((rc = artifact_id(id, name, version, err)) < 0)
        return rc;
    af = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:O?, s:O?, s:O?, s:s, s:s, "
                   "s:s, s:n, s:o}",
                   "id", id, "name", name, "owner", s->reg.ns, "status", "active",
                   "created_at", created, "updated_at", created, "activated_at", created,
                   "description", json_object_get(cfg, "description"), "tags",
                   json_object_get(cfg, "tags"), "metadata", json_object_get(cfg, "metadata"),
                   "visibility", "private", "version", version, "display_type_name",
                   "Workflow", "workflow", "resources", json_object());
    if (!af)
        return GLAREX_ENOMEM_SET(err);
    res = json_object_get(af, "resources");
    json_array_foreach(json_object_get(m, "layers"), i, layer) {
        const char *field = annotation(layer, A_FIELD);
        const char *title = annotation(layer, A_TITLE);
        json_t *blob;
        if (!field || !title)
            continue; /* a layer another tool added: not a blob of the artifact */
        if (!(blob = layer_blob(s, name, layer)) ||
            (strcmp(field, "workflow") == 0 ? json_object_set_new(af, "workflow", blob)
                                            : json_object_set_new(res, title, blob)) < 0) {
            json_decref(af);
            return GLAREX_ENOMEM_SET(err);
        }
    }
    *out = af;
    return 0;
}

/* The active artifact `name` at `version` (new), its manifest and the manifest's
 * digest; the manifest is fetched by `digest` when it is given. */
static int fetch(json_t **out, json_t **manifest, char digest[72], oci_store *s,
                 const char *name, const char *version, glarex_error *err)
{
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    json_t *m = NULL, *cfg = NULL;
    const char *cdigest, *ctype;
    char tag[300], *path = NULL, what[400];
    int rc;

    *out = NULL;
    if (strlen(version) >= sizeof(tag))
        return fail(err, GLAREX_ENOTFOUND, 404, "%s %s: no such artifact", name, version);
    tag_of(tag, version);
    if ((rc = get_manifest(&m, digest, s, name, digest[0] ? digest : tag, 1, err)) < 0)
        goto done;
    cdigest = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    ctype = json_string_value(json_object_get(json_object_get(m, "config"), "mediaType"));
    if (!cdigest || !ctype || strcmp(ctype, CONFIG_TYPE) != 0) {
        rc = fail(err, GLAREX_ENOTFOUND, 404,
                  "%s/%s:%s is not a glarex artifact (its config is %s, not " CONFIG_TYPE ")",
                  s->reg.ns, name, tag, ctype ? ctype : "missing");
        goto done;
    }
    snprintf(what, sizeof(what), "GET the config of %s/%s:%s", s->reg.ns, name, tag);
    if (asprintf(&path, "%s/%s/blobs/%s", s->reg.ns, name, cdigest) < 0) {
        path = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((rc = get_body(&resp, s, path, NULL, MAX_CONFIG_SIZE, 1, what, err)) < 0 ||
        (rc = verified_json(&cfg, &resp, cdigest, what, err)) < 0 ||
        (rc = artifact_of(out, s, name, tag, m, cfg, err)) < 0)
        goto done;
    remember(s, json_string_value(json_object_get(*out, "id")), name, version, digest,
             *out);
    if (manifest) {
        *manifest = m;
        m = NULL;
    }
done:
    json_decref(m);
    json_decref(cfg);
    free(path);
    glarex__http_response_dispose(&resp);
    return rc;
}

/* The name and version of the active artifact `id` (borrowed from the hints): from a
 * hint, or by walking the catalog and the tags. */
static int locate(const oci_known **out, oci_store *s, const char *id, glarex_error *err)
{
    json_t *names = NULL, *versions = NULL, *n, *v;
    size_t i, j;
    int rc;

    if (strlen(id) != 36) /* no id of ours; an empty one would match a free slot */
        return fail(err, GLAREX_ENOTFOUND, 404, "Artifact with id=%s not found", id);
    if ((*out = known_slot(s, id)))
        return 0;
    if ((rc = list_names(&names, s, err)) < 0)
        return rc;
    json_array_foreach(names, i, n) {
        if ((rc = list_versions(&versions, s, json_string_value(n), err)) < 0)
            break;
        json_array_foreach(versions, j, v) {
            char vid[37];
            if (artifact_id(vid, json_string_value(n), json_string_value(v), NULL) == 0 &&
                strcmp(vid, id) == 0) {
                remember(s, id, json_string_value(n), json_string_value(v), "", NULL);
                json_decref(versions);
                json_decref(names);
                return (*out = known_slot(s, id)) ? 0 : GLAREX_ENOMEM_SET(err);
            }
        }
        json_decref(versions);
    }
    json_decref(names);
    return rc < 0 ? rc
                  : fail(err, GLAREX_ENOTFOUND, 404, "Artifact with id=%s not found", id);
}

static oci_draft *find_draft(oci_store *s, const char *id)
{
    for (oci_draft *d = s->drafts; d; d = d->next)
        if (strcmp(json_string_value(json_object_get(d->af, "id")), id) == 0)
            return d;
    return NULL;
}

/* The active artifact `id` (new), with its manifest when `manifest` is not NULL. */
static int get_active(json_t **out, json_t **manifest, oci_store *s, const char *id,
                      glarex_error *err)
{
    const oci_known *k;
    char digest[72];
    int rc;

    if ((rc = locate(&k, s, id, err)) < 0)
        return rc;
    glarex__strlcpy(digest, k->digest, sizeof(digest));
    {
        char *name = strdup(k->name), *version = strdup(k->version);
        if (!name || !version)
            rc = GLAREX_ENOMEM_SET(err);
        else
            rc = fetch(out, manifest, digest, s, name, version, err);
        free(name);
        free(version);
    }
    if (rc == GLAREX_ENOTFOUND)
        forget(s, id);
    return rc;
}

static int oci_get(json_t **out, void *impl, const char *type_name, const char *id,
                   glarex_error *err)
{
    oci_store *s = impl;
    oci_draft *d;
    int rc;

    if ((rc = check_type(type_name, err)) < 0)
        return rc;
    if ((d = find_draft(s, id)))
        return (*out = json_deep_copy(d->af)) ? 0 : GLAREX_ENOMEM_SET(err);
    return get_active(out, NULL, s, id, err);
}

/* }==================================================================== */

/* {====================================================================
 * Listing
 * ==================================================================== */

typedef struct list_query {
    json_t *names;    /* name eq/in, or NULL: every name in the namespace */
    const glarex_filter *version[8];
    size_t nversion;
    const glarex_filter *other[8]; /* id, status, times: checked on each artifact */
    size_t nother;
    struct {
        const char *key;
        int desc;
    } sort[4];
    size_t nsort;
} list_query;

static int unsupported(glarex_error *err, const char *what)
{
    return fail(err, GLAREX_EINVALID, 400,
                "the registry store cannot filter by %s: it filters by name (eq, in), version "
                "(eq, neq, gt, gte, lt, lte), id (eq), status (eq) and created_at, "
                "updated_at, activated_at (lt, gt)",
                what);
}

static int is_time_field(const char *f)
{
    return strcmp(f, "created_at") == 0 || strcmp(f, "updated_at") == 0 ||
           strcmp(f, "activated_at") == 0;
}

static int parse_sort(list_query *q, const char *sort, glarex_error *err)
{
    static const char *const keys[] = {"name", "version", "created_at", "updated_at",
                                       "activated_at", "id"};
    char *copy = strdup(sort ? sort : "created_at:desc"), *save = NULL;
    int rc = 0;

    if (!copy)
        return GLAREX_ENOMEM_SET(err);
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *dir = strchr(item, ':');
        const char *key = NULL;
        if (dir)
            *dir++ = '\0';
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(item, keys[i]) == 0)
                key = keys[i];
        if (!key || q->nsort == 4 || (dir && strcmp(dir, "asc") && strcmp(dir, "desc")))
            rc = fail(err, GLAREX_EINVALID, 400,
                      "the registry store cannot sort by '%s%s%s': it sorts by name, "
                      "version, created_at, updated_at, activated_at and id, asc or desc",
                      item, dir ? ":" : "", dir ? dir : "");
        else {
            q->sort[q->nsort].key = key;
            q->sort[q->nsort++].desc = !dir || strcmp(dir, "desc") == 0;
        }
    }
    free(copy);
    return rc;
}

static int parse_query(list_query *q, const glarex_list_options *o, glarex_error *err)
{
    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < o->nfilters; i++) {
        const glarex_filter *f = &o->filters[i];
        const char *op = f->op ? f->op : "eq";
        if (!f->field || !f->value)
            return fail(err, GLAREX_EINVALID, 400, "a filter without a field or value");
        if (strcmp(f->field, "name") == 0 && (!strcmp(op, "eq") || !strcmp(op, "in"))) {
            char *copy = strdup(f->value), *save = NULL;
            json_t *these = json_array();
            if (!copy || !these) {
                free(copy);
                json_decref(these);
                return GLAREX_ENOMEM_SET(err);
            }
            if (strcmp(op, "eq") == 0)
                json_array_append_new(these, json_string(f->value));
            else
                for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                    json_array_append_new(these, json_string(t));
            free(copy);
            if (q->names) { /* several name filters: the names all of them allow */
                for (size_t k = 0; k < json_array_size(q->names);) {
                    int keep = 0;
                    for (size_t m = 0; m < json_array_size(these); m++)
                        keep |= json_equal(json_array_get(q->names, k),
                                           json_array_get(these, m));
                    if (keep)
                        k++;
                    else
                        json_array_remove(q->names, k);
                }
                json_decref(these);
            } else {
                q->names = these;
            }
        } else if (strcmp(f->field, "version") == 0 &&
                   strstr(" eq neq gt gte lt lte ", op) && strlen(op) <= 3 &&
                   q->nversion < 8) {
            q->version[q->nversion++] = f;
        } else if (((strcmp(f->field, "id") == 0 || strcmp(f->field, "status") == 0) &&
                    strcmp(op, "eq") == 0) ||
                   (is_time_field(f->field) && (!strcmp(op, "lt") || !strcmp(op, "gt")))) {
            if (q->nother == 8)
                return unsupported(err, "more than 8 such filters");
            if (is_time_field(f->field) && parse_time(f->value) < 0)
                return fail(err, GLAREX_EINVALID, 400,
                            "filter %s: '%s' is not a time YYYY-MM-DDTHH:MM:SS[Z]", f->field,
                            f->value);
            q->other[q->nother++] = f;
        } else {
            char what[128];
            snprintf(what, sizeof(what), "%s with %s", f->field, op);
            return unsupported(err, what);
        }
    }
    return parse_sort(q, o->sort, err);
}

static int version_passes(const list_query *q, const char *version, glarex_error *err)
{
    for (size_t i = 0; i < q->nversion; i++) {
        const glarex_filter *f = q->version[i];
        const char *op = f->op ? f->op : "eq";
        char want[300];
        int c;
        if (glarex__version_normalize(want, sizeof(want), f->value, strlen(f->value),
                                      GLAREX__VERSION_COERCE, NULL) != GLAREX__VERSION_OK)
            return fail(err, GLAREX_EINVALID, 400,
                        "Type: workflows. Field: version. Exception: '%s' is not a version",
                        f->value);
        c = glarex__version_compare(version, want);
        if (!((!strcmp(op, "eq") && c == 0) || (!strcmp(op, "neq") && c != 0) ||
              (!strcmp(op, "gt") && c > 0) || (!strcmp(op, "gte") && c >= 0) ||
              (!strcmp(op, "lt") && c < 0) || (!strcmp(op, "lte") && c <= 0)))
            return 0;
    }
    return 1;
}

static int artifact_passes(const list_query *q, const json_t *af)
{
    for (size_t i = 0; i < q->nother; i++) {
        const glarex_filter *f = q->other[i];
        const char *have = json_string_value(json_object_get(af, f->field));
        if (is_time_field(f->field)) {
            long long t = parse_time(have), bound = parse_time(f->value);
            if (t < 0 || (strcmp(f->op, "lt") == 0 ? t >= bound : t <= bound))
                return 0;
        } else if (!have || strcmp(have, f->value) != 0) {
            return 0;
        }
    }
    return 1;
}

static int compare_versions_desc(const void *a, const void *b)
{
    return glarex__version_compare(json_string_value(*(json_t *const *)b),
                                   json_string_value(*(json_t *const *)a));
}

static int compare_artifacts(const list_query *q, const json_t *a, const json_t *b)
{
    for (size_t i = 0; i < q->nsort; i++) {
        const char *key = q->sort[i].key;
        const char *x = json_string_value(json_object_get(a, key));
        const char *y = json_string_value(json_object_get(b, key));
        int c = strcmp(key, "version") == 0 ? glarex__version_compare(x ? x : "0.0.0",
                                                                       y ? y : "0.0.0")
                                            : strcmp(x ? x : "", y ? y : "");
        if (c)
            return q->sort[i].desc ? -c : c;
    }
    return 0;
}

/* Sorts `arts` in place (a stable insertion sort: lists are small). */
static void sort_artifacts(json_t *arts, const list_query *q)
{
    size_t n = json_array_size(arts);
    for (size_t i = 1; i < n; i++) {
        json_t *item = json_incref(json_array_get(arts, i));
        size_t j = i;
        while (j > 0 && compare_artifacts(q, json_array_get(arts, j - 1), item) > 0) {
            json_array_set(arts, j, json_array_get(arts, j - 1));
            j--;
        }
        json_array_set_new(arts, j, item);
    }
}

/* The artifacts of `name` that pass the query, highest version first (only the
 * highest with `latest`), appended to `arts`. */
static int list_name(json_t *arts, oci_store *s, const list_query *q, const char *name,
                     int latest, glarex_error *err)
{
    json_t *versions = NULL, *v;
    size_t i;
    int rc;

    if (!glarex__oci_valid_component(name, strlen(name)))
        return 0; /* no repository can hold it */
    if ((rc = list_versions(&versions, s, name, err)) < 0)
        return rc;
    {
        size_t n = json_array_size(versions);
        json_t **items = malloc((n ? n : 1) * sizeof(*items));
        if (!items) {
            json_decref(versions);
            return GLAREX_ENOMEM_SET(err);
        }
        for (i = 0; i < n; i++)
            items[i] = json_incref(json_array_get(versions, i));
        qsort(items, n, sizeof(*items), compare_versions_desc);
        json_array_clear(versions);
        for (i = 0; i < n; i++)
            json_array_append_new(versions, items[i]);
        free(items);
    }
    json_array_foreach(versions, i, v) {
        json_t *af = NULL;
        char digest[72] = "";
        if ((rc = version_passes(q, json_string_value(v), err)) < 0)
            break;
        if (rc == 0)
            continue;
        rc = fetch(&af, NULL, digest, s, name, json_string_value(v), err);
        if (rc == GLAREX_ENOTFOUND) { /* deleted meanwhile, or another tool's image */
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        if (artifact_passes(q, af)) {
            json_array_append_new(arts, af);
            if (latest)
                break;
        } else {
            json_decref(af);
        }
    }
    json_decref(versions);
    return rc < 0 ? rc : 0;
}

static int oci_list(json_t **out, void *impl, const char *type_name,
                    const glarex_list_options *opts, glarex_error *err)
{
    oci_store *s = impl;
    list_query q = {0};
    json_t *arts = NULL, *names = NULL, *n;
    size_t i;
    int rc;

    if ((rc = check_type(type_name, err)) < 0 || (rc = parse_query(&q, opts, err)) < 0)
        goto done;
    if (q.names)
        names = json_incref(q.names);
    else if ((rc = list_names(&names, s, err)) < 0)
        goto done;
    if (!(arts = json_array())) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    json_array_foreach(names, i, n)
        if ((rc = list_name(arts, s, &q, json_string_value(n), opts->latest, err)) < 0)
            goto done;
    sort_artifacts(arts, &q);
    while (opts->max_items && json_array_size(arts) > opts->max_items)
        json_array_remove(arts, json_array_size(arts) - 1);
    *out = arts;
    arts = NULL;
done:
    json_decref(q.names);
    json_decref(names);
    json_decref(arts);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Drafts and uploads
 * ==================================================================== */

/* The fields a registry artifact keeps, of the types Glare gives them. */
static int check_fields(const json_t *fields, glarex_error *err)
{
    const json_t *v = json_object_get(fields, "version");
    const json_t *tags = json_object_get(fields, "tags");
    const json_t *meta = json_object_get(fields, "metadata");
    const json_t *d = json_object_get(fields, "description");
    const char *key;
    json_t *item;
    size_t i;

    if ((v && !json_is_string(v)) || (d && !json_is_string(d)) ||
        (tags && !json_is_array(tags)) || (meta && !json_is_object(meta)))
        return fail(err, GLAREX_EINVALID, 400,
                    "version and description must be text, tags a list of text, metadata "
                    "an object of text");
    json_array_foreach(tags, i, item)
        if (!json_is_string(item))
            return fail(err, GLAREX_EINVALID, 400, "tags must be a list of text");
    json_object_foreach((json_t *)meta, key, item)
        if (!json_is_string(item))
            return fail(err, GLAREX_EINVALID, 400, "metadata '%s' must be text", key);
    return 0;
}

static int oci_create(json_t **out, void *impl, const char *type_name, const json_t *fields,
                      glarex_error *err)
{
    oci_store *s = impl;
    const char *name = json_string_value(json_object_get(fields, "name"));
    const json_t *jv = json_object_get(fields, "version");
    const char *key, *vtext;
    json_t *value, *af = NULL, *m = NULL;
    char version[300], id[37], stamp[21], digest[72] = "", tag[300];
    oci_draft *d;
    glarex__version_status vs;
    int rc;

    if ((rc = check_type(type_name, err)) < 0)
        return rc;
    json_object_foreach((json_t *)fields, key, value) {
        if (strcmp(key, "name") && strcmp(key, "version") && strcmp(key, "description") &&
            strcmp(key, "tags") && strcmp(key, "metadata"))
            return fail(err, GLAREX_EINVALID, 400,
                        "the registry store keeps name, version, description, tags and "
                        "metadata; it cannot set '%s'",
                        key);
    }
    if ((rc = check_fields(fields, err)) < 0)
        return rc;
    if (!name || !glarex__oci_valid_component(name, strlen(name)) || strlen(name) > 128)
        return fail(err, GLAREX_EINVALID, 400,
                    "artifact name '%s' cannot name a registry repository: use up to 128 "
                    "lower-case letters and digits, joined by '.', '_', '__' or '-'",
                    name ? name : "");
    vtext = jv ? json_string_value(jv) : "0"; /* Glare's default: 0.0.0 */
    vs = glarex__version_normalize(version, sizeof(version), vtext, strlen(vtext),
                                   GLAREX__VERSION_COERCE, NULL);
    if (vs != GLAREX__VERSION_OK || strlen(version) > 128)
        return fail(err, GLAREX_EINVALID, 400,
                    "Type: workflows. Field: version. Exception: '%s' %s", vtext,
                    vs != GLAREX__VERSION_OK ? glarex__version_status_text(vs)
                                             : "is longer than a tag may be (128)");
    if ((rc = artifact_id(id, name, version, err)) < 0)
        return rc;
    tag_of(tag, version);
    /* taken: a draft of this handle, or a tag in the registry */
    if (find_draft(s, id) ||
        (rc = get_manifest(&m, digest, s, name, tag, 0, err)) == 0) {
        json_decref(m);
        return fail(err, GLAREX_ECONFLICT, 409,
                    "Artifact with this name and version is already exists for this scope.");
    }
    if (rc != GLAREX_ENOTFOUND)
        return rc;
    now_stamp(stamp);
    af = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:O*, s:O*, s:O*, s:s, s:s, s:s, "
                   "s:n, s:o}",
                   "id", id, "name", name, "owner", s->reg.ns, "status", "drafted",
                   "created_at", stamp, "updated_at", stamp, "activated_at", "description",
                   json_object_get(fields, "description"), "tags",
                   json_object_get(fields, "tags"), "metadata",
                   json_object_get(fields, "metadata"), "visibility", "private", "version",
                   version, "display_type_name", "Workflow", "workflow", "resources",
                   json_object());
    if (af && !json_object_get(af, "description"))
        json_object_set_new(af, "description", json_string(""));
    if (af && !json_object_get(af, "tags"))
        json_object_set_new(af, "tags", json_array());
    if (af && !json_object_get(af, "metadata"))
        json_object_set_new(af, "metadata", json_object());
    d = calloc(1, sizeof(*d));
    if (!af || !d || !(*out = json_deep_copy(af))) {
        json_decref(af);
        free(d);
        return GLAREX_ENOMEM_SET(err);
    }
    d->af = af;
    d->next = s->drafts;
    s->drafts = d;
    return 0;
}

/* The draft blob `loc` names: checks the field and key (`*what` for messages). */
static int draft_blob(oci_draft **out, oci_store *s, const glarex_blob_loc *loc,
                      char *what, size_t size, glarex_error *err)
{
    int rc;

    if (loc->key)
        snprintf(what, size, "upload %s/%s/%s/%s", loc->type_name, loc->id, loc->field,
                 loc->key);
    else
        snprintf(what, size, "upload %s/%s/%s", loc->type_name, loc->id, loc->field);
    if ((rc = check_type(loc->type_name, err)) < 0)
        return rc;
    if (strcmp(loc->field, "workflow") != 0 && strcmp(loc->field, "resources") != 0)
        return fail(err, GLAREX_EINVALID, 400, "%s: %s is not a blob", what, loc->field);
    if ((strcmp(loc->field, "resources") == 0) != (loc->key != NULL))
        return fail(err, GLAREX_EINVALID, 400, "%s: %s", what,
                    loc->key ? "workflow is a blob, not a dict" : "resources needs a key");
    if (loc->key && strlen(loc->key) > MAX_KEY_LENGTH)
        return fail(err, GLAREX_EINVALID, 400, "%s: a key is at most %d bytes", what,
                    MAX_KEY_LENGTH);
    if (!(*out = find_draft(s, loc->id))) {
        const oci_known *k;
        if (locate(&k, s, loc->id, err) == 0)
            return fail(err, GLAREX_EFORBIDDEN, 403,
                        "%s: Forbidden to change field '%s' after activation.", what,
                        loc->field);
        return fail(err, GLAREX_ENOTFOUND, 404, "%s: Artifact with id=%s not found", what,
                    loc->id);
    }
    if (loc->key && !json_object_get(json_object_get((*out)->af, "resources"), loc->key) &&
        json_object_size(json_object_get((*out)->af, "resources")) >= MAX_KEYS)
        return fail(err, GLAREX_EINVALID, 400, "%s: at most %d resources", what, MAX_KEYS);
    return 0;
}

/* sha256 and md5 of the source, and its size; a file is read once here and streamed
 * again by the upload (a change in between is refused by the registry's digest check). */
static int digest_source(char sha[65], char md5[33], uint64_t *size,
                         const glarex__upload_src *src, uint64_t cap, const char *what,
                         glarex_error *err)
{
    glarex__digest *d = glarex__digest_new();
    char *buf = NULL;
    FILE *f = NULL;
    int rc = 0;

    if (!d)
        return GLAREX_ENOMEM_SET(err);
    if (!src->path) {
        *size = src->size;
        if (*size <= cap)
            glarex__digest_update(d, src->data, src->size);
    } else if (!(f = fopen(src->path, "rbe"))) {
        rc = glarex__error_set(err, GLAREX_EIO, "%s: cannot open %s: %s", what, src->path,
                               strerror(errno));
    } else if (!(buf = malloc(CHUNK_SIZE))) {
        rc = GLAREX_ENOMEM_SET(err);
    } else {
        size_t n;
        *size = 0;
        while (*size <= cap && (n = fread(buf, 1, CHUNK_SIZE, f)) > 0) {
            *size += n;
            glarex__digest_update(d, buf, n);
        }
        if (ferror(f))
            rc = glarex__error_set(err, GLAREX_EIO, "%s: cannot read %s", what, src->path);
    }
    if (rc == 0 && *size > cap)
        rc = fail(err, GLAREX_ETOOBIG, 413,
                  "%s: Can't upload more than %llu bytes of data to one blob", what,
                  (unsigned long long)cap);
    glarex__digest_final(d, sha, md5);
    glarex__digest_free(d);
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

/* The digest the registry says it stored (when it says) must be the one sent. */
static int check_stored_digest(const glarex__http_response *resp, const char *sha,
                               const char *what, glarex_error *err)
{
    if (resp->docker_digest[0] && (strncmp(resp->docker_digest, "sha256:", 7) != 0 ||
                                   strcasecmp(resp->docker_digest + 7, sha) != 0))
        return glarex__error_set(err, GLAREX_ECHECKSUM,
                                 "%s: the registry stored %s, not sha256:%s", what,
                                 resp->docker_digest, sha);
    return 0;
}

/* Pushes one blob to the repository of `name` unless it is there: POST an upload
 * session, then PUT the whole content with its digest, which the registry checks. */
static int push_blob(oci_store *s, const char *name, const char *sha, uint64_t size,
                     const glarex__upload_src *src, const char *what, glarex_error *err)
{
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    oci_call call = {0};
    char *path = NULL, *url = NULL;
    FILE *f = NULL;
    int rc;

    call.what = what;
    if (asprintf(&path, "%s/%s/blobs/sha256:%s", s->reg.ns, name, sha) < 0)
        return GLAREX_ENOMEM_SET(err);
    call.method = "HEAD";
    call.path = path;
    if ((rc = glarex__oci_call(&resp, &s->reg, &call, err)) < 0 || resp.status == 200)
        goto done; /* already there: content addressing makes a second copy useless */
    free(path);
    if (asprintf(&path, "%s/%s/blobs/uploads/", s->reg.ns, name) < 0) {
        path = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    call.method = "POST";
    call.path = path;
    call.has_body = 1;
    call.body = "";
    if ((rc = glarex__oci_call(&resp, &s->reg, &call, err)) < 0)
        goto done;
    if (resp.status != 202 || !resp.location) {
        rc = resp.status == 202 ? glarex__error_set(err, GLAREX_EPROTOCOL,
                                                    "%s: the registry opened an upload "
                                                    "without a Location",
                                                    what)
                                : glarex__http_status_error(err, what, &resp);
        goto done;
    }
    if (asprintf(&url, "%s%cdigest=sha256:%s", resp.location,
                 strchr(resp.location, '?') ? '&' : '?', sha) < 0) {
        url = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    memset(&call, 0, sizeof(call));
    call.method = "PUT";
    call.what = what;
    call.content_type = "application/octet-stream";
    if (src->path) {
        if (!(f = fopen(src->path, "rbe"))) {
            rc = glarex__error_set(err, GLAREX_EIO, "%s: cannot open %s: %s", what,
                                   src->path, strerror(errno));
            goto done;
        }
        call.body_file = f;
        call.body_file_size = size;
    } else {
        call.has_body = 1;
        call.body = src->data;
        call.body_size = src->size;
    }
    if ((rc = glarex__oci_call_url(&resp, &s->reg, url, &call, err)) < 0)
        goto done;
    if (resp.status != 201)
        rc = glarex__http_status_error(err, what, &resp);
    else
        rc = check_stored_digest(&resp, sha, what, err);
done:
    if (f)
        fclose(f);
    free(path);
    free(url);
    glarex__http_response_dispose(&resp);
    return rc;
}

static int oci_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                      const glarex__upload_src *src, glarex_error *err)
{
    oci_store *s = impl;
    oci_draft *d = NULL;
    char what[600], sha[65], md5[33];
    const char *name;
    uint64_t size = 0;
    json_t *blob;
    int rc;

    if ((rc = draft_blob(&d, s, loc, what, sizeof(what), err)) < 0 ||
        (rc = digest_source(sha, md5, &size, src, s->max_blob_size, what, err)) < 0)
        return rc;
    name = json_string_value(json_object_get(d->af, "name"));
    if ((rc = push_blob(s, name, sha, size, src, what, err)) < 0)
        return rc;
    blob = json_pack("{s:s, s:s, s:b, s:s, s:n, s:s, s:I, s:s}", "url", "", "status", "active",
                     "external", 0, "md5", md5, "sha1", "sha256", sha, "size",
                     (json_int_t)size, "content_type",
                     src->content_type ? src->content_type : "application/octet-stream");
    if (blob) {
        char *url = NULL;
        if (asprintf(&url, "/v2/%s/%s/blobs/sha256:%s", s->reg.ns, name, sha) < 0 ||
            json_object_set_new(blob, "url", json_string(url)) < 0) {
            json_decref(blob);
            blob = NULL;
        }
        if (url)
            free(url);
    }
    if (!blob ||
        (loc->key ? json_object_set_new(json_object_get(d->af, "resources"), loc->key, blob)
                  : json_object_set_new(d->af, "workflow", blob)) < 0)
        return GLAREX_ENOMEM_SET(err);
    return (*out = json_deep_copy(d->af)) ? 0 : GLAREX_ENOMEM_SET(err);
}

/* }==================================================================== */

/* {====================================================================
 * Activation: config, then the manifest
 * ==================================================================== */

static json_t *layer_of(const json_t *blob, const char *field, const char *title)
{
    return json_pack("{s:s, s:s+, s:O, s:{s:s, s:s, s:O, s:O}}", "mediaType",
                     strcmp(field, "workflow") == 0 ? WORKFLOW_LAYER_TYPE : RESOURCE_LAYER_TYPE,
                     "digest", "sha256:", json_string_value(json_object_get(blob, "sha256")),
                     "size", json_object_get(blob, "size"), "annotations", A_TITLE, title,
                     A_FIELD, field, A_CONTENT_TYPE, json_object_get(blob, "content_type"),
                     A_MD5, json_object_get(blob, "md5"));
}

/* The manifest of draft `af` with config `config` (new). */
static json_t *manifest_of(const json_t *af, const char *config_sha, size_t config_size,
                           const char *created)
{
    json_t *layers = json_array(), *m, *blob;
    const char *key;

    if (!layers)
        return NULL;
    json_array_append_new(layers, layer_of(json_object_get(af, "workflow"), "workflow",
                                           WORKFLOW_TITLE));
    json_object_foreach(json_object_get(af, "resources"), key, blob)
        json_array_append_new(layers, layer_of(blob, "resources", key));
    for (size_t i = 0; i < json_array_size(layers); i++)
        if (!json_is_object(json_array_get(layers, i))) {
            json_decref(layers);
            return NULL;
        }
    m = json_pack("{s:i, s:s, s:{s:s, s:s+, s:I}, s:o, s:{s:s}}", "schemaVersion", 2,
                  "mediaType", MANIFEST_TYPE, "config", "mediaType", CONFIG_TYPE, "digest",
                  "sha256:", config_sha, "size", (json_int_t)config_size, "layers", layers,
                  "annotations", A_CREATED, created);
    return m;
}

static int oci_activate(json_t **out, void *impl, const char *type_name, const char *id,
                        glarex_error *err)
{
    oci_store *s = impl;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    glarex__upload_src src = {0};
    oci_draft *d, **link;
    json_t *config = NULL, *m = NULL, *existing = NULL;
    char *config_text = NULL, *manifest_text = NULL, *path = NULL;
    char what[300], sha[65], stamp[21], tag[300], digest[72] = "";
    const char *name, *version;
    oci_call call = {0};
    int rc;

    if ((rc = check_type(type_name, err)) < 0)
        return rc;
    if (!(d = find_draft(s, id))) /* active already: unchanged, as Glare answers */
        return get_active(out, NULL, s, id, err);
    name = json_string_value(json_object_get(d->af, "name"));
    version = json_string_value(json_object_get(d->af, "version"));
    snprintf(what, sizeof(what), "activate %s %s", name, version);
    if (!json_is_object(json_object_get(d->af, "workflow")))
        return fail(err, GLAREX_EFORBIDDEN, 403,
                    "%s: Blob workflow is required for activation.", what);
    config = json_pack("{s:s, s:s, s:O, s:O, s:O, s:s}", "name", name, "version", version,
                       "description", json_object_get(d->af, "description"), "tags",
                       json_object_get(d->af, "tags"), "metadata",
                       json_object_get(d->af, "metadata"), "workflow", WORKFLOW_TITLE);
    if (!config || !(config_text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS)) ||
        glarex__digest_buffer(config_text, strlen(config_text), sha, NULL) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    src.data = config_text;
    src.size = strlen(config_text);
    if ((rc = push_blob(s, name, sha, src.size, &src, what, err)) < 0)
        goto done;
    now_stamp(stamp);
    if (!(m = manifest_of(d->af, sha, src.size, stamp)) ||
        !(manifest_text = json_dumps(m, JSON_COMPACT))) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    /* Another host may have published this version since the draft was made. */
    tag_of(tag, version);
    if ((rc = get_manifest(&existing, digest, s, name, tag, 0, err)) == 0) {
        rc = fail(err, GLAREX_ECONFLICT, 409,
                  "%s: Artifact with this name and version is already exists for this scope.",
                  what);
        goto done;
    }
    if (rc != GLAREX_ENOTFOUND)
        goto done;
    if (!(path = repo_path(s, name, "/manifests/")) ||
        !(path = realloc(path, strlen(path) + strlen(tag) + 1))) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    strcat(path, tag);
    call.method = "PUT";
    call.path = path;
    call.what = what;
    call.content_type = MANIFEST_TYPE;
    call.has_body = 1;
    call.body = manifest_text;
    call.body_size = strlen(manifest_text);
    if ((rc = glarex__oci_call(&resp, &s->reg, &call, err)) < 0)
        goto done;
    if (resp.status != 201) {
        rc = glarex__http_status_error(err, what, &resp);
        goto done;
    }
    if (glarex__digest_buffer(manifest_text, strlen(manifest_text), sha, NULL) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((rc = check_stored_digest(&resp, sha, what, err)) < 0)
        goto done;
    /* the tag is there: the artifact is active; the draft is done */
    digest[0] = '\0';
    rc = fetch(out, NULL, digest, s, name, version, err);
    for (link = &s->drafts; *link != d; link = &(*link)->next)
        ;
    *link = d->next;
    json_decref(d->af);
    free(d);
done:
    json_decref(config);
    json_decref(m);
    json_decref(existing);
    free(config_text);
    free(manifest_text);
    free(path);
    glarex__http_response_dispose(&resp);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Delete and download
 * ==================================================================== */

static int oci_remove(void *impl, const char *type_name, const char *id, glarex_error *err)
{
    oci_store *s = impl;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    oci_call call = {0};
    oci_draft **link;
    json_t *af = NULL;
    char *path = NULL, what[300];
    const oci_known *k;
    int rc;

    if ((rc = check_type(type_name, err)) < 0)
        return rc;
    for (link = &s->drafts; *link; link = &(*link)->next)
        if (strcmp(json_string_value(json_object_get((*link)->af, "id")), id) == 0) {
            oci_draft *d = *link; /* its blobs stay, invisible, for the registry's GC */
            *link = d->next;
            json_decref(d->af);
            free(d);
            return 0;
        }
    if ((rc = get_active(&af, NULL, s, id, err)) < 0 || (rc = locate(&k, s, id, err)) < 0)
        goto done;
    snprintf(what, sizeof(what), "delete %s %s", k->name, k->version);
    /* by digest: the registry deletes the manifest and with it every tag naming it */
    if (asprintf(&path, "%s/%s/manifests/%s", s->reg.ns, k->name, k->digest) < 0) {
        path = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    call.method = "DELETE";
    call.path = path;
    call.what = what;
    if ((rc = glarex__oci_call(&resp, &s->reg, &call, err)) < 0)
        goto done;
    if (resp.status == 405)
        rc = fail(err, GLAREX_EUNSUPPORTED, 405,
                  "%s: registry %s does not allow deletes; enable them in its configuration "
                  "(distribution: storage: delete: enabled: true)",
                  what, s->reg.origin.name);
    else if (resp.status != 202 && resp.status != 200)
        rc = glarex__http_status_error(err, what, &resp);
    else
        forget(s, id);
done:
    json_decref(af);
    free(path);
    glarex__http_response_dispose(&resp);
    return rc;
}

typedef struct download_sink {
    glarex_write_cb write;
    void *payload;
    glarex__digest *digest;
    uint64_t received, size;
    const char *what;
    glarex_error *err;
    int failed;
} download_sink;

static int download_chunk(const char *data, size_t len, void *payload)
{
    download_sink *d = payload;
    if (d->received + len > d->size) { /* never pass on more than the layer holds */
        d->failed = 1;
        return glarex__error_set(d->err, GLAREX_ECHECKSUM,
                                 "%s: size mismatch: expected %llu bytes (layer size), got "
                                 "more",
                                 d->what, (unsigned long long)d->size);
    }
    d->received += len;
    glarex__digest_update(d->digest, data, len);
    if (d->write(data, len, d->payload) != 0) {
        d->failed = 1;
        return glarex__error_set(d->err, GLAREX_ERROR, "download aborted by the write callback");
    }
    return 0;
}

static int check_digest(const char *what, const char *algo, const char *source,
                        const char *want, const char *got, glarex_error *err)
{
    if (want && *want && strcasecmp(want, got) != 0)
        return glarex__error_set(err, GLAREX_ECHECKSUM,
                                 "%s: %s mismatch: expected %s (%s), got %s", what, algo, want,
                                 source, got);
    return 0;
}

static int oci_download(glarex_download_info *out, void *impl, const glarex_blob_loc *loc,
                        const glarex_digests *expect, glarex_write_cb write, void *payload,
                        glarex_error *err)
{
    oci_store *s = impl;
    glarex__http_response resp = GLAREX__HTTP_RESPONSE_INIT;
    download_sink sink = {write, payload, NULL, 0, 0, NULL, err, 0};
    oci_draft *d;
    const oci_known *k;
    json_t *af = NULL, *blob;
    const char *sha, *md5, *ctype;
    char what[600], *path = NULL, got_sha[65], got_md5[33];
    oci_call call = {0};
    int rc;

    if (loc->key)
        snprintf(what, sizeof(what), "download %s/%s/%s/%s", loc->type_name, loc->id,
                 loc->field, loc->key);
    else
        snprintf(what, sizeof(what), "download %s/%s/%s", loc->type_name, loc->id, loc->field);
    if (expect) {
        size_t ls = strlen(expect->sha256), lm = strlen(expect->md5);
        if ((ls && (ls != 64 || !glarex__is_hex(expect->sha256, 64))) ||
            (lm && (lm != 32 || !glarex__is_hex(expect->md5, 32))))
            return glarex__error_set(err, GLAREX_EINVALID,
                                     "expected digests: sha256 must be 64 and md5 32 hex "
                                     "digits");
    }
    if ((rc = check_type(loc->type_name, err)) < 0)
        return rc;
    /* the artifact as just listed (the resolver lists, then downloads): its layer
     * digests verify what comes, so reading the manifest again adds nothing */
    if ((d = find_draft(s, loc->id)))
        af = json_incref(d->af);
    else if ((rc = locate(&k, s, loc->id, err)) < 0)
        return rc;
    else if (k->af)
        af = json_incref(k->af);
    else if ((rc = get_active(&af, NULL, s, loc->id, err)) < 0)
        return rc;
    blob = json_object_get(af, loc->field);
    if (loc->key)
        blob = json_object_get(blob, loc->key);
    sha = json_string_value(json_object_get(blob, "sha256"));
    md5 = json_string_value(json_object_get(blob, "md5"));
    ctype = json_string_value(json_object_get(blob, "content_type"));
    if (!sha) {
        rc = fail(err, GLAREX_ENOTFOUND, 404, "%s: No data found for blob %s", what,
                  loc->key ? loc->key : loc->field);
        goto done;
    }
    sink.size = (uint64_t)json_integer_value(json_object_get(blob, "size"));
    sink.what = what;
    if (!(sink.digest = glarex__digest_new()) ||
        asprintf(&path, "%s/%s/blobs/sha256:%s", s->reg.ns,
                 json_string_value(json_object_get(af, "name")), sha) < 0) {
        path = NULL;
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    call.method = "GET";
    call.path = path;
    call.what = what;
    call.read_only = 1;
    call.sink = download_chunk;
    call.sink_payload = &sink;
    rc = glarex__oci_call(&resp, &s->reg, &call, err);
    if (rc < 0 || sink.failed)
        goto done;
    if (resp.status != 200) {
        rc = glarex__http_status_error(err, what, &resp);
        goto done;
    }
    glarex__digest_final(sink.digest, got_sha, got_md5);
    if (sink.received != sink.size) {
        rc = glarex__error_set(err, GLAREX_ECHECKSUM,
                               "%s: size mismatch: expected %llu bytes (layer size), got %llu",
                               what, (unsigned long long)sink.size,
                               (unsigned long long)sink.received);
        goto done;
    }
    if ((rc = check_digest(what, "sha256", "layer digest", sha, got_sha, err)) < 0 ||
        (rc = check_digest(what, "md5", "recorded", md5, got_md5, err)) < 0 ||
        (expect &&
         ((rc = check_digest(what, "sha256", "expected", expect->sha256, got_sha, err)) < 0 ||
          (rc = check_digest(what, "md5", "expected", expect->md5, got_md5, err)) < 0)))
        goto done;
    if (expect && expect->size >= 0 && (uint64_t)expect->size != sink.received) {
        rc = glarex__error_set(err, GLAREX_ECHECKSUM,
                               "%s: size mismatch: expected %lld bytes (expected), got %llu",
                               what, (long long)expect->size,
                               (unsigned long long)sink.received);
        goto done;
    }
    if (out) {
        glarex__strlcpy(out->sha256, got_sha, sizeof(out->sha256));
        glarex__strlcpy(out->md5, got_md5, sizeof(out->md5));
        out->size = sink.received;
        glarex__strlcpy(out->content_type, ctype ? ctype : "application/octet-stream",
                        sizeof(out->content_type));
    }
done:
    glarex__digest_free(sink.digest);
    json_decref(af);
    free(path);
    glarex__http_response_dispose(&resp);
    return rc;
}

/* }==================================================================== */

static void oci_free(void *impl)
{
    oci_store *s = impl;
    while (s->drafts) {
        oci_draft *d = s->drafts;
        s->drafts = d->next;
        json_decref(d->af);
        free(d);
    }
    for (size_t i = 0; i < KNOWN_SLOTS; i++)
        known_clear(&s->known[i]);
    glarex__oci_registry_dispose(&s->reg);
    free(s);
}

static void oci_set_deadline(void *impl, int64_t deadline_ms)
{
    glarex__http_set_deadline(((oci_store *)impl)->reg.http, deadline_ms);
}

static const glarex__store_backend oci_backend = {
    "oci",      oci_list,   oci_get,      oci_create, oci_activate,     oci_remove,
    oci_upload, oci_download, oci_free,   oci_set_deadline,
    NULL, /* named by its URL */
};

int glarex__store_oci_open(void **out, const glarex__store_backend **backend,
                           const char **identity, const glarex_client_options *copts,
                           const char *url, uint64_t max_blob_size, glarex_error *err)
{
    oci_store *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return GLAREX_ENOMEM_SET(err);
    if ((rc = glarex__oci_registry_open(&s->reg, url, copts, err)) < 0) {
        free(s);
        return rc;
    }
    s->max_blob_size = max_blob_size ? max_blob_size : DEFAULT_MAX_BLOB_SIZE;
    *out = s;
    *backend = &oci_backend;
    *identity = s->reg.identity;
    return 0;
}
