/* The glarex command: the command table, the common options and dispatch. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cli G;

/* Options every command accepts, before or after its name. */
static const cli_opt common_opts[] = {
    {CLI_OPT_VALUE, "format", 'f', &G.format_name, "FORMAT",
     "output: table (default) or json; listing and show commands also yaml, value, and "
     "shell (show)",
     0},
    {CLI_OPT_SWITCH, "quiet", 'q', &G.quiet, NULL, "print only results and errors", 0},
    {CLI_OPT_SWITCH, "verbose", 'v', &G.verbose, NULL, "say what is being done", 0},
    {CLI_OPT_SWITCH, "debug", 0, &G.debug, NULL,
     "print each HTTP request as a curl command (secrets hidden)", 0},
    {CLI_OPT_VALUE, "config", 0, &G.config_file, "FILE",
     "read only this configuration file", 0},
    {CLI_OPT_VALUE, "glare-url", 0, &G.flag[S_GLARE_URL], "URL",
     "store: http(s)://HOST:PORT (Glare) or file:///DIR [GLARE_URL]", 0},
    {CLI_OPT_VALUE, "os-auth-token", 0, &G.flag[S_OS_AUTH_TOKEN], "TOKEN",
     "token for Glare and Mistral [OS_AUTH_TOKEN]", 0},
    {CLI_OPT_VALUE, "os-auth-url", 0, &G.flag[S_OS_AUTH_URL], "URL",
     "Keystone v3 for a password token [OS_AUTH_URL]", 0},
    {CLI_OPT_VALUE, "os-username", 0, &G.flag[S_OS_USERNAME], "NAME", "[OS_USERNAME]", 0},
    {CLI_OPT_VALUE, "os-password", 0, &G.flag[S_OS_PASSWORD], "PASSWORD", "[OS_PASSWORD]",
     0},
    {CLI_OPT_VALUE, "os-project-name", 0, &G.flag[S_OS_PROJECT_NAME], "NAME",
     "[OS_PROJECT_NAME]", 0},
    {CLI_OPT_VALUE, "os-user-domain-name", 0, &G.flag[S_OS_USER_DOMAIN_NAME], "NAME",
     "default Default [OS_USER_DOMAIN_NAME]", 0},
    {CLI_OPT_VALUE, "os-project-domain-name", 0, &G.flag[S_OS_PROJECT_DOMAIN_NAME],
     "NAME", "default Default [OS_PROJECT_DOMAIN_NAME]", 0},
    {CLI_OPT_VALUE, "os-cacert", 0, &G.flag[S_OS_CACERT], "FILE",
     "CA bundle for TLS [OS_CACERT]", 0},
    {CLI_OPT_VALUE, "os-cert", 0, &G.flag[S_OS_CERT], "FILE",
     "client certificate [OS_CERT]", 0},
    {CLI_OPT_VALUE, "os-key", 0, &G.flag[S_OS_KEY], "FILE", "client key [OS_KEY]", 0},
    {CLI_OPT_SWITCH, "insecure", 0, &G.insecure_flag, NULL,
     "do not verify TLS certificates [OS_INSECURE]", 0},
    {CLI_OPT_VALUE, "cache-dir", 0, &G.flag[S_CACHE_DIR], "DIR",
     "cache directory [GLAREX_CACHE_DIR]", 0},
    {CLI_OPT_SWITCH, "offline", 0, &G.offline_flag, NULL,
     "serve only cached content [GLAREX_OFFLINE]", 0},
    {CLI_OPT_SWITCH, "prefer-own-project", 0, &G.prefer_own_flag, NULL,
     "when a name matches artifacts of several projects, take the caller's own "
     "[GLAREX_PREFER_OWN_PROJECT]",
     0},
    {CLI_OPT_VALUE, "timeout", 0, &G.flag[S_TIMEOUT], "SECONDS",
     "limit for each HTTP request (default none) [GLAREX_TIMEOUT]", 0},
    {CLI_OPT_VALUE, "workflow", 0, &G.workflow_ref, "NAME[@VERSION]",
     "the workflow whose resources glare('KEY') names", 0},
    {CLI_OPT_VALUE, "as-of", 0, &G.as_of_text, "TIME",
     "resolve latest and ranges as of TIME (YYYY-MM-DDTHH:MM:SSZ, or @SECONDS)", 0},
    {CLI_OPT_VALUE, "as-of-skew", 0, &G.flag[S_AS_OF_SKEW], "SECONDS",
     "how far another clock may lag Glare's, for --as-of (default 10) [GLAREX_AS_OF_SKEW]",
     0},
    {CLI_OPT_VALUE, "execution", 0, &G.execution_id, "ID",
     "the execution glare() is evaluated for (named in messages)", 0},
    {CLI_OPT_END, NULL, 0, NULL, NULL, NULL, 0},
};

