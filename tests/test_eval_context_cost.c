/*
 * A context given as JSON on each call costs what the expression reads: counted in the
 * Lua state's allocations (every one goes through realloc, wrapped here), a context
 * nothing reads costs one table, a member read costs the dicts on its path, and a
 * variable ($__env, env()) is converted once, from the JSON. Its values are those of the
 * same context bound once, and its limits hold where it is read.
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

void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

static long allocations; /* blocks allocated or grown */

void *__wrap_realloc(void *ptr, size_t size)
{
    if (size)
        allocations++;
    return __real_realloc(ptr, size);
}

static json_t *load(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    return v;
}

/* The allocations of one warm evaluation of `text` with `context` (NULL: bound). */
static long cost(glarex_eval *ev, const char *text, const json_t *context)
{
    json_t *got = NULL;
    glarex_error err;
    long n = 0;
    for (int run = 0; run < 3; run++) { /* compiled, caches and stacks grown */
        allocations = 0;
        if (glarex_eval_string(&got, ev, text, context, &err) < 0)
            fail_msg("%s: %s", text, err.message);
        n = allocations;
        json_decref(got);
    }
    return n;
}

/* What a per-call context adds to the evaluation of `text` over the same context bound. */
static long cost_of_context(const char *text, const json_t *context)
{
    glarex_eval *json = test_new_eval(64, 5000, 0), *bound = test_new_eval(64, 5000, 0);
    glarex_error err;
    if (glarex_eval_bind(bound, context, &err) < 0)
        fail_msg("%s", err.message);
    long extra = cost(json, text, context) - cost(bound, text, NULL);
    glarex_eval_free(json);
    glarex_eval_free(bound);
    return extra;
}

/* {"a": {"b": {"c": 1, ...n more}, ...n more}, ...n more} */
static json_t *wide_context(int n)
{
    json_t *c = json_pack("{s:i}", "c", 1), *b = json_pack("{s:o}", "b", c);
    json_t *top = json_pack("{s:o, s:{s:s, s:[i, [i]], s:{s:i}}}", "a", b, "__env", "region",
                            "r1", "l", 1, 2, "d", "x", 1);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(c, key, json_integer(i));
        json_object_set_new(b, key, json_pack("{s:i}", "v", i));
        json_object_set_new(top, key, json_pack("[i, s]", i, "text"));
    }
    return top;
}

/* Nothing read: the context costs the one table standing for it. */
static void test_cost__a_context_nothing_reads_costs_one_table(void **state)
{
    json_t *ctx = wide_context(1000);
    (void)state;
    assert_in_range(cost_of_context("<% True %>", ctx), 0, 2);
    assert_in_range(cost_of_context("{{ 'x' ~ 1 }}", ctx), 0, 2);
    json_decref(ctx);
}

/* A member read: the dicts on its path and their maps, not the siblings. */
static void test_cost__a_member_read_costs_its_path(void **state)
{
    json_t *ctx = wide_context(1000);
    (void)state;
    assert_in_range(cost_of_context("<% $.a.b.c %>", ctx), 0, 16);
    assert_in_range(cost_of_context("{{ _.a.b.c }}", ctx), 0, 16);
    json_decref(ctx);
}

/* A variable is converted from the JSON, member by member, once. */
static void test_cost__a_variable_is_converted_from_the_json(void **state)
{
    json_t *ctx = wide_context(1000);
    (void)state;
    assert_in_range(cost_of_context("<% env().region %>", ctx), 0, 8);
    assert_in_range(cost_of_context("<% $__env.d.x %>", ctx), 0, 12);
    json_decref(ctx);
}

/* Variables read from a per-call context are those of the context bound: lists are
 * Python lists, dicts keep their order, whatever was read before; errors are the same. */
