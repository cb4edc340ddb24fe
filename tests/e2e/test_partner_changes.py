"""test_partner_changes.py — every change type of the seeds' table end to end through duetd and
the `duet` CLI: plan -> check -> apply -> writes on both sides (each one read on the other)
-> verify with 0 differences -> retire.  Also the seeds' own examples: objectId -> string and
int -> string with $toInt back.  The helpers here (duet(), plan(), schema()) are shared by
the other test_partner_*.py files."""
import json
import os
import subprocess
import tempfile
import unittest

import bson
import pymongo

from duetd_fixture import DuetdTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
DUETD = os.environ.get("DUETD") or os.path.join(HERE, "..", "..", "build", "bin", "duetd")
DUET = os.environ.get("DUET") or os.path.join(os.path.dirname(DUETD), "duet")


def duet(*args, expect=0):
    """Runs the duet CLI; checks its exit status; returns the CompletedProcess."""
    result = subprocess.run([DUET] + [str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert result.returncode == expect, "duet %s exited %d (expected %d)\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), result.returncode, expect, result.stdout, result.stderr)
    return result


def duet_json(*args, expect=0):
    return json.loads(duet(*args, "--json", expect=expect).stdout)


def schema(properties, required, title="Task"):
    return {"title": title, "bsonType": "object", "required": required, "properties": properties}


def write_json(directory, name, value):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(value, f)
    return path


def plan(directory, old, new, *args, expect=None):
    """duet plan OLD NEW -o SPEC; returns (spec path, spec dict)."""
    old_path = write_json(directory, "old.json", old)
    new_path = write_json(directory, "new.json", new)
    spec_path = os.path.join(directory, "spec.json")
    result = subprocess.run([DUET, "plan", old_path, new_path, "-o", spec_path] + list(args),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode in ((0, 1) if expect is None else (expect,)), result.stderr
    with open(spec_path) as f:
        return spec_path, json.load(f)


TASK_V1 = schema({"_id": {"bsonType": "objectId"}, "name": {"bsonType": "string"},
                  "complete": {"bsonType": "bool", "default": False}}, ["_id", "name"])
TASK_V2 = schema({"_id": {"bsonType": "string"}, "name": {"bsonType": "string"},
                  "complete": {"bsonType": "bool", "default": False}}, ["_id", "name"])


def with_props(base, properties=None, required=None, drop=(), title=None):
    result = json.loads(json.dumps(base))
    for name in drop:
        result["properties"].pop(name, None)
        if name in result["required"]:
            result["required"].remove(name)
    result["properties"].update(properties or {})
    if required is not None:
        result["required"] = required
    if title:
        result["title"] = title
    return result


class PartnerChangesTest(DuetdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uri = cls.duetd.uri()
        cls.tmp = tempfile.mkdtemp(prefix="duet-partner-")

    def migrate(self, old, new, docs, *plan_args, strategy=None, not_round_trip=0):
        """Loads `docs` into <db>.Task, plans, checks, applies; returns (spec path, spec, source, partner)."""
        db_name = self._testMethodName[5:]
        directory = os.path.join(self.tmp, db_name)
        os.makedirs(directory)
        spec_path, spec = plan(directory, old, new, "--db", db_name, *plan_args)
        if strategy:
            self.assertEqual(spec["strategy"], strategy, spec)
        db = self.client[db_name]
        db[spec["source"]].insert_many(docs)
        report = duet_json("check", spec_path, "--uri", self.uri, expect=1 if not_round_trip else 0)
        self.assertEqual(report["problems"], not_round_trip, report)
        self.assertEqual(report["counts"]["not_round_trip"], not_round_trip, report)
        self.assertEqual(report["scanned"], len(docs))
        out = duet("apply", spec_path, "--uri", self.uri).stdout
        self.assertIn("backfill done", out)
        partner = db[spec["partner"]] if spec.get("partner") else None
        return spec_path, spec, db[spec["source"]], partner

    def verify_zero(self, spec_path):
        report = duet_json("verify", spec_path, "--uri", self.uri)
        self.assertEqual(report["differences"], 0, report)
        return report

    def both_ways(self, source, partner, new_source_doc):
        """Writes on both sides, each checked on the other: insert/update/replace/delete on the
        source, then the same kinds on the partner (a document the source side produced)."""
        inserted = source.insert_one(new_source_doc).inserted_id
        mirrored = partner.find_one({"marker": "v1-insert"})
        self.assertIsNotNone(mirrored, "a version-1 insert did not reach the partner")
        source.update_one({"_id": inserted}, {"$set": {"extra": "from v1"}})
        self.assertEqual(partner.find_one({"_id": mirrored["_id"]})["extra"], "from v1")
        replacement = dict(source.find_one({"_id": inserted}))
        replacement["extra"] = "replaced by v1"
        source.replace_one({"_id": inserted}, replacement)
        self.assertEqual(partner.find_one({"_id": mirrored["_id"]})["extra"], "replaced by v1")
        # the partner's form of a new document: taken from the mirror, then removed on both sides
        v2_doc = dict(partner.find_one({"_id": mirrored["_id"]}))
        source.delete_one({"_id": inserted})
        self.assertIsNone(partner.find_one({"_id": mirrored["_id"]}), "a version-1 delete did not reach the partner")
        v2_doc["marker"] = "v2-insert"
        v2_doc.pop("extra", None)
        partner.insert_one(v2_doc)
        back = source.find_one({"marker": "v2-insert"})
        self.assertIsNotNone(back, "a version-2 insert did not reach the source")
        partner.update_one({"_id": v2_doc["_id"]}, {"$set": {"extra": "from v2"}})
        self.assertEqual(source.find_one({"_id": back["_id"]})["extra"], "from v2")
        partner.delete_one({"_id": v2_doc["_id"]})
        self.assertIsNone(source.find_one({"_id": back["_id"]}), "a version-2 delete did not reach the source")
        # one more each way that stays, then updates of backfilled documents on both sides
        source.insert_one(dict(new_source_doc, _id=new_source_doc.get("_id"), marker="kept"))
        first = source.find_one({"marker": {"$exists": False}})
        source.update_one({"_id": first["_id"]}, {"$set": {"touched": 1}})
        other = partner.find_one({"marker": {"$exists": False}, "touched": {"$exists": False}})
        partner.update_one({"_id": other["_id"]}, {"$set": {"touched": 2}})
        self.assertEqual(source.count_documents({"touched": {"$exists": True}}), 2)

    def retire(self, spec_path, keep="new", drop=True):
        reply = duet_json("retire", spec_path, "--keep", keep, *(["--drop"] if drop else []), "--uri", self.uri)
        self.assertEqual(reply["dropped"], drop and "retired" in reply)
        self.assertEqual(duet_json("status", "--uri", self.uri)["migrations"], [])

    # ---- the seeds' examples -------------------------------------------------------------

    def test_objectid_to_string(self):
        docs = [{"_id": bson.ObjectId(), "name": "task %d" % i, "complete": i % 3 == 0} for i in range(300)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, TASK_V2, docs, strategy="partner")
        self.assertEqual(spec["forward"], [{"$addFields": {"_id": {"$toString": "$_id"}}}])
        self.assertEqual(partner.count_documents({}), 300)
        self.assertEqual(partner.find_one({"_id": str(docs[7]["_id"])})["name"], "task 7")
        self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
        self.verify_zero(spec_path)
        self.retire(spec_path)
        self.assertNotIn("Task", self.client.objectid_to_string.list_collection_names())

    def test_int_to_string_with_toint_back(self):
        old = schema({"_id": {"bsonType": "int"}, "name": {"bsonType": "string"}}, ["_id", "name"])
        new = schema({"_id": {"bsonType": "string"}, "name": {"bsonType": "string"}}, ["_id", "name"])
        docs = [{"_id": i, "name": "n%d" % i} for i in range(200)]
        spec_path, spec, source, partner = self.migrate(old, new, docs, strategy="partner")
        self.assertIn("$toInt", json.dumps(spec["reverse"]))
        self.assertEqual(partner.find_one({"_id": "42"})["name"], "n42")
        self.both_ways(source, partner, {"_id": 1000, "name": "new", "marker": "v1-insert"})
        self.assertEqual(source.find_one({"marker": "kept"})["_id"], 1000)
        self.verify_zero(spec_path)
        self.retire(spec_path, keep="old", drop=False)
        self.assertIn("TaskV2", self.client.int_to_string_with_toint_back.list_collection_names())

    # ---- the other change types ------------------------------------------------------------

    def test_change_property_type(self):
        old = with_props(TASK_V1, {"priority": {"bsonType": "int"}})
        new = with_props(TASK_V1, {"priority": {"bsonType": "string"}})
        docs = [{"_id": bson.ObjectId(), "name": "p%d" % i, "priority": i} for i in range(100)]
        docs.append({"_id": bson.ObjectId(), "name": "no priority"})  # missing stays missing
        spec_path, spec, source, partner = self.migrate(old, new, docs, strategy="partner")
        self.assertEqual(partner.find_one({"name": "p5"})["priority"], "5")
        self.assertNotIn("priority", partner.find_one({"name": "no priority"}))
        self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "priority": 9, "marker": "v1-insert"})
        partner.update_one({"name": "p6"}, {"$set": {"priority": "66"}})
        self.assertEqual(source.find_one({"name": "p6"})["priority"], 66)
        self.verify_zero(spec_path)
        self.retire(spec_path)

    def test_rename_property(self):
        new = with_props(TASK_V1, {"title": {"bsonType": "string"}}, required=["_id", "title"], drop=["name"])
        docs = [{"_id": bson.ObjectId(), "name": "r%d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, new, docs, "--rename", "Task.name=Task.title",
                                                        strategy="partner")
        self.assertEqual(partner.find_one({"title": "r3"})["_id"], docs[3]["_id"])
        self.assertNotIn("name", partner.find_one({"title": "r3"}))
        self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
        partner.update_one({"title": "r4"}, {"$set": {"title": "renamed on v2"}})
        self.assertEqual(source.find_one({"_id": docs[4]["_id"]})["name"], "renamed on v2")
        self.verify_zero(spec_path)
        self.retire(spec_path)

    def test_optional_to_required(self):
        old = with_props(TASK_V1, {"complete": {"bsonType": "bool"}})
        new = with_props(TASK_V1, {"complete": {"bsonType": "bool"}}, required=["_id", "name", "complete"])
        docs = [{"_id": bson.ObjectId(), "name": "o%d" % i} for i in range(50)]
        docs += [{"_id": bson.ObjectId(), "name": "c%d" % i, "complete": True} for i in range(50)]
        # documents without the value do not round-trip (the reverse keeps the filled value): check says so
        spec_path, spec, source, partner = self.migrate(old, new, docs, strategy="partner", not_round_trip=50)
        self.assertIs(partner.find_one({"name": "o1"})["complete"], False)
        self.assertIs(partner.find_one({"name": "c1"})["complete"], True)
        self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
        self.verify_zero(spec_path)
        self.retire(spec_path)

    def test_required_to_optional(self):
        new = with_props(TASK_V1, required=["_id"])
        docs = [{"_id": bson.ObjectId(), "name": "q%d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, new, docs)
        if spec["strategy"] == "partner":
            self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
            partner.insert_one({"_id": bson.ObjectId(), "marker": "no name"} if spec["schema"]["properties"]["_id"][
                "bsonType"] == "objectId" else {"_id": "x", "marker": "no name"})
            self.assertIsNotNone(source.find_one({"marker": "no name"}))
            self.verify_zero(spec_path)
        else:
            self.verify_zero(spec_path)
        self.retire(spec_path)

    def test_add_required_property(self):
        new = with_props(TASK_V1, {"owner": {"bsonType": "string", "default": "nobody"}},
                         required=["_id", "name", "owner"])
        docs = [{"_id": bson.ObjectId(), "name": "a%d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, new, docs, strategy="in-place")
        self.assertEqual(source.count_documents({"owner": "nobody"}), 100)
        source.insert_one({"_id": bson.ObjectId(), "name": "later", "owner": "me"})
        options = self.client.add_required_property.command("listCollections", filter={"name": "Task"})
        validator = options["cursor"]["firstBatch"][0]["options"]["validator"]
        self.assertIn("owner", validator["$jsonSchema"]["properties"])
        self.verify_zero(spec_path)
        self.retire(spec_path, keep="old", drop=False)

    def test_remove_property(self):
        old = with_props(TASK_V1, {"notes": {"bsonType": "string"}})
        docs = [{"_id": bson.ObjectId(), "name": "m%d" % i, "notes": "keep me %d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(old, TASK_V1, docs)
        if partner is not None:
            # the values survive on both sides
            self.assertEqual(partner.find_one({"name": "m2"})["notes"], "keep me 2")
            self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
        else:
            self.assertEqual(source.find_one({"name": "m2"})["notes"], "keep me 2")
        self.verify_zero(spec_path)
        self.retire(spec_path, keep="old")

    def test_add_optional_property_and_defaults(self):
        new = with_props(TASK_V1, {"due": {"bsonType": "date"}, "name": {"bsonType": "string", "default": "untitled"},
                                   "complete": {"bsonType": "bool", "default": True}})
        docs = [{"_id": bson.ObjectId(), "name": "d%d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, new, docs, strategy="in-place")
        self.assertEqual(source.count_documents({}), 100)
        self.verify_zero(spec_path)
        status = duet_json("status", spec_path, "--uri", self.uri)["migrations"][0]
        self.assertEqual(status["state"], "done")
        self.retire(spec_path, keep="old", drop=False)

    def test_rename_object_type(self):
        new = with_props(TASK_V2, title="Item")
        docs = [{"_id": bson.ObjectId(), "name": "i%d" % i} for i in range(100)]
        spec_path, spec, source, partner = self.migrate(TASK_V1, new, docs, "--rename-collection", "Task=Item",
                                                        strategy="partner")
        self.assertEqual(spec["partner"], "Item")
        self.both_ways(source, partner, {"_id": bson.ObjectId(), "name": "new", "marker": "v1-insert"})
        self.verify_zero(spec_path)
        self.retire(spec_path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
