/*
 * test_doc_key.c — the order-preserving key encoding: a property test against
 * duet_value_compare over random values of every BSON type, equal numbers of
 * all four types encoding identically, compound keys and descending parts.
 */
#include "duet_test.h"

#include <duet/doc.h>
#include <duet/doc_key.h>
#include <math.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
   rng_state ^= rng_state << 13;
   rng_state ^= rng_state >> 7;
   rng_state ^= rng_state << 17;
   return (uint32_t)(rng_state % n);
}

static void append_random(bson_t *doc, const char *key, int depth);

static void append_random_string(bson_t *doc, const char *key, bool symbol)
{
   static const char alphabet[] = {'a', 'b', '\0', 'z', (char)0xFF, (char)0x01};
   char buffer[8];
   uint32_t len = rnd(5);
   for (uint32_t i = 0; i < len; i++) {
      buffer[i] = alphabet[rnd(sizeof alphabet)];
   }
   if (symbol) {
      bson_append_symbol(doc, key, -1, buffer, (int)len);
   } else {
      bson_append_utf8(doc, key, -1, buffer, (int)len);
   }
}

static void append_random_number(bson_t *doc, const char *key)
{
   static const double doubles[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 2.0, 1e300, -1e-300, 9007199254740992.0,
                                    9223372036854775808.0, 3.0, 100.0, -2.5};
   static const char *decimals[] = {"1.00", "0.1", "-0", "NaN", "Infinity", "-Infinity", "2", "1E+2", "100.0",
                                    "-2.50", "0.1000000000000000055511151231257827", "9.999999999999999999999999999999999E+6144",
                                    "1E-6176", "3"};
   bson_decimal128_t dec;
   switch (rnd(5)) {
   case 0: bson_append_int32(doc, key, -1, (int32_t)rnd(7) - 3); break;
   case 1: {
      static const int64_t longs[] = {1, -1, 100, 9007199254740993LL, INT64_MAX, INT64_MIN, 0, 3};
      bson_append_int64(doc, key, -1, longs[rnd(8)]);
      break;
   }
   case 2: bson_append_double(doc, key, -1, doubles[rnd(sizeof doubles / sizeof doubles[0])]); break;
   case 3: {
      static const double specials[] = {NAN, INFINITY, -INFINITY};
      bson_append_double(doc, key, -1, specials[rnd(3)]);
      break;
   }
   default:
      bson_decimal128_from_string(decimals[rnd(sizeof decimals / sizeof decimals[0])], &dec);
      bson_append_decimal128(doc, key, -1, &dec);
      break;
   }
}

static void append_random_container(bson_t *doc, const char *key, int depth, bool array)
{
   bson_t child;
   if (array) {
      bson_append_array_begin(doc, key, -1, &child);
   } else {
      bson_append_document_begin(doc, key, -1, &child);
   }
   uint32_t n = rnd(3);
   for (uint32_t i = 0; i < n; i++) {
      char name[16];
      if (array) {
         snprintf(name, sizeof name, "%u", i);
      } else {
         static const char *names[] = {"a", "b", "ab", ""};
         snprintf(name, sizeof name, "%s", names[rnd(4)]);
      }
      append_random(&child, name, depth + 1);
   }
   if (array) {
      bson_append_array_end(doc, &child);
   } else {
      bson_append_document_end(doc, &child);
   }
}

static void append_random(bson_t *doc, const char *key, int depth)
{
   uint32_t kind = rnd(depth > 2 ? 19 : 21);
   bson_oid_t oid;
   uint8_t bytes[3] = {(uint8_t)rnd(3), (uint8_t)rnd(3), 0};
   switch (kind) {
   case 0: bson_append_minkey(doc, key, -1); break;
   case 1: bson_append_maxkey(doc, key, -1); break;
   case 2: bson_append_null(doc, key, -1); break;
   case 3: bson_append_undefined(doc, key, -1); break;
   case 4:
   case 5:
   case 6: append_random_number(doc, key); break;
   case 7: append_random_string(doc, key, false); break;
   case 8: append_random_string(doc, key, true); break;
   case 9: bson_append_binary(doc, key, -1, (bson_subtype_t)rnd(2), bytes, rnd(3)); break;
   case 10:
      memset(&oid, 0, sizeof oid);
      oid.bytes[11] = (uint8_t)rnd(3);
      oid.bytes[0] = (uint8_t)rnd(2);
      bson_append_oid(doc, key, -1, &oid);
      break;
   case 11: bson_append_bool(doc, key, -1, rnd(2)); break;
   case 12: bson_append_date_time(doc, key, -1, (int64_t)rnd(5) - 2); break;
   case 13: bson_append_timestamp(doc, key, -1, rnd(3), rnd(3)); break;
   case 14: bson_append_regex(doc, key, -1, rnd(2) ? "a" : "ab", rnd(2) ? "" : "i"); break;
   case 15: {
      memset(&oid, 0, sizeof oid);
      oid.bytes[5] = (uint8_t)rnd(2);
      bson_append_dbpointer(doc, key, -1, rnd(2) ? "db.c" : "db.cc", &oid);
      break;
   }
   case 16: bson_append_code(doc, key, -1, rnd(2) ? "f()" : "g()"); break;
   case 17: {
      bson_t *scope = rnd(2) ? BCON_NEW("x", BCON_INT32((int32_t)rnd(2))) : bson_new();
      bson_append_code_with_scope(doc, key, -1, rnd(2) ? "f()" : "g()", scope);
      bson_destroy(scope);
      break;
   }
   case 18: append_random_number(doc, key); break;
   case 19: append_random_container(doc, key, depth, false); break;
   default: append_random_container(doc, key, depth, true); break;
   }
}

