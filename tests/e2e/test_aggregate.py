"""test_aggregate.py — aggregate, count, distinct through duetd with pymongo:
pipelines over collections and $documents, cursors across batches, $out
(replacing a target atomically, keeping its indexes, failing as a whole; into
another database too; MongoDB's errors for bad specs; refused from another
database into a mirrored partner collection),
count_documents/estimated_document_count, distinct over arrays and paths."""
import tempfile
import unittest

import bson
import pymongo
from pymongo.errors import OperationFailure

from duetd_fixture import Duetd, DuetdTestCase


class AggregateTest(DuetdTestCase):
    DATABASE = "agg"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db.Task.insert_many([{"name": "task %d" % i, "complete": i % 2 == 0, "n": i,
                                  "tags": ["all", "mod%d" % (i % 3)], "sub": {"k": i % 4}} for i in range(300)])

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

    def test_max_time_ms_bounds_out_and_merge(self):
        slow = self.db.slow_source
        slow.insert_many([{"i": i, "s": "x" * 100} for i in range(100000)])
        self.db.out_target.insert_one({"_id": "kept"})
        for last in ({"$out": "out_target"}, {"$merge": {"into": "out_target"}}):
            with self.assertRaises(pymongo.errors.ExecutionTimeout) as caught:
                self.db.command("aggregate", "slow_source", pipeline=[{"$addFields": {"t": 1}}, last],
                                cursor={}, maxTimeMS=1)
            self.assertEqual(caught.exception.code, 50)
            # out of time writes nothing: the target is as it was
            self.assertEqual(list(self.db.out_target.find()), [{"_id": "kept"}])
        self.assertFalse([n for n in self.db.list_collection_names() if n.startswith("tmp.")])

    def test_out_to_another_database(self):
        other = self.client.agg_other
        other.Copy.drop()
        # created: the target database need not exist yet
        self.db.Task.aggregate([{"$match": {"n": {"$lt": 5}}}, {"$project": {"n": 1}},
                                {"$out": {"db": "agg_other", "coll": "Copy"}}])
        self.assertEqual(sorted(d["n"] for d in other.Copy.find()), [0, 1, 2, 3, 4])
        self.assertIn("agg_other", self.client.list_database_names())
        # replaced, keeping the target's options (validator) and indexes
        other.Copy.drop()
        other.create_collection("Copy", validator={"n": {"$type": "int"}})
        other.Copy.insert_many([{"_id": "old1", "n": 100}, {"_id": "old2", "n": 101}])
        other.Copy.create_index("n", unique=True, name="n_unique")
        self.db.Task.aggregate([{"$match": {"n": {"$gte": 290}}}, {"$project": {"n": 1, "name": 1}},
                                {"$out": {"db": "agg_other", "coll": "Copy"}}])
        self.assertEqual(other.Copy.count_documents({}), 10)
        self.assertIsNone(other.Copy.find_one({"_id": "old1"}))
        self.assertEqual(sorted(d["n"] for d in other.Copy.find()), list(range(290, 300)))
        indexes = {i["name"]: i for i in other.Copy.list_indexes()}
        self.assertEqual(sorted(indexes), ["_id_", "n_unique"])
        self.assertTrue(indexes["n_unique"]["unique"])
        info = other.command("listCollections", filter={"name": "Copy"})["cursor"]["firstBatch"][0]
        self.assertEqual(info["options"]["validator"], {"n": {"$type": "int"}})
        # the kept index and validator apply to the results: a failure leaves the target as it was
        for pipeline, code in [([{"$project": {"n": {"$literal": 7}}}], 11000),
                               ([{"$project": {"n": {"$literal": "text"}}}], 121)]:
            with self.assertRaises(OperationFailure) as caught:
                self.db.Task.aggregate(pipeline + [{"$out": {"db": "agg_other", "coll": "Copy"}}])
            self.assertEqual(caught.exception.code, code)
            self.assertEqual(sorted(d["n"] for d in other.Copy.find()), list(range(290, 300)))
        self.assertFalse([n for n in other.list_collection_names() if n.startswith("tmp.")])
        self.assertFalse([n for n in self.db.list_collection_names() if n.startswith("tmp.")])
        # the reply's cursor is empty and names the source namespace
        reply = self.db.command({"aggregate": "Task", "cursor": {},
                                 "pipeline": [{"$limit": 1}, {"$out": {"db": "agg_other", "coll": "One"}}]})
        self.assertEqual(reply["cursor"], {"firstBatch": [], "id": 0, "ns": "agg.Task"})
        self.assertEqual(other.One.count_documents({}), 1)

    def test_out_spec_errors(self):
        for out, code in [(5, 16990), ([], 16990),
                          ({"db": "agg_other"}, 40414),
                          ({"db": 1, "coll": "x"}, 14),
                          ({"coll": "x", "extra": 1}, 40415),
                          ({"db": "agg_other", "coll": ""}, 73),
                          ({"db": "bad.db", "coll": "x"}, 73),
                          ({"db": "agg_other", "coll": "system.x"}, 17385),
                          ({"db": "admin", "coll": "x"}, 31321)]:
            with self.assertRaises(OperationFailure, msg=str(out)) as caught:
                self.db.command({"aggregate": "Task", "pipeline": [{"$out": out}], "cursor": {}})
            self.assertEqual(caught.exception.code, code, str(out))
        with self.assertRaises(OperationFailure) as caught:
            self.db.command({"aggregate": "Task", "cursor": {},
                             "pipeline": [{"$out": {"db": "agg_other", "coll": "x"}}, {"$match": {}}]})
        self.assertEqual(caught.exception.code, 40601)

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


class OutPartnerTest(unittest.TestCase):
    """$out from another database into either side of a mirrored partner link is refused (20)."""

    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.tmp = tempfile.mkdtemp(prefix="duet-out-")
        self.db = self.client.test

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def test_out_from_another_database_into_mirrored_is_refused(self):
        from test_partner_changes import TASK_V1, TASK_V2, duet, plan
        spec_path, _ = plan(self.tmp, TASK_V1, TASK_V2)
        self.db.Task.insert_many([{"_id": bson.ObjectId(), "name": "t%d" % i} for i in range(5)])
        duet("apply", spec_path, "--uri", self.uri)
        source = self.client.elsewhere.Source
        source.insert_one({"_id": bson.ObjectId(), "name": "other"})
        for target in ("Task", "TaskV2"):
            with self.assertRaises(OperationFailure) as caught:
                list(source.aggregate([{"$out": {"db": "test", "coll": target}}]))
            self.assertEqual(caught.exception.code, 20)
            self.assertIn("mirrored by partner link test.Task:TaskV2", str(caught.exception))
        self.assertEqual(self.db.Task.count_documents({}), 5)
        self.assertEqual(self.db.TaskV2.count_documents({}), 5)
        list(source.aggregate([{"$out": {"db": "test", "coll": "Elsewhere"}}]))  # unrelated targets are fine
        self.assertEqual(self.db.Elsewhere.count_documents({}), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
