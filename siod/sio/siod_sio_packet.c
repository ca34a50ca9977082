/* Outbound Socket.IO packets and the JSON helpers of the public API:
 * encoding an event or ack from siod_args once into shared buffers
 * (placeholders renumbered in text order, as the reference's
 * deconstructPacket numbers buffers), an inbound packet's data as args,
 * reading arguments by index, and a printf-like JSON formatter. Built on
 * the pure codecs in shared/; calls nothing else of the layer. */
#include "siod_sio_int.h"
#include "sio_json.h"
#include "sio_packet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growing text --------------------------------------------------------- */

/* Makes room for more bytes and a NUL after t's text. Returns 0 or
 * -ENOMEM. */
static int text_reserve(siod_sio_text *t, size_t more)
{
    if (t->cap - t->len > more)
        return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap - t->len <= more) {
        if (cap > ((size_t)-1) / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(t->p, cap);
    if (p == NULL)
        return -ENOMEM;
    t->p = p;
    t->cap = cap;
    return 0;
}

int siod_sio_text_add(siod_sio_text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) < 0)
        return -ENOMEM;
    if (n > 0)
        memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/* Finds the placeholders of span for nbins buffers into *ph (malloc'd when
 * more than fit in local[cap]). Returns 0 with *found, or -EINVAL (not
 * placeholders for nbins buffers) / -ENOMEM. */
static int find_placeholders(const struct sio_json_span *span, unsigned nbins,
                             struct sio_placeholder *local, size_t cap,
                             struct sio_placeholder **ph, size_t *found)
{
    *ph = local;
    if (sio_packet_scan_placeholders(span, nbins, local, cap, found) != SIO_OK)
        return -EINVAL;
    if (*found <= cap)
        return 0;
    *ph = malloc(*found * sizeof **ph);
    if (*ph == NULL)
        return -ENOMEM;
    size_t again;
    if (sio_packet_scan_placeholders(span, nbins, *ph, *found, &again) !=
        SIO_OK) {
        free(*ph);
        *ph = local;
        return -EINVAL;
    }
    return 0;
}

int siod_sio_text_add_renumbered(siod_sio_text *t, const char *s, size_t n,
                                 unsigned nbins, unsigned offset)
{
    struct sio_json_span span;
    struct sio_placeholder local[16], *ph;
    size_t found, at = 0;
    char tmp[SIO_PACKET_PLACEHOLDER_MAX];
    int rc;

    if (nbins == 0)
        return siod_sio_text_add(t, s, n);
    if (sio_json_validate(s, n, SIOD_SIO_MAX_DEPTH, SIO_JSON_LONE_SURROGATES,
                          &span) != SIO_OK)
        return -EINVAL;
    rc = find_placeholders(&span, nbins, local, 16, &ph, &found);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < found && rc == 0; i++) {
        size_t off = (size_t)(span.ptr - s) + ph[i].off, len;
        rc = siod_sio_text_add(t, s + at, off - at);
        sio_packet_write_placeholder(ph[i].num + offset, tmp, sizeof tmp,
                                     &len);
        if (rc == 0)
            rc = siod_sio_text_add(t, tmp, len);
        at = off + ph[i].len;
    }
    if (rc == 0)
        rc = siod_sio_text_add(t, s + at, n - at);
    if (ph != local)
        free(ph);
    return rc;
}

/* ---- encoding ------------------------------------------------------------- */

void siod_sio_out_clear(siod_sio_out *o)
{
    siod_buf_unref(o->head);
    for (unsigned i = 0; i < o->natts; i++)
        siod_buf_unref(o->atts[i]);
    free(o->atts);
    memset(o, 0, sizeof *o);
}

/* Fills *o->head with the packet header for p followed by data[0..len).
 * Returns 0, -ENOMEM, or -EINVAL if the codec cannot encode p. */
static int build_head(siod_sio_out *o, const struct sio_packet *p,
                      const char *data, size_t len)
{
    size_t hlen = sio_packet_encoded_size(p), n;
    o->head = siod_buf_new(hlen + len);
    if (o->head == NULL)
        return -ENOMEM;
    char *dst = (char *)siod_buf_data(o->head);
    if (sio_packet_encode(p, dst, hlen, &n) != SIO_OK || n != hlen) {
        siod_buf_unref(o->head);
        o->head = NULL;
        return -EINVAL;
    }
    if (len > 0)
        memcpy(dst + hlen, data, len);
    return 0;
}

