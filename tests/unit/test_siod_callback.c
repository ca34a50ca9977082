/* Unit tests for the callback layer's JSON (siod/callback/siod_cb_json.c):
 * an answer with every action parsed (binary values back into
 * placeholders and bytes, room lists, emit targets), answers refused as a
 * whole (not JSON, wrong types, bad base64, U+0000 in a room, limits),
 * and received arguments turned into the protocol's {"_binary":...} form
 * and back. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "callback/siod_cb_int.h"

static int parse(const char *body, siod_cb_answer *a)
{
    char why[160];
    return siod_cb_answer_parse(body, strlen(body), a, why, sizeof why);
}

static void test_full_answer(void)
{
    siod_cb_answer a;
    const char *body =
        "{\"accept\":true,\"data\":{\"user\":\"al\"},\"join\":[\"a\",\"b\"],"
        "\"leave\":\"c\",\"ack\":[1,{\"_binary\":\"AAH/\"},\"x/y\"],"
        "\"emit\":[{\"event\":\"e1\"},"
        "{\"event\":\"e2\",\"to\":\"all\",\"except\":[\"x\"],\"args\":[[{\"_binary\":\"\"}]]},"
        "{\"event\":\"e3\",\"to\":\"others\"},"
        "{\"event\":\"e4\",\"to\":[\"r1\",\"r2\"],\"args\":[null]}],"
        "\"disconnect\":\"close\",\"unknown\":1}\n";

    CHECK_EQ(parse(body, &a), 0);
    CHECK_EQ(a.accept, 1);
    CHECK(a.has_data && strcmp(a.data, "{\"user\":\"al\"}") == 0);
    CHECK(a.join.n == 2 && strcmp(a.join.v[1], "b") == 0);
    CHECK(a.leave.n == 1 && strcmp(a.leave.v[0], "c") == 0);
    CHECK(a.has_ack);
    CHECK(strcmp(a.ack.json,
                 "[1,{\"_placeholder\":true,\"num\":0},\"x/y\"]") == 0);
    CHECK(a.ack.nbins == 1 && a.ack.bins[0].len == 3);
    CHECK(memcmp(a.ack.bins[0].data, "\x00\x01\xff", 3) == 0);
    CHECK_EQ(a.nemits, 4);
    CHECK(a.emits[0].to == SIOD_CB_TO_SELF && strcmp(a.emits[0].args.json,
                                                     "[]") == 0);
    CHECK(a.emits[1].to == SIOD_CB_TO_ALL && a.emits[1].except.n == 1);
    CHECK(a.emits[1].args.nbins == 1 && a.emits[1].args.bins[0].len == 0);
    CHECK(a.emits[2].to == SIOD_CB_TO_OTHERS);
    CHECK(a.emits[3].to == SIOD_CB_TO_ROOMS && a.emits[3].rooms.n == 2);
    CHECK(strcmp(a.emits[3].args.json, "[null]") == 0);
    CHECK_EQ(a.disconnect, 2);
    siod_cb_answer_free(&a);

    CHECK_EQ(parse("{\"accept\":false,\"error\":{\"message\":\"no\","
                   "\"data\":{\"why\":1}},\"data\":null}", &a), 0);
    CHECK(a.accept == 0 && strcmp(a.message, "no") == 0);
    CHECK(strcmp(a.error_data, "{\"why\":1}") == 0);
    CHECK(a.has_data && strcmp(a.data, "null") == 0);
    siod_cb_answer_free(&a);

    /* empty answers ask for nothing */
    CHECK_EQ(parse("", &a), 0);
    CHECK(a.accept == -1 && !a.has_ack && a.nemits == 0);
    siod_cb_answer_free(&a);
    CHECK_EQ(parse(" \r\n", &a), 0);
    siod_cb_answer_free(&a);
    CHECK_EQ(parse("{}", &a), 0);
    CHECK(a.accept == -1 && !a.has_data && a.disconnect == 0);
    siod_cb_answer_free(&a);
}

