/* Workflow checks for workflow-create: which workflows a definition holds, which of
 * its glare() references name the artifact being created (self references always do),
 * and which hard-code its name with another version. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *cli_workflow_names(const json_t *doc)
{
    static const char *const reserved[] = {"version", "name",      "description",
                                           "tags",    "workflows", "actions"};
    const json_t *book = json_object_get(doc, "workflows");
    json_t *names, *v;
    const char *k;

    if (!json_is_object(doc))
        return NULL;
    names = json_array();
    if (json_is_object(book)) { /* a workbook: its workflows are under `workflows` */
        json_object_foreach((json_t *)book, k, v)
            json_array_append_new(names, json_string(k));
        return names;
    }
    json_object_foreach((json_t *)doc, k, v) {
        size_t i;
        for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
            if (strcmp(k, reserved[i]) == 0)
                break;
        if (i == sizeof(reserved) / sizeof(reserved[0]))
            json_array_append_new(names, json_string(k));
    }
    return names;
}

/* {====================================================================
 * Versions: just enough semver to tell whether a range holds a version
 * ==================================================================== */

/* Compares dot-separated prerelease identifiers as semver does. */
static int cmp_prerelease(const char *a, const char *b)
{
    while (*a && *b) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int na = la && strspn(a, "0123456789") >= la,
            nb = lb && strspn(b, "0123456789") >= lb;
        int c;
        if (na && nb)
            c = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la);
        else if (na != nb)
            c = na ? -1 : 1; /* numeric identifiers sort first */
        else {
            c = strncmp(a, b, la < lb ? la : lb);
            if (!c && la != lb)
                c = la < lb ? -1 : 1;
        }
        if (c)
            return c;
        a += la + (a[la] == '.');
        b += lb + (b[lb] == '.');
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* Compares two normalised versions (MAJOR.MINOR.PATCH[-PRE][+BUILD]). */
static int cmp_version(const char *a, const char *b)
{
    char *ea, *eb;
    for (int part = 0; part < 3; part++) {
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = ea + (*ea == '.');
        b = eb + (*eb == '.');
    }
    if (*a == '-' && *b == '-') {
        char pa[256], pb[256];
        snprintf(pa, sizeof(pa), "%.*s", (int)strcspn(a + 1, "+"), a + 1);
        snprintf(pb, sizeof(pb), "%.*s", (int)strcspn(b + 1, "+"), b + 1);
        return cmp_prerelease(pa, pb);
    }
    return (*a == '-')   ? -1
           : (*b == '-') ? 1
                         : 0; /* a release sorts after its prerelease */
}

static int satisfies(const char *bound, glarex_ref_op op, const char *v)
{
    int c;
    if (!bound || op == GLAREX_REF_OP_NONE)
        return 1;
    c = cmp_version(v, bound);
    switch (op) {
    case GLAREX_REF_OP_GT:
        return c > 0;
    case GLAREX_REF_OP_GTE:
        return c >= 0;
    case GLAREX_REF_OP_LT:
        return c < 0;
    case GLAREX_REF_OP_LTE:
        return c <= 0;
    default:
        return 1;
    }
}

/* Whether `ref` would name artifact `name` at `version`. */
static int names_artifact(const glarex_ref *ref, const char *name, const char *version)
{
    glarex_ref_op lo = GLAREX_REF_OP_NONE, hi = GLAREX_REF_OP_NONE;
    const char *l, *h;

    if (!glarex_ref_name(ref) || strcmp(glarex_ref_name(ref), name) != 0)
        return 0;
    switch (glarex_ref_kind_of(ref)) {
    case GLAREX_REF_EXACT:
        return strcmp(glarex_ref_version(ref), version) == 0;
    case GLAREX_REF_LATEST:
        return 1; /* the new artifact may well be the latest */
    case GLAREX_REF_RANGE:
        l = glarex_ref_range_lower(ref, &lo);
        h = glarex_ref_range_upper(ref, &hi);
        return satisfies(l, lo, version) && satisfies(h, hi, version);
    default:
        return 0; /* content pins and ids cannot be checked before the upload */
    }
}

