/* glarex-bench groups eval_corpus and eval_growth: the evaluator against Mistral's own on
 * every case of the public conformance corpus that Mistral answers, and on a lookup and
 * a select over contexts of growing size. Both sides run the same expression on the same
 * context, in-process and warm, their runs alternating (bench_eval_run in eval.c). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The artifacts the corpus' glare() cases name; each resource holds
 * "content-of:<name>:<version>:<resource>", as in tests/test_conformance.c. */
static const struct {
    const char *name, *version;
    const char *keys[6];
} ARTIFACTS[] = {
    {"my_wf", "1.0", {"a.sh", "heal_vm_script.sh", "main.sh", "pre.sh", "x.sh", NULL}},
    {"my_wf", "2.1", {"x.sh", NULL}},
    {"wf", "1.0", {"a", "b", "body.sh", "x", NULL}},
};
#define NARTIFACTS (sizeof(ARTIFACTS) / sizeof(ARTIFACTS[0]))

/* A directory store under the scratch directory holding ARTIFACTS, and glarex's
 * context on it; `content` receives what Mistral's glare() plugin function returns for
 * the same names. Returns 0, or -1 with `why` filled. */
static int corpus_store(glarex_ctx **gctx, json_t *content, const bench_cfg *cfg, char *why,
                        size_t why_size)
{
    char url[400], cache[300];
    glarex_error err;

    glarex_error_clear(&err);
    snprintf(url, sizeof(url), "file://%s/corpus-store", cfg->workdir);
    snprintf(cache, sizeof(cache), "%s/corpus-cache", cfg->workdir);
    for (size_t a = 0; a < NARTIFACTS; a++) {
        bench_res res[6];
        char paths[6][400];
        size_t n = 0;
        for (; ARTIFACTS[a].keys[n]; n++) {
            char text[256];
            int len = snprintf(text, sizeof(text), "content-of:%s:%s:%s", ARTIFACTS[a].name,
                               ARTIFACTS[a].version, ARTIFACTS[a].keys[n]);
            snprintf(paths[n], sizeof(paths[n]), "%s/corpus-%zu-%zu", cfg->workdir, a, n);
            FILE *f = fopen(paths[n], "wb");
            if (!f || fwrite(text, 1, (size_t)len, f) != (size_t)len) {
                if (f)
                    fclose(f);
                snprintf(why, why_size, "cannot write %.300s", paths[n]);
                return -1;
            }
            fclose(f);
            res[n] = (bench_res){ARTIFACTS[a].keys[n], paths[n]};
            json_array_append_new(content,
                                  json_pack("{s:s, s:s, s:s, s:s}", "name", ARTIFACTS[a].name,
                                            "version", ARTIFACTS[a].version, "resource",
                                            ARTIFACTS[a].keys[n], "content", text));
        }
        if (bench_make_artifact(NULL, url, ARTIFACTS[a].name, ARTIFACTS[a].version, res, n,
                                &err) < 0) {
            snprintf(why, why_size, "corpus store: %s", err.message);
            return -1;
        }
    }
    if (bench_ctx_new(gctx, url, cache, &err) < 0) {
        snprintf(why, why_size, "corpus store: %s", err.message);
        return -1;
    }
    return 0;
}

/* One case's figures once both sides ran. */
typedef struct measured {
    const char *id;
    json_t *expr;
    int same;                  /* both glarex series gave Mistral's result */
    int passthrough;           /* Mistral returned the expression as it is: nothing to do */
    double gx, gj, ms;         /* best microseconds: bound, JSON context, Mistral */
    double ratio, ratio_json;  /* ms / gx, ms / gj; 0 when one side failed */
    double lo, hi;             /* range of the paired run ratios ms[i] / gx[i] */
    char error[300];           /* glarex's error, if any */
} measured;

static double min_of(const double *v, int n)
{
    return bench_min(v, (size_t)n);
}

