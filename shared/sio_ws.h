/* RFC 6455 WebSocket frames: a resumable parser that validates what a
 * server must check (masking, reserved bits, opcodes, fragmentation,
 * control frame rules, message size, UTF-8 of text messages and close
 * reasons) and header/close-payload writers. Pure: no I/O, no allocation. */
#ifndef SIO_WS_H
#define SIO_WS_H

#include "sio.h"

enum sio_ws_opcode {
    SIO_WS_CONT = 0x0,
    SIO_WS_TEXT = 0x1,
    SIO_WS_BINARY = 0x2,
    SIO_WS_CLOSE = 0x8,
    SIO_WS_PING = 0x9,
    SIO_WS_PONG = 0xA
};

/* Close codes (RFC 6455 7.4.1) */
#define SIO_WS_CLOSE_NORMAL 1000
#define SIO_WS_CLOSE_GOING_AWAY 1001
#define SIO_WS_CLOSE_PROTOCOL 1002
#define SIO_WS_CLOSE_NO_STATUS 1005
#define SIO_WS_CLOSE_ABNORMAL 1006
#define SIO_WS_CLOSE_BAD_DATA 1007
#define SIO_WS_CLOSE_POLICY 1008
#define SIO_WS_CLOSE_TOO_BIG 1009
#define SIO_WS_CLOSE_INTERNAL 1011

#define SIO_WS_MAX_HEADER 14
#define SIO_WS_MAX_CONTROL 125
/* RSV1 (permessage-deflate: the message is compressed), as a bit of the
 * first header byte; sio_ws_write_header takes it ORed into opcode. */
#define SIO_WS_RSV1 0x40

/* Parser state: one per connection direction. */
typedef struct sio_ws_parser {
    int server;            /* 1: frames come from a client, must be masked */
    uint64_t max_message;  /* limit on a whole (reassembled) message */
    int in_message;        /* a fragmented data message is under way */
    int message_opcode;    /* TEXT or BINARY of the message under way */
    uint64_t message_len;  /* bytes of the message so far */
    uint32_t utf8_state;   /* validation state of a text message */
    int allow_rsv1;        /* permessage-deflate agreed: RSV1 may mark a
                            * data message compressed (set by the caller) */
    int message_compressed;/* the message under way has RSV1 */
} sio_ws_parser;

/* One parsed frame. For a continuation frame opcode is SIO_WS_CONT and
 * message_opcode says TEXT or BINARY. The payload has been unmasked in
 * place in the caller's buffer. */
typedef struct sio_ws_frame {
    int fin;
    int opcode;
    int message_opcode;
    int compressed;        /* the frame's message has RSV1 (allow_rsv1):
                            * its payload is deflated, and a text message
                            * was not checked for UTF-8 (the caller checks
                            * it once inflated) */
    unsigned char *payload;
    uint64_t len;
} sio_ws_frame;

void sio_ws_parser_init(sio_ws_parser *p, int server, uint64_t max_message);

/* Parses one whole frame from buf[0..len) (mutable: the payload is
 * unmasked in place). Returns SIO_OK with *used and *out, SIO_AGAIN when
 * the frame is not complete yet (nothing consumed), or a negative error:
 * SIO_EPROTO (unmasked client frame, masked server frame, reserved bits
 * (RSV1 is allowed with allow_rsv1 on the first frame of a data message),
 * unknown opcode, bad fragmentation, fragmented or oversized control frame,
 * bad close payload), SIO_ETOOBIG (message over max_message), SIO_EUTF8
 * (text message or close reason not UTF-8). sio_ws_close_code maps the
 * error to the close code to send. After an error the parser is unusable. */
int sio_ws_parse(sio_ws_parser *p, unsigned char *buf, size_t len,
                 size_t *used, sio_ws_frame *out);

/* Close code for a parse error: 1002, 1009 or 1007. */
int sio_ws_close_code(int err);

/* Bytes of the header for a payload of len (masked: client to server). */
size_t sio_ws_header_len(uint64_t len, int masked);

/* Writes a frame header into dst (room for SIO_WS_MAX_HEADER); opcode may
 * carry SIO_WS_RSV1; mask NULL for an unmasked (server) frame, else the
 * 4-byte key written into the header. Returns the header length. */
size_t sio_ws_write_header(unsigned char *dst, int fin, int opcode,
                           uint64_t len, const unsigned char *mask);

/* XORs buf with the mask starting at mask offset off (for clients). */
void sio_ws_mask(unsigned char *buf, size_t n, const unsigned char mask[4],
                 size_t off);

/* Writes a close payload (code, then reason cut to fit 125 bytes on a
 * character boundary) into dst[SIO_WS_MAX_CONTROL]; returns its length. */
size_t sio_ws_close_payload(unsigned char *dst, uint16_t code,
                            const char *reason);

/* Reads the code of a close payload the parser already validated: 1005 if
 * the payload is empty. */
int sio_ws_close_payload_code(const unsigned char *payload, uint64_t len);

#endif
