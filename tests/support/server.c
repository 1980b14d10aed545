/* Test helper: starts and stops the Glare-compatible test server for C tests. */
#include "server.h"
#include "server_io.h"

#include <glarex.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int test_mkdtemp(char *buf, size_t size, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/glarex-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

int test_server_start(test_server *s, const char *const *extra)
{
    char data[300];
    const char *argv[64];
    int argc = 0;

    memset(s, 0, sizeof(*s));
    if (test_mkdtemp(s->dir, sizeof(s->dir), "srv") < 0) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);

    argv[argc++] = env_or("GLAREX_TEST_PYTHON", "/usr/bin/python3");
    argv[argc++] = env_or("GLAREX_TEST_SERVER", "tests/glare_server.py");
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--data";
    argv[argc++] = data;
    argv[argc++] = "--control";
    for (int i = 0; extra && extra[i] && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    s->pid = server_spawn(argv, s->log_path, s->url, sizeof(s->url));
    if (s->pid < 0) {
        fprintf(stderr, "test server did not start (see %s)\n", s->log_path);
        s->pid = 0;
        test_server_stop(s);
        return -1;
    }
    return 0;
}

void test_server_stop(test_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->dir[0] && !getenv("GLAREX_TEST_KEEP")) {
        test_rm_rf(s->dir);
        s->dir[0] = '\0';
    }
}

int test_server_count(const test_server *s, const char *method, const char *path_prefix)
{
    FILE *f = fopen(s->log_path, "r");
    char line[4096];
    int n = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        /* http.server logs: ... "GET /path HTTP/1.1" 200 - */
        char *q = strchr(line, '"');
        char m[16], p[2048];
        if (!q || sscanf(q + 1, "%15s %2047s", m, p) != 2)
            continue;
        if (method && strcmp(m, method) != 0)
            continue;
        if (path_prefix && strncmp(p, path_prefix, strlen(path_prefix)) != 0)
            continue;
        n++;
    }
    fclose(f);
    return n;
}

int test_server_request(const test_server *s, const char *method, const char *path,
                        const char *token, const char *content_type, const char *body,
                        char **out)
{
    int status = server_http(s->url, method, path, token, content_type, body, out);
    if (out && !*out)
        *out = strdup("");
    return status;
}

int test_store_artifact(char *id, const char *url, const char *token, const char *name,
                        const char *version, const test_resource *res, size_t n,
                        int activate)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    glarex_blob_loc loc = {"workflows", NULL, "workflow", NULL};
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", version);
    json_t *art = NULL;
    glarex_error err;
    char created[64] = "";
    int rc = -1;

    so.url = url;
    so.client.auth_token = token;
    if (!fields || glarex_store_open(&store, &so, &err) < 0 ||
        glarex_store_create(&art, store, "workflows", fields, &err) < 0)
        goto done;
    snprintf(created, sizeof(created), "%s", json_string_value(json_object_get(art, "id")));
    json_decref(art);
    art = NULL;
    loc.id = created;
    if (glarex_store_upload_buffer(&art, store, &loc, "version: '2.0'\n", 14,
                                   "application/x-yaml", &err) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        json_decref(art);
        art = NULL;
        loc.field = "resources";
        loc.key = res[i].key;
        if (glarex_store_upload_buffer(&art, store, &loc, res[i].data, res[i].size,
                                       "text/plain", &err) < 0)
            goto done;
    }
    json_decref(art);
    art = NULL;
    if (activate && glarex_store_activate(&art, store, "workflows", created, &err) < 0)
        goto done;
    if (id)
        snprintf(id, 64, "%s", created);
    rc = 0;
done:
    if (rc < 0)
        fprintf(stderr, "test artifact %s %s: %s\n", name, version, err.message);
    json_decref(art);
    json_decref(fields);
    glarex_store_free(store);
    return rc;
}
