/*
 * test_changestream_notify.c — the store's commit notification that change
 * streams wait on (src/store/store_notify.c), in-process: a commit from another
 * thread (as a backfill thread makes) wakes a waiter at once; a write made by a
 * hook inside another write's transaction counts with it; an explicit
 * transaction wakes only at commit, an aborted one never; a commit that came
 * between the reader's look and its wait is not missed; a commit to another
 * store does not end the wait; the deadline is honoured.
 */
#include "store_test.h"

#include <pthread.h>
#include <time.h>

static int64_t now_us(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void insert_one(duet_session_t *session, const char *coll, int32_t id)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_t *doc = BCON_NEW("_id", BCON_INT32(id));
   bool ok = duet_store_insert(session, "db", coll, doc, NULL, &error);
   if (!ok) {
      fprintf(stderr, "insert: %s\n", error.message);
   }
   assert_true(ok);
   bson_destroy(doc);
}

typedef struct writer {
   duet_store_t *store;
   int64_t delay_us;
   int64_t wrote_at_us;
} writer_t;

/* A background thread with its own session, like a partner backfill. */
static void *writer_thread(void *arg)
{
   writer_t *writer = arg;
   duet_session_t *session;
   duet_error_t error = DUET_ERROR_INIT;
   assert_true(duet_session_open(writer->store, &session, &error));
   struct timespec pause = {0, (long)writer->delay_us * 1000};
   nanosleep(&pause, NULL);
   writer->wrote_at_us = now_us();
   insert_one(session, "background", 1);
   duet_session_close(session);
   return NULL;
}

static void test_background_commit_wakes(void **state)
{
   store_fixture_t *f = *state;
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   writer_t writer = {f->store, 50 * 1000, 0};
   pthread_t thread;
   assert_int_equal(pthread_create(&thread, NULL, writer_thread, &writer), 0);
   int64_t started = now_us();
   assert_true(duet_store_changelog_wait(f->store, sequence, started + 10 * 1000000));
   int64_t woke = now_us();
   pthread_join(thread, NULL);
   assert_true(woke - started < 5 * 1000000); /* long before the 10 s deadline */
   assert_true(woke - writer.wrote_at_us < 1000000);
   assert_true(duet_store_changelog_sequence(f->store) > sequence);
}

static void test_missed_commit_is_seen(void **state)
{
   store_fixture_t *f = *state;
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   insert_one(f->session, "early", 1); /* before the wait begins */
   int64_t started = now_us();
   assert_true(duet_store_changelog_wait(f->store, sequence, started + 10 * 1000000));
   assert_true(now_us() - started < 1000000);
}

static void test_deadline(void **state)
{
   store_fixture_t *f = *state;
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   int64_t started = now_us();
   assert_false(duet_store_changelog_wait(f->store, sequence, started + 100 * 1000));
   int64_t waited = now_us() - started;
   assert_true(waited >= 100 * 1000);
   assert_true(waited < 5 * 1000000);
   assert_false(duet_store_changelog_wait(f->store, sequence, started)); /* a past deadline returns at once */
}

static void test_transactions(void **state)
{
   store_fixture_t *f = *state;
   duet_error_t error = DUET_ERROR_INIT;
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   assert_true(duet_session_begin(f->session, &error));
   insert_one(f->session, "txn", 1);
   insert_one(f->session, "txn", 2);
   assert_int_equal(duet_store_changelog_sequence(f->store), sequence); /* not before the commit */
   duet_session_abort(f->session);
   assert_false(duet_store_changelog_wait(f->store, sequence, now_us() + 20 * 1000)); /* aborted: nothing */
   assert_true(duet_session_begin(f->session, &error));
   insert_one(f->session, "txn", 3);
   insert_one(f->session, "txn", 4);
   assert_true(duet_session_commit(f->session, &error));
   assert_int_equal(duet_store_changelog_sequence(f->store), sequence + 1); /* one commit, one wake-up */
}

static bool mirror_hook(duet_session_t *session, const duet_store_write_t *write, void *context, duet_error_t *error)
{
   (void)context;
   if (write->op != DUET_STORE_OP_INSERT) {
      return true;
   }
   return duet_store_insert(session, "db", "mirror", write->new_doc, NULL, error);
}

typedef struct event_count {
   int source, mirror;
} event_count_t;

static bool count_event(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)ts;
   event_count_t *count = context;
   bson_iter_t iter, ns;
   if (bson_iter_init_find(&iter, event, "ns") && bson_iter_recurse(&iter, &ns) && bson_iter_find(&ns, "coll")) {
      const char *coll = bson_iter_utf8(&ns, NULL);
      count->source += strcmp(coll, "source") == 0;
      count->mirror += strcmp(coll, "mirror") == 0;
   }
   return true;
}

static void test_hook_writes_commit_with_the_write(void **state)
{
   store_fixture_t *f = *state;
   duet_error_t error = DUET_ERROR_INIT;
   uint64_t id;
   assert_true(duet_store_hook_add(f->store, "db", "source", "mirror", mirror_hook, NULL, &id, &error));
   duet_store_ts_t before;
   assert_true(duet_store_changelog_latest(f->session, &before, &error));
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   insert_one(f->session, "source", 7);
   assert_true(duet_store_changelog_wait(f->store, sequence, now_us() + 1000000));
   event_count_t count = {0, 0};
   assert_true(duet_store_changelog_read(f->session, before, 0, count_event, &count, &error));
   assert_int_equal(count.source, 1);
   assert_int_equal(count.mirror, 1); /* the mirror's event is visible with the wake-up */
   duet_store_hook_remove(f->store, id);
}

static void test_other_store_does_not_end_the_wait(void **state)
{
   store_fixture_t *f = *state;
   store_fixture_t *other_fixture;
   void *other_state = NULL;
   assert_int_equal(store_fixture_open(&other_state), 0);
   other_fixture = other_state;
   uint64_t sequence = duet_store_changelog_sequence(f->store);
   insert_one(other_fixture->session, "elsewhere", 1);
   assert_false(duet_store_changelog_wait(f->store, sequence, now_us() + 50 * 1000));
   assert_int_equal(store_fixture_close(&other_state), 0);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_background_commit_wakes, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_missed_commit_is_seen, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_deadline, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_transactions, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_hook_writes_commit_with_the_write, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_other_store_does_not_end_the_wait, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
