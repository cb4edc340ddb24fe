/*
 * bench_store.c — storage-engine throughput next to raw SQLite, in one run.
 *
 * 1M seed-shaped documents {_id: ObjectId, name: string, complete: bool} are
 * generated once as BSON.  Then, in fresh data directories:
 *   raw:  INSERT of the same BSON blobs into a SQLite table (k BLOB PRIMARY KEY,
 *         d BLOB) WITHOUT ROWID keyed by the 12 ObjectId bytes, WAL,
 *         synchronous=NORMAL, one transaction per 1000-document batch; point
 *         reads by key with a prepared statement;
 *   duet: duet_store_insert of the same documents, one write transaction per
 *         1000-document batch (key encoding, _id and name checks, change-log
 *         entry with the post-image); point reads with duet_store_find_id.
 * The two run interleaved, one batch (or 1000 reads) each in turn, so that
 * load from other processes falls on both alike.  Prints documents per second
 * for each and the duet/raw ratio against the target (>= 0.7); exits 1 when a
 * ratio misses it.
 *
 * Usage: bench_store [documents (default 1000000)] [point reads (default 200000)]
 */
#define _GNU_SOURCE
#include <duet/store.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define TARGET 0.7

static double now_seconds(void)
{
   struct timespec t;
   clock_gettime(CLOCK_MONOTONIC, &t);
   return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

static void check_sqlite(int rc, sqlite3 *db, const char *what)
{
   if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      fprintf(stderr, "bench_store: %s: %s\n", what, sqlite3_errmsg(db));
      exit(2);
   }
}

static void check_duet(bool ok, const duet_error_t *error, const char *what)
{
   if (!ok) {
      fprintf(stderr, "bench_store: %s: %s\n", what, error->message);
      exit(2);
   }
}

