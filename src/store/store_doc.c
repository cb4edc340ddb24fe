/*
 * store_doc.c — documents of a collection: insert, update/replace, delete,
 * point reads, counts and scans (cursors).  Every write keeps the secondary
 * indexes, appends its change-log entry and runs the write hooks in the same
 * transaction.  A collection's table is (k = encoded _id, d = BSON document).
 */
#include "store/store_bulk.h"
#include "store/store_internal.h"

#include <duet/doc.h>

#include <string.h>

struct duet_store_cursor {
   sqlite3_stmt *stmt; /* owned */
   bson_t view;        /* the current row's document (points into stmt's row) */
   bool done;
};

sqlite3_stmt *duet_store_coll_stmt(duet_session_t *session, duet_store_coll_t *coll, duet_store_coll_stmt_kind_t kind,
                                   duet_error_t *error)
{
   if (coll->stmt_generation != session->stmt_generation) {
      memset(coll->stmts, 0, sizeof coll->stmts);
      coll->stmt_generation = session->stmt_generation;
   }
   sqlite3_stmt *stmt = coll->stmts[kind];
   if (stmt) {
      sqlite3_reset(stmt); /* every caller binds all of its parameters */
      return stmt;
   }
#define ROWS4 "(?, ?), (?, ?), (?, ?), (?, ?)"
   static const char *const formats[DUET_STORE_STMT_KINDS] = {
      "INSERT INTO %s(k, d) VALUES(?1, ?2)",
      "UPDATE %s SET d = ?1 WHERE k = ?2",
      "DELETE FROM %s WHERE k = ?1",
      "SELECT d FROM %s WHERE k = ?1",
      "SELECT count(*) FROM %s",
      "INSERT INTO %s(k, d) VALUES(?1, ?2) ON CONFLICT(k) DO NOTHING",
      "INSERT INTO %s(k, d) VALUES" ROWS4 ", " ROWS4 ", " ROWS4 ", " ROWS4,
   };
#undef ROWS4
   _Static_assert(DUET_STORE_INSERT_GROUP == 16, "the group statement above lists 16 rows");
   char sql[256];
   snprintf(sql, sizeof sql, formats[kind], coll->table);
   stmt = duet_store_stmt(session, sql, error);
   coll->stmts[kind] = stmt;
   return stmt;
}

/* ---- checks --------------------------------------------------------------------- */

/* Walks every element (recursing into documents, arrays and scopes): false
 * when lengths or terminators are inconsistent.  Cheaper than bson_validate,
 * which calls a visitor per element; the elements' contents (UTF-8) are stored
 * as given, as MongoDB does. */
static bool structure_valid(bson_iter_t *iter)
{
   while (bson_iter_next(iter)) {
      bson_type_t type = bson_iter_type(iter);
      if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) {
         bson_iter_t child;
         if (!bson_iter_recurse(iter, &child) || !structure_valid(&child)) {
            return false;
         }
      } else if (type == BSON_TYPE_CODEWSCOPE) {
         uint32_t scope_len;
         const uint8_t *scope;
         uint32_t code_len;
         bson_iter_codewscope(iter, &code_len, &scope_len, &scope);
         bson_iter_t child;
         if (!scope || !bson_iter_init_from_data(&child, scope, scope_len) || !structure_valid(&child)) {
            return false;
         }
      }
   }
   return iter->err_off == 0;
}

