/*
 * partner_bench.c — bench_partner: a partner-collection migration measured through duetd,
 * next to limits measured in the same run.  Prints figures and ratios; never fails the build.
 *
 *   1. duetd (the one built next to this program, or $DUETD) is started on a fresh data
 *      directory and N seed-shaped documents {_id: ObjectId, name, complete} are loaded into
 *      test.Task through libmongoc in 1000-document batches (not timed).
 *   2. Backfill: duetApply of the seeds' spec (_id objectId -> string, chunks of 1000), timed
 *      from the command until duetStatus reports the backfill done; duetd's resident memory
 *      (VmRSS of its process) is sampled every 20 ms meanwhile: before, peak and after.
 *   3. Raw SQLite copy of the same rows: the same N documents as BSON blobs in a SQLite table
 *      (k BLOB PRIMARY KEY, d BLOB) WITHOUT ROWID, WAL, synchronous=NORMAL like the store,
 *      copied into a second such table in key order, 1000 rows per transaction with a
 *      progress row written in each — the floor a backfill could reach with no transform, no
 *      key encoding and no mirror.  Ratio backfill / raw: target <= 1.5.
 *   4. Writes with mirrors over without: a pymongo script (/usr/bin/python3, started by this
 *      program) inserts W documents in 1000-document insert_many batches into test.Task
 *      (mirrored to TaskV2) and into test.Plain (no mirror), alternating batch by batch so
 *      that load falls on both alike.  Ratio mirrored / plain: target <= 1.6.
 *
 * Usage: bench_partner [documents (default 1000000)] [written documents (default 100000)]
 */
#define _GNU_SOURCE
#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define BACKFILL_TARGET 1.5
#define WRITE_TARGET 1.6

static double now_seconds(void)
{
   struct timespec t;
   clock_gettime(CLOCK_MONOTONIC, &t);
   return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static pid_t bench_duetd; /* the duetd this program started, stopped on any exit */

static void die(const char *what, const char *detail)
{
   fprintf(stderr, "bench_partner: %s: %s\n", what, detail);
   if (bench_duetd > 0) {
      kill(bench_duetd, SIGTERM);
      waitpid(bench_duetd, NULL, 0);
   }
   exit(2);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

/* The i-th seed-shaped document; the same bytes for both sides of a comparison. */
static void make_doc(int64_t i, bson_t *doc)
{
   bson_oid_t oid;
   uint8_t bytes[12];
   uint32_t seconds = htonl(1700000000u + (uint32_t)(i / 1000)), counter = htonl((uint32_t)i);
   memcpy(bytes, &seconds, 4);
   memset(bytes + 4, 0x5a, 4);
   memcpy(bytes + 8, &counter, 4);
   bson_oid_init_from_data(&oid, bytes);
   char name[48];
   snprintf(name, sizeof name, "task %lld", (long long)i);
   bson_init(doc);
   BSON_APPEND_OID(doc, "_id", &oid);
   BSON_APPEND_UTF8(doc, "name", name);
   BSON_APPEND_BOOL(doc, "complete", i % 3 == 0);
}

/* ---- duetd -------------------------------------------------------------------------------- */

static int free_port(void)
{
   int fd = socket(AF_INET, SOCK_STREAM, 0);
   struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
   socklen_t length = sizeof address;
   if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
       getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
      die("free port", "cannot bind a loopback socket");
   }
   close(fd);
   return ntohs(address.sin_port);
}

static pid_t start_duetd(const char *binary, const char *dbpath, const char *log_path, int port)
{
   char port_text[16];
   snprintf(port_text, sizeof port_text, "%d", port);
   pid_t pid = fork();
   if (pid == 0) {
      execl(binary, binary, "--dbpath", dbpath, "--port", port_text, "--log", log_path, (char *)NULL);
      _exit(127);
   }
   return pid;
}

/* VmRSS of `pid` in KiB (0 when unreadable). */
static long rss_kib(pid_t pid)
{
   char path[64], line[256];
   long kib = 0;
   snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
   FILE *f = fopen(path, "r");
   if (!f) {
      return 0;
   }
   while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "VmRSS:", 6) == 0) {
         kib = strtol(line + 6, NULL, 10);
      }
   }
   fclose(f);
   return kib;
}

static void command(mongoc_client_t *client, const bson_t *cmd, bson_t *reply, const char *what)
{
   bson_error_t error;
   if (!mongoc_client_command_simple(client, "admin", cmd, NULL, reply, &error)) {
      die(what, error.message);
   }
}

