/* Registry challenges, token answers, the token cache and the credential files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "src/store/oci_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void bearer_challenge_with_quoted_params(void **state)
{
    glarex__oci_challenge c;
    glarex_error err;

    (void)state;
    assert_int_equal(glarex__oci_challenge_parse(
                         &c,
                         "Bearer realm=\"https://auth.example.test/token\",service=\"registry."
                         "example.test\",scope=\"repository:glarex/heal_vms:pull\"",
                         "r.test", &err),
                     0);
    assert_int_equal(c.scheme, GLAREX__OCI_BEARER);
    assert_string_equal(c.realm, "https://auth.example.test/token");
    assert_string_equal(c.service, "registry.example.test");
    assert_string_equal(c.scope, "repository:glarex/heal_vms:pull");
    glarex__oci_challenge_dispose(&c);

    /* Case-insensitive names, spaces, tokens without quotes, escapes, a second
     * challenge after the first. */
    assert_int_equal(glarex__oci_challenge_parse(
                         &c, "bearer  Realm = \"http://127.0.0.1:5/t\\\"x\" , SERVICE=reg , "
                             "error=\"insufficient_scope\", Basic realm=\"other\"",
                         "r.test", &err),
                     0);
    assert_string_equal(c.realm, "http://127.0.0.1:5/t\"x");
    assert_string_equal(c.service, "reg");
    assert_null(c.scope);
    glarex__oci_challenge_dispose(&c);

    /* A token value that ends the header: read up to its end, not past it. */
    assert_int_equal(glarex__oci_challenge_parse(&c, "Bearer realm=\"https://a/t\",service=reg",
                                                 "r.test", &err),
                     0);
    assert_string_equal(c.service, "reg");
    glarex__oci_challenge_dispose(&c);
    assert_int_equal(glarex__oci_challenge_parse(&c, "Bearer", "r.test", &err),
                     GLAREX_EPROTOCOL);

    assert_int_equal(glarex__oci_challenge_parse(&c, "Basic realm=\"Registry Realm\"", "r.test",
                                                 &err),
                     0);
    assert_int_equal(c.scheme, GLAREX__OCI_BASIC);
    glarex__oci_challenge_dispose(&c);
}

/* distribution names a scope's actions in map order, "pull,push" on one 401 and
 * "push,pull" on the next: both are one scope, so a token kept for it is found again
 * and a refused one is recognised as refused. */
static void scopes_are_read_in_one_spelling(void **state)
{
    const char *spellings[] = {
        "Bearer realm=\"https://a/t\",scope=\"repository:ns/b:push,pull repository:ns/a:pull\"",
        "Bearer realm=\"https://a/t\",scope=\"repository:ns/a:pull repository:ns/b:pull,push\"",
    };
    glarex__oci_tokens *tokens;
    glarex__oci_challenge c;
    glarex_error err;
    char *header;

    (void)state;
    assert_int_equal(glarex__oci_tokens_new(&tokens, &err), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(glarex__oci_challenge_parse(&c, spellings[i], "r.test", &err), 0);
        assert_string_equal(c.scope, "repository:ns/a:pull repository:ns/b:pull,push");
        if (i == 0)
            assert_int_equal(glarex__oci_tokens_put(tokens, "r.test", c.scope, "tok",
                                                    INT64_MAX / 2, &err),
                             0);
        header = glarex__oci_tokens_header(tokens, "r.test", c.scope, 0);
        assert_non_null(header);
        assert_string_equal(header, "Bearer tok");
        free(header);
        glarex__oci_challenge_dispose(&c);
    }
    /* a registry port in the name keeps its colon; actions are after the last one */
    assert_int_equal(glarex__oci_challenge_parse(
                         &c, "Bearer realm=\"https://a/t\",scope=\"repository:h:5000/x:push,pull\"",
                         "r.test", &err),
                     0);
    assert_string_equal(c.scope, "repository:h:5000/x:pull,push");
    glarex__oci_challenge_dispose(&c);
    glarex__oci_tokens_free(tokens);
}

