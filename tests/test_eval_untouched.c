/*
 * What no expression needs is neither converted nor copied: evaluate_recursively
 * answers data with nothing to evaluate, or any data under an empty context, with the
 * data itself; the parts of a result that nothing changed are the caller's own values;
 * and a per-call context is converted only when a string is evaluated. What is
 * evaluated still meets every limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glarex.h"
#include "eval_case.h"

static json_t *load(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    return v;
}

/* A list nested `levels` deep: more than the conversion allows, so converting it fails. */
static json_t *too_deep(int levels)
{
    json_t *v = json_array();
    for (int i = 0; i < levels; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

/* The result of evaluate_recursively(data, context), given per call (bound when
 * `bound`), which must succeed. */
static json_t *recursive(glarex_eval *ev, const json_t *data, const json_t *context, int bound)
{
    json_t *got = NULL;
    glarex_error err;
    if (bound && glarex_eval_bind(ev, context, &err) < 0)
        fail_msg("bind: %s", err.message);
    if (glarex_eval_recursive(&got, ev, data, bound ? NULL : context, &err) < 0)
        fail_msg("%s context: %s", bound ? "bound" : "JSON", err.message);
    if (bound)
        assert_int_equal(glarex_eval_bind(ev, NULL, &err), 0);
    assert_non_null(got);
    return got;
}

/* Nothing to evaluate: the answer is the data itself, and the data is unchanged. */
static void test_untouched__data_without_expressions_is_answered_with_itself(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    const char *text = "{\"i\": 1, \"f\": 1.5, \"b\": true, \"n\": null, \"e\": \"\","
                       " \"l\": [\"100%> done\", \"{ not }\", \"<%\\n$.a %>\"], \"d\": {}}";
    json_t *data = load(text), *ctx = load("{\"a\": 1}");
    (void)state;

    for (int bound = 0; bound < 2; bound++) {
        json_t *got = recursive(ev, data, ctx, bound);
        assert_ptr_equal(got, data);
        json_decref(got);
    }
    json_t *again = load(text);
    assert_true(json_equal(again, data));
    json_decref(again);
    /* a lone value too */
    json_t *s = json_string("plain text"), *got = recursive(ev, s, ctx, 0);
    assert_ptr_equal(got, s);
    json_decref(got);
    json_decref(s);
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* Mistral evaluates nothing under a falsy context: the data itself comes back. */
static void test_untouched__empty_context_answers_with_the_data(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *data = load("{\"k\": \"<% 1 + 1 %>\", \"j\": \"{{ 1 + 1 }}\"}");
    const char *falsy[] = {"{}", "[]", "\"\"", "0", "0.0", "false", "null"};
    (void)state;

    for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++) {
        json_t *ctx = load(falsy[i]);
        for (int bound = 0; bound < 2; bound++) {
            json_t *got = recursive(ev, data, ctx, bound);
            assert_ptr_equal(got, data);
            json_decref(got);
        }
        json_decref(ctx);
    }
    json_t *s = json_string("<% 1 + 1 %>"), *empty = json_object(), *got;
    got = recursive(ev, s, empty, 0);
    assert_ptr_equal(got, s);
    json_decref(got);
    json_decref(s);
    json_decref(empty);
    json_decref(data);
    glarex_eval_free(ev);
}

/* What an evaluated string changes is new; its siblings are the caller's values. */
static void test_untouched__unchanged_parts_are_shared(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *data = load("{\"a\": {\"x\": [1, 2]}, \"b\": [\"<% $.v %>\", {\"c\": 3}],"
                        " \"z\": \"{{ _.v + 1 }}\"}");
    json_t *ctx = load("{\"v\": 41}"), *want = load("{\"a\": {\"x\": [1, 2]}, \"b\": [41,"
                                                    " {\"c\": 3}], \"z\": 42}");
    (void)state;

    for (int bound = 0; bound < 2; bound++) {
        json_t *got = recursive(ev, data, ctx, bound);
        assert_true(json_equal(got, want));
        assert_ptr_not_equal(got, data);
        assert_ptr_equal(json_object_get(got, "a"), json_object_get(data, "a"));
        json_t *b = json_object_get(got, "b"), *old_b = json_object_get(data, "b");
        assert_ptr_not_equal(b, old_b);
        assert_ptr_equal(json_array_get(b, 1), json_array_get(old_b, 1));
        /* the keys keep their order */
        const char *first = json_object_iter_key(json_object_iter(got));
        assert_string_equal(first, "a");
        json_decref(got);
    }
    /* the caller's data is unchanged */
    assert_string_equal(json_string_value(json_array_get(json_object_get(data, "b"), 0)),
                        "<% $.v %>");
    json_decref(want);
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* A per-call context is converted only when a string is evaluated: one that cannot be
 * converted fails the call that reads it, not one with nothing to evaluate. */
static void test_untouched__context_is_converted_only_for_an_expression(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *ctx = too_deep(300), *got = NULL;
    json_t *data = load("{\"i\": 1, \"l\": [\"plain\", \"100%> done\"]}");
    json_t *expr = load("[\"plain\", \"<% $ %>\"]");
    glarex_error err;
    (void)state;

    got = recursive(ev, data, ctx, 0);
    assert_ptr_equal(got, data);
    json_decref(got);
    assert_int_equal(glarex_eval_recursive(&got, ev, expr, ctx, &err), GLAREX_EEVAL);
    assert_null(got);
    assert_non_null(strstr(err.message, "nested deeper"));
    /* the evaluator is still sound */
    json_t *small = load("{\"a\": 2}"), *want = load("[\"plain\", {\"a\": 2}]");
    got = recursive(ev, expr, small, 0);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    json_decref(small);
    json_decref(expr);
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* Data nested too deep still fails, evaluated or not. */
static void test_untouched__deep_data_still_fails(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *data = too_deep(300), *ctx = load("{\"a\": 1}"), *got = NULL;
    glarex_error err;
    (void)state;

    assert_int_equal(glarex_eval_recursive(&got, ev, data, ctx, &err), GLAREX_EINVALID);
    assert_null(got);
    assert_non_null(strstr(err.message, "nested deeper"));
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untouched__data_without_expressions_is_answered_with_itself),
        cmocka_unit_test(test_untouched__empty_context_answers_with_the_data),
        cmocka_unit_test(test_untouched__unchanged_parts_are_shared),
        cmocka_unit_test(test_untouched__context_is_converted_only_for_an_expression),
        cmocka_unit_test(test_untouched__deep_data_still_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
