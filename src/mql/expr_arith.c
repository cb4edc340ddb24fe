/*
 * expr_arith.c — arithmetic expressions with MongoDB's type widening (int -> long -> double,
 * decimal wins), date arithmetic and error texts of the newest server
 * (src/mongo/db/exec/expression/evaluate_arithmetic.cpp): $add $subtract $multiply $divide
 * $mod $abs $floor $ceil $round $trunc.  Also the Decimal128 quantize helper they share.
 */
#include "mql/expr_internal.h"

#include <math.h>
#include <string.h>

/* ---- Decimal128 quantize (BID layout read directly) ----------------------------------------- */

typedef unsigned __int128 u128_t;

enum { ROUND_HALF_EVEN, ROUND_TOWARD_ZERO, ROUND_UP, ROUND_DOWN };

static const int decimal_exponent_bias = 6176;

static bool decimal_unpack(bson_decimal128_t d, bool *negative, u128_t *coefficient, int *exponent)
{
   if (duet_decimal_is_nan(d) || duet_decimal_is_infinite(d)) {
      return false;
   }
   *negative = (d.high >> 63) != 0;
   if (((d.high >> 61) & 3) == 3) {
      *exponent = (int)((d.high >> 47) & 0x3fff) - decimal_exponent_bias;
      *coefficient = 0; /* non-canonical: reads as zero */
      return true;
   }
   *exponent = (int)((d.high >> 49) & 0x3fff) - decimal_exponent_bias;
   *coefficient = ((u128_t)(d.high & 0x1ffffffffffffULL) << 64) | d.low;
   return true;
}

static bson_decimal128_t decimal_pack(bool negative, u128_t coefficient, int exponent)
{
   bson_decimal128_t d;
   d.low = (uint64_t)coefficient;
   d.high = (uint64_t)(coefficient >> 64) | ((uint64_t)(exponent + decimal_exponent_bias) << 49) |
            (negative ? 1ULL << 63 : 0);
   return d;
}

bson_decimal128_t expr_decimal_from_parts(bool negative, unsigned __int128 coefficient, int exponent)
{
   return decimal_pack(negative, coefficient, exponent);
}

static u128_t pow10_u128(int n)
{
   u128_t p = 1;
   while (n-- > 0) {
      p *= 10;
   }
   return p;
}

static bson_decimal128_t decimal_nan(void)
{
   bson_decimal128_t nan;
   bson_decimal128_from_string("NaN", &nan);
   return nan;
}

/* Rounds `d` to exponent `target` (10^target units) with `mode`; NaN when the result needs
 * more than 34 digits, as IEEE quantize does. */
static bson_decimal128_t decimal_quantize(bson_decimal128_t d, int target, int mode)
{
   bool negative;
   u128_t c;
   int e;
   if (!decimal_unpack(d, &negative, &c, &e)) {
      return d;
   }
   static const u128_t max_coefficient = (u128_t)9999999999999999ULL * 1000000000000000000ULL + 999999999999999999ULL;
   if (e >= target) {
      int shift = e - target;
      if (shift > 34) {
         return c == 0 ? decimal_pack(negative, 0, target) : decimal_nan();
      }
      u128_t scaled = c * pow10_u128(shift);
      if (scaled > max_coefficient || (shift > 0 && scaled / pow10_u128(shift) != c)) {
         return decimal_nan();
      }
      return decimal_pack(negative, scaled, target);
   }
   int shift = target - e;
   u128_t quotient, remainder, divisor;
   if (shift > 38) {
      quotient = 0;
      remainder = c;
      divisor = 0; /* remainder < divisor, strictly less than half */
   } else {
      divisor = pow10_u128(shift);
      quotient = c / divisor;
      remainder = c % divisor;
   }
   bool round_away = false;
   if (remainder != 0) {
      switch (mode) {
      case ROUND_HALF_EVEN: {
         if (divisor == 0) {
            round_away = false;
         } else {
            u128_t twice = remainder * 2;
            round_away = twice > divisor || (twice == divisor && (quotient & 1));
         }
         break;
      }
      case ROUND_TOWARD_ZERO: round_away = false; break;
      case ROUND_UP: round_away = !negative; break;
      default: round_away = negative; break;
      }
   }
   if (round_away) {
      quotient++;
   }
   if (quotient > max_coefficient) {
      return decimal_nan();
   }
   return decimal_pack(negative, quotient, target);
}

