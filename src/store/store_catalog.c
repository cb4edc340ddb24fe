/*
 * store_catalog.c — databases and collections: MongoDB's namespace rules (73
 * InvalidNamespace), create/drop/rename/collMod with their change events
 * (create and modify with MongoDB's operationDescription, every event with the
 * collection's UUID), listCollections and listDatabases, the per-session catalog
 * cache, and the durable named documents of src/partner (partner links,
 * migration progress).
 */
#include "store/store_internal.h"

#include <duet/doc.h>

#include <string.h>

/* ---- names -------------------------------------------------------------------- */

bool duet_store_validate_db_name(const char *db, duet_error_t *error)
{
   size_t len = strlen(db);
   if (len == 0) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid database name: ''");
      return false;
   }
   if (len >= 64) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "db name is too long: '%s'", db);
      return false;
   }
   if (strpbrk(db, "/\\. \"$*<>:|?") != NULL) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid database name: '%s'", db);
      return false;
   }
   return true;
}

bool duet_store_validate_namespace(const char *db, const char *coll, duet_error_t *error)
{
   if (!duet_store_validate_db_name(db, error)) {
      return false;
   }
   size_t len = strlen(coll);
   if (len == 0 || coll[0] == '.' || strchr(coll, '$') != NULL) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid namespace specified '%s.%s'", db, coll);
      return false;
   }
   if (strlen(db) + 1 + len > 255) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Fully qualified namespace is too long. Namespace: %s.%s Max: 255",
                     db, coll);
      return false;
   }
   if (strncmp(coll, "system.", 7) == 0) {
      duet_error_set(error, DUET_ERR_INVALID_NAMESPACE, "Invalid system namespace: %s.%s", db, coll);
      return false;
   }
   return true;
}

/* ---- options ---------------------------------------------------------------------- */

static bool wrong_type(const char *field, bson_iter_t *iter, const char *expected, duet_error_t *error)
{
   duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "BSON field 'create.%s' is the wrong type '%s', expected type '%s'",
                  field, duet_type_name(bson_iter_type(iter)), expected);
   return false;
}

/* Checks create/collMod options and copies the recognised ones into `out` (initialized by caller). */
static bool check_options(const bson_t *options, bson_t *out, duet_error_t *error)
{
   bson_iter_t iter;
   if (!options || !bson_iter_init(&iter, options)) {
      return true;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (strcmp(key, "validator") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return wrong_type(key, &iter, "object", error);
         }
      } else if (strcmp(key, "validationLevel") == 0 || strcmp(key, "validationAction") == 0) {
         if (!BSON_ITER_HOLDS_UTF8(&iter)) {
            return wrong_type(key, &iter, "string", error);
         }
         const char *value = bson_iter_utf8(&iter, NULL);
         bool level = key[10] == 'L';
         bool ok = level ? (!strcmp(value, "off") || !strcmp(value, "strict") || !strcmp(value, "moderate"))
                         : (!strcmp(value, "error") || !strcmp(value, "warn"));
         if (!ok) {
            duet_error_set(error, DUET_ERR_BAD_VALUE,
                           "Enumeration value '%s' for field 'create.%s' is not a valid value.", value, key);
            return false;
         }
      } else if (strcmp(key, "changeStreamPreAndPostImages") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            return wrong_type(key, &iter, "object", error);
         }
         bson_iter_t child;
         bson_iter_recurse(&iter, &child);
         bool has_enabled = false;
         while (bson_iter_next(&child)) {
            if (strcmp(bson_iter_key(&child), "enabled") != 0) {
               duet_error_set(error, 40415, "BSON field 'create.changeStreamPreAndPostImages.%s' is an unknown field.",
                              bson_iter_key(&child));
               return false;
            }
            if (!BSON_ITER_HOLDS_BOOL(&child)) {
               duet_error_set(error, DUET_ERR_TYPE_MISMATCH,
                              "BSON field 'create.changeStreamPreAndPostImages.enabled' is the wrong type '%s', "
                              "expected type 'bool'",
                              duet_type_name(bson_iter_type(&child)));
               return false;
            }
            has_enabled = true;
         }
         if (!has_enabled) {
            duet_error_set(error, 40414,
                           "BSON field 'create.changeStreamPreAndPostImages.enabled' is missing but a required field");
            return false;
         }
      } else if (!strcmp(key, "capped") || !strcmp(key, "size") || !strcmp(key, "max") ||
                 !strcmp(key, "timeseries") || !strcmp(key, "clusteredIndex") || !strcmp(key, "viewOn") ||
                 !strcmp(key, "pipeline") || !strcmp(key, "collation") || !strcmp(key, "expireAfterSeconds") ||
                 !strcmp(key, "encryptedFields")) {
         if (!strcmp(key, "capped") && BSON_ITER_HOLDS_BOOL(&iter) && !bson_iter_bool(&iter)) {
            continue; /* capped: false is the default */
         }
         duet_error_set(error, DUET_ERR_COMMAND_NOT_SUPPORTED, "the collection option '%s' is not supported by duetd",
                        key);
         return false;
      } else if (!strcmp(key, "storageEngine") || !strcmp(key, "indexOptionDefaults") || !strcmp(key, "autoIndexId") ||
                 !strcmp(key, "flags") || !strcmp(key, "idIndex")) {
         continue; /* accepted and ignored, as storage tuning without meaning here */
      } else {
         duet_error_set(error, 40415, "BSON field 'create.%s' is an unknown field.", key);
         return false;
      }
      bson_append_iter(out, key, -1, &iter);
   }
   return true;
}

