"""test_changestream_expanded.py — $changeStream {showExpandedEvents: true} through duetd with pymongo
(raw aggregate/getMore: pymongo 3.11 has no option for it), shaped as MongoDB 7.0 shows it: create
events for explicit and implicit creation (insert, upsert, createIndexes, $out) with
operationDescription {<options>, idIndex}; createIndexes and dropIndexes with {indexes: [specs]};
modify (collMod) with the changes and stateBeforeChange.collectionOptions; rename's
operationDescription {to, dropTarget}; collectionUUID on every event equal to listCollections'
info.uuid (none on dropDatabase and invalidate); updateDescription.disambiguatedPaths; MongoDB's
field order; a stream without the option unchanged; resume tokens of DDL events (resumeAfter,
startAfter); $match on operationType; a collection stream; partner-mirrored writes; change-log
rows written before collection UUIDs were recorded."""
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

import bson
import pymongo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from duetd_fixture import Duetd, DuetdTestCase  # noqa: E402
from test_partner_changes import duet, plan, schema  # noqa: E402

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
INT_V1 = schema({"_id": {"bsonType": "int"}, "name": {"bsonType": "string"}}, ["_id", "name"])
INT_V2 = schema({"_id": {"bsonType": "string"}, "name": {"bsonType": "string"}}, ["_id", "name"])


