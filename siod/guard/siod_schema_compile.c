/* Compiling a payload schema: JSON Schema text (the subset docs/schemas.md
 * lists) read with json-c into a tree of nodes (siod_guard_int.h). Every
 * keyword is checked here, once, so that checking an event never meets a
 * bad schema; a problem is reported with the JSON pointer of the keyword
 * that holds it. Pure: no logging, no globals. */
#include "core/siod_core.h"
#include "siod_guard_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64       /* nested subschemas */
#define SCHEMA_JSON_DEPTH 128     /* JSON nesting of the file */

struct cc {
    sch_ptr at;
    char *why;
    size_t cap;
};

static int bad(struct cc *c, const char *what)
{
    return siod_err_set(c->why, c->cap, -EINVAL, "%s: %s",
                        c->at.len ? c->at.buf : "(root)", what);
}

static int is_number(struct json_object *o)
{
    return json_object_is_type(o, json_type_int) ||
           json_object_is_type(o, json_type_double);
}

/* A non-negative integer keyword value (5 or 5.0) into *v. */
static int count_of(struct cc *c, struct json_object *o, long long *v)
{
    if (json_object_is_type(o, json_type_int)) {
        int64_t i = json_object_get_int64(o);
        if (i >= 0) {
            *v = i;
            return 0;
        }
    } else if (json_object_is_type(o, json_type_double)) {
        double d = json_object_get_double(o);
        if (d >= 0 && d <= 9.0e15 && floor(d) == d) {
            *v = (long long)d;
            return 0;
        }
    }
    return bad(c, "expected a non-negative integer");
}

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    { "null", SCH_T_NULL }, { "boolean", SCH_T_BOOLEAN },
    { "object", SCH_T_OBJECT }, { "array", SCH_T_ARRAY },
    { "number", SCH_T_NUMBER }, { "integer", SCH_T_INTEGER },
    { "string", SCH_T_STRING }, { "binary", SCH_T_BINARY },
};

static int type_bit(struct cc *c, struct json_object *o, unsigned *bit)
{
    if (json_object_is_type(o, json_type_string)) {
        const char *s = json_object_get_string(o);
        for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
            if (strcmp(s, type_names[i].name) == 0) {
                *bit = type_names[i].bit;
                return 0;
            }
    }
    return bad(c, "expected a type name (null, boolean, object, array, "
               "number, integer, string, binary)");
}

static int compile_node(struct cc *c, struct json_object *o, int depth,
                        sch_node **out);

/* A keyword whose value is a schema: compiled under /key. */
static int sub(struct cc *c, struct json_object *v, int depth, sch_node **out)
{
    return compile_node(c, v, depth + 1, out);
}

static int kw_type(struct cc *c, sch_node *n, struct json_object *v)
{
    unsigned bit;
    int rc;

    if (!json_object_is_type(v, json_type_array)) {
        rc = type_bit(c, v, &bit);
        if (rc == 0)
            n->types = bit;
        return rc;
    }
    size_t k = json_object_array_length(v);
    if (k == 0)
        return bad(c, "expected a type name or a non-empty array of them");
    for (size_t i = 0; i < k; i++) {
        size_t old = siod_sch_ptr_push_index(&c->at, i);
        rc = type_bit(c, json_object_array_get_idx(v, i), &bit);
        if (rc < 0)
            return rc;
        if (n->types & bit)
            return bad(c, "type listed twice");
        siod_sch_ptr_pop(&c->at, old);
        n->types |= bit;
    }
    return 0;
}

static int kw_properties(struct cc *c, sch_node *n, struct json_object *v,
                         int depth)
{
    if (!json_object_is_type(v, json_type_object))
        return bad(c, "expected an object of schemas");
    size_t k = (size_t)json_object_object_length(v);
    n->props = calloc(k ? k : 1, sizeof *n->props);
    if (n->props == NULL)
        return -ENOMEM;
    json_object_object_foreach(v, key, val) {
        struct sch_prop *p = &n->props[n->nprops];
        p->name = strdup(key);
        if (p->name == NULL)
            return -ENOMEM;
        p->len = strlen(key);
        n->nprops++;
        size_t old = siod_sch_ptr_push(&c->at, key, strlen(key));
        int rc = sub(c, val, depth, &p->node);
        if (rc < 0)
            return rc;
        siod_sch_ptr_pop(&c->at, old);
    }
    return 0;
}

