/*
 * test_partner_mirror.c — mirrors on a real store: every write kind copied both ways in the
 * same transaction, no echo, deletes by the transformed _id, writes that cannot be mirrored
 * (conversion, validator 121, _id collision 11000) failing on both sides with a message naming
 * the partner, links persisted and restored after reopening, retire.
 */
#include "partner_test.h"

#define OID1 "5f1e2d3c4b5a697887766551"
#define OID2 "5f1e2d3c4b5a697887766552"

static duet_partner_link_t *create_link(store_fixture_t *f, const char *spec_file)
{
   duet_partner_spec_t *spec = partner_test_spec_file(spec_file);
   duet_partner_link_t *link = NULL;
   ASSERT_OK(duet_partner_link_create(f->session, spec, &link, error));
   duet_partner_spec_destroy(spec);
   return link;
}

static bool count_events(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)event;
   (void)ts;
   (*(int *)context)++;
   return true;
}

static int event_count(store_fixture_t *f)
{
   int n = 0;
   ASSERT_OK(duet_store_changelog_read(f->session, 0, 0, count_events, &n, error));
   return n;
}

static void update_json(duet_session_t *session, const char *coll, const char *id_json, const char *new_json,
                        duet_store_update_kind_t kind)
{
   ASSERT_OK(duet_session_begin(session, error));
   bson_t *old_doc = partner_test_find(session, coll, id_json);
   assert_non_null(old_doc);
   bson_t *new_doc = TEST_JSON(new_json);
   ASSERT_OK(duet_store_update(session, "test", coll, old_doc, new_doc, kind, NULL, error));
   ASSERT_OK(duet_session_commit(session, error));
   bson_destroy(old_doc);
   bson_destroy(new_doc);
}

static void delete_json(duet_session_t *session, const char *coll, const char *id_json)
{
   bson_t *key = TEST_JSON(id_json);
   bson_iter_t iter;
   bson_iter_init_find(&iter, key, "_id");
   bool deleted = false;
   ASSERT_OK(duet_store_delete(session, "test", coll, bson_iter_value(&iter), &deleted, error));
   assert_true(deleted);
   bson_destroy(key);
}

static void assert_doc(duet_session_t *session, const char *coll, const char *id_json, const char *expected)
{
   bson_t *doc = partner_test_find(session, coll, id_json);
   if (!expected) {
      assert_null(doc);
      return;
   }
   assert_non_null(doc);
   ASSERT_JSON_EQ(doc, expected);
   bson_destroy(doc);
}

static void test_mirror_every_write_kind(void **state)
{
   store_fixture_t *f = *state;
   duet_partner_link_t *link = create_link(f, "task_v2.json");
   assert_string_equal(duet_partner_link_name(link), "test.Task:TaskV2");
   int events_before = event_count(f);

   /* insert on the old side appears on the new side, converted */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": {\"$oid\": \"" OID1 "\"}, \"name\": \"a\"}");
   assert_doc(f->session, "TaskV2", "{\"_id\": \"" OID1 "\"}", "{\"_id\": \"" OID1 "\", \"name\": \"a\"}");
   /* insert on the new side appears on the old side */
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"" OID2 "\", \"name\": \"b\"}");
   assert_doc(f->session, "Task", "{\"_id\": {\"$oid\": \"" OID2 "\"}}",
              "{\"_id\": {\"$oid\": \"" OID2 "\"}, \"name\": \"b\"}");
   /* no echo: one mirror call per write, each side has 2 documents, 4 change events */
   assert_int_equal(duet_partner_link_mirrored(link), 2);
   assert_int_equal(partner_test_count(f->session, "Task"), 2);
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 2);
   assert_int_equal(event_count(f) - events_before, 4);

   /* update (old side) and replace (new side) */
   update_json(f->session, "Task", "{\"_id\": {\"$oid\": \"" OID1 "\"}}",
               "{\"_id\": {\"$oid\": \"" OID1 "\"}, \"name\": \"a2\", \"complete\": true}", DUET_STORE_UPDATE);
   assert_doc(f->session, "TaskV2", "{\"_id\": \"" OID1 "\"}",
              "{\"_id\": \"" OID1 "\", \"name\": \"a2\", \"complete\": true}");
   update_json(f->session, "TaskV2", "{\"_id\": \"" OID2 "\"}", "{\"_id\": \"" OID2 "\", \"name\": \"b2\"}",
               DUET_STORE_REPLACE);
   assert_doc(f->session, "Task", "{\"_id\": {\"$oid\": \"" OID2 "\"}}",
              "{\"_id\": {\"$oid\": \"" OID2 "\"}, \"name\": \"b2\"}");

   /* deletes go by the transformed _id, both ways */
   delete_json(f->session, "TaskV2", "{\"_id\": \"" OID1 "\"}");
   assert_doc(f->session, "Task", "{\"_id\": {\"$oid\": \"" OID1 "\"}}", NULL);
   delete_json(f->session, "Task", "{\"_id\": {\"$oid\": \"" OID2 "\"}}");
   assert_doc(f->session, "TaskV2", "{\"_id\": \"" OID2 "\"}", NULL);
   assert_int_equal(partner_test_count(f->session, "Task"), 0);
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 0);
   assert_int_equal(duet_partner_link_mirrored(link), 6);
   assert_int_equal(duet_partner_link_mirror_errors(link), 0);
   duet_partner_link_destroy(link);

   /* after destroy (no retire) the hooks are gone but the link persists */
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": {\"$oid\": \"" OID1 "\"}, \"name\": \"x\"}");
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 0);
}

