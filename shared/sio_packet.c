/* Socket.IO v5 packet codec: parse and validate an Engine.IO message body
 * as socket.io-parser's Decoder does, encode headers into caller buffers,
 * and find binary-attachment placeholders for the daemon to reconstruct. */
#include "sio_packet.h"
#include "sio_utf8.h"

#include <string.h>

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting",
    "newListener", "removeListener",
};
#define N_RESERVED (sizeof(reserved_events) / sizeof(reserved_events[0]))
#define RESERVED_MAX 14         /* strlen("removeListener") */

static const char placeholder_head[] = "{\"_placeholder\":true,\"num\":";
#define PLACEHOLDER_HEAD_LEN (sizeof(placeholder_head) - 1)

static int fail(struct sio_packet *out, int rc, const char *why)
{
    out->why = why;
    return rc;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether string span *name decodes to a reserved event name. */
static int reserved_span(const struct sio_json_span *name)
{
    char buf[RESERVED_MAX + 1];
    size_t len;

    if (!memchr(name->ptr, '\\', name->len))
        return sio_packet_reserved_event(name->ptr + 1, name->len - 2);
    /* Longer names cannot match, so a full buffer settles it. */
    return sio_json_string_decode(name, buf, sizeof(buf), &len) == SIO_OK
           && sio_packet_reserved_event(buf, len);
}

static int hex_zero4(const char *p)
{
    return p[0] == '0' && p[1] == '0' && p[2] == '0' && p[3] == '0';
}

/* Whether the JSON string span *str (valid, quotes included) holds the
 * escape of U+0000: a name with it cannot be a C string, and a NUL read
 * as its end would make "disconnect\u0000" the reserved "disconnect". A
 * raw NUL cannot be inside a valid JSON string. */
static int span_has_nul(const struct sio_json_span *str)
{
    const char *p = str->ptr + 1, *end = str->ptr + str->len - 1;

    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (p[1] == 'u' && end - p >= 6 && hex_zero4(p + 2))
            return 1;
        p += 2;   /* past the escaped character, e.g. the second '\' */
    }
    return 0;
}

/* Checks the data against the packet type, as the reference's
 * isPayloadValid (plus: data required where the protocol requires it). */
static int check_payload(struct sio_packet *out)
{
    enum sio_json_type t = out->data.type;
    struct sio_json_iter it;

    switch (out->type) {
    case SIO_PACKET_CONNECT:
        if (t != SIO_JSON_NONE && t != SIO_JSON_OBJECT)
            return fail(out, SIO_EPROTO, "CONNECT data must be an object");
        return SIO_OK;
    case SIO_PACKET_DISCONNECT:
        if (t != SIO_JSON_NONE)
            return fail(out, SIO_EPROTO, "DISCONNECT takes no data");
        return SIO_OK;
    case SIO_PACKET_CONNECT_ERROR:
        if (t != SIO_JSON_OBJECT && t != SIO_JSON_STRING)
            return fail(out, SIO_EPROTO,
                        "CONNECT_ERROR data must be an object or a string");
        return SIO_OK;
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
        if (t != SIO_JSON_ARRAY)
            return fail(out, SIO_EPROTO, "ACK data must be an array");
        return SIO_OK;
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
        if (t != SIO_JSON_ARRAY)
            return fail(out, SIO_EPROTO, "EVENT data must be an array");
        if (sio_json_iter_init(&it, &out->data) != SIO_OK
            || sio_json_array_next(&it, &out->event) != SIO_OK)
            return fail(out, SIO_EPROTO, "EVENT data must not be empty");
        if (out->event.type == SIO_JSON_NUMBER)
            return SIO_OK;
        if (out->event.type != SIO_JSON_STRING)
            return fail(out, SIO_EPROTO,
                        "event name must be a string or a number");
        if (span_has_nul(&out->event))
            return fail(out, SIO_EPROTO, "event name contains U+0000");
        if (reserved_span(&out->event))
            return fail(out, SIO_EPROTO, "reserved event name");
        return SIO_OK;
    }
    return fail(out, SIO_EPROTO, "unknown packet type");
}

int sio_packet_parse(const char *s, size_t n,
                     const struct sio_packet_opts *opts,
                     struct sio_packet *out)
{
    static const struct sio_packet_opts defaults = {
        SIO_PACKET_DEFAULT_MAX_ATTACHMENTS, SIO_PACKET_DEFAULT_MAX_DEPTH,
        SIO_JSON_LONE_SURROGATES,
    };
    const char *comma;
    uint64_t v;
    size_t i = 1, start;
    int rc, over;

    if (!out)
        return SIO_EINVAL;
    memset(out, 0, sizeof(*out));
    out->nsp = "/";
    out->nsp_len = 1;
    if (!s && n)
        return fail(out, SIO_EINVAL, "no input");
    if (!opts)
        opts = &defaults;
    if (n == 0)
        return fail(out, SIO_EPROTO, "empty packet");
    if (s[0] < '0' || s[0] > '6')
        return fail(out, SIO_EPROTO, "unknown packet type");
    out->type = (enum sio_packet_type)(s[0] - '0');

