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

/* Writes no line above level from now on (SIOD_LOG_WARN: warnings and
 * errors only, as siod --check wants). */
void siod_log_set_max(int level);

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

/* A throttle for lines that clients (or processes that may connect to the
 * relay socket) can cause again and again: at most `burst` lines per
 * `interval` seconds go through it; the next line it lets through ends with
 * "(N similar lines not logged)"; the lines it holds back are still written
 * at debug level when debug lines are on (-v). Zero-initialised it lets
 * SIOD_LOG_BURST lines a second through; SIOD_LOG_THROTTLE(interval, burst)
 * initialises another budget. One per call site (siod_log_limited declares
 * one), owned by its caller; used on siod's thread only. */
#define SIOD_LOG_BURST 5
typedef struct siod_log_throttle {
    unsigned interval;               /* seconds; 0: 1 */
    unsigned burst;                  /* lines per interval; 0: the default */
    long long window;                /* when the current interval began */
    unsigned lines;                  /* lines let through in it */
    unsigned long dropped;           /* held back since the last one */
} siod_log_throttle;

#define SIOD_LOG_THROTTLE(interval_s, lines_per_interval) \
    { (interval_s), (lines_per_interval), 0, 0, 0 }

/* siod_log through throttle t. */
void siod_log_throttled(siod_log_throttle *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* siod_log through a throttle of this call site's own (SIOD_LOG_BURST
 * lines a second): for every line a client can repeat. */
#define siod_log_limited(level, ...) \
    do { \
        static siod_log_throttle siod_log_site_; \
        siod_log_throttled(&siod_log_site_, (level), __VA_ARGS__); \
    } while (0)

#define siod_log_debug(...) \
    do { if (siod_log_verbose()) siod_log(SIOD_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