static void test_unmirrorable_writes_fail_on_both_sides(void **state)
{
   store_fixture_t *f = *state;
   duet_partner_link_t *link = create_link(f, "task_v2.json");
   int events_before = event_count(f);
   duet_error_t err = DUET_ERROR_INIT;

   /* new side: an _id that is no objectId cannot be converted back (241) */
   bson_t *doc = TEST_JSON("{\"_id\": \"not-an-oid\", \"name\": \"x\"}");
   ASSERT_FAILS(err, DUET_ERR_CONVERSION_FAILURE, duet_store_insert(f->session, "test", "TaskV2", doc, NULL, error));
   assert_non_null(strstr(err.message, "source collection test.Task"));
   assert_non_null(strstr(err.message, "the reverse transform failed"));
   duet_error_clear(&err);
   bson_destroy(doc);

   /* old side: a document the partner's validator rejects (name must be a string) fails with 121 */
   doc = TEST_JSON("{\"_id\": {\"$oid\": \"" OID1 "\"}, \"name\": 5}");
   ASSERT_FAILS(err, DUET_ERR_DOCUMENT_VALIDATION_FAILURE,
                duet_store_insert(f->session, "test", "Task", doc, NULL, error));
   assert_non_null(strstr(err.message, "partner collection test.TaskV2"));
   assert_non_null(strstr(err.message, "validator rejected"));
   duet_error_clear(&err);
   bson_destroy(doc);

   /* an _id collision on the partner: a partner document exists that the old side lacks
    * (written with the mirrors off), then the old side inserts the same logical document */
   duet_partner_link_destroy(link);
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"" OID2 "\", \"name\": \"orphan\"}");
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 1);
   doc = TEST_JSON("{\"_id\": {\"$oid\": \"" OID2 "\"}, \"name\": \"b\"}");
   ASSERT_FAILS(err, DUET_ERR_DUPLICATE_KEY, duet_store_insert(f->session, "test", "Task", doc, NULL, error));
   assert_non_null(strstr(err.message, "collides"));
   assert_non_null(strstr(err.message, "test.TaskV2"));
   duet_error_clear(&err);
   bson_destroy(doc);

   /* nothing of the failed writes remains on either side */
   assert_int_equal(partner_test_count(f->session, "Task"), 0);
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 1);
   assert_int_equal(event_count(f) - events_before, 1); /* only the orphan's insert */
   assert_int_equal(duet_partner_link_mirror_errors(links[0]), 1);
   duet_partner_links_free(links, count);
}

