/*
 * cmd_admin.c — the diagnostic commands clients and mongosh run on connect:
 * ping, buildInfo, getParameter, getLog, hostInfo, whatsmyuri, serverStatus,
 * connectionStatus.  Every figure comes from the running process.
 */
#include "server/command.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

static int64_t admin_now_ms(void)
{
   struct timeval now;
   gettimeofday(&now, NULL);
   return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

bool duet_cmd_ping(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)ctx;
   (void)reply;
   (void)error;
   return true;
}

bool duet_cmd_build_info(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)ctx;
   (void)error;
   BSON_APPEND_UTF8(reply, "version", DUET_SERVER_MONGODB_VERSION);
   BSON_APPEND_UTF8(reply, "gitVersion", "duet-" DUET_SERVER_VERSION);
   bson_t array = BSON_INITIALIZER;
   BSON_APPEND_ARRAY(reply, "modules", &array);
   bson_destroy(&array);
   BSON_APPEND_UTF8(reply, "allocator", "system");
   BSON_APPEND_UTF8(reply, "javascriptEngine", "none");
   BSON_APPEND_UTF8(reply, "sysInfo", "deprecated");
   bson_t version_array;
   bson_append_array_begin(reply, "versionArray", -1, &version_array);
   int parts[4] = {0, 0, 0, 0};
   sscanf(DUET_SERVER_MONGODB_VERSION, "%d.%d.%d", &parts[0], &parts[1], &parts[2]);
   for (int i = 0; i < 4; i++) {
      char key[2] = {(char)('0' + i), '\0'};
      BSON_APPEND_INT32(&version_array, key, parts[i]);
   }
   bson_append_array_end(reply, &version_array);
   bson_t openssl;
   bson_append_document_begin(reply, "openssl", -1, &openssl);
   BSON_APPEND_UTF8(&openssl, "running", "disabled");
   BSON_APPEND_UTF8(&openssl, "compiled", "disabled");
   bson_append_document_end(reply, &openssl);
   struct utsname name;
   uname(&name);
   bson_t environment;
   bson_append_document_begin(reply, "buildEnvironment", -1, &environment);
   BSON_APPEND_UTF8(&environment, "distarch", name.machine);
   BSON_APPEND_UTF8(&environment, "target_os", "linux");
   BSON_APPEND_UTF8(&environment, "cc", __VERSION__);
   bson_append_document_end(reply, &environment);
   BSON_APPEND_INT32(reply, "bits", (int32_t)(sizeof(void *) * 8));
#ifdef NDEBUG
   BSON_APPEND_BOOL(reply, "debug", false);
#else
   BSON_APPEND_BOOL(reply, "debug", true);
#endif
   BSON_APPEND_INT32(reply, "maxBsonObjectSize", DUET_WIRE_MAX_BSON_SIZE);
   bson_t engines;
   bson_append_array_begin(reply, "storageEngines", -1, &engines);
   BSON_APPEND_UTF8(&engines, "0", "duet-sqlite");
   bson_append_array_end(reply, &engines);
   bson_t duet;
   bson_append_document_begin(reply, "duet", -1, &duet);
   BSON_APPEND_UTF8(&duet, "version", DUET_SERVER_VERSION);
   bson_append_document_end(reply, &duet);
   return true;
}

/* ---- getParameter ------------------------------------------------------------ */

typedef struct admin_parameter {
   const char *name;
   void (*append)(duet_command_ctx_t *ctx, bson_t *out, const char *key);
   bool settable_at_runtime;
   bool settable_at_startup;
} admin_parameter_t;

static void param_fcv(duet_command_ctx_t *ctx, bson_t *out, const char *key)
{
   (void)ctx;
   bson_t doc;
   bson_append_document_begin(out, key, -1, &doc);
   BSON_APPEND_UTF8(&doc, "version", "7.0");
   bson_append_document_end(out, &doc);
}

static void param_log_level(duet_command_ctx_t *ctx, bson_t *out, const char *key)
{
   /* MongoDB's verbosity: 0 = informational, 1+ = debug */
   BSON_APPEND_INT32(out, key, ctx->server->log->level >= DUET_LOG_DEBUG ? 1 : 0);
}

static void param_cursor_timeout(duet_command_ctx_t *ctx, bson_t *out, const char *key)
{
   BSON_APPEND_INT64(out, key, ctx->server->cursors.idle_timeout_ms);
}

