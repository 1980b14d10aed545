/* Glare v1 client: integration tests against tests/glare_server.py, plus a tiny
 * in-process HTTP listener for what the server will not do (external targets that
 * record headers, malformed JSON). Everything listens on 127.0.0.1 only. */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "src/client.h"
#include "src/digest.h"
#include "src/http.h"

#define TOKEN "alice:projA:member"
#define WF_TYPE "workflows"

/* {====================================================================
 * A tiny HTTP listener: canned answers by path, records every request head
 * ==================================================================== */

typedef struct route {
    const char *path; /* matched against the request path without its query */
    int status;
    const char *headers; /* extra header lines, each ending in \r\n, or NULL */
    const char *body;
} route;

typedef struct listener {
    int fd;
    int port;
    int stop[2];
    pthread_t thread;
    pthread_mutex_t lock;
    const route *routes;
    size_t nroutes;
    char log[32768]; /* request heads, concatenated */
    size_t log_len;
    int requests;
} listener;

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void serve_one(listener *l, int fd)
{
    char head[8192];
    size_t n = 0;
    char path[1024] = "";
    const route *r = NULL;
    char reply[16384];

    while (n < sizeof(head) - 1) {
        ssize_t got = recv(fd, head + n, sizeof(head) - 1 - n, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
        head[n] = '\0';
        if (strstr(head, "\r\n\r\n") || head[0] == 0x16) /* 0x16: a TLS ClientHello */
            break;
    }
    head[n] = '\0';
    sscanf(head, "%*s %1023s", path);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    pthread_mutex_lock(&l->lock);
    if (l->log_len + n < sizeof(l->log)) {
        memcpy(l->log + l->log_len, head, n + 1);
        l->log_len += n;
    }
    l->requests++;
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < l->nroutes; i++)
        if (strcmp(l->routes[i].path, path) == 0)
            r = &l->routes[i];
    if (!r) {
        static const route missing = {"", 404, NULL, "{\"message\": \"no route\"}"};
        r = &missing;
    }
    int len =
        snprintf(reply, sizeof(reply),
                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                 r->status, strlen(r->body), r->headers ? r->headers : "", r->body);
    send_all(fd, reply, (size_t)len);
}

static void *listener_main(void *arg)
{
    listener *l = arg;
    for (;;) {
        struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (p[0].revents & POLLIN) {
            int c = accept(l->fd, NULL, NULL);
            if (c >= 0) {
                serve_one(l, c);
                close(c);
            }
        }
    }
    return NULL;
}

static void listener_start(listener *l, const route *routes, size_t nroutes)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    memset(l, 0, sizeof(*l));
    l->routes = routes;
    l->nroutes = nroutes;
    pthread_mutex_init(&l->lock, NULL);
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l->fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l->fd, 16), 0);
    assert_int_equal(getsockname(l->fd, (struct sockaddr *)&a, &alen), 0);
    l->port = ntohs(a.sin_port);
    assert_int_equal(pipe(l->stop), 0);
    assert_int_equal(pthread_create(&l->thread, NULL, listener_main, l), 0);
}

static void listener_stop(listener *l)
{
    (void)!write(l->stop[1], "x", 1);
    pthread_join(l->thread, NULL);
    close(l->fd);
    close(l->stop[0]);
    close(l->stop[1]);
    pthread_mutex_destroy(&l->lock);
}

/* }==================================================================== */

/* {====================================================================
 * Fixtures and helpers
 * ==================================================================== */

typedef struct fixture {
    test_server srv;
    int seq; /* makes artifact names unique across tests */
} fixture;

static int group_setup(void **state)
{
    static fixture fx; /* test-only state, one per test binary */
    if (test_server_start(&fx.srv, NULL) < 0)
        return -1;
    *state = &fx;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *fx = *state;
    test_server_stop(&fx->srv);
    return 0;
}

/* Every test starts without faults. */
static int clear_faults(void **state)
{
    fixture *fx = *state;
    if (!fx)
        return 0;
    return test_server_request(&fx->srv, "DELETE", "/__control/faults", NULL, NULL, NULL,
                               NULL) == 200
               ? 0
               : -1;
}

static void set_fault(fixture *fx, const char *rule_json)
{
    char *out = NULL;
    int st = test_server_request(&fx->srv, "POST", "/__control/faults", NULL,
                                 "application/json", rule_json, &out);
    if (st != 201)
        fail_msg("fault %s refused: %d %s", rule_json, st, out ? out : "");
    free(out);
}

/* Options for a client of `url`: fast retries so tests do not wait. */
static glarex_client_options client_opts(const char *url)
{
    glarex_client_options o;
    assert_int_equal(glarex_client_options_init(&o, GLAREX_CLIENT_OPTIONS_VERSION), 0);
    o.url = url;
    o.auth_token = TOKEN;
    o.retry_base_ms = 10;
    o.retry_max_ms = 50;
    return o;
}

static glarex_client *new_client_opts(const glarex_client_options *o)
{
    glarex_client *c = NULL;
    glarex_error err;
    int rc = glarex_client_new(&c, o, &err);
    if (rc != 0)
        fail_msg("glarex_client_new: %s", err.message);
    return c;
}

static glarex_client *new_client(fixture *fx)
{
    glarex_client_options o = client_opts(fx->srv.url);
    return new_client_opts(&o);
}

/* Creates a drafted workflows artifact; returns its id (malloc'd). */
static char *create_wf(glarex_client *c, const char *name, const char *version)
{
    json_t *fields = json_pack("{s:s, s:s}", "name", name, "version", version);
    json_t *a = NULL;
    glarex_error err;
    int rc = glarex_client_create(&a, c, WF_TYPE, fields, &err);
    json_decref(fields);
    if (rc != 0)
        fail_msg("create %s %s: %s", name, version, err.message);
    char *id = strdup(json_string_value(json_object_get(a, "id")));
    json_decref(a);
    return id;
}

static void unique_name(fixture *fx, char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "%s_%d", tag, ++fx->seq);
}

static void upload_buf(glarex_client *c, const char *id, const char *field,
                       const char *key, const char *data)
{
    glarex_blob_loc loc = {WF_TYPE, id, field, key};
    json_t *a = NULL;
    glarex_error err;
    if (glarex_client_upload_buffer(&a, c, &loc, data, strlen(data), "text/plain",
                                    &err) != 0)
        fail_msg("upload %s/%s: %s", field, key ? key : "", err.message);
    json_decref(a);
}

static int count(fixture *fx, const char *method, const char *prefix)
{
    return test_server_count(&fx->srv, method, prefix);
}

typedef struct collect {
    char data[65536];
    size_t len;
    int calls;
} collect;

static int collect_cb(const char *data, size_t len, void *payload)
{
    collect *c = payload;
    c->calls++;
    if (c->len + len > sizeof(c->data))
        return 1;
    memcpy(c->data + c->len, data, len);
    c->len += len;
    return 0;
}

/* Number of entries in a directory, "." and ".." not counted. */
static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* }==================================================================== */

/* {====================================================================
 * Unit tests (no server)
 * ==================================================================== */

static void test_client__options_init_and_validation(void **state)
{
    glarex_client_options o;
    glarex_client *c = (glarex_client *)&o; /* must be reset to NULL on failure */
    glarex_error err;
    (void)state;

    assert_int_equal(glarex_client_options_init(&o, 99), GLAREX_EINVALID);
    assert_int_equal(glarex_client_options_init(&o, GLAREX_CLIENT_OPTIONS_VERSION), 0);
    assert_int_equal(o.version, GLAREX_CLIENT_OPTIONS_VERSION);
    assert_null(o.url);

    assert_int_equal(glarex_client_new(&c, &o, &err), GLAREX_EINVALID);
    assert_null(c);
    assert_string_equal(err.message, "glarex_client_options: url is required");

    o.version = 7;
    o.url = "http://127.0.0.1:1";
    assert_int_equal(glarex_client_new(&c, &o, &err), GLAREX_EINVALID);
    assert_string_equal(err.message,
                        "glarex_client_options: unknown version 7 (expected 1)");

    o.version = GLAREX_CLIENT_OPTIONS_VERSION;
    o.url = "ftp://127.0.0.1/";
    assert_int_equal(glarex_client_new(&c, &o, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "invalid Glare URL 'ftp://127.0.0.1/'"));

    o.url = "http://127.0.0.1:1";
    o.auth_token = "a:b:c\r\nX-Evil: 1";
    assert_int_equal(glarex_client_new(&c, &o, &err), GLAREX_EINVALID);
    assert_string_equal(err.message,
                        "glarex_client_options: auth_token holds a control character");

    assert_int_equal(glarex_client_new(&c, NULL, &err), GLAREX_EINVALID);
    glarex_client_free(NULL);
}

