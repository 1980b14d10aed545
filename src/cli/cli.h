/* The glarex command: shared state, configuration, output helpers. Uses only the public
 * header glarex.h. */
#ifndef GLAREX_CLI_H
#define GLAREX_CLI_H

#include "opt.h"

#include <glarex.h>
#include <stdio.h>

/* Settings: each is a flag, an environment variable and a config file key, looked up
 * in that order (see config.c and docs/configuration.md). */
enum cli_setting_id {
    S_GLARE_URL,
    S_OS_AUTH_TOKEN,
    S_OS_AUTH_URL,
    S_OS_USERNAME,
    S_OS_PASSWORD,
    S_OS_PROJECT_NAME,
    S_OS_USER_DOMAIN_NAME,
    S_OS_PROJECT_DOMAIN_NAME,
    S_OS_CACERT,
    S_OS_CERT,
    S_OS_KEY,
    S_INSECURE,
    S_CACHE_DIR,
    S_OFFLINE,
    S_TIMEOUT,
    S_AS_OF_SKEW,
    S_MISTRAL_URL,
    S_OS_CLOUD,
    S_OS_REGION_NAME,
    S_OS_INTERFACE,
    S_MAX_RESOURCE_SIZE,
    S_OS_PROJECT_ID,
    S_OS_USER_DOMAIN_ID,
    S_OS_PROJECT_DOMAIN_ID,
    S_PREFER_OWN_PROJECT,
    S_COUNT
};

/* -f: CLI_TEXT is the human output ("table", or its old name "text"); yaml, value and
 * shell are for the listing and show commands (see cli_view). */
typedef enum cli_format { CLI_TEXT, CLI_JSON, CLI_YAML, CLI_VALUE, CLI_SHELL } cli_format;

/* Transfer progress on stderr when it is a terminal (and not -q), for transfers of at
 * least 1 MiB: bytes, rate and time left (progress.c); the callback also aborts the
 * transfer once SIGINT or SIGTERM arrived. Initialise as {c, label} (the rest zero). */
typedef struct cli_progress {
    const struct cli *c;
    const char *label;
    int shown;        /* a line was drawn: end it */
    int64_t start_ms; /* when the first bytes were reported */
    int64_t drawn_ms; /* when the line was last drawn */
} cli_progress;
int cli_progress_cb(uint64_t done, uint64_t total, void *payload);
void cli_progress_end(cli_progress *p);

typedef struct cli {
    /* common flags, set by the common option table */
    const char *format_name;
    int quiet, verbose, debug;
    const char *config_file;
    const char *flag[S_COUNT];
    int insecure_flag, offline_flag, prefer_own_flag;
    const char *as_of_text, *workflow_ref, *execution_id; /* whose and when, for glare() */
    /* the output options of listing and show commands (see cli_view) */
    cli_list columns, sort_columns;
    int sort_ascending, sort_descending;
    const char *shell_prefix;

    /* after cli_parse */
    cli_format format;
    char *file_value[S_COUNT];  /* from the config file (owned) */
    char *file_origin[S_COUNT]; /* "path:line" for messages (owned) */

    char *token;            /* the token in use (owned), or NULL */
    json_t *token_identity; /* who Keystone issued it to: {project_id, user_id, roles} */
    int reauthed;           /* a 401 already led to a new Keystone token */
    int catalog_done;       /* the catalog was searched for the store already */
    glarex_store *store;
    glarex_ctx *ctx;
    glarex_request *req; /* with c->ctx: the identity, workflow and as-of time of glare() */
    char *store_label;   /* see cli_store_label (owned) */
    cli_progress fetch;  /* downloads into the cache; shown when a command sets a label */
} cli;

#define CLI_CONTINUE (-1)

/* What a command prints, for the output options (as the OpenStack clients' cliff):
 * a list of rows (-c, --sort-column; formats table, json, yaml, value) or one record
 * (-c, --prefix; formats table, json, yaml, value, shell). */
