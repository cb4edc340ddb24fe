/*
 * fuzz_expr.c — libFuzzer target for aggregation expressions and pipelines.  The input is
 * two concatenated BSON documents: every field of the first is parsed as an expression and
 * evaluated against the second; the first is also parsed as a pipeline (an array-shaped
 * document of stages) and run over the second, and used as $addFields/$project specs.
 * Only crashes, sanitizer reports and leaks count as findings: errors are expected.
 */
#include <duet/mql_expr.h>
#include <duet/mql_pipeline.h>

#include <duet/doc.h>

#include <stdint.h>
#include <string.h>

/* Feed only structurally sound BSON, as the wire layer does (duet_doc_check_structure:
 * libbson 1.23's bson_validate misses some corrupt nested documents). */
static bool read_document(const uint8_t **data, size_t *size, bson_t *out)
{
   if (*size < 5) {
      return false;
   }
   uint32_t length;
   memcpy(&length, *data, 4);
   length = BSON_UINT32_FROM_LE(length);
   if (length < 5 || length > *size || !bson_init_static(out, *data, length)) {
      return false;
   }
   size_t offset;
   if (!bson_validate(out, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &offset) || !duet_doc_check_structure(*data, length, "input", NULL)) {
      return false;
   }
   *data += length;
   *size -= length;
   return true;
}

typedef struct one_source {
   const bson_t *doc;
   int remaining;
} one_source_t;

static bool one_source_next(void *context, const bson_t **doc, duet_error_t *error)
{
   (void)error;
   one_source_t *source = context;
   *doc = source->remaining-- > 0 ? source->doc : NULL;
   return true;
}

static void run_pipeline(const bson_t *spec, const bson_t *doc)
{
   duet_error_t error = DUET_ERROR_INIT;
   duet_pipeline_options_t options = {NULL, false, 1u << 20};
   duet_pipeline_t *pipeline = NULL;
   if (duet_pipeline_parse(spec, &options, &pipeline, &error)) {
      one_source_t source = {doc, 3};
      duet_expr_env_t env = {NULL, 0, 1700000000000};
      duet_pipeline_cursor_t *cursor = duet_pipeline_open(pipeline, one_source_next, &source, &env);
      const bson_t *out;
      int produced = 0;
      while (produced++ < 1000 && duet_pipeline_next(cursor, &out, &error) && out) {
      }
      duet_pipeline_close(cursor);
      if (duet_pipeline_is_per_document(pipeline)) {
         bson_t result;
         bool emitted;
         duet_pipeline_apply(pipeline, doc, &env, &result, &emitted, &error);
         bson_destroy(&result);
      }
      duet_pipeline_destroy(pipeline);
   }
   duet_error_clear(&error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   bson_t spec, doc;
   if (!read_document(&data, &size, &spec) || !read_document(&data, &size, &doc)) {
      return 0;
   }
   duet_error_t error = DUET_ERROR_INIT;
   duet_expr_env_t env = {NULL, 0, 1700000000000};
   bson_iter_t iter;
   if (bson_iter_init(&iter, &spec)) {
      while (bson_iter_next(&iter)) {
         duet_expr_t *expr = NULL;
         if (duet_expr_parse_iter(&iter, NULL, &expr, &error)) {
            bson_value_t out;
            if (duet_expr_evaluate(expr, &doc, &env, &out, &error)) {
               char *text = duet_expr_value_to_string(&out);
               bson_free(text);
               bson_value_destroy(&out);
            }
            duet_expr_destroy(expr);
         }
         duet_error_clear(&error);
      }
   }
   duet_expr_t *object = NULL;
   if (duet_expr_parse_object(&spec, NULL, &object, &error)) {
      bson_value_t out;
      if (duet_expr_evaluate(object, &doc, &env, &out, &error)) {
         bson_value_destroy(&out);
      }
      duet_expr_destroy(object);
   }
   duet_error_clear(&error);

   run_pipeline(&spec, &doc);

   /* the spec as the argument of single stages */
   static const char *const stages[] = {"$addFields", "$project", "$group", "$replaceWith", "$unwind", "$sort"};
   for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
      bson_t pipeline = BSON_INITIALIZER, stage;
      bson_append_document_begin(&pipeline, "0", 1, &stage);
      if (i >= 3 && bson_iter_init(&iter, &spec) && bson_iter_next(&iter)) {
         bson_append_value(&stage, stages[i], -1, bson_iter_value(&iter));
      } else {
         bson_append_document(&stage, stages[i], -1, &spec);
      }
      bson_append_document_end(&pipeline, &stage);
      run_pipeline(&pipeline, &doc);
      bson_destroy(&pipeline);
   }
   return 0;
}
