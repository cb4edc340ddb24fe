/*
 * pipeline_spill.c — external storage for $sort and $group under allowDiskUse: a private
 * temporary SQLite database of (key, sequence, document) rows read back in (key, sequence)
 * order, and the $sort buffer that spills into it.
 *
 * The database is opened with an empty file name, so SQLite creates it in its temporary
 * directory ($SQLITE_TMPDIR, $TMPDIR, /var/tmp, /usr/tmp, /tmp) and deletes it when it is
 * closed; its page cache is bounded (SPILL_CACHE_KIB), so memory stays flat however many rows
 * are written.  Keys are duet_key encodings (duet/doc_key.h), whose memcmp order — SQLite's
 * BLOB order — is MongoDB's comparison order; the sequence breaks ties (arrival order for
 * $sort, which keeps it stable; spill number for $group).
 *
 * Ownership: a spill_t and a sorter_t belong to one cursor stage (one thread).  Documents
 * handed out by spill_read()/sorter_next() are borrowed until the next call.
 */
#include "mql/pipeline_internal.h"

#include <duet/doc_key.h>

#include <sqlite3.h>
#include <string.h>

#define SPILL_CACHE_KIB 4096 /* page cache of a spill database */

struct spill {
   sqlite3 *db;
   sqlite3_stmt *insert; /* INSERT INTO spill VALUES(?, ?, ?) */
   sqlite3_stmt *select; /* SELECT k, d FROM spill ORDER BY k, q; NULL while writing */
   bson_t current;       /* static view of the row under `select` */
};

static bool spill_fail(spill_t *spill, int rc, const char *what, duet_error_t *error)
{
   const char *message = spill && spill->db ? sqlite3_errmsg(spill->db) : sqlite3_errstr(rc);
   duet_error_set(error, rc == SQLITE_FULL ? DUET_ERR_OUT_OF_DISK_SPACE : DUET_ERR_OPERATION_FAILED,
                  "could not spill to a temporary database (%s): %s", what, message);
   return false;
}

