/*
 * Versions as Glare sees them. glare/objects/meta/fields.py stores
 * str(semantic_version.Version.coerce(str(value))) and glare/common/semver_db.py refuses
 * components above 65535 and numeric prerelease identifiers above 6 digits. The code
 * below replays Version.coerce (semantic_version 2.x) step by step; the differential
 * table in tests/cases/version/ is generated from the Python library itself.
 */
#include "version.h"

#include <stdio.h>
#include <string.h>

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A semver identifier character: [0-9A-Za-z-]. */
static int is_ident(unsigned char c)
{
    return is_alnum(c) || c == '-';
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return n > 0;
}

const char *glarex__version_status_text(glarex__version_status status)
{
    switch (status) {
    case GLAREX__VERSION_OK:
        return "is valid";
    case GLAREX__VERSION_NO_NUMBER:
        return "lacks a numerical component";
    case GLAREX__VERSION_SYNTAX:
        return "is not semver";
    case GLAREX__VERSION_LEADING_ZERO:
        return "has a numeric prerelease identifier with a leading zero";
    case GLAREX__VERSION_TOO_LARGE:
        return "has a component above 65535";
    case GLAREX__VERSION_PRERELEASE_TOO_LONG:
        return "has a numeric prerelease identifier longer than 6 digits";
    case GLAREX__VERSION_NOSPACE:
        break;
    }
    return "does not fit the output buffer";
}

/*
 * The reference grammar, as a regular expression:
 *   [0-9]+(\.[0-9]+(\.[0-9]+)?)?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?
 * Identifiers (no empty one, no leading zero) are checked afterwards by coerce(), in
 * the order semantic_version checks them. On failure `*where` is the first byte past
 * the longest valid prefix.
 */
static glarex__version_status strict_scan(const char *t, size_t len, size_t *where)
{
    size_t i = 0;
    int comps = 0;

    if (len == 0 || !is_digit((unsigned char)t[0])) {
        *where = 0;
        return GLAREX__VERSION_NO_NUMBER;
    }
    for (;;) {
        while (i < len && is_digit((unsigned char)t[i]))
            i++;
        comps++;
        if (comps == 3 || i >= len || t[i] != '.')
            break;
        if (i + 1 >= len || !is_digit((unsigned char)t[i + 1])) {
            *where = i; /* "1.x": the '.' starts what is not a version */
            return GLAREX__VERSION_SYNTAX;
        }
        i++;
    }
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        if (i >= len || t[i] != (part == 0 ? '-' : '+'))
            continue;
        i++;
        while (i < len && (is_ident((unsigned char)t[i]) || t[i] == '.'))
            i++;
        if (i == start + 1) {
            *where = start; /* "1.0-": nothing after the separator */
            return GLAREX__VERSION_SYNTAX;
        }
    }
    if (i < len) {
        *where = i;
        return GLAREX__VERSION_SYNTAX;
    }
    return GLAREX__VERSION_OK;
}

/* Checks '.'-separated identifiers as Version._validate_identifiers does. */
static glarex__version_status check_idents(const char *s, size_t n, int allow_zeroes,
                                           size_t base, size_t *where)
{
    size_t i = 0;
    for (;;) {
        size_t id = i;
        while (i < n && s[i] != '.')
            i++;
        if (i == id) {
            *where = base + id;
            return GLAREX__VERSION_SYNTAX;
        }
        if (!allow_zeroes && s[id] == '0' && i - id > 1 && all_digits(s + id, i - id)) {
            *where = base + id;
            return GLAREX__VERSION_LEADING_ZERO;
        }
        if (i >= n)
            return GLAREX__VERSION_OK;
        i++;
    }
}

/* Value of a digit run, or GLAREX__VERSION_MAX_COMPONENT + 1 when above the limit. */
static unsigned long component_value(const char *s, size_t n)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > GLAREX__VERSION_MAX_COMPONENT)
            return GLAREX__VERSION_MAX_COMPONENT + 1;
    }
    return v;
}

