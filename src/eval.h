/* Internal interface of the evaluator's C half (src/eval.c). */
#ifndef GLAREX_EVAL_H
#define GLAREX_EVAL_H

#include "glarex.h"

/* Milliseconds left before the running evaluation's deadline (the whole timeout when
 * no evaluation runs). Fetches made for glare() are bounded by it. */
long glarex__eval_remaining_ms(glarex_eval *ev);

#endif
