#!/usr/bin/env bash
# test_diff.sh — black-box tests of `duet diff`: output, exit status (0 non-breaking,
# 1 breaking, 2 bad input) and the message for each bad input.
# Run by ctest with DUET=<duet binary> and DUET_SOURCE_DIR=<repository root>.
set -u

DUET=${DUET:?set DUET to the duet binary}
SRC=${DUET_SOURCE_DIR:?set DUET_SOURCE_DIR to the repository root}
FIX="$SRC/tests/fixtures/schemas"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0

# run NAME EXPECTED_STATUS ARGS... — runs duet, keeps stdout/stderr in $OUT/$ERR.
run() {
   local name=$1 expected=$2
   shift 2
   "$DUET" "$@" >"$TMP/out" 2>"$TMP/err"
   local status=$?
   OUT=$(cat "$TMP/out")
   ERR=$(cat "$TMP/err")
   if [ "$status" -ne "$expected" ]; then
      echo "FAIL $name: exit status $status, expected $expected"
      echo "  stdout: $OUT"
      echo "  stderr: $ERR"
      failed=$((failed + 1))
      return 1
   fi
   return 0
}

# expect NAME TEXT HAYSTACK — HAYSTACK contains TEXT (fixed string).
expect() {
   local name=$1 text=$2 haystack=$3
   if printf '%s' "$haystack" | grep -qF -- "$text"; then
      passed=$((passed + 1))
   else
      echo "FAIL $name: expected to find: $text"
      echo "  in: $haystack"
      failed=$((failed + 1))
   fi
}

# refuse NAME TEXT HAYSTACK — HAYSTACK does not contain TEXT.
refuse() {
   local name=$1 text=$2 haystack=$3
   if printf '%s' "$haystack" | grep -qF -- "$text"; then
      echo "FAIL $name: did not expect: $text"
      failed=$((failed + 1))
   else
      passed=$((passed + 1))
   fi
}

# --- the seeds' Task -> TaskV2 (objectId -> string _id) -------------------------------
if run seeds_table 1 diff "$FIX/task.json" "$FIX/taskv2.json"; then
   expect seeds_table "change property type (primary key)" "$OUT"
   expect seeds_table "objectId -> string" "$OUT"
   expect seeds_table "partner collection" "$OUT"
   expect seeds_table "The following changes cannot be made in additive-only schema mode:
- Property 'Task._id' has been changed from 'object id' to 'string'.
If your app is running in development mode, you can delete the realm and restart the app to update your schema." "$OUT"
   expect seeds_table "bsonType 'boolean' is not a BSON type name; read as 'bool'" "$ERR"
fi
if run seeds_json 1 diff --json "$FIX/task.json" "$FIX/taskv2.json"; then
   expect seeds_json '"breaking" : true' "$OUT"
   expect seeds_json '"kind" : "change_property_type", "collection" : "Task", "property" : "_id", "from" : "objectId", "to" : "string", "server" : "breaking", "client" : "breaking", "handling" : "partner_collection", "message" : "- Property '"'"'Task._id'"'"' has been changed from '"'"'object id'"'"' to '"'"'string'"'"'."' "$OUT"
   if command -v python3 >/dev/null; then
      if printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["breaking"] is True and len(d["changes"]) == 1'; then
         passed=$((passed + 1))
      else
         echo "FAIL seeds_json: not the expected JSON document"
         failed=$((failed + 1))
      fi
   fi
fi
if run seeds_partition 1 diff "$FIX/task_partition.json" "$FIX/task_partition_string_id.json"; then
   expect seeds_partition "- Property 'Task._id' has been changed from 'object id' to 'string'." "$OUT"
fi
# seed 003: Task (int _id) vs TaskV2 with its own title
if run seeds_v2_title 1 diff "$FIX/task_int_id.json" "$FIX/taskv2_titled.json"; then
   expect seeds_v2_title "remove object type" "$OUT"
   expect seeds_v2_title "run again with --rename-collection Task=TaskV2" "$OUT"
fi
if run seeds_v2_rename 1 diff "$FIX/task_int_id.json" "$FIX/taskv2_titled.json" --rename-collection Task=TaskV2; then
   expect seeds_v2_rename "rename object type" "$OUT"
   expect seeds_v2_rename "- Property 'TaskV2._id' has been changed from 'int' to 'string'." "$OUT"
   refuse seeds_v2_rename "remove object type" "$OUT"
fi

# --- non-breaking and identical ------------------------------------------------------------
if run identical 0 diff "$FIX/task.json" "$FIX/task.json"; then
   expect identical "No differences" "$OUT"
fi
cat >"$TMP/v1.json" <<'JSON'
{"title": "Task", "bsonType": "object", "required": ["_id"], "properties": {"_id": {"bsonType": "objectId"}}}
JSON
cat >"$TMP/v2.json" <<'JSON'
{"title": "Task", "bsonType": "object", "required": ["_id", "due"],
 "properties": {"_id": {"bsonType": "objectId"}, "note": {"bsonType": "string"}, "due": {"bsonType": "date"}}}
JSON
if run additive 0 diff "$TMP/v1.json" "$TMP/v2.json"; then
   expect additive "add optional property" "$OUT"
   expect additive "add required property" "$OUT"
   expect additive "with the zero value of its type" "$OUT"
   expect additive "Verdict: non-breaking" "$OUT"
   refuse additive "additive-only schema mode" "$OUT"
