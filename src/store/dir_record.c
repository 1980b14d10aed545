/*
 * The directory store's artifact types and records: the types it knows (their blob
 * fields), and reading ROOT/<type>/<id>/artifact.json, checked to be a whole record
 * of that artifact before anyone uses it.
 */
#include "dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RECORD_SIZE (64u * 1024 * 1024)

/* {====================================================================
 * Artifact types
 * ==================================================================== */

static const blob_field workflow_fields[] = {
    {GLAREX_DEFAULT_WORKFLOW_FIELD, 0, 1},
    {GLAREX_DEFAULT_RESOURCES_FIELD, 1, 0},
};

static const art_type known_types[] = {
    {GLAREX_DEFAULT_TYPE, "Workflows", workflow_fields,
     sizeof(workflow_fields) / sizeof(workflow_fields[0])},
};

const art_type *glarex__dir_find_type(const char *name)
{
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
        if (strcmp(known_types[i].name, name) == 0)
            return &known_types[i];
    return NULL;
}

const blob_field *glarex__dir_find_field(const art_type *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return &t->fields[i];
    return NULL;
}

/* }==================================================================== */

/* {====================================================================
 * Artifact records
 * ==================================================================== */

static int not_found(glarex_error *err, const char *what, const char *id)
{
    return glarex__store_fail(err, GLAREX_ENOTFOUND, 404,
                              "%s: Artifact with id=%s not found.", what, id);
}

int glarex__dir_type_not_found(glarex_error *err, const char *what, const char *type_name)
{
    return glarex__store_fail(err, GLAREX_ENOTFOUND, 404,
                              "%s: Glare type with name '%s' was not found.", what,
                              type_name);
}

int glarex__dir_read_record(json_t **out, const dir_store *s, const char *what,
                            const art_type *t, const char *id, glarex_error *err)
{
    char *path = NULL;
    json_t *rec = NULL, *af, *files;
    json_error_t jerr;
    struct stat st;
    int fd = -1, error = 0;

    *out = NULL;
    if (!glarex__dir_is_uuid(id))
        return not_found(err, what, id);
    if (!(path = glarex__dir_store_path(s, "%s/%s/artifact.json", t->name, id)))
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = (errno == ENOENT || errno == ENOTDIR)
                    ? not_found(err, what, id)
                    : glarex__dir_fail_errno(err, errno, "open", path);
        goto done;
    }
    if (fstat(fd, &st) < 0) {
        error = glarex__dir_fail_errno(err, errno, "stat", path);
        goto done;
    }
    if (st.st_size > (off_t)MAX_RECORD_SIZE) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "artifact record '%s' is larger than %u bytes", path,
                                  MAX_RECORD_SIZE);
        goto done;
    }
    rec = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!rec) {
        error = glarex__error_set(err, GLAREX_EIO,
                                  "corrupt artifact record '%s': %s (line %d)", path,
                                  jerr.text, jerr.line);
        goto done;
    }
    af = json_object_get(rec, "artifact");
    files = json_object_get(rec, "files");
    if (json_integer_value(json_object_get(rec, "format")) != RECORD_FORMAT ||
        !json_is_object(af) || !json_is_object(files) ||
        !json_is_string(json_object_get(af, "name")) ||
        !json_is_string(json_object_get(af, "version")) ||
        !json_is_string(json_object_get(af, "status")) ||
        strcmp(str_or_empty(json_string_value(json_object_get(af, "id"))), id) != 0) {
        error =
            glarex__error_set(err, GLAREX_EIO,
                              "corrupt artifact record '%s': not a format %d record of "
                              "artifact %s",
                              path, RECORD_FORMAT, id);
        goto done;
    }
    *out = rec;
    rec = NULL;
done:
    if (fd >= 0)
        close(fd);
    json_decref(rec);
    free(path);
    return error;
}

/* }==================================================================== */
