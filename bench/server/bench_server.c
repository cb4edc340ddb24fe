/*
 * bench_server.c — bench_server: duetd's throughput through pymongo next to the store's
 * in-process rate measured in the same run, and a change stream's write-to-event latency.
 *
 *   1. duetd (the one built next to this program, or $DUETD) starts on a free loopback port
 *      with a fresh --dbpath; a store is opened in-process on another fresh directory.
 *   2. Insert: N seed-shaped documents {_id: ObjectId, name, complete} go into bench.Task
 *      three ways — pymongo insert_many of 1000-document batches from one thread, the same
 *      from two threads sharing one MongoClient (into bench.Task2), and duet_store_insert_many
 *      of the same bytes in-process, one 1000-document transaction per batch.  The three take
 *      turns every 10 batches (the order rotating) so that load from other processes falls on
 *      all alike.
 *   3. Full scan: pymongo find() of every document (default batch sizes, each document
 *      decoded) and duet_store_find with no filter, two rounds each, alternated.
 *   4. Change stream: p50/p99 of write-to-event latency over loopback
 *      (tests/e2e/changestream_latency.py measure()).
 *
 * For each wire step it knows three times: the wall clock, the CPU time pymongo's process
 * used (reported by bench_server.py) and the CPU time duetd used (/proc/<pid>/stat).  It
 * prints, in documents per second next to the store's in-process rate:
 *   - duetd serving pymongo, per second of duetd CPU: what the server costs per document,
 *     the reading the 0.5 target is judged on ("met" / "MISSED");
 *   - the wall-clock rates a pymongo application sees, and next to them the rate pymongo's
 *     own CPU time allows with an infinitely fast server — the bound no server can pass;
 * and the p99 latency against 5 ms.  Exit status: 0 when it ran (whether or not the targets
 * were met), 2 when it could not run (no duetd, no python3 with pymongo, ...).
 *
 * The Python driver and the latency module are found through $DUET_SOURCE_DIR, or else the
 * source tree this file was compiled from (__FILE__).
 *
 * Usage: bench_server [documents (default 1000000)] [latency samples (default 500)]
 */
#define _GNU_SOURCE
#include <duet/store_ops.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define CHUNK_BATCHES 10 /* batches per side before the other side's turn */
#define SCAN_ROUNDS 2
#define THROUGHPUT_TARGET 0.5 /* wire rate / in-process store rate, at least */
#define LATENCY_TARGET_MS 5.0 /* change-stream p99, under */

static pid_t bench_duetd;                   /* the duetd this program started, stopped on any exit */
static pid_t bench_python;                  /* the pymongo driver process */
static char bench_directory[PATH_MAX] = ""; /* the temporary directory, removed on any exit */

