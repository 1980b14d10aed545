/*
 * The directory store's blobs: uploads are streamed into tmp/ (hashed on the way,
 * within the size caps) and committed under the lock by renaming the file into the
 * artifact's blobs/ and then rewriting its record; downloads are checked against the
 * recorded size, sha256 and md5 (and the caller's expected digests) as they stream.
 */
#include "dir.h"

#include "digest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FOLDER_SIZE GLAREX_LOCAL_MAX_DICT_SIZE /* Glare's FolderField default */
#define MAX_DICT_KEYS GLAREX_LOCAL_MAX_DICT_KEYS
#define MAX_KEY_LENGTH GLAREX_LOCAL_MAX_KEY_LENGTH
#define CHUNK_SIZE (64 * 1024)

/* What a blob_loc names, checked against the type as Glare checks it. */
typedef struct blob_ref {
    const art_type *type;
    const blob_field *field;
    const char *field_name; /* as the caller gave it */
    const char *key;        /* NULL for a plain Blob */
    char name[300];         /* "workflow" or "resources[key]", as Glare names blobs */
    char what[400];         /* "upload workflows/<id>/resources/<key>" */
} blob_ref;

static int resolve_loc(blob_ref *r, const char *verb, const glarex_blob_loc *loc,
                       glarex_error *err)
{
    const char *key = loc->key && *loc->key ? loc->key : NULL;

    memset(r, 0, sizeof(*r));
    /* Long keys are cut here: Glare's own message often repeats the key in full. */
    snprintf(r->what, sizeof(r->what), "%s %.40s/%.40s/%.40s%s%.80s%s", verb,
             loc->type_name, loc->id, loc->field, key ? "/" : "", key ? key : "",
             key && strlen(key) > 80 ? "..." : "");
    if (key)
        snprintf(r->name, sizeof(r->name), "%s[%s]", loc->field, key);
    else
        snprintf(r->name, sizeof(r->name), "%s", loc->field);
    r->type = glarex__dir_find_type(loc->type_name);
    if (!r->type)
        return glarex__dir_type_not_found(err, r->what, loc->type_name);
    r->field = glarex__dir_find_field(r->type, loc->field);
    r->field_name = loc->field;
    r->key = key;
    return 0;
}

/* Checks the field and key once the artifact is known to exist (Glare's order). */
static int check_blob_field(const blob_ref *r, glarex_error *err)
{
    if (r->key) {
        if (!r->field || !r->field->is_dict)
            return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                      "%s: %s is not a blob dict", r->what,
                                      r->field_name);
    } else if (!r->field || r->field->is_dict) {
        return glarex__store_fail(err, GLAREX_EINVALID, 400, "%s: %s is not a blob",
                                  r->what, r->field_name);
    }
    return 0;
}

/* The blob JSON (borrowed) at the location, or NULL when unset. */
static json_t *blob_json(const json_t *rec, const blob_ref *r)
{
    json_t *v = json_object_get(rec_artifact(rec), r->field->name);
    if (r->key)
        v = json_object_get(v, r->key);
    return json_is_object(v) ? v : NULL;
}

/* The blob file id recorded for the location, or NULL. */
static const char *blob_file(const json_t *rec, const blob_ref *r)
{
    json_t *v = json_object_get(json_object_get(rec, "files"), r->field->name);
    if (r->key)
        v = json_object_get(v, r->key);
    return json_string_value(v);
}

static int check_mutable(const json_t *rec, const blob_ref *r, glarex_error *err)
{
    const char *status = af_str(rec_artifact(rec), "status");
    if (strcmp(status, "active") == 0)
        return glarex__store_fail(err, GLAREX_EFORBIDDEN, 403,
                                  "%s: Forbidden to change field '%s' after activation.",
                                  r->what, r->field->name);
    if (strcmp(status, "drafted") != 0)
        return glarex__store_fail(
            err, GLAREX_EFORBIDDEN, 403,
            "%s: Forbidden to change fields if artifact is not active or drafted.",
            r->what);
    return 0;
}

/* The most the blob may hold: max_blob_size, and for a dict key also what is left of
 * the dict's total (Glare counts the key's current size as used too). Without a cap,
 * what the disk holds. */