bool duet_store_check_document(const bson_t *doc, duet_error_t *error)
{
   if (doc->len > DUET_STORE_MAX_BSON_SIZE) {
      duet_error_set(error, DUET_ERR_BSON_OBJECT_TOO_LARGE, "object to insert too large. size in bytes: %u, max size: %d",
                     doc->len, DUET_STORE_MAX_BSON_SIZE);
      return false;
   }
   bson_iter_t iter;
   if (!bson_iter_init(&iter, doc)) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "invalid BSON document");
      return false;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (key[0] == '\0') {
         duet_error_set(error, DUET_ERR_EMPTY_FIELD_NAME, "Document can't have empty field names");
         return false;
      }
      if (key[0] == '$') {
         duet_error_set(error, DUET_ERR_DOLLAR_PREFIXED_FIELD_NAME, "Document can't have $ prefixed field names: %s",
                        key);
         return false;
      }
      bson_type_t type = bson_iter_type(&iter);
      if (key[0] == '_' && strcmp(key, "_id") == 0 &&
          (type == BSON_TYPE_ARRAY || type == BSON_TYPE_REGEX || type == BSON_TYPE_UNDEFINED)) {
         duet_error_set(error, DUET_ERR_INVALID_ID_FIELD, "The '_id' value cannot be of type %s", duet_type_name(type));
         return false;
      }
      if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY || type == BSON_TYPE_CODEWSCOPE) {
         bson_iter_t one = iter; /* structure_valid steps from before the element */
         bson_iter_t child;
         bool ok;
         if (type == BSON_TYPE_CODEWSCOPE) {
            uint32_t scope_len, code_len;
            const uint8_t *scope;
            bson_iter_codewscope(&one, &code_len, &scope_len, &scope);
            ok = scope && bson_iter_init_from_data(&child, scope, scope_len) && structure_valid(&child);
         } else {
            ok = bson_iter_recurse(&one, &child) && structure_valid(&child);
         }
         if (!ok) {
            duet_error_set(error, DUET_ERR_INVALID_BSON, "invalid BSON document (field '%s')", key);
            return false;
         }
      }
   }
   if (iter.err_off != 0) {
      duet_error_set(error, DUET_ERR_INVALID_BSON, "invalid BSON document (at byte %u)", iter.err_off);
      return false;
   }
   return true;
}

void duet_store_with_id_first(const bson_t *doc, const bson_value_t *id, bson_t *out)
{
   bson_init(out);
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, doc, "_id")) {
      bson_append_iter(out, "_id", 3, &iter);
   } else if (id) {
      bson_append_value(out, "_id", 3, id);
   } else {
      bson_oid_t oid;
      bson_oid_init(&oid, NULL);
      bson_append_oid(out, "_id", 3, &oid);
   }
   bson_iter_init(&iter, doc);
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), "_id") != 0) {
         bson_append_iter(out, NULL, 0, &iter);
      }
   }
}

bool duet_store_id_first(const bson_t *doc)
{
   bson_iter_t iter;
   return bson_iter_init(&iter, doc) && bson_iter_next(&iter) && strcmp(bson_iter_key(&iter), "_id") == 0;
}

void duet_store_dup_id_error(duet_store_coll_t *coll, const bson_value_t *id, duet_error_t *error)
{
   bson_t pattern = BSON_INITIALIZER;
   bson_t value = BSON_INITIALIZER;
   BSON_APPEND_INT32(&pattern, "_id", 1);
   bson_append_value(&value, "_id", 3, id);
   duet_store_duplicate_key_error(coll->db, coll->name, "_id_", &pattern, &value, error);
   bson_destroy(&pattern);
   bson_destroy(&value);
}

bool duet_store_run_hooks(duet_session_t *session, duet_store_op_t op, duet_store_coll_t *coll, const bson_t *old_doc,
                          const bson_t *new_doc, duet_error_t *error)
{
   duet_store_write_t write = {
      .op = op,
      .db = coll->db,
      .coll = coll->name,
      .old_doc = old_doc,
      .new_doc = new_doc,
      .origin = session->origin_depth ? session->origins[session->origin_depth - 1] : NULL,
   };
   return duet_store_hooks_run(session, &write, error);
}

/* ---- insert ---------------------------------------------------------------------------- */

typedef struct insert_args {
   const char *db, *coll;
   const bson_t *doc;
   bson_t *stored;
} insert_args_t;