/* ---- helpers ----------------------------------------------------------------------------------- */

static bool add_overflows(int64_t a, int64_t b, int64_t *out)
{
   return __builtin_add_overflow(a, b, out);
}

static void set_int_or_long(bson_value_t *out, int64_t value)
{
   if (value >= INT32_MIN && value <= INT32_MAX) {
      expr_set_int32(out, (int32_t)value);
   } else {
      expr_set_int64(out, value);
   }
}

static int type_rank(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_INT32: return 0;
   case BSON_TYPE_INT64: return 1;
   case BSON_TYPE_DOUBLE: return 2;
   case BSON_TYPE_DECIMAL128: return 3;
   default: return -1;
   }
}

static bson_type_t widest(bson_type_t a, bson_type_t b)
{
   return type_rank(a) >= type_rank(b) ? a : b;
}

static int64_t as_long(const bson_value_t *value)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32: return value->value.v_int32;
   case BSON_TYPE_INT64: return value->value.v_int64;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (isnan(d)) {
         return 0;
      }
      if (d >= 9223372036854775807.0) {
         return INT64_MAX;
      }
      if (d <= -9223372036854775808.0) {
         return INT64_MIN;
      }
      return (int64_t)d;
   }
   default: {
      int64_t v = 0;
      duet_decimal_to_int64(value->value.v_decimal128, &v);
      return v;
   }
   }
}

/* Value::coerceToDecimal: doubles go through 15 significant digits. */
static bson_decimal128_t decimal_of(const bson_value_t *value)
{
   if (value->value_type == BSON_TYPE_DOUBLE) {
      return expr_double_to_decimal(value->value.v_double);
   }
   return duet_decimal_from_value(value);
}

static bool date_overflow(duet_error_t *error)
{
   duet_error_set(error, DUET_ERR_OVERFLOW, "date overflow");
   return false;
}

/* ---- $add ---------------------------------------------------------------------------------------- */

typedef struct add_state {
   int64_t long_total;
   double double_total;
   bson_decimal128_t decimal_total;
   bson_type_t widest;
   bool is_date;
} add_state_t;

static bool add_to_date(add_state_t *state, const bson_value_t *value, duet_error_t *error)
{
   switch (value->value_type) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
      if (add_overflows(state->long_total, as_long(value), &state->long_total)) {
         return date_overflow(error);
      }
      return true;
   case BSON_TYPE_DOUBLE: {
      double d = value->value.v_double;
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775807.0) ||
          add_overflows(state->long_total, llround(d), &state->long_total)) {
         return date_overflow(error);
      }
      return true;
   }
   default: {
      bson_decimal128_t rounded = decimal_quantize(value->value.v_decimal128, 0, ROUND_HALF_EVEN);
      int64_t v;
      if (!duet_decimal_to_int64(rounded, &v) || add_overflows(state->long_total, v, &state->long_total)) {
         return date_overflow(error);
      }
      return true;
   }
   }
}

static void add_state_value(const add_state_t *state, bson_value_t *out)
{
   if (state->is_date) {
      expr_set_date(out, state->long_total);
      return;
   }
   switch (state->widest) {
   case BSON_TYPE_INT32: set_int_or_long(out, state->long_total); break;
   case BSON_TYPE_INT64: expr_set_int64(out, state->long_total); break;
   case BSON_TYPE_DOUBLE: expr_set_double(out, state->double_total); break;
   default: expr_set_decimal(out, state->decimal_total); break;
   }
}

