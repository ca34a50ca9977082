/* The guard layer's private structs: a compiled schema is a tree of nodes
 * that siod_schema_compile.c builds and siod_schema_check.c walks. */
#ifndef SIOD_GUARD_INT_H
#define SIOD_GUARD_INT_H

#include <regex.h>
#include <stddef.h>

#include "siod_guard.h"

struct json_object;

/* Instance types a node's "type" may allow: one bit each. */
enum {
    SCH_T_NULL = 1u << 0,
    SCH_T_BOOLEAN = 1u << 1,
    SCH_T_OBJECT = 1u << 2,
    SCH_T_ARRAY = 1u << 3,
    SCH_T_NUMBER = 1u << 4,
    SCH_T_INTEGER = 1u << 5,      /* a number without fraction */
    SCH_T_STRING = 1u << 6,
    SCH_T_BINARY = 1u << 7        /* a binary argument (placeholder) */
};

typedef struct sch_node sch_node;

struct sch_prop {
    char *name;                   /* decoded; may hold no NUL */
    size_t len;
    sch_node *node;
};

/* One schema (or subschema). A boolean schema is a node with only
 * `boolean` set; an absent keyword leaves its field at "none". */
struct sch_node {
    int boolean;                  /* -1: an object schema; 0 false; 1 true */
    unsigned types;               /* SCH_T_* allowed; 0: any */
    struct json_object *constant; /* "const" (owned), or NULL */
    int has_const;                /* "const": null is a value too */
    struct json_object *enums;    /* "enum": an array (owned), or NULL */
    /* objects */
    struct sch_prop *props;       /* "properties" */
    size_t nprops;
    struct sch_prop *required;    /* "required" (node unused) */
    size_t nrequired;
    sch_node *additional;         /* "additionalProperties", or NULL */
    /* arrays */
    sch_node **prefix;            /* "prefixItems" */
    size_t nprefix;
    sch_node *items;              /* "items": past the prefix, or NULL */
    long long min_items, max_items;        /* -1: none */
    /* strings (code points) and binaries (bytes) */
    long long min_length, max_length;      /* -1: none */
    regex_t re;                   /* "pattern" */
    int has_re;
    char *pattern;                /* its source, for messages */
    /* numbers */
    double minimum, maximum, xminimum, xmaximum;
    unsigned has_bounds;          /* bits: 1 min, 2 max, 4 xmin, 8 xmax */
};

struct siod_schema {
    sch_node *root;
};

/* Frees a node tree; NULL is a no-op. Called by siod_schema_compile.c's
 * failure path and siod_schema_free. */
void siod_sch_node_free(sch_node *n);

/* A JSON pointer being built while a schema or an instance is walked. */
typedef struct sch_ptr {
    char buf[512];
    size_t len;
} sch_ptr;

/* Appends "/tok" (RFC 6901 escapes: ~0, ~1) to p, or "/i" for an index;
 * returns the old length for siod_sch_ptr_pop. A pointer too long for the
 * buffer ends in "...". In siod_schema_check.c; compile uses them too. */
size_t siod_sch_ptr_push(sch_ptr *p, const char *tok, size_t len);
size_t siod_sch_ptr_push_index(sch_ptr *p, size_t i);
void siod_sch_ptr_pop(sch_ptr *p, size_t old);

#endif