typedef enum cli_shape { CLI_SHAPE_NONE, CLI_SHAPE_LIST, CLI_SHAPE_ONE } cli_shape;

typedef struct cli_view {
    cli_shape shape;
    const char *const *columns; /* every column: a row's or the record's JSON keys (NULL-ended) */
    const char *const *table;   /* those table and value show without -c (NULL-ended); NULL: all */
} cli_view;

/* Parses the command's arguments and the common options, then reads the
 * configuration. Returns CLI_CONTINUE, or the exit status to return now (0 after
 * --help, 2 after a usage or configuration error). */
int cli_parse(cli *c, const cli_cmd_spec *spec, int argc, char **argv);

/* cli_parse for a listing or show command: also the output options of `view`, each
 * column checked. */
int cli_parse_view(cli *c, const cli_cmd_spec *spec, const cli_view *view, int argc,
                   char **argv);

/* Reads the configuration files (or --config) and checks every setting that has a
 * syntax. Returns 0, or 2 after printing the error. */
int cli_load_config(cli *c, const cli_cmd_spec *spec);

#define CLI_PARSE(c, spec, argc, argv)                                                   \
    do {                                                                                 \
        int parse_rc_ = cli_parse((c), (spec), (argc), (argv));                          \
        if (parse_rc_ != CLI_CONTINUE)                                                   \
            return parse_rc_;                                                            \
    } while (0)

/* {====================================================================
 * Configuration and connections (config.c)
 * ==================================================================== */

/* The value of a setting (flag > environment > config file), or NULL. Borrowed. */
const char *cli_setting(const cli *c, int id);

/* Whether a boolean setting is on. */
int cli_setting_on(const cli *c, int id);

/* OS_CLOUD's cloud in clouds.yaml (and secure.yaml), found as openstacksdk finds
 * them, gives the settings nothing else gave (clouds.c). Returns 0, or 2 after
 * printing the error. */
int cli_load_cloud(cli *c);

/* Where a setting's value comes from, for messages: "--flag", "VARIABLE", "FILE:LINE",
 * "clouds.yaml FILE, cloud 'NAME' (auth.username)", "Keystone catalog ..."; NULL when
 * it has no value. */
const char *cli_setting_origin(const cli *c, int id);

/* Fills the store URL from Keystone's service catalog (service type "artifact") when
 * no setting gives one and Keystone password credentials are configured (this asks
 * Keystone for a token); also the Mistral URL (type "workflowv2") when
 * `want_mistral`. Offline, nothing is asked. */
int cli_from_catalog(cli *c, int want_mistral, glarex_error *err);

/* max_resource_size in bytes; 0 when not set. */
uint64_t cli_max_resource_size(const cli *c);

/* Fills HTTP settings (TLS, timeouts, trace, token) for any peer. */
void cli_client_options(cli *c, glarex_client_options *o);

/* The store's URL as it may be printed: a password in it ("http://user:pass@host")
 * shown as "***". NULL for the default store when it is not open. Borrowed, valid
 * until the next call. */
const char *cli_store_label(cli *c);

/* Opens c->store, authenticating first when the store is a Glare server. */
int cli_open_store(cli *c, glarex_error *err);

/* Opens c->ctx (store, cache, resolver) and c->req (the caller's identity, --workflow,
 * --execution, --as-of); `need_auth`: a Glare server will be asked. */
int cli_open_ctx(cli *c, int need_auth, glarex_error *err);

/* "YYYY-MM-DDTHH:MM:SS[Z]" (UTC; a space may stand for the T) or "@SECONDS", in ms
 * since the epoch; -1 when malformed. */
int64_t cli_parse_time(const char *text);

/* Forgets what any process using c's cache directory remembers about the artifacts
 * named `name` and the artifact with id `id` (either may be NULL), after c changed the
 * store. Best effort: a failure is a warning. */
void cli_invalidate(cli *c, const char *name, const char *id);

