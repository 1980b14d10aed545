/* The evaluator the evaluator harnesses share, and the check that it still works. */
#include "fuzz_eval.h"

#include "fuzz_util.h"

#include <stdlib.h>

glarex_eval *fuzz_eval_new(const glarex_eval_options *opts)
{
    glarex_eval *ev = NULL;
    glarex_error err;
    if (glarex_eval_new(&ev, NULL, opts, &err) < 0)
        fuzz_fail(NULL, "glarex_eval_new: %s", err.message);
    return ev;
}

void fuzz_eval_expect(glarex_eval *ev, const char *text, const json_t *context,
                      const char *expected, const char *after)
{
    json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL);
    json_t *got = NULL;
    glarex_error err;

    if (!want)
        fuzz_fail(NULL, "bad expected value %s", expected);
    if (glarex_eval_string(&got, ev, text, context, &err) < 0)
        fuzz_fail(after, "the evaluator broke: %s now fails: %s", text, err.message);
    if (!json_equal(got, want)) {
        char *shown = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        fuzz_fail(after, "the evaluator broke: %s gives %s, not %s", text,
                  shown ? shown : "?", expected);
    }
    json_decref(got);
    json_decref(want);
}

void fuzz_eval_check_sane(glarex_eval *ev, const char *after)
{
    json_t *ctx = json_pack("{s:[i,i,i], s:{s:s, s:i}, s:[{s:s, s:b}, {s:s, s:b}]}", "l",
                            1, 2, 3, "d", "x", "y", "k", 3, "hosts", "name", "h1", "up",
                            1, "name", "h2", "up", 0);
    if (!ctx)
        abort();
    fuzz_eval_expect(ev, "<% $.l.select($ * 2) %>", ctx, "[2, 4, 6]", after);
    fuzz_eval_expect(ev, "<% $.hosts.where($.up).select($.name).join(',') %>", ctx,
                     "\"h1\"", after);
    fuzz_eval_expect(ev, "v=<% $.d %> <% range(3).sum() %>", ctx,
                     "\"v={'x': 'y', 'k': 3} 3\"", after);
    fuzz_eval_expect(ev,
                     "{{ _.hosts | selectattr('up') | map(attribute='name') | list }}",
                     ctx, "[\"h1\"]", after);
    fuzz_eval_expect(ev, "{% for i in _.l %}{{ i * 10 }},{% endfor %}{{ _.d.k }}", ctx,
                     "\"10,20,30,3\"", after);
    /* Long enough for the instruction hook to fire: a limit left set would show. */
    fuzz_eval_expect(ev, "<% range(5000).sum() %>", ctx, "12497500", after);
    json_decref(ctx);
}
