/* Namespaces: the ones bound to applications at startup, the registry of
 * namespaces by name, pattern namespaces ('~' + POSIX extended regex, the
 * reference's parent namespaces) and the dynamic children they create,
 * which are forgotten again once empty. Each namespace has its adapter.
 * Calls nothing of the layer but its settings (siod_sio_util.c). */
#include "siod_sio_int.h"
#include "siod_app_observe.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct {
    siod_hash by_name;               /* registered namespaces */
    int hash_ready;
    siod_nsp *all;                   /* bound at startup, in order */
    siod_nsp **all_tail;
    size_t dynamic;                  /* live children of every pattern */
    const siod_adapter_ops *aops;    /* set by siod_sio_nsps_start */
    const siod_adapter_host *ahost;
} R = { .all_tail = &R.all };

struct name_key {
    const char *name;
    size_t len;
};

static int nsp_eq(const void *item, const void *key)
{
    const siod_nsp *n = item;
    const struct name_key *k = key;
    return n->name_len == k->len && memcmp(n->name, k->name, k->len) == 0;
}

/* ---- namespaces ----------------------------------------------------------- */

siod_nsp *siod_sio_nsp_ref(siod_nsp *nsp)
{
    nsp->refs++;
    return nsp;
}

void siod_sio_nsp_unref(siod_nsp *nsp)
{
    if (nsp == NULL || --nsp->refs > 0)
        return;
    if (nsp->aops != NULL)
        nsp->aops->destroy(nsp->adapter);
    if (nsp->is_parent)
        regfree(&nsp->re);
    free(nsp->name);
    free(nsp);
}

/* Makes nsp findable by name. Returns 0 or -ENOMEM. */
static int nsp_register(siod_nsp *nsp)
{
    int rc;
    if (!R.hash_ready) {
        siod_hash_init(&R.by_name, nsp_eq);
        R.hash_ready = 1;
    }
    nsp->hash = siod_hash_bytes(nsp->name, nsp->name_len);
    rc = siod_hash_insert(&R.by_name, nsp->hash, nsp);
    if (rc < 0)
        return rc;
    nsp->registered = 1;
    return 0;
}

static void nsp_unregister(siod_nsp *nsp)
{
    struct name_key k = { nsp->name, nsp->name_len };
    if (!nsp->registered)
        return;
    siod_hash_remove(&R.by_name, nsp->hash, &k);
    nsp->registered = 0;
}

static siod_nsp *nsp_lookup(const char *name, size_t len)
{
    struct name_key k = { name, len };
    if (!R.hash_ready)
        return NULL;
    return siod_hash_find(&R.by_name, siod_hash_bytes(name, len), &k);
}

/* Creates a namespace (a pattern if name starts with '~') served by app,
 * without its adapter yet, into *out (one reference). Returns 0, or
 * -ENOMEM or -EINVAL (a pattern that is no regular expression) with
 * why[0..cap) set. */
static int nsp_new(const char *name, siod_sio_app *app, siod_nsp **out,
                   char *why, size_t cap)
{
    siod_nsp *nsp = calloc(1, sizeof *nsp);
    if (nsp == NULL || (nsp->name = strdup(name)) == NULL) {
        free(nsp);
        return siod_err_set(why, cap, -ENOMEM, "out of memory creating "
                            "namespace %.200s", name);
    }
    nsp->refs = 1;
    nsp->name_len = strlen(name);
    nsp->app = app;
    if (name[0] == '~') {
        int rc = regcomp(&nsp->re, name + 1, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char re_why[128];
            regerror(rc, &nsp->re, re_why, sizeof re_why);
            free(nsp->name);
            free(nsp);
            return siod_err_set(why, cap, -EINVAL, "namespace pattern %s: "
                                "%s", name + 1, re_why);
        }
        nsp->is_parent = 1;
    }
    *out = nsp;
    return 0;
}

