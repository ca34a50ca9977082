/* The observers of siod_app_observe.h: applications that watch the sockets
 * of every namespace. The layer's files report here (siod_sio_observe_*)
 * where a socket connects, leaves, joins or leaves a room, receives an
 * event or is sent one; this file hands it to each registered observer.
 * Also the observer API's accessors of the client and the server. */
#include "siod_sio_int.h"
#include "siod_app_observe.h"
#include "core/siod_core.h"

#define MAX_OBSERVERS 4

static struct {
    const siod_observer *ops;
    void *ud;
} observers[MAX_OBSERVERS];
static size_t n_observers;

int siod_observe(const siod_observer *ops, void *ud)
{
    if (ops == NULL)
        return SIOD_EINVAL;
    if (n_observers == MAX_OBSERVERS)
        return SIOD_ELIMIT;
    observers[n_observers].ops = ops;
    observers[n_observers].ud = ud;
    n_observers++;
    return SIOD_OK;
}

void siod_unobserve(const siod_observer *ops, void *ud)
{
    for (size_t i = 0; i < n_observers; i++) {
        if (observers[i].ops != ops || observers[i].ud != ud)
            continue;
        for (size_t j = i + 1; j < n_observers; j++)
            observers[j - 1] = observers[j];
        n_observers--;
        return;
    }
}

/* Each reporter walks a copy: an observer may unregister another (or
 * itself) from its callback. */
#define EACH_OBSERVER(field, ...)                                          \
    do {                                                                   \
        size_t n_ = n_observers;                                           \
        __typeof__(observers[0]) v_[MAX_OBSERVERS];                        \
        for (size_t i_ = 0; i_ < n_; i_++)                                 \
            v_[i_] = observers[i_];                                        \
        for (size_t i_ = 0; i_ < n_; i_++)                                 \
            if (v_[i_].ops->field != NULL)                                 \
                v_[i_].ops->field(v_[i_].ud, __VA_ARGS__);                 \
    } while (0)

void siod_sio_observe_connection(siod_socket *s)
{
    if (n_observers > 0 && s->state == SOCK_CONNECTED)
        EACH_OBSERVER(on_connection, s);
}

void siod_sio_observe_disconnect(siod_socket *s, const char *reason)
{
    if (n_observers > 0)
        EACH_OBSERVER(on_disconnect, s, reason);
}

void siod_sio_observe_room(siod_socket *s, const char *room, int joined)
{
    if (n_observers == 0 || s->state != SOCK_CONNECTED)
        return;
    if (joined)
        EACH_OBSERVER(on_join, s, room);
    else
        EACH_OBSERVER(on_leave, s, room);
}

void siod_sio_observe_event(siod_socket *s, const char *event,
                            const siod_args *args, int sent)
{
    /* an emit may pass no args (none): observers always get an array */
    static const siod_args none = { "[]", 2, NULL, 0 };

    if (n_observers == 0)
        return;
    if (args == NULL)
        args = &none;
    if (sent)
        EACH_OBSERVER(on_emit, s, event, args);
    else
        EACH_OBSERVER(on_event, s, event, args);
}

void siod_sio_observe_upgrade(siod_socket *s)
{
    if (n_observers > 0 && s->state == SOCK_CONNECTED)
        EACH_OBSERVER(on_upgrade, s);
}

int siod_sio_observed(void)
{
    return n_observers > 0;
}

const char *siod_socket_client_id(const siod_socket *s)
{
    siod_session *sess = s->client != NULL
                             ? siod_sio_client_session(s->client) : NULL;
    return sess != NULL ? siod_session_sid(sess) : NULL;
}

void siod_server_figures_get(siod_server_figures *f)
{
    siod_gauges g;

    siod_stats_gauges(&g);
    f->clients = g.polling + g.upgrading + g.websocket;
    f->polling = g.polling + g.upgrading;
    f->sessions_opened = siod_count.sessions_opened;
    f->sessions_closed = siod_count.sessions_closed;
    f->messages_in = siod_count.messages_in;
    f->messages_out = siod_count.messages_out;
}
