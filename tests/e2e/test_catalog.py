"""test_catalog.py — pymongo's database, collection and index helpers through
duetd: listDatabases, listCollections (filter, nameOnly, cursor), create with a
validator, collMod, drop, dropDatabase, renameCollection, createIndexes,
listIndexes, dropIndexes, unique indexes and duplicate keys, and their errors."""
import unittest

import bson
import pymongo
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from duetd_fixture import DuetdTestCase


class CatalogTest(DuetdTestCase):

    def test_collections(self):
        db = self.client.catalog_collections
        db.create_collection("tasks", validator={"$jsonSchema": {"required": ["name"]}})
        db.other.insert_one({"a": 1})
        self.assertEqual(sorted(db.list_collection_names()), ["other", "tasks"])
        info = db.command({"listCollections": 1, "filter": {"name": "tasks"}})["cursor"]
        self.assertEqual(info["id"], 0)
        self.assertEqual(info["ns"], "catalog_collections.$cmd.listCollections")
        (tasks,) = info["firstBatch"]
        self.assertEqual(tasks["type"], "collection")
        self.assertEqual(tasks["options"], {"validator": {"$jsonSchema": {"required": ["name"]}}})
        self.assertEqual(tasks["info"]["readOnly"], False)
        self.assertEqual(tasks["idIndex"], {"v": 2, "key": {"_id": 1}, "name": "_id_"})
        names = db.command({"listCollections": 1, "nameOnly": True})["cursor"]["firstBatch"]
        self.assertEqual(sorted(names, key=lambda d: d["name"]),
                         [{"name": "other", "type": "collection"}, {"name": "tasks", "type": "collection"}])
        batched = db.command({"listCollections": 1, "cursor": {"batchSize": 1}})["cursor"]
        self.assertEqual(len(batched["firstBatch"]), 1)
        more = db.command({"getMore": batched["id"], "collection": "$cmd.listCollections"})
        self.assertEqual(len(more["cursor"]["nextBatch"]), 1)
        # the validator is enforced, collMod replaces it
        with self.assertRaises(WriteError) as caught:
            db.tasks.insert_one({"other": 1})
        self.assertEqual(caught.exception.code, 121)
        db.command({"collMod": "tasks", "validator": {"name": {"$type": "string"}}})
        db.tasks.insert_one({"name": "ok"})
        with self.assertRaises(OperationFailure) as caught:
            db.command({"create": "tasks"})
        self.assertEqual(caught.exception.code, 48)
        with self.assertRaises(pymongo.errors.CollectionInvalid):  # pymongo checks listCollections first
            db.create_collection("tasks")
        # rename, drop
        self.client.admin.command({"renameCollection": "catalog_collections.other", "to": "catalog_collections.moved"})
        self.assertEqual(sorted(db.list_collection_names()), ["moved", "tasks"])
        self.assertEqual(db.moved.find_one({}, {"_id": 0}), {"a": 1})
        with self.assertRaises(OperationFailure) as caught:
            db.command({"renameCollection": "catalog_collections.moved", "to": "catalog_collections.x"})
        self.assertEqual(caught.exception.code, 13)  # admin only
        reply = db.command({"drop": "moved"})
        self.assertEqual((reply["ns"], reply["nIndexesWas"]), ("catalog_collections.moved", 1))
        db.drop_collection("never_there")  # no error
        self.assertEqual(db.list_collection_names(), ["tasks"])

    def test_databases(self):
        self.client.db_one.c.insert_one({})
        self.client.db_two.c.insert_one({})
        names = self.client.list_database_names()
        self.assertIn("db_one", names)
        self.assertIn("db_two", names)
        reply = self.client.admin.command({"listDatabases": 1, "filter": {"name": "db_one"}})
        self.assertEqual([d["name"] for d in reply["databases"]], ["db_one"])
        self.assertGreater(reply["totalSize"], 0)
        self.client.drop_database("db_two")
        self.assertNotIn("db_two", self.client.list_database_names())
        with self.assertRaises(OperationFailure) as caught:
            self.client.db_one.command("listDatabases")
        self.assertEqual(caught.exception.code, 13)

    def test_indexes(self):
        coll = self.client.catalog_indexes.people
        self.assertEqual(coll.create_index([("email", 1)], unique=True), "email_1")
        self.assertEqual(coll.create_index([("age", -1), ("name", 1)]), "age_-1_name_1")
        indexes = {i["name"]: i for i in coll.list_indexes()}
        self.assertEqual(set(indexes), {"_id_", "email_1", "age_-1_name_1"})
        self.assertTrue(indexes["email_1"]["unique"])
        self.assertEqual(dict(indexes["age_-1_name_1"]["key"]), {"age": -1, "name": 1})
        coll.insert_one({"email": "a@x", "age": 3})
        with self.assertRaises(DuplicateKeyError) as caught:
            coll.insert_one({"email": "a@x"})
        self.assertEqual(caught.exception.details["keyValue"], {"email": "a@x"})
        again = self.client.catalog_indexes.command({"createIndexes": "people",
                                                     "indexes": [{"key": {"email": 1}, "name": "email_1",
                                                                  "unique": True}]})
        self.assertEqual((again["numIndexesBefore"], again["numIndexesAfter"], again["note"]),
                         (3, 3, "all indexes already exist"))
        fresh = self.client.catalog_indexes.command({"createIndexes": "fresh", "indexes": [{"key": {"a": 1},
                                                                                           "name": "a_1"}]})
        self.assertEqual((fresh["numIndexesBefore"], fresh["numIndexesAfter"],
                          fresh["createdCollectionAutomatically"]), (1, 2, True))
        coll.drop_index([("age", -1), ("name", 1)])
        coll.drop_index("email_1")
        self.assertEqual([i["name"] for i in coll.list_indexes()], ["_id_"])
        with self.assertRaises(OperationFailure) as caught:
            coll.drop_index("nope")
        self.assertEqual(caught.exception.code, 27)
        with self.assertRaises(OperationFailure) as caught:
            self.client.catalog_indexes.command({"listIndexes": "missing"})
        self.assertEqual(caught.exception.code, 26)
        self.assertEqual(list(self.client.catalog_indexes.missing.list_indexes()), [])  # pymongo tolerates 26
        coll.insert_one({"email": "a@x"})  # the unique index is gone
        with self.assertRaises(OperationFailure) as caught:
            self.client.catalog_indexes.command({"createIndexes": "people", "indexes": []})
        self.assertEqual(caught.exception.code, 2)

    def test_stats(self):
        db = self.client.catalog_stats
        db.a.insert_many([{"_id": i, "pad": "x" * 100} for i in range(50)])
        db.b.insert_one({"_id": 1})
        db.b.create_index("k")
        stats = db.command("dbStats")
        self.assertEqual((stats["db"], stats["collections"], stats["objects"], stats["indexes"]),
                         ("catalog_stats", 2, 51, 3))
        self.assertGreater(stats["dataSize"], 50 * 100)
        self.assertGreater(stats["fsTotalSize"], 0)
        scaled = db.command({"dbStats": 1, "scale": 1024})
        self.assertAlmostEqual(scaled["dataSize"], stats["dataSize"] / 1024)
        coll = db.command({"collStats": "a"})
        self.assertEqual((coll["ns"], coll["count"], coll["nindexes"]), ("catalog_stats.a", 50, 1))
        self.assertEqual(coll["size"], 50 * coll["avgObjSize"])
        with self.assertRaises(OperationFailure) as caught:
            db.command({"collStats": "missing"})
        self.assertEqual(caught.exception.code, 26)
        with self.assertRaises(OperationFailure) as caught:
            db.command({"dbStats": 1, "scale": 0})
        self.assertEqual(caught.exception.code, 2)

    def test_wrong_types(self):
        db = self.client.catalog_types
        for command, code in [({"create": 1}, 73), ({"drop": {}}, 73), ({"listIndexes": 5}, 73),
                              ({"createIndexes": "c", "indexes": 1}, 14), ({"createIndexes": "c"}, 40414),
                              ({"dropIndexes": "c"}, 40414), ({"listCollections": 1, "filter": 5}, 14),
                              ({"listCollections": 1, "nameOnly": "x"}, 14), ({"create": "a$b"}, 73)]:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                db.command(command)
            self.assertEqual(caught.exception.code, code, str(command))


if __name__ == "__main__":
    unittest.main(verbosity=2)
