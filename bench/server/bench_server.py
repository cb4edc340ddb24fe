"""bench_server.py — the pymongo side of bench_server (bench/server/bench_server.c).

Run by bench_server with Debian's /usr/bin/python3 (pymongo 3.11) as

    bench_server.py URI E2E_DIR

it reads one request per line on stdin and answers one line on stdout, so that the C
program can interleave these timed steps with the same steps through the store API:

    insert COLL FIRST COUNT THREADS
                        inserts seed-shaped documents FIRST .. FIRST+COUNT-1 into
                        bench.COLL with insert_many, 1000 documents per call, from
                        THREADS threads sharing one MongoClient (each takes the next
                        batch); the documents are built before the clock starts.
                        -> "ok SECONDS CLIENT_CPU_SECONDS"
    find COLL           reads bench.COLL back with find() (the driver's default batch
                        sizes), decoding every document.
                        -> "ok SECONDS CLIENT_CPU_SECONDS DOCUMENTS"
    latency SAMPLES     change-stream write-to-event latency on another collection
                        (E2E_DIR/changestream_latency.py measure()).
                                                            -> "ok P50_MS P99_MS MAX_MS SAMPLES"
    quit

CLIENT_CPU_SECONDS is this process's CPU time (time.process_time) during the step: what pymongo
itself spent encoding, decoding and in system calls — the time no server can take away.
Any failure answers "error MESSAGE" and exits 1.  The documents are the bytes
bench_server.c builds (make_doc): _id ObjectId(seconds 1700000000 + i // 1000, 5a5a5a5a,
counter i), name "task i", complete i % 3 == 0.
"""
import struct
import sys
import threading
import time

import bson
import pymongo

BATCH = 1000


def make_doc(i):
    oid = struct.pack(">I", 1700000000 + i // 1000) + b"\x5a" * 4 + struct.pack(">I", i & 0xFFFFFFFF)
    return {"_id": bson.ObjectId(oid), "name": "task %d" % i, "complete": i % 3 == 0}


def insert(coll, first, count, threads):
    batches = [[make_doc(i) for i in range(start, min(first + count, start + BATCH))]
               for start in range(first, first + count, BATCH)]
    pending = iter(batches)
    lock = threading.Lock()
    failures = []

    def work():
        try:
            while True:
                with lock:
                    docs = next(pending, None)
                if docs is None:
                    return
                result = coll.insert_many(docs)
                if len(result.inserted_ids) != len(docs):
                    raise RuntimeError("insert_many acknowledged %d of %d" % (len(result.inserted_ids), len(docs)))
        except Exception as exc:  # reported by the caller
            failures.append(exc)

    began, cpu = time.perf_counter(), time.process_time()
    if threads == 1:
        work()
    else:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures:
        raise failures[0]
    return "ok %.9f %.9f" % (seconds, cpu)


def find(coll):
    began, cpu = time.perf_counter(), time.process_time()
    documents = 0
    for doc in coll.find():
        if doc["_id"] is None:
            raise RuntimeError("a document without _id")
        documents += 1
    return "ok %.9f %.9f %d" % (time.perf_counter() - began, time.process_time() - cpu, documents)


def main():
    uri, e2e_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, e2e_dir)
    import changestream_latency

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=20000)
    database = client.bench
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "insert":
                answer = insert(database[words[1]], int(words[2]), int(words[3]), int(words[4]))
            elif words[0] == "find":
                answer = find(database[words[1]])
            elif words[0] == "latency":
                result = changestream_latency.measure(uri, int(words[1]))
                answer = "ok %.6f %.6f %.6f %d" % (result["p50_ms"], result["p99_ms"], result["max_ms"],
                                                   result["samples"])
            elif words[0] == "quit":
                break
            else:
                raise RuntimeError("unknown request %r" % line)
            print(answer, flush=True)
    except Exception as exc:  # reported to bench_server, which gives up with exit status 2
        print("error %s: %s" % (type(exc).__name__, str(exc).replace("\n", " ")), flush=True)
        sys.exit(1)
    finally:
        client.close()


if __name__ == "__main__":
    main()
