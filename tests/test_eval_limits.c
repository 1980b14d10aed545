/*
 * The evaluation limits (memory, instructions, deadline) on every path: the
 * conversion of a result that holds a value many times, bounded templates run a
 * second time from the compiled-template cache, the cache under memory pressure,
 * and deep nesting or values that hold themselves. Limits are set low so that each
 * case takes well under a second when the limit holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glarex.h"
#include "eval_case.h"

#define LIMIT_ERROR(rc) \
    ((rc) == GLAREX_EMEMLIMIT || (rc) == GLAREX_EINSNLIMIT || (rc) == GLAREX_EDEADLINE)

/* Evaluates `text` against `context` (JSON text); returns the status, the message in
 * msg, and how long it took in *secs. */
static int eval_status(glarex_eval *ev, const char *text, const char *context, char *msg,
                       size_t msg_size, double *secs)
{
    json_t *ctx = context ? json_loads(context, 0, NULL) : NULL;
    json_t *got = NULL;
    glarex_error err;
    double t0 = test_now_s();
    int rc = glarex_eval_string(&got, ev, text, ctx, &err);

    if (secs)
        *secs = test_now_s() - t0;
    snprintf(msg, msg_size, "%s", rc < 0 ? err.message : "");
    assert_true(rc < 0 ? got == NULL : got != NULL);
    json_decref(got);
    json_decref(ctx);
    return rc;
}

static void check_value(glarex_eval *ev, const char *text, const char *context,
                        const char *expected)
{
    json_t *ctx = context ? json_loads(context, 0, NULL) : NULL;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL);
    json_t *got = NULL;
    glarex_error err;

    if (glarex_eval_string(&got, ev, text, ctx, &err) < 0)
        fail_msg("%s: %s", text, err.message);
    if (!json_equal(got, want))
        fail_msg("%s: unexpected result", text);
    json_decref(got);
    json_decref(want);
    json_decref(ctx);
}

/* A limit stops `text` on its first run and again on its second, from the cache. */
static void check_stopped_twice(glarex_eval *ev, const char *text, const char *context)
{
    char msg[600];
    double secs;
    for (int run = 1; run <= 2; run++) {
        int rc = eval_status(ev, text, context, msg, sizeof(msg), &secs);
        if (!LIMIT_ERROR(rc))
            fail_msg("run %d of %.60s...: status %d (%s), expected a limit", run, text, rc,
                     msg);
        if (secs > 3.0)
            fail_msg("run %d of %.60s...: stopped only after %.1f s", run, text, secs);
    }
}

/* "{{ [s, s, ...] }}": the JSON result holds one copy of the string per reference. */
static void test_limits__shared_values_are_charged_per_copy(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    char msg[600];
    double secs;
    (void)state;

    /* 100 copies of 1 MB: 100 MB of JSON from 1 MB of Lua strings */
    assert_int_equal(eval_status(ev, "{{ ['x' * 1000000] * 100 }}", NULL, msg, sizeof(msg),
                                 &secs),
                     GLAREX_EMEMLIMIT);
    assert_non_null(strstr(msg, "each copy"));
    assert_true(secs < 2.0);
    assert_int_equal(eval_status(ev, "<% let(s => 'x' * 1000000) -> $.l.select($s) %>",
                                 "{\"l\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}", msg, sizeof(msg),
                                 NULL),
                     GLAREX_EMEMLIMIT);
    /* within the limit, shared values are copied as before */
    check_value(ev, "{{ ['ab'] * 3 }}", NULL, "[\"ab\", \"ab\", \"ab\"]");
    check_value(ev, "{{ (['x' * 1000000] * 5) | length }}", NULL, "5");
    glarex_eval_free(ev);
}

/* The Lua state's values and their JSON copy exist at once: together they stay within
 * the limit (each was once allowed the whole limit: twice the limit at the peak). */