bool spill_open(spill_t **out, duet_error_t *error)
{
   *out = NULL;
   spill_t *spill = bson_aligned_alloc0(BSON_ALIGNOF(spill_t), sizeof *spill); /* holds a bson_t */
   int rc = sqlite3_open_v2("", &spill->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
   if (rc != SQLITE_OK) {
      spill_fail(spill, rc, "open", error);
      spill_close(spill);
      return false;
   }
   char setup[512];
   snprintf(setup, sizeof setup,
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; PRAGMA cache_size=-%d;"
            "CREATE TABLE spill(k BLOB NOT NULL, q INTEGER NOT NULL, d BLOB NOT NULL, PRIMARY KEY(k, q))"
            " WITHOUT ROWID; BEGIN",
            SPILL_CACHE_KIB);
   rc = sqlite3_exec(spill->db, setup, NULL, NULL, NULL);
   if (rc == SQLITE_OK) {
      rc = sqlite3_prepare_v2(spill->db, "INSERT INTO spill(k, q, d) VALUES(?, ?, ?)", -1, &spill->insert, NULL);
   }
   if (rc != SQLITE_OK) {
      spill_fail(spill, rc, "setup", error);
      spill_close(spill);
      return false;
   }
   *out = spill;
   return true;
}

bool spill_write(spill_t *spill, const uint8_t *key, size_t key_length, int64_t sequence, const bson_t *doc,
                 duet_error_t *error)
{
   sqlite3_bind_blob(spill->insert, 1, key_length ? key : (const void *)"", (int)key_length, SQLITE_STATIC);
   sqlite3_bind_int64(spill->insert, 2, sequence);
   sqlite3_bind_blob(spill->insert, 3, bson_get_data(doc), (int)doc->len, SQLITE_STATIC);
   int rc = sqlite3_step(spill->insert);
   sqlite3_reset(spill->insert);
   sqlite3_clear_bindings(spill->insert);
   return rc == SQLITE_DONE || spill_fail(spill, rc, "write", error);
}

bool spill_read(spill_t *spill, const uint8_t **key, size_t *key_length, const bson_t **doc, duet_error_t *error)
{
   *doc = NULL;
   int rc;
   if (!spill->select) {
      rc = sqlite3_exec(spill->db, "COMMIT", NULL, NULL, NULL);
      if (rc == SQLITE_OK) {
         rc = sqlite3_prepare_v2(spill->db, "SELECT k, d FROM spill ORDER BY k, q", -1, &spill->select, NULL);
      }
      if (rc != SQLITE_OK) {
         return spill_fail(spill, rc, "read", error);
      }
   }
   rc = sqlite3_step(spill->select);
   if (rc == SQLITE_DONE) {
      return true;
   }
   if (rc != SQLITE_ROW) {
      return spill_fail(spill, rc, "read", error);
   }
   *key = sqlite3_column_blob(spill->select, 0);
   *key_length = (size_t)sqlite3_column_bytes(spill->select, 0);
   const uint8_t *data = sqlite3_column_blob(spill->select, 1);
   size_t length = (size_t)sqlite3_column_bytes(spill->select, 1);
   if (!data || !bson_init_static(&spill->current, data, length)) {
      duet_error_set(error, DUET_ERR_INTERNAL, "a spilled document is corrupt");
      return false;
   }
   *doc = &spill->current;
   return true;
}

void spill_close(spill_t *spill)
{
   if (!spill) {
      return;
   }
   sqlite3_finalize(spill->insert);
   sqlite3_finalize(spill->select);
   sqlite3_close(spill->db);
   bson_free(spill);
}

/* ---- $sort ---------------------------------------------------------------------------------- */

struct sorter {
   const sort_spec_t *spec; /* borrowed */
   size_t memory_limit;
   bool allow_disk_use;
   bson_t **docs; /* owned: buffered documents, in arrival order until sorted */
   size_t count;
   size_t capacity;
   size_t memory;
   int64_t sequence;   /* documents received */
   spill_t *spill;     /* owned once the buffer overflowed */
   size_t position;    /* next buffered document to hand out (in-memory case) */
   bson_t *current;    /* owned: the document last handed out (in-memory case) */
   duet_key_t key;     /* scratch */
   bson_value_t *keys; /* scratch: one value per sort key */
};

sorter_t *sorter_new(const sort_spec_t *spec, size_t memory_limit, bool allow_disk_use)
{
   sorter_t *sorter = bson_malloc0(sizeof *sorter);
   sorter->spec = spec;
   sorter->memory_limit = memory_limit;
   sorter->allow_disk_use = allow_disk_use;
   sorter->keys = bson_malloc0((spec->count ? spec->count : 1) * sizeof *sorter->keys);
   duet_key_init(&sorter->key);
   return sorter;
}

bool sorter_used_disk(const sorter_t *sorter)
{
   return sorter->spill != NULL;
}

/* Writes the buffered documents to the spill database (opening it the first time). */
static bool sorter_flush(sorter_t *sorter, duet_error_t *error)
{
   if (!sorter->spill && !spill_open(&sorter->spill, error)) {
      return false;
   }
   int64_t first = sorter->sequence - (int64_t)sorter->count;
   for (size_t i = 0; i < sorter->count; i++) {
      sort_document_keys(sorter->spec, sorter->docs[i], sorter->keys);
      duet_key_reset(&sorter->key);
      for (size_t k = 0; k < sorter->spec->count; k++) {
         duet_key_append_value(&sorter->key, &sorter->keys[k], sorter->spec->keys[k].direction < 0);
      }
      if (!spill_write(sorter->spill, sorter->key.data, sorter->key.len, first + (int64_t)i, sorter->docs[i], error)) {
         return false;
      }
      bson_destroy(sorter->docs[i]);
      sorter->docs[i] = NULL;
   }
   sorter->count = 0;
   sorter->memory = 0;
   return true;
}

bool sorter_add(sorter_t *sorter, const bson_t *doc, duet_error_t *error)
{
   sorter->memory += pipeline_doc_cost(doc);
   if (sorter->memory > sorter->memory_limit) {
      if (!sorter->allow_disk_use) {
         duet_error_set(error, DUET_ERR_EXCEEDED_MEMORY_LIMIT,
                        "Sort exceeded memory limit of %zu bytes, but did not opt in to external sorting.",
                        sorter->memory_limit);
         return false;
      }
      if (!sorter_flush(sorter, error)) {
         return false;
      }
      sorter->memory = pipeline_doc_cost(doc);
   }
   if (sorter->count == sorter->capacity) {
      sorter->capacity = sorter->capacity ? sorter->capacity * 2 : 64;
      sorter->docs = bson_realloc(sorter->docs, sorter->capacity * sizeof *sorter->docs);
   }
   sorter->docs[sorter->count++] = bson_copy(doc);
   sorter->sequence++;
   return true;
}

bool sorter_finish(sorter_t *sorter, duet_error_t *error)
{
   if (sorter->spill) {
      return sorter_flush(sorter, error);
   }
   sort_documents(sorter->spec, sorter->docs, sorter->count);
   return true;
}

bool sorter_next(sorter_t *sorter, const bson_t **doc, duet_error_t *error)
{
   *doc = NULL;
   if (sorter->spill) {
      const uint8_t *key;
      size_t key_length;
      return spill_read(sorter->spill, &key, &key_length, doc, error);
   }
   if (sorter->current) {
      bson_destroy(sorter->current);
      sorter->current = NULL;
   }
   if (sorter->position < sorter->count) {
      sorter->current = sorter->docs[sorter->position];
      sorter->docs[sorter->position++] = NULL;
      *doc = sorter->current;
   }
   return true;
}

void sorter_destroy(sorter_t *sorter)
{
   if (!sorter) {
      return;
   }
   for (size_t i = 0; i < sorter->count; i++) {
      if (sorter->docs[i]) {
         bson_destroy(sorter->docs[i]);
      }
   }
   if (sorter->current) {
      bson_destroy(sorter->current);
   }
   bson_free(sorter->docs);
   bson_free(sorter->keys);
   duet_key_destroy(&sorter->key);
   spill_close(sorter->spill);
   bson_free(sorter);
}
