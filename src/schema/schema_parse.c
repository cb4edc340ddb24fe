/*
 * schema_parse.c — App Services schema JSON → duet_schema_set_t.
 *
 * libbson parses the JSON (key order kept); this file turns syntax-error byte offsets
 * into "line L, column C", then walks the document: root object schemas, properties,
 * `required`, `default`, embedded objects, arrays (`items`), sets (`uniqueItems`) and
 * dictionaries (`additionalProperties`).  Every rejection is one sentence naming the
 * source, the schema path and what to do.
 */
#include "schema/schema_internal.h"

#include <duet/doc.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
   const char *source;
   duet_schema_set_t *set; /* receives warnings */
   duet_error_t *error;
} parse_context_t;

static void add_warning(parse_context_t *context, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(parse_context_t *context, const char *format, ...)
{
   va_list args;
   va_start(args, format);
   char *text = bson_strdupv_printf(format, args);
   va_end(args);
   duet_schema_set_t *set = context->set;
   set->warnings = bson_realloc(set->warnings, (set->warning_count + 1) * sizeof *set->warnings);
   set->warnings[set->warning_count++] = bson_strdup_printf("%s: %s", context->source, text);
   bson_free(text);
}

#define SCHEMA_TYPE_LIST "objectId, string, int, long, double, decimal, bool, date, uuid, binData, mixed, object, array"

/* ---- JSON text ------------------------------------------------------------------ */

/* Byte offset just past the first complete JSON value starting at `start` (an object or
 * array), or len when it never closes. Strings and escapes are skipped. */
static size_t end_of_first_value(const uint8_t *data, size_t len, size_t start)
{
   int depth = 0;
   bool in_string = false;
   for (size_t i = start; i < len; i++) {
      uint8_t c = data[i];
      if (in_string) {
         if (c == '\\') {
            i++;
         } else if (c == '"') {
            in_string = false;
         }
      } else if (c == '"') {
         in_string = true;
      } else if (c == '{' || c == '[') {
         depth++;
      } else if (c == '}' || c == ']') {
         if (--depth == 0) {
            return i + 1;
         }
      }
   }
   return len;
}

static size_t skip_space(const uint8_t *data, size_t len, size_t i)
{
   while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) {
      i++;
   }
   return i;
}

/* ---- schema walk ------------------------------------------------------------------ */

static bool parse_object_body(parse_context_t *context, const bson_t *doc, const char *where, int depth,
                              duet_schema_object_t *object);

static bool fail(parse_context_t *context, const char *where, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(parse_context_t *context, const char *where, const char *format, ...)
{
   va_list args;
   va_start(args, format);
   char *text = bson_strdupv_printf(format, args);
   va_end(args);
   duet_error_set(context->error, DUET_ERR_BAD_VALUE, "%s: %s: %s", context->source, where, text);
   bson_free(text);
   return false;
}

/* Copies a sub-document at the iterator into `out` (static view over the parent buffer). */
static bool iter_document(const bson_iter_t *iter, bson_t *out)
{
   uint32_t len;
   const uint8_t *data;
   if (BSON_ITER_HOLDS_DOCUMENT(iter)) {
      bson_iter_document(iter, &len, &data);
   } else if (BSON_ITER_HOLDS_ARRAY(iter)) {
      bson_iter_array(iter, &len, &data);
   } else {
      return false;
   }
   return bson_init_static(out, data, len);
}

static const char *bson_kind(const bson_iter_t *iter)
{
   switch (bson_iter_type(iter)) {
   case BSON_TYPE_UTF8: return "a string";
   case BSON_TYPE_DOCUMENT: return "an object";
   case BSON_TYPE_ARRAY: return "an array";
   case BSON_TYPE_BOOL: return "a boolean";
   case BSON_TYPE_NULL: return "null";
   default: return "a number";
   }
}

static bool bson_type_from_keyword(const char *name, duet_schema_bson_type_t *out, bool *is_array)
{
   static const struct {
      const char *name;
      duet_schema_bson_type_t type;
   } names[] = {
       {"objectId", DUET_SCHEMA_OBJECT_ID}, {"string", DUET_SCHEMA_STRING}, {"int", DUET_SCHEMA_INT},
       {"long", DUET_SCHEMA_LONG},          {"double", DUET_SCHEMA_DOUBLE}, {"decimal", DUET_SCHEMA_DECIMAL},
       {"bool", DUET_SCHEMA_BOOL},          {"date", DUET_SCHEMA_DATE},     {"uuid", DUET_SCHEMA_UUID},
       {"binData", DUET_SCHEMA_BINDATA},    {"mixed", DUET_SCHEMA_MIXED},   {"object", DUET_SCHEMA_OBJECT},
   };
   *is_array = strcmp(name, "array") == 0;
   if (*is_array) {
      return true;
   }
   for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      if (strcmp(names[i].name, name) == 0) {
         *out = names[i].type;
         return true;
      }
   }
   return false;
}

