/*
 * test_pipeline_lookup.c — the $lookup stage over in-memory collections served through
 * duet_pipeline_storage_t: equality form (array and missing local values, arrays in foreign
 * documents, regular expressions), pipeline form with let, the 5.0 combined form, collectionless
 * $lookup over $documents, nested $lookup with outer variables, `as` overwriting, parse errors
 * with MongoDB's codes, $out/$merge refused inside, storage errors and scan lifetimes.
 * Examples follow MongoDB's $lookup documentation.  Fixtures use ' for " in JSON.
 */
#include "duet_test.h"

#include <duet/mql_pipeline.h>

/* ---- in-memory storage ------------------------------------------------------------------ */

typedef struct memory_collection {
   const char *name;
   bson_t *docs; /* {"d": [...]} */
} memory_collection_t;

typedef struct memory_storage {
   memory_collection_t collections[4];
   size_t count;
   int opens;           /* scans opened */
   int closes;          /* scans closed */
   int fail_at_open;    /* nth open (1-based) fails; 0 never */
   bson_t *last_filter; /* copy of the last filter hint, or NULL */
} memory_storage_t;

typedef struct memory_scan {
   memory_storage_t *storage;
   bson_iter_t iter; /* over the collection's array, or invalid when empty */
   bool active;
   bson_t current;
} memory_scan_t;

/* JSON with ' for ". */
static bson_t *json(const char *text)
{
   char *copy = bson_strdup(text);
   for (char *p = copy; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   bson_t *doc = TEST_JSON(copy);
   bson_free(copy);
   return doc;
}

static bool memory_open(void *context, const char *coll, const bson_t *filter, void **scan, duet_error_t *error)
{
   memory_storage_t *storage = context;
   storage->opens++;
   if (storage->fail_at_open == storage->opens) {
      duet_error_set(error, 20, "injected failure opening %s", coll);
      return false;
   }
   if (storage->last_filter) {
      bson_destroy(storage->last_filter);
      storage->last_filter = NULL;
   }
   if (filter) {
      storage->last_filter = bson_copy(filter);
   }
   memory_scan_t *s = bson_aligned_alloc0(BSON_ALIGNOF(memory_scan_t), sizeof *s);
   s->storage = storage;
   for (size_t i = 0; i < storage->count; i++) {
      if (strcmp(storage->collections[i].name, coll) == 0) {
         bson_iter_t top;
         bson_iter_init_find(&top, storage->collections[i].docs, "d");
         bson_iter_recurse(&top, &s->iter);
         s->active = true;
      }
   }
   *scan = s;
   return true;
}

static bool memory_next(void *scan, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   memory_scan_t *s = scan;
   if (!s->active || !bson_iter_next(&s->iter)) {
      *doc = NULL;
      return true;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&s->iter, &length, &data);
   bson_init_static(&s->current, data, length);
   *doc = &s->current;
   return true;
}

static void memory_close(void *scan)
{
   memory_scan_t *s = scan;
   s->storage->closes++;
   bson_free(s);
}

static void storage_add(memory_storage_t *storage, const char *name, const char *docs_json)
{
   char buffer[8192];
   snprintf(buffer, sizeof buffer, "{'d': %s}", docs_json);
   storage->collections[storage->count].name = name;
   storage->collections[storage->count].docs = json(buffer);
   storage->count++;
}

static void storage_clear(memory_storage_t *storage)
{
   for (size_t i = 0; i < storage->count; i++) {
      bson_destroy(storage->collections[i].docs);
   }
   if (storage->last_filter) {
      bson_destroy(storage->last_filter);
   }
   memset(storage, 0, sizeof *storage);
}

/* ---- running pipelines ------------------------------------------------------------------- */

typedef struct array_source {
   bson_iter_t iter;
   bson_t current;
} array_source_t;

static bool array_next(void *context, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   array_source_t *source = context;
   if (!bson_iter_next(&source->iter)) {
      *doc = NULL;
      return true;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&source->iter, &length, &data);
   bson_init_static(&source->current, data, length);
   *doc = &source->current;
   return true;
}

/* Runs `pipeline_json` over `input_json` with `storage` (may be NULL); {"r": [...]} or NULL. */
static bson_t *run(memory_storage_t *storage, const char *input_json, const char *pipeline_json, duet_error_t *error)
{
   char buffer[8192];
   snprintf(buffer, sizeof buffer, "{'p': %s, 'd': %s}", pipeline_json, input_json);
   bson_t *fixture = json(buffer);
   bson_iter_t iter;
   bson_t pipeline_array;
   uint32_t length;
   const uint8_t *data;
   assert_true(bson_iter_init_find(&iter, fixture, "p"));
   bson_iter_array(&iter, &length, &data);
   bson_init_static(&pipeline_array, data, length);
   duet_pipeline_storage_t callbacks = {storage, memory_open, memory_next, memory_close};
   duet_pipeline_options_t options = {NULL, false, 0, storage ? &callbacks : NULL};
   duet_pipeline_t *pipeline = NULL;
   bson_t *result = NULL;
   if (duet_pipeline_parse(&pipeline_array, &options, &pipeline, error)) {
      array_source_t *source = bson_aligned_alloc0(BSON_ALIGNOF(array_source_t), sizeof *source);
      bson_iter_init_find(&iter, fixture, "d");
      bson_iter_recurse(&iter, &source->iter);
      duet_expr_env_t env = DUET_EXPR_ENV_INIT;
      duet_pipeline_cursor_t *cursor = duet_pipeline_open(pipeline, array_next, source, &env);
      result = bson_new();
      bson_t array;
      bson_append_array_begin(result, "r", 1, &array);
      uint32_t index = 0;
      for (;;) {
         const bson_t *out;
         if (!duet_pipeline_next(cursor, &out, error)) {
            bson_append_array_end(result, &array);
            bson_destroy(result);
            result = NULL;
            break;
         }
         if (!out) {
            bson_append_array_end(result, &array);
            break;
         }
         char key_buffer[16];
         const char *key;
         size_t key_length = bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_append_document(&array, key, (int)key_length, out);
      }
      duet_pipeline_close(cursor);
      duet_pipeline_destroy(pipeline);
      bson_free(source);
   }
   bson_destroy(fixture);
   return result;
}

static void expect_output(memory_storage_t *storage, const char *input_json, const char *pipeline_json,
                          const char *expected_json)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result = run(storage, input_json, pipeline_json, &error);
   if (!result) {
      fail_msg("%s: unexpected error %d '%s'", pipeline_json, error.code, error.message);
   }
   char buffer[8192];
   snprintf(buffer, sizeof buffer, "{'r': %s}", expected_json);
   bson_t *expected = json(buffer);
   char *expected_text = bson_as_canonical_extended_json(expected, NULL);
   ASSERT_JSON_EQ(result, expected_text);
   bson_free(expected_text);
   bson_destroy(expected);
   bson_destroy(result);
   if (storage) {
      assert_int_equal(storage->opens, storage->closes);
   }
}

