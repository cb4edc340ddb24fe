/*
 * test_partner_backfill.c — check (dry run), backfill, verify on a real store: counts and
 * examples of every check problem, chunks with persisted progress that resume after a
 * reopen, documents mirrored before the backfill reaches them kept (not overwritten, not
 * duplicated), verify reporting missing/extra/differing, in-place plans.
 */
#include "partner_test.h"

#include <time.h>

static duet_partner_spec_t *int_spec(void)
{
   return partner_test_spec_file("task_int_string.json"); /* int _id <-> string _id, chunk_size 3 */
}

static void insert_tasks(duet_session_t *session, int from, int to)
{
   for (int i = from; i < to; i++) {
      char json[128];
      snprintf(json, sizeof json, "{\"_id\": %d, \"name\": \"task %d\", \"complete\": %s}", i, i,
               i % 2 ? "true" : "false");
      store_test_insert_json(session, "test", "Task", json);
   }
}

static int64_t example_count(const bson_t *examples, const char *kind)
{
   bson_iter_t iter, child;
   int64_t n = 0;
   if (bson_iter_init_find(&iter, examples, kind) && bson_iter_recurse(&iter, &child)) {
      while (bson_iter_next(&child)) {
         n++;
      }
   }
   return n;
}

static void test_check_counts_every_problem(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 6);
   /* forward fails: $concat of a number (16702) */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": 100, \"name\": 7}");
   /* schema fails: complete is not a bool */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": 102, \"name\": \"x\", \"complete\": \"yes\"}");
   /* reverse fails ($toInt of "101.5"), and both map to the partner _id "101.5" */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": 101.5, \"name\": \"half\"}");
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": \"101.5\", \"name\": \"string id\"}");
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"database\": \"test\", \"source\": \"Task\", \"partner\": \"TaskV2\", \"schema\": "
       "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], \"properties\": "
       "{\"_id\": {\"bsonType\": \"string\"}, \"name\": {\"bsonType\": \"string\"}, \"complete\": "
       "{\"bsonType\": \"bool\"}}}, \"forward\": [{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}, \"name\": "
       "{\"$concat\": [\"$name\"]}}}], \"reverse\": [{\"$addFields\": {\"_id\": {\"$toInt\": \"$_id\"}}}]}");
   duet_partner_check_report_t report;
   ASSERT_OK(duet_partner_check(f->session, spec, 2, &report, error));
   assert_int_equal(report.scanned, 9);
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_FORWARD_FAILED], 1);
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_SCHEMA_FAILED], 1);
   /* 101.5 -> "101.5" -> $toInt fails; "101.5" -> "101.5" -> fails too */
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_REVERSE_FAILED], 2);
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_ID_COLLISION], 1);
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_NOT_ROUND_TRIP], 0);
   assert_int_equal(duet_partner_check_problems(&report), 5);
   bson_t as_bson;
   duet_partner_check_report_to_bson(&report, &as_bson);
   bson_iter_t counts;
   assert_true(bson_iter_init(&counts, &as_bson) && bson_iter_find_descendant(&counts, "counts.id_collision", &counts));
   assert_int_equal(bson_iter_int64(&counts), 1);
   bson_destroy(&as_bson);
   assert_int_equal(example_count(&report.examples, "forward_failed"), 1);
   assert_int_equal(example_count(&report.examples, "reverse_failed"), 2);
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, &report.examples) &&
               bson_iter_find_descendant(&iter, "id_collision.0.other_id", &iter));
   assert_true(BSON_ITER_HOLDS_DOUBLE(&iter));
   assert_true(bson_iter_init(&iter, &report.examples) &&
               bson_iter_find_descendant(&iter, "schema_failed.0.reason", &iter));
   assert_non_null(strstr(bson_iter_utf8(&iter, NULL), "complete"));
   duet_partner_check_report_clear(&report);
   /* nothing was written */
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 0);
   /* examples are capped */
   ASSERT_OK(duet_partner_check(f->session, spec, 1, &report, error));
   assert_int_equal(example_count(&report.examples, "reverse_failed"), 1);
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_REVERSE_FAILED], 2);
   duet_partner_check_report_clear(&report);
   duet_partner_spec_destroy(spec);
}

