/*
 * pipeline_exec.c — running a parsed pipeline: a pull-based cursor where each stage asks its
 * upstream for one document at a time ($sort, $group and $count drain their input first),
 * the per-document fast path duet_pipeline_apply(), $replaceRoot, $unwind and $documents.
 * $lookup runs per document through lookup_apply() (pipeline_lookup.c).
 *
 * Lifetimes: a stage's output document lives in its runtime slot until the stage is pulled
 * again; $match passes its upstream's document through unchanged (borrowed the same way).
 */
#include "mql/pipeline_internal.h"

#include <duet/doc.h>

#include <string.h>

typedef struct stage_runtime {
   bson_t *output; /* owned (bson_new: bson_t needs its 128-byte alignment); valid when output_ready */
   bool output_ready;
   bson_t **buffer; /* owned documents of a draining stage */
   size_t buffer_count;
   size_t buffer_position;
   bool drained;
   int64_t counter;    /* $skip/$limit */
   bson_t *unwind_doc; /* owned copy of the document being unwound */
   bson_iter_t unwind_iter;
   bool unwind_active;
   int64_t unwind_index;
   sorter_t *sorter;     /* owned: $sort's buffer (in memory or spilled) */
   group_state_t *group; /* owned: a spilled $group being read back */
} stage_runtime_t;

