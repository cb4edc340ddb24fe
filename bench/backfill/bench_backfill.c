/*
 * bench_backfill.c — partner backfill and mirrored writes next to their baselines, in one run,
 * in-process (engine level; bench/partner measures the same through duetd).
 *
 * Documents are seed-shaped {_id: ObjectId, name: "task <i>", complete: bool}, generated on the
 * fly (deterministic ObjectIds) and written, untimed, into the sources of both sides:
 *   raw:  a SQLite table src(k BLOB PRIMARY KEY, d BLOB) WITHOUT ROWID keyed by the 12 ObjectId
 *         bytes, WAL, synchronous=NORMAL (the store's settings);
 *   duet: the store's collection bench.Task (duet_store_insert, 1000-document transactions).
 * Then, timed and interleaved chunk by chunk so that load from other processes falls on both:
 *   backfill  raw: per chunk of 1000 one transaction: SELECT k, d FROM src WHERE k > last ORDER
 *             BY k LIMIT 1000 and INSERT of each row into dst(k, d) WITHOUT ROWID — a raw copy
 *             of the same rows;
 *             duet: duet_partner_backfill_step of the seeds' Task -> TaskV2 link (forward
 *             transform {$addFields: {_id: {$toString: "$_id"}}}, the partner's $jsonSchema
 *             validator, change-log events, persisted progress), chunk_size 1000.
 *             Target: duet time <= 1.5 x raw time.
 *   mirror    the same writes into two stores, one with the link active (every write mirrored
 *             to TaskV2 in its transaction), one without: inserts in 1000-document
 *             transactions, then an update of each inserted document (complete flipped), then
 *             single-document insert transactions.  Target: mirrored <= 1.6 x plain.
 *   memory    resident set size before the backfill and its peak during it (sampled after
 *             every chunk): flat in collection size (target: under 100 MB for 10M documents).
 * Exits 1 when a target is missed, 2 on errors.
 *
 * Usage: bench_backfill [documents (default 1000000)] [mirrored writes (default 200000)]
 */
#define _GNU_SOURCE
#include <duet/partner.h>
#include <duet/store.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define BACKFILL_TARGET 1.5
#define MIRROR_TARGET 1.6
#define MEMORY_TARGET_MB 100.0

static const char *spec_json =
    "{\"version\": 1, \"strategy\": \"partner\", \"database\": \"bench\", \"source\": \"Task\", \"partner\": "
    "\"TaskV2\", \"schema\": {\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"], "
    "\"properties\": {\"_id\": {\"bsonType\": \"string\"}, \"name\": {\"bsonType\": \"string\"}, \"complete\": "
    "{\"bsonType\": \"bool\", \"default\": false}}}, \"forward\": [{\"$addFields\": {\"_id\": {\"$toString\": "
    "\"$_id\"}}}], \"reverse\": [{\"$addFields\": {\"_id\": {\"$toObjectId\": \"$_id\"}}}], \"options\": "
    "{\"chunk_size\": 1000}}";

static double now_seconds(void)
{
   struct timespec t;
   clock_gettime(CLOCK_MONOTONIC, &t);
   return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resident set size in MB (/proc/self/statm). */
static double resident_mb(void)
{
   long pages = 0, resident = 0;
   FILE *file = fopen("/proc/self/statm", "r");
   if (file) {
      if (fscanf(file, "%ld %ld", &pages, &resident) != 2) {
         resident = 0;
      }
      fclose(file);
   }
   return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
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
      fprintf(stderr, "bench_backfill: %s: %s\n", what, sqlite3_errmsg(db));
      exit(2);
   }
}

static void check_duet(bool ok, const duet_error_t *error, const char *what)
{
   if (!ok) {
      fprintf(stderr, "bench_backfill: %s: %d %s\n", what, error->code, error->message);
      exit(2);
   }
}

/* Seed-shaped document number i (deterministic ObjectId: i big-endian in the last bytes). */
static void make_doc(long i, long salt, bson_oid_t *oid, bson_t *doc)
{
   uint8_t bytes[12] = {0x65, 0x00, 0x00, 0x00, (uint8_t)salt};
   for (int b = 0; b < 7; b++) {
      bytes[11 - b] = (uint8_t)((unsigned long)i >> (8 * b));
   }
   bson_oid_init_from_data(oid, bytes);
   char name[32];
   snprintf(name, sizeof name, "task %ld", i);
   bson_init(doc);
   BSON_APPEND_OID(doc, "_id", oid);
   BSON_APPEND_UTF8(doc, "name", name);
   BSON_APPEND_BOOL(doc, "complete", i % 3 == 0);
}

