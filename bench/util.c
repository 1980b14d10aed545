/* glarex-bench: timing, processes, the test server, files and memory figures. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("glarex-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int bench_mkdtemp(char *buf, size_t size, const char *parent, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    if (!parent)
        parent = tmp && *tmp ? tmp : "/tmp";
    if ((size_t)snprintf(buf, size, "%s/glarex-bench-%s-XXXXXX", parent, tag) >= size)
        return -1;
    return mkdtemp(buf) ? 0 : -1;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

void bench_fill_text(char *buf, size_t size, uint64_t seed)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-=.#";
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < size; i++) {
        if (i % 64 == 63) {
            buf[i] = '\n';
            continue;
        }
        buf[i] = alphabet[(xorshift(&s) >> 32) % (sizeof(alphabet) - 1)];
    }
}

int bench_write_file(const char *path, uint64_t size, int text, uint64_t seed)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    FILE *f;
    int rc = 0;

    if (!buf)
        return -1;
    f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return -1;
    }
    for (uint64_t done = 0; done < size && rc == 0;) {
        size_t n = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
        if (text) {
            bench_fill_text(buf, n, seed + done);
        } else {
            for (size_t i = 0; i + 8 <= n; i += 8) {
                uint64_t v = xorshift(&s);
                memcpy(buf + i, &v, 8);
            }
            for (size_t i = n & ~(size_t)7; i < n; i++)
                buf[i] = (char)xorshift(&s);
        }
        if (fwrite(buf, 1, n, f) != n)
            rc = -1;
        done += n;
    }
    if (fclose(f) != 0)
        rc = -1;
    free(buf);
    return rc;
}

/* ---- processes ---- */

int bench_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0;
}

int bench_is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int bench_can_exec(const char *prog)
{
    if (!prog || !*prog)
        return 0;
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        char buf[1024];
        if (len && len + strlen(prog) + 2 < sizeof(buf)) {
            snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog);
            if (access(buf, X_OK) == 0)
                return 1;
        }
        if (!end)
            break;
        path = end + 1;
    }
    return 0;
}

/* Reads what is available from fd into the growing buffer: >0 read, 0 EOF or error,
 * 1 when nothing was ready (EAGAIN/EINTR). */
static int read_some(int fd, char **buf, size_t *len, size_t *cap)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0)
        return 1;
    if (*cap - *len < 65536) {
        size_t ncap = *cap ? *cap * 2 : 131072;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return 0;
        *buf = nb;
        *cap = ncap;
    }
    ssize_t r = read(fd, *buf + *len, *cap - *len - 1);
    if (r > 0) {
        *len += (size_t)r;
        return 1;
    }
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    return 0;
}

/* The environment for a child: `env` (NULL-terminated, may be NULL) before this
 * process's own, since glibc's getenv returns the first match. `environ` itself when
 * there is nothing to add; else a new array (free it), or NULL when out of memory. */
static char **child_env(const char *const *env)
{
    size_t nenv = 0, nextra = 0;
    char **envp;

    if (!env)
        return environ;
    while (environ[nenv])
        nenv++;
    while (env[nextra])
        nextra++;
    envp = calloc(nenv + nextra + 1, sizeof(char *));
    if (!envp)
        return NULL;
    for (size_t i = 0; i < nextra; i++)
        envp[i] = (char *)env[i];
    for (size_t i = 0; i < nenv; i++)
        envp[nextra + i] = environ[i];
    return envp;
}

