"""test_crud.py — pymongo insert and find through duetd's store: ordered and
unordered inserts with write errors, filters, projections, sort/skip/limit,
cursors across batches (getMore, killCursors), 16 MiB batches, type errors,
cluster times that advance with writes, and data that survives a restart."""
import unittest

import bson
import pymongo
from bson.int64 import Int64
from pymongo.errors import BulkWriteError, OperationFailure

from duetd_fixture import Duetd, DuetdTestCase


class CrudTest(DuetdTestCase):
    DATABASE = "crud"

    def test_insert_and_find_back(self):
        coll = self.db.basic
        result = coll.insert_many([{"_id": i, "x": i % 5, "name": "task %d" % i, "complete": i % 2 == 0}
                                   for i in range(300)])
        self.assertEqual(len(result.inserted_ids), 300)
        oid = coll.insert_one({"name": "generated id"}).inserted_id
        self.assertIsInstance(oid, bson.ObjectId)
        self.assertEqual(coll.find_one({"_id": oid})["name"], "generated id")
        self.assertEqual(coll.find_one({"_id": 7}), {"_id": 7, "x": 2, "name": "task 7", "complete": False})
        self.assertIsNone(coll.find_one({"_id": 7000}))
        self.assertEqual(len(list(coll.find())), 301)
        self.assertEqual([d["_id"] for d in coll.find({"x": 3, "complete": True}, {"_id": 1}).sort("_id", -1).limit(3)],
                         [298, 288, 278])
        self.assertEqual(list(coll.find({"_id": {"$lt": 3}}, {"name": 1, "_id": 0}).sort("_id", 1)),
                         [{"name": "task 0"}, {"name": "task 1"}, {"name": "task 2"}])
        self.assertEqual([d["_id"] for d in coll.find({"_id": {"$lt": 100}}).sort("_id", 1).skip(95)],
                         [95, 96, 97, 98, 99])

    def test_cursors_across_batches(self):
        coll = self.db.batches
        coll.insert_many([{"_id": i} for i in range(250)])
        reply = self.db.command({"find": "batches", "batchSize": 2})
        self.assertEqual(len(reply["cursor"]["firstBatch"]), 2)
        self.assertIsInstance(reply["cursor"]["id"], Int64)
        self.assertEqual(reply["cursor"]["ns"], "crud.batches")
        cursor_id = reply["cursor"]["id"]
        more = self.db.command({"getMore": cursor_id, "collection": "batches", "batchSize": 3})
        self.assertEqual([d["_id"] for d in more["cursor"]["nextBatch"]], [2, 3, 4])
        killed = self.db.command({"killCursors": "batches", "cursors": [cursor_id]})
        self.assertEqual(killed["cursorsKilled"], [cursor_id])
        with self.assertRaises(OperationFailure) as caught:
            self.db.command({"getMore": cursor_id, "collection": "batches"})
        self.assertEqual(caught.exception.code, 43)
        # the default first batch is 101 documents; the driver drains the rest with getMore
        reply = self.db.command({"find": "batches"})
        self.assertEqual(len(reply["cursor"]["firstBatch"]), 101)
        self.db.command({"killCursors": "batches", "cursors": [reply["cursor"]["id"]]})
        self.assertEqual([d["_id"] for d in coll.find().batch_size(7)], list(range(250)))
        # a cursor closed early by the driver is killed on the server
        cursor = coll.find().batch_size(5)
        next(cursor)
        cursor.close()
        status = self.client.admin.command("serverStatus")
        self.assertEqual(status["metrics"]["cursor"]["open"]["total"], 0)
        # limit equal to the batch closes the cursor at once
        reply = self.db.command({"find": "batches", "limit": 5, "batchSize": 5})
        self.assertEqual(reply["cursor"]["id"], 0)
        reply = self.db.command({"find": "batches", "singleBatch": True, "batchSize": 5})
        self.assertEqual(reply["cursor"]["id"], 0)

    def test_sixteen_megabyte_batches(self):
        coll = self.db.large
        pad = "x" * (1024 * 1024)
        coll.insert_many([{"_id": i, "pad": pad} for i in range(40)])
        reply = self.db.command({"find": "large"})
        self.assertEqual(len(reply["cursor"]["firstBatch"]), 15)
        self.assertNotEqual(reply["cursor"]["id"], 0)
        self.db.command({"killCursors": "large", "cursors": [reply["cursor"]["id"]]})
        self.assertEqual([d["_id"] for d in coll.find({}, {"pad": 0})], list(range(40)))
        self.assertEqual(sum(1 for _ in coll.find()), 40)

    def test_write_errors(self):
        coll = self.db.errors
        coll.insert_one({"_id": 1})
        with self.assertRaises(BulkWriteError) as caught:
            coll.insert_many([{"_id": 2}, {"_id": 1}, {"_id": 3}])
        details = caught.exception.details
        self.assertEqual(details["nInserted"], 1)
        self.assertEqual(details["writeErrors"][0]["index"], 1)
        self.assertEqual(details["writeErrors"][0]["code"], 11000)
        self.assertEqual(details["writeErrors"][0]["keyValue"], {"_id": 1})
        with self.assertRaises(BulkWriteError) as caught:
            coll.insert_many([{"_id": 1}, {"_id": 4}, {"_id": 2}, {"_id": 5}], ordered=False)
        details = caught.exception.details
        self.assertEqual(details["nInserted"], 2)
        self.assertEqual([e["index"] for e in details["writeErrors"]], [0, 2])
        self.assertEqual(sorted(d["_id"] for d in coll.find()), [1, 2, 4, 5])
        with self.assertRaises(pymongo.errors.DuplicateKeyError):
            coll.insert_one({"_id": 5})
        reply = self.db.command({"insert": "errors", "documents": [{"$bad": 1}]})
        self.assertEqual(reply["n"], 0)
        self.assertEqual(reply["writeErrors"][0]["code"], 52)

    def test_command_errors(self):
        cases = [
            ({"insert": 5, "documents": [{}]}, 73),
            ({"insert": "c"}, 40414),
            ({"insert": "c", "documents": []}, 16),
            ({"insert": "c", "documents": [{}], "ordered": "yes"}, 14),
            ({"insert": "c", "documents": [{}], "bogus": 1}, 40415),
            ({"insert": "", "documents": [{}]}, 73),
            ({"find": 1}, 73),
            ({"find": "c", "filter": 1}, 14),
            ({"find": "c", "filter": {"$bogus": 1}}, 2),
            ({"find": "c", "sort": []}, 14),
            ({"find": "c", "limit": -1}, 51024),
            ({"find": "c", "skip": "x"}, 14),
            ({"find": "c", "projection": {"a": 1, "b": 0}}, 31254),
            ({"find": "c", "bogus": 1}, 40415),
            ({"find": "c", "collation": {"locale": "fr"}}, 115),
            ({"find": "c", "tailable": True}, 2),
        ]
        for command, code in cases:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                self.db.command(command)
            self.assertEqual(caught.exception.code, code, str(command))

    def test_raw_documents_wrong_type(self):
        # pymongo moves `documents` of an insert into a document sequence, so send this one raw
        import socket
        from duetd_fixture import op_msg, read_reply
        with socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10) as sock:
            sock.sendall(op_msg(5, {"insert": "c", "documents": {}, "$db": "crud"}))
            header, body = read_reply(sock)
            self.assertEqual(body["code"], 14)
            # and documents as a kind-1 sequence is what drivers send
            sock.sendall(op_msg(6, {"insert": "seq", "$db": "crud"}, sequences=[("documents", [{"_id": 1}, {"_id": 2}])]))
            header, body = read_reply(sock)
            self.assertEqual((body["ok"], body["n"]), (1.0, 2))

    def test_max_time_ms(self):
        coll = self.db.slow
        coll.insert_many([{"i": i, "s": "x" * 100} for i in range(100000)])
        with self.assertRaises(pymongo.errors.ExecutionTimeout) as caught:
            list(coll.find({"nothing": 1}).max_time_ms(1))
        self.assertEqual(caught.exception.code, 50)
        self.assertEqual(caught.exception.details["codeName"], "MaxTimeMSExpired")
        self.assertEqual(len(list(coll.find({"i": {"$lt": 5}}).max_time_ms(60000))), 5)

    def test_missing_collection_reads_empty(self):
        self.assertEqual(list(self.db.nothing_here.find()), [])
        self.assertEqual(self.db.command({"find": "nothing_here"})["cursor"]["id"], 0)

    def test_cluster_time_advances_with_writes(self):
        before = self.db.command("ping")["operationTime"]
        reply = self.db.command({"insert": "times", "documents": [{"a": 1}]})
        self.assertGreater(reply["operationTime"], before)
        self.assertGreaterEqual(reply["$clusterTime"]["clusterTime"], reply["operationTime"])

    def test_unacknowledged_insert(self):
        coll = self.db.get_collection("unack", write_concern=pymongo.WriteConcern(w=0))
        coll.insert_one({"_id": "w0"})  # sent with moreToCome: no reply
        self.assertEqual(self.db.unack.find_one({"_id": "w0"}), {"_id": "w0"})


class RestartTest(unittest.TestCase):
    def test_data_survives_restart(self):
        first = Duetd()
        try:
            first.start()
            client = pymongo.MongoClient("127.0.0.1", first.port, serverSelectionTimeoutMS=5000)
            client.keep.things.insert_many([{"_id": i} for i in range(10)])
            time_before = client.keep.command("ping")["operationTime"]
            client.close()
            first.stop()
            second = Duetd(port=first.port)
            second.dbpath = first.dbpath
            second.args[second.args.index("--dbpath") + 1] = first.dbpath
            second.start()
            client = pymongo.MongoClient("127.0.0.1", second.port, serverSelectionTimeoutMS=5000)
            self.assertEqual([d["_id"] for d in client.keep.things.find()], list(range(10)))
            self.assertGreaterEqual(client.keep.command("ping")["operationTime"], time_before)
            client.close()
            second.stop()
            second.cleanup()
        finally:
            first.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
