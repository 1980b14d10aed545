/* Native versions of the evaluator's costliest Mistral functions (src/eval_native.c). */
#ifndef GLAREX_EVAL_NATIVE_H
#define GLAREX_EVAL_NATIVE_H

#include <lua.h>
#include <stddef.h>

/* Python's repr() of a float: the shortest digits that read back as `x`, in
 * exponent form below 1e-4 and from 1e16 on, "-0.0", "inf", "nan". Writes at most
 * GLAREX__FLOAT_REPR_MAX bytes, NUL included, and returns the length. */
#define GLAREX__FLOAT_REPR_MAX 32
size_t glarex__float_repr(double x, char *buf);

/* Pushes the table of native functions for lua/json.lua and lua/pyfmt.lua:
 * float_repr, json_dump, json_parse, yaml_dump, repr, yaml_parse. Their work is linear in their
 * input and output (yaml_dump sorts each dict's keys) and allocates only through
 * the Lua state; every NATIVE_PERIOD values they
 * call `charge` (a C function of the host) with that count, which raises once an
 * evaluation limit has passed. */
void glarex__native_push(lua_State *L, lua_CFunction charge);

#endif
