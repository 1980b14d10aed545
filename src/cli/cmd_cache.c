/* cache ls | stats | verify | gc | purge: the host's content cache. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int collect(const glarex_cache_entry *e, void *payload)
{
    char when[32] = "-";
    time_t t = (time_t)e->mtime;
    struct tm tm;

    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_array_append_new(payload,
                                 json_pack("{s:s, s:I, s:s, s:s}", "sha256", e->sha256,
                                           "size", (json_int_t)e->size, "last_used", when,
                                           "path", e->path)) < 0;
}

/* The cache directory glarex_ctx_new will use (new), or NULL when none is set. */
static char *cache_dir(const cli *c)
{
    const char *v = cli_setting(c, S_CACHE_DIR);
    char *out = NULL;
    if (v)
        return strdup(v);
    if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/')
        return asprintf(&out, "%s/glarex", v) < 0 ? NULL : out;
    if ((v = getenv("HOME")) && v[0])
        return asprintf(&out, "%s/.cache/glarex", v) < 0 ? NULL : out;
    return NULL;
}

/* Opens the context on an existing cache only: inspecting a cache must not create one
 * (a mistyped --cache-dir is an error, not a new empty cache). */
static int open_cache(cli *c, glarex_error *err)
{
    char *dir = cache_dir(c);
    struct stat st;
    int rc = 0;

    if (dir && stat(dir, &st) < 0 && errno == ENOENT)
        rc = cli_set_error(err, GLAREX_ENOTFOUND,
                           "no cache in %s: nothing was cached there (check --cache-dir "
                           "or GLAREX_CACHE_DIR)",
                           dir);
    free(dir);
    return rc < 0 ? rc : cli_open_ctx(c, 0, err);
}

static int list_objects(json_t **out, cli *c, glarex_error *err)
{
    int rc;
    *out = json_array();
    if ((rc = open_cache(c, err)) < 0)
        return rc;
    return glarex_cache_list(c->ctx, collect, *out, err);
}

static json_int_t total_bytes(const json_t *objects)
{
    json_int_t n = 0;
    size_t i;
    json_t *o;
    json_array_foreach(objects, i, o) n += json_integer_value(json_object_get(o, "size"));
    return n;
}

static int cache_ls(cli *c, int argc, char **argv)
{
    static const char *const columns[] = {"sha256", "size", "last_used", "path", NULL};
    static const char *const table[] = {"sha256", "size", "last_used", NULL};
    const cli_view view = {CLI_SHAPE_LIST, columns, table};
    const cli_cmd_spec spec = {"cache ls", NULL,
                               "Lists the cached objects: sha256, size, "
                               "last use."};
    glarex_error err;
    json_t *objs = NULL, *doc;
    int rc;

    if ((rc = cli_parse_view(c, &spec, &view, argc, argv)) != CLI_CONTINUE)
        return rc;
    if (list_objects(&objs, c, &err) < 0) {
        json_decref(objs);
        return cli_error(&err);
    }
    doc = json_pack("{s:s, s:O}", "dir", glarex_ctx_cache_dir(c->ctx), "objects", objs);
    rc = cli_print_rows(c, &view, doc, "objects");
    json_decref(doc);
    json_decref(objs);
    return rc;
}

static int cache_stats(cli *c, int argc, char **argv)
{
    static const char *const columns[] = {"dir", "objects", "bytes", "totals", NULL};
    const cli_view view = {CLI_SHAPE_ONE, columns, NULL};
    const cli_cmd_spec spec = {
        "cache stats", NULL,
        "Shows the cache directory, its object count and size, and the counters of every "
        "glarex process that has used it (totals)."};
    glarex_error err;
    glarex_stats t;
    json_t *objs = NULL, *doc;
    int rc;

    if ((rc = cli_parse_view(c, &spec, &view, argc, argv)) != CLI_CONTINUE)
        return rc;
    if (list_objects(&objs, c, &err) < 0 || glarex_cache_totals(&t, c->ctx, &err) < 0) {
        json_decref(objs);
        return cli_error(&err);
    }
    doc = json_pack("{s:s, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "dir",
                    glarex_ctx_cache_dir(c->ctx), "objects", (json_int_t)json_array_size(objs),
                    "bytes", total_bytes(objs), "totals", "hits", (json_int_t)t.hits,
                    "disk_hits", (json_int_t)t.disk_hits, "misses", (json_int_t)t.misses,
                    "downloads", (json_int_t)t.downloads, "bytes_downloaded",
                    (json_int_t)t.bytes_downloaded, "coalesced_waits",
                    (json_int_t)t.coalesced_waits, "evictions", (json_int_t)t.evictions,
                    "resolutions", (json_int_t)t.resolutions, "revalidations",
                    (json_int_t)t.revalidations);
    rc = cli_print_record(c, &view, doc);
    json_decref(doc);
    json_decref(objs);
    return rc;
}

