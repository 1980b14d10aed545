/*
 * The native functions of the evaluator (src/eval_native.c): Python's float repr
 * against Python's own over some 15,000 doubles; json_dump, json_parse and
 * printed floats against real Mistral's answers (tests/cases/native, made by
 * tests/gen_native_cases.py); their cost, a few instructions per value; and the
 * limits (memory, deadline) stopping them on a huge input, first run and cached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_case.h"
#include "eval_native.h"
#include "glarex.h"

static const char *source_path(char *buf, size_t size, const char *rel)
{
    const char *src = getenv("GLAREX_TEST_SOURCE_DIR");
    snprintf(buf, size, "%s/%s", src ? src : ".", rel);
    return buf;
}

static void test_native__float_repr_is_pythons(void **state)
{
    char path[1024], line[128], got[GLAREX__FLOAT_REPR_MAX];
    FILE *f = fopen(source_path(path, sizeof(path), "tests/cases/native/float_repr.txt"), "r");
    int n = 0;
    (void)state;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        uint64_t bits;
        char want[64];
        double x;
        if (sscanf(line, "%" SCNx64 " %63s", &bits, want) != 2)
            fail_msg("malformed line: %s", line);
        memcpy(&x, &bits, sizeof(x));
        size_t len = glarex__float_repr(x, got);
        if (strcmp(got, want) != 0 || len != strlen(want))
            fail_msg("repr of %016" PRIx64 ": Python %s, glarex %s", bits, want, got);
        n++;
    }
    fclose(f);
    assert_true(n > 14000);
}

/* Every case of the file `rel` (the conformance corpus' format) gives its expected
 * value or an error. */
static void check_cases(const char *rel)
{
    char path[1024];
    json_error_t jerr;
    json_t *cases = json_load_file(source_path(path, sizeof(path), rel), JSON_ALLOW_NUL, &jerr);
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *c;
    size_t i;
    int failed = 0;
    if (!cases)
        fail_msg("%s: %s", path, jerr.text);
    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *got = NULL;
        glarex_error err;
        int want_error = json_is_true(json_object_get(c, "expected_error"));
        int rc = test_eval_case(&got, ev, "evaluate", json_object_get(c, "expr"),
                                json_object_get(c, "context"), &err);
        int ok = want_error ? rc < 0
                            : rc == 0 && test_same_result(got, json_object_get(c, "expected"));
        if (!ok) {
            char *g = rc == 0 ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
            printf("FAIL %s: %s\n", id, rc == 0 ? g : err.message);
            free(g);
            failed++;
        }
        json_decref(got);
    }
    glarex_eval_free(ev);
    json_decref(cases);
    assert_int_equal(failed, 0);
}

static void test_native__mistral_answers(void **state)
{
    (void)state;
    check_cases("tests/cases/native/cases.json");
}

/* yaml_parse gives what PyYAML's safe_load gives, natively or through the host. */
static void test_native__yaml_parse_is_pyyamls(void **state)
{
    (void)state;
    check_cases("tests/cases/native/yaml_parse.json");
}

/* A context of `n` hosts, the shape of the corpus' (tests/conformance). */
static json_t *hosts_context(int n)
{
    json_t *hosts = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:b, s:i, s:f}", "name", "h",
                                               "ip", "10.0.0.1", "up", i % 2, "cpus", i,
                                               "load", i / 7.0));
    return json_pack("{s:o}", "hosts", hosts);
}

/* Each of `texts` runs twice, on the corpus-shaped context of 4,000 hosts and its
 * JSON text, under a limit of a million instructions. */
static void check_million_instructions_do(const char *const *texts, size_t n)
{
    json_t *ctx = hosts_context(4000);
    char *text = json_dumps(json_object_get(ctx, "hosts"), 0);
    json_object_set_new(ctx, "text", json_string(text));
    free(text);
    for (size_t i = 0; i < n; i++) {
        glarex_eval *ev = test_new_eval(64, 5000, 1000000);
        for (int run = 0; run < 2; run++) {
            json_t *got = NULL;
            glarex_error err;
            if (glarex_eval_string(&got, ev, texts[i], ctx, &err) < 0)
                fail_msg("%s (run %d): %s", texts[i], run + 1, err.message);
            json_decref(got);
        }
        glarex_eval_free(ev);
    }
    json_decref(ctx);
}

