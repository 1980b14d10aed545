/* eval and render: Mistral's evaluate() and evaluate_recursively(), printed as compact
 * JSON. glare() calls are served by the configured store through the cache. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The context from --context JSON or --context-file FILE (see cli_load_document); {}
 * when neither is given. Returns 0 or the exit status. */
static int load_context(json_t **out, const cli_cmd_spec *spec, const char *text,
                        const char *file)
{
    glarex_error err;

    *out = NULL;
    if (text && file)
        return cli_usage_error(spec, "give --context or --context-file, not both");
    if (text) {
        if (cli_parse_json(out, text, strlen(text), "--context", &err) < 0)
            return cli_usage_error(spec, "%s", err.message);
    } else if (file) {
        if (cli_load_document(out, file, &err) < 0)
            return cli_error(&err);
    } else {
        *out = json_object();
    }
    return 0;
}

/* {====================================================================
 * Errors that say which expression failed, where, and the fix
 * ==================================================================== */

/* The path ("b.c", "tasks[2]") of the first string in `v` equal to `text`, into buf. */
static int find_string(char *buf, size_t size, const json_t *v, const char *text)
{
    size_t len = strlen(buf), i;
    const char *k;
    json_t *item;

    if (json_is_string(v))
        return strcmp(json_string_value(v), text) == 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, item) {
            snprintf(buf + len, size - len, "%s%s", len ? "." : "", k);
            if (find_string(buf, size, item, text))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            snprintf(buf + len, size - len, "[%zu]", i);
            if (find_string(buf, size, item, text))
                return 1;
        }
    }
    buf[len] = '\0';
    return 0;
}

/* Where the first line of `expr` stands in `text`, 1-based; 0 when it is not there
 * verbatim (an escaped or folded YAML scalar). */
static int locate(int *line, int *column, const char *text, const char *expr)
{
    size_t n = strcspn(expr, "\n");
    const char *hit = NULL, *p;

    for (p = text; n && (p = strstr(p, expr)) != NULL; p++)
        if (strncmp(p, expr, n) == 0) {
            hit = p;
            break;
        }
    if (!hit)
        return 0;
    *line = 1;
    *column = 1;
    for (p = text; p < hit; p++) {
        if (*p == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            (*column)++;
        }
    }
    return 1;
}

/* The fix for a key the context does not have: YAQL says 'key', Jinja "... has no
 * attribute 'key'". */
static const char *fix_for(const char *message)
{
    size_t n = strlen(message);
    if ((n > 2 && message[0] == '\'' && message[n - 1] == '\'' &&
         !strchr(message + 1, ' ')) ||
        strstr(message, "has no attribute '"))
        return " (the context has no such key: give it with --context or --context-file)";
    return "";
}

/* Reports a failed evaluation: the expression, and for a document `file` (NULL for
 * eval's TEMPLATE) the file, line and column, and where in the document. */
static int report(const char *cmd, const char *file, const char *text, const json_t *doc,
                  const glarex_error *err)
{
    char path[256] = "", expr[2 * GLAREX_ERROR_SOURCE_LENGTH], *e = expr;
    int line = 0, column = 0;

    if (!err->source[0] || err->line <= 0)
        return cli_error(err);
    for (const char *p = err->source; *p; p++) /* one line: a newline shown as \n */
        e += *p == '\n' ? sprintf(e, "\\n") : sprintf(e, "%c", *p);
    if (!file)
        return cli_fail("%s: expression '%s', line %d, column %d: %s%s", cmd, expr,
                        err->line, err->column, err->message, fix_for(err->message));
    find_string(path, sizeof(path), doc, err->source);
    if (text && locate(&line, &column, text, err->source)) {
        if (err->line == 1)
            column += err->column - 1;
        else
            line += err->line - 1, column = err->column;
        return cli_fail("%s:%d:%d: %s%sexpression '%s': %s%s", file, line, column, path,
                        path[0] ? ": " : "", expr, err->message, fix_for(err->message));
    }
    return cli_fail("%s: %s%sexpression '%s', line %d, column %d: %s%s", file, path,
                    path[0] ? ": " : "", expr, err->line, err->column, err->message,
                    fix_for(err->message));
}

/* }==================================================================== */

/* Runs one evaluation, once more with a fresh evaluator after a re-authentication. */
static int evaluate(json_t **out, cli *c, const char *text, const json_t *data,
                    const json_t *context, glarex_error *err)
{
    glarex_eval *ev = NULL;
    int rc;

    *out = NULL;
    if ((rc = cli_open_ctx(c, 1, err)) < 0)
        return rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = glarex_eval_new(&ev, c->ctx, NULL, err)) < 0 ||
            (rc = glarex_eval_use_request(ev, c->req, err)) < 0) {
            glarex_eval_free(ev);
            return rc;
        }
        rc = text ? glarex_eval_string(out, ev, text, context, err)
                  : glarex_eval_recursive(out, ev, data, context, err);
        glarex_eval_free(ev); /* before cli_retry_auth replaces the context */
        ev = NULL;
        if (rc != GLAREX_EAUTH || attempt || !cli_retry_auth(c, err))
            break;
    }
    if (rc == GLAREX_EAUTH)
        cli_explain_auth(c, err);
    return rc;
}

