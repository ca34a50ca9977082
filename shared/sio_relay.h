/* The relay protocol between mod_socketio (httpd children) and siod: binary,
 * length-prefixed, versioned frames over a Unix stream socket. One link
 * carries many sessions: every frame names its session (sid) and, where a
 * request or WebSocket is involved, the module's handle for it (conn).
 * Pure codec: no I/O, no allocation. docs/relay-protocol.md is the prose. */
#ifndef SIO_RELAY_H
#define SIO_RELAY_H

#include "sio.h"

#define SIO_RELAY_MAGIC 0x53494f52u /* "SIOR" */
#define SIO_RELAY_VERSION 2
#define SIO_RELAY_HDR_LEN 36
/* Largest body either side will ever send or accept. */
#define SIO_RELAY_MAX_BODY (64u * 1024u * 1024u)

/* Frame header, all integers big-endian:
 *   u32 body length | u8 type | u8 flags | u16 status | u64 conn | sid[20]
 * sid is all zero bytes where no session is named (HELLO, OPEN). */
enum sio_relay_type {
    /* both ways, first frame on a link: body = sio_relay_hello */
    SIO_R_HELLO = 1,
    /* both ways, second frame on a link (siod's right after its HELLO):
     * body = the sender's SIO_RELAY_PROOF_LEN-byte proof of the shared
     * secret (sio_relay_proof) */
    SIO_R_AUTH = 10,

    /* module -> siod */
    SIO_R_OPEN = 2,      /* handshake without sid; flags SIO_RF_WEBSOCKET for
                          * a WebSocket-only session; body = info key/values.
                          * Reply: RESPONSE (polling, or any refusal) or
                          * WS_ACCEPT (websocket). */
    SIO_R_UPGRADE = 3,   /* WebSocket with sid: upgrade from polling; body =
                          * info key/values. Reply: WS_ACCEPT or RESPONSE. */
    SIO_R_POLL_GET = 4,  /* long-poll GET. Reply: RESPONSE, possibly later. */
    SIO_R_POLL_POST = 5, /* POST, body = the raw request body. Reply: RESPONSE */
    SIO_R_CANCEL = 6,    /* the request named by conn is gone (client left,
                          * module timed out); no reply. With SIO_RF_KEEP
                          * (only to a siod whose HELLO set
                          * SIO_RELAY_CAP_RELEASE), for a held POLL_GET:
                          * end that GET, keep the session; siod answers it
                          * (a noop) unless it already had. */
    SIO_R_WS_MSG = 7,    /* one complete WebSocket message; SIO_RF_BINARY */
    SIO_R_WS_CLOSED = 8, /* the WebSocket named by conn is gone; status =
                          * close code seen or sent (1006 if none); no reply */
    SIO_R_ABORT = 9,     /* close the session sid: the client broke a rule
                          * the module enforces (status = 413 for a POST over
                          * max payload, ...); no reply */
    SIO_R_API = 11,      /* an operation outside any session (the HTTP emit
                          * API): sid zero, body = the request's JSON.
                          * Reply: RESPONSE (SIO_RF_JSON), possibly later.
                          * Sent only to a siod whose HELLO set
                          * SIO_RELAY_CAP_API. */
    SIO_R_WS_RESUME = 12,/* take back the WebSocket conn of session sid,
                          * which the previous siod handed over (WS_CLOSE
                          * with SIO_RF_KEEP); body empty. No reply when
                          * siod has the session (frames for it follow,
                          * WS_MSG from the client included); WS_CLOSE
                          * (status 1012) when it has not. Sent only to a
                          * siod whose HELLO set SIO_RELAY_CAP_HANDOVER. */

