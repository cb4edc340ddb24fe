/*
 * schema_render.c — a classified diff as JSON (`duet diff --json`), as a readable
 * table, and as Realm's additive-only refusal message (realm-core object_store.cpp:
 * InvalidAdditiveSchemaChangeException).  Formats are documented in docs/diff.md.
 */
#include "schema/schema_internal.h"

#include <string.h>

#define REALM_ADDITIVE_HEADER "The following changes cannot be made in additive-only schema mode:"
#define REALM_DEVELOPMENT_TRAILER                                                                                      \
   "If your app is running in development mode, you can delete the realm and restart the app to update your schema."

/* "- line1\n- line2" from the '\n'-separated explainer lines.  Caller frees. */
/* Realm lines of one change, each prefixed "- ".  With `refused_only`, lines Realm's
 * additive check never refuses ("... has been added.", the new half of a rename seen as
 * remove + add) are left out, so the refusal message lists only what cannot be made. */
static char *realm_lines_filtered(const char *message, bool refused_only)
{
   static const char added[] = " has been added.";
   char *result = NULL;
   const char *line = message;
   while (line && *line) {
      const char *end = strchr(line, '\n');
      size_t len = end ? (size_t)(end - line) : strlen(line);
      bool is_addition = (strncmp(line, "Property '", 10) == 0 || strncmp(line, "Class '", 7) == 0) &&
                         len >= sizeof added - 1 &&
                         memcmp(line + len - (sizeof added - 1), added, sizeof added - 1) == 0;
      if (!(refused_only && is_addition)) {
         duet_schema_append(&result, "%s- %.*s", result ? "\n" : "", (int)len, line);
      }
      line = end ? end + 1 : NULL;
   }
   return result;
}

static char *realm_lines(const char *message)
{
   char *result = realm_lines_filtered(message, false);
   return result ? result : bson_strdup("");
}

static bool change_is_breaking(const duet_schema_change_t *change)
{
   return change->server == DUET_VERDICT_BREAKING || change->client == DUET_VERDICT_BREAKING;
}

static void append_optional_utf8(bson_t *doc, const char *key, const char *value)
{
   if (value) {
      BSON_APPEND_UTF8(doc, key, value);
   } else {
      BSON_APPEND_NULL(doc, key);
   }
}

void duet_schema_diff_to_bson(const duet_schema_diff_t *diff, bson_t *out)
{
   bson_init(out);
   BSON_APPEND_BOOL(out, "breaking", diff->breaking);
   bson_t changes;
   BSON_APPEND_ARRAY_BEGIN(out, "changes", &changes);
   for (size_t i = 0; i < diff->change_count; i++) {
      const duet_schema_change_t *change = &diff->changes[i];
      char key[16];
      const char *key_pointer;
      bson_uint32_to_string((uint32_t)i, &key_pointer, key, sizeof key);
      bson_t item;
      bson_append_document_begin(&changes, key_pointer, -1, &item);
      BSON_APPEND_UTF8(&item, "kind", duet_schema_change_kind_name(change->kind));
      BSON_APPEND_UTF8(&item, "collection", change->collection);
      append_optional_utf8(&item, "property", change->property);
      append_optional_utf8(&item, "from", change->from);
      append_optional_utf8(&item, "to", change->to);
      BSON_APPEND_UTF8(&item, "server", duet_schema_verdict_name(change->server));
      BSON_APPEND_UTF8(&item, "client", duet_schema_verdict_name(change->client));
      BSON_APPEND_UTF8(&item, "handling", duet_schema_handling_name(change->handling));
      if (change->message) {
         char *lines = realm_lines(change->message);
         BSON_APPEND_UTF8(&item, "message", lines);
         bson_free(lines);
      } else {
         BSON_APPEND_NULL(&item, "message");
      }
      BSON_APPEND_UTF8(&item, "object_type", change->object_type);
      BSON_APPEND_BOOL(&item, "primary_key", change->primary_key);
      if (change->update_value_source != DUET_VALUE_NONE) {
         BSON_APPEND_VALUE(&item, "update_value", &change->update_value);
         BSON_APPEND_UTF8(&item, "update_value_source",
                          change->update_value_source == DUET_VALUE_DEFAULT ? "default" : "zero");
      }
      if (change->note) {
         BSON_APPEND_UTF8(&item, "note", change->note);
      }
      bson_append_document_end(&changes, &item);
   }
   bson_append_array_end(out, &changes);
}

char *duet_schema_diff_to_json(const duet_schema_diff_t *diff)
{
   bson_t doc;
   duet_schema_diff_to_bson(diff, &doc);
   char *json = bson_as_relaxed_extended_json(&doc, NULL);
   bson_destroy(&doc);
   return json;
}

