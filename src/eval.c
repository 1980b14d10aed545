/*
 * The expression evaluator's C half: a sandboxed Lua state per evaluator that runs the
 * compiler and runtime of lua/, value conversion between jansson and Lua, the limits
 * (memory, instructions, wall clock), and the host functions (glare() and friends,
 * yaml_parse, functions registered by an embedding executor).
 */
#include "eval.h"

#include "common.h"
#include "ctx.h"
#include "eval_native.h"
#include "lua_modules.h"
#include "yaml_json.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MEMORY_LIMIT ((size_t)64 << 20)
#define DEFAULT_INSTRUCTION_LIMIT 50000000ULL
#define DEFAULT_TIMEOUT_MS 5000L
#define DEFAULT_TEMPLATE_CACHE 512
#define HOOK_PERIOD 1000  /* instructions between two limit checks */
#define MAX_DEPTH 200     /* nesting of converted values */
#define BLOB_MEMO_SIZE 32 /* glare() results kept as Lua strings, per evaluator */
#define CLOCK_PERIOD 4096  /* allocations, or values converted, between deadline checks */
/* Bytes charged per converted value, besides its text: what jansson allocates for one
 * (the value, its copy of the text and their malloc headers, a slot in its array). */
#define JSON_VALUE_COST 72
#define RESULT_TOO_LARGE                                                                 \
    "evaluation stopped: the value as JSON needs more than the memory limit of %zu "     \
    "bytes (each copy of a value held more than once counts)"

typedef struct registered_fn {
    char *name;
    glarex_eval_fn fn;
    void *payload;
} registered_fn;

/* A fetched blob and the Lua string made from it, so repeated glare() calls on the
 * same cached content hand Lua the same string instead of copying it again. */
typedef struct blob_memo {
    glarex_blob *blob;
    int kind; /* which glare function produced the string */
    int ref;  /* registry reference to the Lua value */
} blob_memo;

struct glarex_eval {
    lua_State *L;
    glarex_ctx *ctx;
    glarex_request *req; /* whose glare() calls these are: the context's own or a caller's */
    glarex_eval_options opts;

    size_t mem_used;
    int running;        /* limits apply while an evaluation runs */
    int guarded;        /* the count hook is on for this evaluation */
    unsigned lazy_run;  /* counts calls: lazily converted contexts are valid in theirs */
    uint64_t insn_used; /* instructions counted in this evaluation */
    struct timespec deadline;
    int limit_hit;   /* 0 or GLAREX_EMEMLIMIT / GLAREX_EINSNLIMIT / GLAREX_EDEADLINE */
    unsigned allocs; /* allocations since the last deadline check */

    int host_code;         /* code of the last host function failure in this run */
    glarex_error host_err; /* its details */

    int ev_ref;   /* the evaluator module */
    int rt_ref;   /* the runtime module */
    int null_ref; /* rt.null */
    int list_mt_ref, dict_mt_ref;
    const void *null_ptr, *list_mt_ptr, *dict_mt_ptr; /* their addresses (to_json) */
    int bound_ref;    /* the bound context, or LUA_NOREF */
    int bound_truthy; /* whether it is non-empty, as Python's `if context` sees it */
    size_t bound_bytes; /* the memory it holds (not the caches', see relieve_memory) */

    registered_fn *fns;
    size_t nfns;

    blob_memo memo[BLOB_MEMO_SIZE];
    size_t memo_next;

    /* The conversion budget shared by all the results of one glarex_eval_recursive,
     * or NULL: each result has its own. */
    struct json_conv *result_conv;

    /* A blob held while its value is pushed: a push can raise (out of memory), and
     * then end_run releases it instead. */
    glarex_blob *pending;
};

/* {======================================================================
 * Limits
 * ====================================================================== */

static void count_hook(lua_State *L, lua_Debug *ar);
static int deadline_passed(const glarex_eval *ev);

/* Records that a limit was hit. From now on the hook fires on every instruction
 * (count_hook), so a pcall in Lua cannot swallow the failure and carry on. */
static void stop_run(glarex_eval *ev, int code)
{
    if (ev->running && !ev->limit_hit) {
        ev->limit_hit = code;
        lua_sethook(ev->L, count_hook, LUA_MASKCOUNT, 1);
    }
}

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    glarex_eval *ev = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        ev->mem_used -= old;
        return NULL;
    }
    if (nsize > old && ev->mem_used - old + nsize > ev->opts.memory_limit) {
        stop_run(ev, GLAREX_EMEMLIMIT);
        return NULL;
    }
    /* Without the count hook (bounded templates) the deadline is still checked here:
     * work that outgrows its input allocates as it goes. */
    if (ev->running && !ev->guarded && ++ev->allocs >= CLOCK_PERIOD) {
        ev->allocs = 0;
        if (deadline_passed(ev))
            stop_run(ev, GLAREX_EDEADLINE);
    }
    void *p = realloc(ptr, nsize);
    if (p)
        ev->mem_used = ev->mem_used - old + nsize;
    return p;
}

static int deadline_passed(const glarex_eval *ev)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ev->deadline.tv_sec ||
           (now.tv_sec == ev->deadline.tv_sec && now.tv_nsec >= ev->deadline.tv_nsec);
}

static glarex_eval *eval_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    glarex_eval *ev = eval_of(L);
    (void)ar;
    if (!ev->running)
        return;
    if (!ev->limit_hit) {
        ev->insn_used += HOOK_PERIOD;
        if (ev->insn_used > ev->opts.instruction_limit)
            ev->limit_hit = GLAREX_EINSNLIMIT;
        else if (deadline_passed(ev))
            ev->limit_hit = GLAREX_EDEADLINE;
    }
    if (ev->limit_hit) {
        /* Fire on every instruction from now on, so a pcall in Lua cannot swallow
         * the limit and carry on. */
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", glarex_strerror(ev->limit_hit));
    }
}

/* Starts counting instructions and checking the deadline. Bounded templates (their
 * time is linear in the data: `bounded` in lua/yaql.lua and lua/jinja.lua) run
 * without: the hook makes the interpreter stop at every instruction, which costs a
 * fifth of a cheap evaluation. */
static void guard_run(glarex_eval *ev)
{
    if (ev->running && !ev->guarded) {
        ev->guarded = 1;
        lua_sethook(ev->L, count_hook, LUA_MASKCOUNT, HOOK_PERIOD);
    }
}

static void start_run(glarex_eval *ev, int guarded)
{
    long ms = ev->opts.timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &ev->deadline);
    ev->deadline.tv_sec += ms / 1000;
    ev->deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (ev->deadline.tv_nsec >= 1000000000L) {
        ev->deadline.tv_sec++;
        ev->deadline.tv_nsec -= 1000000000L;
    }
    ev->insn_used = 0;
    ev->limit_hit = 0;
    ev->allocs = 0;
    ev->host_code = 0;
    ev->running = 1;
    ev->guarded = 0;
    if (guarded)
        guard_run(ev);
}

static void end_run(glarex_eval *ev)
{
    glarex_blob_free(ev->pending);
    ev->pending = NULL;
    ev->running = 0;
    ev->guarded = 0;
    lua_sethook(ev->L, NULL, 0, 0);
    /* Give the memory of a failed run back now, not at some later allocation. */
    if (ev->limit_hit)
        lua_gc(ev->L, LUA_GCCOLLECT);
}

long glarex__eval_remaining_ms(glarex_eval *ev)
{
    struct timespec now;
    long ms;
    if (!ev->running)
        return ev->opts.timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (ev->deadline.tv_sec - now.tv_sec) * 1000L +
         (ev->deadline.tv_nsec - now.tv_nsec) / 1000000L;
    return ms > 0 ? ms : 0;
}

/* }====================================================================== */

/* {======================================================================
 * Values: jansson <-> Lua
 * ====================================================================== */

static int push_json(glarex_eval *ev, lua_State *L, const json_t *v, int depth);

static void push_ref(lua_State *L, int ref)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

static void push_null(glarex_eval *ev, lua_State *L)
{
    push_ref(L, ev->null_ref);
}

static void new_list(glarex_eval *ev, lua_State *L, int n)
{
    lua_createtable(L, n, 0);
    push_ref(L, ev->list_mt_ref);
    lua_setmetatable(L, -2);
}

/* Pushes an empty dict: {keys = {}, map = {}} with the Dict metatable. */
static void new_dict(glarex_eval *ev, lua_State *L, int n)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, n, 0);
    lua_setfield(L, -2, "keys");
    lua_createtable(L, 0, n);
    lua_setfield(L, -2, "map");
    push_ref(L, ev->dict_mt_ref);
    lua_setmetatable(L, -2);
}