static void bad_challenges_are_named(void **state)
{
    glarex__oci_challenge c;
    glarex_error err;

    (void)state;
    assert_int_equal(glarex__oci_challenge_parse(&c, "Negotiate abc", "r.test:5000", &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "r.test:5000"));
    assert_non_null(strstr(err.message, "Negotiate"));
    assert_int_equal(glarex__oci_challenge_parse(&c, "Bearer service=\"x\"", "r.test", &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "no realm"));
    assert_int_equal(glarex__oci_challenge_parse(&c, "Bearer realm=\"https://a/t", "r.test",
                                                 &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "unterminated"));
    assert_int_equal(glarex__oci_challenge_parse(&c, NULL, "r.test", &err), GLAREX_EPROTOCOL);
}

/* The token URL for a challenge naming realm, service and scope (each may be NULL). */
static int token_url(char **url, const char *realm, const char *service, const char *scope,
                     const char *asked_scope, int allow_http, glarex_error *err)
{
    glarex__oci_challenge c = {GLAREX__OCI_BEARER, strdup(realm),
                               service ? strdup(service) : NULL, scope ? strdup(scope) : NULL};
    int rc = glarex__oci_token_url(url, &c, asked_scope, allow_http, err);

    glarex__oci_challenge_dispose(&c);
    return rc;
}

static void token_url_escapes_and_refuses_clear_text(void **state)
{
    const char *scope = "repository:a/b:pull";
    glarex_error err;
    char *url;

    (void)state;
    assert_int_equal(token_url(&url, "https://auth.test/token", "reg istry", scope, NULL, 0, &err),
                     0);
    assert_string_equal(url, "https://auth.test/token?service=reg%20istry&scope=repository%3Aa%"
                             "2Fb%3Apull");
    free(url);
    assert_int_equal(token_url(&url, "https://auth.test/token", "r", scope,
                               "repository:a/b:pull,push", 0, &err),
                     0);
    assert_non_null(strstr(url, "scope=repository%3Aa%2Fb%3Apull%2Cpush"));
    free(url);
    assert_int_equal(token_url(&url, "https://auth.test/token?account=me", NULL, scope, NULL, 0,
                               &err),
                     0);
    assert_string_equal(url, "https://auth.test/token?account=me&scope=repository%3Aa%2Fb%3Apull");
    free(url);

    assert_int_equal(token_url(&url, "http://auth.test/token", NULL, scope, NULL, 0, &err),
                     GLAREX_EINVALID);
    assert_null(url);
    assert_non_null(strstr(err.message, "plain http"));
    assert_int_equal(token_url(&url, "http://auth.test/token", NULL, scope, NULL, 1, &err), 0);
    free(url);
    assert_int_equal(token_url(&url, "http://127.0.0.1:8080/token", NULL, scope, NULL, 0, &err),
                     0);
    free(url);
    assert_int_equal(token_url(&url, "http://[::1]:8080/token", NULL, scope, NULL, 0, &err), 0);
    free(url);
    assert_int_equal(token_url(&url, "http://localhost/token", NULL, NULL, NULL, 0, &err), 0);
    assert_string_equal(url, "http://localhost/token");
    free(url);
    /* A name that starts like a loopback address is a name. */
    assert_int_equal(token_url(&url, "http://127.0.0.1.evil.test/token", NULL, scope, NULL, 0,
                               &err),
                     GLAREX_EINVALID);
    assert_int_equal(token_url(&url, "file:///etc/passwd", NULL, scope, NULL, 0, &err),
                     GLAREX_EPROTOCOL);
}

static void loopback_hosts(void **state)
{
    (void)state;
    assert_true(glarex__oci_host_is_loopback("127.0.0.1", 9));
    assert_true(glarex__oci_host_is_loopback("127.1.2.3", 9));
    assert_true(glarex__oci_host_is_loopback("LocalHost", 9));
    assert_true(glarex__oci_host_is_loopback("[::1]", 5));
    assert_false(glarex__oci_host_is_loopback("127.0.0.1.example.test", 22));
    assert_false(glarex__oci_host_is_loopback("127.example", 11));
    assert_false(glarex__oci_host_is_loopback("localhost.example", 17));
    assert_false(glarex__oci_host_is_loopback("10.0.0.1", 8));
}