static void test_cost__variables_are_those_of_the_bound_context(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    json_t *ctx = load("{\"__env\": {\"region\": \"r1\", \"l\": [1, [2, {\"q\": [3]}]],"
                       " \"d\": {\"x\": 1, \"y\": [true, null]}, \"e\": {}, \"s\": \"\"},"
                       " \"__execution\": {\"id\": \"e1\", \"params\": {\"p\": [1]}},"
                       " \"l\": [1, 2], \"d\": {\"z\": 2}}");
    const char *exprs[] = {
        "<% env() %>", "<% $__env %>", "<% str(env()) %>", "<% str($__env.l) %>",
        "<% $__env.l + [3] %>", "<% env().l[1][1].q %>", "<% str(env().l[1]) %>",
        "<% env().d.keys().join(',') %>", "<% env().d.values().len() %>", "<% env().d.y %>",
        "<% [env().d.x, env(), $.__env.l, str($.__env.l)] %>", "<% $__env.e %>",
        "<% $__env.s %>", "<% $__execution.params.p %>", "<% $__execution %>",
        "<% $.keys().join(',') %>", "<% [$.keys().join(','), $__env.region, str($__env.l)] %>",
        "<% $__task_execution %>", "<% env().get(missing, 5) %>", "<% len(env()) %>",
        "<% env().d.items().select($[0]).join(',') %>", "<% $__env.l.len() %>", "<% json_dump(env()) %>",
        "{{ env() }}", "{{ env().l }}", "{{ env().l[1][1] | list }}",
    };
    glarex_error err;
    (void)state;

    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        json_t *got[2] = {NULL, NULL};
        char why[2][sizeof err.message];
        int rc[2];
        for (int bound = 0; bound < 2; bound++) {
            if (bound && glarex_eval_bind(ev, ctx, &err) < 0)
                fail_msg("%s", err.message);
            rc[bound] = glarex_eval_string(&got[bound], ev, exprs[i], bound ? NULL : ctx, &err);
            snprintf(why[bound], sizeof why[bound], "%s", rc[bound] < 0 ? err.message : "");
            assert_int_equal(glarex_eval_bind(ev, NULL, &err), 0);
        }
        if (rc[0] != rc[1] || strcmp(why[0], why[1]) != 0 ||
            (rc[0] == 0 && !json_equal(got[0], got[1]))) {
            char *j = json_dumps(got[0], JSON_ENCODE_ANY), *b = json_dumps(got[1], JSON_ENCODE_ANY);
            fail_msg("%s: JSON context %s%s, bound %s%s", exprs[i], j ? j : "", why[0],
                     b ? b : "", why[1]);
        }
        json_decref(got[0]);
        json_decref(got[1]);
    }
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* A variable read whole is held to the memory limit; one nested too deep fails where it
 * is read; the rest of the same context is read at its own cost. */
static void test_cost__limits_hold_on_variables(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    json_t *big = json_array(), *deep = json_array(), *got = NULL;
    glarex_error err;
    (void)state;
    for (int i = 0; i < 200000; i++) /* about 40 MiB converted, against 8 */
        json_array_append_new(big, json_pack("{s:s, s:i}", "name", "a-host-name", "i", i));
    for (int i = 0; i < 300; i++)
        deep = json_pack("{s:o}", "a", deep);
    json_t *ctx = json_pack("{s:{s:o, s:o, s:s}}", "__env", "big", big, "deep", deep, "x", "y");

    for (int run = 0; run < 2; run++) { /* compiled, then from the cache */
        assert_int_equal(glarex_eval_string(&got, ev, "<% env().big %>", ctx, &err),
                         GLAREX_EMEMLIMIT);
        assert_null(got);
        assert_int_equal(glarex_eval_string(&got, ev, "<% $__env.big.len() %>", ctx, &err),
                         GLAREX_EMEMLIMIT);
        assert_int_not_equal(glarex_eval_string(&got, ev, "<% str(env().deep) %>", ctx, &err),
                             0);
        assert_null(got);
        assert_non_null(strstr(err.message, "nested deeper"));
        if (glarex_eval_string(&got, ev, "<% env().x %>", ctx, &err) < 0)
            fail_msg("run %d: %s", run, err.message);
        assert_string_equal(json_string_value(got), "y");
        json_decref(got);
    }
    json_decref(ctx);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost__a_context_nothing_reads_costs_one_table),
        cmocka_unit_test(test_cost__a_member_read_costs_its_path),
        cmocka_unit_test(test_cost__a_variable_is_converted_from_the_json),
        cmocka_unit_test(test_cost__variables_are_those_of_the_bound_context),
        cmocka_unit_test(test_cost__limits_hold_on_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