static void expect_error(memory_storage_t *storage, const char *input_json, const char *pipeline_json, int code,
                         const char *message)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result = run(storage, input_json, pipeline_json, &error);
   if (result) {
      bson_destroy(result);
      fail_msg("%s: expected error %d", pipeline_json, code);
   }
   if (error.code != code || strcmp(error.message, message) != 0) {
      fail_msg("%s: expected %d '%s', got %d '%s'", pipeline_json, code, message, error.code, error.message);
   }
   duet_error_clear(&error);
   if (storage) {
      assert_int_equal(storage->opens - (storage->fail_at_open ? 1 : 0), storage->closes);
   }
}

/* ---- equality form ----------------------------------------------------------------------- */

#define ORDERS                                                                                                         \
   "[{'_id': 1, 'item': 'almonds', 'price': 12, 'quantity': 2}, "                                                      \
   "{'_id': 2, 'item': 'pecans', 'price': 20, 'quantity': 1}, {'_id': 3}]"
#define INVENTORY                                                                                                      \
   "[{'_id': 1, 'sku': 'almonds', 'description': 'product 1', 'instock': 120}, "                                       \
   "{'_id': 2, 'sku': 'bread', 'description': 'product 2', 'instock': 80}, "                                           \
   "{'_id': 3, 'sku': 'cashews', 'description': 'product 3', 'instock': 60}, "                                         \
   "{'_id': 4, 'sku': 'pecans', 'description': 'product 4', 'instock': 70}, "                                          \
   "{'_id': 5, 'sku': null, 'description': 'Incomplete'}, {'_id': 6}]"

