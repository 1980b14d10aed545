/* glarex-bench group 1: the evaluator against Mistral's own (python3-mistral), same
 * expressions, same contexts, both in-process and warm, 3 runs of N evaluations. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 3

static const char HEAL_VM_SCRIPT[] =
    "#!/bin/sh\n"
    "# heal_vm_script.sh: restart the agent of a VM that stopped answering\n"
    "set -eu\n"
    "vm=\"$1\"\n"
    "logger -t heal_vm \"healing $vm\"\n"
    "systemctl restart qemu-guest-agent || true\n"
    "for i in 1 2 3 4 5; do\n"
    "    if ping -c1 -W1 \"$vm\" >/dev/null 2>&1; then exit 0; fi\n"
    "    sleep \"$i\"\n"
    "done\n"
    "exit 1\n";

typedef struct eval_case {
    const char *id;
    const char *label; /* shown in the table */
    json_t *expr;      /* string (evaluate) or object (evaluate_recursively) */
    json_t *context;
    int glare;         /* needs the glare() plugin on the Mistral side */
} eval_case;

/* `hosts`: 10 dicts of 4 keys, as in mistral-expressions.md section 12. */
static json_t *hosts_context(void)
{
    json_t *hosts = json_array();
    for (int i = 0; i < 10; i++) {
        char name[16], ip[16];
        snprintf(name, sizeof(name), "vm-%02d", i);
        snprintf(ip, sizeof(ip), "10.0.0.%d", 10 + i);
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:b, s:i}", "name", name, "ip",
                                               ip, "up", i % 3 != 0, "cpus", 2 << (i % 3)));
    }
    return json_pack("{s:i, s:o}", "x", 42, "hosts", hosts);
}

static size_t make_cases(eval_case *c)
{
    size_t n = 0;
    json_t *tmpl_ctx = json_pack("{s:s, s:s, s:i}", "name", "vm-01", "ip", "10.0.0.11",
                                 "cpus", 4);
    json_t *rec = json_object(), *rec_ctx = json_object();

    for (int i = 0; i < 50; i++) {
        char k[8], e[32], v[32];
        snprintf(k, sizeof(k), "k%02d", i);
        snprintf(e, sizeof(e), "<%% $.v%02d %%>", i);
        snprintf(v, sizeof(v), "v%02d", i);
        json_object_set_new(rec, k, json_string(e));
        json_object_set_new(rec_ctx, v, json_sprintf("value %d", i));
    }

#define CASE(ID, EXPR, CTX, G)                                                           \
    c[n++] = (eval_case){ID, NULL, EXPR, CTX, G}
    CASE("yaql_x", json_string("<% $.x %>"), hosts_context(), 0);
    CASE("yaql_select", json_string("<% $.hosts.select($.name) %>"), hosts_context(), 0);
    CASE("yaql_where_select", json_string("<% $.hosts.where($.up).select($.ip) %>"),
         hosts_context(), 0);
    CASE("jinja_x", json_string("{{ _.x }}"), hosts_context(), 0);
    CASE("jinja_map", json_string("{{ _.hosts | map(attribute='name') | list }}"),
         hosts_context(), 0);
    CASE("yaql_template",
         json_string("Host <% $.name %> at <% $.ip %> has <% $.cpus %> CPUs"),
         json_incref(tmpl_ctx), 0);
    CASE("jinja_template",
         json_string("Host {{ _.name }} at {{ _.ip }} has {{ _.cpus }} CPUs"),
         json_incref(tmpl_ctx), 0);
    CASE("recursive_50", rec, rec_ctx, 0);
    CASE("glare_warm", json_string("<% glare('my_wf', '1.0', 'heal_vm_script.sh') %>"),
         json_pack("{s:i}", "x", 42), 1);
#undef CASE
    json_decref(tmpl_ctx);
    return n;
}

static void case_label(char *buf, size_t size, const eval_case *c)
{
    if (json_is_string(c->expr))
        snprintf(buf, size, "%s", json_string_value(c->expr));
    else
        snprintf(buf, size, "evaluate_recursively, 50 x '<%% $.vNN %%>'");
}