int siod_sio_encode_raw(siod_sio_out *o, int type, const char *nsp,
                        size_t nsp_len, const char *data, size_t len)
{
    struct sio_packet p;

    memset(o, 0, sizeof *o);
    memset(&p, 0, sizeof p);
    p.type = (enum sio_packet_type)type;
    p.nsp = nsp;
    p.nsp_len = nsp_len;
    return build_head(o, &p, data, len);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims JSON whitespace around s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_ws(s[*b]))
        (*b)++;
    while (*e > *b && is_ws(s[*e - 1]))
        (*e)--;
}

/* siod_sio_encode, with tail (NULL: none) a JSON value appended to the
 * data array. */
static int encode(siod_sio_out *o, int ack, const char *nsp, int has_id,
                  uint64_t id, const char *event, const siod_args *args,
                  const char *tail)
{
    static const char empty[] = "[]";
    const char *json = args != NULL && args->json != NULL ? args->json : empty;
    size_t len = args != NULL && args->json != NULL
                     ? (args->len ? args->len : strlen(args->json)) : 2;
    unsigned nbins = args != NULL && args->bins != NULL ? args->nbins : 0;
    struct sio_json_span span;
    struct sio_placeholder local[16], *ph = local;
    size_t found = 0, ev_len = 0;
    siod_sio_text t = { NULL, 0, 0 };
    struct sio_packet p;
    int rc, canonical = 1;

    memset(o, 0, sizeof *o);
    if (sio_json_validate(json, len, SIOD_SIO_MAX_DEPTH,
                          SIO_JSON_LONE_SURROGATES, &span) != SIO_OK ||
        span.type != SIO_JSON_ARRAY)
        return -EINVAL;
    if (!ack) {
        if (event == NULL)
            return -EINVAL;
        ev_len = strlen(event);
        if (sio_packet_reserved_event(event, ev_len))
            return -EPERM;
    }
    if (nbins > 0) {
        rc = find_placeholders(&span, nbins, local, 16, &ph, &found);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < found && canonical; i++) {
            char tmp[SIO_PACKET_PLACEHOLDER_MAX];
            size_t n;
            sio_packet_write_placeholder((unsigned)i, tmp, sizeof tmp, &n);
            canonical = ph[i].num == i && ph[i].len == n &&
                        memcmp(span.ptr + ph[i].off, tmp, n) == 0;
        }
    }

    /* the data: [event,<args...>] or the args array, placeholders in
     * canonical order */
    size_t b = 1, e = span.len - 1;
    trim(span.ptr, &b, &e);
    rc = siod_sio_text_add(&t, "[", 1);
    if (!ack && rc == 0) {
        size_t need = sio_json_string_size(event, ev_len), n;
        rc = text_reserve(&t, need);
        if (rc == 0 &&
            sio_json_write_string(event, ev_len, t.p + t.len, need, &n) !=
                SIO_OK)
            rc = -EINVAL;
        if (rc == 0) {
            t.len += n;
            if (e > b)
                rc = siod_sio_text_add(&t, ",", 1);
        }
    }
    if (rc == 0) {
        if (canonical || found == 0) {
            rc = siod_sio_text_add(&t, span.ptr + b, e - b);
        } else {
            size_t at = b;
            char tmp[SIO_PACKET_PLACEHOLDER_MAX];
            for (size_t i = 0; i < found && rc == 0; i++) {
                size_t n;
                rc = siod_sio_text_add(&t, span.ptr + at, ph[i].off - at);
                sio_packet_write_placeholder((unsigned)i, tmp, sizeof tmp, &n);
                if (rc == 0)
                    rc = siod_sio_text_add(&t, tmp, n);
                at = ph[i].off + ph[i].len;
            }
            if (rc == 0)
                rc = siod_sio_text_add(&t, span.ptr + at, e - at);
        }
    }
    if (rc == 0 && tail != NULL) {
        if (t.len > 1)
            rc = siod_sio_text_add(&t, ",", 1);
        if (rc == 0)
            rc = siod_sio_text_add(&t, tail, strlen(tail));
    }
    if (rc == 0)
        rc = siod_sio_text_add(&t, "]", 1);

    if (rc == 0 && found > 0) {
        o->atts = calloc(found, sizeof *o->atts);
        if (o->atts == NULL)
            rc = -ENOMEM;
        for (size_t i = 0; i < found && rc == 0; i++) {
            const siod_bin *bin = &args->bins[ph[i].num];
            o->atts[i] = siod_buf_new(bin->len);
            if (o->atts[i] == NULL) {
                rc = -ENOMEM;
                break;
            }
            o->natts++;
            if (bin->len > 0)
                memcpy(siod_buf_data(o->atts[i]), bin->data, bin->len);
        }
    }
    if (rc == 0) {
        memset(&p, 0, sizeof p);
        if (found > 0)
            p.type = ack ? SIO_PACKET_BINARY_ACK : SIO_PACKET_BINARY_EVENT;
        else
            p.type = ack ? SIO_PACKET_ACK : SIO_PACKET_EVENT;
        p.attachments = (unsigned)found;
        p.nsp = nsp;
        p.nsp_len = nsp != NULL ? strlen(nsp) : 0;
        p.has_id = has_id;
        p.id = id;
        rc = build_head(o, &p, t.p, t.len);
    }
    if (ph != local)
        free(ph);
    free(t.p);
    if (rc != 0)
        siod_sio_out_clear(o);
    return rc;
}

