/* siod started and supervised by httpd's parent (SocketIODaemon managed,
 * the default; socketio_daemon.c). Both calls run in the parent only. */
#ifndef SOCKETIO_DAEMON_H
#define SOCKETIO_DAEMON_H

#include "httpd.h"

/* post_config (parent, after the relay secret exists): starts each
 * managed siod the configuration names that is not running, keeps the
 * running ones whose command line is unchanged (across restarts of
 * httpd: their sessions live on), replaces those whose command line
 * changed and stops those no longer named. Does nothing in the first
 * configuration pass or a configuration test. Returns OK: a siod that
 * cannot start is logged and retried, httpd starts anyway (its requests
 * get 503 until siod is up). */
int socketio_daemon_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s);

/* check_config (parent, configuration tests included): every managed
 * siod's program can be run, and takes its command line (siod --check:
 * options, applications, schemas, Redis URL). Returns OK, or
 * HTTP_INTERNAL_SERVER_ERROR after a line naming SocketIODaemonPath or
 * SocketIODaemonArgs (siod's own lines above it say why). While the
 * configuration has no SocketIO On, no siod is started, and none checked. */
int socketio_daemon_check_config(apr_pool_t *ptemp, server_rec *s);

/* monitor hook (parent, every few seconds): starts a siod whose delayed
 * restart is due, and notices one that died while no configuration had
 * it registered. Returns DECLINED. */
int socketio_daemon_monitor(apr_pool_t *p, server_rec *s);

#endif