struct duet_pipeline_cursor {
   const duet_pipeline_t *pipeline;
   duet_pipeline_source_fn source;
   void *source_context;
   const duet_expr_env_t *env;
   stage_runtime_t *runtime;
   bool failed;
   bool used_disk; /* a $sort or $group spilled */
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* Copies `doc` into `out` with the dotted `path` set to `value` (removed when value is missing);
 * intermediate documents are created when absent. */
static void copy_with_path_set(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out)
{
   const char *dot = strchr(path, '.');
   size_t length = dot ? (size_t)(dot - path) : strlen(path);
   bool done = false;
   bson_iter_t iter;
   if (doc && bson_iter_init(&iter, doc)) {
      while (bson_iter_next(&iter)) {
         if (done || bson_iter_key_len(&iter) != length || memcmp(bson_iter_key(&iter), path, length) != 0) {
            bson_append_iter(out, NULL, 0, &iter);
            continue;
         }
         done = true;
         if (!dot) {
            if (value->value_type != BSON_TYPE_EOD) {
               bson_append_value(out, path, (int)length, value);
            }
         } else if (BSON_ITER_HOLDS_DOCUMENT(&iter)) {
            bson_t sub, child;
            uint32_t sub_length;
            const uint8_t *data;
            bson_iter_document(&iter, &sub_length, &data);
            bson_init_static(&sub, data, sub_length);
            bson_append_document_begin(out, path, (int)length, &child);
            copy_with_path_set(&sub, dot + 1, value, &child);
            bson_append_document_end(out, &child);
         } else {
            bson_append_iter(out, NULL, 0, &iter);
         }
      }
   }
   if (!done && value->value_type != BSON_TYPE_EOD) {
      if (!dot) {
         bson_append_value(out, path, (int)length, value);
      } else {
         bson_t child;
         bson_append_document_begin(out, path, (int)length, &child);
         copy_with_path_set(NULL, dot + 1, value, &child);
         bson_append_document_end(out, &child);
      }
   }
}

/* The value at a dotted path through embedded documents only ($unwind does not descend into arrays). */
static bool lookup_path(const bson_t *doc, const char *path, bson_iter_t *found)
{
   bson_iter_t iter;
   if (!bson_iter_init(&iter, doc)) {
      return false;
   }
   return bson_iter_find_descendant(&iter, path, found) ? true : false;
}

static void runtime_reset_output(stage_runtime_t *rt)
{
   rt->output_ready = false;
}

/* An empty output document for the stage to fill; it stays owned by the runtime. */
static bson_t *runtime_output(stage_runtime_t *rt)
{
   if (!rt->output) {
      rt->output = bson_new();
   } else {
      bson_reinit(rt->output);
   }
   rt->output_ready = true;
   return rt->output;
}

static void runtime_free_buffer(stage_runtime_t *rt)
{
   for (size_t i = rt->buffer_position; i < rt->buffer_count; i++) {
      bson_destroy(rt->buffer[i]);
   }
   bson_free(rt->buffer);
   rt->buffer = NULL;
   rt->buffer_count = rt->buffer_position = 0;
}

/* ---- per-document stages ------------------------------------------------------------------------ */

static bool replace_root(const pipeline_stage_t *stage, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                         duet_error_t *error)
{
   bson_value_t value;
   if (!duet_expr_evaluate(stage->expr, doc, env, &value, error)) {
      return false;
   }
   if (value.value_type != BSON_TYPE_DOCUMENT) {
      char *text = duet_expr_value_to_string(&value);
      bson_value_t input = {.value_type = BSON_TYPE_DOCUMENT};
      input.value.v_doc.data = (uint8_t *)bson_get_data(doc);
      input.value.v_doc.data_len = doc->len;
      char *input_text = duet_expr_value_to_string(&input);
      duet_error_set(error, 40228,
                     "%s  must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'. "
                     "Input document: %s",
                     strcmp(stage->name, "$replaceWith") == 0 ? "'replacement document'" : "'newRoot' expression", text,
                     duet_type_name(value.value_type), input_text);
      bson_free(text);
      bson_free(input_text);
      bson_value_destroy(&value);
      return false;
   }
   bson_t result;
   bson_init_static(&result, value.value.v_doc.data, value.value.v_doc.data_len);
   bson_concat(out, &result);
   bson_value_destroy(&value);
   return true;
}

/* Runs one per-document stage; *emitted false when $match rejects.  `out` is initialized. */
static bool apply_stage(const pipeline_stage_t *stage, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                        bool *emitted, duet_error_t *error)
{
   *emitted = true;
   switch (stage->kind) {
   case STAGE_MATCH: {
      bool matched = false;
      if (!duet_match_matches_env(stage->match, doc, env, &matched, NULL, error)) {
         return false;
      }
      *emitted = matched;
      if (matched) {
         bson_concat(out, doc);
      }
      return true;
   }
   case STAGE_PROJECTION: return projection_apply(stage->projection, doc, env, out, error);
   case STAGE_REPLACE_ROOT: return replace_root(stage, doc, env, out, error);
   case STAGE_LOOKUP: return lookup_apply(stage->lookup, doc, env, out, error);
   default: duet_error_set(error, DUET_ERR_BAD_VALUE, "%s is not a per-document stage", stage->name); return false;
   }
}

bool duet_pipeline_apply(const duet_pipeline_t *pipeline, const bson_t *doc, const duet_expr_env_t *env, bson_t *out,
                         bool *emitted, duet_error_t *error)
{
   bson_init(out);
   *emitted = false;
   if (!duet_pipeline_is_per_document(pipeline)) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "pipeline is not per-document; use a cursor");
      return false;
   }
   if (pipeline->count == 0) {
      bson_concat(out, doc);
      *emitted = true;
      return true;
   }
   bson_t scratch[2];
   const bson_t *current = doc;
   int which = 0;
   for (size_t i = 0; i < pipeline->count; i++) {
      bson_t *target = i + 1 == pipeline->count ? out : &scratch[which];
      if (target != out) {
         bson_init(target);
      }
      bool stage_emitted = false;
      bool ok = apply_stage(&pipeline->stages[i], current, env, target, &stage_emitted, error);
      if (current != doc) {
         bson_destroy((bson_t *)current);
      }
      if (!ok || !stage_emitted) {
         if (target != out) {
            bson_destroy(target);
         } else {
            bson_reinit(out);
         }
         return ok;
      }
      current = target;
      which ^= 1;
   }
   *emitted = true;
   return true;
}

