/* The request channel's codec (@socket.io/redis-adapter's
 * `<prefix>-request#<nsp>#`): JSON requests other servers and the emitter
 * send, read with json-c, and the JSON responses this server publishes on
 * `<prefix>-response#<nsp>#`. Pure: no loop, no log, no global state. */
#include "siod_cluster.h"
#include "sio_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void siod_cluster_req_clear(siod_cluster_req *q)
{
    free(q->uid);
    free(q->request_id);
    for (size_t i = 0; i < q->nrooms; i++)
        free(q->rooms[i]);
    for (size_t i = 0; i < q->nexcept; i++)
        free(q->except[i]);
    for (size_t i = 0; i < q->nnames; i++)
        free(q->names[i]);
    free(q->rooms);
    free(q->except);
    free(q->names);
    memset(q, 0, sizeof *q);
}

/* A copy of a string member (NULL when absent or not a string). */
static int str_member(struct json_object *o, const char *key, char **out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return 0;
    *out = strdup(json_object_get_string(v));
    return *out != NULL ? 0 : -ENOMEM;
}

/* Room names: an array of strings (numbers taken as their text), or one
 * string; anything else is none. */
static int names(struct json_object *v, char ***out, size_t *n)
{
    size_t len;
    if (v == NULL || json_object_is_type(v, json_type_null))
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        *out = calloc(1, sizeof **out);
        if (*out == NULL || ((*out)[0] = strdup(json_object_get_string(v))) ==
                                NULL)
            return -ENOMEM;
        *n = 1;
        return 0;
    }
    if (!json_object_is_type(v, json_type_array))
        return -EPROTO;
    len = json_object_array_length(v);
    *out = calloc(len ? len : 1, sizeof **out);
    if (*out == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string) &&
            !json_object_is_type(e, json_type_int))
            return -EPROTO;
        if (((*out)[*n] = strdup(json_object_get_string(e))) == NULL)
            return -ENOMEM;
        (*n)++;
    }
    return 0;
}

/* Parses msg[0..len), a JSON message (it starts with '{'), nested at most
 * depth deep, into *o (one reference). Returns 0, -EPROTO or -ENOMEM. */
static int parse_object(const unsigned char *msg, size_t len, int depth,
                        struct json_object **o)
{
    struct json_tokener *tok;

    if (len == 0 || msg[0] != '{' || len > (size_t)INT32_MAX)
        return -EPROTO;
    tok = json_tokener_new_ex(depth);
    if (tok == NULL)
        return -ENOMEM;
    *o = json_tokener_parse_ex(tok, (const char *)msg, (int)len);
    json_tokener_free(tok);
    return *o != NULL ? 0 : -EPROTO;
}

int siod_cluster_decode_request(const unsigned char *msg, size_t len,
                                siod_cluster_req *q)
{
    struct json_object *o, *v, *opts;
    int rc;

    memset(q, 0, sizeof *q);
    /* JSON requests start with '{'; msgpack ones (a broadcast with acks
     * carrying binary) are not read here */
    if ((rc = parse_object(msg, len, 64, &o)) < 0)
        return rc;
    rc = -EPROTO;
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "type", &v) ||
        !json_object_is_type(v, json_type_int))
        goto out;
    q->type = (int)json_object_get_int(v);
    if ((rc = str_member(o, "uid", &q->uid)) < 0 ||
        (rc = str_member(o, "requestId", &q->request_id)) < 0)
        goto out;
    if (json_object_object_get_ex(o, "opts", &opts) &&
        json_object_is_type(opts, json_type_object)) {
        q->has_opts = 1;
        if (!json_object_object_get_ex(opts, "rooms", &v))
            v = NULL;
        if ((rc = names(v, &q->rooms, &q->nrooms)) < 0)
            goto out;
        if (!json_object_object_get_ex(opts, "except", &v))
            v = NULL;
        if ((rc = names(v, &q->except, &q->nexcept)) < 0)
            goto out;
    }
    /* a join's or leave's rooms; the rooms of a SOCKETS request */
    if (!json_object_object_get_ex(o, "rooms", &v))
        v = NULL;
    if ((rc = names(v, &q->names, &q->nnames)) < 0)
        goto out;
    q->close = json_object_object_get_ex(o, "close", &v) &&
               json_object_get_boolean(v);
    rc = 0;