static int allowed_space(uint64_t *out, const dir_store *s, const json_t *rec,
                         const blob_ref *r, glarex_error *err)
{
    uint64_t allowed = s->max_blob_size ? s->max_blob_size : UINT64_MAX;

    if (r->key) {
        json_t *dict = json_object_get(rec_artifact(rec), r->field->name);
        uint64_t used = 0;
        const char *k;
        json_t *b;
        json_object_foreach(dict, k, b)
        {
            used += (uint64_t)json_integer_value(json_object_get(b, "size"));
        }
        /* the dict's total is capped with its blobs only */
        if (s->max_blob_size && used >= MAX_FOLDER_SIZE)
            allowed = 0;
        else if (s->max_blob_size && MAX_FOLDER_SIZE - used < allowed)
            allowed = MAX_FOLDER_SIZE - used;
        if (strlen(r->key) > MAX_KEY_LENGTH)
            return glarex__dir_field_error(err, r->what, r->type, r->field->name,
                                           "Dict key length %s must be less than %d.",
                                           r->key, MAX_KEY_LENGTH);
        if (!json_object_get(dict, r->key) && json_object_size(dict) >= MAX_DICT_KEYS)
            return glarex__dir_field_error(
                err, r->what, r->type, r->field->name,
                "Number of items must be less than  %d. Current size: %zu", MAX_DICT_KEYS,
                json_object_size(dict) + 1);
    }
    *out = allowed;
    return 0;
}

static int too_big(glarex_error *err, const blob_ref *r, uint64_t size, uint64_t allowed)
{
    return glarex__store_fail(
        err, GLAREX_ETOOBIG, 413,
        "%s: Can't upload %llu bytes of data to blob %s. Its max allowed size is %llu",
        r->what, (unsigned long long)size, r->name, (unsigned long long)allowed);
}

/* sha256 + md5 (digest.h) plus the sha1 Glare also records. */
typedef struct hasher {
    glarex__digest *d;
    EVP_MD_CTX *sha1;
} hasher;

static int hasher_init(hasher *h, glarex_error *err)
{
    h->d = glarex__digest_new();
    h->sha1 = EVP_MD_CTX_new();
    if (!h->d || !h->sha1 || EVP_DigestInit_ex(h->sha1, EVP_sha1(), NULL) != 1)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

static void hasher_update(hasher *h, const void *data, size_t len)
{
    glarex__digest_update(h->d, data, len);
    EVP_DigestUpdate(h->sha1, data, len);
}

static void hasher_final(hasher *h, char sha256[65], char md5[33], char sha1[41])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    glarex__digest_final(h->d, sha256, md5);
    EVP_DigestFinal_ex(h->sha1, bin, &len);
    for (unsigned int i = 0; i < len && i < 20; i++) {
        sha1[2 * i] = digits[bin[i] >> 4];
        sha1[2 * i + 1] = digits[bin[i] & 15];
    }
    sha1[40] = '\0';
}

static void hasher_dispose(hasher *h)
{
    glarex__digest_free(h->d);
    EVP_MD_CTX_free(h->sha1);
}

/* The result of streaming an upload into a temporary file. */
typedef struct staged_blob {
    char *path; /* new; the fsynced temporary file */
    uint64_t size;
    char sha256[65], md5[33], sha1[41];
} staged_blob;

/* Streams the source into ROOT/tmp, never holding it whole, stopping once it exceeds
 * `allowed`. */
static int stage_blob(staged_blob *out, const dir_store *s, const blob_ref *r,
                      const glarex__upload_src *src, uint64_t allowed, glarex_error *err)
{
    hasher h = {NULL, NULL};
    char *buf = NULL, *tmp = NULL;
    int in = -1, fd = -1, error = 0;
    uint64_t total = 0, done = 0;
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (src->path) {
        in = open(src->path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return glarex__error_set(err, errno == ENOENT ? GLAREX_ENOTFOUND : GLAREX_EIO,
                                     "cannot open '%s': %s", src->path, strerror(errno));
        if (fstat(in, &st) < 0) {
            error = glarex__error_set(err, GLAREX_EIO, "cannot stat '%s': %s", src->path,
                                      strerror(errno));
            goto done;
        }
        if (!S_ISREG(st.st_mode)) {
            /* As the Glare backend: the size must be known up front. */
            error = glarex__error_set(err, GLAREX_EINVALID, "'%s' is not a regular file",
                                      src->path);
            goto done;
        }
        total = (uint64_t)st.st_size;
    } else {
        total = src->size;
    }
    if (total > allowed) {
        error = too_big(err, r, total, allowed);
        goto done;
    }
    if ((error = hasher_init(&h, err)) < 0)
        goto done;
    if (!(buf = malloc(CHUNK_SIZE))) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = glarex__dir_open_temp(&fd, &tmp, s, ".blob", err)) < 0)
        goto done;
    for (;;) {
        const char *chunk;
        size_t n;
        if (src->path) {
            ssize_t got = read(in, buf, CHUNK_SIZE);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                error = glarex__error_set(err, GLAREX_EIO, "%s: reading '%s': %s",
                                          r->what, src->path, strerror(errno));
                goto done;
            }
            chunk = buf;
            n = (size_t)got;
        } else {
            n = src->size - (size_t)done < CHUNK_SIZE ? src->size - (size_t)done
                                                      : CHUNK_SIZE;
            chunk = (const char *)src->data + done;
        }
        if (n == 0)
            break;
        if (done + n > allowed) { /* the file grew since fstat */
            error = too_big(err, r, done + n, allowed);
            goto done;
        }
        hasher_update(&h, chunk, n);
        if (glarex__dir_write_all(fd, chunk, n) < 0) {
            error = glarex__dir_fail_errno(err, errno, "write", tmp);
            goto done;
        }
        done += n;
        if (src->progress && src->progress(done, total, src->payload) != 0) {
            error = glarex__error_set(err, GLAREX_ERROR,
                                      "%s: aborted by the progress callback", r->what);
            goto done;
        }
    }
    error = glarex__dir_finish_temp(fd, tmp, err);
    fd = -1;
    if (error < 0)
        goto done;
    hasher_final(&h, out->sha256, out->md5, out->sha1);
    out->size = done;
    out->path = tmp;
    tmp = NULL;
done:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (in >= 0)
        close(in);
    free(buf);
    hasher_dispose(&h);
    return error;
}

/* Removes files in a blobs/ directory that the record does not name: debris of a
 * process that died between renaming a blob in and committing the record. Only
 * called under the lock, when no other rename into blobs/ can be under way. */
static void sweep_blobs(const char *blobs_dir, const json_t *files)
{
    DIR *d = opendir(blobs_dir);
    struct dirent *e;

    while (d && (e = readdir(d)) != NULL) {
        const char *k;
        json_t *v, *w;
        int used = 0;
        if (e->d_name[0] == '.')
            continue;
        json_object_foreach((json_t *)files, k, v)
        {
            if (json_is_string(v)) {
                used |= strcmp(json_string_value(v), e->d_name) == 0;
            } else {
                const char *k2;
                json_object_foreach(v, k2, w)
                {
                    used |= strcmp(str_or_empty(json_string_value(w)), e->d_name) == 0;
                }
            }
        }
        if (!used)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
}

int glarex__dir_upload(json_t **out, void *impl, const glarex_blob_loc *loc,
                       const glarex__upload_src *src, glarex_error *err)
{
    dir_store *s = impl;
    blob_ref r;
    json_t *rec = NULL, *blob = NULL, *old, *af, *files;
    staged_blob staged = {NULL, 0, "", "", ""};
    char file_id[37], stamp[21], old_file[37] = "";
    char *blob_path = NULL, *old_path = NULL, *blobs_dir = NULL, *rec_path = NULL,
         *url = NULL;
    const char *content_type;
    uint64_t allowed;
    int lockfd = -1, error = 0, renamed = 0;

    if ((error = resolve_loc(&r, "upload", loc, err)) < 0)
        return error;
    /* A first look, to refuse early what would fail anyway. */
    if ((error = glarex__dir_read_record(&rec, s, r.what, r.type, loc->id, err)) < 0 ||
        (error = check_blob_field(&r, err)) < 0 ||
        (error = check_mutable(rec, &r, err)) < 0 ||
        (error = allowed_space(&allowed, s, rec, &r, err)) < 0)
        goto done;
    json_decref(rec);
    rec = NULL;
    if ((error = stage_blob(&staged, s, &r, src, allowed, err)) < 0)
        goto done;

    /* Commit under the lock, checking again: the artifact may have changed. */
    if ((error = glarex__dir_uuid4(file_id, err)) < 0)
        goto done;
    if ((error = glarex__dir_lock_store(&lockfd, s, err)) < 0)
        goto done;
    if ((error = glarex__dir_read_record(&rec, s, r.what, r.type, loc->id, err)) < 0 ||
        (error = check_mutable(rec, &r, err)) < 0 ||
        (error = allowed_space(&allowed, s, rec, &r, err)) < 0)
        goto done;
    if (staged.size > allowed) {
        error = too_big(err, &r, staged.size, allowed);
        goto done;
    }
    blobs_dir = glarex__dir_store_path(s, "%s/%s/blobs", r.type->name, loc->id);
    blob_path =
        glarex__dir_store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id, file_id);
    rec_path = glarex__dir_store_path(s, "%s/%s/artifact.json", r.type->name, loc->id);
    url = r.key ? glarex__dir_xasprintf("/artifacts/%s/%s/%s/%s", r.type->name, loc->id,
                                        r.field->name, r.key)
                : glarex__dir_xasprintf("/artifacts/%s/%s/%s", r.type->name, loc->id,
                                        r.field->name);
    if (!blobs_dir || !blob_path || !rec_path || !url) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (rename(staged.path, blob_path) < 0) {
        error = glarex__dir_fail_errno(err, errno, "rename into", blob_path);
        goto done;
    }
    renamed = 1;
    free(staged.path);
    staged.path = NULL;
    if ((error = glarex__dir_fsync_dir(blobs_dir, err)) < 0)
        goto done;

    af = rec_artifact(rec);
    files = json_object_get(rec, "files");
    old = blob_json(rec, &r);
    if (blob_file(rec, &r))
        glarex__strlcpy(old_file, blob_file(rec, &r), sizeof(old_file));
    /* Glare keeps the first upload's content type when a draft's blob is replaced. */
    content_type =
        old && json_is_string(json_object_get(old, "content_type"))
            ? json_string_value(json_object_get(old, "content_type"))
            : (src->content_type ? src->content_type : "application/octet-stream");
    blob = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:s}", "url", url, "status",
                     "active", "external", 0, "md5", staged.md5, "sha1", staged.sha1,
                     "sha256", staged.sha256, "size", (json_int_t)staged.size,
                     "content_type", content_type);
    if (!blob) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    glarex__dir_now_stamp(stamp, NULL);
    if (r.key) {
        json_t *dict = json_object_get(af, r.field->name);
        json_t *fdict = json_object_get(files, r.field->name);
        if (!json_is_object(fdict)) {
            fdict = json_object();
            if (!fdict || json_object_set_new(files, r.field->name, fdict) < 0) {
                error = GLAREX_ENOMEM_SET(err);
                goto done;
            }
        }
        if (json_object_set(dict, r.key, blob) < 0 ||
            json_object_set_new(fdict, r.key, json_string(file_id)) < 0) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    } else if (json_object_set(af, r.field->name, blob) < 0 ||
               json_object_set_new(files, r.field->name, json_string(file_id)) < 0) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if (json_object_set_new(af, "updated_at", json_string(stamp)) < 0) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    if ((error = glarex__dir_write_json_atomic(s, rec_path, rec, err)) < 0)
        goto done;
    renamed = 0; /* committed: the new file is the blob now */

    /* The replaced content (and any debris) goes only after the commit. */
    if (old_file[0] && glarex__dir_is_uuid(old_file) &&
        (old_path = glarex__dir_store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id,
                                           old_file)))
        unlink(old_path);
    sweep_blobs(blobs_dir, files);
    if (!(*out = artifact_out(rec)))
        error = GLAREX_ENOMEM_SET(err);
