/* The in-process adapter: rooms of one namespace with a two-way index, as
 * redis pubsub.c keeps channels: room -> members (a list per room, rooms
 * found by name in a hash) and socket -> memberships (a list per socket,
 * reached through the socket's adapter slot); a (room, socket) hash makes
 * join and leave O(1). Selecting the targets of a broadcast marks sockets
 * with a generation number, so a socket in several rooms is sent to once
 * and excluded rooms cost one pass. Sockets are the host's opaque handles:
 * everything about them goes through the siod_adapter_host ops. */
#include "siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct member;

struct room {
    char *name;
    size_t len;
    uint64_t hash;
    struct member *head;
    size_t count;
    uint64_t mark;                   /* listing generation (mem_rooms) */
};

struct member {
    struct room *room;
    struct msock *ms;                /* its socket */
    uint64_t hash;
    struct member *rprev, *rnext;    /* the room's members */
    struct member *sprev, *snext;    /* the socket's rooms */
};

/* A socket known to the adapter (the reference's sids entry), its slot
 * in the host's socket. */
struct msock {
    siod_socket *sock;
    struct member *rooms;
    struct msock *prev, *next;
    uint64_t mark, except_mark;      /* broadcast selection generations */
};

struct mem {
    const siod_adapter_host *host;
    siod_hash rooms;                 /* name -> room */
    siod_hash members;               /* (room, socket) -> member */
    struct msock *socks;
};

struct room_key {
    const char *name;
    size_t len;
};

struct member_key {
    const struct room *room;
    const siod_socket *sock;
};

static uint64_t mark_gen;

static int room_eq(const void *item, const void *key)
{
    const struct room *r = item;
    const struct room_key *k = key;
    return r->len == k->len && memcmp(r->name, k->name, k->len) == 0;
}

static int member_eq(const void *item, const void *key)
{
    const struct member *m = item;
    const struct member_key *k = key;
    return m->room == k->room && m->ms->sock == k->sock;
}

static uint64_t member_hash(const struct room *r, const siod_socket *s)
{
    return siod_hash_u64pair((uint64_t)(uintptr_t)r, (uint64_t)(uintptr_t)s);
}

static struct room *find_room(const struct mem *m, const char *name)
{
    struct room_key k = { name, strlen(name) };
    return siod_hash_find(&m->rooms, siod_hash_bytes(k.name, k.len), &k);
}

static struct member *find_member(const struct mem *m, const struct room *r,
                                  const siod_socket *s)
{
    struct member_key k = { r, s };
    return siod_hash_find(&m->members, member_hash(r, s), &k);
}

static void *mem_create(const siod_adapter_host *host, siod_nsp *nsp,
                        const char *name)
{
    struct mem *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->host = host;
    siod_hash_init(&m->rooms, room_eq);
    siod_hash_init(&m->members, member_eq);
    return m;
}

static void unlink_member(struct mem *m, struct member *mb)
{
    struct room *r = mb->room;
    struct msock *ms = mb->ms;
    struct member_key k = { r, ms->sock };

    siod_hash_remove(&m->members, mb->hash, &k);
    if (mb->rprev != NULL)
        mb->rprev->rnext = mb->rnext;
    else
        r->head = mb->rnext;
    if (mb->rnext != NULL)
        mb->rnext->rprev = mb->rprev;
    if (mb->sprev != NULL)
        mb->sprev->snext = mb->snext;
    else
        ms->rooms = mb->snext;
    if (mb->snext != NULL)
        mb->snext->sprev = mb->sprev;
    free(mb);
    if (--r->count == 0) {
        struct room_key rk = { r->name, r->len };
        siod_hash_remove(&m->rooms, r->hash, &rk);
        free(r->name);
        free(r);
    }
}

static void drop_msock(struct mem *m, struct msock *ms)
{
    while (ms->rooms != NULL)
        unlink_member(m, ms->rooms);
    if (ms->prev != NULL)
        ms->prev->next = ms->next;
    else
        m->socks = ms->next;
    if (ms->next != NULL)
        ms->next->prev = ms->prev;
    m->host->set_slot(ms->sock, NULL);
    free(ms);
}

static void mem_destroy(void *a)
{
    struct mem *m = a;
    if (m == NULL)
        return;
    while (m->socks != NULL)
        drop_msock(m, m->socks);
    siod_hash_destroy(&m->rooms);
    siod_hash_destroy(&m->members);
    free(m);
}

