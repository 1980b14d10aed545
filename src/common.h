/* Internal helpers shared by every module: error reporting and argument checks. */
#ifndef GLAREX_COMMON_H
#define GLAREX_COMMON_H

#include "config.h"
#include "glarex.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define GLAREX_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GLAREX_PRINTF(f, a)
#endif

/*
 * Records an error and returns `code`, so failure points read
 * `return glarex__error_set(err, GLAREX_EINVALID, "...", ...);`.
 * `err` may be NULL. The message is cut to fit; it never allocates.
 */
int glarex__error_set(glarex_error *err, int code, const char *fmt, ...) GLAREX_PRINTF(3, 4);
int glarex__error_vset(glarex_error *err, int code, const char *fmt, va_list ap)
    GLAREX_PRINTF(3, 0);

/* Records where in an input an error happened (after glarex__error_set). */
void glarex__error_at(glarex_error *err, const char *source, size_t offset, int line,
                      int column);

/* Public entry points start with this: the caller's struct may hold anything. */
#define GLAREX_ERROR_RESET(err)                                                          \
    do {                                                                                 \
        if (err)                                                                         \
            glarex_error_clear(err);                                                     \
    } while (0)

/* A programming error by the caller: reported, never aborted on. */
#define GLAREX_ASSERT_ARG(err, expr)                                                     \
    do {                                                                                 \
        if (!(expr))                                                                     \
            return glarex__error_set((err), GLAREX_EINVALID, "invalid argument: '%s'",   \
                                     #expr);                                             \
    } while (0)

#define GLAREX_ENOMEM_SET(err) glarex__error_set((err), GLAREX_ENOMEM, "out of memory")

/* Copies a C string into a fixed buffer, always NUL-terminated; returns 0 if it fit. */
int glarex__strlcpy(char *dst, const char *src, size_t size);

/* strdup that accepts NULL (returns NULL) and reports allocation failure through *ok. */
char *glarex__strdup_opt(const char *s, int *ok);

#endif