bool duet_store_coll_parse_options(duet_store_coll_t *coll, duet_error_t *error)
{
   (void)error;
   bson_iter_t iter;
   coll->validation_level = 1;
   coll->validation_action = 0;
   coll->pre_images = false;
   coll->has_validator = false;
   if (bson_iter_init_find(&iter, &coll->options, "validator") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      coll->has_validator = len > 5;
   }
   if (bson_iter_init_find(&iter, &coll->options, "validationLevel") && BSON_ITER_HOLDS_UTF8(&iter)) {
      const char *level = bson_iter_utf8(&iter, NULL);
      coll->validation_level = !strcmp(level, "off") ? 0 : (!strcmp(level, "moderate") ? 2 : 1);
   }
   if (bson_iter_init_find(&iter, &coll->options, "validationAction") && BSON_ITER_HOLDS_UTF8(&iter)) {
      coll->validation_action = !strcmp(bson_iter_utf8(&iter, NULL), "warn") ? 1 : 0;
   }
   bson_iter_t child;
   if (bson_iter_init_find(&iter, &coll->options, "changeStreamPreAndPostImages") &&
       BSON_ITER_HOLDS_DOCUMENT(&iter) && bson_iter_recurse(&iter, &child) && bson_iter_find(&child, "enabled")) {
      coll->pre_images = bson_iter_as_bool(&child);
   }
   return true;
}

/* ---- the cache ---------------------------------------------------------------------- */

static void coll_free(duet_store_coll_t *coll)
{
   for (size_t i = 0; i < coll->index_count; i++) {
      duet_store_index_free(&coll->indexes[i]);
   }
   bson_free(coll->indexes);
   duet_store_validator_free(coll);
   bson_destroy(&coll->options);
   bson_free(coll->db);
   bson_free(coll->name);
   bson_free(coll);
}

void duet_store_catalog_cache_clear(duet_session_t *session)
{
   duet_store_coll_t *coll = session->colls;
   while (coll) {
      duet_store_coll_t *next = coll->next;
      coll_free(coll);
      coll = next;
   }
   session->colls = NULL;
}

static void retire_cache(duet_session_t *session)
{
   duet_store_coll_t *coll = session->colls;
   while (coll) {
      duet_store_coll_t *next = coll->next;
      coll->next = session->retired;
      session->retired = coll;
      coll = next;
   }
   session->colls = NULL;
}

