/*
 * fuzz_wire.c — libFuzzer target for duetd's frame and command parser: each
 * input is one message handed to duet_server_handle_frame(), exactly as a
 * connection thread would after reading it (framing, OP_MSG/OP_QUERY decoding,
 * BSON validation, the command table, global-field checks and every command
 * handler that needs no storage).  Only crashes, sanitizer reports and leaks
 * count as failures; every input must produce a reply, no reply (moreToCome)
 * or a request to close the connection.
 *
 * A store in a temporary directory backs the document commands, so their
 * parsing and execution are fuzzed too; every 256 inputs its databases are
 * dropped to keep it small.
 *
 * Input: byte 0 chooses the mode — even: the rest is a frame whose
 * messageLength field is patched to the real size (so the fuzzer explores
 * bodies), odd: the rest is used as-is (lengths that lie).
 *
 * duetd's sources (all of src/server but server_main.c) form the duet_server
 * library, which this target links.  Built by `make fuzz`
 * (fuzz/CMakeLists.txt) and, with tests/e2e/fuzz_driver.c, as the fixed-
 * iteration ctest `e2e/fuzz_wire_smoke`.
 */
#include "server/conn.h"
#include "server/log.h"
#include "server/server.h"

#include <dirent.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static duet_server_options_t fuzz_options;
static duet_log_t fuzz_log;
static duet_server_t fuzz_server;
static duet_conn_t fuzz_conn;
static bool fuzz_ready;
static char fuzz_directory[64];
static uint64_t fuzz_inputs;

static void fuzz_teardown(void)
{
   duet_server_destroy(&fuzz_server); /* closes the store */
   bson_free(fuzz_conn.reply_buffer);
   DIR *dir = opendir(fuzz_directory);
   if (dir) {
      struct dirent *entry;
      while ((entry = readdir(dir))) {
         if (entry->d_name[0] != '.') {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", fuzz_directory, entry->d_name);
            unlink(path);
         }
      }
      closedir(dir);
      rmdir(fuzz_directory);
   }
   duet_log_close(&fuzz_log);
   duet_server_options_destroy(&fuzz_options);
}

static void fuzz_setup(void)
{
   duet_server_options_init(&fuzz_options);
   snprintf(fuzz_directory, sizeof fuzz_directory, "/tmp/duet-fuzz-wire-XXXXXX");
   if (!mkdtemp(fuzz_directory)) {
      abort();
   }
   fuzz_options.dbpath = bson_strdup(fuzz_directory);
   char message[256];
   if (!duet_log_open(&fuzz_log, "/dev/null", DUET_LOG_DEBUG, message, sizeof message)) {
      abort();
   }
   duet_server_init(&fuzz_server, &fuzz_options, &fuzz_log);
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_store_open(fuzz_directory, NULL, &fuzz_server.store, &error)) {
      fprintf(stderr, "fuzz_wire: cannot open a store in %s: %s\n", fuzz_directory, error.message);
      abort();
   }
   fuzz_conn.server = &fuzz_server;
   fuzz_conn.fd = -1;
   fuzz_conn.id = 1;
   snprintf(fuzz_conn.remote, sizeof fuzz_conn.remote, "127.0.0.1:50000");
   snprintf(fuzz_conn.local, sizeof fuzz_conn.local, "127.0.0.1:27017");
   snprintf(fuzz_conn.ctx, sizeof fuzz_conn.ctx, "conn1");
   atexit(fuzz_teardown);
   fuzz_ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   if (!fuzz_ready) {
      fuzz_setup();
   }
   if (size < 1 || size - 1 > DUET_WIRE_MAX_MESSAGE_SIZE) {
      return 0;
   }
   bool patch_length = (data[0] & 1) == 0;
   size_t length = size - 1;
   uint8_t *frame = bson_malloc(length ? length : 1);
   memcpy(frame, data + 1, length);
   if (patch_length && length >= 4) {
      duet_wire_put_int32(frame, (int32_t)length);
   }
   /* what conn.c does before handing a frame over: the header's length must be
    * within bounds and equal to the bytes read */
   if (length >= DUET_WIRE_HEADER_SIZE) {
      duet_wire_header_t header;
      duet_error_t error = DUET_ERROR_INIT;
      duet_wire_read_header(frame, &header);
      if (duet_wire_check_length(&header, &error) && (size_t)header.message_length <= length) {
         length = (size_t)header.message_length;
         duet_wire_buffer_t reply;
         bool close = false;
         fuzz_conn.handshake_done = false;
         duet_server_handle_frame(&fuzz_server, &fuzz_conn, frame, length, &reply, &close);
         if (reply.length) {
            /* every reply is a well-formed frame answering this request */
            duet_wire_header_t reply_header;
            duet_wire_read_header(reply.head, &reply_header);
            if ((size_t)reply_header.message_length != reply.length || reply.head_length + reply.body_length != reply.length ||
                reply_header.response_to != header.request_id || !reply.body) {
               abort();
            }
         }
         duet_wire_buffer_destroy(&reply);
      }
      duet_error_clear(&error);
   }
   /* forget what this input created (sessions, cursors) so memory stays flat */
   uint8_t expired[64][16];
   while (duet_lsid_reap(&fuzz_server.sessions, INT64_MAX, -1, expired, 64) > 0) {
   }
   duet_cursor_reap(&fuzz_server.cursors, INT64_MAX);
   if (++fuzz_inputs % 256 == 0) {
      duet_session_t *session = NULL;
      char **names = NULL;
      size_t count = 0;
      duet_error_t ignored = DUET_ERROR_INIT;
      if (duet_server_session_acquire(&fuzz_server, &session, &ignored) &&
          duet_store_list_databases(session, &names, &count, &ignored)) {
         for (size_t i = 0; i < count; i++) {
            duet_store_drop_database(session, names[i], &ignored);
            duet_error_clear(&ignored);
         }
         duet_store_names_free(names, count);
      }
      duet_server_session_release(&fuzz_server, session);
      duet_error_clear(&ignored);
   }
   bson_free(frame);
   return 0;
}