/* ---- the glarex side ---- */

typedef struct gx_timing {
    int ok;
    char error[600];
    json_t *result;
    long n;
    double runs_us[RUNS], best_us, median_us;
    double bound_best_us; /* same with the context bound once (glarex_eval_bind) */
} gx_timing;

static int eval_once(glarex_eval *ev, const eval_case *c, const json_t *ctx, json_t **out,
                     glarex_error *err)
{
    if (json_is_string(c->expr))
        return glarex_eval_string(out, ev, json_string_value(c->expr), ctx, err);
    return glarex_eval_recursive(out, ev, c->expr, ctx, err);
}

/* RUNS runs of n evaluations; n chosen so one run lasts about `target` seconds. */
static int time_runs(glarex_eval *ev, const eval_case *c, const json_t *ctx, double target,
                     long *n_io, double *runs_us, glarex_error *err)
{
    long n = *n_io;
    json_t *out = NULL;

    if (n <= 0) {
        long count = 0;
        double t0 = bench_now(), spent;
        do {
            if (eval_once(ev, c, ctx, &out, err) < 0)
                return -1;
            json_decref(out);
            count++;
            spent = bench_now() - t0;
        } while (spent < target / 10 && count < 100000);
        double est = spent / (double)count;
        n = (long)(target / (est > 1e-9 ? est : 1e-9));
        if (n < 5)
            n = 5;
        if (n > 5000000)
            n = 5000000;
    }
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            if (eval_once(ev, c, ctx, &out, err) < 0)
                return -1;
            json_decref(out);
        }
        runs_us[r] = (bench_now() - t0) / (double)n * 1e6;
    }
    *n_io = n;
    return 0;
}

static void time_glarex(gx_timing *t, glarex_ctx *gctx, const eval_case *c, double target)
{
    glarex_eval *ev = NULL;
    glarex_error err;
    double tmp[RUNS];

    memset(t, 0, sizeof(*t));
    glarex_error_clear(&err);
    if (glarex_eval_new(&ev, gctx, NULL, &err) < 0 ||
        eval_once(ev, c, c->context, &t->result, &err) < 0 ||
        time_runs(ev, c, c->context, target, &t->n, t->runs_us, &err) < 0) {
        snprintf(t->error, sizeof(t->error), "%s: %s", glarex_strerror(err.code),
                 err.message);
        glarex_eval_free(ev);
        return;
    }
    t->ok = 1;
    memcpy(tmp, t->runs_us, sizeof(tmp));
    t->best_us = bench_min(tmp, RUNS);
    t->median_us = bench_median(tmp, RUNS);

    /* The executor's way: bind the task's context once, evaluate many expressions. */
    long n = t->n;
    if (glarex_eval_bind(ev, c->context, &err) == 0 &&
        time_runs(ev, c, NULL, target, &n, tmp, &err) == 0)
        t->bound_best_us = bench_min(tmp, RUNS);
    glarex_eval_free(ev);
}

/* ---- the Mistral side ---- */

/* Runs bench/mistral_bench.py on `cases` (with the glare plugin when `glare`); returns
 * its "cases" array in the same order (new), or NULL with `why` filled. */
enum { NO_PLUGIN, PLUGIN_CONTRIB, PLUGIN_FUNCTION };

/* The last non-empty line of a file (a Python traceback's message), or "". */
static void last_line(char *buf, size_t size, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    buf[0] = '\0';
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            snprintf(buf, size, "%.280s", line);
    }
    fclose(f);
}