void duet_store_catalog_touch(duet_session_t *session)
{
   session->catalog_dirty = true;
   retire_cache(session);
}

void duet_store_catalog_retired_free(duet_session_t *session)
{
   duet_store_coll_t *coll = session->retired;
   while (coll) {
      duet_store_coll_t *next = coll->next;
      coll_free(coll);
      coll = next;
   }
   session->retired = NULL;
}

static bool load_coll(duet_session_t *session, const char *db, const char *name, duet_store_coll_t **out,
                      duet_error_t *error)
{
   *out = NULL;
   sqlite3_stmt *stmt =
      duet_store_stmt(session, "SELECT id, options, uuid FROM duet_collections WHERE db = ? AND name = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, db, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   if (rc == SQLITE_DONE) {
      sqlite3_reset(stmt);
      return true;
   }
   if (rc != SQLITE_ROW) {
      sqlite3_reset(stmt);
      return duet_store_sqlite_error(session->db, rc, "read the catalog", error);
   }
   duet_store_coll_t *coll = bson_aligned_alloc0(BSON_ALIGNOF(duet_store_coll_t), sizeof *coll);
   coll->id = sqlite3_column_int64(stmt, 0);
   coll->db = bson_strdup(db);
   coll->name = bson_strdup(name);
   snprintf(coll->table, sizeof coll->table, "c%lld", (long long)coll->id);
   if (sqlite3_column_bytes(stmt, 2) == 16) {
      memcpy(coll->uuid, sqlite3_column_blob(stmt, 2), 16);
   }
   const void *blob = sqlite3_column_blob(stmt, 1);
   int blob_len = sqlite3_column_bytes(stmt, 1);
   bson_t view;
   if (blob && bson_init_static(&view, blob, (size_t)blob_len)) {
      bson_copy_to(&view, &coll->options);
   } else {
      bson_init(&coll->options);
   }
   sqlite3_reset(stmt);
   if (!duet_store_coll_parse_options(coll, error) || !duet_store_validator_load(coll, error) ||
       !duet_store_index_load(session, coll, error)) {
      coll_free(coll);
      return false;
   }
   *out = coll;
   return true;
}

bool duet_store_coll_lookup(duet_session_t *session, const char *db, const char *name, duet_store_coll_t **out,
                            duet_error_t *error)
{
   *out = NULL;
   uint_fast64_t version = atomic_load(&session->store->catalog_version);
   if (version != session->catalog_version && !session->in_write) {
      duet_store_catalog_cache_clear(session);
      session->catalog_version = version;
   } else if (version != session->catalog_version && session->in_write && !session->catalog_dirty) {
      /* a write transaction sees the latest commit: DDL of others committed before we began */
      retire_cache(session);
      session->catalog_version = version;
   }
   for (duet_store_coll_t *coll = session->colls; coll; coll = coll->next) {
      if (strcmp(coll->db, db) == 0 && strcmp(coll->name, name) == 0) {
         *out = coll;
         return true;
      }
   }
   duet_store_coll_t *coll = NULL;
   if (!load_coll(session, db, name, &coll, error)) {
      return false;
   }
   if (coll) {
      coll->next = session->colls;
      session->colls = coll;
   }
   *out = coll;
   return true;
}

/* ---- create ------------------------------------------------------------------------- */