static void load(mongoc_client_t *client, int64_t count)
{
   mongoc_collection_t *coll = mongoc_client_get_collection(client, "test", "Task");
   bson_t docs[BATCH];
   const bson_t *pointers[BATCH];
   bson_error_t error;
   for (int64_t first = 0; first < count; first += BATCH) {
      size_t n = (size_t)(count - first < BATCH ? count - first : BATCH);
      for (size_t i = 0; i < n; i++) {
         make_doc(first + (int64_t)i, &docs[i]);
         pointers[i] = &docs[i];
      }
      bool ok = mongoc_collection_insert_many(coll, pointers, n, NULL, NULL, &error);
      for (size_t i = 0; i < n; i++) {
         bson_destroy(&docs[i]);
      }
      if (!ok) {
         die("loading test.Task", error.message);
      }
   }
   mongoc_collection_destroy(coll);
}

/* The seeds' spec: Task._id objectId -> string, chunks of 1000. */
static void seeds_spec(bson_t *spec)
{
   const char *json = "{\"version\": 1, \"strategy\": \"partner\", \"database\": \"test\", \"source\": \"Task\", "
                      "\"partner\": \"TaskV2\","
                      " \"schema\": {\"title\": \"Task\", \"bsonType\": \"object\", \"required\": [\"_id\", \"name\"],"
                      "   \"properties\": {\"_id\": {\"bsonType\": \"string\"}, \"name\": {\"bsonType\": \"string\"},"
                      "                    \"complete\": {\"bsonType\": \"bool\", \"default\": false}}},"
                      " \"forward\": [{\"$addFields\": {\"_id\": {\"$toString\": \"$_id\"}}}],"
                      " \"reverse\": [{\"$addFields\": {\"_id\": {\"$toObjectId\": \"$_id\"}}}],"
                      " \"options\": {\"chunk_size\": 1000}}";
   bson_error_t error;
   if (!bson_init_from_json(spec, json, -1, &error)) {
      die("spec", error.message);
   }
}

typedef struct {
   double seconds;
   long rss_before, rss_peak, rss_after;
} backfill_result_t;

static backfill_result_t backfill(mongoc_client_t *client, pid_t duetd)
{
   backfill_result_t result = {0, rss_kib(duetd), 0, 0};
   bson_t spec, cmd = BSON_INITIALIZER, reply;
   seeds_spec(&spec);
   BSON_APPEND_INT32(&cmd, "duetApply", 1);
   BSON_APPEND_DOCUMENT(&cmd, "spec", &spec);
   double start = now_seconds();
   command(client, &cmd, &reply, "duetApply");
   bson_destroy(&reply);
   bson_destroy(&cmd);
   bson_destroy(&spec);
   result.rss_peak = result.rss_before;
   for (;;) {
      long rss = rss_kib(duetd);
      if (rss > result.rss_peak) {
         result.rss_peak = rss;
      }
      bson_t status = BSON_INITIALIZER;
      BSON_APPEND_INT32(&status, "duetStatus", 1);
      command(client, &status, &reply, "duetStatus");
      bson_destroy(&status);
      bson_iter_t iter;
      const char *state = "backfilling";
      if (bson_iter_init(&iter, &reply) && bson_iter_find_descendant(&iter, "migrations.0.state", &iter) &&
          BSON_ITER_HOLDS_UTF8(&iter)) {
         state = bson_iter_utf8(&iter, NULL);
      }
      bool done = strcmp(state, "backfilling") != 0;
      bool failed = bson_iter_init(&iter, &reply) && bson_iter_find_descendant(&iter, "migrations.0.error", &iter);
      bson_destroy(&reply);
      if (failed) {
         die("backfill", "duetd reports a backfill error (see duetStatus)");
      }
      if (done) {
         break;
      }
      usleep(20000);
   }
   result.seconds = now_seconds() - start;
   result.rss_after = rss_kib(duetd);
   return result;
}

/* ---- the raw SQLite copy ------------------------------------------------------------------ */

static void sqlite_check(int rc, sqlite3 *db, const char *what)
{
   if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      die(what, sqlite3_errmsg(db));
   }
}

