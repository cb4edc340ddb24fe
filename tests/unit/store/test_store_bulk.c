/*
 * test_store_bulk.c — the bulk insert (store/store_bulk.h): full groups and a tail leave
 * the same rows, index entries, change events (in order) and hook calls as one insert per
 * document; skip-existing leaves present documents alone (stored before or earlier in the
 * chunk, also when the validator rejects the newcomer); failures name the document at
 * fault (duplicate _id, unique index, validator, bad names) and roll back with the chunk.
 */
#include "store_test.h"

#include "store/store_bulk.h"

/* n documents {_id: first + i, name: "t<i>", v: i}; the caller frees with docs_free. */
static bson_t **docs_make(int first, int n)
{
   bson_t **docs = bson_malloc0((size_t)n * sizeof *docs);
   for (int i = 0; i < n; i++) {
      char name[16];
      snprintf(name, sizeof name, "t%d", first + i);
      docs[i] = BCON_NEW("_id", BCON_INT32(first + i), "name", BCON_UTF8(name), "v", BCON_INT32(i));
   }
   return docs;
}

static void docs_free(bson_t **docs, int n)
{
   for (int i = 0; i < n; i++) {
      bson_destroy(docs[i]);
   }
   bson_free(docs);
}

typedef struct events {
   int count;
   int inserts;
   int32_t ids[128]; /* documentKey._id of the inserts, in order */
} events_t;

static bool collect(const bson_t *event, duet_store_ts_t cluster_time, void *context)
{
   (void)cluster_time;
   events_t *events = context;
   bson_iter_t iter;
   events->count++;
   if (bson_iter_init_find(&iter, event, "operationType") && strcmp(bson_iter_utf8(&iter, NULL), "insert") == 0) {
      bson_iter_init(&iter, event);
      if (bson_iter_find_descendant(&iter, "documentKey._id", &iter) && events->inserts < 128) {
         events->ids[events->inserts] = bson_iter_int32(&iter);
      }
      events->inserts++;
   }
   return true;
}

static events_t events_after(duet_session_t *session, duet_store_ts_t after)
{
   events_t events;
   memset(&events, 0, sizeof events);
   ASSERT_OK(duet_store_changelog_read(session, after, 0, collect, &events, error));
   return events;
}

static duet_store_ts_t latest(duet_session_t *session)
{
   duet_store_ts_t ts = 0;
   ASSERT_OK(duet_store_changelog_latest(session, &ts, error));
   return ts;
}

static int64_t count_of(duet_session_t *session, const char *coll)
{
   int64_t n = -1;
   ASSERT_OK(duet_store_count(session, "test", coll, &n, error));
   return n;
}

static int hook_calls;

static bool counting_hook(duet_session_t *session, const duet_store_write_t *write, void *context, duet_error_t *error)
{
   (void)session;
   (void)context;
   (void)error;
   assert_int_equal(write->op, DUET_STORE_OP_INSERT);
   assert_non_null(write->new_doc);
   hook_calls++;
   return true;
}

static void test_groups_and_tail_like_single_inserts(void **state)
{
   store_fixture_t *f = *state;
   const int n = 2 * DUET_STORE_INSERT_GROUP + 5; /* two full groups and a tail */
   bson_t **docs = docs_make(1, n);
   bool inserted[64];
   size_t failed = 99;
   uint64_t hook_id = 0;
   hook_calls = 0;
   ASSERT_OK(duet_store_create_collection(f->session, "test", "c", NULL, error));
   ASSERT_OK(duet_store_hook_add(f->store, "test", "c", NULL, counting_hook, NULL, &hook_id, error));
   duet_store_ts_t before = latest(f->session);
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_OK(duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, inserted,
                                    &failed, error));
   ASSERT_OK(duet_session_commit(f->session, error));
   duet_store_hook_remove(f->store, hook_id);
   for (int i = 0; i < n; i++) {
      assert_true(inserted[i]);
   }
   assert_int_equal(count_of(f->session, "c"), n);
   assert_int_equal(hook_calls, n);
   events_t events = events_after(f->session, before);
   assert_int_equal(events.inserts, n);
   for (int i = 0; i < n; i++) {
      assert_int_equal(events.ids[i], i + 1); /* in document order */
   }
   /* every document as given */
   for (int i = 0; i < n; i++) {
      bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = i + 1};
      bson_t doc;
      bool found = false;
      ASSERT_OK(duet_store_find_id(f->session, "test", "c", &id, &doc, &found, error));
      assert_true(found);
      assert_true(bson_equal(&doc, docs[i]));
      bson_destroy(&doc);
   }
   docs_free(docs, n);
}