/* The output options of listing and show commands (cliff's). */
static const cli_opt column_opts[] = {
    {CLI_OPT_LIST, "column", 'c', &G.columns, "COLUMN",
     "print only this column (see --format)", 0},
    {CLI_OPT_END, NULL, 0, NULL, NULL, NULL, 0},
};
static const cli_opt sort_opts[] = {
    {CLI_OPT_LIST, "sort-column", 0, &G.sort_columns, "COLUMN",
     "sort the rows by this column (the first given first)", 0},
    {CLI_OPT_SWITCH, "sort-ascending", 0, &G.sort_ascending, NULL,
     "sort from the lowest value (the default)", 0},
    {CLI_OPT_SWITCH, "sort-descending", 0, &G.sort_descending, NULL,
     "sort from the highest value", 0},
    {CLI_OPT_END, NULL, 0, NULL, NULL, NULL, 0},
};
static const cli_opt shell_opts[] = {
    {CLI_OPT_VALUE, "prefix", 0, &G.shell_prefix, "PREFIX",
     "with -f shell: put PREFIX before each variable name", 0},
    {CLI_OPT_END, NULL, 0, NULL, NULL, NULL, 0},
};

static const cli_opt *const plain_tables[] = {common_opts, NULL};
static const cli_opt *const list_tables[] = {common_opts, column_opts, sort_opts, NULL};
static const cli_opt *const one_tables[] = {common_opts, column_opts, shell_opts, NULL};

typedef struct cli_command {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
    const char *desc;
} cli_command;

static const cli_command commands[] = {
    {"workflow-create", cmd_workflow_create,
     "store a workflow and its resources as an artifact (and in Mistral)"},
    {"workflow-list", cmd_workflow_list, "list workflow artifacts"},
    {"workflow-show", cmd_workflow_show, "show one workflow artifact"},
    {"workflow-delete", cmd_workflow_delete, "delete a workflow artifact"},
    {"workflow-get-definition", cmd_workflow_get_definition,
     "print the workflow definition an artifact stores"},
    {"resource-list", cmd_resource_list, "list the resources of a workflow artifact"},
    {"resource-get", cmd_resource_get, "print or save one resource"},
    {"eval", cmd_eval, "evaluate a Mistral expression or template"},
    {"render", cmd_render, "evaluate a whole YAML or JSON document"},
    {"resolve", cmd_resolve, "show what a reference resolves to, step by step"},
    {"cache", cmd_cache, "inspect the local cache: ls, stats, verify, gc, purge, invalidate"},
    {"config", cmd_config, "config show: the settings in effect and where each came from"},
    {"completion", cmd_completion, "print the bash or zsh completion script"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const format_names[] = {"table", "json", "yaml", "value", "shell"};

/* c->format from -f, checked against what the command prints. */
static int set_format(cli *c, const cli_cmd_spec *spec, cli_shape shape)
{
    const char *name = c->format_name, *hint;
    size_t n = sizeof(format_names) / sizeof(format_names[0]);

    c->format = CLI_TEXT;
    /* Listings and records: a table for a person at a terminal, JSON (the stable shape
     * each command documents) for a program reading a pipe or a file. */
    if (!name && shape != CLI_SHAPE_NONE && !isatty(STDOUT_FILENO))
        c->format = CLI_JSON;
    if (!name || strcmp(name, "text") == 0) /* "text": the old name of table */
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, format_names[i]) == 0)
            c->format = (cli_format)i; /* the enum follows format_names */
    if (c->format == CLI_TEXT && strcmp(name, "table") != 0) {
        hint = cli_closest(name, format_names, n);
        return cli_usage_error(spec,
                               "unknown format '%s' for --format%s%s%s (table, json, yaml, "
                               "value or shell)",
                               name, hint ? ": did you mean '" : "", hint ? hint : "",
                               hint ? "'?" : "");
    }
    if (shape == CLI_SHAPE_NONE && c->format > CLI_JSON)
        return cli_usage_error(spec,
                               "--format %s is for the listing and show commands: 'glarex "
                               "%s' takes -f table or -f json",
                               name, spec->name);
    if (shape == CLI_SHAPE_LIST && c->format == CLI_SHELL)
        return cli_usage_error(spec,
                               "--format shell prints one record: 'glarex %s' prints rows "
                               "(table, json, yaml or value)",
                               spec->name);
    return 0;
}

