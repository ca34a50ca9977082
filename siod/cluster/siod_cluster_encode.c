/* The encoder of classic @socket.io/redis-adapter broadcasts: one of
 * siod's encoded Socket.IO packets (text with binary attachments) as
 * msgpack [uid, packet, opts], the packet's JSON read with json-c and
 * written with msgpack-c's packer, binary as bin. Pure: no loop, no log,
 * no global state. */
#include "siod_cluster.h"
#include "sio_packet.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The packer's output: msgpack-c's buffer, and whether a write failed
 * (its packer calls return -1 then, which this keeps for the end). */
struct out {
    msgpack_sbuffer sb;
    int failed;
};

static int out_write(void *data, const char *buf, size_t len)
{
    struct out *o = data;
    if (msgpack_sbuffer_write(&o->sb, buf, len) != 0)
        o->failed = 1;
    return o->failed ? -1 : 0;
}

/* Ends a message packed into o: rc 0 with no failed write hands its bytes
 * to *out (malloc'd) and returns 0; otherwise frees them and returns
 * -EINVAL (what could not be encoded) or -ENOMEM. */
static int out_finish(struct out *o, int rc, unsigned char **out,
                      size_t *outlen)
{
    if (rc != -EINVAL && o->failed)
        rc = -ENOMEM;
    if (rc != 0) {
        msgpack_sbuffer_destroy(&o->sb);
        return rc == -EINVAL ? rc : -ENOMEM;
    }
    *out = (unsigned char *)o->sb.data;
    *outlen = o->sb.size;
    return 0;
}

struct enc {
    msgpack_packer pk;
    const siod_cluster_bin *atts;
    unsigned natts;
};

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Returns the attachment index of a placeholder object, -1 for another
 * object, -EINVAL for a placeholder out of range. */
static int placeholder(const struct enc *e, struct json_object *o)
{
    struct json_object *ph, *num;
    if (!json_object_object_get_ex(o, "_placeholder", &ph) ||
        !json_object_is_type(ph, json_type_boolean) ||
        !json_object_get_boolean(ph))
        return -1;
    if (!json_object_object_get_ex(o, "num", &num) ||
        !json_object_is_type(num, json_type_int))
        return -EINVAL;
    int64_t k = json_object_get_int64(num);
    return k >= 0 && k < (int64_t)e->natts ? (int)k : -EINVAL;
}

static int pack_json(struct enc *e, struct json_object *o)
{
    msgpack_packer *pk = &e->pk;
    int rc = 0;
    switch (json_object_get_type(o)) {
    case json_type_null:
        return msgpack_pack_nil(pk);
    case json_type_boolean:
        return json_object_get_boolean(o) ? msgpack_pack_true(pk)
                                          : msgpack_pack_false(pk);
    case json_type_int: {
        int64_t v = json_object_get_int64(o);
        if (v == INT64_MAX)
            return msgpack_pack_uint64(pk, json_object_get_uint64(o));
        return msgpack_pack_int64(pk, v);
    }
    case json_type_double: {
        double d = json_object_get_double(o);
        /* JavaScript has one number type: an integral value is packed as
         * an integer, as notepack.io does */
        if (isfinite(d) && d == trunc(d) && fabs(d) < 9.2e18)
            return msgpack_pack_int64(pk, (int64_t)d);
        return msgpack_pack_double(pk, d);
    }
    case json_type_string:
        pack_str(pk, json_object_get_string(o),
                 (size_t)json_object_get_string_len(o));
        return 0;
    case json_type_array: {
        size_t n = json_object_array_length(o);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = pack_json(e, json_object_array_get_idx(o, i));
        return rc;
    }
    case json_type_object: {
        int k = placeholder(e, o);
        if (k == -EINVAL)
            return k;
        if (k >= 0) {
            msgpack_pack_bin(pk, e->atts[k].len);
            return msgpack_pack_bin_body(pk, e->atts[k].data, e->atts[k].len);
        }
        msgpack_pack_map(pk, (size_t)json_object_object_length(o));
        json_object_object_foreach(o, key, val) {
            if (rc == 0) {
                pack_str(pk, key, strlen(key));
                rc = pack_json(e, val);
            }
        }
        return rc;
    }
    }
    return -EINVAL;
}

static void pack_names(msgpack_packer *pk, char *const *v, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_str(pk, v[i], strlen(v[i]));
}