/* Reads `bsonType` of a (sub)schema: a string, or an array of one type plus "null".
 * Sets *found false when absent. */
static bool read_bson_type(parse_context_t *context, const bson_t *doc, const char *where, bool *found,
                           duet_schema_bson_type_t *type, bool *is_array)
{
   bson_iter_t iter;
   *found = false;
   if (bson_iter_init_find(&iter, doc, "type") && !bson_iter_init_find(&iter, doc, "bsonType")) {
      return fail(context, where,
                  "uses the JSON Schema keyword \"type\"; App Services schemas name types with "
                  "\"bsonType\" (for example \"bsonType\": \"string\")");
   }
   if (!bson_iter_init_find(&iter, doc, "bsonType")) {
      return true;
   }
   const char *name = NULL;
   if (BSON_ITER_HOLDS_UTF8(&iter)) {
      name = bson_iter_utf8(&iter, NULL);
   } else if (BSON_ITER_HOLDS_ARRAY(&iter)) {
      bson_t list;
      bson_iter_t item;
      iter_document(&iter, &list);
      bson_iter_init(&item, &list);
      while (bson_iter_next(&item)) {
         if (!BSON_ITER_HOLDS_UTF8(&item)) {
            return fail(context, where, "\"bsonType\" lists %s; list type names as strings", bson_kind(&item));
         }
         const char *candidate = bson_iter_utf8(&item, NULL);
         if (strcmp(candidate, "null") == 0) {
            continue;
         }
         if (name) {
            return fail(context, where,
                        "\"bsonType\" lists both '%s' and '%s'; a synced property has one type: use \"mixed\" "
                        "for values of several types",
                        name, candidate);
         }
         name = candidate;
      }
      if (!name) {
         return fail(context, where, "\"bsonType\" names no type other than null; name the property's type");
      }
   } else {
      return fail(context, where, "\"bsonType\" is %s; it must be a type name such as \"string\"", bson_kind(&iter));
   }
   if (strcmp(name, "boolean") == 0) {
      add_warning(context, "%s: bsonType 'boolean' is not a BSON type name; read as 'bool'", where);
      name = "bool";
   }
   if (!bson_type_from_keyword(name, type, is_array)) {
      return fail(context, where, "unknown bsonType '%s'; use one of: " SCHEMA_TYPE_LIST, name);
   }
   *found = true;
   return true;
}

/* Parses a property's or element's type.  `title_fallback` names an embedded object
 * that has no title. `allow_container` is false for list/set/dictionary elements. */
