/*
 * Test helper for the example and install tests: stores one active workflow artifact.
 *
 *   mkstore [--replace] STORE_URL NAME VERSION [KEY TEXT]...
 *
 * Each KEY becomes a resource holding TEXT. --replace deletes the artifact of that name
 * and version first. Exit status 0, 1 with a message, or 2 on wrong arguments.
 */
#include <stdio.h>
#include <string.h>

#include <glarex.h>

#include "server.h"

#define MAX_RESOURCES 16

static int delete_artifact(const char *url, const char *name, const char *version)
{
    glarex_store_options so = GLAREX_STORE_OPTIONS_INIT;
    glarex_list_options lo = GLAREX_LIST_OPTIONS_INIT;
    glarex_filter filters[] = {{"name", "eq", name}, {"version", "eq", version}};
    glarex_store *store = NULL;
    json_t *arts = NULL, *art;
    glarex_error err;
    size_t i;
    int rc = -1;

    so.url = url;
    lo.filters = filters;
    lo.nfilters = 2;
    if (glarex_store_open(&store, &so, &err) < 0 ||
        glarex_store_list(&arts, store, "workflows", &lo, &err) < 0)
        goto done;
    json_array_foreach (arts, i, art) {
        const char *id = json_string_value(json_object_get(art, "id"));
        if (glarex_store_delete(store, "workflows", id, &err) < 0)
            goto done;
    }
    rc = 0;
done:
    if (rc < 0)
        fprintf(stderr, "mkstore: %s\n", err.message);
    json_decref(arts);
    glarex_store_free(store);
    return rc;
}

int main(int argc, char **argv)
{
    test_resource res[MAX_RESOURCES];
    size_t n = 0;
    int replace = argc > 1 && strcmp(argv[1], "--replace") == 0;

    argc -= replace;
    argv += replace;
    if (argc < 4 || (argc - 4) % 2 != 0 || (argc - 4) / 2 > MAX_RESOURCES) {
        fprintf(stderr, "usage: mkstore [--replace] STORE_URL NAME VERSION [KEY TEXT]...\n");
        return 2;
    }
    for (int i = 4; i < argc; i += 2, n++) {
        res[n].key = argv[i];
        res[n].data = argv[i + 1];
        res[n].size = strlen(argv[i + 1]);
    }
    if (replace && delete_artifact(argv[1], argv[2], argv[3]) < 0)
        return 1;
    return test_store_artifact(NULL, argv[1], NULL, argv[2], argv[3], res, n, 1) == 0 ? 0 : 1;
}