static int kw_required(struct cc *c, sch_node *n, struct json_object *v)
{
    if (!json_object_is_type(v, json_type_array))
        return bad(c, "expected an array of property names");
    size_t k = json_object_array_length(v);
    n->required = calloc(k ? k : 1, sizeof *n->required);
    if (n->required == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        size_t old = siod_sch_ptr_push_index(&c->at, i);
        if (!json_object_is_type(e, json_type_string))
            return bad(c, "expected a property name (a string)");
        struct sch_prop *p = &n->required[n->nrequired];
        p->len = (size_t)json_object_get_string_len(e);
        p->name = malloc(p->len + 1);
        if (p->name == NULL)
            return -ENOMEM;
        memcpy(p->name, json_object_get_string(e), p->len + 1);
        n->nrequired++;
        if (strlen(p->name) != p->len)
            return bad(c, "a property name cannot hold U+0000");
        siod_sch_ptr_pop(&c->at, old);
    }
    return 0;
}

static int kw_prefix(struct cc *c, sch_node *n, struct json_object *v,
                     int depth)
{
    if (!json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) == 0)
        return bad(c, "expected a non-empty array of schemas");
    size_t k = json_object_array_length(v);
    n->prefix = calloc(k, sizeof *n->prefix);
    if (n->prefix == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++) {
        size_t old = siod_sch_ptr_push_index(&c->at, i);
        int rc = sub(c, json_object_array_get_idx(v, i), depth,
                     &n->prefix[i]);
        n->nprefix = i + 1;
        if (rc < 0)
            return rc;
        siod_sch_ptr_pop(&c->at, old);
    }
    return 0;
}

static int kw_pattern(struct cc *c, sch_node *n, struct json_object *v)
{
    if (!json_object_is_type(v, json_type_string))
        return bad(c, "expected a POSIX extended regular expression");
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len)
        return bad(c, "a pattern cannot hold U+0000");
    /* back-references can take exponential time: not in the dialect */
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] == '\\' && s[i + 1] >= '1' && s[i + 1] <= '9')
            return bad(c, "back-references (\\1 ... \\9) are not supported");
        if (s[i] == '\\')
            i++;
    }
    n->pattern = strdup(s);
    if (n->pattern == NULL)
        return -ENOMEM;
    int rc = regcomp(&n->re, s, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128], text[200];
        regerror(rc, &n->re, msg, sizeof msg);
        snprintf(text, sizeof text, "not a POSIX extended regular "
                 "expression: %s", msg);
        return bad(c, text);
    }
    n->has_re = 1;
    return 0;
}

static int kw_bound(struct cc *c, sch_node *n, struct json_object *v,
                    unsigned bit, double *field)
{
    if (!is_number(v))
        return bad(c, "expected a number");
    *field = json_object_get_double(v);
    n->has_bounds |= bit;
    return 0;
}

/* Annotations: accepted and ignored. */
static const char *const annotations[] = {
    "$schema", "$id", "$comment", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly"
};

/* One keyword key = v of node n (its pointer already pushed). */
static int keyword(struct cc *c, sch_node *n, const char *key,
                   struct json_object *v, int depth)
{
    if (strcmp(key, "type") == 0)
        return kw_type(c, n, v);
    if (strcmp(key, "enum") == 0) {
        if (!json_object_is_type(v, json_type_array) ||
            json_object_array_length(v) == 0)
            return bad(c, "expected a non-empty array");
        n->enums = json_object_get(v);
        return 0;
    }
    if (strcmp(key, "const") == 0) {
        n->constant = json_object_get(v);
        n->has_const = 1;
        return 0;
    }
    if (strcmp(key, "properties") == 0)
        return kw_properties(c, n, v, depth);
    if (strcmp(key, "required") == 0)
        return kw_required(c, n, v);
    if (strcmp(key, "additionalProperties") == 0)
        return sub(c, v, depth, &n->additional);
    if (strcmp(key, "items") == 0)
        return sub(c, v, depth, &n->items);
    if (strcmp(key, "prefixItems") == 0)
        return kw_prefix(c, n, v, depth);
    if (strcmp(key, "minItems") == 0)
        return count_of(c, v, &n->min_items);
    if (strcmp(key, "maxItems") == 0)
        return count_of(c, v, &n->max_items);
    if (strcmp(key, "minLength") == 0)
        return count_of(c, v, &n->min_length);
    if (strcmp(key, "maxLength") == 0)
        return count_of(c, v, &n->max_length);
    if (strcmp(key, "pattern") == 0)
        return kw_pattern(c, n, v);
    if (strcmp(key, "minimum") == 0)
        return kw_bound(c, n, v, 1, &n->minimum);
    if (strcmp(key, "maximum") == 0)
        return kw_bound(c, n, v, 2, &n->maximum);
    if (strcmp(key, "exclusiveMinimum") == 0)
        return kw_bound(c, n, v, 4, &n->xminimum);
    if (strcmp(key, "exclusiveMaximum") == 0)
        return kw_bound(c, n, v, 8, &n->xmaximum);
    for (size_t i = 0; i < sizeof annotations / sizeof annotations[0]; i++)
        if (strcmp(key, annotations[i]) == 0)
            return 0;
    return bad(c, "unknown keyword (docs/schemas.md lists those siod "
               "supports)");
}

