/*
 * executor: renders a Mistral-like task as a custom executor embedding glarex would.
 *
 * It reads a task (see README.md), evaluates its `with_items` expression against the
 * workflow context, then evaluates the task's `input` once per item on a pool of threads
 * (one glarex_eval per thread, all sharing one glarex_ctx and so one cache), and prints
 * the rendered actions as JSON lines, in item order:
 *
 *   {"index":0,"action":"std.ssh","input":{"cmd":"#!/bin/sh\n...","host":"vm-1"}}
 *
 * Exit status: 0 success, 1 runtime error (a file, the store, an expression), 2 usage.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glarex.h>

#define MAX_THREADS 64

typedef struct options {
    const char *task;
    const char *context;
    const char *store;
    const char *cache_dir;
    int threads;
} options;

/* What the workers share. They only read it, except `next`, `failed` and the slots of
 * the items each one claimed. */
typedef struct pool {
    json_t *input;        /* the task's input template */
    json_t **scopes;      /* per item: the context with the item bound in it */
    json_t **results;     /* per item: the rendered input (new), or NULL */
    glarex_error *errors; /* per item */
    size_t nitems;
    atomic_size_t next;   /* the next item to claim */
    atomic_bool failed;   /* set by the first failure: stop claiming items */
} pool;

typedef struct worker {
    pthread_t thread;
    glarex_eval *ev; /* one evaluator per thread: it owns a Lua state */
    pool *pool;
} worker;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("executor: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void usage(FILE *f)
{
    fputs("usage: executor --task FILE [--context FILE] [--store URL] [--cache-dir DIR]"
          " [--threads N]\n",
          f);
}

static void help(void)
{
    usage(stdout);
    puts("\nRenders a Mistral-like task with glarex: evaluates `with_items`, then the\n"
         "task's input once per item, and prints one JSON line per item, in order.\n\n"
         "  --task FILE      the task, JSON: {\"action\", \"input\", \"with_items\"}"
         " (required)\n"
         "  --context FILE   the workflow context, a JSON object (default {})\n"
         "  --store URL      http(s)://HOST:PORT (Glare) or file:///DIR"
         " (default: the embedded store)\n"
         "  --cache-dir DIR  the glarex cache (default: $GLAREX_CACHE_DIR,"
         " ~/.cache/glarex)\n"
         "  --threads N      evaluator threads, 1 to 64 (default 4)\n"
         "  --help           print this help");
}

/* Returns -1 to go on, or the exit status: 0 after --help, 2 on a usage error. */
static int parse_args(options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, 'T'},
        {"context", required_argument, NULL, 'C'},
        {"store", required_argument, NULL, 'S'},
        {"cache-dir", required_argument, NULL, 'D'},
        {"threads", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'T': o->task = optarg; break;
        case 'C': o->context = optarg; break;
        case 'S': o->store = optarg; break;
        case 'D': o->cache_dir = optarg; break;
        case 'N':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->threads < 1 || o->threads > MAX_THREADS) {
                fail("--threads: '%s' is not a number from 1 to %d", optarg, MAX_THREADS);
                return 2;
            }
            break;
        case 'h': help(); return 0;
        default: usage(stderr); return 2; /* getopt_long has said what was wrong */
        }
    }
    if (optind < argc) {
        fail("unexpected argument '%s'", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o->task) {
        fail("--task is required");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* A JSON file (new), or NULL after saying where it is malformed. */
static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!v && jerr.line > 0)
        fail("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    else if (!v)
        fail("%s", jerr.text); /* it names the file */
    return v;
}

/* Mistral's with-items spelling "NAME in EXPRESSION" binds each item as $.NAME; an
 * expression alone binds it as $.item. Returns the expression. */
static const char *split_with_items(char *name, size_t size, const char *spec)
{
    size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
    if (n > 0 && n < size && strncmp(spec + n, " in ", 4) == 0) {
        memcpy(name, spec, n);
        name[n] = '\0';
        return spec + n + 4;
    }
    snprintf(name, size, "item");
    return spec;
}

/* Compiles every string of the input first, as Mistral checks a workflow when it is
 * created: a syntax error is reported once, naming its place, before any work is done. */
static int validate(glarex_eval *ev, json_t *v, char *path, size_t size)
{
    size_t len = strlen(path), i;
    const char *key;
    json_t *child;
    glarex_error err;

    if (json_is_string(v) && glarex_eval_validate(ev, json_string_value(v), &err) < 0)
        return fail("%s: '%s': %s", path, json_string_value(v), err.message);
    json_object_foreach (v, key, child) {
        snprintf(path + len, size - len, ".%s", key);
        if (validate(ev, child, path, size) != 0)
            return 1;
    }
    json_array_foreach (v, i, child) {
        snprintf(path + len, size - len, "[%zu]", i);
        if (validate(ev, child, path, size) != 0)
            return 1;
    }
    path[len] = '\0';
    return 0;
}

static void *work(void *arg)
{
    worker *w = arg;
    pool *p = w->pool;

    /* Items are claimed in order, so when item i fails every item before it has been
     * claimed and will finish: the first failure in item order is always reported. */
    while (!atomic_load(&p->failed)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->nitems)
            break;
        if (glarex_eval_recursive(&p->results[i], w->ev, p->input, p->scopes[i],
                                  &p->errors[i]) < 0)
            atomic_store(&p->failed, true);
    }
    return NULL;
}