static void token_answers(void **state)
{
    glarex_error err;
    char *token;
    int64_t expires = 0;
    const char *a = "{\"token\": \"abc\", \"expires_in\": 300, \"issued_at\": \"2026-01-01T00:00:00Z\"}";
    const char *b = "{\"access_token\": \"xyz\"}";
    const char *c = "{\"token\": \"\", \"access_token\": \"oauth\"}";

    (void)state;
    assert_int_equal(glarex__oci_token_parse(&token, &expires, a, strlen(a), 1000, "R", &err), 0);
    assert_string_equal(token, "abc");
    assert_int_equal(expires, 1000 + 300 * 1000);
    free(token);
    assert_int_equal(glarex__oci_token_parse(&token, &expires, b, strlen(b), 0, "R", &err), 0);
    assert_string_equal(token, "xyz");
    assert_int_equal(expires, 60 * 1000); /* the protocol's default lifetime */
    free(token);
    assert_int_equal(glarex__oci_token_parse(&token, &expires, c, strlen(c), 0, "R", &err), 0);
    assert_string_equal(token, "oauth");
    free(token);

    assert_int_equal(glarex__oci_token_parse(&token, &expires, "[]", 2, 0, "R", &err),
                     GLAREX_EPROTOCOL);
    assert_int_equal(glarex__oci_token_parse(&token, &expires, "{}", 2, 0, "R", &err),
                     GLAREX_EPROTOCOL);
    assert_non_null(strstr(err.message, "without a token"));
    assert_int_equal(glarex__oci_token_parse(&token, &expires,
                                             "{\"token\":\"t\",\"expires_in\":-5}", 29, 0, "R",
                                             &err),
                     GLAREX_EPROTOCOL);
    assert_null(token);
}

static void tokens_belong_to_their_registry_and_expire(void **state)
{
    glarex__oci_tokens *tokens;
    glarex_error err;
    char *h;

    (void)state;
    assert_int_equal(glarex__oci_tokens_new(&tokens, &err), 0);
    assert_int_equal(glarex__oci_tokens_put(tokens, "reg.test:5000", "repository:a:pull", "T1",
                                            100000, &err),
                     0);
    h = glarex__oci_tokens_header(tokens, "reg.test:5000", "repository:a:pull", 0);
    assert_string_equal(h, "Bearer T1");
    free(h);
    /* Another host (a redirect to blob storage), another port, another scope: none. */
    assert_null(glarex__oci_tokens_header(tokens, "blobs.test", "repository:a:pull", 0));
    assert_null(glarex__oci_tokens_header(tokens, "reg.test:5001", "repository:a:pull", 0));
    assert_null(glarex__oci_tokens_header(tokens, "reg.test:5000", "repository:b:pull", 0));
    /* Not handed out within the margin before expiry. */
    assert_null(glarex__oci_tokens_header(tokens, "reg.test:5000", "repository:a:pull", 96000));
    /* Replaced, then dropped. */
    assert_int_equal(glarex__oci_tokens_put(tokens, "REG.test:5000", "repository:a:pull", "T2",
                                            200000, &err),
                     0);
    h = glarex__oci_tokens_header(tokens, "reg.test:5000", "repository:a:pull", 96000);
    assert_string_equal(h, "Bearer T2");
    free(h);
    glarex__oci_tokens_drop(tokens, "reg.test:5000", "repository:a:pull");
    assert_null(glarex__oci_tokens_header(tokens, "reg.test:5000", "repository:a:pull", 0));
    /* No scope is a scope of its own. */
    assert_int_equal(glarex__oci_tokens_put(tokens, "reg.test:5000", NULL, "T3", 100000, &err),
                     0);
    h = glarex__oci_tokens_header(tokens, "reg.test:5000", NULL, 0);
    assert_string_equal(h, "Bearer T3");
    free(h);
    glarex__oci_tokens_free(tokens);
}

/* {=========================== credential files ===================================== */

static char home[] = "/tmp/glarex-oci-cred-XXXXXX";

static void write_file(const char *rel, const char *text)
{
    char path[512], dir[512], *slash;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", home, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    for (slash = strchr(dir + strlen(home) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(dir, 0700);
        *slash = '/';
    }
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

static int cred_setup(void **state)
{
    (void)state;
    if (!mkdtemp(home))
        return -1;
    setenv("HOME", home, 1);
    unsetenv("REGISTRY_AUTH_FILE");
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("DOCKER_CONFIG");
    return 0;
}

