/*
 * The directory store's artifacts: creating one (its directory staged in tmp/, then
 * published by one rename once the index entry for its name and version is made),
 * reading, activating and deleting one (one rename to tmp/ takes it and its blobs away
 * together). Metadata changes happen under the store lock.
 */
#include "dir.h"

#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* {====================================================================
 * Create
 * ==================================================================== */

/* ROOT/<type>/index/<sha256 of name NUL version> */
static char *index_path(const dir_store *s, const art_type *t, const char *name,
                        const char *version)
{
    size_t nl = strlen(name), vl = strlen(version);
    char *key = malloc(nl + vl + 1);
    char sha[65], md5[33];
    int rc;

    if (!key)
        return NULL;
    memcpy(key, name, nl);
    key[nl] = '\0';
    memcpy(key + nl + 1, version, vl);
    rc = glarex__digest_buffer(key, nl + 1 + vl, sha, md5);
    free(key);
    return rc < 0 ? NULL : glarex__dir_store_path(s, "%s/index/%s", t->name, sha);
}

/* The id an index entry names, or "" when there is no entry. */
static int read_index(char id[37], const char *path, glarex_error *err)
{
    char buf[64];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    id[0] = '\0';
    if (fd < 0)
        return errno == ENOENT ? 0 : glarex__dir_fail_errno(err, errno, "open", path);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return glarex__dir_fail_errno(err, errno, "read", path);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (glarex__dir_is_uuid(buf))
        memcpy(id, buf, 37);
    else
        memcpy(id, "00000000-0000-0000-0000-000000000000", 37); /* unreadable: stale */
    return 0;
}

