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

/* A task file: {"action": "std.ssh", "input": {...}, "with_items": "host in ..."}. */
typedef struct task {
    json_t *doc;            /* the whole file (new); the fields below borrow from it */
    const char *action;     /* copied to the output */
    json_t *input;          /* evaluated per item */
    const char *with_items; /* the expression giving the items, or NULL */
    char item[64];          /* the name each item is bound to in the context */
} task;

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
        case 'T':
            o->task = optarg;
            break;
        case 'C':
            o->context = optarg;
            break;
        case 'S':
            o->store = optarg;
            break;
        case 'D':
            o->cache_dir = optarg;
            break;
        case 'N':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->threads < 1 ||
                o->threads > MAX_THREADS) {
                fail("--threads: '%s' is not a number from 1 to %d", optarg, MAX_THREADS);
                return 2;
            }
            break;
        case 'h':
            help();
            return 0;
        default:
            usage(stderr);
            return 2; /* getopt_long has said what was wrong */
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

/* A value as short JSON text for messages ("..." when cut). */
static const char *show(char *buf, size_t size, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, size, "%s", text ? text : "?");
    if (text && strlen(text) >= size)
        memcpy(buf + size - 4, "...", 4);
    free(text);
    return buf;
}

/* Mistral's with-items spelling "NAME in EXPRESSION" binds each item as $.NAME; an
 * expression alone binds it as $.item. Returns the expression. */
static const char *split_with_items(char *name, size_t size, const char *spec)
{
    size_t n =
        strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
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

/* Reads the task; with_items is optional. */
static int load_task(task *t, const char *path)
{
    json_t *spec;

    if (!(t->doc = load_json(path)))
        return 1;
    t->action = json_string_value(json_object_get(t->doc, "action"));
    t->input = json_object_get(t->doc, "input");
    if (!t->action || !t->input)
        return fail("%s: a task needs \"action\" (a string) and \"input\"", path);
    spec = json_object_get(t->doc, "with_items");
    if (spec && !json_is_string(spec))
        return fail("%s: \"with_items\" must be a string", path);
    if (spec)
        t->with_items =
            split_with_items(t->item, sizeof(t->item), json_string_value(spec));
    return 0;
}

/* The items (new): the value of with_items, or one null item when there is none. */
static int load_items(json_t **out, glarex_eval *ev, const task *t, const json_t *context)
{
    glarex_error err;
    char text[64];

    if (!t->with_items) {
        *out = json_pack("[n]");
        return *out ? 0 : fail("out of memory");
    }
    if (glarex_eval_string(out, ev, t->with_items, context, &err) < 0)
        return fail("with_items: '%s': %s", t->with_items, err.message);
    if (!json_is_array(*out))
        return fail("with_items: '%s' gave %s, not a list", t->with_items,
                    show(text, sizeof(text), *out));
    return 0;
}

/* Binds every item into its own copy of the context, before any thread starts. */
static int make_scopes(pool *p, json_t *context, const task *t, const json_t *items)
{
    for (size_t i = 0; i < p->nitems; i++) {
        p->scopes[i] = json_copy(context); /* shallow: the items share the rest */
        if (!p->scopes[i])
            return fail("out of memory");
        if (t->with_items &&
            json_object_set(p->scopes[i], t->item, json_array_get(items, i)) < 0)
            return fail("out of memory");
    }
    return 0;
}

/* Runs `n` workers over the items and waits for them. */
static int run_pool(pool *p, worker *workers, size_t n)
{
    size_t started;
    int rc = 0;

    for (started = 0; started < n; started++) {
        worker *w = &workers[started];
        w->pool = p;
        if (pthread_create(&w->thread, NULL, work, w) != 0) {
            atomic_store(&p->failed, true); /* the started ones stop at their next item */
            rc = fail("cannot start a thread");
            break;
        }
    }
    while (started > 0)
        pthread_join(workers[--started].thread, NULL);
    return rc;
}

/* Reports the first failed item; returns 0 when every item was rendered. */
static int check_results(const pool *p, const task *t, const json_t *items)
{
    char text[64];

    for (size_t i = 0; i < p->nitems; i++) {
        if (p->results[i])
            continue;
        if (!t->with_items)
            return fail("%s", p->errors[i].message);
        return fail("item %zu (%s): %s", i,
                    show(text, sizeof(text), json_array_get(items, i)),
                    p->errors[i].message);
    }
    return 0;
}

static int print_results(const pool *p, const task *t)
{
    for (size_t i = 0; i < p->nitems; i++) {
        json_t *line = json_pack("{s:I, s:s, s:O}", "index", (json_int_t)i, "action",
                                 t->action, "input", p->results[i]);
        if (!line || json_dumpf(line, stdout, JSON_COMPACT) < 0 ||
            fputc('\n', stdout) == EOF) {
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
    task t;
    pool p;
    worker workers[MAX_THREADS];
    json_t *context = NULL, *items = NULL;
    char path[256] = "input";
    size_t nthreads;
    int rc = 1;

    memset(&t, 0, sizeof(t));
    memset(&p, 0, sizeof(p));
    memset(workers, 0, sizeof(workers));
    atomic_init(&p.next, 0);
    atomic_init(&p.failed, false);

    if (load_task(&t, o->task) != 0)
        goto done;
    if (!(context = o->context ? load_json(o->context) : json_object()))
        goto done;
    if (!json_is_object(context)) {
        fail("%s: the context must be a JSON object", o->context);
        goto done;
    }

    /* One context for the whole process: its cache serves every thread. */
    copts.store.url = o->store; /* NULL: the embedded default store */
    copts.cache_dir = o->cache_dir;
    if (glarex_ctx_new(&ctx, &copts, &err) < 0 ||
        glarex_eval_new(&workers[0].ev, ctx, NULL, &err) < 0) {
        fail("%s", err.message);
        goto done;
    }
    if (validate(workers[0].ev, t.input, path, sizeof(path)) != 0 ||
        load_items(&items, workers[0].ev, &t, context) != 0)
        goto done;

    p.input = t.input;
    p.nitems = json_array_size(items);
    p.scopes = calloc(p.nitems + 1, sizeof(*p.scopes));
    p.results = calloc(p.nitems + 1, sizeof(*p.results));
    p.errors = calloc(p.nitems + 1, sizeof(*p.errors));
    if (!p.scopes || !p.results || !p.errors) {
        fail("out of memory");
        goto done;
    }
    if (make_scopes(&p, context, &t, items) != 0)
        goto done;

    /* One evaluator per thread (each owns a Lua state), all over the one context. */
    nthreads = p.nitems < (size_t)o->threads ? p.nitems : (size_t)o->threads;
    for (size_t i = 1; i < nthreads; i++) {
        if (glarex_eval_new(&workers[i].ev, ctx, NULL, &err) < 0) {
            fail("%s", err.message);
            goto done;
        }
    }
    if (run_pool(&p, workers, nthreads) == 0 && check_results(&p, &t, items) == 0)
        rc = print_results(&p, &t);

done:
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
    json_decref(t.doc);
    glarex_ctx_free(ctx); /* after the evaluators, which borrow it */
    return rc;
}

int main(int argc, char **argv)
{
    options o = {.threads = 4};
    int rc = parse_args(&o, argc, argv);
    return rc >= 0 ? rc : run(&o);
}
