/*
 * Build tool: turns the evaluator's Lua modules into a C source file, so the library
 * carries them and reads nothing from disk at run time.
 *
 *   embed OUTPUT.c NAME=FILE.lua ...
 *
 * Modules are written in the order given, which is the order they are loaded in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int embed_one(FILE *out, const char *name, const char *path)
{
    FILE *in = fopen(path, "rb");
    int c, n = 0;

    if (!in) {
        perror(path);
        return -1;
    }
    fprintf(out, "static const char module_%s[] = {", name);
    while ((c = getc(in)) != EOF)
        fprintf(out, "%s%d,", n++ % 24 ? "" : "\n    ", c);
    fprintf(out, "\n    0};\n\n");
    fclose(in);
    return 0;
}

int main(int argc, char **argv)
{
    FILE *out;

    if (argc < 3) {
        fprintf(stderr, "usage: embed OUTPUT.c NAME=FILE.lua ...\n");
        return 2;
    }
    out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fprintf(out, "/* Generated from the lua/ modules by lua/embed.c: do not edit. */\n");
    fprintf(out, "#include \"lua_modules.h\"\n\n");
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "embed: expected NAME=FILE, got '%s'\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        if (embed_one(out, argv[i], eq + 1) < 0)
            return 1;
    }
    fprintf(out, "const glarex__lua_module glarex__lua_modules[] = {\n");
    for (int i = 2; i < argc; i++)
        fprintf(out, "    {\"%s\", module_%s, sizeof(module_%s) - 1},\n", argv[i], argv[i],
                argv[i]);
    fprintf(out, "    {NULL, NULL, 0}};\n");
    return fclose(out) == 0 ? 0 : 1;
}
