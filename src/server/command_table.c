/*
 * command_table.c — every command duetd answers, as data, and listCommands
 * which reads the same table.  A name not found here answers 59 CommandNotFound.
 */
#include "server/cmd_partner.h"
#include "server/command.h"

#include <string.h>

/* Sorted by name (listCommands order). */
static const duet_command_t command_table[] = {
   {"aggregate", duet_cmd_aggregate, DUET_CMD_READ | DUET_CMD_WRITE, "Runs the aggregation command. See http://dochub.mongodb.org/core/aggregation for more details."},
   {"buildInfo", duet_cmd_build_info, 0, "get version #, etc."},
   {"collMod", duet_cmd_coll_mod, DUET_CMD_WRITE, "Sets collection options (validator, validationLevel, validationAction)"},
   {"collStats", duet_cmd_coll_stats, DUET_CMD_READ, "{ collStats:\"blog.posts\" , scale : 1 } scale divides sizes e.g. for KB use 1024"},
   {"connectionStatus", duet_cmd_connection_status, 0, "Returns connection-specific information such as logged-in users and their roles"},
   {"count", duet_cmd_count, DUET_CMD_READ, "count objects in collection"},
   {"create", duet_cmd_create, DUET_CMD_WRITE, "explicitly creates a collection"},
   {"createIndexes", duet_cmd_create_indexes, DUET_CMD_WRITE, "Create indexes."},
   {"dbStats", duet_cmd_db_stats, DUET_CMD_READ, "Get stats on a database: counts and sizes, read from the data (linear in its size)"},
   {"delete", duet_cmd_delete, DUET_CMD_WRITE, "delete documents"},
   {"distinct", duet_cmd_distinct, DUET_CMD_READ, "{ distinct : 'collection name' , key : 'a.b' , query : {} }"},
   {"drop", duet_cmd_drop, DUET_CMD_WRITE, "drop a collection"},
   {"dropDatabase", duet_cmd_drop_database, DUET_CMD_WRITE, "drop (delete) this database"},
   {"dropIndexes", duet_cmd_drop_indexes, DUET_CMD_WRITE, "drop indexes for a collection"},
   {"duetApply", duet_cmd_duet_apply, DUET_CMD_WRITE | DUET_CMD_ADMIN_ONLY, "starts a partner-collection migration: {duetApply: 1, spec: {...}} (docs/partner.md)"},
   {"duetCheck", duet_cmd_duet_check, DUET_CMD_READ | DUET_CMD_ADMIN_ONLY, "dry run of a migration spec over the data: {duetCheck: 1, spec: {...}}"},
   {"duetRetire", duet_cmd_duet_retire, DUET_CMD_WRITE | DUET_CMD_ADMIN_ONLY, "ends a migration: {duetRetire: 1, name|spec, keep: \"old\"|\"new\", drop: bool}"},
   {"duetStatus", duet_cmd_duet_status, DUET_CMD_READ | DUET_CMD_ADMIN_ONLY, "state and progress of the migrations: {duetStatus: 1, name?}"},
   {"duetVerify", duet_cmd_duet_verify, DUET_CMD_READ | DUET_CMD_ADMIN_ONLY, "compares both sides of a migration: {duetVerify: 1, spec: {...}}"},
   {"endSessions", duet_cmd_end_sessions, DUET_CMD_NO_SESSION, "end a set of logical sessions"},
   {"find", duet_cmd_find, DUET_CMD_READ, "query for documents"},
   {"findAndModify", duet_cmd_find_and_modify, DUET_CMD_WRITE, "{ findAndModify: \"collection\", query: {processed:false}, update: {$set: {processed:true}}, new: true}"},
   {"getLog", duet_cmd_get_log, DUET_CMD_ADMIN_ONLY, "{ getLog : '*' }  OR { getLog : 'global' } OR { getLog : 'startupWarnings' }"},
   {"getMore", duet_cmd_get_more, DUET_CMD_READ, "retrieve more results from an existing cursor"},
   {"getParameter", duet_cmd_get_parameter, DUET_CMD_ADMIN_ONLY, "get administrative option(s)"},
   {"hello", duet_cmd_hello, DUET_CMD_OP_QUERY_OK, "Check if this server is primary for a replica set"},
   {"hostInfo", duet_cmd_host_info, 0, "returns information about the daemon's host"},
   {"insert", duet_cmd_insert, DUET_CMD_WRITE, "insert documents"},
   {"isMaster", duet_cmd_hello, DUET_CMD_OP_QUERY_OK, "Check if this server is primary for a replica set (legacy hello)"},
   {"killCursors", duet_cmd_kill_cursors, 0, "Kill a list of cursor ids"},
   {"killSessions", duet_cmd_kill_sessions, DUET_CMD_NO_SESSION, "kill a logical session and its operations"},
   {"listCollections", duet_cmd_list_collections, DUET_CMD_READ, "list collections for this db"},
   {"listCommands", duet_cmd_list_commands, 0, "get a list of all db commands"},
   {"listDatabases", duet_cmd_list_databases, DUET_CMD_READ | DUET_CMD_ADMIN_ONLY, "list databases on this server"},
   {"listIndexes", duet_cmd_list_indexes, DUET_CMD_READ, "list indexes for a collection"},
   {"ping", duet_cmd_ping, 0, "a way to check that the server is alive"},
   {"renameCollection", duet_cmd_rename_collection, DUET_CMD_WRITE | DUET_CMD_ADMIN_ONLY, "renames a collection"},
   {"serverStatus", duet_cmd_server_status, 0, "returns lots of administrative server statistics"},
   {"startSession", duet_cmd_start_session, DUET_CMD_NO_SESSION, "start a logical session"},
   {"update", duet_cmd_update, DUET_CMD_WRITE, "update documents"},
   {"whatsmyuri", duet_cmd_whatsmyuri, 0, "{whatsmyuri:1}"},
};

