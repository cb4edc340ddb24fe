"""test_merge_lookup.py — aggregate with a final $merge and with $lookup through duetd, with pymongo.

$merge: every whenMatched/whenNotMatched pair of MongoDB's all_modes.js (source
{_id:1,a:1,b:"a"},{_id:2,a:2,b:"b"},{_id:3,a:3,b:"c"}; the target before and after, the
error codes 13113 / 11000 / 51181, and the documents written before a failure staying),
whenMatched pipelines with let, `on` fields, merging into another database, into a missing
target (created), into the collection being read, the string and {db, coll} forms, and the
partner refusal (20) while a collection is mirrored.

$lookup: MongoDB's documentation examples (orders/inventory equality match, let/pipeline
with $expr, the combined form), a nested $lookup, a missing foreign collection, $lookup
followed by $out and by $merge, $lookup over $documents.
"""
import os
import tempfile
import unittest

import bson
import pymongo
from pymongo.errors import OperationFailure

from duetd_fixture import Duetd, DuetdTestCase

SOURCE = [{"_id": 1, "a": 1, "b": "a"}, {"_id": 2, "a": 2, "b": "b"}, {"_id": 3, "a": 3, "b": "c"}]
TARGET_A = [{"_id": 1, "a": 10}, {"_id": 3, "a": 30}, {"_id": 4, "a": 40}]
TARGET_C = [{"_id": 1, "a": 10, "c": "x"}, {"_id": 3, "a": 30, "c": "y"}, {"_id": 4, "a": 40, "c": "z"}]


