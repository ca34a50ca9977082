/* The "echo" application: the behaviour the public Socket.IO protocol test
 * suite expects of its reference server, on "/" and "/custom". On
 * connection it emits "auth" with the handshake's auth payload; "message"
 * is sent back as "message-back" with the same arguments (binary ones
 * too); "message-with-ack" is acknowledged with the same arguments. */
#include "siod_app.h"

#include <stdlib.h>
#include <string.h>

static void echo_connection(void *app, siod_socket *s)
{
    char *json = siod_json_fmt("[%s]", siod_handshake_auth(s));
    if (json == NULL)
        return;
    siod_args args = { json, 0, NULL, 0 };
    siod_emit(s, "auth", &args);
    free(json);
}

static void echo_event(void *app, siod_socket *s, const char *event,
                       const siod_args *args, siod_ack *ack)
{
    if (strcmp(event, "message") == 0)
        siod_emit(s, "message-back", args);
    else if (strcmp(event, "message-with-ack") == 0 && ack != NULL)
        siod_ack_send(ack, args);
}

static const char *const echo_namespaces[] = { "/", "/custom", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "echo",
    .namespaces = echo_namespaces,
    .on_connection = echo_connection,
    .on_event = echo_event,
};
