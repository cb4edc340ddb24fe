/*
 * update_format.c — MongoDB's BSONElement::toString() / BSONObj::toString()
 * rendering of values, used verbatim inside update error messages ("{_id: 1}
 * has the field 'a' of non-numeric type string", "not {$set: \"string\"}", ...).
 * Without `full`, strings over 160 bytes, code over 80 bytes and binary data
 * over 80 bytes are abbreviated as MongoDB does.
 */
#include "mql/update_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* BSONObj::maxToStringRecursionDepth */
#define FORMAT_MAX_DEPTH 100

static void format_value(bson_string_t *out, const bson_value_t *value, bool full, int depth);

static void append_bytes(bson_string_t *out, const char *data, size_t length)
{
   char *copy = bson_strndup(data, length);
   bson_string_append(out, copy);
   bson_free(copy);
}

/* StringBuilder::appendDoubleNice: "%.16g", integral values keep a ".0". */
static void format_double(bson_string_t *out, double x)
{
   char buffer[40];
   snprintf(buffer, sizeof buffer, "%.16g", x);
   bson_string_append(out, buffer);
   if (!strchr(buffer, '.') && !strchr(buffer, 'e') && !strchr(buffer, 'n') && !strchr(buffer, 'i')) {
      bson_string_append(out, ".0");
   }
}

static void format_element(bson_string_t *out, const char *name, const bson_value_t *value, bool full, int depth)
{
   bson_string_append(out, name);
   bson_string_append(out, ": ");
   format_value(out, value, full, depth);
}

static void format_container(bson_string_t *out, const bson_value_t *value, bool full, int depth)
{
   bool is_array = value->value_type == BSON_TYPE_ARRAY;
   bson_iter_t iter;
   bool first = true;
   if (bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len)) {
      while (bson_iter_next(&iter)) {
         bson_string_append(out, first ? (is_array ? "[ " : "{ ") : ", ");
         first = false;
         if (is_array) {
            format_value(out, bson_iter_value(&iter), full, depth + 1);
         } else {
            format_element(out, bson_iter_key(&iter), bson_iter_value(&iter), full, depth + 1);
         }
      }
   }
   bson_string_append(out, first ? (is_array ? "[]" : "{}") : (is_array ? " ]" : " }"));
}

static void format_hex(bson_string_t *out, const uint8_t *data, uint32_t length, bool lower)
{
   for (uint32_t i = 0; i < length; i++) {
      bson_string_append_printf(out, lower ? "%02x" : "%02X", data[i]);
   }
}

static void format_binary(bson_string_t *out, const bson_value_t *value, bool full)
{
   const uint8_t *data = value->value.v_binary.data;
   uint32_t length = value->value.v_binary.data_len;
   if (value->value.v_binary.subtype == BSON_SUBTYPE_UUID && length == 16) {
      bson_string_append(out, "UUID(\"");
      format_hex(out, data, 4, true);
      bson_string_append_c(out, '-');
      format_hex(out, data + 4, 2, true);
      bson_string_append_c(out, '-');
      format_hex(out, data + 6, 2, true);
      bson_string_append_c(out, '-');
      format_hex(out, data + 8, 2, true);
      bson_string_append_c(out, '-');
      format_hex(out, data + 10, 6, true);
      bson_string_append(out, "\")");
      return;
   }
   bson_string_append_printf(out, "BinData(%d, ", (int)value->value.v_binary.subtype);
   if (!full && length > 80) {
      format_hex(out, data, 70, false);
      bson_string_append(out, "...)");
   } else {
      format_hex(out, data, length, false);
      bson_string_append_c(out, ')');
   }
}