static void test_limits__lua_values_and_their_json_share_the_limit(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    char msg[600];
    (void)state;

    /* 60,000 copies: about 7.5 MB of JSON beside about 1 MB of Lua list */
    assert_int_equal(eval_status(ev, "<% let(x => 'y' * 54) -> range(60000).select($x) %>",
                                 NULL, msg, sizeof(msg), NULL),
                     GLAREX_EMEMLIMIT);
    /* garbage of earlier work does not count against a result that fits */
    assert_int_equal(eval_status(ev, "<% range(200000).select(str($)).len() %>", NULL, msg,
                                 sizeof(msg), NULL),
                     0);
    assert_int_equal(eval_status(ev, "<% let(x => 'y' * 54) -> range(30000).select($x) %>",
                                 NULL, msg, sizeof(msg), NULL),
                     0);
    glarex_eval_free(ev);
}

/* evaluate_recursively: the whole result is held to the limit, not each string. */
static void test_limits__recursive_result_is_charged_as_a_whole(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    json_t *data = json_array(), *ctx = json_pack("{s:i}", "n", 1000000), *got = NULL;
    glarex_error err;
    (void)state;

    for (int i = 0; i < 20; i++) /* 20 results of 1 MB each */
        json_array_append_new(data, json_string("{{ 'x' * _.n }}"));
    assert_int_equal(glarex_eval_recursive(&got, ev, data, ctx, &err), GLAREX_EMEMLIMIT);
    assert_null(got);
    assert_non_null(strstr(err.message, "memory limit"));
    json_array_clear(data);
    for (int i = 0; i < 5; i++)
        json_array_append_new(data, json_string("{{ 'x' * _.n }}"));
    assert_int_equal(glarex_eval_recursive(&got, ev, data, ctx, &err), 0);
    assert_int_equal(json_array_size(got), 5);
    json_decref(got);
    json_decref(data);
    json_decref(ctx);
    glarex_eval_free(ev);
}

static int count_args(json_t **out, const json_t *args, const json_t *kwargs, void *payload,
                      glarex_error *err)
{
    (void)kwargs;
    (void)err;
    ++*(int *)payload;
    *out = json_integer((json_int_t)json_array_size(args));
    return 0;
}

/* The arguments of a registered function are converted to JSON under the same budget. */
static void test_limits__host_function_arguments_are_charged(void **state)
{
    glarex_eval *ev = test_new_eval(8, 5000, 0);
    glarex_error err;
    char msg[600];
    int calls = 0;
    (void)state;

    assert_int_equal(glarex_eval_register(ev, "count", count_args, &calls, &err), 0);
    assert_int_equal(eval_status(ev, "<% count($.l.select([$, $, $, $]).select([$, $, $, $])"
                                     ".select([$, $, $, $]).select([$, $, $, $])"
                                     ".select([$, $, $, $]).select([$, $, $, $])"
                                     ".select([$, $, $, $]).select([$, $, $, $])"
                                     ".select([$, $, $, $]).select([$, $, $, $])) %>",
                                 "{\"l\": [1, 2, 3]}", msg, sizeof(msg), NULL),
                     GLAREX_EMEMLIMIT);
    assert_non_null(strstr(msg, "each copy"));
    assert_int_equal(calls, 0);
    check_value(ev, "<% count(1, 2) %>", NULL, "2");
    assert_int_equal(calls, 1);
    glarex_eval_free(ev);
}

/* 11 chained selects: 3 * 4^11 numbers as JSON from a few hundred Lua tables. */
static const char select_chain[] =
    "<% $.l.select([$,$,$,$]).select([$,$,$,$]).select([$,$,$,$]).select([$,$,$,$])"
    ".select([$,$,$,$]).select([$,$,$,$]).select([$,$,$,$]).select([$,$,$,$])"
    ".select([$,$,$,$]).select([$,$,$,$]).select([$,$,$,$]) %>";