/* }==================================================================== */

/* {====================================================================
 * Scanning strings for references
 * ==================================================================== */

typedef struct scan {
    json_t *refs; /* [{ref, key}] */
    const char *name, *version;
    glarex_error *err;
    int rc;
} scan;

/* Records a reference to another version of the artifact being created: it would
 * read that version's resources, not its own. */
static void add_other_version(scan *s, const glarex_ref *ref)
{
    glarex_buf text = GLAREX_BUF_INIT;
    if (glarex_ref_format(&text, ref) < 0)
        return;
    json_array_append_new(s->refs, json_pack("{s:s, s:s?, s:s}", "ref", text.ptr, "key",
                                             glarex_ref_key(ref), "other_version",
                                             glarex_ref_version(ref)));
    glarex_buf_dispose(&text);
}

static void add_ref(scan *s, glarex_ref *ref)
{
    glarex_buf text = GLAREX_BUF_INIT;
    json_t *r;
    size_t i;

    if (glarex_ref_kind_of(ref) == GLAREX_REF_EXACT && glarex_ref_name(ref) &&
        strcmp(glarex_ref_name(ref), s->name) == 0 &&
        strcmp(glarex_ref_version(ref), s->version) != 0) {
        add_other_version(s, ref);
        return;
    }
    if (!names_artifact(ref, s->name, s->version))
        return;
    if (!glarex_ref_key(ref) && strcmp(glarex_ref_field(ref), "workflow") != 0)
        return; /* another blob field: nothing --resource could provide */
    if (glarex_ref_format(&text, ref) < 0)
        return;
    json_array_foreach(
        s->refs, i,
        r) if (strcmp(json_string_value(json_object_get(r, "ref")), text.ptr) == 0)
    {
        glarex_buf_dispose(&text);
        return;
    }
    json_array_append_new(
        s->refs, json_pack("{s:s, s:s?}", "ref", text.ptr, "key", glarex_ref_key(ref)));
    glarex_buf_dispose(&text);
}

/* glare('KEY'), glare://KEY and glare:///KEY name a resource of the workflow's own
 * artifact (docs/references.md): the reference it stands for (new, or NULL when out
 * of memory); 0 when `text` is an ordinary URI or no reference at all. */
static int self_ref(glarex_ref **out, const char *text, const char *name, const char *version)
{
    const char *rest = strncmp(text, "glare://", 8) == 0 ? text + 8 : NULL;
    glarex_ref *decoded = NULL;

    *out = NULL;
    if (rest && rest[0] != '/' && strpbrk(rest, "/?#@{},"))
        return 0;
    if (!rest) {
        if (!*text || strstr(text, "://"))
            return 0;
        glarex_ref_from_args(out, name, version, text, NULL);
        return *out != NULL;
    }
    /* a URI's key is percent-encoded: let the parser decode it */
    char *uri = NULL;
    if (asprintf(&uri, "glare://_/%s", rest[0] == '/' ? rest + 1 : rest) < 0)
        return 0;
    if (glarex_ref_parse(&decoded, uri, NULL) == 0)
        glarex_ref_from_args(out, name, version, glarex_ref_key(decoded), NULL);
    glarex_ref_free(decoded);
    free(uri);
    return *out != NULL; /* else the ordinary parse reports what is wrong */
}

static void check_call(scan *s, char **args, int n)
{
    glarex_ref *ref = NULL;
    glarex_error e;
    int rc;

    if (n == 1 && self_ref(&ref, args[0], s->name, s->version))
        rc = 0;
    else if (n == 1)
        rc = glarex_ref_parse(&ref, args[0], &e);
    else
        rc = glarex_ref_from_args(&ref, args[0], args[1], n == 3 ? args[2] : NULL, &e);
    if (rc < 0) {
        if (!s->rc) { /* the first error wins */
            s->rc = rc;
            *s->err = e;
        }
        return;
    }
    add_ref(s, ref);
    glarex_ref_free(ref);
}

