/*
 * Runs every case of the Mistral conformance corpus (tests/conformance/public.json,
 * results produced by real Mistral) through the evaluator, with glare() served by a
 * real local store holding "content-of:<name>:<version>:<resource>" for each resource
 * the cases name. Prints the pass rate per category; any failure fails the test.
 */
#include <glarex.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_case.h"
#include "server.h"

/* The artifacts the glare cases refer to: name, version, resource keys. */
static const struct {
    const char *name, *version;
    const char *keys[6];
} artifacts[] = {
    {"my_wf", "1.0", {"a.sh", "heal_vm_script.sh", "main.sh", "pre.sh", "x.sh", NULL}},
    {"my_wf", "2.1", {"x.sh", NULL}},
    {"wf", "1.0", {"a", "b", "body.sh", "x", NULL}},
};

static int populate(const char *store_url)
{
    for (size_t i = 0; i < sizeof(artifacts) / sizeof(artifacts[0]); i++) {
        char contents[6][256];
        test_resource res[6];
        size_t n = 0;
        for (; artifacts[i].keys[n]; n++) {
            snprintf(contents[n], sizeof(contents[n]), "content-of:%s:%s:%s",
                     artifacts[i].name, artifacts[i].version, artifacts[i].keys[n]);
            res[n].key = artifacts[i].keys[n];
            res[n].data = contents[n];
            res[n].size = strlen(contents[n]);
        }
        if (test_store_artifact(NULL, store_url, NULL, artifacts[i].name, artifacts[i].version,
                                res, n, 1) < 0)
            return -1;
    }
    return 0;
}

typedef struct tally {
    char category[64];
    int passed, failed;
} tally;

static tally *tally_for(tally *t, size_t *n, const char *category)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(t[i].category, category) == 0)
            return &t[i];
    snprintf(t[*n].category, sizeof(t[*n].category), "%s", category);
    return &t[(*n)++];
}

int main(int argc, char **argv)
{
    char dir[256], path[1024], store_url[300], cache[300];
    const char *src = getenv("GLAREX_TEST_SOURCE_DIR");
    json_error_t jerr;
    json_t *cases, *c;
    glarex_ctx_options co = GLAREX_CTX_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_eval *ev = NULL;
    glarex_error err;
    tally tallies[32];
    size_t ntallies = 0, i;
    int passed = 0, failed = 0, verbose = argc > 1 && strcmp(argv[1], "-v") == 0;

    memset(tallies, 0, sizeof(tallies));
    snprintf(path, sizeof(path), "%s/tests/conformance/public.json", src ? src : ".");
    cases = json_load_file(path, 0, &jerr);
    if (!cases) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return 1;
    }
    if (test_mkdtemp(dir, sizeof(dir), "conformance") < 0)
        return 1;
    snprintf(store_url, sizeof(store_url), "file://%s/store", dir);
    snprintf(cache, sizeof(cache), "%s/cache", dir);
    if (populate(store_url) < 0)
        return 1;
    co.store.url = store_url;
    co.cache_dir = cache;
    if (glarex_ctx_new(&ctx, &co, &err) < 0 || glarex_eval_new(&ev, ctx, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }

    json_array_foreach(cases, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *mode = json_string_value(json_object_get(c, "mode"));
        json_t *expr = json_object_get(c, "expr");
        json_t *context = json_object_get(c, "context");
        json_t *expected = json_object_get(c, "expected");
        int want_error = json_is_true(json_object_get(c, "expected_error"));
        json_t *got = NULL;
        int rc, ok;

        rc = test_eval_case(&got, ev, mode, expr, context, &err);

        ok = want_error ? rc < 0 : rc == 0 && test_same_result(got, expected);
        tally *t = tally_for(tallies, &ntallies, json_string_value(json_object_get(c, "category")));
        if (ok) {
            passed++;
            t->passed++;
        } else {
            char *e = json_dumps(expr, JSON_ENCODE_ANY);
            char *w = want_error ? strdup("an error") : json_dumps(expected, JSON_ENCODE_ANY);
            char *g = rc < 0 ? NULL : json_dumps(got, JSON_ENCODE_ANY);
            failed++;
            t->failed++;
            printf("FAIL %s: %s\n  expected %s\n  got      %s\n", id, e, w,
                   rc < 0 ? err.message : g);
            free(e);
            free(w);
            free(g);
        }
        if (verbose && ok)
            printf("ok   %s\n", id);
        json_decref(got);
    }

    printf("\n%-20s %7s %7s\n", "category", "passed", "failed");
    for (i = 0; i < ntallies; i++)
        printf("%-20s %7d %7d\n", tallies[i].category, tallies[i].passed, tallies[i].failed);
    printf("\nconformance: %d passed, %d failed\n", passed, failed);

    glarex_eval_free(ev);
    glarex_ctx_free(ctx);
    json_decref(cases);
    test_rm_rf(dir);
    return failed == 0 ? 0 : 1;
}