class MergeLookupTest(DuetdTestCase):
    DATABASE = "ml"

    def reset(self, name, docs, db=None):
        coll = (db or self.db)[name]
        coll.drop()
        if docs:
            coll.insert_many([dict(d) for d in docs])
        return coll

    def contents(self, name, db=None):
        return list((db or self.db)[name].find().sort("_id", 1))

    def merge(self, spec, source="source"):
        """[{$sort: {_id: 1}}, {$merge: spec}] over `source`; returns the reply's cursor."""
        reply = self.db.command({"aggregate": source, "pipeline": [{"$sort": {"_id": 1}}, {"$merge": spec}],
                                 "cursor": {}})
        return reply["cursor"]

    def merge_fails(self, spec, code):
        with self.assertRaises(OperationFailure) as caught:
            self.merge(spec)
        self.assertEqual(caught.exception.code, code, caught.exception.details)
        return caught.exception.details["errmsg"]

    # ---- $merge: all_modes.js ---------------------------------------------------------------

    def test_replace_modes(self):
        self.reset("source", SOURCE)
        self.reset("t", TARGET_A)
        cursor = self.merge({"into": "t", "whenMatched": "replace", "whenNotMatched": "insert"})
        self.assertEqual(cursor["firstBatch"], [])
        self.assertEqual(cursor["id"], 0)
        self.assertEqual(cursor["ns"], "ml.source")
        self.assertEqual(self.contents("t"), SOURCE + [{"_id": 4, "a": 40}])

        self.reset("t", TARGET_A)
        message = self.merge_fails({"into": "t", "whenMatched": "replace", "whenNotMatched": "fail"}, 13113)
        self.assertEqual(message, "$merge could not find a matching document in the target collection for at "
                                  "least one document in the source collection")
        # the matched documents were still written
        self.assertEqual(self.contents("t"), [SOURCE[0], SOURCE[2], {"_id": 4, "a": 40}])

        self.reset("t", TARGET_A)
        self.merge({"into": "t", "whenMatched": "replace", "whenNotMatched": "discard"})
        self.assertEqual(self.contents("t"), [SOURCE[0], SOURCE[2], {"_id": 4, "a": 40}])

    def test_merge_modes(self):
        self.reset("source", SOURCE)
        self.reset("t", [{"_id": 1, "a": 10, "c": "z"}, {"_id": 3, "a": 30}, {"_id": 4, "a": 40}])
        self.merge({"into": "t", "whenMatched": "merge", "whenNotMatched": "insert"})
        self.assertEqual(self.contents("t"), [{"_id": 1, "a": 1, "c": "z", "b": "a"}, SOURCE[1], SOURCE[2],
                                              {"_id": 4, "a": 40}])
        # the defaults are merge / insert, and the string form names the target
        self.reset("t", [{"_id": 1, "a": 10, "c": "z"}, {"_id": 3, "a": 30}, {"_id": 4, "a": 40}])
        self.merge("t")
        self.assertEqual(self.contents("t"), [{"_id": 1, "a": 1, "c": "z", "b": "a"}, SOURCE[1], SOURCE[2],
                                              {"_id": 4, "a": 40}])

        expected = [{"_id": 1, "a": 1, "c": "x", "b": "a"}, {"_id": 3, "a": 3, "c": "y", "b": "c"},
                    {"_id": 4, "a": 40, "c": "z"}]
        self.reset("t", TARGET_C)
        self.merge_fails({"into": "t", "whenMatched": "merge", "whenNotMatched": "fail"}, 13113)
        self.assertEqual(self.contents("t"), expected)
        self.reset("t", TARGET_C)
        self.merge({"into": "t", "whenMatched": "merge", "whenNotMatched": "discard"})
        self.assertEqual(self.contents("t"), expected)

    def test_keep_existing_and_fail(self):
        self.reset("source", SOURCE)
        self.reset("t", TARGET_A)
        self.merge({"into": "t", "whenMatched": "keepExisting", "whenNotMatched": "insert"})
        self.assertEqual(self.contents("t"), [{"_id": 1, "a": 10}, SOURCE[1], {"_id": 3, "a": 30},
                                              {"_id": 4, "a": 40}])

        self.reset("t", [{"_id": 10, "a": 10, "c": "x"}, {"_id": 3, "a": 30, "c": "y"}, {"_id": 4, "a": 40, "c": "z"}])
        message = self.merge_fails({"into": "t", "whenMatched": "fail", "whenNotMatched": "insert"}, 11000)
        self.assertTrue(message.startswith("$merge with whenMatched: fail found an existing document with the same "
                                           "values for the 'on' fields :: caused by :: E11000 duplicate key error"),
                        message)
        # 1 and 2 inserted before the failure stay; 3, 4 and 10 unchanged
        self.assertEqual(self.contents("t"), [SOURCE[0], SOURCE[1], {"_id": 3, "a": 30, "c": "y"},
                                              {"_id": 4, "a": 40, "c": "z"}, {"_id": 10, "a": 10, "c": "x"}])

        # unsupported combinations leave the target untouched
        before = self.contents("t")
        for matched, not_matched in [("fail", "fail"), ("fail", "discard"), ("keepExisting", "fail"),
                                     ("keepExisting", "discard")]:
            message = self.merge_fails({"into": "t", "whenMatched": matched, "whenNotMatched": not_matched}, 51181)
            self.assertEqual(message, "Combination of $merge modes 'whenMatched: %s' and 'whenNotMatched: %s' is "
                                      "not supported" % (matched, not_matched))
        self.assertEqual(self.contents("t"), before)

    def test_pipeline_modes(self):
        self.reset("source", SOURCE)
        self.reset("t", [{"_id": 1, "b": 1}])
        self.merge({"into": "t", "whenMatched": [{"$addFields": {"x": 2}}], "whenNotMatched": "insert"})
        self.assertEqual(self.contents("t"), [{"_id": 1, "b": 1, "x": 2}, SOURCE[1], SOURCE[2]])

        self.reset("t", TARGET_C)
        self.merge_fails({"into": "t", "whenMatched": [{"$addFields": {"x": 2}}], "whenNotMatched": "fail"}, 13113)
        self.assertEqual(self.contents("t"), [{"_id": 1, "a": 10, "c": "x", "x": 2}, {"_id": 3, "a": 30, "c": "y", "x": 2},
                                              {"_id": 4, "a": 40, "c": "z"}])
        # $$new is the result document; let variables are evaluated on it
        self.reset("t", TARGET_C)
        self.merge({"into": "t", "let": {"twice": {"$multiply": ["$a", 2]}, "new": "$$ROOT"},
                    "whenMatched": [{"$set": {"a": {"$add": ["$a", "$$new.a"]}, "d": "$$twice"}}],
                    "whenNotMatched": "discard"})
        self.assertEqual(self.contents("t"), [{"_id": 1, "a": 11, "c": "x", "d": 2}, {"_id": 3, "a": 33, "c": "y", "d": 6},
                                              {"_id": 4, "a": 40, "c": "z"}])
        self.merge_fails({"into": "t", "let": {"new": "$a"}, "whenMatched": [{"$set": {"x": 1}}]}, 51273)
        # a let without `new` defines it only for whenNotMatched: insert
        self.merge_fails({"into": "t", "let": {"v": 1}, "whenMatched": [{"$set": {"x": "$$new"}}],
                          "whenNotMatched": "discard"}, 17276)
        message = self.merge_fails({"into": "t", "let": {"v": 1}, "whenMatched": "merge"}, 51199)
        self.assertEqual(message, "Cannot use 'let' variables with 'whenMatched: merge' mode")

    def test_on_fields_and_errors(self):
        self.reset("source", SOURCE)
        t = self.reset("t", [{"_id": 11, "a": 1, "old": True}])
        self.merge_fails({"into": "t", "on": "a"}, 51183)  # no unique index on a
        t.create_index("a", unique=True)
        list(self.db.source.aggregate([{"$project": {"_id": 0}},
                                       {"$merge": {"into": "t", "on": "a", "whenNotMatched": "discard"}}]))
        self.assertEqual(self.contents("t"), [{"_id": 11, "a": 1, "old": True, "b": "a"}])
        # the matched document's _id would change: 66 with MongoDB's context
        message = self.merge_fails({"into": "t", "on": "a", "whenMatched": "merge"}, 66)
        self.assertTrue(message.startswith("$merge failed to update the matching document, did you attempt to modify "
                                           "the _id or the shard key?"), message)
        with self.assertRaises(OperationFailure) as caught:
            list(self.db.source.aggregate([{"$merge": "t"}, {"$match": {}}]))
        self.assertEqual(caught.exception.code, 40601)
        self.assertEqual(caught.exception.details["errmsg"], "$merge can only be the final stage in the pipeline")
        self.merge_fails({"into": "t", "whenMatched": "sometimes"}, 2)
        self.merge_fails({"into": "t", "bogus": 1}, 40415)
        self.merge_fails(42, 51182)

    def test_targets(self):
        self.reset("source", SOURCE)
        # a missing target is created; pymongo's aggregate returns an empty cursor
        self.db.created.drop()
        self.assertEqual(list(self.db.source.aggregate([{"$match": {"a": {"$gte": 2}}}, {"$merge": "created"}])), [])
        self.assertEqual(self.contents("created"), SOURCE[1:])
        self.assertIn("created", self.db.list_collection_names())
        # another database, {db, coll} form
        other = self.client.ml_other
        other.target.drop()
        other.target.insert_one({"_id": 1, "keep": "me"})
        list(self.db.source.aggregate([{"$merge": {"into": {"db": "ml_other", "coll": "target"}}}]))
        self.assertEqual(self.contents("target", other), [{"_id": 1, "keep": "me", "a": 1, "b": "a"}] + SOURCE[1:])
        # the collection being read
        self.reset("self", [{"_id": 0, "a": 0}, {"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
        list(self.db.self.aggregate([{"$match": {"a": {"$lt": 1}}}, {"$addFields": {"a": {"$add": ["$a", 3]}}},
                                     {"$merge": "self"}]))
        self.assertEqual(self.contents("self"), [{"_id": 0, "a": 3}, {"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
        # result documents without _id get one
        self.db.noid.drop()
        list(self.db.source.aggregate([{"$project": {"_id": 0, "b": 1}}, {"$merge": "noid"}]))
        docs = list(self.db.noid.find())
        self.assertEqual(sorted(d["b"] for d in docs), ["a", "b", "c"])
        self.assertTrue(all(isinstance(d["_id"], bson.ObjectId) for d in docs))
        # collectionless: $documents into a collection
        self.db.docs.drop()
        self.db.command({"aggregate": 1, "pipeline": [{"$documents": [{"_id": 7, "x": 1}]}, {"$merge": "docs"}],
                         "cursor": {}})
        self.assertEqual(self.contents("docs"), [{"_id": 7, "x": 1}])
        # bypassDocumentValidation
        self.db.drop_collection("validated")
        self.db.create_collection("validated", validator={"a": {"$gt": 100}})
        with self.assertRaises(OperationFailure) as caught:
            list(self.db.source.aggregate([{"$merge": "validated"}]))
        self.assertEqual(caught.exception.code, 121)
        list(self.db.source.aggregate([{"$merge": "validated"}], bypassDocumentValidation=True))
        self.assertEqual(self.db.validated.count_documents({}), 3)

    # ---- $lookup ------------------------------------------------------------------------------

    def seed_orders(self):
        self.reset("orders", [{"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
                              {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
                              {"_id": 3}])
        inventory = self.reset("inventory", [{"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
                                             {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
                                             {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
                                             {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
                                             {"_id": 5, "sku": None, "description": "Incomplete"},
                                             {"_id": 6}])
        return inventory

    def test_lookup_equality(self):
        self.seed_orders()
        joined = list(self.db.orders.aggregate([{"$lookup": {"from": "inventory", "localField": "item",
                                                             "foreignField": "sku", "as": "inventory_docs"}}]))
        self.assertEqual([[d["_id"] for d in o["inventory_docs"]] for o in joined], [[1], [4], [5, 6]])
        self.assertEqual(joined[0]["inventory_docs"][0],
                         {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120})
        # the same through an index on the foreign field, and on _id (point reads)
        self.db.inventory.create_index("sku")
        again = list(self.db.orders.aggregate([{"$lookup": {"from": "inventory", "localField": "item",
                                                            "foreignField": "sku", "as": "inventory_docs"}}]))
        self.assertEqual(again, joined)
        by_id = list(self.db.orders.aggregate([{"$lookup": {"from": "inventory", "localField": "_id",
                                                            "foreignField": "_id", "as": "same"}},
                                               {"$project": {"n": {"$size": "$same"}}}]))
        self.assertEqual(by_id, [{"_id": 1, "n": 1}, {"_id": 2, "n": 1}, {"_id": 3, "n": 1}])
        # a missing foreign collection joins nothing
        none = list(self.db.orders.aggregate([{"$lookup": {"from": "nowhere", "localField": "item",
                                                           "foreignField": "sku", "as": "x"}}]))
        self.assertEqual([o["x"] for o in none], [[], [], []])

    def test_lookup_pipeline_forms(self):
        # MongoDB's documentation: orders joined with warehouses on item and stock >= ordered
        self.reset("orders2", [{"_id": 1, "item": "almonds", "price": 12, "ordered": 2},
                               {"_id": 2, "item": "pecans", "price": 20, "ordered": 1},
                               {"_id": 3, "item": "cookies", "price": 10, "ordered": 60}])
        self.reset("warehouses", [{"_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120},
                                  {"_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80},
                                  {"_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 60},
                                  {"_id": 4, "stock_item": "cookies", "warehouse": "B", "instock": 40},
                                  {"_id": 5, "stock_item": "cookies", "warehouse": "A", "instock": 80}])
        result = list(self.db.orders2.aggregate([
            {"$lookup": {"from": "warehouses", "let": {"order_item": "$item", "order_qty": "$ordered"},
                         "pipeline": [{"$match": {"$expr": {"$and": [{"$eq": ["$stock_item", "$$order_item"]},
                                                                    {"$gte": ["$instock", "$$order_qty"]}]}}},
                                      {"$project": {"stock_item": 0, "_id": 0}}],
                         "as": "stockdata"}}]))
        self.assertEqual([o["stockdata"] for o in result],
                         [[{"warehouse": "A", "instock": 120}, {"warehouse": "B", "instock": 60}],
                          [{"warehouse": "A", "instock": 80}],
                          [{"warehouse": "A", "instock": 80}]])
        # the combined form: localField/foreignField and a pipeline
        combined = list(self.db.orders2.aggregate([
            {"$lookup": {"from": "warehouses", "localField": "item", "foreignField": "stock_item",
                         "pipeline": [{"$match": {"warehouse": "B"}}, {"$project": {"_id": 1}}], "as": "b"}}]))
        self.assertEqual([o["b"] for o in combined], [[{"_id": 3}], [], [{"_id": 4}]])

    def test_lookup_nested_and_written(self):
        self.seed_orders()
        self.reset("suppliers", [{"_id": "s1", "sku": "almonds", "name": "Nuts Inc"},
                                 {"_id": "s2", "sku": "pecans", "name": "Pecan Co"}])
        nested = list(self.db.orders.aggregate([
            {"$match": {"item": {"$exists": True}}},
            {"$lookup": {"from": "inventory", "let": {"item": "$item"},
                         "pipeline": [{"$match": {"$expr": {"$eq": ["$sku", "$$item"]}}},
                                      {"$lookup": {"from": "suppliers", "localField": "sku", "foreignField": "sku",
                                                   "as": "suppliers"}},
                                      {"$project": {"_id": 0, "instock": 1, "supplier": "$suppliers.name"}}],
                         "as": "stock"}},
            {"$project": {"stock": 1}}]))
        self.assertEqual(nested, [{"_id": 1, "stock": [{"instock": 120, "supplier": ["Nuts Inc"]}]},
                                  {"_id": 2, "stock": [{"instock": 70, "supplier": ["Pecan Co"]}]}])
        # $lookup + $out
        self.db.joined.drop()
        self.assertEqual(list(self.db.orders.aggregate([
            {"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inv"}},
            {"$project": {"matches": {"$size": "$inv"}}}, {"$out": "joined"}])), [])
        self.assertEqual(self.contents("joined"), [{"_id": 1, "matches": 1}, {"_id": 2, "matches": 1},
                                                   {"_id": 3, "matches": 2}])
        # $lookup + $merge (the store's own aggregate)
        self.db.orders.aggregate([
            {"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inv"}},
            {"$project": {"described": {"$first": "$inv.description"}}},
            {"$merge": {"into": "joined", "whenMatched": "merge"}}])
        self.assertEqual(self.contents("joined"), [{"_id": 1, "matches": 1, "described": "product 1"},
                                                   {"_id": 2, "matches": 1, "described": "product 4"},
                                                   {"_id": 3, "matches": 2, "described": "Incomplete"}])
        # over $documents (no collection)
        docs = list(self.db.aggregate([{"$documents": [{"sku": "bread"}]},
                                       {"$lookup": {"from": "inventory", "localField": "sku", "foreignField": "sku",
                                                    "as": "found"}},
                                       {"$project": {"ids": "$found._id"}}]))
        self.assertEqual(docs, [{"ids": [2]}])
        # $merge inside a $lookup pipeline
        with self.assertRaises(OperationFailure) as caught:
            list(self.db.orders.aggregate([{"$lookup": {"from": "inventory", "pipeline": [{"$merge": "x"}],
                                                        "as": "x"}}]))
        self.assertEqual(caught.exception.code, 51047)


class MergePartnerTest(unittest.TestCase):
    """$merge into either side of a mirrored partner link is refused, as $out is."""

    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.tmp = tempfile.mkdtemp(prefix="duet-merge-")
        self.db = self.client.test

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def test_merge_into_mirrored_is_refused(self):
        from test_partner_changes import TASK_V1, TASK_V2, duet, plan
        spec_path, _ = plan(self.tmp, TASK_V1, TASK_V2)
        self.db.Task.insert_many([{"_id": bson.ObjectId(), "name": "t%d" % i} for i in range(5)])
        duet("apply", spec_path, "--uri", self.uri)
        self.db.Other.insert_one({"_id": bson.ObjectId(), "name": "other"})
        for spec in ("Task", {"into": "TaskV2"}, {"into": {"db": "test", "coll": "Task"}, "whenMatched": "replace"}):
            with self.assertRaises(OperationFailure) as caught:
                list(self.db.Other.aggregate([{"$merge": spec}]))
            self.assertEqual(caught.exception.code, 20)
            self.assertIn("mirrored by partner link test.Task:TaskV2", str(caught.exception))
        self.assertEqual(self.db.Task.count_documents({}), 5)
        self.assertEqual(self.db.TaskV2.count_documents({}), 5)
        list(self.db.Other.aggregate([{"$merge": "Elsewhere"}]))  # unrelated targets are fine
        self.assertEqual(self.db.Elsewhere.count_documents({}), 1)


if __name__ == "__main__":
    unittest.main()