static void test_equality_docs_example(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "inventory", INVENTORY);
   /* the order without an item joins the inventory entries whose sku is null or missing */
   expect_output(&storage, ORDERS,
                 "[{'$lookup': {'from': 'inventory', 'localField': 'item', 'foreignField': 'sku', "
                 "'as': 'inventory_docs'}}]",
                 "[{'_id': 1, 'item': 'almonds', 'price': 12, 'quantity': 2, 'inventory_docs': "
                 "[{'_id': 1, 'sku': 'almonds', 'description': 'product 1', 'instock': 120}]}, "
                 "{'_id': 2, 'item': 'pecans', 'price': 20, 'quantity': 1, 'inventory_docs': "
                 "[{'_id': 4, 'sku': 'pecans', 'description': 'product 4', 'instock': 70}]}, "
                 "{'_id': 3, 'inventory_docs': [{'_id': 5, 'sku': null, 'description': 'Incomplete'}, {'_id': 6}]}]");
   assert_int_equal(storage.opens, 3);
   /* the filter handed to the storage as a hint */
   ASSERT_JSON_EQ(storage.last_filter, "{\"sku\": {\"$eq\": null}}");
   /* a collection that does not exist joins nothing */
   expect_output(&storage, "[{'_id': 1, 'a': 1}]",
                 "[{'$lookup': {'from': 'nothing', 'localField': 'a', 'foreignField': 'b', 'as': 'x'}}]",
                 "[{'_id': 1, 'a': 1, 'x': []}]");
   storage_clear(&storage);
}

static void test_equality_arrays(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "members",
               "[{'_id': 1, 'name': 'artie', 'joined': 1}, {'_id': 2, 'name': 'giraffe'}, "
               "{'_id': 3, 'name': 'giraffe1'}, {'_id': 4, 'name': 'panda'}, {'_id': 5, 'name': 'pandabear'}, "
               "{'_id': 6, 'name': 'giraffe2'}]");
   /* an array localField matches any of its elements; results keep the foreign order */
   expect_output(&storage, "[{'_id': 1, 'enrollmentlist': ['giraffe2', 'pandabear', 'artie']}]",
                 "[{'$lookup': {'from': 'members', 'localField': 'enrollmentlist', 'foreignField': 'name', "
                 "'as': 'enrollee_info'}}, {'$project': {'enrollee_info._id': 1}}]",
                 "[{'_id': 1, 'enrollee_info': [{'_id': 1}, {'_id': 5}, {'_id': 6}]}]");
   ASSERT_JSON_EQ(storage.last_filter, "{\"name\": {\"$in\": [\"giraffe2\", \"pandabear\", \"artie\"]}}");
   /* an empty local array is no value: it joins null/missing foreign fields */
   expect_output(&storage, "[{'_id': 1, 'l': []}]",
                 "[{'$lookup': {'from': 'members', 'localField': 'l', 'foreignField': 'joined', 'as': 'j'}}, "
                 "{'$project': {'n': {'$size': '$j'}}}]",
                 "[{'_id': 1, 'n': 5}]");
   storage_clear(&storage);

   /* an array in the foreign document matches when it holds the local value; dotted paths
    * through arrays on both sides */
   storage_add(&storage, "f",
               "[{'_id': 1, 'tags': ['a', 'b']}, {'_id': 2, 'tags': 'b'}, {'_id': 3, 'tags': [['b']]}, "
               "{'_id': 4, 'sub': [{'k': 'b'}, {'k': 'c'}]}]");
   expect_output(&storage, "[{'_id': 0, 't': 'b'}]",
                 "[{'$lookup': {'from': 'f', 'localField': 't', 'foreignField': 'tags', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 1}, {'_id': 2}]}]");
   expect_output(&storage, "[{'_id': 0, 'x': [{'y': 'c'}, {'y': 'zz'}, 5]}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'x.y', 'foreignField': 'sub.k', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 4}]}]");
   /* a whole array value as an element of the local array matches an equal foreign array */
   expect_output(&storage, "[{'_id': 0, 't': [['b'], 'zz']}]",
                 "[{'$lookup': {'from': 'f', 'localField': 't', 'foreignField': 'tags', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 3}]}]");
   storage_clear(&storage);
}

