/* Connection state recovery's state file (--state-file): what the
 * in-process store keeps (the packet log, the kept sockets, the offset
 * counter) and the sessions handed over on their WebSockets, written at a
 * clean stop and read back by the next siod, so that sessions survive a
 * restart of siod. The file is binary, versioned
 * and ends with a SHA-256 of all before it; it is written to a temporary
 * file (0600), synced and renamed over the old one. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_be.h"
#include "sio_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header: magic, version, when written (ms since the epoch), the
 * window of the siod that wrote it, the offset counter. */
static const unsigned char MAGIC[8] = { 'S', 'I', 'O', 'D', 'S', 'T', 'A', 'T' };
#define VERSION 1
#define HEAD_LEN (8 + 4 + 8 + 4 + 8 + 8)
/* Records after the header, then the digest. */
#define REC_PACKET 'P'
#define REC_SOCKET 'S'
#define REC_HANDOVER 'H'
#define REC_END 'E'
/* A state file larger than this is not read (no limit set is 0). */
#define READ_MAX ((size_t)1 << 34)

/* ---- writing --------------------------------------------------------------- */

struct writer {
    FILE *f;
    sio_sha256 sha;
    size_t packets, sockets;
    int failed;
};

static void put(struct writer *w, const void *p, size_t len)
{
    if (len == 0 || w->failed)
        return;
    sio_sha256_update(&w->sha, p, len);
    if (fwrite(p, 1, len, w->f) != len)
        w->failed = 1;
}

static void put_u8(struct writer *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    put(w, &b, 1);
}

static void put_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4];
    sio_be32_put(b, v);
    put(w, b, 4);
}

static void put_u64(struct writer *w, uint64_t v)
{
    unsigned char b[8];
    sio_be64_put(b, v);
    put(w, b, 8);
}

/* A byte string: u32 length, bytes. */
static void put_bytes(struct writer *w, const void *p, size_t len)
{
    put_u32(w, (uint32_t)len);
    put(w, p, len);
}

static void put_str(struct writer *w, const char *s)
{
    put_bytes(w, s, strlen(s));
}

static int write_packet(void *ud, const siod_sio_logged *e)
{
    struct writer *w = ud;
    const char *name = e->names;

    put_u8(w, REC_PACKET);
    put_u64(w, e->ms);
    put_u64(w, e->n);
    put_u64(w, (uint64_t)e->at);
    put_u32(w, (uint32_t)e->nrooms);
    put_u32(w, (uint32_t)e->nexcept);
    for (size_t i = 0; i < 1 + e->nrooms + e->nexcept; i++) {
        put_str(w, name);
        name += strlen(name) + 1;
    }
    put_bytes(w, siod_buf_data(e->pkt.head), e->pkt.head->len);
    put_u32(w, e->pkt.natts);
    for (unsigned i = 0; i < e->pkt.natts; i++)
        put_bytes(w, siod_buf_data(e->pkt.atts[i]), e->pkt.atts[i]->len);
    w->packets++;
    return w->failed ? -EIO : 0;
}

static int write_socket(void *ud, const siod_sio_saved *v)
{
    struct writer *w = ud;

    put_u8(w, REC_SOCKET);
    put_str(w, v->sid);
    put_str(w, v->pid);
    put_str(w, v->nsp);
    put_u64(w, (uint64_t)v->at);
    put_u8(w, v->data_json != NULL);
    if (v->data_json != NULL)
        put_str(w, v->data_json);
    put_u32(w, (uint32_t)v->nrooms);
    for (size_t i = 0; i < v->nrooms; i++)
        put_str(w, v->rooms[i]);
    w->sockets++;
    return w->failed ? -EIO : 0;
}

static void write_handover(struct writer *w, const siod_sio_handover *h)
{
    put_u8(w, REC_HANDOVER);
    put_str(w, h->sid);
    put_u64(w, (uint64_t)h->at);
    put_str(w, h->offset);
    put_bytes(w, h->info, h->info_len);
    put_u32(w, (uint32_t)h->nsockets);
    for (size_t i = 0; i < h->nsockets; i++) {
        put_str(w, h->sockets[i].nsp);
        put_str(w, h->sockets[i].pid);
        put_str(w, h->sockets[i].auth);
    }
}

