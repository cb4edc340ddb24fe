/*
 * test_store_checkpoint.c — the WAL checkpointer thread (store_checkpoint.c): once the WAL
 * passes DUET_STORE_CHECKPOINT_PAGES, commits wake it and it moves the pages into the
 * database file while the store is open; everything stays readable, and a reopened store
 * sees every commit.
 */
#include "store_test.h"

#include "store/store_internal.h"

#include <sys/stat.h>
#include <time.h>

static off_t file_size(const char *path)
{
   struct stat st;
   return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Inserts `count` documents of ~2 KB each, 100 per transaction, _id from `first`. */
static void insert_big(duet_session_t *session, int first, int count)
{
   char filler[2048];
   memset(filler, 'x', sizeof filler - 1);
   filler[sizeof filler - 1] = '\0';
   for (int i = 0; i < count; i += 100) {
      ASSERT_OK(duet_session_begin(session, error));
      for (int j = i; j < i + 100 && j < count; j++) {
         bson_t *doc = BCON_NEW("_id", BCON_INT32(first + j), "filler", BCON_UTF8(filler));
         ASSERT_OK(duet_store_insert(session, "test", "big", doc, NULL, error));
         bson_destroy(doc);
      }
      ASSERT_OK(duet_session_commit(session, error));
   }
}

static void test_checkpointer_moves_pages_while_open(void **state)
{
   store_fixture_t *f = *state;
   assert_true(f->store->checkpoint_running);
   char *path = bson_strdup_printf("%s/duet.sqlite", f->directory);
   off_t before = file_size(path);
   /* ~6 MB of documents and as much change log: well past 1000 pages of 4 KB */
   insert_big(f->session, 0, 3000);
   struct timespec pause = {0, 10 * 1000 * 1000};
   for (int i = 0; i < 1000 && atomic_load(&f->store->checkpoints) == 0; i++) {
      nanosleep(&pause, NULL);
   }
   assert_true(atomic_load(&f->store->checkpoints) > 0);
   /* the checkpointer copied committed pages into the database file */
   for (int i = 0; i < 1000 && file_size(path) < before + 4 * 1024 * 1024; i++) {
      nanosleep(&pause, NULL);
   }
   assert_true(file_size(path) >= before + 4 * 1024 * 1024);
   /* more writes after the checkpoint (the WAL restarts), then everything is there */
   insert_big(f->session, 3000, 500);
   int64_t count = 0;
   ASSERT_OK(duet_store_count(f->session, "test", "big", &count, error));
   assert_int_equal(count, 3500);
   /* reopen: every commit survived */
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   ASSERT_OK(duet_store_count(f->session, "test", "big", &count, error));
   assert_int_equal(count, 3500);
   bson_free(path);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_checkpointer_moves_pages_while_open, store_fixture_open,
                                       store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
