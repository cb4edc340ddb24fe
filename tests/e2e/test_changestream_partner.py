"""test_changestream_partner.py — writes made inside duetd, not by the client being served,
reach waiting change streams at once: the partner backfill (a background thread of duetd)
and the partner mirror (a hook writing the partner in the client's transaction).  A getMore
waits 10 s here, so a write that failed to wake it would show as a 10 s stall."""
import os
import sys
import tempfile
import threading
import time
import unittest

import pymongo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from duetd_fixture import Duetd  # noqa: E402
from test_partner_changes import TASK_V1, TASK_V2, duet, plan  # noqa: E402

AWAIT_MS = 10000


class Collector(threading.Thread):
    """Runs getMore (maxTimeMS AWAIT_MS) on a change-stream cursor until `count` events came."""

    def __init__(self, uri, db, collection, cursor_id, count):
        super().__init__(daemon=True)
        self.client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self.db, self.collection, self.cursor_id, self.count = db, collection, cursor_id, count
        self.events, self.longest_wait, self.failure = [], 0.0, None
        self.done = threading.Event()

    def run(self):
        try:
            deadline = time.time() + 60
            while len(self.events) < self.count and time.time() < deadline:
                started = time.monotonic()
                reply = self.client[self.db].command({"getMore": self.cursor_id, "collection": self.collection,
                                                      "maxTimeMS": AWAIT_MS})
                batch = reply["cursor"]["nextBatch"]
                if batch:
                    self.longest_wait = max(self.longest_wait, time.monotonic() - started)
                for event in batch:
                    self.events.append((time.perf_counter(), event))
        except Exception as error:  # reported by the test
            self.failure = error
        finally:
            self.client.close()
            self.done.set()


class ChangeStreamPartnerTest(unittest.TestCase):
    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.db = self.client.test
        self.tmp = tempfile.mkdtemp(prefix="duet-cs-partner-")

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def open_stream(self, collection):
        reply = self.db.command({"aggregate": collection, "pipeline": [{"$changeStream": {}}], "cursor": {}})
        self.assertEqual(reply["cursor"]["firstBatch"], [])
        return reply["cursor"]["id"]

    def test_backfill_and_mirror_wake_waiting_streams(self):
        count = 10000
        spec_path, _ = plan(self.tmp, TASK_V1, TASK_V2)
        self.db.Task.insert_many([{"name": "task %d" % i, "complete": i % 2 == 0} for i in range(count)])
        # a getMore on the partner is already waiting when the backfill thread starts writing
        collector = Collector(self.uri, "test", "TaskV2", self.open_stream("TaskV2"), count + 1)
        collector.start()
        time.sleep(0.3)
        started = time.monotonic()
        duet("apply", spec_path, "--detach", "--uri", self.uri)
        applied = time.monotonic() - started
        deadline = time.time() + 60
        while len(collector.events) < count and time.time() < deadline and collector.failure is None:
            time.sleep(0.01)
        self.assertIsNone(collector.failure)
        self.assertEqual(len(collector.events), count)
        backfill_seconds = time.monotonic() - started
        print("\napply returned after %.2f s, %d backfilled events arrived after %.2f s" %
              (applied, count, backfill_seconds), file=sys.stderr)
        self.assertLess(backfill_seconds, AWAIT_MS / 1000 - 1, "a backfill commit did not wake the stream")
        self.assertLess(collector.longest_wait, AWAIT_MS / 1000 - 1)
        inserted = [event for _, event in collector.events]
        self.assertTrue(all(e["operationType"] == "insert" for e in inserted))
        self.assertTrue(all(isinstance(e["documentKey"]["_id"], str) for e in inserted))  # transformed _id
        self.assertEqual(len({e["documentKey"]["_id"] for e in inserted}), count)
        # the mirror: a version-1 write shows up on the version-2 stream, promptly
        time.sleep(0.3)  # the collector is waiting again
        written = time.perf_counter()
        result = self.db.Task.insert_one({"name": "mirrored", "complete": False})
        collector.done.wait(AWAIT_MS / 1000)
        self.assertIsNone(collector.failure)
        arrived, event = collector.events[-1]
        self.assertEqual(event["fullDocument"], {"_id": str(result.inserted_id), "name": "mirrored",
                                                 "complete": False})
        self.assertLess(arrived - written, 1.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
