"""test_partner_mirror.py — mirror semantics at duetd: a write that cannot be mirrored fails as a
whole on either side (transform failure 241, validator 121, _id collision 11000) with a message
naming the partner, and nothing diverges; $out into a mirrored collection is refused, and so are
drop, dropDatabase and renameCollection of either side; collMod
with a breaking $jsonSchema change is refused with Realm's additive-only message, a
non-breaking one goes through; the admin commands' errors; duetd's restart restores the
mirrors before serving; status and retire."""
import os
import tempfile
import unittest

import bson
import pymongo
from pymongo.errors import OperationFailure, WriteError

from duetd_fixture import Duetd
from test_partner_changes import TASK_V1, TASK_V2, duet, duet_json, plan, schema

INT_V1 = schema({"_id": {"bsonType": "int"}, "name": {"bsonType": "string"}}, ["_id", "name"])
INT_V2 = schema({"_id": {"bsonType": "string"}, "name": {"bsonType": "string"}}, ["_id", "name"])


class PartnerMirrorTest(unittest.TestCase):
    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.tmp = tempfile.mkdtemp(prefix="duet-mirror-")
        self.db = self.client.test

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def start(self, old, new, docs):
        spec_path, spec = plan(self.tmp, old, new)
        self.db.Task.insert_many(docs)
        duet("apply", spec_path, "--uri", self.uri)
        return spec_path

    def assert_same(self, spec_path):
        self.assertEqual(duet_json("verify", spec_path, "--uri", self.uri)["differences"], 0)

    def test_unmirrorable_writes_fail_on_both_sides(self):
        spec_path = self.start(INT_V1, INT_V2, [{"_id": i, "name": "n%d" % i} for i in range(20)])
        counts = (self.db.Task.count_documents({}), self.db.TaskV2.count_documents({}))
        # version 2 writes an _id the reverse transform cannot convert back ($toInt): 241
        with self.assertRaises(WriteError) as caught:
            self.db.TaskV2.insert_one({"_id": "not a number", "name": "x"})
        self.assertEqual(caught.exception.code, 241)
        self.assertIn("partner link test.Task:TaskV2", str(caught.exception))
        # version 1 writes a document the partner's validator rejects (name is required): 121
        with self.assertRaises(WriteError) as caught:
            self.db.Task.insert_one({"_id": 100})
        self.assertEqual(caught.exception.code, 121)
        self.assertIn("TaskV2", str(caught.exception))
        # version 1 writes an _id that collides once transformed ("5" and 5): 11000
        with self.assertRaises(WriteError) as caught:
            self.db.Task.insert_one({"_id": "5", "name": "collides with 5"})
        self.assertEqual(caught.exception.code, 11000)
        # an update that the partner's validator rejects fails as a whole, on either side
        with self.assertRaises(WriteError) as caught:
            self.db.Task.update_one({"_id": 3}, {"$set": {"name": 42}})
        self.assertEqual(caught.exception.code, 121)
        with self.assertRaises(WriteError):
            self.db.TaskV2.update_one({"_id": "3"}, {"$set": {"name": 42}})
        self.assertEqual(self.db.Task.find_one({"_id": 3})["name"], "n3")
        self.assertEqual(self.db.TaskV2.find_one({"_id": "3"})["name"], "n3")
        # a batch stops at the failing document; what came before it was mirrored
        with self.assertRaises(pymongo.errors.BulkWriteError):
            self.db.TaskV2.insert_many([{"_id": "200", "name": "ok"}, {"_id": "x", "name": "bad"}])
        self.assertEqual(self.db.Task.find_one({"_id": 200})["name"], "ok")
        self.assertEqual((self.db.Task.count_documents({}), self.db.TaskV2.count_documents({})),
                         (counts[0] + 1, counts[1] + 1))
        self.assert_same(spec_path)
        status = duet_json("status", spec_path, "--uri", self.uri)["migrations"][0]
        self.assertGreaterEqual(status["mirror_errors"], 5)
        self.assertGreaterEqual(status["mirrored"], 1)

    def test_out_and_collmod(self):
        docs = [{"_id": bson.ObjectId(), "name": "t%d" % i} for i in range(10)]
        spec_path = self.start(TASK_V1, TASK_V2, docs)
        self.db.Other.insert_one({"name": "other"})
        for target in ("Task", "TaskV2"):
            with self.assertRaises(OperationFailure) as caught:
                list(self.db.Other.aggregate([{"$out": target}]))
            self.assertEqual(caught.exception.code, 20)
            self.assertIn("mirrored by partner link test.Task:TaskV2", str(caught.exception))
        list(self.db.Other.aggregate([{"$out": "Elsewhere"}]))  # unrelated targets are fine
        self.assertEqual(self.db.Task.count_documents({}), 10)

        # TaskV2 has the schema as validator: a breaking change through collMod is refused
        breaking = {"bsonType": "object", "required": ["_id", "name"],
                    "properties": {"_id": {"bsonType": "string"}, "name": {"bsonType": "int"}}}
        with self.assertRaises(OperationFailure) as caught:
            self.db.command("collMod", "TaskV2", validator={"$jsonSchema": breaking})
        self.assertEqual(caught.exception.code, 2019)
        message = str(caught.exception)
        self.assertIn("cannot be made in additive-only schema mode", message)
        self.assertIn("duet plan", message)
        # an additive change goes through
        additive = {"bsonType": "object", "required": ["_id", "name"],
                    "properties": {"_id": {"bsonType": "string"}, "name": {"bsonType": "string"},
                                   "complete": {"bsonType": "bool"}, "due": {"bsonType": "date"}}}
        self.db.command("collMod", "TaskV2", validator={"$jsonSchema": additive})
        info = self.db.command("listCollections", filter={"name": "TaskV2"})["cursor"]["firstBatch"][0]
        self.assertIn("due", info["options"]["validator"]["$jsonSchema"]["properties"])
        duet("retire", spec_path, "--keep", "new", "--uri", self.uri)
        list(self.db.Other.aggregate([{"$out": "Task"}]))  # retired: no longer mirrored

    def test_drop_and_rename_refused_while_mirrored(self):
        docs = [{"_id": bson.ObjectId(), "name": "t%d" % i} for i in range(5)]
        spec_path = self.start(TASK_V1, TASK_V2, docs)
        self.db.Other.insert_one({"name": "other"})
        attempts = [
            lambda: self.db.Task.drop(),
            lambda: self.db.TaskV2.drop(),
            lambda: self.client.drop_database("test"),
            lambda: self.db.Task.rename("TaskOld"),
            lambda: self.db.Other.rename("TaskV2", dropTarget=True),
        ]
        for attempt in attempts:
            with self.assertRaises(OperationFailure) as caught:
                attempt()
            self.assertEqual(caught.exception.code, 20)
            self.assertIn("mirrored by partner link test.Task:TaskV2", str(caught.exception))
            self.assertIn("duet retire", str(caught.exception))
        self.assertEqual(self.db.Task.count_documents({}), 5)
        self.assertEqual(self.db.TaskV2.count_documents({}), 5)
        self.db.Other.rename("Unrelated")  # collections outside the pair are not affected
        self.assert_same(spec_path)
        duet("retire", spec_path, "--keep", "new", "--uri", self.uri)
        self.db.Task.drop()  # retired: the old side may go
        self.assertNotIn("Task", self.db.list_collection_names())

    def test_commands_and_restart(self):
        spec_path = self.start(TASK_V1, TASK_V2, [{"_id": bson.ObjectId(), "name": "t%d" % i} for i in range(50)])
        admin = self.client.admin
        # errors with MongoDB codes
        with self.assertRaises(OperationFailure) as caught:
            self.db.command("duetStatus")
        self.assertEqual(caught.exception.code, 13)  # admin only
        with self.assertRaises(OperationFailure) as caught:
            admin.command("duetApply", 1)
        self.assertEqual(caught.exception.code, 9)
        with self.assertRaises(OperationFailure) as caught:
            admin.command("duetCheck", 1, spec={"version": 1})
        self.assertIn(caught.exception.code, (2, 9, 14))
        with self.assertRaises(OperationFailure) as caught:
            admin.command("duetStatus", 1, bogus=1)
        self.assertEqual(caught.exception.code, 40415)
        with self.assertRaises(OperationFailure) as caught:
            admin.command("duetStatus", 1, name="test.Nope:NopeV2")
        self.assertEqual(caught.exception.code, 26)
        with self.assertRaises(OperationFailure) as caught:
            admin.command("duetRetire", 1, name="test.Task:TaskV2", keep="both")
        self.assertEqual(caught.exception.code, 2)
        result = duet("apply", spec_path, "--uri", self.uri, expect=2)  # exists already
        self.assertIn("code 48", result.stderr)
        result = duet("status", "--uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300", expect=2)
        self.assertIn("cannot reach duetd", result.stderr)
        duet("check", "/nonexistent/spec.json", expect=2)
        duet("retire", spec_path, expect=2)  # --keep missing

        # restart: the mirrors are back before the first client is served
        self.client.close()
        self.duetd.stop()
        self.duetd.start()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.db = self.client.test
        self.assertIn("Partner link restored", self.duetd.log_text())
        self.db.Task.insert_one({"_id": bson.ObjectId(), "name": "after restart"})
        self.assertIsNotNone(self.db.TaskV2.find_one({"name": "after restart"}))
        human = duet("status", "--uri", self.uri).stdout
        self.assertIn("test.Task -> test.TaskV2: mirroring, backfill 50/50", human)
        self.assert_same(spec_path)
        out = duet("retire", spec_path, "--keep", "old", "--drop", "--uri", self.uri).stdout
        self.assertIn("test.TaskV2 dropped", out)
        self.assertNotIn("TaskV2", self.db.list_collection_names())
        self.db.Task.insert_one({"_id": bson.ObjectId(), "name": "not mirrored"})
        self.assertEqual(duet("status", "--uri", self.uri).stdout.strip(), "no migration is running on this duetd")


if __name__ == "__main__":
    unittest.main(verbosity=2)
