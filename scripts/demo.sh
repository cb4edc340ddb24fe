#!/usr/bin/env bash
# demo.sh — the main job on the embedded default.  Until partner collections exist it runs
# `duet diff` on the seeds' Task -> TaskV2 schemas (_id objectId -> string) and explains the
# verdict.  Run from the repository root after `make build` (`make demo` does both).
set -u
cd "$(dirname "$0")/.."

DUET=${DUET:-build/bin/duet}
OLD=tests/fixtures/schemas/task.json
NEW=tests/fixtures/schemas/taskv2.json

if [ ! -x "$DUET" ]; then
   echo "demo: $DUET is missing; run 'make build' first (or 'make demo')" >&2
   exit 2
fi

cat <<'TEXT'
== duet demo: the seeds' Task -> TaskV2 schema change ==

Version 1 of the app syncs Task {_id: objectId, name: string, complete: bool (default false)}.
Version 2 needs _id as a string.  `duet diff` classifies the change the way Atlas Device Sync
does: server-side and client-side verdicts, the handling the docs prescribe, and the line
Realm's additive-only check prints.

TEXT
echo "\$ $DUET diff $OLD $NEW"
"$DUET" diff "$OLD" "$NEW" 2>&1
status=$?
echo
echo "(exit status $status: 0 = no breaking change, 1 = breaking, 2 = bad input)"
cat <<'TEXT'

What this means: changing the type of _id (the primary key) breaks both the server-side schema
and every client object model, so synced version-1 clients would fail with the message above.
The seeds' answer is a partner collection: TaskV2 with the new schema, filled from Task through
{$addFields: {_id: {$toString: "$_id"}}} and kept in step both ways, so version-1 clients keep
using Task while version-2 clients use TaskV2.  (The warning above: the seeds write bsonType
"boolean"; the BSON type name is "bool".)

The same diff as JSON, for scripts (`--json`):
TEXT
echo "\$ $DUET diff --json $OLD $NEW"
"$DUET" diff --json "$OLD" "$NEW" 2>/dev/null
json_status=$?
if [ "$status" -ne 1 ] || [ "$json_status" -ne 1 ]; then
   echo "demo: expected exit status 1 (breaking) from duet diff, got $status and $json_status" >&2
   exit 1
fi
exit 0
