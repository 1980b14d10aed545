/* workflow-create: check a workflow and its resources, then create the artifact (POST,
 * PUT workflow, PUT each resource, optionally POST to Mistral, activate last), and
 * delete everything again when any step fails or an interrupt arrives. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define TYPE_NAME "workflows"
#define WORKFLOW_FIELD "workflow"
#define RESOURCES_FIELD "resources"
#define WORKFLOW_CONTENT_TYPE "application/x-yaml"
#define GLARE_DEFAULT_MAX_BLOB (10u << 20) /* Glare's BlobField default max_blob_size */

/* Every artifact this command creates carries this metadata entry, so that a draft it
 * left behind can be told from somebody else's. */
#define MARK_KEY "created_by"
#define MARK_VALUE "glarex workflow-create"

/* How long the rollback keeps asking for the draft's deletion. Glare answers 409 for
 * about a second after an upload was broken off (glare-api.md §15). */
#define ROLLBACK_WITHIN_MS 5000
#define ROLLBACK_FIRST_PAUSE_MS 100
#define ROLLBACK_MAX_PAUSE_MS 1000

typedef struct resource {
    char *key;        /* owned */
    const char *path; /* borrowed from argv */
    char sha256[65];
    uint64_t size;
    const char *content_type;
} resource;

typedef struct plan {
    const char *file, *name, *version, *description, *mistral_url;
    int replace_draft; /* --replace-draft */
    const cli_list *tags;
    char *text; /* the workflow definition */
    size_t text_len;
    char sha256[65];
    json_t *doc; /* the parsed definition */
    json_t *wf_names;
    json_t *warnings;
    resource *res;
    size_t nres;
    glarex_ref *version_ref; /* owns the normalised version */
} plan;

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".sh", "text/x-shellscript"},  {".bash", "text/x-shellscript"},
                 {".py", "text/x-python"},       {".yaml", "application/x-yaml"},
                 {".yml", "application/x-yaml"}, {".json", "application/json"},
                 {".txt", "text/plain"},         {".j2", "text/plain"},
                 {".ini", "text/plain"},         {".conf", "text/plain"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && !strchr(dot, '/') && i < sizeof(types) / sizeof(types[0]);
         i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static void plan_free(plan *p)
{
    free(p->text);
    for (size_t i = 0; i < p->nres; i++)
        free(p->res[i].key);
    free(p->res);
    json_decref(p->doc);
    json_decref(p->wf_names);
    json_decref(p->warnings);
    glarex_ref_free(p->version_ref);
}

/* {====================================================================
 * Checks before anything is sent
 * ==================================================================== */

/* KEY=PATH, or PATH alone (the key is its base name). Returns 0 or a usage error. */
static int parse_resources(plan *p, const cli_cmd_spec *spec, const cli_list *args)
{
    p->res = calloc(args->count ? args->count : 1, sizeof(*p->res));
    if (!p->res)
        return cli_fail("out of memory");
    for (size_t i = 0; i < args->count; i++) {
        const char *a = args->items[i], *eq = strchr(a, '=');
        resource *r = &p->res[p->nres];
        if (eq) {
            r->key = strndup(a, (size_t)(eq - a));
            r->path = eq + 1;
        } else {
            r->path = a;
            r->key = strdup(strrchr(a, '/') ? strrchr(a, '/') + 1 : a);
        }
        if (!r->key)
            return cli_fail("out of memory");
        p->nres++;
        if (!r->key[0] || !r->path[0])
            return cli_usage_error(spec, "--resource '%s': expected KEY=PATH", a);
        for (size_t k = 0; k + 1 < p->nres; k++)
            if (strcmp(p->res[k].key, r->key) == 0)
                return cli_usage_error(spec, "--resource: key '%s' is given twice",
                                       r->key);
        r->content_type = content_type_of(r->path);
    }
    return 0;
}

static resource *find_resource(plan *p, const char *key)
{
    for (size_t i = 0; i < p->nres; i++)
        if (strcmp(p->res[i].key, key) == 0)
            return &p->res[i];
    return NULL;
}

/* Every reference to this artifact needs its --resource; an unused one is a warning. */
static int lint(cli *c, plan *p)
{
    glarex_error err;
    json_t *refs = NULL, *r;
    size_t i;
    int missing = 0;

    if (cli_lint_refs(&refs, p->doc, p->name, p->version, &err) < 0)
        return cli_error(&err);
    json_array_foreach(refs, i, r) {
        const char *key = json_string_value(json_object_get(r, "key"));
        const char *other = json_string_value(json_object_get(r, "other_version"));
        if (other) {
            const char *ref = json_string_value(json_object_get(r, "ref"));
            json_array_append_new(p->warnings,
                                  json_sprintf("%s names version %s of this workflow, not "
                                               "%s being created",
                                               ref, other, p->version));
            cli_warn(c,
                     "%s: %s reads version %s of '%s', not the %s being created: write "
                     "glare('%s') (or glare://%s) to read this version's own resource",
                     p->file, ref, other, p->name, p->version, key ? key : "KEY",
                     key ? key : "KEY");
            continue;
        }
        if (key && !find_resource(p, key)) {
            cli_fail("%s: %s needs --resource '%s=PATH'", p->file,
                     json_string_value(json_object_get(r, "ref")), key);
            missing++;
        }
    }
    for (size_t k = 0; k < p->nres; k++) {
        int used = 0;
        json_array_foreach(refs, i, r) used |=
            !json_object_get(r, "other_version") && json_is_string(json_object_get(r, "key")) &&
            strcmp(json_string_value(json_object_get(r, "key")), p->res[k].key) == 0;
        if (!used) {
            json_array_append_new(p->warnings,
                                  json_sprintf("resource '%s' is not referenced by %s",
                                               p->res[k].key, p->file));
            cli_warn(c, "resource '%s' is not referenced by %s", p->res[k].key, p->file);
        }
    }
    json_decref(refs);
    return missing ? 1 : 0;
}

/* The directory of a local store (new), or NULL for a Glare server. */
static char *local_store_dir(const cli *c)
{
    const char *url = cli_setting(c, S_GLARE_URL), *data = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char *dir = NULL;
    int n;

    if (url)
        return strncmp(url, "file://", 7) == 0 ? strdup(url + 7) : NULL;
    if (data && data[0] == '/') /* where the library puts the embedded default store */
        n = asprintf(&dir, "%s/glarex/store", data);
    else
        n = asprintf(&dir, "%s/.local/share/glarex/store", home ? home : "");
    return n < 0 ? NULL : dir;
}

/* Bytes free to this user on the file system `dir` is (or would be made) on. */
static int free_space(uint64_t *out, const char *dir)
{
    char *path = strdup(dir), *slash;
    struct statvfs vfs;
    int rc = -1;

    while (path && (rc = statvfs(path, &vfs)) < 0 && errno == ENOENT &&
           (slash = strrchr(path, '/')) && slash != path)
        *slash = '\0'; /* the store is made by the first create: ask its parent */
    free(path);
    if (rc < 0)
        return -1;
    *out = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return 0;
}

static int refused(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refused(const char *what, const char *fmt, ...)
{
    va_list ap;
    char text[512];
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return cli_fail("%s: the store would refuse it: %s", what, text);
}

static int over_cap(const cli *c, const char *what, uint64_t size, uint64_t cap)
{
    char a[32];
    return refused(what, "%llu bytes (%s), more than max_resource_size %llu bytes (%s)",
                   (unsigned long long)size, cli_size(a, size), (unsigned long long)cap,
                   cli_setting_origin(c, S_MAX_RESOURCE_SIZE));
}

/* Every limit the store applies, checked before anything is sent: the fields a local
 * store (as Glare) refuses, its size cap (max_resource_size) and the disk it is on. A
 * Glare server applies its own caps: a blob over Glare's default gets a warning. */
static int check_limits(cli *c, const plan *p)
{
    uint64_t cap = cli_max_resource_size(c), total = 0, all = p->text_len, avail;
    char *dir = local_store_dir(c);
    char a[32], b[32];
    int bad = 0;

    bad |= strlen(p->name) > GLAREX_LOCAL_MAX_NAME_LENGTH &&
           refused(p->file, "the name is %zu bytes long, more than %d", strlen(p->name),
                   GLAREX_LOCAL_MAX_NAME_LENGTH);
    bad |= p->description && strlen(p->description) > GLAREX_LOCAL_MAX_DESCRIPTION_LENGTH &&
           refused("--description", "%zu bytes, more than %d", strlen(p->description),
                   GLAREX_LOCAL_MAX_DESCRIPTION_LENGTH);
    for (size_t i = 0; i < p->tags->count; i++) {
        const char *t = p->tags->items[i];
        bad |= (!t[0] || strpbrk(t, ",/") || strlen(t) > GLAREX_LOCAL_MAX_NAME_LENGTH) &&
               refused("--tag", "'%.40s' must be 1 to %d bytes without ',' or '/'", t,
                       GLAREX_LOCAL_MAX_NAME_LENGTH);
    }
    bad |= p->tags->count > 255 && refused("--tag", "%zu tags, more than 255", p->tags->count);
    bad |= p->nres > GLAREX_LOCAL_MAX_DICT_KEYS &&
           refused("--resource", "%zu resources, more than %d", p->nres,
                   GLAREX_LOCAL_MAX_DICT_KEYS);
    for (size_t i = 0; i < p->nres; i++) {
        const resource *r = &p->res[i];
        bad |= strlen(r->key) > GLAREX_LOCAL_MAX_KEY_LENGTH &&
               refused(r->path, "the key is %zu bytes long, more than %d", strlen(r->key),
                       GLAREX_LOCAL_MAX_KEY_LENGTH);
        bad |= dir && cap && r->size > cap && over_cap(c, r->path, r->size, cap);
        if (!dir && r->size > GLARE_DEFAULT_MAX_BLOB)
            cli_warn(c, "%s: %s; a Glare server refuses blobs over its max_blob_size "
                     "(10 MiB unless its operator raised it)",
                     r->path, cli_size(a, r->size));
        total += r->size;
    }
    bad |= dir && cap && p->text_len > cap && over_cap(c, p->file, p->text_len, cap);
    bad |= dir && cap && total > GLAREX_LOCAL_MAX_DICT_SIZE &&
           refused("--resource", "%s in all, more than the %s a capped store takes for "
                   "one artifact's resources", cli_size(a, total),
                   cli_size(b, GLAREX_LOCAL_MAX_DICT_SIZE));
    all += total;
    bad |= dir && free_space(&avail, dir) == 0 && all > avail &&
           refused(dir, "%s to store, %s free on its disk", cli_size(a, all),
                   cli_size(b, avail));
    free(dir);
    return bad ? 1 : 0;
}

/* The sizes of the resource files, for the checks before they are read. */
static int stat_resources(plan *p)
{
    struct stat st;
    for (size_t i = 0; i < p->nres; i++) {
        if (stat(p->res[i].path, &st) < 0)
            return cli_fail("%s: %s", p->res[i].path, strerror(errno));
        p->res[i].size = (uint64_t)st.st_size;
    }
    return 0;
}

/* Reads, parses and checks everything. Returns 0, or the exit status. */
static int prepare(cli *c, plan *p, const cli_cmd_spec *spec, const cli_list *resources)
{
    glarex_error err;
    int rc;

    if ((rc = parse_resources(p, spec, resources)) != 0)
        return rc;
    if (cli_read_file(&p->text, &p->text_len, p->file, &err) < 0)
        return cli_error(&err);
    if (glarex_yaml_parse(&p->doc, p->text, p->text_len, p->file, &err) < 0)
        return cli_error(&err);
    p->wf_names = cli_workflow_names(p->doc);
    if (!p->wf_names)
        return cli_fail("%s: not a Mistral workflow definition (the top level is not a "
                        "mapping)",
                        p->file);
    if (!p->name) {
        if (json_array_size(p->wf_names) != 1)
            return cli_usage_error(spec,
                                   "%s defines %zu workflows: give the artifact name "
                                   "with --name",
                                   p->file, json_array_size(p->wf_names));
        p->name = json_string_value(json_array_get(p->wf_names, 0));
    }
    /* The version the store will record ("1.0" is 1.0.0), checked as a reference is. */
    if (glarex_ref_from_args(&p->version_ref, p->name, p->version, NULL, &err) < 0)
        return cli_usage_error(spec, "%s", err.message);
    if (glarex_ref_kind_of(p->version_ref) != GLAREX_REF_EXACT)
        return cli_usage_error(spec, "--version '%s' is not one exact version",
                               p->version);
    p->version = glarex_ref_version(p->version_ref);

    if ((rc = lint(c, p)) != 0 || (rc = stat_resources(p)) != 0 ||
        (rc = check_limits(c, p)) != 0)
        return rc;
    if (cli_sha256_buffer(p->sha256, p->text, p->text_len) < 0)
        return cli_fail("%s: cannot compute its sha256", p->file);
    for (size_t i = 0; i < p->nres; i++)
        if (cli_sha256_file(p->res[i].sha256, &p->res[i].size, p->res[i].path, &err) < 0)
            return cli_error(&err);
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * Output
 * ==================================================================== */

static json_t *resources_json(const plan *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->nres; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:I, s:s, s:s}", "key", p->res[i].key, "path",
                         p->res[i].path, "size", (json_int_t)p->res[i].size, "sha256",
                         p->res[i].sha256, "content_type", p->res[i].content_type));
    return a;
}

