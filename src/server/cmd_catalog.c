/*
 * cmd_catalog.c — databases, collections and indexes over the store:
 * listDatabases, listCollections, create, drop, dropDatabase,
 * renameCollection, collMod, listIndexes, createIndexes, dropIndexes.
 */
#include "server/cmd_partner.h"
#include "server/command.h"

#include <duet/mql_match.h>

#include <string.h>
#include <sys/stat.h>

/* Copies the command's fields except its name and the global fields into `options`. */
static void catalog_options(duet_command_ctx_t *ctx, bson_t *options)
{
   bson_init(options);
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (!duet_command_is_generic_field(key)) {
         bson_append_iter(options, key, -1, &iter);
      }
   }
}

/* Reads an optional boolean field. */
static bool catalog_bool(duet_command_ctx_t *ctx, const char *field, bool *out, duet_error_t *error)
{
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, field)) {
      return true;
   }
   if (!BSON_ITER_HOLDS_BOOL(&iter) && !BSON_ITER_HOLDS_NUMBER(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, field, &iter, "bool");
      return false;
   }
   *out = bson_iter_as_bool(&iter);
   return true;
}

/* Reads the optional `filter` document into a matcher (NULL when absent or empty). */
static bool catalog_filter(duet_command_ctx_t *ctx, duet_match_t **match, duet_error_t *error)
{
   *match = NULL;
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, "filter") || BSON_ITER_HOLDS_NULL(&iter)) {
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "filter", &iter, "object");
      return false;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_document(&iter, &length, &data);
   bson_t filter;
   bson_init_static(&filter, data, length);
   if (bson_empty(&filter)) {
      return true;
   }
   return duet_match_parse(&filter, DUET_MATCH_FEATURES_DEFAULT, match, error);
}

/* The cursor.batchSize option of listCollections/listIndexes (-1 when absent). */
static bool catalog_batch_size(duet_command_ctx_t *ctx, int64_t *batch_size, duet_error_t *error)
{
   *batch_size = -1;
   bson_iter_t iter, child;
   if (!bson_iter_init_find(&iter, ctx->command, "cursor")) {
      return true;
   }
   if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      duet_error_wrong_type(error, ctx->entry->name, "cursor", &iter, "object");
      return false;
   }
   bson_iter_recurse(&iter, &child);
   if (bson_iter_find(&child, "batchSize")) {
      if (!BSON_ITER_HOLDS_NUMBER(&child) || bson_iter_as_int64(&child) < 0) {
         duet_error_set(error, DUET_ERR_BAD_VALUE, "cursor.batchSize must be a non-negative number");
         return false;
      }
      *batch_size = bson_iter_as_int64(&child);
   }
   return true;
}

/* Hands `docs` (owned, count entries) to the cursor registry under `ns`. */
static bool catalog_reply_cursor(duet_command_ctx_t *ctx, const char *ns, bson_t **docs, size_t count,
                                 int64_t batch_size, bson_t *reply, duet_error_t *error)
{
   duet_cursor_options_t options = DUET_CURSOR_OPTIONS_INIT;
   options.batch_size = batch_size;
   options.has_lsid = ctx->args.has_lsid;
   memcpy(options.lsid, ctx->args.lsid, sizeof options.lsid);
   return duet_cursor_reply_first(&ctx->server->cursors, ns, duet_cursor_source_from_array(docs, count), &options,
                                  reply, error);
}

/* ---- listDatabases ---------------------------------------------------------------- */

