/* Test helper: runs tests/glare_server.py on 127.0.0.1 with a free port. */
#ifndef GLAREX_TEST_SERVER_H
#define GLAREX_TEST_SERVER_H

#include <sys/types.h>

#include "server_io.h"

typedef struct test_server {
    pid_t pid;
    char url[64];       /* http://127.0.0.1:NNNN */
    char dir[256];      /* temporary directory holding data/ and server.log */
    char log_path[300]; /* the server's stderr: one line per request */
} test_server;

/* Starts the server with `--port 0 --data DIR/data --control` plus `extra` (a
 * NULL-terminated list, may be NULL). Returns 0, or -1 with a message on stderr. */
int test_server_start(test_server *s, const char *const *extra);

/* Stops the server and removes its directory. Safe to call twice. */
void test_server_stop(test_server *s);

/* Number of logged requests whose method is `method` (NULL = any) and whose path
 * starts with `path_prefix` (NULL = any). */
int test_server_count(const test_server *s, const char *method, const char *path_prefix);

/* Sends a request to the server's control or API endpoints with `token` as
 * X-Auth-Token (may be NULL), returns the HTTP status or -1. The body, if `out` is
 * not NULL, is returned malloc'd and NUL-terminated. */
int test_server_request(const test_server *s, const char *method, const char *path,
                        const char *token, const char *content_type, const char *body,
                        char **out);

/* One resource of a test artifact. */
typedef struct test_resource {
    const char *key;
    const void *data;
    size_t size;
} test_resource;

/* Creates artifact name/version of type workflows in the store at `url` (with `token`,
 * may be NULL): a small workflow blob plus `n` resources, activated when `activate`.
 * Writes the id into `id` (64 bytes, may be NULL). Returns 0, or -1 with a message on
 * stderr. */
int test_store_artifact(char *id, const char *url, const char *token, const char *name,
                        const char *version, const test_resource *res, size_t n,
                        int activate);

/* A temporary directory for a test's own files (created; removed by test_rm_rf). */
int test_mkdtemp(char *buf, size_t size, const char *tag);

#endif