static bool create_in_txn(duet_session_t *session, const char *db, const char *name, const bson_t *options,
                          duet_error_t *error)
{
   sqlite3_stmt *stmt = duet_store_stmt(
      session, "INSERT INTO duet_collections(db, name, uuid, options) VALUES(?, ?, ?, ?)", error);
   if (!stmt) {
      return false;
   }
   uint8_t uuid[16];
   bson_oid_t a, b;
   bson_oid_init(&a, NULL);
   bson_oid_init(&b, NULL);
   memcpy(uuid, a.bytes + 4, 8);
   memcpy(uuid + 8, b.bytes + 4, 8);
   for (int i = 0; i < 16; i++) {
      uuid[i] ^= (uint8_t)(duet_store_now_ms() >> (i % 8));
   }
   uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
   uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
   sqlite3_bind_text(stmt, 1, db, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
   sqlite3_bind_blob(stmt, 3, uuid, 16, SQLITE_STATIC);
   sqlite3_bind_blob(stmt, 4, bson_get_data(options), (int)options->len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      if (rc == SQLITE_CONSTRAINT_UNIQUE) {
         duet_error_set(error, DUET_ERR_NAMESPACE_EXISTS, "Collection %s.%s already exists.", db, name);
         return false;
      }
      return duet_store_sqlite_error(session->db, rc, "create collection", error);
   }
   int64_t id = sqlite3_last_insert_rowid(session->db);
   char sql[128];
   snprintf(sql, sizeof sql, "CREATE TABLE c%lld(k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID", (long long)id);
   duet_store_catalog_touch(session);
   if (!duet_store_exec(session, sql, error)) {
      return false;
   }
   /* MongoDB's create event: the options as it lists them, then the _id index */
   bson_t description = BSON_INITIALIZER, id_index, key;
   duet_store_changelog_options(NULL, options, &description);
   BSON_APPEND_DOCUMENT_BEGIN(&description, "idIndex", &id_index);
   BSON_APPEND_INT32(&id_index, "v", 2);
   BSON_APPEND_DOCUMENT_BEGIN(&id_index, "key", &key);
   BSON_APPEND_INT32(&key, "_id", 1);
   bson_append_document_end(&id_index, &key);
   BSON_APPEND_UTF8(&id_index, "name", "_id_");
   bson_append_document_end(&description, &id_index);
   duet_store_change_entry_t entry = {
      .op = "create", .db = db, .coll = name, .uuid = uuid, .description = &description};
   bool ok = duet_store_changelog_append(session, &entry, error);
   bson_destroy(&description);
   return ok;
}

typedef struct create_args {
   const char *db;
   const char *coll;
   const bson_t *options;
} create_args_t;

static bool create_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   create_args_t *args = arg;
   duet_store_coll_t *existing = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &existing, error)) {
      return false;
   }
   if (existing) {
      duet_error_set(error, DUET_ERR_NAMESPACE_EXISTS, "Collection %s.%s already exists.", args->db, args->coll);
      return false;
   }
   bson_t checked = BSON_INITIALIZER;
   bool ok = check_options(args->options, &checked, error);
   if (ok) {
      /* a validator must parse (the matcher reports its own errors) */
      ok = duet_store_validator_check(&checked, error);
   }
   ok = ok && create_in_txn(session, args->db, args->coll, &checked, error);
   bson_destroy(&checked);
   return ok;
}

bool duet_store_create_collection(duet_session_t *session, const char *db, const char *coll, const bson_t *options,
                                  duet_error_t *error)
{
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   create_args_t args = {db, coll, options};
   return duet_store_in_write(session, create_work, &args, error);
}

bool duet_store_coll_lookup_or_create(duet_session_t *session, const char *db, const char *coll,
                                      duet_store_coll_t **out, duet_error_t *error)
{
   if (!duet_store_coll_lookup(session, db, coll, out, error)) {
      return false;
   }
   if (*out) {
      return true;
   }
   if (!duet_store_validate_namespace(db, coll, error)) {
      return false;
   }
   bson_t empty = BSON_INITIALIZER;
   bool ok = create_in_txn(session, db, coll, &empty, error);
   bson_destroy(&empty);
   if (!ok || !duet_store_coll_lookup(session, db, coll, out, error)) {
      return false;
   }
   if (!*out) {
      duet_error_set(error, DUET_ERR_INTERNAL, "collection %s.%s vanished after its creation", db, coll);
      return false;
   }
   return true;
}

