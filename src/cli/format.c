/* Output formats of the listing and show commands, as the OpenStack clients (cliff)
 * print them: table, json, yaml, value and shell, with -c and --sort-column. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* {====================================================================
 * Cells: a JSON value as the text of one table cell
 * ==================================================================== */

/* In a table, control characters (but newlines) as \xHH, so that a value stored by
 * somebody else cannot drive the terminal; value and shell give the data as it is. */
static void put_safe(FILE *f, const char *s, size_t n, int escape_controls)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (escape_controls && ((ch < 0x20 && ch != '\n') || ch == 0x7f))
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

static void put_cell(FILE *f, const json_t *v, int nested, int escape);

/* {"a": 1, "b": "x"} as "a=1, b=x" (openstackclient's format_dict). */
static void put_object_cell(FILE *f, const json_t *v, int escape)
{
    const char *k;
    json_t *item;
    int first = 1;
    json_object_foreach((json_t *)v, k, item) {
        fputs(first ? "" : ", ", f);
        put_safe(f, k, strlen(k), escape);
        fputc('=', f);
        put_cell(f, item, 1, escape);
        first = 0;
    }
}

static void put_cell(FILE *f, const json_t *v, int nested, int escape)
{
    size_t i;
    json_t *item;

    switch (json_typeof(v)) {
    case JSON_STRING:
        put_safe(f, json_string_value(v), json_string_length(v), escape);
        break;
    case JSON_NULL:
        break;
    case JSON_OBJECT:
        if (nested) {
            char *text = cli_json_text(v);
            put_safe(f, text ? text : "", text ? strlen(text) : 0, escape);
            free(text);
        } else {
            put_object_cell(f, v, escape);
        }
        break;
    case JSON_ARRAY:
        /* scalars "a, b"; objects one a line */
        json_array_foreach(v, i, item) {
            if (i)
                fputs(json_is_object(item) && !nested ? "\n" : ", ", f);
            put_cell(f, item, nested || !json_is_object(item), escape);
        }
        break;
    default: {
        char *text = cli_json_text(v);
        fputs(text ? text : "", f);
        free(text);
    }
    }
}

static char *cell_text(const cli *c, const json_t *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    if (v)
        put_cell(f, v, 0, c->format == CLI_TEXT);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* }==================================================================== */

/* {====================================================================
 * Columns and sorting
 * ==================================================================== */

static int in_list(const char *name, const cli_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i], name) == 0)
            return 1;
    return 0;
}

static int in_set(const char *name, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (strcmp(set[i], name) == 0)
            return 1;
    return 0;
}

/* The columns to print, in the command's order: -c, else `fallback` (NULL: all). */
static size_t pick(const char **out, const cli *c, const cli_view *view,
                   const char *const *fallback)
{
    size_t n = 0;
    for (size_t i = 0; view->columns[i]; i++)
        if (c->columns.count ? in_list(view->columns[i], &c->columns)
                             : !fallback || in_set(view->columns[i], fallback))
            out[n++] = view->columns[i];
    return n;
}

static size_t ncolumns(const cli_view *view)
{
    size_t n = 0;
    while (view->columns[n])
        n++;
    return n;
}

/* "1.9.0" before "1.10.0": runs of digits compare as numbers. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            size_t la, lb;
            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            la = strspn(a, "0123456789");
            lb = strspn(b, "0123456789");
            if (la != lb)
                return la < lb ? -1 : 1;
            if (strncmp(a, b, la) != 0)
                return strncmp(a, b, la);
            a += la;
            b += la;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int value_cmp(const json_t *a, const json_t *b)
{
    char *ta, *tb;
    int r;

    if (!a || json_is_null(a) || !b || json_is_null(b)) /* missing values first */
        return (b && !json_is_null(b)) - (a && !json_is_null(a));
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_string(a) && json_is_string(b))
        return natural_cmp(json_string_value(a), json_string_value(b));
    ta = cli_json_text(a);
    tb = cli_json_text(b);
    r = ta && tb ? natural_cmp(ta, tb) : 0;
    free(ta);
    free(tb);
    return r;
}

typedef struct sort_item {
    json_t *row;
    size_t index; /* ties keep the store's order */
    const cli *c;
} sort_item;