static int sign_of(int x)
{
   return x < 0 ? -1 : (x > 0 ? 1 : 0);
}

static void test_property_against_compare(void **state)
{
   (void)state;
   enum { COUNT = 400 };
   bson_t *docs[COUNT];
   duet_key_t keys[COUNT];
   for (int i = 0; i < COUNT; i++) {
      docs[i] = bson_new();
      append_random(docs[i], "v", 0);
      duet_key_init(&keys[i]);
      bson_iter_t it;
      assert_true(bson_iter_init_find(&it, docs[i], "v"));
      duet_key_append_value(&keys[i], bson_iter_value(&it), false);
   }
   int equal_pairs = 0;
   for (int i = 0; i < COUNT; i++) {
      for (int j = 0; j < COUNT; j++) {
         bson_iter_t a, b;
         bson_iter_init_find(&a, docs[i], "v");
         bson_iter_init_find(&b, docs[j], "v");
         int expected = sign_of(duet_iter_compare(&a, &b));
         int actual = duet_key_compare(keys[i].data, keys[i].len, keys[j].data, keys[j].len);
         if (expected != actual) {
            char *ja = bson_as_canonical_extended_json(docs[i], NULL);
            char *jb = bson_as_canonical_extended_json(docs[j], NULL);
            fail_msg("order differs: %s vs %s: compare %d, key %d", ja, jb, expected, actual);
         }
         equal_pairs += expected == 0 && i != j;
      }
   }
   assert_true(equal_pairs > 0); /* the generator does produce equal values of different types */
   for (int i = 0; i < COUNT; i++) {
      bson_destroy(docs[i]);
      duet_key_destroy(&keys[i]);
   }
}

static void encode_json(const char *json, duet_key_t *key)
{
   bson_t *doc = TEST_JSON(json);
   bson_iter_t it;
   assert_true(bson_iter_init_find(&it, doc, "v"));
   duet_key_set_value(key, bson_iter_value(&it));
   bson_destroy(doc);
}

static void test_equal_numbers_encode_identically(void **state)
{
   (void)state;
   const char *ones[] = {"{\"v\": 1}", "{\"v\": {\"$numberLong\": \"1\"}}", "{\"v\": 1.0}",
                         "{\"v\": {\"$numberDecimal\": \"1.00\"}}", "{\"v\": {\"$numberDecimal\": \"0.001E3\"}}"};
   duet_key_t first = DUET_KEY_INIT, other = DUET_KEY_INIT;
   encode_json(ones[0], &first);
   for (size_t i = 1; i < sizeof ones / sizeof ones[0]; i++) {
      encode_json(ones[i], &other);
      assert_int_equal(first.len, other.len);
      assert_memory_equal(first.data, other.data, first.len);
   }
   encode_json("{\"v\": -0.0}", &first);
   encode_json("{\"v\": {\"$numberDecimal\": \"-0E+12\"}}", &other);
   assert_int_equal(duet_key_compare(first.data, first.len, other.data, other.len), 0);
   encode_json("{\"v\": {\"$numberDouble\": \"NaN\"}}", &first);
   encode_json("{\"v\": {\"$numberDecimal\": \"-NaN\"}}", &other);
   assert_int_equal(duet_key_compare(first.data, first.len, other.data, other.len), 0);
   duet_key_destroy(&first);
   duet_key_destroy(&other);
}

