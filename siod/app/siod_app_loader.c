/* The application loader: the command-line configuration (-n NSP=APP,
 * -a APP, -A DIR), modules linked into the program, loading application
 * modules with dlopen, binding their namespaces in the Socket.IO layer,
 * and starting and stopping the applications with that layer (through the
 * siod_sio_apps hooks it registers). Everything here runs before the
 * event loop or after it. Its helpers return negative errno codes with
 * the detail in a caller's buffer; the command-line calls say why on
 * stderr and siod_app_loader_load logs, as main's startup does. */
#include "siod_app_loader.h"
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

/* An application module as loaded (or a built-in one). */
struct app {
    siod_sio_app a;                  /* what its namespaces see */
    void *dl;                        /* dlopen handle, NULL if built in */
    char *path;
    int ready;                       /* init succeeded */
    struct app *next;
};

static struct {
    struct conf *conf, **conf_tail;
    char *appdir;
    struct app *apps;
} R = { .conf_tail = &R.conf };

/* ---- configuration -------------------------------------------------------- */

/* Records one -n or -a. Returns 0 or -ENOMEM. */
static int conf_add(enum conf_kind kind, const char *nsp, size_t nsp_len,
                    const char *app)
{
    struct conf *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->kind = kind;
    c->app = strdup(app);
    c->nsp = nsp != NULL ? strndup(nsp, nsp_len) : NULL;
    if (c->app == NULL || (nsp != NULL && c->nsp == NULL)) {
        free(c->app);
        free(c->nsp);
        free(c);
        return -ENOMEM;
    }
    *R.conf_tail = c;
    R.conf_tail = &c->next;
    return 0;
}

int siod_app_loader_conf_nsp(const char *spec)
{
    const char *eq = strrchr(spec, '=');
    int rc;
    if (eq == NULL || eq == spec || eq[1] == '\0') {
        fprintf(stderr, "siod: -n %s: expected NSP=APP\n", spec);
        return -EINVAL;
    }
    rc = conf_add(CONF_NSP, spec, (size_t)(eq - spec), eq + 1);
    if (rc < 0)
        fprintf(stderr, "siod: -n %s: %s\n", spec, siod_strerror(rc));
    return rc;
}

int siod_app_loader_conf_app(const char *app)
{
    int rc;
    if (*app == '\0') {
        fprintf(stderr, "siod: -a: empty application name\n");
        return -EINVAL;
    }
    rc = conf_add(CONF_APP, NULL, 0, app);
    if (rc < 0)
        fprintf(stderr, "siod: -a %s: %s\n", app, siod_strerror(rc));
    return rc;
}

void siod_app_loader_conf_appdir(const char *dir)
{
    free(R.appdir);
    R.appdir = strdup(dir);
}

int siod_app_loader_conf_empty(void)
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

int siod_app_loader_conf_builtin(const siod_app_module *mod)
{
    if (mod == NULL || mod->abi != SIOD_APP_ABI || mod->name == NULL)
        return -EINVAL;
    if (n_builtins == BUILTIN_MAX)
        return -ENOSPC;
    builtins[n_builtins++] = mod;
    return 0;
}

/* Appends a to the loaded applications. */
static void app_append(struct app *a)
{
    struct app **tail = &R.apps;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = a;
}

/* Returns the application for built-in module mod, created once; NULL if
 * memory runs out. */
static struct app *builtin_app(const siod_app_module *mod)
{
    struct app *a;

    for (a = R.apps; a != NULL; a = a->next)
        if (a->a.mod == mod)
            return a;
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(mod->name)) == NULL) {
        free(a);
        return NULL;
    }
    a->a.mod = mod;
    app_append(a);
    return a;
}

/* Loads the application named spec (a built-in module's name, a path if
 * it has a '/', else <appdir>/<spec>.so) once, into *out. Returns 0, or
 * with why[0..cap) set: realpath's errno (-ENOENT: cannot find it),
 * -EINVAL (dlopen failed, or the module is not a siod application of this
 * ABI) or -ENOMEM. */