static int print_dry_run(cli *c, const plan *p)
{
    const char *store = cli_store_label(c);
    char sz[32];
    int rc = 0;

    if (c->format == CLI_JSON) {
        json_t *doc = json_pack(
            "{s:b, s:s?, s:s, s:s, s:{s:s, s:I, s:s, s:s}, s:o, s:O, s:s?, s:O}",
            "dry_run", 1, "store", store, "name", p->name, "version", p->version,
            "workflow", "path", p->file, "size", (json_int_t)p->text_len, "sha256",
            p->sha256, "content_type", WORKFLOW_CONTENT_TYPE, "resources",
            resources_json(p), "warnings", p->warnings, "mistral_url", p->mistral_url,
            "mistral_workflows", p->wf_names);
        rc = cli_print_json(stdout, doc);
        json_decref(doc);
        return rc;
    }
    printf("dry run: nothing was sent\n");
    printf("store:     %s\n", store ? store : "the local default store");
    printf("artifact:  %s %s\n", p->name, p->version);
    printf("workflow:  %s  %s  sha256 %s\n", p->file, cli_size(sz, p->text_len),
           p->sha256);
    for (size_t i = 0; i < p->nres; i++)
        printf("resource:  %s <- %s  %s  sha256 %s  (%s)\n", p->res[i].key,
               p->res[i].path, cli_size(sz, p->res[i].size), p->res[i].sha256,
               p->res[i].content_type);
    if (p->mistral_url)
        printf("mistral:   would create %zu workflow(s) in %s (or update them there "
               "when Mistral has them)\n",
               json_array_size(p->wf_names), p->mistral_url);
    return 0;
}

