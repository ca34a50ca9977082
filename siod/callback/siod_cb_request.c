/* The bodies siod POSTs to callbacks, built with json-c from a socket's
 * state through the application API: the socket part (id, data, rooms),
 * and the connect (with the handshake), event and disconnect envelopes
 * (docs/callbacks.md, "Requests"). */
#include "siod_cb_int.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static void add_room(void *ud, const char *room)
{
    struct json_object *a = ud, *s = json_object_new_string(room);
    if (s != NULL && json_object_array_add(a, s) < 0)
        json_object_put(s);
}

struct json_object *siod_cb_request_socket(siod_socket *s)
{
    struct json_object *o = json_object_new_object(), *rooms;
    const char *data = siod_socket_data_json(s);
    struct json_object *d = data != NULL ? siod_cb_json_parse(data,
                                                              strlen(data))
                                         : NULL;

    rooms = json_object_new_array();
    if (o == NULL || rooms == NULL ||
        json_object_object_add(o, "id",
                               json_object_new_string(siod_socket_id(s))) < 0)
        goto fail;
    siod_socket_rooms(s, add_room, rooms);
    if (json_object_object_add(o, "rooms", rooms) < 0)
        goto fail;
    rooms = NULL;
    if (json_object_object_add(o, "data", d) < 0)
        goto fail;
    return o;
fail:
    json_object_put(o);
    json_object_put(rooms);
    json_object_put(d);
    return NULL;
}

/* {"type":type,"nsp":nsp,"socket":sock} (sock taken), or NULL. */
static struct json_object *envelope(const char *type, const char *nsp,
                                    struct json_object *sock)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL || sock == NULL ||
        json_object_object_add(o, "type", json_object_new_string(type)) < 0 ||
        json_object_object_add(o, "nsp", json_object_new_string(nsp)) < 0 ||
        json_object_object_add(o, "socket", sock) < 0) {
        json_object_put(o);
        json_object_put(sock);
        return NULL;
    }
    return o;
}

/* Serializes and frees o; NULL if o is NULL or memory runs out. */
static char *finish(struct json_object *o, size_t *len)
{
    char *text = o != NULL ? siod_cb_json_string(o, len) : NULL;
    json_object_put(o);
    return text;
}

char *siod_cb_request_connect(siod_socket *s, size_t *len)
{
    const char *hs = siod_handshake_json(s);
    struct json_object *h = hs != NULL ? siod_cb_json_parse(hs, strlen(hs))
                                       : NULL;
    struct json_object *o = envelope("connect",
                                     siod_nsp_name(siod_socket_nsp(s)),
                                     siod_cb_request_socket(s));
    if (o == NULL || h == NULL ||
        json_object_object_add(o, "handshake", h) < 0) {
        json_object_put(o);
        json_object_put(h);
        return NULL;
    }
    return finish(o, len);
}

char *siod_cb_request_event(siod_socket *s, const char *event,
                            struct json_object *args, int ack, size_t *len)
{
    struct json_object *o = envelope("event",
                                     siod_nsp_name(siod_socket_nsp(s)),
                                     siod_cb_request_socket(s));
    if (o == NULL || args == NULL ||
        json_object_object_add(o, "event",
                               json_object_new_string(event)) < 0 ||
        json_object_object_add(o, "args", args) < 0) {
        json_object_put(o);
        json_object_put(args);
        return NULL;
    }
    if (json_object_object_add(o, "ack", json_object_new_boolean(ack)) < 0) {
        json_object_put(o);
        return NULL;
    }
    return finish(o, len);
}

char *siod_cb_request_disconnect(const char *nsp, struct json_object *sock,
                                 const char *reason, size_t *len)
{
    struct json_object *o = envelope("disconnect", nsp, sock);
    if (o == NULL ||
        json_object_object_add(o, "reason",
                               json_object_new_string(reason)) < 0) {
        json_object_put(o);
        return NULL;
    }
    return finish(o, len);
}
