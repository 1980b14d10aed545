/* glarex-bench group 3: cold fetch of a large blob from the test server, glarex against
 * curl (to /dev/null, and piped into sha256sum), with glarex's peak RSS growth. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cold_sink {
    uint64_t bytes;
} cold_sink;

static int sink_write(const char *data, size_t len, void *payload)
{
    (void)data;
    ((cold_sink *)payload)->bytes += len;
    return 0;
}

/* glarex_fetch through a fresh context whose cache directory is empty: resolve the
 * reference, download, verify sha256 and md5, publish into the disk cache. */
static int run_fetch(const bench_cfg *cfg, const bench_server *srv, const char *sha256,
                     double *secs, long *rss_growth_kib, char *why, size_t why_size)
{
    char cache[300];
    glarex_ctx *ctx = NULL;
    glarex_blob *blob = NULL;
    glarex_error err;
    long rss0, hwm;
    double t0;
    int rc = -1;

    glarex_error_clear(&err);
    if (bench_mkdtemp(cache, sizeof(cache), cfg->workdir, "coldcache") < 0) {
        snprintf(why, why_size, "mkdtemp failed");
        return -1;
    }
    int hwm_ok = bench_reset_hwm() == 0;
    rss0 = bench_status_kib("VmRSS");
    t0 = bench_now();
    if (bench_ctx_new(&ctx, srv->url, cache, &err) < 0 ||
        glarex_fetch(&blob, ctx, "bench_big", "1.0", "big.bin", &err) < 0) {
        snprintf(why, why_size, "%s", err.message);
        goto done;
    }
    *secs = bench_now() - t0;
    hwm = bench_status_kib("VmHWM");
    *rss_growth_kib = hwm_ok && hwm >= 0 && rss0 >= 0 ? hwm - rss0 : -1;
    if (strcmp(glarex_blob_sha256(blob), sha256) != 0) {
        snprintf(why, why_size, "fetched sha256 %s, expected %s", glarex_blob_sha256(blob),
                 sha256);
        goto done;
    }
    rc = 0;
done:
    glarex_blob_free(blob);
    glarex_ctx_free(ctx);
    test_rm_rf(cache);
    return rc;
}

/* glarex_client_download with a fresh client into a sink that drops the bytes, verified
 * against the artifact's sha256, md5 and size and the server's digest headers. */
static int run_download(const bench_server *srv, const glarex_blob_loc *loc,
                        const glarex_digests *expect, double *secs, long *rss_growth_kib,
                        char *why, size_t why_size)
{
    glarex_client_options co = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_client *client = NULL;
    glarex_download_info info;
    glarex_error err;
    cold_sink sink = {0};
    long rss0, hwm;
    double t0;
    int rc = -1;

    glarex_error_clear(&err);
    co.url = srv->url;
    co.auth_token = BENCH_TOKEN;
    int hwm_ok = bench_reset_hwm() == 0;
    rss0 = bench_status_kib("VmRSS");
    t0 = bench_now();
    if (glarex_client_new(&client, &co, &err) < 0 ||
        glarex_client_download(&info, client, loc, expect, sink_write, &sink, &err) < 0) {
        snprintf(why, why_size, "%s", err.message);
        goto done;
    }
    *secs = bench_now() - t0;
    hwm = bench_status_kib("VmHWM");
    *rss_growth_kib = hwm_ok && hwm >= 0 && rss0 >= 0 ? hwm - rss0 : -1;
    if (sink.bytes != (uint64_t)expect->size) {
        snprintf(why, why_size, "downloaded %llu bytes, expected %lld",
                 (unsigned long long)sink.bytes, (long long)expect->size);
        goto done;
    }
    rc = 0;
done:
    glarex_client_free(client);
    return rc;
}