static int print_created(cli *c, const plan *p, const json_t *art, const json_t *mistral,
                         int updated)
{
    json_t *sum = cli_artifact_summary(art);
    size_t i;
    json_t *w;
    int rc = 0;

    if (c->format == CLI_JSON) {
        json_object_set_new(sum, "dry_run", json_false());
        json_object_set_new(sum, "store", json_string(cli_store_label(c)));
        json_object_set(sum, "warnings", p->warnings);
        json_object_set_new(sum, "mistral",
                            mistral ? json_deep_copy(mistral) : json_null());
        if (mistral)
            json_object_set_new(sum, "mistral_updated", json_boolean(updated));
        rc = cli_print_json(stdout, sum);
    } else {
        if (!c->quiet)
            printf("created %s %s in %s\n", p->name, p->version,
                   cli_store_label(c));
        cli_print_artifact(sum);
        json_array_foreach(mistral, i, w)
            printf("mistral:     workflow %s (id %s)%s\n",
                   json_string_value(json_object_get(w, "name")),
                   json_string_value(json_object_get(w, "id")),
                   updated ? " updated to this version" : "");
    }
    json_decref(sum);
    return rc;
}

/* }==================================================================== */

/* {====================================================================
 * Creating, and undoing
 * ==================================================================== */

/* The store's record of the blob must be the bytes we have. */
static int check_echo(const json_t *art, const char *key, const char *want,
                      const char *what, glarex_error *err)
{
    const json_t *b = key ? json_object_get(json_object_get(art, RESOURCES_FIELD), key)
                          : json_object_get(art, WORKFLOW_FIELD);
    const char *got = json_string_value(json_object_get(b, "sha256"));
    if (!got || strcasecmp(got, want) != 0)
        return cli_set_error(err, GLAREX_ECHECKSUM,
                             "%s: the store recorded sha256 %s, the local content has %s",
                             what, got ? got : "(none)", want);
    return 0;
}

