/* Unit tests for shared/sio_json.c: the validator (grammar, UTF-8, escapes,
 * depth), the span walkers, string compare/decode and the string writer. */
#include "check.h"
#include "sio_json.h"

#include <string.h>

#define V(lit, depth, flags) \
    sio_json_validate((lit), sizeof(lit) - 1, (depth), (flags), NULL)
#define OK(lit) CHECK_EQ(V(lit, 64, 0), SIO_OK)
#define BAD(lit) CHECK_EQ(V(lit, 64, 0), SIO_EPROTO)
#define BADU(lit) CHECK_EQ(V(lit, 64, 0), SIO_EUTF8)

/* Validates s as a whole and returns its span (the test fails otherwise). */
static struct sio_json_span span_of(const char *s)
{
    struct sio_json_span v;

    CHECK_EQ(sio_json_validate(s, strlen(s), 64, 0, &v), SIO_OK);
    return v;
}

static int span_is(const struct sio_json_span *v, const char *text)
{
    return v->len == strlen(text) && memcmp(v->ptr, text, v->len) == 0;
}

static void test_valid(void)
{
    OK("{}");
    OK("[]");
    OK("\"\"");
    OK("0");
    OK("-0");
    OK("-0.0e-0");
    OK("1.5e+10");
    OK("1E5");
    OK("-12.25E-5");
    OK("123456789012345678901234567890");
    OK("true");
    OK("false");
    OK("null");
    OK(" \t\n\r[1, 2 ,3 ] \n");
    OK("{\"a\":{\"b\":[1,{\"c\":null}]}}");
    OK("{ \"a\" : 1 , \"b\" : [ ] }");
    OK("\"\\u00e9\\ud83d\\ude00\\uD83D\\uDE00\"");
    OK("\"\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    OK("[[[]]]");
    OK("[{\"a\":[{\"b\":{}}]},{}]");
    OK("[\"\x7f\"]");
    OK("{\"\":\"\"}");
    OK("{\"a\":1,\"a\":2}");
}

static void test_invalid(void)
{
    BAD("");
    BAD(" ");
    BAD("{");
    BAD("[");
    BAD("]");
    BAD("[1,]");
    BAD("[,1]");
    BAD("[1 2]");
    BAD("[1]]");
    BAD("[1]x");
    BAD("{}{}");
    BAD("{\"a\"}");
    BAD("{\"a\":}");
    BAD("{\"a\":1,}");
    BAD("{\"a\":1 \"b\":2}");
    BAD("{a:1}");
    BAD("{1:1}");
    BAD("{\"a\" 1}");
    BAD("'a'");
    BAD("01");
    BAD("-01");
    BAD("1.");
    BAD(".5");
    BAD("1e");
    BAD("1e+");
    BAD("-");
    BAD("+1");
    BAD("0x10");
    BAD("tru");
    BAD("truex");
    BAD("nul");
    BAD("True");
    BAD("NaN");
    BAD("Infinity");
    BAD("[1}");
    BAD("{\"a\":1]");
    BAD("\"abc");
    BAD("\"");
    BAD("\"\\x\"");
    BAD("\"\\u12\"");
    BAD("\"\\u12g4\"");
    BAD("\"\\");
    BAD("\"a\nb\"");
    BAD("\"a\tb\"");
    BAD("[\xc3\xa9]");
    BAD("\xef\xbb\xbf{}");          /* BOM: JSON.parse rejects it too */
    BAD("[1]/* c */");
    BAD("[1]\f");
    CHECK_EQ(sio_json_validate("[1]\0", 4, 8, 0, NULL), SIO_EPROTO);
    CHECK_EQ(sio_json_validate("\"a\0b\"", 5, 8, 0, NULL), SIO_EPROTO);
    CHECK_EQ(sio_json_validate(NULL, 0, 8, 0, NULL), SIO_EPROTO);
    CHECK_EQ(sio_json_validate(NULL, 3, 8, 0, NULL), SIO_EINVAL);
}

static void test_utf8_and_surrogates(void)
{
    BADU("\"\xff\"");
    BADU("\"\x80\"");
    BADU("\"\xc0\x80\"");             /* overlong NUL */
    BADU("\"\xc1\xbf\"");
    BADU("\"\xe0\x80\xaf\"");         /* overlong */
    BADU("\"\xed\xa0\x80\"");         /* encoded surrogate */
    BADU("\"\xf0\x80\x80\xaf\"");     /* overlong */
    BADU("\"\xf4\x90\x80\x80\"");     /* above U+10FFFF */
    BADU("\"\xf5\x80\x80\x80\"");
    BADU("\"\xe2\x82\"");             /* truncated before the quote */
    BADU("\"\xc3\"");
    BADU("\"\xc3\x28\"");
    BADU("\"\\ud800\"");
    BADU("\"\\udc00\"");
    BADU("\"\\ud800\\u0041\"");
    BADU("\"\\ud800x\"");
    BADU("\"\\ud800\\ud800\"");
    BADU("\"\\ude00\\ud83d\"");
    BADU("{\"\\ud800\":1}");          /* keys too */
    CHECK_EQ(sio_json_validate("\"\xe2\x82", 3, 8, 0, NULL), SIO_EUTF8);

    CHECK_EQ(V("\"\\ud800\"", 8, SIO_JSON_LONE_SURROGATES), SIO_OK);
    CHECK_EQ(V("\"\\udc00\\ud800\"", 8, SIO_JSON_LONE_SURROGATES), SIO_OK);
    CHECK_EQ(V("\"\\ud800\\u0041\"", 8, SIO_JSON_LONE_SURROGATES), SIO_OK);
    CHECK_EQ(V("\"\\ud800\\ude00\"", 8, SIO_JSON_LONE_SURROGATES), SIO_OK);
    /* The flag does not excuse other errors. */
    CHECK_EQ(V("\"\\ud800\\u00\"", 8, SIO_JSON_LONE_SURROGATES), SIO_EPROTO);
    CHECK_EQ(V("\"\xed\xa0\x80\"", 8, SIO_JSON_LONE_SURROGATES), SIO_EUTF8);
}

/* Writes n nested containers (alternating [ and {"k": when mixed) around 1,
 * closing them with the right brackets. Returns the length. */
static size_t nest(char *buf, size_t n, int mixed)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (mixed && i % 2) {
            memcpy(buf + o, "{\"k\":", 5);
            o += 5;
        } else {
            buf[o++] = '[';
        }
    }
    buf[o++] = '1';
    for (i = n; i-- > 0;)
        buf[o++] = mixed && i % 2 ? '}' : ']';
    return o;
}