/* ---- drop ---------------------------------------------------------------------------- */

static bool drop_tables(duet_session_t *session, duet_store_coll_t *coll, duet_error_t *error)
{
   char sql[320];
   for (size_t i = 0; i < coll->index_count; i++) {
      snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", coll->indexes[i].table);
      if (!duet_store_exec(session, sql, error)) {
         return false;
      }
   }
   snprintf(sql, sizeof sql,
            "DROP TABLE IF EXISTS %s; DELETE FROM duet_indexes WHERE collection_id = %lld;"
            "DELETE FROM duet_collections WHERE id = %lld",
            coll->table, (long long)coll->id, (long long)coll->id);
   return duet_store_exec(session, sql, error);
}

typedef struct drop_args {
   const char *db;
   const char *coll;
   bool *dropped;
   uint8_t *uuid; /* may be NULL; else receives the dropped collection's UUID */
   bool silent;   /* no "drop" event: a rename with dropTarget names the target in its own event */
} drop_args_t;

static bool drop_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   drop_args_t *args = arg;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   *args->dropped = coll != NULL;
   if (!coll) {
      return true;
   }
   uint8_t uuid[16];
   memcpy(uuid, coll->uuid, 16);
   if (args->uuid) {
      memcpy(args->uuid, uuid, 16);
   }
   duet_store_stmt_cache_clear(session);
   if (!drop_tables(session, coll, error)) {
      return false;
   }
   duet_store_catalog_touch(session);
   if (args->silent) {
      return true;
   }
   duet_store_change_entry_t entry = {.op = "drop", .db = args->db, .coll = args->coll, .uuid = uuid};
   return duet_store_changelog_append(session, &entry, error);
}

bool duet_store_drop_collection(duet_session_t *session, const char *db, const char *coll, bool *dropped,
                                duet_error_t *error)
{
   bool ignored;
   drop_args_t args = {db, coll, dropped ? dropped : &ignored, NULL, false};
   return duet_store_in_write(session, drop_work, &args, error);
}

static bool list_names_in_db(duet_session_t *session, const char *db, char ***names, size_t *count,
                             duet_error_t *error)
{
   *names = NULL;
   *count = 0;
   sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT name FROM duet_collections WHERE db = ? ORDER BY name", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, db, -1, SQLITE_STATIC);
   size_t capacity = 0;
   int rc;
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (*count == capacity) {
         capacity = capacity ? capacity * 2 : 8;
         *names = bson_realloc(*names, capacity * sizeof **names);
      }
      (*names)[(*count)++] = bson_strdup((const char *)sqlite3_column_text(stmt, 0));
   }
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      duet_store_names_free(*names, *count);
      *names = NULL;
      *count = 0;
      return duet_store_sqlite_error(session->db, rc, "list collections", error);
   }
   return true;
}

static bool drop_database_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   const char *db = arg;
   char **names;
   size_t count;
   if (!list_names_in_db(session, db, &names, &count, error)) {
      return false;
   }
   bool ok = true;
   for (size_t i = 0; ok && i < count; i++) {
      bool dropped;
      drop_args_t args = {db, names[i], &dropped, NULL, false};
      ok = drop_work(session, &args, error);
   }
   duet_store_names_free(names, count);
   if (!ok) {
      return false;
   }
   duet_store_change_entry_t entry = {.op = "dropDatabase", .db = db};
   return duet_store_changelog_append(session, &entry, error);
}

bool duet_store_drop_database(duet_session_t *session, const char *db, duet_error_t *error)
{
   if (!duet_store_validate_db_name(db, error)) {
      return false;
   }
   return duet_store_in_write(session, drop_database_work, (void *)db, error);
}

/* ---- rename --------------------------------------------------------------------------- */

typedef struct rename_args {
   const char *db, *from, *to_db, *to;
   bool drop_target;
} rename_args_t;

