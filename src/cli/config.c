/* Configuration: flags > environment > config file > defaults; Keystone tokens and the
 * store, context and peers built from the settings. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

typedef struct setting {
    const char *key;   /* config file key */
    const char *env;   /* environment variable */
    const char *alias; /* the variable python-glareclient reads, or NULL */
    const char *flag;  /* command-line flag, or NULL */
    int is_bool;
    int secret;
} setting;

static const setting settings[S_COUNT] = {
    [S_GLARE_URL] = {"glare_url", "GLARE_URL", "OS_GLARE_URL", "--glare-url", 0, 0},
    [S_OS_AUTH_TOKEN] = {"os_auth_token", "OS_AUTH_TOKEN", "AUTH_TOKEN", "--os-auth-token",
                         0, 1},
    [S_OS_AUTH_URL] = {"os_auth_url", "OS_AUTH_URL", NULL, "--os-auth-url", 0, 0},
    [S_OS_USERNAME] = {"os_username", "OS_USERNAME", NULL, "--os-username", 0, 0},
    [S_OS_PASSWORD] = {"os_password", "OS_PASSWORD", NULL, "--os-password", 0, 1},
    [S_OS_PROJECT_NAME] = {"os_project_name", "OS_PROJECT_NAME", NULL, "--os-project-name",
                           0, 0},
    [S_OS_USER_DOMAIN_NAME] = {"os_user_domain_name", "OS_USER_DOMAIN_NAME", NULL,
                               "--os-user-domain-name", 0, 0},
    [S_OS_PROJECT_DOMAIN_NAME] = {"os_project_domain_name", "OS_PROJECT_DOMAIN_NAME", NULL,
                                  "--os-project-domain-name", 0, 0},
    [S_OS_CACERT] = {"os_cacert", "OS_CACERT", NULL, "--os-cacert", 0, 0},
    [S_OS_CERT] = {"os_cert", "OS_CERT", NULL, "--os-cert", 0, 0},
    [S_OS_KEY] = {"os_key", "OS_KEY", NULL, "--os-key", 0, 0},
    [S_INSECURE] = {"insecure", "OS_INSECURE", NULL, "--insecure", 1, 0},
    [S_CACHE_DIR] = {"cache_dir", "GLAREX_CACHE_DIR", NULL, "--cache-dir", 0, 0},
    [S_OFFLINE] = {"offline", "GLAREX_OFFLINE", NULL, "--offline", 1, 0},
    [S_TIMEOUT] = {"timeout", "GLAREX_TIMEOUT", NULL, "--timeout", 0, 0},
    [S_AS_OF_SKEW] = {"as_of_skew", "GLAREX_AS_OF_SKEW", NULL, "--as-of-skew", 0, 0},
    [S_MISTRAL_URL] = {"mistral_url", "MISTRAL_URL", NULL, "--mistral-url", 0, 0},
    [S_OS_CLOUD] = {"os_cloud", "OS_CLOUD", NULL, NULL, 0, 0},
    [S_OS_REGION_NAME] = {"os_region_name", "OS_REGION_NAME", NULL, NULL, 0, 0},
    [S_OS_INTERFACE] = {"os_interface", "OS_INTERFACE", NULL, NULL, 0, 0},
    [S_MAX_RESOURCE_SIZE] = {"max_resource_size", "GLAREX_MAX_RESOURCE_SIZE", NULL,
                             "--max-resource-size", 0, 0},
    [S_OS_PROJECT_ID] = {"os_project_id", "OS_PROJECT_ID", NULL, NULL, 0, 0},
    [S_OS_USER_DOMAIN_ID] = {"os_user_domain_id", "OS_USER_DOMAIN_ID", NULL, NULL, 0, 0},
    [S_OS_PROJECT_DOMAIN_ID] = {"os_project_domain_id", "OS_PROJECT_DOMAIN_ID", NULL, NULL,
                                0, 0},
    [S_PREFER_OWN_PROJECT] = {"prefer_own_project", "GLAREX_PREFER_OWN_PROJECT", NULL,
                              "--prefer-own-project", 1, 0},
};

/* {====================================================================
 * Settings
 * ==================================================================== */

