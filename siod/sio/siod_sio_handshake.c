/* The handshake applications see (the reference's socket.handshake): the
 * connection's part (headers, query, address, url, secure, user) is built
 * once per client from the module's OPEN info and shared by its sockets;
 * each socket adds its auth payload and creation time. Values are kept
 * NUL-terminated and valid UTF-8 so that applications can use them as C
 * strings and the JSON form needs no checks. */
#include "siod_sio_int.h"
#include "sio_json.h"
#include "sio_relay.h"
#include "sio_utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kv {
    char *k;
    char *v;
};

struct siod_sio_hs {
    unsigned refs;
    char *url;
    char *address;
    char *user;                      /* NULL if none */
    int secure;
    int xdomain;
    struct kv *headers;
    size_t nheaders;
    struct kv *query;
    size_t nquery;
};

/* Copies s[0..n) as a NUL-terminated string, bytes that are not UTF-8
 * replaced by U+FFFD (as Node decodes a request). */
static char *dup_utf8(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (size_t c = 1; c <= 4 && i + c <= n; c++)
            if (sio_utf8_valid((const unsigned char *)s + i, c)) {
                k = c;
                break;
            }
        if (k > 0 && s[i] != '\0') {
            memcpy(o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o = '\0';
    return out;
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

/* Decodes a query component ('+' is a space, %XX a byte), as Node's
 * querystring.unescape. */
static char *unescape(const char *s, size_t n)
{
    char *tmp = malloc(n + 1), *out;
    size_t o = 0;
    if (tmp == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            tmp[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            tmp[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            tmp[o++] = s[i];
        }
    }
    out = dup_utf8(tmp, o);
    free(tmp);
    return out;
}

/* The helpers that build the handshake return 0 or -ENOMEM. They take
 * k and val (malloc'd; NULL when a copy ran out of memory) in any case. */
static int kv_push(struct kv **v, size_t *n, char *k, char *val)
{
    struct kv *nv = realloc(*v, (*n + 1) * sizeof **v);
    if (nv == NULL || k == NULL || val == NULL) {
        if (nv != NULL)
            *v = nv;
        free(k);
        free(val);
        return -ENOMEM;
    }
    *v = nv;
    nv[*n].k = k;
    nv[*n].v = val;
    (*n)++;
    return 0;
}

static int parse_query_kv(struct kv **out, size_t *nout, const char *q,
                          size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp != NULL ? (size_t)(amp - q) : n;
        if (end > i) {
            const char *eq = memchr(q + i, '=', end - i);
            size_t klen = eq != NULL ? (size_t)(eq - (q + i)) : end - i;
            const char *v = eq != NULL ? eq + 1 : q + end;
            size_t vlen = (size_t)(q + end - v);
            int rc = kv_push(out, nout, unescape(q + i, klen),
                             unescape(v, vlen));
            if (rc < 0)
                return rc;
        }
        i = end + 1;
    }
    return 0;
}

static int parse_query(siod_sio_hs *hs, const char *q, size_t n)
{
    return parse_query_kv(&hs->query, &hs->nquery, q, n);
}

/* Adds a header; a repeated name is joined with ", " as Node does. */
static int add_header(siod_sio_hs *hs, const char *k, size_t klen,
                      const char *v, size_t vlen)
{
    for (size_t i = 0; i < hs->nheaders; i++) {
        if (strlen(hs->headers[i].k) == klen &&
            memcmp(hs->headers[i].k, k, klen) == 0) {
            char *add = dup_utf8(v, vlen);
            if (add == NULL)
                return -ENOMEM;
            size_t old = strlen(hs->headers[i].v), an = strlen(add);
            char *joined = realloc(hs->headers[i].v, old + 2 + an + 1);
            if (joined == NULL) {
                free(add);
                return -ENOMEM;
            }
            memcpy(joined + old, ", ", 2);
            memcpy(joined + old + 2, add, an + 1);
            hs->headers[i].v = joined;
            free(add);
            return 0;
        }
    }
    return kv_push(&hs->headers, &hs->nheaders, dup_utf8(k, klen),
                   dup_utf8(v, vlen));
}

siod_sio_hs *siod_sio_hs_new(siod_session *s)
{
    const unsigned char *info;
    size_t len, off = 0;
    sio_relay_kv kv;
    siod_sio_hs *hs = calloc(1, sizeof *hs);

    if (hs == NULL)
        return NULL;
    hs->refs = 1;
    siod_session_info_raw(s, &info, &len);
    while (sio_relay_kv_next(info, len, &off, &kv) == SIO_OK) {
        int rc = 0;
#define KEY(name) (kv.key_len == sizeof(name) - 1 && \
                   memcmp(kv.key, name, sizeof(name) - 1) == 0)
        if (KEY("url")) {
            free(hs->url);
            rc = (hs->url = dup_utf8(kv.val, kv.val_len)) == NULL;
        } else if (KEY("remote_addr")) {
            free(hs->address);
            rc = (hs->address = dup_utf8(kv.val, kv.val_len)) == NULL;
        } else if (KEY("user")) {
            free(hs->user);
            rc = (hs->user = dup_utf8(kv.val, kv.val_len)) == NULL;
        } else if (KEY("secure")) {
            hs->secure = kv.val_len == 1 && kv.val[0] == '1';
        } else if (KEY("query")) {
            rc = parse_query(hs, kv.val, kv.val_len);
        } else if (kv.key_len > 2 && memcmp(kv.key, "h:", 2) == 0) {
            rc = add_header(hs, kv.key + 2, kv.key_len - 2, kv.val,
                            kv.val_len);
            if (kv.key_len == 8 && memcmp(kv.key + 2, "origin", 6) == 0)
                hs->xdomain = 1;
        }
#undef KEY
        if (rc != 0) {
            siod_sio_hs_unref(hs);
            return NULL;
        }
    }
    if (hs->url == NULL)
        hs->url = strdup("");
    if (hs->address == NULL)
        hs->address = strdup("");
    if (hs->url == NULL || hs->address == NULL) {
        siod_sio_hs_unref(hs);
        return NULL;
    }
    return hs;
}

siod_sio_hs *siod_sio_hs_ref(siod_sio_hs *hs)
{
    hs->refs++;
    return hs;
}

static void kv_free(struct kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].k);
        free(v[i].v);
    }
    free(v);
}

