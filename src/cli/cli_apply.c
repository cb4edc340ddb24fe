/*
 * cli_apply.c — `duet apply SPEC [--uri URI] [--detach] [--json]`: starts a migration on
 * duetd (duetApply: partner collection with its validator, mirrors both ways, backfill in a
 * duetd thread), then follows its progress (duetStatus) until the backfill has finished: a
 * progress bar with percentage, rate and ETA on a terminal, a plain line a second otherwise.
 * `--detach` returns once the migration has started.
 * Exit status: 0 started (--detach) or backfilled, 2 error (the backfill stopped on one).
 */
#include "cli/cli.h"
#include "cli/cli_client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char apply_usage[] =
    "usage: duet apply SPEC [--uri URI] [--detach] [--json]\n"
    "\n"
    "Starts the migration on duetd: creates the partner collection with the schema as its\n"
    "validator, mirrors every write both ways, and backfills the existing documents online in\n"
    "chunks inside duetd (resumed by duetd after a restart).  Shows the progress until the\n"
    "backfill has finished: a progress bar on a terminal, plain lines otherwise.  In-place specs\n"
    "rewrite every document, then make the schema the collection's validator.\n"
    "\n"
    "  --uri URI   duetd to use (default " DUET_CLI_DEFAULT_URI ")\n"
    "  --detach    return once the migration has started (see `duet status`)\n"
    "  --json      print the final status as JSON\n"
    "\n"
    "exit status: 0 success, 2 error\n";

