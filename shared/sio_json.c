/* JSON validation and span walking for the Socket.IO layer: one iterative
 * pass checks a whole text (grammar, UTF-8, escapes, depth) so that later
 * lookups can skip values by counting brackets. No allocation, no state. */
#include "sio_json.h"

#include <string.h>

typedef const unsigned char *uptr;

/* Bytes that end the fast path inside a string: '"', '\\', controls and
 * everything non-ASCII (checked as UTF-8). */
static const unsigned char str_stop[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

static uptr skip_ws(uptr p, uptr end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hexval(unsigned c)
{
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

/* Value of 4 hex digits at p (caller checked that they are in bounds), or -1. */
static long hex4(uptr p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);

    if ((a | b | c | d) < 0)
        return -1;
    return (long)a << 12 | b << 8 | c << 4 | d;
}

/* One UTF-8 sequence (RFC 3629) starting with a byte >= 0x80 at p: returns
 * the byte after it, or NULL if invalid or truncated. */
static uptr utf8_seq(uptr p, uptr end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t need, i;

    if (c < 0xc2)
        return NULL;
    if (c < 0xe0) {
        need = 1;
    } else if (c < 0xf0) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;          /* overlong */
        else if (c == 0xed)
            hi = 0x9f;          /* UTF-16 surrogates */
    } else if (c < 0xf5) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;          /* overlong */
        else if (c == 0xf4)
            hi = 0x8f;          /* above U+10FFFF */
    } else {
        return NULL;
    }
    if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi)
        return NULL;
    for (i = 2; i <= need; i++)
        if ((p[i] & 0xc0) != 0x80)
            return NULL;
    return p + need + 1;
}

/* Checks a string whose opening quote is just before *pp; on SIO_OK *pp is
 * past the closing quote. */
static int scan_string(uptr *pp, uptr end, unsigned flags)
{
    uptr p = *pp;
    long u, lo;

    for (;;) {
        while (p < end && !str_stop[*p])
            p++;
        if (p == end)
            return SIO_EPROTO;
        switch (*p) {
        case '"':
            *pp = p + 1;
            return SIO_OK;
        case '\\':
            if (end - p < 2)
                return SIO_EPROTO;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u':
                break;
            default:
                return SIO_EPROTO;
            }
            if (end - p < 6 || (u = hex4(p + 2)) < 0)
                return SIO_EPROTO;
            p += 6;
            if (u < 0xd800 || u > 0xdfff)
                continue;
            if (u <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u'
                && (lo = hex4(p + 2)) >= 0xdc00 && lo <= 0xdfff) {
                p += 6;
                continue;
            }
            if (!(flags & SIO_JSON_LONE_SURROGATES))
                return SIO_EUTF8;
            continue;
        default:
            if (*p < 0x20)
                return SIO_EPROTO;
            if (!(p = utf8_seq(p, end)))
                return SIO_EUTF8;
        }
    }
}

static int is_digit(unsigned c)
{
    return c - '0' < 10;
}

/* The number at p (grammar of RFC 8259 section 6), or NULL. */
static uptr scan_number(uptr p, uptr end)
{
    if (*p == '-')
        p++;
    if (p == end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (++p < end && is_digit(*p))
            ;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return NULL;
        while (++p < end && is_digit(*p))
            ;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (++p < end && is_digit(*p))
            ;
    }
    return p;
}

static enum sio_json_type type_of(unsigned c)
{
    switch (c) {
    case '{': return SIO_JSON_OBJECT;
    case '[': return SIO_JSON_ARRAY;
    case '"': return SIO_JSON_STRING;
    case 't': return SIO_JSON_TRUE;
    case 'f': return SIO_JSON_FALSE;
    case 'n': return SIO_JSON_NULL;
    default:  return c == '-' || is_digit(c) ? SIO_JSON_NUMBER : SIO_JSON_NONE;
    }
}

static uptr literal(uptr p, uptr end, const char *word, size_t len)
{
    return (size_t)(end - p) >= len && memcmp(p, word, len) == 0 ? p + len
                                                                 : NULL;
}