static void param_session_timeout(duet_command_ctx_t *ctx, bson_t *out, const char *key)
{
   (void)ctx;
   BSON_APPEND_INT32(out, key, DUET_LSID_TIMEOUT_MINUTES);
}

static void param_auth_mechanisms(duet_command_ctx_t *ctx, bson_t *out, const char *key)
{
   (void)ctx;
   bson_t empty = BSON_INITIALIZER; /* duetd runs without authentication */
   bson_append_array(out, key, -1, &empty);
   bson_destroy(&empty);
}

static const admin_parameter_t admin_parameters[] = {
   {"authenticationMechanisms", param_auth_mechanisms, false, true},
   {"cursorTimeoutMillis", param_cursor_timeout, false, true},
   {"featureCompatibilityVersion", param_fcv, false, false},
   {"localLogicalSessionTimeoutMinutes", param_session_timeout, false, false},
   {"logLevel", param_log_level, false, true},
};

static void admin_append_parameter(duet_command_ctx_t *ctx, const admin_parameter_t *parameter, bool details,
                                   bson_t *reply)
{
   if (!details) {
      parameter->append(ctx, reply, parameter->name);
      return;
   }
   bson_t doc;
   bson_append_document_begin(reply, parameter->name, -1, &doc);
   parameter->append(ctx, &doc, "value");
   BSON_APPEND_BOOL(&doc, "settableAtRuntime", parameter->settable_at_runtime);
   BSON_APPEND_BOOL(&doc, "settableAtStartup", parameter->settable_at_startup);
   bson_append_document_end(reply, &doc);
}

bool duet_cmd_get_parameter(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   size_t parameter_count = sizeof admin_parameters / sizeof admin_parameters[0];
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   bool all = false, details = false;
   if (BSON_ITER_HOLDS_UTF8(&iter) && strcmp(bson_iter_utf8(&iter, NULL), "*") == 0) {
      all = true;
   } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
      bson_iter_t option;
      bson_iter_recurse(&iter, &option);
      while (bson_iter_next(&option)) {
         const char *key = bson_iter_key(&option);
         if (strcmp(key, "showDetails") == 0) {
            details = bson_iter_as_bool(&option);
         } else if (strcmp(key, "allParameters") == 0) {
            all = bson_iter_as_bool(&option);
         } else {
            duet_error_set(error, 40415, "BSON field 'getParameter.%s' is an unknown field.", key);
            return false;
         }
      }
   }
   uint32_t before = reply->len;
   if (all) {
      for (size_t i = 0; i < parameter_count; i++) {
         admin_append_parameter(ctx, &admin_parameters[i], details, reply);
      }
      return true;
   }
   while (bson_iter_next(&iter)) {
      const char *key = bson_iter_key(&iter);
      if (duet_command_is_generic_field(key)) {
         continue;
      }
      for (size_t i = 0; i < parameter_count; i++) {
         if (strcmp(key, admin_parameters[i].name) == 0) {
            admin_append_parameter(ctx, &admin_parameters[i], details, reply);
         }
      }
   }
   if (reply->len == before) {
      duet_error_set(error, DUET_ERR_INVALID_OPTIONS, "no option found to get");
      return false;
   }
   return true;
}

/* ---- getLog ---------------------------------------------------------------------- */

bool duet_cmd_get_log(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   bson_iter_t iter;
   bson_iter_init(&iter, ctx->command);
   bson_iter_next(&iter);
   if (!BSON_ITER_HOLDS_UTF8(&iter)) {
      duet_error_set(error, DUET_ERR_TYPE_MISMATCH, "Argument to getLog must be of type String; found a value of type %s",
                     duet_bson_type_name(bson_iter_type(&iter)));
      return false;
   }
   const char *name = bson_iter_utf8(&iter, NULL);
   if (strcmp(name, "*") == 0) {
      bson_t names;
      bson_append_array_begin(reply, "names", -1, &names);
      BSON_APPEND_UTF8(&names, "0", "global");
      BSON_APPEND_UTF8(&names, "1", "startupWarnings");
      bson_append_array_end(reply, &names);
      return true;
   }
   bson_t lines = BSON_INITIALIZER;
   int64_t total = 0;
   if (!duet_log_copy(ctx->server->log, name, &lines, &total)) {
      bson_destroy(&lines);
      duet_error_set(error, DUET_ERR_OPERATION_FAILED, "No log named '%s'", name);
      return false;
   }
   BSON_APPEND_INT64(reply, "totalLinesWritten", total);
   BSON_APPEND_ARRAY(reply, "log", &lines);
   bson_destroy(&lines);
   return true;
}