static int push_json(glarex_eval *ev, lua_State *L, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
    luaL_checkstack(L, 6, "value too deep");
    switch (json_typeof(v)) {
    case JSON_NULL:
        push_null(ev, L);
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        new_list(ev, L, (int)n);
        for (size_t i = 0; i < n; i++) {
            push_json(ev, L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        int n = (int)json_object_size(v);
        new_dict(ev, L, n);
        lua_getfield(L, -1, "keys");
        lua_getfield(L, -2, "map");
        int i = 0;
        json_object_foreach((json_t *)v, key, item) {
            size_t klen = strlen(key);
            lua_pushlstring(L, key, klen);
            lua_rawseti(L, -3, ++i);
            lua_pushlstring(L, key, klen);
            push_json(ev, L, item, depth + 1);
            lua_rawset(L, -3);
        }
        lua_pop(L, 2);
        break;
    }
    }
    return 0;
}

/* A context given as JSON on each call is converted as the expression reads it, so
 * that a call costs what the expression reads, not what the context holds. An object
 * becomes, step by step:
 *  - a Dict holding only its source: what a context nothing reads costs;
 *  - on the first read of its `keys` or `map` (Dict's __index, lazy_dict_index), that
 *    table, empty, with a metatable lazy tables share: reading map[k] converts that
 *    member alone, #keys counts the members without converting them;
 *  - on a read of keys[i], a write or pairs(), the whole dict, plain (a small dict,
 *    LAZY_SMALL members or fewer, on the first read of its keys already).
 * Arrays are converted whole, their objects lazily. Until it is whole the dict holds
 * its source under private keys (light userdata, which no converted value uses):
 * [&lazy_json] the json_t (the caller's, alive for the call) and [&lazy_info] the call,
 * depth and flavour packed in one integer; its lazy keys and map hold [&lazy_dict], the
 * dict. */
static const char lazy_mt_key, lazy_json_key, lazy_info_key, lazy_dict_key;

#define LAZY_DEPTH_BITS 9 /* MAX_DEPTH + 1 fits */
#define LAZY_SMALL 8      /* members of a dict whose keys and map are made full size */

/* How arrays are converted: for the data (`$`, `_`), Lists (yaql's tuples); for a
 * variable (`$__env` & co, Y.getvar), Python lists, as lua/yaqllib.lua's from_var
 * converts them. */
typedef enum lazy_flavour { LAZY_DATA, LAZY_VAR } lazy_flavour;

typedef struct lazy_src {
    const json_t *json;
    int depth;
    lazy_flavour flavour;
} lazy_src;

static int push_lazy(glarex_eval *ev, lua_State *L, const json_t *v, int depth,
                     lazy_flavour flavour);

/* Reads the source dict `d` holds into src; 0 when it holds none (it is plain). Raises
 * once the call that made it returned. */
static int lazy_held(glarex_eval *ev, lua_State *L, int d, lazy_src *src)
{
    lua_Integer info;
    if (lua_rawgetp(L, d, &lazy_json_key) != LUA_TLIGHTUSERDATA) {
        lua_pop(L, 1);
        return 0;
    }
    src->json = lua_touserdata(L, -1);
    lua_rawgetp(L, d, &lazy_info_key);
    info = lua_tointeger(L, -1);
    lua_pop(L, 2);
    if (info >> (LAZY_DEPTH_BITS + 1) != (lua_Integer)ev->lazy_run)
        luaL_error(L, "internal error: a value of an earlier call's context was used");
    src->depth = (int)(info >> 1) & ((1 << LAZY_DEPTH_BITS) - 1);
    src->flavour = (lazy_flavour)(info & 1);
    return 1;
}

/* Pushes the dict lazy table `t` (keys or map) belongs to and reads its source. */
static int lazy_source(glarex_eval *ev, lua_State *L, int t, lazy_src *src)
{
    lua_rawgetp(L, t, &lazy_dict_key);
    if (!lua_istable(L, -1) || !lazy_held(ev, L, lua_gettop(L), src))
        luaL_error(L, "internal error: a lazy context table lost its source");
    return lua_gettop(L);
}

/* Creates the keys (`is_keys`) or map table of a dict of n members. A small dict's is
 * made to hold them all at once: it is often made whole right away (a result, a
 * loop), and filling it would otherwise grow it several times. */
static void lazy_new_part(lua_State *L, int is_keys, size_t n)
{
    int room = n <= LAZY_SMALL ? (int)n : 0;
    lua_createtable(L, is_keys ? room : 0, is_keys ? 1 : room + 1);
}

/* Pushes d.keys or d.map (`field`), made plain and empty when it is not there yet. */
static int lazy_part(lua_State *L, int d, const char *field, size_t n)
{
    lua_pushstring(L, field);
    if (lua_rawget(L, d) == LUA_TTABLE)
        return lua_gettop(L);
    lua_pop(L, 1);
    lazy_new_part(L, field[0] == 'k', n);
    lua_pushstring(L, field);
    lua_pushvalue(L, -2);
    lua_rawset(L, d);
    return lua_gettop(L);
}

/* Makes lazy dict `d` whole and plain: its keys and map filled in the JSON order
 * (keeping the members map already holds), and every private key gone. */
static void lazy_make_whole(glarex_eval *ev, lua_State *L, int d, const lazy_src *src)
{
    const char *key;
    json_t *item;
    size_t n = json_object_size(src->json);
    int keys = lazy_part(L, d, "keys", n), map = lazy_part(L, d, "map", n), i = 0;
    json_object_foreach((json_t *)src->json, key, item) {
        lua_pushstring(L, key);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++i);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, map) == LUA_TNIL) {
            lua_pop(L, 1);
            push_lazy(ev, L, item, src->depth + 1, src->flavour);
            lua_rawset(L, map);
        } else {
            lua_pop(L, 2);
        }
    }
    for (int t = keys; t <= map; t++) {
        lua_pushnil(L);
        lua_rawsetp(L, t, &lazy_dict_key);
        lua_pushnil(L);
        lua_setmetatable(L, t);
    }
    lua_pushnil(L);
    lua_rawsetp(L, d, &lazy_json_key);
    lua_pushnil(L);
    lua_rawsetp(L, d, &lazy_info_key);
    lua_settop(L, keys - 1);
}

