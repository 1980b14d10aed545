/*
 * The directory store's fields as Glare checks them: a create request's name, version,
 * description, tags and metadata are coerced and limited as Glare's field types do it,
 * with Glare's own messages, so that a caller gets the answers a Glare server gives.
 */
#include "dir.h"

#include "version.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER "local"
#define MAX_DESCRIPTION_LENGTH GLAREX_LOCAL_MAX_DESCRIPTION_LENGTH

/* The base fields Glare sets itself: a create request may not name them. */
static const char *const system_fields[] = {"id",         "owner",        "created_at",
                                            "updated_at", "activated_at", NULL};

int glarex__dir_field_error(glarex_error *err, const char *what, const art_type *t,
                            const char *field, const char *fmt, ...)
{
    char text[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return glarex__store_fail(err, GLAREX_EINVALID, 400,
                              "%s: Type: %s. Field: %s. Exception: %s", what, t->name,
                              field, text);
}

/* A string field's value as oslo's StringField coerces it (str, int and float are
 * accepted, as Python's str() shows them), new; NULL when it is not a string. */
static char *coerce_string(const json_t *v)
{
    char num[64];

    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return strdup(num);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Python prints 1.0 as "1.0", not "1". */
        snprintf(num, sizeof(num), "%.17g", d);
        if (strtod(num, NULL) == d) {
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(num, sizeof(num), "%.*g", prec, d);
                if (strtod(num, NULL) == d)
                    break;
            }
        }
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0");
        return strdup(num);
    }
    return NULL;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "dict";
    case JSON_ARRAY:
        return "list";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "NoneType";
    default:
        return "str";
    }
}

int glarex__dir_string_field(char **out, const json_t *v, size_t min, size_t max,
                             const char *what, const art_type *t, const char *field,
                             glarex_error *err)
{
    char *s;
    size_t len;

    *out = NULL;
    if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
        return glarex__dir_field_error(err, what, t, field,
                                       "A string is required in field %s, not a str "
                                       "holding NUL",
                                       field);
    if (!(s = coerce_string(v))) {
        if (!json_is_string(v) && !json_is_number(v))
            return glarex__dir_field_error(err, what, t, field,
                                           "A string is required in field %s, not a %s",
                                           field, json_type_name(v));
        return GLAREX_ENOMEM_SET(err);
    }
    len = strlen(s);
    if (len > max || len < min) {
        free(s);
        return glarex__dir_field_error(
            err, what, t, field, "String length must be %s than  %zu. Current size: %zu",
            len > max ? "less" : "more", len > max ? max : min, len);
    }
    *out = s;
    return 0;
}

static int cmp_json_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a),
                  json_string_value(*(json_t *const *)b));
}

int glarex__dir_normalize_version(char *out, size_t size, const char *what,
                                  const art_type *t, const char *text, glarex_error *err)
{
    glarex__version_status st = glarex__version_normalize(out, size, text, strlen(text),
                                                          GLAREX__VERSION_COERCE, NULL);

    switch (st) {
    case GLAREX__VERSION_OK:
        return 0;
    case GLAREX__VERSION_NO_NUMBER:
        return glarex__dir_field_error(err, what, t, "version",
                                       "Version string lacks a numerical component: '%s'",
                                       text);
    case GLAREX__VERSION_TOO_LARGE:
        /* Glare answers these two with a 500 (InvalidVersion, an upstream bug). */
        return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                  "%s: Version component is too large (%d max): '%s'",
                                  what, GLAREX__VERSION_MAX_COMPONENT, text);
    case GLAREX__VERSION_PRERELEASE_TOO_LONG:
        return glarex__store_fail(
            err, GLAREX_EINVALID, 400,
            "%s: Prerelease numeric component is too large (%d characters max): '%s'",
            what, GLAREX__VERSION_MAX_PRERELEASE_DIGITS, text);
    default:
        return glarex__dir_field_error(err, what, t, "version",
                                       "Invalid version string: '%s' (%s)", text,
                                       glarex__version_status_text(st));
    }
}

