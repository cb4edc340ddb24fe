/*
 * duet/schema.h — App Services (Device Sync) schemas: parse them from JSON, validate
 * documents against them, diff two schema sets and classify every change the way
 * the App Services docs ("Update a data model") and Realm's additive-only check do.
 *
 * Model.  A schema set is what one file holds: one schema, a JSON array of schemas,
 * or an object keyed by collection name.  Each schema is a top-level object type
 * (its `title` is the Realm class name) with its properties in the order written.
 * A property has a type: a scalar bsonType, an embedded object (a nested object
 * schema with its own title), or a list / set / dictionary of one of those.
 *
 * Ownership.  duet_schema_set_parse()/duet_schema_set_load() return a set the caller
 * frees with duet_schema_set_destroy(); every schema, property and string inside it
 * is owned by the set.  duet_schema_diff() returns a diff the caller frees with
 * duet_schema_diff_destroy(); its changes own their strings and values but BORROW
 * the schemas and properties they point at (old_schema, old_property, ...), so a
 * diff must be destroyed before the two sets it was computed from.
 * Out of memory aborts (bson_malloc).
 */
#ifndef DUET_SCHEMA_H
#define DUET_SCHEMA_H

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- model ------------------------------------------------------------------ */

/* The bsonTypes an App Services schema may name for a property. */
typedef enum {
   DUET_SCHEMA_OBJECT_ID,
   DUET_SCHEMA_STRING,
   DUET_SCHEMA_INT,
   DUET_SCHEMA_LONG,
   DUET_SCHEMA_DOUBLE,
   DUET_SCHEMA_DECIMAL,
   DUET_SCHEMA_BOOL,
   DUET_SCHEMA_DATE,
   DUET_SCHEMA_UUID,    /* binData subtype 4, 16 bytes */
   DUET_SCHEMA_BINDATA, /* Realm 'data' */
   DUET_SCHEMA_MIXED,
   DUET_SCHEMA_OBJECT, /* embedded object: see duet_schema_type_t.object */
} duet_schema_bson_type_t;

/* How a property holds values of its element type. */
typedef enum {
   DUET_SCHEMA_SINGLE,     /* one value */
   DUET_SCHEMA_LIST,       /* {"bsonType": "array", "items": T}            Realm array<T> */
   DUET_SCHEMA_SET,        /* {... "uniqueItems": true, "items": T}         Realm set<T> */
   DUET_SCHEMA_DICTIONARY, /* {"bsonType": "object", "additionalProperties": T}  dictionary<string, T> */
} duet_schema_container_t;

typedef struct duet_schema_object duet_schema_object_t;

typedef struct {
   duet_schema_container_t container;
   duet_schema_bson_type_t element; /* the scalar type, or DUET_SCHEMA_OBJECT */
   duet_schema_object_t *object;    /* owned; the embedded object when element == DUET_SCHEMA_OBJECT */
} duet_schema_type_t;

typedef struct {
   char *name; /* field name as written */
   duet_schema_type_t type;
   bool required; /* listed in the parent's `required` */
   bool has_default;
   bson_value_t default_value; /* owned copy (bson_value_destroy); valid when has_default */
} duet_schema_property_t;

/* An object schema: a top-level type or an embedded object. */
struct duet_schema_object {
   char *title;                        /* Realm class name (embedded objects without a title
                                          take the property name) */
   duet_schema_property_t *properties; /* in the order written */
   size_t property_count;
};

/* One top-level schema. */
typedef struct {
   char *collection;          /* collection name: the key in a keyed file, else the title */
   duet_schema_object_t root; /* root.title is the Realm class name */
} duet_schema_t;

typedef struct {
   char *source;           /* file name used in messages */
   duet_schema_t *schemas; /* in the order written */
   size_t schema_count;
   char **warnings; /* accepted but suspicious input, one sentence each */
   size_t warning_count;
} duet_schema_set_t;

/* ---- parsing ---------------------------------------------------------------- */

/* Parses `len` bytes of JSON (one schema, an array of schemas, or an object keyed by
 * collection name).  `source` names the input in messages ("old.json").  On failure
 * returns false, *out = NULL, and error->message is one sentence naming the source,
 * the place (line and column for JSON syntax errors, the schema path otherwise), the
 * problem and what to do.  Codes: 9 FailedToParse (syntax), 2 BadValue (schema). */
bool duet_schema_set_parse(const char *source, const uint8_t *data, size_t len, duet_schema_set_t **out,
                           duet_error_t *error);

/* Reads and parses a file; the path is the source name. */
bool duet_schema_set_load(const char *path, duet_schema_set_t **out, duet_error_t *error);

/* Builds a set from a parsed document: a single schema, or (is_array) a BSON array of
 * schemas, or an object keyed by collection name.  `root` is borrowed. */
bool duet_schema_set_from_bson(const char *source, const bson_t *root, bool is_array, duet_schema_set_t **out,
                               duet_error_t *error);

void duet_schema_set_destroy(duet_schema_set_t *set);