static bool parse_type(parse_context_t *context, const bson_t *doc, const char *where, const char *title_fallback,
                       int depth, bool allow_container, duet_schema_type_t *type)
{
   memset(type, 0, sizeof *type);
   if (depth > DUET_SCHEMA_MAX_DEPTH) {
      return fail(context, where, "nesting is deeper than %d levels; flatten the schema", DUET_SCHEMA_MAX_DEPTH);
   }
   bool found, is_array = false;
   duet_schema_bson_type_t element = DUET_SCHEMA_MIXED;
   if (!read_bson_type(context, doc, where, &found, &element, &is_array)) {
      return false;
   }
   bson_iter_t iter;
   if (!found) {
      /* Infer what the keywords imply, as App Services does for nested schemas. */
      if (bson_iter_init_find(&iter, doc, "items")) {
         is_array = true;
      } else if (bson_iter_init_find(&iter, doc, "properties") ||
                 bson_iter_init_find(&iter, doc, "additionalProperties")) {
         element = DUET_SCHEMA_OBJECT;
      } else {
         return fail(context, where, "has no \"bsonType\"; add one (" SCHEMA_TYPE_LIST ")");
      }
   }
   if (is_array) {
      if (!allow_container) {
         return fail(context, where,
                     "is a collection inside a collection, which Device Sync does not support; "
                     "use an embedded object holding the inner array");
      }
      if (!bson_iter_init_find(&iter, doc, "items")) {
         return fail(context, where, "is an array without \"items\"; add \"items\": {\"bsonType\": ...}");
      }
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return fail(context, where, "\"items\" is %s; it must be one schema object", bson_kind(&iter));
      }
      bson_t items;
      iter_document(&iter, &items);
      type->container = DUET_SCHEMA_LIST;
      if (bson_iter_init_find(&iter, doc, "uniqueItems") && BSON_ITER_HOLDS_BOOL(&iter) && bson_iter_bool(&iter)) {
         type->container = DUET_SCHEMA_SET;
      }
      char *items_where = bson_strdup_printf("%s[]", where);
      duet_schema_type_t inner;
      bool ok = parse_type(context, &items, items_where, title_fallback, depth + 1, false, &inner);
      bson_free(items_where);
      if (!ok) {
         return false;
      }
      type->element = inner.element;
      type->object = inner.object;
      if (type->container == DUET_SCHEMA_SET && type->element == DUET_SCHEMA_OBJECT) {
         duet_schema_type_clear(type);
         return fail(context, where,
                     "is a set of embedded objects; Realm sets cannot hold embedded objects, use "
                     "an array");
      }
      return true;
   }
   type->container = DUET_SCHEMA_SINGLE;
   type->element = element;
   if (element != DUET_SCHEMA_OBJECT) {
      return true;
   }
   /* An object: a dictionary when it has additionalProperties and no properties. */
   bool has_properties = false;
   if (bson_iter_init_find(&iter, doc, "properties")) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return fail(context, where, "\"properties\" is %s; it must be an object", bson_kind(&iter));
      }
      bson_t properties;
      iter_document(&iter, &properties);
      has_properties = !bson_empty(&properties);
   }
   bson_iter_t additional;
   bool dictionary = false;
   if (!has_properties && bson_iter_init_find(&additional, doc, "additionalProperties")) {
      dictionary =
          BSON_ITER_HOLDS_DOCUMENT(&additional) || (BSON_ITER_HOLDS_BOOL(&additional) && bson_iter_bool(&additional));
   }
   if (dictionary) {
      if (!allow_container) {
         return fail(context, where, "is a dictionary inside a collection, which Device Sync does not support");
      }
      type->container = DUET_SCHEMA_DICTIONARY;
      if (BSON_ITER_HOLDS_BOOL(&additional)) {
         type->element = DUET_SCHEMA_MIXED;
         return true;
      }
      bson_t values;
      iter_document(&additional, &values);
      char *values_where = bson_strdup_printf("%s{}", where);
      duet_schema_type_t inner;
      bool ok = parse_type(context, &values, values_where, title_fallback, depth + 1, false, &inner);
      bson_free(values_where);
      if (!ok) {
         return false;
      }
      type->element = inner.element;
      type->object = inner.object;
      return true;
   }
   type->object = bson_malloc0(sizeof *type->object);
   if (!parse_object_body(context, doc, where, depth + 1, type->object)) {
      duet_schema_type_clear(type);
      return false;
   }
   if (!type->object->title) {
      type->object->title = bson_strdup(title_fallback);
   }
   return true;
}

