/*
 * YAML to JSON with libyaml's event parser. Plain scalars are resolved with PyYAML's
 * YAML 1.1 implicit resolvers (resolver.py), because Mistral's yaml_parse() is
 * yaml.safe_load and a workflow must read the same here as there. Explicit tags are
 * those safe_load constructs, each on its own kind of node; any other is an error.
 */
#include "yaml_json.h"

#include "common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 200
/* Aliases share nodes, but every walk over the result (a JSON dump, the evaluator, the
 * reference check) visits a shared node once per path to it: what aliases add to the
 * document, expanded, is capped, so a few hundred bytes cannot stand for billions of
 * nodes. (What is written out is bounded by the text's length.) */
#define MAX_EXPANDED_NODES 1000000
#define MAX_EXPANDED_BYTES (64u << 20) /* of scalar text */

enum scalar_kind { K_STR, K_BOOL, K_FLOAT, K_INT, K_MERGE, K_NULL, K_TIMESTAMP, K_VALUE };

/* PyYAML's implicit resolvers, in the order it tries them. */
static const struct {
    enum scalar_kind kind;
    const char *pattern;
} resolvers[] = {
    {K_BOOL, "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"},
    {K_FLOAT, "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?"
              "|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
              "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
              "|[-+]?\\.(inf|Inf|INF)"
              "|\\.(nan|NaN|NAN))$"},
    {K_INT, "^([-+]?0b[0-1_]+"
            "|[-+]?0[0-7_]+"
            "|[-+]?(0|[1-9][0-9_]*)"
            "|[-+]?0x[0-9a-fA-F_]+"
            "|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$"},
    {K_MERGE, "^<<$"},
    {K_NULL, "^(~|null|Null|NULL|)$"},
    {K_TIMESTAMP, "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                  "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
                  "([Tt]|[ \t]+)[0-9][0-9]?"
                  ":[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?"
                  "([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$"},
    {K_VALUE, "^=$"},
};

#define NRESOLVERS (sizeof(resolvers) / sizeof(resolvers[0]))

/* The resolvers, compiled once per process: compiling them took most of the time of
 * parsing a small document. regexec on a compiled pattern is safe from any thread. */
static regex_t resolver_re[NRESOLVERS];
static int resolvers_compiled; /* how many compiled, NRESOLVERS when all */
static pthread_once_t resolvers_once = PTHREAD_ONCE_INIT;

static void compile_resolvers(void)
{
    while (resolvers_compiled < (int)NRESOLVERS &&
           regcomp(&resolver_re[resolvers_compiled], resolvers[resolvers_compiled].pattern,
                   REG_EXTENDED | REG_NOSUB) == 0)
        resolvers_compiled++;
}

/* The size of a node with its aliases expanded. */
typedef struct expanded {
    size_t nodes, bytes;
} expanded;

typedef struct anchor {
    char *name;
    json_t *value;
    expanded size;
} anchor;

typedef struct builder {
    yaml_parser_t parser;
    const regex_t *re; /* resolver_re */
    size_t nre;
    anchor *anchors;
    size_t nanchors;
    expanded total;   /* of the document so far, aliases expanded */
    expanded aliased; /* the part of `total` that aliases added */
    const char *source;
    glarex_error *err;
} builder;

static int fail_at(builder *b, int code, const yaml_mark_t *mark, const char *what)
{
    glarex__error_set(b->err, code, "%s: %s (line %zu, column %zu)", b->source, what,
                      mark->line + 1, mark->column + 1);
    glarex__error_at(b->err, b->source, mark->index, (int)mark->line + 1,
                     (int)mark->column + 1);
    return code;
}

static void grow(expanded *e, expanded more)
{
    e->nodes += more.nodes;
    e->bytes += more.bytes;
}

/* Counts what an alias adds (its anchor's node, expanded); fails at `mark` beyond the
 * caps. */
static int follow(builder *b, const anchor *a, const yaml_mark_t *mark)
{
    if (a->size.nodes > MAX_EXPANDED_NODES - b->aliased.nodes ||
        a->size.bytes > MAX_EXPANDED_BYTES - b->aliased.bytes) {
        char what[200];
        snprintf(what, sizeof(what),
                 "aliases expand the document by more than %d nodes or %u MiB of text "
                 "(an alias bomb?)",
                 MAX_EXPANDED_NODES, MAX_EXPANDED_BYTES >> 20);
        return fail_at(b, GLAREX_ETOOBIG, mark, what);
    }
    grow(&b->aliased, a->size);
    grow(&b->total, a->size);
    return 0;
}