static int mem_add(void *a, siod_socket *s, const char *room)
{
    struct mem *m = a;
    struct msock *ms = m->host->slot(s);
    struct room *r;
    struct member *mb;
    int new_room = 0;

    if (ms == NULL) {
        ms = calloc(1, sizeof *ms);
        if (ms == NULL)
            return -ENOMEM;
        ms->sock = s;
        ms->next = m->socks;
        if (m->socks != NULL)
            m->socks->prev = ms;
        m->socks = ms;
        m->host->set_slot(s, ms);
    }
    r = find_room(m, room);
    if (r != NULL && find_member(m, r, s) != NULL)
        return 0;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        r->len = strlen(room);
        r->name = malloc(r->len + 1);
        if (r->name == NULL) {
            free(r);
            return -ENOMEM;
        }
        memcpy(r->name, room, r->len + 1);
        r->hash = siod_hash_bytes(r->name, r->len);
        if (siod_hash_insert(&m->rooms, r->hash, r) < 0) {
            free(r->name);
            free(r);
            return -ENOMEM;
        }
        new_room = 1;
    }
    mb = calloc(1, sizeof *mb);
    if (mb != NULL) {
        mb->room = r;
        mb->ms = ms;
        mb->hash = member_hash(r, s);
        if (siod_hash_insert(&m->members, mb->hash, mb) < 0) {
            free(mb);
            mb = NULL;
        }
    }
    if (mb == NULL) {
        if (new_room) {
            struct room_key rk = { r->name, r->len };
            siod_hash_remove(&m->rooms, r->hash, &rk);
            free(r->name);
            free(r);
        }
        return -ENOMEM;
    }
    mb->rnext = r->head;
    if (r->head != NULL)
        r->head->rprev = mb;
    r->head = mb;
    r->count++;
    mb->snext = ms->rooms;
    if (ms->rooms != NULL)
        ms->rooms->sprev = mb;
    ms->rooms = mb;
    return 0;
}

static void mem_del(void *a, siod_socket *s, const char *room)
{
    struct mem *m = a;
    struct room *r;
    struct member *mb;

    if (m->host->slot(s) == NULL || (r = find_room(m, room)) == NULL ||
        (mb = find_member(m, r, s)) == NULL)
        return;
    unlink_member(m, mb);
}

static void mem_del_all(void *a, siod_socket *s)
{
    struct mem *m = a;
    struct msock *ms = m->host->slot(s);
    if (ms != NULL)
        drop_msock(m, ms);
}

static int mem_has(void *a, const siod_socket *s, const char *room)
{
    struct mem *m = a;
    struct room *r;

    if (m->host->slot(s) == NULL || (r = find_room(m, room)) == NULL)
        return 0;
    return find_member(m, r, s) != NULL;
}

static size_t mem_socket_rooms(void *a, const siod_socket *s,
                               void (*fn)(void *ud, const char *room),
                               void *ud)
{
    const struct mem *m = a;
    const struct msock *ms = m->host->slot(s);
    size_t n = 0;

    for (const struct member *mb = ms != NULL ? ms->rooms : NULL; mb != NULL;
         mb = mb->snext, n++)
        if (fn != NULL)
            fn(ud, mb->room->name);
    return n;
}

/* Every room is some socket's: walking the sockets' memberships with a
 * generation mark finds each once. */
static size_t mem_rooms(void *a, void (*fn)(void *ud, const char *room),
                        void *ud)
{
    const struct mem *m = a;
    uint64_t gen = ++mark_gen;
    size_t n = 0;

    for (const struct msock *ms = m->socks; ms != NULL; ms = ms->next)
        for (const struct member *mb = ms->rooms; mb != NULL; mb = mb->snext) {
            if (mb->room->mark == gen)
                continue;
            mb->room->mark = gen;
            n++;
            if (fn != NULL)
                fn(ud, mb->room->name);
        }
    return n;
}

struct sel {
    const siod_adapter_host *host;
    siod_socket **v;
    size_t n, cap;
    int failed;
};

static void sel_push(struct sel *sel, struct msock *ms, uint64_t gen)
{
    if (ms->mark == gen || ms->except_mark == gen ||
        !sel->host->connected(ms->sock))
        return;
    ms->mark = gen;
    if (sel->n == sel->cap) {
        size_t cap = sel->cap ? sel->cap * 2 : 16;
        siod_socket **v = realloc(sel->v, cap * sizeof *v);
        if (v == NULL) {
            sel->failed = 1;
            return;
        }
        sel->v = v;
        sel->cap = cap;
    }
    sel->v[sel->n++] = sel->host->ref(ms->sock);
}