static void test_skip_existing(void **state)
{
   store_fixture_t *f = *state;
   const int n = DUET_STORE_INSERT_GROUP * 2;
   /* 3 and 20 exist already (inside the first and second group) */
   store_test_insert_json(f->session, "test", "c", "{\"_id\": 3, \"name\": \"kept\"}");
   store_test_insert_json(f->session, "test", "c", "{\"_id\": 20, \"name\": \"kept too\"}");
   bson_t **docs = docs_make(1, n);
   bson_destroy(docs[n - 1]); /* the last repeats the first of the chunk */
   docs[n - 1] = BCON_NEW("_id", BCON_INT32(1), "name", "again");
   bool inserted[64];
   duet_store_ts_t before = latest(f->session);
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_OK(duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n,
                                    DUET_STORE_BULK_SKIP_EXISTING, inserted, NULL, error));
   ASSERT_OK(duet_session_commit(f->session, error));
   for (int i = 0; i < n; i++) {
      bool expected = !(i == 2 || i == 19 || i == n - 1);
      assert_int_equal(inserted[i], expected);
   }
   assert_int_equal(count_of(f->session, "c"), n - 1); /* ids 1..n-1 */
   events_t events = events_after(f->session, before);
   assert_int_equal(events.inserts, n - 3);
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 3};
   bson_t doc;
   bool found = false;
   ASSERT_OK(duet_store_find_id(f->session, "test", "c", &id, &doc, &found, error));
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &doc, "name"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "kept");
   bson_destroy(&doc);
   id.value.v_int32 = 1;
   ASSERT_OK(duet_store_find_id(f->session, "test", "c", &id, &doc, &found, error));
   assert_true(bson_iter_init_find(&iter, &doc, "name"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "t1");
   bson_destroy(&doc);
   docs_free(docs, n);
}

static void test_duplicate_fails_at_its_document(void **state)
{
   store_fixture_t *f = *state;
   const int n = DUET_STORE_INSERT_GROUP + 4;
   store_test_insert_json(f->session, "test", "c", "{\"_id\": 7}");
   bson_t **docs = docs_make(1, n);
   size_t failed = 0;
   duet_error_t err = DUET_ERROR_INIT;
   duet_store_ts_t before = latest(f->session);
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY,
                duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL,
                                       &failed, error));
   duet_session_abort(f->session);
   assert_int_equal(failed, 6);
   assert_non_null(strstr(err.message, "dup key: { _id: 7 }"));
   duet_error_clear(&err);
   /* a duplicate inside the chunk, in the tail */
   bson_destroy(docs[n - 1]);
   docs[n - 1] = BCON_NEW("_id", BCON_INT32(100));
   bson_destroy(docs[6]);
   docs[6] = BCON_NEW("_id", BCON_INT32(100));
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY,
                duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL,
                                       &failed, error));
   duet_session_abort(f->session);
   assert_int_equal(failed, (size_t)n - 1);
   duet_error_clear(&err);
   /* nothing of the chunks stayed */
   assert_int_equal(count_of(f->session, "c"), 1);
   assert_int_equal(events_after(f->session, before).count, 0);
   docs_free(docs, n);
}

