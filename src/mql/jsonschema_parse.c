/*
 * jsonschema_parse.c — parses a $jsonSchema document into duet_jsonschema_t
 * nodes with MongoDB's keyword set and parse errors (json_schema_parser.cpp):
 * unknown / unsupported / duplicate keywords, keyword operand types, empty
 * arrays, `type` vs `bsonType`, and so on.
 */
#include "jsonschema_internal.h"

#include <duet/doc.h>

#include <math.h>
#include <string.h>

static bool parse_schema(const bson_t *spec, bool top_level, duet_jsonschema_t **out, duet_error_t *error);

static const char *const known_keywords[] = {"additionalItems",
                                             "additionalProperties",
                                             "allOf",
                                             "anyOf",
                                             "bsonType",
                                             "dependencies",
                                             "description",
                                             "encrypt",
                                             "encryptMetadata",
                                             "enum",
                                             "exclusiveMaximum",
                                             "exclusiveMinimum",
                                             "items",
                                             "maxItems",
                                             "maxLength",
                                             "maxProperties",
                                             "maximum",
                                             "minItems",
                                             "minLength",
                                             "minProperties",
                                             "minimum",
                                             "multipleOf",
                                             "not",
                                             "oneOf",
                                             "pattern",
                                             "patternProperties",
                                             "properties",
                                             "required",
                                             "title",
                                             "type",
                                             "uniqueItems",
                                             NULL};

static const char *const unsupported_keywords[] = {"$ref", "$schema", "default", "definitions", "format", "id", NULL};

static int keyword_index(const char *const *list, const char *name)
{
   for (int i = 0; list[i]; i++) {
      if (strcmp(list[i], name) == 0) {
         return i;
      }
   }
   return -1;
}

static void value_document(const bson_value_t *value, bson_t *out)
{
   if (!bson_init_static(out, value->value.v_doc.data, value->value.v_doc.data_len)) {
      bson_init(out); /* malformed nested BSON reads as empty */
   }
}

/* Element as MongoDB prints it in parse errors: `name: <value>`. */
static void element_string(const char *name, const bson_value_t *value, char *buffer, size_t size)
{
   bson_t wrapper = BSON_INITIALIZER;
   bson_append_value(&wrapper, "v", 1, value);
   char *json = bson_as_relaxed_extended_json(&wrapper, NULL);
   /* json is `{ "v" : <value> }` */
   const char *start = strstr(json, ": ");
   size_t length = start ? strlen(start + 2) : 0;
   if (length >= 2) {
      length -= 2; /* drop " }" */
   }
   snprintf(buffer, size, "%s: %.*s", name, (int)length, start ? start + 2 : "");
   bson_free(json);
   bson_destroy(&wrapper);
}

/* MatchExpressionParser::parseIntegerElementToNonNegativeLong. */
static bool parse_non_negative(const char *name, const bson_value_t *value, int64_t *out, duet_error_t *error)
{
   char text[256];
   element_string(name, value, text, sizeof text);
   if (!duet_type_is_number(value->value_type)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected a number in: %s", text);
      return false;
   }
   int64_t number;
   switch (value->value_type) {
   case BSON_TYPE_INT32: number = value->value.v_int32; break;
   case BSON_TYPE_INT64: number = value->value.v_int64; break;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (isnan(d)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected an integer, but found NaN in: %s", text);
         return false;
      }
      if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot represent as a 64-bit integer: %s", text);
         return false;
      }
      if (d != trunc(d)) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected an integer: %s", text);
         return false;
      }
      number = (int64_t)d;
      break;
   }
   default:
      if (!duet_decimal_to_int64(value->value.v_decimal128, &number) ||
          duet_decimal_compare(value->value.v_decimal128, duet_decimal_from_int64(number)) != 0) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot represent as a 64-bit integer: %s", text);
         return false;
      }
   }
   if (number < 0) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Expected a positive number in: %s", text);
      return false;
   }
   *out = number;
   return true;
}

static int type_bit(bson_type_t type)
{
   return type == BSON_TYPE_MINKEY ? 20 : type == BSON_TYPE_MAXKEY ? 21 : (int)type;
}