static int compile_node(struct cc *c, struct json_object *o, int depth,
                        sch_node **out)
{
    sch_node *n;
    int rc = 0;

    *out = NULL;
    if (depth > SCHEMA_MAX_DEPTH)
        return bad(c, "subschemas nested too deep");
    if (!json_object_is_type(o, json_type_boolean) &&
        !json_object_is_type(o, json_type_object))
        return bad(c, "expected a schema (an object, true or false)");
    n = calloc(1, sizeof *n);
    if (n == NULL)
        return -ENOMEM;
    n->min_items = n->max_items = n->min_length = n->max_length = -1;
    if (json_object_is_type(o, json_type_boolean)) {
        n->boolean = json_object_get_boolean(o) ? 1 : 0;
        *out = n;
        return 0;
    }
    n->boolean = -1;
    *out = n;
    json_object_object_foreach(o, key, val) {
        size_t old = siod_sch_ptr_push(&c->at, key, strlen(key));
        rc = keyword(c, n, key, val, depth);
        if (rc < 0)
            return rc;
        siod_sch_ptr_pop(&c->at, old);
    }
    if (n->min_items >= 0 && n->max_items >= 0 && n->min_items > n->max_items)
        return bad(c, "minItems is over maxItems");
    if (n->min_length >= 0 && n->max_length >= 0 &&
        n->min_length > n->max_length)
        return bad(c, "minLength is over maxLength");
    return 0;
}

void siod_sch_node_free(sch_node *n)
{
    if (n == NULL)
        return;
    json_object_put(n->constant);
    json_object_put(n->enums);
    for (size_t i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        siod_sch_node_free(n->props[i].node);
    }
    free(n->props);
    for (size_t i = 0; i < n->nrequired; i++)
        free(n->required[i].name);
    free(n->required);
    siod_sch_node_free(n->additional);
    for (size_t i = 0; i < n->nprefix; i++)
        siod_sch_node_free(n->prefix[i]);
    free(n->prefix);
    siod_sch_node_free(n->items);
    if (n->has_re)
        regfree(&n->re);
    free(n->pattern);
    free(n);
}

int siod_schema_compile(const char *json, size_t len, siod_schema **out,
                        char *why, size_t cap)
{
    struct cc c = { { "", 0 }, why, cap };
    struct json_tokener *tok;
    struct json_object *root;
    siod_schema *sc;
    int rc;

    *out = NULL;
    if (len > (size_t)INT32_MAX)
        return siod_err_set(why, cap, -EINVAL, "(root): file too large");
    tok = json_tokener_new_ex(SCHEMA_JSON_DEPTH);
    if (tok == NULL)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (root == NULL && jerr == json_tokener_continue) {
        /* a number or literal at the very end: the NUL ends it */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    if (root == NULL || jerr != json_tokener_success) {
        json_object_put(root);
        return siod_err_set(why, cap, -EINVAL, "(root): not JSON: %s near "
                            "byte %zu", jerr == json_tokener_continue
                                ? "unexpected end"
                                : json_tokener_error_desc(jerr), used);
    }
    while (used < len && (json[used] == ' ' || json[used] == '\n' ||
                          json[used] == '\r' || json[used] == '\t'))
        used++;
    if (used < len) {
        json_object_put(root);
        return siod_err_set(why, cap, -EINVAL, "(root): not JSON: data "
                            "after the schema at byte %zu", used);
    }
    sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        json_object_put(root);
        return -ENOMEM;
    }
    rc = compile_node(&c, root, 0, &sc->root);
    json_object_put(root);
    if (rc < 0) {
        if (rc == -ENOMEM)
            siod_err_set(why, cap, rc, "out of memory");
        siod_schema_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

void siod_schema_free(siod_schema *sc)
{
    if (sc == NULL)
        return;
    siod_sch_node_free(sc->root);
    free(sc);
}
