/*
 * test_cursor_registry.c — the cursor registry of duetd (src/server/cursor.c)
 * in-process: batch sizes and the 16 MiB limit, getMore until exhausted,
 * killCursors, namespaces, idle timeout, sessions, tailable awaitData waits
 * and wake-ups, CursorInUse, and sources that fail.
 */
#include "duet_test.h"

#include "server/cursor.h"

#include <pthread.h>
#include <unistd.h>

/* An array source of `count` documents {i: n, pad: "<size bytes>"}. */
static duet_cursor_source_t make_array(size_t count, size_t pad_size)
{
   bson_t **docs = bson_malloc0(sizeof *docs * (count ? count : 1));
   char *pad = bson_malloc(pad_size + 1);
   memset(pad, 'x', pad_size);
   pad[pad_size] = '\0';
   for (size_t i = 0; i < count; i++) {
      docs[i] = bson_new();
      BSON_APPEND_INT64(docs[i], "i", (int64_t)i);
      BSON_APPEND_UTF8(docs[i], "pad", pad);
   }
   bson_free(pad);
   return duet_cursor_source_from_array(docs, count);
}

/* Reads reply.cursor: id, ns, and the length of the batch array named `batch`. */
static int64_t reply_cursor(const bson_t *reply, const char *batch, uint32_t *count, int64_t *first_i)
{
   bson_iter_t iter, cursor, array;
   assert_true(bson_iter_init_find(&iter, reply, "cursor"));
   assert_true(bson_iter_recurse(&iter, &cursor));
   int64_t id = -1;
   *count = 0;
   while (bson_iter_next(&cursor)) {
      if (strcmp(bson_iter_key(&cursor), "id") == 0) {
         assert_true(BSON_ITER_HOLDS_INT64(&cursor));
         id = bson_iter_int64(&cursor);
      } else if (strcmp(bson_iter_key(&cursor), batch) == 0) {
         bson_iter_recurse(&cursor, &array);
         while (bson_iter_next(&array)) {
            if (*count == 0 && first_i) {
               bson_iter_t field;
               bson_iter_t doc;
               bson_iter_recurse(&array, &doc);
               assert_true(bson_iter_find(&doc, "i"));
               field = doc;
               *first_i = bson_iter_int64(&field);
            }
            (*count)++;
         }
      }
   }
   return id;
}

static void test_batches_until_exhausted(void **state)
{
   (void)state;
   duet_cursor_registry_t registry;
   duet_cursor_registry_init(&registry, DUET_CURSOR_DEFAULT_TIMEOUT_MS);
   duet_error_t error = DUET_ERROR_INIT;
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   bson_t reply = BSON_INITIALIZER;
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(250, 10), &options, &reply, &error));
   uint32_t count;
   int64_t first;
   int64_t id = reply_cursor(&reply, "firstBatch", &count, &first);
   assert_int_equal(count, 101);
   assert_int_equal(first, 0);
   assert_true(id > 0);
   bson_reinit(&reply);
   assert_true(duet_cursor_get_more(&registry, id, "db.c", 100, -1, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "nextBatch", &count, &first), id);
   assert_int_equal(count, 100);
   assert_int_equal(first, 101);
   bson_reinit(&reply);
   assert_true(duet_cursor_get_more(&registry, id, "db.c", 0, -1, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "nextBatch", &count, &first), 0);
   assert_int_equal(count, 49);
   assert_int_equal(first, 201);
   bson_reinit(&reply);
   assert_false(duet_cursor_get_more(&registry, id, "db.c", 0, -1, &reply, &error));
   assert_int_equal(error.code, DUET_ERR_CURSOR_NOT_FOUND);
   assert_int_equal(registry.open_count, 0);
   bson_destroy(&reply);
   duet_error_clear(&error);
   duet_cursor_registry_destroy(&registry);
}

