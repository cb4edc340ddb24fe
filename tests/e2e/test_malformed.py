"""test_malformed.py — raw-socket frames against duetd: the legacy OP_QUERY
handshake, OP_MSG kind-1 sequences, checksums and moreToCome, then bad input
(truncated and oversized frames, lengths that lie, invalid BSON, unknown opcodes
and section kinds, wrong-typed global fields).  Each bad frame must get an error
reply or close that connection only; another client keeps working throughout."""
import socket
import struct
import unittest
import uuid

import bson
from bson.int64 import Int64

from duetd_fixture import DuetdTestCase, crc32c, op_msg, op_query, read_reply


def uuid4_binary():
    return bson.Binary(uuid.uuid4().bytes, 4)


class MalformedTest(DuetdTestCase):

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
        self.addCleanup(sock.close)
        return sock

    def roundtrip(self, sock, frame):
        sock.sendall(frame)
        return read_reply(sock)

    def assert_others_served(self):
        self.assertEqual(self.client.admin.command("ping")["ok"], 1.0)

    def assert_usable(self, sock, request_id=999):
        header, body = self.roundtrip(sock, op_msg(request_id, {"ping": 1, "$db": "admin"}))
        self.assertEqual(header[2], request_id)
        self.assertEqual(body["ok"], 1.0)

    def assert_closed(self, sock):
        sock.settimeout(10)
        try:
            data = sock.recv(1)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"", "the server should have closed the connection")

    def assert_error(self, frame, code, request_id=7):
        sock = self.connect()
        header, body = self.roundtrip(sock, frame)
        self.assertEqual(header[2], request_id)
        self.assertEqual(body["ok"], 0.0, body)
        self.assertEqual(body["code"], code, body)
        self.assertIsInstance(body["errmsg"], str)
        self.assertIsInstance(body["codeName"], str)
        self.assert_usable(sock)
        self.assert_others_served()
        return body

    # ---- well-formed ----------------------------------------------------------------

    def test_op_query_handshake(self):
        sock = self.connect()
        header, body = self.roundtrip(sock, op_query(41, "admin.$cmd", {"isMaster": 1, "helloOk": True,
                                                                       "client": {"driver": {"name": "raw"}}}))
        self.assertEqual(header[3], 1)  # OP_REPLY
        self.assertEqual(header[2], 41)
        self.assertIs(body["ismaster"], True)
        self.assertIs(body["helloOk"], True)
        self.assertEqual(body["maxWireVersion"], 21)
        # then OP_MSG on the same connection; client metadata may not be sent again
        header, body = self.roundtrip(sock, op_msg(42, {"hello": 1, "$db": "admin"}))
        self.assertEqual((header[3], body["isWritablePrimary"]), (2013, True))
        header, body = self.roundtrip(sock, op_msg(43, {"hello": 1, "client": {"driver": {"name": "raw"}},
                                                        "$db": "admin"}))
        self.assertEqual(body["code"], 186)

    def test_op_query_other_commands_refused(self):
        sock = self.connect()
        header, body = self.roundtrip(sock, op_query(5, "test.$cmd", {"find": "c"}))
        self.assertEqual((header[3], body["code"]), (1, 352))
        header, body = self.roundtrip(sock, op_query(6, "test.c", {"x": 1}))
        self.assertEqual((header[3], body["code"], body["ok"]), (1, 5739101, 0.0))
        self.assert_usable(sock)

    def test_document_sequence(self):
        sock = self.connect()
        docs = [{"_id": i, "x": "y" * i} for i in range(5)]
        header, body = self.roundtrip(sock, op_msg(3, {"ping": 1, "$db": "test"}, sequences=[("documents", docs)]))
        self.assertEqual(body["ok"], 1.0)
        # the same field in the body and as a sequence
        self.assert_error(op_msg(7, {"ping": 1, "documents": [], "$db": "test"}, sequences=[("documents", docs)]),
                          40433)
        self.assert_error(op_msg(7, {"ping": 1, "$db": "test"}, sequences=[("documents", docs), ("documents", [])]),
                          40431)

    def test_checksum(self):
        sock = self.connect()
        header, body = self.roundtrip(sock, op_msg(8, {"ping": 1, "$db": "admin"}, flags=1, checksum=crc32c))
        self.assertEqual(body["ok"], 1.0)
        self.assert_error(op_msg(7, {"ping": 1, "$db": "admin"}, flags=1, checksum=lambda frame: crc32c(frame) ^ 1),
                          282)

    def test_more_to_come_gets_no_reply(self):
        sock = self.connect()
        sock.sendall(op_msg(100, {"ping": 1, "$db": "admin"}, flags=2))
        sock.sendall(op_msg(101, {"fooBar": 1, "$db": "admin"}, flags=2))  # errors are not answered either
        header, body = self.roundtrip(sock, op_msg(102, {"ping": 1, "$db": "admin"}))
        self.assertEqual(header[2], 102)

    # ---- bad input: error reply -------------------------------------------------------------

    def test_illegal_flag(self):
        self.assert_error(op_msg(7, {"ping": 1, "$db": "admin"}, flags=4), 223)

    def test_missing_db(self):
        self.assert_error(op_msg(7, {"ping": 1}), 40571)
        self.assert_error(op_msg(7, {"ping": 1, "$db": 5}), 14)
        self.assert_error(op_msg(7, {"ping": 1, "$db": ""}), 73)

    def test_invalid_bson(self):
        good = op_msg(7, {"ping": 1, "$db": "admin"})
        body_start = 21
        # the document claims more bytes than the frame holds
        lying = bytearray(good)
        struct.pack_into("<i", lying, body_start, 1000)
        self.assert_error(bytes(lying), 22)
        # an element of unknown type 0x7A
        bad_type = bytearray(good)
        bad_type[body_start + 4] = 0x7A
        self.assert_error(bytes(bad_type), 22)
        # a string whose length runs past the document
        doc = bytearray(bson.encode({"ping": 1, "$db": "admin"}))
        index = doc.index(b"$db\x00") + 4
        struct.pack_into("<i", doc, index, 10000)
        frame = struct.pack("<iiii", 16 + 5 + len(doc), 7, 0, 2013) + b"\0\0\0\0\0" + bytes(doc)
        self.assert_error(frame, 22)
        # not NUL-terminated
        doc = bytearray(bson.encode({"ping": 1, "$db": "admin"}))
        doc[-1] = 1
        frame = struct.pack("<iiii", 16 + 5 + len(doc), 7, 0, 2013) + b"\0\0\0\0\0" + bytes(doc)
        self.assert_error(frame, 22)

    def test_bad_sections(self):
        body = bson.encode({"ping": 1, "$db": "admin"})
        frame = lambda payload: struct.pack("<iiii", 16 + len(payload), 7, 0, 2013) + payload
        self.assert_error(frame(b"\0\0\0\0\x05" + body), 40432)              # unknown kind
        self.assert_error(frame(b"\0\0\0\0\0" + body + b"\0" + body), 40430)  # two bodies
        self.assert_error(frame(b"\0\0\0\0"), 40587)                           # no body
        self.assert_error(frame(b"\0\0\0\0\0" + body + b"\x01\xff\xff\0\0abc\0"), 9)  # sequence size lies
        self.assert_error(frame(b"\0\0\0\0\0" + body + b"\x01\x08\0\0\0abcd"), 9)   # identifier unterminated
        self.assert_error(frame(b"\0\0"), 9)                                   # no flagBits

    def test_wrong_typed_session_fields(self):
        cases = [
            ({"ping": 1, "lsid": 5}, 14),
            ({"ping": 1, "lsid": {}}, 40414),
            ({"ping": 1, "lsid": {"id": "x"}}, 14),
            ({"ping": 1, "lsid": {"id": bson.Binary(b"12345678", 4)}}, 2),
            ({"ping": 1, "lsid": {"id": uuid4_binary(), "other": 1}}, 40415),
            ({"ping": 1, "lsid": {"id": uuid4_binary()}, "txnNumber": 1}, 14),
            ({"ping": 1, "txnNumber": Int64(1)}, 72),
            ({"ping": 1, "lsid": {"id": uuid4_binary()}, "txnNumber": Int64(1), "startTransaction": True,
              "autocommit": False}, 20),
            ({"ping": 1, "autocommit": "no"}, 14),
        ]
        for command, code in cases:
            command["$db"] = "admin"
            self.assert_error(op_msg(7, command), code)
        sock = self.connect()
        header, body = self.roundtrip(sock, op_msg(8, {"ping": 1, "lsid": {"id": uuid4_binary()},
                                                       "txnNumber": Int64(3), "$db": "admin"}))
        self.assertEqual(body["ok"], 1.0)

    def test_empty_command(self):
        self.assert_error(op_msg(7, {"$db": "admin"}), 59)

    # ---- bad input: connection closed ----------------------------------------------------------

    def test_bad_lengths_close_the_connection(self):
        for length in (0, 8, 15, -1, 48000001, 0x7FFFFFFF):
            sock = self.connect()
            sock.sendall(struct.pack("<iiii", length, 1, 0, 2013) + b"\0" * 16)
            self.assert_closed(sock)
            self.assert_others_served()

    def test_unknown_opcodes_close_the_connection(self):
        for op_code in (1, 2001, 2002, 2005, 2012, 9999, -5):
            sock = self.connect()
            payload = b"\0" * 20
            sock.sendall(struct.pack("<iiii", 16 + len(payload), 1, 0, op_code) + payload)
            self.assert_closed(sock)
            self.assert_others_served()

    def test_truncated_frames(self):
        good = op_msg(7, {"ping": 1, "$db": "admin"})
        for cut in (3, 16, 20, len(good) - 1):
            sock = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
            sock.sendall(good[:cut])
            sock.close()
            self.assert_others_served()
        # a frame shorter than its header says, followed by nothing: the server waits for the rest
        sock = self.connect()
        sock.sendall(good[:-3])
        self.assert_others_served()

    @staticmethod
    def nested_frame(depth):
        """{ping: 1, $db: "admin", x: {a: {a: ... {} }}} with `depth` levels below x, built in linear time."""
        lengths = [5 + 8 * k for k in range(depth, 0, -1)]
        nested = b"".join(struct.pack("<i", n) + b"\x03a\x00" for n in lengths) + b"\x05\0\0\0\0" + b"\0" * depth
        fields = bson.encode({"ping": 1, "$db": "admin"})[4:-1] + b"\x03x\x00" + nested
        doc = struct.pack("<i", 4 + len(fields) + 1) + fields + b"\0"
        return struct.pack("<iiii", 16 + 5 + len(doc), 7, 0, 2013) + b"\0\0\0\0\0" + doc

    def test_deep_nesting(self):
        """A deeply nested document gets error 15 and cannot exhaust the connection thread's stack."""
        body = self.assert_error(self.nested_frame(1000000), 15)
        self.assertIn("maximum nested object depth", body["errmsg"])
        self.assert_error(self.nested_frame(200), 15)
        sock = self.connect()
        header, reply = self.roundtrip(sock, self.nested_frame(198))
        self.assertEqual(reply["ok"], 1.0)

    def test_garbage(self):
        import random
        rng = random.Random(1234)
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
            size = rng.randint(16, 200)
            payload = bytes(rng.getrandbits(8) for _ in range(size - 16))
            op_code = rng.choice([2013, 2004, rng.randint(-10, 3000)])
            sock.sendall(struct.pack("<iiii", size, rng.randint(0, 1000), 0, op_code) + payload)
            sock.settimeout(1)
            try:
                sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
            sock.close()
        self.assert_others_served()


if __name__ == "__main__":
    unittest.main(verbosity=2)
