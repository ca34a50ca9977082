/* Checking an event's arguments against a compiled schema: the instance is
 * read with json-c and walked with the node tree, stopping at the first
 * failure, which is reported with the instance's JSON pointer and the
 * keyword that failed. Binary arguments (Socket.IO placeholders) are a
 * type of their own, "binary", whose length is their byte count. Pure: no
 * logging, no globals. */
#include "core/siod_core.h"
#include "siod_guard_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define INSTANCE_MAX_DEPTH 129    /* the argument array + the codec's 128 */

/* ---- JSON pointers ------------------------------------------------------- */

size_t siod_sch_ptr_push(sch_ptr *p, const char *tok, size_t len)
{
    size_t old = p->len, n = p->len;
    const size_t cap = sizeof p->buf - 4;

    if (n < cap)
        p->buf[n++] = '/';
    for (size_t i = 0; i < len && n < cap; i++) {
        if (tok[i] == '~' || tok[i] == '/') {
            p->buf[n++] = '~';
            if (n < cap)
                p->buf[n++] = tok[i] == '~' ? '0' : '1';
        } else {
            p->buf[n++] = tok[i];
        }
    }
    if (n >= cap) {
        memcpy(p->buf + cap, "...", 3);
        n = cap + 3;
    }
    p->buf[n] = '\0';
    p->len = n;
    return old;
}

size_t siod_sch_ptr_push_index(sch_ptr *p, size_t i)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%zu", i);
    return siod_sch_ptr_push(p, t, (size_t)n);
}