void siod_sio_hs_unref(siod_sio_hs *hs)
{
    if (hs == NULL || --hs->refs > 0)
        return;
    free(hs->url);
    free(hs->address);
    free(hs->user);
    kv_free(hs->headers, hs->nheaders);
    kv_free(hs->query, hs->nquery);
    free(hs);
}

/* ---- public accessors --------------------------------------------------- */

static const char *kv_get(const struct kv *v, size_t n, const char *k)
{
    for (size_t i = 0; k != NULL && i < n; i++)
        if (strcmp(v[i].k, k) == 0)
            return v[i].v;
    return NULL;
}

const char *siod_handshake_header(const siod_socket *s, const char *name)
{
    return kv_get(s->hs->headers, s->hs->nheaders, name);
}

const char *siod_handshake_query(const siod_socket *s, const char *key)
{
    return kv_get(s->hs->query, s->hs->nquery, key);
}

const char *siod_handshake_address(const siod_socket *s)
{
    return s->hs->address;
}

const char *siod_handshake_url(const siod_socket *s)
{
    return s->hs->url;
}

int siod_handshake_secure(const siod_socket *s)
{
    return s->hs->secure;
}

int siod_handshake_xdomain(const siod_socket *s)
{
    return s->hs->xdomain;
}

const char *siod_handshake_user(const siod_socket *s)
{
    return s->hs->user;
}

const char *siod_handshake_auth(const siod_socket *s)
{
    return s->auth != NULL ? s->auth : "{}";
}

int64_t siod_handshake_issued(const siod_socket *s)
{
    return s->issued;
}

const char *siod_handshake_time(const siod_socket *s)
{
    return s->time;
}

/* The JSON form's helpers append to t and return 0, -ENOMEM, or -EINVAL
 * (a string that is not UTF-8: none is, they were copied as UTF-8). */
static int add_quoted(siod_sio_text *t, const char *s)
{
    size_t n = strlen(s), need = sio_json_string_size(s, n), w;
    char small[256], *buf = need <= sizeof small ? small : malloc(need);
    int rc;
    if (buf == NULL)
        return -ENOMEM;
    if (sio_json_write_string(s, n, buf, need, &w) == SIO_OK)
        rc = siod_sio_text_add(t, buf, w);
    else
        rc = -EINVAL;
    if (buf != small)
        free(buf);
    return rc;
}

/* Writes {"k":"v",...}; repeated keys (query) become arrays, as Node's
 * querystring.parse makes them. */