static bool add_state_add(add_state_t *state, const bson_value_t *operand, duet_error_t *error)
{
   bson_type_t old_widest = state->widest;
   bson_value_t value = *operand;
   if (operand->value_type == BSON_TYPE_DATE_TIME) {
      if (state->is_date) {
         duet_error_set(error, 16612, "only one date allowed in an $add expression");
         return false;
      }
      bson_value_t old_value;
      add_state_value(state, &old_value);
      state->long_total = 0;
      if (!add_to_date(state, &old_value, error)) {
         return false;
      }
      state->is_date = true;
      expr_set_int64(&value, operand->value.v_datetime);
   } else {
      state->widest = widest(state->widest, operand->value_type);
   }
   if (state->is_date) {
      return add_to_date(state, &value, error);
   }
   if (old_widest != state->widest) {
      if (state->widest == BSON_TYPE_DOUBLE) {
         state->double_total = (double)state->long_total;
      } else if (state->widest == BSON_TYPE_DECIMAL128) {
         state->decimal_total = old_widest == BSON_TYPE_DOUBLE ? expr_double_to_decimal(state->double_total)
                                                               : duet_decimal_from_int64(state->long_total);
      }
   }
   switch (state->widest) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64: {
      int64_t sum;
      if (add_overflows(state->long_total, as_long(&value), &sum)) {
         state->widest = BSON_TYPE_DOUBLE;
         state->double_total = (double)state->long_total + expr_number_as_double(&value);
      } else {
         state->long_total = sum;
      }
      break;
   }
   case BSON_TYPE_DOUBLE: state->double_total += expr_number_as_double(&value); break;
   default: state->decimal_total = duet_decimal_add(state->decimal_total, decimal_of(&value)); break;
   }
   return true;
}

static bool eval_add(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   add_state_t sum = {.widest = BSON_TYPE_INT32};
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         return false;
      }
      if (expr_value_is_nullish(&value)) {
         expr_set_null(out);
         return true;
      }
      if (!duet_type_is_number(value.value_type) && value.value_type != BSON_TYPE_DATE_TIME) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$add only supports numeric or date types, not %s",
                        duet_type_name(value.value_type));
         bson_value_destroy(&value);
         expr_set_missing(out);
         return false;
      }
      bool ok = add_state_add(&sum, &value, error);
      if (!ok) {
         expr_set_missing(out);
         return false;
      }
   }
   add_state_value(&sum, out);
   return true;
}

/* ---- $multiply ------------------------------------------------------------------------------------ */

static bool eval_multiply(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   double double_product = 1;
   int64_t long_product = 1;
   bson_decimal128_t decimal_product = duet_decimal_from_int64(1);
   bson_type_t product_type = BSON_TYPE_INT32;
   for (size_t i = 0; i < node->arg_count; i++) {
      bson_value_t value;
      if (!expr_eval(node->args[i], state, &value, error)) {
         return false;
      }
      if (expr_value_is_nullish(&value)) {
         expr_set_null(out);
         return true;
      }
      if (!duet_type_is_number(value.value_type)) {
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$multiply only supports numeric types, not %s",
                        duet_type_name(value.value_type));
         bson_value_destroy(&value);
         expr_set_missing(out);
         return false;
      }
      bson_type_t old_type = product_type;
      product_type = widest(product_type, value.value_type);
      if (product_type == BSON_TYPE_DECIMAL128) {
         if (old_type != BSON_TYPE_DECIMAL128) {
            decimal_product = old_type == BSON_TYPE_DOUBLE ? expr_double_to_decimal(double_product)
                                                           : duet_decimal_from_int64(long_product);
         }
         decimal_product = duet_decimal_multiply(decimal_product, decimal_of(&value));
      } else {
         double d = expr_number_as_double(&value);
         double_product *= d;
         if (product_type != BSON_TYPE_DOUBLE) {
            if (!isfinite(d) || __builtin_mul_overflow(long_product, as_long(&value), &long_product)) {
               product_type = BSON_TYPE_DOUBLE;
            }
         }
      }
   }
   switch (product_type) {
   case BSON_TYPE_DOUBLE: expr_set_double(out, double_product); break;
   case BSON_TYPE_INT64: expr_set_int64(out, long_product); break;
   case BSON_TYPE_INT32: set_int_or_long(out, long_product); break;
   default: expr_set_decimal(out, decimal_product); break;
   }
   return true;
}

/* ---- binary operators: $subtract $divide $mod ------------------------------------------------------- */

static bool eval_two(const duet_expr_t *node, expr_state_t *state, bson_value_t *a, bson_value_t *b,
                     duet_error_t *error)
{
   if (!expr_eval(node->args[0], state, a, error)) {
      return false;
   }
   if (!expr_eval(node->args[1], state, b, error)) {
      bson_value_destroy(a);
      return false;
   }
   return true;
}

