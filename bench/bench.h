/* glarex-bench: shared declarations of the benchmark program (not a library API). */
#ifndef GLAREX_BENCH_H
#define GLAREX_BENCH_H

#include <glarex.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server_io.h" /* test_rm_rf, and the test server */

#define BENCH_TOKEN "bench:benchproj:member"
#define KIB 1024ull
#define MIB (1024ull * 1024ull)

/* What to run and where the peers are. */
typedef struct bench_cfg {
    int quick;
    const char *python;        /* Debian's python3, for the server and Mistral */
    const char *server_script; /* tests/glare_server.py */
    const char *mistral_helper;/* bench/mistral_bench.py */
    const char *glarex_cli;    /* build/src/cli/glarex */
    const char *glare_cli;     /* /usr/bin/glare (python3-glareclient) */
    const char *curl;          /* curl command */
    const char *contrib_mistral; /* contrib/mistral (glarex's Mistral plugin) */
    const char *libglarex;     /* build/src/libglarex.so.0, for that plugin */
    const char *corpus;        /* tests/conformance/public.json */
    char workdir[256];         /* scratch directory of this run */
    unsigned groups;           /* bit set of BENCH_G_* */
    int verbose;
} bench_cfg;

enum {
    BENCH_G_EVAL = 1u << 0,
    BENCH_G_WARM = 1u << 1,
    BENCH_G_COLD = 1u << 2,
    BENCH_G_SINGLE = 1u << 3,
    BENCH_G_CREATE = 1u << 4,
    BENCH_G_EVAL_CORPUS = 1u << 5,
    BENCH_G_EVAL_GROWTH = 1u << 6,
};

/* The Glare-compatible test server, started by the bench. */
typedef struct bench_server {
    pid_t pid;
    char url[64];
    char dir[300];
    char log_path[340];
} bench_server;

/* ---- util.c ---- */

/* Monotonic time in seconds. */
double bench_now(void);

/* printf to stdout, flushed (the table streams while groups run). */
void bench_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress/diagnostic line on stderr. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int bench_mkdtemp(char *buf, size_t size, const char *parent, const char *tag);

/* Writes `size` bytes to `path`: printable ASCII text (text != 0) or pseudo-random
 * bytes, derived from `seed`. Returns 0 or -1. */
int bench_write_file(const char *path, uint64_t size, int text, uint64_t seed);
/* Fills `buf` with printable text derived from `seed`. */
void bench_fill_text(char *buf, size_t size, uint64_t seed);

/* Starts the test server with `extra` arguments (NULL-terminated, may be NULL). */
int bench_server_start(bench_server *s, const bench_cfg *cfg, const char *const *extra);
void bench_server_stop(bench_server *s);
/* The count of requests "METHOD kind" in /__control/stats (e.g. "GET blob"), or -1. */
int bench_server_stat(const bench_server *s, const char *key);
/* DELETE /__control/stats. */
int bench_server_reset_stats(const bench_server *s);

/* Runs argv (argv[0] searched in PATH when it has no '/'), with `env` (NULL-terminated
 * "NAME=value" strings added to the environment, may be NULL). stdout goes to
 * *out (malloc'd, NUL-terminated) when `out` is not NULL, else to /dev/null; stderr
 * goes to `errpath` when set, else to /dev/null. `wall` receives the wall time.
 * Stops the child after `timeout_s`. Returns the exit status, or -1 if it could not
 * run / was killed / timed out. */
int bench_run(const char *const *argv, const char *const *env, char **out,
              const char *errpath, double timeout_s, double *wall);

/* A child process spoken to in JSON lines (bench/mistral_bench.py --serve). */
typedef struct bench_proc {
    pid_t pid;
    int to, from; /* its stdin, its stdout */
    char *buf;
    size_t len, cap;
} bench_proc;

/* Starts argv with pipes on stdin and stdout (stderr to `errpath`, appended). */
int bench_proc_start(bench_proc *p, const char *const *argv, const char *const *env,
                     const char *errpath);
/* Sends `req` as one line and reads one line back, parsed (new), or NULL with `why`
 * filled (the process is then stopped). */
json_t *bench_proc_call(bench_proc *p, const json_t *req, double timeout_s, char *why,
                        size_t why_size);
/* Closes its stdin, waits up to 5 s for it to end, then kills it. */
void bench_proc_stop(bench_proc *p);

/* Whether `path` exists; whether it is a directory. */
int bench_exists(const char *path);
int bench_is_dir(const char *path);

/* Whether `prog` can be executed (a path, or a name found in PATH). */
int bench_can_exec(const char *prog);

/* Resident set size figures of this process in KiB ("VmRSS", "VmHWM"), or -1. */
long bench_status_kib(const char *field);
/* Resets VmHWM to the current RSS (Linux >= 4.0). Returns 0, or -1. */
int bench_reset_hwm(void);