static enum scalar_kind resolve_plain(builder *b, const char *s)
{
    for (size_t i = 0; i < b->nre; i++)
        if (regexec(&b->re[i], s, 0, NULL, 0) == 0)
            return resolvers[i].kind;
    return K_STR;
}

/* The tags yaml.safe_load has a constructor for (SafeConstructor) and the node each
 * takes. Any other tag, !!python/... among them, makes safe_load fail, and so it does
 * here: a workflow Mistral refuses is refused. */
enum node_kind { N_SCALAR, N_SEQUENCE, N_MAPPING };
#define YAML_BINARY_TAG "tag:yaml.org,2002:binary"
#define YAML_SET_TAG "tag:yaml.org,2002:set"
#define YAML_OMAP_TAG "tag:yaml.org,2002:omap"
#define YAML_PAIRS_TAG "tag:yaml.org,2002:pairs"
static const struct {
    const char *tag;
    enum node_kind node;
    enum scalar_kind kind; /* of a scalar */
    const char *refused;   /* why JSON cannot carry what safe_load makes, or NULL */
} safe_tags[] = {
    {YAML_STR_TAG, N_SCALAR, K_STR, NULL},
    {YAML_BOOL_TAG, N_SCALAR, K_BOOL, NULL},
    {YAML_FLOAT_TAG, N_SCALAR, K_FLOAT, NULL},
    {YAML_INT_TAG, N_SCALAR, K_INT, NULL},
    {YAML_NULL_TAG, N_SCALAR, K_NULL, NULL},
    {YAML_TIMESTAMP_TAG, N_SCALAR, K_TIMESTAMP, NULL},
    {YAML_BINARY_TAG, N_SCALAR, K_STR, "makes Python bytes, which JSON cannot carry"},
    {YAML_SEQ_TAG, N_SEQUENCE, K_STR, NULL},
    {YAML_MAP_TAG, N_MAPPING, K_STR, NULL},
    {YAML_SET_TAG, N_MAPPING, K_STR, "makes a Python set, which JSON cannot carry"},
    {YAML_OMAP_TAG, N_SEQUENCE, K_STR, "makes a list of Python tuples, which glarex does not read"},
    {YAML_PAIRS_TAG, N_SEQUENCE, K_STR, "makes a list of Python tuples, which glarex does not read"},
};

/* Whether a node is resolved from its content, as if untagged: no tag, or the
 * non-specific "!" (which PyYAML resolves like a plain scalar, even a quoted one). */
static int untagged(const char *tag)
{
    return !tag || strcmp(tag, "!") == 0;
}

/* Checks an explicit tag on a node of kind `node`: 0 (and the scalar kind in *kind),
 * or the error safe_load gives. */
static int check_tag(builder *b, const char *tag, enum node_kind node, const yaml_mark_t *mark,
                     enum scalar_kind *kind)
{
    static const char *const names[] = {"scalar", "sequence", "mapping"};
    char what[600];
    for (size_t i = 0; i < sizeof(safe_tags) / sizeof(safe_tags[0]); i++) {
        if (strcmp(safe_tags[i].tag, tag) != 0)
            continue;
        if (safe_tags[i].node != node) {
            snprintf(what, sizeof(what), "the tag '%s' expects a %s node, but found a %s", tag,
                     names[safe_tags[i].node], names[node]);
            return fail_at(b, GLAREX_EINVALID, mark, what);
        }
        if (safe_tags[i].refused) {
            snprintf(what, sizeof(what), "the tag '%s' %s", tag, safe_tags[i].refused);
            return fail_at(b, GLAREX_EUNSUPPORTED, mark, what);
        }
        *kind = safe_tags[i].kind;
        return 0;
    }
    snprintf(what, sizeof(what),
             "could not determine a constructor for the tag '%.400s' (yaml.safe_load, which "
             "Mistral reads YAML with, refuses it: remove the tag)",
             tag);
    return fail_at(b, GLAREX_EINVALID, mark, what);
}

/* Whether `s` (after a sign) is what PyYAML's int constructor reads without error,
 * '_' removed: 0, 0b.., 0x.., 0 then octal digits, sexagesimal 1:30, or decimal. */