int glarex__dir_create(json_t **out, void *impl, const char *type_name,
                       const json_t *fields, glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = glarex__dir_find_type(type_name);
    json_t *af = NULL, *rec = NULL, *holder = NULL;
    const json_t *jname;
    char what[320], id[37], holder_id[37], stamp[21];
    char *name = NULL, *version = NULL;
    char *idx = NULL, *idx_tmp = NULL, *stage = NULL, *stage_blobs = NULL,
         *stage_json = NULL, *type_dir = NULL, *index_dir = NULL, *final_dir = NULL;
    long long ns;
    int lockfd = -1, error = 0, index_made = 0;

    snprintf(what, sizeof(what), "create %s", type_name);
    if (!json_is_object(fields))
        return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                  "%s: Dictionary expected as body value", what);
    /* Glare's order of checks: name, forbidden fields, type, then values. */
    jname = json_object_get(fields, "name");
    if (!jname || json_is_null(jname) || json_is_false(jname) ||
        (json_is_string(jname) && json_string_length(jname) == 0))
        return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                  "%s: Name must be specified at creation.", what);
    {
        static const char *const not_at_create[] = {"visibility", "status",
                                                    "display_type_name", NULL};
        for (size_t i = 0; not_at_create[i]; i++)
            if (json_object_get(fields, not_at_create[i]))
                return glarex__store_fail(
                    err, GLAREX_EINVALID, 400,
                    "%s: %s is not allowed in a request at creation.", what,
                    not_at_create[i]);
    }
    if (!t)
        return glarex__dir_type_not_found(err, what, type_name);
    if ((error = glarex__dir_string_field(&name, jname, 1, MAX_NAME_LENGTH, what, t,
                                          "name", err)) < 0)
        return error;
    snprintf(what, sizeof(what), "create %s '%s'", type_name, name);
    if ((error = glarex__dir_request_version(&version, json_object_get(fields, "version"),
                                             what, t, err)) < 0)
        goto done;

    if ((error = glarex__dir_uuid4(id, err)) < 0)
        goto done;
    glarex__dir_now_stamp(stamp, &ns);
    if ((error = glarex__dir_new_artifact(&af, t, what, fields, id, name, version, stamp,
                                          err)) < 0)
        goto done;
    rec = json_pack("{s:i, s:O, s:{}, s:I}", "format", RECORD_FORMAT, "artifact", af,
                    "files", "created_ns", (json_int_t)ns);
    for (size_t i = 0; rec && i < t->nfields; i++)
        if (t->fields[i].is_dict &&
            json_object_set_new(json_object_get(rec, "files"), t->fields[i].name,
                                json_object()) < 0) {
            json_decref(rec);
            rec = NULL;
        }
    idx = index_path(s, t, name, version);
    stage = glarex__dir_store_path(s, "tmp/%s.new", id);
    stage_blobs = glarex__dir_store_path(s, "tmp/%s.new/blobs", id);
    stage_json = glarex__dir_store_path(s, "tmp/%s.new/artifact.json", id);
    type_dir = glarex__dir_store_path(s, "%s", t->name);
    index_dir = glarex__dir_store_path(s, "%s/index", t->name);
    final_dir = glarex__dir_store_path(s, "%s/%s", t->name, id);
    if (!rec || !idx || !stage || !stage_blobs || !stage_json || !type_dir ||
        !index_dir || !final_dir) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }

    /* Stage the artifact's directory completely before taking the lock. */
    if ((error = glarex__dir_make_dir(stage, err)) < 0 ||
        (error = glarex__dir_make_dir(stage_blobs, err)) < 0 ||
        (error = glarex__dir_write_json_atomic(s, stage_json, rec, err)) < 0 ||
        (error = glarex__dir_fsync_dir(stage, err)) < 0)
        goto done;

    if ((error = glarex__dir_lock_store(&lockfd, s, err)) < 0)
        goto done;
    if ((error = glarex__dir_make_dir(type_dir, err)) < 0 ||
        (error = glarex__dir_make_dir(index_dir, err)) < 0)
        goto done;
    /* Uniqueness of (type, name, version): the index entry names its holder. An entry
     * whose artifact is gone (a crash between the two renames below) is stale. */
    if ((error = read_index(holder_id, idx, err)) < 0)
        goto done;
    if (holder_id[0]) {
        glarex_error holder_err;
        int e = glarex__dir_read_record(&holder, s, what, t, holder_id, &holder_err);
        if (e < 0 && e != GLAREX_ENOTFOUND) {
            if (err)
                *err = holder_err;
            error = e;
            goto done;
        }
        if (e == 0 && strcmp(af_str(rec_artifact(holder), "name"), name) == 0 &&
            strcmp(af_str(rec_artifact(holder), "version"), version) == 0) {
            error = glarex__store_fail(
                err, GLAREX_ECONFLICT, 409,
                "%s: Artifact with this name and version is already exists for this "
                "scope.",
                what);
            goto done;
        }
    }
    {
        char line[38];
        snprintf(line, sizeof(line), "%s\n", id);
        if ((error = glarex__dir_write_temp(&idx_tmp, s, line, strlen(line), err)) < 0)
            goto done;
    }
    /* link() is atomic and never replaces, so even without a working lock only one
     * creator can win; a stale entry is replaced under the lock. */
    if (holder_id[0] ? rename(idx_tmp, idx) < 0 : link(idx_tmp, idx) < 0) {
        if (errno == EEXIST)
            error = glarex__store_fail(
                err, GLAREX_ECONFLICT, 409,
                "%s: Artifact with this name and version is already exists for "
                "this scope.",
                what);
        else
            error = glarex__dir_fail_errno(err, errno, "create", idx);
        goto done;
    }
    index_made = 1;
    if ((error = glarex__dir_fsync_dir(index_dir, err)) < 0)
        goto done;
    if (rename(stage, final_dir) < 0) {
        error = glarex__dir_fail_errno(err, errno, "rename into", final_dir);
        goto done;
    }
    index_made = 0; /* the artifact now exists: keep its index entry */
    if ((error = glarex__dir_fsync_dir(type_dir, err)) < 0)
        goto done;

    *out = af;
    af = NULL;
done:
    if (index_made) {
        unlink(idx);
        glarex__dir_fsync_dir(index_dir, NULL);
    }
    glarex__dir_unlock_store(lockfd);
    if (idx_tmp) {
        unlink(idx_tmp);
        free(idx_tmp);
    }
    if (error < 0 && stage)
        glarex__dir_remove_tree(stage);
    json_decref(af);
    json_decref(rec);
    json_decref(holder);
    free(name);
    free(version);
    free(idx);
    free(stage);
    free(stage_blobs);
    free(stage_json);
    free(type_dir);
    free(index_dir);
    free(final_dir);
    return error;
}

/* }==================================================================== */

/* {====================================================================
 * Get, activate, delete
 * ==================================================================== */

int glarex__dir_get(json_t **out, void *impl, const char *type_name, const char *id,
                    glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = glarex__dir_find_type(type_name);
    json_t *rec = NULL;
    char what[128];
    int error;

    snprintf(what, sizeof(what), "get %s/%.40s", type_name, id);
    if (!t)
        return glarex__dir_type_not_found(err, what, type_name);
    if ((error = glarex__dir_read_record(&rec, s, what, t, id, err)) < 0)
        return error;
    *out = artifact_out(rec);
    json_decref(rec);
    return *out ? 0 : GLAREX_ENOMEM_SET(err);
}

