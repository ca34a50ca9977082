/* SocketIOPinChildren (socketio_affinity.h): the CPU of a child, chosen
 * by its scoreboard slot among the CPUs the process may use, set on every
 * thread the child already has; threads it makes later inherit it. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "scoreboard.h"

#include "socketio_affinity.h"
#include "socketio_config.h"

APLOG_USE_MODULE(socketio);

/* How long a new child waits for the parent to write its pid into its
 * scoreboard slot (the parent does so just after the fork, so the child's
 * init can get there first). */
#define SLOT_WAIT_MS 200

/* This child's scoreboard slot, -1 if the parent has not written its pid
 * there yet, -2 if there is no scoreboard to look in. */
static int my_slot(void)
{
    int limit = 0, i;
    pid_t me = getpid();

    if (!ap_scoreboard_image ||
        ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS)
        return -2;
    for (i = 0; i < limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);

        if (ps && ps->pid == me)
            return i;
    }
    return -1;
}

/* The n-th CPU (from 0) of set, or -1. */
static int nth_cpu(const cpu_set_t *set, int n)
{
    int cpu;

    for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, set) && n-- == 0)
            return cpu;
    return -1;
}

/* Binds every thread of this process to one. Returns 0 or an errno. */
static int bind_threads(const cpu_set_t *one)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int err = 0;

    if (!d)
        return sched_setaffinity(0, sizeof(*one), one) == 0 ? 0 : errno;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);

        if (tid > 0 && sched_setaffinity(tid, sizeof(*one), one) != 0 &&
            errno != ESRCH)
            err = errno;
    }
    closedir(d);
    return err;
}

/* See socketio_affinity.h. */
void socketio_affinity_child_init(apr_pool_t *pchild, server_rec *s)
{
    socketio_server_conf *sc = ap_get_module_config(s->module_config,
                                                    &socketio_module);
    int threaded = AP_MPMQ_NOT_SUPPORTED, slot, n, cpu, err;
    cpu_set_t allowed, one;

    if (sc->pin_children != 1)
        return;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS ||
        threaded == AP_MPMQ_NOT_SUPPORTED)
        return;   /* one thread per process: nothing to share */
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return;
    n = CPU_COUNT(&allowed);
    if (n < 2)
        return;
    for (int waited = 0; (slot = my_slot()) == -1 && waited < SLOT_WAIT_MS;
         waited++)
        usleep(1000);
    cpu = nth_cpu(&allowed, (slot >= 0 ? slot : (int)getpid()) % n);
    if (cpu < 0)
        return;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    err = bind_threads(&one);
    if (err)
        ap_log_error(APLOG_MARK, APLOG_WARNING, err, s,
                     "mod_socketio: SocketIOPinChildren: cannot bind every "
                     "thread of this child to CPU %d", cpu);
    else
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "mod_socketio: this child (slot %d) runs on CPU %d of "
                     "%d", slot, cpu, n);
}
