/*
 * test_store_retry.c — durable retryable-write records (duet/store_retry.h): a record written
 * in a write's transaction commits or rolls back with it, survives closing and reopening the
 * store, is replaced by the session's next write, stays apart from other sessions, and is
 * pruned by age.
 */
#include "store_test.h"

#include <duet/store_retry.h>

static const uint8_t lsid_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t lsid_b[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static void insert_one(duet_session_t *session, int32_t id)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *doc = BCON_NEW("_id", BCON_INT32(id));
   bool ok = duet_store_insert(session, "db", "c", doc, NULL, &error);
   if (!ok) {
      fail_msg("insert: %s", error.message);
   }
   bson_destroy(doc);
}

static int64_t count_docs(duet_session_t *session)
{
   int64_t n = -1;
   ASSERT_OK(duet_store_count(session, "db", "c", &n, error));
   return n;
}

/* The record of lsid (asserting there is one) as canonical JSON, its txnNumber and command. */
static void expect_record(duet_session_t *session, const uint8_t lsid[16], int64_t txn, const char *command,
                          int32_t n)
{
   duet_store_retry_record_t record;
   bool found = false;
   ASSERT_OK(duet_store_retry_get(session, lsid, &record, &found, error));
   assert_true(found);
   assert_int_equal(record.txn_number, txn);
   assert_string_equal(record.command, command);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &record.reply, "n"));
   assert_int_equal(bson_iter_int32(&iter), n);
   duet_store_retry_record_clear(&record);
}

static void test_commits_and_rolls_back_with_the_write(void **state)
{
   store_fixture_t *f = *state;
   bson_t *reply = BCON_NEW("n", BCON_INT32(1));
   ASSERT_OK(duet_session_begin(f->session, error));
   insert_one(f->session, 1);
   ASSERT_OK(duet_store_retry_put(f->session, lsid_a, 7, "insert", reply, error));
   duet_session_abort(f->session);
   bool found = true;
   duet_store_retry_record_t record;
   ASSERT_OK(duet_store_retry_get(f->session, lsid_a, &record, &found, error));
   assert_false(found); /* the write rolled back: so did its record */
   assert_int_equal(count_docs(f->session), 0);

   ASSERT_OK(duet_session_begin(f->session, error));
   insert_one(f->session, 1);
   ASSERT_OK(duet_store_retry_put(f->session, lsid_a, 7, "insert", reply, error));
   ASSERT_OK(duet_session_commit(f->session, error));
   expect_record(f->session, lsid_a, 7, "insert", 1);
   bson_destroy(reply);

   /* still there after the store is closed and opened again */
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   expect_record(f->session, lsid_a, 7, "insert", 1);
   assert_int_equal(count_docs(f->session), 1);
}

static void test_replaced_per_session(void **state)
{
   store_fixture_t *f = *state;
   bson_t *first = BCON_NEW("n", BCON_INT32(1), "nModified", BCON_INT32(1));
   bson_t *second = BCON_NEW("n", BCON_INT32(2));
   ASSERT_OK(duet_store_retry_put(f->session, lsid_a, 1, "update", first, error)); /* its own transaction */
   ASSERT_OK(duet_store_retry_put(f->session, lsid_b, 5, "delete", first, error));
   ASSERT_OK(duet_store_retry_put(f->session, lsid_a, 2, "findAndModify", second, error));
   expect_record(f->session, lsid_a, 2, "findAndModify", 2);
   expect_record(f->session, lsid_b, 5, "delete", 1);
   bson_destroy(first);
   bson_destroy(second);
}

static void test_pruned_by_age(void **state)
{
   store_fixture_t *f = *state;
   bson_t *reply = BCON_NEW("n", BCON_INT32(1));
   ASSERT_OK(duet_store_retry_put(f->session, lsid_a, 1, "insert", reply, error));
   int64_t pruned = -1;
   ASSERT_OK(duet_store_retry_prune(f->session, 0, &pruned, error)); /* nothing is that old */
   assert_int_equal(pruned, 0);
   expect_record(f->session, lsid_a, 1, "insert", 1);
   ASSERT_OK(duet_store_retry_prune(f->session, INT64_MAX, &pruned, error));
   assert_int_equal(pruned, 1);
   bool found = true;
   duet_store_retry_record_t record;
   ASSERT_OK(duet_store_retry_get(f->session, lsid_a, &record, &found, error));
   assert_false(found);
   bson_destroy(reply);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_commits_and_rolls_back_with_the_write, store_fixture_open,
                                      store_fixture_close),
      cmocka_unit_test_setup_teardown(test_replaced_per_session, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_pruned_by_age, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