/* Syncs the directory of path, so that the rename is on disk too. */
static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : (size_t)(slash - path) + (slash == path);

    if (n >= sizeof dir)
        return;
    memcpy(dir, slash == NULL ? "." : path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int siod_sio_state_write(const char *path, void *st, unsigned window_ms,
                         const siod_sio_handover *handed,
                         size_t *packets, size_t *sockets, char *why,
                         size_t cap)
{
    char tmp[PATH_MAX];
    unsigned char digest[SIO_SHA256_LEN];
    struct writer w = { 0 };
    uint64_t ms, n;
    int rc, fd;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path,
                         (long)getpid()) >= sizeof tmp)
        return siod_err_set(why, cap, -ENAMETOOLONG, "%s: name too long",
                            path);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0)
        return siod_err_set(why, cap, -errno, "%s: %s", tmp,
                            strerror(errno));
    w.f = fdopen(fd, "w");
    if (w.f == NULL) {
        rc = siod_err_set(why, cap, -errno, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    sio_sha256_init(&w.sha);
    put(&w, MAGIC, sizeof MAGIC);
    put_u32(&w, VERSION);
    put_u64(&w, (uint64_t)siod_now_ms());
    put_u32(&w, window_ms);
    /* the counter, read before the records (the same in both) */
    siod_sio_store_mem_dump(st, &ms, &n, NULL, NULL, NULL);
    put_u64(&w, ms);
    put_u64(&w, n);
    rc = siod_sio_store_mem_dump(st, &ms, &n, write_packet, write_socket,
                                 &w);
    for (; rc == 0 && handed != NULL; handed = handed->next)
        write_handover(&w, handed);
    put_u8(&w, REC_END);
    sio_sha256_final(&w.sha, digest);
    if (!w.failed && fwrite(digest, 1, sizeof digest, w.f) != sizeof digest)
        w.failed = 1;
    if (fflush(w.f) != 0 || fsync(fd) != 0)
        w.failed = 1;
    if (w.failed && rc == 0)
        rc = -EIO;
    if (fclose(w.f) != 0 && rc == 0)
        rc = -EIO;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return siod_err_set(why, cap, rc, "%s: %s", path, siod_strerror(rc));
    }
    sync_dir(path);
    *packets = w.packets;
    *sockets = w.sockets;
    return 0;
}

/* ---- reading --------------------------------------------------------------- */

struct reader {
    const unsigned char *p, *end;
    int bad;
};

static const unsigned char *take(struct reader *r, size_t len)
{
    if (r->bad || (size_t)(r->end - r->p) < len) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += len;
    return at;
}

static unsigned get_u8(struct reader *r)
{
    const unsigned char *b = take(r, 1);
    return b != NULL ? b[0] : 0;
}

static uint32_t get_u32(struct reader *r)
{
    const unsigned char *b = take(r, 4);
    return b != NULL ? sio_be32_get(b) : 0;
}

static uint64_t get_u64(struct reader *r)
{
    const unsigned char *b = take(r, 8);
    return b != NULL ? sio_be64_get(b) : 0;
}

/* A byte string's bytes (*len of them), or NULL when the file ends. */
static const unsigned char *get_bytes(struct reader *r, size_t *len)
{
    *len = get_u32(r);
    return take(r, *len);
}

/* A string without NUL bytes, malloc'd and NUL-terminated into *out;
 * max: longest allowed (0: any). Returns 0, -EPROTO or -ENOMEM. */
static int get_str(struct reader *r, size_t max, char **out)
{
    size_t len;
    const unsigned char *b = get_bytes(r, &len);

    *out = NULL;
    if (b == NULL || memchr(b, '\0', len) != NULL || (max && len > max)) {
        r->bad = 1;
        return -EPROTO;
    }
    *out = malloc(len + 1);
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, b, len);
    (*out)[len] = '\0';
    return 0;
}

/* A buffer holding the next byte string. Returns it (one reference), or
 * NULL with *rc set. */
static siod_buf *get_buf(struct reader *r, int *rc)
{
    size_t len;
    const unsigned char *b = get_bytes(r, &len);
    siod_buf *buf = b != NULL ? siod_buf_new(len) : NULL;

    if (buf == NULL) {
        *rc = b == NULL ? -EPROTO : -ENOMEM;
        return NULL;
    }
    memcpy(siod_buf_data(buf), b, len);
    return buf;
}