/* The variable that sets `id`: glarex's own name first, then the alias. */
static const char *env_name(int id)
{
    const char *v = getenv(settings[id].env);
    if (v && v[0]) /* VAR= means unset */
        return settings[id].env;
    v = settings[id].alias ? getenv(settings[id].alias) : NULL;
    return v && v[0] ? settings[id].alias : NULL;
}

static const char *env_value(int id)
{
    const char *name = env_name(id);
    return name ? getenv(name) : NULL;
}

const char *cli_setting(const cli *c, int id)
{
    if (c->flag[id])
        return c->flag[id];
    if (env_value(id))
        return env_value(id);
    return c->file_value[id];
}

/* Where the value of a setting came from, for messages. */
static const char *origin(const cli *c, int id)
{
    if (c->flag[id])
        return settings[id].flag ? settings[id].flag : settings[id].key;
    if (env_value(id))
        return env_name(id);
    return c->file_origin[id] ? c->file_origin[id] : settings[id].key;
}

const char *cli_setting_origin(const cli *c, int id)
{
    return cli_setting(c, id) ? origin(c, id) : NULL;
}

static int parse_bool(const char *v)
{
    static const char *const on[] = {"1", "true", "yes", "on"};
    static const char *const off[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, on[i]) == 0)
            return 1;
        if (strcasecmp(v, off[i]) == 0)
            return 0;
    }
    return -1;
}

int cli_setting_on(const cli *c, int id)
{
    const char *v = cli_setting(c, id);
    return v && parse_bool(v) == 1;
}

static long timeout_ms(const cli *c)
{
    const char *v = cli_setting(c, S_TIMEOUT);
    return v ? (long)(strtod(v, NULL) * 1000.0) : 0;
}

/* "512", "10M", "10MiB", "2G", "1.5GiB" (K, M, G, T in powers of 1024) as bytes; -1
 * when it is not a size. */
static int parse_size(const char *v, uint64_t *out)
{
    static const char units[] = "KMGT";
    char *end;
    double n;

    errno = 0;
    n = strtod(v, &end);
    if (errno || end == v || !(n > 0))
        return -1;
    if (*end) {
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u || !*u || (end[1] && strcasecmp(end + 1, "iB") != 0 &&
                          strcasecmp(end + 1, "B") != 0))
            return -1;
        for (long i = 0; i <= u - units; i++)
            n *= 1024;
    }
    if (n >= 18446744073709551616.0)
        return -1;
    *out = (uint64_t)n;
    return *out ? 0 : -1;
}

uint64_t cli_max_resource_size(const cli *c)
{
    uint64_t n = 0;
    const char *v = cli_setting(c, S_MAX_RESOURCE_SIZE);
    return v && parse_size(v, &n) == 0 ? n : 0;
}

static int is_file_setting(int id)
{
    return id == S_OS_CACERT || id == S_OS_CERT || id == S_OS_KEY;
}

/* Checks every value that has a syntax; prints the error and returns 2 when one is
 * wrong. */
static int check_settings(const cli *c)
{
    struct stat st;

    for (int id = 0; id < S_COUNT; id++) {
        const char *v = cli_setting(c, id);
        uint64_t size;
        if (!v)
            continue;
        if (settings[id].is_bool && parse_bool(v) < 0) {
            fprintf(stderr,
                    "glarex: %s: '%s' is not a boolean (use 1/0, true/false, "
                    "yes/no, on/off)\n",
                    origin(c, id), v);
            return 2;
        }
        if (is_file_setting(id) && stat(v, &st) == 0 && !S_ISREG(st.st_mode)) {
            /* curl would read a device forever, or wait on a FIFO */
            fprintf(stderr, "glarex: %s: '%s' is not a regular file: give a file\n",
                    origin(c, id), v);
            return 2;
        }
        if (id == S_MAX_RESOURCE_SIZE && parse_size(v, &size) < 0) {
            fprintf(stderr,
                    "glarex: %s: '%s' is not a size: give bytes, or a number with K, M, G "
                    "or T (powers of 1024), e.g. 4G\n",
                    origin(c, id), v);
            return 2;
        }
        if (id == S_OS_INTERFACE && strcmp(v, "public") && strcmp(v, "internal") &&
            strcmp(v, "admin")) {
            fprintf(stderr,
                    "glarex: %s: '%s' is not an interface: use public, internal or "
                    "admin\n",
                    origin(c, id), v);
            return 2;
        }
        if (id == S_TIMEOUT || id == S_AS_OF_SKEW) {
            char *end;
            errno = 0;
            double s = strtod(v, &end);
            if (errno || end == v || *end || !(s > 0 || (s == 0 && id == S_AS_OF_SKEW)) ||
                s > 86400 * 365) {
                fprintf(stderr, "glarex: %s: '%s' is not a number of seconds\n",
                        origin(c, id), v);
                return 2;
            }
        }
    }
    return 0;
}

