/*
 * cli_plan.c — `duet plan OLD NEW [--db NAME] [--collection NAME] [--partner NAME] [--rename ...]
 * [--rename-collection ...] [--strategy partner|in-place] [-o SPEC] [--json]`: writes the migration
 * spec for the changes between two schema files (docs/partner.md).
 * Exit status like `duet diff`: 0 no breaking change, 1 a breaking change, 2 bad input.
 */
#include "cli/cli.h"

#include <duet/partner.h>

#include <stdio.h>
#include <string.h>

static void plan_usage(FILE *out)
{
   fprintf(out, "usage: duet plan OLD NEW [-o SPEC] [--db NAME] [--collection NAME] [--partner NAME]\n"
                "                 [--rename Coll.old=Coll.new]... [--rename-collection Old=New]...\n"
                "                 [--strategy partner|in-place] [--json]\n"
                "\n"
                "Decides, for each change between two App Services schema files, what the App Services docs\n"
                "prescribe, and writes a migration spec: a partner collection with forward and reverse\n"
                "transforms for breaking changes, an in-place plan otherwise (see docs/partner.md).\n"
                "\n"
                "  -o SPEC                      write the spec to SPEC (default: standard output)\n"
                "  --db NAME                    the database holding the collection (default: test)\n"
                "  --collection NAME            the collection to plan for (default: the one that changed)\n"
                "  --partner NAME               the partner collection (default: <collection>V2)\n"
                "  --rename Coll.old=Coll.new   treat property 'old' of Coll as renamed to 'new'\n"
                "  --rename-collection Old=New  treat object type/collection Old as renamed to New\n"
                "  --strategy partner|in-place  force a strategy; in-place rewrites every existing document\n"
                "  --json                       print the steps as JSON\n"
                "\n"
                "exit status: 0 no breaking change, 1 breaking change (spec written), 2 bad input\n");
}

static void print_steps(const duet_partner_spec_t *spec, FILE *out)
{
   bson_iter_t iter, field;
   if (spec->strategy == DUET_PARTNER_STRATEGY_PARTNER) {
      fprintf(out, "strategy: partner collection %s.%s for %s.%s\n", spec->database, spec->partner, spec->database,
              spec->source);
   } else {
      fprintf(out, "strategy: in place on %s.%s\n", spec->database, spec->source);
   }
   bson_iter_init(&iter, spec->changes);
   while (bson_iter_next(&iter)) {
      bson_t step;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&step, data, len);
      const char *values[6] = {"", "", "", "", "", ""};
      const char *names[6] = {"kind", "property", "from", "to", "verdict", "action"};
      for (int i = 0; i < 6; i++) {
         if (bson_iter_init_find(&field, &step, names[i]) && BSON_ITER_HOLDS_UTF8(&field)) {
            values[i] = bson_iter_utf8(&field, NULL);
         }
      }
      fprintf(out, "  %-24s %-16s %s%s%s  (%s)\n    -> %s", values[0], values[1], values[2], *values[3] ? " -> " : "",
              values[3], values[4], values[5]);
      if (bson_iter_init_find(&field, &step, "update_value")) {
         bson_t wrapper;
         bson_init(&wrapper);
         bson_append_iter(&wrapper, "v", 1, &field);
         char *json = bson_as_relaxed_extended_json(&wrapper, NULL);
         char *value = strchr(json, ':') + 2;
         value[strlen(value) - 2] = '\0';
         fprintf(out, " (value %s)", value);
         bson_free(json);
         bson_destroy(&wrapper);
      }
      fputc('\n', out);
   }
}

