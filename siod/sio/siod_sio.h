/* The Socket.IO layer's public header, for siod_main.c: the "socketio"
 * upper layer of the engine and the command-line configuration of the
 * namespaces and applications it serves. It includes siod_app.h, the
 * application ABI (installed alone by make install) that applications
 * (apps/) are written against. The layer sits on the engine, the adapter
 * and core. Single event-loop thread. */
#ifndef SIOD_SIO_H
#define SIOD_SIO_H

#include "engine/siod_engine.h"
#include "siod_app.h"

/* The "socketio" upper layer. */
extern const siod_engine_app siod_app_socketio;

/* Configuration from the command line, then loading (siod_main.c). */
int siod_sio_conf_nsp(const char *spec);     /* -n NSP=APP */
int siod_sio_conf_app(const char *app);      /* -a APP */
void siod_sio_conf_appdir(const char *dir);  /* -A DIR */
/* Makes module mod (linked in; it stays valid) loadable as mod->name.
 * Returns 0, or -1 if it is invalid or too many are registered. */
int siod_sio_conf_builtin(const siod_app_module *mod);
int siod_sio_conf_empty(void);
/* Loads the applications and creates the namespaces. Returns 0, or -1
 * after logging why. */
int siod_sio_load(void);
/* At exit: applications' destroy, namespaces freed, modules unloaded. */
void siod_sio_apps_destroy(void);

#endif
