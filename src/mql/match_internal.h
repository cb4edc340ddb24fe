/*
 * match_internal.h — the parsed form of a query filter (a tree of match nodes)
 * shared by the matcher's parser, evaluator, validator-details builder and the
 * find projection.  Internal to src/mql/.
 *
 * Ownership: a duet_match_t owns `filter` (a copy of the user's filter) and
 * the node tree.  Every bson_value_t inside a node (`value`, `in_values`)
 * points into `filter` and is never destroyed on its own.  Node paths, child
 * arrays, compiled regexes, $expr trees and $jsonSchema trees are owned by
 * their node and freed by match_node_destroy().
 */
#ifndef DUET_MQL_MATCH_INTERNAL_H
#define DUET_MQL_MATCH_INTERNAL_H

#include <duet/mql_expr.h>
#include <duet/mql_match.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef enum match_kind {
   MATCH_AND,          /* children; empty AND is always true */
   MATCH_OR,           /* children */
   MATCH_NOR,          /* children */
   MATCH_NOT,          /* one child */
   MATCH_ALWAYS_FALSE, /* $all: [] and friends */
   MATCH_EQ,           /* path, value */
   MATCH_LT,
   MATCH_LTE,
   MATCH_GT,
   MATCH_GTE,
   MATCH_IN,          /* path, in_values (+ in_regexes) */
   MATCH_REGEX,       /* path, regex */
   MATCH_EXISTS,      /* path */
   MATCH_TYPE,        /* path, type_mask / type_number */
   MATCH_SIZE,        /* path, size */
   MATCH_MOD,         /* path, divisor, remainder */
   MATCH_ELEM_OBJECT, /* path, one child matched against each object element */
   MATCH_ELEM_VALUE,  /* path, children matched against each element */
   MATCH_EXPR,        /* expr */
   MATCH_JSON_SCHEMA, /* schema */
} match_kind_t;

typedef struct match_regex {
   pcre2_code *code;    /* owned */
   const char *pattern; /* borrowed from the filter copy or owned_text */
   char *owned_pattern; /* owned copy when the pattern did not come from a BSON regex */
   char options[8];     /* normalized flags, e.g. "im" */
} match_regex_t;

typedef struct duet_jsonschema duet_jsonschema_t; /* jsonschema_internal.h */

typedef struct match_node {
   match_kind_t kind;
   char *path;                   /* owned dotted path; NULL for logical / $expr / $jsonSchema */
   bson_value_t value;           /* comparison operand, borrowed from the filter copy */
   struct match_node **children; /* owned */
   size_t child_count;
   match_regex_t *regex;    /* MATCH_REGEX: owned */
   bson_value_t *in_values; /* MATCH_IN: owned array of borrowed values (non-regex) */
   size_t in_count;
   match_regex_t **in_regexes; /* MATCH_IN: owned */
   size_t in_regex_count;
   bool in_has_null;           /* MATCH_IN: null among the values (matches missing) */
   uint64_t type_mask;         /* MATCH_TYPE: bit per bson_type_t (bit 0 = "number") */
   int64_t size;               /* MATCH_SIZE */
   int64_t divisor, remainder; /* MATCH_MOD */
   duet_expr_t *expr;          /* MATCH_EXPR: owned */
   duet_jsonschema_t *schema;  /* MATCH_JSON_SCHEMA: owned */
   const char *op_name;        /* "$gt", "$in", ... for validation details */
   bson_value_t spec;          /* operand as written (borrowed), for details' specifiedAs */
} match_node_t;

struct duet_match {
   bson_t *filter;          /* owned copy of the parsed filter (heap: bson_t needs 128-byte alignment) */
   match_node_t *root;      /* owned */
   const char *placeholder; /* arrayFilters identifier (== placeholder_owned), or NULL */
   char *placeholder_owned; /* owned */
};

/* ---- nodes (match_parse.c) ---- */
match_node_t *match_node_new(match_kind_t kind, const char *path);
void match_node_add_child(match_node_t *parent, match_node_t *child);
void match_node_destroy(match_node_t *node);

/* Parses a filter document into a node tree.  `sub_document` is true inside
 * $elemMatch (where $expr is refused). */
bool match_parse_document(const bson_t *filter, unsigned features, bool sub_document, match_node_t **out,
                          duet_error_t *error);

/* Same, with the variables $expr may use (scope may be NULL). */
bool match_parse_with_scope(const bson_t *filter, unsigned features, const duet_expr_scope_t *scope, match_node_t **out,
                            duet_error_t *error);