static void test_check_round_trip_and_clean_data(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 50);
   duet_partner_spec_t *spec = int_spec();
   duet_partner_check_report_t report;
   ASSERT_OK(duet_partner_check(f->session, spec, 5, &report, error));
   assert_int_equal(report.scanned, 49);
   assert_int_equal(duet_partner_check_problems(&report), 0);
   duet_partner_check_report_clear(&report);
   /* a long _id converts to string and back to an int: not a round trip */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": {\"$numberLong\": \"1000\"}, \"name\": \"l\"}");
   ASSERT_OK(duet_partner_check(f->session, spec, 5, &report, error));
   assert_int_equal(report.counts[DUET_PARTNER_CHECK_NOT_ROUND_TRIP], 1);
   duet_partner_check_report_clear(&report);
   duet_partner_spec_destroy(spec);
}

static bool count_progress(const duet_partner_progress_t *progress, void *context)
{
   int *calls = context;
   (*calls)++;
   assert_true(progress->done <= progress->total_estimate);
   return true;
}

static void test_backfill_resumes_and_keeps_mirrored_documents(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 11); /* 10 documents, chunks of 3 */
   duet_partner_spec_t *spec = int_spec();
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   bool finished = false;
   ASSERT_OK(duet_partner_backfill_step(link, f->session, &finished, error));
   assert_false(finished);
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 3);

   /* client writes before the backfill reaches documents 7 and 8 and 9 */
   bson_t *old_doc = partner_test_find(f->session, "Task", "{\"_id\": 7}");
   bson_t *new_doc = TEST_JSON("{\"_id\": 7, \"name\": \"changed by a client\"}");
   ASSERT_OK(duet_store_update(f->session, "test", "Task", old_doc, new_doc, DUET_STORE_REPLACE, NULL, error));
   bson_destroy(old_doc);
   bson_destroy(new_doc);
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 8};
   ASSERT_OK(duet_store_delete(f->session, "test", "Task", &id, NULL, error));
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"42\", \"name\": \"from a v2 client\"}");
   old_doc = partner_test_find(f->session, "TaskV2", "{\"_id\": \"9\"}");
   assert_null(old_doc); /* 9 is not backfilled yet: a v2 client cannot see it */

   /* reopen the store in between (as after a crash): the progress is persisted */
   duet_partner_link_destroy(link);
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 1);
   link = links[0];
   duet_partner_progress_t progress;
   ASSERT_OK(duet_partner_progress_get(link, f->session, &progress, error));
   assert_int_equal(progress.done, 3);
   assert_int_equal(progress.total_estimate, 10);
   assert_false(progress.finished);
   assert_true(progress.has_last_id);
   assert_int_equal(progress.last_id.value.v_int32, 3);
   duet_partner_progress_clear(&progress);

   int calls = 0;
   ASSERT_OK(duet_partner_backfill_run(link, f->session, count_progress, &calls, error));
   assert_true(calls >= 3);
   ASSERT_OK(duet_partner_progress_get(link, f->session, &progress, error));
   assert_true(progress.finished);
   assert_int_equal(progress.done, 10);  /* 9 source documents + the mirrored 42 */
   assert_int_equal(progress.copied, 8); /* 7 and 42 were there already */
   assert_true(progress.rate > 0);
   double finished_rate = progress.rate;
   duet_partner_progress_clear(&progress);
   /* a finished backfill stays finished */
   bool finished_again = false;
   ASSERT_OK(duet_partner_backfill_step(link, f->session, &finished_again, error));
   assert_true(finished_again);
   /* its rate is frozen at completion: time passing after the end does not lower it */
   struct timespec pause = {0, 30 * 1000 * 1000};
   nanosleep(&pause, NULL);
   ASSERT_OK(duet_partner_progress_get(link, f->session, &progress, error));
   assert_true(progress.rate == finished_rate);
   duet_partner_progress_clear(&progress);

   bson_t *doc = partner_test_find(f->session, "TaskV2", "{\"_id\": \"7\"}");
   ASSERT_JSON_EQ(doc, "{\"_id\": \"7\", \"name\": \"changed by a client\"}");
   bson_destroy(doc);
   assert_null(partner_test_find(f->session, "TaskV2", "{\"_id\": \"8\"}"));
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 10);
   assert_int_equal(partner_test_count(f->session, "Task"), 10);

   bson_t status;
   ASSERT_OK(duet_partner_link_status(link, f->session, &status, error));
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &status, "state"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "mirroring");
   assert_true(bson_iter_init_find(&iter, &status, "done"));
   assert_int_equal(bson_iter_int64(&iter), 10);
   assert_true(bson_iter_init_find(&iter, &status, "mirrored"));
   assert_int_equal(bson_iter_int64(&iter), 0); /* the client writes happened before the restore */
   assert_false(bson_iter_init_find(&iter, &status, "error"));
   bson_destroy(&status);

   /* and persisted: a restored link (no run in this process) reports the same rate */
   duet_partner_links_free(links, count);
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 1);
   link = links[0];
   ASSERT_OK(duet_partner_progress_get(link, f->session, &progress, error));
   assert_true(progress.finished);
   assert_true(progress.rate == finished_rate);
   duet_partner_progress_clear(&progress);

   duet_partner_verify_report_t report;
   ASSERT_OK(duet_partner_verify(f->session, spec, 3, &report, error));
   assert_int_equal(report.source_count, 10);
   assert_int_equal(report.partner_count, 10);
   assert_int_equal(duet_partner_verify_differences(&report), 0);
   duet_partner_verify_report_clear(&report);
   duet_partner_links_free(links, count);
   duet_partner_spec_destroy(spec);
}