int cmd_eval(cli *c, int argc, char **argv)
{
    const char *tmpl = NULL, *ctx_text = NULL, *ctx_file = NULL;
    int recursive = 0, raw = 0, rc;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "TEMPLATE", 0, &tmpl, NULL,
         "a string with <% YAQL %> or {{ Jinja }}; with --recursive a JSON document",
         CLI_OPT_REQUIRED},
        /* -c is --column elsewhere; here it is the old spelling of --context */
        {CLI_OPT_VALUE, "context", 'c', &ctx_text, "JSON",
         "the context ($ in YAQL, _ in Jinja)", CLI_OPT_OLD_ALIAS},
        {CLI_OPT_VALUE, "context-file", 0, &ctx_file, "FILE",
         "read the context from a YAML or JSON file", 0},
        {CLI_OPT_SWITCH, "recursive", 'R', &recursive, NULL,
         "evaluate every string inside the JSON TEMPLATE (evaluate_recursively)", 0},
        /* -r is --resource elsewhere; here it is the old spelling of --raw */
        {CLI_OPT_SWITCH, "raw", 'r', &raw, NULL,
         "print a string result as it is, not as a JSON string", CLI_OPT_OLD_ALIAS},
        {0},
    };
    const cli_cmd_spec spec = {
        "eval", opts,
        "Evaluates a template as Mistral does and prints the result as "
        "compact JSON\n(a string result is a JSON string)."};
    glarex_error err;
    json_t *context = NULL, *data = NULL, *result = NULL;
    json_error_t jerr;

    CLI_PARSE(c, &spec, argc, argv);
    if ((rc = load_context(&context, &spec, ctx_text, ctx_file)) != 0)
        return rc;
    if (recursive && !(data = json_loads(tmpl, JSON_DECODE_ANY, &jerr))) {
        json_decref(context);
        return cli_usage_error(&spec,
                               "TEMPLATE is not JSON (needed with --recursive): %s "
                               "(column %d)",
                               jerr.text, jerr.column);
    }
    if (evaluate(&result, c, recursive ? NULL : tmpl, data, context, &err) < 0)
        rc = report("eval", recursive ? "TEMPLATE" : NULL, tmpl, data, &err);
    else if (raw && json_is_string(result) && c->format == CLI_TEXT)
        rc = fwrite(json_string_value(result), 1, json_string_length(result), stdout) ==
                         json_string_length(result) &&
                     fflush(stdout) == 0
                 ? 0
                 : cli_fail("writing the output: %s", strerror(errno));
    else
        rc = cli_print_json(stdout, result);
    json_decref(result);
    json_decref(data);
    json_decref(context);
    return rc;
}

int cmd_render(cli *c, int argc, char **argv)
{
    const char *file = NULL, *ctx_text = NULL, *ctx_file = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "FILE", 0, &file, NULL,
         "a YAML or JSON document ('-': standard input)", CLI_OPT_REQUIRED},
        {CLI_OPT_VALUE, "context-file", 0, &ctx_file, "FILE",
         "the context, a YAML or JSON file", 0},
        {CLI_OPT_VALUE, "context", 'c', &ctx_text, "JSON", "the context as JSON text",
         CLI_OPT_OLD_ALIAS},
        {0},
    };
    const cli_cmd_spec spec = {"render", opts,
                               "Evaluates every string of a document as Mistral's "
                               "evaluate_recursively does\n(keys are kept; with an empty "
                               "context nothing is evaluated) and prints it as JSON."};
    glarex_error err;
    json_t *context = NULL, *doc = NULL, *result = NULL;
    int rc;

    CLI_PARSE(c, &spec, argc, argv);
    if (!ctx_text && !ctx_file)
        return cli_usage_error(&spec, "missing --context-file (or --context)");
    if ((rc = load_context(&context, &spec, ctx_text, ctx_file)) != 0)
        return rc;
    if (cli_load_document(&doc, file, &err) < 0)
        rc = cli_error(&err);
    else if (evaluate(&result, c, NULL, doc, context, &err) < 0) {
        char *text = NULL; /* the file again, to say where the expression stands */
        size_t size;
        glarex_error rerr;
        if (strcmp(file, "-") == 0 || cli_read_file(&text, &size, file, &rerr) < 0)
            text = NULL;
        rc = report("render", strcmp(file, "-") == 0 ? "(standard input)" : file, text, doc,
                    &err);
        free(text);
    } else
        rc = cli_print_json(stdout, result);
    json_decref(result);
    json_decref(doc);
    json_decref(context);
    return rc;
}
