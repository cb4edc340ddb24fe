/*
 * test_store_merge.c — the $merge stage against MongoDB's all_modes.js cases:
 * source {_id:1,a:1,b:"a"},{_id:2,a:2,b:"b"},{_id:3,a:3,b:"c"} merged into a
 * prepared target under each whenMatched/whenNotMatched combination, plus
 * unsupported combinations, `on` fields, merging into the source itself,
 * whenMatched pipelines with `let`, and $lookup read through the store.
 */
#include "store_test.h"

#include <duet/store_ops.h>

static void reset(duet_session_t *session, const char *coll, const char *const *docs, size_t n)
{
   ASSERT_OK(duet_store_drop_collection(session, "db", coll, NULL, error));
   ASSERT_OK(duet_store_create_collection(session, "db", coll, NULL, error));
   for (size_t i = 0; i < n; i++) {
      store_test_insert_json(session, "db", coll, docs[i]);
   }
}

static void seed_source(duet_session_t *session)
{
   const char *source[] = {"{\"_id\": 1, \"a\": 1, \"b\": \"a\"}", "{\"_id\": 2, \"a\": 2, \"b\": \"b\"}",
                           "{\"_id\": 3, \"a\": 3, \"b\": \"c\"}"};
   reset(session, "source", source, 3);
}

static void assert_contents(duet_session_t *session, const char *coll, const char *expected)
{
   duet_store_cursor_t *cursor;
   ASSERT_OK(duet_store_scan(session, "db", coll, NULL, NULL, false, &cursor, error));
   bson_t all = BSON_INITIALIZER;
   const bson_t *doc;
   int n = 0;
   for (;;) {
      ASSERT_OK(duet_store_cursor_next(cursor, &doc, error));
      if (!doc) {
         break;
      }
      char key[8];
      snprintf(key, sizeof key, "%d", n++);
      BSON_APPEND_DOCUMENT(&all, key, doc);
   }
   duet_store_cursor_destroy(cursor);
   ASSERT_JSON_EQ(&all, expected);
   bson_destroy(&all);
}

/* Runs [{$sort: {_id: 1}}, {$merge: spec}] over db.source; returns the error code (0: success). */
static int32_t run_merge(duet_session_t *session, const char *spec_json, char *message, size_t size)
{
   char json[512];
   snprintf(json, sizeof json, "{\"0\": {\"$sort\": {\"_id\": 1}}, \"1\": {\"$merge\": %s}}", spec_json);
   bson_t *pipeline = TEST_JSON(json);
   duet_store_aggregate_t *aggregate = NULL;
   duet_error_t err = DUET_ERROR_INIT;
   int32_t code = 0;
   if (duet_store_aggregate(session, "db", "source", pipeline, NULL, &aggregate, &err)) {
      const bson_t *doc;
      assert_true(duet_store_aggregate_next(aggregate, &doc, &err));
      assert_null(doc);
      duet_store_aggregate_destroy(aggregate);
   } else {
      code = err.code;
      if (message) {
         snprintf(message, size, "%s", err.message);
      }
   }
   duet_error_clear(&err);
   bson_destroy(pipeline);
   return code;
}

static const char *target_a[] = {"{\"_id\": 1, \"a\": 10}", "{\"_id\": 3, \"a\": 30}", "{\"_id\": 4, \"a\": 40}"};

static void test_replace_modes(void **state)
{
   store_fixture_t *f = *state;
   seed_source(f->session);
   reset(f->session, "t", target_a, 3);
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": \"replace\", \"whenNotMatched\": \"insert\"}", NULL,
                              0),
                    0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 1, \"b\": \"a\"}, \"1\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"},"
                   " \"2\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"}, \"3\": {\"_id\": 4, \"a\": 40}}");
   reset(f->session, "t", target_a, 3);
   char message[256];
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": \"replace\", \"whenNotMatched\": \"fail\"}", message,
                              sizeof message),
                    DUET_ERR_MERGE_STAGE_NO_MATCHING_DOCUMENT);
   assert_string_equal(message, "$merge could not find a matching document in the target collection for at least one "
                                "document in the source collection");
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 1, \"b\": \"a\"}, \"1\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"},"
                   " \"2\": {\"_id\": 4, \"a\": 40}}");
   reset(f->session, "t", target_a, 3);
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": \"replace\", \"whenNotMatched\": \"discard\"}", NULL,
                              0),
                    0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 1, \"b\": \"a\"}, \"1\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"},"
                   " \"2\": {\"_id\": 4, \"a\": 40}}");
}

