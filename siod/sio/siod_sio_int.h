/* Internals of siod's Socket.IO v5 layer (sio/), shared by its files: the
 * client (one per Engine.IO session: decoder, namespaces joined), sockets
 * (one per client and namespace), namespaces with their application and
 * adapter, outbound packets encoded once, and acknowledgements both ways.
 * The layer sits on engine/siod_engine.h and adapter/siod_adapter.h and
 * serves the public API in siod_app.h. Single event-loop thread. */
#ifndef SIOD_SIO_INT_H
#define SIOD_SIO_INT_H

#include <regex.h>
#include <stdint.h>

#include "adapter/siod_adapter.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "sio.h"
#include "sio_packet.h"
#include "siod_sio.h"

struct event;

typedef struct siod_sio_client siod_sio_client;
typedef struct siod_sio_hs siod_sio_hs;
typedef struct siod_sio_ackent siod_sio_ackent;

/* Default JSON nesting accepted in packets from clients and applications. */
#define SIOD_SIO_MAX_DEPTH 128

/* An application module as loaded (or a built-in one). */
typedef struct siod_sio_app {
    const siod_app_module *mod;
    void *state;
    void *dl;                        /* dlopen handle, NULL if built in */
    char *path;
    int ready;                       /* init succeeded */
    struct siod_sio_app *next;
} siod_sio_app;

/* Outbound packets are siod_sio_out (adapter/siod_adapter.h): encoded
 * once, handed to the adapter and back. */

enum siod_sock_state { SOCK_PENDING, SOCK_CONNECTED, SOCK_CLOSED };

struct siod_socket {
    unsigned refs;
    enum siod_sock_state state;
    char id[SIO_SID_LEN + 1];
    siod_nsp *nsp;                   /* holds a reference */
    siod_sio_client *client;         /* NULL once disconnected */
    siod_socket *cnext;              /* the client's sockets */
    siod_socket *nprev, *nnext;      /* the namespace's connected sockets */
    siod_sio_hs *hs;                 /* shared with the client */
    char *auth;                      /* JSON object text */
    int64_t issued;
    char time[80];
    char *hs_json;                   /* built on first request */
    void *data;
    void (*data_free)(void *);
    char *data_json;
    siod_sio_ackent *acks;           /* server -> client acks awaited */
    int mw_pending;                  /* connect_mw said SIOD_MW_PENDING */
    int closing;                     /* on_disconnecting is running */
    void *aslot;                     /* the adapter's (siod_adapter_host) */
};

struct siod_nsp {
    unsigned refs;
    char *name;
    size_t name_len;
    uint64_t hash;
    siod_sio_app *app;
    int is_parent;                   /* a pattern: '~' + regex */
    regex_t re;
    siod_nsp *parent;                /* a dynamic child's pattern */
    siod_nsp *children;              /* a pattern's live children */
    siod_nsp *sib_prev, *sib_next;
    int registered;                  /* findable by name */
    const siod_adapter_ops *aops;
    void *adapter;
    siod_socket *sockets;            /* connected */
    size_t count;
    size_t pending;                  /* sockets in connect middleware */
    uint64_t next_id;                /* ack ids (the reference's _ids) */
    siod_nsp *all_next;              /* configured namespaces */
    int explicit;                    /* bound with -n */
};

/* ---- siod_sio_client.c -------------------------------------------------- */

/* Returns the loop and settings the layer runs with. */
const siod_engine_config *siod_sio_config(void);

/* Sends o to client c (flags: SIOD_EMIT_VOLATILE drops it when the
 * transport cannot take it now). Returns SIOD_OK or SIOD_ECLOSED. */
int siod_sio_client_write(siod_sio_client *c, const siod_sio_out *o,
                          unsigned flags);

/* Returns c's Engine.IO session, or NULL once it is closed. */
siod_session *siod_sio_client_session(const siod_sio_client *c);

/* Returns c's handshake (shared by its sockets). */
siod_sio_hs *siod_sio_client_hs(const siod_sio_client *c);

/* Adds socket s to c's list, or removes it (c keeps no reference). */
void siod_sio_client_link(siod_sio_client *c, siod_socket *s);
void siod_sio_client_unlink(siod_sio_client *c, siod_socket *s);

/* The namespace's first socket joined: the connect timeout stops. */
void siod_sio_client_connected(siod_sio_client *c);

/* Closes c's whole connection: every connected socket gets DISCONNECT and
 * "server namespace disconnect", then the session closes. */
void siod_sio_client_disconnect_all(siod_sio_client *c);

/* ---- siod_sio_packet.c -------------------------------------------------- */

/* Encodes an EVENT (event != NULL) or ACK packet for namespace nsp with
 * optional ack id into *o (binary type and attachments when args has
 * placeholders). Returns SIOD_OK or a SIOD_E* code. */
int siod_sio_encode(siod_sio_out *o, int ack, const char *nsp, int has_id,
                    uint64_t id, const char *event, const siod_args *args);

/* Encodes a packet whose data is JSON text data[0..len) (len 0: none) for
 * CONNECT, DISCONNECT, CONNECT_ERROR. Returns SIOD_OK or SIOD_ENOMEM. */
int siod_sio_encode_raw(siod_sio_out *o, int type, const char *nsp,
                        size_t nsp_len, const char *data, size_t len);