int sio_json_validate(const char *text, size_t n, unsigned max_depth,
                      unsigned flags, struct sio_json_span *value)
{
    /* One bit per open container: set for an object, clear for an array. */
    uint64_t objs[SIO_JSON_MAX_DEPTH / 64];
    uptr s = (uptr)text, end = s + n, p, start, stop;
    unsigned depth = 0;
    int in_obj = 0, rc;

    if (!text)
        return n ? SIO_EINVAL : SIO_EPROTO;
    if (max_depth > SIO_JSON_MAX_DEPTH)
        max_depth = SIO_JSON_MAX_DEPTH;
    start = p = skip_ws(s, end);
    if (p == end)
        return SIO_EPROTO;

value:                          /* p < end, a value must start here */
    switch (*p) {
    case '{':
    case '[':
        if (depth == max_depth)
            return SIO_ETOOBIG;
        in_obj = *p == '{';
        if (in_obj)
            objs[depth / 64] |= (uint64_t)1 << (depth % 64);
        else
            objs[depth / 64] &= ~((uint64_t)1 << (depth % 64));
        depth++;
        p = skip_ws(p + 1, end);
        if (p == end)
            return SIO_EPROTO;
        if (*p == (in_obj ? '}' : ']')) {
            p++;
            goto pop;
        }
        if (in_obj)
            goto key;
        goto value;
    case '"':
        p++;
        if ((rc = scan_string(&p, end, flags)) != SIO_OK)
            return rc;
        goto after;
    case 't':
        p = literal(p, end, "true", 4);
        break;
    case 'f':
        p = literal(p, end, "false", 5);
        break;
    case 'n':
        p = literal(p, end, "null", 4);
        break;
    default:
        p = *p == '-' || is_digit(*p) ? scan_number(p, end) : NULL;
        break;
    }
    if (!p)
        return SIO_EPROTO;
    goto after;

key:                            /* p < end, a member must start here */
    if (*p != '"')
        return SIO_EPROTO;
    p++;
    if ((rc = scan_string(&p, end, flags)) != SIO_OK)
        return rc;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return SIO_EPROTO;
    p = skip_ws(p + 1, end);
    if (p == end)
        return SIO_EPROTO;
    goto value;

pop:
    depth--;
    in_obj = depth && (objs[(depth - 1) / 64] >> ((depth - 1) % 64) & 1);

after:                          /* a value just ended at p */
    if (depth == 0) {
        stop = p;
        if (skip_ws(p, end) != end)
            return SIO_EPROTO;
        if (value) {
            value->ptr = (const char *)start;
            value->len = (size_t)(stop - start);
            value->type = type_of(*start);
        }
        return SIO_OK;
    }
    p = skip_ws(p, end);
    if (p == end)
        return SIO_EPROTO;
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (p == end)
            return SIO_EPROTO;
        if (in_obj)
            goto key;
        goto value;
    }
    if (*p == (in_obj ? '}' : ']')) {
        p++;
        goto pop;
    }
    return SIO_EPROTO;
}

const char *sio_json_type_name(enum sio_json_type type)
{
    switch (type) {
    case SIO_JSON_OBJECT: return "object";
    case SIO_JSON_ARRAY:  return "array";
    case SIO_JSON_STRING: return "string";
    case SIO_JSON_NUMBER: return "number";
    case SIO_JSON_TRUE:   return "true";
    case SIO_JSON_FALSE:  return "false";
    case SIO_JSON_NULL:   return "null";
    default:              return "none";
    }
}

/* Walkers: trust the validator, stay in bounds. */

/* Past the closing quote of the string opening at p, or NULL. */
static uptr skip_string(uptr p, uptr end)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\' && ++p == end)
            return NULL;
    }
    return NULL;
}

/* Past the value starting at p (p < end), or NULL. */
static uptr skip_value(uptr p, uptr end)
{
    size_t depth = 0;
    uptr q = p;

    switch (*p) {
    case '"':
        return skip_string(p, end);
    case '{':
    case '[':
        while (q < end) {
            switch (*q) {
            case '"':
                if (!(q = skip_string(q, end)))
                    return NULL;
                continue;
            case '{':
            case '[':
                depth++;
                break;
            case '}':
            case ']':
                if (--depth == 0)
                    return q + 1;
                break;
            }
            q++;
        }
        return NULL;
    default:
        while (q < end && (is_digit(*q) || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')
                           || *q == '-' || *q == '+' || *q == '.'))
            q++;
        return q > p ? q : NULL;
    }
}