/* ---- cursor ----------------------------------------------------------------------------------- */

duet_pipeline_cursor_t *duet_pipeline_open(const duet_pipeline_t *pipeline, duet_pipeline_source_fn source,
                                           void *source_context, const duet_expr_env_t *env)
{
   duet_pipeline_cursor_t *cursor = bson_malloc0(sizeof *cursor);
   cursor->pipeline = pipeline;
   cursor->source = source;
   cursor->source_context = source_context;
   cursor->env = env;
   /* stage_runtime_t holds a bson_iter_t, which libbson declares 128-byte aligned */
   cursor->runtime = bson_aligned_alloc0(BSON_ALIGNOF(stage_runtime_t),
                                         (pipeline->count ? pipeline->count : 1) * sizeof *cursor->runtime);
   return cursor;
}

void duet_pipeline_close(duet_pipeline_cursor_t *cursor)
{
   if (!cursor) {
      return;
   }
   for (size_t i = 0; i < cursor->pipeline->count; i++) {
      stage_runtime_t *rt = &cursor->runtime[i];
      if (rt->output) {
         bson_destroy(rt->output);
      }
      runtime_free_buffer(rt);
      if (rt->unwind_doc) {
         bson_destroy(rt->unwind_doc);
      }
      sorter_destroy(rt->sorter);
      group_state_destroy(rt->group);
   }
   bson_free(cursor->runtime);
   bson_free(cursor);
}

static bool pull(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error);

/* Emits buffered documents one by one (ownership moves to rt->output). */
static void emit_buffered(stage_runtime_t *rt, const bson_t **doc)
{
   runtime_reset_output(rt);
   if (rt->buffer_position >= rt->buffer_count) {
      *doc = NULL;
      return;
   }
   bson_t *next = rt->buffer[rt->buffer_position++];
   bson_concat(runtime_output(rt), next);
   bson_destroy(next);
   *doc = rt->output;
}

static void buffer_push(stage_runtime_t *rt, bson_t *doc, size_t *capacity)
{
   if (rt->buffer_count == *capacity) {
      *capacity = *capacity ? *capacity * 2 : 64;
      rt->buffer = bson_realloc(rt->buffer, *capacity * sizeof *rt->buffer);
   }
   rt->buffer[rt->buffer_count++] = doc;
}

static bool pull_sort(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   runtime_reset_output(rt);
   if (!rt->drained) {
      rt->sorter = sorter_new(&stage->sort, cursor->pipeline->memory_limit, cursor->pipeline->allow_disk_use);
      for (;;) {
         const bson_t *input;
         if (!pull(cursor, index - 1, &input, error)) {
            return false;
         }
         if (!input) {
            break;
         }
         if (!sorter_add(rt->sorter, input, error)) {
            return false;
         }
      }
      if (!sorter_finish(rt->sorter, error)) {
         return false;
      }
      cursor->used_disk = cursor->used_disk || sorter_used_disk(rt->sorter);
      rt->drained = true;
   }
   /* borrowed from the sorter until this stage is pulled again */
   return sorter_next(rt->sorter, doc, error);
}

static bool pull_group(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   if (!rt->drained) {
      group_state_t *state =
          group_state_new(stage->group, cursor->pipeline->memory_limit, cursor->pipeline->allow_disk_use);
      for (;;) {
         const bson_t *input;
         if (!pull(cursor, index - 1, &input, error)) {
            group_state_destroy(state);
            return false;
         }
         if (!input) {
            break;
         }
         if (!group_state_add(state, input, cursor->env, error)) {
            group_state_destroy(state);
            return false;
         }
      }
      rt->drained = true;
      if (group_state_used_disk(state)) {
         cursor->used_disk = true;
         rt->group = state; /* read back merged, one group at a time */
      } else {
         group_state_finish(state, &rt->buffer, &rt->buffer_count);
         group_state_destroy(state);
      }
   }
   if (rt->group) {
      bool found = false;
      bson_t *output = runtime_output(rt);
      if (!group_state_next_spilled(rt->group, output, &found, error)) {
         return false;
      }
      *doc = found ? output : NULL;
      return true;
   }
   emit_buffered(rt, doc);
   return true;
}