static double raw_copy(const char *directory, int64_t count)
{
   char path[4096];
   sqlite3 *db;
   sqlite3_stmt *insert, *select, *progress;
   snprintf(path, sizeof path, "%s/raw.sqlite", directory);
   sqlite_check(sqlite3_open(path, &db), db, "open raw.sqlite");
   sqlite_check(sqlite3_exec(db,
                             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                             "CREATE TABLE src (k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID;"
                             "CREATE TABLE dst (k BLOB PRIMARY KEY, d BLOB NOT NULL) WITHOUT ROWID;"
                             "CREATE TABLE progress (id INTEGER PRIMARY KEY, last BLOB, done INTEGER);",
                             NULL, NULL, NULL),
                db, "schema");
   /* the same rows as test.Task (not timed) */
   sqlite_check(sqlite3_prepare_v2(db, "INSERT INTO src VALUES (?, ?)", -1, &insert, NULL), db, "prepare");
   for (int64_t first = 0; first < count; first += BATCH) {
      sqlite_check(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), db, "begin");
      for (int64_t i = first; i < count && i < first + BATCH; i++) {
         bson_t doc;
         bson_iter_t id;
         make_doc(i, &doc);
         bson_iter_init_find(&id, &doc, "_id");
         sqlite3_bind_blob(insert, 1, bson_iter_oid(&id)->bytes, 12, SQLITE_TRANSIENT);
         sqlite3_bind_blob(insert, 2, bson_get_data(&doc), (int)doc.len, SQLITE_TRANSIENT);
         sqlite_check(sqlite3_step(insert), db, "insert src");
         sqlite3_reset(insert);
         bson_destroy(&doc);
      }
      sqlite_check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
   }
   sqlite3_finalize(insert);

   /* timed: chunks in key order after the last key, each one transaction with its progress row */
   sqlite_check(sqlite3_prepare_v2(db, "SELECT k, d FROM src WHERE k > ? ORDER BY k LIMIT 1000", -1, &select, NULL), db,
                "prepare");
   sqlite_check(sqlite3_prepare_v2(db, "INSERT INTO dst VALUES (?, ?)", -1, &insert, NULL), db, "prepare");
   sqlite_check(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO progress VALUES (1, ?, ?)", -1, &progress, NULL), db,
                "prepare");
   uint8_t last[12] = {0};
   int64_t done = 0;
   double start = now_seconds();
   for (;;) {
      int rows = 0;
      sqlite_check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db, "begin");
      sqlite3_bind_blob(select, 1, last, 12, SQLITE_TRANSIENT);
      int rc;
      while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
         sqlite3_bind_blob(insert, 1, sqlite3_column_blob(select, 0), sqlite3_column_bytes(select, 0),
                           SQLITE_TRANSIENT);
         sqlite3_bind_blob(insert, 2, sqlite3_column_blob(select, 1), sqlite3_column_bytes(select, 1),
                           SQLITE_TRANSIENT);
         sqlite_check(sqlite3_step(insert), db, "insert dst");
         sqlite3_reset(insert);
         memcpy(last, sqlite3_column_blob(select, 0), 12);
         rows++;
      }
      sqlite_check(rc, db, "select");
      sqlite3_reset(select);
      done += rows;
      sqlite3_bind_blob(progress, 1, last, 12, SQLITE_TRANSIENT);
      sqlite3_bind_int64(progress, 2, done);
      sqlite_check(sqlite3_step(progress), db, "progress");
      sqlite3_reset(progress);
      sqlite_check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
      if (rows < BATCH) {
         break;
      }
   }
   double seconds = now_seconds() - start;
   if (done != count) {
      die("raw copy", "copied a different number of rows");
   }
   sqlite3_finalize(select);
   sqlite3_finalize(insert);
   sqlite3_finalize(progress);
   sqlite3_close(db);
   return seconds;
}

/* ---- writes through pymongo --------------------------------------------------------------- */

static const char write_script[] =
    "import sys, time\n"
    "import bson, pymongo\n"
    "client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)\n"
    "count = int(sys.argv[2])\n"
    "mirrored, plain = client.test.Task, client.test.Plain\n"
    "times = {'mirrored': 0.0, 'plain': 0.0}\n"
    "for first in range(0, count, 1000):\n"
    "    for name, coll in (('mirrored', mirrored), ('plain', plain)) if first % 2000 else (('plain', plain), "
    "('mirrored', mirrored)):\n"
    "        docs = [{'_id': bson.ObjectId(), 'name': 'written %d' % i, 'complete': False}\n"
    "                for i in range(first, min(count, first + 1000))]\n"
    "        start = time.perf_counter()\n"
    "        coll.insert_many(docs)\n"
    "        times[name] += time.perf_counter() - start\n"
    "assert client.test.TaskV2.count_documents({'name': 'written 0'}) == 1\n"
    "print(times['mirrored'], times['plain'])\n";