static sqlite3 *raw_open(const char *dir)
{
   char path[128];
   snprintf(path, sizeof path, "%s/raw.sqlite", dir);
   sqlite3 *db;
   check_sqlite(sqlite3_open(path, &db), db, "open");
   check_sqlite(sqlite3_exec(db,
                             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
                             "CREATE TABLE src(k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID;"
                             "CREATE TABLE dst(k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID",
                             NULL, NULL, NULL),
                db, "schema");
   return db;
}

/* One raw copy chunk: the next BATCH rows of src after *last into dst. Returns rows copied. */
static long raw_copy_chunk(sqlite3 *db, sqlite3_stmt *select, sqlite3_stmt *insert, uint8_t *last, int *last_len)
{
   long copied = 0;
   check_sqlite(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db, "begin");
   sqlite3_bind_blob(select, 1, last, *last_len, SQLITE_TRANSIENT);
   int rc;
   while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      const void *key = sqlite3_column_blob(select, 0);
      int key_len = sqlite3_column_bytes(select, 0);
      sqlite3_bind_blob(insert, 1, key, key_len, SQLITE_STATIC);
      sqlite3_bind_blob(insert, 2, sqlite3_column_blob(select, 1), sqlite3_column_bytes(select, 1), SQLITE_STATIC);
      check_sqlite(sqlite3_step(insert), db, "copy insert");
      sqlite3_reset(insert);
      memcpy(last, key, (size_t)key_len);
      *last_len = key_len;
      copied++;
   }
   check_sqlite(rc, db, "copy select");
   sqlite3_reset(select);
   check_sqlite(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
   return copied;
}

typedef struct mirror_side {
   duet_store_t *store;
   duet_session_t *session;
   duet_partner_link_t *link; /* NULL on the plain side */
   double seconds;
} mirror_side_t;

static void mirror_open(mirror_side_t *side, const char *dir, bool linked)
{
   duet_error_t error = DUET_ERROR_INIT;
   memset(side, 0, sizeof *side);
   check_duet(duet_store_open(dir, NULL, &side->store, &error), &error, "open");
   check_duet(duet_session_open(side->store, &side->session, &error), &error, "session");
   check_duet(duet_store_create_collection(side->session, "bench", "Task", NULL, &error), &error, "create");
   if (linked) {
      duet_partner_spec_t *spec = NULL;
      check_duet(duet_partner_spec_parse("bench.json", (const uint8_t *)spec_json, strlen(spec_json), &spec, &error),
                 &error, "spec");
      check_duet(duet_partner_link_create(side->session, spec, &side->link, &error), &error, "link");
      check_duet(duet_partner_backfill_run(side->link, side->session, NULL, NULL, &error), &error, "backfill");
      duet_partner_spec_destroy(spec);
   }
}

static void mirror_close(mirror_side_t *side)
{
   duet_partner_link_destroy(side->link);
   duet_session_close(side->session);
   duet_store_close(side->store);
}

/* Inserts documents [from, to) (salt 1) in one transaction, or one transaction each. */
static void mirror_insert(mirror_side_t *side, long from, long to, bool one_transaction)
{
   duet_error_t error = DUET_ERROR_INIT;
   double start = now_seconds();
   if (one_transaction) {
      check_duet(duet_session_begin(side->session, &error), &error, "begin");
   }
   for (long i = from; i < to; i++) {
      bson_oid_t oid;
      bson_t doc;
      make_doc(i, 1, &oid, &doc);
      check_duet(duet_store_insert(side->session, "bench", "Task", &doc, NULL, &error), &error, "insert");
      bson_destroy(&doc);
   }
   if (one_transaction) {
      check_duet(duet_session_commit(side->session, &error), &error, "commit");
   }
   side->seconds += now_seconds() - start;
}

/* Flips `complete` of documents [from, to) in one transaction (read + update, as duetd does). */
static void mirror_update(mirror_side_t *side, long from, long to)
{
   duet_error_t error = DUET_ERROR_INIT;
   double start = now_seconds();
   check_duet(duet_session_begin(side->session, &error), &error, "begin");
   for (long i = from; i < to; i++) {
      bson_oid_t oid;
      bson_t doc, old_doc, new_doc;
      make_doc(i, 1, &oid, &doc);
      bson_value_t id = {.value_type = BSON_TYPE_OID};
      bson_oid_copy(&oid, &id.value.v_oid);
      bool found = false;
      check_duet(duet_store_find_id(side->session, "bench", "Task", &id, &old_doc, &found, &error), &error, "find");
      if (!found) {
         fprintf(stderr, "bench_backfill: document %ld missing\n", i);
         exit(2);
      }
      bson_init(&new_doc);
      BSON_APPEND_OID(&new_doc, "_id", &oid);
      char name[32];
      snprintf(name, sizeof name, "task %ld", i);
      BSON_APPEND_UTF8(&new_doc, "name", name);
      BSON_APPEND_BOOL(&new_doc, "complete", i % 3 != 0);
      check_duet(duet_store_update(side->session, "bench", "Task", &old_doc, &new_doc, DUET_STORE_UPDATE, NULL, &error),
                 &error, "update");
      bson_destroy(&doc);
      bson_destroy(&old_doc);
      bson_destroy(&new_doc);
   }
   check_duet(duet_session_commit(side->session, &error), &error, "commit");
   side->seconds += now_seconds() - start;
}