static double now_seconds(void)
{
   struct timespec t;
   clock_gettime(CLOCK_MONOTONIC, &t);
   return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU seconds this process has used (all threads: the store's checkpointer too). */
static double cpu_seconds(void)
{
   struct timespec t;
   clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
   return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* An in-process step, summed over its runs: wall clock and this process's CPU. */
typedef struct store_totals {
   double wall, cpu;
} store_totals_t;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

static void stop_child(pid_t *pid)
{
   if (*pid > 0) {
      kill(*pid, SIGTERM);
      waitpid(*pid, NULL, 0);
      *pid = 0;
   }
}

/* Gives up: the benchmark could not run (exit status 2). */
static void die(const char *what, const char *detail)
{
   fprintf(stderr, "bench_server: %s: %s\n", what, detail);
   stop_child(&bench_python);
   stop_child(&bench_duetd);
   if (bench_directory[0]) {
      nftw(bench_directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   }
   exit(2);
}

static void check_store(bool ok, const duet_error_t *error, const char *what)
{
   if (!ok) {
      die(what, error->message);
   }
}

/* The i-th seed-shaped document, initialized in *doc (caller destroys); bench_server.py's
 * make_doc builds the same bytes. */
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

/* ---- duetd ---------------------------------------------------------------------------------- */

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

/* True once `path` contains `needle`. */
static bool file_contains(const char *path, const char *needle)
{
   FILE *f = fopen(path, "r");
   if (!f) {
      return false;
   }
   char line[4096];
   bool found = false;
   while (!found && fgets(line, sizeof line, f)) {
      found = strstr(line, needle) != NULL;
   }
   fclose(f);
   return found;
}

/* Starts duetd and waits (20 s at most) for its start line: the port accepts a moment earlier. */
static void start_duetd(const char *binary, const char *dbpath, const char *log_path, int port)
{
   char port_text[16];
   snprintf(port_text, sizeof port_text, "%d", port);
   bench_duetd = fork();
   if (bench_duetd < 0) {
      die("fork", strerror(errno));
   }
   if (bench_duetd == 0) {
      execl(binary, binary, "--dbpath", dbpath, "--port", port_text, "--log", log_path, (char *)NULL);
      _exit(127);
   }
   double deadline = now_seconds() + 20;
   while (!file_contains(log_path, "Waiting for connections")) {
      int status;
      if (waitpid(bench_duetd, &status, WNOHANG) == bench_duetd) {
         bench_duetd = 0;
         die("duetd", "exited before it was listening (see its log)");
      }
      if (now_seconds() > deadline) {
         die("duetd", "not listening after 20 s");
      }
      usleep(20000);
   }
}

/* CPU seconds (user + system, all threads) duetd has used so far; 0 when unreadable. */
static double duetd_cpu_seconds(void)
{
   char path[64], line[1024];
   snprintf(path, sizeof path, "/proc/%d/stat", (int)bench_duetd);
   FILE *f = fopen(path, "r");
   if (!f) {
      return 0;
   }
   bool read = fgets(line, sizeof line, f) != NULL;
   fclose(f);
   char *fields = read ? strrchr(line, ')') : NULL; /* the command name may hold spaces */
   unsigned long long utime = 0, stime = 0;
   if (!fields || sscanf(fields + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
      return 0;
   }
   return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the pymongo driver ------------------------------------------------------------------- */

typedef struct {
   FILE *to;   /* requests, one a line */
   FILE *from; /* answers, one a line */
} python_t;

static void python_start(python_t *python, const char *script, const char *uri, const char *e2e_dir)
{
   int requests[2], answers[2];
   if (pipe(requests) != 0 || pipe(answers) != 0) {
      die("pipe", strerror(errno));
   }
   bench_python = fork();
   if (bench_python < 0) {
      die("fork", strerror(errno));
   }
   if (bench_python == 0) {
      dup2(requests[0], STDIN_FILENO);
      dup2(answers[1], STDOUT_FILENO);
      close(requests[0]);
      close(requests[1]);
      close(answers[0]);
      close(answers[1]);
      setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
      execl("/usr/bin/python3", "python3", script, uri, e2e_dir, (char *)NULL);
      _exit(127);
   }
   close(requests[0]);
   close(answers[1]);
   python->to = fdopen(requests[1], "w");
   python->from = fdopen(answers[0], "r");
   if (!python->to || !python->from) {
      die("fdopen", strerror(errno));
   }
}

/* Sends one request and reads its answer into `answer` (the text after "ok "). */
static void python_ask(python_t *python, const char *request, char *answer, size_t size)
{
   char line[1024];
   if (fprintf(python->to, "%s\n", request) < 0 || fflush(python->to) != 0 || !fgets(line, sizeof line, python->from)) {
      die(request, "the pymongo driver (/usr/bin/python3 bench_server.py) ended without answering");
   }
   line[strcspn(line, "\n")] = '\0';
   if (strncmp(line, "ok ", 3) != 0) {
      die(request, line);
   }
   size_t length = strlen(line + 3);
   if (length >= size) {
      die(request, "answer too long");
   }
   memcpy(answer, line + 3, length + 1);
}

static void python_stop(python_t *python)
{
   fputs("quit\n", python->to);
   fclose(python->to);
   fclose(python->from);
   int status = 0;
   waitpid(bench_python, &status, 0);
   bench_python = 0;
}

/* ---- the two sides -------------------------------------------------------------------------- */

/* One kind of wire step, summed over its runs. */
typedef struct wire_totals {
   double documents;
   double wall;       /* seconds, as the pymongo application saw them */
   double client_cpu; /* seconds of CPU in the pymongo process */
   double duetd_cpu;  /* seconds of CPU in duetd */
} wire_totals_t;

static void wire_insert(python_t *python, const char *collection, int64_t first, int64_t count, int threads,
                        wire_totals_t *totals)
{
   char request[128], answer[256];
   snprintf(request, sizeof request, "insert %s %lld %lld %d", collection, (long long)first, (long long)count,
            threads);
   double cpu = duetd_cpu_seconds();
   python_ask(python, request, answer, sizeof answer);
   totals->duetd_cpu += duetd_cpu_seconds() - cpu;
   double wall = 0, client = 0;
   if (sscanf(answer, "%lf %lf", &wall, &client) != 2) {
      die(request, answer);
   }
   totals->documents += (double)count;
   totals->wall += wall;
   totals->client_cpu += client;
}

/* Inserts documents first .. first+count-1 through the store, one transaction per batch; the
 * seconds spent in duet_store_insert_many (building the documents is not timed). */
static void store_insert(duet_session_t *session, int64_t first, int64_t count, store_totals_t *totals)
{
   static bson_t docs[BATCH];
   const bson_t *pointers[BATCH];
   for (int64_t start = first; start < first + count; start += BATCH) {
      size_t n = (size_t)(first + count - start < BATCH ? first + count - start : BATCH);
      for (size_t i = 0; i < n; i++) {
         make_doc(start + (int64_t)i, &docs[i]);
         pointers[i] = &docs[i];
      }
      duet_error_t error = DUET_ERROR_INIT;
      int64_t inserted = 0;
      bson_t write_errors;
      double began = now_seconds(), cpu = cpu_seconds();
      bool ok = duet_store_insert_many(session, "bench", "Task", pointers, n, true, &inserted, &write_errors, &error);
      totals->wall += now_seconds() - began;
      totals->cpu += cpu_seconds() - cpu;
      check_store(ok, &error, "duet_store_insert_many");
      if (inserted != (int64_t)n) {
         char *json = bson_as_relaxed_extended_json(&write_errors, NULL);
         die("duet_store_insert_many", json);
      }
      bson_destroy(&write_errors);
      for (size_t i = 0; i < n; i++) {
         bson_destroy(&docs[i]);
      }
   }
}

static void wire_scan(python_t *python, int64_t expected, wire_totals_t *totals)
{
   char answer[256];
   double cpu = duetd_cpu_seconds();
   python_ask(python, "find Task", answer, sizeof answer);
   totals->duetd_cpu += duetd_cpu_seconds() - cpu;
   double wall = 0, client = 0;
   long long documents = 0;
   if (sscanf(answer, "%lf %lf %lld", &wall, &client, &documents) != 3) {
      die("find through pymongo", answer);
   }
   if (documents != expected) {
      die("find through pymongo", "returned a different number of documents");
   }
   totals->documents += (double)documents;
   totals->wall += wall;
   totals->client_cpu += client;
}

/* A full find through the store: every document visited (its bytes summed, so the loop has work
 * the compiler cannot drop). */
static void store_scan(duet_session_t *session, int64_t expected, store_totals_t *totals)
{
   duet_error_t error = DUET_ERROR_INIT;
   duet_store_find_t *find;
   double began = now_seconds(), cpu = cpu_seconds();
   check_store(duet_store_find(session, "bench", "Task", NULL, &find, &error), &error, "duet_store_find");
   int64_t documents = 0;
   uint64_t bytes = 0;
   const bson_t *doc;
   for (;;) {
      check_store(duet_store_find_next(find, &doc, &error), &error, "duet_store_find_next");
      if (!doc) {
         break;
      }
      documents++;
      bytes += doc->len;
   }
   duet_store_find_destroy(find);
   totals->wall += now_seconds() - began;
   totals->cpu += cpu_seconds() - cpu;
   if (documents != expected || bytes == 0) {
      die("find through the store", "returned a different number of documents");
   }
}

/* ---- the report ------------------------------------------------------------------------------ */

static const char *verdict(bool met)
{
   return met ? "met" : "MISSED";
}

static void print_rate(const char *what, double rate, double store_rate, const char *note)
{
   printf("    %-52s %10.0f   %5.2f%s%s\n", what, rate, rate / store_rate, note[0] ? "   " : "", note);
}

/*
 * Prints one operation's readings; returns whether duetd's side met the target.  CPU rates are
 * compared with CPU rates (duetd's against the store's in-process CPU time: neither counts time
 * the machine gave to others), wall-clock rates with the store's wall-clock rate.  `totals[0]`
 * is the single-client step (its client CPU gives the bound); the duetd reading sums every step.
 */
static bool report(const char *title, const char *store_label, double store_documents, const store_totals_t *store,
                   const wire_totals_t *totals, const char *const *labels, size_t steps)
{
   double store_wall_rate = store_documents / store->wall, store_cpu_rate = store_documents / store->cpu;
   printf("  %s%*s docs/s   ratio to the store\n", title, (int)(60 - strlen(title)), "");
   char label[96];
   snprintf(label, sizeof label, "%s, per CPU second", store_label);
   print_rate(label, store_cpu_rate, store_cpu_rate, "");
   double documents = 0, duetd_cpu = 0;
   for (size_t i = 0; i < steps; i++) {
      documents += totals[i].documents;
      duetd_cpu += totals[i].duetd_cpu;
   }
   double duetd_rate = documents / duetd_cpu;
   bool met = duetd_rate / store_cpu_rate >= THROUGHPUT_TARGET;
   char note[64];
   snprintf(note, sizeof note, "target >= %.1f: %s", THROUGHPUT_TARGET, verdict(met));
   print_rate("duetd serving pymongo, per second of duetd CPU", duetd_rate, store_cpu_rate, note);
   snprintf(label, sizeof label, "%s, wall clock", store_label);
   print_rate(label, store_wall_rate, store_wall_rate, "");
   for (size_t i = 0; i < steps; i++) {
      print_rate(labels[i], totals[i].documents / totals[i].wall, store_wall_rate, "");
      printf("      (duetd busy %.2f s, pymongo %.2f s of the %.2f s wall clock)\n", totals[i].duetd_cpu,
             totals[i].client_cpu, totals[i].wall);
   }
   print_rate("  bound: pymongo's CPU per document, server taking none", totals[0].documents / totals[0].client_cpu,
              store_cpu_rate, "(against the store per CPU second)");
   return met;
}

/* ---- main ------------------------------------------------------------------------------------ */

/* The directory holding bench_server.c: $DUET_SOURCE_DIR/bench/server, else from __FILE__. */
static void source_dir(char *out, size_t size)
{
   if (getenv("DUET_SOURCE_DIR")) {
      snprintf(out, size, "%s/bench/server", getenv("DUET_SOURCE_DIR"));
      return;
   }
   snprintf(out, size, "%s", __FILE__);
   char *slash = strrchr(out, '/');
   if (slash) {
      *slash = '\0';
   } else {
      snprintf(out, size, ".");
   }
}

int main(int argc, char **argv)
{
   int64_t count = argc > 1 ? strtoll(argv[1], NULL, 10) : 1000000;
   int samples = argc > 2 ? atoi(argv[2]) : 500;
   if (argc > 3 || count <= 0 || samples <= 0) {
      fprintf(stderr, "usage: bench_server [documents (default 1000000)] [latency samples (default 500)]\n");
      return 2;
   }

   char self[PATH_MAX], duetd_path[PATH_MAX + 8];
   ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
   self[n > 0 ? n : 0] = '\0';
   char *slash = strrchr(self, '/');
   if (slash) {
      *slash = '\0';
   }
   snprintf(duetd_path, sizeof duetd_path, "%s/duetd", self);
   const char *binary = getenv("DUETD") ? getenv("DUETD") : duetd_path;
   if (access(binary, X_OK) != 0) {
      die("duetd", "not found next to bench_server (set DUETD)");
   }
   char bench_dir[PATH_MAX], script[PATH_MAX + 32], e2e_dir[PATH_MAX + 32], latency_module[PATH_MAX + 64];
   source_dir(bench_dir, sizeof bench_dir);
   snprintf(script, sizeof script, "%s/bench_server.py", bench_dir);
   snprintf(e2e_dir, sizeof e2e_dir, "%s/../../tests/e2e", bench_dir);
   snprintf(latency_module, sizeof latency_module, "%s/changestream_latency.py", e2e_dir);
   if (access(script, R_OK) != 0 || access(latency_module, R_OK) != 0) {
      die("source tree", "bench/server/bench_server.py or tests/e2e/changestream_latency.py not found "
                         "(set DUET_SOURCE_DIR)");
   }
   if (access("/usr/bin/python3", X_OK) != 0) {
      die("python", "/usr/bin/python3 not found (Debian's python3 with python3-pymongo)");
   }

   snprintf(bench_directory, sizeof bench_directory, "/tmp/bench_server.XXXXXX");
   if (!mkdtemp(bench_directory)) {
      bench_directory[0] = '\0';
      die("mkdtemp", strerror(errno));
   }
   char dbpath[PATH_MAX + 16], log_path[PATH_MAX + 16], store_path[PATH_MAX + 16], uri[96];
   snprintf(dbpath, sizeof dbpath, "%s/duetd", bench_directory);
   snprintf(log_path, sizeof log_path, "%s/duetd.log", bench_directory);
   snprintf(store_path, sizeof store_path, "%s/store", bench_directory);
   int port = free_port();
   snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/", port);
   start_duetd(binary, dbpath, log_path, port);

   duet_error_t error = DUET_ERROR_INIT;
   duet_store_t *store;
   duet_session_t *session;
   check_store(duet_store_open(store_path, NULL, &store, &error), &error, "duet_store_open");
   check_store(duet_session_open(store, &session, &error), &error, "duet_session_open");
   python_t python;
   python_start(&python, script, uri, e2e_dir);

   printf("bench_server: %lld seed-shaped documents {_id: ObjectId, name, complete}, duetd %s\n", (long long)count,
          binary);
   fflush(stdout);

   /* insert, the three ways taking turns every CHUNK_BATCHES batches, the order rotating */
   wire_totals_t inserts[2] = {{0}};
   store_totals_t store_inserts = {0};
   const int64_t chunk = (int64_t)BATCH * CHUNK_BATCHES;
   for (int64_t first = 0, turn = 0; first < count; first += chunk, turn++) {
      int64_t length = count - first < chunk ? count - first : chunk;
      for (int64_t step = 0; step < 3; step++) {
         switch ((turn + step) % 3) {
         case 0: wire_insert(&python, "Task", first, length, 1, &inserts[0]); break;
         case 1: wire_insert(&python, "Task2", first, length, 2, &inserts[1]); break;
         default: store_insert(session, first, length, &store_inserts); break;
         }
      }
   }
   /* full scans, alternating */
   wire_totals_t scans = {0};
   store_totals_t store_scans = {0};
   for (int round = 0; round < SCAN_ROUNDS; round++) {
      if (round % 2 == 0) {
         wire_scan(&python, count, &scans);
         store_scan(session, count, &store_scans);
      } else {
         store_scan(session, count, &store_scans);
         wire_scan(&python, count, &scans);
      }
   }
   static const char *const insert_labels[] = {"pymongo insert_many, one thread, wall clock",
                                               "pymongo insert_many, two threads, wall clock"};
   static const char *const scan_labels[] = {"pymongo find(), documents decoded, wall clock"};
   bool insert_met = report("insert, 1000-document batches", "store in-process",
                            (double)count, &store_inserts, inserts, insert_labels, 2);
   char scan_title[64];
   snprintf(scan_title, sizeof scan_title, "full scan, %d rounds", SCAN_ROUNDS);
   bool scan_met = report(scan_title, "store in-process", (double)count * SCAN_ROUNDS, &store_scans,
                          &scans, scan_labels, 1);
   printf("    throughput target (duetd's side >= %.1fx the store, insert and scan): %s\n", THROUGHPUT_TARGET,
          verdict(insert_met && scan_met));
   fflush(stdout);

   char request[64], answer[256];
   snprintf(request, sizeof request, "latency %d", samples);
   python_ask(&python, request, answer, sizeof answer);
   double p50 = 0, p99 = 0, max = 0;
   int measured = 0;
   if (sscanf(answer, "%lf %lf %lf %d", &p50, &p99, &max, &measured) != 4) {
      die("latency", answer);
   }
   printf("  change stream write-to-event latency, %d samples on loopback: p50 %.3f ms, p99 %.3f ms (max %.3f ms)\n",
          measured, p50, p99, max);
   printf("    p99 (target < %.0f ms): %s\n", LATENCY_TARGET_MS, verdict(p99 < LATENCY_TARGET_MS));

   python_stop(&python);
   duet_session_close(session);
   duet_store_close(store);
   int status = 0;
   kill(bench_duetd, SIGTERM);
   waitpid(bench_duetd, &status, 0);
   bench_duetd = 0;
   if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      printf("  note: duetd did not exit 0 after SIGTERM (status %d)\n", status);
   }
   nftw(bench_directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
   return 0;
}