/* ---- hostInfo, whatsmyuri, connectionStatus ------------------------------------ */

bool duet_cmd_host_info(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)error;
   struct utsname name;
   uname(&name);
   int64_t pages = sysconf(_SC_PHYS_PAGES);
   int64_t page_size = sysconf(_SC_PAGESIZE);
   bson_t system, os, extra;
   bson_append_document_begin(reply, "system", -1, &system);
   BSON_APPEND_DATE_TIME(&system, "currentTime", admin_now_ms());
   BSON_APPEND_UTF8(&system, "hostname", ctx->server->host_name);
   BSON_APPEND_INT32(&system, "cpuAddrSize", (int32_t)(sizeof(void *) * 8));
   BSON_APPEND_INT64(&system, "memSizeMB", pages * page_size / (1024 * 1024));
   BSON_APPEND_INT64(&system, "memLimitMB", pages * page_size / (1024 * 1024));
   BSON_APPEND_INT32(&system, "numCores", (int32_t)sysconf(_SC_NPROCESSORS_ONLN));
   BSON_APPEND_UTF8(&system, "cpuArch", name.machine);
   BSON_APPEND_BOOL(&system, "numaEnabled", false);
   bson_append_document_end(reply, &system);
   bson_append_document_begin(reply, "os", -1, &os);
   BSON_APPEND_UTF8(&os, "type", name.sysname);
   BSON_APPEND_UTF8(&os, "name", name.sysname);
   BSON_APPEND_UTF8(&os, "version", name.release);
   bson_append_document_end(reply, &os);
   bson_append_document_begin(reply, "extra", -1, &extra);
   BSON_APPEND_UTF8(&extra, "versionString", name.version);
   BSON_APPEND_INT64(&extra, "pageSize", page_size);
   bson_append_document_end(reply, &extra);
   return true;
}

bool duet_cmd_whatsmyuri(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)error;
   BSON_APPEND_UTF8(reply, "you", ctx->conn ? ctx->conn->remote : "");
   return true;
}

bool duet_cmd_connection_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)error;
   bool privileges = false;
   bson_iter_t iter;
   if (bson_iter_init_find(&iter, ctx->command, "showPrivileges")) {
      privileges = bson_iter_as_bool(&iter);
   }
   bson_t auth_info, empty = BSON_INITIALIZER;
   bson_append_document_begin(reply, "authInfo", -1, &auth_info);
   BSON_APPEND_ARRAY(&auth_info, "authenticatedUsers", &empty);
   BSON_APPEND_ARRAY(&auth_info, "authenticatedUserRoles", &empty);
   if (privileges) {
      BSON_APPEND_ARRAY(&auth_info, "authenticatedUserPrivileges", &empty);
   }
   bson_append_document_end(reply, &auth_info);
   bson_destroy(&empty);
   return true;
}

/* ---- serverStatus ------------------------------------------------------------------ */

