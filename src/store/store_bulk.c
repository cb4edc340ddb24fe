/*
 * store_bulk.c — bulk insert (store_bulk.h): the documents of a chunk go in groups of
 * DUET_STORE_INSERT_GROUP rows per INSERT statement.  Per group:
 *   1. prepare each document: checks, _id first, key encoding, validator;
 *   2. write the rows: one multi-row INSERT when the group is full and nothing in it is
 *      skipped; when that statement hits a present _id, SQLite backs the whole statement
 *      out (conflict resolution ABORT) and the group is written row by row instead, each
 *      row with ON CONFLICT DO NOTHING (skip-existing) or as a plain INSERT (11000);
 *   3. per inserted document, in order: index entries, change event, write hooks.
 * The multi-row statement is the point: SQLite's per-statement work (VDBE start, cursor
 * open and seek from the root, halt) is paid once per group instead of once per row.
 */
#include "store/store_bulk.h"
#include "store/store_internal.h"

#include <string.h>

/* One document of the group being written. */
typedef struct bulk_row {
   const bson_t *doc; /* borrowed from the caller, or &rebuilt */
   bson_t rebuilt;    /* owned when has_rebuilt: the document with _id moved first */
   bool has_rebuilt;
   bson_value_t id; /* the _id; its pointers point into *doc */
   duet_key_t key;  /* owned: encoded _id */
   bool skipped;    /* left alone (present _id under skip-existing) */
   bool inserted;   /* its row was written */
} bulk_row_t;

static void row_clear(bulk_row_t *row)
{
   if (row->has_rebuilt) {
      bson_destroy(&row->rebuilt);
      row->has_rebuilt = false;
   }
}

/* Whether the key of rows[index] is stored already or belongs to an earlier row of the
 * group (which will be written first). */
static bool key_present(duet_session_t *session, duet_store_coll_t *coll, bulk_row_t *rows, size_t index, bool *present,
                        duet_error_t *error)
{
   *present = false;
   for (size_t i = 0; i < index; i++) {
      if (!rows[i].skipped && rows[i].key.len == rows[index].key.len &&
          memcmp(rows[i].key.data, rows[index].key.data, rows[i].key.len) == 0) {
         *present = true;
         return true;
      }
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_FIND, error);
   if (!stmt) {
      return false;
   }
   sqlite3_bind_blob(stmt, 1, rows[index].key.data, (int)rows[index].key.len, SQLITE_STATIC);
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return duet_store_sqlite_error(session->db, rc, "find", error);
   }
   *present = rc == SQLITE_ROW;
   return true;
}

/* Step 1 for rows[index]: checks, _id first, key, validator. */
static bool row_prepare(duet_session_t *session, duet_store_coll_t *coll, const bson_t *doc, unsigned flags,
                        bulk_row_t *rows, size_t index, duet_error_t *error)
{
   bulk_row_t *row = &rows[index];
   if (!duet_store_check_document(doc, error)) {
      return false;
   }
   row->doc = doc;
   if (!duet_store_id_first(doc)) {
      duet_store_with_id_first(doc, NULL, &row->rebuilt);
      row->has_rebuilt = true;
      row->doc = &row->rebuilt;
      if (row->doc->len > DUET_STORE_MAX_BSON_SIZE) {
         duet_error_set(error, DUET_ERR_BSON_OBJECT_TOO_LARGE,
                        "object to insert too large. size in bytes: %u, max size: %d", row->doc->len,
                        DUET_STORE_MAX_BSON_SIZE);
         return false;
      }
   }
   bson_iter_t iter;
   bson_iter_init_find(&iter, row->doc, "_id"); /* first, see above */
   row->id = *bson_iter_value(&iter);
   duet_key_set_value(&row->key, &row->id);
   if (coll->has_validator && !session->bypass_validation && !duet_store_validate_write(coll, NULL, row->doc, error)) {
      bool present = false;
      if (!(flags & DUET_STORE_BULK_SKIP_EXISTING)) {
         return false;
      }
      duet_error_t lookup_error = DUET_ERROR_INIT;
      if (!key_present(session, coll, rows, index, &present, &lookup_error)) {
         duet_error_move(error, &lookup_error);
         return false;
      }
      if (!present) {
         return false;
      }
      duet_error_clear(error); /* the stored document stands */
      row->skipped = true;
   }
   return true;
}