static int read_packet(struct reader *r, void *st)
{
    siod_sio_logged e = { 0 };
    siod_buf **atts = NULL;
    char *names = NULL;
    size_t len = 0;
    int rc = -EPROTO;

    e.ms = get_u64(r);
    e.n = get_u64(r);
    e.at = (int64_t)get_u64(r);
    e.nrooms = get_u32(r);
    e.nexcept = get_u32(r);
    /* names: each string's bytes and its NUL, one after the other */
    for (size_t i = 0; !r->bad && i < 1 + e.nrooms + e.nexcept; i++) {
        size_t k;
        const unsigned char *b = get_bytes(r, &k);
        char *grown = b != NULL && memchr(b, '\0', k) == NULL
                          ? realloc(names, len + k + 1) : NULL;
        if (grown == NULL) {
            rc = b == NULL || memchr(b, '\0', k) != NULL ? -EPROTO : -ENOMEM;
            r->bad = 1;
            break;
        }
        names = grown;
        memcpy(names + len, b, k);
        names[len + k] = '\0';
        len += k + 1;
    }
    if (!r->bad) {
        e.names = names;
        e.pkt.head = get_buf(r, &rc);
        e.pkt.natts = get_u32(r);
        /* each takes 4 bytes at least */
        if (e.pkt.natts > (size_t)(r->end - r->p) / 4)
            r->bad = 1;
        else if ((atts = calloc(e.pkt.natts + 1, sizeof *atts)) == NULL)
            rc = -ENOMEM;
        e.pkt.atts = atts;
        for (unsigned i = 0; e.pkt.head != NULL && atts != NULL &&
                             !r->bad && i < e.pkt.natts; i++)
            if ((atts[i] = get_buf(r, &rc)) == NULL)
                r->bad = 1;
        if (e.pkt.head != NULL && atts != NULL && !r->bad)
            rc = siod_sio_store_mem_restore(st, &e);
        else if (rc == 0 || r->bad)
            rc = -EPROTO;
    }
    siod_buf_unref(e.pkt.head);
    for (unsigned i = 0; atts != NULL && i < e.pkt.natts; i++)
        siod_buf_unref(atts[i]);
    free(atts);
    free(names);
    return rc;
}

/* Copies a string of at most SIO_SID_LEN bytes into id. */
static int get_id(struct reader *r, char id[SIO_SID_LEN + 1])
{
    char *s;
    int rc = get_str(r, SIO_SID_LEN, &s);

    if (rc == 0 && s[0] == '\0')
        rc = -EPROTO;
    if (rc == 0)
        memcpy(id, s, strlen(s) + 1);
    free(s);
    return rc;
}

static int read_socket(struct reader *r, void *st)
{
    siod_sio_saved *v = calloc(1, sizeof *v);
    size_t n;
    int rc;

    if (v == NULL)
        return -ENOMEM;
    if ((rc = get_id(r, v->sid)) < 0 || (rc = get_id(r, v->pid)) < 0 ||
        (rc = get_str(r, 0, &v->nsp)) < 0)
        goto fail;
    v->at = (int64_t)get_u64(r);
    if (get_u8(r) != 0 && (rc = get_str(r, 0, &v->data_json)) < 0)
        goto fail;
    n = get_u32(r);
    rc = -EPROTO;
    if (r->bad || n > (size_t)(r->end - r->p) / 4)
        goto fail;
    rc = -ENOMEM;
    v->rooms = calloc(n ? n : 1, sizeof *v->rooms);
    if (v->rooms == NULL)
        goto fail;
    for (; v->nrooms < n; v->nrooms++)
        if ((rc = get_str(r, 0, &v->rooms[v->nrooms])) < 0)
            goto fail;
    return siod_sio_store_mem.save(st, v);
fail:
    siod_sio_saved_free(v);
    return rc;
}

static int read_handover(struct reader *r, int (*handed)(siod_sio_handover *))
{
    siod_sio_handover *h = calloc(1, sizeof *h);
    const unsigned char *info;
    char *offset = NULL;
    size_t n;
    int rc;

    if (h == NULL)
        return -ENOMEM;
    if ((rc = get_id(r, h->sid)) < 0)
        goto fail;
    h->at = (int64_t)get_u64(r);
    if ((rc = get_str(r, SIOD_SIO_OFFSET_MAX - 1, &offset)) < 0)
        goto fail;
    memcpy(h->offset, offset, strlen(offset) + 1);
    info = get_bytes(r, &h->info_len);
    n = get_u32(r);
    rc = -EPROTO;
    /* each socket takes 12 bytes at least */
    if (info == NULL || r->bad || n > (size_t)(r->end - r->p) / 12)
        goto fail;
    rc = -ENOMEM;
    h->info = malloc(h->info_len ? h->info_len : 1);
    h->sockets = calloc(n ? n : 1, sizeof *h->sockets);
    if (h->info == NULL || h->sockets == NULL)
        goto fail;
    memcpy(h->info, info, h->info_len);
    for (; h->nsockets < n; h->nsockets++) {
        siod_sio_handover_socket *k = &h->sockets[h->nsockets];
        if ((rc = get_str(r, 0, &k->nsp)) < 0 ||
            (rc = get_id(r, k->pid)) < 0 ||
            (rc = get_str(r, 0, &k->auth)) < 0)
            goto fail;
    }
    free(offset);
    return handed(h);
fail:
    free(offset);
    siod_sio_handover_free(h);
    return rc;
}

