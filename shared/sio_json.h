/* JSON (RFC 8259) without a parse tree: a one-pass validator that reports the
 * top-level value's span and type, helpers that walk validated text by spans
 * (array elements, object members, key lookup, string compare/decode), and a
 * JSON string writer. Pure and non-allocating: every span aliases caller text. */
#ifndef SIO_JSON_H
#define SIO_JSON_H

#include "sio.h"

/* Hard cap on nesting; a larger max_depth argument is clamped to it. */
#define SIO_JSON_MAX_DEPTH 1024

/* sio_json_validate flags */
#define SIO_JSON_LONE_SURROGATES 0x1u /* accept unpaired \uD800-\uDFFF escapes,
                                         as JavaScript's JSON.parse does */

enum sio_json_type {
    SIO_JSON_NONE = 0,   /* absent (never the type of a validated value) */
    SIO_JSON_OBJECT,
    SIO_JSON_ARRAY,
    SIO_JSON_STRING,
    SIO_JSON_NUMBER,
    SIO_JSON_TRUE,
    SIO_JSON_FALSE,
    SIO_JSON_NULL
};

/* One JSON value inside caller text: ptr..ptr+len is the whole value, quotes
 * and brackets included, no surrounding whitespace. */
struct sio_json_span {
    const char *ptr;
    size_t len;
    enum sio_json_type type;
};

/* Cursor over the elements of an array or the members of an object. */
struct sio_json_iter {
    const char *p;       /* next unread byte */
    const char *end;     /* the container's closing bracket */
    int started;         /* an item has been returned, so ',' comes next */
};

/* Validates s[0..n) as one JSON text: optional whitespace, one value,
 * optional whitespace, nothing else. Strings must be valid UTF-8 with valid
 * escapes (surrogate escapes paired unless flags has
 * SIO_JSON_LONE_SURROGATES); nesting may not exceed max_depth containers
 * (0 allows scalars only). Returns SIO_OK and, if value is not NULL, fills it
 * with the value's span; SIO_EPROTO for malformed or empty text or trailing
 * data, SIO_EUTF8 for bad UTF-8 or an unpaired surrogate, SIO_ETOOBIG past
 * max_depth, SIO_EINVAL for s == NULL with n > 0. */
int sio_json_validate(const char *s, size_t n, unsigned max_depth,
                      unsigned flags, struct sio_json_span *value);

/* Returns a static lower-case name ("object", "string", ...) for a type. */
const char *sio_json_type_name(enum sio_json_type type);

/* The walkers below expect text that sio_json_validate accepted. On other
 * text they never read outside the span, but may return SIO_EPROTO or
 * meaningless spans. */

/* Spans the value that starts at s[0] (no leading whitespace) and ends
 * somewhere in s[0..n). Returns SIO_OK with *value filled, or SIO_EPROTO. */
int sio_json_span_value(const char *s, size_t n, struct sio_json_span *value);

/* Starts iterating the array or object in *container. Returns SIO_OK, or
 * SIO_EINVAL if it is not an array or object. */
int sio_json_iter_init(struct sio_json_iter *it,
                       const struct sio_json_span *container);

/* Fills *elem with the next array element. Returns SIO_OK, SIO_DONE after
 * the last one, or SIO_EPROTO on malformed text. */
int sio_json_array_next(struct sio_json_iter *it, struct sio_json_span *elem);

/* Fills *key (a string span, quotes included) and *value with the next
 * object member. Returns SIO_OK, SIO_DONE or SIO_EPROTO. */
int sio_json_object_next(struct sio_json_iter *it, struct sio_json_span *key,
                         struct sio_json_span *value);

/* Finds the member of object *obj whose decoded key equals key[0..key_len);
 * with duplicate keys the last one wins, as in JSON.parse. Returns SIO_OK
 * with *value filled, SIO_DONE if absent, SIO_EINVAL if *obj is not an
 * object, SIO_EPROTO on malformed text. */
int sio_json_object_get(const struct sio_json_span *obj, const char *key,
                        size_t key_len, struct sio_json_span *value);

/* Returns 1 if string span *str, once its escapes are decoded, equals
 * text[0..len) byte for byte; 0 otherwise (also when *str is no string). */
int sio_json_string_eq(const struct sio_json_span *str, const char *text,
                       size_t len);

/* Decodes string span *str into buf as UTF-8 (an unpaired surrogate becomes
 * U+FFFD); the result is never longer than str->len - 2 bytes, and is not
 * NUL-terminated. Returns SIO_OK with *len set, SIO_ENOSPC if cap is too
 * small, SIO_EINVAL if *str is no string, SIO_EPROTO on malformed text. */
int sio_json_string_decode(const struct sio_json_span *str, char *buf,
                           size_t cap, size_t *len);

/* Reads number span *num as a plain non-negative integer (digits only: no
 * sign, fraction or exponent). Returns SIO_OK with *out set, SIO_EPROTO if
 * it is not such a number, SIO_ETOOBIG if it exceeds max. */
int sio_json_uint(const struct sio_json_span *num, uint64_t max, uint64_t *out);

/* Returns the size of s[0..n) written as a JSON string, quotes included,
 * escaped as JSON.stringify does. */
size_t sio_json_string_size(const char *s, size_t n);

/* Writes s[0..n) as a quoted JSON string into buf (not NUL-terminated).
 * Returns SIO_OK with *len set; SIO_ENOSPC (with *len set to the size
 * needed) if cap < sio_json_string_size(s, n); SIO_EUTF8 if s is not valid
 * UTF-8 (buf then holds garbage). */
int sio_json_write_string(const char *s, size_t n, char *buf, size_t cap,
                          size_t *len);

#endif