int main(int argc, char **argv)
{
   long count = argc > 1 ? atol(argv[1]) : 1000000;
   long reads = argc > 2 ? atol(argv[2]) : 200000;
   if (count < BATCH) {
      count = BATCH;
   }
   /* the documents, built once: count documents in one buffer */
   bson_t **docs = malloc((size_t)count * sizeof *docs);
   bson_oid_t *ids = malloc((size_t)count * sizeof *ids);
   for (long i = 0; i < count; i++) {
      char name[32];
      snprintf(name, sizeof name, "task %ld", i);
      bson_oid_init(&ids[i], NULL);
      docs[i] = BCON_NEW("_id", BCON_OID(&ids[i]), "name", BCON_UTF8(name), "complete", BCON_BOOL(i % 3 == 0));
   }
   long *order = malloc((size_t)reads * sizeof *order);
   srand(42);
   for (long i = 0; i < reads; i++) {
      order[i] = (long)(((unsigned long)rand() * 2654435761UL) % (unsigned long)count);
   }

   char raw_dir[] = "/tmp/duet-bench-raw-XXXXXX";
   char duet_dir[] = "/tmp/duet-bench-store-XXXXXX";
   if (!mkdtemp(raw_dir) || !mkdtemp(duet_dir)) {
      perror("mkdtemp");
      return 2;
   }

   /* Raw SQLite and the store run side by side, batch by batch (and read chunk
    * by read chunk), so load from other processes hits both alike. */
   char raw_path[64];
   snprintf(raw_path, sizeof raw_path, "%s/raw.sqlite", raw_dir);
   sqlite3 *db;
   check_sqlite(sqlite3_open(raw_path, &db), db, "open");
   check_sqlite(sqlite3_exec(db,
                             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
                             "CREATE TABLE raw(k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID",
                             NULL, NULL, NULL),
                db, "schema");
   sqlite3_stmt *insert, *select;
   check_sqlite(sqlite3_prepare_v2(db, "INSERT INTO raw(k, d) VALUES(?, ?)", -1, &insert, NULL), db, "prepare");
   check_sqlite(sqlite3_prepare_v2(db, "SELECT d FROM raw WHERE k = ?", -1, &select, NULL), db, "prepare");
   duet_error_t error = DUET_ERROR_INIT;
   duet_store_t *store;
   duet_session_t *session;
   check_duet(duet_store_open(duet_dir, NULL, &store, &error), &error, "open");
   check_duet(duet_session_open(store, &session, &error), &error, "session");

   double raw_insert = 0, duet_insert = 0, raw_read = 0, duet_read = 0, start;
   for (long i = 0; i < count; i += BATCH) {
      long end = i + BATCH < count ? i + BATCH : count;
      start = now_seconds();
      check_sqlite(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), db, "begin");
      for (long j = i; j < end; j++) {
         sqlite3_bind_blob(insert, 1, ids[j].bytes, 12, SQLITE_STATIC);
         sqlite3_bind_blob(insert, 2, bson_get_data(docs[j]), (int)docs[j]->len, SQLITE_STATIC);
         check_sqlite(sqlite3_step(insert), db, "insert");
         sqlite3_reset(insert);
      }
      check_sqlite(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
      raw_insert += now_seconds() - start;
      start = now_seconds();
      check_duet(duet_session_begin(session, &error), &error, "begin");
      for (long j = i; j < end; j++) {
         check_duet(duet_store_insert(session, "bench", "Task", docs[j], NULL, &error), &error, "insert");
      }
      check_duet(duet_session_commit(session, &error), &error, "commit");
      duet_insert += now_seconds() - start;
   }
   long raw_found = 0, duet_found = 0;
   for (long i = 0; i < reads; i += BATCH) {
      long end = i + BATCH < reads ? i + BATCH : reads;
      start = now_seconds();
      for (long j = i; j < end; j++) {
         sqlite3_bind_blob(select, 1, ids[order[j]].bytes, 12, SQLITE_STATIC);
         if (sqlite3_step(select) == SQLITE_ROW) {
            bson_t view;
            if (bson_init_static(&view, sqlite3_column_blob(select, 0), (size_t)sqlite3_column_bytes(select, 0))) {
               bson_t *copy = bson_copy(&view); /* same work as the store: hand out an owned copy */
               bson_destroy(copy);
               raw_found++;
            }
         }
         sqlite3_reset(select);
      }
      raw_read += now_seconds() - start;
      start = now_seconds();
      for (long j = i; j < end; j++) {
         bson_value_t id = {.value_type = BSON_TYPE_OID};
         bson_oid_copy(&ids[order[j]], &id.value.v_oid);
         bson_t doc;
         bool found = false;
         check_duet(duet_store_find_id(session, "bench", "Task", &id, &doc, &found, &error), &error, "find");
         if (found) {
            bson_destroy(&doc);
            duet_found++;
         }
      }
      duet_read += now_seconds() - start;
   }
   sqlite3_finalize(insert);
   sqlite3_finalize(select);
   sqlite3_close(db);
   duet_session_close(session);
   duet_store_close(store);

   nftw(raw_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   nftw(duet_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   for (long i = 0; i < count; i++) {
      bson_destroy(docs[i]);
   }
   free(docs);
   free(ids);
   free(order);
   if (raw_found != reads || duet_found != reads) {
      fprintf(stderr, "bench_store: point reads found %ld (raw) and %ld (duet) of %ld\n", raw_found, duet_found, reads);
      return 2;
   }

   double raw_insert_rate = (double)count / raw_insert, duet_insert_rate = (double)count / duet_insert;
   double raw_read_rate = (double)reads / raw_read, duet_read_rate = (double)reads / duet_read;
   double insert_ratio = duet_insert_rate / raw_insert_rate, read_ratio = duet_read_rate / raw_read_rate;
   printf("documents: %ld seed-shaped, batches of %d; point reads: %ld\n", count, BATCH, reads);
   printf("insert      raw sqlite %10.0f docs/s   duet store %10.0f docs/s   ratio %.2f (target >= %.1f) %s\n",
          raw_insert_rate, duet_insert_rate, insert_ratio, TARGET, insert_ratio >= TARGET ? "ok" : "MISSED");
   printf("point read  raw sqlite %10.0f docs/s   duet store %10.0f docs/s   ratio %.2f (target >= %.1f) %s\n",
          raw_read_rate, duet_read_rate, read_ratio, TARGET, read_ratio >= TARGET ? "ok" : "MISSED");
   return insert_ratio >= TARGET && read_ratio >= TARGET ? 0 : 1;
}
