/* The "echo-engine" upper layer: echoes every Engine.IO message packet back
 * to its sender with the same binary flag. Useful to test the engine layer
 * on its own, below Socket.IO; a sibling of the Socket.IO layer, so it sits
 * at the top beside siod_main.c. */
#include "siod_echo_engine.h"
#include "core/siod_core.h"

static void echo_on_open(void *app, siod_session *s)
{
    siod_log_debug("echo-engine: open %s (%s)", siod_session_sid(s),
                   siod_session_transport(s));
}

static void echo_on_message(void *app, siod_session *s,
                            const unsigned char *data, size_t len, int binary)
{
    siod_session_send_message(s, data, len, binary);
}

static void echo_on_close(void *app, siod_session *s, const char *reason)
{
    siod_log_debug("echo-engine: close %s (%s)", siod_session_sid(s), reason);
}

const siod_engine_app siod_app_echo_engine = {
    .name = "echo-engine",
    .on_open = echo_on_open,
    .on_message = echo_on_message,
    .on_close = echo_on_close,
};