/* Creates and activates a `workflows` artifact name/version in the store at `url`
 * with the given resources (files); writes its id (64 bytes). Returns 0, or -1 with
 * `err` filled. */
typedef struct bench_res {
    const char *key;
    const char *path;
} bench_res;
int bench_make_artifact(char *id, const char *url, const char *name, const char *version,
                        const bench_res *res, size_t n, glarex_error *err);

/* A context on the server at `url` with cache in `cache_dir`. */
int bench_ctx_new(glarex_ctx **out, const char *url, const char *cache_dir,
                  glarex_error *err);

/* Sort helpers: best (minimum) and median of n doubles (the array is sorted). */
double bench_min(const double *v, size_t n);
double bench_median(double *v, size_t n);

/* A paired A/B ratio: num[i] / den[i] for each round i whose two runs both worked
 * (the runs of a round are made back to back), as median and spread. n = 0: none. */
#define BENCH_MAX_ROUNDS 32
typedef struct bench_ratio {
    double median, lo, hi;
    int n;
} bench_ratio;
bench_ratio bench_ratio_of(const double *num, const double *den, size_t n);
/* {"median", "min", "max", "pairs"}, or null when n = 0 (new). */
json_t *bench_ratio_json(bench_ratio r);
/* Sets obj[key] to the median (null when none) and obj[key + "_spread"] to the JSON. */
void bench_ratio_put(json_t *obj, const char *key, bench_ratio r);
/* "1.23x (1.10-1.31)": median (min-max), or "-". */
void bench_ratio_text(char *buf, size_t size, bench_ratio r);

/* Number of online CPUs. */
int bench_ncpu(void);

/* ---- eval.c: one expression on both sides, runs alternating ---- */

#define BENCH_EVAL_RUNS 5 /* most timed runs of a case */

/* Mistral's evaluator in a child process (bench/mistral_bench.py --serve). */
typedef struct bench_mistral {
    bench_proc proc;
    int up;
    char why[700];
    char errpath[400];
    json_t *meta; /* python, mistral, plugin */
} bench_mistral;

/* Starts it and loads Mistral with the glare() plugin `glare` describes
 * (mistral_bench.py's "glare" member, taken; NULL: none), `env` added to its
 * environment (may be NULL). On failure `up` is 0 and `why` says why. */
void bench_mistral_start(bench_mistral *h, const bench_cfg *cfg, json_t *glare,
                         const char *const *env);
/* One request (taken) and its reply (new), or NULL with `why` set. */
json_t *bench_mistral_call(bench_mistral *h, json_t *req, double timeout_s);
void bench_mistral_stop(bench_mistral *h);

typedef struct bench_eval_case {
    const char *id;
    const char *label; /* shown in the table */
    json_t *expr;      /* string (evaluate) or any value (evaluate_recursively) */
    json_t *context;
    int glare;         /* needs the glare() plugin on the Mistral side */
    int recursive;     /* evaluate_recursively even when expr is a string */
} bench_eval_case;

/* How long each side's runs last (seconds), and how many there are. */
typedef struct bench_eval_timing {
    int runs;         /* at most BENCH_EVAL_RUNS */
    double gx_target; /* one glarex run */
    double m_target;  /* one Mistral run, within m_min_n..m_max_n evaluations */
    int m_min_n, m_max_n;
} bench_eval_timing;

/* One series: the warm result, N, and microseconds per evaluation of each run. */
typedef struct bench_eval_result {
    int ok;
    char error[800];
    json_t *value;
    long n;
    double us[BENCH_EVAL_RUNS];
} bench_eval_result;

/* The two evaluators of a case: one the context is bound to, one given it as JSON on
 * each call. Kept across cases by a group of many cases (creating them costs more than
 * most cases); NULL members are made, and freed, by each case. */
typedef struct bench_evals {
    glarex_eval *bound, *json;
} bench_evals;

/* Runs `c` on both sides, runs alternating: glarex with the context bound (`g`) and
 * given as JSON on each call (`j`), Mistral (`m`). `gx_unavailable`, when set, is why
 * glarex cannot run it. `evs` may be NULL. */
void bench_eval_run(const bench_cfg *cfg, const bench_eval_case *c, glarex_ctx *gctx,
                    const char *gx_unavailable, bench_mistral *h, const bench_eval_timing *t,
                    const bench_evals *evs, bench_eval_result *g, bench_eval_result *j,
                    bench_eval_result *m);

/* ---- the groups: each prints its part of the table and returns its JSON (new) ---- */
json_t *bench_eval(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_warm(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_cold(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_single(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_create(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_eval_corpus(const bench_cfg *cfg, const bench_server *srv);
json_t *bench_eval_growth(const bench_cfg *cfg, const bench_server *srv);

#endif
