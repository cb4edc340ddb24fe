/*
 * test_partner_concurrency.c — guarantees 4 and 5 on a real store: threads writing random
 * inserts, updates, replaces and deletes on both sides during and after a backfill leave the
 * pair equal through the transform (verify at 0); a backfill killed with SIGKILL at random
 * points resumes where it stopped and ends with verify at 0.
 */
#include "partner_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define SPEC_JSON                                                                                                      \
   "{\"version\": 1, \"database\": \"test\", \"source\": \"Task\", \"partner\": \"TaskV2\", \"schema\": {\"title\": "  \
   "\"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], \"properties\": {\"_id\": {\"bsonType\": "  \
   "\"string\"}, \"name\": {\"bsonType\": \"string\"}, \"complete\": {\"bsonType\": \"bool\"}}}, \"forward\": "        \
   "[{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}], \"reverse\": [{\"$addFields\": {\"_id\": "               \
   "{\"$toObjectId\": \"$_id\"}}}], \"options\": {\"chunk_size\": %d}}"

/* Shared pool of the logical ids written so far (as ObjectIds). */
typedef struct pool {
   pthread_mutex_t mutex;
   bson_oid_t *ids;
   size_t count, capacity;
} pool_t;

static void pool_add(pool_t *pool, const bson_oid_t *oid)
{
   pthread_mutex_lock(&pool->mutex);
   if (pool->count == pool->capacity) {
      pool->capacity = pool->capacity ? pool->capacity * 2 : 1024;
      pool->ids = bson_realloc(pool->ids, pool->capacity * sizeof *pool->ids);
   }
   pool->ids[pool->count++] = *oid;
   pthread_mutex_unlock(&pool->mutex);
}

static bson_oid_t pool_pick(pool_t *pool, unsigned *seed)
{
   pthread_mutex_lock(&pool->mutex);
   bson_oid_t oid = pool->ids[(size_t)rand_r(seed) % pool->count];
   pthread_mutex_unlock(&pool->mutex);
   return oid;
}

typedef struct shared {
   duet_store_t *store;
   pool_t pool;
   atomic_bool backfill_done;
   atomic_int writes;
} shared_t;

typedef struct writer {
   shared_t *shared;
   unsigned seed;
   int after_backfill; /* operations still to do once the backfill has finished */
   char failure[DUET_ERROR_MESSAGE_MAX + 64];
} writer_t;

/* The id of a logical document on one side: ObjectId on Task, its hex string on TaskV2. */
static void side_id(const bson_oid_t *oid, bool partner, bson_value_t *id, char hex[25])
{
   if (partner) {
      bson_oid_to_string(oid, hex);
      id->value_type = BSON_TYPE_UTF8;
      id->value.v_utf8.str = hex;
      id->value.v_utf8.len = 24;
   } else {
      id->value_type = BSON_TYPE_OID;
      id->value.v_oid = *oid;
   }
}