/* json_dump, json_parse, yaml_dump and printed floats cost a few instructions per value, not
 * the Lua versions' tens (under this limit those stop). */
static void test_native__cost_a_few_instructions_per_value(void **state)
{
    static const char *const texts[] = {
        "<% len(json_dump($.hosts)) %>",
        "<% len(json_parse($.text)) %>",
        "{{ json_parse(_.text) | length }}",
        "{{ _.hosts | map(attribute='load') | list | string | length }}",
        "<% len(yaml_dump($.hosts)) %>",
        "{{ yaml_dump(_.hosts) | length }}",
    };
    (void)state;
    check_million_instructions_do(texts, sizeof(texts) / sizeof(texts[0]));
}

/* str() of lists and dicts costs a few instructions per value, where the count hook
 * is on as where it is off: under this limit the Lua version stops. */
static void test_native__repr_costs_a_few_instructions_per_value(void **state)
{
    static const char *const texts[] = {
        "{% for i in [1] %}{{ _.hosts | string | length }}{% endfor %}",
        "{% for i in [1] %}{{ [_.hosts, (1, _.hosts)] | string | length }}{% endfor %}",
        "<% let(h => $.hosts) -> range(1).select(len(str($h))) %>",
        "<% let(h => $.hosts, t => $.text) -> range(1).select(str([$h, json_parse($t)]).len()) %>",
        "<% len(str($.hosts)) %>",
        "n=<% $.hosts %>",
    };
    (void)state;
    check_million_instructions_do(texts, sizeof(texts) / sizeof(texts[0]));
}

/* yaml_parse reads natively, counted as the other native functions are: under an
 * instruction limit of 50,000 a document of three items passes, one of 100,000 does
 * not (the host's reader was not counted). */
static void test_native__yaml_parse_is_counted(void **state)
{
    json_t *l = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(l, json_string("xxxxxxxxxx"));
    char *text = json_dumps(l, 0);
    json_t *ctx = json_pack("{s:s, s:s}", "big", text, "small", "[a, b, c]");
    glarex_eval *ev = test_new_eval(64, 5000, 50000);
    json_t *got = NULL;
    glarex_error err;
    (void)state;
    free(text);
    json_decref(l);
    if (glarex_eval_string(&got, ev, "{{ yaml_parse(_.small) | length }}", ctx, &err) < 0)
        fail_msg("a small document: %s", err.message);
    assert_int_equal(json_integer_value(got), 3);
    json_decref(got);
    assert_int_equal(glarex_eval_string(&got, ev, "{{ yaml_parse(_.big) | length }}", ctx, &err),
                     GLAREX_EINSNLIMIT);
    glarex_eval_free(ev);
    json_decref(ctx);
}

/* env() and $__env cost what the expression reads of them, not the whole env: here
 * given as JSON on each call, an env of 200,000 members read for one, under a memory
 * limit that converting them all would pass. */
static void test_native__env_costs_what_is_read(void **state)
{
    static const char *const texts[] = {"<% env().region %>", "<% $__env.region %>",
                                        "<% env().get(region) %>", "<% env().d.x %>"};
    json_t *env = json_object();
    glarex_eval *ev = test_new_eval(16, 5000, 0);
    (void)state;
    for (int i = 0; i < 200000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "member-%d", i);
        json_object_set_new(env, key, json_pack("[s, i]", "some value", i));
    }
    json_object_set_new(env, "region", json_string("r1"));
    json_object_set_new(env, "d", json_pack("{s:s}", "x", "r1"));
    json_t *ctx = json_pack("{s:o}", "__env", env);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        for (int run = 0; run < 2; run++) {
            json_t *got = NULL;
            glarex_error err;
            if (glarex_eval_string(&got, ev, texts[i], ctx, &err) < 0)
                fail_msg("%s (run %d): %s", texts[i], run + 1, err.message);
            assert_string_equal(json_string_value(got), "r1");
            json_decref(got);
        }
    }
    glarex_eval_free(ev);
    json_decref(ctx);
}

