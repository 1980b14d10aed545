/*
 * The cache cannot be poisoned: directories and objects someone else could have
 * written are refused, nothing is followed through a symbolic link, and bytes changed
 * on disk are never handed out under the genuine digest.
 *
 * The tests run as root (here and in CI), so root is "the caller" and `nobody` is
 * "another user": files are planted as nobody with setpriv(1). Tests that need that
 * are skipped when not run as root or when setpriv is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "src/cache.h"
#include "src/digest.h"

#define PATHBUF 4096
#define THRESHOLD 4096u        /* blobs above this are streamed and mapped */
#define BIG (64u * 1024u)      /* a "large" blob: over the threshold */
#define NOBODY_UID 65534u

typedef struct fixture {
    char root[256]; /* mkdtemp, opened to nobody so it can plant the cache inside */
    char dir[300];  /* the cache directory: ROOT/cache */
    char *blob;     /* BIG genuine bytes */
    char sha[65];   /* their sha256 */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx || test_mkdtemp(fx->root, sizeof(fx->root), "trust") < 0) {
        free(fx);
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "%s/cache", fx->root);
    fx->blob = malloc(BIG);
    if (!fx->blob)
        return -1;
    for (size_t i = 0; i < BIG; i++)
        fx->blob[i] = (char)('a' + i % 26);
    if (glarex__digest_buffer(fx->blob, BIG, fx->sha, NULL) < 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    test_rm_rf(fx->root);
    free(fx->blob);
    free(fx);
    return 0;
}

static int fill_genuine(glarex_write_cb wr, void *wp, void *payload, glarex_error *err)
{
    const fixture *fx = payload;
    if (wr(fx->blob, BIG, wp) != 0)
        return glarex__error_set(err, GLAREX_ERROR, "aborted");
    return 0;
}

static glarex__cache *open_cache(const char *dir, glarex_error *err, int *rc)
{
    glarex__cache_options opts = GLAREX__CACHE_OPTIONS_INIT;
    glarex__cache *c = NULL;
    opts.dir = dir;
    opts.stream_threshold = THRESHOLD;
    glarex_error_clear(err);
    *rc = glarex__cache_new(&c, &opts, err);
    return c;
}

static void object_path(char *out, const fixture *fx)
{
    snprintf(out, PATHBUF, "%s/objects/%.2s/%s", fx->dir, fx->sha, fx->sha + 2);
}

/* Skips unless we are root with setpriv at hand (the second user is `nobody`). */
static void need_second_user(void)
{
    if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
        skip();
}

/* Runs `script` with sh as nobody:nogroup; fails the test unless it exits 0. */
static void as_nobody(const char *script)
{
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/usr/bin/setpriv", "setpriv", "--reuid=nobody", "--regid=nogroup",
              "--clear-groups", "/bin/sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("as nobody: '%s' failed (status %d)", script, status);
}

/* As nobody: the object of fx->sha, holding BIG bytes of 'X' instead of the genuine
 * ones, in fx->dir (whose objects/ and objects/xx/ nobody makes when missing). */
static void plant_object(const fixture *fx)
{
    char script[PATHBUF * 2], path[PATHBUF];
    object_path(path, fx);
    snprintf(script, sizeof(script),
             "umask 0 && mkdir -p %s/objects/%.2s %s/tmp && "
             "head -c %u /dev/zero | tr '\\000' X > %s",
             fx->dir, fx->sha, fx->dir, BIG, path);
    as_nobody(script);
}

/* Opening the cache fails with GLAREX_EIO and a message holding both `a` and `b`. */
static void assert_refused(const fixture *fx, const char *a, const char *b)
{
    glarex__content *ct = NULL;
    glarex_error err;
    int rc;
    glarex__cache *c = open_cache(fx->dir, &err, &rc);

    if (rc == 0) {
        /* Show what the old behaviour hands out: the planted bytes, genuine digest. */
        const char *data = NULL;
        if (glarex__cache_get(&ct, c, fx->sha, -1, NULL, fill_genuine, (void *)fx,
                              &err) == 0 &&
            glarex__content_data(&data, ct, &err) == 0)
            print_message("served %s with %.8s... as sha256 %s\n",
                          memcmp(data, fx->blob, BIG) ? "planted bytes" : "genuine bytes",
                          data, glarex__content_sha256(ct));
        glarex__content_unref(ct);
        glarex__cache_free(c);
        fail_msg("the cache in %s was accepted", fx->dir);
    }
    assert_null(c);
    assert_int_equal(rc, GLAREX_EIO);
    if (!strstr(err.message, a) || !strstr(err.message, b))
        fail_msg("expected '%s' and '%s' in: %s", a, b, err.message);
}

