/* Registry credentials as the Authorization header carries them: from the files docker
 * and podman keep them in (found by oci_token.c), or given. */
#include "oci_registry.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    OPENSSL_cleanse(plain, n);
    free(plain);
    return out;
}

int glarex__oci_file_credentials(char **basic, char **user, const char *host,
                                 const char *repository, glarex_error *err)
{
    glarex__oci_credentials found;
    int rc;

    *basic = *user = NULL;
    if ((rc = glarex__oci_credentials_find(&found, host, repository, err)) < 0 ||
        !found.username)
        return rc;
    *basic = basic_of(found.username, found.password);
    *user = found.username;
    found.username = NULL;
    glarex__oci_credentials_dispose(&found);
    if (!*basic) {
        free(*user);
        *user = NULL;
        return GLAREX_ENOMEM_SET(err);
    }
    return 0;
}

char *glarex__oci_basic(const char *user, const char *password)
{
    return basic_of(user, password);
}