/* `text` stops with `code` on its first run and again from the cache, in well under
 * a second each time on an idle machine (10 s allowed on a loaded one). */
static void check_stops(glarex_eval *ev, const char *text, int code)
{
    for (int run = 0; run < 2; run++) {
        json_t *got = NULL;
        glarex_error err;
        double t0 = test_now_s();
        int rc = glarex_eval_string(&got, ev, text, NULL, &err);
        double secs = test_now_s() - t0;
        if (rc != code)
            fail_msg("%s (run %d): status %d, not %d: %s", text, run + 1, rc, code,
                     rc < 0 ? err.message : "a value");
        if (secs > 10.0)
            fail_msg("%s (run %d): took %.2f s to stop", text, run + 1, secs);
    }
}

/* A million lists of a thousand: a small value whose text is gigabytes. */
#define HUGE_DUMP(f)                                                                    \
    "{% set l = ['xxxxxxxxxx'] * 1000 %}{% set m = [l] * 1000 %}{{ " f "([m] * 1000) "  \
    "| length }}"
#define HUGE_STR                                                                        \
    "{% set l = ['xxxxxxxxxx'] * 1000 %}{% set m = [l] * 1000 %}{{ ([m] * 1000) | string " \
    "| length }}"
#define HUGE_YAML "{{ yaml_parse('[' + '[1, 2.5, x, {a: null}], ' * 400000 + '1]') }}"
#define HUGE_PARSE "{{ json_parse('[' + '[1, 2.5, \"x\", {\"a\": null}],' * 400000 + '1]') }}"

static void test_native__memory_limit_stops_them(void **state)
{
    glarex_eval *ev = test_new_eval(16, 10000, 0);
    (void)state;
    check_stops(ev, HUGE_DUMP("json_dump"), GLAREX_EMEMLIMIT);
    check_stops(ev, HUGE_PARSE, GLAREX_EMEMLIMIT);
    check_stops(ev, HUGE_STR, GLAREX_EMEMLIMIT);
    check_stops(ev, HUGE_YAML, GLAREX_EMEMLIMIT);
    check_stops(ev, "{% set l = [1.0 / 3] * 1000 %}{{ json_dump([l] * 1000) }}",
                GLAREX_EMEMLIMIT);
    glarex_eval_free(ev);
}

static void test_native__deadline_stops_them(void **state)
{
    glarex_eval *ev = test_new_eval(256, 50, 0);
    (void)state;
    check_stops(ev, HUGE_DUMP("json_dump"), GLAREX_EDEADLINE);
    check_stops(ev, HUGE_PARSE, GLAREX_EDEADLINE);
    check_stops(ev, HUGE_STR, GLAREX_EDEADLINE);
    check_stops(ev, HUGE_YAML, GLAREX_EDEADLINE);
    glarex_eval_free(ev);
}

/* In YAQL json_dump, json_parse and str run without the count hook (Y.linear): a list
 * of 300,000 strings held 20 times, dumped and printed; its text parsed; a dump that
 * the native version leaves to the Lua one, of ints that need no allocation. */
#define HELD_20_TIMES "[$.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l, " \
                      "$.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l, $.l]"