static int row_cmp(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    const cli *c = a->c;
    for (size_t i = 0; i < c->sort_columns.count; i++) {
        const char *col = c->sort_columns.items[i];
        int r = value_cmp(json_object_get(a->row, col), json_object_get(b->row, col));
        if (r)
            return c->sort_descending ? -r : r;
    }
    return (a->index > b->index) - (a->index < b->index);
}

/* The rows sorted and, with -c, cut to those columns (new array). */
static json_t *shape_rows(const cli *c, const cli_view *view, const json_t *rows)
{
    size_t n = json_array_size(rows), ncols;
    sort_item *items = calloc(n ? n : 1, sizeof(*items));
    const char **cols = calloc(ncolumns(view) + 1, sizeof(*cols));
    json_t *out = json_array();

    if (!items || !cols || !out) {
        free(items);
        free(cols);
        json_decref(out);
        return NULL;
    }
    ncols = pick(cols, c, view, NULL);
    for (size_t i = 0; i < n; i++)
        items[i] = (sort_item){json_array_get(rows, i), i, c};
    if (c->sort_columns.count)
        qsort(items, n, sizeof(*items), row_cmp);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_object();
        for (size_t k = 0; row && k < ncols; k++) {
            json_t *v = json_object_get(items[i].row, cols[k]);
            json_object_set_new(row, cols[k], v ? json_incref(v) : json_null());
        }
        json_array_append_new(out, row);
    }
    free(items);
    free(cols);
    return out;
}

/* }==================================================================== */

/* {====================================================================
 * YAML: block style, as PyYAML's safe_dump(default_flow_style=False) writes it
 * ==================================================================== */

/* Whether a string may go unquoted: it must read back as the same string, never as a
 * number, boolean, null or date (YAML 1.1, as PyYAML reads it). */
static int yaml_plain(const char *s, size_t n)
{
    static const char *const words[] = {"y",    "n",   "yes", "no",  "on",  "off",
                                        "true", "false", "null", NULL};
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '/'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_./-", s[i]))
            return 0;
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncasecmp(words[i], s, n) == 0)
            return 0;
    return 1;
}

/* A double-quoted scalar: every character YAML does not take raw escaped. */
static void put_yaml_string(FILE *f, const char *s, size_t n)
{
    if (yaml_plain(s, n)) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else if (ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9f)
            fprintf(f, "\\x%02x", (unsigned char)s[++i]); /* C1 controls */
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void put_yaml_scalar(FILE *f, const json_t *v)
{
    char *text;
    switch (json_typeof(v)) {
    case JSON_STRING:
        put_yaml_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_REAL:
        text = cli_json_text(v);
        /* PyYAML reads 1e+20 as a string: a float needs its dot */
        if (text && !strchr(text, '.') && strchr(text, 'e')) {
            char *e = strchr(text, 'e');
            fprintf(f, "%.*s.0%s", (int)(e - text), text, e);
        } else {
            fputs(text ? text : ".nan", f);
        }
        free(text);
        break;
    case JSON_OBJECT:
        fputs("{}", f);
        break;
    case JSON_ARRAY:
        fputs("[]", f);
        break;
    default:
        text = cli_json_text(v);
        fputs(text ? text : "null", f);
        free(text);
    }
}

static int yaml_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v)) ||
           (json_is_array(v) && json_array_size(v));
}

/* Writes a block at `indent`; the first line's indentation is already written when
 * `started` ("- " of a sequence item). */
static void put_yaml(FILE *f, const json_t *v, int indent, int started)
{
    const char *k;
    json_t *item;
    size_t i;

    if (!yaml_block(v)) {
        put_yaml_scalar(f, v);
        fputc('\n', f);
        return;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, item) {
            if (!started)
                fprintf(f, "%*s", indent, "");
            started = 0;
            put_yaml_string(f, k, strlen(k));
            fputc(':', f);
            if (!yaml_block(item)) {
                fputc(' ', f);
                put_yaml(f, item, 0, 1);
            } else {
                fputc('\n', f);
                /* a sequence under a key is not indented, a mapping is */
                put_yaml(f, item, json_is_array(item) ? indent : indent + 2, 0);
            }
        }
        return;
    }
    json_array_foreach(v, i, item) {
        if (!started)
            fprintf(f, "%*s", indent, "");
        started = 0;
        fputs("- ", f);
        if (json_is_array(item) && yaml_block(item)) {
            fputc('\n', f);
            put_yaml(f, item, indent + 2, 0);
        } else {
            put_yaml(f, item, indent + 2, 1);
        }
    }
}

