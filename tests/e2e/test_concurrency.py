"""test_concurrency.py — many clients at once, and slow clients that must not
block anyone: a client stalled in the middle of a frame, a client that never
reads its replies, and clients that connect and vanish."""
import socket
import threading
import time
import unittest

import pymongo

from duetd_fixture import Duetd, op_msg, read_reply


class ConcurrencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.duetd = Duetd().start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.duetd.stop()
        finally:
            cls.duetd.cleanup()

    def test_many_clients_in_parallel(self):
        errors = []
        counts = []

        def worker(index):
            try:
                client = pymongo.MongoClient("127.0.0.1", self.duetd.port, serverSelectionTimeoutMS=10000,
                                             maxPoolSize=2)
                n = 0
                for _ in range(50):
                    self.assertEqual(client.admin.command("ping")["ok"], 1.0)
                    client.admin.command("hello")
                    n += 1
                counts.append(n)
                client.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(sum(counts), 32 * 50)

    def test_raw_connections_in_parallel(self):
        socks = [socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10) for _ in range(100)]
        try:
            for i, s in enumerate(socks):
                s.sendall(op_msg(i + 1, {"ping": 1, "$db": "admin"}))
            for i, s in enumerate(socks):
                header, body = read_reply(s)
                self.assertEqual((header[2], body["ok"]), (i + 1, 1.0))
            client = pymongo.MongoClient("127.0.0.1", self.duetd.port, serverSelectionTimeoutMS=5000)
            self.assertGreaterEqual(client.admin.command("serverStatus")["connections"]["current"], 100)
            client.close()
        finally:
            for s in socks:
                s.close()

    def test_slow_clients_do_not_block_others(self):
        frame = op_msg(1, {"ping": 1, "$db": "admin"})
        stalled = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
        stalled.sendall(frame[:10])  # half a header, then nothing
        stalled_body = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
        stalled_body.sendall(frame[:-5])  # the header promises more than arrives
        # a client that sends many requests and never reads the replies fills its socket buffers
        flooder = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
        flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = op_msg(2, {"getLog": "global", "$db": "admin"})
        flooder.setblocking(False)
        sent = 0
        try:
            for _ in range(20000):
                sent += flooder.send(big)
        except BlockingIOError:
            pass
        try:
            client = pymongo.MongoClient("127.0.0.1", self.duetd.port, serverSelectionTimeoutMS=5000)
            start = time.time()
            for _ in range(100):
                self.assertEqual(client.admin.command("ping")["ok"], 1.0)
            self.assertLess(time.time() - start, 5.0)
            client.close()
        finally:
            stalled.close()
            stalled_body.close()
            flooder.close()
        self.assertGreater(sent, 0)

    def test_connect_and_vanish(self):
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", self.duetd.port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # RST
        client = pymongo.MongoClient("127.0.0.1", self.duetd.port, serverSelectionTimeoutMS=5000)
        self.assertEqual(client.admin.command("ping")["ok"], 1.0)
        client.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