static void test_client__options_strings_are_copied(void **state)
{
    fixture *fx = *state;
    char url[96], token[64];
    glarex_client_options o;
    glarex_client *c;
    json_t *v = NULL;
    glarex_error err;

    snprintf(url, sizeof(url), "%s/", fx->srv.url); /* a trailing '/' is fine */
    snprintf(token, sizeof(token), "%s", TOKEN);
    o = client_opts(url);
    o.auth_token = token;
    c = new_client_opts(&o);
    memset(url, 'x', sizeof(url) - 1);
    memset(token, 'x', sizeof(token) - 1);
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), 0);
    json_decref(v);
    glarex_client_free(c);
}

static void test_client__error_text_forms(void **state)
{
    char out[400];
    (void)state;

    const char *glare =
        "{\"code\": 409, \"title\": \"Conflict\", \"explanation\": \"x\", "
        "\"error\": {\"message\": \"Artifact with this name and version is "
        "already exists for this scope.\", \"type\": \"Conflict\"}}";
    glarex__http_error_text(out, sizeof(out), 409, glare, strlen(glare));
    assert_string_equal(
        out, "Artifact with this name and version is already exists for this scope.");

    const char *webob =
        "{\"message\": \"The method DELETE is not allowed for this resource. "
        "<br /><br />\\n\", \"code\": \"405 Method Not Allowed\", "
        "\"title\": \"Method Not Allowed\"}";
    glarex__http_error_text(out, sizeof(out), 405, webob, strlen(webob));
    assert_string_equal(out, "The method DELETE is not allowed for this resource.");

    const char *html =
        "<html>\n <head>\n  <title>405 Method Not Allowed</title>\n </head>\n"
        " <body>\n  <h1>405 Method Not Allowed</h1>\n  The method HEAD is not "
        "allowed for this resource. <br /><br />\n\n\n\n </body>\n</html>";
    glarex__http_error_text(out, sizeof(out), 405, html, strlen(html));
    assert_string_equal(
        out, "Method Not Allowed: The method HEAD is not allowed for this resource.");

    const char *plain = "404 Not Found\n\nThe resource could not be found.\n\n\n";
    glarex__http_error_text(out, sizeof(out), 404, plain, strlen(plain));
    assert_string_equal(out, "Not Found: The resource could not be found.");

    glarex__http_error_text(out, sizeof(out), 503, "", 0);
    assert_string_equal(out, "Service Unavailable");

    const char *odd = "{\"error\": 5, \"message\": [1]}";
    glarex__http_error_text(out, sizeof(out), 500, odd, strlen(odd));
    assert_string_equal(out, "Internal Server Error");

    /* Long text is cut, and stays one line. */
    char big[3000];
    memset(big, 'a', sizeof(big));
    big[100] = '\n';
    glarex__http_error_text(out, sizeof(out), 500, big, sizeof(big));
    assert_null(strchr(out, '\n'));
    assert_true(strlen(out) <= 300);
    assert_string_equal(out + strlen(out) - 3, "...");
}

static void test_client__escape_encodes_keys(void **state)
{
    char *e;
    (void)state;
    e = glarex__http_escape("dir/my file.txt");
    assert_string_equal(e, "dir%2Fmy%20file.txt");
    free(e);
    e = glarex__http_escape("..");
    assert_string_equal(e, "%2E%2E");
    free(e);
    e = glarex__http_escape("a:b?c#d%e&f=g~h-i_j");
    assert_string_equal(e, "a%3Ab%3Fc%23d%25e%26f%3Dg~h-i_j");
    free(e);
}

static void test_client__digests_from_json(void **state)
{
    glarex_digests d;
    glarex_error err;
    json_t *blob;
    (void)state;

    blob = json_pack("{s:s, s:s, s:i}", "sha256",
                     "3B2E55CA8ED2313D41C428AED36787EA8C29ED85787F339448C0E6D8BA65E2BB",
                     "md5", "11c52ce770cd6984293c773f6daa0048", "size", 23);
    assert_int_equal(glarex_digests_from_json(&d, blob, &err), 0);
    assert_string_equal(
        d.sha256, "3b2e55ca8ed2313d41c428aed36787ea8c29ed85787f339448c0e6d8ba65e2bb");
    assert_string_equal(d.md5, "11c52ce770cd6984293c773f6daa0048");
    assert_int_equal(d.size, 23);
    json_decref(blob);

    /* external blob: digests may be null, size null */
    blob = json_pack("{s:n, s:s, s:n}", "sha256", "md5",
                     "11c52ce770cd6984293c773f6daa0048", "size");
    assert_int_equal(glarex_digests_from_json(&d, blob, &err), 0);
    assert_string_equal(d.sha256, "");
    assert_int_equal(d.size, -1);
    json_decref(blob);

    blob = json_pack("{s:i}", "sha256", 5);
    assert_int_equal(glarex_digests_from_json(&d, blob, &err), GLAREX_EPROTOCOL);
    assert_string_equal(err.message, "blob value: 'sha256' is not 64 hex digits");
    json_decref(blob);

    blob = json_pack("{s:s}", "size", "12");
    assert_int_equal(glarex_digests_from_json(&d, blob, &err), GLAREX_EPROTOCOL);
    json_decref(blob);

    blob = json_null();
    assert_int_equal(glarex_digests_from_json(&d, blob, &err), GLAREX_ENOTFOUND);
    assert_int_equal(glarex_digests_from_json(&d, NULL, &err), GLAREX_EINVALID);
}

static void test_client__connection_refused_is_network_error(void **state)
{
    listener l;
    glarex_client_options o;
    glarex_client *c;
    json_t *v = NULL;
    glarex_error err;
    char url[64];
    (void)state;

    /* a port that was just free: nothing listens there any more */
    listener_start(&l, NULL, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    listener_stop(&l);
    o = client_opts(url);
    o.max_retries = 2;
    c = new_client_opts(&o);
    assert_int_equal(glarex_client_versions(&v, c, &err), GLAREX_ENETWORK);
    assert_null(v);
    assert_non_null(strstr(err.message, "GET /: "));
    assert_int_equal(err.http_status, 0);
    glarex_client_free(c);
}

static void test_client__tls_failure_is_network_error(void **state)
{
    listener l;
    glarex_client_options o;
    glarex_client *c;
    json_t *v = NULL;
    glarex_error err;
    char url[64];
    (void)state;

    /* A plain-HTTP listener answers the ClientHello with HTTP: the handshake fails. */
    listener_start(&l, NULL, 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", l.port);
    o = client_opts(url);
    o.max_retries = -1;
    o.connect_timeout_ms = 5000;
    c = new_client_opts(&o);
    assert_int_equal(glarex_client_versions(&v, c, &err), GLAREX_ENETWORK);
    assert_non_null(strstr(err.message, "GET /: "));
    glarex_client_free(c);

    /* a CA file that does not exist is a TLS setup failure, reported the same way */
    o.ca_file = "/nonexistent/ca.pem";
    c = new_client_opts(&o);
    assert_int_equal(glarex_client_versions(&v, c, &err), GLAREX_ENETWORK);
    assert_null(v);
    glarex_client_free(c);
    listener_stop(&l);
}

/* }==================================================================== */

/* {====================================================================
 * Calls against the test server
 * ==================================================================== */

static void test_client__versions_accepts_300(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *v = NULL;
    glarex_error err;

    assert_int_equal(glarex_client_versions(&v, c, &err), 0);
    assert_int_equal(json_array_size(json_object_get(v, "versions")), 2);
    json_decref(v);
    glarex_client_free(c);
}

static void test_client__schema(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *s = NULL;
    glarex_error err;

    assert_int_equal(glarex_client_schema(&s, c, WF_TYPE, &err), 0);
    assert_string_equal(json_string_value(json_object_get(s, "name")), WF_TYPE);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(s, "properties"), "resources"), "glareType")),
        "BlobDict");
    json_decref(s);

    assert_int_equal(glarex_client_schema(&s, c, "nope", &err), GLAREX_ENOTFOUND);
    assert_null(s);
    assert_int_equal(err.http_status, 404);
    assert_non_null(strstr(err.message, "GET /schemas/nope: 404 "));
    glarex_client_free(c);
}

