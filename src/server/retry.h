/*
 * retry.h — retryable writes (retry.c): a driver that lost the reply of a write sent with an
 * lsid and a txnNumber sends it again, and must get the first outcome rather than a second
 * run.  The outcome is kept twice: in memory (lsid.c, for the common case) and durably in the
 * store (duet/store_retry.h), written in the write's own transaction, so that a retry after a
 * restart of duetd — or after a crash between the commit and the reply — is answered too.
 */
#ifndef DUET_SERVER_RETRY_H
#define DUET_SERVER_RETRY_H

#include "server/command.h"

/*
 * Before a write command runs: *replayed true with `reply` (initialized by the caller) holding
 * the first outcome when this (lsid, txnNumber, command) already ran; 225 TransactionTooOld when
 * the session has since run a newer txnNumber.  Memory first, then the store when memory holds
 * nothing for the session.  Only for commands with an lsid and a txnNumber.
 */
bool duet_retry_lookup(duet_command_ctx_t *ctx, bson_t *reply, bool *replayed, duet_error_t *error);

/*
 * Called by insert, update, delete and findAndModify inside their transaction, after the reply's
 * fields are built and before the commit: writes the durable record of `reply` (borrowed).  Does
 * nothing for a write without lsid and txnNumber.
 */
bool duet_retry_persist(const duet_command_ctx_t *ctx, duet_session_t *session, const bson_t *reply,
                        duet_error_t *error);

/* Drops durable records older than the logical session timeout (the reaper calls it). */
void duet_retry_prune(duet_server_t *server);

#endif /* DUET_SERVER_RETRY_H */