static int interrupted(glarex_error *err)
{
    return cli_interrupted() ? cli_set_error(err, GLAREX_ERROR, "interrupted") : 0;
}

/* Uploads the definition: from FILE when it is a regular file, so that an interrupt
 * aborts the transfer (the sha256 check catches a file changed since it was read);
 * from memory otherwise (standard input, a pipe). */
static int upload_workflow(cli *c, const plan *p, const glarex_blob_loc *loc, json_t **out,
                           glarex_error *err)
{
    cli_progress prog = {c, "workflow", 0, 0, 0};
    struct stat st;
    int rc;

    cli_info(c, "uploading the workflow (%zu bytes)", p->text_len);
    if (strcmp(p->file, "-") == 0 || stat(p->file, &st) < 0 || !S_ISREG(st.st_mode)) {
        CLI_AUTH_RETRY(c, rc, err,
                       glarex_store_upload_buffer(out, c->store, loc, p->text, p->text_len,
                                                  WORKFLOW_CONTENT_TYPE, err));
        return rc;
    }
    CLI_AUTH_RETRY(c, rc, err,
                   glarex_store_upload_file(out, c->store, loc, p->file,
                                            WORKFLOW_CONTENT_TYPE, cli_progress_cb, &prog,
                                            err));
    cli_progress_end(&prog);
    if (rc < 0 && cli_interrupted())
        rc = cli_set_error(err, GLAREX_ERROR, "interrupted while uploading the workflow");
    return rc;
}

