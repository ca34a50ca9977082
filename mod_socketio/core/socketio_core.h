/* The module's bottom layer, the one header other layers include for it:
 * the configuration records every layer reads and the directive handlers
 * that fill them (socketio_config.h), throttled logging for lines clients
 * can repeat (socketio_log.h), the relay secret loaded in the parent
 * (socketio_secret.h), the counted caps on threads held for one purpose
 * (socketio_cap.h), the child's descriptor budget (socketio_fd.h) and
 * the supervision of a managed siod in the parent (socketio_daemon.h).
 * core/ depends on httpd, APR and shared/ only; of its files only
 * socketio_secret.c, socketio_fd.c and socketio_daemon.c call another
 * (the configuration's accessors).
 *
 * Who may call:
 * - the directive handlers, socketio_config_create_* / _merge_*: httpd's
 *   configuration phase (the module record, mod_socketio.c).
 * - socketio_config_post_config, socketio_secret_post_config,
 *   socketio_daemon_post_config: the post_config hook (parent, still
 *   root); socketio_daemon_monitor: the monitor hook (parent).
 * - socketio_cap_create: post_config; socketio_cap_child_exited: the
 *   child_status hook (parent).
 * - socketio_fd_child_init, socketio_affinity_child_init: the child_init
 *   hook.
 * - the socketio_config_* accessors, socketio_log_*, socketio_cap_take,
 *   the cap's accessors and the other socketio_fd_* calls: any thread. */
#ifndef SOCKETIO_CORE_H
#define SOCKETIO_CORE_H

#include "socketio_affinity.h"
#include "socketio_cap.h"
#include "socketio_config.h"
#include "socketio_daemon.h"
#include "socketio_fd.h"
#include "socketio_log.h"
#include "socketio_secret.h"

#endif