static void test_link_survives_reopen_and_retire(void **state)
{
   store_fixture_t *f = *state;
   duet_partner_link_t *link = create_link(f, "task_v2.json");
   duet_error_t err = DUET_ERROR_INIT;
   /* a second create of the same link is refused */
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   duet_partner_link_t *again = NULL;
   ASSERT_FAILS(err, DUET_ERR_NAMESPACE_EXISTS, duet_partner_link_create(f->session, spec, &again, error));
   duet_error_clear(&err);
   duet_partner_spec_destroy(spec);
   duet_partner_link_destroy(link);

   /* close and reopen the store: restore re-registers the mirrors */
   duet_session_close(f->session);
   duet_store_close(f->store);
   ASSERT_OK(duet_store_open(f->directory, NULL, &f->store, error));
   ASSERT_OK(duet_session_open(f->store, &f->session, error));
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 1);
   assert_string_equal(duet_partner_link_name(links[0]), "test.Task:TaskV2");
   store_test_insert_json(f->session, "test", "Task", "{\"_id\": {\"$oid\": \"" OID1 "\"}, \"name\": \"a\"}");
   assert_int_equal(partner_test_count(f->session, "TaskV2"), 1);

   /* both sides are reported as linked, another collection is not */
   bool linked = false;
   char *name = NULL;
   ASSERT_OK(duet_partner_collection_linked(f->session, "test", "TaskV2", &linked, &name, error));
   assert_true(linked);
   assert_string_equal(name, "test.Task:TaskV2");
   bson_free(name);
   ASSERT_OK(duet_partner_collection_linked(f->session, "test", "Task", &linked, NULL, error));
   assert_true(linked);
   ASSERT_OK(duet_partner_collection_linked(f->session, "other", "Task", &linked, NULL, error));
   assert_false(linked);
   ASSERT_OK(duet_partner_collection_linked(f->session, "test", "Users", &linked, NULL, error));
   assert_false(linked);

   /* retire keeping the new side, dropping the old one */
   ASSERT_OK(duet_partner_retire(links[0], f->session, DUET_PARTNER_KEEP_NEW, true, error));
   bson_free(links);
   bool exists = true;
   duet_store_collection_info_t info;
   ASSERT_OK(duet_store_collection_info(f->session, "test", "Task", &info, &exists, error));
   assert_false(exists);
   /* the mirrors are gone and nothing is restored any more */
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"" OID2 "\", \"name\": \"b\"}");
   assert_int_equal(partner_test_count(f->session, "Task"), 0);
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 0);
   duet_partner_links_free(links, count);
   ASSERT_OK(duet_partner_collection_linked(f->session, "test", "TaskV2", &linked, NULL, error));
   assert_false(linked);
}

static void test_partner_collection_must_not_exist(void **state)
{
   store_fixture_t *f = *state;
   store_test_insert_json(f->session, "test", "TaskV2", "{\"_id\": \"x\"}");
   duet_partner_spec_t *spec = partner_test_spec_file("task_v2.json");
   duet_partner_link_t *link = NULL;
   duet_error_t err = DUET_ERROR_INIT;
   ASSERT_FAILS(err, DUET_ERR_NAMESPACE_EXISTS, duet_partner_link_create(f->session, spec, &link, error));
   assert_non_null(strstr(err.message, "TaskV2 exists already"));
   duet_error_clear(&err);
   duet_partner_spec_destroy(spec);
   /* nothing was persisted */
   duet_partner_link_t **links = NULL;
   size_t count = 0;
   ASSERT_OK(duet_partner_links_restore(f->session, &links, &count, error));
   assert_int_equal(count, 0);
   duet_partner_links_free(links, count);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
       cmocka_unit_test_setup_teardown(test_mirror_every_write_kind, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_unmirrorable_writes_fail_on_both_sides, store_fixture_open,
                                       store_fixture_close),
       cmocka_unit_test_setup_teardown(test_link_survives_reopen_and_retire, store_fixture_open, store_fixture_close),
       cmocka_unit_test_setup_teardown(test_partner_collection_must_not_exist, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