static int upload_all(cli *c, const plan *p, const char *id, json_t **art,
                      glarex_error *err)
{
    glarex_blob_loc loc = {TYPE_NAME, id, WORKFLOW_FIELD, NULL};
    json_t *out = NULL;
    int rc;

    rc = upload_workflow(c, p, &loc, &out, err);
    if (rc == 0)
        rc = check_echo(out, NULL, p->sha256, p->file, err);
    for (size_t i = 0; rc == 0 && i < p->nres; i++) {
        const resource *r = &p->res[i];
        cli_progress prog = {c, r->key, 0, 0, 0};
        loc.field = RESOURCES_FIELD;
        loc.key = r->key;
        if ((rc = interrupted(err)) < 0)
            break;
        cli_info(c, "uploading resource '%s' from %s", r->key, r->path);
        json_decref(out);
        out = NULL;
        CLI_AUTH_RETRY(c, rc, err,
                       glarex_store_upload_file(&out, c->store, &loc, r->path,
                                                r->content_type, cli_progress_cb, &prog,
                                                err));
        cli_progress_end(&prog);
        if (rc < 0 && cli_interrupted())
            rc = cli_set_error(err, GLAREX_ERROR, "interrupted while uploading '%s'",
                               r->key);
        if (rc == 0)
            rc = check_echo(out, r->key, r->sha256, r->path, err);
    }
    if (rc == 0)
        rc = interrupted(err);
    json_decref(*art);
    *art = out;
    return rc;
}

static int mistral_open(cli *c, glarex_mistral **m, const plan *p, glarex_error *err)
{
    glarex_mistral_options mo = GLAREX_MISTRAL_OPTIONS_INIT;
    int rc;

    if ((rc = cli_token(c, err)) < 0)
        return rc;
    cli_client_options(c, &mo.client);
    mo.url = p->mistral_url;
    return glarex_mistral_new(m, &mo, err);
}

/* What workflow-create did in Mistral, so that a rollback can undo it. */
typedef struct mistral_job {
    json_t *workflows; /* Mistral's answer: the workflows created or updated */
    json_t *previous;  /* after an update: {name: the definition it replaced} */
    char *fault;       /* Mistral's message, when the error line had to cut it */
} mistral_job;

static void mistral_job_free(mistral_job *j)
{
    json_decref(j->workflows);
    json_decref(j->previous);
    free(j->fault);
}

/* Keeps Mistral's message whole when the error line had to cut it. */
static void keep_fault(mistral_job *j, const glarex_mistral *m, const glarex_error *err)
{
    const char *fault = glarex_mistral_fault(m);
    if (fault && strlen(err->message) + 1 >= sizeof(err->message))
        j->fault = strdup(fault);
}

/* The definitions Mistral holds now for every workflow `p` defines, into
 * j->previous. Returns 0, or an error when only some of them exist: one definition is
 * created or updated whole. */
static int save_previous(glarex_mistral *m, const plan *p, mistral_job *j,
                         glarex_error *err)
{
    json_t *name, *wf = NULL;
    size_t i, missing = 0;
    int rc;

    j->previous = json_object();
    json_array_foreach(p->wf_names, i, name) {
        const char *n = json_string_value(name);
        rc = glarex_mistral_workflow_get(&wf, m, n, err);
        if (rc == GLAREX_ENOTFOUND) {
            missing++;
            continue;
        }
        if (rc < 0)
            return rc;
        json_object_set(j->previous, n, json_object_get(wf, "definition"));
        json_decref(wf);
        wf = NULL;
    }
    if (missing)
        return cli_set_error(err, GLAREX_ECONFLICT,
                             "Mistral has %zu of the %zu workflows %s defines, not all: "
                             "one definition is created or updated whole; delete the "
                             "others from Mistral or split the file",
                             json_array_size(p->wf_names) - missing,
                             json_array_size(p->wf_names), p->file);
    return 0;
}

/* Creates the workflows in Mistral, or updates them when Mistral has them all
 * already (POST answers 409): a new version of a workflow replaces the old one. */
static int mistral_register_once(cli *c, glarex_mistral *m, const plan *p, mistral_job *j,
                                 glarex_error *err)
{
    int rc = glarex_mistral_workflow_create(&j->workflows, m, p->text, p->text_len, err);
    if (rc != GLAREX_ECONFLICT)
        return rc;
    cli_info(c, "Mistral has the workflow already: updating it (PUT /v2/workflows)");
    if ((rc = save_previous(m, p, j, err)) < 0)
        return rc;
    return glarex_mistral_workflow_update(&j->workflows, m, p->text, p->text_len, err);
}

static int mistral_register(cli *c, const plan *p, mistral_job *j, glarex_error *err)
{
    glarex_mistral *m = NULL;
    int rc;

    cli_info(c, "registering the workflow in Mistral at %s", p->mistral_url);
    if ((rc = mistral_open(c, &m, p, err)) == 0) {
        rc = mistral_register_once(c, m, p, j, err);
        if (rc == GLAREX_EAUTH && cli_retry_auth(c, err)) {
            glarex_mistral_free(m);
            m = NULL;
            json_decref(j->previous);
            j->previous = NULL;
            if ((rc = mistral_open(c, &m, p, err)) == 0)
                rc = mistral_register_once(c, m, p, j, err);
        }
        if (rc < 0)
            keep_fault(j, m, err);
    }
    glarex_mistral_free(m);
    return rc;
}

