/*
 * A context given as JSON on each call is converted as the expression reads it: a call
 * costs what the expression reads, not what the context holds; results are those of
 * the same context bound once, also when a Jinja method changes a dict of the context;
 * and the limits hold on what is read, on the first run and from the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glarex.h"

static glarex_eval *new_eval(size_t memory_kib)
{
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_eval *ev = NULL;
    glarex_error err;
    o.memory_limit = memory_kib << 10;
    o.timeout_ms = 5000;
    if (glarex_eval_new(&ev, NULL, &o, &err) < 0)
        fail_msg("%s", err.message);
    return ev;
}

/* {"x": 42, "hosts": [n hosts], "d": {...}} */
static json_t *big_context(int n)
{
    json_t *hosts = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:b}", "name", "a-host-name",
                                               "ip", "10.0.0.1", "up", i % 2));
    return json_pack("{s:i, s:o, s:{s:s, s:i, s:n}}", "x", 42, "hosts", hosts, "d", "x", "y",
                     "k", 3, "n");
}

/* The context holds far more than the memory limit; what the expression reads fits. */
static void test_context__a_call_costs_what_it_reads(void **state)
{
    glarex_eval *ev = new_eval(8192); /* 8 MiB; the hosts would take about 40 */
    json_t *ctx = big_context(200000), *got = NULL;
    glarex_error err;
    (void)state;

    for (int run = 0; run < 2; run++) {
        if (glarex_eval_string(&got, ev, "<% $.x %>", ctx, &err) < 0)
            fail_msg("run %d: %s", run, err.message);
        assert_int_equal(json_integer_value(got), 42);
        json_decref(got);
        if (glarex_eval_string(&got, ev, "{{ _.d.k + 1 }}", ctx, &err) < 0)
            fail_msg("run %d: %s", run, err.message);
        assert_int_equal(json_integer_value(got), 4);
        json_decref(got);
        /* reading every host is held to the limit */
        assert_int_equal(glarex_eval_string(&got, ev, "<% $.hosts.select($.name) %>", ctx, &err),
                         GLAREX_EMEMLIMIT);
        assert_null(got);
    }
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* Each expression gives the same value with the context bound and given per call. */
static void check_same(glarex_eval *ev, const char *text, const char *context,
                       const char *expected)
{
    json_t *ctx = json_loads(context, 0, NULL), *want = json_loads(expected, JSON_DECODE_ANY, NULL);
    json_t *got = NULL;
    glarex_error err;
    assert_non_null(ctx);
    assert_non_null(want);
    for (int bound = 0; bound < 2; bound++) {
        if (bound && glarex_eval_bind(ev, ctx, &err) < 0)
            fail_msg("%s", err.message);
        if (glarex_eval_string(&got, ev, text, bound ? NULL : ctx, &err) < 0)
            fail_msg("%s (%s context): %s", text, bound ? "bound" : "JSON", err.message);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY);
            fail_msg("%s (%s context): got %s, expected %s", text, bound ? "bound" : "JSON", g,
                     expected);
        }
        json_decref(got);
        /* the caller's JSON is never changed */
        json_t *again = json_loads(context, 0, NULL);
        assert_true(json_equal(again, ctx));
        json_decref(again);
    }
    assert_int_equal(glarex_eval_bind(ev, NULL, &err), 0);
    json_decref(ctx);
    json_decref(want);
}

static void test_context__same_results_as_bound(void **state)
{
    glarex_eval *ev = new_eval(65536);
    const char *d = "{\"d\": {\"x\": \"y\", \"k\": 3, \"n\": null}, \"e\": {},"
                    " \"l\": [{\"a\": 1}, {\"a\": 2, \"b\": {\"c\": [3]}}]}";
    (void)state;

    check_same(ev, "<% $ %>", d,
               "{\"d\": {\"x\": \"y\", \"k\": 3, \"n\": null}, \"e\": {},"
               " \"l\": [{\"a\": 1}, {\"a\": 2, \"b\": {\"c\": [3]}}]}");
    check_same(ev, "<% $.d.keys().join(',') %>", d, "\"x,k,n\"");
    check_same(ev, "<% $.d.get(missing) %>", d, "null");
    check_same(ev, "<% $.l[1].b.c[0] %>", d, "3");
    check_same(ev, "<% $.e %>", d, "{}");
    check_same(ev, "{{ _.l | map(attribute='a') | list }}", d, "[1, 2]");
    check_same(ev, "{{ _.d | dictsort }}", d, "[[\"k\", 3], [\"n\", null], [\"x\", \"y\"]]");
    /* Jinja's mutating methods change the dict in place, as in Python: a member read
     * (converted) and then removed stays removed; an added one comes last */
    check_same(ev, "{{ [_.d.x, _.d.pop('x'), _.d] }}", d,
               "[\"y\", \"y\", {\"k\": 3, \"n\": null}]");
    check_same(ev, "{{ [_.d.pop('k'), _.d.keys() | list] }}", d, "[3, [\"x\", \"n\"]]");
    check_same(ev, "{{ [_.d.x, _.d.pop('x'), 'x' in _.d, _.d.get('x')] }}", d,
               "[\"y\", \"y\", false, null]");
    check_same(ev, "{{ [_.d.setdefault('z', 1), _.d] }}", d,
               "[1, {\"x\": \"y\", \"k\": 3, \"n\": null, \"z\": 1}]");
    check_same(ev, "{{ [_.d.update({'k': 4}), _.d.k, _.d] }}", d,
               "[null, 4, {\"x\": \"y\", \"k\": 4, \"n\": null}]");
    check_same(ev, "{{ [_.d.popitem(), _.d] }}", d, "[[\"n\", null], {\"x\": \"y\", \"k\": 3}]");
    check_same(ev, "{{ _.d.copy() }}", d, "{\"x\": \"y\", \"k\": 3, \"n\": null}");
    glarex_eval_free(ev);
}

/* A context nested deeper than the conversion allows fails where it is read. */
static void test_context__deep_values_fail_where_read(void **state)
{
    glarex_eval *ev = new_eval(65536);
    json_t *deep = json_array(), *ctx, *got = NULL;
    glarex_error err;
    (void)state;
    for (int i = 0; i < 300; i++)
        deep = json_pack("{s:o}", "a", deep);
    ctx = json_pack("{s:i, s:o}", "x", 1, "deep", deep);
    assert_int_equal(glarex_eval_string(&got, ev, "<% $.x %>", ctx, &err), 0);
    json_decref(got);
    assert_int_not_equal(glarex_eval_string(&got, ev, "<% $.deep %>", ctx, &err), 0);
    assert_null(got);
    assert_non_null(strstr(err.message, "nested deeper"));
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* evaluate_recursively with a per-call context: every string reads the same one. */
static void test_context__recursive_reads_it_lazily(void **state)
{
    glarex_eval *ev = new_eval(8192);
    json_t *ctx = big_context(200000), *got = NULL;
    json_t *data = json_pack("{s:s, s:[s, s]}", "a", "<% $.x %>", "b", "{{ _.d.k }}", "c");
    glarex_error err;
    (void)state;
    if (glarex_eval_recursive(&got, ev, data, ctx, &err) < 0)
        fail_msg("%s", err.message);
    json_t *want = json_pack("{s:i, s:[i, s]}", "a", 42, "b", 3, "c");
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context__a_call_costs_what_it_reads),
        cmocka_unit_test(test_context__same_results_as_bound),
        cmocka_unit_test(test_context__deep_values_fail_where_read),
        cmocka_unit_test(test_context__recursive_reads_it_lazily),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
