/*
 * Values that cross the C API as Mistral gives them: -0.0 keeps its sign in the JSON
 * result (Mistral's JSON dumps -0.0), and a nested format width is honoured, or
 * refused by the memory limit when the text it asks for does not fit, never ignored;
 * yaml_parse() reads YAML tags as Mistral does.
 * The case files (tests/lua/diff/inputs/numbers.txt, format_spec.txt) hold Mistral's
 * own answers for the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "glarex.h"

static glarex_eval *new_eval(size_t memory_mib)
{
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_eval *ev = NULL;
    glarex_error err;
    o.memory_limit = memory_mib << 20;
    if (glarex_eval_new(&ev, NULL, &o, &err) < 0)
        fail_msg("%s", err.message);
    return ev;
}

static json_t *eval_ok(glarex_eval *ev, const char *text)
{
    json_t *got = NULL;
    glarex_error err;
    if (glarex_eval_string(&got, ev, text, NULL, &err) < 0)
        fail_msg("%s: %s", text, err.message);
    return got;
}

static void test_values__negative_zero_keeps_its_sign(void **state)
{
    static const char *const exprs[] = {"<% round(-0.4) %>", "{{ -0.4 | round }}",
                                        "{{ 2.0 % -2 }}", "<% 0.0 mod -2 %>"};
    glarex_eval *ev = new_eval(16);
    (void)state;
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        json_t *got = eval_ok(ev, exprs[i]);
        char *text = json_dumps(got, JSON_ENCODE_ANY);
        if (!json_is_real(got) || json_real_value(got) != 0 || !signbit(json_real_value(got)))
            fail_msg("%s: got %s, want -0.0", exprs[i], text ? text : "?");
        assert_string_equal(text, "-0.0");
        free(text);
        json_decref(got);
    }
    glarex_eval_free(ev);
}

static void test_values__nested_format_width_is_honoured(void **state)
{
    glarex_eval *ev = new_eval(16);
    json_t *got = eval_ok(ev, "<% '{:{}}'.format(1, 1000).len() %>");
    (void)state;
    assert_true(json_is_integer(got));
    assert_int_equal(json_integer_value(got), 1000);
    json_decref(got);
    got = eval_ok(ev, "<% '{:>{}}'.format('x', 5) %>");
    assert_string_equal(json_string_value(got), "    x");
    json_decref(got);
    glarex_eval_free(ev);
}

/* 100 MB of padding under an 8 MiB limit: the limit stops it. */
static void test_values__nested_format_width_meets_the_memory_limit(void **state)
{
    static const char *const exprs[] = {"{{ '{:{}}'.format(1, 99999999) }}",
                                        "<% '{:{}}'.format(1, 99999999) %>",
                                        "{{ '{:0{},}'.format(1, 99999999) }}"};
    glarex_eval *ev = new_eval(8);
    (void)state;
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        json_t *got = NULL;
        glarex_error err;
        int rc = glarex_eval_string(&got, ev, exprs[i], NULL, &err);
        if (rc != GLAREX_EMEMLIMIT && rc != GLAREX_EINSNLIMIT)
            fail_msg("%s: status %d (%s), expected a limit", exprs[i], rc,
                     rc < 0 ? err.message : "a result");
        assert_null(got);
    }
    glarex_eval_free(ev);
}

/* yaml_parse() reads tags as Mistral's (yaml.safe_load) does. The expected values are
 * Mistral's own answers (mistral_oracle.py); NULL where Mistral fails or returns what
 * JSON cannot carry (a set). The Lua-only harness has a YAML subset without tags, so
 * these run here, through the real reader. */
static void test_values__yaml_parse_reads_tags_as_mistral(void **state)
{
    static const struct {
        const char *expr, *want;
    } cases[] = {
        {"<% yaml_parse('a: !!python/object/apply:os.system [\"id\"]') %>", NULL},
        {"<% yaml_parse('!!python/tuple [1, 2]') %>", NULL},
        {"<% yaml_parse('a: !!set {x}') %>", NULL},
        {"<% yaml_parse('a: !!str 12') %>", "{\"a\": \"12\"}"},
        {"<% yaml_parse('a: ! 12') %>", "{\"a\": 12}"},
        {"<% yaml_parse('a: !!int abc') %>", NULL},
        {"{{ yaml_parse('- !custom x') }}", NULL},
        {"{{ yaml_parse('a: !!map {b: !!int \"7\"}') }}", "{\"a\": {\"b\": 7}}"},
    };
    glarex_eval *ev = new_eval(16);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *got = NULL, *want = cases[i].want ? json_loads(cases[i].want, 0, NULL) : NULL;
        glarex_error err;
        int rc = glarex_eval_string(&got, ev, cases[i].expr, NULL, &err);
        if (want ? rc != 0 || !json_equal(got, want) : rc == 0)
            fail_msg("%s: status %d (%s)", cases[i].expr, rc, rc < 0 ? err.message : "a value");
        json_decref(got);
        json_decref(want);
    }
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values__negative_zero_keeps_its_sign),
        cmocka_unit_test(test_values__nested_format_width_is_honoured),
        cmocka_unit_test(test_values__nested_format_width_meets_the_memory_limit),
        cmocka_unit_test(test_values__yaml_parse_reads_tags_as_mistral),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