    /* siod -> module */
    SIO_R_RESPONSE = 20, /* HTTP answer to OPEN/UPGRADE/POLL_GET/POLL_POST:
                          * status = HTTP status, body = response body;
                          * SIO_RF_JSON: Content-Type application/json,
                          * SIO_RF_BINARY: application/octet-stream (an
                          * Engine.IO 3 payload in the XHR2 binary form),
                          * else text/plain; charset=UTF-8 */
    SIO_R_WS_ACCEPT = 21,/* complete the WebSocket handshake (101) for conn,
                          * now bound to sid */
    SIO_R_WS_SEND = 22,  /* send body as one WebSocket message; SIO_RF_BINARY */
    SIO_R_WS_CLOSE = 23, /* close the WebSocket with close code = status after
                          * everything queued before it is sent. With
                          * SIO_RF_KEEP (only to a module whose HELLO set
                          * SIO_RELAY_CAP_HANDOVER): siod is stopping and
                          * hands the session over; keep the WebSocket
                          * open, read no more from the client, and send
                          * WS_RESUME to the next siod (close with status
                          * if none takes it in time) */
    SIO_R_WS_FANOUT = 24,/* send one message to many WebSockets of this
                          * link: body = u32 count | count x u64 conn |
                          * message bytes; SIO_RF_BINARY; sid is zero.
                          * Conns the module no longer knows are skipped.
                          * Sent only on links whose HELLO from the module
                          * set SIO_RELAY_CAP_FANOUT. */
    SIO_R_PEERS = 25,    /* the other nodes learned through Redis (siod
                          * --redis --node): body = sio_relay_peers_*,
                          * conn 0, sid zero; replaces the module's whole
                          * learned table. Sent only on links whose HELLO
                          * from the module set SIO_RELAY_CAP_PEERS. */
    SIO_R_TYPE_MAX_ = 26
};

enum sio_relay_flag {
    SIO_RF_WEBSOCKET = 0x01, /* OPEN: transport=websocket */
    SIO_RF_BINARY = 0x02,    /* WS_MSG / WS_SEND: binary message, else text;
                              * RESPONSE: a binary body */
    SIO_RF_JSON = 0x04,      /* RESPONSE: body is JSON */
    SIO_RF_VOLATILE = 0x08,  /* WS_SEND / WS_FANOUT: the message may be
                              * dropped if the client cannot take it */
    SIO_RF_KEEP = 0x10       /* CANCEL: release a held GET, keep the
                              * session (its queue waits for the next GET);
                              * WS_CLOSE: keep the WebSocket for the next
                              * siod (WS_RESUME) */
};

typedef struct sio_relay_frame {
    uint8_t type;
    uint8_t flags;
    uint16_t status;
    uint64_t conn;
    char sid[SIO_SID_LEN];       /* not NUL-terminated; zeros = none */
    uint32_t len;                /* body length */
    const unsigned char *body;   /* parse: points into the caller's buffer */
} sio_relay_frame;

/* HELLO body: u32 magic | u16 version | u16 caps | u32 pid | u32 max body
 * | nonce[32]. Version 1 had no nonce (16 bytes); its HELLO still decodes
 * so that a peer can say which version it met. */
#define SIO_RELAY_NONCE_LEN 32
#define SIO_RELAY_HELLO_V1_LEN 16
#define SIO_RELAY_HELLO_LEN (SIO_RELAY_HELLO_V1_LEN + SIO_RELAY_NONCE_LEN)
/* siod's HELLO to a module that set SIO_RELAY_CAP_NODE, when siod runs
 * with a node tag: the version 2 body, then node[4] (the tag, NUL-padded). */
#define SIO_RELAY_NODE_LEN 4
#define SIO_RELAY_HELLO_NODE_LEN (SIO_RELAY_HELLO_LEN + SIO_RELAY_NODE_LEN)

/* Capability bits in HELLO's caps field: what the sender can take. Unknown
 * bits are ignored; a sender sets only the bits it implements. */
#define SIO_RELAY_CAP_FANOUT 0x0001u /* module: accepts WS_FANOUT frames */
#define SIO_RELAY_CAP_RELEASE 0x0002u /* siod: takes CANCEL + SIO_RF_KEEP */
#define SIO_RELAY_CAP_NODE 0x0004u   /* module: takes siod's node tag in a
                                      * SIO_RELAY_HELLO_NODE_LEN HELLO */
