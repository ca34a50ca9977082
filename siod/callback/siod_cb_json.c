/* The callback layer's JSON, with json-c: received arguments turned into
 * the callback protocol's form (a binary value as {"_binary":"<base64>"}),
 * and a backend's answer parsed into the actions it asks for, its binary
 * values back into Socket.IO placeholders and buffers. Pure: no loop, no
 * logging, no globals; fuzzed (tests/fuzz/fuzz_callback.c). */
#include "siod_cb_int.h"
#include "core/siod_core.h"
#include "sio_base64.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns 1 if the integer digits d[0..n) (no sign) are more than json-c
 * keeps: past INT64_MIN's magnitude when negative, past UINT64_MAX when
 * not (json-c clamps those to the limit). */
static int int_too_big(const char *d, size_t n, int negative)
{
    const char *lim = negative ? "9223372036854775808" : "18446744073709551615";
    size_t lim_n = strlen(lim);
    return n > lim_n || (n == lim_n && memcmp(d, lim, n) > 0);
}

/* json-c reads an integer beyond 64 bits as the nearest limit; a double
 * keeps its text. Returns a malloc'd copy of json[0..len) in which each
 * such integer has ".0" appended (the same number, read as a double),
 * *out_len its length; NULL when there is none (or memory runs out:
 * *out_len is then nonzero). The text was validated, or is refused by
 * the parse anyway. */
static char *widen_big_ints(const char *json, size_t len, size_t *out_len)
{
    char *out = NULL;
    size_t o = 0, i = 0;
    int in_str = 0;

    *out_len = 0;
    while (i < len) {
        char ch = json[i];
        if (in_str) {
            in_str = ch != '"';
            i += ch == '\\' ? 2 : 1;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
            i++;
            continue;
        }
        if (ch != '-' && (ch < '0' || ch > '9')) {
            i++;
            continue;
        }
        size_t start = i, digits = i + (ch == '-');
        int integer = 1;
        while (i < len && (json[i] == '-' || json[i] == '+' ||
                           json[i] == '.' || json[i] == 'e' ||
                           json[i] == 'E' || (json[i] >= '0' && json[i] <= '9'))) {
            if (json[i] == '.' || json[i] == 'e' || json[i] == 'E')
                integer = 0;
            i++;
        }
        if (!integer || i <= digits ||
            !int_too_big(json + digits, i - digits, ch == '-'))
            continue;
        if (out == NULL) {
            /* at most one ".0" per two bytes of input */
            out = malloc(len + len + 1);
            if (out == NULL) {
                *out_len = 1;
                return NULL;
            }
            memcpy(out, json, start);
            o = start;
        } else {
            /* the text between the previous widened number and this one */
            size_t from = (size_t)(*out_len);
            memcpy(out + o, json + from, start - from);
            o += start - from;
        }
        memcpy(out + o, json + start, i - start);
        o += i - start;
        memcpy(out + o, ".0", 2);
        o += 2;
        *out_len = i;                /* where copying resumes */
    }
    if (out == NULL)
        return NULL;
    memcpy(out + o, json + *out_len, len - *out_len);
    o += len - *out_len;
    out[o] = '\0';
    *out_len = o;
    return out;
}

struct json_object *siod_cb_json_parse(const char *json, size_t len)
{
    struct json_tokener *tok;
    struct json_object *o;
    size_t used, wide_len;
    char *wide;

    if (len > (size_t)INT32_MAX)
        return NULL;
    wide = widen_big_ints(json, len, &wide_len);
    if (wide != NULL) {
        o = siod_cb_json_parse(wide, wide_len);
        free(wide);
        return o;
    }
    if (wide_len != 0)
        return NULL;                 /* out of memory */
    tok = json_tokener_new_ex(SIOD_CB_MAX_DEPTH);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                           JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, json, (int)len);
    used = json_tokener_get_parse_end(tok);
    /* a value that is all there is (a complete number needs its end) */
    if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
        o = json_tokener_parse_ex(tok, "", 1), used = len;
    json_tokener_free(tok);
    if (o == NULL)
        return NULL;
    while (used < len && (json[used] == ' ' || json[used] == '\n' ||
                          json[used] == '\r' || json[used] == '\t'))
        used++;
    if (used < len) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

