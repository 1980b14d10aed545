/*
 * Native versions of the evaluator's costliest Mistral functions: Python's float
 * repr, json_dump (oslo jsonutils.dumps with indent=4), json_parse (json.loads),
 * yaml_dump (PyYAML's safe_dump), Python's repr() of lists, tuples and dicts and
 * yaml_parse (PyYAML's safe_load, through libyaml), working on the runtime's Lua
 * values directly (lua/runtime.lua describes them).
 *
 * They give exactly what their Lua versions in lua/json.lua and lua/pyfmt.lua give
 * (yaml_parse: what the host's reader, src/yaml_json.c, gives).
 * Whatever they do not handle themselves (an error to report, a value of another
 * kind, a dict key that is not a string) they leave to those versions by returning
 * nil: the Lua version then gives the value or the error, with its message.
 *
 * Bounds: they run without the count hook, so their work is linear in their input
 * and output (yaml_dump's sort of a dict's keys aside); every allocation goes
 * through the Lua state (its memory limit; libyaml's buffers aside, which grow with
 * a text the Lua state holds); every
 * NATIVE_PERIOD values they call the host's charge function, which counts them as
 * instructions, checks the deadline and raises once a limit has passed; they nest
 * at most NATIVE_MAX_DEPTH deep (rt.MAX_DEPTH), leaving deeper values to Lua.
 */
#include "eval_native.h"

#include <lauxlib.h>
#include <yaml.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NATIVE_PERIOD 4096
#define NATIVE_MAX_DEPTH 200
#define NATIVE_MAX_NUMBER 200 /* longest float text Lua's tonumber reads (L_MAXLENNUM) */

/* {======================================================================
 * Float repr
 * ====================================================================== */

/* A decimal: digits d1 d2 ... dn, the point after d1, times 10^e. */
typedef struct decimal {
    char digits[24];
    size_t nd;
    int e, neg;
} decimal;

/* Reads printf's "%.*e" text: [-]d[<point>ddd]e<sign>dd. The point is the locale's,
 * so only digits are read. */
static void decimal_read(const char *text, decimal *d)
{
    const char *t = text;
    d->nd = 0;
    d->neg = *t == '-';
    for (t += d->neg; *t && *t != 'e'; t++)
        if (*t >= '0' && *t <= '9' && d->nd < sizeof(d->digits))
            d->digits[d->nd++] = *t;
    d->e = atoi(t + 1);
}

/* Whether d reads back as x, written as an integer times a power of ten (no point,
 * whatever the locale). */
static int decimal_reads_back(const decimal *d, double x)
{
    char text[48];
    snprintf(text, sizeof(text), "%s%.*se%d", d->neg ? "-" : "", (int)d->nd, d->digits,
             d->e - (int)d->nd + 1);
    return strtod(text, NULL) == x;
}

/* The next decimal of as many digits away from zero. */
static void decimal_up(decimal *d)
{
    size_t i = d->nd;
    while (i > 0 && d->digits[i - 1] == '9')
        d->digits[--i] = '0';
    if (i > 0) {
        d->digits[i - 1]++;
    } else { /* 99..9 became 100..0 */
        d->digits[0] = '1';
        d->e++;
    }
}

/* Reads "%.*e" of x with p digits after the point into d; whether it reads back. */
static int round_trips(double x, int p, decimal *d)
{
    char text[48];
    snprintf(text, sizeof(text), "%.*e", p, x);
    decimal_read(text, d);
    return strtod(text, NULL) == x;
}

/* The fewest digits that read back as x, and of those the nearest to x, as Python's
 * repr gives them. The correctly rounded text of a length is the nearest of its
 * length, and a longer one is never further from x. Where the doubles around x are
 * equally far apart (x not a power of two), the nearest of a length is the only one
 * that may read back, and whether it does grows with the length: a bisection finds
 * the shortest (for normal doubles, at most three lengths are tried). Below a power of two the doubles are twice as close as above it, so
 * there the next decimal up may read back where the nearest, below x, does not. */
static void shortest_decimal(double x, decimal *d)
{
    int e;
    double m = frexp(x, &e);
    if (m == 0.5 || m == -0.5) {
        for (int p = 0; p < 16; p++) {
            if (round_trips(x, p, d))
                return;
            decimal up = *d;
            decimal_up(&up);
            if (decimal_reads_back(&up, x)) {
                *d = up;
                return;
            }
        }
        round_trips(x, 16, d);
        return;
    }
    if (fabs(x) >= DBL_MIN) {
        /* A normal double is at most half a unit of 2^-52 of itself from the shortest
         * decimal that reads back; 15-digit decimals are at least 10^-15 of it apart,
         * so when that decimal has at most 15 digits it is the nearest of 15 digits,
         * trailing zeros aside. */
        if (round_trips(x, 14, d))
            return;
        if (!round_trips(x, 15, d))
            round_trips(x, 16, d);
        return;
    }
    int lo = 0, hi = 16; /* 17 digits always read back */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (round_trips(x, mid, d))
            hi = mid;
        else
            lo = mid + 1;
    }
    round_trips(x, lo, d);
}