char *duet_schema_diff_realm_message(const duet_schema_diff_t *diff)
{
   if (!diff->breaking) {
      return NULL;
   }
   char *message = bson_strdup(REALM_ADDITIVE_HEADER);
   for (size_t i = 0; i < diff->change_count; i++) {
      const duet_schema_change_t *change = &diff->changes[i];
      if (change_is_breaking(change) && change->message) {
         char *lines = realm_lines_filtered(change->message, true);
         if (lines) {
            duet_schema_append(&message, "\n%s", lines);
            bson_free(lines);
         }
      }
   }
   duet_schema_append(&message, "\n%s", REALM_DEVELOPMENT_TRAILER);
   return message;
}

/* ---- table -------------------------------------------------------------------------- */

typedef struct {
   char *cells[6];
} table_row_t;

static size_t display_width(const char *text)
{
   size_t width = 0;
   for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
      if ((*c & 0xC0) != 0x80) {
         width++;
      }
   }
   return width;
}

static void append_cell(char **out, const char *text, size_t width, bool last)
{
   if (last) {
      duet_schema_append(out, "%s", text);
      return;
   }
   size_t pad = width - display_width(text) + 2;
   duet_schema_append(out, "%s%*s", text, (int)pad, "");
}

char *duet_schema_diff_render_table(const duet_schema_diff_t *diff, const char *old_name, const char *new_name)
{
   char *out = NULL;
   duet_schema_append(&out, "duet diff %s -> %s\n\n", old_name, new_name);
   if (diff->change_count == 0) {
      duet_schema_append(&out, "No differences: both define the same object types and properties.\n"
                               "Verdict: non-breaking (exit status 0)\n");
      return out;
   }
   size_t rows_count = diff->change_count + 1;
   table_row_t *rows = bson_malloc0(rows_count * sizeof *rows);
   const char *headers[6] = {"#", "CHANGE", "WHERE", "FROM -> TO", "SERVER", "CLIENT"};
   for (int c = 0; c < 6; c++) {
      rows[0].cells[c] = bson_strdup(headers[c]);
   }
   size_t breaking_count = 0;
   for (size_t i = 0; i < diff->change_count; i++) {
      const duet_schema_change_t *change = &diff->changes[i];
      table_row_t *row = &rows[i + 1];
      row->cells[0] = bson_strdup_printf("%zu", i + 1);
      row->cells[1] = bson_strdup_printf(
          "%s%s", duet_schema_change_kind_title(change->kind),
          change->primary_key && change->kind == DUET_CHANGE_CHANGE_PROPERTY_TYPE ? " (primary key)" : "");
      row->cells[2] = change->property ? bson_strdup_printf("%s.%s", change->collection, change->property)
                                       : bson_strdup(change->collection);
      row->cells[3] =
          bson_strdup_printf("%s -> %s", change->from ? change->from : "(none)", change->to ? change->to : "(none)");
      row->cells[4] = bson_strdup(duet_schema_verdict_name(change->server));
      row->cells[5] = bson_strdup(duet_schema_verdict_name(change->client));
      if (change_is_breaking(change)) {
         breaking_count++;
      }
   }
   size_t widths[6] = {0};
   for (size_t r = 0; r < rows_count; r++) {
      for (int c = 0; c < 6; c++) {
         size_t w = display_width(rows[r].cells[c]);
         if (w > widths[c]) {
            widths[c] = w;
         }
      }
   }
   for (size_t r = 0; r < rows_count; r++) {
      for (int c = 0; c < 6; c++) {
         append_cell(&out, rows[r].cells[c], widths[c], c == 5);
      }
      duet_schema_append(&out, "\n");
      if (r > 0) {
         const duet_schema_change_t *change = &diff->changes[r - 1];
         size_t indent = widths[0] + 2;
         char *handling = duet_schema_change_handling_text(change);
         duet_schema_append(&out, "%*shandling: %s\n", (int)indent, "", handling);
         bson_free(handling);
         if (change->message) {
            const char *line = change->message;
            while (line && *line) {
               const char *end = strchr(line, '\n');
               size_t len = end ? (size_t)(end - line) : strlen(line);
               duet_schema_append(&out, "%*srealm:    - %.*s\n", (int)indent, "", (int)len, line);
               line = end ? end + 1 : NULL;
            }
         }
         if (change->note) {
            duet_schema_append(&out, "%*snote:     %s\n", (int)indent, "", change->note);
         }
      }
      for (int c = 0; c < 6; c++) {
         bson_free(rows[r].cells[c]);
      }
   }
   bson_free(rows);
   if (diff->breaking) {
      duet_schema_append(&out, "\nVerdict: BREAKING: %zu of %zu changes are breaking (exit status 1)\n", breaking_count,
                         diff->change_count);
      char *message = duet_schema_diff_realm_message(diff);
      duet_schema_append(&out, "\nRealm's additive-only check reports:\n%s\n", message);
      bson_free(message);
   } else {
      duet_schema_append(&out, "\nVerdict: non-breaking: %zu change%s, none breaking (exit status 0)\n",
                         diff->change_count, diff->change_count == 1 ? "" : "s");
   }
   return out;
}
