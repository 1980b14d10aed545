/* Starting and talking to the Glare-compatible test server: see server_io.h. */
#include "server_io.h"

#include <curl/curl.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void test_rm_rf(const char *path)
{
    if (path && *path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define LOCAL_URL "http://127.0.0.1:"

pid_t server_spawn(const char *const *argv, const char *log_path, char *url,
                   size_t url_size)
{
    int pipefd[2];
    char line[256] = "", found[128] = "";
    pid_t pid;

    if (pipe(pipefd) < 0)
        return -1;
    fflush(stdout); /* nothing buffered may be written twice by the child */
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], 1);
        if (log >= 0)
            dup2(log, 2);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);

    FILE *f = fdopen(pipefd[0], "r");
    if (!f || !fgets(line, sizeof(line), f) ||
        sscanf(line, "listening on %127s", found) != 1 ||
        strncmp(found, LOCAL_URL, strlen(LOCAL_URL)) != 0 || strlen(found) >= url_size) {
        if (f)
            fclose(f);
        else
            close(pipefd[0]);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    fclose(f);
    memcpy(url, found, strlen(found) + 1);
    return pid;
}

struct membuf {
    char *ptr;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *payload)
{
    struct membuf *b = payload;
    char *p = realloc(b->ptr, b->len + size * n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, size * n);
    b->ptr = p;
    b->len += size * n;
    b->ptr[b->len] = '\0';
    return size * n;
}

int server_http(const char *base_url, const char *method, const char *path,
                const char *token, const char *content_type, const char *body, char **out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct membuf b = {NULL, 0};
    char url[2300], hdr[512];
    long status = -1;

    if (out)
        *out = NULL;
    if (!h)
        return -1;
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (token) {
        snprintf(hdr, sizeof(hdr), "X-Auth-Token: %s", token);
        hdrs = curl_slist_append(hdrs, hdr);
    }
    if (content_type) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, hdr);
    }
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (out)
        *out = b.ptr;
    else
        free(b.ptr);
    return (int)status;
}
