/* The application's view of the other servers of a cluster (the
 * reference's serverSideEmit, serverSideEmitWithAck and a namespace's
 * listeners for them): events sent to a namespace on every other server,
 * with or without answers, through the namespace's adapter; events other
 * servers send, handed to the callback registered for the namespace with
 * an ack that answers them. Also the text of the API's codes. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The wait of the reference adapter for other servers' answers. */
#define DEFAULT_TIMEOUT_MS 5000

/* ---- sending ------------------------------------------------------------- */

/* The JSON array [event, ...args] (malloc'd, *len bytes) into *out.
 * Returns 0, -EINVAL (no event, args not an array, binary), -EPERM (a
 * reserved name) or -ENOMEM. */
static int server_data(const char *event, const siod_args *args, char **out,
                       size_t *len)
{
    siod_sio_out o;
    /* the "/" packet is 2[event,...args]: its data is the array */
    int rc = siod_sio_encode(&o, 0, "/", 0, 0, event, args);
    if (rc < 0)
        return rc;
    if (o.natts > 0) {
        siod_sio_out_clear(&o);
        return -EINVAL;
    }
    *len = o.head->len - 1;
    *out = malloc(*len + 1);
    if (*out != NULL) {
        memcpy(*out, (const char *)siod_buf_data(o.head) + 1, *len);
        (*out)[*len] = '\0';
    }
    siod_sio_out_clear(&o);
    return *out != NULL ? 0 : -ENOMEM;
}

/* An emit with answers awaited. */
struct semit {
    siod_bcast_ack_cb cb;
    void *ud;
    siod_nsp *nsp;                   /* holds a reference */
};

static void semit_reply(void *ud, int err, const char *const *v,
                        const size_t *lens, size_t n)
{
    struct semit *e = ud;
    siod_sio_text t = { NULL, 0, 0 };
    int rc = siod_sio_text_add(&t, "[", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            rc = siod_sio_text_add(&t, ",", 1);
        if (rc == 0)
            rc = siod_sio_text_add(&t, v[i], lens[i]);
    }
    if (rc == 0)
        rc = siod_sio_text_add(&t, "]", 1);
    /* no memory for the answers: the callback still runs, with none */
    siod_args a = { rc == 0 ? t.p : "[]", rc == 0 ? t.len : 2, NULL, 0 };
    e->cb(e->ud, siod_sio_app_err(err), &a, rc == 0 ? n : 0);
    free(t.p);
    siod_sio_nsp_unref(e->nsp);
    free(e);
}

/* siod_server_emit(_ack) without the translation. */
static int server_emit(siod_nsp *nsp, const char *event,
                       const siod_args *args, unsigned timeout_ms,
                       siod_bcast_ack_cb cb, void *ud)
{
    struct semit *e = NULL;
    char *data;
    size_t len;
    int rc;

    if (nsp == NULL || nsp->is_parent)
        return -EINVAL;
    rc = server_data(event, args, &data, &len);
    if (rc < 0)
        return rc;
    if (nsp->aops->server_emit == NULL) {
        free(data);
        return -EOPNOTSUPP;
    }
    if (cb != NULL) {
        if ((e = malloc(sizeof *e)) == NULL) {
            free(data);
            return -ENOMEM;
        }
        *e = (struct semit){ cb, ud, siod_sio_nsp_ref(nsp) };
    }
    rc = nsp->aops->server_emit(nsp->adapter, data, len,
                                timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS,
                                e != NULL ? semit_reply : NULL, e);
    if (rc < 0 && e != NULL) {
        siod_sio_nsp_unref(e->nsp);
        free(e);
    }
    free(data);
    return rc;
}

int siod_server_emit(siod_nsp *nsp, const char *event, const siod_args *args)
{
    return siod_sio_app_err(server_emit(nsp, event, args, 0, NULL, NULL));
}