static int64_t admin_load(int64_t *counter)
{
   return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

bool duet_cmd_server_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)error;
   duet_server_t *server = ctx->server;
   int64_t uptime_us = duet_cursor_now_us() - server->start_mono_us;
   BSON_APPEND_UTF8(reply, "host", server->host_name);
   BSON_APPEND_UTF8(reply, "version", DUET_SERVER_MONGODB_VERSION);
   BSON_APPEND_UTF8(reply, "process", "duetd");
   BSON_APPEND_INT64(reply, "pid", (int64_t)getpid());
   BSON_APPEND_DOUBLE(reply, "uptime", (double)(uptime_us / 1000000));
   BSON_APPEND_INT64(reply, "uptimeMillis", uptime_us / 1000);
   BSON_APPEND_INT64(reply, "uptimeEstimate", uptime_us / 1000000);
   BSON_APPEND_DATE_TIME(reply, "localTime", admin_now_ms());

   bson_t doc;
   bson_append_document_begin(reply, "connections", -1, &doc);
   int64_t current = admin_load(&server->connections_current);
   BSON_APPEND_INT32(&doc, "current", (int32_t)current);
   BSON_APPEND_INT32(&doc, "available", (int32_t)(1000000 - current));
   BSON_APPEND_INT64(&doc, "totalCreated", admin_load(&server->connections_total));
   BSON_APPEND_INT32(&doc, "active", (int32_t)current);
   bson_append_document_end(reply, &doc);

   bson_append_document_begin(reply, "network", -1, &doc);
   BSON_APPEND_INT64(&doc, "bytesIn", admin_load(&server->bytes_in));
   BSON_APPEND_INT64(&doc, "bytesOut", admin_load(&server->bytes_out));
   BSON_APPEND_INT64(&doc, "numRequests", admin_load(&server->requests));
   bson_append_document_end(reply, &doc);

   bson_append_document_begin(reply, "opcounters", -1, &doc);
   BSON_APPEND_INT64(&doc, "insert", admin_load(&server->op_insert));
   BSON_APPEND_INT64(&doc, "query", admin_load(&server->op_query));
   BSON_APPEND_INT64(&doc, "update", admin_load(&server->op_update));
   BSON_APPEND_INT64(&doc, "delete", admin_load(&server->op_delete));
   BSON_APPEND_INT64(&doc, "getmore", admin_load(&server->op_getmore));
   BSON_APPEND_INT64(&doc, "command", admin_load(&server->op_command));
   bson_append_document_end(reply, &doc);

   int64_t vm_pages = 0, resident_pages = 0;
   FILE *statm = fopen("/proc/self/statm", "r");
   if (statm) {
      long long a = 0, b = 0;
      if (fscanf(statm, "%lld %lld", &a, &b) == 2) {
         vm_pages = a;
         resident_pages = b;
      }
      fclose(statm);
   }
   int64_t page_size = sysconf(_SC_PAGESIZE);
   bson_append_document_begin(reply, "mem", -1, &doc);
   BSON_APPEND_INT32(&doc, "bits", (int32_t)(sizeof(void *) * 8));
   BSON_APPEND_INT32(&doc, "resident", (int32_t)(resident_pages * page_size / (1024 * 1024)));
   BSON_APPEND_INT32(&doc, "virtual", (int32_t)(vm_pages * page_size / (1024 * 1024)));
   BSON_APPEND_BOOL(&doc, "supported", true);
   bson_append_document_end(reply, &doc);

   bson_t metrics, cursor, open;
   bson_append_document_begin(reply, "metrics", -1, &metrics);
   bson_append_document_begin(&metrics, "cursor", -1, &cursor);
   pthread_mutex_lock(&server->cursors.lock);
   int64_t open_count = server->cursors.open_count;
   int64_t timed_out = server->cursors.timed_out;
   int64_t total_opened = server->cursors.total_opened;
   pthread_mutex_unlock(&server->cursors.lock);
   BSON_APPEND_INT64(&cursor, "timedOut", timed_out);
   BSON_APPEND_INT64(&cursor, "totalOpened", total_opened);
   bson_append_document_begin(&cursor, "open", -1, &open);
   BSON_APPEND_INT64(&open, "noTimeout", 0);
   BSON_APPEND_INT64(&open, "total", open_count);
   bson_append_document_end(&cursor, &open);
   bson_append_document_end(&metrics, &cursor);
   bson_append_document_end(reply, &metrics);

   const char *address = ctx->conn && ctx->conn->local[0] ? ctx->conn->local : "";
   bson_append_document_begin(reply, "repl", -1, &doc);
   bson_t hosts;
   bson_append_array_begin(&doc, "hosts", -1, &hosts);
   BSON_APPEND_UTF8(&hosts, "0", address);
   bson_append_array_end(&doc, &hosts);
   BSON_APPEND_UTF8(&doc, "setName", server->options->repl_set);
   BSON_APPEND_INT32(&doc, "setVersion", 1);
   BSON_APPEND_BOOL(&doc, "isWritablePrimary", true);
   BSON_APPEND_BOOL(&doc, "secondary", false);
   BSON_APPEND_UTF8(&doc, "primary", address);
   BSON_APPEND_UTF8(&doc, "me", address);
   bson_append_document_end(reply, &doc);

   bson_append_document_begin(reply, "logicalSessionRecordCache", -1, &doc);
   pthread_mutex_lock(&server->sessions.lock);
   int64_t active = server->sessions.active;
   pthread_mutex_unlock(&server->sessions.lock);
   BSON_APPEND_INT32(&doc, "activeSessionsCount", (int32_t)active);
   bson_append_document_end(reply, &doc);

   bson_append_document_begin(reply, "storageEngine", -1, &doc);
   BSON_APPEND_UTF8(&doc, "name", "duet-sqlite");
   BSON_APPEND_BOOL(&doc, "supportsCommittedReads", true);
   BSON_APPEND_BOOL(&doc, "persistent", true);
   bson_append_document_end(reply, &doc);
   return true;
}
