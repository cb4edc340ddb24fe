/*
 * cli_client.h — what `duet check | apply | status | verify | retire` share: their common
 * options (--uri, --json, ...), a libmongoc connection to duetd running its admin commands
 * (duetCheck, duetApply, duetStatus, duetVerify, duetRetire; docs/partner.md), reading a spec
 * file into a command, and printing documents.
 */
#ifndef DUET_CLI_CLIENT_H
#define DUET_CLI_CLIENT_H

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stdio.h>

#define DUET_CLI_DEFAULT_URI "mongodb://127.0.0.1:27017"

/* Options a command accepts (duet_cli_args_parse's `accepted`). */
enum {
   DUET_CLI_OPT_SPEC_REQUIRED = 1 << 0, /* one positional SPEC argument, required */
   DUET_CLI_OPT_SPEC_OPTIONAL = 1 << 1, /* at most one positional SPEC argument */
   DUET_CLI_OPT_EXAMPLES = 1 << 2,      /* --examples N */
   DUET_CLI_OPT_DETACH = 1 << 3,        /* --detach */
   DUET_CLI_OPT_KEEP = 1 << 4,          /* --keep old|new (required), --drop */
};

typedef struct duet_cli_args {
   const char *uri;       /* --uri, borrowed from argv (default DUET_CLI_DEFAULT_URI) */
   bool json;             /* --json */
   const char *spec_path; /* the SPEC argument, borrowed from argv; NULL when absent */
   int examples;          /* --examples N (default 5) */
   bool detach;           /* --detach */
   const char *keep;      /* --keep old|new, borrowed */
   bool drop;             /* --drop */
} duet_cli_args_t;

/* Parses argv (argv[0] is the subcommand's name).  Returns -1 to go on, or the exit status
 * to return at once (0 after --help, which prints `usage`; 2 for bad usage). */
int duet_cli_args_parse(int argc, char **argv, unsigned accepted, const char *usage, duet_cli_args_t *args);

typedef struct duet_cli_client duet_cli_client_t;

/* Connects to the duetd at `uri` (checked with a ping).  *out is owned by the caller
 * (duet_cli_client_close).  Errors name the URI. */
bool duet_cli_client_open(const char *uri, duet_cli_client_t **out, duet_error_t *error);
void duet_cli_client_close(duet_cli_client_t *client);

/* Runs `command` (borrowed) against the admin database.  `reply` is always initialized
 * and destroyed by the caller.  A command error keeps duetd's code and message. */
bool duet_cli_client_run(duet_cli_client_t *client, const bson_t *command, bson_t *reply, duet_error_t *error);

/* Reads and checks the spec file at `path` and builds {<command_name>: 1, spec: {...}};
 * `out` is initialized by the callee (also on failure) and destroyed by the caller. */
bool duet_cli_spec_command(const char *command_name, const char *path, bson_t *out, duet_error_t *error);

/* Prints `doc` as relaxed Extended JSON and a newline, without a command reply's envelope
 * (ok, operationTime, $clusterTime). */
void duet_cli_print_json(FILE *out, const bson_t *doc);

/* "duet <command>: <message> (code N)" on stderr; returns 2 (the error exit status). */
int duet_cli_fail(const char *command, const duet_error_t *error);

/* Field readers tolerant of the numeric type; `fallback` when the field is absent. */
int64_t duet_cli_get_int64(const bson_t *doc, const char *key, int64_t fallback);
double duet_cli_get_double(const bson_t *doc, const char *key, double fallback);
const char *duet_cli_get_utf8(const bson_t *doc, const char *key, const char *fallback);
bool duet_cli_get_bool(const bson_t *doc, const char *key, bool fallback);

/* Prints the examples of a report ({"<kind>": [{...}, ...], ...}), one JSON line each,
 * indented, under a heading per kind that has any. */
void duet_cli_print_examples(FILE *out, const bson_t *report);

#endif /* DUET_CLI_CLIENT_H */