/* Gives nsp its adapter (R.aops). Returns 0, or -ENOMEM with why[0..cap)
 * set. */
static int nsp_attach(siod_nsp *nsp, char *why, size_t cap)
{
    void *a = R.aops->create(R.ahost, nsp, nsp->name);
    if (a == NULL)
        return siod_err_set(why, cap, -ENOMEM, "out of memory creating "
                            "namespace %.200s", nsp->name);
    nsp->aops = R.aops;
    nsp->adapter = a;
    return 0;
}

static int valid_name(const char *name)
{
    if (name[0] == '~')
        return name[1] != '\0';
    return name[0] == '/' && strchr(name, ',') == NULL;
}

int siod_sio_nsp_bind(const char *name, siod_sio_app *app, int explicit,
                      char *why, size_t cap)
{
    siod_nsp *nsp;
    int rc;

    if (!valid_name(name))
        return siod_err_set(why, cap, -EINVAL, "namespace %s: must start "
                            "with '/' (and have no ',') or be '~' and a "
                            "regular expression", name);
    /* the name table is built once siod's hash seed is set (nsps_start) */
    for (nsp = R.all; nsp != NULL; nsp = nsp->all_next)
        if (strcmp(nsp->name, name) == 0)
            break;
    if (nsp != NULL) {
        if (explicit && nsp->explicit)
            return siod_err_set(why, cap, -EINVAL, "namespace %s given "
                                "twice with -n", name);
        if (!explicit && !nsp->explicit && nsp->app != app)
            return siod_err_set(why, cap, -EINVAL, "namespace %s is "
                                "declared by both %s and %s; choose one "
                                "with -n", name, nsp->app->mod->name,
                                app->mod->name);
        if (explicit) {
            nsp->app = app;
            nsp->explicit = 1;
        }
        return 0;
    }
    rc = nsp_new(name, app, &nsp, why, cap);
    if (rc < 0)
        return rc;
    nsp->explicit = explicit;
    *R.all_tail = nsp;
    R.all_tail = &nsp->all_next;
    return 0;
}

int siod_sio_nsp_resolve(const char *name, size_t len, siod_nsp **out,
                         char *why, size_t cap)
{
    size_t max = siod_sio_config()->max_dynamic_nsps;
    siod_nsp *nsp = nsp_lookup(name, len);
    int rc = -ENOENT;

    *out = NULL;
    if (nsp != NULL) {
        *out = nsp->is_parent ? NULL : nsp;
        return *out != NULL ? 0 : -ENOENT;
    }
    if (len == 0 || name[0] != '/' || memchr(name, '\0', len) != NULL)
        return -ENOENT;
    char *z = strndup(name, len);
    if (z == NULL)
        return siod_err_set(why, cap, -ENOMEM, "out of memory creating "
                            "namespace %.*s", (int)(len > 200 ? 200 : len),
                            name);
    for (siod_nsp *p = R.all; p != NULL; p = p->all_next) {
        if (!p->is_parent || regexec(&p->re, z, 0, NULL, 0) != 0)
            continue;
        if (max > 0 && R.dynamic >= max) {
            rc = siod_err_set(why, cap, -ENOSPC, "namespace %.200s (pattern "
                              "%s) not created: %zu dynamic namespaces live "
                              "(--max-dynamic-namespaces)", z, p->name,
                              R.dynamic);
            break;
        }
        /* a child's name is no pattern: only memory can fail here */
        rc = nsp_new(z, p->app, &nsp, why, cap);
        if (rc == 0) {
            rc = nsp_attach(nsp, why, cap);
            if (rc == 0 && nsp_register(nsp) < 0)
                rc = siod_err_set(why, cap, -ENOMEM, "out of memory "
                                  "creating namespace %.200s", z);
            if (rc < 0)
                siod_sio_nsp_unref(nsp);
        }
        if (rc == 0) {
            nsp->parent = p;
            nsp->sib_next = p->children;
            if (p->children != NULL)
                p->children->sib_prev = nsp;
            p->children = nsp;
            R.dynamic++;
            siod_log_debug("namespace %s created (pattern %s)", z, p->name);
            *out = nsp;
        }
        break;
    }
    free(z);
    return rc;
}

