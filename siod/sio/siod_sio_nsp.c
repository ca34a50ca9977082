/* Namespaces and the applications that serve them: the command-line
 * configuration (-n NSP=APP, -a APP, -A DIR), loading application modules
 * with dlopen, the registry of namespaces by name, pattern namespaces
 * ('~' + POSIX extended regex, the reference's parent namespaces) and the
 * dynamic children they create, which are forgotten again once empty. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum conf_kind { CONF_NSP, CONF_APP };

struct conf {
    enum conf_kind kind;
    char *nsp;                       /* CONF_NSP */
    char *app;
    struct conf *next;
};

static struct {
    struct conf *conf, **conf_tail;
    char *appdir;
    siod_sio_app *apps;
    siod_hash by_name;               /* registered namespaces */
    int hash_ready;
    siod_nsp *all;                   /* configured, in order */
    siod_nsp **all_tail;
    size_t dynamic;                  /* live children of every pattern */
    siod_log_throttle refusals;      /* children refused at the limit */
} R = { .conf_tail = &R.conf, .all_tail = &R.all };

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

/* ---- configuration -------------------------------------------------------- */

static int conf_add(enum conf_kind kind, const char *nsp, size_t nsp_len,
                    const char *app)
{
    struct conf *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->kind = kind;
    c->app = strdup(app);
    c->nsp = nsp != NULL ? strndup(nsp, nsp_len) : NULL;
    if (c->app == NULL || (nsp != NULL && c->nsp == NULL)) {
        free(c->app);
        free(c->nsp);
        free(c);
        return -1;
    }
    *R.conf_tail = c;
    R.conf_tail = &c->next;
    return 0;
}

int siod_sio_conf_nsp(const char *spec)
{
    const char *eq = strrchr(spec, '=');
    if (eq == NULL || eq == spec || eq[1] == '\0') {
        fprintf(stderr, "siod: -n %s: expected NSP=APP\n", spec);
        return -1;
    }
    return conf_add(CONF_NSP, spec, (size_t)(eq - spec), eq + 1);
}

int siod_sio_conf_app(const char *app)
{
    if (*app == '\0') {
        fprintf(stderr, "siod: -a: empty application name\n");
        return -1;
    }
    return conf_add(CONF_APP, NULL, 0, app);
}

void siod_sio_conf_appdir(const char *dir)
{
    free(R.appdir);
    R.appdir = strdup(dir);
}

int siod_sio_conf_empty(void)
{
    return R.conf == NULL;
}

static void conf_free(void)
{
    while (R.conf != NULL) {
        struct conf *c = R.conf;
        R.conf = c->next;
        free(c->nsp);
        free(c->app);
        free(c);
    }
    R.conf_tail = &R.conf;
    free(R.appdir);
    R.appdir = NULL;
}

/* ---- applications --------------------------------------------------------- */

/* The default application directory: <directory of siod>/apps (a build
 * tree), else <directory of siod>/../lib/siod/apps (an installed siod). */
static char *default_appdir(void)
{
    char exe[PATH_MAX], dir[PATH_MAX + 32];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return strdup("apps");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(dir, sizeof dir, "%s/apps", exe);
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s/../lib/siod/apps", exe);
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            snprintf(dir, sizeof dir, "%s/apps", exe);
    }
    return strdup(dir);
}

/* Application modules linked into the program (the fuzz target links
 * its applications in), found by name before the application directory. */
#define BUILTIN_MAX 8
static const siod_app_module *builtins[BUILTIN_MAX];
static size_t n_builtins;

int siod_sio_conf_builtin(const siod_app_module *mod)
{
    if (mod == NULL || mod->abi != SIOD_APP_ABI || mod->name == NULL ||
        n_builtins == BUILTIN_MAX)
        return -1;
    builtins[n_builtins++] = mod;
    return 0;
}

/* Returns the application for built-in module mod, created once; NULL if
 * memory runs out. */
static siod_sio_app *builtin_app(const siod_app_module *mod)
{
    siod_sio_app *a;

    for (a = R.apps; a != NULL; a = a->next)
        if (a->mod == mod)
            return a;
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(mod->name)) == NULL) {
        free(a);
        return NULL;
    }
    a->mod = mod;
    siod_sio_app **tail = &R.apps;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = a;
    return a;
}

/* Returns the loaded application named spec (a built-in module's name, a
 * path if it has a '/', else <appdir>/<spec>.so), loading it once. NULL
 * after logging why. */
