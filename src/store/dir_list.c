/*
 * Listing in the directory store: Glare's filters, "latest" and sort keys, evaluated
 * over every record of the type, with Glare's messages for what it refuses.
 */
#include "dir.h"

#include "version.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The base fields Glare sorts by, and those it names as not sortable. */
static const char *const sortable_fields[] = {
    "id",         "name",         "owner",      "status",  "created_at",
    "updated_at", "activated_at", "visibility", "version", "display_type_name",
    NULL};
static const char *const other_base_fields[] = {"description", "tags", "metadata", NULL};

typedef enum list_op {
    OP_EQ,
    OP_NEQ,
    OP_IN,
    OP_LIKE,
    OP_GT,
    OP_GTE,
    OP_LT,
    OP_LTE
} list_op;

static const char *const op_names[] = {"eq", "neq", "in", "like",
                                       "gt", "gte", "lt", "lte"};

#define OP_BIT(op) (1u << (op))
#define STRING_OPS (OP_BIT(OP_EQ) | OP_BIT(OP_NEQ) | OP_BIT(OP_IN))
#define LIKE_OPS (STRING_OPS | OP_BIT(OP_LIKE))
#define NUMERIC_OPS                                                                      \
    (STRING_OPS | OP_BIT(OP_GT) | OP_BIT(OP_GTE) | OP_BIT(OP_LT) | OP_BIT(OP_LTE))
#define DATE_OPS (OP_BIT(OP_LT) | OP_BIT(OP_GT))

typedef enum filter_kind {
    KIND_STRING,
    KIND_STATUS, /* a string restricted to Glare's statuses */
    KIND_VERSION,
    KIND_DATE,
    KIND_TAGS,       /* every tag present */
    KIND_TAGS_ANY,   /* at least one tag present */
    KIND_DICT_VALUE, /* metadata.<key> */
    KIND_DICT_KEYS,  /* metadata=key: key present */
    KIND_NONE        /* a field Glare does not filter on */
} filter_kind;

typedef struct field_spec {
    const char *name;
    filter_kind kind;
    unsigned ops;
    const char *ops_text; /* as Glare prints the list in its message */
} field_spec;

/* The operators of each base field, and how Glare's message lists them (a Python
 * list or tuple, as the field declares them). */
static const field_spec filter_fields[] = {
    {"id", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"name", KIND_STRING, LIKE_OPS, "('like', 'eq', 'neq', 'in')"},
    {"owner", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"status", KIND_STATUS, STRING_OPS, "['eq', 'neq', 'in']"},
    {"visibility", KIND_STRING, STRING_OPS, "['eq', 'neq', 'in']"},
    {"display_type_name", KIND_STRING, LIKE_OPS, "('like', 'eq', 'neq', 'in')"},
    {"version", KIND_VERSION, NUMERIC_OPS,
     "('eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte')"},
    {"created_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"updated_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"activated_at", KIND_DATE, DATE_OPS, "['lt', 'gt']"},
    {"description", KIND_NONE, 0, "[]"},
};

static const char *const statuses[] = {"drafted", "active", "deactivated", "deleted",
                                       NULL};

typedef struct list_filter {
    filter_kind kind;
    const char *field; /* artifact JSON member (borrowed) */
    char *key;         /* dict key for KIND_DICT_VALUE (new) */
    list_op op;
    char **values; /* new */
    size_t nvalues;
    long long *times; /* KIND_DATE: values as seconds since the epoch (new) */
} list_filter;

static void filters_dispose(list_filter *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        for (size_t j = 0; j < f[i].nvalues; j++)
            free(f[i].values[j]);
        free(f[i].values);
        free(f[i].key);
        free(f[i].times);
    }
    free(f);
}

static int push_value(list_filter *f, const char *s, size_t len)
{
    char **v = realloc(f->values, (f->nvalues + 1) * sizeof(*v));
    char *copy;
    if (!v)
        return -1;
    f->values = v;
    if (!(copy = malloc(len + 1)))
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    f->values[f->nvalues++] = copy;
    return 0;
}

