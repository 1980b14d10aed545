/*
 * References. Most behaviour is data-driven from tests/cases/ref/:
 *   valid/<name>/{input|args}[, options], expected   the parsed fields (see dump_ref)
 *   invalid/<name>/{input|args}[, options], error    "column offset\nmessage"
 * `input` is a URI (one trailing newline is ignored); `args` holds the three arguments
 * of glare(name, version, resource), one per line, "<null>" for NULL; `options` holds
 * `dict_field=...` / `blob_field=...` lines.
 */
/* cmocka.h needs these three first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref.h"

/* {======================================================================
 * Allocation failure injection: this binary is linked with -Wl,--wrap=malloc, so
 * every malloc in the library goes through here.
 * ====================================================================== */

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

static long fail_countdown = -1; /* fail the allocation this many calls ahead */

void *__wrap_malloc(size_t size)
{
    if (fail_countdown == 0) {
        fail_countdown = -1;
        return NULL;
    }
    if (fail_countdown > 0)
        fail_countdown--;
    return __real_malloc(size);
}

/* }====================================================================== */

/* {======================================================================
 * Case files
 * ====================================================================== */

typedef struct ref_case {
    char dir[1024];
    char *input; /* URI, or NULL when the case uses args */
    char *args;  /* the args file, split in place */
    const char *name, *version, *resource;
    char *options; /* the options file */
    glarex_ref_options opts;
    int has_opts;
} ref_case;

/* The file's bytes, NUL-terminated (new), or NULL when it does not exist. */
static char *slurp(const char *dir, const char *file, size_t *len)
{
    char path[1200];
    FILE *f;
    char *text;
    long size;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)size;
    return text;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '\n')
        s[n - 1] = '\0';
}

static const char *arg_value(char *line)
{
    return strcmp(line, "<null>") == 0 ? NULL : line;
}

static void case_load(ref_case *c, const char *root, const char *name)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "%s/%s", root, name);
    c->input = slurp(c->dir, "input", NULL);
    if (c->input) {
        chomp(c->input);
    } else {
        char *nl1, *nl2;
        c->args = slurp(c->dir, "args", NULL);
        if (!c->args)
            fail_msg("%s: neither input nor args", c->dir);
        chomp(c->args);
        nl1 = strchr(c->args, '\n');
        assert_non_null(nl1);
        nl2 = strchr(nl1 + 1, '\n');
        assert_non_null(nl2);
        *nl1 = *nl2 = '\0';
        c->name = arg_value(c->args);
        c->version = arg_value(nl1 + 1);
        c->resource = arg_value(nl2 + 1);
    }
    c->options = slurp(c->dir, "options", NULL);
    glarex_ref_options_init(&c->opts, GLAREX_REF_OPTIONS_VERSION);
    if (c->options) {
        char *line, *save = NULL;
        c->has_opts = 1;
        for (line = strtok_r(c->options, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "dict_field=", 11) == 0)
                c->opts.dict_field = line + 11;
            else if (strncmp(line, "blob_field=", 11) == 0)
                c->opts.blob_field = line + 11;
            else
                fail_msg("%s: bad options line '%s'", c->dir, line);
        }
    }
}

static void case_free(ref_case *c)
{
    free(c->input);
    free(c->args);
    free(c->options);
}

static int case_parse(glarex_ref **out, const ref_case *c, glarex_error *err)
{
    const glarex_ref_options *opts = c->has_opts ? &c->opts : NULL;
    if (c->input)
        return glarex_ref_parse_ext(out, c->input, opts, err);
    return glarex_ref_from_args_ext(out, c->name, c->version, c->resource, opts, err);
}

/* Names of the case directories under tests/cases/ref/<sub>, sorted. */
static char **case_names(const char *root, size_t *count)
{
    DIR *d = opendir(root);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    if (!d)
        fail_msg("cannot open %s", root);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(names);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    *count = n;
    return names;
}