int siod_sio_encode(siod_sio_out *o, int ack, const char *nsp, int has_id,
                    uint64_t id, const char *event, const siod_args *args)
{
    return encode(o, ack, nsp, has_id, id, event, args, NULL);
}

int siod_sio_encode_offset(siod_sio_out *o, const char *nsp,
                           const char *event, const siod_args *args,
                           const char *offset)
{
    char tail[SIOD_SIO_OFFSET_MAX + 2];
    size_t n = strlen(offset);

    /* an offset is digits and '-': quoting needs no escape */
    if (n + 3 > sizeof tail)
        return -EINVAL;
    tail[0] = '"';
    memcpy(tail + 1, offset, n);
    tail[n + 1] = '"';
    tail[n + 2] = '\0';
    return encode(o, 0, nsp, 0, 0, event, args, tail);
}

/* ---- inbound: a decoded packet's data as args ------------------------------ */

char *siod_sio_args_text(const struct sio_packet *p, int skip_first,
                         size_t *len)
{
    const char *b = p->data.ptr, *e = p->data.ptr + p->data.len;
    char *out;

    if (skip_first) {
        b = p->event.ptr + p->event.len;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
            b++;
        /* b is at ',' (more arguments) or at the closing ']' */
        if (b < e && *b == ',')
            b++;
        *len = (size_t)(e - b) + 1;
        out = malloc(*len + 1);
        if (out == NULL)
            return NULL;
        out[0] = '[';
        memcpy(out + 1, b, (size_t)(e - b));
    } else {
        *len = p->data.len;
        out = malloc(*len + 1);
        if (out == NULL)
            return NULL;
        memcpy(out, b, *len);
    }
    out[*len] = '\0';
    return out;
}

/* ---- reading arguments (public API) ---------------------------------------- */

/* siod_arg_type returns the codec's types as the public enum */
_Static_assert((int)SIO_JSON_OBJECT == SIOD_JSON_OBJECT &&
               (int)SIO_JSON_ARRAY == SIOD_JSON_ARRAY &&
               (int)SIO_JSON_STRING == SIOD_JSON_STRING &&
               (int)SIO_JSON_NUMBER == SIOD_JSON_NUMBER &&
               (int)SIO_JSON_TRUE == SIOD_JSON_TRUE &&
               (int)SIO_JSON_FALSE == SIOD_JSON_FALSE &&
               (int)SIO_JSON_NULL == SIOD_JSON_NULL,
               "siod_json_type mirrors sio_json_type");

/* The array a's JSON holds: 0 with *span set, or -EINVAL (no JSON, not
 * an array). */
static int args_span(const siod_args *a, struct sio_json_span *span)
{
    if (a == NULL || a->json == NULL)
        return -EINVAL;
    size_t len = a->len ? a->len : strlen(a->json);
    if (sio_json_validate(a->json, len, SIOD_SIO_MAX_DEPTH,
                          SIO_JSON_LONE_SURROGATES, span) != SIO_OK ||
        span->type != SIO_JSON_ARRAY)
        return -EINVAL;
    return 0;
}

/* Argument i of a: 0 with *out set, or -EINVAL (no such argument). */
static int arg_span(const siod_args *a, size_t i, struct sio_json_span *out)
{
    struct sio_json_span span;
    struct sio_json_iter it;

    if (args_span(a, &span) < 0 || sio_json_iter_init(&it, &span) != SIO_OK)
        return -EINVAL;
    for (size_t k = 0;; k++) {
        if (sio_json_array_next(&it, out) != SIO_OK)
            return -EINVAL;
        if (k == i)
            return 0;
    }
}

