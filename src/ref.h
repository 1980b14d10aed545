/* References: parsing lives in ref.c; this is what the resolver needs beyond glarex.h. */
#ifndef GLAREX_SRC_REF_H
#define GLAREX_SRC_REF_H

#include "common.h"

/* A reference needs at most four; the resolver adds one (as-of time). */
#define GLAREX__REF_MAX_FILTERS 5

/*
 * How to find the artifacts a reference can name on a Glare server (or a store that
 * speaks its model). Every string is borrowed from the reference or static.
 *
 *   id      GLAREX_REF_ID: GET /artifacts/{type}/{id}; no filters.
 *   filters otherwise: the list filters, all applied (AND), always with an explicit
 *           operator: name=eq:N, plus version=eq:V (exact), version=gt|gte:L and
 *           version=lt|lte:U (range), status=eq:active (latest, range, sha256).
 *   latest  nonzero for GLAREX_REF_LATEST: add version=latest.
 *   sort    "version:desc" when several versions can match (range, sha256): the
 *           resolver takes the first candidate that fits, highest version first.
 */
typedef struct glarex__ref_query {
    const char *id;
    glarex_filter filters[GLAREX__REF_MAX_FILTERS];
    size_t nfilters;
    int latest;
    const char *sort;
} glarex__ref_query;

/* Fills `out` for `ref`. Returns 0, or GLAREX_EINVALID for NULL arguments. */
int glarex__ref_filters(glarex__ref_query *out, const glarex_ref *ref);

/*
 * Self references: the one argument of glare(text) may name a resource of the running
 * workflow's own artifact instead of a URI: a plain key ("heal.sh", taken literally),
 * "glare://KEY" (no '/', '?', '#', '@', '{', '}' or ',' after the scheme) or
 * "glare:///KEY" (percent-encoded, like any URI). For those, writes the equivalent
 * URI naming the workflow `wf_name` at `wf_version` (NULL: latest) into `out` (new)
 * and returns 1. Returns 0 for an ordinary glare:// URI (out untouched), and
 * GLAREX_EINVALID when `text` is neither, or when it is a self reference but
 * `wf_name` is NULL (no workflow is known).
 */
int glarex__ref_self_uri(glarex_buf *out, const char *text, const char *wf_name,
                         const char *wf_version, glarex_error *err);

/* The Glare filter operator of a range bound ("gt", "gte", "lt", "lte"), or NULL. */
const char *glarex__ref_op_name(glarex_ref_op op);

#endif
