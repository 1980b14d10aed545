/*
 * The template compiler and evaluator: the input (up to a NUL byte) is validated and
 * evaluated as a Mistral expression string against a fixed context, and evaluated
 * recursively when it is a JSON document. One evaluator serves every input, and after
 * each one it must still evaluate known-good templates right: no input may leave it
 * broken (a full template cache, a stuck hook, a half-made state).
 */
#include "fuzz_eval.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

static glarex_eval *ev;

static void setup(void)
{
    glarex_eval_options opts = GLAREX_EVAL_OPTIONS_INIT;
    glarex_error err;
    json_t *ctx = json_loads(
        "{\"a\": 1, \"b\": 2, \"n\": null, \"t\": true, \"f\": 1.5, \"s\": \"hello\","
        " \"e\": \"\", \"l\": [1, 2, 3], \"d\": {\"x\": \"y\", \"k\": 3, \"n\": null},"
        " \"hosts\": [{\"name\": \"h1\", \"ip\": \"10.0.0.1\", \"up\": true, \"cpus\": "
        "2},"
        " {\"name\": \"h2\", \"ip\": \"10.0.0.2\", \"up\": false, \"cpus\": 4}],"
        " \"__env\": {\"region\": \"r1\"}}",
        0, NULL);

    /* Low limits keep every input fast; hitting one is a normal outcome. */
    opts.memory_limit = (size_t)16 << 20;
    opts.instruction_limit = 2000000;
    opts.timeout_ms = 2000;
    opts.template_cache = 64;
    ev = fuzz_eval_new(&opts);
    if (!ctx || glarex_eval_bind(ev, ctx, &err) < 0)
        fuzz_fail(NULL, "cannot bind the context");
    json_decref(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    json_t *out = NULL, *doc;
    glarex_error err;

    if (!ev)
        setup();
    glarex_eval_validate(ev, text, &err);
    if (glarex_eval_string(&out, ev, text, NULL, &err) == 0 && !out)
        fuzz_fail(text, "success without a value");
    json_decref(out);
    out = NULL;
    doc = json_loads(text, 0, NULL);
    if (doc && glarex_eval_recursive(&out, ev, doc, NULL, &err) == 0 && !out)
        fuzz_fail(text, "recursive success without a value");
    json_decref(out);
    json_decref(doc);
    fuzz_eval_check_sane(ev, text);
    free(text);
    return 0;
}