/* Undoes mistral_register: deletes what it created, puts back what it replaced. */
static void mistral_undo(cli *c, const plan *p, const mistral_job *j)
{
    glarex_mistral *m = NULL;
    glarex_error err;
    const char *name;
    json_t *w, *def;
    size_t i;

    if (!json_array_size(j->workflows))
        return;
    if (mistral_open(c, &m, p, &err) < 0) {
        cli_error(&err);
        return;
    }
    json_object_foreach(j->previous, name, def) {
        json_t *out = NULL;
        const char *text = json_string_value(def);
        if (!text || glarex_mistral_workflow_update(&out, m, text, strlen(text), &err) < 0)
            cli_fail("Mistral workflow %s keeps the new definition: putting back the old "
                     "one failed: %s",
                     name, text ? err.message : "Mistral gave no definition");
        json_decref(out);
    }
    if (!j->previous) /* created, not updated */
        json_array_foreach(j->workflows, i, w) {
            const char *wid = json_string_value(json_object_get(w, "id"));
            if (wid && glarex_mistral_workflow_delete(m, wid, &err) < 0)
                cli_fail("Mistral workflow %s (id %s) was left behind: %s",
                         json_string_value(json_object_get(w, "name")), wid, err.message);
        }
    glarex_mistral_free(m);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Deletes the draft `id`, asking again while Glare answers 409 (an upload broken off a
 * moment ago), for at most ROLLBACK_WITHIN_MS. A draft already gone counts as deleted. */
static int delete_draft(cli *c, const char *id, glarex_error *err)
{
    int64_t start = monotonic_ms(), pause = ROLLBACK_FIRST_PAUSE_MS;
    int rc;

    for (;;) {
        CLI_AUTH_RETRY(c, rc, err, glarex_store_delete(c->store, TYPE_NAME, id, err));
        if (rc == GLAREX_ENOTFOUND)
            return 0;
        if (rc != GLAREX_ECONFLICT || monotonic_ms() - start + pause > ROLLBACK_WITHIN_MS)
            return rc;
        cli_info(c, "the draft %s cannot be deleted yet (%s); asking again in %lld ms", id,
                 err->message, (long long)pause);
        pause_ms(pause);
        pause = pause * 2 > ROLLBACK_MAX_PAUSE_MS ? ROLLBACK_MAX_PAUSE_MS : pause * 2;
    }
}

/* The command that deletes draft `id` from this store. */
static void print_removal(cli *c, const char *id)
{
    const char *url = glarex_store_url(c->store);
    int plain = strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789:/._-@%+=,[]") == strlen(url) &&
                !strchr(url, '\'');
    if (plain)
        cli_fail("remove it with: glarex --glare-url %s workflow-delete %s", url, id);
    else
        cli_fail("remove it with: glarex --glare-url '%s' workflow-delete %s", url, id);
}

/* Deletes what was made; reports failures but keeps the first error. */
static void rollback(cli *c, const plan *p, const char *id, const mistral_job *mistral)
{
    glarex_error err;
    int rc;

    mistral_undo(c, p, mistral);
    if (!id)
        return;
    if ((rc = delete_draft(c, id, &err)) < 0) {
        cli_fail("draft artifact %s (%s %s) was left behind: %s", id, p->name, p->version,
                 err.message);
        print_removal(c, id);
        cli_fail("or run workflow-create again with --replace-draft");
    } else {
        cli_info(c, "deleted the draft artifact %s", id);
    }
}

/* {====================================================================
 * A draft left by an earlier run
 * ==================================================================== */

static int is_own_draft(const json_t *a)
{
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *mark =
        json_string_value(json_object_get(json_object_get(a, "metadata"), MARK_KEY));
    return status && strcmp(status, "drafted") == 0 && mark && strcmp(mark, MARK_VALUE) == 0;
}

/* Whether the user agrees to delete `draft`: --replace-draft, or yes on a terminal. */
static int agreed(const plan *p, const json_t *draft, const char *id)
{
    char line[16];

    if (p->replace_draft)
        return 1;
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO) || strcmp(p->file, "-") == 0)
        return 0;
    fprintf(stderr,
            "glarex: %s %s exists as a draft an earlier workflow-create left (id %s, "
            "created %s).\nDelete it and create the artifact again? [y/N] ",
            p->name, p->version, id,
            json_string_value(json_object_get(draft, "created_at"))
                ? json_string_value(json_object_get(draft, "created_at"))
                : "at an unknown time");
    fflush(stderr);
    return fgets(line, sizeof(line), stdin) &&
           (strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0);
}

/* After NAME VERSION turned out to exist: a stored version never changes, so the way
 * to publish a change is the next version; names it from the highest one there is. */