/* Bounded templates run without the count hook; from the cache they must still stop. */
static void test_limits__bounded_templates_stop_on_the_second_run(void **state)
{
    glarex_eval *ev = test_new_eval(8, 1000, 0);
    json_t *big = json_array();
    char *ctx;
    (void)state;

    check_stopped_twice(ev, select_chain, "{\"l\": [1, 2, 3]}");

    /* one context list of 50,000 numbers, referenced many times by each construct */
    for (int i = 0; i < 50000; i++)
        json_array_append_new(big, json_integer(i));
    json_t *doc = json_pack("{s:o, s:[{s:O}, {s:O}, {s:O}, {s:O}, {s:O}, {s:O}]}", "x", big,
                            "l", "a", big, "a", big, "a", big, "a", big, "a", big, "a", big);
    ctx = json_dumps(doc, 0);
    json_decref(doc);
    /* YAQL: list literal, select over the item, where keeping items, member access,
     * and/or, a host function's result */
    check_stopped_twice(ev,
                        "<% [[$.x, $.x, $.x, $.x], [$.x, $.x, $.x, $.x], [$.x, $.x, $.x, "
                        "$.x]] %>",
                        ctx);
    check_stopped_twice(ev, "<% $.l.select([$.a, $.a, $.a, $.a]) %>", ctx);
    check_stopped_twice(ev, "<% $.l.where($.a).select([$.a, $.a, $.a, $.a, $.a]) %>", ctx);
    check_stopped_twice(ev, "<% [$.x and $.x, $.x or $.x, $.l[0].a, $.l[1]['a'], [$.x, $.x]] %>",
                        ctx);
    check_stopped_twice(ev, "<% [$.x, $.x] %> and <% [$.x, $.x] %>", ctx);
    /* Jinja: list literal, attribute and item lookup, map(attribute=), list, if */
    check_stopped_twice(ev, "{{ [_.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x] }}", ctx);
    check_stopped_twice(ev, "{{ [_.l[0].a, _.l[1]['a'], _['x'], _.x, _.x, _.x] }}", ctx);
    check_stopped_twice(ev, "{{ _.l | map(attribute='a') | list }}", ctx);
    check_stopped_twice(ev, "{% if _.x %}{{ [_.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x, "
                            "_.x, _.x] }}{% endif %}",
                        ctx);
    check_stopped_twice(ev, "x {{ [_.x, _.x, _.x, _.x, _.x, _.x] }}", ctx);
    /* Jinja tests that look at a value once or compare it with a constant scalar */
    check_stopped_twice(ev, "{{ [_.x is defined, _.x, _.x, _.x, _.x, _.x, _.x] }}", ctx);
    check_stopped_twice(ev, "{{ [_.x, _.x, _.x, _.x, _.x, _.x] if _.x is ne(1) else 0 }}", ctx);
    free(ctx);
    check_value(ev, "<% $.l.select([$, $]) %>", "{\"l\": [1]}", "[[1, 1]]");
    glarex_eval_free(ev);
}

/* Without the count hook, a walk that takes longer than the deadline is stopped at
 * the deadline, though it fits the memory limit. */
static void test_limits__bounded_templates_meet_the_deadline(void **state)
{
    glarex_eval *ev = test_new_eval(1024, 100, 0);
    json_t *big = json_array(), *doc;
    char *ctx, msg[600];
    double secs;
    (void)state;

    for (int i = 0; i < 100000; i++)
        json_array_append_new(big, json_integer(i));
    doc = json_pack("{s:o}", "x", big);
    ctx = json_dumps(doc, 0);
    json_decref(doc);
    for (int run = 0; run < 2; run++) {
        /* the walk before the conversion (finalize) */
        assert_int_equal(eval_status(ev,
                                     "<% [$.x, $.x, $.x, $.x, $.x, $.x, $.x, $.x].select([$, "
                                     "$, $, $, $, $, $, $]).select([$, $, $, $, $, $, $, $]) "
                                     "%>",
                                     ctx, msg, sizeof(msg), &secs),
                         GLAREX_EDEADLINE);
        assert_true(secs < 1.0);
        /* rendering into text, which allocates as it goes */
        assert_int_equal(eval_status(ev,
                                     "x {{ [[_.x, _.x, _.x, _.x, _.x, _.x, _.x, _.x]] * 8 }}",
                                     ctx, msg, sizeof(msg), &secs),
                         GLAREX_EDEADLINE);
        assert_true(secs < 1.0);
    }
    free(ctx);
    glarex_eval_free(ev);
}

