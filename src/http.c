/* HTTP transport for the Glare client: one libcurl easy handle per client, reused so
 * connections stay open; retries with backoff; size caps; error bodies to messages. */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Error bodies are only read for their message: keep the first 64 KiB. */
#define ERROR_BODY_CAP (64 * 1024)
/* How much of the server's text goes into a message (the rest of the line is ours). */
#define SERVER_TEXT_MAX 300
#define DEADLINE_SLACK_MS 5 /* curl and glarex read the clock apart by about a millisecond */
#define SINK_BUFFER_SIZE (512L * 1024) /* curl's largest receive buffer (CURL_MAX_READ_SIZE) */

struct glarex__http {
    CURL *curl;
    glarex__http_config cfg;
    int64_t deadline_ms; /* CLOCK_MONOTONIC ms after which no request runs; 0 = none */
    uint64_t rng; /* xorshift64* state for retry jitter: per client, no global state */
    char errbuf[CURL_ERROR_SIZE];
};

/* State of one attempt, shared by the curl callbacks. */
typedef struct transfer {
    const glarex__http_request *req;
    glarex__http_response *resp;
    size_t body_pos;     /* read position in a buffer body */
    uint64_t sent;       /* bytes of a file body read so far */
    size_t body_cap;     /* allocated size of resp->body */
    long retry_after_ms; /* -1 when absent */
    int delivered;       /* bytes reached the sink, so this request cannot be retried */
    int toobig;
    int oom;
    int sink_status; /* error the sink recorded */
    int progress_abort;
    int read_errno; /* reading a file body failed */
    int short_file; /* a file body ended before its announced size */
    int deadline_bound; /* the total timeout was cut short by the caller's deadline */
} transfer;

/* {====================================================================
 * Small text helpers
 * ==================================================================== */