static void test_depth(void)
{
    static char buf[1100 * 6];
    size_t n;

    CHECK_EQ(V("1", 0, 0), SIO_OK);
    CHECK_EQ(V("[]", 0, 0), SIO_ETOOBIG);
    CHECK_EQ(V("[1]", 1, 0), SIO_OK);
    CHECK_EQ(V("[[1]]", 1, 0), SIO_ETOOBIG);
    CHECK_EQ(V("[[1]]", 2, 0), SIO_OK);
    CHECK_EQ(V("[[],[],{\"a\":[]}]", 3, 0), SIO_OK);
    CHECK_EQ(V("[[],[],{\"a\":[]}]", 2, 0), SIO_ETOOBIG);
    CHECK_EQ(V("{\"a\":{\"b\":{}}}", 2, 0), SIO_ETOOBIG);

    n = nest(buf, 32, 0);
    CHECK_EQ(sio_json_validate(buf, n, 32, 0, NULL), SIO_OK);
    CHECK_EQ(sio_json_validate(buf, n, 31, 0, NULL), SIO_ETOOBIG);
    /* Past 64 levels the object/array bits cross words. */
    n = nest(buf, 301, 1);
    CHECK_EQ(sio_json_validate(buf, n, 301, 0, NULL), SIO_OK);
    CHECK_EQ(sio_json_validate(buf, n, 300, 0, NULL), SIO_ETOOBIG);
    /* A wrong closing bracket deep inside is caught. */
    buf[n - 200] = buf[n - 200] == ']' ? '}' : ']';
    CHECK_EQ(sio_json_validate(buf, n, 400, 0, NULL), SIO_EPROTO);
    /* Huge limits are clamped to SIO_JSON_MAX_DEPTH. */
    n = nest(buf, SIO_JSON_MAX_DEPTH, 1);
    CHECK_EQ(sio_json_validate(buf, n, 100000, 0, NULL), SIO_OK);
    n = nest(buf, SIO_JSON_MAX_DEPTH + 1, 1);
    CHECK_EQ(sio_json_validate(buf, n, 100000, 0, NULL), SIO_ETOOBIG);
    /* Unclosed deep nesting is malformed, not a crash. */
    memset(buf, '[', 1000);
    CHECK_EQ(sio_json_validate(buf, 1000, 2000, 0, NULL), SIO_EPROTO);
}

