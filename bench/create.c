/* glarex-bench group 5: creating a workflow artifact with its resources, glarex against
 * the `glare` command of python-glareclient doing the same steps (create, upload the
 * workflow, upload each resource, activate). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RES 32

static const char WORKFLOW[] =
    "---\n"
    "version: '2.0'\n"
    "\n"
    "bench_heal_vms:\n"
    "  input:\n"
    "    - vms\n"
    "  tasks:\n"
    "    heal:\n"
    "      with-items: vm in <% $.vms %>\n"
    "      action: std.echo output=<% $.vm %>\n";

typedef struct wc_files {
    char dir[300];
    char workflow[400];
    size_t n;
    char keys[MAX_RES][32];
    char paths[MAX_RES][400];
} wc_files;

/* Counts the resources of the active artifact `name` 1.0; -1 when absent or not active. */
static int check_artifact(const bench_server *srv, const char *name, char *id, size_t idsz)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_filter f = {"name", "eq", name};
    glarex_store *store = NULL;
    glarex_error err;
    json_t *list = NULL, *a;
    int n = -1;

    so.url = srv->url;
    so.client.auth_token = BENCH_TOKEN;
    lo.filters = &f;
    lo.nfilters = 1;
    if (glarex_store_open(&store, &so, &err) == 0 &&
        glarex_store_list(&list, store, "workflows", &lo, &err) == 0 &&
        json_array_size(list) == 1) {
        const char *status, *aid;
        a = json_array_get(list, 0);
        status = json_string_value(json_object_get(a, "status"));
        aid = json_string_value(json_object_get(a, "id"));
        if (status && strcmp(status, "active") == 0)
            n = (int)json_object_size(json_object_get(a, "resources"));
        snprintf(id, idsz, "%s", aid ? aid : "");
    }
    json_decref(list);
    glarex_store_free(store);
    return n;
}

/* Deletes artifact `id` (untimed; keeps the server's disk use bounded). */
static void delete_artifact(const bench_server *srv, const char *id)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    glarex_error err;
    so.url = srv->url;
    so.client.auth_token = BENCH_TOKEN;
    if (id[0] && glarex_store_open(&store, &so, &err) == 0)
        glarex_store_delete(store, "workflows", id, &err);
    glarex_store_free(store);
}

/* The library: one store connection, create, PUT workflow, PUT each resource, activate. */
static int via_library(const bench_server *srv, const wc_files *w, const char *name,
                       double *secs, char *why, size_t why_size)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    glarex_blob_loc loc = {"workflows", NULL, "workflow", NULL};
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", "1.0");
    json_t *art = NULL;
    glarex_error err;
    char id[64] = "";
    double t0 = bench_now();
    int rc = -1;

    glarex_error_clear(&err);
    so.url = srv->url;
    so.client.auth_token = BENCH_TOKEN;
    if (glarex_store_open(&store, &so, &err) < 0 ||
        glarex_store_create(&art, store, "workflows", fields, &err) < 0)
        goto done;
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(art, "id")));
    json_decref(art);
    art = NULL;
    loc.id = id;
    if (glarex_store_upload_file(&art, store, &loc, w->workflow, "application/x-yaml", NULL,
                                 NULL, &err) < 0)
        goto done;
    for (size_t i = 0; i < w->n; i++) {
        json_decref(art);
        art = NULL;
        loc.field = "resources";
        loc.key = w->keys[i];
        if (glarex_store_upload_file(&art, store, &loc, w->paths[i], NULL, NULL, NULL,
                                     &err) < 0)
            goto done;
    }
    json_decref(art);
    art = NULL;
    if (glarex_store_activate(&art, store, "workflows", id, &err) < 0)
        goto done;
    rc = 0;
done:
    json_decref(art);
    json_decref(fields);
    glarex_store_free(store);
    *secs = bench_now() - t0;
    if (rc < 0)
        snprintf(why, why_size, "%s", err.message);
    return rc;
}

/* Whether the glarex command has a usable workflow-create. */
static int cli_usable(const bench_cfg *cfg)
{
    char *out = NULL;
    int ok = 0;
    if (!cfg->glarex_cli || !bench_can_exec(cfg->glarex_cli))
        return 0;
    const char *argv[] = {cfg->glarex_cli, "workflow-create", "--help", NULL};
    if (bench_run(argv, NULL, &out, NULL, 30, NULL) == 0 && strstr(out, "--resource") &&
        strstr(out, "--name") && strstr(out, "--version"))
        ok = 1;
    free(out);
    return ok;
}

/* The glarex command: `glarex workflow-create FILE --name N --version 1.0 -r KEY=PATH...`,
 * one process. */