size_t glarex__float_repr(double x, char *buf)
{
    decimal d;
    size_t n = 0;

    if (isnan(x))
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, "nan");
    if (isinf(x))
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, x < 0 ? "-inf" : "inf");
    if (x == 0)
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, signbit(x) ? "-0.0" : "0.0");

    shortest_decimal(x, &d);
    const char *digits = d.digits;
    size_t nd = d.nd;
    int e = d.e;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (d.neg)
        buf[n++] = '-';

    if (e < -4 || e >= 16) {
        buf[n++] = digits[0];
        if (nd > 1) {
            buf[n++] = '.';
            memcpy(buf + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        n += (size_t)snprintf(buf + n, GLAREX__FLOAT_REPR_MAX - n, "e%c%02d", e < 0 ? '-' : '+',
                              e < 0 ? -e : e);
        return n;
    }
    if (e >= 0) {
        size_t whole = (size_t)e + 1;
        if (nd <= whole) {
            memcpy(buf + n, digits, nd);
            n += nd;
            memset(buf + n, '0', whole - nd);
            n += whole - nd;
            memcpy(buf + n, ".0", 3);
            return n + 2;
        }
        memcpy(buf + n, digits, whole);
        n += whole;
        buf[n++] = '.';
        memcpy(buf + n, digits + whole, nd - whole);
        n += nd - whole;
        buf[n] = '\0';
        return n;
    }
    buf[n++] = '0';
    buf[n++] = '.';
    memset(buf + n, '0', (size_t)(-e - 1));
    n += (size_t)(-e - 1);
    memcpy(buf + n, digits, nd);
    n += nd;
    buf[n] = '\0';
    return n;
}

/* float_repr(x) */
static int native_float_repr(lua_State *L)
{
    char buf[GLAREX__FLOAT_REPR_MAX];
    size_t n = glarex__float_repr(luaL_checknumber(L, 1), buf);
    lua_pushlstring(L, buf, n);
    return 1;
}

/* Counts `*since` values done; every NATIVE_PERIOD, charges them to the host with
 * the charge function at `fn` (a stack or upvalue index). */
static void charge_with(lua_State *L, int fn, unsigned *since)
{
    if (++*since < NATIVE_PERIOD)
        return;
    *since = 0;
    lua_pushvalue(L, fn);
    lua_pushinteger(L, NATIVE_PERIOD);
    lua_call(L, 1, 0);
}

/* charge_with the host's charge function, the native functions' upvalue. */
static void charge(lua_State *L, unsigned *since)
{
    charge_with(L, lua_upvalueindex(1), since);
}

/* }====================================================================== */

/* {======================================================================
 * json_dump
 * ====================================================================== */

/* The arguments of json_dump(v, null, Dict, List, Tuple, PyList), by stack index. */
enum { DUMP_VALUE = 1, DUMP_NULL, DUMP_DICT, DUMP_LIST, DUMP_TUPLE, DUMP_PYLIST, DUMP_OUT };

/* The output starts in a buffer on the C stack and grows in a userdata at stack
 * index DUMP_OUT, replaced as it grows, so that an error (a limit) anywhere leaves
 * nothing to free. */
#define DUMP_SMALL 256
typedef struct dumper {
    lua_State *L;
    char *p;
    size_t len, cap;
    unsigned since;
    int frozen; /* json_dump of YAQL data: FrozenDicts on the path, or -1 */
} dumper;

/* YAQL's dicts (FrozenDict, not marked mutable) are Mappings that oslo's to_primitive
 * (max_depth 3) converts one level deeper each: the fourth on a path becomes None. */
#define FROZEN_DEPTH 3

/* Starts the output in `small` (DUMP_SMALL bytes), pushing DUMP_OUT's placeholder. */
static void start_output(dumper *d, lua_State *L, char *small)
{
    *d = (dumper){L, small, 0, DUMP_SMALL, 0, -1};
    lua_pushnil(L); /* DUMP_OUT */
}

static void reserve(dumper *d, size_t more)
{
    if (d->cap - d->len >= more)
        return;
    size_t cap = d->cap * 2;
    if (cap - d->len < more)
        cap = d->len + more;
    if (cap < d->len)
        luaL_error(d->L, "not enough memory");
    char *p = lua_newuserdatauv(d->L, cap, 0);
    memcpy(p, d->p, d->len);
    lua_replace(d->L, DUMP_OUT);
    d->p = p;
    d->cap = cap;
}

static void put(dumper *d, const char *s, size_t n)
{
    reserve(d, n);
    memcpy(d->p + d->len, s, n);
    d->len += n;
}

static void put_indent(dumper *d, int level)
{
    size_t n = 1 + 4 * (size_t)level;
    reserve(d, n);
    d->p[d->len] = '\n';
    memset(d->p + d->len + 1, ' ', n - 1);
    d->len += n;
}

/* Decodes one UTF-8 sequence of s[0..n) into *cp, refusing what Lua's utf8.codes
 * refuses and the surrogates and code points past U+10FFFF that it lets through
 * (those stay with the Lua version). Returns its length, or 0. */
static size_t utf8_decode(const unsigned char *s, size_t n, unsigned long *cp)
{
    static const unsigned long min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (len == 0 || s[0] >= 0xf8 || len > n)
        return 0;
    unsigned long c = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min_cp[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* A string as Python's json.dumps(ensure_ascii=True) writes it. 0, or -1 to leave it
 * to the Lua version (text that is not UTF-8). */
static int put_json_str(dumper *d, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char esc[16];
    size_t i = 0, run = 0;

    reserve(d, n + 2);
    d->p[d->len++] = '"';
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        put(d, str + run, i - run);
        size_t len = 1;
        switch (c) {
        case '"': put(d, "\\\"", 2); break;
        case '\\': put(d, "\\\\", 2); break;
        case '\n': put(d, "\\n", 2); break;
        case '\r': put(d, "\\r", 2); break;
        case '\t': put(d, "\\t", 2); break;
        case '\b': put(d, "\\b", 2); break;
        case '\f': put(d, "\\f", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) { /* DEL too, as Python escapes it */
                put(d, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c));
            } else {
                unsigned long cp;
                len = utf8_decode(s + i, n - i, &cp);
                if (len == 0)
                    return -1;
                if (cp < 0x10000)
                    put(d, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04lx", cp));
                else
                    put(d, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04lx\\u%04lx",
                                                 0xd800 + ((cp - 0x10000) >> 10),
                                                 0xdc00 + ((cp - 0x10000) & 0x3ff)));
            }
        }
        i += len;
        run = i;
    }
    put(d, str + run, i - run);
    put(d, "\"", 1);
    return 0;
}

static void put_json_number(dumper *d, lua_State *L, int idx)
{
    char buf[GLAREX__FLOAT_REPR_MAX];
    if (lua_isinteger(L, idx)) {
        put(d, buf, (size_t)snprintf(buf, sizeof(buf), LUA_INTEGER_FMT, lua_tointeger(L, idx)));
        return;
    }
    double x = lua_tonumber(L, idx);
    if (isnan(x))
        put(d, "NaN", 3);
    else if (isinf(x))
        put(d, x < 0 ? "-Infinity" : "Infinity", x < 0 ? 9 : 8);
    else
        put(d, buf, glarex__float_repr(x, buf));
}

/* The table at idx: 1 a dict, 0 a list (List, Tuple, PyList), -1 anything else
 * (sets, iterators, undefined: their errors are the Lua versions'). */
static int container_kind(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return -1;
    int kind = lua_rawequal(L, -1, DUMP_DICT)                 ? 1
               : lua_rawequal(L, -1, DUMP_LIST) || lua_rawequal(L, -1, DUMP_TUPLE) ||
                       lua_rawequal(L, -1, DUMP_PYLIST) ? 0
                                                        : -1;
    lua_pop(L, 1);
    return kind;
}

static int dump_value(dumper *d, int idx, int level);

static const char *const json_words[] = {"true", "false", "null"};

/* Writes the boolean or null at idx as `words` ({true, false, null}) name them;
 * whether it was one. */
static int put_word(dumper *d, int idx, const char *const words[3])
{
    lua_State *L = d->L;
    const char *w = lua_isboolean(L, idx)               ? words[!lua_toboolean(L, idx)]
                    : lua_rawequal(L, idx, DUMP_NULL) ? words[2]
                                                      : NULL;
    if (w)
        put(d, w, strlen(w));
    return w != NULL;
}

/* The items of the list at idx (`dict` 0) or the keys and values of the dict. */
static int dump_items(dumper *d, int idx, int level, int dict)
{
    lua_State *L = d->L;
    int keys = lua_gettop(L) + 1, map = keys + 1;
    if (dict) {
        lua_getfield(L, idx, "keys");
        lua_getfield(L, idx, "map");
    } else {
        lua_pushvalue(L, idx);
        lua_pushnil(L);
    }
    lua_Integer n = luaL_len(L, keys);
    if (n == 0) {
        put(d, dict ? "{}" : "[]", 2);
        lua_settop(L, keys - 1);
        return 0;
    }
    put(d, dict ? "{" : "[", 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            put(d, ",", 1);
        put_indent(d, level + 1);
        lua_geti(L, keys, i);
        if (dict) {
            size_t klen;
            if (lua_type(L, -1) != LUA_TSTRING)
                return -1; /* keys of other types: rt.keynorm's business */
            const char *k = lua_tolstring(L, -1, &klen);
            if (put_json_str(d, k, klen) < 0)
                return -1;
            put(d, ": ", 2);
            lua_gettable(L, map);
        }
        if (dump_value(d, lua_gettop(L), level + 1) < 0)
            return -1;
        lua_settop(L, map);
    }
    put_indent(d, level);
    put(d, dict ? "}" : "]", 1);
    lua_settop(L, keys - 1);
    return 0;
}

/* Appends the value at idx. 0, or -1 to leave the whole dump to the Lua version. */
static int dump_value(dumper *d, int idx, int level)
{
    lua_State *L = d->L;
    if (level > NATIVE_MAX_DEPTH)
        return -1;
    charge(L, &d->since);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return put_json_str(d, s, n);
    }
    case LUA_TNUMBER:
        put_json_number(d, L, idx);
        return 0;
    case LUA_TBOOLEAN:
    case LUA_TTABLE:
        break;
    default:
        return -1;
    }
    if (put_word(d, idx, json_words))
        return 0;
    luaL_checkstack(L, 8, "json_dump nesting");
    int kind = container_kind(L, idx);
    if (kind < 0)
        return -1;
    if (kind == 1 && d->frozen >= 0) {
        int mutable = lua_getfield(L, idx, "mutable") != LUA_TNIL && lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!mutable) {
            if (d->frozen >= FROZEN_DEPTH) {
                put(d, "null", 4);
                return 0;
            }
            d->frozen++;
            int rc = dump_items(d, idx, level, kind);
            d->frozen--;
            return rc;
        }
    }
    return dump_items(d, idx, level, kind);
}