static bool insert_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   insert_args_t *args = arg;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_check_document(args->doc, error) ||
       !duet_store_coll_lookup_or_create(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   bson_t rebuilt;
   const bson_t *doc = args->doc;
   bool owned = false;
   if (!duet_store_id_first(doc)) {
      duet_store_with_id_first(doc, NULL, &rebuilt);
      doc = &rebuilt;
      owned = true;
      if (doc->len > DUET_STORE_MAX_BSON_SIZE) {
         duet_error_set(error, DUET_ERR_BSON_OBJECT_TOO_LARGE,
                        "object to insert too large. size in bytes: %u, max size: %d", doc->len,
                        DUET_STORE_MAX_BSON_SIZE);
         bson_destroy(&rebuilt);
         return false;
      }
   }
   bool ok = false;
   bson_iter_t id_iter;
   bson_iter_init_find(&id_iter, doc, "_id");
   const bson_value_t *id = bson_iter_value(&id_iter);
   if (coll->has_validator && !session->bypass_validation && !duet_store_validate_write(coll, NULL, doc, error)) {
      goto done;
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_INSERT, error);
   if (!stmt) {
      goto done;
   }
   duet_key_set_value(&session->key, id);
   sqlite3_bind_blob(stmt, 1, session->key.data, (int)session->key.len, SQLITE_STATIC);
   sqlite3_bind_blob(stmt, 2, bson_get_data(doc), (int)doc->len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
         duet_store_dup_id_error(coll, id, error);
      } else {
         duet_store_sqlite_error(session->db, rc, "insert", error);
      }
      goto done;
   }
   if (coll->index_count && !duet_store_index_update(session, coll, NULL, doc, error)) {
      goto done;
   }
   duet_store_change_entry_t entry = {
      .op = "insert", .db = coll->db, .coll = coll->name, .uuid = coll->uuid, .id = id, .post = doc};
   if (!duet_store_changelog_append(session, &entry, error) ||
       !duet_store_run_hooks(session, DUET_STORE_OP_INSERT, coll, NULL, doc, error)) {
      goto done;
   }
   if (args->stored) {
      bson_copy_to(doc, args->stored);
   }
   ok = true;
done:
   if (owned) {
      bson_destroy(&rebuilt);
   }
   return ok;
}

bool duet_store_insert(duet_session_t *session, const char *db, const char *coll, const bson_t *doc, bson_t *stored,
                       duet_error_t *error)
{
   insert_args_t args = {db, coll, doc, stored};
   bool ok = duet_store_in_write(session, insert_work, &args, error);
   if (!ok && stored) {
      bson_init(stored);
   }
   return ok;
}

/* ---- update --------------------------------------------------------------------------------- */

typedef struct update_args {
   const char *db, *coll;
   const bson_t *old_doc, *new_doc;
   duet_store_update_kind_t kind;
   bool *changed;
} update_args_t;

static bool update_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   update_args_t *args = arg;
   *args->changed = false;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   if (!coll) {
      duet_error_set(error, DUET_ERR_NAMESPACE_NOT_FOUND, "ns does not exist: %s.%s", args->db, args->coll);
      return false;
   }
   bson_iter_t old_id_iter;
   if (!bson_iter_init_find(&old_id_iter, args->old_doc, "_id")) {
      duet_error_set(error, DUET_ERR_INTERNAL, "the stored document has no _id");
      return false;
   }
   const bson_value_t *old_id = bson_iter_value(&old_id_iter);
   if (!duet_store_check_document(args->new_doc, error)) {
      return false;
   }
   bson_t rebuilt;
   const bson_t *doc = args->new_doc;
   bool owned = false;
   bson_iter_t new_id_iter;
   if (bson_iter_init_find(&new_id_iter, doc, "_id")) {
      const bson_value_t *new_id = bson_iter_value(&new_id_iter);
      if (new_id->value_type != old_id->value_type || duet_value_compare(new_id, old_id) != 0) {
         bson_string_t *text = bson_string_new(NULL);
         duet_store_format_value(text, new_id);
         duet_error_set(error, DUET_ERR_IMMUTABLE_FIELD,
                        "After applying the update, the (immutable) field '_id' was found to have been altered to "
                        "_id: %s",
                        text->str);
         bson_string_free(text, true);
         return false;
      }
   }
   if (!duet_store_id_first(doc)) {
      duet_store_with_id_first(doc, old_id, &rebuilt);
      doc = &rebuilt;
      owned = true;
   }
   bool ok = false;
   if (doc->len == args->old_doc->len && memcmp(bson_get_data(doc), bson_get_data(args->old_doc), doc->len) == 0) {
      ok = true; /* no-op update: nothing written, no event */
      goto done;
   }
   if (doc->len > DUET_STORE_MAX_BSON_SIZE) {
      duet_error_set(error, DUET_ERR_BSON_OBJECT_TOO_LARGE, "object to insert too large. size in bytes: %u, max size: %d",
                     doc->len, DUET_STORE_MAX_BSON_SIZE);
      goto done;
   }
   if (coll->has_validator && !session->bypass_validation && !duet_store_validate_write(coll, args->old_doc, doc, error)) {
      goto done;
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_UPDATE, error);
   if (!stmt) {
      goto done;
   }
   duet_key_set_value(&session->key, old_id);
   sqlite3_bind_blob(stmt, 1, bson_get_data(doc), (int)doc->len, SQLITE_STATIC);
   sqlite3_bind_blob(stmt, 2, session->key.data, (int)session->key.len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      duet_store_sqlite_error(session->db, rc, "update", error);
      goto done;
   }
   if (sqlite3_changes(session->db) != 1) {
      duet_error_set(error, DUET_ERR_NO_MATCHING_DOCUMENT, "the document to update no longer exists in %s.%s",
                     coll->db, coll->name);
      goto done;
   }
   if (coll->index_count && !duet_store_index_update(session, coll, args->old_doc, doc, error)) {
      goto done;
   }
   bson_t description = BSON_INITIALIZER;
   bool is_update = args->kind == DUET_STORE_UPDATE;
   if (is_update) {
      bson_destroy(&description);
      duet_store_diff(args->old_doc, doc, &description);
   }
   duet_store_change_entry_t entry = {
      .op = is_update ? "update" : "replace",
      .db = coll->db,
      .coll = coll->name,
      .uuid = coll->uuid,
      .id = old_id,
      .update_description = is_update ? &description : NULL,
      .post = doc,
      .pre = coll->pre_images ? args->old_doc : NULL,
   };
   bool logged = duet_store_changelog_append(session, &entry, error);
   bson_destroy(&description);
   if (!logged || !duet_store_run_hooks(session, is_update ? DUET_STORE_OP_UPDATE : DUET_STORE_OP_REPLACE, coll,
                             args->old_doc, doc, error)) {
      goto done;
   }
   *args->changed = true;
   ok = true;