static json_t *run_mistral(const bench_cfg *cfg, const bench_server *srv,
                           const eval_case *cases, size_t n, int glare, json_t **meta,
                           char *why, size_t why_size)
{
    json_t *spec = json_object(), *arr = json_array(), *res = NULL, *out = NULL;
    char path[400], errpath[400], *text = NULL;
    char env_url[128], env_cache[400], env_lib[600];
    const char *env[6] = {NULL};
    double wall;
    int rc;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:O, s:O}", "id", cases[i].id, "expr",
                                             cases[i].expr, "context", cases[i].context));
    json_object_set_new(spec, "cases", arr);
    json_object_set_new(spec, "runs", json_integer(RUNS));
    if (cfg->quick) {
        json_object_set_new(spec, "target_seconds", json_real(0.01));
        json_object_set_new(spec, "min_n", json_integer(1));
        json_object_set_new(spec, "max_n", json_integer(5));
    } else {
        json_object_set_new(spec, "target_seconds", json_real(1.0));
        json_object_set_new(spec, "min_n", json_integer(20));
        json_object_set_new(spec, "max_n", json_integer(10000));
    }
    if (glare == PLUGIN_CONTRIB) {
        json_object_set_new(spec, "glare", json_pack("{s:s, s:s}", "plugin", "contrib",
                                                     "contrib_path", cfg->contrib_mistral));
        snprintf(env_url, sizeof(env_url), "GLARE_URL=%s", srv->url);
        snprintf(env_cache, sizeof(env_cache), "GLAREX_CACHE_DIR=%s/mistral-plugin-cache",
                 cfg->workdir);
        snprintf(env_lib, sizeof(env_lib), "GLAREX_LIBRARY=%s", cfg->libglarex);
        env[0] = env_url;
        env[1] = "OS_AUTH_TOKEN=" BENCH_TOKEN;
        env[2] = env_cache;
        env[3] = env_lib;
        env[4] = "GLAREX_OFFLINE=";
    } else if (glare == PLUGIN_FUNCTION) {
        json_object_set_new(spec, "glare",
                            json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}]}", "plugin", "function",
                                      "content", "name", "my_wf", "version", "1.0",
                                      "resource", "heal_vm_script.sh", "content",
                                      HEAL_VM_SCRIPT));
    }
    snprintf(path, sizeof(path), "%s/mistral-spec-%d.json", cfg->workdir, glare);
    snprintf(errpath, sizeof(errpath), "%s/mistral-stderr-%d.txt", cfg->workdir, glare);
    if (json_dump_file(spec, path, JSON_COMPACT) != 0) {
        snprintf(why, why_size, "cannot write %s", path);
        goto done;
    }
    const char *argv[] = {cfg->python, cfg->mistral_helper, path, NULL};
    rc = bench_run(argv, env[0] ? env : NULL, &text, errpath, cfg->quick ? 120 : 1800,
                   &wall);
    if (rc != 0) {
        char last[300];
        last_line(last, sizeof(last), errpath);
        snprintf(why, why_size, "%s %s failed (exit %d): %s", cfg->python,
                 cfg->mistral_helper, rc, last);
        goto done;
    }
    out = json_loads(text, 0, NULL);
    res = json_incref(json_object_get(out, "cases"));
    if (!json_is_array(res) || json_array_size(res) != n) {
        json_decref(res);
        res = NULL;
        snprintf(why, why_size, "unexpected output from %s", cfg->mistral_helper);
        goto done;
    }
    if (meta && !*meta)
        *meta = json_pack("{s:O?, s:O?}", "python", json_object_get(out, "python"),
                          "mistral", json_object_get(out, "mistral"));
    (void)srv;
done:
    free(text);
    json_decref(out);
    json_decref(spec);
    return res;
}