static void case_root(char *buf, size_t size, const char *sub)
{
    const char *root = getenv("GLAREX_TEST_SOURCE_DIR");
    assert_non_null(root);
    snprintf(buf, size, "%s/tests/cases/ref/%s", root, sub);
}

/* }====================================================================== */

/* {======================================================================
 * The `expected` format: one key=value line per field that applies, in this order.
 * ====================================================================== */

static const char *kind_text(glarex_ref_kind kind)
{
    switch (kind) {
    case GLAREX_REF_EXACT:
        return "exact";
    case GLAREX_REF_LATEST:
        return "latest";
    case GLAREX_REF_RANGE:
        return "range";
    case GLAREX_REF_SHA256:
        return "sha256";
    case GLAREX_REF_ID:
        return "id";
    }
    return "?";
}

static void append(char *out, size_t size, const char *fmt, ...)
{
    size_t used = strlen(out);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, size - used, fmt, ap);
    va_end(ap);
}

static void dump_ref(char *out, size_t size, const glarex_ref *ref)
{
    glarex_buf text = GLAREX_BUF_INIT;
    glarex__ref_query q;
    glarex_ref_op op;
    const char *s;

    out[0] = '\0';
    append(out, size, "kind=%s\n", kind_text(glarex_ref_kind_of(ref)));
    if ((s = glarex_ref_name(ref)) != NULL)
        append(out, size, "name=%s\n", s);
    if ((s = glarex_ref_id(ref)) != NULL)
        append(out, size, "id=%s\n", s);
    if ((s = glarex_ref_version(ref)) != NULL)
        append(out, size, "version=%s\n", s);
    if ((s = glarex_ref_range_lower(ref, &op)) != NULL)
        append(out, size, "lower=%s:%s\n", glarex__ref_op_name(op), s);
    if ((s = glarex_ref_range_upper(ref, &op)) != NULL)
        append(out, size, "upper=%s:%s\n", glarex__ref_op_name(op), s);
    if ((s = glarex_ref_sha256(ref)) != NULL)
        append(out, size, "sha256=%s\n", s);
    append(out, size, "field=%s\n", glarex_ref_field(ref));
    if ((s = glarex_ref_key(ref)) != NULL)
        append(out, size, "key=%s\n", s);
    assert_int_equal(glarex_ref_format(&text, ref), 0);
    assert_int_equal(strlen(text.ptr), text.size);
    append(out, size, "format=%s\n", text.ptr);
    glarex_buf_dispose(&text);
    assert_int_equal(glarex__ref_filters(&q, ref), 0);
    if (q.id)
        append(out, size, "lookup=id:%s\n", q.id);
    for (size_t i = 0; i < q.nfilters; i++)
        append(out, size, "filter=%s=%s:%s\n", q.filters[i].field, q.filters[i].op,
               q.filters[i].value);
    if (q.latest)
        append(out, size, "latest=1\n");
    if (q.sort)
        append(out, size, "sort=%s\n", q.sort);
}

/* }====================================================================== */

