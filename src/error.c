/* Status texts and the caller-owned error struct. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_texts[] = {
    "success",                         /* GLAREX_OK */
    "error",                           /* GLAREX_ERROR */
    "not found",                       /* GLAREX_ENOTFOUND */
    "invalid input",                   /* GLAREX_EINVALID */
    "unsupported",                     /* GLAREX_EUNSUPPORTED */
    "checksum mismatch",               /* GLAREX_ECHECKSUM */
    "HTTP error",                      /* GLAREX_EHTTP */
    "timed out",                       /* GLAREX_ETIMEOUT */
    "out of memory",                   /* GLAREX_ENOMEM */
    "conflict",                        /* GLAREX_ECONFLICT */
    "forbidden",                       /* GLAREX_EFORBIDDEN */
    "authentication required",         /* GLAREX_EAUTH */
    "too large",                       /* GLAREX_ETOOBIG */
    "network error",                   /* GLAREX_ENETWORK */
    "ambiguous reference",             /* GLAREX_EAMBIGUOUS */
    "offline and not cached",          /* GLAREX_EOFFLINE */
    "malformed server response",       /* GLAREX_EPROTOCOL */
    "I/O error",                       /* GLAREX_EIO */
    "expression syntax error",         /* GLAREX_ESYNTAX */
    "expression evaluation error",     /* GLAREX_EEVAL */
    "evaluation memory limit reached", /* GLAREX_EMEMLIMIT */
    "evaluation instruction limit reached", /* GLAREX_EINSNLIMIT */
    "evaluation deadline passed",      /* GLAREX_EDEADLINE */
    "content is not UTF-8 text",       /* GLAREX_EBINARY */
};

const char *glarex_strerror(int code)
{
    size_t i = code <= 0 ? (size_t)-code : 0;
    if (code > 0 || i >= sizeof(status_texts) / sizeof(status_texts[0]))
        return "unknown status";
    return status_texts[i];
}

const char *glarex_version(void)
{
    return GLAREX_VERSION;
}

void glarex_error_clear(glarex_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int glarex__error_vset(glarex_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        glarex_error_clear(err);
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
    }
    return code;
}

int glarex__error_set(glarex_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    glarex__error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void glarex__error_at(glarex_error *err, const char *source, size_t offset, int line,
                      int column)
{
    if (!err)
        return;
    glarex__strlcpy(err->source, source ? source : "", sizeof(err->source));
    err->offset = offset;
    err->line = line;
    err->column = column;
}

int glarex__strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size == 0)
        return -1;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

char *glarex__strdup_opt(const char *s, int *ok)
{
    char *copy;
    if (!s)
        return NULL;
    copy = strdup(s);
    if (!copy)
        *ok = 0;
    return copy;
}

void glarex_buf_dispose(glarex_buf *buf)
{
    if (!buf)
        return;
    free(buf->ptr);
    buf->ptr = NULL;
    buf->size = 0;
}
