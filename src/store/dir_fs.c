/*
 * The directory store's file system primitives: paths under ROOT, random ids and
 * time stamps, durable writes (a complete, fsynced temporary file renamed into place,
 * then the directory fsynced), the store-wide lock and removal of crash debris. They
 * know nothing of artifacts; every other part of the store writes through them.
 */
#include "dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Debris in tmp/ older than this is from a crashed process and is removed at open. */
#define TMP_MAX_AGE_SECONDS (24 * 3600)

/* {====================================================================
 * Errors, paths, random ids, time
 * ==================================================================== */

int glarex__dir_fail_errno(glarex_error *err, int e, const char *action, const char *path)
{
    if (e == ENOMEM)
        return GLAREX_ENOMEM_SET(err);
    return glarex__error_set(err, GLAREX_EIO, "cannot %s '%s': %s", action, path,
                             strerror(e));
}

char *glarex__dir_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *glarex__dir_store_path(const dir_store *s, const char *fmt, ...)
{
    va_list ap;
    char tail[512];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tail))
        return NULL; /* tails are ids and type names: never this long */
    return glarex__dir_xasprintf("%s/%s", s->root, tail);
}

static int random_bytes(unsigned char *buf, size_t len, glarex_error *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ENOSYS) {
            /* Kernels before 3.17: the device gives the same bytes. */
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return glarex__dir_fail_errno(err, errno, "open", "/dev/urandom");
            while (got < len) {
                n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    int e = n < 0 ? errno : EIO;
                    close(fd);
                    return glarex__dir_fail_errno(err, e, "read", "/dev/urandom");
                }
                got += (size_t)n;
            }
            close(fd);
            break;
        }
        if (n < 0)
            return glarex__error_set(err, GLAREX_EIO, "cannot get random bytes: %s",
                                     strerror(errno));
        got += (size_t)n;
    }
    return 0;
}

int glarex__dir_uuid4(char out[37], glarex_error *err)
{
    unsigned char b[16];
    int error;

    if ((error = random_bytes(b, sizeof(b), err)) < 0)
        return error;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

int glarex__dir_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

void glarex__dir_now_stamp(char out[21], long long *ns)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (ns)
        *ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* }==================================================================== */

/* {====================================================================
 * Durable file operations
 * ==================================================================== */

int glarex__dir_fsync_dir(const char *dir, glarex_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return glarex__dir_fail_errno(err, errno, "open directory", dir);
    /* Some file systems cannot fsync a directory; their renames are durable anyway. */
    if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        close(fd);
        return glarex__dir_fail_errno(err, e, "fsync", dir);
    }
    close(fd);
    return 0;
}

/* fsyncs the directory holding `path`. */
static int fsync_parent(const char *path, glarex_error *err)
{
    char *dir = strdup(path);
    char *slash;
    int error;

    if (!dir)
        return GLAREX_ENOMEM_SET(err);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    error = glarex__dir_fsync_dir(dir, err);
    free(dir);
    return error;
}

int glarex__dir_make_dir(const char *path, glarex_error *err)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return glarex__dir_fail_errno(err, errno, "create directory", path);
    return 0;
}

int glarex__dir_make_dirs(const char *path, glarex_error *err)
{
    char *p = strdup(path);
    int error = 0;

    if (!p)
        return GLAREX_ENOMEM_SET(err);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            error = glarex__dir_fail_errno(err, errno, "create directory", p);
            break;
        }
        *q = '/';
    }
    if (!error)
        error = glarex__dir_make_dir(p, err);
    free(p);
    return error;
}

int glarex__dir_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int glarex__dir_open_temp(int *fd_out, char **path_out, const dir_store *s,
                          const char *suffix, glarex_error *err)
{
    char id[37];
    char *path;
    int fd, error;

    *fd_out = -1;
    *path_out = NULL;
    if ((error = glarex__dir_uuid4(id, err)) < 0)
        return error;
    if (!(path = glarex__dir_store_path(s, "tmp/%s%s", id, suffix)))
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = glarex__dir_fail_errno(err, errno, "create", path);
        free(path);
        return error;
    }
    *fd_out = fd;
    *path_out = path;
    return 0;
}