bool duet_cmd_list_databases(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bool name_only = false;
   duet_match_t *match = NULL;
   if (!catalog_bool(ctx, "nameOnly", &name_only, error) || !catalog_filter(ctx, &match, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      duet_match_destroy(match);
      return false;
   }
   char **names = NULL;
   size_t count = 0;
   bool ok = duet_store_list_databases(session, &names, &count, error);
   duet_server_session_release(ctx->server, session);
   if (!ok) {
      duet_match_destroy(match);
      return false;
   }
   /* the store keeps every database in one SQLite file: its size is the total; there is no per-database figure */
   struct stat st;
   int64_t total = stat(duet_store_path(ctx->server->store), &st) == 0 ? (int64_t)st.st_size : 0;
   bson_t databases;
   bson_append_array_begin(reply, "databases", -1, &databases);
   uint32_t index = 0;
   for (size_t i = 0; i < count && ok; i++) {
      bson_t entry = BSON_INITIALIZER;
      BSON_APPEND_UTF8(&entry, "name", names[i]);
      if (!name_only) {
         BSON_APPEND_INT64(&entry, "sizeOnDisk", 0);
         BSON_APPEND_BOOL(&entry, "empty", false);
      }
      bool matched = true;
      if (match) {
         ok = duet_match_matches(match, &entry, &matched, NULL, error);
      }
      if (ok && matched) {
         char key_buffer[16];
         const char *key;
         bson_uint32_to_string(index++, &key, key_buffer, sizeof key_buffer);
         bson_append_document(&databases, key, -1, &entry);
      }
      bson_destroy(&entry);
   }
   bson_append_array_end(reply, &databases);
   if (!name_only) {
      BSON_APPEND_INT64(reply, "totalSize", total);
      BSON_APPEND_INT64(reply, "totalSizeMb", total / (1024 * 1024));
   }
   duet_store_names_free(names, count);
   duet_match_destroy(match);
   return ok;
}

/* ---- listCollections ---------------------------------------------------------------- */

static void catalog_id_index(bson_t *parent, const char *key)
{
   bson_t index, pattern;
   bson_append_document_begin(parent, key, -1, &index);
   BSON_APPEND_INT32(&index, "v", 2);
   bson_append_document_begin(&index, "key", -1, &pattern);
   BSON_APPEND_INT32(&pattern, "_id", 1);
   bson_append_document_end(&index, &pattern);
   BSON_APPEND_UTF8(&index, "name", "_id_");
   bson_append_document_end(parent, &index);
}

bool duet_cmd_list_collections(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bool name_only = false, authorized = false;
   duet_match_t *match = NULL;
   int64_t batch_size;
   if (!catalog_bool(ctx, "nameOnly", &name_only, error) ||
       !catalog_bool(ctx, "authorizedCollections", &authorized, error) ||
       !catalog_batch_size(ctx, &batch_size, error) || !catalog_filter(ctx, &match, error)) {
      return false;
   }
   if (!duet_store_validate_db_name(ctx->db, error)) {
      duet_match_destroy(match);
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      duet_match_destroy(match);
      return false;
   }
   duet_store_collection_info_t *infos = NULL;
   size_t count = 0;
   bool ok = duet_store_list_collections(session, ctx->db, &infos, &count, error);
   duet_server_session_release(ctx->server, session);
   if (!ok) {
      duet_match_destroy(match);
      return false;
   }
   bson_t **docs = bson_malloc0(sizeof *docs * (count ? count : 1));
   size_t kept = 0;
   for (size_t i = 0; i < count && ok; i++) {
      bson_t *doc = bson_new();
      BSON_APPEND_UTF8(doc, "name", infos[i].name);
      BSON_APPEND_UTF8(doc, "type", "collection");
      if (!name_only) {
         if (infos[i].options) {
            BSON_APPEND_DOCUMENT(doc, "options", infos[i].options);
         } else {
            bson_t empty = BSON_INITIALIZER;
            BSON_APPEND_DOCUMENT(doc, "options", &empty);
         }
         bson_t info;
         bson_append_document_begin(doc, "info", -1, &info);
         BSON_APPEND_BOOL(&info, "readOnly", false);
         bson_append_binary(&info, "uuid", -1, BSON_SUBTYPE_UUID, infos[i].uuid, 16);
         bson_append_document_end(doc, &info);
         catalog_id_index(doc, "idIndex");
      }
      bool matched = true;
      if (match) {
         ok = duet_match_matches(match, doc, &matched, NULL, error);
      }
      if (ok && matched) {
         docs[kept++] = doc;
      } else {
         bson_destroy(doc);
      }
   }
   duet_store_collection_infos_free(infos, count);
   duet_match_destroy(match);
   if (!ok) {
      for (size_t i = 0; i < kept; i++) {
         bson_destroy(docs[i]);
      }
      bson_free(docs);
      return false;
   }
   char ns[256];
   snprintf(ns, sizeof ns, "%s.$cmd.listCollections", ctx->db);
   return catalog_reply_cursor(ctx, ns, docs, kept, batch_size, reply, error);
}

/* ---- create, drop, dropDatabase, renameCollection, collMod --------------------------- */

bool duet_cmd_create(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bson_t options;
   catalog_options(ctx, &options);
   bool ok = duet_store_create_collection(session, ctx->db, collection, &options, error);
   bson_destroy(&options);
   duet_server_session_release(ctx->server, session);
   return ok;
}

/* Number of indexes of db.coll (0 when the collection does not exist). */
static bool catalog_index_count(duet_session_t *session, const char *db, const char *coll, int32_t *count,
                                duet_error_t *error)
{
   bson_t specs;
   duet_error_t missing = DUET_ERROR_INIT;
   *count = 0;
   if (!duet_store_list_indexes(session, db, coll, &specs, &missing)) {
      bson_destroy(&specs);
      bool not_found = missing.code == DUET_ERR_NAMESPACE_NOT_FOUND;
      if (!not_found) {
         duet_error_move(error, &missing);
      }
      duet_error_clear(&missing);
      return not_found;
   }
   *count = (int32_t)bson_count_keys(&specs);
   bson_destroy(&specs);
   return true;
}

bool duet_cmd_drop(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   if (!duet_partner_server_check_ddl(ctx->server, ctx->db, collection, "drop", error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   int32_t indexes = 0;
   bool dropped = false;
   bool ok = duet_session_begin(session, error) &&
             catalog_index_count(session, ctx->db, collection, &indexes, error) &&
             duet_store_drop_collection(session, ctx->db, collection, &dropped, error) &&
             duet_session_commit(session, error);
   duet_server_session_release(ctx->server, session); /* aborts when not committed */
   if (ok && dropped) {
      /* MongoDB 7.0: dropping a missing collection succeeds without these fields */
      char ns[512];
      snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
      BSON_APPEND_INT32(reply, "nIndexesWas", indexes);
      BSON_APPEND_UTF8(reply, "ns", ns);
   }
   return ok;
}

bool duet_cmd_drop_database(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   if (!duet_store_validate_db_name(ctx->db, error) ||
       !duet_partner_server_check_ddl(ctx->server, ctx->db, NULL, "dropDatabase", error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bool ok = duet_store_drop_database(session, ctx->db, error);
   duet_server_session_release(ctx->server, session);
   return ok;
}

/* Splits "db.coll" at the first dot into db (copied into `db`, size `db_size`) and *coll (borrowed). */
static bool catalog_split_namespace(const char *field, const char *ns, char *db, size_t db_size, const char **coll,
                                    duet_error_t *error)
{
   const char *dot = strchr(ns, '.');
   if (!dot || dot == ns || dot[1] == '\0' || (size_t)(dot - ns) >= db_size) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid %s namespace: %s", field, ns);
      return false;
   }
   memcpy(db, ns, (size_t)(dot - ns));
   db[dot - ns] = '\0';
   *coll = dot + 1;
   return duet_store_validate_namespace(db, *coll, error);
}

bool duet_cmd_rename_collection(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, "renameCollection", "renameCollection", &iter, "string");
      return false;
   }
   const char *from_ns = bson_iter_utf8(&iter, NULL);
   if (!bson_iter_init_find(&iter, ctx->command, "to")) {
      duet_error_set(error, 40414, "BSON field 'renameCollection.to' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_wrong_type(error, "renameCollection", "to", &iter, "string");
      return false;
   }
   const char *to_ns = bson_iter_utf8(&iter, NULL);
   bool drop_target = false;
   if (!catalog_bool(ctx, "dropTarget", &drop_target, error)) {
      return false;
   }
   char from_db[128], to_db[128];
   const char *from, *to;
   if (!catalog_split_namespace("source", from_ns, from_db, sizeof from_db, &from, error) ||
       !catalog_split_namespace("target", to_ns, to_db, sizeof to_db, &to, error)) {
      return false;
   }
   if (!duet_partner_server_check_ddl(ctx->server, from_db, from, "renameCollection", error) ||
       !duet_partner_server_check_ddl(ctx->server, to_db, to, "renameCollection", error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bool ok = duet_store_rename_collection(session, from_db, from, to_db, to, drop_target, error);
   duet_server_session_release(ctx->server, session);
   return ok;
}

bool duet_cmd_coll_mod(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)reply;
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bson_t changes;
   catalog_options(ctx, &changes);
   bool ok = duet_partner_server_check_coll_mod(ctx->server, ctx->db, collection, &changes, error) &&
             duet_store_coll_mod(session, ctx->db, collection, &changes, error);
   bson_destroy(&changes);
   duet_server_session_release(ctx->server, session);
   return ok;
}

/* ---- indexes ------------------------------------------------------------------------- */

bool duet_cmd_list_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   int64_t batch_size;
   if (!duet_command_collection(ctx, false, &collection, error) || !catalog_batch_size(ctx, &batch_size, error)) {
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   bson_t specs;
   bool ok = duet_store_list_indexes(session, ctx->db, collection, &specs, error);
   duet_server_session_release(ctx->server, session);
   if (!ok) {
      bson_destroy(&specs);
      return false;
   }
   size_t count = bson_count_keys(&specs);
   bson_t **docs = bson_malloc0(sizeof *docs * (count ? count : 1));
   size_t index = 0;
   bson_iter_t iter;
   bson_iter_init(&iter, &specs);
   while (bson_iter_next(&iter) && index < count) {
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(&iter, &length, &data);
      docs[index++] = bson_new_from_data(data, length);
   }
   bson_destroy(&specs);
   char ns[512];
   snprintf(ns, sizeof ns, "%s.%s", ctx->db, collection);
   return catalog_reply_cursor(ctx, ns, docs, index, batch_size, reply, error);
}

bool duet_cmd_create_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, "indexes")) {
      duet_error_set(error, 40414, "BSON field 'createIndexes.indexes' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_wrong_type(error, "createIndexes", "indexes", &iter, "array");
      return false;
   }
   uint32_t length;
   const uint8_t *data;
   bson_iter_array(&iter, &length, &data);
   bson_t specs;
   bson_init_static(&specs, data, length);
   if (bson_empty(&specs)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "Must specify at least one index to create");
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   int32_t before = 0, after = 0, created = 0;
   bool exists = false;
   duet_store_collection_info_t info;
   bool ok = duet_session_begin(session, error) &&
             duet_store_collection_info(session, ctx->db, collection, &info, &exists, error);
   if (ok && exists) {
      duet_store_collection_info_clear(&info);
   }
   ok = ok && catalog_index_count(session, ctx->db, collection, &before, error) &&
        duet_store_create_indexes(session, ctx->db, collection, &specs, &created, error) &&
        catalog_index_count(session, ctx->db, collection, &after, error) && duet_session_commit(session, error);
   duet_server_session_release(ctx->server, session);
   if (!ok) {
      return false;
   }
   if (!exists) {
      before = 1; /* MongoDB counts the _id index the new collection starts with */
   }
   BSON_APPEND_INT32(reply, "numIndexesBefore", before);
   BSON_APPEND_INT32(reply, "numIndexesAfter", after);
   BSON_APPEND_BOOL(reply, "createdCollectionAutomatically", !exists);
   if (created == 0) {
      BSON_APPEND_UTF8(reply, "note", "all indexes already exist");
   }
   return true;
}

/* Finds the name of the index whose key pattern equals `pattern` (borrowed). */
static bool catalog_index_name_for_key(duet_session_t *session, const char *db, const char *coll,
                                       const bson_t *pattern, char **name, duet_error_t *error)
{
   bson_t specs;
   if (!duet_store_list_indexes(session, db, coll, &specs, error)) {
      bson_destroy(&specs);
      return false;
   }
   *name = NULL;
   bson_iter_t iter;
   bson_iter_init(&iter, &specs);
   while (bson_iter_next(&iter) && !*name) {
      bson_iter_t field;
      bson_iter_t key_iter, name_iter;
      bson_iter_recurse(&iter, &field);
      key_iter = field;
      name_iter = field;
      if (bson_iter_find(&key_iter, "key") && BSON_ITER_HOLDS_DOCUMENT(&key_iter) &&
          bson_iter_find(&name_iter, "name") && BSON_ITER_HOLDS_UTF8(&name_iter)) {
         uint32_t length;
         const uint8_t *data;
         bson_iter_document(&key_iter, &length, &data);
         if (length == pattern->len && memcmp(data, bson_get_data(pattern), length) == 0) {
            *name = bson_strdup(bson_iter_utf8(&name_iter, NULL));
         }
      }
   }
   bson_destroy(&specs);
   if (!*name) {
      char *json = bson_as_relaxed_extended_json(pattern, NULL);
      duet_error_set(error, DUET_ERR_INDEX_NOT_FOUND, "can't find index with key: %s", json);
      bson_free(json);
      return false;
   }
   return true;
}

bool duet_cmd_drop_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   const char *collection;
   if (!duet_command_collection(ctx, false, &collection, error)) {
      return false;
   }
   bson_iter_t iter;
   if (!bson_iter_init_find(&iter, ctx->command, "index")) {
      duet_error_set(error, 40414, "BSON field 'dropIndexes.index' is missing but a required field");
      return false;
   }
   if (!BSON_ITER_HOLDS_UTF8(&iter) && !BSON_ITER_HOLDS_DOCUMENT(&iter) && !BSON_ITER_HOLDS_ARRAY(&iter)) {
      duet_error_wrong_type(error, "dropIndexes", "index", &iter, "string or object or array");
      return false;
   }
   duet_session_t *session;
   if (!duet_server_session_acquire(ctx->server, &session, error)) {
      return false;
   }
   int32_t before = 0;
   bool exists = false;
   duet_store_collection_info_t info;
   bool ok = duet_session_begin(session, error) &&
             duet_store_collection_info(session, ctx->db, collection, &info, &exists, error);
   if (ok && exists) {
      duet_store_collection_info_clear(&info);
   } else if (ok) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "ns not found %s.%s", ctx->db, collection);
      ok = false;
   }
   ok = ok && catalog_index_count(session, ctx->db, collection, &before, error);
   if (ok && BSON_ITER_HOLDS_UTF8(&iter)) {
      ok = duet_store_drop_index(session, ctx->db, collection, bson_iter_utf8(&iter, NULL), error);
   } else if (ok && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      uint32_t length;
      const uint8_t *data;
      bson_iter_document(&iter, &length, &data);
      bson_t pattern;
      bson_init_static(&pattern, data, length);
      char *name = NULL;
      ok = catalog_index_name_for_key(session, ctx->db, collection, &pattern, &name, error) &&
           duet_store_drop_index(session, ctx->db, collection, name, error);
      bson_free(name);
   } else if (ok) {
      bson_iter_t names;
      bson_iter_recurse(&iter, &names);
      while (ok && bson_iter_next(&names)) {
         if (!BSON_ITER_HOLDS_UTF8(&names)) {
            duet_error_wrong_type(error, "dropIndexes", "index", &names, "string");
            ok = false;
         } else {
            ok = duet_store_drop_index(session, ctx->db, collection, bson_iter_utf8(&names, NULL), error);
         }
      }
   }
   ok = ok && duet_session_commit(session, error);
   duet_server_session_release(ctx->server, session);
   if (ok) {
      BSON_APPEND_INT32(reply, "nIndexesWas", before);
   }
   return ok;
}
