/* The evaluator the evaluator harnesses share: one per process, kept across inputs. */
#ifndef GLAREX_FUZZ_EVAL_H
#define GLAREX_FUZZ_EVAL_H

#include "glarex.h"

/* A new evaluator with `opts` (aborts on failure). */
glarex_eval *fuzz_eval_new(const glarex_eval_options *opts);

/* Aborts unless `text` evaluates, against `context`, to the JSON value `expected`
 * (JSON text). `after` (may be NULL) names the input just run, for the report. */
void fuzz_eval_expect(glarex_eval *ev, const char *text, const json_t *context,
                      const char *expected, const char *after);

/* Aborts unless the evaluator still answers a fixed set of known-good templates,
 * YAQL and Jinja, right. `after` as for fuzz_eval_expect. */
void fuzz_eval_check_sane(glarex_eval *ev, const char *after);

#endif