static int valid_int(const char *s)
{
    size_t n;
    if (*s == '-' || *s == '+')
        s++;
    if (strcmp(s, "0") == 0)
        return 1;
    if (s[0] == '0' && s[1] == 'b')
        return s[2] && s[2 + strspn(s + 2, "01")] == '\0';
    if (s[0] == '0' && s[1] == 'x')
        return s[2] && s[2 + strspn(s + 2, "0123456789abcdefABCDEF")] == '\0';
    if (s[0] == '0')
        return s[1 + strspn(s + 1, "01234567")] == '\0';
    if (*s < '1' || *s > '9')
        return 0;
    for (;;) { /* digits, or digit groups joined by ':' */
        n = strspn(s, "0123456789");
        if (n == 0)
            return 0;
        s += n;
        if (*s == '\0')
            return 1;
        if (*s++ != ':')
            return 0;
    }
}

/* A decimal float as Python's float() reads it: digits with at most one '.', at least
 * one digit, then an optional exponent. */
static const char *decimal_float_end(const char *s)
{
    size_t whole = strspn(s, "0123456789"), frac = 0;
    s += whole;
    if (*s == '.') {
        frac = strspn(s + 1, "0123456789");
        s += 1 + frac;
    }
    if (whole + frac == 0)
        return NULL;
    if (*s == 'e') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!strspn(s, "0123456789"))
            return NULL;
        s += strspn(s, "0123456789");
    }
    return s;
}

/* Whether `s` (lower-cased, '_' removed) is what PyYAML's float constructor reads. */
static int valid_float(const char *s)
{
    const char *end;
    if (*s == '-' || *s == '+')
        s++;
    if (strcmp(s, ".inf") == 0 || strcmp(s, ".nan") == 0)
        return 1;
    for (;;) { /* one decimal float, or several joined by ':' */
        if (!(end = decimal_float_end(s)))
            return 0;
        if (*end == '\0')
            return 1;
        if (*end != ':')
            return 0;
        s = end + 1;
    }
}

/* yes/no/true/false/on/off in any case: 1, 0, or -1 for anything else. */
static int bool_value(const char *s)
{
    static const char *const words[] = {"yes", "true", "on", "no", "false", "off"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0)
            return i < 3;
    return -1;
}

/* The scalar without '_' separators, optionally lower-cased (new, or NULL). */
static char *cleaned(const char *s, int lower)
{
    char *out = malloc(strlen(s) + 1), *p = out;
    if (!out)
        return NULL;
    for (; *s; s++)
        if (*s != '_')
            *p++ = lower && *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
    *p = '\0';
    return out;
}

/* Python's int() of a YAML 1.1 integer: 0 ok, -1 beyond 64 bits, -2 out of memory. */
static int parse_int(const char *text, long long *out)
{
    char *s = cleaned(text, 0), *p;
    int neg = 0, rc = 0;
    unsigned long long v = 0, limit;

    if (!s)
        return -2;
    p = s;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    if (strchr(p, ':')) {
        /* sexagesimal: 1:30 is 90 */
        for (char *save = NULL, *part = strtok_r(p, ":", &save); part;
             part = strtok_r(NULL, ":", &save)) {
            unsigned long long d = strtoull(part, NULL, 10);
            if (v > (limit - d) / 60) {
                rc = -1;
                break;
            }
            v = v * 60 + d;
        }
    } else {
        int base = 10;
        if (p[0] == '0' && p[1] == 'b') {
            base = 2;
            p += 2;
        } else if (p[0] == '0' && p[1] == 'x') {
            base = 16;
            p += 2;
        } else if (p[0] == '0' && p[1]) {
            base = 8;
        }
        errno = 0;
        v = strtoull(p, NULL, base);
        if (errno == ERANGE || v > limit)
            rc = -1;
    }
    free(s);
    if (rc == 0)
        *out = neg ? (long long)(0 - v) : (long long)v;
    return rc;
}

/* Python's float() of a YAML 1.1 float: 0 ok, -2 out of memory. */
static int parse_float(const char *text, double *out)
{
    char *s = cleaned(text, 1), *p;
    int neg = 0;

    if (!s)
        return -2;
    p = s;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, ".inf") == 0) {
        *out = HUGE_VAL;
    } else if (strcmp(p, ".nan") == 0) {
        *out = NAN;
    } else if (strchr(p, ':')) {
        double v = 0;
        for (char *save = NULL, *part = strtok_r(p, ":", &save); part;
             part = strtok_r(NULL, ":", &save))
            v = v * 60 + strtod(part, NULL);
        *out = v;
    } else {
        *out = strtod(p, NULL);
    }
    if (neg)
        *out = -*out;
    free(s);
    return 0;
}

