/*
 * test_pipeline_spill.c — $sort and $group past the memory limit: with allow_disk_use they
 * spill to a temporary database and give the same results as in memory (stable sort order,
 * mixed types, compound and descending keys, arrays and missing fields; every accumulator
 * merged across spills, equal numeric keys of different types grouped together); without it
 * they fail with 292.  A small memory limit forces the spills.  Also $sort's {$meta: ...} keys.
 */
#include "duet_test.h"

#include <duet/doc.h>
#include <duet/mql_pipeline.h>

/* Generated documents: a mix of key types, ties and missing fields. */
typedef struct generated {
   long count;
   long position;
   bson_t *current;
} generated_t;

static void make_document(long i, bson_t *doc)
{
   BSON_APPEND_INT64(doc, "_id", i);
   long pick = (i * 7919) % 13;
   switch (pick) {
   case 0: break; /* no k */
   case 1: BSON_APPEND_NULL(doc, "k"); break;
   case 2: BSON_APPEND_DOUBLE(doc, "k", (double)(i % 17) + 0.5); break;
   case 3: BSON_APPEND_INT64(doc, "k", i % 23); break;
   case 4: {
      char text[32];
      snprintf(text, sizeof text, "s%ld", (i * 31) % 50);
      BSON_APPEND_UTF8(doc, "k", text);
      break;
   }
   case 5: {
      bson_t array;
      bson_append_array_begin(doc, "k", 1, &array);
      BSON_APPEND_INT32(&array, "0", (int32_t)(i % 11));
      BSON_APPEND_UTF8(&array, "1", "x");
      bson_append_array_end(doc, &array);
      break;
   }
   case 6: {
      bson_t array = BSON_INITIALIZER;
      BSON_APPEND_ARRAY(doc, "k", &array);
      break;
   }
   case 7: BSON_APPEND_BOOL(doc, "k", i % 2 == 0); break;
   case 8: {
      bson_decimal128_t dec;
      char text[32];
      snprintf(text, sizeof text, "%ld.25", i % 9);
      bson_decimal128_from_string(text, &dec);
      BSON_APPEND_DECIMAL128(doc, "k", &dec);
      break;
   }
   default: BSON_APPEND_INT32(doc, "k", (int32_t)(i % 19)); break;
   }
   /* the group key: numbers of three types that compare equal, and strings */
   long g = (i * 37) % 40;
   if (g < 30) {
      if (i % 3 == 0) {
         BSON_APPEND_INT32(doc, "g", (int32_t)g);
      } else if (i % 3 == 1) {
         BSON_APPEND_INT64(doc, "g", g);
      } else {
         BSON_APPEND_DOUBLE(doc, "g", (double)g);
      }
   } else if (g < 38) {
      char text[32];
      snprintf(text, sizeof text, "group %ld", g);
      BSON_APPEND_UTF8(doc, "g", text);
   } /* else: missing, grouped with null */
   /* values for the accumulators */
   if (i % 5 == 0) {
      BSON_APPEND_DOUBLE(doc, "v", (double)i / 4);
   } else if (i % 5 == 1) {
      bson_decimal128_t dec;
      bson_decimal128_from_string("0.1", &dec);
      BSON_APPEND_DECIMAL128(doc, "v", &dec);
   } else if (i % 5 == 2) {
      BSON_APPEND_UTF8(doc, "v", "text");
   } else if (i % 5 == 3) {
      BSON_APPEND_INT32(doc, "v", (int32_t)(i % 1000));
   }
   BSON_APPEND_INT32(doc, "n", (int32_t)(i % 1000));
   BSON_APPEND_INT32(doc, "small", (int32_t)(i % 4));
   BSON_APPEND_INT32(doc, "big", INT32_MAX - (int32_t)(i % 3));
   char padding[64];
   memset(padding, 'p', sizeof padding - 1);
   padding[sizeof padding - 1] = '\0';
   BSON_APPEND_UTF8(doc, "pad", padding);
}

static bool generated_next(void *context, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   generated_t *source = context;
   if (source->current) {
      bson_destroy(source->current);
      source->current = NULL;
   }
   if (source->position >= source->count) {
      *doc = NULL;
      return true;
   }
   source->current = bson_new();
   make_document(source->position++, source->current);
   *doc = source->current;
   return true;
}