class ExpandedEventsTest(DuetdTestCase):

    def open(self, db, stage=None, collection=1, pipeline=()):
        """Opens a raw change stream; returns (collection name for getMore, cursor id, first batch)."""
        spec = {"showExpandedEvents": True} if stage is None else stage
        reply = db.command({"aggregate": collection, "pipeline": [{"$changeStream": spec}] + list(pipeline),
                            "cursor": {}})
        return ("$cmd.aggregate" if collection == 1 else collection), reply["cursor"]["id"], \
            list(reply["cursor"]["firstBatch"])

    def events(self, db, stream, count, timeout=10):
        """The stream's next `count` events (its first batch first)."""
        collection, cursor_id, first = stream
        events = list(first)
        first.clear()
        deadline = time.time() + timeout
        while len(events) < count and time.time() < deadline:
            reply = db.command({"getMore": cursor_id, "collection": collection, "maxTimeMS": 200})
            events.extend(reply["cursor"]["nextBatch"])
        self.assertEqual(len(events), count, events)
        return events

    def nothing_more(self, db, stream):
        collection, cursor_id, first = stream
        self.assertEqual(first, [])
        reply = db.command({"getMore": cursor_id, "collection": collection, "maxTimeMS": 300})
        self.assertEqual(reply["cursor"]["nextBatch"], [])

    def close(self, db, stream):
        db.command({"killCursors": stream[0], "cursors": [stream[1]]})

    def uuid_of(self, db, name):
        (info,) = db.list_collections(filter={"name": name})
        return info["info"]["uuid"]

    def assert_event(self, event, operation_type, ns, uuid, **fields):
        """Checks the whole event (its _id and times only by type) and MongoDB's field order."""
        self.assertEqual(event["operationType"], operation_type, event)
        self.assertIn("_data", event["_id"])
        self.assertIsInstance(event["clusterTime"], bson.Timestamp)
        expected = {"_id": event["_id"], "operationType": operation_type, "clusterTime": event["clusterTime"]}
        if uuid is not None:
            expected["collectionUUID"] = uuid
        expected["wallTime"] = event["wallTime"]
        expected.update({k: v for k, v in fields.items() if k == "fullDocument"})
        expected["ns"] = ns
        expected.update({k: v for k, v in fields.items() if k != "fullDocument"})
        self.assertEqual(event, expected)
        order = ["_id", "operationType", "clusterTime", "collectionUUID", "wallTime", "fullDocument", "ns",
                 "documentKey", "to", "operationDescription", "updateDescription", "stateBeforeChange"]
        self.assertEqual(list(event), [k for k in order if k in event])

    # ---- every event type ---------------------------------------------------------------------

    def test_create_and_index_events(self):
        db = self.client.xp_create
        stream = self.open(db)
        db.create_collection("explicit", validator={"n": {"$type": "int"}}, validationAction="warn",
                             changeStreamPreAndPostImages={"enabled": True})
        db.implicit.insert_one({"_id": 1})
        db.upserted.update_one({"_id": 2}, {"$set": {"a": 1}}, upsert=True)
        db.indexed.create_indexes([pymongo.IndexModel("a"), pymongo.IndexModel([("b", -1)], name="bee", unique=True)])
        db.implicit.create_indexes([pymongo.IndexModel("x"), pymongo.IndexModel("y", sparse=True)])
        db.implicit.drop_index("x_1")
        db.implicit.drop_indexes()
        events = self.events(db, stream, 11)
        explicit, implicit, upserted, indexed = (self.uuid_of(db, n) for n in
                                                 ("explicit", "implicit", "upserted", "indexed"))
        self.assertEqual(len({explicit, implicit, upserted, indexed}), 4)
        ns = lambda coll: {"db": "xp_create", "coll": coll}  # noqa: E731
        self.assert_event(events[0], "create", ns("explicit"), explicit, operationDescription={
            "changeStreamPreAndPostImages": {"enabled": True}, "validator": {"n": {"$type": "int"}},
            "validationAction": "warn", "idIndex": ID_INDEX})
        self.assert_event(events[1], "create", ns("implicit"), implicit, operationDescription={"idIndex": ID_INDEX})
        self.assert_event(events[2], "insert", ns("implicit"), implicit, fullDocument={"_id": 1},
                          documentKey={"_id": 1})
        self.assert_event(events[3], "create", ns("upserted"), upserted, operationDescription={"idIndex": ID_INDEX})
        self.assert_event(events[4], "insert", ns("upserted"), upserted, fullDocument={"_id": 2, "a": 1},
                          documentKey={"_id": 2})
        # createIndexes on a new (empty) collection: one event per index, as MongoDB logs them
        self.assert_event(events[5], "create", ns("indexed"), indexed, operationDescription={"idIndex": ID_INDEX})
        self.assert_event(events[6], "createIndexes", ns("indexed"), indexed, operationDescription={
            "indexes": [{"v": 2, "key": {"a": 1}, "name": "a_1"}]})
        self.assert_event(events[7], "createIndexes", ns("indexed"), indexed, operationDescription={
            "indexes": [{"v": 2, "key": {"b": -1}, "name": "bee", "unique": True}]})
        # on a collection holding documents: one event for the whole build
        self.assert_event(events[8], "createIndexes", ns("implicit"), implicit, operationDescription={
            "indexes": [{"v": 2, "key": {"x": 1}, "name": "x_1"},
                        {"v": 2, "key": {"y": 1}, "name": "y_1", "sparse": True}]})
        self.assert_event(events[9], "dropIndexes", ns("implicit"), implicit, operationDescription={
            "indexes": [{"v": 2, "key": {"x": 1}, "name": "x_1"}]})
        self.assert_event(events[10], "dropIndexes", ns("implicit"), implicit, operationDescription={
            "indexes": [{"v": 2, "key": {"y": 1}, "name": "y_1", "sparse": True}]})
        self.nothing_more(db, stream)
        self.close(db, stream)

    def test_modify_rename_drop(self):
        db = self.client.xp_ddl
        db.create_collection("m", validator={"a": {"$exists": True}})
        db.create_collection("target")
        m, target = self.uuid_of(db, "m"), self.uuid_of(db, "target")
        stream = self.open(db)
        db.command({"collMod": "m", "validationLevel": "moderate", "changeStreamPreAndPostImages": {"enabled": True}})
        db.m.update_one({"a": 1}, {"$set": {"a": 1}}, upsert=True)
        db.m.update_one({"a": 1}, {"$set": {"b": {"c": 1}}})
        db.m.rename("plain")
        db.plain.rename("target", dropTarget=True)
        db.target.drop()
        db.again.insert_one({"_id": 0})
        again = self.uuid_of(db, "again")
        self.client.drop_database("xp_ddl")
        events = self.events(db, stream, 11)
        ns = lambda coll: {"db": "xp_ddl", "coll": coll}  # noqa: E731
        self.assert_event(events[0], "modify", ns("m"), m,
                          operationDescription={"validationLevel": "moderate",
                                                "changeStreamPreAndPostImages": {"enabled": True}},
                          stateBeforeChange={"collectionOptions": {"uuid": m, "validator": {"a": {"$exists": True}}}})
        document_id = events[1]["documentKey"]["_id"]
        self.assert_event(events[1], "insert", ns("m"), m, fullDocument={"_id": document_id, "a": 1},
                          documentKey={"_id": document_id})
        self.assert_event(events[2], "update", ns("m"), m, documentKey={"_id": document_id},
                          updateDescription={"updatedFields": {"b": {"c": 1}}, "removedFields": [],
                                             "truncatedArrays": [], "disambiguatedPaths": {}})
        self.assert_event(events[3], "rename", ns("m"), m, to=ns("plain"),
                          operationDescription={"to": ns("plain")})
        # dropTarget: as MongoDB, no drop event for the replaced collection, only the rename naming
        # its UUID
        self.assert_event(events[4], "rename", ns("plain"), m, to=ns("target"),
                          operationDescription={"to": ns("target"), "dropTarget": target})
        self.assert_event(events[5], "drop", ns("target"), m)
        self.assert_event(events[6], "create", ns("again"), again, operationDescription={"idIndex": ID_INDEX})
        self.assertEqual(events[7]["operationType"], "insert")
        self.assert_event(events[8], "drop", ns("again"), again)
        self.assert_event(events[9], "dropDatabase", {"db": "xp_ddl"}, None)
        invalidate = events[10]
        self.assertEqual(list(invalidate), ["_id", "operationType", "clusterTime", "wallTime"])
        self.assertEqual(invalidate["operationType"], "invalidate")

    def test_out_and_merge_create(self):
        db = self.client.xp_out
        db.source.insert_many([{"_id": i} for i in range(2)])
        stream = self.open(db)
        list(db.source.aggregate([{"$match": {}}, {"$out": "result"}]))
        result = self.uuid_of(db, "result")
        events = self.events(db, stream, 4)
        temp = events[0]["ns"]["coll"]
        self.assertTrue(temp.startswith("tmp.agg_out."), temp)
        self.assertEqual([e["operationType"] for e in events], ["create", "insert", "insert", "rename"])
        self.assertEqual({e["collectionUUID"] for e in events}, {result})  # the temporary collection, renamed
        self.assertEqual(events[3]["operationDescription"], {"to": {"db": "xp_out", "coll": "result"}})
        # a $merge target is created by its first insert
        list(db.source.aggregate([{"$merge": {"into": "merged"}}]))
        merged = self.uuid_of(db, "merged")
        events = self.events(db, stream, 3)
        self.assertEqual([(e["operationType"], e["ns"]["coll"]) for e in events],
                         [("create", "merged"), ("insert", "merged"), ("insert", "merged")])
        self.assertEqual(events[0]["operationDescription"], {"idIndex": ID_INDEX})
        self.assertEqual({e["collectionUUID"] for e in events}, {merged})
        self.close(db, stream)

    def test_disambiguated_paths(self):
        db = self.client.xp_paths
        db.docs.insert_one({"_id": 1, "o": {"1": 1, "k": 1}, "arr": [{"x": 1, "w": 1}, 2]})
        expanded, plain = self.open(db), self.open(db, {})
        db.docs.update_one({"_id": 1}, {"$set": {"o.1": 2, "arr.0.x": 2}})
        (event,) = self.events(db, expanded, 1)
        self.assertEqual(event["updateDescription"], {
            "updatedFields": {"o.1": 2, "arr.0.x": 2}, "removedFields": [], "truncatedArrays": [],
            "disambiguatedPaths": {"o.1": ["o", "1"]}})
        (event,) = self.events(db, plain, 1)
        self.assertEqual(event["updateDescription"], {
            "updatedFields": {"o.1": 2, "arr.0.x": 2}, "removedFields": [], "truncatedArrays": []})
        self.close(db, expanded)
        self.close(db, plain)

    # ---- the default stream, UUIDs, resuming, filtering --------------------------------------

    def test_default_stream_is_unchanged(self):
        db = self.client.xp_default
        plain, explicit_false = self.open(db, {}), self.open(db, {"showExpandedEvents": False})
        db.create_collection("c")
        db.c.create_index("a")
        db.command({"collMod": "c", "validationLevel": "off"})
        db.c.insert_one({"_id": 1})
        db.c.drop_index("a_1")
        db.d.insert_one({"_id": 2})
        db.c.rename("e")
        for stream in (plain, explicit_false):
            events = self.events(db, stream, 3)
            self.assertEqual([e["operationType"] for e in events], ["insert", "insert", "rename"])
            self.assertEqual(list(events[0]), ["_id", "operationType", "clusterTime", "wallTime", "fullDocument",
                                               "ns", "documentKey"])
            self.assertEqual(list(events[2]), ["_id", "operationType", "clusterTime", "wallTime", "ns", "to"])
            self.nothing_more(db, stream)
            self.close(db, stream)

    def test_collection_uuid_matches_list_collections(self):
        db = self.client.xp_uuid
        stream = self.open(db)
        db.u.insert_one({"_id": 1})
        db.u.update_one({"_id": 1}, {"$set": {"a": 1}})
        db.u.replace_one({"_id": 1}, {"b": 1})
        db.u.delete_one({"_id": 1})
        db.u.drop()
        db.u.insert_one({"_id": 1})  # the same name again: a new collection, a new UUID
        first, *rest, drop, create, insert = self.events(db, stream, 8)
        second = self.uuid_of(db, "u")
        self.assertEqual(first["operationType"], "create")
        self.assertIsInstance(second, type(first["collectionUUID"]))
        self.assertNotEqual(first["collectionUUID"], second)
        self.assertEqual({e["collectionUUID"] for e in [first] + rest + [drop]}, {first["collectionUUID"]})
        self.assertEqual([e["operationType"] for e in rest], ["insert", "update", "replace", "delete"])
        self.assertEqual((create["collectionUUID"], insert["collectionUUID"]), (second, second))
        # the UUID is binary subtype 4 on the wire, as MongoDB sends it
        reply = db.command({"aggregate": 1, "pipeline": [{"$changeStream": {
            "showExpandedEvents": True, "startAfter": first["_id"]}}], "cursor": {"batchSize": 1}},
            codec_options=bson.codec_options.CodecOptions(document_class=bson.raw_bson.RawBSONDocument))
        (raw_event,) = reply["cursor"]["firstBatch"]
        uuid_bytes = raw_event.raw[raw_event.raw.index(b"\x05collectionUUID\x00") + 16:][:5]
        self.assertEqual(uuid_bytes, b"\x10\x00\x00\x00\x04")
        self.close(db, stream)

    def test_resume_from_expanded_events(self):
        db = self.client.xp_resume
        stream = self.open(db)
        db.create_collection("r")
        db.r.create_index("k")
        db.r.insert_one({"_id": 1})
        create, create_indexes, insert = self.events(db, stream, 3)
        self.close(db, stream)
        for option in ("resumeAfter", "startAfter"):
            resumed = self.open(db, {"showExpandedEvents": True, option: create["_id"]})
            self.assertEqual([e["_id"] for e in self.events(db, resumed, 2)],
                             [create_indexes["_id"], insert["_id"]])
            self.close(db, resumed)
        # a token of a DDL event resumes a stream without the option too (it skips DDL events)
        resumed = self.open(db, {"resumeAfter": create["_id"]})
        self.assertEqual([e["operationType"] for e in self.events(db, resumed, 1)], ["insert"])
        self.close(db, resumed)
        # startAtOperationTime of a DDL event includes it
        resumed = self.open(db, {"showExpandedEvents": True, "startAtOperationTime": create_indexes["clusterTime"]})
        self.assertEqual([e["operationType"] for e in self.events(db, resumed, 2)], ["createIndexes", "insert"])
        self.close(db, resumed)

    def test_match_on_operation_type_and_collection_stream(self):
        db = self.client.xp_match
        stream = self.open(db, pipeline=[{"$match": {"operationType": {"$in": ["create", "dropIndexes"]}}},
                                         {"$project": {"operationType": 1, "ns": 1, "collectionUUID": 1}}])
        watched = self.open(db, collection="w")
        db.w.insert_one({"_id": 1})
        db.w.create_index("z")
        db.w.drop_index("z_1")
        db.command({"collMod": "w", "validator": {"z": {"$exists": False}}})
        db.other.insert_one({})
        db.w.drop()
        matched = self.events(db, stream, 3)
        self.assertEqual([(e["operationType"], e["ns"]["coll"]) for e in matched],
                         [("create", "w"), ("dropIndexes", "w"), ("create", "other")])
        self.assertEqual(list(matched[0]), ["_id", "operationType", "collectionUUID", "ns"])
        uuid = matched[0]["collectionUUID"]
        # a stream on the collection: its own DDL events, then the drop ends it
        events = self.events(db, watched, 7)
        self.assertEqual([e["operationType"] for e in events],
                         ["create", "insert", "createIndexes", "dropIndexes", "modify", "drop", "invalidate"])
        self.assertEqual({e["collectionUUID"] for e in events[:-1]}, {uuid})
        self.assertEqual(events[4]["operationDescription"], {"validator": {"z": {"$exists": False}}})
        self.assertEqual(events[4]["stateBeforeChange"], {"collectionOptions": {"uuid": uuid}})
        self.assertNotIn("collectionUUID", events[-1])
        self.close(db, stream)

    def test_partner_mirrored_writes(self):
        """A partner pair's mirrored write: two inserts in one transaction, each with its collection's UUID."""
        db = self.client.test  # the database of duet plan's spec
        tmp = tempfile.mkdtemp(prefix="duet-expanded-")
        try:
            spec_path, _ = plan(tmp, INT_V1, INT_V2)
            db.Task.insert_one({"_id": 1, "name": "one"})
            duet("apply", spec_path, "--uri", self.duetd.uri())
            deadline = time.time() + 10
            while db.TaskV2.count_documents({}) < 1 and time.time() < deadline:
                time.sleep(0.05)
            expanded, plain = self.open(db), self.open(db, {})
            db.Task.insert_one({"_id": 2, "name": "two"})
            task, task_v2 = self.uuid_of(db, "Task"), self.uuid_of(db, "TaskV2")
            source, mirrored = self.events(db, expanded, 2)
            self.assert_event(source, "insert", {"db": "test", "coll": "Task"}, task,
                              fullDocument={"_id": 2, "name": "two"}, documentKey={"_id": 2})
            self.assert_event(mirrored, "insert", {"db": "test", "coll": "TaskV2"}, task_v2,
                              fullDocument={"_id": "2", "name": "two"}, documentKey={"_id": "2"})
            self.assertEqual([("collectionUUID" in e, e["ns"]["coll"]) for e in self.events(db, plain, 2)],
                             [(False, "Task"), (False, "TaskV2")])
            self.close(db, expanded)
            self.close(db, plain)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class OldChangeLogRowsTest(unittest.TestCase):
    """Rows of duet_changelog written before duetd recorded collection UUIDs and DDL events."""

    def test_old_rows_read_in_both_kinds_of_stream(self):
        with Duetd() as duetd:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.old.things.insert_one({"_id": 0})
            client.close()
            duetd.stop()
            database = sqlite3.connect(os.path.join(duetd.dbpath, "duet.sqlite"))
            (latest,) = database.execute("SELECT max(ts) FROM duet_changelog").fetchone()
            # the earlier format: no "c" (UUID), no "d"/"s", codes 0-7 only
            events = (bson.encode({"t": bson.int64.Int64(latest + 1), "n": "old.gone", "f": {"_id": 7}}) +
                      bson.encode({"o": 5, "x": {"to": {"db": "old", "coll": "moved"}}}))
            database.execute("INSERT INTO duet_changelog(ts, first_ts, wall, events, size) VALUES(?, ?, ?, ?, ?)",
                             (latest + 2, latest + 1, int(time.time() * 1000), events, len(events) + 40))
            database.commit()
            database.close()
            duetd.start()
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            start = bson.Timestamp(latest >> 32, latest & 0xFFFFFFFF)
            for expanded in (True, False):
                reply = client.old.command({"aggregate": 1, "pipeline": [{"$changeStream": {
                    "showExpandedEvents": expanded, "startAtOperationTime": start}}], "cursor": {}})
                events = reply["cursor"]["firstBatch"]
                cursor_id = reply["cursor"]["id"]
                deadline = time.time() + 10
                while len(events) < 3 and time.time() < deadline:
                    events += client.old.command({"getMore": cursor_id, "collection": "$cmd.aggregate",
                                                  "maxTimeMS": 200})["cursor"]["nextBatch"]
                insert_new, insert_old, rename = events[:3]
                self.assertEqual(insert_new["documentKey"], {"_id": 0})
                self.assertEqual("collectionUUID" in insert_new, expanded)
                self.assertEqual(insert_old["documentKey"], {"_id": 7})
                self.assertEqual(insert_old["ns"], {"db": "old", "coll": "gone"})
                self.assertNotIn("collectionUUID", insert_old)
                self.assertEqual(rename["to"], {"db": "old", "coll": "moved"})
                if expanded:
                    self.assertEqual(rename["operationDescription"], {"to": {"db": "old", "coll": "moved"}})
                else:
                    self.assertNotIn("operationDescription", rename)
                client.old.command({"killCursors": "$cmd.aggregate", "cursors": [cursor_id]})
            client.close()


if __name__ == "__main__":
    unittest.main()
