/* glarex-bench group 3: cold fetch of a blob from the test server, glarex against curl
 * (to /dev/null, and piped into sha256sum), with glarex's peak RSS growth, for a large
 * blob (streamed to disk) and one under the stream threshold (held in memory). The
 * ceiling is measured in the same run: SHA-256's speed on this CPU (`openssl speed`) and
 * the server's speed to curl -o /dev/null; a verified fetch can go no faster than the
 * slower of the two. The ways of one round run back to back and are compared pairwise. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS_MAX 16

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
 * reference, download, verify the sha256, publish into the disk cache. */
static int run_fetch(const bench_cfg *cfg, const bench_server *srv, const char *name,
                     const char *key, const char *sha256, double *secs, long *rss_growth_kib,
                     char *why, size_t why_size)
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
        glarex_fetch(&blob, ctx, name, "1.0", key, &err) < 0) {
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

/* SHA-256's speed on this CPU in bytes per second (`openssl speed -evp sha256`, 1 MiB
 * blocks: what libcrypto, and so glarex, reaches), or -1. */
static double sha256_speed(const bench_cfg *cfg)
{
    const char *argv[] = {"openssl", "speed", "-evp", "sha256", "-bytes", "1048576",
                          "-seconds", cfg->quick ? "1" : "2", "-mr", NULL};
    char *out = NULL, *line;
    double wall, v = -1;
    if (bench_run(argv, NULL, &out, NULL, 60, &wall) == 0 && out &&
        (line = strstr(out, "+F:")) != NULL) {
        /* +F:<n>:sha256:<bytes per second> */
        char *last = strrchr(strtok(line, "\n"), ':');
        if (last)
            v = strtod(last + 1, NULL);
    }
    free(out);
    return v > 0 ? v : -1;
}

typedef struct cold_object {
    const char *name, *key;
    uint64_t size;
    char id[64], url[300];
    glarex_digests dg;
} cold_object;

/* Uploads `o` (random bytes) and reads back its digests. */
static int cold_upload(cold_object *o, const bench_cfg *cfg, const bench_server *srv,
                       glarex_client *client, char *why, size_t why_size)
{
    char path[400];
    json_t *art = NULL;
    glarex_error err;
    bench_res r = {o->key, path};
    glarex_error_clear(&err);
    snprintf(path, sizeof(path), "%s/%s", cfg->workdir, o->key);
    if (bench_write_file(path, o->size, 0, 42 + o->size) < 0) {
        snprintf(why, why_size, "cannot write %s", path);
        return -1;
    }
    if (bench_make_artifact(o->id, srv->url, o->name, "1.0", &r, 1, &err) < 0 ||
        glarex_client_get(&art, client, "workflows", o->id, &err) < 0 ||
        glarex_digests_from_json(
            &o->dg, json_object_get(json_object_get(art, "resources"), o->key), &err) < 0) {
        snprintf(why, why_size, "upload of %s: %s", o->key, err.message);
        remove(path);
        json_decref(art);
        return -1;
    }
    remove(path);
    json_decref(art);
    snprintf(o->url, sizeof(o->url), "%s/artifacts/workflows/%s/resources/%s", srv->url,
             o->id, o->key);
    return 0;
}

enum { CURL_NULL, CURL_SHA, GX_FETCH, GX_DOWNLOAD, NWAYS };
static const char *const NAMES[NWAYS] = {"curl -o /dev/null", "curl | sha256sum",
                                         "glarex_fetch (cold)", "glarex_client_download"};
static const char *const KEYS[NWAYS] = {"curl_devnull", "curl_sha256sum", "glarex_fetch",
                                        "glarex_download"};

/* One object: every way once per round, in a row. Fills t[way][round] (-1 failed). */
static void cold_rounds(double t[NWAYS][ROUNDS_MAX], long *rss_fetch, long *rss_download,
                        const bench_cfg *cfg, const bench_server *srv, const cold_object *o,
                        int rounds, char errs[NWAYS][700])
{
    glarex_blob_loc loc = {"workflows", o->id, "resources", o->key};
    double warm = 0;

    /* Untimed: brings the blob file into the server's page cache. */
    run_curl(cfg, o->url, 0, o->dg.sha256, o->size, &warm, errs[CURL_NULL],
             sizeof(errs[CURL_NULL]));
    errs[CURL_NULL][0] = '\0';
    for (int round = 0; round < rounds; round++) {
        for (int w = 0; w < NWAYS; w++) {
            long g = -1;
            int rc = -1;
            t[w][round] = -1;
            if (errs[w][0])
                continue; /* failed before: do not insist */
            switch (w) {
            case CURL_NULL:
            case CURL_SHA:
                rc = run_curl(cfg, o->url, w == CURL_SHA, o->dg.sha256, o->size, &t[w][round],
                              errs[w], sizeof(errs[w]));
                break;
            case GX_FETCH:
                rc = run_fetch(cfg, srv, o->name, o->key, o->dg.sha256, &t[w][round], &g,
                               errs[w], sizeof(errs[w]));
                if (rc == 0 && g > *rss_fetch)
                    *rss_fetch = g;
                break;
            default:
                rc = run_download(srv, &loc, &o->dg, &t[w][round], &g, errs[w],
                                  sizeof(errs[w]));
                if (rc == 0 && g > *rss_download)
                    *rss_download = g;
                break;
            }
            if (rc < 0) {
                t[w][round] = -1;
                if (!errs[w][0])
                    snprintf(errs[w], sizeof(errs[w]), "failed");
            }
        }
    }
}

/* Median of the runs that worked, or -1 when any failed. */
static double median_time(const double *t, int rounds)
{
    double v[ROUNDS_MAX];
    for (int k = 0; k < rounds; k++)
        if ((v[k] = t[k]) <= 0)
            return -1;
    return bench_median(v, (size_t)rounds);
}

/* Prints and returns one object's table; `limit` = the ceiling in bytes/s (or -1). */
static json_t *cold_report(double t[NWAYS][ROUNDS_MAX], int rounds, const cold_object *o,
                           long rss_fetch, long rss_download, double sha_bps,
                           char errs[NWAYS][700])
{
    json_t *res = json_object();
    double med[NWAYS], limit = -1;
    for (int w = 0; w < NWAYS; w++)
        med[w] = median_time(t[w], rounds);
    double curl_bps = med[CURL_NULL] > 0 ? (double)o->size / med[CURL_NULL] : -1;
    if (sha_bps > 0 && curl_bps > 0)
        limit = sha_bps < curl_bps ? sha_bps : curl_bps;
    json_object_set_new(res, "size", json_integer((json_int_t)o->size));
    json_object_set_new(res, "rounds", json_integer(rounds));
    char label[64];
    if (o->size >= MIB)
        snprintf(label, sizeof(label), "%llu MiB", (unsigned long long)(o->size / MIB));
    else
        snprintf(label, sizeof(label), "%llu KiB", (unsigned long long)(o->size / KIB));
    bench_out("   %-26s %9s %9s %20s %20s %9s %11s\n", label, "median s", "MiB/s",
              "vs curl|sha (spread)", "vs curl (spread)", "of limit", "RSS growth");
    for (int w = 0; w < NWAYS; w++) {
        json_t *e = json_object();
        char a[32] = "ERROR", b[32] = "-", c[48] = "-", d[48] = "-", f[32] = "-", m[32] = "-";
        bench_ratio vs_sha = bench_ratio_of(t[CURL_SHA], t[w], (size_t)rounds);
        bench_ratio vs_null = bench_ratio_of(t[CURL_NULL], t[w], (size_t)rounds);
        long rss = w == GX_FETCH ? rss_fetch : w == GX_DOWNLOAD ? rss_download : -1;
        if (med[w] > 0) {
            double mibs = (double)o->size / MIB / med[w];
            json_object_set_new(e, "seconds", json_real(med[w]));
            json_object_set_new(e, "mib_per_s", json_real(mibs));
            snprintf(a, sizeof(a), "%.3f", med[w]);
            snprintf(b, sizeof(b), "%.0f", mibs);
            bench_ratio_put(e, "ratio_vs_curl_sha256sum", vs_sha);
            bench_ratio_text(c, sizeof(c), vs_sha);
            bench_ratio_put(e, "ratio_vs_curl_devnull", vs_null);
            bench_ratio_text(d, sizeof(d), vs_null);
            if (limit > 0 && w != CURL_NULL) {
                double frac = (double)o->size / med[w] / limit;
                json_object_set_new(e, "fraction_of_limit", json_real(frac));
                snprintf(f, sizeof(f), "%.0f%%", 100 * frac);
            }
        } else {
            json_object_set_new(e, "error", json_string(errs[w]));
        }
        if (rss >= 0) {
            json_object_set_new(e, "rss_growth_mib", json_real((double)rss / 1024.0));
            snprintf(m, sizeof(m), "%.1f MiB", (double)rss / 1024.0);
        }
        json_object_set_new(res, KEYS[w], e);
        bench_out("   %-26s %9s %9s %20s %20s %9s %11s\n", NAMES[w], a, b, c, d, f, m);
        if (med[w] <= 0)
            bench_out("      error: %s\n", errs[w]);
    }
    /* The headline figures, flat. */
    bench_ratio head = bench_ratio_of(t[CURL_SHA], t[GX_FETCH], (size_t)rounds);
    if (med[GX_FETCH] > 0)
        bench_ratio_put(res, "ratio_vs_curl_sha256sum", head);
    if (limit > 0 && med[GX_FETCH] > 0)
        json_object_set_new(res, "fraction_of_limit",
                            json_real((double)o->size / med[GX_FETCH] / limit));
    if (rss_fetch >= 0)
        json_object_set_new(res, "rss_growth_mib", json_real((double)rss_fetch / 1024.0));
    json_object_set_new(res, "limit_mib_per_s", limit > 0 ? json_real(limit / MIB) : json_null());
    json_object_set_new(res, "curl_devnull_mib_per_s",
                        curl_bps > 0 ? json_real(curl_bps / MIB) : json_null());
    return res;
}

json_t *bench_cold(const bench_cfg *cfg, const bench_server *srv)
{
    int rounds = cfg->quick ? 1 : 5;
    json_t *res = json_object();
    char why[700] = "";
    glarex_client_options co = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_client *client = NULL;
    glarex_error err;
    cold_object big = {"bench_big", "big.bin", cfg->quick ? 4 * MIB : 256 * MIB, "", "", {"", "", 0}};
    cold_object small = {"bench_small", "small.bin", cfg->quick ? 64 * KIB : 4 * MIB, "", "",
                         {"", "", 0}};
    double t[NWAYS][ROUNDS_MAX];
    char errs[NWAYS][700];
    long rss_f = -1, rss_d = -1;

    bench_out("\n3. Cold fetch from the test server on 127.0.0.1 (median of %d rounds; ratios "
              "paired by round, spread min-max)\n",
              rounds);
    glarex_error_clear(&err);
    if (!srv || !srv->url[0]) {
        snprintf(why, sizeof(why), "no test server");
        goto fail;
    }
    double sha_bps = sha256_speed(cfg);
    json_object_set_new(res, "sha256_mib_per_s", sha_bps > 0 ? json_real(sha_bps / MIB) : json_null());
    co.url = srv->url;
    co.auth_token = BENCH_TOKEN;
    bench_note("cold_fetch: uploading %llu MiB...", (unsigned long long)(big.size / MIB));
    if (glarex_client_new(&client, &co, &err) < 0) {
        snprintf(why, sizeof(why), "client: %s", err.message);
        goto fail;
    }
    if (cold_upload(&big, cfg, srv, client, why, sizeof(why)) < 0 ||
        cold_upload(&small, cfg, srv, client, why, sizeof(why)) < 0)
        goto fail;

    memset(errs, 0, sizeof(errs));
    cold_rounds(t, &rss_f, &rss_d, cfg, srv, &big, rounds, errs);
    json_t *bigres = cold_report(t, rounds, &big, rss_f, rss_d, sha_bps, errs);
    double limit = json_real_value(json_object_get(bigres, "limit_mib_per_s"));
    bench_out("   ceiling: SHA-256 %.0f MiB/s (openssl speed -evp sha256), the server to curl "
              "-o /dev/null %.0f MiB/s: a verified fetch reaches at most %.0f MiB/s\n",
              sha_bps / MIB, json_real_value(json_object_get(bigres, "curl_devnull_mib_per_s")),
              limit);

    memset(errs, 0, sizeof(errs));
    rss_f = rss_d = -1;
    cold_rounds(t, &rss_f, &rss_d, cfg, srv, &small, rounds, errs);
    json_t *smallres = cold_report(t, rounds, &small, rss_f, rss_d, sha_bps, errs);
    bench_out("   (glarex_fetch: resolve, download, verify the sha256, write the disk cache "
              "with fsync and rename; a full run's 256 MiB blob is over the 8 MiB stream "
              "threshold, its 4 MiB one under it. curl | sha256sum starts two processes per "
              "run)\n");

    /* The large blob's figures stay at the top, as before; the small one beside them. */
    json_object_update(res, bigres);
    json_decref(bigres);
    json_object_set_new(res, "below_stream_threshold", smallres);
    glarex_client_free(client);
    return res;

fail:
    bench_out("   ERROR: %s\n", why);
    json_object_set_new(res, "error", json_string(why));
    glarex_client_free(client);
    return res;
}
