/*
 * expr_tostring.c — the newest server's "any type to string" conversions for $convert and
 * $toString (reference §1.6, featureFlagMqlJsEngineGap): MinKey/MaxKey, regex, timestamp,
 * DBPointer, code, code with scope and symbol as text, and objects/arrays as compact JSON
 * (MongoDB's JsonStringGenerator: BSON-only types become JSON strings, NaN/Infinity are
 * quoted, field names are written unescaped).
 */
#include "mql/expr_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_STRING_SIZE 16777216u

static const char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void append_base64(bson_string_t *s, const uint8_t *data, uint32_t length)
{
   for (uint32_t i = 0; i < length; i += 3) {
      uint32_t chunk = (uint32_t)data[i] << 16;
      if (i + 1 < length) {
         chunk |= (uint32_t)data[i + 1] << 8;
      }
      if (i + 2 < length) {
         chunk |= data[i + 2];
      }
      bson_string_append_c(s, base64_alphabet[(chunk >> 18) & 63]);
      bson_string_append_c(s, base64_alphabet[(chunk >> 12) & 63]);
      bson_string_append_c(s, i + 1 < length ? base64_alphabet[(chunk >> 6) & 63] : '=');
      bson_string_append_c(s, i + 2 < length ? base64_alphabet[chunk & 63] : '=');
   }
}

static void append_hex(bson_string_t *s, const uint8_t *data, uint32_t length)
{
   for (uint32_t i = 0; i < length; i++) {
      bson_string_append_printf(s, "%02x", data[i]);
   }
}

/* JSON string escaping as mongo::str::escapeForJSON does it. */
static void append_escaped(bson_string_t *s, const char *text, uint32_t length)
{
   for (uint32_t i = 0; i < length; i++) {
      unsigned char c = (unsigned char)text[i];
      switch (c) {
      case '"': bson_string_append(s, "\\\""); break;
      case '\\': bson_string_append(s, "\\\\"); break;
      case '\b': bson_string_append(s, "\\b"); break;
      case '\f': bson_string_append(s, "\\f"); break;
      case '\n': bson_string_append(s, "\\n"); break;
      case '\r': bson_string_append(s, "\\r"); break;
      case '\t': bson_string_append(s, "\\t"); break;
      default:
         if (c < 0x20) {
            bson_string_append_printf(s, "\\u%04x", c);
         } else {
            bson_string_append_c(s, (char)c);
         }
      }
   }
}

static bool stringify_value(const bson_value_t *value, bson_string_t *s, duet_error_t *error);

/* BSONObj::toString-style text of a scope document ("{}" when empty). */
static void append_scope(bson_string_t *s, const uint8_t *data, uint32_t length)
{
   bson_t scope;
   bson_iter_t iter;
   if (!bson_init_static(&scope, data, length) || bson_empty(&scope)) {
      bson_string_append(s, "{}");
      return;
   }
   bson_value_t as_value = {.value_type = BSON_TYPE_DOCUMENT};
   as_value.value.v_doc.data = (uint8_t *)data;
   as_value.value.v_doc.data_len = length;
   char *text = duet_expr_value_to_string(&as_value);
   /* BSONObj::toString pads the braces: "{ a: 1 }" */
   bson_string_append(s, "{ ");
   size_t n = strlen(text);
   if (n >= 2) {
      bson_string_append_printf(s, "%.*s", (int)(n - 2), text + 1);
   }
   bson_string_append(s, " }");
   bson_free(text);
   (void)iter;
}

/* The text $toString gives a non-nested value (stringifyValue in MongoDB). */
static bool stringify_value(const bson_value_t *value, bson_string_t *s, duet_error_t *error)
{
   char buffer[64];
   switch (value->value_type) {
   case BSON_TYPE_MINKEY: bson_string_append(s, "MinKey"); return true;
   case BSON_TYPE_MAXKEY: bson_string_append(s, "MaxKey"); return true;
   case BSON_TYPE_REGEX:
      bson_string_append_printf(s, "/%s/%s", value->value.v_regex.regex, value->value.v_regex.options);
      return true;
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_printf(s, "Timestamp(%u, %u)", value->value.v_timestamp.timestamp,
                                value->value.v_timestamp.increment);
      return true;
   case BSON_TYPE_DBPOINTER:
      bson_string_append(s, "DBRef(\"");
      bson_string_append_printf(s, "%.*s", (int)value->value.v_dbpointer.collection_len,
                                value->value.v_dbpointer.collection);
      bson_string_append(s, "\", ");
      append_hex(s, value->value.v_dbpointer.oid.bytes, 12);
      bson_string_append(s, ")");
      return true;
   case BSON_TYPE_CODE:
      bson_string_append_printf(s, "%.*s", (int)value->value.v_code.code_len, value->value.v_code.code);
      return true;
   case BSON_TYPE_CODEWSCOPE:
      bson_string_append(s, "CodeWScope(\"");
      bson_string_append_printf(s, "%.*s", (int)value->value.v_codewscope.code_len, value->value.v_codewscope.code);
      bson_string_append(s, "\", ");
      append_scope(s, value->value.v_codewscope.scope_data, value->value.v_codewscope.scope_len);
      bson_string_append(s, ")");
      return true;
   case BSON_TYPE_SYMBOL:
      bson_string_append_printf(s, "%.*s", (int)value->value.v_symbol.len, value->value.v_symbol.symbol);
      return true;
   case BSON_TYPE_UTF8:
      bson_string_append_printf(s, "%.*s", (int)value->value.v_utf8.len, value->value.v_utf8.str);
      return true;
   case BSON_TYPE_BINARY:
      /* format "auto": a UUID prints as one, anything else as base64 */
      if (value->value.v_binary.subtype == BSON_SUBTYPE_UUID && value->value.v_binary.data_len == 16) {
         const uint8_t *u = value->value.v_binary.data;
         append_hex(s, u, 4);
         bson_string_append_c(s, '-');
         append_hex(s, u + 4, 2);
         bson_string_append_c(s, '-');
         append_hex(s, u + 6, 2);
         bson_string_append_c(s, '-');
         append_hex(s, u + 8, 2);
         bson_string_append_c(s, '-');
         append_hex(s, u + 10, 6);
      } else {
         append_base64(s, value->value.v_binary.data, value->value.v_binary.data_len);
      }
      return true;
   default: {
      bson_value_t text;
      if (!expr_convert_value(value, BSON_TYPE_UTF8, &text, error)) {
         return false;
      }
      bson_string_append_printf(s, "%.*s", (int)text.value.v_utf8.len, text.value.v_utf8.str);
      bson_value_destroy(&text);
      (void)buffer;
      return true;
   }
   }
}