static bool rename_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   rename_args_t *args = arg;
   duet_store_coll_t *source = NULL;
   duet_store_coll_t *target = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->from, &source, error)) {
      return false;
   }
   if (!source) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "Source collection %s.%s does not exist", args->db,
                     args->from);
      return false;
   }
   if (strcmp(args->db, args->to_db) == 0 && strcmp(args->from, args->to) == 0) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "Can't rename a collection to itself");
      return false;
   }
   int64_t source_id = source->id;
   uint8_t source_uuid[16], target_uuid[16] = {0};
   memcpy(source_uuid, source->uuid, 16);
   if (!duet_store_coll_lookup(session, args->to_db, args->to, &target, error)) {
      return false;
   }
   bool dropped = false;
   if (target) {
      if (!args->drop_target) {
         duet_error_set(error, DUET_ERR_NAMESPACE_EXISTS, "target namespace exists");
         return false;
      }
      /* as MongoDB: one rename event (operationDescription.dropTarget names the replaced
       * collection); a stream on the target sees that rename, then its invalidate */
      drop_args_t drop = {args->to_db, args->to, &dropped, target_uuid, true};
      if (!drop_work(session, &drop, error)) {
         return false;
      }
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, "UPDATE duet_collections SET db = ?, name = ? WHERE id = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, args->to_db, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, args->to, -1, SQLITE_STATIC);
   sqlite3_bind_int64(stmt, 3, source_id);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "rename collection", error);
   }
   duet_store_catalog_touch(session);
   bson_t extra = BSON_INITIALIZER, description = BSON_INITIALIZER;
   bson_t to;
   BSON_APPEND_DOCUMENT_BEGIN(&extra, "to", &to);
   BSON_APPEND_UTF8(&to, "db", args->to_db);
   BSON_APPEND_UTF8(&to, "coll", args->to);
   bson_append_document_end(&extra, &to);
   bson_concat(&description, &extra); /* MongoDB's operationDescription: {to, dropTarget} */
   if (dropped) {
      bson_append_binary(&description, "dropTarget", -1, BSON_SUBTYPE_UUID, target_uuid, 16);
   }
   duet_store_change_entry_t entry = {.op = "rename",
                                      .db = args->db,
                                      .coll = args->from,
                                      .uuid = source_uuid,
                                      .extra = &extra,
                                      .description = &description};
   bool ok = duet_store_changelog_append(session, &entry, error);
   bson_destroy(&extra);
   bson_destroy(&description);
   return ok;
}

bool duet_store_rename_collection(duet_session_t *session, const char *db, const char *from, const char *to_db,
                                  const char *to, bool drop_target, duet_error_t *error)
{
   if (!duet_store_validate_namespace(db, from, error) || !duet_store_validate_namespace(to_db, to, error)) {
      return false;
   }
   rename_args_t args = {db, from, to_db, to, drop_target};
   return duet_store_in_write(session, rename_work, &args, error);
}

/* ---- collMod ----------------------------------------------------------------------------- */

typedef struct mod_args {
   const char *db, *coll;
   const bson_t *changes;
} mod_args_t;