static void test_refused(void)
{
    static const char *const bad[] = {
        "not json", "[1]", "\"x\"", "{\"ack\":[1,", "{} {}", "{}x",
        "{\"accept\":1}", "{\"join\":42}", "{\"join\":[1]}",
        "{\"join\":[\"a\\u0000b\"]}", "{\"ack\":{}}", "{\"emit\":{}}",
        "{\"emit\":[1]}", "{\"emit\":[{}]}", "{\"emit\":[{\"event\":\"\"}]}",
        "{\"emit\":[{\"event\":\"e\",\"to\":\"nobody\"}]}",
        "{\"emit\":[{\"event\":\"e\",\"to\":5}]}",
        "{\"emit\":[{\"event\":\"e\",\"args\":\"x\"}]}",
        "{\"disconnect\":\"soon\"}", "{\"error\":5}",
        "{\"ack\":[{\"_binary\":\"not base64!\"}]}",
        "{\"ack\":[{\"_binary\":\"AAA\"}]}",
        "{\"data\":\"\xff\"}",
        "{\"ack\":[],}",
        "{\"ack\":[{\"_placeholder\":true,\"num\":0}]}",
    };
    siod_cb_answer a;
    char why[160];

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        int rc = siod_cb_answer_parse(bad[i], strlen(bad[i]), &a, why,
                                      sizeof why);
        if (rc != -EPROTO)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_EQ(rc, -EPROTO);
        CHECK(why[0] != '\0');
        siod_cb_answer_free(&a);
    }
    /* a binary marker needs exactly one member: otherwise it is data */
    CHECK_EQ(parse("{\"ack\":[{\"_binary\":\"AA==\",\"x\":1}]}", &a), 0);
    CHECK(a.ack.nbins == 0);
    siod_cb_answer_free(&a);

    /* limits */
    char *many = malloc(16 * (SIOD_CB_MAX_EMITS + 2) + 32);
    strcpy(many, "{\"emit\":[");
    for (int i = 0; i <= SIOD_CB_MAX_EMITS; i++)
        strcat(many, i ? ",{\"event\":\"e\"}" : "{\"event\":\"e\"}");
    strcat(many, "]}");
    CHECK_EQ(parse(many, &a), -EPROTO);
    siod_cb_answer_free(&a);
    free(many);
    /* nesting: as deep as siod takes from a client, not deeper */
    for (int depth = 120; depth <= 140; depth += 20) {
        char deep[400];
        size_t n = 0;
        n += (size_t)sprintf(deep, "{\"ack\":");
        memset(deep + n, '[', (size_t)depth);
        n += (size_t)depth;
        memset(deep + n, ']', (size_t)depth);
        n += (size_t)depth;
        strcpy(deep + n, "}");
        CHECK_EQ(parse(deep, &a), depth == 120 ? 0 : -EPROTO);
        siod_cb_answer_free(&a);
    }
}

static void test_args_both_ways(void)
{
    static const unsigned char b0[] = { 0, 1, 2 }, b1[] = { 0xff };
    const siod_bin bins[] = { { b0, 3 }, { b1, 1 } };
    const char *args = "[1,{\"_placeholder\":true,\"num\":1},"
                       "{\"n\":[{\"_placeholder\":true,\"num\":0}]},\"s\"]";
    struct json_object *o = siod_cb_args_to_json(args, 0, bins, 2);
    char *text, *answer;
    siod_cb_answer a;

    CHECK(o != NULL);
    text = siod_cb_json_string(o, NULL);
    CHECK(strcmp(text, "[1,{\"_binary\":\"/w==\"},{\"n\":[{\"_binary\":"
                       "\"AAEC\"}]},\"s\"]") == 0);
    json_object_put(o);
    /* what a backend echoes comes back as placeholders in text order */
    answer = malloc(strlen(text) + 16);
    sprintf(answer, "{\"ack\":%s}", text);
    CHECK_EQ(parse(answer, &a), 0);
    CHECK(strcmp(a.ack.json, "[1,{\"_placeholder\":true,\"num\":0},{\"n\":"
                             "[{\"_placeholder\":true,\"num\":1}]},\"s\"]")
          == 0);
    CHECK(a.ack.nbins == 2 && a.ack.bins[0].len == 1 &&
          a.ack.bins[1].len == 3 && memcmp(a.ack.bins[1].data, b0, 3) == 0);
    siod_cb_answer_free(&a);
    free(answer);
    free(text);

    /* arguments as deep as siod takes them from a client (128) */
    char deep[300];
    memset(deep, '[', 128);
    memset(deep + 128, ']', 128);
    deep[256] = '\0';
    o = siod_cb_args_to_json(deep, 0, NULL, 0);
    CHECK(o != NULL);
    json_object_put(o);

    /* no arguments; a placeholder past the buffers */
    o = siod_cb_args_to_json(NULL, 0, NULL, 0);
    CHECK(o != NULL && json_object_array_length(o) == 0);
    json_object_put(o);
    CHECK(siod_cb_args_to_json("[{\"_placeholder\":true,\"num\":2}]", 0,
                               bins, 2) == NULL);
    /* numbers keep their text (-0 is 0, as JSON.stringify writes it) */
    o = siod_cb_args_to_json("[1.50,1e3,-0]", 0, NULL, 0);
    text = siod_cb_json_string(o, NULL);
    CHECK(strcmp(text, "[1.50,1e3,0]") == 0);
    free(text);
    json_object_put(o);
    /* integers past 64 bits (json-c would clamp them) stay the same
     * number: read as doubles, which keep their text, with ".0" */
    o = siod_cb_args_to_json("[18446744073709551615,18446744073709551616,"
                             "-9223372036854775808,-9223372036854775809,"
                             "\"123456789012345678901\",{\"a\\\"\":"
                             "123456789012345678901}]", 0, NULL, 0);
    text = siod_cb_json_string(o, NULL);
    CHECK(strcmp(text, "[18446744073709551615,18446744073709551616.0,"
                       "-9223372036854775808,-9223372036854775809.0,"
                       "\"123456789012345678901\",{\"a\\\"\":"
                       "123456789012345678901.0}]") == 0);
    free(text);
    json_object_put(o);
}

int main(void)
{
    RUN(test_full_answer);
    RUN(test_refused);
    RUN(test_args_both_ways);
    DONE("test_siod_callback");
}
