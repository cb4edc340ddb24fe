/*
 * expr_convert.c — the $convert family ($convert, $toString, $toInt, $toLong, $toDouble,
 * $toDecimal, $toBool, $toObjectId, $toDate), MongoDB's conversion table, its error texts,
 * number/date formatting (shortest round-trip doubles), and the string coercion the
 * string operators share.  Reference: ../shared/reference/mongodb-semantics.md §1.
 */
#include "mql/expr_internal.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NO_ON_ERROR " in $convert with no onError value"

/* ---- formatting ------------------------------------------------------------------------- */

void duet_expr_format_double(double value, char *buffer, size_t size)
{
   if (isnan(value)) {
      snprintf(buffer, size, "NaN");
      return;
   }
   if (isinf(value)) {
      snprintf(buffer, size, value > 0 ? "Infinity" : "-Infinity");
      return;
   }
   if (value == 0) {
      snprintf(buffer, size, signbit(value) ? "-0" : "0");
      return;
   }
   /* Shortest digits that read back to the same double (what fmt's "{}" prints). */
   char scientific[40];
   for (int precision = 1; precision <= 17; precision++) {
      snprintf(scientific, sizeof scientific, "%.*e", precision - 1, value);
      if (strtod(scientific, NULL) == value) {
         break;
      }
   }
   char digits[24];
   size_t digit_count = 0;
   const char *p = scientific;
   bool negative = false;
   if (*p == '-') {
      negative = true;
      p++;
   }
   for (; *p && *p != 'e'; p++) {
      if (*p >= '0' && *p <= '9') {
         digits[digit_count++] = *p;
      }
   }
   while (digit_count > 1 && digits[digit_count - 1] == '0') {
      digit_count--;
   }
   int exponent = atoi(p + 1);
   char out[64];
   size_t n = 0;
   if (negative) {
      out[n++] = '-';
   }
   if (exponent < -4 || exponent >= 16) {
      out[n++] = digits[0];
      if (digit_count > 1) {
         out[n++] = '.';
         for (size_t i = 1; i < digit_count; i++) {
            out[n++] = digits[i];
         }
      }
      n += (size_t)snprintf(out + n, sizeof out - n, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
   } else if (exponent < 0) {
      out[n++] = '0';
      out[n++] = '.';
      for (int i = 0; i < -exponent - 1; i++) {
         out[n++] = '0';
      }
      for (size_t i = 0; i < digit_count; i++) {
         out[n++] = digits[i];
      }
   } else {
      for (int i = 0; i <= exponent; i++) {
         out[n++] = (size_t)i < digit_count ? digits[i] : '0';
      }
      if ((size_t)exponent + 1 < digit_count) {
         out[n++] = '.';
         for (size_t i = (size_t)exponent + 1; i < digit_count; i++) {
            out[n++] = digits[i];
         }
      }
   }
   out[n] = '\0';
   snprintf(buffer, size, "%s", out);
}

/* ---- string coercion (coerceToString) ------------------------------------------------------ */

bool expr_coerce_to_string(const char *op, const bson_value_t *value, bson_value_t *out, duet_error_t *error)
{
   (void)op;
   char buffer[64];
   switch (value->value_type) {
   case BSON_TYPE_UTF8: bson_value_copy(value, out); return true;
   case BSON_TYPE_SYMBOL: expr_set_string(out, value->value.v_symbol.symbol, value->value.v_symbol.len); return true;
   case BSON_TYPE_EOD:
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED: expr_set_string(out, "", 0); return true;
   case BSON_TYPE_TIMESTAMP:
      snprintf(buffer, sizeof buffer, "Timestamp(%u, %u)", value->value.v_timestamp.timestamp,
               value->value.v_timestamp.increment);
      expr_set_string(out, buffer, (uint32_t)strlen(buffer));
      return true;
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
   case BSON_TYPE_DECIMAL128:
   case BSON_TYPE_DATE_TIME: return expr_convert_value(value, BSON_TYPE_UTF8, out, error);
   default:
      duet_error_set(error, 16007, "can't convert from BSON type %s to String", duet_type_name(value->value_type));
      expr_set_missing(out);
      return false;
   }
}

/* ---- number parsing (mongo::NumberParser) ------------------------------------------------------ */

static bool conversion_failure(duet_error_t *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool conversion_failure(duet_error_t *error, const char *format, ...)
{
   char message[DUET_ERROR_MESSAGE_MAX];
   va_list args;
   va_start(args, format);
   vsnprintf(message, sizeof message, format, args);
   va_end(args);
   duet_error_set(error, DUET_ERR_CONVERSION_FAILURE, "%s", message);
   return false;
}

static bool is_hex_prefixed(const char *s, uint32_t length)
{
   return length >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

/* Base-10 integer within [min, max]; reasons as NumberParser gives them. */
static bool parse_integer(const char *s, uint32_t length, int64_t min, int64_t max, int64_t *out, const char **reason)
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
   uint64_t magnitude = 0;
   uint64_t limit = negative ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
   bool overflow = false;
   uint32_t start = i;
   for (; i < length && s[i] >= '0' && s[i] <= '9'; i++) {
      uint64_t digit = (uint64_t)(s[i] - '0');
      if (magnitude > (limit - digit) / 10) {
         overflow = true;
      } else {
         magnitude = magnitude * 10 + digit;
      }
   }
   (void)start;
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

static bool parse_double(const char *s, uint32_t length, double *out, const char **reason)
{
   if (length == 0) {
      *reason = "Empty string";
      return false;
   }
   if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\v' || s[0] == '\f' || s[0] == '\r') {
      *reason = "Leading whitespace";
      return false;
   }
   char *end = NULL;
   errno = 0;
   double value = strtod(s, &end);
   if (end == s) {
      *reason = "Did not consume any digits";
      return false;
   }
   if ((uint32_t)(end - s) != length) {
      *reason = "Did not consume whole string.";
      return false;
   }
   /* 8.3+: subnormal results are accepted; true overflow/underflow are not. */
   if (errno == ERANGE && (isinf(value) || value == 0)) {
      *reason = "Out of range";
      return false;
   }
   *out = value;
   return true;
}

/* Decimal128(string) as MongoDB's NumberParser uses it: round half-even to 34 digits, report
 * overflow/underflow, and require the whole string to be consumed. */
static bool parse_decimal(const char *s, uint32_t length, bson_decimal128_t *out, const char **reason)
{
   if (length == 0) {
      *reason = "Empty string";
      return false;
   }
   if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\v' || s[0] == '\f' || s[0] == '\r') {
      *reason = "Leading whitespace";
      return false;
   }
   uint32_t i = 0;
   bool negative = false;
   if (s[i] == '+' || s[i] == '-') {
      negative = s[i] == '-';
      i++;
   }
   static const char *const specials[] = {"infinity", "inf", "nan"};
   for (size_t k = 0; k < 3; k++) {
      size_t n = strlen(specials[k]);
      if (length - i >= n && strncasecmp(s + i, specials[k], n) == 0) {
         if (i + n != length) {
            *reason = "Did not consume whole string.";
            return false;
         }
         bson_decimal128_from_string(k == 2 ? "NaN" : negative ? "-Infinity" : "Infinity", out);
         return true;
      }
   }
   char digits[40];
   size_t digit_count = 0;
   bool any_digit = false, round_sticky = false;
   int exponent = 0;
   char first_dropped = 0;
   bool seen_point = false;
   for (; i < length; i++) {
      char c = s[i];
      if (c == '.' && !seen_point) {
         seen_point = true;
         continue;
      }
      if (c < '0' || c > '9') {
         break;
      }
      any_digit = true;
      if (digit_count == 0 && c == '0') {
         if (seen_point) {
            exponent--;
         }
         continue;
      }
      if (digit_count < 34) {
         digits[digit_count++] = c;
         if (seen_point) {
            exponent--;
         }
      } else {
         if (!seen_point) {
            exponent++;
         }
         if (first_dropped == 0) {
            first_dropped = c;
         } else if (c != '0') {
            round_sticky = true;
         }
      }
   }
   if (!any_digit) {
      *reason = "Failed to parse string to decimal";
      return false;
   }
   if (i < length && (s[i] == 'e' || s[i] == 'E')) {
      uint32_t j = i + 1;
      bool exp_negative = false;
      if (j < length && (s[j] == '+' || s[j] == '-')) {
         exp_negative = s[j] == '-';
         j++;
      }
      if (j < length && s[j] >= '0' && s[j] <= '9') {
         long value = 0;
         for (; j < length && s[j] >= '0' && s[j] <= '9'; j++) {
            if (value < 100000000) {
               value = value * 10 + (s[j] - '0');
            }
         }
         exponent += (int)(exp_negative ? -value : value);
         i = j;
      }
   }
   unsigned __int128 coefficient = 0;
   for (size_t k = 0; k < digit_count; k++) {
      coefficient = coefficient * 10 + (unsigned)(digits[k] - '0');
   }
   /* round half-even on the first dropped digit */
   if (first_dropped > '5' || (first_dropped == '5' && (round_sticky || (coefficient & 1)))) {
      coefficient++;
      static const unsigned __int128 ten34 =
          (unsigned __int128)10000000000000000ULL * 1000000000000000000ULL; /* 10^34 */
      if (coefficient == ten34) {
         coefficient /= 10;
         exponent++;
      }
   }
   bool overflow = false, underflow = false;
   if (coefficient == 0) {
      exponent = exponent > 6111 ? 6111 : exponent < -6176 ? -6176 : exponent;
   } else {
      /* clamp: pad the coefficient to lower a too-large exponent */
      while (exponent > 6111 && coefficient < (unsigned __int128)1000000000000000000ULL * 1000000000000000ULL) {
         coefficient *= 10;
         exponent--;
      }
      if (exponent > 6111) {
         overflow = true;
      }
      while (exponent < -6176) {
         if (coefficient % 10 != 0) {
            underflow = true;
            break;
         }
         coefficient /= 10;
         exponent++;
      }
   }
   if (overflow) {
      *reason = "Conversion from string to decimal would overflow";
      return false;
   }
   if (underflow) {
      *reason = "Conversion from string to decimal would underflow";
      return false;
   }
   if (i != length) {
      *reason = "Did not consume whole string.";
      return false;
   }
   *out = expr_decimal_from_parts(negative, coefficient, exponent);
   return true;
}

static bool parse_number_string(const bson_value_t *input, bson_type_t to, bson_value_t *out, duet_error_t *error)
{
   const char *s = input->value.v_utf8.str;
   uint32_t length = input->value.v_utf8.len;
   if (is_hex_prefixed(s, length)) {
      return conversion_failure(error, "Illegal hexadecimal input" NO_ON_ERROR ": %s", s);
   }
   const char *reason = NULL;
   bool ok = false;
   switch (to) {
   case BSON_TYPE_INT32: {
      int64_t v;
      ok = parse_integer(s, length, INT32_MIN, INT32_MAX, &v, &reason);
      if (ok) {
         expr_set_int32(out, (int32_t)v);
      }
      break;
   }
   case BSON_TYPE_INT64: {
      int64_t v;
      ok = parse_integer(s, length, INT64_MIN, INT64_MAX, &v, &reason);
      if (ok) {
         expr_set_int64(out, v);
      }
      break;
   }
   case BSON_TYPE_DOUBLE: {
      double v;
      ok = parse_double(s, length, &v, &reason);
      if (ok) {
         expr_set_double(out, v);
      }
      break;
   }
   default: {
      bson_decimal128_t v;
      ok = parse_decimal(s, length, &v, &reason);
      if (ok) {
         expr_set_decimal(out, v);
      }
      break;
   }
   }
   if (!ok) {
      return conversion_failure(error, "Failed to parse number '%s'" NO_ON_ERROR ": %s", s, reason);
   }
   return true;
}

static bool parse_object_id(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   const char *s = input->value.v_utf8.str;
   uint32_t length = input->value.v_utf8.len;
   if (length != 24) {
      return conversion_failure(error,
                                "Failed to parse objectId '%s'" NO_ON_ERROR
                                ": Invalid string length for parsing to OID, expected 24 but found %u",
                                s, length);
   }
   for (uint32_t i = 0; i < 24; i++) {
      char c = s[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
         return conversion_failure(
             error, "Failed to parse objectId '%s'" NO_ON_ERROR ": Invalid character found in hex string: %c", s, c);
      }
   }
   out->value_type = BSON_TYPE_OID;
   bson_oid_init_from_string(&out->value.v_oid, s);
   return true;
}

/* ---- numeric conversions ------------------------------------------------------------------------ */

static bool double_to_integer(double value, bson_type_t to, bson_value_t *out, duet_error_t *error)
{
   if (isnan(value)) {
      return conversion_failure(error, "Attempt to convert NaN value to integer type" NO_ON_ERROR);
   }
   if (isinf(value)) {
      return conversion_failure(error, "Attempt to convert infinity value to integer type" NO_ON_ERROR);
   }
   double truncated = trunc(value);
   if (to == BSON_TYPE_INT32) {
      /* MongoDB range-checks the untruncated double */
      if (value < (double)INT32_MIN || value > (double)INT32_MAX) {
         return conversion_failure(error, "Conversion would overflow target type" NO_ON_ERROR ": %g", value);
      }
      expr_set_int32(out, (int32_t)truncated);
      return true;
   }
   if (value < -9223372036854775808.0 || value >= 9223372036854775808.0) {
      return conversion_failure(error, "Conversion would overflow target type" NO_ON_ERROR ": %g", value);
   }
   if (to == BSON_TYPE_DATE_TIME) {
      expr_set_date(out, (int64_t)truncated);
   } else {
      expr_set_int64(out, (int64_t)truncated);
   }
   return true;
}

static bool decimal_to_integer(bson_decimal128_t value, bson_type_t to, bson_value_t *out, duet_error_t *error)
{
   if (duet_decimal_is_nan(value)) {
      return conversion_failure(error, "Attempt to convert NaN value to integer type" NO_ON_ERROR);
   }
   if (duet_decimal_is_infinite(value)) {
      return conversion_failure(error, "Attempt to convert infinity value to integer type" NO_ON_ERROR);
   }
   int64_t v;
   bool ok = duet_decimal_to_int64(value, &v);
   if (ok && to == BSON_TYPE_INT32 && (v < INT32_MIN || v > INT32_MAX)) {
      ok = false;
   }
   if (!ok) {
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value, text);
      return conversion_failure(error, "Conversion would overflow target type" NO_ON_ERROR ": %s", text);
   }
   if (to == BSON_TYPE_INT32) {
      expr_set_int32(out, (int32_t)v);
   } else if (to == BSON_TYPE_DATE_TIME) {
      expr_set_date(out, v);
   } else {
      expr_set_int64(out, v);
   }
   return true;
}