/* One alias of `type` (JSON Schema names) or `bsonType` (BSON aliases plus "number"). */
static bool type_alias(const char *keyword, const char *alias, uint64_t *mask, duet_error_t *error)
{
   if (strcmp(alias, "integer") == 0) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema type 'integer' is not currently supported.");
      return false;
   }
   if (strcmp(alias, "number") == 0) {
      *mask |= 1u;
      return true;
   }
   bson_type_t type;
   bool known;
   if (strcmp(keyword, "type") == 0) {
      static const struct {
         const char *name;
         bson_type_t type;
      } json_types[] = {{"array", BSON_TYPE_ARRAY},
                        {"boolean", BSON_TYPE_BOOL},
                        {"null", BSON_TYPE_NULL},
                        {"object", BSON_TYPE_DOCUMENT},
                        {"string", BSON_TYPE_UTF8}};
      known = false;
      for (size_t i = 0; i < sizeof json_types / sizeof json_types[0]; i++) {
         if (strcmp(json_types[i].name, alias) == 0) {
            type = json_types[i].type;
            known = true;
         }
      }
   } else {
      known = duet_type_from_name(alias, &type);
   }
   if (!known) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "Unknown type name alias: %s", alias);
      return false;
   }
   *mask |= (uint64_t)1 << type_bit(type);
   return true;
}

static bool parse_type(duet_jsonschema_t *schema, const char *keyword, const bson_value_t *value, duet_error_t *error)
{
   schema->type_keyword = keyword;
   schema->type_spec = *value;
   if (value->value_type == BSON_TYPE_UTF8) {
      return type_alias(keyword, value->value.v_utf8.str, &schema->type_mask, error);
   }
   if (value->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "$jsonSchema keyword '%s' must be either a string or an array of strings", keyword);
      return false;
   }
   bson_t array;
   value_document(value, &array);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_UTF8(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword '%s' array elements must be strings",
                        keyword);
         return false;
      }
      const char *alias = bson_iter_utf8(&it, NULL);
      if (strcmp(alias, "integer") == 0) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema type 'integer' is not currently supported.");
         return false;
      }
      bson_iter_t earlier;
      bson_iter_init(&earlier, &array);
      while (bson_iter_next(&earlier) && bson_iter_value(&earlier)->value.v_utf8.str != alias) {
         if (BSON_ITER_HOLDS_UTF8(&earlier) && strcmp(bson_iter_utf8(&earlier, NULL), alias) == 0) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema keyword '%s' has duplicate value: %s", keyword,
                           alias);
            return false;
         }
      }
   }
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!type_alias(keyword, bson_iter_utf8(&it, NULL), &schema->type_mask, error)) {
         return false;
      }
   }
   if (!schema->type_mask) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema keyword '%s' must name at least one type", keyword);
      return false;
   }
   return true;
}

static bool parse_schema_list(const char *keyword, const bson_value_t *value, duet_jsonschema_t ***out, size_t *count,
                              duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword '%s' must be an array", keyword);
      return false;
   }
   bson_t array;
   value_document(value, &array);
   if (bson_empty(&array)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "$jsonSchema keyword '%s' must be a non-empty array", keyword);
      return false;
   }
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "$jsonSchema keyword '%s' must be an array of objects, but found an element of type %s",
                        keyword, duet_type_name(bson_iter_type(&it)));
         return false;
      }
      bson_t sub;
      value_document(bson_iter_value(&it), &sub);
      duet_jsonschema_t *child;
      if (!parse_schema(&sub, false, &child, error)) {
         return false;
      }
      *out = bson_realloc(*out, (*count + 1) * sizeof **out);
      (*out)[(*count)++] = child;
   }
   return true;
}

static bool array_has_duplicates(const bson_t *array)
{
   bson_iter_t a;
   bson_iter_init(&a, array);
   for (uint32_t i = 0; bson_iter_next(&a); i++) {
      bson_iter_t b;
      bson_iter_init(&b, array);
      for (uint32_t j = 0; bson_iter_next(&b) && j < i; j++) {
         if (duet_value_compare(bson_iter_value(&a), bson_iter_value(&b)) == 0) {
            return true;
         }
      }
   }
   return false;
}