#define SIO_RELAY_CAP_PEERS 0x0008u  /* module: takes PEERS frames; siod:
                                      * sends one right after AUTH */
#define SIO_RELAY_CAP_API 0x0010u    /* siod: takes API frames */
#define SIO_RELAY_CAP_HANDOVER 0x0020u /* module: holds a WebSocket across a
                                        * restart of siod (WS_CLOSE with
                                        * SIO_RF_KEEP); siod: takes
                                        * WS_RESUME */

typedef struct sio_relay_hello {
    uint32_t magic;
    uint16_t version;
    uint32_t pid;
    uint32_t max_body;
    uint16_t caps;               /* SIO_RELAY_CAP_* bits; set it (0: none) */
    unsigned char nonce[SIO_RELAY_NONCE_LEN]; /* fresh random bytes per link
                                               * (zeros from a v1 HELLO) */
    char node[SIO_RELAY_NODE_LEN]; /* node tag, NUL-padded; all zeros:
                                    * none (then the body is 48 bytes) */
} sio_relay_hello;

/* Parses one frame from buf[0..len). Returns SIO_OK with *used set to the
 * frame's total size and *out filled (out->body points into buf), SIO_AGAIN
 * when buf holds less than a whole frame, SIO_EPROTO for an unknown type and
 * SIO_ETOOBIG for a body over max_body. */
int sio_relay_parse(const unsigned char *buf, size_t len, size_t max_body,
                    size_t *used, sio_relay_frame *out);

/* Parses the header of the frame at buf[0..len), whose body need not be
 * in yet (a reader sizes the buffer for a big frame from it). Returns
 * SIO_OK with *out filled but out->body NULL (out->len is the body
 * length), SIO_AGAIN when buf holds less than SIO_RELAY_HDR_LEN bytes,
 * and SIO_EPROTO or SIO_ETOOBIG as sio_relay_parse does. */
int sio_relay_parse_header(const unsigned char *buf, size_t len,
                           size_t max_body, sio_relay_frame *out);

/* Writes the SIO_RELAY_HDR_LEN-byte header of f (f->len is the body length
 * the caller will send right after it) into hdr. */
void sio_relay_write_header(unsigned char *hdr, const sio_relay_frame *f);

/* HELLO body: encode into out[SIO_RELAY_HELLO_NODE_LEN] and returns the
 * length written: SIO_RELAY_HELLO_NODE_LEN when h->node names a tag, else
 * SIO_RELAY_HELLO_LEN. Decode returns SIO_OK, or SIO_EPROTO for a body
 * without the magic, of another length than SIO_RELAY_HELLO_LEN,
 * SIO_RELAY_HELLO_NODE_LEN (whose node must be a valid tag, NUL-padded),
 * or SIO_RELAY_HELLO_V1_LEN with a version below 2 (the caller then
 * refuses the version by number), or a length that does not match its
 * version. */
size_t sio_relay_hello_encode(unsigned char *out, const sio_relay_hello *h);
int sio_relay_hello_decode(const unsigned char *buf, size_t len,
                           sio_relay_hello *out);

/* Proof of the shared secret (AUTH body): HMAC-SHA-256 under the secret of
 * a label naming the sender's role, the module's HELLO nonce and siod's.
 * Each side sends its own and checks the other's, so a process that can
 * reach the socket but not read the secret can neither open a link nor pose
 * as siod, and a proof seen on one link is useless on any other. */
#define SIO_RELAY_PROOF_LEN 32
enum sio_relay_role {
    SIO_RELAY_ROLE_MODULE = 1,
    SIO_RELAY_ROLE_SIOD = 2
};

/* Writes the SIO_RELAY_PROOF_LEN-byte proof of role (SIO_RELAY_ROLE_*)
 * for the link whose HELLOs carried nonce_module and nonce_siod, under
 * key[0..key_len). */
void sio_relay_proof(const unsigned char *key, size_t key_len, int role,
                     const unsigned char *nonce_module,
                     const unsigned char *nonce_siod,
                     unsigned char out[SIO_RELAY_PROOF_LEN]);