/* json_dump(v, null, Dict, List, Tuple, PyList, yaql): Mistral's json_dump text, or nil;
 * yaql: the data is YAQL's (FROZEN_DEPTH applies). */
static int native_json_dump(lua_State *L)
{
    dumper d;
    char small[DUMP_SMALL];
    int yaql = lua_toboolean(L, DUMP_PYLIST + 1);
    lua_settop(L, DUMP_PYLIST);
    start_output(&d, L, small);
    d.frozen = yaql ? 0 : -1;
    if (dump_value(&d, DUMP_VALUE, 0) < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, d.p, d.len);
    return 1;
}

/* }====================================================================== */

/* {======================================================================
 * json_parse
 * ====================================================================== */

/* The arguments of json_parse(text, list_mt, null, Dict, mutable), by stack index. */
enum { PARSE_TEXT = 1, PARSE_LIST, PARSE_NULL, PARSE_DICT, PARSE_MUTABLE };

typedef struct parser {
    lua_State *L;
    const char *s;
    size_t len, pos;
    int mutable_dicts; /* mark dicts as Python's (rt.mutable_dict) */
    unsigned since;
} parser;

static void skip_space(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int starts(const parser *p, const char *word)
{
    size_t n = strlen(word);
    return p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0;
}

static int hex4(const parser *p, size_t at, unsigned *out)
{
    unsigned v = 0;
    if (p->len < 4 || at > p->len - 4)
        return -1;
    for (size_t i = at; i < at + 4; i++) {
        char c = p->s[i];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

static void add_utf8(luaL_Buffer *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    luaL_addlstring(b, u, n);
}

/* Pushes the string whose opening quote is at pos. 0, or -1 (nothing pushed). */
static int parse_string(parser *p)
{
    static const char plain[] = "\"\\/bfnrt", meant[] = "\"\\/\b\f\n\r\t";
    size_t start = ++p->pos, i = start;
    luaL_Buffer b;

    while (i < p->len && p->s[i] != '"' && p->s[i] != '\\' && (unsigned char)p->s[i] >= 0x20)
        i++;
    if (i < p->len && p->s[i] == '"') { /* no escapes: the common case */
        lua_pushlstring(p->L, p->s + start, i - start);
        p->pos = i + 1;
        return 0;
    }
    luaL_buffinit(p->L, &b);
    for (;;) {
        luaL_addlstring(&b, p->s + start, i - start);
        if (i >= p->len || (unsigned char)p->s[i] < 0x20)
            goto fail; /* unterminated, or a control character */
        if (p->s[i] == '"')
            break;
        char e = i + 1 < p->len ? p->s[i + 1] : '\0';
        const char *which = e ? strchr(plain, e) : NULL;
        if (which) {
            luaL_addchar(&b, meant[which - plain]);
            i += 2;
        } else if (e == 'u') {
            unsigned cp, lo;
            if (hex4(p, i + 2, &cp) < 0)
                goto fail;
            i += 6;
            unsigned long c = cp;
            if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < p->len && p->s[i] == '\\' &&
                p->s[i + 1] == 'u' && hex4(p, i + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                c = 0x10000 + ((unsigned long)(cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            if (c >= 0xd800 && c <= 0xdfff)
                goto fail; /* a lone surrogate */
            add_utf8(&b, c);
        } else {
            goto fail;
        }
        start = i;
        while (i < p->len && p->s[i] != '"' && p->s[i] != '\\' &&
               (unsigned char)p->s[i] >= 0x20)
            i++;
    }
    luaL_pushresult(&b);
    p->pos = i + 1;
    return 0;
fail:
    luaL_pushresult(&b);
    lua_pop(p->L, 1);
    return -1;
}

static int is_digit(const parser *p, size_t at)
{
    return at < p->len && p->s[at] >= '0' && p->s[at] <= '9';
}

/* Pushes the number at pos, read as json.loads reads it: an int unless it has a
 * fraction or an exponent. 0, or -1: not a number, or an int beyond 64 bits. */
static int parse_number(parser *p)
{
    size_t at = p->pos, start = p->pos;
    int neg = 0, is_float = 0;
    if (at < p->len && p->s[at] == '-') {
        neg = 1;
        at++;
    }
    if (!is_digit(p, at))
        return -1;
    if (p->s[at] == '0')
        at++;
    else
        while (is_digit(p, at))
            at++;
    size_t int_end = at;
    if (at < p->len && p->s[at] == '.' && is_digit(p, at + 1)) {
        at += 2;
        while (is_digit(p, at))
            at++;
        is_float = 1;
    }
    if (at < p->len && (p->s[at] == 'e' || p->s[at] == 'E')) {
        size_t q = at + 1;
        if (q < p->len && (p->s[q] == '-' || p->s[q] == '+'))
            q++;
        if (is_digit(p, q)) {
            while (is_digit(p, q))
                q++;
            at = q;
            is_float = 1;
        }
    }
    if (!is_float) {
        unsigned long long v = 0, max = neg ? (1ULL << 63) : (1ULL << 63) - 1;
        for (size_t i = start + (size_t)neg; i < int_end; i++) {
            unsigned d = (unsigned)(p->s[i] - '0');
            if (v > (max - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        lua_pushinteger(p->L, neg ? (lua_Integer)(0 - v) : (lua_Integer)v);
        p->pos = at;
        return 0;
    }
    char text[NATIVE_MAX_NUMBER + 1];
    if (at - start > NATIVE_MAX_NUMBER)
        return -1;
    memcpy(text, p->s + start, at - start);
    text[at - start] = '\0';
    if (lua_stringtonumber(p->L, text) == 0)
        return -1;
    lua_pushnumber(p->L, lua_tonumber(p->L, -1));
    lua_remove(p->L, -2);
    p->pos = at;
    return 0;
}

static int parse_value(parser *p, int depth);

/* Pushes a dict, {keys = {}, map = {}} with room for `fields` fields, then its keys
 * and its map; returns the dict's index. */
static int push_dict_parts(lua_State *L, int fields)
{
    lua_createtable(L, 0, fields);
    int dict = lua_gettop(L);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, dict, "keys");
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, dict, "map");
    return dict;
}

/* Pushes the object whose '{' is at pos. 0, or -1 (nothing pushed). */
static int parse_object(parser *p, int depth)
{
    lua_State *L = p->L;
    int dict = push_dict_parts(L, p->mutable_dicts ? 3 : 2), keys = dict + 1, map = dict + 2;
    lua_Integer n = 0;
    if (p->mutable_dicts) {
        lua_pushboolean(L, 1);
        lua_setfield(L, dict, "mutable");
    }
    lua_pushvalue(L, PARSE_DICT);
    lua_setmetatable(L, dict);
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        lua_settop(L, dict);
        return 0;
    }
    for (;;) {
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != '"' || parse_string(p) < 0)
            break;
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            break;
        p->pos++;
        if (parse_value(p, depth + 1) < 0)
            break;
        /* a repeated key keeps its first place and takes the last value */
        lua_pushvalue(L, -2);
        if (lua_rawget(L, map) == LUA_TNIL) {
            lua_pushvalue(L, -3);
            lua_rawseti(L, keys, ++n);
        }
        lua_pop(L, 1);
        lua_rawset(L, map);
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
        } else if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            lua_settop(L, dict);
            return 0;
        } else {
            break;
        }
    }
    lua_settop(L, dict - 1);
    return -1;
}

/* Pushes the array whose '[' is at pos. 0, or -1 (nothing pushed). */
static int parse_array(parser *p, int depth)
{
    lua_State *L = p->L;
    lua_Integer n = 0;
    lua_newtable(L);
    lua_pushvalue(L, PARSE_LIST);
    lua_setmetatable(L, -2);
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (parse_value(p, depth + 1) < 0)
            break;
        lua_rawseti(L, -2, ++n);
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
        } else if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        } else {
            break;
        }
    }
    lua_pop(L, 1);
    return -1;
}