fi
if run additive_json 0 diff "$TMP/v1.json" "$TMP/v2.json" --json; then
   expect additive_json '"breaking" : false' "$OUT"
   expect additive_json '"kind" : "add_required_property"' "$OUT"
   expect additive_json '"update_value_source" : "zero"' "$OUT"
fi
if run reverse 1 diff "$TMP/v2.json" "$TMP/v1.json"; then
   expect reverse "- Property 'Task.note' has been removed." "$OUT"
   expect reverse "remove it only from the client object model" "$OUT"
fi

# --- multi-collection files and renames ------------------------------------------------------
if run app 1 diff "$FIX/app_v1.json" "$FIX/app_v2.json"; then
   expect app "--rename tasks.owner.phone=tasks.owner.mobile" "$OUT"
   expect app "- Property 'Task.tags' has been changed from 'array<string>' to 'set<string>'." "$OUT"
   expect app "Class 'Project' has been added." "$OUT"
fi
if run app_rename 1 diff "$FIX/app_v1.json" "$FIX/app_v2.json" --rename tasks.owner.phone=tasks.owner.mobile \
   --rename=User.nickname=displayName --json; then
   expect app_rename '"kind" : "rename_property", "collection" : "tasks", "property" : "owner.phone"' "$OUT"
   expect app_rename '"handling" : "remap_name_in_client"' "$OUT"
   refuse app_rename '"kind" : "remove_property"' "$OUT"
fi

# --- bad input: one message each, exit 2 -------------------------------------------------------
if run bad_syntax 2 diff "$FIX/bad_syntax.json" "$FIX/task.json"; then
   expect bad_syntax "bad_syntax.json: line 7, column 5: invalid JSON near '}'" "$ERR"
   [ -z "$OUT" ] && passed=$((passed + 1)) || { echo "FAIL bad_syntax: stdout not empty"; failed=$((failed + 1)); }
fi
if run bad_type 2 diff "$FIX/task.json" "$FIX/bad_unknown_type.json"; then
   expect bad_type "bad_unknown_type.json: Task.count: unknown bsonType 'integer'; use one of:" "$ERR"
fi
if run bad_required 2 diff "$FIX/bad_required.json" "$FIX/task.json"; then
   expect bad_required "bad_required.json: Task: \"required\" names 'title', which is not in \"properties\"" "$ERR"
fi
if run bad_default 2 diff "$FIX/bad_default.json" "$FIX/task.json"; then
   expect bad_default "bad_default.json: Task.complete: the default \"no\" does not match the property's bsonType 'bool'" "$ERR"
fi
if run bad_root 2 diff "$FIX/bad_root.json" "$FIX/task.json"; then
   expect bad_root "bad_root.json: Task: the root is not an object schema" "$ERR"
fi
if run bad_duplicate 2 diff "$FIX/task.json" "$FIX/bad_duplicate_title.json"; then
   expect bad_duplicate "title 'Task' is used by two schemas" "$ERR"
fi
if run missing_file 2 diff "$FIX/task.json" "$TMP/nope.json"; then
   expect missing_file "nope.json: cannot open the file (No such file or directory)" "$ERR"
fi
printf '' >"$TMP/empty.json"
if run empty_file 2 diff "$TMP/empty.json" "$FIX/task.json"; then
   expect empty_file "empty.json: the file is empty" "$ERR"
fi
printf '{"title": "Task", "bsonType": "object"' >"$TMP/cut.json"
if run truncated 2 diff "$TMP/cut.json" "$FIX/task.json"; then
   expect truncated "cut.json: line 1, column 39: invalid JSON: the text ends before" "$ERR"
fi
if run one_file 2 diff "$FIX/task.json"; then
   expect one_file "give two schema files" "$ERR"
fi
if run three_files 2 diff "$FIX/task.json" "$FIX/task.json" "$FIX/task.json"; then
   expect three_files "unexpected argument" "$ERR"
fi
if run unknown_option 2 diff --frobnicate "$FIX/task.json" "$FIX/task.json"; then
   expect unknown_option "unknown option '--frobnicate'" "$ERR"
fi
if run bad_rename 2 diff "$FIX/task.json" "$FIX/taskv2.json" --rename name=title; then
   expect bad_rename "--rename 'name=title': expected Collection.old=Collection.new" "$ERR"
fi
if run rename_missing_value 2 diff "$FIX/task.json" "$FIX/taskv2.json" --rename; then
   expect rename_missing_value "--rename needs a value" "$ERR"
fi
if run rename_unknown 2 diff "$FIX/task.json" "$FIX/taskv2.json" --rename Task.nmae=Task.title; then
   expect rename_unknown "no property 'nmae' of 'Task'" "$ERR"
fi
if run rename_collection_unknown 2 diff "$FIX/task.json" "$FIX/taskv2.json" --rename-collection Tsak=Task; then
   expect rename_collection_unknown "has no object type or collection 'Tsak'" "$ERR"
fi
if run help 0 diff --help; then
   expect help "usage: duet diff OLD NEW" "$OUT"
fi
if run main_help 0 --help; then
   expect main_help "diff" "$OUT"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
