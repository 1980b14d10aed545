/*
 * The evaluator's C half: its API, the glare functions over a real local store, and
 * the sandbox: escape and exhaustion attempts must each end in their own clear error
 * with the evaluator still usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "src/common.h"
#include "src/eval.h"

typedef struct fixture {
    char dir[256];
    glarex_ctx *ctx;
    glarex_eval *ev;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char url[300], cache[300];
    glarex_ctx_options co = GLAREX_CTX_OPTIONS_INIT;
    glarex_error err;
    static const unsigned char binary[] = {0xff, 0xfe, 0x00, 0x41};
    const test_resource res[] = {{"heal.sh", "#!/bin/sh\necho healing\n", 23},
                                 {"image.bin", binary, sizeof(binary)}};

    if (!f || test_mkdtemp(f->dir, sizeof(f->dir), "eval") < 0)
        return -1;
    snprintf(url, sizeof(url), "file://%s/store", f->dir);
    snprintf(cache, sizeof(cache), "%s/cache", f->dir);
    if (test_store_artifact(NULL, url, NULL, "heal_vms", "1.0", res, 2, 1) < 0)
        return -1;
    co.store.url = url;
    co.cache_dir = cache;
    if (glarex_ctx_new(&f->ctx, &co, &err) < 0 || glarex_eval_new(&f->ev, f->ctx, NULL, &err) < 0)
        fail_msg("%s", err.message);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    glarex_eval_free(f->ev);
    glarex_ctx_free(f->ctx);
    test_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Evaluates `text` against `context` (JSON text) and compares with `expected` (JSON). */
static void check_value(glarex_eval *ev, const char *text, const char *context,
                         const char *expected)
{
    json_t *ctx = context ? json_loads(context, 0, NULL) : NULL;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL);
    json_t *got = NULL;
    glarex_error err;

    if (glarex_eval_string(&got, ev, text, ctx, &err) < 0)
        fail_msg("%s: %s", text, err.message);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        fail_msg("%s: got %s, expected %s", text, g, expected);
    }
    json_decref(got);
    json_decref(want);
    json_decref(ctx);
}

static int check_error(glarex_eval *ev, const char *text, const char *needle)
{
    json_t *got = NULL;
    glarex_error err;
    json_t *ctx = json_pack("{s:i}", "a", 1);
    int rc = glarex_eval_string(&got, ev, text, ctx, &err);
    json_decref(ctx);
    if (rc == 0) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        fail_msg("%s: expected an error, got %s", text, g);
    }
    if (needle && !strstr(err.message, needle))
        fail_msg("%s: error '%s' lacks '%s'", text, err.message, needle);
    return rc;
}

static int lua_error(glarex_eval *ev, const char *source, char *message, size_t size)
{
    json_t *got = NULL;
    glarex_error err;
    int rc = glarex__eval_run_lua(&got, ev, source, &err);
    if (rc == 0) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        fail_msg("%s: expected an error, got %s", source, g);
    }
    if (message)
        snprintf(message, size, "%s", err.message);
    return rc;
}

static void test_eval__plain_text_and_typed_results(void **state)
{
    fixture *f = *state;
    check_value(f->ev, "no expression here", "{\"a\": 1}", "\"no expression here\"");
    check_value(f->ev, "<% $.a + 1 %>", "{\"a\": 1}", "2");
    check_value(f->ev, "<% $.a / 2.0 %>", "{\"a\": 1}", "0.5");
    check_value(f->ev, "a=<% $.a %>", "{\"a\": 1}", "\"a=1\"");
    check_value(f->ev, "<% $.l.select($ * 2) %>", "{\"l\": [1, 2]}", "[2, 4]");
}

static void test_eval__bound_context_is_reused(void **state)
{
    fixture *f = *state;
    glarex_error err;
    json_t *ctx = json_pack("{s:s}", "host", "h1");
    assert_int_equal(glarex_eval_bind(f->ev, ctx, &err), 0);
    json_decref(ctx);
    check_value(f->ev, "<% $.host %>", NULL, "\"h1\"");
    check_value(f->ev, "<% $.host %>", "{\"host\": \"h2\"}", "\"h2\"");
    assert_int_equal(glarex_eval_bind(f->ev, NULL, &err), 0);
}

