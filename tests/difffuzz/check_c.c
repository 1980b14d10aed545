/*
 * check_c BATCH.json: check.lua's job through the C library instead of the Lua sources
 * alone: each case of a differential batch evaluated by one evaluator, the context given
 * as JSON on each call (as an engine holding its own data calls it), so that what only
 * the embedding adds (native json/yaml/str functions, templates run without the
 * instruction count, the lazy JSON context, the conversions both ways) meets the fuzzer
 * too. Prints one JSON line per case, {"id", "verdict", "glarex"}, with check.lua's
 * verdicts (tests/difffuzz/check.lua lists them).
 */
#include <glarex.h>

#include "eval_case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* far beyond any generated expression, as check.lua's budget */
#define INSTRUCTION_BUDGET 200000000ULL

static const char *verdict(int rc, const glarex_error *err, const json_t *got,
                           const json_t *oracle)
{
    int mistral_errs = json_object_get(oracle, "error") != NULL ||
                       json_object_get(oracle, "unrepresentable") != NULL;

    if (rc < 0) {
        if (err->code == GLAREX_EINSNLIMIT || err->code == GLAREX_EDEADLINE)
            return "timeout";
        if (strstr(err->message, "internal error"))
            return "internal";
        if (mistral_errs)
            return "agree";
        return err->code == GLAREX_EUNSUPPORTED ? "unsupported" : "error_for_value";
    }
    if (mistral_errs)
        return "value_for_error";
    return test_same_result(got, json_object_get(oracle, "result")) ? "agree" : "wrong_value";
}

int main(int argc, char **argv)
{
    glarex_eval_options o = GLAREX_EVAL_OPTIONS_INIT;
    glarex_eval *ev = NULL;
    glarex_error err;
    json_error_t jerr;
    json_t *batch, *c;
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: check_c BATCH.json\n");
        return 2;
    }
    batch = json_load_file(argv[1], 0, &jerr);
    if (!json_is_array(batch)) {
        fprintf(stderr, "%s: %s\n", argv[1], batch ? "not a list of cases" : jerr.text);
        return 1;
    }
    o.memory_limit = (size_t)1 << 30;
    o.timeout_ms = 60000;
    o.instruction_limit = INSTRUCTION_BUDGET;
    if (glarex_eval_new(&ev, NULL, &o, &err) < 0) {
        fprintf(stderr, "cannot make an evaluator: %s\n", err.message);
        return 1;
    }
    json_array_foreach(batch, i, c) {
        const char *mode = json_string_value(json_object_get(c, "mode"));
        json_t *context = json_object_get(c, "context");
        json_t *got = NULL, *line;
        char *text, *shown;
        int rc;

        if (!mode || !json_object_get(c, "expr") || !json_object_get(c, "oracle")) {
            fprintf(stderr, "%s: case %zu is malformed\n", argv[1], i);
            return 1;
        }
        if (!context || json_is_null(context))
            context = json_object();
        else
            json_incref(context);
        rc = test_eval_case(&got, ev, mode, json_object_get(c, "expr"), context, &err);
        json_decref(context);
        if (rc < 0) {
            size_t n = strlen(err.message) + 32;
            shown = malloc(n);
            if (shown)
                snprintf(shown, n, "%s: %s",
                         err.code == GLAREX_EUNSUPPORTED ? "unsupported" : "eval", err.message);
        } else {
            shown = json_dumps(got, JSON_ENCODE_ANY);
        }
        line = json_pack("{s:O, s:s, s:s}", "id", json_object_get(c, "id"), "verdict",
                         verdict(rc, &err, got, json_object_get(c, "oracle")), "glarex",
                         shown ? shown : "?");
        text = json_dumps(line, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        puts(text);
        free(text);
        free(shown);
        json_decref(line);
        json_decref(got);
    }
    glarex_eval_free(ev);
    json_decref(batch);
    return 0;
}
