/*
 * jsonschema_internal.h — the parsed form of a $jsonSchema (one node per
 * schema or subschema), shared by jsonschema_parse.c (building it with
 * MongoDB's parse errors) and jsonschema_eval.c (matching and the
 * errInfo.details of a failing document).
 *
 * Ownership: the root node owns `owned_spec`, a copy of the whole schema; every
 * bson_value_t and const char * in any node points into it.  Child schemas,
 * arrays of children and compiled regexes are owned by their node.
 */
#ifndef DUET_MQL_JSONSCHEMA_INTERNAL_H
#define DUET_MQL_JSONSCHEMA_INTERNAL_H

#include "match_internal.h"

/* Type bits: as match nodes (bit 0 = any number, bit n = bson_type_t n, 20 MinKey, 21 MaxKey). */

typedef struct jsonschema_property {
   const char *name;               /* borrowed */
   struct duet_jsonschema *schema; /* owned */
} jsonschema_property_t;

typedef struct jsonschema_pattern_property {
   const char *pattern;            /* borrowed */
   match_regex_t *regex;           /* owned */
   struct duet_jsonschema *schema; /* owned */
} jsonschema_pattern_property_t;

typedef struct jsonschema_dependency {
   const char *name;               /* borrowed: the conditional property */
   bson_value_t required;          /* array of names (borrowed) when schema is NULL */
   struct duet_jsonschema *schema; /* owned, or NULL for a property dependency */
} jsonschema_dependency_t;

struct duet_jsonschema {
   bson_t *owned_spec; /* root only: owned copy of the schema document */
   bool top_level;     /* the root schema (applies to the document itself) */

   const char *title;       /* borrowed, or NULL */
   const char *description; /* borrowed, or NULL */

   const char *type_keyword; /* "type" or "bsonType", or NULL */
   bson_value_t type_spec;   /* as written */
   uint64_t type_mask;

   bool has_enum;
   bson_value_t enum_spec; /* array */

   struct duet_jsonschema **all_of, **any_of, **one_of;
   size_t all_of_count, any_of_count, one_of_count;
   bson_value_t all_of_spec, any_of_spec, one_of_spec;
   struct duet_jsonschema *not_schema;

   bool has_multiple_of;
   bson_value_t multiple_of;
   bool has_maximum, exclusive_maximum, has_exclusive_maximum;
   bson_value_t maximum;
   bool has_minimum, exclusive_minimum, has_exclusive_minimum;
   bson_value_t minimum;

   int64_t max_length, min_length;                                                /* -1 when absent */
   bson_value_t max_length_spec, min_length_spec, max_items_spec, min_items_spec; /* as written */
   bson_value_t max_properties_spec, min_properties_spec;
   const char *pattern;          /* borrowed, or NULL */
   match_regex_t *pattern_regex; /* owned */

   int64_t max_properties, min_properties; /* -1 when absent */
   bool has_required;
   bson_value_t required_spec; /* array of strings */
   jsonschema_property_t *properties;
   size_t property_count;
   bool has_properties;
   jsonschema_pattern_property_t *pattern_properties;
   size_t pattern_property_count;
   bool has_pattern_properties;
   bool has_additional_properties;
   bool additional_properties_allowed;            /* when the keyword is a bool */
   struct duet_jsonschema *additional_properties; /* owned schema form, or NULL */
   jsonschema_dependency_t *dependencies;
   size_t dependency_count;

   bool has_items;
   struct duet_jsonschema *items;      /* owned, schema form */
   struct duet_jsonschema **item_list; /* owned, array form */
   size_t item_list_count;
   bool items_is_array;
   bool has_additional_items;
   bool additional_items_allowed;
   struct duet_jsonschema *additional_items; /* owned schema form, or NULL */
   int64_t max_items, min_items;             /* -1 when absent */
   bool unique_items;
};

/* Matches one value (EOD never reaches here: absent properties are skipped). */
bool jsonschema_value_matches(const duet_jsonschema_t *schema, const bson_value_t *value);

#endif /* DUET_MQL_JSONSCHEMA_INTERNAL_H */