static bool mod_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   mod_args_t *args = arg;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   if (!coll) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "ns does not exist: %s.%s", args->db, args->coll);
      return false;
   }
   bson_t checked = BSON_INITIALIZER;
   if (!check_options(args->changes, &checked, error) || !duet_store_validator_check(&checked, error)) {
      bson_destroy(&checked);
      return false;
   }
   /* merge: changed keys replace, others stay */
   bson_t merged = BSON_INITIALIZER;
   bson_iter_t iter;
   bson_iter_init(&iter, &coll->options);
   while (bson_iter_next(&iter)) {
      if (!bson_has_field(&checked, bson_iter_key(&iter))) {
         bson_append_iter(&merged, NULL, 0, &iter);
      }
   }
   bson_concat(&merged, &checked);
   /* MongoDB's modify event: the changes, and the options before them */
   bson_t state = BSON_INITIALIZER, before;
   BSON_APPEND_DOCUMENT_BEGIN(&state, "collectionOptions", &before);
   duet_store_changelog_options(coll->uuid, &coll->options, &before);
   bson_append_document_end(&state, &before);
   uint8_t uuid[16];
   memcpy(uuid, coll->uuid, 16);
   sqlite3_stmt *stmt = duet_store_stmt(session, "UPDATE duet_collections SET options = ? WHERE id = ?", error);
   bool ok = stmt != NULL;
   if (ok) {
      sqlite3_bind_blob(stmt, 1, bson_get_data(&merged), (int)merged.len, SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 2, coll->id);
      int rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      ok = rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "collMod", error);
   }
   bson_destroy(&merged);
   duet_store_catalog_touch(session);
   duet_store_change_entry_t entry = {
      .op = "modify", .db = args->db, .coll = args->coll, .uuid = uuid, .description = &checked, .state = &state};
   ok = ok && duet_store_changelog_append(session, &entry, error);
   bson_destroy(&checked);
   bson_destroy(&state);
   return ok;
}

bool duet_store_coll_mod(duet_session_t *session, const char *db, const char *coll, const bson_t *changes,
                         duet_error_t *error)
{
   mod_args_t args = {db, coll, changes};
   return duet_store_in_write(session, mod_work, &args, error);
}

/* ---- listing ------------------------------------------------------------------------------ */

static void info_from_row(sqlite3_stmt *stmt, duet_store_collection_info_t *info)
{
   info->db = bson_strdup((const char *)sqlite3_column_text(stmt, 0));
   info->name = bson_strdup((const char *)sqlite3_column_text(stmt, 1));
   memset(info->uuid, 0, 16);
   if (sqlite3_column_bytes(stmt, 2) == 16) {
      memcpy(info->uuid, sqlite3_column_blob(stmt, 2), 16);
   }
   bson_t view;
   const void *blob = sqlite3_column_blob(stmt, 3);
   if (blob && bson_init_static(&view, blob, (size_t)sqlite3_column_bytes(stmt, 3))) {
      info->options = bson_copy(&view);
   } else {
      info->options = bson_new();
   }
}

bool duet_store_collection_info(duet_session_t *session, const char *db, const char *coll,
                                duet_store_collection_info_t *info, bool *exists, duet_error_t *error)
{
   *exists = false;
   sqlite3_stmt *stmt =
      duet_store_stmt(session, "SELECT db, name, uuid, options FROM duet_collections WHERE db = ? AND name = ?", error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, db, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, coll, -1, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   if (rc == SQLITE_ROW) {
      info_from_row(stmt, info);
      *exists = true;
   }
   sqlite3_reset(stmt);
   if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "collection info", error);
   }
   return true;
}

void duet_store_collection_info_clear(duet_store_collection_info_t *info)
{
   bson_free(info->db);
   bson_free(info->name);
   bson_destroy(info->options);
   info->options = NULL;
   info->db = NULL;
   info->name = NULL;
}

bool duet_store_list_collections(duet_session_t *session, const char *db, duet_store_collection_info_t **infos,
                                 size_t *count, duet_error_t *error)
{
   *infos = NULL;
   *count = 0;
   sqlite3_stmt *stmt = duet_store_stmt(
      session,
      db ? "SELECT db, name, uuid, options FROM duet_collections WHERE db = ? ORDER BY name"
         : "SELECT db, name, uuid, options FROM duet_collections ORDER BY db, name",
      error);
   if (!stmt) {
      return false;
   }
   if (db) {
      sqlite3_bind_text(stmt, 1, db, -1, SQLITE_STATIC);
   }
   size_t capacity = 0;
   int rc;
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (*count == capacity) {
         capacity = capacity ? capacity * 2 : 8;
         *infos = bson_realloc(*infos, capacity * sizeof **infos);
      }
      info_from_row(stmt, &(*infos)[(*count)++]);
   }
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      duet_store_collection_infos_free(*infos, *count);
      *infos = NULL;
      *count = 0;
      return duet_store_sqlite_error(session->db, rc, "list collections", error);
   }
   return true;
}