json_t *bench_eval(const bench_cfg *cfg, const bench_server *srv)
{
    eval_case cases[16];
    size_t n = make_cases(cases), nplain = 0, nglare = 0;
    eval_case plain[16], glare[16];
    json_t *mplain = NULL, *mglare = NULL, *meta = NULL, *entries = json_array();
    char why_plain[600] = "", why_glare[600] = "", gx_why[700] = "";
    glarex_ctx *gctx = NULL;
    char cache[300] = "";
    double target = cfg->quick ? 0.002 : 0.2;
    char plugin_note[500] = "";
    const char *plugin = "function";

    for (size_t i = 0; i < n; i++) {
        if (cases[i].glare)
            glare[nglare++] = cases[i];
        else
            plain[nplain++] = cases[i];
    }

    bench_out("\n1. Evaluator vs Mistral's own (in-process, warm, best of %d runs of N "
              "evaluations)\n",
              RUNS);
    bench_note("eval: running Mistral's evaluator (%s %s)...", cfg->python,
               cfg->mistral_helper);
    mplain = run_mistral(cfg, srv, plain, nplain, NO_PLUGIN, &meta, why_plain,
                         sizeof(why_plain));

    /* The warm glare() case needs the artifact in the store and one fetch done. */
    if (srv && srv->url[0]) {
        glarex_error err;
        char rpath[400], id[64];
        glarex_blob *blob = NULL;
        snprintf(rpath, sizeof(rpath), "%s/heal_vm_script.sh", cfg->workdir);
        FILE *f = fopen(rpath, "wb");
        if (f) {
            fwrite(HEAL_VM_SCRIPT, 1, sizeof(HEAL_VM_SCRIPT) - 1, f);
            fclose(f);
        }
        bench_res r = {"heal_vm_script.sh", rpath};
        glarex_error_clear(&err);
        if (bench_mkdtemp(cache, sizeof(cache), cfg->workdir, "evalcache") < 0 ||
            bench_make_artifact(id, srv->url, "my_wf", "1.0", &r, 1, &err) < 0 ||
            bench_ctx_new(&gctx, srv->url, cache, &err) < 0 ||
            glarex_fetch(&blob, gctx, "my_wf", "1.0", "heal_vm_script.sh", &err) < 0) {
            snprintf(gx_why, sizeof(gx_why), "store setup: %s", err.message);
            glarex_ctx_free(gctx);
            gctx = NULL;
        }
        glarex_blob_free(blob);
    } else {
        snprintf(gx_why, sizeof(gx_why), "no test server");
    }

    /* Mistral's glare(): glarex's own plugin (contrib/mistral) when it loads and works,
     * else a plugin function returning the same text. */
    if (gctx && cfg->libglarex && bench_exists(cfg->libglarex) && cfg->contrib_mistral &&
        bench_is_dir(cfg->contrib_mistral)) {
        mglare = run_mistral(cfg, srv, glare, nglare, PLUGIN_CONTRIB, &meta, why_glare,
                             sizeof(why_glare));
        json_t *g0 = json_array_get(mglare, 0);
        if (!g0 || json_object_get(g0, "error")) {
            snprintf(plugin_note, sizeof(plugin_note),
                     "contrib/mistral plugin failed (%.300s); using a plugin function "
                     "returning the same text",
                     g0 ? json_string_value(json_object_get(g0, "error")) : why_glare);
            json_decref(mglare);
            mglare = NULL;
        } else {
            plugin = "contrib";
        }
    } else {
        snprintf(plugin_note, sizeof(plugin_note),
                 "contrib/mistral or %s not available; using a plugin function returning "
                 "the same text",
                 cfg->libglarex ? cfg->libglarex : "libglarex");
    }
    if (!mglare) {
        why_glare[0] = '\0';
        mglare = run_mistral(cfg, srv, glare, nglare, PLUGIN_FUNCTION, &meta, why_glare,
                             sizeof(why_glare));
        plugin = "function";
    }
    if (meta)
        bench_out("   Mistral %s on CPython %s (Debian python3-mistral); its glare(): %s\n",
                  json_string_value(json_object_get(meta, "mistral")),
                  json_string_value(json_object_get(meta, "python")),
                  strcmp(plugin, "contrib") == 0
                      ? "glarex's contrib/mistral plugin (libglarex via ctypes), warm"
                      : "a plugin function returning the same text");
    if (plugin_note[0])
        bench_out("   note: %s\n", plugin_note);

    bench_out("   %-56s %10s %10s %9s %11s\n", "case", "glarex us", "Mistral us", "ratio",
              "bound ctx us");
    for (size_t i = 0; i < n; i++) {
        const eval_case *c = &cases[i];
        json_t *mlist = c->glare ? mglare : mplain, *m = NULL, *e;
        const char *mwhy = c->glare ? why_glare : why_plain;
        size_t idx = 0;
        char label[64], err_text[800] = "";
        gx_timing t;

        for (size_t j = 0; j < i; j++)
            if (cases[j].glare == c->glare)
                idx++;
        if (mlist)
            m = json_array_get(mlist, idx);
        case_label(label, sizeof(label), c);

        if (c->glare && !gctx) {
            memset(&t, 0, sizeof(t));
            snprintf(t.error, sizeof(t.error), "%s", gx_why);
        } else {
            time_glarex(&t, c->glare ? gctx : NULL, c, target);
        }

        e = json_pack("{s:s, s:s}", "case", label, "id", c->id);
        if (c->glare)
            json_object_set_new(e, "mistral_glare", json_string(plugin));
        double mbest = m ? json_number_value(json_object_get(m, "best_us")) : 0;
        const char *merr = m ? json_string_value(json_object_get(m, "error")) : mwhy;
        if (t.ok) {
            json_object_set_new(e, "glarex_us", json_real(t.best_us));
            json_object_set_new(e, "glarex_median_us", json_real(t.median_us));
            json_object_set_new(e, "glarex_n", json_integer(t.n));
            if (t.bound_best_us > 0)
                json_object_set_new(e, "glarex_bound_us", json_real(t.bound_best_us));
        } else {
            json_object_set_new(e, "glarex_us", json_null());
            json_object_set_new(e, "glarex_error", json_string(t.error));
        }
        if (m && !merr && mbest > 0) {
            json_object_set_new(e, "mistral_us", json_real(mbest));
            json_object_set_new(e, "mistral_median_us",
                                json_real(json_number_value(json_object_get(m, "median_us"))));
            json_object_set_new(e, "mistral_n", json_copy(json_object_get(m, "n")));
        } else {
            json_object_set_new(e, "mistral_us", json_null());
            json_object_set_new(e, "mistral_error", json_string(merr ? merr : "no result"));
        }
        if (t.ok && m && !merr && mbest > 0 && t.best_us > 0) {
            json_object_set_new(e, "ratio", json_real(mbest / t.best_us));
            int agree = json_equal(t.result, json_object_get(m, "result"));
            json_object_set_new(e, "same_result", json_boolean(agree));
            if (!agree) {
                char *a = json_dumps(t.result, JSON_ENCODE_ANY | JSON_COMPACT);
                char *b = json_dumps(json_object_get(m, "result"),
                                     JSON_ENCODE_ANY | JSON_COMPACT);
                snprintf(err_text, sizeof(err_text),
                         "results differ: glarex %.150s, Mistral %.150s", a ? a : "?",
                         b ? b : "?");
                free(a);
                free(b);
            }
        } else {
            json_object_set_new(e, "ratio", json_null());
        }

        char gx[32], ms[32], ra[32], bd[32];
        snprintf(gx, sizeof(gx), t.ok ? "%.2f" : "ERROR", t.best_us);
        snprintf(ms, sizeof(ms), m && !merr && mbest > 0 ? "%.1f" : "ERROR", mbest);
        if (t.ok && m && !merr && mbest > 0)
            snprintf(ra, sizeof(ra), "%.0fx", mbest / t.best_us);
        else
            snprintf(ra, sizeof(ra), "-");
        snprintf(bd, sizeof(bd), t.bound_best_us > 0 ? "%.2f" : "-", t.bound_best_us);
        bench_out("   %-56.56s %10s %10s %9s %11s\n", label, gx, ms, ra, bd);
        if (!t.ok)
            bench_out("      glarex error: %s\n", t.error);
        if (!m || merr)
            bench_out("      Mistral error: %s\n", merr ? merr : "no result");
        if (err_text[0])
            bench_out("      note: %s\n", err_text);
        json_decref(t.result);
        json_array_append_new(entries, e);
    }

    glarex_ctx_free(gctx);
    if (cache[0])
        bench_rm_rf(cache);
    json_decref(mplain);
    json_decref(mglare);
    json_decref(meta);
    for (size_t i = 0; i < n; i++) {
        json_decref(cases[i].expr);
        json_decref(cases[i].context);
    }
    return entries;
}