/* Runs `pipeline_json` over `count` generated documents; returns {"r": [...]} or NULL. */
static bson_t *run(const char *pipeline_json, long count, size_t memory_limit, bool allow_disk_use, bool *used_disk,
                   duet_error_t *error)
{
   char buffer[4096];
   snprintf(buffer, sizeof buffer, "{\"p\": %s}", pipeline_json);
   bson_t *fixture = TEST_JSON(buffer);
   bson_iter_t iter;
   bson_t stages;
   uint32_t length;
   const uint8_t *data;
   assert_true(bson_iter_init_find(&iter, fixture, "p"));
   bson_iter_array(&iter, &length, &data);
   bson_init_static(&stages, data, length);
   duet_pipeline_options_t options = {NULL, allow_disk_use, memory_limit, NULL};
   duet_pipeline_t *pipeline;
   bson_t *result = NULL;
   if (duet_pipeline_parse(&stages, &options, &pipeline, error)) {
      generated_t source = {count, 0, NULL};
      duet_pipeline_cursor_t *cursor = duet_pipeline_open(pipeline, generated_next, &source, NULL);
      result = bson_new();
      bson_t array;
      bson_append_array_begin(result, "r", 1, &array);
      uint32_t index = 0;
      const bson_t *out;
      bool ok;
      while ((ok = duet_pipeline_next(cursor, &out, error)) && out) {
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_append_document(&array, key, (int)key_length, out);
      }
      bson_append_array_end(result, &array);
      if (!ok) {
         bson_destroy(result);
         result = NULL;
      }
      *used_disk = duet_pipeline_used_disk(cursor);
      duet_pipeline_close(cursor);
      duet_pipeline_destroy(pipeline);
      if (source.current) {
         bson_destroy(source.current);
      }
   }
   bson_destroy(fixture);
   return result;
}

/* The pipeline gives the same documents spilled (small limit) as in memory, and did spill. */
static void expect_same_spilled(const char *pipeline_json, long count, size_t small_limit)
{
   duet_error_t error = DUET_ERROR_INIT;
   bool used_disk = true;
   bson_t *in_memory = run(pipeline_json, count, 0, false, &used_disk, &error);
   if (!in_memory) {
      fail_msg("%s in memory: %d %s", pipeline_json, error.code, error.message);
   }
   assert_false(used_disk);
   bson_t *spilled = run(pipeline_json, count, small_limit, true, &used_disk, &error);
   if (!spilled) {
      fail_msg("%s spilled: %d %s", pipeline_json, error.code, error.message);
   }
   assert_true(used_disk);
   char *expected = bson_as_canonical_extended_json(in_memory, NULL);
   ASSERT_JSON_EQ(spilled, expected);
   bson_free(expected);
   /* and something came out */
   bson_iter_t iter, element;
   assert_true(bson_iter_init_find(&iter, spilled, "r"));
   bson_iter_recurse(&iter, &element);
   assert_true(bson_iter_next(&element));
   bson_destroy(in_memory);
   bson_destroy(spilled);
}

static void expect_limit_error(const char *pipeline_json, long count, size_t limit, const char *message)
{
   duet_error_t error = DUET_ERROR_INIT;
   bool used_disk = false;
   bson_t *result = run(pipeline_json, count, limit, false, &used_disk, &error);
   if (result) {
      bson_destroy(result);
      fail_msg("%s: expected 292", pipeline_json);
   }
   assert_int_equal(error.code, 292);
   assert_string_equal(error.message, message);
   assert_false(used_disk);
   duet_error_clear(&error);
}

static void test_sort_spills(void **state)
{
   (void)state;
   /* ties keep arrival order across spills (stable), arrays sort by min/max, missing as null */
   expect_same_spilled("[{\"$sort\": {\"k\": 1}}, {\"$project\": {\"pad\": 0}}]", 5000, 16 * 1024);
   expect_same_spilled("[{\"$sort\": {\"k\": -1}}, {\"$project\": {\"_id\": 1}}]", 5000, 16 * 1024);
   expect_same_spilled("[{\"$sort\": {\"small\": -1, \"k\": 1, \"_id\": -1}}, {\"$project\": {\"_id\": 1}}]", 4000,
                       8 * 1024);
   /* a limit much smaller than one run of documents: every document spills */
   expect_same_spilled("[{\"$sort\": {\"small\": 1}}, {\"$project\": {\"_id\": 1}}]", 500, 1);
   /* the stages around a spilled sort keep working */
   expect_same_spilled("[{\"$match\": {\"small\": {\"$ne\": 2}}}, {\"$sort\": {\"v\": 1}}, {\"$skip\": 10}, "
                       "{\"$limit\": 1000}, {\"$project\": {\"v\": 1}}]",
                       5000, 16 * 1024);
}

