"""test_cli.py — duetd's command line and process life: --help, --version,
usage errors, creating --dbpath, one data directory per process, log lines
for start and stop, clean shutdown on SIGINT and SIGTERM while clients are
connected and while a request is in flight."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import pymongo

from duetd_fixture import Duetd, free_port, op_msg, read_reply


def duetd_binary():
    return Duetd().binary


class CliTest(unittest.TestCase):
    def run_duetd(self, *args):
        return subprocess.run([duetd_binary()] + list(args), capture_output=True, text=True, timeout=30)

    def test_help_and_version(self):
        result = self.run_duetd("--help")
        self.assertEqual(result.returncode, 0)
        for option in ("--dbpath", "--bind", "--port", "--replSet", "--log", "--log-level"):
            self.assertIn(option, result.stdout)
        result = self.run_duetd("--version")
        self.assertEqual(result.returncode, 0)
        self.assertIn("duetd", result.stdout)

    def test_usage_errors(self):
        for args in ([], ["--port", "70000", "--dbpath", "/tmp/x"], ["--dbpath"], ["--bogus"],
                     ["--dbpath", "/tmp/x", "--log-level", "loud"], ["--dbpath", "/tmp/x", "extra"]):
            result = self.run_duetd(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn("duetd:", result.stderr)

    def test_start_stop_log_lines_and_dbpath(self):
        with Duetd("--replSet", "named") as duetd:
            self.assertTrue(os.path.isdir(duetd.dbpath))  # nested directories created
            lines = duetd.log_lines()
            start = [l for l in lines if l["msg"] == "Waiting for connections"]
            self.assertEqual(len(start), 1)
            self.assertEqual(start[0]["attr"]["port"], duetd.port)
            self.assertEqual(start[0]["attr"]["replSet"], "named")
            self.assertIn("$date", start[0]["t"])
            # a second duetd on the same directory refuses to start
            other = subprocess.run([duetd.binary, "--dbpath", duetd.dbpath, "--port", str(free_port())],
                                   capture_output=True, text=True, timeout=30)
            self.assertEqual(other.returncode, 1)
            self.assertIn("another duetd", other.stderr)
        # Duetd.__exit__ checked the exit code 0 and the "shutdown complete" line

    def test_port_in_use(self):
        with Duetd() as duetd:
            tmp = tempfile.mkdtemp()
            other = subprocess.run([duetd.binary, "--dbpath", tmp, "--port", str(duetd.port)],
                                   capture_output=True, text=True, timeout=30)
            self.assertEqual(other.returncode, 1)
            self.assertIn("cannot listen", other.stderr)

    def test_loopback_by_default(self):
        with Duetd() as duetd:
            start = [l for l in duetd.log_lines() if l["msg"] == "Waiting for connections"][0]
            self.assertEqual(start["attr"]["bind"], "127.0.0.1")

    def test_sigint_with_connected_clients(self):
        duetd = Duetd().start()
        try:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.admin.command("ping")
            idle = socket.create_connection(("127.0.0.1", duetd.port), timeout=10)
            half = socket.create_connection(("127.0.0.1", duetd.port), timeout=10)
            half.sendall(op_msg(1, {"ping": 1, "$db": "admin"})[:7])
            duetd.process.send_signal(signal.SIGINT)
            self.assertEqual(duetd.process.wait(timeout=30), 0)
            self.assertIn("Now exiting: shutdown complete", duetd.log_text())
            idle.close()
            half.close()
            client.close()
            duetd.process.stdout.close()
            duetd.process.stderr.close()
            duetd.process = None
        finally:
            duetd.cleanup()

    def test_in_flight_request_finishes(self):
        """A getMore waiting on nothing is not in flight; a ping sent just before SIGTERM is answered."""
        duetd = Duetd().start()
        try:
            socks = [socket.create_connection(("127.0.0.1", duetd.port), timeout=10) for _ in range(20)]
            for i, s in enumerate(socks):
                s.sendall(op_msg(i + 1, {"ping": 1, "$db": "admin"}))
            for i, s in enumerate(socks):
                header, body = read_reply(s)
                self.assertEqual(body["ok"], 1.0)
            duetd.stop()
            for s in socks:
                s.close()
        finally:
            duetd.cleanup()

    def test_slow_operations_logged(self):
        with Duetd("--slowms", "0") as duetd:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.test.command("ping")
            client.close()
            slow = [l for l in duetd.log_lines() if l["msg"] == "Slow query"]
            self.assertTrue(any(l["attr"]["command"] == "ping" and l["attr"]["db"] == "test" for l in slow), slow)
            self.assertIsInstance(slow[0]["attr"]["durationMillis"], int)
        with Duetd() as duetd:  # 100 ms by default: a ping is not slow
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.test.command("ping")
            client.close()
            self.assertEqual([l for l in duetd.log_lines() if l["msg"] == "Slow query"], [])

    def test_log_file_and_level(self):
        with Duetd("--log-level", "debug") as duetd:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.admin.command("ping")
            client.close()
            time.sleep(0.2)
            messages = [l["msg"] for l in duetd.log_lines()]
            self.assertIn("Connection accepted", messages)
        with Duetd("--log-level", "warning") as duetd:
            client = pymongo.MongoClient("127.0.0.1", duetd.port, serverSelectionTimeoutMS=5000)
            client.admin.command("ping")
            client.close()
            time.sleep(0.2)
            # only the start line (always written) is informational
            self.assertEqual([l["msg"] for l in duetd.log_lines() if l["s"] == "I"], ["Waiting for connections"])
            self.assertRegex(duetd.log_lines()[0]["t"]["$date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


if __name__ == "__main__":
    unittest.main(verbosity=2)