static int load_app(const char *spec, struct app **out, char *why,
                    size_t cap)
{
    char path[PATH_MAX], real[PATH_MAX];
    struct app *a;

    for (size_t i = 0; i < n_builtins; i++)
        if (strcmp(builtins[i]->name, spec) == 0) {
            *out = builtin_app(builtins[i]);
            if (*out == NULL)
                return siod_err_set(why, cap, -ENOMEM, "application %s: "
                                    "out of memory", spec);
            return 0;
        }
    if (strchr(spec, '/') != NULL) {
        snprintf(path, sizeof path, "%s", spec);
    } else {
        if (R.appdir == NULL && (R.appdir = default_appdir()) == NULL)
            return siod_err_set(why, cap, -ENOMEM, "application %s: out of "
                                "memory", spec);
        snprintf(path, sizeof path, "%s/%s.so", R.appdir, spec);
    }
    if (realpath(path, real) == NULL) {
        int err = errno;
        return siod_err_set(why, cap, -err, "application %s: cannot find "
                            "%s", spec, path);
    }
    for (a = R.apps; a != NULL; a = a->next)
        if (strcmp(a->path, real) == 0) {
            *out = a;
            return 0;
        }
    void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        return siod_err_set(why, cap, -EINVAL, "application %s: %s", spec,
                            dlerror());
    const siod_app_module *mod = dlsym(dl, SIOD_APP_SYMBOL);
    if (mod == NULL || mod->abi != SIOD_APP_ABI || mod->name == NULL) {
        siod_err_set(why, cap, -EINVAL, "application %s: %s", real,
                     mod == NULL ? "no " SIOD_APP_SYMBOL " symbol"
                     : mod->abi != SIOD_APP_ABI ? "built for another "
                                                  "siod_app.h version"
                                                : "module record has no "
                                                  "name");
        dlclose(dl);
        return -EINVAL;
    }
    a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(real)) == NULL) {
        free(a);
        dlclose(dl);
        return siod_err_set(why, cap, -ENOMEM, "application %s: out of "
                            "memory", spec);
    }
    a->a.mod = mod;
    a->dl = dl;
    app_append(a);
    siod_log(SIOD_LOG_INFO, "loaded application %s from %s", mod->name, real);
    *out = a;
    return 0;
}

/* ---- starting and stopping ------------------------------------------------- */

/* Calls every application's init (the siod_sio_apps hook). Returns 0, or
 * -ECANCELED with why[0..cap) naming the application that refused. */
static int apps_init(char *why, size_t cap)
{
    for (struct app *a = R.apps; a != NULL; a = a->next) {
        if (a->a.mod->init != NULL && a->a.mod->init(&a->a.state) != 0)
            return siod_err_set(why, cap, -ECANCELED, "application %s: init "
                                "failed", a->a.mod->name);
        a->ready = 1;
    }
    return 0;
}

static const siod_sio_apps loader_apps = {
    .init = apps_init,
    .destroy = siod_app_loader_destroy,
};

/* Loads every configured application and binds its namespaces. Returns 0,
 * or a negative code with why[0..cap) set. */
static int load_all(char *why, size_t cap)
{
    /* explicit bindings are recorded after the -a ones so that they win */
    for (int pass = 0; pass < 2; pass++) {
        for (struct conf *c = R.conf; c != NULL; c = c->next) {
            struct app *a;
            int rc;
            if ((pass == 0) != (c->kind == CONF_APP))
                continue;
            rc = load_app(c->app, &a, why, cap);
            if (rc < 0)
                return rc;
            if (c->kind == CONF_NSP) {
                rc = siod_sio_nsp_bind(c->nsp, &a->a, 1, why, cap);
                if (rc < 0)
                    return rc;
                continue;
            }
            const siod_app_module *mod = a->a.mod;
            if (mod->namespaces == NULL || mod->namespaces[0] == NULL)
                return siod_err_set(why, cap, -EINVAL, "application %s "
                                    "declares no namespaces: use -n NSP=%s",
                                    mod->name, c->app);
            for (size_t i = 0; mod->namespaces[i] != NULL; i++) {
                rc = siod_sio_nsp_bind(mod->namespaces[i], &a->a, 0, why,
                                       cap);
                if (rc < 0)
                    return rc;
            }
        }
    }
    return 0;
}

int siod_app_loader_load(void)
{
    char why[PATH_MAX + 256];
    int rc = load_all(why, sizeof why);

    conf_free();
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "%s", why);
        return rc;
    }
    siod_sio_nsps_log();
    siod_sio_set_apps(&loader_apps);
    return 0;
}

void siod_app_loader_destroy(void)
{
    for (struct app *a = R.apps; a != NULL; a = a->next)
        if (a->ready && a->a.mod->destroy != NULL)
            a->a.mod->destroy(a->a.state);
    siod_sio_timers_stop_all();
    /* the namespaces point at the applications: they go first */
    siod_sio_nsps_free();
    while (R.apps != NULL) {
        struct app *a = R.apps;
        R.apps = a->next;
        if (a->dl != NULL)
            dlclose(a->dl);
        free(a->path);
        free(a);
    }
    conf_free();
}
