"""test_partner_progress.py — `duet apply` on a terminal draws a progress bar (percentage, rate,
ETA, redrawn in place with carriage returns) and prints plain lines when its output is not a
terminal; --detach returns before the backfill is done."""
import os
import pty
import subprocess
import tempfile
import time
import unittest

import bson
import pymongo

from duetd_fixture import Duetd
from test_partner_changes import DUET, TASK_V1, TASK_V2, duet, duet_json, plan


class PartnerProgressTest(unittest.TestCase):
    def setUp(self):
        self.duetd = Duetd().start()
        self.uri = self.duetd.uri()
        self.client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)
        self.tmp = tempfile.mkdtemp(prefix="duet-progress-")
        self.client.test.Task.insert_many(
            [{"_id": bson.ObjectId(), "name": "t%d" % i, "complete": i % 2 == 0} for i in range(50000)])
        self.spec_path, _ = plan(self.tmp, TASK_V1, TASK_V2)

    def tearDown(self):
        self.client.close()
        try:
            self.duetd.stop()
        finally:
            self.duetd.cleanup()

    def test_progress_bar_on_a_terminal(self):
        leader, follower = pty.openpty()
        process = subprocess.Popen([DUET, "apply", self.spec_path, "--uri", self.uri],
                                   stdin=follower, stdout=follower, stderr=follower)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the child has closed the terminal
                break
            if not chunk:
                break
            output += chunk
        os.close(leader)
        self.assertEqual(process.wait(timeout=120), 0, output)
        text = output.decode()
        # redrawn in place: several frames separated by carriage returns, the last one complete
        frames = [f for f in text.split("\r") if "%" in f]
        self.assertGreaterEqual(len(frames), 2, text)
        self.assertRegex(frames[-1], r"\[#+\]\s+100\.0%\s+50000/50000\s+\d+ docs/s\s+ETA \d+:\d\d")
        self.assertRegex(text, r"\[[#.]+\]\s+\d+\.\d%")
        self.assertIn("backfill done: 50000 documents copied", text)
        self.assertEqual(duet_json("verify", self.spec_path, "--uri", self.uri)["differences"], 0)

    def test_plain_lines_when_not_a_terminal(self):
        result = duet("apply", self.spec_path, "--uri", self.uri)
        self.assertNotIn("\r", result.stdout)
        self.assertNotIn("[#", result.stdout)
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("backfill ")]
        self.assertTrue(lines, result.stdout)
        self.assertRegex(result.stdout, r"backfill 50000/50000 \(100\.0%\)")
        self.assertIn("backfill done: 50000 documents copied", result.stdout)

    def test_detach_returns_at_once(self):
        result = duet("apply", self.spec_path, "--uri", self.uri, "--detach")
        self.assertNotIn("backfill done", result.stdout)
        # the backfill finishes inside duetd on its own
        for _ in range(600):
            if "mirroring" in str(duet_json("status", self.spec_path, "--uri", self.uri)):
                break
            time.sleep(0.05)
        self.assertIn("mirroring", str(duet_json("status", self.spec_path, "--uri", self.uri)))
        self.assertEqual(duet_json("verify", self.spec_path, "--uri", self.uri)["differences"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