static void test_small_results_and_options(void **state)
{
   (void)state;
   duet_cursor_registry_t registry;
   duet_cursor_registry_init(&registry, DUET_CURSOR_DEFAULT_TIMEOUT_MS);
   duet_error_t error = DUET_ERROR_INIT;
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   bson_t reply = BSON_INITIALIZER;
   uint32_t count;
   /* fewer than a batch: exhausted at once */
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(3, 1), &options, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "firstBatch", &count, NULL), 0);
   assert_int_equal(count, 3);
   /* empty */
   bson_reinit(&reply);
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(0, 1), &options, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "firstBatch", &count, NULL), 0);
   assert_int_equal(count, 0);
   /* batchSize 0: an empty first batch and an open cursor */
   options.batch_size = 0;
   bson_reinit(&reply);
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(3, 1), &options, &reply, &error));
   int64_t id = reply_cursor(&reply, "firstBatch", &count, NULL);
   assert_true(id > 0);
   assert_int_equal(count, 0);
   /* singleBatch closes after the first batch */
   options.batch_size = 2;
   options.single_batch = true;
   bson_reinit(&reply);
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(5, 1), &options, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "firstBatch", &count, NULL), 0);
   assert_int_equal(count, 2);
   /* getMore on another namespace: 13; maxTimeMS on a non-awaitData cursor: 2 */
   bson_reinit(&reply);
   assert_false(duet_cursor_get_more(&registry, id, "db.other", 0, -1, &reply, &error));
   assert_int_equal(error.code, DUET_ERR_UNAUTHORIZED);
   assert_false(duet_cursor_get_more(&registry, id, "db.c", 0, 100, &reply, &error));
   assert_int_equal(error.code, DUET_ERR_BAD_VALUE);
   assert_int_equal(registry.open_count, 1);
   bson_destroy(&reply);
   duet_error_clear(&error);
   duet_cursor_registry_destroy(&registry); /* frees the open cursor */
}

static void test_sixteen_megabyte_batches(void **state)
{
   (void)state;
   duet_cursor_registry_t registry;
   duet_cursor_registry_init(&registry, DUET_CURSOR_DEFAULT_TIMEOUT_MS);
   duet_error_t error = DUET_ERROR_INIT;
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   bson_t reply = BSON_INITIALIZER;
   uint32_t count;
   int64_t first;
   assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(40, 1024 * 1024), &options, &reply, &error));
   int64_t id = reply_cursor(&reply, "firstBatch", &count, &first);
   assert_true(id > 0);
   assert_int_equal(count, 15); /* the 16th document would pass 16 MiB */
   bson_reinit(&reply);
   assert_true(duet_cursor_get_more(&registry, id, "db.c", 0, -1, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "nextBatch", &count, &first), id);
   assert_int_equal(count, 15);
   assert_int_equal(first, 15); /* the document held back is not lost */
   bson_reinit(&reply);
   assert_true(duet_cursor_get_more(&registry, id, "db.c", 0, -1, &reply, &error));
   assert_int_equal(reply_cursor(&reply, "nextBatch", &count, &first), 0);
   assert_int_equal(count, 10);
   assert_int_equal(first, 30);
   bson_destroy(&reply);
   duet_cursor_registry_destroy(&registry);
}