static double apply_now(void)
{
   struct timespec now;
   clock_gettime(CLOCK_MONOTONIC, &now);
   return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void apply_format_eta(double seconds, char *out, size_t size)
{
   if (seconds < 0 || seconds > 99 * 3600) {
      snprintf(out, size, "--:--");
   } else if (seconds >= 3600) {
      snprintf(out, size, "%d:%02d:%02d", (int)seconds / 3600, ((int)seconds / 60) % 60, (int)seconds % 60);
   } else {
      snprintf(out, size, "%d:%02d", (int)seconds / 60, (int)seconds % 60);
   }
}

/* One progress report; `tty`: redraw a bar on one line. */
static void apply_show(const bson_t *status, bool tty, bool final)
{
   int64_t done = duet_cli_get_int64(status, "done", 0), total = duet_cli_get_int64(status, "total", 0);
   double rate = duet_cli_get_double(status, "rate", 0);
   if (total < done) {
      total = done; /* clients inserted since the count */
   }
   double fraction = total > 0 ? (double)done / (double)total : 1.0;
   if (final) {
      fraction = 1.0;
   }
   char eta[32];
   apply_format_eta(final ? 0 : rate > 0 ? (double)(total - done) / rate : -1, eta, sizeof eta);
   if (tty) {
      char bar[41];
      int filled = (int)(fraction * 40 + 0.5);
      for (int i = 0; i < 40; i++) {
         bar[i] = i < filled ? '#' : '.';
      }
      bar[40] = '\0';
      fprintf(stdout, "\r  [%s] %5.1f%%  %lld/%lld  %8.0f docs/s  ETA %s ", bar, fraction * 100, (long long)done,
              (long long)total, rate, eta);
      if (final) {
         fputc('\n', stdout);
      }
   } else {
      fprintf(stdout, "  backfill %lld/%lld (%.1f%%), %.0f docs/s, ETA %s\n", (long long)done, (long long)total,
              fraction * 100, rate, eta);
   }
   fflush(stdout);
}

/* Polls duetStatus for `name` until the backfill has finished or failed. */
static int apply_follow(duet_cli_client_t *client, const char *name, const duet_cli_args_t *args)
{
   bool tty = !args->json && isatty(fileno(stdout));
   double last_line = 0;
   duet_error_t error = DUET_ERROR_INIT;
   for (;;) {
      bson_t command = BSON_INITIALIZER, reply, status;
      BSON_APPEND_INT32(&command, "duetStatus", 1);
      BSON_APPEND_UTF8(&command, "name", name);
      bool ok = duet_cli_client_run(client, &command, &reply, &error);
      bson_destroy(&command);
      if (!ok) {
         bson_destroy(&reply);
         return duet_cli_fail("apply", &error);
      }
      bson_iter_t iter;
      uint32_t len;
      const uint8_t *data;
      if (!bson_iter_init(&iter, &reply) || !bson_iter_find_descendant(&iter, "migrations.0", &iter) ||
          !BSON_ITER_HOLDS_DOCUMENT(&iter)) {
         bson_destroy(&reply);
         duet_error_set(&error, DUET_ERR_NAMESPACE_NOT_FOUND, "migration %s is gone (retired meanwhile?)", name);
         return duet_cli_fail("apply", &error);
      }
      bson_iter_document(&iter, &len, &data);
      bson_init_static(&status, data, len);
      const char *state = duet_cli_get_utf8(&status, "state", "backfilling");
      bool finished = strcmp(state, "backfilling") != 0;
      bool running = duet_cli_get_bool(&status, "backfill_running", true);
      const char *failure = duet_cli_get_utf8(&status, "error", NULL);
      if (finished || (!running && failure)) {
         if (!args->json) {
            apply_show(&status, tty, finished);
            if (finished) {
               printf("backfill done: %lld documents copied; %s\n", (long long)duet_cli_get_int64(&status, "copied", 0),
                      duet_cli_get_utf8(&status, "partner", NULL)
                          ? "writes on either side are mirrored until `duet retire`"
                          : "the new schema is the collection's validator");
            }
         } else {
            duet_cli_print_json(stdout, &status);
         }
         int code = finished ? 0 : 2;
         if (!finished) {
            fprintf(stderr, "duet apply: the backfill of %s stopped: %s\n", name, failure);
         }
         bson_destroy(&reply);
         return code;
      }
      double now = apply_now();
      if (!args->json && (tty || now - last_line >= 1.0)) {
         apply_show(&status, tty, false);
         last_line = now;
      }
      bson_destroy(&reply);
      usleep(tty ? 200000 : 250000);
   }
}

int duet_cli_apply(int argc, char **argv)
{
   duet_cli_args_t args;
   int status = duet_cli_args_parse(argc, argv, DUET_CLI_OPT_SPEC_REQUIRED | DUET_CLI_OPT_DETACH, apply_usage, &args);
   if (status >= 0) {
      return status;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_cli_client_t *client = NULL;
   bson_t command, reply;
   if (!duet_cli_spec_command("duetApply", args.spec_path, &command, &error)) {
      bson_destroy(&command);
      return duet_cli_fail("apply", &error);
   }
   bool ok = duet_cli_client_open(args.uri, &client, &error);
   if (ok) {
      ok = duet_cli_client_run(client, &command, &reply, &error);
   } else {
      bson_init(&reply);
   }
   if (!ok) {
      status = duet_cli_fail("apply", &error);
   } else {
      const char *name = duet_cli_get_utf8(&reply, "name", "?");
      const char *partner = duet_cli_get_utf8(&reply, "partner", NULL);
      if (!args.json) {
         if (partner) {
            printf("created %s.%s with its schema as validator; mirroring %s.%s <-> %s.%s\n",
                   duet_cli_get_utf8(&reply, "database", "?"), partner, duet_cli_get_utf8(&reply, "database", "?"),
                   duet_cli_get_utf8(&reply, "source", "?"), duet_cli_get_utf8(&reply, "database", "?"), partner);
         } else {
            printf("rewriting %s.%s in place\n", duet_cli_get_utf8(&reply, "database", "?"),
                   duet_cli_get_utf8(&reply, "source", "?"));
         }
         printf("backfill of %lld documents started in duetd (migration %s)\n",
                (long long)duet_cli_get_int64(&reply, "total", 0), name);
         fflush(stdout);
      }
      if (args.detach) {
         if (args.json) {
            duet_cli_print_json(stdout, &reply);
         } else {
            printf("detached: follow it with `duet status %s`\n", args.spec_path);
         }
         status = 0;
      } else {
         status = apply_follow(client, name, &args);
      }
   }
   bson_destroy(&command);
   bson_destroy(&reply);
   duet_cli_client_close(client);
   return status;
}
