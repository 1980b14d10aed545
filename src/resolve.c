/*
 * The resolver: reference -> artifact -> blob sha256 -> cached content.
 *
 * Content is addressed by sha256 and the blobs of an active artifact never change,
 * so verified content is never downloaded twice. What can change is which artifact a
 * reference names (delete, then create the same name and version again), so every
 * answer is kept for a TTL in an on-disk index shared by the processes of a host:
 * within it a reference costs no request at all; after it one metadata request
 * revalidates it, and content is fetched only if its sha256 changed.
 *
 * Every answer belongs to the scope that asked (store and credentials): the index file
 * of an answer is named by a digest of the scope, the "as of" time and the reference,
 * so no other scope can find it. Content is reached only through such an answer.
 */
#include "resolve.h"

#include "clock.h"
#include "digest.h"
#include "ref.h"
#include "store/store.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* {======================================================================
 * Blob records
 * ====================================================================== */

static char *dup_or_null(const char *s, int *ok)
{
    return glarex__strdup_opt(s, ok);
}

static void blob_destroy(glarex_blob *b)
{
    if (!b)
        return;
    if (b->origin) { /* a replica owns none of its fields */
        glarex_blob_free(b->origin);
        free(b);
        return;
    }
    free(b->id);
    free(b->name);
    free(b->version);
    free(b->owner);
    free(b->status);
    free(b->field);
    free(b->key);
    free(b->content_type);
    glarex__content_unref(b->content);
    free(b);
}

/* A record from the fields of an artifact and one of its blobs (the JSON is borrowed). */
static glarex_blob *blob_new(const char *id, const char *name, const char *version,
                             const char *owner, const char *status, const char *field,
                             const char *key, const glarex_digests *d,
                             const char *content_type)
{
    int ok = 1;
    glarex_blob *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->id = dup_or_null(id, &ok);
    b->name = dup_or_null(name, &ok);
    b->version = dup_or_null(version, &ok);
    b->owner = dup_or_null(owner, &ok);
    b->status = dup_or_null(status, &ok);
    b->field = dup_or_null(field, &ok);
    b->key = dup_or_null(key, &ok);
    b->content_type = dup_or_null(content_type ? content_type : "application/octet-stream", &ok);
    memcpy(b->sha256, d->sha256, sizeof(b->sha256));
    memcpy(b->md5, d->md5, sizeof(b->md5));
    b->size = d->size < 0 ? 0 : (uint64_t)d->size;
    if (!ok) {
        blob_destroy(b);
        return NULL;
    }
    return b;
}

glarex_blob *glarex__blob_replica(glarex_blob *origin)
{
    /* whole cache lines: no other allocation shares the count's line */
    size_t size = (sizeof(glarex_blob) + GLAREX__CACHE_LINE - 1) / GLAREX__CACHE_LINE *
                  GLAREX__CACHE_LINE;
    glarex_blob *b = aligned_alloc(GLAREX__CACHE_LINE, size);
    if (!b)
        return NULL;
    memset(b, 0, sizeof(*b));
    atomic_init(&b->refs, 1);
    b->origin = glarex_blob_ref(origin);
    b->id = origin->id;
    b->name = origin->name;
    b->version = origin->version;
    b->owner = origin->owner;
    b->status = origin->status;
    b->field = origin->field;
    b->key = origin->key;
    memcpy(b->sha256, origin->sha256, sizeof(b->sha256));
    memcpy(b->md5, origin->md5, sizeof(b->md5));
    b->size = origin->size;
    b->content_type = origin->content_type;
    b->content = origin->content;
    return b;
}

glarex_blob *glarex_blob_ref(glarex_blob *blob)
{
    if (blob)
        atomic_fetch_add_explicit(&blob->refs, 1, memory_order_relaxed);
    return blob;
}

void glarex_blob_free(glarex_blob *blob)
{
    if (blob && atomic_fetch_sub_explicit(&blob->refs, 1, memory_order_acq_rel) == 1)
        blob_destroy(blob);
}

/* }====================================================================== */

/* {======================================================================
 * Choosing the artifact
 * ====================================================================== */

