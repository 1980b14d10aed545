/* Prints the size, member offsets and member sizes of the structures that the Mistral plugin
 * (contrib/mistral/glarex_mistral/_libglarex.py) mirrors with ctypes, as JSON, so
 * tests/contrib/test_contrib.py can compare them with the ctypes layout. */
#include <stddef.h>
#include <stdio.h>

#include <glarex.h>

static int nstructs, nfields;

static void begin(const char *name, size_t size)
{
    printf("%s\"%s\": {\"size\": %zu, \"fields\": [", nstructs++ ? ",\n" : "", name, size);
    nfields = 0;
}

static void field(const char *name, size_t offset, size_t size)
{
    printf("%s[\"%s\", %zu, %zu]", nfields++ ? ", " : "", name, offset, size);
}

static void end(void)
{
    printf("]}");
}

#define BEGIN(type) begin(#type, sizeof(type))
#define FIELD(type, m) field(#m, offsetof(type, m), sizeof(((type *)0)->m))
#define END() end()

int main(void)
{
    printf("{");

    BEGIN(glarex_error);
    FIELD(glarex_error, code);
    FIELD(glarex_error, http_status);
    FIELD(glarex_error, line);
    FIELD(glarex_error, column);
    FIELD(glarex_error, offset);
    FIELD(glarex_error, source);
    FIELD(glarex_error, message);
    END();

    BEGIN(glarex_client_options);
    FIELD(glarex_client_options, version);
    FIELD(glarex_client_options, url);
    FIELD(glarex_client_options, auth_token);
    FIELD(glarex_client_options, noauth_project);
    FIELD(glarex_client_options, noauth_user);
    FIELD(glarex_client_options, noauth_roles);
    FIELD(glarex_client_options, ca_file);
    FIELD(glarex_client_options, client_cert);
    FIELD(glarex_client_options, client_key);
    FIELD(glarex_client_options, insecure);
    FIELD(glarex_client_options, connect_timeout_ms);
    FIELD(glarex_client_options, total_timeout_ms);
    FIELD(glarex_client_options, stall_timeout_ms);
    FIELD(glarex_client_options, max_retries);
    FIELD(glarex_client_options, retry_base_ms);
    FIELD(glarex_client_options, retry_max_ms);
    FIELD(glarex_client_options, max_json_size);
    FIELD(glarex_client_options, max_download_size);
    FIELD(glarex_client_options, redirect_hosts);
    FIELD(glarex_client_options, allow_http_redirects);
    FIELD(glarex_client_options, trace);
    FIELD(glarex_client_options, trace_payload);
    END();

    BEGIN(glarex_store_options);
    FIELD(glarex_store_options, version);
    FIELD(glarex_store_options, url);
    FIELD(glarex_store_options, client);
    FIELD(glarex_store_options, max_blob_size);
    END();

    BEGIN(glarex_ctx_options);
    FIELD(glarex_ctx_options, version);
    FIELD(glarex_ctx_options, store);
    FIELD(glarex_ctx_options, type_name);
    FIELD(glarex_ctx_options, workflow_field);
    FIELD(glarex_ctx_options, resources_field);
    FIELD(glarex_ctx_options, cache_dir);
    FIELD(glarex_ctx_options, memory_budget);
    FIELD(glarex_ctx_options, disk_budget);
    FIELD(glarex_ctx_options, max_blob_size);
    FIELD(glarex_ctx_options, stream_threshold);
    FIELD(glarex_ctx_options, ttl_exact_ms);
    FIELD(glarex_ctx_options, ttl_latest_ms);
    FIELD(glarex_ctx_options, ttl_drafted_ms);
    FIELD(glarex_ctx_options, ttl_negative_ms);
    FIELD(glarex_ctx_options, offline);
    FIELD(glarex_ctx_options, prefer_own_project);
    FIELD(glarex_ctx_options, project);
    FIELD(glarex_ctx_options, as_of_skew_ms);
    END();

    BEGIN(glarex_request_options);
    FIELD(glarex_request_options, version);
    FIELD(glarex_request_options, auth_token);
    FIELD(glarex_request_options, project_id);
    FIELD(glarex_request_options, user_id);
    FIELD(glarex_request_options, roles);
    FIELD(glarex_request_options, execution_id);
    FIELD(glarex_request_options, workflow);
    FIELD(glarex_request_options, as_of_ms);
    FIELD(glarex_request_options, progress);
    FIELD(glarex_request_options, progress_payload);
    END();

    printf(",\n\"versions\": {\"glarex_client_options\": %d, \"glarex_store_options\": %d, "
           "\"glarex_ctx_options\": %d, \"glarex_request_options\": %d}}\n",
           GLAREX_CLIENT_OPTIONS_VERSION, GLAREX_STORE_OPTIONS_VERSION,
           GLAREX_CTX_OPTIONS_VERSION, GLAREX_REQUEST_OPTIONS_VERSION);
    return 0;
}