/* Glare's split_filter_value_for_quotes: comma-separated, '"' quotes a value that
 * holds commas, '\' escapes inside quotes (and is kept, as Glare keeps it). */
static int split_in_values(list_filter *f, const char *what, const char *value,
                           glarex_error *err)
{
    size_t len = strlen(value);
    int open = 1;

    for (size_t i = 0; i < len; i++) { /* validate_quotes */
        if (value[i] != '"' || (i && value[i - 1] == '\\'))
            continue;
        if (open && i && value[i - 1] != ',')
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Invalid filter value %s. There is no comma before opening "
                "quotation mark.",
                what, value);
        if (!open && i + 1 != len && value[i + 1] != ',')
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Invalid filter value %s. There is no comma after closing "
                "quotation mark.",
                what, value);
        open = !open;
    }
    if (!open)
        return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                  "%s: Invalid filter value %s. The quote is not closed.",
                                  what, value);
    for (size_t i = 0; i < len;) {
        size_t start, end;
        if (value[i] == '"') {
            start = ++i;
            while (i < len && value[i] != '"')
                i += value[i] == '\\' && i + 1 < len ? 2 : 1;
            end = i;
            i++; /* the closing quote */
        } else {
            start = i;
            while (i < len && value[i] != ',')
                i++;
            end = i;
        }
        if (push_value(f, value + start, end - start) < 0)
            return GLAREX_ENOMEM_SET(err);
        if (i < len && value[i] == ',')
            i++;
    }
    if (f->nvalues == 0 && push_value(f, "", 0) < 0)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

static int is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds since the epoch of an ISO 8601 time: "YYYY-MM-DDTHH:MM:SS", optional
 * fraction, then "Z", "+HH:MM" or "-HH:MM" (or nothing: UTC). -1 when malformed. */
static int parse_time(long long *out, const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    long long days = 0;
    const char *p;

    if (!s ||
        sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) !=
            6 ||
        n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) ||
        h > 23 || mi > 59 || sec > 60)
        return -1;
    p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        if (*p == '-') {
            oh = -oh;
            om = -om;
        }
        p += 1 + m;
    }
    if (*p)
        return -1;
    for (long yy = 1970; yy < y; yy++)
        days += 365 + is_leap(yy);
    for (long yy = y; yy < 1970; yy++)
        days -= 365 + is_leap(yy);
    for (int m = 1; m < mo; m++)
        days += mdays[m - 1] + (m == 2 && is_leap(y));
    days += d - 1;
    *out = ((days * 24 + h) * 60 + mi) * 60 + sec - (oh * 60 + om) * 60;
    return 0;
}

/* Checks a client-side filter the way the Glare backend checks it before sending. */
static int valid_op_text(const char *op)
{
    if (!*op || strlen(op) > 32)
        return 0;
    for (; *op; op++)
        if (!((*op >= 'a' && *op <= 'z') || *op == '_' || *op == '-'))
            return 0;
    return 1;
}