int glarex__dir_request_version(char **out, const json_t *v, const char *what,
                                const art_type *t, glarex_error *err)
{
    char *text = NULL, *norm = NULL;
    size_t size;
    int error;

    *out = NULL;
    if (!v || json_is_null(v))
        text = strdup("0.0.0");
    else if (json_is_boolean(v))
        text = strdup(json_is_true(v) ? "True" : "False"); /* Python's str() */
    else if (json_is_string(v) || json_is_number(v))
        text = coerce_string(v);
    else
        return glarex__dir_field_error(err, what, t, "version",
                                       "A string is required in field version, "
                                       "not a %s",
                                       json_type_name(v));
    if (!text)
        return GLAREX_ENOMEM_SET(err);
    size = GLAREX__VERSION_NORMAL_SIZE(strlen(text));
    if (!(norm = malloc(size))) {
        free(text);
        return GLAREX_ENOMEM_SET(err);
    }
    if ((error = glarex__dir_normalize_version(norm, size, what, t, text, err)) < 0) {
        free(norm);
        free(text);
        return error;
    }
    free(text);
    *out = norm;
    return 0;
}

/* Checks one field of a create request and puts its value into `af`. */
static int create_field(json_t *af, const art_type *t, const char *what, const char *key,
                        json_t *value, glarex_error *err)
{
    char *s = NULL;
    int error;

    if (strcmp(key, "name") == 0 || strcmp(key, "version") == 0)
        return 0; /* handled by the caller */
    if (glarex__dir_find_field(t, key))
        return glarex__store_fail(
            err, GLAREX_EINVALID, 400,
            "%s: Cannot add blob with this request. Use special Blob API for that.",
            what);
    if (in_list(system_fields, key))
        return glarex__store_fail(
            err, GLAREX_EFORBIDDEN, 403,
            "%s: Forbidden to specify system field %s. It is not available for "
            "modifying by users.",
            what, key);
    if (strcmp(key, "description") == 0) {
        if (json_is_null(value))
            s = strdup("");
        else if ((error = glarex__dir_string_field(&s, value, 0, MAX_DESCRIPTION_LENGTH,
                                                   what, t, key, err)) < 0)
            return error;
        if (!s || json_object_set_new(af, key, json_string(s)) < 0) {
            free(s);
            return GLAREX_ENOMEM_SET(err);
        }
        free(s);
        return 0;
    }
    if (strcmp(key, "tags") == 0) {
        json_t *tags, *tag;
        json_t **v = NULL;
        size_t i, n = 0;

        if (json_is_null(value))
            return json_object_set_new(af, key, json_array()) < 0 ? GLAREX_ENOMEM_SET(err)
                                                                  : 0;
        if (!json_is_array(value))
            return glarex__dir_field_error(err, what, t, key,
                                           "A list is required in field tags, not a %s",
                                           json_type_name(value));
        if (!(tags = json_array()))
            return GLAREX_ENOMEM_SET(err);
        json_array_foreach(value, i, tag)
        {
            json_t *seen;
            size_t j;
            int dup = 0;
            if ((error = glarex__dir_string_field(&s, tag, 0, MAX_NAME_LENGTH, what, t,
                                                  key, err)) < 0) {
                json_decref(tags);
                return error;
            }
            json_array_foreach(tags, j, seen)
            {
                dup |= strcmp(json_string_value(seen), s) == 0;
            }
            if (!*s || strpbrk(s, ",/")) {
                /* What Glare's ForbiddenChars and MinStrLen really answer. */
                error = glarex__dir_field_error(
                    err, what, t, key, "%s",
                    *s ? "must be real number, not str"
                       : "String length must be more than  1. Current size: 0");
                free(s);
                json_decref(tags);
                return error;
            }
            if (!dup && json_array_append_new(tags, json_string(s)) < 0) {
                free(s);
                json_decref(tags);
                return GLAREX_ENOMEM_SET(err);
            }
            free(s);
            s = NULL;
        }
        if (json_array_size(tags) > 255) {
            error = glarex__dir_field_error(
                err, what, t, key,
                "Number of items must be less than  255. Current size: %zu",
                json_array_size(tags));
            json_decref(tags);
            return error;
        }
        /* A set in Glare: the order is not kept; sorted, as the test server shows it. */
        n = json_array_size(tags);
        if (n > 1) {
            if (!(v = malloc(n * sizeof(*v)))) {
                json_decref(tags);
                return GLAREX_ENOMEM_SET(err);
            }
            for (i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(tags, i));
            qsort(v, n, sizeof(*v), cmp_json_strings);
            json_array_clear(tags);
            for (i = 0; i < n; i++)
                json_array_append_new(tags, v[i]);
            free(v);
        }
        return json_object_set_new(af, key, tags) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    }
    if (strcmp(key, "metadata") == 0) {
        json_t *meta, *v;
        const char *k;

        if (json_is_null(value))
            return json_object_set_new(af, key, json_object()) < 0
                       ? GLAREX_ENOMEM_SET(err)
                       : 0;
        if (!json_is_object(value))
            return glarex__dir_field_error(
                err, what, t, key, "A dict is required in field metadata, not a %s",
                json_type_name(value));
        if (json_object_size(value) > 255)
            return glarex__dir_field_error(
                err, what, t, key,
                "Number of items must be less than  255. Current size: %zu",
                json_object_size(value));
        if (!(meta = json_object()))
            return GLAREX_ENOMEM_SET(err);
        json_object_foreach(value, k, v)
        {
            if (strlen(k) > 255 || !*k) {
                json_decref(meta);
                return glarex__dir_field_error(err, what, t, key,
                                               "Dict key length %s must be %s.", k,
                                               *k ? "less than 255" : "bigger than 1");
            }
            if ((error = glarex__dir_string_field(&s, v, 1, 255, what, t, key, err)) <
                0) {
                json_decref(meta);
                return error;
            }
            if (json_object_set_new(meta, k, json_string(s)) < 0) {
                free(s);
                json_decref(meta);
                return GLAREX_ENOMEM_SET(err);
            }
            free(s);
            s = NULL;
        }
        return json_object_set_new(af, key, meta) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    }
    return glarex__store_fail(err, GLAREX_EINVALID, 400,
                              "%s: Cannot add new field '%s' to artifact.", what, key);
}