static int cache_verify(cli *c, int argc, char **argv)
{
    const cli_cmd_spec spec = {
        "cache verify", NULL,
        "Re-hashes every cached object and removes the corrupt ones."};
    glarex_error err;
    json_t *objs = NULL, *bad, *doc, *o;
    uint64_t corrupt = 0;
    size_t i;
    int rc;

    CLI_PARSE(c, &spec, argc, argv);
    bad = json_array();
    if (list_objects(&objs, c, &err) < 0 ||
        glarex_cache_verify(&corrupt, c->ctx, collect, bad, &err) < 0) {
        json_decref(objs);
        json_decref(bad);
        return cli_error(&err);
    }
    doc = json_pack("{s:s, s:I, s:O}", "dir", glarex_ctx_cache_dir(c->ctx), "checked",
                    (json_int_t)json_array_size(objs), "corrupt", bad);
    if (c->format == CLI_JSON) {
        rc = cli_print_json(stdout, doc);
    } else {
        json_array_foreach(bad, i, o)
            printf("removed corrupt object %s\n",
                   json_string_value(json_object_get(o, "sha256")));
        printf("checked %zu objects, %llu corrupt\n", json_array_size(objs),
               (unsigned long long)corrupt);
        rc = 0;
    }
    json_decref(doc);
    json_decref(bad);
    json_decref(objs);
    return rc;
}

static int gc_or_purge(cli *c, int argc, char **argv, int purge)
{
    const cli_cmd_spec gc_spec = {
        "cache gc", NULL,
        "Enforces the cache budgets and removes stale temporary "
        "files."};
    const cli_cmd_spec purge_spec = {"cache purge", NULL,
                                     "Removes every cached object not in use and every "
                                     "remembered resolution."};
    glarex_cache_gc_result r;
    glarex_error err;
    json_t *doc;
    int rc;

    CLI_PARSE(c, purge ? &purge_spec : &gc_spec, argc, argv);
    memset(&r, 0, sizeof(r));
    if ((rc = open_cache(c, &err)) == 0)
        rc = purge ? glarex_cache_purge(&r, c->ctx, &err)
                   : glarex_cache_gc(&r, c->ctx, &err);
    if (rc < 0)
        return cli_error(&err);
    doc = json_pack("{s:s, s:I, s:I, s:I, s:I}", "dir", glarex_ctx_cache_dir(c->ctx),
                    "objects_removed", (json_int_t)r.objects_removed, "bytes_removed",
                    (json_int_t)r.bytes_removed, "objects_kept_in_use",
                    (json_int_t)r.objects_kept_in_use, "temp_removed",
                    (json_int_t)r.temp_removed);
    if (c->format == CLI_JSON) {
        rc = cli_print_json(stdout, doc);
    } else {
        char sz[32];
        printf("removed %llu objects (%s), %llu temporary files; %llu in use kept\n",
               (unsigned long long)r.objects_removed, cli_size(sz, r.bytes_removed),
               (unsigned long long)r.temp_removed,
               (unsigned long long)r.objects_kept_in_use);
    }
    json_decref(doc);
    return rc;
}

static int cache_gc(cli *c, int argc, char **argv)
{
    return gc_or_purge(c, argc, argv, 0);
}

static int cache_purge(cli *c, int argc, char **argv)
{
    return gc_or_purge(c, argc, argv, 1);
}