/* {====================================================================
 * Directories
 * ==================================================================== */

/* Another user pre-created the cache directory (0777) and planted an object in it. */
static void test_cache_trust__directory_of_another_user_is_refused(void **state)
{
    fixture *fx = *state;
    char script[PATHBUF];

    need_second_user();
    assert_int_equal(chmod(fx->root, 0777), 0);
    snprintf(script, sizeof(script), "umask 0 && mkdir %s", fx->dir);
    as_nobody(script);
    plant_object(fx);
    assert_refused(fx, "is owned by uid 65534, not by you", "choose another cache directory");
}

/* The caller's own directory, but mode 0777: another user planted objects/ in it. */
static void test_cache_trust__world_writable_directory_is_refused(void **state)
{
    fixture *fx = *state;
    char path[PATHBUF];

    need_second_user();
    assert_int_equal(chmod(fx->root, 0777), 0);
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    assert_int_equal(chmod(fx->dir, 0777), 0);
    plant_object(fx);
    snprintf(path, sizeof(path), "chmod 700 %s", fx->dir);
    assert_refused(fx, "writable by others (mode 0777)", path);

    /* Following the advice is not enough while objects/ is still nobody's. */
    assert_int_equal(chmod(fx->dir, 0700), 0);
    assert_refused(fx, "/objects is owned by uid 65534", "remove it");
}

/* Another user made tmp/ (where fills are written before they are published) and
 * left a file in it; the top directory was fixed afterwards, tmp/ was not. */
static void test_cache_trust__planted_tmp_directory_is_refused(void **state)
{
    fixture *fx = *state;
    char script[PATHBUF];

    need_second_user();
    assert_int_equal(chmod(fx->root, 0777), 0);
    assert_int_equal(mkdir(fx->dir, 0777), 0);
    assert_int_equal(chmod(fx->dir, 0777), 0);
    snprintf(script, sizeof(script),
             "umask 0 && mkdir %s/tmp && head -c %u /dev/zero | tr '\\000' X > %s/tmp/%s.AAAAAA",
             fx->dir, BIG, fx->dir, fx->sha);
    as_nobody(script);
    assert_int_equal(chmod(fx->dir, 0700), 0);
    assert_refused(fx, "/tmp is owned by uid 65534", "choose another cache directory");

    /* The caller's own tmp/, left writable by others, is refused as well. */
    snprintf(script, sizeof(script), "%s/tmp", fx->dir);
    assert_int_equal(chown(script, 0, 0), 0);
    assert_refused(fx, "/tmp is writable by others", "chmod 700");
}

static void test_cache_trust__symlinked_directory_is_refused(void **state)
{
    fixture *fx = *state;
    char target[PATHBUF];

    snprintf(target, sizeof(target), "%s/elsewhere", fx->root);
    assert_int_equal(mkdir(target, 0700), 0);
    assert_int_equal(symlink(target, fx->dir), 0);
    assert_refused(fx, "is a symbolic link", "choose another cache directory");
}

static void test_cache_trust__private_dir_creates_0700(void **state)
{
    fixture *fx = *state;
    char path[PATHBUF];
    glarex_error err;
    struct stat st;
    mode_t old = umask(0);

    snprintf(path, sizeof(path), "%s/a/b/index", fx->root);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_private_dir(path, 0, &err), GLAREX_ENOTFOUND);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_private_dir(path, 1, &err), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    snprintf(path, sizeof(path), "%s/a", fx->root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700); /* parents too */
}

/* }==================================================================== */

/* {====================================================================
 * Files
 * ==================================================================== */