    if (out->type == SIO_PACKET_BINARY_EVENT
        || out->type == SIO_PACKET_BINARY_ACK) {
        for (v = 0, over = 0, start = i; i < n && is_digit(s[i]); i++) {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > opts->max_attachments)
                over = 1, v = opts->max_attachments;
        }
        /* socket.io-parser 4.2.7 refuses 0, as no encoder writes it. */
        if (i == start || i == n || s[i] != '-' || (v == 0 && !over))
            return fail(out, SIO_EPROTO, "illegal attachments");
        if (over)
            return fail(out, SIO_ETOOBIG, "too many attachments");
        out->attachments = (unsigned)v;
        i++;
    }

    if (i < n && s[i] == '/') {
        comma = memchr(s + i, ',', n - i);
        out->nsp = s + i;
        out->nsp_len = comma ? (size_t)(comma - (s + i)) : n - i;
        if (!sio_utf8_valid((const unsigned char *)out->nsp, out->nsp_len))
            return fail(out, SIO_EUTF8, "namespace is not UTF-8");
        if (memchr(out->nsp, '\0', out->nsp_len))
            return fail(out, SIO_EPROTO, "namespace contains U+0000");
        i = comma ? (size_t)(comma - s) + 1 : n;
    }

    if (i < n && is_digit(s[i])) {
        for (v = 0, over = 0; i < n && is_digit(s[i]); i++) {
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > SIO_PACKET_MAX_ID)
                over = 1, v = SIO_PACKET_MAX_ID;
        }
        if (over)
            return fail(out, SIO_EPROTO, "ack id out of range");
        out->has_id = 1;
        out->id = v;
    }

    if (i < n) {
        rc = sio_json_validate(s + i, n - i, opts->max_depth,
                               opts->json_flags, &out->data);
        if (rc != SIO_OK) {
            memset(&out->data, 0, sizeof(out->data));
            return fail(out, rc, rc == SIO_ETOOBIG ? "data nested too deep"
                                 : rc == SIO_EUTF8 ? "data is not UTF-8"
                                                   : "data is not JSON");
        }
    }
    return check_payload(out);
}

int sio_packet_reserved_event(const char *name, size_t len)
{
    size_t i;

    if (!name || len < 7 || len > RESERVED_MAX)
        return 0;
    for (i = 0; i < N_RESERVED; i++)
        if (strlen(reserved_events[i]) == len
            && memcmp(reserved_events[i], name, len) == 0)
            return 1;
    return 0;
}

const char *sio_packet_type_name(int type)
{
    static const char *const names[] = {
        "CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR",
        "BINARY_EVENT", "BINARY_ACK",
    };

    return type >= 0 && type <= 6 ? names[type] : "UNKNOWN";
}

static size_t dec_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes v in decimal at buf (room checked by the caller); returns length. */
static size_t put_dec(char *buf, uint64_t v)
{
    size_t n = dec_len(v), i = n;

    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return n;
}

static int is_binary(int type)
{
    return type == SIO_PACKET_BINARY_EVENT || type == SIO_PACKET_BINARY_ACK;
}

/* The namespace as written: NULL/0 when it is the default "/". */
static size_t nsp_written(const struct sio_packet *p)
{
    if (!p->nsp || p->nsp_len == 0 || (p->nsp_len == 1 && p->nsp[0] == '/'))
        return 0;
    return p->nsp_len;
}

size_t sio_packet_encoded_size(const struct sio_packet *p)
{
    size_t n = 1, nl;

    if (!p)
        return 0;
    if (is_binary(p->type))
        n += dec_len(p->attachments) + 1;
    if ((nl = nsp_written(p)) != 0)
        n += nl + 1;
    if (p->has_id)
        n += dec_len(p->id);
    if (p->data.ptr)
        n += p->data.len;
    return n;
}

int sio_packet_encode(const struct sio_packet *p, char *buf, size_t cap,
                      size_t *len)
{
    size_t need, nl, o = 0;

    if (!p || !len || (!buf && cap) || (int)p->type < 0 || p->type > 6
        || (is_binary(p->type) && p->attachments == 0)
        || (p->has_id && p->id > SIO_PACKET_MAX_ID))
        return SIO_EINVAL;
    nl = nsp_written(p);
    if (nl && (p->nsp[0] != '/' || memchr(p->nsp, ',', nl)))
        return SIO_EINVAL;
    need = sio_packet_encoded_size(p);
    if (cap < need)
        return SIO_ENOSPC;
    buf[o++] = (char)('0' + p->type);
    if (is_binary(p->type)) {
        o += put_dec(buf + o, p->attachments);
        buf[o++] = '-';
    }
    if (nl) {
        memcpy(buf + o, p->nsp, nl);
        o += nl;
        buf[o++] = ',';
    }
    if (p->has_id)
        o += put_dec(buf + o, p->id);
    if (p->data.ptr && p->data.len) {
        memcpy(buf + o, p->data.ptr, p->data.len);
        o += p->data.len;
    }
    *len = o;
    return SIO_OK;
}