/* JSON has one number syntax: store a numeric default as the property's own BSON type
 * (int32 for int, int64 for long, double, decimal128) so documents filled with it validate. */
static void normalize_number_default(const duet_schema_type_t *type, bson_value_t *value)
{
   if (type->container != DUET_SCHEMA_SINGLE) {
      return;
   }
   bson_type_t kind = value->value_type;
   bool integral = kind == BSON_TYPE_INT32 || kind == BSON_TYPE_INT64;
   int64_t as_int = kind == BSON_TYPE_INT32 ? value->value.v_int32 : kind == BSON_TYPE_INT64 ? value->value.v_int64 : 0;
   switch (type->element) {
   case DUET_SCHEMA_INT:
      if (kind == BSON_TYPE_INT64) {
         value->value_type = BSON_TYPE_INT32;
         value->value.v_int32 = (int32_t)as_int; /* range checked by duet_schema_type_accepts_value */
      }
      break;
   case DUET_SCHEMA_LONG:
      if (integral) {
         value->value_type = BSON_TYPE_INT64;
         value->value.v_int64 = as_int;
      }
      break;
   case DUET_SCHEMA_DOUBLE:
      if (integral) {
         value->value_type = BSON_TYPE_DOUBLE;
         value->value.v_double = (double)as_int;
      }
      break;
   case DUET_SCHEMA_DECIMAL:
      if (integral || kind == BSON_TYPE_DOUBLE) {
         char text[64];
         if (integral) {
            snprintf(text, sizeof text, "%lld", (long long)as_int);
         } else {
            snprintf(text, sizeof text, "%.17g", value->value.v_double);
         }
         value->value_type = BSON_TYPE_DECIMAL128;
         bson_decimal128_from_string(text, &value->value.v_decimal128);
      }
      break;
   default: break;
   }
}

static bool parse_property(parse_context_t *context, const char *name, const bson_t *doc, const char *where, int depth,
                           duet_schema_property_t *property)
{
   memset(property, 0, sizeof *property);
   if (!parse_type(context, doc, where, name, depth, true, &property->type)) {
      return false;
   }
   property->name = bson_strdup(name);
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, doc, "default")) {
      bson_value_copy(bson_iter_value(&iter), &property->default_value);
      property->has_default = true;
      if (!duet_schema_type_accepts_value(&property->type, &property->default_value)) {
         char *value = duet_schema_value_to_json(&property->default_value);
         char *spelling = duet_schema_type_spelling(&property->type);
         fail(context, where,
              "the default %s does not match the property's bsonType '%s'; App Services does not check this and "
              "clients would report documents missing the property as lacking a required field, so write a default "
              "of type '%s'",
              value, spelling, spelling);
         bson_free(value);
         bson_free(spelling);
         return false;
      }
      normalize_number_default(&property->type, &property->default_value);
   }
   return true;
}