static glarex__version_status coerce(char *out, size_t outsize, const char *t, size_t len,
                                     size_t *where)
{
    size_t i = 0, mend, rlen = 0;
    size_t cstart[3] = {0, 0, 0}, cend[3] = {0, 0, 0};
    unsigned long value[3] = {0, 0, 0};
    int ncomp = 0;
    size_t pre_off = 0, pre_len = 0, build_off = 0, build_len = 0, skip = 0;
    glarex__version_status st;
    char base[40];
    int base_len;

    if (len == 0 || !is_digit((unsigned char)t[0])) {
        *where = 0;
        return GLAREX__VERSION_NO_NUMBER;
    }
    /* base_re = r'^\d+(?:\.\d+(?:\.\d+)?)?' */
    for (;;) {
        cstart[ncomp] = i;
        while (i < len && is_digit((unsigned char)t[i]))
            i++;
        cend[ncomp] = i;
        ncomp++;
        if (ncomp == 3 || i + 1 >= len || t[i] != '.' ||
            !is_digit((unsigned char)t[i + 1]))
            break;
        i++;
    }
    mend = i;

    /* rest = re.sub(r'[^a-zA-Z0-9+.-]', '-', rest), one '-' per character */
    for (size_t k = mend; k < len; k++) {
        unsigned char c = (unsigned char)t[k];
        if (is_alnum(c) || c == '+' || c == '.' || c == '-')
            out[rlen++] = (char)c;
        else if ((c & 0xC0) == 0x80 && k > mend && ((unsigned char)t[k - 1] & 0x80))
            continue; /* UTF-8 continuation: same character as the byte before */
        else
            out[rlen++] = '-';
    }

    if (rlen > 0) {
        if (out[0] == '+' || out[0] == '.') {
            build_off = 1; /* '.': an extra component, kept as build metadata */
            build_len = rlen - 1;
        } else {
            const char *plus;
            skip = out[0] == '-';
            pre_off = skip;
            plus = memchr(out + skip, '+', rlen - skip);
            if (plus) {
                pre_len = (size_t)(plus - out) - skip;
                build_off = (size_t)(plus - out) + 1;
                build_len = rlen - build_off;
            } else {
                pre_len = rlen - skip;
            }
        }
        for (size_t k = 0; k < build_len; k++)
            if (out[build_off + k] == '+')
                out[build_off + k] = '.';
    }

    if (pre_len > 0) {
        st = check_idents(out + pre_off, pre_len, 0, mend + pre_off, where);
        if (st != GLAREX__VERSION_OK)
            return st;
    }
    if (build_len > 0) {
        st = check_idents(out + build_off, build_len, 1, mend + build_off, where);
        if (st != GLAREX__VERSION_OK)
            return st;
    }

    /* semver_db._version_to_long, then _add_leading_zeroes_to_prerelease */
    for (int c = 0; c < ncomp; c++) {
        size_t s = cstart[c];
        while (s + 1 < cend[c] && t[s] == '0')
            s++;
        value[c] = component_value(t + s, cend[c] - s);
        if (value[c] > GLAREX__VERSION_MAX_COMPONENT) {
            *where = cstart[c];
            return GLAREX__VERSION_TOO_LARGE;
        }
    }
    for (size_t k = 0; k < pre_len;) {
        size_t id = k;
        while (k < pre_len && out[pre_off + k] != '.')
            k++;
        if (all_digits(out + pre_off + id, k - id) &&
            k - id > GLAREX__VERSION_MAX_PRERELEASE_DIGITS) {
            *where = mend + pre_off + id;
            return GLAREX__VERSION_PRERELEASE_TOO_LONG;
        }
        k++;
    }

    base_len = snprintf(base, sizeof(base), "%lu.%lu.%lu", value[0], value[1], value[2]);
    {
        size_t fpre = (size_t)base_len + 1;
        size_t fbuild = (size_t)base_len + (pre_len ? 1 + pre_len : 0) + 1;
        size_t total = (size_t)base_len + (pre_len ? 1 + pre_len : 0) +
                       (build_len ? 1 + build_len : 0);
        if (total >= outsize)
            return GLAREX__VERSION_NOSPACE;
        /* Both parts move right: the later one first, so neither clobbers the other. */
        if (build_len) {
            memmove(out + fbuild, out + build_off, build_len);
            out[fbuild - 1] = '+';
        }
        if (pre_len) {
            memmove(out + fpre, out + pre_off, pre_len);
            out[fpre - 1] = '-';
        }
        memcpy(out, base, (size_t)base_len);
        out[total] = '\0';
    }
    return GLAREX__VERSION_OK;
}

