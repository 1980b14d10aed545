/* Compiled with -std=c11 -pedantic -Werror: the public header must stand alone. */
#include <glarex.h>

int main(void)
{
    glarex_error err;
    glarex_client_options opts = GLAREX_CLIENT_OPTIONS_INIT;
    glarex_buf buf = GLAREX_BUF_INIT;

    glarex_error_clear(&err);
    (void)opts;
    (void)buf;
    return glarex_strerror(GLAREX_OK)[0] == 's' ? 0 : 1;
}