/* Decimal128(double, kRoundTo15Digits): 15 significant digits, trailing zeros kept. */
bson_decimal128_t expr_double_to_decimal(double value)
{
   bson_decimal128_t result;
   if (isnan(value)) {
      bson_decimal128_from_string("NaN", &result);
   } else if (isinf(value)) {
      bson_decimal128_from_string(value > 0 ? "Infinity" : "-Infinity", &result);
   } else if (value == 0) {
      bson_decimal128_from_string(signbit(value) ? "-0" : "0", &result);
   } else {
      char text[40];
      snprintf(text, sizeof text, "%.14e", value);
      bson_decimal128_from_string(text, &result);
   }
   return result;
}

static bool unsupported(const bson_value_t *input, bson_type_t to, duet_error_t *error)
{
   return conversion_failure(error, "Unsupported conversion from %s to %s" NO_ON_ERROR,
                             duet_type_name(input->value_type), duet_type_name(to));
}

static bool convert_to_string(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   char buffer[64];
   switch (input->value_type) {
   case BSON_TYPE_UTF8: bson_value_copy(input, out); return true;
   case BSON_TYPE_DOUBLE: duet_expr_format_double(input->value.v_double, buffer, sizeof buffer); break;
   case BSON_TYPE_INT32: snprintf(buffer, sizeof buffer, "%d", input->value.v_int32); break;
   case BSON_TYPE_INT64: snprintf(buffer, sizeof buffer, "%lld", (long long)input->value.v_int64); break;
   case BSON_TYPE_DECIMAL128: bson_decimal128_to_string(&input->value.v_decimal128, buffer); break;
   case BSON_TYPE_BOOL: snprintf(buffer, sizeof buffer, "%s", input->value.v_bool ? "true" : "false"); break;
   case BSON_TYPE_OID: {
      char *hex = bson_malloc(25);
      bson_oid_to_string(&input->value.v_oid, hex);
      expr_set_string_owned(out, hex, 24);
      return true;
   }
   case BSON_TYPE_DATE_TIME:
      if (!expr_check_date_range(input->value.v_datetime, error)) {
         return false;
      }
      duet_expr_format_date(input->value.v_datetime, buffer, sizeof buffer);
      break;
   default: return expr_stringify_any(input, out, error); /* 8.3+: every other type has a text form */
   }
   expr_set_string(out, buffer, (uint32_t)strlen(buffer));
   return true;
}

