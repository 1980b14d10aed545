/* File arguments: checked before they are read (regular files only, or "-"), read with
 * a size cap, and parsed as what they are (JSON as JSON, YAML as YAML). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_open_input(FILE **out, const char *path, glarex_error *err)
{
    struct stat st;
    int fd, e;

    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cli_set_error(err,
                             errno == ENOENT || errno == ENOTDIR ? GLAREX_ENOTFOUND
                                                                 : GLAREX_EIO,
                             "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        e = errno;
        close(fd);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cli_set_error(err, GLAREX_EINVALID, "%s: %s", path,
                             S_ISDIR(st.st_mode)
                                 ? "is a directory: give a file"
                                 : "is not a regular file (a device, FIFO or socket can "
                                   "block or never end): give a file");
    }
    if (fcntl(fd, F_SETFL, 0) < 0 || !(*out = fdopen(fd, "rb"))) {
        e = errno;
        close(fd);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    return 0;
}

int cli_read_file(char **out, size_t *size, const char *path, glarex_error *err)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    FILE *f = stdin;
    char *data = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    *size = 0;
    if (strcmp(path, "-") != 0 && (rc = cli_open_input(&f, path, err)) < 0)
        return rc;
    rc = 0;
    /* Read at most one byte past the cap: standard input and a growing file have no
     * size to check beforehand. */
    for (;;) {
        if (cap - len < 65536 + 1) {
            size_t more = cap ? cap * 2 : 65536 * 2;
            char *p = realloc(data, more);
            if (!p) {
                rc = cli_set_error(err, GLAREX_ENOMEM, "out of memory");
                break;
            }
            data = p;
            cap = more;
        }
        size_t want = cap - len - 1;
        if (want > CLI_MAX_DOCUMENT + 1 - len)
            want = CLI_MAX_DOCUMENT + 1 - len;
        size_t n = fread(data + len, 1, want, f);
        len += n;
        if (len > CLI_MAX_DOCUMENT) {
            rc = cli_set_error(err, GLAREX_ETOOBIG,
                               "%s: larger than %d MiB, the most a document may have",
                               name, CLI_MAX_DOCUMENT >> 20);
            break;
        }
        if (n == 0)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = cli_set_error(err, GLAREX_EIO, "%s: %s", name, strerror(errno ? errno : EIO));
    if (f != stdin)
        fclose(f);
    if (rc < 0) {
        free(data);
        return rc;
    }
    data[len] = '\0';
    *out = data;
    *size = len;
    return 0;
}

/* JSON unless the name says YAML: the same JSON reader as --context, so numbers and
 * escapes mean the same in both. */
static int is_yaml_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && !strchr(dot, '/') &&
           (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0);
}

static int is_json_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && !strchr(dot, '/') && strcasecmp(dot, ".json") == 0;
}

int cli_parse_json(json_t **out, const char *text, size_t len, const char *what,
                   glarex_error *err)
{
    json_error_t jerr;

    *out = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!*out)
        return cli_set_error(err, GLAREX_EINVALID, "%s is not JSON: %s (line %d, column %d)",
                             what, jerr.text, jerr.line, jerr.column);
    return 0;
}

int cli_load_document(json_t **out, const char *path, glarex_error *err)
{
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    char *text = NULL;
    size_t len;
    int rc;

    *out = NULL;
    if ((rc = cli_read_file(&text, &len, path, err)) < 0)
        return rc;
    if (is_json_name(path)) {
        rc = cli_parse_json(out, text, len, name, err);
    } else if (is_yaml_name(path)) {
        rc = glarex_yaml_parse(out, text, len, name, err);
    } else {
        /* No telling name (standard input, .txt): JSON when it is JSON, else YAML. */
        *out = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        rc = *out ? 0 : glarex_yaml_parse(out, text, len, name, err);
    }
    free(text);
    return rc;
}