static bool pull_count(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   runtime_reset_output(rt);
   *doc = NULL;
   if (rt->drained) {
      return true;
   }
   int64_t count = 0;
   for (;;) {
      const bson_t *input;
      if (!pull(cursor, index - 1, &input, error)) {
         return false;
      }
      if (!input) {
         break;
      }
      count++;
   }
   rt->drained = true;
   if (count > 0) {
      bson_t *output = runtime_output(rt);
      if (count <= INT32_MAX) {
         bson_append_int32(output, stage->field, -1, (int32_t)count);
      } else {
         bson_append_int64(output, stage->field, -1, count);
      }
      *doc = output;
   }
   return true;
}

static bool pull_documents(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   if (!rt->drained) {
      static const bson_t empty = BSON_INITIALIZER;
      bson_value_t value;
      if (!duet_expr_evaluate(stage->expr, &empty, cursor->env, &value, error)) {
         return false;
      }
      bool ok = value.value_type == BSON_TYPE_ARRAY;
      size_t capacity = 0;
      if (ok) {
         bson_t array;
         bson_iter_t iter;
         bson_init_static(&array, value.value.v_doc.data, value.value.v_doc.data_len);
         bson_iter_init(&iter, &array);
         while (ok && bson_iter_next(&iter)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&iter)) {
               ok = false;
               break;
            }
            const bson_value_t *element = bson_iter_value(&iter);
            buffer_push(rt, bson_new_from_data(element->value.v_doc.data, element->value.v_doc.data_len), &capacity);
         }
      }
      bson_value_destroy(&value);
      if (!ok) {
         duet_error_set(error, 5858203, "an array of documents must be specified to $documents");
         return false;
      }
      rt->drained = true;
   }
   emit_buffered(rt, doc);
   return true;
}

static bool pull_unwind(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   for (;;) {
      runtime_reset_output(rt);
      if (rt->unwind_active) {
         if (bson_iter_next(&rt->unwind_iter)) {
            bson_t first = BSON_INITIALIZER;
            copy_with_path_set(rt->unwind_doc, stage->field, bson_iter_value(&rt->unwind_iter), &first);
            bson_t *output = runtime_output(rt);
            if (stage->index_field) {
               bson_value_t position = {.value_type = BSON_TYPE_INT64, .value.v_int64 = rt->unwind_index};
               copy_with_path_set(&first, stage->index_field, &position, output);
            } else {
               bson_concat(output, &first);
            }
            bson_destroy(&first);
            rt->unwind_index++;
            *doc = output;
            return true;
         }
         rt->unwind_active = false;
         bson_destroy(rt->unwind_doc);
         rt->unwind_doc = NULL;
      }
      const bson_t *input;
      if (!pull(cursor, index - 1, &input, error)) {
         return false;
      }
      if (!input) {
         *doc = NULL;
         return true;
      }
      bson_iter_t found;
      bool exists = lookup_path(input, stage->field, &found);
      const bson_value_t *value = exists ? bson_iter_value(&found) : NULL;
      if (value && value->value_type == BSON_TYPE_ARRAY) {
         bson_t array;
         bson_init_static(&array, value->value.v_doc.data, value->value.v_doc.data_len);
         if (!bson_empty(&array)) {
            rt->unwind_doc = bson_copy(input);
            bson_iter_t again;
            lookup_path(rt->unwind_doc, stage->field, &again);
            bson_iter_recurse(&again, &rt->unwind_iter);
            rt->unwind_active = true;
            rt->unwind_index = 0;
            continue;
         }
      }
      bool nullish = !value || value->value_type == BSON_TYPE_NULL || value->value_type == BSON_TYPE_UNDEFINED ||
                     value->value_type == BSON_TYPE_ARRAY;
      if (nullish && !stage->preserve) {
         continue;
      }
      /* a scalar, or a preserved null/missing/empty array (an empty array's field is removed) */
      bson_t first = BSON_INITIALIZER;
      if (value && value->value_type == BSON_TYPE_ARRAY) {
         bson_value_t missing = {.value_type = BSON_TYPE_EOD};
         copy_with_path_set(input, stage->field, &missing, &first);
      } else {
         bson_concat(&first, input);
      }
      bson_t *output = runtime_output(rt);
      if (stage->index_field) {
         bson_value_t position = {.value_type = BSON_TYPE_NULL}; /* not from an array */
         copy_with_path_set(&first, stage->index_field, &position, output);
      } else {
         bson_concat(output, &first);
      }
      bson_destroy(&first);
      *doc = output;
      return true;
   }
}

