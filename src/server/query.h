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
 *
 * $lookup: a pipeline that reads other collections is parsed with the callbacks
 * of a duet_query_storage_t (options.storage), handed to the source with the
 * pipeline: its scans are finds (duet_store_find, so the join filter takes an
 * _id point read or an index) on collections of the same database, through the
 * source's session.
 */
#ifndef DUET_SERVER_QUERY_H
#define DUET_SERVER_QUERY_H

#include "server/server.h"

#include <duet/mql_pipeline.h>
#include <duet/mql_projection.h>

typedef struct duet_query_spec {
   const char *db;                     /* borrowed */
   const char *collection;             /* borrowed; NULL: no input documents (aggregate: 1 with $documents) */
   const bson_value_t *id_equals;      /* borrowed; when set only the document with this _id is read */
   duet_pipeline_t *pipeline;          /* owned by the source once opened (even on failure) */
   duet_projection_t *projection;      /* owned likewise; NULL for none */
   int64_t max_time_ms;                /* execution budget over all batches; 0 = none */
   duet_session_t *session;            /* borrowed session to read through, or NULL for a pooled one */
   struct duet_query_storage *storage; /* owned by the source once opened (even on failure); the
                                        * storage the pipeline was parsed with, or NULL */
} duet_query_spec_t;

/*
 * The storage callbacks for $lookup (duet/mql_pipeline.h) of a pipeline run by a
 * query source over database `db` (copied).  Create it before parsing, pass
 * duet_query_storage_callbacks() as options.storage, then give it to the spec
 * (or destroy it, after the pipeline, when the pipeline never reaches a source).
 * Until the source is open its scans fail with 1 InternalError.
 */
typedef struct duet_query_storage duet_query_storage_t;
duet_query_storage_t *duet_query_storage_new(const char *db);
const duet_pipeline_storage_t *duet_query_storage_callbacks(const duet_query_storage_t *storage);
void duet_query_storage_destroy(duet_query_storage_t *storage);

/*
 * Opens the source.  On success *source is ready for duet_cursor_reply_first (or
 * to be pulled with source->ops->next and destroyed with source->ops->destroy).
 * On failure everything the spec handed over is released.
 */
bool duet_query_open(duet_server_t *server, duet_query_spec_t *spec, duet_cursor_source_t *source, duet_error_t *error);

/* Appends {"<stage>": value} as the next element of the array document `stages`. */
void duet_query_append_stage(bson_t *stages, uint32_t *count, const char *stage, const bson_value_t *value);

#endif /* DUET_SERVER_QUERY_H */
