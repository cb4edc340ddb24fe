/*
 * test_store_hooks.c — write hooks: a mirror pair a <-> b registered with one
 * origin copies writes without echo, hooks see old and new documents, a hook's
 * error aborts the whole write (documents and change log), removal works.
 */
#include "store_test.h"

typedef struct mirror {
   const char *target;
   int calls;
   int32_t fail_code; /* nonzero: fail with this code */
} mirror_t;

static bool mirror_hook(duet_session_t *session, const duet_store_write_t *write, void *context, duet_error_t *error)
{
   mirror_t *m = context;
   m->calls++;
   if (m->fail_code) {
      duet_error_set(error, m->fail_code, "mirror to %s refused the write", m->target);
      return false;
   }
   assert_string_equal(write->origin ? write->origin : "", "");
   switch (write->op) {
   case DUET_STORE_OP_INSERT: return duet_store_insert(session, write->db, m->target, write->new_doc, NULL, error);
   case DUET_STORE_OP_UPDATE:
   case DUET_STORE_OP_REPLACE: {
      bson_iter_t id;
      bson_iter_init_find(&id, write->old_doc, "_id");
      bson_t current;
      bool found;
      if (!duet_store_find_id(session, write->db, m->target, bson_iter_value(&id), &current, &found, error)) {
         return false;
      }
      assert_true(found);
      bool ok = duet_store_update(session, write->db, m->target, &current, write->new_doc,
                                  write->op == DUET_STORE_OP_UPDATE ? DUET_STORE_UPDATE : DUET_STORE_REPLACE, NULL,
                                  error);
      bson_destroy(&current);
      return ok;
   }
   case DUET_STORE_OP_DELETE: {
      bson_iter_t id;
      bson_iter_init_find(&id, write->old_doc, "_id");
      return duet_store_delete(session, write->db, m->target, bson_iter_value(&id), NULL, error);
   }
   }
   return false;
}

static int64_t count_of(duet_session_t *session, const char *coll)
{
   int64_t n = -1;
   ASSERT_OK(duet_store_count(session, "db", coll, &n, error));
   return n;
}

static bool count_events(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)event;
   (void)ts;
   (*(int *)context)++;
   return true;
}

static void test_mirror_pair_without_echo(void **state)
{
   store_fixture_t *f = *state;
   mirror_t to_b = {"b", 0, 0}, to_a = {"a", 0, 0};
   uint64_t id_ab, id_ba;
   ASSERT_OK(duet_store_hook_add(f->store, "db", "a", "mirror:a-b", mirror_hook, &to_b, &id_ab, error));
   ASSERT_OK(duet_store_hook_add(f->store, "db", "b", "mirror:a-b", mirror_hook, &to_a, &id_ba, error));
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 1, \"v\": 1}");
   store_test_insert_json(f->session, "db", "b", "{\"_id\": 2, \"v\": 2}");
   assert_int_equal(to_b.calls, 1);
   assert_int_equal(to_a.calls, 1);
   assert_int_equal(count_of(f->session, "a"), 2);
   assert_int_equal(count_of(f->session, "b"), 2);
   /* update on a reaches b; delete on b reaches a */
   bson_t *old_doc = TEST_JSON("{\"_id\": 1, \"v\": 1}");
   bson_t *new_doc = TEST_JSON("{\"_id\": 1, \"v\": 10}");
   ASSERT_OK(duet_store_update(f->session, "db", "a", old_doc, new_doc, DUET_STORE_UPDATE, NULL, error));
   bson_value_t one = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
   bson_t mirrored;
   bool found;
   ASSERT_OK(duet_store_find_id(f->session, "db", "b", &one, &mirrored, &found, error));
   ASSERT_JSON_EQ(&mirrored, "{\"_id\": 1, \"v\": 10}");
   bson_destroy(&mirrored);
   bson_value_t two = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 2};
   ASSERT_OK(duet_store_delete(f->session, "db", "b", &two, NULL, error));
   assert_int_equal(count_of(f->session, "a"), 1);
   assert_int_equal(to_b.calls, 2);
   assert_int_equal(to_a.calls, 2);
   /* every write and its mirror are in the change log: 2 + 2 + 2 */
   int events = 0;
   ASSERT_OK(duet_store_changelog_read(f->session, 0, 0, count_events, &events, error));
   assert_int_equal(events, 8);
   duet_store_hook_remove(f->store, id_ab);
   duet_store_hook_remove(f->store, id_ba);
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 3}");
   assert_int_equal(to_b.calls, 2);
   bson_destroy(old_doc);
   bson_destroy(new_doc);
}

static void test_hook_error_aborts_the_write(void **state)
{
   store_fixture_t *f = *state;
   mirror_t refusing = {"b", 0, DUET_ERR_DOCUMENT_VALIDATION_FAILURE};
   uint64_t id;
   ASSERT_OK(duet_store_hook_add(f->store, "db", "a", "mirror", mirror_hook, &refusing, &id, error));
   duet_error_t err = DUET_ERROR_INIT;
   bson_t *doc = TEST_JSON("{\"_id\": 1}");
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE, duet_store_insert(f->session, "db", "a", doc, NULL, error));
   assert_string_equal(err.message, "mirror to b refused the write");
   duet_error_clear(&err);
   bson_destroy(doc);
   assert_int_equal(count_of(f->session, "a"), 0);
   int events = 0;
   ASSERT_OK(duet_store_changelog_read(f->session, 0, 0, count_events, &events, error));
   assert_int_equal(events, 0);
   /* inside an explicit transaction the caller aborts: nothing of it remains */
   ASSERT_OK(duet_session_begin(f->session, error));
   refusing.fail_code = 0;
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 2}");
   refusing.fail_code = DUET_ERR_DUPLICATE_KEY;
   doc = TEST_JSON("{\"_id\": 3}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "db", "a", doc, NULL, error));
   duet_error_clear(&err);
   bson_destroy(doc);
   duet_session_abort(f->session);
   assert_int_equal(count_of(f->session, "a"), 0);
   assert_int_equal(count_of(f->session, "b"), 0);
   duet_store_hook_remove(f->store, id);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_mirror_pair_without_echo, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_hook_error_aborts_the_write, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