static siod_sio_app *load_app(const char *spec)
{
    char path[PATH_MAX], real[PATH_MAX];
    siod_sio_app *a;

    for (size_t i = 0; i < n_builtins; i++)
        if (strcmp(builtins[i]->name, spec) == 0)
            return builtin_app(builtins[i]);
    if (strchr(spec, '/') != NULL) {
        snprintf(path, sizeof path, "%s", spec);
    } else {
        if (R.appdir == NULL && (R.appdir = default_appdir()) == NULL)
            return NULL;
        snprintf(path, sizeof path, "%s/%s.so", R.appdir, spec);
    }
    if (realpath(path, real) == NULL) {
        siod_log(SIOD_LOG_ERROR, "application %s: cannot find %s", spec,
                 path);
        return NULL;
    }
    for (a = R.apps; a != NULL; a = a->next)
        if (strcmp(a->path, real) == 0)
            return a;
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        siod_log(SIOD_LOG_ERROR, "application %s: %s", spec, dlerror());
        return NULL;
    }
    const siod_app_module *mod = dlsym(dl, SIOD_APP_SYMBOL);
    if (mod == NULL || mod->abi != SIOD_APP_ABI || mod->name == NULL) {
        siod_log(SIOD_LOG_ERROR, "application %s: %s", real,
                 mod == NULL ? "no " SIOD_APP_SYMBOL " symbol"
                 : mod->abi != SIOD_APP_ABI ? "built for another siod_app.h "
                                              "version"
                                            : "module record has no name");
        dlclose(dl);
        return NULL;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(real)) == NULL) {
        free(a);
        dlclose(dl);
        return NULL;
    }
    a->mod = mod;
    a->dl = dl;
    siod_sio_app **tail = &R.apps;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = a;
    siod_log(SIOD_LOG_INFO, "loaded application %s from %s", mod->name, real);
    return a;
}

static int nsp_register(siod_nsp *nsp);

