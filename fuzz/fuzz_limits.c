/*
 * The evaluator's limits, for generated templates. The input drives a small grammar of
 * YAQL and Jinja constructs that allocate and loop (ranges, select, selectMany, string
 * repetition and joins, for loops, variables used many times, a list from the bound
 * context); each template is
 * evaluated once, with the heap measured and the thread's CPU time taken, and:
 *
 *   - no evaluation may allocate more than MEMORY_LIMIT + MEMORY_MARGIN bytes at its
 *     peak (every allocation of the process counts: the Lua state, the result's JSON);
 *   - no evaluation may take more than TIME_FACTOR times TIMEOUT_MS of CPU time (CPU,
 *     not wall clock, so a loaded machine does not fail the check);
 *   - the evaluator must still evaluate known-good templates afterwards.
 *
 * A failure prints the template and aborts. The heap is measured through the
 * sanitizer allocator's hooks, so this harness needs AddressSanitizer. With
 * GLAREX_FUZZ_VERBOSE set in the environment, every template is printed with its
 * outcome, peak and CPU time.
 */
#include "fuzz_eval.h"
#include "fuzz_util.h"

#include <sanitizer/allocator_interface.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEMORY_LIMIT ((size_t)8 << 20)
#define MEMORY_MARGIN (MEMORY_LIMIT / 4)
#define TIMEOUT_MS 100L
#define TIME_FACTOR 3
#define MAX_DEPTH 4
#define CONTEXT_ITEMS 1000

/* {======================================================================
 * Heap accounting
 * ====================================================================== */

static long long heap_now, heap_peak;

static void on_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr;
    heap_now += (long long)size;
    if (heap_now > heap_peak)
        heap_peak = heap_now;
}

static void on_free(const volatile void *ptr)
{
    heap_now -= (long long)__sanitizer_get_allocated_size((const void *)ptr);
}

/* }====================================================================== */

/* {======================================================================
 * Template grammar
 * ====================================================================== */

typedef struct gen {
    const uint8_t *p;
    size_t n;
    char text[8192];
    size_t len;
} gen;

/* The next choice among `n` (0 once the input is used up). */
static unsigned pick(gen *g, unsigned n)
{
    if (g->n == 0)
        return 0;
    g->n--;
    return *g->p++ % n;
}

/* Appends `s`, or drops it when it does not fit: the template then fails to compile,
 * which is an outcome like any other. */
static void put(gen *g, const char *s)
{
    size_t k = strlen(s);
    if (g->len + k < sizeof(g->text)) {
        memcpy(g->text + g->len, s, k + 1);
        g->len += k;
    }
}

static const char *count(gen *g)
{
    static const char *const counts[] = {"0",    "3",     "10",     "100",
                                         "1000", "10000", "100000", "1000000"};
    return counts[pick(g, 8)];
}

static void y_str(gen *g, int d);

/* One production per line reads as a grammar. */
/* clang-format off */

/* A YAQL collection. */
static void y_list(gen *g, int d)
{
    switch (d <= 0 ? 0 : pick(g, 13)) {
    case 0: put(g, "range("); put(g, count(g)); put(g, ")"); break;
    case 1: y_list(g, d - 1); put(g, ".select([$, $, $])"); break;
    case 2: y_list(g, d - 1); put(g, ".selectMany("); y_list(g, d - 1); put(g, ")"); break;
    case 3: y_list(g, d - 1); put(g, ".select("); y_str(g, d - 1); put(g, ")"); break;
    case 4: put(g, "("); y_list(g, d - 1); put(g, " + "); y_list(g, d - 1); put(g, ")"); break;
    case 5: y_list(g, d - 1); put(g, ".orderBy(str($))"); break;
    case 6: y_list(g, d - 1); put(g, ".enumerate()"); break;
    case 7: y_str(g, d - 1); put(g, ".toCharArray()"); break;
    case 8: y_str(g, d - 1); put(g, ".repeat("); put(g, count(g)); put(g, ")"); break;
    case 9: y_list(g, d - 1); put(g, ".where(len(str($)) > 1)"); break;
    case 10: y_list(g, d - 1); put(g, ".select(str($)).distinct()"); break;
    case 11: put(g, "$.l"); break; /* context data: the fast path runs without the hook */
    default: put(g, "["); y_str(g, d - 1); put(g, ", "); y_str(g, d - 1); put(g, "]"); break;
    }
}

/* A YAQL string. */
static void y_str(gen *g, int d)
{
    switch (d <= 0 ? 0 : pick(g, 8)) {
    case 0: put(g, "'ab'"); break;
    case 1: put(g, "str("); y_list(g, d - 1); put(g, ")"); break;
    case 2: y_list(g, d - 1); put(g, ".join(',')"); break;
    case 3: put(g, "("); y_str(g, d - 1); put(g, " + "); y_str(g, d - 1); put(g, ")"); break;
    case 4: put(g, "("); y_str(g, d - 1); put(g, " * "); put(g, count(g)); put(g, ")"); break;
    case 5: y_str(g, d - 1); put(g, ".replace('a', "); y_str(g, d - 1); put(g, ")"); break;
    case 6: put(g, "'{0}{0}{0}'.format("); y_str(g, d - 1); put(g, ")"); break;
    default: y_str(g, d - 1); put(g, ".toUpper()"); break;
    }
}