static bool writes(const char *directory, const char *uri, int64_t count, double *mirrored, double *plain)
{
   char path[4096], cmd[8192];
   snprintf(path, sizeof path, "%s/writes.py", directory);
   FILE *f = fopen(path, "w");
   if (!f) {
      return false;
   }
   fputs(write_script, f);
   fclose(f);
   snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s '%s' %lld", path, uri, (long long)count);
   FILE *p = popen(cmd, "r");
   if (!p) {
      return false;
   }
   int read = fscanf(p, "%lf %lf", mirrored, plain);
   int status = pclose(p);
   return read == 2 && status == 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
   int64_t count = argc > 1 ? strtoll(argv[1], NULL, 10) : 1000000;
   int64_t written = argc > 2 ? strtoll(argv[2], NULL, 10) : 100000;
   if (count <= 0 || written <= 0) {
      fprintf(stderr, "usage: bench_partner [documents (default 1000000)] [written documents (default 100000)]\n");
      return 2;
   }
   char self[4096], duetd_path[4200];
   ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
   self[n > 0 ? n : 0] = '\0';
   char *slash = strrchr(self, '/');
   if (slash) {
      *slash = '\0';
   }
   snprintf(duetd_path, sizeof duetd_path, "%s/duetd", getenv("DUETD") ? "" : self);
   const char *binary = getenv("DUETD") ? getenv("DUETD") : duetd_path;
   if (access(binary, X_OK) != 0) {
      die("duetd", "not found next to bench_partner (set DUETD)");
   }

   char directory[] = "/tmp/bench_partner.XXXXXX";
   if (!mkdtemp(directory)) {
      die("mkdtemp", "cannot create a temporary directory");
   }
   char dbpath[4200], log_path[4200], uri[160], python_uri[128];
   snprintf(dbpath, sizeof dbpath, "%s/data", directory);
   snprintf(log_path, sizeof log_path, "%s/duetd.log", directory);
   int port = free_port();
   /* libmongoc waits for duetd to listen (tryOnce off); pymongo does by default */
   snprintf(uri, sizeof uri,
            "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=20000&serverSelectionTryOnce=false&socketTimeoutMS=0",
            port);
   snprintf(python_uri, sizeof python_uri, "mongodb://127.0.0.1:%d/", port);
   pid_t duetd = start_duetd(binary, dbpath, log_path, port);
   bench_duetd = duetd;

   mongoc_init();
   mongoc_client_t *client = mongoc_client_new(uri);
   bson_t ping = BSON_INITIALIZER, reply;
   BSON_APPEND_INT32(&ping, "ping", 1);
   command(client, &ping, &reply, "ping duetd");
   bson_destroy(&reply);
   bson_destroy(&ping);

   printf("bench_partner: %lld seed-shaped documents {_id: ObjectId, name, complete}, duetd %s\n", (long long)count,
          binary);
   fflush(stdout);
   double start = now_seconds();
   load(client, count);
   printf("  loaded test.Task through the wire      %8.2f s\n", now_seconds() - start);
   fflush(stdout);

   backfill_result_t result = backfill(client, duetd);
   printf("  backfill (duetApply -> done, 1000/tx)  %8.2f s  %9.0f docs/s\n", result.seconds,
          (double)count / result.seconds);
   fflush(stdout);
   double raw = raw_copy(directory, count);
   printf("  raw SQLite copy of the same rows       %8.2f s  %9.0f docs/s\n", raw, (double)count / raw);
   printf("  backfill / raw copy                    %8.2f    (target <= %.1f: %s)\n", result.seconds / raw,
          BACKFILL_TARGET, result.seconds / raw <= BACKFILL_TARGET ? "met" : "missed");
   printf("  duetd resident memory: before %ld MiB, peak during backfill %ld MiB, after %ld MiB\n",
          result.rss_before / 1024, result.rss_peak / 1024, result.rss_after / 1024);
   fflush(stdout);

   double mirrored = 0, plain = 0;
   if (writes(directory, python_uri, written, &mirrored, &plain)) {
      printf("  pymongo insert_many, %lld docs in 1000-doc batches, alternating:\n", (long long)written);
      printf("    into test.Task (mirrored to TaskV2)  %8.2f s  %9.0f docs/s\n", mirrored, (double)written / mirrored);
      printf("    into test.Plain (no mirror)          %8.2f s  %9.0f docs/s\n", plain, (double)written / plain);
      printf("  mirrored / plain                       %8.2f    (target <= %.1f: %s)\n", mirrored / plain, WRITE_TARGET,
             mirrored / plain <= WRITE_TARGET ? "met" : "missed");
   } else {
      printf("  writes through pymongo: not measured (/usr/bin/python3 with pymongo failed)\n");
   }

   mongoc_client_destroy(client);
   mongoc_cleanup();
   kill(duetd, SIGTERM);
   waitpid(duetd, NULL, 0);
   nftw(directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   return 0;
}
