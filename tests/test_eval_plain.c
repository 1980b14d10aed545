/*
 * Plain text (no expression Mistral detects) is returned as it is, decided before a
 * per-call context is converted, exactly as lua/template.lua decides it: every string
 * of up to 6 characters over the delimiters' alphabet, against a transliteration of
 * its findall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glarex.h"

/* lua/template.lua findall: whether a non-greedy open(.*?)close without newline matches */
static int lua_has_match(const char *s, const char *open, const char *close)
{
    size_t n = strlen(s);
    for (size_t a = 0; a + 1 < n; a++) {
        if (s[a] != open[0] || s[a + 1] != open[1])
            continue;
        size_t b, nl;
        for (b = a + 2; b + 1 < n && !(s[b] == close[0] && s[b + 1] == close[1]); b++)
            ;
        if (b + 1 >= n)
            continue;
        for (nl = a + 2; nl < n && s[nl] != '\n'; nl++)
            ;
        if (nl >= n || nl > b)
            return 1;
    }
    return 0;
}

static int lua_plain(const char *s)
{
    return !lua_has_match(s, "{{", "}}") && !lua_has_match(s, "{%", "%}") &&
           !lua_has_match(s, "<%", "%>");
}

/* [[[...]]] nested deeper than the evaluator converts */
static json_t *too_deep(void)
{
    json_t *v = json_array();
    for (int i = 0; i < 300; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

static void test_plain__text_is_returned_before_the_context_is_read(void **state)
{
    glarex_eval *ev = NULL;
    glarex_error err;
    json_t *ctx = too_deep(), *got = NULL;
    const char *plain[] = {"<% $.a", "100%> done", "<%\n$.a %>", "{{\n_.a }}", "{% x\n%}",
                           "{%}", "<%>", NULL};
    (void)state;

    assert_int_equal(glarex_eval_new(&ev, NULL, NULL, &err), 0);
    for (int i = 0; plain[i]; i++) {
        if (glarex_eval_string(&got, ev, plain[i], ctx, &err) < 0)
            fail_msg("%s: %s", plain[i], err.message);
        assert_string_equal(json_string_value(got), plain[i]);
        json_decref(got);
    }
    /* an expression reads the context, and its conversion fails */
    assert_true(glarex_eval_string(&got, ev, "<% 1 %>", ctx, &err) < 0);
    assert_non_null(strstr(err.message, "nested deeper"));
    json_decref(ctx);
    glarex_eval_free(ev);
}

static void test_plain__detection_is_the_templates(void **state)
{
    static const char alphabet[] = "<%>{}\nx";
    const size_t k = sizeof(alphabet) - 1;
    glarex_eval *ev = NULL;
    glarex_error err;
    json_t *ctx = too_deep();
    char s[8];
    size_t checked = 0;
    (void)state;

    assert_int_equal(glarex_eval_new(&ev, NULL, NULL, &err), 0);
    for (int len = 1; len <= 6; len++) {
        size_t total = 1;
        for (int i = 0; i < len; i++)
            total *= k;
        for (size_t code = 0; code < total; code++) {
            size_t c = code;
            for (int i = 0; i < len; i++, c /= k)
                s[i] = alphabet[c % k];
            s[len] = '\0';
            if (!strstr(s, "<%") && !strstr(s, "{{") && !strstr(s, "{%"))
                continue; /* cannot match any detector */
            json_t *got = NULL;
            int rc = glarex_eval_string(&got, ev, s, ctx, &err);
            /* plain: the text itself; else the context is converted, which fails */
            int plain = rc == 0 && json_is_string(got) && strcmp(json_string_value(got), s) == 0;
            if (plain != lua_plain(s))
                fail_msg("\"%s\": plain %d, lua/template.lua says %d (%s)", s, plain,
                         lua_plain(s), rc < 0 ? err.message : "");
            json_decref(got);
            checked++;
        }
    }
    assert_true(checked > 10000);
    json_decref(ctx);
    glarex_eval_free(ev);
}

/* Openings that share one close past a newline: a scan that went back for each would
 * take (n / 2)^2 steps. */
static void test_plain__detection_is_linear(void **state)
{
    const char *const pairs[][2] = {{"<%", "%>"}, {"{{", "}}"}, {"{%", "%}"}};
    const size_t n = 4 << 20;
    char *s = malloc(n + 16);
    glarex_eval *ev = NULL;
    glarex_error err;
    json_t *got = NULL;
    (void)state;

    assert_non_null(s);
    assert_int_equal(glarex_eval_new(&ev, NULL, NULL, &err), 0);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i += 2)
            memcpy(s + i, pairs[k][0], 2);
        strcpy(s + n, "\n");
        strcat(s + n, pairs[k][1]);
        assert_int_equal(glarex_eval_string(&got, ev, s, NULL, &err), 0);
        assert_string_equal(json_string_value(got), s);
        json_decref(got);
    }
    free(s);
    glarex_eval_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain__text_is_returned_before_the_context_is_read),
        cmocka_unit_test(test_plain__detection_is_the_templates),
        cmocka_unit_test(test_plain__detection_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
