/* config show: which store, identity, Mistral and cache are in effect, and which
 * setting (flag, variable, file, clouds.yaml, Keystone catalog) each came from. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The cache directory the library will use when cache_dir is not set. */
static char *default_cache_dir(const char **origin)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *out = NULL;

    if (xdg && xdg[0] == '/') {
        *origin = "default ($XDG_CACHE_HOME/glarex)";
        if (asprintf(&out, "%s/glarex", xdg) < 0)
            out = NULL;
    } else if (home && home[0] == '/') {
        *origin = "default (~/.cache/glarex)";
        if (asprintf(&out, "%s/.cache/glarex", home) < 0)
            out = NULL;
    }
    return out;
}

/* {"value", "from"} of one setting, or {"value": dflt, "from": "default"}. */
static json_t *entry(const cli *c, int id, const char *dflt)
{
    const char *v = cli_setting(c, id);
    return json_pack("{s:s?, s:s}", "value", v ? v : dflt, "from",
                     v ? cli_setting_origin(c, id) : "default");
}

static json_t *identity(const cli *c)
{
    if (cli_setting(c, S_OS_AUTH_TOKEN))
        return json_pack("{s:s, s:s}", "kind", "token", "from",
                         cli_setting_origin(c, S_OS_AUTH_TOKEN));
    if (cli_setting(c, S_OS_AUTH_URL))
        return json_pack(
            "{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s?}", "kind", "keystone", "auth_url",
            cli_setting(c, S_OS_AUTH_URL), "username", cli_setting(c, S_OS_USERNAME),
            "project_name", cli_setting(c, S_OS_PROJECT_NAME), "project_id",
            cli_setting(c, S_OS_PROJECT_ID), "from", cli_setting_origin(c, S_OS_AUTH_URL),
            "password_from", cli_setting_origin(c, S_OS_PASSWORD));
    return json_pack("{s:s, s:s}", "kind", "none", "from", "default");
}

/* The string member `key` of `o`, or `dflt`. */
static const char *text_of(const json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

static void print_line(const char *what, const json_t *e)
{
    printf("%-18s %s  (from %s)\n", what, text_of(e, "value", "-"),
           text_of(e, "from", ""));
}

static int config_show(cli *c, int argc, char **argv)
{
    const char *cache_origin = "default";
    cli_opt opts[] = {{0}};
    const cli_cmd_spec spec = {"config show", opts,
                               "Shows which store, identity, Mistral and cache glarex "
                               "uses, and which flag, variable,\n"
                               "file, clouds.yaml cloud or Keystone catalog each came "
                               "from. Asks Keystone for its\n"
                               "catalog when that is where the store comes from."};
    glarex_error err;
    json_t *doc, *store, *id;
    char *cache = NULL;
    int rc = 0;

    CLI_PARSE(c, &spec, argc, argv);
    if (cli_from_catalog(c, 0, &err) < 0)
        return cli_error(&err);
    /* Mistral's entry, when the catalog has one: only --mistral needs it */
    if (cli_from_catalog(c, 1, &err) < 0)
        cli_warn(c, "Mistral: %s", err.message);
    if (!cli_setting(c, S_CACHE_DIR))
        cache = default_cache_dir(&cache_origin);
    store =
        entry(c, S_GLARE_URL, "the embedded default store ($XDG_DATA_HOME/glarex/store)");
    id = identity(c);
    doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "store", store, "identity", id,
                    "mistral", entry(c, S_MISTRAL_URL, NULL), "cache",
                    cli_setting(c, S_CACHE_DIR)
                        ? entry(c, S_CACHE_DIR, NULL)
                        : json_pack("{s:s?, s:s}", "value", cache, "from", cache_origin),
                    "cloud", entry(c, S_OS_CLOUD, NULL), "region",
                    entry(c, S_OS_REGION_NAME, NULL), "max_resource_size",
                    entry(c, S_MAX_RESOURCE_SIZE, "none (what the disk holds)"));
    if (c->format == CLI_JSON) {
        rc = cli_print_json(stdout, doc);
    } else {
        const char *kind = json_string_value(json_object_get(id, "kind"));
        print_line("store:", store);
        if (strcmp(kind, "keystone") == 0) {
            const char *project =
                text_of(id, "project_name", text_of(id, "project_id", NULL));
            printf("%-18s Keystone %s as %s%s%s  (from %s; password from %s)\n",
                   "identity:", text_of(id, "auth_url", ""),
                   text_of(id, "username", "(no user)"), project ? " in project " : "",
                   project ? project : "", text_of(id, "from", ""),
                   text_of(id, "password_from", "nowhere"));
        } else {
            printf("%-18s %s  (from %s)\n", "identity:",
                   strcmp(kind, "token") == 0 ? "a token" : "none (no token is sent)",
                   text_of(id, "from", ""));
        }
        print_line("mistral:", json_object_get(doc, "mistral"));
        print_line("cache:", json_object_get(doc, "cache"));
        print_line("cloud:", json_object_get(doc, "cloud"));
        print_line("region:", json_object_get(doc, "region"));
        print_line("max resource size:", json_object_get(doc, "max_resource_size"));
    }
    json_decref(doc);
    free(cache);
    return rc;
}

int cmd_config(cli *c, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "show") == 0)
        return config_show(c, argc - 1, argv + 1);
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf("usage: glarex config show [options]\n\nShows the settings in effect and "
               "where each came from.\n'glarex config show --help' shows its options.\n");
        return 0;
    }
    if (argc > 0 && argv[0][0] != '-')
        fprintf(stderr, "glarex: config: unknown subcommand '%s'\n", argv[0]);
    else
        fprintf(stderr, "glarex: config: missing subcommand\n");
    fprintf(stderr, "usage: glarex config show [options]\nTry 'glarex config --help'.\n");
    return 2;
}
