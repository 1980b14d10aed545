/*
 * The limits of Jinja's sort, dictsort and sum, which a bounded template runs without
 * the count hook: a sort of fewer than 64 numbers or short strings stays within a
 * constant bound and runs unhooked; every other sort, and a sum of anything but
 * numbers, turns the hook on first (lua/jinjalib.lua sort_by_keys, F.sum), so hostile
 * input is stopped by the instruction limit and the deadline, on the first run and
 * on the second from the compiled-template cache. Limits are set low so that each
 * case takes well under a second when the limit holds.
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

#define INSNS 200000 /* instructions per evaluation in these tests */

/* Binds `ctx` to `ev`: converted once, not charged to each evaluation. */
static void bind(glarex_eval *ev, json_t *ctx)
{
    glarex_error err;
    if (glarex_eval_bind(ev, ctx, &err) < 0)
        fail_msg("binding the context: %s", err.message);
    json_decref(ctx);
}

/* Evaluates `text` against the bound context (ctx NULL) or `ctx`; returns the status, the result in *got (or NULL)
 * and how long it took in *secs. */
static int eval_timed(glarex_eval *ev, const char *text, json_t *ctx, json_t **got,
                      double *secs)
{
    glarex_error err;
    double t0 = test_now_s();
    int rc = glarex_eval_string(got, ev, text, ctx, &err);
    *secs = test_now_s() - t0;
    if (rc < 0)
        *got = NULL;
    return rc;
}

/* `text` is stopped by `want` (a limit) on its first run and on its second. */
static void check_stopped_twice(glarex_eval *ev, const char *text, json_t *ctx, int want)
{
    for (int run = 1; run <= 2; run++) {
        json_t *got;
        double secs;
        int rc = eval_timed(ev, text, ctx, &got, &secs);
        json_decref(got);
        if (rc != want)
            fail_msg("run %d of %s: status %d, expected %d (%s)", run, text, rc, want,
                     glarex_strerror(want));
        if (secs > 3.0)
            fail_msg("run %d of %s: stopped only after %.1f s", run, text, secs);
    }
}

/* `text`, run from the compiled-template cache, gives `expected` (JSON text), twice.
 * The first run, which compiles it, counts all of its instructions. */
static void check_cached_value_twice(glarex_eval *ev, const char *text, json_t *ctx,
                                     const char *expected)
{
    json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL), *first;
    double secs;
    assert_non_null(want);
    eval_timed(ev, text, ctx, &first, &secs);
    json_decref(first);
    for (int run = 2; run <= 3; run++) {
        json_t *got;
        int rc = eval_timed(ev, text, ctx, &got, &secs);
        if (rc < 0)
            fail_msg("run %d of %s: status %d (%s)", run, text, rc, glarex_strerror(rc));
        if (!json_equal(got, want))
            fail_msg("run %d of %s: unexpected result", run, text);
        json_decref(got);
    }
    json_decref(want);
}

/* n integers, counting down from n - 1 */
static json_t *descending(int n)
{
    json_t *l = json_array();
    for (int i = n - 1; i >= 0; i--)
        json_array_append_new(l, json_integer(i));
    return l;
}

/* Long lists, dicts with many keys, long strings and nested keys are sorted counted. */
static void test_sort_limits__hostile_sorts_are_counted(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, INSNS);
    json_t *ctx = json_object(), *d = json_object(), *strs = json_array(),
           *nested = json_array();
    char *s = malloc(65537);
    (void)state;

    assert_non_null(s);
    json_object_set_new(ctx, "l", descending(20000));
    for (int i = 0; i < 20000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%05d", 20000 - i);
        json_object_set_new(d, k, json_integer(i));
    }
    json_object_set_new(ctx, "d", d);
    /* 40 strings of 64 KiB that differ only in their last byte: each comparison
     * walks the whole string */
    memset(s, 'a', 65536);
    s[65536] = '\0';
    for (int i = 0; i < 40; i++) {
        s[65535] = (char)('z' - i % 26);
        json_array_append_new(strs, json_string(s));
    }
    json_object_set_new(ctx, "s", strs);
    /* three lists of 30000 equal numbers but the last: keys compared item by item */
    for (int i = 0; i < 3; i++) {
        json_t *x = json_array();
        for (int j = 0; j < 30000; j++)
            json_array_append_new(x, json_integer(j == 29999 ? 3 - i : 0));
        json_array_append_new(nested, x);
    }
    json_object_set_new(ctx, "n", nested);

    bind(ev, ctx);
    check_stopped_twice(ev, "{{ _.l | sort | first }}", NULL, GLAREX_EINSNLIMIT);
    check_stopped_twice(ev, "{{ _.l | sort(true, false, none) | last }}", NULL,
                        GLAREX_EINSNLIMIT);
    check_stopped_twice(ev, "{{ _.d | dictsort | first }}", NULL, GLAREX_EINSNLIMIT);
    check_stopped_twice(ev, "{{ _.s | sort | first | length }}", NULL, GLAREX_EINSNLIMIT);
    check_stopped_twice(ev, "{{ _.n | sort | first | length }}", NULL, GLAREX_EINSNLIMIT);
    free(s);
    glarex_eval_free(ev);
}

