/* siod's logger: one line per event, timestamped, to stderr or a file given
 * with -l. Debug lines appear only with -v. */
#ifndef SIOD_LOG_H
#define SIOD_LOG_H

enum siod_log_level {
    SIOD_LOG_ERROR = 0,
    SIOD_LOG_WARN = 1,
    SIOD_LOG_INFO = 2,
    SIOD_LOG_DEBUG = 3
};

/* Opens path for appending (NULL: stderr) and sets verbosity (1: debug
 * lines too). Returns 0, or -errno if the file cannot be opened (the
 * logger then keeps writing to stderr). */
int siod_log_open(const char *path, int verbose);

/* Reopens the log file (after logrotate moved it); returns 0 or -errno.
 * A no-op when logging to stderr. */
int siod_log_reopen(void);

/* Closes the log file, if any; later lines go to stderr. */
void siod_log_close(void);

/* Returns 1 when debug lines are written (-v). */
int siod_log_verbose(void);

/* Writes one line: timestamp, level, the formatted message. */
void siod_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A throttle for lines that clients can cause again and again (refusals at
 * a limit, ...): at most SIOD_LOG_BURST lines per second go through it; the
 * next line it lets through says how many similar ones were left out.
 * Zero-initialise one per kind of line; it belongs to its caller. */
#define SIOD_LOG_BURST 5
typedef struct siod_log_throttle {
    long long second;
    unsigned lines;
    unsigned long dropped;
} siod_log_throttle;

/* siod_log through throttle t. */
void siod_log_throttled(siod_log_throttle *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define siod_log_debug(...) \
    do { if (siod_log_verbose()) siod_log(SIOD_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
