/* YAML text to JSON values, resolving scalars as PyYAML's safe_load does (YAML 1.1). */
#ifndef GLAREX_YAML_JSON_H
#define GLAREX_YAML_JSON_H

#include "glarex.h"

/*
 * Parses one YAML document (an empty stream is null) into `out` (new). `source` names
 * the input in error messages, which give line and column. What JSON cannot carry
 * (timestamps, non-string mapping keys, .inf/.nan, integers beyond 64 bits, merge keys,
 * recursive aliases, the tags !!set, !!omap, !!pairs and !!binary) is GLAREX_EUNSUPPORTED;
 * malformed YAML, and a tag yaml.safe_load has no constructor for, is GLAREX_EINVALID; aliases
 * that expand to more than MAX_EXPANDED_NODES or MAX_EXPANDED_BYTES (yaml_json.c) are
 * GLAREX_ETOOBIG.
 */
int glarex__yaml_to_json(json_t **out, const char *text, size_t len, const char *source,
                         glarex_error *err);

#endif