int glarex__dir_new_artifact(json_t **out, const art_type *t, const char *what,
                             const json_t *fields, const char *id, const char *name,
                             const char *version, const char *stamp, glarex_error *err)
{
    json_t *af = json_object();
    const char *key;
    json_t *value;
    int error = 0, ok = 1;

    *out = NULL;
    if (!af)
        return GLAREX_ENOMEM_SET(err);
    for (size_t i = 0; i < t->nfields; i++)
        ok &=
            json_object_set_new(af, t->fields[i].name,
                                t->fields[i].is_dict ? json_object() : json_null()) == 0;
    ok &= json_object_set_new(af, "id", json_string(id)) == 0;
    ok &= json_object_set_new(af, "name", json_string(name)) == 0;
    ok &= json_object_set_new(af, "owner", json_string(OWNER)) == 0;
    ok &= json_object_set_new(af, "status", json_string("drafted")) == 0;
    ok &= json_object_set_new(af, "created_at", json_string(stamp)) == 0;
    ok &= json_object_set_new(af, "updated_at", json_string(stamp)) == 0;
    ok &= json_object_set_new(af, "activated_at", json_null()) == 0;
    ok &= json_object_set_new(af, "description", json_string("")) == 0;
    ok &= json_object_set_new(af, "tags", json_array()) == 0;
    ok &= json_object_set_new(af, "metadata", json_object()) == 0;
    ok &= json_object_set_new(af, "visibility", json_string("private")) == 0;
    ok &= json_object_set_new(af, "version", json_string(version)) == 0;
    ok &= json_object_set_new(af, "display_type_name", json_string(t->display_name)) == 0;
    if (!ok) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    json_object_foreach((json_t *)fields, key, value)
    {
        if ((error = create_field(af, t, what, key, value, err)) < 0)
            goto done;
    }
    *out = af;
    af = NULL;
done:
    json_decref(af);
    return error;
}