static void test_ref__valid_cases(void **state)
{
    char root[1024];
    size_t n;
    char **names;
    int failures = 0;
    (void)state;

    case_root(root, sizeof(root), "valid");
    names = case_names(root, &n);
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        ref_case c;
        glarex_ref *ref = NULL, *again = NULL;
        glarex_error err;
        glarex_buf text = GLAREX_BUF_INIT;
        char got[20000], reparsed[20000];
        char *expected;
        int rc;

        case_load(&c, root, names[i]);
        expected = slurp(c.dir, "expected", NULL);
        if (!expected)
            fail_msg("%s: no expected file", c.dir);
        rc = case_parse(&ref, &c, &err);
        if (rc != 0) {
            print_error("%s: %s\n", names[i], err.message);
            failures++;
        } else {
            dump_ref(got, sizeof(got), ref);
            if (strcmp(got, expected) != 0) {
                print_error("%s:\n--- expected\n%s--- got\n%s", names[i], expected, got);
                failures++;
            }
            /* The canonical text parses back to the same reference. */
            assert_int_equal(glarex_ref_format(&text, ref), 0);
            rc =
                glarex_ref_parse_ext(&again, text.ptr, c.has_opts ? &c.opts : NULL, &err);
            if (rc != 0) {
                print_error("%s: canonical '%s' does not parse: %s\n", names[i], text.ptr,
                            err.message);
                failures++;
            } else {
                dump_ref(reparsed, sizeof(reparsed), again);
                if (strcmp(got, reparsed) != 0) {
                    print_error("%s: canonical '%s' parses differently:\n%s", names[i],
                                text.ptr, reparsed);
                    failures++;
                }
            }
            glarex_buf_dispose(&text);
        }
        glarex_ref_free(again);
        glarex_ref_free(ref);
        free(expected);
        case_free(&c);
        free(names[i]);
    }
    free(names);
    assert_int_equal(failures, 0);
}

static void test_ref__invalid_cases(void **state)
{
    char root[1024];
    size_t n;
    char **names;
    int failures = 0;
    (void)state;

    case_root(root, sizeof(root), "invalid");
    names = case_names(root, &n);
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++) {
        ref_case c;
        glarex_ref *ref = (glarex_ref *)&c; /* must be reset to NULL */
        glarex_error err;
        char *expected, *message;
        int column = -1, rc;
        size_t offset = 0;

        case_load(&c, root, names[i]);
        expected = slurp(c.dir, "error", NULL);
        if (!expected)
            fail_msg("%s: no error file", c.dir);
        chomp(expected);
        message = strchr(expected, '\n');
        assert_non_null(message);
        *message++ = '\0';
        assert_int_equal(sscanf(expected, "%d %zu", &column, &offset), 2);

        memset(&err, 0x5a, sizeof(err)); /* a caller's struct may hold anything */
        rc = case_parse(&ref, &c, &err);
        if (rc != GLAREX_EINVALID || err.code != GLAREX_EINVALID || ref != NULL ||
            strcmp(err.message, message) != 0 || err.column != column ||
            err.offset != offset) {
            print_error("%s:\n  expected %d %zu %s\n  got      %d %zu %s (rc %d)\n",
                        names[i], column, offset, message, err.column, err.offset,
                        err.message, rc);
            failures++;
        } else if (column > 0) {
            assert_int_equal(err.line, 1);
            if (c.input && strncmp(err.source, c.input, sizeof(err.source) - 1) != 0) {
                print_error("%s: source '%s'\n", names[i], err.source);
                failures++;
            }
        }
        glarex_ref_free(ref == (glarex_ref *)&c ? NULL : ref);
        free(expected);
        case_free(&c);
        free(names[i]);
    }
    free(names);
    assert_int_equal(failures, 0);
}

static glarex_ref *parse_ok(const char *uri)
{
    glarex_ref *ref = NULL;
    glarex_error err;
    if (glarex_ref_parse(&ref, uri, &err) != 0)
        fail_msg("'%s': %s", uri, err.message);
    return ref;
}

static void assert_formats_as(glarex_ref *ref, const char *want)
{
    glarex_buf text = GLAREX_BUF_INIT;
    assert_int_equal(glarex_ref_format(&text, ref), 0);
    assert_string_equal(text.ptr, want);
    glarex_buf_dispose(&text);
    glarex_ref_free(ref);
}