/* "[$.x, $.x, ...]" in YAQL or "[_.x, _.x, ...]" in Jinja: `n` references to x. */
static void refs(char *buf, size_t size, const char *x, int n)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", x);
    if (len < size)
        snprintf(buf + len, size - len, "]");
}

/* Linear filters, functions and methods run without the count hook as well (lua/
 * jinjalib.lua L.linear_filters, lua/yaqllib.lua Y.linear); whatever they make is held
 * by the limits, first from the compiler and then from the cache. */
static void test_limits__linear_filters_stop_on_the_second_run(void **state)
{
    glarex_eval *ev = test_new_eval(8, 1000, 0);
    json_t *big = json_array();
    char *ctx, jx[400], yx[400], text[1000];
    (void)state;

    for (int i = 0; i < 50000; i++)
        json_array_append_new(big, json_integer(i));
    json_t *doc = json_pack("{s:o, s:[{s:O}, {s:O}, {s:O}, {s:O}, {s:O}, {s:O}], s:s#}", "x",
                            big, "l", "a", big, "a", big, "a", big, "a", big, "a", big, "a",
                            big, "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", (int)100);
    ctx = json_dumps(doc, 0);
    json_decref(doc);
    refs(jx, sizeof(jx), "_.x", 16);
    refs(yx, sizeof(yx), "$.x", 16);

    /* Jinja: text of shared values made larger (string, upper, join, replace,
     * center), generators kept (selectattr, select, map of a filter) */
    snprintf(text, sizeof(text), "{{ %s | string | upper }}", jx);
    check_stopped_twice(ev, text, ctx);
    snprintf(text, sizeof(text), "{{ %s | join(',') | length }}", jx);
    check_stopped_twice(ev, text, ctx);
    snprintf(text, sizeof(text), "{{ %s | map('string') | list }}", jx);
    check_stopped_twice(ev, text, ctx);
    check_stopped_twice(ev, "{{ _.s | replace('a', _.s) | replace('a', _.s) | replace('a', _.s) }}",
                        ctx);
    check_stopped_twice(ev, "{{ _.s | center(100000000) | length }}", ctx);
    check_stopped_twice(ev, "{{ _.l | selectattr('a') | list }}", ctx);
    check_stopped_twice(ev, "{{ _.l | selectattr('a', 'ne', 1) | list }}", ctx);
    check_stopped_twice(ev, "{{ _.l | sort(attribute='a', reverse=true) | list }}", ctx);
    check_stopped_twice(ev, "{{ _.l | map(attribute='a') | select | list | reverse | list }}",
                        ctx);
    check_stopped_twice(ev, "{{ _.l | map(attribute='a') | first | string | lower }}x{{ "
                            "_.l | map(attribute='a') | list }}",
                        ctx);
    /* YAQL: str() and its text made larger, select over linear methods */
    snprintf(text, sizeof(text), "<%% str(%s).toUpper().toLower() %%>", yx);
    check_stopped_twice(ev, text, ctx);
    snprintf(text, sizeof(text), "<%% %s.select(str($)) %%>", yx);
    check_stopped_twice(ev, text, ctx);
    check_stopped_twice(ev, "<% $.l.select($.a).select([$, $, $]) %>", ctx);
    free(ctx);
    check_value(ev, "{{ _.s | upper | length }}", "{\"s\": \"ab\"}", "2");
    check_value(ev, "<% $.l.select($.toUpper()).first() %>", "{\"l\": [\"ab\"]}", "\"AB\"");
    glarex_eval_free(ev);
}