static void test_merge_keep_and_fail_modes(void **state)
{
   store_fixture_t *f = *state;
   seed_source(f->session);
   const char *target_c[] = {"{\"_id\": 1, \"a\": 10, \"c\": \"z\"}", "{\"_id\": 3, \"a\": 30}",
                             "{\"_id\": 4, \"a\": 40}"};
   reset(f->session, "t", target_c, 3);
   assert_int_equal(run_merge(f->session, "\"t\"", NULL, 0), 0); /* defaults: merge / insert */
   assert_contents(
       f->session, "t",
       "{\"0\": {\"_id\": 1, \"a\": 1, \"c\": \"z\", \"b\": \"a\"}, \"1\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"},"
       " \"2\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"}, \"3\": {\"_id\": 4, \"a\": 40}}");
   reset(f->session, "t", target_a, 3);
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": \"keepExisting\", \"whenNotMatched\": \"insert\"}",
                              NULL, 0),
                    0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 10}, \"1\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"},"
                   " \"2\": {\"_id\": 3, \"a\": 30}, \"3\": {\"_id\": 4, \"a\": 40}}");
   const char *target_f[] = {"{\"_id\": 10, \"a\": 10, \"c\": \"x\"}", "{\"_id\": 3, \"a\": 30, \"c\": \"y\"}",
                             "{\"_id\": 4, \"a\": 40, \"c\": \"z\"}"};
   reset(f->session, "t", target_f, 3);
   char message[512];
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": \"fail\", \"whenNotMatched\": \"insert\"}", message,
                              sizeof message),
                    DUET_ERR_DUPLICATE_KEY);
   assert_string_equal(message, "$merge with whenMatched: fail found an existing document with the same values for the "
                                "'on' fields :: caused by :: E11000 duplicate key error collection: db.t index: _id_ "
                                "dup key: { _id: 3 }");
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 1, \"b\": \"a\"}, \"1\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"},"
                   " \"2\": {\"_id\": 3, \"a\": 30, \"c\": \"y\"}, \"3\": {\"_id\": 4, \"a\": 40, \"c\": \"z\"},"
                   " \"4\": {\"_id\": 10, \"a\": 10, \"c\": \"x\"}}");
   assert_int_equal(run_merge(f->session, "{\"into\": \"t\", \"whenMatched\": \"fail\", \"whenNotMatched\": \"fail\"}",
                              message, sizeof message),
                    51181);
   assert_string_equal(message,
                       "Combination of $merge modes 'whenMatched: fail' and 'whenNotMatched: fail' is not supported");
}