static void suggest_next_version(cli *c, const plan *p)
{
    glarex_filter f = {"name", "eq", p->name};
    glarex_list_options o = GLAREX_LIST_OPTIONS_INIT;
    glarex_error err;
    json_t *found = NULL;
    const char *highest;
    unsigned long major, minor, patch;
    int used = 0, rc;

    o.filters = &f;
    o.nfilters = 1;
    o.latest = 1;
    CLI_AUTH_RETRY(c, rc, &err, glarex_store_list(&found, c->store, TYPE_NAME, &o, &err));
    highest = rc == 0 ? json_string_value(json_object_get(json_array_get(found, 0),
                                                          "version"))
                      : NULL;
    if (highest && sscanf(highest, "%lu.%lu.%lu%n", &major, &minor, &patch, &used) == 3 &&
        !highest[used])
        cli_fail("%s %s exists and a stored version never changes: publish the change as "
                 "the next version, e.g. --version %lu.%lu.%lu (the highest now is %s); "
                 "with --mistral-url, Mistral's workflow is then updated to it",
                 p->name, p->version, major, minor, patch + 1, highest);
    else
        cli_fail("%s %s exists and a stored version never changes: publish the change "
                 "with a higher --version",
                 p->name, p->version);
    json_decref(found);
}

/*
 * After the store refused to create NAME VERSION (409): when the only artifact of that
 * name and version is a draft this command left, it is deleted if the user agrees.
 * Returns 1 when it was deleted (create again), 0 when not (`err` keeps the conflict,
 * after a word on what to do), or a negative status.
 */
static int clear_left_draft(cli *c, const plan *p, glarex_error *err)
{
    glarex_filter f[2] = {{"name", "eq", p->name}, {"version", "eq", p->version}};
    glarex_list_options o = GLAREX_LIST_OPTIONS_INIT;
    glarex_error lerr;
    json_t *found = NULL, *draft;
    const char *id;
    int rc;

    o.filters = f;
    o.nfilters = 2;
    CLI_AUTH_RETRY(c, rc, &lerr, glarex_store_list(&found, c->store, TYPE_NAME, &o, &lerr));
    if (rc < 0) {
        json_decref(found);
        return 0; /* the conflict is the error to report */
    }
    draft = json_array_size(found) == 1 ? json_array_get(found, 0) : NULL;
    id = json_string_value(json_object_get(draft, "id"));
    if (!draft || !id || !is_own_draft(draft)) {
        if (p->replace_draft)
            cli_fail("--replace-draft: %s %s is not a draft left by workflow-create; it is "
                     "left alone",
                     p->name, p->version);
        else
            suggest_next_version(c, p);
        json_decref(found);
        return 0;
    }
    if (!agreed(p, draft, id)) {
        cli_fail("%s %s exists as a draft an earlier workflow-create left (id %s)", p->name,
                 p->version, id);
        cli_fail("run again with --replace-draft to delete it and create the artifact, or");
        print_removal(c, id);
        json_decref(found);
        return 0;
    }
    cli_info(c, "deleting the draft %s an earlier workflow-create left", id);
    rc = delete_draft(c, id, err);
    json_decref(found);
    return rc < 0 ? rc : 1;
}

/* }==================================================================== */

static int create(cli *c, plan *p)
{
    glarex_error err;
    json_t *fields = NULL, *art = NULL;
    mistral_job mistral = {NULL, NULL, NULL};
    char *id = NULL;
    int rc;

    fields = json_pack("{s:s, s:s, s:{s:s}}", "name", p->name, "version", p->version,
                       "metadata", MARK_KEY, MARK_VALUE);
    if (p->description)
        json_object_set_new(fields, "description", json_string(p->description));
    if (p->tags->count) {
        json_t *tags = json_array();
        for (size_t i = 0; i < p->tags->count; i++)
            json_array_append_new(tags, json_string(p->tags->items[i]));
        json_object_set_new(fields, "tags", tags);
    }
    cli_catch_interrupts();
    if ((rc = cli_open_store(c, &err)) < 0)
        goto done;
    cli_info(c, "creating %s %s in %s", p->name, p->version, cli_store_label(c));
    CLI_AUTH_RETRY(c, rc, &err,
                   glarex_store_create(&art, c->store, TYPE_NAME, fields, &err));
    if (rc == GLAREX_ECONFLICT) {
        int cleared = clear_left_draft(c, p, &err);
        if (cleared == 1)
            CLI_AUTH_RETRY(c, rc, &err,
                           glarex_store_create(&art, c->store, TYPE_NAME, fields, &err));
        else if (cleared < 0)
            rc = cleared;
    }
    if (rc < 0)
        goto done;
    if (!json_string_value(json_object_get(art, "id"))) {
        rc = cli_set_error(&err, GLAREX_EPROTOCOL, "the created artifact has no id");
        goto done;
    }
    if (!(id = strdup(json_string_value(json_object_get(art, "id"))))) {
        rc = cli_set_error(&err, GLAREX_ENOMEM, "out of memory");
        goto done;
    }
    /* From here on, a failure deletes the draft (and what Mistral got). */
    if ((rc = upload_all(c, p, id, &art, &err)) < 0)
        goto done;
    if (p->mistral_url && (rc = mistral_register(c, p, &mistral, &err)) < 0)
        goto done;
    if ((rc = interrupted(&err)) < 0)
        goto done;
    cli_info(c, "activating %s", id);
    json_decref(art);
    art = NULL;
    CLI_AUTH_RETRY(c, rc, &err,
                   glarex_store_activate(&art, c->store, TYPE_NAME, id, &err));

done:
    if (rc < 0) {
        cli_error(&err);
        if (mistral.fault)
            fprintf(stderr, "glarex: Mistral's message in full:\n%s\n", mistral.fault);
        if (id)
            rollback(c, p, id, &mistral);
        if (cli_interrupted())
            rc = 128 + cli_interrupted(); /* as if the signal had ended the process */
    } else {
        rc = print_created(c, p, art, mistral.workflows, mistral.previous != NULL);
    }
    if (id) /* readers must not keep an answer from before the change */
        cli_invalidate(c, p->name, id);
    json_decref(fields);
    json_decref(art);
    mistral_job_free(&mistral);
    free(id);
    return rc < 0 ? 1 : rc;
}