/* Pushes the value at pos (after blanks). 0, or -1 (nothing pushed). */
static int parse_value(parser *p, int depth)
{
    lua_State *L = p->L;
    if (depth > NATIVE_MAX_DEPTH)
        return -1;
    luaL_checkstack(L, 8, "json_parse nesting");
    charge(L, &p->since);
    skip_space(p);
    if (p->pos >= p->len)
        return -1;
    switch (p->s[p->pos]) {
    case '{':
        return parse_object(p, depth);
    case '[':
        return parse_array(p, depth);
    case '"':
        return parse_string(p);
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(p);
    }
    static const struct {
        const char *word;
        int kind; /* 1 true, 0 false, -1 null, 2 NaN, 3 inf, 4 -inf */
    } words[] = {{"true", 1},      {"false", 0},     {"null", -1},
                 {"NaN", 2},       {"Infinity", 3},  {"-Infinity", 4}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (!starts(p, words[i].word))
            continue;
        p->pos += strlen(words[i].word);
        switch (words[i].kind) {
        case 1: lua_pushboolean(L, 1); break;
        case 0: lua_pushboolean(L, 0); break;
        case -1: lua_pushvalue(L, PARSE_NULL); break;
        case 2: lua_pushnumber(L, (lua_Number)NAN); break;
        case 3: lua_pushnumber(L, (lua_Number)HUGE_VAL); break;
        default: lua_pushnumber(L, (lua_Number)-HUGE_VAL); break;
        }
        return 0;
    }
    return parse_number(p);
}

/* json_parse(text, list_mt, null, Dict, mutable): the value, or nil. */
static int native_json_parse(lua_State *L)
{
    parser p = {L, NULL, 0, 0, 0, 0};
    p.s = luaL_checklstring(L, PARSE_TEXT, &p.len);
    luaL_checktype(L, PARSE_LIST, LUA_TTABLE);
    luaL_checktype(L, PARSE_DICT, LUA_TTABLE);
    p.mutable_dicts = lua_toboolean(L, PARSE_MUTABLE);
    lua_settop(L, PARSE_MUTABLE);
    if (parse_value(&p, 0) < 0) {
        lua_pushnil(L);
        return 1;
    }
    skip_space(&p);
    if (p.pos < p.len)
        lua_pushnil(L); /* extra data: the Lua version says where */
    return 1;
}

/* }====================================================================== */

/* {======================================================================
 * yaml_dump
 * ====================================================================== */

/* PyYAML's yaml.safe_dump(v, default_flow_style=False), as Mistral's yaml_dump calls
 * it, for the values whose text needs none of the emitter's rarer paths: strings of
 * printable ASCII (no breaks, tabs or escapes: those are double-quoted), dicts whose
 * keys are such strings of 1 to 122 characters (simple keys), no table held twice (an
 * anchor) and no scalar that could be folded at 80 columns. It follows the emitter's
 * state (column, indent, whether the line holds only blanks) as lua/json.lua's port
 * does, call for call; everything else is left to that port by returning nil. */

#define YAML_WIDTH 80
#define YAML_SIMPLE_KEY_MAX 123 /* PyYAML: the key and its tag, "!!str", under 128 */
enum { YAML_SEEN = DUMP_OUT + 1 }; /* tables met so far: a second meeting is an anchor */

typedef struct yemitter {
    dumper out;
    int column, indent; /* indent -1: none yet */
    int whitespace, indention, open_ended;
} yemitter;

static void y_write(yemitter *e, const char *s, size_t n)
{
    put(&e->out, s, n);
    e->column += (int)n;
}

static void y_indicator(yemitter *e, const char *ind, int need_ws, int whitespace,
                        int indention)
{
    if (!e->whitespace && need_ws)
        y_write(e, " ", 1);
    y_write(e, ind, strlen(ind));
    e->whitespace = whitespace;
    e->indention = e->indention && indention;
    e->open_ended = 0;
}

static void y_indent(yemitter *e)
{
    int indent = e->indent < 0 ? 0 : e->indent;
    if (!e->indention || e->column > indent || (e->column == indent && !e->whitespace)) {
        put(&e->out, "\n", 1);
        e->whitespace = e->indention = 1;
        e->column = 0;
    }
    if (e->column < indent) {
        e->whitespace = 1;
        reserve(&e->out, (size_t)(indent - e->column));
        memset(e->out.p + e->out.len, ' ', (size_t)(indent - e->column));
        e->out.len += (size_t)(indent - e->column);
        e->column = indent;
    }
}

/* Whether s[at..n) matches [0-9][0-9_]*; *end is where it stops. */
static int digits_(const char *s, size_t n, size_t at, size_t *end)
{
    if (at >= n || s[at] < '0' || s[at] > '9')
        return 0;
    while (at < n && ((s[at] >= '0' && s[at] <= '9') || s[at] == '_'))
        at++;
    *end = at;
    return 1;
}

static int all_of(const char *s, size_t n, size_t at, const char *set)
{
    if (at >= n)
        return 0;
    for (; at < n; at++)
        if (!strchr(set, s[at]))
            return 0;
    return 1;
}

static int is_dig(const char *s, size_t n, size_t at)
{
    return at < n && s[at] >= '0' && s[at] <= '9';
}

/* [eE][-+][0-9]+ to the end, or nothing at all. */
static int exponent_to_end(const char *s, size_t n, size_t at)
{
    if (at == n)
        return 1;
    if ((s[at] != 'e' && s[at] != 'E') || at + 2 >= n || (s[at + 1] != '-' && s[at + 1] != '+'))
        return 0;
    return all_of(s, n, at + 2, "0123456789");
}

