/*
 * test_store_changelog_expanded.c — the change-log entries of MongoDB's expanded
 * change streams (duet_store_changelog_read_expanded): create (explicit and
 * implicit), createIndexes (one event per index on an empty collection, one per
 * build otherwise), dropIndexes, modify with stateBeforeChange, rename's
 * operationDescription with dropTarget, collectionUUID equal to the catalog's
 * UUID on every collection event (also when one row switches collections or a
 * name is dropped and created again), updateDescription.disambiguatedPaths; the
 * classic read unchanged; rows in the format written before all this.
 */
#include "store_test.h"

#include <sqlite3.h>

/* UUIDs the test knows, by label: events show "uuid:<label>" in their place. */
typedef struct uuid_names {
   uint8_t uuid[8][16];
   char label[8][16];
   int count;
} uuid_names_t;

typedef struct collected {
   bson_t events; /* "0", "1", ... */
   int count;
   const uuid_names_t *names;
} collected_t;

static void remember_uuid(store_fixture_t *f, uuid_names_t *names, const char *coll, const char *label)
{
   duet_store_collection_info_t info;
   bool exists = false;
   ASSERT_OK(duet_store_collection_info(f->session, "db", coll, &info, &exists, error));
   assert_true(exists);
   memcpy(names->uuid[names->count], info.uuid, 16);
   snprintf(names->label[names->count], sizeof names->label[0], "%s", label);
   names->count++;
   duet_store_collection_info_clear(&info);
}

/* Copies `from` into `to`, each 16-byte UUID (subtype 4) as the string "uuid:<label>". */
static void name_uuids(const uuid_names_t *names, const bson_t *from, bson_t *to, bool array)
{
   bson_iter_t iter;
   bson_iter_init(&iter, from);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (BSON_ITER_HOLDS_BINARY(&iter)) {
         bson_subtype_t subtype;
         uint32_t length;
         const uint8_t *data;
         bson_iter_binary(&iter, &subtype, &length, &data);
         const char *label = "?";
         for (int i = 0; subtype == BSON_SUBTYPE_UUID && length == 16 && i < names->count; i++) {
            if (memcmp(names->uuid[i], data, 16) == 0) {
               label = names->label[i];
            }
         }
         char text[32];
         snprintf(text, sizeof text, "uuid:%s", label);
         BSON_APPEND_UTF8(to, key, text);
      } else if (BSON_ITER_HOLDS_DOCUMENT(&iter) || BSON_ITER_HOLDS_ARRAY(&iter)) {
         bool child_array = BSON_ITER_HOLDS_ARRAY(&iter);
         uint32_t length;
         const uint8_t *data;
         if (child_array) {
            bson_iter_array(&iter, &length, &data);
         } else {
            bson_iter_document(&iter, &length, &data);
         }
         bson_t view, child;
         bson_init_static(&view, data, length);
         if (child_array) {
            bson_append_array_begin(to, key, -1, &child);
         } else {
            bson_append_document_begin(to, key, -1, &child);
         }
         name_uuids(names, &view, &child, child_array);
         if (child_array) {
            bson_append_array_end(to, &child);
         } else {
            bson_append_document_end(to, &child);
         }
      } else {
         bson_append_iter(to, key, -1, &iter);
      }
   }
   (void)array;
}

static bool collect(const bson_t *event, duet_store_ts_t ts, void *context)
{
   (void)ts;
   collected_t *c = context;
   bson_t trimmed = BSON_INITIALIZER, named = BSON_INITIALIZER;
   bson_copy_to_excluding_noinit(event, &trimmed, "clusterTime", "wallTime", NULL);
   name_uuids(c->names, &trimmed, &named, false);
   char key[16];
   snprintf(key, sizeof key, "%d", c->count++);
   BSON_APPEND_DOCUMENT(&c->events, key, &named);
   bson_destroy(&trimmed);
   bson_destroy(&named);
   return true;
}

static void read_from(store_fixture_t *f, duet_store_ts_t after, bool expanded, const uuid_names_t *names,
                      collected_t *c)
{
   bson_init(&c->events);
   c->count = 0;
   c->names = names;
   if (expanded) {
      ASSERT_OK(duet_store_changelog_read_expanded(f->session, after, 0, collect, c, error));
   } else {
      ASSERT_OK(duet_store_changelog_read(f->session, after, 0, collect, c, error));
   }
}

