/* The schema directory (--schemas=DIR): every DIR/NAME.json compiled at
 * start-up as the schema of the event NAME escapes (%XX for a byte that is
 * not safe in a file name), kept in a table by event name. A file that
 * cannot be read or compiled stops the load with its path and the JSON
 * pointer of the problem, and siod does not start. */
#include "core/siod_core.h"
#include "siod_guard_int.h"
#include "sio_utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEMA_FILE_MAX (1024 * 1024)   /* bytes of one schema file */
#define EVENT_NAME_MAX 1024             /* bytes of a decoded event name */

struct entry {
    uint64_t hash;
    size_t len;
    siod_schema *schema;
    char name[];                 /* len bytes, then a NUL */
};

struct name_key {
    const char *name;
    size_t len;
};

static siod_hash table;
static int table_ready;

/* FNV-1a: the table is filled at start-up, before siod seeds
 * siod_hash_bytes (a seed that changed later would lose every entry), and
 * with names the operator chose. */
static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int entry_eq(const void *item, const void *key)
{
    const struct entry *e = item;
    const struct name_key *k = key;
    return e->len == k->len && memcmp(e->name, k->name, k->len) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int siod_schema_name_decode(const char *file, size_t len, char *out,
                            size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)file[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -EINVAL;
            int hi = hexval(file[i + 1]), lo = hexval(file[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0)
            return -EINVAL;
        if (n + 1 >= cap)
            return -ENAMETOOLONG;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n == 0 || !sio_utf8_valid((const unsigned char *)out, n))
        return -EINVAL;
    return (int)n;
}

int siod_schema_name_encode(const char *name, size_t len, char *out,
                            size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                   (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                   (c == '.' && i > 0);
        if (n + (keep ? 1 : 3) >= cap)
            return -ENAMETOOLONG;
        if (keep) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    if (n >= cap)
        return -ENAMETOOLONG;
    out[n] = '\0';
    return (int)n;
}

/* Reads path whole (at most SCHEMA_FILE_MAX bytes) into a malloc'd
 * buffer. Returns 0 with *out and *len set, or a negative errno. */
static int read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EISDIR;
        goto done;
    }
    if (st.st_size > SCHEMA_FILE_MAX) {
        rc = -EFBIG;
        goto done;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k < 0 ? -errno : -EIO;
            free(buf);
            goto done;
        }
        got += (size_t)k;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
done:
    close(fd);
    return rc;
}

static void free_table(void)
{
    if (!table_ready)
        return;
    for (size_t i = 0; i < table.cap; i++) {
        struct entry *e = table.slots[i].item;
        if (e != NULL) {
            siod_schema_free(e->schema);
            free(e);
        }
    }
    siod_hash_destroy(&table);
    table_ready = 0;
}

/* Compiles DIR/file (stem: its name less ".json") into the table. Returns
 * 0 or a negative code with why set. */
static int load_one(const char *dir, const char *file, size_t stem,
                    char *why, size_t cap)
{
    char path[4096], name[EVENT_NAME_MAX + 1], detail[600];
    char *text = NULL;
    size_t len = 0;
    siod_schema *sc = NULL;
    int rc;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
        sizeof path)
        return siod_err_set(why, cap, -ENAMETOOLONG, "%s/%s: path too long",
                            dir, file);
    rc = siod_schema_name_decode(file, stem, name, sizeof name);
    if (rc < 0)
        return siod_err_set(why, cap, -EINVAL, "%s: not an event name: "
                            "%s (docs/schemas.md: %%XX escapes, UTF-8, not "
                            "empty, at most %d bytes)", path,
                            rc == -EINVAL ? "a bad escape or not UTF-8"
                                          : "too long", EVENT_NAME_MAX);
    size_t nlen = (size_t)rc;
    rc = read_file(path, &text, &len);
    if (rc < 0)
        return siod_err_set(why, cap, rc, "%s: %s", path,
                            rc == -EFBIG ? "larger than 1 MiB"
                                         : siod_strerror(rc));
    rc = siod_schema_compile(text, len, &sc, detail, sizeof detail);
    free(text);
    if (rc < 0)
        return siod_err_set(why, cap, rc, "%s: %s", path, detail);
    struct entry *e = malloc(sizeof *e + nlen + 1);
    if (e == NULL) {
        siod_schema_free(sc);
        return siod_err_set(why, cap, -ENOMEM, "%s: out of memory", path);
    }
    e->hash = name_hash(name, nlen);
    e->len = nlen;
    e->schema = sc;
    memcpy(e->name, name, nlen + 1);
    struct name_key k = { e->name, nlen };
    if (siod_hash_find(&table, e->hash, &k) != NULL) {
        siod_schema_free(sc);
        free(e);
        return siod_err_set(why, cap, -EINVAL, "%s: a second file for "
                            "event \"%s\" (two spellings of one name)",
                            path, name);
    }
    if (siod_hash_insert(&table, e->hash, e) < 0) {
        siod_schema_free(sc);
        free(e);
        return siod_err_set(why, cap, -ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

int siod_schemas_load(const char *dir, char *why, size_t cap)
{
    DIR *d;
    struct dirent *de;
    int rc = 0, n = 0;

    free_table();
    siod_hash_init(&table, entry_eq);
    table_ready = 1;
    d = opendir(dir);
    if (d == NULL) {
        rc = -errno;
        return siod_err_set(why, cap, rc, "%s: %s", dir, siod_strerror(rc));
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 5 ||
            strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        rc = load_one(dir, de->d_name, len - 5, why, cap);
        if (rc < 0)
            break;
        n++;
    }
    closedir(d);
    if (rc < 0) {
        free_table();
        return rc;
    }
    return n;
}

const siod_schema *siod_schemas_find(const char *name, size_t len)
{
    if (!table_ready || table.count == 0)
        return NULL;
    struct name_key k = { name, len };
    const struct entry *e = siod_hash_find(&table, name_hash(name, len),
                                           &k);
    return e != NULL ? e->schema : NULL;
}

size_t siod_schemas_count(void)
{
    return table_ready ? table.count : 0;
}

void siod_schemas_cleanup(void)
{
    free_table();
}