/* }==================================================================== */

/* {====================================================================
 * Config files
 * ==================================================================== */

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Reads `key = value` lines; later files override earlier ones. Returns 0, or 2 after
 * printing the error. A missing file is an error only when `must_exist`. */
static int read_config(cli *c, const char *path, int must_exist)
{
    FILE *f = NULL;
    char line[4096];
    int lineno = 0, has_secret = 0;
    struct stat st;
    glarex_error err;

    if (cli_open_input(&f, path, &err) < 0) {
        if (!must_exist && err.code == GLAREX_ENOTFOUND)
            return 0;
        cli_error(&err);
        return 2;
    }
    while (fgets(line, sizeof(line), f)) {
        char *eq, *key, *value;
        int id;
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "glarex: %s:%d: line too long\n", path, lineno);
            fclose(f);
            return 2;
        }
        key = trim(line);
        if (!*key || *key == '#' || *key == ';')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            fprintf(stderr, "glarex: %s:%d: expected 'key = value'\n", path, lineno);
            fclose(f);
            return 2;
        }
        *eq = '\0';
        key = trim(key);
        value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        for (id = 0; id < S_COUNT; id++)
            if (strcmp(key, settings[id].key) == 0)
                break;
        if (id == S_COUNT) {
            const char *keys[S_COUNT], *hint;
            for (int k = 0; k < S_COUNT; k++)
                keys[k] = settings[k].key;
            hint = cli_closest(key, keys, S_COUNT);
            fprintf(stderr, "glarex: %s:%d: unknown key '%s'%s%s%s\n", path, lineno, key,
                    hint ? ": did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
            fclose(f);
            return 2;
        }
        free(c->file_value[id]);
        free(c->file_origin[id]);
        c->file_value[id] = value[0] ? strdup(value) : NULL;
        if (asprintf(&c->file_origin[id], "%s:%d", path, lineno) < 0)
            c->file_origin[id] = NULL;
        has_secret |= settings[id].secret && value[0];
    }
    if (has_secret && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        if (!c->quiet)
            fprintf(stderr,
                    "glarex: warning: %s holds a secret but other users may read "
                    "it (chmod 600)\n",
                    path);
    fclose(f);
    return 0;
}

int cli_load_config(cli *c, const cli_cmd_spec *spec)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *user = NULL;
    int rc = 0, n = -1;

    (void)spec;
    if (c->config_file)
        return read_config(c, c->config_file, 1) || cli_load_cloud(c) ? 2
                                                                       : check_settings(c);
    /* the system file first, the user's overrides it */
    if (read_config(c, "/etc/glarex/glarex.conf", 0))
        return 2;
    if (xdg && xdg[0] == '/')
        n = asprintf(&user, "%s/glarex/glarex.conf", xdg);
    else if (home && home[0] == '/')
        n = asprintf(&user, "%s/.config/glarex/glarex.conf", home);
    if (n >= 0) {
        rc = read_config(c, user, 0);
        free(user);
    }
    return rc || cli_load_cloud(c) ? 2 : check_settings(c);
}

/* }==================================================================== */

/* {====================================================================
 * Connections
 * ==================================================================== */

static void trace_line(const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "%s\n", line);
}

void cli_client_options(cli *c, glarex_client_options *o)
{
    glarex_client_options_init(o, GLAREX_CLIENT_OPTIONS_VERSION);
    o->auth_token = c->token;
    o->ca_file = cli_setting(c, S_OS_CACERT);
    o->client_cert = cli_setting(c, S_OS_CERT);
    o->client_key = cli_setting(c, S_OS_KEY);
    o->insecure = cli_setting_on(c, S_INSECURE);
    o->total_timeout_ms = timeout_ms(c);
    if (c->debug)
        o->trace = trace_line;
}