int siod_cluster_encode_bcast(const char *uid, const char *request_id,
                              const char *pkt, size_t len,
                              const siod_cluster_bin *atts, unsigned natts,
                              char *const *rooms, size_t nrooms,
                              char *const *except, size_t nexcept,
                              unsigned flags, unsigned char **out,
                              size_t *outlen)
{
    struct sio_packet p;
    struct sio_packet_opts po = { natts > 0 ? natts : 1, 128,
                                  SIO_JSON_LONE_SURROGATES };
    struct json_tokener *tok;
    struct json_object *data;
    struct out ob;
    struct enc e;
    int rc;

    if (sio_packet_parse(pkt, len, &po, &p) != SIO_OK ||
        (p.has_id && request_id == NULL) ||
        (p.type != SIO_PACKET_EVENT && p.type != SIO_PACKET_BINARY_EVENT) ||
        p.attachments != (p.type == SIO_PACKET_BINARY_EVENT ? natts : 0))
        return -EINVAL;
    tok = json_tokener_new_ex(130);
    if (tok == NULL)
        return -ENOMEM;
    data = json_tokener_parse_ex(tok, p.data.ptr, (int)p.data.len);
    rc = data == NULL ? -EINVAL : 0;
    json_tokener_free(tok);
    if (rc < 0)
        return rc;

    msgpack_sbuffer_init(&ob.sb);
    ob.failed = 0;
    msgpack_packer_init(&e.pk, &ob, out_write);
    e.atts = atts;
    e.natts = natts;
    if (request_id == NULL) {
        msgpack_pack_array(&e.pk, 3);
        pack_str(&e.pk, uid, strlen(uid));
    } else {
        /* the receivers give the packet ack ids of their own */
        msgpack_pack_map(&e.pk, 5);
        pack_str(&e.pk, "uid", 3);
        pack_str(&e.pk, uid, strlen(uid));
        pack_str(&e.pk, "requestId", 9);
        pack_str(&e.pk, request_id, strlen(request_id));
        pack_str(&e.pk, "type", 4);
        msgpack_pack_int(&e.pk, SIOD_REQ_BROADCAST);
        pack_str(&e.pk, "packet", 6);
    }
    msgpack_pack_map(&e.pk, 3);
    pack_str(&e.pk, "type", 4);
    msgpack_pack_int(&e.pk, SIO_PACKET_EVENT);
    pack_str(&e.pk, "data", 4);
    rc = pack_json(&e, data);
    pack_str(&e.pk, "nsp", 3);
    pack_str(&e.pk, p.nsp, p.nsp_len);
    if (request_id != NULL)
        pack_str(&e.pk, "opts", 4);
    msgpack_pack_map(&e.pk, 3);
    pack_str(&e.pk, "rooms", 5);
    pack_names(&e.pk, rooms, nrooms);
    pack_str(&e.pk, "except", 6);
    pack_names(&e.pk, except, nexcept);
    pack_str(&e.pk, "flags", 5);
    msgpack_pack_map(&e.pk, ((flags & SIOD_CLUSTER_VOLATILE) != 0) +
                                ((flags & SIOD_CLUSTER_NO_COMPRESS) != 0));
    if (flags & SIOD_CLUSTER_VOLATILE) {
        pack_str(&e.pk, "volatile", 8);
        msgpack_pack_true(&e.pk);
    }
    if (flags & SIOD_CLUSTER_NO_COMPRESS) {
        pack_str(&e.pk, "compress", 8);
        msgpack_pack_false(&e.pk);
    }
    json_object_put(data);
    return out_finish(&ob, rc, out, outlen);
}

/* Reads json[0..len), any JSON value, with json-c into *v (NULL for
 * null). Returns 0, -EINVAL (not JSON) or -ENOMEM. */
static int parse_value(const char *json, size_t len, struct json_object **v)
{
    struct json_tokener *tok;
    int rc;

    if (len > (size_t)INT32_MAX)
        return -EINVAL;
    /* a bare number ends only at its terminator: json-c gets the NUL */
    char *copy = strndup(json, len);
    tok = copy != NULL ? json_tokener_new_ex(130) : NULL;
    if (tok == NULL) {
        free(copy);
        return -ENOMEM;
    }
    *v = json_tokener_parse_ex(tok, copy, (int)len + 1);
    /* "null" parses to NULL too: tell it from an error */
    rc = *v == NULL && json_tokener_get_error(tok) != json_tokener_success
             ? -EINVAL : 0;
    json_tokener_free(tok);
    free(copy);
    return rc;
}

static void enc_init(struct enc *e, struct out *ob,
                     const siod_cluster_bin *bins, unsigned nbins)
{
    msgpack_sbuffer_init(&ob->sb);
    ob->failed = 0;
    msgpack_packer_init(&e->pk, ob, out_write);
    e->atts = bins;
    e->natts = nbins;
}

int siod_cluster_encode_ack(const char *request_id, const char *json,
                            size_t len, const siod_cluster_bin *bins,
                            unsigned nbins, unsigned char **out,
                            size_t *outlen)
{
    struct json_object *arg;
    struct out ob;
    struct enc e;
    int rc = parse_value(json, len, &arg);

    if (rc < 0)
        return rc;
    enc_init(&e, &ob, bins, nbins);
    msgpack_pack_map(&e.pk, 3);
    pack_str(&e.pk, "type", 4);
    msgpack_pack_int(&e.pk, 9);
    pack_str(&e.pk, "requestId", 9);
    pack_str(&e.pk, request_id, strlen(request_id));
    pack_str(&e.pk, "packet", 6);
    rc = arg != NULL ? pack_json(&e, arg) : msgpack_pack_nil(&e.pk);
    json_object_put(arg);
    return out_finish(&ob, rc, out, outlen);
}

int siod_cluster_encode_json(const char *json, size_t len,
                             const siod_cluster_bin *bins, unsigned nbins,
                             unsigned char **out, size_t *outlen)
{
    struct json_object *v;
    struct out ob;
    struct enc e;
    int rc = parse_value(json, len, &v);

    if (rc < 0)
        return rc;
    enc_init(&e, &ob, bins, nbins);
    rc = v != NULL ? pack_json(&e, v) : msgpack_pack_nil(&e.pk);
    json_object_put(v);
    return out_finish(&ob, rc, out, outlen);
}