static void test_kill_timeout_and_sessions(void **state)
{
   (void)state;
   duet_cursor_registry_t registry;
   duet_cursor_registry_init(&registry, 1000);
   duet_error_t error = DUET_ERROR_INIT;
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   options.batch_size = 1;
   bson_t reply = BSON_INITIALIZER;
   uint32_t count;
   int64_t ids[4];
   for (int i = 0; i < 4; i++) {
      options.has_lsid = i >= 2;
      memset(options.lsid, i, sizeof options.lsid);
      bson_reinit(&reply);
      assert_true(duet_cursor_reply_first(&registry, "db.c", make_array(5, 1), &options, &reply, &error));
      ids[i] = reply_cursor(&reply, "firstBatch", &count, NULL);
      assert_true(ids[i] > 0);
   }
   assert_int_equal(registry.open_count, 4);
   /* killCursors: one of ours, one unknown; another namespace does not match */
   bson_t *list = BCON_NEW("0", BCON_INT64(ids[0]), "1", BCON_INT64(42), "2", BCON_INT64(ids[1]));
   bson_iter_t iter;
   bson_iter_init(&iter, list);
   bson_reinit(&reply);
   duet_cursor_kill(&registry, "db.c", &iter, &reply);
   char expected[512];
   snprintf(expected, sizeof expected,
            "{\"cursorsKilled\": [{\"$numberLong\": \"%lld\"}, {\"$numberLong\": \"%lld\"}], "
            "\"cursorsNotFound\": [{\"$numberLong\": \"42\"}], \"cursorsAlive\": [], \"cursorsUnknown\": []}",
            (long long)ids[0], (long long)ids[1]);
   ASSERT_JSON_EQ(&reply, expected);
   bson_destroy(list);
   assert_int_equal(registry.open_count, 2);
   /* session 3 ends: only its cursor closes */
   uint8_t lsid[16];
   memset(lsid, 3, sizeof lsid);
   assert_int_equal(duet_cursor_kill_session(&registry, lsid), 1);
   assert_int_equal(registry.open_count, 1);
   /* idle timeout */
   assert_int_equal(duet_cursor_reap(&registry, duet_cursor_now_us()), 0);
   assert_int_equal(duet_cursor_reap(&registry, duet_cursor_now_us() + 2 * 1000 * 1000), 1);
   assert_int_equal(registry.timed_out, 1);
   bson_reinit(&reply);
   assert_false(duet_cursor_get_more(&registry, ids[2], "db.c", 0, -1, &reply, &error));
   assert_int_equal(error.code, DUET_ERR_CURSOR_NOT_FOUND);
   assert_int_equal(registry.open_count, 0);
   bson_destroy(&reply);
   duet_error_clear(&error);
   duet_cursor_registry_destroy(&registry);
}

/* ---- a tailable source fed by another thread ------------------------------------ */

typedef struct tail_state {
   pthread_mutex_t lock;
   pthread_cond_t cond;
   int64_t available; /* documents pushed */
   int64_t consumed;
   bool fail;
   bson_t current; /* the document handed out last (borrowed by the registry until the next call) */
} tail_state_t;

static duet_cursor_step_t tail_next(void *state, const bson_t **doc, duet_error_t *error)
{
   tail_state_t *tail = state;
   pthread_mutex_lock(&tail->lock);
   duet_cursor_step_t step = DUET_CURSOR_STEP_NONE_YET;
   if (tail->fail) {
      duet_error_set(error, DUET_ERR_CHANGE_STREAM_HISTORY_LOST, "history lost");
      step = DUET_CURSOR_STEP_ERROR;
   } else if (tail->consumed < tail->available) {
      bson_reinit(&tail->current);
      BSON_APPEND_INT64(&tail->current, "i", tail->consumed++);
      *doc = &tail->current;
      step = DUET_CURSOR_STEP_DOC;
   }
   pthread_mutex_unlock(&tail->lock);
   return step;
}

static void tail_wait(void *state, int64_t deadline_us)
{
   tail_state_t *tail = state;
   pthread_mutex_lock(&tail->lock);
   while (tail->consumed == tail->available && !tail->fail && duet_cursor_now_us() < deadline_us) {
      int64_t wait_us = deadline_us - duet_cursor_now_us();
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      int64_t ns = until.tv_nsec + (wait_us > 0 ? wait_us : 0) % 1000000 * 1000;
      until.tv_sec += (wait_us > 0 ? wait_us : 0) / 1000000 + ns / 1000000000;
      until.tv_nsec = ns % 1000000000;
      pthread_cond_timedwait(&tail->cond, &tail->lock, &until);
   }
   pthread_mutex_unlock(&tail->lock);
}

static void tail_fields(void *state, bson_t *cursor_document)
{
   tail_state_t *tail = state;
   bson_t token;
   bson_append_document_begin(cursor_document, "postBatchResumeToken", -1, &token);
   BSON_APPEND_INT64(&token, "consumed", tail->consumed);
   bson_append_document_end(cursor_document, &token);
}

static void tail_destroy(void *state)
{
   (void)state; /* owned by the test */
}

static const duet_cursor_source_ops_t tail_ops = {tail_next, tail_wait, tail_fields, tail_destroy};

