/*
 * The Lua 5.4 module: local glarex = require "glarex".
 *
 *   local ctx = glarex.open{url = "http://127.0.0.1:9494", token = "u:p:member"}
 *   local text = ctx:fetch("my_wf", "1.0", "heal_vm_script.sh")   -- or ctx:fetch(uri)
 *   local path = ctx:path(...);  local info = ctx:info(...)
 *   local art = ctx:artifact("my_wf", "1.0")
 *   local v = ctx:eval("<% $.x %>", {x = 1})
 *   local req = ctx:request{token = "u:p:member", workflow = "my_wf", as_of = os.time()}
 *   req:fetch("heal_vm_script.sh"); req:eval("<% glare('heal_vm_script.sh') %>")
 *   ctx:close()
 *
 * Misuse raises; failures a caller should expect (not found, network, checksum,
 * evaluation errors) return nil, message, code, as Lua's io library does. It uses only
 * the public API (include/glarex.h), and follows liolib.c: the userdata is created in a
 * closed state before anything is acquired, close() is explicit and idempotent, and
 * __gc/__close release what is left.
 */
#include <glarex.h>

#include <lauxlib.h>
#include <lua.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_MT "glarex.Context"
#define REQUEST_MT "glarex.Request"
#define MAX_DEPTH 200

typedef struct lcontext {
    glarex_ctx *ctx;     /* NULL once closed */
    glarex_store *store; /* for artifact(): opened with the same options */
    glarex_eval *ev;     /* created on the first eval() */
    char type_name[128]; /* the artifact type artifact() lists */
} lcontext;

/* The JSON null: a unique light userdata, also exported as glarex.null. */
static const char null_key = 'n';
#define NULL_VALUE ((void *)&null_key)

/* {======================================================================
 * Values
 * ====================================================================== */

/* Pushes a JSON value (borrowed). Raises only when Lua runs out of memory, so the caller
 * must hold nothing malloc'd that the raise would leak. */
static void push_json(lua_State *L, const json_t *v, int depth)
{
    luaL_checkstack(L, 4, "JSON nesting");
    if (depth > MAX_DEPTH) {
        luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_NULL:
        lua_pushlightuserdata(L, NULL_VALUE);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(v));
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
        size_t i;
        json_t *item;
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, item) {
            push_json(L, item, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_foreach((json_t *)v, key, item) {
            push_json(L, item, depth + 1);
            lua_setfield(L, -2, key);
        }
        break;
    }
    }
}

/* Pushes a JSON value that is taken: it is released even when the push raises. */
static int push_json_taken(lua_State *L, json_t *v)
{
    json_t **slot = lua_newuserdatauv(L, sizeof(json_t *), 0);
    *slot = v;
    luaL_setmetatable(L, "glarex.json"); /* its __gc releases the value */
    push_json(L, v, 0);
    json_decref(v);
    *slot = NULL;
    lua_remove(L, -2);
    return 1;
}

static int json_gc(lua_State *L)
{
    json_t **slot = lua_touserdata(L, 1);
    json_decref(*slot);
    *slot = NULL;
    return 0;
}

/* Converts the Lua value at `idx` to JSON (new), or NULL with a message pushed. A table
 * with a positive length becomes an array, any other table an object with string keys. */
static json_t *to_json(lua_State *L, int idx, int depth, const char **why)
{
    idx = lua_absindex(L, idx);
    if (depth > MAX_DEPTH) {
        *why = "value nested too deeply";
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        return lua_isinteger(L, idx) ? json_integer((json_int_t)lua_tointeger(L, idx))
                                     : json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = json_stringn(s, len);
        if (!j)
            *why = "string is not UTF-8 text";
        return j;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL_VALUE)
            return json_null();
        break;
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        if (!lua_checkstack(L, 4)) {
            *why = "value nested too deeply";
            return NULL;
        }
        if (n > 0) {
            json_t *arr = json_array();
            for (lua_Integer i = 1; arr && i <= n; i++) {
                lua_rawgeti(L, idx, i);
                json_t *item = to_json(L, -1, depth + 1, why);
                lua_pop(L, 1);
                if (!item || json_array_append_new(arr, item) < 0) {
                    json_decref(arr);
                    return NULL;
                }
            }
            return arr;
        }
        json_t *obj = json_object();
        lua_pushnil(L);
        while (obj && lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                json_decref(obj);
                *why = "object keys must be strings";
                return NULL;
            }
            json_t *item = to_json(L, -1, depth + 1, why);
            if (!item || json_object_set_new(obj, lua_tostring(L, -2), item) < 0) {
                lua_pop(L, 2);
                json_decref(obj);
                return NULL;
            }
            lua_pop(L, 1);
        }
        return obj;
    }
    default:
        break;
    }
    *why = "value cannot be represented in JSON";
    return NULL;
}