glarex__version_status glarex__version_normalize(char *out, size_t outsize,
                                                 const char *text, size_t len,
                                                 glarex__version_mode mode, size_t *where)
{
    size_t dummy = 0;
    glarex__version_status st;

    if (!where)
        where = &dummy;
    *where = 0;
    if (!out || outsize < GLAREX__VERSION_NORMAL_SIZE(len))
        return GLAREX__VERSION_NOSPACE;
    out[0] = '\0';
    if (mode == GLAREX__VERSION_STRICT) {
        st = strict_scan(text, len, where);
        if (st != GLAREX__VERSION_OK)
            return st;
    }
    st = coerce(out, outsize, text, len, where);
    if (st != GLAREX__VERSION_OK)
        out[0] = '\0';
    return st;
}

/* {======================================================================
 * Precedence
 * ====================================================================== */

typedef struct span {
    const char *p;
    size_t n;
} span;

static int cmp_numeric(span a, span b)
{
    int c;
    while (a.n > 1 && a.p[0] == '0') {
        a.p++;
        a.n--;
    }
    while (b.n > 1 && b.p[0] == '0') {
        b.p++;
        b.n--;
    }
    if (a.n != b.n)
        return a.n < b.n ? -1 : 1;
    c = memcmp(a.p, b.p, a.n);
    return (c > 0) - (c < 0);
}

static int cmp_bytes(span a, span b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return (a.n > b.n) - (a.n < b.n);
}

/* Splits "M.m.p[-pre][+build]" into its numbers and prerelease. */
static void split(const char *v, span num[3], span *pre)
{
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        num[i].p = p;
        while (is_digit((unsigned char)*p))
            p++;
        num[i].n = (size_t)(p - num[i].p);
        if (i < 2 && *p == '.')
            p++;
    }
    pre->p = p;
    pre->n = 0;
    if (*p == '-') {
        pre->p = ++p;
        while (*p && *p != '+')
            p++;
        pre->n = (size_t)(p - pre->p);
    }
}

static int cmp_prerelease(span a, span b)
{
    size_t i = 0, j = 0;

    if (a.n == 0 || b.n == 0)
        return (a.n == 0) - (b.n == 0); /* a release sorts after its prereleases */
    for (;;) {
        span x, y;
        int xnum, ynum, c;
        if (i > a.n || j > b.n)
            return (i <= a.n) - (j <= b.n); /* the longer list is greater */
        x.p = a.p + i;
        while (i < a.n && a.p[i] != '.')
            i++;
        x.n = (size_t)(a.p + i - x.p);
        y.p = b.p + j;
        while (j < b.n && b.p[j] != '.')
            j++;
        y.n = (size_t)(b.p + j - y.p);
        i++;
        j++;
        xnum = all_digits(x.p, x.n);
        ynum = all_digits(y.p, y.n);
        if (xnum && ynum)
            c = cmp_numeric(x, y);
        else if (xnum != ynum)
            c = xnum ? -1 : 1; /* numeric identifiers sort before alphanumeric ones */
        else
            c = cmp_bytes(x, y);
        if (c)
            return c;
    }
}

int glarex__version_compare(const char *a, const char *b)
{
    span na[3], nb[3], pa, pb;
    split(a, na, &pa);
    split(b, nb, &pb);
    for (int i = 0; i < 3; i++) {
        int c = cmp_numeric(na[i], nb[i]);
        if (c)
            return c;
    }
    return cmp_prerelease(pa, pb);
}

/* }====================================================================== */