/* }==================================================================== */

int cmd_workflow_create(cli *c, int argc, char **argv)
{
    plan p = {0};
    cli_list resources = {0}, tags = {0};
    int dry_run = 0, use_mistral = 0, rc;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "FILE", 0, &p.file, NULL,
         "the workflow definition, Mistral v2 YAML ('-': standard input)",
         CLI_OPT_REQUIRED},
        {CLI_OPT_VALUE, "name", 'n', &p.name, "NAME",
         "artifact name (default: the file's only workflow)", 0},
        {CLI_OPT_VALUE, "version", 0, &p.version, "VERSION", "artifact version (1.0.0)",
         0},
        {CLI_OPT_LIST, "resource", 'r', &resources, "KEY=PATH",
         "upload PATH as resource KEY (PATH alone: its base name)", 0},
        {CLI_OPT_VALUE, "description", 'd', &p.description, "TEXT",
         "artifact description", 0},
        {CLI_OPT_LIST, "tag", 't', &tags, "TAG", "artifact tag", 0},
        {CLI_OPT_SWITCH, "dry-run", 0, &dry_run, NULL,
         "check and show what would be uploaded; change nothing", 0},
        {CLI_OPT_SWITCH, "replace-draft", 0, &p.replace_draft, NULL,
         "delete a draft of this name and version that an interrupted workflow-create "
         "left, then create (asked on a terminal)",
         0},
        {CLI_OPT_VALUE, "max-resource-size", 0, &c->flag[S_MAX_RESOURCE_SIZE], "SIZE",
         "a local store refuses blobs larger than SIZE (4G, 512M; default: no cap) "
         "[GLAREX_MAX_RESOURCE_SIZE]",
         0},
        {CLI_OPT_VALUE, "mistral-url", 0, &c->flag[S_MISTRAL_URL], "URL",
         "also create (or update) the workflow in Mistral [MISTRAL_URL]", 0},
        {CLI_OPT_SWITCH, "mistral", 0, &use_mistral, NULL,
         "also create (or update) the workflow in Mistral: at the Mistral URL, else "
         "where Keystone's catalog puts it (workflowv2)",
         0},
        {0},
    };
    const cli_cmd_spec spec = {"workflow-create", opts,
                               "Checks a workflow and the resources its glare() calls "
                               "need, creates the artifact,\n"
                               "uploads the workflow and every resource, verifies each "
                               "sha256 the store echoes,\n"
                               "optionally creates the workflow in Mistral, and "
                               "activates the artifact last. When\n"
                               "any step fails, everything made so far is deleted."};

    p.version = "1.0.0";
    p.tags = &tags;
    p.warnings = json_array();
    rc = cli_parse(c, &spec, argc, argv);
    if (rc == CLI_CONTINUE) {
        glarex_error err;
        rc = cli_from_catalog(c, use_mistral, &err) < 0 ? cli_error(&err) : 0;
        p.mistral_url = cli_setting(c, S_MISTRAL_URL);
        if (rc == 0 && use_mistral && !p.mistral_url)
            rc = cli_usage_error(&spec, "--mistral: no Mistral URL is set and there are no "
                                        "Keystone credentials whose catalog would name "
                                        "one: set MISTRAL_URL (or --mistral-url)");
        if (rc == 0)
            rc = prepare(c, &p, &spec, &resources);
        if (rc == 0)
            rc = dry_run ? print_dry_run(c, &p) : create(c, &p);
    }
    plan_free(&p);
    cli_list_free(&resources);
    cli_list_free(&tags);
    return rc;
}
