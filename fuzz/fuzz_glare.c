/*
 * The Glare response parsers: a responder on 127.0.0.1 answers every request with bytes
 * from the input, and a glarex_client reads them as version discovery, an artifact
 * list (following `next` pages), an artifact, a schema, and the blob values of what it
 * accepted (glarex_digests_from_json).
 *
 * Input: the first byte picks the HTTP status; the rest is split at NUL bytes into up
 * to MAX_BODIES bodies. Each call starts again from the first body and takes the next
 * one per request (a list's second page is the second body); past the last body the
 * responder answers an empty list.
 */
#include "fuzz_util.h"

#include "glarex.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BODIES 4

static const int statuses[] = {200, 200, 200, 200, 200, 200, 300, 400,
                               401, 403, 404, 409, 413, 429, 500, 503};

static struct {
    pthread_mutex_t lock;
    char *bodies[MAX_BODIES];
    size_t nbodies, next;
    int status;
} answers = {.lock = PTHREAD_MUTEX_INITIALIZER};

static glarex_client *client;

/* Reads a request's head (the harness sends no request bodies). */
static int read_head(int fd)
{
    char buf[8192];
    size_t used = 0;
    while (used < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

/* MSG_NOSIGNAL: the client may hang up early (a body over its size cap). */
static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* One request per connection: the answer says Connection: close. */
static void *respond(void *arg)
{
    int listener = *(int *)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        char head[160];
        const char *body = "{\"artifacts\": []}";
        int status = 200;

        if (fd < 0)
            continue;
        if (read_head(fd) == 0) {
            pthread_mutex_lock(&answers.lock);
            if (answers.next < answers.nbodies) {
                body = answers.bodies[answers.next++];
                status = answers.status;
            }
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d Fuzz\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             status, strlen(body));
            write_all(fd, head, (size_t)n);
            write_all(fd, body, strlen(body));
            pthread_mutex_unlock(&answers.lock);
        }
        close(fd);
    }
    return NULL;
}

static void start(void)
{
    static int listener;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    glarex_client_options opts = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_error err;
    pthread_t thread;
    char url[64];

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listener, 16) < 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) < 0)
        fuzz_fail(NULL, "cannot listen on 127.0.0.1");
    if (pthread_create(&thread, NULL, respond, &listener) != 0)
        fuzz_fail(NULL, "cannot start the responder thread");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
    opts.url = url;
    opts.max_retries = -1; /* no retries: each request takes the next body */
    opts.total_timeout_ms = 5000;
    opts.max_json_size = 64 * 1024;
    opts.noauth_project = "fuzz";
    if (glarex_client_new(&client, &opts, &err) < 0)
        fuzz_fail(NULL, "glarex_client_new: %s", err.message);
}

static void rewind_answers(void)
{
    pthread_mutex_lock(&answers.lock);
    answers.next = 0;
    pthread_mutex_unlock(&answers.lock);
}

/* The blob values of an accepted artifact, as the resolver reads them. */
static void read_blobs(const json_t *artifact)
{
    const char *key;
    json_t *field, *v;
    glarex_digests d;

    json_object_foreach((json_t *)artifact, key, field)
    {
        const char *k;
        glarex_digests_from_json(&d, field, NULL);
        if (json_is_object(field))
            json_object_foreach(field, k, v)
            {
                glarex_digests_from_json(&d, v, NULL);
            }
    }
}

/* An accepted answer must be what the call promises. */
static void check_artifact(const json_t *a, const char *call)
{
    if (!json_is_object(a) || !json_is_string(json_object_get(a, "id")))
        fuzz_fail(NULL, "%s accepted an artifact without a string id", call);
    read_blobs(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    json_t *out = NULL;
    glarex_error err;
    size_t i;
    json_t *a;

    if (!client)
        start();
    if (size == 0)
        return 0;
    pthread_mutex_lock(&answers.lock);
    answers.status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    answers.nbodies = fuzz_split(answers.bodies, MAX_BODIES, data + 1, size - 1);
    pthread_mutex_unlock(&answers.lock);

    rewind_answers();
    if (glarex_client_versions(&out, client, &err) == 0 &&
        !json_is_array(json_object_get(out, "versions")))
        fuzz_fail(NULL, "versions accepted without a 'versions' array");
    json_decref(out);

    rewind_answers();
    lo.page_size = 2;
    if (glarex_client_list(&out, client, "workflows", &lo, &err) == 0) {
        if (!json_is_array(out))
            fuzz_fail(NULL, "list accepted without an array");
        json_array_foreach(out, i, a)
        {
            check_artifact(a, "list");
        }
    }
    json_decref(out);

    rewind_answers();
    if (glarex_client_get(&out, client, "workflows", "0f3c", &err) == 0)
        check_artifact(out, "get");
    json_decref(out);

    rewind_answers();
    if (glarex_client_schema(&out, client, "workflows", &err) == 0 &&
        !json_is_object(out))
        fuzz_fail(NULL, "schema accepted a non-object");
    json_decref(out);

    pthread_mutex_lock(&answers.lock);
    fuzz_free_parts(answers.bodies, answers.nbodies);
    answers.nbodies = 0;
    pthread_mutex_unlock(&answers.lock);
    return 0;
}