static void test_equality_values(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "f",
               "[{'_id': 1, 'v': 1}, {'_id': 2, 'v': {'$numberLong': '1'}}, {'_id': 3, 'v': 1.0}, "
               "{'_id': 4, 'v': '1'}, {'_id': 5, 'v': {'$regularExpression': {'pattern': '^a', 'options': ''}}}, "
               "{'_id': 6, 'v': 'abc'}, {'_id': 7, 'v': null}]");
   /* numbers join across types, strings do not */
   expect_output(&storage, "[{'_id': 0, 'v': {'$numberDecimal': '1.00'}}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'v', 'foreignField': 'v', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 1}, {'_id': 2}, {'_id': 3}]}]");
   /* a regex among several local values compares as a value, not as a pattern */
   expect_output(&storage, "[{'_id': 0, 'v': [{'$regularExpression': {'pattern': '^a', 'options': ''}}, '1']}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'v', 'foreignField': 'v', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 4}, {'_id': 5}]}]");
   assert_non_null(storage.last_filter);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, storage.last_filter, "$or"));
   /* a null local value joins null and missing */
   expect_output(&storage, "[{'_id': 0, 'v': null}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'v', 'foreignField': 'v', 'as': 'm'}}, "
                 "{'$project': {'m._id': 1}}]",
                 "[{'_id': 0, 'm': [{'_id': 7}]}]");
   storage_clear(&storage);
}

static void test_as_paths(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "f", "[{'_id': 1, 'k': 1}]");
   /* `as` replaces an existing field in place */
   expect_output(&storage, "[{'_id': 0, 'out': 'old', 'k': 1, 'z': 2}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'k', 'foreignField': 'k', 'as': 'out'}}]",
                 "[{'_id': 0, 'out': [{'_id': 1, 'k': 1}], 'k': 1, 'z': 2}]");
   /* `as` may be the local field itself */
   expect_output(&storage, "[{'_id': 0, 'k': 1}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'k', 'foreignField': 'k', 'as': 'k'}}]",
                 "[{'_id': 0, 'k': [{'_id': 1, 'k': 1}]}]");
   /* dotted: into an existing document, over a scalar, over an array, or created */
   expect_output(&storage,
                 "[{'_id': 0, 'k': 1, 'a': {'b': 1, 'c': 2}}, {'_id': 1, 'k': 1, 'a': 5}, "
                 "{'_id': 2, 'k': 1, 'a': [1, 2]}, {'_id': 3, 'k': 1}]",
                 "[{'$lookup': {'from': 'f', 'localField': 'k', 'foreignField': 'k', 'as': 'a.b'}}, "
                 "{'$project': {'a.b._id': 1, 'a.c': 1}}]",
                 "[{'_id': 0, 'a': {'b': [{'_id': 1}], 'c': 2}}, {'_id': 1, 'a': {'b': [{'_id': 1}]}}, "
                 "{'_id': 2, 'a': {'b': [{'_id': 1}]}}, {'_id': 3, 'a': {'b': [{'_id': 1}]}}]");
   storage_clear(&storage);
}

/* ---- pipeline forms ---------------------------------------------------------------------- */

