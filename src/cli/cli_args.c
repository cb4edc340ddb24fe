/*
 * cli_args.c — command-line pieces shared by the duet subcommands that read
 * schema files: option values (`--name value` or `--name=value`) and the rename
 * hints `--rename Coll.old=Coll.new` and `--rename-collection Old=New`.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

const char *duet_cli_option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
   size_t len = strlen(name);
   if (strncmp(argv[*i], name, len) != 0) {
      return NULL;
   }
   if (argv[*i][len] == '=') {
      return argv[*i] + len + 1;
   }
   if (argv[*i][len] != '\0') {
      return NULL;
   }
   if (*i + 1 >= argc) {
      *missing = true;
      return NULL;
   }
   (*i)++;
   return argv[*i];
}

void duet_cli_renames_init(duet_cli_renames_t *renames, int argc)
{
   /* at most one hint per argument */
   renames->property = bson_malloc0((size_t)argc * sizeof *renames->property);
   renames->collection = bson_malloc0((size_t)argc * sizeof *renames->collection);
   renames->property_count = 0;
   renames->collection_count = 0;
}

int duet_cli_renames_option(duet_cli_renames_t *renames, const char *command, int argc, char **argv, int *i)
{
   bool missing = false;
   bool is_collection = true;
   const char *value = duet_cli_option_value(argc, argv, i, "--rename-collection", &missing);
   if (!value && !missing) {
      is_collection = false;
      value = duet_cli_option_value(argc, argv, i, "--rename", &missing);
   }
   if (missing) {
      fprintf(stderr, "duet %s: %s needs a value; see `duet %s --help`\n", command, argv[*i], command);
      return -1;
   }
   if (!value) {
      return 0;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_schema_rename_t *slot = is_collection ? &renames->collection[renames->collection_count]
                                              : &renames->property[renames->property_count];
   if (!duet_schema_rename_parse(value, is_collection, slot, &error)) {
      fprintf(stderr, "duet %s: %s\n", command, error.message);
      duet_error_clear(&error);
      return -1;
   }
   if (is_collection) {
      renames->collection_count++;
   } else {
      renames->property_count++;
   }
   return 1;
}

duet_schema_diff_options_t duet_cli_renames_diff_options(const duet_cli_renames_t *renames)
{
   duet_schema_diff_options_t options = {renames->property, renames->property_count, renames->collection,
                                         renames->collection_count};
   return options;
}

void duet_cli_renames_clear(duet_cli_renames_t *renames)
{
   for (size_t i = 0; i < renames->property_count; i++) {
      duet_schema_rename_clear(&renames->property[i]);
   }
   for (size_t i = 0; i < renames->collection_count; i++) {
      duet_schema_rename_clear(&renames->collection[i]);
   }
   bson_free(renames->property);
   bson_free(renames->collection);
   renames->property = renames->collection = NULL;
   renames->property_count = renames->collection_count = 0;
}