typedef struct strbuf {
    char *ptr;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *sb, const char *s, size_t n)
{
    if (sb->oom)
        return;
    if (n > SIZE_MAX / 2 - sb->len) { /* also tells GCC 12 that len + n cannot wrap */
        sb->oom = 1;
        return;
    }
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 128;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *p = realloc(sb->ptr, cap);
        if (!p) {
            sb->oom = 1;
            return;
        }
        sb->ptr = p;
        sb->cap = cap;
    }
    memcpy(sb->ptr + sb->len, s, n);
    sb->len += n;
    sb->ptr[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

/* Appends `s` single-quoted for a POSIX shell. */
static void sb_quote(strbuf *sb, const char *s)
{
    sb_puts(sb, "'");
    for (const char *q; (q = strchr(s, '\'')) != NULL; s = q + 1) {
        sb_add(sb, s, (size_t)(q - s));
        sb_puts(sb, "'\\''");
    }
    sb_puts(sb, s);
    sb_puts(sb, "'");
}

char *glarex__http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    char *o = out;
    /* "." and ".." as a whole segment would be dot-segments: escape their dots too. */
    int dots = (strcmp(s, ".") == 0 || strcmp(s, "..") == 0);

    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '~' ||
                    (*p == '.' && !dots);
        if (plain) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static const char *reason_phrase(long status)
{
    switch (status) {
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "HTTP error";
    }
}

/* Copies `n` bytes of `s` into out as one line: control characters and runs of
 * white space become one space, the result is trimmed and cut (with "...") so it fits
 * in `size` and in SERVER_TEXT_MAX, never inside a UTF-8 sequence. */
static void one_line(char *out, size_t size, const char *s, size_t n)
{
    size_t max = size - 1 < SERVER_TEXT_MAX ? size - 1 : SERVER_TEXT_MAX;
    size_t o = 0;
    int space = 0, cut = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = o > 0;
            continue;
        }
        if (o + (space ? 1 : 0) + 1 > max) {
            cut = 1;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = (char)c;
    }
    if (cut && max >= 3) {
        o = o > max - 3 ? max - 3 : o;
        while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
            o--; /* do not split a UTF-8 sequence */
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Text of an HTML page: tags dropped, <head>/<script>/<style> skipped, a heading
 * followed by ": ", the common entities decoded. */
static void html_text(strbuf *sb, const char *s, size_t n)
{
    static const char *const skipped[] = {"head", "script", "style"};
    static const struct {
        const char *name;
        const char *text;
    } entities[] = {{"&amp;", "&"},   {"&lt;", "<"},  {"&gt;", ">"},
                    {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
    size_t i = 0;

    while (i < n) {
        if (s[i] == '<') {
            const char *end = memchr(s + i, '>', n - i);
            size_t tag_end = end ? (size_t)(end - s) + 1 : n;
            int closing = i + 1 < n && s[i + 1] == '/';
            const char *name = s + i + 1 + (closing ? 1 : 0);
            size_t left = n - (size_t)(name - s);
            for (size_t k = 0; !closing && k < sizeof(skipped) / sizeof(skipped[0]);
                 k++) {
                size_t kl = strlen(skipped[k]);
                if (left > kl && strncasecmp(name, skipped[k], kl) == 0 &&
                    (name[kl] == '>' || name[kl] == ' ')) {
                    /* skip to the matching closing tag */
                    char close[16];
                    snprintf(close, sizeof(close), "</%s", skipped[k]);
                    size_t j = tag_end;
                    while (j < n &&
                           !(n - j >= kl + 2 && strncasecmp(s + j, close, kl + 2) == 0))
                        j++;
                    end = j < n ? memchr(s + j, '>', n - j) : NULL;
                    tag_end = end ? (size_t)(end - s) + 1 : n;
                    break;
                }
            }
            if (closing && left >= 2 &&
                ((tolower((unsigned char)name[0]) == 'h' && name[1] >= '1' &&
                  name[1] <= '3') ||
                 (left >= 5 && strncasecmp(name, "title", 5) == 0)))
                sb_puts(sb, ": ");
            else
                sb_puts(sb, " ");
            i = tag_end;
            continue;
        }
        if (s[i] == '&') {
            size_t k;
            for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
                size_t el = strlen(entities[k].name);
                if (n - i >= el && memcmp(s + i, entities[k].name, el) == 0) {
                    sb_puts(sb, entities[k].text);
                    i += el;
                    break;
                }
            }
            if (k < sizeof(entities) / sizeof(entities[0]))
                continue;
        }
        sb_add(sb, s + i, 1);
        i++;
    }
}

/* One line from text that may hold HTML, without a leading "<status> " (webob repeats
 * the status in its headings) or a trailing ":" from a heading with nothing after. */
static void text_line(char *out, size_t size, long status, const char *s, size_t n,
                      int html)
{
    strbuf sb = {0};
    char prefix[16];
    const char *t;
    size_t tl;
    int pl;

    if (html) {
        html_text(&sb, s, n);
        if (!sb.ptr)
            return;
        s = sb.ptr;
        n = sb.len;
    }
    t = s;
    tl = n;
    while (tl && (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t'))
        t++, tl--;
    pl = snprintf(prefix, sizeof(prefix), "%ld ", status);
    if (pl > 0 && tl >= (size_t)pl && memcmp(t, prefix, (size_t)pl) == 0)
        t += pl, tl -= (size_t)pl;
    one_line(out, size, t, tl);
    for (size_t ol = strlen(out); ol && (out[ol - 1] == ':' || out[ol - 1] == ' ');)
        out[--ol] = '\0';
    free(sb.ptr);
}

void glarex__http_error_text(char *out, size_t size, long status, const char *body,
                             size_t len)
{
    size_t i = 0;

    if (!size)
        return;
    out[0] = '\0';
    while (i < len &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i < len && body[i] == '{') {
        /* Glare: {"error": {"message": ...}}; webob: {"message": "<html text>", "code":
         * "405 Method Not Allowed", "title": ...} (code is a string there) */
        json_t *root = json_loadb(body, len, 0, NULL);
        json_t *msg = json_object_get(json_object_get(root, "error"), "message");
        if (json_is_string(msg)) {
            one_line(out, size, json_string_value(msg), json_string_length(msg));
        } else {
            msg = json_object_get(root, "message");
            if (!json_is_string(msg) || !json_string_length(msg))
                msg = json_object_get(root, "title");
            if (json_is_string(msg))
                text_line(out, size, status, json_string_value(msg),
                          json_string_length(msg), 1);
        }
        json_decref(root);
    } else if (i < len && body[i] == '<') {
        text_line(out, size, status, body + i, len - i, 1);
    } else if (i < len) {
        /* webob text/plain: "405 Method Not Allowed\n\nThe method ..." */
        const char *gap = memmem(body + i, len - i, "\n\n", 2);
        if (gap) {
            strbuf sb = {0};
            sb_add(&sb, body + i, (size_t)(gap - (body + i)));
            sb_puts(&sb, ": ");
            sb_add(&sb, gap + 2, len - (size_t)(gap + 2 - body));
            if (sb.ptr)
                text_line(out, size, status, sb.ptr, sb.len, 0);
            free(sb.ptr);
        } else {
            text_line(out, size, status, body + i, len - i, 0);
        }
    }
    if (!out[0])
        one_line(out, size, reason_phrase(status), strlen(reason_phrase(status)));
}

int glarex__http_status_code(long status)
{
    switch (status) {
    case 400:
        return GLAREX_EINVALID;
    case 401:
        return GLAREX_EAUTH;
    case 403:
        return GLAREX_EFORBIDDEN;
    case 404:
        return GLAREX_ENOTFOUND;
    case 409:
        return GLAREX_ECONFLICT;
    case 413:
        return GLAREX_ETOOBIG;
    default:
        return GLAREX_EHTTP;
    }
}

int glarex__http_status_error(glarex_error *err, const char *what,
                              const glarex__http_response *resp)
{
    char text[SERVER_TEXT_MAX + 1];
    int code = glarex__http_status_code(resp->status);

    glarex__http_error_text(text, sizeof(text), resp->status,
                            resp->body.ptr ? resp->body.ptr : "", resp->body.size);
    glarex__error_set(err, code, "%s: %ld %s", what, resp->status, text);
    if (err)
        err->http_status = (int)resp->status;
    return code;
}

/* }==================================================================== */

/* {====================================================================
 * Handle
 * ==================================================================== */

static uint64_t next_random(glarex__http *h)
{
    /* xorshift64*: plenty for jitter, and per handle so threads never share it */
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return h->rng * 0x2545F4914F6CDD1DULL;
}

int glarex__http_new(glarex__http **out, const glarex__http_config *cfg,
                     glarex_error *err)
{
    glarex__http *h;
    struct timespec ts;

    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return GLAREX_ENOMEM_SET(err);
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return GLAREX_ENOMEM_SET(err);
    }
    h->cfg = *cfg;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Different clients (and processes) should not retry in lockstep. */
    h->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)h ^
             ((uint64_t)getpid() << 40);
    if (!h->rng)
        h->rng = 0x9E3779B97F4A7C15ULL;
    *out = h;
    return 0;
}

void glarex__http_free(glarex__http *http)
{
    if (!http)
        return;
    curl_easy_cleanup(http->curl);
    free(http);
}

void glarex__http_response_dispose(glarex__http_response *resp)
{
    if (!resp)
        return;
    glarex_buf_dispose(&resp->body);
    free(resp->location);
    resp->location = NULL;
    free(resp->subject_token);
    resp->subject_token = NULL;
    free(resp->www_authenticate);
    resp->www_authenticate = NULL;
    free(resp->link);
    resp->link = NULL;
}

static void response_reset(glarex__http_response *resp)
{
    glarex__http_response_dispose(resp);
    resp->status = 0;
    resp->content_type[0] = '\0';
    resp->content_md5[0] = '\0';
    resp->content_sha256[0] = '\0';
    resp->docker_digest[0] = '\0';
    resp->content_length = -1;
    resp->header_overflow = 0;
}

/* }==================================================================== */

/* {====================================================================
 * libcurl callbacks
 * ==================================================================== */

static void keep_header(glarex__http_response *resp, char *dst, size_t size,
                        const char *v, size_t n)
{
    if (n >= size) {
        resp->header_overflow = 1;
        n = size - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static long parse_retry_after(const char *v)
{
    char *end;
    long long secs;

    if (*v >= '0' && *v <= '9') {
        errno = 0;
        secs = strtoll(v, &end, 10);
        if (errno || *end)
            return -1;
        return secs > 86400 ? 86400000L : (long)secs * 1000;
    }
    /* HTTP-date form */
    time_t when = curl_getdate(v, NULL);
    if (when < 0)
        return -1;
    time_t now = time(NULL);
    return when <= now ? 0 : (when - now > 86400 ? 86400000L : (long)(when - now) * 1000);
}

/* Replaces *slot with a copy of the value; 0 (and t->oom) when out of memory. */
static int keep_copy(transfer *t, char **slot, const char *v, size_t vl)
{
    free(*slot);
    *slot = strndup(v, vl);
    if (!*slot)
        t->oom = 1;
    return *slot != NULL;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *payload)
{
    transfer *t = payload;
    glarex__http_response *resp = t->resp;
    size_t len = size * nitems;
    size_t n = len;
    const char *colon;
    char value[4096];

    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A status line starts a new response (after 100 Continue, say). */
        const char *sp = memchr(data, ' ', n);
        response_reset(resp);
        t->body_cap = 0;
        t->retry_after_ms = -1;
        if (sp && (size_t)(sp - data) + 4 <= n) {
            long st = 0;
            for (int k = 1; k <= 3; k++) {
                char c = sp[k];
                st = (c >= '0' && c <= '9') ? st * 10 + (c - '0') : -1000;
            }
            resp->status = st > 0 ? st : 0;
        }
        return len;
    }
    colon = memchr(data, ':', n);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = n - name_len - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;

#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(data, name, name_len) == 0)
    if (IS("Content-Type")) {
        keep_header(resp, resp->content_type, sizeof(resp->content_type), v, vl);
    } else if (IS("Content-MD5")) {
        keep_header(resp, resp->content_md5, sizeof(resp->content_md5), v, vl);
    } else if (IS("X-Openstack-Glare-Content-SHA256")) {
        keep_header(resp, resp->content_sha256, sizeof(resp->content_sha256), v, vl);
    } else if (IS("Content-Length")) {
        keep_header(resp, value, sizeof(value), v, vl);
        char *end;
        errno = 0;
        long long cl = strtoll(value, &end, 10);
        resp->content_length = (!errno && end != value && !*end && cl >= 0) ? cl : -1;
    } else if (IS("X-Subject-Token")) {
        if (!keep_copy(t, &resp->subject_token, v, vl))
            return 0;
    } else if (IS("Location")) {
        if (!keep_copy(t, &resp->location, v, vl))
            return 0;
    } else if (IS("WWW-Authenticate")) {
        if (!resp->www_authenticate && !keep_copy(t, &resp->www_authenticate, v, vl))
            return 0;
    } else if (IS("Link")) {
        if (!keep_copy(t, &resp->link, v, vl))
            return 0;
    } else if (IS("Docker-Content-Digest")) {
        keep_header(resp, resp->docker_digest, sizeof(resp->docker_digest), v, vl);
    } else if (IS("Retry-After")) {
        keep_header(resp, value, sizeof(value), v, vl);
        t->retry_after_ms = parse_retry_after(value);
    }
#undef IS
    return len;
}

static int buf_append(transfer *t, const char *data, size_t len)
{
    glarex_buf *b = &t->resp->body;
    if (b->size + len + 1 > t->body_cap) {
        size_t cap = t->body_cap ? t->body_cap : 1024;
        while (cap < b->size + len + 1)
            cap *= 2;
        char *p = realloc(b->ptr, cap);
        if (!p)
            return -1;
        b->ptr = p;
        t->body_cap = cap;
    }
    memcpy(b->ptr + b->size, data, len);
    b->size += len;
    b->ptr[b->size] = '\0';
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *payload)
{
    transfer *t = payload;
    size_t len = size * nmemb;
    long status = t->resp->status;
    int ok = status >= 200 && status < 300;

    if (ok && t->req->sink) {
        int rc;
        t->delivered = 1;
        rc = t->req->sink(data, len, t->req->sink_payload);
        if (rc < 0) {
            t->sink_status = rc;
            return 0; /* aborts the transfer */
        }
        return len;
    }
    if (!ok) {
        /* An error body is read for its message only; a caller may want the message
         * whole (Mistral's schema errors run to 128 KB). */
        size_t cap = t->req->whole_error_body && t->req->max_body > ERROR_BODY_CAP
                         ? (size_t)t->req->max_body
                         : ERROR_BODY_CAP;
        size_t room = cap - (t->resp->body.size < cap ? t->resp->body.size : cap);
        if (buf_append(t, data, len < room ? len : room) < 0) {
            t->oom = 1;
            return 0;
        }
        return len;
    }
    if (t->req->max_body && t->resp->body.size + len > t->req->max_body) {
        t->toobig = 1;
        return 0;
    }
    if (buf_append(t, data, len) < 0) {
        t->oom = 1;
        return 0;
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *payload)
{
    transfer *t = payload;
    const glarex__http_request *req = t->req;
    size_t want = size * nitems;

    if (req->body_file) {
        uint64_t left = req->body_file_size - t->sent;
        size_t got;
        if (left == 0)
            return 0;
        if (want > left)
            want = (size_t)left;
        got = fread(buf, 1, want, req->body_file);
        if (got == 0) {
            if (ferror(req->body_file))
                t->read_errno = errno ? errno : EIO;
            else
                t->short_file = 1; /* the file shrank while we sent it */
            return CURL_READFUNC_ABORT;
        }
        t->sent += got;
        return got;
    }
    size_t left = req->body_size - t->body_pos;
    if (want > left)
        want = left;
    if (want)
        memcpy(buf, (const char *)req->body + t->body_pos, want);
    t->body_pos += want;
    return want;
}

static int on_progress(void *payload, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    transfer *t = payload;
    const glarex__http_request *req = t->req;
    int up = req->has_body || req->body_file;
    curl_off_t done = up ? ulnow : dlnow, total = up ? ultotal : dltotal;

    if (req->progress((uint64_t)(done > 0 ? done : 0), (uint64_t)(total > 0 ? total : 0),
                      req->progress_payload)) {
        t->progress_abort = 1;
        return 1;
    }
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * One request
 * ==================================================================== */

/* Appends one formatted header line; returns 0, or -1 when out of memory (the list is
 * then unchanged). No fixed buffer: tokens (Keystone PKI) can be kilobytes long. */
static int add_header(struct curl_slist **list, const char *fmt, ...) GLAREX_PRINTF(2, 3);
static int add_header(struct curl_slist **list, const char *fmt, ...)
{
    va_list ap;
    char *line = NULL;
    struct curl_slist *tmp = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    tmp = curl_slist_append(*list, line);
    free(line);
    if (!tmp)
        return -1;
    *list = tmp;
    return 0;
}

/* The request's headers (`redact`: for the trace, token hidden); NULL and *ok = 0 when
 * out of memory. */
static struct curl_slist *
build_headers(const glarex__http *h, const glarex__http_request *req, int redact, int *ok)
{
    struct curl_slist *list = NULL;
    const glarex__http_config *c = &h->cfg;
    int rc = 0;

    if (req->accept)
        rc |= add_header(&list, "Accept: %s", req->accept);
    if (req->with_auth && c->auth_token && c->auth_token[0]) {
        rc |= add_header(&list, "X-Auth-Token: %s", redact ? "***" : c->auth_token);
    } else if (req->with_auth && c->noauth_project && c->noauth_project[0]) {
        rc |= add_header(&list, "X-Identity-Status: Confirmed");
        rc |= add_header(&list, "X-Project-Id: %s", c->noauth_project);
        if (c->noauth_user && c->noauth_user[0])
            rc |= add_header(&list, "X-User-Id: %s", c->noauth_user);
        if (c->noauth_roles && c->noauth_roles[0])
            rc |= add_header(&list, "X-Roles: %s", c->noauth_roles);
    }
    if (req->authorization)
        rc |= add_header(&list, "Authorization: %s", redact ? "***" : req->authorization);
    if (req->content_type)
        rc |= add_header(&list, "Content-Type: %s", req->content_type);
    /* No "Expect: 100-continue" round trip before uploads (not shown in the trace). */
    if (!redact)
        rc |= add_header(&list, "Expect:");
    if (rc) {
        curl_slist_free_all(list);
        *ok = 0;
        return NULL;
    }
    return list;
}

/* The URL with the password of its user information ("http://user:pass@host") shown
 * as "***" (new, curl_free()), or NULL. */
static char *url_without_password(const char *url)
{
    CURLU *u = curl_url();
    char *pass = NULL, *out = NULL;

    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return NULL;
    }
    if (curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, "***", 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_URL, &out, 0); /* else NULL: never the password */
    curl_free(pass);
    curl_url_cleanup(u);
    return out;
}

/* Hands the trace callback an equivalent curl command line; best effort. */
static void trace_request(const glarex__http *h, const glarex__http_request *req)
{
    char *url;
    int ok = 1;
    strbuf sb = {0};
    struct curl_slist *hdrs = build_headers(h, req, 1, &ok);

    if (!ok)
        return;
    sb_puts(&sb, "curl -sS -X ");
    sb_puts(&sb, req->method);
    for (struct curl_slist *l = hdrs; l; l = l->next) {
        sb_puts(&sb, " -H ");
        sb_quote(&sb, l->data);
    }
    if (req->has_body || req->body_file) {
        sb_puts(&sb, " --data-binary ");
        sb_quote(&sb, req->trace_body ? req->trace_body : "@-");
    }
    sb_puts(&sb, " ");
    if (!(url = url_without_password(req->url))) {
        sb.oom = 1; /* nothing rather than a password */
    } else {
        sb_quote(&sb, url);
        curl_free(url);
    }
    if (!sb.oom && sb.ptr)
        h->cfg.trace(sb.ptr, h->cfg.trace_payload);
    free(sb.ptr);
    curl_slist_free_all(hdrs);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static CURLcode attempt(glarex__http *h, transfer *t, struct curl_slist *hdrs)
{
    CURL *c = h->curl;
    const glarex__http_request *req = t->req;
    const glarex__http_config *cfg = &h->cfg;
    long stall_s = (cfg->stall_timeout_ms + 999) / 1000;

    curl_easy_reset(c); /* keeps the connection cache: only options are cleared */
    h->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* redirects are checked by hand */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* keys are sent exactly as encoded */
    curl_easy_setopt(c, CURLOPT_USERAGENT, GLAREX_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    long total = cfg->total_timeout_ms;
    if (h->deadline_ms) {
        int64_t left = h->deadline_ms - monotonic_ms();
        if (left < 1)
            left = 1;
        if (total <= 0 || left < total) {
            total = (long)left;
            t->deadline_bound = 1;
        }
    }
    if (total > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s > 0 ? stall_s : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
    if (cfg->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->client_cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert);
    if (cfg->client_key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    if (req->has_body || req->body_file) {
        /* Always a known size: curl then sends Content-Length, never chunked (Glare
         * stores an empty blob for a chunked upload). */
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, t);
        curl_easy_setopt(
            c, CURLOPT_INFILESIZE_LARGE,
            (curl_off_t)(req->body_file ? req->body_file_size : req->body_size));
        if (strcmp(req->method, "PUT") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L); /* no body follows the headers */
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    if (req->sink) /* large reads: a 256 MiB blob in 512 KiB recvs, not 16 KiB ones */
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, SINK_BUFFER_SIZE);
    if (req->progress) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    }
    if (cfg->trace)
        trace_request(h, req);
    return curl_easy_perform(c);
}

static int transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static int transient_status(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static long backoff_ms(glarex__http *h, int attempt_no, long retry_after_ms)
{
    long cap = h->cfg.retry_max_ms;
    long ceiling = h->cfg.retry_base_ms;

    if (retry_after_ms >= 0)
        return retry_after_ms < cap ? retry_after_ms : cap;
    for (int i = 0; i < attempt_no && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    /* full jitter: uniform in [0, ceiling] */
    return ceiling > 0 ? (long)(next_random(h) % (uint64_t)(ceiling + 1)) : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int transport_error(glarex_error *err, const glarex__http *h,
                           const glarex__http_request *req, const transfer *t,
                           CURLcode rc)
{
    const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);

    if (t->sink_status)
        return t->sink_status; /* the sink recorded its own error: it wins */
    if (t->oom)
        return GLAREX_ENOMEM_SET(err);
    if (t->toobig)
        return glarex__error_set(err, GLAREX_ETOOBIG,
                                 "%s: response larger than the %llu-byte cap", req->what,
                                 (unsigned long long)req->max_body);
    if (t->progress_abort)
        return glarex__error_set(err, GLAREX_ERROR,
                                 "%s: aborted by the progress callback", req->what);
    if (t->read_errno)
        return glarex__error_set(err, GLAREX_EIO, "%s: reading the upload body: %s",
                                 req->what, strerror(t->read_errno));
    if (t->short_file)
        return glarex__error_set(err, GLAREX_EIO,
                                 "%s: the upload file shrank while it was being sent",
                                 req->what);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        /* The time left became curl's timeout, and curl's millisecond clock may stop a
         * hair before ours: near the deadline, the deadline is the cause (a stall or
         * connect timeout well before it is not). */
        if (t->deadline_bound && monotonic_ms() + DEADLINE_SLACK_MS >= h->deadline_ms)
            return glarex__error_set(err, GLAREX_EDEADLINE, "%s: stopped at the deadline: %s",
                                     req->what, detail);
        return glarex__error_set(err, GLAREX_ETIMEOUT, "%s: %s", req->what, detail);
    case CURLE_FILESIZE_EXCEEDED:
        return glarex__error_set(err, GLAREX_ETOOBIG, "%s: %s", req->what, detail);
    case CURLE_OUT_OF_MEMORY:
        return GLAREX_ENOMEM_SET(err);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return glarex__error_set(err, GLAREX_EINVALID, "%s: %s", req->what, detail);
    case CURLE_PARTIAL_FILE:
        return glarex__error_set(err, GLAREX_ENETWORK, "%s: truncated response: %s",
                                 req->what, detail);
    default:
        return glarex__error_set(err, GLAREX_ENETWORK, "%s: %s", req->what, detail);
    }
}

void glarex__http_set_deadline(glarex__http *http, int64_t deadline_ms)
{
    http->deadline_ms = deadline_ms;
}

int glarex__http_perform(glarex__http_response *resp, glarex__http *http,
                         const glarex__http_request *req, glarex_error *err)
{
    struct curl_slist *hdrs = NULL;
    int ok = 1;
    int error = 0;

    if (http->deadline_ms && monotonic_ms() >= http->deadline_ms)
        return glarex__error_set(err, GLAREX_EDEADLINE, "%s: no time left before the deadline",
                                 req->what);

    hdrs = build_headers(http, req, 0, &ok);
    if (!ok)
        return GLAREX_ENOMEM_SET(err);

    for (int n = 0;; n++) {
        transfer t;
        CURLcode rc;
        int retry;

        memset(&t, 0, sizeof(t));
        t.req = req;
        t.resp = resp;
        t.retry_after_ms = -1;
        response_reset(resp);
        if (req->body_file && fseeko(req->body_file, 0, SEEK_SET) != 0) {
            error =
                glarex__error_set(err, GLAREX_EIO, "%s: rewinding the upload body: %s",
                                  req->what, strerror(errno));
            goto done;
        }

        rc = attempt(http, &t, hdrs);
        if (rc != CURLE_OK)
            retry = transient_curl(rc) && !t.sink_status && !t.toobig && !t.oom &&
                    !t.progress_abort && !t.read_errno && !t.short_file;
        else
            retry = transient_status(resp->status);
        /* Bytes already handed to the caller's sink cannot be taken back. */
        if (retry && req->idempotent && !t.delivered && n < http->cfg.max_retries) {
            long wait = backoff_ms(http, n, rc == CURLE_OK ? t.retry_after_ms : -1);
            if (!http->deadline_ms || monotonic_ms() + wait < http->deadline_ms) {
                sleep_ms(wait);
                continue;
            }
        }
        if (rc != CURLE_OK) {
            error = transport_error(err, http, req, &t, rc);
            goto done;
        }
        if (t.oom) {
            error = GLAREX_ENOMEM_SET(err);
            goto done;
        }
        break;
    }

    if (req->accept_any || (resp->status >= 200 && resp->status < 300) ||
        (req->accept_3xx && resp->status >= 300 && resp->status < 400))
        goto done;
    error = glarex__http_status_error(err, req->what, resp);

done:
    curl_slist_free_all(hdrs);
    return error;
}

/* }==================================================================== */
