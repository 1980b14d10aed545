/*
 * Test helper for the example and install tests: stores one active workflow artifact.
 *
 *   mkstore STORE_URL NAME VERSION [KEY TEXT]...
 *
 * Each KEY becomes a resource holding TEXT. Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

#define MAX_RESOURCES 16

int main(int argc, char **argv)
{
    test_resource res[MAX_RESOURCES];
    size_t n = 0;

    if (argc < 4 || (argc - 4) % 2 != 0 || (argc - 4) / 2 > MAX_RESOURCES) {
        fprintf(stderr, "usage: mkstore STORE_URL NAME VERSION [KEY TEXT]...\n");
        return 2;
    }
    for (int i = 4; i < argc; i += 2, n++) {
        res[n].key = argv[i];
        res[n].data = argv[i + 1];
        res[n].size = strlen(argv[i + 1]);
    }
    return test_store_artifact(NULL, argv[1], NULL, argv[2], argv[3], res, n, 1) == 0 ? 0 : 1;
}