/* Returns 1 when the proof got (SIO_RELAY_PROOF_LEN bytes) is the one
 * expected, 0 otherwise, in constant time. */
int sio_relay_proof_ok(const unsigned char *got, const unsigned char *expected);

/* The secret file: its bytes, less trailing whitespace (so an editor's or
 * `openssl rand -hex 32`'s newline does not count), are the key; it must
 * be SIO_RELAY_SECRET_MIN to SIO_RELAY_SECRET_MAX bytes long. A generated
 * file holds SIO_RELAY_SECRET_GEN_LEN lower-case hex digits and a newline. */
#define SIO_RELAY_SECRET_MIN 32
#define SIO_RELAY_SECRET_MAX 1024
#define SIO_RELAY_SECRET_RAW_LEN 32
#define SIO_RELAY_SECRET_GEN_LEN (2 * SIO_RELAY_SECRET_RAW_LEN)

/* Finds the key in a secret file's content buf[0..len). Returns SIO_OK
 * with *key_len (the key is buf[0..*key_len)), or SIO_EPROTO when it is
 * shorter than SIO_RELAY_SECRET_MIN or longer than SIO_RELAY_SECRET_MAX. */
int sio_relay_secret_parse(const unsigned char *buf, size_t len,
                           size_t *key_len);

/* Writes the content of a new secret file for raw[SIO_RELAY_SECRET_RAW_LEN]
 * (random bytes) into out: SIO_RELAY_SECRET_GEN_LEN hex digits and '\n'
 * (out holds SIO_RELAY_SECRET_GEN_LEN + 1 bytes, no terminator). */
void sio_relay_secret_format(const unsigned char *raw, char *out);

/* Key/value lists (OPEN and UPGRADE bodies): a sequence of
 *   u16 key length | u32 value length | key bytes | value bytes
 * Keys the module sends: "method", "url" (path and query as received),
 * "query", "remote_addr", "remote_port", "secure" ("1"/"0"),
 * "user" (REMOTE_USER, absent if none), "upgrades" ("websocket" or ""),
 * "max_payload", "time" (request time, ms since the epoch), "eio" ("3"
 * for an Engine.IO 3 client the module allows; absent: 4), "b64" ("1":
 * that client takes no binary in polling) and one "h:<lower-case header
 * name>" per request header. */
typedef struct sio_relay_kv {
    const char *key;
    size_t key_len;
    const char *val;
    size_t val_len;
} sio_relay_kv;

/* Bytes one pair takes. */
size_t sio_relay_kv_size(size_t key_len, size_t val_len);

/* Appends one pair at dst (which has room for sio_relay_kv_size bytes);
 * returns the bytes written. */
size_t sio_relay_kv_put(unsigned char *dst, const char *key, size_t key_len,
                        const char *val, size_t val_len);

/* Iterates pairs: *off starts at 0. Returns SIO_OK with *out filled,
 * SIO_DONE at the end, SIO_EPROTO for a truncated pair. */
int sio_relay_kv_next(const unsigned char *buf, size_t len, size_t *off,
                      sio_relay_kv *out);

/* Finds key in a list; returns SIO_OK and *out, SIO_DONE if absent,
 * SIO_EPROTO if the list is malformed. */
int sio_relay_kv_find(const unsigned char *buf, size_t len, const char *key,
                      sio_relay_kv *out);

/* WS_FANOUT body: u32 count | count x u64 conn | message bytes (the rest
 * of the body, possibly empty). */
#define SIO_RELAY_FANOUT_COUNT_LEN 4u
#define SIO_RELAY_FANOUT_CONN_LEN 8u

/* Bytes of a WS_FANOUT body before its message, for count conns. */
size_t sio_relay_fanout_prefix_len(size_t count);

/* Encodes a WS_FANOUT frame naming conns[0..count) for a message of
 * msg_len bytes: fills *f (type, flags = the SIO_RF_BINARY and
 * SIO_RF_VOLATILE bits of flags, len; conn, status and sid zero) and writes
 * the body up to the message (u32 count | the conns) into out, which has
 * room for sio_relay_fanout_prefix_len(count) bytes; the caller sends the
 * message right after it. Returns the bytes written to out, or 0 (nothing
 * written) when count is 0 or the body would not fit a u32 length. */