/* Evaluates both operands of `node`, then combines them with `op` into *out. */
static bool eval_binary(const duet_expr_t *node, expr_state_t *state,
                        bool (*op)(const bson_value_t *, const bson_value_t *, bson_value_t *, duet_error_t *),
                        bson_value_t *out, duet_error_t *error)
{
   bson_value_t a, b;
   if (!eval_two(node, state, &a, &b, error)) {
      return false;
   }
   expr_set_missing(out);
   bool ok = op(&a, &b, out, error);
   bson_value_destroy(&a);
   bson_value_destroy(&b);
   return ok;
}

static bool subtract(const bson_value_t *lhs, const bson_value_t *rhs, bson_value_t *out, duet_error_t *error)
{
   bool lhs_number = duet_type_is_number(lhs->value_type);
   bool rhs_number = duet_type_is_number(rhs->value_type);
   if (lhs_number && rhs_number) {
      bson_type_t type = widest(lhs->value_type, rhs->value_type);
      if (type == BSON_TYPE_DECIMAL128) {
         expr_set_decimal(out, duet_decimal_subtract(decimal_of(lhs), decimal_of(rhs)));
      } else if (type == BSON_TYPE_DOUBLE) {
         expr_set_double(out, expr_number_as_double(lhs) - expr_number_as_double(rhs));
      } else if (type == BSON_TYPE_INT64) {
         int64_t result;
         if (__builtin_sub_overflow(as_long(lhs), as_long(rhs), &result)) {
            expr_set_double(out, expr_number_as_double(lhs) - expr_number_as_double(rhs));
         } else {
            expr_set_int64(out, result);
         }
      } else {
         set_int_or_long(out, (int64_t)lhs->value.v_int32 - (int64_t)rhs->value.v_int32);
      }
      return true;
   }
   if (expr_value_is_nullish(lhs) || expr_value_is_nullish(rhs)) {
      expr_set_null(out);
      return true;
   }
   if (lhs->value_type == BSON_TYPE_DATE_TIME) {
      int64_t ms = lhs->value.v_datetime;
      switch (rhs->value_type) {
      case BSON_TYPE_DATE_TIME: expr_set_int64(out, ms - rhs->value.v_datetime); return true;
      case BSON_TYPE_INT32:
      case BSON_TYPE_INT64:
         if (__builtin_sub_overflow(ms, as_long(rhs), &ms)) {
            return date_overflow(error);
         }
         expr_set_date(out, ms);
         return true;
      case BSON_TYPE_DOUBLE: {
         double d = rhs->value.v_double;
         if (d >= -9223372036854775808.0 && d < 9223372036854775807.0 && !__builtin_sub_overflow(ms, llround(d), &ms)) {
            expr_set_date(out, ms);
            return true;
         }
         return date_overflow(error);
      }
      case BSON_TYPE_DECIMAL128: {
         int64_t v;
         bson_decimal128_t rounded = decimal_quantize(rhs->value.v_decimal128, 0, ROUND_HALF_EVEN);
         if (!duet_decimal_to_int64(rounded, &v) || __builtin_sub_overflow(ms, v, &ms)) {
            return date_overflow(error);
         }
         expr_set_date(out, ms);
         return true;
      }
      default:
         duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "can't $subtract %s from Date", duet_type_name(rhs->value_type));
         return false;
      }
   }
   duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "can't $subtract %s from %s", duet_type_name(rhs->value_type),
                  duet_type_name(lhs->value_type));
   return false;
}

static bool eval_subtract(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   return eval_binary(node, state, subtract, out, error);
}

static bool divide(const bson_value_t *lhs, const bson_value_t *rhs, bson_value_t *out, duet_error_t *error)
{
   if (duet_type_is_number(lhs->value_type) && duet_type_is_number(rhs->value_type)) {
      if (lhs->value_type == BSON_TYPE_DECIMAL128 || rhs->value_type == BSON_TYPE_DECIMAL128) {
         bson_decimal128_t denominator = decimal_of(rhs);
         if (duet_decimal_is_zero(denominator)) {
            duet_error_set(error, DUET_ERR_BAD_VALUE, "can't $divide by zero");
            return false;
         }
         expr_set_decimal(out, duet_decimal_divide(decimal_of(lhs), denominator));
         return true;
      }
      double denominator = expr_number_as_double(rhs);
      if (denominator == 0.0) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "can't $divide by zero");
         return false;
      }
      expr_set_double(out, expr_number_as_double(lhs) / denominator);
      return true;
   }
   if (expr_value_is_nullish(lhs) || expr_value_is_nullish(rhs)) {
      expr_set_null(out);
      return true;
   }
   duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "$divide only supports numeric types, not %s and %s",
                  duet_type_name(lhs->value_type), duet_type_name(rhs->value_type));
   return false;
}

