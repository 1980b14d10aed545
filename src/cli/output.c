/* Output helpers: messages, JSON, files, digests, progress, artifact summaries. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* {====================================================================
 * Messages
 * ==================================================================== */

int cli_error(const glarex_error *err)
{
    fprintf(stderr, "glarex: %s\n",
            err->message[0] ? err->message : glarex_strerror(err->code));
    return 1;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("glarex: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

void cli_warn(const cli *c, const char *fmt, ...)
{
    va_list ap;
    if (c->quiet)
        return;
    fputs("glarex: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_info(const cli *c, const char *fmt, ...)
{
    va_list ap;
    if (!c->verbose || c->quiet)
        return;
    fputs("glarex: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_explain_auth(const cli *c, glarex_error *err)
{
    const char *url = cli_setting(c, S_GLARE_URL);
    char why[300];
    size_t n = strlen(err->message);

    if (strstr(err->message, "; the token came from") || strstr(err->message, "; no token"))
        return; /* already said */
    if (url && (strncasecmp(url, "oci://", 6) == 0 || strncasecmp(url, "oci+http://", 11) == 0))
        return; /* a registry takes no OpenStack token: its own refusal says what to do */
    if (cli_setting(c, S_OS_AUTH_TOKEN))
        snprintf(why, sizeof(why),
                 "; the token came from %s: it has expired or is not valid here; get a new "
                 "one (openstack token issue) or unset it to log in with OS_AUTH_URL, "
                 "OS_USERNAME, OS_PASSWORD",
                 cli_setting_origin(c, S_OS_AUTH_TOKEN));
    else if (cli_setting(c, S_OS_AUTH_URL))
        snprintf(why, sizeof(why),
                 "; the token came from Keystone (%s, user %s from %s): check that user's "
                 "role in project %s",
                 cli_setting_origin(c, S_OS_AUTH_URL),
                 cli_setting(c, S_OS_USERNAME) ? cli_setting(c, S_OS_USERNAME) : "-",
                 cli_setting(c, S_OS_USERNAME) ? cli_setting_origin(c, S_OS_USERNAME) : "-",
                 cli_setting(c, S_OS_PROJECT_NAME) ? cli_setting(c, S_OS_PROJECT_NAME) : "-");
    else
        snprintf(why, sizeof(why),
                 "; no token was given: set OS_AUTH_TOKEN, or OS_AUTH_URL, OS_USERNAME and "
                 "OS_PASSWORD");
    snprintf(err->message + n, sizeof(err->message) - n, "%s", why);
}

int cli_set_error(glarex_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    glarex_error_clear(err);
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

/* }==================================================================== */

/* {====================================================================
 * JSON: compact, UTF-8 kept, reals as Python prints them (0.1, not 0.10000000000000001)
 * ==================================================================== */

static void put_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (ch < 0x20)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void put_real(FILE *f, double d)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    fputs(buf, f);
    if (isfinite(d) && !strpbrk(buf, ".en"))
        fputs(".0", f); /* still a float: 1.0, not 1 */
}

static void put_json(FILE *f, const json_t *v)
{
    size_t i;
    const char *k;
    json_t *item;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        int first = 1;
        fputc('{', f);
        json_object_foreach((json_t *)v, k, item) {
            if (!first)
                fputc(',', f);
            first = 0;
            put_string(f, k, strlen(k));
            fputc(':', f);
            put_json(f, item);
        }
        fputc('}', f);
        break;
    }
    case JSON_ARRAY:
        fputc('[', f);
        json_array_foreach(v, i, item) {
            if (i)
                fputc(',', f);
            put_json(f, item);
        }
        fputc(']', f);
        break;
    case JSON_STRING:
        put_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(f, json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    default:
        fputs("null", f);
    }
}

int cli_print_json(FILE *f, const json_t *v)
{
    if (v)
        put_json(f, v);
    else
        fputs("null", f);
    fputc('\n', f);
    if (fflush(f) != 0 || ferror(f))
        return cli_fail("writing the output: %s", strerror(errno));
    return 0;
}

char *cli_json_text(const json_t *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    put_json(f, v);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* }==================================================================== */

/* {====================================================================
 * Files and digests
 * ==================================================================== */

int cli_sha256_file(char hex[65], uint64_t *size, const char *path, glarex_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0;
    uint64_t total = 0;
    EVP_MD_CTX *md_ctx;
    FILE *f;
    size_t n;
    int ok, rc;

    if ((rc = cli_open_input(&f, path, err)) < 0)
        return rc;
    md_ctx = EVP_MD_CTX_new();
    ok = md_ctx && EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        ok = EVP_DigestUpdate(md_ctx, buf, n);
        total += n;
    }
    if (ferror(f)) {
        int e = errno;
        EVP_MD_CTX_free(md_ctx);
        fclose(f);
        return cli_set_error(err, GLAREX_EIO, "%s: %s", path, strerror(e ? e : EIO));
    }
    ok = ok && EVP_DigestFinal_ex(md_ctx, md, &mdlen);
    EVP_MD_CTX_free(md_ctx);
    fclose(f);
    if (!ok || mdlen != 32)
        return cli_set_error(err, GLAREX_ERROR, "%s: cannot compute its sha256", path);
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    *size = total;
    return 0;
}

int cli_sha256_buffer(char hex[65], const void *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return 0;
}

int cli_is_text(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        unsigned char ch = s[i];
        size_t n;
        if (ch == 0)
            return 0;
        if (ch < 0x80) {
            i++;
            continue;
        }
        n = (ch & 0xE0) == 0xC0   ? 2
            : (ch & 0xF0) == 0xE0 ? 3
            : (ch & 0xF8) == 0xF0 ? 4
                                  : 0;
        if (!n || ch == 0xC0 || ch == 0xC1 || ch > 0xF4 || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

const char *cli_size(char buf[32], uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;

    if (n < 1024) {
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

/* }==================================================================== */

/* {====================================================================
 * Interrupts
 * ==================================================================== */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

void cli_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
    return interrupted;
}

/* }==================================================================== */

/* {====================================================================
 * Artifacts
 * ==================================================================== */

static json_t *blob_summary(const json_t *b)
{
    if (!json_is_object(b))
        return json_null();
    return json_pack(
        "{s:O, s:O, s:O, s:O}", "size",
        json_object_get(b, "size") ? json_object_get(b, "size") : json_null(), "sha256",
        json_object_get(b, "sha256") ? json_object_get(b, "sha256") : json_null(), "md5",
        json_object_get(b, "md5") ? json_object_get(b, "md5") : json_null(),
        "content_type",
        json_object_get(b, "content_type") ? json_object_get(b, "content_type")
                                           : json_null());
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *cli_artifact_summary(const json_t *art)
{
    static const char *const fields[] = {
        "id",    "name",        "version",    "status",     "visibility",
        "owner", "description", "created_at", "updated_at", "activated_at"};
    json_t *s = json_object(), *res = json_array(), *dict, *tags;
    const char **keys = NULL;
    const char *k;
    json_t *v;
    size_t n = 0;

    if (!s || !res) {
        json_decref(s);
        json_decref(res);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        v = json_object_get(art, fields[i]);
        json_object_set_new(s, fields[i], v ? json_incref(v) : json_null());
    }
    tags = json_object_get(art, "tags");
    json_object_set_new(s, "tags",
                        json_is_array(tags) ? json_deep_copy(tags) : json_array());
    json_object_set_new(s, "workflow", blob_summary(json_object_get(art, "workflow")));
    dict = json_object_get(art, "resources");
    if (json_is_object(dict) && json_object_size(dict))
        keys = malloc(json_object_size(dict) * sizeof(*keys));
    if (keys) {
        json_object_foreach(dict, k, v) keys[n++] = k;
        qsort(keys, n, sizeof(*keys), key_cmp);
        for (size_t i = 0; i < n; i++) {
            json_t *r = blob_summary(json_object_get(dict, keys[i]));
            if (json_is_object(r)) {
                json_t *kv = json_pack("{s:s}", "key", keys[i]);
                json_object_update(kv, r);
                json_array_append_new(res, kv);
            }
            json_decref(r);
        }
        free(keys);
    }
    json_object_set_new(s, "resources", res);
    return s;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static void print_blob(const char *label, const json_t *b)
{
    char sz[32];
    if (!json_is_object(b)) {
        printf("  %-20s (not uploaded)\n", label);
        return;
    }
    printf("  %-20s %10s  sha256 %s\n", label,
           cli_size(sz, (uint64_t)json_integer_value(json_object_get(b, "size"))),
           str(b, "sha256"));
}

void cli_print_artifact(const json_t *s)
{
    const json_t *tags = json_object_get(s, "tags"),
                 *res = json_object_get(s, "resources");
    const json_t *r;
    size_t i;

    printf("id:          %s\n", str(s, "id"));
    printf("name:        %s\n", str(s, "name"));
    printf("version:     %s\n", str(s, "version"));
    printf("status:      %s\n", str(s, "status"));
    printf("visibility:  %s\n", str(s, "visibility"));
    printf("owner:       %s\n", str(s, "owner"));
    if (json_string_length(json_object_get(s, "description")))
        printf("description: %s\n", str(s, "description"));
    if (json_array_size(tags)) {
        printf("tags:       ");
        json_array_foreach(tags, i, r)
            printf(" %s", json_string_value(r) ? json_string_value(r) : "?");
        printf("\n");
    }
    printf("created:     %s\n", str(s, "created_at"));
    if (json_string_value(json_object_get(s, "activated_at")))
        printf("activated:   %s\n", str(s, "activated_at"));
    printf("workflow:\n");
    print_blob("(definition)", json_object_get(s, "workflow"));
    printf("resources:   %zu\n", json_array_size(res));
    json_array_foreach(res, i, r) print_blob(str(r, "key"), r);
}

/* }==================================================================== */