static void test_ref__spellings_format_the_same(void **state)
{
    static const char *const spellings[] = {
        "glare://my_wf@1.0/heal vm.sh",
        "glare://{my_wf, 1.0}/heal vm.sh",
        "glare://{my_wf,1}/heal%20vm.sh",
        "glare://{ my_wf , 1.0.0 }/heal%20vm.sh?field=resources",
        "GLARE://my%5Fwf@01.0/heal vm.sh",
    };
    glarex_ref *ref = NULL;
    (void)state;

    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
        assert_formats_as(parse_ok(spellings[i]), "glare://my_wf@1.0.0/heal%20vm.sh");
    assert_int_equal(glarex_ref_from_args(&ref, "my_wf", "1", "heal vm.sh", NULL), 0);
    assert_formats_as(ref, "glare://my_wf@1.0.0/heal%20vm.sh");

    assert_formats_as(parse_ok("glare://my_wf/a.sh"), "glare://my_wf@latest/a.sh");
    assert_formats_as(parse_ok("glare://my_wf@latest/a.sh"), "glare://my_wf@latest/a.sh");
    assert_int_equal(glarex_ref_from_args(&ref, "my_wf", NULL, "a.sh", NULL), 0);
    assert_formats_as(ref, "glare://my_wf@latest/a.sh");
    assert_formats_as(parse_ok("glare://wf@ >= 1.0 , < 2 /a"),
                      "glare://wf@>=1.0.0,<2.0.0/a");
    assert_formats_as(parse_ok("glare://{wf, <2,>=1}/a"), "glare://wf@>=1.0.0,<2.0.0/a");
}

static void test_ref__range_maps_to_glare_filters(void **state)
{
    glarex_ref *ref = parse_ok("glare://my_wf@>=1.0,<2/heal_vm_script.sh");
    glarex__ref_query q;
    glarex_ref_op op;
    (void)state;

    assert_int_equal(glarex_ref_kind_of(ref), GLAREX_REF_RANGE);
    assert_string_equal(glarex_ref_range_lower(ref, &op), "1.0.0");
    assert_int_equal(op, GLAREX_REF_OP_GTE);
    assert_string_equal(glarex_ref_range_upper(ref, NULL), "2.0.0");
    assert_int_equal(glarex__ref_filters(&q, ref), 0);
    assert_null(q.id);
    assert_int_equal(q.nfilters, 4);
    assert_string_equal(q.filters[0].field, "name");
    assert_string_equal(q.filters[0].op, "eq");
    assert_string_equal(q.filters[0].value, "my_wf");
    assert_string_equal(q.filters[1].field, "version");
    assert_string_equal(q.filters[1].op, "gte");
    assert_string_equal(q.filters[1].value, "1.0.0");
    assert_string_equal(q.filters[2].op, "lt");
    assert_string_equal(q.filters[2].value, "2.0.0");
    assert_string_equal(q.filters[3].field, "status");
    assert_string_equal(q.sort, "version:desc");
    assert_int_equal(q.latest, 0);
    glarex_ref_free(ref);
}

static void test_ref__getters_answer_null_when_not_applicable(void **state)
{
    glarex_ref *ref =
        parse_ok("glare://id/5c46d11b-0f5e-4fd9-9f7c-8c0e8e3a1b2c?field=workflow");
    glarex_ref_op op = GLAREX_REF_OP_GT;
    (void)state;

    assert_int_equal(glarex_ref_kind_of(ref), GLAREX_REF_ID);
    assert_null(glarex_ref_name(ref));
    assert_null(glarex_ref_version(ref));
    assert_null(glarex_ref_range_lower(ref, &op));
    assert_int_equal(op, GLAREX_REF_OP_NONE);
    assert_null(glarex_ref_sha256(ref));
    assert_null(glarex_ref_key(ref));
    assert_string_equal(glarex_ref_field(ref), "workflow");
    assert_string_equal(glarex_ref_id(ref), "5c46d11b-0f5e-4fd9-9f7c-8c0e8e3a1b2c");
    glarex_ref_free(ref);

    assert_null(glarex_ref_name(NULL));
    assert_null(glarex_ref_range_upper(NULL, &op));
    assert_int_equal(op, GLAREX_REF_OP_NONE);
    assert_null(glarex_ref_field(NULL));
    assert_int_equal((int)glarex_ref_kind_of(NULL), 0);
}

