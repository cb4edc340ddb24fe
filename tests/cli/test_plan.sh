#!/usr/bin/env bash
# test_plan.sh — black-box tests of `duet plan`: the spec written for the seeds' example,
# exit status (0 non-breaking, 1 breaking, 2 bad input), options and messages for bad input.
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
   passed=$((passed + 1))
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

# the seeds' example: objectId -> string, partner TaskV2, exit 1 (breaking)
run seed 1 plan "$FIX/task.json" "$FIX/taskv2.json" -o "$TMP/spec.json"
expect seed-strategy "strategy: partner collection test.TaskV2 for test.Task" "$OUT"
expect seed-step "change_property_type" "$OUT"
expect seed-wrote "wrote $TMP/spec.json" "$OUT"
SPEC=$(cat "$TMP/spec.json")
expect seed-forward '"$toString": "$_id"' "$SPEC"
expect seed-reverse '"$toObjectId": "$_id"' "$SPEC"
expect seed-addfields '"$addFields"' "$SPEC"
expect seed-partner '"partner": "TaskV2"' "$SPEC"
expect seed-version '"version": 1' "$SPEC"
# the written spec is the fixture the unit tests use
if diff -q "$TMP/spec.json" "$SRC/tests/fixtures/specs/task_v2.json" >/dev/null; then
   passed=$((passed + 1))
else
   echo "FAIL seed-fixture: spec differs from tests/fixtures/specs/task_v2.json"
   failed=$((failed + 1))
fi

# options: database, partner name, JSON output
run options 1 plan "$FIX/task.json" "$FIX/taskv2.json" --db app --partner Tasks2 --json -o "$TMP/spec2.json"
expect options-json '"strategy" : "partner"' "$OUT"
expect options-partner '"partner" : "Tasks2"' "$OUT"
expect options-db '"database": "app"' "$(cat "$TMP/spec2.json")"

# without -o the spec goes to standard output
run stdout 1 plan "$FIX/task.json" "$FIX/taskv2.json"
expect stdout-spec '"source": "Task"' "$OUT"

# a forced in-place strategy
run in-place 1 plan "$FIX/task_int_id.json" "$FIX/task_partition_string_id.json" --strategy in-place -o "$TMP/spec3.json"
expect in-place-strategy "strategy: in place on test.Task" "$OUT"
expect in-place-spec '"strategy": "in-place"' "$(cat "$TMP/spec3.json")"

# a non-breaking change: in place with the update value, exit 0
cat >"$TMP/old.json" <<'JSON'
{"title": "Task", "bsonType": "object", "required": ["_id"], "properties": {"_id": {"bsonType": "objectId"}}}
JSON
cat >"$TMP/new.json" <<'JSON'
{"title": "Task", "bsonType": "object", "required": ["_id", "priority"], "properties": {"_id": {"bsonType": "objectId"}, "priority": {"bsonType": "int", "default": 3}}}
JSON
run non-breaking 0 plan "$TMP/old.json" "$TMP/new.json" -o "$TMP/spec4.json"
expect non-breaking-step "add_required_property" "$OUT"
expect non-breaking-value "(value 3)" "$OUT"
expect non-breaking-ifnull '"$ifNull"' "$(cat "$TMP/spec4.json")"

# bad input: exit 2 with a message
run no-args 2 plan
expect no-args-msg "give two schema files" "$ERR"
run bad-strategy 2 plan "$FIX/task.json" "$FIX/taskv2.json" --strategy sideways
expect bad-strategy-msg "--strategy must be 'partner' or 'in-place'" "$ERR"
run missing-file 2 plan "$FIX/task.json" "$TMP/nope.json"
expect missing-file-msg "nope.json" "$ERR"
run unknown-option 2 plan "$FIX/task.json" "$FIX/taskv2.json" --frob
expect unknown-option-msg "unknown option '--frob'" "$ERR"
run missing-value 2 plan "$FIX/task.json" "$FIX/taskv2.json" -o
expect missing-value-msg "-o needs a value" "$ERR"
run same 2 plan "$FIX/task.json" "$FIX/task.json"
expect same-msg "nothing to plan" "$ERR"
run unwritable 2 plan "$FIX/task.json" "$FIX/taskv2.json" -o "$TMP/no/such/dir/spec.json"
expect unwritable-msg "cannot write spec" "$ERR"
run help 0 plan --help
expect help-text "usage: duet plan OLD NEW" "$OUT"

echo "test_plan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
