/* The relay layer's public header: what siod_main.c needs to run the
 * relay side of siod. The listening Unix socket (siod_listen.c: creation,
 * accepting, the SO_PEERCRED check before a byte is read) and the relay
 * links (siod_link*.c, one per httpd child: reads and validates frames
 * (HELLO, then the module's proof of the relay secret (AUTH), then module
 * -> siod types only), dispatches them to the engine layer, and writes
 * siod's frames through a non-blocking output buffer; a link that sends
 * garbage is dropped alone). The relay layer sits on the engine layer
 * (engine/siod_engine.h) and core; nothing below calls it except through
 * the siod_peer_ops it registers. */
#ifndef SIOD_RELAY_H
#define SIOD_RELAY_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;

/* Adopts fd (an accepted, non-blocking connection whose peer credentials
 * were checked) as a new link on base. Returns 0, or with fd closed and
 * why[0..cap) set -EMFILE (--max-links links are open) or -ENOMEM. */
int siod_link_adopt(struct event_base *base, int fd, uid_t uid, pid_t pid,
                    char *why, size_t cap);

/* Shutdown: stops reading every link and closes each once its output is
 * written; done() is called when no link is left (at once if none). */
void siod_links_drain(void (*done)(void));

/* Closes and frees every link at once (unwritten output is lost). */
void siod_links_free_all(void);

/* Sets the relay secret every link's module must prove it holds (copied;
 * the caller may clear its buffer). Until it is set, every link is
 * refused. Returns 0, or -EINVAL for a key outside SIO_RELAY_SECRET_MIN..
 * SIO_RELAY_SECRET_MAX bytes. */
int siod_link_set_secret(const unsigned char *key, size_t len);

/* Returns the number of links. */
unsigned siod_links_count(void);

/* Sets the output a link may hold (--max-link-output, bytes; default 64
 * MiB): past half of it the link's input waits until writing brings it
 * under a quarter; past all of it the link is closed, logged at error.
 * Call before links are adopted. */
void siod_links_set_output_max(size_t bytes);

/* Default of --max-links. */
#define SIOD_LINKS_MAX_DEFAULT 1024u

/* Sets how many links may be open at once (--max-links; 0: no bound): a
 * connection past it is closed at once (siod_link_adopt: -EMFILE). Every
 * link, ready or still in its handshake, counts; one still without a proof
 * of the relay secret 5 s after it was accepted is closed. */
void siod_links_set_max(unsigned n);

/* Sets the PEERS body (shared/sio_relay.h: the other nodes learned
 * through Redis; copied) and sends it to every ready link whose module
 * takes it (SIO_RELAY_CAP_PEERS); a link that becomes ready later gets
 * the last one set. Returns 0 or -ENOMEM (the last table stays). */
int siod_links_set_peers(const unsigned char *body, size_t len);

/* Frees the table siod_links_set_peers kept. */
void siod_links_peers_free(void);

/* ---- the listening socket (siod_listen.c) ---- */

/* Creates the socket at path (replacing a stale socket nobody listens on)
 * and starts accepting on base. Connections whose peer uid is root, siod's
 * own uid or one of uids[0..n_uids) become relay links; others are logged
 * (by the accept callback, throttled) and closed. Returns 0, or a negative
 * errno with why[0..cap) saying what failed, naming path: -ENAMETOOLONG,
 * -EADDRINUSE (another server listens on it), -EEXIST (path is no
 * socket), -ENOMEM, or the errno of socket, bind, chmod, chown or listen. */
int siod_listen_open(struct event_base *base, const char *path,
                     const uid_t *uids, size_t n_uids, char *why,
                     size_t cap);

/* Stops accepting, closes the socket and removes its path if it is still
 * ours; after siod_listen_pass, leaves both to the next image. Safe to
 * call when not open. */
void siod_listen_close(void);

/* For a restart in place: stops accepting and leaves the socket open
 * across exec (its number in the environment), so that the next image's
 * siod_listen_open takes it over instead of binding again: the path never
 * goes away and connections made meanwhile wait in the backlog. Returns
 * 0, or a negative errno (-EBADF: not listening). */
int siod_listen_pass(void);

#endif