static bool eval_divide(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   return eval_binary(node, state, divide, out, error);
}

static bool modulo(const bson_value_t *lhs, const bson_value_t *rhs, bson_value_t *out, duet_error_t *error)
{
   if (duet_type_is_number(lhs->value_type) && duet_type_is_number(rhs->value_type)) {
      if (lhs->value_type == BSON_TYPE_DECIMAL128 || rhs->value_type == BSON_TYPE_DECIMAL128) {
         bson_decimal128_t left = decimal_of(lhs);
         bson_decimal128_t right = decimal_of(rhs);
         if (duet_decimal_is_zero(right)) {
            duet_error_set(error, 5733415, "can't $mod by zero");
            return false;
         }
         /* remainder with the sign of the dividend: left - trunc(left / right) * right */
         bson_decimal128_t quotient = decimal_quantize(duet_decimal_divide(left, right), 0, ROUND_TOWARD_ZERO);
         expr_set_decimal(out, duet_decimal_subtract(left, duet_decimal_multiply(quotient, right)));
         return true;
      }
      double right = expr_number_as_double(rhs);
      if (right == 0) {
         duet_error_set(error, 16610, "can't $mod by zero");
         return false;
      }
      if (lhs->value_type == BSON_TYPE_DOUBLE || rhs->value_type == BSON_TYPE_DOUBLE) {
         expr_set_double(out, fmod(expr_number_as_double(lhs), right));
      } else if (lhs->value_type == BSON_TYPE_INT64 || rhs->value_type == BSON_TYPE_INT64) {
         int64_t l = as_long(lhs), r = as_long(rhs);
         expr_set_int64(out, r == -1 ? 0 : l % r);
      } else {
         int32_t l = lhs->value.v_int32, r = rhs->value.v_int32;
         expr_set_int32(out, r == -1 ? 0 : l % r);
      }
      return true;
   }
   if (expr_value_is_nullish(lhs) || expr_value_is_nullish(rhs)) {
      expr_set_null(out);
      return true;
   }
   duet_error_set(error, 16611, "$mod only supports numeric types, not %s and %s", duet_type_name(lhs->value_type),
                  duet_type_name(rhs->value_type));
   return false;
}

static bool eval_mod(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   return eval_binary(node, state, modulo, out, error);
}

/* ---- single numeric argument: $abs $floor $ceil --------------------------------------------------- */

enum { UNARY_ABS, UNARY_FLOOR, UNARY_CEIL };

static bool eval_unary(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   bson_value_t value;
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   if (expr_value_is_nullish(&value)) {
      expr_set_null(out);
      return true;
   }
   if (!duet_type_is_number(value.value_type)) {
      duet_error_set(error, 28765, "%s only supports numeric types, not %s", node->name,
                     duet_type_name(value.value_type));
      bson_value_destroy(&value);
      expr_set_missing(out);
      return false;
   }
   *out = value;
   switch (node->option) {
   case UNARY_ABS:
      if (value.value_type == BSON_TYPE_DOUBLE) {
         out->value.v_double = fabs(value.value.v_double);
      } else if (value.value_type == BSON_TYPE_DECIMAL128) {
         out->value.v_decimal128.high &= ~(1ULL << 63);
      } else {
         int64_t n = as_long(&value);
         if (n == INT64_MIN) {
            duet_error_set(error, 28680, "can't take $abs of long long min");
            expr_set_missing(out);
            return false;
         }
         n = n < 0 ? -n : n;
         if (value.value_type == BSON_TYPE_INT64) {
            expr_set_int64(out, n);
         } else {
            set_int_or_long(out, n);
         }
      }
      break;
   case UNARY_FLOOR:
   case UNARY_CEIL:
      if (value.value_type == BSON_TYPE_DOUBLE) {
         out->value.v_double = node->option == UNARY_FLOOR ? floor(value.value.v_double) : ceil(value.value.v_double);
      } else if (value.value_type == BSON_TYPE_DECIMAL128) {
         out->value.v_decimal128 =
             decimal_quantize(value.value.v_decimal128, 0, node->option == UNARY_FLOOR ? ROUND_DOWN : ROUND_UP);
      }
      break;
   default: break;
   }
   return true;
}