void duet_store_collection_infos_free(duet_store_collection_info_t *infos, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      duet_store_collection_info_clear(&infos[i]);
   }
   bson_free(infos);
}

bool duet_store_list_databases(duet_session_t *session, char ***names, size_t *count, duet_error_t *error)
{
   *names = NULL;
   *count = 0;
   sqlite3_stmt *stmt = duet_store_stmt(session, "SELECT DISTINCT db FROM duet_collections ORDER BY db", error);
   if (!stmt) {
      return false;
   }
   size_t capacity = 0;
   int rc;
   while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (*count == capacity) {
         capacity = capacity ? capacity * 2 : 8;
         *names = bson_realloc(*names, capacity * sizeof **names);
      }
      (*names)[(*count)++] = bson_strdup((const char *)sqlite3_column_text(stmt, 0));
   }
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      duet_store_names_free(*names, *count);
      *names = NULL;
      *count = 0;
      return duet_store_sqlite_error(session->db, rc, "list databases", error);
   }
   return true;
}

void duet_store_names_free(char **names, size_t count)
{
   for (size_t i = 0; i < count; i++) {
      bson_free(names[i]);
   }
   bson_free(names);
}

/* ---- partner links and migration progress -------------------------------------------------- */

static const char *meta_table(const char *kind, duet_error_t *error)
{
   if (strcmp(kind, "partner_link") == 0) {
      return "duet_partner_links";
   }
   if (strcmp(kind, "migration_progress") == 0) {
      return "duet_migration_progress";
   }
   duet_error_set(error, DUET_ERR_BAD_VALUE, "unknown catalog document kind '%s'", kind);
   return NULL;
}

typedef struct meta_args {
   const char *table;
   const char *name;
   const bson_t *doc;
} meta_args_t;

static bool meta_put_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   meta_args_t *args = arg;
   char sql[128];
   if (args->doc) {
      snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s(name, doc) VALUES(?, ?)", args->table);
   } else {
      snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ?", args->table);
   }
   sqlite3_stmt *stmt = duet_store_stmt(session, sql, error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, args->name, -1, SQLITE_STATIC);
   if (args->doc) {
      sqlite3_bind_blob(stmt, 2, bson_get_data(args->doc), (int)args->doc->len, SQLITE_STATIC);
   }
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   return rc == SQLITE_DONE || duet_store_sqlite_error(session->db, rc, "catalog document", error);
}

bool duet_store_meta_put(duet_session_t *session, const char *kind, const char *name, const bson_t *doc,
                         duet_error_t *error)
{
   const char *table = meta_table(kind, error);
   meta_args_t args = {table, name, doc};
   return table && duet_store_in_write(session, meta_put_work, &args, error);
}

bool duet_store_meta_delete(duet_session_t *session, const char *kind, const char *name, duet_error_t *error)
{
   const char *table = meta_table(kind, error);
   meta_args_t args = {table, name, NULL};
   return table && duet_store_in_write(session, meta_put_work, &args, error);
}

bool duet_store_meta_get(duet_session_t *session, const char *kind, const char *name, bson_t *doc, bool *found,
                         duet_error_t *error)
{
   *found = false;
   const char *table = meta_table(kind, error);
   if (!table) {
      return false;
   }
   char sql[128];
   snprintf(sql, sizeof sql, "SELECT doc FROM %s WHERE name = ?", table);
   sqlite3_stmt *stmt = duet_store_stmt(session, sql, error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   if (rc == SQLITE_ROW) {
      bson_t view;
      if (bson_init_static(&view, sqlite3_column_blob(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0))) {
         bson_copy_to(&view, doc);
         *found = true;
      }
   }
   sqlite3_reset(stmt);
   if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "catalog document", error);
   }
   return true;
}