static bool parse_required(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "$jsonSchema keyword 'required' must be an array, but found an element of type %s",
                     duet_type_name(value->value_type));
      return false;
   }
   bson_t array;
   value_document(value, &array);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_UTF8(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "$jsonSchema keyword 'required' must be an array of strings, but found an element of type: %s",
                        duet_type_name(bson_iter_type(&it)));
         return false;
      }
   }
   if (bson_empty(&array)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema keyword 'required' cannot be an empty array");
      return false;
   }
   if (array_has_duplicates(&array)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$jsonSchema keyword 'required' array cannot contain duplicate values");
      return false;
   }
   schema->has_required = true;
   schema->required_spec = *value;
   return true;
}

static bool parse_enum(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "$jsonSchema keyword 'enum' must be an array, but found an element of type %s",
                     duet_type_name(value->value_type));
      return false;
   }
   bson_t array;
   value_document(value, &array);
   if (bson_empty(&array)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema keyword 'enum' cannot be an empty array");
      return false;
   }
   if (array_has_duplicates(&array)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$jsonSchema keyword 'enum' array cannot contain duplicate values.");
      return false;
   }
   schema->has_enum = true;
   schema->enum_spec = *value;
   return true;
}

static bool parse_properties(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'properties' must be an object");
      return false;
   }
   schema->has_properties = true;
   bson_t object;
   value_document(value, &object);
   bson_iter_t it;
   bson_iter_init(&it, &object);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Nested schema for $jsonSchema property '%s' must be an object",
                        bson_iter_key(&it));
         return false;
      }
      bson_t sub;
      value_document(bson_iter_value(&it), &sub);
      duet_jsonschema_t *child;
      if (!parse_schema(&sub, false, &child, error)) {
         return false;
      }
      schema->properties = bson_realloc(schema->properties, (schema->property_count + 1) * sizeof *schema->properties);
      schema->properties[schema->property_count].name = bson_iter_key(&it);
      schema->properties[schema->property_count++].schema = child;
   }
   return true;
}

static bool parse_pattern_properties(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'patternProperties' must be an object");
      return false;
   }
   schema->has_pattern_properties = true;
   bson_t object;
   value_document(value, &object);
   bson_iter_t it;
   bson_iter_init(&it, &object);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "$jsonSchema keyword 'patternProperties' has property '%s' which is not an object",
                        bson_iter_key(&it));
         return false;
      }
      jsonschema_pattern_property_t entry = {bson_iter_key(&it), NULL, NULL};
      if (!match_regex_compile(entry.pattern, "", &entry.regex, error)) {
         return false;
      }
      bson_t sub;
      value_document(bson_iter_value(&it), &sub);
      if (!parse_schema(&sub, false, &entry.schema, error)) {
         match_regex_destroy(entry.regex);
         return false;
      }
      schema->pattern_properties = bson_realloc(schema->pattern_properties, (schema->pattern_property_count + 1) *
                                                                                sizeof *schema->pattern_properties);
      schema->pattern_properties[schema->pattern_property_count++] = entry;
   }
   return true;
}

static bool parse_bool_or_schema(const char *keyword, const bson_value_t *value, bool *allowed,
                                 duet_jsonschema_t **schema, duet_error_t *error)
{
   if (value->value_type == BSON_TYPE_BOOL) {
      *allowed = value->value.v_bool;
      return true;
   }
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_t sub;
      value_document(value, &sub);
      *allowed = true;
      return parse_schema(&sub, false, schema, error);
   }
   if (strcmp(keyword, "additionalProperties") == 0) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "$jsonSchema keyword 'additionalProperties' must be an object or a boolean");
   } else {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                     "$jsonSchema keyword 'additionalItems' must be either an object or a boolean, but got a %s",
                     duet_type_name(value->value_type));
   }
   return false;
}