/* ---- regexes (match_regex.c) ---- */
/* Compiles pattern/options (both borrowed; `options` may be NULL). */
bool match_regex_compile(const char *pattern, const char *options, match_regex_t **out, duet_error_t *error);
void match_regex_destroy(match_regex_t *regex);
/* True when a string/symbol value matches, or a regex value equals pattern and flags. */
bool match_regex_matches_value(const match_regex_t *regex, const bson_value_t *value);
/* Matches a UTF-8 string of `length` bytes. */
bool match_regex_matches_string(const match_regex_t *regex, const char *text, size_t length);

/* ---- evaluation (match_eval.c) ---- */
typedef struct match_context {
   const duet_expr_env_t *env; /* for $expr; may be NULL */
   duet_error_t *error;        /* where a failing $expr reports */
   bool failed;                /* sticky: set once an $expr failed */
} match_context_t;

/* Matches a node against a document; `details` may be NULL. */
bool match_node_matches_doc(const match_node_t *node, const bson_t *doc, match_context_t *context,
                            duet_match_details_t *details);
/* Matches a node against one value as MongoDB's matchesSingleElement (no path walk);
 * value_type EOD means missing. */
bool match_node_matches_single(const match_node_t *node, const bson_value_t *value, match_context_t *context);

/* Calls `visit` for every value at dotted `path` in `doc` the way MongoDB's
 * element iterator does: through embedded documents, into arrays (each element,
 * numeric components as indexes), and at the leaf each array element then the
 * array itself when `expand_leaf_arrays`.  A missing field yields one EOD value.
 * `array_index` is the index in the first array traversed, or -1.
 * Stops and returns true as soon as `visit` returns true. */
typedef bool (*match_visit_fn)(const bson_value_t *value, int64_t array_index, void *data);
bool match_path_visit(const bson_t *doc, const char *path, bool expand_leaf_arrays, match_visit_fn visit, void *data);

/* Compares as MongoDB's ComparisonMatchExpression (type brackets, null/missing, NaN). */
bool match_compare_matches(match_kind_t kind, const bson_value_t *operand, const bson_value_t *value);

/* ---- $jsonSchema (jsonschema_parse.c / jsonschema_eval.c) ---- */
bool duet_jsonschema_parse(const bson_t *schema, duet_jsonschema_t **out, duet_error_t *error);
void duet_jsonschema_destroy(duet_jsonschema_t *schema);
bool duet_jsonschema_matches(const duet_jsonschema_t *schema, const bson_t *doc);
/* Appends errInfo.details for a failing document to `details` (already initialized). */
void duet_jsonschema_explain(const duet_jsonschema_t *schema, const bson_t *doc, bson_t *details);

/* ---- building BSON arrays element by element (libbson 1.23 has no array builder) ---- */
typedef struct rule_list {
   bson_t array;   /* the child array being appended to its parent */
   uint32_t count; /* next index */
} rule_list_t;

static inline void list_begin(bson_t *parent, const char *key, rule_list_t *list)
{
   bson_append_array_begin(parent, key, -1, &list->array);
   list->count = 0;
}

static inline void list_end(bson_t *parent, rule_list_t *list)
{
   bson_append_array_end(parent, &list->array);
}

static inline const char *list_next_key(rule_list_t *list, char buffer[16])
{
   const char *key;
   bson_uint32_to_string(list->count++, &key, buffer, 16);
   return key;
}

static inline void list_doc_begin(rule_list_t *list, bson_t *child)
{
   char buffer[16];
   bson_append_document_begin(&list->array, list_next_key(list, buffer), -1, child);
}

static inline void list_doc_end(rule_list_t *list, bson_t *child)
{
   bson_append_document_end(&list->array, child);
}

static inline void list_append_value(rule_list_t *list, const bson_value_t *value)
{
   char buffer[16];
   bson_append_value(&list->array, list_next_key(list, buffer), -1, value);
}

static inline void list_append_utf8(rule_list_t *list, const char *text)
{
   char buffer[16];
   bson_append_utf8(&list->array, list_next_key(list, buffer), -1, text, -1);
}

static inline void list_append_int32(rule_list_t *list, int32_t number)
{
   char buffer[16];
   bson_append_int32(&list->array, list_next_key(list, buffer), -1, number);
}

#endif /* DUET_MQL_MATCH_INTERNAL_H */
