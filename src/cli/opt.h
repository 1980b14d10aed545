/* Option tables: one per command. The same table parses the arguments and prints the
 * usage line and --help, so the two never disagree (libgit2's src/cli/opt.h idea). */
#ifndef GLAREX_CLI_OPT_H
#define GLAREX_CLI_OPT_H

#include <stddef.h>

typedef enum cli_opt_type {
    CLI_OPT_END = 0,
    CLI_OPT_SWITCH, /* --name: sets an int to 1 */
    CLI_OPT_VALUE,  /* --name VALUE: sets a const char * (the last one wins) */
    CLI_OPT_LIST,   /* --name VALUE, repeatable: appends to a cli_list */
    CLI_OPT_ARG,    /* a positional argument: sets a const char * */
    CLI_OPT_ARGS    /* the remaining positional arguments: appends to a cli_list */
} cli_opt_type;

#define CLI_OPT_REQUIRED 1u /* a positional that must be given */
/* The short letter is an old spelling kept for a while: it still works, with a note on
 * stderr naming the long option, and --help does not show it. */
#define CLI_OPT_OLD_ALIAS 2u
/* An old shape's extra positional, accepted but shown neither in usage nor --help. */
#define CLI_OPT_HIDDEN 4u

/* Values borrowed from argv. */
typedef struct cli_list {
    const char **items;
    size_t count;
} cli_list;

typedef struct cli_opt {
    cli_opt_type type;
    const char *name;       /* long option without "--", or the positional's name */
    char alias;             /* short option letter, or 0 */
    void *value;            /* int *, const char ** or cli_list * by type */
    const char *value_name; /* "FILE" in "--context-file FILE" */
    const char *help;
    unsigned flags;
} cli_opt;

/* What a command is: its name, its option table and one line about it. */
typedef struct cli_cmd_spec {
    const char *name; /* "workflow-create", or "cache ls" */
    const cli_opt *opts;
    const char *summary;
} cli_cmd_spec;

/* The common option tables a command accepts, NULL-terminated: the first holds the
 * options of every command, the others (--help shows them as "Output options") those
 * of a kind of command. */
typedef const cli_opt *const cli_opt_tables[];

/*
 * Parses argv[0..argc) against the command's table and the common tables. Returns 0,
 * 2 after printing a usage error, or -1 when --help was asked for and printed (the
 * caller then exits 0).
 */
int cli_opt_parse(const cli_cmd_spec *cmd, const cli_opt *const *common, int argc,
                  char **argv);

/* Prints "usage: glarex NAME [options] ARGS..." to `f`. */
void cli_opt_usage(const cli_cmd_spec *cmd, void *f);

/* Prints the full help of the command (usage, summary, options, common options,
 * output options). */
void cli_opt_help(const cli_cmd_spec *cmd, const cli_opt *const *common);

/* The candidate closest to `word` by edit distance, when close enough to be a likely
 * typo (at most a third of the word's length, at least 1), else NULL. */
const char *cli_closest(const char *word, const char *const *candidates, size_t count);

/* A usage error about `cmd`: "glarex: NAME: message", the usage line, a hint; returns
 * 2. */
int cli_usage_error(const cli_cmd_spec *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void cli_list_free(cli_list *list);

#endif