static int has_keystone(const cli *c)
{
    return cli_setting(c, S_OS_AUTH_URL) && cli_setting(c, S_OS_USERNAME) &&
           cli_setting(c, S_OS_PASSWORD);
}

static int keystone_token(cli *c, glarex_error *err)
{
    glarex_keystone_options ko = GLAREX_KEYSTONE_OPTIONS_INIT;
    glarex_buf token = GLAREX_BUF_INIT;
    int rc;

    cli_client_options(c, &ko.client);
    ko.client.auth_token = NULL;
    ko.auth_url = cli_setting(c, S_OS_AUTH_URL);
    ko.username = cli_setting(c, S_OS_USERNAME);
    ko.password = cli_setting(c, S_OS_PASSWORD);
    ko.project_name = cli_setting(c, S_OS_PROJECT_NAME);
    ko.user_domain_name = cli_setting(c, S_OS_USER_DOMAIN_NAME);
    ko.project_domain_name = cli_setting(c, S_OS_PROJECT_DOMAIN_NAME);
    ko.project_id = cli_setting(c, S_OS_PROJECT_ID);
    ko.user_domain_id = cli_setting(c, S_OS_USER_DOMAIN_ID);
    ko.project_domain_id = cli_setting(c, S_OS_PROJECT_DOMAIN_ID);
    cli_info(c, "asking Keystone at %s for a token", ko.auth_url);
    json_decref(c->token_identity);
    c->token_identity = NULL;
    if ((rc = glarex_keystone_token_ex(&token, &c->token_identity, &ko, err)) < 0)
        return rc;
    free(c->token);
    c->token = strdup(token.ptr);
    glarex_buf_dispose(&token);
    return c->token ? 0 : cli_set_error(err, GLAREX_ENOMEM, "out of memory");
}

int cli_token(cli *c, glarex_error *err)
{
    const char *t = cli_setting(c, S_OS_AUTH_TOKEN);

    if (c->token)
        return 0;
    if (t) {
        c->token = strdup(t);
        return c->token ? 0 : cli_set_error(err, GLAREX_ENOMEM, "out of memory");
    }
    if (has_keystone(c))
        return keystone_token(c, err);
    if (cli_setting(c, S_OS_AUTH_URL))
        return cli_set_error(err, GLAREX_EINVALID,
                             "%s is set but %s is not: Keystone needs a user name and a "
                             "password",
                             origin(c, S_OS_AUTH_URL),
                             cli_setting(c, S_OS_USERNAME) ? "OS_PASSWORD"
                                                           : "OS_USERNAME");
    return 0; /* no credentials: the server decides */
}

