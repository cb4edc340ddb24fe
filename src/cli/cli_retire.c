/*
 * cli_retire.c — `duet retire SPEC --keep old|new [--drop] [--uri URI] [--json]`: ends a
 * migration on duetd (duetRetire): the mirrors stop, the persisted link and progress go and,
 * with --drop, the retired collection (the source when keeping the new side) is dropped.
 * Exit status: 0 success, 2 error.
 */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdio.h>

static const char retire_usage[] =
    "usage: duet retire SPEC --keep old|new [--drop] [--uri URI] [--json]\n"
    "\n"
    "Ends the migration of SPEC: writes are no longer mirrored.  --keep new keeps the partner\n"
    "(version-2 clients), --keep old keeps the source; --drop drops the other collection.\n"
    "\n"
    "  --keep old|new   which side stays (required)\n"
    "  --drop           drop the retired collection\n"
    "  --uri URI        duetd to use (default " DUET_CLI_DEFAULT_URI ")\n"
    "  --json           print duetd's reply as JSON\n"
    "\n"
    "exit status: 0 success, 2 error\n";

int duet_cli_retire(int argc, char **argv)
{
   duet_cli_args_t args;
   int status = duet_cli_args_parse(argc, argv, DUET_CLI_OPT_SPEC_REQUIRED | DUET_CLI_OPT_KEEP, retire_usage, &args);
   if (status >= 0) {
      return status;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_cli_client_t *client = NULL;
   bson_t command, reply;
   if (!duet_cli_spec_command("duetRetire", args.spec_path, &command, &error)) {
      bson_destroy(&command);
      return duet_cli_fail("retire", &error);
   }
   BSON_APPEND_UTF8(&command, "keep", args.keep);
   BSON_APPEND_BOOL(&command, "drop", args.drop);
   bool ok = duet_cli_client_open(args.uri, &client, &error);
   if (ok) {
      ok = duet_cli_client_run(client, &command, &reply, &error);
   } else {
      bson_init(&reply);
   }
   if (!ok) {
      status = duet_cli_fail("retire", &error);
   } else {
      if (args.json) {
         duet_cli_print_json(stdout, &reply);
      } else {
         const char *retired = duet_cli_get_utf8(&reply, "retired", NULL);
         printf("retired %s: mirrors stopped, %s kept", duet_cli_get_utf8(&reply, "name", "?"),
                duet_cli_get_utf8(&reply, "kept", "?"));
         if (retired) {
            printf(", %s %s", retired, duet_cli_get_bool(&reply, "dropped", false) ? "dropped" : "left as it is");
         }
         printf("\n");
      }
      status = 0;
   }
   bson_destroy(&command);
   bson_destroy(&reply);
   duet_cli_client_close(client);
   return status;
}
