/* SocketIOPinChildren: each child of a threaded MPM runs on one CPU.
 * Its threads then share that CPU's TLB and caches: unmapping memory (the
 * APR allocator maps and unmaps every block) needs no TLB shootdown
 * interrupt to other CPUs, and one thread waking another needs no
 * cross-CPU interrupt. The children are spread over the CPUs the parent
 * may use, by scoreboard slot. */
#ifndef SOCKETIO_AFFINITY_H
#define SOCKETIO_AFFINITY_H

#include "httpd.h"
#include "apr_pools.h"

/* child_init, before any thread of the module starts: with
 * SocketIOPinChildren On (main server) under a threaded MPM and with two
 * CPUs or more allowed, binds every thread the child has to the CPU of its
 * slot (slot modulo the number of allowed CPUs; threads made later inherit
 * it) and logs it at debug; a failure is logged at warn and the child runs
 * unpinned. Does nothing otherwise. */
void socketio_affinity_child_init(apr_pool_t *pchild, server_rec *s);

#endif
