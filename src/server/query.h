/*
 * query.h — documents of a collection streamed through a parsed aggregation
 * pipeline (and optionally a find projection), packaged as a cursor source.
 * find, aggregate, count and distinct read through it.
 *
 * A query source reads the store through a session: its own one from the
 * server's pool (released when the source is destroyed, so the cursor can
 * outlive the command and be continued by getMore on any connection), or one
 * borrowed from the caller (inside a write transaction, e.g. $out), which must
 * then outlive the source.
 */
#ifndef DUET_SERVER_QUERY_H
#define DUET_SERVER_QUERY_H

#include "server/server.h"

#include <duet/mql_pipeline.h>
#include <duet/mql_projection.h>

typedef struct duet_query_spec {
   const char *db;                  /* borrowed */
   const char *collection;          /* borrowed; NULL: no input documents (aggregate: 1 with $documents) */
   const bson_value_t *id_equals;   /* borrowed; when set only the document with this _id is read */
   duet_pipeline_t *pipeline;       /* owned by the source once opened (even on failure) */
   duet_projection_t *projection;   /* owned likewise; NULL for none */
   int64_t max_time_ms;             /* execution budget over all batches; 0 = none */
   duet_session_t *session;         /* borrowed session to read through, or NULL for a pooled one */
} duet_query_spec_t;

/*
 * Opens the source.  On success *source is ready for duet_cursor_reply_first (or
 * to be pulled with source->ops->next and destroyed with source->ops->destroy).
 * On failure everything the spec handed over is released.
 */
bool duet_query_open(duet_server_t *server, duet_query_spec_t *spec, duet_cursor_source_t *source,
                     duet_error_t *error);

/* Appends {"<stage>": value} as the next element of the array document `stages`. */
void duet_query_append_stage(bson_t *stages, uint32_t *count, const char *stage, const bson_value_t *value);

#endif /* DUET_SERVER_QUERY_H */