/* (:[0-5]?[0-9])+ from at; returns where it stops, or 0 if none. */
static size_t sexagesimal(const char *s, size_t n, size_t at)
{
    size_t start = at;
    while (at < n && s[at] == ':') {
        if (is_dig(s, n, at + 1) && s[at + 1] <= '5' && is_dig(s, n, at + 2))
            at += 3;
        else if (is_dig(s, n, at + 1))
            at += 2;
        else
            return 0;
    }
    return at > start ? at : 0;
}

/* [0-9][0-9]? from at; where it stops, or 0. */
static size_t one_or_two(const char *s, size_t n, size_t at)
{
    if (!is_dig(s, n, at))
        return 0;
    return is_dig(s, n, at + 1) ? at + 2 : at + 1;
}

static int timestamp(const char *s, size_t n)
{
    size_t at;
    for (at = 0; at < 4; at++)
        if (!is_dig(s, n, at))
            return 0;
    if (at >= n || s[at] != '-')
        return 0;
    if (n == 10 && is_dig(s, n, 5) && is_dig(s, n, 6) && s[7] == '-' && is_dig(s, n, 8) &&
        is_dig(s, n, 9))
        return 1;
    if (!(at = one_or_two(s, n, 5)) || at >= n || s[at] != '-' || !(at = one_or_two(s, n, at + 1)))
        return 0;
    if (at < n && (s[at] == 'T' || s[at] == 't')) {
        at++;
    } else {
        size_t b = at;
        while (at < n && (s[at] == ' ' || s[at] == '\t'))
            at++;
        if (at == b)
            return 0;
    }
    if (!(at = one_or_two(s, n, at)) || at >= n || s[at] != ':' || !is_dig(s, n, at + 1) ||
        !is_dig(s, n, at + 2) || at + 3 >= n || s[at + 3] != ':' || !is_dig(s, n, at + 4) ||
        !is_dig(s, n, at + 5))
        return 0;
    at += 6;
    if (at < n && s[at] == '.')
        for (at++; is_dig(s, n, at); at++) {
        }
    if (at == n)
        return 1;
    while (at < n && (s[at] == ' ' || s[at] == '\t'))
        at++;
    if (at + 1 == n && s[at] == 'Z')
        return 1;
    if (at >= n || (s[at] != '-' && s[at] != '+') || !(at = one_or_two(s, n, at + 1)))
        return 0;
    return at == n || (s[at] == ':' && at + 3 == n && is_dig(s, n, at + 1) && is_dig(s, n, at + 2));
}

/* Whether s[0..n) is one of `words`, none longer than 5 characters. */
static int word_in(const char *s, size_t n, const char *const *words, size_t nwords)
{
    if (n > 5 || memchr(s, '\0', n))
        return 0;
    for (size_t i = 0; i < nwords; i++)
        if (strncmp(words[i], s, n) == 0 && words[i][n] == '\0')
            return 1;
    return 0;
}

/* Whether PyYAML's implicit resolvers (YAML 1.1: bool, null, float, int, merge,
 * timestamp, value) read the plain text s as something other than a string. */
static int yaml_resolves(const char *s, size_t n)
{
    static const char *const words[] = {
        "yes", "Yes", "YES", "no",  "No",   "NO",   "true", "True", "TRUE", "false", "False",
        "FALSE", "on", "On",  "ON",  "off", "Off",  "OFF",  "~",    "null", "Null",  "NULL",
        "<<",  "=",   ".nan", ".NaN", ".NAN"};
    size_t end;
    if (n == 0)
        return 1;
    if (!s[0] || !strchr("yYnNtTfFoO~<=.-+0123456789", s[0]))
        return 0; /* no resolver starts with another character (PyYAML picks them by it) */
    if (word_in(s, n, words, sizeof(words) / sizeof(words[0])))
        return 1;
    if (s[0] == '.' && digits_(s, n, 1, &end) && exponent_to_end(s, n, end))
        return 1;
    if (timestamp(s, n))
        return 1;
    size_t b = s[0] == '-' || s[0] == '+'; /* the body, after one sign */
    const char *body = s + b;
    size_t bn = n - b;
    if (bn == 4 && body[0] == '.' &&
        (!memcmp(body, ".inf", 4) || !memcmp(body, ".Inf", 4) || !memcmp(body, ".INF", 4)))
        return 1;
    if (bn == 0)
        return 0;
    if (digits_(body, bn, 0, &end)) {
        if (end < bn && body[end] == '.') {
            size_t f = end + 1;
            while (f < bn && ((body[f] >= '0' && body[f] <= '9') || body[f] == '_'))
                f++;
            if (exponent_to_end(body, bn, f))
                return 1;
        }
        size_t j = sexagesimal(body, bn, end);
        if (j && j < bn && body[j] == '.' && (j + 1 == bn || all_of(body, bn, j + 1, "0123456789_")))
            return 1;
        if (j && j == bn && body[0] != '0')
            return 1;
    }
    if (bn == 1 && body[0] == '0')
        return 1;
    if (body[0] == '0' && bn > 1) {
        if (body[1] == 'b' && all_of(body, bn, 2, "01_"))
            return 1;
        if (body[1] == 'x' && all_of(body, bn, 2, "0123456789abcdefABCDEF_"))
            return 1;
        if (all_of(body, bn, 1, "01234567_"))
            return 1;
    }
    return body[0] >= '1' && body[0] <= '9' && all_of(body, bn, 0, "0123456789_");
}

static int is_blank_or_end(const char *s, size_t n, size_t at)
{
    return at >= n || s[at] == ' ';
}

/* Whether the emitter may write s (printable ASCII, not empty) plain in block
 * context: PyYAML's analyze_scalar on it, allow_block_plain. */
static int block_plain_allowed(const char *s, size_t n)
{
    if (s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    if (n >= 3 && (!memcmp(s, "---", 3) || !memcmp(s, "...", 3)))
        return 0;
    if (strchr("#,[]{}&*!|>'\"%@`", s[0]))
        return 0;
    if ((s[0] == '?' || s[0] == ':' || s[0] == '-') && is_blank_or_end(s, n, 1))
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] == ':' && is_blank_or_end(s, n, i + 1))
            return 0;
        if (s[i] == '#' && s[i - 1] == ' ')
            return 0;
    }
    return 1;
}

/* A plain scalar: a number, bool or null, or a string that may stand unquoted. */
static void y_plain(yemitter *e, const char *s, size_t n, int root)
{
    if (root)
        e->open_ended = 1;
    if (!e->whitespace)
        y_write(e, " ", 1);
    e->whitespace = e->indention = 0;
    y_write(e, s, n);
}

/* A string scalar: plain, or single-quoted. 0, or -1 to leave it to Lua. */
static int y_string(yemitter *e, const char *s, size_t n, int root, int split)
{
    size_t quotes = 0, spaces = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e)
            return -1; /* breaks, tabs, escapes, non-ASCII: double-quoted or multi-line */
        quotes += c == '\'';
        spaces += c == ' ';
    }
    int plain = n > 0 && block_plain_allowed(s, n) && !yaml_resolves(s, n);
    /* the widest the line can get; past the width a space may fold it */
    if (split && spaces > 0 && e->column + 3 + (int)(n + quotes) > YAML_WIDTH)
        return -1;
    if (plain) {
        y_plain(e, s, n, root);
        return 0;
    }
    y_indicator(e, "'", 1, 0, 0);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'') {
            y_write(e, s + run, i + 1 - run);
            y_write(e, "'", 1);
            run = i + 1;
        }
    }
    y_write(e, s + run, n - run);
    y_indicator(e, "'", 0, 0, 0);
    return 0;
}