static void test_eval__recursive_leaves_keys_and_empty_context_alone(void **state)
{
    fixture *f = *state;
    json_t *data = json_loads("{\"<% $.k %>\": \"<% $.a %>\", \"n\": [1, \"<% $.a %>x\"]}", 0, NULL);
    json_t *ctx = json_pack("{s:i, s:s}", "a", 1, "k", "key");
    json_t *empty = json_object();
    json_t *got = NULL;
    glarex_error err;

    assert_int_equal(glarex_eval_recursive(&got, f->ev, data, ctx, &err), 0);
    json_t *want = json_loads("{\"<% $.k %>\": 1, \"n\": [1, \"1x\"]}", 0, NULL);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    assert_int_equal(glarex_eval_recursive(&got, f->ev, data, empty, &err), 0);
    assert_true(json_equal(got, data));
    json_decref(got);
    json_decref(data);
    json_decref(ctx);
    json_decref(empty);
}

static int task_fn(json_t **out, const json_t *args, const json_t *kwargs, void *payload,
                   glarex_error *err)
{
    (void)kwargs;
    if (json_array_size(args) != 1 || !json_is_string(json_array_get(args, 0)))
        return glarex__error_set(err, GLAREX_EINVALID, "task() takes a task name");
    *out = json_pack("{s:s, s:s}", "name", json_string_value(json_array_get(args, 0)),
                     "state", (const char *)payload);
    return 0;
}

static void test_eval__registered_functions(void **state)
{
    fixture *f = *state;
    glarex_error err;
    assert_int_equal(glarex_eval_register(f->ev, "task", task_fn, (void *)"SUCCESS", &err), 0);
    check_value(f->ev, "<% task('t1').state %>", "{\"a\": 1}", "\"SUCCESS\"");
    assert_int_equal(check_error(f->ev, "<% task(1) %>", "task() takes a task name"),
                     GLAREX_EINVALID);
    assert_int_equal(glarex_eval_register(f->ev, "glare", task_fn, NULL, &err), GLAREX_EINVALID);
    assert_int_equal(glarex_eval_register(f->ev, "no-t", task_fn, NULL, &err), GLAREX_EINVALID);
    check_error(f->ev, "<% nosuchfn(1) %>", "nosuchfn");
    /* Mistral registers every function as a Jinja filter too */
    check_value(f->ev, "{{ 'task' is filter }}", "{\"a\": 1}", "true");
    check_value(f->ev, "{{ 'glare' is filter }}", "{\"a\": 1}", "true");
    check_value(f->ev, "{{ 'nosuchfn' is filter }}", "{\"a\": 1}", "false");
}

static void test_eval__glare_functions(void **state)
{
    fixture *f = *state;
    json_t *got = NULL;
    glarex_error err;

    check_value(f->ev, "<% glare('heal_vms', '1.0', 'heal.sh') %>", "{\"a\": 1}",
                 "\"#!/bin/sh\\necho healing\\n\"");
    check_value(f->ev, "<% glare('glare://heal_vms@1.0/heal.sh') %>", "{\"a\": 1}",
                 "\"#!/bin/sh\\necho healing\\n\"");
    check_value(f->ev, "<% glare_b64('heal_vms', '1.0', 'image.bin') %>", "{\"a\": 1}",
                 "\"//4AQQ==\"");
    check_value(f->ev, "<% glare_info('heal_vms', '1.0', 'heal.sh').size %>", "{\"a\": 1}",
                 "23");
    assert_int_equal(glarex_eval_string(&got, f->ev,
                                        "<% glare_path('heal_vms', '1.0', 'heal.sh') %>", NULL,
                                        &err),
                     0);
    assert_true(json_is_string(got));
    assert_int_equal(access(json_string_value(got), R_OK), 0);
    json_decref(got);

    /* binary content is refused as text, and the message points to the other two */
    assert_int_equal(check_error(f->ev, "<% glare('heal_vms', '1.0', 'image.bin') %>",
                                  "glare_b64()"),
                     GLAREX_EBINARY);
    assert_int_equal(check_error(f->ev, "<% glare('heal_vms', '1.0', 'nope') %>", "nope"),
                     GLAREX_ENOTFOUND);
    check_error(f->ev, "<% glare('heal_vms', 1.0, 'heal.sh') %>", NULL);
    /* three strings take a shorter path than keywords or computed arguments: same
     * results, same errors */
    check_value(f->ev, "<% glare(name => 'heal_vms', version => '1.0', resource => 'heal.sh') %>",
                "{\"a\": 1}", "\"#!/bin/sh\\necho healing\\n\"");
    check_value(f->ev, "<% glare($.n, '1.0', 'heal' + '.sh') %>", "{\"n\": \"heal_vms\"}",
                "\"#!/bin/sh\\necho healing\\n\"");
    assert_int_equal(check_error(f->ev, "<% glare(name => 'heal_vms', version => '1.0', "
                                        "resource => 'image.bin') %>",
                                 "glare_b64()"),
                     GLAREX_EBINARY);
    assert_int_equal(check_error(f->ev, "<% glare('heal_vms', '1.0', 2) %>",
                                 "glare() argument 3 must be a string, not number"),
                     GLAREX_EEVAL);
}