static bool writer_op(writer_t *w, duet_session_t *session, duet_error_t *error)
{
   shared_t *shared = w->shared;
   bool partner = rand_r(&w->seed) % 2;
   const char *coll = partner ? "TaskV2" : "Task";
   int op = rand_r(&w->seed) % 10;
   char hex[25];
   bson_value_t id;
   if (op < 4) { /* insert */
      bson_oid_t oid;
      bson_oid_init(&oid, NULL);
      side_id(&oid, partner, &id, hex);
      bson_t doc;
      bson_init(&doc);
      BSON_APPEND_VALUE(&doc, "_id", &id);
      BSON_APPEND_UTF8(&doc, "name", partner ? "v2 insert" : "v1 insert");
      bool ok = duet_store_insert(session, "test", coll, &doc, NULL, error);
      bson_destroy(&doc);
      if (ok) {
         pool_add(&shared->pool, &oid);
      }
      return ok;
   }
   bson_oid_t oid = pool_pick(&shared->pool, &w->seed);
   side_id(&oid, partner, &id, hex);
   if (op < 8) { /* update or replace in a transaction: read, modify, write */
      if (!duet_session_begin(session, error)) {
         return false;
      }
      bson_t current;
      bool found = false;
      if (!duet_store_find_id(session, "test", coll, &id, &current, &found, error)) {
         duet_session_abort(session);
         return false;
      }
      if (!found) {
         duet_session_abort(session);
         return true;
      }
      bson_t next;
      bson_init(&next);
      char name[64];
      snprintf(name, sizeof name, "%s %d", partner ? "v2 update" : "v1 update", rand_r(&w->seed) % 1000);
      BSON_APPEND_VALUE(&next, "_id", &id);
      BSON_APPEND_UTF8(&next, "name", name);
      if (op < 6) {
         BSON_APPEND_BOOL(&next, "complete", rand_r(&w->seed) % 2);
      }
      bool ok = duet_store_update(session, "test", coll, &current, &next,
                                  op < 6 ? DUET_STORE_UPDATE : DUET_STORE_REPLACE, NULL, error);
      bson_destroy(&current);
      bson_destroy(&next);
      if (!ok) {
         duet_session_abort(session);
         return false;
      }
      return duet_session_commit(session, error);
   }
   return duet_store_delete(session, "test", coll, &id, NULL, error);
}

static void *writer_main(void *arg)
{
   writer_t *w = arg;
   duet_session_t *session = NULL;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_session_open(w->shared->store, &session, &error)) {
      snprintf(w->failure, sizeof w->failure, "session: %s", error.message);
      return NULL;
   }
   for (;;) {
      if (atomic_load(&w->shared->backfill_done) && w->after_backfill-- <= 0) {
         break;
      }
      if (!writer_op(w, session, &error)) {
         snprintf(w->failure, sizeof w->failure, "write failed: %d %s", error.code, error.message);
         break;
      }
      atomic_fetch_add(&w->shared->writes, 1);
   }
   duet_error_clear(&error);
   duet_session_close(session);
   return NULL;
}

static void seed_source(duet_session_t *session, pool_t *pool, int count)
{
   ASSERT_OK(duet_session_begin(session, error));
   for (int i = 0; i < count; i++) {
      bson_oid_t oid;
      bson_oid_init(&oid, NULL);
      bson_t doc;
      bson_init(&doc);
      BSON_APPEND_OID(&doc, "_id", &oid);
      BSON_APPEND_UTF8(&doc, "name", "seeded");
      BSON_APPEND_BOOL(&doc, "complete", i % 2);
      ASSERT_OK(duet_store_insert(session, "test", "Task", &doc, NULL, error));
      bson_destroy(&doc);
      if (pool) {
         pool_add(pool, &oid);
      }
   }
   ASSERT_OK(duet_session_commit(session, error));
}

static void assert_verified(duet_session_t *session, const duet_partner_spec_t *spec)
{
   duet_partner_verify_report_t report;
   ASSERT_OK(duet_partner_verify(session, spec, 3, &report, error));
   if (duet_partner_verify_differences(&report) != 0) {
      char *json = bson_as_relaxed_extended_json(&report.examples, NULL);
      fail_msg("verify: %lld missing, %lld extra, %lld differing, %lld failed: %s", (long long)report.missing,
               (long long)report.extra, (long long)report.differing, (long long)report.failed, json);
   }
   assert_int_equal(report.source_count, report.partner_count);
   duet_partner_verify_report_clear(&report);
}

