/* The guard layer's limits applied to a socket's events before any handler
 * sees them (the application's catch-all, middleware and handler alike):
 * the event rate (over it the event is dropped, a flooding socket is
 * disconnected) and the event's payload schema (an event that fails it is
 * not delivered). Either way an ack the client asked for is answered with
 * an error object, so its callback does not wait for a timeout. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "guard/siod_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIN_LENS_ON_STACK 16

/* Answers ack (NULL: no-op) with the one argument obj (malloc'd JSON
 * text, freed here; NULL when it could not be made: then
 * {"error":"refused"}). */
static void answer(siod_ack *ack, char *obj)
{
    if (ack == NULL) {
        free(obj);
        return;
    }
    char *arr = obj != NULL ? siod_json_fmt("[%s]", obj) : NULL;
    const char *text = arr != NULL ? arr : "[{\"error\":\"refused\"}]";
    siod_args a = { text, strlen(text), NULL, 0 };
    siod_ack_send(ack, &a);
    free(arr);
    free(obj);
}

/* The event rate: 1 if the event may go on, 0 if dropped, -1 if dropped
 * and s is flooding (the caller disconnects it). */
static int rate_ok(siod_socket *s, const char *name, siod_ack *ack)
{
    enum siod_guard_verdict v = siod_guard_event(&s->guard);
    const siod_guard_config *c = siod_guard_config_get();

    if (v == SIOD_GUARD_PASS)
        return 1;
    siod_log_limited(SIOD_LOG_INFO, "socket %s on %s: event \"%.64s\" "
                     "dropped: over --event-rate %g a second (burst %g)",
                     s->id, s->nsp->name, name, c->event_rate,
                     c->event_burst);
    if (ack != NULL) {
        answer(ack, siod_json_fmt("{\"error\":\"rate limit\",\"message\":"
                                  "\"too many events: at most %g a second\"}",
                                  c->event_rate));
        siod_guard_note_ack_refused();
    }
    if (v == SIOD_GUARD_FLOOD) {
        siod_log_limited(SIOD_LOG_WARN, "socket %s on %s: %u events dropped "
                         "within %u ms (--event-flood-drops): disconnected",
                         s->id, s->nsp->name, c->flood_drops,
                         c->flood_window_ms);
        return -1;
    }
    return 0;
}

/* The event's schema, if it has one: 1 if the arguments pass it (or there
 * is none), 0 if the event is refused. */
static int schema_ok(siod_socket *s, const char *name, size_t nlen,
                     const siod_args *a, siod_ack *ack)
{
    const siod_schema *sc = siod_schemas_find(name, nlen);
    size_t small[BIN_LENS_ON_STACK], *lens = small;
    siod_schema_fail f;
    int rc;

    if (sc == NULL)
        return 1;
    if (a->nbins > BIN_LENS_ON_STACK &&
        (lens = malloc(a->nbins * sizeof *lens)) == NULL) {
        rc = -ENOMEM;
        snprintf(f.why, sizeof f.why, "out of memory");
        f.path[0] = '\0';
    } else {
        for (unsigned i = 0; i < a->nbins; i++)
            lens[i] = a->bins[i].len;
        rc = siod_schema_check(sc, a->json, a->len, lens, a->nbins, &f);
        if (lens != small)
            free(lens);
    }
    siod_guard_note_payload(rc == 0);
    if (rc == 0)
        return 1;
    siod_log_limited(SIOD_LOG_INFO, "socket %s on %s: event \"%.64s\" "
                     "refused by its schema: %s: %s", s->id, s->nsp->name,
                     name, f.path[0] != '\0' ? f.path : "(arguments)",
                     f.why);
    answer(ack, siod_json_fmt("{\"error\":\"invalid payload\",\"path\":%Q,"
                              "\"message\":%Q}", f.path, f.why));
    return 0;
}

int siod_sio_guard_event(siod_socket *s, const char *name, size_t nlen,
                         const siod_args *a, siod_ack *ack)
{
    int rc = rate_ok(s, name, ack);
    return rc <= 0 ? rc : schema_ok(s, name, nlen, a, ack);
}
