/* The YAML reader: glarex__yaml_to_json on the input; what it accepts must be JSON
 * that jansson can write out. */
#include "fuzz_util.h"
#include "src/yaml_json.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL;
    glarex_error err;

    if (glarex__yaml_to_json(&doc, (const char *)data, size, "fuzz.yaml", &err) == 0) {
        char *text = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
            fuzz_fail(NULL, "an accepted document cannot be written as JSON");
        free(text);
    } else if (doc) {
        fuzz_fail(NULL, "a failed parse left a value behind: %s", err.message);
    }
    json_decref(doc);
    return 0;
}