static bool convert_to_double(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   switch (input->value_type) {
   case BSON_TYPE_DOUBLE: *out = *input; return true;
   case BSON_TYPE_INT32: expr_set_double(out, input->value.v_int32); return true;
   case BSON_TYPE_INT64: expr_set_double(out, (double)input->value.v_int64); return true;
   case BSON_TYPE_BOOL: expr_set_double(out, input->value.v_bool ? 1.0 : 0.0); return true;
   case BSON_TYPE_DATE_TIME: expr_set_double(out, (double)input->value.v_datetime); return true;
   case BSON_TYPE_UTF8: return parse_number_string(input, BSON_TYPE_DOUBLE, out, error);
   case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t d = input->value.v_decimal128;
      double v = duet_decimal_to_double(d);
      /* overflow and underflow flags fail the conversion; mere inexactness does not */
      bool overflow = isinf(v) && !duet_decimal_is_infinite(d);
      bool underflow = !duet_decimal_is_nan(d) && !duet_decimal_is_zero(d) && fabs(v) < DBL_MIN &&
                       duet_decimal_compare(duet_decimal_from_double(v), d) != 0;
      if (overflow || underflow) {
         char text[BSON_DECIMAL128_STRING];
         bson_decimal128_to_string(&d, text);
         return conversion_failure(error, "Conversion would overflow target type" NO_ON_ERROR ": %s", text);
      }
      expr_set_double(out, v);
      return true;
   }
   default: return unsupported(input, BSON_TYPE_DOUBLE, error);
   }
}