/* Binds every item into its own copy of the context, before any thread starts. */
static int make_scopes(pool *p, json_t *context, const json_t *items, const char *name)
{
    for (size_t i = 0; i < p->nitems; i++) {
        p->scopes[i] = json_copy(context); /* shallow: the items share the rest */
        if (!p->scopes[i])
            return fail("out of memory");
        if (items && json_object_set(p->scopes[i], name, json_array_get(items, i)) < 0)
            return fail("out of memory");
    }
    return 0;
}

static int print_results(const pool *p, const char *action)
{
    for (size_t i = 0; i < p->nitems; i++) {
        json_t *line = json_pack("{s:I, s:s, s:O}", "index", (json_int_t)i, "action", action,
                                 "input", p->results[i]);
        if (!line || json_dumpf(line, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF) {
            json_decref(line);
            return fail("cannot write the results");
        }
        json_decref(line);
    }
    return fflush(stdout) == 0 ? 0 : fail("cannot write the results");
}

static int run(const options *o)
{
    glarex_ctx_options copts = GLAREX_CTX_OPTIONS_INIT;
    glarex_ctx *ctx = NULL;
    glarex_error err;
    json_t *task = NULL, *context = NULL, *items = NULL;
    worker workers[MAX_THREADS];
    pool p;
    const char *action, *expr = NULL;
    char name[64], path[256];
    size_t nthreads = 0, started = 0;
    int rc = 1;

    memset(workers, 0, sizeof(workers));
    memset(&p, 0, sizeof(p));

    if (!(task = load_json(o->task)))
        goto done;
    action = json_string_value(json_object_get(task, "action"));
    p.input = json_object_get(task, "input");
    if (!action || !p.input) {
        fail("%s: a task needs \"action\" (a string) and \"input\"", o->task);
        goto done;
    }
    if (json_object_get(task, "with_items")) {
        expr = json_string_value(json_object_get(task, "with_items"));
        if (!expr) {
            fail("%s: \"with_items\" must be a string", o->task);
            goto done;
        }
        expr = split_with_items(name, sizeof(name), expr);
    }
    context = o->context ? load_json(o->context) : json_object();
    if (!context)
        goto done;
    if (!json_is_object(context)) {
        fail("%s: the context must be a JSON object", o->context);
        goto done;
    }

    copts.store.url = o->store; /* NULL: the embedded default store */
    copts.cache_dir = o->cache_dir;
    if (glarex_ctx_new(&ctx, &copts, &err) < 0) {
        fail("%s", err.message);
        goto done;
    }
    if (glarex_eval_new(&workers[0].ev, ctx, NULL, &err) < 0) {
        fail("%s", err.message);
        goto done;
    }

    snprintf(path, sizeof(path), "input");
    if (validate(workers[0].ev, p.input, path, sizeof(path)) != 0)
        goto done;

    /* The items; without with_items, the input is rendered once, against the context. */
    p.nitems = 1;
    if (expr) {
        if (glarex_eval_string(&items, workers[0].ev, expr, context, &err) < 0) {
            fail("with_items: '%s': %s", expr, err.message);
            goto done;
        }
        if (!json_is_array(items)) {
            fail("with_items: '%s' gave no list", expr);
            goto done;
        }
        p.nitems = json_array_size(items);
    }
    p.scopes = calloc(p.nitems + 1, sizeof(*p.scopes));
    p.results = calloc(p.nitems + 1, sizeof(*p.results));
    p.errors = calloc(p.nitems + 1, sizeof(*p.errors));
    if (!p.scopes || !p.results || !p.errors) {
        fail("out of memory");
        goto done;
    }
    if (make_scopes(&p, context, items, name) != 0)
        goto done;

    nthreads = p.nitems < (size_t)o->threads ? p.nitems : (size_t)o->threads;
    for (size_t t = 1; t < nthreads; t++) {
        if (glarex_eval_new(&workers[t].ev, ctx, NULL, &err) < 0) {
            fail("%s", err.message);
            goto done;
        }
    }
    for (started = 0; started < nthreads; started++) {
        workers[started].pool = &p;
        if (pthread_create(&workers[started].thread, NULL, work, &workers[started]) != 0) {
            atomic_store(&p.failed, true); /* the started ones stop at their next item */
            fail("cannot start thread %zu", started + 1);
            goto done;
        }
    }
    for (; started > 0; started--)
        pthread_join(workers[started - 1].thread, NULL);

    for (size_t i = 0; i < p.nitems; i++) {
        if (!p.results[i]) {
            fail("item %zu: %s", i, p.errors[i].message);
            goto done;
        }
    }
    rc = print_results(&p, action);

done:
    for (; started > 0; started--)
        pthread_join(workers[started - 1].thread, NULL);
    for (size_t i = 0; i < MAX_THREADS; i++)
        glarex_eval_free(workers[i].ev);
    for (size_t i = 0; p.scopes && i < p.nitems; i++) {
        json_decref(p.scopes[i]);
        json_decref(p.results[i]);
    }
    free(p.scopes);
    free(p.results);
    free(p.errors);
    json_decref(items);
    json_decref(context);
    json_decref(task);
    glarex_ctx_free(ctx); /* after every evaluator that borrows it */
    return rc;
}

int main(int argc, char **argv)
{
    options o = {.threads = 4};
    int rc = parse_args(&o, argc, argv);
    return rc >= 0 ? rc : run(&o);
}