/* After a call failed with GLAREX_EAUTH: when Keystone credentials are configured and
 * this has not happened yet, gets a new token and reopens c->store and c->ctx (the
 * handles change). Returns 1 when the call should be tried again, else 0 (and `err`
 * then holds the error to report). */
int cli_retry_auth(cli *c, glarex_error *err);

/* rc = call; once more after a re-authentication when it failed with GLAREX_EAUTH;
 * a refusal that stays names where the token came from. */
#define CLI_AUTH_RETRY(c, rc, err, call)                                                 \
    do {                                                                                 \
        (rc) = (call);                                                                   \
        if ((rc) == GLAREX_EAUTH && cli_retry_auth((c), (err)))                          \
            (rc) = (call);                                                               \
        if ((rc) == GLAREX_EAUTH)                                                        \
            cli_explain_auth((c), (err));                                                \
    } while (0)

/* Adds to a GLAREX_EAUTH error which setting supplied the refused token and the fix. */
void cli_explain_auth(const cli *c, glarex_error *err);

/* A token for Mistral or Glare: the configured one, or one from Keystone. */
int cli_token(cli *c, glarex_error *err);

void cli_close(cli *c);

/* }==================================================================== */

/* {====================================================================
 * Output (output.c)
 * ==================================================================== */

/* "glarex: <message>" from a library error; returns 1. */
int cli_error(const glarex_error *err);
/* "glarex: <message>" for the CLI's own runtime errors; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "glarex: warning: <message>" unless -q. */
void cli_warn(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "glarex: <message>" with -v only. */
void cli_info(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes `v` as compact JSON and a newline (reals as their shortest round-trip text);
 * returns 0 or 1 (after reporting a write error). */
int cli_print_json(FILE *f, const json_t *v);

/* `v` as compact JSON text (new; free()), or NULL when out of memory. */
char *cli_json_text(const json_t *v);

/* Prints `doc` of a listing command in c->format: its array `rows_key` holds the rows,
 * sorted by --sort-column and cut to the -c columns (json and yaml print the whole
 * document, table and value the rows). Returns 0 or 1 after a write error. */
int cli_print_rows(cli *c, const cli_view *view, const json_t *doc, const char *rows_key);

/* Prints one record (an object) of a show command in c->format, cut to the -c
 * columns. Returns 0 or 1 after a write error. */
int cli_print_record(cli *c, const cli_view *view, const json_t *record);

/* sha256 of a file as 64 lower-case hex digits, and its size. */
int cli_sha256_file(char hex[65], uint64_t *size, const char *path, glarex_error *err);

/* sha256 of bytes in memory; 0 or -1. */
int cli_sha256_buffer(char hex[65], const void *data, size_t len);

/* Whether the bytes are text fit for a terminal: UTF-8 without NUL. */
int cli_is_text(const char *data, size_t len);

/* Human sizes: "812 B", "4.0 KiB", "1.5 MiB". */
const char *cli_size(char buf[32], uint64_t n);


/* SIGINT/SIGTERM set a flag instead of killing the process, so a half-made artifact
 * can be deleted. */
void cli_catch_interrupts(void);
/* The signal that arrived (SIGINT or SIGTERM), or 0. */
int cli_interrupted(void);

/* The summary of a Glare artifact JSON: {id, name, version, status, visibility, owner,
 * description, tags, created_at, updated_at, activated_at, workflow, resources} with
 * blobs as {size, sha256, md5, content_type} and resources as a list sorted by key
 * (new). */
json_t *cli_artifact_summary(const json_t *art);

/* Prints a summary in text form. */
void cli_print_artifact(const json_t *summary);

/* }==================================================================== */

/* {====================================================================
 * File arguments (input.c)
 * ==================================================================== */

/* The most a document (workflow, context, template file) may have, read whole. */
#define CLI_MAX_DOCUMENT (16 << 20)

/* Opens a file argument for reading (*out new): a regular file only, so that a FIFO
 * cannot hang the command and a device cannot feed it forever. */
int cli_open_input(FILE **out, const char *path, glarex_error *err);

/* Reads a whole file ("-" = standard input) of at most CLI_MAX_DOCUMENT bytes into
 * *out (new, NUL-terminated; free()). */
int cli_read_file(char **out, size_t *size, const char *path, glarex_error *err);

/* JSON text as --context reads it (any value); errors name `what`, line and column. */
int cli_parse_json(json_t **out, const char *text, size_t len, const char *what,
                   glarex_error *err);

/* A YAML or JSON file ("-" = standard input) as JSON (new): a .json file is JSON, a
 * .yaml or .yml file YAML (as PyYAML reads it), anything else JSON when it parses as
 * JSON, else YAML. */
int cli_load_document(json_t **out, const char *path, glarex_error *err);

/* }==================================================================== */

/* {====================================================================
 * Artifacts by name (cmd_workflow.c)
 * ==================================================================== */

/* Finds one artifact by "NAME", "NAME@VERSION" or an id (new JSON in *out). Without a
 * version, the highest one. Not found and ambiguous are errors in `err`. */
int cli_find_artifact(json_t **out, cli *c, const char *spec, glarex_error *err);

/* After "not found": appends to err's message the versions of `name` that exist (or
 * that none does), with a did-you-mean for `version`. */
void cli_append_versions(cli *c, glarex_error *err, const char *name, const char *version);

/* Sets a glarex_error of the CLI's own (code and message). */
int cli_set_error(glarex_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* }==================================================================== */

/* {====================================================================
 * Argument shapes (args.c)
 * ==================================================================== */

/* "NAME@VERSION" as *name (new) and *version (borrowed from `what`; NULL without an
 * @). Returns 0, or -1 when out of memory. */
int cli_split_artifact(char **name, const char **version, const char *what);

/* Checks an artifact argument: an id, or NAME[@VERSION] whose VERSION reads as glare()
 * reads it (with `key`, the resource key too); `one_version`: no range or sha256=.
 * Returns 0, or 2 after a usage error. */
int cli_check_artifact_arg(const cli_cmd_spec *spec, const char *what, const char *key,
                           int one_version);

/* Checks the settings whose syntax is known before anything is asked: the store and
 * Mistral URLs' schemes, --workflow. Returns 0, or 2 after a usage error naming the
 * setting's source. */
int cli_check_settings(const cli *c, const cli_cmd_spec *spec);

/* }==================================================================== */

/* {====================================================================
 * Workflow checks (lint.c)
 * ==================================================================== */

/* The workflow names a Mistral v2 definition holds: the top-level keys other than
 * version, name, description, tags, workflows and actions, or the keys of `workflows`
 * in the workbook form (new array). NULL when `doc` is not a mapping. */
json_t *cli_workflow_names(const json_t *doc);

/* Every glare() / glare_path() / glare_b64() / glare_info() call with literal
 * arguments and every glare:// URI in the strings of `doc`, as references that name
 * artifact `name` at `version` (normalised): a new array of {"ref": text, "key": key}
 * (key null for the workflow blob itself). A reference that does not parse fails with
 * the parser's error. */
int cli_lint_refs(json_t **out, const json_t *doc, const char *name, const char *version,
                  glarex_error *err);

/* }==================================================================== */

/* Commands */
int cmd_workflow_create(cli *c, int argc, char **argv);
int cmd_workflow_list(cli *c, int argc, char **argv);
int cmd_workflow_show(cli *c, int argc, char **argv);
int cmd_workflow_delete(cli *c, int argc, char **argv);
int cmd_workflow_get_definition(cli *c, int argc, char **argv);
int cmd_resource_list(cli *c, int argc, char **argv);
int cmd_resource_get(cli *c, int argc, char **argv);
int cmd_eval(cli *c, int argc, char **argv);
int cmd_render(cli *c, int argc, char **argv);
int cmd_resolve(cli *c, int argc, char **argv);
int cmd_cache(cli *c, int argc, char **argv);
int cmd_config(cli *c, int argc, char **argv);
int cmd_completion(cli *c, int argc, char **argv);

#endif
