/* Status texts and the caller-owned error struct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "src/common.h"

static void test_error__strerror_covers_every_code(void **state)
{
    (void)state;
    assert_string_equal(glarex_strerror(GLAREX_OK), "success");
    assert_string_equal(glarex_strerror(GLAREX_ENOTFOUND), "not found");
    assert_string_equal(glarex_strerror(GLAREX_EBINARY), "content is not UTF-8 text");
    for (int code = GLAREX_OK; code >= GLAREX_EBINARY; code--)
        assert_string_not_equal(glarex_strerror(code), "unknown status");
    assert_string_equal(glarex_strerror(GLAREX_EBINARY - 1), "unknown status");
    assert_string_equal(glarex_strerror(5), "unknown status");
}

static void test_error__set_formats_and_returns_code(void **state)
{
    glarex_error err;
    (void)state;
    memset(&err, 0x5a, sizeof(err)); /* a caller's struct may hold anything */
    assert_int_equal(glarex__error_set(&err, GLAREX_EINVALID, "bad '%s' at %d", "x", 3),
                     GLAREX_EINVALID);
    assert_int_equal(err.code, GLAREX_EINVALID);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.message, "bad 'x' at 3");
    assert_string_equal(err.source, "");
    glarex__error_at(&err, "glare://a", 4, 1, 5);
    assert_string_equal(err.source, "glare://a");
    assert_int_equal(err.column, 5);
    assert_int_equal(err.offset, 4);
}

static void test_error__null_error_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(glarex__error_set(NULL, GLAREX_EIO, "x"), GLAREX_EIO);
    glarex__error_at(NULL, "x", 0, 0, 0);
    glarex_error_clear(NULL);
}

static void test_error__long_messages_are_cut(void **state)
{
    glarex_error err;
    char big[2000];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    glarex__error_set(&err, GLAREX_ERROR, "%s", big);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    glarex__error_at(&err, big, 0, 0, 0);
    assert_int_equal(strlen(err.source), sizeof(err.source) - 1);
}

static void test_error__buf_dispose_resets(void **state)
{
    glarex_buf buf = GLAREX_BUF_INIT;
    (void)state;
    buf.ptr = strdup("abc");
    buf.size = 3;
    glarex_buf_dispose(&buf);
    assert_null(buf.ptr);
    assert_int_equal(buf.size, 0);
    glarex_buf_dispose(&buf);
    glarex_buf_dispose(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error__strerror_covers_every_code),
        cmocka_unit_test(test_error__set_formats_and_returns_code),
        cmocka_unit_test(test_error__null_error_is_allowed),
        cmocka_unit_test(test_error__long_messages_are_cut),
        cmocka_unit_test(test_error__buf_dispose_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