static bool pull(duet_pipeline_cursor_t *cursor, ptrdiff_t index, const bson_t **doc, duet_error_t *error)
{
   if (index < 0) {
      if (!cursor->source) {
         *doc = NULL;
         return true;
      }
      return cursor->source(cursor->source_context, doc, error);
   }
   const pipeline_stage_t *stage = &cursor->pipeline->stages[index];
   stage_runtime_t *rt = &cursor->runtime[index];
   switch (stage->kind) {
   case STAGE_MATCH:
   case STAGE_PROJECTION:
   case STAGE_REPLACE_ROOT:
   case STAGE_LOOKUP:
      for (;;) {
         const bson_t *input;
         runtime_reset_output(rt);
         if (!pull(cursor, index - 1, &input, error)) {
            return false;
         }
         if (!input) {
            *doc = NULL;
            return true;
         }
         if (stage->kind == STAGE_MATCH) {
            bool matched = false;
            if (!duet_match_matches_env(stage->match, input, cursor->env, &matched, NULL, error)) {
               return false;
            }
            if (matched) {
               *doc = input;
               return true;
            }
            continue;
         }
         bson_t *output = runtime_output(rt);
         bool emitted;
         if (!apply_stage(stage, input, cursor->env, output, &emitted, error)) {
            return false;
         }
         *doc = output;
         return true;
      }
   case STAGE_SKIP:
      while (rt->counter < stage->number) {
         const bson_t *input;
         if (!pull(cursor, index - 1, &input, error)) {
            return false;
         }
         if (!input) {
            rt->counter = stage->number;
            *doc = NULL;
            return true;
         }
         rt->counter++;
      }
      return pull(cursor, index - 1, doc, error);
   case STAGE_LIMIT:
      if (rt->counter >= stage->number) {
         *doc = NULL;
         return true;
      }
      if (!pull(cursor, index - 1, doc, error)) {
         return false;
      }
      if (*doc) {
         rt->counter++;
      }
      return true;
   case STAGE_SORT: return pull_sort(cursor, index, doc, error);
   case STAGE_GROUP: return pull_group(cursor, index, doc, error);
   case STAGE_COUNT: return pull_count(cursor, index, doc, error);
   case STAGE_UNWIND: return pull_unwind(cursor, index, doc, error);
   case STAGE_DOCUMENTS: return pull_documents(cursor, index, doc, error);
   }
   return false;
}

bool duet_pipeline_used_disk(const duet_pipeline_cursor_t *cursor)
{
   return cursor->used_disk;
}

bool duet_pipeline_next(duet_pipeline_cursor_t *cursor, const bson_t **doc, duet_error_t *error)
{
   *doc = NULL;
   if (cursor->failed) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cursor already failed");
      return false;
   }
   if (!pull(cursor, (ptrdiff_t)cursor->pipeline->count - 1, doc, error)) {
      cursor->failed = true;
      *doc = NULL;
      return false;
   }
   return true;
}
