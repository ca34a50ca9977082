/* The "bench" application, the load-test contract on "/": "bcast" (n)
 * emits "tick" n to every client of the namespace (one encoding for all);
 * "echo" (...args, ack) acknowledges with the same arguments. */
#include "siod_app.h"

#include <stdlib.h>
#include <string.h>

static void bench_event(void *app, siod_socket *s, const char *event,
                        const siod_args *args, siod_ack *ack)
{
    if (strcmp(event, "bcast") == 0) {
        const char *n;
        size_t len;
        if (siod_arg_raw(args, 0, &n, &len) != SIOD_OK) {
            n = "null";   /* as JSON.stringify writes undefined in arrays */
            len = 4;
        }
        char *json = siod_json_fmt("[%.*s]", (int)len, n);
        if (json == NULL)
            return;
        siod_args tick = { json, 0, NULL, 0 };
        siod_nsp_emit(siod_socket_nsp(s), "tick", &tick);
        free(json);
    } else if (strcmp(event, "echo") == 0 && ack != NULL) {
        siod_ack_send(ack, args);
    }
}

static const char *const bench_namespaces[] = { "/", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "bench",
    .namespaces = bench_namespaces,
    .on_event = bench_event,
};
