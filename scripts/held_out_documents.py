#!/usr/bin/env python3
"""Writes the documents `ralm train` holds out of a passage store as JSONL.

usage: scripts/held_out_documents.py CORPUS PERMILLE OUT.jsonl

A document d is held out when FNV-1a 64 of its number (8 little-endian bytes)
modulo 1000 is below PERMILLE: the trainer's validation split (its
validation_permille, 20 for models/tiny) and the knnlm policy's
exclude_validation_permille. Each line is {"id", "title", "text"}, the text the
document's passages joined by spaces, as the perplexity task's `text:` reads it.
"""
import json
import struct
import sys
from pathlib import Path


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in data:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    corpus, permille, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    data = (corpus / "passages.data").read_bytes()
    offsets = struct.unpack(f"<{len((corpus / 'passages.offsets').read_bytes()) // 8}Q",
                            (corpus / "passages.offsets").read_bytes())
    docs_bytes = (corpus / "passages.docs").read_bytes()
    docs = struct.unpack(f"<{len(docs_bytes) // 8}q", docs_bytes)
    held: dict[int, dict] = {}
    for pid, doc in enumerate(docs):
        if fnv1a64(struct.pack("<q", doc)) % 1000 >= permille:
            continue
        title = data[offsets[2 * pid]:offsets[2 * pid + 1]].decode("utf-8")
        text = data[offsets[2 * pid + 1]:offsets[2 * pid + 2]].decode("utf-8")
        if doc in held:
            held[doc]["text"] += " " + text
        else:
            held[doc] = {"id": f"doc{doc}", "title": title, "text": text}
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for d in held.values():
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(out)
    print(f"{out}: {len(held)} held-out documents", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