/* Result strings must be UTF-8 as JSON allows it: checked by glarex itself, with
 * ASCII runs taken a word at a time, so the edges of that are tried here. */
static void test_eval__result_strings_are_utf8(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "return '\\xff'",                         /* not a lead byte */
        "return 'abcdefgh\\xc0\\x80'",             /* overlong NUL after a word */
        "return 'abc\\xe0\\x80\\xaf'",             /* overlong '/' */
        "return 'abcdefghijklmno\\xed\\xa0\\x80'", /* a surrogate */
        "return '\\xf4\\x90\\x80\\x80'",           /* past U+10FFFF */
        "return 'abcdefgh\\xe2\\x82'",             /* cut short at the end */
        "return 'abcdefg\\xe2\\x82abcdefgh'",      /* continuation missing */
    };
    json_t *got = NULL;
    glarex_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(lua_error(f->ev, bad[i], NULL, 0), GLAREX_EBINARY);
    assert_int_equal(glarex__eval_run_lua(&got, f->ev,
                                          "return 'h\\xc3\\xa9llo w\\xc3\\xb6rld, "
                                          "\\xe6\\x97\\xa5\\xe6\\x9c\\xac \\xf0\\x9f\\x98\\x80 "
                                          "and plain ASCII past a word'",
                                          &err),
                     0);
    assert_string_equal(json_string_value(got),
                        "h\xc3\xa9llo w\xc3\xb6rld, \xe6\x97\xa5\xe6\x9c\xac "
                        "\xf0\x9f\x98\x80 and plain ASCII past a word");
    json_decref(got);
}

static void test_eval__sandbox_has_no_dangerous_globals(void **state)
{
    fixture *f = *state;
    json_t *got = NULL;
    glarex_error err;
    const char *probe =
        "local found = {}\n"
        "for _, n in ipairs({'io', 'os', 'package', 'debug', 'require', 'load', 'loadfile',\n"
        "  'dofile', 'loadstring', 'collectgarbage', 'coroutine', 'print'}) do\n"
        "  if rawget(_ENV, n) ~= nil then found[#found + 1] = n end\n"
        "end\n"
        "if string.dump ~= nil then found[#found + 1] = 'string.dump' end\n"
        "return table.concat(found, ',')";
    assert_int_equal(glarex__eval_run_lua(&got, f->ev, probe, &err), 0);
    assert_string_equal(json_string_value(got), "");
    json_decref(got);

    /* getmetatable and type are the evaluator's own, with the base library's answers */
    const char *base =
        "local mt = setmetatable({}, {__metatable = 'locked'})\n"
        "local plain = setmetatable({}, {})\n"
        "return table.concat({tostring(getmetatable('')), tostring(getmetatable(mt)),\n"
        "  tostring(getmetatable(plain) ~= nil), tostring(getmetatable({})),\n"
        "  tostring(getmetatable(1)), type(nil), type(true), type(1), type('s'), type({}),\n"
        "  type(type), tostring(pcall(type)), tostring(pcall(getmetatable))}, ',')";
    assert_int_equal(glarex__eval_run_lua(&got, f->ev, base, &err), 0);
    assert_string_equal(json_string_value(got), "false,locked,true,nil,nil,nil,boolean,number,"
                                                "string,table,function,false,false");
    json_decref(got);

    /* bytecode is refused even by the loader the compiler uses */
    char msg[600];
    lua_error(f->ev, "return string.dump(print)", msg, sizeof(msg));
    lua_error(f->ev, "return (\"\\27Lua\"):byte()..nil", msg, sizeof(msg));
}