/* The text of a number, as PyYAML's represent_int and represent_float give it. */
static size_t y_number_text(lua_State *L, int idx, char *buf)
{
    if (lua_isinteger(L, idx))
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, LUA_INTEGER_FMT,
                                lua_tointeger(L, idx));
    double x = lua_tonumber(L, idx);
    if (isnan(x))
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, ".nan");
    if (isinf(x))
        return (size_t)snprintf(buf, GLAREX__FLOAT_REPR_MAX, x < 0 ? "-.inf" : ".inf");
    size_t n = glarex__float_repr(x, buf);
    char *e = strchr(buf, 'e');
    if (e && !memchr(buf, '.', n)) { /* 1e+20 -> 1.0e+20 */
        memmove(e + 2, e, n - (size_t)(e - buf) + 1);
        memcpy(e, ".0", 2);
        n += 2;
    }
    return n;
}

static int y_node(yemitter *e, int idx, int level, int root, int mapping, int simple_key);


typedef struct ykey {
    const char *s;
    size_t n;
    lua_Integer at; /* its place in the dict's keys */
} ykey;

static int ykey_cmp(const void *a, const void *b)
{
    const ykey *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int y_mapping(yemitter *e, int idx, int level)
{
    lua_State *L = e->out.L;
    int keys = lua_gettop(L) + 1, map = keys + 1, order = keys + 2;
    lua_getfield(L, idx, "keys");
    lua_getfield(L, idx, "map");
    lua_Integer n = luaL_len(L, keys);
    if (n == 0) {
        y_indicator(e, "{", 1, 1, 0);
        y_indicator(e, "}", 0, 0, 0);
        lua_settop(L, keys - 1);
        return 0;
    }
    if ((size_t)n > ((size_t)-1) / sizeof(ykey))
        return -1;
    ykey *ks = lua_newuserdatauv(L, (size_t)n * sizeof(ykey), 0); /* order */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, keys, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            return -1; /* keys of other types: sorted and written by the Lua version */
        ks[i - 1].s = lua_tolstring(L, -1, &ks[i - 1].n); /* kept alive by `keys` */
        ks[i - 1].at = i;
        lua_pop(L, 1);
        charge(L, &e->out.since);
    }
    qsort(ks, (size_t)n, sizeof(ykey), ykey_cmp);
    int saved = e->indent;
    e->indent = e->indent < 0 ? 0 : e->indent + 2;
    for (lua_Integer i = 0; i < n; i++) {
        if (ks[i].n == 0 || ks[i].n >= YAML_SIMPLE_KEY_MAX)
            return -1; /* not a simple key: "? key" */
        y_indent(e);
        lua_geti(L, keys, ks[i].at);
        if (y_node(e, lua_gettop(L), level + 1, 0, 1, 1) < 0)
            return -1;
        y_indicator(e, ":", 0, 0, 0);
        lua_gettable(L, map);
        if (y_node(e, lua_gettop(L), level + 1, 0, 1, 0) < 0)
            return -1;
        lua_settop(L, order);
    }
    e->indent = saved;
    lua_settop(L, keys - 1);
    return 0;
}

static int y_sequence(yemitter *e, int idx, int level, int mapping)
{
    lua_State *L = e->out.L;
    lua_Integer n = luaL_len(L, idx);
    if (n == 0) {
        y_indicator(e, "[", 1, 1, 0);
        y_indicator(e, "]", 0, 0, 0);
        return 0;
    }
    int saved = e->indent;
    int indentless = mapping && !e->indention;
    if (e->indent < 0)
        e->indent = 0;
    else if (!indentless)
        e->indent += 2;
    for (lua_Integer i = 1; i <= n; i++) {
        y_indent(e);
        y_indicator(e, "-", 1, 0, 1);
        lua_geti(L, idx, i);
        if (y_node(e, lua_gettop(L), level + 1, 0, 0, 0) < 0)
            return -1;
        lua_pop(L, 1);
    }
    e->indent = saved;
    return 0;
}

/* Writes the value at idx. 0, or -1 to leave the whole dump to the Lua version. */
static int y_node(yemitter *e, int idx, int level, int root, int mapping, int simple_key)
{
    lua_State *L = e->out.L;
    char buf[GLAREX__FLOAT_REPR_MAX + 2];
    if (level > NATIVE_MAX_DEPTH)
        return -1;
    charge(L, &e->out.since);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return y_string(e, s, n, root, !simple_key);
    }
    case LUA_TNUMBER:
        y_plain(e, buf, y_number_text(L, idx, buf), root);
        return 0;
    case LUA_TBOOLEAN:
        y_plain(e, lua_toboolean(L, idx) ? "true" : "false", lua_toboolean(L, idx) ? 4 : 5, root);
        return 0;
    case LUA_TTABLE:
        break;
    default:
        return -1;
    }
    if (lua_rawequal(L, idx, DUMP_NULL)) {
        y_plain(e, "null", 4, root);
        return 0;
    }
    luaL_checkstack(L, 8, "yaml_dump nesting");
    int kind = container_kind(L, idx);
    if (kind < 0)
        return -1;
    lua_pushvalue(L, idx);
    if (lua_rawget(L, YAML_SEEN) != LUA_TNIL)
        return -1; /* held twice: an anchor and an alias */
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, YAML_SEEN);
    return kind ? y_mapping(e, idx, level) : y_sequence(e, idx, level, mapping);
}

/* yaml_dump(v, null, Dict, List, Tuple, PyList): Mistral's yaml_dump text, or nil. */
static int native_yaml_dump(lua_State *L)
{
    yemitter e = {{L, NULL, 0, 0, 0, -1}, 0, -1, 1, 1, 0};
    char small[DUMP_SMALL];
    lua_settop(L, DUMP_PYLIST);
    start_output(&e.out, L, small);
    lua_newtable(L);                              /* YAML_SEEN */
    if (y_node(&e, DUMP_VALUE, 0, 1, 0, 0) < 0) {
        lua_pushnil(L);
        return 1;
    }
    e.indent = -1;
    y_indent(&e);
    if (e.open_ended) {
        y_indicator(&e, "...", 1, 0, 0);
        y_indent(&e);
    }
    lua_pushlstring(L, e.out.p, e.out.len);
    return 1;
}

/* }====================================================================== */

/* {======================================================================
 * repr
 * ====================================================================== */

/* The arguments of repr(v, null, Dict, List, Tuple, PyList, yaql, str_repr), by stack
 * index; REPR_YAQL and REPR_STR are moved past DUMP_OUT. */
enum { REPR_YAQL = DUMP_OUT + 1, REPR_STR };

typedef struct reprer {
    dumper out;
    int yaql; /* YAQL's view: a List is a tuple */
} reprer;

/* A string as Python's repr() writes it, for ASCII text; other text goes to the
 * Lua str_repr (its escapes depend on Unicode's printable classes). */