/* }====================================================================== */

/* {======================================================================
 * Context objects
 * ====================================================================== */

/* A request: one caller's identity, workflow and as-of time on a context, which it
 * keeps alive as its user value. */
typedef struct lrequest {
    glarex_request *req;
} lrequest;

/* The context of argument 1, a context or a request on one, and the request (NULL for
 * a context itself). Raises when the context is closed. */
static lcontext *check_self(lua_State *L, glarex_request **req)
{
    lcontext *c;
    lrequest *r = luaL_testudata(L, 1, REQUEST_MT);
    *req = r ? r->req : NULL;
    if (r) {
        lua_getiuservalue(L, 1, 1);
        c = lua_touserdata(L, -1);
        lua_pop(L, 1); /* the request still references it */
    } else {
        c = luaL_checkudata(L, 1, CONTEXT_MT);
    }
    if (!c->ctx)
        luaL_error(L, "attempt to use a closed glarex context");
    return c;
}

static lcontext *check_open(lua_State *L)
{
    glarex_request *req;
    lcontext *c = check_self(L, &req);
    if (req)
        luaL_typeerror(L, 1, CONTEXT_MT);
    return c;
}

/* nil, message, code: an expected failure. */
static int push_failure(lua_State *L, const glarex_error *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err->message[0] ? err->message : glarex_strerror(err->code));
    lua_pushinteger(L, err->code);
    return 3;
}

static const char *opt_field_string(lua_State *L, int t, const char *name)
{
    const char *s = NULL;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "bad option '%s' to 'open' (string expected, got %s)", name,
                       luaL_typename(L, -1));
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays referenced by the options table */
    return s;
}

static lua_Integer opt_field_integer(lua_State *L, int t, const char *name)
{
    lua_Integer v = 0;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "bad option '%s' to 'open' (integer expected, got %s)", name,
                       luaL_typename(L, -1));
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_field_bool(lua_State *L, int t, const char *name)
{
    int v = 0;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "bad option '%s' to 'open' (boolean expected, got %s)", name,
                       luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Raises unless every key of the options table at `t` is in `known`. */
static void check_known_options(lua_State *L, int t, const char *const *known,
                                const char *fname)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int ok = 0;
        lua_pop(L, 1);
        for (int i = 0; !ok && known[i] && lua_type(L, -1) == LUA_TSTRING; i++)
            ok = strcmp(known[i], lua_tostring(L, -1)) == 0;
        if (!ok)
            luaL_error(L, "bad argument #%d to '%s' (unknown option '%s')", t == 1 ? 1 : 2,
                       fname, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    }
}

/* glarex.open{url=, token=, project=, cache_dir=, offline=, insecure=, ca_file=,
 *             type_name=, ttl_exact_ms=, ttl_latest_ms=, prefer_own_project=} */
