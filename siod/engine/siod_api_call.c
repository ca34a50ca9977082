/* API calls: operations the module asks for outside any session (SIO_R_API
 * frames, the HTTP emit API). Each call remembers the link and conn that
 * asked, sits on its peer's list until the upper layer answers it, and is
 * orphaned (answered into nothing) when the link goes first. Calls
 * siod_peer.c only. */
#include "core/siod_core.h"
#include "siod_engine_int.h"

#include <errno.h>
#include <stdlib.h>

struct siod_api_call {
    siod_peer *peer;                 /* NULL once the link is gone */
    uint64_t conn;
    struct siod_api_call *next, *prev;
};

siod_api_call *siod_api_call_new(siod_peer *p, uint64_t conn)
{
    siod_api_call *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->peer = p;
    c->conn = conn;
    c->next = p->calls;
    if (p->calls != NULL)
        p->calls->prev = c;
    p->calls = c;
    return c;
}

static void unlink_call(siod_api_call *c)
{
    if (c->peer == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->peer->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->peer = NULL;
    c->next = c->prev = NULL;
}

void siod_api_calls_orphan(siod_peer *p)
{
    while (p->calls != NULL)
        unlink_call(p->calls);
}

/* Answers c with body[0..len), flags SIO_RF_JSON or 0, and frees c. */
static int answer(siod_api_call *c, unsigned status, int flags,
                  const char *body, size_t len)
{
    int rc = -EPIPE;

    if (c == NULL)
        return -EINVAL;
    if (c->peer != NULL)
        rc = siod_peer_send(c->peer, SIO_R_RESPONSE, (uint8_t)flags,
                            (uint16_t)status, c->conn, NULL, body, len,
                            NULL, 0);
    unlink_call(c);
    free(c);
    return rc;
}

/* See siod_engine.h. */
int siod_api_answer(siod_api_call *c, unsigned status, const char *json,
                    size_t len)
{
    return answer(c, status, SIO_RF_JSON, json, len);
}

/* See siod_engine.h. */
int siod_api_answer_text(siod_api_call *c, unsigned status, const char *text,
                         size_t len)
{
    return answer(c, status, 0, text, len);
}
