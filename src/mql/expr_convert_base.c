/*
 * expr_convert_base.c — the 8.x arguments of $convert: `base` (2, 8, 10, 16) for numbers <->
 * strings, with the newest server's codes and messages (evaluate_convert.cpp), and validation
 * of `format` and `byteOrder`.  binData conversions stay unsupported (241 Unsupported
 * conversion), as on servers whose feature compatibility version predates them and as the
 * reference's conversion table says; `format` and `byteOrder` only ever apply to binData.
 */
#include "mql/expr_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NO_ON_ERROR " in $convert with no onError value"

static const char *const format_names[] = {"auto", "base64", "base64url", "hex", "utf8", "uuid"};

bool expr_convert_parse_options(const bson_value_t *base, const bson_value_t *format, const bson_value_t *byte_order,
                                expr_convert_options_t *options, duet_error_t *error)
{
   if (!expr_value_is_nullish(base)) {
      int64_t b;
      if (!duet_type_is_number(base->value_type) || !expr_number_as_int64(base, &b)) {
         duet_error_set(error, 3501300, "In $convert, 'base' argument is not an integer");
         return false;
      }
      if (b != 2 && b != 8 && b != 10 && b != 16) {
         duet_error_set(error, 3501301, "In $convert, 'base' argument is not a valid base");
         return false;
      }
      options->base = (int)b;
   }
   if (!expr_value_is_nullish(format)) {
      if (format->value_type != BSON_TYPE_UTF8) {
         char *text = duet_expr_value_to_string(format);
         duet_error_set(error, 4341114, "$convert requires that 'format' be a string, found: %s with value %s",
                        duet_type_name(format->value_type), text);
         bson_free(text);
         return false;
      }
      options->format = -1;
      for (int i = 0; i < 6; i++) {
         if (strcmp(format->value.v_utf8.str, format_names[i]) == 0) {
            options->format = i;
         }
      }
      if (options->format < 0) {
         duet_error_set(error, 4341125, "Invalid 'format' argument for $convert: %s", format->value.v_utf8.str);
         return false;
      }
   }
   if (!expr_value_is_nullish(byte_order)) {
      if (byte_order->value_type != BSON_TYPE_UTF8) {
         char *text = duet_expr_value_to_string(byte_order);
         duet_error_set(error, 9130001, "$convert requires that 'byteOrder' be a string, found: %s with value %s",
                        duet_type_name(byte_order->value_type), text);
         bson_free(text);
         return false;
      }
      if (strcmp(byte_order->value.v_utf8.str, "big") == 0) {
         options->big_endian = true;
      } else if (strcmp(byte_order->value.v_utf8.str, "little") != 0) {
         duet_error_set(error, 9130002, "Invalid 'byteOrder' argument for $convert: %s", byte_order->value.v_utf8.str);
         return false;
      }
   }
   return true;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static bool failure(duet_error_t *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool failure(duet_error_t *error, const char *format, ...)
{
   char message[DUET_ERROR_MESSAGE_MAX];
   va_list args;
   va_start(args, format);
   vsnprintf(message, sizeof message, format, args);
   va_end(args);
   duet_error_set(error, DUET_ERR_CONVERSION_FAILURE, "%s", message);
   return false;
}

/* fmt's {:b}/{:o}/{:X}/{:d} of a long. */
static void format_with_base(int64_t value, int base, bson_value_t *out)
{
   char buffer[80];
   uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
   char digits[72];
   int n = 0;
   do {
      digits[n++] = "0123456789ABCDEF"[magnitude % (uint64_t)base];
      magnitude /= (uint64_t)base;
   } while (magnitude);
   int k = 0;
   if (value < 0) {
      buffer[k++] = '-';
   }
   while (n > 0) {
      buffer[k++] = digits[--n];
   }
   buffer[k] = '\0';
   expr_set_string(out, buffer, (uint32_t)k);
}

static bool number_to_string_with_base(const bson_value_t *input, int base, bson_value_t *out, duet_error_t *error)
{
   int64_t value;
   switch (input->value_type) {
   case BSON_TYPE_INT32: value = input->value.v_int32; break;
   case BSON_TYPE_INT64: value = input->value.v_int64; break;
   case BSON_TYPE_DOUBLE: {
      double d = input->value.v_double;
      if (!isfinite(d) || d != trunc(d)) {
         return failure(error, "Base conversion is not supported for non-integers" NO_ON_ERROR ": ");
      }
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
         return failure(error, "Magnitude of the number provided for base conversion is too large" NO_ON_ERROR ": ");
      }
      value = (int64_t)d;
      break;
   }
   default: {
      bson_decimal128_t d = input->value.v_decimal128;
      int64_t v;
      if (!expr_number_as_int64(input, &v)) {
         bool integral = !duet_decimal_is_nan(d) && !duet_decimal_is_infinite(d);
         if (integral) {
            /* integral but out of range, or not integral at all */
            bson_value_t as_double = {.value_type = BSON_TYPE_DOUBLE};
            as_double.value.v_double = duet_decimal_to_double(d);
            integral =
                as_double.value.v_double == trunc(as_double.value.v_double) && fabs(as_double.value.v_double) >= 9.2e18;
         }
         return failure(error,
                        integral ? "Magnitude of the number provided for base conversion is too large" NO_ON_ERROR ": "
                                 : "Base conversion is not supported for non-integers" NO_ON_ERROR ": ");
      }
      value = v;
      break;
   }
   }
   format_with_base(value, base, out);
   return true;
}

static int hex_digit(char c)
{
   if (c >= '0' && c <= '9') {
      return c - '0';
   }
   if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
   }
   if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
   }
   return -1;
}

