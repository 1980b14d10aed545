/*
 * References: glare://name[@selector]/key[?field=F], glare://{name, selector}/key,
 * glare://id/<uuid>/key and glare(name, version, resource). The grammar, every error
 * and the mapping to Glare filters are in docs/references.md.
 *
 * Parsing runs over a private state that keeps each decoded part together with the
 * source offset of every byte, so an error found after percent-decoding (a '..'
 * segment spelled %2E%2E, a bad version inside a range) still points at the input.
 */
#include "ref.h"

#include "digest.h"
#include "version.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_BYTES 255 /* Glare's name column */
#define FIELD_MAX_BYTES 64
#define PART_MAX GLAREX_REF_MAX_LENGTH
#define ARENA_SIZE (3 * GLAREX_REF_MAX_LENGTH + 512)
#define RENDER_SIZE (3 * (GLAREX_REF_MAX_LENGTH + 1) + 64)
#define NONE SIZE_MAX

#define DEFAULT_DICT_FIELD GLAREX_DEFAULT_RESOURCES_FIELD
#define DEFAULT_BLOB_FIELD GLAREX_DEFAULT_WORKFLOW_FIELD

struct glarex_ref {
    glarex_ref_kind kind;
    glarex_ref_op lower_op;
    glarex_ref_op upper_op;
    const char *name;
    const char *id;
    const char *version;
    const char *lower;
    const char *upper;
    const char *sha256;
    const char *field;
    const char *key;
    const char *dict_field; /* in effect when parsed: format leaves ?field= out for it */
    char data[];
};

typedef struct parser {
    const char *src; /* the text errors point into: the URI or the rendered call */
    size_t src_len;
    int quote;  /* quote src in messages (URIs; a rendered call is shown bare) */
    int decode; /* percent-decode parts (URIs only) */
    glarex_error *err;

    /* the part being looked at, decoded, and the source offset of each byte */
    char buf[PART_MAX + 1];
    uint32_t map[PART_MAX + 1];
    size_t n;

    /* results: offsets into arena, or NONE */
    glarex_ref_kind kind;
    glarex_ref_op lower_op, upper_op;
    size_t name, id, version, lower, upper, sha256, field, key, dict_field;
    size_t blob_field;
    char arena[ARENA_SIZE];
    size_t used;

    char render[RENDER_SIZE]; /* glarex_ref_from_args: glare('n', 'v', 'r') */
} parser;

/* {======================================================================
 * Messages
 * ====================================================================== */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0; /* overlong, out of range or a surrogate */
    return len;
}

/* Writes s[0..n) for a one-line message: control bytes and bytes that are not UTF-8
 * as \xNN, cut after about `max` input bytes with "...". */
static void show(char *dst, size_t size, const char *s, size_t n, size_t max)
{
    size_t o = 0, i = 0;
    while (i < n && o + 8 < size) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t len = utf8_len(u, n - i);
        if (i >= max) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (len == 0 || u[0] < 0x20 || u[0] == 0x7f) {
            o += (size_t)snprintf(dst + o, size - o, "\\x%02x", u[0]);
            i++;
        } else if (o + len + 8 < size) {
            memcpy(dst + o, u, len);
            o += len;
            i += len;
        } else {
            break;
        }
    }
    dst[o] = '\0';
}

