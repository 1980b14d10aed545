/* glarex-bench group 1: the evaluator against Mistral's own (python3-mistral), same
 * expressions, same contexts, both in-process and warm, 3 runs of N evaluations each,
 * the runs of the two alternating (bench/mistral_bench.py --serve on the other end). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS BENCH_EVAL_RUNS

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

typedef bench_eval_case eval_case;

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
    c[n++] = (eval_case){ID, NULL, EXPR, CTX, G, 0}
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

static int eval_once(glarex_eval *ev, const eval_case *c, const json_t *ctx, json_t **out,
                     glarex_error *err)
{
    if (json_is_string(c->expr) && !c->recursive)
        return glarex_eval_string(out, ev, json_string_value(c->expr), ctx, err);
    return glarex_eval_recursive(out, ev, c->expr, ctx, err);
}

/* One run of n evaluations: microseconds per evaluation, or -1. */
static double gx_run(glarex_eval *ev, const eval_case *c, const json_t *ctx, long n,
                     glarex_error *err)
{
    json_t *out = NULL;
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        if (eval_once(ev, c, ctx, &out, err) < 0)
            return -1;
        json_decref(out);
    }
    return (bench_now() - t0) / (double)n * 1e6;
}

/* Warm (one evaluation, whose result is kept) and pick n so that a run lasts about
 * `target` seconds, estimated from warm evaluations over a tenth of that. */
static int gx_prepare(glarex_eval *ev, const eval_case *c, const json_t *ctx, double target,
                      long *n, json_t **result, glarex_error *err)
{
    long count = 0;
    double t0, spent, est;
    json_t *out = NULL;

    if (eval_once(ev, c, ctx, result, err) < 0)
        return -1;
    t0 = bench_now();
    do {
        if (eval_once(ev, c, ctx, &out, err) < 0)
            return -1;
        json_decref(out);
        count++;
        spent = bench_now() - t0;
    } while (spent < target / 10 && count < 100000);
    est = spent / (double)count;
    *n = (long)(target / (est > 1e-9 ? est : 1e-9));
    if (*n < 5)
        *n = 5;
    if (*n > 5000000)
        *n = 5000000;
    return 0;
}

/* ---- the Mistral side: bench/mistral_bench.py --serve ---- */

enum { NO_PLUGIN, PLUGIN_CONTRIB, PLUGIN_FUNCTION };

typedef bench_mistral helper;

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

json_t *bench_mistral_call(bench_mistral *h, json_t *req, double timeout_s)
{
    json_t *r = NULL;
    if (h->up) {
        r = bench_proc_call(&h->proc, req, timeout_s, h->why, sizeof(h->why));
        if (!r) {
            char last[300];
            h->up = 0;
            last_line(last, sizeof(last), h->errpath);
            if (last[0]) {
                size_t l = strlen(h->why);
                snprintf(h->why + l, sizeof(h->why) - l, ": %s", last);
            }
        }
    }
    json_decref(req);
    return r;
}

/* Starts Mistral's side and loads Mistral with the glare() plugin `glare` describes
 * (mistral_bench.py's "glare" member, taken; NULL: none) and `env` in its environment. */
void bench_mistral_start(bench_mistral *h, const bench_cfg *cfg, json_t *glare,
                         const char *const *env)
{
    const char *argv[] = {cfg->python, cfg->mistral_helper, "--serve", NULL};
    json_t *r;

    static unsigned started;

    memset(h, 0, sizeof(*h));
    snprintf(h->errpath, sizeof(h->errpath), "%s/mistral-stderr-%u.txt", cfg->workdir,
             ++started);
    if (bench_proc_start(&h->proc, argv, env, h->errpath) < 0) {
        snprintf(h->why, sizeof(h->why), "cannot start %s %s", cfg->python,
                 cfg->mistral_helper);
        json_decref(glare);
        return;
    }
    h->up = 1;
    r = bench_mistral_call(h, json_pack("{s:s, s:o*}", "op", "load", "glare", glare), 300);
    if (r && json_object_get(r, "error")) {
        snprintf(h->why, sizeof(h->why), "%s",
                 json_string_value(json_object_get(r, "error")));
        bench_proc_stop(&h->proc);
        h->up = 0;
    } else if (r) {
        h->meta = json_incref(r);
    }
    json_decref(r);
}

/* Closing its stdin ends the helper's loop. */
void bench_mistral_stop(bench_mistral *h)
{
    if (h->proc.pid > 0 || h->proc.to >= 0)
        bench_proc_stop(&h->proc);
    h->up = 0;
    json_decref(h->meta);
    h->meta = NULL;
}