/* Other spellings MongoDB accepts. */
static const struct {
   const char *alias;
   const char *name;
} command_aliases[] = {
   {"ismaster", "isMaster"},
   {"buildinfo", "buildInfo"},
   {"findandmodify", "findAndModify"},
   {"dbstats", "dbStats"},
   {"collstats", "collStats"},
};

const duet_command_t *duet_command_table(size_t *count)
{
   *count = sizeof command_table / sizeof command_table[0];
   return command_table;
}

const duet_command_t *duet_command_find(const char *name)
{
   for (size_t i = 0; i < sizeof command_aliases / sizeof command_aliases[0]; i++) {
      if (strcmp(name, command_aliases[i].alias) == 0) {
         name = command_aliases[i].name;
         break;
      }
   }
   for (size_t i = 0; i < sizeof command_table / sizeof command_table[0]; i++) {
      if (strcmp(name, command_table[i].name) == 0) {
         return &command_table[i];
      }
   }
   return NULL;
}

bool duet_cmd_list_commands(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error)
{
   (void)ctx;
   (void)error;
   bson_t commands;
   bson_append_document_begin(reply, "commands", -1, &commands);
   for (size_t i = 0; i < sizeof command_table / sizeof command_table[0]; i++) {
      const duet_command_t *entry = &command_table[i];
      bson_t description;
      bson_append_document_begin(&commands, entry->name, -1, &description);
      BSON_APPEND_UTF8(&description, "help", entry->help);
      BSON_APPEND_BOOL(&description, "requiresAuth", false);
      BSON_APPEND_BOOL(&description, "secondaryOk", true);
      BSON_APPEND_BOOL(&description, "adminOnly", (entry->flags & DUET_CMD_ADMIN_ONLY) != 0);
      bson_t empty = BSON_INITIALIZER;
      bson_append_array(&description, "apiVersions", -1, &empty);
      bson_append_array(&description, "deprecatedApiVersions", -1, &empty);
      bson_destroy(&empty);
      bson_append_document_end(&commands, &description);
   }
   bson_append_document_end(reply, &commands);
   return true;
}