char *siod_cb_json_string(struct json_object *o, size_t *len)
{
    size_t n;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *copy;

    if (s == NULL || (copy = malloc(n + 1)) == NULL)
        return NULL;
    memcpy(copy, s, n + 1);
    if (len != NULL)
        *len = n;
    return copy;
}

void siod_cb_args_free(siod_cb_args *a)
{
    if (a == NULL)
        return;
    free(a->json);
    for (unsigned i = 0; i < a->nbins; i++)
        free((void *)a->bins[i].data);
    free(a->bins);
    memset(a, 0, sizeof *a);
}

/* ---- arguments to the backend ---------------------------------------------- */

/* Returns 1 if o is {"_placeholder":true,"num":N} and sets *num. */
static int placeholder(struct json_object *o, int64_t *num)
{
    struct json_object *p, *n;
    if (!json_object_is_type(o, json_type_object) ||
        json_object_object_length(o) != 2 ||
        !json_object_object_get_ex(o, "_placeholder", &p) ||
        !json_object_is_type(p, json_type_boolean) ||
        !json_object_get_boolean(p) ||
        !json_object_object_get_ex(o, "num", &n) ||
        !json_object_is_type(n, json_type_int))
        return 0;
    *num = json_object_get_int64(n);
    return 1;
}

/* {"_binary":"<base64 of b>"}, or NULL if memory runs out. */
static struct json_object *binary_value(const siod_bin *b)
{
    size_t n = sio_base64_encoded_len(b->len);
    char *text = malloc(n + 1);
    struct json_object *o, *s;

    if (text == NULL)
        return NULL;
    n = sio_base64_encode(text, b->data, b->len);
    s = json_object_new_string_len(text, (int)n);
    free(text);
    o = json_object_new_object();
    if (s == NULL || o == NULL || json_object_object_add(o, "_binary", s) < 0) {
        json_object_put(s);
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Replaces, under *slot, every placeholder by its binary value. Returns 0
 * or -ENOMEM / -EPROTO (a placeholder past nbins). */
static int bins_out(struct json_object **slot, const siod_bin *bins,
                    unsigned nbins, int depth)
{
    struct json_object *o = *slot;
    int64_t num;
    int rc;

    if (depth > SIOD_CB_MAX_DEPTH)
        return -EPROTO;
    if (placeholder(o, &num)) {
        if (num < 0 || num >= nbins)
            return -EPROTO;
        struct json_object *b = binary_value(&bins[num]);
        if (b == NULL)
            return -ENOMEM;
        *slot = b;                   /* the container releases o */
        return 0;
    }
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(o, i);
            struct json_object *was = e;
            if ((rc = bins_out(&e, bins, nbins, depth + 1)) < 0)
                return rc;
            /* put_idx releases the old element */
            if (e != was && json_object_array_put_idx(o, i, e) < 0) {
                json_object_put(e);
                return -ENOMEM;
            }
        }
    } else if (json_object_is_type(o, json_type_object)) {
        struct json_object_iterator it = json_object_iter_begin(o);
        struct json_object_iterator end = json_object_iter_end(o);
        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
            struct json_object *e = json_object_iter_peek_value(&it);
            struct json_object *was = e;
            if ((rc = bins_out(&e, bins, nbins, depth + 1)) < 0)
                return rc;
            /* adding to an existing key replaces (and releases) the old
             * value and keeps the key */
            if (e != was &&
                json_object_object_add(o, json_object_iter_peek_name(&it),
                                       e) < 0) {
                json_object_put(e);
                return -ENOMEM;
            }
        }
    }
    return 0;
}

