/* Socket.IO v5 packets (the body of an Engine.IO "message"):
 *   <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
 * A parser that validates like socket.io-parser's Decoder, an encoder into
 * caller buffers, and helpers for binary-attachment placeholders. Pure and
 * non-allocating: a parsed packet's pointers alias the caller's input. */
#ifndef SIO_PACKET_H
#define SIO_PACKET_H

#include "sio.h"
#include "sio_json.h"

enum sio_packet_type {
    SIO_PACKET_CONNECT = 0,
    SIO_PACKET_DISCONNECT = 1,
    SIO_PACKET_EVENT = 2,
    SIO_PACKET_ACK = 3,
    SIO_PACKET_CONNECT_ERROR = 4,
    SIO_PACKET_BINARY_EVENT = 5,
    SIO_PACKET_BINARY_ACK = 6
};

/* Largest ack id: JavaScript's Number.MAX_SAFE_INTEGER, the largest the
 * reference can hold exactly (and write back without an exponent). */
#define SIO_PACKET_MAX_ID 9007199254740991ULL

/* Defaults used when sio_packet_parse gets opts == NULL. */
#define SIO_PACKET_DEFAULT_MAX_ATTACHMENTS 10   /* socket.io-parser's */
#define SIO_PACKET_DEFAULT_MAX_DEPTH 32         /* json-c's default depth */

/* Longest `{"_placeholder":true,"num":N}` (N up to UINT_MAX is 10 digits). */
#define SIO_PACKET_PLACEHOLDER_MAX 38

/* Nesting sio_packet_scan_placeholders follows (it keeps 32 bytes of stack
 * per level); deeper data gets SIO_ETOOBIG. */
#define SIO_PACKET_SCAN_DEPTH 128

struct sio_packet_opts {
    unsigned max_attachments;   /* over it: SIO_ETOOBIG */
    unsigned max_depth;         /* JSON nesting, see sio_json_validate */
    unsigned json_flags;        /* SIO_JSON_* flags for the data */
};

struct sio_packet {
    enum sio_packet_type type;
    unsigned attachments;       /* BINARY_EVENT / BINARY_ACK: >= 1; else 0 */
    const char *nsp;            /* never NULL when parsed: "/" by default */
    size_t nsp_len;
    int has_id;                 /* an ack id was given */
    uint64_t id;                /* 0..SIO_PACKET_MAX_ID when has_id */
    struct sio_json_span data;  /* type SIO_JSON_NONE, ptr NULL: no data */
    struct sio_json_span event; /* (BINARY_)EVENT: data's first element, a
                                   string (the event name) or a number */
    const char *why;            /* after a failed parse: static reason */
};

/* A binary placeholder found in a packet's data. */
struct sio_placeholder {
    size_t off;                 /* offset of its '{' in the data span */
    size_t len;                 /* its length, through the closing '}' */
    unsigned num;               /* attachment index, < attachments */
};

/* Parses s[0..n), one whole Engine.IO message body without its leading '4',
 * into *out (opts NULL = defaults; the JSON flags default to
 * SIO_JSON_LONE_SURROGATES, as JSON.parse accepts those).
 * Rules, after socket.io-parser 4.2.7: type is one digit 0-6; BINARY_*
 * carry `<digits>-` with 1..max_attachments; a namespace starts with '/'
 * and runs to the first ',' (or to the end: "0/admin" is valid); an ack id
 * is decimal digits; the rest must be one JSON value. CONNECT data is
 * absent or an object; DISCONNECT has none; (BINARY_)EVENT is a non-empty
 * array whose first element is a number or a string other than a reserved
 * event name; (BINARY_)ACK an array; CONNECT_ERROR an object or a string.
 * Stricter than the reference: an event name or a namespace holding
 * U+0000 is SIO_EPROTO (C applications could not tell "a\u0000b" from
 * "a", nor "disconnect\u0000" from a reserved name).
 * Stricter than the reference: data is required for all types but CONNECT
 * and DISCONNECT (the protocol says so); counts and ids are plain ASCII
 * digits (the reference's Number() also takes "", " ", "1e1"), ids at most
 * SIO_PACKET_MAX_ID; the type must be a digit ("" is not CONNECT); the
 * namespace must be UTF-8.
 * Returns SIO_OK; SIO_EPROTO (malformed or invalid), SIO_ETOOBIG (too many
 * attachments, JSON too deep), SIO_EUTF8 (bad text), SIO_EINVAL (bad
 * arguments); on error out->why says what failed. */
int sio_packet_parse(const char *s, size_t n,
                     const struct sio_packet_opts *opts,
                     struct sio_packet *out);

/* Returns 1 if name[0..len) is an event name applications may not use
 * (connect, connect_error, disconnect, disconnecting, newListener,
 * removeListener), else 0. */
int sio_packet_reserved_event(const char *name, size_t len);

/* Returns a static name for a packet type ("EVENT", ...), "UNKNOWN" else. */
const char *sio_packet_type_name(int type);

/* Returns the encoded length of *p (valid or not; see sio_packet_encode). */
size_t sio_packet_encoded_size(const struct sio_packet *p);

/* Writes *p as `<type>[<attachments>-][<nsp>,][<id>]<data>` into buf (not
 * NUL-terminated): attachments only for BINARY_*, the namespace only when
 * it is not "/" (nsp NULL or empty also means "/"), the id only if has_id,
 * then data.ptr[0..data.len) verbatim (the caller vouches that it is JSON).
 * Returns SIO_OK with *len set; SIO_ENOSPC if cap is too small; SIO_EINVAL
 * for a bad type, a BINARY_* packet without attachments, a namespace not
 * starting with '/' or containing ',', or an id above SIO_PACKET_MAX_ID. */
int sio_packet_encode(const struct sio_packet *p, char *buf, size_t cap,
                      size_t *len);

/* Returns the length of the placeholder for attachment num. */
size_t sio_packet_placeholder_size(unsigned num);

/* Writes `{"_placeholder":true,"num":<num>}` into buf (not NUL-terminated).
 * Returns SIO_OK with *len set, or SIO_ENOSPC. */
int sio_packet_write_placeholder(unsigned num, char *buf, size_t cap,
                                 size_t *len);

/* Finds the placeholders in validated data span *data, as the reference's
 * reconstructPacket sees them: any object (outside other placeholders)
 * whose "_placeholder" member is true; its "num" must then be an integer
 * below attachments. Attachments may be used several times or not at all
 * (the reference checks no more). Fills out[0..min(*found, cap)) in text
 * order; *found counts them all. One linear pass. Returns SIO_OK,
 * SIO_EPROTO (a placeholder with a bad num, or malformed text), SIO_ETOOBIG
 * (nested deeper than SIO_PACKET_SCAN_DEPTH), SIO_EINVAL (bad arguments). */
int sio_packet_scan_placeholders(const struct sio_json_span *data,
                                 unsigned attachments,
                                 struct sio_placeholder *out, size_t cap,
                                 size_t *found);

#endif
