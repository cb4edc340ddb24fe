/*
 * server_main.c — duetd's main(): command-line options, the log, signals,
 * and the server's start and stop (one log line each).
 *
 *   duetd --dbpath DIR [--bind 127.0.0.1] [--port 27017] [--replSet rs0]
 *         [--log FILE] [--log-level info] [--slowms 100] [--help] [--version]
 */
#include "server/cmd_partner.h"
#include "server/server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static duet_server_t *main_server; /* for the signal handler */

static void main_on_signal(int signal_number)
{
   (void)signal_number;
   if (main_server) {
      duet_server_request_stop(main_server);
   }
}

static void main_usage(FILE *out)
{
   fprintf(out,
           "Usage: duetd --dbpath DIR [options]\n"
           "\n"
           "duetd serves the MongoDB wire protocol over a duet data directory.\n"
           "\n"
           "Options:\n"
           "  --dbpath DIR        data directory (created if missing; required)\n"
           "  --bind ADDR[,ADDR]  addresses to listen on (default %s; loopback only)\n"
           "  --port N            TCP port (default %d; 0 picks a free port, logged at start)\n"
           "  --replSet NAME      replica-set name presented by hello (default %s)\n"
           "  --log FILE          append the log to FILE instead of stderr\n"
           "  --log-level LEVEL   error, warning, info (default) or debug\n"
           "  --slowms N          log operations slower than N ms (default %d)\n"
           "  --help              print this help and exit\n"
           "  --version           print the version and exit\n"
           "\n"
           "SIGINT and SIGTERM stop the server cleanly: requests in progress finish first.\n"
           "See man duetd(1) and docs/server.md.\n",
           DUET_SERVER_DEFAULT_BIND, DUET_SERVER_DEFAULT_PORT, DUET_SERVER_DEFAULT_REPL_SET,
           DUET_SERVER_DEFAULT_SLOW_MS);
}

static bool main_parse_int(const char *text, long min, long max, long *out)
{
   char *end = NULL;
   long value = strtol(text, &end, 10);
   if (!*text || *end || value < min || value > max) {
      return false;
   }
   *out = value;
   return true;
}

/* 0: run, 1: exit 0 (help/version), 2: usage error. */
static int main_parse(int argc, char **argv, duet_server_options_t *options)
{
   enum { OPT_HELP = 1000, OPT_VERSION, OPT_LOG_LEVEL, OPT_SLOWMS };
   static const struct option long_options[] = {
      {"dbpath", required_argument, NULL, 'd'},    {"bind", required_argument, NULL, 'b'},
      {"bind_ip", required_argument, NULL, 'b'},   {"port", required_argument, NULL, 'p'},
      {"replSet", required_argument, NULL, 'r'},   {"log", required_argument, NULL, 'l'},
      {"logpath", required_argument, NULL, 'l'},   {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"slowms", required_argument, NULL, OPT_SLOWMS}, {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION}, {NULL, 0, NULL, 0},
   };
   int option;
   long value;
   opterr = 0;
   while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
      switch (option) {
      case 'd':
         bson_free(options->dbpath);
         options->dbpath = bson_strdup(optarg);
         break;
      case 'b':
         bson_free(options->bind);
         options->bind = bson_strdup(optarg);
         break;
      case 'p':
         if (!main_parse_int(optarg, 0, 65535, &value)) {
            fprintf(stderr, "duetd: --port must be a number from 0 to 65535, not '%s'\n", optarg);
            return 2;
         }
         options->port = (int)value;
         break;
      case 'r':
         if (!*optarg) {
            fprintf(stderr, "duetd: --replSet needs a non-empty name\n");
            return 2;
         }
         bson_free(options->repl_set);
         options->repl_set = bson_strdup(optarg);
         break;
      case 'l':
         bson_free(options->log_path);
         options->log_path = bson_strdup(optarg);
         break;
      case OPT_LOG_LEVEL:
         if (!duet_log_parse_level(optarg, &options->log_level)) {
            fprintf(stderr, "duetd: --log-level must be error, warning, info or debug, not '%s'\n", optarg);
            return 2;
         }
         break;
      case OPT_SLOWMS:
         if (!main_parse_int(optarg, 0, 86400000, &value)) {
            fprintf(stderr, "duetd: --slowms must be a non-negative number of milliseconds, not '%s'\n", optarg);
            return 2;
         }
         options->slow_ms = value;
         break;
      case 'h':
      case OPT_HELP:
         main_usage(stdout);
         return 1;
      case OPT_VERSION:
         printf("duetd %s (MongoDB wire protocol %s, maxWireVersion %d)\n", DUET_SERVER_VERSION,
                DUET_SERVER_MONGODB_VERSION, DUET_SERVER_MAX_WIRE_VERSION);
         return 1;
      default:
         fprintf(stderr, "duetd: unknown or incomplete option '%s'\n", argv[optind - 1]);
         main_usage(stderr);
         return 2;
      }
   }
   if (optind < argc) {
      fprintf(stderr, "duetd: unexpected argument '%s'\n", argv[optind]);
      return 2;
   }
   if (!options->dbpath || !*options->dbpath) {
      fprintf(stderr, "duetd: --dbpath DIR is required\n");
      main_usage(stderr);
      return 2;
   }
   return 0;
}