static void yaql(gen *g)
{
    put(g, "<% ");
    switch (pick(g, 5)) {
    case 0: y_list(g, MAX_DEPTH); break;
    case 1: y_str(g, MAX_DEPTH); break;
    case 2: y_list(g, MAX_DEPTH); put(g, ".len()"); break;
    case 3: /* one value referenced many times in the result */
        put(g, "let(x => "); y_str(g, MAX_DEPTH); put(g, ") -> range(");
        put(g, count(g)); put(g, ").select($x)"); break;
    default: y_list(g, MAX_DEPTH); put(g, ".toDict(str($), "); y_str(g, 1); put(g, ")"); break;
    }
    put(g, " %>");
}

/* A Jinja expression. */
static void j_expr(gen *g, int d)
{
    switch (d <= 0 ? 0 : pick(g, 9)) {
    case 0: put(g, "range("); put(g, count(g)); put(g, ")|list"); break;
    case 1: put(g, "('ab' * "); put(g, count(g)); put(g, ")"); break;
    case 2: put(g, "("); j_expr(g, d - 1); put(g, " ~ "); j_expr(g, d - 1); put(g, ")"); break;
    case 3: j_expr(g, d - 1); put(g, "|string"); break;
    case 4: put(g, "("); j_expr(g, d - 1); put(g, ")|join(',')"); break;
    case 5: put(g, "["); j_expr(g, d - 1); put(g, ", "); j_expr(g, d - 1); put(g, "]"); break;
    case 6: put(g, "("); j_expr(g, d - 1); put(g, ")|reverse|list"); break;
    case 7: put(g, "("); j_expr(g, d - 1); put(g, ")|unique|list"); break;
    default: put(g, "_.l"); break;
    }
}

/* A Jinja template part. */
static void j_part(gen *g, int d)
{
    switch (d <= 0 ? 0 : pick(g, 4)) {
    case 0: put(g, "{{ "); j_expr(g, d); put(g, " }}"); break;
    case 1:
        put(g, "{% for i in range("); put(g, count(g)); put(g, ") %}");
        j_part(g, d - 1); put(g, "{% endfor %}"); break;
    case 2:
        put(g, "{% set x = "); j_expr(g, d - 1); put(g, " %}{{ x }}{{ x }}{{ x }}"); break;
    default: j_part(g, d - 1); put(g, "-"); j_part(g, d - 1); break;
    }
}

/* clang-format on */

/* }====================================================================== */

static glarex_eval *ev;

/* `l`, a list of CONTEXT_ITEMS numbers, for `$.l` and `_.l`. */
static void bind_context(void)
{
    json_t *l = json_array(), *ctx;
    glarex_error err;
    for (int i = 0; l && i < CONTEXT_ITEMS; i++)
        json_array_append_new(l, json_integer(i));
    ctx = json_pack("{s:o}", "l", l);
    if (!ctx || glarex_eval_bind(ev, ctx, &err) < 0)
        fuzz_fail(NULL, "cannot bind the context");
    json_decref(ctx);
}

static long long cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gen g = {.p = data, .n = size};
    json_t *out = NULL;
    glarex_error err;
    long long start_ns, took_ms, start_heap, peak;
    int rc;

    if (!ev) {
        glarex_eval_options opts = GLAREX_EVAL_OPTIONS_INIT;
        opts.memory_limit = MEMORY_LIMIT;
        opts.instruction_limit = 1000000000; /* the deadline is the limit under test */
        opts.timeout_ms = TIMEOUT_MS;
        ev = fuzz_eval_new(&opts);
        bind_context();
        if (!__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free))
            fuzz_fail(NULL, "cannot install the allocator hooks (build with ASan)");
    }
    if (pick(&g, 2))
        yaql(&g);
    else
        j_part(&g, MAX_DEPTH);

    start_heap = heap_now;
    heap_peak = heap_now;
    start_ns = cpu_ns();
    rc = glarex_eval_string(&out, ev, g.text, NULL, &err);
    json_decref(out);
    took_ms = (cpu_ns() - start_ns) / 1000000;
    peak = heap_peak - start_heap;
    if (getenv("GLAREX_FUZZ_VERBOSE"))
        fprintf(stderr, "%s\n  -> %s, peak %lld bytes, %lld ms CPU\n", g.text,
                rc < 0 ? glarex_strerror(rc) : "ok", peak, took_ms);

    if (peak > (long long)(MEMORY_LIMIT + MEMORY_MARGIN))
        fuzz_fail(g.text,
                  "allocated %lld bytes at the peak; the limit is %zu (+%zu margin)",
                  peak, MEMORY_LIMIT, MEMORY_MARGIN);
    if (took_ms > TIME_FACTOR * TIMEOUT_MS)
        fuzz_fail(g.text, "took %lld ms of CPU; the deadline is %ld ms (x%d allowed)",
                  took_ms, TIMEOUT_MS, TIME_FACTOR);
    fuzz_eval_check_sane(ev, g.text);
    return 0;
}