/* Releases what *o holds; *o may be reused. */
void siod_sio_out_clear(siod_sio_out *o);

/* Appends JSON text t[0..len) whose placeholders point into nbins buffers
 * to a growing text, renumbered by offset (canonical form). Returns
 * SIOD_OK, SIOD_EINVAL or SIOD_ENOMEM. */
typedef struct siod_sio_text {
    char *p;
    size_t len, cap;
} siod_sio_text;
int siod_sio_text_add(siod_sio_text *t, const char *s, size_t n);
int siod_sio_text_add_renumbered(siod_sio_text *t, const char *s, size_t n,
                                 unsigned nbins, unsigned offset);

/* ---- siod_sio_handshake.c ----------------------------------------------- */

/* Builds the connection's shared handshake from session s's OPEN info.
 * Returns it (one reference), or NULL if memory runs out. */
siod_sio_hs *siod_sio_hs_new(siod_session *s);
siod_sio_hs *siod_sio_hs_ref(siod_sio_hs *hs);
void siod_sio_hs_unref(siod_sio_hs *hs);
/* Writes ms since the epoch as JavaScript's Date string (UTC) into buf. */
void siod_sio_format_time(int64_t ms, char *buf, size_t cap);

/* ---- siod_sio_socket.c -------------------------------------------------- */

/* A CONNECT for nsp (auth: the packet's data span, type NONE if absent)
 * from client c: creates the socket, runs the middleware, answers. */
void siod_sio_socket_connect(siod_sio_client *c, siod_nsp *nsp,
                             const struct sio_json_span *auth);

/* A packet for connected socket s: (BINARY_)EVENT, (BINARY_)ACK or
 * DISCONNECT; bins are its attachments (owned by the caller). */
void siod_sio_socket_packet(siod_socket *s, const struct sio_packet *p,
                            const siod_bin *bins, unsigned nbins);

/* The connection under s went away (reason as the engine gave it), or s
 * is being disconnected by the server. Runs on_disconnect once. */
void siod_sio_socket_closed(siod_socket *s, const char *reason);

/* A protocol error on s's connection: on_error with message why. */
void siod_sio_socket_error(siod_socket *s, const char *why);

/* The client left while s was pending in connect middleware. */
void siod_sio_socket_abandon(siod_socket *s);

/* Writes o to socket s's client. Returns SIOD_OK or SIOD_ECLOSED. */
int siod_sio_socket_write(siod_socket *s, const siod_sio_out *o,
                          unsigned flags);

/* Broadcast acks: registers that s owes an answer for id to wait w. */
int siod_sio_socket_expect(siod_socket *s, uint64_t id,
                           siod_ackwait *w);
/* Drops s's entry for wait w, if any (w timed out). */
void siod_sio_socket_forget(siod_socket *s, siod_ackwait *w);

/* ---- siod_sio_bcast.c --------------------------------------------------- */

/* Sends o to the clients of sockets v[0..n) (those not connected are
 * skipped) as one multi-send (siod_session_send_multi): the packet and its
 * attachments are shared by every recipient, and the WebSocket clients of
 * a link that takes WS_FANOUT are named in one frame per link. flags:
 * SIOD_EMIT_VOLATILE. The caller keeps its references to v's sockets.
 * Returns the number of clients the packet was sent or queued to. */
size_t siod_sio_sockets_write(siod_socket *const *v, size_t n,
                              const siod_sio_out *o, unsigned flags);

/* Adapter side: s is sent a broadcast whose answers w gathers (w keeps a
 * reference to forget s on timeout). Returns 0 or -1 (memory). */
int siod_sio_ackwait_target(siod_ackwait *w, siod_socket *s);
/* A client answered a broadcast ack (args: its ACK data). */
void siod_sio_ackwait_answer(siod_ackwait *w,
                             const siod_args *args);
/* A client owing an answer disconnected. */
void siod_sio_ackwait_gone(siod_ackwait *w);
/* Adapter callback: n clients were sent the packet. */
void siod_sio_ackwait_count(siod_ackwait *w, size_t n);

/* ---- siod_sio_nsp.c ----------------------------------------------------- */

/* Finds the namespace a client may join under name[0..len): configured,
 * a live dynamic child, or a new child of the first pattern that matches.
 * Returns 0 with *out set (the registry keeps its reference), else *out is
 * NULL and it returns -ENOENT (no such namespace), -ENOSPC (a new child
 * would pass --max-dynamic-namespaces; logged, throttled) or -ENOMEM. */
int siod_sio_nsp_resolve(const char *name, size_t len, siod_nsp **out);
siod_nsp *siod_sio_nsp_ref(siod_nsp *nsp);
void siod_sio_nsp_unref(siod_nsp *nsp);
/* A socket left nsp (or its middleware refused it): an empty dynamic
 * child is forgotten. */
void siod_sio_nsp_check_empty(siod_nsp *nsp);

/* Calls every application's init (0, or -1 after logging). */
int siod_sio_apps_init(void);

/* ---- siod_sio_host.c --------------------------------------------------- */

/* The ops every adapter of this layer is created with. */
extern const siod_adapter_host siod_sio_adapter_host;

/* ---- siod_sio_util.c ---------------------------------------------------- */

/* Stops every timer applications left running. */
void siod_app_timers_stop_all(void);

#endif