static void test_client__create_get_update_delete(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL, *patch;
    glarex_error err;
    char name[64], expect[600];

    unique_name(fx, name, sizeof(name), "crud");
    char *id = create_wf(c, name, "1.0");

    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")), name);
    assert_string_equal(json_string_value(json_object_get(a, "version")), "1.0.0");
    assert_string_equal(json_string_value(json_object_get(a, "status")), "drafted");
    json_decref(a);

    patch = json_pack("[{s:s, s:s, s:s}]", "op", "replace", "path", "/description",
                      "value", "heal VM workflow");
    assert_int_equal(glarex_client_update(&a, c, WF_TYPE, id, patch, &err), 0);
    assert_string_equal(json_string_value(json_object_get(a, "description")),
                        "heal VM workflow");
    json_decref(a);
    json_decref(patch);

    assert_int_equal(glarex_client_delete(c, WF_TYPE, id, &err), 0);
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), GLAREX_ENOTFOUND);
    assert_null(a);
    assert_int_equal(err.http_status, 404);
    snprintf(expect, sizeof(expect),
             "GET /artifacts/workflows/%s: 404 Artifact with id=%s not found.", id, id);
    assert_string_equal(err.message, expect);
    assert_int_equal(glarex_client_delete(c, WF_TYPE, id, &err), GLAREX_ENOTFOUND);

    free(id);
    glarex_client_free(c);
}

static void test_client__create_duplicate_is_conflict(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL, *fields;
    glarex_error err;
    char name[64];

    unique_name(fx, name, sizeof(name), "dup");
    char *id = create_wf(c, name, "1.0");
    fields = json_pack("{s:s, s:s}", "name", name, "version", "1.0.0");
    assert_int_equal(glarex_client_create(&a, c, WF_TYPE, fields, &err),
                     GLAREX_ECONFLICT);
    assert_null(a);
    assert_int_equal(err.http_status, 409);
    assert_string_equal(err.message,
                        "POST /artifacts/workflows: 409 Artifact with this name "
                        "and version is already exists for this scope.");
    json_decref(fields);
    free(id);
    glarex_client_free(c);
}

static void test_client__no_token_is_auth_error(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c;
    json_t *v = NULL;
    glarex_error err;

    o.auth_token = NULL;
    c = new_client_opts(&o);
    assert_int_equal(glarex_client_list(&v, c, WF_TYPE, NULL, &err), GLAREX_EAUTH);
    assert_int_equal(err.http_status, 401);
    assert_string_equal(err.message,
                        "GET /artifacts/workflows: 401 Auth token must be provided");
    glarex_client_free(c);
}

static void test_client__list_filters_latest_and_sort(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *list = NULL;
    glarex_error err;
    char name[64];
    const char *versions[] = {"1.0", "1.10", "1.9", "2.0.0-beta"};
    char *ids[4];

    /* a name holding ':' only works with an explicit operator */
    unique_name(fx, name, sizeof(name), "ns:wf with space");
    for (int i = 0; i < 4; i++)
        ids[i] = create_wf(c, name, versions[i]);

    glarex_filter f[] = {{"name", NULL, name}};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    lo.filters = f;
    lo.nfilters = 1;
    lo.sort = "version:asc";
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &lo, &err), 0);
    assert_int_equal(json_array_size(list), 4);
    const char *order[] = {"1.0.0", "1.9.0", "1.10.0", "2.0.0-beta"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(list, i), "version")),
            order[i]);
    json_decref(list);

    /* semver: 2.0.0-beta sorts above 1.10.0 */
    lo.latest = 1;
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &lo, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "version")),
        "2.0.0-beta");
    json_decref(list);

    /* operators and several filters */
    glarex_filter range[] = {
        {"name", "eq", name}, {"version", "gte", "1.9"}, {"version", "lt", "2.0.0-beta"}};
    glarex_list_options ro = GLAREX_LIST_OPTIONS_INIT;
    ro.filters = range;
    ro.nfilters = 3;
    ro.sort = "version:desc";
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &ro, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, 0), "version")), "1.10.0");
    json_decref(list);

    /* a server-side 400 on a bad sort key names the request */
    ro.sort = "description";
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &ro, &err), GLAREX_EINVALID);
    assert_int_equal(err.http_status, 400);
    assert_non_null(strstr(err.message, "sort=description"));
    assert_null(list);

    /* a bad operator never leaves the client */
    glarex_filter bad[] = {{"name", "eq&x=", "y"}};
    ro.filters = bad;
    ro.nfilters = 1;
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &ro, &err), GLAREX_EINVALID);

    for (int i = 0; i < 4; i++)
        free(ids[i]);
    glarex_client_free(c);
}

static void test_client__list_follows_next_across_pages(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *list = NULL;
    glarex_error err;
    char name[64], ver[16];
    char *ids[7];

    unique_name(fx, name, sizeof(name), "paged");
    for (int i = 0; i < 7; i++) {
        snprintf(ver, sizeof(ver), "1.%d", i);
        ids[i] = create_wf(c, name, ver);
    }
    glarex_filter f[] = {{"name", NULL, name}};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    lo.filters = f;
    lo.nfilters = 1;
    lo.sort = "version:asc";
    lo.page_size = 2;

    int before = count(fx, "GET", "/artifacts/workflows?");
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &lo, &err), 0);
    assert_int_equal(json_array_size(list), 7);
    for (size_t i = 0; i < 7; i++) {
        snprintf(ver, sizeof(ver), "1.%zu.0", i);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(list, i), "version")), ver);
    }
    /* pages of 2, 2, 2, 1 */
    assert_int_equal(count(fx, "GET", "/artifacts/workflows?") - before, 4);
    json_decref(list);

    /* max_items stops early */
    lo.max_items = 3;
    before = count(fx, "GET", "/artifacts/workflows?");
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &lo, &err), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(count(fx, "GET", "/artifacts/workflows?") - before, 2);
    json_decref(list);

    /* an exact page count: the last page is empty and has no next */
    lo.max_items = 0;
    lo.page_size = 7;
    assert_int_equal(glarex_client_list(&list, c, WF_TYPE, &lo, &err), 0);
    assert_int_equal(json_array_size(list), 7);
    json_decref(list);

    for (int i = 0; i < 7; i++)
        free(ids[i]);
    glarex_client_free(c);
}

static void test_client__upload_and_download_blob_and_key(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    char name[64], dir[256], src[300], dst[300];
    const char *wf = "version: \"2.0\"\nheal_vm:\n  tasks: {}\n";
    const char *script = "#!/bin/sh\necho healing\n";
    glarex_digests want;
    glarex_download_info info;
    collect col;
    glarex_buf buf = GLAREX_BUF_INIT;
    FILE *f;

    unique_name(fx, name, sizeof(name), "blobs");
    char *id = create_wf(c, name, "1.0");
    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(src, sizeof(src), "%s/script.sh", dir);
    f = fopen(src, "wb");
    fputs(script, f);
    fclose(f);

    /* the workflow blob from a buffer */
    glarex_blob_loc wloc = {WF_TYPE, id, "workflow", NULL};
    assert_int_equal(glarex_client_upload_buffer(&a, c, &wloc, wf, strlen(wf),
                                                 "application/x-yaml", &err),
                     0);
    json_t *wblob = json_object_get(a, "workflow");
    assert_int_equal(json_integer_value(json_object_get(wblob, "size")), strlen(wf));
    assert_string_equal(json_string_value(json_object_get(wblob, "content_type")),
                        "application/x-yaml");
    assert_int_equal(glarex_digests_from_json(&want, wblob, &err), 0);
    json_decref(a);

    /* a dict key with '/' and ' ' from a file */
    glarex_blob_loc rloc = {WF_TYPE, id, "resources", "bin/heal vm.sh"};
    assert_int_equal(glarex_client_upload_file(&a, c, &rloc, src, "text/x-shellscript",
                                               NULL, NULL, &err),
                     0);
    json_t *rblob = json_object_get(json_object_get(a, "resources"), "bin/heal vm.sh");
    assert_non_null(rblob);
    assert_int_equal(json_integer_value(json_object_get(rblob, "size")), strlen(script));
    glarex_digests rwant;
    assert_int_equal(glarex_digests_from_json(&rwant, rblob, &err), 0);
    json_decref(a);

    /* to a callback, verified against the artifact's digests */
    memset(&col, 0, sizeof(col));
    assert_int_equal(
        glarex_client_download(&info, c, &wloc, &want, collect_cb, &col, &err), 0);
    assert_int_equal(col.len, strlen(wf));
    assert_memory_equal(col.data, wf, col.len);
    assert_string_equal(info.sha256, want.sha256);
    assert_string_equal(info.md5, want.md5);
    assert_int_equal(info.size, strlen(wf));
    assert_string_equal(info.content_type, "application/x-yaml");
    assert_int_equal(info.external, 0);

    /* to a file */
    snprintf(dst, sizeof(dst), "%s/out.sh", dir);
    assert_int_equal(glarex_client_download_file(&info, c, &rloc, &rwant, dst, &err), 0);
    f = fopen(dst, "rb");
    assert_non_null(f);
    char got[256] = "";
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(script));
    assert_string_equal(got, script);
    assert_int_equal(dir_entries(dir), 2); /* script.sh and out.sh, no temp file */

    /* to memory */
    assert_int_equal(glarex_client_download_buffer(&buf, &info, c, &rloc, NULL, &err), 0);
    assert_int_equal(buf.size, strlen(script));
    assert_string_equal(buf.ptr, script);
    assert_string_equal(info.sha256, rwant.sha256);
    glarex_buf_dispose(&buf);

    /* a missing key */
    glarex_blob_loc missing = {WF_TYPE, id, "resources", "nope.sh"};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &missing, NULL, &err),
                     GLAREX_ENOTFOUND);
    assert_null(buf.ptr);
    char expect[600];
    snprintf(expect, sizeof(expect),
             "GET /artifacts/workflows/%s/resources/nope.sh: 404 No data found for blob "
             "resources[nope.sh]",
             id);
    assert_string_equal(err.message, expect);

    /* a blob upload path that is not a blob */
    glarex_blob_loc notblob = {WF_TYPE, id, "name", NULL};
    assert_int_equal(glarex_client_upload_buffer(&a, c, &notblob, "x", 1, NULL, &err),
                     GLAREX_EINVALID);
    assert_int_equal(err.http_status, 400);

    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

