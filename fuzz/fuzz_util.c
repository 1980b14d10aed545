/* Helpers shared by the libFuzzer harnesses. */
#include "fuzz_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t fuzz_split(char **parts, size_t max, const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n + 1 < max) {
        const uint8_t *nul = memchr(data, '\0', size);
        if (!nul)
            break;
        parts[n++] = fuzz_cstr(data, (size_t)(nul - data));
        size -= (size_t)(nul - data) + 1;
        data = nul + 1;
    }
    parts[n++] = fuzz_cstr(data, size);
    return n;
}

void fuzz_free_parts(char **parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
}

void fuzz_fail(const char *input, const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (input)
        fprintf(stderr, "\ninput: %s", input);
    fputc('\n', stderr);
    abort();
}