/* The next value at p into *v (p is advanced past it). */
static int take_value(uptr *pp, uptr end, struct sio_json_span *v)
{
    uptr p = *pp, q;

    if (p == end || (v->type = type_of(*p)) == SIO_JSON_NONE
        || !(q = skip_value(p, end)))
        return SIO_EPROTO;
    v->ptr = (const char *)p;
    v->len = (size_t)(q - p);
    *pp = q;
    return SIO_OK;
}

int sio_json_span_value(const char *s, size_t n, struct sio_json_span *value)
{
    uptr p = (uptr)s;

    if (!s || !value)
        return SIO_EPROTO;
    return take_value(&p, p + n, value);
}

int sio_json_iter_init(struct sio_json_iter *it,
                       const struct sio_json_span *c)
{
    if (!it || !c || !c->ptr || c->len < 2
        || (c->type != SIO_JSON_OBJECT && c->type != SIO_JSON_ARRAY))
        return SIO_EINVAL;
    it->p = c->ptr + 1;
    it->end = c->ptr + c->len - 1;
    it->started = 0;
    return SIO_OK;
}

/* Moves past the separator before the next item; SIO_DONE at the end. */
static int iter_step(struct sio_json_iter *it, uptr *pp)
{
    uptr end = (uptr)it->end, p = skip_ws((uptr)it->p, end);

    if (p == end)
        return SIO_DONE;
    if (it->started) {
        if (*p != ',')
            return SIO_EPROTO;
        p = skip_ws(p + 1, end);
    }
    *pp = p;
    return SIO_OK;
}

int sio_json_array_next(struct sio_json_iter *it, struct sio_json_span *elem)
{
    uptr p, end = (uptr)it->end;
    int rc;

    if ((rc = iter_step(it, &p)) != SIO_OK)
        return rc;
    if ((rc = take_value(&p, end, elem)) != SIO_OK)
        return rc;
    it->p = (const char *)p;
    it->started = 1;
    return SIO_OK;
}

int sio_json_object_next(struct sio_json_iter *it, struct sio_json_span *key,
                         struct sio_json_span *value)
{
    uptr p, end = (uptr)it->end;
    int rc;

    if ((rc = iter_step(it, &p)) != SIO_OK)
        return rc;
    if (p == end || *p != '"' || take_value(&p, end, key) != SIO_OK)
        return SIO_EPROTO;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return SIO_EPROTO;
    p = skip_ws(p + 1, end);
    if ((rc = take_value(&p, end, value)) != SIO_OK)
        return rc;
    it->p = (const char *)p;
    it->started = 1;
    return SIO_OK;
}

int sio_json_object_get(const struct sio_json_span *obj, const char *key,
                        size_t key_len, struct sio_json_span *value)
{
    struct sio_json_iter it;
    struct sio_json_span k, v;
    int rc, found = 0;

    if (!obj || obj->type != SIO_JSON_OBJECT
        || sio_json_iter_init(&it, obj) != SIO_OK)
        return SIO_EINVAL;
    while ((rc = sio_json_object_next(&it, &k, &v)) == SIO_OK) {
        if (sio_json_string_eq(&k, key, key_len)) {
            *value = v;
            found = 1;
        }
    }
    if (rc != SIO_DONE)
        return rc;
    return found ? SIO_OK : SIO_DONE;
}

static size_t put_utf8(unsigned long cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one character or escape of a string body at p (p < end) into
 * o[0..4); returns the byte after it, or NULL on a bad escape. */
static uptr decode_one(uptr p, uptr end, unsigned char o[4], size_t *olen)
{
    long u, lo;

    if (*p != '\\') {
        o[0] = *p;
        *olen = 1;
        return p + 1;
    }
    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"': case '\\': case '/': o[0] = p[1]; break;
    case 'b': o[0] = '\b'; break;
    case 'f': o[0] = '\f'; break;
    case 'n': o[0] = '\n'; break;
    case 'r': o[0] = '\r'; break;
    case 't': o[0] = '\t'; break;
    case 'u':
        if (end - p < 6 || (u = hex4(p + 2)) < 0)
            return NULL;
        p += 6;
        if (u >= 0xd800 && u <= 0xdbff && end - p >= 6 && p[0] == '\\'
            && p[1] == 'u' && (lo = hex4(p + 2)) >= 0xdc00 && lo <= 0xdfff) {
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
        } else if (u >= 0xd800 && u <= 0xdfff) {
            u = 0xfffd;
        }
        *olen = put_utf8((unsigned long)u, o);
        return p;
    default:
        return NULL;
    }
    *olen = 1;
    return p + 2;
}