/* whenMatched pipelines (all_modes.js) and let */
static void test_pipeline_modes(void **state)
{
   store_fixture_t *f = *state;
   seed_source(f->session);
   const char *target_b[] = {"{\"_id\": 1, \"b\": 1}"};
   reset(f->session, "t", target_b, 1);
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": [{\"$addFields\": {\"x\": 2}}], "
                              "\"whenNotMatched\": \"insert\"}",
                              NULL, 0),
                    0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"b\": 1, \"x\": 2}, \"1\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"},"
                   " \"2\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"}}");
   const char *target_f[] = {"{\"_id\": 1, \"a\": 10, \"c\": \"x\"}", "{\"_id\": 3, \"a\": 30, \"c\": \"y\"}",
                             "{\"_id\": 4, \"a\": 40, \"c\": \"z\"}"};
   reset(f->session, "t", target_f, 3);
   char message[512];
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"whenMatched\": [{\"$addFields\": {\"x\": 2}}], "
                              "\"whenNotMatched\": \"fail\"}",
                              message, sizeof message),
                    DUET_ERR_MERGE_STAGE_NO_MATCHING_DOCUMENT);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 10, \"c\": \"x\", \"x\": 2}, \"1\": {\"_id\": 3, \"a\": 30, \"c\": "
                   "\"y\", \"x\": 2}, \"2\": {\"_id\": 4, \"a\": 40, \"c\": \"z\"}}");
   /* $$new is the result, let variables are evaluated on it; discard skips the unmatched */
   reset(f->session, "t", target_f, 3);
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"let\": {\"doubled\": {\"$multiply\": [\"$a\", 2]}, \"new\": "
                              "\"$$ROOT\"}, \"whenMatched\": [{\"$set\": {\"a\": {\"$add\": [\"$a\", \"$$new.a\"]}, "
                              "\"d\": \"$$doubled\"}}], \"whenNotMatched\": \"discard\"}",
                              NULL, 0),
                    0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 1, \"a\": 11, \"c\": \"x\", \"d\": 2}, \"1\": {\"_id\": 3, \"a\": 33, \"c\": "
                   "\"y\", \"d\": 6}, \"2\": {\"_id\": 4, \"a\": 40, \"c\": \"z\"}}");
   /* let errors */
   assert_int_equal(
       run_merge(f->session, "{\"into\": \"t\", \"let\": {\"new\": \"$a\"}, \"whenMatched\": [{\"$set\": {\"x\": 1}}]}",
                 message, sizeof message),
       51273);
   assert_string_equal(message, "'let' may not define a value for the reserved 'new' variable other than '$$ROOT'");
   assert_int_equal(run_merge(f->session, "{\"let\": {\"v\": 1}, \"into\": \"t\", \"whenMatched\": \"replace\"}",
                              message, sizeof message),
                    51199);
   assert_string_equal(message, "Cannot use 'let' variables with 'whenMatched: replace' mode");
   assert_int_equal(run_merge(f->session, "{\"into\": \"t\", \"whenMatched\": [{\"$group\": {\"_id\": 1}}]}", NULL, 0),
                    72 /* InvalidOptions: "$group is not allowed to be used within an update" */);
   /* without `new` in let and with discard, $$new is not defined */
   assert_int_equal(run_merge(f->session,
                              "{\"into\": \"t\", \"let\": {\"v\": 1}, \"whenMatched\": [{\"$set\": {\"x\": "
                              "\"$$new\"}}], \"whenNotMatched\": \"discard\"}",
                              NULL, 0),
                    17276);
}

/* $lookup inside the store's aggregate reads the foreign collection of the same database */
static void test_lookup(void **state)
{
   store_fixture_t *f = *state;
   const char *orders[] = {"{\"_id\": 1, \"item\": \"almonds\", \"price\": 12, \"quantity\": 2}",
                           "{\"_id\": 2, \"item\": \"pecans\", \"price\": 20, \"quantity\": 1}", "{\"_id\": 3}"};
   const char *inventory[] = {"{\"_id\": 1, \"sku\": \"almonds\", \"instock\": 120}",
                              "{\"_id\": 2, \"sku\": \"bread\", \"instock\": 80}",
                              "{\"_id\": 3, \"sku\": \"cashews\", \"instock\": 60}",
                              "{\"_id\": 4, \"sku\": \"pecans\", \"instock\": 70}",
                              "{\"_id\": 5, \"sku\": null}",
                              "{\"_id\": 6}"};
   reset(f->session, "orders", orders, 3);
   reset(f->session, "inventory", inventory, 6);
   bson_t *pipeline = TEST_JSON("{\"0\": {\"$lookup\": {\"from\": \"inventory\", \"localField\": \"item\", "
                                "\"foreignField\": \"sku\", \"as\": \"inv\"}}, \"1\": {\"$project\": {\"ids\": "
                                "\"$inv._id\"}}, \"2\": {\"$out\": \"joined\"}}");
   duet_store_aggregate_t *aggregate = NULL;
   ASSERT_OK(duet_store_aggregate(f->session, "db", "orders", pipeline, NULL, &aggregate, error));
   duet_store_aggregate_destroy(aggregate);
   bson_destroy(pipeline);
   assert_contents(f->session, "joined",
                   "{\"0\": {\"_id\": 1, \"ids\": [1]}, \"1\": {\"_id\": 2, \"ids\": [4]}, \"2\": {\"_id\": 3, "
                   "\"ids\": [5, 6]}}");
   /* nested pipeline form, the foreign collection missing in the inner one */
   pipeline = TEST_JSON("{\"0\": {\"$match\": {\"_id\": 1}}, \"1\": {\"$lookup\": {\"from\": \"inventory\", \"let\": "
                        "{\"i\": \"$item\"}, \"pipeline\": [{\"$match\": {\"$expr\": {\"$eq\": [\"$sku\", \"$$i\"]}}}, "
                        "{\"$lookup\": {\"from\": \"nothing\", \"pipeline\": [], \"as\": \"none\"}}, {\"$project\": "
                        "{\"_id\": 0, \"instock\": 1, \"none\": 1}}], \"as\": \"inv\"}}, \"2\": {\"$merge\": "
                        "{\"into\": \"joined\", \"whenMatched\": \"replace\"}}}");
   ASSERT_OK(duet_store_aggregate(f->session, "db", "orders", pipeline, NULL, &aggregate, error));
   duet_store_aggregate_destroy(aggregate);
   bson_destroy(pipeline);
   assert_contents(f->session, "joined",
                   "{\"0\": {\"_id\": 1, \"item\": \"almonds\", \"price\": 12, \"quantity\": 2, \"inv\": "
                   "[{\"instock\": 120, \"none\": []}]}, \"1\": {\"_id\": 2, \"ids\": [4]}, \"2\": {\"_id\": 3, "
                   "\"ids\": [5, 6]}}");
}

