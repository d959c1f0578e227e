#!/usr/bin/python3
"""Xapian's BM25 on a ralmkit passage store: the peer figure beside bm25_bench.

    /usr/bin/python3 bench/xapian_bm25_compare.py data/corpus [queries=400] [k=1]

Needs Debian's python3-xapian (not part of the build: `apt-get install python3-xapian`). Indexes every
passage ("title\\ntext", English stemming, the same k1 = 0.9 and b = 0.4 as the bm25 retriever's
defaults) into a temporary Xapian database, then times queries made as bm25_bench makes them: 32
consecutive words of a random passage (Python's generator, seed 42: the same recipe, other passages).
Prints build time, index size and p50/p99 latency at batch 1 (Xapian answers one query at a time).
"""
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time

import xapian


def passages(store):
    with open(os.path.join(store, "passages.offsets"), "rb") as f:
        raw = f.read()
    offsets = struct.unpack(f"<{len(raw) // 8}Q", raw)
    with open(os.path.join(store, "passages.data"), "rb") as f:
        data = f.read()
    n = (len(offsets) - 1) // 2
    for i in range(n):
        title = data[offsets[2 * i]:offsets[2 * i + 1]].decode("utf-8", "replace")
        text = data[offsets[2 * i + 1]:offsets[2 * i + 2]].decode("utf-8", "replace")
        yield title, text


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: xapian_bm25_compare.py STORE_DIR [queries=400] [k=1]")
    store = sys.argv[1]
    n_queries = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    all_passages = list(passages(store))
    folder = tempfile.mkdtemp(prefix="xapian-bm25-")
    try:
        start = time.perf_counter()
        db = xapian.WritableDatabase(folder, xapian.DB_CREATE_OR_OVERWRITE)
        generator = xapian.TermGenerator()
        generator.set_stemmer(xapian.Stem("english"))
        for title, text in all_passages:
            doc = xapian.Document()
            generator.set_document(doc)
            generator.index_text(title + "\n" + text)
            db.add_document(doc)
        db.commit()
        db.close()
        build_s = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))

        db = xapian.Database(folder)
        enquire = xapian.Enquire(db)
        enquire.set_weighting_scheme(xapian.BM25Weight(0.9, 0, 1, 0.4, 0.5))
        parser = xapian.QueryParser()
        parser.set_stemmer(xapian.Stem("english"))
        parser.set_stemming_strategy(xapian.QueryParser.STEM_SOME)
        parser.set_default_op(xapian.Query.OP_OR)
        rng = random.Random(42)
        queries = []
        while len(queries) < n_queries:
            words = all_passages[rng.randrange(len(all_passages))][1].split()[:32]
            q = " ".join(words)
            if len(q) > 20:
                queries.append(q)
        latencies = []
        for q in queries:
            t0 = time.perf_counter()
            enquire.set_query(parser.parse_query(q, 0))  # 0: words only, no boolean syntax
            matches = enquire.get_mset(0, k)
            _ = [m.docid for m in matches]
            latencies.append(1000 * (time.perf_counter() - t0))
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(f"passages {len(all_passages)}, Xapian {xapian.version_string()} index built in {build_s:.2f} s, "
              f"{size / 1e6:.1f} MB")
        print(f"{'BATCH':<8} {'p50 ms':>10} {'p99 ms':>10}")
        print(f"{1:<8} {statistics.median(latencies):10.3f} {p99:10.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
