"""test_partner_concurrent.py — the backfill under load and under crashes: random writers on
both sides (version 1 on Task, version 2 on TaskV2) during and after the backfill end with
`duet verify` at 0; duetd killed with SIGKILL at random points of a backfill, restarted,
resumes by itself where it stopped and ends with `duet verify` at 0.
PARTNER_SEED=<n> replays a run (the seed is printed)."""
import json
import os
import random
import tempfile
import threading
import time
import unittest

import pymongo
from pymongo.errors import PyMongoError

from duetd_fixture import Duetd
from test_partner_changes import duet, duet_json, plan, schema

INT_V1 = schema({"_id": {"bsonType": "int"}, "name": {"bsonType": "string"}, "n": {"bsonType": "int"}},
                ["_id", "name"])
INT_V2 = schema({"_id": {"bsonType": "string"}, "name": {"bsonType": "string"}, "n": {"bsonType": "int"}},
                ["_id", "name"])
SEED = int(os.environ.get("PARTNER_SEED") or time.time())
print("PARTNER_SEED=%d" % SEED, flush=True)


def small_chunks(spec_path, chunk_size):
    with open(spec_path) as f:
        spec = json.load(f)
    spec["options"]["chunk_size"] = chunk_size
    with open(spec_path, "w") as f:
        json.dump(spec, f)


def migration(client):
    return client.admin.command("duetStatus")["migrations"][0]


class Writer(threading.Thread):
    """Random inserts, updates, replaces and deletes on one side until stopped."""

    def __init__(self, uri, side, index, count):
        super().__init__(daemon=True)
        self.client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self.side, self.index, self.count = side, index, count
        self.random = random.Random(SEED * 10 + index)
        self.stop = threading.Event()
        self.ops = 0
        self.failure = None
        self.next_id = 1000000 * (index + 1)

    def key(self, value):
        return value if self.side == "Task" else str(value)

    def run(self):
        coll = self.client.test[self.side]
        try:
            while not self.stop.is_set():
                op = self.random.random()
                target = self.key(self.random.randrange(self.count))
                if op < 0.3:
                    self.next_id += 1
                    coll.insert_one({"_id": self.key(self.next_id), "name": "%s-%d" % (self.side, self.index),
                                     "n": 0})
                elif op < 0.6:
                    coll.update_one({"_id": target}, {"$inc": {"n": 1}, "$set": {"by": self.side}})
                elif op < 0.8:
                    coll.replace_one({"_id": target}, {"name": "replaced by %s" % self.side, "n": -1})
                elif op < 0.9:
                    coll.delete_one({"_id": target})
                else:
                    coll.update_many({"_id": {"$in": [target, self.key(self.random.randrange(self.count))]}},
                                     {"$set": {"many": self.index}})
                self.ops += 1
        except PyMongoError as e:  # no write may fail: every one of them is mirrorable
            self.failure = e
        finally:
            self.client.close()


class PartnerConcurrentTest(unittest.TestCase):
    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.tmp = tempfile.mkdtemp(prefix="duet-concurrent-")

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def load(self, count, chunk_size):
        spec_path, _ = plan(self.tmp, INT_V1, INT_V2)
        small_chunks(spec_path, chunk_size)
        self.client.test.Task.insert_many([{"_id": i, "name": "task %d" % i, "n": 0} for i in range(count)])
        return spec_path

    def wait_done(self, timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = migration(self.client)
            self.assertNotIn("error", status)
            if status["state"] != "backfilling":
                return status
            time.sleep(0.05)
        self.fail("the backfill did not finish")

    def test_random_writers_during_and_after_backfill(self):
        count = 20000
        spec_path = self.load(count, 100)
        duet("apply", spec_path, "--detach", "--uri", self.uri)
        writers = [Writer(self.uri, side, i, count) for i, side in enumerate(["Task", "Task", "TaskV2", "TaskV2"])]
        for w in writers:
            w.start()
        status = self.wait_done()
        time.sleep(1.0)  # and after the backfill
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(30)
            self.assertIsNone(w.failure, "writer %d on %s failed: %s" % (w.index, w.side, w.failure))
            self.assertGreater(w.ops, 0)
        report = duet_json("verify", spec_path, "--uri", self.uri)
        self.assertEqual(report["differences"], 0, report)
        self.assertEqual(report["source_count"], report["partner_count"])
        status = migration(self.client)
        self.assertGreater(status["mirrored"], 0)
        self.assertEqual(status["mirror_errors"], 0)

    def test_kill_9_during_backfill_resumes(self):
        count = 50000
        spec_path = self.load(count, 20)
        duet("apply", spec_path, "--detach", "--uri", self.uri)
        rng = random.Random(SEED)
        kills = 0
        for round_number in range(3):
            # a random point of what is left, from the rate duetd reports (builds differ in speed)
            status = migration(self.client)
            if round_number == 0:
                time.sleep(rng.uniform(0, 0.02))  # early in the first run (fast builds finish in about a second)
            while round_number > 0 and status["state"] == "backfilling" and status["rate"] <= 0:
                time.sleep(0.01)
                status = migration(self.client)
            if round_number > 0 and status["state"] == "backfilling":
                left = (status["total"] - status["done"]) / status["rate"]
                time.sleep(rng.uniform(0.05, 0.4) * left)
            before = migration(self.client)
            if before["state"] != "backfilling":
                break
            # a few writes on both sides between crashes
            self.client.test.Task.insert_one({"_id": 5000000 + round_number, "name": "v1 before kill", "n": 0})
            self.client.test.TaskV2.update_one({"_id": str(rng.randrange(count))}, {"$inc": {"n": 100}})
            self.client.close()
            self.duetd.process.kill()  # SIGKILL: no chance to stop cleanly
            self.duetd.process.wait()
            self.duetd.process.stdout.close()
            self.duetd.process.stderr.close()
            kills += 1
            self.duetd.start()
            self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
            after = migration(self.client)
            self.assertLessEqual(after["done"], count + round_number + 1)  # + the inserts after the last _id
            self.assertGreaterEqual(after["done"], before["done"], "progress went back: %s -> %s" % (before, after))
            self.assertIsNotNone(self.client.test.TaskV2.find_one({"_id": str(5000000 + round_number)}))
        self.assertGreater(kills, 0, "the backfill finished before the first kill")
        self.assertIn("resuming its backfill", self.duetd.log_text())
        status = self.wait_done()
        # an insert after the last _id is counted when the backfill had not finished before it
        self.assertIn(status["done"], range(count, count + kills + 1))
        report = duet_json("verify", spec_path, "--uri", self.uri)
        self.assertEqual(report["differences"], 0, report)
        self.assertEqual(report["partner_count"], count + kills)


if __name__ == "__main__":
    unittest.main(verbosity=2)
