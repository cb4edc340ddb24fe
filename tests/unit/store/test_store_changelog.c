/*
 * test_store_changelog.c — the change log: every operation type with its
 * fields, strictly increasing cluster times, updateDescription diffs, pre-images
 * when enabled, entries rolled back with their write, reading from a position,
 * and retention by size with 286 ChangeStreamHistoryLost.
 */
#include "store_test.h"

typedef struct collected {
   bson_t events; /* array-like document "0", "1", ... */
   int count;
   duet_store_ts_t last;
   bool increasing;
} collected_t;

static bool collect(const bson_t *event, duet_store_ts_t ts, void *context)
{
   collected_t *c = context;
   if (ts <= c->last) {
      c->increasing = false;
   }
   c->last = ts;
   /* drop the time fields so tests can compare shapes */
   bson_t copy = BSON_INITIALIZER;
   bson_copy_to_excluding_noinit(event, &copy, "clusterTime", "wallTime", NULL);
   char key[16];
   snprintf(key, sizeof key, "%d", c->count++);
   BSON_APPEND_DOCUMENT(&c->events, key, &copy);
   bson_destroy(&copy);
   return true;
}

static void read_all(duet_session_t *session, duet_store_ts_t after, collected_t *c)
{
   bson_init(&c->events);
   c->count = 0;
   c->last = after;
   c->increasing = true;
   ASSERT_OK(duet_store_changelog_read(session, after, 0, collect, c, error));
   assert_true(c->increasing);
}

static void test_operation_types(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1, \"a\": 1, \"o\": {\"x\": 1, \"y\": \"long string value\"},"
                                                  " \"arr\": [1, 2, 3], \"gone\": true}");
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
   bson_t old_doc;
   bool found;
   ASSERT_OK(duet_store_find_id(f->session, "db", "c", &id, &old_doc, &found, error));
   bson_t *updated = TEST_JSON("{\"_id\": 1, \"a\": 2, \"o\": {\"x\": 2, \"y\": \"long string value\"}, \"arr\": [1, 2],"
                               " \"b\": 1}");
   ASSERT_OK(duet_store_update(f->session, "db", "c", &old_doc, updated, DUET_STORE_UPDATE, NULL, error));
   bson_t *replaced = TEST_JSON("{\"_id\": 1, \"z\": 1}");
   ASSERT_OK(duet_store_update(f->session, "db", "c", updated, replaced, DUET_STORE_REPLACE, NULL, error));
   ASSERT_OK(duet_store_delete(f->session, "db", "c", &id, NULL, error));
   ASSERT_OK(duet_store_rename_collection(f->session, "db", "c", "db", "d", false, error));
   ASSERT_OK(duet_store_drop_collection(f->session, "db", "d", NULL, error));
   store_test_insert_json(f->session, "db", "e", "{\"_id\": 2}");
   ASSERT_OK(duet_store_drop_database(f->session, "db", error));
   collected_t c;
   read_all(f->session, 0, &c);
   ASSERT_JSON_EQ(&c.events,
                  "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"}, \"documentKey\": {\"_id\": 1},"
                  "  \"fullDocument\": {\"_id\": 1, \"a\": 1, \"o\": {\"x\": 1, \"y\": \"long string value\"}, \"arr\": [1, 2, 3], \"gone\": true}},"
                  " \"1\": {\"operationType\": \"update\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"}, \"documentKey\": {\"_id\": 1},"
                  "  \"updateDescription\": {\"updatedFields\": {\"a\": 2, \"o.x\": 2, \"b\": 1}, \"removedFields\": [\"gone\"],"
                  "   \"truncatedArrays\": [{\"field\": \"arr\", \"newSize\": 2}]},"
                  "  \"fullDocument\": {\"_id\": 1, \"a\": 2, \"o\": {\"x\": 2, \"y\": \"long string value\"}, \"arr\": [1, 2], \"b\": 1}},"
                  " \"2\": {\"operationType\": \"replace\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"}, \"documentKey\": {\"_id\": 1},"
                  "  \"fullDocument\": {\"_id\": 1, \"z\": 1}},"
                  " \"3\": {\"operationType\": \"delete\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"}, \"documentKey\": {\"_id\": 1}},"
                  " \"4\": {\"operationType\": \"rename\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"}, \"to\": {\"db\": \"db\", \"coll\": \"d\"}},"
                  " \"5\": {\"operationType\": \"drop\", \"ns\": {\"db\": \"db\", \"coll\": \"d\"}},"
                  " \"6\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"e\"}, \"documentKey\": {\"_id\": 2},"
                  "  \"fullDocument\": {\"_id\": 2}},"
                  " \"7\": {\"operationType\": \"drop\", \"ns\": {\"db\": \"db\", \"coll\": \"e\"}},"
                  " \"8\": {\"operationType\": \"dropDatabase\", \"ns\": {\"db\": \"db\"}}}");
   bson_destroy(&c.events);
   bson_destroy(updated);
   bson_destroy(replaced);
   bson_destroy(&old_doc);
}