static int l_open(lua_State *L)
{
    static const char *const known[] = {"url",          "token",        "project",
                                        "cache_dir",    "offline",      "insecure",
                                        "ca_file",      "type_name",    "ttl_exact_ms",
                                        "ttl_latest_ms", "prefer_own_project", NULL};
    glarex_ctx_options o = GLAREX_CTX_OPTIONS_INIT;
    glarex_error err;
    lcontext *c;

    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    check_known_options(L, 1, known, "open");
    o.store.url = opt_field_string(L, 1, "url");
    o.store.client.auth_token = opt_field_string(L, 1, "token");
    o.store.client.ca_file = opt_field_string(L, 1, "ca_file");
    o.store.client.insecure = opt_field_bool(L, 1, "insecure");
    o.project = opt_field_string(L, 1, "project");
    o.cache_dir = opt_field_string(L, 1, "cache_dir");
    o.type_name = opt_field_string(L, 1, "type_name");
    o.offline = opt_field_bool(L, 1, "offline");
    o.prefer_own_project = opt_field_bool(L, 1, "prefer_own_project");
    o.ttl_exact_ms = (long)opt_field_integer(L, 1, "ttl_exact_ms");
    o.ttl_latest_ms = (long)opt_field_integer(L, 1, "ttl_latest_ms");

    /* the userdata exists, closed, before anything is acquired */
    c = lua_newuserdatauv(L, sizeof(*c), 0);
    memset(c, 0, sizeof(*c));
    luaL_setmetatable(L, CONTEXT_MT);
    snprintf(c->type_name, sizeof(c->type_name), "%s", o.type_name ? o.type_name : "workflows");
    if (glarex_ctx_new(&c->ctx, &o, &err) < 0)
        return push_failure(L, &err);
    if (glarex_store_open(&c->store, &o.store, &err) < 0) {
        glarex_ctx_free(c->ctx);
        c->ctx = NULL;
        return push_failure(L, &err);
    }
    return 1;
}

static int l_close(lua_State *L)
{
    lcontext *c = luaL_checkudata(L, 1, CONTEXT_MT);
    glarex_eval_free(c->ev);
    glarex_store_free(c->store);
    glarex_ctx_free(c->ctx);
    c->ev = NULL;
    c->store = NULL;
    c->ctx = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    lcontext *c = luaL_checkudata(L, 1, CONTEXT_MT);
    if (!c->ctx)
        lua_pushliteral(L, "glarex context (closed)");
    else
        lua_pushfstring(L, "glarex context (%s)", glarex_store_url(c->store));
    return 1;
}

/* ctx:fetch(uri) or ctx:fetch(name, version, resource), or the same on a request: the
 * blob (new) or a failure. */
static int fetch_blob(lua_State *L, glarex_blob **out, glarex_error *err)
{
    glarex_request *req;
    lcontext *c = check_self(L, &req);
    int n = lua_gettop(L) - 1;
    if (n == 1)
        return req ? glarex_request_fetch_uri(out, req, luaL_checkstring(L, 2), err)
                   : glarex_fetch_uri(out, c->ctx, luaL_checkstring(L, 2), err);
    luaL_argcheck(L, n == 3, n < 3 ? n + 2 : 5,
                  "expected a URI or resource name, or name, version, resource");
    const char *name = luaL_checkstring(L, 2), *version = luaL_checkstring(L, 3),
               *resource = luaL_checkstring(L, 4);
    return req ? glarex_request_fetch(out, req, name, version, resource, err)
               : glarex_fetch(out, c->ctx, name, version, resource, err);
}

/* The content stays owned by the blob, which a userdata holds while it is pushed. */
static glarex_blob **hold(lua_State *L, glarex_blob *blob)
{
    glarex_blob **slot = lua_newuserdatauv(L, sizeof(glarex_blob *), 0);
    *slot = NULL;
    luaL_setmetatable(L, "glarex.Blob");
    *slot = blob;
    return slot;
}

static int blob_gc(lua_State *L)
{
    glarex_blob **slot = lua_touserdata(L, 1);
    glarex_blob_free(*slot);
    *slot = NULL;
    return 0;
}

static int l_fetch(lua_State *L)
{
    glarex_blob *blob = NULL;
    glarex_error err;
    if (fetch_blob(L, &blob, &err) < 0)
        return push_failure(L, &err);
    hold(L, blob);
    const char *data = glarex_blob_data(blob);
    if (!data && glarex_blob_size(blob) > 0) {
        lua_pushnil(L);
        lua_pushstring(L, "cannot read the cached content");
        lua_pushinteger(L, GLAREX_EIO);
        return 3;
    }
    lua_pushlstring(L, data ? data : "", glarex_blob_size(blob));
    return 1;
}