static bool convert_to_integer(const bson_value_t *input, bson_type_t to, bson_value_t *out, duet_error_t *error)
{
   switch (input->value_type) {
   case BSON_TYPE_INT32:
      if (to == BSON_TYPE_INT32) {
         *out = *input;
      } else {
         expr_set_int64(out, input->value.v_int32);
      }
      return true;
   case BSON_TYPE_INT64:
      if (to == BSON_TYPE_INT64) {
         *out = *input;
         return true;
      }
      if (input->value.v_int64 < INT32_MIN || input->value.v_int64 > INT32_MAX) {
         return conversion_failure(error, "Conversion would overflow target type" NO_ON_ERROR ": ");
      }
      expr_set_int32(out, (int32_t)input->value.v_int64);
      return true;
   case BSON_TYPE_DOUBLE: return double_to_integer(input->value.v_double, to, out, error);
   case BSON_TYPE_DECIMAL128: return decimal_to_integer(input->value.v_decimal128, to, out, error);
   case BSON_TYPE_BOOL:
      if (to == BSON_TYPE_INT32) {
         expr_set_int32(out, input->value.v_bool ? 1 : 0);
      } else {
         expr_set_int64(out, input->value.v_bool ? 1 : 0);
      }
      return true;
   case BSON_TYPE_DATE_TIME:
      if (to == BSON_TYPE_INT64) {
         expr_set_int64(out, input->value.v_datetime);
         return true;
      }
      return unsupported(input, to, error);
   case BSON_TYPE_UTF8: return parse_number_string(input, to, out, error);
   default: return unsupported(input, to, error);
   }
}