/* Step 2, row by row: rows[i] for i < n. *failed = the row at fault. */
static bool rows_write_one_by_one(duet_session_t *session, duet_store_coll_t *coll, bulk_row_t *rows, size_t n,
                                  unsigned flags, size_t *failed, duet_error_t *error)
{
   bool skip_existing = flags & DUET_STORE_BULK_SKIP_EXISTING;
   for (size_t i = 0; i < n; i++) {
      if (rows[i].skipped) {
         continue;
      }
      sqlite3_stmt *stmt = duet_store_coll_stmt(
          session, coll, skip_existing ? DUET_STORE_STMT_INSERT_OR_SKIP : DUET_STORE_STMT_INSERT, error);
      if (!stmt) {
         *failed = i;
         return false;
      }
      sqlite3_bind_blob(stmt, 1, rows[i].key.data, (int)rows[i].key.len, SQLITE_STATIC);
      sqlite3_bind_blob(stmt, 2, bson_get_data(rows[i].doc), (int)rows[i].doc->len, SQLITE_STATIC);
      int rc = sqlite3_step(stmt);
      sqlite3_reset(stmt);
      if (rc != SQLITE_DONE) {
         *failed = i;
         if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            duet_store_dup_id_error(coll, &rows[i].id, error);
            return false;
         }
         return duet_store_sqlite_error(session->db, rc, "insert", error);
      }
      rows[i].inserted = !skip_existing || sqlite3_changes(session->db) == 1;
      rows[i].skipped = !rows[i].inserted;
   }
   return true;
}

/* Step 2: the rows of a group. */
static bool rows_write(duet_session_t *session, duet_store_coll_t *coll, bulk_row_t *rows, size_t n, unsigned flags,
                       size_t *failed, duet_error_t *error)
{
   bool whole = n == DUET_STORE_INSERT_GROUP;
   for (size_t i = 0; whole && i < n; i++) {
      whole = !rows[i].skipped;
   }
   if (!whole) {
      return rows_write_one_by_one(session, coll, rows, n, flags, failed, error);
   }
   sqlite3_stmt *stmt = duet_store_coll_stmt(session, coll, DUET_STORE_STMT_INSERT_GROUP, error);
   if (!stmt) {
      *failed = 0;
      return false;
   }
   for (size_t i = 0; i < n; i++) {
      sqlite3_bind_blob(stmt, (int)(2 * i + 1), rows[i].key.data, (int)rows[i].key.len, SQLITE_STATIC);
      sqlite3_bind_blob(stmt, (int)(2 * i + 2), bson_get_data(rows[i].doc), (int)rows[i].doc->len, SQLITE_STATIC);
   }
   int rc = sqlite3_step(stmt);
   sqlite3_reset(stmt);
   if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      /* the statement was backed out as a whole: find the present _id row by row */
      return rows_write_one_by_one(session, coll, rows, n, flags, failed, error);
   }
   if (rc != SQLITE_DONE) {
      *failed = 0;
      return duet_store_sqlite_error(session->db, rc, "insert", error);
   }
   for (size_t i = 0; i < n; i++) {
      rows[i].inserted = true;
   }
   return true;
}

/* Step 3 for one inserted row. */
static bool row_finish(duet_session_t *session, duet_store_coll_t *coll, const bulk_row_t *row, duet_error_t *error)
{
   if (coll->index_count && !duet_store_index_update(session, coll, NULL, row->doc, error)) {
      return false;
   }
   duet_store_change_entry_t entry = {
       .op = "insert", .db = coll->db, .coll = coll->name, .uuid = coll->uuid, .id = &row->id, .post = row->doc};
   return duet_store_changelog_append(session, &entry, error) &&
          duet_store_run_hooks(session, DUET_STORE_OP_INSERT, coll, NULL, row->doc, error);
}

bool duet_store_insert_bulk(duet_session_t *session, const char *db, const char *coll_name, const bson_t *const *docs,
                            size_t count, unsigned flags, bool *inserted, size_t *failed_index, duet_error_t *error)
{
   size_t ignored;
   size_t *failed = failed_index ? failed_index : &ignored;
   *failed = count;
   if (!session->in_write) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "a bulk insert needs an open write transaction");
      return false;
   }
   duet_store_coll_t *coll = NULL;
   if (!duet_store_coll_lookup_or_create(session, db, coll_name, &coll, error)) {
      return false;
   }
   bulk_row_t rows[DUET_STORE_INSERT_GROUP];
   memset(rows, 0, sizeof rows);
   for (size_t i = 0; i < DUET_STORE_INSERT_GROUP; i++) {
      duet_key_init(&rows[i].key);
   }
   bool ok = true;
   for (size_t start = 0; ok && start < count; start += DUET_STORE_INSERT_GROUP) {
      size_t n = count - start < DUET_STORE_INSERT_GROUP ? count - start : DUET_STORE_INSERT_GROUP;
      size_t at = 0;
      for (size_t i = 0; i < n; i++) {
         rows[i].skipped = rows[i].inserted = false;
      }
      for (size_t i = 0; ok && i < n; i++) {
         ok = row_prepare(session, coll, docs[start + i], flags, rows, i, error);
         at = i;
      }
      if (ok) {
         ok = rows_write(session, coll, rows, n, flags, &at, error);
      }
      for (size_t i = 0; ok && i < n; i++) {
         if (rows[i].inserted) {
            ok = row_finish(session, coll, &rows[i], error);
         }
         at = i;
      }
      for (size_t i = 0; i < n; i++) {
         if (inserted) {
            inserted[start + i] = rows[i].inserted;
         }
         row_clear(&rows[i]);
      }
      if (!ok) {
         *failed = start + at;
      }
   }
   for (size_t i = 0; i < DUET_STORE_INSERT_GROUP; i++) {
      duet_key_destroy(&rows[i].key);
   }
   return ok;
}