out:
    json_object_put(o);
    if (rc < 0)
        siod_cluster_req_clear(q);
    return rc;
}

/* Room for n more bytes (and a NUL) in the growing *buf. */
static int reserve(char **buf, size_t len, size_t *cap, size_t n)
{
    if (*cap - len >= n + 1)
        return 0;
    size_t nc = *cap ? *cap : 128;
    while (nc - len < n + 1)
        nc *= 2;
    char *nb = realloc(*buf, nc);
    if (nb == NULL)
        return -ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

/* Appends s[0..n) to the growing *buf. */
static int add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (reserve(buf, *len, cap, n) < 0)
        return -ENOMEM;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Appends s as a quoted JSON string; -EINVAL if s is not UTF-8. */
static int add_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s), need = sio_json_string_size(s, n), w;
    if (reserve(buf, *len, cap, need) < 0)
        return -ENOMEM;
    if (sio_json_write_string(s, n, *buf + *len, need, &w) != SIO_OK)
        return -EINVAL;
    *len += w;
    (*buf)[*len] = '\0';
    return 0;
}

char *siod_cluster_response(const char *request_id, const char *key,
                            char *const *items, size_t n, int quote,
                            size_t *outlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = add(&buf, &len, &cap, "{\"requestId\":", 13);
    if (rc == 0)
        rc = add_quoted(&buf, &len, &cap, request_id);
    if (rc == 0 && key != NULL) {
        rc = add(&buf, &len, &cap, ",", 1);
        if (rc == 0)
            rc = add_quoted(&buf, &len, &cap, key);
        if (rc == 0)
            rc = add(&buf, &len, &cap, ":[", 2);
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i > 0)
                rc = add(&buf, &len, &cap, ",", 1);
            if (rc == 0)
                rc = quote ? add_quoted(&buf, &len, &cap, items[i])
                           : add(&buf, &len, &cap, items[i], strlen(items[i]));
        }
        if (rc == 0)
            rc = add(&buf, &len, &cap, "]", 1);
    }
    if (rc == 0)
        rc = add(&buf, &len, &cap, "}", 1);
    if (rc < 0) {
        free(buf);
        return NULL;
    }
    *outlen = len;
    return buf;
}

char *siod_cluster_client_count(const char *request_id, size_t count,
                                size_t *outlen)
{
    char *buf = NULL, num[32];
    size_t len = 0, cap = 0;
    int rc = add(&buf, &len, &cap, "{\"type\":8,\"requestId\":", 22);
    if (rc == 0)
        rc = add_quoted(&buf, &len, &cap, request_id);
    snprintf(num, sizeof num, ",\"clientCount\":%zu}", count);
    if (rc == 0)
        rc = add(&buf, &len, &cap, num, strlen(num));
    if (rc < 0) {
        free(buf);
        return NULL;
    }
    *outlen = len;
    return buf;
}

int siod_cluster_decode_count(const unsigned char *msg, size_t len,
                              char **request_id, size_t *count)
{
    struct json_object *o, *v;
    int rc;

    *request_id = NULL;
    if ((rc = parse_object(msg, len, 16, &o)) < 0)
        return rc;
    rc = -EPROTO;
    if (json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "type", &v) &&
        json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) == SIOD_REQ_BROADCAST_CLIENT_COUNT &&
        json_object_object_get_ex(o, "clientCount", &v) &&
        json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) >= 0) {
        *count = (size_t)json_object_get_int64(v);
        rc = str_member(o, "requestId", request_id);
        if (rc == 0 && *request_id == NULL)
            rc = -EPROTO;
    }
    json_object_put(o);
    return rc;
}
