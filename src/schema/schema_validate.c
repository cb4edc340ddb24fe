/*
 * schema_validate.c — does a document satisfy an App Services schema, so that Device
 * Sync would sync it to clients?  Used by `duet check` to count documents a synced
 * client would not see.  Rules in include/duet/schema.h (duet_schema_validate_document).
 */
#include "schema/schema_internal.h"

#include <duet/doc.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
   unsigned flags;
   char *reason;
   size_t reason_size;
} validate_context_t;

static bool invalid(validate_context_t *context, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool invalid(validate_context_t *context, const char *format, ...)
{
   if (context->reason && context->reason_size) {
      va_list args;
      va_start(args, format);
      vsnprintf(context->reason, context->reason_size, format, args);
      va_end(args);
   }
   return false;
}

/* Name of a value's BSON type for reasons ("int", "string", "binData subtype 0"). */
static const char *value_type_name(const bson_iter_t *iter)
{
   return duet_type_name(bson_iter_type(iter));
}

static bool validate_object(validate_context_t *context, const duet_schema_object_t *object, const bson_t *doc,
                            const char *prefix, int depth);

static bool validate_element(validate_context_t *context, duet_schema_bson_type_t element,
                             const duet_schema_object_t *object, bson_iter_t *iter, const char *path, int depth)
{
   bson_type_t type = bson_iter_type(iter);
   bool ok;
   switch (element) {
   case DUET_SCHEMA_OBJECT_ID: ok = type == BSON_TYPE_OID; break;
   case DUET_SCHEMA_STRING: ok = type == BSON_TYPE_UTF8; break;
   case DUET_SCHEMA_INT: ok = type == BSON_TYPE_INT32; break;
   case DUET_SCHEMA_LONG: ok = type == BSON_TYPE_INT64; break;
   case DUET_SCHEMA_DOUBLE: ok = type == BSON_TYPE_DOUBLE; break;
   case DUET_SCHEMA_DECIMAL: ok = type == BSON_TYPE_DECIMAL128; break;
   case DUET_SCHEMA_BOOL: ok = type == BSON_TYPE_BOOL; break;
   case DUET_SCHEMA_DATE: ok = type == BSON_TYPE_DATE_TIME; break;
   case DUET_SCHEMA_UUID: {
      if (type != BSON_TYPE_BINARY) {
         ok = false;
         break;
      }
      bson_subtype_t subtype;
      uint32_t len;
      const uint8_t *data;
      bson_iter_binary(iter, &subtype, &len, &data);
      if (subtype != BSON_SUBTYPE_UUID || len != 16) {
         return invalid(context,
                        "property '%s' is binData subtype %d of %u bytes, expected uuid (subtype 4, 16 "
                        "bytes)",
                        path, (int)subtype, (unsigned)len);
      }
      return true;
   }
   case DUET_SCHEMA_BINDATA: ok = type == BSON_TYPE_BINARY; break;
   case DUET_SCHEMA_MIXED: return true;
   case DUET_SCHEMA_OBJECT:
   default: {
      if (type != BSON_TYPE_DOCUMENT) {
         ok = false;
         break;
      }
      uint32_t len;
      const uint8_t *data;
      bson_t sub;
      bson_iter_document(iter, &len, &data);
      if (!bson_init_static(&sub, data, len)) {
         return invalid(context, "property '%s' is a malformed document", path);
      }
      return validate_object(context, object, &sub, path, depth + 1);
   }
   }
   if (!ok) {
      return invalid(context, "property '%s' is %s, expected %s", path, value_type_name(iter),
                     duet_schema_bson_type_name(element));
   }
   return true;
}

static bool validate_value(validate_context_t *context, const duet_schema_property_t *property, bson_iter_t *iter,
                           const char *path, int depth)
{
   const duet_schema_type_t *type = &property->type;
   if (BSON_ITER_HOLDS_NULL(iter)) {
      if (type->container == DUET_SCHEMA_SINGLE && type->element == DUET_SCHEMA_MIXED) {
         return true;
      }
      if (property->required) {
         return invalid(context, "required property '%s' is null", path);
      }
      if (context->flags & DUET_SCHEMA_VALIDATE_ALLOW_NULL) {
         return true;
      }
      return invalid(context,
                     "property '%s' is null, and null is not accepted (App Services \"Null Type Schema "
                     "Validation\" is off)",
                     path);
   }
   if (type->container == DUET_SCHEMA_SINGLE) {
      return validate_element(context, type->element, type->object, iter, path, depth);
   }
   bool is_dictionary = type->container == DUET_SCHEMA_DICTIONARY;
   if (is_dictionary ? !BSON_ITER_HOLDS_DOCUMENT(iter) : !BSON_ITER_HOLDS_ARRAY(iter)) {
      char *spelling = duet_schema_type_spelling(type);
      invalid(context, "property '%s' is %s, expected %s", path, value_type_name(iter), spelling);
      bson_free(spelling);
      return false;
   }
   uint32_t len;
   const uint8_t *data;
   bson_t items;
   if (is_dictionary) {
      bson_iter_document(iter, &len, &data);
   } else {
      bson_iter_array(iter, &len, &data);
   }
   if (!bson_init_static(&items, data, len)) {
      return invalid(context, "property '%s' is malformed", path);
   }
   bson_iter_t item;
   bson_iter_init(&item, &items);
   while (bson_iter_next(&item)) {
      char *item_path = bson_strdup_printf("%s.%s", path, bson_iter_key(&item)); /* MongoDB dotted path */
      bool ok;
      if (BSON_ITER_HOLDS_NULL(&item) && type->element != DUET_SCHEMA_MIXED) {
         ok = (is_dictionary && type->element == DUET_SCHEMA_OBJECT) ||
              invalid(context, "property '%s' is null, expected %s", item_path,
                      duet_schema_bson_type_name(type->element));
      } else {
         ok = validate_element(context, type->element, type->object, &item, item_path, depth);
      }
      if (ok && type->container == DUET_SCHEMA_SET) {
         bson_iter_t earlier;
         bson_iter_init(&earlier, &items);
         while (ok && bson_iter_next(&earlier) && strcmp(bson_iter_key(&earlier), bson_iter_key(&item)) != 0) {
            if (bson_iter_type(&earlier) == bson_iter_type(&item) && duet_iter_compare(&earlier, &item) == 0) {
               ok = invalid(context, "property '%s' is a set, but elements %s and %s are equal", path,
                            bson_iter_key(&earlier), bson_iter_key(&item));
            }
         }
      }
      bson_free(item_path);
      if (!ok) {
         return false;
      }
   }
   return true;
}

static bool validate_object(validate_context_t *context, const duet_schema_object_t *object, const bson_t *doc,
                            const char *prefix, int depth)
{
   if (depth > DUET_SCHEMA_MAX_DEPTH) {
      return invalid(context, "'%s' nests deeper than %d levels", prefix, DUET_SCHEMA_MAX_DEPTH);
   }
   for (size_t i = 0; i < object->property_count; i++) {
      const duet_schema_property_t *property = &object->properties[i];
      char *path = prefix[0] ? bson_strdup_printf("%s.%s", prefix, property->name) : bson_strdup(property->name);
      bson_iter_t iter;
      bool ok = true;
      if (bson_iter_init_find(&iter, doc, property->name)) {
         ok = validate_value(context, property, &iter, path, depth);
      } else if (property->required && !property->has_default) {
         ok = invalid(context, "required property '%s' is missing", path);
      }
      bson_free(path);
      if (!ok) {
         return false;
      }
   }
   return true;
}

bool duet_schema_validate_document(const duet_schema_t *schema, const bson_t *doc, unsigned flags, char *reason,
                                   size_t reason_size)
{
   validate_context_t context = {flags, reason, reason_size};
   if (reason && reason_size) {
      reason[0] = '\0';
   }
   return validate_object(&context, &schema->root, doc, "", 0);
}