static int run_curl(const bench_cfg *cfg, const char *url, int hash, const char *sha256,
                    uint64_t size, double *secs, char *why, size_t why_size)
{
    char hdr[128], *out = NULL;
    int rc;

    snprintf(hdr, sizeof(hdr), "X-Auth-Token: %s", BENCH_TOKEN);
    if (hash) {
        const char *argv[] = {"/bin/sh", "-c",
                              "\"$0\" -sS --fail --noproxy '*' -H \"$1\" \"$2\" | sha256sum",
                              cfg->curl, hdr, url, NULL};
        rc = bench_run(argv, NULL, &out, NULL, 600, secs);
        if (rc == 0 && (strlen(out) < 64 || strncmp(out, sha256, 64) != 0)) {
            snprintf(why, why_size, "curl | sha256sum printed %.70s, expected %s", out,
                     sha256);
            rc = -1;
        }
    } else {
        const char *argv[] = {cfg->curl, "-sS", "--fail", "--noproxy", "*", "-o",
                              "/dev/null", "-w", "%{size_download}", "-H", hdr, url, NULL};
        rc = bench_run(argv, NULL, &out, NULL, 600, secs);
        if (rc == 0 && strtoull(out, NULL, 10) != size) {
            snprintf(why, why_size, "curl downloaded %s bytes, expected %llu", out,
                     (unsigned long long)size);
            rc = -1;
        }
    }
    if (rc > 0)
        snprintf(why, why_size, "%s exited with status %d", cfg->curl, rc);
    else if (rc < 0 && !why[0])
        snprintf(why, why_size, "%s did not run", cfg->curl);
    free(out);
    return rc == 0 ? 0 : -1;
}