static void measure(measured *r, const bench_eval_case *c, const bench_eval_timing *t,
                    bench_eval_result *g, bench_eval_result *j, bench_eval_result *m)
{
    memset(r, 0, sizeof(*r));
    r->id = c->id;
    r->expr = c->expr;
    r->same = g->ok && j->ok && json_equal(g->value, m->value) && json_equal(j->value, m->value);
    r->passthrough = m->ok && json_equal(m->value, c->expr);
    r->ms = min_of(m->us, t->runs);
    if (!g->ok || !j->ok)
        snprintf(r->error, sizeof(r->error), "%.290s", g->ok ? j->error : g->error);
    if (g->ok) {
        r->gx = min_of(g->us, t->runs);
        r->ratio = r->gx > 0 ? r->ms / r->gx : 0;
        r->lo = r->hi = g->us[0] > 0 ? m->us[0] / g->us[0] : 0;
        for (int i = 1; i < t->runs; i++) {
            double p = g->us[i] > 0 ? m->us[i] / g->us[i] : 0;
            r->lo = p < r->lo ? p : r->lo;
            r->hi = p > r->hi ? p : r->hi;
        }
    }
    if (j->ok) {
        r->gj = min_of(j->us, t->runs);
        r->ratio_json = r->gj > 0 ? r->ms / r->gj : 0;
    }
}

static json_t *measured_json(const measured *r)
{
    json_t *e = json_pack("{s:s, s:O, s:b, s:b, s:f, s:f, s:f, s:f, s:f, s:[f, f]}", "id",
                          r->id, "expr", r->expr, "same_result", r->same, "passthrough",
                          r->passthrough, "glarex_us", r->gx,
                          "glarex_json_us", r->gj, "mistral_us", r->ms, "ratio", r->ratio,
                          "ratio_json", r->ratio_json, "paired_ratio_range", r->lo, r->hi);
    if (e && r->error[0])
        json_object_set_new(e, "glarex_error", json_string(r->error));
    return e;
}

static int by_ratio(const void *a, const void *b)
{
    const measured *x = a, *y = b;
    return (x->ratio > y->ratio) - (x->ratio < y->ratio);
}

static int by_ratio_json(const void *a, const void *b)
{
    const measured *x = a, *y = b;
    return (x->ratio_json > y->ratio_json) - (x->ratio_json < y->ratio_json);
}

/* Median of the n positive values `pick` reads from rs (0 when none). */
static double median_of(const measured *rs, size_t n, double (*pick)(const measured *))
{
    double *v = malloc((n ? n : 1) * sizeof(*v));
    size_t k = 0;
    double med;
    if (!v)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pick(&rs[i]) > 0)
            v[k++] = pick(&rs[i]);
    med = k ? bench_median(v, k) : 0;
    free(v);
    return med;
}

static double pick_ratio(const measured *r) { return r->ratio; }
static double pick_ratio_json(const measured *r) { return r->ratio_json; }
static double pick_spread(const measured *r) { return r->lo > 0 ? r->hi / r->lo : 0; }

/* The lowest positive value `pick` reads, or 0 when a case has none (a failure). */
static double min_ratio(const measured *rs, size_t n, double (*pick)(const measured *))
{
    double lo = 0;
    for (size_t i = 0; i < n; i++) {
        double v = pick(&rs[i]);
        if (v <= 0)
            return 0;
        if (i == 0 || v < lo)
            lo = v;
    }
    return lo;
}

static void print_case(const char *tag, const measured *r)
{
    char *e = json_dumps(r->expr, JSON_ENCODE_ANY | JSON_COMPACT);
    bench_out("   %-5s %-22s %8.0fx %8.0fx  (paired %.0f-%.0fx) %9.2f %9.2f %10.1f  %.40s\n", tag,
              r->id, r->ratio, r->ratio_json, r->lo, r->hi, r->gx, r->gj, r->ms, e ? e : "?");
    free(e);
}