done:
   if (owned) {
      bson_destroy(&rebuilt);
   }
   return ok;
}

bool duet_store_update(duet_session_t *session, const char *db, const char *coll, const bson_t *old_doc,
                       const bson_t *new_doc, duet_store_update_kind_t kind, bool *changed, duet_error_t *error)
{
   bool ignored;
   update_args_t args = {db, coll, old_doc, new_doc, kind, changed ? changed : &ignored};
   return duet_store_in_write(session, update_work, &args, error);
}

/* ---- delete ------------------------------------------------------------------------------------- */

typedef struct delete_args {
   const char *db, *coll;
   const bson_value_t *id;
   bool *deleted;
} delete_args_t;

static bool delete_work(duet_session_t *session, void *arg, duet_error_t *error)
{
   delete_args_t *args = arg;
   *args->deleted = false;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, args->db, args->coll, &coll, error)) {
      return false;
   }
   if (!coll) {
      return true;
   }
   bson_t old_doc;
   bool found = false;
   if (!duet_store_find_id(session, args->db, args->coll, args->id, &old_doc, &found, error)) {
      return false;
   }
   if (!found) {
      return true;
   }
   bool ok = false;
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_DELETE, error);
   if (!stmt) {
      goto done;
   }
   duet_key_set_value(&session->key, args->id);
   sqlite3_bind_blob(stmt, 1, session->key.data, (int)session->key.len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_DONE) {
      duet_store_sqlite_error(session->db, rc, "delete", error);
      goto done;
   }
   if (coll->index_count && !duet_store_index_update(session, coll, &old_doc, NULL, error)) {
      goto done;
   }
   bson_iter_t id_iter;
   bson_iter_init_find(&id_iter, &old_doc, "_id");
   duet_store_change_entry_t entry = {
      .op = "delete",
      .db = coll->db,
      .coll = coll->name,
      .uuid = coll->uuid,
      .id = bson_iter_value(&id_iter),
      .pre = coll->pre_images ? &old_doc : NULL,
   };
   if (!duet_store_changelog_append(session, &entry, error) ||
       !duet_store_run_hooks(session, DUET_STORE_OP_DELETE, coll, &old_doc, NULL, error)) {
      goto done;
   }
   *args->deleted = true;
   ok = true;
done:
   bson_destroy(&old_doc);
   return ok;
}