static void test_span_and_type(void)
{
    struct sio_json_span v;
    static const struct { const char *text; enum sio_json_type t; } cases[] = {
        { "{}", SIO_JSON_OBJECT }, { "[1]", SIO_JSON_ARRAY },
        { "\"s\"", SIO_JSON_STRING }, { "-1", SIO_JSON_NUMBER },
        { "7", SIO_JSON_NUMBER }, { "true", SIO_JSON_TRUE },
        { "false", SIO_JSON_FALSE }, { "null", SIO_JSON_NULL },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = span_of(cases[i].text);
        CHECK_EQ(v.type, cases[i].t);
        CHECK(span_is(&v, cases[i].text));
    }
    v = span_of("  [1, 2] \n");
    CHECK_EQ(v.type, SIO_JSON_ARRAY);
    CHECK(span_is(&v, "[1, 2]"));
    CHECK(strcmp(sio_json_type_name(SIO_JSON_OBJECT), "object") == 0);
    CHECK(strcmp(sio_json_type_name(SIO_JSON_NULL), "null") == 0);
    CHECK(strcmp(sio_json_type_name(SIO_JSON_NONE), "none") == 0);
}

static void test_array_iter(void)
{
    static const char *const want[] = {
        "\"a\"", "1", "{\"x\":[1,2],\"y\":\"]\"}", "[]", "null", "true",
        "false", "-2.5e3", "\"q\\\"]\"",
    };
    static const enum sio_json_type types[] = {
        SIO_JSON_STRING, SIO_JSON_NUMBER, SIO_JSON_OBJECT, SIO_JSON_ARRAY,
        SIO_JSON_NULL, SIO_JSON_TRUE, SIO_JSON_FALSE, SIO_JSON_NUMBER,
        SIO_JSON_STRING,
    };
    struct sio_json_span arr = span_of(
        "[ \"a\" , 1,{\"x\":[1,2],\"y\":\"]\"},[],null ,true,false,-2.5e3,"
        "\"q\\\"]\" ]");
    struct sio_json_iter it;
    struct sio_json_span e;
    size_t i;

    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_OK);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CHECK_EQ(sio_json_array_next(&it, &e), SIO_OK);
        CHECK_EQ(e.type, types[i]);
        CHECK(span_is(&e, want[i]));
    }
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_DONE);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_DONE);

    arr = span_of("[ ]");
    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_OK);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_DONE);

    arr = span_of("\"x\"");
    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_EINVAL);
    CHECK_EQ(sio_json_iter_init(&it, NULL), SIO_EINVAL);

    /* Unvalidated garbage: errors, never out-of-bounds reads. */
    arr.ptr = "[1 2]";
    arr.len = 5;
    arr.type = SIO_JSON_ARRAY;
    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_OK);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_OK);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_EPROTO);
    arr.ptr = "[\"abc]";
    arr.len = 6;
    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_OK);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_EPROTO);
    arr.ptr = "[[[[]";
    arr.len = 5;
    CHECK_EQ(sio_json_iter_init(&it, &arr), SIO_OK);
    CHECK_EQ(sio_json_array_next(&it, &e), SIO_EPROTO);
}

