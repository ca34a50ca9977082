/* The hand-over of WebSocket sessions across a clean restart of siod
 * (siod_sio_handover.c), as the files of the sio layer see it: the
 * record of a session handed over, where recovery keeps the records
 * (siod_sio_recovery.c, in the state file: siod_sio_state.c), the
 * in-process store's part (siod_sio_store.c) and the socket's
 * (siod_sio_socket.c). Included by siod_sio_int.h only. */
#ifndef SIOD_SIO_HANDOVER_H
#define SIOD_SIO_HANDOVER_H

/* One socket of a session handed over. */
typedef struct siod_sio_handover_socket {
    char *nsp;
    char pid[SIO_SID_LEN + 1];
    char *auth;                      /* its CONNECT's auth (JSON text) */
} siod_sio_handover_socket;

/* A session on a WebSocket that a stopping siod handed over to the next
 * (siod_sio_handover.c): the module keeps the WebSocket open and names
 * the session again with WS_RESUME. Its sockets are kept as for recovery;
 * this is what opens the session again around them. malloc'd with its
 * parts; siod_sio_handover_free frees it all. */
typedef struct siod_sio_handover {
    struct siod_sio_handover *next, *prev;  /* recovery's list */
    uint64_t hash;
    char sid[SIO_SID_LEN + 1];
    int64_t at;                      /* when handed over, ms since epoch */
    char offset[SIOD_SIO_OFFSET_MAX];/* the offset counter at the stop:
                                      * every later packet is replayed */
    unsigned char *info;             /* the session's handshake key/values */
    size_t info_len;
    siod_sio_handover_socket *sockets;
    size_t nsockets;
} siod_sio_handover;
void siod_sio_handover_free(siod_sio_handover *h);

/* ---- siod_sio_store.c --------------------------------------------------- */

/* For a session handed over at a stop (siod_sio_handover.c): calls fn
 * for every packet of namespace nsp logged after offset (which need not
 * be in the log: the counter's value at the stop) that a socket whose
 * rooms in() tells would have been sent, oldest first. Returns how many,
 * -ENOENT if the log dropped one of those packets, or -EINVAL. */
ssize_t siod_sio_store_mem_replay_after(void *st, const char *nsp,
                                        const char *offset,
                                        int (*in)(void *ud, const char *room),
                                        void (*fn)(void *ud,
                                                   const siod_sio_out *pkt),
                                        void *ud);

/* Takes the socket kept for pid in nsp out of st (the caller frees it),
 * whatever the client's offset; NULL with *why set if there is none or it
 * is past the window. */
siod_sio_saved *siod_sio_store_mem_take_kept(void *st, const char *nsp,
                                             const char *pid,
                                             const char **why);

/* ---- siod_sio_recovery.c: the records, in the state file ---------------- */

/* The stop begins: with the state file in use, the offset counter's next
 * value goes to offset (every packet logged after it is newer) and
 * sessions may be handed over. Returns 0, or -ENOTSUP (no state file:
 * nothing survives the stop). */
int siod_sio_recovery_handover_begin(char offset[SIOD_SIO_OFFSET_MAX]);

/* Keeps h (taken over) for the next siod's WS_RESUME. Returns 0 or
 * -ENOMEM (h freed). */
int siod_sio_recovery_handover_keep(siod_sio_handover *h);

/* Takes out the record of session sid (the caller frees it), or NULL. */
siod_sio_handover *siod_sio_recovery_handover_take(const char *sid);

/* For a session taken back: the socket kept for pid in nsp (the caller
 * frees it), whatever its offset, or NULL with *why set. */
siod_sio_saved *siod_sio_recovery_take_kept(const char *nsp, const char *pid,
                                            const char **why);

/* s (pending) becomes the socket v kept (v's strings taken); with
 * s->resumed its replay is what was logged after offset. Returns 0, or
 * -ENOMEM (s unchanged). */
int siod_sio_recovery_restore(siod_socket *s, siod_sio_saved *v,
                              const char *offset);

/* ---- siod_sio_handover.c ------------------------------------------------ */

/* c's session closes, handed over to the next siod (the engine says so):
 * a record of it is kept for the state file, unless a socket of it is
 * still connecting or memory runs out (then the next siod will not know
 * it, and the client reconnects). Call before c's sockets close. */
void siod_sio_handover_record(siod_sio_client *c, siod_session *s);

/* The session of record h is open again on client c: each of its sockets
 * comes back (siod_sio_socket_resume). Returns 0, or a negative code with
 * why[0..cap) set when one could not (those before it are back). */
int siod_sio_handover_restore(siod_sio_client *c, const siod_sio_handover *h,
                              char *why, size_t cap);

/* ---- siod_sio_socket.c --------------------------------------------------- */

/* A socket of a session handed over comes back on client c: a socket of
 * nsp with auth (JSON text) becomes the kept socket v (taken: freed
 * here), gets what was logged after offset, and is connected with no
 * CONNECT answer (the client never left); the application hears of it
 * as of a recovered socket. Returns 0, or -ENOENT (packets it should get
 * are gone from the log: it is connected, but the client must come back
 * to learn it) or -ENOMEM. */
int siod_sio_socket_resume(siod_sio_client *c, siod_nsp *nsp,
                           const char *auth, siod_sio_saved *v,
                           const char *offset);

#endif