bool duet_store_delete(duet_session_t *session, const char *db, const char *coll, const bson_value_t *id,
                       bool *deleted, duet_error_t *error)
{
   bool ignored;
   delete_args_t args = {db, coll, id, deleted ? deleted : &ignored};
   return duet_store_in_write(session, delete_work, &args, error);
}

/* ---- reads ----------------------------------------------------------------------------------------- */

bool duet_store_find_id(duet_session_t *session, const char *db, const char *coll_name, const bson_value_t *id,
                        bson_t *doc, bool *found, duet_error_t *error)
{
   *found = false;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
      return false;
   }
   if (!coll) {
      return true;
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_FIND, error);
   if (!stmt) {
      return false;
   }
   duet_key_t key = DUET_KEY_INIT;
   duet_key_set_value(&key, id);
   sqlite3_bind_blob(stmt, 1, key.data, (int)key.len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   bool ok = true;
   if (rc == SQLITE_ROW) {
      bson_t view;
      if (!bson_init_static(&view, sqlite3_column_blob(stmt, 0), (size_t)sqlite3_column_bytes(stmt, 0))) {
         duet_error_set(error, DUET_ERR_INTERNAL, "stored document of %s.%s is not valid BSON", db, coll_name);
         ok = false;
      } else {
         bson_copy_to(&view, doc);
         *found = true;
      }
   } else if (rc != SQLITE_DONE) {
      ok = duet_store_sqlite_error(session->db, rc, "find", error);
   }
   sqlite3_reset(stmt);
   duet_key_destroy(&key);
   return ok;
}

bool duet_store_count(duet_session_t *session, const char *db, const char *coll_name, int64_t *count,
                      duet_error_t *error)
{
   *count = 0;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
      return false;
   }
   if (!coll) {
      return true;
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_COUNT, error);
   if (!stmt) {
      return false;
   }
   int rc = sqlite3_step(stmt);
   if (rc == SQLITE_ROW) {
      *count = sqlite3_column_int64(stmt, 0);
   }
   sqlite3_reset(stmt);
   return rc == SQLITE_ROW || duet_store_sqlite_error(session->db, rc, "count", error);
}

/* ---- cursors ------------------------------------------------------------------------------------------ */

static bool cursor_prepare(duet_session_t *session, const char *sql, duet_store_cursor_t **out, duet_error_t *error)
{
   duet_store_cursor_t *cursor = bson_aligned_alloc0(BSON_ALIGNOF(duet_store_cursor_t), sizeof *cursor);
   int rc = sqlite3_prepare_v2(session->db, sql, -1, &cursor->stmt, NULL);
   if (rc != SQLITE_OK) {
      bson_free(cursor);
      return duet_store_sqlite_error(session->db, rc, "scan", error);
   }
   *out = cursor;
   return true;
}

static duet_store_cursor_t *empty_cursor(void)
{
   duet_store_cursor_t *cursor = bson_aligned_alloc0(BSON_ALIGNOF(duet_store_cursor_t), sizeof *cursor);
   cursor->done = true;
   return cursor;
}

/* Binds an encoded key as parameter `index` (copied). */
static void bind_key(sqlite3_stmt *stmt, int index, const duet_key_t *key)
{
   sqlite3_bind_blob(stmt, index, key->data ? (const void *)key->data : "", (int)key->len, SQLITE_TRANSIENT);
}

bool duet_store_scan(duet_session_t *session, const char *db, const char *coll_name, const duet_store_bound_t *lower,
                     const duet_store_bound_t *upper, bool reverse, duet_store_cursor_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
      return false;
   }
   if (!coll) {
      *out = empty_cursor();
      return true;
   }
   bool has_lower = lower && lower->value;
   bool has_upper = upper && upper->value;
   char sql[256];
   snprintf(sql, sizeof sql, "SELECT d FROM %s WHERE 1%s%s ORDER BY k%s", coll->table,
            has_lower ? (lower->inclusive ? " AND k >= ?1" : " AND k > ?1") : "",
            has_upper ? (upper->inclusive ? " AND k <= ?2" : " AND k < ?2") : "", reverse ? " DESC" : "");
   if (!cursor_prepare(session, sql, out, error)) {
      return false;
   }
   duet_key_t key = DUET_KEY_INIT;
   if (has_lower) {
      duet_key_set_value(&key, lower->value);
      bind_key((*out)->stmt, 1, &key);
   }
   if (has_upper) {
      duet_key_set_value(&key, upper->value);
      bind_key((*out)->stmt, 2, &key);
   }
   duet_key_destroy(&key);
   return true;
}

