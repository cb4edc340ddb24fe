/*
 * schema_types.c — names, equality, zero values and cleanup for the schema model
 * (include/duet/schema.h): bsonType keywords, Realm's type_string() spelling and the
 * App Services spelling used by `duet diff`.
 */
#include "schema/schema_internal.h"

#include <stdarg.h>
#include <string.h>

static const char *const duet_schema_bson_type_names[] = {
    [DUET_SCHEMA_OBJECT_ID] = "objectId", [DUET_SCHEMA_STRING] = "string", [DUET_SCHEMA_INT] = "int",
    [DUET_SCHEMA_LONG] = "long",          [DUET_SCHEMA_DOUBLE] = "double", [DUET_SCHEMA_DECIMAL] = "decimal",
    [DUET_SCHEMA_BOOL] = "bool",          [DUET_SCHEMA_DATE] = "date",     [DUET_SCHEMA_UUID] = "uuid",
    [DUET_SCHEMA_BINDATA] = "binData",    [DUET_SCHEMA_MIXED] = "mixed",   [DUET_SCHEMA_OBJECT] = "object",
};

/* realm-core string_for_property_type() for the base type (property.hpp). */
static const char *const duet_schema_realm_names[] = {
    [DUET_SCHEMA_OBJECT_ID] = "object id",
    [DUET_SCHEMA_STRING] = "string",
    [DUET_SCHEMA_INT] = "int",
    [DUET_SCHEMA_LONG] = "int",
    [DUET_SCHEMA_DOUBLE] = "double",
    [DUET_SCHEMA_DECIMAL] = "decimal",
    [DUET_SCHEMA_BOOL] = "bool",
    [DUET_SCHEMA_DATE] = "date",
    [DUET_SCHEMA_UUID] = "uuid",
    [DUET_SCHEMA_BINDATA] = "data",
    [DUET_SCHEMA_MIXED] = "mixed",
    [DUET_SCHEMA_OBJECT] = "object",
};

const char *duet_schema_bson_type_name(duet_schema_bson_type_t type)
{
   if ((size_t)type >= sizeof duet_schema_bson_type_names / sizeof duet_schema_bson_type_names[0]) {
      return "?";
   }
   return duet_schema_bson_type_names[type];
}

void duet_schema_append(char **buffer, const char *format, ...)
{
   va_list args;
   va_start(args, format);
   char *piece = bson_strdupv_printf(format, args);
   va_end(args);
   if (!*buffer) {
      *buffer = piece;
      return;
   }
   char *joined = bson_strdup_printf("%s%s", *buffer, piece);
   bson_free(*buffer);
   bson_free(piece);
   *buffer = joined;
}

char *duet_schema_value_to_json(const bson_value_t *value)
{
   bson_t wrapper = BSON_INITIALIZER;
   bson_append_value(&wrapper, "v", 1, value);
   char *json = bson_as_relaxed_extended_json(&wrapper, NULL);
   bson_destroy(&wrapper);
   /* json is `{ "v" : <value> }`: keep <value>. */
   const char *start = strchr(json, ':');
   char *result = bson_strdup(start ? start + 2 : json);
   size_t len = strlen(result);
   if (len >= 2 && result[len - 1] == '}' && result[len - 2] == ' ') {
      result[len - 2] = '\0';
   }
   bson_free(json);
   return result;
}

char *duet_schema_type_realm_name(const duet_schema_type_t *type)
{
   const char *element = type->element == DUET_SCHEMA_OBJECT && type->object ? type->object->title
                                                                             : duet_schema_realm_names[type->element];
   switch (type->container) {
   case DUET_SCHEMA_LIST: return bson_strdup_printf("array<%s>", element);
   case DUET_SCHEMA_SET: return bson_strdup_printf("set<%s>", element);
   case DUET_SCHEMA_DICTIONARY: return bson_strdup_printf("dictionary<string, %s>", element);
   case DUET_SCHEMA_SINGLE:
   default:
      if (type->element == DUET_SCHEMA_OBJECT) {
         return bson_strdup_printf("<%s>", element);
      }
      return bson_strdup(element);
   }
}