static bool convert_to_decimal(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   switch (input->value_type) {
   case BSON_TYPE_DECIMAL128: *out = *input; return true;
   case BSON_TYPE_INT32: expr_set_decimal(out, duet_decimal_from_int64(input->value.v_int32)); return true;
   case BSON_TYPE_INT64: expr_set_decimal(out, duet_decimal_from_int64(input->value.v_int64)); return true;
   case BSON_TYPE_DOUBLE: expr_set_decimal(out, expr_double_to_decimal(input->value.v_double)); return true;
   case BSON_TYPE_BOOL: expr_set_decimal(out, duet_decimal_from_int64(input->value.v_bool ? 1 : 0)); return true;
   case BSON_TYPE_DATE_TIME: expr_set_decimal(out, duet_decimal_from_int64(input->value.v_datetime)); return true;
   case BSON_TYPE_UTF8: return parse_number_string(input, BSON_TYPE_DECIMAL128, out, error);
   default: return unsupported(input, BSON_TYPE_DECIMAL128, error);
   }
}

static bool convert_to_date(const bson_value_t *input, bson_value_t *out, duet_error_t *error)
{
   switch (input->value_type) {
   case BSON_TYPE_DATE_TIME: *out = *input; return true;
   case BSON_TYPE_INT64: expr_set_date(out, input->value.v_int64); return true;
   case BSON_TYPE_DOUBLE: return double_to_integer(input->value.v_double, BSON_TYPE_DATE_TIME, out, error);
   case BSON_TYPE_DECIMAL128: return decimal_to_integer(input->value.v_decimal128, BSON_TYPE_DATE_TIME, out, error);
   case BSON_TYPE_OID: expr_set_date(out, (int64_t)bson_oid_get_time_t(&input->value.v_oid) * 1000); return true;
   case BSON_TYPE_TIMESTAMP: expr_set_date(out, (int64_t)input->value.v_timestamp.timestamp * 1000); return true;
   case BSON_TYPE_UTF8: {
      int64_t ms;
      char reason[256];
      if (!expr_parse_date_string(input->value.v_utf8.str, &ms, reason, sizeof reason)) {
         return conversion_failure(error, "Error parsing date string '%s'; %s", input->value.v_utf8.str, reason);
      }
      expr_set_date(out, ms);
      return true;
   }
   default: return unsupported(input, BSON_TYPE_DATE_TIME, error);
   }
}