static const char *str_field(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

static void describe_candidates(char *out, size_t size, const json_t *arts)
{
    size_t i, used = 0;
    json_t *a;
    out[0] = '\0';
    json_array_foreach(arts, i, a) {
        int n = snprintf(out + used, size - used, "%s%s (project %s, %s)", i ? ", " : "",
                         str_field(a, "id") ? str_field(a, "id") : "?",
                         str_field(a, "owner") ? str_field(a, "owner") : "?",
                         str_field(a, "visibility") ? str_field(a, "visibility") : "?");
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* Edit distance of two strings (a long one counts as far), for "closest first". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* "; NOUN: x, y, z" with the strings of `names` closest to `want` first (ties in their
 * order), appended to the error's message (not NULL) as room allows. */
static void append_closest(glarex_error *err, const char *noun, const char *want,
                           json_t *names)
{
    size_t n = json_array_size(names), len = strlen(err->message);
    size_t *dist = calloc(n ? n : 1, sizeof(*dist));
    char *used = calloc(n ? n : 1, 1);

    if (dist && used && n) {
        for (size_t i = 0; i < n; i++)
            dist[i] = edit_distance(want, json_string_value(json_array_get(names, i)));
        len += (size_t)snprintf(err->message + len, sizeof(err->message) - len, "; %s: ",
                                noun);
        for (size_t k = 0; k < n && len < sizeof(err->message); k++) {
            size_t best = 0;
            while (used[best])
                best++;
            for (size_t i = best + 1; i < n; i++)
                if (!used[i] && dist[i] < dist[best])
                    best = i;
            used[best] = 1;
            len += (size_t)snprintf(err->message + len, sizeof(err->message) - len, "%s%s",
                                    k ? ", " : "",
                                    json_string_value(json_array_get(names, best)));
        }
    }
    free(dist);
    free(used);
}

/* Picks one artifact among `arts` (all equally good matches). */
static int pick_one(const json_t **out, const glarex__resolver *rv, const glarex__asker *who,
                    const json_t *arts, const char *label, glarex_error *err)
{
    size_t n = json_array_size(arts);
    char list[400];

    if (n == 1) {
        *out = json_array_get(arts, 0);
        return 0;
    }
    if (rv->opts->prefer_own_project && who->project) {
        const json_t *own = NULL;
        size_t nown = 0, i;
        json_t *a;
        json_array_foreach(arts, i, a) {
            const char *owner = str_field(a, "owner");
            if (owner && strcmp(owner, who->project) == 0) {
                own = a;
                nown++;
            }
        }
        if (nown == 1) {
            *out = own;
            return 0;
        }
    }
    describe_candidates(list, sizeof(list), arts);
    return glarex__error_set(err, GLAREX_EAMBIGUOUS,
                             "%s matches %zu artifacts: %s; name one with glare://id/<id>/... "
                             "or set prefer_own_project",
                             label, n, list);
}

/* The artifacts with the highest version among `arts` (sorted by version, descending)
 * as a new array. */
static json_t *top_version(const json_t *arts)
{
    json_t *top = json_array();
    const char *best = NULL;
    size_t i;
    json_t *a;
    if (!top)
        return NULL;
    json_array_foreach(arts, i, a) {
        const char *v = str_field(a, "version");
        if (!best)
            best = v;
        if (!v || !best || strcmp(v, best) != 0)
            break;
        json_array_append(top, a);
    }
    return top;
}

/* The blob value of `art` named by `ref` (borrowed), or NULL. */
static const json_t *blob_of(const json_t *art, const glarex_ref *ref)
{
    const json_t *f = json_object_get(art, glarex_ref_field(ref));
    const char *key = glarex_ref_key(ref);
    if (key)
        return json_is_object(f) ? json_object_get(f, key) : NULL;
    return f;
}

static void describe_blob(char *out, size_t size, const glarex_ref *ref)
{
    if (glarex_ref_key(ref))
        snprintf(out, size, "resource '%s'", glarex_ref_key(ref));
    else
        snprintf(out, size, "%s blob", glarex_ref_field(ref));
}

/* Asks the store which artifact `ref` names now (new JSON in *out). */
static json_t *query_json(const glarex__ref_query *q)
{
    json_t *filters = json_array();
    for (size_t i = 0; filters && i < q->nfilters; i++)
        json_array_append_new(filters, json_sprintf("%s=%s:%s", q->filters[i].field,
                                                    q->filters[i].op ? q->filters[i].op : "eq",
                                                    q->filters[i].value));
    return json_pack("{s:s?, s:o*, s:b, s:s?}", "id", q->id, "filters", filters, "latest",
                     q->latest, "sort", q->sort);
}

static json_t *candidate_json(const json_t *a)
{
    return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "id", str_field(a, "id"), "name",
                     str_field(a, "name"), "version", str_field(a, "version"), "owner",
                     str_field(a, "owner"), "status", str_field(a, "status"), "visibility",
                     str_field(a, "visibility"));
}

/* Adds key = value (taken) to the trace, when there is one. */
static void trace_set(json_t *trace, const char *key, json_t *value)
{
    if (trace)
        json_object_set_new(trace, key, value);
    else
        json_decref(value);
}

/* The activation-time bound of an as-of resolution in seconds since the epoch: an
 * artifact counts when activated before it. Glare keeps whole seconds, so the second
 * of `as_of + skew` itself is included. 0 when the reference does not depend on time. */
static int64_t as_of_bound_s(const glarex__resolver *rv, const glarex__asker *who,
                             const glarex_ref *ref)
{
    glarex_ref_kind kind = glarex_ref_kind_of(ref);
    if (who->as_of_ms <= 0 || (kind != GLAREX_REF_LATEST && kind != GLAREX_REF_RANGE))
        return 0;
    return (who->as_of_ms + rv->opts->as_of_skew_ms) / 1000 + 1;
}

static void format_utc(char out[32], int64_t seconds)
{
    struct tm tm;
    time_t t = (time_t)seconds;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* After "no such version": the versions of that name the caller may read, closest
 * first (one more request, on this error only; its own failure adds nothing). */
static void append_versions(glarex_error *err, glarex_store *store, const char *type_name,
                            const glarex_ref *ref)
{
    glarex_filter f = {"name", "eq", glarex_ref_name(ref)};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_error ignored;
    json_t *arts = NULL, *versions, *a;
    size_t i;

    if (!err) /* nobody reads the message: ask nothing more */
        return;
    versions = json_array();
    lo.filters = &f;
    lo.nfilters = 1;
    lo.sort = "version:desc";
    if (versions && glarex_store_list(&arts, store, type_name, &lo, &ignored) == 0) {
        json_array_foreach(arts, i, a) if (str_field(a, "version"))
            json_array_append_new(versions, json_string(str_field(a, "version")));
        if (json_array_size(versions))
            append_closest(err, "the versions are", glarex_ref_version(ref), versions);
        else
            snprintf(err->message + strlen(err->message),
                     sizeof(err->message) - strlen(err->message),
                     "; no version of '%s' exists (is the name right?)", glarex_ref_name(ref));
    }
    json_decref(arts);
    json_decref(versions);
}

static int find_artifact(json_t **out, const glarex__resolver *rv, const glarex__asker *who,
                         glarex_store *store, const glarex_ref *ref, const char *label,
                         json_t *trace, glarex_error *err)
{
    const char *type_name = rv->opts->type_name;
    int64_t bound_s = as_of_bound_s(rv, who, ref);
    char before[32];
    glarex__ref_query q;
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    json_t *arts = NULL, *top = NULL;
    const json_t *chosen = NULL;
    char what[300];
    int rc;

    *out = NULL;
    if ((rc = glarex__ref_filters(&q, ref)) < 0)
        return glarex__error_set(err, rc, "%s: cannot build the store query", label);
    if (bound_s) {
        /* as of a time: the highest version among those activated before it */
        format_utc(before, bound_s);
        q.filters[q.nfilters++] = (glarex_filter){"activated_at", "lt", before};
        q.latest = 0;
        q.sort = "version:desc";
    }
    if (trace)
        trace_set(trace, "query", query_json(&q));
    if (q.id) {
        rc = glarex_store_get(out, store, type_name, q.id, err);
        if (rc == GLAREX_ENOTFOUND)
            glarex__error_set(err, rc, "%s: no %s artifact with id %s", label, type_name,
                              q.id);
        return rc;
    }

    lo.filters = q.filters;
    lo.nfilters = q.nfilters;
    lo.latest = q.latest;
    lo.sort = q.sort;
    if ((rc = glarex_store_list(&arts, store, type_name, &lo, err)) < 0)
        return rc;
    if (!json_is_array(arts)) {
        json_decref(arts);
        return glarex__error_set(err, GLAREX_EPROTOCOL, "%s: the store's list is not an array",
                                 label);
    }
    if (trace) {
        size_t i;
        json_t *a, *cands = json_array();
        json_array_foreach(arts, i, a)
            json_array_append_new(cands, candidate_json(a));
        trace_set(trace, "candidates", cands);
    }

    switch (glarex_ref_kind_of(ref)) {
    case GLAREX_REF_SHA256: {
        /* highest version first: the first whose blob has the pinned digest */
        size_t i;
        json_t *a, *matching = json_array();
        if (!matching) {
            rc = GLAREX_ENOMEM_SET(err);
            break;
        }
        json_array_foreach(arts, i, a) {
            const char *sha = str_field(blob_of(a, ref), "sha256");
            if (sha && strcasecmp(sha, glarex_ref_sha256(ref)) == 0)
                json_array_append(matching, a);
        }
        top = top_version(matching);
        json_decref(matching);
        if (!top) {
            rc = GLAREX_ENOMEM_SET(err);
            break;
        }
        describe_blob(what, sizeof(what), ref);
        if (json_array_size(top) == 0)
            rc = glarex__error_set(err, GLAREX_ENOTFOUND,
                                   "%s: no active version of '%s' has a %s with sha256 %s",
                                   label, glarex_ref_name(ref), what, glarex_ref_sha256(ref));
        else
            rc = pick_one(&chosen, rv, who, top, label, err);
        break;
    }
    case GLAREX_REF_RANGE:
    case GLAREX_REF_LATEST:
        top = top_version(arts);
        if (!top) {
            rc = GLAREX_ENOMEM_SET(err);
            break;
        }
        if (json_array_size(top) == 0)
            rc = glarex__error_set(err, GLAREX_ENOTFOUND, "%s: no active version of '%s'%s%s%s",
                                   label, glarex_ref_name(ref),
                                   glarex_ref_kind_of(ref) == GLAREX_REF_RANGE
                                       ? " in the range"
                                       : "",
                                   bound_s ? " activated before " : "", bound_s ? before : "");
        else
            rc = pick_one(&chosen, rv, who, top, label, err);
        break;
    default:
        if (json_array_size(arts) == 0) {
            rc = glarex__error_set(err, GLAREX_ENOTFOUND,
                                   "%s: no artifact '%s' version %s in %s", label,
                                   glarex_ref_name(ref), glarex_ref_version(ref), type_name);
            append_versions(err, store, type_name, ref);
        } else
            rc = pick_one(&chosen, rv, who, arts, label, err);
        break;
    }
    if (rc == 0)
        *out = json_incref((json_t *)chosen);
    json_decref(top);
    json_decref(arts);
    return rc;
}

/* }====================================================================== */

/* {======================================================================
 * The on-disk index: one small JSON file per canonical reference
 * ====================================================================== */

/* The folder holding every answer about one artifact name (or id) of this store:
 * index/<sha256 of store, "name" or "id", and the value>. */
static char *group_dir(const glarex__resolver *rv, const char *what, const char *value)
{
    char sha[65], *text = NULL, *dir = NULL;
    if (asprintf(&text, "%s\n%s\n%s", rv->store_identity, what, value) < 0)
        return NULL;
    if (glarex__digest_buffer(text, strlen(text), sha, NULL) == 0 &&
        asprintf(&dir, "%s/%s", rv->index_dir, sha) < 0)
        dir = NULL;
    free(text);
    return dir;
}

/* The index file of (scope, as-of bound, canonical reference) (new). */
static int index_path(char **out, const glarex__resolver *rv, const glarex__asker *who,
                      const glarex_ref *ref, int64_t bound_s, const char *canon)
{
    char sha[65], *text = NULL, *dir;
    int id = glarex_ref_kind_of(ref) == GLAREX_REF_ID;

    *out = NULL;
    dir = group_dir(rv, id ? "id" : "name", id ? glarex_ref_id(ref) : glarex_ref_name(ref));
    if (dir && asprintf(&text, "%s\n%lld\n%s", who->scope, (long long)bound_s, canon) >= 0 &&
        glarex__digest_buffer(text, strlen(text), sha, NULL) == 0 &&
        asprintf(out, "%s/%s.json", dir, sha) < 0)
        *out = NULL;
    free(text);
    free(dir);
    return *out ? 0 : -1;
}

/* Records an answer in the index (best effort: a reader then asks the store). */
static void index_write(const char *path, const json_t *rec)
{
    char *dir = strdup(path), *slash;
    if (!dir)
        return;
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        mkdir(dir, 0700);
    }
    free(dir);
    glarex__json_write_atomic(path, rec);
}

static void remove_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *path = NULL;
        if (e->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            continue;
        unlink(path);
        free(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

void glarex__resolve_forget(glarex__resolver *rv, const char *name, const char *id)
{
    char *dir = name ? group_dir(rv, "name", name) : id ? group_dir(rv, "id", id) : NULL;
    if (dir)
        remove_dir_files(dir);
    free(dir);
}

void glarex__resolve_forget_all(glarex__resolver *rv)
{
    DIR *d = opendir(rv->index_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *path = NULL;
        if (e->d_name[0] == '.' || asprintf(&path, "%s/%s", rv->index_dir, e->d_name) < 0)
            continue;
        remove_dir_files(path); /* a group folder */
        unlink(path);           /* an index file of an older layout */
        free(path);
    }
    if (d)
        closedir(d);
}

void glarex__json_write_atomic(const char *path, const json_t *doc)
{
    char *tmp = NULL;
    int fd;
    char *text = json_dumps(doc, JSON_COMPACT);

    if (!text || asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        free(text);
        return;
    }
    fd = mkstemp(tmp);
    if (fd >= 0) {
        size_t len = strlen(text);
        int ok = write(fd, text, len) == (ssize_t)len;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) < 0)
            unlink(tmp);
    }
    free(tmp);
    free(text);
}

static json_t *index_read(const char *path)
{
    json_t *rec;
    int fd;
    if (glarex__cache_private_open(&fd, path, O_RDONLY, NULL) < 0)
        return NULL; /* missing, or not ours: ask the store */
    rec = json_loadfd(fd, JSON_REJECT_DUPLICATES, NULL);
    close(fd);
    return rec;
}


static json_t *record_found(const glarex_blob *b, int64_t expires_ms)
{
    return json_pack("{s:b, s:I, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s?, s:s, s:s, s:I, s:s}",
                     "found", 1, "expires_ms", (json_int_t)expires_ms, "id", b->id, "name",
                     b->name ? b->name : "", "version", b->version ? b->version : "",
                     "owner", b->owner, "status", b->status, "field", b->field, "key",
                     b->key, "sha256", b->sha256, "md5", b->md5, "size",
                     (json_int_t)b->size, "content_type", b->content_type);
}

static json_t *record_missing(int code, const char *message, int64_t expires_ms)
{
    return json_pack("{s:b, s:I, s:i, s:s}", "found", 0, "expires_ms", (json_int_t)expires_ms,
                     "code", code, "message", message);
}

/* A blob record from an index record (without content yet), or NULL if malformed. */
static glarex_blob *blob_from_record(const json_t *rec)
{
    glarex_digests d;
    const char *sha = str_field(rec, "sha256"), *md5 = str_field(rec, "md5");
    json_t *size = json_object_get(rec, "size");

    if (!glarex__is_hex(sha, 64) || !json_is_integer(size) || !str_field(rec, "id") ||
        !str_field(rec, "field"))
        return NULL;
    memset(&d, 0, sizeof(d));
    memcpy(d.sha256, sha, 65);
    if (glarex__is_hex(md5, 32))
        memcpy(d.md5, md5, 33);
    d.size = json_integer_value(size);
    return blob_new(str_field(rec, "id"), str_field(rec, "name"), str_field(rec, "version"),
                    str_field(rec, "owner"), str_field(rec, "status"), str_field(rec, "field"),
                    str_field(rec, "key"), &d, str_field(rec, "content_type"));
}

/* }====================================================================== */

/* {======================================================================
 * Content
 * ====================================================================== */

typedef struct fill_state {
    glarex__resolver *rv;
    const glarex__asker *who;
    glarex_store *store; /* borrowed when set; otherwise taken from the pool on demand */
    int64_t deadline_ms;
    glarex_blob_loc loc;
    glarex_digests expect;
} fill_state;

/* The cache's writer, telling the asker's progress callback how far the download is. */
typedef struct progress_write {
    glarex_write_cb write;
    void *payload;
    const fill_state *f;
    uint64_t done;
} progress_write;

static int write_with_progress(const char *data, size_t len, void *payload)
{
    progress_write *p = payload;
    int rc = p->write(data, len, p->payload);
    p->done += len;
    if (rc == 0 && p->f->who->progress(p->done,
                                       p->f->expect.size > 0 ? (uint64_t)p->f->expect.size : 0,
                                       p->f->who->progress_payload))
        rc = 1; /* the caller gave up: abort */
    return rc;
}

static int fill_from_store(glarex_write_cb write, void *write_payload, void *fill_payload,
                           glarex_error *err)
{
    fill_state *f = fill_payload;
    glarex_store *store = f->store;
    progress_write pw = {write, write_payload, f, 0};
    int rc;

    if (f->who->progress) {
        write = write_with_progress;
        write_payload = &pw;
    }

    if (!store) {
        if ((rc = glarex__pool_take(&store, f->rv->pool, f->who->token, err)) < 0)
            return rc;
        glarex__store_set_deadline(store, f->deadline_ms);
    }
    rc = glarex_store_download(NULL, store, &f->loc, &f->expect, write, write_payload, err);
    if (!f->store) {
        glarex__store_set_deadline(store, 0);
        glarex__pool_give(f->rv->pool, store, f->who->token);
    }
    return rc;
}

/* Attaches the cached content of `b` (downloading it, as `who`, if no process has it
 * yet). Only called with a blob record made in `who`'s scope. */
static int attach_content(glarex_blob *b, glarex__resolver *rv, const glarex__asker *who,
                          glarex_store *store, int64_t deadline_ms, glarex_error *err)
{
    fill_state f;

    memset(&f, 0, sizeof(f));
    f.rv = rv;
    f.who = who;
    f.store = store;
    f.deadline_ms = deadline_ms;
    f.loc.type_name = rv->opts->type_name;
    f.loc.id = b->id;
    f.loc.field = b->field;
    f.loc.key = b->key;
    memcpy(f.expect.sha256, b->sha256, sizeof(f.expect.sha256));
    memcpy(f.expect.md5, b->md5, sizeof(f.expect.md5));
    f.expect.size = (int64_t)b->size;
    /* the store verifies the download against f.expect, so the cache need not */
    return glarex__cache_get_verified(&b->content, rv->cache, b->sha256, (int64_t)b->size,
                                      b->content_type, fill_from_store, &f, err);
}

/* Stops a probe download at its first byte: the server already said yes. */
static int probe_write(const char *data, size_t len, void *payload)
{
    (void)data;
    (void)len;
    *(int *)payload = 1;
    return 1;
}

/*
 * Whether the store lets this caller download the blob of `b`: Glare lets only admins
 * download from a deactivated artifact (glare-api.md §15). It asks the store with a
 * download stopped at the first byte, so cached content never answers for the server.
 */
static int may_download(const glarex__resolver *rv, glarex_store *store, const glarex_blob *b,
                        glarex_error *err)
{
    glarex_blob_loc loc = {rv->opts->type_name, b->id, b->field, b->key};
    int reached = 0;
    int rc = glarex_store_download(NULL, store, &loc, NULL, probe_write, &reached, err);
    if (reached) {
        GLAREX_ERROR_RESET(err);
        return 0;
    }
    return rc;
}

/* }====================================================================== */

static int64_t ttl_for(const glarex__resolver *rv, const glarex_ref *ref, const char *status,
                       int64_t bound_s)
{
    glarex_ref_kind kind = glarex_ref_kind_of(ref);
    if (kind == GLAREX_REF_SHA256)
        return -1; /* pinned content: the answer cannot go stale */
    if (!status || strcmp(status, "active") != 0)
        return rv->opts->ttl_drafted_ms;
    /* as of a past time, a choice can only change by a delete: trust it like an exact
     * version */
    if (bound_s && bound_s * 1000 <= glarex__now_ms())
        return rv->opts->ttl_exact_ms;
    if (kind == GLAREX_REF_LATEST || kind == GLAREX_REF_RANGE)
        return rv->opts->ttl_latest_ms;
    return rv->opts->ttl_exact_ms;
}

static int64_t expiry(int64_t now, int64_t ttl)
{
    return ttl < 0 ? INT64_MAX : now + ttl;
}

/* Remembers a "not found" answer for the negative TTL. */
static void remember_missing(int64_t *ttl_ms, const glarex__resolver *rv, const char *ipath,
                             int code, const glarex_error *err)
{
    int64_t ttl = rv->opts->ttl_negative_ms;
    json_t *rec = record_missing(code, err ? err->message : "not found",
                                 expiry(glarex__now_ms(), ttl));
    if (rec && ipath)
        index_write(ipath, rec);
    json_decref(rec);
    *ttl_ms = ttl;
}

/* Resolves against the store and records the answer in the index. */
static int resolve_remote(glarex_blob **out, int64_t *ttl_ms, glarex__resolver *rv,
                          const glarex__asker *who, const glarex_ref *ref, const char *label,
                          const char *ipath, int64_t deadline_ms, json_t *trace,
                          glarex_error *err)
{
    glarex_store *store = NULL;
    json_t *art = NULL, *rec = NULL;
    glarex_blob *b = NULL;
    glarex_digests d;
    const json_t *bj;
    char what[300];
    int rc;

    if ((rc = glarex__pool_take(&store, rv->pool, who->token, err)) < 0)
        return rc;
    glarex__store_set_deadline(store, deadline_ms);
    rc = find_artifact(&art, rv, who, store, ref, label, trace, err);
    if (rc == 0 && trace)
        trace_set(trace, "chosen", candidate_json(art));
    if (rc == GLAREX_ENOTFOUND) {
        remember_missing(ttl_ms, rv, ipath, rc, err);
        goto done;
    }
    if (rc < 0)
        goto done;

    describe_blob(what, sizeof(what), ref);
    const char *status = str_field(art, "status");
    /* The store decides who reads a deactivated artifact (Glare: admins), every time. */
    int deactivated = status && strcmp(status, "deactivated") == 0;
    if (status && strcmp(status, "active") != 0 && strcmp(status, "drafted") != 0 &&
        !deactivated) {
        rc = glarex__error_set(err, GLAREX_EFORBIDDEN, "%s: artifact %s is %s", label,
                               str_field(art, "id"), status);
        goto done;
    }
    bj = blob_of(art, ref);
    if (!json_is_object(bj)) {
        rc = glarex__error_set(err, GLAREX_ENOTFOUND, "%s: artifact '%s' %s (%s) has no %s",
                               label, str_field(art, "name"), str_field(art, "version"),
                               str_field(art, "id"), what);
        if (err && glarex_ref_key(ref)) {
            json_t *keys = json_array(), *v;
            const char *k;
            json_object_foreach(json_object_get(art, "resources"), k, v)
                json_array_append_new(keys, json_string(k));
            if (json_array_size(keys))
                append_closest(err, "its resources are", glarex_ref_key(ref), keys);
            else
                snprintf(err->message + strlen(err->message),
                         sizeof(err->message) - strlen(err->message), "; it has no resources");
            json_decref(keys);
        }
        remember_missing(ttl_ms, rv, ipath, rc, err);
        goto done;
    }
    if (str_field(bj, "status") && strcmp(str_field(bj, "status"), "active") != 0) {
        rc = glarex__error_set(err, GLAREX_ECONFLICT, "%s: the %s is still being uploaded",
                               label, what);
        goto done;
    }
    if ((rc = glarex_digests_from_json(&d, bj, err)) < 0)
        goto done;
    if (!d.sha256[0]) {
        rc = glarex__error_set(err, GLAREX_EUNSUPPORTED,
                               "%s: the %s has no sha256 (an external location registered "
                               "without one), so it cannot be verified",
                               label, what);
        goto done;
    }
    b = blob_new(str_field(art, "id"), str_field(art, "name"), str_field(art, "version"),
                 str_field(art, "owner"), status, glarex_ref_field(ref), glarex_ref_key(ref),
                 &d, str_field(bj, "content_type"));
    if (!b) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (deactivated && (rc = may_download(rv, store, b, err)) < 0)
        goto done;
    if ((rc = attach_content(b, rv, who, store, deadline_ms, err)) < 0)
        goto done;

    /* 0: asked again next time */
    *ttl_ms = deactivated ? 0 : ttl_for(rv, ref, status, as_of_bound_s(rv, who, ref));
    rec = deactivated ? NULL : record_found(b, expiry(glarex__now_ms(), *ttl_ms));
    if (rec && ipath)
        index_write(ipath, rec);
    *out = b;
    b = NULL;

done:
    glarex__store_set_deadline(store, 0);
    glarex__pool_give(rv->pool, store, who->token);
    glarex_blob_free(b);
    json_decref(art);
    json_decref(rec);
    return rc;
}

int glarex__resolve(glarex_blob **out, int64_t *ttl_ms, glarex__resolver *rv,
                    const glarex__asker *who, const glarex_ref *ref, const char *label,
                    int64_t deadline_ms, json_t *trace, glarex_error *err)
{
    glarex_buf canon = GLAREX_BUF_INIT;
    char *ipath = NULL;
    json_t *rec = NULL;
    glarex_blob *b = NULL;
    int64_t bound_s = as_of_bound_s(rv, who, ref);
    int offline = rv->opts->offline;
    int rc = 0;

    *out = NULL;
    *ttl_ms = 0;
    atomic_fetch_add(&rv->resolutions, 1);
    if (glarex_ref_format(&canon, ref) < 0 ||
        index_path(&ipath, rv, who, ref, bound_s, canon.ptr) < 0) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }

    trace_set(trace, "reference", json_string(canon.ptr));
    trace_set(trace, "scope", json_string(who->scope));
    if (bound_s) {
        char before[32];
        format_utc(before, bound_s);
        trace_set(trace, "activated_before", json_string(before));
    }
    rec = index_read(ipath);
    trace_set(trace, "remembered", json_string(rec ? "index" : "none"));
    if (rec) {
        int64_t now = glarex__now_ms();
        int64_t expires = json_integer_value(json_object_get(rec, "expires_ms"));
        int fresh = expires > now || offline;
        trace_set(trace, "index", json_string(fresh ? "fresh" : "expired"));
        if (fresh && json_is_false(json_object_get(rec, "found"))) {
            const char *msg = str_field(rec, "message");
            int code = (int)json_integer_value(json_object_get(rec, "code"));
            rc = glarex__error_set(err, code < 0 ? code : GLAREX_ENOTFOUND, "%s",
                                   msg ? msg : "not found");
            *ttl_ms = expires - now;
            goto done;
        }
        if (fresh && (b = blob_from_record(rec)) != NULL) {
            rc = attach_content(b, rv, who, NULL, deadline_ms, err);
            if (rc == 0) {
                *ttl_ms = expires == INT64_MAX ? -1 : expires - now;
                *out = b;
                b = NULL;
                goto done;
            }
            if (offline)
                goto done;
            /* the index named content nobody can give us any more: ask again */
            glarex_blob_free(b);
            b = NULL;
        }
        if (!offline)
            atomic_fetch_add(&rv->revalidations, 1);
    }
    if (offline) {
        rc = glarex__error_set(err, GLAREX_EOFFLINE, "%s is not cached and glarex is offline",
                               label);
        goto done;
    }
    rc = resolve_remote(out, ttl_ms, rv, who, ref, label, ipath, deadline_ms, trace, err);

done:
    glarex_blob_free(b);
    json_decref(rec);
    free(ipath);
    glarex_buf_dispose(&canon);
    return rc;
}