/* Fills an object schema from `properties`, `required` and `title`. */
static bool parse_object_body(parse_context_t *context, const bson_t *doc, const char *where, int depth,
                              duet_schema_object_t *object)
{
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, doc, "title")) {
      if (!BSON_ITER_HOLDS_UTF8(&iter)) {
         return fail(context, where, "\"title\" is %s; it must be the object type name as a string", bson_kind(&iter));
      }
      object->title = bson_strdup(bson_iter_utf8(&iter, NULL));
      if (object->title[0] == '\0') {
         return fail(context, where, "\"title\" is empty; name the object type");
      }
   }
   if (bson_iter_init_find(&iter, doc, "properties")) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         return fail(context, where, "\"properties\" is %s; it must be an object", bson_kind(&iter));
      }
      bson_t properties;
      bson_iter_t field;
      iter_document(&iter, &properties);
      uint32_t count = bson_count_keys(&properties);
      object->properties = bson_malloc0((count ? count : 1) * sizeof *object->properties);
      bson_iter_init(&field, &properties);
      while (bson_iter_next(&field)) {
         const char *name = bson_iter_key(&field);
         char *property_where = bson_strdup_printf("%s.%s", where, name);
         if (duet_schema_object_find(object, name)) {
            fail(context, property_where, "property '%s' is defined twice; keep one definition", name);
            bson_free(property_where);
            return false;
         }
         if (!BSON_ITER_HOLDS_DOCUMENT(&field)) {
            fail(context, property_where,
                 "the property's schema is %s; it must be an object such as "
                 "{\"bsonType\": \"string\"}",
                 bson_kind(&field));
            bson_free(property_where);
            return false;
         }
         bson_t property_doc;
         iter_document(&field, &property_doc);
         bool ok = parse_property(context, name, &property_doc, property_where, depth,
                                  &object->properties[object->property_count]);
         bson_free(property_where);
         object->property_count++; /* counted even on failure, so the caller's clear frees it */
         if (!ok) {
            return false;
         }
      }
   }
   if (bson_iter_init_find(&iter, doc, "required")) {
      if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
         return fail(context, where, "\"required\" is %s; it must be an array of property names", bson_kind(&iter));
      }
      bson_t required;
      bson_iter_t item;
      iter_document(&iter, &required);
      bson_iter_init(&item, &required);
      while (bson_iter_next(&item)) {
         if (!BSON_ITER_HOLDS_UTF8(&item)) {
            return fail(context, where, "\"required\" lists %s; list property names as strings", bson_kind(&item));
         }
         const char *name = bson_iter_utf8(&item, NULL);
         duet_schema_property_t *property = (duet_schema_property_t *)duet_schema_object_find(object, name);
         if (!property) {
            return fail(context, where,
                        "\"required\" names '%s', which is not in \"properties\"; define it or remove it from "
                        "\"required\"",
                        name);
         }
         if (property->required) {
            return fail(context, where, "\"required\" lists '%s' twice; list it once", name);
         }
         property->required = true;
      }
   }
   return true;
}

static bool looks_like_schema(const bson_t *doc)
{
   static const char *const keywords[] = {
       "bsonType", "type", "title", "properties", "required", "items", "additionalProperties"};
   bson_iter_t iter;
   for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
      if (bson_iter_init_find(&iter, doc, keywords[i])) {
         return true;
      }
   }
   return false;
}

