/*
 * The OCI registry store without a registry: what it checks before any request (URLs,
 * fields, names, versions) and whom it takes itself for (the scope identity: registry,
 * namespace, user from the URL or the docker/podman files). Nothing listens at
 * 127.0.0.1:1, so a test that reached the network would fail with GLAREX_ENETWORK.
 * The registry itself is exercised by tests/oci/test_oci.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/common.h"

/* From src/store/store.h (which expects src/ on the include path). */
const char *glarex__store_registry_identity(const glarex_store *store);

static glarex_store *open_url(const char *url, glarex_error *err)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_store *store = NULL;
    so.url = url;
    so.client.max_retries = -1;
    if (glarex_store_open(&store, &so, err) < 0)
        return NULL;
    return store;
}

static void test_store_oci__urls(void **state)
{
    static const struct {
        const char *url, *words;
    } bad[] = {
        {"oci://127.0.0.1:1", "names no namespace"},
        {"oci://127.0.0.1:1/", "names no namespace"},
        {"oci://127.0.0.1:1/Ns", "lower-case"},
        {"oci://127.0.0.1:1/a//b", "lower-case"},
        {"oci://127.0.0.1:1/a-", "lower-case"},
        {"oci://127.0.0.1:1/ns?mirror=a/b", "not host[:port]"},
        {"oci://127.0.0.1:1/ns?proxy=x", "mirror=host[:port]"},
        {"oci://127.0.0.1:1/ns#x", "'#'"},
        {"oci://u:hunter2@127.0.0.1:1/", "oci://u:***@127.0.0.1:1/"},
    };
    glarex_error err;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(open_url(bad[i].url, &err));
        assert_int_equal(err.code, GLAREX_EINVALID);
        if (!strstr(err.message, bad[i].words))
            fail_msg("%s: '%s' not in: %s", bad[i].url, bad[i].words, err.message);
        assert_null(strstr(err.message, "hunter2"));
    }
    glarex_store *s = open_url("OCI://127.0.0.1:1/ns/sub.dir/a_b", &err);
    assert_non_null(s);
    assert_string_equal(glarex_store_url(s), "OCI://127.0.0.1:1/ns/sub.dir/a_b");
    glarex_store_free(s);
}

static void test_store_oci__identity_names_registry_namespace_and_user(void **state)
{
    char dir[] = "/tmp/glarex-oci-XXXXXX", path[128];
    glarex_error err;
    glarex_store *s;
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/auth.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    /* base64("bob:builder") */
    fprintf(f, "{\"auths\": {\"https://Reg.example:5000/v1/\": {\"auth\": "
               "\"Ym9iOmJ1aWxkZXI=\"}, \"127.0.0.1:1\": {\"username\": \"carol\", "
               "\"password\": \"x\"}}}");
    fclose(f);
    /* only this file: none of the user's own (this process is the test's alone) */
    setenv("REGISTRY_AUTH_FILE", path, 1);
    setenv("HOME", dir, 1);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("DOCKER_CONFIG");

    s = open_url("oci://127.0.0.1:2/ns", &err);
    assert_non_null(s);
    assert_string_equal(glarex__store_registry_identity(s),
                        "registry http://127.0.0.1:2/ns user=anonymous");
    glarex_store_free(s);
    s = open_url("oci://alice:pw@127.0.0.1:2/ns/", &err);
    assert_string_equal(glarex__store_registry_identity(s),
                        "registry http://127.0.0.1:2/ns user=alice");
    glarex_store_free(s);
    s = open_url("oci://127.0.0.1:1/ns", &err);
    assert_string_equal(glarex__store_registry_identity(s),
                        "registry http://127.0.0.1:1/ns user=carol");
    glarex_store_free(s);
    /* HTTPS unless loopback or oci+http; the key's scheme and path are ignored */
    s = open_url("oci://reg.example:5000/team", &err);
    assert_string_equal(glarex__store_registry_identity(s),
                        "registry https://reg.example:5000/team user=bob");
    glarex_store_free(s);
    s = open_url("oci+http://reg.example:5000/team", &err);
    assert_string_equal(glarex__store_registry_identity(s),
                        "registry http://reg.example:5000/team user=bob");
    glarex_store_free(s);

    f = fopen(path, "w");
    fprintf(f, "{\"auths\": ");
    fclose(f);
    assert_null(open_url("oci://127.0.0.1:1/ns", &err));
    assert_int_equal(err.code, GLAREX_EINVALID);
    assert_non_null(strstr(err.message, path));

    unsetenv("REGISTRY_AUTH_FILE");
    unlink(path);
    rmdir(dir);
}

