/*
 * cli_client.c — the options, the libmongoc connection to duetd and the printing shared by
 * `duet check | apply | status | verify | retire` (cli_client.h).
 */
#include "cli/cli_client.h"

#include <duet/partner.h>

#include <mongoc/mongoc.h>

#include <stdlib.h>
#include <string.h>

struct duet_cli_client {
   mongoc_client_t *client; /* owned */
};

/* ---- options -------------------------------------------------------------------------------- */

/* Value of "--name value" or "--name=value"; advances *i.  NULL when argv[*i] is not it. */
static const char *client_option(int argc, char **argv, int *i, const char *name, bool *missing)
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

int duet_cli_args_parse(int argc, char **argv, unsigned accepted, const char *usage, duet_cli_args_t *args)
{
   const char *command = argv[0];
   memset(args, 0, sizeof *args);
   args->uri = DUET_CLI_DEFAULT_URI;
   args->examples = 5;
   for (int i = 1; i < argc; i++) {
      const char *arg = argv[i];
      const char *value;
      bool missing = false;
      if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
         fputs(usage, stdout);
         return 0;
      } else if (strcmp(arg, "--json") == 0) {
         args->json = true;
      } else if ((value = client_option(argc, argv, &i, "--uri", &missing))) {
         args->uri = value;
      } else if ((accepted & DUET_CLI_OPT_EXAMPLES) &&
                 (value = client_option(argc, argv, &i, "--examples", &missing))) {
         char *end = NULL;
         long n = strtol(value, &end, 10);
         if (!*value || *end || n < 0 || n > 1000) {
            fprintf(stderr, "duet %s: --examples must be a number from 0 to 1000, not '%s'\n", command, value);
            return 2;
         }
         args->examples = (int)n;
      } else if ((accepted & DUET_CLI_OPT_DETACH) && strcmp(arg, "--detach") == 0) {
         args->detach = true;
      } else if ((accepted & DUET_CLI_OPT_KEEP) && (value = client_option(argc, argv, &i, "--keep", &missing))) {
         if (strcmp(value, "old") != 0 && strcmp(value, "new") != 0) {
            fprintf(stderr, "duet %s: --keep must be old or new, not '%s'\n", command, value);
            return 2;
         }
         args->keep = value;
      } else if ((accepted & DUET_CLI_OPT_KEEP) && strcmp(arg, "--drop") == 0) {
         args->drop = true;
      } else if (missing) {
         fprintf(stderr, "duet %s: option %s needs a value\n\n%s", command, arg, usage);
         return 2;
      } else if (arg[0] == '-' && arg[1] != '\0') {
         fprintf(stderr, "duet %s: unknown option '%s'\n\n%s", command, arg, usage);
         return 2;
      } else if ((accepted & (DUET_CLI_OPT_SPEC_REQUIRED | DUET_CLI_OPT_SPEC_OPTIONAL)) && !args->spec_path) {
         args->spec_path = arg;
      } else {
         fprintf(stderr, "duet %s: unexpected argument '%s'\n\n%s", command, arg, usage);
         return 2;
      }
   }
   if ((accepted & DUET_CLI_OPT_SPEC_REQUIRED) && !args->spec_path) {
      fprintf(stderr, "duet %s: the migration SPEC file is missing\n\n%s", command, usage);
      return 2;
   }
   if ((accepted & DUET_CLI_OPT_KEEP) && !args->keep) {
      fprintf(stderr, "duet %s: --keep old|new is required (which side stays)\n\n%s", command, usage);
      return 2;
   }
   return -1;
}

/* ---- the connection ---------------------------------------------------------------------- */

static void client_error(duet_error_t *error, const bson_error_t *bson_error, const char *context)
{
   int32_t code = bson_error->domain == MONGOC_ERROR_SERVER || bson_error->domain == MONGOC_ERROR_WRITE_CONCERN
                      ? (int32_t)bson_error->code
                      : DUET_ERR_INTERNAL;
   if (code == 0) {
      code = DUET_ERR_INTERNAL;
   }
   duet_error_set(error, code, "%s%s", context ? context : "", bson_error->message);
}

bool duet_cli_client_open(const char *uri_text, duet_cli_client_t **out, duet_error_t *error)
{
   bson_error_t bson_error;
   *out = NULL;
   mongoc_init();
   mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_text, &bson_error);
   if (!uri) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "--uri %s: %s", uri_text, bson_error.message);
      return false;
   }
   /* fail fast when nothing listens; a check or verify of a large collection may take long */
   if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
      mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
   }
   if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS)) {
      mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 24 * 3600 * 1000);
   }
   mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &bson_error);
   mongoc_uri_destroy(uri);
   if (!client) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "--uri %s: %s", uri_text, bson_error.message);
      return false;
   }
   mongoc_client_set_appname(client, "duet");
   bson_t ping = BSON_INITIALIZER, reply;
   BSON_APPEND_INT32(&ping, "ping", 1);
   bool ok = mongoc_client_command_simple(client, "admin", &ping, NULL, &reply, &bson_error);
   bson_destroy(&ping);
   bson_destroy(&reply);
   if (!ok) {
      char context[512];
      snprintf(context, sizeof context, "cannot reach duetd at %s: ", uri_text);
      client_error(error, &bson_error, context);
      mongoc_client_destroy(client);
      return false;
   }
   *out = bson_malloc0(sizeof **out);
   (*out)->client = client;
   return true;
}