static void test_object(void)
{
    struct sio_json_span obj = span_of(
        "{\"a\":1, \"b\" : {\"a\":2}, \"c\":[\"}\"],\"a\":3}");
    struct sio_json_iter it;
    struct sio_json_span k, v;

    CHECK_EQ(sio_json_iter_init(&it, &obj), SIO_OK);
    CHECK_EQ(sio_json_object_next(&it, &k, &v), SIO_OK);
    CHECK(span_is(&k, "\"a\"") && span_is(&v, "1"));
    CHECK_EQ(sio_json_object_next(&it, &k, &v), SIO_OK);
    CHECK(span_is(&k, "\"b\"") && span_is(&v, "{\"a\":2}"));
    CHECK_EQ(k.type, SIO_JSON_STRING);
    CHECK_EQ(v.type, SIO_JSON_OBJECT);
    CHECK_EQ(sio_json_object_next(&it, &k, &v), SIO_OK);
    CHECK(span_is(&k, "\"c\"") && span_is(&v, "[\"}\"]"));
    CHECK_EQ(sio_json_object_next(&it, &k, &v), SIO_OK);
    CHECK(span_is(&v, "3"));
    CHECK_EQ(sio_json_object_next(&it, &k, &v), SIO_DONE);

    /* Last duplicate wins, nested keys do not count. */
    CHECK_EQ(sio_json_object_get(&obj, "a", 1, &v), SIO_OK);
    CHECK(span_is(&v, "3"));
    CHECK_EQ(sio_json_object_get(&obj, "b", 1, &v), SIO_OK);
    CHECK_EQ(v.type, SIO_JSON_OBJECT);
    CHECK_EQ(sio_json_object_get(&obj, "z", 1, &v), SIO_DONE);
    CHECK_EQ(sio_json_object_get(&obj, "", 0, &v), SIO_DONE);

    obj = span_of("{\"\\u0061\":5,\"\":6}");
    CHECK_EQ(sio_json_object_get(&obj, "a", 1, &v), SIO_OK);
    CHECK(span_is(&v, "5"));
    CHECK_EQ(sio_json_object_get(&obj, "", 0, &v), SIO_OK);
    CHECK(span_is(&v, "6"));

    obj = span_of("{}");
    CHECK_EQ(sio_json_object_get(&obj, "a", 1, &v), SIO_DONE);
    obj = span_of("[1]");
    CHECK_EQ(sio_json_object_get(&obj, "a", 1, &v), SIO_EINVAL);

    /* Missing colon in unvalidated text. */
    obj.ptr = "{\"a\" 1}";
    obj.len = 7;
    obj.type = SIO_JSON_OBJECT;
    CHECK_EQ(sio_json_object_get(&obj, "a", 1, &v), SIO_EPROTO);
}

static void test_span_value(void)
{
    struct sio_json_span v;

    CHECK_EQ(sio_json_span_value("\"ab\",1", 6, &v), SIO_OK);
    CHECK(span_is(&v, "\"ab\""));
    CHECK_EQ(sio_json_span_value("[1,[2]] x", 9, &v), SIO_OK);
    CHECK(span_is(&v, "[1,[2]]"));
    CHECK_EQ(sio_json_span_value("-1.5e3}", 7, &v), SIO_OK);
    CHECK(span_is(&v, "-1.5e3"));
    CHECK_EQ(v.type, SIO_JSON_NUMBER);
    CHECK_EQ(sio_json_span_value(",", 1, &v), SIO_EPROTO);
    CHECK_EQ(sio_json_span_value("", 0, &v), SIO_EPROTO);
    CHECK_EQ(sio_json_span_value("\"ab", 3, &v), SIO_EPROTO);
}

