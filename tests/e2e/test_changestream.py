"""test_changestream.py — change streams through duetd with pymongo: collection, database and
deployment streams; insert/update/replace/delete event shapes; fullDocument (default,
updateLookup, whenAvailable, required) and fullDocumentBeforeChange (pre-images); $match/
$project after $changeStream; tailable awaitData getMore with postBatchResumeToken on empty
batches; resumeAfter/startAfter/startAtOperationTime; invalidate on drop, rename and
dropDatabase; resume after a client reconnect and after a duetd restart; 286 once retention
dropped the resume point; MongoDB's option errors; write-to-event latency."""
import os
import sqlite3
import sys
import threading
import time
import unittest

import bson
import pymongo
from pymongo.errors import OperationFailure

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from duetd_fixture import Duetd, DuetdTestCase  # noqa: E402
import changestream_latency  # noqa: E402


class ChangeStreamTest(DuetdTestCase):
    DATABASE = "streams"

    def next_events(self, stream, count, timeout=10):
        events = []
        deadline = time.time() + timeout
        while len(events) < count and time.time() < deadline:
            event = stream.try_next()
            if event is not None:
                events.append(event)
        self.assertEqual(len(events), count, events)
        return events

    def assert_code(self, code, fn, *args, **kwargs):
        with self.assertRaises(OperationFailure) as caught:
            fn(*args, **kwargs)
        self.assertEqual(caught.exception.code, code, caught.exception.details)
        return caught.exception

    def raw_events(self, db, collection, cursor_id, count, timeout=10):
        """getMore until `count` events came (pymongo 3.11 has no helper for some options)."""
        events = []
        deadline = time.time() + timeout
        while len(events) < count and time.time() < deadline:
            reply = db.command({"getMore": cursor_id, "collection": collection, "maxTimeMS": 200})
            events.extend(reply["cursor"]["nextBatch"])
        self.assertEqual(len(events), count, events)
        return events

    def open_raw(self, pipeline_stage, db=None, collection="raw", **extra):
        command = {"aggregate": collection, "pipeline": [{"$changeStream": pipeline_stage}], "cursor": {}}
        command.update(extra)
        return (db or self.db).command(command)

    # ---- event shapes ------------------------------------------------------------------

    def test_event_shapes(self):
        coll = self.db.events
        with coll.watch(max_await_time_ms=200) as stream:
            self.assertIsNone(stream.try_next())
            self.assertIsNotNone(stream.resume_token)  # postBatchResumeToken of the empty batch
            coll.insert_one({"_id": 1, "a": 1, "arr": [1, 2, 3]})
            coll.update_one({"_id": 1}, {"$set": {"a": 2}, "$unset": {"arr": ""}})
            coll.replace_one({"_id": 1}, {"b": 1})
            coll.delete_one({"_id": 1})
            self.db.other.insert_one({"_id": "elsewhere"})
            insert, update, replace, delete = self.next_events(stream, 4)
            self.assertIsNone(stream.try_next())  # nothing from streams.other
        self.assertEqual(list(insert), ["_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns",
                                        "documentKey"])
        self.assertEqual(insert["operationType"], "insert")
        self.assertEqual(insert["fullDocument"], {"_id": 1, "a": 1, "arr": [1, 2, 3]})
        self.assertEqual(insert["ns"], {"db": "streams", "coll": "events"})
        self.assertEqual(insert["documentKey"], {"_id": 1})
        self.assertIsInstance(insert["clusterTime"], bson.Timestamp)
        self.assertIsInstance(insert["wallTime"], __import__("datetime").datetime)
        self.assertEqual(sorted(insert["_id"]), ["_data"])
        self.assertIsInstance(insert["_id"]["_data"], str)
        self.assertEqual(update["operationType"], "update")
        self.assertEqual(update["updateDescription"],
                         {"updatedFields": {"a": 2}, "removedFields": ["arr"], "truncatedArrays": []})
        self.assertNotIn("fullDocument", update)  # fullDocument: default
        self.assertEqual(update["documentKey"], {"_id": 1})
        self.assertEqual(replace["operationType"], "replace")
        self.assertEqual(replace["fullDocument"], {"_id": 1, "b": 1})
        self.assertEqual(delete["operationType"], "delete")
        self.assertEqual(delete["documentKey"], {"_id": 1})
        self.assertNotIn("fullDocument", delete)
        self.assertNotIn("fullDocumentBeforeChange", delete)
        times = [e["clusterTime"] for e in (insert, update, replace, delete)]
        self.assertEqual(times, sorted(times))
        self.assertEqual(len(set(times)), 4)
        tokens = [e["_id"]["_data"] for e in (insert, update, replace, delete)]
        self.assertEqual(tokens, sorted(tokens))

    # ---- fullDocument and pre-images -------------------------------------------------------

    def test_full_document_modes(self):
        plain = self.db.full_plain
        plain.insert_one({"_id": 1, "n": 0})
        with plain.watch(full_document="updateLookup", max_await_time_ms=200) as lookup, \
                plain.watch(full_document="whenAvailable", max_await_time_ms=200) as available, \
                plain.watch(max_await_time_ms=200) as default:
            plain.update_one({"_id": 1}, {"$inc": {"n": 1}})
            plain.update_one({"_id": 1}, {"$inc": {"n": 1}})
            plain.delete_one({"_id": 1})
            first, second, deleted = self.next_events(lookup, 3)
            # looked up when read: the current version, null once the document is gone
            self.assertIn(first["fullDocument"], ({"_id": 1, "n": 2}, None))
            self.assertNotIn("fullDocument", deleted)
            # without changeStreamPreAndPostImages there is no post-image: null
            self.assertEqual([e.get("fullDocument", "absent") for e in self.next_events(available, 2)], [None, None])
            self.assertNotIn("fullDocument", self.next_events(default, 1)[0])
        with plain.watch(full_document="required", max_await_time_ms=200) as required:
            plain.insert_one({"_id": 2, "n": 0})
            plain.update_one({"_id": 2}, {"$inc": {"n": 1}})
            # the insert before it still arrives; the update without a post-image fails the stream
            self.assertEqual(self.next_events(required, 1)[0]["operationType"], "insert")
            error = self.assert_code(47, self.next_events, required, 1)
            self.assertIn("Change stream was configured to require a post-image for all update events", str(error))

        self.db.create_collection("full_images", changeStreamPreAndPostImages={"enabled": True})
        images = self.db.full_images
        images.insert_one({"_id": 1, "n": 0})
        with images.watch(full_document="whenAvailable", max_await_time_ms=200) as available, \
                images.watch(full_document="required", max_await_time_ms=200) as required:
            images.update_one({"_id": 1}, {"$inc": {"n": 1}})
            images.update_one({"_id": 1}, {"$inc": {"n": 1}})
            self.assertEqual([e["fullDocument"] for e in self.next_events(available, 2)],
                             [{"_id": 1, "n": 1}, {"_id": 1, "n": 2}])  # post-images, not lookups
            self.assertEqual([e["fullDocument"]["n"] for e in self.next_events(required, 2)], [1, 2])
        self.assert_code(2, images.watch, full_document="sometimes")
        self.assert_code(14, self.open_raw, {"fullDocument": 1})

    def test_pre_images(self):
        self.db.create_collection("pre_images", changeStreamPreAndPostImages={"enabled": True})
        coll = self.db.pre_images
        coll.insert_one({"_id": 1, "v": "first"})
        cursors = {mode: self.open_raw({"fullDocumentBeforeChange": mode}, collection="pre_images")["cursor"]["id"]
                   for mode in ("required", "whenAvailable", "off")}
        coll.update_one({"_id": 1}, {"$set": {"v": "second"}})
        coll.replace_one({"_id": 1}, {"v": "third"})
        coll.delete_one({"_id": 1})
        coll.insert_one({"_id": 2})
        for mode in ("required", "whenAvailable"):
            update, replace, delete, insert = self.raw_events(self.db, "pre_images", cursors[mode], 4)
            self.assertEqual(update["fullDocumentBeforeChange"], {"_id": 1, "v": "first"})
            self.assertEqual(replace["fullDocumentBeforeChange"], {"_id": 1, "v": "second"})
            self.assertEqual(delete["fullDocumentBeforeChange"], {"_id": 1, "v": "third"})
            self.assertNotIn("fullDocumentBeforeChange", insert)
        events = self.raw_events(self.db, "pre_images", cursors["off"], 4)
        self.assertTrue(all("fullDocumentBeforeChange" not in e for e in events))
        plain = self.db.pre_plain
        plain.insert_one({"_id": 1})
        available = self.open_raw({"fullDocumentBeforeChange": "whenAvailable"}, collection="pre_plain")
        required = self.open_raw({"fullDocumentBeforeChange": "required"}, collection="pre_plain")
        plain.delete_one({"_id": 1})
        (delete,) = self.raw_events(self.db, "pre_plain", available["cursor"]["id"], 1)
        self.assertIsNone(delete["fullDocumentBeforeChange"])
        error = self.assert_code(47, self.raw_events, self.db, "pre_plain", required["cursor"]["id"], 1)
        self.assertIn("require a pre-image for all update, delete and replace events", str(error))
        self.assert_code(2, self.open_raw, {"fullDocumentBeforeChange": "updateLookup"})

    # ---- stages after $changeStream ---------------------------------------------------------

    def test_pipeline_stages(self):
        coll = self.db.filtered
        with coll.watch([{"$match": {"operationType": "insert", "fullDocument.keep": True}},
                         {"$project": {"fullDocument._id": 0}},
                         {"$addFields": {"seen": True}}], max_await_time_ms=200) as stream:
            coll.insert_many([{"_id": 1, "keep": False}, {"_id": 2, "keep": True}])
            (event,) = self.next_events(stream, 1)
            self.assertEqual(event["fullDocument"], {"keep": True})
            self.assertEqual(event["documentKey"], {"_id": 2})
            self.assertTrue(event["seen"])
        with coll.watch([{"$project": {"_id": 0}}], max_await_time_ms=200) as stream:
            coll.insert_one({"_id": 3})
            self.assert_code(280, self.next_events, stream, 1)
        error = self.assert_code(20, coll.watch, [{"$group": {"_id": None}}])
        self.assertIn("$group is not permitted in a $changeStream pipeline", str(error))
        self.assert_code(40602, coll.aggregate, [{"$match": {}}, {"$changeStream": {}}])

    # ---- scopes ------------------------------------------------------------------------------

    def test_database_and_cluster_streams(self):
        watched = self.client.streams_db
        with watched.watch(max_await_time_ms=200) as db_stream, \
                self.client.watch(max_await_time_ms=200) as cluster_stream:
            watched.one.insert_one({"_id": "a"})
            watched.two.insert_one({"_id": "b"})
            self.client.streams_elsewhere.three.insert_one({"_id": "c"})
            self.client.admin.internal.insert_one({"_id": "hidden"})  # internal: never shown
            db_events = self.next_events(db_stream, 2)
            self.assertEqual([e["ns"]["coll"] for e in db_events], ["one", "two"])
            cluster_events = self.next_events(cluster_stream, 3)
            self.assertEqual([e["documentKey"]["_id"] for e in cluster_events], ["a", "b", "c"])
            self.assertEqual(cluster_events[2]["ns"], {"db": "streams_elsewhere", "coll": "three"})
            self.client.drop_database("streams_db")
            events = self.next_events(db_stream, 4)
            self.assertEqual([e["operationType"] for e in events], ["drop", "drop", "dropDatabase", "invalidate"])
            self.assertEqual(events[2]["ns"], {"db": "streams_db"})
            self.assertFalse(db_stream.alive)
            # the deployment stream sees the drops but is not invalidated
            self.assertEqual([e["operationType"] for e in self.next_events(cluster_stream, 3)],
                             ["drop", "drop", "dropDatabase"])
            self.client.streams_elsewhere.three.insert_one({"_id": "d"})
            self.assertEqual(self.next_events(cluster_stream, 1)[0]["documentKey"], {"_id": "d"})

    # ---- the cursor over the wire ----------------------------------------------------------

    def test_await_data_and_post_batch_resume_token(self):
        reply = self.open_raw({})
        cursor = reply["cursor"]
        self.assertNotEqual(cursor["id"], 0)
        self.assertIsInstance(cursor["id"], bson.int64.Int64)
        self.assertEqual(cursor["firstBatch"], [])
        self.assertEqual(cursor["ns"], "streams.raw")
        self.assertIn("_data", cursor["postBatchResumeToken"])
        self.assertIsInstance(reply["operationTime"], bson.Timestamp)
        started = time.monotonic()
        more = self.db.command({"getMore": cursor["id"], "collection": "raw", "maxTimeMS": 150})["cursor"]
        waited = time.monotonic() - started
        self.assertGreaterEqual(waited, 0.12)
        self.assertLess(waited, 2.0)
        self.assertEqual((more["id"], more["nextBatch"]), (cursor["id"], []))
        self.assertIn("_data", more["postBatchResumeToken"])
        started = time.monotonic()
        more = self.db.command({"getMore": cursor["id"], "collection": "raw"})["cursor"]  # MongoDB's 1 s default
        waited = time.monotonic() - started
        self.assertGreaterEqual(waited, 0.9)
        self.assertLess(waited, 3.0)
        self.db.raw.insert_one({"_id": 1})
        more = self.db.command({"getMore": cursor["id"], "collection": "raw", "maxTimeMS": 1000})["cursor"]
        self.assertEqual([e["documentKey"] for e in more["nextBatch"]], [{"_id": 1}])
        self.assertEqual(more["postBatchResumeToken"], more["nextBatch"][-1]["_id"])
        # writes elsewhere move the high-water mark past the last event
        self.db.unrelated.insert_one({})
        more = self.db.command({"getMore": cursor["id"], "collection": "raw", "maxTimeMS": 100})["cursor"]
        self.assertEqual(more["nextBatch"], [])
        self.assertGreater(more["postBatchResumeToken"]["_data"], more["postBatchResumeToken"]["_data"][:0])
        self.db.command({"killCursors": "raw", "cursors": [cursor["id"]]})

    # ---- resuming -----------------------------------------------------------------------------

    def test_resume(self):
        coll = self.db.resume
        with coll.watch(max_await_time_ms=200) as stream:
            coll.insert_many([{"_id": i} for i in range(5)])
            events = self.next_events(stream, 2)
            token = events[-1]["_id"]
        with coll.watch(resume_after=token, max_await_time_ms=200) as stream:
            self.assertEqual([e["documentKey"]["_id"] for e in self.next_events(stream, 3)], [2, 3, 4])
        with coll.watch(start_after=token, max_await_time_ms=200) as stream:
            self.assertEqual(self.next_events(stream, 1)[0]["documentKey"]["_id"], 2)
        with coll.watch(start_at_operation_time=events[0]["clusterTime"], max_await_time_ms=200) as stream:
            self.assertEqual(self.next_events(stream, 1)[0]["documentKey"]["_id"], 0)  # inclusive
        # the driver resumes by itself when its cursor is gone (killed, or closed by the idle timeout)
        with coll.watch(max_await_time_ms=200) as stream:
            coll.insert_one({"_id": 10})
            self.assertEqual(self.next_events(stream, 1)[0]["documentKey"], {"_id": 10})
            killed = self.db.command({"killCursors": "resume", "cursors": [stream._cursor.cursor_id]})
            self.assertEqual(len(killed["cursorsKilled"]), 1)
            coll.insert_one({"_id": 11})
            self.assertEqual(self.next_events(stream, 1)[0]["documentKey"], {"_id": 11})  # not 10 again
        for bad in ({"_data": "zz"}, {"other": 1}, {"_data": 5}):
            self.assert_code(260, coll.watch, resume_after=bad)
        self.assert_code(14, self.open_raw, {"resumeAfter": "token"})
        error = self.assert_code(50865, self.open_raw, {"resumeAfter": token, "startAfter": token})
        self.assertIn("Do not specify both 'resumeAfter' and 'startAfter'", str(error))
        self.assert_code(40674, self.open_raw, {"resumeAfter": token, "startAtOperationTime": bson.Timestamp(1, 1)})
        self.assert_code(14, self.open_raw, {"startAtOperationTime": 5})
        # a token naming no event the log ever held (an increment no second reaches)
        seconds = events[0]["clusterTime"].time
        bogus = {"_data": "%08X%08X00" % (seconds, 0x7FFFFFFF)}
        with coll.watch(resume_after=bogus, max_await_time_ms=200) as stream:
            while time.time() < seconds + 1.05:
                time.sleep(0.05)
            coll.insert_one({"_id": 100})
            error = self.assert_code(280, self.next_events, stream, 1)
            self.assertIn("the resume token was not found", str(error))

    def test_invalidate_on_drop_and_rename(self):
        coll = self.db.doomed
        coll.insert_one({"_id": 0})
        stream = coll.watch(max_await_time_ms=200)
        coll.insert_one({"_id": 1})
        coll.drop()
        insert, drop, invalidate = self.next_events(stream, 3)
        self.assertEqual((drop["operationType"], invalidate["operationType"]), ("drop", "invalidate"))
        self.assertEqual(sorted(invalidate), ["_id", "clusterTime", "operationType", "wallTime"])
        self.assertFalse(stream.alive)  # the server closed the cursor (id 0)
        error = self.assert_code(260, coll.watch, resume_after=invalidate["_id"])
        self.assertIn("not allowed from an invalidate notification", str(error))
        # resuming after the drop event shows the invalidate again
        with coll.watch(resume_after=drop["_id"], max_await_time_ms=200) as again:
            self.assertEqual(self.next_events(again, 1)[0]["operationType"], "invalidate")
        coll.insert_one({"_id": 2})
        with coll.watch(start_after=invalidate["_id"], max_await_time_ms=200) as after:
            self.assertEqual(self.next_events(after, 1)[0]["documentKey"]["_id"], 2)
        renamed = self.db.renamed_from
        renamed.insert_one({})
        stream = renamed.watch(max_await_time_ms=200)
        target = self.db.renamed_to.watch(max_await_time_ms=200)
        renamed.rename("renamed_to")
        rename, invalidate = self.next_events(stream, 2)
        self.assertEqual(rename["operationType"], "rename")
        self.assertEqual(rename["ns"], {"db": "streams", "coll": "renamed_from"})
        self.assertEqual(rename["to"], {"db": "streams", "coll": "renamed_to"})
        self.assertEqual(invalidate["operationType"], "invalidate")
        # a stream on the rename's target is invalidated as well
        self.assertEqual([e["operationType"] for e in self.next_events(target, 2)], ["rename", "invalidate"])
        stream.close()
        target.close()
        # onto an existing collection with dropTarget: as MongoDB, the replaced collection has no drop
        # event of its own; its streams see the rename, then their invalidate
        self.db.replaced.insert_one({"_id": 1})
        self.db.replacing.insert_one({"_id": 2})
        replaced = self.db.replaced.watch(max_await_time_ms=200)
        self.db.replacing.rename("replaced", dropTarget=True)
        rename, invalidate = self.next_events(replaced, 2)
        self.assertEqual((rename["operationType"], rename["ns"]["coll"], rename["to"]["coll"]),
                         ("rename", "replacing", "replaced"))
        self.assertEqual(invalidate["operationType"], "invalidate")
        replaced.close()
        self.assertEqual(list(self.db.replaced.find()), [{"_id": 2}])

    # ---- namespaces and options -------------------------------------------------------------

    def test_option_errors(self):
        self.assert_code(72, self.open_raw, {"allChangesForCluster": True}, collection=1)
        self.assert_code(72, self.open_raw, {"allChangesForCluster": True}, db=self.client.admin)
        self.assert_code(73, self.open_raw, {}, db=self.client.admin, collection=1)
        self.assert_code(73, self.open_raw, {}, db=self.client.config)
        self.assert_code(73, self.open_raw, {}, db=self.client.local, collection=1)
        self.assert_code(73, self.open_raw, {}, collection="system.views")
        self.assert_code(40415, self.open_raw, {"fullDocumnet": "default"})
        self.assert_code(14, self.open_raw, {"showExpandedEvents": 1})
        self.assert_code(50808, self.db.command, {"aggregate": "raw", "pipeline": [{"$changeStream": 1}],
                                                  "cursor": {}})
        expanded = self.open_raw({"showExpandedEvents": True})["cursor"]["id"]
        self.db.raw.insert_one({"expanded": True})
        self.assertEqual(self.raw_events(self.db, "raw", expanded, 1)[0]["operationType"], "insert")
        self.db.command({"killCursors": "raw", "cursors": [expanded]})

    # ---- latency -----------------------------------------------------------------------------

    def test_write_to_event_latency(self):
        result = changestream_latency.measure(self.duetd.uri(), samples=200)
        print("\nchange stream write-to-event latency: p50 %.3f ms, p99 %.3f ms (max %.3f ms, %d samples)" %
              (result["p50_ms"], result["p99_ms"], result["max_ms"], result["samples"]), file=sys.stderr)
        # no polling interval: a 100 ms poll would put the median near 50 ms.  The 5 ms p99 target is
        # the release-build benchmark's (bench_server); here — an ASan build too, make check running
        # tests two at a time on a shared machine whose CPUs are now and then taken for hundreds of
        # milliseconds — only the median says whether events wait for a poll, and the tail bound
        # only that every event arrives.
        self.assertLess(result["p50_ms"], 25.0, result)
        self.assertLess(result["p99_ms"], 2000.0, result)


