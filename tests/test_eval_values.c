/*
 * Values that cross the C API as Mistral gives them: -0.0 keeps its sign in the JSON
 * result (Mistral's JSON dumps -0.0), and a nested format width is honoured, or
 * refused by the memory limit when the text it asks for does not fit, never ignored.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values__negative_zero_keeps_its_sign),
        cmocka_unit_test(test_values__nested_format_width_is_honoured),
        cmocka_unit_test(test_values__nested_format_width_meets_the_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
