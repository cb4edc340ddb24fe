/*
 * duet/mql_projection.h — find() projections with MongoDB 4.4+ semantics:
 * inclusion / exclusion (never mixed, except `_id: 0`), `_id` included by
 * default, dotted paths through embedded documents and arrays, `$slice`,
 * `$elemMatch`, the positional `<array>.$`, and aggregation expressions or
 * literals as computed fields (evaluated with include/duet/mql_expr.h).
 *
 *     duet_projection_t *projection;
 *     if (!duet_projection_parse(spec, query_filter, &projection, error)) ...
 *     bson_t out;
 *     if (!duet_projection_apply(projection, doc, &out, error)) ...  // out always initialized
 *     bson_destroy(&out);
 *     duet_projection_destroy(projection);
 *
 * Errors carry MongoDB's codes: 31253 "Cannot do inclusion on field a in
 * exclusion projection", 31254 "Cannot do exclusion on field a in inclusion
 * projection", 31250/31249 path collisions, 31273 $slice syntax, 31274 $elemMatch
 * argument, 31277 positional projection not matching the query, 16410 / 40352 /
 * 40353 / 15998 bad field paths, 168 unknown expression operators.
 *
 * Ownership: the spec and query are copied; documents passed to apply are
 * borrowed.  A parsed projection is immutable and may be shared by threads.
 */
#ifndef DUET_MQL_PROJECTION_H
#define DUET_MQL_PROJECTION_H

#include <bson/bson.h>
#include <stdbool.h>

#include <duet/error.h>
#include <duet/mql_expr.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct duet_projection duet_projection_t;

/*
** Parses a find projection.  `query` (borrowed, may be NULL) is the find filter,
** needed only by the positional `$` operator.
** Return: true with *out set (free with duet_projection_destroy), or false with
** error filled and *out NULL.
*/
bool duet_projection_parse(const bson_t *spec, const bson_t *query, duet_projection_t **out, duet_error_t *error);

/*
** Projects `doc` (borrowed) into `out`, which the callee always initializes and
** the caller always destroys.  `env` (may be NULL) is the expression
** environment for computed fields ($$NOW, let variables).
** Return: false when a computed field's expression fails or the positional
** operator finds no matching element (error filled; out left empty).
*/
bool duet_projection_apply(const duet_projection_t *projection, const bson_t *doc, const duet_expr_env_t *env,
                           bson_t *out, duet_error_t *error);

/* True for an inclusion projection (only named fields and _id come back). */
bool duet_projection_is_inclusion(const duet_projection_t *projection);

void duet_projection_destroy(duet_projection_t *projection);

#ifdef __cplusplus
}
#endif

#endif /* DUET_MQL_PROJECTION_H */