static void test_ref__null_arguments_are_reported(void **state)
{
    glarex_ref *ref = NULL;
    glarex_error err;
    glarex_buf text = GLAREX_BUF_INIT;
    glarex__ref_query q;
    (void)state;

    assert_int_equal(glarex_ref_parse(&ref, NULL, &err), GLAREX_EINVALID);
    assert_string_equal(err.message, "invalid argument: 'uri'");
    assert_int_equal(glarex_ref_parse(NULL, "glare://a/b", &err), GLAREX_EINVALID);
    assert_string_equal(err.message, "invalid argument: 'out'");
    assert_int_equal(glarex_ref_from_args(&ref, NULL, "1.0", "a", &err), GLAREX_EINVALID);
    assert_string_equal(err.message, "invalid argument: 'name'");
    assert_null(ref);
    assert_int_equal(glarex_ref_parse(&ref, "glare://", NULL), GLAREX_EINVALID);
    assert_int_equal(glarex_ref_format(&text, NULL), GLAREX_EINVALID);
    assert_int_equal(glarex_ref_format(NULL, NULL), GLAREX_EINVALID);
    assert_int_equal(glarex__ref_filters(&q, NULL), GLAREX_EINVALID);
    glarex_ref_free(NULL);
}

static void test_ref__options_are_versioned(void **state)
{
    glarex_ref_options opts = GLAREX_REF_OPTIONS_INIT;
    glarex_ref *ref = NULL;
    glarex_error err;
    (void)state;

    assert_int_equal(glarex_ref_options_init(&opts, 2), GLAREX_EINVALID);
    assert_int_equal(glarex_ref_options_init(NULL, 1), GLAREX_EINVALID);
    assert_int_equal(glarex_ref_options_init(&opts, GLAREX_REF_OPTIONS_VERSION), 0);
    assert_null(opts.dict_field);
    opts.version = 7;
    assert_int_equal(glarex_ref_parse_ext(&ref, "glare://a/b", &opts, &err),
                     GLAREX_EINVALID);
    assert_string_equal(err.message, "unsupported glarex_ref_options version 7");
    assert_null(ref);
    assert_int_equal(sizeof(glarex_ref_options), sizeof(void *) == 8 ? 24 : 12);
}

/* A reference within the length limit whose canonical text would not be (the selector
 * written out, characters percent-encoded) is refused, so every canonical text parses. */
static void test_ref__canonical_text_stays_within_the_limit(void **state)
{
    char *uri = malloc(GLAREX_REF_MAX_LENGTH + 1), *key = malloc(GLAREX_REF_MAX_LENGTH + 1);
    glarex_buf text = GLAREX_BUF_INIT;
    glarex_ref *ref = NULL;
    glarex_error err;
    size_t head = strlen("glare://wf/");

    (void)state;
    assert_non_null(uri);
    assert_non_null(key);
    /* 'glare://wf/' and a key up to the limit: canonical 'glare://wf@latest/...' is
     * seven bytes longer. */
    memcpy(uri, "glare://wf/", head);
    memset(uri + head, 'k', GLAREX_REF_MAX_LENGTH - head);
    uri[GLAREX_REF_MAX_LENGTH] = '\0';
    assert_int_equal(glarex_ref_parse(&ref, uri, &err), GLAREX_EINVALID);
    assert_null(ref);
    assert_non_null(strstr(err.message, "canonical form"));
    assert_non_null(strstr(err.message, "4103 bytes"));
    /* Seven bytes shorter, it fits, and its canonical text parses back. */
    uri[GLAREX_REF_MAX_LENGTH - 7] = '\0';
    assert_int_equal(glarex_ref_parse(&ref, uri, &err), 0);
    assert_int_equal(glarex_ref_format(&text, ref), 0);
    assert_int_equal(text.size, GLAREX_REF_MAX_LENGTH);
    glarex_ref_free(ref);
    assert_int_equal(glarex_ref_parse(&ref, text.ptr, &err), 0);
    glarex_ref_free(ref);
    glarex_buf_dispose(&text);
    /* Arguments: a key of spaces triples when percent-encoded. */
    memset(key, ' ', 2000);
    key[2000] = '\0';
    assert_int_equal(glarex_ref_from_args(&ref, "wf", "1.0", key, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "shorten the name or the resource key"));
    free(uri);
    free(key);
}