static void test_whole_value_replacement_and_pre_images(void **state)
{
   store_fixture_t *f = *state;
   bson_t *options = TEST_JSON("{\"changeStreamPreAndPostImages\": {\"enabled\": true}}");
   ASSERT_OK(duet_store_create_collection(f->session, "db", "p", options, error));
   bson_destroy(options);
   store_test_insert_json(f->session, "db", "p", "{\"_id\": 1, \"tags\": [\"a\", \"b\"]}");
   duet_store_ts_t after;
   ASSERT_OK(duet_store_changelog_latest(f->session, &after, error));
   bson_t *old_doc = TEST_JSON("{\"_id\": 1, \"tags\": [\"a\", \"b\"]}");
   bson_t *new_doc = TEST_JSON("{\"_id\": 1, \"tags\": [\"x\", \"y\"]}");
   ASSERT_OK(duet_store_update(f->session, "db", "p", old_doc, new_doc, DUET_STORE_UPDATE, NULL, error));
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
   ASSERT_OK(duet_store_delete(f->session, "db", "p", &id, NULL, error));
   collected_t c;
   read_all(f->session, after, &c);
   ASSERT_JSON_EQ(&c.events,
                  "{\"0\": {\"operationType\": \"update\", \"ns\": {\"db\": \"db\", \"coll\": \"p\"}, \"documentKey\": {\"_id\": 1},"
                  "  \"updateDescription\": {\"updatedFields\": {\"tags\": [\"x\", \"y\"]}, \"removedFields\": [], \"truncatedArrays\": []},"
                  "  \"fullDocument\": {\"_id\": 1, \"tags\": [\"x\", \"y\"]},"
                  "  \"fullDocumentBeforeChange\": {\"_id\": 1, \"tags\": [\"a\", \"b\"]}},"
                  " \"1\": {\"operationType\": \"delete\", \"ns\": {\"db\": \"db\", \"coll\": \"p\"}, \"documentKey\": {\"_id\": 1},"
                  "  \"fullDocumentBeforeChange\": {\"_id\": 1, \"tags\": [\"x\", \"y\"]}}}");
   bson_destroy(&c.events);
   bson_destroy(old_doc);
   bson_destroy(new_doc);
}