int glarex__dir_finish_temp(int fd, const char *path, glarex_error *err)
{
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return glarex__dir_fail_errno(err, e, "fsync", path);
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(path);
        return glarex__dir_fail_errno(err, e, "close", path);
    }
    return 0;
}

int glarex__dir_write_temp(char **path_out, const dir_store *s, const void *data,
                           size_t len, glarex_error *err)
{
    char *path = NULL;
    int fd, error;

    *path_out = NULL;
    if ((error = glarex__dir_open_temp(&fd, &path, s, ".tmp", err)) < 0)
        return error;
    if (glarex__dir_write_all(fd, data, len) < 0) {
        error = glarex__dir_fail_errno(err, errno, "write", path);
        close(fd);
        unlink(path);
        free(path);
        return error;
    }
    if ((error = glarex__dir_finish_temp(fd, path, err)) < 0) {
        free(path);
        return error;
    }
    *path_out = path;
    return 0;
}

/* Replaces `dest` by `len` bytes atomically: temp file, fsync, rename, fsync dir. */
static int write_atomic(const dir_store *s, const char *dest, const void *data,
                        size_t len, glarex_error *err)
{
    char *tmp = NULL;
    int error;

    if ((error = glarex__dir_write_temp(&tmp, s, data, len, err)) < 0)
        return error;
    if (rename(tmp, dest) < 0) {
        error = glarex__dir_fail_errno(err, errno, "rename into", dest);
        unlink(tmp);
        free(tmp);
        return error;
    }
    free(tmp);
    return fsync_parent(dest, err);
}

int glarex__dir_write_json_atomic(const dir_store *s, const char *dest, const json_t *j,
                                  glarex_error *err)
{
    char *text = json_dumps(j, JSON_INDENT(1));
    int error;

    if (!text)
        return GLAREX_ENOMEM_SET(err);
    error = write_atomic(s, dest, text, strlen(text), err);
    free(text);
    return error;
}

/* rm -rf, for trees this store made (tmp debris, deleted artifacts). Best effort. */
static void remove_tree_at(int parent, const char *name, int depth)
{
    int fd;
    DIR *d;
    struct dirent *e;

    if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
        return;
    if (depth > 8)
        return;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        remove_tree_at(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

void glarex__dir_remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path, 0);
}

/* The store-wide lock, held around every read-modify-write of metadata. A fresh
 * open file description each time, so processes (and forks sharing a handle) exclude
 * each other; the kernel drops it if the holder dies. */
int glarex__dir_lock_store(int *fd_out, const dir_store *s, glarex_error *err)
{
    char *path = glarex__dir_store_path(s, "lock");
    int fd, error = 0;

    *fd_out = -1;
    if (!path)
        return GLAREX_ENOMEM_SET(err);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = glarex__dir_fail_errno(err, errno, "open", path);
        goto done;
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            error = glarex__dir_fail_errno(err, errno, "lock", path);
            close(fd);
            goto done;
        }
    }
    *fd_out = fd;
done:
    free(path);
    return error;
}

void glarex__dir_unlock_store(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* }==================================================================== */

/* {====================================================================
 * Crash debris
 * ==================================================================== */

void glarex__dir_sweep_tmp(const dir_store *s)
{
    char *tmp = glarex__dir_store_path(s, "tmp");
    DIR *d;
    struct dirent *e;
    time_t now = time(NULL);

    if (!tmp)
        return;
    d = opendir(tmp);
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - st.st_mtime > TMP_MAX_AGE_SECONDS)
            remove_tree_at(dirfd(d), e->d_name, 0);
    }
    if (d)
        closedir(d);
    free(tmp);
}

/* }==================================================================== */
