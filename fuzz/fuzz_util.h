/* Helpers shared by the libFuzzer harnesses (see docs/fuzzing.md). */
#ifndef GLAREX_FUZZ_UTIL_H
#define GLAREX_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The harness entry point libFuzzer calls; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* `size` bytes of `data` as a NUL-terminated string (new; aborts when out of memory).
 * Embedded NUL bytes stay: C callers see the text up to the first one. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* Splits `data` at NUL bytes into at most `max` parts, each a new NUL-terminated
 * string (the last part keeps any further NULs). Returns the number of parts (>= 1).
 * Release with fuzz_free_parts. */
size_t fuzz_split(char **parts, size_t max, const uint8_t *data, size_t size);

void fuzz_free_parts(char **parts, size_t n);

/* Reports a broken property of the code under test and aborts, so libFuzzer saves the
 * input. `input` (may be NULL) is printed after the message. */
void fuzz_fail(const char *input, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
