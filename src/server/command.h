/*
 * command.h — the command table and what every handler receives.
 *
 * The table (command_table.c) is data: one row per command with its name,
 * handler, flags and help text.  dispatch.c looks the name up once, checks
 * the flags and the global fields shared by every command, runs the handler
 * and wraps its reply (ok, operationTime, $clusterTime) — or builds the one
 * error reply (duet_reply_error) from the handler's duet_error_t.
 *
 * Handler contract: `reply` is initialized and empty on entry; the handler
 * appends its fields (not "ok").  On failure it returns false with `error`
 * set; whatever it appended is discarded.
 */
#ifndef DUET_SERVER_COMMAND_H
#define DUET_SERVER_COMMAND_H

#include "server/server.h"

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

enum {
   DUET_CMD_READ = 1 << 0,        /* reads data */
   DUET_CMD_WRITE = 1 << 1,       /* writes data */
   DUET_CMD_ADMIN_ONLY = 1 << 2,  /* must run against the admin database */
   DUET_CMD_OP_QUERY_OK = 1 << 3, /* may arrive over legacy OP_QUERY (handshake) */
   DUET_CMD_NO_SESSION = 1 << 4,  /* lsid is not a session use (endSessions, killSessions) */
};

/* The global fields MongoDB accepts on every command, parsed by dispatch.c. */
typedef struct duet_generic_args {
   bool has_lsid;
   uint8_t lsid[16];         /* lsid.id UUID */
   bool has_txn_number;
   int64_t txn_number;
   int64_t max_time_ms;      /* 0 = no limit */
   int64_t deadline_us;      /* monotonic deadline from maxTimeMS, 0 = none */
   int64_t start_us;         /* when the command began (monotonic) */
} duet_generic_args_t;

typedef struct duet_command duet_command_t;

typedef struct duet_command_ctx {
   duet_server_t *server;         /* borrowed */
   duet_conn_t *conn;             /* borrowed */
   const duet_command_t *entry;   /* the table row */
   const bson_t *command;         /* borrowed: the whole command document */
   const char *name;              /* the command name as the client spelled it (first key) */
   const char *db;                /* $db, borrowed from `command` */
   bool legacy;                   /* arrived over OP_QUERY */
   duet_generic_args_t args;
} duet_command_ctx_t;

typedef bool (*duet_command_handler_t)(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);

struct duet_command {
   const char *name;               /* canonical name */
   duet_command_handler_t handler;
   uint32_t flags;                 /* DUET_CMD_* */
   const char *help;               /* listCommands help text */
};

/* The table: `count` rows, sorted by name for listCommands. */
const duet_command_t *duet_command_table(size_t *count);

/* Finds a command by name (exact, plus MongoDB's aliases such as "ismaster"). NULL if unknown. */
const duet_command_t *duet_command_find(const char *name);

/*
 * Runs `command` (borrowed) and fills `reply` (an empty document the caller
 * initialized and destroys) with a success or error reply.  Never fails: errors
 * become {ok: 0, errmsg, code, codeName, ...}.
 */
void duet_command_dispatch(duet_server_t *server, duet_conn_t *conn, const bson_t *command, bool legacy, bson_t *reply);

/*
 * The collection named by the command's first field ({insert: "c"}): 73
 * InvalidNamespace when it is not a string or not a valid name.  With
 * `allow_one`, the number 1 ({aggregate: 1}) gives *collection NULL.
 * *collection is borrowed from the command.
 */
bool duet_command_collection(const duet_command_ctx_t *ctx, bool allow_one, const char **collection,
                             duet_error_t *error);

/* True for the global fields every command accepts ($db, lsid, maxTimeMS, comment, ...). */
bool duet_command_is_generic_field(const char *key);

/* 40415 "BSON field '<struct_name>.<key>' is an unknown field." for a field of the command that is
 * neither its name, one of `known` (NULL-terminated) nor a global field. */
bool duet_command_check_fields(const duet_command_ctx_t *ctx, const char *struct_name, const char *const *known,
                               duet_error_t *error);

/* Fails with 50 MaxTimeMSExpired when the command's maxTimeMS has passed. */
bool duet_command_check_deadline(const duet_command_ctx_t *ctx, duet_error_t *error);

/* ---- the one error-reply builder and the common reply tail (reply.c) -------- */

/* Replaces whatever an initialized `reply` holds with {ok: 0.0, errmsg, code, codeName, <error->extra fields>}. */
void duet_reply_error(const duet_error_t *error, bson_t *reply);

/* Appends {index, code, errmsg, <failure's extra fields>} as the next element of a writeErrors array. */
void duet_reply_append_write_error(bson_t *array, uint32_t *count, int32_t index, const duet_error_t *failure);

/* Appends operationTime and $clusterTime (a Timestamp and {clusterTime, signature}). */
void duet_reply_append_cluster_time(duet_server_t *server, bson_t *reply);

/* Sets `error` to TypeMismatch for field `field` of `command_name` having the wrong type. */
void duet_error_wrong_type(duet_error_t *error, const char *command_name, const char *field, const bson_iter_t *iter,
                           const char *expected);

/* MongoDB's name of a BSON type ("string", "int", "long", "object", ...). */
const char *duet_bson_type_name(bson_type_t type);

/* ---- handlers (cmd_*.c) ------------------------------------------------------- */
bool duet_cmd_hello(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_ping(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_build_info(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_get_parameter(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_get_log(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_host_info(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_whatsmyuri(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_server_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_connection_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_list_commands(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_start_session(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_end_sessions(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_kill_sessions(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_get_more(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_kill_cursors(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_insert(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_find(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_update(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_delete(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_find_and_modify(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_aggregate(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_count(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_distinct(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_db_stats(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_coll_stats(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_list_databases(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_list_collections(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_create(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_drop(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_drop_database(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_rename_collection(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_coll_mod(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_list_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_create_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_drop_indexes(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);

#endif /* DUET_SERVER_COMMAND_H */
