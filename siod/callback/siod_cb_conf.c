/* The callback layer's options: --callback=NSP,KIND,URL per namespace and
 * kind, --callback-timeout, --callback-requests, --callback-queue; the
 * settings they make, and finding a namespace's callbacks (its own entry,
 * else a '~' pattern it matches). Runs before the loop (parsing) and on
 * it (lookups). Says why an option is refused on stderr, as main's
 * command line does. */
#include "siod_cb_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_TIMEOUT_MS 5000
#define DEF_REQUESTS 64
#define DEF_QUEUE 32

static siod_cb_settings S = {
    .timeout_ms = DEF_TIMEOUT_MS,
    .max_requests = DEF_REQUESTS,
    .queue_max = DEF_QUEUE,
};

static const char *const kind_names[SIOD_CB_KINDS] = {
    "connect", "event", "disconnect",
};

siod_cb_settings *siod_cb_settings_get(void)
{
    return &S;
}

/* Parses a decimal in [min, max] into *out; returns 0 or -EINVAL. */
static int number(const char *s, unsigned long min, unsigned long max,
                  unsigned *out)
{
    char *end;
    unsigned long v;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* The entry named name[0..n), created at the end of the list if absent
 * (*created set). Returns it, or NULL (-ENOMEM, or a bad pattern, *rc). */
static siod_cb_nsp *nsp_entry(const char *name, size_t n, int *created,
                              int *rc)
{
    siod_cb_nsp **tail = &S.nsps, *e;

    for (e = S.nsps; e != NULL; e = e->next) {
        if (strlen(e->name) == n && memcmp(e->name, name, n) == 0)
            return e;
        tail = &e->next;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->name = strndup(name, n)) == NULL) {
        free(e);
        *rc = -ENOMEM;
        return NULL;
    }
    if (e->name[0] == '~') {
        if (regcomp(&e->re, e->name + 1, REG_EXTENDED | REG_NOSUB) != 0) {
            free(e->name);
            free(e);
            *rc = -EINVAL;
            return NULL;
        }
        e->is_pattern = 1;
    }
    *tail = e;
    *created = 1;
    return e;
}

/* --callback=NSP,KIND,URL */
static int parse_callback(const char *arg, const char **new_nsp)
{
    const char *c1 = strchr(arg, ','), *c2;
    int kind = -1, created = 0, rc = 0;
    siod_cb_nsp *e;

    c2 = c1 != NULL ? strchr(c1 + 1, ',') : NULL;
    if (c1 == NULL || c2 == NULL || c1 == arg || c2[1] == '\0' ||
        (arg[0] != '/' && arg[0] != '~')) {
        fprintf(stderr, "siod: --callback=%s: expected NSP,KIND,URL (KIND "
                "connect, event or disconnect)\n", arg);
        return -EINVAL;
    }
    for (int k = 0; k < SIOD_CB_KINDS; k++)
        if (strlen(kind_names[k]) == (size_t)(c2 - c1 - 1) &&
            memcmp(kind_names[k], c1 + 1, (size_t)(c2 - c1 - 1)) == 0)
            kind = k;
    if (kind < 0) {
        fprintf(stderr, "siod: --callback=%s: KIND is connect, event or "
                "disconnect\n", arg);
        return -EINVAL;
    }
    if (strncmp(c2 + 1, "http://", 7) != 0 &&
        strncmp(c2 + 1, "https://", 8) != 0) {
        fprintf(stderr, "siod: --callback=%s: the URL must be http:// or "
                "https://\n", arg);
        return -EINVAL;
    }
    e = nsp_entry(arg, (size_t)(c1 - arg), &created, &rc);
    if (e == NULL) {
        fprintf(stderr, "siod: --callback=%s: %s\n", arg, rc == -EINVAL
                ? "not a POSIX extended regular expression" : "out of memory");
        return rc;
    }
    if (e->url[kind] != NULL) {
        fprintf(stderr, "siod: --callback=%s: a second %s callback for %s\n",
                arg, kind_names[kind], e->name);
        return -EINVAL;
    }
    if ((e->url[kind] = strdup(c2 + 1)) == NULL) {
        fprintf(stderr, "siod: --callback: out of memory\n");
        return -ENOMEM;
    }
    *new_nsp = created ? e->name : NULL;
    return 0;
}

int siod_cb_conf_parse(enum siod_callback_opt opt, const char *arg,
                       const char **new_nsp)
{
    int rc = 0;

    *new_nsp = NULL;
    switch (opt) {
    case SIOD_CALLBACK_OPT_URL:
        return parse_callback(arg, new_nsp);
    case SIOD_CALLBACK_OPT_TIMEOUT:
        if ((rc = number(arg, 1, 3600000, &S.timeout_ms)) < 0)
            fprintf(stderr, "siod: --callback-timeout: expected 1..3600000 "
                    "ms\n");
        return rc;
    case SIOD_CALLBACK_OPT_REQUESTS:
        if ((rc = number(arg, 1, 10000, &S.max_requests)) < 0)
            fprintf(stderr, "siod: --callback-requests: expected 1..10000\n");
        return rc;
    case SIOD_CALLBACK_OPT_QUEUE:
        if ((rc = number(arg, 1, 100000, &S.queue_max)) < 0)
            fprintf(stderr, "siod: --callback-queue: expected 1..100000\n");
        return rc;
    default:
        return -EINVAL;
    }
}

const siod_cb_nsp *siod_cb_nsp_find(const char *name)
{
    for (const siod_cb_nsp *e = S.nsps; e != NULL; e = e->next)
        if (!e->is_pattern && strcmp(e->name, name) == 0)
            return e;
    for (const siod_cb_nsp *e = S.nsps; e != NULL; e = e->next)
        if (e->is_pattern && regexec(&e->re, name, 0, NULL, 0) == 0)
            return e;
    return NULL;
}

void siod_cb_conf_free(void)
{
    while (S.nsps != NULL) {
        siod_cb_nsp *e = S.nsps;
        S.nsps = e->next;
        if (e->is_pattern)
            regfree(&e->re);
        for (int k = 0; k < SIOD_CB_KINDS; k++)
            free(e->url[k]);
        free(e->name);
        free(e);
    }
}