int bench_run(const char *const *argv, const char *const *env, char **out,
              const char *errpath, double timeout_s, double *wall)
{
    int pfd[2] = {-1, -1};
    char **envp = child_env(env);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int status = 0, done = 0, killed = 0;
    double t0;
    pid_t pid;

    if (out)
        *out = NULL;
    if (!envp)
        return -1;
    if (out && pipe(pfd) < 0) {
        if (envp != environ)
            free(envp);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    t0 = bench_now();
    pid = fork();
    if (pid < 0) {
        if (envp != environ)
            free(envp);
        if (out) {
            close(pfd[0]);
            close(pfd[1]);
        }
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        setpgid(0, 0);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (out) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
        } else if (devnull >= 0) {
            dup2(devnull, 1);
        }
        if (errpath) {
            int e = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (e >= 0)
                dup2(e, 2);
        } else if (devnull >= 0) {
            dup2(devnull, 2);
        }
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    if (envp != environ)
        free(envp);
    if (out)
        close(pfd[1]);

    /* Wait on the child's pidfd and its stdout together; fall back to short sleeps. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    while (!done) {
        double left = timeout_s - (bench_now() - t0);
        struct pollfd p[2];
        int np = 0, ms;
        if (left <= 0 && !killed) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (out && pfd[0] >= 0)
            p[np++] = (struct pollfd){pfd[0], POLLIN, 0};
        if (pidfd >= 0)
            p[np++] = (struct pollfd){pidfd, POLLIN, 0};
        ms = pidfd >= 0 ? (killed ? 100 : (int)(left * 1000) + 1) : 1;
        if (ms > 1000)
            ms = 1000;
        poll(p, (nfds_t)np, ms);
        if (out && pfd[0] >= 0 && read_some(pfd[0], &buf, &len, &cap) <= 0) {
            close(pfd[0]);
            pfd[0] = -1;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            done = 1;
        } else if (w < 0 && errno != EINTR) {
            status = -1;
            done = 1;
        }
    }
    /* What the child wrote before exiting is still in the pipe. */
    while (out && pfd[0] >= 0) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 0) <= 0 || read_some(pfd[0], &buf, &len, &cap) <= 0) {
            close(pfd[0]);
            pfd[0] = -1;
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    if (wall)
        *wall = bench_now() - t0;
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (out) {
        if (!buf)
            buf = calloc(1, 1);
        else
            buf[len] = '\0';
        *out = buf;
    } else {
        free(buf);
    }
    if (killed || status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- a child spoken to in JSON lines ---- */

int bench_proc_start(bench_proc *p, const char *const *argv, const char *const *env,
                     const char *errpath)
{
    int in[2], out[2];
    char **envp = child_env(env);

    memset(p, 0, sizeof(*p));
    p->to = p->from = -1;
    if (!envp)
        return -1;
    if (pipe(in) < 0) {
        if (envp != environ)
            free(envp);
        return -1;
    }
    if (pipe(out) < 0) {
        close(in[0]);
        close(in[1]);
        if (envp != environ)
            free(envp);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        if (errpath) {
            int e = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (e >= 0)
                dup2(e, 2);
        }
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    if (envp != environ)
        free(envp);
    close(in[0]);
    close(out[1]);
    if (p->pid < 0) {
        p->pid = 0;
        close(in[1]);
        close(out[0]);
        return -1;
    }
    p->to = in[1];
    p->from = out[0];
    return 0;
}

void bench_proc_stop(bench_proc *p)
{
    if (p->to >= 0)
        close(p->to);
    p->to = -1;
    if (p->from >= 0)
        close(p->from);
    p->from = -1;
    if (p->pid > 0) {
        for (int i = 0; i < 500; i++) {
            if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
                p->pid = 0;
                break;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->pid = 0;
        }
    }
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

json_t *bench_proc_call(bench_proc *p, const json_t *req, double timeout_s, char *why,
                        size_t why_size)
{
    char *line = json_dumps(req, JSON_COMPACT);
    size_t len = line ? strlen(line) : 0, off = 0;
    double t0 = bench_now();
    json_t *reply = NULL;

    if (!line || p->to < 0) {
        snprintf(why, why_size, "%s", line ? "the helper is not running" : "out of memory");
        free(line);
        return NULL;
    }
    line[len] = '\n'; /* json_dumps left room for the NUL: it becomes the newline */
    signal(SIGPIPE, SIG_IGN);
    while (off < len + 1) {
        ssize_t w = write(p->to, line + off, len + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, why_size, "the helper stopped (write: %s)", strerror(errno));
            free(line);
            bench_proc_stop(p);
            return NULL;
        }
        off += (size_t)w;
    }
    free(line);
    for (;;) {
        char *nl = p->buf ? memchr(p->buf, '\n', p->len) : NULL;
        if (nl) {
            json_error_t je;
            *nl = '\0';
            reply = json_loads(p->buf, 0, &je);
            size_t used = (size_t)(nl - p->buf) + 1;
            memmove(p->buf, nl + 1, p->len - used);
            p->len -= used;
            if (!reply)
                snprintf(why, why_size, "the helper answered something else than JSON: %s",
                         je.text);
            return reply;
        }
        double left = timeout_s - (bench_now() - t0);
        if (left <= 0) {
            snprintf(why, why_size, "the helper did not answer within %.0f s", timeout_s);
            bench_proc_stop(p);
            return NULL;
        }
        struct pollfd pf = {p->from, POLLIN, 0};
        if (poll(&pf, 1, left > 1 ? 1000 : (int)(left * 1000) + 1) <= 0)
            continue;
        if (read_some(p->from, &p->buf, &p->len, &p->cap) <= 0) {
            snprintf(why, why_size, "the helper stopped");
            bench_proc_stop(p);
            return NULL;
        }
    }
}

/* ---- memory ---- */

long bench_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t flen = strlen(field);
    long v = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int bench_reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    int rc = -1;
    if (fd < 0)
        return -1;
    if (write(fd, "5", 1) == 1)
        rc = 0;
    close(fd);
    return rc;
}

/* ---- the test server ---- */

int bench_server_start(bench_server *s, const bench_cfg *cfg, const char *const *extra)
{
    char data[340];
    const char *argv[40];
    int argc = 0;

    memset(s, 0, sizeof(*s));
    if (bench_mkdtemp(s->dir, sizeof(s->dir), cfg->workdir, "srv") < 0)
        return -1;
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);

    argv[argc++] = cfg->python;
    argv[argc++] = cfg->server_script;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--data";
    argv[argc++] = data;
    argv[argc++] = "--control";
    for (int i = 0; extra && extra[i] && argc < 38; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    s->pid = server_spawn(argv, s->log_path, s->url, sizeof(s->url));
    if (s->pid < 0) {
        bench_note("the test server did not start (%s %s; log %s)", cfg->python,
                   cfg->server_script, s->log_path);
        s->pid = 0;
        s->url[0] = '\0';
        bench_server_stop(s);
        return -1;
    }
    return 0;
}

void bench_server_stop(bench_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        for (int i = 0; i < 500; i++) { /* up to 5 s, then SIGKILL */
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
                s->pid = 0;
                break;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
    }
}

/* The server's request counters (GET /__control/stats), or resets them (DELETE). */
static int control(const bench_server *s, const char *method, json_t **out)
{
    char *body = NULL;
    int status = server_http(s->url, method, "/__control/stats", NULL, NULL, NULL, &body);

    if (out)
        *out = status == 200 && body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return status == 200 ? 0 : -1;
}

int bench_server_stat(const bench_server *s, const char *key)
{
    json_t *st = NULL;
    int n = -1;
    if (control(s, "GET", &st) == 0 && st) {
        json_t *v = json_object_get(json_object_get(st, "requests"), key);
        n = v ? (int)json_integer_value(v) : 0;
    }
    json_decref(st);
    return n;
}

int bench_server_reset_stats(const bench_server *s)
{
    return control(s, "DELETE", NULL);
}

/* ---- glarex helpers ---- */

int bench_make_artifact(char *id, const char *url, const char *name, const char *version,
                        const bench_res *res, size_t n, glarex_error *err)
{
    static const char wf[] = "version: '2.0'\nbench_wf:\n  tasks:\n    noop:\n"
                             "      action: std.noop\n";
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    glarex_blob_loc loc = {"workflows", NULL, "workflow", NULL};
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", version);
    json_t *art = NULL;
    char created[64] = "";
    int rc = -1;

    so.url = url;
    so.client.auth_token = BENCH_TOKEN;
    if (!fields || glarex_store_open(&store, &so, err) < 0 ||
        glarex_store_create(&art, store, "workflows", fields, err) < 0)
        goto done;
    snprintf(created, sizeof(created), "%s", json_string_value(json_object_get(art, "id")));
    json_decref(art);
    art = NULL;
    loc.id = created;
    if (glarex_store_upload_buffer(&art, store, &loc, wf, sizeof(wf) - 1,
                                   "application/x-yaml", err) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        json_decref(art);
        art = NULL;
        loc.field = "resources";
        loc.key = res[i].key;
        if (glarex_store_upload_file(&art, store, &loc, res[i].path, "text/plain", NULL,
                                     NULL, err) < 0)
            goto done;
    }
    json_decref(art);
    art = NULL;
    if (glarex_store_activate(&art, store, "workflows", created, err) < 0)
        goto done;
    if (id)
        snprintf(id, 64, "%s", created);
    rc = 0;
done:
    json_decref(art);
    json_decref(fields);
    glarex_store_free(store);
    return rc;
}

int bench_ctx_new(glarex_ctx **out, const char *url, const char *cache_dir,
                  glarex_error *err)
{
    glarex_ctx_options o = GLAREX_CTX_OPTIONS_INIT;
    o.store.url = url;
    o.store.client.auth_token = BENCH_TOKEN;
    o.cache_dir = cache_dir;
    return glarex_ctx_new(out, &o, err);
}

/* ---- statistics ---- */

double bench_min(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

bench_ratio bench_ratio_of(const double *num, const double *den, size_t n)
{
    bench_ratio r = {0, 0, 0, 0};
    double v[BENCH_MAX_ROUNDS];
    size_t k = 0;
    for (size_t i = 0; i < n && k < BENCH_MAX_ROUNDS; i++)
        if (num[i] > 0 && den[i] > 0)
            v[k++] = num[i] / den[i];
    if (!k)
        return r;
    r.n = (int)k;
    r.median = bench_median(v, k); /* sorts v */
    r.lo = v[0];
    r.hi = v[k - 1];
    return r;
}

json_t *bench_ratio_json(bench_ratio r)
{
    if (!r.n)
        return json_null();
    return json_pack("{s:f, s:f, s:f, s:i}", "median", r.median, "min", r.lo, "max", r.hi,
                     "pairs", r.n);
}

void bench_ratio_put(json_t *obj, const char *key, bench_ratio r)
{
    char spread[64];
    json_object_set_new(obj, key, r.n ? json_real(r.median) : json_null());
    snprintf(spread, sizeof(spread), "%s_spread", key);
    json_object_set_new(obj, spread, bench_ratio_json(r));
}

void bench_ratio_text(char *buf, size_t size, bench_ratio r)
{
    if (r.n)
        snprintf(buf, size, "%.2fx (%.2f-%.2f)", r.median, r.lo, r.hi);
    else
        snprintf(buf, size, "-");
}