static void test_verify_reports_differences(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 6);
   duet_partner_spec_t *spec = int_spec();
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   ASSERT_OK(duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   duet_partner_link_destroy(link); /* mirrors off: now make the sides differ */
   bson_value_t id = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {"1", 1}};
   ASSERT_OK(duet_store_delete(f->session, "test", "TaskV2", &id, NULL, error)); /* missing */
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"77\", \"name\": \"extra\"}");
   bson_t *old_doc = partner_test_find(f->session, "TaskV2", "{\"_id\": \"2\"}");
   bson_t *new_doc = TEST_JSON("{\"_id\": \"2\", \"name\": \"drifted\"}");
   ASSERT_OK(duet_store_update(f->session, "test", "TaskV2", old_doc, new_doc, DUET_STORE_REPLACE, NULL, error));
   bson_destroy(old_doc);
   bson_destroy(new_doc);
   duet_partner_verify_report_t report;
   ASSERT_OK(duet_partner_verify(f->session, spec, 3, &report, error));
   assert_int_equal(report.missing, 1);
   assert_int_equal(report.extra, 1);
   assert_int_equal(report.differing, 1);
   assert_int_equal(report.failed, 0);
   assert_int_equal(duet_partner_verify_differences(&report), 3);
   bson_iter_t iter;
   assert_true(bson_iter_init(&iter, &report.examples) &&
               bson_iter_find_descendant(&iter, "differing.0.actual.name", &iter));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "drifted");
   assert_true(bson_iter_init(&iter, &report.examples) && bson_iter_find_descendant(&iter, "extra.0._id", &iter));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "77");
   bson_t doc;
   duet_partner_verify_report_to_bson(&report, &doc);
   assert_true(bson_iter_init_find(&iter, &doc, "differences"));
   assert_int_equal(bson_iter_int64(&iter), 3);
   bson_destroy(&doc);
   duet_partner_verify_report_clear(&report);
   duet_partner_spec_destroy(spec);
}

