"""test_libmongoc.py — the C driver (libmongoc, libmongoc_client.c) against a
private duetd, with replica-set discovery (replicaSet=rs0) and with a direct
connection."""
import os
import subprocess
import unittest

from duetd_fixture import Duetd


def client_binary():
    return os.environ.get("DUET_LIBMONGOC_CLIENT") or os.path.join(
        os.path.dirname(__file__), "..", "..", "build", "tests", "libmongoc_client")


class LibmongocTest(unittest.TestCase):
    def run_client(self, uri):
        result = subprocess.run([client_binary(), uri], capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("0 failure(s)", result.stdout)
        self.assertNotIn("not ok", result.stdout)

    def test_replica_set_uri(self):
        with Duetd() as duetd:
            self.run_client(duetd.uri("?replicaSet=rs0"))

    def test_direct_connection(self):
        with Duetd() as duetd:
            self.run_client(duetd.uri("?directConnection=true"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
