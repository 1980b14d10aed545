/* OS_CLOUD: a cloud of clouds.yaml (and secure.yaml) supplies the settings that neither a
 * flag, a variable nor a glarex configuration file gives, found where openstacksdk
 * looks for it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The keys of a cloud that are glarex settings. */
static const struct {
    const char *path; /* "auth.username": the member of auth, or a top-level key */
    int id;
} cloud_keys[] = {
    {"auth.auth_url", S_OS_AUTH_URL},
    {"auth.username", S_OS_USERNAME},
    {"auth.password", S_OS_PASSWORD},
    {"auth.project_name", S_OS_PROJECT_NAME},
    {"auth.user_domain_name", S_OS_USER_DOMAIN_NAME},
    {"auth.project_domain_name", S_OS_PROJECT_DOMAIN_NAME},
    {"auth.project_id", S_OS_PROJECT_ID},
    {"auth.user_domain_id", S_OS_USER_DOMAIN_ID},
    {"auth.project_domain_id", S_OS_PROJECT_DOMAIN_ID},
    {"auth.token", S_OS_AUTH_TOKEN},
    {"region_name", S_OS_REGION_NAME},
    {"interface", S_OS_INTERFACE},
    {"cacert", S_OS_CACERT},
    {"cert", S_OS_CERT},
    {"key", S_OS_KEY},
    {"artifact_endpoint_override", S_GLARE_URL},
    {"workflow_endpoint_override", S_MISTRAL_URL},
};

/* openstacksdk's search path, in its order: the first file found is the one read. */
static char **search_path(const char *base, const char *cwd)
{
    static const char *const suffixes[] = {".yaml", ".yml", ".json"};
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const struct {
        const char *dir, *sub;
    } places[] = {
        {cwd, ""},                    /* as openstacksdk names it: absolute */
        {xdg, "/openstack"},          /* appdirs' user_config_dir */
        {home, "/.config/openstack"}, /* openstacksdk's UNIX_CONFIG_HOME */
        {"/etc/xdg", "/openstack"},   /* appdirs' site_config_dir */
        {"/etc", "/openstack"},       /* UNIX_SITE_CONFIG_HOME */
    };
    size_t nplaces = sizeof(places) / sizeof(places[0]), n = 0;
    char **out = calloc(nplaces * 3 + 1, sizeof(char *));

    for (size_t p = 0; out && p < nplaces; p++) {
        if (!places[p].dir || places[p].dir[0] != '/')
            continue;
        for (size_t i = 0; i < 3; i++)
            if (asprintf(&out[n], "%s%s/%s%s", places[p].dir, places[p].sub, base,
                         suffixes[i]) >= 0)
                n++;
            else
                out[n] = NULL;
    }
    return out;
}

static void free_path(char **p)
{
    for (size_t i = 0; p && p[i]; i++)
        free(p[i]);
    free(p);
}

/* Reads the first existing file of `override` (OS_CLIENT_*_FILE) and the search path
 * for `base`. 0 (and *doc NULL when there is none), or 2 after the error. */
static int load_first(json_t **doc, char **where, const char *override, const char *base)
{
    char cwd[4096];
    char **path = search_path(base, getcwd(cwd, sizeof(cwd)) ? cwd : ".");
    const char *found = NULL;
    struct stat st;
    glarex_error err;
    char *text = NULL;
    size_t len;
    int rc = 0;

    *doc = NULL;
    *where = NULL;
    if (override && override[0] && stat(override, &st) == 0)
        found = override;
    for (size_t i = 0; !found && path && path[i]; i++)
        if (stat(path[i], &st) == 0)
            found = path[i];
    if (found) {
        if (cli_read_file(&text, &len, found, &err) < 0 ||
            glarex_yaml_parse(doc, text, len, found, &err) < 0)
            rc = (cli_error(&err), 2);
        else if (!(*where = strdup(found)))
            rc = (cli_fail("out of memory"), 2);
    }
    free(text);
    free_path(path);
    return rc;
}

/* secure.yaml's values over clouds.yaml's, member by member (openstacksdk's merge). */
static void merge(json_t *into, const json_t *from)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v)
    {
        json_t *old = json_object_get(into, k);
        if (json_is_object(old) && json_is_object(v))
            merge(old, v);
        else
            json_object_set(into, k, v);
    }
}

/* A scalar of YAML as a setting's text (new), or NULL. */
static char *scalar_text(const json_t *v, int id)
{
    char *out = NULL;
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v) &&
        asprintf(&out, "%lld", (long long)json_integer_value(v)) >= 0)
        return out;
    if (json_is_boolean(v) && id == S_INSECURE)
        return strdup(json_is_true(v) ? "1" : "0");
    return NULL;
}

static void set_from_cloud(cli *c, int id, const json_t *v, const char *file,
                           const char *name, const char *key)
{
    char *text;
    if (c->file_value[id] || !(text = scalar_text(v, id)))
        return; /* a glarex configuration file wins */
    free(c->file_origin[id]);
    c->file_value[id] = text;
    if (asprintf(&c->file_origin[id], "clouds.yaml %s, cloud '%s' (%s)", file, name,
                 key) < 0)
        c->file_origin[id] = NULL;
}

int cli_load_cloud(cli *c)
{
    const char *name = cli_setting(c, S_OS_CLOUD);
    json_t *clouds = NULL, *secure = NULL, *cloud, *auth;
    char *file = NULL, *secure_file = NULL;
    int rc;

    if (!name)
        return 0;
    if ((rc = load_first(&clouds, &file, getenv("OS_CLIENT_CONFIG_FILE"), "clouds")) ||
        (rc = load_first(&secure, &secure_file, getenv("OS_CLIENT_SECURE_FILE"),
                         "secure")))
        goto done;
    rc = 2;
    if (!clouds) {
        cli_fail("%s names cloud '%s' but there is no clouds.yaml: put it in "
                 "./clouds.yaml, ~/.config/openstack/ or /etc/openstack/",
                 cli_setting_origin(c, S_OS_CLOUD), name);
        goto done;
    }
    if (json_is_object(json_object_get(secure, "clouds")))
        merge(json_object_get(clouds, "clouds"), json_object_get(secure, "clouds"));
    cloud = json_object_get(json_object_get(clouds, "clouds"), name);
    if (!json_is_object(cloud)) {
        char names[256] = "";
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(clouds, "clouds"), k, v)
        {
            size_t n = strlen(names);
            snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", k);
        }
        cli_fail("%s names cloud '%s', which %s does not define (it has: %s)",
                 cli_setting_origin(c, S_OS_CLOUD), name, file,
                 names[0] ? names : "none");
        goto done;
    }
    auth = json_object_get(cloud, "auth");
    for (size_t i = 0; i < sizeof(cloud_keys) / sizeof(cloud_keys[0]); i++) {
        const char *p = cloud_keys[i].path;
        const json_t *v = strncmp(p, "auth.", 5) == 0 ? json_object_get(auth, p + 5)
                                                      : json_object_get(cloud, p);
        set_from_cloud(c, cloud_keys[i].id, v, file, name, p);
    }
    /* verify: false is openstacksdk's way to skip TLS verification */
    if (json_is_false(json_object_get(cloud, "verify")))
        set_from_cloud(c, S_INSECURE, json_true(), file, name, "verify");
    rc = 0;

done:
    json_decref(clouds);
    json_decref(secure);
    free(file);
    free(secure_file);
    return rc;
}