static void test_client__empty_blob_round_trip(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    glarex_buf buf = GLAREX_BUF_INIT;
    char name[64];

    unique_name(fx, name, sizeof(name), "empty");
    char *id = create_wf(c, name, "1.0");
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "empty.txt"};
    assert_int_equal(glarex_client_upload_buffer(&a, c, &loc, NULL, 0, NULL, &err), 0);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(a, "resources"), "empty.txt"), "size")),
        0);
    json_decref(a);
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err), 0);
    assert_non_null(buf.ptr);
    assert_int_equal(buf.size, 0);
    glarex_buf_dispose(&buf);
    free(id);
    glarex_client_free(c);
}

static int progress_cb(uint64_t done, uint64_t total, void *payload)
{
    uint64_t *last = payload;
    (void)total;
    *last = done;
    return 0;
}

static int abort_progress_cb(uint64_t done, uint64_t total, void *payload)
{
    (void)done, (void)total, (void)payload;
    return 1;
}

static void test_client__upload_file_progress_and_abort(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    char name[64], dir[256], src[300];
    uint64_t last = 0;

    unique_name(fx, name, sizeof(name), "progress");
    char *id = create_wf(c, name, "1.0");
    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(src, sizeof(src), "%s/big.bin", dir);
    FILE *f = fopen(src, "wb");
    for (int i = 0; i < 300000; i++)
        fputc(i & 0xff, f);
    fclose(f);

    glarex_blob_loc loc = {WF_TYPE, id, "resources", "big.bin"};
    assert_int_equal(
        glarex_client_upload_file(&a, c, &loc, src, NULL, progress_cb, &last, &err), 0);
    assert_int_equal(last, 300000);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(a, "resources"), "big.bin"), "content_type")),
        "application/octet-stream");
    json_decref(a);

    glarex_blob_loc loc2 = {WF_TYPE, id, "resources", "big2.bin"};
    assert_int_equal(
        glarex_client_upload_file(&a, c, &loc2, src, NULL, abort_progress_cb, NULL, &err),
        GLAREX_ERROR);
    assert_non_null(strstr(err.message, "aborted by the progress callback"));

    /* a missing file, and a directory, are refused before any request */
    assert_int_equal(
        glarex_client_upload_file(&a, c, &loc2, "/nonexistent/x", NULL, NULL, NULL, &err),
        GLAREX_ENOTFOUND);
    assert_int_equal(glarex_client_upload_file(&a, c, &loc2, dir, NULL, NULL, NULL, &err),
                     GLAREX_EINVALID);

    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

static void test_client__activate_then_upload_is_forbidden(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    char name[64];

    unique_name(fx, name, sizeof(name), "act");
    char *id = create_wf(c, name, "1.0");

    /* the workflow blob is required before activation */
    assert_int_equal(glarex_client_activate(&a, c, WF_TYPE, id, &err), GLAREX_EFORBIDDEN);
    assert_int_equal(err.http_status, 403);

    upload_buf(c, id, "workflow", NULL, "version: '2.0'\n");
    assert_int_equal(glarex_client_activate(&a, c, WF_TYPE, id, &err), 0);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "active");
    json_decref(a);

    glarex_blob_loc loc = {WF_TYPE, id, "resources", "late.txt"};
    assert_int_equal(
        glarex_client_upload_buffer(&a, c, &loc, "late", 4, "text/plain", &err),
        GLAREX_EFORBIDDEN);
    assert_null(a);
    assert_int_equal(err.http_status, 403);
    char expect[600];
    snprintf(
        expect, sizeof(expect),
        "PUT /artifacts/workflows/%s/resources/late.txt: 403 Forbidden to change field "
        "'resources' after activation.",
        id);
    assert_string_equal(err.message, expect);
    free(id);
    glarex_client_free(c);
}

static void test_client__upload_too_big_is_413(void **state)
{
    const char *extra[] = {"--max-blob-size", "1024", NULL};
    test_server srv;
    glarex_client *c;
    json_t *a = NULL;
    glarex_error err;
    char data[2048];
    (void)state;

    assert_int_equal(test_server_start(&srv, extra), 0);
    glarex_client_options o = client_opts(srv.url);
    c = new_client_opts(&o);
    char *id = create_wf(c, "big", "1.0");
    memset(data, 'x', sizeof(data));
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "big.bin"};
    assert_int_equal(
        glarex_client_upload_buffer(&a, c, &loc, data, sizeof(data), NULL, &err),
        GLAREX_ETOOBIG);
    assert_int_equal(err.http_status, 413);
    assert_non_null(strstr(err.message, ": 413 Can't upload 2048 bytes of data to blob "
                                        "resources[big.bin]"));
    /* 413 is not retried */
    assert_int_equal(test_server_count(&srv, "PUT", NULL), 1);
    free(id);
    glarex_client_free(c);
    test_server_stop(&srv);
}

static void test_client__wrong_content_type_is_415(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *out = NULL, *patch = json_array();
    glarex_error err;
    char name[64], path[256];

    unique_name(fx, name, sizeof(name), "ct");
    char *id = create_wf(c, name, "1.0");
    snprintf(path, sizeof(path), "/artifacts/workflows/%s", id);
    assert_int_equal(
        glarex__client_request(&out, c, "PATCH", path, "application/json", patch, &err),
        GLAREX_EHTTP);
    assert_null(out);
    assert_int_equal(err.http_status, 415);
    char expect[600];
    snprintf(expect, sizeof(expect),
             "PATCH %s: 415 Invalid content type: application/json. Expected: "
             "application/json-patch+json",
             path);
    assert_string_equal(err.message, expect);

    /* the same request with the right type works */
    assert_int_equal(glarex__client_request(&out, c, "PATCH", path,
                                            "application/json-patch+json", patch, &err),
                     0);
    assert_true(json_is_object(out));
    json_decref(out);
    json_decref(patch);
    free(id);
    glarex_client_free(c);
}

