/*
 * Semantic versions exactly as Glare handles them: normalised with Python's
 * semantic_version.Version.coerce, limited as glare/common/semver_db.py limits them,
 * ordered by semantic_version's precedence rules. See docs/references.md.
 */
#ifndef GLAREX_SRC_VERSION_H
#define GLAREX_SRC_VERSION_H

#include <stddef.h>

/* Glare's storage limits (semver_db.py): larger values are its InvalidVersion. */
#define GLAREX__VERSION_MAX_COMPONENT 65535
#define GLAREX__VERSION_MAX_PRERELEASE_DIGITS 6

/* Output room glarex__version_normalize needs for `len` input bytes, NUL included. */
#define GLAREX__VERSION_NORMAL_SIZE(len) ((len) + 8)

typedef enum glarex__version_status {
    GLAREX__VERSION_OK = 0,
    GLAREX__VERSION_NO_NUMBER,    /* does not start with a digit */
    GLAREX__VERSION_SYNTAX,       /* not a version (strict), or refused by Version() */
    GLAREX__VERSION_LEADING_ZERO, /* numeric prerelease identifier like "01" */
    GLAREX__VERSION_TOO_LARGE,    /* major, minor or patch above 65535 */
    GLAREX__VERSION_PRERELEASE_TOO_LONG, /* numeric prerelease identifier of 7+ digits */
    GLAREX__VERSION_NOSPACE              /* `outsize` below GLAREX__VERSION_NORMAL_SIZE */
} glarex__version_status;

typedef enum glarex__version_mode {
    /* Whatever Glare accepts: Version.coerce("1.x") is "1.0.0+x", "1.0beta" is
     * "1.0.0-beta". Use for versions that come from a server or a user's upload. */
    GLAREX__VERSION_COERCE = 0,
    /* Only text that already is semver, partial versions allowed ("1", "1.0",
     * "1.0.0-rc.1+b2"), then normalised like COERCE. Use for references, where
     * "1.x" is a mistake, not a build label. */
    GLAREX__VERSION_STRICT = 1
} glarex__version_mode;

/*
 * Normalises `len` bytes of `text` into `out` (NUL-terminated). On failure returns the
 * reason and, when `where` is not NULL, stores the byte offset in `text` of the
 * offending part: the first byte that breaks the grammar (STRICT), the component or
 * identifier at fault, or 0 (NO_NUMBER). In COERCE mode offsets inside the text that
 * follows the numbers are approximate when it holds non-ASCII bytes.
 */
glarex__version_status glarex__version_normalize(char *out, size_t outsize,
                                                 const char *text, size_t len,
                                                 glarex__version_mode mode,
                                                 size_t *where);

/* A short description of a failure ("lacks a numerical component", ...). */
const char *glarex__version_status_text(glarex__version_status status);

/*
 * Orders two *normalised* versions (as glarex__version_normalize or a Glare server
 * returns them): <0, 0 or >0. Build metadata is ignored; a prerelease sorts before its
 * release; numeric prerelease identifiers compare numerically, others by bytes, numeric
 * before alphanumeric, and a shorter identifier list first when one is a prefix.
 */
int glarex__version_compare(const char *a, const char *b);

#endif
