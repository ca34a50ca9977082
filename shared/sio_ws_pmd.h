/* permessage-deflate (RFC 7692) negotiation for a WebSocket server: which
 * offer in a Sec-WebSocket-Extensions request header this server takes,
 * and what it answers. The server compresses each message on its own
 * (server_no_context_takeover) and asks the client to do the same
 * (client_no_context_takeover), so one compressor can serve every
 * connection of a thread and no connection keeps a compression window.
 * Pure: no I/O, no allocation. */
#ifndef SIO_WS_PMD_H
#define SIO_WS_PMD_H

#include <stddef.h>

/* The Sec-WebSocket-Extensions value of an accepting 101. */
#define SIO_WS_PMD_RESPONSE \
    "permessage-deflate; server_no_context_takeover; " \
    "client_no_context_takeover"

/* The four-byte tail a compressor's sync flush ends a message with: the
 * sender strips it, the receiver appends it before inflating. */
#define SIO_WS_PMD_TAIL "\x00\x00\xff\xff"

/* Returns 1 when the Sec-WebSocket-Extensions value h[0..len) (extensions
 * separated by commas, repeated headers joined so) holds a
 * permessage-deflate offer this server takes, else 0. An offer is taken
 * when each of its parameters is known, given once and well formed:
 * server_no_context_takeover and client_no_context_takeover (no value),
 * client_max_window_bits (no value, or 8 to 15), server_max_window_bits
 * (15 only: the server compresses with a 32 KB window). Values may be
 * quoted. Anything malformed makes that offer, not the header, unusable. */
int sio_ws_pmd_accept(const char *h, size_t len);

#endif