/* Returns the attachment index if v is a placeholder for a's bins, else
 * -ENOENT. */
static int placeholder_num(const siod_args *a, const struct sio_json_span *v)
{
    struct sio_placeholder ph;
    size_t found;

    if (v->type != SIO_JSON_OBJECT || a->bins == NULL || a->nbins == 0 ||
        sio_packet_scan_placeholders(v, a->nbins, &ph, 1, &found) != SIO_OK ||
        found != 1 || ph.off != 0 || ph.len != v->len)
        return -ENOENT;
    return (int)ph.num;
}

size_t siod_arg_count(const siod_args *a)
{
    struct sio_json_span span, v;
    struct sio_json_iter it;
    size_t n = 0;

    if (a == NULL || a->json == NULL)
        return 0;
    if (args_span(a, &span) < 0 || sio_json_iter_init(&it, &span) != SIO_OK)
        return 0;
    while (sio_json_array_next(&it, &v) == SIO_OK)
        n++;
    return n;
}

int siod_arg_type(const siod_args *a, size_t i)
{
    struct sio_json_span v;
    if (arg_span(a, i, &v) < 0)
        return SIOD_JSON_NONE;
    if (placeholder_num(a, &v) >= 0)
        return SIOD_JSON_BINARY;
    return (int)v.type;
}

int siod_arg_raw(const siod_args *a, size_t i, const char **json, size_t *len)
{
    struct sio_json_span v;
    int rc = arg_span(a, i, &v);
    if (rc == 0) {
        *json = v.ptr;
        *len = v.len;
    }
    return siod_sio_app_err(rc);
}

char *siod_json_string_dup(const char *json, size_t len)
{
    struct sio_json_span v;
    size_t n;

    if (json == NULL ||
        sio_json_validate(json, len, 1, SIO_JSON_LONE_SURROGATES, &v) !=
            SIO_OK ||
        v.type != SIO_JSON_STRING)
        return NULL;
    char *out = malloc(v.len);
    if (out == NULL)
        return NULL;
    /* a string holding U+0000 has no C form: cut at the NUL it would
     * name another room or event ("a\u0000b" as "a") */
    if (sio_json_string_decode(&v, out, v.len, &n) != SIO_OK ||
        memchr(out, '\0', n) != NULL) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

char *siod_arg_string(const siod_args *a, size_t i)
{
    struct sio_json_span v;
    if (arg_span(a, i, &v) < 0 || v.type != SIO_JSON_STRING)
        return NULL;
    return siod_json_string_dup(v.ptr, v.len);
}

/* Reads number argument i into *out. Returns 0, -EINVAL or -ENOMEM. */
static int arg_number(const siod_args *a, size_t i, double *out)
{
    struct sio_json_span v;
    char tmp[64];

    if (arg_span(a, i, &v) < 0 || v.type != SIO_JSON_NUMBER)
        return -EINVAL;
    if (v.len >= sizeof tmp) {
        /* very long numbers: strtod needs the text NUL-terminated */
        char *copy = strndup(v.ptr, v.len);
        if (copy == NULL)
            return -ENOMEM;
        *out = strtod(copy, NULL);
        free(copy);
        return 0;
    }
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    *out = strtod(tmp, NULL);
    return 0;
}

int siod_arg_number(const siod_args *a, size_t i, double *out)
{
    return siod_sio_app_err(arg_number(a, i, out));
}

int siod_arg_bin(const siod_args *a, size_t i, siod_bin *out)
{
    struct sio_json_span v;
    int rc = arg_span(a, i, &v), num;
    if (rc == 0 && (num = placeholder_num(a, &v)) >= 0)
        *out = a->bins[num];
    else
        rc = -EINVAL;
    return siod_sio_app_err(rc);
}

int siod_arg_member(const siod_args *a, size_t i, const char *key,
                    const char **json, size_t *len)
{
    struct sio_json_span v, m;
    int rc = -EINVAL;
    if (key != NULL && arg_span(a, i, &v) == 0 &&
        v.type == SIO_JSON_OBJECT &&
        sio_json_object_get(&v, key, strlen(key), &m) == SIO_OK) {
        *json = m.ptr;
        *len = m.len;
        rc = 0;
    }
    return siod_sio_app_err(rc);
}

/* ---- JSON formatting (public API) ------------------------------------------ */

/* The helpers of siod_json_fmt append one conversion to t and return 0,
 * -ENOMEM, or -EINVAL (a %Q string that is not UTF-8, a number that does
 * not fit its buffer). */
static int fmt_quoted(siod_sio_text *t, const char *s, size_t n)
{
    size_t need = sio_json_string_size(s, n), w;
    int rc = text_reserve(t, need);
    if (rc < 0)
        return rc;
    if (sio_json_write_string(s, n, t->p + t->len, need, &w) != SIO_OK)
        return -EINVAL;
    t->len += w;
    t->p[t->len] = '\0';
    return 0;
}

static int fmt_printf(siod_sio_text *t, const char *spec, ...)
    __attribute__((format(printf, 2, 3)));

static int fmt_printf(siod_sio_text *t, const char *spec, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, spec);
    int n = vsnprintf(tmp, sizeof tmp, spec, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -EINVAL;
    return siod_sio_text_add(t, tmp, (size_t)n);
}

/* The shortest %g form that reads back as d (as JavaScript prints). */
static int fmt_shortest(siod_sio_text *t, double d)
{
    char tmp[40];
    if (d < 1e18 && d > -1e18 && d == (double)(long long)d) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)d);
        return siod_sio_text_add(t, tmp, strlen(tmp));
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d || prec == 17)
            break;
    }
    return siod_sio_text_add(t, tmp, strlen(tmp));
}