static void test_on_fields_and_same_collection(void **state)
{
   store_fixture_t *f = *state;
   seed_source(f->session);
   const char *target_on[] = {"{\"_id\": 11, \"a\": 1}", "{\"_id\": 12, \"a\": 50}"};
   reset(f->session, "t", target_on, 2);
   assert_int_equal(run_merge(f->session, "{\"into\": \"t\", \"on\": \"a\"}", NULL, 0), 51183);
   bson_t *specs = TEST_JSON("{\"0\": {\"key\": {\"a\": 1}, \"unique\": true}}");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "t", specs, NULL, error));
   bson_destroy(specs);
   /* on a: source 1 matches _id 11 but would change its _id (66); 2 and 3 are inserted */
   char message[512];
   assert_int_equal(run_merge(f->session, "{\"into\": \"t\", \"on\": \"a\"}", message, sizeof message),
                    DUET_ERR_IMMUTABLE_FIELD);
   assert_true(strncmp(message,
                       "$merge failed to update the matching document, did you attempt to modify the _id or "
                       "the shard key? :: caused by :: ",
                       110) == 0);
   assert_contents(f->session, "t",
                   "{\"0\": {\"_id\": 2, \"a\": 2, \"b\": \"b\"}, \"1\": {\"_id\": 3, \"a\": 3, \"b\": \"c\"},"
                   " \"2\": {\"_id\": 11, \"a\": 1}, \"3\": {\"_id\": 12, \"a\": 50}}");
   /* merge into the collection being read: [{$match: {a: {$lt: 1}}}, {$addFields: ...}] style */
   const char *self[] = {"{\"_id\": 0, \"a\": 0}", "{\"_id\": 1, \"a\": 1}", "{\"_id\": 2, \"a\": 2}"};
   reset(f->session, "source", self, 3);
   bson_t *pipeline =
       TEST_JSON("{\"0\": {\"$match\": {\"a\": {\"$lt\": 1}}}, \"1\": {\"$addFields\": {\"a\": {\"$add\": "
                 "[\"$a\", 3]}}}, \"2\": {\"$merge\": \"source\"}}");
   duet_store_aggregate_t *aggregate;
   ASSERT_OK(duet_store_aggregate(f->session, "db", "source", pipeline, NULL, &aggregate, error));
   duet_store_aggregate_destroy(aggregate);
   bson_destroy(pipeline);
   assert_contents(f->session, "source",
                   "{\"0\": {\"_id\": 0, \"a\": 3}, \"1\": {\"_id\": 1, \"a\": 1}, \"2\": {\"_id\": 2, \"a\": 2}}");
   /* not last */
   pipeline = TEST_JSON("{\"0\": {\"$merge\": \"t\"}, \"1\": {\"$match\": {}}}");
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, 40601, duet_store_aggregate(f->session, "db", "source", pipeline, NULL, &aggregate, error));
   assert_string_equal(err.message, "$merge can only be the final stage in the pipeline");
   duet_error_clear(&err);
   bson_destroy(pipeline);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_replace_modes, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_merge_keep_and_fail_modes, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_on_fields_and_same_collection, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_pipeline_modes, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_lookup, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