class DurableResumeTest(unittest.TestCase):
    """Resume tokens across a client reconnect, a duetd restart, and retention; shutdown."""

    def next_events(self, stream, count, timeout=10):
        return ChangeStreamTest.next_events(self, stream, count, timeout)

    def test_shutdown_ends_a_waiting_get_more_resumably(self):
        duetd = Duetd()
        duetd.start()
        try:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            db = client.shutdown
            cursor_id = db.command({"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})["cursor"]["id"]
            outcome = {}

            def get_more():
                try:
                    outcome["reply"] = db.command({"getMore": cursor_id, "collection": "c", "maxTimeMS": 60000})
                except pymongo.errors.PyMongoError as error:  # pymongo raises 11600 as NotMasterError
                    outcome["error"] = error

            thread = threading.Thread(target=get_more)
            thread.start()
            time.sleep(0.3)  # the getMore is waiting for events
            started = time.monotonic()
            duetd.stop()  # SIGTERM: in-flight commands finish, then a clean exit
            thread.join(10)
            self.assertLess(time.monotonic() - started, 5.0)  # not the getMore's 60 s
            self.assertIn("error", outcome, outcome)
            details = outcome["error"].details
            self.assertEqual(details["code"], 11600, details)
            self.assertEqual(details["codeName"], "InterruptedAtShutdown")
            self.assertEqual(details["errorLabels"], ["ResumableChangeStreamError"])
            client.close()
        finally:
            duetd.cleanup()

    def test_reconnect_restart_and_history_lost(self):
        duetd = Duetd()
        duetd.start()
        try:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            coll = client.persist.things
            with coll.watch(max_await_time_ms=200) as stream:
                coll.insert_one({"_id": 1})
                first = self.next_events(stream, 1)[0]
            token = first["_id"]
            coll.insert_one({"_id": 2})
            client.close()
            # a new client resumes after the token
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            with client.persist.things.watch(resume_after=token, max_await_time_ms=200) as stream:
                self.assertEqual(self.next_events(stream, 1)[0]["documentKey"]["_id"], 2)
                pbrt = stream.resume_token
            client.close()
            # and so does one after a restart on the same data directory
            duetd.stop()
            duetd.start()
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.persist.things.insert_one({"_id": 3})
            with client.persist.things.watch(resume_after=token, max_await_time_ms=200) as stream:
                self.assertEqual([e["documentKey"]["_id"] for e in self.next_events(stream, 2)], [2, 3])
            with client.persist.things.watch(resume_after=pbrt, max_await_time_ms=200) as stream:
                self.assertEqual(self.next_events(stream, 1)[0]["documentKey"]["_id"], 3)
            with client.persist.things.watch(start_at_operation_time=first["clusterTime"],
                                             max_await_time_ms=200) as stream:
                self.assertEqual([e["documentKey"]["_id"] for e in self.next_events(stream, 3)], [1, 2, 3])
            client.close()
            # retention drops the oldest change-log rows: done here on the stopped server's file
            # exactly as the store's retention does it (rows up to a time go, the horizon moves)
            duetd.stop()
            database = sqlite3.connect(os.path.join(duetd.dbpath, "duet.sqlite"))
            upto = (first["clusterTime"].time << 32) + first["clusterTime"].inc
            (size,) = database.execute("SELECT coalesce(sum(size), 0) FROM duet_changelog WHERE ts <= ?",
                                       (upto,)).fetchone()
            self.assertGreater(size, 0)
            database.execute("DELETE FROM duet_changelog WHERE ts <= ?", (upto,))
            database.execute("UPDATE duet_meta SET value = max(value, ?) WHERE key = 'changelog_horizon'", (upto,))
            database.execute("UPDATE duet_meta SET value = value - ? WHERE key = 'changelog_bytes'", (size,))
            database.commit()
            database.close()
            duetd.start()
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            things = client.persist.things
            with self.assertRaises(OperationFailure) as caught:
                things.watch(resume_after=token)
            self.assertEqual(caught.exception.code, 286)
            self.assertIn("Resume of change stream was not possible", str(caught.exception))
            self.assertEqual(caught.exception.details["errorLabels"], ["NonResumableChangeStreamError"])
            with self.assertRaises(OperationFailure) as caught:
                things.watch(start_at_operation_time=first["clusterTime"])
            self.assertEqual(caught.exception.code, 286)
            # what is still retained resumes
            with things.watch(resume_after=pbrt, max_await_time_ms=200) as stream:
                things.insert_one({"_id": 4})
                self.assertEqual([e["documentKey"]["_id"] for e in self.next_events(stream, 2)], [3, 4])
            client.close()
            duetd.stop()
        finally:
            duetd.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