static void test_concurrent_writers_during_and_after_backfill(void **state)
{
   store_fixture_t *f = *state;
   shared_t shared = {.store = f->store};
   pthread_mutex_init(&shared.pool.mutex, NULL);
   atomic_init(&shared.backfill_done, false);
   atomic_init(&shared.writes, 0);
   seed_source(f->session, &shared.pool, 3000);
   char *json = bson_strdup_printf(SPEC_JSON, 40);
   duet_partner_spec_t *spec = partner_test_spec_json(json);
   bson_free(json);
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));

   enum { WRITERS = 4 };
   writer_t writers[WRITERS];
   pthread_t threads[WRITERS];
   for (int i = 0; i < WRITERS; i++) {
      writers[i] = (writer_t){.shared = &shared, .seed = 1234u + (unsigned)i, .after_backfill = 150};
      assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
   }
   /* the backfill runs here, chunk by chunk, interleaved with the writers */
   ASSERT_OK(duet_partner_backfill_run(link, f->session, NULL, NULL, error));
   int writes_during = atomic_load(&shared.writes);
   atomic_store(&shared.backfill_done, true);
   for (int i = 0; i < WRITERS; i++) {
      pthread_join(threads[i], NULL);
      if (writers[i].failure[0]) {
         fail_msg("writer %d: %s", i, writers[i].failure);
      }
   }
   assert_true(writes_during > 0);                                      /* writes happened during the backfill */
   assert_true(atomic_load(&shared.writes) >= writes_during + 4 * 150); /* and after it */
   assert_true(duet_partner_link_mirrored(link) > 0);
   assert_int_equal(duet_partner_link_mirror_errors(link), 0);
   assert_verified(f->session, spec);
   duet_partner_link_destroy(link);
   duet_partner_spec_destroy(spec);
   bson_free(shared.pool.ids);
   pthread_mutex_destroy(&shared.pool.mutex);
}

/* Child: opens the store, restores the link, backfills until killed (or done). */
static void backfill_child(const char *directory)
{
   duet_error_t error = DUET_ERROR_INIT;
   duet_store_t *store = NULL;
   duet_session_t *session = NULL;
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   if (!duet_store_open(directory, NULL, &store, &error) || !duet_session_open(store, &session, &error) ||
       !duet_partner_links_restore(session, &links, &count, &error) || count != 1 ||
       !duet_partner_backfill_run(links[0], session, NULL, NULL, &error)) {
      fprintf(stderr, "child: %s\n", error.message);
      _exit(3);
   }
   _exit(0);
}

static void test_backfill_killed_at_random_points_resumes(void **state)
{
   store_fixture_t *f = *state;
   seed_source(f->session, NULL, 4000);
   char *json = bson_strdup_printf(SPEC_JSON, 25);
   duet_partner_spec_t *spec = partner_test_spec_json(json);
   bson_free(json);
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   duet_partner_link_destroy(link);
   duet_session_close(f->session);
   duet_store_close(f->store);
   f->session = NULL;
   f->store = NULL;

   unsigned seed = 99;
   int kills = 0;
   for (int round = 0; round < 8; round++) {
      fflush(NULL);
      pid_t pid = fork();
      assert_true(pid >= 0);
      if (pid == 0) {
         backfill_child(f->directory);
      }
      usleep((useconds_t)(2000 + rand_r(&seed) % 30000));
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) {
         kills++;
      } else {
         assert_int_equal(WEXITSTATUS(status), 0); /* finished before the kill */
         break;
      }
   }
   assert_true(kills > 0);

   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 1);
   duet_partner_progress_t progress;
   ASSERT_OK(duet_partner_progress_get(links[0], f->session, &progress, error));
   int64_t done_before = progress.done;
   duet_partner_progress_clear(&progress);
   /* the persisted position matches what the partner holds: the killed chunks left nothing */
   assert_int_equal(partner_test_count(f->session, "TaskV2"), done_before);
   ASSERT_OK(duet_partner_backfill_run(links[0], f->session, NULL, NULL, error));
   ASSERT_OK(duet_partner_progress_get(links[0], f->session, &progress, error));
   assert_true(progress.finished);
   assert_int_equal(progress.done, 4000);
   assert_int_equal(progress.copied, 4000);
   duet_partner_progress_clear(&progress);
   assert_verified(f->session, spec);
   duet_partner_links_free(links, count);
   duet_partner_spec_destroy(spec);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_concurrent_writers_during_and_after_backfill, store_fixture_open,
                                       store_fixture_close),
       cmocka_unit_test_setup_teardown(test_backfill_killed_at_random_points_resumes, store_fixture_open,
                                       store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