/* Operators, literals and the functions run without the count hook since they were
 * proven linear (lua/yaql.lua and lua/jinja.lua `bounded`, lua/yaqllib.lua Y.linear):
 * what they make is held by the limits on the first run and from the cache. */
static void test_limits__bounded_operators_stop_on_the_second_run(void **state)
{
    glarex_eval *ev = test_new_eval(8, 1000, 0);
    json_t *big = json_array();
    char *ctx;
    (void)state;

    for (int i = 0; i < 50000; i++)
        json_array_append_new(big, json_integer(i));
    json_t *doc = json_pack("{s:o, s:[{s:O}, {s:O}, {s:O}], s:s, s:i}", "x", big, "l", "a",
                            big, "a", big, "a", big, "s", "abcdefghij", "n", 1);
    ctx = json_dumps(doc, 0);
    json_decref(doc);
    /* YAQL: + of lists and dicts, * by a constant, a map literal, comparisons with a
     * constant inside where(), not and unary minus, get, format, concat, int */
    check_stopped_twice(ev, "<% [$.x + $.x + $.x + $.x, $.x + $.x + $.x + $.x] %>", ctx);
    check_stopped_twice(ev, "<% {a => $.x} + {b => $.x + $.x} + {c => $.x * 2} + {d => $.x} %>",
                        ctx);
    check_stopped_twice(ev, "<% $.x * 100 %>", ctx);
    check_stopped_twice(ev, "<% $.s * 10000000 %>", ctx);
    check_stopped_twice(ev, "<% $.l.where($.a != null and not $.a = 2).select([$.a, $.a, "
                            "$.a, $.a]) %>",
                        ctx);
    check_stopped_twice(ev, "<% [-$.n, $.l[0].get('a') + $.l[1].get('a', 1) + $.x + $.x + "
                            "$.x + $.x + $.x + $.x] %>",
                        ctx);
    check_stopped_twice(ev, "<% '{0:>100000000}'.format($.s) %>", ctx);
    check_stopped_twice(ev, "<% format('{0}{0}', $.s * 5000000) %>", ctx);
    check_stopped_twice(ev, "<% concat($.x, $.x, $.x, $.x, $.x, $.x, $.x, $.x, $.x) %>", ctx);
    check_stopped_twice(ev, "<% int($.s * 10000000) %>", ctx);
    check_stopped_twice(ev, "<% let(a => $.x + $.x, b => $.x) -> [$a + $a + $b, $a + $a + $b] %>",
                        ctx);
    /* Jinja: + - * ~ % and comparisons with a constant */
    check_stopped_twice(ev, "{{ [_.x + _.x + _.x + _.x, _.x + _.x + _.x + _.x] }}", ctx);
    check_stopped_twice(ev, "{{ _.x * 100 if _.n == 1 else -_.n }}", ctx);
    check_stopped_twice(ev, "{{ _.s ~ _.x ~ _.x ~ _.x ~ _.x ~ _.x ~ _.x ~ _.x ~ _.x }}", ctx);
    check_stopped_twice(ev, "{{ '%100000000s' % _.s }}", ctx);
    check_stopped_twice(ev, "{{ _.s * 10000000 if not _.n != 1 else 1 }}", ctx);
    free(ctx);
    check_value(ev, "<% {a => 1} + {a => 2, b => 3} %>", NULL, "{\"a\": 2, \"b\": 3}");
    check_value(ev, "<% [1, 2] * 2 %>", NULL, "[1, 2, 1, 2]");
    check_value(ev, "{{ '%s-%d' % ('a', 2) ~ '!' }}", NULL, "\"a-2!\"");
    glarex_eval_free(ev);
}

/* A repetition written in the template runs without the count hook: a large one is
 * stopped at the deadline though it fits the memory limit. */
