/* Relay links: one per httpd child connected to siod's Unix socket. A link
 * reads and validates frames (HELLO, then the module's proof of the relay
 * secret (AUTH), then module -> siod types only),
 * dispatches them to the session layer, and writes siod's frames through a
 * non-blocking output buffer. A link that sends garbage is dropped alone. */
#ifndef SIOD_LINK_H
#define SIOD_LINK_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;

/* Adopts fd (an accepted, non-blocking connection whose peer credentials
 * were checked) as a new link on base. Returns 0, or -1 if memory runs out
 * (fd is then closed). */
int siod_link_adopt(struct event_base *base, int fd, uid_t uid, pid_t pid);

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
 * connection past it is closed at once, logged at warn (throttled). Every
 * link, ready or still in its handshake, counts; one still without a proof
 * of the relay secret 5 s after it was accepted is closed. */
void siod_links_set_max(unsigned n);

#endif
