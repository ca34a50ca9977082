/* siod's logger: formats one line per event with a UTC timestamp (ms) and a
 * level, and writes it with a single write(2) so lines never interleave. */
#include "siod_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static int log_verbose;
static int log_max = SIOD_LOG_DEBUG;   /* lines above it are not written */
static char *log_path;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static int open_path(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd < 0 ? -errno : fd;
}

int siod_log_open(const char *path, int verbose)
{
    log_verbose = verbose;
    if (path == NULL)
        return 0;
    int fd = open_path(path);
    if (fd < 0)
        return fd;
    siod_log_close();
    log_path = strdup(path);
    if (log_path == NULL) {
        close(fd);
        return -ENOMEM;
    }
    log_fd = fd;
    return 0;
}

int siod_log_reopen(void)
{
    if (log_path == NULL)
        return 0;
    int fd = open_path(log_path);
    if (fd < 0)
        return fd;
    /* dup2 keeps the descriptor number, so no line is ever lost in between */
    if (dup2(fd, log_fd) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    return 0;
}

void siod_log_close(void)
{
    if (log_fd != 2)
        close(log_fd);
    log_fd = 2;
    free(log_path);
    log_path = NULL;
}

void siod_log_set_max(int level)
{
    log_max = level;
}

int siod_log_verbose(void)
{
    return log_verbose;
}

/* Writes one line; dropped > 0 appends how many similar lines a throttle
 * left out before it. */
static void log_v(int level, unsigned long dropped, const char *fmt,
                  va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;

    if (level < SIOD_LOG_ERROR || level > SIOD_LOG_DEBUG)
        level = SIOD_LOG_ERROR;
    if (level > log_max)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ siod[%d] %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                     (int)getpid(), level_names[level]);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    int m = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
    if (m < 0)
        m = 0;
    len += (size_t)m;
    if (dropped > 0 && len < sizeof line - 2) {
        m = snprintf(line + len, sizeof line - len - 1,
                     " (%lu similar lines not logged)", dropped);
        if (m > 0)
            len += (size_t)m;
    }
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the line a line */
    /* control characters from peers must not forge extra log lines */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = '?';
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(log_fd, line, len);
    while (w < 0 && errno == EINTR);
}

void siod_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, 0, fmt, ap);
    va_end(ap);
}

void siod_log_throttled(siod_log_throttle *t, int level, const char *fmt, ...)
{
    struct timespec now;
    unsigned interval = t->interval ? t->interval : 1;
    unsigned burst = t->burst ? t->burst : SIOD_LOG_BURST;
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((long long)now.tv_sec - t->window >= (long long)interval ||
        (long long)now.tv_sec < t->window) {
        t->window = (long long)now.tv_sec;
        t->lines = 0;
    }
    va_start(ap, fmt);
    if (t->lines >= burst) {
        t->dropped++;
        if (log_verbose)
            log_v(SIOD_LOG_DEBUG, 0, fmt, ap);
    } else {
        t->lines++;
        log_v(level, t->dropped, fmt, ap);
        t->dropped = 0;
    }
    va_end(ap);
}