static int via_cli(const bench_cfg *cfg, const bench_server *srv, const wc_files *w,
                   const char *name, double *secs, char *why, size_t why_size)
{
    const char *argv[8 + 2 * MAX_RES + 4];
    char rargs[MAX_RES][460], xdg[400], cache[400], errpath[400];
    int argc = 0, rc;

    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/xdg", w->dir);
    snprintf(cache, sizeof(cache), "GLAREX_CACHE_DIR=%s/cli-cache", w->dir);
    snprintf(errpath, sizeof(errpath), "%s/glarex-cli.stderr", w->dir);
    const char *env[] = {xdg, cache, "MISTRAL_URL=", "GLARE_URL=", "OS_AUTH_TOKEN=",
                         "no_proxy=127.0.0.1", NULL};
    argv[argc++] = cfg->glarex_cli;
    argv[argc++] = "--glare-url";
    argv[argc++] = srv->url;
    argv[argc++] = "--os-auth-token";
    argv[argc++] = BENCH_TOKEN;
    argv[argc++] = "--quiet";
    argv[argc++] = "workflow-create";
    argv[argc++] = w->workflow;
    argv[argc++] = "--name";
    argv[argc++] = name;
    argv[argc++] = "--version";
    argv[argc++] = "1.0";
    for (size_t i = 0; i < w->n; i++) {
        snprintf(rargs[i], sizeof(rargs[i]), "%s=%s", w->keys[i], w->paths[i]);
        argv[argc++] = "--resource";
        argv[argc++] = rargs[i];
    }
    argv[argc] = NULL;
    rc = bench_run(argv, env, NULL, errpath, 600, secs);
    if (rc != 0)
        snprintf(why, why_size, "glarex workflow-create exited with %d (see %s)", rc, errpath);
    return rc == 0 ? 0 : -1;
}

/* python-glareclient's `glare` command, one process per step, as a user would run it. */
static int via_glare_cli(const bench_cfg *cfg, const bench_server *srv, const wc_files *w,
                         const char *name, double *secs, int *invocations, char *why,
                         size_t why_size)
{
    const char *env[] = {"no_proxy=127.0.0.1", "NO_PROXY=127.0.0.1", NULL};
    char errpath[400], prop[64];
    double t0 = bench_now();
    int calls = 0, rc = 0;

    snprintf(errpath, sizeof(errpath), "%s/glare-cli.stderr", w->dir);
#define GLARE(...)                                                                       \
    do {                                                                                 \
        const char *argv_[] = {cfg->glare_cli, "--os-glare-url", srv->url, "--auth-token", \
                               BENCH_TOKEN, __VA_ARGS__, NULL};                          \
        calls++;                                                                         \
        rc = bench_run(argv_, env, NULL, errpath, 600, NULL);                            \
        if (rc != 0) {                                                                   \
            snprintf(why, why_size, "glare %s exited with %d (see %s)", argv_[5], rc,    \
                     errpath);                                                           \
            goto done;                                                                   \
        }                                                                                \
    } while (0)
    GLARE("create", "workflows", name, "-V", "1.0");
    GLARE("upload", "workflows", name, "-V", "1.0", "--file", w->workflow, "-p", "workflow");
    for (size_t i = 0; i < w->n; i++) {
        snprintf(prop, sizeof(prop), "resources/%s", w->keys[i]);
        GLARE("upload", "workflows", name, "-V", "1.0", "--file", w->paths[i], "-p", prop);
    }
    GLARE("activate", "workflows", name, "-V", "1.0");
#undef GLARE
done:
    *secs = bench_now() - t0;
    *invocations = calls;
    return rc == 0 ? 0 : -1;
}