/* An explicitly tagged int, float or bool must be one PyYAML's constructor reads:
 * !!int abc is an error there, not 0. */
static int check_tagged_value(builder *b, const yaml_event_t *ev, enum scalar_kind kind)
{
    const char *text = (const char *)ev->data.scalar.value;
    char what[300];
    char *s;
    int ok = 1;

    if (kind == K_BOOL) {
        ok = bool_value(text) >= 0;
    } else if (kind == K_INT || kind == K_FLOAT) {
        if (!(s = cleaned(text, kind == K_FLOAT)))
            return GLAREX_ENOMEM_SET(b->err);
        ok = kind == K_INT ? valid_int(s) : valid_float(s);
        free(s);
    }
    if (ok)
        return 0;
    snprintf(what, sizeof(what), "'%.200s' is not a valid %s", text,
             kind == K_BOOL ? "!!bool" : kind == K_INT ? "!!int" : "!!float");
    return fail_at(b, GLAREX_EINVALID, &ev->start_mark, what);
}

static int scalar(json_t **out, builder *b, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    enum scalar_kind kind = K_STR;

    if (!untagged(tag)) {
        int rc = check_tag(b, tag, N_SCALAR, &ev->start_mark, &kind);
        if (rc < 0)
            return rc;
        if ((rc = check_tagged_value(b, ev, kind)) < 0)
            return rc;
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || tag) {
        size_t len = ev->data.scalar.length;
        if (len > 0 && text[len - 1] == '\n') {
            /* "! |" block text: PyYAML's resolver patterns end in '$', which Python
             * matches before a last line break, so "12\n" is the int 12 */
            char *line = strndup(text, len - 1);
            if (!line)
                return GLAREX_ENOMEM_SET(b->err);
            kind = resolve_plain(b, line);
            free(line);
            if (kind != K_STR && kind != K_NULL && kind != K_INT)
                return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                               "a '!' scalar ending in a line break resolves to a value "
                               "glarex does not read: remove the '!'");
        } else {
            kind = resolve_plain(b, text);
        }
    }

    switch (kind) {
    case K_STR:
        *out = json_stringn(text, ev->data.scalar.length);
        if (!*out)
            return fail_at(b, GLAREX_EINVALID, &ev->start_mark, "string is not UTF-8 text");
        return 0;
    case K_NULL:
        *out = json_null();
        return 0;
    case K_BOOL:
        *out = json_boolean(bool_value(text) == 1);
        return 0;
    case K_INT: {
        long long v = 0;
        int rc = parse_int(text, &v);
        if (rc == -2)
            return GLAREX_ENOMEM_SET(b->err);
        if (rc < 0)
            return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                           "integer does not fit in 64 bits");
        *out = json_integer((json_int_t)v);
        break;
    }
    case K_FLOAT: {
        double d = 0;
        if (parse_float(text, &d) < 0)
            return GLAREX_ENOMEM_SET(b->err);
        if (!isfinite(d))
            return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                           "infinity and NaN cannot be carried by JSON");
        *out = json_real(d);
        break;
    }
    case K_TIMESTAMP:
        return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                       "timestamps become Python datetimes, which JSON cannot carry");
    case K_MERGE: /* "<<" as a value, not a key: PyYAML has no constructor for it */
        return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                       "could not determine a constructor for the tag "
                       "'tag:yaml.org,2002:merge'");
    case K_VALUE:
        return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                       "could not determine a constructor for the tag "
                       "'tag:yaml.org,2002:value'");
    }
    return *out ? 0 : GLAREX_ENOMEM_SET(b->err);
}

static int next_event(builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev)) {
        char what[200];
        snprintf(what, sizeof(what), "%s%s%s",
                 b->parser.problem ? b->parser.problem : "invalid YAML",
                 b->parser.context ? " " : "", b->parser.context ? b->parser.context : "");
        return fail_at(b, GLAREX_EINVALID, &b->parser.problem_mark, what);
    }
    return 0;
}

/* Records an anchor once its node is complete, so an alias can never point into a node
 * that contains it (JSON has no cycles). */