static void insert_many_json(store_fixture_t *f, const char *coll, int count)
{
   for (int i = 0; i < count; i++) {
      char json[32];
      snprintf(json, sizeof json, "{\"_id\": %d}", i);
      store_test_insert_json(f->session, "db", coll, json);
   }
}

static void test_ddl_events(void **state)
{
   store_fixture_t *f = *state;
   uuid_names_t names = {.count = 0};
   bson_t *options = TEST_JSON("{\"validationAction\": \"warn\", \"validator\": {\"a\": {\"$type\": \"int\"}},"
                               " \"changeStreamPreAndPostImages\": {\"enabled\": false}}");
   ASSERT_OK(duet_store_create_collection(f->session, "db", "a", options, error));
   bson_destroy(options);
   remember_uuid(f, &names, "a", "a");
   bson_t *specs = TEST_JSON("[{\"key\": {\"x\": 1}}, {\"key\": {\"y\": -1}, \"name\": \"why\", \"unique\": true}]");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "i", specs, NULL, error)); /* created by it, empty */
   remember_uuid(f, &names, "i", "i");
   insert_many_json(f, "i", 1);
   bson_t *more = TEST_JSON("[{\"key\": {\"p\": 1}}, {\"key\": {\"q\": 1}}]");
   ASSERT_OK(duet_store_create_indexes(f->session, "db", "i", more, NULL, error)); /* not empty: one event */
   ASSERT_OK(duet_store_drop_index(f->session, "db", "i", "why", error));
   ASSERT_OK(duet_store_drop_index(f->session, "db", "i", "*", error));
   bson_t *changes = TEST_JSON("{\"validationLevel\": \"moderate\", \"changeStreamPreAndPostImages\": {\"enabled\": true}}");
   ASSERT_OK(duet_store_coll_mod(f->session, "db", "a", changes, error));
   ASSERT_OK(duet_store_coll_mod(f->session, "db", "a", changes, error));
   ASSERT_OK(duet_store_rename_collection(f->session, "db", "a", "db", "i", true, error));
   ASSERT_OK(duet_store_drop_database(f->session, "db", error));
   collected_t c;
   read_from(f, 0, true, &names, &c);
   ASSERT_JSON_EQ(&c.events,
      "{\"0\": {\"operationType\": \"create\", \"collectionUUID\": \"uuid:a\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"operationDescription\": {\"validator\": {\"a\": {\"$type\": \"int\"}}, \"validationAction\": \"warn\","
      "   \"idIndex\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}},"
      " \"1\": {\"operationType\": \"create\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"idIndex\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}},"
      " \"2\": {\"operationType\": \"createIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"x\": 1}, \"name\": \"x_1\"}]}},"
      " \"3\": {\"operationType\": \"createIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"y\": -1}, \"name\": \"why\", \"unique\": true}]}},"
      " \"4\": {\"operationType\": \"insert\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"documentKey\": {\"_id\": 0}, \"fullDocument\": {\"_id\": 0}},"
      " \"5\": {\"operationType\": \"createIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"p\": 1}, \"name\": \"p_1\"},"
      "   {\"v\": 2, \"key\": {\"q\": 1}, \"name\": \"q_1\"}]}},"
      " \"6\": {\"operationType\": \"dropIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"y\": -1}, \"name\": \"why\", \"unique\": true}]}},"
      " \"7\": {\"operationType\": \"dropIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"x\": 1}, \"name\": \"x_1\"}]}},"
      " \"8\": {\"operationType\": \"dropIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"p\": 1}, \"name\": \"p_1\"}]}},"
      " \"9\": {\"operationType\": \"dropIndexes\", \"collectionUUID\": \"uuid:i\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"indexes\": [{\"v\": 2, \"key\": {\"q\": 1}, \"name\": \"q_1\"}]}},"
      " \"10\": {\"operationType\": \"modify\", \"collectionUUID\": \"uuid:a\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"operationDescription\": {\"validationLevel\": \"moderate\", \"changeStreamPreAndPostImages\": {\"enabled\": true}},"
      "  \"stateBeforeChange\": {\"collectionOptions\": {\"uuid\": \"uuid:a\", \"validator\": {\"a\": {\"$type\": \"int\"}},"
      "   \"validationAction\": \"warn\"}}},"
      " \"11\": {\"operationType\": \"modify\", \"collectionUUID\": \"uuid:a\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"operationDescription\": {\"validationLevel\": \"moderate\", \"changeStreamPreAndPostImages\": {\"enabled\": true}},"
      "  \"stateBeforeChange\": {\"collectionOptions\": {\"uuid\": \"uuid:a\","
      "   \"changeStreamPreAndPostImages\": {\"enabled\": true}, \"validator\": {\"a\": {\"$type\": \"int\"}},"
      "   \"validationLevel\": \"moderate\", \"validationAction\": \"warn\"}}},"
      " \"12\": {\"operationType\": \"rename\", \"collectionUUID\": \"uuid:a\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"to\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"operationDescription\": {\"to\": {\"db\": \"db\", \"coll\": \"i\"}, \"dropTarget\": \"uuid:i\"}},"
      " \"13\": {\"operationType\": \"drop\", \"collectionUUID\": \"uuid:a\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"}},"
      " \"14\": {\"operationType\": \"dropDatabase\", \"ns\": {\"db\": \"db\"}}}");
   bson_destroy(&c.events);
   /* the classic read: the events it always had, none of the new fields */
   read_from(f, 0, false, &names, &c);
   ASSERT_JSON_EQ(&c.events,
      "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"},"
      "  \"documentKey\": {\"_id\": 0}, \"fullDocument\": {\"_id\": 0}},"
      " \"1\": {\"operationType\": \"rename\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"}, \"to\": {\"db\": \"db\", \"coll\": \"i\"}},"
      " \"2\": {\"operationType\": \"drop\", \"ns\": {\"db\": \"db\", \"coll\": \"i\"}},"
      " \"3\": {\"operationType\": \"dropDatabase\", \"ns\": {\"db\": \"db\"}}}");
   bson_destroy(&c.events);
   bson_destroy(specs);
   bson_destroy(more);
   bson_destroy(changes);
}

