#!/usr/bin/env bash
# demo.sh — the main job end to end on the embedded default: a breaking schema change on live
# data with old and new clients side by side and nothing lost.  Starts duetd on a fresh data
# directory, loads 100k tasks shaped as in the seeds, then shows `duet diff`, `duet plan`,
# `duet check`, `duet apply` (with progress), a version-1 client (pymongo on Task) and a
# version-2 client (Node on TaskV2) writing at the same time and reading each other's writes,
# and `duet verify` with 0 differences.  Stops duetd at the end.
# Run from anywhere after `make build` (`make demo` does both).  DEMO_TASKS=N loads N tasks.
set -u
cd "$(dirname "$0")/.."

BIN=${BIN:-build/bin}
DUET=${DUET:-$BIN/duet}
DUETD=${DUETD:-$BIN/duetd}
PYTHON=${PYTHON:-/usr/bin/python3}
TASKS=${DEMO_TASKS:-100000}
OLD=tests/fixtures/schemas/task.json
NEW=tests/fixtures/schemas/taskv2.json

for program in "$DUET" "$DUETD"; do
   if [ ! -x "$program" ]; then
      echo "demo: $program is missing; run 'make build' first (or 'make demo')" >&2
      exit 2
   fi
done

WORK=$(mktemp -d /tmp/duet-demo.XXXXXX)
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URI="mongodb://127.0.0.1:$PORT"
DUETD_PID=
cleanup() {
   if [ -n "$DUETD_PID" ]; then
      kill -TERM "$DUETD_PID" 2>/dev/null
      wait "$DUETD_PID" 2>/dev/null
   fi
   rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
   echo "demo: $*" >&2
   echo "--- last lines of the duetd log ---" >&2
   tail -5 "$WORK/duetd.log" >&2
   exit 1
}
step() {
   printf '\n== %s\n' "$*"
}
show() {
   printf '$ %s\n' "$*"
}

step "1. duetd on a fresh data directory, 127.0.0.1:$PORT"
"$DUETD" --dbpath "$WORK/data" --port "$PORT" --log "$WORK/duetd.log" &
DUETD_PID=$!
for _ in $(seq 100); do
   "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
   sleep 0.1
done

step "2. version 1 of the app: $TASKS tasks {_id: ObjectId, name, complete} in test.Task"
"$PYTHON" - "$URI" "$TASKS" <<'PY' || fail "loading the tasks failed"
import sys, time
import bson, pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)
count, start = int(sys.argv[2]), time.time()
for first in range(0, count, 1000):
    client.test.Task.insert_many([{"_id": bson.ObjectId(), "name": "task %d" % i, "complete": i % 3 == 0}
                                  for i in range(first, min(count, first + 1000))], ordered=False)
print("loaded %d tasks in %.1f s" % (client.test.Task.count_documents({}), time.time() - start))
PY

step "3. version 2 needs _id as a string: what kind of change is that?"
show duet diff "$OLD" "$NEW"
"$DUET" diff "$OLD" "$NEW" 2>/dev/null | sed -n '1,4p'
echo "   ... (exit status 1: breaking; synced clients would be refused by Realm's additive-only check)"

step "4. the plan: a partner collection TaskV2, kept in step both ways"
show duet plan "$OLD" "$NEW" -o "$WORK/spec.json"
"$DUET" plan "$OLD" "$NEW" -o "$WORK/spec.json"
[ $? -eq 1 ] || fail "duet plan should report the breaking change"
printf 'forward: %s\nreverse: %s\n' \
   "$("$PYTHON" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["forward"]))' "$WORK/spec.json")" \
   "$("$PYTHON" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["reverse"]))' "$WORK/spec.json")"

step "5. dry run over the real data (no writes)"
show duet check spec.json --uri "$URI"
"$DUET" check "$WORK/spec.json" --uri "$URI" || fail "duet check found problems"

step "6. apply: TaskV2 created with its validator, mirrors on, backfill online inside duetd"
show duet apply spec.json --uri "$URI"
"$DUET" apply "$WORK/spec.json" --uri "$URI" || fail "duet apply failed"

step "7. a version-1 client (pymongo, Task) and a version-2 client (Node, TaskV2) at the same time"
"$PYTHON" - "$URI" >"$WORK/v1.out" 2>&1 <<'PY' &
import sys, time
import bson, pymongo
tasks = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000).test.Task
for i in range(500):
    _id = bson.ObjectId()
    tasks.insert_one({"_id": _id, "name": "v1 task %d" % i, "complete": False})
    if i % 2 == 0:
        tasks.update_one({"_id": _id}, {"$set": {"complete": True}})
deadline = time.time() + 30
while tasks.count_documents({"name": {"$regex": "^v2 task"}}) < 500 and time.time() < deadline:
    time.sleep(0.05)
seen = tasks.find_one({"name": "v2 task 7 (renamed by v2)"})
print("v1 (pymongo on Task):   wrote 500 tasks; sees %d tasks written by v2, e.g. %r" % (
    tasks.count_documents({"name": {"$regex": "^v2 task"}}), seen))
PY
V1_PID=$!
(cd tests/e2e && node --input-type=module -e '
import { MongoClient, ObjectId } from "mongodb";
const client = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 5000 });
const tasks = client.db("test").collection("TaskV2");
for (let i = 0; i < 500; i++) {
  const _id = new ObjectId().toHexString();
  await tasks.insertOne({ _id, name: `v2 task ${i}`, complete: false });
  if (i === 7) await tasks.updateOne({ _id }, { $set: { name: "v2 task 7 (renamed by v2)" } });
}
const deadline = Date.now() + 30000;
while (await tasks.countDocuments({ name: /^v1 task/ }) < 500 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
const seen = await tasks.findOne({ name: "v1 task 42" });
console.log(`v2 (Node on TaskV2):    wrote 500 tasks; sees ${await tasks.countDocuments({ name: /^v1 task/ })} tasks written by v1, e.g. ${JSON.stringify(seen)}`);
await client.close();
' "$URI") >"$WORK/v2.out" 2>&1 &
V2_PID=$!
wait "$V1_PID" || { cat "$WORK/v1.out"; fail "the version-1 client failed"; }
wait "$V2_PID" || { cat "$WORK/v2.out"; fail "the version-2 client failed"; }
cat "$WORK/v1.out" "$WORK/v2.out"
show duet status --uri "$URI"
"$DUET" status --uri "$URI"

step "8. both collections compared through the transform"
show duet verify spec.json --uri "$URI"
"$DUET" verify "$WORK/spec.json" --uri "$URI" || fail "duet verify found differences"

step "9. done: duetd stops (the migration stays until \`duet retire spec.json --keep new\`)"
kill -TERM "$DUETD_PID"
wait "$DUETD_PID"
status=$?
DUETD_PID=
[ "$status" -eq 0 ] || fail "duetd exited $status"
echo "duetd stopped cleanly"
exit 0