static bool parse_dependencies(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'dependencies' must be an object");
      return false;
   }
   bson_t object;
   value_document(value, &object);
   bson_iter_t it;
   bson_iter_init(&it, &object);
   while (bson_iter_next(&it)) {
      const char *name = bson_iter_key(&it);
      jsonschema_dependency_t entry = {name, {0}, NULL};
      if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
         bson_t sub;
         value_document(bson_iter_value(&it), &sub);
         if (!parse_schema(&sub, false, &entry.schema, error)) {
            return false;
         }
      } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
         bson_t array;
         value_document(bson_iter_value(&it), &array);
         if (bson_empty(&array)) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "property '%s' in $jsonSchema keyword 'dependencies' cannot be an empty array", name);
            return false;
         }
         bson_iter_t element;
         bson_iter_init(&element, &array);
         while (bson_iter_next(&element)) {
            if (!BSON_ITER_HOLDS_UTF8(&element)) {
               duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                              "array '%s' in $jsonSchema keyword 'dependencies' can only contain strings, but found "
                              "element of type: %s",
                              name, duet_type_name(bson_iter_type(&element)));
               return false;
            }
         }
         if (array_has_duplicates(&array)) {
            bson_iter_init(&element, &array);
            const char *duplicate = "";
            while (bson_iter_next(&element) && !duplicate[0]) {
               bson_iter_t other = element;
               while (bson_iter_next(&other)) {
                  if (strcmp(bson_iter_utf8(&other, NULL), bson_iter_utf8(&element, NULL)) == 0) {
                     duplicate = bson_iter_utf8(&element, NULL);
                  }
               }
            }
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "array '%s' in $jsonSchema keyword 'dependencies' contains duplicate element: %s", name,
                           duplicate);
            return false;
         }
         entry.required = *bson_iter_value(&it);
      } else {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "property '%s' in $jsonSchema keyword 'dependencies' must be either an object or an array",
                        name);
         return false;
      }
      schema->dependencies =
          bson_realloc(schema->dependencies, (schema->dependency_count + 1) * sizeof *schema->dependencies);
      schema->dependencies[schema->dependency_count++] = entry;
   }
   return true;
}

static bool parse_items(duet_jsonschema_t *schema, const bson_value_t *value, duet_error_t *error)
{
   schema->has_items = true;
   if (value->value_type == BSON_TYPE_DOCUMENT) {
      bson_t sub;
      value_document(value, &sub);
      return parse_schema(&sub, false, &schema->items, error);
   }
   if (value->value_type != BSON_TYPE_ARRAY) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'items' must be an array or an object, not %s",
                     duet_type_name(value->value_type));
      return false;
   }
   schema->items_is_array = true;
   bson_t array;
   value_document(value, &array);
   bson_iter_t it;
   bson_iter_init(&it, &array);
   while (bson_iter_next(&it)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "$jsonSchema keyword 'items' requires that each element of the array is an object, but found "
                        "a %s",
                        duet_type_name(bson_iter_type(&it)));
         return false;
      }
      bson_t sub;
      value_document(bson_iter_value(&it), &sub);
      duet_jsonschema_t *child;
      if (!parse_schema(&sub, false, &child, error)) {
         return false;
      }
      schema->item_list = bson_realloc(schema->item_list, (schema->item_list_count + 1) * sizeof *schema->item_list);
      schema->item_list[schema->item_list_count++] = child;
   }
   return true;
}

static bool parse_number_keyword(const char *keyword, const bson_value_t *value, duet_error_t *error)
{
   if (!duet_type_is_number(value->value_type)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword '%s' must be a number", keyword);
      return false;
   }
   return true;
}

static bool parse_schema(const bson_t *spec, bool top_level, duet_jsonschema_t **out, duet_error_t *error)
{
   *out = NULL;
   enum { KEYWORD_COUNT = 31 };
   /* bson_iter_value() points into the iterator, so keep copies (still borrowing the buffer). */
   bson_value_t keyword_values[KEYWORD_COUNT];
   const bson_value_t *keywords[KEYWORD_COUNT] = {0};
   bson_iter_t it;
   if (!bson_iter_init(&it, spec)) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema is not a valid BSON document");
      return false;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      int index = keyword_index(known_keywords, key);
      if (index < 0) {
         if (keyword_index(unsupported_keywords, key) >= 0) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$jsonSchema keyword '%s' is not currently supported", key);
         } else {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Unknown $jsonSchema keyword: %s", key);
         }
         return false;
      }
      if (keywords[index]) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Duplicate $jsonSchema keyword: %s", key);
         return false;
      }
      keyword_values[index] = *bson_iter_value(&it);
      keywords[index] = &keyword_values[index];
   }
