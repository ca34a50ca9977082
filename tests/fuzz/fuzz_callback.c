/* libFuzzer target for the callback layer's JSON (siod/callback/
 * siod_cb_json.c): arbitrary bytes parsed as a backend's answer, whose
 * results must hold together (every argument list JSON text that parses
 * as an array, no placeholder past its buffers, room names without NUL);
 * the same bytes read as received arguments with two buffers, turned into
 * the {"_binary":...} form and parsed back as an ack: as many buffers as
 * placeholders went out. */
#include "callback/siod_cb_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENSURE(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "fuzz_callback.c:%d: %s\n", __LINE__, #c); \
            __builtin_trap(); \
        } \
    } while (0)

/* Counts the placeholders under o and checks each is below nbins; with
 * markers, counts binary markers ({"_binary":"..."}) too: a client's
 * literal one is a binary value on the way back (docs/callbacks.md). */
static unsigned placeholders_ex(struct json_object *o, unsigned nbins,
                                int markers)
{
    unsigned n = 0;
    struct json_object *p, *num;

    if (json_object_is_type(o, json_type_object)) {
        if (markers && json_object_object_length(o) == 1 &&
            json_object_object_get_ex(o, "_binary", &p) &&
            json_object_is_type(p, json_type_string))
            return 1;
        /* what Socket.IO calls a placeholder: nothing else is one */
        if (json_object_object_length(o) == 2 &&
            json_object_object_get_ex(o, "_placeholder", &p) &&
            json_object_is_type(p, json_type_boolean) &&
            json_object_get_boolean(p) &&
            json_object_object_get_ex(o, "num", &num) &&
            json_object_is_type(num, json_type_int)) {
            ENSURE(json_object_get_int64(num) < nbins);
            return 1;
        }
        json_object_object_foreach(o, k, v) {
            (void)k;
            n += placeholders_ex(v, nbins, markers);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            n += placeholders_ex(json_object_array_get_idx(o, i), nbins,
                                 markers);
    }
    return n;
}

static unsigned placeholders(struct json_object *o, unsigned nbins)
{
    return placeholders_ex(o, nbins, 0);
}

static void check_args(const siod_cb_args *a)
{
    struct json_object *o = siod_cb_json_parse(a->json, strlen(a->json));
    ENSURE(o != NULL && json_object_is_type(o, json_type_array));
    placeholders(o, a->nbins);
    json_object_put(o);
}

static void check_names(const siod_cb_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        ENSURE(l->v[i] != NULL);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    siod_cb_answer a;
    char why[160];
    int rc = siod_cb_answer_parse((const char *)data, size, &a, why,
                                  sizeof why);

    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc == 0) {
        if (a.has_ack)
            check_args(&a.ack);
        if (a.has_data)
            ENSURE(a.data != NULL);
        check_names(&a.join);
        check_names(&a.leave);
        for (size_t i = 0; i < a.nemits; i++) {
            ENSURE(a.emits[i].event != NULL && a.emits[i].event[0] != '\0');
            check_args(&a.emits[i].args);
            check_names(&a.emits[i].rooms);
            check_names(&a.emits[i].except);
        }
    }
    siod_cb_answer_free(&a);

    /* the same bytes as received arguments, with two buffers */
    static const unsigned char b0[] = { 0, 1, 2 }, b1[] = { 0xff };
    const siod_bin bins[] = { { b0, 3 }, { b1, 1 } };
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct json_object *o = size > 0 && strlen(text) == size
                            ? siod_cb_args_to_json(text, size, bins, 2) : NULL;
    free(text);
    if (o == NULL)
        return 0;
    struct json_object *orig = siod_cb_json_parse((const char *)data, size);
    unsigned out = orig != NULL ? placeholders_ex(orig, 2, 1) : 0;
    json_object_put(orig);
    char *args = siod_cb_json_string(o, NULL);
    json_object_put(o);
    if (args == NULL)
        return 0;
    char *answer = malloc(strlen(args) + 16);
    if (answer != NULL) {
        sprintf(answer, "{\"ack\":%s}", args);
        rc = siod_cb_answer_parse(answer, strlen(answer), &a, why, sizeof why);
        /* deeper than the answer's limit, or more buffers than it takes */
        ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
        if (rc == 0)
            ENSURE(a.ack.nbins == out);
        siod_cb_answer_free(&a);
        free(answer);
    }
    free(args);
    return 0;
}
