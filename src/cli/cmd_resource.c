/* resource-get: one resource, fetched through the cache (verified), to stdout or a
 * file. Binary content is never written to a terminal. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *data, uint64_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size > (1u << 30) ? (1u << 30) : (size_t)size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (uint64_t)n;
    }
    return 0;
}

/* Writes `path` whole or not at all: a temporary file beside it, then rename. */
static int save(const char *path, const char *data, uint64_t size, glarex_error *err)
{
    char *tmp = NULL;
    mode_t mask = umask(0);
    int fd, e;

    umask(mask); /* mkstemp makes 0600: give the file the mode a plain create would */

    if (asprintf(&tmp, "%s.glarex-XXXXXX", path) < 0)
        return cli_set_error(err, GLAREX_ENOMEM, "out of memory");
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        free(tmp);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    if (write_all(fd, data, size) < 0 || fsync(fd) < 0 || fchmod(fd, 0666 & ~mask) < 0) {
        e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

static char *base64(const unsigned char *s, uint64_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((size_t)((n + 2) / 3 * 4 + 1)), *o = out;
    if (!out)
        return NULL;
    for (uint64_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

int cmd_resource_get(cli *c, int argc, char **argv)
{
    const char *what = NULL, *version = NULL, *key = NULL, *old_key = NULL, *output = NULL;
    char *name = NULL;
    cli_opt opts[] = {
        {CLI_OPT_ARG, "NAME[@VERSION]", 0, &what, NULL,
         "artifact name and version: exact, latest (the default), a range (\">=1.0,<2\") "
         "or sha256=HEX",
         CLI_OPT_REQUIRED},
        {CLI_OPT_ARG, "KEY", 0, &key, NULL, "resource key", CLI_OPT_REQUIRED},
        {CLI_OPT_ARG, "KEY", 0, &old_key, NULL, "", CLI_OPT_HIDDEN}, /* NAME VERSION KEY */
        {CLI_OPT_VALUE, "output", 'o', &output, "FILE",
         "write to FILE (atomically) instead of standard output", 0},
        {0},
    };
    const cli_cmd_spec spec = {"resource-get", opts,
                               "Fetches one resource, verified and cached, as "
                               "glare(NAME, VERSION, KEY) does, and prints or saves it."};
    glarex_error err;
    glarex_blob *blob = NULL;
    const char *data;
    char actual[65] = "";
    uint64_t size;
    int rc, to_stdout;

    CLI_PARSE(c, &spec, argc, argv);
    if (old_key) { /* the old shape, kept working */
        fprintf(stderr, "glarex: resource-get: NAME VERSION KEY is deprecated: write "
                        "NAME@VERSION KEY\n");
        if (!(name = strdup(what)))
            return cli_fail("out of memory");
        version = key;
        key = old_key;
    } else if (cli_split_artifact(&name, &version, what) < 0) {
        return cli_fail("out of memory");
    }
    if (!version)
        version = "latest";
    {
        glarex_ref *ref = NULL;
        if (glarex_ref_from_args(&ref, name, version, key, &err) < 0) {
            free(name);
            return cli_usage_error(&spec, "%s", err.message);
        }
        glarex_ref_free(ref);
    }
    to_stdout = !output || strcmp(output, "-") == 0;
    if ((rc = cli_open_ctx(c, 1, &err)) == 0)
        CLI_AUTH_RETRY(c, rc, &err,
                       glarex_request_fetch(&blob, c->req, name, version, key, &err));
    free(name);
    if (rc < 0)
        return cli_error(&err);
    data = glarex_blob_data(blob);
    size = glarex_blob_size(blob);
    if (!data && size) {
        rc = cli_fail("resource '%s': the cached content (sha256 %s) cannot be read or was "
                      "changed on disk: run 'glarex cache verify' and try again",
                      key, glarex_blob_sha256(blob));
        glarex_blob_free(blob);
        return rc;
    }
    if (!data)
        data = "";
    /* The digest given out below must be the one of the bytes written out. */
    if (cli_sha256_buffer(actual, data, (size_t)size) < 0 ||
        strcasecmp(actual, glarex_blob_sha256(blob)) != 0) {
        rc = cli_fail("resource '%s': the cached bytes have sha256 %s, not %s: not writing "
                      "them; run 'glarex cache verify' and try again",
                      key, actual, glarex_blob_sha256(blob));
        glarex_blob_free(blob);
        return rc;
    }

    if (!to_stdout) {
        rc = save(output, data, size, &err) < 0 ? cli_error(&err) : 0;
    } else if (c->format == CLI_TEXT) {
        if (isatty(STDOUT_FILENO) && !cli_is_text(data, (size_t)size))
            rc = cli_fail("resource '%s' is binary: not writing it to a terminal (use -o "
                          "FILE or a pipe)",
                          key);
        else if (write_all(STDOUT_FILENO, data, size) < 0)
            rc = cli_fail("writing the output: %s", strerror(errno));
    }
    if (rc == 0 && c->format == CLI_JSON) {
        json_t *info = glarex_blob_info(blob);
        if (!to_stdout)
            json_object_set_new(info, "path", json_string(output));
        else if (cli_is_text(data, (size_t)size))
            json_object_set_new(info, "content", json_stringn(data, (size_t)size));
        else {
            char *b64 = base64((const unsigned char *)data, size);
            json_object_set_new(info, "content_base64",
                                b64 ? json_string(b64) : json_null());
            free(b64);
        }
        rc = cli_print_json(stdout, info);
        json_decref(info);
    } else if (rc == 0 && !to_stdout && !c->quiet) {
        char sz[32];
        fprintf(stderr, "glarex: wrote %s (%s, sha256 %s)\n", output, cli_size(sz, size),
                glarex_blob_sha256(blob));
    }
    glarex_blob_free(blob);
    return rc;
}