void siod_sio_nsp_check_empty(siod_nsp *nsp)
{
    siod_nsp *p = nsp->parent;
    if (p == NULL || !nsp->registered || nsp->count > 0 || nsp->pending > 0)
        return;
    siod_log_debug("namespace %s removed (empty)", nsp->name);
    nsp_unregister(nsp);
    if (nsp->sib_prev != NULL)
        nsp->sib_prev->sib_next = nsp->sib_next;
    else
        p->children = nsp->sib_next;
    if (nsp->sib_next != NULL)
        nsp->sib_next->sib_prev = nsp->sib_prev;
    nsp->sib_prev = nsp->sib_next = NULL;
    nsp->parent = NULL;
    R.dynamic--;
    siod_sio_nsp_unref(nsp);   /* the registry's */
}

int siod_sio_nsps_start(const siod_adapter_ops *aops,
                        const siod_adapter_host *host, char *why, size_t cap)
{
    R.aops = aops;
    R.ahost = host;
    for (siod_nsp *n = R.all; n != NULL; n = n->all_next) {
        int rc = nsp_attach(n, why, cap);
        if (rc < 0)
            return rc;
        rc = nsp_register(n);
        if (rc < 0)
            return siod_err_set(why, cap, rc, "out of memory registering "
                                "namespaces");
    }
    return 0;
}

void siod_sio_nsps_log(void)
{
    for (siod_nsp *n = R.all; n != NULL; n = n->all_next)
        siod_log(SIOD_LOG_INFO, "namespace %s: application %s", n->name,
                 n->app->mod->name);
}

void siod_sio_nsps_free(void)
{
    /* children left (sockets an application never released) go first */
    for (siod_nsp *p = R.all; p != NULL; p = p->all_next)
        while (p->is_parent && p->children != NULL) {
            siod_nsp *c = p->children;
            nsp_unregister(c);
            p->children = c->sib_next;
            c->parent = NULL;
            R.dynamic--;
            siod_sio_nsp_unref(c);
        }
    while (R.all != NULL) {
        siod_nsp *n = R.all;
        R.all = n->all_next;
        nsp_unregister(n);
        siod_sio_nsp_unref(n);
    }
    R.all_tail = &R.all;
    if (R.hash_ready) {
        siod_hash_destroy(&R.by_name);
        R.hash_ready = 0;
    }
}

/* ---- public API ------------------------------------------------------------ */

/* See siod_sio_int.h. */
void siod_sio_nsps_each(void (*fn)(void *ud, const char *name,
                                   size_t sockets), void *ud)
{
    for (const siod_nsp *n = R.all; n != NULL; n = n->all_next)
        fn(ud, n->name, siod_nsp_count(n));
}

/* See siod_app_observe.h. */
size_t siod_nsp_each(void (*fn)(void *ud, siod_nsp *nsp), void *ud)
{
    size_t n = 0;
    for (siod_nsp *p = R.all; p != NULL; p = p->all_next) {
        if (!p->is_parent) {
            fn(ud, p);
            n++;
        }
        for (siod_nsp *c = p->children; c != NULL; c = c->sib_next, n++)
            fn(ud, c);
    }
    return n;
}

siod_nsp *siod_nsp_find(const char *name)
{
    return name != NULL ? nsp_lookup(name, strlen(name)) : NULL;
}

const char *siod_nsp_name(const siod_nsp *nsp)
{
    return nsp->name;
}

size_t siod_nsp_count(const siod_nsp *nsp)
{
    size_t n = nsp->count;
    for (const siod_nsp *c = nsp->children; c != NULL; c = c->sib_next)
        n += c->count;
    return n;
}