/* Finds a schema by title, or else by collection name; NULL when absent. Borrowed. */
const duet_schema_t *duet_schema_set_find(const duet_schema_set_t *set, const char *name);

/* Finds a property of an object by name; NULL when absent. Borrowed. */
const duet_schema_property_t *duet_schema_object_find(const duet_schema_object_t *object, const char *name);

/* ---- names and values ------------------------------------------------------- */

/* The bsonType keyword ("objectId", "binData", "object", ...). */
const char *duet_schema_bson_type_name(duet_schema_bson_type_t type);

/* Realm's Property::type_string(): "object id", "int" (int and long), "data", "<Title>",
 * "array<int>", "set<string>", "dictionary<string, Title>", ...  Caller frees (bson_free). */
char *duet_schema_type_realm_name(const duet_schema_type_t *type);

/* The App Services spelling used in diff output: "objectId", "array<long>", "set<string>",
 * "dictionary<double>", "<Address>", "array<Address>".  Caller frees (bson_free). */
char *duet_schema_type_spelling(const duet_schema_type_t *type);

/* True when two types are the same bsonType structure (embedded objects compare by title). */
bool duet_schema_type_equal(const duet_schema_type_t *a, const duet_schema_type_t *b);

/* The value a client or the server fills into a required property that a document lacks:
 * 0 (int32 for int, int64 for long), 0.0, decimal 0, false, "", epoch date, all-zero
 * objectId / uuid, empty binData, null for mixed, {} for an embedded object, [] for
 * lists and sets, {} for dictionaries.  `out` is owned by the caller (bson_value_destroy). */
void duet_schema_type_zero_value(const duet_schema_type_t *type, bson_value_t *out);

/* True when `value` has the BSON type the property type stores (for a default). */
bool duet_schema_type_accepts_value(const duet_schema_type_t *type, const bson_value_t *value);

/* ---- validating documents --------------------------------------------------- */

enum {
   /* null is accepted in optional properties (App Services "Null Type Schema Validation" ON);
    * by default only the declared type is accepted. */
   DUET_SCHEMA_VALIDATE_ALLOW_NULL = 1u << 0,
};

/* Checks `doc` against `schema` as Device Sync does before syncing it to a client:
 * each property present has its bsonType (int = int32, long = int64, uuid = binData
 * subtype 4 of 16 bytes, mixed = anything), embedded objects recursively, list/set
 * elements and dictionary values by element type, set elements distinct; each required
 * property is present unless it has a default (clients fill the default).  Fields the
 * schema does not name are ignored.  Returns true when valid; otherwise false and, when
 * reason is not NULL, one sentence such as
 *   "property 'address.zip' is string, expected int"
 *   "required property 'name' is missing". */
bool duet_schema_validate_document(const duet_schema_t *schema, const bson_t *doc, unsigned flags, char *reason,
                                   size_t reason_size);

/* ---- diff and classification ------------------------------------------------ */

typedef enum {
   DUET_CHANGE_ADD_OBJECT_TYPE,
   DUET_CHANGE_ADD_DEFAULT_VALUE,
   DUET_CHANGE_ADD_REQUIRED_PROPERTY,
   DUET_CHANGE_ADD_OPTIONAL_PROPERTY,
   DUET_CHANGE_REMOVE_OBJECT_TYPE,
   DUET_CHANGE_REMOVE_PROPERTY,
   DUET_CHANGE_RENAME_OBJECT_TYPE,
   DUET_CHANGE_RENAME_PROPERTY,
   DUET_CHANGE_CHANGE_PROPERTY_TYPE,
   DUET_CHANGE_CHANGE_OPTIONAL_REQUIRED,
   /* beyond the docs' table: */
   DUET_CHANGE_CHANGE_DEFAULT_VALUE,
   DUET_CHANGE_REMOVE_DEFAULT_VALUE,
} duet_schema_change_kind_t;

typedef enum {
   DUET_VERDICT_NON_BREAKING,
   DUET_VERDICT_BREAKING,
} duet_schema_verdict_t;

typedef enum {
   DUET_HANDLING_APPLY,                  /* apply as is */
   DUET_HANDLING_APPLY_UPDATE_DOCUMENTS, /* apply, then set the property in existing documents
                                            that lack it (update_value) */
   DUET_HANDLING_CLIENT_ONLY,            /* remove only from the client model; keep it on the server */
   DUET_HANDLING_REMAP_NAME,             /* remap the name in the client SDK (or partner collection) */
   DUET_HANDLING_PARTNER_COLLECTION,     /* partner collection (or terminate sync and client reset) */
} duet_schema_handling_t;

typedef enum {
   DUET_VALUE_NONE,
   DUET_VALUE_DEFAULT, /* update_value is the property's default */
   DUET_VALUE_ZERO,    /* update_value is the zero value of the type */
} duet_schema_value_source_t;