static void test_pipeline_let(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "warehouses",
               "[{'_id': 1, 'stock_item': 'almonds', 'warehouse': 'A', 'instock': 120}, "
               "{'_id': 2, 'stock_item': 'pecans', 'warehouse': 'A', 'instock': 80}, "
               "{'_id': 3, 'stock_item': 'almonds', 'warehouse': 'B', 'instock': 60}, "
               "{'_id': 4, 'stock_item': 'cookies', 'warehouse': 'B', 'instock': 40}, "
               "{'_id': 5, 'stock_item': 'cookies', 'warehouse': 'A', 'instock': 80}]");
   expect_output(&storage,
                 "[{'_id': 1, 'item': 'almonds', 'price': 12, 'ordered': 2}, "
                 "{'_id': 2, 'item': 'pecans', 'price': 20, 'ordered': 1}, "
                 "{'_id': 3, 'item': 'cookies', 'price': 10, 'ordered': 60}]",
                 "[{'$lookup': {'from': 'warehouses', 'let': {'order_item': '$item', 'order_qty': '$ordered'}, "
                 "'pipeline': [{'$match': {'$expr': {'$and': [{'$eq': ['$stock_item', '$$order_item']}, "
                 "{'$gte': ['$instock', '$$order_qty']}]}}}, {'$project': {'stock_item': 0, '_id': 0}}], "
                 "'as': 'stockdata'}}]",
                 "[{'_id': 1, 'item': 'almonds', 'price': 12, 'ordered': 2, 'stockdata': "
                 "[{'warehouse': 'A', 'instock': 120}, {'warehouse': 'B', 'instock': 60}]}, "
                 "{'_id': 2, 'item': 'pecans', 'price': 20, 'ordered': 1, 'stockdata': "
                 "[{'warehouse': 'A', 'instock': 80}]}, "
                 "{'_id': 3, 'item': 'cookies', 'price': 10, 'ordered': 60, 'stockdata': "
                 "[{'warehouse': 'A', 'instock': 80}]}]");
   assert_null(storage.last_filter); /* no equality join: no hint */
   /* an uncorrelated sub-pipeline with $group/$sort, and let variables in other stages */
   expect_output(&storage, "[{'_id': 'x', 'min': 70}]",
                 "[{'$lookup': {'from': 'warehouses', 'let': {'m': '$min'}, 'pipeline': ["
                 "{'$match': {'$expr': {'$gte': ['$instock', '$$m']}}}, "
                 "{'$group': {'_id': '$warehouse', 'n': {'$sum': 1}}}, {'$sort': {'_id': -1}}, "
                 "{'$addFields': {'min': '$$m'}}], 'as': 'w'}}]",
                 "[{'_id': 'x', 'min': 70, 'w': [{'_id': 'A', 'n': 3, 'min': 70}]}]");
   /* a let variable evaluating to missing reads as missing */
   expect_output(&storage, "[{'_id': 0}]",
                 "[{'$lookup': {'from': 'warehouses', 'let': {'v': '$nope'}, 'pipeline': [{'$limit': 1}, "
                 "{'$project': {'_id': 0, 't': {'$type': '$$v'}}}], 'as': 'r'}}]",
                 "[{'_id': 0, 'r': [{'t': 'missing'}]}]");
   storage_clear(&storage);
}

static void test_combined_form(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "restaurants",
               "[{'_id': 1, 'name': 'American Steak House', 'food': ['filet', 'sirloin'], "
               "'beverages': ['beer', 'wine']}, "
               "{'_id': 2, 'name': 'Honest John Pizza', 'food': ['cheese pizza', 'pepperoni pizza'], "
               "'beverages': ['soda']}]");
   expect_output(&storage,
                 "[{'_id': 1, 'item': 'filet', 'restaurant_name': 'American Steak House'}, "
                 "{'_id': 2, 'item': 'cheese pizza', 'restaurant_name': 'Honest John Pizza', 'drink': 'lemonade'}, "
                 "{'_id': 3, 'item': 'cheese pizza', 'restaurant_name': 'Honest John Pizza', 'drink': 'soda'}]",
                 "[{'$lookup': {'from': 'restaurants', 'localField': 'restaurant_name', 'foreignField': 'name', "
                 "'let': {'orders_drink': '$drink'}, "
                 "'pipeline': [{'$match': {'$expr': {'$in': ['$$orders_drink', '$beverages']}}}], "
                 "'as': 'matches'}}]",
                 "[{'_id': 1, 'item': 'filet', 'restaurant_name': 'American Steak House', 'matches': []}, "
                 "{'_id': 2, 'item': 'cheese pizza', 'restaurant_name': 'Honest John Pizza', 'drink': 'lemonade', "
                 "'matches': []}, "
                 "{'_id': 3, 'item': 'cheese pizza', 'restaurant_name': 'Honest John Pizza', 'drink': 'soda', "
                 "'matches': [{'_id': 2, 'name': 'Honest John Pizza', 'food': ['cheese pizza', 'pepperoni pizza'], "
                 "'beverages': ['soda']}]}]");
   ASSERT_JSON_EQ(storage.last_filter, "{\"name\": {\"$eq\": \"Honest John Pizza\"}}");
   storage_clear(&storage);
}