static int is_remote(const char *url)
{
    return url &&
           (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

static void store_options(cli *c, glarex_store_options *so)
{
    glarex_store_options_init(so, GLAREX_STORE_OPTIONS_VERSION);
    so->url = cli_setting(c, S_GLARE_URL);
    so->max_blob_size = cli_max_resource_size(c); /* a local store's cap; 0: none */
    cli_client_options(c, &so->client);
}

/* The endpoint of service `type` in a Keystone catalog: the interface asked for
 * (default public) in the region asked for (default: any). Borrowed, or NULL. */
static const char *catalog_url(const json_t *catalog, const char *type, const char *region,
                               const char *interface)
{
    size_t i, j;
    json_t *svc, *ep;

    json_array_foreach(catalog, i, svc) {
        const char *t = json_string_value(json_object_get(svc, "type"));
        if (!t || strcmp(t, type) != 0)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
            const char *in = json_string_value(json_object_get(ep, "interface"));
            const char *r = json_string_value(json_object_get(ep, "region"));
            const char *rid = json_string_value(json_object_get(ep, "region_id"));
            if (!in || strcmp(in, interface) != 0)
                continue;
            if (region && !(r && strcmp(r, region) == 0) &&
                !(rid && strcmp(rid, region) == 0))
                continue;
            return json_string_value(json_object_get(ep, "url"));
        }
    }
    return NULL;
}

/* Sets setting `id` from the catalog's `type` endpoint, unless something set it. */
static int catalog_setting(cli *c, int id, const char *type)
{
    const char *region = cli_setting(c, S_OS_REGION_NAME);
    const char *interface = cli_setting(c, S_OS_INTERFACE);
    const char *url;

    if (!interface)
        interface = "public";
    url = catalog_url(json_object_get(c->token_identity, "catalog"), type, region,
                      interface);
    if (!url)
        return 0;
    free(c->file_value[id]);
    free(c->file_origin[id]);
    c->file_value[id] = strdup(url);
    if (asprintf(&c->file_origin[id], "Keystone catalog (%s, %s, %s)", type, interface,
                 region ? region : "any region") < 0)
        c->file_origin[id] = NULL;
    return c->file_value[id] != NULL;
}

int cli_from_catalog(cli *c, int want_mistral, glarex_error *err)
{
    int need_store = !cli_setting(c, S_GLARE_URL);
    int need_mistral = want_mistral && !cli_setting(c, S_MISTRAL_URL);
    int rc;

    /* a token given as such comes without a catalog: only a password gets one */
    if ((!need_store && !need_mistral) || !has_keystone(c) ||
        cli_setting(c, S_OS_AUTH_TOKEN) || cli_setting_on(c, S_OFFLINE))
        return 0;
    if (!c->token_identity && (rc = keystone_token(c, err)) < 0)
        return rc;
    if (need_store && !c->catalog_done++ &&
        (rc = catalog_setting(c, S_GLARE_URL, "artifact")) == 0)
        cli_warn(c,
                 "Keystone's catalog has no 'artifact' service (interface %s%s%s): using "
                 "the local default store; set GLARE_URL to choose",
                 cli_setting(c, S_OS_INTERFACE) ? cli_setting(c, S_OS_INTERFACE) : "public",
                 cli_setting(c, S_OS_REGION_NAME) ? ", region " : "",
                 cli_setting(c, S_OS_REGION_NAME) ? cli_setting(c, S_OS_REGION_NAME) : "");
    if (need_mistral && catalog_setting(c, S_MISTRAL_URL, "workflowv2") == 0)
        return cli_set_error(err, GLAREX_ENOTFOUND,
                             "Keystone's catalog has no 'workflowv2' (Mistral) service: "
                             "set MISTRAL_URL");
    return 0;
}

const char *cli_store_label(cli *c)
{
    const char *url = c->store ? glarex_store_url(c->store) : cli_setting(c, S_GLARE_URL);
    const char *auth = url ? strstr(url, "://") : NULL, *at = NULL, *colon;
    size_t n;

    if (!auth)
        return url;
    auth += 3;
    n = strcspn(auth, "/?#");
    for (size_t i = 0; i < n; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last one: a password may hold '@' */
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon)
        return url;
    free(c->store_label);
    if (asprintf(&c->store_label, "%.*s:***%s", (int)(colon - url), url, at) < 0) {
        c->store_label = NULL;
        return "(the store URL, which holds a password)";
    }
    return c->store_label;
}

int cli_open_store(cli *c, glarex_error *err)
{
    glarex_store_options so;
    int rc;

    if (c->store)
        return 0;
    if ((rc = cli_from_catalog(c, 0, err)) < 0)
        return rc;
    if (is_remote(cli_setting(c, S_GLARE_URL)) && (rc = cli_token(c, err)) < 0)
        return rc;
    store_options(c, &so);
    return glarex_store_open(&c->store, &so, err);
}

static int open_ctx(cli *c, glarex_error *err)
{
    glarex_ctx_options co = GLAREX_CTX_OPTIONS_INIT;

    glarex_ctx_options_init(&co, GLAREX_CTX_OPTIONS_VERSION);
    store_options(c, &co.store);
    co.cache_dir = cli_setting(c, S_CACHE_DIR);
    co.offline = cli_setting_on(c, S_OFFLINE);
    co.prefer_own_project = cli_setting_on(c, S_PREFER_OWN_PROJECT);
    if (cli_setting(c, S_AS_OF_SKEW)) {
        long skew = (long)(strtod(cli_setting(c, S_AS_OF_SKEW), NULL) * 1000.0);
        co.as_of_skew_ms = skew > 0 ? skew : -1; /* 0 asks for no allowance */
    }
    return glarex_ctx_new(&c->ctx, &co, err);
}

int64_t cli_parse_time(const char *text)
{
    struct tm tm;
    char *end;

    if (text[0] == '@') {
        long long secs = strtoll(text + 1, &end, 10);
        return end == text + 1 || *end || secs < 0 ? -1 : (int64_t)secs * 1000;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        end = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z") != 0))
        return -1;
    return (int64_t)timegm(&tm) * 1000;
}

/* c->req for c->ctx: the token in use and who Keystone issued it to, the workflow of
 * self references, the execution and the as-of time. */
static int open_request(cli *c, glarex_error *err)
{
    glarex_request_options ro = GLAREX_REQUEST_OPTIONS_INIT;
    const json_t *who = c->token_identity;

    glarex_request_free(c->req);
    c->req = NULL;
    if (c->as_of_text && (ro.as_of_ms = cli_parse_time(c->as_of_text)) < 0)
        return cli_set_error(err, GLAREX_EINVALID,
                             "--as-of '%s' is not a time: use YYYY-MM-DDTHH:MM:SSZ (UTC) or "
                             "@SECONDS since the epoch",
                             c->as_of_text);
    ro.auth_token = c->token;
    ro.project_id = json_string_value(json_object_get(who, "project_id"));
    ro.user_id = json_string_value(json_object_get(who, "user_id"));
    ro.roles = json_string_value(json_object_get(who, "roles"));
    ro.workflow = c->workflow_ref;
    ro.execution_id = c->execution_id;
    if (c->fetch.label) { /* the command shows its downloads */
        c->fetch.c = c;
        ro.progress = cli_progress_cb;
        ro.progress_payload = &c->fetch;
    }
    return glarex_request_new(&c->req, c->ctx, &ro, err);
}

void cli_invalidate(cli *c, const char *name, const char *id)
{
    glarex_error err;
    if (cli_open_ctx(c, 0, &err) < 0 ||
        (name && glarex_ctx_invalidate(c->ctx, name, NULL, &err) < 0) ||
        (id && glarex_ctx_invalidate(c->ctx, NULL, id, &err) < 0))
        cli_warn(c, "the cache may serve the old '%s' for a while: %s", name ? name : id,
                 err.message);
}

int cli_open_ctx(cli *c, int need_auth, glarex_error *err)
{
    int rc;

    if (c->ctx)
        return 0;
    if (need_auth && (rc = cli_from_catalog(c, 0, err)) < 0)
        return rc;
    /* Offline, a token given as such still names whose cached answers to use; asking
     * Keystone for one is what offline rules out (and then nothing cached is served). */
    if (need_auth && is_remote(cli_setting(c, S_GLARE_URL)) &&
        (!cli_setting_on(c, S_OFFLINE) || cli_setting(c, S_OS_AUTH_TOKEN)) &&
        (rc = cli_token(c, err)) < 0)
        return rc;
    if ((rc = open_ctx(c, err)) < 0 || (rc = open_request(c, err)) < 0) {
        glarex_ctx_free(c->ctx);
        c->ctx = NULL;
    }
    return rc;
}

int cli_retry_auth(cli *c, glarex_error *err)
{
    glarex_error kerr;

    if (c->reauthed || !has_keystone(c))
        return 0;
    c->reauthed = 1;
    cli_info(c, "the token was refused: authenticating again");
    if (keystone_token(c, &kerr) < 0) {
        *err = kerr;
        return 0;
    }
    if (c->store) {
        glarex_store_free(c->store);
        c->store = NULL;
        if (cli_open_store(c, &kerr) < 0) {
            *err = kerr;
            return 0;
        }
    }
    if (c->ctx) {
        glarex_request_free(c->req);
        c->req = NULL;
        glarex_ctx_free(c->ctx);
        c->ctx = NULL;
        if (open_ctx(c, &kerr) < 0 || open_request(c, &kerr) < 0) {
            *err = kerr;
            return 0;
        }
    }
    return 1;
}

void cli_close(cli *c)
{
    glarex_store_free(c->store);
    glarex_request_free(c->req);
    glarex_ctx_free(c->ctx);
    c->store = NULL;
    c->req = NULL;
    c->ctx = NULL;
    free(c->token);
    c->token = NULL;
    json_decref(c->token_identity);
    c->token_identity = NULL;
    free(c->store_label);
    c->store_label = NULL;
    for (int i = 0; i < S_COUNT; i++) {
        free(c->file_value[i]);
        free(c->file_origin[i]);
        c->file_value[i] = c->file_origin[i] = NULL;
    }
}

/* }==================================================================== */