/* }==================================================================== */

/* {====================================================================
 * Table: as PrettyTable draws it for cliff
 * ==================================================================== */

/* Characters on the screen: UTF-8 continuation bytes take no room. */
static size_t width_of(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

/* The widest line of a cell, and its number of lines. */
static size_t cell_width(const char *s, size_t *lines)
{
    size_t w = 0;
    *lines = 1;
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s), lw = width_of(s, n);
        if (lw > w)
            w = lw;
        if (!nl)
            return w;
        (*lines)++;
        s = nl + 1;
    }
}

/* Line `line` of a cell ("" past its end), padded to `width`. */
static void put_cell_line(FILE *f, const char *s, size_t line, size_t width)
{
    size_t n;
    for (; line > 0 && s; line--)
        s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL;
    if (!s)
        s = "";
    n = strchr(s, '\n') ? (size_t)(strchr(s, '\n') - s) : strlen(s);
    fprintf(f, " %.*s%*s |", (int)n, s, (int)(width - width_of(s, n)), "");
}

static void put_rule(FILE *f, const size_t *widths, size_t ncols)
{
    fputc('+', f);
    for (size_t k = 0; k < ncols; k++) {
        for (size_t i = 0; i < widths[k] + 2; i++)
            fputc('-', f);
        fputc('+', f);
    }
    fputc('\n', f);
}

/* cells: nrows * ncols texts, the first row the header. */
static void put_table(FILE *f, char **cells, size_t nrows, size_t ncols)
{
    size_t *widths = calloc(ncols ? ncols : 1, sizeof(*widths)), lines;
    if (!widths)
        return;
    for (size_t r = 0; r < nrows; r++)
        for (size_t k = 0; k < ncols; k++) {
            size_t w = cell_width(cells[r * ncols + k], &lines);
            if (w > widths[k])
                widths[k] = w;
        }
    put_rule(f, widths, ncols);
    for (size_t r = 0; r < nrows; r++) {
        size_t height = 1;
        for (size_t k = 0; k < ncols; k++) {
            cell_width(cells[r * ncols + k], &lines);
            if (lines > height)
                height = lines;
        }
        for (size_t line = 0; line < height; line++) {
            fputc('|', f);
            for (size_t k = 0; k < ncols; k++)
                put_cell_line(f, cells[r * ncols + k], line, widths[k]);
            fputc('\n', f);
        }
        if (r == 0)
            put_rule(f, widths, ncols);
    }
    put_rule(f, widths, ncols);
    free(widths);
}

/* }==================================================================== */

/* {====================================================================
 * Printing
 * ==================================================================== */

/* Whether every cell text was made (not out of memory). */
static int all_set(char **cells, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!cells[k])
            return 0;
    return 1;
}

static int finish(FILE *f)
{
    if (fflush(f) != 0 || ferror(f))
        return cli_fail("writing the output: %s", strerror(errno));
    return 0;
}

/* Shell: NAME="VALUE" lines that `eval` reads back; $, `, " and \ escaped, so that a
 * value can never run a command. */
static void put_shell(FILE *f, const char *prefix, const char *name, const char *value)
{
    fputs(prefix, f);
    for (const char *p = name; *p; p++)
        fputc(*p == ':' || *p == '-' ? '_' : *p, f);
    fputs("=\"", f);
    for (const char *p = value; *p; p++) {
        if (strchr("\"\\$`", *p))
            fputc('\\', f);
        fputc(*p, f);
    }
    fputs("\"\n", f);
}

/* A document in json or yaml. */
static int print_document(const cli *c, const json_t *doc)
{
    if (!doc)
        return cli_fail("out of memory");
    if (c->format == CLI_JSON)
        return cli_print_json(stdout, doc);
    put_yaml(stdout, doc, 0, 0);
    return finish(stdout);
}

