/* Registry credentials from the files docker and podman keep them in. */
#include "oci_registry.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_FILE_MAX_SIZE (1024 * 1024)

/* The host of a key of "auths": "host:port", "https://host:port" or
 * "https://host/v1/" all name "host[:port]". */
static int key_names_host(const char *key, const char *host)
{
    const char *p = strstr(key, "://");
    size_t n;

    p = p ? p + 3 : key;
    n = strcspn(p, "/");
    return n == strlen(host) && strncasecmp(p, host, n) == 0;
}

/* "Basic base64(user:password)" (new), or NULL when out of memory. */
static char *basic_of(const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password), n = ul + 1 + pl;
    unsigned char *plain = malloc(n + 1);
    char *out = malloc(strlen("Basic ") + 4 * ((n + 2) / 3) + 1);

    if (!plain || !out) {
        free(plain);
        free(out);
        return NULL;
    }
    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, password, pl);
    strcpy(out, "Basic ");
    EVP_EncodeBlock((unsigned char *)out + strlen("Basic "), plain, (int)n);
    free(plain);
    return out;
}

/* The user name of a base64 "user:password" (new), or NULL when it is not one. */
static char *user_of_auth(const char *auth)
{
    size_t len = strlen(auth);
    unsigned char *plain;
    char *colon, *user = NULL;
    int n;

    if (len == 0 || len % 4 != 0 || !(plain = malloc(len / 4 * 3 + 1)))
        return NULL;
    n = EVP_DecodeBlock(plain, (const unsigned char *)auth, (int)len);
    if (n > 0) {
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        while (n > 0 && auth[len - 1] == '=' && plain[n - 1] == '\0')
            n--, len--;
        plain[n] = '\0';
        if ((colon = strchr((char *)plain, ':')) && colon != (char *)plain &&
            strlen((char *)plain) == (size_t)n)
            user = strndup((char *)plain, (size_t)(colon - (char *)plain));
    }
    free(plain);
    return user;
}

/* Credentials for `host` in one file; 1 when found, 0 when not, or an error. */
static int from_file(char **basic, char **user, const char *path, const char *host,
                     glarex_error *err)
{
    json_error_t jerr;
    json_t *doc, *auths, *entry;
    const char *key;
    int found = 0;

    FILE *f = fopen(path, "re");
    if (!f)
        return 0; /* absent (or unreadable): the next file is asked */
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > AUTH_FILE_MAX_SIZE) {
        fclose(f);
        return glarex__error_set(err, GLAREX_ETOOBIG,
                                 "registry credentials file %s is larger than %d bytes", path,
                                 AUTH_FILE_MAX_SIZE);
    }
    rewind(f);
    doc = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!doc)
        return glarex__error_set(err, GLAREX_EINVALID,
                                 "registry credentials file %s, line %d: %s; fix or remove "
                                 "the file",
                                 path, jerr.line, jerr.text);
    auths = json_object_get(doc, "auths");
    json_object_foreach(auths, key, entry) {
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        const char *u = json_string_value(json_object_get(entry, "username"));
        const char *p = json_string_value(json_object_get(entry, "password"));
        if (!key_names_host(key, host))
            continue;
        if (auth && *auth && (*user = user_of_auth(auth)) != NULL) {
            *basic = malloc(strlen("Basic ") + strlen(auth) + 1);
            if (*basic)
                sprintf(*basic, "Basic %s", auth);
        } else if (u && *u && p) {
            *user = strdup(u);
            *basic = basic_of(u, p);
        } else {
            continue; /* an entry without a password (a credential helper's) */
        }
        found = 1;
        break;
    }
    json_decref(doc);
    if (found && (!*basic || !*user)) {
        free(*basic);
        free(*user);
        *basic = *user = NULL;
        return GLAREX_ENOMEM_SET(err);
    }
    return found;
}

int glarex__oci_file_credentials(char **basic, char **user, const char *host,
                                 glarex_error *err)
{
    /* podman's order, then docker's. */
    static const struct {
        const char *env, *tail;
    } places[] = {
        {"REGISTRY_AUTH_FILE", ""},
        {"XDG_RUNTIME_DIR", "/containers/auth.json"},
        {"HOME", "/.config/containers/auth.json"},
        {"DOCKER_CONFIG", "/config.json"},
        {"HOME", "/.docker/config.json"},
    };
    int rc = 0;

    *basic = *user = NULL;
    for (size_t i = 0; rc == 0 && i < sizeof(places) / sizeof(places[0]); i++) {
        const char *base = getenv(places[i].env);
        char *path;
        if (!base || base[0] != '/')
            continue;
        if (asprintf(&path, "%s%s", base, places[i].tail) < 0)
            return GLAREX_ENOMEM_SET(err);
        rc = from_file(basic, user, path, host, err);
        free(path);
    }
    return rc < 0 ? rc : 0;
}

char *glarex__oci_basic(const char *user, const char *password)
{
    return basic_of(user, password);
}