/* One transaction: two collections in turn, then a name dropped and created again (same
 * namespace, new UUID), then a savepoint rolled back; each event keeps its own UUID. */
static void test_uuid_per_event_in_one_row(void **state)
{
   store_fixture_t *f = *state;
   uuid_names_t names = {.count = 0};
   insert_many_json(f, "a", 1);
   insert_many_json(f, "b", 1);
   remember_uuid(f, &names, "a", "a1");
   remember_uuid(f, &names, "b", "b");
   duet_store_ts_t after;
   ASSERT_OK(duet_store_changelog_latest(f->session, &after, error));
   ASSERT_OK(duet_session_begin(f->session, error));
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 10}");
   store_test_insert_json(f->session, "db", "b", "{\"_id\": 10}");
   ASSERT_OK(duet_store_drop_collection(f->session, "db", "a", NULL, error));
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 11}");
   remember_uuid(f, &names, "a", "a2");
   ASSERT_OK(duet_session_savepoint(f->session, error));
   store_test_insert_json(f->session, "db", "b", "{\"_id\": 11}");
   duet_session_savepoint_rollback(f->session);
   store_test_insert_json(f->session, "db", "a", "{\"_id\": 12}");
   ASSERT_OK(duet_session_commit(f->session, error));
   collected_t c;
   read_from(f, after, true, &names, &c);
   ASSERT_JSON_EQ(&c.events,
      "{\"0\": {\"operationType\": \"insert\", \"collectionUUID\": \"uuid:a1\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"documentKey\": {\"_id\": 10}, \"fullDocument\": {\"_id\": 10}},"
      " \"1\": {\"operationType\": \"insert\", \"collectionUUID\": \"uuid:b\", \"ns\": {\"db\": \"db\", \"coll\": \"b\"},"
      "  \"documentKey\": {\"_id\": 10}, \"fullDocument\": {\"_id\": 10}},"
      " \"2\": {\"operationType\": \"drop\", \"collectionUUID\": \"uuid:a1\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"}},"
      " \"3\": {\"operationType\": \"create\", \"collectionUUID\": \"uuid:a2\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"operationDescription\": {\"idIndex\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}},"
      " \"4\": {\"operationType\": \"insert\", \"collectionUUID\": \"uuid:a2\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"documentKey\": {\"_id\": 11}, \"fullDocument\": {\"_id\": 11}},"
      " \"5\": {\"operationType\": \"insert\", \"collectionUUID\": \"uuid:a2\", \"ns\": {\"db\": \"db\", \"coll\": \"a\"},"
      "  \"documentKey\": {\"_id\": 12}, \"fullDocument\": {\"_id\": 12}}}");
   bson_destroy(&c.events);
}