static ssize_t mem_select(void *a, const siod_bcast_opts *o, siod_socket ***out)
{
    struct mem *m = a;
    struct sel sel = { m->host, NULL, 0, 0, 0 };
    uint64_t gen = ++mark_gen;

    for (size_t i = 0; i < o->nexcept; i++) {
        struct room *r = find_room(m, o->except[i]);
        for (struct member *mb = r != NULL ? r->head : NULL; mb != NULL;
             mb = mb->rnext)
            mb->ms->except_mark = gen;
    }
    if (o->nrooms > 0) {
        for (size_t i = 0; i < o->nrooms; i++) {
            struct room *r = find_room(m, o->rooms[i]);
            for (struct member *mb = r != NULL ? r->head : NULL; mb != NULL;
                 mb = mb->rnext)
                sel_push(&sel, mb->ms, gen);
        }
    } else {
        for (struct msock *ms = m->socks; ms != NULL; ms = ms->next)
            sel_push(&sel, ms, gen);
    }
    if (sel.failed) {
        for (size_t i = 0; i < sel.n; i++)
            m->host->unref(sel.v[i]);
        free(sel.v);
        return -ENOMEM;
    }
    *out = sel.v;
    return (ssize_t)sel.n;
}

static void release(const struct mem *m, siod_socket **v, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++)
        m->host->unref(v[i]);
    free(v);
}

/* Sending can close a session and so run disconnect callbacks that change
 * rooms: the targets are selected first, then written, all in one
 * multi-send (one frame per relay link where the module fans out). */
static void mem_broadcast(void *a, const siod_sio_out *pkt,
                          const siod_bcast_opts *o)
{
    struct mem *m = a;
    siod_socket **v = NULL;
    ssize_t n = mem_select(a, o, &v);
    if (n > 0)
        m->host->write(v, (size_t)n, pkt, o->flags);
    release(m, v, n);
}

/* Every recipient is told to expect the answer before the one multi-send;
 * a socket that cannot be (memory) is not sent the packet. As the
 * reference, the count includes volatile drops and clients lost while
 * sending (those report as gone). */
static void mem_broadcast_with_ack(void *a, const siod_sio_out *pkt,
                                   uint64_t id, const siod_bcast_opts *o,
                                   siod_ackwait *w)
{
    struct mem *m = a;
    const siod_adapter_host *host = m->host;
    siod_socket **v = NULL;
    ssize_t n = mem_select(a, o, &v);
    size_t sent = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (host->expect(v[i], id, w) < 0) {
            host->unref(v[i]);
            continue;
        }
        v[sent++] = v[i];
    }
    if (sent > 0)
        host->write(v, sent, pkt, o->flags);
    release(m, v, (ssize_t)sent);
    /* last: it may finish w and run the application's callback */
    host->ack_count(w, sent);
}

static void mem_add_sockets(void *a, const siod_bcast_opts *o,
                            const char *room)
{
    struct mem *m = a;
    siod_socket **v = NULL;
    ssize_t n = mem_select(a, o, &v);
    for (ssize_t i = 0; i < n; i++)
        m->host->join(v[i], room);
    release(m, v, n);
}

static void mem_del_sockets(void *a, const siod_bcast_opts *o,
                            const char *room)
{
    struct mem *m = a;
    siod_socket **v = NULL;
    ssize_t n = mem_select(a, o, &v);
    for (ssize_t i = 0; i < n; i++)
        m->host->leave(v[i], room);
    release(m, v, n);
}

static void mem_disconnect_sockets(void *a, const siod_bcast_opts *o,
                                   int close)
{
    struct mem *m = a;
    siod_socket **v = NULL;
    ssize_t n = mem_select(a, o, &v);
    for (ssize_t i = 0; i < n; i++)
        m->host->disconnect(v[i], close);
    release(m, v, n);
}

static unsigned mem_server_count(void *a)
{
    return 1;
}

const siod_adapter_ops siod_adapter_mem = {
    .name = "memory",
    .create = mem_create,
    .destroy = mem_destroy,
    .add = mem_add,
    .del = mem_del,
    .del_all = mem_del_all,
    .has = mem_has,
    .rooms = mem_rooms,
    .socket_rooms = mem_socket_rooms,
    .select = mem_select,
    .broadcast = mem_broadcast,
    .broadcast_with_ack = mem_broadcast_with_ack,
    .add_sockets = mem_add_sockets,
    .del_sockets = mem_del_sockets,
    .disconnect_sockets = mem_disconnect_sockets,
    .server_count = mem_server_count,
};