size_t sio_packet_placeholder_size(unsigned num)
{
    return PLACEHOLDER_HEAD_LEN + dec_len(num) + 1;
}

int sio_packet_write_placeholder(unsigned num, char *buf, size_t cap,
                                 size_t *len)
{
    size_t o = PLACEHOLDER_HEAD_LEN;

    if (!len || (!buf && cap))
        return SIO_EINVAL;
    if (cap < sio_packet_placeholder_size(num))
        return SIO_ENOSPC;
    memcpy(buf, placeholder_head, o);
    o += put_dec(buf + o, num);
    buf[o++] = '}';
    *len = o;
    return SIO_OK;
}

/* Placeholder scan state for one open container. Objects remember what
 * their "_placeholder" and "num" members said (the last occurrence wins,
 * as in JSON.parse) and how many placeholders had been found before them,
 * so that a placeholder can drop whatever was found inside it: the
 * reference replaces a placeholder whole and never looks inside. */
struct ph_frame {
    size_t start;               /* offset of '{' or '[' */
    size_t count_at, bad_at;    /* found / bad counters on entry */
    unsigned num;               /* "num" value when num_ok */
    unsigned char is_obj;
    unsigned char want_key;     /* next string in this object is a key */
    unsigned char key;          /* member being read: KEY_* */
    unsigned char is_ph;        /* "_placeholder" is true */
    unsigned char num_ok;       /* "num" is an integer < attachments */
};

enum { KEY_OTHER, KEY_PH, KEY_NUM };

/* Notes the value *v of the member being read in object frame f. */
static void ph_member(struct ph_frame *f, const struct sio_json_span *v,
                      unsigned attachments)
{
    uint64_t n;

    if (f->key == KEY_PH) {
        f->is_ph = v->type == SIO_JSON_TRUE;
    } else if (f->key == KEY_NUM) {
        f->num_ok = attachments > 0 && v->type == SIO_JSON_NUMBER
                    && sio_json_uint(v, attachments - 1, &n) == SIO_OK;
        f->num = f->num_ok ? (unsigned)n : 0;
    }
    f->key = KEY_OTHER;
}

int sio_packet_scan_placeholders(const struct sio_json_span *data,
                                 unsigned attachments,
                                 struct sio_placeholder *out, size_t cap,
                                 size_t *found)
{
    struct ph_frame stack[SIO_PACKET_SCAN_DEPTH], *f = NULL;
    struct sio_json_span v;
    const char *base, *p, *end;
    size_t depth = 0, count = 0, bad = 0;

    if (!data || !found || (!out && cap) || (!data->ptr && data->len))
        return SIO_EINVAL;
    *found = 0;
    if (!data->ptr)
        return SIO_OK;
    base = data->ptr;
    for (p = base, end = base + data->len; p < end;) {
        switch (*p) {
        case ' ': case '\t': case '\n': case '\r':
            p++;
            continue;
        case ',':
            if (f && f->is_obj)
                f->want_key = 1;
            p++;
            continue;
        case ':':
            if (f && f->is_obj)
                f->want_key = 0;
            p++;
            continue;
        case '{':
        case '[':
            if (f && f->is_obj) {
                v.type = *p == '{' ? SIO_JSON_OBJECT : SIO_JSON_ARRAY;
                ph_member(f, &v, attachments);
            }
            if (depth == SIO_PACKET_SCAN_DEPTH)
                return SIO_ETOOBIG;
            f = &stack[depth++];
            memset(f, 0, sizeof(*f));
            f->start = (size_t)(p - base);
            f->count_at = count;
            f->bad_at = bad;
            f->is_obj = *p == '{';
            f->want_key = f->is_obj;
            p++;
            continue;
        case '}':
        case ']':
            if (!f || f->is_obj != (*p == '}'))
                return SIO_EPROTO;
            if (f->is_ph) {
                count = f->count_at;
                bad = f->bad_at;
                if (!f->num_ok) {
                    bad++;
                } else {
                    if (count < cap) {
                        out[count].off = f->start;
                        out[count].len = (size_t)(p + 1 - base) - f->start;
                        out[count].num = f->num;
                    }
                    count++;
                }
            }
            f = --depth ? &stack[depth - 1] : NULL;
            p++;
            continue;
        }
        if (sio_json_span_value(p, (size_t)(end - p), &v) != SIO_OK)
            return SIO_EPROTO;
        p += v.len;
        if (!f || !f->is_obj)
            continue;
        if (f->want_key) {
            f->key = sio_json_string_eq(&v, "_placeholder", 12) ? KEY_PH
                     : sio_json_string_eq(&v, "num", 3)         ? KEY_NUM
                                                                : KEY_OTHER;
            f->want_key = 0;
        } else {
            ph_member(f, &v, attachments);
        }
    }
    if (depth || bad)
        return SIO_EPROTO;
    *found = count;
    return SIO_OK;
}
