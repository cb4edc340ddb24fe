/*
 * partner_keyset.c — a set of BSON keys on disk: a private temporary SQLite database
 * (sqlite3_open of ""), one WITHOUT ROWID table keyed by the order-preserving key encoding.
 * Check and verify use it to find colliding and extra _ids without holding every key in
 * memory.  Also the example-list helper of the reports.
 */
#include "partner/partner_internal.h"

#include <duet/doc_key.h>

#include <sqlite3.h>
#include <string.h>

struct partner_keyset {
   sqlite3 *db;          /* owned */
   sqlite3_stmt *insert; /* INSERT OR IGNORE */
   sqlite3_stmt *select; /* payload by key */
   duet_key_t key;       /* scratch encoding */
};

static bool keyset_fail(partner_keyset_t *set, duet_error_t *error)
{
   duet_error_set(error, DUET_ERR_INTERNAL, "temporary key table: %s", sqlite3_errmsg(set->db));
   return false;
}

bool partner_keyset_open(partner_keyset_t **out, duet_error_t *error)
{
   partner_keyset_t *set = bson_malloc0(sizeof *set);
   *out = NULL;
   duet_key_init(&set->key);
   if (sqlite3_open_v2("", &set->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
       sqlite3_exec(set->db,
                    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192;"
                    "CREATE TABLE k(k BLOB PRIMARY KEY, p BLOB NOT NULL) WITHOUT ROWID;",
                    NULL, NULL, NULL) != SQLITE_OK ||
       sqlite3_prepare_v2(set->db, "INSERT OR IGNORE INTO k(k, p) VALUES (?, ?)", -1, &set->insert, NULL) !=
           SQLITE_OK ||
       sqlite3_prepare_v2(set->db, "SELECT p FROM k WHERE k = ?", -1, &set->select, NULL) != SQLITE_OK) {
      keyset_fail(set, error);
      partner_keyset_close(set);
      return false;
   }
   *out = set;
   return true;
}

void partner_keyset_close(partner_keyset_t *set)
{
   if (!set) {
      return;
   }
   sqlite3_finalize(set->insert);
   sqlite3_finalize(set->select);
   sqlite3_close(set->db);
   duet_key_destroy(&set->key);
   bson_free(set);
}

/* Looks the encoded key up; *found, and the payload into *existing when asked. */
static bool keyset_select(partner_keyset_t *set, bool *found, bson_value_t *existing, duet_error_t *error)
{
   sqlite3_reset(set->select);
   sqlite3_bind_blob(set->select, 1, set->key.data, (int)set->key.len, SQLITE_STATIC);
   int rc = sqlite3_step(set->select);
   if (rc == SQLITE_DONE) {
      *found = false;
      sqlite3_reset(set->select);
      return true;
   }
   if (rc != SQLITE_ROW) {
      return keyset_fail(set, error);
   }
   *found = true;
   if (existing) {
      bson_t payload;
      bson_iter_t iter;
      if (bson_init_static(&payload, sqlite3_column_blob(set->select, 0),
                           (size_t)sqlite3_column_bytes(set->select, 0)) &&
          bson_iter_init_find(&iter, &payload, "v")) {
         bson_value_copy(bson_iter_value(&iter), existing);
      } else {
         existing->value_type = BSON_TYPE_NULL;
      }
   }
   sqlite3_reset(set->select);
   return true;
}

bool partner_keyset_add(partner_keyset_t *set, const bson_value_t *key, const bson_value_t *payload, bool *added,
                        bson_value_t *existing, duet_error_t *error)
{
   bson_t wrapper;
   bson_init(&wrapper);
   BSON_APPEND_VALUE(&wrapper, "v", payload);
   duet_key_set_value(&set->key, key);
   sqlite3_reset(set->insert);
   sqlite3_bind_blob(set->insert, 1, set->key.data, (int)set->key.len, SQLITE_STATIC);
   sqlite3_bind_blob(set->insert, 2, bson_get_data(&wrapper), (int)wrapper.len, SQLITE_STATIC);
   int rc = sqlite3_step(set->insert);
   sqlite3_reset(set->insert);
   bson_destroy(&wrapper);
   if (rc != SQLITE_DONE) {
      return keyset_fail(set, error);
   }
   *added = sqlite3_changes(set->db) > 0;
   if (!*added && existing) {
      bool found;
      return keyset_select(set, &found, existing, error);
   }
   return true;
}

bool partner_keyset_contains(partner_keyset_t *set, const bson_value_t *key, bool *found, duet_error_t *error)
{
   duet_key_set_value(&set->key, key);
   return keyset_select(set, found, NULL, error);
}

void partner_example_append(bson_t *examples, const char *kind, size_t max_examples, int64_t count, const bson_t *entry)
{
   /* examples holds one array per kind, appended at the end of the document as they come:
    * rebuild the kind's array by copying (examples are few, max_examples per kind) */
   if (count > (int64_t)max_examples) {
      return;
   }
   bson_t rebuilt, array;
   bson_iter_t iter, item;
   bson_init(&rebuilt);
   bool seen = false;
   bson_iter_init(&iter, examples);
   while (bson_iter_next(&iter)) {
      if (strcmp(bson_iter_key(&iter), kind) != 0) {
         bson_append_iter(&rebuilt, bson_iter_key(&iter), -1, &iter);
         continue;
      }
      seen = true;
      uint32_t index = 0;
      bson_append_array_begin(&rebuilt, kind, -1, &array);
      bson_iter_recurse(&iter, &item);
      while (bson_iter_next(&item)) {
         char key[16];
         const char *key_text;
         bson_uint32_to_string(index++, &key_text, key, sizeof key);
         bson_append_iter(&array, key_text, -1, &item);
      }
      char key[16];
      const char *key_text;
      bson_uint32_to_string(index, &key_text, key, sizeof key);
      bson_append_document(&array, key_text, -1, entry);
      bson_append_array_end(&rebuilt, &array);
   }
   if (!seen) {
      bson_append_array_begin(&rebuilt, kind, -1, &array);
      bson_append_document(&array, "0", -1, entry);
      bson_append_array_end(&rebuilt, &array);
   }
   bson_destroy(examples);
   bson_init(examples);
   bson_concat(examples, &rebuilt);
   bson_destroy(&rebuilt);
}
