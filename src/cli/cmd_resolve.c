/* resolve: what a reference names, and with --explain every step of getting there. */
#include "cli.h"

#include <string.h>

static const char *s_(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static void print_artifact_line(const char *label, const json_t *a)
{
    printf("%-12s%s %s  %s, %s, owner %s, id %s\n", label, s_(a, "name"),
           s_(a, "version"), s_(a, "status"), s_(a, "visibility"), s_(a, "owner"),
           s_(a, "id"));
}

/* The explain object of glarex_resolve_explain, one step per line. */
static void print_steps(const json_t *t)
{
    const json_t *q = json_object_get(t, "query"),
                 *cands = json_object_get(t, "candidates");
    const char *cache = json_string_value(json_object_get(t, "cache"));
    size_t i;
    json_t *v;

    printf("%-12s%s\n", "input:", s_(t, "input"));
    printf("%-12s%s (%s)\n", "reference:", s_(t, "reference"), s_(t, "kind"));
    printf("%-12s%s", "remembered:", s_(t, "remembered"));
    if (json_object_get(t, "index"))
        printf(" (%s)", s_(t, "index"));
    printf("\n");
    if (q) {
        printf("%-12s", "query:");
        if (json_string_value(json_object_get(q, "id")))
            printf(" id=%s", s_(q, "id"));
        json_array_foreach(json_object_get(q, "filters"), i, v)
            printf(" %s", json_string_value(v));
        if (json_is_true(json_object_get(q, "latest")))
            printf(" version=latest");
        if (json_string_value(json_object_get(q, "sort")))
            printf(" sort=%s", s_(q, "sort"));
        printf("\n");
    } else {
        printf("%-12s(none: answered without asking the store)\n", "query:");
    }
    if (cands) {
        printf("%-12s%zu\n", "candidates:", json_array_size(cands));
        json_array_foreach(cands, i, v) print_artifact_line("", v);
    }
    if (json_object_get(t, "chosen"))
        print_artifact_line("chosen:", json_object_get(t, "chosen"));
    if (json_object_get(t, "sha256")) {
        printf("%-12s%s\n", "sha256:", s_(t, "sha256"));
        printf("%-12s%" JSON_INTEGER_FORMAT " bytes\n",
               "size:", json_integer_value(json_object_get(t, "size")));
    }
    if (cache)
        printf("%-12s%s\n", "cache:",
               strcmp(cache, "download") == 0 ? "miss (downloaded)"
               : strcmp(cache, "disk") == 0   ? "hit (disk)"
                                              : "hit (memory)");
}

int cmd_resolve(cli *c, int argc, char **argv)
{
    cli_list refs = {0};
    int explain = 0, rc;
    cli_opt opts[] = {
        {CLI_OPT_ARGS, "REF", 0, &refs, NULL,
         "a glare:// URI, or NAME[@VERSION] KEY as resource-get takes them",
         CLI_OPT_REQUIRED},
        {CLI_OPT_SWITCH, "explain", 'e', &explain, NULL,
         "show each step: reference, query, candidates, choice, sha256, cache", 0},
        {0},
    };
    static const char *const columns[] = {"id",     "name", "version",      "key",
                                          "sha256", "size", "content_type", NULL};
    const cli_view view = {CLI_SHAPE_ONE, columns, NULL};
    const cli_cmd_spec spec = {
        "resolve", opts,
        "Resolves a reference as glare() does: glarex resolve "
        "glare://NAME@VERSION/KEY,\nor glarex resolve NAME@VERSION KEY."};
    const char *uri = NULL, *version = NULL, *key = NULL;
    char *name = NULL;
    glarex_ref *ref = NULL;
    glarex_error err;
    glarex_blob *blob = NULL;
    json_t *out = NULL;

    rc = cli_parse_view(c, &spec, &view, argc, argv);
    if (rc != CLI_CONTINUE)
        goto done;
    if (explain && (c->columns.count || c->format > CLI_YAML)) {
        rc = cli_usage_error(&spec, "--explain prints its steps as table, json or yaml, "
                                    "without -c");
        goto done;
    }
    if (refs.count == 1) {
        uri = refs.items[0];
    } else if (refs.count == 2) {
        key = refs.items[1];
        if (cli_split_artifact(&name, &version, refs.items[0]) < 0) {
            rc = cli_fail("out of memory");
            goto done;
        }
    } else if (refs.count == 3) { /* the old shape, kept working */
        fprintf(stderr, "glarex: resolve: NAME VERSION KEY is deprecated: write "
                        "NAME@VERSION KEY\n");
        if (!(name = strdup(refs.items[0]))) {
            rc = cli_fail("out of memory");
            goto done;
        }
        version = refs.items[1];
        key = refs.items[2];
    } else {
        rc = cli_usage_error(&spec,
                             "expected a glare:// URI or NAME@VERSION KEY, not %zu "
                             "arguments",
                             refs.count);
        goto done;
    }
    /* a reference that does not parse is a usage error, before anything is asked (a
     * URI may be a self reference: the library tells, below) */
    if (!uri && glarex_ref_from_args(&ref, name, version ? version : "latest", key, &err) < 0) {
        rc = cli_usage_error(&spec, "%s", err.message);
        goto done;
    }
    if ((rc = cli_open_ctx(c, 1, &err)) < 0) {
        rc = cli_error(&err);
        goto done;
    }
    if (explain) {
        rc = glarex_request_explain(&out, c->req, uri, name, version, key, &err);
        if (rc == GLAREX_EAUTH && cli_retry_auth(c, &err)) {
            json_decref(out);
            out = NULL;
            rc = glarex_request_explain(&out, c->req, uri, name, version, key, &err);
        }
    } else {
        CLI_AUTH_RETRY(c, rc, &err,
                       uri ? glarex_request_fetch_uri(&blob, c->req, uri, &err)
                           : glarex_request_fetch(&blob, c->req, name, version, key, &err));
        if (rc == 0)
            out = glarex_blob_info(blob);
    }
    if (out && explain && c->format == CLI_TEXT)
        print_steps(out);
    else if (out) /* with --explain, the whole explanation */
        rc = cli_print_record(c, &view, out) ? 1 : rc;
    if (rc == GLAREX_EINVALID) /* the reference given, or --workflow, is malformed */
        rc = cli_usage_error(&spec, "%s", err.message);
    rc = rc < 0 ? cli_error(&err) : rc;

done:
    glarex_ref_free(ref);
    free(name);
    json_decref(out);
    glarex_blob_free(blob);
    cli_list_free(&refs);
    return rc;
}
