"""test_write.py — pymongo updates, replacements, upserts, deletes and
find_one_and_* through duetd: n/nModified/upserted as drivers read them,
ordered and unordered write errors, update operators and arrayFilters,
immutable _id, validators, and the write commands' type errors."""
import unittest

import bson

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, OperationFailure, WriteError

from duetd_fixture import Duetd, DuetdTestCase


class WriteTest(DuetdTestCase):
    DATABASE = "writes"

    def setUp(self):
        self.coll = self.db[self._testMethodName]
        self.coll.insert_many([{"_id": i, "n": i, "tags": ["x", "y"], "complete": False} for i in range(10)])

    def test_update_one_and_many(self):
        result = self.coll.update_one({"_id": 3}, {"$set": {"complete": True}, "$inc": {"n": 10}})
        self.assertEqual((result.matched_count, result.modified_count), (1, 1))
        self.assertEqual(self.coll.find_one({"_id": 3}), {"_id": 3, "n": 13, "tags": ["x", "y"], "complete": True})
        result = self.coll.update_many({"n": {"$lt": 5}}, {"$set": {"complete": True}})  # _id 3 has n 13 now
        self.assertEqual((result.matched_count, result.modified_count), (4, 4))
        result = self.coll.update_many({"n": {"$lt": 5}}, {"$set": {"complete": True}})
        self.assertEqual((result.matched_count, result.modified_count), (4, 0))  # no-op updates
        result = self.coll.update_one({"_id": 99}, {"$set": {"a": 1}})
        self.assertEqual((result.matched_count, result.modified_count, result.upserted_id), (0, 0, None))
        self.coll.update_one({"_id": 1}, {"$set": {"tags.$[t]": "z"}}, array_filters=[{"t": "y"}])
        self.assertEqual(self.coll.find_one({"_id": 1})["tags"], ["x", "z"])
        self.coll.update_one({"_id": 2}, [{"$set": {"double": {"$multiply": ["$n", 2]}}}])
        self.assertEqual(self.coll.find_one({"_id": 2})["double"], 4)

    def test_replace_and_upsert(self):
        result = self.coll.replace_one({"_id": 4}, {"name": "replaced"})
        self.assertEqual(result.modified_count, 1)
        self.assertEqual(self.coll.find_one({"_id": 4}), {"_id": 4, "name": "replaced"})
        result = self.coll.update_one({"key": "new"}, {"$set": {"v": 1}}, upsert=True)
        self.assertEqual((result.matched_count, result.modified_count), (0, 0))
        self.assertIsNotNone(result.upserted_id)
        self.assertEqual(self.coll.find_one({"_id": result.upserted_id}, {"_id": 0}), {"key": "new", "v": 1})
        result = self.coll.replace_one({"_id": "rep"}, {"x": 1}, upsert=True)
        self.assertEqual(result.upserted_id, "rep")
        reply = self.db.command({"update": self._testMethodName, "updates": [
            {"q": {"_id": 0}, "u": {"$set": {"a": 1}}},
            {"q": {"_id": "up2"}, "u": {"$set": {"a": 1}}, "upsert": True}]})
        self.assertEqual((reply["n"], reply["nModified"]), (2, 1))
        self.assertEqual(reply["upserted"], [{"index": 1, "_id": "up2"}])

    def test_update_errors(self):
        with self.assertRaises(WriteError) as caught:
            self.coll.update_one({"_id": 1}, {"$set": {"_id": 2}})
        self.assertEqual(caught.exception.code, 66)
        with self.assertRaises(WriteError) as caught:
            self.coll.update_one({"_id": 1}, {"$inc": {"tags": 1}})
        self.assertEqual(caught.exception.code, 14)
        self.assertIn("Plan executor error during update", str(caught.exception))
        with self.assertRaises(WriteError) as caught:
            self.coll.update_one({"_id": 1}, {"$bogus": {"a": 1}})
        self.assertEqual(caught.exception.code, 9)
        # unordered: the failing statement is skipped, the others apply
        with self.assertRaises(BulkWriteError) as caught:
            self.coll.bulk_write([pymongo.UpdateOne({"_id": 1}, {"$set": {"_id": 5}}),
                                  pymongo.UpdateOne({"_id": 2}, {"$set": {"ok": True}})], ordered=False)
        self.assertEqual(caught.exception.details["nModified"], 1)
        self.assertEqual(caught.exception.details["writeErrors"][0]["index"], 0)
        self.assertTrue(self.coll.find_one({"_id": 2})["ok"])
        for command, code in [({"update": self._testMethodName}, 40414),
                              ({"update": self._testMethodName, "updates": []}, 16),
                              ({"update": 1, "updates": [{"q": {}, "u": {}}]}, 73)]:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                self.db.command(command)
            self.assertEqual(caught.exception.code, code, str(command))
        reply = self.db.command({"update": self._testMethodName,
                                 "updates": [{"q": {}, "u": {"a": 1}, "multi": True}]})
        self.assertEqual(reply["writeErrors"][0]["code"], 9)

    def test_delete(self):
        self.assertEqual(self.coll.delete_one({"n": {"$gte": 5}}).deleted_count, 1)
        self.assertEqual(self.coll.delete_many({"n": {"$gte": 5}}).deleted_count, 4)
        self.assertEqual(self.coll.delete_many({"nothing": 1}).deleted_count, 0)
        self.assertEqual(sorted(d["_id"] for d in self.coll.find()), [0, 1, 2, 3, 4])
        reply = self.db.command({"delete": self._testMethodName, "deletes": [{"q": {}, "limit": 2}]})
        self.assertEqual(reply["writeErrors"][0]["code"], 9)
        self.assertEqual(self.coll.delete_many({}).deleted_count, 5)

    def test_find_and_modify(self):
        before = self.coll.find_one_and_update({"n": {"$gte": 7}}, {"$set": {"complete": True}},
                                               sort=[("n", -1)])
        self.assertEqual((before["_id"], before["complete"]), (9, False))
        after = self.coll.find_one_and_update({"_id": 8}, {"$inc": {"n": 1}}, projection={"n": 1, "_id": 0},
                                              return_document=ReturnDocument.AFTER)
        self.assertEqual(after, {"n": 9})
        self.assertIsNone(self.coll.find_one_and_update({"_id": 100}, {"$set": {"a": 1}}))
        upserted = self.coll.find_one_and_update({"_id": 100}, {"$set": {"a": 1}}, upsert=True,
                                                 return_document=ReturnDocument.AFTER)
        self.assertEqual(upserted, {"_id": 100, "a": 1})
        replaced = self.coll.find_one_and_replace({"_id": 100}, {"b": 2}, return_document=ReturnDocument.AFTER)
        self.assertEqual(replaced, {"_id": 100, "b": 2})
        deleted = self.coll.find_one_and_delete({"_id": 100})
        self.assertEqual(deleted, {"_id": 100, "b": 2})
        self.assertIsNone(self.coll.find_one({"_id": 100}))
        raw = self.db.command({"findAndModify": self._testMethodName, "query": {"_id": 1}, "update": {"$set": {"z": 1}}})
        self.assertEqual(raw["lastErrorObject"], {"n": 1, "updatedExisting": True})
        raw = self.db.command({"findAndModify": self._testMethodName, "query": {"_id": "u"},
                               "update": {"$set": {"z": 1}}, "upsert": True})
        self.assertEqual(raw["lastErrorObject"], {"n": 1, "updatedExisting": False, "upserted": "u"})
        self.assertIsNone(raw["value"])
        for command, code in [({"findAndModify": self._testMethodName}, 9),
                              ({"findAndModify": self._testMethodName, "remove": True, "update": {}}, 9),
                              ({"findAndModify": self._testMethodName, "remove": True, "new": True}, 9),
                              ({"findAndModify": self._testMethodName, "query": 1, "remove": True}, 14)]:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                self.db.command(command)
            self.assertEqual(caught.exception.code, code, str(command))

    def test_retried_write_runs_once(self):
        # what a driver sends again after a lost reply: the same lsid and txnNumber
        import uuid
        from bson.int64 import Int64
        lsid = {"id": bson.Binary(uuid.uuid4().bytes, 4)}
        command = {"update": self._testMethodName, "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 100}}}],
                   "lsid": lsid, "txnNumber": Int64(7)}
        first = self.raw(command)
        again = self.raw(command)
        self.assertEqual((first["n"], first["nModified"]), (1, 1))
        self.assertEqual((again["n"], again["nModified"]), (1, 1))
        self.assertEqual(self.coll.find_one({"_id": 1})["n"], 101)  # applied once
        command["txnNumber"] = Int64(8)
        self.raw(command)
        self.assertEqual(self.coll.find_one({"_id": 1})["n"], 201)
        command["txnNumber"] = Int64(7)
        reply = self.raw(command)
        self.assertEqual((reply["ok"], reply["code"]), (0.0, 225))
        inserted = self.raw({"insert": self._testMethodName, "documents": [{"_id": "once"}], "lsid": lsid,
                             "txnNumber": Int64(9)})
        retried = self.raw({"insert": self._testMethodName, "documents": [{"_id": "once"}], "lsid": lsid,
                            "txnNumber": Int64(9)})
        self.assertEqual((inserted["n"], retried["n"]), (1, 1))
        self.assertNotIn("writeErrors", retried)

    def raw(self, command, duetd=None):
        """Sends `command` over a raw socket (pymongo would replace lsid and txnNumber)."""
        import socket
        from duetd_fixture import op_msg, read_reply
        command = dict(command)
        command["$db"] = "writes"
        with socket.create_connection(("127.0.0.1", (duetd or self.duetd).port), timeout=10) as sock:
            sock.sendall(op_msg(1, command))
            return read_reply(sock)[1]

    def test_retried_write_after_restart(self):
        # the reply is lost and duetd goes down (cleanly, or killed -9 right after acknowledging):
        # the driver's retry on the restarted server gets the first outcome, not a second run
        import uuid
        from bson.int64 import Int64
        duetd = Duetd().start()
        try:
            lsid = {"id": bson.Binary(uuid.uuid4().bytes, 4)}
            writes = [
                ({"insert": "r", "documents": [{"_id": 1, "n": 0}, {"_id": 2, "n": 0}]}, {"n": 2}),
                ({"update": "r", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 10}}},
                                             {"q": {"_id": 3}, "u": {"$set": {"n": 3}}, "upsert": True}]},
                 {"n": 2, "nModified": 1, "upserted": [{"index": 1, "_id": 3}]}),
                ({"findAndModify": "r", "query": {"_id": 2}, "update": {"$inc": {"n": 1}}, "new": True},
                 {"lastErrorObject": {"n": 1, "updatedExisting": True}, "value": {"_id": 2, "n": 1}}),
                ({"delete": "r", "deletes": [{"q": {"_id": 3}, "limit": 1}]}, {"n": 1}),
            ]
            for txn, (command, expected) in enumerate(writes, start=1):
                command = dict(command, lsid=lsid, txnNumber=Int64(txn))
                first = self.raw(command, duetd)
                self.assertEqual({k: first[k] for k in expected}, expected, command)
                if txn % 2:
                    duetd.stop()
                else:
                    duetd.process.kill()  # SIGKILL: the record was committed with the write
                    duetd.process.wait()
                    duetd.process.stdout.close()
                    duetd.process.stderr.close()
                    duetd.process = None
                duetd.start()
                again = self.raw(command, duetd)
                self.assertEqual({k: again[k] for k in expected}, expected, command)
                self.assertNotIn("writeErrors", again)
            with pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000) as client:
                self.assertEqual(list(client.writes.r.find(sort=[("_id", 1)])),
                                 [{"_id": 1, "n": 10}, {"_id": 2, "n": 1}])  # each write applied once
            stale = self.raw(dict(writes[0][0], lsid=lsid, txnNumber=Int64(1)), duetd)
            self.assertEqual((stale["ok"], stale["code"]), (0.0, 225))  # older than the session's newest
            duetd.stop()
        finally:
            duetd.cleanup()

    def test_validator_applies_to_updates(self):
        self.db.create_collection("validated_" + self._testMethodName,
                                  validator={"$jsonSchema": {"properties": {"n": {"bsonType": "int"}}}})
        coll = self.db["validated_" + self._testMethodName]
        coll.insert_one({"_id": 1, "n": 1})
        with self.assertRaises(WriteError) as caught:
            coll.update_one({"_id": 1}, {"$set": {"n": "text"}})
        self.assertEqual(caught.exception.code, 121)
        self.assertEqual(coll.find_one({"_id": 1})["n"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