static void test_limits__repetition_meets_the_deadline(void **state)
{
    glarex_eval *ev = test_new_eval(2048, 100, 0);
    char msg[600];
    double secs;
    (void)state;

    for (int run = 0; run < 2; run++) {
        assert_int_equal(eval_status(ev, "<% len([1] * 100000000) %>", NULL, msg,
                                     sizeof(msg), &secs),
                         GLAREX_EDEADLINE);
        assert_true(secs < 1.0);
        assert_int_equal(eval_status(ev, "{{ ([1] * 100000000) | length }}", NULL, msg,
                                     sizeof(msg), &secs),
                         GLAREX_EDEADLINE);
        assert_true(secs < 1.0);
        /* nothing to repeat: no time at all */
        check_value(ev, "<% [] * 1000000000000 %>", NULL, "[]");
    }
    glarex_eval_free(ev);
}

/* Distinct templates fill the compiled-template cache; valid ones must keep working. */
static void test_limits__template_cache_gives_way_under_memory_pressure(void **state)
{
    glarex_eval *ev = test_new_eval(4, 5000, 0);
    char text[2048], msg[600];
    int failed = 0;
    (void)state;

    for (int i = 0; i < 300; i++) {
        int n = snprintf(text, sizeof(text), "<%% $.a %%> %d", i);
        for (int k = 0; k < 20; k++)
            n += snprintf(text + n, sizeof(text) - (size_t)n, " <%% $.a + %d %%>", k);
        if (eval_status(ev, text, "{\"a\": 1}", msg, sizeof(msg), NULL) < 0)
            failed++;
    }
    assert_int_equal(failed, 0);
    /* an evaluation that needs half the limit still fits */
    check_value(ev, "<% len('x' * 1500000) %>", NULL, "1500000");
    glarex_eval_free(ev);
}

static size_t append(char *buf, size_t at, const char *text)
{
    size_t len = strlen(text);
    memcpy(buf + at, text, len + 1);
    return at + len;
}

/* The template `open` x n, `middle`, `close` x n, in YAQL or Jinja delimiters. */
static char *nested(const char *lang, const char *open, const char *middle, const char *close,
                    int n)
{
    size_t size = 16 + (strlen(open) + strlen(close)) * (size_t)n + strlen(middle), at;
    char *s = malloc(size);
    int yaql = strcmp(lang, "yaql") == 0;
    if (!s)
        abort();
    at = append(s, 0, yaql ? "<% " : "{{ ");
    for (int i = 0; i < n; i++)
        at = append(s, at, open);
    at = append(s, at, middle);
    for (int i = 0; i < n; i++)
        at = append(s, at, close);
    append(s, at, yaql ? " %>" : " }}");
    return s;
}

static void check_nesting(glarex_eval *ev, const char *lang, const char *open,
                          const char *middle, const char *close, int n, int ok)
{
    char *text = nested(lang, open, middle, close, n), msg[600];
    int rc = eval_status(ev, text, "{\"a\": 1}", msg, sizeof(msg), NULL);
    if (ok && rc == GLAREX_ESYNTAX)
        fail_msg("%s %d x '%s': %s", lang, n, open, msg);
    if (!ok && (rc != GLAREX_ESYNTAX || !strstr(msg, "nested deeper than 50 levels")))
        fail_msg("%s %d x '%s': status %d (%s), expected ESYNTAX naming the nesting", lang, n,
                 open, rc, msg);
    free(text);
}

