/*
 * cli_verify.c — `duet verify SPEC [--uri URI] [--examples N] [--json]`: compares both
 * collections of a migration through the forward transform (duetVerify on duetd) and reports
 * missing, extra and differing documents with examples.
 * Exit status: 0 no difference, 1 differences found, 2 error.
 */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdio.h>

static const char verify_usage[] =
    "usage: duet verify SPEC [--uri URI] [--examples N] [--json]\n"
    "\n"
    "Compares, in one snapshot on duetd, forward(d) for every source document with the partner\n"
    "document under its _id: missing, extra and differing documents, and source documents whose\n"
    "transform fails (in-place specs: documents that are not yet their own transform or fail the\n"
    "new schema).\n"
    "\n"
    "  --uri URI      duetd to ask (default " DUET_CLI_DEFAULT_URI ")\n"
    "  --examples N   examples per kind of difference (default 5)\n"
    "  --json         print duetd's report as JSON\n"
    "\n"
    "exit status: 0 no difference, 1 differences found, 2 error\n";

int duet_cli_verify(int argc, char **argv)
{
   duet_cli_args_t args;
   int status =
       duet_cli_args_parse(argc, argv, DUET_CLI_OPT_SPEC_REQUIRED | DUET_CLI_OPT_EXAMPLES, verify_usage, &args);
   if (status >= 0) {
      return status;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_cli_client_t *client = NULL;
   bson_t command, reply;
   if (!duet_cli_spec_command("duetVerify", args.spec_path, &command, &error)) {
      bson_destroy(&command);
      return duet_cli_fail("verify", &error);
   }
   BSON_APPEND_INT32(&command, "maxExamples", args.examples);
   bool ok = duet_cli_client_open(args.uri, &client, &error);
   if (ok) {
      ok = duet_cli_client_run(client, &command, &reply, &error);
   } else {
      bson_init(&reply);
   }
   if (!ok) {
      status = duet_cli_fail("verify", &error);
   } else {
      int64_t differences = duet_cli_get_int64(&reply, "differences", 0);
      if (args.json) {
         duet_cli_print_json(stdout, &reply);
      } else {
         printf("verified %s: %lld source and %lld partner documents, %lld difference%s\n", args.spec_path,
                (long long)duet_cli_get_int64(&reply, "source_count", 0),
                (long long)duet_cli_get_int64(&reply, "partner_count", 0), (long long)differences,
                differences == 1 ? "" : "s");
         printf("  missing %lld, extra %lld, differing %lld, failed %lld\n",
                (long long)duet_cli_get_int64(&reply, "missing", 0), (long long)duet_cli_get_int64(&reply, "extra", 0),
                (long long)duet_cli_get_int64(&reply, "differing", 0),
                (long long)duet_cli_get_int64(&reply, "failed", 0));
         duet_cli_print_examples(stdout, &reply);
      }
      status = differences > 0 ? 1 : 0;
   }
   bson_destroy(&command);
   bson_destroy(&reply);
   duet_cli_client_close(client);
   return status;
}