/* Parses one top-level schema into set->schemas[set->schema_count]. */
static bool parse_top(parse_context_t *context, const bson_t *doc, const char *collection, const char *where)
{
   duet_schema_set_t *set = context->set;
   bson_iter_t iter;
   /* Name places inside the schema after its title when it has one: "Task.address.zip". */
   const char *label = where;
   if (bson_iter_init_find(&iter, doc, "title") && BSON_ITER_HOLDS_UTF8(&iter) && bson_iter_utf8(&iter, NULL)[0]) {
      label = bson_iter_utf8(&iter, NULL);
   } else if (collection) {
      label = collection;
   }
   if (!bson_iter_init_find(&iter, doc, "bsonType")) {
      return fail(context, label,
                  "the root is not an object schema: it has no \"bsonType\": \"object\"; a synced "
                  "collection's schema starts {\"title\": ..., \"bsonType\": \"object\", "
                  "\"properties\": {...}}");
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter) || strcmp(bson_iter_utf8(&iter, NULL), "object") != 0) {
      char *shown = BSON_ITER_HOLDS_UTF8(&iter) ? bson_strdup_printf("'%s'", bson_iter_utf8(&iter, NULL))
                                                : bson_strdup(bson_kind(&iter));
      fail(context, label,
           "the root is not an object schema: its bsonType is %s; a collection's schema must have "
           "\"bsonType\": \"object\"",
           shown);
      bson_free(shown);
      return false;
   }
   duet_schema_t *schema = &set->schemas[set->schema_count];
   memset(schema, 0, sizeof *schema);
   bool ok = parse_object_body(context, doc, label, 0, &schema->root);
   if (ok && !schema->root.title) {
      if (collection) {
         schema->root.title = bson_strdup(collection);
      } else {
         ok = fail(context, label,
                   "the schema has no \"title\"; add \"title\": \"<ObjectType>\" (the Realm object "
                   "type name)");
      }
   }
   if (ok) {
      for (size_t i = 0; i < set->schema_count; i++) {
         if (strcmp(set->schemas[i].root.title, schema->root.title) == 0) {
            ok = fail(context, label,
                      "title '%s' is used by two schemas; titles name Realm object types and must be unique, "
                      "rename one",
                      schema->root.title);
            break;
         }
      }
   }
   if (!ok) {
      duet_schema_object_clear(&schema->root);
      return false;
   }
   schema->collection = bson_strdup(collection ? collection : schema->root.title);
   set->schema_count++;
   if (strlen(schema->root.title) > 57) {
      add_warning(context, "%s: title '%s' is longer than 57 characters, the limit for Realm object types", label,
                  schema->root.title);
   }
   const duet_schema_property_t *id = duet_schema_object_find(&schema->root, "_id");
   if (!id) {
      add_warning(context, "%s: no '_id' property; Device Sync requires a primary key named _id", label);
   } else if (id->type.container != DUET_SCHEMA_SINGLE ||
              (id->type.element != DUET_SCHEMA_OBJECT_ID && id->type.element != DUET_SCHEMA_STRING &&
               id->type.element != DUET_SCHEMA_INT && id->type.element != DUET_SCHEMA_LONG &&
               id->type.element != DUET_SCHEMA_UUID)) {
      char *spelling = duet_schema_type_spelling(&id->type);
      add_warning(context, "%s: '_id' is of type '%s'; a primary key must be objectId, string, int, long or uuid",
                  label, spelling);
      bson_free(spelling);
   }
   return true;
}

static bool collection_defined(const duet_schema_set_t *set, const char *collection)
{
   for (size_t i = 0; i < set->schema_count; i++) {
      if (strcmp(set->schemas[i].collection, collection) == 0) {
         return true;
      }
   }
   return false;
}

bool duet_schema_set_from_bson(const char *source, const bson_t *root, bool is_array, duet_schema_set_t **out,
                               duet_error_t *error)
{
   *out = NULL;
   duet_schema_set_t *set = bson_malloc0(sizeof *set);
   set->source = bson_strdup(source);
   parse_context_t context = {source, set, error};
   uint32_t count = bson_count_keys(root);
   set->schemas = bson_malloc0((count ? count : 1) * sizeof *set->schemas);
   bool ok = true;
   if (!is_array && looks_like_schema(root)) {
      ok = parse_top(&context, root, NULL, "root schema");
   } else {
      if (count == 0) {
         ok = fail(&context, is_array ? "root array" : "root object",
                   "holds no schema; write a schema object, an array of them, or an object keyed by collection name");
      }
      bson_iter_t iter;
      bson_iter_init(&iter, root);
      for (unsigned index = 0; ok && bson_iter_next(&iter); index++) {
         const char *key = bson_iter_key(&iter);
         char *where = is_array ? bson_strdup_printf("schema [%u]", index) : bson_strdup_printf("'%s'", key);
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            ok = fail(&context, where, "the root is not an object schema: found %s where a schema object belongs",
                      bson_kind(&iter));
         } else if (!is_array && collection_defined(set, key)) {
            ok = fail(&context, where, "collection '%s' appears twice; keep one schema per collection", key);
         } else {
            bson_t doc;
            iter_document(&iter, &doc);
            ok = parse_top(&context, &doc, is_array ? NULL : key, where);
         }
         bson_free(where);
      }
   }
   if (!ok) {
      duet_schema_set_destroy(set);
      return false;
   }
   *out = set;
   return true;
}

