/*
 * partner_internal.h — what the files of src/partner share: the link structure, the
 * thread-local marker of a running backfill, and a disk-backed key set (a private temporary
 * SQLite database) that keeps check and verify flat in memory.
 */
#ifndef DUET_PARTNER_INTERNAL_H
#define DUET_PARTNER_INTERNAL_H

#include <duet/partner.h>

#include <stdatomic.h>

/* The meta kinds and the name of the index document listing every link. */
#define PARTNER_META_LINK "partner_link"
#define PARTNER_META_PROGRESS "migration_progress"
#define PARTNER_LINK_INDEX "*links*"

typedef struct partner_side {
   duet_partner_link_t *link;          /* the owner */
   duet_partner_direction_t direction; /* FORWARD: hook on source, writes the partner */
   const char *target;                 /* borrowed from the link's spec */
} partner_side_t;

struct duet_partner_link {
   duet_store_t *store;                 /* borrowed; outlives the link */
   duet_partner_spec_t *spec;           /* owned */
   duet_partner_transform_t *transform; /* owned */
   char *name;                          /* owned: "<db>.<source>:<partner>" */
   char *origin;                        /* owned: hook origin shared by both mirrors */
   partner_side_t to_partner;           /* context of the hook on the source */
   partner_side_t to_source;            /* context of the hook on the partner */
   uint64_t hook_ids[2];
   bool hooks_registered;
   atomic_int_fast64_t mirrored;       /* mirrored writes */
   atomic_int_fast64_t mirror_errors;  /* mirrors that failed the original write */
   atomic_int_fast64_t run_started_us; /* monotonic start of the current backfill run (0: none); read by status */
   atomic_int_fast64_t run_done;       /* documents done by the current run */
};

/* The link whose backfill the current thread is running (NULL: none): its mirrors skip the
 * backfill's own writes, which already hold the transformed document. */
extern _Thread_local const duet_partner_link_t *partner_backfill_link;

/* The wall clock in milliseconds since the epoch ($$NOW). */
int64_t partner_now_ms(void);
/* duet_partner_transform_apply with $$NOW = now_ms: the backfill reads the clock once per
 * chunk, as MongoDB fixes $$NOW once per command. */
bool partner_transform_apply_at(const duet_partner_transform_t *transform, duet_partner_direction_t direction,
                                const bson_t *doc, int64_t now_ms, bson_t *out, duet_error_t *error);

/* Registers the link's two mirrors (partner strategy only). */
bool partner_link_register(duet_partner_link_t *link, duet_error_t *error);
void partner_link_unregister(duet_partner_link_t *link);

/* ---- key set --------------------------------------------------------------------------- */

typedef struct partner_keyset partner_keyset_t;

bool partner_keyset_open(partner_keyset_t **out, duet_error_t *error);
void partner_keyset_close(partner_keyset_t *set);

/* Adds `key` (encoded in MongoDB order) with `payload`; when the key was there already,
 * *added is false and, if `existing` is not NULL, it is initialized with a copy of the
 * payload stored first (bson_value_destroy). */
bool partner_keyset_add(partner_keyset_t *set, const bson_value_t *key, const bson_value_t *payload, bool *added,
                        bson_value_t *existing, duet_error_t *error);
bool partner_keyset_contains(partner_keyset_t *set, const bson_value_t *key, bool *found, duet_error_t *error);

/* Appends {<field>: <value>} example entries with a size cap; helpers for reports. */
void partner_example_append(bson_t *examples, const char *kind, size_t max_examples, int64_t count,
                            const bson_t *entry);

#endif /* DUET_PARTNER_INTERNAL_H */