static int l_path(lua_State *L)
{
    glarex_blob *blob = NULL;
    glarex_error err;
    const char *path;
    if (fetch_blob(L, &blob, &err) < 0)
        return push_failure(L, &err);
    hold(L, blob);
    if (glarex_blob_path(&path, blob, &err) < 0)
        return push_failure(L, &err);
    lua_pushstring(L, path);
    return 1;
}

static int l_info(lua_State *L)
{
    glarex_blob *blob = NULL;
    glarex_error err;
    if (fetch_blob(L, &blob, &err) < 0)
        return push_failure(L, &err);
    hold(L, blob);
    json_t *info = glarex_blob_info(blob);
    if (!info)
        return luaL_error(L, "not enough memory");
    return push_json_taken(L, info);
}

/* ctx:artifact(name [, version]): the artifact as a table (latest active version when
 * no version is given). */
static int l_artifact(lua_State *L)
{
    lcontext *c = check_open(L);
    const char *name = luaL_checkstring(L, 2);
    const char *version = luaL_optstring(L, 3, NULL);
    glarex_filter filters[3] = {{"name", "eq", name}, {"version", "eq", version}, {NULL, NULL, NULL}};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_error err;
    json_t *arts = NULL;

    lo.filters = filters;
    lo.nfilters = 2;
    if (!version) {
        filters[1].field = "status";
        filters[1].value = "active";
        lo.latest = 1;
    }
    if (glarex_store_list(&arts, c->store, c->type_name, &lo, &err) < 0)
        return push_failure(L, &err);
    if (json_array_size(arts) != 1) {
        size_t n = json_array_size(arts);
        json_decref(arts);
        lua_pushnil(L);
        lua_pushfstring(L, "%s artifact%s named '%s'%s%s", n ? "more than one" : "no",
                        n ? "s" : "", name, version ? " version " : "", version ? version : "");
        lua_pushinteger(L, n ? GLAREX_EAMBIGUOUS : GLAREX_ENOTFOUND);
        return 3;
    }
    json_t *art = json_incref(json_array_get(arts, 0));
    json_decref(arts);
    return push_json_taken(L, art);
}

/* ctx:eval(template [, context]): Mistral's evaluate(); a table template is evaluated
 * recursively, as evaluate_recursively does. */
static int l_eval(lua_State *L)
{
    glarex_request *req;
    lcontext *c = check_self(L, &req);
    glarex_error err;
    json_t *context = NULL, *data = NULL, *out = NULL;
    const char *why = "bad value";
    int rc;

    luaL_argexpected(L, lua_type(L, 2) == LUA_TSTRING || lua_istable(L, 2), 2, "string or table");
    if (!c->ev && glarex_eval_new(&c->ev, c->ctx, NULL, &err) < 0)
        return push_failure(L, &err);
    /* the evaluator is the context's: it serves whoever calls, for this call */
    glarex_eval_use_request(c->ev, req, NULL);
    context = lua_isnoneornil(L, 3) ? json_object() : to_json(L, 3, 0, &why);
    if (!context)
        return luaL_argerror(L, 3, why);
    if (lua_istable(L, 2)) {
        data = to_json(L, 2, 0, &why);
        if (!data) {
            json_decref(context);
            return luaL_argerror(L, 2, why);
        }
        rc = glarex_eval_recursive(&out, c->ev, data, context, &err);
    } else {
        rc = glarex_eval_string(&out, c->ev, lua_tostring(L, 2), context, &err);
    }
    json_decref(context);
    json_decref(data);
    if (rc < 0)
        return push_failure(L, &err);
    return push_json_taken(L, out);
}

/* ctx:request{token=, project_id=, user_id=, roles=, execution=, workflow=, as_of=}:
 * a request on this context (as_of in seconds since the epoch, fractions allowed). */