/* Reads the whole of fd (a regular file) into a malloc'd *buf. */
static int slurp(int fd, unsigned char **buf, size_t *len)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0)
        return -errno;
    if ((uint64_t)sb.st_size > READ_MAX)
        return -EFBIG;
    *len = (size_t)sb.st_size;
    *buf = malloc(*len ? *len : 1);
    if (*buf == NULL)
        return -ENOMEM;
    for (size_t got = 0; got < *len;) {
        ssize_t k = read(fd, *buf + got, *len - got);
        if (k <= 0) {
            free(*buf);
            return k < 0 ? -errno : -EPROTO;
        }
        got += (size_t)k;
    }
    return 0;
}

/* Checks who may have written the file open on fd: a regular file of
 * this user that no one else may write. */
static int trusted(int fd, char *why, size_t cap)
{
    struct stat sb;

    if (fstat(fd, &sb) < 0)
        return siod_err_set(why, cap, -errno, "%s", strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return siod_err_set(why, cap, -EPERM, "not a regular file");
    if (sb.st_uid != geteuid() || (sb.st_mode & 022) != 0)
        return siod_err_set(why, cap, -EPERM, "owned by uid %ld with mode "
                            "%04o: not written by this siod's user (it "
                            "writes 0600)", (long)sb.st_uid,
                            (unsigned)(sb.st_mode & 07777));
    return 0;
}

int siod_sio_state_read(const char *path, void *st, unsigned window_ms,
                        int (*handed)(siod_sio_handover *h),
                        siod_sio_state_info *info, char *why, size_t cap)
{
    unsigned char *buf = NULL, digest[SIO_SHA256_LEN];
    sio_sha256 sha;
    size_t len = 0;
    int rc, fd;

    memset(info, 0, sizeof *info);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return siod_err_set(why, cap, -errno, "%s", strerror(errno));
    rc = trusted(fd, why, cap);
    if (rc == 0 && (rc = slurp(fd, &buf, &len)) < 0)
        siod_err_set(why, cap, rc, "%s", siod_strerror(rc));
    close(fd);
    if (rc < 0)
        return rc;
    if (len < HEAD_LEN + 1 + SIO_SHA256_LEN ||
        memcmp(buf, MAGIC, sizeof MAGIC) != 0) {
        free(buf);
        info->foreign = 1;
        return siod_err_set(why, cap, -EPROTO, "not a siod state file");
    }
    struct reader r = { buf + sizeof MAGIC, buf + len - SIO_SHA256_LEN, 0 };
    uint32_t version = get_u32(&r);
    int64_t written = (int64_t)get_u64(&r), now = siod_now_ms();
    info->age_ms = now - written;
    if (version != VERSION) {
        rc = siod_err_set(why, cap, -EPROTO, "version %u; this siod reads "
                          "version %u", (unsigned)version, VERSION);
        goto out;
    }
    sio_sha256_init(&sha);
    sio_sha256_update(&sha, buf, len - SIO_SHA256_LEN);
    sio_sha256_final(&sha, digest);
    if (memcmp(digest, buf + len - SIO_SHA256_LEN, SIO_SHA256_LEN) != 0) {
        rc = siod_err_set(why, cap, -EPROTO, "corrupt (its checksum does "
                          "not match: cut short or changed)");
        goto out;
    }
    if (info->age_ms > (int64_t)window_ms || info->age_ms < -60000) {
        rc = siod_err_set(why, cap, -ESTALE, "written %lld ms ago, past "
                          "the window of %u ms", (long long)info->age_ms,
                          window_ms);
        goto out;
    }
    get_u32(&r);                                 /* the writer's window */
    uint64_t ms = get_u64(&r), n = get_u64(&r);
    for (;;) {
        unsigned kind = get_u8(&r);
        if (r.bad || kind == REC_END)
            break;
        if (kind == REC_PACKET) {
            rc = read_packet(&r, st);
            info->packets += rc == 0;
        } else if (kind == REC_SOCKET) {
            rc = read_socket(&r, st);
            info->sockets += rc == 0;
        } else if (kind == REC_HANDOVER) {
            rc = read_handover(&r, handed);
            info->sessions += rc == 0;
        } else {
            rc = -EPROTO;
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && (r.bad || r.p != r.end))
        rc = -EPROTO;
    if (rc < 0) {
        siod_err_set(why, cap, rc, "%s", rc == -ENOMEM ? "out of memory"
                     : "malformed records (a bug in the writer?)");
        goto out;
    }
    siod_sio_store_mem_restore_offset(st, ms, n);
out:
    free(buf);
    return rc;
}