static void test_backfill_error_is_recorded(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 3);
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": 3, \"name\": 12}"); /* fails the validator */
   duet_partner_spec_t *spec = int_spec();
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   assert_non_null(strstr(err.message, "backfill of partner link test.Task:TaskV2 stopped at source document"));
   duet_error_clear(&err);
   /* the failed chunk wrote nothing */
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 0);
   bson_t doc;
   bool found = false;
   ASSERT_OK(duet_store_meta_get(f->session, "migration_progress", "test.Task:TaskV2", &doc, &found, error));
   assert_true(found);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &doc, "error"));
   bson_destroy(&doc);
   bson_t status;
   ASSERT_OK(duet_partner_link_status(link, f->session, &status, error));
   assert_true(bson_iter_init_find(&iter, &status, "error"));
   assert_non_null(strstr(bson_iter_utf8(&iter, NULL), "stopped at source document"));
   assert_true(bson_iter_init_find(&iter, &status, "state"));
   assert_string_equal(bson_iter_utf8(&iter, NULL), "backfilling");
   bson_destroy(&status);
   duet_partner_link_destroy(link);
   duet_partner_spec_destroy(spec);
}

/* Chunks of 40 go through the store's bulk insert in groups: documents mirrored before the
 * backfill reaches them sit inside full groups and stay; a failing document inside a full
 * group is named by its own source _id. */
static void test_backfill_large_chunks(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 101);
   bson_t *old_doc = partner_test_find(f->session, "Task", "{\"_id\": 70}");
   bson_t *bad = TEST_JSON("{\"_id\": 70, \"name\": 12}"); /* fails the partner's validator */
   ASSERT_OK(duet_store_update(f->session, "test", "Task", old_doc, bad, DUET_STORE_REPLACE, NULL, error));
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"database\": \"test\", \"source\": \"Task\", \"partner\": \"TaskV2\", \"schema\": "
       "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], \"properties\": "
       "{\"_id\": {\"bsonType\": \"string\"}, \"name\": {\"bsonType\": \"string\"}, \"complete\": "
       "{\"bsonType\": \"bool\"}}}, \"forward\": [{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}], "
       "\"reverse\": [{\"$addFields\": {\"_id\": {\"$toInt\": \"$_id\"}}}], \"options\": {\"chunk_size\": 40}}");
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   /* client writes before the backfill: 5 and 20 (first chunk), 33 (its last group), 50 deleted */
   const int changed[] = {5, 20, 33};
   for (size_t i = 0; i < 3; i++) {
      char id_json[32], new_json[96];
      snprintf(id_json, sizeof id_json, "{\"_id\": %d}", changed[i]);
      snprintf(new_json, sizeof new_json, "{\"_id\": %d, \"name\": \"changed %d\"}", changed[i], changed[i]);
      bson_t *current = partner_test_find(f->session, "Task", id_json);
      bson_t *replacement = TEST_JSON(new_json);
      ASSERT_OK(duet_store_update(f->session, "test", "Task", current, replacement, DUET_STORE_REPLACE, NULL, error));
      bson_destroy(current);
      bson_destroy(replacement);
   }
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 50};
   ASSERT_OK(duet_store_delete(f->session, "test", "Task", &id, NULL, error));
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 3);

   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   assert_non_null(strstr(err.message, "stopped at source document { \"_id\" : 70 }"));
   duet_error_clear(&err);
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 40); /* the first chunk: 37 copied + 3 */

   /* the client fixes 70 (mirrored), the backfill resumes */
   ASSERT_OK(duet_store_update(f->session, "test", "Task", bad, old_doc, DUET_STORE_REPLACE, NULL, error));
   ASSERT_OK(duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   duet_partner_progress_t progress;
   ASSERT_OK(duet_partner_progress_get(link, f->session, &progress, error));
   assert_true(progress.finished);
   assert_int_equal(progress.done, 99);
   assert_int_equal(progress.copied, 95); /* 5, 20, 33 and 70 were mirrored */
   duet_partner_progress_clear(&progress);
   bson_t *doc = partner_test_find(f->session, "TaskV2", "{\"_id\": \"33\"}");
   ASSERT_JSON_EQ(doc, "{\"_id\": \"33\", \"name\": \"changed 33\"}");
   bson_destroy(doc);
   assert_null(partner_test_find(f->session, "TaskV2", "{\"_id\": \"50\"}"));
   duet_partner_verify_report_t report;
   ASSERT_OK(duet_partner_verify(f->session, spec, 3, &report, error));
   assert_int_equal(report.partner_count, 99);
   assert_int_equal(duet_partner_verify_differences(&report), 0);
   duet_partner_verify_report_clear(&report);
   bson_destroy(old_doc);
   bson_destroy(bad);
   duet_partner_link_destroy(link);
   duet_partner_spec_destroy(spec);
}