static int remember(builder *b, const yaml_char_t *name, json_t *value,
                    expanded before)
{
    anchor *grown;
    if (!name)
        return 0;
    grown = realloc(b->anchors, (b->nanchors + 1) * sizeof(*grown));
    if (!grown)
        return GLAREX_ENOMEM_SET(b->err);
    b->anchors = grown;
    grown[b->nanchors].name = strdup((const char *)name);
    if (!grown[b->nanchors].name)
        return GLAREX_ENOMEM_SET(b->err);
    grown[b->nanchors].value = json_incref(value);
    grown[b->nanchors].size = (expanded){b->total.nodes - before.nodes,
                                         b->total.bytes - before.bytes};
    b->nanchors++;
    return 0;
}

static int node(json_t **out, builder *b, yaml_event_t *ev, int depth);

static int is_merge_key(builder *b, const yaml_event_t *ev)
{
    const char *tag = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.tag : NULL;
    return ev->type == YAML_SCALAR_EVENT &&
           (tag ? strcmp(tag, "!") == 0 : ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) &&
           resolve_plain(b, (const char *)ev->data.scalar.value) == K_MERGE;
}

/* Adds the pairs a merge key's value brings, in PyYAML's order: for a list of
 * mappings, the last one's pairs come first so that the first one wins. */
static int add_merge(json_t *merged, builder *b, json_t *value, const yaml_mark_t *mark)
{
    json_t *sources[256];
    size_t n = 0;

    if (json_is_object(value)) {
        sources[n++] = value;
    } else if (json_is_array(value) && json_array_size(value) <= 256) {
        for (size_t i = json_array_size(value); i-- > 0;) {
            if (!json_is_object(json_array_get(value, i)))
                return fail_at(b, GLAREX_EINVALID, mark,
                               "expected a mapping for merging, but found a list item "
                               "that is not one");
            sources[n++] = json_array_get(value, i);
        }
    } else {
        return fail_at(b, GLAREX_EINVALID, mark,
                       "expected a mapping or list of mappings for merging");
    }
    for (size_t i = 0; i < n; i++) {
        const char *k;
        json_t *v;
        json_object_foreach(sources[i], k, v) {
            json_t *p = json_pack("[sO]", k, v);
            if (!p || json_array_append_new(merged, p) < 0)
                return GLAREX_ENOMEM_SET(b->err);
        }
    }
    return 0;
}

/* Rebuilds a mapping as merged pairs followed by its own, later ones winning. */
static int apply_merges(json_t *coll, json_t *merged, builder *b)
{
    json_t *own = json_deep_copy(coll);
    size_t i;
    json_t *pair;
    const char *k;
    json_t *v;

    if (!own)
        return GLAREX_ENOMEM_SET(b->err);
    json_object_clear(coll);
    json_array_foreach(merged, i, pair) {
        if (json_object_set(coll, json_string_value(json_array_get(pair, 0)),
                            json_array_get(pair, 1)) < 0)
            goto oom;
    }
    json_object_foreach(own, k, v) {
        if (json_object_set(coll, k, v) < 0)
            goto oom;
    }
    json_decref(own);
    return 0;
oom:
    json_decref(own);
    return GLAREX_ENOMEM_SET(b->err);
}