/* A dense ladder of numbers in strictly ascending order, across types. */
static void test_number_ladder(void **state)
{
   (void)state;
   const char *ladder[] = {
      "{\"v\": {\"$numberDouble\": \"NaN\"}}",
      "{\"v\": {\"$numberDouble\": \"-Infinity\"}}",
      "{\"v\": {\"$numberDecimal\": \"-1E+6000\"}}",
      "{\"v\": -1e300}",
      "{\"v\": {\"$numberLong\": \"-9223372036854775808\"}}",
      "{\"v\": -123}",
      "{\"v\": -12.5}",
      "{\"v\": -12}",
      "{\"v\": -1}",
      "{\"v\": {\"$numberDecimal\": \"-1E-6000\"}}",
      "{\"v\": 0}",
      "{\"v\": 1e-300}",
      "{\"v\": {\"$numberDecimal\": \"0.1\"}}",
      "{\"v\": 0.1}",
      "{\"v\": 1}",
      "{\"v\": {\"$numberDecimal\": \"1.000000000000000000000000000000001\"}}",
      "{\"v\": 1.5}",
      "{\"v\": 12}",
      "{\"v\": 120}",
      "{\"v\": 123}",
      "{\"v\": 9007199254740992.0}",
      "{\"v\": {\"$numberLong\": \"9007199254740993\"}}",
      "{\"v\": {\"$numberLong\": \"9223372036854775807\"}}",
      "{\"v\": 9223372036854775808.0}",
      "{\"v\": {\"$numberDouble\": \"Infinity\"}}",
   };
   size_t n = sizeof ladder / sizeof ladder[0];
   duet_key_t prev = DUET_KEY_INIT, cur = DUET_KEY_INIT;
   encode_json(ladder[0], &prev);
   for (size_t i = 1; i < n; i++) {
      encode_json(ladder[i], &cur);
      if (duet_key_compare(prev.data, prev.len, cur.data, cur.len) >= 0) {
         fail_msg("%s should encode below %s", ladder[i - 1], ladder[i]);
      }
      duet_key_t tmp = prev;
      prev = cur;
      cur = tmp;
   }
   duet_key_destroy(&prev);
   duet_key_destroy(&cur);
}

/* Compound (a asc, b desc) keys sort like the pairs do. */
static void test_compound_descending(void **state)
{
   (void)state;
   int pairs[][2] = {{1, 9}, {1, 3}, {1, 1}, {2, 5}, {2, 0}, {3, 7}};
   size_t n = sizeof pairs / sizeof pairs[0];
   duet_key_t keys[6];
   for (size_t i = 0; i < n; i++) {
      duet_key_init(&keys[i]);
      bson_value_t a = {.value_type = BSON_TYPE_INT32, .value.v_int32 = pairs[i][0]};
      bson_value_t b = {.value_type = BSON_TYPE_DOUBLE, .value.v_double = pairs[i][1]};
      duet_key_append_value(&keys[i], &a, false);
      duet_key_append_value(&keys[i], &b, true);
   }
   for (size_t i = 1; i < n; i++) {
      assert_true(duet_key_compare(keys[i - 1].data, keys[i - 1].len, keys[i].data, keys[i].len) < 0);
   }
   /* a descending string component: "ab" sorts before "a" */
   duet_key_t x = DUET_KEY_INIT, y = DUET_KEY_INIT;
   bson_value_t sa = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {.str = "ab", .len = 2}};
   bson_value_t sb = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {.str = "a", .len = 1}};
   duet_key_append_value(&x, &sa, true);
   duet_key_append_value(&y, &sb, true);
   assert_true(duet_key_compare(x.data, x.len, y.data, y.len) < 0);
   duet_key_destroy(&x);
   duet_key_destroy(&y);
   for (size_t i = 0; i < n; i++) {
      duet_key_destroy(&keys[i]);
   }
}

static void test_prefix_successor(void **state)
{
   (void)state;
   duet_key_t key = DUET_KEY_INIT;
   duet_key_append_bytes(&key, (const uint8_t *)"\x01\xFF\xFF", 3);
   assert_true(duet_key_prefix_successor(&key));
   assert_int_equal(key.len, 1);
   assert_int_equal(key.data[0], 0x02);
   duet_key_reset(&key);
   duet_key_append_bytes(&key, (const uint8_t *)"\xFF", 1);
   assert_false(duet_key_prefix_successor(&key));
   duet_key_destroy(&key);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_property_against_compare),
      cmocka_unit_test(test_equal_numbers_encode_identically),
      cmocka_unit_test(test_number_ladder),
      cmocka_unit_test(test_compound_descending),
      cmocka_unit_test(test_prefix_successor),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
