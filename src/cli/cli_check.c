/*
 * cli_check.c — `duet check SPEC [--uri URI] [--examples N] [--json]`: the dry run of a
 * migration spec over the real data, run by duetd (duetCheck), no writes.  Counts, with
 * examples, the documents whose forward transform fails, that fail the partner's schema, whose
 * reverse fails, that do not round-trip, and partner _id collisions.
 * Exit status: 0 no problem, 1 problems found, 2 error.
 */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdio.h>

static const char check_usage[] =
    "usage: duet check SPEC [--uri URI] [--examples N] [--json]\n"
    "\n"
    "Dry run of the migration spec over the source collection on duetd: no writes.  Counts the\n"
    "documents whose forward transform fails, that fail the partner's schema, whose reverse\n"
    "transform fails, that do not round-trip (reverse(forward(d)) != d), and pairs that collide on\n"
    "the partner's _id, with up to N examples each (in-place specs: documents that would not\n"
    "satisfy the new schema).\n"
    "\n"
    "  --uri URI      duetd to ask (default " DUET_CLI_DEFAULT_URI ")\n"
    "  --examples N   examples per kind of problem (default 5)\n"
    "  --json         print duetd's report as JSON\n"
    "\n"
    "exit status: 0 no problem, 1 problems found, 2 error\n";

int duet_cli_check(int argc, char **argv)
{
   duet_cli_args_t args;
   int status = duet_cli_args_parse(argc, argv, DUET_CLI_OPT_SPEC_REQUIRED | DUET_CLI_OPT_EXAMPLES, check_usage, &args);
   if (status >= 0) {
      return status;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_cli_client_t *client = NULL;
   bson_t command, reply;
   if (!duet_cli_spec_command("duetCheck", args.spec_path, &command, &error)) {
      bson_destroy(&command);
      return duet_cli_fail("check", &error);
   }
   BSON_APPEND_INT32(&command, "maxExamples", args.examples);
   bool ok = duet_cli_client_open(args.uri, &client, &error);
   if (ok) {
      ok = duet_cli_client_run(client, &command, &reply, &error);
   } else {
      bson_init(&reply);
   }
   if (!ok) {
      status = duet_cli_fail("check", &error);
   } else {
      int64_t problems = duet_cli_get_int64(&reply, "problems", 0);
      if (args.json) {
         duet_cli_print_json(stdout, &reply);
      } else {
         static const char *const kinds[] = {"forward_failed", "schema_failed", "reverse_failed", "not_round_trip",
                                             "id_collision"};
         printf("checked %lld documents of %s: %lld problem%s\n", (long long)duet_cli_get_int64(&reply, "scanned", 0),
                args.spec_path, (long long)problems, problems == 1 ? "" : "s");
         for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            char key[64];
            snprintf(key, sizeof key, "counts.%s", kinds[i]);
            printf("  %-16s %lld\n", kinds[i], (long long)duet_cli_get_int64(&reply, key, 0));
         }
         duet_cli_print_examples(stdout, &reply);
      }
      status = problems > 0 ? 1 : 0;
   }
   bson_destroy(&command);
   bson_destroy(&reply);
   duet_cli_client_close(client);
   return status;
}