void siod_sch_ptr_pop(sch_ptr *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

/* ---- instances ------------------------------------------------------------ */

struct cx {
    sch_ptr at;
    const size_t *bin_lens;
    unsigned nbins;
    siod_schema_fail *fail;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct cx *x, const char *fmt, ...)
{
    va_list ap;
    snprintf(x->fail->path, sizeof x->fail->path, "%s", x->at.buf);
    va_start(ap, fmt);
    vsnprintf(x->fail->why, sizeof x->fail->why, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Binary argument o is ({"_placeholder":true,"num":N}, N < nbins): N, or
 * -1 if o is no placeholder. */
static long placeholder(const struct cx *x, struct json_object *o)
{
    struct json_object *ph, *num;

    if (!json_object_is_type(o, json_type_object) ||
        json_object_object_length(o) != 2 ||
        !json_object_object_get_ex(o, "_placeholder", &ph) ||
        !json_object_is_type(ph, json_type_boolean) ||
        !json_object_get_boolean(ph) ||
        !json_object_object_get_ex(o, "num", &num) ||
        !json_object_is_type(num, json_type_int))
        return -1;
    int64_t n = json_object_get_int64(num);
    return n >= 0 && n < (int64_t)x->nbins ? (long)n : -1;
}

static int integral(struct json_object *o)
{
    if (json_object_is_type(o, json_type_int))
        return 1;
    double d = json_object_get_double(o);
    return isfinite(d) && floor(d) == d;
}

/* The SCH_T_* bits instance o has (a whole number is number and
 * integer). */
static unsigned kind_of(const struct cx *x, struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null:
        return SCH_T_NULL;
    case json_type_boolean:
        return SCH_T_BOOLEAN;
    case json_type_int:
    case json_type_double:
        return SCH_T_NUMBER | (integral(o) ? SCH_T_INTEGER : 0);
    case json_type_string:
        return SCH_T_STRING;
    case json_type_array:
        return SCH_T_ARRAY;
    case json_type_object:
        return placeholder(x, o) >= 0 ? SCH_T_BINARY : SCH_T_OBJECT;
    }
    return 0;
}

static const char *kind_name(unsigned kind)
{
    if (kind & SCH_T_INTEGER)
        return "integer";
    switch (kind) {
    case SCH_T_NULL: return "null";
    case SCH_T_BOOLEAN: return "boolean";
    case SCH_T_NUMBER: return "number";
    case SCH_T_STRING: return "string";
    case SCH_T_ARRAY: return "array";
    case SCH_T_BINARY: return "binary";
    default: return "object";
    }
}

/* JSON equality as JSON Schema has it: numbers by value (1 == 1.0),
 * objects whatever their key order. */
static int json_eq(struct json_object *a, struct json_object *b)
{
    enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
    int na = ta == json_type_int || ta == json_type_double;
    int nb = tb == json_type_int || tb == json_type_double;

    if (na && nb) {
        if (ta == json_type_int && tb == json_type_int)
            return json_object_get_int64(a) == json_object_get_int64(b);
        return json_object_get_double(a) == json_object_get_double(b);
    }
    if (ta != tb)
        return 0;
    switch (ta) {
    case json_type_null:
        return 1;
    case json_type_boolean:
        return !json_object_get_boolean(a) == !json_object_get_boolean(b);
    case json_type_string:
        return json_object_get_string_len(a) ==
                   json_object_get_string_len(b) &&
               memcmp(json_object_get_string(a), json_object_get_string(b),
                      (size_t)json_object_get_string_len(a)) == 0;
    case json_type_array: {
        size_t n = json_object_array_length(a);
        if (n != json_object_array_length(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!json_eq(json_object_array_get_idx(a, i),
                         json_object_array_get_idx(b, i)))
                return 0;
        return 1;
    }
    case json_type_object: {
        if (json_object_object_length(a) != json_object_object_length(b))
            return 0;
        json_object_object_foreach(a, key, va) {
            struct json_object *vb;
            if (!json_object_object_get_ex(b, key, &vb) || !json_eq(va, vb))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* Code points of UTF-8 text s[0..len): the bytes that begin one. */
static long long code_points(const char *s, size_t len)
{
    long long n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static int check(const sch_node *n, struct json_object *o, struct cx *x);

static int check_string(const sch_node *n, struct json_object *o,
                        struct cx *x)
{
    const char *s = json_object_get_string(o);
    size_t len = (size_t)json_object_get_string_len(o);
    long long cp = code_points(s, len);

    if (n->min_length >= 0 && cp < n->min_length)
        return fail(x, "string shorter than %lld characters (minLength)",
                    n->min_length);
    if (n->max_length >= 0 && cp > n->max_length)
        return fail(x, "string longer than %lld characters (maxLength)",
                    n->max_length);
    if (n->has_re) {
        if (strlen(s) != len)
            return fail(x, "a string holding U+0000 matches no pattern");
        if (regexec(&n->re, s, 0, NULL, 0) != 0)
            return fail(x, "string does not match pattern %s", n->pattern);
    }
    return 0;
}

static int check_number(const sch_node *n, struct json_object *o,
                        struct cx *x)
{
    double d = json_object_get_double(o);

    if ((n->has_bounds & 1) && !(d >= n->minimum))
        return fail(x, "number below minimum %.17g", n->minimum);
    if ((n->has_bounds & 2) && !(d <= n->maximum))
        return fail(x, "number above maximum %.17g", n->maximum);
    if ((n->has_bounds & 4) && !(d > n->xminimum))
        return fail(x, "number not above exclusiveMinimum %.17g",
                    n->xminimum);
    if ((n->has_bounds & 8) && !(d < n->xmaximum))
        return fail(x, "number not below exclusiveMaximum %.17g",
                    n->xmaximum);
    return 0;
}

static int check_object(const sch_node *n, struct json_object *o,
                        struct cx *x)
{
    for (size_t i = 0; i < n->nrequired; i++)
        if (!json_object_object_get_ex(o, n->required[i].name, NULL))
            return fail(x, "property \"%s\" is missing (required)",
                        n->required[i].name);
    json_object_object_foreach(o, key, val) {
        const sch_node *sub = n->additional;
        int named = 0;
        for (size_t i = 0; i < n->nprops; i++)
            if (strcmp(n->props[i].name, key) == 0) {
                sub = n->props[i].node;
                named = 1;
                break;
            }
        if (sub == NULL)
            continue;
        size_t old = siod_sch_ptr_push(&x->at, key, strlen(key));
        if (!named && sub->boolean == 0)
            return fail(x, "property not allowed (additionalProperties)");
        int rc = check(sub, val, x);
        if (rc < 0)
            return rc;
        siod_sch_ptr_pop(&x->at, old);
    }
    return 0;
}

static int check_array(const sch_node *n, struct json_object *o,
                       struct cx *x)
{
    size_t len = json_object_array_length(o);

    if (n->min_items >= 0 && (long long)len < n->min_items)
        return fail(x, "fewer than %lld items (minItems)", n->min_items);
    if (n->max_items >= 0 && (long long)len > n->max_items)
        return fail(x, "more than %lld items (maxItems)", n->max_items);
    for (size_t i = 0; i < len; i++) {
        const sch_node *sub = i < n->nprefix ? n->prefix[i] : n->items;
        if (sub == NULL)
            continue;
        size_t old = siod_sch_ptr_push_index(&x->at, i);
        if (i >= n->nprefix && sub->boolean == 0)
            return fail(x, "item not allowed (items)");
        int rc = check(sub, json_object_array_get_idx(o, i), x);
        if (rc < 0)
            return rc;
        siod_sch_ptr_pop(&x->at, old);
    }
    return 0;
}

static void type_list(unsigned types, char *out, size_t cap)
{
    static const char *const names[] = { "null", "boolean", "object",
        "array", "number", "integer", "string", "binary" };
    size_t n = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 8; i++)
        if (types & (1u << i)) {
            int k = snprintf(out + n, cap - n, "%s%s", n ? " or " : "",
                             names[i]);
            if (k < 0 || (size_t)k >= cap - n)
                return;
            n += (size_t)k;
        }
}

static int check(const sch_node *n, struct json_object *o, struct cx *x)
{
    if (n->boolean == 1)
        return 0;
    if (n->boolean == 0)
        return fail(x, "no value is allowed here (false schema)");
    unsigned kind = kind_of(x, o);
    if (n->types != 0) {
        unsigned allow = n->types;
        if (allow & SCH_T_NUMBER)
            allow |= SCH_T_INTEGER;
        if ((kind & allow) == 0) {
            char want[96];
            type_list(n->types, want, sizeof want);
            return fail(x, "expected %s, got %s (type)", want,
                        kind_name(kind));
        }
    }
    if (n->has_const &&
        (kind == SCH_T_BINARY || !json_eq(o, n->constant)))
        return fail(x, "value differs from const");
    if (n->enums != NULL) {
        size_t k = json_object_array_length(n->enums), i = 0;
        if (kind != SCH_T_BINARY)
            for (; i < k; i++)
                if (json_eq(o, json_object_array_get_idx(n->enums, i)))
                    break;
        if (kind == SCH_T_BINARY || i == k)
            return fail(x, "value not in enum");
    }
    switch (kind & ~SCH_T_INTEGER) {
    case SCH_T_STRING:
        return check_string(n, o, x);
    case SCH_T_NUMBER:
        return check_number(n, o, x);
    case SCH_T_OBJECT:
        return check_object(n, o, x);
    case SCH_T_ARRAY:
        return check_array(n, o, x);
    case SCH_T_BINARY: {
        long long bytes = (long long)x->bin_lens[placeholder(x, o)];
        if (n->min_length >= 0 && bytes < n->min_length)
            return fail(x, "binary shorter than %lld bytes (minLength)",
                        n->min_length);
        if (n->max_length >= 0 && bytes > n->max_length)
            return fail(x, "binary longer than %lld bytes (maxLength)",
                        n->max_length);
        return 0;
    }
    default:
        return 0;
    }
}

int siod_schema_check(const siod_schema *sc, const char *json, size_t len,
                      const size_t *bin_lens, unsigned nbins,
                      siod_schema_fail *f)
{
    struct cx x = { { "", 0 }, bin_lens, bin_lens != NULL ? nbins : 0, f };
    struct json_tokener *tok;
    struct json_object *o;
    int rc;

    f->path[0] = f->why[0] = '\0';
    if (len > (size_t)INT32_MAX) {
        snprintf(f->why, sizeof f->why, "arguments too large");
        return -EPROTO;
    }
    tok = json_tokener_new_ex(INSTANCE_MAX_DEPTH);
    if (tok == NULL)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (o == NULL && jerr == json_tokener_continue) {
        /* a number or literal at the very end: the NUL ends it */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    while (jerr == json_tokener_success && used < len &&
           (json[used] == ' ' || json[used] == '\t' || json[used] == '\n' ||
            json[used] == '\r'))
        used++;
    if (jerr == json_tokener_success && used < len) {
        json_object_put(o);
        snprintf(f->why, sizeof f->why, "arguments are not JSON (data "
                 "after the value)");
        return -EPROTO;
    }
    if (jerr != json_tokener_success) {
        json_object_put(o);
        snprintf(f->why, sizeof f->why, "arguments are not JSON (%s)",
                 jerr == json_tokener_continue
                     ? "unexpected end" : json_tokener_error_desc(jerr));
        return -EPROTO;
    }
    rc = check(sc->root, o, &x);
    json_object_put(o);
    return rc;
}