static int l_request(lua_State *L)
{
    static const char *const known[] = {"token", "project_id", "user_id", "roles",
                                        "execution", "workflow", "as_of", NULL};
    glarex_request_options o = GLAREX_REQUEST_OPTIONS_INIT;
    glarex_error err;
    lrequest *r;

    check_open(L);
    if (lua_isnoneornil(L, 2))
        lua_newtable(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    check_known_options(L, 2, known, "request");
    o.auth_token = opt_field_string(L, 2, "token");
    o.project_id = opt_field_string(L, 2, "project_id");
    o.user_id = opt_field_string(L, 2, "user_id");
    o.roles = opt_field_string(L, 2, "roles");
    o.execution_id = opt_field_string(L, 2, "execution");
    o.workflow = opt_field_string(L, 2, "workflow");
    if (lua_getfield(L, 2, "as_of") != LUA_TNIL) {
        luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0, 2,
                      "option 'as_of' must be a positive number of seconds since the epoch");
        o.as_of_ms = (int64_t)(lua_tonumber(L, -1) * 1000.0);
    }
    lua_pop(L, 1);

    r = lua_newuserdatauv(L, sizeof(*r), 1);
    r->req = NULL;
    luaL_setmetatable(L, REQUEST_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the context lives as long as the request */
    if (glarex_request_new(&r->req, ((lcontext *)lua_touserdata(L, 1))->ctx, &o, &err) < 0)
        return push_failure(L, &err);
    return 1;
}

static int request_gc(lua_State *L)
{
    lrequest *r = luaL_checkudata(L, 1, REQUEST_MT);
    glarex_request_free(r->req);
    r->req = NULL;
    return 0;
}

/* req:scope(): the scope key, 64 hex digits. */
static int l_scope(lua_State *L)
{
    glarex_request *req;
    check_self(L, &req);
    luaL_argcheck(L, req != NULL, 1, "a request expected");
    lua_pushstring(L, glarex_request_scope(req));
    return 1;
}

static int l_stats(lua_State *L)
{
    lcontext *c = check_open(L);
    glarex_stats st;
    glarex_ctx_stats(&st, c->ctx);
    lua_createtable(L, 0, 11);
#define FIELD(name)                                                                      \
    lua_pushinteger(L, (lua_Integer)st.name);                                            \
    lua_setfield(L, -2, #name)
    FIELD(hits);
    FIELD(disk_hits);
    FIELD(misses);
    FIELD(downloads);
    FIELD(bytes_downloaded);
    FIELD(coalesced_waits);
    FIELD(evictions);
    FIELD(memory_bytes);
    FIELD(disk_bytes);
    FIELD(resolutions);
    FIELD(revalidations);
#undef FIELD
    return 1;
}

/* }====================================================================== */

static const luaL_Reg methods[] = {
    {"fetch", l_fetch}, {"path", l_path},   {"info", l_info},   {"artifact", l_artifact},
    {"eval", l_eval},   {"stats", l_stats}, {"close", l_close}, {"request", l_request},
    {NULL, NULL}};

static const luaL_Reg request_methods[] = {{"fetch", l_fetch}, {"path", l_path},
                                           {"info", l_info},   {"eval", l_eval},
                                           {"scope", l_scope}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {{"__index", NULL}, /* placeholder */
                                       {"__gc", l_close},
                                       {"__close", l_close},
                                       {"__tostring", l_tostring},
                                       {NULL, NULL}};

static const luaL_Reg functions[] = {{"open", l_open}, {NULL, NULL}};

static void create_metatables(lua_State *L)
{
    luaL_newmetatable(L, CONTEXT_MT);
    luaL_setfuncs(L, metamethods, 0);
    luaL_newlibtable(L, methods);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, REQUEST_MT);
    lua_pushcfunction(L, request_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlibtable(L, request_methods);
    luaL_setfuncs(L, request_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, "glarex.Blob");
    lua_pushcfunction(L, blob_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, "glarex.json");
    lua_pushcfunction(L, json_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

__attribute__((visibility("default"))) int luaopen_glarex(lua_State *L);

int luaopen_glarex(lua_State *L)
{
    luaL_newlib(L, functions);
    create_metatables(L);
    lua_pushlightuserdata(L, NULL_VALUE);
    lua_setfield(L, -2, "null");
    lua_pushstring(L, glarex_version());
    lua_setfield(L, -2, "version");
    return 1;
}
