/*
 * cli.h — the subcommands of `duet`.  Each takes argc/argv starting at its own
 * name and returns the process exit status: 0 success, 1 problems found
 * (e.g. a breaking change), 2 bad input or error.
 */
#ifndef DUET_CLI_H
#define DUET_CLI_H

#include <duet/schema.h>

#include <stdbool.h>

#define DUET_VERSION_STRING "0.1.0"

typedef struct {
   const char *name;
   int (*run)(int argc, char **argv);
   const char *summary;
} duet_cli_command_t;

int duet_cli_diff(int argc, char **argv);
int duet_cli_plan(int argc, char **argv);
int duet_cli_check(int argc, char **argv);
int duet_cli_apply(int argc, char **argv);
int duet_cli_status(int argc, char **argv);
int duet_cli_verify(int argc, char **argv);
int duet_cli_retire(int argc, char **argv);

/* ---- shared argument handling (cli_args.c) ---------------------------------------- */

/* The value of option `name` at argv[*i] ("--name value", advancing *i, or "--name=value");
 * NULL when argv[*i] is another option, or with *missing set when the value is absent. */
const char *duet_cli_option_value(int argc, char **argv, int *i, const char *name, bool *missing);

/* Rename hints from --rename Coll.old=Coll.new and --rename-collection Old=New.
 * Owns its arrays: release with duet_cli_renames_clear. */
typedef struct {
   duet_schema_rename_t *property;
   size_t property_count;
   duet_schema_rename_t *collection;
   size_t collection_count;
} duet_cli_renames_t;

void duet_cli_renames_init(duet_cli_renames_t *renames, int argc);
/* Consumes argv[*i] when it is a rename option: 1 taken, 0 not a rename option, -1 bad
 * (the message, prefixed "duet <command>: ", is already printed). */
int duet_cli_renames_option(duet_cli_renames_t *renames, const char *command, int argc, char **argv, int *i);
/* Diff options borrowing the hints (valid while `renames` lives). */
duet_schema_diff_options_t duet_cli_renames_diff_options(const duet_cli_renames_t *renames);
void duet_cli_renames_clear(duet_cli_renames_t *renames);

#endif /* DUET_CLI_H */