char *siod_json_fmt(const char *fmt, ...)
{
    siod_sio_text t = { NULL, 0, 0 };
    va_list ap;
    int bad = siod_sio_text_add(&t, "", 0) < 0;

    va_start(ap, fmt);
    for (const char *p = fmt; *p != '\0' && !bad; p++) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
            bad = siod_sio_text_add(&t, p, n) < 0;
            p += n - 1;
            continue;
        }
        p++;
        if (*p == '%') {
            bad = siod_sio_text_add(&t, "%", 1) < 0;
        } else if (*p == 's') {
            const char *s = va_arg(ap, const char *);
            bad = s == NULL || siod_sio_text_add(&t, s, strlen(s)) < 0;
        } else if (*p == 'Q') {
            const char *s = va_arg(ap, const char *);
            bad = s == NULL || fmt_quoted(&t, s, strlen(s)) < 0;
        } else if (p[0] == '.' && p[1] == '*' && (p[2] == 's' || p[2] == 'Q')) {
            int n = va_arg(ap, int);
            const char *s = va_arg(ap, const char *);
            if (n < 0 || (s == NULL && n > 0))
                bad = 1;
            else if (p[2] == 's')
                bad = siod_sio_text_add(&t, s, (size_t)n) < 0;
            else
                bad = fmt_quoted(&t, s, (size_t)n) < 0;
            p += 2;
        } else if (*p == 'd' || *p == 'i') {
            bad = fmt_printf(&t, "%d", va_arg(ap, int)) < 0;
        } else if (*p == 'u') {
            bad = fmt_printf(&t, "%u", va_arg(ap, unsigned)) < 0;
        } else if (*p == 'g' || *p == 'f') {
            double d = va_arg(ap, double);
            /* JSON has no NaN or Infinity; JSON.stringify writes null */
            if (d != d || d > 1.7976931348623157e308 ||
                d < -1.7976931348623157e308)
                bad = siod_sio_text_add(&t, "null", 4) < 0;
            else if (*p == 'f')
                bad = fmt_printf(&t, "%f", d) < 0;
            else
                bad = fmt_shortest(&t, d) < 0;
        } else if (p[0] == 'z' && p[1] == 'u') {
            bad = fmt_printf(&t, "%zu", va_arg(ap, size_t)) < 0;
            p++;
        } else if (p[0] == 'l' && (p[1] == 'd' || p[1] == 'u')) {
            if (p[1] == 'd')
                bad = fmt_printf(&t, "%ld", va_arg(ap, long)) < 0;
            else
                bad = fmt_printf(&t, "%lu", va_arg(ap, unsigned long)) < 0;
            p++;
        } else if (p[0] == 'l' && p[1] == 'l' && (p[2] == 'd' || p[2] == 'u')) {
            if (p[2] == 'd')
                bad = fmt_printf(&t, "%lld", va_arg(ap, long long)) < 0;
            else
                bad = fmt_printf(&t, "%llu",
                                 va_arg(ap, unsigned long long)) < 0;
            p += 2;
        } else {
            bad = 1;
        }
    }
    va_end(ap);
    if (bad) {
        free(t.p);
        return NULL;
    }
    return t.p;
}
