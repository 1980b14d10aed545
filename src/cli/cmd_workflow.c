/* workflow-list, workflow-show, workflow-delete, workflow-get-definition,
 * resource-list: artifacts by name. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_NAME "workflows"

static int is_uuid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int list_by_name(json_t **out, cli *c, const char *name, const char *version,
                        glarex_error *err)
{
    glarex_filter f[2] = {{"name", "eq", name}, {"version", "eq", version}};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    int rc;

    if (!version) /* latest: the highest active version, as glare(NAME, 'latest') */
        f[1] = (glarex_filter){"status", "eq", "active"};
    lo.filters = f;
    lo.nfilters = 2;
    lo.latest = version == NULL;
    CLI_AUTH_RETRY(c, rc, err, glarex_store_list(out, c->store, TYPE_NAME, &lo, err));
    return rc;
}

void cli_append_versions(cli *c, glarex_error *err, const char *name, const char *version)
{
    glarex_filter f = {"name", "eq", name};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_error ignored;
    json_t *arts = NULL, *a;
    const char *versions[64], *hint;
    size_t n = 0, i, len;

    lo.filters = &f;
    lo.nfilters = 1;
    lo.sort = "version:desc";
    if (glarex_store_list(&arts, c->store, TYPE_NAME, &lo, &ignored) < 0)
        return;
    json_array_foreach(arts, i, a) if (n < 64 && json_string_value(json_object_get(a, "version")))
        versions[n++] = json_string_value(json_object_get(a, "version"));
    len = strlen(err->message);
    if (!n)
        snprintf(err->message + len, sizeof(err->message) - len,
                 "; no version of '%s' exists (is the name right?)", name);
    else if ((hint = cli_closest(version, versions, n)))
        len += (size_t)snprintf(err->message + len, sizeof(err->message) - len,
                                "; did you mean '%s@%s'?", name, hint);
    for (i = 0; i < n && len < sizeof(err->message); i++)
        len += (size_t)snprintf(err->message + len, sizeof(err->message) - len, "%s%s",
                                i ? ", " : "; its versions (highest first): ", versions[i]);
    json_decref(arts);
}

int cli_find_artifact(json_t **out, cli *c, const char *spec, glarex_error *err)
{
    char *name = strdup(spec), *at;
    const char *version = NULL;
    json_t *arts = NULL;
    int rc;

    *out = NULL;
    if (!name)
        return cli_set_error(err, GLAREX_ENOMEM, "out of memory");
    if ((rc = cli_open_store(c, err)) < 0)
        goto done;
    if (is_uuid(spec)) {
        CLI_AUTH_RETRY(c, rc, err, glarex_store_get(out, c->store, TYPE_NAME, spec, err));
        goto done;
    }
    at = strrchr(name, '@');
    if (at && at != name) {
        *at = '\0';
        version = strcmp(at + 1, "latest") == 0 ? NULL : at + 1;
    }
    if ((rc = list_by_name(&arts, c, name, version, err)) < 0)
        goto done;
    if (json_array_size(arts) == 0) {
        rc = cli_set_error(err, GLAREX_ENOTFOUND, "no workflow artifact '%s' in %s", spec,
                           cli_store_label(c));
        if (version)
            cli_append_versions(c, err, name, version);
    } else if (json_array_size(arts) > 1) {
        char ids[300] = "";
        size_t i;
        json_t *a;
        json_array_foreach(arts, i, a) {
            size_t n = strlen(ids);
            snprintf(ids + n, sizeof(ids) - n, "%s%s (owner %s)", i ? ", " : "",
                     json_string_value(json_object_get(a, "id")),
                     json_string_value(json_object_get(a, "owner")));
        }
        rc = cli_set_error(err, GLAREX_EAMBIGUOUS,
                           "'%s' names %zu artifacts: %s; give the id instead", spec,
                           json_array_size(arts), ids);
    } else {
        *out = json_incref(json_array_get(arts, 0));
    }
done:
    json_decref(arts);
    free(name);
    return rc;
}

/* The columns of an artifact summary (cli_artifact_summary). */
static const char *const artifact_columns[] = {
    "id",         "name",       "version",      "status",   "visibility", "owner",
    "description", "tags",      "created_at",   "updated_at", "activated_at", "workflow",
    "resources",  NULL};
/* The columns of a resource row. */
static const char *const resource_columns[] = {"key", "size", "sha256", "md5",
                                               "content_type", NULL};