typedef struct {
   duet_schema_change_kind_t kind;
   char *collection;  /* owned; the (old) collection name */
   char *object_type; /* owned; Realm class holding the property (the embedded title for nested
                         properties), or the class itself for object-type changes */
   char *property;    /* owned; dotted path from the collection root ("address.zip"), NULL for
                         object-type changes; for renames the old path */
   char *from;        /* owned or NULL: old type spelling / "optional" / old name / old default */
   char *to;          /* owned or NULL: new type spelling / "required" / new name / new default */
   bool primary_key;  /* the property is `_id` of a top-level type */
   duet_schema_verdict_t server;
   duet_schema_verdict_t client;
   duet_schema_handling_t handling;
   duet_schema_value_source_t update_value_source;
   bson_value_t update_value; /* owned; valid when update_value_source != DUET_VALUE_NONE */
   char *message;             /* owned or NULL: Realm's explainer line(s) without "- ", '\n'-separated */
   char *note;                /* owned or NULL: advice, e.g. suggesting --rename */
   /* Borrowed from the sets passed to duet_schema_diff (NULL when that side has none). */
   const duet_schema_t *old_schema;
   const duet_schema_t *new_schema;
   const duet_schema_property_t *old_property;
   const duet_schema_property_t *new_property;
} duet_schema_change_t;

typedef struct {
   duet_schema_change_t *changes; /* owned */
   size_t change_count;
   bool breaking; /* some change is breaking on the server or the client side */
} duet_schema_diff_t;

/* A rename hint: property "Coll.old=Coll.new" (collection = "Coll", from/to = paths
 * relative to the collection), or collection "Old=New" (collection NULL). */
typedef struct {
   char *collection; /* owned or NULL */
   char *from;       /* owned */
   char *to;         /* owned */
} duet_schema_rename_t;

/* Parses a --rename (is_collection false) or --rename-collection (true) argument into
 * `out` (free with duet_schema_rename_clear).  A property rename keeps the parent path:
 * "Task.address.zip=Task.address.postcode". */
bool duet_schema_rename_parse(const char *spec, bool is_collection, duet_schema_rename_t *out, duet_error_t *error);
void duet_schema_rename_clear(duet_schema_rename_t *rename);

typedef struct {
   const duet_schema_rename_t *property_renames; /* borrowed */
   size_t property_rename_count;
   const duet_schema_rename_t *collection_renames; /* borrowed */
   size_t collection_rename_count;
} duet_schema_diff_options_t;

/* Compares `old_set` with `new_set` (object types matched by title; a collection rename
 * may name titles or collection names) and classifies every difference.  Fails (code 2
 * BadValue) when a rename hint names something that does not exist.  `options` may be
 * NULL.  The caller frees *out with duet_schema_diff_destroy before the sets. */
bool duet_schema_diff(const duet_schema_set_t *old_set, const duet_schema_set_t *new_set,
                      const duet_schema_diff_options_t *options, duet_schema_diff_t **out, duet_error_t *error);

void duet_schema_diff_destroy(duet_schema_diff_t *diff);

/* snake_case kind name as in --json: "change_property_type", "add_required_property", ... */
const char *duet_schema_change_kind_name(duet_schema_change_kind_t kind);
/* Words for humans: "change property type". */
const char *duet_schema_change_kind_title(duet_schema_change_kind_t kind);
/* "breaking" / "non-breaking" */
const char *duet_schema_verdict_name(duet_schema_verdict_t verdict);
/* snake_case token as in --json: "apply", "apply_and_update_documents", "remove_from_client_only",
 * "remap_name_in_client", "partner_collection". */
const char *duet_schema_handling_name(duet_schema_handling_t handling);
/* A sentence for humans, naming the update value when there is one.  Caller frees (bson_free). */
char *duet_schema_change_handling_text(const duet_schema_change_t *change);

/* ---- rendering -------------------------------------------------------------- */

/* {"breaking": bool, "changes": [{"kind", "collection", "property", "from", "to", "server",
 * "client", "handling", "message", "object_type", "primary_key", "update_value"?,
 * "update_value_source"?, "note"?}]} — see docs/diff.md.  `out` is initialized by the callee and
 * destroyed by the caller (bson_destroy). */
void duet_schema_diff_to_bson(const duet_schema_diff_t *diff, bson_t *out);

/* The same as relaxed Extended JSON text.  Caller frees (bson_free). */
char *duet_schema_diff_to_json(const duet_schema_diff_t *diff);

/* A readable table, one row per change plus its handling, note and Realm line, then the
 * verdict and (for a breaking diff) Realm's whole message.  Caller frees (bson_free). */
char *duet_schema_diff_render_table(const duet_schema_diff_t *diff, const char *old_name, const char *new_name);

/* Realm's additive-only refusal for the breaking changes:
 *   "The following changes cannot be made in additive-only schema mode:\n- <line>\n...
 *    \nIf your app is running in development mode, you can delete the realm and restart the
 *    app to update your schema."
 * NULL when the diff is not breaking.  Caller frees (bson_free). */
char *duet_schema_diff_realm_message(const duet_schema_diff_t *diff);

#ifdef __cplusplus
}
#endif

#endif /* DUET_SCHEMA_H */
