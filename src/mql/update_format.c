/*
 * update_format.c — MongoDB's BSONElement::toString() rendering of values, used
 * verbatim inside update error messages ("{_id: 1} has the field 'a' of
 * non-numeric type string", "not {$set: \"string\"}", ...).
 */
#include "mql/update_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void format_double(bson_string_t *out, double x)
{
   char buffer[40];
   snprintf(buffer, sizeof buffer, "%.16g", x);
   bson_string_append(out, buffer);
   /* StringBuilder::appendDoubleNice: integral values keep a ".0" */
   if (!strchr(buffer, '.') && !strchr(buffer, 'E') && !strchr(buffer, 'e') && !strchr(buffer, 'n') &&
       !strchr(buffer, 'N')) {
      bson_string_append(out, ".0");
   }
}

static void format_container(bson_string_t *out, const bson_value_t *value)
{
   bool is_array = value->value_type == BSON_TYPE_ARRAY;
   bson_iter_t iter;
   if (!bson_iter_init_from_data(&iter, value->value.v_doc.data, value->value.v_doc.data_len)) {
      bson_string_append(out, is_array ? "[]" : "{}");
      return;
   }
   bool first = true;
   while (bson_iter_next(&iter)) {
      bson_string_append(out, first ? (is_array ? "[ " : "{ ") : ", ");
      first = false;
      if (is_array) {
         duet_update_format_value(out, bson_iter_value(&iter));
      } else {
         duet_update_format_element(out, bson_iter_key(&iter), bson_iter_value(&iter));
      }
   }
   bson_string_append(out, first ? (is_array ? "[]" : "{}") : (is_array ? " ]" : " }"));
}

void duet_update_format_value(bson_string_t *out, const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_EOD: bson_string_append(out, "EOO"); break;
   case BSON_TYPE_DOUBLE: format_double(out, value->value.v_double); break;
   case BSON_TYPE_UTF8:
      bson_string_append_c(out, '"');
      bson_string_append(out, value->value.v_utf8.str);
      bson_string_append_c(out, '"');
      break;
   case BSON_TYPE_SYMBOL:
      bson_string_append_c(out, '"');
      bson_string_append(out, value->value.v_symbol.symbol);
      bson_string_append_c(out, '"');
      break;
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: format_container(out, value); break;
   case BSON_TYPE_BINARY: {
      bson_string_append_printf(out, "BinData(%d, ", (int)value->value.v_binary.subtype);
      for (uint32_t i = 0; i < value->value.v_binary.data_len; i++) {
         bson_string_append_printf(out, "%02X", value->value.v_binary.data[i]);
      }
      bson_string_append_c(out, ')');
      break;
   }
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
      bson_string_append_printf(out, "DBRef('%s', %s)", value->value.v_dbpointer.collection, hex);
      break;
   }
   case BSON_TYPE_CODE: bson_string_append(out, value->value.v_code.code); break;
   case BSON_TYPE_CODEWSCOPE: bson_string_append(out, value->value.v_codewscope.code); break;
   case BSON_TYPE_INT32: bson_string_append_printf(out, "%d", (int)value->value.v_int32); break;
   case BSON_TYPE_INT64: bson_string_append_printf(out, "%" PRId64, value->value.v_int64); break;
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_printf(out, "Timestamp(%u, %u)", (unsigned)value->value.v_timestamp.timestamp,
                                (unsigned)value->value.v_timestamp.increment);
      break;
   case BSON_TYPE_DECIMAL128: {
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value->value.v_decimal128, text);
      bson_string_append_printf(out, "NumberDecimal(\"%s\")", text);
      break;
   }
   case BSON_TYPE_MINKEY: bson_string_append(out, "MinKey"); break;
   case BSON_TYPE_MAXKEY: bson_string_append(out, "MaxKey"); break;
   default: bson_string_append(out, "?"); break;
   }
}

void duet_update_format_element(bson_string_t *out, const char *name, const bson_value_t *value)
{
   bson_string_append(out, name);
   bson_string_append(out, ": ");
   duet_update_format_value(out, value);
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