char *duet_schema_type_spelling(const duet_schema_type_t *type)
{
   bool embedded = type->element == DUET_SCHEMA_OBJECT && type->object;
   if (embedded && type->container == DUET_SCHEMA_SINGLE) {
      return bson_strdup_printf("<%s>", type->object->title);
   }
   char *element = embedded ? bson_strdup(type->object->title) : bson_strdup(duet_schema_bson_type_name(type->element));
   char *result;
   switch (type->container) {
   case DUET_SCHEMA_LIST: result = bson_strdup_printf("array<%s>", element); break;
   case DUET_SCHEMA_SET: result = bson_strdup_printf("set<%s>", element); break;
   case DUET_SCHEMA_DICTIONARY: result = bson_strdup_printf("dictionary<%s>", element); break;
   case DUET_SCHEMA_SINGLE:
   default: return element;
   }
   bson_free(element);
   return result;
}

bool duet_schema_type_equal(const duet_schema_type_t *a, const duet_schema_type_t *b)
{
   if (a->container != b->container || a->element != b->element) {
      return false;
   }
   if (a->element == DUET_SCHEMA_OBJECT) {
      return a->object && b->object && strcmp(a->object->title, b->object->title) == 0;
   }
   return true;
}

/* An owned, empty document or array value. */
static void empty_document_value(bson_type_t kind, bson_value_t *out)
{
   static const uint8_t empty[5] = {5, 0, 0, 0, 0};
   out->value_type = kind;
   out->value.v_doc.data = bson_malloc(sizeof empty);
   memcpy(out->value.v_doc.data, empty, sizeof empty);
   out->value.v_doc.data_len = sizeof empty;
}

void duet_schema_type_zero_value(const duet_schema_type_t *type, bson_value_t *out)
{
   memset(out, 0, sizeof *out);
   if (type->container == DUET_SCHEMA_LIST || type->container == DUET_SCHEMA_SET) {
      empty_document_value(BSON_TYPE_ARRAY, out);
      return;
   }
   if (type->container == DUET_SCHEMA_DICTIONARY) {
      empty_document_value(BSON_TYPE_DOCUMENT, out);
      return;
   }
   switch (type->element) {
   case DUET_SCHEMA_OBJECT_ID: out->value_type = BSON_TYPE_OID; break;
   case DUET_SCHEMA_STRING:
      out->value_type = BSON_TYPE_UTF8;
      out->value.v_utf8.str = bson_strdup("");
      out->value.v_utf8.len = 0;
      break;
   case DUET_SCHEMA_INT: out->value_type = BSON_TYPE_INT32; break;
   case DUET_SCHEMA_LONG: out->value_type = BSON_TYPE_INT64; break;
   case DUET_SCHEMA_DOUBLE: out->value_type = BSON_TYPE_DOUBLE; break;
   case DUET_SCHEMA_DECIMAL:
      out->value_type = BSON_TYPE_DECIMAL128;
      bson_decimal128_from_string("0", &out->value.v_decimal128);
      break;
   case DUET_SCHEMA_BOOL: out->value_type = BSON_TYPE_BOOL; break;
   case DUET_SCHEMA_DATE: out->value_type = BSON_TYPE_DATE_TIME; break;
   case DUET_SCHEMA_UUID:
      out->value_type = BSON_TYPE_BINARY;
      out->value.v_binary.subtype = BSON_SUBTYPE_UUID;
      out->value.v_binary.data = bson_malloc0(16);
      out->value.v_binary.data_len = 16;
      break;
   case DUET_SCHEMA_BINDATA:
      out->value_type = BSON_TYPE_BINARY;
      out->value.v_binary.subtype = BSON_SUBTYPE_BINARY;
      out->value.v_binary.data = bson_malloc0(1); /* empty; non-NULL so copies stay valid */
      out->value.v_binary.data_len = 0;
      break;
   case DUET_SCHEMA_MIXED: out->value_type = BSON_TYPE_NULL; break;
   case DUET_SCHEMA_OBJECT:
   default: empty_document_value(BSON_TYPE_DOCUMENT, out); break;
   }
}