bool expr_convert_value(const bson_value_t *input, bson_type_t to, bson_value_t *out, duet_error_t *error)
{
   static const expr_convert_options_t defaults = EXPR_CONVERT_OPTIONS_INIT;
   return expr_convert_value_with(input, to, &defaults, out, error);
}

bool expr_convert_value_with(const bson_value_t *input, bson_type_t to, const expr_convert_options_t *options,
                             bson_value_t *out, duet_error_t *error)
{
   expr_set_missing(out);
   if (options->base) {
      bool handled;
      bool extended = expr_convert_extended(input, to, options, out, error, &handled);
      if (handled) {
         return extended;
      }
   }
   switch (to) {
   case BSON_TYPE_UTF8: return convert_to_string(input, out, error);
   case BSON_TYPE_DOUBLE: return convert_to_double(input, out, error);
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64: return convert_to_integer(input, to, out, error);
   case BSON_TYPE_DECIMAL128: return convert_to_decimal(input, out, error);
   case BSON_TYPE_DATE_TIME: return convert_to_date(input, out, error);
   case BSON_TYPE_BOOL:
      /* Every non-nullish value converts; only numbers look at their value. */
      if (duet_type_is_number(input->value_type) || input->value_type == BSON_TYPE_BOOL) {
         expr_set_bool(out, duet_expr_value_truthy(input));
      } else {
         expr_set_bool(out, true);
      }
      return true;
   case BSON_TYPE_OID:
      if (input->value_type == BSON_TYPE_OID) {
         *out = *input;
         return true;
      }
      if (input->value_type == BSON_TYPE_UTF8) {
         return parse_object_id(input, out, error);
      }
      return unsupported(input, to, error);
   default: return unsupported(input, to, error);
   }
}

/* ---- the operators ------------------------------------------------------------------------------- */

/* option: the fixed target type of a shorthand, or -1 when `to` is evaluated. */
enum {
   CONVERT_INPUT,
   CONVERT_TO,
   CONVERT_ON_ERROR,
   CONVERT_ON_NULL,
   CONVERT_BASE,
   CONVERT_FORMAT,
   CONVERT_BYTE_ORDER,
   CONVERT_ARG_COUNT
};

/* Resolves an evaluated `to` into a type; *is_null when `to` is nullish. Errors here are not
 * ConversionFailure, so onError does not catch them. */
