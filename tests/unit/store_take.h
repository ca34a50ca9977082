/* A store's take as a plain call for the unit tests: the in-process store
 * answers a take at once, through its callback; store_take returns that
 * answer (checking it came exactly once). Included by test_siod_store.c and
 * test_siod_state.c after check.h and siod/sio/siod_sio_int.h. */
#ifndef STORE_TAKE_H
#define STORE_TAKE_H

struct store_taken {
    int answered;
    siod_sio_saved *v;
    const char *why;
};

static void store_taken_cb(void *ud, siod_sio_saved *v, siod_sio_missed *m,
                           const char *why)
{
    struct store_taken *t = ud;
    t->answered++;
    t->v = v;
    t->why = why;
    CHECK(m == NULL);
}

/* ops->take(st, nsp, pid, off) answered at once: the state (the caller's),
 * or NULL with *why set. */
static siod_sio_saved *store_take(const siod_sio_store_ops *ops, void *st,
                                  const char *nsp, const char *pid,
                                  const char *off, const char **why)
{
    struct store_taken t = { 0, NULL, NULL };
    ops->take(st, nsp, pid, off, store_taken_cb, &t);
    CHECK_EQ(t.answered, 1);
    CHECK((t.v != NULL) == (t.why == NULL));
    *why = t.why;
    return t.v;
}

#endif
