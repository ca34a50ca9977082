/* The hand-over of WebSocket sessions across a clean restart of siod
 * (docs/relay-protocol.md, "Handing WebSockets over across a restart of
 * siod"). At the stop, a session the engine hands over (the module keeps
 * its WebSocket open) leaves a record of its handshake and of its
 * sockets' namespaces, pids and auth beside the sockets recovery keeps;
 * the state file carries both to the next siod. There, the module's
 * WS_RESUME opens the session again under its id (siod_sio_client.c) and
 * each socket comes back here as recovery would bring it back (id, pid,
 * rooms, data), with what was logged since the stop, but without a
 * CONNECT: the client never left. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The offset counter at the stop, while sessions are handed over. */
static char stop_offset[SIOD_SIO_OFFSET_MAX];
static int handing_over;

int siod_sio_hand_over_begin(void)
{
    handing_over = siod_sio_recovery_handover_begin(stop_offset) == 0;
    return handing_over;
}

/* Fills socket record k from s. Returns 0 or -ENOMEM. */
static int socket_record(siod_sio_handover_socket *k, const siod_socket *s)
{
    memcpy(k->pid, s->pid, sizeof k->pid);
    k->nsp = strdup(s->nsp->name);
    k->auth = strdup(s->auth != NULL ? s->auth : "{}");
    return k->nsp != NULL && k->auth != NULL ? 0 : -ENOMEM;
}

void siod_sio_handover_record(siod_sio_client *c, siod_session *s)
{
    siod_sio_handover *h;
    const unsigned char *info;
    size_t n = 0, len;
    const char *why = "out of memory";

    if (!handing_over || !siod_session_handed_over(s))
        return;
    for (siod_socket *k = c->sockets; k != NULL; k = k->cnext) {
        if (k->state != SOCK_CONNECTED || k->pid[0] == '\0') {
            /* still connecting (middleware): it cannot come back unseen */
            why = "a socket was still connecting";
            goto refused;
        }
        n++;
    }
    siod_session_info_raw(s, &info, &len);
    h = calloc(1, sizeof *h);
    if (h == NULL)
        goto refused;
    memcpy(h->sid, siod_session_sid(s), sizeof h->sid);
    h->at = siod_now_ms();
    memcpy(h->offset, stop_offset, sizeof h->offset);
    h->info = malloc(len ? len : 1);
    h->sockets = calloc(n ? n : 1, sizeof *h->sockets);
    if (h->info == NULL || h->sockets == NULL) {
        siod_sio_handover_free(h);
        goto refused;
    }
    memcpy(h->info, info, len);
    h->info_len = len;
    for (siod_socket *k = c->sockets; k != NULL; k = k->cnext)
        if (socket_record(&h->sockets[h->nsockets++], k) < 0) {
            siod_sio_handover_free(h);
            goto refused;
        }
    if (siod_sio_recovery_handover_keep(h) == 0)
        return;
refused:
    /* the next siod will not know it: the module closes the WebSocket
     * with 1012 and the client reconnects, recovering its sockets */
    siod_log_debug("session %s not handed over: %s", siod_session_sid(s),
                   why);
}

int siod_sio_handover_restore(siod_sio_client *c, const siod_sio_handover *h,
                              char *why, size_t cap)
{
    for (size_t i = 0; i < h->nsockets; i++) {
        const siod_sio_handover_socket *k = &h->sockets[i];
        const char *gone = NULL;
        siod_nsp *nsp;
        int rc = siod_sio_nsp_resolve(k->nsp, strlen(k->nsp), &nsp, why,
                                      cap);
        if (rc < 0)
            return rc == -ENOENT ? siod_err_set(why, cap, rc, "namespace %s "
                                                "is not served", k->nsp)
                                 : rc;
        siod_sio_saved *v = siod_sio_recovery_take_kept(k->nsp, k->pid,
                                                        &gone);
        if (v == NULL)
            return siod_err_set(why, cap, -ENOENT, "socket %s on %s: %s",
                                k->pid, k->nsp, gone);
        rc = siod_sio_socket_resume(c, nsp, k->auth, v, h->offset);
        if (rc < 0)
            return siod_err_set(why, cap, rc, "socket %s on %s: %s", k->pid,
                                k->nsp, rc == -ENOENT
                                ? "packets sent since the stop left the log"
                                : siod_strerror(rc));
    }
    return 0;
}