static void test_client__webob_and_html_error_bodies(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *out = NULL;
    glarex_error err;
    char name[64], path[256];

    /* webob JSON (we send Accept: application/json): 405 on a known path */
    assert_int_equal(glarex__client_request(&out, c, "DELETE", "/artifacts/workflows",
                                            NULL, NULL, &err),
                     GLAREX_EHTTP);
    assert_int_equal(err.http_status, 405);
    assert_string_equal(err.message,
                        "DELETE /artifacts/workflows: 405 The method DELETE is "
                        "not allowed for this resource.");

    /* unrouted path: webob 404 */
    assert_int_equal(glarex__client_request(&out, c, "GET", "/nowhere", NULL, NULL, &err),
                     GLAREX_ENOTFOUND);
    assert_string_equal(err.message,
                        "GET /nowhere: 404 The resource could not be found.");

    /* an HTML error page (a proxy, say) */
    unique_name(fx, name, sizeof(name), "html");
    char *id = create_wf(c, name, "1.0");
    snprintf(path, sizeof(path), "/artifacts/workflows/%s", id);
    set_fault(
        fx,
        "{\"kind\": \"500\", \"method\": \"GET\", \"path\": \"/artifacts/workflows/*\", "
        "\"format\": \"html\"}");
    assert_int_equal(glarex_client_get(&out, c, WF_TYPE, id, &err), GLAREX_EHTTP);
    assert_int_equal(err.http_status, 500);
    char expect[600];
    snprintf(expect, sizeof(expect), "GET %s: 500 Internal Server Error", path);
    assert_string_equal(err.message, expect);
    /* 500 is not retried */
    assert_int_equal(count(fx, "GET", path), 1);

    /* an empty error body */
    set_fault(
        fx,
        "{\"kind\": \"502\", \"method\": \"GET\", \"path\": \"/artifacts/workflows/*\", "
        "\"format\": \"empty\", \"count\": 10}");
    glarex_client_options o = client_opts(fx->srv.url);
    o.max_retries = -1;
    glarex_client *once = new_client_opts(&o);
    assert_int_equal(glarex_client_get(&out, once, WF_TYPE, id, &err), GLAREX_EHTTP);
    snprintf(expect, sizeof(expect), "GET %s: 502 Bad Gateway", path);
    assert_string_equal(err.message, expect);
    assert_int_equal(count(fx, "GET", path), 2); /* retries disabled */

    glarex_client_free(once);
    free(id);
    glarex_client_free(c);
}

static void test_client__retries_503_and_429_then_succeeds(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    char name[64], path[256], rule[512];

    unique_name(fx, name, sizeof(name), "retry");
    char *id = create_wf(c, name, "1.0");
    snprintf(path, sizeof(path), "/artifacts/workflows/%s", id);

    /* a 429 with Retry-After: 0, then success */
    snprintf(
        rule, sizeof(rule),
        "{\"kind\": \"429\", \"method\": \"GET\", \"path\": \"%s\", \"retry_after\": 0}",
        path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    json_decref(a);
    int n = count(fx, "GET", path);
    assert_int_equal(n, 2);

    /* two separate failures then success: three requests */
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"503\", \"method\": \"GET\", \"path\": \"%s\", \"count\": 2}",
             path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    json_decref(a);
    assert_int_equal(count(fx, "GET", path) - n, 3);

    /* more failures than retries: the last status is reported */
    n = count(fx, "GET", path);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"504\", \"method\": \"GET\", \"path\": \"%s\", \"count\": -1}",
             path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), GLAREX_EHTTP);
    assert_int_equal(err.http_status, 504);
    assert_int_equal(count(fx, "GET", path) - n, 4); /* 1 + 3 retries (the default) */
    assert_int_equal(clear_faults(state), 0);

    free(id);
    glarex_client_free(c);
}

static void test_client__retry_after_is_capped(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx); /* retry_max_ms = 50 */
    json_t *v = NULL;
    glarex_error err;

    set_fault(fx, "{\"kind\": \"429\", \"method\": \"GET\", \"path\": \"/schemas/*\", "
                  "\"retry_after\": 30}");
    double t0 = now_s();
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), 0);
    assert_true(now_s() - t0 < 5.0);
    json_decref(v);
    glarex_client_free(c);
}

static void test_client__post_and_patch_are_not_retried(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL, *fields;
    glarex_error err;
    char name[64], path[256], rule[512];

    unique_name(fx, name, sizeof(name), "noretry");
    int before = count(fx, "POST", "/artifacts/workflows");
    set_fault(
        fx,
        "{\"kind\": \"503\", \"method\": \"POST\", \"path\": \"/artifacts/workflows\"}");
    fields = json_pack("{s:s}", "name", name);
    assert_int_equal(glarex_client_create(&a, c, WF_TYPE, fields, &err), GLAREX_EHTTP);
    assert_int_equal(err.http_status, 503);
    assert_string_equal(err.message, "POST /artifacts/workflows: 503 Injected fault");
    assert_int_equal(count(fx, "POST", "/artifacts/workflows") - before, 1);
    json_decref(fields);

    char *id = create_wf(c, name, "1.0");
    snprintf(path, sizeof(path), "/artifacts/workflows/%s", id);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"502\", \"method\": \"PATCH\", \"path\": \"%s\"}", path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_activate(&a, c, WF_TYPE, id, &err), GLAREX_EHTTP);
    assert_int_equal(count(fx, "PATCH", path), 1);
    free(id);
    glarex_client_free(c);
}

static void test_client__upload_is_retried_from_the_start(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    json_t *a = NULL;
    glarex_error err;
    char name[64], dir[256], src[300], path[256], rule[512];
    glarex_buf buf = GLAREX_BUF_INIT;

    unique_name(fx, name, sizeof(name), "putretry");
    char *id = create_wf(c, name, "1.0");
    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(src, sizeof(src), "%s/data.txt", dir);
    FILE *f = fopen(src, "wb");
    fputs("the whole file, every time\n", f);
    fclose(f);

    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.txt", id);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"503\", \"method\": \"PUT\", \"path\": \"%s\", \"count\": 1}",
             path);
    set_fault(fx, rule);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.txt"};
    assert_int_equal(
        glarex_client_upload_file(&a, c, &loc, src, "text/plain", NULL, NULL, &err), 0);
    json_decref(a);
    assert_int_equal(count(fx, "PUT", path), 2);
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err), 0);
    assert_string_equal(buf.ptr, "the whole file, every time\n");
    glarex_buf_dispose(&buf);

    /* from a buffer too */
    set_fault(fx, rule);
    assert_int_equal(glarex_client_upload_buffer(&a, c, &loc, "again\n", 6, NULL, &err),
                     0);
    json_decref(a);
    assert_int_equal(count(fx, "PUT", path), 4);

    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

/* An artifact with one 100-byte resource "data.bin"; returns the id. */
static char *artifact_with_data(fixture *fx, glarex_client *c, const char *tag,
                                char *data100)
{
    char name[64];
    unique_name(fx, name, sizeof(name), tag);
    char *id = create_wf(c, name, "1.0");
    for (int i = 0; i < 100; i++)
        data100[i] = (char)('a' + i % 26);
    data100[100] = '\0';
    upload_buf(c, id, "resources", "data.bin", data100);
    return id;
}

static void test_client__reset_mid_body(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    glarex_error err;
    char data[101], path[256], rule[1024];
    collect col;

    char *id = artifact_with_data(fx, c, "reset", data);
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.bin", id);
    /* dripped, so the first bytes surely arrive before the reset */
    snprintf(
        rule, sizeof(rule),
        "[{\"kind\": \"reset\", \"method\": \"GET\", \"path\": \"%s\", \"count\": -1,"
        "  \"after\": 40},"
        " {\"kind\": \"drip\", \"method\": \"GET\", \"path\": \"%s\", \"count\": -1,"
        "  \"chunk\": 10, \"interval\": 0.02}]",
        path, path);
    set_fault(fx, rule);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    memset(&col, 0, sizeof(col));
    int before = count(fx, "GET", path);
    assert_int_equal(glarex_client_download(NULL, c, &loc, NULL, collect_cb, &col, &err),
                     GLAREX_ENETWORK);
    assert_non_null(strstr(err.message, path));
    /* bytes already reached the callback: the download is not retried */
    assert_true(col.len > 0 && col.len <= 40);
    assert_int_equal(count(fx, "GET", path) - before, 1);

    /* nothing delivered yet (reset before the first byte): retried, then it works */
    assert_int_equal(clear_faults(state), 0);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"reset\", \"method\": \"GET\", \"path\": \"%s\", \"after\": 0}",
             path);
    set_fault(fx, rule);
    memset(&col, 0, sizeof(col));
    before = count(fx, "GET", path);
    assert_int_equal(glarex_client_download(NULL, c, &loc, NULL, collect_cb, &col, &err),
                     0);
    assert_int_equal(col.len, 100);
    assert_memory_equal(col.data, data, 100);
    assert_int_equal(count(fx, "GET", path) - before, 2);
    assert_int_equal(clear_faults(state), 0);

    /* a JSON GET reset once is retried and succeeds */
    char apath[256];
    json_t *a = NULL;
    snprintf(apath, sizeof(apath), "/artifacts/workflows/%s", id);
    snprintf(
        rule, sizeof(rule),
        "{\"kind\": \"reset\", \"method\": \"GET\", \"path\": \"%s\", \"after\": 10}",
        apath);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    json_decref(a);
    assert_int_equal(count(fx, "GET", apath) - count(fx, "GET", path), 2);

    free(id);
    glarex_client_free(c);
}