static int compile_filter(list_filter *lf, const art_type *t, const char *what,
                          size_t index, const glarex_filter *f, glarex_error *err)
{
    const char *op_text = f->op ? f->op : "eq";
    const char *field = f->field, *dot;
    const field_spec *spec = NULL;
    int op = -1, error;

    if (!f->field || !f->field[0] || !f->value)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "list filter %zu: field and value are required", index);
    if (!valid_op_text(op_text))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "list filter on '%s': invalid operator '%s'", f->field,
                                 op_text);
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(op_names[i], op_text) == 0)
            op = (int)i;

    if (strcmp(field, "tags") == 0 || strcmp(field, "tags-any") == 0) {
        /* Glare takes tags without an operator: "tags=a,b". */
        if (f->op || strchr(f->value, ':'))
            return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                      "%s: Tags are filtered without operator", what);
        lf->kind = field[4] ? KIND_TAGS_ANY : KIND_TAGS;
        lf->field = "tags";
        lf->op = OP_EQ;
        for (const char *p = f->value;;) {
            size_t n = strcspn(p, ",");
            if (push_value(lf, p, n) < 0)
                return GLAREX_ENOMEM_SET(err);
            if (!p[n])
                break;
            p += n + 1;
        }
        return 0;
    }
    if ((dot = strrchr(field, '.')) != NULL) {
        const blob_field *bf;
        size_t blen = (size_t)(dot - field);
        char base[64];
        if (blen >= sizeof(base))
            blen = sizeof(base) - 1;
        memcpy(base, field, blen);
        base[blen] = '\0';
        bf = glarex__dir_find_field(t, base);
        if (strcmp(base, "metadata") != 0 && !(bf && bf->is_dict))
            return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                      "%s: Field %s is not Dict", what, base);
        if (bf || (op != OP_EQ && op != OP_NEQ && op != OP_IN))
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Unsupported filter type '%s'.The following filters are "
                "supported %s",
                what, op_text, bf ? "[]" : "['eq', 'neq', 'in']");
        lf->kind = KIND_DICT_VALUE;
        lf->field = "metadata";
        if (!(lf->key = strdup(dot + 1)))
            return GLAREX_ENOMEM_SET(err);
    } else if (strcmp(field, "metadata") == 0 ||
               (glarex__dir_find_field(t, field) &&
                glarex__dir_find_field(t, field)->is_dict)) {
        /* A dict (blob dicts too) filtered by its keys: "metadata=in:a,b". */
        if (op != OP_EQ && op != OP_IN)
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Unsupported filter type '%s'. The following filters are "
                "supported: eq, in",
                what, op_text);
        lf->kind = KIND_DICT_KEYS;
        lf->field = strcmp(field, "metadata") == 0
                        ? "metadata"
                        : glarex__dir_find_field(t, field)->name;
    } else {
        for (size_t i = 0; i < sizeof(filter_fields) / sizeof(filter_fields[0]); i++)
            if (strcmp(filter_fields[i].name, field) == 0)
                spec = &filter_fields[i];
        if (!spec && !glarex__dir_find_field(t, field))
            return glarex__store_fail(err, GLAREX_EINVALID, 400, "%s: Unable filter '%s'",
                                      what, field);
        if (!spec || op < 0 || !(spec->ops & OP_BIT(op)))
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Unsupported filter type '%s'.The following filters are "
                "supported %s",
                what, op_text, spec ? spec->ops_text : "[]");
        lf->kind = spec->kind;
        lf->field = spec->name;
    }
    lf->op = (list_op)op;
    if (op == OP_IN)
        error = split_in_values(lf, what, f->value, err);
    else
        error =
            push_value(lf, f->value, strlen(f->value)) < 0 ? GLAREX_ENOMEM_SET(err) : 0;
    if (error < 0)
        return error;

    /* Coerce the values as Glare's field types do. */
    for (size_t i = 0; i < lf->nvalues; i++) {
        char *v = lf->values[i];
        if (lf->kind == KIND_STATUS && !in_list(statuses, v))
            return glarex__dir_field_error(
                err, what, t, lf->field,
                "Value must be one of the following: drafted, active, "
                "deactivated, deleted");
        if (lf->kind == KIND_VERSION) {
            size_t size = GLAREX__VERSION_NORMAL_SIZE(strlen(v));
            char *norm = malloc(size);
            if (!norm)
                return GLAREX_ENOMEM_SET(err);
            if ((error = glarex__dir_normalize_version(norm, size, what, t, v, err)) <
                0) {
                free(norm);
                return error;
            }
            free(v);
            lf->values[i] = norm;
        }
    }
    if (lf->kind == KIND_DATE) {
        if (!(lf->times = calloc(lf->nvalues, sizeof(*lf->times))))
            return GLAREX_ENOMEM_SET(err);
        for (size_t i = 0; i < lf->nvalues; i++)
            if (parse_time(&lf->times[i], lf->values[i]) < 0)
                return glarex__dir_field_error(err, what, t, lf->field,
                                               "Unable to parse date string '%s'",
                                               lf->values[i]);
    }
    return 0;
}

/* SQL LIKE: '%' any run, '_' any one character; ASCII letters match either case (as
 * the sqlite and MySQL back ends of Glare do). */
