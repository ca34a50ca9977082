/* Unit tests for the payload schemas of siod/guard/: compiling (every
 * keyword of the subset, and the JSON pointer of each kind of problem),
 * checking instances (each keyword passing and failing, with the failing
 * instance's pointer), binary placeholders, event names as file names, and
 * loading a schema directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/siod_core.h"
#include "guard/siod_guard.h"

static siod_schema *compile_ok(const char *schema)
{
    siod_schema *sc = NULL;
    char why[600];
    int rc = siod_schema_compile(schema, strlen(schema), &sc, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "schema %s: %s\n", schema, why);
    CHECK_EQ(rc, 0);
    CHECK(sc != NULL);
    return sc;
}

/* The schema fails to compile with a message beginning with prefix. */
static void compile_bad(const char *schema, const char *prefix)
{
    siod_schema *sc = NULL;
    char why[600];
    int rc = siod_schema_compile(schema, strlen(schema), &sc, why, sizeof why);
    CHECK_EQ(rc, -EINVAL);
    CHECK(sc == NULL);
    if (strncmp(why, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "schema %s: got \"%s\", want \"%s...\"\n", schema,
                why, prefix);
    CHECK(strncmp(why, prefix, strlen(prefix)) == 0);
}

static int check_with(const char *schema, const char *inst,
                      const size_t *lens, unsigned nbins,
                      siod_schema_fail *f)
{
    siod_schema *sc = compile_ok(schema);
    int rc = siod_schema_check(sc, inst, strlen(inst), lens, nbins, f);
    siod_schema_free(sc);
    return rc;
}

static void pass(const char *schema, const char *inst)
{
    siod_schema_fail f;
    int rc = check_with(schema, inst, NULL, 0, &f);
    if (rc != 0)
        fprintf(stderr, "%s against %s: %s: %s\n", inst, schema, f.path,
                f.why);
    CHECK_EQ(rc, 0);
}

/* inst fails schema at instance pointer path, the reason holding word. */
static void refuse(const char *schema, const char *inst, const char *path,
                   const char *word)
{
    siod_schema_fail f;
    int rc = check_with(schema, inst, NULL, 0, &f);
    if (rc != -EINVAL || strcmp(f.path, path) != 0 ||
        strstr(f.why, word) == NULL)
        fprintf(stderr, "%s against %s: rc %d, \"%s\": \"%s\"; want \"%s\" "
                "with \"%s\"\n", inst, schema, rc, f.path, f.why, path, word);
    CHECK_EQ(rc, -EINVAL);
    CHECK(strcmp(f.path, path) == 0);
    CHECK(strstr(f.why, word) != NULL);
}

static void test_types(void)
{
    pass("true", "[1,\"a\",null]");
    refuse("false", "[]", "", "false schema");
    pass("{}", "[{\"x\":1}]");
    pass("{\"type\":\"array\"}", "[]");
    refuse("{\"type\":\"object\"}", "[]", "", "expected object, got array");
    pass("{\"items\":{\"type\":\"integer\"}}", "[1,2.0,-3,1e2]");
    refuse("{\"items\":{\"type\":\"integer\"}}", "[1,2.5]", "/1",
           "expected integer, got number");
    pass("{\"items\":{\"type\":\"number\"}}", "[1,2.5]");
    pass("{\"items\":{\"type\":[\"string\",\"null\"]}}", "[\"a\",null]");
    refuse("{\"items\":{\"type\":[\"string\",\"null\"]}}", "[true]", "/0",
           "expected null or string, got boolean");
    pass("{\"items\":{\"type\":\"boolean\"}}", "[true,false]");
    refuse("{\"items\":{\"type\":\"null\"}}", "[0]", "/0", "got integer");
}

static void test_const_enum(void)
{
    pass("{\"prefixItems\":[{\"const\":\"hi\"}]}", "[\"hi\"]");
    refuse("{\"prefixItems\":[{\"const\":\"hi\"}]}", "[\"ho\"]", "/0",
           "const");
    pass("{\"prefixItems\":[{\"const\":1}]}", "[1.0]");
    pass("{\"prefixItems\":[{\"const\":null}]}", "[null]");
    refuse("{\"prefixItems\":[{\"const\":null}]}", "[0]", "/0", "const");
    pass("{\"prefixItems\":[{\"const\":{\"a\":[1,{\"b\":2}],\"c\":3}}]}",
         "[{\"c\":3,\"a\":[1,{\"b\":2}]}]");
    refuse("{\"prefixItems\":[{\"const\":{\"a\":[1]}}]}",
           "[{\"a\":[1],\"b\":0}]", "/0", "const");
    pass("{\"items\":{\"enum\":[\"red\",\"green\",2]}}", "[\"green\",2]");
    refuse("{\"items\":{\"enum\":[\"red\",\"green\"]}}", "[\"red\",\"blue\"]",
           "/1", "enum");
}

static void test_objects(void)
{
    const char *s = "{\"prefixItems\":[{\"type\":\"object\","
                    "\"properties\":{\"text\":{\"type\":\"string\"},"
                    "\"to\":{\"type\":\"string\"}},"
                    "\"required\":[\"text\"],"
                    "\"additionalProperties\":false}]}";
    pass(s, "[{\"text\":\"hi\"}]");
    pass(s, "[{\"text\":\"hi\",\"to\":\"bob\"}]");
    refuse(s, "[{\"to\":\"bob\"}]", "/0", "\"text\" is missing");
    refuse(s, "[{\"text\":1}]", "/0/text", "expected string");
    refuse(s, "[{\"text\":\"a\",\"x\":1}]", "/0/x", "additionalProperties");
    /* additionalProperties as a schema */
    pass("{\"items\":{\"additionalProperties\":{\"type\":\"number\"}}}",
         "[{\"a\":1,\"b\":2}]");
    refuse("{\"items\":{\"additionalProperties\":{\"type\":\"number\"}}}",
           "[{\"a\":1,\"b\":\"2\"}]", "/0/b", "expected number");
    /* keys needing JSON pointer escapes */
    refuse("{\"items\":{\"properties\":{\"a/b~c\":{\"type\":\"null\"}}}}",
           "[{\"a/b~c\":1}]", "/0/a~1b~0c", "expected null");
    /* object keywords ignore other types */
    pass("{\"required\":[\"x\"]}", "[]");
    /* a key given twice: the last one counts, as for the application */
    refuse("{\"items\":{\"properties\":{\"n\":{\"type\":\"string\"}}}}",
           "[{\"n\":\"ok\",\"n\":1}]", "/0/n", "expected string");
}

static void test_arrays(void)
{
    const char *s = "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},"
                    "{\"type\":\"number\"}],\"items\":false,\"minItems\":1}";
    pass(s, "[\"a\"]");
    pass(s, "[\"a\",2]");
    refuse(s, "[]", "", "fewer than 1 items");
    refuse(s, "[\"a\",2,3]", "/2", "items");
    refuse(s, "[1]", "/0", "expected string");
    pass("{\"maxItems\":2}", "[1,2]");
    refuse("{\"maxItems\":2}", "[1,2,3]", "", "more than 2 items");
    pass("{\"items\":{\"items\":{\"type\":\"integer\"}}}", "[[1,2],[3]]");
    refuse("{\"items\":{\"items\":{\"type\":\"integer\"}}}", "[[1,2],[3,\"x\"]]",
           "/1/1", "expected integer");
}

static void test_strings(void)
{
    pass("{\"items\":{\"minLength\":2,\"maxLength\":3}}", "[\"ab\",\"abc\"]");
    refuse("{\"items\":{\"minLength\":2}}", "[\"a\"]", "/0", "minLength");
    refuse("{\"items\":{\"maxLength\":3}}", "[\"abcd\"]", "/0", "maxLength");
    /* lengths count code points: é is 2 bytes, one character */
    pass("{\"items\":{\"maxLength\":3}}", "[\"\\u00e9t\\u00e9\"]");
    pass("{\"items\":{\"maxLength\":1}}", "[\"\xf0\x9f\x98\x80\"]");
    pass("{\"items\":{\"pattern\":\"^[a-z]+$\"}}", "[\"abc\"]");
    refuse("{\"items\":{\"pattern\":\"^[a-z]+$\"}}", "[\"abc\",\"aBc\"]", "/1",
           "does not match pattern ^[a-z]+$");
    /* unanchored, as JSON Schema's */
    pass("{\"items\":{\"pattern\":\"b\"}}", "[\"abc\"]");
    refuse("{\"items\":{\"pattern\":\"b\"}}", "[\"a\\u0000b\"]", "/0",
           "U+0000");
    pass("{\"items\":{\"pattern\":\"^(ab|cd){2}$\"}}", "[\"abcd\"]");
}

static void test_numbers(void)
{
    const char *s = "{\"items\":{\"minimum\":0,\"maximum\":10}}";
    pass(s, "[0,10,5.5]");
    refuse(s, "[-1]", "/0", "below minimum 0");
    refuse(s, "[10.01]", "/0", "above maximum 10");
    pass("{\"items\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}}",
         "[0.5]");
    refuse("{\"items\":{\"exclusiveMinimum\":0}}", "[0]", "/0",
           "exclusiveMinimum");
    refuse("{\"items\":{\"exclusiveMaximum\":1}}", "[1]", "/0",
           "exclusiveMaximum");
    /* number keywords ignore strings */
    pass(s, "[\"100\"]");
}

static void test_binary(void)
{
    const char *s = "{\"prefixItems\":[{\"type\":\"binary\",\"maxLength\":4},"
                    "{\"type\":\"object\"}]}";
    const char *inst = "[{\"_placeholder\":true,\"num\":0},{\"a\":1}]";
    size_t small[1] = { 4 }, big[1] = { 5 };
    siod_schema_fail f;

    CHECK_EQ(check_with(s, inst, small, 1, &f), 0);
    CHECK_EQ(check_with(s, inst, big, 1, &f), -EINVAL);
    CHECK(strcmp(f.path, "/0") == 0);
    CHECK(strstr(f.why, "binary longer than 4 bytes") != NULL);
    /* a placeholder-shaped object without an attachment is an object */
    CHECK_EQ(check_with(s, inst, NULL, 0, &f), -EINVAL);
    CHECK(strstr(f.why, "expected binary, got object") != NULL);
    /* a binary is no object, nor a string */
    CHECK_EQ(check_with("{\"items\":{\"type\":\"object\"}}",
                        "[{\"_placeholder\":true,\"num\":0}]", small, 1, &f),
             -EINVAL);
    CHECK(strstr(f.why, "got binary") != NULL);
    CHECK_EQ(check_with("{\"items\":{\"type\":\"string\"}}",
                        "[{\"_placeholder\":true,\"num\":0}]", small, 1, &f),
             -EINVAL);
    /* without "type", a binary passes the keywords of other types */
    CHECK_EQ(check_with("{\"items\":{\"required\":[\"x\"],\"pattern\":\"z\"}}",
                        "[{\"_placeholder\":true,\"num\":0}]", small, 1, &f),
             0);
    /* and never equals a const or enum value */
    CHECK_EQ(check_with("{\"items\":{\"enum\":[{\"_placeholder\":true,"
                        "\"num\":0}]}}",
                        "[{\"_placeholder\":true,\"num\":0}]", small, 1, &f),
             -EINVAL);
}

static void test_instance_errors(void)
{
    siod_schema *sc = compile_ok("true");
    siod_schema_fail f;
    CHECK_EQ(siod_schema_check(sc, "[1,", 3, NULL, 0, &f), -EPROTO);
    CHECK_EQ(siod_schema_check(sc, "[1] x", 5, NULL, 0, &f), -EPROTO);
    /* deeper than 129 levels */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    CHECK_EQ(siod_schema_check(sc, deep, sizeof deep, NULL, 0, &f), -EPROTO);
    CHECK_EQ(siod_schema_check(sc, deep + 80, 240, NULL, 0, &f), 0);
    siod_schema_free(sc);
}

static void test_compile_errors(void)
{
    compile_bad("", "(root): not JSON");
    compile_bad("{\"type\":\"string\"} x", "(root): not JSON");
    compile_bad("[]", "(root): expected a schema");
    compile_bad("{\"type\":\"text\"}", "/type: expected a type name");
    compile_bad("{\"type\":[\"string\",\"string\"]}", "/type/1: type listed");
    compile_bad("{\"type\":[\"string\",3]}", "/type/1: expected a type name");
    compile_bad("{\"$ref\":\"#/x\"}", "/$ref: unknown keyword");
    compile_bad("{\"properties\":{\"a\":{\"maxLenght\":3}}}",
                "/properties/a/maxLenght: unknown keyword");
    compile_bad("{\"properties\":{\"a/b\":{\"minLength\":-1}}}",
                "/properties/a~1b/minLength: expected a non-negative");
    compile_bad("{\"minItems\":1.5}", "/minItems: expected a non-negative");
    compile_bad("{\"required\":[\"a\",1]}", "/required/1: expected a property");
    compile_bad("{\"prefixItems\":[true,{\"type\":1}]}",
                "/prefixItems/1/type: expected a type name");
    compile_bad("{\"prefixItems\":[]}", "/prefixItems: expected a non-empty");
    compile_bad("{\"items\":3}", "/items: expected a schema");
    compile_bad("{\"pattern\":\"(a\"}", "/pattern: not a POSIX extended");
    compile_bad("{\"pattern\":\"(a)\\\\1\"}", "/pattern: back-references");
    compile_bad("{\"minimum\":\"1\"}", "/minimum: expected a number");
    compile_bad("{\"enum\":[]}", "/enum: expected a non-empty array");
    compile_bad("{\"minLength\":3,\"maxLength\":2}", "(root): minLength is");
    compile_bad("{\"items\":{\"minItems\":3,\"maxItems\":2}}",
                "/items: minItems is over maxItems");
    /* annotations are accepted */
    siod_schema_free(compile_ok("{\"$schema\":\"https://json-schema.org/"
                                "draft/2020-12/schema\",\"title\":\"t\","
                                "\"description\":\"d\",\"examples\":[[1]]}"));
    /* nesting deeper than 64 subschemas */
    char deep[2000];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(deep + n, "{\"items\":");
    n += (size_t)sprintf(deep + n, "true");
    for (int i = 0; i < 70; i++)
        deep[n++] = '}';
    deep[n] = '\0';
    siod_schema *sc = NULL;
    char why[600];
    CHECK_EQ(siod_schema_compile(deep, n, &sc, why, sizeof why), -EINVAL);
    CHECK(strstr(why, "nested too deep") != NULL);
}

static void test_names(void)
{
    char out[64];
    CHECK_EQ(siod_schema_name_decode("chat%20message", 14, out, sizeof out),
             12);
    CHECK(strcmp(out, "chat message") == 0);
    CHECK_EQ(siod_schema_name_decode("a%2Fb%2fc", 9, out, sizeof out), 5);
    CHECK(strcmp(out, "a/b/c") == 0);
    CHECK_EQ(siod_schema_name_decode("%C3%A9t%C3%A9", 13, out, sizeof out), 5);
    CHECK_EQ(siod_schema_name_decode("a%2", 3, out, sizeof out), -EINVAL);
    CHECK_EQ(siod_schema_name_decode("a%zz", 4, out, sizeof out), -EINVAL);
    CHECK_EQ(siod_schema_name_decode("a%00", 4, out, sizeof out), -EINVAL);
    CHECK_EQ(siod_schema_name_decode("%FF", 3, out, sizeof out), -EINVAL);
    CHECK_EQ(siod_schema_name_decode("", 0, out, sizeof out), -EINVAL);
    CHECK_EQ(siod_schema_name_decode("abcdef", 6, out, 4), -ENAMETOOLONG);

    CHECK_EQ(siod_schema_name_encode("chat message", 12, out, sizeof out), 14);
    CHECK(strcmp(out, "chat%20message") == 0);
    CHECK(siod_schema_name_encode(".hidden/x%", 10, out, sizeof out) > 0);
    CHECK(strcmp(out, "%2Ehidden%2Fx%25") == 0);
    CHECK(siod_schema_name_encode("v1.2_a-b", 8, out, sizeof out) > 0);
    CHECK(strcmp(out, "v1.2_a-b") == 0);
    CHECK_EQ(siod_schema_name_encode("\xc3\xa9", 2, out, 6), -ENAMETOOLONG);
    /* every byte but NUL round-trips */
    for (int c = 1; c < 256; c++) {
        char name[3] = { 'x', (char)c, 0 }, file[16], back[8];
        int n = siod_schema_name_encode(name, 2, file, sizeof file);
        CHECK(n > 0);
        int m = siod_schema_name_decode(file, (size_t)n, back, sizeof back);
        if (c < 0x80) {
            CHECK_EQ(m, 2);
            CHECK(memcmp(back, name, 2) == 0);
        } else {
            CHECK_EQ(m, -EINVAL);   /* a lone byte >= 0x80 is no UTF-8 */
        }
    }
}

static void put(const char *dir, const char *file, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void test_dir(void)
{
    char dir[] = "/tmp/siod-schema-test-XXXXXX", why[1200];
    CHECK(mkdtemp(dir) != NULL);
    put(dir, "chat%20message.json", "{\"prefixItems\":[{\"type\":\"string\"}]}");
    put(dir, "ping.json", "true");
    put(dir, ".swap.json", "not json");
    put(dir, "README", "not a schema");
    CHECK_EQ(siod_schemas_load(dir, why, sizeof why), 2);
    CHECK_EQ(siod_schemas_count(), 2);
    CHECK(siod_schemas_find("chat message", 12) != NULL);
    CHECK(siod_schemas_find("ping", 4) != NULL);
    CHECK(siod_schemas_find("pong", 4) == NULL);
    CHECK(siod_schemas_find("chat%20message", 14) == NULL);
    /* siod seeds its hashes after the schemas are loaded */
    siod_hash_seed();
    CHECK(siod_schemas_find("chat message", 12) != NULL);

    /* one bad file: the load fails whole, naming it and the pointer */
    put(dir, "bad.json", "{\"items\":{\"type\":\"strin\"}}");
    CHECK_EQ(siod_schemas_load(dir, why, sizeof why), -EINVAL);
    CHECK(strstr(why, "/bad.json: /items/type: expected a type name") != NULL);
    CHECK_EQ(siod_schemas_count(), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    unlink(path);
    /* two spellings of one name */
    put(dir, "ping%2E.json", "true");
    put(dir, "ping..json", "true");
    CHECK_EQ(siod_schemas_load(dir, why, sizeof why), -EINVAL);
    CHECK(strstr(why, "a second file for event \"ping.\"") != NULL);
    snprintf(path, sizeof path, "%s/ping..json", dir);
    unlink(path);
    put(dir, "bad%zz.json", "true");
    CHECK_EQ(siod_schemas_load(dir, why, sizeof why), -EINVAL);
    CHECK(strstr(why, "bad%zz.json: not an event name") != NULL);
    CHECK_EQ(siod_schemas_load("/nonexistent/schemas", why, sizeof why),
             -ENOENT);
    siod_schemas_cleanup();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    RUN(test_types);
    RUN(test_const_enum);
    RUN(test_objects);
    RUN(test_arrays);
    RUN(test_strings);
    RUN(test_numbers);
    RUN(test_binary);
    RUN(test_instance_errors);
    RUN(test_compile_errors);
    RUN(test_names);
    RUN(test_dir);
    DONE("test_siod_schema");
}