/* __index(t, k): a member of map, converted on first read; of keys, all of them. */
static int lazy_index(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    lazy_src src;
    int d = lazy_source(ev, L, 1, &src);
    lua_pushliteral(L, "map");
    lua_rawget(L, d);
    if (!lua_rawequal(L, 1, -1)) { /* the keys table */
        lazy_make_whole(ev, L, d, &src);
        lua_settop(L, 2);
        lua_rawget(L, 1);
        return 1;
    }
    lua_settop(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t klen;
    const char *key = lua_tolstring(L, 2, &klen);
    const json_t *item = json_object_getn(src.json, key, klen);
    if (!item)
        return 0;
    push_lazy(ev, L, item, src.depth + 1, src.flavour);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* __len: the number of keys, without converting them. */
static int lazy_len(lua_State *L)
{
    lazy_src src;
    lazy_source(eval_of(L), L, 1, &src);
    lua_pushinteger(L, (lua_Integer)json_object_size(src.json));
    return 1;
}

/* __newindex and __pairs: the dict becomes plain before it changes or is walked. */
static void lazy_whole(glarex_eval *ev, lua_State *L)
{
    lazy_src src;
    int d = lazy_source(ev, L, 1, &src);
    lazy_make_whole(ev, L, d, &src);
    lua_settop(L, d - 1);
}

static int lazy_newindex(lua_State *L)
{
    lazy_whole(eval_of(L), L);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

static int lazy_pairs(lua_State *L)
{
    lazy_whole(eval_of(L), L);
    lua_getglobal(L, "next");
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Dict's __index, reached only for a field a dict lacks: a lazy dict's `keys` or
 * `map`, made on first use, empty, with the lazy tables' metatable. Any other field,
 * and a plain dict's, is nil. */
static int lazy_dict_index(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    lazy_src src;
    const char *field = lua_tostring(L, 2);
    lua_settop(L, 2);
    if (!field || (strcmp(field, "keys") != 0 && strcmp(field, "map") != 0) ||
        !lazy_held(ev, L, 1, &src))
        return 0;
    if (field[0] == 'k' && json_object_size(src.json) <= LAZY_SMALL) {
        /* a small dict's keys are read to walk it, most often: made whole at once */
        lazy_make_whole(ev, L, 1, &src);
        lua_rawget(L, 1);
        return 1;
    }
    lazy_new_part(L, field[0] == 'k', json_object_size(src.json));
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_mt_key);
    lua_setmetatable(L, 3);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, 3, &lazy_dict_key);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* Makes, on first use, the metatable lazy keys and maps share, and Dict's __index. */
static void lazy_setup(glarex_eval *ev, lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &lazy_mt_key) == LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushcfunction(L, lazy_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lazy_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, lazy_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, lazy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lazy_mt_key);
    push_ref(L, ev->dict_mt_ref);
    lua_pushcfunction(L, lazy_dict_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

/* Pushes `v` for a per-call context: objects lazily, the rest as push_json does,
 * arrays as `flavour` says. */
static int push_lazy(glarex_eval *ev, lua_State *L, const json_t *v, int depth,
                     lazy_flavour flavour)
{
    int is_array = json_is_array(v);
    if (!is_array && !(json_is_object(v) && json_object_size(v) > 0))
        return push_json(ev, L, v, depth); /* nothing to put off */
    if (depth > MAX_DEPTH)
        return luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
    luaL_checkstack(L, 8, "value too deep");
    if (is_array) {
        size_t n = json_array_size(v);
        if (flavour == LAZY_VAR) {
            lua_createtable(L, (int)n, 0);
            push_ref(L, ev->rt_ref);
            lua_getfield(L, -1, "PyList");
            lua_setmetatable(L, -3);
            lua_pop(L, 1);
        } else {
            new_list(ev, L, (int)n);
        }
        for (size_t i = 0; i < n; i++) {
            push_lazy(ev, L, json_array_get(v, i), depth + 1, flavour);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 0;
    }
    lua_createtable(L, 0, 4); /* the source, then keys and map */
    push_ref(L, ev->dict_mt_ref);
    lua_setmetatable(L, -2);
    lua_pushlightuserdata(L, (void *)v);
    lua_rawsetp(L, -2, &lazy_json_key);
    lua_pushinteger(L, (lua_Integer)ev->lazy_run << (LAZY_DEPTH_BITS + 1) |
                           (lua_Integer)depth << 1 | (lua_Integer)flavour);
    lua_rawsetp(L, -2, &lazy_info_key);
    return 0;
}

/* host.var_of(data, name): variable `name` ($__env & co, yaqllib's getvar) of a per-call
 * context's dict `data` that holds only its source yet, converted as a variable (arrays
 * as Python lists, dicts lazily) straight from the JSON, not through the data's own
 * conversion and a Lua proxy over it. Returns true and the value (nil when absent), or
 * nothing when `data` holds no source: getvar converts the member then. YAQL changes
 * no value in place, so the JSON is what the dicts hold. */
static int host_var_of(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    lazy_src src;
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    lua_settop(L, 2);
    if (lua_type(L, 1) != LUA_TTABLE || !lazy_held(ev, L, 1, &src))
        return 0;
    const json_t *member = json_object_getn(src.json, name, len);
    lua_pushboolean(L, 1);
    if (!member)
        return 1;
    push_lazy(ev, L, member, src.depth + 1, LAZY_VAR);
    return 2;
}

/* Protected entry: converts the light userdata json_t at index 2, lazily when the
 * boolean at index 3 is true (ev at index 1). */
static int push_json_protected(lua_State *L)
{
    glarex_eval *ev = lua_touserdata(L, 1);
    const json_t *v = lua_touserdata(L, 2);
    int lazy = lua_toboolean(L, 3);
    lua_settop(L, 0);
    if (lazy) {
        lazy_setup(ev, L);
        push_lazy(ev, L, v, 0, LAZY_DATA);
    } else {
        push_json(ev, L, v, 0);
    }
    return 1;
}

/* Whether s[0..n) is UTF-8 as JSON text allows it (no overlong forms, surrogates
 * or code points past U+10FFFF), as jansson checks it. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII runs, a word at a time: scripts and most values are all ASCII */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* A conversion to JSON in progress. A Lua value may hold the same table or string many
 * times; JSON holds a copy for each, so every copy is charged: bytes against the memory
 * limit, values against the instruction limit, with the deadline checked as it goes. */
typedef struct json_conv {
    glarex_eval *ev; /* its limits */
    size_t bytes_left;
    size_t charged;                  /* bytes charged so far */
    int collected;                   /* garbage was collected to make room */
    unsigned since_clock;            /* values converted since the last deadline check */
    const void *path[MAX_DEPTH + 2]; /* the tables being converted, outermost first */
} json_conv;

static void json_conv_init(json_conv *c, glarex_eval *ev)
{
    c->ev = ev;
    /* the Lua state's values and their JSON copy live at once: together they stay
     * within the limit */
    c->bytes_left = ev->mem_used < ev->opts.memory_limit ? ev->opts.memory_limit - ev->mem_used
                                                         : 0;
    c->charged = 0;
    c->collected = 0;
    c->since_clock = 0;
}

/* Charges one value of `bytes` text. Returns 0, or a limit status with err set. */
static int json_charge(json_conv *c, size_t bytes, glarex_error *err)
{
    glarex_eval *ev = c->ev;
    size_t cost = JSON_VALUE_COST + bytes;
    if (cost >= bytes && cost > c->bytes_left && !c->collected) {
        /* the Lua state's garbage counts until collected: collect once, near the limit
         * only (the values being converted are on the stack, so they stay) */
        c->collected = 1;
        lua_gc(ev->L, LUA_GCCOLLECT);
        size_t used = ev->mem_used + c->charged;
        c->bytes_left = used < ev->opts.memory_limit ? ev->opts.memory_limit - used : 0;
    }
    if (cost < bytes || cost > c->bytes_left)
        return glarex__error_set(err, GLAREX_EMEMLIMIT, RESULT_TOO_LARGE,
                                 ev->opts.memory_limit);
    c->bytes_left -= cost;
    c->charged += cost;
    if (++c->since_clock < CLOCK_PERIOD)
        return 0;
    c->since_clock = 0;
    ev->insn_used += CLOCK_PERIOD;
    if (ev->insn_used > ev->opts.instruction_limit)
        return glarex__error_set(err, GLAREX_EINSNLIMIT,
                                 "evaluation stopped: it ran more than %llu Lua instructions "
                                 "(converting the value to JSON, one per value)",
                                 (unsigned long long)ev->opts.instruction_limit);
    if (deadline_passed(ev))
        return glarex__error_set(err, GLAREX_EDEADLINE,
                                 "evaluation stopped: it ran longer than %ld ms (converting the "
                                 "value to JSON)",
                                 ev->opts.timeout_ms);
    return 0;
}

/* Past MAX_DEPTH: a table that holds itself, or one nested too deeply. */
static int json_too_deep(const json_conv *c, const void *table, glarex_error *err)
{
    for (int i = 0; i <= MAX_DEPTH; i++)
        if (c->path[i] == table)
            return glarex__error_set(err, GLAREX_EEVAL,
                                     "the value is a list or dict that contains itself, "
                                     "which JSON cannot carry");
    return glarex__error_set(err, GLAREX_EEVAL, "the value is nested deeper than %d levels",
                             MAX_DEPTH);
}

/* What a table is to JSON. The runtime's null and its list and dict metatables live as
 * long as the state (registry references), so their addresses tell them apart without
 * pushing anything. */
enum { TABLE_OTHER, TABLE_NULL, TABLE_LIST, TABLE_DICT };

static int table_kind(const glarex_eval *ev, lua_State *L, int idx)
{
    const void *mt;
    if (lua_topointer(L, idx) == ev->null_ptr)
        return TABLE_NULL;
    if (!lua_getmetatable(L, idx))
        return TABLE_OTHER;
    mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    return mt == ev->list_mt_ptr ? TABLE_LIST : mt == ev->dict_mt_ptr ? TABLE_DICT : TABLE_OTHER;
}

/* Converts the Lua value at `idx` into JSON (new), or sets err. Runs outside any
 * protected call, so it only reads the stack with functions that cannot raise. */
static int to_json(json_t **out, json_conv *c, lua_State *L, int idx, int depth,
                   glarex_error *err)
{
    glarex_eval *ev = c->ev;
    int type = lua_type(L, idx);
    int rc;
    *out = NULL;
    if (depth > MAX_DEPTH)
        return json_too_deep(c, lua_topointer(L, idx), err);
    if (type == LUA_TTABLE) {
        idx = lua_absindex(L, idx);
        if (!lua_checkstack(L, 8))
            return GLAREX_ENOMEM_SET(err);
        c->path[depth] = lua_topointer(L, idx);
    }
    if ((rc = json_charge(c, type == LUA_TSTRING ? lua_rawlen(L, idx) : 0, err)) < 0)
        return rc;

    switch (type) {
    case LUA_TBOOLEAN:
        *out = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            *out = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d))
                return glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                         "result %g is not a finite number, which JSON "
                                         "cannot carry",
                                         d);
            *out = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!utf8_valid((const unsigned char *)s, len))
            return glarex__error_set(err, GLAREX_EBINARY, "result string is not UTF-8 text");
        *out = json_stringn_nocheck(s, len);
        return *out ? 0 : GLAREX_ENOMEM_SET(err);
    }
    case LUA_TTABLE: {
        int mt_kind = table_kind(ev, L, idx);
        if (mt_kind == TABLE_NULL) {
            *out = json_null();
        } else if (mt_kind == TABLE_LIST) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
            json_t *arr = json_array();
            if (!arr)
                return GLAREX_ENOMEM_SET(err);
            for (lua_Integer i = 1; i <= n; i++) {
                json_t *item;
                lua_rawgeti(L, idx, i);
                rc = to_json(&item, c, L, -1, depth + 1, err);
                lua_pop(L, 1);
                if (rc < 0) {
                    json_decref(arr);
                    return rc;
                }
                if (json_array_append_new(arr, item) < 0) {
                    json_decref(arr);
                    return GLAREX_ENOMEM_SET(err);
                }
            }
            *out = arr;
        } else if (mt_kind == TABLE_DICT) {
            json_t *obj = json_object();
            lua_Integer n;
            if (!obj)
                return GLAREX_ENOMEM_SET(err);
            /* raw: a lazy dict's __index could raise here, outside any protected call */
            int base = lua_gettop(L);
            lua_pushliteral(L, "keys");
            lua_rawget(L, idx);
            lua_pushliteral(L, "map");
            lua_rawget(L, idx);
            if (!lua_istable(L, -2) || lua_getmetatable(L, -2)) {
                /* the walk over a result (finalize) makes every dict it meets whole */
                lua_settop(L, base);
                json_decref(obj);
                return glarex__error_set(err, GLAREX_ERROR,
                                         "internal error: a dict of the context was not "
                                         "converted before the result");
            }
            n = (lua_Integer)lua_rawlen(L, -2);
            for (lua_Integer i = 1; i <= n; i++) {
                json_t *item;
                size_t klen;
                lua_rawgeti(L, -2, i);
                if (lua_type(L, -1) != LUA_TSTRING) {
                    lua_pop(L, 3);
                    json_decref(obj);
                    return glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                             "result is a dict with a non-string key, "
                                             "which JSON cannot carry");
                }
                const char *key = lua_tolstring(L, -1, &klen);
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                rc = json_charge(c, klen, err);
                if (rc == 0)
                    rc = to_json(&item, c, L, -1, depth + 1, err);
                if (rc == 0 && json_object_setn_new(obj, key, klen, item) < 0)
                    rc = glarex__error_set(err, GLAREX_EBINARY,
                                           "result dict key is not UTF-8 text");
                lua_pop(L, 2);
                if (rc < 0) {
                    lua_pop(L, 2);
                    json_decref(obj);
                    return rc;
                }
            }
            lua_pop(L, 2);
            *out = obj;
        } else {
            const char *what = "table";
            if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) {
                what = lua_tostring(L, -1);
                lua_pop(L, 1);
                /* the string stays alive: metatable names are held by the metatable */
            }
            return glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                     "result is a Python %s, which JSON cannot carry", what);
        }
        break;
    }
    default:
        return glarex__error_set(err, GLAREX_EUNSUPPORTED,
                                 "result of Lua type %s cannot be represented in JSON",
                                 luaL_typename(L, idx));
    }
    return *out ? 0 : GLAREX_ENOMEM_SET(err);
}