static void test_string_eq(void)
{
    struct sio_json_span s = span_of("\"abc\"");

    CHECK(sio_json_string_eq(&s, "abc", 3));
    CHECK(!sio_json_string_eq(&s, "ab", 2));
    CHECK(!sio_json_string_eq(&s, "abcd", 4));
    CHECK(!sio_json_string_eq(&s, "abd", 3));
    s = span_of("\"\"");
    CHECK(sio_json_string_eq(&s, "", 0));
    CHECK(!sio_json_string_eq(&s, "a", 1));
    s = span_of("\"a\\\"b\"");
    CHECK(sio_json_string_eq(&s, "a\"b", 3));
    CHECK(!sio_json_string_eq(&s, "a\\\"b", 4));
    s = span_of("\"a\\\\b\"");              /* JSON "a\\b" is a\b */
    CHECK(sio_json_string_eq(&s, "a\\b", 3));
    CHECK(!sio_json_string_eq(&s, "a\\\\b", 4));
    s = span_of("\"\\u00e9\"");
    CHECK(sio_json_string_eq(&s, "\xc3\xa9", 2));
    s = span_of("\"\\ud83d\\ude00!\"");
    CHECK(sio_json_string_eq(&s, "\xf0\x9f\x98\x80!", 5));
    CHECK(!sio_json_string_eq(&s, "\xf0\x9f\x98\x80", 4));
    s = span_of("\"\\u0063onnect\"");
    CHECK(sio_json_string_eq(&s, "connect", 7));
    CHECK(!sio_json_string_eq(&s, "connec", 6));
    s = span_of("\"\\u0000\"");
    CHECK(sio_json_string_eq(&s, "\0", 1));
    s = span_of("1");
    CHECK(!sio_json_string_eq(&s, "1", 1));
    CHECK(!sio_json_string_eq(NULL, "1", 1));
}

static void test_string_decode(void)
{
    struct sio_json_span s = span_of("\"h\\u00e9llo\\n\\/\\t\\\"\"");
    struct sio_json_span lone;
    char buf[64];
    size_t n = 0;

    CHECK_EQ(sio_json_string_decode(&s, buf, sizeof(buf), &n), SIO_OK);
    CHECK_EQ(n, 10);
    CHECK(memcmp(buf, "h\xc3\xa9llo\n/\t\"", 10) == 0);
    CHECK(n <= s.len - 2);
    CHECK_EQ(sio_json_string_decode(&s, buf, 9, &n), SIO_ENOSPC);
    CHECK_EQ(sio_json_string_decode(&s, buf, 10, &n), SIO_OK);

    CHECK_EQ(sio_json_validate("\"x\\ud800y\\udc00\"", 16, 4,
                               SIO_JSON_LONE_SURROGATES, &lone), SIO_OK);
    CHECK_EQ(sio_json_string_decode(&lone, buf, sizeof(buf), &n), SIO_OK);
    CHECK_EQ(n, 8);
    CHECK(memcmp(buf, "x\xef\xbf\xbdy\xef\xbf\xbd", 8) == 0);

    s = span_of("\"\"");
    CHECK_EQ(sio_json_string_decode(&s, NULL, 0, &n), SIO_OK);
    CHECK_EQ(n, 0);
    s = span_of("[]");
    CHECK_EQ(sio_json_string_decode(&s, buf, sizeof(buf), &n), SIO_EINVAL);
}

static void test_uint(void)
{
    struct sio_json_span s;
    uint64_t v = 99;

    s = span_of("0");
    CHECK_EQ(sio_json_uint(&s, 10, &v), SIO_OK);
    CHECK_EQ(v, 0);
    s = span_of("123");
    CHECK_EQ(sio_json_uint(&s, 123, &v), SIO_OK);
    CHECK_EQ(v, 123);
    CHECK_EQ(sio_json_uint(&s, 122, &v), SIO_ETOOBIG);
    s = span_of("18446744073709551615");
    CHECK_EQ(sio_json_uint(&s, UINT64_MAX, &v), SIO_OK);
    CHECK(v == UINT64_MAX);
    s = span_of("18446744073709551616");
    CHECK_EQ(sio_json_uint(&s, UINT64_MAX, &v), SIO_ETOOBIG);
    s = span_of("99999999999999999999999999");
    CHECK_EQ(sio_json_uint(&s, UINT64_MAX, &v), SIO_ETOOBIG);
    s = span_of("-1");
    CHECK_EQ(sio_json_uint(&s, 10, &v), SIO_EPROTO);
    s = span_of("-0");
    CHECK_EQ(sio_json_uint(&s, 10, &v), SIO_EPROTO);
    s = span_of("1.0");
    CHECK_EQ(sio_json_uint(&s, 10, &v), SIO_EPROTO);
    s = span_of("1e2");
    CHECK_EQ(sio_json_uint(&s, 1000, &v), SIO_EPROTO);
    s = span_of("\"1\"");
    CHECK_EQ(sio_json_uint(&s, 10, &v), SIO_EPROTO);
}

