/* The callback layer's private structs and the calls between its files,
 * which go one way: siod_cb_app.c (the application: the per-socket
 * queues, the answers applied; the public calls) → siod_cb_conf.c (the
 * options and settings), and siod_cb_app.c → siod_cb_request.c (the
 * request bodies, from a socket's state) → siod_cb_json.c (json-c: arguments both ways and the answers' parser,
 * pure: no loop, no logging; fuzzed); siod_cb_app.c also calls
 * siod_cb_http.c (libcurl's multi interface on the loop). */
#ifndef SIOD_CB_INT_H
#define SIOD_CB_INT_H

#include "siod_callback.h"

#include <regex.h>
#include <stddef.h>

struct json_object;

/* ---- a namespace's callbacks (siod_cb_conf.c) -------------------------------- */

enum siod_cb_kind { SIOD_CB_CONNECT = 0, SIOD_CB_EVENT, SIOD_CB_DISCONNECT,
                    SIOD_CB_KINDS };

/* One namespace's callbacks: name as given (a '~' pattern is compiled). */
typedef struct siod_cb_nsp {
    char *name;
    int is_pattern;
    regex_t re;
    char *url[SIOD_CB_KINDS];        /* NULL: no callback of that kind */
    struct siod_cb_nsp *next;
} siod_cb_nsp;

/* The layer's settings: the options, and the loop main gives. */
typedef struct siod_cb_settings {
    unsigned timeout_ms;             /* --callback-timeout */
    unsigned max_requests;           /* --callback-requests */
    unsigned queue_max;              /* --callback-queue */
    siod_cb_nsp *nsps;               /* --callback, in order */
    struct event_base *base;
} siod_cb_settings;

/* ---- configuration (siod_cb_conf.c) ---------------------------------------- */

/* Parses one option into the settings (siod_callback_conf's contract);
 * for --callback, *new_nsp is set to the namespace's name when this is
 * the first callback naming it (else NULL). */
int siod_cb_conf_parse(enum siod_callback_opt opt, const char *arg,
                       const char **new_nsp);

/* Returns the settings (static; the loop is set through it). */
siod_cb_settings *siod_cb_settings_get(void);

/* Frees the namespaces' entries. */
void siod_cb_conf_free(void);

/* Returns the callbacks of namespace name: its own entry, else the first
 * pattern it matches; NULL if none. */
const siod_cb_nsp *siod_cb_nsp_find(const char *name);

/* ---- request bodies (siod_cb_request.c) ------------------------------------ */

/* Each returns a malloc'd JSON body with *len set, or NULL if memory runs
 * out. */
/* {"id","rooms","data"} of s, as a json-c object the caller owns. */
struct json_object *siod_cb_request_socket(siod_socket *s);
/* type "connect": the socket and its handshake. */
char *siod_cb_request_connect(siod_socket *s, size_t *len);
/* type "event": args (taken) from siod_cb_args_to_json. */
char *siod_cb_request_event(siod_socket *s, const char *event,
                            struct json_object *args, int ack, size_t *len);
/* type "disconnect": sock (taken) as siod_cb_request_socket gave it
 * before the socket left its rooms. */
char *siod_cb_request_disconnect(const char *nsp, struct json_object *sock,
                                 const char *reason, size_t *len);

/* ---- HTTP (siod_cb_http.c) ------------------------------------------------- */

/* How a POST ended: status is the HTTP status (2xx: body holds the
 * answer, at most SIOD_CB_MAX_ANSWER bytes), or a negative code:
 * -ETIMEDOUT (no answer in time), -ECONNREFUSED (no connection: refused,
 * unreachable, a name not resolved), -EMSGSIZE (an answer over the cap),
 * -EIO (any other transfer failure); why holds libcurl's words. body and
 * why are valid during the call. */
typedef void (*siod_cb_http_done)(void *ud, int status, const char *body,
                                  size_t len, const char *why);

#define SIOD_CB_MAX_ANSWER (4u * 1024u * 1024u)

typedef struct siod_cb_http_req siod_cb_http_req;

/* Starts libcurl on base: at most max_requests transfers at once (and as
 * many kept-alive connections); those past it wait in order. Returns 0, or
 * -ENOMEM / -EIO with why[0..cap) set. */