int siod_server_emit_ack(siod_nsp *nsp, const char *event,
                         const siod_args *args, unsigned timeout_ms,
                         siod_bcast_ack_cb cb, void *ud)
{
    if (cb == NULL)
        return SIOD_EINVAL;
    return siod_sio_app_err(server_emit(nsp, event, args, timeout_ms, cb,
                                        ud));
}

/* ---- receiving ------------------------------------------------------------ */

int siod_nsp_on_server_event(siod_nsp *nsp, siod_server_event_cb cb,
                             void *ud)
{
    if (nsp == NULL)
        return SIOD_EINVAL;
    nsp->sev_cb = cb;
    nsp->sev_ud = ud;
    return SIOD_OK;
}

void siod_sio_server_event(siod_nsp *nsp, const char *data, size_t len,
                           siod_adapter_answer_fn fn, void *ud)
{
    siod_nsp *owner = nsp->sev_cb != NULL ? nsp : nsp->parent;
    struct sio_json_span top, el;
    struct sio_json_iter it;
    siod_sio_text t = { NULL, 0, 0 };
    char *event = NULL;
    siod_ack *ack = NULL;
    int rc = 0;

    if (owner == NULL || owner->sev_cb == NULL) {
        siod_log_debug("namespace %s: a server-side emit with no callback "
                       "(dropped)", nsp->name);
        goto out;
    }
    /* the adapter validated data as a JSON array */
    if (sio_json_span_value(data, len, &top) != SIO_OK ||
        sio_json_iter_init(&it, &top) != SIO_OK ||
        sio_json_array_next(&it, &el) != SIO_OK ||
        (event = siod_json_string_dup(el.ptr, el.len)) == NULL) {
        siod_log_limited(SIOD_LOG_WARN, "namespace %s: a server-side emit "
                         "without an event name (dropped)", nsp->name);
        goto out;
    }
    rc = siod_sio_text_add(&t, "[", 1);
    for (int first = 1; rc == 0 && sio_json_array_next(&it, &el) == SIO_OK;
         first = 0) {
        if (!first)
            rc = siod_sio_text_add(&t, ",", 1);
        if (rc == 0)
            rc = siod_sio_text_add(&t, el.ptr, el.len);
    }
    if (rc == 0)
        rc = siod_sio_text_add(&t, "]", 1);
    if (rc == 0 && fn != NULL && (ack = siod_sio_ack_new_server(fn, ud)) ==
                                     NULL)
        rc = -ENOMEM;
    if (rc < 0) {
        siod_log_limited(SIOD_LOG_ERROR, "namespace %s: a server-side emit "
                         "dropped (out of memory)", nsp->name);
        goto out;
    }
    fn = NULL;                       /* the ack's now */
    siod_args a = { t.p, t.len, NULL, 0 };
    siod_sio_nsp_ref(nsp);
    owner->sev_cb(owner->sev_ud, nsp, event, &a, ack);
    if (ack != NULL)
        siod_sio_ack_dispatched(ack);
    siod_sio_nsp_unref(nsp);
out:
    if (fn != NULL)
        fn(ud, 0, NULL, 0);
    free(event);
    free(t.p);
}

/* ---- codes ------------------------------------------------------------------ */

const char *siod_app_strerror(int code)
{
    switch (code) {
    case SIOD_OK:
        return "success";
    case SIOD_EINVAL:
        return "invalid argument";
    case SIOD_ECLOSED:
        return "the socket or namespace is closed";
    case SIOD_ENOMEM:
        return "out of memory";
    case SIOD_ERESERVED:
        return "reserved event name";
    case SIOD_EALREADY:
        return "acknowledgement already sent";
    case SIOD_ELIMIT:
        return "a limit of siod is reached";
    case SIOD_ENOCLUSTER:
        return "no cluster: siod runs without --redis";
    case SIOD_ECLUSTERDOWN:
        return "the cluster's Redis cannot be reached";
    case SIOD_ETIMEDOUT:
        return "timeout reached before every answer";
    case SIOD_EDISCONNECTED:
        return "the socket disconnected before answering";
    default:
        return "unknown error";
    }
}