static bool main_is_loopback(const char *bind)
{
   char *copy = bson_strdup(bind);
   char *save = NULL;
   bool loopback = true;
   for (char *host = strtok_r(copy, ",", &save); host; host = strtok_r(NULL, ",", &save)) {
      while (*host == ' ') {
         host++;
      }
      if (strncmp(host, "127.", 4) != 0 && strcmp(host, "::1") != 0 && strcmp(host, "localhost") != 0) {
         loopback = false;
      }
   }
   bson_free(copy);
   return loopback;
}

int main(int argc, char **argv)
{
   duet_server_options_t options;
   duet_server_options_init(&options);
   int parsed = main_parse(argc, argv, &options);
   if (parsed != 0) {
      duet_server_options_destroy(&options);
      return parsed == 1 ? 0 : 2;
   }

   duet_log_t log;
   char message[512];
   if (!duet_log_open(&log, options.log_path, options.log_level, message, sizeof message)) {
      fprintf(stderr, "duetd: %s\n", message);
      duet_server_options_destroy(&options);
      return 1;
   }

   duet_server_t server;
   duet_server_init(&server, &options, &log);
   duet_error_t error = DUET_ERROR_INIT;
   int status = 0;
   if (!duet_server_listen(&server, &error) || !duet_partner_server_start(&server, &error)) {
      bson_t attr = BSON_INITIALIZER;
      BSON_APPEND_UTF8(&attr, "error", error.message);
      duet_log_event(&log, DUET_LOG_ERROR, "CONTROL", 20568, "main", "duetd failed to start", &attr, 0);
      bson_destroy(&attr);
      if (options.log_path) {
         fprintf(stderr, "duetd: %s\n", error.message);
      }
      duet_error_clear(&error);
      status = 1;
   } else {
      if (!main_is_loopback(options.bind)) {
         duet_log_event(&log, DUET_LOG_WARNING, "CONTROL", 22120, "main",
                        "duetd listens on a non-loopback address and has no access control", NULL, DUET_LOG_STARTUP_WARNING);
      }
      main_server = &server;
      struct sigaction action;
      memset(&action, 0, sizeof action);
      action.sa_handler = main_on_signal;
      sigemptyset(&action.sa_mask);
      sigaction(SIGINT, &action, NULL);
      sigaction(SIGTERM, &action, NULL);
      signal(SIGPIPE, SIG_IGN);

      bson_t attr = BSON_INITIALIZER;
      BSON_APPEND_UTF8(&attr, "version", DUET_SERVER_VERSION);
      BSON_APPEND_INT64(&attr, "pid", (int64_t)getpid());
      BSON_APPEND_UTF8(&attr, "dbpath", options.dbpath);
      BSON_APPEND_UTF8(&attr, "bind", options.bind);
      BSON_APPEND_INT32(&attr, "port", server.bound_port);
      BSON_APPEND_UTF8(&attr, "replSet", options.repl_set);
      duet_log_event(&log, DUET_LOG_INFO, "CONTROL", 23016, "main", "Waiting for connections", &attr, DUET_LOG_ALWAYS);
      bson_destroy(&attr);

      duet_server_run(&server);
      main_server = NULL;
      duet_partner_server_stop(&server); /* backfills stop at a chunk boundary */

      bson_init(&attr);
      BSON_APPEND_INT64(&attr, "connectionsServed", server.connections_total);
      duet_log_event(&log, DUET_LOG_INFO, "CONTROL", 20565, "main", "Now exiting: shutdown complete", &attr, DUET_LOG_ALWAYS);
      bson_destroy(&attr);
   }
   duet_server_destroy(&server);
   duet_log_close(&log);
   duet_server_options_destroy(&options);
   return status;
}
