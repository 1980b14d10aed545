/* Option tables: parsing, usage lines and --help, all from the same table. */
#include "opt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int list_add(cli_list *list, const char *item)
{
    const char **items = realloc(list->items, (list->count + 1) * sizeof(*items));
    if (!items)
        return -1;
    items[list->count++] = item;
    list->items = items;
    return 0;
}

void cli_list_free(cli_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void cli_opt_usage(const cli_cmd_spec *cmd, void *fp)
{
    FILE *f = fp;
    fprintf(f, "usage: glarex %s [options]", cmd->name);
    for (const cli_opt *o = cmd->opts; o && o->type; o++) {
        if (o->flags & CLI_OPT_HIDDEN)
            continue;
        if (o->type == CLI_OPT_ARG)
            fprintf(f, (o->flags & CLI_OPT_REQUIRED) ? " %s" : " [%s]", o->name);
        else if (o->type == CLI_OPT_ARGS)
            fprintf(f, (o->flags & CLI_OPT_REQUIRED) ? " %s..." : " [%s...]", o->name);
    }
    fputc('\n', f);
}

int cli_usage_error(const cli_cmd_spec *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "glarex: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cli_opt_usage(cmd, stderr);
    fprintf(stderr, "Try 'glarex %s --help'.\n", cmd->name);
    return 2;
}

static void print_options(const cli_opt *opts, int positionals)
{
    for (const cli_opt *o = opts; o && o->type; o++) {
        char left[64];
        int is_pos = o->type == CLI_OPT_ARG || o->type == CLI_OPT_ARGS;
        if (is_pos != positionals || (o->flags & CLI_OPT_HIDDEN))
            continue;
        if (is_pos)
            snprintf(left, sizeof(left), "%s", o->name);
        else if (o->alias && !(o->flags & CLI_OPT_OLD_ALIAS))
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->alias, o->name,
                     o->value_name ? " " : "", o->value_name ? o->value_name : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name,
                     o->value_name ? " " : "", o->value_name ? o->value_name : "");
        if (strlen(left) > 26)
            printf("  %s\n  %-26s  %s%s\n", left, "", o->help,
                   o->type == CLI_OPT_LIST ? " (repeatable)" : "");
        else
            printf("  %-26s  %s%s\n", left, o->help,
                   o->type == CLI_OPT_LIST ? " (repeatable)" : "");
    }
}

void cli_opt_help(const cli_cmd_spec *cmd, const cli_opt *const *common)
{
    int has_pos = 0, has_opt = 0;
    for (const cli_opt *o = cmd->opts; o && o->type; o++) {
        if (o->type == CLI_OPT_ARG || o->type == CLI_OPT_ARGS)
            has_pos = 1;
        else
            has_opt = 1;
    }
    cli_opt_usage(cmd, stdout);
    printf("\n%s\n", cmd->summary);
    if (has_pos) {
        printf("\nArguments:\n");
        print_options(cmd->opts, 1);
    }
    if (has_opt) {
        printf("\nOptions:\n");
        print_options(cmd->opts, 0);
    }
    printf("\nCommon options:\n");
    printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
    print_options(common[0], 0);
    if (common[0] && common[1]) {
        printf("\nOutput options:\n");
        for (size_t t = 1; common[t]; t++)
            print_options(common[t], 0);
    }
    printf("\nExit status: 0 success, 1 runtime error, 2 usage error. See glarex(1).\n");
}

static int is_option(const cli_opt *o)
{
    return o->type != CLI_OPT_ARG && o->type != CLI_OPT_ARGS;
}

/* The command's own table (t = 0), then the common ones; NULL after the last. */
static const cli_opt *table_at(const cli_opt *cmd, const cli_opt *const *common, size_t t)
{
    static const cli_opt none[] = {{CLI_OPT_END, NULL, 0, NULL, NULL, NULL, 0}};
    if (t == 0)
        return cmd ? cmd : none;
    return common[t - 1];
}

static const cli_opt *find_long(const cli_opt *cmd, const cli_opt *const *common,
                                const char *name, size_t len)
{
    const cli_opt *tab;
    for (size_t t = 0; (tab = table_at(cmd, common, t)); t++)
        for (const cli_opt *o = tab; o->type; o++)
            if (is_option(o) && strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                return o;
    return NULL;
}

static const cli_opt *find_short(const cli_opt *cmd, const cli_opt *const *common, char c)
{
    const cli_opt *tab;
    for (size_t t = 0; (tab = table_at(cmd, common, t)); t++)
        for (const cli_opt *o = tab; o->type; o++)
            if (is_option(o) && o->alias == c)
                return o;
    return NULL;
}

/* Edit distance (insert, delete, substitute, swap neighbours) of two short words. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[33][33];
    if (la > 32 || lb > 32)
        return (size_t)-1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *cli_closest(const char *word, const char *const *candidates, size_t count)
{
    size_t limit = strlen(word) / 3, best = (size_t)-1;
    const char *found = NULL;

    if (limit < 1)
        limit = 1;
    for (size_t i = 0; i < count; i++) {
        size_t d = distance(word, candidates[i]);
        /* a prefix of a longer name ("--verb") is a likely slip too */
        if (strlen(word) >= 3 && strncmp(candidates[i], word, strlen(word)) == 0)
            d = 1;
        if (d <= limit && d < best) {
            best = d;
            found = candidates[i];
        }
    }
    return found;
}