static void test_client__truncated_body(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    glarex_error err;
    char data[101], path[256], rule[512], dir[256], dst[300];
    glarex_buf buf = GLAREX_BUF_INIT;

    char *id = artifact_with_data(fx, c, "trunc", data);
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.bin", id);
    snprintf(
        rule, sizeof(rule),
        "{\"kind\": \"truncate\", \"method\": \"GET\", \"path\": \"%s\", \"count\": -1}",
        path);
    set_fault(fx, rule);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_ENETWORK);
    assert_null(buf.ptr);
    assert_int_equal(buf.size, 0);
    assert_non_null(strstr(err.message, "truncated"));

    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(dst, sizeof(dst), "%s/data.bin", dir);
    assert_int_equal(glarex_client_download_file(NULL, c, &loc, NULL, dst, &err),
                     GLAREX_ENETWORK);
    assert_int_equal(dir_entries(dir), 0);
    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

static void test_client__checksum_mismatch_leaves_nothing(void **state)
{
    fixture *fx = *state;
    glarex_client *c = new_client(fx);
    glarex_error err;
    char data[101], path[256], rule[512], dir[256], dst[300];
    char sha[65], md5[33];
    glarex_buf buf = GLAREX_BUF_INIT;
    glarex_download_info info;

    char *id = artifact_with_data(fx, c, "badsum", data);
    assert_int_equal(glarex__digest_buffer(data, 100, sha, md5), 0);
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.bin", id);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(dst, sizeof(dst), "%s/data.bin", dir);

    /* a wrong sha256 header */
    snprintf(
        rule, sizeof(rule),
        "{\"kind\": \"badsum\", \"method\": \"GET\", \"path\": \"%s\", \"count\": 2}",
        path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_download_file(&info, c, &loc, NULL, dst, &err),
                     GLAREX_ECHECKSUM);
    assert_int_equal(dir_entries(dir), 0);
    assert_non_null(strstr(err.message, "sha256 mismatch: expected "));
    assert_non_null(strstr(err.message, sha)); /* what the content has */
    assert_string_equal(info.sha256, "");
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_null(buf.ptr);

    /* a wrong md5 header (hex, as Glare sends it) */
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"badsum\", \"which\": \"md5\", \"method\": \"GET\", \"path\": "
             "\"%s\"}",
             path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_non_null(strstr(err.message, "md5 mismatch"));
    assert_non_null(strstr(err.message, md5));

    /* a corrupted body with honest headers */
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"corrupt\", \"method\": \"GET\", \"path\": \"%s\"}", path);
    set_fault(fx, rule);
    assert_int_equal(glarex_client_download_file(NULL, c, &loc, NULL, dst, &err),
                     GLAREX_ECHECKSUM);
    assert_int_equal(dir_entries(dir), 0);

    /* the caller's expectation differs from what the server has */
    glarex_digests expect;
    memset(&expect, 0, sizeof(expect));
    expect.size = -1;
    memset(expect.sha256, 'a', 64);
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, &expect, &err),
                     GLAREX_ECHECKSUM);
    char msg[300];
    snprintf(msg, sizeof(msg),
             "sha256 mismatch: expected %.64s (expected digests), got %s", expect.sha256,
             sha);
    assert_non_null(strstr(err.message, msg));
    assert_null(buf.ptr);
    memset(&expect, 0, sizeof(expect));
    expect.size = 99;
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, &expect, &err),
                     GLAREX_ECHECKSUM);
    assert_non_null(strstr(err.message, "size mismatch: expected 99 bytes, got 100"));
    /* and a malformed expectation is the caller's error */
    strcpy(expect.sha256, "xyz");
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, &expect, &err),
                     GLAREX_EINVALID);

    /* after all that, a clean download works and the directory has only it */
    memcpy(expect.sha256, sha, 65);
    memcpy(expect.md5, md5, 33);
    expect.size = 100;
    assert_int_equal(glarex_client_download_file(&info, c, &loc, &expect, dst, &err), 0);
    assert_int_equal(dir_entries(dir), 1);
    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

static void test_client__download_size_cap(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c;
    glarex_error err;
    char data[101], dir[256], dst[300];
    glarex_buf buf = GLAREX_BUF_INIT;

    o.max_download_size = 64;
    c = new_client_opts(&o);
    char *id = artifact_with_data(fx, c, "cap", data);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_ETOOBIG);
    assert_null(buf.ptr);
    assert_non_null(strstr(err.message, "blob larger than max_download_size (64 bytes)"));
    assert_int_equal(test_mkdtemp(dir, sizeof(dir), "client"), 0);
    snprintf(dst, sizeof(dst), "%s/data.bin", dir);
    assert_int_equal(glarex_client_download_file(NULL, c, &loc, NULL, dst, &err),
                     GLAREX_ETOOBIG);
    assert_int_equal(dir_entries(dir), 0);
    test_rm_rf(dir);
    free(id);
    glarex_client_free(c);
}

static void test_client__json_size_cap(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c, *small;
    json_t *a = NULL;
    glarex_error err;
    char name[64];

    c = new_client_opts(&o);
    unique_name(fx, name, sizeof(name), "jsoncap");
    char *id = create_wf(c, name, "1.0");
    o.max_json_size = 64;
    small = new_client_opts(&o);
    assert_int_equal(glarex_client_get(&a, small, WF_TYPE, id, &err), GLAREX_ETOOBIG);
    assert_null(a);
    assert_non_null(strstr(err.message, "response larger than the 64-byte cap"));
    free(id);
    glarex_client_free(small);
    glarex_client_free(c);
}

static void test_client__stall_and_total_timeouts(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c;
    glarex_error err;
    char data[101], path[256], rule[512];
    collect col;

    o.stall_timeout_ms = 1000;
    c = new_client_opts(&o);
    char *id = artifact_with_data(fx, c, "stall", data);
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.bin", id);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"drip\", \"method\": \"GET\", \"path\": \"%s\", \"chunk\": 1,"
             " \"interval\": 3}",
             path);
    set_fault(fx, rule);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    memset(&col, 0, sizeof(col));
    double t0 = now_s();
    assert_int_equal(glarex_client_download(NULL, c, &loc, NULL, collect_cb, &col, &err),
                     GLAREX_ETIMEOUT);
    assert_true(now_s() - t0 < 10.0);
    assert_non_null(strstr(err.message, path));
    glarex_client_free(c);

    /* total timeout on a slow answer (not retried: a timeout is not transient here) */
    o.stall_timeout_ms = 0;
    o.total_timeout_ms = 300;
    c = new_client_opts(&o);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"delay\", \"method\": \"GET\", \"path\": \"/schemas/*\", "
             "\"seconds\": 2}");
    set_fault(fx, rule);
    json_t *v = NULL;
    t0 = now_s();
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), GLAREX_ETIMEOUT);
    assert_true(now_s() - t0 < 2.0);
    free(id);
    glarex_client_free(c);
}

static int64_t monotonic_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A caller's deadline (an evaluation's) stops requests as GLAREX_EDEADLINE; a stall
 * long before it is still a timeout. */
static void test_client__deadline(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c;
    glarex_error err;
    char data[101], path[256], rule[512];
    collect col;
    json_t *v = NULL;

    o.stall_timeout_ms = 1000;
    c = new_client_opts(&o);
    char *id = artifact_with_data(fx, c, "deadline", data);
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/data.bin", id);
    snprintf(rule, sizeof(rule),
             "{\"kind\": \"drip\", \"method\": \"GET\", \"path\": \"%s\", \"chunk\": 1,"
             " \"interval\": 3}",
             path);
    set_fault(fx, rule);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "data.bin"};
    memset(&col, 0, sizeof(col));
    glarex__client_set_deadline(c, monotonic_ms_now() + 20000);
    assert_int_equal(glarex_client_download(NULL, c, &loc, NULL, collect_cb, &col, &err),
                     GLAREX_ETIMEOUT);

    set_fault(fx, "{\"kind\": \"delay\", \"method\": \"GET\", \"path\": \"/schemas/*\", "
                  "\"seconds\": 2}");
    glarex__client_set_deadline(c, monotonic_ms_now() + 300);
    double t0 = now_s();
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), GLAREX_EDEADLINE);
    assert_true(now_s() - t0 < 1.5);
    assert_non_null(strstr(err.message, "deadline"));

    glarex__client_set_deadline(c, monotonic_ms_now() - 1);
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), GLAREX_EDEADLINE);
    assert_non_null(strstr(err.message, "no time left"));
    glarex__client_set_deadline(c, 0);
    free(id);
    glarex_client_free(c);
}

static void test_client__trace_redacts_token(void **state);