/* }====================================================================== */

/* {======================================================================
 * Host functions: what lua/ calls through M.host
 * ====================================================================== */

static int host_raise(lua_State *L, glarex_eval *ev, const glarex_error *e)
{
    ev->host_code = e->code;
    ev->host_err = *e;
    lua_getglobal(L, "error");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, "host");
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
    push_ref(L, ev->rt_ref);
    lua_getfield(L, -1, "ErrMT");
    lua_remove(L, -2);
    lua_setmetatable(L, -2);
    lua_pushinteger(L, 0);
    lua_call(L, 2, 0);
    return 0;
}

static int host_raisef(lua_State *L, glarex_eval *ev, int code, const char *fmt, ...)
    GLAREX_PRINTF(4, 5);
static int host_raisef(lua_State *L, glarex_eval *ev, int code, const char *fmt, ...)
{
    glarex_error e;
    va_list ap;
    va_start(ap, fmt);
    glarex__error_vset(&e, code, fmt, ap);
    va_end(ap);
    return host_raise(L, ev, &e);
}

/* host.load(src, chunkname [, env]): text-only load; the chunk sees `env`, or an
 * environment in which every name is unknown. Code Lua cannot compile (past its
 * limits on locals, registers, nesting) returns nil and the message. */
static int host_load(lua_State *L)
{
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=expr");
    int has_env = lua_istable(L, 3);
    int st = luaL_loadbufferx(L, src, len, name, "t");

    if (st == LUA_ERRSYNTAX) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (st != LUA_OK)
        return lua_error(L);
    if (has_env)
        lua_pushvalue(L, 3);
    else
        lua_pushvalue(L, lua_upvalueindex(1)); /* the empty, raising environment */
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

static const char *const builtin_names[] = {"glare", "glare_path", "glare_b64", "glare_info",
                                            "yaml_parse", NULL};

static int builtin_index(const char *name)
{
    for (int i = 0; builtin_names[i]; i++)
        if (strcmp(builtin_names[i], name) == 0)
            return i;
    return -1;
}

static registered_fn *find_registered(glarex_eval *ev, const char *name)
{
    for (size_t i = 0; i < ev->nfns; i++)
        if (strcmp(ev->fns[i].name, name) == 0)
            return &ev->fns[i];
    return NULL;
}

/* host.too_large(): a walk over a value found it larger, copies counted, than the
 * memory limit lets it become as JSON (rt.result_items in lua/runtime.lua). */
static int host_too_large(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    stop_run(ev, GLAREX_EMEMLIMIT);
    return host_raisef(L, ev, GLAREX_EMEMLIMIT, RESULT_TOO_LARGE, ev->opts.memory_limit);
}

/* host.check(): a long walk that neither allocates nor runs under the count hook
 * (finalize over a value held many times) asks whether the deadline has passed. */
static int host_check(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    if (ev->running && !ev->limit_hit && deadline_passed(ev))
        stop_run(ev, GLAREX_EDEADLINE); /* the hook raises at the next instruction */
    return 0;
}

/* host.pow(x, y): C pow(), as CPython's float ** calls it. Lua's ^ computes x * x
 * for an exponent of 2, which differs from pow() in the last bit for some x. */
static int host_pow(lua_State *L)
{
    lua_pushnumber(L, pow(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
    return 1;
}

/* charge(n) for host.native (src/eval_native.c): a native function did the work of n
 * values. They count as instructions; the deadline is checked; once a limit has passed
 * this raises, as the count hook would. */
static int native_charge(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    if (!ev->running)
        return 0;
    if (!ev->limit_hit) {
        ev->insn_used += (uint64_t)luaL_checkinteger(L, 1);
        if (ev->insn_used > ev->opts.instruction_limit)
            stop_run(ev, GLAREX_EINSNLIMIT);
        else if (deadline_passed(ev))
            stop_run(ev, GLAREX_EDEADLINE);
    }
    if (ev->limit_hit)
        return luaL_error(L, "%s", glarex_strerror(ev->limit_hit));
    return 0;
}

/* host.guard(): the template about to run is not bounded; count its instructions. */
static int host_guard(lua_State *L)
{
    guard_run(eval_of(L));
    return 0;
}

static int host_has(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    const char *name = luaL_checkstring(L, 1);
    lua_pushboolean(L, builtin_index(name) >= 0 || find_registered(ev, name) != NULL);
    return 1;
}

/* Positional arguments of a host call: the list at index 2, as strings. */
static const char *string_arg(lua_State *L, glarex_eval *ev, const char *fname, int i,
                              size_t n)
{
    lua_rawgeti(L, 2, i);
    if (lua_type(L, -1) != LUA_TSTRING) {
        const char *tn = luaL_typename(L, -1);
        lua_pop(L, 1);
        host_raisef(L, ev, GLAREX_EEVAL,
                    "%s() argument %d must be a string, not %s (%zu argument%s given)", fname,
                    i, tn, n, n == 1 ? "" : "s");
        return NULL;
    }
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the argument list */
    return s;
}

static void push_base64(lua_State *L, const unsigned char *s, uint64_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (uint64_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        size_t rem = n - i;
        char q[4];
        if (rem > 1)
            v |= (uint32_t)s[i + 1] << 8;
        if (rem > 2)
            v |= s[i + 2];
        q[0] = tbl[(v >> 18) & 63];
        q[1] = tbl[(v >> 12) & 63];
        q[2] = rem > 1 ? tbl[(v >> 6) & 63] : '=';
        q[3] = rem > 2 ? tbl[v & 63] : '=';
        luaL_addlstring(&b, q, 4);
    }
    luaL_pushresult(&b);
}

enum { FN_GLARE, FN_GLARE_PATH, FN_GLARE_B64, FN_GLARE_INFO };

/* Finds a memoised Lua value for (blob, kind) and pushes it. */
static int memo_push(lua_State *L, glarex_eval *ev, glarex_blob *blob, int kind)
{
    for (size_t i = 0; i < BLOB_MEMO_SIZE; i++) {
        if (ev->memo[i].blob == blob && ev->memo[i].kind == kind) {
            push_ref(L, ev->memo[i].ref);
            return 1;
        }
    }
    return 0;
}

/* Remembers the value on top of the stack for (blob, kind); takes a blob reference. */
static void memo_store(lua_State *L, glarex_eval *ev, glarex_blob *blob, int kind)
{
    blob_memo *m = &ev->memo[ev->memo_next];
    ev->memo_next = (ev->memo_next + 1) % BLOB_MEMO_SIZE;
    if (m->blob) {
        luaL_unref(L, LUA_REGISTRYINDEX, m->ref);
        glarex_blob_free(m->blob);
    }
    lua_pushvalue(L, -1);
    m->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    m->blob = glarex_blob_ref(blob);
    m->kind = kind;
}

static void memo_clear(glarex_eval *ev)
{
    for (size_t i = 0; i < BLOB_MEMO_SIZE; i++) {
        if (ev->memo[i].blob) {
            if (ev->L)
                luaL_unref(ev->L, LUA_REGISTRYINDEX, ev->memo[i].ref);
            glarex_blob_free(ev->memo[i].blob);
            ev->memo[i].blob = NULL;
        }
    }
}

/* Pushes a JSON value (taken: released on every path). */
static int push_json_taken(lua_State *L, glarex_eval *ev, json_t *v)
{
    int st;
    lua_pushcfunction(L, push_json_protected);
    lua_pushlightuserdata(L, ev);
    lua_pushlightuserdata(L, v);
    st = lua_pcall(L, 2, 1, 0);
    json_decref(v);
    return st == LUA_OK ? 1 : lua_error(L); /* out of memory: nothing of ours is live */
}

/* Pushes the result of one glare function for a fetched blob. Returns 0, or a status
 * with `e` filled (the caller raises it after releasing the blob). */
static int push_glare_result(lua_State *L, glarex_eval *ev, glarex_blob *blob, int kind,
                             glarex_error *e)
{
    if (memo_push(L, ev, blob, kind))
        return 0;
    switch (kind) {
    case FN_GLARE: {
        const char *data = glarex_blob_data(blob);
        uint64_t size = glarex_blob_size(blob);
        if (!data && size > 0)
            return glarex__error_set(e, GLAREX_EIO, "cannot read the cached content of '%s'",
                                     glarex_blob_key(blob));
        if (!utf8_valid((const unsigned char *)data, size))
            return glarex__error_set(e, GLAREX_EBINARY,
                                     "resource '%s' of %s %s is not UTF-8 text; use "
                                     "glare_path() or glare_b64() for binary content",
                                     glarex_blob_key(blob), glarex_blob_name(blob),
                                     glarex_blob_version(blob));
        lua_pushlstring(L, data ? data : "", size);
        break;
    }
    case FN_GLARE_PATH: {
        const char *path;
        int rc = glarex_blob_path(&path, blob, e);
        if (rc < 0)
            return rc;
        lua_pushstring(L, path);
        break;
    }
    case FN_GLARE_B64: {
        const char *data = glarex_blob_data(blob);
        if (!data && glarex_blob_size(blob) > 0)
            return glarex__error_set(e, GLAREX_EIO, "cannot read the cached content of '%s'",
                                     glarex_blob_key(blob));
        push_base64(L, (const unsigned char *)data, glarex_blob_size(blob));
        break;
    }
    case FN_GLARE_INFO: {
        json_t *info = glarex_blob_info(blob);
        if (!info)
            return GLAREX_ENOMEM_SET(e);
        push_json_taken(L, ev, info);
        break;
    }
    }
    memo_store(L, ev, blob, kind);
    return 0;
}

/* Collects glare()'s arguments: positional, then `name =>`/`version =>`/`resource =>`
 * keywords (YAQL) or name=... (Jinja), as Python binds them. All must be strings. */
static size_t glare_args(lua_State *L, glarex_eval *ev, const char *fname, const char *a[3])
{
    static const char *const names[] = {"name", "version", "resource"};
    size_t n = lua_rawlen(L, 2), given;

    if (n > 3)
        host_raisef(L, ev, GLAREX_EEVAL, "%s() takes at most 3 arguments, %zu given", fname, n);
    for (size_t i = 0; i < n; i++)
        a[i] = string_arg(L, ev, fname, (int)i + 1, n);
    given = n;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "keys");
        lua_getfield(L, 3, "map");
        lua_Integer nk = lua_istable(L, -2) ? (lua_Integer)lua_rawlen(L, -2) : 0;
        for (lua_Integer k = 1; k <= nk; k++) {
            lua_rawgeti(L, -2, k);
            const char *key = lua_tostring(L, -1);
            int idx = -1;
            for (int i = 0; key && i < 3; i++)
                if (strcmp(names[i], key) == 0)
                    idx = i;
            if (idx < 0 || a[idx])
                host_raisef(L, ev, GLAREX_EEVAL, "%s() got an unexpected keyword argument '%s'",
                            fname, key ? key : "?");
            lua_rawget(L, -2); /* map[key] */
            if (lua_type(L, -1) != LUA_TSTRING)
                host_raisef(L, ev, GLAREX_EEVAL, "%s() argument '%s' must be a string, not %s",
                            fname, names[idx], luaL_typename(L, -1));
            a[idx] = lua_tostring(L, -1);
            lua_pop(L, 1); /* the string stays referenced by the map */
            given++;
        }
        lua_pop(L, 2);
    }
    if (given == 1 && a[0])
        return 1;
    for (int i = 0; i < 3; i++)
        if (!a[i])
            host_raisef(L, ev, GLAREX_EEVAL,
                        "%s() takes 1 argument (a glare:// URI) or 3 (name, version, "
                        "resource): missing '%s'",
                        fname, names[i]);
    return 3;
}

/* Fetches a[0] (a URI) when n == 1, else a[0..2] (name, version, resource), and
 * pushes the result of glare function `kind`. */
static int fetch_glare(lua_State *L, glarex_eval *ev, int kind, const char *fname,
                       const char *const a[3], size_t n)
{
    glarex_blob *blob = NULL;
    glarex_error e;
    int rc;

    if (!ev->ctx)
        return host_raisef(L, ev, GLAREX_EUNSUPPORTED,
                           "%s() needs a store: this evaluator was created without one",
                           fname);

    glarex_error_clear(&e);
    long left = glarex__eval_remaining_ms(ev);
    if (left <= 0)
        rc = glarex__error_set(&e, GLAREX_EDEADLINE, "no time left to fetch before the "
                                                     "evaluation deadline");
    else if (n == 1)
        rc = glarex__request_fetch_uri(&blob, ev->req, a[0], left, &e);
    else
        rc = glarex__request_fetch(&blob, ev->req, a[0], a[1], a[2], left, &e);
    /* the fetch is bounded by the deadline: running out of time there is the deadline */
    if (ev->running &&
        (rc == GLAREX_EDEADLINE || (deadline_passed(ev) && (rc == 0 || rc == GLAREX_ETIMEOUT))))
        rc = glarex__error_set(&e, GLAREX_EDEADLINE,
                               "evaluation stopped: it ran longer than %ld ms (fetching "
                               "for %s())",
                               ev->opts.timeout_ms, fname);
    ev->pending = blob;
    if (rc == 0)
        rc = push_glare_result(L, ev, blob, kind, &e);
    ev->pending = NULL;
    glarex_blob_free(blob);
    if (rc < 0) {
        if (rc == GLAREX_EDEADLINE) {
            ev->limit_hit = GLAREX_EDEADLINE;
            e.code = GLAREX_EDEADLINE;
        }
        return host_raise(L, ev, &e);
    }
    return 1;
}

static int call_glare(lua_State *L, glarex_eval *ev, int kind, const char *fname)
{
    const char *a[3] = {NULL, NULL, NULL};
    size_t n = glare_args(L, ev, fname, a);
    return fetch_glare(L, ev, kind, fname, a, n);
}

/* host.glare(name, version, resource): the common form of glare(), three strings,
 * without the argument list and keyword handling of host.call. */
static int host_glare(lua_State *L)
{
    const char *a[3];
    for (int i = 0; i < 3; i++) {
        if (lua_type(L, i + 1) != LUA_TSTRING)
            return luaL_error(L, "host.glare() takes three strings");
        a[i] = lua_tostring(L, i + 1);
    }
    return fetch_glare(L, eval_of(L), FN_GLARE, "glare", a, 3);
}

static int call_yaml_parse(lua_State *L, glarex_eval *ev)
{
    size_t len;
    json_t *value = NULL;
    glarex_error e;

    if (lua_rawlen(L, 2) != 1)
        return host_raisef(L, ev, GLAREX_EEVAL, "yaml_parse() takes exactly 1 argument");
    string_arg(L, ev, "yaml_parse", 1, 1);
    lua_rawgeti(L, 2, 1);
    const char *text = lua_tolstring(L, -1, &len);
    glarex_error_clear(&e);
    if (glarex__yaml_to_json(&value, text, len, "yaml_parse", &e) < 0)
        return host_raise(L, ev, &e);
    return push_json_taken(L, ev, value);
}

static int call_registered(lua_State *L, glarex_eval *ev, registered_fn *f)
{
    json_t *args = NULL, *kwargs = NULL, *result = NULL;
    glarex_error e;
    int rc;

    json_conv conv;

    glarex_error_clear(&e);
    json_conv_init(&conv, ev);
    rc = to_json(&args, &conv, L, 2, 0, &e);
    if (rc == 0 && !lua_isnoneornil(L, 3))
        rc = to_json(&kwargs, &conv, L, 3, 0, &e);
    if (rc == GLAREX_EMEMLIMIT || rc == GLAREX_EINSNLIMIT || rc == GLAREX_EDEADLINE)
        stop_run(ev, rc);
    if (rc == 0)
        rc = f->fn(&result, args, kwargs, f->payload, &e);
    if (rc == 0 && !result)
        rc = glarex__error_set(&e, GLAREX_EEVAL, "%s() returned no value", f->name);
    json_decref(args);
    json_decref(kwargs);
    if (rc < 0) {
        json_decref(result);
        if (e.code == 0)
            glarex__error_set(&e, rc, "%s() failed", f->name);
        return host_raise(L, ev, &e);
    }
    return push_json_taken(L, ev, result);
}

/* host.call(name, args_list, kwargs_dict_or_nil) */
static int host_call(lua_State *L)
{
    glarex_eval *ev = eval_of(L);
    const char *name = luaL_checkstring(L, 1);
    registered_fn *f;

    luaL_checktype(L, 2, LUA_TTABLE);
    switch (builtin_index(name)) {
    case 0:
        return call_glare(L, ev, FN_GLARE, name);
    case 1:
        return call_glare(L, ev, FN_GLARE_PATH, name);
    case 2:
        return call_glare(L, ev, FN_GLARE_B64, name);
    case 3:
        return call_glare(L, ev, FN_GLARE_INFO, name);
    case 4:
        return call_yaml_parse(L, ev);
    }
    f = find_registered(ev, name);
    if (f)
        return call_registered(L, ev, f);
    return host_raisef(L, ev, GLAREX_EEVAL, "Unknown function \"%s\"", name);
}

/* }====================================================================== */

/* {======================================================================
 * The state: sandbox and module loading
 * ====================================================================== */

static int unknown_name(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "unknown name '%s'", name ? name : "?");
}