bool duet_store_index_scan(duet_session_t *session, const char *db, const char *coll_name, const char *index_name,
                           const duet_store_bound_t *lower, const duet_store_bound_t *upper, bool reverse,
                           duet_store_cursor_t **out, duet_error_t *error)
{
   *out = NULL;
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup(session, db, coll_name, &coll, error)) {
      return false;
   }
   duet_store_index_t *index = NULL;
   for (size_t i = 0; coll && i < coll->index_count; i++) {
      if (strcmp(coll->indexes[i].name, index_name) == 0) {
         index = &coll->indexes[i];
      }
   }
   if (!index) {
      duet_error_set(error, DUET_ERR_INDEX_NOT_FOUND, "index not found with name [%s]", index_name);
      return false;
   }
   /* Keys start with the first component's encoding (complemented when descending).
    * A value bound becomes a key range: [enc(v), successor(enc(v))) holds every key
    * whose first component equals v. */
   bool descending = index->descending[0];
   const duet_store_bound_t *key_low = descending ? upper : lower;
   const duet_store_bound_t *key_high = descending ? lower : upper;
   bool has_low = key_low && key_low->value;
   bool has_high = key_high && key_high->value;
   duet_key_t low = DUET_KEY_INIT, high = DUET_KEY_INIT;
   bool low_unbounded_after = false, high_unbounded = false;
   if (has_low) {
      duet_key_append_value(&low, key_low->value, descending);
      if (!key_low->inclusive && !duet_key_prefix_successor(&low)) {
         low_unbounded_after = true; /* nothing lies above: empty scan */
      }
   }
   if (has_high) {
      duet_key_append_value(&high, key_high->value, descending);
      if (key_high->inclusive && !duet_key_prefix_successor(&high)) {
         high_unbounded = true;
      }
   }
   if (low_unbounded_after) {
      duet_key_destroy(&low);
      duet_key_destroy(&high);
      *out = empty_cursor();
      return true;
   }
   char sql[320];
   snprintf(sql, sizeof sql, "SELECT c.d FROM %s AS i JOIN %s AS c ON c.k = i.id WHERE 1%s%s ORDER BY i.k%s, i.id%s",
            index->table, coll->table, has_low ? " AND i.k >= ?1" : "",
            has_high && !high_unbounded ? " AND i.k < ?2" : "", reverse ? " DESC" : "", reverse ? " DESC" : "");
   bool ok = cursor_prepare(session, sql, out, error);
   if (ok && has_low) {
      bind_key((*out)->stmt, 1, &low);
   }
   if (ok && has_high && !high_unbounded) {
      bind_key((*out)->stmt, 2, &high);
   }
   duet_key_destroy(&low);
   duet_key_destroy(&high);
   return ok;
}

bool duet_store_cursor_next(duet_store_cursor_t *cursor, const bson_t **doc, duet_error_t *error)
{
   *doc = NULL;
   if (cursor->done) {
      return true;
   }
   int rc = sqlite3_step(cursor->stmt);
   if (rc == SQLITE_DONE) {
      cursor->done = true;
      sqlite3_reset(cursor->stmt);
      return true;
   }
   if (rc != SQLITE_ROW) {
      cursor->done = true;
      return duet_store_sqlite_error(sqlite3_db_handle(cursor->stmt), rc, "scan", error);
   }
   if (!bson_init_static(&cursor->view, sqlite3_column_blob(cursor->stmt, 0),
                         (size_t)sqlite3_column_bytes(cursor->stmt, 0))) {
      duet_error_set(error, DUET_ERR_INTERNAL, "a stored document is not valid BSON");
      return false;
   }
   *doc = &cursor->view;
   return true;
}

void duet_store_cursor_destroy(duet_store_cursor_t *cursor)
{
   if (!cursor) {
      return;
   }
   sqlite3_finalize(cursor->stmt);
   bson_free(cursor);
}