static int add_object(siod_sio_text *t, const struct kv *v, size_t n)
{
    int rc = siod_sio_text_add(t, "{", 1);
    size_t written = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t first = 0, count = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(v[j].k, v[i].k) == 0) {
                if (count++ == 0)
                    first = j;
            }
        if (first != i)
            continue;
        if (written++ > 0)
            rc = siod_sio_text_add(t, ",", 1);
        if (rc == 0)
            rc = add_quoted(t, v[i].k);
        if (rc == 0)
            rc = siod_sio_text_add(t, ":", 1);
        if (rc == 0 && count > 1)
            rc = siod_sio_text_add(t, "[", 1);
        for (size_t j = i, k = 0; j < n && rc == 0; j++) {
            if (strcmp(v[j].k, v[i].k) != 0)
                continue;
            if (k++ > 0)
                rc = siod_sio_text_add(t, ",", 1);
            if (rc == 0)
                rc = add_quoted(t, v[j].v);
        }
        if (rc == 0 && count > 1)
            rc = siod_sio_text_add(t, "]", 1);
    }
    if (rc == 0)
        rc = siod_sio_text_add(t, "}", 1);
    return rc;
}

const char *siod_handshake_json(const siod_socket *s)
{
    siod_sio_text t = { NULL, 0, 0 };
    const siod_sio_hs *hs = s->hs;
    char num[32];
    int rc;

    if (s->hs_json != NULL)
        return s->hs_json;
    rc = siod_sio_text_add(&t, "{\"headers\":", 11);
    if (rc == 0)
        rc = add_object(&t, hs->headers, hs->nheaders);
    if (rc == 0)
        rc = siod_sio_text_add(&t, ",\"time\":", 8);
    if (rc == 0)
        rc = add_quoted(&t, s->time);
    if (rc == 0)
        rc = siod_sio_text_add(&t, ",\"address\":", 11);
    if (rc == 0)
        rc = add_quoted(&t, hs->address);
    if (rc == 0)
        rc = siod_sio_text_add(&t, hs->xdomain ? ",\"xdomain\":true"
                                               : ",\"xdomain\":false",
                               hs->xdomain ? 15 : 16);
    if (rc == 0)
        rc = siod_sio_text_add(&t, hs->secure ? ",\"secure\":true"
                                              : ",\"secure\":false",
                               hs->secure ? 14 : 15);
    snprintf(num, sizeof num, ",\"issued\":%lld", (long long)s->issued);
    if (rc == 0)
        rc = siod_sio_text_add(&t, num, strlen(num));
    if (rc == 0)
        rc = siod_sio_text_add(&t, ",\"url\":", 7);
    if (rc == 0)
        rc = add_quoted(&t, hs->url);
    if (rc == 0)
        rc = siod_sio_text_add(&t, ",\"query\":", 9);
    if (rc == 0)
        rc = add_object(&t, hs->query, hs->nquery);
    if (rc == 0)
        rc = siod_sio_text_add(&t, ",\"auth\":", 8);
    if (rc == 0) {
        const char *auth = siod_handshake_auth(s);
        rc = siod_sio_text_add(&t, auth, strlen(auth));
    }
    if (rc == 0 && hs->user != NULL) {
        rc = siod_sio_text_add(&t, ",\"user\":", 8);
        if (rc == 0)
            rc = add_quoted(&t, hs->user);
    }
    if (rc == 0)
        rc = siod_sio_text_add(&t, "}", 1);
    if (rc != 0) {
        free(t.p);
        return NULL;
    }
    ((siod_socket *)s)->hs_json = t.p;
    return t.p;
}

/* Formats ms since the epoch as JavaScript's Date.prototype.toString does
 * in UTC ("Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal
 * Time)"). */
void siod_sio_format_time(int64_t ms, char *buf, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL ||
        strftime(buf, cap, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated "
                 "Universal Time)", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)ms);
}

/* See siod_sio_int.h. */
char *siod_sio_query_json(const char *q, size_t n)
{
    struct kv *v = NULL;
    size_t nv = 0;
    siod_sio_text t = { NULL, 0, 0 };
    int rc = parse_query_kv(&v, &nv, q, n);

    if (rc == 0)
        rc = add_object(&t, v, nv);
    kv_free(v, nv);
    if (rc < 0) {
        free(t.p);
        return NULL;
    }
    return t.p;
}
