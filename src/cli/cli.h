/*
 * cli.h — the subcommands of `duet`.  Each takes argc/argv starting at its own
 * name and returns the process exit status: 0 success, 1 problems found
 * (e.g. a breaking change), 2 bad input or error.
 */
#ifndef DUET_CLI_H
#define DUET_CLI_H

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

#endif /* DUET_CLI_H */
