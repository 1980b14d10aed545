/*
 * glarex-bench: glarex side by side with what users would otherwise run, in one run on
 * one machine, reported as ratios (see bench/README.md).
 *
 *   1. eval             the evaluator vs Mistral's own (python3-mistral), in-process, warm
 *      eval_corpus      the same over every case of the public conformance corpus
 *      eval_growth      a lookup and a select over contexts of 10 to 100k items
 *   2. warm_glare       glare() cache hits per second on 1, 2, N threads, 4 KiB and 16 MiB
 *   3. cold_fetch       256 MiB and 4 MiB blobs: glarex vs curl -o /dev/null and
 *                       curl | sha256sum, against the ceiling (SHA-256 speed, the server)
 *   4. single_flight    64 threads, one cold blob: GETs at the server, wall time
 *   5. workflow_create  an artifact with 21 resources: glarex vs python-glareclient's glare
 *
 * Everything runs against a Glare-compatible test server (tests/glare_server.py) that
 * the bench starts on 127.0.0.1 and stops at the end.
 */
#include "bench.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef GLAREX_BENCH_SOURCE_DIR
#define GLAREX_BENCH_SOURCE_DIR "."
#endif
#ifndef GLAREX_BENCH_BUILD_DIR
#define GLAREX_BENCH_BUILD_DIR "build"
#endif

static const struct {
    const char *name;
    unsigned bit;
} GROUPS[] = {{"eval", BENCH_G_EVAL},
              {"warm_glare", BENCH_G_WARM},
              {"cold_fetch", BENCH_G_COLD},
              {"single_flight", BENCH_G_SINGLE},
              {"workflow_create", BENCH_G_CREATE},
              {"eval_corpus", BENCH_G_EVAL_CORPUS},
              {"eval_growth", BENCH_G_EVAL_GROWTH}};
#define NGROUPS (sizeof(GROUPS) / sizeof(GROUPS[0]))

static volatile sig_atomic_t server_pid;

