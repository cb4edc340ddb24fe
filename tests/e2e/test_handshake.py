"""test_handshake.py — pymongo (Debian's 3.11) against duetd: the handshake,
hello fields with the types drivers check, the diagnostic commands,
CommandNotFound, sessions, cursor commands and wrong-type errors."""
import datetime
import unittest
import uuid

import bson
import pymongo
from bson.int64 import Int64
from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure

from duetd_fixture import DuetdTestCase


class HandshakeTest(DuetdTestCase):
    DUETD_ARGS = ("--replSet", "duetrs")

    def raw(self, command, db="admin"):
        """Runs a command and returns the raw reply, types preserved."""
        return self.client[db].command(command, codec_options=bson.codec_options.CodecOptions(
            document_class=bson.son.SON))

    def test_ping(self):
        self.assertEqual(self.client.admin.command("ping")["ok"], 1.0)
        self.assertEqual(self.client.test.command("ping")["ok"], 1.0)

    def test_hello_fields_and_types(self):
        for name, primary_field in (("hello", "isWritablePrimary"), ("isMaster", "ismaster"), ("ismaster", "ismaster")):
            reply = self.raw({name: 1, "helloOk": True})
            self.assertIs(reply[primary_field], True, name)
            self.assertIs(reply["helloOk"], True)
            self.assertIs(reply["secondary"], False)
            self.assertEqual(reply["setName"], "duetrs")
            address = "127.0.0.1:%d" % self.duetd.port
            self.assertEqual(reply["hosts"], [address])
            self.assertEqual(reply["primary"], address)
            self.assertEqual(reply["me"], address)
            self.assertIsInstance(reply["electionId"], bson.ObjectId)
            self.assertIsInstance(reply["localTime"], datetime.datetime)
            self.assertIsInstance(reply["lastWrite"]["lastWriteDate"], datetime.datetime)
            for field, value in (("maxBsonObjectSize", 16777216), ("maxMessageSizeBytes", 48000000),
                                 ("maxWriteBatchSize", 100000), ("logicalSessionTimeoutMinutes", 30),
                                 ("minWireVersion", 0), ("maxWireVersion", 21)):
                self.assertEqual(reply[field], value, field)
                self.assertIs(type(reply[field]), int, field)  # int32 on the wire (Int64 would decode as Int64)
            self.assertIsInstance(reply["connectionId"], int)
            self.assertNotIn("topologyVersion", reply)
            self.assertNotIn("compression", reply)
            self.assertIsInstance(reply["operationTime"], Timestamp)
            self.assertIsInstance(reply["$clusterTime"]["clusterTime"], Timestamp)
            self.assertEqual(reply["ok"], 1.0)
        reply = self.raw({"hello": 1})
        self.assertNotIn("helloOk", reply)

    def test_replica_set_discovery(self):
        """With replicaSet= the driver discovers the primary from hosts and enables retryable writes."""
        client = pymongo.MongoClient("mongodb://127.0.0.1:%d/?replicaSet=duetrs" % self.duetd.port,
                                     serverSelectionTimeoutMS=5000)
        try:
            self.assertEqual(client.admin.command("ping")["ok"], 1.0)
            self.assertEqual(client.primary, ("127.0.0.1", self.duetd.port))
        finally:
            client.close()
        wrong = pymongo.MongoClient("mongodb://127.0.0.1:%d/?replicaSet=other" % self.duetd.port,
                                    serverSelectionTimeoutMS=1000)
        try:
            with self.assertRaises(pymongo.errors.ServerSelectionTimeoutError):
                wrong.admin.command("ping")
        finally:
            wrong.close()

    def test_command_not_found(self):
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command("fooBar")
        self.assertEqual(caught.exception.code, 59)
        self.assertEqual(caught.exception.details["errmsg"], "no such command: 'fooBar'")
        self.assertEqual(caught.exception.details["codeName"], "CommandNotFound")
        self.assertEqual(caught.exception.details["ok"], 0.0)
        self.assertIsInstance(caught.exception.details["operationTime"], Timestamp)

    def test_list_commands(self):
        commands = self.client.admin.command("listCommands")["commands"]
        for name in ("hello", "isMaster", "ping", "buildInfo", "getParameter", "getLog", "hostInfo", "whatsmyuri",
                     "serverStatus", "connectionStatus", "endSessions", "killSessions", "startSession", "getMore",
                     "killCursors", "listCommands"):
            self.assertIn(name, commands)
            self.assertIsInstance(commands[name]["help"], str)
        self.assertTrue(commands["getLog"]["adminOnly"])
        self.assertFalse(commands["ping"]["adminOnly"])
        for name in commands:  # everything listed is answered (never CommandNotFound)
            try:
                self.client.admin.command(name)
            except OperationFailure as e:
                self.assertNotEqual(e.code, 59, name)

    def test_build_info(self):
        info = self.client.server_info()
        self.assertEqual(info["version"], "7.0.0")
        self.assertEqual(info["versionArray"], [7, 0, 0, 0])
        self.assertEqual(info["maxBsonObjectSize"], 16777216)
        self.assertEqual(self.client.admin.command("buildinfo")["version"], "7.0.0")

    def test_get_parameter(self):
        reply = self.client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
        self.assertEqual(reply["featureCompatibilityVersion"], {"version": "7.0"})
        everything = self.client.admin.command({"getParameter": "*"})
        self.assertIn("cursorTimeoutMillis", everything)
        self.assertEqual(everything["cursorTimeoutMillis"], 600000)
        details = self.client.admin.command({"getParameter": {"showDetails": True}, "logLevel": 1})
        self.assertEqual(details["logLevel"]["value"], 0)
        self.assertIn("settableAtRuntime", details["logLevel"])
        with self.assertRaises(OperationFailure) as caught:
            self.client.admin.command({"getParameter": "foo"})
        self.assertEqual(caught.exception.code, 72)
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command({"getParameter": 1, "logLevel": 1})
        self.assertEqual(caught.exception.code, 13)

    def test_get_log(self):
        self.assertEqual(self.client.admin.command({"getLog": "*"})["names"], ["global", "startupWarnings"])
        reply = self.client.admin.command({"getLog": "global"})
        self.assertGreaterEqual(reply["totalLinesWritten"], 1)
        self.assertTrue(any("Waiting for connections" in line for line in reply["log"]))
        self.assertEqual(self.client.admin.command({"getLog": "startupWarnings"})["log"], [])
        with self.assertRaises(OperationFailure) as caught:
            self.client.admin.command({"getLog": 5})
        self.assertEqual(caught.exception.code, 14)

    def test_host_info_whatsmyuri_connection_status(self):
        info = self.client.admin.command("hostInfo")
        self.assertGreater(info["system"]["numCores"], 0)
        self.assertGreater(info["system"]["memSizeMB"], 0)
        self.assertTrue(info["os"]["type"])
        you = self.client.admin.command("whatsmyuri")["you"]
        self.assertTrue(you.startswith("127.0.0.1:"), you)
        status = self.client.admin.command({"connectionStatus": 1, "showPrivileges": True})
        self.assertEqual(status["authInfo"]["authenticatedUsers"], [])
        self.assertEqual(status["authInfo"]["authenticatedUserPrivileges"], [])

    def test_server_status(self):
        before = self.client.admin.command("serverStatus")
        self.client.admin.command("ping")
        after = self.client.admin.command("serverStatus")
        self.assertEqual(after["process"], "duetd")
        self.assertGreaterEqual(after["connections"]["current"], 1)
        self.assertGreaterEqual(after["opcounters"]["command"], before["opcounters"]["command"] + 2)
        self.assertGreater(after["network"]["numRequests"], before["network"]["numRequests"])
        self.assertEqual(after["repl"]["setName"], "duetrs")
        self.assertIsInstance(after["uptimeMillis"], Int64)

    def test_sessions(self):
        reply = self.client.admin.command("startSession")
        lsid = reply["id"]["id"]
        self.assertIsInstance(lsid, uuid.UUID)
        self.assertEqual(reply["timeoutMinutes"], 30)
        active = self.client.admin.command("serverStatus")["logicalSessionRecordCache"]["activeSessionsCount"]
        self.assertGreaterEqual(active, 1)
        self.client.admin.command({"endSessions": [{"id": bson.Binary(lsid.bytes, 4)}]})
        self.client.admin.command({"killSessions": [{"id": bson.Binary(uuid.uuid4().bytes, 4)}]})
        with self.client.start_session() as session:  # the driver sends lsid on the commands
            self.client.admin.command("ping", session=session)
        with self.assertRaises(OperationFailure) as caught:
            self.client.admin.command({"endSessions": "x"})
        self.assertEqual(caught.exception.code, 14)
        with self.assertRaises(OperationFailure) as caught:
            self.client.admin.command({"endSessions": [{"id": 1}]})
        self.assertEqual(caught.exception.code, 40414)

    def test_cursor_commands_without_cursors(self):
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command({"getMore": Int64(12345), "collection": "c"})
        self.assertEqual(caught.exception.code, 43)
        self.assertEqual(caught.exception.details["codeName"], "CursorNotFound")
        reply = self.client.test.command({"killCursors": "c", "cursors": [Int64(12345)]})
        self.assertEqual(reply["cursorsNotFound"], [12345])
        self.assertEqual(reply["cursorsKilled"], [])
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command({"getMore": 12345, "collection": "c"})
        self.assertEqual(caught.exception.code, 14)
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command({"getMore": Int64(1), "collection": 5})
        self.assertEqual(caught.exception.code, 14)
        with self.assertRaises(OperationFailure) as caught:
            self.client.test.command({"killCursors": "c", "cursors": [1]})
        self.assertEqual(caught.exception.code, 14)

    def test_global_fields_accepted(self):
        reply = self.client.test.command({
            "ping": 1, "comment": {"any": "thing"}, "maxTimeMS": 1000,
            "readConcern": {"level": "majority"}, "writeConcern": {"w": "majority"},
            "$readPreference": {"mode": "primaryPreferred"}, "apiVersion": "1", "apiStrict": False,
            "txnNumber": Int64(1),
            "$clusterTime": {"clusterTime": Timestamp(1, 1), "signature": {"hash": b"\0" * 20, "keyId": Int64(0)}},
        })
        self.assertEqual(reply["ok"], 1.0)

    def test_global_fields_wrong_types(self):
        """(lsid and txnNumber are checked over a raw socket in test_malformed.py: pymongo sets its own lsid.)"""
        cases = [
            ({"ping": 1, "maxTimeMS": "x"}, 2),
            ({"ping": 1, "maxTimeMS": -1}, 2),
            ({"ping": 1, "readConcern": "majority"}, 14),
            ({"ping": 1, "writeConcern": 1}, 14),
            ({"ping": 1, "apiVersion": "2"}, 322),
            ({"ping": 1, "autocommit": False, "txnNumber": Int64(1)}, 20),
        ]
        for command, code in cases:
            with self.assertRaises(OperationFailure, msg=str(command)) as caught:
                self.client.test.command(command)
            self.assertEqual(caught.exception.code, code, str(command))
            self.assertIsInstance(caught.exception.details["errmsg"], str)


if __name__ == "__main__":
    unittest.main(verbosity=2)