json_t *bench_cold(const bench_cfg *cfg, const bench_server *srv)
{
    uint64_t size = cfg->quick ? 4 * MIB : 256 * MIB;
    int rounds = cfg->quick ? 1 : 3;
    json_t *res = json_object(), *art = NULL;
    char path[400], id[64] = "", url[300], why[700] = "";
    glarex_client_options co = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_client *client = NULL;
    glarex_digests dg;
    glarex_error err;
    glarex_blob_loc loc = {"workflows", NULL, "resources", "big.bin"};
    enum { CURL_NULL, CURL_SHA, GX_FETCH, GX_DOWNLOAD, NWAYS };
    static const char *const names[NWAYS] = {"curl -o /dev/null", "curl | sha256sum",
                                             "glarex_fetch (cold)",
                                             "glarex_client_download"};
    static const char *const keys[NWAYS] = {"curl_devnull", "curl_sha256sum", "glarex_fetch",
                                            "glarex_download"};
    double best[NWAYS], t;
    long rss[2] = {-1, -1};
    char errs[NWAYS][700];

    bench_out("\n3. Cold fetch of a %llu MiB blob from the test server on 127.0.0.1 (best of "
              "%d)\n",
              (unsigned long long)(size / MIB), rounds);
    json_object_set_new(res, "size", json_integer((json_int_t)size));
    json_object_set_new(res, "rounds", json_integer(rounds));
    memset(errs, 0, sizeof(errs));
    for (int i = 0; i < NWAYS; i++)
        best[i] = -1;
    glarex_error_clear(&err);
    if (!srv || !srv->url[0]) {
        snprintf(why, sizeof(why), "no test server");
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/big.bin", cfg->workdir);
    bench_note("cold_fetch: uploading %llu MiB...", (unsigned long long)(size / MIB));
    bench_res r = {"big.bin", path};
    if (bench_write_file(path, size, 0, 42) < 0) {
        snprintf(why, sizeof(why), "cannot write %s", path);
        goto fail;
    }
    if (bench_make_artifact(id, srv->url, "bench_big", "1.0", &r, 1, &err) < 0) {
        snprintf(why, sizeof(why), "upload: %s", err.message);
        goto fail;
    }
    remove(path);
    co.url = srv->url;
    co.auth_token = BENCH_TOKEN;
    if (glarex_client_new(&client, &co, &err) < 0 ||
        glarex_client_get(&art, client, "workflows", id, &err) < 0 ||
        glarex_digests_from_json(
            &dg, json_object_get(json_object_get(art, "resources"), "big.bin"), &err) < 0) {
        snprintf(why, sizeof(why), "artifact: %s", err.message);
        goto fail;
    }
    loc.id = id;
    snprintf(url, sizeof(url), "%s/artifacts/workflows/%s/resources/big.bin", srv->url, id);

    /* Untimed: brings the blob file into the server's page cache. */
    t = 0;
    run_curl(cfg, url, 0, dg.sha256, size, &t, errs[CURL_NULL], sizeof(errs[CURL_NULL]));
    errs[CURL_NULL][0] = '\0';

    for (int round = 0; round < rounds; round++) {
        for (int w = 0; w < NWAYS; w++) {
            long g = -1;
            int rc;
            if (errs[w][0])
                continue; /* failed before: do not insist */
            t = 0;
            switch (w) {
            case CURL_NULL:
            case CURL_SHA:
                rc = run_curl(cfg, url, w == CURL_SHA, dg.sha256, size, &t, errs[w],
                              sizeof(errs[w]));
                break;
            case GX_FETCH:
                rc = run_fetch(cfg, srv, dg.sha256, &t, &g, errs[w], sizeof(errs[w]));
                break;
            default:
                rc = run_download(srv, &loc, &dg, &t, &g, errs[w], sizeof(errs[w]));
                break;
            }
            if (rc < 0) {
                if (!errs[w][0])
                    snprintf(errs[w], sizeof(errs[w]), "failed");
                continue;
            }
            if (best[w] < 0 || t < best[w])
                best[w] = t;
            if (w >= GX_FETCH && g > rss[w - GX_FETCH])
                rss[w - GX_FETCH] = g;
        }
    }

    bench_out("   %-26s %10s %10s %12s %12s %16s\n", "", "seconds", "MiB/s", "vs curl|sha",
              "vs curl", "peak RSS growth");
    for (int w = 0; w < NWAYS; w++) {
        json_t *e = json_object();
        char a[32] = "ERROR", b[32] = "-", c[32] = "-", d[32] = "-", m[32] = "-";
        if (best[w] > 0) {
            double mibs = (double)size / MIB / best[w];
            json_object_set_new(e, "seconds", json_real(best[w]));
            json_object_set_new(e, "mib_per_s", json_real(mibs));
            snprintf(a, sizeof(a), "%.3f", best[w]);
            snprintf(b, sizeof(b), "%.0f", mibs);
            if (best[CURL_SHA] > 0) {
                json_object_set_new(e, "ratio_vs_curl_sha256sum",
                                    json_real(best[CURL_SHA] / best[w]));
                snprintf(c, sizeof(c), "%.2fx", best[CURL_SHA] / best[w]);
            }
            if (best[CURL_NULL] > 0) {
                json_object_set_new(e, "ratio_vs_curl_devnull",
                                    json_real(best[CURL_NULL] / best[w]));
                snprintf(d, sizeof(d), "%.2fx", best[CURL_NULL] / best[w]);
            }
        } else {
            json_object_set_new(e, "error", json_string(errs[w]));
        }
        if (w >= GX_FETCH && rss[w - GX_FETCH] >= 0) {
            json_object_set_new(e, "peak_rss_growth_mib",
                                json_real((double)rss[w - GX_FETCH] / 1024.0));
            snprintf(m, sizeof(m), "%.1f MiB", (double)rss[w - GX_FETCH] / 1024.0);
        }
        json_object_set_new(res, keys[w], e);
        bench_out("   %-26s %10s %10s %12s %12s %16s\n", names[w], a, b, c, d, m);
        if (best[w] <= 0)
            bench_out("      error: %s\n", errs[w]);
    }
    /* The headline figures, flat. */
    if (best[GX_FETCH] > 0 && best[CURL_SHA] > 0)
        json_object_set_new(res, "ratio", json_real(best[CURL_SHA] / best[GX_FETCH]));
    if (rss[0] >= 0)
        json_object_set_new(res, "peak_rss_growth_mib", json_real((double)rss[0] / 1024.0));
    bench_out("   (throughput ratios: glarex / curl, higher is better; glarex_fetch includes "
              "resolving, sha256+md5 and writing the disk cache)\n");
    glarex_client_free(client);
    json_decref(art);
    return res;

fail:
    bench_out("   ERROR: %s\n", why);
    json_object_set_new(res, "error", json_string(why));
    glarex_client_free(client);
    json_decref(art);
    return res;
}