int cmd_workflow_list(cli *c, int argc, char **argv)
{
    /* python-glareclient's list columns, shown in this command's order */
    static const char *const table[] = {"id",         "name",   "version", "owner",
                                        "visibility", "status", NULL};
    const cli_view view = {CLI_SHAPE_LIST, artifact_columns, table};
    const char *name = NULL, *status = NULL;
    cli_opt opts[] = {
        {CLI_OPT_VALUE, "name", 'n', &name, "NAME", "only artifacts with this name", 0},
        {CLI_OPT_VALUE, "status", 0, &status, "STATUS",
         "only drafted, active or deactivated ones", 0},
        {0},
    };
    const cli_cmd_spec spec = {
        "workflow-list", opts,
        "Lists the workflow artifacts of the store, by name and version."};
    glarex_filter f[2];
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_error err;
    json_t *arts = NULL, *out = NULL, *doc, *a;
    size_t i;
    int rc;

    if ((rc = cli_parse_view(c, &spec, &view, argc, argv)) != CLI_CONTINUE)
        return rc;
    if (status && strcmp(status, "drafted") != 0 && strcmp(status, "active") != 0 &&
        strcmp(status, "deactivated") != 0)
        return cli_usage_error(&spec, "--status '%s': use drafted, active or deactivated",
                               status);
    if (name)
        f[lo.nfilters++] = (glarex_filter){"name", "eq", name};
    if (status)
        f[lo.nfilters++] = (glarex_filter){"status", "eq", status};
    lo.filters = f;
    lo.sort = "name:asc,version:asc";
    if ((rc = cli_open_store(c, &err)) == 0)
        CLI_AUTH_RETRY(c, rc, &err,
                       glarex_store_list(&arts, c->store, TYPE_NAME, &lo, &err));
    if (rc < 0)
        return cli_error(&err);

    out = json_array();
    json_array_foreach(arts, i, a) json_array_append_new(out, cli_artifact_summary(a));
    doc = json_pack("{s:s, s:O}", "store", cli_store_label(c), "artifacts", out);
    rc = cli_print_rows(c, &view, doc, "artifacts");
    json_decref(doc);
    if (!json_array_size(out) && !c->quiet && c->format == CLI_TEXT)
        fprintf(stderr, "glarex: no workflow artifacts in %s\n", cli_store_label(c));
    json_decref(out);
    json_decref(arts);
    return rc;
}

int cmd_workflow_show(cli *c, int argc, char **argv)
{
    const char *what = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "NAME[@VERSION]", 0, &what, NULL,
         "artifact name and version (default: the highest), or its id", CLI_OPT_REQUIRED},
        {0},
    };
    const cli_cmd_spec spec = {"workflow-show", opts,
                               "Shows one workflow artifact: status, workflow blob and "
                               "resources with sizes and sha256."};
    const cli_view view = {CLI_SHAPE_ONE, artifact_columns, NULL};
    glarex_error err;
    json_t *art = NULL, *sum;
    int rc;

    if ((rc = cli_parse_view(c, &spec, &view, argc, argv)) != CLI_CONTINUE ||
        (rc = cli_check_artifact_arg(&spec, what, NULL, 1)) != 0)
        return rc;
    if (cli_find_artifact(&art, c, what, &err) < 0)
        return cli_error(&err);
    sum = cli_artifact_summary(art);
    rc = cli_print_record(c, &view, sum);
    json_decref(sum);
    json_decref(art);
    return rc;
}

/* A destructive command names one artifact: its id, or NAME@VERSION with one exact
 * version (never a range or "latest"), returned normalised in *out ("1.0" is 1.0.0;
 * NULL for an id). Returns 0 or the exit status of a usage error. */
static int exactly_one(char **out, const cli_cmd_spec *spec, const char *what)
{
    const char *at = strrchr(what, '@');
    glarex_error err;
    glarex_ref *ref = NULL;
    char *name;
    int rc = 0;

    *out = NULL;
    if (is_uuid(what))
        return 0;
    if (!at || at == what)
        return cli_usage_error(spec, "'%s' has no version: write NAME@VERSION", what);
    if (!(name = strndup(what, (size_t)(at - what))))
        return cli_fail("out of memory");
    if (glarex_ref_from_args(&ref, name, at + 1, NULL, &err) < 0 ||
        glarex_ref_kind_of(ref) != GLAREX_REF_EXACT)
        rc = cli_usage_error(spec,
                             "'%s' does not name one version%s%s%s: give the exact version "
                             "(NAME@1.0.0) or the artifact's id",
                             what, ref ? "" : " (", ref ? "" : err.message, ref ? "" : ")");
    else if (asprintf(out, "%s@%s", name, glarex_ref_version(ref)) < 0) {
        *out = NULL;
        rc = cli_fail("out of memory");
    }
    glarex_ref_free(ref);
    free(name);
    return rc;
}