static bool element_accepts(duet_schema_bson_type_t element, const bson_value_t *value)
{
   switch (element) {
   case DUET_SCHEMA_OBJECT_ID: return value->value_type == BSON_TYPE_OID;
   case DUET_SCHEMA_STRING: return value->value_type == BSON_TYPE_UTF8;
   case DUET_SCHEMA_INT:
      return value->value_type == BSON_TYPE_INT32 ||
             (value->value_type == BSON_TYPE_INT64 && value->value.v_int64 >= INT32_MIN &&
              value->value.v_int64 <= INT32_MAX);
   case DUET_SCHEMA_LONG:
      /* JSON has one number syntax: small integers parse as int32. */
      return value->value_type == BSON_TYPE_INT32 || value->value_type == BSON_TYPE_INT64;
   case DUET_SCHEMA_DOUBLE:
      return value->value_type == BSON_TYPE_DOUBLE || value->value_type == BSON_TYPE_INT32 ||
             value->value_type == BSON_TYPE_INT64;
   case DUET_SCHEMA_DECIMAL:
      return value->value_type == BSON_TYPE_DECIMAL128 || value->value_type == BSON_TYPE_DOUBLE ||
             value->value_type == BSON_TYPE_INT32 || value->value_type == BSON_TYPE_INT64;
   case DUET_SCHEMA_BOOL: return value->value_type == BSON_TYPE_BOOL;
   case DUET_SCHEMA_DATE: return value->value_type == BSON_TYPE_DATE_TIME;
   case DUET_SCHEMA_UUID:
      return value->value_type == BSON_TYPE_BINARY && value->value.v_binary.subtype == BSON_SUBTYPE_UUID &&
             value->value.v_binary.data_len == 16;
   case DUET_SCHEMA_BINDATA: return value->value_type == BSON_TYPE_BINARY;
   case DUET_SCHEMA_MIXED: return true;
   case DUET_SCHEMA_OBJECT:
   default: return value->value_type == BSON_TYPE_DOCUMENT;
   }
}

bool duet_schema_type_accepts_value(const duet_schema_type_t *type, const bson_value_t *value)
{
   switch (type->container) {
   case DUET_SCHEMA_LIST:
   case DUET_SCHEMA_SET: return value->value_type == BSON_TYPE_ARRAY;
   case DUET_SCHEMA_DICTIONARY: return value->value_type == BSON_TYPE_DOCUMENT;
   case DUET_SCHEMA_SINGLE:
   default: return element_accepts(type->element, value);
   }
}

void duet_schema_type_clear(duet_schema_type_t *type)
{
   if (type->object) {
      duet_schema_object_clear(type->object);
      bson_free(type->object);
      type->object = NULL;
   }
}

void duet_schema_object_clear(duet_schema_object_t *object)
{
   for (size_t i = 0; i < object->property_count; i++) {
      duet_schema_property_t *property = &object->properties[i];
      bson_free(property->name);
      duet_schema_type_clear(&property->type);
      if (property->has_default) {
         bson_value_destroy(&property->default_value);
      }
   }
   bson_free(object->properties);
   bson_free(object->title);
   object->properties = NULL;
   object->property_count = 0;
   object->title = NULL;
}

void duet_schema_set_destroy(duet_schema_set_t *set)
{
   if (!set) {
      return;
   }
   for (size_t i = 0; i < set->schema_count; i++) {
      bson_free(set->schemas[i].collection);
      duet_schema_object_clear(&set->schemas[i].root);
   }
   bson_free(set->schemas);
   for (size_t i = 0; i < set->warning_count; i++) {
      bson_free(set->warnings[i]);
   }
   bson_free(set->warnings);
   bson_free(set->source);
   bson_free(set);
}

const duet_schema_t *duet_schema_set_find(const duet_schema_set_t *set, const char *name)
{
   for (size_t i = 0; i < set->schema_count; i++) {
      if (strcmp(set->schemas[i].root.title, name) == 0) {
         return &set->schemas[i];
      }
   }
   for (size_t i = 0; i < set->schema_count; i++) {
      if (strcmp(set->schemas[i].collection, name) == 0) {
         return &set->schemas[i];
      }
   }
   return NULL;
}

const duet_schema_property_t *duet_schema_object_find(const duet_schema_object_t *object, const char *name)
{
   for (size_t i = 0; i < object->property_count; i++) {
      if (strcmp(object->properties[i].name, name) == 0) {
         return &object->properties[i];
      }
   }
   return NULL;
}