static bool resolve_to(const bson_value_t *to, bson_type_t *type, bool *is_null, bson_value_t *subtype,
                       duet_error_t *error)
{
   *is_null = false;
   if (expr_value_is_nullish(to)) {
      *is_null = true;
      return true;
   }
   if (to->value_type == BSON_TYPE_UTF8) {
      if (strcmp(to->value.v_utf8.str, "missing") == 0) {
         *type = BSON_TYPE_EOD;
         return true;
      }
      if (!duet_type_from_name(to->value.v_utf8.str, type)) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "Unknown type name: %s", to->value.v_utf8.str);
         return false;
      }
      return true;
   }
   if (duet_type_is_number(to->value_type)) {
      int64_t code;
      if (!expr_number_as_int64(to, &code)) {
         double d = expr_number_as_double(to);
         if (!isnan(d) && d == trunc(d) && !isinf(d)) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "In $convert, numeric value for 'to' does not correspond to a BSON type: %s",
                           "out of range");
            return false;
         }
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "In $convert, numeric 'to' argument is not an integer");
         return false;
      }
      bool valid = (code >= 0 && code <= 19) || code == -1 || code == 127;
      if (!valid) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                        "In $convert, numeric value for 'to' does not correspond to a BSON type: %lld",
                        (long long)code);
         return false;
      }
      *type = code == -1 ? BSON_TYPE_MINKEY : code == 127 ? BSON_TYPE_MAXKEY : (bson_type_t)code;
      return true;
   }
   if (to->value_type == BSON_TYPE_DOCUMENT) {
      /* 8.x form {type: <name or number>, subtype: <binData subtype>} */
      bson_t spec;
      bson_iter_t iter;
      bson_init_static(&spec, to->value.v_doc.data, to->value.v_doc.data_len);
      if (bson_iter_init_find(&iter, &spec, "type")) {
         const bson_value_t *type_value = bson_iter_value(&iter);
         if (type_value->value_type == BSON_TYPE_DOCUMENT) {
            duet_error_set(error, DUET_ERR_FAILED_TO_PARSE,
                           "$convert's 'to.type' argument must be a string or number, but is object");
            return false;
         }
         bson_value_t copy = *type_value;
         bson_iter_t sub;
         if (bson_iter_init_find(&sub, &spec, "subtype")) {
            *subtype = *bson_iter_value(&sub);
         }
         return resolve_to(&copy, type, is_null, subtype, error);
      }
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$convert's 'to' argument must be a string or number, but is %s",
                     duet_type_name(to->value_type));
      return false;
   }
   duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$convert's 'to' argument must be a string or number, but is %s",
                  duet_type_name(to->value_type));
   return false;
}

static bool eval_convert(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   enum { V_TO, V_INPUT, V_BASE, V_FORMAT, V_BYTE_ORDER, V_COUNT };
   static const int arg_of[V_COUNT] = {CONVERT_TO, CONVERT_INPUT, CONVERT_BASE, CONVERT_FORMAT, CONVERT_BYTE_ORDER};
   bson_value_t values[V_COUNT];
   for (int i = 0; i < V_COUNT; i++) {
      values[i].value_type = BSON_TYPE_EOD;
   }
   bson_type_t to = (bson_type_t)node->option;
   bool to_is_null = false;
   bool ok = false;
   expr_convert_options_t options = EXPR_CONVERT_OPTIONS_INIT;
   expr_set_missing(out);
   /* evaluation order of the newest server: to, input, base, format, byteOrder */
   for (int i = 0; i < V_COUNT; i++) {
      if ((i != V_TO || node->option < 0) && !expr_eval(node->args[arg_of[i]], state, &values[i], error)) {
         goto done;
      }
   }
   if (node->option < 0 && !resolve_to(&values[V_TO], &to, &to_is_null, &options.subtype, error)) {
      goto done;
   }
   if (expr_value_is_nullish(&values[V_INPUT])) {
      if (node->args[CONVERT_ON_NULL]) {
         ok = expr_eval(node->args[CONVERT_ON_NULL], state, out, error);
      } else {
         expr_set_null(out);
         ok = true;
      }
      goto done;
   }
   if (to_is_null) {
      expr_set_null(out);
      ok = true;
      goto done;
   }
   if (!expr_convert_parse_options(&values[V_BASE], &values[V_FORMAT], &values[V_BYTE_ORDER], &options, error)) {
      goto done;
   }
   ok = expr_convert_value_with(&values[V_INPUT], to, &options, out, error);
   if (!ok && error && error->code == DUET_ERR_CONVERSION_FAILURE && node->args[CONVERT_ON_ERROR]) {
      duet_error_clear(error);
      ok = expr_eval(node->args[CONVERT_ON_ERROR], state, out, error);
   }
done:
   /* options.subtype points into values[V_TO]; released with it */
   for (int i = 0; i < V_COUNT; i++) {
      expr_value_clear(&values[i]);
   }
   return ok;
}

