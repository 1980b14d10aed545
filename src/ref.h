/* References: parsing lives in ref.c; this is what the resolver needs beyond glarex.h. */
#ifndef GLAREX_SRC_REF_H
#define GLAREX_SRC_REF_H

#include "common.h"

#define GLAREX__REF_MAX_FILTERS 4

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

/* The Glare filter operator of a range bound ("gt", "gte", "lt", "lte"), or NULL. */
const char *glarex__ref_op_name(glarex_ref_op op);

#endif