/* The message names the input and the column, as the brief's example. */
static void test_ref__error_message_shape(void **state)
{
    glarex_ref *ref = NULL;
    glarex_error err;
    (void)state;

    assert_int_equal(glarex_ref_parse(&ref, "glare://wf@1.x/a.sh", &err),
                     GLAREX_EINVALID);
    assert_string_equal(
        err.message,
        "invalid reference 'glare://wf@1.x/a.sh': version '1.x' is not semver "
        "(column 13)");
    assert_int_equal(err.column, 13);
    assert_int_equal(err.offset, 12);
    assert_int_equal(err.line, 1);
    assert_string_equal(err.source, "glare://wf@1.x/a.sh");

    /* Columns count characters, offsets count bytes. */
    assert_int_equal(glarex_ref_parse(&ref, "glare://wörk@1.x/a", &err), GLAREX_EINVALID);
    assert_int_equal(err.column, 15);
    assert_int_equal(err.offset, 15);
}

/* Fails the 1st, 2nd, ... allocation until the call succeeds: every failure is a clean
 * GLAREX_ENOMEM with nothing leaked (ASan). */
static void test_ref__allocation_failures(void **state)
{
    static const char *const uris[] = {
        "glare://{my_wf, >=1.0,<2}/scripts/heal vm.sh",
        "glare://id/5c46d11b-0f5e-4fd9-9f7c-8c0e8e3a1b2c?field=workflow",
    };
    (void)state;

    for (size_t u = 0; u < sizeof(uris) / sizeof(uris[0]); u++) {
        long n;
        for (n = 0;; n++) {
            glarex_ref *ref = NULL;
            glarex_error err;
            glarex_buf text = GLAREX_BUF_INIT;
            int rc, parsed;

            fail_countdown = n;
            rc = glarex_ref_parse(&ref, uris[u], &err);
            parsed = rc == 0;
            if (parsed)
                rc = glarex_ref_format(&text, ref);
            fail_countdown = -1;
            if (parsed && rc != 0)
                assert_null(text.ptr); /* untouched on failure */
            glarex_buf_dispose(&text);
            glarex_ref_free(ref);
            if (rc == 0)
                break;
            assert_int_equal(rc, GLAREX_ENOMEM);
            if (!parsed) {
                assert_null(ref);
                assert_int_equal(err.code, GLAREX_ENOMEM);
                assert_string_equal(err.message, "out of memory");
            }
        }
        assert_true(n >= 3); /* parser state, the reference, the formatted text */
    }
    for (long n = 0;; n++) {
        glarex_ref *ref = NULL;
        glarex_error err;
        int rc;
        fail_countdown = n;
        rc = glarex_ref_from_args(&ref, "wf",
                                  "sha256="
                                  "0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef0123456789abcdef",
                                  "a", &err);
        fail_countdown = -1;
        glarex_ref_free(ref);
        if (rc == 0)
            break;
        assert_int_equal(rc, GLAREX_ENOMEM);
        assert_null(ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref__valid_cases),
        cmocka_unit_test(test_ref__invalid_cases),
        cmocka_unit_test(test_ref__spellings_format_the_same),
        cmocka_unit_test(test_ref__range_maps_to_glare_filters),
        cmocka_unit_test(test_ref__getters_answer_null_when_not_applicable),
        cmocka_unit_test(test_ref__null_arguments_are_reported),
        cmocka_unit_test(test_ref__options_are_versioned),
        cmocka_unit_test(test_ref__canonical_text_stays_within_the_limit),
        cmocka_unit_test(test_ref__error_message_shape),
        cmocka_unit_test(test_ref__allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