static void test_documents_and_nesting(void **state)
{
   (void)state;
   /* collectionless: the sub-pipeline's $documents stands for the collection, and the equality
    * join applies to its output; no storage is needed */
   expect_output(NULL, "[{'_id': 1, 'zip': 94301}, {'_id': 2, 'zip': 1}]",
                 "[{'$lookup': {'localField': 'zip', 'foreignField': 'zip_id', 'as': 'city_state', "
                 "'pipeline': [{'$documents': [{'zip_id': 94301, 'name': 'Palo Alto, CA'}, "
                 "{'zip_id': 10019, 'name': 'New York, NY'}]}]}}]",
                 "[{'_id': 1, 'zip': 94301, 'city_state': [{'zip_id': 94301, 'name': 'Palo Alto, CA'}]}, "
                 "{'_id': 2, 'zip': 1, 'city_state': []}]");
   /* $documents then more stages, with let */
   expect_output(NULL, "[{'_id': 1, 'n': 2}]",
                 "[{'$lookup': {'let': {'n': '$n'}, 'as': 'r', 'pipeline': [{'$documents': [{'x': 1}, {'x': 2}, "
                 "{'x': 3}]}, {'$match': {'$expr': {'$gte': ['$x', '$$n']}}}]}}]",
                 "[{'_id': 1, 'n': 2, 'r': [{'x': 2}, {'x': 3}]}]");

   /* $lookup inside $lookup; the inner pipeline sees the outer let variables */
   memory_storage_t storage = {0};
   storage_add(&storage, "modules",
               "[{'_id': 10, 'courseId': 1}, {'_id': 11, 'courseId': 1}, {'_id': 12, 'courseId': 2}]");
   storage_add(&storage, "lessons",
               "[{'_id': 100, 'moduleId': 10, 'level': 1}, {'_id': 101, 'moduleId': 10, 'level': 2}, "
               "{'_id': 102, 'moduleId': 11, 'level': 1}, {'_id': 103, 'moduleId': 12, 'level': 1}]");
   expect_output(&storage, "[{'_id': 1, 'level': 1}, {'_id': 3, 'level': 1}]",
                 "[{'$lookup': {'from': 'modules', 'let': {'courseId': '$_id', 'level': '$level'}, 'pipeline': ["
                 "{'$match': {'$expr': {'$eq': ['$courseId', '$$courseId']}}}, "
                 "{'$lookup': {'from': 'lessons', 'let': {'moduleId': '$_id'}, 'pipeline': ["
                 "{'$match': {'$expr': {'$and': [{'$eq': ['$moduleId', '$$moduleId']}, "
                 "{'$eq': ['$level', '$$level']}]}}}, {'$project': {'_id': 1}}], 'as': 'lessons'}}], "
                 "'as': 'modules'}}]",
                 "[{'_id': 1, 'level': 1, 'modules': [{'_id': 10, 'courseId': 1, 'lessons': [{'_id': 100}]}, "
                 "{'_id': 11, 'courseId': 1, 'lessons': [{'_id': 102}]}]}, {'_id': 3, 'level': 1, 'modules': []}]");
   /* 2 outer scans of modules, 2 inner scans of lessons for the two modules of course 1 */
   assert_int_equal(storage.opens, 4);
   /* equality form nested in a pipeline, followed by $unwind and $group */
   expect_output(&storage, "[{'_id': 1}]",
                 "[{'$lookup': {'from': 'modules', 'localField': '_id', 'foreignField': 'courseId', 'as': 'm'}}, "
                 "{'$unwind': '$m'}, {'$lookup': {'from': 'lessons', 'localField': 'm._id', 'foreignField': "
                 "'moduleId', 'as': 'l'}}, {'$group': {'_id': '$_id', 'lessons': {'$sum': {'$size': '$l'}}}}]",
                 "[{'_id': 1, 'lessons': 3}]");
   storage_clear(&storage);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_parse_errors(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "f", "[{'_id': 1}]");
   const char *in = "[{'_id': 1}]";
   expect_error(&storage, in, "[{'$lookup': 1}]", 9,
                "the $lookup stage specification must be an object, but found int");
   expect_error(&storage, in, "[{'$lookup': {'localField': 'a', 'foreignField': 'b', 'as': 'c'}}]", 9,
                "must specify 'pipeline' when 'from' is empty");
   expect_error(&storage, in, "[{'$lookup': {'pipeline': [{'$match': {}}], 'as': 'c'}}]", 9,
                "$lookup stage without explicit collection must have a pipeline with $documents as first stage");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': {}, 'as': 'c'}}]", 14,
                "'pipeline' option must be specified as an array");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [1], 'as': 'c'}}]", 14,
                "Each element of the 'pipeline' array must be an object");
   expect_error(&storage, in, "[{'$lookup': {'from': 1, 'localField': 'a', 'foreignField': 'b', 'as': 'c'}}]", 9,
                "$lookup 'from' field must be a string, but found int");
   expect_error(&storage, in,
                "[{'$lookup': {'from': {'db': 'x', 'coll': 'y'}, 'localField': 'a', 'foreignField': 'b', 'as': 'c'}}]",
                9, "$lookup with syntax {from: {db:<>, coll:<>},..} is not supported for db: x and coll: y");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 1, 'foreignField': 'b', 'as': 'c'}}]", 9,
                "$lookup argument 'localField' must be a string, found localField: 1: int");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [], 'let': 1, 'as': 'c'}}]", 9,
                "$lookup argument 'let: 1' must be an object, is type int");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'foo': 'x', 'as': 'c'}}]", 9,
                "unknown argument to $lookup: foo");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b'}}]", 9,
                "must specify 'as' field for a $lookup");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b', 'as': ''}}]", 9,
                "must specify 'as' field for a $lookup");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'as': 'c'}}]", 9,
                "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'pipeline': [], 'as': 'c'}}]", 9,
                "$lookup requires both or neither of 'localField' and 'foreignField' to be specified");
   expect_error(&storage, in,
                "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b', 'let': {'x': 1}, 'as': 'c'}}]", 9,
                "$lookup with a 'let' argument must also specify 'pipeline'");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b', 'as': '$c'}}]", 16410,
                "FieldPath field names may not start with '$'. Consider using $getField or $setField.");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a..b', 'foreignField': 'b', 'as': 'c'}}]",
                15998, "FieldPath field names may not be empty strings.");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b.', 'as': 'c'}}]", 40353,
                "FieldPath must not end with a '.'.");
   /* let names and sub-pipeline variables */
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [], 'let': {'Bad': 1}, 'as': 'c'}}]", 16867,
                "'Bad' starts with an invalid character for a user variable name");
   expect_error(&storage, in,
                "[{'$lookup': {'from': 'f', 'pipeline': [{'$match': {'$expr': '$$nope'}}], 'let': {'x': 1}, "
                "'as': 'c'}}]",
                17276, "Use of undefined variable: nope");
   /* a let expression sees only the enclosing variables, not its siblings */
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [], 'let': {'x': 1, 'y': '$$x'}, 'as': 'c'}}]",
                17276, "Use of undefined variable: x");
   /* sub-pipeline stage errors surface as they are */
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [{'$bogus': 1}], 'as': 'c'}}]", 40324,
                "Unrecognized pipeline stage name: '$bogus'");
   storage_clear(&storage);
}