static int readonly_env(lua_State *L)
{
    return luaL_error(L, "the sandbox environment is read-only");
}

/* Pushes a new table whose unknown names raise instead of reading as nil. */
static void push_strict_table(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, unknown_name);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_env);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
}

/* getmetatable(v) and type(v) as the base library's, with the strings they need
 * ("__metatable", the type names) made once, as upvalues: the runtime dispatches on
 * both everywhere, and the base versions build those strings on every call. */
static int fast_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_rawget(L, -2) == LUA_TNIL)
        lua_pop(L, 1); /* no __metatable field: the metatable itself */
    return 1;
}

static int fast_type(lua_State *L)
{
    int t = lua_type(L, 1);
    luaL_argexpected(L, t != LUA_TNONE, 1, "value");
    lua_pushvalue(L, lua_upvalueindex(t + 1));
    return 1;
}

static void install_fast_base(lua_State *L)
{
    lua_pushliteral(L, "__metatable");
    lua_pushcclosure(L, fast_getmetatable, 1);
    lua_setglobal(L, "getmetatable");
    for (int t = 0; t < LUA_NUMTYPES; t++)
        lua_pushstring(L, lua_typename(L, t));
    lua_pushcclosure(L, fast_type, LUA_NUMTYPES);
    lua_setglobal(L, "type");
}