static int cred_teardown(void **state)
{
    char cmd[600];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    return system(cmd) == 0 ? 0 : -1;
}

static void credentials_from_docker_config(void **state)
{
    glarex__oci_credentials c;
    glarex_error err;

    (void)state;
    /* base64("alice:s3cr:et") and base64("bob:pw") */
    write_file(".docker/config.json",
               "{\"auths\": {\"https://reg.test:5000/v1/\": {\"auth\": \"YWxpY2U6czNjcjpldA==\"},"
               " \"reg.test:5000/team/heal\": {\"auth\": \"Ym9iOnB3\"},"
               " \"reg.test:5000/te\": {\"auth\": \"eDp5\"}}}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test:5000", "team/other", &err), 0);
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.password, "s3cr:et");
    assert_non_null(strstr(c.source, ".docker/config.json"));
    glarex__oci_credentials_dispose(&c);

    /* The most specific key wins; a key that is a prefix of a name but not of its
     * path components does not match. */
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test:5000", "team/heal/vms", &err),
                     0);
    assert_string_equal(c.username, "bob");
    glarex__oci_credentials_dispose(&c);

    /* Another port is another registry. */
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test:5001", "team/heal", &err), 0);
    assert_null(c.username);
}

static void podman_auth_file_comes_first(void **state)
{
    glarex__oci_credentials c;
    glarex_error err;
    char path[512];

    (void)state;
    write_file(".docker/config.json", "{\"auths\": {\"reg.test\": {\"auth\": \"Ym9iOnB3\"}}}");
    write_file(".config/containers/auth.json",
               "{\"auths\": {\"reg.test\": {\"username\": \"pod\", \"password\": \"man\"}}}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err), 0);
    assert_string_equal(c.username, "pod");
    assert_string_equal(c.password, "man");
    glarex__oci_credentials_dispose(&c);

    snprintf(path, sizeof(path), "%s/explicit.json", home);
    write_file("explicit.json", "{\"auths\": {\"reg.test\": {\"auth\": \"eDp5\"}}}");
    setenv("REGISTRY_AUTH_FILE", path, 1);
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err), 0);
    assert_string_equal(c.username, "x");
    glarex__oci_credentials_dispose(&c);
    unsetenv("REGISTRY_AUTH_FILE");
}

static void unusable_credentials_are_errors(void **state)
{
    glarex__oci_credentials c;
    glarex_error err;

    (void)state;
    write_file(".config/containers/auth.json", "{\"auths\": {}}");
    write_file(".docker/config.json", "{\"auths\": {\"reg.test\": {\"auth\": \"!!notbase64\"}}}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "base64"));
    assert_null(c.username);

    write_file(".docker/config.json",
               "{\"auths\": {\"reg.test\": {}}, \"credsStore\": \"desktop\"}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err),
                     GLAREX_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "docker-credential-desktop"));

    write_file(".docker/config.json", "{\"credHelpers\": {\"reg.test\": \"ecr-login\"}}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err),
                     GLAREX_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "docker-credential-ecr-login"));

    write_file(".docker/config.json", "{\"auths\": ");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "config.json"));

    /* A credential store that does not name this registry is no obstacle. */
    write_file(".docker/config.json", "{\"auths\": {}, \"credsStore\": \"desktop\"}");
    assert_int_equal(glarex__oci_credentials_find(&c, "reg.test", NULL, &err), 0);
    assert_null(c.username);
}

/* }==================================================================================== */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bearer_challenge_with_quoted_params),
        cmocka_unit_test(scopes_are_read_in_one_spelling),
        cmocka_unit_test(bad_challenges_are_named),
        cmocka_unit_test(token_url_escapes_and_refuses_clear_text),
        cmocka_unit_test(loopback_hosts),
        cmocka_unit_test(token_answers),
        cmocka_unit_test(tokens_belong_to_their_registry_and_expire),
    };
    const struct CMUnitTest cred_tests[] = {
        cmocka_unit_test(credentials_from_docker_config),
        cmocka_unit_test(podman_auth_file_comes_first),
        cmocka_unit_test(unusable_credentials_are_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    return failed + cmocka_run_group_tests(cred_tests, cred_setup, cred_teardown);
}
