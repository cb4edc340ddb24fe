/*
 * libmongoc_client.c — drives duetd with the real libmongoc (the C driver):
 * handshake and server selection against the single-member replica set,
 * ping, insert_many with a duplicate key, find across batches, update,
 * delete, an aggregate with $group, create_index, a CommandNotFound error,
 * a change-free cursor kill, and the client's own session.
 * Run by test_libmongoc.py with the URI of a duetd it started:
 *   libmongoc_client mongodb://127.0.0.1:PORT/?replicaSet=rs0
 * Prints one line per check; exits 1 at the first failure.
 */
#include <mongoc/mongoc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(condition, ...)                                                                                          \
   do {                                                                                                                \
      if (condition) {                                                                                                 \
         printf("ok - " __VA_ARGS__);                                                                                  \
         printf("\n");                                                                                                 \
      } else {                                                                                                         \
         printf("not ok - " __VA_ARGS__);                                                                              \
         printf(" (%s:%d)\n", __FILE__, __LINE__);                                                                     \
         failures++;                                                                                                   \
      }                                                                                                                \
   } while (0)

int main(int argc, char **argv)
{
   if (argc != 2) {
      fprintf(stderr, "usage: libmongoc_client URI\n");
      return 2;
   }
   mongoc_init();
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &error);
   if (!uri) {
      fprintf(stderr, "bad URI: %s\n", error.message);
      return 2;
   }
   mongoc_client_t *client = mongoc_client_new_from_uri(uri);
   mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);

   bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
   bson_t reply;
   bool ok = mongoc_client_command_simple(client, "admin", ping, NULL, &reply, &error);
   CHECK(ok, "ping (%s)", ok ? "" : error.message);
   bson_destroy(&reply);

   mongoc_server_description_t *primary = mongoc_client_select_server(client, true, NULL, &error);
   CHECK(primary && strcmp(mongoc_server_description_type(primary), "RSPrimary") == 0, "selected an RSPrimary (%s)",
         primary ? mongoc_server_description_type(primary) : error.message);
   mongoc_server_description_destroy(primary);

   mongoc_collection_t *coll = mongoc_client_get_collection(client, "cdriver", "things");
   mongoc_collection_drop(coll, NULL);
   bson_t *docs[300];
   for (int i = 0; i < 300; i++) {
      docs[i] = BCON_NEW("_id", BCON_INT32(i), "n", BCON_INT32(i % 10), "name", BCON_UTF8("thing"));
   }
   ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, 300, NULL, &reply, &error);
   CHECK(ok, "insert_many 300 (%s)", ok ? "" : error.message);
   bson_iter_t iter;
   CHECK(bson_iter_init_find(&iter, &reply, "insertedCount") && bson_iter_as_int64(&iter) == 300, "insertedCount 300");
   bson_destroy(&reply);
   ok = mongoc_collection_insert_one(coll, docs[5], NULL, &reply, &error);
   CHECK(!ok && error.code == 11000, "duplicate _id gives 11000 (%u)", error.code);
   bson_destroy(&reply);
   for (int i = 0; i < 300; i++) {
      bson_destroy(docs[i]);
   }

   bson_t *filter = BCON_NEW("n", "{", "$lt", BCON_INT32(5), "}");
   bson_t *options = BCON_NEW("batchSize", BCON_INT32(7), "sort", "{", "_id", BCON_INT32(1), "}");
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(coll, filter, options, NULL);
   const bson_t *doc;
   int count = 0;
   int32_t last = -1;
   bool ordered = true;
   while (mongoc_cursor_next(cursor, &doc)) {
      if (bson_iter_init_find(&iter, doc, "_id")) {
         ordered = ordered && bson_iter_int32(&iter) > last;
         last = bson_iter_int32(&iter);
      }
      count++;
   }
   ok = !mongoc_cursor_error(cursor, &error);
   CHECK(ok && count == 150 && ordered, "find across batches: %d documents in order (%s)", count,
         ok ? "" : error.message);
   mongoc_cursor_destroy(cursor);
   bson_destroy(options);

   /* a cursor abandoned after one batch is killed by the driver */
   options = BCON_NEW("batchSize", BCON_INT32(2));
   cursor = mongoc_collection_find_with_opts(coll, filter, options, NULL);
   ok = mongoc_cursor_next(cursor, &doc);
   CHECK(ok, "first document of an abandoned cursor");
   mongoc_cursor_destroy(cursor);
   bson_destroy(options);
   bson_destroy(filter);

   bson_t *selector = BCON_NEW("n", BCON_INT32(3));
   bson_t *update = BCON_NEW("$set", "{", "updated", BCON_BOOL(true), "}");
   ok = mongoc_collection_update_many(coll, selector, update, NULL, &reply, &error);
   CHECK(ok && bson_iter_init_find(&iter, &reply, "modifiedCount") && bson_iter_as_int64(&iter) == 30,
         "update_many modified 30 (%s)", ok ? "" : error.message);
   bson_destroy(&reply);
   bson_destroy(update);
   ok = mongoc_collection_delete_many(coll, selector, NULL, &reply, &error);
   CHECK(ok && bson_iter_init_find(&iter, &reply, "deletedCount") && bson_iter_as_int64(&iter) == 30,
         "delete_many deleted 30 (%s)", ok ? "" : error.message);
   bson_destroy(&reply);
   bson_destroy(selector);

   bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$group", "{", "_id", BCON_NULL, "total", "{", "$sum",
                               BCON_INT32(1), "}", "}", "}", "]");
   cursor = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
   int64_t total = -1;
   if (mongoc_cursor_next(cursor, &doc) && bson_iter_init_find(&iter, doc, "total")) {
      total = bson_iter_as_int64(&iter);
   }
   CHECK(total == 270, "aggregate $group counts 270 (%lld)", (long long)total);
   mongoc_cursor_destroy(cursor);
   bson_destroy(pipeline);

   bson_t *create = BCON_NEW("createIndexes", BCON_UTF8("things"), "indexes", "[", "{", "key", "{", "name",
                             BCON_INT32(1), "}", "name", BCON_UTF8("name_1"), "}", "]");
   ok = mongoc_client_write_command_with_opts(client, "cdriver", create, NULL, &reply, &error);
   CHECK(ok && bson_iter_init_find(&iter, &reply, "numIndexesAfter") && bson_iter_as_int64(&iter) == 2,
         "createIndexes (%s)", ok ? "" : error.message);
   bson_destroy(&reply);
   bson_destroy(create);

   bson_t *bogus = BCON_NEW("fooBar", BCON_INT32(1));
   ok = mongoc_client_command_simple(client, "admin", bogus, NULL, &reply, &error);
   CHECK(!ok && error.code == 59 && strstr(error.message, "no such command: 'fooBar'"), "CommandNotFound (%u %s)",
         error.code, error.message);
   bson_destroy(&reply);
   bson_destroy(bogus);

   mongoc_client_session_t *session = mongoc_client_start_session(client, NULL, &error);
   CHECK(session != NULL, "start a session (%s)", session ? "" : error.message);
   if (session) {
      bson_t session_options = BSON_INITIALIZER;
      ok = mongoc_client_session_append(session, &session_options, &error) &&
           mongoc_client_command_with_opts(client, "admin", ping, NULL, &session_options, &reply, &error);
      CHECK(ok, "ping in a session (%s)", ok ? "" : error.message);
      bson_destroy(&reply);
      bson_destroy(&session_options);
      mongoc_client_session_destroy(session);
   }

   bson_destroy(ping);
   mongoc_collection_destroy(coll);
   mongoc_client_destroy(client);
   mongoc_uri_destroy(uri);
   mongoc_cleanup();
   printf("%d failure(s)\n", failures);
   return failures ? 1 : 0;
}
