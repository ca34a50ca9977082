/* Loading (and, the first time, creating) the relay secret in httpd's
 * parent. The checks mirror siod's: a regular file only its owner may
 * read, and under root not owned by the User the children run as, since
 * they (and CGI or PHP-FPM code of that uid) must not be able to read it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "unixd.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "socketio_config.h"
#include "socketio_secret.h"

APLOG_USE_MODULE(socketio);

static void wipe(void *p, apr_size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

static apr_status_t secret_cleanup(void *data)
{
    socketio_secret *sec = data;

    wipe(sec->key, sizeof(sec->key));
    sec->len = 0;
    return APR_SUCCESS;
}

/* Creates path with a fresh key unless it exists: written under a
 * temporary name, then linked into place, so readers never see half a key
 * and a racing siod keeps its own. Returns APR_SUCCESS or an error with
 * *why set. */
static apr_status_t create_secret(apr_pool_t *p, const char *path,
                                  const char **why)
{
    unsigned char raw[SIO_RELAY_SECRET_RAW_LEN];
    char text[SIO_RELAY_SECRET_GEN_LEN + 1];
    const char *tmp = apr_psprintf(p, "%s.%ld.tmp", path, (long)getpid());
    apr_status_t rv;
    int fd;

    if ((rv = apr_generate_random_bytes(raw, sizeof(raw))) != APR_SUCCESS) {
        *why = "no random bytes to create it";
        return rv;
    }
    sio_relay_secret_format(raw, text);
    wipe(raw, sizeof(raw));
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        rv = errno;
        *why = "cannot create it";
        goto out;
    }
    rv = write(fd, text, sizeof(text)) == (ssize_t)sizeof(text) &&
         fsync(fd) == 0 ? APR_SUCCESS : (errno ? errno : EIO);
    close(fd);
    if (rv == APR_SUCCESS && link(tmp, path) != 0 && errno != EEXIST)
        rv = errno;
    if (rv != APR_SUCCESS)
        *why = "cannot create it";
    unlink(tmp);
out:
    wipe(text, sizeof(text));
    return rv;
}

/* Reads and checks path into *sec. Returns APR_SUCCESS, or an error with
 * *why set (and rv an errno where there is one). */
static apr_status_t read_secret(apr_pool_t *p, const char *path,
                                socketio_secret *sec, const char **why)
{
    unsigned char buf[SIO_RELAY_SECRET_MAX + 64];
    apr_size_t have = 0, len;
    apr_status_t rv = APR_EGENERAL;
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        if ((rv = create_secret(p, path, why)) != APR_SUCCESS)
            return rv;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0) {
        *why = "cannot open it";
        return errno;
    }
    if (fstat(fd, &st) != 0) {
        rv = errno;
        *why = "cannot stat it";
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        goto out;
    }
    if (st.st_mode & 077) {
        *why = apr_psprintf(p, "mode %03o lets others read it; it must be "
                            "readable by its owner only (chmod 600)",
                            (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (geteuid() == 0 && ap_unixd_config.user_id != 0 &&
        st.st_uid == ap_unixd_config.user_id) {
        *why = apr_psprintf(p, "owned by httpd's User (uid %ld), whose "
                            "processes it must keep out; make it root's",
                            (long)st.st_uid);
        goto out;
    }
    while (have < sizeof(buf)) {
        n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rv = errno;
            *why = "cannot read it";
            goto out;
        }
        if (n == 0)
            break;
        have += (apr_size_t)n;
    }
    if (have == sizeof(buf) || sio_relay_secret_parse(buf, have, &len)
                                   != SIO_OK) {
        *why = apr_psprintf(p, "the key must be %d to %d bytes (trailing "
                            "white space not counted)", SIO_RELAY_SECRET_MIN,
                            SIO_RELAY_SECRET_MAX);
        goto out;
    }
    memcpy(sec->key, buf, len);
    sec->len = len;
    rv = APR_SUCCESS;
out:
    wipe(buf, sizeof(buf));
    close(fd);
    return rv;
}

/* See the header. Each file is read once however many servers name it. */
int socketio_secret_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *loaded = apr_hash_make(pconf);
    server_rec *v;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        socketio_secret *sec;
        const char *why = NULL;
        apr_status_t rv;

        sc->secret = NULL;
        if (!sc->daemon_secret)
            continue;
        if (apr_hash_get(loaded, sc->daemon_secret, APR_HASH_KEY_STRING)) {
            sec = apr_hash_get(loaded, sc->daemon_secret,
                               APR_HASH_KEY_STRING);
            sc->secret = sec->len ? sec : NULL;
            continue;
        }
        sec = apr_pcalloc(pconf, sizeof(*sec));
        sec->path = sc->daemon_secret;
        apr_pool_cleanup_register(pconf, sec, secret_cleanup,
                                  apr_pool_cleanup_null);
        apr_hash_set(loaded, sec->path, APR_HASH_KEY_STRING, sec);
        rv = read_secret(pconf, sec->path, sec, &why);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR,
                         rv == APR_EGENERAL ? 0 : rv, v,
                         "mod_socketio: SocketIODaemonSecret %s: %s; "
                         "Socket.IO will answer 503 until httpd is "
                         "restarted with a usable secret", sec->path, why);
            continue;
        }
        sc->secret = sec;
    }
    return OK;
}