typedef struct trace_log {
    char text[8192];
    int lines;
} trace_log;

static void trace_cb(const char *line, void *payload)
{
    trace_log *t = payload;
    size_t n = strlen(t->text);
    snprintf(t->text + n, sizeof(t->text) - n, "%s\n", line);
    t->lines++;
}

static void test_client__trace_redacts_token(void **state)
{
    fixture *fx = *state;
    glarex_client_options o = client_opts(fx->srv.url);
    glarex_client *c;
    trace_log t;
    json_t *a = NULL;
    glarex_error err;
    char name[64];

    memset(&t, 0, sizeof(t));
    o.trace = trace_cb;
    o.trace_payload = &t;
    c = new_client_opts(&o);
    unique_name(fx, name, sizeof(name), "it's traced");
    char *id = create_wf(c, name, "1.0");
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    json_decref(a);
    assert_int_equal(t.lines, 2);
    assert_null(strstr(t.text, TOKEN));
    assert_non_null(strstr(t.text, "-H 'X-Auth-Token: ***'"));
    assert_non_null(strstr(t.text, "curl -sS -X POST "));
    /* the JSON body, shell-quoted ("it's" holds a quote) */
    assert_non_null(strstr(t.text, "--data-binary '{\"name\":\"it'\\''s traced_"));
    char url[256];
    snprintf(url, sizeof(url), "'%s/artifacts/workflows/%s'", fx->srv.url, id);
    assert_non_null(strstr(t.text, url));
    free(id);
    glarex_client_free(c);
}

static void test_client__noauth_headers(void **state)
{
    const char *extra[] = {"--auth", "noauth", NULL};
    test_server srv;
    glarex_client *c;
    json_t *a = NULL;
    glarex_error err;
    (void)state;

    assert_int_equal(test_server_start(&srv, extra), 0);
    glarex_client_options o = client_opts(srv.url);
    o.auth_token = NULL;
    o.noauth_project = "projN";
    o.noauth_user = "nina";
    o.noauth_roles = "member";
    c = new_client_opts(&o);
    char *id = create_wf(c, "noauth_wf", "1.0");
    assert_int_equal(glarex_client_get(&a, c, WF_TYPE, id, &err), 0);
    assert_string_equal(json_string_value(json_object_get(a, "owner")), "projN");
    json_decref(a);
    free(id);
    glarex_client_free(c);
    test_server_stop(&srv);
}

/* }==================================================================== */

/* {====================================================================
 * External blobs (301)
 * ==================================================================== */

static void register_external(fixture *fx, glarex_client *c, const char *id,
                              const char *key, const char *url, const char *md5,
                              const char *sha256)
{
    char path[256];
    json_t *body = json_pack("{s:s, s:s}", "url", url, "md5", md5);
    json_t *a = NULL;
    glarex_error err;
    (void)fx;
    if (sha256)
        json_object_set_new(body, "sha256", json_string(sha256));
    snprintf(path, sizeof(path), "/artifacts/workflows/%s/resources/%s", id, key);
    if (glarex__client_request(&a, c, "PUT", path,
                               "application/vnd+openstack.glare-custom-location+json",
                               body, &err) != 0)
        fail_msg("add location: %s", err.message);
    json_decref(a);
    json_decref(body);
}

static const char ext_content[] = "external script body\n";

static void test_client__external_redirect_without_token(void **state)
{
    fixture *fx = *state;
    listener l;
    const route routes[] = {
        {"/ext.sh", 200, "Content-Type: text/x-shellscript\r\n", ext_content}};
    char sha[65], md5[33], url[128], name[64];
    glarex_error err;
    glarex_download_info info;
    glarex_buf buf = GLAREX_BUF_INIT;
    const char *hosts[] = {"127.0.0.1", NULL};

    listener_start(&l, routes, 1);
    assert_int_equal(glarex__digest_buffer(ext_content, strlen(ext_content), sha, md5),
                     0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ext.sh?sig=secret", l.port);

    glarex_client_options o = client_opts(fx->srv.url);
    o.allow_http_redirects = 1;
    o.redirect_hosts = hosts;
    glarex_client *c = new_client_opts(&o);
    unique_name(fx, name, sizeof(name), "ext");
    char *id = create_wf(c, name, "1.0");
    register_external(fx, c, id, "ext.sh", url, md5, sha);

    glarex_blob_loc loc = {WF_TYPE, id, "resources", "ext.sh"};
    assert_int_equal(glarex_client_download_buffer(&buf, &info, c, &loc, NULL, &err), 0);
    assert_string_equal(buf.ptr, ext_content);
    assert_int_equal(info.external, 1);
    assert_string_equal(info.sha256, sha);
    assert_string_equal(info.content_type, "text/x-shellscript");
    glarex_buf_dispose(&buf);

    pthread_mutex_lock(&l.lock);
    assert_int_equal(l.requests, 1);
    assert_non_null(strstr(l.log, "GET /ext.sh?sig=secret HTTP/1.1"));
    assert_null(strcasestr(l.log, "X-Auth-Token"));
    assert_null(strcasestr(l.log, TOKEN));
    assert_null(strcasestr(l.log, "X-Project-Id"));
    pthread_mutex_unlock(&l.lock);

    /* the 301's checksum headers are checked against the external content */
    char other_sha[65], other_md5[33];
    assert_int_equal(glarex__digest_buffer("something else", 14, other_sha, other_md5),
                     0);
    register_external(fx, c, id, "liar.sh", url, other_md5, NULL); /* sha256 "None" */
    glarex_blob_loc liar = {WF_TYPE, id, "resources", "liar.sh"};
    assert_int_equal(glarex_client_download_buffer(&buf, &info, c, &liar, NULL, &err),
                     GLAREX_ECHECKSUM);
    assert_null(buf.ptr);
    assert_non_null(strstr(err.message, "md5 mismatch: expected "));
    assert_non_null(strstr(err.message, other_md5));
    assert_non_null(strstr(err.message, md5));
    assert_null(strstr(err.message, "secret")); /* the query may carry a signature */

    free(id);
    glarex_client_free(c);
    listener_stop(&l);
}

static void test_client__external_via_static_route(void **state)
{
    fixture *fx = *state;
    char sha[65], md5[33], url[128], name[64];
    glarex_error err;
    glarex_download_info info;
    collect col;

    assert_int_equal(test_server_request(&fx->srv, "PUT", "/__static/ext.txt", NULL,
                                         "application/octet-stream", ext_content, NULL),
                     201);
    assert_int_equal(glarex__digest_buffer(ext_content, strlen(ext_content), sha, md5),
                     0);
    snprintf(url, sizeof(url), "%s/__static/ext.txt", fx->srv.url);

    glarex_client_options o = client_opts(fx->srv.url);
    o.allow_http_redirects = 1;
    glarex_client *c = new_client_opts(&o);
    unique_name(fx, name, sizeof(name), "static");
    char *id = create_wf(c, name, "1.0");
    register_external(fx, c, id, "ext.txt", url, md5, sha);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "ext.txt"};
    glarex_digests expect;
    memset(&expect, 0, sizeof(expect));
    memcpy(expect.sha256, sha, 65);
    expect.size = (int64_t)strlen(ext_content);
    memset(&col, 0, sizeof(col));
    assert_int_equal(
        glarex_client_download(&info, c, &loc, &expect, collect_cb, &col, &err), 0);
    assert_int_equal(col.len, strlen(ext_content));
    assert_int_equal(info.external, 1);
    assert_int_equal(count(fx, "GET", "/__static/ext.txt"), 1);

    /* external fetches are retried like any GET */
    set_fault(
        fx, "{\"kind\": \"503\", \"method\": \"GET\", \"path\": \"/__static/ext.txt\"}");
    memset(&col, 0, sizeof(col));
    assert_int_equal(
        glarex_client_download(&info, c, &loc, &expect, collect_cb, &col, &err), 0);
    assert_int_equal(count(fx, "GET", "/__static/ext.txt"), 3);

    /* an unreachable external location names the external URL */
    register_external(fx, c, id, "gone.txt", "http://127.0.0.1:1/x?sig=secret", md5,
                      NULL);
    glarex_blob_loc gone = {WF_TYPE, id, "resources", "gone.txt"};
    assert_int_equal(
        glarex_client_download(&info, c, &gone, NULL, collect_cb, &col, &err),
        GLAREX_ENETWORK);
    assert_non_null(strstr(err.message, "GET http://127.0.0.1:1/x: "));
    assert_null(strstr(err.message, "secret"));
    free(id);
    glarex_client_free(c);
}