static int is_ident(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '$' || ch == '.';
}

/* Parses "('a', 'b', 'c')" at p: up to three string literals. Returns the end of the
 * call and the arguments (new), or NULL when an argument is not a literal. */
static const char *parse_call(const char *p, char **args, int *n)
{
    *n = 0;
    p++; /* '(' */
    for (;;) {
        char q, *a, *o;
        while (isspace((unsigned char)*p))
            p++;
        if (*n == 0 && *p == ')')
            return NULL;
        if ((*p != '\'' && *p != '"') || *n == 3)
            return NULL;
        q = *p++;
        a = o = malloc(strlen(p) + 1);
        if (!a)
            return NULL;
        while (*p && *p != q) {
            if (*p == '\\' && p[1])
                p++;
            *o++ = *p++;
        }
        *o = '\0';
        args[(*n)++] = a;
        if (!*p)
            return NULL;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ')')
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static void scan_string(scan *s, const char *str)
{
    static const char *const suffixes[] = {"_path", "_b64", "_info", ""};
    const char *spans[32][2];
    size_t nspans = 0;

    /* glare(...), glare_path(...), glare_b64(...), glare_info(...) with literals */
    for (const char *p = strstr(str, "glare"); p; p = strstr(p + 1, "glare")) {
        const char *q = p + 5, *end;
        char *args[3] = {NULL, NULL, NULL};
        int n = 0;
        if (p > str && is_ident(p[-1]))
            continue;
        for (size_t i = 0; i < 4; i++)
            if (strncmp(q, suffixes[i], strlen(suffixes[i])) == 0) {
                q += strlen(suffixes[i]);
                break;
            }
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '(')
            continue;
        end = parse_call(q, args, &n);
        if (end) {
            check_call(s, args, n);
            if (nspans < 32) {
                spans[nspans][0] = p;
                spans[nspans++][1] = end;
            }
        }
        for (int i = 0; i < 3; i++)
            free(args[i]);
    }
    /* glare:// URIs anywhere else: quoted, or up to white space */
    for (const char *p = strstr(str, "glare://"); p; p = strstr(p + 1, "glare://")) {
        const char *e = p + 8;
        char *uri;
        size_t i;
        for (i = 0; i < nspans; i++)
            if (p >= spans[i][0] && p < spans[i][1])
                break;
        if (i < nspans || (p > str && is_ident(p[-1])))
            continue;
        if (p > str && (p[-1] == '\'' || p[-1] == '"')) {
            e = strchr(p, p[-1]);
            e = e ? e : p + strlen(p);
        } else {
            if (*e == '{') /* glare://{name, 1.0}/key holds a space */
                e = strchr(e, '}') ? strchr(e, '}') : e;
            while (*e && !isspace((unsigned char)*e) && !strchr("'\"<>|,)", *e) &&
                   strncmp(e, "%>", 2) != 0 && strncmp(e, "}}", 2) != 0)
                e++;
        }
        uri = strndup(p, (size_t)(e - p));
        if (uri)
            check_call(s, &uri, 1);
        free(uri);
    }
}

static void walk(scan *s, const json_t *v)
{
    size_t i;
    const char *k;
    json_t *item;

    if (json_is_string(v))
        scan_string(s, json_string_value(v));
    else if (json_is_array(v))
        json_array_foreach(v, i, item) walk(s, item);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, item) walk(s, item);
}

int cli_lint_refs(json_t **out, const json_t *doc, const char *name, const char *version,
                  glarex_error *err)
{
    scan s = {json_array(), name, version, err, 0};

    *out = NULL;
    if (!s.refs)
        return cli_set_error(err, GLAREX_ENOMEM, "out of memory");
    walk(&s, doc);
    if (s.rc < 0) {
        json_decref(s.refs);
        return s.rc;
    }
    *out = s.refs;
    return 0;
}

/* }==================================================================== */
