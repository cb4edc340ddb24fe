"""test_aggregate.py — aggregate, count, distinct through duetd with pymongo:
pipelines over collections and $documents, cursors across batches, $out
(replacing a target atomically, keeping its indexes, failing as a whole),
count_documents/estimated_document_count, distinct over arrays and paths."""
import unittest

import pymongo
from pymongo.errors import OperationFailure

from duetd_fixture import Duetd


class AggregateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.duetd = Duetd().start()
        cls.client = pymongo.MongoClient("127.0.0.1", cls.duetd.port, serverSelectionTimeoutMS=5000)
        cls.db = cls.client.agg
        cls.db.Task.insert_many([{"name": "task %d" % i, "complete": i % 2 == 0, "n": i,
                                  "tags": ["all", "mod%d" % (i % 3)], "sub": {"k": i % 4}} for i in range(300)])

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.duetd.stop()
        finally:
            cls.duetd.cleanup()

    def test_pipelines(self):
        groups = list(self.db.Task.aggregate([{"$match": {"n": {"$lt": 10}}},
                                              {"$group": {"_id": "$complete", "count": {"$sum": 1}}},
                                              {"$sort": {"_id": 1}}]))
        self.assertEqual(groups, [{"_id": False, "count": 5}, {"_id": True, "count": 5}])
        names = [d["name"] for d in self.db.Task.aggregate([{"$sort": {"n": -1}}, {"$limit": 3},
                                                            {"$project": {"_id": 0, "name": 1}}])]
        self.assertEqual(names, ["task 299", "task 298", "task 297"])
        self.assertEqual(list(self.db.aggregate([{"$documents": [{"x": 1}, {"x": 2}]}, {"$match": {"x": 2}}])),
                         [{"x": 2}])
        # across batches
        reply = self.db.command({"aggregate": "Task", "pipeline": [], "cursor": {"batchSize": 10}})
        self.assertEqual(len(reply["cursor"]["firstBatch"]), 10)
        self.assertEqual(reply["cursor"]["ns"], "agg.Task")
        self.assertEqual(sum(1 for _ in self.db.Task.aggregate([], batchSize=7)), 300)

    def test_errors(self):
        for command, code in [({"aggregate": "Task", "pipeline": []}, 9),
                              ({"aggregate": "Task", "pipeline": {}, "cursor": {}}, 14),
                              ({"aggregate": "Task", "cursor": {}}, 40414),
                              ({"aggregate": "Task", "pipeline": [{"$bogus": 1}], "cursor": {}}, 40324),
                              ({"aggregate": "Task", "pipeline": [{"$out": "x"}, {"$match": {}}], "cursor": {}},
                               40601),
                              ({"aggregate": 5, "pipeline": [], "cursor": {}}, 73),
                              ({"count": "Task", "query": 1}, 14),
                              ({"distinct": "Task"}, 40414),
                              ({"distinct": "Task", "key": 1}, 14)]:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                self.db.command(command)
            self.assertEqual(caught.exception.code, code, str(command))

    def test_out(self):
        self.db.Target.insert_one({"_id": "old"})
        self.db.Target.create_index("name", unique=True)
        self.db.Task.aggregate([{"$match": {"n": {"$lt": 20}}}, {"$addFields": {"_id": {"$toString": "$_id"}}},
                                {"$out": "Target"}])
        self.assertEqual(self.db.Target.count_documents({}), 20)
        self.assertIsNone(self.db.Target.find_one({"_id": "old"}))
        self.assertIsInstance(self.db.Target.find_one()["_id"], str)
        self.assertEqual(sorted(i["name"] for i in self.db.Target.list_indexes()), ["_id_", "name_1"])
        # a duplicate under the target's unique index fails the whole $out: the target is unchanged
        with self.assertRaises(OperationFailure) as caught:
            self.db.Task.aggregate([{"$project": {"name": "same"}}, {"$out": "Target"}])
        self.assertEqual(caught.exception.code, 11000)
        self.assertEqual(self.db.Target.count_documents({}), 20)
        self.assertFalse([n for n in self.db.list_collection_names() if n.startswith("tmp.")])

    def test_count(self):
        self.assertEqual(self.db.Task.count_documents({}), 300)
        self.assertEqual(self.db.Task.count_documents({"complete": True}), 150)
        self.assertEqual(self.db.Task.count_documents({"complete": True}, skip=100, limit=80), 50)
        self.assertEqual(self.db.Task.estimated_document_count(), 300)
        self.assertEqual(self.db.command({"count": "Task", "query": {"n": {"$gte": 290}}})["n"], 10)
        self.assertEqual(self.db.command({"count": "missing"})["n"], 0)

    def test_distinct(self):
        self.assertEqual(self.db.Task.distinct("tags"), ["all", "mod0", "mod1", "mod2"])
        self.assertEqual(self.db.Task.distinct("sub.k", {"n": {"$lt": 3}}), [0, 1, 2])
        self.assertEqual(self.db.Task.distinct("complete"), [False, True])
        self.db.Paths.insert_many([{"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}]}, {"a": {"b": 1}}, {"a": 5}])
        self.assertEqual(self.db.Paths.distinct("a.b"), [1, 2, 3])
        self.assertEqual(self.db.Paths.distinct("nothing"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