static void update_json(store_fixture_t *f, const char *old_json, const char *new_json)
{
   bson_t *old_doc = TEST_JSON(old_json);
   bson_t *new_doc = TEST_JSON(new_json);
   ASSERT_OK(duet_store_update(f->session, "db", "u", old_doc, new_doc, DUET_STORE_UPDATE, NULL, error));
   bson_destroy(old_doc);
   bson_destroy(new_doc);
}

/* MongoDB's rule: a field name with a dot anywhere, or a numeric field name after the
 * first component, makes the path (and every path below it) ambiguous; array indexes alone do not. */
static void test_disambiguated_paths(void **state)
{
   store_fixture_t *f = *state;
   uuid_names_t names = {.count = 0};
   const char *v1 = "{\"_id\": 1, \"o\": {\"1\": 1, \"01\": 1, \"k\": 1}, \"arr\": [{\"x\": 1, \"w\": 1}, 2, 3],"
                    " \"a.b\": 1, \"5\": 1, \"n\": {\"2\": {\"y\": 1, \"z\": 1}, \"keep\": 1}}";
   const char *v2 = "{\"_id\": 1, \"o\": {\"1\": 2, \"01\": 2, \"k\": 1}, \"arr\": [{\"x\": 2, \"w\": 1}, 2],"
                    " \"a.b\": 2, \"5\": 2, \"n\": {\"2\": {\"y\": 2, \"z\": 1}, \"keep\": 1}}";
   const char *v3 = "{\"_id\": 1, \"o\": {\"01\": 2, \"k\": 1}, \"arr\": [{\"x\": 2, \"w\": 1}, 2],"
                    " \"5\": 2, \"n\": {\"2\": {\"y\": 2, \"z\": 1}, \"keep\": 1}}";
   const char *v4 = "{\"_id\": 1, \"o\": {\"01\": 2, \"k\": 1}, \"arr\": [{\"x\": 3, \"w\": 1}, 2],"
                    " \"5\": 2, \"n\": {\"2\": {\"y\": 2, \"z\": 1}, \"keep\": 1}}";
   store_test_insert_json(f->session, "db", "u", v1);
   duet_store_ts_t after;
   ASSERT_OK(duet_store_changelog_latest(f->session, &after, error));
   update_json(f, v1, v2);
   update_json(f, v2, v3);
   update_json(f, v3, v4);
   collected_t c;
   read_from(f, after, true, &names, &c);
   bson_t *expected = TEST_JSON(
      "{\"0\": {\"updatedFields\": {\"o.1\": 2, \"o.01\": 2, \"arr.0.x\": 2, \"a.b\": 2, \"5\": 2, \"n.2.y\": 2},"
      "  \"removedFields\": [], \"truncatedArrays\": [{\"field\": \"arr\", \"newSize\": 2}],"
      "  \"disambiguatedPaths\": {\"o.1\": [\"o\", \"1\"], \"a.b\": [\"a.b\"], \"n.2.y\": [\"n\", \"2\", \"y\"]}},"
      " \"1\": {\"updatedFields\": {}, \"removedFields\": [\"a.b\", \"o.1\"], \"truncatedArrays\": [],"
      "  \"disambiguatedPaths\": {\"a.b\": [\"a.b\"], \"o.1\": [\"o\", \"1\"]}},"
      " \"2\": {\"updatedFields\": {\"arr.0.x\": 3}, \"removedFields\": [], \"truncatedArrays\": [],"
      "  \"disambiguatedPaths\": {}}}");
   bson_t descriptions = BSON_INITIALIZER;
   bson_iter_t iter, event;
   bson_iter_init(&iter, &c.events);
   while (bson_iter_next(&iter)) {
      assert_true(bson_iter_recurse(&iter, &event) && bson_iter_find(&event, "updateDescription"));
      bson_append_iter(&descriptions, bson_iter_key(&iter), -1, &event);
   }
   char *expected_json = bson_as_canonical_extended_json(expected, NULL);
   ASSERT_JSON_EQ(&descriptions, expected_json);
   bson_free(expected_json);
   bson_destroy(expected);
   bson_destroy(&descriptions);
   bson_destroy(&c.events);
   /* classic readers never see disambiguatedPaths */
   read_from(f, after, false, &names, &c);
   assert_int_equal(c.count, 3);
   char *json = bson_as_relaxed_extended_json(&c.events, NULL);
   assert_null(strstr(json, "disambiguatedPaths"));
   assert_non_null(strstr(json, "\"o.1\""));
   bson_free(json);
   bson_destroy(&c.events);
}