static void test_out_merge_refused(void **state)
{
   (void)state;
   memory_storage_t storage = {0};
   storage_add(&storage, "f", "[{'_id': 1}]");
   const char *in = "[{'_id': 1}]";
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [{'$out': 'x'}], 'as': 'c'}}]", 51047,
                "$out is not allowed within a $lookup's sub-pipeline");
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [{'$merge': {'into': 'x'}}], 'as': 'c'}}]", 51047,
                "$merge is not allowed within a $lookup's sub-pipeline");
   expect_error(&storage, in,
                "[{'$lookup': {'from': 'f', 'pipeline': [{'$out': 'x'}, {'$match': {'x': true}}], 'as': 'c'}}]", 40601,
                "$out can only be the final stage in the pipeline");
   /* nested one level down too */
   expect_error(&storage, in,
                "[{'$lookup': {'from': 'f', 'pipeline': [{'$lookup': {'from': 'f', 'pipeline': [{'$out': 'x'}], "
                "'as': 'd'}}], 'as': 'c'}}]",
                51047, "$out is not allowed within a $lookup's sub-pipeline");
   /* other stages' errors come first */
   expect_error(&storage, in, "[{'$lookup': {'from': 'f', 'pipeline': [{'$out': 'x'}, {'$limit': 0}], 'as': 'c'}}]",
                15958, "the limit must be positive");
   /* at the top level the store carries out $out/$merge; the pipeline alone refuses them */
   expect_error(&storage, in, "[{'$out': 'x'}]", 115,
                "$out is carried out by the store (duet_store_aggregate), not by duet_pipeline");
   storage_clear(&storage);
}