static void test_in_place_backfill(void **state)
{
   store_fixture_t *f = *state;
   insert_tasks(f->session, 1, 8);
   duet_partner_spec_t *spec = partner_test_spec_json(
       "{\"version\": 1, \"strategy\": \"in-place\", \"database\": \"test\", \"source\": \"Task\", \"schema\": "
       "{\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\", \"priority\"], "
       "\"properties\": {\"_id\": {\"bsonType\": \"int\"}, \"name\": {\"bsonType\": \"string\"}, \"complete\": "
       "{\"bsonType\": \"bool\"}, \"priority\": {\"bsonType\": \"int\"}}}, \"forward\": [{\"$addFields\": "
       "{\"priority\": {\"$ifNull\": [\"$priority\", {\"$literal\": 3}]}}}], \"options\": {\"chunk_size\": 2}}");
   duet_partner_verify_report_t report;
   ASSERT_OK(duet_partner_verify(f->session, spec, 3, &report, error));
   assert_int_equal(report.differing, 7);
   duet_partner_verify_report_clear(&report);
   duet_partner_check_report_t check;
   ASSERT_OK(duet_partner_check(f->session, spec, 3, &check, error));
   assert_int_equal(duet_partner_check_problems(&check), 0);
   duet_partner_check_report_clear(&check);

   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   assert_string_equal(duet_partner_link_name(link), "test.Task:in-place");
   ASSERT_OK(duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   bson_t *doc = partner_test_find(f->session, "Task", "{\"_id\": 4}");
   ASSERT_JSON_EQ(doc, "{\"_id\": 4, \"name\": \"task 4\", \"complete\": false, \"priority\": 3}");
   bson_destroy(doc);
   ASSERT_OK(duet_partner_verify(f->session, spec, 3, &report, error));
   assert_int_equal(duet_partner_verify_differences(&report), 0);
   duet_partner_verify_report_clear(&report);
   /* a document that would still not satisfy the new schema is reported by check */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": 50, \"name\": 5}");
   ASSERT_OK(duet_partner_check(f->session, spec, 3, &check, error));
   assert_int_equal(check.counts[DUET_PARTNER_CHECK_SCHEMA_FAILED], 1);
   duet_partner_check_report_clear(&check);
   ASSERT_OK(duet_partner_retire(link, f->session, DUET_PARTNER_KEEP_NEW, false, error));
   duet_partner_spec_destroy(spec);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_check_counts_every_problem, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_check_round_trip_and_clean_data, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_backfill_large_chunks, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_backfill_resumes_and_keeps_mirrored_documents, store_fixture_open,
                                       store_fixture_close),
       cmocka_unit_test_setup_teardown(test_verify_reports_differences, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_backfill_error_is_recorded, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_in_place_backfill, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