int cmd_workflow_delete(cli *c, int argc, char **argv)
{
    const char *what = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "NAME@VERSION", 0, &what, NULL,
         "artifact name and one exact version (no range, not latest), or its id",
         CLI_OPT_REQUIRED},
        {0},
    };
    const cli_cmd_spec spec = {"workflow-delete", opts,
                               "Deletes one workflow artifact and its blobs."};
    glarex_error err;
    json_t *art = NULL, *doc;
    char *exact = NULL;
    const char *id;
    int rc;

    CLI_PARSE(c, &spec, argc, argv);
    if ((rc = exactly_one(&exact, &spec, what)) != 0)
        return rc;
    rc = cli_find_artifact(&art, c, exact ? exact : what, &err);
    free(exact);
    if (rc < 0)
        return cli_error(&err);
    id = json_string_value(json_object_get(art, "id"));
    CLI_AUTH_RETRY(c, rc, &err, glarex_store_delete(c->store, TYPE_NAME, id, &err));
    if (rc < 0) {
        json_decref(art);
        return cli_error(&err);
    }
    cli_invalidate(c, json_string_value(json_object_get(art, "name")), id);
    doc = json_pack("{s:{s:s?, s:O, s:O}}", "deleted", "id", id, "name",
                    json_object_get(art, "name"), "version",
                    json_object_get(art, "version"));
    if (c->format == CLI_JSON)
        rc = cli_print_json(stdout, doc);
    else if (!c->quiet)
        printf("deleted %s %s (id %s)\n", json_string_value(json_object_get(art, "name")),
               json_string_value(json_object_get(art, "version")), id);
    json_decref(doc);
    json_decref(art);
    return rc;
}

int cmd_resource_list(cli *c, int argc, char **argv)
{
    const char *what = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "NAME[@VERSION]", 0, &what, NULL,
         "artifact name and version (default: the highest), or its id", CLI_OPT_REQUIRED},
        {0},
    };
    const cli_cmd_spec spec = {"resource-list", opts,
                               "Lists the resources of a workflow artifact: key, size, "
                               "sha256, content type."};
    static const char *const table[] = {"key", "size", "sha256", "content_type", NULL};
    const cli_view view = {CLI_SHAPE_LIST, resource_columns, table};
    glarex_error err;
    json_t *art = NULL, *sum, *doc;
    int rc = 0;

    if ((rc = cli_parse_view(c, &spec, &view, argc, argv)) != CLI_CONTINUE ||
        (rc = cli_check_artifact_arg(&spec, what, NULL, 1)) != 0)
        return rc;
    if (cli_find_artifact(&art, c, what, &err) < 0)
        return cli_error(&err);
    sum = cli_artifact_summary(art);
    doc = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(sum, "id"), "name",
                    json_object_get(sum, "name"), "version", json_object_get(sum, "version"),
                    "resources", json_object_get(sum, "resources"));
    rc = cli_print_rows(c, &view, doc, "resources");
    json_decref(doc);
    json_decref(sum);
    json_decref(art);
    return rc;
}

/* The downloaded definition, held until it is verified. */
typedef struct definition_buf {
    char *data;
    size_t size, cap;
} definition_buf;

static int definition_append(const char *data, size_t len, void *payload)
{
    definition_buf *b = payload;
    if (len > CLI_MAX_DOCUMENT - b->size)
        return 1; /* more than any definition workflow-create stores */
    if (b->size + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->size + len)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return 1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, data, len);
    b->size += len;
    return 0;
}

int cmd_workflow_get_definition(cli *c, int argc, char **argv)
{
    const char *what = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "NAME[@VERSION]", 0, &what, NULL,
         "artifact name and version (default: the highest), or its id", CLI_OPT_REQUIRED},
        {0},
    };
    const cli_cmd_spec spec = {"workflow-get-definition", opts,
                               "Prints the workflow definition a workflow artifact stores, "
                               "verified against its sha256\n"
                               "(as Mistral's workflow-get-definition prints Mistral's)."};
    glarex_error err;
    glarex_digests want;
    json_t *art = NULL;
    definition_buf buf = {NULL, 0, 0};
    int rc;

    CLI_PARSE(c, &spec, argc, argv);
    if (cli_find_artifact(&art, c, what, &err) < 0)
        return cli_error(&err);
    glarex_blob_loc loc = {TYPE_NAME, json_string_value(json_object_get(art, "id")),
                           "workflow", NULL};
    rc = glarex_digests_from_json(&want, json_object_get(art, "workflow"), &err);
    if (rc < 0 || !json_is_object(json_object_get(art, "workflow")))
        rc = cli_set_error(&err, GLAREX_ENOTFOUND, "%s (id %s) has no workflow blob yet",
                           what, loc.id);
    if (rc == 0)
        CLI_AUTH_RETRY(c, rc, &err,
                       glarex_store_download(NULL, c->store, &loc, &want, definition_append,
                                             &buf, &err));
    if (rc < 0)
        rc = cli_error(&err);
    else if (c->format == CLI_JSON) {
        json_t *doc = json_pack("{s:O, s:O, s:O, s:s%}", "id", json_object_get(art, "id"),
                                "name", json_object_get(art, "name"), "version",
                                json_object_get(art, "version"), "definition",
                                buf.data ? buf.data : "", buf.size);
        rc = doc ? cli_print_json(stdout, doc)
                 : cli_fail("%s: the definition is not UTF-8 text", what);
        json_decref(doc);
    } else if (buf.size && fwrite(buf.data, 1, buf.size, stdout) != buf.size) {
        rc = cli_fail("writing the output: %s", strerror(errno));
    }
    free(buf.data);
    json_decref(art);
    return rc;
}