static int like_match(const char *s, const char *p)
{
    const char *star_p = NULL, *star_s = NULL;

    while (*s) {
        if (*p == '%') {
            star_p = ++p;
            star_s = s;
        } else if (*p && (*p == '_' ||
                          tolower((unsigned char)*p) == tolower((unsigned char)*s))) {
            p++;
            s++;
        } else if (star_p) {
            p = star_p;
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (*p == '%')
        p++;
    return *p == '\0';
}

static int string_match(const list_filter *f, const char *v)
{
    if (!v)
        return 0; /* SQL: NULL matches no comparison */
    switch (f->op) {
    case OP_EQ:
        return strcmp(v, f->values[0]) == 0;
    case OP_NEQ:
        return strcmp(v, f->values[0]) != 0;
    case OP_LIKE:
        return like_match(v, f->values[0]);
    case OP_IN:
        for (size_t i = 0; i < f->nvalues; i++)
            if (strcmp(v, f->values[i]) == 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int version_match(const list_filter *f, const char *v)
{
    int c = glarex__version_compare(v, f->values[0]);
    switch (f->op) {
    case OP_EQ:
        return c == 0;
    case OP_NEQ:
        return c != 0;
    case OP_GT:
        return c > 0;
    case OP_GTE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    case OP_LTE:
        return c <= 0;
    case OP_IN:
        for (size_t i = 0; i < f->nvalues; i++)
            if (glarex__version_compare(v, f->values[i]) == 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static int tag_present(const json_t *tags, const char *tag)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (strcmp(str_or_empty(json_string_value(t)), tag) == 0)
            return 1;
    }
    return 0;
}

static int filter_match(const list_filter *f, const json_t *af)
{
    const json_t *v = json_object_get(af, f->field);
    long long t;
    size_t i;

    switch (f->kind) {
    case KIND_STRING:
    case KIND_STATUS:
        return string_match(f, json_string_value(v));
    case KIND_VERSION:
        return json_is_string(v) && version_match(f, json_string_value(v));
    case KIND_DATE:
        if (parse_time(&t, json_string_value(v)) < 0)
            return 0;
        return f->op == OP_LT ? t < f->times[0] : t > f->times[0];
    case KIND_TAGS:
        for (i = 0; i < f->nvalues; i++)
            if (!tag_present(v, f->values[i]))
                return 0;
        return 1;
    case KIND_TAGS_ANY:
        for (i = 0; i < f->nvalues; i++)
            if (tag_present(v, f->values[i]))
                return 1;
        return 0;
    case KIND_DICT_VALUE:
        return string_match(f, json_string_value(json_object_get(v, f->key)));
    case KIND_DICT_KEYS:
        for (i = 0; i < f->nvalues; i++)
            if (json_object_get(v, f->values[i]))
                return 1;
        return 0;
    default:
        return 0;
    }
}

typedef enum sort_kind { SORT_STRING, SORT_VERSION, SORT_CREATED } sort_kind;

typedef struct sort_key {
    const char *field;
    sort_kind kind;
    int desc;
} sort_key;

#define MAX_SORT_KEYS 16

static int parse_sort(sort_key *keys, size_t *nkeys, const art_type *t, const char *what,
                      const char *sort, glarex_error *err)
{
    const char *p = sort;

    *nkeys = 0;
    while (sort && *p) {
        size_t n = strcspn(p, ",");
        char item[128], *colon;
        const char *dir = "desc";
        size_t fi;

        if (n >= sizeof(item) || *nkeys >= MAX_SORT_KEYS - 2)
            return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                      "%s: sort '%s' is too long", what, sort);
        memcpy(item, p, n);
        item[n] = '\0';
        p += n + (p[n] == ',');
        if ((colon = strchr(item, ':')) != NULL) {
            *colon = '\0';
            dir = colon + 1;
        }
        if (strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0)
            return glarex__store_fail(
                err, GLAREX_EINVALID, 400,
                "%s: Sort direction must be one of [\"asc\", \"desc\"]. Got %s "
                "direction",
                what, dir);
        for (fi = 0; sortable_fields[fi] && strcmp(sortable_fields[fi], item) != 0; fi++)
            ;
        if (!sortable_fields[fi]) {
            if (in_list(other_base_fields, item) || glarex__dir_find_field(t, item))
                return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                          "%s: The field %s is not sortable.", what,
                                          item);
            return glarex__store_fail(err, GLAREX_EINVALID, 400,
                                      "%s: The field %s doesn't exist.", what, item);
        }
        keys[*nkeys].field = sortable_fields[fi];
        keys[*nkeys].kind = strcmp(item, "version") == 0      ? SORT_VERSION
                            : strcmp(item, "created_at") == 0 ? SORT_CREATED
                                                              : SORT_STRING;
        keys[*nkeys].desc = dir[0] == 'd';
        (*nkeys)++;
    }
    /* Glare's tie-breakers, unless already given. */
    {
        static const sort_key defaults[] = {{"created_at", SORT_CREATED, 1},
                                            {"id", SORT_STRING, 0}};
        for (size_t d = 0; d < 2; d++) {
            int present = 0;
            for (size_t i = 0; i < *nkeys; i++)
                present |= strcmp(keys[i].field, defaults[d].field) == 0;
            if (!present)
                keys[(*nkeys)++] = defaults[d];
        }
    }
    return 0;
}

typedef struct list_item {
    json_t *rec;          /* owns the artifact */
    json_t *af;           /* borrowed from rec */
    long long created_ns; /* finer than created_at's seconds */
    int keep;
} list_item;

typedef struct sort_ctx {
    const sort_key *keys;
    size_t nkeys;
} sort_ctx;

static int compare_items(const list_item *a, const list_item *b, const sort_ctx *c)
{
    for (size_t i = 0; i < c->nkeys; i++) {
        const sort_key *k = &c->keys[i];
        int r;
        if (k->kind == SORT_CREATED) {
            r = (a->created_ns > b->created_ns) - (a->created_ns < b->created_ns);
            if (r == 0)
                r = strcmp(af_str(a->af, "created_at") ? af_str(a->af, "created_at") : "",
                           af_str(b->af, "created_at") ? af_str(b->af, "created_at")
                                                       : "");
        } else {
            const char *x = af_str(a->af, k->field), *y = af_str(b->af, k->field);
            if (!x || !y) /* SQL sorts NULL first in ascending order */
                r = (x != NULL) - (y != NULL);
            else if (k->kind == SORT_VERSION)
                r = glarex__version_compare(x, y);
            else
                r = strcmp(x, y);
        }
        if (r)
            return k->desc ? -r : r;
    }
    return 0;
}

/* A stable merge sort of item pointers (qsort is neither stable nor given a context). */
static void sort_items(list_item **v, list_item **tmp, size_t n, const sort_ctx *c)
{
    size_t mid, i, j, k;

    if (n < 2)
        return;
    mid = n / 2;
    sort_items(v, tmp, mid, c);
    sort_items(v + mid, tmp, n - mid, c);
    for (i = 0, j = mid, k = 0; i < mid && j < n;)
        tmp[k++] = compare_items(v[j], v[i], c) < 0 ? v[j++] : v[i++];
    while (i < mid)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof(*v));
}

/* Loads every artifact of the type (records that vanish meanwhile are skipped). */
static int load_items(list_item **out, size_t *count, const dir_store *s,
                      const art_type *t, const char *what, glarex_error *err)
{
    char *dir = glarex__dir_store_path(s, "%s", t->name);
    list_item *items = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    struct dirent *e;
    int error = 0;

    *out = NULL;
    *count = 0;
    if (!dir)
        return GLAREX_ENOMEM_SET(err);
    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            error = glarex__dir_fail_errno(err, errno, "open directory", dir);
        goto done;
    }
    while ((e = readdir(d)) != NULL) {
        glarex_error rec_err;
        json_t *rec = NULL;
        int rc;
        if (!glarex__dir_is_uuid(e->d_name))
            continue;
        rc = glarex__dir_read_record(&rec, s, what, t, e->d_name, &rec_err);
        if (rc == GLAREX_ENOTFOUND) /* deleted while we listed */
            continue;
        if (rc < 0) {
            if (err)
                *err = rec_err;
            error = rc;
            goto done;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            list_item *p = realloc(items, ncap * sizeof(*p));
            if (!p) {
                json_decref(rec);
                error = GLAREX_ENOMEM_SET(err);
                goto done;
            }
            items = p;
            cap = ncap;
        }
        items[n].rec = rec;
        items[n].af = rec_artifact(rec);
        items[n].created_ns = json_integer_value(json_object_get(rec, "created_ns"));
        items[n].keep = 1;
        n++;
    }
done:
    if (d)
        closedir(d);
    free(dir);
    if (error < 0) {
        for (size_t i = 0; i < n; i++)
            json_decref(items[i].rec);
        free(items);
        return error;
    }
    *out = items;
    *count = n;
    return 0;
}

int glarex__dir_list(json_t **out, void *impl, const char *type_name,
                     const glarex_list_options *opts, glarex_error *err)
{
    dir_store *s = impl;
    const art_type *t = glarex__dir_find_type(type_name);
    list_filter *filters = NULL;
    list_item *items = NULL;
    list_item **order = NULL, **tmp = NULL;
    sort_key keys[MAX_SORT_KEYS];
    size_t nkeys = 0, nitems = 0, nmatch = 0;
    sort_ctx ctx;
    json_t *result = NULL;
    char what[160];
    int error = 0;

    snprintf(what, sizeof(what), "list %s", type_name);
    if (!t)
        return glarex__dir_type_not_found(err, what, type_name);
    if (opts->nfilters && !(filters = calloc(opts->nfilters, sizeof(*filters))))
        return GLAREX_ENOMEM_SET(err);
    for (size_t i = 0; i < opts->nfilters; i++)
        if ((error = compile_filter(&filters[i], t, what, i, &opts->filters[i], err)) < 0)
            goto done;
    if ((error = parse_sort(keys, &nkeys, t, what, opts->sort, err)) < 0)
        goto done;
    if ((error = load_items(&items, &nitems, s, t, what, err)) < 0)
        goto done;

    order = calloc(nitems ? nitems : 1, sizeof(*order));
    tmp = calloc(nitems ? nitems : 1, sizeof(*tmp));
    result = json_array();
    if (!order || !tmp || !result) {
        error = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    for (size_t i = 0; i < nitems; i++) {
        int match = strcmp(af_str(items[i].af, "status"), "deleted") != 0;
        for (size_t f = 0; match && f < opts->nfilters; f++)
            match = filter_match(&filters[f], items[i].af);
        if (match)
            order[nmatch++] = &items[i];
    }
    if (opts->latest) {
        /* Per name, only the highest version among the matches (ties all stay). */
        static const sort_key by_name[] = {{"name", SORT_STRING, 0},
                                           {"version", SORT_VERSION, 1}};
        sort_ctx nctx = {by_name, 2};
        list_item *top = NULL;
        size_t kept = 0;
        sort_items(order, tmp, nmatch, &nctx);
        for (size_t i = 0; i < nmatch; i++) {
            /* The first of each name is its highest version. */
            if (!top ||
                strcmp(af_str(order[i]->af, "name"), af_str(top->af, "name")) != 0)
                top = order[i];
            if (glarex__version_compare(af_str(order[i]->af, "version"),
                                        af_str(top->af, "version")) == 0)
                order[kept++] = order[i];
        }
        nmatch = kept;
    }
    ctx.keys = keys;
    ctx.nkeys = nkeys;
    sort_items(order, tmp, nmatch, &ctx);
    for (size_t i = 0; i < nmatch; i++) {
        if (opts->max_items && i >= opts->max_items)
            break;
        if (json_array_append(result, order[i]->af) < 0) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
    }
    *out = result;
    result = NULL;
done:
    json_decref(result);
    for (size_t i = 0; i < nitems; i++)
        json_decref(items[i].rec);
    free(items);
    free(order);
    free(tmp);
    filters_dispose(filters, opts->nfilters);
    return error;
}