static void put_py_str(reprer *r, int idx)
{
    lua_State *L = r->out.L;
    size_t n;
    const unsigned char *s = (const unsigned char *)lua_tolstring(L, idx, &n);
    int single = 0, dbl = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x80) {
            lua_pushvalue(L, REPR_STR);
            lua_pushvalue(L, idx);
            lua_call(L, 1, 1);
            s = (const unsigned char *)lua_tolstring(L, -1, &n);
            put(&r->out, (const char *)s, n);
            lua_pop(L, 1);
            return;
        }
        single |= s[i] == '\'';
        dbl |= s[i] == '"';
    }
    char q = single && !dbl ? '"' : '\'', esc[8];
    size_t run = 0;
    reserve(&r->out, n + 2);
    r->out.p[r->out.len++] = q;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != 0x7f && c != (unsigned char)q && c != '\\')
            continue;
        put(&r->out, (const char *)s + run, i - run);
        run = i + 1;
        if (c == '\n')
            put(&r->out, "\\n", 2);
        else if (c == '\r')
            put(&r->out, "\\r", 2);
        else if (c == '\t')
            put(&r->out, "\\t", 2);
        else if (c < 0x20 || c == 0x7f)
            put(&r->out, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c));
        else {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(&r->out, esc, 2);
        }
    }
    put(&r->out, (const char *)s + run, n - run);
    put(&r->out, &q, 1);
}

static int repr_value(reprer *r, int idx, int level);

static const char *const python_words[] = {"True", "False", "None"};

/* The items of the sequence at idx between `open` and `close`; a tuple of one
 * item ends in ",)". */
static int repr_items(reprer *r, int idx, int level, const char *open, int tuple)
{
    lua_State *L = r->out.L;
    lua_Integer n = luaL_len(L, idx);
    put(&r->out, open, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            put(&r->out, ", ", 2);
        lua_geti(L, idx, i);
        if (repr_value(r, lua_gettop(L), level) < 0)
            return -1;
        lua_pop(L, 1);
    }
    if (tuple)
        put(&r->out, n == 1 ? ",)" : ")", n == 1 ? 2 : 1);
    else
        put(&r->out, "]", 1);
    return 0;
}

static int repr_dict(reprer *r, int idx, int level)
{
    lua_State *L = r->out.L;
    int keys = lua_gettop(L) + 1, map = keys + 1;
    lua_getfield(L, idx, "keys");
    lua_getfield(L, idx, "map");
    lua_Integer n = luaL_len(L, keys);
    put(&r->out, "{", 1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            put(&r->out, ", ", 2);
        if (lua_geti(L, keys, i) != LUA_TSTRING)
            return -1; /* keys of other types: rt.keynorm's business */
        put_py_str(r, lua_gettop(L));
        put(&r->out, ": ", 2);
        lua_gettable(L, map);
        if (repr_value(r, lua_gettop(L), level) < 0)
            return -1;
        lua_settop(L, map);
    }
    put(&r->out, "}", 1);
    lua_settop(L, keys - 1);
    return 0;
}

/* Appends repr of the value at idx, `level` tables deep. 0, or -1 to leave the
 * whole repr to the Lua version. */
static int repr_value(reprer *r, int idx, int level)
{
    lua_State *L = r->out.L;
    char buf[GLAREX__FLOAT_REPR_MAX];
    charge(L, &r->out.since);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        put_py_str(r, idx);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            put(&r->out, buf,
                (size_t)snprintf(buf, sizeof(buf), LUA_INTEGER_FMT, lua_tointeger(L, idx)));
        else
            put(&r->out, buf, glarex__float_repr(lua_tonumber(L, idx), buf));
        return 0;
    case LUA_TBOOLEAN:
    case LUA_TTABLE:
        break;
    default:
        return -1;
    }
    if (put_word(&r->out, idx, python_words))
        return 0;
    if (++level > NATIVE_MAX_DEPTH || !lua_getmetatable(L, idx))
        return -1; /* too deep (the Lua version's error), or no Python value */
    luaL_checkstack(L, 8, "repr nesting");
    int mt = lua_gettop(L), rc = -1;
    if (lua_rawequal(L, mt, DUMP_DICT))
        rc = repr_dict(r, idx, level);
    else if (lua_rawequal(L, mt, DUMP_PYLIST) || (lua_rawequal(L, mt, DUMP_LIST) && !r->yaql))
        rc = repr_items(r, idx, level, "[", 0);
    else if (lua_rawequal(L, mt, DUMP_TUPLE) || lua_rawequal(L, mt, DUMP_LIST))
        rc = repr_items(r, idx, level, "(", 1);
    lua_settop(L, mt - 1);
    return rc;
}

/* repr(v, null, Dict, List, Tuple, PyList, yaql, str_repr): Python's repr() of a
 * list, tuple or dict (YAQL's view of them with `yaql`), or nil. */
static int native_repr(lua_State *L)
{
    reprer r = {{L, NULL, 0, 0, 0, -1}, lua_toboolean(L, 7)};
    char small[DUMP_SMALL];
    luaL_checktype(L, 8, LUA_TFUNCTION);
    lua_settop(L, 8);
    start_output(&r.out, L, small);
    lua_rotate(L, DUMP_OUT, 1); /* DUMP_OUT before yaql and str_repr */
    if (repr_value(&r, DUMP_VALUE, 0) < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, r.out.p, r.out.len);
    return 1;
}

/* }====================================================================== */

/* {======================================================================
 * yaml_parse
 * ====================================================================== */

/* PyYAML's safe_load of the documents most templates read, through libyaml's
 * parser as src/yaml_json.c reads them, into the values that host.call's
 * yaml_parse gives: untagged scalars without anchors (plain ones resolved by PyYAML's
 * YAML 1.1 rules: null, booleans, decimal ints, decimal floats, strings), lists, and
 * dicts with string keys. Anything else (a tag, an anchor or alias, a merge key, a
 * key that is not a string, an int in another base or beyond 64 bits, a float with
 * `_` or `:` or not finite, a timestamp, a second document, an error) leaves the whole
 * text to the host's yaml_parse, which gives the value or the error. */

/* The arguments of yaml_parse(text, list_mt, null, Dict), by stack index, and the
 * parser's state (a light userdata) and the charge function in the protected call
 * that builds the value. */
enum { YP_TEXT = 1, YP_LIST, YP_NULL, YP_DICT, YP_STATE, YP_CHARGE };

typedef struct yparser {
    yaml_parser_t parser;
    yaml_event_t ev;
    int has_ev; /* ev holds an event to delete */
    unsigned since;
} yparser;

static int yp_next(lua_State *L, yparser *y)
{
    if (y->has_ev)
        yaml_event_delete(&y->ev);
    y->has_ev = yaml_parser_parse(&y->parser, &y->ev);
    if (!y->has_ev)
        return -1;
    charge_with(L, YP_CHARGE, &y->since);
    return 0;
}

/* [-+]?[0-9]+ from s[0..n) to the end; *digits_at is where the digits start. */
static int signed_digits(const char *s, size_t n, size_t *digits_at)
{
    size_t at = n > 0 && (s[0] == '-' || s[0] == '+');
    *digits_at = at;
    return all_of(s, n, at, "0123456789");
}

/* Pushes the value of a plain scalar as PyYAML resolves it: 0, or -1 to leave it to
 * the host (kinds it resolves that are not read here). */
