/* The application layer's public header, for siod_main.c: the
 * configuration of applications and namespaces from the command line
 * (-n NSP=APP, -a APP, -A DIR), modules linked into the program, loading
 * the modules (dlopen) and binding their namespaces in the Socket.IO layer,
 * and the applications' start and stop, which the loader registers with
 * the Socket.IO layer (siod_sio_set_apps) so that they follow the layer's
 * own. The loader sits on the Socket.IO layer (sio/siod_sio.h). */
#ifndef SIOD_APP_LOADER_H
#define SIOD_APP_LOADER_H

#include "sio/siod_sio.h"

/* Records -n NSP=APP (spec), -a APP, -A DIR. Return 0, or -EINVAL (not
 * NSP=APP, an empty name) or -ENOMEM after printing why to stderr (-n,
 * -a; -A, which returns nothing, leaves the default directory in use when
 * memory runs out). */
int siod_app_loader_conf_nsp(const char *spec);
int siod_app_loader_conf_app(const char *app);
void siod_app_loader_conf_appdir(const char *dir);

/* Makes module mod (linked in; it stays valid) loadable as mod->name,
 * found before the application directory. Returns 0, -EINVAL (no module
 * of this ABI, or no name) or -ENOSPC (too many are registered). */
int siod_app_loader_conf_builtin(const siod_app_module *mod);

/* Returns 1 if neither -n nor -a was given. */
int siod_app_loader_conf_empty(void);

/* Loads the configured applications, binds their namespaces (-n wins over
 * what an -a application declares) and registers the applications' start
 * and stop with the Socket.IO layer. Call before siod_sessions_init.
 * Returns 0, or a negative code after logging why (this is where startup
 * logs it): -ENOENT or another errno of realpath (an application not
 * found), -EINVAL (not a siod application, a namespace refused), -ENOMEM.
 * An application's init runs later, with the layer's start, which logs
 * its refusal. */
int siod_app_loader_load(void);

/* At exit: every started application's destroy, the timers they left,
 * the namespaces, then the modules unloaded and the configuration freed.
 * Safe to call more than once, and when nothing was loaded. */
void siod_app_loader_destroy(void);

#endif