typedef struct get_more_call {
   duet_cursor_registry_t *registry;
   int64_t id;
   int64_t await_ms;
   bool ok;
   uint32_t count;
   int64_t returned_id;
   int32_t code;
   int64_t elapsed_us;
} get_more_call_t;

static void *get_more_thread(void *arg)
{
   get_more_call_t *call = arg;
   bson_t reply = BSON_INITIALIZER;
   duet_error_t error = DUET_ERROR_INIT;
   int64_t start = duet_cursor_now_us();
   call->ok = duet_cursor_get_more(call->registry, call->id, "db.$cmd.aggregate", 0, call->await_ms, &reply, &error);
   call->elapsed_us = duet_cursor_now_us() - start;
   if (call->ok) {
      call->returned_id = reply_cursor(&reply, "nextBatch", &call->count, NULL);
   }
   call->code = error.code;
   bson_destroy(&reply);
   duet_error_clear(&error);
   return NULL;
}

static void test_tailable_await(void **state)
{
   (void)state;
   tail_state_t tail = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false, BSON_INITIALIZER};
   duet_cursor_registry_t registry;
   duet_cursor_registry_init(&registry, DUET_CURSOR_DEFAULT_TIMEOUT_MS);
   duet_error_t error = DUET_ERROR_INIT;
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   options.tailable = true;
   options.await_data = true;
   bson_t reply = BSON_INITIALIZER;
   assert_true(duet_cursor_reply_first(&registry, "db.$cmd.aggregate", (duet_cursor_source_t){&tail_ops, &tail},
                                       &options, &reply, &error));
   uint32_t count;
   int64_t id = reply_cursor(&reply, "firstBatch", &count, NULL);
   assert_true(id > 0); /* an empty change stream stays open */
   assert_int_equal(count, 0);
   bson_iter_t iter;
   assert_true(bson_iter_init_find(&iter, &reply, "cursor"));
   bson_iter_t token;
   assert_true(bson_iter_recurse(&iter, &token) && bson_iter_find(&token, "postBatchResumeToken"));

   /* nothing comes: the getMore waits its maxTimeMS and returns an empty batch, cursor open */
   get_more_call_t call = {&registry, id, 150, false, 0, 0, 0, 0};
   get_more_thread(&call);
   assert_true(call.ok);
   assert_int_equal(call.count, 0);
   assert_int_equal(call.returned_id, id);
   assert_true(call.elapsed_us >= 140 * 1000);

   /* a document pushed while a getMore waits wakes it at once; a second getMore meanwhile: CursorInUse */
   get_more_call_t waiting = {&registry, id, 5000, false, 0, 0, 0, 0};
   pthread_t thread;
   pthread_create(&thread, NULL, get_more_thread, &waiting);
   usleep(100 * 1000);
   get_more_call_t second = {&registry, id, 10, false, 0, 0, 0, 0};
   get_more_thread(&second);
   assert_false(second.ok);
   assert_int_equal(second.code, DUET_ERR_CURSOR_IN_USE);
   pthread_mutex_lock(&tail.lock);
   tail.available = 2;
   pthread_cond_broadcast(&tail.cond);
   pthread_mutex_unlock(&tail.lock);
   pthread_join(thread, NULL);
   assert_true(waiting.ok);
   assert_int_equal(waiting.count, 2);
   assert_true(waiting.elapsed_us < 2000 * 1000);

   /* a source error closes the cursor */
   tail.fail = true;
   get_more_call_t failing = {&registry, id, 10, false, 0, 0, 0, 0};
   get_more_thread(&failing);
   assert_false(failing.ok);
   assert_int_equal(failing.code, DUET_ERR_CHANGE_STREAM_HISTORY_LOST);
   assert_int_equal(registry.open_count, 0);
   bson_destroy(&reply);
   bson_destroy(&tail.current);
   duet_error_clear(&error);
   duet_cursor_registry_destroy(&registry);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batches_until_exhausted), cmocka_unit_test(test_small_results_and_options),
      cmocka_unit_test(test_sixteen_megabyte_batches), cmocka_unit_test(test_kill_timeout_and_sessions),
      cmocka_unit_test(test_tailable_await),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