/* Sets out[key] to the 5 cases of rs lowest by `cmp` (rs is sorted), and prints them. */
static void worst_of(json_t *out, const char *key, measured *rs, size_t n,
                     int (*cmp)(const void *, const void *), const char *tag)
{
    json_t *worst = json_array();
    qsort(rs, n, sizeof(*rs), cmp);
    for (size_t i = 0; i < n && i < 5; i++) {
        json_array_append_new(worst, measured_json(&rs[i]));
        print_case(tag, &rs[i]);
    }
    json_object_set_new(out, key, worst);
}

json_t *bench_eval_corpus(const bench_cfg *cfg, const bench_server *srv)
{
    const bench_eval_timing t = {cfg->quick ? 1 : BENCH_EVAL_RUNS,
                                 cfg->quick ? 0.0005 : 0.01,
                                 cfg->quick ? 0.001 : 0.03,
                                 1,
                                 cfg->quick ? 2 : 2000};
    json_error_t jerr;
    json_t *corpus, *c, *content = json_array(), *out, *differ, *errors;
    glarex_ctx *gctx = NULL;
    bench_mistral h;
    measured *rs;
    size_t n = 0, i, same = 0, skipped = 0;
    char why[700] = "";
    (void)srv;

    bench_out("\n1b. Evaluator vs Mistral's own over the public conformance corpus "
              "(every case Mistral answers; runs alternate; best of %d)\n",
              t.runs);
    corpus = json_load_file(cfg->corpus, 0, &jerr);
    if (!json_is_array(corpus)) {
        json_decref(content);
        json_decref(corpus);
        bench_out("   ERROR: %s: %s\n", cfg->corpus, jerr.text);
        return json_pack("{s:s}", "error", "cannot read the corpus");
    }
    rs = calloc(json_array_size(corpus) + 1, sizeof(*rs));
    if (!rs || corpus_store(&gctx, content, cfg, why, sizeof(why)) < 0) {
        bench_out("   ERROR: %s\n", why[0] ? why : "out of memory");
        free(rs);
        json_decref(content);
        json_decref(corpus);
        return json_pack("{s:s}", "error", why[0] ? why : "out of memory");
    }
    bench_note("eval_corpus: loading Mistral (%s %s)...", cfg->python, cfg->mistral_helper);
    bench_mistral_start(&h, cfg, json_pack("{s:s, s:O}", "plugin", "function", "content", content),
                        NULL);
    if (!h.up) {
        bench_out("   ERROR: Mistral: %s\n", h.why);
        json_decref(content);
        glarex_ctx_free(gctx);
        free(rs);
        json_decref(corpus);
        return json_pack("{s:s, s:s}", "error", "Mistral did not start", "why", h.why);
    }

    /* one pair of evaluators for all the cases, as an executor keeps its own */
    bench_evals evs = {NULL, NULL};
    glarex_error eerr;
    if (glarex_eval_new(&evs.bound, gctx, NULL, &eerr) < 0 ||
        glarex_eval_new(&evs.json, gctx, NULL, &eerr) < 0)
        bench_note("eval_corpus: an evaluator per case (%s)", eerr.message);
    differ = json_array();
    errors = json_array();
    json_array_foreach(corpus, i, c) {
        const char *mode = json_string_value(json_object_get(c, "mode"));
        bench_eval_case ec = {json_string_value(json_object_get(c, "id")), NULL,
                              json_object_get(c, "expr"), json_object_get(c, "context"), 1,
                              mode && strcmp(mode, "recursive") == 0};
        bench_eval_result g, j, m;

        if (!ec.id || !ec.expr || !ec.context)
            continue;
        bench_eval_run(cfg, &ec, gctx, NULL, &h, &t, evs.bound && evs.json ? &evs : NULL, &g,
                       &j, &m);
        if (m.ok) {
            measure(&rs[n], &ec, &t, &g, &j, &m);
            if (rs[n].same)
                same++;
            else
                json_array_append_new(differ, json_string(ec.id));
            if (rs[n].error[0])
                json_array_append_new(errors, json_pack("{s:s, s:s}", "id", ec.id, "error",
                                                        rs[n].error));
            n++;
        } else {
            skipped++; /* Mistral raises: not a case to time */
        }
        json_decref(g.value);
        json_decref(j.value);
        json_decref(m.value);
        if (!h.up) {
            /* the helper died: start it again for the cases left */
            bench_note("eval_corpus: Mistral's helper stopped at %s (%s); restarting", ec.id,
                       h.why);
            bench_mistral_stop(&h);
            bench_mistral_start(&h, cfg,
                                json_pack("{s:s, s:O}", "plugin", "function", "content", content),
                                NULL);
        }
    }

    out = json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "cases", (json_int_t)n,
                    "same_results", (json_int_t)same, "mistral_errors", (json_int_t)skipped,
                    "min_ratio", min_ratio(rs, n, pick_ratio), "median_ratio",
                    median_of(rs, n, pick_ratio), "min_ratio_json",
                    min_ratio(rs, n, pick_ratio_json), "median_ratio_json",
                    median_of(rs, n, pick_ratio_json), "median_paired_spread",
                    median_of(rs, n, pick_spread));
    /* The same figures without the cases Mistral returns as they are (text with no
     * expression it detects, data with an empty context): there it does next to nothing,
     * in a few hundred nanoseconds, and no evaluator can be a hundred times faster. */
    measured *ev_only = calloc(n + 1, sizeof(*ev_only));
    size_t ne = 0;
    for (i = 0; ev_only && i < n; i++)
        if (!rs[i].passthrough)
            ev_only[ne++] = rs[i];
    json_t *evaluated = json_pack(
        "{s:i, s:f, s:f, s:f, s:f}", "cases", (json_int_t)ne, "min_ratio",
        min_ratio(ev_only, ne, pick_ratio), "median_ratio", median_of(ev_only, ne, pick_ratio),
        "min_ratio_json", min_ratio(ev_only, ne, pick_ratio_json), "median_ratio_json",
        median_of(ev_only, ne, pick_ratio_json));
    json_t *all = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(all, measured_json(&rs[i]));
    json_object_set_new(out, "evaluated", evaluated);
    json_object_set_new(out, "all", all);
    bench_out("   %zu cases Mistral answers (%zu it raises on, not timed), %zu same results\n",
              n, skipped, same);
    bench_out("   without the %zu it returns as they are: min %.0fx, median %.0fx; JSON context "
              "each call: min %.0fx, median %.0fx\n",
              n - ne, json_real_value(json_object_get(evaluated, "min_ratio")),
              json_real_value(json_object_get(evaluated, "median_ratio")),
              json_real_value(json_object_get(evaluated, "min_ratio_json")),
              json_real_value(json_object_get(evaluated, "median_ratio_json")));
    bench_out("   ratio Mistral/glarex: min %.0fx, median %.0fx; JSON context each call: min "
              "%.0fx, median %.0fx; paired runs spread (max/min ratio, median) %.2f\n",
              json_real_value(json_object_get(out, "min_ratio")),
              json_real_value(json_object_get(out, "median_ratio")),
              json_real_value(json_object_get(out, "min_ratio_json")),
              json_real_value(json_object_get(out, "median_ratio_json")),
              json_real_value(json_object_get(out, "median_paired_spread")));
    bench_out("   %-5s %-22s %9s %9s  %-18s %9s %9s %10s  %s\n", "", "case", "ratio", "JSON",
              "", "glarex us", "JSON us", "Mistral us", "expression");

    worst_of(out, "worst", rs, n, by_ratio, "worst");
    worst_of(out, "worst_json", rs, n, by_ratio_json, "json");
    if (ev_only) {
        worst_of(evaluated, "worst", ev_only, ne, by_ratio, "eval");
        worst_of(evaluated, "worst_json", ev_only, ne, by_ratio_json, "ejson");
    }
    free(ev_only);
    json_object_set_new(out, "different_results", differ);
    json_object_set_new(out, "glarex_errors", errors);
    for (i = 0; i < json_array_size(differ); i++)
        bench_out("      note: glarex's result differs from Mistral's on %s\n",
                  json_string_value(json_array_get(differ, i)));

    bench_mistral_stop(&h);
    json_decref(content);
    glarex_eval_free(evs.bound);
    glarex_eval_free(evs.json);
    glarex_ctx_free(gctx);
    free(rs);
    json_decref(corpus);
    return out;
}