/* Every -c or --sort-column names a column of the view. */
static int check_columns(const cli_cmd_spec *spec, const cli_view *view, const cli_list *given,
                         const char *option)
{
    for (size_t i = 0; i < given->count; i++) {
        const char *hint, *name = given->items[i];
        size_t n = 0;
        char all[512] = "";

        while (view->columns[n])
            n++;
        for (size_t k = 0; k < n; k++)
            if (strcmp(view->columns[k], name) == 0)
                goto known;
        for (size_t k = 0; k < n; k++)
            snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", k ? ", " : "",
                     view->columns[k]);
        hint = cli_closest(name, view->columns, n);
        return cli_usage_error(spec, "%s: no column '%s'%s%s%s; the columns are: %s", option,
                               name, hint ? " (did you mean '" : "", hint ? hint : "",
                               hint ? "'?)" : "", all);
    known:;
    }
    return 0;
}

static int check_view(cli *c, const cli_cmd_spec *spec, const cli_view *view)
{
    const char *p = c->shell_prefix;
    int rc;

    if ((rc = set_format(c, spec, view->shape)) != 0)
        return rc;
    if (view->shape == CLI_SHAPE_NONE)
        return 0;
    if ((rc = check_columns(spec, view, &c->columns, "-c/--column")) != 0 ||
        (rc = check_columns(spec, view, &c->sort_columns, "--sort-column")) != 0)
        return rc;
    if (c->sort_ascending && c->sort_descending)
        return cli_usage_error(spec, "give --sort-ascending or --sort-descending, not both");
    /* the prefix becomes part of shell variable names */
    if (p && (p[strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] ||
              (p[0] >= '0' && p[0] <= '9')))
        return cli_usage_error(spec,
                               "--prefix '%s' is not the start of a shell variable name: use "
                               "letters, digits and _",
                               p);
    return 0;
}

int cli_parse_view(cli *c, const cli_cmd_spec *spec, const cli_view *view, int argc,
                   char **argv)
{
    const cli_opt *const *tables = view->shape == CLI_SHAPE_LIST  ? list_tables
                                   : view->shape == CLI_SHAPE_ONE ? one_tables
                                                                  : plain_tables;
    int rc = cli_opt_parse(spec, tables, argc, argv);

    if (rc == -1)
        return 0; /* --help */
    if (rc)
        return rc;
    if ((rc = check_view(c, spec, view)) != 0)
        return rc;
    if (c->as_of_text && cli_parse_time(c->as_of_text) < 0)
        return cli_usage_error(spec,
                               "--as-of '%s' is not a time: use YYYY-MM-DDTHH:MM:SSZ (UTC) or "
                               "@SECONDS since the epoch",
                               c->as_of_text);
    if (c->insecure_flag)
        c->flag[S_INSECURE] = "1";
    if (c->offline_flag)
        c->flag[S_OFFLINE] = "1";
    if (c->prefer_own_flag)
        c->flag[S_PREFER_OWN_PROJECT] = "1";
    if (cli_load_config(c, spec) != 0 || cli_check_settings(c, spec) != 0)
        return 2;
    return CLI_CONTINUE;
}

int cli_parse(cli *c, const cli_cmd_spec *spec, int argc, char **argv)
{
    static const char *const no_columns[] = {NULL};
    const cli_view plain = {CLI_SHAPE_NONE, no_columns, NULL};
    return cli_parse_view(c, spec, &plain, argc, argv);
}