/* Writes s[0..n) and checks the exact output, its size, and the round trip
 * through the validator and the decoder. */
static void write_is(const char *s, size_t n, const char *want)
{
    char buf[256], back[256];
    size_t len = 0, blen = 0;
    struct sio_json_span v;

    CHECK_EQ(sio_json_string_size(s, n), strlen(want));
    CHECK_EQ(sio_json_write_string(s, n, buf, sizeof(buf), &len), SIO_OK);
    CHECK_EQ(len, strlen(want));
    CHECK(memcmp(buf, want, len) == 0);
    CHECK_EQ(sio_json_validate(buf, len, 1, 0, &v), SIO_OK);
    CHECK_EQ(v.type, SIO_JSON_STRING);
    CHECK_EQ(sio_json_string_decode(&v, back, sizeof(back), &blen), SIO_OK);
    CHECK_EQ(blen, n);
    CHECK(memcmp(back, s, n) == 0);
    CHECK(sio_json_string_eq(&v, s, n));
}

static void test_writer(void)
{
    char buf[64], in[1];
    size_t len = 0;
    unsigned c;

    write_is("", 0, "\"\"");
    write_is("abc", 3, "\"abc\"");
    write_is("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    write_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    write_is("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    write_is("\0", 1, "\"\\u0000\"");
    write_is("\x7f/<>", 4, "\"\x7f/<>\"");
    write_is("\xc3\xa9\xf0\x9f\x98\x80", 6, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
    write_is("\x0b\x1b", 2, "\"\\u000b\\u001b\"");

    /* Every ASCII byte survives the round trip. */
    for (c = 0; c < 0x80; c++) {
        in[0] = (char)c;
        CHECK_EQ(sio_json_write_string(in, 1, buf, sizeof(buf), &len), SIO_OK);
        CHECK_EQ(len, sio_json_string_size(in, 1));
        CHECK_EQ(sio_json_validate(buf, len, 0, 0, NULL), SIO_OK);
    }

    CHECK_EQ(sio_json_write_string("abc", 3, buf, 4, &len), SIO_ENOSPC);
    CHECK_EQ(len, 5);
    CHECK_EQ(sio_json_write_string("abc", 3, buf, 5, &len), SIO_OK);
    CHECK_EQ(sio_json_write_string("\xff", 1, buf, sizeof(buf), &len),
             SIO_EUTF8);
    CHECK_EQ(sio_json_write_string("a\xed\xa0\x80", 4, buf, sizeof(buf), &len),
             SIO_EUTF8);
    CHECK_EQ(sio_json_write_string("\xe2\x82", 2, buf, sizeof(buf), &len),
             SIO_EUTF8);
    CHECK_EQ(sio_json_write_string(NULL, 0, buf, sizeof(buf), &len), SIO_OK);
    CHECK_EQ(len, 2);
    CHECK_EQ(sio_json_write_string(NULL, 1, buf, sizeof(buf), &len),
             SIO_EINVAL);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_invalid);
    RUN(test_utf8_and_surrogates);
    RUN(test_depth);
    RUN(test_span_and_type);
    RUN(test_array_iter);
    RUN(test_object);
    RUN(test_span_value);
    RUN(test_string_eq);
    RUN(test_string_decode);
    RUN(test_uint);
    RUN(test_writer);
    DONE("test_sio_json");
}
