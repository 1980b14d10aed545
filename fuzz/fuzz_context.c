/*
 * The JSON context reader: the input is read as the command line reads --context
 * (jansson, any JSON value) and converted by glarex_eval_bind and by a call given the
 * context directly. A context the evaluator accepts must come back unchanged from
 * `<% $ %>` and `{{ _ }}`, and the evaluator must keep working afterwards.
 */
#include "fuzz_eval.h"
#include "fuzz_util.h"

#include <stdlib.h>

static glarex_eval *ev;

static void expect_same(const char *text, const json_t *context, const json_t *bound)
{
    json_t *out = NULL;
    glarex_error err;

    if (glarex_eval_string(&out, ev, text, context, &err) < 0)
        return; /* e.g. nested deeper than the evaluator allows */
    if (!json_equal(out, bound)) {
        char *in = json_dumps(bound, JSON_ENCODE_ANY | JSON_COMPACT);
        char *got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
        fuzz_fail(in, "%s gives back %s", text, got ? got : "?");
    }
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *ctx = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    glarex_error err;

    if (!ev) {
        glarex_eval_options opts = GLAREX_EVAL_OPTIONS_INIT;
        opts.memory_limit = (size_t)16 << 20;
        opts.timeout_ms = 2000;
        ev = fuzz_eval_new(&opts);
    }
    if (!ctx)
        return 0;
    if (glarex_eval_bind(ev, ctx, &err) == 0) {
        expect_same("<% $ %>", NULL, ctx);
        expect_same("{{ _ }}", NULL, ctx);
    }
    expect_same("<% $ %>", ctx, ctx);
    glarex_eval_bind(ev, NULL, &err);
    fuzz_eval_check_sane(ev, NULL);
    json_decref(ctx);
    return 0;
}
