/* The listening Unix socket: created with a restrictive umask, then mode
 * 0660 (and chowned to the first allowed uid when siod runs as root); every
 * accepted connection's SO_PEERCRED uid is checked before it is handed to
 * the link code. Out of descriptors, accepting pauses for a second. The
 * accept callback is a boundary of the error model: it logs (throttled)
 * the connections it or the link code refuses. A siod that restarts in
 * place passes the socket to its next image (siod_listen_pass): the path
 * never goes away, and connections made meanwhile wait in the backlog. */
#include "siod_relay.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_fd = -1;
static struct event *accept_ev;
static struct event *pause_ev;
static char *listen_path;
static dev_t listen_dev;
static ino_t listen_ino;
static uid_t *allowed;
static size_t n_allowed;
static int passed;                   /* handed to the next image */

/* The environment variable naming the socket a siod passes to its next
 * image across a restart in place. */
#define LISTEN_FD_ENV "SIOD_LISTEN_FD"

static int uid_allowed(uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return 1;
    for (size_t i = 0; i < n_allowed; i++)
        if (allowed[i] == uid)
            return 1;
    return 0;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    if (accept_ev != NULL)
        event_add(accept_ev, NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct event_base *base = arg;

    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                siod_log_limited(SIOD_LOG_ERROR, "accept: %s; pausing for "
                                 "1 s", strerror(errno));
                struct timeval tv = { 1, 0 };
                event_del(accept_ev);
                event_add(pause_ev, &tv);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK &&
                       errno != EINTR && errno != ECONNABORTED) {
                siod_log_limited(SIOD_LOG_ERROR, "accept: %s",
                                 strerror(errno));
            }
            return;
        }
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            len != sizeof cred) {
            siod_log_limited(SIOD_LOG_WARN, "refused a connection: no "
                             "peer credentials (%s)", strerror(errno));
            close(fd);
            continue;
        }
        if (!uid_allowed(cred.uid)) {
            siod_log_limited(SIOD_LOG_WARN, "refused a connection from "
                             "uid %ld (pid %ld): uid not allowed",
                             (long)cred.uid, (long)cred.pid);
            close(fd);
            continue;
        }
        char why[128];
        int rc = siod_link_adopt(base, fd, cred.uid, cred.pid, why,
                                 sizeof why);
        if (rc == -EMFILE)
            siod_log_limited(SIOD_LOG_WARN, "refused a connection from uid "
                             "%ld (pid %ld): %s", (long)cred.uid,
                             (long)cred.pid, why);
        else if (rc < 0)
            siod_log_limited(SIOD_LOG_ERROR, "refused a connection from uid "
                             "%ld (pid %ld): %s", (long)cred.uid,
                             (long)cred.pid, why);
    }
}

/* Removes path if it is a socket no one accepts on. Returns 0, or a
 * negative errno (EADDRINUSE: a live server owns it). */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (err != ECONNREFUSED)
        return -err;
    return unlink(path) < 0 ? -errno : 0;
}

/* The listening socket the previous image passed (LISTEN_FD_ENV), if it
 * is one listening at path; -1 otherwise (a socket that is not is
 * closed). The variable is removed either way. */
static int inherited(const char *path)
{
    const char *v = getenv(LISTEN_FD_ENV);
    struct sockaddr_un sa;
    socklen_t len = sizeof sa, olen = sizeof(int);
    int on = 0, fd;
    char *end;
    long n;

    if (v == NULL)
        return -1;
    n = strtol(v, &end, 10);
    unsetenv(LISTEN_FD_ENV);
    if (*end != '\0' || end == v || n < 0 || n > INT_MAX)
        return -1;
    fd = (int)n;
    memset(&sa, 0, sizeof sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;                   /* no socket: nothing of ours */
    if (sa.sun_family != AF_UNIX ||
        strncmp(sa.sun_path, path, sizeof sa.sun_path) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) < 0 || !on) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Starts accepting on listen_fd. Returns 0, or -ENOMEM with why set. */
static int watch(struct event_base *base, const char *path, char *why,
                 size_t cap)
{
    accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, accept_cb,
                          base);
    pause_ev = evtimer_new(base, resume_cb, NULL);
    if (accept_ev == NULL || pause_ev == NULL ||
        event_add(accept_ev, NULL) < 0)
        return siod_err_set(why, cap, -ENOMEM, "socket %s: cannot watch it: "
                            "%s", path, siod_strerror(-ENOMEM));
    return 0;
}

