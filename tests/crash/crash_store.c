/*
 * crash_store.c — the storage engine's crash test.
 *
 * A writer child process runs write commands against a data directory and
 * acknowledges each one (after commit returns) on a pipe; the parent kills it
 * with SIGKILL at a random moment, reopens the store (integrity check included)
 * and verifies that every acknowledged write is present and the change log is
 * consistent with the documents.  Repeated for many iterations, bounded in time.
 *
 * Write command k (k = 1, 2, ... continuing across iterations), one transaction:
 *   insert {_id: k, v: "..."}; update {_id: "counter"} to {n: k};
 *   when k % 5 == 0 also delete {_id: k - 3}.
 * So after recovery with counter n: n >= the last acknowledged k and n <= it + 1
 * (a commit may land just before the kill, unacknowledged), documents 1..n exist
 * except the deleted ones, and the change log holds exactly the events of
 * commands 1..n (plus the counter's first insert) in strictly increasing order.
 *
 * Usage: crash_store [iterations] [seconds]   (defaults 40 and 50)
 */
#define _GNU_SOURCE
#include <duet/store.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const duet_error_t *error)
{
   fprintf(stderr, "crash_store: %s: %s\n", what, error ? error->message : strerror(errno));
   exit(1);
}

static int64_t read_counter(duet_session_t *session)
{
   duet_error_t error = DUET_ERROR_INIT;
   bson_value_t id = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {.str = "counter", .len = 7}};
   bson_t doc;
   bool found = false;
   if (!duet_store_find_id(session, "crash", "docs", &id, &doc, &found, &error)) {
      die("read counter", &error);
   }
   if (!found) {
      return 0;
   }
   bson_iter_t iter;
   int64_t n = bson_iter_init_find(&iter, &doc, "n") ? bson_iter_as_int64(&iter) : -1;
   bson_destroy(&doc);
   return n;
}

static bool write_command(duet_session_t *session, int64_t k, duet_error_t *error)
{
   if (!duet_session_begin(session, error)) {
      return false;
   }
   bson_t *doc = BCON_NEW("_id", BCON_INT64(k), "v", BCON_UTF8("payload payload payload payload"));
   bool ok = duet_store_insert(session, "crash", "docs", doc, NULL, error);
   bson_destroy(doc);
   bson_value_t counter_id = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {.str = "counter", .len = 7}};
   bson_t old_counter;
   bool found = false;
   ok = ok && duet_store_find_id(session, "crash", "docs", &counter_id, &old_counter, &found, error);
   if (ok) {
      bson_t *counter = BCON_NEW("_id", BCON_UTF8("counter"), "n", BCON_INT64(k));
      ok = found ? duet_store_update(session, "crash", "docs", &old_counter, counter, DUET_STORE_UPDATE, NULL, error)
                 : duet_store_insert(session, "crash", "docs", counter, NULL, error);
      bson_destroy(counter);
      if (found) {
         bson_destroy(&old_counter);
      }
   }
   if (ok && k % 5 == 0) {
      bson_value_t gone = {.value_type = BSON_TYPE_INT64, .value.v_int64 = k - 3};
      bool deleted = false;
      ok = duet_store_delete(session, "crash", "docs", &gone, &deleted, error) && deleted;
   }
   if (!ok) {
      duet_session_abort(session);
      return false;
   }
   return duet_session_commit(session, error);
}

/* The child: writes until killed, acknowledging each commit on `ack_fd`. */
static void writer(const char *directory, int ack_fd)
{
   duet_error_t error = DUET_ERROR_INIT;
   duet_store_t *store = NULL;
   duet_session_t *session = NULL;
   duet_store_options_t options = DUET_STORE_OPTIONS_INIT;
   options.skip_integrity_check = true; /* the parent checks at every reopen */
   if (!duet_store_open(directory, &options, &store, &error) || !duet_session_open(store, &session, &error)) {
      die("writer open", &error);
   }
   for (int64_t k = read_counter(session) + 1;; k++) {
      if (!write_command(session, k, &error)) {
         die("write", &error);
      }
      if (write(ack_fd, &k, sizeof k) != sizeof k) {
         die("ack", NULL);
      }
   }
}

typedef struct log_check {
   duet_store_ts_t last;
   int64_t events;
   bool ordered;
   int64_t last_insert_id;
} log_check_t;

static bool check_event(const bson_t *event, duet_store_ts_t ts, void *context)
{
   log_check_t *check = context;
   if (ts <= check->last) {
      check->ordered = false;
   }
   check->last = ts;
   check->events++;
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, event, "operationType") && strcmp(bson_iter_utf8(&iter, NULL), "insert") == 0 &&
       bson_iter_init_find(&iter, event, "documentKey") && BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_iter_t key;
      bson_iter_recurse(&iter, &key);
      if (bson_iter_find(&key, "_id") && BSON_ITER_HOLDS_INT64(&key)) {
         check->last_insert_id = bson_iter_int64(&key);
      }
   }
   return true;
}