/* ---- $round, $trunc --------------------------------------------------------------------------------- */

static bool eval_round(const duet_expr_t *node, expr_state_t *state, bson_value_t *out, duet_error_t *error)
{
   int mode = node->option == 0 ? ROUND_HALF_EVEN : ROUND_TOWARD_ZERO;
   bson_value_t value, place = {.value_type = BSON_TYPE_EOD};
   expr_set_missing(out);
   if (!expr_eval(node->args[0], state, &value, error)) {
      return false;
   }
   if (expr_value_is_nullish(&value)) {
      bson_value_destroy(&value);
      expr_set_null(out);
      return true;
   }
   if (!duet_type_is_number(value.value_type)) {
      duet_error_set(error, 51081, "%s only supports numeric types, not %s", node->name,
                     duet_type_name(value.value_type));
      bson_value_destroy(&value);
      return false;
   }
   int64_t precision = 0;
   if (node->arg_count > 1) {
      if (!expr_eval(node->args[1], state, &place, error)) {
         return false;
      }
      if (expr_value_is_nullish(&place)) {
         bson_value_destroy(&place);
         expr_set_null(out);
         return true;
      }
      if (!expr_number_as_int64(&place, &precision)) {
         duet_error_set(error, 51082, "precision argument to  %s must be a integral value", node->name);
         bson_value_destroy(&place);
         return false;
      }
      bson_value_destroy(&place);
      if (precision < -20 || precision > 100) {
         duet_error_set(error, 51083, "cannot apply %s with precision value %lld value must be in [-20, 100]",
                        node->name, (long long)precision);
         return false;
      }
   }
   int target = (int)-precision;
   switch (value.value_type) {
   case BSON_TYPE_DECIMAL128:
      *out = value;
      if (!duet_decimal_is_infinite(value.value.v_decimal128)) {
         out->value.v_decimal128 = decimal_quantize(value.value.v_decimal128, target, mode);
      }
      return true;
   case BSON_TYPE_DOUBLE: {
      bson_decimal128_t d = duet_decimal_from_double(value.value.v_double);
      if (duet_decimal_is_infinite(d) || isnan(value.value.v_double)) {
         *out = value;
         return true;
      }
      expr_set_double(out, duet_decimal_to_double(decimal_quantize(d, target, mode)));
      if (value.value.v_double < 0 && out->value.v_double == 0) {
         out->value.v_double = -0.0;
      }
      return true;
   }
   default: {
      if (precision >= 0) {
         *out = value;
         return true;
      }
      int64_t n = as_long(&value);
      bson_decimal128_t q = decimal_quantize(duet_decimal_from_int64(n), target, mode);
      int64_t result;
      if (duet_decimal_is_nan(q) || !duet_decimal_to_int64(q, &result)) {
         duet_error_set(error, 51080,
                        "invalid conversion from Decimal128 result in %s resulting from arguments: "
                        "[%lld, %lld]",
                        node->name, (long long)n, (long long)precision);
         return false;
      }
      if (value.value_type == BSON_TYPE_INT64 || result > INT32_MAX || result < INT32_MIN) {
         expr_set_int64(out, result);
      } else {
         expr_set_int32(out, (int32_t)result);
      }
      return true;
   }
   }
}

const expr_operator_t expr_operators_arith[] = {
    {"$add", eval_add, 0, -1, NULL, 0},
    {"$subtract", eval_subtract, 2, 2, NULL, 0},
    {"$multiply", eval_multiply, 0, -1, NULL, 0},
    {"$divide", eval_divide, 2, 2, NULL, 0},
    {"$mod", eval_mod, 2, 2, NULL, 0},
    {"$abs", eval_unary, 1, 1, NULL, UNARY_ABS},
    {"$floor", eval_unary, 1, 1, NULL, UNARY_FLOOR},
    {"$ceil", eval_unary, 1, 1, NULL, UNARY_CEIL},
    {"$round", eval_round, 1, 2, NULL, 0},
    {"$trunc", eval_round, 1, 2, NULL, 1},
    {NULL, NULL, 0, 0, NULL, 0},
};
