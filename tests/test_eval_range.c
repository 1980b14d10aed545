/*
 * range() of integers written in the template, of at most 65,536 items, runs without
 * the count hook (lua/yaql.lua `const_range`): the template pays no hook, and the
 * limits still hold on that path, on the first run and from the compiled-template
 * cache. Limits are set low so that each case takes well under a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_case.h"
#include "glarex.h"

/* Evaluates `text`; returns the status, the message in msg, the seconds it took. */
static int status_of(glarex_eval *ev, const char *text, char *msg, size_t msg_size,
                     double *secs)
{
    json_t *got = NULL;
    glarex_error err;
    double t0 = test_now_s();
    int rc = glarex_eval_string(&got, ev, text, NULL, &err);
    *secs = test_now_s() - t0;
    snprintf(msg, msg_size, "%s", rc < 0 ? err.message : "");
    json_decref(got);
    return rc;
}

/* Each template twice: compiled, then from the cache. */
static void expect_twice(glarex_eval *ev, const char *text, int want)
{
    char msg[600];
    double secs;
    for (int run = 0; run < 2; run++) {
        int rc = status_of(ev, text, msg, sizeof(msg), &secs);
        if (rc != want)
            fail_msg("%.80s (run %d): status %d, not %d: %s", text, run + 1, rc, want, msg);
        if (secs > 2.0)
            fail_msg("%.80s (run %d): %.2f s", text, run + 1, secs);
    }
}

/* Compiles `text` (compiling is always counted), then runs it twice from the cache. */
static void expect_cached_twice(glarex_eval *ev, const char *text, int want)
{
    glarex_error err;
    if (glarex_eval_validate(ev, text, &err) < 0)
        fail_msg("%s: %s", text, err.message);
    expect_twice(ev, text, want);
}

/* A million instructions of looping over range(50000) fit an instruction limit of
 * 100,000: nothing counts them. A range of a number that is not written in the
 * template, of more than 65,536 items, or inside a lambda, is counted as before. */
static void test_range__of_constants_runs_without_the_count_hook(void **state)
{
    glarex_eval *ev = test_new_eval(16, 5000, 100000);
    (void)state;
    expect_cached_twice(ev, "<% range(50000).where($ = 999999) %>", 0);
    expect_cached_twice(ev, "<% range(10, 100010, 2).select([$]).len() %>", 0);
    expect_cached_twice(ev, "<% let(n => 50000) -> range($n).where($ = 999999) %>",
                        GLAREX_EINSNLIMIT);
    expect_cached_twice(ev, "<% range(65537).where($ = 999999) %>", GLAREX_EINSNLIMIT);
    expect_cached_twice(ev, "<% range(5).select(range(50000).where($ = 999999)) %>",
                        GLAREX_EINSNLIMIT);
    glarex_eval_free(ev);
}

/* Many such ranges in one template, each iterated without allocating: the iterators
 * ask for the deadline every 4096 items, all ranges together. */
static void test_range__of_constants_meets_the_deadline(void **state)
{
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof(text), "%s", "<% [");
    glarex_eval *ev = test_new_eval(64, 50, 0);
    (void)state;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%srange(65536).where($ = 999999)",
                                i ? ", " : "");
    snprintf(text + len, sizeof(text) - len, "] %%>");
    expect_twice(ev, text, GLAREX_EDEADLINE);
    glarex_eval_free(ev);
}

/* What is built from a range of constants is held by the memory limit. */
static void test_range__of_constants_meets_the_memory_limit(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    (void)state;
    expect_twice(ev, "<% range(65536).select(str($) * 1000) %>", GLAREX_EMEMLIMIT);
    expect_twice(ev, "<% range(65536).select([$, $, $, $]).select([$, $, $, $]) %>",
                 GLAREX_EMEMLIMIT);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range__of_constants_runs_without_the_count_hook),
        cmocka_unit_test(test_range__of_constants_meets_the_deadline),
        cmocka_unit_test(test_range__of_constants_meets_the_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
