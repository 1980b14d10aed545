/* Argument shapes every command shares: NAME[@VERSION] and the settings whose syntax
 * can be checked before anything is asked (a bad one is a usage error, exit 2). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cli_split_artifact(char **name, const char **version, const char *what)
{
    const char *at = strrchr(what, '@');

    *version = NULL;
    if (at && at != what) {
        *name = strndup(what, (size_t)(at - what));
        *version = at + 1;
    } else {
        *name = strdup(what);
    }
    return *name ? 0 : -1;
}

int cli_check_artifact_arg(const cli_cmd_spec *spec, const char *what, const char *key,
                           int one_version)
{
    const char *version;
    glarex_ref *ref = NULL;
    glarex_error err;
    char *name;
    int rc = 0;

    if (glarex_ref_parse(&ref, what, &err) == 0 && glarex_ref_kind_of(ref) == GLAREX_REF_ID) {
        glarex_ref_free(ref); /* glare://id/... */
        return 0;
    }
    glarex_ref_free(ref);
    ref = NULL;
    if (strlen(what) == 36 && strspn(what, "0123456789abcdefABCDEF-") == 36)
        return 0; /* an artifact id */
    if (cli_split_artifact(&name, &version, what) < 0)
        return cli_fail("out of memory");
    if (glarex_ref_from_args(&ref, name, version ? version : "latest", key, &err) < 0)
        rc = cli_usage_error(spec, "'%s': %s", what, err.message);
    else if (one_version && glarex_ref_kind_of(ref) != GLAREX_REF_EXACT &&
             glarex_ref_kind_of(ref) != GLAREX_REF_LATEST)
        rc = cli_usage_error(spec,
                             "'%s' names a range: give one version (NAME@1.0.0), latest "
                             "(NAME), or the artifact's id",
                             what);
    glarex_ref_free(ref);
    free(name);
    return rc;
}

/* A URL setting with the schemes it may have; 0 or a usage error. */
static int check_url(const cli *c, const cli_cmd_spec *spec, int id, int store)
{
    const char *v = cli_setting(c, id);

    if (!v || strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0 ||
        (store && (strncasecmp(v, "file:///", 8) == 0 || strncasecmp(v, "oci://", 6) == 0 ||
                   strncasecmp(v, "oci+http://", 11) == 0)))
        return 0;
    return cli_usage_error(spec, "%s: '%s' is not a %s URL: use http://HOST:PORT, https://%s",
                           cli_setting_origin(c, id), v, store ? "store" : "Mistral",
                           store ? "..., file:///absolute/dir or oci://HOST[:PORT]/NAMESPACE"
                                 : "...");
}

int cli_check_settings(const cli *c, const cli_cmd_spec *spec)
{
    int rc;

    if ((rc = check_url(c, spec, S_GLARE_URL, 1)) != 0 ||
        (rc = check_url(c, spec, S_MISTRAL_URL, 0)) != 0)
        return rc;
    if (c->workflow_ref)
        return cli_check_artifact_arg(spec, c->workflow_ref, NULL, 0);
    return 0;
}
