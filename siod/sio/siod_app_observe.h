/* The observer part of the application API: an application may watch the
 * sockets of every namespace of this server, not only its own (connections,
 * disconnections, rooms joined and left, events in and out, upgrades to
 * WebSocket), list the live
 * namespaces and read the server's session figures. The admin application
 * (siod/apps/admin.c, @socket.io/admin-ui's protocol) is built on it.
 * Installed beside siod_app.h; the same thread rules apply. */
#ifndef SIOD_APP_OBSERVE_H
#define SIOD_APP_OBSERVE_H

#include "siod_app.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an observer is told, for a socket of any namespace (every callback
 * optional). The socket
 * and texts are valid during the call. A callback may emit, broadcast,
 * join or leave, as an application's callbacks may; what those do is
 * reported to the observers in turn (an emit to a socket calls on_emit),
 * so an observer must not answer what it is told with the same kind of
 * act on the same sockets. */
typedef struct siod_observer {
    /* The socket is connected (its CONNECT answer is on the wire), before
     * its application's on_connection: it is in its own room only, or in
     * those its connect middleware joined. */
    void (*on_connection)(void *ud, siod_socket *s);
    /* The socket is leaving (reason as on_disconnect's): it is still in
     * its rooms, which it leaves right after without on_leave calls. */
    void (*on_disconnect)(void *ud, siod_socket *s, const char *reason);
    /* A connected socket joined a room it was not in, or left one it was
     * in (siod_join, siod_leave, a broadcast's join or leave, another
     * server's request). A socket's own room is neither: it is joined
     * before on_connection and left after on_disconnect. */
    void (*on_join)(void *ud, siod_socket *s, const char *room);
    void (*on_leave)(void *ud, siod_socket *s, const char *room);
    /* An event from the client that passed siod's limits and schemas,
     * before its application's on_any (args as on_event's). */
    void (*on_event)(void *ud, siod_socket *s, const char *event,
                     const siod_args *args);
    /* An event sent to this one socket (siod_emit, siod_emit_ex; not a
     * broadcast), after it was written. */
    void (*on_emit)(void *ud, siod_socket *s, const char *event,
                    const siod_args *args);
    /* The socket's client moved from long-polling to WebSocket (an
     * upgrade completed): siod_socket_transport says "websocket" now. */
    void (*on_upgrade)(void *ud, siod_socket *s);
} siod_observer;

/* Registers ops (kept by pointer: static storage) with ud; call it from
 * init. Returns SIOD_OK, SIOD_EINVAL (ops NULL) or SIOD_ELIMIT (4
 * observers already). */
int siod_observe(const siod_observer *ops, void *ud);
/* Removes the registration of ops with ud (from destroy); no-op if there
 * is none. */
void siod_unobserve(const siod_observer *ops, void *ud);

/* Calls fn for every namespace a client can be connected to now: each
 * configured one and each live child of a pattern (not the patterns
 * themselves), as the reference's io._nsps. fn must not connect or
 * disconnect sockets. Returns how many. */
size_t siod_nsp_each(void (*fn)(void *ud, siod_nsp *nsp), void *ud);

/* Returns the id of the socket's client (its Engine.IO session, shared by
 * the client's sockets of every namespace), NULL once disconnected. It is
 * the client's credential for its session: show a prefix only. */
const char *siod_socket_client_id(const siod_socket *s);

/* The server's figures, as the status page has them. */
typedef struct siod_server_figures {
    size_t clients;                  /* open Engine.IO sessions */
    size_t polling;                  /* of which on long-polling (an
                                      * upgrade under way counts here) */
    uint64_t sessions_opened;        /* since start */
    uint64_t sessions_closed;
    uint64_t messages_in;            /* Engine.IO messages, since start */
    uint64_t messages_out;
} siod_server_figures;

/* Fills *f. */
void siod_server_figures_get(siod_server_figures *f);

#ifdef __cplusplus
}
#endif

#endif