static void test_sort_limit_without_disk(void **state)
{
   (void)state;
   expect_limit_error("[{\"$sort\": {\"k\": 1}}]", 1000, 16 * 1024,
                      "Sort exceeded memory limit of 16384 bytes, but did not opt in to external sorting.");
}

static void test_group_spills(void **state)
{
   (void)state;
   /* every accumulator merged across spills; the $sort orders the groups alike */
   expect_same_spilled("[{\"$group\": {\"_id\": \"$g\", \"count\": {\"$count\": {}}, \"sum\": {\"$sum\": \"$v\"}, "
                       "\"avg\": {\"$avg\": \"$v\"}, \"min\": {\"$min\": \"$k\"}, \"max\": {\"$max\": \"$k\"}, "
                       "\"first\": {\"$first\": \"$k\"}, \"last\": {\"$last\": \"$k\"}, "
                       "\"ints\": {\"$sum\": \"$n\"}, \"big\": {\"$sum\": \"$big\"}, "
                       "\"pushed\": {\"$push\": \"$small\"}, \"set\": {\"$addToSet\": \"$k\"}}}, "
                       "{\"$sort\": {\"_id\": 1}}]",
                       6000, 4 * 1024);
   /* one group: its partial states come from every spill */
   expect_same_spilled("[{\"$group\": {\"_id\": null, \"n\": {\"$sum\": 1}, \"avg\": {\"$avg\": \"$n\"}, "
                       "\"first\": {\"$first\": \"$_id\"}, \"last\": {\"$last\": \"$_id\"}, "
                       "\"set\": {\"$addToSet\": \"$small\"}}}]",
                       3000, 1);
   /* a spilled $group emits its groups in key order; $sum over ints stays an int */
   duet_error_t error = DUET_ERROR_INIT;
   bool used_disk = false;
   bson_t *result =
       run("[{\"$group\": {\"_id\": \"$small\", \"n\": {\"$sum\": 1}}}]", 4000, 1, true, &used_disk, &error);
   assert_non_null(result);
   assert_true(used_disk);
   ASSERT_JSON_EQ(result, "{\"r\": [{\"_id\": 0, \"n\": 1000}, {\"_id\": 1, \"n\": 1000}, {\"_id\": 2, \"n\": 1000}, "
                          "{\"_id\": 3, \"n\": 1000}]}");
   bson_destroy(result);
}

static void test_group_limit_without_disk(void **state)
{
   (void)state;
   expect_limit_error("[{\"$group\": {\"_id\": \"$_id\"}}]", 1000, 4 * 1024,
                      "Exceeded memory limit for $group, but didn't allow external sort. Pass allowDiskUse:true to "
                      "opt in.");
}

/* $sort's {$meta: ...} keys: MongoDB's parse errors; valid ones are refused (no metadata here) */
static void expect_parse_error(const char *pipeline_json, int code, const char *message)
{
   duet_error_t error = DUET_ERROR_INIT;
   bool used_disk = false;
   bson_t *result = run(pipeline_json, 1, 0, false, &used_disk, &error);
   if (result) {
      bson_destroy(result);
      fail_msg("%s: expected %d", pipeline_json, code);
   }
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: expected %d '%s', got %d '%s'", pipeline_json, code, message, error.code, error.message);
   }
   duet_error_clear(&error);
}

static void test_sort_meta(void **state)
{
   (void)state;
   expect_parse_error("[{\"$sort\": {\"a\": {\"$unknown\": \"textScore\"}}}]", 17312,
                      "$meta is the only expression supported by $sort right now");
   expect_parse_error("[{\"$sort\": {\"a\": {\"$meta\": \"textScore\", \"extra\": 1}}}]", 9,
                      "Cannot have additional keys in a $meta sort specification");
   expect_parse_error("[{\"$sort\": {\"a\": {\"$meta\": \"foo\"}}}]", 31138, "Illegal $meta sort: $meta: \"foo\"");
   expect_parse_error("[{\"$sort\": {\"a\": {\"$meta\": \"textScore\"}}}]", 115,
                      "$sort by {$meta: \"textScore\"} is not supported by duet (no $text, $search or $geoNear "
                      "metadata)");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_sort_spills),  cmocka_unit_test(test_sort_limit_without_disk),
       cmocka_unit_test(test_group_spills), cmocka_unit_test(test_group_limit_without_disk),
       cmocka_unit_test(test_sort_meta),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