/* Rows as a table (a header, then the rows) or as value lines. */
static int print_cells(const cli *c, const char *const *cols, size_t ncols,
                       const json_t *rows)
{
    size_t nrows = json_array_size(rows), ncells = (nrows + 1) * ncols, i;
    char **cells = calloc(ncells + 1, sizeof(*cells));
    json_t *row;
    int rc;

    for (size_t k = 0; cells && k < ncols; k++)
        cells[k] = strdup(cols[k]);
    json_array_foreach(rows, i, row) for (size_t k = 0; cells && k < ncols; k++)
        cells[(i + 1) * ncols + k] = cell_text(c, json_object_get(row, cols[k]));
    if (!cells || !all_set(cells, ncells)) {
        rc = cli_fail("out of memory");
    } else if (c->format == CLI_VALUE) {
        for (size_t k = ncols; k < ncells; k++)
            printf("%s%c", cells[k], (k + 1) % ncols ? ' ' : '\n');
        rc = finish(stdout);
    } else {
        if (nrows) /* cliff prints nothing for no rows */
            put_table(stdout, cells, nrows + 1, ncols);
        rc = finish(stdout);
    }
    for (size_t k = 0; cells && k < ncells; k++)
        free(cells[k]);
    free(cells);
    return rc;
}

int cli_print_rows(cli *c, const cli_view *view, const json_t *doc, const char *rows_key)
{
    const char **cols = calloc(ncolumns(view) + 1, sizeof(*cols));
    json_t *rows = shape_rows(c, view, json_object_get(doc, rows_key)), *out;
    int rc;

    if (!cols || !rows) {
        rc = cli_fail("out of memory");
    } else if (c->format == CLI_JSON || c->format == CLI_YAML) {
        out = json_copy((json_t *)doc); /* the document with its rows shaped */
        rc = out && json_object_set(out, rows_key, rows) == 0 ? print_document(c, out)
                                                              : cli_fail("out of memory");
        json_decref(out);
    } else {
        rc = print_cells(c, cols, pick(cols, c, view, view->table), rows);
    }
    free(cols);
    json_decref(rows);
    return rc;
}

int cli_print_record(cli *c, const cli_view *view, const json_t *record)
{
    const char **cols = calloc(ncolumns(view) + 1, sizeof(*cols));
    size_t ncols;
    int rc = 0;

    if (!cols)
        return cli_fail("out of memory");
    if (c->format == CLI_JSON || c->format == CLI_YAML) {
        json_t *out = c->columns.count ? json_object() : json_incref((json_t *)record);
        ncols = pick(cols, c, view, NULL);
        for (size_t k = 0; c->columns.count && k < ncols; k++) {
            json_t *v = json_object_get(record, cols[k]);
            json_object_set_new(out, cols[k], v ? json_incref(v) : json_null());
        }
        rc = print_document(c, out);
        json_decref(out);
        free(cols);
        return rc;
    }
    ncols = pick(cols, c, view, view->table);
    if (c->format == CLI_TEXT) {
        char **cells = calloc((ncols + 1) * 2, sizeof(*cells));
        if (!cells) {
            free(cols);
            return cli_fail("out of memory");
        }
        cells[0] = strdup("Field");
        cells[1] = strdup("Value");
        for (size_t k = 0; k < ncols; k++) {
            cells[2 * k + 2] = strdup(cols[k]);
            cells[2 * k + 3] = cell_text(c, json_object_get(record, cols[k]));
        }
        if (all_set(cells, (ncols + 1) * 2))
            put_table(stdout, cells, ncols + 1, 2);
        else
            rc = cli_fail("out of memory");
        for (size_t k = 0; k < (ncols + 1) * 2; k++)
            free(cells[k]);
        free(cells);
        free(cols);
        return rc ? rc : finish(stdout);
    }
    for (size_t k = 0; k < ncols; k++) {
        char *text = cell_text(c, json_object_get(record, cols[k]));
        if (!text) {
            free(cols);
            return cli_fail("out of memory");
        }
        if (c->format == CLI_SHELL)
            put_shell(stdout, c->shell_prefix ? c->shell_prefix : "", cols[k], text);
        else
            printf("%s\n", text);
        free(text);
    }
    free(cols);
    return finish(stdout);
}

/* }==================================================================== */