int duet_cli_plan(int argc, char **argv)
{
   const char *paths[2] = {NULL, NULL};
   int path_count = 0;
   const char *output = NULL;
   bool json = false;
   int status = 2;
   duet_partner_plan_options_t options = {0};
   duet_cli_renames_t renames;
   duet_cli_renames_init(&renames, argc);
   duet_partner_spec_t *spec = NULL;
   duet_error_t error = DUET_ERROR_INIT;

   for (int i = 1; i < argc; i++) {
      bool missing = false;
      const char *value;
      int taken;
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
         plan_usage(stdout);
         status = 0;
         goto done;
      } else if (strcmp(argv[i], "--json") == 0) {
         json = true;
      } else if ((value = duet_cli_option_value(argc, argv, &i, "-o", &missing)) != NULL ||
                 (!missing && (value = duet_cli_option_value(argc, argv, &i, "--output", &missing)) != NULL)) {
         output = value;
      } else if (!missing && (value = duet_cli_option_value(argc, argv, &i, "--db", &missing)) != NULL) {
         options.database = value;
      } else if (!missing && (value = duet_cli_option_value(argc, argv, &i, "--collection", &missing)) != NULL) {
         options.collection = value;
      } else if (!missing && (value = duet_cli_option_value(argc, argv, &i, "--partner", &missing)) != NULL) {
         options.partner = value;
      } else if (!missing && (value = duet_cli_option_value(argc, argv, &i, "--strategy", &missing)) != NULL) {
         options.strategy_given = true;
         if (strcmp(value, "partner") == 0) {
            options.strategy = DUET_PARTNER_STRATEGY_PARTNER;
         } else if (strcmp(value, "in-place") == 0) {
            options.strategy = DUET_PARTNER_STRATEGY_IN_PLACE;
         } else {
            fprintf(stderr, "duet plan: --strategy must be 'partner' or 'in-place', not '%s'\n", value);
            goto done;
         }
      } else if (!missing && (taken = duet_cli_renames_option(&renames, "plan", argc, argv, &i)) != 0) {
         if (taken < 0) {
            goto done;
         }
      } else if (missing) {
         fprintf(stderr, "duet plan: %s needs a value; see `duet plan --help`\n", argv[i]);
         goto done;
      } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
         fprintf(stderr, "duet plan: unknown option '%s'; see `duet plan --help`\n", argv[i]);
         goto done;
      } else if (path_count < 2) {
         paths[path_count++] = argv[i];
      } else {
         fprintf(stderr, "duet plan: unexpected argument '%s': give exactly two schema files, OLD and NEW\n", argv[i]);
         goto done;
      }
   }
   if (path_count != 2) {
      fprintf(stderr, "duet plan: give two schema files, OLD and NEW\n");
      plan_usage(stderr);
      goto done;
   }
   duet_schema_diff_options_t diff_options = duet_cli_renames_diff_options(&renames);
   options.diff_options = &diff_options;
   bool breaking = false;
   if (!duet_partner_plan_files(paths[0], paths[1], &options, &spec, &breaking, &error)) {
      fprintf(stderr, "duet plan: %s\n", error.message);
      goto done;
   }
   if (output) {
      if (!duet_partner_spec_save(spec, output, &error)) {
         fprintf(stderr, "duet plan: %s\n", error.message);
         goto done;
      }
   }
   if (json) {
      bson_t report;
      bson_init(&report);
      BSON_APPEND_BOOL(&report, "breaking", breaking);
      BSON_APPEND_UTF8(&report, "strategy", spec->strategy == DUET_PARTNER_STRATEGY_PARTNER ? "partner" : "in-place");
      if (spec->partner) {
         BSON_APPEND_UTF8(&report, "partner", spec->partner);
      }
      BSON_APPEND_ARRAY(&report, "changes", spec->changes);
      if (output) {
         BSON_APPEND_UTF8(&report, "spec", output);
      } else {
         bson_t spec_doc;
         duet_partner_spec_to_bson(spec, &spec_doc);
         BSON_APPEND_DOCUMENT(&report, "spec", &spec_doc);
         bson_destroy(&spec_doc);
      }
      char *text = bson_as_relaxed_extended_json(&report, NULL);
      printf("%s\n", text);
      bson_free(text);
      bson_destroy(&report);
   } else if (output) {
      print_steps(spec, stdout);
      printf("wrote %s\n", output);
   } else {
      char *text = duet_partner_spec_to_json(spec);
      fputs(text, stdout);
      bson_free(text);
      print_steps(spec, stderr);
   }
   status = breaking ? 1 : 0;

done:
   duet_partner_spec_destroy(spec);
   duet_cli_renames_clear(&renames);
   duet_error_clear(&error);
   return status;
}