json_t *bench_create(const bench_cfg *cfg, const bench_server *srv)
{
    size_t nsmall = cfg->quick ? 2 : 20;
    uint64_t small = cfg->quick ? 4 * KIB : 64 * KIB, big = cfg->quick ? 256 * KIB : 64 * MIB;
    int rounds = cfg->quick ? 1 : 3;
    json_t *res = json_object();
    wc_files w;
    char why[700] = "";
    enum { LIB, CLI, GLARE, NWAYS };
    static const char *const names[NWAYS] = {"glarex library calls",
                                             "glarex workflow-create (CLI)",
                                             "glare CLI (python-glareclient)"};
    static const char *const keys[NWAYS] = {"glarex_library", "glarex_cli", "glare_cli"};
    static const char *const tags[NWAYS] = {"lib", "cli", "glare"};
    double best[NWAYS] = {-1, -1, -1};
    char errs[NWAYS][700];
    int invocations = 0, have_cli = cli_usable(cfg);

    memset(errs, 0, sizeof(errs));
    memset(&w, 0, sizeof(w));
    bench_out("\n5. workflow-create: an artifact with %zu resources of %llu KiB and one of "
              "%llu %s, plus the workflow (best of %d)\n",
              nsmall, (unsigned long long)(small / KIB),
              (unsigned long long)(big >= MIB ? big / MIB : big / KIB),
              big >= MIB ? "MiB" : "KiB", rounds);
    json_object_set_new(res, "resources", json_integer((json_int_t)nsmall + 1));
    json_object_set_new(res, "resource_size", json_integer((json_int_t)small));
    json_object_set_new(res, "big_resource_size", json_integer((json_int_t)big));
    json_object_set_new(res, "rounds", json_integer(rounds));
    if (!srv || !srv->url[0]) {
        snprintf(why, sizeof(why), "no test server");
        goto fail;
    }
    if (!have_cli)
        snprintf(errs[CLI], sizeof(errs[CLI]),
                 "%s has no usable workflow-create; timed through the library instead",
                 cfg->glarex_cli ? cfg->glarex_cli : "glarex");
    if (!cfg->glare_cli || !bench_can_exec(cfg->glare_cli))
        snprintf(errs[GLARE], sizeof(errs[GLARE]), "%s not found (python3-glareclient)",
                 cfg->glare_cli ? cfg->glare_cli : "glare");

    if (bench_mkdtemp(w.dir, sizeof(w.dir), cfg->workdir, "wc") < 0) {
        snprintf(why, sizeof(why), "mkdtemp failed");
        goto fail;
    }
    snprintf(w.workflow, sizeof(w.workflow), "%s/heal_vms.yaml", w.dir);
    FILE *f = fopen(w.workflow, "wb");
    if (!f || fwrite(WORKFLOW, 1, sizeof(WORKFLOW) - 1, f) != sizeof(WORKFLOW) - 1) {
        if (f)
            fclose(f);
        snprintf(why, sizeof(why), "cannot write %s", w.workflow);
        goto fail;
    }
    fclose(f);
    for (size_t i = 0; i <= nsmall; i++) {
        int is_big = i == nsmall;
        snprintf(w.keys[i], sizeof(w.keys[i]), is_big ? "image.bin" : "script_%02zu.sh", i);
        snprintf(w.paths[i], sizeof(w.paths[i]), "%s/%s", w.dir, w.keys[i]);
        if (bench_write_file(w.paths[i], is_big ? big : small, !is_big, 500 + i) < 0) {
            snprintf(why, sizeof(why), "cannot write %s", w.paths[i]);
            goto fail;
        }
    }
    w.n = nsmall + 1;

    for (int round = 0; round < rounds; round++) {
        for (int way = 0; way < NWAYS; way++) {
            char name[64], id[64] = "", e[700] = "";
            double t = -1;
            int rc, calls = 0;
            if (errs[way][0])
                continue;
            snprintf(name, sizeof(name), "bench_create_%s_%d", tags[way], round);
            if (way == GLARE)
                bench_note("workflow_create: glare CLI, round %d of %d (%zu invocations)...",
                           round + 1, rounds, w.n + 3);
            if (way == LIB)
                rc = via_library(srv, &w, name, &t, e, sizeof(e));
            else if (way == CLI)
                rc = via_cli(cfg, srv, &w, name, &t, e, sizeof(e));
            else
                rc = via_glare_cli(cfg, srv, &w, name, &t, &calls, e, sizeof(e));
            int nres = check_artifact(srv, name, id, sizeof(id));
            if (rc == 0 && nres != (int)w.n) {
                snprintf(e, sizeof(e), "%s made no active artifact with %zu resources (%d)",
                         names[way], w.n, nres);
                rc = -1;
            }
            delete_artifact(srv, id);
            if (rc < 0) {
                snprintf(errs[way], sizeof(errs[way]), "%s", e);
                continue;
            }
            if (way == GLARE)
                invocations = calls;
            if (best[way] < 0 || t < best[way])
                best[way] = t;
        }
    }

    int primary = best[CLI] > 0 ? CLI : LIB;
    json_object_set_new(res, "glarex_mode", json_string(primary == CLI ? "cli" : "library"));
    bench_out("   %-32s %10s %14s\n", "", "seconds", "glare CLI / it");
    for (int way = 0; way < NWAYS; way++) {
        json_t *e = json_object();
        char a[32] = "ERROR", b[32] = "-";
        if (best[way] > 0) {
            json_object_set_new(e, "seconds", json_real(best[way]));
            snprintf(a, sizeof(a), "%.3f", best[way]);
            if (way != GLARE && best[GLARE] > 0) {
                json_object_set_new(e, "ratio", json_real(best[GLARE] / best[way]));
                snprintf(b, sizeof(b), "%.1fx", best[GLARE] / best[way]);
            }
        } else {
            json_object_set_new(e, "error", json_string(errs[way]));
        }
        if (way == GLARE && invocations)
            json_object_set_new(e, "invocations", json_integer(invocations));
        json_object_set_new(res, keys[way], e);
        bench_out("   %-32s %10s %14s\n", names[way], best[way] > 0 ? a : "n/a", b);
        if (best[way] <= 0)
            bench_out("      %s\n", errs[way]);
    }
    if (best[primary] > 0 && best[GLARE] > 0) {
        json_object_set_new(res, "glarex_s", json_real(best[primary]));
        json_object_set_new(res, "glare_cli_s", json_real(best[GLARE]));
        json_object_set_new(res, "ratio", json_real(best[GLARE] / best[primary]));
        bench_out("   ratio glare CLI / glarex (%s): %.1fx\n",
                  primary == CLI ? "workflow-create command" : "library calls",
                  best[GLARE] / best[primary]);
    }
    test_rm_rf(w.dir);
    return res;

fail:
    bench_out("   ERROR: %s\n", why);
    json_object_set_new(res, "error", json_string(why));
    if (w.dir[0])
        test_rm_rf(w.dir);
    return res;
}
