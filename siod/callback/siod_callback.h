/* The callback layer's public header, for siod_main.c: namespaces whose
 * events are answered by HTTP callbacks (a PHP site, any web backend)
 * instead of a C application. --callback=NSP,KIND,URL binds NSP to the
 * built-in "callback" application (through the loader, as -n NSP=callback
 * would); that application POSTs each connect, event and disconnect as
 * JSON to the URLs with libcurl's multi interface on siod's libevent loop,
 * and applies the actions the answers carry (docs/callbacks.md). The layer
 * sits on the loader (app/), the Socket.IO layer's application ABI
 * (sio/siod_app.h) and core. Single event-loop thread. */
#ifndef SIOD_CALLBACK_H
#define SIOD_CALLBACK_H

#include "app/siod_app_loader.h"

struct event_base;

/* The command-line options of the layer, in the order of
 * siod_callback_conf's opt argument. */
enum siod_callback_opt {
    SIOD_CALLBACK_OPT_URL = 0,     /* --callback=NSP,KIND,URL */
    SIOD_CALLBACK_OPT_TIMEOUT,     /* --callback-timeout=MS */
    SIOD_CALLBACK_OPT_REQUESTS,    /* --callback-requests=N */
    SIOD_CALLBACK_OPT_QUEUE,       /* --callback-queue=N */
    SIOD_CALLBACK_OPT_COUNT
};

/* Records one option with its argument. --callback binds the namespace
 * to the built-in application the first time it names it. Returns 0, or
 * -EINVAL (bad syntax, a KIND given twice for one namespace, a number out
 * of range) or -ENOMEM after saying why on stderr. */
int siod_callback_conf(enum siod_callback_opt opt, const char *arg);

/* Gives the layer siod's loop; call before the Socket.IO layer starts
 * (siod_sessions_init), whose start runs the application's init, which
 * starts libcurl on it. */
void siod_callback_set_loop(struct event_base *base);

/* Frees the configuration (the application's destroy frees the rest).
 * Safe to call more than once. */
void siod_callback_conf_free(void);

#endif