static void test_eval__escapes_through_expressions_fail(void **state)
{
    fixture *f = *state;
    /* text that would be Lua code if the compiler pasted it: stays a literal */
    check_value(f->ev, "<% '\"); os.exit(1) --' %>", "{\"a\": 1}", "\"\\\"); os.exit(1) --\"");
    check_value(f->ev, "<% ']] os.exit(1) --[[' %>", "{\"a\": 1}", "\"]] os.exit(1) --[[\"");
    /* Lua string methods are not Python's */
    check_error(f->ev, "<% 'x'.rep(10) %>", NULL);
    check_error(f->ev, "<% 'x'.dump() %>", NULL);
    /* bare names are strings in YAQL, never Lua globals */
    check_value(f->ev, "<% os %>", "{\"a\": 1}", "\"os\"");
}

static void test_eval__memory_limit(void **state)
{
    fixture *f = *state;
    char msg[600];
    assert_int_equal(lua_error(f->ev, "return string.rep('x', 1 << 30)", msg, sizeof(msg)),
                     GLAREX_EMEMLIMIT);
    assert_non_null(strstr(msg, "memory limit"));
    assert_int_equal(lua_error(f->ev, "local t = {} for i = 1, 1e9 do t[i] = {} end", msg,
                               sizeof(msg)),
                     GLAREX_EMEMLIMIT);
    /* pcall cannot swallow it */
    assert_int_equal(lua_error(f->ev,
                               "local ok = pcall(string.rep, 'x', 1 << 30) "
                               "return string.rep('y', 1 << 30)",
                               msg, sizeof(msg)),
                     GLAREX_EMEMLIMIT);
    assert_int_equal(check_error(f->ev, "<% 'x' * 2000000000 %>", NULL), GLAREX_EMEMLIMIT);
    check_value(f->ev, "<% $.a %>", "{\"a\": 1}", "1"); /* still healthy */

    /* a bounded template (no instruction count) is held to the memory limit too: a
     * host function's result that does not fit */
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_eval *small = NULL;
    glarex_error err;
    json_t *got = NULL, *ctx;
    size_t n = (size_t)1 << 20;
    char *list = malloc(2 * n + 2);
    assert_non_null(list);
    for (size_t i = 0; i < n; i++)
        memcpy(list + 2 * i, i ? ",1" : "[1", 2);
    memcpy(list + 2 * n, "]", 2);
    ctx = json_pack("{s:s}", "big", list);
    free(list);
    o.memory_limit = (size_t)8 << 20;
    assert_int_equal(glarex_eval_new(&small, NULL, &o, &err), 0);
    assert_int_equal(glarex_eval_string(&got, small, "<% yaml_parse($.big) %>", ctx, &err),
                     GLAREX_EMEMLIMIT);
    assert_null(got);
    check_value(small, "<% $.a %>", "{\"a\": 1}", "1");
    json_decref(ctx);
    glarex_eval_free(small);
}

static void test_eval__instruction_limit(void **state)
{
    fixture *f = *state;
    char msg[600];
    glarex_eval *small = NULL;
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_error err;

    assert_int_equal(lua_error(f->ev, "while true do end", msg, sizeof(msg)), GLAREX_EINSNLIMIT);
    assert_non_null(strstr(msg, "instructions"));
    assert_int_equal(lua_error(f->ev, "while true do pcall(function() while true do end end) end",
                               msg, sizeof(msg)),
                     GLAREX_EINSNLIMIT);
    o.instruction_limit = 100000;
    assert_int_equal(glarex_eval_new(&small, NULL, &o, &err), 0);
    assert_int_equal(check_error(small, "<% range(0, 10000000).select($ * 2).sum() %>", NULL),
                     GLAREX_EINSNLIMIT);
    /* templates that may iterate are counted, whatever else they hold */
    assert_int_equal(check_error(small, "<% $.a %> and <% range(0, 10000000).sum() %>", NULL),
                     GLAREX_EINSNLIMIT);
    assert_int_equal(check_error(small, "{{ range(90000) | sum }}", NULL), GLAREX_EINSNLIMIT);
    assert_int_equal(check_error(small, "{% for i in range(90000) %}{{ i }}{% endfor %}", NULL),
                     GLAREX_EINSNLIMIT);
    assert_int_equal(check_error(small, "{{ _.a }} {% for i in range(90000) %}{% endfor %}",
                                 NULL),
                     GLAREX_EINSNLIMIT);
    check_value(small, "<% 1 + 1 %>", NULL, "2");
    check_value(small, "<% $.a %> and <% $.a %>", "{\"a\": 1}", "\"1 and 1\"");
    check_value(small, "Host {{ _.a }}", "{\"a\": 1}", "\"Host 1\"");
    glarex_eval_free(small);
}