static bool parse_convert(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                          duet_error_t *error)
{
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type != BSON_TYPE_DOCUMENT) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$convert expects an object of named arguments but found: %s",
                     duet_type_name(value->value_type));
      return false;
   }
   duet_expr_t *node = expr_node_new(eval_convert, name, CONVERT_ARG_COUNT);
   node->option = -1;
   bson_iter_t iter;
   bson_iter_recurse(arg, &iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      int index = strcmp(key, "input") == 0       ? CONVERT_INPUT
                  : strcmp(key, "to") == 0        ? CONVERT_TO
                  : strcmp(key, "onError") == 0   ? CONVERT_ON_ERROR
                  : strcmp(key, "onNull") == 0    ? CONVERT_ON_NULL
                  : strcmp(key, "base") == 0      ? CONVERT_BASE
                  : strcmp(key, "format") == 0    ? CONVERT_FORMAT
                  : strcmp(key, "byteOrder") == 0 ? CONVERT_BYTE_ORDER
                                                  : -1;
      if (index < 0) {
         duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "$convert found an unknown argument: %s", key);
         goto fail;
      }
      duet_expr_destroy(node->args[index]);
      node->args[index] = NULL;
      if (!expr_parse_iter(&iter, ctx, &node->args[index], error)) {
         goto fail;
      }
   }
   if (!node->args[CONVERT_INPUT]) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Missing 'input' parameter to $convert");
      goto fail;
   }
   if (!node->args[CONVERT_TO]) {
      duet_error_set(error, DUET_ERR_FAILED_TO_PARSE, "Missing 'to' parameter to $convert");
      goto fail;
   }
   *out = node;
   return true;
fail:
   duet_expr_destroy(node);
   return false;
}

static bool parse_shorthand(const char *name, const bson_iter_t *arg, expr_parse_ctx_t *ctx, duet_expr_t **out,
                            duet_error_t *error)
{
   static const struct {
      const char *name;
      bson_type_t to;
   } targets[] = {
       {"$toString", BSON_TYPE_UTF8},   {"$toInt", BSON_TYPE_INT32},          {"$toLong", BSON_TYPE_INT64},
       {"$toDouble", BSON_TYPE_DOUBLE}, {"$toDecimal", BSON_TYPE_DECIMAL128}, {"$toBool", BSON_TYPE_BOOL},
       {"$toObjectId", BSON_TYPE_OID},  {"$toDate", BSON_TYPE_DATE_TIME},
   };
   bson_type_t to = BSON_TYPE_EOD;
   for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
      if (strcmp(targets[i].name, name) == 0) {
         to = targets[i].to;
      }
   }
   duet_expr_t *list = expr_node_new(NULL, name, 0);
   const bson_value_t *value = bson_iter_value((bson_iter_t *)arg);
   if (value->value_type == BSON_TYPE_ARRAY && expr_array_length(value) != 1) {
      duet_error_set(error, 50723, "Expression %s takes exactly 1 arguments. %u were passed in.", name,
                     expr_array_length(value));
      duet_expr_destroy(list);
      return false;
   }
   if (!expr_parse_args(name, arg, ctx, 1, 1, list, error)) {
      duet_expr_destroy(list);
      return false;
   }
   duet_expr_t *node = expr_node_new(eval_convert, name, CONVERT_ARG_COUNT);
   node->option = (int64_t)to;
   node->args[CONVERT_INPUT] = list->args[0];
   list->args[0] = NULL;
   duet_expr_destroy(list);
   *out = node;
   return true;
}

const expr_operator_t expr_operators_convert[] = {
    {"$convert", NULL, 0, 0, parse_convert, 0},    {"$toString", NULL, 0, 0, parse_shorthand, 0},
    {"$toInt", NULL, 0, 0, parse_shorthand, 0},    {"$toLong", NULL, 0, 0, parse_shorthand, 0},
    {"$toDouble", NULL, 0, 0, parse_shorthand, 0}, {"$toDecimal", NULL, 0, 0, parse_shorthand, 0},
    {"$toBool", NULL, 0, 0, parse_shorthand, 0},   {"$toObjectId", NULL, 0, 0, parse_shorthand, 0},
    {"$toDate", NULL, 0, 0, parse_shorthand, 0},   {NULL, NULL, 0, 0, NULL, 0},
};
