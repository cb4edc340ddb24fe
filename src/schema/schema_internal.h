/*
 * schema_internal.h — helpers shared by the files of src/schema (not installed).
 */
#ifndef DUET_SCHEMA_INTERNAL_H
#define DUET_SCHEMA_INTERNAL_H

#include <duet/schema.h>

/* Deepest nesting of embedded objects/containers accepted (JSON depth is bounded by libbson too). */
#define DUET_SCHEMA_MAX_DEPTH 64

/* Frees what an object owns (not the struct itself). */
void duet_schema_object_clear(duet_schema_object_t *object);

/* Frees what a type owns. */
void duet_schema_type_clear(duet_schema_type_t *type);

/* bson_strdup_printf into a growing string: appends to *buffer (owned, may start NULL). */
void duet_schema_append(char **buffer, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Relaxed Extended JSON of one value ("false", "0", "{ \"$oid\" : ... }").  Caller frees. */
char *duet_schema_value_to_json(const bson_value_t *value);

#endif /* DUET_SCHEMA_INTERNAL_H */