static void main_usage(FILE *f)
{
    fprintf(f, "usage: glarex [options] COMMAND [ARGS...]\n");
}

static void main_help(void)
{
    main_usage(stdout);
    printf("\nWorkflow resources in OpenStack Glare (or a local store), reachable from "
           "Mistral expressions.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        printf("  %-16s  %s\n", commands[i].name, commands[i].desc);
    printf("\n'glarex COMMAND --help' shows a command's options, including the common "
           "ones.\n'glarex --version' prints the version. Manual: glarex(1).\n");
}

/* Whether argv[i] is a common option that takes its value from argv[i + 1]. */
static int takes_next(const char *a)
{
    for (const cli_opt *o = common_opts; o->type; o++) {
        if (o->type != CLI_OPT_VALUE)
            continue;
        if ((a[1] == '-' && strcmp(a + 2, o->name) == 0) ||
            (a[1] != '-' && o->alias && a[1] == o->alias && a[2] == '\0'))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const cli_command *cmd = NULL;
    char **args = NULL;
    int first = 1, nglobal, nargs, rc;

    /* Common options may come before the command: skip over them. */
    while (first < argc && argv[first][0] == '-' && argv[first][1]) {
        const char *a = argv[first];
        if (strcmp(a, "--version") == 0) {
            printf("glarex %s\n", glarex_version());
            return 0;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            main_help();
            return 0;
        }
        if (strcmp(a, "--") == 0)
            break;
        first += takes_next(a) ? 2 : 1;
    }
    if (first >= argc || strcmp(argv[first], "--") == 0) {
        fprintf(stderr, "glarex: no command given\n");
        main_usage(stderr);
        fprintf(stderr, "Try 'glarex --help'.\n");
        return 2;
    }
    if (strcmp(argv[first], "help") == 0) {
        if (first + 1 >= argc) {
            main_help();
            return 0;
        }
        /* glarex help CMD [SUB] = glarex CMD [SUB] --help */
        static char help_flag[] = "--help";
        argv[first] = help_flag;
        for (int i = first; i + 1 < argc && argv[i + 1][0] != '-'; i++) {
            char *t = argv[i];
            argv[i] = argv[i + 1];
            argv[i + 1] = t;
        }
    }
    if (strcmp(argv[first], "version") == 0) {
        printf("glarex %s\n", glarex_version());
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[first], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        const char *names[NCOMMANDS], *hint;
        for (size_t i = 0; i < NCOMMANDS; i++)
            names[i] = commands[i].name;
        hint = cli_closest(argv[first], names, NCOMMANDS);
        if (hint)
            fprintf(stderr, "glarex: unknown command '%s': did you mean '%s'?\n", argv[first],
                    hint);
        else
            fprintf(stderr, "glarex: unknown command '%s'\n", argv[first]);
        main_usage(stderr);
        fprintf(stderr, "Try 'glarex --help'.\n");
        return 2;
    }

    /* The command sees its own arguments after the common options given before it. */
    nglobal = first - 1;
    nargs = nglobal + (argc - first - 1);
    args = calloc((size_t)nargs + 1, sizeof(char *));
    if (!args) {
        fprintf(stderr, "glarex: out of memory\n");
        return 1;
    }
    if ((cmd->fn == cmd_cache || cmd->fn == cmd_config) && first + 1 < argc &&
        argv[first + 1][0] != '-') {
        /* "cache SUB", "config SUB": the subcommand stays first */
        args[0] = argv[first + 1];
        memcpy(args + 1, argv + 1, (size_t)nglobal * sizeof(char *));
        memcpy(args + 1 + nglobal, argv + first + 2,
               (size_t)(argc - first - 2) * sizeof(char *));
    } else {
        memcpy(args, argv + 1, (size_t)nglobal * sizeof(char *));
        memcpy(args + nglobal, argv + first + 1,
               (size_t)(argc - first - 1) * sizeof(char *));
    }
    rc = cmd->fn(&G, nargs, args);
    cli_close(&G);
    cli_list_free(&G.columns);
    cli_list_free(&G.sort_columns);
    free(args);
    return rc;
}
