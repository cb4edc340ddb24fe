"""duetd_fixture.py — starts and stops a private duetd for one end-to-end test.

Each test gets its own duetd on a free loopback port with a temporary --dbpath.
DUETD (environment) names the binary; default: build/bin/duetd of the source tree.
Stopping sends SIGTERM and checks the process exits 0 after logging its stop line.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Duetd:
    def __init__(self, *extra_args, port=None):
        self.binary = os.environ.get("DUETD") or os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "bin", "duetd")
        self.tmp = tempfile.mkdtemp(prefix="duet-e2e-")
        self.dbpath = os.path.join(self.tmp, "data", "nested")
        self.log_path = os.path.join(self.tmp, "duetd.log")
        self.port = port or free_port()
        self.args = [self.binary, "--dbpath", self.dbpath, "--port", str(self.port),
                     "--log", self.log_path] + list(extra_args)
        self.process = None

    def start(self):
        log_start = len(self.log_text())  # a restart may append to the log of an earlier run
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("duetd exited early (%s): %s %s" % (
                    self.process.returncode, self.process.stderr.read().decode(), self.log_text()))
            # ready once the start line is logged (the port accepts connections a moment earlier)
            if "Waiting for connections" in self.log_text()[log_start:]:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                    return self
            time.sleep(0.02)
        raise RuntimeError("duetd did not start listening on %d" % self.port)

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def log_lines(self):
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def uri(self, options=""):
        return "mongodb://127.0.0.1:%d/%s" % (self.port, options)

    def stop(self, expect_code=0):
        """SIGTERM, wait, and check a clean exit with the stop line logged."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("duetd did not stop within 30 s of SIGTERM")
        stderr = self.process.stderr.read().decode()
        self.process.stdout.close()
        self.process.stderr.close()
        self.process = None
        assert code == expect_code, "duetd exited %s, stderr: %s" % (code, stderr)
        assert "Now exiting: shutdown complete" in self.log_text(), self.log_text()[-2000:]
        assert "ERROR: AddressSanitizer" not in stderr and "LeakSanitizer" not in stderr, stderr

    def cleanup(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
        finally:
            self.cleanup()
        return False


class DuetdTestCase(unittest.TestCase):
    """A test class sharing one private duetd (started with DUETD_ARGS): cls.duetd, cls.client
    (pymongo) and, when the class sets DATABASE, cls.db.  Subclasses that need more extend
    setUpClass with super()."""
    DATABASE = None
    DUETD_ARGS = ()

    @classmethod
    def setUpClass(cls):
        import pymongo
        cls.duetd = Duetd(*cls.DUETD_ARGS).start()
        cls.client = pymongo.MongoClient("127.0.0.1", cls.duetd.port, serverSelectionTimeoutMS=5000)
        cls.db = cls.client[cls.DATABASE] if cls.DATABASE else None

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.duetd.stop()
        finally:
            cls.duetd.cleanup()


# ---- raw wire helpers (for malformed input tests) ------------------------------

import bson  # pymongo's bson package


def op_msg(request_id, body, flags=0, sequences=(), checksum=None):
    """An OP_MSG frame: kind-0 body + optional kind-1 sequences (identifier, [docs])."""
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(body)
    for identifier, docs in sequences:
        inner = identifier.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        payload += b"\x01" + struct.pack("<i", len(inner) + 4) + inner
    length = 16 + len(payload) + (4 if checksum is not None else 0)
    frame = struct.pack("<iiii", length, request_id, 0, 2013) + payload
    if checksum is not None:
        frame += struct.pack("<I", checksum(frame))
    return frame


def op_query(request_id, namespace, query, flags=0):
    payload = struct.pack("<i", flags) + namespace.encode() + b"\x00" + struct.pack("<ii", 0, -1) + bson.encode(query)
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, 2004) + payload


def read_reply(sock):
    """Reads one reply frame; returns (header tuple, body dict). Raises EOFError when closed."""
    header = _read_exact(sock, 16)
    length, request_id, response_to, op_code = struct.unpack("<iiii", header)
    rest = _read_exact(sock, length - 16)
    if op_code == 2013:
        flags = struct.unpack("<I", rest[:4])[0]
        assert flags == 0, "reply flagBits %#x" % flags
        assert rest[4] == 0, "reply section kind %d" % rest[4]
        body = bson.decode(rest[5:])
        assert len(rest) == 5 + struct.unpack("<i", rest[5:9])[0], "more than one section in reply"
    elif op_code == 1:
        flags, cursor_id, starting_from, number = struct.unpack("<iqii", rest[:20])
        assert number == 1
        body = bson.decode(rest[20:])
    else:
        raise AssertionError("unexpected reply opCode %d" % op_code)
    return (length, request_id, response_to, op_code), body


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF
