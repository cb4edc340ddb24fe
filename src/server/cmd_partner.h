/*
 * cmd_partner.h — duetd's partner-collection migrations (cmd_partner.c): the admin commands
 * duetCheck, duetApply, duetStatus, duetVerify and duetRetire, the links restored at startup
 * with their backfills resumed in background threads, and the small checks other commands
 * call: $out into a mirrored collection, and breaking schema changes made through collMod.
 * docs/partner.md ("duetd commands") documents the commands and their replies.
 */
#ifndef DUET_SERVER_CMD_PARTNER_H
#define DUET_SERVER_CMD_PARTNER_H

#include "server/command.h"

#include <duet/error.h>

#include <bson/bson.h>
#include <stdbool.h>

/* The command handlers (rows of command_table.c). */
bool duet_cmd_duet_check(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_duet_apply(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_duet_status(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_duet_verify(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);
bool duet_cmd_duet_retire(duet_command_ctx_t *ctx, bson_t *reply, duet_error_t *error);

/*
 * Called once the data directory is open and before the first client is served:
 * re-registers the mirrors of every persisted link and starts a background backfill thread
 * for every unfinished one.  Fails (and duetd does not start) when a link cannot be restored.
 */
bool duet_partner_server_start(duet_server_t *server, duet_error_t *error);

/* Called after the last connection has ended: asks every backfill thread to stop at its next
 * chunk boundary, joins them and unregisters the mirrors (the persisted links stay). */
void duet_partner_server_stop(duet_server_t *server);

/* Fails with 20 IllegalOperation, naming the link, when db.coll is the source or partner of
 * a migration: `stage` ("$out", "$merge") may not replace or merge into a mirrored collection. */
bool duet_partner_server_check_write_target(duet_server_t *server, const char *db, const char *coll, const char *stage,
                                            duet_error_t *error);

/* drop, dropDatabase (coll NULL: every collection of db) and renameCollection (checked for the
 * source and the target): fails with 20 IllegalOperation, naming the link, when a collection
 * concerned is the source or partner of a migration, since the pair would silently diverge. */
bool duet_partner_server_check_ddl(duet_server_t *server, const char *db, const char *coll, const char *command,
                                   duet_error_t *error);

/* collMod on a collection whose validator is an App Services schema ($jsonSchema): fails with
 * 2019 InvalidSchemaChange and Realm's additive-only message when `changes` (borrowed, the
 * collMod options) set a new $jsonSchema that is a breaking change; passes otherwise. */
bool duet_partner_server_check_coll_mod(duet_server_t *server, const char *db, const char *coll, const bson_t *changes,
                                        duet_error_t *error);

#endif /* DUET_SERVER_CMD_PARTNER_H */
