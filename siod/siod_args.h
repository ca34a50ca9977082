/* siod's command line: the options main starts the layers with, read and
 * checked here (usage errors printed to stderr with the option's name),
 * so that siod_main.c keeps only startup and shutdown. */
#ifndef SIOD_ARGS_H
#define SIOD_ARGS_H

#include "engine/siod_engine.h"
#include "guard/siod_guard.h"
#include "sio/siod_sio.h"

#include <stddef.h>
#include <sys/types.h>

#define MAX_UIDS 32

struct options {
    const char *socket_path;
    const char *secret_path;    /* -k; default <socket>.secret */
    uid_t uids[MAX_UIDS];
    size_t n_uids;
    siod_engine_config engine;
    int echo_engine;            /* -a echo-engine */
    int sio_options;            /* -n / -a for the Socket.IO layer */
    const char *log_path;
    const char *pid_path;
    int verbose;
    int check;                  /* --check: validate, then exit */
    size_t max_link_output;     /* --max-link-output */
    size_t max_links;           /* --max-links */
    const char *redis_url;      /* --redis */
    const char *redis_prefix;   /* --redis-prefix */
    siod_guard_config guard;    /* --event-*, --handshake-* */
    const char *schemas_dir;    /* --schemas */
    siod_sio_recovery_conf recovery;    /* --recovery, --max-recovery-* */
    const char *node_url;       /* --node-url, or NULL */
    unsigned node_ttl_ms;       /* --node-ttl */
    int redis_sharded;          /* --redis-mode=sharded */
    int redis_submode;          /* --redis-subscription-mode; -1: unset */
};

/* The sharded adapter's subscription modes as the start line names them,
 * by enum siod_cluster_submode. */
extern const char *const siod_args_submode_names[3];

/* Reads argv into *o (defaults first; -h prints the usage and exits).
 * Returns 0, or a negative errno after printing why to stderr. */
int siod_args_parse(int argc, char **argv, struct options *o);

#endif