/* Base functions the evaluator's own Lua code may use; everything else is dropped. */
static const char *const base_allowed[] = {
    "assert",   "error",  "getmetatable", "ipairs", "next",     "pairs",  "pcall",
    "rawequal", "rawget", "rawlen",       "rawset", "select",   "setmetatable",
    "tonumber", "tostring", "type",       "xpcall", "_VERSION", NULL};

static int setup_state(lua_State *L)
{
    glarex_eval *ev = lua_touserdata(L, 1);

    /* Only the libraries the evaluator needs; no io, os, package, debug, coroutine. */
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_settop(L, 1);

    /* Drop every global that is not allow-listed (load, dofile, require, print, ...). */
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        int keep = lua_type(L, -1) != LUA_TSTRING;
        if (!keep) {
            const char *k = lua_tostring(L, -1);
            keep = strcmp(k, LUA_TABLIBNAME) == 0 || strcmp(k, LUA_STRLIBNAME) == 0 ||
                   strcmp(k, LUA_MATHLIBNAME) == 0 || strcmp(k, LUA_UTF8LIBNAME) == 0;
            for (int i = 0; !keep && base_allowed[i]; i++)
                keep = strcmp(k, base_allowed[i]) == 0;
        }
        if (!keep) {
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, -4);
        }
    }
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    install_fast_base(L);
    /* Strings share one metatable: hide it, so nothing can change how every string
     * behaves for the runtime. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, LUA_MATHLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_pushnil(L);
    lua_setfield(L, -2, "random");
    lua_pop(L, 2);

    /* M: the modules table, with M.host. */
    lua_newtable(L);
    lua_createtable(L, 0, 10);
    push_strict_table(L);
    lua_pushcclosure(L, host_load, 1);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, host_call);
    lua_setfield(L, -2, "call");
    lua_pushcfunction(L, host_has);
    lua_setfield(L, -2, "has");
    lua_pushcfunction(L, host_guard);
    lua_setfield(L, -2, "guard");
    lua_pushcfunction(L, host_too_large);
    lua_setfield(L, -2, "too_large");
    lua_pushcfunction(L, host_check);
    lua_setfield(L, -2, "check");
    lua_pushcfunction(L, host_glare);
    lua_setfield(L, -2, "glare");
    lua_pushcfunction(L, host_pow);
    lua_setfield(L, -2, "pow");
    lua_pushcfunction(L, host_var_of);
    lua_setfield(L, -2, "var_of");
    glarex__native_push(L, native_charge);
    lua_setfield(L, -2, "native");
    lua_setfield(L, -2, "host");

    for (const glarex__lua_module *m = glarex__lua_modules; m->name; m++) {
        char chunkname[64];
        snprintf(chunkname, sizeof(chunkname), "=%s", m->name);
        if (luaL_loadbufferx(L, m->source, m->size, chunkname, "t") != LUA_OK)
            return lua_error(L);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 1);
        lua_setfield(L, -2, m->name);
    }

    lua_getfield(L, -1, "evaluator");
    if (!lua_istable(L, -1))
        return luaL_error(L, "the evaluator module did not load");
    lua_getfield(L, -1, "set_cache_size");
    if (lua_isfunction(L, -1)) {
        lua_pushinteger(L, (lua_Integer)ev->opts.template_cache);
        lua_call(L, 1, 0);
    } else {
        lua_pop(L, 1);
    }
    ev->ev_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_getfield(L, -1, "runtime");
    lua_pushinteger(L, (lua_Integer)(ev->opts.memory_limit / JSON_VALUE_COST));
    lua_setfield(L, -2, "result_items");
    lua_getfield(L, -1, "null");
    ev->null_ptr = lua_topointer(L, -1);
    ev->null_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "List");
    ev->list_mt_ptr = lua_topointer(L, -1);
    ev->list_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "Dict");
    ev->dict_mt_ptr = lua_topointer(L, -1);
    ev->dict_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ev->rt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* }====================================================================== */

/* {======================================================================
 * Errors from Lua
 * ====================================================================== */

/* Turns the error value on top of the stack into `err`; pops it. */
static int lua_failure(glarex_eval *ev, int status, const char *text, glarex_error *err)
{
    lua_State *L = ev->L;
    int code = GLAREX_EEVAL;
    const char *msg = NULL;
    long offset = -1;
    int from_host = 0;

    if (ev->limit_hit) {
        lua_pop(L, 1);
        if (ev->host_code == ev->limit_hit) /* hit by a host function: it says where */
            return glarex__error_set(err, ev->host_code, "%s", ev->host_err.message);
        if (ev->limit_hit == GLAREX_EMEMLIMIT)
            return glarex__error_set(err, GLAREX_EMEMLIMIT,
                                     "evaluation stopped: it reached the memory limit of %zu "
                                     "bytes",
                                     ev->opts.memory_limit);
        if (ev->limit_hit == GLAREX_EINSNLIMIT)
            return glarex__error_set(err, GLAREX_EINSNLIMIT,
                                     "evaluation stopped: it ran more than %llu Lua "
                                     "instructions",
                                     (unsigned long long)ev->opts.instruction_limit);
        return glarex__error_set(err, GLAREX_EDEADLINE,
                                 "evaluation stopped: it ran longer than %ld ms",
                                 ev->opts.timeout_ms);
    }
    if (status == LUA_ERRMEM) {
        lua_pop(L, 1);
        return GLAREX_ENOMEM_SET(err);
    }
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "kind");
        const char *kind = lua_tostring(L, -1);
        if (kind && strcmp(kind, "syntax") == 0)
            code = GLAREX_ESYNTAX;
        else if (kind && strcmp(kind, "unsupported") == 0)
            code = GLAREX_EUNSUPPORTED;
        else if (kind && strcmp(kind, "host") == 0)
            from_host = 1;
        lua_pop(L, 1);
        lua_getfield(L, -1, "offset");
        if (lua_isinteger(L, -1))
            offset = (long)lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, -1, "message");
        msg = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the error table */
    } else {
        msg = lua_tostring(L, -1);
    }
    if (from_host && ev->host_code) {
        code = ev->host_code;
        glarex__error_set(err, code, "%s", ev->host_err.message);
        if (err)
            err->http_status = ev->host_err.http_status;
    } else if (ev->host_code && msg && strstr(msg, ev->host_err.message)) {
        /* the runtime wrapped a host failure in its own message: keep the host code */
        glarex__error_set(err, ev->host_code, "%s", msg);
    } else {
        glarex__error_set(err, code, "%s", msg ? msg : "(error object is not a string)");
    }
    if (offset >= 0)
        glarex__error_at(err, text, (size_t)offset, 1, (int)offset + 1);
    else
        glarex__error_at(err, text, 0, 0, 0);
    lua_pop(L, 1);
    return err ? err->code : code;
}

