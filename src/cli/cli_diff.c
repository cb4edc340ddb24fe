/*
 * cli_diff.c — `duet diff OLD NEW [--rename Coll.old=Coll.new]... [--rename-collection Old=New]... [--json]`:
 * classifies the changes between two App Services schema files (docs/diff.md).
 * Exit status: 0 no breaking change, 1 a breaking change, 2 bad input.
 */
#include "cli/cli.h"

#include <duet/schema.h>

#include <stdio.h>
#include <string.h>

static void diff_usage(FILE *out)
{
   fprintf(out, "usage: duet diff OLD NEW [--rename Coll.old=Coll.new]... [--rename-collection Old=New]... [--json]\n"
                "\n"
                "Compares two App Services schema files (one schema, an array of schemas, or an object keyed\n"
                "by collection name) and classifies each change as the App Services docs and Realm's\n"
                "additive-only check do: server-side and client-side verdicts, the handling, Realm's line.\n"
                "\n"
                "  --rename Coll.old=Coll.new   treat property 'old' of Coll as renamed to 'new'\n"
                "  --rename-collection Old=New  treat object type/collection Old as renamed to New\n"
                "  --json                       print {\"breaking\": bool, \"changes\": [...]}\n"
                "\n"
                "exit status: 0 no breaking change, 1 breaking change, 2 bad input\n");
}

static void print_warnings(const duet_schema_set_t *set)
{
   for (size_t i = 0; i < set->warning_count; i++) {
      fprintf(stderr, "duet diff: warning: %s\n", set->warnings[i]);
   }
}

int duet_cli_diff(int argc, char **argv)
{
   const char *paths[2] = {NULL, NULL};
   int path_count = 0;
   bool json = false;
   int status = 2;
   duet_cli_renames_t renames;
   duet_cli_renames_init(&renames, argc);
   duet_schema_set_t *old_set = NULL, *new_set = NULL;
   duet_schema_diff_t *diff = NULL;
   duet_error_t error = DUET_ERROR_INIT;

   for (int i = 1; i < argc; i++) {
      int taken;
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
         diff_usage(stdout);
         status = 0;
         goto done;
      } else if (strcmp(argv[i], "--json") == 0) {
         json = true;
      } else if ((taken = duet_cli_renames_option(&renames, "diff", argc, argv, &i)) != 0) {
         if (taken < 0) {
            goto done;
         }
      } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
         fprintf(stderr, "duet diff: unknown option '%s'; see `duet diff --help`\n", argv[i]);
         goto done;
      } else if (path_count < 2) {
         paths[path_count++] = argv[i];
      } else {
         fprintf(stderr, "duet diff: unexpected argument '%s': give exactly two schema files, OLD and NEW\n", argv[i]);
         goto done;
      }
   }
   if (path_count != 2) {
      fprintf(stderr, "duet diff: give two schema files, OLD and NEW\n");
      diff_usage(stderr);
      goto done;
   }
   if (!duet_schema_set_load(paths[0], &old_set, &error) || !duet_schema_set_load(paths[1], &new_set, &error)) {
      fprintf(stderr, "duet diff: %s\n", error.message);
      goto done;
   }
   print_warnings(old_set);
   print_warnings(new_set);
   duet_schema_diff_options_t options = duet_cli_renames_diff_options(&renames);
   if (!duet_schema_diff(old_set, new_set, &options, &diff, &error)) {
      fprintf(stderr, "duet diff: %s\n", error.message);
      goto done;
   }
   char *text = json ? duet_schema_diff_to_json(diff) : duet_schema_diff_render_table(diff, paths[0], paths[1]);
   fputs(text, stdout);
   if (json) {
      fputc('\n', stdout);
   }
   bson_free(text);
   status = diff->breaking ? 1 : 0;

done:
   duet_schema_diff_destroy(diff);
   duet_schema_set_destroy(old_set);
   duet_schema_set_destroy(new_set);
   duet_cli_renames_clear(&renames);
   duet_error_clear(&error);
   return status;
}
