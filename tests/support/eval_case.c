/* Test helper: one case of a Mistral corpus; see eval_case.h. */
#include "eval_case.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int test_eval_case(json_t **got, glarex_eval *ev, const char *mode, const json_t *expr,
                   const json_t *context, glarex_error *err)
{
    *got = NULL;
    if (strcmp(mode, "recursive") == 0)
        return glarex_eval_recursive(got, ev, expr, context, err);
    if (json_is_string(expr))
        return glarex_eval_string(got, ev, json_string_value(expr), context, err);
    *got = json_deep_copy(expr);
    return *got ? 0 : GLAREX_ENOMEM;
}

int test_same_result(const json_t *a, const json_t *b)
{
    size_t i;
    const char *key;
    const json_t *v;

    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_REAL:
        /* -0.0 == 0.0, but Mistral's JSON carries the sign */
        return json_real_value(a) == json_real_value(b) &&
               signbit(json_real_value(a)) == signbit(json_real_value(b));
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        json_array_foreach(a, i, v) {
            if (!test_same_result(v, json_array_get(b, i)))
                return 0;
        }
        return 1;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, key, v) {
            const json_t *w = json_object_get(b, key);
            if (!w || !test_same_result(v, w))
                return 0;
        }
        return 1;
    default:
        return json_equal(a, b);
    }
}

glarex_eval *test_new_eval(size_t memory_mib, long timeout_ms, unsigned long long insns)
{
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_eval *ev = NULL;
    glarex_error err;

    o.memory_limit = memory_mib << 20;
    o.timeout_ms = timeout_ms;
    if (insns)
        o.instruction_limit = insns;
    if (glarex_eval_new(&ev, NULL, &o, &err) < 0) {
        fprintf(stderr, "cannot make an evaluator: %s\n", err.message);
        abort();
    }
    return ev;
}

double test_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