int sio_json_string_eq(const struct sio_json_span *str, const char *text,
                       size_t len)
{
    uptr p, end, t = (uptr)text;
    unsigned char o[4];
    size_t olen, i = 0;

    if (!str || str->type != SIO_JSON_STRING || !str->ptr || str->len < 2
        || (!text && len))
        return 0;
    p = (uptr)str->ptr + 1;
    end = (uptr)str->ptr + str->len - 1;
    if (!memchr(p, '\\', (size_t)(end - p)))
        return (size_t)(end - p) == len && memcmp(p, t, len) == 0;
    while (p < end) {
        if (!(p = decode_one(p, end, o, &olen)) || len - i < olen
            || memcmp(t + i, o, olen) != 0)
            return 0;
        i += olen;
    }
    return i == len;
}

int sio_json_string_decode(const struct sio_json_span *str, char *buf,
                           size_t cap, size_t *len)
{
    uptr p, end;
    unsigned char o[4];
    size_t olen, n = 0;

    if (!str || str->type != SIO_JSON_STRING || !str->ptr || str->len < 2
        || !len || (!buf && cap))
        return SIO_EINVAL;
    p = (uptr)str->ptr + 1;
    end = (uptr)str->ptr + str->len - 1;
    while (p < end) {
        if (!(p = decode_one(p, end, o, &olen)))
            return SIO_EPROTO;
        if (cap - n < olen)
            return SIO_ENOSPC;
        memcpy(buf + n, o, olen);
        n += olen;
    }
    *len = n;
    return SIO_OK;
}

int sio_json_uint(const struct sio_json_span *num, uint64_t max, uint64_t *out)
{
    uptr p, end;
    uint64_t v = 0;
    unsigned d;
    int over = 0;

    if (!num || num->type != SIO_JSON_NUMBER || !num->ptr || !num->len)
        return SIO_EPROTO;
    for (p = (uptr)num->ptr, end = p + num->len; p < end; p++) {
        if (!is_digit(*p))
            return SIO_EPROTO;
        d = (unsigned)(*p - '0');
        if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
            over = 1;
        else
            v = v * 10 + d;
    }
    if (over || v > max)
        return SIO_ETOOBIG;
    if (out)
        *out = v;
    return SIO_OK;
}

/* Extra bytes JSON.stringify spends on byte c: \" \\ \b \f \n \r \t take
 * one more, other controls \u00XX five more. */
static const unsigned char esc_extra[256] = {
    [0x00 ... 0x07] = 5, ['\b'] = 1, ['\t'] = 1, ['\n'] = 1, [0x0b] = 5,
    ['\f'] = 1, ['\r'] = 1, [0x0e ... 0x1f] = 5, ['"'] = 1, ['\\'] = 1,
};

size_t sio_json_string_size(const char *s, size_t n)
{
    size_t need = n + 2, i;

    for (i = 0; i < n; i++)
        need += esc_extra[(unsigned char)s[i]];
    return need;
}

int sio_json_write_string(const char *s, size_t n, char *buf, size_t cap,
                          size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    uptr p, end, q;
    size_t need, o = 0;

    if ((!s && n) || !len || (!buf && cap))
        return SIO_EINVAL;
    if (!s)
        s = "";
    p = (uptr)s;
    end = p + n;
    need = sio_json_string_size(s, n);
    if (cap < need) {
        *len = need;
        return SIO_ENOSPC;
    }
    buf[o++] = '"';
    while (p < end) {
        unsigned c = *p;

        if (c >= 0x80) {
            if (!(q = utf8_seq(p, end)))
                return SIO_EUTF8;
            memcpy(buf + o, p, (size_t)(q - p));
            o += (size_t)(q - p);
            p = q;
            continue;
        }
        p++;
        switch (esc_extra[c]) {
        case 0:
            buf[o++] = (char)c;
            break;
        case 1:
            buf[o++] = '\\';
            buf[o++] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n'
                     : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
            break;
        default:
            memcpy(buf + o, "\\u00", 4);
            buf[o + 4] = hex[c >> 4];
            buf[o + 5] = hex[c & 15];
            o += 6;
        }
    }
    buf[o++] = '"';
    *len = o;
    return SIO_OK;
}