/* ---- eval_growth: one expression over contexts of 10, 1k, 100k items ---- */

/* {"x": 42, "hosts": [n hosts of 4 keys]} */
static json_t *hosts_of(long n)
{
    json_t *hosts = json_array();
    for (long i = 0; i < n; i++) {
        char name[24], ip[24];
        snprintf(name, sizeof(name), "vm-%06ld", i);
        snprintf(ip, sizeof(ip), "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:b, s:i}", "name", name, "ip", ip,
                                               "up", i % 3 != 0, "cpus", 2 << (i % 3)));
    }
    return json_pack("{s:i, s:o}", "x", 42, "hosts", hosts);
}

json_t *bench_eval_growth(const bench_cfg *cfg, const bench_server *srv)
{
    static const long FULL[] = {10, 1000, 100000}, QUICK[] = {10, 100, 1000};
    static const struct {
        const char *name, *expr;
    } EXPRS[] = {{"lookup", "<% $.x %>"}, {"select", "<% $.hosts.where($.up).select($.ip) %>"}};
    const bench_eval_timing t = {cfg->quick ? 1 : 3, cfg->quick ? 0.001 : 0.1,
                                 cfg->quick ? 0.002 : 0.3, 1, cfg->quick ? 2 : 100000};
    const long *sizes = cfg->quick ? QUICK : FULL;
    json_t *out = json_array();
    bench_mistral h;
    (void)srv;

    bench_out("\n1c. Growth: one lookup and one select over contexts of growing size, glarex "
              "vs Mistral (best of %d alternating runs)\n",
              t.runs);
    bench_mistral_start(&h, cfg, NULL, NULL);
    if (!h.up) {
        bench_out("   ERROR: Mistral: %s\n", h.why);
        json_decref(out);
        return json_pack("{s:s, s:s}", "error", "Mistral did not start", "why", h.why);
    }
    bench_out("   %-8s %-8s %9s %9s  %-18s %9s %9s %10s\n", "items", "case", "ratio", "JSON", "",
              "glarex us", "JSON us", "Mistral us");
    for (int s = 0; s < 3; s++) {
        json_t *ctx = hosts_of(sizes[s]);
        for (size_t e = 0; e < sizeof(EXPRS) / sizeof(EXPRS[0]); e++) {
            bench_eval_case ec = {EXPRS[e].name, NULL, json_string(EXPRS[e].expr), ctx, 0, 0};
            bench_eval_result g, j, m;
            measured r;
            json_t *row;

            bench_eval_run(cfg, &ec, NULL, NULL, &h, &t, NULL, &g, &j, &m);
            measure(&r, &ec, &t, &g, &j, &m);
            row = measured_json(&r);
            json_object_set_new(row, "items", json_integer(sizes[s]));
            json_object_set_new(row, "case", json_string(EXPRS[e].name));
            if (!m.ok)
                json_object_set_new(row, "mistral_error", json_string(m.error));
            json_array_append_new(out, row);
            bench_out("   %-8ld %-8s %8.0fx %8.0fx  (paired %.0f-%.0fx) %9.2f %9.2f %10.1f%s\n",
                      sizes[s], EXPRS[e].name, r.ratio, r.ratio_json, r.lo, r.hi, r.gx, r.gj,
                      r.ms, r.same ? "" : "  results differ or failed");
            if (r.error[0])
                bench_out("      glarex error: %s\n", r.error);
            if (!m.ok)
                bench_out("      Mistral error: %.300s\n", m.error);
            json_decref(g.value);
            json_decref(j.value);
            json_decref(m.value);
            json_decref(ec.expr);
        }
        json_decref(ctx);
    }
    bench_mistral_stop(&h);
    return out;
}