/* Mistral with glare() of `mode`: none, glarex's own plugin, or a plugin function. */
static void helper_start(helper *h, const bench_cfg *cfg, const bench_server *srv, int mode)
{
    char env_url[128], env_cache[400], env_lib[600];
    const char *env[6] = {NULL};
    json_t *glare = NULL;

    if (mode == PLUGIN_CONTRIB) {
        glare = json_pack("{s:s, s:s}", "plugin", "contrib", "contrib_path",
                          cfg->contrib_mistral);
        snprintf(env_url, sizeof(env_url), "GLARE_URL=%s", srv->url);
        snprintf(env_cache, sizeof(env_cache), "GLAREX_CACHE_DIR=%s/mistral-plugin-cache",
                 cfg->workdir);
        snprintf(env_lib, sizeof(env_lib), "GLAREX_LIBRARY=%s", cfg->libglarex);
        env[0] = env_url;
        env[1] = "OS_AUTH_TOKEN=" BENCH_TOKEN;
        env[2] = env_cache;
        env[3] = env_lib;
        env[4] = "GLAREX_OFFLINE=";
    } else if (mode == PLUGIN_FUNCTION) {
        glare = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}]}", "plugin", "function", "content",
                          "name", "my_wf", "version", "1.0", "resource", "heal_vm_script.sh",
                          "content", HEAL_VM_SCRIPT);
    }
    bench_mistral_start(h, cfg, glare, env[0] ? env : NULL);
}

static void helper_stop(helper *h)
{
    bench_mistral_stop(h);
}

/* ---- one case, both sides interleaved ---- */

typedef bench_eval_result result;

/* Warms and calibrates one glarex series: `ctx` NULL evaluates against the bound
 * context, else converts `ctx` on every call. */
static void gx_series(result *r, glarex_eval *ev, const eval_case *c, const json_t *ctx,
                      double target)
{
    glarex_error err;
    glarex_error_clear(&err);
    if (gx_prepare(ev, c, ctx, target, &r->n, &r->value, &err) < 0)
        snprintf(r->error, sizeof(r->error), "%s: %s", glarex_strerror(err.code), err.message);
    else
        r->ok = 1;
}

static void gx_step(result *r, glarex_eval *ev, const eval_case *c, const json_t *ctx, int i)
{
    glarex_error err;
    if (!r->ok)
        return;
    r->us[i] = gx_run(ev, c, ctx, r->n, &err);
    if (r->us[i] < 0) {
        r->ok = 0;
        snprintf(r->error, sizeof(r->error), "%s: %s", glarex_strerror(err.code), err.message);
    }
}

/* One case: glarex with the context bound once (`g`, the executor's way: bind the
 * task's context, evaluate its expressions; the data is already in the evaluator's
 * own values, as Mistral's is in Python's), glarex given the context as JSON on
 * every call (`j`), and Mistral (`m`). */
void bench_eval_run(const bench_cfg *cfg, const bench_eval_case *c, glarex_ctx *gctx,
                    const char *gx_unavailable, bench_mistral *h, const bench_eval_timing *t,
                    const bench_evals *evs, result *g, result *j, result *m)
{
    double target = t->gx_target;
    glarex_eval *ev = evs ? evs->bound : NULL, *evj = evs ? evs->json : NULL;
    glarex_error err;
    json_t *r;

    memset(g, 0, sizeof(*g));
    memset(j, 0, sizeof(*j));
    memset(m, 0, sizeof(*m));
    glarex_error_clear(&err);

    /* glarex: an evaluator per series (a host that gives the context each call binds
     * none), both warmed and calibrated */
    if (gx_unavailable) {
        snprintf(g->error, sizeof(g->error), "%s", gx_unavailable);
        snprintf(j->error, sizeof(j->error), "%s", gx_unavailable);
    } else if ((!ev && glarex_eval_new(&ev, gctx, NULL, &err) < 0) ||
               glarex_eval_bind(ev, c->context, &err) < 0 ||
               (!evj && glarex_eval_new(&evj, gctx, NULL, &err) < 0)) {
        snprintf(g->error, sizeof(g->error), "%s: %s", glarex_strerror(err.code),
                 err.message);
        snprintf(j->error, sizeof(j->error), "%s", g->error);
    } else {
        gx_series(g, ev, c, NULL, target);
        gx_series(j, evj, c, c->context, target);
    }

    /* Mistral: warmed and calibrated in its process */
    r = bench_mistral_call(h,
                    json_pack("{s:s, s:{s:O, s:O, s:s}, s:f, s:i, s:i}", "op", "prepare",
                              "case", "expr", c->expr, "context", c->context, "mode",
                              c->recursive || !json_is_string(c->expr) ? "recursive"
                                                                        : "evaluate",
                              "target_seconds", t->m_target, "min_n", t->m_min_n, "max_n",
                              t->m_max_n),
                    cfg->quick ? 120 : 600);
    if (!r) {
        snprintf(m->error, sizeof(m->error), "%s", h->why);
    } else if (json_object_get(r, "error")) {
        snprintf(m->error, sizeof(m->error), "%s",
                 json_string_value(json_object_get(r, "error")));
    } else {
        m->ok = 1;
        m->n = (long)json_integer_value(json_object_get(r, "n"));
        m->value = json_incref(json_object_get(r, "result"));
    }
    json_decref(r);

    /* Runs alternate, Mistral then glarex, so that load on the machine hits both. */
    for (int i = 0; i < t->runs && (g->ok || j->ok || m->ok); i++) {
        if (m->ok) {
            r = bench_mistral_call(h, json_pack("{s:s, s:I}", "op", "run", "n", (json_int_t)m->n),
                            cfg->quick ? 120 : 900);
            if (!r || json_object_get(r, "error")) {
                m->ok = 0;
                snprintf(m->error, sizeof(m->error), "%s",
                         r ? json_string_value(json_object_get(r, "error")) : h->why);
            } else {
                m->us[i] = json_number_value(json_object_get(r, "us"));
            }
            json_decref(r);
        }
        gx_step(g, ev, c, NULL, i);
        gx_step(j, evj, c, c->context, i);
    }
    if (!evs || !evs->bound)
        glarex_eval_free(ev);
    else
        glarex_eval_bind(ev, NULL, &err); /* unbinds: cannot fail */
    if (!evs || !evs->json)
        glarex_eval_free(evj);
}

