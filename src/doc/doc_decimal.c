/*
 * doc_decimal.c — Decimal128 arithmetic through libgcc's IEEE 754 BID runtime.
 *
 * BSON stores decimal128 in the BID encoding, which is exactly what GCC's
 * decimal floating-point runtime (__bid_* in libgcc) computes on.  The runtime
 * functions take and return the 128-bit value in an SSE register, so they are
 * declared here with a 16-byte vector type; that keeps this file valid for both
 * gcc and clang (clang has no _Decimal128 type).  libgcc.a is linked by CMake.
 */
#include <duet/doc.h>

#include <string.h>

typedef float duet_bid128_t __attribute__((vector_size(16)));

extern duet_bid128_t __bid_addtd3(duet_bid128_t, duet_bid128_t);
extern duet_bid128_t __bid_subtd3(duet_bid128_t, duet_bid128_t);
extern duet_bid128_t __bid_multd3(duet_bid128_t, duet_bid128_t);
extern duet_bid128_t __bid_divtd3(duet_bid128_t, duet_bid128_t);
extern duet_bid128_t __bid_floatditd(long long);
extern duet_bid128_t __bid_extenddftd(double);
extern double __bid_trunctddf(duet_bid128_t);
extern long long __bid_fixtddi(duet_bid128_t);
extern int __bid_lttd2(duet_bid128_t, duet_bid128_t);
extern int __bid_gttd2(duet_bid128_t, duet_bid128_t);

static duet_bid128_t to_bid(bson_decimal128_t value)
{
   duet_bid128_t out;
   uint64_t words[2] = {value.low, value.high};
   memcpy(&out, words, sizeof out);
   return out;
}

static bson_decimal128_t from_bid(duet_bid128_t value)
{
   uint64_t words[2];
   memcpy(words, &value, sizeof words);
   bson_decimal128_t out = {.low = words[0], .high = words[1]};
   return out;
}

/* Combination field: bits 62..58 of the high word. 11111 = NaN, 11110 = Inf. */
bool duet_decimal_is_nan(bson_decimal128_t value)
{
   return ((value.high >> 58) & 0x1f) == 0x1f;
}

bool duet_decimal_is_infinite(bson_decimal128_t value)
{
   return ((value.high >> 58) & 0x1f) == 0x1e;
}

bool duet_decimal_is_negative(bson_decimal128_t value)
{
   return (value.high >> 63) != 0;
}

bool duet_decimal_is_zero(bson_decimal128_t value)
{
   if (duet_decimal_is_nan(value) || duet_decimal_is_infinite(value)) {
      return false;
   }
   if (((value.high >> 61) & 0x3) == 0x3) {
      /* "11" form: coefficient >= 2^113, which is non-canonical and reads as zero */
      return true;
   }
   return (value.high & 0x0001ffffffffffffULL) == 0 && value.low == 0;
}

bson_decimal128_t duet_decimal_from_int64(int64_t value)
{
   return from_bid(__bid_floatditd((long long)value));
}

bson_decimal128_t duet_decimal_from_double(double value)
{
   return from_bid(__bid_extenddftd(value));
}

double duet_decimal_to_double(bson_decimal128_t value)
{
   return __bid_trunctddf(to_bid(value));
}

bool duet_decimal_to_int64(bson_decimal128_t value, int64_t *out)
{
   if (duet_decimal_is_nan(value) || duet_decimal_is_infinite(value)) {
      return false;
   }
   /* Range check against [-2^63, 2^63): exponent 0 (biased 6176 << 49), coefficients
    * 2^63 and 2^63 + 1; the sign bit makes the lower bound -2^63 - 1. */
   static const bson_decimal128_t upper = {.low = 0x8000000000000000ULL, .high = 0x3040000000000000ULL};
   static const bson_decimal128_t lower = {.low = 0x8000000000000001ULL, .high = 0xB040000000000000ULL};
   if (!__bid_lttd2(to_bid(value), to_bid(upper)) || !__bid_gttd2(to_bid(value), to_bid(lower))) {
      return false;
   }
   /* value is in (-2^63 - 1, 2^63): truncation toward zero lands in int64. */
   *out = (int64_t)__bid_fixtddi(to_bid(value));
   return true;
}

bson_decimal128_t duet_decimal_add(bson_decimal128_t a, bson_decimal128_t b)
{
   return from_bid(__bid_addtd3(to_bid(a), to_bid(b)));
}

bson_decimal128_t duet_decimal_subtract(bson_decimal128_t a, bson_decimal128_t b)
{
   return from_bid(__bid_subtd3(to_bid(a), to_bid(b)));
}

bson_decimal128_t duet_decimal_multiply(bson_decimal128_t a, bson_decimal128_t b)
{
   return from_bid(__bid_multd3(to_bid(a), to_bid(b)));
}

bson_decimal128_t duet_decimal_divide(bson_decimal128_t a, bson_decimal128_t b)
{
   return from_bid(__bid_divtd3(to_bid(a), to_bid(b)));
}

int duet_decimal_compare(bson_decimal128_t a, bson_decimal128_t b)
{
   bool a_nan = duet_decimal_is_nan(a);
   bool b_nan = duet_decimal_is_nan(b);
   if (a_nan || b_nan) {
      return a_nan && b_nan ? 0 : (a_nan ? -1 : 1);
   }
   if (__bid_lttd2(to_bid(a), to_bid(b))) {
      return -1;
   }
   if (__bid_gttd2(to_bid(a), to_bid(b))) {
      return 1;
   }
   return 0;
}

bson_decimal128_t duet_decimal_from_value(const bson_value_t *number)
{
   switch (number->value_type) {
   case BSON_TYPE_INT32:
      return duet_decimal_from_int64(number->value.v_int32);
   case BSON_TYPE_INT64:
      return duet_decimal_from_int64(number->value.v_int64);
   case BSON_TYPE_DOUBLE:
      return duet_decimal_from_double(number->value.v_double);
   case BSON_TYPE_DECIMAL128:
      return number->value.v_decimal128;
   default: {
      bson_decimal128_t nan;
      bson_decimal128_from_string("NaN", &nan);
      return nan;
   }
   }
}
