/*
 * cli_main.c — entry point of the `duet` command: dispatches to a subcommand.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const duet_cli_command_t duet_cli_commands[] = {
   {"diff", duet_cli_diff, "classify the changes between two schemas"},
   {"plan", duet_cli_plan, "write the migration spec for the changes between two schemas"},
   {"check", duet_cli_check, "dry run of a migration spec over the data on duetd"},
   {"apply", duet_cli_apply, "start a migration on duetd and follow its backfill"},
   {"status", duet_cli_status, "state and progress of the migrations on duetd"},
   {"verify", duet_cli_verify, "compare both sides of a migration on duetd"},
   {"retire", duet_cli_retire, "end a migration on duetd (--keep old|new [--drop])"},
};

static void usage(FILE *out)
{
   fprintf(out, "usage: duet <command> [options]\n\ncommands:\n");
   for (size_t i = 0; i < sizeof duet_cli_commands / sizeof duet_cli_commands[0]; i++) {
      fprintf(out, "  %-8s %s\n", duet_cli_commands[i].name, duet_cli_commands[i].summary);
   }
   fprintf(out, "\n`duet <command> --help` describes a command.\n");
}

int main(int argc, char **argv)
{
   if (argc < 2) {
      usage(stderr);
      return 2;
   }
   if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
      usage(stdout);
      return 0;
   }
   if (strcmp(argv[1], "--version") == 0) {
      printf("duet %s\n", DUET_VERSION_STRING);
      return 0;
   }
   for (size_t i = 0; i < sizeof duet_cli_commands / sizeof duet_cli_commands[0]; i++) {
      if (strcmp(argv[1], duet_cli_commands[i].name) == 0) {
         return duet_cli_commands[i].run(argc - 1, argv + 1);
      }
   }
   fprintf(stderr, "duet: unknown command '%s'\n\n", argv[1]);
   usage(stderr);
   return 2;
}
