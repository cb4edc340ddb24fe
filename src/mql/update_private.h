/*
 * update_private.h — internals of the update engine (src/mql/update_*.c):
 * the mutable document tree updates are applied to, the parsed update tree,
 * and MongoDB's value formatting for error messages.
 *
 * Ownership: every duet_uelem_t owns its name, its scalar value and its
 * children; duet_uelem_free releases the whole subtree.  Parsed update nodes own
 * their children; their bson_value_t arguments point into the update's own copy
 * of the spec (duet_update_t.spec) and live as long as the update.
 */
#ifndef DUET_UPDATE_PRIVATE_H
#define DUET_UPDATE_PRIVATE_H

#include <duet/error.h>
#include <duet/mql_match.h>
#include <duet/mql_update.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- mutable document tree (update_elem.c) -------------------------------------- */

typedef struct duet_uelem duet_uelem_t;
struct duet_uelem {
   char *name;              /* owned; "" for array elements (their index is their position) */
   bson_type_t type;        /* BSON type; DOCUMENT and ARRAY use children */
   bson_value_t value;      /* owned copy for scalar types; unused for containers */
   duet_uelem_t *parent;    /* borrowed; NULL for the root */
   duet_uelem_t **children; /* owned array of owned children */
   size_t count;
   size_t capacity;
};

/* New root document element holding a deep copy of `doc` (borrowed). */
duet_uelem_t *duet_uelem_from_bson(const bson_t *doc);
/* New element named `name` holding a deep copy of `value` (borrowed). */
duet_uelem_t *duet_uelem_from_value(const char *name, const bson_value_t *value);
/* New empty document or array element. */
duet_uelem_t *duet_uelem_new_container(const char *name, bson_type_t type);
/* New null element. */
duet_uelem_t *duet_uelem_new_null(const char *name);
duet_uelem_t *duet_uelem_clone(const duet_uelem_t *elem, const char *new_name);
void duet_uelem_free(duet_uelem_t *elem);

/* Writes the children of a document/array element into `out` (initialized by caller). */
void duet_uelem_write_children(const duet_uelem_t *elem, bson_t *out);
/* Appends `elem` to `out` under `key`. */
void duet_uelem_append(const duet_uelem_t *elem, bson_t *out, const char *key, int key_length);
/* The element's value as a new owned bson_value_t (bson_value_destroy it). */
void duet_uelem_to_value(const duet_uelem_t *elem, bson_value_t *out);
/* Replaces the value of `elem` (keeps name and position) with a copy of `value`. */
void duet_uelem_set_value(duet_uelem_t *elem, const bson_value_t *value);
/* Replaces the value of `elem` with the value (and children) of `source`, copied. */
void duet_uelem_set_from(duet_uelem_t *elem, const duet_uelem_t *source);

/* Child lookups; NULL when absent.  `index` for arrays. */
duet_uelem_t *duet_uelem_child(const duet_uelem_t *elem, const char *name);
ptrdiff_t duet_uelem_child_index(const duet_uelem_t *parent, const duet_uelem_t *child);
/* Inserts (takes ownership of) child at `index` (<= count). */
void duet_uelem_insert(duet_uelem_t *parent, size_t index, duet_uelem_t *child);
void duet_uelem_push(duet_uelem_t *parent, duet_uelem_t *child);
/* Removes and frees child number `index`. */
void duet_uelem_remove_at(duet_uelem_t *parent, size_t index);
/* Detaches child number `index` without freeing it (caller owns it). */
duet_uelem_t *duet_uelem_detach_at(duet_uelem_t *parent, size_t index);

/* MongoDB's comparison of two element values (names ignored). */
int duet_uelem_compare(const duet_uelem_t *a, const duet_uelem_t *b);
/* Compares an element's value with a bson value. */
int duet_uelem_compare_value(const duet_uelem_t *a, const bson_value_t *b);
/* Exact equality: same types and same bytes (MongoDB's binaryEqualValues). */
bool duet_uelem_binary_equal(const duet_uelem_t *a, const bson_value_t *b);

/* Parses an unsigned base-10 array index ("0", "12"); false for anything else. */
bool duet_update_parse_index(const char *part, size_t *index);

/* ---- MongoDB value formatting (update_format.c) --------------------------------- */

/* Appends MongoDB's BSONElement::toString() of a value (no field name); long
 * strings (> 160 bytes), code and binary data are abbreviated as MongoDB does. */
void duet_update_format_value(bson_string_t *out, const bson_value_t *value);
/* Appends "name: value". */
void duet_update_format_element(bson_string_t *out, const char *name, const bson_value_t *value);
/* Same as MongoDB toString(includeFieldName, full = true): nothing abbreviated. */
void duet_update_format_element_full(bson_string_t *out, const char *name, const bson_value_t *value);
/* Appends "name: value" for a tree element. */
void duet_update_format_uelem(bson_string_t *out, const duet_uelem_t *elem);

/* ---- parsed update tree (update_parse.c) ---------------------------------------- */

typedef enum duet_unode_kind {
   DUET_UNODE_OBJECT, /* children by field name, plus an optional positional `$` child */
   DUET_UNODE_ARRAY,  /* children by array filter identifier ("" for `$[]`) */
   DUET_UNODE_LEAF,   /* one modifier */
} duet_unode_kind_t;