done:
    if (renamed)
        unlink(blob_path);
    glarex__dir_unlock_store(lockfd);
    if (staged.path) {
        unlink(staged.path);
        free(staged.path);
    }
    json_decref(rec);
    json_decref(blob);
    free(blob_path);
    free(old_path);
    free(blobs_dir);
    free(rec_path);
    free(url);
    return error;
}

static int mismatch(glarex_error *err, const char *what, const char *algo,
                    const char *source, const char *expected, const char *got)
{
    return glarex__error_set(err, GLAREX_ECHECKSUM,
                             "%s: %s mismatch: expected %s (%s), got %s", what, algo,
                             expected, source, got);
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int glarex__dir_download(glarex_download_info *out, void *impl,
                         const glarex_blob_loc *loc, const glarex_digests *expect,
                         glarex_write_cb sink, void *payload, glarex_error *err)
{
    dir_store *s = impl;
    blob_ref r;
    json_t *rec = NULL, *blob = NULL;
    glarex__digest *d = NULL;
    char *path = NULL, *buf = NULL;
    char got_sha[65], got_md5[33], e[65];
    const char *want_sha, *want_md5, *ctype;
    json_int_t want_size;
    uint64_t received = 0;
    int fd = -1, error = 0;

    if (expect) {
        size_t ls = strlen(expect->sha256), lm = strlen(expect->md5);
        if ((ls && (ls != 64 || !glarex__is_hex(expect->sha256, 64))) ||
            (lm && (lm != 32 || !glarex__is_hex(expect->md5, 32))))
            return glarex__error_set(
                err, GLAREX_EINVALID,
                "expected digests: sha256 must be 64 and md5 32 hex digits");
    }
    if ((error = resolve_loc(&r, "download", loc, err)) < 0)
        return error;
    /* A concurrent re-upload of a draft may replace the file between reading the
     * record and opening it: read the record again then. */
    for (int attempt = 0; fd < 0; attempt++) {
        const char *file;
        json_decref(rec);
        rec = NULL;
        if ((error = glarex__dir_read_record(&rec, s, r.what, r.type, loc->id, err)) <
                0 ||
            (error = check_blob_field(&r, err)) < 0)
            goto done;
        blob = blob_json(rec, &r);
        file = blob_file(rec, &r);
        if (!blob) {
            error = glarex__store_fail(err, GLAREX_ENOTFOUND, 404,
                                       "%s: No data found for blob %s", r.what, r.name);
            goto done;
        }
        if (!file || !glarex__dir_is_uuid(file)) {
            error = glarex__error_set(err, GLAREX_EIO,
                                      "%s: corrupt artifact record: no file for blob %s",
                                      r.what, r.name);
            goto done;
        }
        free(path);
        if (!(path = glarex__dir_store_path(s, "%s/%s/blobs/%s", r.type->name, loc->id,
                                            file))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && (errno != ENOENT || attempt >= 2)) {
            error = glarex__dir_fail_errno(err, errno, "open", path);
            goto done;
        }
    }
    want_sha = json_string_value(json_object_get(blob, "sha256"));
    want_md5 = json_string_value(json_object_get(blob, "md5"));
    want_size = json_integer_value(json_object_get(blob, "size"));
    ctype = json_string_value(json_object_get(blob, "content_type"));
    if (!want_sha || !want_md5 || want_size < 0) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "%s: corrupt artifact record: blob %s has no digests",
                                  r.what, r.name);
        goto done;
    }
    d = glarex__digest_new();
    buf = malloc(CHUNK_SIZE);
    if (!d || !buf) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = glarex__dir_fail_errno(err, errno, "read", path);
            goto done;
        }
        if (n == 0)
            break;
        received += (uint64_t)n;
        if (received > (uint64_t)want_size) {
            /* Never pass on more than the blob holds. */
            error =
                glarex__error_set(err, GLAREX_ECHECKSUM,
                                  "%s: size mismatch: expected %lld bytes (recorded), "
                                  "got more",
                                  r.what, (long long)want_size);
            goto done;
        }
        glarex__digest_update(d, buf, (size_t)n);
        if (sink(buf, (size_t)n, payload) != 0) {
            error = glarex__error_set(err, GLAREX_ERROR,
                                      "download aborted by the write callback");
            goto done;
        }
    }
    glarex__digest_final(d, got_sha, got_md5);
    if (received != (uint64_t)want_size) {
        error = glarex__error_set(
            err, GLAREX_ECHECKSUM,
            "%s: size mismatch: expected %lld bytes (recorded), got %llu", r.what,
            (long long)want_size, (unsigned long long)received);
        goto done;
    }
    if (strcasecmp(want_sha, got_sha) != 0) {
        error = mismatch(err, r.what, "sha256", "recorded", want_sha, got_sha);
        goto done;
    }
    if (strcasecmp(want_md5, got_md5) != 0) {
        error = mismatch(err, r.what, "md5", "recorded", want_md5, got_md5);
        goto done;
    }
    if (expect) {
        if (expect->sha256[0]) {
            memcpy(e, expect->sha256, 65);
            lower(e);
            if (strcmp(e, got_sha) != 0) {
                error = mismatch(err, r.what, "sha256", "expected digests", e, got_sha);
                goto done;
            }
        }
        if (expect->md5[0]) {
            memcpy(e, expect->md5, 33);
            lower(e);
            if (strcmp(e, got_md5) != 0) {
                error = mismatch(err, r.what, "md5", "expected digests", e, got_md5);
                goto done;
            }
        }
        if (expect->size >= 0 && (uint64_t)expect->size != received) {
            error = glarex__error_set(
                err, GLAREX_ECHECKSUM, "%s: size mismatch: expected %lld bytes, got %llu",
                r.what, (long long)expect->size, (unsigned long long)received);
            goto done;
        }
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        memcpy(out->sha256, got_sha, sizeof(out->sha256));
        memcpy(out->md5, got_md5, sizeof(out->md5));
        out->size = received;
        glarex__strlcpy(out->content_type, ctype ? ctype : "", sizeof(out->content_type));
        out->external = 0;
    }
done:
    if (fd >= 0)
        close(fd);
    glarex__digest_free(d);
    json_decref(rec);
    free(path);
    free(buf);
    return error;
}