static void test_rolled_back_writes_leave_no_entries(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1}");
   ASSERT_OK(duet_session_begin(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 2}");
   duet_session_abort(f->session);
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *dup = TEST_JSON("{\"_id\": 1}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "c", dup, NULL, error));
   duet_error_clear(&err);
   bson_destroy(dup);
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 3}");
   collected_t c;
   read_all(f->session, 0, &c);
   assert_int_equal(c.count, 2);
   duet_store_ts_t before_savepoint = c.last;
   bson_destroy(&c.events);
   /* a savepoint rolled back drops its events; the times of the rest stay exact */
   ASSERT_OK(duet_session_begin(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 4}");
   ASSERT_OK(duet_session_savepoint(f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 5}");
   store_test_insert_json(f->session, "db", "other", "{\"_id\": 5}");
   duet_session_savepoint_rollback(f->session);
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 6}");
   duet_store_ts_t inside = 0;
   ASSERT_OK(duet_store_changelog_latest(f->session, &inside, error));
   /* reading inside the transaction sees its own events and changes nothing of it */
   ASSERT_OK(duet_session_savepoint(f->session, error));
   read_all(f->session, before_savepoint, &c);
   assert_int_equal(c.count, 2);
   bson_destroy(&c.events);
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 7}");
   duet_session_savepoint_rollback(f->session);
   ASSERT_OK(duet_session_commit(f->session, error));
   read_all(f->session, before_savepoint, &c);
   assert_int_equal(c.count, 2);
   assert_int_equal(c.last, inside); /* the reader's time of event 6 is the one it was given */
   ASSERT_JSON_EQ(&c.events, "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 4}, \"fullDocument\": {\"_id\": 4}},"
                             " \"1\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 6}, \"fullDocument\": {\"_id\": 6}}}");
   bson_destroy(&c.events);
   read_all(f->session, 0, &c);
   assert_int_equal(c.count, 4);
   ASSERT_JSON_EQ(&c.events, "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 1}, \"fullDocument\": {\"_id\": 1}},"
                             " \"1\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 3}, \"fullDocument\": {\"_id\": 3}},"
                             " \"2\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 4}, \"fullDocument\": {\"_id\": 4}},"
                             " \"3\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"c\"},"
                             " \"documentKey\": {\"_id\": 6}, \"fullDocument\": {\"_id\": 6}}}");
   bson_destroy(&c.events);
}

static bool stop_after_one(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)event;
   *(duet_store_ts_t *)context = ts;
   return false;
}

static int open_small_log(void **state)
{
   duet_store_options_t options = DUET_STORE_OPTIONS_INIT;
   options.changelog_max_bytes = 4096;
   return store_fixture_open_with(state, &options);
}

static void test_retention_and_history_lost(void **state)
{
   store_fixture_t *f = *state;
   duet_store_ts_t first = 0;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 0, \"pad\": \"................................\"}");
   ASSERT_OK(duet_store_changelog_read(f->session, 0, 0, stop_after_one, &first, error));
   assert_true(first > 0);
   for (int i = 1; i < 200; i++) {
      char json[128];
      snprintf(json, sizeof json, "{\"_id\": %d, \"pad\": \"................................\"}", i);
      store_test_insert_json(f->session, "db", "c", json);
   }
   ASSERT_OK(duet_store_changelog_prune(f->session, error));
   duet_error_t err = DUET_ERROR_INIT;
   collected_t c;
   bson_init(&c.events);
   c.count = 0;
   c.last = 0;
   ASSERT_FAILS(err, DUET_ERR_CHANGE_STREAM_HISTORY_LOST,
                duet_store_changelog_read(f->session, first, 0, collect, &c, error));
   assert_string_equal(err.message,
                       "Resume of change stream was not possible, as the resume point may no longer be in the oplog.");
   duet_error_clear(&err);
   bson_destroy(&c.events);
   /* from the start: only what is retained, still in order, ending with the last insert */
   read_all(f->session, 0, &c);
   assert_true(c.count > 10 && c.count < 200);
   bson_destroy(&c.events);
   /* the newest position stays readable */
   duet_store_ts_t latest;
   ASSERT_OK(duet_store_changelog_latest(f->session, &latest, error));
   read_all(f->session, latest, &c);
   assert_int_equal(c.count, 0);
   bson_destroy(&c.events);
   /* cluster times keep increasing across a reopen */
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1000}");
   duet_store_ts_t next = 0;
   ASSERT_OK(duet_store_changelog_read(f->session, latest, 0, stop_after_one, &next, error));
   assert_true(next > latest);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_operation_types, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_whole_value_replacement_and_pre_images, store_fixture_open,
                                      store_fixture_close),
      cmocka_unit_test_setup_teardown(test_rolled_back_writes_leave_no_entries, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_retention_and_history_lost, open_small_log, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