/* glarex cache invalidate REF: for changes made by others. */
static int cache_invalidate(cli *c, int argc, char **argv)
{
    const char *what = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "REF", 0, &what, NULL,
         "an artifact NAME (any version: NAME@VERSION means the same), an id, or a "
         "glare:// URI",
         CLI_OPT_REQUIRED},
        {0},
    };
    const cli_cmd_spec spec = {
        "cache invalidate", opts,
        "Forgets every remembered resolution of one artifact name (or id), for every\n"
        "identity, so every process using this cache directory asks the store again.\n"
        "Content stays cached: it is named by its sha256."};
    glarex_error err;
    glarex_ref *ref = NULL;
    char *name = NULL;
    const char *id = NULL;
    json_t *doc;
    int rc;

    CLI_PARSE(c, &spec, argc, argv);
    if (strncmp(what, "glare://", 8) == 0) {
        if (glarex_ref_parse(&ref, what, &err) < 0)
            return cli_usage_error(&spec, "%s", err.message);
        id = glarex_ref_id(ref);
        name = glarex_ref_name(ref) ? strdup(glarex_ref_name(ref)) : NULL;
    } else if (strlen(what) == 36 && strspn(what, "0123456789abcdef-") == 36) {
        id = what;
    } else {
        const char *at = strrchr(what, '@');
        name = at && at != what ? strndup(what, (size_t)(at - what)) : strdup(what);
    }
    if (!id && !name) {
        glarex_ref_free(ref);
        return cli_fail("out of memory");
    }
    rc = cli_open_ctx(c, 0, &err);
    if (rc == 0)
        rc = glarex_ctx_invalidate(c->ctx, id ? NULL : name, id, &err);
    if (rc == 0) {
        doc = json_pack("{s:s?, s:s?, s:s}", "name", id ? NULL : name, "id", id, "dir",
                        glarex_ctx_cache_dir(c->ctx));
        if (c->format == CLI_JSON)
            rc = cli_print_json(stdout, doc);
        else if (!c->quiet)
            printf("forgot every remembered resolution of %s '%s' in %s\n",
                   id ? "artifact id" : "artifact", id ? id : name,
                   glarex_ctx_cache_dir(c->ctx));
        json_decref(doc);
    }
    free(name);
    glarex_ref_free(ref);
    return rc < 0 ? cli_error(&err) : rc;
}

static const struct {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
    const char *desc;
} subs[] = {
    {"ls", cache_ls, "list the cached objects"},
    {"stats", cache_stats, "directory, object count and size"},
    {"verify", cache_verify, "re-hash every object, remove corrupt ones"},
    {"gc", cache_gc, "enforce the budgets, remove stale temporary files"},
    {"purge", cache_purge, "remove everything not in use"},
    {"invalidate", cache_invalidate, "forget what is remembered about one artifact"},
};

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cmd_cache(cli *c, int argc, char **argv)
{
    size_t n = sizeof(subs) / sizeof(subs[0]);

    if (argc > 0 && argv[0][0] != '-') {
        const char *names[sizeof(subs) / sizeof(subs[0])], *hint;
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[0], subs[i].name) == 0)
                return subs[i].fn(c, argc - 1, argv + 1);
        for (size_t i = 0; i < n; i++)
            names[i] = subs[i].name;
        if ((hint = cli_closest(argv[0], names, n)))
            fprintf(stderr, "glarex: cache: unknown subcommand '%s': did you mean '%s'?\n",
                    argv[0], hint);
        else
            fprintf(stderr, "glarex: cache: unknown subcommand '%s'\n", argv[0]);
    } else if (wants_help(argc, argv)) {
        printf("usage: glarex cache SUBCOMMAND [options]\n\nThe content cache shared by "
               "every glarex process of this host.\n\nSubcommands:\n");
        for (size_t i = 0; i < n; i++)
            printf("  %-10s  %s\n", subs[i].name, subs[i].desc);
        printf("\n'glarex cache SUBCOMMAND --help' shows its options.\n");
        return 0;
    } else {
        fprintf(stderr, "glarex: cache: missing subcommand\n");
    }
    fprintf(stderr, "usage: glarex cache ls|stats|verify|gc|purge|invalidate [options]\n"
                    "Try 'glarex cache --help'.\n");
    return 2;
}