bool duet_schema_set_parse(const char *source, const uint8_t *data, size_t len, duet_schema_set_t **out,
                           duet_error_t *error)
{
   *out = NULL;
   size_t start = 0;
   if (len >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF) {
      start = 3; /* UTF-8 byte order mark */
   }
   start = skip_space(data, len, start);
   if (start >= len) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: the file is empty; it must hold a JSON schema object (or an array of them)", source);
      return false;
   }
   if (data[start] != '{' && data[start] != '[') {
      unsigned line, column;
      duet_json_line_column(data, len, start, &line, &column);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: line %u, column %u: the root is not an object schema: the JSON must start with '{' (one "
                     "schema, or schemas keyed by collection name) or '[' (an array of schemas)",
                     source, line, column);
      return false;
   }
   bool is_array = data[start] == '[';
   if (memchr(data, '\0', len)) {
      unsigned line, column;
      duet_json_line_column(data, len, (size_t)((const uint8_t *)memchr(data, '\0', len) - data), &line, &column);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: line %u, column %u: invalid JSON: a NUL byte; the file must be UTF-8 text", source, line,
                     column);
      return false;
   }
   size_t invalid = duet_json_first_invalid_utf8(data, len);
   if (invalid < len) {
      unsigned line, column;
      duet_json_line_column(data, len, invalid, &line, &column);
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                     "%s: line %u, column %u: invalid JSON: bytes that are not UTF-8; save the file as UTF-8", source,
                     line, column);
      return false;
   }
   bson_json_reader_t *reader = bson_json_data_reader_new(false, len);
   bson_json_data_reader_ingest(reader, data, len);
   bson_t root = BSON_INITIALIZER;
   bson_t extra = BSON_INITIALIZER;
   bson_error_t json_error;
   bool ok = false;
   int rc = bson_json_reader_read(reader, &root, &json_error);
   if (rc < 0) {
      duet_json_report_error(source, data, len, json_error.message, error);
   } else if (rc == 0) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "%s: the file holds no JSON document", source);
   } else {
      rc = bson_json_reader_read(reader, &extra, &json_error);
      if (rc < 0) {
         duet_json_report_error(source, data, len, json_error.message, error);
      } else if (rc > 0) {
         unsigned line, column;
         size_t next = skip_space(data, len, end_of_first_value(data, len, start));
         duet_json_line_column(data, len, next, &line, &column);
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "%s: line %u, column %u: invalid JSON: a second value follows the schema; put several "
                        "schemas in one JSON array",
                        source, line, column);
      } else {
         ok = true;
      }
   }
   bson_json_reader_destroy(reader);
   if (ok) {
      ok = duet_schema_set_from_bson(source, &root, is_array, out, error);
   }
   bson_destroy(&root);
   bson_destroy(&extra);
   return ok;
}

bool duet_schema_set_load(const char *path, duet_schema_set_t **out, duet_error_t *error)
{
   *out = NULL;
   FILE *file = fopen(path, "rb");
   if (!file) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: cannot open the file (%s); check the path", path, strerror(errno));
      return false;
   }
   size_t capacity = 4096, len = 0;
   uint8_t *data = bson_malloc(capacity);
   size_t n;
   while ((n = fread(data + len, 1, capacity - len, file)) > 0) {
      len += n;
      if (len == capacity) {
         capacity *= 2;
         data = bson_realloc(data, capacity);
      }
   }
   bool read_error = ferror(file);
   fclose(file);
   if (read_error) {
      bson_free(data);
      duet_error_set(error, DUET_ERR_BAD_VALUE, "%s: cannot read the file; check that it is a regular file", path);
      return false;
   }
   bool ok = duet_schema_set_parse(path, data, len, out, error);
   bson_free(data);
   return ok;
}
