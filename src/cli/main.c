/* The glarex command. */
#include <glarex.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("glarex %s\n", glarex_version());
        return 0;
    }
    fprintf(stderr, "usage: glarex --version\n");
    return 2;
}
