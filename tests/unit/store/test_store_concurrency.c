/*
 * test_store_concurrency.c — one store shared by threads, one session each:
 * writers are serialized and commit 10 documents at a time, readers in read
 * snapshots always see whole commits (document count and change-log length a
 * multiple of 10 and equal); a full disk is an error at the operation and
 * leaves every acknowledged write readable.
 */
#include "store_test.h"

#include "store/store_internal.h"

#include <pthread.h>

enum { WRITERS = 2, READERS = 3, COMMITS = 30, BATCH = 10 };

typedef struct worker {
   duet_store_t *store;
   int index;
   int failures;
   int snapshots;
} worker_t;

static atomic_int writers_done;

static void *writer_main(void *arg)
{
   worker_t *w = arg;
   duet_session_t *session = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_session_open(w->store, &session, &error)) {
      w->failures++;
      return NULL;
   }
   for (int c = 0; c < COMMITS; c++) {
      if (!duet_session_begin(session, &error)) {
         w->failures++;
         break;
      }
      for (int i = 0; i < BATCH; i++) {
         bson_t *doc = BCON_NEW("_id", BCON_INT32(w->index * 100000 + c * BATCH + i), "w", BCON_INT32(w->index));
         if (!duet_store_insert(session, "db", "c", doc, NULL, &error)) {
            w->failures++;
         }
         bson_destroy(doc);
      }
      if (!duet_session_commit(session, &error)) {
         w->failures++;
      }
   }
   duet_error_clear(&error);
   duet_session_close(session);
   atomic_fetch_add(&writers_done, 1);
   return NULL;
}

static bool count_event(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)event;
   (void)ts;
   (*(int64_t *)context)++;
   return true;
}

static void *reader_main(void *arg)
{
   worker_t *w = arg;
   duet_session_t *session = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_session_open(w->store, &session, &error)) {
      w->failures++;
      return NULL;
   }
   while (atomic_load(&writers_done) < WRITERS) {
      if (!duet_session_begin_read(session, &error)) {
         w->failures++;
         break;
      }
      int64_t docs = 0, events = 0;
      if (!duet_store_count(session, "db", "c", &docs, &error) ||
          !duet_store_changelog_read(session, 0, 0, count_event, &events, &error)) {
         w->failures++;
      }
      duet_session_end_read(session);
      if (docs % BATCH != 0 || docs != events) {
         w->failures++;
      }
      w->snapshots++;
   }
   duet_error_clear(&error);
   duet_session_close(session);
   return NULL;
}

static void test_writers_and_snapshot_readers(void **state)
{
   store_fixture_t *f = *state;
   /* create the collection first so every count reads it */
   ASSERT_OK(duet_store_create_collection(f->session, "db", "c", NULL, error));
   atomic_store(&writers_done, 0);
   pthread_t threads[WRITERS + READERS];
   worker_t workers[WRITERS + READERS];
   for (int i = 0; i < WRITERS + READERS; i++) {
      workers[i] = (worker_t){.store = f->store, .index = i};
      pthread_create(&threads[i], NULL, i < WRITERS ? writer_main : reader_main, &workers[i]);
   }
   for (int i = 0; i < WRITERS + READERS; i++) {
      pthread_join(threads[i], NULL);
      assert_int_equal(workers[i].failures, 0);
   }
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, WRITERS * COMMITS * BATCH);
}

static void test_full_disk_is_an_error(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 0}");
   /* simulate a full disk on this connection: the file may not grow past its size plus a little */
   ASSERT_OK(duet_store_exec(f->session, "PRAGMA max_page_count = 40", error));
   char *filler = malloc(20001);
   memset(filler, 'f', 20000);
   filler[20000] = '\0';
   int acknowledged = 1;
   duet_error_t err = DUET_ERROR_INIT;
   for (int i = 1; i < 1000; i++) {
      bson_t *doc = BCON_NEW("_id", BCON_INT32(i), "filler", BCON_UTF8(filler));
      bool ok = duet_store_insert(f->session, "db", "c", doc, NULL, &err);
      bson_destroy(doc);
      if (!ok) {
         break;
      }
      acknowledged++;
   }
   free(filler);
   assert_int_equal(err.code, DUET_ERR_OUT_OF_DISK_SPACE);
   duet_error_clear(&err);
   assert_true(acknowledged > 1);
   /* reopen: integrity check passes, every acknowledged document is there */
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, acknowledged);
}

static void test_read_only_database_is_an_error(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 1}");
   /* a connection that may not write (as on a read-only file system) */
   ASSERT_OK(duet_store_exec(f->session, "PRAGMA query_only = 1", error));
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *doc = TEST_JSON("{\"_id\": 2}");
   ASSERT_FAILS(err, DUET_ERR_ILLEGAL_OPERATION, duet_store_insert(f->session, "db", "c", doc, NULL, error));
   duet_error_clear(&err);
   bson_destroy(doc);
   ASSERT_FAILS(err, DUET_ERR_ILLEGAL_OPERATION, duet_store_drop_collection(f->session, "db", "c", NULL, error));
   duet_error_clear(&err);
   /* reads still work and nothing changed */
   int64_t count;
   ASSERT_OK(duet_store_count(f->session, "db", "c", &count, error));
   assert_int_equal(count, 1);
   ASSERT_OK(duet_store_exec(f->session, "PRAGMA query_only = 0", error));
   store_test_insert_json(f->session, "db", "c", "{\"_id\": 2}");
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writers_and_snapshot_readers, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_full_disk_is_an_error, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_read_only_database_is_an_error, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