void duet_cli_client_close(duet_cli_client_t *client)
{
   if (client) {
      mongoc_client_destroy(client->client);
      bson_free(client);
   }
   mongoc_cleanup();
}

bool duet_cli_client_run(duet_cli_client_t *client, const bson_t *command, bson_t *reply, duet_error_t *error)
{
   bson_error_t bson_error;
   if (!mongoc_client_command_simple(client->client, "admin", command, NULL, reply, &bson_error)) {
      client_error(error, &bson_error, NULL);
      int64_t code = duet_cli_get_int64(reply, "code", 0); /* duetd's own code when it answered */
      if (code > 0 && code <= INT32_MAX) {
         error->code = (int32_t)code;
      }
      return false;
   }
   return true;
}

bool duet_cli_spec_command(const char *command_name, const char *path, bson_t *out, duet_error_t *error)
{
   duet_partner_spec_t *spec = NULL;
   bson_init(out);
   if (!duet_partner_spec_load(path, &spec, error)) {
      return false;
   }
   bson_t doc;
   duet_partner_spec_to_bson(spec, &doc);
   BSON_APPEND_INT32(out, command_name, 1);
   BSON_APPEND_DOCUMENT(out, "spec", &doc);
   bson_destroy(&doc);
   duet_partner_spec_destroy(spec);
   return true;
}

/* ---- printing ----------------------------------------------------------------------------- */

void duet_cli_print_json(FILE *out, const bson_t *doc)
{
   bson_t copy = BSON_INITIALIZER; /* without a reply's envelope: ok, operationTime, $clusterTime */
   bson_copy_to_excluding_noinit(doc, &copy, "ok", "operationTime", "$clusterTime", NULL);
   char *json = bson_as_relaxed_extended_json(&copy, NULL);
   fprintf(out, "%s\n", json);
   bson_free(json);
   bson_destroy(&copy);
}

int duet_cli_fail(const char *command, const duet_error_t *error)
{
   fprintf(stderr, "duet %s: %s (code %d)\n", command, error->message, error->code);
   return 2;
}

int64_t duet_cli_get_int64(const bson_t *doc, const char *key, int64_t fallback)
{
   bson_iter_t iter;
   if (bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, key, &iter) && BSON_ITER_HOLDS_NUMBER(&iter)) {
      return bson_iter_as_int64(&iter);
   }
   return fallback;
}

double duet_cli_get_double(const bson_t *doc, const char *key, double fallback)
{
   bson_iter_t iter;
   if (bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, key, &iter) && BSON_ITER_HOLDS_NUMBER(&iter)) {
      return bson_iter_as_double(&iter);
   }
   return fallback;
}

const char *duet_cli_get_utf8(const bson_t *doc, const char *key, const char *fallback)
{
   bson_iter_t iter;
   if (bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, key, &iter) && BSON_ITER_HOLDS_UTF8(&iter)) {
      return bson_iter_utf8(&iter, NULL);
   }
   return fallback;
}

bool duet_cli_get_bool(const bson_t *doc, const char *key, bool fallback)
{
   bson_iter_t iter;
   if (bson_iter_init(&iter, doc) && bson_iter_find_descendant(&iter, key, &iter) && BSON_ITER_HOLDS_BOOL(&iter)) {
      return bson_iter_bool(&iter);
   }
   return fallback;
}

void duet_cli_print_examples(FILE *out, const bson_t *report)
{
   bson_iter_t iter, kinds, items;
   if (!bson_iter_init_find(&iter, report, "examples") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
       !bson_iter_recurse(&iter, &kinds)) {
      return;
   }
   while (bson_iter_next(&kinds)) {
      if (!BSON_ITER_HOLDS_ARRAY(&kinds) || !bson_iter_recurse(&kinds, &items)) {
         continue;
      }
      bool heading = false;
      while (bson_iter_next(&items)) {
         if (!BSON_ITER_HOLDS_DOCUMENT(&items)) {
            continue;
         }
         if (!heading) {
            fprintf(out, "  examples of %s:\n", bson_iter_key(&kinds));
            heading = true;
         }
         uint32_t len;
         const uint8_t *data;
         bson_t example;
         bson_iter_document(&items, &len, &data);
         bson_init_static(&example, data, len);
         char *json = bson_as_relaxed_extended_json(&example, NULL);
         fprintf(out, "    %s\n", json);
         bson_free(json);
      }
   }
}