/* 1-based column in characters of byte `offset`. */
static int column_of(const parser *p, size_t offset)
{
    int col = 1;
    for (size_t i = 0; i < offset && i < p->src_len; i++)
        if (((unsigned char)p->src[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int fail(parser *p, size_t offset, const char *fmt, ...) GLAREX_PRINTF(3, 4);

static int fail(parser *p, size_t offset, const char *fmt, ...)
{
    char input[400], detail[300];
    int column = column_of(p, offset);
    va_list ap;

    show(input, sizeof(input), p->src, p->src_len, 120);
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    glarex__error_set(p->err, GLAREX_EINVALID, "invalid reference %s%s%s: %s (column %d)",
                      p->quote ? "'" : "", input, p->quote ? "'" : "", detail, column);
    glarex__error_at(p->err, p->src, offset, 1, column);
    return GLAREX_EINVALID;
}

/* The current part (or a piece of it) quoted for a message detail. */
static const char *shown(char *dst, size_t size, const char *s, size_t n)
{
    show(dst, size, s, n, 48);
    return dst;
}

/* }====================================================================== */

/* {======================================================================
 * Parts
 * ====================================================================== */

static int is_space(char c)
{
    return c == ' ';
}

static int is_identifier(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* Trims unencoded spaces off src[*start, *end). */
static void trim(const parser *p, size_t *start, size_t *end)
{
    while (*start < *end && is_space(p->src[*start]))
        (*start)++;
    while (*end > *start && is_space(p->src[*end - 1]))
        (*end)--;
}

/* Decodes src[start, end) into p->buf (once, when p->decode), refusing NUL, control
 * characters, bad escapes and bytes that are not UTF-8. `what` names the part. */
static int decode(parser *p, size_t start, size_t end, const char *what)
{
    p->n = 0;
    for (size_t i = start; i < end;) {
        size_t at = i;
        unsigned char c = (unsigned char)p->src[i];
        if (c == '%' && p->decode) {
            int hi = i + 1 < end ? glarex__hex_value((unsigned char)p->src[i + 1]) : -1;
            int lo = i + 2 < end ? glarex__hex_value((unsigned char)p->src[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                char s[40];
                size_t n = end - i < 3 ? end - i : 3;
                return fail(p, at, "bad percent-encoding '%s' in %s",
                            shown(s, sizeof(s), p->src + i, n), what);
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 3;
            if (c == 0)
                return fail(p, at, "NUL byte (%%00) in %s", what);
        } else {
            i++;
        }
        if (c < 0x20 || c == 0x7f)
            return fail(p, at, "control character 0x%02x in %s", c, what);
        p->buf[p->n] = (char)c;
        p->map[p->n] = (uint32_t)at;
        p->n++;
    }
    p->buf[p->n] = '\0';
    p->map[p->n] = (uint32_t)end;
    for (size_t k = 0; k < p->n;) {
        size_t len = utf8_len((const unsigned char *)p->buf + k, p->n - k);
        if (len == 0)
            return fail(p, p->map[k], "%s is not valid UTF-8", what);
        k += len;
    }
    return 0;
}

/* Copies n bytes into the arena, NUL-terminated; returns the offset. */
static size_t put(parser *p, const char *s, size_t n)
{
    size_t at = p->used;
    if (n >= ARENA_SIZE - p->used)
        return NONE; /* cannot happen: every part is capped below the arena */
    memcpy(p->arena + at, s, n);
    p->arena[at + n] = '\0';
    p->used += n + 1;
    return at;
}

static int put_part(parser *p, size_t *slot)
{
    *slot = put(p, p->buf, p->n);
    return *slot == NONE ? glarex__error_set(p->err, GLAREX_ERROR, "reference too large")
                         : 0;
}

/* '/'-separated segments of the decoded part: none empty, none "." or "..". */
static int check_segments(parser *p, const char *what)
{
    size_t i = 0;
    for (;;) {
        size_t s = i;
        while (i < p->n && p->buf[i] != '/')
            i++;
        if (i == s)
            return fail(p, p->map[s], "empty segment in %s", what);
        if ((i - s == 1 && p->buf[s] == '.') ||
            (i - s == 2 && p->buf[s] == '.' && p->buf[s + 1] == '.'))
            return fail(p, p->map[s], "'%.*s' segment in %s", (int)(i - s), p->buf + s,
                        what);
        if (i >= p->n)
            return 0;
        i++;
    }
}

static int parse_name(parser *p, size_t start, size_t end)
{
    int error;
    if (start == end)
        return fail(p, start, "empty artifact name");
    if ((error = decode(p, start, end, "name")) < 0)
        return error;
    if (is_space(p->buf[0]) || is_space(p->buf[p->n - 1]))
        return fail(p, is_space(p->buf[0]) ? p->map[0] : p->map[p->n - 1],
                    "name has a leading or trailing space");
    if (p->n > NAME_MAX_BYTES)
        return fail(p, start, "name is longer than %d bytes", NAME_MAX_BYTES);
    if ((error = check_segments(p, "name")) < 0)
        return error;
    return put_part(p, &p->name);
}

static int parse_key(parser *p, size_t start, size_t end)
{
    int error;
    if (start == end)
        return fail(p, start, "empty resource key");
    if ((error = decode(p, start, end, "key")) < 0)
        return error;
    if ((error = check_segments(p, "key")) < 0)
        return error;
    return put_part(p, &p->key);
}

static int parse_id(parser *p, size_t start, size_t end)
{
    int error;
    char s[80];
    if (start == end)
        return fail(p, start, "empty artifact id");
    if ((error = decode(p, start, end, "id")) < 0)
        return error;
    for (size_t i = 0; i < p->n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (p->n != 36 ||
            (dash ? p->buf[i] != '-' : glarex__hex_value((unsigned char)p->buf[i]) < 0))
            return fail(p, start, "id '%s' is not a UUID",
                        shown(s, sizeof(s), p->buf, p->n));
        if (p->buf[i] >= 'A' && p->buf[i] <= 'F')
            p->buf[i] = (char)(p->buf[i] - 'A' + 'a'); /* Glare's ids are lower-case */
    }
    p->kind = GLAREX_REF_ID;
    return put_part(p, &p->id);
}

/* One version inside the decoded selector, buf[a, b), normalised into the arena. */
static int parse_version_at(parser *p, size_t a, size_t b, size_t *slot)
{
    size_t where = 0, room = ARENA_SIZE - p->used;
    glarex__version_status st;
    char s[80];

    if (room < GLAREX__VERSION_NORMAL_SIZE(b - a))
        return glarex__error_set(p->err, GLAREX_ERROR, "reference too large");
    st = glarex__version_normalize(p->arena + p->used, room, p->buf + a, b - a,
                                   GLAREX__VERSION_STRICT, &where);
    if (st != GLAREX__VERSION_OK)
        return fail(p, p->map[a + where], "version '%s' %s",
                    shown(s, sizeof(s), p->buf + a, b - a),
                    glarex__version_status_text(st));
    *slot = p->used;
    p->used += strlen(p->arena + p->used) + 1;
    return 0;
}

static int parse_range(parser *p)
{
    size_t i = 0;
    int error, c;
    char s[80];

    while (i <= p->n) {
        size_t a = i, b, v;
        glarex_ref_op op;
        size_t *slot;
        while (i < p->n && p->buf[i] != ',')
            i++;
        b = i++;
        while (a < b && is_space(p->buf[a]))
            a++;
        while (b > a && is_space(p->buf[b - 1]))
            b--;
        if (a == b)
            return fail(p, p->map[a], "empty item in version range");
        if (p->buf[a] == '>' || p->buf[a] == '<') {
            int eq = a + 1 < b && p->buf[a + 1] == '=';
            if (p->buf[a] == '>')
                op = eq ? GLAREX_REF_OP_GTE : GLAREX_REF_OP_GT;
            else
                op = eq ? GLAREX_REF_OP_LTE : GLAREX_REF_OP_LT;
            v = a + 1 + (size_t)eq;
        } else if (strchr("=!~^", p->buf[a])) {
            return fail(p, p->map[a],
                        "unsupported version operator '%c' (use >=, >, <=, < or an exact "
                        "version)",
                        p->buf[a]);
        } else {
            return fail(p, p->map[a],
                        "range item '%s' has no operator (use >=, >, <=, <)",
                        shown(s, sizeof(s), p->buf + a, b - a));
        }
        while (v < b && is_space(p->buf[v]))
            v++;
        if (v == b)
            return fail(p, p->map[v], "missing version after '%.*s'", (int)(v - a),
                        p->buf + a);
        if (op == GLAREX_REF_OP_GT || op == GLAREX_REF_OP_GTE) {
            if (p->lower != NONE)
                return fail(p, p->map[a], "version range has two lower bounds");
            p->lower_op = op;
            slot = &p->lower;
        } else {
            if (p->upper != NONE)
                return fail(p, p->map[a], "version range has two upper bounds");
            p->upper_op = op;
            slot = &p->upper;
        }
        if ((error = parse_version_at(p, v, b, slot)) < 0)
            return error;
    }
    if (p->lower != NONE && p->upper != NONE) {
        c = glarex__version_compare(p->arena + p->lower, p->arena + p->upper);
        if (c > 0 || (c == 0 && (p->lower_op != GLAREX_REF_OP_GTE ||
                                 p->upper_op != GLAREX_REF_OP_LTE)))
            return fail(p, p->map[0], "version range '%s' matches no version",
                        shown(s, sizeof(s), p->buf, p->n));
    }
    p->kind = GLAREX_REF_RANGE;
    return 0;
}

static int parse_sha256(parser *p)
{
    size_t hex = 7, n = p->n - 7;
    for (size_t i = hex; i < p->n; i++) {
        int h = glarex__hex_value((unsigned char)p->buf[i]);
        if (h < 0) {
            char s[40];
            return fail(p, p->map[i], "sha256 pin has a non-hex character '%s'",
                        shown(s, sizeof(s), p->buf + i,
                              utf8_len((unsigned char *)p->buf + i, p->n - i)));
        }
        p->buf[i] = "0123456789abcdef"[h];
    }
    if (n != 64)
        return fail(p, p->map[hex], "sha256 pin has %zu hex digits, expected 64", n);
    p->kind = GLAREX_REF_SHA256;
    p->sha256 = put(p, p->buf + hex, n);
    return 0;
}

/* The selector src[start, end): exact version, latest, range or sha256 pin. */
static int parse_selector(parser *p, size_t start, size_t end)
{
    int error;
    trim(p, &start, &end);
    if (start == end)
        return fail(p, start, "empty version");
    if ((error = decode(p, start, end, "version")) < 0)
        return error;
    if (strcmp(p->buf, "latest") == 0) {
        p->kind = GLAREX_REF_LATEST;
        return 0;
    }
    if (strncmp(p->buf, "sha256=", 7) == 0)
        return parse_sha256(p);
    if (p->buf[0] == '<' || p->buf[0] == '>' || strchr(p->buf, ','))
        return parse_range(p);
    if (strchr("=!~^", p->buf[0]))
        return fail(
            p, p->map[0],
            "unsupported version operator '%c' (use >=, >, <=, < or an exact version)",
            p->buf[0]);
    p->kind = GLAREX_REF_EXACT;
    return parse_version_at(p, 0, p->n, &p->version);
}

/* ?field=NAME (the only parameter): src[start, end) follows the '?'. */
static int parse_query(parser *p, size_t start, size_t end)
{
    size_t i = start;
    int error;
    char s[80];

    if (start == end)
        return fail(p, start - 1, "empty query");
    while (i <= end) {
        size_t a = i, b, eq;
        while (i < end && p->src[i] != '&')
            i++;
        b = i++;
        if (a == b)
            return fail(p, a, "empty query parameter");
        for (eq = a; eq < b && p->src[eq] != '='; eq++)
            ;
        if ((error = decode(p, a, eq, "query")) < 0)
            return error;
        if (strcmp(p->buf, "field") != 0)
            return fail(p, a, "unknown query parameter '%s' (only 'field')",
                        shown(s, sizeof(s), p->buf, p->n));
        if (eq == b)
            return fail(p, b, "query parameter 'field' needs a value");
        if (p->field != NONE)
            return fail(p, a, "duplicate query parameter 'field'");
        if ((error = decode(p, eq + 1, b, "field name")) < 0)
            return error;
        if (p->n == 0)
            return fail(p, eq + 1, "empty field name");
        if (!is_identifier(p->buf, p->n))
            return fail(p, eq + 1,
                        "field name '%s' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                        shown(s, sizeof(s), p->buf, p->n));
        if (p->n > FIELD_MAX_BYTES)
            return fail(p, eq + 1, "field name is longer than %d bytes", FIELD_MAX_BYTES);
        if ((error = put_part(p, &p->field)) < 0)
            return error;
    }
    return 0;
}

/* }====================================================================== */

/* {======================================================================
 * The two forms
 * ====================================================================== */

static int parse_uri(parser *p)
{
    const char *s = p->src;
    size_t len = p->src_len, i, scheme_end;
    int error;

    if (len == 0)
        return fail(p, 0, "empty reference");
    if (len > GLAREX_REF_MAX_LENGTH)
        return fail(p, GLAREX_REF_MAX_LENGTH, "reference is longer than %d bytes",
                    GLAREX_REF_MAX_LENGTH);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return fail(p, i, "control character 0x%02x", c);
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 */
    for (scheme_end = 0; scheme_end < len; scheme_end++) {
        char c = s[scheme_end];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (scheme_end > 0 &&
               ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
            break;
    }
    if (scheme_end == 0 || scheme_end >= len || s[scheme_end] != ':')
        return fail(p, 0, "missing 'glare://' scheme");
    if (scheme_end != 5 || strncasecmp(s, "glare", 5) != 0) {
        char sc[80];
        return fail(p, 0, "unknown scheme '%s' (expected 'glare://')",
                    shown(sc, sizeof(sc), s, scheme_end));
    }
    if (len < 8 || s[6] != '/' || s[7] != '/')
        return fail(p, 6, "expected '//' after 'glare:'");
    i = 8;

    if (i < len && s[i] == '{') {
        size_t open = i, close, comma, a, b;
        for (close = open + 1; close < len; close++)
            if (s[close] == '}' || s[close] == '{' || s[close] == '/' || s[close] == '?')
                break;
        if (close >= len || s[close] != '}')
            return fail(p, open, "unbalanced '{'");
        for (comma = open + 1; comma < close && s[comma] != ','; comma++)
            ;
        a = open + 1;
        b = comma;
        trim(p, &a, &b);
        if ((error = parse_name(p, a, b)) < 0)
            return error;
        if (comma == close)
            return fail(p, close, "expected ',' and a version before '}'");
        if ((error = parse_selector(p, comma + 1, close)) < 0)
            return error;
        i = close + 1;
        if (i < len && s[i] != '/' && s[i] != '?') {
            char c[40];
            size_t n = utf8_len((const unsigned char *)s + i, len - i);
            return fail(p, i, "unexpected '%s' after '}'",
                        shown(c, sizeof(c), s + i, n ? n : 1));
        }
    } else if (len - i >= 3 && memcmp(s + i, "id/", 3) == 0) {
        size_t start = i + 3;
        for (i = start; i < len && s[i] != '/' && s[i] != '?'; i++)
            ;
        if ((error = parse_id(p, start, i)) < 0)
            return error;
    } else {
        size_t start = i, a, b;
        for (; i < len && s[i] != '/' && s[i] != '?' && s[i] != '@'; i++) {
            if (s[i] == '{')
                return fail(p, i, "unexpected '{' inside a name");
            if (s[i] == '}')
                return fail(p, i, "unbalanced '}'");
        }
        a = start;
        b = i;
        trim(p, &a, &b);
        if ((error = parse_name(p, a, b)) < 0)
            return error;
        if (i < len && s[i] == '@') {
            size_t sel = ++i;
            while (i < len && s[i] != '/' && s[i] != '?')
                i++;
            if ((error = parse_selector(p, sel, i)) < 0)
                return error;
        } else {
            p->kind = GLAREX_REF_LATEST;
        }
    }

    if (i < len && s[i] == '/') {
        size_t start = ++i;
        while (i < len && s[i] != '?')
            i++;
        if ((error = parse_key(p, start, i)) < 0)
            return error;
    }
    if (i < len && s[i] == '?') {
        if ((error = parse_query(p, i + 1, len)) < 0)
            return error;
        i = len;
    }
    if (p->key == NONE && p->field == NONE)
        return fail(p, len,
                    "missing resource key (add '/KEY', or '?field=NAME' for a blob "
                    "field)");
    if (p->field == NONE)
        p->field = p->dict_field;
    return 0;
}

/* Appends `arg` to the rendered call as 'arg' (or null); records where it starts. */
static void render_arg(parser *p, size_t *o, const char *arg, size_t n, size_t *start)
{
    if (!arg) {
        memcpy(p->render + *o, "null", 4);
        *o += 4;
        *start = *o;
        return;
    }
    p->render[(*o)++] = '\'';
    *start = *o;
    memcpy(p->render + *o, arg, n);
    *o += n;
    p->render[(*o)++] = '\'';
}

static int parse_args(parser *p, const char *name, const char *version,
                      const char *resource)
{
    size_t o = 0, ns, vs = 0, rs = 0;
    size_t nn = strnlen(name, GLAREX_REF_MAX_LENGTH + 1);
    size_t vn = version ? strnlen(version, GLAREX_REF_MAX_LENGTH + 1) : 0;
    size_t rn = resource ? strnlen(resource, GLAREX_REF_MAX_LENGTH + 1) : 0;
    int error;

    memcpy(p->render, "glare(", 6);
    o = 6;
    render_arg(p, &o, name, nn, &ns);
    memcpy(p->render + o, ", ", 2);
    o += 2;
    render_arg(p, &o, version, vn, &vs);
    memcpy(p->render + o, ", ", 2);
    o += 2;
    render_arg(p, &o, resource, rn, &rs);
    p->render[o++] = ')';
    p->render[o] = '\0';
    p->src = p->render;
    p->src_len = o;

    if (nn > GLAREX_REF_MAX_LENGTH)
        return fail(p, ns + GLAREX_REF_MAX_LENGTH, "name is longer than %d bytes",
                    GLAREX_REF_MAX_LENGTH);
    if (vn > GLAREX_REF_MAX_LENGTH)
        return fail(p, vs + GLAREX_REF_MAX_LENGTH, "version is longer than %d bytes",
                    GLAREX_REF_MAX_LENGTH);
    if (rn > GLAREX_REF_MAX_LENGTH)
        return fail(p, rs + GLAREX_REF_MAX_LENGTH, "resource key is longer than %d bytes",
                    GLAREX_REF_MAX_LENGTH);

    if ((error = parse_name(p, ns, ns + nn)) < 0)
        return error;
    if (version) {
        if ((error = parse_selector(p, vs, vs + vn)) < 0)
            return error;
    } else {
        p->kind = GLAREX_REF_LATEST;
    }
    if (resource) {
        if ((error = parse_key(p, rs, rs + rn)) < 0)
            return error;
        p->field = p->dict_field;
    } else {
        p->field = p->blob_field;
    }
    return 0;
}

/* }====================================================================== */

/* {======================================================================
 * Public entry points
 * ====================================================================== */

int glarex_ref_options_init(glarex_ref_options *opts, unsigned int version)
{
    if (!opts || version != GLAREX_REF_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

static int option_field(parser *p, const char *value, const char *fallback,
                        const char *what, size_t *slot)
{
    const char *v = value ? value : fallback;
    size_t n = strnlen(v, FIELD_MAX_BYTES + 1);
    if (n > FIELD_MAX_BYTES || !is_identifier(v, n)) {
        char s[80];
        return glarex__error_set(
            p->err, GLAREX_EINVALID,
            "invalid glarex_ref_options.%s '%s': not an identifier of at "
            "most %d bytes",
            what, shown(s, sizeof(s), v, n), FIELD_MAX_BYTES);
    }
    *slot = put(p, v, n);
    return 0;
}

static int parser_new(parser **out, const glarex_ref_options *opts, glarex_error *err)
{
    parser *p;
    int error;

    *out = NULL;
    if (opts && opts->version != GLAREX_REF_OPTIONS_VERSION)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "unsupported glarex_ref_options version %u",
                                 opts->version);
    p = malloc(sizeof(*p));
    if (!p)
        return GLAREX_ENOMEM_SET(err);
    p->err = err;
    p->src = "";
    p->src_len = 0;
    p->quote = 1;
    p->decode = 1;
    p->n = 0;
    p->kind = GLAREX_REF_LATEST;
    p->lower_op = p->upper_op = GLAREX_REF_OP_NONE;
    p->name = p->id = p->version = p->lower = p->upper = p->sha256 = NONE;
    p->field = p->key = p->dict_field = p->blob_field = NONE;
    p->used = 0;
    if ((error = option_field(p, opts ? opts->dict_field : NULL, DEFAULT_DICT_FIELD,
                              "dict_field", &p->dict_field)) < 0 ||
        (error = option_field(p, opts ? opts->blob_field : NULL, DEFAULT_BLOB_FIELD,
                              "blob_field", &p->blob_field)) < 0) {
        free(p);
        return error;
    }
    *out = p;
    return 0;
}

static const char *get(size_t slot, const char *data)
{
    return slot == NONE ? NULL : data + slot;
}

static size_t format_into(char *dst, const glarex_ref *ref);

/* Moves the results into one allocation: the reference is a single block. A reference
 * whose canonical text (which writes out the selector and percent-encodes) would be
 * longer than the limit is refused, so every canonical text parses back. */
static int finish(glarex_ref **out, parser *p)
{
    glarex_ref *ref = malloc(sizeof(*ref) + p->used);
    size_t canonical;
    if (!ref)
        return GLAREX_ENOMEM_SET(p->err);
    memcpy(ref->data, p->arena, p->used);
    ref->kind = p->kind;
    ref->lower_op = p->lower_op;
    ref->upper_op = p->upper_op;
    ref->name = get(p->name, ref->data);
    ref->id = get(p->id, ref->data);
    ref->version = get(p->version, ref->data);
    ref->lower = get(p->lower, ref->data);
    ref->upper = get(p->upper, ref->data);
    ref->sha256 = get(p->sha256, ref->data);
    ref->field = get(p->field, ref->data);
    ref->key = get(p->key, ref->data);
    ref->dict_field = get(p->dict_field, ref->data);
    if ((canonical = format_into(NULL, ref)) > GLAREX_REF_MAX_LENGTH) {
        free(ref);
        return fail(p, 0,
                    "its canonical form is %zu bytes, over the %d-byte limit, once the "
                    "version selector is written out and special characters are "
                    "percent-encoded; shorten the name or the resource key",
                    canonical, GLAREX_REF_MAX_LENGTH);
    }
    *out = ref;
    return 0;
}

int glarex_ref_parse_ext(glarex_ref **out, const char *uri,
                         const glarex_ref_options *opts, glarex_error *err)
{
    parser *p = NULL;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, uri);
    if ((error = parser_new(&p, opts, err)) < 0)
        goto done;
    p->src = uri;
    p->src_len = strnlen(uri, GLAREX_REF_MAX_LENGTH + 1);
    if ((error = parse_uri(p)) < 0)
        goto done;
    error = finish(out, p);
done:
    free(p);
    return error;
}

int glarex_ref_parse(glarex_ref **out, const char *uri, glarex_error *err)
{
    return glarex_ref_parse_ext(out, uri, NULL, err);
}

int glarex_ref_from_args_ext(glarex_ref **out, const char *name, const char *version,
                             const char *resource, const glarex_ref_options *opts,
                             glarex_error *err)
{
    parser *p = NULL;
    int error;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out);
    *out = NULL;
    GLAREX_ASSERT_ARG(err, name);
    if ((error = parser_new(&p, opts, err)) < 0)
        goto done;
    p->quote = 0;
    p->decode = 0;
    if ((error = parse_args(p, name, version, resource)) < 0)
        goto done;
    error = finish(out, p);
done:
    free(p);
    return error;
}

int glarex_ref_from_args(glarex_ref **out, const char *name, const char *version,
                         const char *resource, glarex_error *err)
{
    return glarex_ref_from_args_ext(out, name, version, resource, NULL, err);
}

void glarex_ref_free(glarex_ref *ref)
{
    free(ref);
}

glarex_ref_kind glarex_ref_kind_of(const glarex_ref *ref)
{
    return ref ? ref->kind : (glarex_ref_kind)0;
}

const char *glarex_ref_name(const glarex_ref *ref)
{
    return ref ? ref->name : NULL;
}

const char *glarex_ref_id(const glarex_ref *ref)
{
    return ref ? ref->id : NULL;
}

const char *glarex_ref_version(const glarex_ref *ref)
{
    return ref ? ref->version : NULL;
}

const char *glarex_ref_range_lower(const glarex_ref *ref, glarex_ref_op *op)
{
    if (op)
        *op = ref ? ref->lower_op : GLAREX_REF_OP_NONE;
    return ref ? ref->lower : NULL;
}

const char *glarex_ref_range_upper(const glarex_ref *ref, glarex_ref_op *op)
{
    if (op)
        *op = ref ? ref->upper_op : GLAREX_REF_OP_NONE;
    return ref ? ref->upper : NULL;
}

const char *glarex_ref_sha256(const glarex_ref *ref)
{
    return ref ? ref->sha256 : NULL;
}

const char *glarex_ref_field(const glarex_ref *ref)
{
    return ref ? ref->field : NULL;
}

const char *glarex_ref_key(const glarex_ref *ref)
{
    return ref ? ref->key : NULL;
}

const char *glarex__ref_op_name(glarex_ref_op op)
{
    switch (op) {
    case GLAREX_REF_OP_GT:
        return "gt";
    case GLAREX_REF_OP_GTE:
        return "gte";
    case GLAREX_REF_OP_LT:
        return "lt";
    case GLAREX_REF_OP_LTE:
        return "lte";
    case GLAREX_REF_OP_NONE:
        break;
    }
    return NULL;
}

static const char *op_text(glarex_ref_op op)
{
    switch (op) {
    case GLAREX_REF_OP_GT:
        return ">";
    case GLAREX_REF_OP_GTE:
        return ">=";
    case GLAREX_REF_OP_LT:
        return "<";
    case GLAREX_REF_OP_LTE:
        return "<=";
    case GLAREX_REF_OP_NONE:
        break;
    }
    return "";
}

/* Bytes percent-encoded in canonical text: structural in that position, or spaces. */
static size_t encode(char *dst, const char *s, const char *special)
{
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '%' || c == ' ' || strchr(special, c)) {
            if (dst)
                snprintf(dst + o, 4, "%%%02X", c);
            o += 3;
        } else {
            if (dst)
                dst[o] = (char)c;
            o++;
        }
    }
    return o;
}

#define NAME_SPECIAL "/?@{},#"
#define KEY_SPECIAL "?#"

/* Writes the canonical text into dst (when not NULL); returns its length. */
static size_t format_into(char *dst, const glarex_ref *ref)
{
    size_t o = 0;
#define EMIT(s)                                                                          \
    do {                                                                                 \
        size_t n_ = strlen(s);                                                           \
        if (dst)                                                                         \
            memcpy(dst + o, (s), n_);                                                    \
        o += n_;                                                                         \
    } while (0)

    EMIT("glare://");
    if (ref->kind == GLAREX_REF_ID) {
        EMIT("id/");
        EMIT(ref->id);
    } else {
        o += encode(dst ? dst + o : NULL, ref->name, NAME_SPECIAL);
        EMIT("@");
        switch (ref->kind) {
        case GLAREX_REF_EXACT:
            EMIT(ref->version);
            break;
        case GLAREX_REF_RANGE:
            if (ref->lower) {
                EMIT(op_text(ref->lower_op));
                EMIT(ref->lower);
            }
            if (ref->lower && ref->upper)
                EMIT(",");
            if (ref->upper) {
                EMIT(op_text(ref->upper_op));
                EMIT(ref->upper);
            }
            break;
        case GLAREX_REF_SHA256:
            EMIT("sha256=");
            EMIT(ref->sha256);
            break;
        case GLAREX_REF_LATEST:
        case GLAREX_REF_ID:
            EMIT("latest");
            break;
        }
    }
    if (ref->key) {
        EMIT("/");
        o += encode(dst ? dst + o : NULL, ref->key, KEY_SPECIAL);
    }
    if (!ref->key || strcmp(ref->field, ref->dict_field) != 0) {
        EMIT("?field=");
        EMIT(ref->field);
    }
#undef EMIT
    return o;
}

int glarex_ref_format(glarex_buf *out, const glarex_ref *ref)
{
    size_t n;
    char *text;

    if (!out || !ref)
        return GLAREX_EINVALID;
    n = format_into(NULL, ref);
    text = malloc(n + 1);
    if (!text)
        return GLAREX_ENOMEM;
    format_into(text, ref);
    text[n] = '\0';
    out->ptr = text;
    out->size = n;
    return 0;
}

int glarex__ref_self_uri(glarex_buf *out, const char *text, const char *wf_name,
                         const char *wf_version, glarex_error *err)
{
    static const char scheme[] = "glare://";
    const size_t slen = sizeof(scheme) - 1;
    const char *key = text;
    int encoded = 0;
    size_t n;
    char *uri;

    out->ptr = NULL;
    out->size = 0;
    if (strncasecmp(text, scheme, slen) == 0) {
        const char *rest = text + slen;
        if (rest[0] != '/' && strpbrk(rest, "/?#@{},"))
            return 0; /* an ordinary URI: it names its artifact */
        key = rest[0] == '/' ? rest + 1 : rest;
        encoded = 1;
    } else if (!*text || strstr(text, "://")) {
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glare('%.200s') is neither a glare:// URI nor the name of a "
                                 "resource of the running workflow",
                                 text);
    }
    if (!*key)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glare('%.200s') names no resource: write glare('KEY') or "
                                 "glare://KEY for a resource of the running workflow",
                                 text);
    if (!wf_name)
        return glarex__error_set(
            err, GLAREX_EINVALID,
            "glare('%.200s') names a resource of the running workflow, but no workflow is "
            "known here: name it (glarex --workflow NAME[@VERSION], or the request's "
            "workflow), or write glare('NAME', 'VERSION', '%.200s')",
            text, key);
    n = slen + encode(NULL, wf_name, NAME_SPECIAL) + 1 +
        (wf_version ? strlen(wf_version) : 6) + 1 +
        (encoded ? strlen(key) : encode(NULL, key, KEY_SPECIAL));
    if (!(uri = malloc(n + 1)))
        return GLAREX_ENOMEM_SET(err);
    memcpy(uri, scheme, slen);
    size_t o = slen + encode(uri + slen, wf_name, NAME_SPECIAL);
    o += (size_t)sprintf(uri + o, "@%s/", wf_version ? wf_version : "latest");
    if (encoded)
        o += (size_t)sprintf(uri + o, "%s", key);
    else
        o += encode(uri + o, key, KEY_SPECIAL);
    uri[o] = '\0';
    out->ptr = uri;
    out->size = o;
    return 1;
}

int glarex__ref_filters(glarex__ref_query *out, const glarex_ref *ref)
{
    size_t n = 0;

    if (!out || !ref)
        return GLAREX_EINVALID;
    memset(out, 0, sizeof(*out));
    if (ref->kind == GLAREX_REF_ID) {
        out->id = ref->id;
        return 0;
    }
    out->filters[n++] = (glarex_filter){"name", "eq", ref->name};
    switch (ref->kind) {
    case GLAREX_REF_EXACT:
        out->filters[n++] = (glarex_filter){"version", "eq", ref->version};
        break;
    case GLAREX_REF_LATEST:
        out->filters[n++] = (glarex_filter){"status", "eq", "active"};
        out->latest = 1;
        break;
    case GLAREX_REF_RANGE:
        if (ref->lower)
            out->filters[n++] = (glarex_filter){
                "version", glarex__ref_op_name(ref->lower_op), ref->lower};
        if (ref->upper)
            out->filters[n++] = (glarex_filter){
                "version", glarex__ref_op_name(ref->upper_op), ref->upper};
        out->filters[n++] = (glarex_filter){"status", "eq", "active"};
        out->sort = "version:desc";
        break;
    case GLAREX_REF_SHA256:
        out->filters[n++] = (glarex_filter){"status", "eq", "active"};
        out->sort = "version:desc";
        break;
    case GLAREX_REF_ID:
        break;
    }
    out->nfilters = n;
    return 0;
}

/* }====================================================================== */
