/* What the C tests (tests/support/server.c) and the benchmarks (bench/util.c) share:
 * starting and talking to the Glare-compatible test server (tests/glare_server.py),
 * and removing the scratch directories they make. */
#ifndef GLAREX_TEST_SERVER_IO_H
#define GLAREX_TEST_SERVER_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Runs `argv` (NULL-terminated; the server with `--port 0`) with its standard output
 * on a pipe and its standard error into `log_path`, and reads the first line it
 * prints, "listening on http://127.0.0.1:PORT", into `url`. Returns the child's pid,
 * or -1 (the child, if any, is stopped and reaped). */
pid_t server_spawn(const char *const *argv, const char *log_path, char *url,
                   size_t url_size);

/* Sends `method` `base_url``path` with `token` as X-Auth-Token and `body` of
 * `content_type` (each may be NULL). Returns the HTTP status or -1; the body, if
 * `out` is not NULL, is returned malloc'd and NUL-terminated (or NULL). */
int server_http(const char *base_url, const char *method, const char *path,
                const char *token, const char *content_type, const char *body, char **out);

/* Removes `path` and everything below it (NULL or "" does nothing). */
void test_rm_rf(const char *path);

#endif