static int yp_plain(lua_State *L, const char *s, size_t n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    static const char *const trues[] = {"yes", "Yes", "YES", "true", "True", "TRUE",
                                        "on",  "On",  "ON"};
    static const char *const falses[] = {"no", "No", "NO", "false", "False", "FALSE",
                                         "off", "Off", "OFF"};
    size_t d, end;
    int word = n > 0 && s[0] && strchr("yYnNtTfFoO~", s[0]);
    if (n == 0 || (word && word_in(s, n, nulls, 4))) {
        lua_pushvalue(L, YP_NULL);
        return 0;
    }
    if (word && (word_in(s, n, trues, 9) || word_in(s, n, falses, 9))) {
        lua_pushboolean(L, word_in(s, n, trues, 9));
        return 0;
    }
    if (signed_digits(s, n, &d)) { /* 0 or [1-9][0-9]*: octal (0[0-7]+) is the host's */
        if (s[d] == '0' && n - d > 1)
            return -1;
        unsigned long long v = 0, max = s[0] == '-' ? (1ULL << 63) : (1ULL << 63) - 1;
        for (size_t i = d; i < n; i++) {
            unsigned digit = (unsigned)(s[i] - '0');
            if (v > (max - digit) / 10)
                return -1;
            v = v * 10 + digit;
        }
        lua_pushinteger(L, s[0] == '-' ? (lua_Integer)(0 - v) : (lua_Integer)v);
        return 0;
    }
    /* [-+]?[0-9]+\.[0-9]*([eE][-+][0-9]+)? */
    d = n > 0 && (s[0] == '-' || s[0] == '+');
    if (is_dig(s, n, d)) {
        for (end = d; is_dig(s, n, end); end++) {
        }
        if (end < n && s[end] == '.') {
            for (end++; is_dig(s, n, end); end++) {
            }
            if (exponent_to_end(s, n, end)) {
                char text[NATIVE_MAX_NUMBER + 1];
                if (n > NATIVE_MAX_NUMBER)
                    return -1;
                memcpy(text, s, n);
                text[n] = '\0';
                double x = strtod(text, NULL);
                if (!isfinite(x))
                    return -1; /* JSON cannot carry it: the host's error */
                lua_pushnumber(L, x);
                return 0;
            }
        }
    }
    if (yaml_resolves(s, n))
        return -1;
    lua_pushlstring(L, s, n);
    return 0;
}

/* Pushes the scalar of the current event; `key`: it must be a string. 0, or -1. */
static int yp_scalar(lua_State *L, const yaml_event_t *ev, int key)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.anchor || ev->data.scalar.tag)
        return -1;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        lua_pushlstring(L, s, n);
        return 0;
    }
    if (key && (n == 0 || yaml_resolves(s, n)))
        return -1;
    return yp_plain(L, s, n);
}

static int yp_node(lua_State *L, yparser *y, int depth);

static int yp_sequence(lua_State *L, yparser *y, int depth)
{
    lua_newtable(L);
    lua_pushvalue(L, YP_LIST);
    lua_setmetatable(L, -2);
    for (lua_Integer i = 1;; i++) {
        if (yp_next(L, y) < 0)
            return -1;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (yp_node(L, y, depth + 1) < 0)
            return -1;
        lua_rawseti(L, -2, i);
    }
}

/* A dict as rt.dict_set fills it: a key met again keeps its place, takes the value. */
static int yp_mapping(lua_State *L, yparser *y, int depth)
{
    int dict = push_dict_parts(L, 2), keys = dict + 1, map = dict + 2;
    lua_Integer n = 0;
    lua_pushvalue(L, YP_DICT);
    lua_setmetatable(L, dict);
    for (;;) {
        if (yp_next(L, y) < 0)
            return -1;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (y->ev.type != YAML_SCALAR_EVENT || yp_scalar(L, &y->ev, 1) < 0)
            return -1;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, map) == LUA_TNIL) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, keys, ++n);
        }
        lua_pop(L, 1);
        if (yp_next(L, y) < 0 || yp_node(L, y, depth + 1) < 0)
            return -1;
        lua_rawset(L, map);
    }
    lua_settop(L, dict);
    return 0;
}

/* Pushes the node whose first event is the current one, `depth` collections deep. */
static int yp_node(lua_State *L, yparser *y, int depth)
{
    if (depth > NATIVE_MAX_DEPTH)
        return -1;
    luaL_checkstack(L, 8, "yaml_parse nesting");
    switch (y->ev.type) {
    case YAML_SCALAR_EVENT:
        return yp_scalar(L, &y->ev, 0);
    case YAML_SEQUENCE_START_EVENT:
        if (y->ev.data.sequence_start.anchor || y->ev.data.sequence_start.tag)
            return -1;
        return yp_sequence(L, y, depth);
    case YAML_MAPPING_START_EVENT:
        if (y->ev.data.mapping_start.anchor || y->ev.data.mapping_start.tag)
            return -1;
        return yp_mapping(L, y, depth);
    default:
        return -1; /* an alias */
    }
}

static int yp_expect(lua_State *L, yparser *y, yaml_event_type_t type)
{
    return yp_next(L, y) == 0 && y->ev.type == type ? 0 : -1;
}

/* The protected part of yaml_parse: pushes the value, or nil. */
static int yp_stream(lua_State *L)
{
    yparser *y = lua_touserdata(L, YP_STATE);
    if (yp_expect(L, y, YAML_STREAM_START_EVENT) < 0 || yp_next(L, y) < 0) {
        lua_pushnil(L);
        return 1;
    }
    if (y->ev.type == YAML_STREAM_END_EVENT) { /* no document: None */
        lua_pushvalue(L, YP_NULL);
        return 1;
    }
    if (y->ev.type != YAML_DOCUMENT_START_EVENT || yp_next(L, y) < 0 || yp_node(L, y, 0) < 0 ||
        yp_expect(L, y, YAML_DOCUMENT_END_EVENT) < 0 ||
        yp_expect(L, y, YAML_STREAM_END_EVENT) < 0) {
        lua_settop(L, YP_CHARGE);
        lua_pushnil(L);
    }
    return 1;
}

/* yaml_parse(text, list_mt, null, Dict): the host's yaml_parse value, or nil. libyaml
 * allocates outside the Lua state, so the value is built in a protected call and the
 * parser freed whatever it ends in; its buffers grow with the text, which is the Lua
 * state's already. */
static int native_yaml_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, YP_TEXT, &len);
    yparser y;
    memset(&y, 0, sizeof(y));
    lua_settop(L, YP_DICT);
    if (!yaml_parser_initialize(&y.parser)) {
        lua_pushnil(L);
        return 1;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
    lua_pushcfunction(L, yp_stream);
    lua_insert(L, 1);
    lua_pushlightuserdata(L, &y);
    lua_pushvalue(L, lua_upvalueindex(1));
    int rc = lua_pcall(L, YP_CHARGE, 1, 0);
    if (y.has_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.parser);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

/* }====================================================================== */

void glarex__native_push(lua_State *L, lua_CFunction charge_fn)
{
    static const luaL_Reg fns[] = {{"float_repr", native_float_repr},
                                   {"json_dump", native_json_dump},
                                   {"json_parse", native_json_parse},
                                   {"yaml_dump", native_yaml_dump},
                                   {"repr", native_repr},
                                   {"yaml_parse", native_yaml_parse},
                                   {NULL, NULL}};
    lua_createtable(L, 0, 6);
    lua_pushcfunction(L, charge_fn);
    luaL_setfuncs(L, fns, 1);
}