/* A published object replaced by a symbolic link to someone else's bytes. */
static void test_cache_trust__symlinked_object_is_refused(void **state)
{
    fixture *fx = *state;
    char path[PATHBUF], target[PATHBUF], sub[PATHBUF];
    glarex__content *ct = NULL;
    glarex_error err;
    int rc, fd;
    glarex__cache *c = open_cache(fx->dir, &err, &rc);

    assert_int_equal(rc, 0);
    snprintf(target, sizeof(target), "%s/planted", fx->root);
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    for (size_t i = 0; i < BIG; i++)
        assert_int_equal(write(fd, "X", 1), 1);
    close(fd);
    snprintf(sub, sizeof(sub), "%s/objects/%.2s", fx->dir, fx->sha);
    assert_int_equal(mkdir(sub, 0700), 0);
    object_path(path, fx);
    assert_int_equal(symlink(target, path), 0);

    glarex_error_clear(&err);
    rc = glarex__cache_get(&ct, c, fx->sha, -1, NULL, fill_genuine, fx, &err);
    if (rc == 0) {
        const char *data = glarex__content_bytes(ct);
        if (!data)
            glarex__content_data(&data, ct, NULL);
        print_message("served %.8s... as sha256 %s\n", data ? data : "(none)",
                      glarex__content_sha256(ct));
        glarex__content_unref(ct);
        glarex__cache_free(c);
        fail_msg("a symbolic link was followed");
    }
    assert_int_equal(rc, GLAREX_EIO);
    assert_null(ct);
    assert_non_null(strstr(err.message, "is a symbolic link"));
    assert_non_null(strstr(err.message, "rm "));
    glarex__cache_free(c);
}

/* An object in the caller's private chain that another user owns, or that anyone may
 * write (restored from a backup, copied with its owner): refused, never read. */
static void test_cache_trust__object_not_private_is_refused(void **state)
{
    fixture *fx = *state;
    char path[PATHBUF];
    glarex__content *ct = NULL;
    glarex_error err;
    int rc;
    glarex__cache *c = open_cache(fx->dir, &err, &rc);

    assert_int_equal(rc, 0);
    assert_int_equal(glarex__cache_get(&ct, c, fx->sha, BIG, NULL, fill_genuine, fx, &err),
                     0);
    glarex__content_unref(ct);
    glarex__cache_free(c);
    object_path(path, fx);

    assert_int_equal(chown(path, NOBODY_UID, NOBODY_UID), 0);
    c = open_cache(fx->dir, &err, &rc);
    assert_int_equal(rc, 0);
    glarex_error_clear(&err);
    ct = NULL;
    assert_int_equal(glarex__cache_get(&ct, c, fx->sha, -1, NULL, fill_genuine, fx, &err),
                     GLAREX_EIO);
    assert_null(ct);
    assert_non_null(strstr(err.message, "owned by uid 65534"));
    glarex__cache_free(c);

    assert_int_equal(chown(path, 0, 0), 0);
    assert_int_equal(chmod(path, 0666), 0);
    c = open_cache(fx->dir, &err, &rc);
    assert_int_equal(rc, 0);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_get(&ct, c, fx->sha, -1, NULL, fill_genuine, fx, &err),
                     GLAREX_EIO);
    assert_non_null(strstr(err.message, "writable by others (mode 0666)"));
    glarex__cache_free(c);
}

/* Overwrites one byte in the middle of the published object (keeping its inode). */
static void corrupt_on_disk(const fixture *fx)
{
    char path[PATHBUF];
    int fd;
    object_path(path, fx);
    assert_int_equal(chmod(path, 0600), 0);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, BIG / 2), 1);
    close(fd);
    assert_int_equal(chmod(path, 0400), 0);
}

/* The streamed entry's bytes fail their digest: ECHECKSUM naming it, nothing out. */
static void assert_data_refused(const fixture *fx, glarex__content *ct)
{
    const char *data = NULL;
    glarex_error err;
    int rc;

    glarex_error_clear(&err);
    rc = glarex__content_data(&data, ct, &err);
    if (rc == 0 && memcmp(data, fx->blob, BIG) != 0)
        fail_msg("changed bytes handed out as sha256 %s", glarex__content_sha256(ct));
    assert_int_equal(rc, GLAREX_ECHECKSUM);
    assert_null(data);
    assert_non_null(strstr(err.message, "was changed on disk"));
    assert_non_null(strstr(err.message, fx->sha));
}