int siod_sio_apps_init(void)
{
    for (siod_nsp *n = R.all; n != NULL; n = n->all_next)
        if (nsp_register(n) < 0) {
            siod_log(SIOD_LOG_ERROR, "out of memory registering namespaces");
            return -1;
        }
    for (siod_sio_app *a = R.apps; a != NULL; a = a->next) {
        if (a->mod->init != NULL && a->mod->init(&a->state) != 0) {
            siod_log(SIOD_LOG_ERROR, "application %s: init failed",
                     a->mod->name);
            return -1;
        }
        a->ready = 1;
    }
    return 0;
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

static int nsp_register(siod_nsp *nsp)
{
    if (!R.hash_ready) {
        siod_hash_init(&R.by_name, nsp_eq);
        R.hash_ready = 1;
    }
    nsp->hash = siod_hash_bytes(nsp->name, nsp->name_len);
    if (siod_hash_insert(&R.by_name, nsp->hash, nsp) < 0)
        return -1;
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

/* Creates a namespace (a pattern if name starts with '~') served by app.
 * Returns it with one reference, or NULL after logging why. */
static siod_nsp *nsp_new(const char *name, siod_sio_app *app)
{
    siod_nsp *nsp = calloc(1, sizeof *nsp);
    if (nsp == NULL || (nsp->name = strdup(name)) == NULL) {
        free(nsp);
        siod_log_limited(SIOD_LOG_ERROR, "out of memory creating namespace "
                         "%.200s", name);
        return NULL;
    }
    nsp->refs = 1;
    nsp->name_len = strlen(name);
    nsp->app = app;
    if (name[0] == '~') {
        int rc = regcomp(&nsp->re, name + 1, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &nsp->re, why, sizeof why);
            siod_log(SIOD_LOG_ERROR, "namespace pattern %s: %s", name + 1,
                     why);
            free(nsp->name);
            free(nsp);
            return NULL;
        }
        nsp->is_parent = 1;
    }
    nsp->aops = &siod_adapter_mem;
    nsp->adapter = nsp->aops->create(&siod_sio_adapter_host, nsp,
                                     nsp->name);
    if (nsp->adapter == NULL) {
        nsp->aops = NULL;
        siod_sio_nsp_unref(nsp);
        siod_log_limited(SIOD_LOG_ERROR, "out of memory creating namespace "
                         "%.200s", name);
        return NULL;
    }
    return nsp;
}

static int valid_name(const char *name)
{
    if (name[0] == '~')
        return name[1] != '\0';
    return name[0] == '/' && strchr(name, ',') == NULL;
}

/* Binds name to app (explicit: from -n, which overrides what an -a
 * application declares). Returns 0 or -1 after logging why. */
static int bind_nsp(const char *name, siod_sio_app *app, int explicit)
{
    siod_nsp *nsp;

    if (!valid_name(name)) {
        siod_log(SIOD_LOG_ERROR, "namespace %s: must start with '/' (and "
                 "have no ',') or be '~' and a regular expression", name);
        return -1;
    }
    /* the name table is built once siod's hash seed is set (apps_init) */
    for (nsp = R.all; nsp != NULL; nsp = nsp->all_next)
        if (strcmp(nsp->name, name) == 0)
            break;
    if (nsp != NULL) {
        if (explicit && nsp->explicit) {
            siod_log(SIOD_LOG_ERROR, "namespace %s given twice with -n", name);
            return -1;
        }
        if (!explicit && !nsp->explicit && nsp->app != app) {
            siod_log(SIOD_LOG_ERROR, "namespace %s is declared by both %s "
                     "and %s; choose one with -n", name, nsp->app->mod->name,
                     app->mod->name);
            return -1;
        }
        if (explicit) {
            nsp->app = app;
            nsp->explicit = 1;
        }
        return 0;
    }
    nsp = nsp_new(name, app);
    if (nsp == NULL)
        return -1;
    nsp->explicit = explicit;
    *R.all_tail = nsp;
    R.all_tail = &nsp->all_next;
    return 0;
}

int siod_sio_load(void)
{
    int rc = 0;
    /* explicit bindings are recorded after the -a ones so that they win */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (struct conf *c = R.conf; c != NULL && rc == 0; c = c->next) {
            if ((pass == 0) != (c->kind == CONF_APP))
                continue;
            siod_sio_app *a = load_app(c->app);
            if (a == NULL) {
                rc = -1;
                break;
            }
            if (c->kind == CONF_NSP) {
                rc = bind_nsp(c->nsp, a, 1);
                continue;
            }
            if (a->mod->namespaces == NULL || a->mod->namespaces[0] == NULL) {
                siod_log(SIOD_LOG_ERROR, "application %s declares no "
                         "namespaces: use -n NSP=%s", a->mod->name, c->app);
                rc = -1;
                break;
            }
            for (size_t i = 0; a->mod->namespaces[i] != NULL && rc == 0; i++)
                rc = bind_nsp(a->mod->namespaces[i], a, 0);
        }
    }
    conf_free();
    if (rc == 0)
        for (siod_nsp *n = R.all; n != NULL; n = n->all_next)
            siod_log(SIOD_LOG_INFO, "namespace %s: application %s", n->name,
                     n->app->mod->name);
    return rc;
}

int siod_sio_nsp_resolve(const char *name, size_t len, siod_nsp **out)
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
        return -ENOMEM;
    for (siod_nsp *p = R.all; p != NULL; p = p->all_next) {
        if (!p->is_parent || regexec(&p->re, z, 0, NULL, 0) != 0)
            continue;
        if (max > 0 && R.dynamic >= max) {
            siod_log_throttled(&R.refusals, SIOD_LOG_WARN, "namespace %.200s "
                               "(pattern %s) not created: %zu dynamic "
                               "namespaces live (--max-dynamic-namespaces)",
                               z, p->name, R.dynamic);
            rc = -ENOSPC;
            break;
        }
        rc = -ENOMEM;
        nsp = nsp_new(z, p->app);
        if (nsp != NULL && nsp_register(nsp) < 0) {
            siod_sio_nsp_unref(nsp);
            nsp = NULL;
        }
        if (nsp != NULL) {
            nsp->parent = p;
            nsp->sib_next = p->children;
            if (p->children != NULL)
                p->children->sib_prev = nsp;
            p->children = nsp;
            R.dynamic++;
            siod_log_debug("namespace %s created (pattern %s)", z, p->name);
            *out = nsp;
            rc = 0;
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

void siod_sio_apps_destroy(void)
{
    for (siod_sio_app *a = R.apps; a != NULL; a = a->next)
        if (a->ready && a->mod->destroy != NULL)
            a->mod->destroy(a->state);
    /* timers applications left running (the loop has stopped: none fires) */
    siod_app_timers_stop_all();
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
    while (R.apps != NULL) {
        siod_sio_app *a = R.apps;
        R.apps = a->next;
        if (a->dl != NULL)
            dlclose(a->dl);
        free(a->path);
        free(a);
    }
    conf_free();
}

/* ---- public API ------------------------------------------------------------ */

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