int siod_cb_http_init(struct event_base *base, unsigned max_requests,
                      char *why, size_t cap);

/* Cancels every transfer (their callbacks do not run) and stops libcurl.
 * Safe when never started. */
void siod_cb_http_cleanup(void);

/* POSTs body[0..len) (JSON; taken over: freed by the layer) to url,
 * giving it timeout_ms from now, the wait for a free transfer included.
 * done runs once, later, from the loop (never from inside this call).
 * Returns the request, or NULL (out of memory; body freed, done not
 * called). */
siod_cb_http_req *siod_cb_http_post(const char *url, char *body, size_t len,
                                    unsigned timeout_ms,
                                    siod_cb_http_done done, void *ud);

/* Cancels req: done will not run. */
void siod_cb_http_cancel(siod_cb_http_req *req);

/* ---- JSON (siod_cb_json.c) ------------------------------------------------- */

/* Arguments to send to the client: a JSON array with Socket.IO
 * placeholders, and the binary values they name (malloc'd). */
typedef struct siod_cb_args {
    char *json;
    siod_bin *bins;
    unsigned nbins;
} siod_cb_args;

enum siod_cb_target { SIOD_CB_TO_SELF = 0, SIOD_CB_TO_ALL, SIOD_CB_TO_OTHERS,
                      SIOD_CB_TO_ROOMS };

/* A list of room names (NUL-free UTF-8, malloc'd). */
typedef struct siod_cb_names {
    char **v;
    size_t n;
} siod_cb_names;

typedef struct siod_cb_emit {
    char *event;
    siod_cb_args args;
    enum siod_cb_target to;
    siod_cb_names rooms;             /* SIOD_CB_TO_ROOMS */
    siod_cb_names except;
} siod_cb_emit;

/* What an answer asks for; every field optional (has_* / NULL / 0). */
typedef struct siod_cb_answer {
    int accept;                      /* connect: 1 accept, 0 refuse, -1 absent */
    char *message;                   /* refusal: CONNECT_ERROR message */
    char *error_data;                /* refusal: its data, JSON text */
    int has_data;
    char *data;                      /* socket.data, JSON text ("null": none) */
    siod_cb_names join, leave;
    int has_ack;
    siod_cb_args ack;
    siod_cb_emit *emits;
    size_t nemits;
    int disconnect;                  /* 1: the namespace, 2: the connection */
} siod_cb_answer;

/* Limits on one answer, past which it is refused as a whole. */
#define SIOD_CB_MAX_EMITS 256
#define SIOD_CB_MAX_NAMES 256
#define SIOD_CB_MAX_BINS 64
/* nesting: what siod takes from a client (128), inside an answer's two
 * levels */
#define SIOD_CB_MAX_DEPTH 130

/* Parses an answer body[0..len) (a JSON object; an empty body is {}) into
 * *out (zeroed first; free with siod_cb_answer_free even on failure).
 * Returns 0, or -EPROTO (not JSON, a member of the wrong type, a limit
 * above passed) or -ENOMEM, with why[0..cap) set. */
int siod_cb_answer_parse(const char *body, size_t len, siod_cb_answer *out,
                         char *why, size_t cap);
void siod_cb_answer_free(siod_cb_answer *a);

/* Returns received arguments (a JSON array with placeholders into
 * bins[0..nbins)) as a json-c array in which each binary value is
 * {"_binary":"<base64>"}, or NULL (-ENOMEM, or arguments that are not
 * JSON: siod validated them, so memory). The caller owns it. */
struct json_object *siod_cb_args_to_json(const char *json, size_t len,
                                         const siod_bin *bins,
                                         unsigned nbins);

/* Parses JSON text json[0..len) into a json-c value (the caller owns it),
 * or NULL when it is not JSON or memory runs out. */
struct json_object *siod_cb_json_parse(const char *json, size_t len);

/* Serializes o (plain, '/' unescaped) into a malloc'd string, *len its
 * length; NULL if memory runs out. */
char *siod_cb_json_string(struct json_object *o, size_t *len);

/* Frees a's text and buffers; a stays zeroed. */
void siod_cb_args_free(siod_cb_args *a);

#endif