static bool write_json(const bson_value_t *value, bson_string_t *s, int depth, duet_error_t *error);

static bool write_document(const bson_value_t *value, bson_string_t *s, int depth, duet_error_t *error)
{
   bool is_array = value->value_type == BSON_TYPE_ARRAY;
   bson_t view;
   bson_iter_t iter;
   bson_string_append_c(s, is_array ? '[' : '{');
   bool first = true;
   if (expr_value_as_bson(value, &view) && bson_iter_init(&iter, &view)) {
      while (bson_iter_next(&iter)) {
         if (!first) {
            bson_string_append_c(s, ',');
         }
         first = false;
         if (!is_array) {
            bson_string_append_c(s, '"');
            bson_string_append(s, bson_iter_key(&iter));
            bson_string_append(s, "\":");
         }
         if (!write_json(bson_iter_value(&iter), s, depth + 1, error)) {
            return false;
         }
      }
   }
   bson_string_append_c(s, is_array ? ']' : '}');
   return true;
}

static bool write_json(const bson_value_t *value, bson_string_t *s, int depth, duet_error_t *error)
{
   bool ok = true;
   switch (value->value_type) {
   case BSON_TYPE_EOD:
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED: bson_string_append(s, "null"); break;
   case BSON_TYPE_BOOL: bson_string_append(s, value->value.v_bool ? "true" : "false"); break;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DECIMAL128: {
      bool special =
          (value->value_type == BSON_TYPE_DOUBLE && !isfinite(value->value.v_double)) ||
          (value->value_type == BSON_TYPE_DECIMAL128 &&
           (duet_decimal_is_nan(value->value.v_decimal128) || duet_decimal_is_infinite(value->value.v_decimal128)));
      if (special) {
         bson_string_append_c(s, '"');
      }
      ok = stringify_value(value, s, error);
      if (special) {
         bson_string_append_c(s, '"');
      }
      break;
   }
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
   case BSON_TYPE_OID:
   case BSON_TYPE_BINARY:
   case BSON_TYPE_DATE_TIME:
   case BSON_TYPE_TIMESTAMP:
      bson_string_append_c(s, '"');
      ok = stringify_value(value, s, error);
      bson_string_append_c(s, '"');
      break;
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: ok = write_document(value, s, depth, error); break;
   default: {
      /* string, regex, symbol, code, code with scope, DBPointer: escaped JSON strings */
      bson_string_t *text = bson_string_new(NULL);
      ok = stringify_value(value, text, error);
      if (ok) {
         bson_string_append_c(s, '"');
         append_escaped(s, text->str, text->len);
         bson_string_append_c(s, '"');
      }
      bson_string_free(text, true);
      break;
   }
   }
   if (ok && s->len > MAX_STRING_SIZE) {
      duet_error_set(error, DUET_ERR_CONVERSION_FAILURE, "Resulting string exceeds maximum size (%u bytes)",
                     MAX_STRING_SIZE);
      return false;
   }
   return ok;
}

bool expr_stringify_any(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   expr_set_missing(out);
   if (input->value_type == BSON_TYPE_BINARY) {
      /* binData <-> string needs the FCV-gated `format` conversions */
      duet_error_set(error, DUET_ERR_CONVERSION_FAILURE,
                     "Unsupported conversion from binData to string in $convert with no onError value");
      return false;
   }
   bson_string_t *s = bson_string_new(NULL);
   bool ok = input->value_type == BSON_TYPE_DOCUMENT || input->value_type == BSON_TYPE_ARRAY
                 ? write_json(input, s, 0, error)
                 : stringify_value(input, s, error);
   if (!ok) {
      bson_string_free(s, true);
      return false;
   }
   uint32_t length = s->len;
   expr_set_string_owned(out, bson_string_free(s, false), length);
   return true;
}