int glarex__dir_activate(json_t **out, void *impl, const char *type_name, const char *id,
                         glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = glarex__dir_find_type(type_name);
    json_t *rec = NULL, *af;
    char what[128], stamp[21];
    char *path = NULL;
    const char *status;
    int lockfd = -1, error = 0;

    snprintf(what, sizeof(what), "activate %s/%.40s", type_name, id);
    if (!t)
        return glarex__dir_type_not_found(err, what, type_name);
    if ((error = glarex__dir_lock_store(&lockfd, s, err)) < 0)
        return error;
    if ((error = glarex__dir_read_record(&rec, s, what, t, id, err)) < 0)
        goto done;
    af = rec_artifact(rec);
    status = af_str(af, "status");
    if (strcmp(status, "drafted") == 0) {
        for (size_t i = 0; i < t->nfields; i++) {
            if (t->fields[i].required_on_activate &&
                json_is_null(json_object_get(af, t->fields[i].name))) {
                error = glarex__store_fail(
                    err, GLAREX_EFORBIDDEN, 403,
                    "%s: '%s' field value must be set before activation.", what,
                    t->fields[i].name);
                goto done;
            }
        }
        glarex__dir_now_stamp(stamp, NULL);
        if (json_object_set_new(af, "status", json_string("active")) < 0 ||
            json_object_set_new(af, "updated_at", json_string(stamp)) < 0 ||
            json_object_set_new(af, "activated_at", json_string(stamp)) < 0 ||
            !(path = glarex__dir_store_path(s, "%s/%s/artifact.json", t->name, id))) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        if ((error = glarex__dir_write_json_atomic(s, path, rec, err)) < 0)
            goto done;
    } else if (strcmp(status, "active") != 0) {
        /* Glare: a patch that changes nothing is a 200; others are not ours to make. */
        error = glarex__store_fail(
            err, GLAREX_EFORBIDDEN, 403,
            "%s: Forbidden to change fields if artifact is not active or drafted.", what);
        goto done;
    }
    if (!(*out = artifact_out(rec)))
        error = GLAREX_ENOMEM_SET(err);
done:
    glarex__dir_unlock_store(lockfd);
    json_decref(rec);
    free(path);
    return error;
}

int glarex__dir_remove(void *impl, const char *type_name, const char *id,
                       glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = glarex__dir_find_type(type_name);
    json_t *rec = NULL;
    char what[128], trash_id[37], holder[37];
    char *dir = NULL, *trash = NULL, *type_dir = NULL, *idx = NULL, *index_dir = NULL;
    int lockfd = -1, error = 0;

    snprintf(what, sizeof(what), "delete %s/%.40s", type_name, id);
    if (!t)
        return glarex__dir_type_not_found(err, what, type_name);
    if ((error = glarex__dir_uuid4(trash_id, err)) < 0)
        return error;
    if ((error = glarex__dir_lock_store(&lockfd, s, err)) < 0)
        return error;
    if ((error = glarex__dir_read_record(&rec, s, what, t, id, err)) < 0)
        goto done;
    dir = glarex__dir_store_path(s, "%s/%s", t->name, id);
    trash = glarex__dir_store_path(s, "tmp/%s.deleted-%s", id, trash_id);
    type_dir = glarex__dir_store_path(s, "%s", t->name);
    index_dir = glarex__dir_store_path(s, "%s/index", t->name);
    idx = index_path(s, t, af_str(rec_artifact(rec), "name"),
                     af_str(rec_artifact(rec), "version"));
    if (!dir || !trash || !type_dir || !index_dir || !idx) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    /* One rename makes the artifact and its blobs disappear together. */
    if (rename(dir, trash) < 0) {
        error = glarex__dir_fail_errno(err, errno, "rename", dir);
        goto done;
    }
    if ((error = glarex__dir_fsync_dir(type_dir, err)) < 0)
        goto done;
    /* The artifact is gone: freeing its name and version is best effort, since an
     * entry naming a missing artifact counts as free anyway. */
    if (read_index(holder, idx, NULL) == 0 && strcmp(holder, id) == 0 && unlink(idx) == 0)
        glarex__dir_fsync_dir(index_dir, NULL);
done:
    glarex__dir_unlock_store(lockfd);
    if (trash && access(trash, F_OK) == 0)
        glarex__dir_remove_tree(trash);
    json_decref(rec);
    free(dir);
    free(trash);
    free(type_dir);
    free(index_dir);
    free(idx);
    return error;
}

/* }==================================================================== */
