/* The "chat" application, the classic Socket.IO chat on "/":
 *   "chat message" (text)      -> everyone: "chat message" {id, text, ts}
 *   "join" (room, ack)         -> joins room, acks true
 *   "leave" (room, ack)        -> leaves room, acks true
 *   "room message" {room,text} -> that room: "room message" {id, room, text, ts}
 *   "typing"                   -> everyone else: "typing" {id}
 * id is the sender's socket id, ts milliseconds since the epoch. Malformed
 * arguments are ignored (join/leave then ack false). */
#include "siod_app.h"

#include <stdlib.h>
#include <string.h>

static void ack_bool(siod_ack *ack, int ok)
{
    if (ack != NULL) {
        siod_args a = { ok ? "[true]" : "[false]", 0, NULL, 0 };
        siod_ack_send(ack, &a);
    }
}

static void chat_message(siod_socket *s, const siod_args *args)
{
    const char *text;
    size_t len;
    if (siod_arg_type(args, 0) != SIOD_JSON_STRING ||
        siod_arg_raw(args, 0, &text, &len) != SIOD_OK)
        return;
    /* text is a JSON string already: it goes into the reply as it is */
    char *json = siod_json_fmt("[{\"id\":%Q,\"text\":%.*s,\"ts\":%lld}]",
                               siod_socket_id(s), (int)len, text,
                               (long long)siod_now_ms());
    if (json == NULL)
        return;
    siod_args out = { json, 0, NULL, 0 };
    siod_nsp_emit(siod_socket_nsp(s), "chat message", &out);
    free(json);
}

static void room_change(siod_socket *s, const siod_args *args, siod_ack *ack,
                        int join)
{
    char *room = siod_arg_string(args, 0);
    int ok = room != NULL &&
             (join ? siod_join(s, room) : siod_leave(s, room)) == SIOD_OK;
    ack_bool(ack, ok);
    free(room);
}

static void room_message(siod_socket *s, const siod_args *args)
{
    const char *room_json, *text;
    size_t room_len, text_len;
    char *room, *json;

    if (siod_arg_member(args, 0, "room", &room_json, &room_len) != SIOD_OK ||
        siod_arg_member(args, 0, "text", &text, &text_len) != SIOD_OK ||
        text[0] != '"' || (room = siod_json_string_dup(room_json, room_len)) ==
                              NULL)
        return;
    json = siod_json_fmt("[{\"id\":%Q,\"room\":%.*s,\"text\":%.*s,\"ts\":%lld}]",
                         siod_socket_id(s), (int)room_len, room_json,
                         (int)text_len, text, (long long)siod_now_ms());
    if (json != NULL) {
        siod_args out = { json, 0, NULL, 0 };
        siod_bcast_emit(siod_bcast_to(siod_bcast_new(siod_socket_nsp(s)), room),
                        "room message", &out);
        free(json);
    }
    free(room);
}

static void typing(siod_socket *s)
{
    char *json = siod_json_fmt("[{\"id\":%Q}]", siod_socket_id(s));
    if (json == NULL)
        return;
    siod_args out = { json, 0, NULL, 0 };
    siod_bcast_emit(siod_socket_broadcast(s), "typing", &out);
    free(json);
}

static void chat_event(void *app, siod_socket *s, const char *event,
                       const siod_args *args, siod_ack *ack)
{
    if (strcmp(event, "chat message") == 0)
        chat_message(s, args);
    else if (strcmp(event, "join") == 0)
        room_change(s, args, ack, 1);
    else if (strcmp(event, "leave") == 0)
        room_change(s, args, ack, 0);
    else if (strcmp(event, "room message") == 0)
        room_message(s, args);
    else if (strcmp(event, "typing") == 0)
        typing(s);
}

static const char *const chat_namespaces[] = { "/", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "chat",
    .namespaces = chat_namespaces,
    .on_event = chat_event,
};
