/*
 * The background digest (glarex__digest_new_background): the same digests as hashing
 * on the caller's thread, whatever the chunking, for sizes around its block size; a
 * digest freed mid-stream stops its thread; a finished one can be used again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/digest.h"
#include "src/ring.h"

#define BLOCK GLAREX__RING_BLOCK

static unsigned char *random_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (unsigned char)(seed >> 56);
    }
    return p;
}

/* Feeds `data` to `d` in chunks of pseudo-random sizes up to `max_chunk`. */
static void feed(glarex__digest *d, const unsigned char *data, size_t n, size_t max_chunk,
                 uint64_t seed)
{
    size_t off = 0;
    while (off < n) {
        seed = seed * 6364136223846793005ull + 1;
        size_t len = 1 + (size_t)(seed >> 33) % max_chunk;
        if (len > n - off)
            len = n - off;
        glarex__digest_update(d, data + off, len);
        off += len;
    }
}

static void check_size(size_t n, int with_md5)
{
    static const size_t chunks[] = {1, 4096, 16384 + 7, 524288, BLOCK + 3, 3 * BLOCK};
    unsigned char *data = random_bytes(n, n + 1);
    char want_sha[65], want_md5[33], sha[65], md5[33];

    assert_int_equal(glarex__digest_buffer(data, n, want_sha, with_md5 ? want_md5 : NULL), 0);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        if (chunks[c] == 1 && n > 100000)
            continue; /* byte by byte only for the small sizes */
        glarex__digest *d = glarex__digest_new_background(with_md5);
        assert_non_null(d);
        feed(d, data, n, chunks[c], c);
        glarex__digest_final(d, sha, md5);
        assert_string_equal(sha, want_sha);
        if (with_md5)
            assert_string_equal(md5, want_md5);
        else
            assert_string_equal(md5, "");
        glarex__digest_free(d);
    }
    free(data);
}

static void test_digest__background_matches_for_every_size_and_chunking(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 1000, BLOCK - 1, BLOCK, BLOCK + 1,
                                   GLAREX__RING_BLOCKS * BLOCK,
                                   (GLAREX__RING_BLOCKS + 3) * BLOCK + 7};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check_size(sizes[i], 1);
        check_size(sizes[i], 0);
    }
}

static void test_digest__background_digest_can_be_used_again(void **state)
{
    (void)state;
    size_t n = 3 * BLOCK + 5;
    unsigned char *a = random_bytes(n, 1), *b = random_bytes(n / 2, 2);
    char want[65], got[65], md5[33];
    glarex__digest *d = glarex__digest_new_background(0);
    assert_non_null(d);

    feed(d, a, n, 70000, 3);
    glarex__digest_final(d, got, md5);
    assert_int_equal(glarex__digest_buffer(a, n, want, NULL), 0);
    assert_string_equal(got, want);
    /* final reset it: a second stream starts from scratch */
    feed(d, b, n / 2, 70000, 4);
    glarex__digest_final(d, got, md5);
    assert_int_equal(glarex__digest_buffer(b, n / 2, want, NULL), 0);
    assert_string_equal(got, want);
    glarex__digest_free(d);
    free(a);
    free(b);
}

static void test_digest__freed_mid_stream_stops_its_thread(void **state)
{
    (void)state;
    size_t n = (GLAREX__RING_BLOCKS + 2) * BLOCK;
    unsigned char *a = random_bytes(n, 5);
    /* a download that failed part way: freed without final (a leak or a thread left
     * running shows under the sanitizers) */
    for (int i = 0; i < 4; i++) {
        glarex__digest *d = glarex__digest_new_background(i & 1);
        assert_non_null(d);
        feed(d, a, n - (size_t)i * 12345, 300000, (uint64_t)i);
        glarex__digest_free(d);
    }
    glarex__digest_free(NULL);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest__background_matches_for_every_size_and_chunking),
        cmocka_unit_test(test_digest__background_digest_can_be_used_again),
        cmocka_unit_test(test_digest__freed_mid_stream_stops_its_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