/* Reads the items of a sequence or mapping up to its end event. */
static int collection(json_t *coll, builder *b, int depth)
{
    json_t *merged = NULL; /* [key, value] pairs from merge keys, in order */
    int rc = 0;

    for (;;) {
        yaml_event_t ev;
        json_t *key = NULL, *value = NULL;

        if ((rc = next_event(b, &ev)) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            if (merged)
                rc = apply_merges(coll, merged, b);
            break;
        }
        if (json_is_array(coll)) {
            rc = node(&value, b, &ev, depth + 1);
            yaml_event_delete(&ev);
            if (rc < 0)
                break;
            if (json_array_append_new(coll, value) < 0) {
                rc = GLAREX_ENOMEM_SET(b->err);
                break;
            }
            continue;
        }
        yaml_mark_t key_mark = ev.start_mark;
        int merge = is_merge_key(b, &ev);
        if (!merge)
            rc = node(&key, b, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
        if (!merge && !json_is_string(key)) {
            json_decref(key);
            rc = fail_at(b, GLAREX_EUNSUPPORTED, &key_mark,
                         "mapping key is not a string, which JSON cannot carry");
            break;
        }
        if ((rc = next_event(b, &ev)) < 0) {
            json_decref(key);
            break;
        }
        rc = node(&value, b, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (rc == 0 && merge) {
            if (!merged && !(merged = json_array()))
                rc = GLAREX_ENOMEM_SET(b->err);
            if (rc == 0)
                rc = add_merge(merged, b, value, &key_mark);
            json_decref(value);
        } else if (rc == 0 && json_object_setn_new(coll, json_string_value(key),
                                                   json_string_length(key), value) < 0) {
            rc = GLAREX_ENOMEM_SET(b->err);
        }
        json_decref(key);
        if (rc < 0)
            break;
    }
    json_decref(merged);
    return rc;
}

static int node(json_t **out, builder *b, yaml_event_t *ev, int depth)
{
    expanded before = b->total;
    int rc;

    *out = NULL;
    if (depth > MAX_DEPTH)
        return fail_at(b, GLAREX_EINVALID, &ev->start_mark, "nesting is too deep");
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        for (size_t i = b->nanchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, (const char *)ev->data.alias.anchor) == 0) {
                if ((rc = follow(b, &b->anchors[i], &ev->start_mark)) < 0)
                    return rc;
                *out = json_incref(b->anchors[i].value);
                return 0;
            }
        }
        return fail_at(b, GLAREX_EUNSUPPORTED, &ev->start_mark,
                       "alias to an unknown or enclosing anchor");
    case YAML_SCALAR_EVENT:
        grow(&b->total, (expanded){1, ev->data.scalar.length});
        if ((rc = scalar(out, b, ev)) < 0)
            return rc;
        return remember(b, ev->data.scalar.anchor, *out, before);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const char *tag = (const char *)(is_seq ? ev->data.sequence_start.tag
                                                : ev->data.mapping_start.tag);
        enum scalar_kind unused;
        json_t *coll;
        if (!untagged(tag) &&
            (rc = check_tag(b, tag, is_seq ? N_SEQUENCE : N_MAPPING, &ev->start_mark,
                            &unused)) < 0)
            return rc;
        grow(&b->total, (expanded){1, 0});
        if (!(coll = is_seq ? json_array() : json_object()))
            return GLAREX_ENOMEM_SET(b->err);
        rc = collection(coll, b, depth);
        if (rc == 0)
            rc = remember(b, is_seq ? ev->data.sequence_start.anchor
                                    : ev->data.mapping_start.anchor,
                          coll, before);
        if (rc < 0) {
            json_decref(coll);
            return rc;
        }
        *out = coll;
        return 0;
    }
    default:
        return fail_at(b, GLAREX_EINVALID, &ev->start_mark, "unexpected YAML event");
    }
}

/* Zero or one document, as yaml.safe_load requires. */
static int stream(json_t **out, builder *b)
{
    int ndocs = 0;
    for (;;) {
        yaml_event_t ev;
        int rc;
        if ((rc = next_event(b, &ev)) < 0)
            return rc;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(&ev);
            if (!*out)
                *out = json_null();
            return 0;
        case YAML_DOCUMENT_START_EVENT:
            if (ndocs++ > 0) {
                rc = fail_at(b, GLAREX_EINVALID, &ev.start_mark,
                             "expected a single document in the stream");
                yaml_event_delete(&ev);
                return rc;
            }
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            rc = node(out, b, &ev, 0);
            yaml_event_delete(&ev);
            if (rc < 0)
                return rc;
            continue;
        }
        yaml_event_delete(&ev);
    }
}

int glarex__yaml_to_json(json_t **out, const char *text, size_t len, const char *source,
                         glarex_error *err)
{
    builder b;
    json_t *value = NULL;
    int rc = 0;

    *out = NULL;
    memset(&b, 0, sizeof(b));
    b.source = source ? source : "yaml";
    b.err = err;
    pthread_once(&resolvers_once, compile_resolvers);
    if (resolvers_compiled < (int)NRESOLVERS) {
        rc = glarex__error_set(err, GLAREX_ERROR, "cannot compile YAML resolver %d",
                               resolvers_compiled);
        goto done;
    }
    b.re = resolver_re;
    b.nre = NRESOLVERS;
    if (!yaml_parser_initialize(&b.parser)) {
        rc = GLAREX_ENOMEM_SET(err);
        goto done;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    rc = stream(&value, &b);
    yaml_parser_delete(&b.parser);

done:
    for (size_t i = 0; i < b.nanchors; i++) {
        free(b.anchors[i].name);
        json_decref(b.anchors[i].value);
    }
    free(b.anchors);
    if (rc < 0) {
        json_decref(value);
        return rc;
    }
    *out = value;
    return 0;
}

int glarex_yaml_parse(json_t **out, const char *text, size_t len, const char *source,
                      glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, text != NULL);
    return glarex__yaml_to_json(out, text, len, source, err);
}