/* The next get fetches the content again and hands out the genuine bytes. */
static void assert_fetched_again(const fixture *fx, glarex__cache *c,
                                 const glarex__content *bad)
{
    glarex__content *ct = NULL;
    const char *data = NULL;
    glarex_error err;

    assert_int_equal(glarex__cache_get(&ct, c, fx->sha, BIG, NULL, fill_genuine,
                                       (void *)fx, &err),
                     0);
    assert_ptr_not_equal(ct, bad);
    assert_int_equal(glarex__content_data(&data, ct, &err), 0);
    assert_memory_equal(data, fx->blob, BIG);
    glarex__content_unref(ct);
}

/* A streamed object whose bytes changed on disk: handed out with the genuine digest
 * by no path, whether the entry was filled here or loaded by a fresh cache. */
static void test_cache_trust__large_object_changed_on_disk_is_not_served(void **state)
{
    fixture *fx = *state;
    glarex__content *filled = NULL, *loaded = NULL;
    glarex_error err;
    int rc;
    glarex__cache *c = open_cache(fx->dir, &err, &rc), *fresh;

    assert_int_equal(rc, 0);
    assert_int_equal(
        glarex__cache_get(&filled, c, fx->sha, BIG, NULL, fill_genuine, fx, &err), 0);
    assert_null(glarex__content_bytes(filled)); /* streamed: bytes come from the file */
    corrupt_on_disk(fx);
    assert_data_refused(fx, filled);
    assert_fetched_again(fx, c, filled);

    /* Another process (a fresh cache) finds a changed published file. */
    corrupt_on_disk(fx);
    fresh = open_cache(fx->dir, &err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(
        glarex__cache_get(&loaded, fresh, fx->sha, BIG, NULL, fill_genuine, fx, &err), 0);
    assert_data_refused(fx, loaded);
    assert_fetched_again(fx, fresh, loaded);

    glarex__content_unref(loaded);
    glarex__content_unref(filled);
    glarex__cache_free(fresh);
    glarex__cache_free(c);
}

static void test_cache_trust__private_open_refuses_links_and_fifos(void **state)
{
    fixture *fx = *state;
    char path[PATHBUF], link[PATHBUF];
    glarex_error err;
    struct stat st;
    mode_t old = umask(0);
    int fd = -1;

    assert_int_equal(glarex__cache_private_dir(fx->dir, 1, &err), 0);
    snprintf(path, sizeof(path), "%s/stats.json", fx->dir);
    assert_int_equal(glarex__cache_private_open(&fd, path, O_RDWR | O_CREAT, &err), 0);
    umask(old);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    close(fd);

    snprintf(link, sizeof(link), "%s/stats.lock", fx->dir);
    assert_int_equal(symlink(path, link), 0);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_private_open(&fd, link, O_RDWR | O_CREAT, &err),
                     GLAREX_EIO);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err.message, "is a symbolic link"));

    snprintf(path, sizeof(path), "%s/fifo", fx->dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_private_open(&fd, path, O_RDONLY, &err), GLAREX_EIO);
    assert_non_null(strstr(err.message, "not a regular file"));

    snprintf(path, sizeof(path), "%s/missing", fx->dir);
    glarex_error_clear(&err);
    assert_int_equal(glarex__cache_private_open(&fd, path, O_RDONLY, &err),
                     GLAREX_ENOTFOUND);
}

/* }==================================================================== */

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_cache_trust__directory_of_another_user_is_refused),
        T(test_cache_trust__world_writable_directory_is_refused),
        T(test_cache_trust__planted_tmp_directory_is_refused),
        T(test_cache_trust__symlinked_directory_is_refused),
        T(test_cache_trust__private_dir_creates_0700),
        T(test_cache_trust__symlinked_object_is_refused),
        T(test_cache_trust__object_not_private_is_refused),
        T(test_cache_trust__large_object_changed_on_disk_is_not_served),
        T(test_cache_trust__private_open_refuses_links_and_fifos),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
