/* resource-get: one resource, fetched through the cache (verified), to stdout or a
 * file. Binary content is never written to a terminal. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

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

/* Copies the cached file `from` to `out` in chunks, so memory stays flat whatever the
 * size, hashing what it copies (hex) and drawing progress on a terminal. */
static int copy_out(char hex[65], int out, const char *from, cli_progress *prog,
                    uint64_t size, glarex_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    char *buf = malloc(COPY_CHUNK);
    unsigned int mdlen = 0;
    uint64_t done = 0;
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    int in = open(from, O_RDONLY | O_CLOEXEC), ok, e = 0;
    ssize_t n = 0;

    ok = buf && md_ctx && in >= 0 && EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL);
    if (in < 0)
        e = errno;
    while (ok && (n = read(in, buf, COPY_CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write_all(out, buf, (uint64_t)n) < 0) {
            e = errno;
            ok = 0;
            break;
        }
        ok = EVP_DigestUpdate(md_ctx, buf, (size_t)n);
        done += (uint64_t)n;
        if (cli_progress_cb(done, size, prog)) {
            e = EINTR;
            ok = 0;
        }
    }
    cli_progress_end(prog);
    ok = ok && EVP_DigestFinal_ex(md_ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(md_ctx);
    free(buf);
    if (in >= 0)
        close(in);
    if (!ok)
        return cli_set_error(err, GLAREX_EIO, "copying %s: %s", from,
                             strerror(e ? e : EIO));
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return 0;
}

/* Writes `path` whole or not at all: a temporary file beside it, then rename; only
 * bytes whose sha256 is `want` are renamed into place. */
static int save(const char *path, const char *from, const char *want, cli_progress *prog,
                uint64_t size, glarex_error *err)
{
    char *tmp = NULL, got[65];
    mode_t mask = umask(0);
    int fd, e, rc;

    umask(mask); /* mkstemp makes 0600: give the file the mode a plain create would */

    if (asprintf(&tmp, "%s.glarex-XXXXXX", path) < 0)
        return cli_set_error(err, GLAREX_ENOMEM, "out of memory");
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        free(tmp);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e));
    }
    if ((rc = copy_out(got, fd, from, prog, size, err)) == 0 && strcasecmp(got, want) != 0)
        rc = cli_set_error(err, GLAREX_ECHECKSUM,
                           "the cached bytes have sha256 %s, not %s: not writing %s; run "
                           "'glarex cache verify' and try again",
                           got, want, path);
    if (rc == 0 && (fsync(fd) < 0 || fchmod(fd, 0666 & ~mask) < 0))
        rc = cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* To standard output (a pipe or file): the cached file is checked whole first, so that
 * no byte of wrong content is written; then copied. */
static int print_stream(const char *from, const char *want, cli_progress *prog,
                        uint64_t size, glarex_error *err)
{
    char got[65];
    uint64_t n;
    int rc;

    if ((rc = cli_sha256_file(got, &n, from, err)) < 0)
        return rc;
    if (strcasecmp(got, want) != 0)
        return cli_set_error(err, GLAREX_ECHECKSUM,
                             "the cached bytes have sha256 %s, not %s: not writing them; "
                             "run 'glarex cache verify' and try again",
                             got, want);
    if ((rc = copy_out(got, STDOUT_FILENO, from, prog, size, err)) < 0)
        return rc;
    if (strcasecmp(got, want) != 0) /* changed while copied: say so, at least */
        return cli_set_error(err, GLAREX_ECHECKSUM,
                             "the cached file changed while it was written out (sha256 "
                             "%s, not %s): discard the output",
                             got, want);
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

/* The blob's bytes, mapped, checked against its sha256 (the bytes given out must be
 * the ones the digest names). 0, or the exit status after the error. */
static int in_memory(const char **data, glarex_blob *blob, const char *key)
{
    char actual[65] = "";
    uint64_t size = glarex_blob_size(blob);

    *data = glarex_blob_data(blob);
    if (!*data && size)
        return cli_fail("resource '%s': the cached content (sha256 %s) cannot be read or "
                        "was changed on disk: run 'glarex cache verify' and try again",
                        key, glarex_blob_sha256(blob));
    if (!*data)
        *data = "";
    if (cli_sha256_buffer(actual, *data, (size_t)size) < 0 ||
        strcasecmp(actual, glarex_blob_sha256(blob)) != 0)
        return cli_fail("resource '%s': the cached bytes have sha256 %s, not %s: not "
                        "writing them; run 'glarex cache verify' and try again",
                        key, actual, glarex_blob_sha256(blob));
    return 0;
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
    c->fetch.label = key; /* progress of the download into the cache */
    if ((rc = cli_open_ctx(c, 1, &err)) == 0)
        CLI_AUTH_RETRY(c, rc, &err,
                       glarex_request_fetch(&blob, c->req, name, version, key, &err));
    free(name);
    cli_progress_end(&c->fetch);
    if (rc < 0)
        return cli_error(&err);
    size = glarex_blob_size(blob);
    /* A file or a pipe is written from the cached file, in chunks: memory stays flat
     * for a resource of any size. The JSON form and a terminal take the bytes whole. */
    if (!to_stdout || (c->format == CLI_TEXT && !isatty(STDOUT_FILENO))) {
        const char *base = to_stdout ? "standard output"
                           : strrchr(output, '/') ? strrchr(output, '/') + 1
                                                  : output;
        cli_progress prog = {c, base, 0, 0, 0};
        const char *from;
        rc = glarex_blob_path(&from, blob, &err);
        if (rc == 0)
            rc = to_stdout ? print_stream(from, glarex_blob_sha256(blob), &prog, size, &err)
                           : save(output, from, glarex_blob_sha256(blob), &prog, size, &err);
        /* Bytes changed on disk: mapping them has the cache check them whole and drop
         * the object, so that the next run fetches it again (its message says so). */
        if (rc == GLAREX_ECHECKSUM && in_memory(&data, blob, key) != 0)
            rc = 1;
        else
            rc = rc < 0 ? (cli_error(&err), 1) : 0;
        data = NULL;
    } else if ((rc = in_memory(&data, blob, key)) != 0) {
        glarex_blob_free(blob);
        return rc;
    } else if (c->format == CLI_TEXT) {
        if (!cli_is_text(data, (size_t)size))
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