/* "unknown option '--nmae'", with "did you mean '--name'?" when one is close. */
static int unknown_long(const cli_cmd_spec *cmd, const cli_opt *const *common,
                        const char *name, size_t len)
{
    const char *names[128], *hint;
    const cli_opt *tab;
    char word[64];
    size_t n = 0;

    snprintf(word, sizeof(word), "%.*s", (int)len, name);
    for (size_t t = 0; (tab = table_at(cmd->opts, common, t)); t++)
        for (const cli_opt *o = tab; o->type && n < 128; o++)
            if (is_option(o))
                names[n++] = o->name;
    hint = cli_closest(word, names, n);
    if (hint)
        return cli_usage_error(cmd, "unknown option '--%s': did you mean '--%s'?", word,
                               hint);
    return cli_usage_error(cmd, "unknown option '--%s'", word);
}

static int set_value(const cli_opt *o, const char *value)
{
    if (o->type == CLI_OPT_VALUE || o->type == CLI_OPT_ARG) {
        *(const char **)o->value = value;
        return 0;
    }
    return list_add(o->value, value);
}

int cli_opt_parse(const cli_cmd_spec *cmd, const cli_opt *const *common, int argc,
                  char **argv)
{
    const cli_opt *next_pos = cmd->opts;
    int no_more_options = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const cli_opt *o;

        if (!no_more_options && strcmp(a, "--") == 0) {
            no_more_options = 1;
            continue;
        }
        if (!no_more_options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            cli_opt_help(cmd, common);
            return -1;
        }
        if (!no_more_options && a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_long(cmd->opts, common, a + 2, len);
            if (!o)
                return unknown_long(cmd, common, a + 2, len);
            if (o->type == CLI_OPT_SWITCH) {
                if (eq)
                    return cli_usage_error(cmd, "option '--%s' takes no value", o->name);
                *(int *)o->value = 1;
                continue;
            }
            if (!eq && i + 1 >= argc)
                return cli_usage_error(cmd, "option '--%s' needs a value (%s)", o->name,
                                       o->value_name);
            if (set_value(o, eq ? eq + 1 : argv[++i]) < 0)
                return cli_usage_error(cmd, "out of memory");
            continue;
        }
        if (!no_more_options && a[0] == '-' && a[1]) {
            /* -qv bundles switches; -oFILE and -o FILE give a value */
            for (const char *p = a + 1; *p; p++) {
                o = find_short(cmd->opts, common, *p);
                if (!o)
                    return cli_usage_error(cmd, "unknown option '-%c'", *p);
                if (o->flags & CLI_OPT_OLD_ALIAS)
                    fprintf(stderr,
                            "glarex: %s: '-%c' is deprecated and will be removed: write "
                            "'--%s'\n",
                            cmd->name, *p, o->name);
                if (o->type == CLI_OPT_SWITCH) {
                    *(int *)o->value = 1;
                    continue;
                }
                if (!p[1] && i + 1 >= argc)
                    return cli_usage_error(cmd, "option '-%c' needs a value (%s)", *p,
                                           o->value_name);
                if (set_value(o, p[1] ? p + 1 : argv[++i]) < 0)
                    return cli_usage_error(cmd, "out of memory");
                break;
            }
            continue;
        }
        /* a positional argument: the next ARG slot, or the ARGS list */
        while (next_pos && next_pos->type && next_pos->type != CLI_OPT_ARG &&
               next_pos->type != CLI_OPT_ARGS)
            next_pos++;
        if (!next_pos || !next_pos->type)
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        if (set_value(next_pos, a) < 0)
            return cli_usage_error(cmd, "out of memory");
        if (next_pos->type == CLI_OPT_ARG)
            next_pos++;
    }
    for (const cli_opt *o = cmd->opts; o && o->type; o++) {
        if (!(o->flags & CLI_OPT_REQUIRED))
            continue;
        if ((o->type == CLI_OPT_ARG && !*(const char **)o->value) ||
            (o->type == CLI_OPT_ARGS && ((cli_list *)o->value)->count == 0))
            return cli_usage_error(cmd, "missing %s", o->name);
    }
    return 0;
}