static void format_value(bson_string_t *out, const bson_value_t *value, bool full, int depth)
{
   if (depth > FORMAT_MAX_DEPTH) {
      bson_string_append(out, "...");
      return;
   }
   switch (value->value_type) {
   case BSON_TYPE_EOD: bson_string_append(out, "EOO"); break;
   case BSON_TYPE_DOUBLE: format_double(out, value->value.v_double); break;
   case BSON_TYPE_UTF8:
   case BSON_TYPE_SYMBOL: {
      const char *text = value->value_type == BSON_TYPE_UTF8 ? value->value.v_utf8.str : value->value.v_symbol.symbol;
      uint32_t length = value->value_type == BSON_TYPE_UTF8 ? value->value.v_utf8.len : value->value.v_symbol.len;
      bson_string_append_c(out, '"');
      if (!full && length + 1 > 160) {
         append_bytes(out, text, 150);
         bson_string_append(out, "...\"");
      } else {
         append_bytes(out, text, length);
         bson_string_append_c(out, '"');
      }
      break;
   }
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: format_container(out, value, full, depth); break;
   case BSON_TYPE_BINARY: format_binary(out, value, full); break;
   case BSON_TYPE_UNDEFINED: bson_string_append(out, "undefined"); break;
   case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(&value->value.v_oid, hex);
      bson_string_append_printf(out, "ObjectId('%s')", hex);
      break;
   }
   case BSON_TYPE_BOOL: bson_string_append(out, value->value.v_bool ? "true" : "false"); break;
   case BSON_TYPE_DATE_TIME: bson_string_append_printf(out, "new Date(%" PRId64 ")", value->value.v_datetime); break;
   case BSON_TYPE_NULL: bson_string_append(out, "null"); break;
   case BSON_TYPE_REGEX:
      bson_string_append_printf(out, "/%s/%s", value->value.v_regex.regex,
                                value->value.v_regex.options ? value->value.v_regex.options : "");
      break;
   case BSON_TYPE_DBPOINTER: {
      char hex[25];
      bson_oid_to_string(&value->value.v_dbpointer.oid, hex);
      bson_string_append_printf(out, "DBRef('%s',%s)", value->value.v_dbpointer.collection, hex);
      break;
   }
   case BSON_TYPE_CODE: {
      uint32_t length = value->value.v_code.code_len;
      if (!full && length + 1 > 80) {
         append_bytes(out, value->value.v_code.code, 70);
         bson_string_append(out, "...");
      } else {
         append_bytes(out, value->value.v_code.code, length);
      }
      break;
   }
   case BSON_TYPE_CODEWSCOPE: {
      bson_string_append(out, "CodeWScope( ");
      append_bytes(out, value->value.v_codewscope.code, value->value.v_codewscope.code_len);
      bson_string_append(out, ", ");
      bson_value_t scope = {.value_type = BSON_TYPE_DOCUMENT};
      scope.value.v_doc.data = value->value.v_codewscope.scope_data;
      scope.value.v_doc.data_len = value->value.v_codewscope.scope_len;
      format_container(out, &scope, full, depth);
      bson_string_append_c(out, ')');
      break;
   }
   case BSON_TYPE_INT32: bson_string_append_printf(out, "%d", (int)value->value.v_int32); break;
   case BSON_TYPE_INT64: bson_string_append_printf(out, "%" PRId64, value->value.v_int64); break;
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_printf(out, "Timestamp(%u, %u)", (unsigned)value->value.v_timestamp.timestamp,
                                (unsigned)value->value.v_timestamp.increment);
      break;
   case BSON_TYPE_DECIMAL128: {
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value->value.v_decimal128, text);
      bson_string_append(out, text);
      break;
   }
   case BSON_TYPE_MINKEY: bson_string_append(out, "MinKey"); break;
   case BSON_TYPE_MAXKEY: bson_string_append(out, "MaxKey"); break;
   default: bson_string_append_printf(out, "?type=%d", (int)value->value_type); break;
   }
}

void duet_update_format_value(bson_string_t *out, const bson_value_t *value)
{
   format_value(out, value, false, 0);
}

void duet_update_format_element(bson_string_t *out, const char *name, const bson_value_t *value)
{
   format_element(out, name, value, false, 0);
}

void duet_update_format_element_full(bson_string_t *out, const char *name, const bson_value_t *value)
{
   format_element(out, name, value, true, 0);
}

void duet_update_format_uelem(bson_string_t *out, const duet_uelem_t *elem)
{
   bson_value_t value;
   duet_uelem_to_value(elem, &value);
   if (elem->parent && elem->parent->type == BSON_TYPE_ARRAY) {
      char index[24];
      snprintf(index, sizeof index, "%td", duet_uelem_child_index(elem->parent, elem));
      duet_update_format_element(out, index, &value);
   } else {
      duet_update_format_element(out, elem->name, &value);
   }
   bson_value_destroy(&value);
}