static void test_storage_errors(void **state)
{
   (void)state;
   /* without storage, a $lookup from a collection is refused when parsed */
   expect_error(NULL, "[{'_id': 1}]", "[{'$lookup': {'from': 'f', 'localField': 'a', 'foreignField': 'b', 'as': 'c'}}]",
                115,
                "$lookup from a collection needs storage (duet_pipeline_options_t.storage), which this caller does not "
                "provide");
   /* an open failure aborts the pipeline with the storage's error; scans opened before are closed */
   memory_storage_t storage = {0};
   storage_add(&storage, "f", "[{'_id': 1, 'k': 1}]");
   storage.fail_at_open = 2;
   expect_error(&storage, "[{'_id': 1, 'k': 1}, {'_id': 2, 'k': 1}]",
                "[{'$lookup': {'from': 'f', 'localField': 'k', 'foreignField': 'k', 'as': 'c'}}]", 20,
                "injected failure opening f");
   assert_int_equal(storage.opens, 2);
   assert_int_equal(storage.closes, 1);
   /* a runtime error inside the sub-pipeline surfaces */
   storage.fail_at_open = 0;
   storage.opens = storage.closes = 0;
   expect_error(&storage, "[{'_id': 1}]",
                "[{'$lookup': {'from': 'f', 'pipeline': [{'$project': {'x': {'$divide': [1, 0]}}}], 'as': 'c'}}]", 2,
                "can't $divide by zero");
   storage_clear(&storage);
}

/* `levels` $lookup stages nested in each other's pipelines, over $documents. */
static void nested_pipeline(int levels, char *buffer, size_t size)
{
   char *inner = bson_strdup("[{'$documents': [{'x': 1}]}]");
   for (int i = 0; i < levels; i++) {
      char *outer = bson_strdup_printf("[{'$documents': [{'x': 1}]}, {'$lookup': {'pipeline': %s, 'as': 'a'}}]", inner);
      bson_free(inner);
      inner = outer;
   }
   assert_true(strlen(inner) < size);
   memcpy(buffer, inner, strlen(inner) + 1);
   bson_free(inner);
}

static void test_nesting_depth(void **state)
{
   (void)state;
   /* MongoDB's limit: 20 nested sub-pipelines work, 21 fail with 232 */
   char pipeline[8192];
   nested_pipeline(20, pipeline, sizeof pipeline);
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *result = run(NULL, "[]", pipeline, &error);
   if (!result) {
      fail_msg("20 levels: %d %s", error.code, error.message);
   }
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, result) && bson_iter_find_descendant(&iter, "r.0.a.0.a.0.a.0.x", &iter));
   bson_destroy(result);
   nested_pipeline(21, pipeline, sizeof pipeline);
   expect_error(NULL, "[]", pipeline, 232, "Maximum number of nested sub-pipelines exceeded. Limit is 20");
   /* $documents only first, in a sub-pipeline too */
   expect_error(NULL, "[{'_id': 1}]",
                "[{'$lookup': {'pipeline': [{'$documents': []}, {'$documents': []}], 'as': 'a'}}]", 40602,
                "$documents is only valid as the first stage in a pipeline");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test(test_equality_docs_example), cmocka_unit_test(test_equality_arrays),
       cmocka_unit_test(test_equality_values),       cmocka_unit_test(test_as_paths),
       cmocka_unit_test(test_pipeline_let),          cmocka_unit_test(test_combined_form),
       cmocka_unit_test(test_documents_and_nesting), cmocka_unit_test(test_parse_errors),
       cmocka_unit_test(test_out_merge_refused),     cmocka_unit_test(test_storage_errors),
       cmocka_unit_test(test_nesting_depth),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