/* Takes over fd, the socket the previous image listened on at path.
 * Returns 0, or a negative errno with why set. */
static int adopt(struct event_base *base, int fd, const char *path,
                 char *why, size_t cap)
{
    struct stat st;

    listen_fd = fd;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        return siod_err_set(why, cap, -errno, "socket %s: %s", path,
                            strerror(errno));
    listen_path = strdup(path);
    if (listen_path == NULL || lstat(path, &st) < 0)
        return siod_err_set(why, cap, listen_path == NULL ? -ENOMEM : -errno,
                            "socket %s: %s", path,
                            siod_strerror(listen_path == NULL ? -ENOMEM
                                                              : -errno));
    listen_dev = st.st_dev;
    listen_ino = st.st_ino;
    return watch(base, path, why, cap);
}

int siod_listen_open(struct event_base *base, const char *path,
                     const uid_t *uids, size_t n_uids, char *why,
                     size_t cap)
{
    struct sockaddr_un sa;
    int rc, fd;

    if (strlen(path) >= sizeof sa.sun_path)
        return siod_err_set(why, cap, -ENAMETOOLONG,
                            "socket path too long: %s", path);
    if (n_uids > 0) {
        allowed = malloc(n_uids * sizeof *allowed);
        if (allowed == NULL)
            return siod_err_set(why, cap, -ENOMEM, "socket %s: %s", path,
                                siod_strerror(-ENOMEM));
        memcpy(allowed, uids, n_uids * sizeof *allowed);
        n_allowed = n_uids;
    }
    fd = inherited(path);
    if (fd >= 0) {
        rc = adopt(base, fd, path, why, cap);
        if (rc < 0)
            goto fail;
        return 0;
    }
    rc = clear_stale(path);
    if (rc < 0) {
        siod_err_set(why, cap, rc, "socket %s: %s", path,
                     rc == -EADDRINUSE ? "another server is listening on it"
                                       : siod_strerror(rc));
        goto fail;
    }
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        rc = siod_err_set(why, cap, -errno, "socket: %s", strerror(errno));
        goto fail;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    /* never exists with looser permissions than 0660, not even briefly */
    mode_t old = umask(0117);
    rc = bind(listen_fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    umask(old);
    if (rc < 0) {
        rc = siod_err_set(why, cap, -err, "bind %s: %s", path, strerror(err));
        goto fail;
    }
    listen_path = strdup(path);
    struct stat st;
    if (listen_path == NULL || chmod(path, 0660) < 0 || lstat(path, &st) < 0) {
        rc = listen_path == NULL ? -ENOMEM : -errno;
        siod_err_set(why, cap, rc, "socket %s: %s", path, siod_strerror(rc));
        goto fail;
    }
    listen_dev = st.st_dev;
    listen_ino = st.st_ino;
    if (geteuid() == 0 && n_allowed > 0 &&
        chown(path, allowed[0], (gid_t)-1) < 0) {
        rc = siod_err_set(why, cap, -errno, "chown %s: %s", path,
                          strerror(errno));
        goto fail;
    }
    if (listen(listen_fd, 511) < 0) {
        rc = siod_err_set(why, cap, -errno, "listen %s: %s", path,
                          strerror(errno));
        goto fail;
    }
    rc = watch(base, path, why, cap);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    siod_listen_close();
    return rc;
}

/* Stops accepting (the socket stays open). */
static void unwatch(void)
{
    if (accept_ev != NULL) {
        event_free(accept_ev);
        accept_ev = NULL;
    }
    if (pause_ev != NULL) {
        event_free(pause_ev);
        pause_ev = NULL;
    }
}

int siod_listen_pass(void)
{
    char v[16];

    unwatch();
    if (listen_fd < 0)
        return -EBADF;
    if (fcntl(listen_fd, F_SETFD, 0) < 0)
        return -errno;
    snprintf(v, sizeof v, "%d", listen_fd);
    if (setenv(LISTEN_FD_ENV, v, 1) < 0)
        return -errno;
    passed = 1;
    return 0;
}

void siod_listen_close(void)
{
    unwatch();
    if (listen_fd >= 0 && !passed) {
        close(listen_fd);
        listen_fd = -1;
        struct stat st;
        /* a newer siod may already own the path: only remove our own */
        if (listen_path != NULL && lstat(listen_path, &st) == 0 &&
            st.st_dev == listen_dev && st.st_ino == listen_ino)
            unlink(listen_path);
    }
    free(listen_path);
    listen_path = NULL;
    free(allowed);
    allowed = NULL;
    n_allowed = 0;
}