static void expect_create_error(glarex_store *s, const char *fields, int code,
                                const char *words)
{
    json_t *f = json_loads(fields, 0, NULL), *out = NULL;
    glarex_error err;
    assert_non_null(f);
    assert_int_equal(glarex_store_create(&out, s, "workflows", f, &err), code);
    assert_null(out);
    if (!strstr(err.message, words))
        fail_msg("%s: '%s' not in: %s", fields, words, err.message);
    json_decref(f);
}

static void test_store_oci__create_checks_fields_before_any_request(void **state)
{
    glarex_error err;
    glarex_store *s = open_url("oci://127.0.0.1:1/ns", &err);
    (void)state;

    assert_non_null(s);
    expect_create_error(s, "{\"name\": \"Upper\"}", GLAREX_EINVALID,
                        "cannot name a registry repository");
    expect_create_error(s, "{\"name\": \"a/b\"}", GLAREX_EINVALID,
                        "cannot name a registry repository");
    expect_create_error(s, "{}", GLAREX_EINVALID, "cannot name a registry repository");
    expect_create_error(s, "{\"name\": \"x\", \"version\": 1}", GLAREX_EINVALID,
                        "must be text");
    expect_create_error(s, "{\"name\": \"x\", \"version\": \"abc\"}", GLAREX_EINVALID,
                        "Field: version");
    expect_create_error(s, "{\"name\": \"x\", \"tags\": [1]}", GLAREX_EINVALID,
                        "tags must be a list of text");
    expect_create_error(s, "{\"name\": \"x\", \"metadata\": {\"k\": 1}}", GLAREX_EINVALID,
                        "metadata 'k' must be text");
    expect_create_error(s, "{\"name\": \"x\", \"visibility\": \"public\"}",
                        GLAREX_EINVALID, "cannot set 'visibility'");
    expect_create_error(s, "{\"name\": \"x\"}", GLAREX_ENETWORK,
                        "GET the manifest of ns/x:0.0.0"); /* checked: then asked */
    {
        json_t *out = NULL, *none = json_object();
        assert_int_equal(glarex_store_create(&out, s, "images", none, &err),
                         GLAREX_ENOTFOUND);
        json_decref(none);
    }
    glarex_store_free(s);
}

static void test_store_oci__list_refuses_what_it_cannot_filter(void **state)
{
    glarex_filter tag = {"tags", NULL, "a"};
    glarex_filter like = {"name", "like", "a%"};
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_error err;
    json_t *out = NULL;
    glarex_store *s = open_url("oci://127.0.0.1:1/ns", &err);
    (void)state;

    lo.nfilters = 1;
    lo.filters = &tag;
    assert_int_equal(glarex_store_list(&out, s, "workflows", &lo, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "cannot filter by tags"));
    lo.filters = &like;
    assert_int_equal(glarex_store_list(&out, s, "workflows", &lo, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "name with like"));
    lo.nfilters = 0;
    lo.sort = "owner:asc";
    assert_int_equal(glarex_store_list(&out, s, "workflows", &lo, &err), GLAREX_EINVALID);
    assert_non_null(strstr(err.message, "cannot sort by 'owner:asc'"));
    assert_null(out);
    glarex_store_free(s);
}

static void test_store_oci__ids_that_cannot_be_ours_are_not_found_at_once(void **state)
{
    static const char *const ids[] = {"", "x", "0000000-0000-8000-8000-000000000000"};
    glarex_error err;
    glarex_store *s = open_url("oci://127.0.0.1:1/ns", &err);
    (void)state;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        json_t *out = NULL;
        assert_int_equal(glarex_store_get(&out, s, "workflows", ids[i], &err),
                         GLAREX_ENOTFOUND);
        assert_null(out);
    }
    glarex_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_oci__urls),
        cmocka_unit_test(test_store_oci__identity_names_registry_namespace_and_user),
        cmocka_unit_test(test_store_oci__create_checks_fields_before_any_request),
        cmocka_unit_test(test_store_oci__list_refuses_what_it_cannot_filter),
        cmocka_unit_test(test_store_oci__ids_that_cannot_be_ours_are_not_found_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