/* "results differ" note when a glarex result is not Mistral's. */
static void compare_results(char *note, size_t size, const result *g, const result *m)
{
    if (!g->value || !m->value || json_equal(g->value, m->value))
        return;
    char *a = json_dumps(g->value, JSON_ENCODE_ANY | JSON_COMPACT);
    char *b = json_dumps(m->value, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(note, size, "results differ: glarex %.150s, Mistral %.150s", a ? a : "?",
             b ? b : "?");
    free(a);
    free(b);
}

json_t *bench_eval(const bench_cfg *cfg, const bench_server *srv)
{
    eval_case cases[16];
    size_t n = make_cases(cases);
    json_t *entries = json_array();
    helper plain, hglare;
    char gx_why[700] = "", plugin_note[800] = "", cache[300] = "";
    const char *plugin = "none";
    glarex_ctx *gctx = NULL;
    const bench_eval_timing timing = {RUNS, cfg->quick ? 0.002 : 0.2, cfg->quick ? 0.01 : 1.0,
                                      cfg->quick ? 1 : 20, cfg->quick ? 5 : 10000};

    memset(&hglare, 0, sizeof(hglare));
    hglare.proc.to = hglare.proc.from = -1;
    bench_out("\n1. Evaluator vs Mistral's own (in-process, warm; runs of N evaluations "
              "alternate between the two; best of %d)\n",
              RUNS);
    bench_note("eval: loading Mistral (%s %s)...", cfg->python, cfg->mistral_helper);
    helper_start(&plain, cfg, srv, NO_PLUGIN);

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

    if (plain.meta)
        bench_out("   Mistral %s on CPython %s (Debian python3-mistral)\n",
                  json_string_value(json_object_get(plain.meta, "mistral")),
                  json_string_value(json_object_get(plain.meta, "python")));
    bench_out("   %-56s %10s %10s %8s %12s %8s\n", "case", "glarex us", "Mistral us", "ratio",
              "JSON ctx us", "ratio");
    for (size_t i = 0; i < n; i++) {
        const eval_case *c = &cases[i];
        helper *h = &plain;
        result g, j, m;
        char label[64], note[900] = "";
        json_t *e;

        if (c->glare) {
            /* Mistral's glare(): glarex's own plugin (contrib/mistral) when it loads and
             * works, else a plugin function returning the same text. */
            h = &hglare;
            if (gctx && cfg->libglarex && bench_exists(cfg->libglarex) &&
                cfg->contrib_mistral && bench_is_dir(cfg->contrib_mistral)) {
                helper_start(h, cfg, srv, PLUGIN_CONTRIB);
                plugin = "contrib";
            } else {
                snprintf(plugin_note, sizeof(plugin_note),
                         "contrib/mistral or %s not available; Mistral's glare() is a plugin "
                         "function returning the same text",
                         cfg->libglarex ? cfg->libglarex : "libglarex");
                helper_start(h, cfg, srv, PLUGIN_FUNCTION);
                plugin = "function";
            }
        }
        case_label(label, sizeof(label), c);
        bench_eval_run(cfg, c, gctx, c->glare && !gctx ? gx_why : NULL, h, &timing, NULL, &g,
                       &j, &m);
        if (c->glare && !m.ok && strcmp(plugin, "contrib") == 0) {
            snprintf(plugin_note, sizeof(plugin_note),
                     "the contrib/mistral plugin failed (%.400s); Mistral's glare() is a "
                     "plugin function returning the same text",
                     m.error);
            helper_stop(h);
            json_decref(g.value);
            json_decref(j.value);
            json_decref(m.value);
            helper_start(h, cfg, srv, PLUGIN_FUNCTION);
            plugin = "function";
            bench_eval_run(cfg, c, gctx, gctx ? NULL : gx_why, h, &timing, NULL, &g, &j, &m);
        }

        double gb = g.ok ? bench_min(g.us, RUNS) : 0, jb = j.ok ? bench_min(j.us, RUNS) : 0;
        double mb = m.ok ? bench_min(m.us, RUNS) : 0;
        e = json_pack("{s:s, s:s}", "case", label, "id", c->id);
        if (c->glare)
            json_object_set_new(e, "mistral_glare", json_string(plugin));
        json_object_set_new(e, "glarex_us", g.ok ? json_real(gb) : json_null());
        json_object_set_new(e, "mistral_us", m.ok ? json_real(mb) : json_null());
        json_object_set_new(e, "ratio", g.ok && m.ok && gb > 0 ? json_real(mb / gb)
                                                                  : json_null());
        if (g.ok) {
            json_object_set_new(e, "glarex_median_us", json_real(bench_median(g.us, RUNS)));
            json_object_set_new(e, "glarex_n", json_integer(g.n));
        } else {
            json_object_set_new(e, "glarex_error", json_string(g.error));
        }
        if (j.ok) {
            json_object_set_new(e, "glarex_json_us", json_real(jb));
            json_object_set_new(e, "glarex_json_median_us",
                                json_real(bench_median(j.us, RUNS)));
            json_object_set_new(e, "glarex_json_n", json_integer(j.n));
            if (m.ok && jb > 0)
                json_object_set_new(e, "ratio_json", json_real(mb / jb));
        } else {
            json_object_set_new(e, "glarex_json_error", json_string(j.error));
        }
        if (m.ok) {
            json_object_set_new(e, "mistral_median_us", json_real(bench_median(m.us, RUNS)));
            json_object_set_new(e, "mistral_n", json_integer(m.n));
        } else {
            json_object_set_new(e, "mistral_error", json_string(m.error));
        }
        if (m.value && (g.value || j.value))
            json_object_set_new(e, "same_result",
                                json_boolean((!g.value || json_equal(g.value, m.value)) &&
                                             (!j.value || json_equal(j.value, m.value))));
        compare_results(note, sizeof(note), &g, &m);
        if (!note[0])
            compare_results(note, sizeof(note), &j, &m);

        char gx[32], ms[32], ra[32], js[32], rj[32];
        snprintf(gx, sizeof(gx), g.ok ? "%.2f" : "ERROR", gb);
        snprintf(ms, sizeof(ms), m.ok ? "%.1f" : "ERROR", mb);
        snprintf(ra, sizeof(ra), g.ok && m.ok && gb > 0 ? "%.0fx" : "-",
                 gb > 0 ? mb / gb : 0.0);
        snprintf(js, sizeof(js), j.ok ? "%.2f" : "ERROR", jb);
        snprintf(rj, sizeof(rj), j.ok && m.ok && jb > 0 ? "%.0fx" : "-",
                 jb > 0 ? mb / jb : 0.0);
        bench_out("   %-56.56s %10s %10s %8s %12s %8s\n", label, gx, ms, ra, js, rj);
        if (!g.ok)
            bench_out("      glarex error: %s\n", g.error);
        if (!j.ok && strcmp(j.error, g.error) != 0)
            bench_out("      glarex error (JSON context): %s\n", j.error);
        if (!m.ok)
            bench_out("      Mistral error: %s\n", m.error);
        if (note[0])
            bench_out("      note: %s\n", note);
        if (c->glare)
            bench_out("      Mistral's glare(): %s\n",
                      strcmp(plugin, "contrib") == 0
                          ? "glarex's contrib/mistral plugin (libglarex through ctypes), warm"
                          : "a plugin function returning the same text");
        if (c->glare && plugin_note[0])
            bench_out("      note: %s\n", plugin_note);
        json_decref(g.value);
        json_decref(j.value);
        json_decref(m.value);
        json_array_append_new(entries, e);
    }

    helper_stop(&plain);
    helper_stop(&hglare);
    glarex_ctx_free(gctx);
    if (cache[0])
        test_rm_rf(cache);
    for (size_t i = 0; i < n; i++) {
        json_decref(cases[i].expr);
        json_decref(cases[i].context);
    }
    return entries;
}
