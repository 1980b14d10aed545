/* Test helper: one case of a Mistral corpus (tests/conformance, tests/lua/diff). */
#ifndef GLAREX_TEST_EVAL_CASE_H
#define GLAREX_TEST_EVAL_CASE_H

#include <glarex.h>

/* Evaluates `expr` against `context` as Mistral would for `mode`: "recursive" is
 * evaluate_recursively(), anything else evaluate(), which returns what is not a
 * string unchanged. `got` receives the result (new). Returns 0 or a glarex_status. */
int test_eval_case(json_t **got, glarex_eval *ev, const char *mode, const json_t *expr,
                   const json_t *context, glarex_error *err);

/* Whether two results are the same JSON value, as json_equal() but telling -0.0 from
 * 0.0. */
int test_same_result(const json_t *a, const json_t *b);

/* A new evaluator with these limits (`insns` 0: the default instruction limit); the
 * test stops with the message if it cannot be made. */
glarex_eval *test_new_eval(size_t memory_mib, long timeout_ms, unsigned long long insns);

/* The monotonic clock, in seconds. */
double test_now_s(void);

#endif