static void check_yaql_stops(size_t memory_mib, long timeout_ms, int code)
{
    glarex_eval *ev = test_new_eval(memory_mib, timeout_ms, 0);
    json_t *l = json_array();
    glarex_error err;
    for (int i = 0; i < 300000; i++)
        json_array_append_new(l, json_string("xxxxxxxxxx"));
    json_t *n = json_array();
    for (int i = 0; i < 300000; i++)
        json_array_append_new(n, json_integer(i % 100));
    json_t *u = json_array();
    for (int i = 0; i < 300000; i++)
        json_array_append_new(u, json_string("\u00e9"));
    char *text = json_dumps(l, 0);
    json_t *ctx = json_pack("{s:o, s:s, s:o, s:o}", "l", l, "t", text, "n", n, "u", u);
    free(text);
    if (glarex_eval_bind(ev, ctx, &err) < 0)
        fail_msg("%s", err.message);
    check_stops(ev, "<% json_dump(" HELD_20_TIMES ") %>", code);
    check_stops(ev, "<% json_parse(json_dump(" HELD_20_TIMES ")) %>", code);
    check_stops(ev, "<% len(str(" HELD_20_TIMES ")) %>", code);
    check_stops(ev, "<% [yaml_parse($.t), yaml_parse($.t), yaml_parse($.t), yaml_parse($.t), "
                    "yaml_parse($.t), yaml_parse($.t), yaml_parse($.t), yaml_parse($.t)] %>",
                code);
    /* what the native dump leaves to the Lua one (a key that is not a string) */
    check_stops(ev, "<% json_dump([{1 => 2}, " HELD_20_TIMES ", $.n, $.n, $.n, $.n]) %>", code);
    if (code == GLAREX_EDEADLINE)
        check_stops(ev, "<% [json_parse($.t), json_parse($.t), json_parse($.t), "
                        "json_parse($.t), json_parse($.t), json_parse($.t)] %>", code);
    if (code == GLAREX_EDEADLINE) /* str() of text that is not ASCII: the Lua str_repr's */
        check_stops(ev, "<% len(str([$.u, $.u, $.u, $.u, $.u, $.u, $.u, $.u, $.u, $.u])) %>",
                    code);
    glarex_eval_free(ev);
    json_decref(ctx);
}

static void test_native__limits_hold_without_the_count_hook(void **state)
{
    (void)state;
    check_yaql_stops(48, 10000, GLAREX_EMEMLIMIT);
    check_yaql_stops(512, 50, GLAREX_EDEADLINE);
}

/* yaml_dump natively: a dict of `keys` keys 100 dicts deep, whose text (each key
 * indented by 200 blanks) is some twenty times what the dict holds. */
static void check_yaml_stops(size_t memory_mib, long timeout_ms, int keys, int code)
{
    glarex_eval *ev = test_new_eval(memory_mib, timeout_ms, 0);
    json_t *d = json_object();
    glarex_error err;
    for (int i = 0; i < keys; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(d, key, json_integer(i));
    }
    for (int i = 0; i < 100; i++)
        d = json_pack("{s:o}", "d", d);
    json_t *ctx = json_pack("{s:o}", "d", d);
    if (glarex_eval_bind(ev, ctx, &err) < 0)
        fail_msg("%s", err.message);
    check_stops(ev, "<% len(yaml_dump($.d)) %>", code);
    glarex_eval_free(ev);
    json_decref(ctx);
}

static void test_native__limits_stop_yaml_dump(void **state)
{
    (void)state;
    check_yaml_stops(24, 10000, 100000, GLAREX_EMEMLIMIT);
    check_yaml_stops(1024, 20, 400000, GLAREX_EDEADLINE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native__float_repr_is_pythons),
        cmocka_unit_test(test_native__mistral_answers),
        cmocka_unit_test(test_native__yaml_parse_is_pyyamls),
        cmocka_unit_test(test_native__cost_a_few_instructions_per_value),
        cmocka_unit_test(test_native__repr_costs_a_few_instructions_per_value),
        cmocka_unit_test(test_native__yaml_parse_is_counted),
        cmocka_unit_test(test_native__env_costs_what_is_read),
        cmocka_unit_test(test_native__memory_limit_stops_them),
        cmocka_unit_test(test_native__deadline_stops_them),
        cmocka_unit_test(test_native__limits_hold_without_the_count_hook),
        cmocka_unit_test(test_native__limits_stop_yaml_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