static void test_checks_and_unique_index(void **state)
{
   store_fixture_t *f = *state;
   bson_t *specs = TEST_JSON("[{\"key\": {\"name\": 1}, \"name\": \"name_1\", \"unique\": true}]");
   int32_t created = 0;
   ASSERT_OK(duet_store_create_indexes(f->session, "test", "c", specs, &created, error));
   bson_destroy(specs);
   const int n = DUET_STORE_INSERT_GROUP;
   bson_t **docs = docs_make(1, n);
   bson_destroy(docs[9]);
   docs[9] = BCON_NEW("_id", BCON_INT32(10), "name", "t3"); /* the name of docs[2] */
   size_t failed = 0;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY,
                duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL,
                                       &failed, error));
   duet_session_abort(f->session);
   assert_int_equal(failed, 9);
   assert_non_null(strstr(err.message, "index: name_1"));
   duet_error_clear(&err);
   /* a $-prefixed name */
   bson_destroy(docs[9]);
   docs[9] = BCON_NEW("_id", BCON_INT32(10), "$bad", BCON_INT32(1));
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_FAILS(err, DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME,
                duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL,
                                       &failed, error));
   duet_session_abort(f->session);
   assert_int_equal(failed, 9);
   duet_error_clear(&err);
   /* a missing _id is generated and put first */
   bson_destroy(docs[9]);
   docs[9] = BCON_NEW("name", "no id");
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_OK(
       duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL, NULL, error));
   ASSERT_OK(duet_session_commit(f->session, error));
   assert_int_equal(count_of(f->session, "c"), n);
   duet_store_cursor_t *cursor = NULL;
   int with_oid = 0;
   ASSERT_OK(duet_store_scan(f->session, "test", "c", NULL, NULL, false, &cursor, error));
   for (;;) {
      const bson_t *doc = NULL;
      ASSERT_OK(duet_store_cursor_next(cursor, &doc, error));
      if (!doc) {
         break;
      }
      bson_iter_t iter;
      assert_true(bson_iter_init(&iter, doc) && bson_iter_next(&iter));
      assert_string_equal(bson_iter_key(&iter), "_id");
      with_oid += BSON_ITER_HOLDS_OID(&iter) ? 1 : 0;
   }
   duet_store_cursor_destroy(cursor);
   assert_int_equal(with_oid, 1);
   /* no transaction open */
   ASSERT_FAILS(
       err, DUET_ERR_ILLEGAL_OPERATION,
       duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n, 0, NULL, NULL, error));
   duet_error_clear(&err);
   docs_free(docs, n);
}

static void test_validator_with_skip_existing(void **state)
{
   store_fixture_t *f = *state;
   bson_t *options = TEST_JSON("{\"validator\": {\"name\": {\"$type\": \"string\"}}}");
   ASSERT_OK(duet_store_create_collection(f->session, "test", "c", options, error));
   bson_destroy(options);
   store_test_insert_json(f->session, "test", "c", "{\"_id\": 5, \"name\": \"kept\"}");
   const int n = DUET_STORE_INSERT_GROUP + 2;
   bson_t **docs = docs_make(1, n);
   /* rejected but present: skipped (stored before, and earlier in the chunk) */
   bson_destroy(docs[4]);
   docs[4] = BCON_NEW("_id", BCON_INT32(5), "name", BCON_INT32(0));
   bson_destroy(docs[8]);
   docs[8] = BCON_NEW("_id", BCON_INT32(2), "name", BCON_INT32(0));
   bool inserted[64];
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_OK(duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n,
                                    DUET_STORE_BULK_SKIP_EXISTING, inserted, NULL, error));
   ASSERT_OK(duet_session_commit(f->session, error));
   assert_false(inserted[4]);
   assert_false(inserted[8]);
   assert_true(inserted[0] && inserted[1] && inserted[9]);
   assert_int_equal(count_of(f->session, "c"), n - 1); /* 1..n without 9 */
   /* rejected and absent: 121 at its document */
   bson_destroy(docs[8]);
   docs[8] = BCON_NEW("_id", BCON_INT32(500), "name", BCON_INT32(0));
   size_t failed = 0;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_OK(duet_session_begin(f->session, error));
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_store_insert_bulk(f->session, "test", "c", (const bson_t *const *)docs, (size_t)n,
                                       DUET_STORE_BULK_SKIP_EXISTING, inserted, &failed, error));
   duet_session_abort(f->session);
   assert_int_equal(failed, 8);
   duet_error_clear(&err);
   docs_free(docs, n);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_groups_and_tail_like_single_inserts, store_fixture_open,
                                       store_fixture_close),
       cmocka_unit_test_setup_teardown(test_skip_existing, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_duplicate_fails_at_its_document, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_checks_and_unique_index, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_validator_with_skip_existing, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