struct json_object *siod_cb_args_to_json(const char *json, size_t len,
                                         const siod_bin *bins,
                                         unsigned nbins)
{
    struct json_object *o;

    if (json == NULL || (len == 0 && json[0] == '\0'))
        return json_object_new_array();
    if (len == 0)
        len = strlen(json);
    o = siod_cb_json_parse(json, len);
    if (o == NULL || !json_object_is_type(o, json_type_array) ||
        bins_out(&o, bins, nbins, 0) < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* ---- answers from the backend ---------------------------------------------- */

/* Returns 1 if o is {"_binary":"..."} and sets *text / *n. */
static int binary_marker(struct json_object *o, const char **text, size_t *n)
{
    struct json_object *b;
    if (!json_object_is_type(o, json_type_object) ||
        json_object_object_length(o) != 1 ||
        !json_object_object_get_ex(o, "_binary", &b) ||
        !json_object_is_type(b, json_type_string))
        return 0;
    *text = json_object_get_string(b);
    *n = (size_t)json_object_get_string_len(b);
    return 1;
}

/* A placeholder for binary number num, or NULL. */
static struct json_object *placeholder_new(unsigned num)
{
    struct json_object *o = json_object_new_object();
    struct json_object *t = json_object_new_boolean(1);
    struct json_object *n = json_object_new_int((int)num);
    if (o == NULL || t == NULL || n == NULL ||
        json_object_object_add(o, "_placeholder", t) < 0) {
        json_object_put(o);
        json_object_put(t);
        json_object_put(n);
        return NULL;
    }
    if (json_object_object_add(o, "num", n) < 0) {
        json_object_put(o);
        json_object_put(n);
        return NULL;
    }
    return o;
}

/* Replaces, under *slot, every binary marker by a placeholder and
 * appends its bytes to out. Returns 0, -EPROTO (bad base64, too many) or
 * -ENOMEM, with why set. */
static int bins_in(struct json_object **slot, siod_cb_args *out, int depth,
                   char *why, size_t cap)
{
    struct json_object *o = *slot;
    const char *text;
    size_t n;
    int rc;

    if (depth > SIOD_CB_MAX_DEPTH)
        return siod_err_set(why, cap, -EPROTO, "nested too deeply");
    if (placeholder(o, &(int64_t){ 0 }))
        return siod_err_set(why, cap, -EPROTO, "a Socket.IO placeholder "
                            "(binary values are {\"_binary\":...})");
    if (binary_marker(o, &text, &n)) {
        unsigned char *buf;
        size_t blen;
        siod_bin *bins;
        if (out->nbins == SIOD_CB_MAX_BINS)
            return siod_err_set(why, cap, -EPROTO, "more than %d binary "
                                "values", SIOD_CB_MAX_BINS);
        buf = malloc(n + 1);
        if (buf == NULL)
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
        if (sio_base64_decode(buf, text, n, &blen) != SIO_OK) {
            free(buf);
            return siod_err_set(why, cap, -EPROTO, "_binary is not base64");
        }
        bins = realloc(out->bins, (out->nbins + 1) * sizeof *bins);
        if (bins == NULL) {
            free(buf);
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
        }
        out->bins = bins;
        bins[out->nbins].data = buf;
        bins[out->nbins].len = blen;
        struct json_object *p = placeholder_new(out->nbins);
        out->nbins++;
        if (p == NULL)
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
        *slot = p;                   /* the container releases o */
        return 0;
    }
    if (json_object_is_type(o, json_type_array)) {
        size_t len = json_object_array_length(o);
        for (size_t i = 0; i < len; i++) {
            struct json_object *e = json_object_array_get_idx(o, i);
            struct json_object *was = e;
            if ((rc = bins_in(&e, out, depth + 1, why, cap)) < 0)
                return rc;
            if (e != was && json_object_array_put_idx(o, i, e) < 0) {
                json_object_put(e);
                return siod_err_set(why, cap, -ENOMEM, "out of memory");
            }
        }
    } else if (json_object_is_type(o, json_type_object)) {
        struct json_object_iterator it = json_object_iter_begin(o);
        struct json_object_iterator end = json_object_iter_end(o);
        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
            struct json_object *e = json_object_iter_peek_value(&it);
            struct json_object *was = e;
            if ((rc = bins_in(&e, out, depth + 1, why, cap)) < 0)
                return rc;
            if (e != was &&
                json_object_object_add(o, json_object_iter_peek_name(&it),
                                       e) < 0) {
                json_object_put(e);
                return siod_err_set(why, cap, -ENOMEM, "out of memory");
            }
        }
    }
    return 0;
}

/* Member "what" (an array, or absent: []) as arguments to send. */
static int args_in(struct json_object *v, siod_cb_args *out, const char *what,
                   char *why, size_t cap)
{
    struct json_object *copy = NULL;
    int rc;

    if (v == NULL) {
        out->json = strdup("[]");
        return out->json != NULL ? 0
               : siod_err_set(why, cap, -ENOMEM, "out of memory");
    }
    if (!json_object_is_type(v, json_type_array))
        return siod_err_set(why, cap, -EPROTO, "%s is not an array", what);
    /* our own copy: the markers are replaced in place */
    if (json_object_deep_copy(v, &copy, NULL) < 0)
        return siod_err_set(why, cap, -ENOMEM, "out of memory");
    rc = bins_in(&copy, out, 0, why, cap);
    if (rc == 0 && (out->json = siod_cb_json_string(copy, NULL)) == NULL)
        rc = siod_err_set(why, cap, -ENOMEM, "out of memory");
    json_object_put(copy);
    return rc;
}

/* A string member (NUL-free), malloc'd into *out; absent: NULL. */
static int str_in(struct json_object *v, char **out, const char *what,
                  char *why, size_t cap)
{
    const char *s;
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return siod_err_set(why, cap, -EPROTO, "%s is not a string", what);
    s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return siod_err_set(why, cap, -EPROTO, "%s holds U+0000", what);
    *out = strdup(s);
    return *out != NULL ? 0 : siod_err_set(why, cap, -ENOMEM, "out of memory");
}

/* A list of room names: an array of strings, or one string. */
static int names_in(struct json_object *v, siod_cb_names *out,
                    const char *what, char *why, size_t cap)
{
    size_t n;
    int rc;

    if (v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        out->v = calloc(1, sizeof *out->v);
        if (out->v == NULL)
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
        out->n = 1;
        return str_in(v, &out->v[0], what, why, cap);
    }
    if (!json_object_is_type(v, json_type_array))
        return siod_err_set(why, cap, -EPROTO, "%s is not an array of room "
                            "names", what);
    n = json_object_array_length(v);
    if (n > SIOD_CB_MAX_NAMES)
        return siod_err_set(why, cap, -EPROTO, "%s: more than %d rooms", what,
                            SIOD_CB_MAX_NAMES);
    if (n == 0)
        return 0;
    out->v = calloc(n, sizeof *out->v);
    if (out->v == NULL)
        return siod_err_set(why, cap, -ENOMEM, "out of memory");
    out->n = n;
    for (size_t i = 0; i < n; i++)
        if ((rc = str_in(json_object_array_get_idx(v, i), &out->v[i], what,
                         why, cap)) < 0)
            return rc;
    return 0;
}

static void names_free(siod_cb_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* One element of "emit". */
static int emit_in(struct json_object *o, siod_cb_emit *e, char *why,
                   size_t cap)
{
    struct json_object *to;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return siod_err_set(why, cap, -EPROTO, "an emit is not an object");
    if ((rc = str_in(member(o, "event"), &e->event, "emit.event", why,
                     cap)) < 0)
        return rc;
    if (e->event == NULL || e->event[0] == '\0')
        return siod_err_set(why, cap, -EPROTO, "an emit has no event name");
    if ((rc = args_in(member(o, "args"), &e->args, "emit.args", why,
                      cap)) < 0 ||
        (rc = names_in(member(o, "except"), &e->except, "emit.except", why,
                       cap)) < 0)
        return rc;
    to = member(o, "to");
    e->to = SIOD_CB_TO_SELF;
    if (to == NULL)
        return 0;
    if (json_object_is_type(to, json_type_string)) {
        const char *s = json_object_get_string(to);
        if (strcmp(s, "self") == 0)
            e->to = SIOD_CB_TO_SELF;
        else if (strcmp(s, "all") == 0)
            e->to = SIOD_CB_TO_ALL;
        else if (strcmp(s, "others") == 0)
            e->to = SIOD_CB_TO_OTHERS;
        else
            return siod_err_set(why, cap, -EPROTO, "emit.to is not \"self\", "
                                "\"all\", \"others\" or an array of rooms");
        return 0;
    }
    e->to = SIOD_CB_TO_ROOMS;
    if (!json_object_is_type(to, json_type_array))
        return siod_err_set(why, cap, -EPROTO, "emit.to is not \"self\", "
                            "\"all\", \"others\" or an array of rooms");
    return names_in(to, &e->rooms, "emit.to", why, cap);
}

/* The answer's members, o an object. */
static int answer_in(struct json_object *o, siod_cb_answer *a, char *why,
                     size_t cap)
{
    struct json_object *v;
    int rc;

    if ((v = member(o, "accept")) != NULL) {
        if (!json_object_is_type(v, json_type_boolean))
            return siod_err_set(why, cap, -EPROTO, "accept is not a boolean");
        a->accept = json_object_get_boolean(v) ? 1 : 0;
    }
    if ((v = member(o, "error")) != NULL) {
        if (json_object_is_type(v, json_type_string)) {
            if ((rc = str_in(v, &a->message, "error", why, cap)) < 0)
                return rc;
        } else if (json_object_is_type(v, json_type_object)) {
            struct json_object *d = member(v, "data");
            if ((rc = str_in(member(v, "message"), &a->message,
                             "error.message", why, cap)) < 0)
                return rc;
            if (d != NULL &&
                (a->error_data = siod_cb_json_string(d, NULL)) == NULL)
                return siod_err_set(why, cap, -ENOMEM, "out of memory");
        } else {
            return siod_err_set(why, cap, -EPROTO, "error is not a string or "
                                "an object");
        }
    }
    if ((v = member(o, "data")) != NULL || json_object_object_get_ex(o, "data",
                                                                     NULL)) {
        a->has_data = 1;
        if ((a->data = siod_cb_json_string(v, NULL)) == NULL)
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
    }
    if ((rc = names_in(member(o, "join"), &a->join, "join", why, cap)) < 0 ||
        (rc = names_in(member(o, "leave"), &a->leave, "leave", why, cap)) < 0)
        return rc;
    if ((v = member(o, "ack")) != NULL) {
        a->has_ack = 1;
        if ((rc = args_in(v, &a->ack, "ack", why, cap)) < 0)
            return rc;
    }
    if ((v = member(o, "emit")) != NULL) {
        size_t n;
        if (!json_object_is_type(v, json_type_array))
            return siod_err_set(why, cap, -EPROTO, "emit is not an array");
        n = json_object_array_length(v);
        if (n > SIOD_CB_MAX_EMITS)
            return siod_err_set(why, cap, -EPROTO, "more than %d emits",
                                SIOD_CB_MAX_EMITS);
        if (n > 0 && (a->emits = calloc(n, sizeof *a->emits)) == NULL)
            return siod_err_set(why, cap, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            a->nemits = i + 1;
            if ((rc = emit_in(json_object_array_get_idx(v, i), &a->emits[i],
                              why, cap)) < 0)
                return rc;
        }
    }
    if ((v = member(o, "disconnect")) != NULL) {
        if (json_object_is_type(v, json_type_boolean))
            a->disconnect = json_object_get_boolean(v) ? 1 : 0;
        else if (json_object_is_type(v, json_type_string) &&
                 strcmp(json_object_get_string(v), "close") == 0)
            a->disconnect = 2;
        else
            return siod_err_set(why, cap, -EPROTO, "disconnect is not a "
                                "boolean or \"close\"");
    }
    return 0;
}

int siod_cb_answer_parse(const char *body, size_t len, siod_cb_answer *out,
                         char *why, size_t cap)
{
    struct json_object *o;
    size_t i = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->accept = -1;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' ||
                       body[i] == '\t'))
        i++;
    if (i == len)
        return 0;                    /* an empty answer asks for nothing */
    o = siod_cb_json_parse(body, len);
    if (o == NULL)
        return siod_err_set(why, cap, -EPROTO, "not JSON");
    if (!json_object_is_type(o, json_type_object))
        rc = siod_err_set(why, cap, -EPROTO, "not a JSON object");
    else
        rc = answer_in(o, out, why, cap);
    json_object_put(o);
    return rc;
}

void siod_cb_answer_free(siod_cb_answer *a)
{
    if (a == NULL)
        return;
    free(a->message);
    free(a->error_data);
    free(a->data);
    names_free(&a->join);
    names_free(&a->leave);
    siod_cb_args_free(&a->ack);
    for (size_t i = 0; i < a->nemits; i++) {
        siod_cb_emit *e = &a->emits[i];
        free(e->event);
        siod_cb_args_free(&e->args);
        names_free(&e->rooms);
        names_free(&e->except);
    }
    free(a->emits);
    memset(a, 0, sizeof *a);
    a->accept = -1;
}