#define KW(name) keywords[keyword_index(known_keywords, name)]
   if (KW("encrypt") || KW("encryptMetadata")) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$jsonSchema keywords 'encrypt' and 'encryptMetadata' (client-side field level encryption) are "
                     "not supported by duet");
      return false;
   }
   if (KW("description") && KW("description")->value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'description' must be of type string");
      return false;
   }
   if (KW("title") && KW("title")->value_type != BSON_TYPE_UTF8) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'title' must be of type string");
      return false;
   }
   if (KW("type") && KW("bsonType")) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'");
      return false;
   }

   duet_jsonschema_t *schema = bson_malloc0(sizeof *schema);
   schema->top_level = top_level;
   schema->max_length = schema->min_length = -1;
   schema->max_properties = schema->min_properties = -1;
   schema->max_items = schema->min_items = -1;
   schema->additional_properties_allowed = true;
   schema->additional_items_allowed = true;
   const bson_value_t *v;
   bool ok = true;

   if ((v = KW("title"))) {
      schema->title = v->value.v_utf8.str;
   }
   if ((v = KW("description"))) {
      schema->description = v->value.v_utf8.str;
   }
   if (ok && (v = KW("type"))) {
      ok = parse_type(schema, "type", v, error);
   }
   if (ok && (v = KW("bsonType"))) {
      ok = parse_type(schema, "bsonType", v, error);
   }
   /* scalar keywords */
   if (ok && (v = KW("pattern"))) {
      if (v->value_type != BSON_TYPE_UTF8) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'pattern' must be a string");
         ok = false;
      } else {
         schema->pattern = v->value.v_utf8.str;
         ok = match_regex_compile(schema->pattern, "", &schema->pattern_regex, error);
      }
   }
   if (ok && (v = KW("maxLength"))) {
      ok = parse_non_negative("maxLength", v, &schema->max_length, error);
      schema->max_length_spec = *v;
   }
   if (ok && (v = KW("minLength"))) {
      ok = parse_non_negative("minLength", v, &schema->min_length, error);
      schema->min_length_spec = *v;
   }
   if (ok && (v = KW("multipleOf"))) {
      ok = parse_number_keyword("multipleOf", v, error);
      if (ok) {
         bson_decimal128_t d = duet_decimal_from_value(v);
         if (duet_decimal_is_negative(d) || duet_decimal_is_zero(d)) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "$jsonSchema keyword 'multipleOf' must have a positive value");
            ok = false;
         }
         schema->has_multiple_of = true;
         schema->multiple_of = *v;
      }
   }
   if (ok && (v = KW("maximum"))) {
      const bson_value_t *exclusive = KW("exclusiveMaximum");
      if (exclusive && exclusive->value_type != BSON_TYPE_BOOL) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'exclusiveMaximum' must be a boolean");
         ok = false;
      } else if ((ok = parse_number_keyword("maximum", v, error))) {
         schema->has_maximum = true;
         schema->maximum = *v;
         schema->has_exclusive_maximum = exclusive != NULL;
         schema->exclusive_maximum = exclusive && exclusive->value.v_bool;
      }
   } else if (ok && KW("exclusiveMaximum")) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$jsonSchema keyword 'maximum' must be a present if exclusiveMaximum is present");
      ok = false;
   }
   if (ok && (v = KW("minimum"))) {
      const bson_value_t *exclusive = KW("exclusiveMinimum");
      if (exclusive && exclusive->value_type != BSON_TYPE_BOOL) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'exclusiveMinimum' must be a boolean");
         ok = false;
      } else if ((ok = parse_number_keyword("minimum", v, error))) {
         schema->has_minimum = true;
         schema->minimum = *v;
         schema->has_exclusive_minimum = exclusive != NULL;
         schema->exclusive_minimum = exclusive && exclusive->value.v_bool;
      }
   } else if (ok && KW("exclusiveMinimum")) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "$jsonSchema keyword 'minimum' must be a present if exclusiveMinimum is present");
      ok = false;
   }
   /* array keywords */
   if (ok && (v = KW("minItems"))) {
      ok = parse_non_negative("minItems", v, &schema->min_items, error);
      schema->min_items_spec = *v;
   }
   if (ok && (v = KW("maxItems"))) {
      ok = parse_non_negative("maxItems", v, &schema->max_items, error);
      schema->max_items_spec = *v;
   }
   if (ok && (v = KW("uniqueItems"))) {
      if (v->value_type != BSON_TYPE_BOOL) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$jsonSchema keyword 'uniqueItems' must be a boolean");
         ok = false;
      } else {
         schema->unique_items = v->value.v_bool;
      }
   }
   if (ok && (v = KW("items"))) {
      ok = parse_items(schema, v, error);
   }
   if (ok && (v = KW("additionalItems"))) {
      schema->has_additional_items = true;
      ok = parse_bool_or_schema("additionalItems", v, &schema->additional_items_allowed, &schema->additional_items,
                                error);
   }
   /* object keywords */
   if (ok && (v = KW("required"))) {
      ok = parse_required(schema, v, error);
   }
   if (ok && (v = KW("properties"))) {
      ok = parse_properties(schema, v, error);
   }
   if (ok && (v = KW("patternProperties"))) {
      ok = parse_pattern_properties(schema, v, error);
   }
   if (ok && (v = KW("additionalProperties"))) {
      schema->has_additional_properties = true;
      ok = parse_bool_or_schema("additionalProperties", v, &schema->additional_properties_allowed,
                                &schema->additional_properties, error);
   }
   if (ok && (v = KW("minProperties"))) {
      ok = parse_non_negative("minProperties", v, &schema->min_properties, error);
      schema->min_properties_spec = *v;
   }
   if (ok && (v = KW("maxProperties"))) {
      ok = parse_non_negative("maxProperties", v, &schema->max_properties, error);
      schema->max_properties_spec = *v;
   }
   if (ok && (v = KW("dependencies"))) {
      ok = parse_dependencies(schema, v, error);
   }
   /* logical keywords */
   if (ok && (v = KW("allOf"))) {
      schema->all_of_spec = *v;
      ok = parse_schema_list("allOf", v, &schema->all_of, &schema->all_of_count, error);
   }
   if (ok && (v = KW("anyOf"))) {
      schema->any_of_spec = *v;
      ok = parse_schema_list("anyOf", v, &schema->any_of, &schema->any_of_count, error);
   }
   if (ok && (v = KW("oneOf"))) {
      schema->one_of_spec = *v;
      ok = parse_schema_list("oneOf", v, &schema->one_of, &schema->one_of_count, error);
   }
   if (ok && (v = KW("not"))) {
      if (v->value_type != BSON_TYPE_DOCUMENT) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                        "$jsonSchema keyword 'not' must be an object, but found an element of type %s",
                        duet_type_name(v->value_type));
         ok = false;
      } else {
         bson_t sub;
         value_document(v, &sub);
         ok = parse_schema(&sub, false, &schema->not_schema, error);
      }
   }
   if (ok && (v = KW("enum"))) {
      ok = parse_enum(schema, v, error);
   }
