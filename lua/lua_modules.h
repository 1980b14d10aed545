/* The evaluator's Lua modules, embedded at build time by lua/embed.c. */
#ifndef GLAREX_LUA_MODULES_H
#define GLAREX_LUA_MODULES_H

#include <stddef.h>

typedef struct glarex__lua_module {
    const char *name;   /* module name, e.g. "runtime" */
    const char *source; /* Lua source text */
    size_t size;
} glarex__lua_module;

/* In load order, ended by an entry whose name is NULL. */
extern const glarex__lua_module glarex__lua_modules[];

#endif