static void on_signal(int sig)
{
    if (server_pid > 0)
        kill((pid_t)server_pid, SIGTERM);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: glarex-bench [--quick] [--json FILE] [--only GROUP[,GROUP...]]\n"
            "                    [--python PATH] [--server PATH] [--mistral-helper PATH]\n"
            "                    [--glarex-cli PATH] [--glare-cli PATH] [--curl PATH]\n"
            "                    [--libglarex PATH] [--contrib-mistral DIR] [--keep]\n"
            "\n"
            "Runs glarex side by side with Mistral's evaluator, curl and python-glareclient\n"
            "and prints ratios. Groups: eval, warm_glare, cold_fetch, single_flight,\n"
            "workflow_create, eval_corpus, eval_growth (default: all).\n"
            "\n"
            "  --quick            tiny sizes and short runs (what CI runs; numbers mean little)\n"
            "  --json FILE        also write the figures as JSON, one key per group\n"
            "  --only LIST        run only these groups\n"
            "  --python PATH      Debian's python3 with python3-mistral [GLAREX_TEST_PYTHON,\n"
            "                     default /usr/bin/python3]\n"
            "  --server PATH      tests/glare_server.py [GLAREX_TEST_SERVER]\n"
            "  --mistral-helper PATH  bench/mistral_bench.py\n"
            "  --glarex-cli PATH  the glarex command [default BUILD/src/cli/glarex]\n"
            "  --glare-cli PATH   python-glareclient's command [default /usr/bin/glare]\n"
            "  --curl PATH        curl [default curl]\n"
            "  --libglarex PATH   libglarex.so.0 for Mistral's glare() plugin\n"
            "                     [default BUILD/src/libglarex.so.0]\n"
            "  --contrib-mistral DIR  glarex's Mistral plugin [default SRC/contrib/mistral]\n"
            "  --keep             keep the scratch directory\n"
            "\n"
            "SRC and BUILD: GLAREX_TEST_SOURCE_DIR / GLAREX_TEST_BUILD_DIR, else the\n"
            "directories this program was configured with.\n");
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static void cpu_model(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, size, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* The closing table: one line per headline figure. */
static void summary(const json_t *root)
{
    const json_t *g, *e;
    size_t i;

    bench_out("\nSummary (ratios as defined above; 'ERROR' = not measured)\n");
    if ((g = json_object_get(root, "eval"))) {
        json_array_foreach(g, i, e) {
            char r[32], rb[32];
            if (json_is_number(json_object_get(e, "ratio")))
                snprintf(r, sizeof(r), "%.0fx", num(e, "ratio"));
            else
                snprintf(r, sizeof(r), "ERROR");
            if (json_is_number(json_object_get(e, "ratio_json")))
                snprintf(rb, sizeof(rb), "%.0fx", num(e, "ratio_json"));
            else
                snprintf(rb, sizeof(rb), "-");
            bench_out("   eval             %-56.56s Mistral/glarex %6s (JSON context each "
                      "call %s)\n",
                      json_string_value(json_object_get(e, "case")), r, rb);
        }
    }
    if ((g = json_object_get(root, "eval_corpus")) && json_object_get(g, "cases")) {
        bench_out("   eval_corpus      %-56s %lld of %lld; min %.0fx, median %.0fx (JSON "
                  "context each call: min %.0fx, median %.0fx)\n",
                  "same results as Mistral; Mistral/glarex",
                  (long long)json_integer_value(json_object_get(g, "same_results")),
                  (long long)json_integer_value(json_object_get(g, "cases")), num(g, "min_ratio"),
                  num(g, "median_ratio"), num(g, "min_ratio_json"), num(g, "median_ratio_json"));
    }
    if ((g = json_object_get(root, "eval_growth"))) {
        json_array_foreach(g, i, e) {
            char what[64];
            snprintf(what, sizeof(what), "%s, %lld items",
                     json_string_value(json_object_get(e, "case")),
                     (long long)json_integer_value(json_object_get(e, "items")));
            bench_out("   eval_growth      %-56s Mistral/glarex %6.0fx (JSON context each call "
                      "%.0fx)\n",
                      what, num(e, "ratio"), num(e, "ratio_json"));
        }
    }
    if ((g = json_object_get(root, "warm_glare"))) {
        const json_t *res = json_object_get(g, "results");
        json_array_foreach(res, i, e) {
            char label[64];
            snprintf(label, sizeof(label), "%s: hits/s on 1 thread; 2 threads / 1",
                     json_string_value(json_object_get(e, "resource")));
            if (json_is_number(json_object_get(e, "hits_per_s_1_thread")) &&
                json_is_number(json_object_get(e, "scaling_2_threads")))
                bench_out("   warm_glare       %-56s %.0f; %.2f\n", label,
                          num(e, "hits_per_s_1_thread"), num(e, "scaling_2_threads"));
            else
                bench_out("   warm_glare       %-56s ERROR\n", label);
        }
        if (json_is_number(json_object_get(g, "scoped_cost_ratio")))
            bench_out("   warm_glare       %-56s %.2f\n",
                      "a tenant's scoped hit costs x the context's own", num(g, "scoped_cost_ratio"));
    }
    if ((g = json_object_get(root, "cold_fetch"))) {
        const json_t *fe = json_object_get(g, "glarex_fetch");
        const json_t *sm = json_object_get(json_object_get(g, "below_stream_threshold"),
                                           "glarex_fetch");
        if (json_is_number(json_object_get(g, "ratio_vs_curl_sha256sum")))
            bench_out("   cold_fetch       %-56s %.2fx, %.0f%% of the limit, RSS +%.1f MiB\n",
                      "glarex_fetch, large blob / curl|sha256sum",
                      num(g, "ratio_vs_curl_sha256sum"), 100 * num(g, "fraction_of_limit"),
                      num(fe, "rss_growth_mib"));
        else
            bench_out("   cold_fetch       glarex_fetch ERROR\n");
        if (json_is_number(json_object_get(sm, "ratio_vs_curl_sha256sum")))
            bench_out("   cold_fetch       %-56s %.2fx\n",
                      "glarex_fetch, small blob / curl|sha256sum",
                      num(sm, "ratio_vs_curl_sha256sum"));
    }
    if ((g = json_object_get(root, "single_flight"))) {
        if (json_is_number(json_object_get(g, "ratio")))
            bench_out("   single_flight    %-56s %lld GET(s); %.2fx one fetch\n",
                      "64 threads, one cold blob",
                      (long long)json_integer_value(json_object_get(g, "blob_gets")),
                      num(g, "ratio"));
        else
            bench_out("   single_flight    ERROR\n");
    }
    if ((g = json_object_get(root, "workflow_create"))) {
        if (json_is_number(json_object_get(g, "ratio")))
            bench_out("   workflow_create  %-56s %.1fx (glarex: %s)\n", "glare CLI time / glarex time",
                      num(g, "ratio"), json_string_value(json_object_get(g, "glarex_mode")));
        else
            bench_out("   workflow_create  ERROR\n");
    }
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    const char *json_path = NULL, *only = NULL;
    const char *src = env_or("GLAREX_TEST_SOURCE_DIR", GLAREX_BENCH_SOURCE_DIR);
    const char *bld = env_or("GLAREX_TEST_BUILD_DIR", GLAREX_BENCH_BUILD_DIR);
    char server_default[1024], helper_default[1024], cli_default[1024], lib_default[1024],
        contrib_default[1024], corpus_default[1024], cpu[256], date[64], host[256] = "?";
    bench_server srv;
    json_t *root = NULL, *meta;
    glarex_error err;
    int keep = 0, failed = 0;
    double t_start = bench_now();

    memset(&cfg, 0, sizeof(cfg));
    memset(&srv, 0, sizeof(srv));
    snprintf(server_default, sizeof(server_default), "%s/tests/glare_server.py", src);
    snprintf(helper_default, sizeof(helper_default), "%s/bench/mistral_bench.py", src);
    snprintf(cli_default, sizeof(cli_default), "%s/src/cli/glarex", bld);
    snprintf(lib_default, sizeof(lib_default), "%s/src/libglarex.so.0", bld);
    snprintf(contrib_default, sizeof(contrib_default), "%s/contrib/mistral", src);
    snprintf(corpus_default, sizeof(corpus_default), "%s/tests/conformance/public.json", src);
    cfg.python = env_or("GLAREX_TEST_PYTHON", "/usr/bin/python3");
    cfg.server_script = env_or("GLAREX_TEST_SERVER", server_default);
    cfg.mistral_helper = helper_default;
    cfg.glarex_cli = cli_default;
    cfg.glare_cli = "/usr/bin/glare";
    cfg.curl = "curl";
    cfg.libglarex = lib_default;
    cfg.contrib_mistral = contrib_default;
    cfg.corpus = corpus_default;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **value = NULL;
        if (strcmp(a, "--quick") == 0)
            cfg.quick = 1;
        else if (strcmp(a, "--keep") == 0)
            keep = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0)
            value = &json_path;
        else if (strcmp(a, "--only") == 0)
            value = &only;
        else if (strcmp(a, "--python") == 0)
            value = &cfg.python;
        else if (strcmp(a, "--server") == 0)
            value = &cfg.server_script;
        else if (strcmp(a, "--mistral-helper") == 0)
            value = &cfg.mistral_helper;
        else if (strcmp(a, "--glarex-cli") == 0)
            value = &cfg.glarex_cli;
        else if (strcmp(a, "--glare-cli") == 0)
            value = &cfg.glare_cli;
        else if (strcmp(a, "--curl") == 0)
            value = &cfg.curl;
        else if (strcmp(a, "--libglarex") == 0)
            value = &cfg.libglarex;
        else if (strcmp(a, "--contrib-mistral") == 0)
            value = &cfg.contrib_mistral;
        else {
            fprintf(stderr, "glarex-bench: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "glarex-bench: %s needs a value\n", a);
                return 2;
            }
            *value = argv[++i];
        }
    }
    if (only) {
        const char *p = only;
        while (*p) {
            size_t len = strcspn(p, ",");
            size_t g;
            for (g = 0; g < NGROUPS; g++)
                if (strlen(GROUPS[g].name) == len && strncmp(p, GROUPS[g].name, len) == 0)
                    break;
            if (g == NGROUPS) {
                fprintf(stderr, "glarex-bench: unknown group '%.*s' in --only\n", (int)len, p);
                return 2;
            }
            cfg.groups |= GROUPS[g].bit;
            p += len;
            if (*p == ',')
                p++;
        }
    } else {
        cfg.groups = ~0u;
    }

    glarex_error_clear(&err);
    if (glarex_global_init(&err) < 0) {
        fprintf(stderr, "glarex-bench: %s\n", err.message);
        return 1;
    }
    if (bench_mkdtemp(cfg.workdir, sizeof(cfg.workdir), NULL, "run") < 0) {
        perror("glarex-bench: mkdtemp");
        return 1;
    }

    /* Header: when, where. */
    time_t now = time(NULL);
    struct tm tm;
    struct utsname un;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
    gethostname(host, sizeof(host) - 1);
    cpu_model(cpu, sizeof(cpu));
    if (uname(&un) != 0)
        snprintf(un.release, sizeof(un.release), "?");
    bench_out("glarex-bench (glarex %s)%s: %s, %d CPUs (%s), Linux %s\n", glarex_version(),
              cfg.quick ? " --quick (tiny sizes: the numbers mean little)" : "", date,
              bench_ncpu(), cpu, un.release);

    root = json_object();
    meta = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}", "date", date, "glarex", glarex_version(),
                     "nproc", bench_ncpu(), "cpu", cpu, "kernel", un.release, "quick",
                     cfg.quick);

    /* One server for every group; blobs up to 300 MiB (the 256 MiB cold fetch). */
    const char *extra[] = {"--max-blob-size", "314572800", NULL};
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (bench_server_start(&srv, &cfg, extra) < 0) {
        failed = 1;
        srv.url[0] = '\0';
    } else {
        server_pid = srv.pid;
        json_object_set_new(meta, "server", json_string(srv.url));
    }

    json_t *(*const fns[NGROUPS])(const bench_cfg *, const bench_server *) = {
        bench_eval, bench_warm, bench_cold, bench_single, bench_create, bench_eval_corpus,
        bench_eval_growth};
    for (size_t g = 0; g < NGROUPS; g++) {
        if (!(cfg.groups & GROUPS[g].bit))
            continue;
        double t0 = bench_now();
        json_t *r = fns[g](&cfg, &srv);
        if (!r) {
            r = json_pack("{s:s}", "error", "out of memory");
        }
        if (json_is_object(r) && json_object_get(r, "error"))
            failed = 1;
        bench_note("%s done in %.1f s", GROUPS[g].name, bench_now() - t0);
        json_object_set_new(root, GROUPS[g].name, r);
    }
    summary(root);

    server_pid = 0;
    bench_server_stop(&srv);
    if (srv.dir[0] && !keep)
        test_rm_rf(srv.dir);
    if (!keep)
        test_rm_rf(cfg.workdir);
    else
        bench_note("scratch directory kept: %s", cfg.workdir);

    json_object_set_new(meta, "seconds", json_real(bench_now() - t_start));
    json_object_set_new(root, "meta", meta);
    if (json_path && json_dump_file(root, json_path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "glarex-bench: cannot write %s\n", json_path);
        failed = 1;
    }
    json_decref(root);
    curl_global_cleanup();
    bench_out("\n%s in %.0f s\n", failed ? "finished with errors" : "done", bench_now() - t_start);
    return failed ? 1 : 0;
}