/* A row as duetd wrote it before collection UUIDs and DDL events existed: still read, with
 * no collectionUUID, and a rename gets operationDescription {to} from its `to`. */
static void test_rows_of_the_earlier_format(void **state)
{
   store_fixture_t *f = *state;
   uuid_names_t names = {.count = 0};
   insert_many_json(f, "new", 1);
   duet_store_ts_t latest;
   ASSERT_OK(duet_store_changelog_latest(f->session, &latest, error));
   bson_t insert = BSON_INITIALIZER, rename = BSON_INITIALIZER, full, extra, to;
   BSON_APPEND_INT64(&insert, "t", (int64_t)(latest + 1));
   BSON_APPEND_UTF8(&insert, "n", "db.old");
   BSON_APPEND_DOCUMENT_BEGIN(&insert, "f", &full);
   BSON_APPEND_INT32(&full, "_id", 7);
   bson_append_document_end(&insert, &full);
   BSON_APPEND_INT32(&rename, "o", 5);
   BSON_APPEND_DOCUMENT_BEGIN(&rename, "x", &extra);
   BSON_APPEND_DOCUMENT_BEGIN(&extra, "to", &to);
   BSON_APPEND_UTF8(&to, "db", "db");
   BSON_APPEND_UTF8(&to, "coll", "older");
   bson_append_document_end(&extra, &to);
   bson_append_document_end(&rename, &extra);
   uint8_t blob[512];
   memcpy(blob, bson_get_data(&insert), insert.len);
   memcpy(blob + insert.len, bson_get_data(&rename), rename.len);
   char path[128];
   snprintf(path, sizeof path, "%s/duet.sqlite", f->directory);
   sqlite3 *db;
   assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
   sqlite3_stmt *stmt;
   assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO duet_changelog(ts, first_ts, wall, events, size) "
                                           "VALUES(?, ?, 0, ?, 100)",
                                       -1, &stmt, NULL),
                    SQLITE_OK);
   sqlite3_bind_int64(stmt, 1, (int64_t)(latest + 2));
   sqlite3_bind_int64(stmt, 2, (int64_t)(latest + 1));
   sqlite3_bind_blob(stmt, 3, blob, (int)(insert.len + rename.len), SQLITE_STATIC);
   assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
   sqlite3_finalize(stmt);
   sqlite3_close(db);
   bson_destroy(&insert);
   bson_destroy(&rename);
   collected_t c;
   read_from(f, latest, true, &names, &c);
   ASSERT_JSON_EQ(&c.events,
      "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"old\"},"
      "  \"documentKey\": {\"_id\": 7}, \"fullDocument\": {\"_id\": 7}},"
      " \"1\": {\"operationType\": \"rename\", \"ns\": {\"db\": \"db\", \"coll\": \"old\"},"
      "  \"to\": {\"db\": \"db\", \"coll\": \"older\"}, \"operationDescription\": {\"to\": {\"db\": \"db\", \"coll\": \"older\"}}}}");
   bson_destroy(&c.events);
   read_from(f, latest, false, &names, &c);
   ASSERT_JSON_EQ(&c.events,
      "{\"0\": {\"operationType\": \"insert\", \"ns\": {\"db\": \"db\", \"coll\": \"old\"},"
      "  \"documentKey\": {\"_id\": 7}, \"fullDocument\": {\"_id\": 7}},"
      " \"1\": {\"operationType\": \"rename\", \"ns\": {\"db\": \"db\", \"coll\": \"old\"},"
      "  \"to\": {\"db\": \"db\", \"coll\": \"older\"}}}");
   bson_destroy(&c.events);
   /* the log goes on after it */
   remember_uuid(f, &names, "new", "new");
   store_test_insert_json(f->session, "db", "new", "{\"_id\": 5}");
   read_from(f, latest + 2, true, &names, &c);
   assert_int_equal(c.count, 1);
   char *json = bson_as_relaxed_extended_json(&c.events, NULL);
   assert_non_null(strstr(json, "uuid:new"));
   bson_free(json);
   bson_destroy(&c.events);
}

int main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ddl_events, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_uuid_per_event_in_one_row, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_disambiguated_paths, store_fixture_open, store_fixture_close),
      cmocka_unit_test_setup_teardown(test_rows_of_the_earlier_format, store_fixture_open, store_fixture_close),
   };
   return cmocka_run_group_tests(tests, NULL, NULL);
}