/* }====================================================================== */

/* {======================================================================
 * Public API
 * ====================================================================== */

int glarex_eval_options_init(glarex_eval_options *opts, unsigned int version)
{
    if (!opts || version != GLAREX_EVAL_OPTIONS_VERSION)
        return GLAREX_EINVALID;
    memset(opts, 0, sizeof(*opts));
    opts->version = version;
    return 0;
}

int glarex_eval_new(glarex_eval **out, glarex_ctx *ctx, const glarex_eval_options *opts,
                    glarex_error *err)
{
    glarex_eval *ev = NULL;
    int rc;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    *out = NULL;
    if (opts && opts->version != GLAREX_EVAL_OPTIONS_VERSION)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "glarex_eval_options version %u is not supported (expected "
                                 "%d)",
                                 opts->version, GLAREX_EVAL_OPTIONS_VERSION);
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        return GLAREX_ENOMEM_SET(err);
    if (opts)
        ev->opts = *opts;
    ev->opts.version = GLAREX_EVAL_OPTIONS_VERSION;
    if (!ev->opts.memory_limit)
        ev->opts.memory_limit = DEFAULT_MEMORY_LIMIT;
    if (!ev->opts.instruction_limit)
        ev->opts.instruction_limit = DEFAULT_INSTRUCTION_LIMIT;
    if (ev->opts.timeout_ms <= 0)
        ev->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!ev->opts.template_cache)
        ev->opts.template_cache = DEFAULT_TEMPLATE_CACHE;
    ev->ctx = ctx;
    ev->req = ctx ? glarex__ctx_own_request(ctx) : NULL;
    ev->bound_ref = LUA_NOREF;

    ev->L = lua_newstate(limited_alloc, ev);
    if (!ev->L) {
        free(ev);
        return GLAREX_ENOMEM_SET(err);
    }
    lua_pushcfunction(ev->L, setup_state);
    lua_pushlightuserdata(ev->L, ev);
    rc = lua_pcall(ev->L, 1, 0, 0);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(ev->L, -1);
        rc = glarex__error_set(err, rc == LUA_ERRMEM ? GLAREX_ENOMEM : GLAREX_ERROR,
                               "cannot start the evaluator: %s", msg ? msg : "out of memory");
        glarex_eval_free(ev);
        return rc;
    }
    *out = ev;
    return 0;
}

void glarex_eval_free(glarex_eval *ev)
{
    if (!ev)
        return;
    memo_clear(ev);
    if (ev->L)
        lua_close(ev->L);
    for (size_t i = 0; i < ev->nfns; i++)
        free(ev->fns[i].name);
    free(ev->fns);
    free(ev);
}

int glarex_eval_use_request(glarex_eval *ev, glarex_request *req, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    if (req && req->ctx != ev->ctx)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "the request belongs to another context than the evaluator");
    ev->req = req ? req : ev->ctx ? glarex__ctx_own_request(ev->ctx) : NULL;
    return 0;
}

int glarex_eval_register(glarex_eval *ev, const char *name, glarex_eval_fn fn, void *payload,
                         glarex_error *err)
{
    registered_fn *f, *grown;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    GLAREX_ASSERT_ARG(err, name != NULL);
    GLAREX_ASSERT_ARG(err, fn != NULL);
    if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_") != strlen(name) ||
        (name[0] >= '0' && name[0] <= '9'))
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "function name '%s' is not an identifier", name);
    if (builtin_index(name) >= 0)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "function '%s' is built in and cannot be replaced", name);
    f = find_registered(ev, name);
    if (f) {
        f->fn = fn;
        f->payload = payload;
        return 0;
    }
    grown = realloc(ev->fns, (ev->nfns + 1) * sizeof(*grown));
    if (!grown)
        return GLAREX_ENOMEM_SET(err);
    ev->fns = grown;
    f = &ev->fns[ev->nfns];
    f->name = strdup(name);
    if (!f->name)
        return GLAREX_ENOMEM_SET(err);
    f->fn = fn;
    f->payload = payload;
    ev->nfns++;
    return 0;
}

static int json_truthy(const json_t *v);

/* Pushes `context`, or the bound context when NULL; lazily (for this call only) when
 * `lazy`. Returns a Lua status. */
static int push_context(glarex_eval *ev, const json_t *context, int lazy)
{
    lua_State *L = ev->L;
    if (!context) {
        if (ev->bound_ref == LUA_NOREF)
            return push_null(ev, L), LUA_OK;
        lua_rawgeti(L, LUA_REGISTRYINDEX, ev->bound_ref);
        return LUA_OK;
    }
    lua_pushcfunction(L, push_json_protected);
    lua_pushlightuserdata(L, ev);
    lua_pushlightuserdata(L, (void *)context);
    lua_pushboolean(L, lazy);
    return lua_pcall(L, 3, 1, 0);
}

int glarex_eval_bind(glarex_eval *ev, const json_t *context, glarex_error *err)
{
    int st;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    luaL_unref(ev->L, LUA_REGISTRYINDEX, ev->bound_ref);
    ev->bound_ref = LUA_NOREF;
    ev->bound_bytes = 0;
    if (!context)
        return 0;
    lua_gc(ev->L, LUA_GCCOLLECT);
    size_t before = ev->mem_used;
    st = push_context(ev, context, 0);
    if (st != LUA_OK)
        return lua_failure(ev, st, "context", err);
    ev->bound_ref = luaL_ref(ev->L, LUA_REGISTRYINDEX);
    ev->bound_truthy = json_truthy(context);
    ev->bound_bytes = ev->mem_used > before ? ev->mem_used - before : 0;
    return 0;
}

/* Drops the compiled templates and memoised glare() results (evaluator.clear_cache). */
static int clear_caches(lua_State *L)
{
    glarex_eval *ev = lua_touserdata(L, 1);
    memo_clear(ev);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ev_ref);
    lua_getfield(L, -1, "clear_cache");
    lua_call(L, 0, 0);
    return 0;
}

/* Compiled templates stay in the Lua state and count against its memory limit. So
 * that they never take what an evaluation needs, a state that holds more than a
 * quarter of the limit before a run, besides the bound context (which no collection
 * can free: counting it would collect before every run), is collected, and if it
 * still holds that much, its caches are emptied. */
static void relieve_memory(glarex_eval *ev)
{
    size_t high = ev->opts.memory_limit / 4 + ev->bound_bytes;
    if (ev->mem_used <= high)
        return;
    lua_gc(ev->L, LUA_GCCOLLECT);
    if (ev->mem_used <= high)
        return;
    lua_pushcfunction(ev->L, clear_caches);
    lua_pushlightuserdata(ev->L, ev);
    if (lua_pcall(ev->L, 1, 0, 0) != LUA_OK)
        lua_pop(ev->L, 1); /* out of memory: the collection below still helps */
    lua_gc(ev->L, LUA_GCCOLLECT);
}

/* Calls evaluator.<fn>(arg, context) where arg is a string or a JSON value. */
static int run(json_t **out, glarex_eval *ev, const char *fn, const char *text,
               const json_t *data, const json_t *context, glarex_error *err)
{
    lua_State *L = ev->L;
    int top = lua_gettop(L);
    int st, rc;

    relieve_memory(ev);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ev_ref);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    if (text) {
        lua_pushstring(L, text);
    } else {
        st = push_context(ev, data, 0); /* as a bound context */
        if (st != LUA_OK) {
            rc = lua_failure(ev, st, "data", err);
            lua_settop(L, top);
            return rc;
        }
    }
    st = push_context(ev, context, 1);
    if (st != LUA_OK) {
        ev->lazy_run++;
        rc = lua_failure(ev, st, "context", err);
        lua_settop(L, top);
        return rc;
    }

    start_run(ev, strcmp(fn, "evaluate") != 0);
    st = lua_pcall(L, 2, 1, 0);
    if (st == LUA_OK && ev->limit_hit) { /* a limit failure a pcall in Lua swallowed */
        lua_pushnil(L);
        st = LUA_ERRRUN;
    }
    end_run(ev);
    if (context)
        ev->lazy_run++; /* the caller's context may go away now */
    if (st != LUA_OK) {
        rc = lua_failure(ev, st, text ? text : "data", err);
        lua_settop(L, top);
        return rc;
    }
    if (out) {
        json_conv conv;
        json_conv_init(&conv, ev);
        rc = to_json(out, ev->result_conv ? ev->result_conv : &conv, L, -1, 0, err);
        if (rc < 0)
            glarex__error_at(err, text ? text : "data", 0, 0, 0);
    } else {
        rc = 0;
    }
    lua_settop(L, top);
    return rc;
}

