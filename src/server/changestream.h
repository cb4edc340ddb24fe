/*
 * changestream.h — $changeStream aggregations as tailable awaitData cursors
 * over the store's change log (changestream.c).  See docs/server.md,
 * "Change streams", for the behaviour clients see.
 */
#ifndef DUET_SERVER_CHANGESTREAM_H
#define DUET_SERVER_CHANGESTREAM_H

#include "server/command.h"

#include <duet/store.h>

/* What a resume token points at (the last two hex digits of its _data). */
typedef enum duet_changestream_token_kind {
   DUET_CHANGESTREAM_TOKEN_EVENT = 0,      /* a change event at that cluster time */
   DUET_CHANGESTREAM_TOKEN_INVALIDATE = 1, /* the invalidate that followed the event at that time */
   DUET_CHANGESTREAM_TOKEN_HWM = 2,        /* a high-water mark: everything up to that time was seen */
} duet_changestream_token_kind_t;

/* True when some stage of `pipeline` (borrowed array) is $changeStream: the aggregate
 * belongs to duet_changestream_open (which rejects it unless it is the first stage). */
bool duet_changestream_in_pipeline(const bson_t *pipeline);

/*
 * Opens a change stream for aggregate `ctx` whose `pipeline` (borrowed array)
 * starts with $changeStream; `collection` NULL for aggregate: 1.  Appends the
 * cursor (a non-zero id, the events already available when resuming, and
 * postBatchResumeToken) to `reply`.  Errors: MongoDB's codes for the options
 * (40415, 14, 2, 50865, 40674, 260, 72, 73, 20, 40602, 50808) and 286/280 when
 * the resume point is gone or unknown.
 */
bool duet_changestream_open(duet_command_ctx_t *ctx, const char *collection, const bson_t *pipeline, int64_t batch_size,
                            bson_t *reply, duet_error_t *error);

/* Appends the resume token {_data: "<16 hex digits of ts><2 hex digits of kind>"} as field
 * `key` of `parent`. */
void duet_changestream_token(duet_store_ts_t ts, duet_changestream_token_kind_t kind, bson_t *parent, const char *key);

/* Parses a resume token given to `option` (resumeAfter/startAfter): 14 when not a document,
 * 260 InvalidResumeToken when not one of duetd's. */
bool duet_changestream_parse_token(const bson_iter_t *iter, const char *option, duet_store_ts_t *ts,
                                   duet_changestream_token_kind_t *kind, duet_error_t *error);

#endif /* DUET_SERVER_CHANGESTREAM_H */
