/*
 * The version parser: glarex__version_normalize in both modes on the first NUL-separated
 * part, and glarex__version_compare on two versions Glare would store. Properties:
 * normalising is idempotent, a STRICT result is also the COERCE result, and the order
 * is antisymmetric and reflexive.
 */
#include "fuzz_util.h"
#include "src/version.h"

#include <stdlib.h>
#include <string.h>

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

/* The COERCE normal form of `text` (new), or NULL when Glare refuses it. */
static char *normalize(const char *text, glarex__version_mode mode)
{
    size_t len = strlen(text), size = GLAREX__VERSION_NORMAL_SIZE(len), where = 0;
    char *out = malloc(size);

    if (!out)
        abort();
    if (glarex__version_normalize(out, size, text, len, mode, &where) !=
        GLAREX__VERSION_OK) {
        if (where > len)
            fuzz_fail(text, "error offset %zu beyond the input's %zu bytes", where, len);
        free(out);
        return NULL;
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *parts[2];
    size_t n = fuzz_split(parts, 2, data, size);
    char *a = normalize(parts[0], GLAREX__VERSION_COERCE);
    char *strict = normalize(parts[0], GLAREX__VERSION_STRICT);

    if (strict && (!a || strcmp(a, strict) != 0))
        fuzz_fail(parts[0], "STRICT gives '%s', COERCE '%s'", strict,
                  a ? a : "(refused)");
    if (a) {
        char *again = normalize(a, GLAREX__VERSION_COERCE);
        if (!again || strcmp(a, again) != 0)
            fuzz_fail(parts[0], "normal form '%s' normalises to '%s'", a,
                      again ? again : "(refused)");
        if (glarex__version_compare(a, a) != 0)
            fuzz_fail(parts[0], "'%s' does not equal itself", a);
        free(again);
    }
    if (a && n == 2) {
        char *b = normalize(parts[1], GLAREX__VERSION_COERCE);
        if (b &&
            sign(glarex__version_compare(a, b)) != -sign(glarex__version_compare(b, a)))
            fuzz_fail(parts[0], "order of '%s' and '%s' is not antisymmetric", a, b);
        free(b);
    }
    free(strict);
    free(a);
    fuzz_free_parts(parts, n);
    return 0;
}
