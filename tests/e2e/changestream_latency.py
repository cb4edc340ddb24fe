"""changestream_latency.py — write-to-event latency of a duetd change stream on loopback.

measure(uri, samples) opens a collection change stream with pymongo, and for each sample
lets a writer thread insert one document while the stream's awaitData getMore is already
waiting; the latency is the time from the start of the insert to the event arriving at the
client.  Returns {"samples", "p50_ms", "p99_ms", "max_ms"}.  Used by
test_changestream.py and reusable by the server benchmark.

Command line:  changestream_latency.py [--uri mongodb://127.0.0.1:PORT/] [--samples N]
Without --uri it starts a private duetd (DUETD or build/bin/duetd, see duetd_fixture.py).
"""
import argparse
import threading
import time

import pymongo


def percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[index]


def measure(uri, samples=200, db_name="latency", coll_name="events", warmup=10):
    reader = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    writer = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        coll = writer[db_name][coll_name]
        coll.drop()
        latencies = []
        with reader[db_name][coll_name].watch(max_await_time_ms=5000) as stream:
            for i in range(warmup + samples):
                started = []
                ready = threading.Event()

                def write(i=i):
                    ready.wait()
                    time.sleep(0.002)  # the getMore is on the wire and waiting by now
                    started.append(time.perf_counter())
                    coll.insert_one({"_id": i, "sample": True})

                thread = threading.Thread(target=write)
                thread.start()
                ready.set()
                event = stream.next()
                arrived = time.perf_counter()
                thread.join()
                if event["documentKey"]["_id"] != i:
                    raise AssertionError("expected the event of _id %d, got %r" % (i, event))
                if i >= warmup:
                    latencies.append((arrived - started[0]) * 1000.0)
        latencies.sort()
        return {"samples": len(latencies), "p50_ms": percentile(latencies, 0.50),
                "p99_ms": percentile(latencies, 0.99), "max_ms": latencies[-1]}
    finally:
        reader.close()
        writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri")
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    if args.uri:
        result = measure(args.uri, args.samples)
    else:
        from duetd_fixture import Duetd
        with Duetd() as duetd:
            result = measure(duetd.uri(), args.samples)
    print("change stream write-to-event latency over %d samples: p50 %.3f ms, p99 %.3f ms (max %.3f ms)" %
          (result["samples"], result["p50_ms"], result["p99_ms"], result["max_ms"]))


if __name__ == "__main__":
    main()