static void test_client__redirect_to_disallowed_scheme_or_host(void **state)
{
    fixture *fx = *state;
    listener l;
    const route routes[] = {{"/ext.sh", 200, NULL, ext_content}};
    char sha[65], md5[33], url[128], name[64];
    glarex_error err;
    glarex_buf buf = GLAREX_BUF_INIT;

    listener_start(&l, routes, 1);
    assert_int_equal(glarex__digest_buffer(ext_content, strlen(ext_content), sha, md5),
                     0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ext.sh", l.port);

    /* http is refused unless allowed */
    glarex_client *c = new_client(fx);
    unique_name(fx, name, sizeof(name), "refuse");
    char *id = create_wf(c, name, "1.0");
    register_external(fx, c, id, "ext.sh", url, md5, sha);
    glarex_blob_loc loc = {WF_TYPE, id, "resources", "ext.sh"};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_EFORBIDDEN);
    assert_null(buf.ptr);
    assert_int_equal(err.http_status, 301);
    assert_non_null(strstr(err.message,
                           "redirect to http://127.0.0.1 refused: only https is "
                           "allowed"));
    glarex_client_free(c);

    /* a host outside redirect_hosts is refused */
    const char *hosts[] = {"artifacts.example.org", NULL};
    glarex_client_options o = client_opts(fx->srv.url);
    o.allow_http_redirects = 1;
    o.redirect_hosts = hosts;
    c = new_client_opts(&o);
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_EFORBIDDEN);
    assert_non_null(strstr(
        err.message, "redirect to host '127.0.0.1' refused: not in redirect_hosts"));
    glarex_client_free(c);

    pthread_mutex_lock(&l.lock);
    assert_int_equal(l.requests, 0); /* nothing ever reached the external host */
    pthread_mutex_unlock(&l.lock);
    free(id);
    listener_stop(&l);
}

/* }==================================================================== */

/* {====================================================================
 * Malformed answers (the tiny listener plays Glare)
 * ==================================================================== */

static void test_client__wrong_types_are_protocol_errors(void **state)
{
    listener l;
    const route routes[] = {
        {"/artifacts/notarray", 200, NULL, "{\"artifacts\": \"nope\"}"},
        {"/artifacts/loop", 200, NULL,
         "{\"artifacts\": [{\"id\": \"a\"}], \"next\": \"/artifacts/loop?marker=a\"}"},
        {"/artifacts/offsite", 200, NULL,
         "{\"artifacts\": [{\"id\": \"a\"}], \"next\": \"//evil.example/artifacts/x\"}"},
        {"/artifacts/nextnum", 200, NULL, "{\"artifacts\": [], \"next\": 5}"},
        {"/artifacts/badart", 200, NULL, "{\"artifacts\": [{\"id\": 7}]}"},
        {"/artifacts/workflows/intid", 200, NULL, "{\"id\": 5}"},
        {"/artifacts/workflows/badname", 200, NULL, "{\"id\": \"x\", \"name\": []}"},
        {"/artifacts/workflows/array", 200, NULL, "[1, 2]"},
        {"/artifacts/workflows/notjson", 200, NULL, "<html>hello</html>"},
        {"/artifacts/workflows/empty", 200, NULL, ""},
        {"/schemas/workflows", 200, NULL, "{\"schemas\": {\"workflows\": \"no\"}}"},
        {"/", 300, NULL, "{\"versions\": {}}"},
        {"/artifacts/workflows/x/workflow", 200, "Content-MD5: zz\r\n", "data"},
        {"/artifacts/workflows/x/resources/noloc", 301, NULL, ""},
    };
    glarex_client *c;
    json_t *v = NULL;
    glarex_error err;
    char url[64];
    (void)state;

    listener_start(&l, routes, sizeof(routes) / sizeof(routes[0]));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    glarex_client_options o = client_opts(url);
    c = new_client_opts(&o);

    assert_int_equal(glarex_client_list(&v, c, "notarray", NULL, &err), GLAREX_EPROTOCOL);
    assert_string_equal(
        err.message,
        "GET /artifacts/notarray: malformed response: 'artifacts' is not an array");
    assert_null(v);
    assert_int_equal(glarex_client_list(&v, c, "loop", NULL, &err), GLAREX_EPROTOCOL);
    assert_string_equal(err.message,
                        "GET /artifacts/loop?marker=a: malformed response: 'next' "
                        "repeats an earlier page");
    assert_int_equal(glarex_client_list(&v, c, "offsite", NULL, &err), GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "'next' is not a path under /artifacts/"));
    assert_int_equal(glarex_client_list(&v, c, "nextnum", NULL, &err), GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "'next' is not a string"));
    assert_int_equal(glarex_client_list(&v, c, "badart", NULL, &err), GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "'id' is not a string"));

    assert_int_equal(glarex_client_get(&v, c, WF_TYPE, "intid", &err), GLAREX_EPROTOCOL);
    assert_string_equal(
        err.message,
        "GET /artifacts/workflows/intid: malformed response: 'id' is not a string");
    assert_int_equal(glarex_client_get(&v, c, WF_TYPE, "badname", &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "'name' is not a string"));
    assert_int_equal(glarex_client_get(&v, c, WF_TYPE, "array", &err), GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "the artifact is not a JSON object"));
    assert_int_equal(glarex_client_get(&v, c, WF_TYPE, "notjson", &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message,
                           "GET /artifacts/workflows/notjson: malformed response: "
                           "invalid JSON"));
    assert_int_equal(glarex_client_get(&v, c, WF_TYPE, "empty", &err), GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "empty body"));
    assert_int_equal(glarex_client_schema(&v, c, WF_TYPE, &err), GLAREX_EPROTOCOL);
    assert_int_equal(glarex_client_versions(&v, c, &err), GLAREX_EPROTOCOL);
    assert_null(v);

    glarex_buf buf = GLAREX_BUF_INIT;
    glarex_blob_loc loc = {WF_TYPE, "x", "workflow", NULL};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &loc, NULL, &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "Content-MD5 is not 32 hex digits"));
    assert_null(buf.ptr);
    glarex_blob_loc noloc = {WF_TYPE, "x", "resources", "noloc"};
    assert_int_equal(glarex_client_download_buffer(&buf, NULL, c, &noloc, NULL, &err),
                     GLAREX_EHTTP);
    assert_int_equal(err.http_status, 301);

    glarex_client_free(c);
    listener_stop(&l);
}

/* }==================================================================== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client__options_init_and_validation),
        cmocka_unit_test(test_client__error_text_forms),
        cmocka_unit_test(test_client__escape_encodes_keys),
        cmocka_unit_test(test_client__digests_from_json),
        cmocka_unit_test(test_client__connection_refused_is_network_error),
        cmocka_unit_test(test_client__tls_failure_is_network_error),
        cmocka_unit_test(test_client__wrong_types_are_protocol_errors),
        cmocka_unit_test(test_client__upload_too_big_is_413),
        cmocka_unit_test(test_client__noauth_headers),
    };
#define T(name) cmocka_unit_test_setup(name, clear_faults)
    const struct CMUnitTest server_tests[] = {
        T(test_client__options_strings_are_copied),
        T(test_client__versions_accepts_300),
        T(test_client__schema),
        T(test_client__create_get_update_delete),
        T(test_client__create_duplicate_is_conflict),
        T(test_client__no_token_is_auth_error),
        T(test_client__list_filters_latest_and_sort),
        T(test_client__list_follows_next_across_pages),
        T(test_client__upload_and_download_blob_and_key),
        T(test_client__empty_blob_round_trip),
        T(test_client__upload_file_progress_and_abort),
        T(test_client__activate_then_upload_is_forbidden),
        T(test_client__wrong_content_type_is_415),
        T(test_client__webob_and_html_error_bodies),
        T(test_client__retries_503_and_429_then_succeeds),
        T(test_client__retry_after_is_capped),
        T(test_client__post_and_patch_are_not_retried),
        T(test_client__upload_is_retried_from_the_start),
        T(test_client__reset_mid_body),
        T(test_client__truncated_body),
        T(test_client__checksum_mismatch_leaves_nothing),
        T(test_client__download_size_cap),
        T(test_client__json_size_cap),
        T(test_client__stall_and_total_timeouts),
        T(test_client__deadline),
        T(test_client__trace_redacts_token),
        T(test_client__external_redirect_without_token),
        T(test_client__external_via_static_route),
        T(test_client__redirect_to_disallowed_scheme_or_host),
    };
#undef T
    int failed = cmocka_run_group_tests_name("client", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("client against the test server", server_tests,
                                          group_setup, group_teardown);
    return failed;
}