typedef enum duet_uop {
   DUET_UOP_SET,
   DUET_UOP_UNSET,
   DUET_UOP_INC,
   DUET_UOP_MUL,
   DUET_UOP_RENAME,      /* sits at the destination path */
   DUET_UOP_PLACEHOLDER, /* $rename's source path: reserves it, does nothing */
   DUET_UOP_SET_ON_INSERT,
   DUET_UOP_MIN,
   DUET_UOP_MAX,
   DUET_UOP_CURRENT_DATE,
   DUET_UOP_PUSH,
   DUET_UOP_ADD_TO_SET,
   DUET_UOP_POP,
   DUET_UOP_PULL,
   DUET_UOP_PULL_ALL,
   DUET_UOP_BIT,
} duet_uop_t;

typedef struct duet_unode duet_unode_t;

typedef struct duet_unode_child {
   char *name;         /* owned: field name, or array filter identifier */
   duet_unode_t *node; /* owned */
} duet_unode_child_t;

struct duet_unode {
   duet_unode_kind_t kind;
   /* OBJECT / ARRAY: children sorted by name (bytewise) */
   duet_unode_child_t *children;
   size_t count;
   size_t capacity;
   duet_unode_t *positional; /* OBJECT only: the `$` child, owned */

   /* LEAF */
   duet_uop_t op;
   const char *op_name; /* "$set", ... (static) */
   char *path;          /* owned: the full dotted path as written (for messages) */
   char *field;         /* owned: field name of the modifier element (for messages) */
   bson_value_t arg;    /* borrowed from the update's spec copy */
   /* $push / $addToSet: values to add (borrowed), count */
   bson_value_t *values; /* owned array of borrowed values */
   size_t value_count;
   bool has_slice;
   int64_t slice;
   bool has_sort;
   bool sort_whole;           /* $sort: 1/-1 */
   int sort_direction;        /* whole-element direction */
   bson_value_t sort_pattern; /* $sort: {field: 1/-1} document (borrowed from the spec) */
   int64_t position;          /* $position (default: append) */
   bool has_position;
   int pop_direction; /* $pop: 1 last, -1 first */
   bool current_date_is_timestamp;
   char *rename_from;           /* owned: $rename source path */
   char *bit_ops;               /* owned: $bit operations, one of 'a'/'o'/'x' per entry of values */
   duet_match_t *pull_match;    /* $pull condition matcher or NULL for plain-value equality */
   bool pull_match_as_document; /* the condition is a query on document elements */
};

/* One parsed arrayFilters entry. */
typedef struct duet_update_array_filter {
   const char *identifier; /* borrowed from the matcher */
   duet_match_t *match;    /* owned */
   bool used;
} duet_update_array_filter_t;

struct duet_update {
   duet_update_kind_t kind;
   bson_t *spec;                        /* owned copy of the update (or pipeline) */
   duet_unode_t *root;                  /* MODIFIERS: owned OBJECT node */
   bool positional;                     /* some path uses `$` */
   duet_update_array_filter_t *filters; /* owned */
   size_t filter_count;
   int64_t now_ms;
   void *pipeline; /* PIPELINE: owned compiled stages (update_pipeline.c) */
};

void duet_unode_free(duet_unode_t *node);
duet_unode_t *duet_unode_find(const duet_unode_t *node, const char *name);

/* Parses one modifier's argument into `leaf` (update_ops.c). */
bool duet_update_leaf_init(duet_unode_t *leaf, const char *field, const bson_value_t *arg, duet_error_t *error);

/* ---- application (update_apply.c, update_ops.c) ---------------------------------- */

/* Parts of a dotted path being walked. */
typedef struct duet_upath {
   char **parts; /* borrowed strings */
   size_t count;
   size_t capacity;
} duet_upath_t;

typedef struct duet_uapply {
   const duet_update_t *update;
   duet_uelem_t *root;
   bool insert;               /* applying to an upsert seed */
   const char *matched_field; /* positional `$` index as text, or NULL */
   bool had_id;               /* old document had _id (immutable) */
   int64_t now_ms;
   bool force_modified;      /* some modifier was not a noop (MongoDB's nModified) */
   uint32_t timestamp_ticks; /* $currentDate timestamps handed out so far (each takes a tick) */
} duet_uapply_t;

/* Applies a leaf modifier.  `element` is the element at path_taken (the document
 * root when path_taken is empty); path_to_create lists the parts that do not exist. */
bool duet_update_leaf_apply(duet_uapply_t *ctx, const duet_unode_t *leaf, duet_uelem_t *element,
                            duet_upath_t *path_taken, duet_upath_t *path_to_create, duet_error_t *error);

/* Joins path parts with '.' into out (appends). */
void duet_upath_join(const duet_upath_t *path, bson_string_t *out);
/* Creates path_to_create under `element` ending with `leaf_value` (takes ownership);
 * fails with 28 PathNotViable as MongoDB's createPathAt.  *created receives the
 * first created element. */
bool duet_update_create_path(duet_uapply_t *ctx, duet_uelem_t *element, const duet_upath_t *path_taken,
                             const duet_upath_t *path_to_create, duet_uelem_t *leaf_value, duet_uelem_t **created,
                             duet_error_t *error);
/* Pipeline updates (update_pipeline.c). */
bool duet_update_pipeline_compile(duet_update_t *update, const bson_t *pipeline, const duet_expr_scope_t *scope,
                                  duet_error_t *error);
/* `env` holds the caller's variables and the clock (now_ms already resolved). */
bool duet_update_pipeline_apply(const duet_update_t *update, const bson_t *old_doc, const duet_expr_env_t *env,
                                bson_t *new_doc, duet_error_t *error);
void duet_update_pipeline_free(void *pipeline);

#endif /* DUET_UPDATE_PRIVATE_H */