int main(int argc, char **argv)
{
   long count = argc > 1 ? atol(argv[1]) : 1000000;
   long writes = argc > 2 ? atol(argv[2]) : 200000;
   if (count < BATCH) {
      count = BATCH;
   }
   if (writes < BATCH) {
      writes = BATCH;
   }
   duet_error_t error = DUET_ERROR_INIT;
   char raw_dir[] = "/tmp/duet-bench-backfill-raw-XXXXXX";
   char duet_dir[] = "/tmp/duet-bench-backfill-XXXXXX";
   char plain_dir[] = "/tmp/duet-bench-mirror-plain-XXXXXX";
   char linked_dir[] = "/tmp/duet-bench-mirror-linked-XXXXXX";
   if (!mkdtemp(raw_dir) || !mkdtemp(duet_dir) || !mkdtemp(plain_dir) || !mkdtemp(linked_dir)) {
      perror("mkdtemp");
      return 2;
   }

   /* ---- sources (untimed) ---- */
   sqlite3 *db = raw_open(raw_dir);
   sqlite3_stmt *src_insert, *select, *insert;
   check_sqlite(sqlite3_prepare_v2(db, "INSERT INTO src(k, d) VALUES(?, ?)", -1, &src_insert, NULL), db, "prepare");
   check_sqlite(sqlite3_prepare_v2(db, "SELECT k, d FROM src WHERE k > ? ORDER BY k LIMIT 1000", -1, &select, NULL), db,
                "prepare");
   check_sqlite(sqlite3_prepare_v2(db, "INSERT INTO dst(k, d) VALUES(?, ?)", -1, &insert, NULL), db, "prepare");
   duet_store_t *store;
   duet_session_t *session;
   check_duet(duet_store_open(duet_dir, NULL, &store, &error), &error, "open");
   check_duet(duet_session_open(store, &session, &error), &error, "session");
   for (long i = 0; i < count; i += BATCH) {
      long end = i + BATCH < count ? i + BATCH : count;
      check_sqlite(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), db, "begin");
      check_duet(duet_session_begin(session, &error), &error, "begin");
      for (long j = i; j < end; j++) {
         bson_oid_t oid;
         bson_t doc;
         make_doc(j, 0, &oid, &doc);
         sqlite3_bind_blob(src_insert, 1, oid.bytes, 12, SQLITE_STATIC);
         sqlite3_bind_blob(src_insert, 2, bson_get_data(&doc), (int)doc.len, SQLITE_STATIC);
         check_sqlite(sqlite3_step(src_insert), db, "insert");
         sqlite3_reset(src_insert);
         check_duet(duet_store_insert(session, "bench", "Task", &doc, NULL, &error), &error, "insert");
         bson_destroy(&doc);
      }
      check_sqlite(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
      check_duet(duet_session_commit(session, &error), &error, "commit");
   }

   /* ---- backfill vs raw copy, chunk by chunk ---- */
   duet_partner_spec_t *spec = NULL;
   duet_partner_link_t *link = NULL;
   check_duet(duet_partner_spec_parse("bench.json", (const uint8_t *)spec_json, strlen(spec_json), &spec, &error),
              &error, "spec");
   check_duet(duet_partner_link_create(session, spec, &link, &error), &error, "link");
   double rss_before = resident_mb(), rss_peak = rss_before;
   double raw_seconds = 0, duet_seconds = 0, start;
   uint8_t last[64] = {0};
   int last_len = 0;
   long raw_copied = 0;
   bool raw_finished = false, duet_finished = false;
   while (!raw_finished || !duet_finished) {
      if (!raw_finished) {
         start = now_seconds();
         long copied = raw_copy_chunk(db, select, insert, last, &last_len);
         raw_seconds += now_seconds() - start;
         raw_copied += copied;
         raw_finished = copied < BATCH;
      }
      if (!duet_finished) {
         start = now_seconds();
         check_duet(duet_partner_backfill_step(link, session, &duet_finished, &error), &error, "backfill");
         duet_seconds += now_seconds() - start;
         double rss = resident_mb();
         rss_peak = rss > rss_peak ? rss : rss_peak;
      }
   }
   int64_t partner_count = 0;
   check_duet(duet_store_count(session, "bench", "TaskV2", &partner_count, &error), &error, "count");
   if (partner_count != count || raw_copied != count) {
      fprintf(stderr, "bench_backfill: copied %ld (raw) and %lld (duet) of %ld\n", raw_copied, (long long)partner_count,
              count);
      return 2;
   }
   duet_partner_link_destroy(link);
   duet_partner_spec_destroy(spec);
   duet_session_close(session);
   duet_store_close(store);
   sqlite3_finalize(src_insert);
   sqlite3_finalize(select);
   sqlite3_finalize(insert);
   sqlite3_close(db);
   nftw(raw_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   nftw(duet_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

   /* ---- writes with and without a mirror, batch by batch ---- */
   mirror_side_t plain, linked;
   mirror_open(&plain, plain_dir, false);
   mirror_open(&linked, linked_dir, true);
   for (long i = 0; i < writes; i += BATCH) {
      long end = i + BATCH < writes ? i + BATCH : writes;
      mirror_insert(&plain, i, end, true);
      mirror_insert(&linked, i, end, true);
   }
   double plain_insert = plain.seconds, linked_insert = linked.seconds;
   plain.seconds = linked.seconds = 0;
   for (long i = 0; i < writes; i += BATCH) {
      long end = i + BATCH < writes ? i + BATCH : writes;
      mirror_update(&plain, i, end);
      mirror_update(&linked, i, end);
   }
   double plain_update = plain.seconds, linked_update = linked.seconds;
   plain.seconds = linked.seconds = 0;
   long singles = writes / 10;
   for (long i = writes; i < writes + singles; i += 100) {
      mirror_insert(&plain, i, i + 100, false);
      mirror_insert(&linked, i, i + 100, false);
   }
   double plain_single = plain.seconds, linked_single = linked.seconds;
   int64_t mirrored = duet_partner_link_mirrored(linked.link);
   mirror_close(&plain);
   mirror_close(&linked);
   nftw(plain_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   nftw(linked_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   if (mirrored != 2 * writes + singles) {
      fprintf(stderr, "bench_backfill: %lld writes mirrored, expected %ld\n", (long long)mirrored,
              2 * writes + singles);
      return 2;
   }

   double backfill_ratio = duet_seconds / raw_seconds;
   double insert_ratio = linked_insert / plain_insert, update_ratio = linked_update / plain_update;
   double single_ratio = linked_single / plain_single;
   double growth = rss_peak - rss_before;
   bool ok = backfill_ratio <= BACKFILL_TARGET && insert_ratio <= MIRROR_TARGET && update_ratio <= MIRROR_TARGET &&
             single_ratio <= MIRROR_TARGET && rss_peak <= MEMORY_TARGET_MB;
   printf("documents: %ld seed-shaped, chunks of %d; mirrored writes: %ld + %ld single\n", count, BATCH, writes,
          singles);
   printf("backfill          raw copy %8.2f s   duet backfill %8.2f s   ratio %.2f (target <= %.1f) %s\n", raw_seconds,
          duet_seconds, backfill_ratio, BACKFILL_TARGET, backfill_ratio <= BACKFILL_TARGET ? "ok" : "MISSED");
   printf("mirror inserts    plain    %8.2f s   mirrored      %8.2f s   ratio %.2f (target <= %.1f) %s\n", plain_insert,
          linked_insert, insert_ratio, MIRROR_TARGET, insert_ratio <= MIRROR_TARGET ? "ok" : "MISSED");
   printf("mirror updates    plain    %8.2f s   mirrored      %8.2f s   ratio %.2f (target <= %.1f) %s\n", plain_update,
          linked_update, update_ratio, MIRROR_TARGET, update_ratio <= MIRROR_TARGET ? "ok" : "MISSED");
   printf("mirror single tx  plain    %8.2f s   mirrored      %8.2f s   ratio %.2f (target <= %.1f) %s\n", plain_single,
          linked_single, single_ratio, MIRROR_TARGET, single_ratio <= MIRROR_TARGET ? "ok" : "MISSED");
   printf("backfill memory   resident %.1f MB before, peak %.1f MB during (+%.1f MB; target < %.0f MB) %s\n",
          rss_before, rss_peak, growth, MEMORY_TARGET_MB, rss_peak <= MEMORY_TARGET_MB ? "ok" : "MISSED");
   return ok ? 0 : 1;
}
