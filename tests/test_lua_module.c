/* Loads the Lua module into a plain lua5.4 interpreter and runs tests/lua/test_module.lua
 * against a real local store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int main(void)
{
    const char *src = getenv("GLAREX_TEST_SOURCE_DIR");
    const char *build = getenv("GLAREX_TEST_BUILD_DIR");
    const char *lua = getenv("GLAREX_TEST_LUA");
    const test_resource res[] = {{"heal.sh", "#!/bin/sh\necho healing\n", 23}};
    const test_resource a[] = {{"run.sh", "A bytes", 7}}, b[] = {{"run.sh", "B bytes", 7}};
    test_server srv;
    char dir[256], url[300], cmd[2048];
    int rc;

    if (!src || !build || !lua) {
        fprintf(stderr, "GLAREX_TEST_SOURCE_DIR, GLAREX_TEST_BUILD_DIR, GLAREX_TEST_LUA unset\n");
        return 1;
    }
    if (test_mkdtemp(dir, sizeof(dir), "luamod") < 0)
        return 1;
    snprintf(url, sizeof(url), "file://%s/store", dir);
    if (test_store_artifact(NULL, url, NULL, "heal_vms", "1.0", res, 1, 1) < 0)
        return 1;
    /* two projects with private artifacts of one name and version, for requests */
    if (test_server_start(&srv, NULL) < 0 ||
        test_store_artifact(NULL, srv.url, "alice:projA:member", "shared", "1.0", a, 1, 1) < 0 ||
        test_store_artifact(NULL, srv.url, "bob:projB:member", "shared", "1.0", b, 1, 1) < 0)
        return 1;
    const char *preload = getenv("GLAREX_TEST_PRELOAD");
    snprintf(cmd, sizeof(cmd),
             "LD_PRELOAD='%s' LUA_CPATH='%s/src/module/?.so' '%s' '%s/tests/lua/test_module.lua' "
             "'%s' '%s/cache' '%s'",
             preload ? preload : "", build, lua, src, url, dir, srv.url);
    rc = system(cmd);
    test_server_stop(&srv);
    test_rm_rf(dir);
    return rc == 0 ? 0 : 1;
}