/* sum adds numbers unhooked; a start or items that are not numbers (list
 * concatenation, quadratic in the items) are counted. */
static void test_sort_limits__sum_of_lists_is_counted(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, INSNS);
    json_t *ctx = json_object(), *lists = json_array();
    (void)state;

    for (int i = 0; i < 3000; i++)
        json_array_append_new(lists, descending(50));
    json_object_set_new(ctx, "ls", lists);
    json_object_set_new(ctx, "l", descending(20000));
    bind(ev, ctx);
    check_stopped_twice(ev, "{{ _.ls | sum(none, []) | length }}", NULL, GLAREX_EINSNLIMIT);
    /* 20000 numbers added: linear, within the memory limit that bounds the list */
    check_cached_value_twice(ev, "{{ _.l | sum }}", NULL, "199990000");
    glarex_eval_free(ev);
}

/* A sort of fewer than 64 numbers or short strings runs unhooked (its cost is bounded
 * by a constant) and gives its result under an instruction limit that compiling the
 * template fits in (the first run compiles it, counted) and sorting it, counted,
 * would exceed. */
static void test_sort_limits__small_sorts_run_unhooked(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 12000);
    json_t *ctx = json_object(), *w = json_array(), *d = json_object(), *l = json_array();
    (void)state;

    for (int i = 0; i < 63; i++) {
        int x = i * 37 % 63; /* 0..62 shuffled */
        char k[16];
        snprintf(k, sizeof(k), "w%02d", x);
        json_array_append_new(w, json_string(k));
        json_object_set_new(d, k, json_integer(x));
        json_array_append_new(l, json_integer(x));
    }
    json_object_set_new(ctx, "w", w);
    json_object_set_new(ctx, "d", d);
    json_object_set_new(ctx, "l", l);
    bind(ev, ctx);
    check_cached_value_twice(ev, "{{ _.w | sort | first }}", NULL, "\"w00\"");
    check_cached_value_twice(ev, "{{ _.w | sort(true) | first }}", NULL, "\"w62\"");
    check_cached_value_twice(ev, "{{ _.d | dictsort | last }}", NULL, "[\"w62\", 62]");
    check_cached_value_twice(ev, "{{ _.l | sort | last }}", NULL, "62");
    glarex_eval_free(ev);
}

/* The deadline stops a long counted sort when the instruction limit is high. */
static void test_sort_limits__deadline_stops_long_sorts(void **state)
{
    glarex_eval *ev = test_new_eval(128, 100, 1000000000000ULL);
    json_t *ctx = json_object(), *l = json_array();
    (void)state;

    /* alternating halves: no long runs to merge cheaply */
    for (int i = 0; i < 300000; i++)
        json_array_append_new(l, json_integer(i % 2 ? i : 300000 - i));
    json_object_set_new(ctx, "l", l);
    bind(ev, ctx);
    check_stopped_twice(ev, "{{ _.l | sort | first }}", NULL, GLAREX_EDEADLINE);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_limits__hostile_sorts_are_counted),
        cmocka_unit_test(test_sort_limits__sum_of_lists_is_counted),
        cmocka_unit_test(test_sort_limits__small_sorts_run_unhooked),
        cmocka_unit_test(test_sort_limits__deadline_stops_long_sorts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
