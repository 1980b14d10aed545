/* Internal interface of the evaluator's C half (src/eval.c). */
#ifndef GLAREX_EVAL_H
#define GLAREX_EVAL_H

#include "glarex.h"

/* Milliseconds left before the running evaluation's deadline (the whole timeout when
 * no evaluation runs). Fetches made for glare() are bounded by it. */
long glarex__eval_remaining_ms(glarex_eval *ev);

/* Runs raw Lua `source` in the evaluator's sandboxed state, under the same limits as
 * an evaluation, with the state's (stripped) global table as its environment. For the
 * sandbox tests: it shows what code that escaped the compiler could reach. */
int glarex__eval_run_lua(json_t **out, glarex_eval *ev, const char *source,
                         glarex_error *err);

#endif
