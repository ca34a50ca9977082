/* Loading (and, the first time, creating) the relay secret file. The file
 * is created under a temporary name and linked into place, so a module
 * reading it at the same moment sees either no file or the whole key, and
 * two creators racing keep one key. */
#include "siod_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Clears a buffer in a way the compiler keeps. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

/* Fills buf with n random bytes. Returns 0 or a negative errno. */
static int random_bytes(unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Creates path with a fresh key unless it exists. Returns 0 (created, or
 * someone else was first) or a negative errno with err filled. */
static int create_secret(const char *path, char *err, size_t errlen)
{
    unsigned char raw[SIO_RELAY_SECRET_RAW_LEN];
    char text[SIO_RELAY_SECRET_GEN_LEN + 1];
    char tmp[4096];
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >=
        (int)sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -ENAMETOOLONG;
    }
    if ((rc = random_bytes(raw, sizeof raw)) < 0) {
        snprintf(err, errlen, "no random bytes: %s", strerror(-rc));
        return rc;
    }
    sio_relay_secret_format(raw, text);
    wipe(raw, sizeof raw);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = write(fd, text, sizeof text) == (ssize_t)sizeof text &&
         fsync(fd) == 0 ? 0 : -(errno ? errno : EIO);
    close(fd);
    if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
        rc = -errno;
    if (rc < 0)
        snprintf(err, errlen, "cannot create it: %s", strerror(-rc));
    unlink(tmp);
out:
    wipe(text, sizeof text);
    return rc;
}

/* See the header. */
int siod_secret_load(const char *path, unsigned char *key, size_t *key_len,
                     char *err, size_t errlen)
{
    unsigned char buf[SIO_RELAY_SECRET_MAX + 64];
    struct stat st;
    size_t have = 0, len;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        if ((rc = create_secret(path, err, errlen)) < 0)
            return rc;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s", strerror(errno));
        return rc;
    }
    rc = -EPERM;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto fail;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "mode %03o lets others read it; it must be "
                 "readable by its owner only (chmod 600)",
                 (unsigned)(st.st_mode & 0777));
        goto fail;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen, "owned by uid %ld; it must belong to root or "
                 "to siod's user (uid %ld)", (long)st.st_uid,
                 (long)geteuid());
        goto fail;
    }
    while (have < sizeof buf) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    if (have == sizeof buf || sio_relay_secret_parse(buf, have, &len) < 0) {
        rc = -EINVAL;
        snprintf(err, errlen, "the key must be %d to %d bytes (trailing "
                 "white space not counted)", SIO_RELAY_SECRET_MIN,
                 SIO_RELAY_SECRET_MAX);
        goto fail;
    }
    memcpy(key, buf, len);
    *key_len = len;
    rc = 0;
fail:
    wipe(buf, sizeof buf);
    close(fd);
    return rc;
}
