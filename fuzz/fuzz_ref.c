/*
 * The reference parser: glarex_ref_parse on the input, and glarex_ref_from_args when
 * the input holds three NUL-separated parts (name, version, resource; an empty part
 * is NULL). A parsed reference must format to text that parses again into a reference
 * with the same canonical text, and must map to a store query.
 */
#include "fuzz_util.h"
#include "src/ref.h"

#include <stdlib.h>
#include <string.h>

static void check(const glarex_ref *ref, const char *input)
{
    glarex_buf text = GLAREX_BUF_INIT, again = GLAREX_BUF_INIT;
    glarex__ref_query q;
    glarex_ref *reparsed = NULL;
    glarex_error err;

    if (glarex_ref_format(&text, ref) < 0)
        fuzz_fail(input, "glarex_ref_format failed");
    if (text.size > GLAREX_REF_MAX_LENGTH)
        fuzz_fail(input, "the canonical text of a parsed reference is %zu bytes, over the "
                         "limit", text.size);
    if (glarex_ref_parse(&reparsed, text.ptr, &err) < 0)
        fuzz_fail(input, "the canonical text '%s' does not parse: %s", text.ptr,
                  err.message);
    if (glarex_ref_format(&again, reparsed) < 0 || strcmp(text.ptr, again.ptr) != 0)
        fuzz_fail(input, "canonical text changes on a round trip: '%s' then '%s'",
                  text.ptr, again.ptr ? again.ptr : "(none)");
    if (glarex__ref_filters(&q, ref) < 0)
        fuzz_fail(input, "no store query for '%s'", text.ptr);
    if (!glarex_ref_field(ref))
        fuzz_fail(input, "a parsed reference has no field");
    glarex_ref_free(reparsed);
    glarex_buf_dispose(&text);
    glarex_buf_dispose(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *parts[3];
    size_t n = fuzz_split(parts, 3, data, size);
    glarex_ref *ref = NULL;
    glarex_error err;

    if (glarex_ref_parse(&ref, parts[0], &err) == 0)
        check(ref, parts[0]);
    glarex_ref_free(ref);
    ref = NULL;
    if (n == 3 && glarex_ref_from_args(&ref, parts[0], *parts[1] ? parts[1] : NULL,
                                       *parts[2] ? parts[2] : NULL, &err) == 0)
        check(ref, parts[0]);
    glarex_ref_free(ref);
    fuzz_free_parts(parts, n);
    return 0;
}