static void test_eval__deadline(void **state)
{
    fixture *f = *state;
    glarex_eval *quick = NULL;
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_error err;
    char msg[600];
    (void)f;

    o.timeout_ms = 50;
    o.instruction_limit = (uint64_t)1 << 60;
    assert_int_equal(glarex_eval_new(&quick, NULL, &o, &err), 0);
    assert_int_equal(lua_error(quick, "while true do end", msg, sizeof(msg)), GLAREX_EDEADLINE);
    assert_non_null(strstr(msg, "50 ms"));
    check_value(quick, "<% 1 + 1 %>", NULL, "2");
    glarex_eval_free(quick);
}

static void test_eval__deadline_bounds_fetching(void **state)
{
    test_server srv;
    char cache[256];
    const test_resource res[] = {{"s.sh", "echo\n", 5}};
    glarex_ctx_options co = GLAREX_CTX_OPTIONS_INIT;
    glarex_eval_options eo = GLAREX_EVAL_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_eval *ev = NULL;
    glarex_error err;
    json_t *got = NULL;
    struct timespec t0, t1;
    (void)state;

    assert_int_equal(test_server_start(&srv, NULL), 0);
    assert_int_equal(test_mkdtemp(cache, sizeof(cache), "deadline"), 0);
    assert_int_equal(test_store_artifact(NULL, srv.url, "alice:projA:member", "wf", "1.0", res,
                                         1, 1),
                     0);
    /* the server takes 3 s to answer the lookup */
    assert_int_equal(test_server_request(&srv, "POST", "/__control/faults", NULL,
                                         "application/json",
                                         "{\"kind\": \"delay\", \"seconds\": 3, \"method\": "
                                         "\"GET\", \"path\": \"/artifacts/workflows\"}",
                                         NULL),
                     201);
    co.store.url = srv.url;
    co.store.client.auth_token = "alice:projA:member";
    co.cache_dir = cache;
    eo.timeout_ms = 300;
    assert_int_equal(glarex_ctx_new(&ctx, &co, &err), 0);
    assert_int_equal(glarex_eval_new(&ev, ctx, &eo, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(glarex_eval_string(&got, ev, "<% glare('wf', '1.0', 's.sh') %>", NULL, &err),
                     GLAREX_EDEADLINE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(strstr(err.message, "300 ms"));
    /* it gave up at the deadline, not when the server answered */
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
    glarex_eval_free(ev);
    glarex_ctx_free(ctx);
    test_server_stop(&srv);
    test_rm_rf(cache);
}

static void test_eval__deep_recursion(void **state)
{
    fixture *f = *state;
    char msg[600];
    char *deep = malloc(200100);
    size_t n = 0;

    lua_error(f->ev, "local function r(n) return r(n + 1) + 1 end return r(1)", msg, sizeof(msg));
    assert_non_null(strstr(msg, "stack overflow"));
    n += (size_t)sprintf(deep, "<%% ");
    for (int i = 0; i < 50000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 50000; i++)
        deep[n++] = ']';
    n += (size_t)sprintf(deep + n, " %%>");
    check_error(f->ev, deep, NULL);
    free(deep);
    check_value(f->ev, "<% $.a %>", "{\"a\": 1}", "1");
}

static void test_eval__metatable_tricks(void **state)
{
    fixture *f = *state;
    char msg[600];
    /* the metatable every string shares is hidden: it cannot be changed */
    lua_error(f->ev, "getmetatable('').__index = {gsub = function() return 'pwned' end}", msg,
              sizeof(msg));
    lua_error(f->ev, "setmetatable('', {})", msg, sizeof(msg));
    check_value(f->ev, "<% 'abc'.toUpper() %>", NULL, "\"ABC\"");
    lua_error(f->ev, "setmetatable(_G, nil) return os.exit()", msg, sizeof(msg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eval__plain_text_and_typed_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__bound_context_is_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__recursive_leaves_keys_and_empty_context_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__registered_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__glare_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__sandbox_has_no_dangerous_globals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__escapes_through_expressions_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__memory_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__instruction_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__deadline, setup, teardown),
        cmocka_unit_test(test_eval__deadline_bounds_fetching),
        cmocka_unit_test_setup_teardown(test_eval__deep_recursion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__result_strings_are_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval__metatable_tricks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