size_t sio_relay_fanout_encode(sio_relay_frame *f, unsigned char *out,
                               const uint64_t *conns, size_t count,
                               size_t msg_len, unsigned flags);

/* A decoded WS_FANOUT body; its pointers point into the body. */
typedef struct sio_relay_fanout {
    uint32_t count;
    const unsigned char *conns;  /* count x u64 big-endian: read them with
                                  * sio_relay_fanout_conn */
    const unsigned char *msg;
    size_t msg_len;
} sio_relay_fanout;

/* Decodes a WS_FANOUT body buf[0..len). Returns SIO_OK with *out filled, or
 * SIO_EPROTO when the body is shorter than its count or its conn list. */
int sio_relay_fanout_decode(const unsigned char *buf, size_t len,
                            sio_relay_fanout *out);

/* Conn i (< fo->count) of a decoded WS_FANOUT body. */
uint64_t sio_relay_fanout_conn(const sio_relay_fanout *fo, size_t i);

/* PEERS body: u32 ttl ms | u16 count | count x (node[4] NUL-padded |
 * u8 url length | url). ttl: how long the module may use the table
 * without hearing from siod again. */
#define SIO_RELAY_PEERS_HEAD_LEN 6u
#define SIO_RELAY_PEERS_MAX 128u       /* entries in one table */
#define SIO_RELAY_PEER_URL_MAX 200u    /* bytes of one base URL */
/* Bytes one entry takes with a url_len-byte URL. */
#define SIO_RELAY_PEER_LEN(url_len) (SIO_RELAY_NODE_LEN + 1u + (url_len))

/* Returns 1 when url[0..len) is a node's base URL: http:// or https://
 * (any case), a host name (letters, digits, '.', '-', '_') or an [IPv6]
 * address, an optional :port (1-65535), nothing after it (no path, not
 * even '/'), at most SIO_RELAY_PEER_URL_MAX bytes; else 0. */
int sio_relay_peer_url_valid(const char *url, size_t len);

/* Writes the head of a PEERS body for count entries into
 * out[SIO_RELAY_PEERS_HEAD_LEN]. Returns SIO_RELAY_PEERS_HEAD_LEN. */
size_t sio_relay_peers_head(unsigned char *out, uint32_t ttl_ms,
                            uint16_t count);

/* Appends one entry (node: a valid tag; url: sio_relay_peer_url_valid)
 * at out, which has room for SIO_RELAY_PEER_LEN(url_len) bytes. Returns
 * the bytes written, or 0 (nothing written) for an invalid tag or URL. */
size_t sio_relay_peer_put(unsigned char *out, const char *node,
                          const char *url, size_t url_len);

/* One entry of a decoded PEERS body; url points into the body. */
typedef struct sio_relay_peer {
    char node[SIO_RELAY_NODE_LEN + 1]; /* NUL-terminated tag */
    const char *url;                   /* not NUL-terminated */
    size_t url_len;
} sio_relay_peer;

/* Checks a whole PEERS body buf[0..len): SIO_OK with *ttl_ms and *count
 * set, or SIO_EPROTO (short, more than SIO_RELAY_PEERS_MAX entries, an
 * entry running past the end or followed by extra bytes, an invalid tag
 * or URL). */
int sio_relay_peers_decode(const unsigned char *buf, size_t len,
                           uint32_t *ttl_ms, uint16_t *count);

/* Iterates the entries of a body sio_relay_peers_decode accepted: *off
 * starts at 0. Returns SIO_OK with *out filled, SIO_DONE at the end, or
 * SIO_EPROTO (a body not checked first). */
int sio_relay_peer_next(const unsigned char *buf, size_t len, size_t *off,
                        sio_relay_peer *out);

/* Name of a frame type for logs ("OPEN", ...), "?" if unknown. */
const char *sio_relay_type_name(int type);

#endif