static void test_limits__deep_nesting_is_a_syntax_error(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    static const char *const cases[][4] = {
        /* lang, open, middle, close */
        {"yaql", "[", "", "]"},         {"jinja", "[", "", "]"},
        {"yaql", "(", "1", ")"},        {"jinja", "(", "1", ")"},
        {"yaql", "-", "1", ""},         {"jinja", "-", "1", ""},
        {"yaql", "not ", "1", ""},      {"jinja", "not ", "1", ""},
        {"yaql", "{a=>", "1", "}"},     {"jinja", "{'a':", "1", "}"},
        {"yaql", "abs(", "1", ")"},     {"jinja", "", "1", "|abs"},
        {"yaql", "", "$", ".a"},        {"jinja", "", "_", ".a"},
        {"yaql", "", "1", "+1"},        {"jinja", "", "1", "+1"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *c = cases[i];
        check_nesting(ev, c[0], c[1], c[2], c[3], 45, 1);
        check_nesting(ev, c[0], c[1], c[2], c[3], 60, 0);
        check_nesting(ev, c[0], c[1], c[2], c[3], 2000, 0);
    }
    /* 100,000 levels */
    check_nesting(ev, "yaql", "[", "", "]", 100000, 0);
    check_nesting(ev, "jinja", "[", "", "]", 100000, 0);
    check_nesting(ev, "jinja", "-", "1", "", 100000, 0);
    check_value(ev, "<% $.a %>", "{\"a\": 1}", "1");
    glarex_eval_free(ev);
}

static void test_limits__deep_blocks_and_long_templates(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    char msg[600];
    size_t n = 0;
    char *text = malloc(20000 * 24);
    (void)state;
    if (!text)
        abort();

    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(text + n, "{%% if 1 %%}");
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(text + n, "{%% endif %%}");
    assert_int_equal(eval_status(ev, text, NULL, msg, sizeof(msg), NULL), GLAREX_ESYNTAX);
    assert_non_null(strstr(msg, "nested deeper than 50 levels"));
    /* past what one compiled Lua function can hold: said so, not an internal error */
    n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(text + n, "{%% set a%d = %d %%}", i, i);
    assert_int_equal(eval_status(ev, text, NULL, msg, sizeof(msg), NULL), GLAREX_EUNSUPPORTED);
    assert_non_null(strstr(msg, "too complex to compile"));
    free(text);
    glarex_eval_free(ev);
}

static void test_limits__values_that_hold_themselves(void **state)
{
    glarex_eval *ev = test_new_eval(64, 5000, 0);
    static const char *const cases[] = {
        "{% set l = [] %}{% set x = l.append(l) %}{{ l }}",
        "{% set l = [] %}{% set x = l.append(l) %}x {{ l }}",
        "{% set l = [] %}{% set x = l.append(l) %}{{ l | tojson }}",
        "{% set l = [] %}{% set x = l.append(l) %}{{ l | string }}",
        "{% set d = {} %}{% set x = d.update({'a': d}) %}{{ d }}",
        "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}"
        "{% endfor %}{{ ns.x }}",
    };
    char msg[600];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = eval_status(ev, cases[i], NULL, msg, sizeof(msg), NULL);
        if (rc != GLAREX_EEVAL || !strstr(msg, "contains itself"))
            fail_msg("%s: status %d (%s)", cases[i], rc, msg);
    }
    check_value(ev, "{% set l = [] %}{% set x = l.append(l) %}{{ l | length }}", NULL, "\"1\"");
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits__shared_values_are_charged_per_copy),
        cmocka_unit_test(test_limits__lua_values_and_their_json_share_the_limit),
        cmocka_unit_test(test_limits__recursive_result_is_charged_as_a_whole),
        cmocka_unit_test(test_limits__host_function_arguments_are_charged),
        cmocka_unit_test(test_limits__bounded_templates_stop_on_the_second_run),
        cmocka_unit_test(test_limits__bounded_templates_meet_the_deadline),
        cmocka_unit_test(test_limits__linear_filters_stop_on_the_second_run),
        cmocka_unit_test(test_limits__bounded_operators_stop_on_the_second_run),
        cmocka_unit_test(test_limits__repetition_meets_the_deadline),
        cmocka_unit_test(test_limits__template_cache_gives_way_under_memory_pressure),
        cmocka_unit_test(test_limits__deep_nesting_is_a_syntax_error),
        cmocka_unit_test(test_limits__deep_blocks_and_long_templates),
        cmocka_unit_test(test_limits__values_that_hold_themselves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
