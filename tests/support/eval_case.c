/* Test helper: one case of a Mistral corpus; see eval_case.h. */
#include "eval_case.h"

#include <string.h>

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