/* Reopens the store and checks it against the last acknowledged command. */
static int64_t verify(const char *directory, int64_t acknowledged)
{
   duet_error_t error = DUET_ERROR_INIT;
   duet_store_t *store = NULL;
   duet_session_t *session = NULL;
   if (!duet_store_open(directory, NULL, &store, &error) || !duet_session_open(store, &session, &error)) {
      die("reopen (integrity check)", &error);
   }
   int64_t n = read_counter(session);
   if (n < acknowledged || n > acknowledged + 1) {
      fprintf(stderr, "crash_store: counter %lld but %lld acknowledged\n", (long long)n, (long long)acknowledged);
      exit(1);
   }
   /* documents: 1..n minus the deleted ones, plus the counter */
   int64_t expected_docs = 1;
   for (int64_t k = 1; k <= n; k++) {
      bool deleted = k + 3 <= n && (k + 3) % 5 == 0;
      expected_docs += deleted ? 0 : 1;
      bson_value_t id = {.value_type = BSON_TYPE_INT64, .value.v_int64 = k};
      bson_t doc;
      bool found = false;
      if (!duet_store_find_id(session, "crash", "docs", &id, &doc, &found, &error)) {
         die("find", &error);
      }
      if (found) {
         bson_destroy(&doc);
      }
      if (found == deleted) {
         fprintf(stderr, "crash_store: document %lld %s after recovery (counter %lld)\n", (long long)k,
                 deleted ? "present but deleted" : "missing", (long long)n);
         exit(1);
      }
   }
   int64_t count = 0;
   if (!duet_store_count(session, "crash", "docs", &count, &error)) {
      die("count", &error);
   }
   if (n > 0 && count != expected_docs) {
      fprintf(stderr, "crash_store: %lld documents, expected %lld\n", (long long)count, (long long)expected_docs);
      exit(1);
   }
   /* change log: insert + counter insert/update per command, a delete every 5th */
   log_check_t check = {0, 0, true, 0};
   if (!duet_store_changelog_read(session, 0, 0, check_event, &check, &error)) {
      die("read the change log", &error);
   }
   int64_t expected_events = n == 0 ? 0 : 2 * n + n / 5;
   if (!check.ordered || check.events != expected_events || check.last_insert_id != n) {
      fprintf(stderr, "crash_store: change log has %lld events (ordered: %d, last insert %lld), expected %lld for %lld\n",
              (long long)check.events, check.ordered, (long long)check.last_insert_id, (long long)expected_events,
              (long long)n);
      exit(1);
   }
   duet_session_close(session);
   duet_store_close(store);
   return n;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

int main(int argc, char **argv)
{
   int iterations = argc > 1 ? atoi(argv[1]) : 40;
   int seconds = argc > 2 ? atoi(argv[2]) : 50;
   char directory[] = "/tmp/duet-crash-XXXXXX";
   if (!mkdtemp(directory)) {
      die("mkdtemp", NULL);
   }
   srand((unsigned)time(NULL) ^ (unsigned)getpid());
   time_t start = time(NULL);
   int64_t acknowledged = 0;
   int done = 0;
   for (; done < iterations && time(NULL) - start < seconds; done++) {
      int fds[2];
      if (pipe(fds) != 0) {
         die("pipe", NULL);
      }
      pid_t child = fork();
      if (child < 0) {
         die("fork", NULL);
      }
      if (child == 0) {
         close(fds[0]);
         writer(directory, fds[1]);
         _exit(0);
      }
      close(fds[1]);
      struct timespec delay = {0, (long)(5 + rand() % 150) * 1000000L};
      nanosleep(&delay, NULL);
      kill(child, SIGKILL);
      int status;
      waitpid(child, &status, 0);
      if (!WIFSIGNALED(status)) {
         fprintf(stderr, "crash_store: writer exited on its own (status %d)\n", status);
         return 1;
      }
      int64_t k;
      while (read(fds[0], &k, sizeof k) == sizeof k) {
         acknowledged = k;
      }
      close(fds[0]);
      int64_t recovered = verify(directory, acknowledged);
      acknowledged = recovered; /* the next writer continues after what survived */
   }
   nftw(directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   printf("crash_store: %d kill/recover iterations, %lld write commands survived, all acknowledged writes present\n",
          done, (long long)acknowledged);
   return done > 0 ? 0 : 1;
}