#undef KW
   if (!ok) {
      duet_jsonschema_destroy(schema);
      return false;
   }
   *out = schema;
   return true;
}

bool duet_jsonschema_parse(const bson_t *schema, duet_jsonschema_t **out, duet_error_t *error)
{
   *out = NULL;
   bson_t *copy = bson_copy(schema);
   duet_jsonschema_t *parsed;
   if (!parse_schema(copy, true, &parsed, error)) {
      bson_destroy(copy);
      return false;
   }
   parsed->owned_spec = copy;
   *out = parsed;
   return true;
}

static void destroy_list(duet_jsonschema_t **list, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      duet_jsonschema_destroy(list[i]);
   }
   bson_free(list);
}

void duet_jsonschema_destroy(duet_jsonschema_t *schema)
{
   if (!schema) {
      return;
   }
   destroy_list(schema->all_of, schema->all_of_count);
   destroy_list(schema->any_of, schema->any_of_count);
   destroy_list(schema->one_of, schema->one_of_count);
   duet_jsonschema_destroy(schema->not_schema);
   match_regex_destroy(schema->pattern_regex);
   for (size_t i = 0; i < schema->property_count; i++) {
      duet_jsonschema_destroy(schema->properties[i].schema);
   }
   bson_free(schema->properties);
   for (size_t i = 0; i < schema->pattern_property_count; i++) {
      match_regex_destroy(schema->pattern_properties[i].regex);
      duet_jsonschema_destroy(schema->pattern_properties[i].schema);
   }
   bson_free(schema->pattern_properties);
   duet_jsonschema_destroy(schema->additional_properties);
   for (size_t i = 0; i < schema->dependency_count; i++) {
      duet_jsonschema_destroy(schema->dependencies[i].schema);
   }
   bson_free(schema->dependencies);
   duet_jsonschema_destroy(schema->items);
   destroy_list(schema->item_list, schema->item_list_count);
   duet_jsonschema_destroy(schema->additional_items);
   if (schema->owned_spec) {
      bson_destroy(schema->owned_spec);
   }
   bson_free(schema);
}
