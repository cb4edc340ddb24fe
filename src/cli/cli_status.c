/*
 * cli_status.c — `duet status [SPEC] [--uri URI] [--json]`: each migration running on duetd
 * (or the one of SPEC) with its state, progress, rate, mirrored writes and errors (duetStatus).
 * Exit status: 0 success, 1 a migration reports an error, 2 error.
 */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdio.h>

static const char status_usage[] =
    "usage: duet status [SPEC] [--uri URI] [--json]\n"
    "\n"
    "Shows every migration duetd runs (or the one of SPEC): its state (backfilling, mirroring,\n"
    "done), backfill progress and rate, writes mirrored and refused since duetd started, and the\n"
    "last backfill error.\n"
    "\n"
    "  --uri URI   duetd to ask (default " DUET_CLI_DEFAULT_URI ")\n"
    "  --json      print duetd's reply as JSON\n"
    "\n"
    "exit status: 0 success, 1 a migration reports an error, 2 error\n";

/* One migration for humans: one line, and its error. */
static void status_print_one(const bson_t *migration)
{
   const char *partner = duet_cli_get_utf8(migration, "partner", NULL);
   int64_t done = duet_cli_get_int64(migration, "done", 0), total = duet_cli_get_int64(migration, "total", 0);
   double percent = total > 0 ? 100.0 * (double)done / (double)total : 100.0;
   if (percent > 100.0) {
      percent = 100.0;
   }
   const char *database = duet_cli_get_utf8(migration, "database", "?");
   char target[512];
   if (partner) {
      snprintf(target, sizeof target, "%s.%s", database, partner);
   } else {
      snprintf(target, sizeof target, "in place");
   }
   printf("%s.%s -> %s: %s, backfill %lld/%lld (%.1f%%, %.0f docs/s), mirrored %lld, refused %lld\n", database,
          duet_cli_get_utf8(migration, "source", "?"), target, duet_cli_get_utf8(migration, "state", "?"),
          (long long)done, (long long)total, percent, duet_cli_get_double(migration, "rate", 0),
          (long long)duet_cli_get_int64(migration, "mirrored", 0),
          (long long)duet_cli_get_int64(migration, "mirror_errors", 0));
   const char *error = duet_cli_get_utf8(migration, "error", NULL);
   if (error) {
      printf("  error: %s\n", error);
   }
}

int duet_cli_status(int argc, char **argv)
{
   duet_cli_args_t args;
   int status = duet_cli_args_parse(argc, argv, DUET_CLI_OPT_SPEC_OPTIONAL, status_usage, &args);
   if (status >= 0) {
      return status;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_cli_client_t *client = NULL;
   bson_t command, reply;
   if (args.spec_path) {
      if (!duet_cli_spec_command("duetStatus", args.spec_path, &command, &error)) {
         bson_destroy(&command);
         return duet_cli_fail("status", &error);
      }
   } else {
      bson_init(&command);
      BSON_APPEND_INT32(&command, "duetStatus", 1);
   }
   bool ok = duet_cli_client_open(args.uri, &client, &error);
   if (ok) {
      ok = duet_cli_client_run(client, &command, &reply, &error);
   } else {
      bson_init(&reply);
   }
   if (!ok) {
      status = duet_cli_fail("status", &error);
   } else {
      bson_iter_t iter, migrations;
      int count = 0;
      bool failed = false;
      if (args.json) {
         duet_cli_print_json(stdout, &reply);
      }
      if (bson_iter_init_find(&iter, &reply, "migrations") && BSON_ITER_HOLDS_ARRAY(&iter) &&
          bson_iter_recurse(&iter, &migrations)) {
         while (bson_iter_next(&migrations)) {
            uint32_t len;
            const uint8_t *data;
            bson_t migration;
            if (!BSON_ITER_HOLDS_DOCUMENT(&migrations)) {
               continue;
            }
            bson_iter_document(&migrations, &len, &data);
            bson_init_static(&migration, data, len);
            failed = failed || duet_cli_get_utf8(&migration, "error", NULL) != NULL;
            if (!args.json) {
               status_print_one(&migration);
            }
            count++;
         }
      }
      if (!args.json && count == 0) {
         printf("no migration is running on this duetd\n");
      }
      status = failed ? 1 : 0;
   }
   bson_destroy(&command);
   bson_destroy(&reply);
   duet_cli_client_close(client);
   return status;
}