/* NumberParser().base(b) into a long long. */
static bool parse_long_with_base(const char *s, uint32_t length, int base, int64_t *out, const char **reason)
{
   uint32_t i = 0;
   bool negative = false;
   if (i < length && (s[i] == '-' || s[i] == '+')) {
      negative = s[i] == '-';
      i++;
   }
   if (i == length) {
      *reason = "No digits";
      return false;
   }
   uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
   uint64_t magnitude = 0;
   bool overflow = false;
   for (; i < length; i++) {
      int digit = hex_digit(s[i]);
      if (digit < 0 || digit >= base) {
         break;
      }
      if (magnitude > (limit - (uint64_t)digit) / (uint64_t)base) {
         overflow = true;
      } else {
         magnitude = magnitude * (uint64_t)base + (uint64_t)digit;
      }
   }
   if (i != length) {
      *reason = "Did not consume whole string.";
      return false;
   }
   if (overflow) {
      *reason = "Overflow";
      return false;
   }
   *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
   return true;
}

static bool string_to_number_with_base(const bson_value_t *input, bson_type_t to, int base, bson_value_t *out,
                                       duet_error_t *error)
{
   const char *s = input->value.v_utf8.str;
   uint32_t length = input->value.v_utf8.len;
   if (length >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      return failure(error, "Illegal hexadecimal input" NO_ON_ERROR ": %s", s);
   }
   int64_t value;
   const char *reason;
   if (!parse_long_with_base(s, length, base, &value, &reason)) {
      return failure(error, "Failed to parse number '%s'" NO_ON_ERROR ": %s", s, reason);
   }
   switch (to) {
   case BSON_TYPE_INT32:
      if (value < INT32_MIN || value > INT32_MAX) {
         return failure(error, "Conversion would overflow target type" NO_ON_ERROR ": ");
      }
      expr_set_int32(out, (int32_t)value);
      return true;
   case BSON_TYPE_DOUBLE: expr_set_double(out, (double)value); return true;
   case BSON_TYPE_DECIMAL128: expr_set_decimal(out, duet_decimal_from_int64(value)); return true;
   default: expr_set_int64(out, value); return true;
   }
}

bool expr_convert_extended(const bson_value_t *input, bson_type_t to, const expr_convert_options_t *options,
                           bson_value_t *out, duet_error_t *error, bool *handled)
{
   *handled = true;
   bson_type_t from = input->value_type;
   if (options->base && to == BSON_TYPE_UTF8 && duet_type_is_number(from)) {
      return number_to_string_with_base(input, options->base, out, error);
   }
   if (options->base && from == BSON_TYPE_UTF8 && duet_type_is_number(to)) {
      return string_to_number_with_base(input, to, options->base, out, error);
   }
   *handled = false;
   return false;
}