/* One delimiter pair's scan: the first close at or after the last opening + 2, and the
 * first newline found before it. Both only move forward, so a scan is linear. */
typedef struct delim_scan {
    const char *close_at;
    const char *nl;
    int no_close; /* no close after the last opening: no later one matches either */
} delim_scan;

/* Whether the opening at `a` starts `open` ... `close` with no newline between, as
 * Mistral's detectors (non-greedy regexes whose `.` stops at a newline) and
 * lua/template.lua's findall find it. */
static int delimits(const char *a, const char *close, delim_scan *d)
{
    if (d->no_close)
        return 0;
    if (!d->close_at || d->close_at < a + 2) {
        d->close_at = strstr(a + 2, close);
        if (!d->close_at) {
            d->no_close = 1;
            return 0;
        }
    }
    if (!d->nl || d->nl < a + 2) {
        d->nl = memchr(a + 2, '\n', (size_t)(d->close_at - (a + 2)));
        if (!d->nl)
            return 1;
    }
    return 0; /* the newline comes before the close */
}

/* Mistral returns a string unchanged when neither detector matches. That is decided
 * here, exactly as lua/template.lua decides it, before Lua is entered or a per-call
 * context is converted: plain text costs one scan of itself. */
static int may_hold_expression(const char *s)
{
    delim_scan jinja_expr = {0}, jinja_stmt = {0}, yaql = {0};
    for (const char *p = strpbrk(s, "{<"); p; p = strpbrk(p + 1, "{<")) {
        if (p[0] == '<' ? p[1] == '%' && delimits(p, "%>", &yaql)
                        : (p[1] == '{' && delimits(p, "}}", &jinja_expr)) ||
                              (p[1] == '%' && delimits(p, "%}", &jinja_stmt)))
            return 1;
    }
    return 0;
}

int glarex_eval_string(json_t **out, glarex_eval *ev, const char *text, const json_t *context,
                       glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    GLAREX_ASSERT_ARG(err, text != NULL);
    *out = NULL;
    if (!may_hold_expression(text)) {
        *out = json_string(text);
        if (!*out)
            return glarex__error_set(err, GLAREX_EBINARY, "template is not UTF-8 text");
        return 0;
    }
    return run(out, ev, "evaluate", text, NULL, context, err);
}

static int json_truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return 0;
    case JSON_TRUE:
        return 1;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_STRING:
        return json_string_length(v) != 0;
    case JSON_ARRAY:
        return json_array_size(v) != 0;
    case JSON_OBJECT:
        return json_object_size(v) != 0;
    }
    return 0;
}

/* One evaluate_recursively. A per-call context is converted when the walk meets the
 * first string to evaluate, not before: data with nothing to evaluate never pays for it. */
typedef struct rec_walk {
    glarex_eval *ev;
    const json_t *context; /* the caller's, or NULL: the bound one */
    int pushed;            /* context converted and standing in for the bound one */
    int had_ref;           /* the bound context it stands in for */
} rec_walk;

/* Converts w->context, once, as the walk's bound context. */
static int rec_context(rec_walk *w, glarex_error *err)
{
    glarex_eval *ev = w->ev;
    int st;
    if (!w->context || w->pushed)
        return 0;
    st = push_context(ev, w->context, 1);
    if (st != LUA_OK) {
        ev->lazy_run++;
        return lua_failure(ev, st, "context", err);
    }
    w->had_ref = ev->bound_ref;
    ev->bound_ref = luaL_ref(ev->L, LUA_REGISTRYINDEX);
    w->pushed = 1;
    return 0;
}

/* The bound context back as it was; what the walk converted expires. */
static void rec_done(rec_walk *w)
{
    if (!w->pushed)
        return;
    luaL_unref(w->ev->L, LUA_REGISTRYINDEX, w->ev->bound_ref);
    w->ev->bound_ref = w->had_ref;
    w->ev->lazy_run++;
}

/* Puts `v` (taken) at `i` (an index, or a key when `key`) of *copy, a shallow copy of
 * `data` made on the first change: what does not change is shared, not copied. */
static int rec_put(json_t **copy, const json_t *data, size_t i, const char *key, json_t *v,
                   glarex_error *err)
{
    if (!*copy && !(*copy = json_copy((json_t *)data))) {
        json_decref(v);
        return GLAREX_ENOMEM_SET(err);
    }
    if ((key ? json_object_set_new(*copy, key, v) : json_array_set_new(*copy, i, v)) < 0)
        return GLAREX_ENOMEM_SET(err);
    return 0;
}

/* evaluate_recursively, walking the JSON in C: a value with nothing to evaluate is
 * answered with itself (a new reference), never converted or copied. */
static int walk(json_t **out, rec_walk *w, const json_t *data, int depth, glarex_error *err)
{
    json_t *copy = NULL, *item, *v;
    const char *key;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (depth > MAX_DEPTH)
        return glarex__error_set(err, GLAREX_EINVALID, "data nested deeper than %d levels",
                                 MAX_DEPTH);
    if (json_is_string(data)) {
        if (!may_hold_expression(json_string_value(data))) {
            *out = json_incref((json_t *)data);
            return 0;
        }
        if ((rc = rec_context(w, err)) < 0)
            return rc;
        return run(out, w->ev, "evaluate", json_string_value(data), NULL, NULL, err);
    }
    if (json_is_array(data)) {
        json_array_foreach(data, i, item) {
            if ((rc = walk(&v, w, item, depth + 1, err)) < 0)
                break;
            if (v == item && !copy)
                json_decref(v);
            else if ((rc = rec_put(&copy, data, i, NULL, v, err)) < 0)
                break;
        }
    } else if (json_is_object(data)) {
        json_object_foreach((json_t *)data, key, item) {
            if ((rc = walk(&v, w, item, depth + 1, err)) < 0)
                break;
            if (v == item && !copy)
                json_decref(v);
            else if ((rc = rec_put(&copy, data, 0, key, v, err)) < 0)
                break;
        }
    }
    if (rc < 0) {
        json_decref(copy);
        return rc;
    }
    *out = copy ? copy : json_incref((json_t *)data);
    return 0;
}

int glarex_eval_recursive(json_t **out, glarex_eval *ev, const json_t *data,
                          const json_t *context, glarex_error *err)
{
    json_conv conv;
    rec_walk w = {ev, context, 0, LUA_NOREF};
    int rc;
    int evaluate;

    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, out != NULL);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    GLAREX_ASSERT_ARG(err, data != NULL);
    *out = NULL;

    if (context) {
        evaluate = json_truthy(context);
    } else {
        evaluate = ev->bound_ref != LUA_NOREF && ev->bound_truthy;
    }
    if (!evaluate) { /* Mistral returns the data itself when the context is empty */
        *out = json_incref((json_t *)data);
        return 0;
    }
    /* the whole result, not each evaluated string, is held to the memory limit */
    json_conv_init(&conv, ev);
    ev->result_conv = &conv;
    rc = walk(out, &w, data, 0, err);
    rec_done(&w);
    ev->result_conv = NULL;
    return rc;
}

int glarex__eval_run_lua(json_t **out, glarex_eval *ev, const char *source,
                         glarex_error *err)
{
    lua_State *L = ev->L;
    int top = lua_gettop(L), st, rc = 0;

    *out = NULL;
    st = luaL_loadbufferx(L, source, strlen(source), "=test", "t");
    if (st == LUA_OK) {
        start_run(ev, 1);
        st = lua_pcall(L, 0, 1, 0);
        end_run(ev);
    }
    if (st != LUA_OK) {
        rc = lua_failure(ev, st, "test", err);
    } else {
        json_conv conv;
        json_conv_init(&conv, ev);
        rc = to_json(out, &conv, L, -1, 0, err);
    }
    lua_settop(L, top);
    return rc;
}

int glarex_eval_validate(glarex_eval *ev, const char *text, glarex_error *err)
{
    GLAREX_ERROR_RESET(err);
    GLAREX_ASSERT_ARG(err, ev != NULL);
    GLAREX_ASSERT_ARG(err, text != NULL);
    return run(NULL, ev, "compile", text, NULL, NULL, err);
}

/* }====================================================================== */
